/*
 * Sockets that a library owns (hiredis, libcurl) on nginx's event loop:
 * one adapter for all of them.  The library opens and closes its socket;
 * nginx only watches it, level-triggered, through a connection of its
 * own that is released, never closed.
 */

#ifndef _NGX_HTTP_TRIGGER_SOCKET_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_SOCKET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>


/* NULL when the worker is out of connections */
ngx_connection_t *ngx_http_trigger_socket_attach(ngx_socket_t fd,
    void *data, ngx_event_handler_pt read, ngx_event_handler_pt write,
    ngx_log_t *log);

/*
 * Starts (on) or stops watching one direction, ev being c->read or
 * c->write.  Level-triggered: libraries read a bounded amount a call
 * (hiredis 16 KB) and would stall on an edge that was already used.
 */
ngx_int_t ngx_http_trigger_socket_watch(ngx_event_t *ev, ngx_uint_t on);

/* stops watching and frees the connection; the fd stays the library's */
void ngx_http_trigger_socket_release(ngx_connection_t *c);

/*
 * A timer owned by the module.  Under "debug" nginx logs ev->data as a
 * connection: dummy stands in for one, its data pointing at data.
 */
void ngx_http_trigger_timer_init(ngx_event_t *ev, ngx_connection_t *dummy,
    ngx_event_handler_pt handler, void *data, ngx_log_t *log,
    ngx_uint_t cancelable);


#endif /* _NGX_HTTP_TRIGGER_SOCKET_H_INCLUDED_ */
