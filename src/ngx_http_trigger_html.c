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
    const u_char  *lt;
    static u_char  tag[] = "</body>";

    m = *matched;
    i = 0;

    while (i < len) {

        if (m == 0) {
            /* most of a page is between tags: let memchr() skip it */
            lt = memchr(p + i, '<', len - i);

            if (lt == NULL) {
                break;
            }

            i = lt - p + 1;
            m = 1;
            continue;
        }

        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != tag[m]) {
            /* only the tag's first character is '<': look again from here */
            m = 0;
            continue;
        }

        i++;

        if (++m == NGX_HTTP_TRIGGER_BODY_TAG_LEN) {
            *matched = 0;
            *end = i;
            return 1;
        }
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
