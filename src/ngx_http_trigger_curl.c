/*
 * libcurl's multi interface on nginx's event loop.  libcurl tells which
 * sockets to watch (the socket callback) and when to call it back (the
 * timer callback); nginx's events and timers then call
 * curl_multi_socket_action(), never from inside libcurl's own callbacks.
 */


#include "ngx_http_trigger_curl.h"
#include "ngx_http_trigger_socket.h"


typedef struct {
    ngx_queue_t                     queue;
    CURL                           *easy;
    ngx_http_trigger_curl_done_pt   done;
    void                           *data;
} ngx_http_trigger_curl_transfer_t;


typedef struct {
    CURLM                          *multi;
    /* the transfers under way (libcurl 7.88 cannot list them) */
    ngx_queue_t                     transfers;
    ngx_uint_t                      running;
    ngx_event_t                     timer;
    ngx_connection_t                dummy;
    ngx_log_t                      *log;
} ngx_http_trigger_curl_t;


static int ngx_http_trigger_curl_socket(CURL *easy, curl_socket_t s,
    int what, void *userp, void *socketp);
static int ngx_http_trigger_curl_timer(CURLM *multi, long timeout_ms,
    void *userp);
static void ngx_http_trigger_curl_event(ngx_event_t *ev);
static void ngx_http_trigger_curl_timeout(ngx_event_t *ev);
static void ngx_http_trigger_curl_finish(void);


static ngx_http_trigger_curl_t  ngx_http_trigger_curl;


ngx_int_t
ngx_http_trigger_curl_init_process(ngx_cycle_t *cycle, ngx_uint_t transfers)
{
    ngx_http_trigger_curl_t  *cu;

    cu = &ngx_http_trigger_curl;

    if (cu->multi) {
        return NGX_OK;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return NGX_ERROR;
    }

    cu->multi = curl_multi_init();
    if (cu->multi == NULL) {
        curl_global_cleanup();
        return NGX_ERROR;
    }

    cu->log = cycle->log;
    cu->running = 0;
    ngx_queue_init(&cu->transfers);

    ngx_http_trigger_timer_init(&cu->timer, &cu->dummy,
                                ngx_http_trigger_curl_timeout, cu,
                                cycle->log, 1);

    curl_multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_http_trigger_curl_socket);
    curl_multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION,
                      ngx_http_trigger_curl_timer);

    /*
     * as many idle connections kept as transfers may run: by default
     * libcurl keeps 4 per transfer under way, and closes the rest when
     * fewer run for a moment (a TLS handshake each, to a provider)
     */
    curl_multi_setopt(cu->multi, CURLMOPT_MAXCONNECTS, (long) transfers);

    return NGX_OK;
}


void
ngx_http_trigger_curl_exit_process(void)
{
    ngx_queue_t                       *q;
    ngx_http_trigger_curl_t           *cu;
    ngx_http_trigger_curl_transfer_t  *t;

    cu = &ngx_http_trigger_curl;

    if (cu->multi == NULL) {
        return;
    }

    if (cu->timer.timer_set) {
        ngx_del_timer(&cu->timer);
    }

    /* what is still under way ends now, and its owner hears so */
    while (!ngx_queue_empty(&cu->transfers)) {
        q = ngx_queue_head(&cu->transfers);
        t = ngx_queue_data(q, ngx_http_trigger_curl_transfer_t, queue);
        ngx_queue_remove(q);

        curl_multi_remove_handle(cu->multi, t->easy);
        cu->running--;
        t->done(t->data, t->easy, CURLE_ABORTED_BY_CALLBACK);
        ngx_free(t);
    }

    /* closes the connections it caches: their sockets are released */
    curl_multi_cleanup(cu->multi);
    curl_global_cleanup();

    cu->multi = NULL;
    cu->running = 0;
}


