/*
 * Visitor identifiers and signatures: plain C, no nginx, so that unit
 * tests can call it directly.
 */

#ifndef _NGX_HTTP_TRIGGER_SIGN_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_SIGN_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>
#include <time.h>


#define NGX_HTTP_TRIGGER_ID_BYTES      16
#define NGX_HTTP_TRIGGER_MAC_BYTES     8
#define NGX_HTTP_TRIGGER_VID_LEN       22
#define NGX_HTTP_TRIGGER_MAC_LEN       11
#define NGX_HTTP_TRIGGER_COOKIE_LEN                                         \
    (NGX_HTTP_TRIGGER_VID_LEN + 1 + NGX_HTTP_TRIGGER_MAC_LEN)


size_t ngx_http_trigger_base64url(u_char *dst, const u_char *src, size_t len);
int ngx_http_trigger_random(u_char *buf, size_t len);
void ngx_http_trigger_hmac_sha256(u_char mac[32], const u_char *key,
    size_t key_len, const u_char *data, size_t len);
/* frees the cached key states: the module may be unloaded after it */
void ngx_http_trigger_hmac_free(void);
void ngx_http_trigger_sha1_hex(u_char hex[40], const u_char *data,
    size_t len);

/* cookie = vid "." mac; vid is the Redis identity, mac binds it to key */
void ngx_http_trigger_cookie_sign(u_char cookie[NGX_HTTP_TRIGGER_COOKIE_LEN],
    const u_char *key, size_t key_len,
    const u_char vid[NGX_HTTP_TRIGGER_VID_LEN]);
int ngx_http_trigger_cookie_new(u_char cookie[NGX_HTTP_TRIGGER_COOKIE_LEN],
    const u_char *key, size_t key_len);
int ngx_http_trigger_cookie_valid(const u_char *value, size_t len,
    const u_char *key, size_t key_len);

/*
 * Signed, expiring tokens: "<expiry>.<mac>", the mac binding a purpose
 * ("offer", "confirm"), its subject (a visitor id, an address's digest)
 * and the expiry, so a token answers only what it was made for.
 */
#define NGX_HTTP_TRIGGER_TOKEN_MAX     (20 + 1 + 22)

size_t ngx_http_trigger_token_make(u_char *buf, const u_char *key,
    size_t key_len, const char *purpose, const u_char *subject,
    size_t subject_len, time_t expires);
int ngx_http_trigger_token_valid(const u_char *token, size_t len,
    const u_char *key, size_t key_len, const char *purpose,
    const u_char *subject, size_t subject_len, time_t now);

/*
 * A purchase reported by a browser is taken only when the shop signed
 * it: hex(HMAC-SHA256(key, vid "\n" order "\n" amount in cents "\n"
 * promo)), lower case.
 */
#define NGX_HTTP_TRIGGER_PURCHASE_SIG_LEN  64

void ngx_http_trigger_purchase_sign(
    u_char sig[NGX_HTTP_TRIGGER_PURCHASE_SIG_LEN], const u_char *key,
    size_t key_len, const u_char vid[NGX_HTTP_TRIGGER_VID_LEN],
    const char *order, long long cents, const char *promo);
int ngx_http_trigger_purchase_valid(const u_char *sig, size_t len,
    const u_char *key, size_t key_len,
    const u_char vid[NGX_HTTP_TRIGGER_VID_LEN], const char *order,
    long long cents, const char *promo);

/* promo codes: "XXXX-XXXX-XXXX", 60 random bits, no look-alike letters */
#define NGX_HTTP_TRIGGER_CODE_LEN      14

int ngx_http_trigger_code_new(u_char code[NGX_HTTP_TRIGGER_CODE_LEN]);


#endif /* _NGX_HTTP_TRIGGER_SIGN_H_INCLUDED_ */
