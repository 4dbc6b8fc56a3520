/*
 * Shop events (product views, cart changes, purchases): parsing and
 * validation shared by the three integration paths.  Plain C, no nginx.
 */

#ifndef _NGX_HTTP_TRIGGER_EVENT_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_EVENT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


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
    NGX_HTTP_TRIGGER_EV_COUNT
} ngx_http_trigger_event_type_e;


typedef struct {
    ngx_http_trigger_event_type_e  type;
    /* the SKU, or the order id of a purchase */
    u_char                         id[NGX_HTTP_TRIGGER_ID_MAX + 1];
    /* cart quantity (0 on remove: the whole line), or amount in cents */
    int64_t                        num;
    u_char                         promo[NGX_HTTP_TRIGGER_PROMO_MAX + 1];
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

/* renders ev->num as the script expects it; returns the length */
size_t ngx_http_trigger_event_num(const ngx_http_trigger_event_t *ev,
    u_char *buf, size_t size);


#endif /* _NGX_HTTP_TRIGGER_EVENT_H_INCLUDED_ */
