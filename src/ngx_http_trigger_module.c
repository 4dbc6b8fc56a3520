/*
 * ngx_http_trigger_module: the module, its configuration's life and its
 * process hooks.  Directives and variables have files of their own.
 */


#include "ngx_http_trigger_module.h"
#include "ngx_http_trigger_directives.h"
#include "ngx_http_trigger_variables.h"
#include "ngx_http_trigger_redis.h"
#include "ngx_http_trigger_track.h"
#include "ngx_http_trigger_zone.h"
#include "ngx_http_trigger_api.h"
#include "ngx_http_trigger_widget.h"
#include "ngx_http_trigger_decision.h"
#include "ngx_http_trigger_filter.h"
#include "ngx_http_trigger_stats.h"
#include "ngx_http_trigger_sender.h"
#include "ngx_http_trigger_admin.h"
#include "ngx_http_trigger_queue.h"
#include "ngx_http_trigger_tz.h"


/* matched case-insensitively against the User-Agent */
#define NGX_HTTP_TRIGGER_DEFAULT_BOTS                                       \
    "bot|crawl|spider|slurp|archiver|facebookexternalhit|embedly|preview|" \
    "headless|lighthouse|pingdom|monitor|scrapy|phantomjs|python-|curl/|"  \
    "wget|libwww|httpclient|go-http-client|java/|okhttp"


static void *ngx_http_trigger_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_trigger_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_trigger_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_trigger_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_trigger_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_trigger_init_process(ngx_cycle_t *cycle);
static void ngx_http_trigger_exit_process(ngx_cycle_t *cycle);

static ngx_http_module_t  ngx_http_trigger_module_ctx = {
    ngx_http_trigger_add_variables,        /* preconfiguration */
    ngx_http_trigger_init,                 /* postconfiguration */

    ngx_http_trigger_create_main_conf,     /* create main configuration */
    ngx_http_trigger_init_main_conf,       /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_trigger_create_loc_conf,      /* create location configuration */
    ngx_http_trigger_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_trigger_module = {
    NGX_MODULE_V1,
    &ngx_http_trigger_module_ctx,          /* module context */
    ngx_http_trigger_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_trigger_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_trigger_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_trigger_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_trigger_main_conf_t));
    if (tmcf == NULL) {
        return NULL;
    }

    tmcf->db = NGX_CONF_UNSET;
    tmcf->visit_timeout = NGX_CONF_UNSET;
    tmcf->ttl = NGX_CONF_UNSET;
    tmcf->new_visitor_ttl = NGX_CONF_UNSET;
    tmcf->viewed_max = NGX_CONF_UNSET_UINT;
    tmcf->cart_max = NGX_CONF_UNSET_UINT;
    tmcf->cap.count = NGX_CONF_UNSET_UINT;
    tmcf->token_ttl = NGX_CONF_UNSET;
    tmcf->code_ttl = NGX_CONF_UNSET;
    tmcf->subscribe_limit.count = NGX_CONF_UNSET_UINT;
    tmcf->subscribe_limit_ip.count = NGX_CONF_UNSET_UINT;
    tmcf->subscribe_limit_shop.count = NGX_CONF_UNSET_UINT;
    tmcf->double_opt_in = NGX_CONF_UNSET;
    tmcf->sender.enable = NGX_CONF_UNSET;
    tmcf->sender.concurrency = NGX_CONF_UNSET_UINT;
    tmcf->sender.rate = NGX_CONF_UNSET_UINT;
    tmcf->sender.timeout = NGX_CONF_UNSET_MSEC;
    tmcf->sender.backoff = NGX_CONF_UNSET;
    tmcf->sender.lease = NGX_CONF_UNSET;
    tmcf->zone_valid = NGX_CONF_UNSET_MSEC;
    tmcf->zone_flush = NGX_CONF_UNSET_MSEC;

    return tmcf;
}


