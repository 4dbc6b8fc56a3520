/*
 * Visitor tracking: identification, the tracking script, suspending the
 * request until Redis answers or the deadline passes, and the header
 * filter that sets the cookie and takes events from upstream headers.
 */


#include "ngx_http_trigger_track.h"
#include "ngx_http_trigger_decision.h"
#include "ngx_http_trigger_stats.h"
#include "ngx_http_trigger_zone.h"


static void ngx_http_trigger_ctx_cleanup(void *data);
static void ngx_http_trigger_reply(void *data, redisReply *reply);
static void ngx_http_trigger_track_parse(ngx_http_trigger_ctx_t *ctx,
    void *data);
static ngx_int_t ngx_http_trigger_track_state(redisReply *reply,
    int64_t *state);
static void ngx_http_trigger_track_sent(void *data, redisReply *reply);
static void ngx_http_trigger_deadline(ngx_event_t *ev);
static void ngx_http_trigger_wake(ngx_event_t *ev);
static void ngx_http_trigger_track_resume(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
static ngx_uint_t ngx_http_trigger_conf_events(ngx_http_request_t *r,
    ngx_http_trigger_loc_conf_t *tlcf, ngx_http_trigger_event_t *events);


/*
 * A visitor's changes applied in Redis, shared by the tracking script and
 * the zone's batch (ngx_http_trigger_zone.c), so that both leave Redis
 * in the same state: load() reads the visitor's hash once, apply() runs
 * one request's changes (a page view and its events) on it in memory,
 * store() writes only the fields that changed, the version "w" (one more
 * per request applied: the zone's batch writes a visitor's fields itself
 * only while the hash is at the version it expects) and the TTL, result()
 * is the state the variables and the offer decision need.  Orders, codes
 * and a known contact's history are written by apply() as it goes.  The
 * TTL is refreshed at most once in min(1 hour, ttl / 10): each
 * redis.call() costs microseconds of Redis's single thread.  A known
 * contact (the visitor who subscribed, field "em") has its events
 * appended to its history and is put up for the sender's trigger check.
 * See docs/redis.md.
 */

const char  ngx_http_trigger_track_lua[] =
    "local P, none = {}, {}\n"
    "local function happened(st, now, t, depth, duration, away, action)\n"
    "  if st.em then\n"
    "    st.hist[#st.hist + 1] = t .. ' ' .. now .. ' ' .. depth .. ' '\n"
    "                            .. duration .. ' ' .. away .. ' ' .. action\n"
    "  end\n"
    "end\n"
    "local scalars = {'s', 'g', 'n', 'd', 'l', 'p', 'r', 'f', 'fs', 'x', 't',\n"
    "                 'h', 'e', 'em'}\n"
    "local function load(key, orders, light)\n"
    "  local st = {key = key, orders = orders, h = {}, orig = {}, chg = {},\n"
    "              lines = 0, used = 0, usedv = {}, nw = 0}\n"
    "  if light then\n"
    "    local h, v = st.h, nil\n"
    "    if P.hist_ttl > 0 then\n"
    "      v = redis.call('HMGET', key, 'n', 'd', 's', 'l', 't', 'w', 'em')\n"
    "      st.em = v[7]\n"
    "    else\n"
    "      v = redis.call('HMGET', key, 'n', 'd', 's', 'l', 't', 'w')\n"
    "    end\n"
    "    h.n, h.d, h.s, h.l, h.t = v[1] or nil, v[2] or nil, v[3] or nil,\n"
    "                              v[4] or nil, v[5] or nil\n"
    "    h.w = v[6] or nil\n"
    "    st.cart, st.order, st.viewed, st.nviewed = none, none, none, 0\n"
    "    st.light = true\n"
    "    return st\n"
    "  end\n"
    "  st.cart, st.order, st.viewed, st.dirty = {}, {}, {}, {}\n"
    "  local flat = redis.call('HGETALL', key)\n"
    "  for i = 1, #flat, 2 do\n"
    "    local f, v = flat[i], flat[i + 1]\n"
    "    st.orig[f] = v\n"
    "    if string.byte(f, 1) == 99 and string.byte(f, 2) == 58 then\n"
    "      local sku = string.sub(f, 3)\n"
    "      st.cart[sku] = tonumber(v)\n"
    "      st.order[#st.order + 1] = sku\n"
    "      st.lines = st.lines + 1\n"
    "    else\n"
    "      st.h[f] = v\n"
    "    end\n"
    "  end\n"
    "  while st.orig['v' .. (#st.viewed + 1)] do\n"
    "    st.viewed[#st.viewed + 1] = st.orig['v' .. (#st.viewed + 1)]\n"
    "  end\n"
    "  st.nviewed = #st.viewed\n"
    "  st.em = P.hist_ttl > 0 and st.h.em\n"
    "  return st\n"
    "end\n"
    "local function set(st, f, v)\n"
    "  st.h[f] = v\n"
    "  st.chg[f] = true\n"
    "end\n"
    "local function clear(st)\n"
    "  for sku in pairs(st.cart) do\n"
    "    st.cart[sku] = false\n"
    "    st.dirty[sku] = true\n"
    "  end\n"
    "  st.lines = 0\n"
    "end\n"
    "local function apply(st, now, nows, pageview, fresh, ev, first, last,\n"
    "                     codekey)\n"
    "  local h, cart = st.h, st.cart\n"
    "  st.nw = st.nw + 1\n"
    "  local visits, depth = tonumber(h.n) or 0, tonumber(h.d) or 0\n"
    "  local start, prev = tonumber(h.s) or now, tonumber(h.l)\n"
    "  st.hist = none\n"
    "  if st.em then st.hist = {} end\n"
    "  if not prev then\n"
    "    visits, depth, start = 1, 0, now\n"
    "    set(st, 'n', 1); set(st, 's', nows); set(st, 'g', 0)\n"
    "    set(st, 'd', 0)\n"
    "  elseif now - prev > P.visit_timeout then\n"
    "    visits, depth, start = visits + 1, 0, now\n"
    "    set(st, 'n', visits); set(st, 's', nows); set(st, 'g', now - prev)\n"
    "    set(st, 'd', 0)\n"
    "    happened(st, now, 'return', 0, 0, now - prev, '-')\n"
    "  end\n"
    "  if pageview == 1 then\n"
    "    depth = depth + 1\n"
    "    set(st, 'd', depth)\n"
    "    happened(st, now, 'visit', depth, now - start, 0, '-')\n"
    "  end\n"
    "  if prev ~= now then set(st, 'l', nows) end\n"
    "  local shows, since = tonumber(h.f) or 0, tonumber(h.fs) or 0\n"
    "  if now - since >= P.cap_period then shows, since = 0, now end\n"
    "  for i = first, last, 4 do\n"
    "    local t, id, num = ev[i], ev[i + 1], tonumber(ev[i + 2])\n"
    "    if t == 'v' then\n"
    "      local list = {id}\n"
    "      for _, sku in ipairs(st.viewed) do\n"
    "        if sku ~= id and #list < P.viewed_max then\n"
    "          list[#list + 1] = sku\n"
    "        end\n"
    "      end\n"
    "      st.viewed, st.vchg = list, true\n"
    "    elseif t == 'a' then\n"
    "      happened(st, now, 'cart_add', 0, 0, 0, '-')\n"
    "      if cart[id] or st.lines < P.cart_max then\n"
    "        if not cart[id] then\n"
    "          st.lines = st.lines + 1\n"
    "          st.order[#st.order + 1] = id\n"
    "        end\n"
    "        cart[id] = math.min((cart[id] or 0) + num, 999)\n"
    "        st.dirty[id] = true\n"
    "      end\n"
    "    elseif t == 'r' then\n"
    "      if cart[id] then\n"
    "        local q = 0\n"
    "        if num > 0 then q = cart[id] - num end\n"
    "        if q > 0 then cart[id] = q\n"
    "        else cart[id] = false; st.lines = st.lines - 1 end\n"
    "        st.dirty[id] = true\n"
    "      end\n"
    "    elseif t == 'c' then\n"
    "      clear(st)\n"
    "    elseif t == 'p' then\n"
    "      local promo, code = ev[i + 3], nil\n"
    "      if promo == '' then promo = '-' else code = codekey(promo) end\n"
    "      if redis.call('HSETNX', st.orders, id,\n"
    "                    num .. ' ' .. promo .. ' ' .. now) == 1 then\n"
    "        set(st, 'p', (tonumber(h.p) or 0) + 1)\n"
    "        set(st, 'r', (tonumber(h.r) or 0) + num)\n"
    "        redis.call('EXPIRE', st.orders, P.ttl)\n"
    "        if redis.call('HLEN', st.orders) > 100 then\n"
    "          local all, oldest, at = redis.call('HGETALL', st.orders), nil,\n"
    "                                  now + 1\n"
    "          for j = 1, #all, 2 do\n"
    "            local ts = tonumber(string.match(all[j + 1], '(%d+)$')) or 0\n"
    "            if ts < at then oldest, at = all[j], ts end\n"
    "          end\n"
    "          redis.call('HDEL', st.orders, oldest)\n"
    "        end\n"
    "        clear(st)\n"
    "        local c = code and redis.call('HMGET', code, 'used', 'expires',\n"
    "                                      'variant')\n"
    "        if c and c[1] == '0' and tonumber(c[2]) >= now then\n"
    "          redis.call('HSET', code, 'used', 1, 'order', id,\n"
    "                     'used_at', now)\n"
    "          st.used = st.used + 1\n"
    "          if c[3] and c[3] ~= '' then\n"
    "            st.usedv[#st.usedv + 1] = c[3]\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "    elseif t == 's' then\n"
    "      shows = shows + 1\n"
    "      set(st, 'f', shows); set(st, 'fs', since)\n"
    "    elseif t == 'd' then\n"
    "      set(st, 'x', nows)\n"
    "    elseif t == 'o' then\n"
    "      happened(st, now, 'social', 0, 0, 0, id)\n"
    "    end\n"
    "  end\n"
    "  st.now, st.start, st.shows, st.since = now, start, shows, since\n"
    "  if fresh > 0 then\n"
    "    st.exp = fresh\n"
    "  elseif now - (tonumber(h.t) or 0)\n"
    "         >= math.min(3600, math.floor(P.ttl / 10)) then\n"
    "    set(st, 't', nows)\n"
    "    st.exp = P.ttl\n"
    "    if st.light then h.p = redis.call('HGET', st.key, 'p') or nil end\n"
    "    if (tonumber(h.p) or 0) > 0 then\n"
    "      redis.call('EXPIRE', st.orders, P.ttl)\n"
    "    end\n"
    "  end\n"
    "  if st.em then\n"
    "    local pre = string.match(st.key, '^(.*){')\n"
    "    if #st.hist > 0 then\n"
    "      local hk = pre .. 'hist:' .. st.em\n"
    "      redis.call('RPUSH', hk, unpack(st.hist))\n"
    "      redis.call('LTRIM', hk, -20, -1)\n"
    "      redis.call('EXPIRE', hk, P.hist_ttl)\n"
    "      redis.call('ZADD', pre .. 'triggers', now, st.em)\n"
    "    end\n"
    "    if P.lapse > 0 then\n"
    "      redis.call('ZADD', pre .. 'lapse', now + P.lapse, st.em)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local function store(st)\n"
    "  local set, del, orig, seen, n = {}, {}, st.orig, {}, 0\n"
    "  for i = 1, 13 do\n"
    "    local f = scalars[i]\n"
    "    if st.chg[f] then\n"
    "      set[n + 1], set[n + 2], n = f, st.h[f], n + 2\n"
    "    end\n"
    "  end\n"
    "  for _, sku in ipairs(st.order) do\n"
    "    if st.dirty[sku] and not seen[sku] then\n"
    "      seen[sku] = true\n"
    "      local q, f = st.cart[sku], 'c:' .. sku\n"
    "      if q then\n"
    "        if tonumber(orig[f]) ~= q then\n"
    "          set[n + 1], set[n + 2], n = f, q, n + 2\n"
    "        end\n"
    "      elseif orig[f] then\n"
    "        del[#del + 1] = f\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if st.vchg then\n"
    "    for i, sku in ipairs(st.viewed) do\n"
    "      if orig['v' .. i] ~= sku then\n"
    "        set[n + 1], set[n + 2], n = 'v' .. i, sku, n + 2\n"
    "      end\n"
    "    end\n"
    "    for i = #st.viewed + 1, st.nviewed do del[#del + 1] = 'v' .. i end\n"
    "  end\n"
    "  if st.nw > 0 then\n"
    "    set[n + 1], set[n + 2], n = 'w', (tonumber(st.h.w) or 0) + st.nw,\n"
    "                                n + 2\n"
    "    if not st.h.l and not st.exp then st.exp = P.ttl end\n"
    "  end\n"
    "  if n > 0 then redis.call('HSET', st.key, unpack(set)) end\n"
    "  if #del > 0 then redis.call('HDEL', st.key, unpack(del)) end\n"
    "  if st.exp then redis.call('EXPIRE', st.key, st.exp) end\n"
    "end\n"
    "local function result(st, items)\n"
    "  local h, qty, list, seen = st.h, 0, {}, {}\n"
    "  for _, sku in ipairs(st.order) do\n"
    "    local q = st.cart[sku]\n"
    "    if q and not seen[sku] then\n"
    "      seen[sku] = true\n"
    "      qty = qty + q\n"
    "      list[#list + 1] = sku; list[#list + 1] = q\n"
    "    end\n"
    "  end\n"
    "  local viewed = st.viewed\n"
    "  local nviewed = #viewed\n"
    "  if not items then list, viewed = {}, {} end\n"
    "  return {tonumber(h.n), tonumber(h.d), st.now - st.start,\n"
    "          tonumber(h.g) or 0, st.lines, qty, nviewed,\n"
    "          tonumber(h.p) or 0, tonumber(h.x) or 0, tonumber(h.a) or 0,\n"
    "          st.shows, st.since, st.used, ({t = 1, c = 2})[h.h or ''] or 0,\n"
    "          tonumber(h.y) or 0, list, table.concat(viewed, ','),\n"
    "          h.k or '', table.concat(st.usedv, ',')}\n"
    "end\n";


/*
 * One call per tracked request, atomic for concurrent requests of one
 * visitor.  KEYS: the visitor's hash, its orders, then the promo code of
 * each purchase that has one.  ARGV: now, visit timeout, ttl, viewed
 * max, cart max, page view (0/1), offer cap period, items wanted (0/1),
 * the ttl of a new visitor's hash until it comes back (0: not new), how
 * long a known contact's recent events are kept for the chains' triggers
 * (0: no chain looks at them), the shortest "lapse" of the chains (0:
 * none), then per event: code, id, number, promo.  Returns the state the
 * variables and the offer decision need, then the cart (sku, qty, ...),
 * the viewed list, the visitor's promo code and the variants of the
 * codes a purchase used.  Its text is ngx_http_trigger_track_lua and this.
 */

const char  ngx_http_trigger_track_call[] =
    "P.visit_timeout, P.ttl = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "P.viewed_max, P.cart_max = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "P.cap_period, P.hist_ttl = tonumber(ARGV[7]), tonumber(ARGV[10])\n"
    "P.lapse = tonumber(ARGV[11])\n"
    "local st, codes = load(KEYS[1], KEYS[2]), 2\n"
    "local function code() codes = codes + 1; return KEYS[codes] end\n"
    "apply(st, tonumber(ARGV[1]), ARGV[1], tonumber(ARGV[6]),\n"
    "      tonumber(ARGV[9]), ARGV, 12, #ARGV, code)\n"
    "store(st)\n"
    "return result(st, ARGV[8] == '1')\n";

ngx_http_trigger_script_t  ngx_http_trigger_track_script;


/* a page view taken back: the response was not a page */

ngx_http_trigger_script_t  ngx_http_trigger_uncount_script = {
    ngx_string(
    "local v = redis.call('HMGET', KEYS[1], 'd', 'w')\n"
    "local d = tonumber(v[1])\n"
    "if d and d > 0 then\n"
    "  redis.call('HSET', KEYS[1], 'd', d - 1,\n"
    "             'w', (tonumber(v[2]) or 0) + 1)\n"
    "end\n"
    "return 0\n"),
    { 0 }
};


ngx_http_trigger_ctx_t *
ngx_http_trigger_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_trigger_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_trigger_module);

    if (ctx || !r->internal || r != r->main) {
        return ctx;
    }

    /*
     * An internal redirect clears module contexts: find ours again.  The
     * pool is shared with subrequests, which may have contexts of their
     * own in it.
     */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_trigger_ctx_cleanup
            && ((ngx_http_trigger_ctx_t *) cln->data)->request == r)
        {
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

    ctx->deadline.handler = ngx_http_trigger_deadline;
    ctx->deadline.data = r->connection;
    ctx->deadline.log = r->connection->log;

    ctx->wake.handler = ngx_http_trigger_wake;
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

    /* the page view is journaled all the same */
    if (ctx->zone_read) {
        ctx->want_items = 0;
        ngx_http_trigger_zone_settle(ctx, NULL);
    }

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }
}


