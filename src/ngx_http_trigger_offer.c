/*
 * The offer decision.
 */


#include <ctype.h>
#include <string.h>

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
    "condition",
    "paused",
    "preview"
};


const char  *ngx_http_trigger_offer_formats[] = {
    "modal", "slidein", "bar-top", "bar-bottom", NULL
};

const char  *ngx_http_trigger_offer_langs[] = {
    "en", "ru", "de", "fr", "es", NULL
};


/*
 * The first rule that fails names the outcome, in the order a marketer
 * reads them: the shop's own condition, then what the visitor did.
 */

ngx_http_trigger_offer_outcome_e
ngx_http_trigger_offer_decide(const ngx_http_trigger_offer_rules_t *rules,
    const ngx_http_trigger_offer_state_t *state)
{
    if (state->purchases > 0) {
        return NGX_HTTP_TRIGGER_OFFER_PURCHASED;
    }

    /* before the page rules: a code's reminder belongs on the checkout */
    if (state->active_until > state->now) {
        return NGX_HTTP_TRIGGER_OFFER_ACTIVE;
    }

    if (!state->condition) {
        return NGX_HTTP_TRIGGER_OFFER_CONDITION;
    }

    if (state->declined_at > 0
        && state->now - state->declined_at < rules->decline_pause)
    {
        return NGX_HTTP_TRIGGER_OFFER_DECLINED;
    }

    if (rules->close_pause > 0 && state->closed_at > 0
        && state->now - state->closed_at < rules->close_pause)
    {
        return NGX_HTTP_TRIGGER_OFFER_PAUSED;
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


/*
 * FNV-1a of a salt and the id, then a 32-bit finalizer (murmur3's): the
 * low bits of FNV alone are not spread well enough for a small modulus.
 */

size_t
ngx_http_trigger_offer_variant(const u_char *vid, size_t len,
    const uint32_t *weights, size_t n)
{
    size_t     i;
    uint32_t   h;
    uint64_t   sum, at;

    static const u_char  salt[] = "variant";

    sum = 0;

    for (i = 0; i < n; i++) {
        sum += weights[i];
    }

    if (sum == 0) {
        return 0;
    }

    h = 2166136261u;

    for (i = 0; i < sizeof(salt) - 1; i++) {
        h ^= salt[i];
        h *= 16777619u;
    }

    for (i = 0; i < len; i++) {
        h ^= vid[i];
        h *= 16777619u;
    }

    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;

    at = h % sum;

    for (i = 0; i + 1 < n; i++) {
        if (at < weights[i]) {
            break;
        }

        at -= weights[i];
    }

    return i;
}


int
ngx_http_trigger_offer_word(const char **list, const u_char *p, size_t len)
{
    int  i;

    for (i = 0; list[i]; i++) {
        if (strlen(list[i]) == len && memcmp(list[i], p, len) == 0) {
            return i;
        }
    }

    return -1;
}


int
ngx_http_trigger_offer_accent_valid(const u_char *p, size_t len)
{
    size_t  i;

    if (len != 7 || p[0] != '#') {
        return 0;
    }

    for (i = 1; i < 7; i++) {
        if (!isxdigit(p[i])) {
            return 0;
        }
    }

    return 1;
}


int
ngx_http_trigger_offer_name_valid(const u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_HTTP_TRIGGER_VARIANT_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!isalnum(p[i]) && p[i] != '_' && p[i] != '-') {
            return 0;
        }
    }

    return 1;
}


int
ngx_http_trigger_preview_parse(const u_char *p, size_t len,
    ngx_http_trigger_preview_t *pv)
{
    int            *index[2];
    size_t          i;
    const u_char   *end, *colon;
    const char    **lists[2];

    end = p + len;

    colon = memchr(p, ':', len);
    if (colon == NULL) {
        return -1;
    }

    pv->variant = p;
    pv->variant_len = colon - p;

    if (pv->variant_len
        && !ngx_http_trigger_offer_name_valid(p, pv->variant_len))
    {
        return -1;
    }

    index[0] = &pv->format;
    index[1] = &pv->lang;
    lists[0] = ngx_http_trigger_offer_formats;
    lists[1] = ngx_http_trigger_offer_langs;

    for (i = 0; i < 2; i++) {
        p = colon + 1;

        if (p > end) {
            return -1;
        }

        colon = (i == 0) ? memchr(p, ':', end - p) : end;
        if (colon == NULL) {
            return -1;
        }

        *index[i] = -1;

        if (colon > p) {
            *index[i] = ngx_http_trigger_offer_word(lists[i], p, colon - p);

            if (*index[i] < 0) {
                return -1;
            }
        }
    }

    return 0;
}


/* the options as the cookie carries them; buf has room for them */

static size_t
ngx_http_trigger_preview_options(u_char *buf,
    const ngx_http_trigger_preview_t *pv)
{
    u_char      *p;
    const char  *f, *l;

    f = (pv->format >= 0) ? ngx_http_trigger_offer_formats[pv->format] : "";
    l = (pv->lang >= 0) ? ngx_http_trigger_offer_langs[pv->lang] : "";

    p = buf;
    memcpy(p, pv->variant, pv->variant_len);
    p += pv->variant_len;
    *p++ = ':';
    memcpy(p, f, strlen(f));
    p += strlen(f);
    *p++ = ':';
    memcpy(p, l, strlen(l));
    p += strlen(l);

    return p - buf;
}


size_t
ngx_http_trigger_preview_make(u_char *buf, const u_char *key, size_t key_len,
    const ngx_http_trigger_preview_t *pv, time_t expires)
{
    size_t  n;

    n = ngx_http_trigger_preview_options(buf, pv);
    buf[n] = '.';

    return n + 1 + ngx_http_trigger_token_make(buf + n + 1, key, key_len,
                                               "preview", buf, n, expires);
}


int
ngx_http_trigger_preview_valid(const u_char *p, size_t len,
    const u_char *key, size_t key_len, time_t now,
    ngx_http_trigger_preview_t *pv)
{
    const u_char  *dot;

    dot = memchr(p, '.', len);

    if (dot == NULL
        || ngx_http_trigger_preview_parse(p, dot - p, pv) != 0)
    {
        return 0;
    }

    return ngx_http_trigger_token_valid(dot + 1, p + len - dot - 1, key,
                                        key_len, "preview", p, dot - p, now);
}
