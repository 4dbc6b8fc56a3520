/*
 * libFuzzer target for the closing body tag search: a page fed in two
 * pieces, split where its first byte says, must give the same answer as
 * the page fed whole, and the answer must be a "</body" tag.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ngx_http_trigger_html.h"


static ssize_t
fuzz_find(const u_char *page, size_t len, size_t split)
{
    size_t                   held;
    ssize_t                  at;
    ngx_http_trigger_html_t  h;

    memset(&h, 0, sizeof(h));

    if (ngx_http_trigger_html_scan(&h, page, split, &at)) {
        return at;
    }

    held = h.partial;

    if (held > NGX_HTTP_TRIGGER_HTML_TAG_LEN) {
        abort();
    }

    if (ngx_http_trigger_html_scan(&h, page + split, len - split, &at)) {

        /* the filter has only what it held back before the split */
        if (at < -(ssize_t) held) {
            abort();
        }

        return (ssize_t) split + at;
    }

    return -1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t         len, split;
    ssize_t        whole;
    const u_char  *page;

    if (size == 0) {
        return 0;
    }

    page = data + 1;
    len = size - 1;
    split = len * data[0] / 255;

    whole = fuzz_find(page, len, len);

    if (fuzz_find(page, len, split) != whole) {
        abort();
    }

    if (whole < 0) {
        return 0;
    }

    /* "</body" and whitespace, "/" or ">" */

    if ((size_t) whole + NGX_HTTP_TRIGGER_HTML_TAG_LEN >= len
        || strncasecmp((const char *) page + whole, "</body",
                       NGX_HTTP_TRIGGER_HTML_TAG_LEN) != 0
        || memchr(" \t\n\r\f/>",
                  page[whole + NGX_HTTP_TRIGGER_HTML_TAG_LEN], 7) == NULL)
    {
        abort();
    }

    return 0;
}
