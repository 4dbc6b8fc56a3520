/*
 * Asynchronous Redis connections: hiredis's async API attached to
 * nginx's event loop, reconnecting with backoff, never blocking the
 * worker.  A worker has one for page views and the endpoints, and the
 * letters' sender one of its own, so that pages never queue behind it.
 */


#include <hiredis/async.h>

#include "ngx_http_trigger_redis.h"
#include "ngx_http_trigger_socket.h"


/* for the TCP connect and the replies to the setup commands together */
#define NGX_HTTP_TRIGGER_REDIS_CONNECT_TIMEOUT  1000
#define NGX_HTTP_TRIGGER_REDIS_BACKOFF_MIN      50
#define NGX_HTTP_TRIGGER_REDIS_BACKOFF_MAX      1000
/* no reply for this long while commands wait: the connection is dead */
#define NGX_HTTP_TRIGGER_REDIS_STALL            2000
#define NGX_HTTP_TRIGGER_REDIS_MAX_PENDING      4096
#define NGX_HTTP_TRIGGER_REDIS_MAX_SCRIPTS      16
#define NGX_HTTP_TRIGGER_REDIS_MAX_CLIENTS      4


typedef enum {
    NGX_HTTP_TRIGGER_REDIS_DOWN = 0,
    /* connecting, or connected with setup replies still to come */
    NGX_HTTP_TRIGGER_REDIS_CONNECTING,
    NGX_HTTP_TRIGGER_REDIS_READY
} ngx_http_trigger_redis_state_e;


struct ngx_http_trigger_redis_cmd_s {
    ngx_http_trigger_redis_handler_pt   handler;
    void                               *data;
    ngx_http_trigger_script_t          *script;
    ngx_uint_t                          retried;
    int                                 argc;
    const char                        **argv;
    size_t                             *argvlen;
    u_char                             *pos;
};


struct ngx_http_trigger_redis_s {
    const char                         *name;
    redisAsyncContext                  *ac;
    ngx_http_trigger_redis_state_e      state;
    ngx_uint_t                          exiting;
    ngx_msec_t                          backoff;
    /* setup replies still to come */
    ngx_uint_t                          setup;
    /* the worker's first connection, not made again after a fault */
    ngx_uint_t                          fresh;
    /*
     * one timer for the state at hand: reconnect (DOWN), connect and
     * setup deadline (CONNECTING), stall check (READY)
     */
    ngx_event_t                         timer;
    /* timers log ev->data as a connection under "debug": give them one */
    ngx_connection_t                    dummy;
    ngx_uint_t                          pending;
    ngx_msec_t                          last_progress;
    /* each kind of line at most once a second */
    time_t                              log_failed;
    time_t                              log_connected;
    time_t                              log_script;
    ngx_log_t                          *log;
    ngx_http_trigger_main_conf_t       *conf;
};


static void ngx_http_trigger_redis_connect(ngx_http_trigger_redis_t *rd);
static void ngx_http_trigger_redis_down(ngx_http_trigger_redis_t *rd);
static void ngx_http_trigger_redis_timer_handler(ngx_event_t *ev);
static void ngx_http_trigger_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_trigger_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_trigger_redis_setup_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_trigger_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_trigger_redis_read(ngx_event_t *ev);
static void ngx_http_trigger_redis_write(ngx_event_t *ev);
static void ngx_http_trigger_redis_add_read(void *privdata);
static void ngx_http_trigger_redis_del_read(void *privdata);
static void ngx_http_trigger_redis_add_write(void *privdata);
static void ngx_http_trigger_redis_del_write(void *privdata);
static void ngx_http_trigger_redis_watch(ngx_event_t *ev, ngx_uint_t on);
static void ngx_http_trigger_redis_cleanup(void *privdata);


ngx_http_trigger_redis_t  *ngx_http_trigger_redis_pages;

static ngx_http_trigger_redis_t
    *ngx_http_trigger_redis_clients[NGX_HTTP_TRIGGER_REDIS_MAX_CLIENTS];

