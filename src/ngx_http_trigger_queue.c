/*
 * The letters' queue in Redis: claiming due jobs with a lease, and
 * ending a job's turn.
 */


#include "ngx_http_trigger_queue.h"


/* a job's strings are copied after it: the reply is freed on return */
#define NGX_HTTP_TRIGGER_JOB_STRINGS  2048


typedef struct {
    ngx_http_trigger_claim_pt   handler;
    void                       *data;
} ngx_http_trigger_claim_t;


static void ngx_http_trigger_queue_claimed(void *data, redisReply *reply);
static ngx_http_trigger_job_t *ngx_http_trigger_queue_job(redisReply *r);
static ngx_int_t ngx_http_trigger_job_str(ngx_http_trigger_job_t *job,
    u_char **pos, u_char *end, ngx_str_t *dst, redisReply *r);
static int64_t ngx_http_trigger_reply_int(redisReply *r, int64_t dflt);


/*
 * KEYS: the queue, the leases.  ARGV: now, jobs at most, lease seconds,
 * the key prefix.  Jobs whose lease ended go back to the queue first.
 * Each job comes with what its next step needs: the job's fields, its
 * contact's, whether the code was used, the visitor's purchases, cart
 * and viewed products, and whether the address is suppressed.  Last,
 * when the next job is due.
 */

