/*
 * The module's directives.
 */

#ifndef _NGX_HTTP_TRIGGER_DIRECTIVES_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_DIRECTIVES_H_INCLUDED_


#include "ngx_http_trigger_module.h"


extern ngx_command_t  ngx_http_trigger_commands[];


/* bot patterns, joined into one case-insensitive regex */
ngx_regex_t *ngx_http_trigger_compile_bots(ngx_conf_t *cf,
    ngx_str_t *pattern);


#endif /* _NGX_HTTP_TRIGGER_DIRECTIVES_H_INCLUDED_ */
