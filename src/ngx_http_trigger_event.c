/*
 * Shop events: parsing and validation.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "ngx_http_trigger_event.h"


const char  ngx_http_trigger_event_codes[NGX_HTTP_TRIGGER_EV_COUNT] = {
    'v', 'a', 'r', 'c', 'p', 'o', 's', 'x', 'd'
};


/* the names the JSON endpoint accepts */
static const char  *ngx_http_trigger_event_names[NGX_HTTP_TRIGGER_EV_COUNT] = {
    "view", "cart_add", "cart_remove", "cart_clear", "purchase", "social",
    "offer_shown", "offer_closed", NULL
};


/* 1..max characters: ASCII letters, digits and those in extra */

static int
ngx_http_trigger_valid_word(const u_char *p, size_t len, size_t max,
    const char *extra)
{
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
            || (p[i] >= '0' && p[i] <= '9')
            || (p[i] != '\0' && strchr(extra, p[i]) != NULL))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


static int
ngx_http_trigger_parse_qty(const u_char *p, size_t len, int64_t *qty)
{
    size_t   i;
    int64_t  n;

    if (len == 0 || len > 3) {
        return 0;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }

        n = n * 10 + (p[i] - '0');
    }

    if (n < 1 || n > NGX_HTTP_TRIGGER_QTY_MAX) {
        return 0;
    }

    *qty = n;

    return 1;
}


/* a decimal with at most two fraction digits, kept in cents */

static int
ngx_http_trigger_parse_amount(const u_char *p, size_t len, int64_t *cents)
{
    size_t   i, digits, fraction;
    int64_t  n;
    int      dot;

    n = 0;
    dot = 0;
    digits = 0;
    fraction = 0;

    for (i = 0; i < len; i++) {
        if (p[i] == '.' && !dot && digits > 0) {
            dot = 1;
            continue;
        }

        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }

        if (dot && ++fraction > 2) {
            return 0;
        }

        if (++digits > 12) {
            return 0;
        }

        n = n * 10 + (p[i] - '0');
    }

    if (digits == 0 || (dot && fraction == 0)) {
        return 0;
    }

    while (fraction++ < 2) {
        n *= 10;
    }

    if (n >= NGX_HTTP_TRIGGER_AMOUNT_MAX) {
        return 0;
    }

    *cents = n;

    return 1;
}


const char *
ngx_http_trigger_event_set(ngx_http_trigger_event_t *ev,
    ngx_http_trigger_event_type_e type, const u_char *id, size_t id_len,
    const u_char *num, size_t num_len, const u_char *promo, size_t promo_len)
{
    memset(ev, 0, sizeof(ngx_http_trigger_event_t));
    ev->type = type;

    if (type == NGX_HTTP_TRIGGER_EV_CART_CLEAR
        || type >= NGX_HTTP_TRIGGER_EV_OFFER_SHOWN)
    {
        return NULL;
    }

    if (type == NGX_HTTP_TRIGGER_EV_SOCIAL) {
        if (!((id_len == 4 && memcmp(id, "like", 4) == 0)
              || (id_len == 5 && memcmp(id, "share", 5) == 0)
              || (id_len == 6 && memcmp(id, "invite", 6) == 0)))
        {
            return "invalid action";
        }

        memcpy(ev->id, id, id_len);

        return NULL;
    }

    if (!ngx_http_trigger_valid_word(id, id_len, NGX_HTTP_TRIGGER_ID_MAX,
                                     "-_.:/@+#")) {
        return type == NGX_HTTP_TRIGGER_EV_PURCHASE
               ? "invalid order id" : "invalid sku";
    }

    memcpy(ev->id, id, id_len);

    switch (type) {

    case NGX_HTTP_TRIGGER_EV_CART_ADD:
        if (num_len == 0) {
            ev->num = 1;

        } else if (!ngx_http_trigger_parse_qty(num, num_len, &ev->num)) {
            return "invalid qty";
        }

        break;

    case NGX_HTTP_TRIGGER_EV_CART_REMOVE:
        if (num_len && !ngx_http_trigger_parse_qty(num, num_len, &ev->num)) {
            return "invalid qty";
        }

        break;

    case NGX_HTTP_TRIGGER_EV_PURCHASE:
        if (!ngx_http_trigger_parse_amount(num, num_len, &ev->num)) {
            return "invalid amount";
        }

        if (promo_len) {
            if (!ngx_http_trigger_valid_word(promo, promo_len,
                                             NGX_HTTP_TRIGGER_PROMO_MAX,
                                             "-_"))
            {
                return "invalid promo";
            }

            memcpy(ev->promo, promo, promo_len);
        }

        break;

    default:
        break;
    }

    return NULL;
}


/* "ID [NUM [PROMO]]", separated by spaces */

