/*
 * ngx_http_trigger_module: configuration and per-request context shared
 * by the module's areas.
 */

#ifndef _NGX_HTTP_TRIGGER_MODULE_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_trigger_sign.h"
#include "ngx_http_trigger_event.h"
#include "ngx_http_trigger_offer.h"
#include "ngx_http_trigger_chain.h"
#include "ngx_http_trigger_provider.h"
#include "ngx_http_trigger_template.h"
#include "ngx_http_trigger_html.h"


#define NGX_HTTP_TRIGGER_COOKIE_SECURE     0x01
#define NGX_HTTP_TRIGGER_COOKIE_HTTPONLY   0x02
#define NGX_HTTP_TRIGGER_COOKIE_STRICT     0x04
#define NGX_HTTP_TRIGGER_COOKIE_LAX        0x08
#define NGX_HTTP_TRIGGER_COOKIE_NONE       0x10
#define NGX_HTTP_TRIGGER_COOKIE_OFF        0x20


typedef enum {
    NGX_HTTP_TRIGGER_STATUS_NONE = 0,
    NGX_HTTP_TRIGGER_STATUS_PENDING,
    NGX_HTTP_TRIGGER_STATUS_TRACKED,
    NGX_HTTP_TRIGGER_STATUS_BOT,
    NGX_HTTP_TRIGGER_STATUS_NO_CONSENT,
    NGX_HTTP_TRIGGER_STATUS_UNAVAILABLE,
    NGX_HTTP_TRIGGER_STATUS_TIMEOUT,
    NGX_HTTP_TRIGGER_STATUS_ERROR
} ngx_http_trigger_status_e;


/* what the tracking script returns, in this order */
typedef enum {
    NGX_HTTP_TRIGGER_VISITS = 0,
    NGX_HTTP_TRIGGER_DEPTH,
    NGX_HTTP_TRIGGER_DURATION,
    NGX_HTTP_TRIGGER_SINCE_LAST,
    NGX_HTTP_TRIGGER_CART_ITEMS,
    NGX_HTTP_TRIGGER_CART_QTY,
    NGX_HTTP_TRIGGER_VIEWED,
    NGX_HTTP_TRIGGER_PURCHASES,
    NGX_HTTP_TRIGGER_DECLINED_AT,
    NGX_HTTP_TRIGGER_ACTIVE_UNTIL,
    NGX_HTTP_TRIGGER_SHOWS,
    NGX_HTTP_TRIGGER_SHOWS_SINCE,
    NGX_HTTP_TRIGGER_CODES_USED,
    /* 0: none yet, 1: offered, 2: held out */
    NGX_HTTP_TRIGGER_GROUP,
    NGX_HTTP_TRIGGER_CLOSED_AT,
    NGX_HTTP_TRIGGER_STATE_COUNT
} ngx_http_trigger_state_e;


/* "N per PERIOD" */
typedef struct {
    ngx_uint_t                     count;
    time_t                         period;
} ngx_http_trigger_rate_t;


#define NGX_HTTP_TRIGGER_SECRET_MAX      512


/* a letter's templates, compiled */
typedef struct {
    ngx_http_trigger_template_t   *subject;
    ngx_http_trigger_template_t   *html;
    ngx_http_trigger_template_t   *text;
} ngx_http_trigger_letter_t;


/* the chains, their letters and the provider that sends them */
typedef struct {
    ngx_str_t                      chains_file;
    ngx_http_trigger_chains_t     *chains;
    /* compiled, in the order of chains->letters */
    ngx_http_trigger_letter_t     *letters;
    /* the names of the chains a subscription starts */
    ngx_array_t                   *on_subscribe;
    /* every chain's name, and the confirmation letter's "_confirm" */
    ngx_array_t                   *all_chains;
    /* the names of the chains a known contact's behaviour starts */
    ngx_array_t                   *behaviour;
    /* their contacts' events are kept so long (0: no such chain), and
     * the shortest "lapse" among them */
    time_t                         history;
    time_t                         lapse;

    ngx_http_trigger_provider_t    provider;
    ngx_str_t                      provider_name;
    /* the json provider's body, a template of the admin's */
    ngx_http_trigger_template_t   *json_body;
    char                           secret[NGX_HTTP_TRIGGER_SECRET_MAX];

    ngx_flag_t                     enable;
    ngx_uint_t                     concurrency;
    /* letters a second a worker sends at most, 0: no limit */
    ngx_uint_t                     rate;
    ngx_msec_t                     timeout;
    /* the first retry's delay; it doubles for each one after */
    time_t                         backoff;
    /* a claimed job is the worker's for so long */
    time_t                         lease;
} ngx_http_trigger_sender_conf_t;


