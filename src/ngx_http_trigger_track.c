/*
 * Visitor tracking: identification, the tracking script, suspending the
 * request until Redis answers or the deadline passes, and the header
 * filter that sets the cookie and takes events from upstream headers.
 */


#include "ngx_http_trigger_track.h"


static void ngx_http_trigger_ctx_cleanup(void *data);
static ngx_int_t ngx_http_trigger_cookie_value(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static void ngx_http_trigger_track_reply(void *data, redisReply *reply);
static void ngx_http_trigger_track_deadline(ngx_event_t *ev);
static void ngx_http_trigger_track_wake(ngx_event_t *ev);
static void ngx_http_trigger_track_resume(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
static ngx_uint_t ngx_http_trigger_conf_events(ngx_http_request_t *r,
    ngx_http_trigger_loc_conf_t *tlcf, ngx_http_trigger_event_t *events);
static ngx_uint_t ngx_http_trigger_header_events(ngx_http_request_t *r,
    ngx_http_trigger_event_t *events);
static ngx_int_t ngx_http_trigger_set_cookie(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);


ngx_http_output_header_filter_pt  ngx_http_trigger_next_header_filter;


/*
 * One call per tracked request, atomic for concurrent requests of one
 * visitor.  KEYS: the visitor's hash, its orders.  ARGV: now, visit
 * timeout, ttl, viewed max, cart max, page view (0/1), then per event:
 * code, id, number, promo.  See docs/redis.md for the fields.
 */

ngx_http_trigger_script_t  ngx_http_trigger_track_script = {
    ngx_string(
    "local key, orders = KEYS[1], KEYS[2]\n"
    "local now = tonumber(ARGV[1])\n"
    "local viewed_max, cart_max = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local h = {}\n"
    "local flat = redis.call('HGETALL', key)\n"
    "for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end\n"
    "local visits = tonumber(h.n) or 0\n"
    "local depth = tonumber(h.d) or 0\n"
    "local start = tonumber(h.s) or now\n"
    "local last = tonumber(h.l)\n"
    "local gap = tonumber(h.g) or 0\n"
    "local viewed = h.v or ''\n"
    "local purchases = tonumber(h.p) or 0\n"
    "local revenue = tonumber(h.r) or 0\n"
    "if not last then\n"
    "  visits, depth, start, gap = 1, 0, now, 0\n"
    "elseif now - last > tonumber(ARGV[2]) then\n"
    "  visits, depth, start, gap = visits + 1, 0, now, now - last\n"
    "end\n"
    "depth = depth + tonumber(ARGV[6])\n"
    "local cart, lines = {}, 0\n"
    "for f, q in pairs(h) do\n"
    "  if string.sub(f, 1, 2) == 'c:' then\n"
    "    cart[string.sub(f, 3)] = tonumber(q)\n"
    "    lines = lines + 1\n"
    "  end\n"
    "end\n"
    "local function clear()\n"
    "  for sku, q in pairs(cart) do cart[sku] = false end\n"
    "  lines = 0\n"
    "end\n"
    "for i = 7, #ARGV, 4 do\n"
    "  local t, id, num = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])\n"
    "  if t == 'v' then\n"
    "    local list = {id}\n"
    "    for sku in string.gmatch(viewed, '[^,]+') do\n"
    "      if sku ~= id and #list < viewed_max then list[#list + 1] = sku end\n"
    "    end\n"
    "    viewed = table.concat(list, ',')\n"
    "  elseif t == 'a' then\n"
    "    if cart[id] or lines < cart_max then\n"
    "      if not cart[id] then lines = lines + 1 end\n"
    "      cart[id] = math.min((cart[id] or 0) + num, 999)\n"
    "    end\n"
    "  elseif t == 'r' then\n"
    "    if cart[id] then\n"
    "      local q = 0\n"
    "      if num > 0 then q = cart[id] - num end\n"
    "      if q > 0 then cart[id] = q\n"
    "      else cart[id] = false; lines = lines - 1 end\n"
    "    end\n"
    "  elseif t == 'c' then\n"
    "    clear()\n"
    "  elseif t == 'p' then\n"
    "    local promo = ARGV[i + 3]\n"
    "    if promo == '' then promo = '-' end\n"
    "    if redis.call('HSETNX', orders, id,\n"
    "                  num .. ' ' .. promo .. ' ' .. now) == 1 then\n"
    "      purchases, revenue = purchases + 1, revenue + num\n"
    "      clear()\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local set = {'n', visits, 'd', depth, 's', start, 'l', now, 'g', gap}\n"
    "local del, qty = {}, 0\n"
    "if viewed ~= '' then set[#set + 1] = 'v'; set[#set + 1] = viewed end\n"
    "if purchases > 0 then\n"
    "  set[#set + 1] = 'p'; set[#set + 1] = purchases\n"
    "  set[#set + 1] = 'r'; set[#set + 1] = revenue\n"
    "end\n"
    "for sku, q in pairs(cart) do\n"
    "  if q then\n"
    "    set[#set + 1] = 'c:' .. sku; set[#set + 1] = q\n"
    "    qty = qty + q\n"
    "  else\n"
    "    del[#del + 1] = 'c:' .. sku\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', key, unpack(set))\n"
    "if #del > 0 then redis.call('HDEL', key, unpack(del)) end\n"
    "redis.call('EXPIRE', key, ARGV[3])\n"
    "if purchases > 0 then redis.call('EXPIRE', orders, ARGV[3]) end\n"
    "local nviewed = 0\n"
    "if viewed ~= '' then\n"
    "  nviewed = select(2, string.gsub(viewed, ',', ',')) + 1\n"
    "end\n"
    "return {visits, depth, now - start, gap, lines, qty, nviewed,"
    " purchases}\n"),
    { 0 }
};


ngx_http_trigger_ctx_t *
ngx_http_trigger_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_trigger_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_trigger_module);

    if (ctx || !r->internal) {
        return ctx;
    }

    /* an internal redirect clears module contexts: find ours again */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_trigger_ctx_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_trigger_module);
            return ctx;
        }
    }

    return NULL;
}


