/*
 * The module's endpoints under the trigger_api location: events from the
 * page's scripts, the widget's script, and the answers to an offer.
 */

#ifndef _NGX_HTTP_TRIGGER_API_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_API_H_INCLUDED_


#include "ngx_http_trigger_module.h"
#include "ngx_http_trigger_redis.h"


extern ngx_http_trigger_script_t  ngx_http_trigger_subscribe_script;
extern ngx_http_trigger_script_t  ngx_http_trigger_confirm_script;
extern ngx_http_trigger_script_t  ngx_http_trigger_unsubscribe_script;


ngx_int_t ngx_http_trigger_api_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TRIGGER_API_H_INCLUDED_ */