ngx_int_t
ngx_http_trigger_track(ngx_http_request_t *r, ngx_http_trigger_ctx_t *ctx,
    ngx_http_trigger_event_t *events, ngx_uint_t nevents,
    ngx_uint_t pageview, ngx_uint_t wait)
{
    size_t                         size, key_len, code_len;
    u_char                         key[NGX_HTTP_TRIGGER_KEY_MAX];
    u_char                         code[NGX_HTTP_TRIGGER_KEY_MAX];
    ngx_uint_t                     i, promos, sync;
    ngx_http_trigger_event_t      *ev;
    ngx_http_trigger_redis_cmd_t  *cmd;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    promos = 0;
    sync = 0;

    for (i = 0; i < nevents; i++) {
        if (events[i].type == NGX_HTTP_TRIGGER_EV_PURCHASE
            || events[i].type == NGX_HTTP_TRIGGER_EV_OFFER_DECLINED)
        {
            sync = 1;
        }

        if (events[i].type == NGX_HTTP_TRIGGER_EV_PURCHASE
            && events[i].promo[0])
        {
            promos++;
        }
    }

    /*
     * With the zone, a purchase (its order id and code are checked in
     * Redis) and a decline go to Redis as they happen; the rest is
     * journaled.
     */

    if (ngx_http_trigger_zone_on(tmcf)) {
        if (!sync) {
            return ngx_http_trigger_zone_track(r, ctx, events, nevents,
                                               pageview, wait);
        }

        ngx_http_trigger_zone_apply(r, ctx, events, nevents, pageview);
    }

    key_len = ngx_http_trigger_visitor_key(r, ctx, key);
    ngx_memcpy(key + key_len, ":o", 2);

    size = NGX_INT64_LEN + 2 * key_len + 2
           + promos * (tmcf->key_prefix.len + 5 + NGX_HTTP_TRIGGER_PROMO_MAX)
           + 11 * NGX_INT64_LEN
           + nevents * (1 + NGX_HTTP_TRIGGER_ID_MAX + NGX_INT64_LEN
                        + NGX_HTTP_TRIGGER_PROMO_MAX);

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_track_script,
                                            3 + promos + 11 + 4 * nevents,
                                            size);
    if (cmd == NULL) {
        if (wait) {
            ctx->status = NGX_HTTP_TRIGGER_STATUS_ERROR;
        }

        return NGX_DECLINED;
    }

    ngx_http_trigger_redis_cmd_arg_int(cmd, 2 + promos);
    ngx_http_trigger_redis_cmd_arg(cmd, key, key_len);
    ngx_http_trigger_redis_cmd_arg(cmd, key, key_len + 2);

    for (i = 0; i < nevents; i++) {
        if (events[i].type == NGX_HTTP_TRIGGER_EV_PURCHASE
            && events[i].promo[0])
        {
            code_len = ngx_sprintf(code, "%Vcode:%s", &tmcf->key_prefix,
                                   events[i].promo)
                       - code;
            ngx_http_trigger_redis_cmd_arg(cmd, code, code_len);
        }
    }

    ngx_http_trigger_redis_cmd_arg_int(cmd, ngx_time());
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->visit_timeout);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->ttl);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->viewed_max);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->cart_max);
    ngx_http_trigger_redis_cmd_arg_int(cmd, pageview);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->cap.period);
    /* events nobody waits for need no items back */
    ngx_http_trigger_redis_cmd_arg_int(cmd, wait && ctx->want_items);
    /* a client that never returns the cookie costs an hour, not a month */
    ngx_http_trigger_redis_cmd_arg_int(cmd, ctx->new_visitor
                                            ? tmcf->new_visitor_ttl : 0);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->sender.history);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->sender.lapse);

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
        return ngx_http_trigger_zone_eval(cmd, ngx_http_trigger_track_sent,
                                          NULL) == NGX_OK
               ? NGX_OK : NGX_DECLINED;
    }

    return ngx_http_trigger_wait(r, ctx, cmd, ngx_http_trigger_track_parse);
}