ngx_http_trigger_ctx_t *
ngx_http_trigger_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_trigger_ctx_t  *ctx;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_trigger_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_trigger_ctx_t));

    ctx->request = r;

    ctx->deadline.handler = ngx_http_trigger_track_deadline;
    ctx->deadline.data = r->connection;
    ctx->deadline.log = r->connection->log;

    ctx->wake.handler = ngx_http_trigger_track_wake;
    ctx->wake.data = r->connection;
    ctx->wake.log = r->connection->log;

    ctx->resume = ngx_http_trigger_track_resume;

    cln->handler = ngx_http_trigger_ctx_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_trigger_module);

    return ctx;
}


/* the request is going away: nothing may call back into it */

static void
ngx_http_trigger_ctx_cleanup(void *data)
{
    ngx_http_trigger_ctx_t  *ctx = data;

    if (ctx->command) {
        ngx_http_trigger_redis_detach(ctx->command);
        ctx->command = NULL;
    }

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }
}


static ngx_int_t
ngx_http_trigger_cookie_value(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
#if (nginx_version >= 1023000)
    return ngx_http_parse_cookie_lines(r, r->headers_in.cookie, name, value)
           ? NGX_OK : NGX_DECLINED;
#else
    return ngx_http_parse_multi_header_lines(&r->headers_in.cookies, name,
                                             value)
           == NGX_DECLINED ? NGX_DECLINED : NGX_OK;
#endif
}


void
ngx_http_trigger_identify(ngx_http_request_t *r, ngx_http_trigger_ctx_t *ctx,
    ngx_http_trigger_loc_conf_t *tlcf)
{
    ngx_str_t                      value;
    ngx_table_elt_t               *ua;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    ctx->conf = tlcf;

    if (!tlcf->bots_off) {
        ua = r->headers_in.user_agent;

        if (ua == NULL || ua->value.len == 0
            || ngx_regex_exec(tlcf->bots, &ua->value, NULL, 0) >= 0)
        {
            ctx->status = NGX_HTTP_TRIGGER_STATUS_BOT;
            return;
        }
    }

    if (tlcf->consent_name.len
        && (ngx_http_trigger_cookie_value(r, &tlcf->consent_name, &value)
            != NGX_OK
            || value.len != tlcf->consent_value.len
            || ngx_strncmp(value.data, tlcf->consent_value.data, value.len)
               != 0))
    {
        ctx->status = NGX_HTTP_TRIGGER_STATUS_NO_CONSENT;
        return;
    }

    ctx->status = NGX_HTTP_TRIGGER_STATUS_PENDING;

    if (ngx_http_trigger_cookie_value(r, &tlcf->cookie_name, &value) == NGX_OK
        && ngx_http_trigger_cookie_valid(value.data, value.len,
                                         tmcf->secret.data, tmcf->secret.len))
    {
        ngx_memcpy(ctx->cookie, value.data, NGX_HTTP_TRIGGER_COOKIE_LEN);
        ctx->identified = 1;
        return;
    }

    if (ngx_http_trigger_cookie_new(ctx->cookie, tmcf->secret.data,
                                    tmcf->secret.len)
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      "trigger: getrandom() failed");
        ctx->status = NGX_HTTP_TRIGGER_STATUS_ERROR;
        return;
    }

    ctx->identified = 1;
    ctx->new_visitor = 1;
}


