/*
 * Mustache templates: a compiler into a flat array of nodes (a section
 * is followed by its own nodes and knows where they end) and a renderer
 * that walks it once, appending to a buffer that grows by doubling.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_trigger_template.h"


/* what a tag is; the first five become nodes */
typedef enum {
    NGX_HTTP_TRIGGER_TPL_TEXT = 0,
    NGX_HTTP_TRIGGER_TPL_VAR,
    NGX_HTTP_TRIGGER_TPL_SECTION,
    NGX_HTTP_TRIGGER_TPL_INVERTED,
    NGX_HTTP_TRIGGER_TPL_PARTIAL,
    NGX_HTTP_TRIGGER_TPL_CLOSE,
    NGX_HTTP_TRIGGER_TPL_COMMENT,
    NGX_HTTP_TRIGGER_TPL_DELIM
} ngx_http_trigger_tpl_type_e;


typedef struct {
    ngx_http_trigger_tpl_type_e   type;
    /* begins a line: an indented partial's indentation goes first */
    unsigned                      bol:1;
    /* {{{x}}} and {{&x}} */
    unsigned                      raw:1;
    /* a partial alone on its line, indented by that line's blanks */
    unsigned                      standalone:1;
    /* text, or a name ("." is the current item) */
    const char                   *str;
    size_t                        len;
    const char                   *indent;
    size_t                        indent_len;
    /* a section's: the index just past its own nodes */
    size_t                        end;
} ngx_http_trigger_tpl_node_t;


struct ngx_http_trigger_template_s {
    /* the private copy of the text the nodes point into */
    char                         *src;
    ngx_http_trigger_tpl_node_t  *nodes;
    size_t                        n;
    size_t                        alloc;
};


/* a section open while compiling */
typedef struct {
    size_t                        node;
    const char                   *tag;
} ngx_http_trigger_tpl_open_t;


/* the context stack is on the C stack: a frame per section level */
typedef struct ngx_http_trigger_tpl_frame_s  ngx_http_trigger_tpl_frame_t;

struct ngx_http_trigger_tpl_frame_s {
    const json_t                  *value;
    ngx_http_trigger_tpl_frame_t  *parent;
};


typedef struct {
    ngx_http_trigger_template_partial_pt   partials;
    void                                  *data;
    ngx_http_trigger_template_buf_t       *out;
    /* the current indentation is indent.data from indent_start on */
    ngx_http_trigger_template_buf_t        indent;
    size_t                                 indent_start;
    unsigned                               depth;
    unsigned                               html;
    unsigned                               json;
    size_t                                 steps;
} ngx_http_trigger_tpl_render_t;


#define ngx_http_trigger_tpl_blank(c)  ((unsigned char) (c) <= ' ')


static const char *
ngx_http_trigger_tpl_find(const char *p, const char *end, const char *s,
    size_t n)
{
    while (end - p >= (ptrdiff_t) n) {
        p = memchr(p, s[0], end - p - n + 1);

        if (p == NULL) {
            return NULL;
        }

        if (memcmp(p, s, n) == 0) {
            return p;
        }

        p++;
    }

    return NULL;
}


static void
ngx_http_trigger_tpl_where(const char *src, const char *at, unsigned *line,
    unsigned *col)
{
    const char  *p, *bol;

    *line = 1;
    bol = src;

    for (p = src; p < at; p++) {
        if (*p == '\n') {
            (*line)++;
            bol = p + 1;
        }
    }

    *col = at - bol + 1;
}


static void
ngx_http_trigger_tpl_error(char *err, size_t err_len, const char *src,
    const char *at, const char *fmt, ...)
{
    int       n;
    va_list   args;
    unsigned  line, col;

    if (err_len == 0) {
        return;
    }

    ngx_http_trigger_tpl_where(src, at, &line, &col);

    n = snprintf(err, err_len, "line %u, column %u: ", line, col);

    if (n < 0 || (size_t) n >= err_len) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err + n, err_len - n, fmt, args);
    va_end(args);
}