static ngx_http_trigger_script_t
    *ngx_http_trigger_scripts[NGX_HTTP_TRIGGER_REDIS_MAX_SCRIPTS];


void
ngx_http_trigger_redis_script(ngx_http_trigger_script_t *script)
{
    ngx_uint_t  i;

    ngx_http_trigger_sha1_hex(script->sha, script->text.data,
                              script->text.len);

    for (i = 0; i < NGX_HTTP_TRIGGER_REDIS_MAX_SCRIPTS; i++) {
        if (ngx_http_trigger_scripts[i] == script) {
            return;
        }

        if (ngx_http_trigger_scripts[i] == NULL) {
            ngx_http_trigger_scripts[i] = script;
            return;
        }
    }
}


ngx_int_t
ngx_http_trigger_redis_script_join(ngx_conf_t *cf,
    ngx_http_trigger_script_t *script, const char *head, const char *tail)
{
    size_t   len;
    u_char  *p;

    len = ngx_strlen(head) + ngx_strlen(tail);

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    script->text.data = p;
    script->text.len = len;
    p = ngx_cpymem(p, head, ngx_strlen(head));
    ngx_memcpy(p, tail, ngx_strlen(tail));

    ngx_http_trigger_redis_script(script);

    return NGX_OK;
}


ngx_uint_t
ngx_http_trigger_log_allowed(time_t *last)
{
    if (*last == ngx_time()) {
        return 0;
    }

    *last = ngx_time();

    return 1;
}


ngx_http_trigger_redis_t *
ngx_http_trigger_redis_create(ngx_cycle_t *cycle,
    ngx_http_trigger_main_conf_t *tmcf, const char *name)
{
    ngx_uint_t                 i;
    ngx_http_trigger_redis_t  *rd;

    for (i = 0; ngx_http_trigger_redis_clients[i]; i++) {
        if (i + 1 == NGX_HTTP_TRIGGER_REDIS_MAX_CLIENTS) {
            return NULL;
        }
    }

    rd = ngx_calloc(sizeof(ngx_http_trigger_redis_t), cycle->log);
    if (rd == NULL) {
        return NULL;
    }

    ngx_http_trigger_redis_clients[i] = rd;

    rd->name = name;
    rd->log = cycle->log;
    rd->conf = tmcf;
    rd->backoff = NGX_HTTP_TRIGGER_REDIS_BACKOFF_MIN;
    rd->fresh = 1;

    /* a worker that shuts down never waits for it */
    ngx_http_trigger_timer_init(&rd->timer, &rd->dummy,
                                ngx_http_trigger_redis_timer_handler, rd,
                                cycle->log, 1);

    ngx_http_trigger_redis_connect(rd);

    return rd;
}


ngx_int_t
ngx_http_trigger_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_trigger_main_conf_t *tmcf)
{
    ngx_http_trigger_redis_pages = ngx_http_trigger_redis_create(cycle, tmcf,
                                                                 "pages");

    return ngx_http_trigger_redis_pages ? NGX_OK : NGX_ERROR;
}


void
ngx_http_trigger_redis_exit_process(void)
{
    ngx_uint_t                 i;
    ngx_http_trigger_redis_t  *rd;

    for (i = 0; i < NGX_HTTP_TRIGGER_REDIS_MAX_CLIENTS; i++) {
        rd = ngx_http_trigger_redis_clients[i];

        if (rd == NULL) {
            break;
        }

        ngx_http_trigger_redis_clients[i] = NULL;
        rd->exiting = 1;

        if (rd->timer.timer_set) {
            ngx_del_timer(&rd->timer);
        }

        if (rd->ac && rd->state == NGX_HTTP_TRIGGER_REDIS_READY) {
            /* what is queued (the last counters) goes out, unawaited */
            redisAsyncHandleWrite(rd->ac);
        }

        if (rd->ac) {
            redisAsyncFree(rd->ac);
        }

        ngx_free(rd);
    }

    ngx_http_trigger_redis_pages = NULL;
}


