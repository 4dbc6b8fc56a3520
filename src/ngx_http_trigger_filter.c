/*
 * Response filters: the visitor cookie, the shop's event headers, the
 * widget's bootstrap inserted before </body>, and Cache-Control: private
 * on what is one visitor's.
 */


#include "ngx_http_trigger_filter.h"
#include "ngx_http_trigger_track.h"
#include "ngx_http_trigger_bootstrap.h"
#include "ngx_http_trigger_stats.h"
#include "ngx_http_trigger_html.h"


static ngx_uint_t ngx_http_trigger_header_events(ngx_http_request_t *r,
    ngx_http_trigger_event_t *events);
static ngx_uint_t ngx_http_trigger_has_purchase(
    ngx_http_trigger_event_t *events, ngx_uint_t n);
static ngx_int_t ngx_http_trigger_set_cookie(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
static ngx_int_t ngx_http_trigger_private(ngx_http_request_t *r);
static size_t ngx_http_trigger_cache_control(ngx_http_request_t *r,
    u_char *dst);
static ngx_int_t ngx_http_trigger_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_trigger_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_trigger_body_buf(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_buf_t *b, ngx_chain_t ***ll);
static ngx_int_t ngx_http_trigger_held(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_chain_t ***ll, u_char *p, size_t n);
static ngx_int_t ngx_http_trigger_link(ngx_http_request_t *r,
    ngx_chain_t ***ll, ngx_buf_t *b);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_trigger_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_trigger_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_trigger_body_filter;

    return NGX_OK;
}


static ngx_str_t  ngx_http_trigger_header_names[] = {
    ngx_string("X-Trigger-View"),
    ngx_string("X-Trigger-Cart-Add"),
    ngx_string("X-Trigger-Cart-Remove"),
    ngx_string("X-Trigger-Cart-Clear"),
    ngx_string("X-Trigger-Purchase")
};


/* takes the upstream's event headers out of the response */

static ngx_uint_t
ngx_http_trigger_header_events(ngx_http_request_t *r,
    ngx_http_trigger_event_t *events)
{
    ngx_uint_t        i, n, t;
    const char       *err;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = 0;
    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || h[i].key.len < sizeof("X-Trigger-") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "X-Trigger-",
                               sizeof("X-Trigger-") - 1) != 0)
        {
            continue;
        }

        for (t = 0; t <= NGX_HTTP_TRIGGER_EV_PURCHASE; t++) {
            if (h[i].key.len == ngx_http_trigger_header_names[t].len
                && ngx_strncasecmp(h[i].key.data,
                                   ngx_http_trigger_header_names[t].data,
                                   h[i].key.len) == 0)
            {
                break;
            }
        }

        if (t > NGX_HTTP_TRIGGER_EV_PURCHASE) {
            continue;
        }

        h[i].hash = 0;

        if (n == NGX_HTTP_TRIGGER_EVENTS_MAX) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "trigger: too many event headers, \"%V\" ignored",
                          &h[i].key);
            continue;
        }

        err = ngx_http_trigger_event_parse_header(&events[n], t,
                                                  h[i].value.data,
                                                  h[i].value.len);
        if (err) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "trigger: \"%V: %V\" ignored: %s",
                          &h[i].key, &h[i].value, err);
            continue;
        }

        n++;
    }

    return n;
}


