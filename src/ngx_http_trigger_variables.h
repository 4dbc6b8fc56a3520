/*
 * The module's variables.
 */

#ifndef _NGX_HTTP_TRIGGER_VARIABLES_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_VARIABLES_H_INCLUDED_


#include "ngx_http_trigger_module.h"


ngx_int_t ngx_http_trigger_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_TRIGGER_VARIABLES_H_INCLUDED_ */
