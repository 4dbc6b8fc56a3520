/*
 * The visitors' zone: each active visitor's state in shared memory (a
 * slab pool, a hash table by visitor id, an LRU queue), and a journal of
 * every change (a ring of records in the same zone) that a worker writes
 * to Redis in one script call, on a short timer or when it fills.  The
 * batch script applies each visitor's changes in order with the tracking
 * script's own Lua, so that Redis ends as the requests' scripts would
 * have left it; each record carries a sequence number, and Redis keeps
 * the last one applied, so a batch sent twice (its reply lost) counts
 * once.
 */


#include <signal.h>

#include "ngx_http_trigger_zone.h"
#include "ngx_http_trigger_track.h"
#include "ngx_http_trigger_visitor.h"
#include "ngx_http_trigger_vstate.h"


/* where a record's fields are */
#define NGX_HTTP_TRIGGER_ZR_SEQ          2
#define NGX_HTTP_TRIGGER_ZR_VID          10
#define NGX_HTTP_TRIGGER_ZR_NOW          (10 + NGX_HTTP_TRIGGER_VID_LEN)
#define NGX_HTTP_TRIGGER_ZR_VERSION      (14 + NGX_HTTP_TRIGGER_VID_LEN)
#define NGX_HTTP_TRIGGER_ZR_CHANGED      (18 + NGX_HTTP_TRIGGER_VID_LEN)
#define NGX_HTTP_TRIGGER_ZR_KIND         (22 + NGX_HTTP_TRIGGER_VID_LEN)
/* records a batch takes at most, in bytes */
#define NGX_HTTP_TRIGGER_ZONE_BATCH      (256 * 1024)
#define NGX_HTTP_TRIGGER_ZONE_JOURNAL_MIN  (64 * 1024)
/* a flusher that has not been heard of for so long has died */
#define NGX_HTTP_TRIGGER_ZONE_LEASE      5000
/* a worker that stops writes what the journal held, for so long */
#define NGX_HTTP_TRIGGER_ZONE_EXIT       3000
/*
 * A record's fixed part: length, seq, vid, now, the visitor's version it
 * was made on, what it changed, kind, arg, fresh, n.
 */
#define NGX_HTTP_TRIGGER_ZONE_RECORD     (2 + 8 + NGX_HTTP_TRIGGER_VID_LEN + 4 \
                                          + 4 + 4 + 4)
/* what a record changed: the fields' bits (1 << field), and these */
#define NGX_HTTP_TRIGGER_ZONE_VIEWED     (1 << 16)
/* the TTL refresh was due */
#define NGX_HTTP_TRIGGER_ZONE_TOUCHED    (1 << 17)
/* only the script can apply it: no entry, the cart, a mark, ... */
#define NGX_HTTP_TRIGGER_ZONE_SLOW       (1 << 18)
#define NGX_HTTP_TRIGGER_ZONE_EVENT                                         \
    (3 + NGX_HTTP_TRIGGER_ID_MAX + NGX_HTTP_TRIGGER_PROMO_MAX + 8)


typedef struct ngx_http_trigger_zone_node_s  ngx_http_trigger_zone_node_t;

struct ngx_http_trigger_zone_node_s {
    /* the next entry in its bucket, the crc32 of its id */
    ngx_http_trigger_zone_node_t  *next;
    uint32_t                       hash;
    ngx_queue_t                    queue;
    u_char                         vid[NGX_HTTP_TRIGGER_VID_LEN];
    uint16_t                       len;
    uint16_t                       cap;
    /* changed apart from the journal (or its records lost) */
    u_char                         unsynced;
    /* when its state was read from Redis (ngx_current_msec) */
    ngx_msec_t                     fetched;
    /* its last record in the journal */
    uint64_t                       jseq;
    int64_t                        f[NGX_HTTP_TRIGGER_VS_COUNT];
    u_char                         code[NGX_HTTP_TRIGGER_CODE_LEN];
    u_char                         code_len;
    /* the viewed list and the cart, packed (ngx_http_trigger_vstate.c) */
    u_char                         items[1];
};


typedef struct {
    /* a power of two of buckets: one cache miss a lookup, not a tree's */
    ngx_http_trigger_zone_node_t **buckets;
    uint32_t                       mask;
    ngx_queue_t                    lru;

    /* the journal: absolute byte positions in a ring */
    u_char                        *ring;
    size_t                         size;
    uint64_t                       head;
    uint64_t                       tail;
    /* the last record's sequence number, the last one Redis has */
    uint64_t                       seq;
    uint64_t                       acked;
    uint64_t                       dropped;

    /* one flusher at a time: the end of what it has sent, its lease */
    ngx_pid_t                      flusher;
    ngx_msec_t                     lease;
    uint64_t                       flight_end;

    /* names this nginx's journal in Redis */
    uint64_t                       instance;
    /* the key prefix the entries are of */
    uint32_t                       prefix;
} ngx_http_trigger_zone_sh_t;


struct ngx_http_trigger_zone_s {
    ngx_http_trigger_zone_sh_t    *sh;
    ngx_slab_pool_t               *shpool;
    size_t                         journal;
    ngx_http_trigger_main_conf_t  *conf;
};


typedef struct {
    ngx_queue_t                    queue;
    ngx_http_trigger_redis_cmd_t  *cmd;
} ngx_http_trigger_zone_wait_t;


typedef struct {
    uint64_t                       end;
    uint64_t                       seq;
} ngx_http_trigger_zone_batch_t;


/* a visitor's records in a batch */
typedef struct {
    u_char                       **rec;
    ngx_uint_t                     n;
    /* the version the first was made on, what they changed */
    uint32_t                       version;
    uint32_t                       changed;
    uint64_t                       last;
    /* the TTL its key gets, if any */
    time_t                         expire;
} ngx_http_trigger_zone_group_t;


static ngx_int_t ngx_http_trigger_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_trigger_zone_node_t *ngx_http_trigger_zone_lookup(
    ngx_http_trigger_zone_t *z, u_char *vid);
static ngx_http_trigger_zone_node_t *ngx_http_trigger_zone_find(
    ngx_http_trigger_zone_t *z, u_char *vid);
static void ngx_http_trigger_zone_unlink(ngx_http_trigger_zone_t *z,
    ngx_http_trigger_zone_node_t *node);
static ngx_http_trigger_zone_node_t *ngx_http_trigger_zone_store(
    ngx_http_trigger_zone_t *z, ngx_http_trigger_zone_node_t *node,
    u_char *vid, ngx_http_trigger_vstate_t *st);
static void ngx_http_trigger_zone_load(ngx_http_trigger_zone_node_t *node,
    ngx_http_trigger_vstate_t *st);
static ngx_uint_t ngx_http_trigger_zone_append(ngx_http_trigger_zone_t *z,
    u_char *vid, u_char kind, u_char arg, u_char fresh, uint32_t version,
    uint32_t changed, ngx_http_trigger_event_t *events, ngx_uint_t n);
static uint32_t ngx_http_trigger_zone_version(
    ngx_http_trigger_zone_node_t *node);
static ngx_uint_t ngx_http_trigger_zone_record(ngx_http_trigger_ctx_t *ctx,
    ngx_http_trigger_zone_node_t *node, ngx_http_trigger_event_t *events,
    ngx_uint_t n, ngx_uint_t pageview, ngx_uint_t wait);
static void ngx_http_trigger_zone_items(ngx_http_trigger_ctx_t *ctx);
static void ngx_http_trigger_zone_parse(ngx_http_trigger_ctx_t *ctx,
    void *reply);
static void ngx_http_trigger_zone_appended(ngx_uint_t dropped);
static ngx_int_t ngx_http_trigger_zone_flush(ngx_uint_t all);
static ngx_http_trigger_redis_cmd_t *ngx_http_trigger_zone_batch(u_char *buf,
    u_char *end, ngx_uint_t *records);
static ngx_uint_t ngx_http_trigger_zone_group(u_char **recs, ngx_uint_t i,
    ngx_uint_t n, ngx_http_trigger_zone_group_t *g);
static int ngx_libc_cdecl ngx_http_trigger_zone_cmp(const void *one,
    const void *two);
