/*
 * The letters' sender.  A worker claims due jobs in a batch (a lease
 * makes them its own), runs each contact's chain one step (send, wait,
 * leave), renders the letter and hands it to libcurl; the provider's
 * answer decides: the next step, a retry with backoff, or the dead
 * letters.  An idle shop costs one claim every few seconds.
 */


#include "ngx_http_trigger_sender.h"
#include "ngx_http_trigger_queue.h"
#include "ngx_http_trigger_redis.h"
#include "ngx_http_trigger_curl.h"
#include "ngx_http_trigger_socket.h"
#include "ngx_http_trigger_sign.h"
#include "ngx_http_trigger_tz.h"


/* the queue is looked at this often at most when nothing is due */
#define NGX_HTTP_TRIGGER_SENDER_IDLE      5000
#define NGX_HTTP_TRIGGER_SENDER_ATTEMPTS  8
#define NGX_HTTP_TRIGGER_SENDER_BODY_MAX  16384
/* unsubscribe links work for years: letters stay in mailboxes */
#define NGX_HTTP_TRIGGER_LINK_TTL         (5 * 365 * 86400)
#define NGX_HTTP_TRIGGER_CONFIRM_TTL      (7 * 86400)
#define NGX_HTTP_TRIGGER_LETTER_MAX       (512 * 1024)


typedef struct {
    ngx_http_trigger_job_t                *job;
    const ngx_http_trigger_chain_t        *chain;
    ngx_http_trigger_chain_contact_t       contact;
    ngx_http_trigger_chain_action_t        action;

    ngx_http_trigger_http_request_t       *req;
    CURL                                  *easy;
    struct curl_slist                     *headers;
    struct curl_slist                     *rcpt;
    curl_mime                             *mime;
    size_t                                 upload;

    u_char                                *body;
    size_t                                 body_len;
    char                                   retry_after[64];
    /* the confirmation letter of double opt-in, not a chain's */
    unsigned                               confirm:1;
    char                                   id[NGX_HTTP_TRIGGER_SEND_ID_MAX
                                              + 1];
} ngx_http_trigger_send_t;


typedef struct {
    ngx_http_trigger_redis_t              *rd;
    ngx_http_trigger_main_conf_t          *tmcf;
    ngx_http_trigger_sender_conf_t        *conf;
    ngx_event_t                            timer;
    ngx_connection_t                       dummy;
    ngx_uint_t                             claiming;
    /* a trigger check is under way */
    ngx_uint_t                             checking;
    /* trigger_sender_rate: the second, and the jobs taken in it */
    time_t                                 rate_second;
    ngx_uint_t                             rate_used;
    ngx_uint_t                             inflight;
    time_t                                 log_failed;
    ngx_log_t                             *log;
} ngx_http_trigger_sender_t;


static void ngx_http_trigger_sender_cleanup(void *data);
static char *ngx_http_trigger_sender_body(ngx_conf_t *cf,
    ngx_http_trigger_sender_conf_t *sc, ngx_str_t *file);
static void ngx_http_trigger_sender_body_free(void *data);
static void ngx_http_trigger_sender_tick(ngx_event_t *ev);
static void ngx_http_trigger_sender_schedule(ngx_msec_t delay);
static void ngx_http_trigger_sender_claimed(void *data,
    ngx_http_trigger_job_t **jobs, ngx_uint_t n, int64_t next_due);
static void ngx_http_trigger_sender_triggered(void *data,
    ngx_http_trigger_contact_t *contacts, ngx_uint_t n);
static void ngx_http_trigger_sender_step(ngx_http_trigger_job_t *job);
static ngx_int_t ngx_http_trigger_sender_send(ngx_http_trigger_send_t *s);
static void ngx_http_trigger_sender_link(u_char *buf, size_t size,
    const char *purpose, u_char *digest, time_t ttl);
static json_t *ngx_http_trigger_sender_context(ngx_http_trigger_send_t *s,
    u_char *unsubscribe, u_char *confirm);
static ngx_int_t ngx_http_trigger_sender_render(
    const ngx_http_trigger_template_t *t, json_t *context, unsigned flags,
    char **out);
static ngx_int_t ngx_http_trigger_sender_curl(ngx_http_trigger_send_t *s);
static size_t ngx_http_trigger_sender_read(char *buf, size_t size,
    size_t n, void *data);
static size_t ngx_http_trigger_sender_write(char *buf, size_t size,
    size_t n, void *data);
static size_t ngx_http_trigger_sender_header(char *buf, size_t size,
    size_t n, void *data);
static void ngx_http_trigger_sender_done(void *data, CURL *easy,
    CURLcode rc);
static void ngx_http_trigger_sender_finish(ngx_http_trigger_job_t *job,
    ngx_http_trigger_job_end_t *end);
static void ngx_http_trigger_sender_free(ngx_http_trigger_send_t *s);
static const ngx_http_trigger_chain_letter_t *ngx_http_trigger_sender_letter(
    ngx_http_trigger_sender_conf_t *sc, const char *name);


static ngx_http_trigger_sender_t  ngx_http_trigger_sender;


/* a chain a subscription starts, not a contact's behaviour */

static ngx_uint_t
ngx_http_trigger_sender_on_subscribe(const ngx_http_trigger_chain_t *chain)
{
    return chain->trigger.nevents == 1
           && (chain->events
               & ((1 << NGX_HTTP_TRIGGER_CHAIN_EV_SUBSCRIBED)
                  | (1 << NGX_HTTP_TRIGGER_CHAIN_EV_CODE_ISSUED)));
}


/* trigger_chains file; */

