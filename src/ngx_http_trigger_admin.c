/*
 * The admin location (trigger_admin): the letters' queue, a contact's
 * record and chains, the dead letters, retrying them, and an address's
 * subscription, as JSON.  Who may use it is the admin's nginx rules
 * (allow/deny, auth_basic, ...).
 *
 *     GET  queue                    due, queued, leased, dead, oldest due
 *     GET  contact?email=...        the record, its jobs, suppressed
 *     GET  dead                     the dead letters (100 newest)
 *     POST retry[?job=...]          one dead letter, or all, queued again
 *     POST unsubscribe?email=...    suppress an address
 *     POST resubscribe?email=...    and take it back
 *     GET  stats[?day=YYYYMMDD]     a day's counters (UTC), per variant
 *     GET  preview?to=/path[&variant=..][&format=..][&lang=..]
 *                                   the widget at once on this browser
 *     GET  preview?off[&to=/path]   and no more
 */


#include "ngx_http_trigger_admin.h"
#include "ngx_http_trigger_track.h"
#include "ngx_http_trigger_queue.h"
#include "ngx_http_trigger_api.h"


typedef struct {
    const char  *name;
    ngx_uint_t   method;
    /* needs ?email= */
    ngx_uint_t   email;
} ngx_http_trigger_admin_cmd_t;


static ngx_http_trigger_admin_cmd_t  ngx_http_trigger_admin_cmds[] = {
    { "queue", NGX_HTTP_GET|NGX_HTTP_HEAD, 0 },
    { "contact", NGX_HTTP_GET|NGX_HTTP_HEAD, 1 },
    { "dead", NGX_HTTP_GET|NGX_HTTP_HEAD, 0 },
    { "retry", NGX_HTTP_POST, 0 },
    { "unsubscribe", NGX_HTTP_POST, 1 },
    { "resubscribe", NGX_HTTP_POST, 1 },
    { "stats", NGX_HTTP_GET|NGX_HTTP_HEAD, 0 },
    { NULL, 0, 0 }
};


static ngx_int_t ngx_http_trigger_admin_preview(ngx_http_request_t *r);
static ngx_int_t ngx_http_trigger_admin_path(ngx_str_t *to);
static ngx_uint_t ngx_http_trigger_admin_flag(ngx_http_request_t *r,
    const char *name);
static void ngx_http_trigger_admin_parse(ngx_http_trigger_ctx_t *ctx,
    void *data);
static void ngx_http_trigger_admin_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);


/*
 * ARGV: the command, the key prefix, now, the address's digest or the
 * job's id (or ""), then the names of the chains.  Answers JSON.
 */

