/*
 * A visitor's state in the zone: the tracking script's rules in C, so
 * that a page view is counted and decided without asking Redis.  Each
 * rule here mirrors apply() in the tracking script's Lua.
 */


#include <string.h>

#include "ngx_http_trigger_vstate.h"


static const char  *ngx_http_trigger_vs_names[NGX_HTTP_TRIGGER_VS_COUNT] = {
    "n", "d", "s", "l", "g", "p", "x", "a", "f", "fs", "h", "y", "t", "w"
};


static int64_t ngx_http_trigger_vs_int(const u_char *p, size_t len);
static ngx_http_trigger_vitem_t *ngx_http_trigger_vs_line(
    ngx_http_trigger_vstate_t *st, const u_char *sku, size_t len);
static void ngx_http_trigger_vs_view(ngx_http_trigger_vstate_t *st,
    const ngx_http_trigger_vparams_t *p, const u_char *sku, size_t len);


void
ngx_http_trigger_vstate_init(ngx_http_trigger_vstate_t *st)
{
    size_t  i;

    memset(st->f, 0, sizeof(st->f));
    st->code_len = 0;
    st->nviewed = 0;
    st->nlines = 0;

    for (i = 0; i < NGX_HTTP_TRIGGER_VIEWED_LIMIT; i++) {
        st->viewed[i].len = 0;
    }
}


void
ngx_http_trigger_vstate_field(ngx_http_trigger_vstate_t *st,
    const u_char *name, size_t name_len, const u_char *value,
    size_t value_len)
{
    size_t                     i;
    int64_t                    n;
    ngx_http_trigger_vitem_t  *it;

    if (name_len > 2 && name[0] == 'c' && name[1] == ':') {
        if (st->nlines == NGX_HTTP_TRIGGER_CART_LIMIT
            || name_len - 2 > NGX_HTTP_TRIGGER_ID_MAX)
        {
            return;
        }

        it = &st->cart[st->nlines++];
        it->len = name_len - 2;
        memcpy(it->sku, name + 2, name_len - 2);
        it->qty = ngx_http_trigger_vs_int(value, value_len);
        return;
    }

    if (name_len > 1 && name[0] == 'v' && name[1] >= '1' && name[1] <= '9') {
        n = ngx_http_trigger_vs_int(name + 1, name_len - 1);

        if (n >= 1 && n <= NGX_HTTP_TRIGGER_VIEWED_LIMIT
            && value_len > 0 && value_len <= NGX_HTTP_TRIGGER_ID_MAX)
        {
            it = &st->viewed[n - 1];
            it->len = value_len;
            memcpy(it->sku, value, value_len);
        }

        return;
    }

    if (name_len == 1 && name[0] == 'k') {
        if (value_len != NGX_HTTP_TRIGGER_CODE_LEN) {
            return;
        }

        for (i = 0; i < value_len; i++) {
            if (!((value[i] >= 'A' && value[i] <= 'Z')
                  || (value[i] >= '0' && value[i] <= '9') || value[i] == '-'))
            {
                return;
            }
        }

        memcpy(st->code, value, value_len);
        st->code_len = value_len;
        return;
    }

    if (name_len == 1 && name[0] == 'h') {
        st->f[NGX_HTTP_TRIGGER_VS_GROUP] =
            (value_len == 1 && value[0] == 't') ? 1
            : (value_len == 1 && value[0] == 'c') ? 2 : 0;
        return;
    }

    for (i = 0; i < NGX_HTTP_TRIGGER_VS_COUNT; i++) {
        if (strlen(ngx_http_trigger_vs_names[i]) == name_len
            && memcmp(ngx_http_trigger_vs_names[i], name, name_len) == 0)
        {
            st->f[i] = ngx_http_trigger_vs_int(value, value_len);
            return;
        }
    }
}


/* v1, v2, ... as far as they go without a gap, as the script reads them */

void
ngx_http_trigger_vstate_loaded(ngx_http_trigger_vstate_t *st)
{
    size_t  i;

    for (i = 0; i < NGX_HTTP_TRIGGER_VIEWED_LIMIT; i++) {
        if (st->viewed[i].len == 0) {
            break;
        }
    }

    st->nviewed = i;
}


