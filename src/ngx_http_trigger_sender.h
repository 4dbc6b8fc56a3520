/*
 * The letters' sender: in every worker (unless turned off), it takes
 * due jobs from the queue, runs the contact's chain one step, renders
 * the letter and sends it through the provider with libcurl, all on
 * nginx's event loop.
 */

#ifndef _NGX_HTTP_TRIGGER_SENDER_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_SENDER_H_INCLUDED_


#include "ngx_http_trigger_module.h"


char *ngx_http_trigger_chains_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_trigger_esp_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* checks the sender's configuration once all directives are read */
char *ngx_http_trigger_sender_init_conf(ngx_conf_t *cf,
    ngx_http_trigger_main_conf_t *tmcf);

ngx_int_t ngx_http_trigger_sender_init_process(ngx_cycle_t *cycle,
    ngx_http_trigger_main_conf_t *tmcf);
void ngx_http_trigger_sender_exit_process(void);

/* a job was queued here: look at the queue now, not at the next tick */
void ngx_http_trigger_sender_wake(void);


#endif /* _NGX_HTTP_TRIGGER_SENDER_H_INCLUDED_ */
