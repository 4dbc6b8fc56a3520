/*
 * The JSON event endpoint, for the page's own scripts.
 */

#ifndef _NGX_HTTP_TRIGGER_EVENTS_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_EVENTS_H_INCLUDED_


#include "ngx_http_trigger_module.h"


ngx_int_t ngx_http_trigger_events_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_trigger_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);


#endif /* _NGX_HTTP_TRIGGER_EVENTS_H_INCLUDED_ */
