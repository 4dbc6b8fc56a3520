/*
 * The offer in the page: deciding for a request, the product feed, and
 * the bootstrap that brings the widget.
 */

#ifndef _NGX_HTTP_TRIGGER_WIDGET_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_WIDGET_H_INCLUDED_


#include "ngx_http_trigger_module.h"
#include "ngx_http_trigger_redis.h"


extern ngx_http_trigger_script_t  ngx_http_trigger_mark_script;
extern ngx_str_t                  ngx_http_trigger_widget_source;
extern ngx_str_t                  ngx_http_trigger_widget_version;


char *ngx_http_trigger_products_load(ngx_conf_t *cf, ngx_str_t *path,
    json_t **products);
char *ngx_http_trigger_widget_text(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_trigger_widget_signals(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_trigger_widget_merge(ngx_conf_t *cf,
    ngx_http_trigger_loc_conf_t *conf);

/* decides on a tracked request: sets ctx->offer, records the outcome */
void ngx_http_trigger_offer_request(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);

/* the HTML to insert before </body> */
ngx_int_t ngx_http_trigger_widget_bootstrap(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_str_t *html);


#endif /* _NGX_HTTP_TRIGGER_WIDGET_H_INCLUDED_ */