ngx_http_trigger_script_t  ngx_http_trigger_claim_script = {
    ngx_string(
    "local now, max = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local lease, pre = tonumber(ARGV[3]), ARGV[4]\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now,\n"
    "                               'LIMIT', 0, 1000)) do\n"
    "  redis.call('ZREM', KEYS[2], id)\n"
    "  redis.call('ZADD', KEYS[1], now, id)\n"
    "end\n"
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now,\n"
    "                               'LIMIT', 0, max)) do\n"
    "  redis.call('ZREM', KEYS[1], id)\n"
    "  redis.call('ZADD', KEYS[2], now + lease, id)\n"
    "  local j = redis.call('HMGET', pre .. 'job:' .. id, 'chain', 'version',\n"
    "                       'pc', 'variant', 'started', 'attempts', 'p0')\n"
    "  local sha = string.sub(id, 1, 40)\n"
    "  local c = redis.call('HMGET', pre .. 'email:' .. sha, 'email', 'vid',\n"
    "                       'code', 'code_expires', 'tz', 'lang',\n"
    "                       'discount', 'cn', 'cs')\n"
    "  local used, bought, cart, viewed = 0, 0, {}, {}\n"
    "  if c[3] then\n"
    "    used = tonumber(redis.call('HGET', pre .. 'code:' .. c[3],\n"
    "                               'used')) or 0\n"
    "  end\n"
    "  if c[2] then\n"
    "    local v = redis.call('HGETALL', pre .. '{' .. c[2] .. '}')\n"
    "    local h = {}\n"
    "    for i = 1, #v, 2 do\n"
    "      h[v[i]] = v[i + 1]\n"
    "      if string.sub(v[i], 1, 2) == 'c:' then\n"
    "        cart[#cart + 1] = string.sub(v[i], 3)\n"
    "      end\n"
    "    end\n"
    "    bought = tonumber(h.p) or 0\n"
    "    while h['v' .. (#viewed + 1)] do\n"
    "      viewed[#viewed + 1] = h['v' .. (#viewed + 1)]\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = {id, now + lease, j, c, used, bought,\n"
    "    redis.call('SISMEMBER', pre .. 'suppressed', sha), cart, viewed}\n"
    "end\n"
    "local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "return {out, tonumber(nxt[2]) or 0}\n"),
    { 0 }
};


/*
 * KEYS: the queue, the leases, the dead letters.  ARGV: now, the job's
 * id, its lease, the key prefix, the outcome (next, done, dead), pc,
 * due, variant, attempts, error, then for a letter that went out: its
 * record's key, the letter, its pc, the provider, the provider's
 * message id, the contact's cap count and its start, how long records
 * are kept.  A job whose lease is no longer this worker's (it ended and
 * another took the job) is left alone.
 */

ngx_http_trigger_script_t  ngx_http_trigger_finish_script = {
    ngx_string(
    "local now, id, pre, o = ARGV[1], ARGV[2], ARGV[4], ARGV[5]\n"
    "local lease = redis.call('ZSCORE', KEYS[2], id)\n"
    "if not lease or tonumber(lease) ~= tonumber(ARGV[3]) then\n"
    "  return 0\n"
    "end\n"
    "redis.call('ZREM', KEYS[2], id)\n"
    "local jk = pre .. 'job:' .. id\n"
    "if ARGV[11] and ARGV[11] ~= '' then\n"
    "  redis.call('HSET', ARGV[11], 'job', id, 'letter', ARGV[12],\n"
    "             'pc', ARGV[13], 'provider', ARGV[14], 'id', ARGV[15],\n"
    "             'status', 'sent', 'at', now)\n"
    "  redis.call('EXPIRE', ARGV[11], ARGV[18])\n"
    "  if ARGV[15] ~= '' then\n"
    "    redis.call('SET', pre .. 'msg:' .. ARGV[15], ARGV[11],\n"
    "               'EX', ARGV[18])\n"
    "  end\n"
    "  redis.call('HINCRBY', jk, 'sent', 1)\n"
    "  redis.call('HSET', pre .. 'email:' .. string.sub(id, 1, 40),\n"
    "             'cn', ARGV[16], 'cs', ARGV[17], 'last_letter', ARGV[11])\n"
    "end\n"
    "if o == 'done' then\n"
    "  redis.call('DEL', jk)\n"
    "elseif o == 'dead' then\n"
    "  redis.call('HSET', jk, 'pc', ARGV[6], 'attempts', ARGV[9],\n"
    "             'error', ARGV[10], 'died', now)\n"
    "  redis.call('ZADD', KEYS[3], now, id)\n"
    "else\n"
    "  redis.call('HSET', jk, 'pc', ARGV[6], 'variant', ARGV[8],\n"
    "             'attempts', ARGV[9], 'error', ARGV[10])\n"
    "  redis.call('ZADD', KEYS[1], ARGV[7], id)\n"
    "end\n"
    "return 1\n"),
    { 0 }
};


ngx_int_t
ngx_http_trigger_queue_claim(ngx_http_trigger_redis_t *rd, ngx_str_t *prefix,
    ngx_uint_t max, time_t lease, ngx_http_trigger_claim_pt handler,
    void *data)
{
    u_char                        *p, key[64 + 16];
    ngx_http_trigger_claim_t      *claim;
    ngx_http_trigger_redis_cmd_t  *cmd;

    claim = ngx_alloc(sizeof(ngx_http_trigger_claim_t), ngx_cycle->log);
    if (claim == NULL) {
        return NGX_ERROR;
    }

    claim->handler = handler;
    claim->data = data;

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_claim_script,
                                            7, 1 + 2 * sizeof(key)
                                               + 3 * NGX_INT64_LEN
                                               + prefix->len);
    if (cmd == NULL) {
        ngx_free(claim);
        return NGX_ERROR;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "2", 1);
    p = ngx_sprintf(key, "%Vqueue", prefix);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);
    p = ngx_sprintf(key, "%Vleases", prefix);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);
    ngx_http_trigger_redis_cmd_arg_int(cmd, ngx_time());
    ngx_http_trigger_redis_cmd_arg_int(cmd, max);
    ngx_http_trigger_redis_cmd_arg_int(cmd, lease);
    ngx_http_trigger_redis_cmd_arg(cmd, prefix->data, prefix->len);

    if (ngx_http_trigger_redis_eval(rd, cmd, ngx_http_trigger_queue_claimed,
                                    claim)
        != NGX_OK)
    {
        ngx_free(claim);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_trigger_queue_claimed(void *data, redisReply *reply)
{
    int64_t                    next;
    ngx_uint_t                 i, n;
    redisReply                *list;
    ngx_http_trigger_job_t   **jobs, *job;
    ngx_http_trigger_claim_t  *claim = data;

    jobs = NULL;
    n = 0;
    next = 0;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_ARRAY)
    {
        list = reply->element[0];
        next = ngx_http_trigger_reply_int(reply->element[1], 0);

        if (list->elements) {
            jobs = ngx_alloc(list->elements * sizeof(ngx_http_trigger_job_t *),
                             ngx_cycle->log);
        }

        for (i = 0; jobs && i < list->elements; i++) {
            job = ngx_http_trigger_queue_job(list->element[i]);

            /*
             * a job that cannot be read stays leased: it comes back when
             * the lease ends, and is logged by the sender then
             */
            if (job) {
                jobs[n++] = job;
            }
        }
    }

    claim->handler(claim->data, jobs, n, next);

    ngx_free(claim);
}