int
ngx_http_trigger_vstate_apply(ngx_http_trigger_vstate_t *st,
    const ngx_http_trigger_vparams_t *p, int64_t now, int pageview,
    const ngx_http_trigger_event_t *events, size_t n)
{
    int                              changed;
    size_t                           i, len, nviewed;
    int64_t                          *f, shows, since, q;
    ngx_http_trigger_vitem_t         *it;
    const ngx_http_trigger_event_t   *ev;

    f = st->f;
    changed = 0;

    if (f[NGX_HTTP_TRIGGER_VS_LAST] == 0) {
        f[NGX_HTTP_TRIGGER_VS_VISITS] = 1;
        f[NGX_HTTP_TRIGGER_VS_DEPTH] = 0;
        f[NGX_HTTP_TRIGGER_VS_START] = now;
        f[NGX_HTTP_TRIGGER_VS_GAP] = 0;

    } else if (now - f[NGX_HTTP_TRIGGER_VS_LAST] > p->visit_timeout) {
        f[NGX_HTTP_TRIGGER_VS_VISITS]++;
        f[NGX_HTTP_TRIGGER_VS_DEPTH] = 0;
        f[NGX_HTTP_TRIGGER_VS_START] = now;
        f[NGX_HTTP_TRIGGER_VS_GAP] = now - f[NGX_HTTP_TRIGGER_VS_LAST];
    }

    f[NGX_HTTP_TRIGGER_VS_DEPTH] += pageview;
    f[NGX_HTTP_TRIGGER_VS_LAST] = now;

    shows = f[NGX_HTTP_TRIGGER_VS_SHOWS];
    since = f[NGX_HTTP_TRIGGER_VS_SHOWS_SINCE];

    if (now - since >= p->cap_period) {
        shows = 0;
        since = now;
    }

    for (i = 0; i < n; i++) {
        ev = &events[i];
        len = strlen((const char *) ev->id);

        switch (ev->type) {

        case NGX_HTTP_TRIGGER_EV_VIEW:
            nviewed = st->nviewed;
            ngx_http_trigger_vs_view(st, p, ev->id, len);
            changed |= st->nviewed < nviewed ? NGX_HTTP_TRIGGER_VS_OTHER
                                             : NGX_HTTP_TRIGGER_VS_VIEWED;
            break;

        case NGX_HTTP_TRIGGER_EV_CART_ADD:
            changed |= NGX_HTTP_TRIGGER_VS_OTHER;
            it = ngx_http_trigger_vs_line(st, ev->id, len);

            if (it == NULL) {
                if (st->nlines >= p->cart_max
                    || st->nlines == NGX_HTTP_TRIGGER_CART_LIMIT)
                {
                    break;
                }

                it = &st->cart[st->nlines++];
                it->len = len;
                memcpy(it->sku, ev->id, len);
                it->qty = 0;
            }

            q = it->qty + ev->num;
            it->qty = q > NGX_HTTP_TRIGGER_QTY_MAX ? NGX_HTTP_TRIGGER_QTY_MAX
                                                   : q;
            break;

        case NGX_HTTP_TRIGGER_EV_CART_REMOVE:
            changed |= NGX_HTTP_TRIGGER_VS_OTHER;
            it = ngx_http_trigger_vs_line(st, ev->id, len);

            if (it == NULL) {
                break;
            }

            q = ev->num > 0 ? it->qty - ev->num : 0;

            if (q > 0) {
                it->qty = q;
                break;
            }

            memmove(it, it + 1, (st->cart + st->nlines - it - 1)
                                * sizeof(ngx_http_trigger_vitem_t));
            st->nlines--;
            break;

        case NGX_HTTP_TRIGGER_EV_CART_CLEAR:
            changed |= NGX_HTTP_TRIGGER_VS_OTHER;
            st->nlines = 0;
            break;

        case NGX_HTTP_TRIGGER_EV_PURCHASE:
            changed |= NGX_HTTP_TRIGGER_VS_OTHER;
            f[NGX_HTTP_TRIGGER_VS_PURCHASES]++;
            st->nlines = 0;
            break;

        case NGX_HTTP_TRIGGER_EV_OFFER_SHOWN:
            shows++;
            f[NGX_HTTP_TRIGGER_VS_SHOWS] = shows;
            f[NGX_HTTP_TRIGGER_VS_SHOWS_SINCE] = since;
            break;

        case NGX_HTTP_TRIGGER_EV_OFFER_DECLINED:
            f[NGX_HTTP_TRIGGER_VS_DECLINED] = now;
            break;

        default:
            break;
        }
    }

    return changed;
}