ngx_int_t
ngx_http_trigger_wait(ngx_http_request_t *r, ngx_http_trigger_ctx_t *ctx,
    ngx_http_trigger_redis_cmd_t *cmd, ngx_http_trigger_parse_pt parse)
{
    if (ngx_http_trigger_zone_eval(cmd, ngx_http_trigger_reply, ctx)
        != NGX_OK)
    {
        ctx->status = NGX_HTTP_TRIGGER_STATUS_UNAVAILABLE;
        return NGX_DECLINED;
    }

    ctx->parse = parse;
    ctx->command = cmd;
    ngx_add_timer(&ctx->deadline, ctx->conf->timeout);

    return NGX_OK;
}


ngx_int_t
ngx_http_trigger_wait_content(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_redis_cmd_t *cmd,
    ngx_http_trigger_parse_pt parse)
{
    /* the request lives until ctx->resume has finalized it */
    r->main->count++;

    if (ngx_http_trigger_wait(r, ctx, cmd, parse) != NGX_OK) {
        ctx->resume(r, ctx);
    }

    return NGX_DONE;
}


static void
ngx_http_trigger_reply(void *data, redisReply *reply)
{
    ngx_http_trigger_ctx_t  *ctx = data;

    ctx->command = NULL;

    /* no reply: the connection went away with the command */
    ctx->status = reply ? NGX_HTTP_TRIGGER_STATUS_ERROR
                        : NGX_HTTP_TRIGGER_STATUS_UNAVAILABLE;

    if (reply) {
        ctx->parse(ctx, reply);
    }

    ngx_http_trigger_zone_settle(ctx, NULL);

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    /* resume outside hiredis's call stack */
    ngx_post_event(&ctx->wake, &ngx_posted_events);
}