/* a name has no blanks; dotted, it has no empty part, "." aside */

static int
ngx_http_trigger_tpl_valid_name(const char *p, size_t len, int dotted)
{
    size_t  i;

    if (len == 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (ngx_http_trigger_tpl_blank(p[i])) {
            return 0;
        }

        if (dotted && p[i] == '.' && len > 1
            && (i == 0 || i == len - 1 || p[i + 1] == '.'))
        {
            return 0;
        }
    }

    return 1;
}


static ngx_http_trigger_tpl_node_t *
ngx_http_trigger_tpl_add_node(ngx_http_trigger_template_t *t,
    ngx_http_trigger_tpl_type_e type, const char *str, size_t len, int bol)
{
    size_t                        alloc;
    ngx_http_trigger_tpl_node_t  *node;

    if (t->n == t->alloc) {
        alloc = t->alloc ? 2 * t->alloc : 16;
        node = realloc(t->nodes, alloc * sizeof(ngx_http_trigger_tpl_node_t));

        if (node == NULL) {
            return NULL;
        }

        t->nodes = node;
        t->alloc = alloc;
    }

    node = &t->nodes[t->n++];
    memset(node, 0, sizeof(ngx_http_trigger_tpl_node_t));

    node->type = type;
    node->str = str;
    node->len = len;
    node->bol = bol;

    return node;
}


/*
 * Literal text from p to end.  *pending says that a tag at the start of
 * a line gave no node (a comment, delimiters): its line start passes on.
 */

static int
ngx_http_trigger_tpl_add_text(ngx_http_trigger_template_t *t, const char *p,
    const char *end, int *pending)
{
    int  bol;

    if (p == end) {
        return 0;
    }

    bol = p == t->src || p[-1] == '\n' || *pending;
    *pending = 0;

    if (ngx_http_trigger_tpl_add_node(t, NGX_HTTP_TRIGGER_TPL_TEXT, p,
                                      end - p, bol)
        == NULL)
    {
        return -1;
    }

    return 0;
}


/* "{{=<% %>=}}": two words, no blanks inside, become the delimiters */

static int
ngx_http_trigger_tpl_delimiters(const char *p, const char *end,
    const char **open, size_t *open_len, const char **close,
    size_t *close_len)
{
    const char  *q;

    for (q = p; q < end && !ngx_http_trigger_tpl_blank(*q); q++) {
        /* void */
    }

    *open = p;
    *open_len = q - p;

    while (q < end && ngx_http_trigger_tpl_blank(*q)) {
        q++;
    }

    *close = q;
    *close_len = end - q;

    if (*open_len == 0 || *close_len == 0
        || !ngx_http_trigger_tpl_valid_name(q, end - q, 0))
    {
        return -1;
    }

    return 0;
}


