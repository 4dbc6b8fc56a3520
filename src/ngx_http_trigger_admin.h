/*
 * The admin location: the letters' queue, contacts, dead letters.
 */

#ifndef _NGX_HTTP_TRIGGER_ADMIN_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_ADMIN_H_INCLUDED_


#include "ngx_http_trigger_module.h"
#include "ngx_http_trigger_redis.h"


extern ngx_http_trigger_script_t  ngx_http_trigger_admin_script;


ngx_int_t ngx_http_trigger_admin_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TRIGGER_ADMIN_H_INCLUDED_ */