static void
ngx_http_trigger_track_parse(ngx_http_trigger_ctx_t *ctx, void *data)
{
    u_char                        *p, *end, *sku, c;
    ngx_uint_t                     i, n;
    redisReply                    *reply, *items, *viewed, *code;
    ngx_http_request_t            *r;
    ngx_http_trigger_main_conf_t  *tmcf;

    reply = data;
    r = ctx->request;

    if (ngx_http_trigger_track_state(reply, ctx->state) != NGX_OK) {
        return;
    }

    ctx->status = NGX_HTTP_TRIGGER_STATUS_TRACKED;
    ctx->has_state = 1;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    if (ngx_http_trigger_zone_on(tmcf)) {
        ngx_http_trigger_zone_update(ctx);
    }

    if (!ctx->want_items) {
        return;
    }

    /* the reply is freed on return: keep copies of the skus */

    items = reply->element[NGX_HTTP_TRIGGER_STATE_COUNT];
    viewed = reply->element[NGX_HTTP_TRIGGER_STATE_COUNT + 1];
    code = reply->element[NGX_HTTP_TRIGGER_STATE_COUNT + 2];
    n = 0;

    /* only a code as codes are made may reach the page */
    if (code->type == REDIS_REPLY_STRING
        && code->len == NGX_HTTP_TRIGGER_CODE_LEN)
    {
        for (i = 0; i < code->len; i++) {
            c = code->str[i];

            if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || c == '-'))
            {
                break;
            }
        }

        ctx->code.data = (i == code->len) ? ngx_pnalloc(r->pool, i) : NULL;

        if (ctx->code.data) {
            ngx_memcpy(ctx->code.data, code->str, i);
            ctx->code.len = i;
        }
    }

    if (items->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i + 1 < items->elements; i += 2) {
            if (n == ctx->conf->items_max
                || items->element[i]->type != REDIS_REPLY_STRING
                || items->element[i + 1]->type != REDIS_REPLY_INTEGER)
            {
                break;
            }

            ctx->items[n].sku.len = items->element[i]->len;
            ctx->items[n].sku.data = ngx_pnalloc(r->pool,
                                                 items->element[i]->len);
            if (ctx->items[n].sku.data == NULL) {
                break;
            }

            ngx_memcpy(ctx->items[n].sku.data, items->element[i]->str,
                       items->element[i]->len);
            ctx->items[n].qty = items->element[i + 1]->integer;
            n++;
        }
    }

    if (viewed->type == REDIS_REPLY_STRING) {
        p = (u_char *) viewed->str;
        end = p + viewed->len;

        while (p < end && n < ctx->conf->items_max) {
            sku = p;

            while (p < end && *p != ',') {
                p++;
            }

            ctx->items[n].sku.len = p - sku;
            ctx->items[n].qty = 0;

            for (i = 0; i < n; i++) {
                if (ctx->items[i].sku.len == ctx->items[n].sku.len
                    && ngx_strncmp(ctx->items[i].sku.data, sku, p - sku) == 0)
                {
                    break;
                }
            }

            if (i == n) {
                ctx->items[n].sku.data = ngx_pnalloc(r->pool, p - sku);
                if (ctx->items[n].sku.data == NULL) {
                    break;
                }

                ngx_memcpy(ctx->items[n].sku.data, sku, p - sku);
                n++;
            }

            p++;
        }
    }

    ctx->nitems = n;
}


