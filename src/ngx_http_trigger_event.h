/*
 * Shop events (product views, cart changes, purchases): parsing and
 * validation shared by the three integration paths.  Plain C, no nginx.
 */

#ifndef _NGX_HTTP_TRIGGER_EVENT_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_EVENT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ngx_http_trigger_sign.h"


#define NGX_HTTP_TRIGGER_ID_MAX        64
#define NGX_HTTP_TRIGGER_PROMO_MAX     32
#define NGX_HTTP_TRIGGER_QTY_MAX       999
#define NGX_HTTP_TRIGGER_AMOUNT_MAX    100000000000LL
#define NGX_HTTP_TRIGGER_EVENTS_MAX    20


typedef enum {
    NGX_HTTP_TRIGGER_EV_VIEW = 0,
    NGX_HTTP_TRIGGER_EV_CART_ADD,
    NGX_HTTP_TRIGGER_EV_CART_REMOVE,
    NGX_HTTP_TRIGGER_EV_CART_CLEAR,
    NGX_HTTP_TRIGGER_EV_PURCHASE,
    /* like, share, invite: a trigger for chains, nothing stored else */
    NGX_HTTP_TRIGGER_EV_SOCIAL,
    NGX_HTTP_TRIGGER_EV_OFFER_SHOWN,
    NGX_HTTP_TRIGGER_EV_OFFER_CLOSED,
    /* only from the decline endpoint, which checks the offer token */
    NGX_HTTP_TRIGGER_EV_OFFER_DECLINED,
    NGX_HTTP_TRIGGER_EV_COUNT
} ngx_http_trigger_event_type_e;


typedef struct {
    ngx_http_trigger_event_type_e  type;
    /* the SKU, the order id of a purchase, or a social action */
    u_char                         id[NGX_HTTP_TRIGGER_ID_MAX + 1];
    /* cart quantity (0 on remove: the whole line), or amount in cents */
    int64_t                        num;
    u_char                         promo[NGX_HTTP_TRIGGER_PROMO_MAX + 1];
    /* a purchase's signature from the events endpoint, if it had one */
    u_char                         sig[NGX_HTTP_TRIGGER_PURCHASE_SIG_LEN];
    size_t                         sig_len;
} ngx_http_trigger_event_t;


/* the code each type has in the tracking script's arguments */
extern const char  ngx_http_trigger_event_codes[NGX_HTTP_TRIGGER_EV_COUNT];


/*
 * Each setter returns NULL on success or a static message saying what
 * is wrong; an empty qty or promo means "not given".
 */
const char *ngx_http_trigger_event_set(ngx_http_trigger_event_t *ev,
    ngx_http_trigger_event_type_e type, const u_char *id, size_t id_len,
    const u_char *num, size_t num_len, const u_char *promo,
    size_t promo_len);
const char *ngx_http_trigger_event_parse_header(ngx_http_trigger_event_t *ev,
    ngx_http_trigger_event_type_e type, const u_char *value, size_t len);
const char *ngx_http_trigger_events_parse_json(const u_char *body,
    size_t len, ngx_http_trigger_event_t *evs, size_t max, size_t *n);

typedef struct {
    u_char                         email[255];
    size_t                         email_len;
    u_char                         token[64];
    size_t                         token_len;
    u_char                         tz[65];
    size_t                         tz_len;
    unsigned                       consent:1;
} ngx_http_trigger_answer_t;


/*
 * The widget's answer to an offer: {"token": ..., "email": ...,
 * "consent": true, "tz": ...}; only the token when need_email is 0.
 * The email comes back in lower case.
 */
const char *ngx_http_trigger_answer_parse_json(const u_char *body,
    size_t len, int need_email, ngx_http_trigger_answer_t *answer);

/* addresses as the widget's form accepts them: ASCII, one '@', a dot */
int ngx_http_trigger_valid_email(const u_char *p, size_t len);
/* IANA time zone names such as "America/Argentina/Buenos_Aires" */
int ngx_http_trigger_valid_tz(const u_char *p, size_t len);


#endif /* _NGX_HTTP_TRIGGER_EVENT_H_INCLUDED_ */
