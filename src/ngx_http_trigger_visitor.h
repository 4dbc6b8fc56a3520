/*
 * Who the visitor is, and its keys in Redis.
 */

#ifndef _NGX_HTTP_TRIGGER_VISITOR_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_VISITOR_H_INCLUDED_


#include "ngx_http_trigger_module.h"


/* "<prefix>{<vid>}" plus a suffix such as ":o" fits in this */
#define NGX_HTTP_TRIGGER_KEY_MAX                                            \
    (64 + 2 + NGX_HTTP_TRIGGER_VID_LEN + 64)


/* sets ctx->status to BOT or NO_CONSENT, or PENDING with a visitor id */
void ngx_http_trigger_identify(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_loc_conf_t *tlcf);

/* the value of the request's cookie "name" */
ngx_int_t ngx_http_trigger_cookie_value(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);

/* writes "<prefix>{<vid>}", returns its length */
size_t ngx_http_trigger_visitor_key(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, u_char *buf);


#endif /* _NGX_HTTP_TRIGGER_VISITOR_H_INCLUDED_ */
