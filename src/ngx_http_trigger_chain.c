/*
 * Email chains: the chains file, its checks, the compiled programs, the
 * trigger matcher and the step executor.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ngx_http_trigger_chain.h"
#include "ngx_http_trigger_event.h"


#define NGX_HTTP_TRIGGER_CHAIN_PATH_MAX      256
#define NGX_HTTP_TRIGGER_CHAIN_FILE_MAX      (1024 * 1024)
#define NGX_HTTP_TRIGGER_CHAIN_LINE_MAX      512
#define NGX_HTTP_TRIGGER_CHAIN_CHAINS_MAX    100
#define NGX_HTTP_TRIGGER_CHAIN_EVENTS_MAX    8
#define NGX_HTTP_TRIGGER_CHAIN_DEPTH_MAX     8
#define NGX_HTTP_TRIGGER_CHAIN_VARIANTS_MAX  5
#define NGX_HTTP_TRIGGER_CHAIN_WEIGHT_MAX    1000000
#define NGX_HTTP_TRIGGER_CHAIN_CAP_MAX       1000
#define NGX_HTTP_TRIGGER_CHAIN_DURATION_MAX  (3650 * 86400LL)

/* a string may span lines (an address) or not (a subject, an email) */
#define NGX_HTTP_TRIGGER_CHAIN_LINE          1
#define NGX_HTTP_TRIGGER_CHAIN_LINES         2
#define NGX_HTTP_TRIGGER_CHAIN_EMAIL         3

/* these always end a chain: nobody is mailed against their will */
#define NGX_HTTP_TRIGGER_CHAIN_EXITS_ALWAYS                                   \
    (1u << NGX_HTTP_TRIGGER_CHAIN_UNSUBSCRIBED                                \
     | 1u << NGX_HTTP_TRIGGER_CHAIN_BOUNCED                                   \
     | 1u << NGX_HTTP_TRIGGER_CHAIN_COMPLAINED)


typedef struct {
    const char                       *file;
    char                             *dir;
    char                             *err;
    size_t                            err_len;
    ngx_http_trigger_chains_t        *chains;
    /* the chain being compiled */
    ngx_http_trigger_chain_insn_t     code[NGX_HTTP_TRIGGER_CHAIN_INSNS_MAX];
    int32_t                           ncode;
    int                               nsends;
    int                               nsplits;
} ngx_http_trigger_chain_ctx_t;


const char  *ngx_http_trigger_chain_event_names[
                                           NGX_HTTP_TRIGGER_CHAIN_EV_COUNT] = {
    "visit",
    "cart_add",
    "return",
    "lapse",
    "subscribed",
    "social",
    "code_issued"
};


const char  *ngx_http_trigger_chain_cond_names[
                                         NGX_HTTP_TRIGGER_CHAIN_COND_COUNT] = {
    "purchased",
    "code_used",
    "code_expired",
    "cart_empty",
    "unsubscribed",
    "bounced",
    "complained",
    "opened_previous",
    "clicked_previous"
};


static const char  *ngx_http_trigger_chain_social_names[] = {
    "any", "like", "share", "invite"
};


static const char  *ngx_http_trigger_chain_combine_names[] = {
    "all", "any", "sequence"
};


typedef enum {
    NGX_HTTP_TRIGGER_CHAIN_STEP_SEND = 0,
    NGX_HTTP_TRIGGER_CHAIN_STEP_WAIT,
    NGX_HTTP_TRIGGER_CHAIN_STEP_WAIT_UNTIL,
    NGX_HTTP_TRIGGER_CHAIN_STEP_IF,
    NGX_HTTP_TRIGGER_CHAIN_STEP_SPLIT,
    NGX_HTTP_TRIGGER_CHAIN_STEP_EXIT,
    NGX_HTTP_TRIGGER_CHAIN_STEPS
} ngx_http_trigger_chain_step_e;


static const char  *ngx_http_trigger_chain_step_names[] = {
    "send", "wait", "wait_until", "if", "split", "exit"
};


static const char  *ngx_http_trigger_chain_top_keys[] = {
    "defaults", "quiet_hours", "cap", "letters", "chains", NULL
};


static const char  *ngx_http_trigger_chain_letter_keys[] = {
    "subject", "html", "text", "esp_template", "data", NULL
};


static const char  *ngx_http_trigger_chain_chain_keys[] = {
    "name", "trigger", "exit", "steps", NULL
};


typedef struct {
    const char  *key;
    size_t       offset;
    int          kind;
} ngx_http_trigger_chain_default_t;


static const ngx_http_trigger_chain_default_t
    ngx_http_trigger_chain_defaults[] = {
    { "from_name", offsetof(ngx_http_trigger_chains_t, from_name),
      NGX_HTTP_TRIGGER_CHAIN_LINE },
    { "from_email", offsetof(ngx_http_trigger_chains_t, from_email),
      NGX_HTTP_TRIGGER_CHAIN_EMAIL },
    { "reply_to", offsetof(ngx_http_trigger_chains_t, reply_to),
      NGX_HTTP_TRIGGER_CHAIN_EMAIL },
    { "shop_name", offsetof(ngx_http_trigger_chains_t, shop_name),
      NGX_HTTP_TRIGGER_CHAIN_LINE },
    { "shop_address", offsetof(ngx_http_trigger_chains_t, shop_address),
      NGX_HTTP_TRIGGER_CHAIN_LINES },
    { "shop_url", offsetof(ngx_http_trigger_chains_t, shop_url),
      NGX_HTTP_TRIGGER_CHAIN_LINE },
    { NULL, 0, 0 }
};


static int64_t
ngx_http_trigger_chain_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}


int64_t
ngx_http_trigger_chain_duration(const char *s)
{
    size_t                 next;
    int64_t                n, total;
    const char            *u;
    static const char      units[] = "wdhms";
    static const int64_t   secs[] = { 7 * 86400, 86400, 3600, 60, 1 };

    total = 0;
    next = 0;

    do {
        if (*s < '0' || *s > '9') {
            return -1;
        }

        for (n = 0; *s >= '0' && *s <= '9'; s++) {
            n = n * 10 + (*s - '0');

            if (n > NGX_HTTP_TRIGGER_CHAIN_DURATION_MAX) {
                return -1;
            }
        }

        /* digits alone are seconds, as nginx reads them */
        if (*s == '\0' && next == 0) {
            return n;
        }

        /* each unit at most once, the larger first: "1d12h" */
        u = (*s != '\0') ? strchr(units + next, *s) : NULL;
        if (u == NULL) {
            return -1;
        }

        next = u - units + 1;
        total += n * secs[u - units];
        s++;

        if (total > NGX_HTTP_TRIGGER_CHAIN_DURATION_MAX) {
            return -1;
        }

    } while (*s != '\0');

    return total;
}


/* "9:30", "21:00": seconds after midnight, -1 if not a time of day */

static int64_t
ngx_http_trigger_chain_time_of_day(const char *s)
{
    int  h, m;

    if (*s < '0' || *s > '9') {
        return -1;
    }

    h = *s++ - '0';

    if (*s >= '0' && *s <= '9') {
        h = h * 10 + (*s++ - '0');
    }

    if (s[0] != ':' || s[1] < '0' || s[1] > '5' || s[2] < '0' || s[2] > '9'
        || s[3] != '\0' || h > 23)
    {
        return -1;
    }

    m = (s[1] - '0') * 10 + (s[2] - '0');

    return h * 3600 + m * 60;
}


static int
ngx_http_trigger_chain_error(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, const char *fmt, ...)
{
    int      n;
    va_list  args;

    if (ctx->err_len == 0) {
        return -1;
    }

    n = snprintf(ctx->err, ctx->err_len, jp[0] ? "%s: %s: " : "%s: %s",
                 ctx->file, jp);

    if (n >= 0 && (size_t) n < ctx->err_len) {
        va_start(args, fmt);
        vsnprintf(ctx->err + n, ctx->err_len - n, fmt, args);
        va_end(args);
    }

    return -1;
}


/* a path too long is cut short, still enough to find the place */

static void
ngx_http_trigger_chain_path_key(char *buf, const char *jp, const char *key)
{
    snprintf(buf, NGX_HTTP_TRIGGER_CHAIN_PATH_MAX,
             jp[0] ? "%.200s.%.40s" : "%.200s%.40s", jp, key);
}


static void
ngx_http_trigger_chain_path_index(char *buf, const char *jp, size_t i)
{
    snprintf(buf, NGX_HTTP_TRIGGER_CHAIN_PATH_MAX, "%.200s[%zu]", jp, i);
}


/* "a, b, c" for messages */

static const char *
ngx_http_trigger_chain_list(char *buf, size_t size, const char **names,
    size_t n)
{
    size_t  i, len;

    buf[0] = '\0';

    for (i = 0, len = 0; i < n && len < size; i++) {
        len += snprintf(buf + len, size - len, i ? ", %s" : "%s", names[i]);
    }

    return buf;
}


