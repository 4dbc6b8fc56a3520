/*
 * HTML helpers for the widget's injection.
 */


#include <string.h>

#include "ngx_http_trigger_html.h"


int
ngx_http_trigger_body_tag(const u_char *p, size_t len, size_t *matched,
    size_t *end)
{
    u_char         c;
    size_t         i, m;
    static u_char  tag[] = "</body>";

    m = *matched;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c == tag[m]) {
            if (++m == NGX_HTTP_TRIGGER_BODY_TAG_LEN) {
                *matched = 0;
                *end = i + 1;
                return 1;
            }

            continue;
        }

        /* only the tag's first character is '<': no other restart point */
        m = (c == '<') ? 1 : 0;
    }

    *matched = m;

    return 0;
}


size_t
ngx_http_trigger_script_json(u_char *dst, const u_char *src, size_t len)
{
    u_char        *d;
    const char    *esc;
    const u_char  *end;

    d = dst;
    end = src + len;

    while (src < end) {
        esc = NULL;

        if (*src == '<') {
            esc = "\\u003c";

        } else if (*src == '>') {
            esc = "\\u003e";

        } else if (*src == '&') {
            esc = "\\u0026";

        } else if (*src == 0xe2 && end - src >= 3 && src[1] == 0x80
                   && (src[2] == 0xa8 || src[2] == 0xa9))
        {
            esc = (src[2] == 0xa8) ? "\\u2028" : "\\u2029";
            src += 2;
        }

        if (esc) {
            memcpy(d, esc, 6);
            d += 6;
            src++;
            continue;
        }

        *d++ = *src++;
    }

    return d - dst;
}