/* {id, lease, job fields, contact fields, used, bought, suppressed,
 *  cart, viewed} */

static ngx_http_trigger_job_t *
ngx_http_trigger_queue_job(redisReply *r)
{
    u_char                  *pos, *end;
    ngx_uint_t               i;
    redisReply              *j, *c, *e;
    ngx_str_t                s;
    ngx_http_trigger_job_t  *job;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 9
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[0]->len > NGX_HTTP_TRIGGER_JOB_ID_MAX
        || r->element[2]->type != REDIS_REPLY_ARRAY
        || r->element[2]->elements != 7
        || r->element[3]->type != REDIS_REPLY_ARRAY
        || r->element[3]->elements != 9
        || r->element[7]->type != REDIS_REPLY_ARRAY
        || r->element[8]->type != REDIS_REPLY_ARRAY)
    {
        return NULL;
    }

    job = ngx_alloc(sizeof(ngx_http_trigger_job_t)
                    + NGX_HTTP_TRIGGER_JOB_STRINGS, ngx_cycle->log);
    if (job == NULL) {
        return NULL;
    }

    ngx_memzero(job, sizeof(ngx_http_trigger_job_t));

    pos = (u_char *) job + sizeof(ngx_http_trigger_job_t);
    end = pos + NGX_HTTP_TRIGGER_JOB_STRINGS;

    job->id_len = r->element[0]->len;
    ngx_memcpy(job->id, r->element[0]->str, job->id_len);
    job->lease = ngx_http_trigger_reply_int(r->element[1], 0);

    j = r->element[2];
    c = r->element[3];

    if (ngx_http_trigger_job_str(job, &pos, end, &job->chain, j->element[0])
        != NGX_OK
        || ngx_http_trigger_job_str(job, &pos, end, &job->email,
                                    c->element[0]) != NGX_OK
        || ngx_http_trigger_job_str(job, &pos, end, &job->vid, c->element[1])
           != NGX_OK
        || ngx_http_trigger_job_str(job, &pos, end, &job->code,
                                    c->element[2]) != NGX_OK
        || ngx_http_trigger_job_str(job, &pos, end, &job->tz, c->element[4])
           != NGX_OK
        || ngx_http_trigger_job_str(job, &pos, end, &job->lang,
                                    c->element[5]) != NGX_OK
        || ngx_http_trigger_job_str(job, &pos, end, &job->discount,
                                    c->element[6]) != NGX_OK)
    {
        ngx_free(job);
        return NULL;
    }

    job->version = ngx_http_trigger_reply_int(j->element[1], 0);
    job->pc = (int32_t) ngx_http_trigger_reply_int(j->element[2], 0);
    job->variant = (int) ngx_http_trigger_reply_int(j->element[3], -1);
    job->started = ngx_http_trigger_reply_int(j->element[4], 0);
    job->attempts = ngx_http_trigger_reply_int(j->element[5], 0);
    job->purchases_then = ngx_http_trigger_reply_int(j->element[6], 0);

    job->code_expires = ngx_http_trigger_reply_int(c->element[3], 0);
    job->cap_sent = ngx_http_trigger_reply_int(c->element[7], 0);
    job->cap_start = ngx_http_trigger_reply_int(c->element[8], 0);

    job->code_used = ngx_http_trigger_reply_int(r->element[4], 0) != 0;
    job->purchases = ngx_http_trigger_reply_int(r->element[5], 0);
    job->suppressed = ngx_http_trigger_reply_int(r->element[6], 0) != 0;

    for (i = 0; i < r->element[7]->elements
                && job->ncart < NGX_HTTP_TRIGGER_JOB_ITEMS; i++)
    {
        e = r->element[7]->element[i];

        if (ngx_http_trigger_job_str(job, &pos, end, &s, e) == NGX_OK
            && s.len)
        {
            job->cart[job->ncart++] = s;
        }
    }

    for (i = 0; i < r->element[8]->elements
                && job->nviewed < NGX_HTTP_TRIGGER_JOB_ITEMS; i++)
    {
        e = r->element[8]->element[i];

        if (ngx_http_trigger_job_str(job, &pos, end, &s, e) == NGX_OK
            && s.len)
        {
            job->viewed[job->nviewed++] = s;
        }
    }

    return job;
}