static ngx_uint_t
ngx_http_trigger_has_purchase(ngx_http_trigger_event_t *events, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (events[i].type == NGX_HTTP_TRIGGER_EV_PURCHASE) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_trigger_set_cookie(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    u_char                       *p;
    size_t                        len;
    ngx_uint_t                    secure;
    ngx_table_elt_t              *set_cookie;
    ngx_http_trigger_loc_conf_t  *tlcf;

    tlcf = ctx->conf;

    /* on https the cookie is always Secure */
#if (NGX_HTTP_SSL)
    secure = r->connection->ssl
             && !(tlcf->cookie_flags & NGX_HTTP_TRIGGER_COOKIE_SECURE);
#else
    secure = 0;
#endif

    len = tlcf->cookie_name.len + 1 + NGX_HTTP_TRIGGER_COOKIE_LEN
          + tlcf->cookie_attrs.len
          + (secure ? sizeof("; Secure") - 1 : 0);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    set_cookie = ngx_list_push(&r->headers_out.headers);
    if (set_cookie == NULL) {
        return NGX_ERROR;
    }

    set_cookie->hash = 1;
    ngx_str_set(&set_cookie->key, "Set-Cookie");
    set_cookie->value.data = p;
    set_cookie->value.len = len;
#if (nginx_version >= 1023000)
    set_cookie->next = NULL;
#endif

    p = ngx_cpymem(p, tlcf->cookie_name.data, tlcf->cookie_name.len);
    *p++ = '=';
    p = ngx_cpymem(p, ctx->cookie, NGX_HTTP_TRIGGER_COOKIE_LEN);
    p = ngx_cpymem(p, tlcf->cookie_attrs.data, tlcf->cookie_attrs.len);

    if (secure) {
        ngx_memcpy(p, "; Secure", sizeof("; Secure") - 1);
    }

    ctx->cookie_sent = 1;

    return NGX_OK;
}


/*
 * A response with one visitor's data or cookie is for that visitor's
 * browser only: its Cache-Control headers become one that says "private"
 * first and then what they said, less what let shared caches keep it
 * (public, s-maxage).  The header is not registered in
 * headers_out.cache_control: "expires", which runs after this filter,
 * rewrites the registered one and would drop "private"; its max-age goes
 * out beside it instead.
 */

static ngx_int_t
ngx_http_trigger_private(ngx_http_request_t *r)
{
    u_char           *p, *value;
    ngx_table_elt_t  *cc;

    value = ngx_pnalloc(r->pool, sizeof("private") - 1
                                 + ngx_http_trigger_cache_control(r, NULL));
    if (value == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(value, "private", sizeof("private") - 1);
    p += ngx_http_trigger_cache_control(r, p);

    cc = ngx_list_push(&r->headers_out.headers);
    if (cc == NULL) {
        return NGX_ERROR;
    }

    cc->hash = 1;
    ngx_str_set(&cc->key, "Cache-Control");
    cc->value.data = value;
    cc->value.len = p - value;
#if (nginx_version >= 1023000)
    cc->next = NULL;
#endif

    return NGX_OK;
}


/*
 * With dst NULL, the room the response's Cache-Control values need;
 * else writes them there as ngx_http_trigger_cache_private() does, takes
 * the headers out, and returns the length written.
 */

static size_t
ngx_http_trigger_cache_control(ngx_http_request_t *r, u_char *dst)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = 0;
    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || h[i].key.len != sizeof("Cache-Control") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Cache-Control",
                               sizeof("Cache-Control") - 1) != 0)
        {
            continue;
        }

        if (dst == NULL) {
            len += 2 * h[i].value.len + 2;
            continue;
        }

        len += ngx_http_trigger_cache_private(dst + len, h[i].value.data,
                                              h[i].value.len);
        h[i].hash = 0;
    }

    return len;
}


