/*
 * The module's endpoints under the trigger_api location:
 *
 *     POST events      the page's events: views, cart, purchases, offer
 *     GET  widget.js   the widget, from memory, cacheable
 *     POST subscribe   an email for the offer: a promo code and a chain
 *     POST decline     "no thanks": no offer for the decline pause
 *     POST close       closed (x, Esc, the backdrop): the close pause
 *
 * Every POST answers JSON and stores nothing unless the whole body is
 * valid.
 */


#include "ngx_http_trigger_api.h"
#include "ngx_http_trigger_track.h"
#include "ngx_http_trigger_zone.h"
#include "ngx_http_trigger_widget.h"
#include "ngx_http_trigger_stats.h"
#include "ngx_http_trigger_sender.h"
#include "ngx_http_trigger_html.h"


/* how long an email's record outlives its code, for the chain */
#define NGX_HTTP_TRIGGER_EMAIL_TTL  (180 * 86400)


typedef enum {
    NGX_HTTP_TRIGGER_API_NONE = 0,
    NGX_HTTP_TRIGGER_API_EVENTS,
    NGX_HTTP_TRIGGER_API_WIDGET,
    NGX_HTTP_TRIGGER_API_SUBSCRIBE,
    NGX_HTTP_TRIGGER_API_DECLINE,
    NGX_HTTP_TRIGGER_API_CLOSE,
    NGX_HTTP_TRIGGER_API_CONFIRM,
    NGX_HTTP_TRIGGER_API_UNSUBSCRIBE
} ngx_http_trigger_api_e;


/* the letters' signed links: what each does, and its pages */

typedef struct {
    const char                  *purpose;
    ngx_http_trigger_script_t   *script;
    /* the script's second key, after the address's record */
    const char                  *key;
    const char                  *ask;
    const char                  *button;
    const char                  *done;
} ngx_http_trigger_link_t;


static ngx_http_trigger_link_t  ngx_http_trigger_links[] = {
    { "confirm", &ngx_http_trigger_confirm_script, "queue",
      "Please confirm your address.", "Confirm",
      "Thank you: your address is confirmed, and your promo code is on "
      "its way." },
    { "unsubscribe", &ngx_http_trigger_unsubscribe_script, "suppressed",
      "Unsubscribe from our emails?", "Unsubscribe",
      "You are unsubscribed: you will get no more emails from us." }
};


static ngx_http_trigger_api_e ngx_http_trigger_api_endpoint(
    ngx_http_request_t *r);
static ngx_http_trigger_link_t *ngx_http_trigger_api_link_of(
    ngx_http_trigger_api_e endpoint);
static ngx_int_t ngx_http_trigger_api_widget(ngx_http_request_t *r);
static const char *ngx_http_trigger_api_refused(ngx_http_request_t *r,
    ngx_uint_t *status);
static ngx_table_elt_t *ngx_http_trigger_header_in(ngx_http_request_t *r,
    const char *name, size_t len);
static void ngx_http_trigger_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_trigger_api_events(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, u_char *body, size_t len);
static const char *ngx_http_trigger_api_purchases(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_event_t *events,
    ngx_uint_t n);
static void ngx_http_trigger_api_events_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
static ngx_int_t ngx_http_trigger_api_answer(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, u_char *body, size_t len,
    ngx_http_trigger_api_e endpoint);
static ngx_int_t ngx_http_trigger_api_subscribe(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_answer_t *answer);
static void ngx_http_trigger_subscribe_parse(ngx_http_trigger_ctx_t *ctx,
    void *data);
