/*
 * Email addresses as the subscribe endpoint accepts them:
 * ngx_http_trigger_valid_email().  The rules restated: printable ASCII
 * with nothing that quotes or ends an address in a mail header, one '@'
 * after 1 to 64 characters, a domain of letters, digits, '-' and dots
 * (none first, last or doubled) with a top-level label of two or more;
 * 6 to 254 characters in all.
 */


#include "fuzz.h"


static void
fuzz_check_email(const u_char *p, size_t len)
{
    size_t         i;
    const u_char  *at, *dot;

    FUZZ_CHECK(len >= 6 && len <= 254);

    at = memchr(p, '@', len);
    FUZZ_CHECK(at != NULL && at > p && at - p <= 64
               && memchr(at + 1, '@', p + len - at - 1) == NULL);

    for (i = 0; i < len; i++) {
        FUZZ_CHECK(p[i] > ' ' && p[i] < 0x7f
                   && strchr("\"<>\\,;:()[]", p[i]) == NULL);
    }

    for (i = at - p + 1; i < len; i++) {
        FUZZ_CHECK(fuzz_word_char(p[i], "-.")
                   && (p[i] != '.' || (p[i - 1] != '@' && p[i - 1] != '.'
                                       && i != len - 1)));
    }

    dot = at;

    for (i = at - p + 1; i < len; i++) {
        if (p[i] == '.') {
            dot = p + i;
        }
    }

    FUZZ_CHECK(dot != at && p + len - dot > 2);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int     valid;
    size_t  i;
    u_char  lower[256];

    valid = ngx_http_trigger_valid_email(data, size);
    FUZZ_CHECK(valid == ngx_http_trigger_valid_email(data, size));

    if (!valid) {
        return 0;
    }

    fuzz_check_email(data, size);

    /* what is stored is the address in lower case: still valid */
    for (i = 0; i < size; i++) {
        lower[i] = (data[i] >= 'A' && data[i] <= 'Z') ? data[i] | 0x20
                                                      : data[i];
    }

    FUZZ_CHECK(ngx_http_trigger_valid_email(lower, size));

    return 0;
}
