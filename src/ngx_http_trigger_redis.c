/*
 * One asynchronous Redis connection per worker: hiredis's async API
 * attached to nginx's event loop, reconnecting with backoff, never
 * blocking the worker.
 */


#include <hiredis/async.h>

#include "ngx_http_trigger_redis.h"


#define NGX_HTTP_TRIGGER_REDIS_CONNECT_TIMEOUT  1000
#define NGX_HTTP_TRIGGER_REDIS_BACKOFF_MIN      100
#define NGX_HTTP_TRIGGER_REDIS_BACKOFF_MAX      5000
/* no reply for this long while commands wait: the connection is dead */
#define NGX_HTTP_TRIGGER_REDIS_STALL            2000
#define NGX_HTTP_TRIGGER_REDIS_MAX_PENDING      4096
#define NGX_HTTP_TRIGGER_REDIS_MAX_SCRIPTS      8


typedef enum {
    NGX_HTTP_TRIGGER_REDIS_DOWN = 0,
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


typedef struct {
    redisAsyncContext                  *ac;
    ngx_http_trigger_redis_state_e      state;
    ngx_uint_t                          exiting;
    ngx_msec_t                          backoff;
    ngx_event_t                         timer;
    ngx_uint_t                          pending;
    ngx_msec_t                          last_progress;
    time_t                              last_log;
    ngx_log_t                          *log;
    ngx_http_trigger_main_conf_t       *conf;
} ngx_http_trigger_redis_t;


static void ngx_http_trigger_redis_connect(void);
static void ngx_http_trigger_redis_schedule(void);
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
static void ngx_http_trigger_redis_cleanup(void *privdata);


static ngx_http_trigger_redis_t    ngx_http_trigger_redis;

/* timers log ev->data as a connection under "debug": give them one */
static ngx_connection_t            ngx_http_trigger_redis_dummy;

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


ngx_uint_t
ngx_http_trigger_log_allowed(time_t *last)
{
    if (*last == ngx_time()) {
        return 0;
    }

    *last = ngx_time();

    return 1;
}


ngx_int_t
ngx_http_trigger_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_trigger_main_conf_t *tmcf)
{
    ngx_http_trigger_redis_t  *rd;

    rd = &ngx_http_trigger_redis;

    ngx_memzero(rd, sizeof(ngx_http_trigger_redis_t));
    rd->log = cycle->log;
    rd->conf = tmcf;
    rd->backoff = NGX_HTTP_TRIGGER_REDIS_BACKOFF_MIN;

    ngx_http_trigger_redis_dummy.fd = (ngx_socket_t) -1;

    rd->timer.handler = ngx_http_trigger_redis_timer_handler;
    rd->timer.data = &ngx_http_trigger_redis_dummy;
    rd->timer.log = cycle->log;
    rd->timer.cancelable = 1;

    ngx_http_trigger_redis_connect();

    return NGX_OK;
}


void
ngx_http_trigger_redis_exit_process(void)
{
    ngx_http_trigger_redis_t  *rd;

    rd = &ngx_http_trigger_redis;
    rd->exiting = 1;

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    if (rd->ac && rd->state == NGX_HTTP_TRIGGER_REDIS_READY) {
        /* what is queued (the last counters) goes out, without waiting */
        redisAsyncHandleWrite(rd->ac);
    }

    if (rd->ac) {
        redisAsyncFree(rd->ac);
    }
}


static void
ngx_http_trigger_redis_connect(void)
{
    ngx_uint_t                     i;
    ngx_connection_t              *c;
    redisAsyncContext             *ac;
    ngx_http_trigger_redis_t      *rd;
    ngx_http_trigger_main_conf_t  *tmcf;

    rd = &ngx_http_trigger_redis;
    tmcf = rd->conf;

    if (tmcf->unix_path.len) {
        ac = redisAsyncConnectUnix((const char *) tmcf->unix_path.data);

    } else {
        ac = redisAsyncConnect((const char *) tmcf->host.data, tmcf->port);
    }

    if (ac == NULL || ac->err) {
        if (ngx_http_trigger_log_allowed(&rd->last_log)) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "trigger: redis %V: connect failed: %s",
                          &tmcf->addr, ac ? ac->errstr : "out of memory");
        }

        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_http_trigger_redis_schedule();
        return;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_trigger_redis_schedule();
        return;
    }

    c->data = ac;
    c->read->handler = ngx_http_trigger_redis_read;
    c->write->handler = ngx_http_trigger_redis_write;
    c->read->log = rd->log;
    c->write->log = rd->log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_trigger_redis_add_read;
    ac->ev.delRead = ngx_http_trigger_redis_del_read;
    ac->ev.addWrite = ngx_http_trigger_redis_add_write;
    ac->ev.delWrite = ngx_http_trigger_redis_del_write;
    ac->ev.cleanup = ngx_http_trigger_redis_cleanup;

    rd->ac = ac;
    rd->state = NGX_HTTP_TRIGGER_REDIS_CONNECTING;
    rd->pending = 0;

    /* after attaching: setting the connect callback arms the write event */
    redisAsyncSetConnectCallback(ac, ngx_http_trigger_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_trigger_redis_disconnected);

    /* queued now, written as soon as the socket connects */
    if (tmcf->password.len) {
        redisAsyncCommand(ac, ngx_http_trigger_redis_setup_reply, "AUTH",
                          "AUTH %b", tmcf->password.data,
                          tmcf->password.len);
    }

    if (tmcf->db) {
        redisAsyncCommand(ac, ngx_http_trigger_redis_setup_reply, "SELECT",
                          "SELECT %d", (int) tmcf->db);
    }

    for (i = 0; i < NGX_HTTP_TRIGGER_REDIS_MAX_SCRIPTS; i++) {
        if (ngx_http_trigger_scripts[i] == NULL) {
            break;
        }

        redisAsyncCommand(ac, ngx_http_trigger_redis_setup_reply,
                          "SCRIPT LOAD", "SCRIPT LOAD %b",
                          ngx_http_trigger_scripts[i]->text.data,
                          ngx_http_trigger_scripts[i]->text.len);
    }

    ngx_add_timer(&rd->timer, NGX_HTTP_TRIGGER_REDIS_CONNECT_TIMEOUT);
}