static int
ngx_http_trigger_chain_lookup(const char *name, const char **names, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(name, names[i]) == 0) {
            return i;
        }
    }

    return -1;
}


/* every key one of allowed (NULL-terminated); "_..." keys are notes */

static int
ngx_http_trigger_chain_keys(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *obj, const char **allowed)
{
    char         path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX], list[256];
    size_t       n;
    json_t      *v;
    const char  *key;

    for (n = 0; allowed[n]; n++) { /* void */ }

    json_object_foreach(obj, key, v) {
        if (key[0] == '_'
            || ngx_http_trigger_chain_lookup(key, allowed, n) >= 0)
        {
            continue;
        }

        ngx_http_trigger_chain_path_key(path, jp, key);

        if (n == 0) {
            return ngx_http_trigger_chain_error(ctx, path,
                                                "unknown key (none here)");
        }

        return ngx_http_trigger_chain_error(ctx, path,
                           "unknown key (expected %s)",
                           ngx_http_trigger_chain_list(list, sizeof(list),
                                                       allowed, n));
    }

    return 0;
}


static int
ngx_http_trigger_chain_valid_name(const char *s)
{
    size_t  i;

    for (i = 0; s[i]; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
        {
            return 0;
        }
    }

    return i > 0 && i <= NGX_HTTP_TRIGGER_CHAIN_NAME_MAX;
}


/* a string member copied to *out, left NULL when absent */

static int
ngx_http_trigger_chain_string(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *obj, const char *key, int kind, char **out)
{
    char         path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX];
    size_t       i, len;
    json_t      *v;
    const char  *s;

    v = json_object_get(obj, key);
    if (v == NULL) {
        return 0;
    }

    ngx_http_trigger_chain_path_key(path, jp, key);

    if (!json_is_string(v) || json_string_length(v) == 0) {
        return ngx_http_trigger_chain_error(ctx, path, "expected a text");
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (len > NGX_HTTP_TRIGGER_CHAIN_LINE_MAX) {
        return ngx_http_trigger_chain_error(ctx, path,
                                            "longer than %d bytes",
                                            NGX_HTTP_TRIGGER_CHAIN_LINE_MAX);
    }

    /* control characters in a header would make another header */
    for (i = 0; i < len; i++) {
        if (((u_char) s[i] < 0x20 || s[i] == 0x7f)
            && !(kind == NGX_HTTP_TRIGGER_CHAIN_LINES && s[i] == '\n'))
        {
            return ngx_http_trigger_chain_error(ctx, path,
                                      "control characters or a line break");
        }
    }

    if (kind == NGX_HTTP_TRIGGER_CHAIN_EMAIL
        && !ngx_http_trigger_valid_email((const u_char *) s, len))
    {
        return ngx_http_trigger_chain_error(ctx, path,
                                            "not an email address");
    }

    *out = strdup(s);

    return (*out == NULL) ? ngx_http_trigger_chain_error(ctx, path,
                                                         "out of memory")
                          : 0;
}


static int
ngx_http_trigger_chain_duration_member(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *obj, const char *key, int64_t min,
    int64_t *out)
{
    char     path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX];
    json_t  *v;
    int64_t  d;

    v = json_object_get(obj, key);

    if (v == NULL) {
        return ngx_http_trigger_chain_error(ctx, jp, "no \"%s\"", key);
    }

    ngx_http_trigger_chain_path_key(path, jp, key);

    d = json_is_string(v) ? ngx_http_trigger_chain_duration(
                                                  json_string_value(v)) : -1;
    if (d < 0) {
        return ngx_http_trigger_chain_error(ctx, path, "not a duration "
                            "(e.g. \"90m\", \"1d12h\"; units w d h m s)");
    }

    if (d < min) {
        return ngx_http_trigger_chain_error(ctx, path,
                                            "must be longer than 0");
    }

    *out = d;

    return 0;
}


static int
ngx_http_trigger_chain_time_member(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *obj, const char *key, int64_t *out)
{
    char     path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX];
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL) {
        return ngx_http_trigger_chain_error(ctx, jp, "no \"%s\"", key);
    }

    ngx_http_trigger_chain_path_key(path, jp, key);

    *out = json_is_string(v) ? ngx_http_trigger_chain_time_of_day(
                                                  json_string_value(v)) : -1;
    if (*out < 0) {
        return ngx_http_trigger_chain_error(ctx, path,
                             "not a time of day (\"HH:MM\", 00:00 to 23:59)");
    }

    return 0;
}


/* offset of the first byte that is not UTF-8 text (or NUL), else len */

static size_t
ngx_http_trigger_chain_utf8(const u_char *p, size_t len)
{
    size_t    i, n, k;
    uint32_t  c;

    for (i = 0; i < len; i += n + 1) {
        c = p[i];
        n = 0;

        if (c == 0) {
            return i;
        }

        if (c < 0x80) {
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            c &= 0x1f;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            c &= 0x0f;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            c &= 0x07;

        } else {
            return i;
        }

        if (len - i <= n) {
            return i;
        }

        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return i;
            }

            c = c << 6 | (p[i + k] & 0x3f);
        }

        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 2 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)))
            || (n == 3 && (c < 0x10000 || c > 0x10ffff)))
        {
            return i;
        }
    }

    return len;
}


static int
ngx_http_trigger_chain_read(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, const char *path, char **out)
{
    int          fd, rc;
    char        *buf;
    size_t       len, bad;
    ssize_t      n;
    struct stat  st;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return ngx_http_trigger_chain_error(ctx, jp, "%s: %s", path,
                                            strerror(errno));
    }

    buf = NULL;

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        rc = ngx_http_trigger_chain_error(ctx, jp, "%s: not a file", path);
        goto done;
    }

    if (st.st_size > NGX_HTTP_TRIGGER_CHAIN_FILE_MAX) {
        rc = ngx_http_trigger_chain_error(ctx, jp, "%s: larger than 1 MB",
                                          path);
        goto done;
    }

    buf = malloc(st.st_size + 1);
    if (buf == NULL) {
        rc = ngx_http_trigger_chain_error(ctx, jp, "out of memory");
        goto done;
    }

    for (len = 0; len < (size_t) st.st_size; len += n) {
        n = read(fd, buf + len, st.st_size - len);

        if (n <= 0) {
            rc = ngx_http_trigger_chain_error(ctx, jp, "%s: %s", path,
                                   n == 0 ? "changed while read"
                                          : strerror(errno));
            goto done;
        }
    }

    buf[len] = '\0';

    /* editors may start UTF-8 with a byte order mark: not part of it */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        memmove(buf, buf + 3, len - 2);
        len -= 3;
    }

    if (len == 0) {
        rc = ngx_http_trigger_chain_error(ctx, jp, "%s: empty", path);
        goto done;
    }

    bad = ngx_http_trigger_chain_utf8((u_char *) buf, len);

    if (bad != len) {
        rc = ngx_http_trigger_chain_error(ctx, jp,
                                          "%s: not UTF-8 text (byte %zu)",
                                          path, bad);
        goto done;
    }

    *out = buf;
    buf = NULL;
    rc = 0;

done:

    free(buf);
    close(fd);

    return rc;
}


/* a template: the text itself or {"file": "path"} */

static int
ngx_http_trigger_chain_source(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *v, char **src, char **file)
{
    size_t       len;
    json_t      *f;
    const char  *name;

    if (json_is_string(v) && json_string_length(v) > 0) {
        *src = strdup(json_string_value(v));
        return (*src == NULL) ? ngx_http_trigger_chain_error(ctx, jp,
                                                             "out of memory")
                              : 0;
    }

    f = json_is_object(v) ? json_object_get(v, "file") : NULL;

    if (f == NULL || json_object_size(v) != 1 || !json_is_string(f)
        || json_string_length(f) == 0)
    {
        return ngx_http_trigger_chain_error(ctx, jp,
                          "expected the text itself or {\"file\": \"path\"}");
    }

    name = json_string_value(f);

    /* relative to the chains file */
    if (name[0] == '/') {
        *file = strdup(name);

    } else {
        len = strlen(ctx->dir) + 1 + strlen(name) + 1;
        *file = malloc(len);

        if (*file != NULL) {
            snprintf(*file, len, "%s/%s", ctx->dir, name);
        }
    }

    if (*file == NULL) {
        return ngx_http_trigger_chain_error(ctx, jp, "out of memory");
    }

    return ngx_http_trigger_chain_read(ctx, jp, *file, src);
}