/* a copy, NUL-terminated; a nil reply is an empty string */

static ngx_int_t
ngx_http_trigger_job_str(ngx_http_trigger_job_t *job, u_char **pos,
    u_char *end, ngx_str_t *dst, redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING) {
        dst->data = (u_char *) "";
        dst->len = 0;
        return r->type == REDIS_REPLY_NIL ? NGX_OK : NGX_ERROR;
    }

    if ((size_t) (end - *pos) < r->len + 1) {
        return NGX_ERROR;
    }

    dst->data = *pos;
    dst->len = r->len;
    *pos = ngx_cpymem(*pos, r->str, r->len);
    *(*pos)++ = '\0';

    return NGX_OK;
}


static int64_t
ngx_http_trigger_reply_int(redisReply *r, int64_t dflt)
{
    ngx_int_t  n, sign;

    if (r->type == REDIS_REPLY_INTEGER) {
        return r->integer;
    }

    if (r->type != REDIS_REPLY_STRING || r->len == 0) {
        return dflt;
    }

    sign = (r->str[0] == '-');

    n = ngx_atoi((u_char *) r->str + sign, r->len - sign);

    if (n == NGX_ERROR) {
        return dflt;
    }

    return sign ? -n : n;
}


ngx_int_t
ngx_http_trigger_queue_finish(ngx_http_trigger_redis_t *rd,
    ngx_str_t *prefix, ngx_http_trigger_job_t *job,
    ngx_http_trigger_job_end_t *end)
{
    u_char                        *p, key[64 + 16];
    u_char                         letter[NGX_HTTP_TRIGGER_LETTER_KEY_MAX];
    size_t                         size;
    ngx_http_trigger_redis_cmd_t  *cmd;

    size = 1 + 3 * sizeof(key) + sizeof(letter) + job->id_len + prefix->len + 16
           + 12 * NGX_INT64_LEN
           + (end->error ? ngx_strlen(end->error) : 0);

    if (end->letter) {
        size += ngx_strlen(end->letter) + ngx_strlen(end->provider)
                + ngx_strlen(end->message_id)
                + prefix->len + 8 + job->id_len + 2 * NGX_INT64_LEN + 2;
    }

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_finish_script,
                                            4 + 18, size);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "3", 1);
    p = ngx_sprintf(key, "%Vqueue", prefix);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);
    p = ngx_sprintf(key, "%Vleases", prefix);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);
    p = ngx_sprintf(key, "%Vdead", prefix);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);

    ngx_http_trigger_redis_cmd_arg_int(cmd, ngx_time());
    ngx_http_trigger_redis_cmd_arg(cmd, job->id, job->id_len);
    ngx_http_trigger_redis_cmd_arg_int(cmd, job->lease);
    ngx_http_trigger_redis_cmd_arg(cmd, prefix->data, prefix->len);
    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) end->outcome,
                                   ngx_strlen(end->outcome));
    ngx_http_trigger_redis_cmd_arg_int(cmd, end->pc);
    ngx_http_trigger_redis_cmd_arg_int(cmd, end->due);
    ngx_http_trigger_redis_cmd_arg_int(cmd, end->variant);
    ngx_http_trigger_redis_cmd_arg_int(cmd, end->attempts);
    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) (end->error ? end->error
                                                               : ""),
                                   end->error ? ngx_strlen(end->error) : 0);

    if (end->letter) {
        /* one record per letter: the chain's run (started) and its step */
        p = ngx_http_trigger_queue_letter_key(letter, prefix, job,
                                              end->letter_pc);
        ngx_http_trigger_redis_cmd_arg(cmd, letter, p - letter);
        ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) end->letter,
                                       ngx_strlen(end->letter));
        ngx_http_trigger_redis_cmd_arg_int(cmd, end->letter_pc);
        ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) end->provider,
                                       ngx_strlen(end->provider));
        ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) end->message_id,
                                       ngx_strlen(end->message_id));
        ngx_http_trigger_redis_cmd_arg_int(cmd, end->cap_sent);
        ngx_http_trigger_redis_cmd_arg_int(cmd, end->cap_start);
        ngx_http_trigger_redis_cmd_arg_int(cmd,
                                           NGX_HTTP_TRIGGER_LETTER_TTL);
    }

    return ngx_http_trigger_redis_eval(rd, cmd, NULL, NULL);
}