/* the state part of the script's reply; counts the promo codes used */

static ngx_int_t
ngx_http_trigger_track_state(redisReply *reply, int64_t *state)
{
    u_char      *p, *end, *name;
    ngx_uint_t   i;
    redisReply  *v;

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements != NGX_HTTP_TRIGGER_STATE_COUNT + 4)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_TRIGGER_STATE_COUNT; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
            return NGX_ERROR;
        }

        state[i] = reply->element[i]->integer;
    }

    if (state[NGX_HTTP_TRIGGER_CODES_USED] > 0) {
        ngx_http_trigger_stats_incr("code_used",
                                    state[NGX_HTTP_TRIGGER_CODES_USED]);

        /* "a,b": the variants of the codes, each counted for its own */
        v = reply->element[NGX_HTTP_TRIGGER_STATE_COUNT + 3];

        if (v->type == REDIS_REPLY_STRING) {
            p = (u_char *) v->str;
            end = p + v->len;

            while (p < end) {
                name = p;
                p = ngx_strlchr(p, end, ',');

                if (p == NULL) {
                    p = end;
                }

                ngx_http_trigger_stats_incr_variant("code_used", name,
                                                    p - name);
                p++;
            }
        }
    }

    return NGX_OK;
}


/* events nobody waits for: the reply only counts */