char *
ngx_http_trigger_chains_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_main_conf_t *tmcf = conf;

    char                             err[512];
    ngx_str_t                       *value, *name;
    ngx_uint_t                       i;
    ngx_pool_cleanup_t              *cln;
    ngx_http_trigger_sender_conf_t  *sc;
    ngx_http_trigger_chain_letter_t *l;
    ngx_http_trigger_letter_t       *compiled;

    sc = &tmcf->sender;

    if (sc->chains) {
        return "is duplicate";
    }

    value = cf->args->elts;
    sc->chains_file = value[1];

    if (ngx_conf_full_name(cf->cycle, &sc->chains_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_trigger_chains_load((char *) sc->chains_file.data,
                                     &sc->chains, err, sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_http_trigger_chains_free(sc->chains);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_trigger_sender_cleanup;
    cln->data = sc;

    sc->letters = ngx_pcalloc(cf->pool, sc->chains->nletters
                                        * sizeof(ngx_http_trigger_letter_t));
    if (sc->letters == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < sc->chains->nletters; i++) {
        l = &sc->chains->letters[i];
        compiled = &sc->letters[i];

#define ngx_http_trigger_compile(part)                                       \
        if (l->part) {                                                       \
            compiled->part = ngx_http_trigger_template_compile(l->part,      \
                                 ngx_strlen(l->part), err, sizeof(err));      \
            if (compiled->part == NULL) {                                    \
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,                     \
                                   "%V: letters.%s.%s: %s",                  \
                                   &sc->chains_file, l->name, #part, err);   \
                return NGX_CONF_ERROR;                                       \
            }                                                                \
        }

        ngx_http_trigger_compile(subject);
        ngx_http_trigger_compile(html);
        ngx_http_trigger_compile(text);

#undef ngx_http_trigger_compile
    }

    sc->on_subscribe = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
    sc->behaviour = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
    sc->all_chains = ngx_array_create(cf->pool, sc->chains->nchains + 1,
                                      sizeof(ngx_str_t));
    if (sc->on_subscribe == NULL || sc->behaviour == NULL
        || sc->all_chains == NULL)
    {
        return NGX_CONF_ERROR;
    }

    name = ngx_array_push(sc->all_chains);
    if (name == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(name, "_confirm");

    for (i = 0; i < sc->chains->nchains; i++) {
        name = ngx_array_push(sc->all_chains);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        name->data = (u_char *) sc->chains->chains[i].name;
        name->len = ngx_strlen(name->data);
    }

    /*
     * chains that a subscription starts (the contact obtained, a code);
     * the others look at what a known contact does
     */
    for (i = 0; i < sc->chains->nchains; i++) {
        if (!ngx_http_trigger_sender_on_subscribe(&sc->chains->chains[i])) {
            if (sc->behaviour->nelts == NGX_HTTP_TRIGGER_BEHAVIOUR_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%V: more than %d chains started by "
                                   "behaviour", &sc->chains_file,
                                   NGX_HTTP_TRIGGER_BEHAVIOUR_MAX);
                return NGX_CONF_ERROR;
            }

            sc->history = ngx_max(sc->chains->history, 3600);
            sc->lapse = sc->chains->nlapses ? sc->chains->lapses[0] : 0;
            name = ngx_array_push(sc->behaviour);

        } else {
            name = ngx_array_push(sc->on_subscribe);
        }

        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        name->data = (u_char *) sc->chains->chains[i].name;
        name->len = ngx_strlen(name->data);
    }

    return NGX_CONF_OK;
}


static void
ngx_http_trigger_sender_cleanup(void *data)
{
    ngx_http_trigger_sender_conf_t *sc = data;

    ngx_uint_t  i;

    for (i = 0; sc->letters && i < sc->chains->nletters; i++) {
        ngx_http_trigger_template_free(sc->letters[i].subject);
        ngx_http_trigger_template_free(sc->letters[i].html);
        ngx_http_trigger_template_free(sc->letters[i].text);
    }

    ngx_http_trigger_chains_free(sc->chains);
}


/* the json provider's body: a Mustache file, its values JSON-escaped */

static char *
ngx_http_trigger_sender_body(ngx_conf_t *cf,
    ngx_http_trigger_sender_conf_t *sc, ngx_str_t *file)
{
    char                *text, err[256];
    long                 size;
    FILE                *f;
    ngx_str_t            path;
    ngx_pool_cleanup_t  *cln;

    path = *file;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    text = NULL;
    size = -1;

    /* read at configuration time, by the master: blocking is fine here */
    f = fopen((char *) path.data, "r");

    if (f == NULL || fseek(f, 0, SEEK_END) != 0
        || (size = ftell(f)) < 0 || size > 65536
        || fseek(f, 0, SEEK_SET) != 0
        || (text = ngx_pnalloc(cf->pool, size + 1)) == NULL
        || fread(text, 1, size, f) != (size_t) size)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "json body \"%V\": cannot be read (at most 64k)",
                           &path);
        if (f) {
            fclose(f);
        }

        return NGX_CONF_ERROR;
    }

    fclose(f);
    text[size] = '\0';

    sc->json_body = ngx_http_trigger_template_compile(text, size, err,
                                                      sizeof(err));
    if (sc->json_body == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "json body \"%V\": %s",
                           &path, err);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_trigger_sender_body_free;
    cln->data = sc->json_body;

    return NGX_CONF_OK;
}


static void
ngx_http_trigger_sender_body_free(void *data)
{
    ngx_http_trigger_template_free(data);
}


/*
 * trigger_esp type [key=...|key_file=...] [url=...] [domain=...]
 *     [region=...] [stream=...] [user=...];
 */