ngx_http_trigger_template_t *
ngx_http_trigger_template_compile(const char *text, size_t len, char *err,
    size_t err_len)
{
    int                           raw, pending, standalone, bol;
    char                          pair;
    size_t                        olen, clen, depth;
    unsigned                      line, col;
    const char                   *src, *end, *pos, *tag, *tag_end, *p, *q;
    const char                   *c, *cend, *ls, *eol, *otag, *ctag;
    ngx_http_trigger_tpl_open_t   open[NGX_HTTP_TRIGGER_TEMPLATE_MAX_NESTING];
    ngx_http_trigger_tpl_type_e   type;
    ngx_http_trigger_tpl_node_t  *node;
    ngx_http_trigger_template_t  *t;

    t = calloc(1, sizeof(ngx_http_trigger_template_t));
    if (t == NULL) {
        goto nomem;
    }

    t->src = malloc(len + 1);
    if (t->src == NULL) {
        goto nomem;
    }

    memcpy(t->src, text, len);
    t->src[len] = '\0';

    src = t->src;
    end = src + len;
    pos = src;
    otag = "{{";
    olen = 2;
    ctag = "}}";
    clen = 2;
    depth = 0;
    pending = 0;

    for ( ;; ) {
        tag = ngx_http_trigger_tpl_find(pos, end, otag, olen);
        if (tag == NULL) {
            break;
        }

        p = tag + olen;
        type = NGX_HTTP_TRIGGER_TPL_VAR;
        raw = 0;
        pair = '\0';

        switch (p < end ? *p : '\0') {
        case '#':
            type = NGX_HTTP_TRIGGER_TPL_SECTION;
            break;
        case '^':
            type = NGX_HTTP_TRIGGER_TPL_INVERTED;
            break;
        case '/':
            type = NGX_HTTP_TRIGGER_TPL_CLOSE;
            break;
        case '!':
            type = NGX_HTTP_TRIGGER_TPL_COMMENT;
            break;
        case '>':
            type = NGX_HTTP_TRIGGER_TPL_PARTIAL;
            break;
        case '&':
            raw = 1;
            break;
        case '{':
            raw = 1;
            pair = '}';
            break;
        case '=':
            type = NGX_HTTP_TRIGGER_TPL_DELIM;
            pair = '=';
            break;
        default:
            break;
        }

        if (type != NGX_HTTP_TRIGGER_TPL_VAR || raw) {
            p++;
        }

        /* "{{{x}}}" and "{{=a b=}}" end at a "}" or "=" before "}}" */
        q = ngx_http_trigger_tpl_find(p, end, ctag, clen);

        while (pair && q != NULL && (q == p || q[-1] != pair)) {
            q = ngx_http_trigger_tpl_find(q + 1, end, ctag, clen);
        }

        if (q == NULL) {
            ngx_http_trigger_tpl_error(err, err_len, src, tag,
                                       "tag not closed: no \"%.*s%.*s\"",
                                       pair != '\0', &pair, (int) clen,
                                       ctag);
            goto failed;
        }

        tag_end = q + clen;

        if (pair) {
            q--;
        }

        c = p;
        cend = q;

        while (c < cend && ngx_http_trigger_tpl_blank(*c)) {
            c++;
        }

        while (cend > c && ngx_http_trigger_tpl_blank(cend[-1])) {
            cend--;
        }

        /* any tag but a variable alone on its line takes the line away */

        standalone = 0;
        ls = tag;
        eol = tag_end;

        if (type != NGX_HTTP_TRIGGER_TPL_VAR) {

            while (ls > pos && (ls[-1] == ' ' || ls[-1] == '\t')) {
                ls--;
            }

            while (eol < end && (*eol == ' ' || *eol == '\t')) {
                eol++;
            }

            if (eol < end && *eol == '\r' && eol + 1 < end
                && eol[1] == '\n')
            {
                eol++;
            }

            if ((ls == src || ls[-1] == '\n')
                && (eol == end || *eol == '\n'))
            {
                standalone = 1;
                eol += eol < end;

            } else {
                ls = tag;
                eol = tag_end;
            }
        }

        if (ngx_http_trigger_tpl_add_text(t, pos, ls, &pending) != 0) {
            goto nomem;
        }

        bol = !standalone && (tag == src || tag[-1] == '\n');

        switch (type) {

        case NGX_HTTP_TRIGGER_TPL_VAR:
        case NGX_HTTP_TRIGGER_TPL_SECTION:
        case NGX_HTTP_TRIGGER_TPL_INVERTED:

            if (!ngx_http_trigger_tpl_valid_name(c, cend - c, 1)) {
                ngx_http_trigger_tpl_error(err, err_len, src, tag,
                                           "bad name \"%.*s\"",
                                           (int) (cend - c), c);
                goto failed;
            }

            if (type != NGX_HTTP_TRIGGER_TPL_VAR
                && depth == NGX_HTTP_TRIGGER_TEMPLATE_MAX_NESTING)
            {
                ngx_http_trigger_tpl_error(err, err_len, src, tag,
                                       "sections nested deeper than %d",
                                       NGX_HTTP_TRIGGER_TEMPLATE_MAX_NESTING);
                goto failed;
            }

            node = ngx_http_trigger_tpl_add_node(t, type, c, cend - c,
                                                 bol || pending);
            if (node == NULL) {
                goto nomem;
            }

            pending = 0;
            node->raw = raw;

            if (type != NGX_HTTP_TRIGGER_TPL_VAR) {
                open[depth].node = t->n - 1;
                open[depth++].tag = tag;
            }

            break;

        case NGX_HTTP_TRIGGER_TPL_CLOSE:

            if (depth == 0) {
                ngx_http_trigger_tpl_error(err, err_len, src, tag,
                                           "\"%.*s\" closes no section",
                                           (int) (cend - c), c);
                goto failed;
            }

            node = &t->nodes[open[depth - 1].node];

            if (node->len != (size_t) (cend - c)
                || memcmp(node->str, c, node->len) != 0)
            {
                ngx_http_trigger_tpl_where(src, open[depth - 1].tag, &line,
                                           &col);
                ngx_http_trigger_tpl_error(err, err_len, src, tag,
                                       "section \"%.*s\" (line %u, column %u)"
                                       " closed as \"%.*s\"",
                                       (int) node->len, node->str, line, col,
                                       (int) (cend - c), c);
                goto failed;
            }

            /* the closing tag's line start repeats with the section */
            if ((bol || pending)
                && ngx_http_trigger_tpl_add_node(t, NGX_HTTP_TRIGGER_TPL_TEXT,
                                                 tag, 0, 1)
                   == NULL)
            {
                goto nomem;
            }

            pending = 0;
            t->nodes[open[--depth].node].end = t->n;
            break;

        case NGX_HTTP_TRIGGER_TPL_PARTIAL:

            if (!ngx_http_trigger_tpl_valid_name(c, cend - c, 0)) {
                ngx_http_trigger_tpl_error(err, err_len, src, tag,
                                           "bad partial name \"%.*s\"",
                                           (int) (cend - c), c);
                goto failed;
            }

            node = ngx_http_trigger_tpl_add_node(t, type, c, cend - c,
                                                 bol || pending);
            if (node == NULL) {
                goto nomem;
            }

            pending = 0;
            node->standalone = standalone;
            node->indent = ls;
            node->indent_len = tag - ls;

            /* the byte after the name is the tag's own: the name ends there */
            t->src[cend - src] = '\0';
            break;

        case NGX_HTTP_TRIGGER_TPL_DELIM:

            if (ngx_http_trigger_tpl_delimiters(c, cend, &otag, &olen, &ctag,
                                                &clen)
                != 0)
            {
                ngx_http_trigger_tpl_error(err, err_len, src, tag,
                                           "bad delimiters \"%.*s\"",
                                           (int) (cend - c), c);
                goto failed;
            }

            pending |= bol;
            break;

        default: /* NGX_HTTP_TRIGGER_TPL_COMMENT */
            pending |= bol;
        }

        pos = eol;
    }

    if (ngx_http_trigger_tpl_add_text(t, pos, end, &pending) != 0) {
        goto nomem;
    }

    if (depth) {
        node = &t->nodes[open[depth - 1].node];
        ngx_http_trigger_tpl_error(err, err_len, src, open[depth - 1].tag,
                                   "section \"%.*s\" is not closed",
                                   (int) node->len, node->str);
        goto failed;
    }

    if (pending
        && ngx_http_trigger_tpl_add_node(t, NGX_HTTP_TRIGGER_TPL_TEXT, end,
                                         0, 1)
           == NULL)
    {
        goto nomem;
    }

    return t;

nomem:

    if (err_len) {
        snprintf(err, err_len, "out of memory");
    }

failed:

    ngx_http_trigger_template_free(t);

    return NULL;
}