static int
ngx_http_trigger_chain_letter(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *v, ngx_http_trigger_chain_letter_t *l)
{
    char     path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX];
    json_t  *html, *text, *data;

    if (!json_is_object(v)) {
        return ngx_http_trigger_chain_error(ctx, jp, "expected {\"subject\": "
                        "..., \"html\": ..., \"text\": ...} or "
                        "{\"esp_template\": ...}");
    }

    if (ngx_http_trigger_chain_keys(ctx, jp, v,
                                    ngx_http_trigger_chain_letter_keys)
        != 0
        || ngx_http_trigger_chain_string(ctx, jp, v, "subject",
                                         NGX_HTTP_TRIGGER_CHAIN_LINE,
                                         &l->subject) != 0
        || ngx_http_trigger_chain_string(ctx, jp, v, "esp_template",
                                         NGX_HTTP_TRIGGER_CHAIN_LINE,
                                         &l->esp_template) != 0)
    {
        return -1;
    }

    html = json_object_get(v, "html");
    text = json_object_get(v, "text");
    data = json_object_get(v, "data");

    if (l->esp_template != NULL) {
        if (html != NULL || text != NULL) {
            ngx_http_trigger_chain_path_key(path, jp, html ? "html" : "text");
            return ngx_http_trigger_chain_error(ctx, path, "a letter is "
                              "either the provider's template or its own "
                              "html and text");
        }

        if (data != NULL) {
            if (!json_is_object(data)) {
                ngx_http_trigger_chain_path_key(path, jp, "data");
                return ngx_http_trigger_chain_error(ctx, path,
                                                    "expected an object");
            }

            l->data = json_incref(data);
        }

        return 0;
    }

    if (data != NULL) {
        ngx_http_trigger_chain_path_key(path, jp, "data");
        return ngx_http_trigger_chain_error(ctx, path,
                                       "only with \"esp_template\"");
    }

    if (l->subject == NULL) {
        return ngx_http_trigger_chain_error(ctx, jp, "no \"subject\"");
    }

    if (html == NULL && text == NULL) {
        return ngx_http_trigger_chain_error(ctx, jp,
                                            "no \"html\" and no \"text\"");
    }

    if (html != NULL) {
        ngx_http_trigger_chain_path_key(path, jp, "html");

        if (ngx_http_trigger_chain_source(ctx, path, html, &l->html,
                                          &l->html_file)
            != 0)
        {
            return -1;
        }
    }

    if (text != NULL) {
        ngx_http_trigger_chain_path_key(path, jp, "text");

        if (ngx_http_trigger_chain_source(ctx, path, text, &l->text,
                                          &l->text_file)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
ngx_http_trigger_chain_letters(ngx_http_trigger_chain_ctx_t *ctx,
    json_t *v)
{
    char                              path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX];
    json_t                           *lv;
    const char                       *name;
    ngx_http_trigger_chain_letter_t  *l;

    if (v == NULL) {
        return ngx_http_trigger_chain_error(ctx, "", "no \"letters\"");
    }

    if (!json_is_object(v) || json_object_size(v) == 0) {
        return ngx_http_trigger_chain_error(ctx, "letters",
                                  "expected the letters by name: "
                                  "{\"offer\": {\"subject\": ...}, ...}");
    }

    ctx->chains->letters = calloc(json_object_size(v),
                                  sizeof(ngx_http_trigger_chain_letter_t));
    if (ctx->chains->letters == NULL) {
        return ngx_http_trigger_chain_error(ctx, "letters", "out of memory");
    }

    json_object_foreach(v, name, lv) {
        ngx_http_trigger_chain_path_key(path, "letters", name);

        if (!ngx_http_trigger_chain_valid_name(name)) {
            return ngx_http_trigger_chain_error(ctx, path,
                         "a name is letters, digits, \"_\" and \"-\", "
                         "64 at most");
        }

        l = &ctx->chains->letters[ctx->chains->nletters++];

        l->name = strdup(name);
        if (l->name == NULL) {
            return ngx_http_trigger_chain_error(ctx, path, "out of memory");
        }

        if (ngx_http_trigger_chain_letter(ctx, path, lv, l) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
ngx_http_trigger_chain_globals(ngx_http_trigger_chain_ctx_t *ctx,
    json_t *root)
{
    size_t                                   i;
    json_t                                  *v;
    const char                              *default_keys[8];
    ngx_http_trigger_chains_t               *chains;
    const ngx_http_trigger_chain_default_t  *d;
    static const char                       *quiet_keys[] = {
                                                 "from", "to", NULL };
    static const char                       *cap_keys[] = {
                                                 "letters", "per", NULL };

    chains = ctx->chains;

    v = json_object_get(root, "defaults");

    if (v != NULL) {
        if (!json_is_object(v)) {
            return ngx_http_trigger_chain_error(ctx, "defaults",
                                                "expected an object");
        }

        d = ngx_http_trigger_chain_defaults;

        for (i = 0; d[i].key; i++) {
            default_keys[i] = d[i].key;
        }

        default_keys[i] = NULL;

        if (ngx_http_trigger_chain_keys(ctx, "defaults", v, default_keys)
            != 0)
        {
            return -1;
        }

        for (i = 0; d[i].key; i++) {
            if (ngx_http_trigger_chain_string(ctx, "defaults", v, d[i].key,
                                   d[i].kind,
                                   (char **) ((u_char *) chains
                                              + d[i].offset))
                != 0)
            {
                return -1;
            }
        }
    }

    v = json_object_get(root, "quiet_hours");

    if (v != NULL) {
        if (!json_is_object(v)) {
            return ngx_http_trigger_chain_error(ctx, "quiet_hours",
                        "expected {\"from\": \"21:00\", \"to\": \"09:00\"}");
        }

        if (ngx_http_trigger_chain_keys(ctx, "quiet_hours", v, quiet_keys)
            != 0
            || ngx_http_trigger_chain_time_member(ctx, "quiet_hours", v,
                                                  "from", &chains->quiet_from)
               != 0
            || ngx_http_trigger_chain_time_member(ctx, "quiet_hours", v,
                                                  "to", &chains->quiet_to)
               != 0)
        {
            return -1;
        }

        if (chains->quiet_from == chains->quiet_to) {
            return ngx_http_trigger_chain_error(ctx, "quiet_hours",
                                          "\"from\" and \"to\" are the same");
        }
    }

    v = json_object_get(root, "cap");

    if (v != NULL) {
        if (!json_is_object(v)) {
            return ngx_http_trigger_chain_error(ctx, "cap",
                           "expected {\"letters\": 3, \"per\": \"1d\"}");
        }

        if (ngx_http_trigger_chain_keys(ctx, "cap", v, cap_keys) != 0
            || ngx_http_trigger_chain_duration_member(ctx, "cap", v, "per",
                                                      1, &chains->cap_per)
               != 0)
        {
            return -1;
        }

        v = json_object_get(v, "letters");

        if (!json_is_integer(v) || json_integer_value(v) < 1
            || json_integer_value(v) > NGX_HTTP_TRIGGER_CHAIN_CAP_MAX)
        {
            return ngx_http_trigger_chain_error(ctx, "cap.letters",
                                          "expected a whole number, 1 to %d",
                                          NGX_HTTP_TRIGGER_CHAIN_CAP_MAX);
        }

        chains->cap_letters = json_integer_value(v);
    }

    return 0;
}


static int
ngx_http_trigger_chain_pattern(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *v, ngx_http_trigger_chain_pattern_t *p,
    int in_combination)
{
    int                 type, action;
    char                path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX],
                        sub[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX], list[256];
    void               *it;
    json_t             *params, *a;
    const char         *name;
    static const char  *no_keys[] = { NULL };
    static const char  *visit_keys[] = { "depth", "duration", NULL };
    static const char  *return_keys[] = { "away", NULL };
    static const char  *lapse_keys[] = { "after", NULL };
    static const char  *social_keys[] = { "action", NULL };

    if (json_is_string(v)) {
        name = json_string_value(v);
        params = NULL;

    } else if (json_is_object(v) && json_object_size(v) == 1) {
        it = json_object_iter(v);
        name = json_object_iter_key(it);
        params = json_object_iter_value(it);

    } else {
        return ngx_http_trigger_chain_error(ctx, jp, "expected an event: "
                            "\"cart_add\" or {\"visit\": {\"depth\": 3}}");
    }

    type = ngx_http_trigger_chain_lookup(name,
                                         ngx_http_trigger_chain_event_names,
                                         NGX_HTTP_TRIGGER_CHAIN_EV_COUNT);
    if (type < 0) {
        if (in_combination
            && ngx_http_trigger_chain_lookup(name,
                                          ngx_http_trigger_chain_combine_names,
                                          3) >= 0)
        {
            return ngx_http_trigger_chain_error(ctx, jp, "a combination "
                                      "holds events, not other combinations");
        }

        return ngx_http_trigger_chain_error(ctx, jp,
                           "unknown event \"%s\" (expected %s)", name,
                           ngx_http_trigger_chain_list(list, sizeof(list),
                                          ngx_http_trigger_chain_event_names,
                                          NGX_HTTP_TRIGGER_CHAIN_EV_COUNT));
    }

    p->type = type;

    if (params != NULL) {
        ngx_http_trigger_chain_path_key(path, jp, name);

        if (!json_is_object(params)) {
            return ngx_http_trigger_chain_error(ctx, path,
                                     "expected an object of thresholds ({} "
                                     "for none)");
        }

    } else {
        /* the string form: checked as an event without thresholds */
        snprintf(path, sizeof(path), "%s", jp);
    }

    switch (type) {

    case NGX_HTTP_TRIGGER_CHAIN_EV_VISIT:
        if (ngx_http_trigger_chain_keys(ctx, path, params, visit_keys) != 0) {
            return -1;
        }

        a = json_object_get(params, "depth");

        if (a != NULL) {
            if (!json_is_integer(a) || json_integer_value(a) < 1
                || json_integer_value(a) > 10000)
            {
                ngx_http_trigger_chain_path_key(sub, path, "depth");
                return ngx_http_trigger_chain_error(ctx, sub,
                                          "expected pages, a whole number");
            }

            p->depth = json_integer_value(a);
        }

        if (json_object_get(params, "duration") != NULL) {
            return ngx_http_trigger_chain_duration_member(ctx, path, params,
                                                  "duration", 0,
                                                  &p->duration);
        }

        return 0;

    case NGX_HTTP_TRIGGER_CHAIN_EV_RETURN:
        return (ngx_http_trigger_chain_keys(ctx, path, params, return_keys)
                != 0
                || ngx_http_trigger_chain_duration_member(ctx, path, params,
                                                          "away", 1,
                                                          &p->away)
                   != 0) ? -1 : 0;

    case NGX_HTTP_TRIGGER_CHAIN_EV_LAPSE:
        return (ngx_http_trigger_chain_keys(ctx, path, params, lapse_keys)
                != 0
                || ngx_http_trigger_chain_duration_member(ctx, path, params,
                                                          "after", 1,
                                                          &p->away)
                   != 0) ? -1 : 0;

    case NGX_HTTP_TRIGGER_CHAIN_EV_SOCIAL:
        if (ngx_http_trigger_chain_keys(ctx, path, params, social_keys)
            != 0)
        {
            return -1;
        }

        a = json_object_get(params, "action");

        if (a == NULL) {
            return 0;
        }

        action = json_is_string(a)
                 ? ngx_http_trigger_chain_lookup(json_string_value(a),
                                        ngx_http_trigger_chain_social_names
                                        + 1, 3)
                 : -1;

        if (action < 0) {
            ngx_http_trigger_chain_path_key(sub, path, "action");
            return ngx_http_trigger_chain_error(ctx, sub,
                           "expected \"like\", \"share\" or \"invite\"");
        }

        p->action = action + 1;
        return 0;

    default:
        return ngx_http_trigger_chain_keys(ctx, path, params, no_keys);
    }
}


/*
 * "event", {"event": {thresholds}}, {"all": [...], "within": "1d"},
 * {"any": [...]} or {"sequence": [...], "within": "1h"}
 */

static int
ngx_http_trigger_chain_trigger(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *v, ngx_http_trigger_chain_trigger_t *t)
{
    int          c;
    char         path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX],
                 item[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX];
    size_t       i, n;
    json_t      *list, *e;
    const char  *keys[3];

    list = NULL;

    for (c = 0; c < 3 && json_is_object(v); c++) {
        list = json_object_get(v, ngx_http_trigger_chain_combine_names[c]);

        if (list != NULL) {
            break;
        }
    }

    if (list == NULL) {
        t->combine = NGX_HTTP_TRIGGER_CHAIN_ONE;
        t->nevents = 1;
        t->events = calloc(1, sizeof(ngx_http_trigger_chain_pattern_t));

        if (t->events == NULL) {
            return ngx_http_trigger_chain_error(ctx, jp, "out of memory");
        }

        return ngx_http_trigger_chain_pattern(ctx, jp, v, t->events, 0);
    }

    t->combine = NGX_HTTP_TRIGGER_CHAIN_ALL + c;

    keys[0] = ngx_http_trigger_chain_combine_names[c];
    keys[1] = (t->combine == NGX_HTTP_TRIGGER_CHAIN_ANY) ? NULL : "within";
    keys[2] = NULL;

    if (ngx_http_trigger_chain_keys(ctx, jp, v, keys) != 0) {
        return -1;
    }

    ngx_http_trigger_chain_path_key(path, jp, keys[0]);

    n = json_is_array(list) ? json_array_size(list) : 0;

    if (n < 2 || n > NGX_HTTP_TRIGGER_CHAIN_EVENTS_MAX) {
        return ngx_http_trigger_chain_error(ctx, path,
                                            "expected a list of 2 to %d events",
                                            NGX_HTTP_TRIGGER_CHAIN_EVENTS_MAX);
    }

    t->events = calloc(n, sizeof(ngx_http_trigger_chain_pattern_t));
    if (t->events == NULL) {
        return ngx_http_trigger_chain_error(ctx, jp, "out of memory");
    }

    t->nevents = n;

    json_array_foreach(list, i, e) {
        ngx_http_trigger_chain_path_index(item, path, i);

        if (ngx_http_trigger_chain_pattern(ctx, item, e, &t->events[i], 1)
            != 0)
        {
            return -1;
        }
    }

    /* a window makes "all" and "sequence" mean the same for everyone */
    if (t->combine != NGX_HTTP_TRIGGER_CHAIN_ANY) {
        return ngx_http_trigger_chain_duration_member(ctx, jp, v, "within",
                                                      1, &t->within);
    }

    return 0;
}


static int32_t
ngx_http_trigger_chain_emit(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, ngx_http_trigger_chain_op_e op, int64_t arg)
{
    ngx_http_trigger_chain_insn_t  *in;

    if (ctx->ncode == NGX_HTTP_TRIGGER_CHAIN_INSNS_MAX) {
        return ngx_http_trigger_chain_error(ctx, jp,
                                            "too many steps in this chain");
    }

    in = &ctx->code[ctx->ncode];
    in->op = op;
    in->arg = arg;
    in->jump = 0;

    return ctx->ncode++;
}


static int ngx_http_trigger_chain_steps(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *list, int depth);


static int
ngx_http_trigger_chain_if(ngx_http_trigger_chain_ctx_t *ctx, const char *jp,
    json_t *s, int depth)
{
    int          cond, negate;
    char         path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX], list[256];
    json_t      *v;
    int32_t      at, jump;
    const char  *name;

    v = json_object_get(s, "if");
    name = json_is_string(v) ? json_string_value(v) : "";

    /* "not cart_empty" reads better than an empty "then" */
    negate = (strncmp(name, "not ", 4) == 0);
    if (negate) {
        name += 4;
    }

    cond = ngx_http_trigger_chain_lookup(name,
                                         ngx_http_trigger_chain_cond_names,
                                         NGX_HTTP_TRIGGER_CHAIN_COND_COUNT);

    if (strcmp(name, "bought") == 0) {
        cond = NGX_HTTP_TRIGGER_CHAIN_PURCHASED;
    }

    if (cond < 0) {
        ngx_http_trigger_chain_path_key(path, jp, "if");
        return ngx_http_trigger_chain_error(ctx, path,
                           "unknown condition \"%s\" (expected %s, or one "
                           "of them after \"not \")", name,
                           ngx_http_trigger_chain_list(list, sizeof(list),
                                          ngx_http_trigger_chain_cond_names,
                                          NGX_HTTP_TRIGGER_CHAIN_COND_COUNT));
    }

    at = ngx_http_trigger_chain_emit(ctx, jp, negate
                                              ? NGX_HTTP_TRIGGER_CHAIN_OP_UNLESS
                                              : NGX_HTTP_TRIGGER_CHAIN_OP_IF,
                                     cond);
    if (at < 0) {
        return -1;
    }

    v = json_object_get(s, "then");

    if (v != NULL) {
        ngx_http_trigger_chain_path_key(path, jp, "then");

        if (ngx_http_trigger_chain_steps(ctx, path, v, depth + 1) != 0) {
            return -1;
        }
    }

    v = json_object_get(s, "else");

    if (v != NULL && json_is_array(v) && json_array_size(v) > 0) {
        jump = ngx_http_trigger_chain_emit(ctx, jp,
                                           NGX_HTTP_TRIGGER_CHAIN_OP_JUMP, 0);
        if (jump < 0) {
            return -1;
        }

        ctx->code[at].jump = ctx->ncode;

        ngx_http_trigger_chain_path_key(path, jp, "else");

        if (ngx_http_trigger_chain_steps(ctx, path, v, depth + 1) != 0) {
            return -1;
        }

        ctx->code[jump].jump = ctx->ncode;

        return 0;
    }

    if (v != NULL && !json_is_array(v)) {
        ngx_http_trigger_chain_path_key(path, jp, "else");
        return ngx_http_trigger_chain_error(ctx, path,
                                            "expected a list of steps");
    }

    if (ctx->ncode == at + 1) {
        return ngx_http_trigger_chain_error(ctx, jp,
                                     "nothing to do: no steps in \"then\" "
                                     "or \"else\"");
    }

    ctx->code[at].jump = ctx->ncode;

    return 0;
}


static int
ngx_http_trigger_chain_split(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *list, int depth)
{
    char            path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX],
                    item[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX],
                    sub[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX];
    size_t          i, n;
    json_t         *v, *w;
    int32_t         at, ends[NGX_HTTP_TRIGGER_CHAIN_VARIANTS_MAX];
    static const char  *keys[] = { "weight", "steps", NULL };

    ngx_http_trigger_chain_path_key(path, jp, "split");

    n = json_is_array(list) ? json_array_size(list) : 0;

    if (n < 2 || n > NGX_HTTP_TRIGGER_CHAIN_VARIANTS_MAX) {
        return ngx_http_trigger_chain_error(ctx, path, "expected 2 to %d "
                                 "variants: [{\"weight\": 50, \"steps\": "
                                 "[...]}, ...]",
                                 NGX_HTTP_TRIGGER_CHAIN_VARIANTS_MAX);
    }

    /* one draw per contact and chain, so one A/B test per chain */
    if (++ctx->nsplits > 1) {
        return ngx_http_trigger_chain_error(ctx, path,
                                      "a second split in this chain (one "
                                      "A/B test per chain)");
    }

    at = ngx_http_trigger_chain_emit(ctx, jp, NGX_HTTP_TRIGGER_CHAIN_OP_SPLIT,
                                     n);
    if (at < 0) {
        return -1;
    }

    json_array_foreach(list, i, v) {
        ngx_http_trigger_chain_path_index(item, path, i);

        if (!json_is_object(v)) {
            return ngx_http_trigger_chain_error(ctx, item,
                          "expected {\"weight\": 50, \"steps\": [...]}");
        }

        if (ngx_http_trigger_chain_keys(ctx, item, v, keys) != 0) {
            return -1;
        }

        w = json_object_get(v, "weight");

        if (!json_is_integer(w) || json_integer_value(w) < 1
            || json_integer_value(w) > NGX_HTTP_TRIGGER_CHAIN_WEIGHT_MAX)
        {
            ngx_http_trigger_chain_path_key(sub, item, "weight");
            return ngx_http_trigger_chain_error(ctx, sub,
                                  "expected a whole number above 0");
        }

        if (json_object_get(v, "steps") == NULL) {
            return ngx_http_trigger_chain_error(ctx, item, "no \"steps\" "
                                "([] for a control group that gets nothing)");
        }

        if (ngx_http_trigger_chain_emit(ctx, item,
                                        NGX_HTTP_TRIGGER_CHAIN_OP_VARIANT,
                                        json_integer_value(w))
            < 0)
        {
            return -1;
        }
    }

    json_array_foreach(list, i, v) {
        ngx_http_trigger_chain_path_index(item, path, i);
        ngx_http_trigger_chain_path_key(sub, item, "steps");

        ctx->code[at + 1 + i].jump = ctx->ncode;

        if (ngx_http_trigger_chain_steps(ctx, sub, json_object_get(v, "steps"),
                                         depth + 1)
            != 0)
        {
            return -1;
        }

        if (i < n - 1) {
            ends[i] = ngx_http_trigger_chain_emit(ctx, sub,
                                           NGX_HTTP_TRIGGER_CHAIN_OP_JUMP, 0);
            if (ends[i] < 0) {
                return -1;
            }
        }
    }

    for (i = 0; i < n - 1; i++) {
        ctx->code[ends[i]].jump = ctx->ncode;
    }

    return 0;
}