int
ngx_http_trigger_vstate_touch(ngx_http_trigger_vstate_t *st, int64_t now,
    int64_t ttl)
{
    if (now - st->f[NGX_HTTP_TRIGGER_VS_TOUCHED]
        < (ttl / 10 < 3600 ? ttl / 10 : 3600))
    {
        return 0;
    }

    st->f[NGX_HTTP_TRIGGER_VS_TOUCHED] = now;

    return 1;
}


const char *
ngx_http_trigger_vstate_name(size_t field)
{
    return ngx_http_trigger_vs_names[field];
}


void
ngx_http_trigger_vstate_uncount(ngx_http_trigger_vstate_t *st)
{
    if (st->f[NGX_HTTP_TRIGGER_VS_DEPTH] > 0) {
        st->f[NGX_HTTP_TRIGGER_VS_DEPTH]--;
    }
}


int
ngx_http_trigger_vstate_mark(ngx_http_trigger_vstate_t *st, int group)
{
    if (st->f[NGX_HTTP_TRIGGER_VS_GROUP] != 0) {
        return 0;
    }

    st->f[NGX_HTTP_TRIGGER_VS_GROUP] = group;
    return 1;
}


void
ngx_http_trigger_vstate_result(const ngx_http_trigger_vstate_t *st,
    const ngx_http_trigger_vparams_t *p, int64_t now, int64_t *out)
{
    size_t          i;
    int64_t         qty, shows, since;
    const int64_t  *f;

    f = st->f;

    for (i = 0, qty = 0; i < st->nlines; i++) {
        qty += st->cart[i].qty;
    }

    shows = f[NGX_HTTP_TRIGGER_VS_SHOWS];
    since = f[NGX_HTTP_TRIGGER_VS_SHOWS_SINCE];

    if (now - since >= p->cap_period) {
        shows = 0;
        since = now;
    }

    out[0] = f[NGX_HTTP_TRIGGER_VS_VISITS];
    out[1] = f[NGX_HTTP_TRIGGER_VS_DEPTH];
    out[2] = f[NGX_HTTP_TRIGGER_VS_START]
             ? now - f[NGX_HTTP_TRIGGER_VS_START] : 0;
    out[3] = f[NGX_HTTP_TRIGGER_VS_GAP];
    out[4] = st->nlines;
    out[5] = qty;
    out[6] = st->nviewed;
    out[7] = f[NGX_HTTP_TRIGGER_VS_PURCHASES];
    out[8] = f[NGX_HTTP_TRIGGER_VS_DECLINED];
    out[9] = f[NGX_HTTP_TRIGGER_VS_ACTIVE];
    out[10] = shows;
    out[11] = since;
    out[12] = 0;
    out[13] = f[NGX_HTTP_TRIGGER_VS_GROUP];
    out[14] = f[NGX_HTTP_TRIGGER_VS_CLOSED];
}


/*
 * Packed: the count of viewed skus and of cart lines (a byte each would
 * not do: 200 lines), then each sku as its length and bytes, a cart
 * line's quantity in two bytes after it.
 */

size_t
ngx_http_trigger_vstate_items_size(const ngx_http_trigger_vstate_t *st)
{
    size_t  i, size;

    size = 4;

    for (i = 0; i < st->nviewed; i++) {
        size += 1 + st->viewed[i].len;
    }

    for (i = 0; i < st->nlines; i++) {
        size += 3 + st->cart[i].len;
    }

    return size;
}