static void ngx_http_trigger_api_subscribe_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
static void ngx_http_trigger_api_decline_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
static ngx_int_t ngx_http_trigger_api_close(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
static void ngx_http_trigger_close_parse(ngx_http_trigger_ctx_t *ctx,
    void *data);
static void ngx_http_trigger_api_close_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
static ngx_int_t ngx_http_trigger_api_link(ngx_http_request_t *r,
    ngx_http_trigger_link_t *l);
static void ngx_http_trigger_link_parse(ngx_http_trigger_ctx_t *ctx,
    void *data);
static void ngx_http_trigger_api_link_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
static ngx_int_t ngx_http_trigger_api_page(ngx_http_request_t *r,
    ngx_uint_t status, const char *text, const char *button);
static ngx_int_t ngx_http_trigger_add_header(ngx_http_request_t *r,
    char *key, char *value);


/*
 * KEYS: the visitor, the email's record, the new code, the chain queue,
 * the token's use, this address's and the shop's codes in the current
 * limit window, today's counters, the suppressed addresses.  ARGV: now,
 * email, code, code expiry, time zone, language, visitor id,
 * subscriptions per visitor and their period, visitor ttl, email ttl,
 * decline pause, codes per address, per shop, the two windows, token
 * ttl, double opt-in (0/1), counters' ttl, the email's digest, the
 * offer's discount, its A/B variant (or ""), then the chains a
 * subscription starts (a job each; with double opt-in only the
 * confirmation letter's).
 *
 * A token answers once: a retry of the same answer (the widget's, after a
 * timeout) gets the same result, another answer nothing.  A code only
 * for a visitor who may have the offer now.  An address gets one chain:
 * a code for a known address starts none, and the answer does not say
 * whether the address was known: a known address whose code is valid and
 * unused gets that code again (another device of the same shopper; not
 * with double opt-in, where the code is the inbox's only).  The visitor
 * keeps its code ("k") for the reminder, but not before a double opt-in
 * is confirmed.  An unsubscribed address is never
 * mailed again from here (the admin location resubscribes it).
 */

ngx_http_trigger_script_t  ngx_http_trigger_subscribe_script = {
    ngx_string(
    "local v, ek, ck, q, tk = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]\n"
    "local now, doi = tonumber(ARGV[1]), ARGV[18] == '1'\n"
    "local function answer(code, expires)\n"
    "  if doi then return {'confirm'} end\n"
    "  return {'ok', code, expires}\n"
    "end\n"
    "local function count(field)\n"
    "  redis.call('HINCRBY', KEYS[8], field, 1)\n"
    "  redis.call('EXPIRE', KEYS[8], ARGV[19])\n"
    "end\n"
    "local t = redis.call('HMGET', tk, 'email', 'code', 'expires')\n"
    "if t[1] then\n"
    "  if t[1] == ARGV[2] then return answer(t[2], t[3]) end\n"
    "  return {'used'}\n"
    "end\n"
    "local s = redis.call('HMGET', v, 'sn', 'ss', 'p', 'x', 'a')\n"
    "local n, since = tonumber(s[1]) or 0, tonumber(s[2]) or 0\n"
    "if now - since >= tonumber(ARGV[9]) then n, since = 0, now end\n"
    "if n >= tonumber(ARGV[8]) then return {'limited'} end\n"
    "if (tonumber(s[3]) or 0) > 0 or (tonumber(s[5]) or 0) >= now\n"
    "   or now - (tonumber(s[4]) or 0) < tonumber(ARGV[12]) then\n"
    "  return {'ineligible'}\n"
    "end\n"
    "local pre = string.sub(q, 1, #q - 5)\n"
    "if not doi then\n"
    "  local old = redis.call('HGET', ek, 'code')\n"
    "  local c = old and redis.call('HMGET', pre .. 'code:' .. old, 'used',\n"
    "                               'expires')\n"
    "  if c and c[1] == '0' and tonumber(c[2]) >= now then\n"
    "    redis.call('HSET', v, 'sn', n + 1, 'ss', since, 'a', c[2], 'k', old,\n"
    "               'em', ARGV[20])\n"
    "    redis.call('EXPIRE', v, ARGV[10])\n"
    "    redis.call('HSET', tk, 'email', ARGV[2], 'code', old,\n"
    "               'expires', c[2])\n"
    "    redis.call('EXPIRE', tk, ARGV[17])\n"
    "    count('offer_subscribed')\n"
    "    if ARGV[22] ~= '' then count('offer_subscribed:' .. ARGV[22]) end\n"
    "    return answer(old, c[2])\n"
    "  end\n"
    "end\n"
    "if (tonumber(redis.call('GET', KEYS[6])) or 0) >= tonumber(ARGV[13])\n"
    "then count('code_limited'); return {'limited_address'} end\n"
    "if (tonumber(redis.call('GET', KEYS[7])) or 0) >= tonumber(ARGV[14])\n"
    "then count('code_limited'); return {'limited_shop'} end\n"
    "redis.call('INCR', KEYS[6]); redis.call('EXPIRE', KEYS[6], ARGV[15])\n"
    "redis.call('INCR', KEYS[7]); redis.call('EXPIRE', KEYS[7], ARGV[16])\n"
    "redis.call('HSET', v, 'sn', n + 1, 'ss', since, 'a', ARGV[4],\n"
    "           'em', ARGV[20])\n"
    "if not doi then redis.call('HSET', v, 'k', ARGV[3]) end\n"
    "redis.call('EXPIRE', v, ARGV[10])\n"
    "redis.call('HSET', ck, 'email', ARGV[2], 'vid', ARGV[7],\n"
    "           'expires', ARGV[4], 'used', 0, 'created', now,\n"
    "           'variant', ARGV[22])\n"
    "redis.call('EXPIREAT', ck, tonumber(ARGV[4]) + 30 * 86400)\n"
    "redis.call('HSET', tk, 'email', ARGV[2], 'code', ARGV[3],\n"
    "           'expires', ARGV[4])\n"
    "redis.call('EXPIRE', tk, ARGV[17])\n"
    "count('offer_subscribed')\n"
    "if ARGV[22] ~= '' then count('offer_subscribed:' .. ARGV[22]) end\n"
    "if redis.call('EXISTS', ek) == 0\n"
    "   and redis.call('SISMEMBER', KEYS[9], ARGV[20]) == 0 then\n"
    "  redis.call('HSET', ek, 'email', ARGV[2], 'vid', ARGV[7],\n"
    "             'code', ARGV[3], 'code_expires', ARGV[4], 'tz', ARGV[5],\n"
    "             'lang', ARGV[6], 'discount', ARGV[21], 'created', now,\n"
    "             'state', doi and 'unconfirmed' or 'queued')\n"
    "  redis.call('EXPIRE', ek, ARGV[11])\n"
    "  local chains = {'_confirm'}\n"
    "  if not doi then chains = {unpack(ARGV, 23)} end\n"
    "  for _, chain in ipairs(chains) do\n"
    "    local id = ARGV[20] .. ':' .. chain\n"
    "    redis.call('HSET', pre .. 'job:' .. id, 'chain', chain, 'pc', 0,\n"
    "               'variant', -1, 'started', now, 'attempts', 0,\n"
    "               'p0', tonumber(s[3]) or 0)\n"
    "    redis.call('ZADD', q, now, id)\n"
    "  end\n"
    "end\n"
    "return answer(ARGV[3], ARGV[4])\n"),
    { 0 }
};


/*
 * KEYS: the email's record, the chain queue.  ARGV: now, the address's
 * digest, then the chains a subscription starts.  Confirming is
 * idempotent: a second click finds the chains already queued.
 */

ngx_http_trigger_script_t  ngx_http_trigger_confirm_script = {
    ngx_string(
    "local e = redis.call('HMGET', KEYS[1], 'state', 'vid')\n"
    "if not e[1] then return 'unknown' end\n"
    "if e[1] == 'unconfirmed' then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'queued',\n"
    "             'confirmed', ARGV[1])\n"
    "  local pre = string.sub(KEYS[2], 1, #KEYS[2] - 5)\n"
    "  local p0 = tonumber(redis.call('HGET', pre .. '{' .. e[2] .. '}',\n"
    "                                 'p')) or 0\n"
    "  for i = 3, #ARGV do\n"
    "    local id = ARGV[2] .. ':' .. ARGV[i]\n"
    "    redis.call('HSET', pre .. 'job:' .. id, 'chain', ARGV[i], 'pc', 0,\n"
    "               'variant', -1, 'started', ARGV[1], 'attempts', 0,\n"
    "               'p0', p0)\n"
    "    redis.call('ZADD', KEYS[2], ARGV[1], id)\n"
    "  end\n"
    "end\n"
    "return 'ok'\n"),
    { 0 }
};


/*
 * KEYS: the email's record, the suppression set.  ARGV: now, the
 * address's digest.  An address that was never subscribed is suppressed
 * too: it will get nothing if it ever is.
 */

ngx_http_trigger_script_t  ngx_http_trigger_unsubscribe_script = {
    ngx_string(
    "redis.call('SADD', KEYS[2], ARGV[2])\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  redis.call('HSET', KEYS[1], 'unsubscribed', ARGV[1])\n"
    "end\n"
    "return 'ok'\n"),
    { 0 }
};


/*
 * KEYS: the visitor.  ARGV: now.  A visitor whose hash has expired is
 * not made again, without a TTL, by a close.
 */

ngx_http_trigger_script_t  ngx_http_trigger_close_script = {
    ngx_string(
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  redis.call('HSET', KEYS[1], 'y', ARGV[1])\n"
    "end\n"
    "return 'ok'\n"),
    { 0 }
};


ngx_str_t  ngx_http_trigger_json_type = ngx_string("application/json");


ngx_int_t
ngx_http_trigger_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_uint_t               status;
    const char              *err;
    ngx_http_trigger_api_e   endpoint;

    endpoint = ngx_http_trigger_api_endpoint(r);

    if (endpoint == NGX_HTTP_TRIGGER_API_NONE) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_trigger_api_error(r, NGX_HTTP_NOT_FOUND,
                                          "no such endpoint");
    }

    if (endpoint == NGX_HTTP_TRIGGER_API_WIDGET) {
        return ngx_http_trigger_api_widget(r);
    }

    if (endpoint == NGX_HTTP_TRIGGER_API_CONFIRM
        || endpoint == NGX_HTTP_TRIGGER_API_UNSUBSCRIBE)
    {
        return ngx_http_trigger_api_link(r,
                   ngx_http_trigger_api_link_of(endpoint));
    }

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_http_trigger_add_header(r, "Allow", "POST") != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_trigger_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "method not allowed");
    }

    err = ngx_http_trigger_api_refused(r, &status);

    if (err) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_trigger_api_error(r, status, err);
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_trigger_api_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * State changes come from the shop's own pages: JSON (which a form on
 * another site cannot send without a preflight), same-origin when the
 * browser says where it comes from, and within the size limit.
 */

