/*
 * The widget: its script, its settings and texts, the product feed.
 */

#ifndef _NGX_HTTP_TRIGGER_WIDGET_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_WIDGET_H_INCLUDED_


#include "ngx_http_trigger_module.h"
#include "ngx_http_trigger_redis.h"


extern ngx_str_t                  ngx_http_trigger_widget_source;
extern ngx_str_t                  ngx_http_trigger_widget_gzip;
extern ngx_str_t                  ngx_http_trigger_widget_version;


char *ngx_http_trigger_products_load(ngx_conf_t *cf, ngx_str_t *path,
    json_t **products);
char *ngx_http_trigger_widget_text(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_trigger_widget_signals(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_trigger_widget_merge(ngx_conf_t *cf,
    ngx_http_trigger_loc_conf_t *conf);

#endif /* _NGX_HTTP_TRIGGER_WIDGET_H_INCLUDED_ */