static void
ngx_http_trigger_redis_connect(ngx_http_trigger_redis_t *rd)
{
    ngx_uint_t                     i;
    ngx_connection_t              *c;
    redisAsyncContext             *ac;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = rd->conf;

    if (tmcf->unix_path.len) {
        ac = redisAsyncConnectUnix((const char *) tmcf->unix_path.data);

    } else {
        ac = redisAsyncConnect((const char *) tmcf->host.data, tmcf->port);
    }

    if (ac == NULL || ac->err) {
        if (ngx_http_trigger_log_allowed(&rd->log_failed)) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "trigger: redis %V: connect failed: %s",
                          &tmcf->addr, ac ? ac->errstr : "out of memory");
        }

        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_http_trigger_redis_down(rd);
        return;
    }

    c = ngx_http_trigger_socket_attach(ac->c.fd, ac,
                                       ngx_http_trigger_redis_read,
                                       ngx_http_trigger_redis_write, rd->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_trigger_redis_down(rd);
        return;
    }

    ac->data = rd;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_trigger_redis_add_read;
    ac->ev.delRead = ngx_http_trigger_redis_del_read;
    ac->ev.addWrite = ngx_http_trigger_redis_add_write;
    ac->ev.delWrite = ngx_http_trigger_redis_del_write;
    ac->ev.cleanup = ngx_http_trigger_redis_cleanup;

    rd->ac = ac;
    rd->state = NGX_HTTP_TRIGGER_REDIS_CONNECTING;
    rd->pending = 0;
    rd->setup = 0;

    /* after attaching: setting the connect callback arms the write event */
    redisAsyncSetConnectCallback(ac, ngx_http_trigger_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_trigger_redis_disconnected);

    /*
     * queued now, written as soon as the socket connects; the connection
     * is ready when the last one is answered (there is always a script)
     */
    if (tmcf->password.len
        && redisAsyncCommand(ac, ngx_http_trigger_redis_setup_reply, "AUTH",
                             "AUTH %b", tmcf->password.data,
                             tmcf->password.len)
           == REDIS_OK)
    {
        rd->setup++;
    }

    if (tmcf->db
        && redisAsyncCommand(ac, ngx_http_trigger_redis_setup_reply,
                             "SELECT", "SELECT %d", (int) tmcf->db)
           == REDIS_OK)
    {
        rd->setup++;
    }

    for (i = 0; i < NGX_HTTP_TRIGGER_REDIS_MAX_SCRIPTS; i++) {
        if (ngx_http_trigger_scripts[i] == NULL) {
            break;
        }

        if (redisAsyncCommand(ac, ngx_http_trigger_redis_setup_reply,
                              "SCRIPT LOAD", "SCRIPT LOAD %b",
                              ngx_http_trigger_scripts[i]->text.data,
                              ngx_http_trigger_scripts[i]->text.len)
            == REDIS_OK)
        {
            rd->setup++;
        }
    }

    ngx_add_timer(&rd->timer, NGX_HTTP_TRIGGER_REDIS_CONNECT_TIMEOUT);
}


/* every way down leads here: the next attempt is always armed */