ngx_int_t
ngx_http_trigger_track(ngx_http_request_t *r, ngx_http_trigger_ctx_t *ctx,
    ngx_http_trigger_event_t *events, ngx_uint_t nevents,
    ngx_uint_t pageview, ngx_uint_t wait)
{
    size_t                         size, key_len;
    u_char                        *p, key[NGX_HTTP_TRIGGER_VID_LEN + 128];
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_http_trigger_event_t      *ev;
    ngx_http_trigger_redis_cmd_t  *cmd;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    /* key prefixes are limited to 64 bytes at configuration time */
    p = ngx_cpymem(key, tmcf->key_prefix.data, tmcf->key_prefix.len);
    *p++ = '{';
    p = ngx_cpymem(p, ctx->cookie, NGX_HTTP_TRIGGER_VID_LEN);
    *p++ = '}';
    key_len = p - key;
    ngx_memcpy(p, ":o", 2);

    size = 1 + 2 * key_len + 2 + 6 * NGX_INT64_LEN
           + nevents * (1 + NGX_HTTP_TRIGGER_ID_MAX + NGX_INT64_LEN
                        + NGX_HTTP_TRIGGER_PROMO_MAX);

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_track_script,
                                            3 + 6 + 4 * nevents, size);
    if (cmd == NULL) {
        if (wait) {
            ctx->status = NGX_HTTP_TRIGGER_STATUS_ERROR;
        }

        return NGX_DECLINED;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "2", 1);
    ngx_http_trigger_redis_cmd_arg(cmd, key, key_len);
    ngx_http_trigger_redis_cmd_arg(cmd, key, key_len + 2);
    ngx_http_trigger_redis_cmd_arg_int(cmd, ngx_time());
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->visit_timeout);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->ttl);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->viewed_max);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->cart_max);
    ngx_http_trigger_redis_cmd_arg_int(cmd, pageview);

    for (i = 0; i < nevents; i++) {
        ev = &events[i];

        ngx_http_trigger_redis_cmd_arg(cmd,
                          (u_char *) &ngx_http_trigger_event_codes[ev->type],
                          1);
        ngx_http_trigger_redis_cmd_arg(cmd, ev->id, ngx_strlen(ev->id));
        ngx_http_trigger_redis_cmd_arg_int(cmd, ev->num);
        ngx_http_trigger_redis_cmd_arg(cmd, ev->promo,
                                       ngx_strlen(ev->promo));
    }

    if (!wait) {
        /* nobody waits: the reply is only checked for errors */
        rc = ngx_http_trigger_redis_eval(cmd, NULL, NULL);
        return rc == NGX_OK ? NGX_OK : NGX_DECLINED;
    }

    rc = ngx_http_trigger_redis_eval(cmd, ngx_http_trigger_track_reply, ctx);

    if (rc != NGX_OK) {
        ctx->status = NGX_HTTP_TRIGGER_STATUS_UNAVAILABLE;
        return NGX_DECLINED;
    }

    ctx->command = cmd;
    ngx_add_timer(&ctx->deadline, ctx->conf->timeout);

    return NGX_OK;
}


static void
ngx_http_trigger_track_reply(void *data, redisReply *reply)
{
    ngx_uint_t               i;
    ngx_http_trigger_ctx_t  *ctx = data;

    ctx->command = NULL;
    ctx->status = NGX_HTTP_TRIGGER_STATUS_ERROR;

    if (reply && reply->type == REDIS_REPLY_ARRAY
        && reply->elements == NGX_HTTP_TRIGGER_STATE_COUNT)
    {
        for (i = 0; i < NGX_HTTP_TRIGGER_STATE_COUNT; i++) {
            if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
                break;
            }

            ctx->state[i] = reply->element[i]->integer;
        }

        if (i == NGX_HTTP_TRIGGER_STATE_COUNT) {
            ctx->status = NGX_HTTP_TRIGGER_STATUS_TRACKED;
        }
    }

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    /* resume outside hiredis's call stack */
    ngx_post_event(&ctx->wake, &ngx_posted_events);
}