char *
ngx_http_trigger_esp_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_main_conf_t *tmcf = conf;

    size_t                           len;
    ngx_str_t                       *value, v, path;
    ngx_uint_t                       i;
    const char                      *err;
    ngx_http_trigger_provider_t     *p;
    ngx_http_trigger_sender_conf_t  *sc;

    sc = &tmcf->sender;
    p = &sc->provider;

    if (p->type != NGX_HTTP_TRIGGER_PROVIDER_NONE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p->type = ngx_http_trigger_provider_type((char *) value[1].data);

    if (p->type == NGX_HTTP_TRIGGER_PROVIDER_NONE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown provider \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    sc->provider_name = value[1];

    for (i = 2; i < cf->args->nelts; i++) {

#define ngx_http_trigger_param(name)                                         \
        (value[i].len > sizeof(name) - 1                                     \
         && ngx_strncmp(value[i].data, name, sizeof(name) - 1) == 0          \
         && (v.data = value[i].data + sizeof(name) - 1,                      \
             v.len = value[i].len - (sizeof(name) - 1), 1))

        if (ngx_http_trigger_param("key=")) {
            p->api_key = (char *) v.data;

        } else if (ngx_http_trigger_param("key_file=")) {
            path = v;

            if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            err = ngx_http_trigger_secret_read((char *) path.data,
                                               sc->secret,
                                               sizeof(sc->secret), &len);
            if (err) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                                   "provider key file \"%V\": %s",
                                   &path, err);
                return NGX_CONF_ERROR;
            }

            p->api_key = sc->secret;

        } else if (ngx_http_trigger_param("url=")) {
            p->base_url = (char *) v.data;

        } else if (ngx_http_trigger_param("domain=")) {
            p->domain = (char *) v.data;

        } else if (ngx_http_trigger_param("region=")) {
            p->region_host = (char *) v.data;

        } else if (ngx_http_trigger_param("stream=")) {
            p->message_stream = (char *) v.data;

        } else if (ngx_http_trigger_param("user=")) {
            p->user = (char *) v.data;

        } else if (ngx_http_trigger_param("body=")
                   && p->type == NGX_HTTP_TRIGGER_PROVIDER_JSON)
        {
            if (ngx_http_trigger_sender_body(cf, sc, &v) != NGX_CONF_OK) {
                return NGX_CONF_ERROR;
            }

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

#undef ngx_http_trigger_param
    }

    return NGX_CONF_OK;
}


char *
ngx_http_trigger_sender_init_conf(ngx_conf_t *cf,
    ngx_http_trigger_main_conf_t *tmcf)
{
    const char                      *err;
    ngx_http_trigger_sender_conf_t  *sc;

    sc = &tmcf->sender;

    ngx_conf_init_value(sc->enable, 1);
    ngx_conf_init_uint_value(sc->concurrency, 8);
    ngx_conf_init_uint_value(sc->rate, 0);
    ngx_conf_init_msec_value(sc->timeout, 20000);
    ngx_conf_init_value(sc->backoff, 30);
    ngx_conf_init_value(sc->lease, 120);

    /* a letter's attempt must end well within its lease */
    if ((ngx_msec_t) sc->lease * 1000 < sc->timeout + 5000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"trigger_sender_lease\" must be at least 5s "
                           "longer than \"trigger_sender_timeout\"");
        return NGX_CONF_ERROR;
    }

    if (tmcf->double_opt_in && sc->chains == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"trigger_double_opt_in\" needs "
                           "\"trigger_chains\": its confirmation letter");
        return NGX_CONF_ERROR;
    }

    if (sc->chains == NULL) {
        if (sc->provider.type != NGX_HTTP_TRIGGER_PROVIDER_NONE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"trigger_esp\" needs \"trigger_chains\": "
                               "the letters to send");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (sc->provider.type == NGX_HTTP_TRIGGER_PROVIDER_NONE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"trigger_chains\" needs \"trigger_esp\": the "
                           "provider that sends the letters");
        return NGX_CONF_ERROR;
    }

    if (tmcf->double_opt_in
        && ngx_http_trigger_sender_letter(sc, "confirm") == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: \"trigger_double_opt_in\" needs a letter "
                           "called \"confirm\"", &sc->chains_file);
        return NGX_CONF_ERROR;
    }

    if (sc->chains->shop_url == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: defaults.shop_url is needed for the "
                           "letters' links", &sc->chains_file);
        return NGX_CONF_ERROR;
    }

    if (sc->provider.from_email == NULL) {
        sc->provider.from_email = sc->chains->from_email;
        sc->provider.from_name = sc->chains->from_name;
    }

    if (sc->provider.type == NGX_HTTP_TRIGGER_PROVIDER_JSON
        && sc->json_body == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"trigger_esp json\" needs body=file: the "
                           "request's JSON, a template");
        return NGX_CONF_ERROR;
    }

    err = ngx_http_trigger_provider_check(&sc->provider);
    if (err) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"trigger_esp %V\": %s", &sc->provider_name, err);
        return NGX_CONF_ERROR;
    }

    if (tmcf->api.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"trigger_chains\" needs a location with "
                           "\"trigger_api\": the letters' links lead there");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_trigger_sender_init_process(ngx_cycle_t *cycle,
    ngx_http_trigger_main_conf_t *tmcf)
{
    ngx_http_trigger_sender_t  *sd;

    sd = &ngx_http_trigger_sender;

    ngx_memzero(sd, sizeof(ngx_http_trigger_sender_t));

    if (tmcf->sender.chains == NULL || !tmcf->sender.enable) {
        return NGX_OK;
    }

    if (ngx_http_trigger_curl_init_process(cycle, tmcf->sender.concurrency)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "trigger: libcurl could not be set up");
        return NGX_ERROR;
    }

    /* a connection of its own: page views never wait behind letters */
    sd->rd = ngx_http_trigger_redis_create(cycle, tmcf, "sender");
    if (sd->rd == NULL) {
        return NGX_ERROR;
    }

    sd->tmcf = tmcf;
    sd->conf = &tmcf->sender;
    sd->log = cycle->log;

    ngx_http_trigger_timer_init(&sd->timer, &sd->dummy,
                                ngx_http_trigger_sender_tick, sd,
                                cycle->log, 1);

    /* the connection needs a moment: the first look soon after */
    ngx_http_trigger_sender_schedule(200);

    return NGX_OK;
}


void
ngx_http_trigger_sender_exit_process(void)
{
    ngx_http_trigger_sender_t  *sd;

    sd = &ngx_http_trigger_sender;

    if (sd->conf == NULL) {
        return;
    }

    if (sd->timer.timer_set) {
        ngx_del_timer(&sd->timer);
    }

    /*
     * letters still in flight past worker_shutdown_timeout end here;
     * their jobs go back to the queue when their lease ends
     */
    ngx_http_trigger_curl_exit_process();

    sd->conf = NULL;
}


void
ngx_http_trigger_sender_wake(void)
{
    if (ngx_http_trigger_sender.conf) {
        ngx_http_trigger_sender_schedule(0);
    }
}