static void
ngx_http_trigger_redis_down(ngx_http_trigger_redis_t *rd)
{
    ngx_msec_t  delay;

    rd->state = NGX_HTTP_TRIGGER_REDIS_DOWN;
    rd->ac = NULL;
    rd->pending = 0;
    rd->fresh = 0;

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    if (rd->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    /* between half and all of it: workers do not come back in lockstep */
    delay = rd->backoff / 2 + ngx_random() % (rd->backoff / 2 + 1);

    ngx_add_timer(&rd->timer, delay);

    rd->backoff = ngx_min(rd->backoff * 2, NGX_HTTP_TRIGGER_REDIS_BACKOFF_MAX);
}


static void
ngx_http_trigger_redis_timer_handler(ngx_event_t *ev)
{
    ngx_msec_t                 idle;
    ngx_connection_t          *c;
    ngx_http_trigger_redis_t  *rd;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    c = ev->data;
    rd = c->data;

    switch (rd->state) {

    case NGX_HTTP_TRIGGER_REDIS_DOWN:
        ngx_http_trigger_redis_connect(rd);
        return;

    case NGX_HTTP_TRIGGER_REDIS_CONNECTING:
        if (ngx_http_trigger_log_allowed(&rd->log_failed)) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "trigger: redis %V: %s within %M ms, reconnecting",
                          &rd->conf->addr,
                          (rd->ac->c.flags & REDIS_CONNECTED)
                          ? "no reply to the setup commands"
                          : "no connection",
                          (ngx_msec_t) NGX_HTTP_TRIGGER_REDIS_CONNECT_TIMEOUT);
        }

        /* the cleanup callback goes down and arms the next attempt */
        redisAsyncFree(rd->ac);
        return;

    default: /* NGX_HTTP_TRIGGER_REDIS_READY */

        if (rd->pending == 0) {
            return;
        }

        idle = ngx_current_msec - rd->last_progress;

        if (idle < NGX_HTTP_TRIGGER_REDIS_STALL) {
            ngx_add_timer(&rd->timer, NGX_HTTP_TRIGGER_REDIS_STALL - idle);
            return;
        }

        if (ngx_http_trigger_log_allowed(&rd->log_failed)) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "trigger: redis %V: no reply for %M ms, "
                          "reconnecting", &rd->conf->addr, idle);
        }

        /* pending handlers get a NULL reply, cleanup goes down */
        redisAsyncFree(rd->ac);
    }
}


static void
ngx_http_trigger_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_trigger_redis_t  *rd;

    rd = ac->data;

    /* on success, the connection is ready only once Redis answers */
    if (status != REDIS_OK
        && ngx_http_trigger_log_allowed(&rd->log_failed))
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "trigger: redis %V: connect failed: %s",
                      &rd->conf->addr, ac->errstr);
    }
}


static void
ngx_http_trigger_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_trigger_redis_t  *rd;

    rd = ac->data;

    if (status != REDIS_OK
        && ngx_http_trigger_log_allowed(&rd->log_failed))
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "trigger: redis %V: connection lost: %s",
                      &rd->conf->addr, ac->errstr);
    }
}


static void
ngx_http_trigger_redis_setup_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                *reply;
    ngx_http_trigger_redis_t  *rd;

    reply = r;
    rd = ac->data;

    if (reply == NULL) {
        /* the connection is going away: its cleanup goes down */
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        if (ngx_http_trigger_log_allowed(&rd->log_failed)) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "trigger: redis %V: %s failed: %s",
                          &rd->conf->addr, (char *) privdata, reply->str);
        }

        /*
         * a wrong password or database, or a Redis still loading its data,
         * would fail every command: drop the connection (once this callback
         * returns), the backoff keeps growing
         */
        redisAsyncFree(ac);
        return;
    }

    if (--rd->setup) {
        return;
    }

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    rd->state = NGX_HTTP_TRIGGER_REDIS_READY;
    rd->backoff = NGX_HTTP_TRIGGER_REDIS_BACKOFF_MIN;

    /* commands queued behind the setup ones: their clock starts now */
    if (rd->pending) {
        rd->last_progress = ngx_current_msec;
        ngx_add_timer(&rd->timer, NGX_HTTP_TRIGGER_REDIS_STALL);
    }

    if (ngx_http_trigger_log_allowed(&rd->log_connected)) {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "trigger: redis %V: connected", &rd->conf->addr);
    }
}