static void
ngx_http_trigger_track_deadline(ngx_event_t *ev)
{
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_trigger_ctx_t  *ctx;

    static time_t            last_log;

    ctx = (ngx_http_trigger_ctx_t *)
              ((u_char *) ev - offsetof(ngx_http_trigger_ctx_t, deadline));
    r = ctx->request;
    c = r->connection;

    if (ctx->command) {
        ngx_http_trigger_redis_detach(ctx->command);
        ctx->command = NULL;
    }

    ctx->status = NGX_HTTP_TRIGGER_STATUS_TIMEOUT;

    if (ngx_http_trigger_log_allowed(&last_log)) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "trigger: redis did not answer within %M ms, "
                      "request goes on untracked", ctx->conf->timeout);
    }

    ctx->resume(r, ctx);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_trigger_track_wake(ngx_event_t *ev)
{
    ngx_connection_t        *c;
    ngx_http_trigger_ctx_t  *ctx;

    ctx = (ngx_http_trigger_ctx_t *)
              ((u_char *) ev - offsetof(ngx_http_trigger_ctx_t, wake));
    c = ctx->request->connection;

    ctx->resume(ctx->request, ctx);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_trigger_track_resume(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


ngx_int_t
ngx_http_trigger_track_handler(ngx_http_request_t *r)
{
    ngx_uint_t                    n;
    ngx_http_trigger_ctx_t       *ctx;
    ngx_http_trigger_event_t      events[NGX_HTTP_TRIGGER_EVENTS_MAX];
    ngx_http_trigger_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);

    if (!tlcf->enable || tlcf->endpoint || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_trigger_get_ctx(r);

    if (ctx) {
        /* woken up too early, or tracked before an internal redirect */
        return ctx->command ? NGX_AGAIN : NGX_DECLINED;
    }

    ctx = ngx_http_trigger_create_ctx(r);
    if (ctx == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_trigger_identify(r, ctx, tlcf);

    if (ctx->status != NGX_HTTP_TRIGGER_STATUS_PENDING) {
        return NGX_DECLINED;
    }

    n = ngx_http_trigger_conf_events(r, tlcf, events);

    if (ngx_http_trigger_track(r, ctx, events, n, tlcf->pageview, 1)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_AGAIN;
}


static ngx_uint_t
ngx_http_trigger_conf_events(ngx_http_request_t *r,
    ngx_http_trigger_loc_conf_t *tlcf, ngx_http_trigger_event_t *events)
{
    ngx_str_t                       id, num, promo;
    ngx_uint_t                      i, n;
    const char                     *err;
    ngx_http_trigger_conf_event_t  *ce;

    n = 0;

    if (tlcf->events) {
        ce = tlcf->events->elts;

        for (i = 0; i < tlcf->events->nelts; i++) {
            ngx_str_null(&num);
            ngx_str_null(&promo);

            if (ngx_http_complex_value(r, ce[i].id, &id) != NGX_OK
                || (ce[i].num
                    && ngx_http_complex_value(r, ce[i].num, &num) != NGX_OK)
                || (ce[i].promo
                    && ngx_http_complex_value(r, ce[i].promo, &promo)
                       != NGX_OK))
            {
                continue;
            }

            if (id.len == 0) {
                continue;
            }

            err = ngx_http_trigger_event_set(&events[n], ce[i].type,
                                             id.data, id.len,
                                             num.data, num.len,
                                             promo.data, promo.len);
            if (err) {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "trigger: event ignored: %s", err);
                continue;
            }

            n++;
        }
    }

    if (tlcf->cart_clear) {
        (void) ngx_http_trigger_event_set(&events[n++],
                                          NGX_HTTP_TRIGGER_EV_CART_CLEAR,
                                          NULL, 0, NULL, 0, NULL, 0);
    }

    return n;
}


static ngx_str_t  ngx_http_trigger_header_names[NGX_HTTP_TRIGGER_EV_COUNT] = {
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

        for (t = 0; t < NGX_HTTP_TRIGGER_EV_COUNT; t++) {
            if (h[i].key.len == ngx_http_trigger_header_names[t].len
                && ngx_strncasecmp(h[i].key.data,
                                   ngx_http_trigger_header_names[t].data,
                                   h[i].key.len) == 0)
            {
                break;
            }
        }

        if (t == NGX_HTTP_TRIGGER_EV_COUNT) {
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
    ngx_table_elt_t              *set_cookie;
    ngx_http_trigger_loc_conf_t  *tlcf;

    tlcf = ctx->conf;

    len = tlcf->cookie_name.len + 1 + NGX_HTTP_TRIGGER_COOKIE_LEN
          + tlcf->cookie_attrs.len;

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
    ngx_memcpy(p, tlcf->cookie_attrs.data, tlcf->cookie_attrs.len);

    ctx->cookie_sent = 1;

    return NGX_OK;
}


ngx_int_t
ngx_http_trigger_track_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                    n;
    ngx_http_trigger_ctx_t       *ctx;
    ngx_http_trigger_event_t      events[NGX_HTTP_TRIGGER_EVENTS_MAX];
    ngx_http_trigger_loc_conf_t  *tlcf;

    if (r != r->main) {
        return ngx_http_trigger_next_header_filter(r);
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);
    ctx = ngx_http_trigger_get_ctx(r);

    if (tlcf->enable && !tlcf->endpoint) {
        n = ngx_http_trigger_header_events(r, events);

        if (n && ctx && ctx->identified) {
            (void) ngx_http_trigger_track(r, ctx, events, n, 0, 0);
        }
    }

    if (ctx && ctx->new_visitor && !ctx->cookie_sent
        && ngx_http_trigger_set_cookie(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_trigger_next_header_filter(r);
}