const char *
ngx_http_trigger_event_parse_header(ngx_http_trigger_event_t *ev,
    ngx_http_trigger_event_type_e type, const u_char *value, size_t len)
{
    size_t        i, n, part_len[3];
    size_t         max;
    const u_char  *part[3], *end;

    end = value + len;

    /* SKU; SKU [QTY]; ORDER_ID AMOUNT [PROMO]; cart clear takes any */
    max = (type == NGX_HTTP_TRIGGER_EV_PURCHASE) ? 3
          : (type == NGX_HTTP_TRIGGER_EV_VIEW) ? 1
          : (type == NGX_HTTP_TRIGGER_EV_CART_CLEAR) ? 0 : 2;

    if (max == 0) {
        return ngx_http_trigger_event_set(ev, type, NULL, 0, NULL, 0,
                                          NULL, 0);
    }

    for (n = 0; n < 3; n++) {
        part[n] = NULL;
        part_len[n] = 0;
    }

    for (n = 0; value < end; n++) {

        while (value < end && (*value == ' ' || *value == '\t')) {
            value++;
        }

        if (value == end) {
            break;
        }

        if (n == max) {
            return "too many values";
        }

        part[n] = value;

        while (value < end && *value != ' ' && *value != '\t') {
            value++;
        }

        part_len[n] = value - part[n];
    }

    for (i = 0; i < 3; i++) {
        if (part[i] == NULL) {
            part[i] = (const u_char *) "";
        }
    }

    return ngx_http_trigger_event_set(ev, type, part[0], part_len[0],
                                      part[1], part_len[1],
                                      part[2], part_len[2]);
}


static const char *
ngx_http_trigger_event_from_json(json_t *obj, ngx_http_trigger_event_t *ev)
{
    int                            type;
    char                           num[32];
    size_t                         num_len;
    json_t                        *v, *id, *promo, *sig;
    const char                    *name, *key, *err;
    ngx_http_trigger_event_type_e  t;

    if (!json_is_object(obj)) {
        return "an event must be an object";
    }

    v = json_object_get(obj, "type");
    name = json_string_value(v);

    if (name == NULL) {
        return "event type missing";
    }

    type = -1;

    for (t = 0; t < NGX_HTTP_TRIGGER_EV_COUNT; t++) {
        if (ngx_http_trigger_event_names[t]
            && strcmp(name, ngx_http_trigger_event_names[t]) == 0)
        {
            type = t;
            break;
        }
    }

    if (type == -1) {
        return "unknown event type";
    }

    key = type == NGX_HTTP_TRIGGER_EV_PURCHASE ? "order"
          : type == NGX_HTTP_TRIGGER_EV_SOCIAL ? "action" : "sku";
    id = json_object_get(obj, key);

    if (id != NULL && !json_is_string(id)) {
        return type == NGX_HTTP_TRIGGER_EV_PURCHASE ? "invalid order id"
               : type == NGX_HTTP_TRIGGER_EV_SOCIAL ? "invalid action"
               : "invalid sku";
    }

    key = type == NGX_HTTP_TRIGGER_EV_PURCHASE ? "amount" : "qty";
    v = json_object_get(obj, key);
    num_len = 0;

    if (json_is_string(v)) {
        num_len = json_string_length(v);

        if (num_len >= sizeof(num)) {
            return type == NGX_HTTP_TRIGGER_EV_PURCHASE
                   ? "invalid amount" : "invalid qty";
        }

        memcpy(num, json_string_value(v), num_len);

    } else if (json_is_integer(v)) {
        num_len = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                           json_integer_value(v));
        num_len = (num_len < sizeof(num)) ? num_len : sizeof(num) - 1;

    } else if (json_is_real(v) && type == NGX_HTTP_TRIGGER_EV_PURCHASE) {
        /* 59.9 as a JSON number; 59.999 is refused, not rounded */
        num_len = snprintf(num, sizeof(num), "%.2f", json_real_value(v));

        if (num_len >= sizeof(num) || strtod(num, NULL) != json_real_value(v))
        {
            return "invalid amount";
        }

    } else if (v != NULL && !json_is_null(v)) {
        return type == NGX_HTTP_TRIGGER_EV_PURCHASE
               ? "invalid amount" : "invalid qty";
    }

    promo = json_object_get(obj, "promo");

    if (promo != NULL && !json_is_null(promo) && !json_is_string(promo)) {
        return "invalid promo";
    }

    sig = json_object_get(obj, "sig");

    if (sig != NULL
        && (!json_is_string(sig) || json_string_length(sig) != sizeof(ev->sig)
            || type != NGX_HTTP_TRIGGER_EV_PURCHASE))
    {
        return "invalid sig";
    }

    err = ngx_http_trigger_event_set(ev, type,
                   (const u_char *) (id ? json_string_value(id) : ""),
                   id ? json_string_length(id) : 0,
                   (const u_char *) num, num_len,
                   (const u_char *) (json_is_string(promo)
                                     ? json_string_value(promo) : ""),
                   json_is_string(promo) ? json_string_length(promo) : 0);

    if (err == NULL && sig != NULL) {
        memcpy(ev->sig, json_string_value(sig), sizeof(ev->sig));
        ev->sig_len = sizeof(ev->sig);
    }

    return err;
}