static void
ngx_http_trigger_sender_schedule(ngx_msec_t delay)
{
    ngx_http_trigger_sender_t  *sd;

    sd = &ngx_http_trigger_sender;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (sd->timer.timer_set) {
        if (sd->timer.timer.key <= ngx_current_msec + delay) {
            return;
        }

        ngx_del_timer(&sd->timer);
    }

    ngx_add_timer(&sd->timer, delay);
}


static void
ngx_http_trigger_sender_tick(ngx_event_t *ev)
{
    ngx_uint_t                  room;
    ngx_http_trigger_sender_t  *sd;

    sd = &ngx_http_trigger_sender;

    /* an exiting worker starts nothing new */
    if (ngx_exiting || ngx_quit || ngx_terminate || sd->claiming) {
        return;
    }

    room = sd->conf->concurrency - ngx_min(sd->inflight,
                                           sd->conf->concurrency);

    if (room == 0) {
        /* a letter's end looks again */
        return;
    }

    /* the provider's rate: jobs taken in this second, each a letter at most */
    if (sd->conf->rate) {
        if (sd->rate_second != ngx_time()) {
            sd->rate_second = ngx_time();
            sd->rate_used = 0;
        }

        room = ngx_min(room, sd->conf->rate - sd->rate_used);

        if (room == 0) {
            ngx_http_trigger_sender_schedule(1000 - ngx_cached_time->msec);
            return;
        }

        sd->rate_used += room;
    }

    if (ngx_http_trigger_queue_claim(sd->rd, &sd->tmcf->key_prefix, room,
                                     sd->conf->lease,
                                     ngx_http_trigger_sender_claimed, sd)
        != NGX_OK)
    {
        /* Redis is not there: the connection comes back by itself */
        ngx_http_trigger_sender_schedule(1000);
        return;
    }

    sd->claiming = room;

    if (sd->conf->history && !sd->checking
        && ngx_http_trigger_queue_triggers(sd->rd, &sd->tmcf->key_prefix,
                                           100, sd->conf->behaviour->elts,
                                           sd->conf->behaviour->nelts,
                                           sd->conf->chains->lapses,
                                           sd->conf->chains->nlapses,
                                           ngx_http_trigger_sender_triggered,
                                           sd)
           == NGX_OK)
    {
        sd->checking = 1;
    }
}


/*
 * The chains a known contact's new events start: each event since the
 * previous check may complete a chain's trigger, from the events after
 * the one that started that chain last.
 */

static void
ngx_http_trigger_sender_triggered(void *data,
    ngx_http_trigger_contact_t *contacts, ngx_uint_t n)
{
    int64_t                          times[NGX_HTTP_TRIGGER_BEHAVIOUR_MAX];
    ngx_str_t                       *name;
    ngx_str_t                        names[NGX_HTTP_TRIGGER_BEHAVIOUR_MAX];
    ngx_uint_t                       i, j, k, m;
    ngx_http_trigger_contact_t      *c;
    ngx_http_trigger_sender_t       *sd = data;
    const ngx_http_trigger_chain_t  *chain;

    sd->checking = 0;
    name = sd->conf->behaviour->elts;

    for (i = 0; i < n; i++) {
        c = &contacts[i];

        /* only subscribed (and confirmed) addresses get letters */
        if (!c->subscribed || c->suppressed) {
            continue;
        }

        m = 0;

        for (j = 0; j < sd->conf->behaviour->nelts; j++) {
            chain = ngx_http_trigger_chain_find(sd->conf->chains,
                                                name[j].data, name[j].len);

            for (k = 0; k < c->nhistory; k++) {
                if (c->history[k].time >= c->checked
                    && ngx_http_trigger_chain_fires(&chain->trigger,
                                                    c->history, k,
                                                    &c->history[k],
                                                    c->fired[j]))
                {
                    names[m] = name[j];
                    times[m] = c->history[k].time;
                    m++;
                    break;
                }
            }
        }

        if (m && ngx_http_trigger_queue_start(sd->rd, &sd->tmcf->key_prefix,
                                              c, names, times, m)
                 == NGX_OK)
        {
            /* the new jobs are due now */
            ngx_http_trigger_sender_schedule(0);
        }
    }
}


static void
ngx_http_trigger_sender_claimed(void *data, ngx_http_trigger_job_t **jobs,
    ngx_uint_t n, int64_t next_due)
{
    time_t                      now;
    ngx_uint_t                  i, asked;
    ngx_http_trigger_sender_t  *sd = data;

    asked = sd->claiming;
    sd->claiming = 0;

    for (i = 0; i < n; i++) {
        ngx_http_trigger_sender_step(jobs[i]);
    }

    if (jobs) {
        ngx_free(jobs);
    }

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    now = ngx_time();

    if (n && n == asked) {
        /* there may be more: as soon as there is room */
        ngx_http_trigger_sender_schedule(0);

    } else if (next_due > 0 && next_due - now < 5) {
        ngx_http_trigger_sender_schedule(next_due > now
                                         ? (next_due - now) * 1000 : 0);

    } else {
        /* other hosts may queue jobs: look again in a while */
        ngx_http_trigger_sender_schedule(NGX_HTTP_TRIGGER_SENDER_IDLE);
    }
}


/* one step of the contact's chain, against its state now */

