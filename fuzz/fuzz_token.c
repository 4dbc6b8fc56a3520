/*
 * The offer token: ngx_http_trigger_token_valid().  The input is
 *
 *     vid (22 bytes, see fuzz_vid()), now (8 bytes, made
 *     non-negative as a clock is), expires (8 bytes), a position
 *     (1 byte), then token text
 *
 * A token is accepted only if it is the one token_make() gives for its
 * own expiry and that expiry is not past.  One made for the input's
 * expiry is accepted exactly when it is not past.  The text written over
 * it from the position (a forgery that starts from a genuine token) is
 * held to the first rule.
 */


#include <limits.h>

#include "fuzz.h"


#define VID_LEN    NGX_HTTP_TRIGGER_VID_LEN
#define TOKEN_MAX  NGX_HTTP_TRIGGER_TOKEN_MAX
#define HEAD_LEN   (VID_LEN + 8 + 8 + 1)


static const u_char  fuzz_key[] = "secret-secret-1234";


static int
fuzz_check_token(const u_char *token, size_t len,
    const u_char vid[VID_LEN], time_t now)
{
    int        valid;
    size_t     i, n;
    u_char     made[TOKEN_MAX];
    long long  t;

    valid = ngx_http_trigger_token_valid(token, len, fuzz_key,
                                         sizeof(fuzz_key) - 1, "offer", vid,
                                         VID_LEN, now);
    FUZZ_CHECK(valid == ngx_http_trigger_token_valid(token, len, fuzz_key,
                                                     sizeof(fuzz_key) - 1,
                                                     "offer", vid, VID_LEN,
                                                     now));

    /* a token answers only the purpose it was made for */
    FUZZ_CHECK(!valid || !ngx_http_trigger_token_valid(token, len, fuzz_key,
                                                       sizeof(fuzz_key) - 1,
                                                       "confirm", vid,
                                                       VID_LEN, now));
    if (!valid) {
        return 0;
    }

    for (i = 0, t = 0; i < len && token[i] >= '0' && token[i] <= '9'; i++) {
        FUZZ_CHECK(t <= (LLONG_MAX - (token[i] - '0')) / 10);
        t = t * 10 + (token[i] - '0');
    }

    FUZZ_CHECK(i > 0 && t >= now);

    n = ngx_http_trigger_token_make(made, fuzz_key, sizeof(fuzz_key) - 1,
                                    "offer", vid, VID_LEN, t);
    FUZZ_CHECK(n == len && memcmp(made, token, n) == 0);

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t     n, pos, len;
    u_char     head[HEAD_LEN], vid[VID_LEN], made[TOKEN_MAX], *edit;
    int64_t    now, expires;

    memset(head, 0, sizeof(head));
    memcpy(head, data, size < HEAD_LEN ? size : HEAD_LEN);

    fuzz_vid(vid, head);
    memcpy(&now, head + VID_LEN, 8);
    memcpy(&expires, head + VID_LEN + 8, 8);
    now &= INT64_MAX;
    pos = head[HEAD_LEN - 1];

    data += size < HEAD_LEN ? size : HEAD_LEN;
    size -= size < HEAD_LEN ? size : HEAD_LEN;

    fuzz_check_token(data, size, vid, now);

    n = ngx_http_trigger_token_make(made, fuzz_key, sizeof(fuzz_key) - 1,
                                    "offer", vid, VID_LEN, expires);
    FUZZ_CHECK(n <= TOKEN_MAX);
    FUZZ_CHECK(fuzz_check_token(made, n, vid, now) == (expires >= now));

    pos %= n + 1;
    len = pos + size > n ? pos + size : n;

    edit = malloc(len);
    FUZZ_CHECK(edit != NULL);

    memcpy(edit, made, n);
    memcpy(edit + pos, data, size);

    (void) fuzz_check_token(edit, len, vid, now);

    free(edit);

    return 0;
}