static int
ngx_http_trigger_chain_step(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *s, int depth)
{
    int          kind, k, letter;
    char         path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX], list[128];
    size_t       i;
    json_t      *v;
    int64_t      d;
    const char  *keys[4];

    kind = -1;

    for (k = 0; k < NGX_HTTP_TRIGGER_CHAIN_STEPS && json_is_object(s); k++) {
        if (json_object_get(s, ngx_http_trigger_chain_step_names[k]) == NULL) {
            continue;
        }

        if (kind >= 0) {
            return ngx_http_trigger_chain_error(ctx, jp, "one step at a "
                                      "time: \"%s\" and \"%s\" together",
                                      ngx_http_trigger_chain_step_names[kind],
                                      ngx_http_trigger_chain_step_names[k]);
        }

        kind = k;
    }

    if (kind < 0) {
        return ngx_http_trigger_chain_error(ctx, jp, "expected a step: %s",
                           ngx_http_trigger_chain_list(list, sizeof(list),
                                           ngx_http_trigger_chain_step_names,
                                           NGX_HTTP_TRIGGER_CHAIN_STEPS));
    }

    keys[0] = ngx_http_trigger_chain_step_names[kind];
    keys[1] = (kind == NGX_HTTP_TRIGGER_CHAIN_STEP_IF) ? "then" : NULL;
    keys[2] = (kind == NGX_HTTP_TRIGGER_CHAIN_STEP_IF) ? "else" : NULL;
    keys[3] = NULL;

    if (ngx_http_trigger_chain_keys(ctx, jp, s, keys) != 0) {
        return -1;
    }

    v = json_object_get(s, keys[0]);
    ngx_http_trigger_chain_path_key(path, jp, keys[0]);

    switch (kind) {

    case NGX_HTTP_TRIGGER_CHAIN_STEP_SEND:
        letter = -1;

        for (i = 0; json_is_string(v) && i < ctx->chains->nletters; i++) {
            if (strcmp(ctx->chains->letters[i].name, json_string_value(v))
                == 0)
            {
                letter = i;
                break;
            }
        }

        if (letter < 0) {
            return ngx_http_trigger_chain_error(ctx, path,
                                  "unknown letter \"%s\"",
                                  json_is_string(v) ? json_string_value(v)
                                                    : "");
        }

        ctx->nsends++;

        return (ngx_http_trigger_chain_emit(ctx, jp,
                                            NGX_HTTP_TRIGGER_CHAIN_OP_SEND,
                                            letter) < 0) ? -1 : 0;

    case NGX_HTTP_TRIGGER_CHAIN_STEP_WAIT:
        if (ngx_http_trigger_chain_duration_member(ctx, jp, s, "wait", 1, &d)
            != 0)
        {
            return -1;
        }

        return (ngx_http_trigger_chain_emit(ctx, jp,
                                            NGX_HTTP_TRIGGER_CHAIN_OP_WAIT, d)
                < 0) ? -1 : 0;

    case NGX_HTTP_TRIGGER_CHAIN_STEP_WAIT_UNTIL:
        if (ngx_http_trigger_chain_time_member(ctx, jp, s, "wait_until", &d)
            != 0)
        {
            return -1;
        }

        return (ngx_http_trigger_chain_emit(ctx, jp,
                                        NGX_HTTP_TRIGGER_CHAIN_OP_WAIT_UNTIL, d)
                < 0) ? -1 : 0;

    case NGX_HTTP_TRIGGER_CHAIN_STEP_IF:
        return ngx_http_trigger_chain_if(ctx, jp, s, depth);

    case NGX_HTTP_TRIGGER_CHAIN_STEP_SPLIT:
        return ngx_http_trigger_chain_split(ctx, jp, v, depth);

    default: /* NGX_HTTP_TRIGGER_CHAIN_STEP_EXIT */
        if (!json_is_true(v)) {
            return ngx_http_trigger_chain_error(ctx, path, "expected true");
        }

        return (ngx_http_trigger_chain_emit(ctx, jp,
                                            NGX_HTTP_TRIGGER_CHAIN_OP_EXIT, 0)
                < 0) ? -1 : 0;
    }
}