ngx_http_trigger_script_t  ngx_http_trigger_admin_script = {
    ngx_string(
    "local cmd, pre, now, arg = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]\n"
    "local q, leases, dead = pre .. 'queue', pre .. 'leases', pre .. 'dead'\n"
    "local sup = pre .. 'suppressed'\n"
    "local function hash(key)\n"
    "  local flat, h = redis.call('HGETALL', key), {}\n"
    "  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end\n"
    "  return h\n"
    "end\n"
    "-- cjson writes an empty list as {}: lists are added by hand\n"
    "local function with_list(obj, name, items)\n"
    "  local json = #items > 0 and cjson.encode(items) or '[]'\n"
    "  if obj == '{}' then return '{\"' .. name .. '\":' .. json .. '}' end\n"
    "  return string.sub(obj, 1, -2) .. ',\"' .. name .. '\":' .. json .. '}'\n"
    "end\n"
    "if cmd == 'queue' then\n"
    "  local first = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')\n"
    "  return cjson.encode({due = redis.call('ZCOUNT', q, '-inf', now),\n"
    "    queued = redis.call('ZCARD', q),\n"
    "    leased = redis.call('ZCARD', leases),\n"
    "    dead = redis.call('ZCARD', dead),\n"
    "    oldest_due = tonumber(first[2]) or cjson.null})\n"
    "elseif cmd == 'contact' then\n"
    "  local rec = hash(pre .. 'email:' .. arg)\n"
    "  local jobs = {}\n"
    "  for i = 5, #ARGV do\n"
    "    local id = arg .. ':' .. ARGV[i]\n"
    "    local j = hash(pre .. 'job:' .. id)\n"
    "    if j.chain then\n"
    "      j.id = id\n"
    "      j.due = tonumber(redis.call('ZSCORE', q, id))\n"
    "      j.leased = tonumber(redis.call('ZSCORE', leases, id))\n"
    "      j.dead = tonumber(redis.call('ZSCORE', dead, id))\n"
    "      jobs[#jobs + 1] = j\n"
    "    end\n"
    "  end\n"
    "  return with_list(cjson.encode({\n"
    "    record = next(rec) and rec or cjson.null,\n"
    "    suppressed = redis.call('SISMEMBER', sup, arg) == 1}), 'jobs', jobs)\n"
    "elseif cmd == 'dead' then\n"
    "  local out = {}\n"
    "  local list = redis.call('ZREVRANGE', dead, 0, 99, 'WITHSCORES')\n"
    "  for i = 1, #list, 2 do\n"
    "    local j = hash(pre .. 'job:' .. list[i])\n"
    "    out[#out + 1] = {job = list[i], died = tonumber(list[i + 1]),\n"
    "      chain = j.chain, pc = tonumber(j.pc),\n"
    "      attempts = tonumber(j.attempts), error = j.error}\n"
    "  end\n"
    "  return with_list('{}', 'dead', out)\n"
    "elseif cmd == 'retry' then\n"
    "  local ids = {arg}\n"
    "  if arg == '' then ids = redis.call('ZRANGE', dead, 0, 999) end\n"
    "  local n = 0\n"
    "  for _, id in ipairs(ids) do\n"
    "    if redis.call('ZREM', dead, id) == 1 then\n"
    "      redis.call('HSET', pre .. 'job:' .. id, 'attempts', 0,\n"
    "                 'error', '')\n"
    "      redis.call('ZADD', q, now, id)\n"
    "      n = n + 1\n"
    "    end\n"
    "  end\n"
    "  return cjson.encode({ok = true, retried = n})\n"
    "elseif cmd == 'unsubscribe' then\n"
    "  redis.call('SADD', sup, arg)\n"
    "  if redis.call('EXISTS', pre .. 'email:' .. arg) == 1 then\n"
    "    redis.call('HSET', pre .. 'email:' .. arg, 'unsubscribed', now)\n"
    "  end\n"
    "  return cjson.encode({ok = true})\n"
    "elseif cmd == 'stats' then\n"
    "  local flat = redis.call('HGETALL', pre .. 'stats:' .. arg)\n"
    "  local out, variants = {}, {}\n"
    "  for i = 1, #flat, 2 do\n"
    "    local f, name = string.match(flat[i], '^([^:]+):(.+)$')\n"
    "    if f then\n"
    "      variants[name] = variants[name] or {}\n"
    "      variants[name][f] = tonumber(flat[i + 1])\n"
    "    else\n"
    "      out[flat[i]] = tonumber(flat[i + 1])\n"
    "    end\n"
    "  end\n"
    "  if next(variants) then out.variants = variants end\n"
    "  if next(out) then return cjson.encode({day = arg, counters = out}) end\n"
    "  return '{\"day\":\"' .. arg .. '\",\"counters\":{}}'\n"
    "elseif cmd == 'resubscribe' then\n"
    "  redis.call('SREM', sup, arg)\n"
    "  redis.call('HDEL', pre .. 'email:' .. arg, 'unsubscribed')\n"
    "  return cjson.encode({ok = true})\n"
    "end\n"
    "return cjson.encode({ok = false, error = 'no such command'})\n"),
    { 0 }
};


