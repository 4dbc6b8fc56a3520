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
char *ngx_http_trigger_text_set(ngx_conf_t *cf, json_t **texts,
    ngx_str_t *key, ngx_str_t *text);
json_t *ngx_http_trigger_json_keep(ngx_conf_t *cf, json_t *json);
ngx_int_t ngx_http_trigger_widget_render(ngx_pool_t *pool, json_t *o,
    ngx_str_t *out);
char *ngx_http_trigger_widget_signals(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_trigger_widget_variant(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_trigger_variants_merge(ngx_conf_t *cf,
    ngx_http_trigger_loc_conf_t *conf, ngx_http_trigger_loc_conf_t *prev);
ngx_http_trigger_variant_t *ngx_http_trigger_variant_of(
    ngx_http_trigger_loc_conf_t *tlcf, const u_char *vid);
char *ngx_http_trigger_widget_merge(ngx_conf_t *cf,
    ngx_http_trigger_loc_conf_t *conf);

#endif /* _NGX_HTTP_TRIGGER_WIDGET_H_INCLUDED_ */
