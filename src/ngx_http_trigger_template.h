/*
 * Mustache templates for letters: compiled once (at configuration
 * load), rendered many times against JSON data.  Plain C, no nginx.
 *
 * The language is the Mustache specification without lambdas:
 * variables {{x}} (escaped), {{{x}}} and {{&x}} (unescaped), dotted
 * names, the implicit iterator {{.}}, sections {{#x}}...{{/x}} (a list
 * repeats them, an object is pushed as the context, other values are
 * tested for truth: null, false, 0, "" and [] are false), inverted
 * sections {{^x}}...{{/x}}, comments {{! }}, partials {{>name}} (a
 * standalone partial's indentation is prepended to each of its lines),
 * set delimiters {{=<% %>=}}, and the specification's rule that a
 * section, comment, partial or delimiter tag alone on its line takes
 * the whole line away.  docs/templates.md says the same for users.
 *
 * A missing name renders nothing.  Strings render as they are, numbers
 * as JavaScript prints them (85, 1.21, 1500000), true and false as
 * words, null, objects and lists as nothing.  In HTML mode, the default,
 * {{x}} escapes & < > " and ' (as &#39;); the TEXT flag turns escaping
 * off for the plain-text part of a letter, the JSON flag makes {{x}} fit
 * inside a JSON string (" and \ and control characters escaped).
 *
 * Nothing here keeps CR or LF out of the output: a subject or any other
 * header rendered from a template must be checked by the caller.
 *
 * A compiled template is never changed by rendering: it may be rendered
 * by any number of renders at once.
 */

#ifndef _NGX_HTTP_TRIGGER_TEMPLATE_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_TEMPLATE_H_INCLUDED_


#include <stddef.h>

#include <jansson.h>


/* sections open inside each other, in one template */
#define NGX_HTTP_TRIGGER_TEMPLATE_MAX_NESTING  32
/* partials inside partials: a partial that includes itself stops here */
#define NGX_HTTP_TRIGGER_TEMPLATE_MAX_DEPTH    16
/* nodes rendered and names looked up in one render: a runaway bound */
#define NGX_HTTP_TRIGGER_TEMPLATE_MAX_STEPS    1000000

/* render's flags: no escaping; escaping for inside a JSON string */
#define NGX_HTTP_TRIGGER_TEMPLATE_TEXT         0x01
#define NGX_HTTP_TRIGGER_TEMPLATE_JSON         0x02

/* render's results */
#define NGX_HTTP_TRIGGER_TEMPLATE_OK           0
#define NGX_HTTP_TRIGGER_TEMPLATE_ENOMEM       -1
#define NGX_HTTP_TRIGGER_TEMPLATE_ETOOBIG      -2
#define NGX_HTTP_TRIGGER_TEMPLATE_EDEPTH       -3
#define NGX_HTTP_TRIGGER_TEMPLATE_ESTEPS       -4


typedef struct ngx_http_trigger_template_s  ngx_http_trigger_template_t;


/*
 * The output: malloc()ed, grown by doubling, never beyond max bytes of
 * text.  After a successful render data is NUL-terminated; len = 0
 * empties the buffer for the next render.
 */
typedef struct {
    char    *data;
    size_t   len;
    size_t   size;
    size_t   max;
} ngx_http_trigger_template_buf_t;


/*
 * Finds the partial called name (len bytes, NUL-terminated); returns
 * NULL when there is none, which renders nothing.  The template stays
 * the caller's: compile partials once, with the letters.
 */
typedef const ngx_http_trigger_template_t *
    (*ngx_http_trigger_template_partial_pt)(void *data, const char *name,
    size_t len);


/*
 * Compiles len bytes of text (copied: the text need not outlive the
 * call).  On error returns NULL and writes into err a message such as
 * 'line 3, column 5: section "items" is not closed' (columns count
 * bytes).
 */
ngx_http_trigger_template_t *ngx_http_trigger_template_compile(
    const char *text, size_t len, char *err, size_t err_len);

void ngx_http_trigger_template_free(ngx_http_trigger_template_t *t);

/*
 * Renders t with context as the data (NULL: no data), appending to out.
 * partials may be NULL (every partial renders nothing).  flags is 0 or
 * NGX_HTTP_TRIGGER_TEMPLATE_TEXT.  Returns NGX_HTTP_TRIGGER_TEMPLATE_OK
 * or a negative error: ENOMEM, ETOOBIG (the text would exceed out->max),
 * EDEPTH (partials nested deeper than MAX_DEPTH), ESTEPS (more than
 * MAX_STEPS steps); on error out->len is back where it was.
 */
int ngx_http_trigger_template_render(const ngx_http_trigger_template_t *t,
    const json_t *context, ngx_http_trigger_template_partial_pt partials,
    void *data, unsigned flags, ngx_http_trigger_template_buf_t *out);

/* a static description of render's result, for logs */
const char *ngx_http_trigger_template_strerror(int rc);

void ngx_http_trigger_template_buf_init(ngx_http_trigger_template_buf_t *b,
    size_t max);
void ngx_http_trigger_template_buf_free(ngx_http_trigger_template_buf_t *b);


#endif /* _NGX_HTTP_TRIGGER_TEMPLATE_H_INCLUDED_ */