ngx_http_trigger_redis_cmd_t *
ngx_http_trigger_redis_cmd_create(ngx_http_trigger_script_t *script,
    ngx_uint_t nargs, size_t size)
{
    u_char                        *p;
    ngx_http_trigger_redis_cmd_t  *cmd;

    /* EVALSHA and the digest go in front */
    nargs += 2;

    p = ngx_alloc(sizeof(ngx_http_trigger_redis_cmd_t)
                  + nargs * (sizeof(char *) + sizeof(size_t)) + size,
                  ngx_cycle->log);
    if (p == NULL) {
        return NULL;
    }

    cmd = (ngx_http_trigger_redis_cmd_t *) p;
    p += sizeof(ngx_http_trigger_redis_cmd_t);

    cmd->handler = NULL;
    cmd->data = NULL;
    cmd->script = script;
    cmd->retried = 0;
    cmd->argc = 2;
    cmd->argv = (const char **) p;
    p += nargs * sizeof(char *);
    cmd->argvlen = (size_t *) p;
    p += nargs * sizeof(size_t);
    cmd->pos = p;

    return cmd;
}


void
ngx_http_trigger_redis_cmd_arg(ngx_http_trigger_redis_cmd_t *cmd,
    const u_char *data, size_t len)
{
    cmd->argv[cmd->argc] = (const char *) cmd->pos;
    cmd->argvlen[cmd->argc] = len;
    cmd->argc++;
    cmd->pos = ngx_cpymem(cmd->pos, data, len);
}


void
ngx_http_trigger_redis_cmd_arg_int(ngx_http_trigger_redis_cmd_t *cmd,
    int64_t n)
{
    u_char  *p;

    p = ngx_sprintf(cmd->pos, "%L", n);

    cmd->argv[cmd->argc] = (const char *) cmd->pos;
    cmd->argvlen[cmd->argc] = p - cmd->pos;
    cmd->argc++;
    cmd->pos = p;
}


size_t
ngx_http_trigger_redis_strs_size(ngx_array_t *a, ngx_uint_t *n)
{
    size_t      size;
    ngx_str_t  *s;
    ngx_uint_t  i;

    *n = a ? a->nelts : 0;
    s = a ? a->elts : NULL;

    for (i = 0, size = 0; i < *n; i++) {
        size += s[i].len;
    }

    return size;
}


void
ngx_http_trigger_redis_cmd_strs(ngx_http_trigger_redis_cmd_t *cmd,
    ngx_array_t *a)
{
    ngx_str_t  *s;
    ngx_uint_t  i;

    s = a ? a->elts : NULL;

    for (i = 0; a && i < a->nelts; i++) {
        ngx_http_trigger_redis_cmd_arg(cmd, s[i].data, s[i].len);
    }
}


ngx_int_t
ngx_http_trigger_redis_eval(ngx_http_trigger_redis_t *rd,
    ngx_http_trigger_redis_cmd_t *cmd,
    ngx_http_trigger_redis_handler_pt handler, void *data)
{
    ngx_http_trigger_redis_cmd_bind(cmd, handler, data);

    return ngx_http_trigger_redis_send(rd, cmd);
}


void
ngx_http_trigger_redis_cmd_bind(ngx_http_trigger_redis_cmd_t *cmd,
    ngx_http_trigger_redis_handler_pt handler, void *data)
{
    cmd->handler = handler;
    cmd->data = data;
}


void
ngx_http_trigger_redis_fail(ngx_http_trigger_redis_cmd_t *cmd)
{
    if (cmd->handler) {
        cmd->handler(cmd->data, NULL);
    }

    ngx_free(cmd);
}


ngx_int_t
ngx_http_trigger_redis_send(ngx_http_trigger_redis_t *rd,
    ngx_http_trigger_redis_cmd_t *cmd)
{
    if (rd == NULL) {
        ngx_free(cmd);
        return NGX_DECLINED;
    }

    /*
     * the worker's first connection takes commands while it is set up,
     * queued behind the setup commands: a new worker (a reload) loses no
     * request; made again after a fault, a connection waits to be ready
     */
    if ((rd->state != NGX_HTTP_TRIGGER_REDIS_READY
         && !(rd->state == NGX_HTTP_TRIGGER_REDIS_CONNECTING && rd->fresh))
        || rd->pending >= NGX_HTTP_TRIGGER_REDIS_MAX_PENDING)
    {
        ngx_free(cmd);
        return NGX_DECLINED;
    }

    cmd->argv[0] = "EVALSHA";
    cmd->argvlen[0] = sizeof("EVALSHA") - 1;
    cmd->argv[1] = (const char *) cmd->script->sha;
    cmd->argvlen[1] = 40;

    if (redisAsyncCommandArgv(rd->ac, ngx_http_trigger_redis_reply, cmd,
                              cmd->argc, cmd->argv, cmd->argvlen)
        != REDIS_OK)
    {
        ngx_free(cmd);
        return NGX_ERROR;
    }

    if (rd->pending++ == 0) {
        rd->last_progress = ngx_current_msec;

        if (!rd->timer.timer_set) {
            ngx_add_timer(&rd->timer, NGX_HTTP_TRIGGER_REDIS_STALL);
        }
    }

    return NGX_OK;
}