/* one event object, or {"events": [...]} */

const char *
ngx_http_trigger_events_parse_json(const u_char *body, size_t len,
    ngx_http_trigger_event_t *evs, size_t max, size_t *n)
{
    size_t        i;
    json_t       *root, *list;
    const char   *err;
    json_error_t  error;

    *n = 0;

    root = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES,
                      &error);
    if (root == NULL) {
        return "malformed JSON";
    }

    err = NULL;
    list = json_object_get(root, "events");

    if (list == NULL) {
        if (json_object_get(root, "type") == NULL) {
            err = json_is_object(root) ? "no events" : "expected an object";
            goto done;
        }

        err = ngx_http_trigger_event_from_json(root, &evs[0]);
        *n = err ? 0 : 1;
        goto done;
    }

    if (!json_is_array(list)) {
        err = "events must be an array";
        goto done;
    }

    if (json_array_size(list) == 0) {
        err = "no events";
        goto done;
    }

    if (json_array_size(list) > max) {
        err = "too many events";
        goto done;
    }

    for (i = 0; i < json_array_size(list); i++) {
        err = ngx_http_trigger_event_from_json(json_array_get(list, i),
                                               &evs[i]);
        if (err) {
            goto done;
        }
    }

    *n = i;

done:

    json_decref(root);

    return err;
}


const char *
ngx_http_trigger_answer_parse_json(const u_char *body, size_t len,
    int need_email, ngx_http_trigger_answer_t *answer)
{
    size_t        i, n;
    json_t       *root, *v;
    const char   *err, *s;
    json_error_t  error;

    memset(answer, 0, sizeof(ngx_http_trigger_answer_t));

    root = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES,
                      &error);
    if (root == NULL) {
        return "malformed JSON";
    }

    err = NULL;

    if (!json_is_object(root)) {
        err = "expected an object";
        goto done;
    }

    v = json_object_get(root, "token");
    n = json_string_length(v);

    if (!json_is_string(v) || n == 0 || n >= sizeof(answer->token)) {
        err = "invalid token";
        goto done;
    }

    memcpy(answer->token, json_string_value(v), n);
    answer->token_len = n;

    if (!need_email) {
        goto done;
    }

    v = json_object_get(root, "email");
    s = json_string_value(v);
    n = json_string_length(v);

    if (s == NULL || !ngx_http_trigger_valid_email((const u_char *) s, n)) {
        err = "invalid email";
        goto done;
    }

    for (i = 0; i < n; i++) {
        answer->email[i] = (s[i] >= 'A' && s[i] <= 'Z') ? s[i] | 0x20 : s[i];
    }

    answer->email_len = n;

    v = json_object_get(root, "consent");

    if (v != NULL && !json_is_boolean(v)) {
        err = "invalid consent";
        goto done;
    }

    answer->consent = json_is_true(v);

    v = json_object_get(root, "tz");

    if (json_is_string(v)
        && ngx_http_trigger_valid_tz((const u_char *) json_string_value(v),
                                     json_string_length(v)))
    {
        memcpy(answer->tz, json_string_value(v), json_string_length(v));
        answer->tz_len = json_string_length(v);

    } else if (v != NULL && !json_is_null(v)) {
        err = "invalid tz";
    }

done:

    json_decref(root);

    return err;
}


int
ngx_http_trigger_valid_email(const u_char *p, size_t len)
{
    size_t  i, at, dot;

    if (len < 6 || len > 254) {
        return 0;
    }

    at = 0;
    dot = 0;

    for (i = 0; i < len; i++) {
        if (p[i] == '@') {
            if (at || i == 0 || i > 64) {
                return 0;
            }

            at = i;
            continue;
        }

        if (p[i] == '.' && at) {
            if (i == at + 1 || i == len - 1 || p[i - 1] == '.') {
                return 0;
            }

            dot = i;
            continue;
        }

        if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
            || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'
            || (!at && p[i] != '\0' && strchr("._+!#$%&'*/=?^`{|}~", p[i])))
        {
            continue;
        }

        return 0;
    }

    /* a domain with a dot and a top-level label of two letters or more */
    return at && dot && len - dot > 2;
}


int
ngx_http_trigger_valid_tz(const u_char *p, size_t len)
{
    return ngx_http_trigger_valid_word(p, len, 64, "/_+-");
}
