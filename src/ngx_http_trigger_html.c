/*
 * HTML helpers for the widget's injection.
 */


#include <string.h>
#include <strings.h>

#include "ngx_http_trigger_html.h"


/*
 * The WHATWG tokenizer's states that decide whether a "</body" is in data
 * state: tags and their quoted attribute values, comments, and the text
 * of elements that ends only at their own end tag.  Character references
 * and DOCTYPE details change nothing here (a DOCTYPE ends at its first
 * ">", like a bogus comment).  Foreign content (CDATA in SVG) needs the
 * tree builder and is not followed.
 */
enum {
    sw_data = 0,
    sw_tag_open,
    sw_end_tag_open,
    sw_tag_name,
    /* also after a quoted value, and after "/" not followed by ">" */
    sw_before_attr_name,
    sw_attr_name,
    sw_after_attr_name,
    sw_before_attr_value,
    sw_attr_value_dq,
    sw_attr_value_sq,
    sw_attr_value_unq,
    sw_markup,
    sw_markup_dash,
    sw_comment_start,
    sw_comment_start_dash,
    sw_comment,
    sw_comment_end_dash,
    sw_comment_end,
    sw_comment_end_bang,
    sw_bogus_comment,
    sw_rawtext,
    sw_rawtext_lt,
    sw_raw_end_tag,
    sw_script,
    sw_script_lt,
    sw_script_esc_start,
    sw_script_esc_start_dash,
    sw_script_esc,
    sw_script_esc_dash,
    sw_script_esc_dash_dash,
    sw_script_esc_lt,
    sw_script_dbl_start,
    sw_script_dbl,
    sw_script_dbl_dash,
    sw_script_dbl_dash_dash,
    sw_script_dbl_lt,
    sw_script_dbl_end,
    sw_plaintext
};


typedef struct {
    size_t         len;
    const char    *name;
    u_char         state;
} ngx_http_trigger_html_elem_t;


/* the elements whose text ends only at their own end tag */
static const ngx_http_trigger_html_elem_t  ngx_http_trigger_html_elems[] = {
    { 0, "", sw_data },
#define NGX_HTTP_TRIGGER_HTML_SCRIPT  1
    { 6, "script", sw_script },
    { 5, "style", sw_rawtext },
    { 3, "xmp", sw_rawtext },
    { 6, "iframe", sw_rawtext },
    { 7, "noembed", sw_rawtext },
    { 8, "noframes", sw_rawtext },
    /* raw text where scripting is on, as it is for the widget */
    { 8, "noscript", sw_rawtext },
    /* RCDATA: references are decoded, but it ends the same way */
    { 8, "textarea", sw_rawtext },
    { 5, "title", sw_rawtext },
    { 9, "plaintext", sw_plaintext }
};


/* what ends a tag's name, an attribute's name or value */
#define NGX_HTTP_TRIGGER_HTML_SPACE  1
#define NGX_HTTP_TRIGGER_HTML_SLASH  2
#define NGX_HTTP_TRIGGER_HTML_GT     4
#define NGX_HTTP_TRIGGER_HTML_EQ     8

static const u_char  ngx_http_trigger_html_class[256] = {
    ['\t'] = NGX_HTTP_TRIGGER_HTML_SPACE,
    ['\n'] = NGX_HTTP_TRIGGER_HTML_SPACE,
    ['\f'] = NGX_HTTP_TRIGGER_HTML_SPACE,
    /* CR: the input stream makes it LF */
    ['\r'] = NGX_HTTP_TRIGGER_HTML_SPACE,
    [' '] = NGX_HTTP_TRIGGER_HTML_SPACE,
    ['/'] = NGX_HTTP_TRIGGER_HTML_SLASH,
    ['>'] = NGX_HTTP_TRIGGER_HTML_GT,
    ['='] = NGX_HTTP_TRIGGER_HTML_EQ
};

#define ngx_http_trigger_html_is(c, what)                                     \
    (ngx_http_trigger_html_class[c] & (what))

#define ngx_http_trigger_html_space(c)                                        \
    ngx_http_trigger_html_is(c, NGX_HTTP_TRIGGER_HTML_SPACE)

#define NGX_HTTP_TRIGGER_HTML_TAG_END                                         \
    (NGX_HTTP_TRIGGER_HTML_SPACE|NGX_HTTP_TRIGGER_HTML_SLASH                  \
     |NGX_HTTP_TRIGGER_HTML_GT)

