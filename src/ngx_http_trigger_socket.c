/*
 * Sockets that a library owns on nginx's event loop.
 */


#include "ngx_http_trigger_socket.h"


ngx_connection_t *
ngx_http_trigger_socket_attach(ngx_socket_t fd, void *data,
    ngx_event_handler_pt read, ngx_event_handler_pt write, ngx_log_t *log)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(fd, log);
    if (c == NULL) {
        return NULL;
    }

    c->data = data;
    c->read->handler = read;
    c->write->handler = write;
    c->read->log = log;
    c->write->log = log;

    return c;
}


ngx_int_t
ngx_http_trigger_socket_watch(ngx_event_t *ev, ngx_uint_t on)
{
    ngx_connection_t  *c;

    c = ev->data;

    if (on) {
        if (ev->active) {
            return NGX_OK;
        }

        return ngx_add_event(ev, ev == c->read ? NGX_READ_EVENT
                                               : NGX_WRITE_EVENT,
                             NGX_LEVEL_EVENT);
    }

    /* deleting an event that is not there makes epoll complain */
    if (ev->active) {
        return ngx_del_event(ev, ev == c->read ? NGX_READ_EVENT
                                               : NGX_WRITE_EVENT, 0);
    }

    return NGX_OK;
}


void
ngx_http_trigger_socket_release(ngx_connection_t *c)
{
    (void) ngx_http_trigger_socket_watch(c->read, 0);
    (void) ngx_http_trigger_socket_watch(c->write, 0);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


void
ngx_http_trigger_timer_init(ngx_event_t *ev, ngx_connection_t *dummy,
    ngx_event_handler_pt handler, void *data, ngx_log_t *log,
    ngx_uint_t cancelable)
{
    ngx_memzero(dummy, sizeof(ngx_connection_t));
    dummy->fd = (ngx_socket_t) -1;
    dummy->data = data;

    ngx_memzero(ev, sizeof(ngx_event_t));
    ev->handler = handler;
    ev->data = dummy;
    ev->log = log;
    ev->cancelable = cancelable;
}