u_char *
ngx_http_trigger_queue_letter_key(u_char *buf, ngx_str_t *prefix,
    ngx_http_trigger_job_t *job, int32_t pc)
{
    return ngx_sprintf(buf, "%Vletter:%*s:%L:%D", prefix, job->id_len,
                       job->id, job->started, pc);
}


/*
 * KEYS: the contacts with new events, the contacts' "lapse" checks.
 * ARGV: now, contacts at most, the key prefix, the chains that look at
 * behaviour, the chains' lapse thresholds (shortest first), and how many
 * thresholds there are.  A due lapse check becomes a "lapse" event
 * (seconds since the visitor's last activity) and the next threshold's
 * check.  Each contact comes with its subscription's state, when it was
 * checked before (and is now), whether it is suppressed, its visitor's
 * purchases, its recent events, and per chain the time of the event
 * that last started it (an event starts a chain once).
 */

ngx_http_trigger_script_t  ngx_http_trigger_triggers_script = {
    ngx_string(
    "local now, max, pre = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]\n"
    "local nl = tonumber(ARGV[#ARGV])\n"
    "for _, em in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now,\n"
    "                               'LIMIT', 0, max)) do\n"
    "  redis.call('ZREM', KEYS[2], em)\n"
    "  local vid = redis.call('HGET', pre .. 'email:' .. em, 'vid')\n"
    "  local vk = vid and pre .. '{' .. vid .. '}'\n"
    "  local l = vk and tonumber(redis.call('HGET', vk, 'l'))\n"
    "  if l then\n"
    "    local hk = pre .. 'hist:' .. em\n"
    "    redis.call('RPUSH', hk, 'lapse ' .. now .. ' 0 0 ' .. (now - l)\n"
    "                            .. ' -')\n"
    "    redis.call('LTRIM', hk, -20, -1)\n"
    "    redis.call('ZADD', KEYS[1], now, em)\n"
    "    for i = #ARGV - nl, #ARGV - 1 do\n"
    "      if tonumber(ARGV[i]) > now - l then\n"
    "        redis.call('ZADD', KEYS[2], l + tonumber(ARGV[i]), em)\n"
    "        break\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local out = {}\n"
    "for _, em in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now,\n"
    "                               'LIMIT', 0, max)) do\n"
    "  redis.call('ZREM', KEYS[1], em)\n"
    "  local rk = pre .. 'email:' .. em\n"
    "  local c = redis.call('HMGET', rk, 'state', 'vid', 'tc')\n"
    "  if c[1] then\n"
    "    redis.call('HSET', rk, 'tc', now)\n"
    "    local vk = c[2] and pre .. '{' .. c[2] .. '}'\n"
    "    local p = vk and redis.call('HGET', vk, 'p')\n"
    "    local fired = {}\n"
    "    for i = 4, #ARGV - nl do\n"
    "      local f = redis.call('HGET', rk, 'f:' .. ARGV[i])\n"
    "      fired[#fired + 1] = tonumber(f) or 0\n"
    "    end\n"
    "    out[#out + 1] = {em, c[1], tonumber(c[3]) or 0,\n"
    "      redis.call('SISMEMBER', pre .. 'suppressed', em),\n"
    "      tonumber(p) or 0,\n"
    "      redis.call('LRANGE', pre .. 'hist:' .. em, 0, -1), fired}\n"
    "  end\n"
    "end\n"
    "return out\n"),
    { 0 }
};


/*
 * KEYS: the queue.  ARGV: now, the key prefix, the address's digest, its
 * visitor's purchases, then per chain to start its name and the time of
 * the event that started it: one chain of a kind per contact at a time,
 * as a subscription starts them, and one start per event.
 */

ngx_http_trigger_script_t  ngx_http_trigger_start_script = {
    ngx_string(
    "local rk = ARGV[2] .. 'email:' .. ARGV[3]\n"
    "for i = 5, #ARGV, 2 do\n"
    "  local id = ARGV[3] .. ':' .. ARGV[i]\n"
    "  local jk = ARGV[2] .. 'job:' .. id\n"
    "  redis.call('HSET', rk, 'f:' .. ARGV[i], ARGV[i + 1])\n"
    "  if redis.call('EXISTS', jk) == 0 then\n"
    "    redis.call('HSET', jk, 'chain', ARGV[i], 'pc', 0, 'variant', -1,\n"
    "               'started', ARGV[1], 'attempts', 0, 'p0', ARGV[4])\n"
    "    redis.call('ZADD', KEYS[1], ARGV[1], id)\n"
    "  end\n"
    "end\n"
    "return 1\n"),
    { 0 }
};


