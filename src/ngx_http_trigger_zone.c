/*
 * The visitors' zone: each active visitor's state in shared memory (a
 * slab pool, an rbtree by visitor id, an LRU queue), and a journal of
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


/* records a batch takes at most, in bytes */
#define NGX_HTTP_TRIGGER_ZONE_BATCH      (256 * 1024)
#define NGX_HTTP_TRIGGER_ZONE_JOURNAL_MIN  (64 * 1024)
/* a flusher that has not been heard of for so long has died */
#define NGX_HTTP_TRIGGER_ZONE_LEASE      5000
/* a worker that stops writes what the journal held, for so long */
#define NGX_HTTP_TRIGGER_ZONE_EXIT       3000
/* a record's fixed part: length, seq, vid, now, kind, arg, fresh, n */
#define NGX_HTTP_TRIGGER_ZONE_RECORD     (2 + 8 + NGX_HTTP_TRIGGER_VID_LEN + 4 \
                                          + 4)
#define NGX_HTTP_TRIGGER_ZONE_EVENT                                         \
    (3 + NGX_HTTP_TRIGGER_ID_MAX + NGX_HTTP_TRIGGER_PROMO_MAX + 8)


typedef struct {
    ngx_rbtree_node_t              node;
    ngx_queue_t                    queue;
    u_char                         vid[NGX_HTTP_TRIGGER_VID_LEN];
    uint16_t                       len;
    uint16_t                       cap;
    /* when its state was read from Redis (ngx_current_msec) */
    ngx_msec_t                     fetched;
    /* its last record in the journal */
    uint64_t                       jseq;
    int64_t                        f[NGX_HTTP_TRIGGER_VS_COUNT];
    u_char                         code[NGX_HTTP_TRIGGER_CODE_LEN];
    u_char                         code_len;
    /* the viewed list and the cart, packed (ngx_http_trigger_vstate.c) */
    u_char                         items[1];
} ngx_http_trigger_zone_node_t;


