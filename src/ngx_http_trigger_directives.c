/*
 * The module's directives: the table and the handlers that check them.
 */


#include <arpa/inet.h>

#include "ngx_http_trigger_directives.h"
#include "ngx_http_trigger_redis.h"
#include "ngx_http_trigger_api.h"
#include "ngx_http_trigger_widget.h"
#include "ngx_http_trigger_sender.h"
#include "ngx_http_trigger_admin.h"


#define NGX_HTTP_TRIGGER_PREFIX_MAX   64
#define NGX_HTTP_TRIGGER_SECRET_MIN   16
#define NGX_HTTP_TRIGGER_COOKIE_MAX_AGE  (10 * 365 * 86400)


static char *ngx_http_trigger_enable(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_redis_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_key_length(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_trigger_key_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_cookie_expires(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_trigger_cookie_flags(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_consent_cookie(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_trigger_bot_agents(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_event(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_products(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_count_per(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_holdout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_accent(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trigger_lang(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* in the order of ngx_http_trigger_offer_formats */
static ngx_conf_enum_t  ngx_http_trigger_formats[] = {
    { ngx_string("modal"), 0 },
    { ngx_string("slidein"), 1 },
    { ngx_string("bar-top"), 2 },
    { ngx_string("bar-bottom"), 3 },
    { ngx_null_string, 0 }
};


static ngx_conf_post_t  ngx_http_trigger_key_length_post =
    { ngx_http_trigger_key_length };

static ngx_conf_num_bounds_t  ngx_http_trigger_viewed_bounds = {
    ngx_conf_check_num_bounds, 1, 100
};

static ngx_conf_num_bounds_t  ngx_http_trigger_cart_bounds = {
    ngx_conf_check_num_bounds, 1, 200
};

static ngx_conf_num_bounds_t  ngx_http_trigger_concurrency_bounds = {
    ngx_conf_check_num_bounds, 1, 1000
};

static ngx_conf_num_bounds_t  ngx_http_trigger_items_bounds = {
    ngx_conf_check_num_bounds, 0, NGX_HTTP_TRIGGER_ITEMS_MAX
};


ngx_command_t  ngx_http_trigger_commands[] = {

    { ngx_string("trigger"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_trigger_enable,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, enable),
      NULL },

    { ngx_string("trigger_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_trigger_redis_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, timeout),
      NULL },

    { ngx_string("trigger_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, secret),
      &ngx_http_trigger_key_length_post },

    { ngx_string("trigger_key_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_trigger_key_prefix,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_visit_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, visit_timeout),
      NULL },

    { ngx_string("trigger_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, ttl),
      NULL },

    { ngx_string("trigger_new_visitor_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, new_visitor_ttl),
      NULL },

    { ngx_string("trigger_viewed_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, viewed_max),
      &ngx_http_trigger_viewed_bounds },

    { ngx_string("trigger_cart_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, cart_max),
      &ngx_http_trigger_cart_bounds },

    { ngx_string("trigger_cookie_name"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, cookie_name),
      NULL },

    { ngx_string("trigger_cookie_domain"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, cookie_domain),
      NULL },

    { ngx_string("trigger_cookie_path"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, cookie_path),
      NULL },

    { ngx_string("trigger_cookie_expires"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_trigger_cookie_expires,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_cookie_flags"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_trigger_cookie_flags,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_consent_cookie"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE2,
      ngx_http_trigger_consent_cookie,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_bot_agents"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_trigger_bot_agents,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_pageview"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, pageview),
      NULL },

    { ngx_string("trigger_view"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_trigger_event,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_TRIGGER_EV_VIEW,
      NULL },

    { ngx_string("trigger_cart_add"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_trigger_event,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_TRIGGER_EV_CART_ADD,
      NULL },

    { ngx_string("trigger_cart_remove"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_trigger_event,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_TRIGGER_EV_CART_REMOVE,
      NULL },

    { ngx_string("trigger_cart_clear"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, cart_clear),
      NULL },

    { ngx_string("trigger_purchase"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_trigger_event,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_TRIGGER_EV_PURCHASE,
      NULL },

    { ngx_string("trigger_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_trigger_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_api_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, api_max_size),
      NULL },

    { ngx_string("trigger_api_purchase_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, purchase_key),
      &ngx_http_trigger_key_length_post },

    { ngx_string("trigger_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_trigger_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_chains"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_trigger_chains_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_esp"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_trigger_esp_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_sender"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, sender.enable),
      NULL },

    { ngx_string("trigger_sender_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, sender.concurrency),
      &ngx_http_trigger_concurrency_bounds },

    { ngx_string("trigger_sender_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, sender.rate),
      NULL },

    { ngx_string("trigger_sender_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, sender.timeout),
      NULL },

    { ngx_string("trigger_sender_backoff"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, sender.backoff),
      NULL },

    { ngx_string("trigger_sender_lease"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, sender.lease),
      NULL },

    { ngx_string("trigger_products"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_trigger_products,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_offer_cap"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_trigger_count_per,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, cap),
      NULL },

    { ngx_string("trigger_offer_token_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, token_ttl),
      NULL },

    { ngx_string("trigger_offer_code_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, code_ttl),
      NULL },

    { ngx_string("trigger_subscribe_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_trigger_count_per,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, subscribe_limit),
      NULL },

    { ngx_string("trigger_subscribe_limit_ip"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_trigger_count_per,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, subscribe_limit_ip),
      NULL },

    { ngx_string("trigger_subscribe_limit_shop"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_trigger_count_per,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, subscribe_limit_shop),
      NULL },

    { ngx_string("trigger_double_opt_in"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_trigger_main_conf_t, double_opt_in),
      NULL },

    { ngx_string("trigger_offer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, offer),
      NULL },

    { ngx_string("trigger_offer_min_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, min_depth),
      NULL },

    { ngx_string("trigger_offer_min_duration"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, min_duration),
      NULL },

    { ngx_string("trigger_offer_decline_pause"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, decline_pause),
      NULL },

    { ngx_string("trigger_offer_close_pause"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, close_pause),
      NULL },

    { ngx_string("trigger_offer_variant"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_trigger_widget_variant,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_offer_require_items"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, require_items),
      NULL },

    { ngx_string("trigger_offer_if"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, offer_if),
      NULL },

    { ngx_string("trigger_offer_holdout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_trigger_holdout,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_offer_discount"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, discount),
      NULL },

    { ngx_string("trigger_widget_items"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, items_max),
      &ngx_http_trigger_items_bounds },

    { ngx_string("trigger_widget_lang"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_trigger_lang,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_widget_text"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_trigger_widget_text,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_widget_consent"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, widget_consent),
      NULL },

    { ngx_string("trigger_widget_signals"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_trigger_widget_signals,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_widget_format"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, widget_format),
      &ngx_http_trigger_formats },

    { ngx_string("trigger_widget_accent"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_trigger_accent,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("trigger_widget_reminder"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, widget_reminder),
      NULL },

    { ngx_string("trigger_widget_delay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, widget_delay),
      NULL },

    { ngx_string("trigger_widget_datalayer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, widget_datalayer),
      NULL },

    { ngx_string("trigger_widget_nonce"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, widget_nonce),
      NULL },

    { ngx_string("trigger_widget_types"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_types_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trigger_loc_conf_t, widget_types_keys),
      &ngx_http_html_default_types[0] },

      ngx_null_command
};


static char *
ngx_http_trigger_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                          *rv;
    ngx_http_trigger_loc_conf_t   *tlcf = conf;
    ngx_http_trigger_main_conf_t  *tmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK && tlcf->enable) {
        tmcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_trigger_module);
        tmcf->used = 1;
    }

    return rv;
}


static char *
ngx_http_trigger_redis_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_main_conf_t *tmcf = conf;

    u_char           *colon, buf[sizeof(struct in6_addr)];
    ngx_int_t         port;
    ngx_str_t        *value, host;
    ngx_uint_t        i;

    if (tmcf->addr.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    tmcf->addr = value[1];

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        tmcf->unix_path.len = value[1].len - 5;
        tmcf->unix_path.data = ngx_pnalloc(cf->pool, tmcf->unix_path.len + 1);
        if (tmcf->unix_path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(tmcf->unix_path.data, value[1].data + 5,
                    tmcf->unix_path.len + 1);

    } else {
        colon = ngx_strlchr(value[1].data, value[1].data + value[1].len, ']');
        colon = ngx_strlchr(colon ? colon : value[1].data,
                            value[1].data + value[1].len, ':');

        port = colon ? ngx_atoi(colon + 1,
                                value[1].data + value[1].len - colon - 1)
                     : NGX_ERROR;

        if (port < 1 || port > 65535) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid redis address \"%V\": expected "
                               "IP:port or unix:/path", &value[1]);
            return NGX_CONF_ERROR;
        }

        host.data = value[1].data;
        host.len = colon - value[1].data;

        if (host.len > 2 && host.data[0] == '[') {
            host.data++;
            host.len -= 2;
        }

        tmcf->host.data = ngx_pnalloc(cf->pool, host.len + 1);
        if (tmcf->host.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(tmcf->host.data, host.data, host.len + 1);
        tmcf->host.len = host.len;
        tmcf->port = (int) port;

        /* hiredis would resolve a name with blocking getaddrinfo() */
        if (inet_pton(AF_INET, (char *) tmcf->host.data, buf) != 1
            && inet_pton(AF_INET6, (char *) tmcf->host.data, buf) != 1)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid redis address \"%V\": the host must "
                               "be an IP address", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password=", 9) == 0
            && value[i].len > 9)
        {
            tmcf->password.data = value[i].data + 9;
            tmcf->password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            tmcf->db = ngx_atoi(value[i].data + 3, value[i].len - 3);

            if (tmcf->db == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid redis database \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a key for HMACs: short ones can be guessed */

static char *
ngx_http_trigger_key_length(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *key = data;

    if (key->len < NGX_HTTP_TRIGGER_SECRET_MIN) {
        return "must be at least 16 characters long";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_trigger_key_prefix(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_main_conf_t *tmcf = conf;

    ngx_str_t  *value;

    if (tmcf->key_prefix.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len > NGX_HTTP_TRIGGER_PREFIX_MAX
        || ngx_strlchr(value[1].data, value[1].data + value[1].len, '{'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"trigger_key_prefix\" must be at most %d "
                           "characters and have no \"{\"",
                           NGX_HTTP_TRIGGER_PREFIX_MAX);
        return NGX_CONF_ERROR;
    }

    tmcf->key_prefix = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_trigger_cookie_expires(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->cookie_expires != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        tlcf->cookie_expires = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "max") == 0) {
        tlcf->cookie_expires = NGX_HTTP_TRIGGER_COOKIE_MAX_AGE;
        return NGX_CONF_OK;
    }

    tlcf->cookie_expires = ngx_parse_time(&value[1], 1);

    if (tlcf->cookie_expires == (time_t) NGX_ERROR
        || tlcf->cookie_expires == 0)
    {
        return "invalid value";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_trigger_cookie_flags(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i, flags;

    if (tlcf->cookie_flags != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    flags = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "off") == 0 && cf->args->nelts == 2) {
            flags = NGX_HTTP_TRIGGER_COOKIE_OFF;

        } else if (ngx_strcmp(value[i].data, "secure") == 0) {
            flags |= NGX_HTTP_TRIGGER_COOKIE_SECURE;

        } else if (ngx_strcmp(value[i].data, "httponly") == 0) {
            flags |= NGX_HTTP_TRIGGER_COOKIE_HTTPONLY;

        } else if (ngx_strcmp(value[i].data, "samesite=strict") == 0) {
            flags |= NGX_HTTP_TRIGGER_COOKIE_STRICT;

        } else if (ngx_strcmp(value[i].data, "samesite=lax") == 0) {
            flags |= NGX_HTTP_TRIGGER_COOKIE_LAX;

        } else if (ngx_strcmp(value[i].data, "samesite=none") == 0) {
            flags |= NGX_HTTP_TRIGGER_COOKIE_NONE;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid cookie flag \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if ((flags & NGX_HTTP_TRIGGER_COOKIE_NONE)
        && !(flags & NGX_HTTP_TRIGGER_COOKIE_SECURE))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"samesite=none\" requires \"secure\": "
                           "browsers reject the cookie otherwise");
        return NGX_CONF_ERROR;
    }

    tlcf->cookie_flags = flags;

    return NGX_CONF_OK;
}


static char *
ngx_http_trigger_consent_cookie(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->consent_name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    tlcf->consent_name = value[1];
    tlcf->consent_value = value[2];

    return NGX_CONF_OK;
}


static char *
ngx_http_trigger_bot_agents(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    u_char      *p;
    size_t       len;
    ngx_str_t   *value, pattern;
    ngx_uint_t   i;

    if (tlcf->bots || tlcf->bots_off != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        tlcf->bots_off = 1;
        return NGX_CONF_OK;
    }

    len = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        len += sizeof("|(?:)") - 1 + value[i].len;
    }

    pattern.data = ngx_pnalloc(cf->pool, len);
    if (pattern.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = pattern.data;

    for (i = 1; i < cf->args->nelts; i++) {
        p = ngx_sprintf(p, "%s(?:%V)", i == 1 ? "" : "|", &value[i]);
    }

    pattern.len = p - pattern.data;

    tlcf->bots = ngx_http_trigger_compile_bots(cf, &pattern);
    if (tlcf->bots == NULL) {
        return NGX_CONF_ERROR;
    }

    tlcf->bots_off = 0;

    return NGX_CONF_OK;
}


ngx_regex_t *
ngx_http_trigger_compile_bots(ngx_conf_t *cf, ngx_str_t *pattern)
{
    u_char               errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t  rc;

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern = *pattern;
    rc.pool = cf->pool;
    rc.options = NGX_REGEX_CASELESS;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V", &rc.err);
        return NULL;
    }

    return rc.regex;
}


static char *
ngx_http_trigger_event(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_complex_value_t         **part;
    ngx_http_trigger_conf_event_t     *ev;
    ngx_http_compile_complex_value_t   ccv;

    if (tlcf->events == NULL) {
        tlcf->events = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_trigger_conf_event_t));
        if (tlcf->events == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (tlcf->events->nelts == NGX_HTTP_TRIGGER_EVENTS_MAX - 1) {
        return "too many events in one location";
    }

    ev = ngx_array_push(tlcf->events);
    if (ev == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(ev, sizeof(ngx_http_trigger_conf_event_t));
    ev->type = cmd->offset;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        part = i == 1 ? &ev->id : (i == 2 ? &ev->num : &ev->promo);

        *part = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (*part == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[i];
        ccv.complex_value = *part;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_trigger_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_trigger_main_conf_t  *tmcf;

    if (tlcf->api) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the endpoints are named by what follows the location's prefix */
    if (clcf->regex || clcf->exact_match || clcf->name.len == 0
        || clcf->name.data[clcf->name.len - 1] != '/')
    {
        return "must be in a prefix location ending with \"/\"";
    }

    tlcf->api = 1;
    clcf->handler = ngx_http_trigger_api_handler;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_trigger_module);
    tmcf->used = 1;

    if (tmcf->api.len == 0) {
        tmcf->api = clcf->name;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_trigger_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_trigger_main_conf_t  *tmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the commands are named by what follows the location's prefix */
    if (clcf->regex || clcf->exact_match || clcf->name.len == 0
        || clcf->name.data[clcf->name.len - 1] != '/')
    {
        return "must be in a prefix location ending with \"/\"";
    }

    if (clcf->handler == ngx_http_trigger_admin_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_trigger_admin_handler;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_trigger_module);
    tmcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_trigger_products(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_main_conf_t *tmcf = conf;

    ngx_str_t  *value;

    if (tmcf->products) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_http_trigger_products_load(cf, &value[1], &tmcf->products);
}


/* "N PERIOD" */

static char *
ngx_http_trigger_count_per(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_int_t                 n;
    ngx_str_t                *value;
    ngx_http_trigger_rate_t  *rate;

    rate = (ngx_http_trigger_rate_t *) ((u_char *) conf + cmd->offset);

    if (rate->count != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    rate->period = ngx_parse_time(&value[2], 1);

    if (n == NGX_ERROR || rate->period == (time_t) NGX_ERROR
        || rate->period == 0)
    {
        return "invalid value";
    }

    rate->count = n;

    return NGX_CONF_OK;
}


/* a share of eligible visitors: "10%" or "2.5%" */

static char *
ngx_http_trigger_holdout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (tlcf->holdout != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len < 2 || value[1].data[value[1].len - 1] != '%') {
        return "must be a percentage such as \"10%\"";
    }

    n = ngx_atofp(value[1].data, value[1].len - 1, 2);

    if (n == NGX_ERROR || n > 10000) {
        return "must be a percentage from 0% to 100%";
    }

    tlcf->holdout = n;

    return NGX_CONF_OK;
}


static char *
ngx_http_trigger_lang(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->widget_lang.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_trigger_offer_word(ngx_http_trigger_offer_langs,
                                    value[1].data, value[1].len)
        < 0)
    {
        return "must be \"en\", \"ru\", \"de\", \"fr\" or \"es\"";
    }

    tlcf->widget_lang = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_trigger_accent(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->widget_accent.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!ngx_http_trigger_offer_accent_valid(value[1].data, value[1].len)) {
        return "must be a colour as \"#rrggbb\"";
    }

    tlcf->widget_accent = value[1];

    return NGX_CONF_OK;
}
