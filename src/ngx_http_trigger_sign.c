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


/*
 * OpenSSL 3's one-shot HMAC() sets everything up anew on each call (about
 * 4 us); keeping the digest states after the key's inner and outer pads
 * makes it a copy and two short updates (under 1 us).  One key is cached:
 * nginx has one secret.
 */

static u_char       ngx_http_trigger_hmac_cached[256];
static size_t       ngx_http_trigger_hmac_cached_len = (size_t) -1;
static EVP_MD_CTX  *ngx_http_trigger_hmac_inner;
static EVP_MD_CTX  *ngx_http_trigger_hmac_outer;
static EVP_MD_CTX  *ngx_http_trigger_hmac_work;


static int
ngx_http_trigger_hmac_prepare(const u_char *key, size_t key_len)
{
    size_t         i, block_len;
    u_char         ipad[64], opad[64], block[64];
    unsigned int   n;
    const EVP_MD  *md;

    if (key_len > sizeof(ngx_http_trigger_hmac_cached)) {
        return -1;
    }

    md = EVP_sha256();

    if (ngx_http_trigger_hmac_work == NULL) {
        ngx_http_trigger_hmac_inner = EVP_MD_CTX_new();
        ngx_http_trigger_hmac_outer = EVP_MD_CTX_new();
        ngx_http_trigger_hmac_work = EVP_MD_CTX_new();

        if (ngx_http_trigger_hmac_inner == NULL
            || ngx_http_trigger_hmac_outer == NULL
            || ngx_http_trigger_hmac_work == NULL)
        {
            return -1;
        }
    }

    ngx_http_trigger_hmac_cached_len = (size_t) -1;

    /* a key longer than the block is replaced by its digest */
    if (key_len > sizeof(block)) {
        if (EVP_Digest(key, key_len, block, &n, md, NULL) != 1) {
            return -1;
        }

        block_len = n;

    } else {
        memcpy(block, key, key_len);
        block_len = key_len;
    }

    memset(ipad, 0x36, sizeof(ipad));
    memset(opad, 0x5c, sizeof(opad));

    for (i = 0; i < block_len; i++) {
        ipad[i] ^= block[i];
        opad[i] ^= block[i];
    }

    if (EVP_DigestInit_ex(ngx_http_trigger_hmac_inner, md, NULL) != 1
        || EVP_DigestUpdate(ngx_http_trigger_hmac_inner, ipad, 64) != 1
        || EVP_DigestInit_ex(ngx_http_trigger_hmac_outer, md, NULL) != 1
        || EVP_DigestUpdate(ngx_http_trigger_hmac_outer, opad, 64) != 1)
    {
        return -1;
    }

    memcpy(ngx_http_trigger_hmac_cached, key, key_len);
    ngx_http_trigger_hmac_cached_len = key_len;

    return 0;
}


void
ngx_http_trigger_hmac_sha256(u_char mac[32], const u_char *key,
    size_t key_len, const u_char *data, size_t len)
{
    u_char        inner[32];
    unsigned int  n;

    if ((key_len != ngx_http_trigger_hmac_cached_len
         || memcmp(key, ngx_http_trigger_hmac_cached, key_len) != 0)
        && ngx_http_trigger_hmac_prepare(key, key_len) != 0)
    {
        /* a key over 256 bytes, or no memory: the slow, general way */
        n = 32;
        HMAC(EVP_sha256(), key, (int) key_len, data, len, mac, &n);
        return;
    }

    EVP_MD_CTX_copy_ex(ngx_http_trigger_hmac_work,
                       ngx_http_trigger_hmac_inner);
    EVP_DigestUpdate(ngx_http_trigger_hmac_work, data, len);
    EVP_DigestFinal_ex(ngx_http_trigger_hmac_work, inner, &n);

    EVP_MD_CTX_copy_ex(ngx_http_trigger_hmac_work,
                       ngx_http_trigger_hmac_outer);
    EVP_DigestUpdate(ngx_http_trigger_hmac_work, inner, sizeof(inner));
    EVP_DigestFinal_ex(ngx_http_trigger_hmac_work, mac, &n);
}


