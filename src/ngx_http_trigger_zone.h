/*
 * The visitors' zone (trigger_zone): their state in shared memory, so
 * that a page view is counted and decided without waiting for Redis,
 * and a journal of every change, written to Redis behind the requests
 * in batches.
 */

#ifndef _NGX_HTTP_TRIGGER_ZONE_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_ZONE_H_INCLUDED_


#include "ngx_http_trigger_module.h"
#include "ngx_http_trigger_redis.h"
#include "ngx_http_trigger_vstate.h"


extern const char  ngx_http_trigger_batch_call[];
extern ngx_http_trigger_script_t  ngx_http_trigger_batch_script;
extern ngx_http_trigger_script_t  ngx_http_trigger_read_script;


char *ngx_http_trigger_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* page views and their events go through the zone */
#define ngx_http_trigger_zone_on(tmcf)                                      \
    ((tmcf)->zone && (tmcf)->zone_valid)

/*
 * A request's page view and events (no purchase, no decline) through the
 * zone.  NGX_DECLINED: done at once, ctx->status is ZONE (with the state)
 * or says why not; NGX_OK (only with wait): the request waits for the
 * visitor's state from Redis, as ngx_http_trigger_track.
 */
ngx_int_t ngx_http_trigger_zone_track(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_event_t *events,
    ngx_uint_t nevents, ngx_uint_t pageview, ngx_uint_t wait);

/*
 * Settles a request's zone record once: with the visitor's hash as Redis
 * returned it (reply), or without (Redis failed, or the request went
 * away): the record is journaled either way.
 */
void ngx_http_trigger_zone_settle(ngx_http_trigger_ctx_t *ctx,
    redisReply *reply);

/*
 * The synchronous changes (purchases, decline) applied to the zone's
 * entry as they are sent; then the reply's state, which is Redis's.
 */
void ngx_http_trigger_zone_apply(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_event_t *events,
    ngx_uint_t nevents, ngx_uint_t pageview);
void ngx_http_trigger_zone_update(ngx_http_trigger_ctx_t *ctx);

/*
 * What a synchronous script set in Redis, into the entry: a field of
 * ngx_http_trigger_vstate.h (a subscription's active offer, a close),
 * and the visitor's code (NULL: as it was).
 */
void ngx_http_trigger_zone_set(ngx_http_trigger_ctx_t *ctx,
    ngx_uint_t field, int64_t value, ngx_str_t *code);

/* a page view taken back, the offer group drawn (1: first here) */
void ngx_http_trigger_zone_uncount(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
ngx_uint_t ngx_http_trigger_zone_mark(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, int group);

/*
 * Sends a command on the pages' connection after the journal's changes
 * (flushed first), so that Redis applies a visitor's changes in order.
 * As ngx_http_trigger_redis_eval.
 */
ngx_int_t ngx_http_trigger_zone_eval(ngx_http_trigger_redis_cmd_t *cmd,
    ngx_http_trigger_redis_handler_pt handler, void *data);

/* changes in the journal not yet in Redis (for $trigger_zone_pending) */
ngx_uint_t ngx_http_trigger_zone_pending(void);

ngx_int_t ngx_http_trigger_zone_init_process(ngx_cycle_t *cycle,
    ngx_http_trigger_main_conf_t *tmcf);
void ngx_http_trigger_zone_exit_process(void);


#endif /* _NGX_HTTP_TRIGGER_ZONE_H_INCLUDED_ */
