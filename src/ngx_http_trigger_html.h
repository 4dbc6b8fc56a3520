/*
 * HTML helpers for the widget's injection: finding the closing body tag
 * as a browser's parser would, across buffers; making JSON safe inside a
 * <script> element; making a response's Cache-Control private; whether a
 * client takes gzip.  Plain C.
 */

#ifndef _NGX_HTTP_TRIGGER_HTML_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_HTML_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>


/* "</body" */
#define NGX_HTTP_TRIGGER_HTML_TAG_LEN  6


/*
 * The tokenizer's state between buffers (WHATWG tokenizer states, as far
 * as they decide where data state is).  All zero is the page's start.
 */
typedef struct {
    u_char    state;
    /* where a raw text end tag that turns out to be none goes back to */
    u_char    back;
    /* the raw text element we are in, or the start tag's one */
    u_char    elem;
    u_char    end_tag;
    /* characters of the tag name kept or matched so far */
    u_char    n;
    u_char    name[9];
    /* how many of the last bytes fed could start "</body" */
    size_t    partial;
} ngx_http_trigger_html_t;


/*
 * Feeds the next len bytes of a page.  Returns 1 when the closing body
 * tag ("</body" and whitespace, "/" or ">", any case, in data state) is
 * found, with *at the offset of its "<" from p: negative when it began in
 * earlier buffers, and then never further back than h->partial said
 * before this call.  Returns 0 otherwise; h->partial then says how many
 * of the last bytes fed could be the tag's start.  After a 1 the state is
 * no longer meaningful.
 */
int ngx_http_trigger_html_scan(ngx_http_trigger_html_t *h, const u_char *p,
    size_t len, ssize_t *at);

/*
 * Copies JSON text with <, >, &, U+2028 and U+2029 written as \u escapes,
 * so no value can close the script or start a comment.  dst must hold
 * 6 * len bytes; returns the length written.
 */
size_t ngx_http_trigger_script_json(u_char *dst, const u_char *src,
    size_t len);

/*
 * Copies a Cache-Control value without the directives that let shared
 * caches keep a response (public, s-maxage) and without private (the
 * caller puts it first), each directive kept written as ", " and itself.
 * dst must hold 2 * len + 2 bytes; returns the length written.
 */
size_t ngx_http_trigger_cache_private(u_char *dst, const u_char *src,
    size_t len);

/*
 * Whether an Accept-Encoding value takes gzip: "gzip" (or "x-gzip") as
 * one of its codings, not with q=0.
 */
int ngx_http_trigger_accepts_gzip(const u_char *p, size_t len);


#endif /* _NGX_HTTP_TRIGGER_HTML_H_INCLUDED_ */