void
ngx_http_trigger_hmac_free(void)
{
    EVP_MD_CTX_free(ngx_http_trigger_hmac_inner);
    EVP_MD_CTX_free(ngx_http_trigger_hmac_outer);
    EVP_MD_CTX_free(ngx_http_trigger_hmac_work);

    ngx_http_trigger_hmac_inner = NULL;
    ngx_http_trigger_hmac_outer = NULL;
    ngx_http_trigger_hmac_work = NULL;
    ngx_http_trigger_hmac_cached_len = (size_t) -1;
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
    const char *purpose, const u_char *subject, size_t subject_len,
    const char *expires)
{
    int     n;
    u_char  data[128], mac[32];

    /* purposes are short words, subjects at most 64 bytes */
    n = snprintf((char *) data, sizeof(data), "%s:%.*s:%s", purpose,
                 (int) subject_len, (const char *) subject, expires);

    ngx_http_trigger_hmac_sha256(mac, key, key_len, data,
                                 (n > 0 && (size_t) n < sizeof(data))
                                 ? (size_t) n : sizeof(data) - 1);

    return ngx_http_trigger_base64url(dst, mac, 16);
}


size_t
ngx_http_trigger_token_make(u_char *buf, const u_char *key, size_t key_len,
    const char *purpose, const u_char *subject, size_t subject_len,
    time_t expires)
{
    int   n;
    char  text[21];

    n = snprintf(text, sizeof(text), "%lld", (long long) expires);
    memcpy(buf, text, n);
    buf[n] = '.';

    return n + 1 + ngx_http_trigger_token_mac(buf + n + 1, key, key_len,
                                              purpose, subject, subject_len,
                                              text);
}


int
ngx_http_trigger_token_valid(const u_char *token, size_t len,
    const u_char *key, size_t key_len, const char *purpose,
    const u_char *subject, size_t subject_len, time_t now)
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

    n = ngx_http_trigger_token_mac(mac, key, key_len, purpose, subject,
                                   subject_len, expires);

    if (len - i - 1 != n
        || CRYPTO_memcmp(mac, token + i + 1, n) != 0)
    {
        return 0;
    }

    return t >= now;
}


void
ngx_http_trigger_purchase_sign(u_char sig[NGX_HTTP_TRIGGER_PURCHASE_SIG_LEN],
    const u_char *key, size_t key_len,
    const u_char vid[NGX_HTTP_TRIGGER_VID_LEN],
    const char *order, long long cents, const char *promo)
{
    int            n;
    char           msg[NGX_HTTP_TRIGGER_VID_LEN + 160];
    size_t         i;
    u_char         mac[32];
    static u_char  hex[] = "0123456789abcdef";

    /* orders up to 64 bytes, promo codes up to 32: the message fits */
    n = snprintf(msg, sizeof(msg), "%.*s\n%s\n%lld\n%s",
                 NGX_HTTP_TRIGGER_VID_LEN, (const char *) vid, order, cents,
                 promo);

    ngx_http_trigger_hmac_sha256(mac, key, key_len, (u_char *) msg,
                                 (n > 0 && (size_t) n < sizeof(msg))
                                 ? (size_t) n : sizeof(msg) - 1);

    for (i = 0; i < 32; i++) {
        sig[2 * i] = hex[mac[i] >> 4];
        sig[2 * i + 1] = hex[mac[i] & 0x0f];
    }
}


int
ngx_http_trigger_purchase_valid(const u_char *sig, size_t len,
    const u_char *key, size_t key_len,
    const u_char vid[NGX_HTTP_TRIGGER_VID_LEN], const char *order,
    long long cents, const char *promo)
{
    u_char  expected[NGX_HTTP_TRIGGER_PURCHASE_SIG_LEN];

    if (len != sizeof(expected)) {
        return 0;
    }

    ngx_http_trigger_purchase_sign(expected, key, key_len, vid, order, cents,
                                   promo);

    return CRYPTO_memcmp(expected, sig, sizeof(expected)) == 0;
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