static void
ngx_http_trigger_sender_step(ngx_http_trigger_job_t *job)
{
    ngx_http_trigger_send_t           *s;
    ngx_http_trigger_sender_t         *sd;
    ngx_http_trigger_job_end_t         end;
    ngx_http_trigger_chain_contact_t  *c;

    sd = &ngx_http_trigger_sender;

    s = ngx_calloc(sizeof(ngx_http_trigger_send_t), sd->log);
    if (s == NULL) {
        /* the lease ends, and the job comes back */
        ngx_free(job);
        return;
    }

    s->job = job;

    ngx_memzero(&end, sizeof(ngx_http_trigger_job_end_t));

    if (job->chain.len == sizeof("_confirm") - 1
        && ngx_strncmp(job->chain.data, "_confirm", job->chain.len) == 0)
    {
        /* double opt-in: the confirmation letter alone, then the end */
        s->action.act = NGX_HTTP_TRIGGER_CHAIN_SEND;
        s->action.letter = ngx_http_trigger_sender_letter(sd->conf,
                                                          "confirm");
        s->action.pc = -1;
        s->action.variant = -1;
        s->confirm = 1;

        goto send;
    }

    s->chain = ngx_http_trigger_chain_find(sd->conf->chains,
                                           job->chain.data, job->chain.len);

    if (s->chain == NULL) {
        /* the chain is gone from the file: the contact leaves it */
        ngx_log_error(NGX_LOG_INFO, sd->log, 0,
                      "trigger: job \"%*s\": no chain \"%V\" any more",
                      job->id_len, job->id, &job->chain);
        end.outcome = "done";
        ngx_http_trigger_sender_finish(job, &end);
        ngx_http_trigger_sender_free(s);
        return;
    }

    c = &s->contact;

    c->purchased = job->purchases > job->purchases_then;
    c->code_used = job->code_used;
    c->cart_empty = (job->ncart == 0);
    c->unsubscribed = job->suppressed;
    c->code_expires = job->code_expires;
    c->cap_sent = job->cap_sent;
    c->cap_start = job->cap_start;
    c->utc_offset = ngx_http_trigger_tz_offset;
    c->zone = job->tz.len ? ngx_http_trigger_tz_get(job->tz.data,
                                                    job->tz.len)
                          : NULL;
    c->id = job->id;
    c->id_len = job->id_len;
    c->variant = job->variant;

    ngx_http_trigger_chain_next(sd->conf->chains, s->chain, job->pc, c,
                                ngx_time(), &s->action);

    switch (s->action.act) {

    case NGX_HTTP_TRIGGER_CHAIN_WAIT:
        end.outcome = "next";
        end.pc = s->action.pc;
        end.due = s->action.until;
        end.variant = s->action.drawn ? s->action.variant : job->variant;
        end.attempts = job->attempts;
        ngx_http_trigger_sender_finish(job, &end);
        ngx_http_trigger_sender_free(s);
        return;

    case NGX_HTTP_TRIGGER_CHAIN_DONE:
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sd->log, 0,
                       "trigger: job \"%*s\" leaves its chain: %s",
                       job->id_len, job->id,
                       ngx_http_trigger_chain_reason(&s->action));
        end.outcome = "done";
        ngx_http_trigger_sender_finish(job, &end);
        ngx_http_trigger_sender_free(s);
        return;

    default: /* NGX_HTTP_TRIGGER_CHAIN_SEND */
        break;
    }

send:

    if (ngx_http_trigger_sender_send(s) != NGX_OK) {
        /* the letter cannot be made: no retry makes it better */
        end.outcome = "dead";
        end.pc = job->pc;
        end.attempts = job->attempts + 1;
        end.error = "the letter could not be built (see error.log)";
        ngx_http_trigger_sender_finish(job, &end);
        ngx_http_trigger_sender_free(s);
        return;
    }

    sd->inflight++;
}


