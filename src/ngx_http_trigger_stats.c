/*
 * Funnel statistics: counters in "<prefix>stats:<YYYYMMDD>" (UTC days),
 * kept for 400 days.  A worker adds its counts up in memory and sends
 * them once a second in one call, instead of one call per event.
 */


#include "ngx_http_trigger_stats.h"


/* the offer's counters, and per A/B variant up to 5 each */
#define NGX_HTTP_TRIGGER_STATS_FIELDS    64
#define NGX_HTTP_TRIGGER_STATS_FIELD_MAX                                    \
    (sizeof("visitors_offered:") + NGX_HTTP_TRIGGER_VARIANT_MAX)
#define NGX_HTTP_TRIGGER_STATS_INTERVAL  1000


typedef struct {
    char         field[NGX_HTTP_TRIGGER_STATS_FIELD_MAX];
    ngx_uint_t   n;
} ngx_http_trigger_stat_t;


static void ngx_http_trigger_stats_timer(ngx_event_t *ev);


ngx_http_trigger_script_t  ngx_http_trigger_stats_script = {
    ngx_string(
    "for i = 2, #ARGV, 2 do\n"
    "  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])\n"
    "end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
    "return 1\n"),
    { 0 }
};


static ngx_http_trigger_stat_t
    ngx_http_trigger_stats[NGX_HTTP_TRIGGER_STATS_FIELDS];
static ngx_uint_t        ngx_http_trigger_nstats;
static ngx_event_t       ngx_http_trigger_stats_ev;
static ngx_connection_t  ngx_http_trigger_stats_dummy;


void
ngx_http_trigger_stats_incr(const char *field, ngx_uint_t n)
{
    ngx_uint_t   i;
    ngx_event_t *ev;

    for (i = 0; i < ngx_http_trigger_nstats; i++) {
        if (ngx_strcmp(ngx_http_trigger_stats[i].field, field) == 0) {
            break;
        }
    }

    if (i == ngx_http_trigger_nstats) {
        if (i == NGX_HTTP_TRIGGER_STATS_FIELDS
            || ngx_strlen(field) >= NGX_HTTP_TRIGGER_STATS_FIELD_MAX)
        {
            return;
        }

        ngx_cpystrn((u_char *) ngx_http_trigger_stats[i].field,
                    (u_char *) field, NGX_HTTP_TRIGGER_STATS_FIELD_MAX);
        ngx_http_trigger_stats[i].n = 0;
        ngx_http_trigger_nstats++;
    }

    ngx_http_trigger_stats[i].n += n;

    ev = &ngx_http_trigger_stats_ev;

    if (!ev->timer_set) {
        ngx_http_trigger_stats_dummy.fd = (ngx_socket_t) -1;
        ev->handler = ngx_http_trigger_stats_timer;
        ev->data = &ngx_http_trigger_stats_dummy;
        ev->log = ngx_cycle->log;
        /* a worker that exits sends what is left in exit_process */
        ev->cancelable = 1;
        ngx_add_timer(ev, NGX_HTTP_TRIGGER_STATS_INTERVAL);
    }
}


void
ngx_http_trigger_stats_incr_variant(const char *field, const u_char *name,
    size_t len)
{
    u_char  buf[NGX_HTTP_TRIGGER_STATS_FIELD_MAX];

    if (!ngx_http_trigger_offer_name_valid(name, len)
        || ngx_strlen(field) + 1 + len >= sizeof(buf))
    {
        return;
    }

    ngx_sprintf(buf, "%s:%*s%Z", field, len, name);

    ngx_http_trigger_stats_incr((char *) buf, 1);
}


size_t
ngx_http_trigger_stats_key(u_char *buf)
{
    ngx_tm_t                       tm;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_trigger_module);

    ngx_gmtime(ngx_time(), &tm);

    return ngx_sprintf(buf, "%Vstats:%04d%02d%02d", &tmcf->key_prefix,
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday)
           - buf;
}


static void
ngx_http_trigger_stats_timer(ngx_event_t *ev)
{
    ngx_http_trigger_stats_flush();

    if (ngx_http_trigger_nstats && !ngx_exiting && !ngx_quit) {
        /* Redis was not there: try again */
        ngx_add_timer(ev, NGX_HTTP_TRIGGER_STATS_INTERVAL);
    }
}


void
ngx_http_trigger_stats_flush(void)
{
    u_char                        *p, key[NGX_HTTP_TRIGGER_STATS_KEY_MAX];
    size_t                         size;
    ngx_uint_t                     i;
    ngx_http_trigger_redis_cmd_t  *cmd;

    if (ngx_http_trigger_nstats == 0) {
        return;
    }

    p = key + ngx_http_trigger_stats_key(key);

    size = (p - key) + 2 + NGX_INT64_LEN;

    for (i = 0; i < ngx_http_trigger_nstats; i++) {
        size += ngx_strlen(ngx_http_trigger_stats[i].field) + NGX_INT64_LEN;
    }

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_stats_script,
                                            3 + 2 * ngx_http_trigger_nstats,
                                            size);
    if (cmd == NULL) {
        return;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "1", 1);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);
    ngx_http_trigger_redis_cmd_arg_int(cmd, NGX_HTTP_TRIGGER_STATS_TTL);

    for (i = 0; i < ngx_http_trigger_nstats; i++) {
        ngx_http_trigger_redis_cmd_arg(cmd,
                              (u_char *) ngx_http_trigger_stats[i].field,
                              ngx_strlen(ngx_http_trigger_stats[i].field));
        ngx_http_trigger_redis_cmd_arg_int(cmd, ngx_http_trigger_stats[i].n);
    }

    if (ngx_http_trigger_redis_eval(ngx_http_trigger_redis_pages, cmd, NULL,
                                    NULL)
        == NGX_OK)
    {
        ngx_http_trigger_nstats = 0;
    }
}