void
ngx_http_trigger_template_free(ngx_http_trigger_template_t *t)
{
    if (t == NULL) {
        return;
    }

    free(t->nodes);
    free(t->src);
    free(t);
}


void
ngx_http_trigger_template_buf_init(ngx_http_trigger_template_buf_t *b,
    size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->size = 0;

    /* so that doubling and max + 1 never overflow */
    b->max = max < SIZE_MAX / 4 ? max : SIZE_MAX / 4;
}


void
ngx_http_trigger_template_buf_free(ngx_http_trigger_template_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->size = 0;
}


/* room for n more bytes and a NUL */

static int
ngx_http_trigger_tpl_reserve(ngx_http_trigger_template_buf_t *b, size_t n)
{
    char    *data;
    size_t   size;

    if (n > b->max - b->len) {
        return NGX_HTTP_TRIGGER_TEMPLATE_ETOOBIG;
    }

    if (n < b->size - b->len) {
        return NGX_HTTP_TRIGGER_TEMPLATE_OK;
    }

    size = b->size ? b->size : 256;

    while (size <= b->len + n) {
        size *= 2;
    }

    if (size > b->max + 1) {
        size = b->max + 1;
    }

    data = realloc(b->data, size);
    if (data == NULL) {
        return NGX_HTTP_TRIGGER_TEMPLATE_ENOMEM;
    }

    b->data = data;
    b->size = size;

    return NGX_HTTP_TRIGGER_TEMPLATE_OK;
}


