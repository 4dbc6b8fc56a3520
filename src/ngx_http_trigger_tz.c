/*
 * Time zones from the system's zoneinfo: the transitions and local time
 * types of a TZif file (versions 1 to 4), and for moments after its
 * last transition the POSIX TZ rule in its footer
 * ("CET-1CEST,M3.5.0,M10.5.0/3").
 */


#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ngx_http_trigger_tz.h"
#include "ngx_http_trigger_event.h"


/* real zone files are a few kilobytes */
#define NGX_HTTP_TRIGGER_TZ_FILE_MAX   (256 * 1024)
#define NGX_HTTP_TRIGGER_TZ_COUNT_MAX  65536
#define NGX_HTTP_TRIGGER_TZ_NAME_MAX   64
#define NGX_HTTP_TRIGGER_TZ_BUCKETS    64
/* RFC 8536: offsets within 25 hours either way */
#define NGX_HTTP_TRIGGER_TZ_OFFSET_MAX (25 * 3600)


typedef struct {
    /* 'J': day 1-365 never counting Feb 29, 'D': day 0-365, 'M': Mm.w.d */
    char                          kind;
    int                           day;
    int                           month;
    int                           week;
    int                           wday;
    /* local time of the change, seconds; -167 h to 167 h (RFC 8536) */
    int32_t                       time;
} ngx_http_trigger_tz_date_t;


typedef struct {
    int32_t                       std;
    int32_t                       dst;
    ngx_http_trigger_tz_date_t    start;
    ngx_http_trigger_tz_date_t    end;
    unsigned                      has_dst:1;
} ngx_http_trigger_tz_rule_t;


struct ngx_http_trigger_tz_s {
    ngx_http_trigger_tz_t        *next;
    char                          name[NGX_HTTP_TRIGGER_TZ_NAME_MAX + 1];
    size_t                        ntimes;
    int64_t                      *times;
    uint8_t                      *types;
    size_t                        ntypes;
    int32_t                      *offsets;
    ngx_http_trigger_tz_rule_t    rule;
    unsigned                      has_rule:1;
};


typedef struct {
    uint32_t                      isutcnt;
    uint32_t                      isstdcnt;
    uint32_t                      leapcnt;
    uint32_t                      timecnt;
    uint32_t                      typecnt;
    uint32_t                      charcnt;
} ngx_http_trigger_tz_header_t;


static ngx_http_trigger_tz_t  *ngx_http_trigger_tz_table[
                                              NGX_HTTP_TRIGGER_TZ_BUCKETS];


static uint32_t
ngx_http_trigger_tz_be32(const u_char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}


static const u_char *
ngx_http_trigger_tz_header(const u_char *p, const u_char *last,
    ngx_http_trigger_tz_header_t *h)
{
    if (last - p < 44 || memcmp(p, "TZif", 4) != 0) {
        return NULL;
    }

    h->isutcnt = ngx_http_trigger_tz_be32(p + 20);
    h->isstdcnt = ngx_http_trigger_tz_be32(p + 24);
    h->leapcnt = ngx_http_trigger_tz_be32(p + 28);
    h->timecnt = ngx_http_trigger_tz_be32(p + 32);
    h->typecnt = ngx_http_trigger_tz_be32(p + 36);
    h->charcnt = ngx_http_trigger_tz_be32(p + 40);

    if (h->isutcnt > 256 || h->isstdcnt > 256 || h->typecnt > 256
        || h->leapcnt > NGX_HTTP_TRIGGER_TZ_COUNT_MAX
        || h->timecnt > NGX_HTTP_TRIGGER_TZ_COUNT_MAX
        || h->charcnt > NGX_HTTP_TRIGGER_TZ_COUNT_MAX)
    {
        return NULL;
    }

    return p + 44;
}


/* the size of the data block after a header, with 4- or 8-byte times */

static size_t
ngx_http_trigger_tz_data_size(const ngx_http_trigger_tz_header_t *h,
    size_t tsize)
{
    return h->timecnt * tsize + h->timecnt + h->typecnt * 6 + h->charcnt
           + h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}


static const char *
ngx_http_trigger_tz_number(const char *s, int min, int max, int *n)
{
    int  v;

    if (*s < '0' || *s > '9') {
        return NULL;
    }

    for (v = 0; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (*s - '0');

        if (v > max) {
            return NULL;
        }
    }

    if (v < min) {
        return NULL;
    }

    *n = v;

    return s;
}


/* [+-]hh[:mm[:ss]] */