void
ngx_http_trigger_redis_detach(ngx_http_trigger_redis_cmd_t *cmd)
{
    cmd->handler = NULL;
    cmd->data = NULL;
}


static void
ngx_http_trigger_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                    *reply;
    ngx_http_trigger_redis_t      *rd;
    ngx_http_trigger_redis_cmd_t  *cmd;

    reply = r;
    cmd = privdata;
    rd = ac->data;

    rd->pending--;
    rd->last_progress = ngx_current_msec;

    if (reply && reply->type == REDIS_REPLY_ERROR) {

        if (!cmd->retried && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0) {
            /* the script cache was flushed: EVAL loads it again */
            cmd->retried = 1;
            cmd->argv[0] = "EVAL";
            cmd->argvlen[0] = sizeof("EVAL") - 1;
            cmd->argv[1] = (const char *) cmd->script->text.data;
            cmd->argvlen[1] = cmd->script->text.len;

            if (redisAsyncCommandArgv(ac, ngx_http_trigger_redis_reply, cmd,
                                      cmd->argc, cmd->argv, cmd->argvlen)
                == REDIS_OK)
            {
                rd->pending++;
                return;
            }
        }

        if (ngx_http_trigger_log_allowed(&rd->log_script)) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "trigger: redis %V: script failed: %s",
                          &rd->conf->addr, reply->str);
        }
    }

    if (cmd->handler) {
        cmd->handler(cmd->data, reply);
    }

    ngx_free(cmd);
}


static void
ngx_http_trigger_redis_read(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    /* may free both the context and c: touch neither afterwards */
    redisAsyncHandleRead(c->data);
}


static void
ngx_http_trigger_redis_write(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    redisAsyncHandleWrite(c->data);
}


/* hiredis asks for one direction at a time */

static void
ngx_http_trigger_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_trigger_redis_watch(c->read, 1);
}


static void
ngx_http_trigger_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_trigger_redis_watch(c->read, 0);
}


static void
ngx_http_trigger_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_trigger_redis_watch(c->write, 1);
}


static void
ngx_http_trigger_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_trigger_redis_watch(c->write, 0);
}


static void
ngx_http_trigger_redis_watch(ngx_event_t *ev, ngx_uint_t on)
{
    ngx_connection_t          *c;
    redisAsyncContext         *ac;
    ngx_http_trigger_redis_t  *rd;

    if (ngx_http_trigger_socket_watch(ev, on) == NGX_OK) {
        return;
    }

    c = ev->data;
    ac = c->data;
    rd = ac->data;

    /* a deaf connection: the connect or stall timer drops it */
    if (ngx_http_trigger_log_allowed(&rd->log_failed)) {
        ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                      "trigger: redis %V: watching the socket failed",
                      &rd->conf->addr);
    }
}


/* hiredis frees the context and closes the fd itself: release, not close */

static void
ngx_http_trigger_redis_cleanup(void *privdata)
{
    ngx_connection_t          *c;
    redisAsyncContext         *ac;
    ngx_http_trigger_redis_t  *rd;

    c = privdata;
    ac = c->data;
    rd = ac->data;

    ngx_http_trigger_socket_release(c);

    ngx_http_trigger_redis_down(rd);
}