typedef struct {
    ngx_http_trigger_triggers_pt   handler;
    void                          *data;
} ngx_http_trigger_triggers_t;


static void ngx_http_trigger_queue_triggered(void *data, redisReply *reply);
static ngx_int_t ngx_http_trigger_queue_event(redisReply *r,
    ngx_http_trigger_chain_event_t *ev);


ngx_int_t
ngx_http_trigger_queue_triggers(ngx_http_trigger_redis_t *rd,
    ngx_str_t *prefix, ngx_uint_t max, ngx_str_t *chains, ngx_uint_t nchains,
    int64_t *lapses, ngx_uint_t nlapses,
    ngx_http_trigger_triggers_pt handler, void *data)
{
    u_char                        *p, key[64 + 16];
    size_t                         names;
    ngx_uint_t                     i;
    ngx_http_trigger_triggers_t   *tr;
    ngx_http_trigger_redis_cmd_t  *cmd;

    tr = ngx_alloc(sizeof(ngx_http_trigger_triggers_t), ngx_cycle->log);
    if (tr == NULL) {
        return NGX_ERROR;
    }

    tr->handler = handler;
    tr->data = data;

    for (i = 0, names = 0; i < nchains; i++) {
        names += chains[i].len;
    }

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_triggers_script,
                                            7 + nchains + nlapses,
                                            1 + 2 * sizeof(key) + prefix->len
                                            + names
                                            + (3 + nlapses) * NGX_INT64_LEN);
    if (cmd == NULL) {
        ngx_free(tr);
        return NGX_ERROR;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "2", 1);
    p = ngx_sprintf(key, "%Vtriggers", prefix);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);
    p = ngx_sprintf(key, "%Vlapse", prefix);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);
    ngx_http_trigger_redis_cmd_arg_int(cmd, ngx_time());
    ngx_http_trigger_redis_cmd_arg_int(cmd, max);
    ngx_http_trigger_redis_cmd_arg(cmd, prefix->data, prefix->len);

    for (i = 0; i < nchains; i++) {
        ngx_http_trigger_redis_cmd_arg(cmd, chains[i].data, chains[i].len);
    }

    for (i = 0; i < nlapses; i++) {
        ngx_http_trigger_redis_cmd_arg_int(cmd, lapses[i]);
    }

    ngx_http_trigger_redis_cmd_arg_int(cmd, nlapses);

    if (ngx_http_trigger_redis_eval(rd, cmd, ngx_http_trigger_queue_triggered,
                                    tr)
        != NGX_OK)
    {
        ngx_free(tr);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* {digest, state, checked, suppressed, purchases, {events}} each */

static void
ngx_http_trigger_queue_triggered(void *data, redisReply *reply)
{
    ngx_uint_t                    i, j, n;
    redisReply                   *r, *hist;
    ngx_http_trigger_contact_t   *contacts, *c;
    ngx_http_trigger_triggers_t  *tr = data;

    contacts = NULL;
    n = 0;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements) {
        contacts = ngx_alloc(reply->elements
                             * sizeof(ngx_http_trigger_contact_t),
                             ngx_cycle->log);
    }

    for (i = 0; contacts && i < reply->elements; i++) {
        r = reply->element[i];

        if (r->type != REDIS_REPLY_ARRAY || r->elements != 7
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[0]->len != 40
            || r->element[1]->type != REDIS_REPLY_STRING
            || r->element[5]->type != REDIS_REPLY_ARRAY
            || r->element[6]->type != REDIS_REPLY_ARRAY)
        {
            continue;
        }

        c = &contacts[n];
        ngx_memzero(c, sizeof(ngx_http_trigger_contact_t));

        ngx_memcpy(c->digest, r->element[0]->str, 40);
        c->subscribed = (r->element[1]->len == 6
                         && ngx_strncmp(r->element[1]->str, "queued", 6)
                            == 0);
        c->checked = ngx_http_trigger_reply_int(r->element[2], 0);
        c->suppressed = ngx_http_trigger_reply_int(r->element[3], 0) != 0;
        c->purchases = ngx_http_trigger_reply_int(r->element[4], 0);

        hist = r->element[5];

        for (j = 0; j < hist->elements
                    && c->nhistory < NGX_HTTP_TRIGGER_HISTORY_MAX; j++)
        {
            if (ngx_http_trigger_queue_event(hist->element[j],
                                             &c->history[c->nhistory])
                == NGX_OK)
            {
                c->nhistory++;
            }
        }

        for (j = 0; j < r->element[6]->elements
                    && j < NGX_HTTP_TRIGGER_BEHAVIOUR_MAX; j++)
        {
            c->fired[j] = ngx_http_trigger_reply_int(r->element[6]->element[j],
                                                     0);
        }

        n++;
    }

    tr->handler(tr->data, contacts, n);

    if (contacts) {
        ngx_free(contacts);
    }

    ngx_free(tr);
}