static void
ngx_http_trigger_redis_schedule(void)
{
    ngx_http_trigger_redis_t  *rd;

    rd = &ngx_http_trigger_redis;
    rd->state = NGX_HTTP_TRIGGER_REDIS_DOWN;

    if (rd->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(&rd->timer, rd->backoff);

    rd->backoff = ngx_min(rd->backoff * 2, NGX_HTTP_TRIGGER_REDIS_BACKOFF_MAX);
}


static void
ngx_http_trigger_redis_timer_handler(ngx_event_t *ev)
{
    ngx_http_trigger_redis_t  *rd;

    rd = &ngx_http_trigger_redis;

    if (rd->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (rd->state == NGX_HTTP_TRIGGER_REDIS_CONNECTING) {
        if (ngx_http_trigger_log_allowed(&rd->last_log)) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "trigger: redis %V: connect timed out",
                          &rd->conf->addr);
        }

        /* the cleanup callback schedules the next attempt */
        redisAsyncFree(rd->ac);
        return;
    }

    if (rd->state == NGX_HTTP_TRIGGER_REDIS_DOWN) {
        ngx_http_trigger_redis_connect();
    }
}


static void
ngx_http_trigger_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_trigger_redis_t  *rd;

    rd = &ngx_http_trigger_redis;

    if (status != REDIS_OK) {
        if (ngx_http_trigger_log_allowed(&rd->last_log)) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "trigger: redis %V: connect failed: %s",
                          &rd->conf->addr, ac->errstr);
        }

        return;
    }

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                  "trigger: redis %V: connected", &rd->conf->addr);

    rd->state = NGX_HTTP_TRIGGER_REDIS_READY;
    rd->backoff = NGX_HTTP_TRIGGER_REDIS_BACKOFF_MIN;
}


static void
ngx_http_trigger_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_trigger_redis_t  *rd;

    rd = &ngx_http_trigger_redis;

    if (status != REDIS_OK
        && ngx_http_trigger_log_allowed(&rd->last_log))
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
    rd = &ngx_http_trigger_redis;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "trigger: redis %V: %s failed: %s",
                  &rd->conf->addr, (char *) privdata, reply->str);

    /* a wrong password or database would fail every command: retry later */
    rd->state = NGX_HTTP_TRIGGER_REDIS_DOWN;
    redisAsyncDisconnect(ac);
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
                  ngx_http_trigger_redis.log);
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


ngx_int_t
ngx_http_trigger_redis_eval(ngx_http_trigger_redis_cmd_t *cmd,
    ngx_http_trigger_redis_handler_pt handler, void *data)
{
    ngx_http_trigger_redis_t  *rd;

    rd = &ngx_http_trigger_redis;

    if (rd->state != NGX_HTTP_TRIGGER_REDIS_READY
        || rd->pending >= NGX_HTTP_TRIGGER_REDIS_MAX_PENDING)
    {
        ngx_free(cmd);
        return NGX_DECLINED;
    }

    if (rd->pending
        && ngx_current_msec - rd->last_progress > NGX_HTTP_TRIGGER_REDIS_STALL)
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "trigger: redis %V: no reply for %M ms, reconnecting",
                      &rd->conf->addr, ngx_current_msec - rd->last_progress);

        /* pending handlers get a NULL reply, cleanup schedules a retry */
        redisAsyncFree(rd->ac);
        ngx_free(cmd);
        return NGX_DECLINED;
    }

    cmd->handler = handler;
    cmd->data = data;
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
    rd = &ngx_http_trigger_redis;

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

        if (ngx_http_trigger_log_allowed(&rd->last_log)) {
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


/* level-triggered: hiredis reads at most 16 KB a call */

static void
ngx_http_trigger_redis_add_read(void *privdata)
{
    ngx_connection_t  *c;

    c = privdata;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "trigger: redis: adding the read event failed");
        }
    }
}


static void
ngx_http_trigger_redis_del_read(void *privdata)
{
    ngx_connection_t  *c;

    c = privdata;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_trigger_redis_add_write(void *privdata)
{
    ngx_connection_t  *c;

    c = privdata;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "trigger: redis: adding the write event failed");
        }
    }
}


static void
ngx_http_trigger_redis_del_write(void *privdata)
{
    ngx_connection_t  *c;

    c = privdata;

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis frees the context and closes the fd itself: release, not close */

static void
ngx_http_trigger_redis_cleanup(void *privdata)
{
    ngx_connection_t  *c;

    c = privdata;

    ngx_http_trigger_redis_del_read(c);
    ngx_http_trigger_redis_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    ngx_http_trigger_redis.ac = NULL;
    ngx_http_trigger_redis.pending = 0;

    if (ngx_http_trigger_redis.timer.timer_set) {
        ngx_del_timer(&ngx_http_trigger_redis.timer);
    }

    ngx_http_trigger_redis_schedule();
}
