/*
 * The JSON event endpoint: POST one event or {"events": [...]}, stored
 * with the same single script call as a page view, answered in JSON.
 */


#include "ngx_http_trigger_events.h"
#include "ngx_http_trigger_track.h"


static void ngx_http_trigger_events_body(ngx_http_request_t *r);
static void ngx_http_trigger_events_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
static ngx_int_t ngx_http_trigger_events_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error);
static ngx_int_t ngx_http_trigger_add_header(ngx_http_request_t *r,
    char *key, char *value);


ngx_int_t
ngx_http_trigger_events_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_http_trigger_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_http_trigger_add_header(r, "Allow", "POST") != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_trigger_events_error(r, NGX_HTTP_NOT_ALLOWED,
                                             "method not allowed");
    }

    if (r->headers_in.content_length_n > (off_t) tlcf->endpoint_max_size) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_trigger_events_error(r,
                                             NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                             "body too large");
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_trigger_events_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_trigger_events_body(ngx_http_request_t *r)
{
    size_t                        len;
    u_char                       *body, *p;
    ngx_uint_t                    n;
    ngx_chain_t                  *cl;
    const char                   *err;
    ngx_http_trigger_ctx_t       *ctx;
    ngx_http_trigger_event_t     *events;
    ngx_http_trigger_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);

    if (r->request_body == NULL) {
        ngx_http_finalize_request(r, ngx_http_trigger_events_error(r,
                                  NGX_HTTP_BAD_REQUEST, "empty body"));
        return;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (!ngx_buf_in_memory(cl->buf)) {
            /* spilled to a temporary file: above any sane limit */
            len = tlcf->endpoint_max_size + 1;
            break;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    if (len > tlcf->endpoint_max_size) {
        ngx_http_finalize_request(r, ngx_http_trigger_events_error(r,
                                  NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "body too large"));
        return;
    }

    body = ngx_pnalloc(r->pool, len + 1);
    events = ngx_palloc(r->pool, NGX_HTTP_TRIGGER_EVENTS_MAX
                                 * sizeof(ngx_http_trigger_event_t));
    if (body == NULL || events == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = body;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    err = ngx_http_trigger_events_parse_json(body, len, events,
                                             NGX_HTTP_TRIGGER_EVENTS_MAX, &n);
    if (err) {
        ngx_http_finalize_request(r, ngx_http_trigger_events_error(r,
                                  NGX_HTTP_BAD_REQUEST, err));
        return;
    }

    ctx = ngx_http_trigger_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_trigger_create_ctx(r);
        if (ctx == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ctx->resume = ngx_http_trigger_events_done;

    ngx_http_trigger_identify(r, ctx, tlcf);

    if (ctx->status != NGX_HTTP_TRIGGER_STATUS_PENDING
        || ngx_http_trigger_track(r, ctx, events, n, 0, 1) != NGX_OK)
    {
        ngx_http_trigger_events_done(r, ctx);
    }
}


static void
ngx_http_trigger_events_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    u_char     *p, buf[512];
    ngx_uint_t  status;

    switch (ctx->status) {

    case NGX_HTTP_TRIGGER_STATUS_TRACKED:
        status = NGX_HTTP_OK;
        p = ngx_sprintf(buf, "{\"ok\":true,\"visitor\":{\"visits\":%L,"
                        "\"depth\":%L,\"duration\":%L,\"since_last\":%L,"
                        "\"cart_items\":%L,\"cart_qty\":%L,\"viewed\":%L,"
                        "\"purchases\":%L}}",
                        ctx->state[NGX_HTTP_TRIGGER_VISITS],
                        ctx->state[NGX_HTTP_TRIGGER_DEPTH],
                        ctx->state[NGX_HTTP_TRIGGER_DURATION],
                        ctx->state[NGX_HTTP_TRIGGER_SINCE_LAST],
                        ctx->state[NGX_HTTP_TRIGGER_CART_ITEMS],
                        ctx->state[NGX_HTTP_TRIGGER_CART_QTY],
                        ctx->state[NGX_HTTP_TRIGGER_VIEWED],
                        ctx->state[NGX_HTTP_TRIGGER_PURCHASES]);
        break;

    case NGX_HTTP_TRIGGER_STATUS_BOT:
        status = NGX_HTTP_ACCEPTED;
        p = ngx_sprintf(buf, "{\"ok\":true,\"tracked\":false,"
                        "\"reason\":\"bot\"}");
        break;

    case NGX_HTTP_TRIGGER_STATUS_NO_CONSENT:
        status = NGX_HTTP_ACCEPTED;
        p = ngx_sprintf(buf, "{\"ok\":true,\"tracked\":false,"
                        "\"reason\":\"no_consent\"}");
        break;

    default:
        ngx_http_finalize_request(r, ngx_http_trigger_events_error(r,
                                  NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "storage unavailable"));
        return;
    }

    ngx_http_finalize_request(r,
                   ngx_http_trigger_send_json(r, status, buf, p - buf));
}


static ngx_int_t
ngx_http_trigger_events_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    u_char  *p, buf[256];

    /* the messages are ours: no escaping needed */
    p = ngx_snprintf(buf, sizeof(buf), "{\"ok\":false,\"error\":\"%s\"}",
                     error);

    return ngx_http_trigger_send_json(r, status, buf, p - buf);
}


ngx_int_t
ngx_http_trigger_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, body, len);
    *b->last++ = '\n';
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    /* answers about one visitor: never cache them */
    if (ngx_http_trigger_add_header(r, "Cache-Control", "no-store")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_trigger_add_header(ngx_http_request_t *r, char *key, char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}