static int
ngx_http_trigger_tpl_add(ngx_http_trigger_template_buf_t *b, const char *p,
    size_t n)
{
    int  rc;

    if (n == 0) {
        return NGX_HTTP_TRIGGER_TEMPLATE_OK;
    }

    rc = ngx_http_trigger_tpl_reserve(b, n);
    if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
        return rc;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;

    return NGX_HTTP_TRIGGER_TEMPLATE_OK;
}


/* inside a JSON string: quotes, backslashes and controls escaped */

static int
ngx_http_trigger_tpl_escape_json(ngx_http_trigger_template_buf_t *b,
    const char *p, size_t len)
{
    int          rc;
    char         esc[8];
    const char  *end, *run;

    end = p + len;

    for (run = p; p < end; p++) {

        if (*p != '"' && *p != '\\' && (unsigned char) *p >= 0x20) {
            continue;
        }

        rc = ngx_http_trigger_tpl_add(b, run, p - run);
        if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
            return rc;
        }

        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = *p;
            rc = ngx_http_trigger_tpl_add(b, esc, 2);

        } else {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char) *p);
            rc = ngx_http_trigger_tpl_add(b, esc, 6);
        }

        if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
            return rc;
        }

        run = p + 1;
    }

    return ngx_http_trigger_tpl_add(b, run, end - run);
}


static int
ngx_http_trigger_tpl_escape(ngx_http_trigger_template_buf_t *b,
    const char *p, size_t len)
{
    int          rc;
    const char  *end, *run, *esc;

    end = p + len;

    for (run = p; p < end; p++) {

        switch (*p) {
        case '&':
            esc = "&amp;";
            break;
        case '<':
            esc = "&lt;";
            break;
        case '>':
            esc = "&gt;";
            break;
        case '"':
            esc = "&quot;";
            break;
        case '\'':
            esc = "&#39;";
            break;
        default:
            continue;
        }

        rc = ngx_http_trigger_tpl_add(b, run, p - run);
        if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
            return rc;
        }

        rc = ngx_http_trigger_tpl_add(b, esc, strlen(esc));
        if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
            return rc;
        }

        run = p + 1;
    }

    return ngx_http_trigger_tpl_add(b, run, end - run);
}


/*
 * A real as JavaScript's Number.prototype.toString() writes it: the
 * fewest digits that read back as the same double, positional from
 * 1e-7 to 1e21, else 1.5e+21.  buf holds 32 bytes.
 */

