/*
 * Funnel statistics: one Redis hash of counters per day.
 */

#ifndef _NGX_HTTP_TRIGGER_STATS_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_STATS_H_INCLUDED_


#include "ngx_http_trigger_module.h"
#include "ngx_http_trigger_redis.h"


#define NGX_HTTP_TRIGGER_STATS_TTL      (400 * 86400)
#define NGX_HTTP_TRIGGER_STATS_KEY_MAX  (64 + sizeof("stats:YYYYMMDD"))


extern ngx_http_trigger_script_t  ngx_http_trigger_stats_script;


/* adds n to today's counter, sent within a second */
void ngx_http_trigger_stats_incr(const char *field, ngx_uint_t n);
/* adds 1 to "<field>:<variant>", a valid variant's name */
void ngx_http_trigger_stats_incr_variant(const char *field,
    const u_char *name, size_t len);
/* sends what the worker has counted so far */
void ngx_http_trigger_stats_flush(void);
/* today's counters' key, "<prefix>stats:YYYYMMDD"; returns its length */
size_t ngx_http_trigger_stats_key(u_char *buf);


#endif /* _NGX_HTTP_TRIGGER_STATS_H_INCLUDED_ */
