/*
 * Shared by the fuzz targets: a check that aborts (so libFuzzer keeps
 * the input as a crash), visitor ids made from any bytes, and the event
 * rules restated independently of the parser, to check what it accepts.
 */

#ifndef _FUZZ_H_INCLUDED_
#define _FUZZ_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <jansson.h>

#include "ngx_http_trigger_event.h"
#include "ngx_http_trigger_sign.h"


#define FUZZ_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: invariant failed: %s\n",                \
                    __FILE__, __LINE__, #cond);                             \
            abort();                                                        \
        }                                                                   \
    } while (0)


static const char   fuzz_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char  *fuzz_event_names[] = {
    "view", "cart_add", "cart_remove", "cart_clear", "purchase",
    "offer_shown", "offer_closed"
};


static inline int
fuzz_word_char(u_char c, const char *extra)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || (c != '\0' && strchr(extra, c));
}


/* a visitor id from any bytes: base64url characters are kept as they are */

static inline void
fuzz_vid(u_char vid[NGX_HTTP_TRIGGER_VID_LEN], const u_char *p)
{
    size_t  i;

    for (i = 0; i < NGX_HTTP_TRIGGER_VID_LEN; i++) {
        vid[i] = (p[i] != '\0' && strchr(fuzz_b64url, p[i]))
                 ? p[i] : (u_char) fuzz_b64url[p[i] & 0x3f];
    }
}


/* a field of max + 1 bytes: letters, digits and extra, then only NULs */

static inline size_t
fuzz_field(const u_char *s, size_t max, const char *extra)
{
    size_t  i, len;

    len = strnlen((const char *) s, max + 1);
    FUZZ_CHECK(len <= max);

    for (i = 0; i < len; i++) {
        FUZZ_CHECK(fuzz_word_char(s[i], extra));
    }

    for (i = len; i <= max; i++) {
        FUZZ_CHECK(s[i] == '\0');
    }

    return len;
}


/* what an accepted event may hold (README: "Events") */

static inline void
fuzz_check_event(const ngx_http_trigger_event_t *ev)
{
    size_t  id_len, promo_len;

    FUZZ_CHECK(ev->type < NGX_HTTP_TRIGGER_EV_OFFER_DECLINED);

    id_len = fuzz_field(ev->id, NGX_HTTP_TRIGGER_ID_MAX, "-_.:/@+#");
    promo_len = fuzz_field(ev->promo, NGX_HTTP_TRIGGER_PROMO_MAX, "-_");

    switch (ev->type) {

    case NGX_HTTP_TRIGGER_EV_VIEW:
        FUZZ_CHECK(id_len > 0 && ev->num == 0);
        break;

    case NGX_HTTP_TRIGGER_EV_CART_ADD:
        FUZZ_CHECK(id_len > 0 && ev->num >= 1
                   && ev->num <= NGX_HTTP_TRIGGER_QTY_MAX);
        break;

    case NGX_HTTP_TRIGGER_EV_CART_REMOVE:
        FUZZ_CHECK(id_len > 0 && ev->num >= 0
                   && ev->num <= NGX_HTTP_TRIGGER_QTY_MAX);
        break;

    case NGX_HTTP_TRIGGER_EV_PURCHASE:
        FUZZ_CHECK(id_len > 0 && ev->num >= 0
                   && ev->num < NGX_HTTP_TRIGGER_AMOUNT_MAX);
        break;

    default:
        FUZZ_CHECK(id_len == 0 && ev->num == 0);
        break;
    }

    FUZZ_CHECK(promo_len == 0 || ev->type == NGX_HTTP_TRIGGER_EV_PURCHASE);
}


/*
 * The event written as JSON, its numbers as strings (numbers == 0) or
 * as JSON numbers; the caller frees the text.
 */

static inline char *
fuzz_event_json(const ngx_http_trigger_event_t *ev, int numbers)
{
    int      purchase;
    char     amount[32], *text;
    json_t  *obj, *num;

    purchase = ev->type == NGX_HTTP_TRIGGER_EV_PURCHASE;

    obj = json_object();
    json_object_set_new(obj, "type",
                        json_string(fuzz_event_names[ev->type]));

    if (ev->id[0]) {
        json_object_set_new(obj, purchase ? "order" : "sku",
                            json_string((const char *) ev->id));
    }

    num = NULL;

    if (purchase) {
        snprintf(amount, sizeof(amount), "%lld.%02lld",
                 (long long) ev->num / 100, (long long) ev->num % 100);
        num = numbers ? json_real(ev->num / 100.0) : json_string(amount);

    } else if (ev->num) {
        snprintf(amount, sizeof(amount), "%lld", (long long) ev->num);
        num = numbers ? json_integer(ev->num) : json_string(amount);
    }

    if (num) {
        json_object_set_new(obj, purchase ? "amount" : "qty", num);
    }

    if (ev->promo[0]) {
        json_object_set_new(obj, "promo",
                            json_string((const char *) ev->promo));
    }

    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);

    FUZZ_CHECK(text != NULL);

    return text;
}


/* the event written back as a header value and as JSON parses the same */

static inline void
fuzz_event_roundtrip(const ngx_http_trigger_event_t *ev)
{
    int                        numbers;
    char                       value[128], *text;
    size_t                     n;
    const char                *err;
    ngx_http_trigger_event_t   back;

    for (numbers = 0; numbers < 2; numbers++) {
        text = fuzz_event_json(ev, numbers);
        err = ngx_http_trigger_events_parse_json((const u_char *) text,
                                                 strlen(text), &back, 1, &n);
        if (err != NULL || n != 1 || memcmp(&back, ev, sizeof(back)) != 0) {
            fprintf(stderr, "JSON \"%s\": %s\n", text, err ? err : "differs");
            abort();
        }

        free(text);
    }

    if (ev->type > NGX_HTTP_TRIGGER_EV_PURCHASE) {
        return;
    }

    if (ev->type == NGX_HTTP_TRIGGER_EV_PURCHASE) {
        snprintf(value, sizeof(value), "%s %lld.%02lld %s", ev->id,
                 (long long) ev->num / 100, (long long) ev->num % 100,
                 ev->promo);

    } else if (ev->num) {
        snprintf(value, sizeof(value), "%s %lld", ev->id,
                 (long long) ev->num);

    } else {
        snprintf(value, sizeof(value), "%s", ev->id);
    }

    err = ngx_http_trigger_event_parse_header(&back, ev->type,
                                              (const u_char *) value,
                                              strlen(value));
    if (err != NULL || memcmp(&back, ev, sizeof(back)) != 0) {
        fprintf(stderr, "header \"%s\": %s\n", value, err ? err : "differs");
        abort();
    }
}


#endif /* _FUZZ_H_INCLUDED_ */