typedef struct {
    ngx_rbtree_t                   rbtree;
    ngx_rbtree_node_t              sentinel;
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


static ngx_int_t ngx_http_trigger_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_trigger_zone_node_t *ngx_http_trigger_zone_lookup(
    ngx_http_trigger_zone_t *z, u_char *vid);
static ngx_http_trigger_zone_node_t *ngx_http_trigger_zone_store(
    ngx_http_trigger_zone_t *z, ngx_http_trigger_zone_node_t *node,
    u_char *vid, ngx_http_trigger_vstate_t *st);
static void ngx_http_trigger_zone_load(ngx_http_trigger_zone_node_t *node,
    ngx_http_trigger_vstate_t *st);
static ngx_uint_t ngx_http_trigger_zone_append(ngx_http_trigger_zone_t *z,
    u_char *vid, u_char kind, u_char arg, u_char fresh,
    ngx_http_trigger_event_t *events, ngx_uint_t n);
static ngx_uint_t ngx_http_trigger_zone_record(ngx_http_trigger_ctx_t *ctx,
    ngx_http_trigger_zone_node_t *node, ngx_http_trigger_event_t *events,
    ngx_uint_t n, ngx_uint_t pageview, ngx_uint_t wait);
static void ngx_http_trigger_zone_items(ngx_http_trigger_ctx_t *ctx);
static void ngx_http_trigger_zone_parse(ngx_http_trigger_ctx_t *ctx,
    void *reply);
static void ngx_http_trigger_zone_appended(ngx_uint_t dropped);
static ngx_int_t ngx_http_trigger_zone_flush(ngx_uint_t all);
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
 * zone's random id), then per record: its sequence number, the visitor
 * id, now, the kind ("t" tracked: arg = page view 0/1, fresh = a new
 * visitor 0/1; "u" a page view taken back; "m" the offer group drawn:
 * arg = "t" or "c"), fresh, the events' count, then per event: code,
 * id, number, promo.  Returns the last record applied.  Purchases are
 * never journaled: their order ids and codes are checked as they come.
 */

const char  ngx_http_trigger_batch_call[] =
    "local prefix, fresh_ttl = ARGV[1], tonumber(ARGV[7])\n"
    "P.visit_timeout, P.ttl = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "P.viewed_max, P.cart_max = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "P.cap_period, P.hist_ttl = tonumber(ARGV[6]), tonumber(ARGV[8])\n"
    "P.lapse = tonumber(ARGV[9])\n"
    "local done = tonumber(redis.call('HGET', KEYS[1], ARGV[10])) or 0\n"
    "local top, states, list = done, {}, {}\n"
    "local function code(promo) return prefix .. 'code:' .. promo end\n"
    "local i, full, n = 11, {}, #ARGV\n"
    "while i <= n do\n"
    "  if ARGV[i + 6] ~= '0' or ARGV[i + 3] == 'm' then\n"
    "    full[ARGV[i + 1]] = true\n"
    "  end\n"
    "  i = i + 7 + 4 * ARGV[i + 6]\n"
    "end\n"
    "i = 11\n"
    "while i <= n do\n"
    "  local seq, vid, now = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]\n"
    "  local kind, arg = ARGV[i + 3], ARGV[i + 4]\n"
    "  local last = i + 6 + 4 * ARGV[i + 6]\n"
    "  local nows, now = now, tonumber(now)\n"
    "  if seq > done then\n"
    "    local st = states[vid]\n"
    "    if not st then\n"
    "      local key = prefix .. '{' .. vid .. '}'\n"
    "      st = load(key, key .. ':o', not full[vid])\n"
    "      states[vid] = st\n"
    "      list[#list + 1] = st\n"
    "    end\n"
    "    if kind == 't' then\n"
    "      local fresh = ARGV[i + 5] == '1' and fresh_ttl or 0\n"
    "      apply(st, now, nows, tonumber(arg), fresh, ARGV, i + 7, last,\n"
    "            code)\n"
    "    elseif kind == 'u' then\n"
    "      local d = tonumber(st.h.d)\n"
    "      if d and d > 0 then set(st, 'd', d - 1) end\n"
    "    elseif not st.h.h then\n"
    "      set(st, 'h', arg); set(st, 'e', nows)\n"
    "    end\n"
    "    top = seq\n"
    "  end\n"
    "  i = last + 1\n"
    "end\n"
    "for _, st in ipairs(list) do store(st) end\n"
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

    size_t                          len;
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
                ngx_rbtree_delete(&z->sh->rbtree, &zn->node);
                ngx_slab_free_locked(z->shpool, zn);
            }

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

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_rbtree_insert_value);
    ngx_queue_init(&sh->lru);

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
    ngx_uint_t                     dropped;
    ngx_http_trigger_zone_t       *z;
    ngx_http_trigger_vparams_t     p;
    ngx_http_trigger_vstate_t     *st;
    ngx_http_trigger_main_conf_t  *tmcf;

    z = ngx_http_trigger_zone;
    tmcf = ngx_http_trigger_zone_conf;
    st = &ngx_http_trigger_zone_st;

    p.visit_timeout = tmcf->visit_timeout;
    p.cap_period = tmcf->cap.period;
    p.viewed_max = tmcf->viewed_max;
    p.cart_max = tmcf->cart_max;

    if (node) {
        ngx_http_trigger_zone_load(node, st);

    } else {
        ngx_http_trigger_vstate_init(st);
    }

    ngx_http_trigger_vstate_apply(st, &p, ngx_time(), pageview, events, n);

    if (node || ctx->new_visitor) {
        node = ngx_http_trigger_zone_store(z, node, ctx->cookie, st);
    }

    dropped = ngx_http_trigger_zone_append(z, ctx->cookie, 't', pageview,
                                           ctx->new_visitor, events, n);

    if (node) {
        node->jseq = z->sh->seq;
    }

    if (node && wait) {
        ngx_http_trigger_vstate_result(st, &p, ngx_time(), ctx->state);
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
    ngx_http_trigger_vparams_t     p;
    ngx_http_trigger_vstate_t     *st;
    ngx_http_trigger_zone_node_t  *node;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_trigger_zone_conf;
    z = ngx_http_trigger_zone;
    st = &ngx_http_trigger_zone_st;

    p.visit_timeout = tmcf->visit_timeout;
    p.cap_period = tmcf->cap.period;
    p.viewed_max = tmcf->viewed_max;
    p.cart_max = tmcf->cart_max;

    ngx_shmtx_lock(&z->shpool->mutex);

    node = ngx_http_trigger_zone_lookup(z, ctx->cookie);

    if (node) {
        ngx_http_trigger_zone_load(node, st);
        ngx_http_trigger_vstate_apply(st, &p, ngx_time(), pageview, events,
                                      nevents);
        (void) ngx_http_trigger_zone_store(z, node, ctx->cookie, st);
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
                                           NULL, 0);
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
                                           NULL, 0);
    if (node) {
        node->jseq = z->sh->seq;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_http_trigger_zone_appended(dropped);

    return first;
}