static char *
ngx_http_trigger_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_trigger_main_conf_t *tmcf = conf;

    ngx_str_t  bots = ngx_string(NGX_HTTP_TRIGGER_DEFAULT_BOTS);

    ngx_conf_init_value(tmcf->db, 0);
    ngx_conf_init_value(tmcf->visit_timeout, 30 * 60);
    ngx_conf_init_value(tmcf->ttl, 30 * 86400);
    ngx_conf_init_value(tmcf->new_visitor_ttl, 3600);
    ngx_conf_init_uint_value(tmcf->viewed_max, 20);
    ngx_conf_init_uint_value(tmcf->cart_max, 50);
    ngx_conf_init_value(tmcf->token_ttl, 86400);
    ngx_conf_init_value(tmcf->code_ttl, 7 * 86400);
    ngx_conf_init_msec_value(tmcf->zone_valid, 10000);
    ngx_conf_init_msec_value(tmcf->zone_flush, 2);

    if (tmcf->zone_flush == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"trigger_zone_flush\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    if (tmcf->cap.count == NGX_CONF_UNSET_UINT) {
        tmcf->cap.count = 3;
        tmcf->cap.period = 30 * 86400;
    }

    if (tmcf->subscribe_limit.count == NGX_CONF_UNSET_UINT) {
        tmcf->subscribe_limit.count = 3;
        tmcf->subscribe_limit.period = 3600;
    }

    if (tmcf->subscribe_limit_ip.count == NGX_CONF_UNSET_UINT) {
        tmcf->subscribe_limit_ip.count = 20;
        tmcf->subscribe_limit_ip.period = 3600;
    }

    if (tmcf->subscribe_limit_shop.count == NGX_CONF_UNSET_UINT) {
        tmcf->subscribe_limit_shop.count = 1000;
        tmcf->subscribe_limit_shop.period = 3600;
    }

    ngx_conf_init_value(tmcf->double_opt_in, 0);

    if (tmcf->key_prefix.data == NULL) {
        ngx_str_set(&tmcf->key_prefix, "trg:");
    }

    if (tmcf->visit_timeout < 1 || tmcf->ttl < 1
        || tmcf->new_visitor_ttl < 1)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"trigger_visit_timeout\", \"trigger_ttl\" and "
                           "\"trigger_new_visitor_ttl\" must be at least 1s");
        return NGX_CONF_ERROR;
    }

    tmcf->default_bots = ngx_http_trigger_compile_bots(cf, &bots);
    if (tmcf->default_bots == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_trigger_sender_init_conf(cf, tmcf);
}


static void *
ngx_http_trigger_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_trigger_loc_conf_t  *tlcf;

    tlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_trigger_loc_conf_t));
    if (tlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tlcf->cookie_name = { 0, NULL };
     *     tlcf->cookie_domain = { 0, NULL };
     *     tlcf->cookie_path = { 0, NULL };
     *     tlcf->cookie_attrs = { 0, NULL };
     *     tlcf->consent_name = { 0, NULL };
     *     tlcf->consent_value = { 0, NULL };
     *     tlcf->bots = NULL;
     *     tlcf->events = NULL;
     *     tlcf->api = 0;
     *     tlcf->discount = { 0, NULL };
     *     tlcf->widget_lang = { 0, NULL };
     *     tlcf->widget_texts = NULL;
     *     tlcf->widget_consent = { 0, NULL };
     *     tlcf->widget_accent = { 0, NULL };
     *     tlcf->widget_types_keys = NULL;
     *     tlcf->variants = NULL;
     */

    tlcf->enable = NGX_CONF_UNSET;
    tlcf->pageview = NGX_CONF_UNSET;
    tlcf->timeout = NGX_CONF_UNSET_MSEC;
    tlcf->cookie_expires = NGX_CONF_UNSET;
    tlcf->cookie_flags = NGX_CONF_UNSET_UINT;
    tlcf->bots_off = NGX_CONF_UNSET;
    tlcf->cart_clear = NGX_CONF_UNSET;
    tlcf->api_max_size = NGX_CONF_UNSET_SIZE;
    tlcf->offer = NGX_CONF_UNSET;
    tlcf->min_depth = NGX_CONF_UNSET;
    tlcf->min_duration = NGX_CONF_UNSET;
    tlcf->decline_pause = NGX_CONF_UNSET;
    tlcf->close_pause = NGX_CONF_UNSET;
    tlcf->require_items = NGX_CONF_UNSET;
    tlcf->holdout = NGX_CONF_UNSET;
    tlcf->items_max = NGX_CONF_UNSET_UINT;
    tlcf->widget_signals = NGX_CONF_UNSET_UINT;
    tlcf->widget_format = NGX_CONF_UNSET_UINT;
    tlcf->widget_reminder = NGX_CONF_UNSET;
    tlcf->widget_delay = NGX_CONF_UNSET;
    tlcf->widget_datalayer = NGX_CONF_UNSET;
    tlcf->offer_if = NGX_CONF_UNSET_PTR;
    tlcf->widget_nonce = NGX_CONF_UNSET_PTR;

    return tlcf;
}


