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
extern ngx_http_trigger_script_t  ngx_http_trigger_close_script;


extern ngx_str_t  ngx_http_trigger_json_type;


ngx_int_t ngx_http_trigger_api_handler(ngx_http_request_t *r);

/*
 * An answer of the module's: "X-Content-Type-Options: nosniff"; JSON is
 * never cached and ends with a newline.
 */
ngx_table_elt_t *ngx_http_trigger_api_header(ngx_http_request_t *r,
    const char *key, u_char *value, size_t len);
ngx_int_t ngx_http_trigger_api_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len);
/* {"ok":false,"error":"<error>"}: the messages are the module's own */
ngx_int_t ngx_http_trigger_api_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error);


#endif /* _NGX_HTTP_TRIGGER_API_H_INCLUDED_ */