static size_t
ngx_http_trigger_tpl_real(char *buf, double v)
{
    int     prec, k, n, e, i;
    char    tmp[32], digits[20];
    size_t  len;

    if (v == 0) {
        buf[0] = '0';
        return 1;
    }

    /* 17 digits always read back */
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);

        if (prec == 17 || strtod(tmp, NULL) == v) {
            break;
        }
    }

    len = 0;
    k = 0;

    for (i = 0; tmp[i] != 'e'; i++) {
        if (tmp[i] == '-') {
            buf[len++] = '-';

        } else if (tmp[i] >= '0' && tmp[i] <= '9') {
            digits[k++] = tmp[i];
        }
    }

    while (k > 1 && digits[k - 1] == '0') {
        k--;
    }

    /* the decimal point goes after n digits */
    n = atoi(&tmp[i + 1]) + 1;

    if (k <= n && n <= 21) {
        memcpy(buf + len, digits, k);
        memset(buf + len + k, '0', n - k);
        return len + n;
    }

    if (n > 0 && n <= 21) {
        memcpy(buf + len, digits, n);
        buf[len + n] = '.';
        memcpy(buf + len + n + 1, digits + n, k - n);
        return len + k + 1;
    }

    if (n > -6 && n <= 0) {
        memcpy(buf + len, "0.", 2);
        memset(buf + len + 2, '0', -n);
        memcpy(buf + len + 2 - n, digits, k);
        return len + 2 - n + k;
    }

    buf[len++] = digits[0];

    if (k > 1) {
        buf[len++] = '.';
        memcpy(buf + len, digits + 1, k - 1);
        len += k - 1;
    }

    e = n - 1;

    return len + sprintf(buf + len, "e%c%d", e < 0 ? '-' : '+',
                         e < 0 ? -e : e);
}


static int
ngx_http_trigger_tpl_value(ngx_http_trigger_tpl_render_t *r,
    const json_t *v, int escape)
{
    char    num[32];
    size_t  n;

    switch (v ? json_typeof(v) : JSON_NULL) {

    case JSON_STRING:
        if (escape == 1) {
            return ngx_http_trigger_tpl_escape(r->out, json_string_value(v),
                                               json_string_length(v));
        }

        if (escape == 2) {
            return ngx_http_trigger_tpl_escape_json(r->out,
                                                    json_string_value(v),
                                                    json_string_length(v));
        }

        return ngx_http_trigger_tpl_add(r->out, json_string_value(v),
                                        json_string_length(v));

    case JSON_INTEGER:
        n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        return ngx_http_trigger_tpl_add(r->out, num, n);

    case JSON_REAL:
        n = ngx_http_trigger_tpl_real(num, json_real_value(v));
        return ngx_http_trigger_tpl_add(r->out, num, n);

    case JSON_TRUE:
        return ngx_http_trigger_tpl_add(r->out, "true", 4);

    case JSON_FALSE:
        return ngx_http_trigger_tpl_add(r->out, "false", 5);

    default:
        /* null, objects and lists have no text of their own */
        return NGX_HTTP_TRIGGER_TEMPLATE_OK;
    }
}


/* JavaScript's truth, as the specification has it; [] is empty too */

static int
ngx_http_trigger_tpl_truthy(const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT:
    case JSON_TRUE:
        return 1;
    case JSON_ARRAY:
        return json_array_size(v) != 0;
    case JSON_STRING:
        return json_string_length(v) != 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0;
    default:
        return 0;
    }
}


/*
 * The first part of a name is looked for from the top of the context
 * stack down; the other parts only inside what it found.
 */

static const json_t *
ngx_http_trigger_tpl_lookup(ngx_http_trigger_tpl_render_t *r,
    ngx_http_trigger_tpl_frame_t *ctx, const ngx_http_trigger_tpl_node_t *node)
{
    const char                    *name, *end, *part;
    const json_t                  *v;
    ngx_http_trigger_tpl_frame_t  *f;

    name = node->str;
    end = name + node->len;

    if (node->len == 1 && name[0] == '.') {
        return ctx->value;
    }

    part = memchr(name, '.', node->len);
    if (part == NULL) {
        part = end;
    }

    v = NULL;

    for (f = ctx; f != NULL; f = f->parent) {
        r->steps++;

        v = json_object_getn(f->value, name, part - name);
        if (v != NULL) {
            break;
        }
    }

    while (v != NULL && part < end) {
        name = part + 1;

        part = memchr(name, '.', end - name);
        if (part == NULL) {
            part = end;
        }

        v = json_object_getn(v, name, part - name);
    }

    return v;
}