static int
ngx_http_trigger_chain_steps(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *list, int depth)
{
    char     path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX];
    size_t   i;
    json_t  *s, *prev;

    if (!json_is_array(list)) {
        return ngx_http_trigger_chain_error(ctx, jp,
                                            "expected a list of steps");
    }

    if (depth > NGX_HTTP_TRIGGER_CHAIN_DEPTH_MAX) {
        return ngx_http_trigger_chain_error(ctx, jp, "nested too deep (%d "
                                            "levels at most)",
                                            NGX_HTTP_TRIGGER_CHAIN_DEPTH_MAX);
    }

    prev = NULL;

    json_array_foreach(list, i, s) {
        ngx_http_trigger_chain_path_index(path, jp, i);

        if (prev != NULL && json_object_get(prev, "exit") != NULL) {
            return ngx_http_trigger_chain_error(ctx, path, "never reached: "
                                       "the step before it leaves the chain");
        }

        if (ngx_http_trigger_chain_step(ctx, path, s, depth) != 0) {
            return -1;
        }

        prev = s;
    }

    return 0;
}


static uint32_t
ngx_http_trigger_chain_hash(uint32_t h, const void *data, size_t len)
{
    size_t         i;
    const u_char  *p;

    for (i = 0, p = data; i < len; i++) {
        h = (h ^ p[i]) * 16777619u;
    }

    return h;
}