static const char *
ngx_http_trigger_tz_hms(const char *s, int max_hours, int32_t *out)
{
    int  sign, h, m, sec;

    sign = 1;

    if (*s == '+' || *s == '-') {
        sign = (*s == '-') ? -1 : 1;
        s++;
    }

    s = ngx_http_trigger_tz_number(s, 0, max_hours, &h);
    if (s == NULL) {
        return NULL;
    }

    m = 0;
    sec = 0;

    if (*s == ':') {
        s = ngx_http_trigger_tz_number(s + 1, 0, 59, &m);

        if (s != NULL && *s == ':') {
            s = ngx_http_trigger_tz_number(s + 1, 0, 59, &sec);
        }
    }

    if (s != NULL) {
        *out = sign * (h * 3600 + m * 60 + sec);
    }

    return s;
}


/* "CET" or "<+0530>" */

static const char *
ngx_http_trigger_tz_abbr(const char *s)
{
    const char  *p;

    if (*s == '<') {
        p = strchr(s, '>');
        return (p != NULL && p - s > 1) ? p + 1 : NULL;
    }

    for (p = s; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'); p++) {
        /* void */
    }

    return (p - s >= 3) ? p : NULL;
}


static const char *
ngx_http_trigger_tz_date(const char *s, ngx_http_trigger_tz_date_t *d)
{
    memset(d, 0, sizeof(*d));

    if (*s == 'J') {
        d->kind = 'J';
        s = ngx_http_trigger_tz_number(s + 1, 1, 365, &d->day);

    } else if (*s == 'M') {
        d->kind = 'M';
        s = ngx_http_trigger_tz_number(s + 1, 1, 12, &d->month);

        if (s != NULL && *s == '.') {
            s = ngx_http_trigger_tz_number(s + 1, 1, 5, &d->week);
        } else {
            s = NULL;
        }

        if (s != NULL && *s == '.') {
            s = ngx_http_trigger_tz_number(s + 1, 0, 6, &d->wday);
        } else {
            s = NULL;
        }

    } else {
        d->kind = 'D';
        s = ngx_http_trigger_tz_number(s, 0, 365, &d->day);
    }

    d->time = 2 * 3600;

    if (s != NULL && *s == '/') {
        s = ngx_http_trigger_tz_hms(s + 1, 167, &d->time);
    }

    return s;
}


/*
 * std offset [dst [offset] ,start[/time],end[/time]], offsets west of
 * Greenwich positive as POSIX has them.  A DST name without rules does
 * not occur in the tz database's footers and is refused.
 */

static int
ngx_http_trigger_tz_parse_rule(const char *s, ngx_http_trigger_tz_rule_t *r)
{
    int32_t  off;

    memset(r, 0, sizeof(*r));

    s = ngx_http_trigger_tz_abbr(s);
    if (s == NULL || (s = ngx_http_trigger_tz_hms(s, 24, &off)) == NULL) {
        return -1;
    }

    r->std = -off;

    if (*s == '\0') {
        return 0;
    }

    s = ngx_http_trigger_tz_abbr(s);
    if (s == NULL) {
        return -1;
    }

    r->dst = r->std + 3600;

    if (*s != ',') {
        s = ngx_http_trigger_tz_hms(s, 24, &off);
        if (s == NULL) {
            return -1;
        }

        r->dst = -off;
    }

    if (*s != ',') {
        return -1;
    }

    s = ngx_http_trigger_tz_date(s + 1, &r->start);
    if (s == NULL || *s != ',') {
        return -1;
    }

    s = ngx_http_trigger_tz_date(s + 1, &r->end);
    if (s == NULL || *s != '\0') {
        return -1;
    }

    r->has_dst = 1;

    return 0;
}


static int64_t
ngx_http_trigger_tz_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}


/* days since 1970-01-01 of a date (H. Hinnant's civil calendar) */