static const char *
ngx_http_trigger_api_refused(ngx_http_request_t *r, ngx_uint_t *status)
{
    u_char                       *p, *end;
    ngx_table_elt_t              *h, *host;
    ngx_http_trigger_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);

    if (r->headers_in.content_length_n > (off_t) tlcf->api_max_size) {
        *status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        return "body too large";
    }

    /*
     * The limit is checked before a byte of the body is read: a chunked
     * body, whose size nobody knows yet, is refused (browsers send the
     * widget's small bodies with a Content-Length).
     */
    if (r->headers_in.chunked) {
        *status = NGX_HTTP_LENGTH_REQUIRED;
        return "length required";
    }

    h = r->headers_in.content_type;

    if (h == NULL
        || h->value.len < sizeof("application/json") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "application/json",
                           sizeof("application/json") - 1) != 0
        || (h->value.len > sizeof("application/json") - 1
            && h->value.data[sizeof("application/json") - 1] != ';'
            && h->value.data[sizeof("application/json") - 1] != ' '))
    {
        *status = NGX_HTTP_UNSUPPORTED_MEDIA_TYPE;
        return "content type must be application/json";
    }

    *status = NGX_HTTP_FORBIDDEN;

    h = ngx_http_trigger_header_in(r, "Sec-Fetch-Site",
                                   sizeof("Sec-Fetch-Site") - 1);

    if (h && !(h->value.len == sizeof("same-origin") - 1
               && ngx_strncasecmp(h->value.data, (u_char *) "same-origin",
                                  h->value.len) == 0))
    {
        return "cross-site request";
    }

    h = ngx_http_trigger_header_in(r, "Origin", sizeof("Origin") - 1);
    host = r->headers_in.host;

    if (h == NULL) {
        return NULL;
    }

    /* "scheme://host[:port]": the host part must be this request's Host */

    p = ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                         (u_char *) "://", sizeof("://") - 2);
    end = h->value.data + h->value.len;

    if (host == NULL || p == NULL
        || (size_t) (end - (p + 3)) != host->value.len
        || ngx_strncasecmp(p + 3, host->value.data, host->value.len) != 0)
    {
        return "cross-site request";
    }

    return NULL;
}