static void
ngx_http_trigger_track_sent(void *data, redisReply *reply)
{
    int64_t  state[NGX_HTTP_TRIGGER_STATE_COUNT];

    if (reply) {
        (void) ngx_http_trigger_track_state(reply, state);
    }
}


static void
ngx_http_trigger_deadline(ngx_event_t *ev)
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

    /* without Redis's answer, the zone's (however old) and the record */
    ngx_http_trigger_zone_settle(ctx, NULL);

    if (ngx_http_trigger_log_allowed(&last_log)) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "trigger: redis did not answer within %M ms, "
                      "request goes on without it", ctx->conf->timeout);
    }

    ctx->resume(r, ctx);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_trigger_wake(ngx_event_t *ev)
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
    ngx_uint_t                    n, get;
    ngx_http_trigger_ctx_t       *ctx;
    ngx_http_trigger_event_t      events[NGX_HTTP_TRIGGER_EVENTS_MAX];
    ngx_http_trigger_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);

    if (!tlcf->enable || tlcf->api || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_trigger_get_ctx(r);

    if (ctx) {
        if (ctx->command) {
            /* woken up before the reply: keep waiting */
            return NGX_AGAIN;
        }

        if (ctx->want_items && ctx->offer == NGX_HTTP_TRIGGER_OFFER_NONE
            && (ctx->status == NGX_HTTP_TRIGGER_STATUS_TRACKED
                || ctx->status == NGX_HTTP_TRIGGER_STATUS_ZONE))
        {
            ngx_http_trigger_offer_request(r, ctx);
        }

        return NGX_DECLINED;
    }

    /*
     * A page view is a GET; other methods (HEAD, a form's POST) only
     * carry the location's events, and cost nothing without any.
     */

    get = (r->method == NGX_HTTP_GET);
    n = ngx_http_trigger_conf_events(r, tlcf, events);

    if (!get && n == 0) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_trigger_create_ctx(r);
    if (ctx == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_trigger_identify(r, ctx, tlcf);

    if (ctx->status != NGX_HTTP_TRIGGER_STATUS_PENDING) {
        return NGX_DECLINED;
    }

    ctx->want_items = tlcf->offer && get;
    ctx->pageview = tlcf->pageview && get;

    if (ctx->want_items) {
        ngx_http_trigger_offer_preview(r, ctx);
    }

    if (ngx_http_trigger_track(r, ctx, events, n, ctx->pageview, 1)
        != NGX_OK)
    {
        /* counted in the zone, decided there at once */
        if (!ctx->zone_journaled) {
            ctx->pageview = 0;
        }

        if (ctx->want_items && ctx->offer == NGX_HTTP_TRIGGER_OFFER_NONE
            && ctx->status == NGX_HTTP_TRIGGER_STATUS_ZONE)
        {
            ngx_http_trigger_offer_request(r, ctx);
        }

        return NGX_DECLINED;
    }

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_AGAIN;
}


/*
 * The page view was counted before the response's status was known:
 * a page that turned out to be an error or a redirect is taken back.
 */

void
ngx_http_trigger_track_status(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    u_char                         key[NGX_HTTP_TRIGGER_KEY_MAX];
    size_t                         key_len;
    ngx_uint_t                     status;
    ngx_http_trigger_redis_cmd_t  *cmd;

    status = r->headers_out.status;

    if (!ctx->pageview
        || (status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE)
        || status == NGX_HTTP_NOT_MODIFIED)
    {
        return;
    }

    ctx->pageview = 0;

    if (ctx->has_state && ctx->state[NGX_HTTP_TRIGGER_DEPTH] > 0) {
        ctx->state[NGX_HTTP_TRIGGER_DEPTH]--;
    }

    if (ctx->zone_journaled) {
        ngx_http_trigger_zone_uncount(r, ctx);
        return;
    }

    key_len = ngx_http_trigger_visitor_key(r, ctx, key);

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_uncount_script,
                                            2, 1 + key_len);
    if (cmd == NULL) {
        return;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "1", 1);
    ngx_http_trigger_redis_cmd_arg(cmd, key, key_len);

    (void) ngx_http_trigger_redis_eval(ngx_http_trigger_redis_pages, cmd,
                                       NULL, NULL);
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