size_t
ngx_http_trigger_vstate_pack(const ngx_http_trigger_vstate_t *st,
    u_char *buf)
{
    u_char  *p;
    size_t   i;

    p = buf;
    *p++ = (u_char) (st->nviewed >> 8);
    *p++ = (u_char) st->nviewed;
    *p++ = (u_char) (st->nlines >> 8);
    *p++ = (u_char) st->nlines;

    for (i = 0; i < st->nviewed; i++) {
        *p++ = (u_char) st->viewed[i].len;
        memcpy(p, st->viewed[i].sku, st->viewed[i].len);
        p += st->viewed[i].len;
    }

    for (i = 0; i < st->nlines; i++) {
        *p++ = (u_char) st->cart[i].len;
        memcpy(p, st->cart[i].sku, st->cart[i].len);
        p += st->cart[i].len;
        *p++ = (u_char) (st->cart[i].qty >> 8);
        *p++ = (u_char) st->cart[i].qty;
    }

    return p - buf;
}


int
ngx_http_trigger_vstate_unpack(ngx_http_trigger_vstate_t *st,
    const u_char *buf, size_t len)
{
    size_t                     i, nv, nl;
    const u_char              *p, *end;
    ngx_http_trigger_vitem_t  *it;

    if (len < 4) {
        return -1;
    }

    p = buf;
    end = buf + len;
    nv = (p[0] << 8) | p[1];
    nl = (p[2] << 8) | p[3];
    p += 4;

    if (nv > NGX_HTTP_TRIGGER_VIEWED_LIMIT || nl > NGX_HTTP_TRIGGER_CART_LIMIT)
    {
        return -1;
    }

    for (i = 0; i < nv + nl; i++) {
        it = i < nv ? &st->viewed[i] : &st->cart[i - nv];

        if (p == end || *p > NGX_HTTP_TRIGGER_ID_MAX
            || (size_t) (end - p) < 1 + (size_t) *p + (i < nv ? 0 : 2))
        {
            return -1;
        }

        it->len = *p++;
        memcpy(it->sku, p, it->len);
        p += it->len;

        if (i >= nv) {
            it->qty = (p[0] << 8) | p[1];
            p += 2;
        }
    }

    st->nviewed = nv;
    st->nlines = nl;

    return p == end ? 0 : -1;
}


static int64_t
ngx_http_trigger_vs_int(const u_char *p, size_t len)
{
    size_t   i;
    int64_t  n, sign;

    sign = 1;
    i = 0;

    if (len > 0 && p[0] == '-') {
        sign = -1;
        i = 1;
    }

    for (n = 0; i < len && p[i] >= '0' && p[i] <= '9' && n < INT64_MAX / 10;
         i++)
    {
        n = n * 10 + (p[i] - '0');
    }

    return sign * n;
}


static ngx_http_trigger_vitem_t *
ngx_http_trigger_vs_line(ngx_http_trigger_vstate_t *st, const u_char *sku,
    size_t len)
{
    size_t  i;

    for (i = 0; i < st->nlines; i++) {
        if (st->cart[i].len == len && memcmp(st->cart[i].sku, sku, len) == 0) {
            return &st->cart[i];
        }
    }

    return NULL;
}


/* the sku first, then the others as they were, at most viewed_max */

static void
ngx_http_trigger_vs_view(ngx_http_trigger_vstate_t *st,
    const ngx_http_trigger_vparams_t *p, const u_char *sku, size_t len)
{
    size_t                    i, n;
    ngx_http_trigger_vitem_t  it;

    it.len = len;
    it.qty = 0;
    memcpy(it.sku, sku, len);

    /* where it was (or the end), then everything before it moves down */
    for (i = 0; i < st->nviewed; i++) {
        if (st->viewed[i].len == len
            && memcmp(st->viewed[i].sku, sku, len) == 0)
        {
            break;
        }
    }

    n = i < st->nviewed ? st->nviewed : st->nviewed + 1;

    if (n > p->viewed_max) {
        n = p->viewed_max;
    }

    if (i >= n) {
        i = n - 1;
    }

    memmove(&st->viewed[1], &st->viewed[0],
            i * sizeof(ngx_http_trigger_vitem_t));
    st->viewed[0] = it;
    st->nviewed = n;
}