static ngx_int_t
ngx_http_trigger_sender_send(ngx_http_trigger_send_t *s)
{
    u_char                          *p, digest[40];
    u_char                           unsubscribe[512], confirm[512], key[41];
    char                            *subject, *html, *text, *json_body;
    json_t                          *context, *metadata;
    ngx_int_t                        rc;
    const char                      *err;
    ngx_http_trigger_job_t          *job;
    ngx_http_trigger_letter_t       *compiled;
    ngx_http_trigger_sender_t       *sd;
    ngx_http_trigger_message_t       msg;
    ngx_http_trigger_sender_conf_t  *sc;

    sd = &ngx_http_trigger_sender;
    sc = sd->conf;
    job = s->job;

    compiled = &sc->letters[s->action.letter - sc->chains->letters];

    /* the address's own links, signed: they need no cookie, no login */
    ngx_http_trigger_sender_link(unsubscribe, sizeof(unsubscribe),
                                 "unsubscribe", job->id,
                                 NGX_HTTP_TRIGGER_LINK_TTL);
    confirm[0] = '\0';

    if (s->confirm) {
        ngx_http_trigger_sender_link(confirm, sizeof(confirm), "confirm",
                                     job->id, NGX_HTTP_TRIGGER_CONFIRM_TTL);
    }

    context = ngx_http_trigger_sender_context(s, unsubscribe, confirm);
    if (context == NULL) {
        return NGX_ERROR;
    }

    subject = html = text = NULL;

    rc = ngx_http_trigger_sender_render(compiled->subject, context,
                                        NGX_HTTP_TRIGGER_TEMPLATE_TEXT,
                                        &subject);
    if (rc == NGX_OK) {
        rc = ngx_http_trigger_sender_render(compiled->html, context, 0,
                                            &html);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_trigger_sender_render(compiled->text, context,
                                            NGX_HTTP_TRIGGER_TEMPLATE_TEXT,
                                            &text);
    }

    /* one key for every attempt at this letter: the job's run and step */
    p = ngx_sprintf(key, "%*s:%L:%D", job->id_len, job->id, job->started,
                    job->pc);
    ngx_http_trigger_sha1_hex(digest, key, p - key);
    ngx_memcpy(key, digest, 40);
    key[40] = '\0';

    metadata = json_pack("{s:s#, s:s}", "job", job->id, (int) job->id_len,
                         "letter", s->action.letter->name);

    ngx_memzero(&msg, sizeof(ngx_http_trigger_message_t));

    msg.to_email = (char *) job->email.data;
    msg.subject = subject;
    msg.html = html;
    msg.text = text;
    msg.template_id = s->action.letter->esp_template;
    msg.template_data = s->action.letter->esp_template ? context : NULL;
    msg.list_unsubscribe_url = (char *) unsubscribe;
    msg.idempotency_key = (char *) key;
    msg.metadata = metadata;
    msg.reply_to = sc->chains->reply_to;

    err = NULL;

    json_body = NULL;

    if (rc == NGX_OK && metadata && sc->json_body) {
        /* the admin's body sees the letter as it goes out, too */
        if (json_object_set_new(context, "subject",
                                json_string(subject ? subject : "")) != 0
            || json_object_set_new(context, "html",
                                   json_string(html ? html : "")) != 0
            || json_object_set_new(context, "text",
                                   json_string(text ? text : "")) != 0
            || json_object_set_new(context, "idempotency_key",
                                   json_string((char *) key)) != 0
            || json_object_set(context, "metadata", metadata) != 0)
        {
            rc = NGX_ERROR;

        } else {
            rc = ngx_http_trigger_sender_render(sc->json_body, context,
                                                NGX_HTTP_TRIGGER_TEMPLATE_JSON,
                                                &json_body);
            msg.json_body = json_body;
        }
    }

    if (rc == NGX_OK && metadata) {
        err = ngx_http_trigger_provider_build(&sc->provider, &msg,
                                              ngx_time(), &s->req);
    }

    if (rc != NGX_OK || metadata == NULL || err) {
        ngx_log_error(NGX_LOG_ERR, sd->log, 0,
                      "trigger: letter \"%s\" to job \"%*s\" not built: %s",
                      s->action.letter->name, job->id_len, job->id,
                      err ? err : "rendering failed");
    }

    json_decref(metadata);
    json_decref(context);
    free(subject);
    free(html);
    free(text);
    free(json_body);

    if (rc != NGX_OK || err || s->req == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_trigger_sender_curl(s);
}


/* "<shop_url><api><purpose>?e=<digest>&t=<token>", NUL-terminated */

static void
ngx_http_trigger_sender_link(u_char *buf, size_t size, const char *purpose,
    u_char *digest, time_t ttl)
{
    u_char                           *p;
    u_char                            token[NGX_HTTP_TRIGGER_TOKEN_MAX];
    size_t                            len, token_len;
    ngx_http_trigger_main_conf_t     *tmcf;
    ngx_http_trigger_sender_conf_t   *sc;

    tmcf = ngx_http_trigger_sender.tmcf;
    sc = ngx_http_trigger_sender.conf;

    token_len = ngx_http_trigger_token_make(token, tmcf->secret.data,
                                            tmcf->secret.len, purpose,
                                            digest, 40, ngx_time() + ttl);

    /* "https://shop.example/" and "/_trigger/": one slash between */
    len = ngx_strlen(sc->chains->shop_url);

    if (len && sc->chains->shop_url[len - 1] == '/') {
        len--;
    }

    p = ngx_snprintf(buf, size - 1, "%*s%V%s?e=%*s&t=%*s", len,
                     sc->chains->shop_url, &tmcf->api, purpose, (size_t) 40,
                     digest, token_len, token);
    *p = '\0';
}


/* what a letter's template can use */

static json_t *
ngx_http_trigger_sender_context(ngx_http_trigger_send_t *s,
    u_char *unsubscribe, u_char *confirm)
{
    u_char                           expires[32];
    json_t                          *context, *items, *product, *item;
    ngx_tm_t                         tm;
    ngx_str_t                       *sku, *seen;
    ngx_uint_t                       i, j, n;
    ngx_http_trigger_job_t          *job;
    ngx_http_trigger_chains_t       *chains;
    ngx_http_trigger_main_conf_t    *tmcf;

    job = s->job;
    tmcf = ngx_http_trigger_sender.tmcf;
    chains = ngx_http_trigger_sender.conf->chains;

    items = json_array();
    if (items == NULL) {
        return NULL;
    }

    /* the cart first, then what was viewed, as the widget shows them */
    for (i = 0, n = 0; i < job->ncart + job->nviewed && n < 3; i++) {
        sku = i < job->ncart ? &job->cart[i] : &job->viewed[i - job->ncart];

        /* a product in the cart is often among the viewed too */
        for (j = 0; j < i; j++) {
            seen = j < job->ncart ? &job->cart[j]
                                  : &job->viewed[j - job->ncart];

            if (seen->len == sku->len
                && ngx_strncmp(seen->data, sku->data, sku->len) == 0)
            {
                break;
            }
        }

        if (j < i) {
            continue;
        }

        product = tmcf->products
                  ? json_object_get(tmcf->products, (char *) sku->data)
                  : NULL;

        if (product == NULL) {
            continue;
        }

        item = json_copy(product);

        if (item == NULL
            || json_object_set_new(item, "in_cart",
                                   json_boolean(i < job->ncart)) != 0
            || json_array_append_new(items, item) != 0)
        {
            json_decref(items);
            return NULL;
        }

        n++;
    }

    expires[0] = '\0';

    if (job->code_expires) {
        ngx_gmtime(job->code_expires, &tm);
        *ngx_sprintf(expires, "%04d-%02d-%02d", tm.ngx_tm_year,
                     tm.ngx_tm_mon, tm.ngx_tm_mday) = '\0';
    }

    context = json_pack("{s:s#, s:s#, s:s#, s:s, s:I, s:o, s:s?, s:s?, "
                        "s:s, s:s, s:s}",
                        "email", job->email.data, (int) job->email.len,
                        "code", job->code.data, (int) job->code.len,
                        "discount", job->discount.data,
                        (int) job->discount.len,
                        "expires", (char *) expires,
                        "expires_at", (json_int_t) job->code_expires,
                        "items", items,
                        "shop_name", chains->shop_name,
                        "shop_address", chains->shop_address,
                        "shop_url", chains->shop_url,
                        "unsubscribe_url", (char *) unsubscribe,
                        "confirm_url", (char *) confirm);

    return context;
}


static ngx_int_t
ngx_http_trigger_sender_render(const ngx_http_trigger_template_t *t,
    json_t *context, unsigned flags, char **out)
{
    int                              rc;
    ngx_http_trigger_template_buf_t  buf;

    if (t == NULL) {
        *out = NULL;
        return NGX_OK;
    }

    ngx_http_trigger_template_buf_init(&buf, NGX_HTTP_TRIGGER_LETTER_MAX);

    rc = ngx_http_trigger_template_render(t, context, NULL, NULL, flags,
                                          &buf);
    if (rc != NGX_HTTP_TRIGGER_TEMPLATE_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_trigger_sender.log, 0,
                      "trigger: rendering a letter failed: %s",
                      ngx_http_trigger_template_strerror(rc));
        ngx_http_trigger_template_buf_free(&buf);
        return NGX_ERROR;
    }

    /* an empty template leaves no buffer: the letter has the part empty */
    *out = buf.data ? buf.data : strdup("");

    return *out ? NGX_OK : NGX_ERROR;
}


