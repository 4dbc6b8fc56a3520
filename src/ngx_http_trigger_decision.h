/*
 * The offer, decided for a request.
 */

#ifndef _NGX_HTTP_TRIGGER_DECISION_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_DECISION_H_INCLUDED_


#include "ngx_http_trigger_module.h"
#include "ngx_http_trigger_redis.h"


extern ngx_http_trigger_script_t  ngx_http_trigger_mark_script;


/* decides on a tracked request: sets ctx->offer, records the outcome */
void ngx_http_trigger_offer_request(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);


/* a request with a valid preview cookie: ctx->offer is "preview" */
void ngx_http_trigger_offer_preview(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);


#endif /* _NGX_HTTP_TRIGGER_DECISION_H_INCLUDED_ */
