/*
 * The offer decision: whether this visitor, now, deserves the
 * exit-intent offer.  Plain C, no nginx, so that unit tests call it.
 */

#ifndef _NGX_HTTP_TRIGGER_OFFER_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_OFFER_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "ngx_http_trigger_sign.h"


typedef enum {
    NGX_HTTP_TRIGGER_OFFER_NONE = 0,
    NGX_HTTP_TRIGGER_OFFER_ELIGIBLE,
    NGX_HTTP_TRIGGER_OFFER_HOLDOUT,
    NGX_HTTP_TRIGGER_OFFER_SHALLOW,
    NGX_HTTP_TRIGGER_OFFER_SHORT,
    NGX_HTTP_TRIGGER_OFFER_PURCHASED,
    NGX_HTTP_TRIGGER_OFFER_DECLINED,
    NGX_HTTP_TRIGGER_OFFER_ACTIVE,
    NGX_HTTP_TRIGGER_OFFER_NO_ITEMS,
    NGX_HTTP_TRIGGER_OFFER_CAPPED,
    NGX_HTTP_TRIGGER_OFFER_CONDITION,
    NGX_HTTP_TRIGGER_OFFER_PAUSED,
    /* a staff preview: not a rule's outcome, nothing is counted */
    NGX_HTTP_TRIGGER_OFFER_PREVIEW,
    NGX_HTTP_TRIGGER_OFFER_OUTCOMES
} ngx_http_trigger_offer_outcome_e;


typedef struct {
    int64_t   min_depth;
    int64_t   min_duration;
    int64_t   decline_pause;
    /* after a close (x, Esc, the backdrop); 0: none */
    int64_t   close_pause;
    int64_t   cap_shows;
    int64_t   cap_period;
    /* share of eligible visitors held out, in hundredths of a percent */
    int64_t   holdout;
    unsigned  require_items:1;
} ngx_http_trigger_offer_rules_t;


typedef struct {
    int64_t   now;
    int64_t   depth;
    int64_t   duration;
    int64_t   purchases;
    int64_t   items;
    int64_t   declined_at;
    int64_t   closed_at;
    int64_t   active_until;
    int64_t   shows;
    int64_t   shows_since;
    /* the visitor's fixed place in 0..9999, for the holdout draw */
    int64_t   bucket;
    unsigned  condition:1;
} ngx_http_trigger_offer_state_t;


extern const char
    *ngx_http_trigger_offer_names[NGX_HTTP_TRIGGER_OFFER_OUTCOMES];


ngx_http_trigger_offer_outcome_e ngx_http_trigger_offer_decide(
    const ngx_http_trigger_offer_rules_t *rules,
    const ngx_http_trigger_offer_state_t *state);
int64_t ngx_http_trigger_offer_bucket(const u_char *vid, size_t len);

/*
 * The A/B variant of a visitor: an index into weights[0..n-1], drawn
 * from the id with a salt of its own (independent of the holdout
 * bucket), each variant's share its weight over the sum.
 */
size_t ngx_http_trigger_offer_variant(const u_char *vid, size_t len,
    const uint32_t *weights, size_t n);

/* the widget's formats and languages, NULL-terminated */
extern const char  *ngx_http_trigger_offer_formats[];
extern const char  *ngx_http_trigger_offer_langs[];

/* the index of p in a NULL-terminated list, or -1 */
int ngx_http_trigger_offer_word(const char **list, const u_char *p,
    size_t len);
/* "#rrggbb" */
int ngx_http_trigger_offer_accent_valid(const u_char *p, size_t len);

#define NGX_HTTP_TRIGGER_VARIANT_MAX   32

/* a variant's name: 1-32 of [A-Za-z0-9_-] */
int ngx_http_trigger_offer_name_valid(const u_char *p, size_t len);


/*
 * A staff preview, a cookie signed with the module's secret:
 * "<variant>:<format>:<lang>.<expiry>.<mac>" (each option may be
 * empty), the token's purpose "preview", its subject the options.
 */
#define NGX_HTTP_TRIGGER_PREVIEW_MAX                                        \
    (NGX_HTTP_TRIGGER_VARIANT_MAX + 16 + 2 + 1 + NGX_HTTP_TRIGGER_TOKEN_MAX)

typedef struct {
    const u_char  *variant;
    size_t         variant_len;
    /* indexes into the lists above, or -1: as configured */
    int            format;
    int            lang;
} ngx_http_trigger_preview_t;


/* 0 and the options parsed, or -1 when malformed */
int ngx_http_trigger_preview_parse(const u_char *p, size_t len,
    ngx_http_trigger_preview_t *pv);
size_t ngx_http_trigger_preview_make(u_char *buf, const u_char *key,
    size_t key_len, const ngx_http_trigger_preview_t *pv, time_t expires);
/* 1 when the cookie is whole, signed with key and not expired */
int ngx_http_trigger_preview_valid(const u_char *p, size_t len,
    const u_char *key, size_t key_len, time_t now,
    ngx_http_trigger_preview_t *pv);


#endif /* _NGX_HTTP_TRIGGER_OFFER_H_INCLUDED_ */