static ngx_table_elt_t *
ngx_http_trigger_header_in(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static ngx_http_trigger_api_e
ngx_http_trigger_api_endpoint(ngx_http_request_t *r)
{
    ngx_str_t                      name;
    ngx_http_core_loc_conf_t      *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* trigger_api is only allowed in prefix locations */
    if (r->uri.len < clcf->name.len) {
        return NGX_HTTP_TRIGGER_API_NONE;
    }

    name.data = r->uri.data + clcf->name.len;
    name.len = r->uri.len - clcf->name.len;

    if (name.len == 6 && ngx_strncmp(name.data, "events", 6) == 0) {
        return NGX_HTTP_TRIGGER_API_EVENTS;
    }

    if (name.len == 9 && ngx_strncmp(name.data, "widget.js", 9) == 0) {
        return NGX_HTTP_TRIGGER_API_WIDGET;
    }

    if (name.len == 9 && ngx_strncmp(name.data, "subscribe", 9) == 0) {
        return NGX_HTTP_TRIGGER_API_SUBSCRIBE;
    }

    if (name.len == 7 && ngx_strncmp(name.data, "decline", 7) == 0) {
        return NGX_HTTP_TRIGGER_API_DECLINE;
    }

    if (name.len == 5 && ngx_strncmp(name.data, "close", 5) == 0) {
        return NGX_HTTP_TRIGGER_API_CLOSE;
    }

    if (name.len == 7 && ngx_strncmp(name.data, "confirm", 7) == 0) {
        return NGX_HTTP_TRIGGER_API_CONFIRM;
    }

    if (name.len == 11 && ngx_strncmp(name.data, "unsubscribe", 11) == 0) {
        return NGX_HTTP_TRIGGER_API_UNSUBSCRIBE;
    }

    return NGX_HTTP_TRIGGER_API_NONE;
}


static ngx_int_t
ngx_http_trigger_api_widget(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    ngx_uint_t         gzip;
    u_char            *tag;
    ngx_str_t         *source;
    ngx_table_elt_t   *ae;
    static ngx_str_t   type = ngx_string("application/javascript");

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the bootstrap's URL names the version: it never changes */
    if (ngx_http_trigger_add_header(r, "Cache-Control",
                                    r->args.len
                                    ? "public, max-age=31536000, immutable"
                                    : "public, max-age=3600")
        != NGX_OK
        || ngx_http_trigger_add_header(r, "Vary", "Accept-Encoding")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* both forms are in memory: nginx's gzip settings play no part */
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    ae = r->headers_in.accept_encoding;
#else
    ae = NULL;
#endif

    gzip = ae && ngx_http_trigger_accepts_gzip(ae->value.data,
                                               ae->value.len);

    if (gzip) {
        r->headers_out.content_encoding = ngx_http_trigger_api_header(r,
                                                "Content-Encoding",
                                                (u_char *) "gzip", 4);
        if (r->headers_out.content_encoding == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    tag = ngx_pnalloc(r->pool, ngx_http_trigger_widget_version.len + 5);
    if (tag == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a strong validator names the bytes: each encoding has its own */
    r->headers_out.etag = ngx_http_trigger_api_header(r, "ETag", tag,
                              ngx_sprintf(tag, "\"%V%s\"",
                                          &ngx_http_trigger_widget_version,
                                          gzip ? ".gz" : "")
                              - tag);
    if (r->headers_out.etag == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    source = gzip ? &ngx_http_trigger_widget_gzip
                  : &ngx_http_trigger_widget_source;

    return ngx_http_trigger_api_send(r, NGX_HTTP_OK, &type, source->data,
                                     source->len);
}


static void
ngx_http_trigger_api_body(ngx_http_request_t *r)
{
    size_t                        len;
    u_char                       *body, *p;
    ngx_int_t                     rc;
    ngx_chain_t                  *cl;
    ngx_http_trigger_ctx_t       *ctx;
    ngx_http_trigger_api_e        endpoint;
    ngx_http_trigger_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        if (cl->buf->in_file) {
            /* cannot happen: the buffer is made to hold the limit */
            len = tlcf->api_max_size + 1;
            break;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    if (len > tlcf->api_max_size) {
        ngx_http_finalize_request(r, ngx_http_trigger_api_error(r,
                                  NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "body too large"));
        return;
    }

    body = ngx_pnalloc(r->pool, len + 1);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = body;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    ctx = ngx_http_trigger_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_trigger_create_ctx(r);
        if (ctx == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    endpoint = ngx_http_trigger_api_endpoint(r);

    if (endpoint == NGX_HTTP_TRIGGER_API_EVENTS) {
        rc = ngx_http_trigger_api_events(r, ctx, body, len);

    } else {
        rc = ngx_http_trigger_api_answer(r, ctx, body, len, endpoint);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


static ngx_int_t
ngx_http_trigger_api_events(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, u_char *body, size_t len)
{
    ngx_uint_t                    n;
    const char                   *err;
    ngx_http_trigger_event_t     *events;
    ngx_http_trigger_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);

    events = ngx_palloc(r->pool, NGX_HTTP_TRIGGER_EVENTS_MAX
                                 * sizeof(ngx_http_trigger_event_t));
    if (events == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    err = ngx_http_trigger_events_parse_json(body, len, events,
                                             NGX_HTTP_TRIGGER_EVENTS_MAX, &n);
    if (err) {
        return ngx_http_trigger_api_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    ctx->events = events;
    ctx->nevents = n;
    ctx->resume = ngx_http_trigger_api_events_done;

    ngx_http_trigger_identify(r, ctx, tlcf);

    err = ngx_http_trigger_api_purchases(r, ctx, events, n);
    if (err) {
        /* a new id must not be handed out on a refused request */
        ctx->new_visitor = 0;
        return ngx_http_trigger_api_error(r, NGX_HTTP_FORBIDDEN, err);
    }

    if (ctx->status == NGX_HTTP_TRIGGER_STATUS_PENDING
        && ngx_http_trigger_track(r, ctx, events, n, 0, 1) == NGX_OK)
    {
        return NGX_DONE;
    }

    ngx_http_trigger_api_events_done(r, ctx);

    return NGX_DONE;
}


/*
 * A purchase, and the promo code it uses, are facts only the shop's
 * server knows: from a browser they count only when the shop signed them
 * with trigger_api_purchase_key.
 */

static const char *
ngx_http_trigger_api_purchases(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_event_t *events,
    ngx_uint_t n)
{
    ngx_uint_t                     i;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    for (i = 0; i < n; i++) {
        if (events[i].type != NGX_HTTP_TRIGGER_EV_PURCHASE) {
            continue;
        }

        if (tmcf->purchase_key.len == 0) {
            return "purchases are taken from the shop's server only";
        }

        if (ctx->status != NGX_HTTP_TRIGGER_STATUS_PENDING
            || !ngx_http_trigger_purchase_valid(events[i].sig,
                                                events[i].sig_len,
                                                tmcf->purchase_key.data,
                                                tmcf->purchase_key.len,
                                                ctx->cookie,
                                                (char *) events[i].id,
                                                events[i].num,
                                                (char *) events[i].promo))
        {
            return "invalid purchase signature";
        }
    }

    return NULL;
}


static void
ngx_http_trigger_api_events_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    u_char                      *p, buf[512];
    ngx_uint_t                   i, status;
    ngx_http_trigger_variant_t  *v;

    switch (ctx->status) {

    case NGX_HTTP_TRIGGER_STATUS_TRACKED:
    case NGX_HTTP_TRIGGER_STATUS_ZONE:

        for (i = 0; i < ctx->nevents; i++) {
            if (ctx->events[i].type == NGX_HTTP_TRIGGER_EV_OFFER_SHOWN) {
                ngx_http_trigger_stats_incr("offer_shown", 1);

                v = ngx_http_trigger_variant_of(ctx->conf, ctx->cookie);

                if (v) {
                    ngx_http_trigger_stats_incr_variant("offer_shown",
                                                        v->name.data,
                                                        v->name.len);
                }

            } else if (ctx->events[i].type
                       == NGX_HTTP_TRIGGER_EV_OFFER_CLOSED)
            {
                ngx_http_trigger_stats_incr("offer_closed", 1);
            }
        }

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
        ngx_http_finalize_request(r, ngx_http_trigger_api_error(r,
                                  NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "storage unavailable"));
        return;
    }

    ngx_http_finalize_request(r, ngx_http_trigger_api_send(r, status,
                              &ngx_http_trigger_json_type, buf, p - buf));
}


/* subscribe, decline, close: only with the token of this visitor's offer */

static ngx_int_t
ngx_http_trigger_api_answer(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, u_char *body, size_t len,
    ngx_http_trigger_api_e endpoint)
{
    const char                    *err;
    ngx_http_trigger_event_t       decline;
    ngx_http_trigger_answer_t     *answer;
    ngx_http_trigger_loc_conf_t   *tlcf;
    ngx_http_trigger_main_conf_t  *tmcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    answer = ngx_palloc(r->pool, sizeof(ngx_http_trigger_answer_t));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    err = ngx_http_trigger_answer_parse_json(body, len,
                              endpoint == NGX_HTTP_TRIGGER_API_SUBSCRIBE,
                              answer);
    if (err) {
        return ngx_http_trigger_api_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    ngx_http_trigger_identify(r, ctx, tlcf);

    if (ctx->status != NGX_HTTP_TRIGGER_STATUS_PENDING || ctx->new_visitor
        || !ngx_http_trigger_token_valid(answer->token, answer->token_len,
                                         tmcf->secret.data, tmcf->secret.len,
                                         "offer", ctx->cookie,
                                         NGX_HTTP_TRIGGER_VID_LEN,
                                         ngx_time()))
    {
        /* a new id must not be handed out on a refused answer */
        ctx->new_visitor = 0;
        return ngx_http_trigger_api_error(r, NGX_HTTP_FORBIDDEN,
                                          "invalid token");
    }

    if (endpoint == NGX_HTTP_TRIGGER_API_SUBSCRIBE) {
        if (tlcf->widget_consent.len && !answer->consent) {
            return ngx_http_trigger_api_error(r, NGX_HTTP_BAD_REQUEST,
                                              "consent required");
        }

        return ngx_http_trigger_api_subscribe(r, ctx, answer);
    }

    if (endpoint == NGX_HTTP_TRIGGER_API_CLOSE) {
        return ngx_http_trigger_api_close(r, ctx);
    }

    (void) ngx_http_trigger_event_set(&decline,
                                      NGX_HTTP_TRIGGER_EV_OFFER_DECLINED,
                                      NULL, 0, NULL, 0, NULL, 0);

    ctx->resume = ngx_http_trigger_api_decline_done;

    if (ngx_http_trigger_track(r, ctx, &decline, 1, 0, 1) != NGX_OK) {
        ngx_http_trigger_api_decline_done(r, ctx);
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_trigger_api_subscribe(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_answer_t *answer)
{
    u_char                        *p, *keys, *k[9], *dot, *end;
    u_char                         code[NGX_HTTP_TRIGGER_CODE_LEN];
    u_char                         digest[40];
    size_t                         len[9], names;
    ngx_uint_t                     nchains;
    time_t                         now, expires, token_expires;
    ngx_str_t                     *prefix, *addr, *discount, variant;
    ngx_http_trigger_variant_t    *v;
    ngx_uint_t                     i;
    ngx_http_trigger_redis_cmd_t  *cmd;
    ngx_http_trigger_loc_conf_t   *tlcf;
    ngx_http_trigger_main_conf_t  *tmcf;

    tlcf = ctx->conf;
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);
    prefix = &tmcf->key_prefix;
    addr = &r->connection->addr_text;

    if (ngx_http_trigger_code_new(code) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_time();
    expires = now + tmcf->code_ttl;

    /* a valid token: "<expiry>.<mac>" */
    end = answer->token + answer->token_len;
    dot = ngx_strlchr(answer->token, end, '.');
    token_expires = ngx_atotm(answer->token, dot - answer->token);

    ngx_http_trigger_sha1_hex(digest, answer->email, answer->email_len);

    keys = ngx_pnalloc(r->pool, 9 * (64 + 64) + addr->len
                                + NGX_HTTP_TRIGGER_TOKEN_MAX);
    if (keys == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = keys;

    k[0] = p;
    p += ngx_http_trigger_visitor_key(r, ctx, p);
    k[1] = p;
    p = ngx_sprintf(p, "%Vemail:%*s", prefix, (size_t) 40, digest);
    k[2] = p;
    p = ngx_sprintf(p, "%Vcode:%*s", prefix,
                    (size_t) NGX_HTTP_TRIGGER_CODE_LEN, code);
    k[3] = p;
    p = ngx_sprintf(p, "%Vqueue", prefix);
    k[4] = p;
    /* a token is known by its mac, the part after the dot */
    p = ngx_sprintf(p, "%Vtoken:%*s", prefix, (size_t) (end - dot - 1),
                    dot + 1);
    k[5] = p;
    p = ngx_sprintf(p, "%Vlimit:%V:%T", prefix, addr,
                    now / tmcf->subscribe_limit_ip.period);
    k[6] = p;
    p = ngx_sprintf(p, "%Vlimit:shop:%T", prefix,
                    now / tmcf->subscribe_limit_shop.period);
    k[7] = p;
    p += ngx_http_trigger_stats_key(p);

    k[8] = p;
    p = ngx_sprintf(p, "%Vsuppressed", prefix);

    for (i = 0; i < 8; i++) {
        len[i] = k[i + 1] - k[i];
    }

    len[8] = p - k[8];

    names = ngx_http_trigger_redis_strs_size(tmcf->sender.on_subscribe,
                                             &nchains);

    /* the visitor's variant here is the one its page showed, when both
     * locations have the same variants (docs: trigger_offer_variant) */
    v = ngx_http_trigger_variant_of(tlcf, ctx->cookie);
    discount = (v && v->discount.len) ? &v->discount : &tlcf->discount;
    ngx_str_null(&variant);

    if (v) {
        variant = v->name;
    }

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_subscribe_script,
                    1 + 9 + 22 + nchains,
                    1 + (p - keys) + answer->email_len + answer->tz_len + 40
                    + discount->len + variant.len + names
                    + NGX_HTTP_TRIGGER_CODE_LEN + tlcf->widget_lang.len
                    + NGX_HTTP_TRIGGER_VID_LEN + 15 * NGX_INT64_LEN);
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "9", 1);

    for (i = 0; i < 9; i++) {
        ngx_http_trigger_redis_cmd_arg(cmd, k[i], len[i]);
    }

    ngx_http_trigger_redis_cmd_arg_int(cmd, now);
    ngx_http_trigger_redis_cmd_arg(cmd, answer->email, answer->email_len);
    ngx_http_trigger_redis_cmd_arg(cmd, code, NGX_HTTP_TRIGGER_CODE_LEN);
    ngx_http_trigger_redis_cmd_arg_int(cmd, expires);
    ngx_http_trigger_redis_cmd_arg(cmd, answer->tz, answer->tz_len);
    ngx_http_trigger_redis_cmd_arg(cmd, tlcf->widget_lang.data,
                                   tlcf->widget_lang.len);
    ngx_http_trigger_redis_cmd_arg(cmd, ctx->cookie,
                                   NGX_HTTP_TRIGGER_VID_LEN);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->subscribe_limit.count);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->subscribe_limit.period);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->ttl);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->code_ttl
                                            + NGX_HTTP_TRIGGER_EMAIL_TTL);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tlcf->decline_pause);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->subscribe_limit_ip.count);
    ngx_http_trigger_redis_cmd_arg_int(cmd,
                                       tmcf->subscribe_limit_shop.count);
    ngx_http_trigger_redis_cmd_arg_int(cmd,
                                       tmcf->subscribe_limit_ip.period);
    ngx_http_trigger_redis_cmd_arg_int(cmd,
                                       tmcf->subscribe_limit_shop.period);
    ngx_http_trigger_redis_cmd_arg_int(cmd,
                                       ngx_max(token_expires - now, 1));
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->double_opt_in);
    ngx_http_trigger_redis_cmd_arg_int(cmd, NGX_HTTP_TRIGGER_STATS_TTL);
    ngx_http_trigger_redis_cmd_arg(cmd, digest, 40);
    ngx_http_trigger_redis_cmd_arg(cmd, discount->data, discount->len);
    ngx_http_trigger_redis_cmd_arg(cmd, variant.data, variant.len);
    ngx_http_trigger_redis_cmd_strs(cmd, tmcf->sender.on_subscribe);

    ctx->resume = ngx_http_trigger_api_subscribe_done;

    if (ngx_http_trigger_wait(r, ctx, cmd, ngx_http_trigger_subscribe_parse)
        != NGX_OK)
    {
        ngx_http_trigger_api_subscribe_done(r, ctx);
    }

    return NGX_DONE;
}


static void
ngx_http_trigger_subscribe_parse(ngx_http_trigger_ctx_t *ctx, void *data)
{
    redisReply                    *reply, *e;
    ngx_pool_t                    *pool;
    ngx_http_trigger_main_conf_t  *tmcf;

    reply = data;
    pool = ctx->request->pool;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    e = reply->element[0];

    ctx->answer.data = ngx_pnalloc(pool, e->len);
    if (ctx->answer.data == NULL) {
        return;
    }

    ngx_memcpy(ctx->answer.data, e->str, e->len);
    ctx->answer.len = e->len;

    if (reply->elements == 3) {
        e = reply->element[1];

        if (e->type != REDIS_REPLY_STRING
            || e->len != NGX_HTTP_TRIGGER_CODE_LEN
            || reply->element[2]->type != REDIS_REPLY_STRING)
        {
            return;
        }

        ctx->code.data = ngx_pnalloc(pool, e->len);
        if (ctx->code.data == NULL) {
            return;
        }

        ngx_memcpy(ctx->code.data, e->str, e->len);
        ctx->code.len = e->len;
        ctx->code_expires = ngx_atotm((u_char *) reply->element[2]->str,
                                      reply->element[2]->len);
        tmcf = ngx_http_get_module_main_conf(ctx->request,
                                             ngx_http_trigger_module);

        /* the script keeps the code as the visitor's without double opt-in */
        ngx_http_trigger_zone_set(ctx, NGX_HTTP_TRIGGER_VS_ACTIVE,
                                  ctx->code_expires,
                                  tmcf->double_opt_in ? NULL : &ctx->code);
    }

    ctx->status = NGX_HTTP_TRIGGER_STATUS_TRACKED;
}


static void
ngx_http_trigger_api_subscribe_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    u_char      *p, buf[256];
    ngx_str_t   *a;
    ngx_uint_t   status, shop;
    const char  *err;

    static time_t  last_log[2];

    a = &ctx->answer;
    status = NGX_HTTP_OK;
    err = NULL;

    if (ctx->status != NGX_HTTP_TRIGGER_STATUS_TRACKED) {
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        err = "storage unavailable";

    } else if (a->len == 4 && ngx_strncmp(a->data, "used", 4) == 0) {
        status = NGX_HTTP_FORBIDDEN;
        err = "token already used";

    } else if (a->len == 10 && ngx_strncmp(a->data, "ineligible", 10) == 0) {
        status = NGX_HTTP_FORBIDDEN;
        err = "offer not available";

    } else if (a->len >= 7 && ngx_strncmp(a->data, "limited", 7) == 0) {
        status = NGX_HTTP_TOO_MANY_REQUESTS;
        err = "too many requests";

        /* "limited_address" or "limited_shop": each logged on its own */
        shop = (a->len > 8 && a->data[8] == 's');

        if (a->len > 7 && ngx_http_trigger_log_allowed(&last_log[shop])) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "trigger: promo code refused, limit per %s "
                          "reached (trigger_subscribe_limit_%s)",
                          shop ? "shop" : "address", shop ? "shop" : "ip");
        }
    }

    if (err) {
        ngx_http_finalize_request(r, ngx_http_trigger_api_error(r, status,
                                                                 err));
        return;
    }

    /* a new address's jobs are due now: this worker's sender sees them */
    ngx_http_trigger_sender_wake();

    if (ctx->code.len) {
        p = ngx_sprintf(buf, "{\"ok\":true,\"code\":\"%V\","
                        "\"expires_at\":%T}", &ctx->code, ctx->code_expires);

    } else {
        /* double opt-in: the code goes out by email, once confirmed */
        p = ngx_sprintf(buf, "{\"ok\":true,\"confirm\":true}");
    }

    ngx_http_finalize_request(r, ngx_http_trigger_api_send(r, NGX_HTTP_OK,
                              &ngx_http_trigger_json_type, buf, p - buf));
}


static void
ngx_http_trigger_api_decline_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    if (ctx->status != NGX_HTTP_TRIGGER_STATUS_TRACKED) {
        ngx_http_finalize_request(r, ngx_http_trigger_api_error(r,
                                  NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "storage unavailable"));
        return;
    }

    ngx_http_trigger_stats_incr("offer_declined", 1);

    ngx_http_finalize_request(r, ngx_http_trigger_api_send(r, NGX_HTTP_OK,
                              &ngx_http_trigger_json_type,
                              (u_char *) "{\"ok\":true}",
                              sizeof("{\"ok\":true}") - 1));
}


/* the offer closed: it pauses for trigger_offer_close_pause */

static ngx_int_t
ngx_http_trigger_api_close(ngx_http_request_t *r, ngx_http_trigger_ctx_t *ctx)
{
    u_char                         key[NGX_HTTP_TRIGGER_KEY_MAX];
    size_t                         key_len;
    ngx_http_trigger_redis_cmd_t  *cmd;

    key_len = ngx_http_trigger_visitor_key(r, ctx, key);

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_close_script,
                                            3, 1 + key_len + NGX_INT64_LEN);
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "1", 1);
    ngx_http_trigger_redis_cmd_arg(cmd, key, key_len);
    ngx_http_trigger_redis_cmd_arg_int(cmd, ngx_time());

    ctx->resume = ngx_http_trigger_api_close_done;

    if (ngx_http_trigger_wait(r, ctx, cmd, ngx_http_trigger_close_parse)
        != NGX_OK)
    {
        ngx_http_trigger_api_close_done(r, ctx);
    }

    return NGX_DONE;
}