/*
 * The shape only: which steps, in which order, which letters and
 * conditions; not the numbers a marketer tunes (delays, times, weights).
 */

static uint32_t
ngx_http_trigger_chain_version(const ngx_http_trigger_chains_t *chains,
    const ngx_http_trigger_chain_insn_t *code, int32_t n)
{
    int32_t      i, op;
    uint32_t     h;
    const char  *name;

    h = 2166136261u;

    for (i = 0; i < n; i++) {
        op = code[i].op;
        h = ngx_http_trigger_chain_hash(h, &op, sizeof(op));
        h = ngx_http_trigger_chain_hash(h, &code[i].jump,
                                        sizeof(code[i].jump));

        switch (code[i].op) {

        case NGX_HTTP_TRIGGER_CHAIN_OP_SEND:
            name = chains->letters[code[i].arg].name;
            h = ngx_http_trigger_chain_hash(h, name, strlen(name) + 1);
            break;

        case NGX_HTTP_TRIGGER_CHAIN_OP_IF:
        case NGX_HTTP_TRIGGER_CHAIN_OP_UNLESS:
        case NGX_HTTP_TRIGGER_CHAIN_OP_SPLIT:
            h = ngx_http_trigger_chain_hash(h, &code[i].arg,
                                            sizeof(code[i].arg));
            break;

        default:
            break;
        }
    }

    return h;
}


static int
ngx_http_trigger_chain_chain(ngx_http_trigger_chain_ctx_t *ctx,
    const char *jp, json_t *v, size_t index)
{
    int                        cond;
    char                       path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX],
                               sub[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX],
                               list[256];
    size_t                     i, n;
    json_t                    *a, *e, *last;
    ngx_http_trigger_chain_t  *c;

    c = &ctx->chains->chains[index];

    if (!json_is_object(v)) {
        return ngx_http_trigger_chain_error(ctx, jp, "expected {\"name\": "
                                  "..., \"trigger\": ..., \"steps\": [...]}");
    }

    if (ngx_http_trigger_chain_keys(ctx, jp, v,
                                    ngx_http_trigger_chain_chain_keys)
        != 0)
    {
        return -1;
    }

    a = json_object_get(v, "name");
    ngx_http_trigger_chain_path_key(path, jp, "name");

    if (a == NULL) {
        return ngx_http_trigger_chain_error(ctx, jp, "no \"name\"");
    }

    if (!json_is_string(a)
        || !ngx_http_trigger_chain_valid_name(json_string_value(a)))
    {
        return ngx_http_trigger_chain_error(ctx, path,
                         "a name is letters, digits, \"_\" and \"-\", "
                         "64 at most");
    }

    for (i = 0; i < index; i++) {
        if (strcmp(ctx->chains->chains[i].name, json_string_value(a)) == 0) {
            return ngx_http_trigger_chain_error(ctx, path,
                                          "\"%s\" again (chains[%zu] has it)",
                                          json_string_value(a), i);
        }
    }

    c->name = strdup(json_string_value(a));
    if (c->name == NULL) {
        return ngx_http_trigger_chain_error(ctx, path, "out of memory");
    }

    a = json_object_get(v, "trigger");
    ngx_http_trigger_chain_path_key(path, jp, "trigger");

    if (a == NULL) {
        return ngx_http_trigger_chain_error(ctx, jp, "no \"trigger\"");
    }

    if (ngx_http_trigger_chain_trigger(ctx, path, a, &c->trigger) != 0) {
        return -1;
    }

    for (i = 0; i < c->trigger.nevents; i++) {
        c->events |= 1u << c->trigger.events[i].type;
    }

    c->exits = NGX_HTTP_TRIGGER_CHAIN_EXITS_ALWAYS;

    a = json_object_get(v, "exit");
    ngx_http_trigger_chain_path_key(path, jp, "exit");

    if (a != NULL && !json_is_array(a)) {
        return ngx_http_trigger_chain_error(ctx, path,
                         "expected a list: [\"purchased\", \"code_used\"]");
    }

    json_array_foreach(a, i, e) {
        cond = json_is_string(e)
               ? ngx_http_trigger_chain_lookup(json_string_value(e),
                                          ngx_http_trigger_chain_cond_names,
                                          NGX_HTTP_TRIGGER_CHAIN_COND_COUNT)
               : -1;

        if (json_is_string(e) && strcmp(json_string_value(e), "bought") == 0)
        {
            cond = NGX_HTTP_TRIGGER_CHAIN_PURCHASED;
        }

        if (cond < 0) {
            ngx_http_trigger_chain_path_index(sub, path, i);
            return ngx_http_trigger_chain_error(ctx, sub,
                           "unknown condition \"%s\" (expected %s)",
                           json_is_string(e) ? json_string_value(e) : "",
                           ngx_http_trigger_chain_list(list, sizeof(list),
                                          ngx_http_trigger_chain_cond_names,
                                          NGX_HTTP_TRIGGER_CHAIN_COND_COUNT));
        }

        c->exits |= 1u << cond;
    }

    a = json_object_get(v, "steps");
    ngx_http_trigger_chain_path_key(path, jp, "steps");

    if (a == NULL) {
        return ngx_http_trigger_chain_error(ctx, jp, "no \"steps\"");
    }

    ctx->ncode = 0;
    ctx->nsends = 0;
    ctx->nsplits = 0;

    if (ngx_http_trigger_chain_steps(ctx, path, a, 0) != 0) {
        return -1;
    }

    /* jumps only go forward, so a chain cannot loop; what can go wrong: */

    if (ctx->nsends == 0) {
        return ngx_http_trigger_chain_error(ctx, path, "no \"send\" step: "
                                      "this chain would never send a letter");
    }

    n = json_array_size(a);
    last = json_array_get(a, n - 1);

    if (json_object_get(last, "wait") != NULL
        || json_object_get(last, "wait_until") != NULL)
    {
        ngx_http_trigger_chain_path_index(sub, path, n - 1);
        return ngx_http_trigger_chain_error(ctx, sub, "a wait at the end "
                                      "of a chain has nothing to wait for");
    }

    c->program = malloc(ctx->ncode * sizeof(ngx_http_trigger_chain_insn_t));
    if (c->program == NULL) {
        return ngx_http_trigger_chain_error(ctx, path, "out of memory");
    }

    memcpy(c->program, ctx->code,
           ctx->ncode * sizeof(ngx_http_trigger_chain_insn_t));
    c->ninsns = ctx->ncode;
    c->version = ngx_http_trigger_chain_version(ctx->chains, c->program,
                                                c->ninsns);

    return 0;
}


static int
ngx_http_trigger_chain_cmp(const void *a, const void *b)
{
    int64_t  x, y;

    x = *(const int64_t *) a;
    y = *(const int64_t *) b;

    return (x > y) - (x < y);
}


/* what the caller needs to keep and to time: history, lapse timers */

static int
ngx_http_trigger_chain_summary(ngx_http_trigger_chain_ctx_t *ctx)
{
    size_t                             i, k, n;
    ngx_http_trigger_chains_t         *chains;
    ngx_http_trigger_chain_trigger_t  *t;

    chains = ctx->chains;
    n = 0;

    for (i = 0; i < chains->nchains; i++) {
        n += chains->chains[i].trigger.nevents;
    }

    chains->lapses = malloc(n * sizeof(int64_t));
    if (chains->lapses == NULL) {
        return ngx_http_trigger_chain_error(ctx, "chains", "out of memory");
    }

    for (i = 0; i < chains->nchains; i++) {
        t = &chains->chains[i].trigger;

        if (t->within > chains->history) {
            chains->history = t->within;
        }

        for (k = 0; k < t->nevents; k++) {
            if (t->events[k].type == NGX_HTTP_TRIGGER_CHAIN_EV_LAPSE) {
                chains->lapses[chains->nlapses++] = t->events[k].away;
            }
        }
    }

    qsort(chains->lapses, chains->nlapses, sizeof(int64_t),
          ngx_http_trigger_chain_cmp);

    for (i = 0, n = 0; i < chains->nlapses; i++) {
        if (n == 0 || chains->lapses[n - 1] != chains->lapses[i]) {
            chains->lapses[n++] = chains->lapses[i];
        }
    }

    chains->nlapses = n;

    return 0;
}