static int64_t
ngx_http_trigger_tz_days(int64_t y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= (m <= 2);
    era = ngx_http_trigger_tz_floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static int64_t
ngx_http_trigger_tz_year(int64_t days)
{
    int64_t  era, doe, yoe, doy, mp;

    days += 719468;
    era = ngx_http_trigger_tz_floor_div(days, 146097);
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    /* the civil year begins in March here: January and February */
    return yoe + era * 400 + (mp >= 10);
}


/* the change's moment in year y, as seconds of local time since 1970 */

static int64_t
ngx_http_trigger_tz_when(const ngx_http_trigger_tz_date_t *d, int64_t y)
{
    int      leap;
    int64_t  day, first, mdays, n;

    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    switch (d->kind) {

    case 'J':
        day = ngx_http_trigger_tz_days(y, 1, 1) + d->day - 1
              + (leap && d->day >= 60);
        break;

    case 'D':
        day = ngx_http_trigger_tz_days(y, 1, 1) + d->day;
        break;

    default:
        first = ngx_http_trigger_tz_days(y, d->month, 1);
        mdays = ngx_http_trigger_tz_days(d->month == 12 ? y + 1 : y,
                                         d->month % 12 + 1, 1) - first;

        /* 1970-01-01 was a Thursday */
        n = (d->wday - (first + 4) % 7 + 14) % 7 + (d->week - 1) * 7;

        while (n >= mdays) {
            n -= 7;
        }

        day = first + n;
    }

    return day * 86400 + d->time;
}


static int32_t
ngx_http_trigger_tz_rule_offset(const ngx_http_trigger_tz_rule_t *r,
    int64_t t)
{
    int64_t  y, start, end;

    if (!r->has_dst) {
        return r->std;
    }

    /* the year of standard local time, so changes near New Year fit */
    y = ngx_http_trigger_tz_year(
                         ngx_http_trigger_tz_floor_div(t + r->std, 86400));

    /* the start is given in standard time, the end in daylight time */
    start = ngx_http_trigger_tz_when(&r->start, y) - r->std;
    end = ngx_http_trigger_tz_when(&r->end, y) - r->dst;

    if (start < end) {
        return (t >= start && t < end) ? r->dst : r->std;
    }

    /* the southern hemisphere: daylight time across New Year */
    return (t >= end && t < start) ? r->std : r->dst;
}


ngx_http_trigger_tz_t *
ngx_http_trigger_tz_parse(const u_char *p, size_t len)
{
    char                          footer[128];
    size_t                        i, tsize, size;
    const u_char                 *last, *d, *nl;
    ngx_http_trigger_tz_t        *tz;
    ngx_http_trigger_tz_header_t  h;

    last = p + len;

    d = ngx_http_trigger_tz_header(p, last, &h);
    if (d == NULL) {
        return NULL;
    }

    tsize = 4;

    /* version 2 and later: skip the 32-bit block, read the 64-bit one */
    if (p[4] >= '2') {
        size = ngx_http_trigger_tz_data_size(&h, 4);

        if ((size_t) (last - d) < size) {
            return NULL;
        }

        d = ngx_http_trigger_tz_header(d + size, last, &h);
        if (d == NULL) {
            return NULL;
        }

        tsize = 8;
    }

    if (h.typecnt == 0
        || (size_t) (last - d) < ngx_http_trigger_tz_data_size(&h, tsize))
    {
        return NULL;
    }

    tz = calloc(1, sizeof(ngx_http_trigger_tz_t));
    if (tz == NULL) {
        return NULL;
    }

    tz->ntimes = h.timecnt;
    tz->ntypes = h.typecnt;
    tz->times = malloc(h.timecnt * sizeof(int64_t) + 1);
    tz->types = malloc(h.timecnt + 1);
    tz->offsets = malloc(h.typecnt * sizeof(int32_t));

    if (tz->times == NULL || tz->types == NULL || tz->offsets == NULL) {
        goto failed;
    }

    for (i = 0; i < h.timecnt; i++, d += tsize) {
        if (tsize == 8) {
            tz->times[i] = (int64_t) ((uint64_t) ngx_http_trigger_tz_be32(d)
                                      << 32
                                      | ngx_http_trigger_tz_be32(d + 4));
        } else {
            tz->times[i] = (int32_t) ngx_http_trigger_tz_be32(d);
        }

        if (i > 0 && tz->times[i] <= tz->times[i - 1]) {
            goto failed;
        }
    }

    for (i = 0; i < h.timecnt; i++, d++) {
        if (*d >= h.typecnt) {
            goto failed;
        }

        tz->types[i] = *d;
    }

    for (i = 0; i < h.typecnt; i++, d += 6) {
        tz->offsets[i] = (int32_t) ngx_http_trigger_tz_be32(d);

        if (tz->offsets[i] < -NGX_HTTP_TRIGGER_TZ_OFFSET_MAX
            || tz->offsets[i] > NGX_HTTP_TRIGGER_TZ_OFFSET_MAX)
        {
            goto failed;
        }
    }

    d += h.charcnt + h.leapcnt * (tsize + 4) + h.isstdcnt + h.isutcnt;

    /* "\nCET-1CEST,M3.5.0,M10.5.0/3\n"; an empty or odd one is unused */
    if (tsize == 8 && d < last && *d == '\n') {
        nl = memchr(d + 1, '\n', last - d - 1);

        if (nl != NULL && (size_t) (nl - d - 1) < sizeof(footer)) {
            memcpy(footer, d + 1, nl - d - 1);
            footer[nl - d - 1] = '\0';

            tz->has_rule = (ngx_http_trigger_tz_parse_rule(footer, &tz->rule)
                            == 0);
        }
    }

    return tz;

failed:

    ngx_http_trigger_tz_destroy(tz);

    return NULL;
}


void
ngx_http_trigger_tz_destroy(ngx_http_trigger_tz_t *tz)
{
    if (tz == NULL) {
        return;
    }

    free(tz->times);
    free(tz->types);
    free(tz->offsets);
    free(tz);
}


int32_t
ngx_http_trigger_tz_offset(const void *zone, int64_t t)
{
    size_t                        lo, hi, mid;
    const ngx_http_trigger_tz_t  *tz;

    tz = zone;

    if (tz == NULL) {
        return 0;
    }

    if (tz->ntimes == 0 || t >= tz->times[tz->ntimes - 1]) {
        if (tz->has_rule) {
            return ngx_http_trigger_tz_rule_offset(&tz->rule, t);
        }

        return tz->ntimes ? tz->offsets[tz->types[tz->ntimes - 1]]
                          : tz->offsets[0];
    }

    /* before the first transition: the first type (RFC 8536, 3.2) */
    if (t < tz->times[0]) {
        return tz->offsets[0];
    }

    /* the last transition at or before t */
    lo = 0;
    hi = tz->ntimes - 1;

    while (hi - lo > 1) {
        mid = lo + (hi - lo) / 2;

        if (tz->times[mid] <= t) {
            lo = mid;

        } else {
            hi = mid;
        }
    }

    return tz->offsets[tz->types[lo]];
}


static ngx_http_trigger_tz_t *
ngx_http_trigger_tz_read(const char *path)
{
    int                     fd;
    u_char                 *buf;
    ssize_t                 n;
    size_t                  len;
    struct stat             st;
    ngx_http_trigger_tz_t  *tz;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return NULL;
    }

    tz = NULL;
    buf = NULL;

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)
        || st.st_size > NGX_HTTP_TRIGGER_TZ_FILE_MAX)
    {
        goto done;
    }

    buf = malloc(st.st_size + 1);
    if (buf == NULL) {
        goto done;
    }

    for (len = 0; len < (size_t) st.st_size; len += n) {
        n = read(fd, buf + len, st.st_size - len);

        if (n <= 0) {
            goto done;
        }
    }

    tz = ngx_http_trigger_tz_parse(buf, len);