static ngx_int_t
ngx_http_trigger_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                    n, private;
    ngx_table_elt_t              *ce;
    ngx_http_trigger_ctx_t       *ctx;
    ngx_http_trigger_event_t      events[NGX_HTTP_TRIGGER_EVENTS_MAX];
    ngx_http_trigger_loc_conf_t  *tlcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);
    ctx = ngx_http_trigger_get_ctx(r);

    if (tlcf->enable && !tlcf->api) {
        n = ngx_http_trigger_header_events(r, events);

        if (n && ctx && ctx->identified) {
            (void) ngx_http_trigger_track(r, ctx, events, n, 0, 0);
        }

        /*
         * the page that reports a purchase (an order confirmation) was
         * decided before the purchase was known: it gets no offer, and
         * no reminder of a code the purchase may just have used
         */
        if (ctx && ngx_http_trigger_has_purchase(events, n)) {
            ctx->offer = NGX_HTTP_TRIGGER_OFFER_PURCHASED;
            ctx->reminder = 0;
        }
    }

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    ngx_http_trigger_track_status(r, ctx);

    private = 0;

    if (ctx->new_visitor && !ctx->cookie_sent) {
        if (ngx_http_trigger_set_cookie(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        private = 1;
    }

    ce = r->headers_out.content_encoding;

    /*
     * Only whole, uncompressed pages the widget can be put into; pages
     * of held-out visitors are looked at on the same terms, and counted
     * when they would have got it, so that the two groups compare.
     */
    if ((ctx->offer == NGX_HTTP_TRIGGER_OFFER_ELIGIBLE
         || ctx->offer == NGX_HTTP_TRIGGER_OFFER_HOLDOUT
         || ctx->offer == NGX_HTTP_TRIGGER_OFFER_PREVIEW
         || ctx->reminder)
        && ctx->conf->offer
        && !ctx->armed
        && r->headers_out.status == NGX_HTTP_OK
        && r->method != NGX_HTTP_HEAD
        && !r->header_only
        && r->headers_out.content_length_n != 0
        && r->headers_in.range == NULL
        && (ce == NULL || ce->hash == 0 || ce->value.len == 0)
        && ngx_http_test_content_type(r, &ctx->conf->widget_types) != NULL)
    {
        ctx->armed = 1;
        ctx->scan = 1;
        r->filter_need_in_memory = 1;

        if (ctx->offer != NGX_HTTP_TRIGGER_OFFER_HOLDOUT) {
            ctx->inject = 1;

            ngx_http_clear_content_length(r);
            ngx_http_clear_accept_ranges(r);

            /*
             * no validators: no conditional request may get a 304 for a
             * copy with an old offer in it, or one without the offer
             */
            ngx_http_clear_last_modified(r);
            ngx_http_clear_etag(r);

            private = 1;
        }
    }

    if (private && ngx_http_trigger_private(r) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


/*
 * Buffers go on as they are, with the bootstrap put in before the
 * closing body tag.  The few bytes at the end of a buffer that could
 * start the tag are copied out and kept back, the buffer going on
 * without them, until the next one tells; they go out before the page's
 * last buffer, whatever it is.  A flush does not release them: a browser
 * cannot show half a tag either, and an unbuffered upstream may well
 * split the tag between two reads.
 */

static ngx_int_t
ngx_http_trigger_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                rc;
    ngx_buf_t               *b;
    ngx_chain_t             *cl, *out, **ll;
    ngx_http_trigger_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_trigger_module);

    if (ctx == NULL || !ctx->scan || in == NULL || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    out = NULL;
    ll = &out;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ctx->scan && ngx_buf_in_memory(b)) {
            rc = ngx_http_trigger_body_buf(r, ctx, b, &ll);

        } else if (b->last_buf) {
            rc = ngx_http_trigger_held(r, ctx, &ll, ctx->held, ctx->nheld);
            ctx->nheld = 0;

        } else {
            rc = NGX_OK;
        }

        if (rc != NGX_OK || ngx_http_trigger_link(r, &ll, b) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    *ll = NULL;

    rc = ngx_http_next_body_filter(r, out);

    /* the buffers of held bytes that went out can take more */
    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_trigger_module);

    return rc;
}


/*
 * One buffer of the page while the tag is looked for: what goes before
 * it is linked at **ll; b itself, what is left of it, is linked after.
 */

static ngx_int_t
ngx_http_trigger_body_buf(ngx_http_request_t *r, ngx_http_trigger_ctx_t *ctx,
    ngx_buf_t *b, ngx_chain_t ***ll)
{
    size_t      size, wait, keep, cut;
    ssize_t     at;
    ngx_buf_t  *head, *boot;
    ngx_str_t   html;

    size = b->last - b->pos;

    if (!ngx_http_trigger_html_scan(&ctx->html, b->pos, size, &at)) {

        if (!ctx->inject) {
            return NGX_OK;
        }

        /* what could start the tag waits, unless the page ends here */
        wait = b->last_buf ? 0 : ctx->html.partial;

        /* "keep" of it was held back already, "cut" is at b's end */
        keep = (wait > size) ? wait - size : 0;
        cut = wait - keep;

        if (ngx_http_trigger_held(r, ctx, ll, ctx->held, ctx->nheld - keep)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_memmove(ctx->held, ctx->held + ctx->nheld - keep, keep);
        ngx_memcpy(ctx->held + keep, b->last - cut, cut);
        ctx->nheld = wait;

        b->last -= cut;

        if (b->in_file) {
            b->file_last -= cut;
        }

        return NGX_OK;
    }

    ctx->scan = 0;

    if (!ctx->inject) {
        ngx_http_trigger_stats_incr("offer_holdout", 1);
        return NGX_OK;
    }

    if (ngx_http_trigger_widget_bootstrap(r, ctx, &html) != NGX_OK) {
        return NGX_ERROR;
    }

    boot = ngx_calloc_buf(r->pool);
    if (boot == NULL) {
        return NGX_ERROR;
    }

    boot->pos = html.data;
    boot->last = html.data + html.len;
    boot->memory = 1;

    if (at < 0) {
        /* the tag began in the bytes held back */
        keep = ctx->nheld + at;

        if (ngx_http_trigger_held(r, ctx, ll, ctx->held, keep) != NGX_OK
            || ngx_http_trigger_link(r, ll, boot) != NGX_OK
            || ngx_http_trigger_held(r, ctx, ll, ctx->held + keep,
                                     ctx->nheld - keep)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else {
        if (ngx_http_trigger_held(r, ctx, ll, ctx->held, ctx->nheld)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (at > 0) {
            /*
             * b's start goes in a buffer of its own; b, linked after it,
             * is not done with before that one is sent
             */
            head = ngx_calloc_buf(r->pool);
            if (head == NULL) {
                return NGX_ERROR;
            }

            *head = *b;

            head->last = head->pos + at;
            head->last_buf = 0;
            head->last_in_chain = 0;
            head->flush = 0;
            head->sync = 0;
            head->recycled = 0;
            head->shadow = NULL;

            if (b->in_file) {
                head->file_last = head->file_pos + at;
                b->file_pos += at;
            }

            b->pos += at;

            if (ngx_http_trigger_link(r, ll, head) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (ngx_http_trigger_link(r, ll, boot) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    ctx->nheld = 0;

    /* a preview or a reminder is no offer */
    if (ctx->offer == NGX_HTTP_TRIGGER_OFFER_ELIGIBLE) {
        ngx_http_trigger_stats_incr("offer_injected", 1);
    }

    return NGX_OK;
}


/* n bytes held back, copied into a small buffer of the filter's own */

static ngx_int_t
ngx_http_trigger_held(ngx_http_request_t *r, ngx_http_trigger_ctx_t *ctx,
    ngx_chain_t ***ll, u_char *p, size_t n)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (n == 0) {
        return NGX_OK;
    }

    cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;

    if (b->start == NULL) {
        b->start = ngx_pnalloc(r->pool, NGX_HTTP_TRIGGER_HTML_TAG_LEN);
        if (b->start == NULL) {
            return NGX_ERROR;
        }

        b->end = b->start + NGX_HTTP_TRIGGER_HTML_TAG_LEN;
        b->temporary = 1;
        b->tag = (ngx_buf_tag_t) &ngx_http_trigger_module;
    }

    b->pos = b->start;
    b->last = ngx_cpymem(b->pos, p, n);

    **ll = cl;
    *ll = &cl->next;

    return NGX_OK;
}


/*
 * Links b at **ll; an in-memory buffer left empty goes on as its flags
 * only, or not at all.
 */

static ngx_int_t
ngx_http_trigger_link(ngx_http_request_t *r, ngx_chain_t ***ll, ngx_buf_t *b)
{
    ngx_buf_t    *flags;
    ngx_chain_t  *cl;

    if (ngx_buf_in_memory(b) && b->pos == b->last) {

        if (!b->last_buf && !b->last_in_chain && !b->flush && !b->sync) {
            return NGX_OK;
        }

        flags = ngx_calloc_buf(r->pool);
        if (flags == NULL) {
            return NGX_ERROR;
        }

        flags->last_buf = b->last_buf;
        flags->last_in_chain = b->last_in_chain;
        flags->flush = b->flush;
        flags->sync = b->sync;

        b = flags;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    **ll = cl;
    *ll = &cl->next;

    return NGX_OK;
}