static void
ngx_http_trigger_close_parse(ngx_http_trigger_ctx_t *ctx, void *data)
{
    redisReply  *reply = data;

    if (reply->type == REDIS_REPLY_STATUS
        || reply->type == REDIS_REPLY_STRING)
    {
        ctx->status = NGX_HTTP_TRIGGER_STATUS_TRACKED;
        ngx_http_trigger_zone_set(ctx, NGX_HTTP_TRIGGER_VS_CLOSED, ngx_time(),
                                  NULL);
    }
}


static void
ngx_http_trigger_api_close_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->status != NGX_HTTP_TRIGGER_STATUS_TRACKED) {
        ngx_http_finalize_request(r, ngx_http_trigger_api_error(r,
                                  NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "storage unavailable"));
        return;
    }

    ngx_http_trigger_stats_incr("offer_closed", 1);

    if (ngx_http_trigger_add_header(r, "Cache-Control", "no-store")
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->header_only = 1;
    ngx_http_clear_content_length(r);

    rc = ngx_http_send_header(r);

    ngx_http_finalize_request(r, rc == NGX_ERROR ? rc : NGX_OK);
}


/*
 * The signed links of the letters, {api}<name>?e=<sha1 of the address>&
 * t=<token>: "confirm" (double opt-in) and "unsubscribe".  GET shows a
 * button, so that a mail scanner that follows links changes nothing; its
 * POST acts, as does a mail client's one-click POST (RFC 8058: no cookie,
 * 200, no redirect).  The signed link is the authority here, not the
 * origin: no cookie, no JSON needed.
 */

