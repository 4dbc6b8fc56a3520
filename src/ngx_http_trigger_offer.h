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
    NGX_HTTP_TRIGGER_OFFER_OUTCOMES
} ngx_http_trigger_offer_outcome_e;


typedef struct {
    int64_t   min_depth;
    int64_t   min_duration;
    int64_t   decline_pause;
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


#endif /* _NGX_HTTP_TRIGGER_OFFER_H_INCLUDED_ */
