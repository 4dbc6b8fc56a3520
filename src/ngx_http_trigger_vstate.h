/*
 * A visitor's state as the shared memory zone keeps it: the fields of its
 * hash in Redis that the variables and the offer decision need, read from
 * HGETALL, changed by a request's events exactly as the tracking script
 * changes them (apply() in ngx_http_trigger_track.c), packed for the zone.
 * Plain C, no nginx.
 */

#ifndef _NGX_HTTP_TRIGGER_VSTATE_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_VSTATE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_http_trigger_event.h"


/* the bounds of trigger_viewed_max and trigger_cart_max */
#define NGX_HTTP_TRIGGER_VIEWED_LIMIT   100
#define NGX_HTTP_TRIGGER_CART_LIMIT     200


/* the hash's fields kept, each with its name in Redis */
typedef enum {
    NGX_HTTP_TRIGGER_VS_VISITS = 0,     /* n */
    NGX_HTTP_TRIGGER_VS_DEPTH,          /* d */
    NGX_HTTP_TRIGGER_VS_START,          /* s */
    NGX_HTTP_TRIGGER_VS_LAST,           /* l, 0: a visitor not seen yet */
    NGX_HTTP_TRIGGER_VS_GAP,            /* g */
    NGX_HTTP_TRIGGER_VS_PURCHASES,      /* p */
    NGX_HTTP_TRIGGER_VS_DECLINED,       /* x */
    NGX_HTTP_TRIGGER_VS_ACTIVE,         /* a */
    NGX_HTTP_TRIGGER_VS_SHOWS,          /* f */
    NGX_HTTP_TRIGGER_VS_SHOWS_SINCE,    /* fs */
    NGX_HTTP_TRIGGER_VS_GROUP,          /* h: 1 "t", 2 "c" */
    NGX_HTTP_TRIGGER_VS_CLOSED,         /* y */
    NGX_HTTP_TRIGGER_VS_TOUCHED,        /* t: the TTL last refreshed */
    NGX_HTTP_TRIGGER_VS_VERSION,        /* w: writes to the hash */
    NGX_HTTP_TRIGGER_VS_COUNT
} ngx_http_trigger_vs_field_e;


typedef struct {
    uint32_t  len;
    int32_t   qty;
    u_char    sku[NGX_HTTP_TRIGGER_ID_MAX];
} ngx_http_trigger_vitem_t;


typedef struct {
    int64_t                    f[NGX_HTTP_TRIGGER_VS_COUNT];
    /* k: the visitor's promo code, as codes are made (else none) */
    u_char                     code[NGX_HTTP_TRIGGER_CODE_LEN];
    uint32_t                   code_len;
    uint32_t                   nviewed;
    uint32_t                   nlines;
    /* most recent first; cart lines in the order they were added */
    ngx_http_trigger_vitem_t   viewed[NGX_HTTP_TRIGGER_VIEWED_LIMIT];
    ngx_http_trigger_vitem_t   cart[NGX_HTTP_TRIGGER_CART_LIMIT];
} ngx_http_trigger_vstate_t;


typedef struct {
    int64_t   visit_timeout;
    int64_t   cap_period;
    uint32_t  viewed_max;
    uint32_t  cart_max;
} ngx_http_trigger_vparams_t;


void ngx_http_trigger_vstate_init(ngx_http_trigger_vstate_t *st);
/* one field and value of HGETALL; then _loaded() once */
void ngx_http_trigger_vstate_field(ngx_http_trigger_vstate_t *st,
    const u_char *name, size_t name_len, const u_char *value,
    size_t value_len);
void ngx_http_trigger_vstate_loaded(ngx_http_trigger_vstate_t *st);

/* what apply() changed besides the fields */
#define NGX_HTTP_TRIGGER_VS_VIEWED      1
/* the cart, or the viewed list shortened: only the script can say how */
#define NGX_HTTP_TRIGGER_VS_OTHER       2

/*
 * A request's page view (0/1) and events, as the tracking script applies
 * them; a purchase is taken as a new order (its id is checked in Redis).
 * Returns NGX_HTTP_TRIGGER_VS_VIEWED and _OTHER as they apply.
 */
int ngx_http_trigger_vstate_apply(ngx_http_trigger_vstate_t *st,
    const ngx_http_trigger_vparams_t *p, int64_t now, int pageview,
    const ngx_http_trigger_event_t *events, size_t n);
/*
 * The tracking script's TTL rule for a visitor who is not new: 1 when
 * the refresh is due (once in min(1 hour, ttl / 10)), "t" set to now.
 */
int ngx_http_trigger_vstate_touch(ngx_http_trigger_vstate_t *st,
    int64_t now, int64_t ttl);
/* a field's name in the hash */
const char *ngx_http_trigger_vstate_name(size_t field);
/* a page view taken back */
void ngx_http_trigger_vstate_uncount(ngx_http_trigger_vstate_t *st);
/* the offer group (1 or 2) and when it was drawn, kept only the first */
int ngx_http_trigger_vstate_mark(ngx_http_trigger_vstate_t *st, int group);

/*
 * What the tracking script returns, in its order (the module's
 * ngx_http_trigger_state_e), codes used 0: the same 15 numbers.
 */
void ngx_http_trigger_vstate_result(const ngx_http_trigger_vstate_t *st,
    const ngx_http_trigger_vparams_t *p, int64_t now, int64_t *out);

/* the viewed list and the cart, packed: the size, and the bytes */
size_t ngx_http_trigger_vstate_items_size(const ngx_http_trigger_vstate_t *st);
size_t ngx_http_trigger_vstate_pack(const ngx_http_trigger_vstate_t *st,
    u_char *buf);
/* the items of buf into st (its fields set apart); -1: malformed */
int ngx_http_trigger_vstate_unpack(ngx_http_trigger_vstate_t *st,
    const u_char *buf, size_t len);


#endif /* _NGX_HTTP_TRIGGER_VSTATE_H_INCLUDED_ */