/* the link of a confirm or unsubscribe endpoint */

static ngx_http_trigger_link_t *
ngx_http_trigger_api_link_of(ngx_http_trigger_api_e endpoint)
{
    return &ngx_http_trigger_links[
               endpoint == NGX_HTTP_TRIGGER_API_CONFIRM ? 0 : 1];
}


static ngx_int_t
ngx_http_trigger_api_link(ngx_http_request_t *r, ngx_http_trigger_link_t *l)
{
    u_char                        *p, key[64 + 16 + 40];
    size_t                         names;
    ngx_int_t                      rc;
    ngx_str_t                      digest, token;
    ngx_uint_t                     i, nchains;
    ngx_array_t                   *chains;
    ngx_http_trigger_ctx_t        *ctx;
    ngx_http_trigger_redis_cmd_t  *cmd;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_arg(r, (u_char *) "e", 1, &digest) != NGX_OK
        || ngx_http_arg(r, (u_char *) "t", 1, &token) != NGX_OK
        || digest.len != 40)
    {
        return ngx_http_trigger_api_page(r, NGX_HTTP_BAD_REQUEST,
                                         "This link is incomplete.", NULL);
    }

    for (i = 0; i < digest.len; i++) {
        if (!((digest.data[i] >= '0' && digest.data[i] <= '9')
              || (digest.data[i] >= 'a' && digest.data[i] <= 'f')))
        {
            return ngx_http_trigger_api_page(r, NGX_HTTP_BAD_REQUEST,
                                             "This link is incomplete.",
                                             NULL);
        }
    }

    if (!ngx_http_trigger_token_valid(token.data, token.len,
                                      tmcf->secret.data, tmcf->secret.len,
                                      l->purpose, digest.data, digest.len,
                                      ngx_time()))
    {
        return ngx_http_trigger_api_page(r, NGX_HTTP_FORBIDDEN,
                                         "This link is not valid or has "
                                         "expired.", NULL);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_trigger_api_page(r, NGX_HTTP_OK, l->ask, l->button);
    }

    ctx = ngx_http_trigger_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->conf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);
    ctx->resume = ngx_http_trigger_api_link_done;

    p = ngx_sprintf(key, "%Vemail:%V", &tmcf->key_prefix, &digest);

    /* a confirmed address's chains begin */
    chains = (l->script == &ngx_http_trigger_confirm_script)
             ? tmcf->sender.on_subscribe : NULL;
    names = ngx_http_trigger_redis_strs_size(chains, &nchains);

    cmd = ngx_http_trigger_redis_cmd_create(l->script, 5 + nchains,
                                            1 + 2 * sizeof(key)
                                            + NGX_INT64_LEN + 40 + names);
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "2", 1);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);
    p = ngx_sprintf(key, "%V%s", &tmcf->key_prefix, l->key);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);
    ngx_http_trigger_redis_cmd_arg_int(cmd, ngx_time());
    ngx_http_trigger_redis_cmd_arg(cmd, digest.data, digest.len);
    ngx_http_trigger_redis_cmd_strs(cmd, chains);

    return ngx_http_trigger_wait_content(r, ctx, cmd,
                                         ngx_http_trigger_link_parse);
}