ngx_int_t
ngx_http_trigger_admin_handler(ngx_http_request_t *r)
{
    u_char                        *p, *dst, *src, digest[40], day[8];
    size_t                         size;
    ngx_int_t                      rc;
    ngx_str_t                      name, email, job, arg;
    ngx_tm_t                       tm;
    ngx_uint_t                     nchains;
    ngx_array_t                   *chains;
    ngx_http_trigger_ctx_t        *ctx;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_trigger_admin_cmd_t  *c;
    ngx_http_trigger_redis_cmd_t  *cmd;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* trigger_admin is only allowed in prefix locations */
    name.data = r->uri.data + ngx_min(clcf->name.len, r->uri.len);
    name.len = r->uri.len - ngx_min(clcf->name.len, r->uri.len);

    for (c = ngx_http_trigger_admin_cmds; c->name; c++) {
        if (name.len == ngx_strlen(c->name)
            && ngx_strncmp(name.data, c->name, name.len) == 0)
        {
            break;
        }
    }

    if (c->name == NULL) {
        if (name.len == 7 && ngx_strncmp(name.data, "preview", 7) == 0) {
            return ngx_http_trigger_admin_preview(r);
        }

        return ngx_http_trigger_api_error(r, NGX_HTTP_NOT_FOUND,
                                           "no such endpoint");
    }

    if (!(r->method & c->method)) {
        return ngx_http_trigger_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method not allowed");
    }

    ngx_str_null(&arg);

    if (c->email) {
        if (ngx_http_arg(r, (u_char *) "email", 5, &email) != NGX_OK
            || email.len == 0 || email.len > 254)
        {
            return ngx_http_trigger_api_error(r, NGX_HTTP_BAD_REQUEST,
                                           "email needed");
        }

        /* decoded and in lower case, as subscriptions store it */
        p = ngx_pnalloc(r->pool, email.len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        dst = p;
        src = email.data;
        ngx_unescape_uri(&dst, &src, email.len, NGX_UNESCAPE_URI);
        email.data = p;
        email.len = dst - p;
        ngx_strlow(email.data, email.data, email.len);

        ngx_http_trigger_sha1_hex(digest, email.data, email.len);
        arg.data = digest;
        arg.len = 40;

    } else if (c->name[0] == 's') {
        /* stats: a day, by default today's (UTC, as they are counted) */
        if (ngx_http_arg(r, (u_char *) "day", 3, &arg) == NGX_OK) {
            for (p = arg.data; p < arg.data + arg.len; p++) {
                if (*p < '0' || *p > '9') {
                    break;
                }
            }

            if (arg.len != 8 || p != arg.data + arg.len) {
                return ngx_http_trigger_api_error(r, NGX_HTTP_BAD_REQUEST,
                                           "day must be YYYYMMDD");
            }

        } else {
            ngx_gmtime(ngx_time(), &tm);
            ngx_sprintf(day, "%04d%02d%02d", tm.ngx_tm_year, tm.ngx_tm_mon,
                        tm.ngx_tm_mday);
            arg.data = day;
            arg.len = 8;
        }

    } else if (ngx_http_arg(r, (u_char *) "job", 3, &job) == NGX_OK) {
        if (job.len == 0 || job.len > NGX_HTTP_TRIGGER_JOB_ID_MAX) {
            return ngx_http_trigger_api_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid job");
        }

        arg = job;
    }

    ctx = ngx_http_trigger_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->conf = ngx_http_get_module_loc_conf(r, ngx_http_trigger_module);
    ctx->resume = ngx_http_trigger_admin_done;

    chains = tmcf->sender.chains ? tmcf->sender.all_chains : NULL;
    size = 1 + ngx_strlen(c->name) + tmcf->key_prefix.len + NGX_INT64_LEN
           + arg.len + ngx_http_trigger_redis_strs_size(chains, &nchains);

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_admin_script,
                                            5 + nchains, size);
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "0", 1);
    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) c->name,
                                   ngx_strlen(c->name));
    ngx_http_trigger_redis_cmd_arg(cmd, tmcf->key_prefix.data,
                                   tmcf->key_prefix.len);
    ngx_http_trigger_redis_cmd_arg_int(cmd, ngx_time());
    ngx_http_trigger_redis_cmd_arg(cmd, arg.data, arg.len);
    ngx_http_trigger_redis_cmd_strs(cmd, chains);

    return ngx_http_trigger_wait_content(r, ctx, cmd,
                                         ngx_http_trigger_admin_parse);
}


/*
 * A staff preview: a cookie signed with the module's secret (an hour)
 * that makes every page with the offer show the widget at once, with
 * the options chosen, counting nothing; then to the page.
 */