typedef struct {
    ngx_str_t                      addr;
    /* both null-terminated for hiredis; host is an IP literal */
    ngx_str_t                      host;
    int                            port;
    ngx_str_t                      unix_path;
    ngx_str_t                      password;
    ngx_int_t                      db;

    ngx_str_t                      secret;
    /* signs purchases reported through the events endpoint */
    ngx_str_t                      purchase_key;
    ngx_str_t                      key_prefix;
    time_t                         visit_timeout;
    time_t                         ttl;
    time_t                         new_visitor_ttl;
    ngx_uint_t                     viewed_max;
    ngx_uint_t                     cart_max;

    ngx_regex_t                   *default_bots;
    ngx_flag_t                     used;

    /* the trigger_api location: the widget's endpoints live under it */
    ngx_str_t                      api;

    /* sku -> product object, from trigger_products */
    json_t                        *products;

    ngx_http_trigger_rate_t        cap;
    time_t                         token_ttl;
    time_t                         code_ttl;
    ngx_http_trigger_rate_t        subscribe_limit;
    ngx_http_trigger_rate_t        subscribe_limit_ip;
    ngx_http_trigger_rate_t        subscribe_limit_shop;
    ngx_flag_t                     double_opt_in;

    ngx_http_trigger_sender_conf_t  sender;
} ngx_http_trigger_main_conf_t;


/*
 * The bootstrap's fixed parts, JSON escaped for a <script> element and
 * without the object's braces: an offer page's and a reminder's; and
 * the offer's settings as an object, for a preview's changes.
 */
typedef struct {
    ngx_str_t                      offer;
    ngx_str_t                      reminder;
    json_t                        *settings;
} ngx_http_trigger_look_t;


/* the counters a variant has beside the offer's */
typedef struct {
    const char                    *all;
    const char                    *variant;
} ngx_http_trigger_counter_t;


/* an A/B variant of the offer (trigger_offer_variant) */
typedef struct {
    ngx_str_t                      name;
    ngx_uint_t                     weight;
    ngx_str_t                      discount;
    ngx_uint_t                     format;
    ngx_str_t                      accent;
    json_t                        *texts;
    ngx_http_trigger_look_t        look;
    /* "visitors_offered" and "visitors_offered:<name>" */
    ngx_http_trigger_counter_t     offered;
} ngx_http_trigger_variant_t;


/* an event configured on a location: complex values for its parts */
typedef struct {
    ngx_http_trigger_event_type_e  type;
    ngx_http_complex_value_t      *id;
    ngx_http_complex_value_t      *num;
    ngx_http_complex_value_t      *promo;
} ngx_http_trigger_conf_event_t;


typedef struct {
    ngx_flag_t                     enable;
    ngx_flag_t                     pageview;
    ngx_msec_t                     timeout;

    ngx_str_t                      cookie_name;
    ngx_str_t                      cookie_domain;
    ngx_str_t                      cookie_path;
    time_t                         cookie_expires;
    ngx_uint_t                     cookie_flags;
    /* "; Max-Age=...; Domain=...; Path=...; ..." rendered once */
    ngx_str_t                      cookie_attrs;

    ngx_str_t                      consent_name;
    ngx_str_t                      consent_value;

    ngx_regex_t                   *bots;
    ngx_flag_t                     bots_off;

    ngx_array_t                   *events;
    ngx_flag_t                     cart_clear;

    ngx_flag_t                     api;
    size_t                         api_max_size;

    ngx_flag_t                     offer;
    ngx_int_t                      min_depth;
    time_t                         min_duration;
    time_t                         decline_pause;
    time_t                         close_pause;
    ngx_flag_t                     require_items;
    ngx_int_t                      holdout;
    ngx_http_trigger_offer_rules_t  rules;
    ngx_http_complex_value_t      *offer_if;
    ngx_str_t                      discount;
    ngx_uint_t                     items_max;
    /* of ngx_http_trigger_variant_t; their weights, for the draw */
    ngx_array_t                   *variants;
    uint32_t                      *weights;

    ngx_str_t                      widget_lang;
    json_t                        *widget_texts;
    ngx_str_t                      widget_consent;
    ngx_uint_t                     widget_signals;
    time_t                         widget_idle;
    time_t                         widget_idle_desktop;
    ngx_uint_t                     widget_format;
    ngx_str_t                      widget_accent;
    ngx_flag_t                     widget_reminder;
    time_t                         widget_delay;
    ngx_flag_t                     widget_datalayer;
    ngx_http_complex_value_t      *widget_nonce;
    ngx_hash_t                     widget_types;
    ngx_array_t                   *widget_types_keys;
    /* the bootstrap's fixed parts without variants */
    ngx_http_trigger_look_t        look;
} ngx_http_trigger_loc_conf_t;