ngx_int_t
ngx_http_trigger_curl_start(CURL *easy, ngx_http_trigger_curl_done_pt done,
    void *data)
{
    ngx_http_trigger_curl_t           *cu;
    ngx_http_trigger_curl_transfer_t  *t;

    cu = &ngx_http_trigger_curl;

    t = ngx_alloc(sizeof(ngx_http_trigger_curl_transfer_t), cu->log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->easy = easy;
    t->done = done;
    t->data = data;

    /* no signals in a worker; nginx's events, not libcurl's, wait */
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t);

    if (curl_multi_add_handle(cu->multi, easy) != CURLM_OK) {
        ngx_free(t);
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&cu->transfers, &t->queue);

    /* a running transfer keeps a shutting down worker until it ends */
    cu->running++;
    cu->timer.cancelable = 0;

    return NGX_OK;
}


static int
ngx_http_trigger_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp)
{
    ngx_connection_t         *c;
    ngx_http_trigger_curl_t  *cu;

    cu = &ngx_http_trigger_curl;
    c = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (c) {
            /* libcurl closes the socket itself */
            ngx_http_trigger_socket_release(c);
            curl_multi_assign(cu->multi, s, NULL);
        }

        return 0;
    }

    if (c == NULL) {
        c = ngx_http_trigger_socket_attach(s, cu,
                                           ngx_http_trigger_curl_event,
                                           ngx_http_trigger_curl_event,
                                           cu->log);
        if (c == NULL) {
            return -1;
        }

        curl_multi_assign(cu->multi, s, c);
    }

    if (ngx_http_trigger_socket_watch(c->read, what & CURL_POLL_IN)
        != NGX_OK
        || ngx_http_trigger_socket_watch(c->write, what & CURL_POLL_OUT)
           != NGX_OK)
    {
        return -1;
    }

    return 0;
}


static int
ngx_http_trigger_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_http_trigger_curl_t  *cu;

    cu = &ngx_http_trigger_curl;

    if (cu->timer.timer_set) {
        ngx_del_timer(&cu->timer);
    }

    if (timeout_ms >= 0) {
        /* 0 too: it runs on the next turn of the loop, outside libcurl */
        ngx_add_timer(&cu->timer, (ngx_msec_t) timeout_ms);
    }

    return 0;
}


static void
ngx_http_trigger_curl_event(ngx_event_t *ev)
{
    int                       running;
    ngx_socket_t              fd;
    ngx_connection_t         *c;
    ngx_http_trigger_curl_t  *cu;

    c = ev->data;
    cu = c->data;

    /* the connection may be released inside: keep what is needed */
    fd = c->fd;

    curl_multi_socket_action(cu->multi, fd,
                             ev == c->read ? CURL_CSELECT_IN
                                           : CURL_CSELECT_OUT,
                             &running);

    ngx_http_trigger_curl_finish();
}


static void
ngx_http_trigger_curl_timeout(ngx_event_t *ev)
{
    int                       running;
    ngx_http_trigger_curl_t  *cu;

    cu = &ngx_http_trigger_curl;

    curl_multi_socket_action(cu->multi, CURL_SOCKET_TIMEOUT, 0, &running);

    ngx_http_trigger_curl_finish();
}


static void
ngx_http_trigger_curl_finish(void)
{
    int                                left;
    CURL                              *easy;
    CURLcode                           rc;
    CURLMsg                           *msg;
    ngx_http_trigger_curl_t           *cu;
    ngx_http_trigger_curl_transfer_t  *t;

    cu = &ngx_http_trigger_curl;

    while ((msg = curl_multi_info_read(cu->multi, &left))) {

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        rc = msg->data.result;
        t = NULL;

        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t);
        curl_multi_remove_handle(cu->multi, easy);

        cu->running--;

        if (t) {
            ngx_queue_remove(&t->queue);
            t->done(t->data, easy, rc);
            ngx_free(t);
        }
    }

    /* idle: libcurl's housekeeping must not hold a worker that exits */
    if (cu->running == 0) {
        cu->timer.cancelable = 1;
    }
}
