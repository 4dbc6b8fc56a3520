/*
 * The offer decision.
 */


#include "ngx_http_trigger_offer.h"


const char  *ngx_http_trigger_offer_names[NGX_HTTP_TRIGGER_OFFER_OUTCOMES] = {
    "",
    "eligible",
    "holdout",
    "shallow",
    "short",
    "purchased",
    "declined",
    "active",
    "no_items",
    "capped",
    "condition"
};


/*
 * The first rule that fails names the outcome, in the order a marketer
 * reads them: the shop's own condition, then what the visitor did.
 */

ngx_http_trigger_offer_outcome_e
ngx_http_trigger_offer_decide(const ngx_http_trigger_offer_rules_t *rules,
    const ngx_http_trigger_offer_state_t *state)
{
    if (!state->condition) {
        return NGX_HTTP_TRIGGER_OFFER_CONDITION;
    }

    if (state->purchases > 0) {
        return NGX_HTTP_TRIGGER_OFFER_PURCHASED;
    }

    if (state->active_until > state->now) {
        return NGX_HTTP_TRIGGER_OFFER_ACTIVE;
    }

    if (state->declined_at > 0
        && state->now - state->declined_at < rules->decline_pause)
    {
        return NGX_HTTP_TRIGGER_OFFER_DECLINED;
    }

    if (rules->cap_shows > 0
        && state->shows >= rules->cap_shows
        && state->now - state->shows_since < rules->cap_period)
    {
        return NGX_HTTP_TRIGGER_OFFER_CAPPED;
    }

    if (state->depth < rules->min_depth) {
        return NGX_HTTP_TRIGGER_OFFER_SHALLOW;
    }

    if (state->duration < rules->min_duration) {
        return NGX_HTTP_TRIGGER_OFFER_SHORT;
    }

    if (rules->require_items && state->items == 0) {
        return NGX_HTTP_TRIGGER_OFFER_NO_ITEMS;
    }

    if (state->bucket < rules->holdout) {
        return NGX_HTTP_TRIGGER_OFFER_HOLDOUT;
    }

    return NGX_HTTP_TRIGGER_OFFER_ELIGIBLE;
}


/* FNV-1a of the random visitor id: the same place on every request */

int64_t
ngx_http_trigger_offer_bucket(const u_char *vid, size_t len)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h ^= vid[i];
        h *= 16777619u;
    }

    return h % 10000;
}
