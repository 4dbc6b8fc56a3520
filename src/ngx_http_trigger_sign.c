/*
 * Visitor identifiers and signatures.
 */


#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "ngx_http_trigger_sign.h"


static const char  ngx_http_trigger_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


/* unpadded base64url; returns the length written */

size_t
ngx_http_trigger_base64url(u_char *dst, const u_char *src, size_t len)
{
    u_char  *d;

    d = dst;

    while (len >= 3) {
        *d++ = ngx_http_trigger_b64url[src[0] >> 2];
        *d++ = ngx_http_trigger_b64url[((src[0] & 3) << 4) | (src[1] >> 4)];
        *d++ = ngx_http_trigger_b64url[((src[1] & 0x0f) << 2) | (src[2] >> 6)];
        *d++ = ngx_http_trigger_b64url[src[2] & 0x3f];
        src += 3;
        len -= 3;
    }

    if (len) {
        *d++ = ngx_http_trigger_b64url[src[0] >> 2];

        if (len == 1) {
            *d++ = ngx_http_trigger_b64url[(src[0] & 3) << 4];

        } else {
            *d++ = ngx_http_trigger_b64url[((src[0] & 3) << 4)
                                           | (src[1] >> 4)];
            *d++ = ngx_http_trigger_b64url[(src[1] & 0x0f) << 2];
        }
    }

    return d - dst;
}


int
ngx_http_trigger_random(u_char *buf, size_t len)
{
    ssize_t  n;

    while (len) {
        n = getrandom(buf, len, 0);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            return -1;
        }

        buf += n;
        len -= n;
    }

    return 0;
}


void
ngx_http_trigger_hmac_sha256(u_char mac[32], const u_char *key,
    size_t key_len, const u_char *data, size_t len)
{
    unsigned int  mac_len;

    mac_len = 32;
    HMAC(EVP_sha256(), key, (int) key_len, data, len, mac, &mac_len);
}


void
ngx_http_trigger_sha1_hex(u_char hex[40], const u_char *data, size_t len)
{
    size_t         i;
    u_char         md[SHA_DIGEST_LENGTH];
    static u_char  digits[] = "0123456789abcdef";

    SHA1(data, len, md);

    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0x0f];
    }
}


void
ngx_http_trigger_cookie_sign(u_char cookie[NGX_HTTP_TRIGGER_COOKIE_LEN],
    const u_char *key, size_t key_len,
    const u_char vid[NGX_HTTP_TRIGGER_VID_LEN])
{
    u_char  mac[32];

    ngx_http_trigger_hmac_sha256(mac, key, key_len, vid,
                                 NGX_HTTP_TRIGGER_VID_LEN);

    memmove(cookie, vid, NGX_HTTP_TRIGGER_VID_LEN);
    cookie[NGX_HTTP_TRIGGER_VID_LEN] = '.';
    ngx_http_trigger_base64url(cookie + NGX_HTTP_TRIGGER_VID_LEN + 1, mac,
                               NGX_HTTP_TRIGGER_MAC_BYTES);
}


int
ngx_http_trigger_cookie_new(u_char cookie[NGX_HTTP_TRIGGER_COOKIE_LEN],
    const u_char *key, size_t key_len)
{
    u_char  id[NGX_HTTP_TRIGGER_ID_BYTES];
    u_char  vid[NGX_HTTP_TRIGGER_VID_LEN];

    if (ngx_http_trigger_random(id, sizeof(id)) != 0) {
        return -1;
    }

    ngx_http_trigger_base64url(vid, id, sizeof(id));
    ngx_http_trigger_cookie_sign(cookie, key, key_len, vid);

    return 0;
}


int
ngx_http_trigger_cookie_valid(const u_char *value, size_t len,
    const u_char *key, size_t key_len)
{
    size_t  i;
    u_char  expect[NGX_HTTP_TRIGGER_COOKIE_LEN];

    if (len != NGX_HTTP_TRIGGER_COOKIE_LEN) {
        return 0;
    }

    for (i = 0; i < NGX_HTTP_TRIGGER_VID_LEN; i++) {
        if (strchr(ngx_http_trigger_b64url, value[i]) == NULL
            || value[i] == '\0')
        {
            return 0;
        }
    }

    ngx_http_trigger_cookie_sign(expect, key, key_len, value);

    return CRYPTO_memcmp(expect, value, NGX_HTTP_TRIGGER_COOKIE_LEN) == 0;
}


static size_t
ngx_http_trigger_token_mac(u_char *dst, const u_char *key, size_t key_len,
    const u_char vid[NGX_HTTP_TRIGGER_VID_LEN], const char *expires)
{
    int     n;
    u_char  data[64], mac[32];

    n = snprintf((char *) data, sizeof(data), "offer:%.*s:%s",
                 NGX_HTTP_TRIGGER_VID_LEN, (const char *) vid, expires);

    ngx_http_trigger_hmac_sha256(mac, key, key_len, data, n);

    return ngx_http_trigger_base64url(dst, mac, 16);
}


size_t
ngx_http_trigger_token_make(u_char *buf, const u_char *key, size_t key_len,
    const u_char vid[NGX_HTTP_TRIGGER_VID_LEN], time_t expires)
{
    int   n;
    char  text[21];

    n = snprintf(text, sizeof(text), "%lld", (long long) expires);
    memcpy(buf, text, n);
    buf[n] = '.';

    return n + 1 + ngx_http_trigger_token_mac(buf + n + 1, key, key_len, vid,
                                              text);
}


int
ngx_http_trigger_token_valid(const u_char *token, size_t len,
    const u_char *key, size_t key_len,
    const u_char vid[NGX_HTTP_TRIGGER_VID_LEN], time_t now)
{
    char        expires[21];
    size_t      i, n;
    u_char      mac[32];
    long long   t;

    for (i = 0; i < len && i < 20 && token[i] >= '0' && token[i] <= '9'; i++) {
        expires[i] = token[i];
    }

    if (i == 0 || i == len || token[i] != '.') {
        return 0;
    }

    expires[i] = '\0';
    t = atoll(expires);

    n = ngx_http_trigger_token_mac(mac, key, key_len, vid, expires);

    if (len - i - 1 != n
        || CRYPTO_memcmp(mac, token + i + 1, n) != 0)
    {
        return 0;
    }

    return t >= now;
}


int
ngx_http_trigger_code_new(u_char code[NGX_HTTP_TRIGGER_CODE_LEN])
{
    size_t         i, n;
    u_char         rnd[32];
    static u_char  alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

    /* 32 symbols: every random byte gives 5 unbiased bits */
    if (ngx_http_trigger_random(rnd, sizeof(rnd)) != 0) {
        return -1;
    }

    for (i = 0, n = 0; i < NGX_HTTP_TRIGGER_CODE_LEN; i++) {
        if (i == 4 || i == 9) {
            code[i] = '-';
            continue;
        }

        code[i] = alphabet[rnd[n++] & 0x1f];
    }

    return 0;
}