static void
ngx_http_trigger_link_parse(ngx_http_trigger_ctx_t *ctx, void *data)
{
    redisReply  *reply = data;

    if (reply->type == REDIS_REPLY_STATUS
        || reply->type == REDIS_REPLY_STRING)
    {
        /* "ok" or "unknown": the first letter tells them apart */
        ctx->answer.data = (u_char *) (reply->str[0] == 'o' ? "ok" : "");
        ctx->answer.len = ngx_strlen(ctx->answer.data);
        ctx->status = NGX_HTTP_TRIGGER_STATUS_TRACKED;
    }
}


static void
ngx_http_trigger_api_link_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_http_trigger_link_t  *l;

    l = ngx_http_trigger_api_link_of(ngx_http_trigger_api_endpoint(r));

    if (ctx->status != NGX_HTTP_TRIGGER_STATUS_TRACKED) {
        rc = ngx_http_trigger_api_page(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "Please try again in a minute.",
                                       l->button);

    } else if (ctx->answer.len == 0) {
        rc = ngx_http_trigger_api_page(r, NGX_HTTP_NOT_FOUND,
                                       "This link has expired.", NULL);

    } else {
        rc = ngx_http_trigger_api_page(r, NGX_HTTP_OK, l->done, NULL);
    }

    ngx_http_finalize_request(r, rc);
}


