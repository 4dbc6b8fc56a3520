/*
 * The zone's visitor state: the tracking script's rules in C.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_trigger_vstate.h"
#include "unit.h"


static ngx_http_trigger_vstate_t  st, st2;

static const ngx_http_trigger_vparams_t  params = { 1800, 86400, 3, 2 };


static void
field(const char *name, const char *value)
{
    ngx_http_trigger_vstate_field(&st, (const u_char *) name, strlen(name),
                                  (const u_char *) value, strlen(value));
}


static void
event(ngx_http_trigger_event_type_e type, const char *id, int64_t num)
{
    ngx_http_trigger_event_t  ev;

    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    strcpy((char *) ev.id, id);
    ev.num = num;

    ngx_http_trigger_vstate_apply(&st, &params, 5000, 0, &ev, 1);
}


static int
viewed_is(const char *list)
{
    char      buf[256], *p;
    uint32_t  i;

    p = buf;
    *p = '\0';

    for (i = 0; i < st.nviewed; i++) {
        p += sprintf(p, "%s%.*s", i ? "," : "", (int) st.viewed[i].len,
                     st.viewed[i].sku);
    }

    return strcmp(buf, list) == 0;
}


void
test_vstate(void)
{
    u_char                    buf[1024];
    size_t                    len;
    int64_t                   out[15];
    ngx_http_trigger_event_t  ev;

    memset(&ev, 0, sizeof(ev));
    ngx_http_trigger_vstate_init(&st);
    ngx_http_trigger_vstate_apply(&st, &params, 1000, 1, NULL, 0);
    ngx_http_trigger_vstate_result(&st, &params, 1000, out);
    ok(out[0] == 1 && out[1] == 1 && out[2] == 0 && out[3] == 0,
       "vstate: a new visitor's first page: visit 1, depth 1");

    ngx_http_trigger_vstate_apply(&st, &params, 1100, 1, NULL, 0);
    ngx_http_trigger_vstate_result(&st, &params, 1100, out);
    ok(out[0] == 1 && out[1] == 2 && out[2] == 100,
       "vstate: the same visit goes deeper");

    ngx_http_trigger_vstate_apply(&st, &params, 4000, 1, NULL, 0);
    ngx_http_trigger_vstate_result(&st, &params, 4000, out);
    ok(out[0] == 2 && out[1] == 1 && out[3] == 2900,
       "vstate: after the visit timeout a new visit, with the gap");

    ngx_http_trigger_vstate_uncount(&st);
    ngx_http_trigger_vstate_uncount(&st);
    ok(st.f[NGX_HTTP_TRIGGER_VS_DEPTH] == 0, "vstate: uncount stops at 0");

    ngx_http_trigger_vstate_init(&st);
    field("n", "3");
    field("d", "4");
    field("l", "4990");
    field("s", "4000");
    field("h", "c");
    field("v1", "b");
    field("v2", "a");
    field("v4", "z");
    field("c:x", "2");
    field("em", "ignored");
    field("k", "ABCD-EFGH-JKLM");
    field("y", "4980");
    ngx_http_trigger_vstate_loaded(&st);
    ok(st.nviewed == 2 && st.nlines == 1 && st.f[0] == 3
       && st.f[NGX_HTTP_TRIGGER_VS_GROUP] == 2
       && st.f[NGX_HTTP_TRIGGER_VS_CLOSED] == 4980 && st.code_len == 14,
       "vstate: HGETALL read as the script reads it (v4 after a gap is not)");

    event(NGX_HTTP_TRIGGER_EV_VIEW, "a", 0);
    ok(viewed_is("a,b"), "vstate: a view moves the sku first");
    event(NGX_HTTP_TRIGGER_EV_VIEW, "c", 0);
    event(NGX_HTTP_TRIGGER_EV_VIEW, "d", 0);
    ok(viewed_is("d,c,a"), "vstate: viewed_max keeps the most recent");

    event(NGX_HTTP_TRIGGER_EV_CART_ADD, "x", 998);
    ok(st.cart[0].qty == 999, "vstate: a cart line stops at 999");
    event(NGX_HTTP_TRIGGER_EV_CART_ADD, "y", 1);
    event(NGX_HTTP_TRIGGER_EV_CART_ADD, "w", 1);
    ok(st.nlines == 2, "vstate: cart_max lines");
    event(NGX_HTTP_TRIGGER_EV_CART_REMOVE, "x", 0);
    ok(st.nlines == 1 && st.cart[0].len == 1 && st.cart[0].sku[0] == 'y',
       "vstate: a remove without a quantity takes the line");
    event(NGX_HTTP_TRIGGER_EV_CART_ADD, "y", 4);
    event(NGX_HTTP_TRIGGER_EV_CART_REMOVE, "y", 2);
    ok(st.cart[0].qty == 3, "vstate: a remove with a quantity lowers it");

    len = ngx_http_trigger_vstate_pack(&st, buf);
    ok(len == ngx_http_trigger_vstate_items_size(&st),
       "vstate: packed size as computed");
    ngx_http_trigger_vstate_init(&st2);
    ok(ngx_http_trigger_vstate_unpack(&st2, buf, len) == 0
       && st2.nviewed == 3 && st2.nlines == 1 && st2.cart[0].qty == 3
       && memcmp(st2.viewed[2].sku, "a", 1) == 0,
       "vstate: unpacked as packed");
    ok(ngx_http_trigger_vstate_unpack(&st2, buf, len - 1) == -1,
       "vstate: a truncated pack is refused");

    event(NGX_HTTP_TRIGGER_EV_OFFER_SHOWN, "", 0);
    ngx_http_trigger_vstate_result(&st, &params, 5000, out);
    ok(out[10] == 1, "vstate: a show counts in the cap period");
    ngx_http_trigger_vstate_result(&st, &params, 5000 + 86400, out);
    ok(out[10] == 0, "vstate: shows count in the cap period only");

    event(NGX_HTTP_TRIGGER_EV_PURCHASE, "o1", 100);
    ok(st.nlines == 0 && st.f[NGX_HTTP_TRIGGER_VS_PURCHASES] == 1,
       "vstate: a purchase empties the cart");
    event(NGX_HTTP_TRIGGER_EV_OFFER_DECLINED, "", 0);
    ok(st.f[NGX_HTTP_TRIGGER_VS_DECLINED] == 5000, "vstate: declined at");

    ok(ngx_http_trigger_vstate_mark(&st, 1) == 0
       && st.f[NGX_HTTP_TRIGGER_VS_GROUP] == 2,
       "vstate: the group is drawn once");

    field("w", "7");
    ok(st.f[NGX_HTTP_TRIGGER_VS_VERSION] == 7, "vstate: the version read");

    ev.type = NGX_HTTP_TRIGGER_EV_VIEW;
    strcpy((char *) ev.id, "e");
    ok(ngx_http_trigger_vstate_apply(&st, &params, 5000, 1, &ev, 1)
       == NGX_HTTP_TRIGGER_VS_VIEWED,
       "vstate: a view changes the viewed list only");
    ok(ngx_http_trigger_vstate_apply(&st, &params, 5000, 1, NULL, 0) == 0,
       "vstate: a page view changes fields only");
    ev.type = NGX_HTTP_TRIGGER_EV_CART_ADD;
    ev.num = 1;
    ok(ngx_http_trigger_vstate_apply(&st, &params, 5000, 0, &ev, 1)
       == NGX_HTTP_TRIGGER_VS_OTHER,
       "vstate: the cart is for the script to write");

    /* the script's rule: once in min(1 hour, ttl / 10) */
    st.f[NGX_HTTP_TRIGGER_VS_TOUCHED] = 0;
    ok(ngx_http_trigger_vstate_touch(&st, 5000, 86400) == 1
       && st.f[NGX_HTTP_TRIGGER_VS_TOUCHED] == 5000,
       "vstate: the TTL refreshed when due");
    ok(ngx_http_trigger_vstate_touch(&st, 5000 + 3599, 86400) == 0
       && ngx_http_trigger_vstate_touch(&st, 5000 + 3600, 86400) == 1,
       "vstate: at most once an hour");
    ok(ngx_http_trigger_vstate_touch(&st, 8600 + 99, 1000) == 0
       && ngx_http_trigger_vstate_touch(&st, 8600 + 100, 1000) == 1,
       "vstate: at most once in ttl / 10");
}