done:

    free(buf);
    close(fd);

    return tz;
}


const ngx_http_trigger_tz_t *
ngx_http_trigger_tz_get(const u_char *name, size_t len)
{
    char                    path[sizeof(NGX_HTTP_TRIGGER_TZ_DIR)
                                 + NGX_HTTP_TRIGGER_TZ_NAME_MAX + 1];
    size_t                  i;
    uint32_t                h;
    ngx_http_trigger_tz_t  *tz;

    /* letters, digits and "/_+-" only: no "..", nothing outside the dir */
    if (!ngx_http_trigger_valid_tz(name, len)
        || len > NGX_HTTP_TRIGGER_TZ_NAME_MAX
        || name[0] == '/')
    {
        return NULL;
    }

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h = (h ^ name[i]) * 16777619u;
    }

    h %= NGX_HTTP_TRIGGER_TZ_BUCKETS;

    for (tz = ngx_http_trigger_tz_table[h]; tz; tz = tz->next) {
        if (strncmp(tz->name, (const char *) name, len) == 0
            && tz->name[len] == '\0')
        {
            return tz;
        }
    }

    snprintf(path, sizeof(path), "%s/%.*s", NGX_HTTP_TRIGGER_TZ_DIR,
             (int) len, name);

    tz = ngx_http_trigger_tz_read(path);
    if (tz == NULL) {
        return NULL;
    }

    memcpy(tz->name, name, len);
    tz->name[len] = '\0';
    tz->next = ngx_http_trigger_tz_table[h];
    ngx_http_trigger_tz_table[h] = tz;

    return tz;
}


void
ngx_http_trigger_tz_free(void)
{
    size_t                  i;
    ngx_http_trigger_tz_t  *tz, *next;

    for (i = 0; i < NGX_HTTP_TRIGGER_TZ_BUCKETS; i++) {
        for (tz = ngx_http_trigger_tz_table[i]; tz; tz = next) {
            next = tz->next;
            ngx_http_trigger_tz_destroy(tz);
        }

        ngx_http_trigger_tz_table[i] = NULL;
    }
}