static int
ngx_http_trigger_tpl_indent(ngx_http_trigger_tpl_render_t *r)
{
    if (r->indent.len == r->indent_start) {
        return NGX_HTTP_TRIGGER_TEMPLATE_OK;
    }

    return ngx_http_trigger_tpl_add(r->out, r->indent.data + r->indent_start,
                                    r->indent.len - r->indent_start);
}


static int
ngx_http_trigger_tpl_text(ngx_http_trigger_tpl_render_t *r,
    const ngx_http_trigger_tpl_node_t *node)
{
    int          rc;
    const char  *p, *end, *nl;

    if (r->indent.len == r->indent_start) {
        return ngx_http_trigger_tpl_add(r->out, node->str, node->len);
    }

    /* in an indented partial, every line that goes on is indented */

    p = node->str;
    end = p + node->len;

    while ((nl = memchr(p, '\n', end - p)) != NULL && nl + 1 < end) {
        rc = ngx_http_trigger_tpl_add(r->out, p, nl + 1 - p);
        if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
            return rc;
        }

        rc = ngx_http_trigger_tpl_indent(r);
        if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
            return rc;
        }

        p = nl + 1;
    }

    return ngx_http_trigger_tpl_add(r->out, p, end - p);
}


static int ngx_http_trigger_tpl_nodes(ngx_http_trigger_tpl_render_t *r,
    const ngx_http_trigger_template_t *t, size_t from, size_t to,
    ngx_http_trigger_tpl_frame_t *ctx);


static int
ngx_http_trigger_tpl_partial(ngx_http_trigger_tpl_render_t *r,
    const ngx_http_trigger_tpl_node_t *node,
    ngx_http_trigger_tpl_frame_t *ctx)
{
    int                                 rc;
    size_t                              start, len;
    const ngx_http_trigger_template_t  *p;

    if (r->partials == NULL) {
        return NGX_HTTP_TRIGGER_TEMPLATE_OK;
    }

    p = r->partials(r->data, node->str, node->len);
    if (p == NULL) {
        return NGX_HTTP_TRIGGER_TEMPLATE_OK;
    }

    if (r->depth == NGX_HTTP_TRIGGER_TEMPLATE_MAX_DEPTH) {
        return NGX_HTTP_TRIGGER_TEMPLATE_EDEPTH;
    }

    start = r->indent_start;
    len = r->indent.len;

    /*
     * Standalone, the partial's lines take this line's blanks on top of
     * the current indentation; inline, none at all.
     */

    if (node->standalone) {
        rc = ngx_http_trigger_tpl_add(&r->indent, node->indent,
                                      node->indent_len);
        if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
            return rc;
        }

    } else {
        r->indent_start = len;
    }

    r->depth++;
    rc = ngx_http_trigger_tpl_nodes(r, p, 0, p->n, ctx);
    r->depth--;

    r->indent_start = start;
    r->indent.len = len;

    return rc;
}


