/*
 * Visitor tracking: identify the visitor, send the shop's events with
 * one atomic script call, and suspend the request until the reply or
 * the deadline.
 */

#ifndef _NGX_HTTP_TRIGGER_TRACK_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_TRACK_H_INCLUDED_


#include "ngx_http_trigger_module.h"
#include "ngx_http_trigger_redis.h"
#include "ngx_http_trigger_visitor.h"


/* the tracking script's functions, shared with the zone's batch */
extern const char  ngx_http_trigger_track_lua[];
extern const char  ngx_http_trigger_track_call[];
extern ngx_http_trigger_script_t  ngx_http_trigger_track_script;
extern ngx_http_trigger_script_t  ngx_http_trigger_uncount_script;


ngx_http_trigger_ctx_t *ngx_http_trigger_get_ctx(ngx_http_request_t *r);
ngx_http_trigger_ctx_t *ngx_http_trigger_create_ctx(ngx_http_request_t *r);

/*
 * With wait, NGX_OK means the request is suspended and ctx->resume will
 * be called once, with ctx->status TRACKED, TIMEOUT or ERROR; without,
 * the events are just sent.  NGX_DECLINED: nothing was sent, and
 * ctx->status says why.
 */
ngx_int_t ngx_http_trigger_track(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_event_t *events,
    ngx_uint_t nevents, ngx_uint_t pageview, ngx_uint_t wait);

/* sends cmd and suspends the request on it, as ngx_http_trigger_track */
ngx_int_t ngx_http_trigger_wait(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_redis_cmd_t *cmd,
    ngx_http_trigger_parse_pt parse);

/*
 * For a content handler: sends cmd and suspends the request, or calls
 * ctx->resume at once when nothing could be sent; returns NGX_DONE.
 */
ngx_int_t ngx_http_trigger_wait_content(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_redis_cmd_t *cmd,
    ngx_http_trigger_parse_pt parse);

ngx_int_t ngx_http_trigger_track_handler(ngx_http_request_t *r);

/* takes back the page view of a response that is not a page */
void ngx_http_trigger_track_status(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);


#endif /* _NGX_HTTP_TRIGGER_TRACK_H_INCLUDED_ */