#define ngx_http_trigger_html_alpha(c)                                        \
    (((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'z')

#define ngx_http_trigger_html_min(a, b)  ((a) < (b) ? (a) : (b))

#define ngx_http_trigger_html_lower(c)                                        \
    (((c) >= 'A' && (c) <= 'Z') ? ((c) | 0x20) : (c))


static const u_char *ngx_http_trigger_html_attrs(const u_char *p,
    const u_char *last, u_char *state);
static u_char ngx_http_trigger_html_elem(ngx_http_trigger_html_t *h);


int
ngx_http_trigger_html_scan(ngx_http_trigger_html_t *h, const u_char *p,
    size_t len, ssize_t *at)
{
    u_char                               c, state;
    size_t                               n;
    const u_char                        *start, *last, *q;
    const ngx_http_trigger_html_elem_t  *e, *script;

    script = &ngx_http_trigger_html_elems[NGX_HTTP_TRIGGER_HTML_SCRIPT];
    start = p;
    last = p + len;
    state = h->state;

    while (p < last) {
        c = *p;

        switch (state) {

        /* most of a page: let memchr() skip the text */

        case sw_data:
            q = memchr(p, '<', last - p);

            if (q == NULL) {
                p = last;
                break;
            }

            p = q + 1;
            state = sw_tag_open;

            if (p == last) {
                break;
            }

            c = *p;

            /* fall through */

        case sw_tag_open:
            if (!ngx_http_trigger_html_alpha(c)) {

                if (c == '/') {
                    state = sw_end_tag_open;
                    p++;

                } else if (c == '!' || c == '?') {
                    state = (c == '!') ? sw_markup : sw_bogus_comment;
                    p++;

                } else {
                    /* text: the character is looked at again there */
                    state = sw_data;
                }

                break;
            }

            h->end_tag = 0;
            h->n = 0;
            state = sw_tag_name;

            /* fall through */

        case sw_tag_name:
            n = h->n;

            while (p < last
                   && !ngx_http_trigger_html_is(*p,
                                                NGX_HTTP_TRIGGER_HTML_TAG_END))
            {
                /* only names up to 9 characters are of interest */
                if (n < sizeof(h->name)) {
                    h->name[n] = ngx_http_trigger_html_lower(*p);
                }

                n++;
                p++;
            }

            h->n = ngx_http_trigger_html_min(n, sizeof(h->name) + 1);

            if (p == last) {
                break;
            }

            c = *p;

            if (h->end_tag) {
                if (h->n == 4 && memcmp(h->name, "body", 4) == 0) {
                    h->state = state;
                    h->partial = 0;
                    *at = (ssize_t) (p - start)
                          - NGX_HTTP_TRIGGER_HTML_TAG_LEN;
                    return 1;
                }

                h->elem = 0;

            } else {
                h->elem = ngx_http_trigger_html_elem(h);
            }

            p++;

            if (c == '>') {
                goto emit;
            }

            state = sw_before_attr_name;

            /* fall through */

        case sw_before_attr_name:
        case sw_attr_name:
        case sw_after_attr_name:
        case sw_before_attr_value:
        case sw_attr_value_dq:
        case sw_attr_value_sq:
        case sw_attr_value_unq:
            p = ngx_http_trigger_html_attrs(p, last, &state);

            if (state == sw_data) {
                goto emit;
            }

            break;

        case sw_end_tag_open:
            if (ngx_http_trigger_html_alpha(c)) {
                h->end_tag = 1;
                h->n = 0;
                state = sw_tag_name;

            } else if (c == '>') {
                state = sw_data;
                p++;

            } else {
                state = sw_bogus_comment;
            }

            break;

        /* "<!": a comment, or a DOCTYPE or anything else up to ">" */

        case sw_markup:
        case sw_markup_dash:
            if (c == '-') {
                state = (state == sw_markup) ? sw_markup_dash
                                             : sw_comment_start;
                p++;

            } else {
                state = sw_bogus_comment;
            }

            break;

        case sw_comment_start:
        case sw_comment_start_dash:
            if (c == '-') {
                state = (state == sw_comment_start) ? sw_comment_start_dash
                                                    : sw_comment_end;
                p++;

            } else if (c == '>') {
                /* "<!-->" and "<!--->" */
                state = sw_data;
                p++;

            } else {
                state = sw_comment;
            }

            break;

        case sw_comment:
            q = memchr(p, '-', last - p);

            if (q == NULL) {
                p = last;
                break;
            }

            p = q + 1;
            state = sw_comment_end_dash;
            break;

        case sw_comment_end_dash:
            if (c == '-') {
                state = sw_comment_end;
                p++;

            } else {
                state = sw_comment;
            }

            break;

        case sw_comment_end:
            if (c == '>') {
                state = sw_data;
                p++;

            } else if (c == '!') {
                state = sw_comment_end_bang;
                p++;

            } else if (c == '-') {
                p++;

            } else {
                state = sw_comment;
            }

            break;

        case sw_comment_end_bang:
            if (c == '-') {
                state = sw_comment_end_dash;
                p++;

            } else if (c == '>') {
                /* "--!>" */
                state = sw_data;
                p++;

            } else {
                state = sw_comment;
            }

            break;

        case sw_bogus_comment:
            q = memchr(p, '>', last - p);

            if (q == NULL) {
                p = last;
                break;
            }

            p = q + 1;
            state = sw_data;
            break;

        /* style, textarea and the others: only their end tag ends them */

        case sw_rawtext:
        case sw_script:
            q = memchr(p, '<', last - p);

            if (q == NULL) {
                p = last;
                break;
            }

            p = q + 1;
            state = (state == sw_rawtext) ? sw_rawtext_lt : sw_script_lt;
            break;

        case sw_rawtext_lt:
            if (c == '/') {
                h->back = sw_rawtext;
                h->n = 0;
                state = sw_raw_end_tag;
                p++;

            } else {
                state = sw_rawtext;
            }

            break;

        case sw_raw_end_tag:
            e = &ngx_http_trigger_html_elems[h->elem];

            if (h->n < e->len) {

                if (ngx_http_trigger_html_lower(c) == (u_char) e->name[h->n]) {
                    h->n++;
                    p++;

                } else {
                    state = h->back;
                }

                break;
            }

            /* the element's own end tag, if this ends its name */

            if (ngx_http_trigger_html_space(c) || c == '/') {
                h->end_tag = 1;
                state = sw_before_attr_name;
                p++;

            } else if (c == '>') {
                state = sw_data;
                p++;

            } else {
                state = h->back;
            }

            break;

        /*
         * Script data: "<!--" in it escapes it, and a "<script" inside
         * that makes even "</script>" mere text until "-->" or the
         * inner "</script".
         */

        case sw_script_lt:
            if (c == '/') {
                h->back = sw_script;
                h->n = 0;
                state = sw_raw_end_tag;
                p++;

            } else if (c == '!') {
                state = sw_script_esc_start;
                p++;

            } else {
                state = sw_script;
            }

            break;

        case sw_script_esc_start:
        case sw_script_esc_start_dash:
            if (c == '-') {
                state = (state == sw_script_esc_start)
                        ? sw_script_esc_start_dash : sw_script_esc_dash_dash;
                p++;

            } else {
                state = sw_script;
            }

            break;

        case sw_script_esc:
        case sw_script_dbl:
            while (p < last && *p != '-' && *p != '<') {
                p++;
            }

            if (p == last) {
                break;
            }

            if (*p++ == '-') {
                state = (state == sw_script_esc) ? sw_script_esc_dash
                                                 : sw_script_dbl_dash;
            } else {
                state = (state == sw_script_esc) ? sw_script_esc_lt
                                                 : sw_script_dbl_lt;
            }

            break;

        case sw_script_esc_dash:
        case sw_script_esc_dash_dash:
            if (c == '-') {
                state = sw_script_esc_dash_dash;
                p++;

            } else if (c == '<') {
                state = sw_script_esc_lt;
                p++;

            } else if (c == '>' && state == sw_script_esc_dash_dash) {
                state = sw_script;
                p++;

            } else {
                state = sw_script_esc;
            }

            break;

        case sw_script_esc_lt:
            if (c == '/') {
                h->back = sw_script_esc;
                h->n = 0;
                state = sw_raw_end_tag;
                p++;

            } else if (ngx_http_trigger_html_alpha(c)) {
                h->n = 0;
                state = sw_script_dbl_start;

            } else {
                state = sw_script_esc;
            }

            break;

        /*
         * "<script" starts the double escape, "</script" ends it: a name
         * that turns out to be another one is text, looked at again
         */

        case sw_script_dbl_start:
        case sw_script_dbl_end:
            if (ngx_http_trigger_html_space(c) || c == '/' || c == '>') {

                if (state == sw_script_dbl_start) {
                    state = (h->n == script->len) ? sw_script_dbl
                                                  : sw_script_esc;

                } else {
                    state = (h->n == script->len) ? sw_script_esc
                                                  : sw_script_dbl;
                }

                p++;

            } else if (h->n < script->len
                       && ngx_http_trigger_html_lower(c)
                          == (u_char) script->name[h->n])
            {
                h->n++;
                p++;

            } else {
                state = (state == sw_script_dbl_start) ? sw_script_esc
                                                       : sw_script_dbl;
            }

            break;

        case sw_script_dbl_dash:
        case sw_script_dbl_dash_dash:
            if (c == '-') {
                state = sw_script_dbl_dash_dash;
                p++;

            } else if (c == '<') {
                state = sw_script_dbl_lt;
                p++;

            } else if (c == '>' && state == sw_script_dbl_dash_dash) {
                state = sw_script;
                p++;

            } else {
                state = sw_script_dbl;
            }

            break;

        case sw_script_dbl_lt:
            if (c == '/') {
                h->n = 0;
                state = sw_script_dbl_end;
                p++;

            } else {
                state = sw_script_dbl;
            }

            break;

        /* sw_plaintext: to the end of the page */
        default:
            p = last;
            break;
        }

        continue;

    emit:

        /* a start tag of a raw text element begins its text */
        state = h->end_tag ? sw_data
                           : ngx_http_trigger_html_elems[h->elem].state;
    }

    h->state = state;

    if (state == sw_tag_open) {
        h->partial = 1;

    } else if (state == sw_end_tag_open) {
        h->partial = 2;

    } else if (state == sw_tag_name && h->end_tag && h->n <= 4
               && memcmp(h->name, "body", h->n) == 0)
    {
        h->partial = 2 + h->n;

    } else {
        h->partial = 0;
    }

    return 0;
}


/*
 * A tag's attributes, from *state on: returns past the ">" that ends the
 * tag with *state sw_data, or last with the state to go on from.  Only
 * a quote after "=" starts a value that may hold ">"; a "/" that is not
 * followed by ">" is as good as a space.  Straight code rather than a
 * state per character: most of a page's tags are in here.
 */

static const u_char *
ngx_http_trigger_html_attrs(const u_char *p, const u_char *last,
    u_char *state)
{
    u_char         quote;
    const u_char  *q;

    switch (*state) {

    case sw_attr_name:
        goto name;

    case sw_after_attr_name:
        goto after_name;

    case sw_before_attr_value:
        goto before_value;

    case sw_attr_value_dq:
    case sw_attr_value_sq:
        goto quoted;

    case sw_attr_value_unq:
        goto unquoted;

    default: /* sw_before_attr_name */
        break;
    }

between:

    while (p < last
           && ngx_http_trigger_html_is(*p, NGX_HTTP_TRIGGER_HTML_SPACE
                                           |NGX_HTTP_TRIGGER_HTML_SLASH))
    {
        p++;
    }

    if (p == last) {
        *state = sw_before_attr_name;
        return p;
    }

    if (*p++ == '>') {
        goto end;
    }

    /* a name's first character, even "=" */

name:

    while (p < last
           && !ngx_http_trigger_html_is(*p, NGX_HTTP_TRIGGER_HTML_TAG_END
                                            |NGX_HTTP_TRIGGER_HTML_EQ))
    {
        p++;
    }

    if (p == last) {
        *state = sw_attr_name;
        return p;
    }

    switch (*p++) {

    case '=':
        goto before_value;

    case '>':
        goto end;

    case '/':
        goto between;

    default: /* space */
        break;
    }

after_name:

    while (p < last && ngx_http_trigger_html_space(*p)) {
        p++;
    }

    if (p == last) {
        *state = sw_after_attr_name;
        return p;
    }

    switch (*p++) {

    case '=':
        goto before_value;

    case '>':
        goto end;

    case '/':
        goto between;

    default:
        /* the next attribute's name */
        goto name;
    }

before_value:

    while (p < last && ngx_http_trigger_html_space(*p)) {
        p++;
    }

    if (p == last) {
        *state = sw_before_attr_value;
        return p;
    }

    if (*p == '"' || *p == '\'') {
        *state = (*p++ == '"') ? sw_attr_value_dq : sw_attr_value_sq;
        goto quoted;
    }

    if (*p == '>') {
        p++;
        goto end;
    }

unquoted:

    while (p < last
           && !ngx_http_trigger_html_is(*p, NGX_HTTP_TRIGGER_HTML_SPACE
                                            |NGX_HTTP_TRIGGER_HTML_GT))
    {
        p++;
    }

    if (p == last) {
        *state = sw_attr_value_unq;
        return p;
    }

    if (*p++ == '>') {
        goto end;
    }

    goto between;

quoted:

    quote = (*state == sw_attr_value_dq) ? '"' : '\'';

    q = memchr(p, quote, last - p);

    if (q == NULL) {
        return last;
    }

    p = q + 1;
    goto between;

end:

    *state = sw_data;
    return p;
}


static u_char
ngx_http_trigger_html_elem(ngx_http_trigger_html_t *h)
{
    u_char  i;

    /* most tags are none of them */
    if (h->n < 3 || h->n > 9 || !memchr("instxp", h->name[0], 6)) {
        return 0;
    }

    for (i = 1;
         i < sizeof(ngx_http_trigger_html_elems)
             / sizeof(ngx_http_trigger_html_elem_t);
         i++)
    {
        if (h->n == ngx_http_trigger_html_elems[i].len
            && memcmp(h->name, ngx_http_trigger_html_elems[i].name, h->n)
               == 0)
        {
            return i;
        }
    }

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


size_t
ngx_http_trigger_cache_private(u_char *dst, const u_char *src, size_t len)
{
    size_t         n;
    u_char        *d;
    unsigned       quoted;
    const u_char  *p, *last, *start, *end, *name;

    d = dst;
    p = src;
    last = src + len;

    while (p < last) {

        /* a directive: up to a comma outside a quoted string */

        start = p;
        quoted = 0;

        for ( /* void */ ; p < last; p++) {
            if (quoted) {
                if (*p == '\\' && p + 1 < last) {
                    p++;

                } else if (*p == '"') {
                    quoted = 0;
                }

            } else if (*p == '"') {
                quoted = 1;

            } else if (*p == ',') {
                break;
            }
        }

        end = p;

        if (p < last) {
            p++;
        }

        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        for (name = start;
             name < end && *name != '=' && *name != ' ' && *name != '\t';
             name++)
        {
            /* void */
        }

        n = name - start;

        if (n == 0
            || (n == 6 && strncasecmp((char *) start, "public", 6) == 0)
            || (n == 7 && strncasecmp((char *) start, "private", 7) == 0)
            || (n == 8 && strncasecmp((char *) start, "s-maxage", 8) == 0))
        {
            continue;
        }

        *d++ = ',';
        *d++ = ' ';
        memcpy(d, start, end - start);
        d += end - start;
    }

    return d - dst;
}


int
ngx_http_trigger_accepts_gzip(const u_char *p, size_t len)
{
    size_t         n;
    const u_char  *end, *name, *q;

    end = p + len;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        name = p;

        while (p < end && *p != ',' && *p != ';' && *p != ' '
               && *p != '\t')
        {
            p++;
        }

        n = p - name;

        if ((n == 4 && strncasecmp((const char *) name, "gzip", 4) == 0)
            || (n == 6 && strncasecmp((const char *) name, "x-gzip", 6) == 0))
        {
            /* "q=0", "q=0.0", ... refuse it: any other weight takes it */
            for (q = p; q < end && *q != ','; q++) {
                if ((*q == 'q' || *q == 'Q') && q + 2 < end && q[1] == '='
                    && (q[-1] == ';' || q[-1] == ' ' || q[-1] == '\t'))
                {
                    q += 2;

                    if (*q != '0') {
                        return 1;
                    }

                    for (q++; q < end && (*q == '0' || *q == '.'); q++) {
                        /* void */
                    }

                    return q < end && *q >= '1' && *q <= '9';
                }
            }

            return 1;
        }

        while (p < end && *p != ',') {
            p++;
        }
    }

    return 0;
}