static int
ngx_http_trigger_tpl_nodes(ngx_http_trigger_tpl_render_t *r,
    const ngx_http_trigger_template_t *t, size_t from, size_t to,
    ngx_http_trigger_tpl_frame_t *ctx)
{
    int                                 rc;
    size_t                              i, k, n;
    const json_t                       *v;
    ngx_http_trigger_tpl_frame_t        frame;
    const ngx_http_trigger_tpl_node_t  *node;

    for (i = from; i < to; i++) {
        node = &t->nodes[i];

        if (++r->steps > NGX_HTTP_TRIGGER_TEMPLATE_MAX_STEPS) {
            return NGX_HTTP_TRIGGER_TEMPLATE_ESTEPS;
        }

        if (node->bol) {
            rc = ngx_http_trigger_tpl_indent(r);
            if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
                return rc;
            }
        }

        switch (node->type) {

        case NGX_HTTP_TRIGGER_TPL_TEXT:
            rc = ngx_http_trigger_tpl_text(r, node);
            break;

        case NGX_HTTP_TRIGGER_TPL_VAR:
            v = ngx_http_trigger_tpl_lookup(r, ctx, node);
            rc = ngx_http_trigger_tpl_value(r, v,
                                            node->raw ? 0 : r->html ? 1
                                            : r->json ? 2 : 0);
            break;

        case NGX_HTTP_TRIGGER_TPL_SECTION:
            v = ngx_http_trigger_tpl_lookup(r, ctx, node);
            frame.parent = ctx;
            rc = NGX_HTTP_TRIGGER_TEMPLATE_OK;

            if (json_is_array(v)) {
                n = json_array_size(v);

                for (k = 0; k < n && rc == NGX_HTTP_TRIGGER_TEMPLATE_OK; k++)
                {
                    r->steps++;
                    frame.value = json_array_get(v, k);
                    rc = ngx_http_trigger_tpl_nodes(r, t, i + 1, node->end,
                                                    &frame);
                }

            } else if (ngx_http_trigger_tpl_truthy(v)) {
                frame.value = v;
                rc = ngx_http_trigger_tpl_nodes(r, t, i + 1, node->end,
                                                &frame);
            }

            i = node->end - 1;
            break;

        case NGX_HTTP_TRIGGER_TPL_INVERTED:
            v = ngx_http_trigger_tpl_lookup(r, ctx, node);
            rc = NGX_HTTP_TRIGGER_TEMPLATE_OK;

            if (!ngx_http_trigger_tpl_truthy(v)) {
                rc = ngx_http_trigger_tpl_nodes(r, t, i + 1, node->end, ctx);
            }

            i = node->end - 1;
            break;

        default: /* NGX_HTTP_TRIGGER_TPL_PARTIAL */
            rc = ngx_http_trigger_tpl_partial(r, node, ctx);
        }

        if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
            return rc;
        }
    }

    return NGX_HTTP_TRIGGER_TEMPLATE_OK;
}


int
ngx_http_trigger_template_render(const ngx_http_trigger_template_t *t,
    const json_t *context, ngx_http_trigger_template_partial_pt partials,
    void *data, unsigned flags, ngx_http_trigger_template_buf_t *out)
{
    int                            rc;
    size_t                         start;
    ngx_http_trigger_tpl_frame_t   root;
    ngx_http_trigger_tpl_render_t  r;

    r.partials = partials;
    r.data = data;
    r.out = out;
    r.indent_start = 0;
    r.depth = 0;
    r.json = (flags & NGX_HTTP_TRIGGER_TEMPLATE_JSON) != 0;
    r.html = !(flags & NGX_HTTP_TRIGGER_TEMPLATE_TEXT) && !r.json;
    r.steps = 0;
    ngx_http_trigger_template_buf_init(&r.indent, out->max);

    root.value = context;
    root.parent = NULL;

    start = out->len;

    rc = ngx_http_trigger_tpl_nodes(&r, t, 0, t->n, &root);

    if (rc == NGX_HTTP_TRIGGER_TEMPLATE_OK) {
        rc = ngx_http_trigger_tpl_reserve(out, 0);
    }

    if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
        out->len = start;
    }

    if (out->data != NULL) {
        out->data[out->len] = '\0';
    }

    ngx_http_trigger_template_buf_free(&r.indent);

    return rc;
}


const char *
ngx_http_trigger_template_strerror(int rc)
{
    switch (rc) {
    case NGX_HTTP_TRIGGER_TEMPLATE_OK:
        return "ok";
    case NGX_HTTP_TRIGGER_TEMPLATE_ENOMEM:
        return "out of memory";
    case NGX_HTTP_TRIGGER_TEMPLATE_ETOOBIG:
        return "the text exceeds its size limit";
    case NGX_HTTP_TRIGGER_TEMPLATE_EDEPTH:
        return "partials nested too deep";
    case NGX_HTTP_TRIGGER_TEMPLATE_ESTEPS:
        return "too many steps";
    default:
        return "unknown error";
    }
}