/* a small page for people, not scripts; nothing in it comes from them */

static ngx_int_t
ngx_http_trigger_api_page(ngx_http_request_t *r, ngx_uint_t status,
    const char *text, const char *button)
{
    u_char           *p, *end;
    size_t            len;
    static ngx_str_t  type = ngx_string("text/html; charset=utf-8");

    static const char  head[] =
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\">"
        "<meta name=\"robots\" content=\"noindex\">"
        "<title>Confirmation</title></head>"
        "<body style=\"font:18px/1.5 system-ui,sans-serif;max-width:32em;"
        "margin:3em auto;padding:0 1em\"><p>";
    static const char  form[] =
        "<form method=\"post\"><button type=\"submit\" "
        "style=\"font:inherit;padding:.5em 1.5em\">";
    static const char  form_end[] = "</button></form>";
    static const char  tail[] = "</body></html>\n";

    len = sizeof(head) - 1 + ngx_strlen(text) + sizeof("</p>") - 1
          + sizeof(form) - 1 + (button ? ngx_strlen(button) : 0)
          + sizeof(form_end) - 1 + sizeof(tail) - 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    end = ngx_cpymem(p, head, sizeof(head) - 1);
    end = ngx_cpymem(end, text, ngx_strlen(text));
    end = ngx_cpymem(end, "</p>", sizeof("</p>") - 1);

    if (button) {
        end = ngx_cpymem(end, form, sizeof(form) - 1);
        end = ngx_cpymem(end, button, ngx_strlen(button));
        end = ngx_cpymem(end, form_end, sizeof(form_end) - 1);
    }

    end = ngx_cpymem(end, tail, sizeof(tail) - 1);

    /* the link's token must not leak to where the page links */
    if (ngx_http_trigger_add_header(r, "Referrer-Policy", "no-referrer")
        != NGX_OK
        || ngx_http_trigger_add_header(r, "Cache-Control", "no-store")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_trigger_api_send(r, status, &type, p, end - p);
}


ngx_int_t
ngx_http_trigger_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    u_char  *p, buf[256];

    /* the messages are ours: no escaping needed */
    p = ngx_snprintf(buf, sizeof(buf), "{\"ok\":false,\"error\":\"%s\"}",
                     error);

    return ngx_http_trigger_api_send(r, status, &ngx_http_trigger_json_type,
                                 buf, p - buf);
}


ngx_int_t
ngx_http_trigger_api_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_trigger_add_header(r, "X-Content-Type-Options", "nosniff")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (type == &ngx_http_trigger_json_type) {
        /* answers about one visitor: never cached, ended by a newline */
        if (ngx_http_trigger_add_header(r, "Cache-Control", "no-store")
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->start = ngx_pnalloc(r->pool, len + 1);
        if (b->start == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->pos = b->start;
        b->last = ngx_cpymem(b->start, body, len);
        *b->last++ = '\n';
        b->end = b->last;
        b->temporary = 1;

    } else {
        b->pos = body;
        b->last = body + len;
        b->memory = 1;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

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
    return ngx_http_trigger_api_header(r, key, (u_char *) value,
                                       ngx_strlen(value))
           ? NGX_OK : NGX_ERROR;
}


/* a response header of the module's own, its memory the caller's */

ngx_table_elt_t *
ngx_http_trigger_api_header(ngx_http_request_t *r, const char *key,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}