static int
ngx_http_trigger_chain_root(ngx_http_trigger_chain_ctx_t *ctx, json_t *root)
{
    char     path[NGX_HTTP_TRIGGER_CHAIN_PATH_MAX];
    size_t   i, n;
    json_t  *v;

    if (!json_is_object(root)) {
        return ngx_http_trigger_chain_error(ctx, "", "expected an object "
                                      "with \"letters\" and \"chains\"");
    }

    if (ngx_http_trigger_chain_keys(ctx, "", root,
                                    ngx_http_trigger_chain_top_keys) != 0
        || ngx_http_trigger_chain_globals(ctx, root) != 0
        || ngx_http_trigger_chain_letters(ctx,
                                          json_object_get(root, "letters"))
           != 0)
    {
        return -1;
    }

    v = json_object_get(root, "chains");

    if (v == NULL) {
        return ngx_http_trigger_chain_error(ctx, "", "no \"chains\"");
    }

    n = json_is_array(v) ? json_array_size(v) : 0;

    if (n == 0 || n > NGX_HTTP_TRIGGER_CHAIN_CHAINS_MAX) {
        return ngx_http_trigger_chain_error(ctx, "chains",
                                            "expected a list of 1 to %d "
                                            "chains",
                                            NGX_HTTP_TRIGGER_CHAIN_CHAINS_MAX);
    }

    ctx->chains->chains = calloc(n, sizeof(ngx_http_trigger_chain_t));
    if (ctx->chains->chains == NULL) {
        return ngx_http_trigger_chain_error(ctx, "chains", "out of memory");
    }

    for (i = 0; i < n; i++) {
        ngx_http_trigger_chain_path_index(path, "chains", i);

        ctx->chains->nchains++;

        if (ngx_http_trigger_chain_chain(ctx, path, json_array_get(v, i), i)
            != 0)
        {
            return -1;
        }
    }

    return ngx_http_trigger_chain_summary(ctx);
}


int
ngx_http_trigger_chains_load(const char *path,
    ngx_http_trigger_chains_t **out, char *err, size_t err_len)
{
    int                            rc;
    json_t                        *root;
    const char                    *slash;
    json_error_t                   je;
    ngx_http_trigger_chain_ctx_t  *ctx;

    root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

    if (root == NULL) {
        if (je.line > 0) {
            snprintf(err, err_len, "%s:%d:%d: %s", path, je.line, je.column,
                     je.text);

        } else {
            snprintf(err, err_len, "%s", je.text);
        }

        return -1;
    }

    ctx = calloc(1, sizeof(ngx_http_trigger_chain_ctx_t));
    if (ctx == NULL) {
        json_decref(root);
        snprintf(err, err_len, "%s: out of memory", path);
        return -1;
    }

    ctx->file = path;
    ctx->err = err;
    ctx->err_len = err_len;
    ctx->chains = calloc(1, sizeof(ngx_http_trigger_chains_t));

    slash = strrchr(path, '/');
    ctx->dir = (slash == NULL) ? strdup(".")
                               : strndup(path, (slash == path) ? 1
                                                               : slash - path);

    if (ctx->chains == NULL || ctx->dir == NULL) {
        rc = ngx_http_trigger_chain_error(ctx, "", "out of memory");

    } else {
        ctx->chains->quiet_from = -1;
        ctx->chains->quiet_to = -1;

        rc = ngx_http_trigger_chain_root(ctx, root);
    }

    if (rc == 0) {
        *out = ctx->chains;

    } else {
        ngx_http_trigger_chains_free(ctx->chains);
    }

    free(ctx->dir);
    free(ctx);
    json_decref(root);

    return rc;
}


void
ngx_http_trigger_chains_free(ngx_http_trigger_chains_t *chains)
{
    size_t                                   i;
    ngx_http_trigger_chain_letter_t         *l;
    const ngx_http_trigger_chain_default_t  *d;

    if (chains == NULL) {
        return;
    }

    for (i = 0; i < chains->nletters; i++) {
        l = &chains->letters[i];
        free(l->name);
        free(l->subject);
        free(l->html);
        free(l->text);
        free(l->html_file);
        free(l->text_file);
        free(l->esp_template);
        json_decref(l->data);
    }

    for (i = 0; i < chains->nchains; i++) {
        free(chains->chains[i].name);
        free(chains->chains[i].trigger.events);
        free(chains->chains[i].program);
    }

    for (d = ngx_http_trigger_chain_defaults; d->key; d++) {
        free(*(char **) ((u_char *) chains + d->offset));
    }

    free(chains->letters);
    free(chains->chains);
    free(chains->lapses);
    free(chains);
}


const ngx_http_trigger_chain_t *
ngx_http_trigger_chain_find(const ngx_http_trigger_chains_t *chains,
    const u_char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < chains->nchains; i++) {
        if (strncmp(chains->chains[i].name, (const char *) name, len) == 0
            && chains->chains[i].name[len] == '\0')
        {
            return &chains->chains[i];
        }
    }

    return NULL;
}


static int
ngx_http_trigger_chain_match(const ngx_http_trigger_chain_pattern_t *p,
    const ngx_http_trigger_chain_event_t *e)
{
    if (p->type != e->type) {
        return 0;
    }

    switch (p->type) {

    case NGX_HTTP_TRIGGER_CHAIN_EV_VISIT:
        return e->depth >= p->depth && e->duration >= p->duration;

    case NGX_HTTP_TRIGGER_CHAIN_EV_RETURN:
    case NGX_HTTP_TRIGGER_CHAIN_EV_LAPSE:
        return e->away >= p->away;

    case NGX_HTTP_TRIGGER_CHAIN_EV_SOCIAL:
        return p->action == NGX_HTTP_TRIGGER_CHAIN_SOCIAL_ANY
               || p->action == e->action;

    default:
        return 1;
    }
}


/*
 * The new event completes a pattern: it matches, and for a visit's depth
 * or duration it is the first of its visit to do so (every page after
 * the threshold matches too, and a visit is one event for a chain).
 */

static int
ngx_http_trigger_chain_completes(const ngx_http_trigger_chain_pattern_t *p,
    const ngx_http_trigger_chain_event_t *history, size_t n,
    const ngx_http_trigger_chain_event_t *ev)
{
    size_t  i;

    if (!ngx_http_trigger_chain_match(p, ev)) {
        return 0;
    }

    if (p->type != NGX_HTTP_TRIGGER_CHAIN_EV_VISIT) {
        return 1;
    }

    for (i = 0; i < n; i++) {
        if (history[i].type == NGX_HTTP_TRIGGER_CHAIN_EV_VISIT
            && history[i].time - history[i].duration
               == ev->time - ev->duration
            && ngx_http_trigger_chain_match(p, &history[i]))
        {
            return 0;
        }
    }

    return 1;
}


int
ngx_http_trigger_chain_fires(const ngx_http_trigger_chain_trigger_t *t,
    const ngx_http_trigger_chain_event_t *history, size_t n,
    const ngx_http_trigger_chain_event_t *ev, int64_t since)
{
    int      fired;
    size_t   i, k;
    int64_t  from;

    /* what started the chain before cannot start it again */
    if (ev->time <= since) {
        return 0;
    }

    from = ev->time - t->within;

    if (from <= since) {
        from = since + 1;
    }

    switch (t->combine) {

    case NGX_HTTP_TRIGGER_CHAIN_ONE:
    case NGX_HTTP_TRIGGER_CHAIN_ANY:
        for (k = 0; k < t->nevents; k++) {
            if (ngx_http_trigger_chain_completes(&t->events[k], history, n,
                                                 ev))
            {
                return 1;
            }
        }

        return 0;

    case NGX_HTTP_TRIGGER_CHAIN_ALL:
        fired = 0;

        for (k = 0; k < t->nevents; k++) {
            if (ngx_http_trigger_chain_completes(&t->events[k], history, n,
                                                 ev))
            {
                fired = 1;
                continue;
            }

            for (i = 0; i < n; i++) {
                if (history[i].time >= from && history[i].time <= ev->time
                    && ngx_http_trigger_chain_match(&t->events[k],
                                                    &history[i]))
                {
                    break;
                }
            }

            if (i == n) {
                return 0;
            }
        }

        return fired;

    default: /* NGX_HTTP_TRIGGER_CHAIN_SEQUENCE */
        if (!ngx_http_trigger_chain_completes(&t->events[t->nevents - 1],
                                              history, n, ev))
        {
            return 0;
        }

        /* the earliest match of each in turn leaves most for the rest */
        for (i = 0, k = 0; i < n && k < t->nevents - 1; i++) {
            if (history[i].time >= from && history[i].time <= ev->time
                && ngx_http_trigger_chain_match(&t->events[k], &history[i]))
            {
                k++;
            }
        }

        return k == t->nevents - 1;
    }
}