static void ngx_http_trigger_zone_batch_reply(void *data, redisReply *reply);
static void ngx_http_trigger_zone_timer(ngx_event_t *ev);
static void ngx_http_trigger_zone_arm(void);
static void ngx_http_trigger_zone_release(void);
static void ngx_http_trigger_ring_write(ngx_http_trigger_zone_sh_t *sh,
    uint64_t pos, u_char *src, size_t n);
static void ngx_http_trigger_ring_read(ngx_http_trigger_zone_sh_t *sh,
    uint64_t pos, u_char *dst, size_t n);


/*
 * KEYS: the journals' hash (each nginx's last record applied).  ARGV:
 * the key prefix, visit timeout, ttl, viewed max, cart max, cap period,
 * a new visitor's ttl, history ttl, lapse, this nginx's journal (its
 * zone's random id), the batch's first and last sequence numbers, then
 * per visitor: its key, the version ("w") its records were made on ("":
 * none to check), the count of the arguments that follow before its
 * records: the version after them, the fields and their values after
 * them, and when the count is even, the expiry to set (negative: its
 * orders' too); then its records in one string: per record its
 * sequence number, now, the kind ("t" tracked: arg = page view 0/1,
 * fresh = a new visitor 0/1; "u" a page view taken back; "m" the offer
 * group drawn: arg = "t" or "c"), arg, fresh, the events' count, then per
 * event: code, id, number, "-".  A visitor whose hash is still at that
 * version (nobody else wrote it since) gets the fields in one HSET; any
 * other has its records applied in order by the tracking script's
 * functions.  Returns the last record applied.  Purchases are never
 * journaled: their order ids and codes are checked as they come.
 */

const char  ngx_http_trigger_batch_call[] =
    "local prefix, fresh_ttl = ARGV[1], tonumber(ARGV[7])\n"
    "P.visit_timeout, P.ttl = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "P.viewed_max, P.cart_max = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "P.cap_period, P.hist_ttl = tonumber(ARGV[6]), tonumber(ARGV[8])\n"
    "P.lapse = tonumber(ARGV[9])\n"
    "local done = tonumber(redis.call('HGET', KEYS[1], ARGV[10])) or 0\n"
    "local fast = tonumber(ARGV[11]) > done\n"
    "local function code(promo) return prefix .. 'code:' .. promo end\n"
    "local function full(key, recs)\n"
    "  local t, light, st, j = {}, true, nil, 1\n"
    "  for w in string.gmatch(recs, '%S+') do t[#t + 1] = w end\n"
    "  while j <= #t do\n"
    "    if t[j + 5] ~= '0' or t[j + 2] == 'm' then light = false end\n"
    "    j = j + 6 + 4 * t[j + 5]\n"
    "  end\n"
    "  j = 1\n"
    "  while j <= #t do\n"
    "    local nows, kind, arg = t[j + 1], t[j + 2], t[j + 3]\n"
    "    local last = j + 5 + 4 * t[j + 5]\n"
    "    if tonumber(t[j]) > done then\n"
    "      st = st or load(key, key .. ':o', light)\n"
    "      if kind == 't' then\n"
    "        local fresh = t[j + 4] == '1' and fresh_ttl or 0\n"
    "        apply(st, tonumber(nows), nows, tonumber(arg), fresh, t, j + 6,\n"
    "              last, code)\n"
    "      else\n"
    "        st.nw = st.nw + 1\n"
    "        if kind == 'u' then\n"
    "          local d = tonumber(st.h.d)\n"
    "          if d and d > 0 then set(st, 'd', d - 1) end\n"
    "        elseif not st.h.h then\n"
    "          set(st, 'h', arg); set(st, 'e', nows)\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    j = last + 1\n"
    "  end\n"
    "  if st then store(st) end\n"
    "end\n"
    "local i, n = 13, #ARGV\n"
    "while i <= n do\n"
    "  local key, ver = ARGV[i], ARGV[i + 1]\n"
    "  local nf, hit = tonumber(ARGV[i + 2]), false\n"
    "  if fast and ver ~= '' then\n"
    "    if P.hist_ttl > 0 then\n"
    "      local v = redis.call('HMGET', key, 'w', 'em')\n"
    "      hit = (v[1] or '0') == ver and not v[2]\n"
    "    else\n"
    "      hit = (redis.call('HGET', key, 'w') or '0') == ver\n"
    "    end\n"
    "  end\n"
    "  if hit then\n"
    "    local e = i + 2 + nf\n"
    "    if nf % 2 == 0 then e = e - 1 end\n"
    "    redis.call('HSET', key, 'w', ARGV[i + 3], unpack(ARGV, i + 4, e))\n"
    "    if nf % 2 == 0 then\n"
    "      local exp = tonumber(ARGV[e + 1])\n"
    "      redis.call('EXPIRE', key, math.abs(exp))\n"
    "      if exp < 0 then redis.call('EXPIRE', key .. ':o', P.ttl) end\n"
    "    end\n"
    "  else\n"
    "    full(key, ARGV[i + 3 + nf])\n"
    "  end\n"
    "  i = i + 4 + nf\n"
    "end\n"
    "local top = math.max(done, tonumber(ARGV[12]))\n"
    "redis.call('HSET', KEYS[1], ARGV[10], top)\n"
    "redis.call('EXPIRE', KEYS[1], 86400)\n"
    "return top\n";

ngx_http_trigger_script_t  ngx_http_trigger_batch_script;


/* a visitor's hash, for a visitor the zone does not have fresh */

ngx_http_trigger_script_t  ngx_http_trigger_read_script = {
    ngx_string("return redis.call('HGETALL', KEYS[1])\n"),
    { 0 }
};


static ngx_http_trigger_main_conf_t  *ngx_http_trigger_zone_conf;
static ngx_http_trigger_zone_t       *ngx_http_trigger_zone;
/* a visitor's state being worked on: one at a time in a worker */
static ngx_http_trigger_vstate_t      ngx_http_trigger_zone_st;
/* the tracking rules' settings, taken from the configuration once */
static ngx_http_trigger_vparams_t     ngx_http_trigger_zone_params;
/* an entry's state for a batch */
static ngx_http_trigger_vstate_t      ngx_http_trigger_zone_fst;
static u_char                        *ngx_http_trigger_zone_buf;
static ngx_event_t                    ngx_http_trigger_zone_ev;
static ngx_connection_t               ngx_http_trigger_zone_dummy;
/* this worker's batches in flight */
static ngx_uint_t                     ngx_http_trigger_zone_flights;
/* commands that wait for another worker's batch to be written first */
static ngx_queue_t                    ngx_http_trigger_zone_waiting;
static ngx_msec_t                     ngx_http_trigger_zone_exit;
static uint64_t                       ngx_http_trigger_zone_exit_seq;
static time_t                         ngx_http_trigger_zone_log_dropped;