/* the provider's request as a libcurl transfer */

static ngx_int_t
ngx_http_trigger_sender_curl(ngx_http_trigger_send_t *s)
{
    CURL                             *easy;
    ngx_uint_t                        i;
    curl_mimepart                    *part;
    struct curl_slist                *list;
    ngx_http_trigger_sender_t        *sd;
    ngx_http_trigger_http_request_t  *req;

    sd = &ngx_http_trigger_sender;
    req = s->req;

    easy = curl_easy_init();
    if (easy == NULL) {
        return NGX_ERROR;
    }

    s->easy = easy;

    curl_easy_setopt(easy, CURLOPT_URL, req->url);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) sd->conf->timeout);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION,
                     ngx_http_trigger_sender_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, s);

    if (req->mail_from) {
        /* SMTP: the whole message as an upload */
        list = curl_slist_append(NULL, req->rcpt_to);
        if (list == NULL) {
            return NGX_ERROR;
        }

        s->rcpt = list;

        curl_easy_setopt(easy, CURLOPT_MAIL_FROM, req->mail_from);
        curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, list);
        curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(easy, CURLOPT_READFUNCTION,
                         ngx_http_trigger_sender_read);
        curl_easy_setopt(easy, CURLOPT_READDATA, s);
        curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t) req->body_len);
        /* smtp:// must take STARTTLS, but to a relay on loopback */
        curl_easy_setopt(easy, CURLOPT_USE_SSL,
                         req->tls ? (long) CURLUSESSL_ALL
                                  : (long) CURLUSESSL_TRY);

        if (req->user) {
            curl_easy_setopt(easy, CURLOPT_USERNAME, req->user);
            curl_easy_setopt(easy, CURLOPT_PASSWORD, req->password);
        }

        return ngx_http_trigger_curl_start(easy, ngx_http_trigger_sender_done,
                                           s);
    }

    for (i = 0; i < req->nheaders; i++) {
        list = curl_slist_append(s->headers, req->headers[i]);
        if (list == NULL) {
            return NGX_ERROR;
        }

        s->headers = list;
    }

    /* libcurl's "Expect: 100-continue" would cost a round trip */
    list = curl_slist_append(s->headers, "Expect:");
    if (list == NULL) {
        return NGX_ERROR;
    }

    s->headers = list;

    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION,
                     ngx_http_trigger_sender_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, s);

    if (req->nfields) {
        s->mime = curl_mime_init(easy);
        if (s->mime == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < req->nfields; i++) {
            part = curl_mime_addpart(s->mime);

            if (part == NULL
                || curl_mime_name(part, req->fields[i].name) != CURLE_OK
                || curl_mime_data(part, req->fields[i].value,
                                  req->fields[i].value_len)
                   != CURLE_OK)
            {
                return NGX_ERROR;
            }
        }

        curl_easy_setopt(easy, CURLOPT_MIMEPOST, s->mime);

    } else {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t) req->body_len);
    }

    if (ngx_strcmp(req->method, "POST") != 0) {
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
    }

    return ngx_http_trigger_curl_start(easy, ngx_http_trigger_sender_done, s);
}


static size_t
ngx_http_trigger_sender_read(char *buf, size_t size, size_t n, void *data)
{
    size_t                    len;
    ngx_http_trigger_send_t  *s = data;

    len = ngx_min(size * n, s->req->body_len - s->upload);

    ngx_memcpy(buf, s->req->body + s->upload, len);
    s->upload += len;

    return len;
}


static size_t
ngx_http_trigger_sender_write(char *buf, size_t size, size_t n, void *data)
{
    size_t                    len;
    ngx_http_trigger_send_t  *s = data;

    len = size * n;

    if (s->body == NULL) {
        s->body = ngx_alloc(NGX_HTTP_TRIGGER_SENDER_BODY_MAX,
                            ngx_http_trigger_sender.log);
        if (s->body == NULL) {
            return 0;
        }
    }

    /* a provider's answer is small: the rest is not needed */
    ngx_memcpy(s->body + s->body_len, buf,
               ngx_min(len, NGX_HTTP_TRIGGER_SENDER_BODY_MAX - s->body_len));
    s->body_len += ngx_min(len,
                           NGX_HTTP_TRIGGER_SENDER_BODY_MAX - s->body_len);

    return len;
}


/* Retry-After, and the header that carries the message id if any */

static size_t
ngx_http_trigger_sender_header(char *buf, size_t size, size_t n, void *data)
{
    char                     *dst;
    size_t                    len, name_len, max, id_len;
    const char               *id;
    ngx_http_trigger_send_t  *s = data;

    len = size * n;
    id = ngx_http_trigger_provider_id_header(
             &ngx_http_trigger_sender.conf->provider);
    id_len = id ? ngx_strlen(id) : 0;

    if (len > 12 && ngx_strncasecmp((u_char *) buf,
                                    (u_char *) "Retry-After:", 12) == 0)
    {
        name_len = 12;
        dst = s->retry_after;
        max = sizeof(s->retry_after) - 1;

    } else if (id && len > id_len + 1
               && ngx_strncasecmp((u_char *) buf, (u_char *) id, id_len) == 0
               && buf[id_len] == ':')
    {
        name_len = id_len + 1;
        dst = s->id;
        max = sizeof(s->id) - 1;

    } else {
        return len;
    }

    buf += name_len;
    len -= name_len;

    while (len && (*buf == ' ' || *buf == '\t')) {
        buf++;
        len--;
    }

    while (len && (buf[len - 1] == '\r' || buf[len - 1] == '\n'
                   || buf[len - 1] == ' '))
    {
        len--;
    }

    len = ngx_min(len, max);
    ngx_memcpy(dst, buf, len);
    dst[len] = '\0';

    return size * n;
}