static ngx_http_trigger_zone_node_t *
ngx_http_trigger_zone_lookup(ngx_http_trigger_zone_t *z, u_char *vid)
{
    uint32_t                       hash;
    ngx_rbtree_node_t             *node, *sentinel;
    ngx_http_trigger_zone_node_t  *zn;

    hash = ngx_crc32_short(vid, NGX_HTTP_TRIGGER_VID_LEN);

    node = z->sh->rbtree.root;
    sentinel = z->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        zn = (ngx_http_trigger_zone_node_t *) node;

        if (ngx_memcmp(vid, zn->vid, NGX_HTTP_TRIGGER_VID_LEN) == 0) {
            ngx_queue_remove(&zn->queue);
            ngx_queue_insert_head(&z->sh->lru, &zn->queue);
            return zn;
        }

        node = node->right;
    }

    return NULL;
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
            ngx_rbtree_delete(&z->sh->rbtree, &zn->node);
            ngx_slab_free_locked(z->shpool, zn);
        }

        if (node == NULL) {
            return NULL;
        }

        node->cap = cap;

        if (old) {
            node->fetched = old->fetched;
            node->jseq = old->jseq;
            ngx_queue_remove(&old->queue);
            ngx_rbtree_delete(&z->sh->rbtree, &old->node);
            ngx_slab_free_locked(z->shpool, old);

        } else {
            node->fetched = ngx_current_msec;
            node->jseq = 0;
        }

        ngx_memcpy(node->vid, vid, NGX_HTTP_TRIGGER_VID_LEN);
        node->node.key = ngx_crc32_short(vid, NGX_HTTP_TRIGGER_VID_LEN);
        ngx_rbtree_insert(&z->sh->rbtree, &node->node);
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
    u_char kind, u_char arg, u_char fresh, ngx_http_trigger_event_t *events,
    ngx_uint_t n)
{
    u_char                      *p, *buf;
    size_t                       len;
    uint16_t                     rlen, old;
    uint32_t                     now;
    ngx_uint_t                   i, dropped;
    ngx_http_trigger_zone_sh_t  *sh;

    sh = z->sh;
    buf = ngx_http_trigger_zone_buf;
    now = (uint32_t) ngx_time();

    p = buf + 2;
    sh->seq++;
    p = ngx_cpymem(p, &sh->seq, 8);
    p = ngx_cpymem(p, vid, NGX_HTTP_TRIGGER_VID_LEN);
    p = ngx_cpymem(p, &now, 4);
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
    u_char                         *p, *end, *buf;
    u_char                          id[64 + sizeof("journal")];
    size_t                          size, len, klen;
    uint16_t                        rlen;
    uint32_t                        now;
    uint64_t                        start, stop, seq, last;
    int64_t                         num;
    ngx_uint_t                      i, n, nargs, records;
    ngx_pid_t                       pid;
    ngx_http_trigger_zone_t        *z;
    ngx_http_trigger_zone_sh_t     *sh;
    ngx_http_trigger_redis_cmd_t   *cmd;
    ngx_http_trigger_zone_batch_t  *b;
    ngx_http_trigger_main_conf_t   *tmcf;

    z = ngx_http_trigger_zone;
    sh = z->sh;
    tmcf = ngx_http_trigger_zone_conf;
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

        /* the arguments: count first, then fill */

        end = buf + (stop - start);
        nargs = 0;
        size = 0;
        records = 0;

        for (p = buf; p < end; p += rlen) {
            ngx_memcpy(&rlen, p, 2);
            n = p[NGX_HTTP_TRIGGER_ZONE_RECORD - 1];
            nargs += 7 + 4 * n;
            size += rlen + 4 * NGX_INT64_LEN + n * (2 * NGX_INT64_LEN);
            records++;
        }

        klen = tmcf->key_prefix.len + sizeof("journal") - 1;

        cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_batch_script,
                                                2 + 10 + nargs,
                                                NGX_INT64_LEN + klen
                                                + tmcf->key_prefix.len
                                                + 8 * NGX_INT64_LEN + 16
                                                + size);
        b = ngx_alloc(sizeof(ngx_http_trigger_zone_batch_t), ngx_cycle->log);

        if (cmd == NULL || b == NULL) {
            if (cmd) {
                ngx_free(cmd);
            }

            ngx_http_trigger_zone_release();
            return NGX_ERROR;
        }

        b->end = stop;
        b->seq = last;

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
        ngx_sprintf(id, "%016xL", sh->instance);
        ngx_http_trigger_redis_cmd_arg(cmd, id, 16);

        for (p = buf; p < end; p += rlen) {
            u_char  *q;

            ngx_memcpy(&rlen, p, 2);
            q = p + 2;

            ngx_memcpy(&seq, q, 8);
            q += 8;
            ngx_http_trigger_redis_cmd_arg_int(cmd, (int64_t) seq);
            ngx_http_trigger_redis_cmd_arg(cmd, q, NGX_HTTP_TRIGGER_VID_LEN);
            q += NGX_HTTP_TRIGGER_VID_LEN;
            ngx_memcpy(&now, q, 4);
            q += 4;
            ngx_http_trigger_redis_cmd_arg_int(cmd, now);
            ngx_http_trigger_redis_cmd_arg(cmd, q, 1);

            if (q[0] == 't') {
                ngx_http_trigger_redis_cmd_arg_int(cmd, q[1]);
            } else {
                ngx_http_trigger_redis_cmd_arg(cmd, q + 1, 1);
            }

            ngx_http_trigger_redis_cmd_arg_int(cmd, q[2]);
            n = q[3];
            ngx_http_trigger_redis_cmd_arg_int(cmd, n);
            q += 4;

            for (i = 0; i < n; i++) {
                ngx_http_trigger_redis_cmd_arg(cmd, (u_char *)
                                        &ngx_http_trigger_event_codes[q[0]],
                                        1);
                len = q[1];
                ngx_http_trigger_redis_cmd_arg(cmd, q + 2, len);
                q += 2 + len;
                len = q[0];
                ngx_memcpy(&num, q + 1 + len, 8);
                ngx_http_trigger_redis_cmd_arg_int(cmd, num);
                ngx_http_trigger_redis_cmd_arg(cmd, q + 1, len);
                q += 1 + len + 8;
            }
        }

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