char *
ngx_http_trigger_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_trigger_main_conf_t *tmcf = conf;

    u_char                   *p;
    ssize_t                   size, journal;
    ngx_str_t                *value, name, s;
    ngx_shm_zone_t           *shm_zone;
    ngx_http_trigger_zone_t  *z;

    if (tmcf->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');
    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", \"name:size\" expected",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR || size < (ssize_t) (64 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small, at least %uz bytes",
                           &value[1], 64 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    journal = size / 4;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "journal=", 8) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 8;
        s.len = value[2].len - 8;

        journal = ngx_parse_size(&s);

        if (journal == NGX_ERROR
            || journal < NGX_HTTP_TRIGGER_ZONE_JOURNAL_MIN
            || journal > size / 2)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid journal size \"%V\": from %uz "
                               "bytes to half the zone",
                               &value[2],
                               (size_t) NGX_HTTP_TRIGGER_ZONE_JOURNAL_MIN);
            return NGX_CONF_ERROR;
        }
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_trigger_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }

    z->journal = journal;
    z->conf = tmcf;

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_trigger_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_trigger_zone_init;
    shm_zone->data = z;

    tmcf->zone = z;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_trigger_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_trigger_zone_t  *oz = data;

    size_t                          len, n;
    uint32_t                        prefix;
    uint64_t                        instance;
    ngx_queue_t                    *q;
    ngx_http_trigger_zone_t        *z;
    ngx_http_trigger_zone_sh_t     *sh;
    ngx_http_trigger_zone_node_t   *zn;

    z = shm_zone->data;
    prefix = ngx_crc32_short(z->conf->key_prefix.data,
                             z->conf->key_prefix.len);

    /*
     * A reload keeps the visitors and the journal, unless the keys
     * changed: the entries are another shop's then.
     */

    if (oz) {
        z->sh = oz->sh;
        z->shpool = oz->shpool;

        if (z->sh->prefix != prefix) {
            ngx_shmtx_lock(&z->shpool->mutex);

            while (!ngx_queue_empty(&z->sh->lru)) {
                q = ngx_queue_head(&z->sh->lru);
                zn = ngx_queue_data(q, ngx_http_trigger_zone_node_t, queue);
                ngx_queue_remove(q);
                ngx_slab_free_locked(z->shpool, zn);
            }

            ngx_memzero(z->sh->buckets,
                        (z->sh->mask + 1) * sizeof(z->sh->buckets[0]));

            z->sh->prefix = prefix;

            ngx_shmtx_unlock(&z->shpool->mutex);
        }

        return NGX_OK;
    }

    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        z->sh = z->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(z->shpool, sizeof(ngx_http_trigger_zone_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_trigger_zone_sh_t));

    ngx_queue_init(&sh->lru);

    /* a bucket for every 256 bytes of the zone: entries take more */
    for (n = 1024; n < shm_zone->shm.size / 256; n *= 2) { /* void */ }

    sh->buckets = ngx_slab_alloc(z->shpool,
                                 n * sizeof(ngx_http_trigger_zone_node_t *));
    if (sh->buckets == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh->buckets, n * sizeof(ngx_http_trigger_zone_node_t *));
    sh->mask = n - 1;

    sh->ring = ngx_slab_alloc(z->shpool, z->journal);
    if (sh->ring == NULL) {
        return NGX_ERROR;
    }

    sh->size = z->journal;
    sh->prefix = prefix;

    if (ngx_http_trigger_random((u_char *) &instance, sizeof(instance)) != 0)
    {
        return NGX_ERROR;
    }

    sh->instance = instance;

    z->sh = sh;
    z->shpool->data = sh;

    len = sizeof(" in trigger zone \"\"") + shm_zone->shm.name.len;

    z->shpool->log_ctx = ngx_slab_alloc(z->shpool, len);
    if (z->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(z->shpool->log_ctx, " in trigger zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a visitor's entry that does not fit is no reason for an alert */
    z->shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_trigger_zone_track(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_event_t *events,
    ngx_uint_t nevents, ngx_uint_t pageview, ngx_uint_t wait)
{
    u_char                         key[NGX_HTTP_TRIGGER_KEY_MAX];
    size_t                         key_len;
    ngx_uint_t                     use, dropped;
    ngx_http_trigger_zone_t       *z;
    ngx_http_trigger_zone_node_t  *node;
    ngx_http_trigger_redis_cmd_t  *cmd;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);
    z = tmcf->zone;

    ngx_shmtx_lock(&z->shpool->mutex);

    node = ngx_http_trigger_zone_lookup(z, ctx->cookie);

    /*
     * A new id is 128 random bits: nobody has its state.  An entry is used
     * while fresh, and while it has changes Redis has not got yet (Redis
     * would answer without them).
     */

    use = ctx->new_visitor
          || (node
              && (!wait
                  || ngx_current_msec - node->fetched < tmcf->zone_valid
                  || node->jseq > z->sh->acked));

    if (use || !wait) {
        dropped = ngx_http_trigger_zone_record(ctx, use ? node : NULL, events,
                                               nevents, pageview, wait);

        ngx_shmtx_unlock(&z->shpool->mutex);

        ngx_http_trigger_zone_appended(dropped);

        if (wait) {
            ngx_http_trigger_zone_items(ctx);
        }

        return NGX_DECLINED;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    /* the events wait with the request: copies */

    ctx->zevents = ngx_palloc(r->pool,
                              nevents * sizeof(ngx_http_trigger_event_t));
    if (ctx->zevents == NULL) {
        ctx->status = NGX_HTTP_TRIGGER_STATUS_ERROR;
        return NGX_DECLINED;
    }

    ngx_memcpy(ctx->zevents, events,
               nevents * sizeof(ngx_http_trigger_event_t));
    ctx->nzevents = nevents;
    ctx->zone_pageview = pageview;
    ctx->zone_sent = ngx_current_msec;
    ctx->zone_read = 1;

    key_len = ngx_http_trigger_visitor_key(r, ctx, key);

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_read_script,
                                            2, 1 + key_len);
    if (cmd == NULL) {
        ngx_http_trigger_zone_settle(ctx, NULL);
        return NGX_DECLINED;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "1", 1);
    ngx_http_trigger_redis_cmd_arg(cmd, key, key_len);

    if (ngx_http_trigger_wait(r, ctx, cmd, ngx_http_trigger_zone_parse)
        != NGX_OK)
    {
        ngx_http_trigger_zone_settle(ctx, NULL);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_trigger_zone_parse(ngx_http_trigger_ctx_t *ctx, void *reply)
{
    ngx_http_trigger_zone_settle(ctx, reply);
}


void
ngx_http_trigger_zone_settle(ngx_http_trigger_ctx_t *ctx, redisReply *reply)
{
    size_t                          i;
    ngx_uint_t                      dropped;
    redisReply                     *f, *v;
    ngx_http_trigger_zone_t        *z;
    ngx_http_trigger_vstate_t      *st;
    ngx_http_trigger_zone_node_t   *node;

    if (!ctx->zone_read) {
        return;
    }

    ctx->zone_read = 0;
    z = ngx_http_trigger_zone;
    st = &ngx_http_trigger_zone_st;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements % 2 == 0)
    {
        ngx_http_trigger_vstate_init(st);

        for (i = 0; i < reply->elements; i += 2) {
            f = reply->element[i];
            v = reply->element[i + 1];

            if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
            {
                ngx_http_trigger_vstate_field(st, (u_char *) f->str, f->len,
                                              (u_char *) v->str, v->len);
            }
        }

        ngx_http_trigger_vstate_loaded(st);

    } else {
        reply = NULL;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    node = ngx_http_trigger_zone_lookup(z, ctx->cookie);

    if (reply
        && (node == NULL
            || (ngx_msec_int_t) (node->fetched - ctx->zone_sent) < 0))
    {
        /* Redis's state, unless another request read it after this one */
        node = ngx_http_trigger_zone_store(z, node, ctx->cookie, st);

        if (node) {
            node->fetched = ngx_current_msec;
            /* Redis's state, its records yet to come: not what they count */
            node->unsynced = node->jseq > z->sh->acked;
        }
    }

    /* without Redis, an entry however old is better than nothing */

    dropped = ngx_http_trigger_zone_record(ctx, node, ctx->zevents,
                                           ctx->nzevents, ctx->zone_pageview,
                                           1);

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_http_trigger_zone_appended(dropped);

    if (reply) {
        ctx->status = NGX_HTTP_TRIGGER_STATUS_TRACKED;
    }

    ngx_http_trigger_zone_items(ctx);
}


/*
 * Under the lock: the request's changes applied to the entry (if any),
 * its state for the request, and the record in the journal.
 */

static ngx_uint_t
ngx_http_trigger_zone_record(ngx_http_trigger_ctx_t *ctx,
    ngx_http_trigger_zone_node_t *node, ngx_http_trigger_event_t *events,
    ngx_uint_t n, ngx_uint_t pageview, ngx_uint_t wait)
{
    int64_t                        before[NGX_HTTP_TRIGGER_VS_COUNT];
    uint32_t                       changed, version;
    ngx_uint_t                     i, dropped;
    ngx_http_trigger_zone_t       *z;
    ngx_http_trigger_vstate_t     *st;
    ngx_http_trigger_main_conf_t  *tmcf;

    z = ngx_http_trigger_zone;
    tmcf = ngx_http_trigger_zone_conf;
    st = &ngx_http_trigger_zone_st;

    if (node) {
        ngx_http_trigger_zone_load(node, st);

    } else {
        ngx_http_trigger_vstate_init(st);
    }

    /*
     * What the record changed, for the batch to write the fields'
     * values rather than run the script, while the entry is all Redis
     * has had for the visitor (see ngx_http_trigger_zone_flush()).
     */

    ngx_memcpy(before, st->f, sizeof(before));

    i = ngx_http_trigger_vstate_apply(st, &ngx_http_trigger_zone_params,
                                      ngx_time(), pageview, events, n);

    changed = ((i & NGX_HTTP_TRIGGER_VS_VIEWED) ? NGX_HTTP_TRIGGER_ZONE_VIEWED
                                                : 0)
              | ((i & NGX_HTTP_TRIGGER_VS_OTHER) ? NGX_HTTP_TRIGGER_ZONE_SLOW
                                                 : 0);

    if (node == NULL ? !ctx->new_visitor : node->unsynced) {
        changed |= NGX_HTTP_TRIGGER_ZONE_SLOW;
    }

    /* a new visitor's key expires as such, the others' TTL refreshed */
    if (!(ctx->new_visitor && tmcf->new_visitor_ttl)
        && ngx_http_trigger_vstate_touch(st, ngx_time(), tmcf->ttl))
    {
        changed |= NGX_HTTP_TRIGGER_ZONE_TOUCHED;
    }

    for (i = 0; i < NGX_HTTP_TRIGGER_VS_VERSION; i++) {
        if (st->f[i] != before[i] && i != NGX_HTTP_TRIGGER_VS_GROUP) {
            changed |= 1 << i;
        }
    }

    /* the first page view writes these even when they are 0 */
    if (before[NGX_HTTP_TRIGGER_VS_LAST] == 0) {
        changed |= (1 << NGX_HTTP_TRIGGER_VS_VISITS)
                   | (1 << NGX_HTTP_TRIGGER_VS_DEPTH)
                   | (1 << NGX_HTTP_TRIGGER_VS_START)
                   | (1 << NGX_HTTP_TRIGGER_VS_GAP);
    }

    version = (uint32_t) st->f[NGX_HTTP_TRIGGER_VS_VERSION]++;

    if (node || ctx->new_visitor) {
        node = ngx_http_trigger_zone_store(z, node, ctx->cookie, st);
    }

    dropped = ngx_http_trigger_zone_append(z, ctx->cookie, 't', pageview,
                                           ctx->new_visitor, version, changed,
                                           events, n);

    if (node) {
        node->jseq = z->sh->seq;
    }

    if (node && wait) {
        ngx_http_trigger_vstate_result(st, &ngx_http_trigger_zone_params,
                                       ngx_time(), ctx->state);
        ctx->status = NGX_HTTP_TRIGGER_STATUS_ZONE;
        ctx->has_state = 1;
    }

    if (wait) {
        ctx->zone_journaled = pageview;
    }

    return dropped;
}


/* the cart's lines, then the viewed items not in it, as the reply gives */

static void
ngx_http_trigger_zone_items(ngx_http_trigger_ctx_t *ctx)
{
    ngx_uint_t                  i, j, n, k;
    ngx_http_trigger_vitem_t   *it;
    ngx_http_trigger_vstate_t  *st;

    if (!ctx->want_items || !ctx->has_state) {
        return;
    }

    st = &ngx_http_trigger_zone_st;
    n = 0;

    if (st->code_len) {
        ctx->code.data = ngx_pnalloc(ctx->request->pool, st->code_len);

        if (ctx->code.data) {
            ngx_memcpy(ctx->code.data, st->code, st->code_len);
            ctx->code.len = st->code_len;
        }
    }

    for (i = 0; i < st->nlines + st->nviewed; i++) {
        if (n == ctx->conf->items_max) {
            break;
        }

        it = i < st->nlines ? &st->cart[i] : &st->viewed[i - st->nlines];

        for (j = 0, k = 0; i >= st->nlines && j < n; j++) {
            if (ctx->items[j].sku.len == it->len
                && ngx_strncmp(ctx->items[j].sku.data, it->sku, it->len) == 0)
            {
                k = 1;
                break;
            }
        }

        if (k) {
            continue;
        }

        ctx->items[n].sku.data = ngx_pnalloc(ctx->request->pool, it->len);
        if (ctx->items[n].sku.data == NULL) {
            break;
        }

        ngx_memcpy(ctx->items[n].sku.data, it->sku, it->len);
        ctx->items[n].sku.len = it->len;
        ctx->items[n].qty = i < st->nlines ? it->qty : 0;
        n++;
    }

    ctx->nitems = n;
}


void
ngx_http_trigger_zone_apply(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_event_t *events,
    ngx_uint_t nevents, ngx_uint_t pageview)
{
    ngx_http_trigger_zone_t       *z;
    ngx_http_trigger_vstate_t     *st;
    ngx_http_trigger_zone_node_t  *node;

    z = ngx_http_trigger_zone;
    st = &ngx_http_trigger_zone_st;

    ngx_shmtx_lock(&z->shpool->mutex);

    node = ngx_http_trigger_zone_lookup(z, ctx->cookie);

    if (node) {
        ngx_http_trigger_zone_load(node, st);
        (void) ngx_http_trigger_vstate_apply(st,
                                             &ngx_http_trigger_zone_params,
                                             ngx_time(), pageview, events,
                                             nevents);
        node = ngx_http_trigger_zone_store(z, node, ctx->cookie, st);

        /* Redis gets these changes from the script, not from the batch */
        if (node) {
            node->unsynced = 1;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


/* what only Redis knows: an order id seen before, a code's expiry */

void
ngx_http_trigger_zone_update(ngx_http_trigger_ctx_t *ctx)
{
    ngx_http_trigger_zone_t       *z;
    ngx_http_trigger_zone_node_t  *node;

    z = ngx_http_trigger_zone;

    ngx_shmtx_lock(&z->shpool->mutex);

    node = ngx_http_trigger_zone_lookup(z, ctx->cookie);

    if (node) {
        node->f[NGX_HTTP_TRIGGER_VS_PURCHASES] =
                                       ctx->state[NGX_HTTP_TRIGGER_PURCHASES];
        node->f[NGX_HTTP_TRIGGER_VS_DECLINED] =
                                     ctx->state[NGX_HTTP_TRIGGER_DECLINED_AT];
        node->f[NGX_HTTP_TRIGGER_VS_ACTIVE] =
                                    ctx->state[NGX_HTTP_TRIGGER_ACTIVE_UNTIL];
        node->f[NGX_HTTP_TRIGGER_VS_GROUP] = ctx->state[NGX_HTTP_TRIGGER_GROUP];
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


void
ngx_http_trigger_zone_set(ngx_http_trigger_ctx_t *ctx, ngx_uint_t field,
    int64_t value, ngx_str_t *code)
{
    ngx_http_trigger_zone_t       *z;
    ngx_http_trigger_zone_node_t  *node;

    z = ngx_http_trigger_zone;

    if (z == NULL) {
        return;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    node = ngx_http_trigger_zone_lookup(z, ctx->cookie);

    if (node) {
        node->f[field] = value;

        if (code && code->len == NGX_HTTP_TRIGGER_CODE_LEN) {
            ngx_memcpy(node->code, code->data, code->len);
            node->code_len = code->len;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


void
ngx_http_trigger_zone_uncount(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    ngx_uint_t                     dropped;
    ngx_http_trigger_zone_t       *z;
    ngx_http_trigger_zone_node_t  *node;

    z = ngx_http_trigger_zone;

    ngx_shmtx_lock(&z->shpool->mutex);

    node = ngx_http_trigger_zone_lookup(z, ctx->cookie);

    if (node && node->f[NGX_HTTP_TRIGGER_VS_DEPTH] > 0) {
        node->f[NGX_HTTP_TRIGGER_VS_DEPTH]--;
    }

    dropped = ngx_http_trigger_zone_append(z, ctx->cookie, 'u', 0, 0,
                                           ngx_http_trigger_zone_version(node),
                                           NGX_HTTP_TRIGGER_ZONE_SLOW, NULL, 0);
    if (node) {
        node->jseq = z->sh->seq;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_http_trigger_zone_appended(dropped);
}


ngx_uint_t
ngx_http_trigger_zone_mark(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, int group)
{
    ngx_uint_t                     dropped, first;
    ngx_http_trigger_zone_t       *z;
    ngx_http_trigger_zone_node_t  *node;

    z = ngx_http_trigger_zone;

    ngx_shmtx_lock(&z->shpool->mutex);

    node = ngx_http_trigger_zone_lookup(z, ctx->cookie);
    first = (node == NULL || node->f[NGX_HTTP_TRIGGER_VS_GROUP] == 0);

    if (node && first) {
        node->f[NGX_HTTP_TRIGGER_VS_GROUP] = group;
    }

    dropped = ngx_http_trigger_zone_append(z, ctx->cookie, 'm',
                                           group == 1 ? 't' : 'c', 0,
                                           ngx_http_trigger_zone_version(node),
                                           NGX_HTTP_TRIGGER_ZONE_SLOW, NULL, 0);
    if (node) {
        node->jseq = z->sh->seq;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_http_trigger_zone_appended(dropped);

    return first;
}


/* the version a record is made on, one more for the entry */

static uint32_t
ngx_http_trigger_zone_version(ngx_http_trigger_zone_node_t *node)
{
    return node ? (uint32_t) node->f[NGX_HTTP_TRIGGER_VS_VERSION]++ : 0;
}


static ngx_http_trigger_zone_node_t *
ngx_http_trigger_zone_lookup(ngx_http_trigger_zone_t *z, u_char *vid)
{
    ngx_http_trigger_zone_node_t  *zn;

    zn = ngx_http_trigger_zone_find(z, vid);

    if (zn) {
        ngx_queue_remove(&zn->queue);
        ngx_queue_insert_head(&z->sh->lru, &zn->queue);
    }

    return zn;
}


/* a visitor's entry, its place in the LRU queue left as it is */

static ngx_http_trigger_zone_node_t *
ngx_http_trigger_zone_find(ngx_http_trigger_zone_t *z, u_char *vid)
{
    uint32_t                       hash;
    ngx_http_trigger_zone_node_t  *zn;

    hash = ngx_crc32_short(vid, NGX_HTTP_TRIGGER_VID_LEN);

    for (zn = z->sh->buckets[hash & z->sh->mask]; zn; zn = zn->next) {
        if (zn->hash == hash
            && ngx_memcmp(vid, zn->vid, NGX_HTTP_TRIGGER_VID_LEN) == 0)
        {
            return zn;
        }
    }

    return NULL;
}


/* an entry out of its bucket */

static void
ngx_http_trigger_zone_unlink(ngx_http_trigger_zone_t *z,
    ngx_http_trigger_zone_node_t *node)
{
    ngx_http_trigger_zone_node_t  **p;

    for (p = &z->sh->buckets[node->hash & z->sh->mask]; *p; p = &(*p)->next) {
        if (*p == node) {
            *p = node->next;
            return;
        }
    }
}


static void
ngx_http_trigger_zone_load(ngx_http_trigger_zone_node_t *node,
    ngx_http_trigger_vstate_t *st)
{
    ngx_http_trigger_vstate_init(st);
    ngx_memcpy(st->f, node->f, sizeof(node->f));
    ngx_memcpy(st->code, node->code, node->code_len);
    st->code_len = node->code_len;

    if (ngx_http_trigger_vstate_unpack(st, node->items, node->len) != 0) {
        st->nviewed = 0;
        st->nlines = 0;
    }
}


/*
 * st into the visitor's entry: the same one if its items fit, else a new
 * one (the least recently used entries make room); NULL: no room at all.
 */

static ngx_http_trigger_zone_node_t *
ngx_http_trigger_zone_store(ngx_http_trigger_zone_t *z,
    ngx_http_trigger_zone_node_t *node, u_char *vid,
    ngx_http_trigger_vstate_t *st)
{
    size_t                         len, cap;
    ngx_uint_t                     i;
    ngx_queue_t                   *q;
    ngx_http_trigger_zone_node_t  *old, *zn;

    len = ngx_http_trigger_vstate_items_size(st);

    if (node == NULL || len > node->cap) {
        /* room to grow a little without moving */
        cap = ngx_align(len + 16, 16);
        old = node;

        for (i = 0; i < 64; i++) {
            node = ngx_slab_alloc_locked(z->shpool,
                                 offsetof(ngx_http_trigger_zone_node_t, items)
                                 + cap);
            if (node) {
                break;
            }

            if (ngx_queue_empty(&z->sh->lru)) {
                break;
            }

            /* the entry stored was just looked up: it is at the head */
            q = ngx_queue_last(&z->sh->lru);
            zn = ngx_queue_data(q, ngx_http_trigger_zone_node_t, queue);

            if (zn == old) {
                break;
            }

            ngx_queue_remove(q);
            ngx_http_trigger_zone_unlink(z, zn);
            ngx_slab_free_locked(z->shpool, zn);
        }

        if (node == NULL) {
            return NULL;
        }

        node->cap = cap;

        if (old) {
            node->fetched = old->fetched;
            node->jseq = old->jseq;
            node->unsynced = old->unsynced;
            ngx_queue_remove(&old->queue);
            ngx_http_trigger_zone_unlink(z, old);
            ngx_slab_free_locked(z->shpool, old);

        } else {
            node->fetched = ngx_current_msec;
            node->jseq = 0;
            node->unsynced = 0;
        }

        ngx_memcpy(node->vid, vid, NGX_HTTP_TRIGGER_VID_LEN);
        node->hash = ngx_crc32_short(vid, NGX_HTTP_TRIGGER_VID_LEN);
        node->next = z->sh->buckets[node->hash & z->sh->mask];
        z->sh->buckets[node->hash & z->sh->mask] = node;
        ngx_queue_insert_head(&z->sh->lru, &node->queue);
    }

    ngx_memcpy(node->f, st->f, sizeof(node->f));
    ngx_memcpy(node->code, st->code, st->code_len);
    node->code_len = (u_char) st->code_len;
    node->len = ngx_http_trigger_vstate_pack(st, node->items);

    return node;
}


/*
 * Under the lock: one record at the journal's head; when it is full, the
 * oldest records make room (their count is returned, to be logged).
 */

static ngx_uint_t
ngx_http_trigger_zone_append(ngx_http_trigger_zone_t *z, u_char *vid,
    u_char kind, u_char arg, u_char fresh, uint32_t version, uint32_t changed,
    ngx_http_trigger_event_t *events, ngx_uint_t n)
{
    u_char                        *p, *buf;
    u_char                         lost[NGX_HTTP_TRIGGER_VID_LEN];
    size_t                         len;
    uint16_t                       rlen, old;
    uint32_t                       now;
    ngx_uint_t                     i, dropped;
    ngx_http_trigger_zone_sh_t    *sh;
    ngx_http_trigger_zone_node_t  *zn;

    sh = z->sh;
    buf = ngx_http_trigger_zone_buf;
    now = (uint32_t) ngx_time();

    p = buf + 2;
    sh->seq++;
    p = ngx_cpymem(p, &sh->seq, 8);
    p = ngx_cpymem(p, vid, NGX_HTTP_TRIGGER_VID_LEN);
    p = ngx_cpymem(p, &now, 4);
    p = ngx_cpymem(p, &version, 4);
    p = ngx_cpymem(p, &changed, 4);
    *p++ = kind;
    *p++ = arg;
    *p++ = fresh;
    *p++ = (u_char) n;

    for (i = 0; i < n; i++) {
        *p++ = (u_char) events[i].type;
        len = ngx_strlen(events[i].id);
        *p++ = (u_char) len;
        p = ngx_cpymem(p, events[i].id, len);
        len = ngx_strlen(events[i].promo);
        *p++ = (u_char) len;
        p = ngx_cpymem(p, events[i].promo, len);
        p = ngx_cpymem(p, &events[i].num, 8);
    }

    rlen = (uint16_t) (p - buf);
    ngx_memcpy(buf, &rlen, 2);

    dropped = 0;

    while (sh->size - (sh->head - sh->tail) < rlen) {
        ngx_http_trigger_ring_read(sh, sh->tail, (u_char *) &old, 2);
        ngx_http_trigger_ring_read(sh, sh->tail + 2 + 8, lost,
                                   NGX_HTTP_TRIGGER_VID_LEN);

        /* Redis will not have what its entry counts */
        zn = ngx_http_trigger_zone_find(z, lost);
        if (zn) {
            zn->unsynced = 1;
        }

        sh->tail += old;
        sh->dropped++;
        dropped++;
    }

    ngx_http_trigger_ring_write(sh, sh->head, buf, rlen);

    /* published once written: a worker that dies here leaves no half */
    sh->head += rlen;

    return dropped;
}


/*
 * After a record: the oldest dropped for it are logged, a journal half
 * full is written at once, and the worker is held if it stops.
 */

static void
ngx_http_trigger_zone_appended(ngx_uint_t dropped)
{
    ngx_http_trigger_zone_ev.cancelable = 0;

    /* a stopping worker's last requests are written too */
    if (ngx_http_trigger_zone_exit) {
        ngx_http_trigger_zone_exit_seq = ngx_http_trigger_zone->sh->seq;

        if (!ngx_http_trigger_zone_ev.timer_set) {
            ngx_http_trigger_zone_arm();
        }
    }

    if (dropped
        && ngx_http_trigger_log_allowed(&ngx_http_trigger_zone_log_dropped))
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "trigger: the zone's journal is full (redis away?): "
                      "its %ui oldest changes dropped, %uL in all",
                      dropped, ngx_http_trigger_zone->sh->dropped);
    }

    /* half full: written now rather than on the timer */
    if (ngx_http_trigger_zone->sh->head - ngx_http_trigger_zone->sh->tail
        > ngx_http_trigger_zone->sh->size / 2)
    {
        (void) ngx_http_trigger_zone_flush(0);
    }
}


ngx_uint_t
ngx_http_trigger_zone_pending(void)
{
    uint64_t                     seq;
    ngx_http_trigger_zone_sh_t  *sh;

    if (ngx_http_trigger_zone == NULL) {
        return 0;
    }

    sh = ngx_http_trigger_zone->sh;

    ngx_shmtx_lock(&ngx_http_trigger_zone->shpool->mutex);

    seq = 0;

    if (sh->head != sh->tail) {
        ngx_http_trigger_ring_read(sh, sh->tail + 2, (u_char *) &seq, 8);
        seq = sh->seq - seq + 1;
    }

    ngx_shmtx_unlock(&ngx_http_trigger_zone->shpool->mutex);

    return (ngx_uint_t) seq;
}


/*
 * Sends what the journal holds (all of it, or one batch) on the pages'
 * connection.  NGX_BUSY: another worker is writing a batch; NGX_DECLINED:
 * no connection.
 */

static ngx_int_t
ngx_http_trigger_zone_flush(ngx_uint_t all)
{
    u_char                         *buf;
    uint16_t                        rlen;
    uint64_t                        start, stop, last;
    ngx_uint_t                      records;
    ngx_pid_t                       pid;
    ngx_http_trigger_zone_t        *z;
    ngx_http_trigger_zone_sh_t     *sh;
    ngx_http_trigger_redis_cmd_t   *cmd;
    ngx_http_trigger_zone_batch_t  *b;

    z = ngx_http_trigger_zone;
    sh = z->sh;
    buf = ngx_http_trigger_zone_buf;

    for ( ;; ) {
        ngx_shmtx_lock(&z->shpool->mutex);

        pid = sh->flusher;

        if (pid && pid != ngx_pid
            && (ngx_msec_int_t) (sh->lease - ngx_current_msec) > 0
            && !(kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH))
        {
            ngx_shmtx_unlock(&z->shpool->mutex);
            return NGX_BUSY;
        }

        start = (pid == ngx_pid && sh->flight_end > sh->tail)
                ? sh->flight_end : sh->tail;

        if (start >= sh->head) {
            ngx_shmtx_unlock(&z->shpool->mutex);
            return NGX_OK;
        }

        /* whole records, one batch's worth */

        stop = start;
        last = 0;

        while (stop < sh->head) {
            ngx_http_trigger_ring_read(sh, stop, (u_char *) &rlen, 2);

            if (stop - start + rlen > NGX_HTTP_TRIGGER_ZONE_BATCH) {
                break;
            }

            ngx_http_trigger_ring_read(sh, stop, buf + (stop - start), rlen);
            ngx_memcpy(&last, buf + (stop - start) + 2, 8);
            stop += rlen;
        }

        sh->flusher = ngx_pid;
        sh->lease = ngx_current_msec + NGX_HTTP_TRIGGER_ZONE_LEASE;
        sh->flight_end = stop;

        ngx_shmtx_unlock(&z->shpool->mutex);

        cmd = ngx_http_trigger_zone_batch(buf, buf + (stop - start), &records);
        b = ngx_alloc(sizeof(ngx_http_trigger_zone_batch_t), ngx_cycle->log);

        if (cmd == NULL || b == NULL) {
            if (cmd) {
                ngx_free(cmd);
            }

            if (b) {
                ngx_free(b);
            }

            ngx_http_trigger_zone_release();
            return NGX_ERROR;
        }

        b->end = stop;
        b->seq = last;

        if (ngx_http_trigger_redis_eval(ngx_http_trigger_redis_pages, cmd,
                                        ngx_http_trigger_zone_batch_reply, b)
            != NGX_OK)
        {
            ngx_free(b);
            ngx_http_trigger_zone_release();
            return NGX_DECLINED;
        }

        ngx_http_trigger_zone_flights++;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "trigger zone: %ui records sent, last %uL",
                       records, last);

        if (!all) {
            return NGX_OK;
        }
    }
}


/*
 * The batch script's arguments for the records in buf, per visitor (see
 * ngx_http_trigger_batch_call).  A visitor's values are sent when its
 * entry has nothing but these records since the version the first was
 * made on: no later record, no change made apart from the journal, one
 * version more per record; Redis applies them only if its hash is still
 * at that version.
 */

static ngx_http_trigger_redis_cmd_t *
ngx_http_trigger_zone_batch(u_char *buf, u_char *end, ngx_uint_t *records)
{
    u_char                         *p, *q, *r, *rb, **recs;
    u_char                          id[64 + sizeof("journal")];
    size_t                          size, len, klen, plen;
    int64_t                         num, expire;
    uint16_t                        rlen;
    uint32_t                        now;
    uint64_t                        seq, last;
    ngx_uint_t                      i, j, k, n, nargs, nf, fast;
    ngx_http_trigger_zone_t        *z;
    ngx_http_trigger_vstate_t      *st;
    ngx_http_trigger_redis_cmd_t   *cmd;
    ngx_http_trigger_zone_node_t   *node;
    ngx_http_trigger_zone_group_t   g;
    ngx_http_trigger_main_conf_t   *tmcf;

    z = ngx_http_trigger_zone;
    tmcf = ngx_http_trigger_zone_conf;
    st = &ngx_http_trigger_zone_fst;

    n = 0;

    for (p = buf; p < end; p += rlen) {
        ngx_memcpy(&rlen, p, 2);
        n++;
    }

    *records = n;

    recs = ngx_alloc(n * sizeof(u_char *), ngx_cycle->log);
    if (recs == NULL) {
        return NULL;
    }

    /* each visitor's records together, in their order */

    for (p = buf, i = 0; p < end; p += rlen, i++) {
        ngx_memcpy(&rlen, p, 2);
        recs[i] = p;
    }

    ngx_memcpy(&last, recs[n - 1] + NGX_HTTP_TRIGGER_ZR_SEQ, 8);

    ngx_qsort(recs, n, sizeof(u_char *), ngx_http_trigger_zone_cmp);

    /* the arguments: count first, then fill */

    nargs = 0;
    size = 0;

    for (i = 0; i < n; /* void */) {
        i = ngx_http_trigger_zone_group(recs, i, n, &g);
        nargs += 4;
        size += tmcf->key_prefix.len + NGX_HTTP_TRIGGER_VID_LEN
                + 3 * NGX_INT64_LEN;

        if (!(g.changed & NGX_HTTP_TRIGGER_ZONE_SLOW)) {
            k = NGX_HTTP_TRIGGER_VS_COUNT + 1
                + ((g.changed & NGX_HTTP_TRIGGER_ZONE_VIEWED)
                   ? tmcf->viewed_max : 0);
            nargs += 2 * k;
            size += k * (2 * NGX_INT64_LEN + NGX_HTTP_TRIGGER_ID_MAX);
        }

        for (j = 0; j < g.n; j++) {
            ngx_memcpy(&rlen, g.rec[j], 2);
            size += 2 * rlen + 8 * NGX_INT64_LEN;
        }
    }

    klen = tmcf->key_prefix.len + sizeof("journal") - 1;

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_batch_script,
                                            2 + 12 + nargs,
                                            NGX_INT64_LEN + klen
                                            + tmcf->key_prefix.len
                                            + 10 * NGX_INT64_LEN + 16
                                            + 2 * size);
    rb = ngx_alloc(size, ngx_cycle->log);

    if (cmd == NULL || rb == NULL) {
        if (cmd) {
            ngx_free(cmd);
        }

        if (rb) {
            ngx_free(rb);
        }

        ngx_free(recs);
        return NULL;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "1", 1);

    ngx_sprintf(id, "%Vjournal", &tmcf->key_prefix);
    ngx_http_trigger_redis_cmd_arg(cmd, id, klen);

    ngx_http_trigger_redis_cmd_arg(cmd, tmcf->key_prefix.data,
                                   tmcf->key_prefix.len);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->visit_timeout);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->ttl);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->viewed_max);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->cart_max);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->cap.period);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->new_visitor_ttl);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->sender.history);
    ngx_http_trigger_redis_cmd_arg_int(cmd, tmcf->sender.lapse);
    ngx_sprintf(id, "%016xL", z->sh->instance);
    ngx_http_trigger_redis_cmd_arg(cmd, id, 16);

    /* the first and the last sequence numbers */
    ngx_memcpy(&seq, buf + NGX_HTTP_TRIGGER_ZR_SEQ, 8);
    ngx_http_trigger_redis_cmd_arg_int(cmd, (int64_t) seq);
    ngx_http_trigger_redis_cmd_arg_int(cmd, (int64_t) last);

    for (i = 0; i < n; /* void */) {
        i = ngx_http_trigger_zone_group(recs, i, n, &g);
        r = g.rec[0] + NGX_HTTP_TRIGGER_ZR_VID;

        ngx_shmtx_lock(&z->shpool->mutex);

        node = ngx_http_trigger_zone_find(z, r);

        fast = !(g.changed & NGX_HTTP_TRIGGER_ZONE_SLOW)
               && node && !node->unsynced && node->jseq == g.last
               && (uint32_t) node->f[NGX_HTTP_TRIGGER_VS_VERSION]
                  == g.version + g.n;

        if (fast) {
            ngx_http_trigger_zone_load(node, st);
        }

        ngx_shmtx_unlock(&z->shpool->mutex);

        q = ngx_sprintf(rb, "%V{%*s}", &tmcf->key_prefix,
                        (size_t) NGX_HTTP_TRIGGER_VID_LEN, r);
        ngx_http_trigger_redis_cmd_arg(cmd, rb, q - rb);

        if (!fast) {
            ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "", 0);
            ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "0", 1);

        } else {
            ngx_http_trigger_redis_cmd_arg_int(cmd, g.version);

            nf = 0;

            for (k = 0; k < NGX_HTTP_TRIGGER_VS_VERSION; k++) {
                nf += (g.changed >> k) & 1;
            }

            if (g.changed & NGX_HTTP_TRIGGER_ZONE_VIEWED) {
                nf += st->nviewed;
            }

            ngx_http_trigger_redis_cmd_arg_int(cmd, 1 + 2 * nf
                                                    + (g.expire != 0));
            ngx_http_trigger_redis_cmd_arg_int(cmd, g.version + g.n);

            for (k = 0; k < NGX_HTTP_TRIGGER_VS_VERSION; k++) {
                if (g.changed & (1 << k)) {
                    q = (u_char *) ngx_http_trigger_vstate_name(k);
                    ngx_http_trigger_redis_cmd_arg(cmd, q, ngx_strlen(q));
                    ngx_http_trigger_redis_cmd_arg_int(cmd, st->f[k]);
                }
            }

            for (k = 0; (g.changed & NGX_HTTP_TRIGGER_ZONE_VIEWED)
                        && k < st->nviewed; k++)
            {
                q = ngx_sprintf(id, "v%ui", k + 1);
                ngx_http_trigger_redis_cmd_arg(cmd, id, q - id);
                ngx_http_trigger_redis_cmd_arg(cmd, st->viewed[k].sku,
                                               st->viewed[k].len);
            }

            if (g.expire) {
                expire = g.expire;

                if ((g.changed & NGX_HTTP_TRIGGER_ZONE_TOUCHED)
                    && st->f[NGX_HTTP_TRIGGER_VS_PURCHASES] > 0)
                {
                    expire = -expire;
                }

                ngx_http_trigger_redis_cmd_arg_int(cmd, expire);
            }
        }

        /* the records, for the script if the version is not Redis's */

        q = rb;

        for (j = 0; j < g.n; j++) {
            r = g.rec[j];
            ngx_memcpy(&seq, r + NGX_HTTP_TRIGGER_ZR_SEQ, 8);
            ngx_memcpy(&now, r + NGX_HTTP_TRIGGER_ZR_NOW, 4);
            r += NGX_HTTP_TRIGGER_ZR_KIND;

            q = ngx_sprintf(q, "%uL %uD %c ", seq, now, r[0]);
            q = (r[0] == 'm') ? ngx_sprintf(q, "%c", r[1])
                              : ngx_sprintf(q, "%ud", (ngx_uint_t) r[1]);
            q = ngx_sprintf(q, " %ud %ud ", (ngx_uint_t) r[2],
                            (ngx_uint_t) r[3]);

            k = r[3];
            r += 4;

            while (k--) {
                len = r[1];
                plen = r[2 + len];
                ngx_memcpy(&num, r + 3 + len + plen, 8);

                /* an event without an id (the cart cleared) has a "-" */
                q = ngx_sprintf(q, "%c %*s%s %L - ",
                                ngx_http_trigger_event_codes[r[0]],
                                len, r + 2, len ? "" : "-", num);
                r += 3 + len + plen + 8;
            }
        }

        ngx_http_trigger_redis_cmd_arg(cmd, rb, q - rb);
    }

    ngx_free(rb);
    ngx_free(recs);

    return cmd;
}


/* a visitor's records from recs[i]; the index after them */

static ngx_uint_t
ngx_http_trigger_zone_group(u_char **recs, ngx_uint_t i, ngx_uint_t n,
    ngx_http_trigger_zone_group_t *g)
{
    u_char                        *r;
    uint32_t                       changed;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_trigger_zone_conf;

    g->rec = &recs[i];
    g->n = 0;
    g->changed = 0;
    g->expire = 0;
    ngx_memcpy(&g->version, recs[i] + NGX_HTTP_TRIGGER_ZR_VERSION, 4);

    for ( /* void */ ; i < n; i++) {
        r = recs[i];

        if (ngx_memcmp(r + NGX_HTTP_TRIGGER_ZR_VID,
                       g->rec[0] + NGX_HTTP_TRIGGER_ZR_VID,
                       NGX_HTTP_TRIGGER_VID_LEN)
            != 0)
        {
            break;
        }

        ngx_memcpy(&changed, r + NGX_HTTP_TRIGGER_ZR_CHANGED, 4);
        g->changed |= changed;

        /* the last expiry the script would set */
        if (r[NGX_HTTP_TRIGGER_ZR_KIND + 2] && tmcf->new_visitor_ttl) {
            g->expire = tmcf->new_visitor_ttl;

        } else if (changed & NGX_HTTP_TRIGGER_ZONE_TOUCHED) {
            g->expire = tmcf->ttl;
        }

        g->n++;
    }

    ngx_memcpy(&g->last, recs[i - 1] + NGX_HTTP_TRIGGER_ZR_SEQ, 8);

    return i;
}


/* by visitor, then in the journal's order */

static int ngx_libc_cdecl
ngx_http_trigger_zone_cmp(const void *one, const void *two)
{
    u_char  *a, *b;
    int      rc;

    a = *(u_char **) one;
    b = *(u_char **) two;

    rc = ngx_memcmp(a + NGX_HTTP_TRIGGER_ZR_VID, b + NGX_HTTP_TRIGGER_ZR_VID,
                    NGX_HTTP_TRIGGER_VID_LEN);

    if (rc) {
        return rc;
    }

    return (a > b) - (a < b);
}


/* this worker is no longer the flusher: nothing of its own in flight */

static void
ngx_http_trigger_zone_release(void)
{
    ngx_http_trigger_zone_t  *z;

    if (ngx_http_trigger_zone_flights) {
        return;
    }

    z = ngx_http_trigger_zone;

    ngx_shmtx_lock(&z->shpool->mutex);

    if (z->sh->flusher == ngx_pid) {
        z->sh->flusher = 0;
        z->sh->flight_end = z->sh->tail;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


static void
ngx_http_trigger_zone_batch_reply(void *data, redisReply *reply)
{
    ngx_http_trigger_zone_batch_t  *b = data;

    ngx_http_trigger_zone_t  *z;

    z = ngx_http_trigger_zone;
    ngx_http_trigger_zone_flights--;

    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        ngx_shmtx_lock(&z->shpool->mutex);

        if (z->sh->tail < b->end) {
            z->sh->tail = b->end;
        }

        if (z->sh->acked < b->seq) {
            z->sh->acked = b->seq;
        }

        ngx_shmtx_unlock(&z->shpool->mutex);
    }

    ngx_free(b);

    ngx_http_trigger_zone_release();
}


ngx_int_t
ngx_http_trigger_zone_eval(ngx_http_trigger_redis_cmd_t *cmd,
    ngx_http_trigger_redis_handler_pt handler, void *data)
{
    ngx_int_t                      rc;
    ngx_http_trigger_zone_wait_t  *w;

    if (ngx_http_trigger_zone == NULL) {
        return ngx_http_trigger_redis_eval(ngx_http_trigger_redis_pages, cmd,
                                           handler, data);
    }

    ngx_http_trigger_redis_cmd_bind(cmd, handler, data);

    rc = ngx_queue_empty(&ngx_http_trigger_zone_waiting)
         ? ngx_http_trigger_zone_flush(1) : NGX_BUSY;

    if (rc != NGX_BUSY) {
        return ngx_http_trigger_redis_send(ngx_http_trigger_redis_pages, cmd);
    }

    /* after the batch another worker is writing */

    w = ngx_alloc(sizeof(ngx_http_trigger_zone_wait_t), ngx_cycle->log);
    if (w == NULL) {
        ngx_free(cmd);
        return NGX_ERROR;
    }

    w->cmd = cmd;
    ngx_queue_insert_tail(&ngx_http_trigger_zone_waiting, &w->queue);

    ngx_http_trigger_zone_arm();

    return NGX_OK;
}


static void
ngx_http_trigger_zone_timer(ngx_event_t *ev)
{
    ngx_queue_t                   *q;
    ngx_http_trigger_zone_wait_t  *w;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        if (ngx_http_trigger_zone_exit == 0) {
            ngx_http_trigger_zone_exit = ngx_current_msec
                                         + NGX_HTTP_TRIGGER_ZONE_EXIT;
            ngx_http_trigger_zone_exit_seq = ngx_http_trigger_zone->sh->seq;
        }
    }

    if (ngx_http_trigger_zone_flush(1) != NGX_BUSY) {

        while (!ngx_queue_empty(&ngx_http_trigger_zone_waiting)) {
            q = ngx_queue_head(&ngx_http_trigger_zone_waiting);
            w = ngx_queue_data(q, ngx_http_trigger_zone_wait_t, queue);
            ngx_queue_remove(q);

            if (ngx_http_trigger_redis_send(ngx_http_trigger_redis_pages,
                                            w->cmd)
                != NGX_OK)
            {
                ngx_http_trigger_redis_fail(w->cmd);
            }

            ngx_free(w);
        }
    }

    ngx_http_trigger_zone_arm();
}


/*
 * The timer: soon while commands wait, else every trigger_zone_flush.
 * It holds a worker that is shutting down (not cancelable) while the
 * journal has changes from before, for a few seconds at most.
 */

static void
ngx_http_trigger_zone_arm(void)
{
    ngx_msec_t                   delay;
    ngx_uint_t                   hold;
    ngx_http_trigger_zone_sh_t  *sh;

    sh = ngx_http_trigger_zone->sh;

    if (ngx_http_trigger_zone_exit) {
        hold = (sh->acked < ngx_http_trigger_zone_exit_seq
                && sh->head != sh->tail)
               || ngx_http_trigger_zone_flights
               || !ngx_queue_empty(&ngx_http_trigger_zone_waiting);

        if (!hold
            || (ngx_msec_int_t) (ngx_current_msec - ngx_http_trigger_zone_exit)
               > 0)
        {
            return;
        }

        delay = 5;

    } else {
        hold = sh->head != sh->tail;
        delay = ngx_queue_empty(&ngx_http_trigger_zone_waiting)
                ? ngx_http_trigger_zone_conf->zone_flush : 1;
    }

    ngx_http_trigger_zone_ev.cancelable = !hold;

    if (ngx_http_trigger_zone_ev.timer_set) {
        if (delay >= ngx_http_trigger_zone_conf->zone_flush) {
            return;
        }

        ngx_del_timer(&ngx_http_trigger_zone_ev);
    }

    ngx_add_timer(&ngx_http_trigger_zone_ev, delay);
}


ngx_int_t
ngx_http_trigger_zone_init_process(ngx_cycle_t *cycle,
    ngx_http_trigger_main_conf_t *tmcf)
{
    size_t  size;

    if (tmcf->zone == NULL) {
        return NGX_OK;
    }

    size = ngx_max(NGX_HTTP_TRIGGER_ZONE_BATCH,
                   NGX_HTTP_TRIGGER_ZONE_RECORD
                   + NGX_HTTP_TRIGGER_EVENTS_MAX
                     * NGX_HTTP_TRIGGER_ZONE_EVENT);

    ngx_http_trigger_zone_buf = ngx_alloc(size, cycle->log);
    if (ngx_http_trigger_zone_buf == NULL) {
        return NGX_ERROR;
    }

    ngx_http_trigger_zone_conf = tmcf;
    ngx_http_trigger_zone = tmcf->zone;

    ngx_http_trigger_zone_params.visit_timeout = tmcf->visit_timeout;
    ngx_http_trigger_zone_params.cap_period = tmcf->cap.period;
    ngx_http_trigger_zone_params.viewed_max = tmcf->viewed_max;
    ngx_http_trigger_zone_params.cart_max = tmcf->cart_max;
    ngx_queue_init(&ngx_http_trigger_zone_waiting);

    ngx_http_trigger_zone_dummy.fd = (ngx_socket_t) -1;
    ngx_http_trigger_zone_ev.handler = ngx_http_trigger_zone_timer;
    ngx_http_trigger_zone_ev.data = &ngx_http_trigger_zone_dummy;
    ngx_http_trigger_zone_ev.log = cycle->log;

    ngx_http_trigger_zone_arm();

    return NGX_OK;
}


void
ngx_http_trigger_zone_exit_process(void)
{
    ngx_queue_t                   *q;
    ngx_http_trigger_zone_wait_t  *w;

    if (ngx_http_trigger_zone == NULL) {
        return;
    }

    while (!ngx_queue_empty(&ngx_http_trigger_zone_waiting)) {
        q = ngx_queue_head(&ngx_http_trigger_zone_waiting);
        w = ngx_queue_data(q, ngx_http_trigger_zone_wait_t, queue);
        ngx_queue_remove(q);
        /* no request is left to wake */
        ngx_free(w->cmd);
        ngx_free(w);
    }

    ngx_free(ngx_http_trigger_zone_buf);
    ngx_http_trigger_zone = NULL;
}


static void
ngx_http_trigger_ring_write(ngx_http_trigger_zone_sh_t *sh, uint64_t pos,
    u_char *src, size_t n)
{
    size_t  off, first;

    off = pos % sh->size;
    first = ngx_min(n, sh->size - off);

    ngx_memcpy(sh->ring + off, src, first);
    ngx_memcpy(sh->ring, src + first, n - first);
}


static void
ngx_http_trigger_ring_read(ngx_http_trigger_zone_sh_t *sh, uint64_t pos,
    u_char *dst, size_t n)
{
    size_t  off, first;

    off = pos % sh->size;
    first = ngx_min(n, sh->size - off);

    ngx_memcpy(dst, sh->ring + off, first);
    ngx_memcpy(dst + first, sh->ring, n - first);
}
