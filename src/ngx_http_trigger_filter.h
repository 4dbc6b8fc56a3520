/*
 * Response filters: the visitor cookie, the shop's event headers, and
 * the widget's bootstrap inserted before </body>.
 */

#ifndef _NGX_HTTP_TRIGGER_FILTER_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_FILTER_H_INCLUDED_


#include "ngx_http_trigger_module.h"


ngx_int_t ngx_http_trigger_filter_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_TRIGGER_FILTER_H_INCLUDED_ */