/* "<type> <time> <depth> <duration> <away> <action or ->" */

static ngx_int_t
ngx_http_trigger_queue_event(redisReply *r, ngx_http_trigger_chain_event_t *ev)
{
    int        n;
    char       type[16], action[16];
    char       text[128];
    long long  t, depth, duration, away;

    if (r->type != REDIS_REPLY_STRING || r->len >= sizeof(text)) {
        return NGX_ERROR;
    }

    ngx_memcpy(text, r->str, r->len);
    text[r->len] = '\0';

    if (sscanf(text, "%15s %lld %lld %lld %lld %15s", type, &t, &depth,
               &duration, &away, action)
        != 6)
    {
        return NGX_ERROR;
    }

    ngx_memzero(ev, sizeof(ngx_http_trigger_chain_event_t));

    for (n = 0; n < NGX_HTTP_TRIGGER_CHAIN_EV_COUNT; n++) {
        if (ngx_strcmp(type, ngx_http_trigger_chain_event_names[n]) == 0) {
            break;
        }
    }

    if (n == NGX_HTTP_TRIGGER_CHAIN_EV_COUNT) {
        return NGX_ERROR;
    }

    ev->type = n;
    ev->time = t;
    ev->depth = depth;
    ev->duration = duration;
    ev->away = away;
    ev->action = ngx_strcmp(action, "like") == 0
                 ? NGX_HTTP_TRIGGER_CHAIN_SOCIAL_LIKE
                 : ngx_strcmp(action, "share") == 0
                 ? NGX_HTTP_TRIGGER_CHAIN_SOCIAL_SHARE
                 : ngx_strcmp(action, "invite") == 0
                 ? NGX_HTTP_TRIGGER_CHAIN_SOCIAL_INVITE
                 : NGX_HTTP_TRIGGER_CHAIN_SOCIAL_ANY;

    return NGX_OK;
}


ngx_int_t
ngx_http_trigger_queue_start(ngx_http_trigger_redis_t *rd, ngx_str_t *prefix,
    ngx_http_trigger_contact_t *contact, ngx_str_t *chains, int64_t *times,
    ngx_uint_t n)
{
    u_char                        *p, key[64 + 16];
    size_t                         size;
    ngx_uint_t                     i;
    ngx_http_trigger_redis_cmd_t  *cmd;

    size = 1 + sizeof(key) + prefix->len + 40 + 2 * NGX_INT64_LEN;

    for (i = 0; i < n; i++) {
        size += chains[i].len + NGX_INT64_LEN;
    }

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_start_script,
                                            6 + 2 * n, size);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "1", 1);
    p = ngx_sprintf(key, "%Vqueue", prefix);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);
    ngx_http_trigger_redis_cmd_arg_int(cmd, ngx_time());
    ngx_http_trigger_redis_cmd_arg(cmd, prefix->data, prefix->len);
    ngx_http_trigger_redis_cmd_arg(cmd, contact->digest, 40);
    ngx_http_trigger_redis_cmd_arg_int(cmd, contact->purchases);

    for (i = 0; i < n; i++) {
        ngx_http_trigger_redis_cmd_arg(cmd, chains[i].data, chains[i].len);
        ngx_http_trigger_redis_cmd_arg_int(cmd, times[i]);
    }

    return ngx_http_trigger_redis_eval(rd, cmd, NULL, NULL);
}