static ngx_int_t
ngx_http_trigger_admin_preview(ngx_http_request_t *r)
{
    u_char                        *p, *cookie;
    size_t                         len;
    ngx_int_t                      i;
    ngx_str_t                      to, arg;
    ngx_uint_t                     off;
    ngx_http_trigger_preview_t     pv;
    ngx_http_trigger_main_conf_t  *tmcf;

    static const char  *names[] = { "format", "lang" };

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_trigger_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method not allowed");
    }

    if (ngx_http_arg(r, (u_char *) "to", 2, &to) != NGX_OK) {
        ngx_str_set(&to, "/");
    }

    if (ngx_http_trigger_admin_path(&to) != NGX_OK) {
        return ngx_http_trigger_api_error(r, NGX_HTTP_BAD_REQUEST,
                                   "\"to\" must be a path on this site");
    }

    ngx_memzero(&pv, sizeof(ngx_http_trigger_preview_t));
    pv.format = -1;
    pv.lang = -1;

    if (ngx_http_arg(r, (u_char *) "variant", 7, &arg) == NGX_OK
        && arg.len)
    {
        if (!ngx_http_trigger_offer_name_valid(arg.data, arg.len)) {
            return ngx_http_trigger_api_error(r, NGX_HTTP_BAD_REQUEST,
                                               "invalid variant");
        }

        pv.variant = arg.data;
        pv.variant_len = arg.len;
    }

    for (i = 0; i < 2; i++) {
        if (ngx_http_arg(r, (u_char *) names[i], ngx_strlen(names[i]), &arg)
            != NGX_OK
            || arg.len == 0)
        {
            continue;
        }

        *(i ? &pv.lang : &pv.format) = ngx_http_trigger_offer_word(
                                 i ? ngx_http_trigger_offer_langs
                                   : ngx_http_trigger_offer_formats,
                                 arg.data, arg.len);

        if ((i ? pv.lang : pv.format) < 0) {
            return ngx_http_trigger_api_error(r, NGX_HTTP_BAD_REQUEST,
                                   i ? "invalid lang" : "invalid format");
        }
    }

    off = ngx_http_trigger_admin_flag(r, "off");

    len = sizeof("trg_preview=; Max-Age=3600; Path=/; HttpOnly;"
                 " SameSite=Lax; Secure") + NGX_HTTP_TRIGGER_PREVIEW_MAX;

    cookie = ngx_pnalloc(r->pool, len);
    if (cookie == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(cookie, "trg_preview=", sizeof("trg_preview=") - 1);

    if (!off) {
        p += ngx_http_trigger_preview_make(p, tmcf->secret.data,
                                           tmcf->secret.len, &pv,
                                           ngx_time() + 3600);
    }

    p = ngx_sprintf(p, "; Max-Age=%d; Path=/; HttpOnly; SameSite=Lax",
                    off ? 0 : 3600);

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }
#endif

    if (ngx_http_trigger_api_header(r, "Set-Cookie", cookie, p - cookie)
        == NULL
        || ngx_http_trigger_api_header(r, "Cache-Control",
                                       (u_char *) "no-store", 8)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_clear_location(r);

    r->headers_out.location = ngx_http_trigger_api_header(r, "Location",
                                                          to.data, to.len);
    if (r->headers_out.location == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_MOVED_TEMPORARILY;
}


/* a path of this site, not "//host" or "/\\host" that browsers follow */

static ngx_int_t
ngx_http_trigger_admin_path(ngx_str_t *to)
{
    u_char     *dst, *src, *p, buf[2048];
    ngx_str_t   s[2];
    ngx_uint_t  i;

    if (to->len == 0 || to->len > sizeof(buf)) {
        return NGX_ERROR;
    }

    dst = buf;
    src = to->data;
    ngx_unescape_uri(&dst, &src, to->len, 0);

    s[0] = *to;
    s[1].data = buf;
    s[1].len = dst - buf;

    for (i = 0; i < 2; i++) {
        if (s[i].len == 0 || s[i].data[0] != '/'
            || (s[i].len > 1
                && (s[i].data[1] == '/' || s[i].data[1] == '\\')))
        {
            return NGX_ERROR;
        }

        for (p = s[i].data; p < s[i].data + s[i].len; p++) {
            if (*p <= ' ' || *p == 0x7f || *p == '\\') {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* an argument without a value, as in "?off" */

static ngx_uint_t
ngx_http_trigger_admin_flag(ngx_http_request_t *r, const char *name)
{
    u_char  *p, *end, *arg;
    size_t   len;

    len = ngx_strlen(name);
    p = r->args.data;
    end = p + r->args.len;

    while (p < end) {
        arg = p;

        while (p < end && *p != '&' && *p != '=') {
            p++;
        }

        if ((size_t) (p - arg) == len && ngx_strncmp(arg, name, len) == 0) {
            return 1;
        }

        while (p < end && *p != '&') {
            p++;
        }

        p++;
    }

    return 0;
}


static void
ngx_http_trigger_admin_parse(ngx_http_trigger_ctx_t *ctx, void *data)
{
    redisReply  *reply = data;

    if (reply->type != REDIS_REPLY_STRING) {
        return;
    }

    ctx->answer.data = ngx_pnalloc(ctx->request->pool, reply->len);
    if (ctx->answer.data == NULL) {
        return;
    }

    ngx_memcpy(ctx->answer.data, reply->str, reply->len);
    ctx->answer.len = reply->len;
    ctx->status = NGX_HTTP_TRIGGER_STATUS_TRACKED;
}


static void
ngx_http_trigger_admin_done(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    if (ctx->status != NGX_HTTP_TRIGGER_STATUS_TRACKED) {
        ngx_http_finalize_request(r, ngx_http_trigger_api_error(r,
                                  NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "storage unavailable"));
        return;
    }

    ngx_http_finalize_request(r, ngx_http_trigger_api_send(r, NGX_HTTP_OK,
                              &ngx_http_trigger_json_type, ctx->answer.data,
                              ctx->answer.len));
}

