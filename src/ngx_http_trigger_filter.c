/*
 * Response filters: the visitor cookie, the shop's event headers, and
 * the widget's bootstrap inserted before </body>.
 */


#include "ngx_http_trigger_filter.h"
#include "ngx_http_trigger_track.h"
#include "ngx_http_trigger_widget.h"
#include "ngx_http_trigger_stats.h"
#include "ngx_http_trigger_html.h"


static ngx_uint_t ngx_http_trigger_header_events(ngx_http_request_t *r,
    ngx_http_trigger_event_t *events);
static ngx_int_t ngx_http_trigger_set_cookie(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
static ngx_int_t ngx_http_trigger_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_trigger_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_trigger_emit(ngx_http_request_t *r,
    ngx_chain_t ***ll, u_char *data, size_t len, ngx_buf_t *flags);


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


static ngx_int_t
ngx_http_trigger_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                    n;
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
    }

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    ngx_http_trigger_track_status(r, ctx);

    if (ctx->new_visitor && !ctx->cookie_sent
        && ngx_http_trigger_set_cookie(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ce = r->headers_out.content_encoding;

    /*
     * Only whole, uncompressed pages the widget can be put into; pages
     * of held-out visitors are counted on the same terms, so that the
     * two groups compare.
     */
    if ((ctx->offer == NGX_HTTP_TRIGGER_OFFER_ELIGIBLE
         || ctx->offer == NGX_HTTP_TRIGGER_OFFER_HOLDOUT)
        && ctx->conf->offer
        && !ctx->inject && !ctx->counted
        && r->headers_out.status == NGX_HTTP_OK
        && r->method != NGX_HTTP_HEAD
        && !r->header_only
        && r->headers_out.content_length_n != 0
        && r->headers_in.range == NULL
        && (ce == NULL || ce->hash == 0 || ce->value.len == 0)
        && ngx_http_test_content_type(r, &ctx->conf->widget_types) != NULL)
    {
        ctx->counted = 1;

        if (ctx->offer == NGX_HTTP_TRIGGER_OFFER_HOLDOUT) {
            ngx_http_trigger_stats_incr("offer_holdout", 1);
            return ngx_http_next_header_filter(r);
        }

        ngx_http_trigger_stats_incr("offer_injected", 1);

        ctx->inject = 1;
        ctx->matched = 0;

        ngx_http_clear_content_length(r);
        ngx_http_clear_accept_ranges(r);
        ngx_http_weak_etag(r);

        r->filter_need_in_memory = 1;
    }

    return ngx_http_next_header_filter(r);
}


/*
 * Passes buffers on untouched, except the one where "</body>" is: it is
 * copied around the bootstrap.  A buffer that ends with the start of
 * the tag keeps those bytes back until the next one tells.
 */

static ngx_int_t
ngx_http_trigger_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                   size, held, end;
    ssize_t                  start;
    ngx_buf_t               *b;
    ngx_str_t                html;
    ngx_chain_t             *cl, *out, **ll;
    ngx_http_trigger_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_trigger_module);

    if (ctx == NULL || !ctx->inject || in == NULL || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    out = NULL;
    ll = &out;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ctx->inject || !ngx_buf_in_memory(b)) {
            *ll = ngx_alloc_chain_link(r->pool);
            if (*ll == NULL) {
                return NGX_ERROR;
            }

            (*ll)->buf = b;
            ll = &(*ll)->next;
            continue;
        }

        size = b->last - b->pos;
        held = ctx->matched;

        if (ngx_http_trigger_body_tag(b->pos, size, &ctx->matched, &end)) {
            ctx->inject = 0;
            start = (ssize_t) end - (ssize_t) NGX_HTTP_TRIGGER_BODY_TAG_LEN;

            if (ngx_http_trigger_widget_bootstrap(r, ctx, &html) != NGX_OK) {
                return NGX_ERROR;
            }

            if (start >= 0) {
                if (ngx_http_trigger_emit(r, &ll, ctx->held, held, NULL)
                    != NGX_OK
                    || ngx_http_trigger_emit(r, &ll, b->pos, start, NULL)
                       != NGX_OK)
                {
                    return NGX_ERROR;
                }

                b->pos += start;
                held = 0;
            }

            if (ngx_http_trigger_emit(r, &ll, html.data, html.len, NULL)
                != NGX_OK
                || ngx_http_trigger_emit(r, &ll, ctx->held, held, NULL)
                   != NGX_OK
                || ngx_http_trigger_emit(r, &ll, b->pos, b->last - b->pos, b)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            b->pos = b->last;
            continue;
        }

        if (ctx->matched > size) {
            /* the tag's start goes on: keep the whole buffer back */
            ngx_memcpy(ctx->held + held, b->pos, size);
            b->pos = b->last;

        } else {
            if (ngx_http_trigger_emit(r, &ll, ctx->held, held, NULL)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            ngx_memcpy(ctx->held, b->last - ctx->matched, ctx->matched);

            if (ctx->matched) {
                if (ngx_http_trigger_emit(r, &ll, b->pos,
                                          size - ctx->matched, NULL)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                b->pos = b->last;
            }
        }

        if (b->last_buf && ctx->matched) {
            /* the page ended on the start of a tag: it was none */
            if (ngx_http_trigger_emit(r, &ll, ctx->held, ctx->matched, NULL)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            ctx->matched = 0;
        }

        if (b->pos == b->last) {
            /* copied out: only its flags go on */
            if (ngx_http_trigger_emit(r, &ll, NULL, 0, b) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        *ll = ngx_alloc_chain_link(r->pool);
        if (*ll == NULL) {
            return NGX_ERROR;
        }

        (*ll)->buf = b;
        ll = &(*ll)->next;
    }

    *ll = NULL;

    return ngx_http_next_body_filter(r, out);
}


/* a copy of data in a buffer of its own, linked at **ll */

static ngx_int_t
ngx_http_trigger_emit(ngx_http_request_t *r, ngx_chain_t ***ll, u_char *data,
    size_t len, ngx_buf_t *flags)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (len) {
        b = ngx_create_temp_buf(r->pool, len);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->last = ngx_cpymem(b->pos, data, len);

    } else if (flags && (flags->last_buf || flags->flush || flags->sync)) {
        /* a special buffer: no memory, only what it signals */
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

    } else {
        return NGX_OK;
    }

    if (flags) {
        b->last_buf = flags->last_buf;
        b->last_in_chain = flags->last_in_chain;
        b->flush = flags->flush;
        b->sync = flags->sync;
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
