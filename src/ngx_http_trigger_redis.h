/*
 * One asynchronous Redis connection per worker, on nginx's event loop.
 */

#ifndef _NGX_HTTP_TRIGGER_REDIS_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <hiredis/hiredis.h>

#include "ngx_http_trigger_module.h"


typedef struct {
    ngx_str_t  text;
    u_char     sha[40];
} ngx_http_trigger_script_t;


typedef struct ngx_http_trigger_redis_s  ngx_http_trigger_redis_t;
typedef struct ngx_http_trigger_redis_cmd_s  ngx_http_trigger_redis_cmd_t;

/* reply is NULL when the connection went away; it is freed on return */
typedef void (*ngx_http_trigger_redis_handler_pt)(void *data,
    redisReply *reply);


void ngx_http_trigger_redis_script(ngx_http_trigger_script_t *script);
/* a script whose text is head and tail: Lua shared by several scripts */
ngx_int_t ngx_http_trigger_redis_script_join(ngx_conf_t *cf,
    ngx_http_trigger_script_t *script, const char *head, const char *tail);

/* the worker's connection for page views and the endpoints */
extern ngx_http_trigger_redis_t  *ngx_http_trigger_redis_pages;

/* creates the pages' connection */
ngx_int_t ngx_http_trigger_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_trigger_main_conf_t *tmcf);
/* another connection of the worker's, e.g. the sender's; NULL on error */
ngx_http_trigger_redis_t *ngx_http_trigger_redis_create(ngx_cycle_t *cycle,
    ngx_http_trigger_main_conf_t *tmcf, const char *name);
/* frees every connection */
void ngx_http_trigger_redis_exit_process(void);

ngx_http_trigger_redis_cmd_t *ngx_http_trigger_redis_cmd_create(
    ngx_http_trigger_script_t *script, ngx_uint_t nargs, size_t size);
void ngx_http_trigger_redis_cmd_arg(ngx_http_trigger_redis_cmd_t *cmd,
    const u_char *data, size_t len);
void ngx_http_trigger_redis_cmd_arg_int(ngx_http_trigger_redis_cmd_t *cmd,
    int64_t n);
/* the strings of an array (NULL: none) as arguments, and their size */
size_t ngx_http_trigger_redis_strs_size(ngx_array_t *a, ngx_uint_t *n);
void ngx_http_trigger_redis_cmd_strs(ngx_http_trigger_redis_cmd_t *cmd,
    ngx_array_t *a);

/*
 * Sends EVALSHA, falling back to EVAL on NOSCRIPT.  NGX_OK: the handler
 * (if any) will be called exactly once, unless the command is detached
 * first.  Anything else (NGX_DECLINED: no connection set up): nothing was
 * sent and cmd is already freed.
 */
ngx_int_t ngx_http_trigger_redis_eval(ngx_http_trigger_redis_t *rd,
    ngx_http_trigger_redis_cmd_t *cmd,
    ngx_http_trigger_redis_handler_pt handler, void *data);
void ngx_http_trigger_redis_detach(ngx_http_trigger_redis_cmd_t *cmd);

/* eval in two steps, for a command held before it is sent */
void ngx_http_trigger_redis_cmd_bind(ngx_http_trigger_redis_cmd_t *cmd,
    ngx_http_trigger_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_trigger_redis_send(ngx_http_trigger_redis_t *rd,
    ngx_http_trigger_redis_cmd_t *cmd);
/* a held command that cannot be sent: its handler gets NULL, it is freed */
void ngx_http_trigger_redis_fail(ngx_http_trigger_redis_cmd_t *cmd);

/* lines that can repeat are logged at most once a second (per kind) */
ngx_uint_t ngx_http_trigger_log_allowed(time_t *last);


#endif /* _NGX_HTTP_TRIGGER_REDIS_H_INCLUDED_ */