static int
ngx_http_trigger_chain_holds(ngx_http_trigger_chain_cond_e cond,
    const ngx_http_trigger_chain_contact_t *c, int64_t now)
{
    switch (cond) {

    case NGX_HTTP_TRIGGER_CHAIN_PURCHASED:
        return c->purchased;

    case NGX_HTTP_TRIGGER_CHAIN_CODE_USED:
        return c->code_used;

    case NGX_HTTP_TRIGGER_CHAIN_CODE_EXPIRED:
        return c->code_expires > 0 && now >= c->code_expires;

    case NGX_HTTP_TRIGGER_CHAIN_CART_EMPTY:
        return c->cart_empty;

    case NGX_HTTP_TRIGGER_CHAIN_UNSUBSCRIBED:
        return c->unsubscribed;

    case NGX_HTTP_TRIGGER_CHAIN_BOUNCED:
        return c->bounced;

    case NGX_HTTP_TRIGGER_CHAIN_COMPLAINED:
        return c->complained;

    case NGX_HTTP_TRIGGER_CHAIN_OPENED_PREVIOUS:
        return c->opened_previous;

    default: /* NGX_HTTP_TRIGGER_CHAIN_CLICKED_PREVIOUS */
        return c->clicked_previous;
    }
}


static int32_t
ngx_http_trigger_chain_offset(const ngx_http_trigger_chain_contact_t *c,
    int64_t t)
{
    return c->utc_offset ? c->utc_offset(c->zone, t) : 0;
}


/* the first moment from now on when the contact's clock shows tod */

static int64_t
ngx_http_trigger_chain_next_local(const ngx_http_trigger_chain_contact_t *c,
    int64_t now, int64_t tod)
{
    int64_t  local, target, t;

    local = now + ngx_http_trigger_chain_offset(c, now);
    target = ngx_http_trigger_chain_floor_div(local, 86400) * 86400 + tod;

    if (target < local) {
        target += 86400;
    }

    /* with the offset of that moment: a clock change may come between */
    t = target - ngx_http_trigger_chain_offset(c, now);
    t = target - ngx_http_trigger_chain_offset(c, t);

    return (t > now) ? t : now;
}


/* 0, or the end of the quiet hours the contact is in now */

static int64_t
ngx_http_trigger_chain_quiet(const ngx_http_trigger_chains_t *chains,
    const ngx_http_trigger_chain_contact_t *c, int64_t now)
{
    int      quiet;
    int64_t  local, tod;

    if (chains->quiet_from < 0) {
        return 0;
    }

    local = now + ngx_http_trigger_chain_offset(c, now);
    tod = local - ngx_http_trigger_chain_floor_div(local, 86400) * 86400;

    if (chains->quiet_from < chains->quiet_to) {
        quiet = (tod >= chains->quiet_from && tod < chains->quiet_to);

    } else {
        quiet = (tod >= chains->quiet_from || tod < chains->quiet_to);
    }

    return quiet ? ngx_http_trigger_chain_next_local(c, now, chains->quiet_to)
                 : 0;
}


/* the same variant for a contact every time, in the weights' shares */

static int
ngx_http_trigger_chain_draw(const ngx_http_trigger_chain_t *chain,
    int32_t pc, const ngx_http_trigger_chain_contact_t *c)
{
    int       v, n;
    int64_t   total, r;
    uint32_t  h;

    h = ngx_http_trigger_chain_hash(2166136261u, c->id, c->id_len);
    h = ngx_http_trigger_chain_hash(h, "", 1);
    h = ngx_http_trigger_chain_hash(h, chain->name, strlen(chain->name));

    /* FNV's low bits are poor alone: mix them (MurmurHash3's finalizer) */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;

    n = chain->program[pc].arg;
    total = 0;

    for (v = 0; v < n; v++) {
        total += chain->program[pc + 1 + v].arg;
    }

    r = h % total;

    for (v = 0; v < n - 1; v++) {
        r -= chain->program[pc + 1 + v].arg;

        if (r < 0) {
            break;
        }
    }

    return v;
}


void
ngx_http_trigger_chain_next(const ngx_http_trigger_chains_t *chains,
    const ngx_http_trigger_chain_t *chain, int32_t pc,
    const ngx_http_trigger_chain_contact_t *contact, int64_t now,
    ngx_http_trigger_chain_action_t *action)
{
    int                                   v, cond;
    int64_t                               until;
    const ngx_http_trigger_chain_insn_t  *in;

    memset(action, 0, sizeof(ngx_http_trigger_chain_action_t));
    action->act = NGX_HTTP_TRIGGER_CHAIN_DONE;
    action->variant = -1;
    action->pc = pc;

    if (pc < 0 || pc > chain->ninsns) {
        action->done = NGX_HTTP_TRIGGER_CHAIN_DONE_INVALID;
        return;
    }

    /* the state is the same for the whole call: checked before any send */
    for (cond = 0; cond < NGX_HTTP_TRIGGER_CHAIN_COND_COUNT; cond++) {
        if ((chain->exits & (1u << cond))
            && ngx_http_trigger_chain_holds(cond, contact, now))
        {
            action->done = NGX_HTTP_TRIGGER_CHAIN_DONE_COND;
            action->cond = cond;
            return;
        }
    }

    /* jumps only go forward: this ends within ninsns turns */
    for ( ;; ) {
        action->pc = pc;

        if (pc == chain->ninsns) {
            action->done = NGX_HTTP_TRIGGER_CHAIN_DONE_END;
            return;
        }

        in = &chain->program[pc];

        switch (in->op) {

        case NGX_HTTP_TRIGGER_CHAIN_OP_SEND:
            action->act = NGX_HTTP_TRIGGER_CHAIN_WAIT;

            /* delayed, never dropped: the send itself is resumed */
            until = ngx_http_trigger_chain_quiet(chains, contact, now);

            if (until > now) {
                action->wait = NGX_HTTP_TRIGGER_CHAIN_WAIT_QUIET;
                action->until = until;
                return;
            }

            if (chains->cap_letters > 0
                && contact->cap_sent >= chains->cap_letters
                && now < contact->cap_start + chains->cap_per)
            {
                action->wait = NGX_HTTP_TRIGGER_CHAIN_WAIT_CAP;
                action->until = contact->cap_start + chains->cap_per;
                return;
            }

            action->act = NGX_HTTP_TRIGGER_CHAIN_SEND;
            action->letter = &chains->letters[in->arg];
            action->pc = pc + 1;
            return;

        case NGX_HTTP_TRIGGER_CHAIN_OP_WAIT:
            action->act = NGX_HTTP_TRIGGER_CHAIN_WAIT;
            action->until = now + in->arg;
            action->pc = pc + 1;
            return;

        case NGX_HTTP_TRIGGER_CHAIN_OP_WAIT_UNTIL:
            until = ngx_http_trigger_chain_next_local(contact, now, in->arg);
            pc++;

            if (until > now) {
                action->act = NGX_HTTP_TRIGGER_CHAIN_WAIT;
                action->until = until;
                action->pc = pc;
                return;
            }

            break;

        case NGX_HTTP_TRIGGER_CHAIN_OP_IF:
            pc = ngx_http_trigger_chain_holds(in->arg, contact, now)
                 ? pc + 1 : in->jump;
            break;

        case NGX_HTTP_TRIGGER_CHAIN_OP_UNLESS:
            pc = ngx_http_trigger_chain_holds(in->arg, contact, now)
                 ? in->jump : pc + 1;
            break;

        case NGX_HTTP_TRIGGER_CHAIN_OP_JUMP:
            pc = in->jump;
            break;

        case NGX_HTTP_TRIGGER_CHAIN_OP_SPLIT:
            v = contact->variant;

            if (v < 0 || v >= in->arg) {
                v = ngx_http_trigger_chain_draw(chain, pc, contact);
                action->drawn = 1;
            }

            action->variant = v;
            pc = chain->program[pc + 1 + v].jump;
            break;

        default:
            /* a VARIANT is never a place to be in */
            action->done = (in->op == NGX_HTTP_TRIGGER_CHAIN_OP_EXIT)
                           ? NGX_HTTP_TRIGGER_CHAIN_DONE_EXIT
                           : NGX_HTTP_TRIGGER_CHAIN_DONE_INVALID;
            return;
        }
    }
}


void
ngx_http_trigger_chain_cap_count(const ngx_http_trigger_chains_t *chains,
    ngx_http_trigger_chain_contact_t *contact, int64_t now)
{
    if (contact->cap_start == 0
        || now >= contact->cap_start + chains->cap_per)
    {
        contact->cap_start = now;
        contact->cap_sent = 0;
    }

    contact->cap_sent++;
}


const char *
ngx_http_trigger_chain_reason(const ngx_http_trigger_chain_action_t *action)
{
    static const char  *waits[] = { "wait", "quiet_hours", "cap" };
    static const char  *dones[] = { "end", "exit", NULL, "invalid" };

    switch (action->act) {

    case NGX_HTTP_TRIGGER_CHAIN_SEND:
        return "send";

    case NGX_HTTP_TRIGGER_CHAIN_WAIT:
        return waits[action->wait];

    default:
        return (action->done == NGX_HTTP_TRIGGER_CHAIN_DONE_COND)
               ? ngx_http_trigger_chain_cond_names[action->cond]
               : dones[action->done];
    }
}
