/*
 * HTML helpers for the widget's injection: finding "</body>" across
 * buffers and making JSON safe inside a <script> element.  Plain C.
 */

#ifndef _NGX_HTTP_TRIGGER_HTML_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_HTML_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>


#define NGX_HTTP_TRIGGER_BODY_TAG_LEN  (sizeof("</body>") - 1)


/*
 * Scans p for "</body>" in any case.  *matched holds, on input, how much
 * of the tag the previous buffers ended with, and on output how much of
 * it this one ends with.  Returns 1 with *end just past the tag when it
 * is complete here (the tag then starts at *end - 7, which is negative
 * when it began in earlier buffers), else 0.
 */
int ngx_http_trigger_body_tag(const u_char *p, size_t len, size_t *matched,
    size_t *end);

/*
 * Copies JSON text with <, >, &, U+2028 and U+2029 written as \u escapes,
 * so no value can close the script or start a comment.  dst must hold
 * 6 * len bytes; returns the length written.
 */
size_t ngx_http_trigger_script_json(u_char *dst, const u_char *src,
    size_t len);


#endif /* _NGX_HTTP_TRIGGER_HTML_H_INCLUDED_ */
