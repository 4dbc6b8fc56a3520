/*
 * Funnel statistics: counters in "<prefix>stats:<YYYYMMDD>" (UTC days),
 * kept for 400 days.
 */


#include "ngx_http_trigger_stats.h"


ngx_http_trigger_script_t  ngx_http_trigger_stats_script = {
    ngx_string(
    "redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "return 1\n"),
    { 0 }
};


void
ngx_http_trigger_stats_incr(const char *field, ngx_uint_t n)
{
    u_char                        *p, key[64 + sizeof("stats:YYYYMMDD")];
    ngx_tm_t                       tm;
    ngx_http_trigger_redis_cmd_t  *cmd;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_trigger_module);

    ngx_gmtime(ngx_time(), &tm);

    p = ngx_sprintf(key, "%Vstats:%04d%02d%02d", &tmcf->key_prefix,
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday);

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_stats_script,
                                            5, (p - key) + 64
                                               + 3 * NGX_INT64_LEN);
    if (cmd == NULL) {
        return;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "1", 1);
    ngx_http_trigger_redis_cmd_arg(cmd, key, p - key);
    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) field, ngx_strlen(field));
    ngx_http_trigger_redis_cmd_arg_int(cmd, n);
    ngx_http_trigger_redis_cmd_arg_int(cmd, NGX_HTTP_TRIGGER_STATS_TTL);

    (void) ngx_http_trigger_redis_eval(cmd, NULL, NULL);
}