static void
ngx_http_trigger_sender_done(void *data, CURL *easy, CURLcode rc)
{
    long                             status;
    char                             reason[256];
    int64_t                          delay;
    ngx_http_trigger_send_t         *s = data;
    ngx_http_trigger_job_t          *job;
    ngx_http_trigger_sender_t       *sd;
    ngx_http_trigger_job_end_t       end;
    ngx_http_trigger_send_result_t   res;
    ngx_http_trigger_chain_action_t  next;

    sd = &ngx_http_trigger_sender;
    job = s->job;

    sd->inflight--;

    ngx_memzero(&res, sizeof(ngx_http_trigger_send_result_t));

    status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);

    /*
     * no answer at all is worth another try; an SMTP relay's refusal
     * fails the transfer, but its reply code says what it means
     */
    if (rc != CURLE_OK && !(s->req->mail_from && status >= 400)) {
        res.status = NGX_HTTP_TRIGGER_SEND_RETRY;
        ngx_snprintf((u_char *) res.reason, sizeof(res.reason) - 1, "%s%Z",
                     curl_easy_strerror(rc));

    } else {
        ngx_http_trigger_provider_result(&sd->conf->provider, (int) status,
                                         s->retry_after[0]
                                         ? s->retry_after : NULL,
                                         s->req->message_id ? s->req->message_id
                                         : (s->id[0] ? s->id : NULL),
                                         s->body, s->body_len, ngx_time(),
                                         &res);
    }

    ngx_memzero(&end, sizeof(ngx_http_trigger_job_end_t));

    end.variant = s->action.drawn ? s->action.variant : job->variant;

    switch (res.status) {

    case NGX_HTTP_TRIGGER_SEND_SENT:
        ngx_http_trigger_chain_cap_count(sd->conf->chains, &s->contact,
                                         ngx_time());

        end.outcome = s->confirm ? "done" : "next";
        end.pc = s->action.pc;
        end.due = ngx_time();
        end.attempts = 0;

        /*
         * the step after the letter, decided now: a wait or the end is
         * stored in the same call, and only a letter right after it
         * needs the queue again
         */
        if (!s->confirm) {
            s->contact.variant = end.variant;
            ngx_http_trigger_chain_next(sd->conf->chains, s->chain,
                                        s->action.pc, &s->contact,
                                        ngx_time(), &next);

            if (next.act == NGX_HTTP_TRIGGER_CHAIN_DONE) {
                end.outcome = "done";

            } else if (next.act == NGX_HTTP_TRIGGER_CHAIN_WAIT) {
                end.pc = next.pc;
                end.due = next.until;
                end.variant = next.drawn ? next.variant : end.variant;
            }
        }

        end.letter = s->action.letter->name;
        end.letter_pc = job->pc;
        end.provider = (char *) sd->conf->provider_name.data;
        end.message_id = res.id;
        end.cap_sent = s->contact.cap_sent;
        end.cap_start = s->contact.cap_start;
        break;

    case NGX_HTTP_TRIGGER_SEND_RETRY:
        end.attempts = job->attempts + 1;
        end.pc = job->pc;

        ngx_snprintf((u_char *) reason, sizeof(reason) - 1, "%s%Z",
                     res.reason);
        end.error = reason;

        if (end.attempts >= NGX_HTTP_TRIGGER_SENDER_ATTEMPTS) {
            end.outcome = "dead";
            break;
        }

        /* as the provider asks, else the backoff doubling, and jitter */
        delay = res.delay ? (int64_t) res.delay
                          : (int64_t) sd->conf->backoff
                            << ngx_min(end.attempts - 1, 7);
        delay += ngx_random() % (delay / 4 + 1);

        end.outcome = "next";
        end.due = ngx_time() + delay;

        if (ngx_http_trigger_log_allowed(&sd->log_failed)) {
            ngx_log_error(NGX_LOG_WARN, sd->log, 0,
                          "trigger: letter \"%s\" to job \"%*s\": %s; "
                          "try %L again in %L s", s->action.letter->name,
                          job->id_len, job->id, res.reason, end.attempts,
                          delay);
        }

        break;

    default: /* NGX_HTTP_TRIGGER_SEND_FAILED */
        end.outcome = "dead";
        end.attempts = job->attempts + 1;
        end.pc = job->pc;
        ngx_snprintf((u_char *) reason, sizeof(reason) - 1, "%s%Z",
                     res.reason);
        end.error = reason;

        ngx_log_error(NGX_LOG_ERR, sd->log, 0,
                      "trigger: letter \"%s\" to job \"%*s\" refused by "
                      "the provider: %s", s->action.letter->name,
                      job->id_len, job->id, res.reason);
    }

    ngx_http_trigger_sender_finish(job, &end);
    ngx_http_trigger_sender_free(s);

    /* room for another letter */
    ngx_http_trigger_sender_schedule(0);
}


static void
ngx_http_trigger_sender_finish(ngx_http_trigger_job_t *job,
    ngx_http_trigger_job_end_t *end)
{
    ngx_http_trigger_sender_t  *sd;

    sd = &ngx_http_trigger_sender;

    if (end->error == NULL) {
        end->error = "";
    }

    if (ngx_http_trigger_queue_finish(sd->rd, &sd->tmcf->key_prefix, job, end)
        != NGX_OK
        && ngx_http_trigger_log_allowed(&sd->log_failed))
    {
        /* the lease ends and the job comes back: at worst, sent again */
        ngx_log_error(NGX_LOG_ERR, sd->log, 0,
                      "trigger: job \"%*s\": its end could not be stored",
                      job->id_len, job->id);
    }
}


static void
ngx_http_trigger_sender_free(ngx_http_trigger_send_t *s)
{
    if (s->easy) {
        curl_easy_cleanup(s->easy);
    }

    if (s->mime) {
        curl_mime_free(s->mime);
    }

    curl_slist_free_all(s->headers);
    curl_slist_free_all(s->rcpt);

    if (s->req) {
        ngx_http_trigger_request_free(s->req);
    }

    if (s->body) {
        ngx_free(s->body);
    }

    ngx_free(s->job);
    ngx_free(s);
}


static const ngx_http_trigger_chain_letter_t *
ngx_http_trigger_sender_letter(ngx_http_trigger_sender_conf_t *sc,
    const char *name)
{
    size_t  i;

    for (i = 0; i < sc->chains->nletters; i++) {
        if (ngx_strcmp(sc->chains->letters[i].name, name) == 0) {
            return &sc->chains->letters[i];
        }
    }

    return NULL;
}
