/*
 * The visitor cookie: ngx_http_trigger_cookie_valid().  The first byte
 * picks the secret (lengths around the HMAC block size and the 256-byte
 * cache, switching keys as a test run does), the rest is the cookie's
 * value.  A cookie is accepted only if its mac is the one OpenSSL's
 * one-shot HMAC gives.  One signed from the input's bytes is accepted.
 * The rest of the input written over it (a forgery that starts from a
 * genuine cookie) is held to the first rule.
 */


#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"


#define COOKIE_LEN  NGX_HTTP_TRIGGER_COOKIE_LEN
#define VID_LEN     NGX_HTTP_TRIGGER_VID_LEN


static const size_t  fuzz_key_lens[] = { 18, 16, 64, 65, 256, 257 };


static void
fuzz_check_cookie(const u_char *value, size_t len, const u_char *key,
    size_t key_len)
{
    int           valid;
    size_t        i;
    u_char        mac[32], expect[NGX_HTTP_TRIGGER_MAC_LEN + 1];
    unsigned int  n;

    valid = ngx_http_trigger_cookie_valid(value, len, key, key_len);
    FUZZ_CHECK(valid == ngx_http_trigger_cookie_valid(value, len, key,
                                                      key_len));
    if (!valid) {
        return;
    }

    FUZZ_CHECK(len == COOKIE_LEN && value[VID_LEN] == '.');

    for (i = 0; i < VID_LEN; i++) {
        FUZZ_CHECK(value[i] != '\0' && strchr(fuzz_b64url, value[i]));
    }

    n = sizeof(mac);
    FUZZ_CHECK(HMAC(EVP_sha256(), key, (int) key_len, value, VID_LEN, mac,
                    &n) != NULL);

    FUZZ_CHECK(ngx_http_trigger_base64url(expect, mac,
                                          NGX_HTTP_TRIGGER_MAC_BYTES)
               == NGX_HTTP_TRIGGER_MAC_LEN);
    FUZZ_CHECK(memcmp(value + VID_LEN + 1, expect, NGX_HTTP_TRIGGER_MAC_LEN)
               == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t         pos, key_len;
    u_char         vid[VID_LEN], made[COOKIE_LEN], *edit;
    static u_char  key[257];

    if (size == 0) {
        return 0;
    }

    /* the unit tests' secret, or one of another length */
    key_len = fuzz_key_lens[data[0] % 6];

    if (key_len == 18) {
        memcpy(key, "secret-secret-1234", 18);

    } else {
        memset(key, 'k' + data[0] % 6, key_len);
    }

    data++;
    size--;

    fuzz_check_cookie(data, size, key, key_len);

    if (size <= VID_LEN) {
        return 0;
    }

    fuzz_vid(vid, data);
    ngx_http_trigger_cookie_sign(made, key, key_len, vid);
    FUZZ_CHECK(ngx_http_trigger_cookie_valid(made, COOKIE_LEN, key,
                                             key_len));
    fuzz_check_cookie(made, COOKIE_LEN, key, key_len);

    /* the rest of the input written over it from a position it picks */
    pos = data[VID_LEN] % COOKIE_LEN;
    size -= VID_LEN + 1;
    data += VID_LEN + 1;

    if (size > COOKIE_LEN - pos) {
        size = COOKIE_LEN - pos;
    }

    edit = malloc(COOKIE_LEN);
    FUZZ_CHECK(edit != NULL);

    memcpy(edit, made, COOKIE_LEN);
    memcpy(edit + pos, data, size);

    fuzz_check_cookie(edit, COOKIE_LEN, key, key_len);

    free(edit);

    return 0;
}