#define NGX_HTTP_TRIGGER_SIGNAL_TOP      0x01
#define NGX_HTTP_TRIGGER_SIGNAL_BACK     0x02
#define NGX_HTTP_TRIGGER_SIGNAL_TAB      0x04
#define NGX_HTTP_TRIGGER_SIGNAL_SCROLL   0x08
#define NGX_HTTP_TRIGGER_SIGNAL_IDLE     0x10
#define NGX_HTTP_TRIGGER_SIGNAL_IDLE_DESKTOP  0x20

#define NGX_HTTP_TRIGGER_ITEMS_MAX       10


typedef struct {
    ngx_str_t                      sku;
    int64_t                        qty;
} ngx_http_trigger_item_t;


typedef struct ngx_http_trigger_ctx_s  ngx_http_trigger_ctx_t;

typedef void (*ngx_http_trigger_resume_pt)(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx);
/* reads a script's reply into ctx and sets ctx->status */
typedef void (*ngx_http_trigger_parse_pt)(ngx_http_trigger_ctx_t *ctx,
    void *reply);

struct ngx_http_trigger_ctx_s {
    ngx_http_request_t            *request;
    ngx_http_trigger_status_e      status;
    int64_t                        state[NGX_HTTP_TRIGGER_STATE_COUNT];

    ngx_http_trigger_loc_conf_t   *conf;
    u_char                         cookie[NGX_HTTP_TRIGGER_COOKIE_LEN];
    unsigned                       identified:1;
    unsigned                       new_visitor:1;
    unsigned                       cookie_sent:1;
    unsigned                       want_items:1;
    /* the tracking call counted this request as a page view */
    unsigned                       pageview:1;
    /* state[] holds the tracking script's answer */
    unsigned                       has_state:1;
    unsigned                       condition:1;
    /* the body filter looks for </body>, once per request */
    unsigned                       armed:1;
    unsigned                       scan:1;
    /* and puts the bootstrap before it (else counts a held-out page) */
    unsigned                       inject:1;
    /* the bootstrap is the code's reminder (ctx->code) */
    unsigned                       reminder:1;

    ngx_http_trigger_offer_outcome_e  offer;
    /* the visitor's A/B variant, or NULL */
    ngx_http_trigger_variant_t    *variant;
    /* a staff preview's options (offer NGX_HTTP_TRIGGER_OFFER_PREVIEW) */
    ngx_http_trigger_preview_t     preview;
    ngx_http_trigger_item_t        items[NGX_HTTP_TRIGGER_ITEMS_MAX];
    ngx_uint_t                     nitems;

    /* the body filter's search: bytes that could start the tag wait */
    ngx_http_trigger_html_t        html;
    u_char                         held[NGX_HTTP_TRIGGER_HTML_TAG_LEN];
    size_t                         nheld;
    ngx_chain_t                   *free;
    ngx_chain_t                   *busy;

    /* the endpoint's events, for their statistics */
    ngx_http_trigger_event_t      *events;
    ngx_uint_t                     nevents;

    /* what a non-tracking script answered (subscribe); the code is also
     * the visitor's own, from the tracking script, for the reminder */
    ngx_str_t                      answer;
    ngx_str_t                      code;
    int64_t                        code_expires;

    /* a suspended request: its command, deadline and wake-up */
    void                          *command;
    ngx_event_t                    deadline;
    ngx_event_t                    wake;
    ngx_http_trigger_resume_pt     resume;
    ngx_http_trigger_parse_pt      parse;
};


extern ngx_module_t  ngx_http_trigger_module;


#endif /* _NGX_HTTP_TRIGGER_MODULE_H_INCLUDED_ */