static char *
ngx_http_trigger_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_trigger_loc_conf_t *prev = parent;
    ngx_http_trigger_loc_conf_t *conf = child;

    u_char                        *p;
    size_t                         len;
    ngx_uint_t                     flags;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_trigger_main_conf_t  *tmcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->pageview, prev->pageview, 1);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 50);

    ngx_conf_merge_str_value(conf->cookie_name, prev->cookie_name,
                             "trg_vid");
    ngx_conf_merge_str_value(conf->cookie_domain, prev->cookie_domain, "");
    ngx_conf_merge_str_value(conf->cookie_path, prev->cookie_path, "/");
    ngx_conf_merge_value(conf->cookie_expires, prev->cookie_expires,
                         365 * 86400);
    ngx_conf_merge_uint_value(conf->cookie_flags, prev->cookie_flags,
                              NGX_HTTP_TRIGGER_COOKIE_HTTPONLY
                              |NGX_HTTP_TRIGGER_COOKIE_LAX);

    ngx_conf_merge_str_value(conf->consent_name, prev->consent_name, "");
    ngx_conf_merge_str_value(conf->consent_value, prev->consent_value, "");

    ngx_conf_merge_value(conf->bots_off, prev->bots_off, 0);

    if (conf->bots == NULL) {
        tmcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_trigger_module);
        conf->bots = prev->bots ? prev->bots : tmcf->default_bots;
    }

    if (conf->enable && conf->api) {
        /* the endpoints count no page views */
        conf->enable = 0;
    }

    if (conf->events == NULL) {
        conf->events = prev->events;
    }

    ngx_conf_merge_value(conf->cart_clear, prev->cart_clear, 0);
    ngx_conf_merge_size_value(conf->api_max_size, prev->api_max_size, 4096);

    if (conf->api) {
        /* bodies up to the limit stay in memory, never in a temp file */
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        if (clcf->client_body_buffer_size < conf->api_max_size) {
            clcf->client_body_buffer_size = conf->api_max_size;
        }
    }

    ngx_conf_merge_value(conf->offer, prev->offer, 0);
    ngx_conf_merge_value(conf->min_depth, prev->min_depth, 3);
    ngx_conf_merge_value(conf->min_duration, prev->min_duration, 60);
    ngx_conf_merge_value(conf->decline_pause, prev->decline_pause,
                         30 * 86400);
    ngx_conf_merge_value(conf->close_pause, prev->close_pause, 4 * 3600);
    ngx_conf_merge_value(conf->require_items, prev->require_items, 1);
    ngx_conf_merge_value(conf->holdout, prev->holdout, 0);
    ngx_conf_merge_ptr_value(conf->offer_if, prev->offer_if, NULL);
    ngx_conf_merge_str_value(conf->discount, prev->discount, "10%");
    ngx_conf_merge_uint_value(conf->items_max, prev->items_max, 3);
    ngx_conf_merge_str_value(conf->widget_lang, prev->widget_lang, "en");
    ngx_conf_merge_str_value(conf->widget_consent, prev->widget_consent, "");
    ngx_conf_merge_uint_value(conf->widget_format, prev->widget_format, 0);
    ngx_conf_merge_str_value(conf->widget_accent, prev->widget_accent, "");
    ngx_conf_merge_value(conf->widget_reminder, prev->widget_reminder, 1);
    ngx_conf_merge_value(conf->widget_delay, prev->widget_delay, 3);
    ngx_conf_merge_value(conf->widget_datalayer, prev->widget_datalayer, 0);
    ngx_conf_merge_ptr_value(conf->widget_nonce, prev->widget_nonce, NULL);

    if (conf->widget_texts == NULL) {
        conf->widget_texts = prev->widget_texts;
    }

    if (conf->widget_signals == NGX_CONF_UNSET_UINT) {
        conf->widget_signals = prev->widget_signals;
        conf->widget_idle = prev->widget_idle;
        conf->widget_idle_desktop = prev->widget_idle_desktop;
    }

    if (conf->widget_signals == NGX_CONF_UNSET_UINT) {
        conf->widget_signals = NGX_HTTP_TRIGGER_SIGNAL_TOP
                               |NGX_HTTP_TRIGGER_SIGNAL_BACK
                               |NGX_HTTP_TRIGGER_SIGNAL_TAB
                               |NGX_HTTP_TRIGGER_SIGNAL_SCROLL
                               |NGX_HTTP_TRIGGER_SIGNAL_IDLE;
        conf->widget_idle = 30;
    }

    if (ngx_http_merge_types(cf, &conf->widget_types_keys,
                             &conf->widget_types,
                             &prev->widget_types_keys, &prev->widget_types,
                             ngx_http_html_default_types)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    conf->rules.min_depth = conf->min_depth;
    conf->rules.min_duration = conf->min_duration;
    conf->rules.decline_pause = conf->decline_pause;
    conf->rules.close_pause = conf->close_pause;
    conf->rules.require_items = conf->require_items;
    conf->rules.holdout = conf->holdout;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_trigger_module);
    conf->rules.cap_shows = tmcf->cap.count;
    conf->rules.cap_period = tmcf->cap.period;

    if (ngx_http_trigger_variants_merge(cf, conf, prev) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->offer && ngx_http_trigger_widget_merge(cf, conf)
                       != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(conf->cookie_domain.data, "off") == 0) {
        ngx_str_set(&conf->cookie_domain, "");
    }

    /* the attributes are the same for every response: render them once */

    flags = conf->cookie_flags;

    len = sizeof("; Max-Age=") - 1 + NGX_TIME_T_LEN
          + sizeof("; Domain=") - 1 + conf->cookie_domain.len
          + sizeof("; Path=") - 1 + conf->cookie_path.len
          + sizeof("; Secure; HttpOnly; SameSite=Strict") - 1;

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->cookie_attrs.data = p;

    if (conf->cookie_expires) {
        p = ngx_sprintf(p, "; Max-Age=%T", conf->cookie_expires);
    }

    if (conf->cookie_domain.len) {
        p = ngx_sprintf(p, "; Domain=%V", &conf->cookie_domain);
    }

    p = ngx_sprintf(p, "; Path=%V", &conf->cookie_path);

    if (flags & NGX_HTTP_TRIGGER_COOKIE_SECURE) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    if (flags & NGX_HTTP_TRIGGER_COOKIE_HTTPONLY) {
        p = ngx_cpymem(p, "; HttpOnly", sizeof("; HttpOnly") - 1);
    }

    if (flags & NGX_HTTP_TRIGGER_COOKIE_STRICT) {
        p = ngx_cpymem(p, "; SameSite=Strict", sizeof("; SameSite=Strict") - 1);

    } else if (flags & NGX_HTTP_TRIGGER_COOKIE_LAX) {
        p = ngx_cpymem(p, "; SameSite=Lax", sizeof("; SameSite=Lax") - 1);

    } else if (flags & NGX_HTTP_TRIGGER_COOKIE_NONE) {
        p = ngx_cpymem(p, "; SameSite=None", sizeof("; SameSite=None") - 1);
    }

    conf->cookie_attrs.len = p - conf->cookie_attrs.data;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_trigger_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_trigger_module);

    if (!tmcf->used) {
        return NGX_OK;
    }

    if (tmcf->addr.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"trigger_redis\" is required when \"trigger\" or "
                      "\"trigger_api\" is used");
        return NGX_ERROR;
    }

    if (tmcf->secret.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"trigger_secret\" is required when \"trigger\" or "
                      "\"trigger_api\" is used");
        return NGX_ERROR;
    }

    if (ngx_http_trigger_redis_script_join(cf, &ngx_http_trigger_track_script,
                                           ngx_http_trigger_track_lua,
                                           ngx_http_trigger_track_call)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_trigger_redis_script_join(cf, &ngx_http_trigger_batch_script,
                                           ngx_http_trigger_track_lua,
                                           ngx_http_trigger_batch_call)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_trigger_redis_script(&ngx_http_trigger_read_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_uncount_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_stats_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_mark_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_subscribe_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_confirm_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_unsubscribe_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_close_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_claim_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_finish_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_admin_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_triggers_script);
    ngx_http_trigger_redis_script(&ngx_http_trigger_start_script);

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* after access checks and limits: a refused request costs no call */
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_trigger_track_handler;

    return ngx_http_trigger_filter_init(cf);
}


static ngx_int_t
ngx_http_trigger_init_process(ngx_cycle_t *cycle)
{
    ngx_http_trigger_main_conf_t  *tmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_trigger_module);

    if (tmcf == NULL || !tmcf->used) {
        return NGX_OK;
    }

    if (ngx_http_trigger_redis_init_process(cycle, tmcf) != NGX_OK
        || ngx_http_trigger_zone_init_process(cycle, tmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_trigger_sender_init_process(cycle, tmcf);
}


static void
ngx_http_trigger_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_trigger_module);

    if (tmcf && tmcf->used) {
        ngx_http_trigger_stats_flush();
        /* letters in flight go back to the queue before Redis goes */
        ngx_http_trigger_sender_exit_process();
        ngx_http_trigger_redis_exit_process();
        ngx_http_trigger_zone_exit_process();
        ngx_http_trigger_tz_free();
        ngx_http_trigger_hmac_free();
    }
}


