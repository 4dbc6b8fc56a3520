/*
 * Email service providers: requests for their send APIs and the meaning
 * of their answers.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "ngx_http_trigger_provider.h"
#include "ngx_http_trigger_event.h"
#include "ngx_http_trigger_sign.h"


#define NGX_HTTP_TRIGGER_NAME_MAX      200
#define NGX_HTTP_TRIGGER_SUBJECT_MAX   500
#define NGX_HTTP_TRIGGER_URL_MAX       900
#define NGX_HTTP_TRIGGER_KEY_MAX       64
#define NGX_HTTP_TRIGGER_META_FIELDS   10
#define NGX_HTTP_TRIGGER_META_NAME     20
#define NGX_HTTP_TRIGGER_META_VALUE    80
#define NGX_HTTP_TRIGGER_CHUNK_SIZE    4096

#define NGX_HTTP_TRIGGER_ONE_CLICK     "List-Unsubscribe=One-Click"
#define NGX_HTTP_TRIGGER_JSON_TYPE     "application/json"

#define NGX_HTTP_TRIGGER_NOMEM         "out of memory"


struct ngx_http_trigger_chunk_s {
    ngx_http_trigger_chunk_t  *next;
    size_t                     size;
    size_t                     used;
    u_char                     data[];
};


/* a growing string for the parts made piece by piece */
typedef struct {
    char                      *data;
    size_t                     len;
    size_t                     size;
    int                        nomem;
} ngx_http_trigger_buf_t;


typedef const char *(*ngx_http_trigger_build_pt)(
    const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now);


typedef struct {
    const char                *name;
    /* the API's base URL when the profile has none */
    const char                *url;
    /* where the success body has the message id */
    const char                *id_field;
    unsigned                   templates:1;
    ngx_http_trigger_build_pt  build;
} ngx_http_trigger_provider_info_t;


static const char *ngx_http_trigger_sendgrid(
    const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now);
static const char *ngx_http_trigger_mailgun(
    const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now);
static const char *ngx_http_trigger_postmark(
    const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now);
static const char *ngx_http_trigger_brevo(
    const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now);
static const char *ngx_http_trigger_unisender_go(
    const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now);
static const char *ngx_http_trigger_json(
    const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now);
static const char *ngx_http_trigger_smtp(
    const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now);


static const ngx_http_trigger_provider_info_t
    ngx_http_trigger_providers[NGX_HTTP_TRIGGER_PROVIDER_COUNT] =
{
    { NULL, NULL, NULL, 0, NULL },
    { "sendgrid", "https://api.sendgrid.com", NULL, 1,
      ngx_http_trigger_sendgrid },
    { "mailgun", "https://api.mailgun.net", "id", 1,
      ngx_http_trigger_mailgun },
    { "postmark", "https://api.postmarkapp.com", "MessageID", 1,
      ngx_http_trigger_postmark },
    { "brevo", "https://api.brevo.com", "messageId", 1,
      ngx_http_trigger_brevo },
    /* the host is the account's: the profile's region_host */
    { "unisender_go", NULL, "job_id", 1, ngx_http_trigger_unisender_go },
    { "json", NULL, "id", 0, ngx_http_trigger_json },
    { "smtp", NULL, NULL, 0, ngx_http_trigger_smtp }
};


/* the request's arena: chunks freed together */

static void *
ngx_http_trigger_alloc(ngx_http_trigger_http_request_t *req, size_t size)
{
    size_t                     n;
    u_char                    *p;
    ngx_http_trigger_chunk_t  *c;

    size = (size + 7) & ~(size_t) 7;
    c = req->chunks;

    if (c == NULL || c->size - c->used < size) {
        n = size > NGX_HTTP_TRIGGER_CHUNK_SIZE ? size
                                               : NGX_HTTP_TRIGGER_CHUNK_SIZE;

        c = malloc(sizeof(ngx_http_trigger_chunk_t) + n);
        if (c == NULL) {
            return NULL;
        }

        c->next = req->chunks;
        c->size = n;
        c->used = 0;
        req->chunks = c;
    }

    p = c->data + c->used;
    c->used += size;

    return p;
}


static char *
ngx_http_trigger_strndup(ngx_http_trigger_http_request_t *req,
    const char *s, size_t len)
{
    char  *p;

    p = ngx_http_trigger_alloc(req, len + 1);

    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }

    return p;
}


static char *
ngx_http_trigger_sprintf(ngx_http_trigger_http_request_t *req,
    const char *fmt, ...)
{
    int      n;
    char    *p;
    va_list  args;

    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);

    if (n < 0) {
        return NULL;
    }

    p = ngx_http_trigger_alloc(req, n + 1);

    if (p != NULL) {
        va_start(args, fmt);
        vsnprintf(p, n + 1, fmt, args);
        va_end(args);
    }

    return p;
}


void
ngx_http_trigger_request_free(ngx_http_trigger_http_request_t *req)
{
    ngx_http_trigger_chunk_t  *c, *next;

    if (req == NULL) {
        return;
    }

    for (c = req->chunks; c; c = next) {
        next = c->next;
        free(c);
    }

    free(req);
}


static void
ngx_http_trigger_buf_add(ngx_http_trigger_buf_t *b, const void *s, size_t n)
{
    char    *p;
    size_t   size;

    if (b->nomem) {
        return;
    }

    if (b->size - b->len < n + 1) {
        size = b->size ? 2 * b->size : 1024;

        if (size < b->len + n + 1) {
            size = b->len + n + 1;
        }

        p = realloc(b->data, size);
        if (p == NULL) {
            b->nomem = 1;
            return;
        }

        b->data = p;
        b->size = size;
    }

    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}


static void
ngx_http_trigger_buf_str(ngx_http_trigger_buf_t *b, const char *s)
{
    ngx_http_trigger_buf_add(b, s, strlen(s));
}


/* moves the buffer's text into the request's arena */

static char *
ngx_http_trigger_buf_done(ngx_http_trigger_http_request_t *req,
    ngx_http_trigger_buf_t *b, size_t *len)
{
    char  *p;

    p = b->nomem ? NULL : ngx_http_trigger_strndup(req, b->data, b->len);

    if (len) {
        *len = b->len;
    }

    free(b->data);

    return p;
}


/* validation */

static int
ngx_http_trigger_utf8(const u_char *p, size_t len)
{
    u_char  c, lo, hi;
    size_t  i, k, n;

    i = 0;

    while (i < len) {
        c = p[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        if (c < 0xc2 || c > 0xf4) {
            return 0;
        }

        n = (c < 0xe0) ? 1 : (c < 0xf0) ? 2 : 3;

        if (len - i <= n) {
            return 0;
        }

        /* no overlong forms, surrogates or code points over U+10FFFF */
        lo = (c == 0xe0) ? 0xa0 : (c == 0xf0) ? 0x90 : 0x80;
        hi = (c == 0xed) ? 0x9f : (c == 0xf4) ? 0x8f : 0xbf;

        if (p[i + 1] < lo || p[i + 1] > hi) {
            return 0;
        }

        for (k = 2; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }

        i += n + 1;
    }

    return 1;
}


/* header text: UTF-8 without control characters, CR and LF above all */

static int
ngx_http_trigger_valid_text(const char *s, size_t max)
{
    size_t  i, len;

    len = strlen(s);

    if (len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((u_char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return ngx_http_trigger_utf8((const u_char *) s, len);
}


/* 1..max characters: ASCII letters, digits and those in extra */

static int
ngx_http_trigger_valid_word(const char *s, size_t max, const char *extra)
{
    size_t  i;

    if (s == NULL) {
        return 0;
    }

    for (i = 0; s[i]; i++) {
        if (i == max) {
            return 0;
        }

        if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
            || (s[i] >= '0' && s[i] <= '9') || strchr(extra, s[i]))
        {
            continue;
        }

        return 0;
    }

    return i > 0;
}


/* 1..max printable ASCII characters, space only if allowed */

static int
ngx_http_trigger_printable(const char *s, size_t max, int space)
{
    size_t  i;

    for (i = 0; s[i]; i++) {
        if (i == max || (u_char) s[i] > 0x7e || (u_char) s[i] < 0x20
            || (s[i] == ' ' && !space))
        {
            return 0;
        }
    }

    return i > 0;
}


static int
ngx_http_trigger_email(const char *s)
{
    return s && ngx_http_trigger_valid_email((const u_char *) s, strlen(s));
}


/*
 * https:// (plain http only to loopback: a test's or the demo's shop),
 * then no space, quote or angle bracket: it goes between <>
 */

static int ngx_http_trigger_loopback(const char *host);


static int
ngx_http_trigger_valid_url(const char *s)
{
    return ((strncmp(s, "https://", 8) == 0 && s[8] != '\0')
            || (strncmp(s, "http://", 7) == 0
                && ngx_http_trigger_loopback(s + 7)))
           && ngx_http_trigger_printable(s, NGX_HTTP_TRIGGER_URL_MAX, 0)
           && strpbrk(s, "<>\"\\") == NULL;
}


static int
ngx_http_trigger_ascii(const char *s)
{
    for ( /* void */ ; *s; s++) {
        if ((u_char) *s >= 0x80) {
            return 0;
        }
    }

    return 1;
}


/* encodings */

static void
ngx_http_trigger_base64(ngx_http_trigger_buf_t *b, const u_char *src,
    size_t len)
{
    char               q[4];
    static const char  digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    while (len) {
        q[0] = digits[src[0] >> 2];

        if (len == 1) {
            q[1] = digits[(src[0] & 3) << 4];
            q[2] = '=';
            q[3] = '=';
            len = 0;

        } else if (len == 2) {
            q[1] = digits[((src[0] & 3) << 4) | (src[1] >> 4)];
            q[2] = digits[(src[1] & 0x0f) << 2];
            q[3] = '=';
            len = 0;

        } else {
            q[1] = digits[((src[0] & 3) << 4) | (src[1] >> 4)];
            q[2] = digits[((src[1] & 0x0f) << 2) | (src[2] >> 6)];
            q[3] = digits[src[2] & 0x3f];
            src += 3;
            len -= 3;
        }

        ngx_http_trigger_buf_add(b, q, 4);
    }
}


/*
 * RFC 2047 "B" encoded-words, each at most 75 characters (45 bytes of
 * text), cut between characters and joined by sep
 */

static void
ngx_http_trigger_encoded_words(ngx_http_trigger_buf_t *b, const char *s,
    const char *sep)
{
    size_t         n, len;
    const u_char  *p;

    p = (const u_char *) s;
    len = strlen(s);

    while (len) {
        n = len < 45 ? len : 45;

        while (n < len && (p[n] & 0xc0) == 0x80) {
            n--;
        }

        ngx_http_trigger_buf_str(b, "=?UTF-8?B?");
        ngx_http_trigger_base64(b, p, n);
        ngx_http_trigger_buf_str(b, "?=");

        p += n;
        len -= n;

        if (len) {
            ngx_http_trigger_buf_str(b, sep);
        }
    }
}


static void
ngx_http_trigger_quoted(ngx_http_trigger_buf_t *b, const char *s)
{
    ngx_http_trigger_buf_add(b, "\"", 1);

    for ( /* void */ ; *s; s++) {
        if (*s == '"' || *s == '\\') {
            ngx_http_trigger_buf_add(b, "\\", 1);
        }

        ngx_http_trigger_buf_add(b, s, 1);
    }

    ngx_http_trigger_buf_add(b, "\"", 1);
}


/*
 * "name" <email>: a name that is not ASCII as encoded-words when ew_sep
 * is given (mail headers), else quoted as it is (APIs that encode it)
 */

static void
ngx_http_trigger_address(ngx_http_trigger_buf_t *b, const char *email,
    const char *name, const char *ew_sep)
{
    if (name == NULL || *name == '\0') {
        ngx_http_trigger_buf_str(b, email);
        return;
    }

    if (ew_sep && !ngx_http_trigger_ascii(name)) {
        ngx_http_trigger_encoded_words(b, name, ew_sep);

    } else {
        ngx_http_trigger_quoted(b, name);
    }

    ngx_http_trigger_buf_str(b, " <");
    ngx_http_trigger_buf_str(b, email);
    ngx_http_trigger_buf_str(b, ">");
}


static char *
ngx_http_trigger_address_str(ngx_http_trigger_http_request_t *req,
    const char *email, const char *name, const char *ew_sep)
{
    ngx_http_trigger_buf_t  b = { NULL, 0, 0, 0 };

    ngx_http_trigger_address(&b, email, name, ew_sep);

    return ngx_http_trigger_buf_done(req, &b, NULL);
}


/*
 * quoted-printable with CRLF line breaks (any of CRLF, LF, CR in the
 * text) and lines of at most 76 characters; a dot starting a line is
 * encoded, so no relay's dot handling can touch it
 */

static void
ngx_http_trigger_qp(ngx_http_trigger_buf_t *b, const char *s)
{
    int                c, next, col, n;
    char               q[3];
    static const char  hex[] = "0123456789ABCDEF";

    col = 0;

    while (*s) {
        c = (u_char) *s++;

        if (c == '\r' || c == '\n') {
            if (c == '\r' && *s == '\n') {
                s++;
            }

            ngx_http_trigger_buf_add(b, "\r\n", 2);
            col = 0;
            continue;
        }

        next = (u_char) *s;

        if ((c > 0x20 && c < 0x7f && c != '=' && !(c == '.' && col == 0))
            || ((c == ' ' || c == '\t')
                && next != '\0' && next != '\r' && next != '\n'))
        {
            q[0] = (char) c;
            n = 1;

        } else {
            q[0] = '=';
            q[1] = hex[c >> 4];
            q[2] = hex[c & 0x0f];
            n = 3;
        }

        if (col + n > 75) {
            ngx_http_trigger_buf_add(b, "=\r\n", 3);
            col = 0;
        }

        ngx_http_trigger_buf_add(b, q, n);
        col += n;
    }
}


/* profiles */

ngx_http_trigger_provider_e
ngx_http_trigger_provider_type(const char *name)
{
    int  i;

    for (i = 1; i < NGX_HTTP_TRIGGER_PROVIDER_COUNT; i++) {
        if (strcmp(name, ngx_http_trigger_providers[i].name) == 0) {
            return i;
        }
    }

    return NGX_HTTP_TRIGGER_PROVIDER_NONE;
}


/* keys go into header fields: a line break there would add a header */

static int
ngx_http_trigger_valid_secret(const char *s)
{
    for ( /* void */ ; *s; s++) {
        if ((u_char) *s < 0x20 || *s == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/*
 * secrets travel over TLS, except to the fake provider of a test: plain
 * only to loopback, if plain is given
 */

static int
ngx_http_trigger_valid_base(const char *url, const char *tls,
    const char *plain)
{
    size_t  n;

    if (!ngx_http_trigger_printable(url, NGX_HTTP_TRIGGER_URL_MAX, 0)
        || strpbrk(url, "<>\"\\?#") != NULL)
    {
        return 0;
    }

    n = strlen(tls);

    if (strncmp(url, tls, n) == 0) {
        return url[n] != '\0' && url[n] != '/';
    }

    if (plain == NULL || strncmp(url, plain, strlen(plain)) != 0) {
        return 0;
    }

    return ngx_http_trigger_loopback(url + strlen(plain));
}


/* a URL's host and what follows: 127.x, [::1] or localhost */

static int
ngx_http_trigger_loopback(const char *host)
{
    size_t  n;

    if (*host == '[') {
        /* then a port, a path or the end */
        return strncmp(host, "[::1]", 5) == 0 && strchr(":/?", host[5]);
    }

    n = strcspn(host, ":/?");

    return (n == 9 && strncmp(host, "localhost", 9) == 0)
           || (n >= 9 && strncmp(host, "127.", 4) == 0
               && strspn(host, "0123456789.") == n);
}


const char *
ngx_http_trigger_provider_check(const ngx_http_trigger_provider_t *p)
{
    if (p->type <= NGX_HTTP_TRIGGER_PROVIDER_NONE
        || p->type >= NGX_HTTP_TRIGGER_PROVIDER_COUNT)
    {
        return "unknown provider";
    }

    if (p->api_key == NULL) {
        if (p->type != NGX_HTTP_TRIGGER_PROVIDER_JSON
            && p->type != NGX_HTTP_TRIGGER_PROVIDER_SMTP)
        {
            return "the provider needs an API key";
        }

        if (p->user) {
            return "an SMTP login needs a password";
        }

    } else if (*p->api_key == '\0'
               || !ngx_http_trigger_valid_secret(p->api_key))
    {
        return "the API key is empty or has a control character";
    }

    if (p->user && !ngx_http_trigger_valid_text(p->user, 255)) {
        return "the SMTP login has a control character";
    }

    if (p->type == NGX_HTTP_TRIGGER_PROVIDER_SMTP) {
        /* smtp:// is for STARTTLS: the sender must require it */
        if (p->base_url == NULL
            || !(ngx_http_trigger_valid_base(p->base_url, "smtps://", NULL)
                 || ngx_http_trigger_valid_base(p->base_url, "smtp://",
                                                NULL)))
        {
            return "SMTP needs a URL: smtps://host[:port] or smtp://host:587";
        }

    } else if (p->base_url) {
        if (!ngx_http_trigger_valid_base(p->base_url, "https://", "http://")) {
            return "the URL is not https:// (plain http only to loopback)";
        }

    } else if (p->type == NGX_HTTP_TRIGGER_PROVIDER_JSON) {
        return "the JSON profile needs a URL";
    }

    if (p->type == NGX_HTTP_TRIGGER_PROVIDER_MAILGUN
        && !ngx_http_trigger_valid_word(p->domain, 253, ".-"))
    {
        return "Mailgun needs the sending domain";
    }

    if (p->type == NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO && p->base_url == NULL
        && !ngx_http_trigger_valid_word(p->region_host, 253, ".-"))
    {
        return "UniSender Go needs the account's host (go1.unisender.ru)";
    }

    if (p->message_stream
        && !ngx_http_trigger_valid_word(p->message_stream, 64, "_-"))
    {
        return "the message stream is not 1-64 of A-Z, a-z, 0-9, _ and -";
    }

    if (p->from_email && !ngx_http_trigger_email(p->from_email)) {
        return "the sender's address is not valid";
    }

    if (p->from_name
        && !ngx_http_trigger_valid_text(p->from_name,
                                        NGX_HTTP_TRIGGER_NAME_MAX))
    {
        return "the sender's name has a control character or is too long";
    }

    return NULL;
}


const char *
ngx_http_trigger_secret_read(const char *path, char *buf, size_t size,
    size_t *len)
{
    int          fd;
    size_t       n;
    ssize_t      r;
    const char  *err;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return "cannot open the secret file";
    }

    n = 0;
    err = NULL;

    while (n < size) {
        r = read(fd, buf + n, size - n);

        if (r == -1) {
            if (errno == EINTR) {
                continue;
            }

            err = "cannot read the secret file";
            break;
        }

        if (r == 0) {
            break;
        }

        n += r;
    }

    close(fd);

    if (err == NULL && n == size) {
        err = "the secret file is too large";
    }

    if (err == NULL) {
        if (n && buf[n - 1] == '\n') {
            n--;

            if (n && buf[n - 1] == '\r') {
                n--;
            }
        }

        buf[n] = '\0';

        if (n == 0) {
            err = "the secret file is empty";

        } else if (strlen(buf) != n || !ngx_http_trigger_valid_secret(buf)) {
            err = "the secret has more than one line or a control character";
        }
    }

    if (err) {
        explicit_bzero(buf, size);
        return err;
    }

    *len = n;

    return NULL;
}


/* the letter */

static const char *
ngx_http_trigger_check_metadata(json_t *md)
{
    const char  *name;
    json_t      *v;

    if (md == NULL) {
        return NULL;
    }

    if (!json_is_object(md)
        || json_object_size(md) > NGX_HTTP_TRIGGER_META_FIELDS)
    {
        return "metadata: not an object of up to 10 fields";
    }

    json_object_foreach(md, name, v) {
        if (!ngx_http_trigger_valid_word(name, NGX_HTTP_TRIGGER_META_NAME,
                                         "_"))
        {
            return "metadata: a name not of 1-20 of A-Z, a-z, 0-9 and _";
        }

        if (!json_is_string(v)
            || strlen(json_string_value(v)) != json_string_length(v)
            || !ngx_http_trigger_printable(json_string_value(v),
                                           NGX_HTTP_TRIGGER_META_VALUE, 1))
        {
            return "metadata: a value not of 1-80 printable ASCII characters";
        }
    }

    return NULL;
}


static const char *
ngx_http_trigger_check_message(const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m)
{
    const char  *s;

    if (!ngx_http_trigger_valid_word(m->idempotency_key,
                                     NGX_HTTP_TRIGGER_KEY_MAX, "_-"))
    {
        return "idempotency_key: not 1-64 of A-Z, a-z, 0-9, _ and -";
    }

    if (p->type == NGX_HTTP_TRIGGER_PROVIDER_JSON) {
        return m->json_body ? NULL : "json_body: missing";
    }

    if (!ngx_http_trigger_email(m->from_email)) {
        return "from_email: missing or not an address";
    }

    if (!ngx_http_trigger_email(m->to_email)) {
        return "to_email: missing or not an address";
    }

    if (m->reply_to && !ngx_http_trigger_email(m->reply_to)) {
        return "reply_to: not an address";
    }

    if (m->from_name
        && !ngx_http_trigger_valid_text(m->from_name,
                                        NGX_HTTP_TRIGGER_NAME_MAX))
    {
        return "from_name: a control character, bad UTF-8 or too long";
    }

    if (m->to_name
        && !ngx_http_trigger_valid_text(m->to_name,
                                        NGX_HTTP_TRIGGER_NAME_MAX))
    {
        return "to_name: a control character, bad UTF-8 or too long";
    }

    s = m->subject;

    if (s && !ngx_http_trigger_valid_text(s, NGX_HTTP_TRIGGER_SUBJECT_MAX)) {
        return "subject: a control character, bad UTF-8 or too long";
    }

    if (m->template_id) {
        if (!ngx_http_trigger_providers[p->type].templates) {
            return "template_id: this provider has no templates";
        }

        if (!ngx_http_trigger_printable(m->template_id, 128, 0)) {
            return "template_id: not 1-128 printable ASCII characters";
        }

        if (p->type == NGX_HTTP_TRIGGER_PROVIDER_BREVO
            && strspn(m->template_id, "0123456789") != strlen(m->template_id))
        {
            return "template_id: Brevo's templates are numbers";
        }

        if (m->template_data && !json_is_object(m->template_data)) {
            return "template_data: not an object";
        }

    } else {
        if (s == NULL || *s == '\0') {
            return "subject: missing";
        }

        if (m->html == NULL && m->text == NULL) {
            return "html, text: neither given";
        }

        if ((m->html
             && !ngx_http_trigger_utf8((const u_char *) m->html,
                                       strlen(m->html)))
            || (m->text
                && !ngx_http_trigger_utf8((const u_char *) m->text,
                                          strlen(m->text))))
        {
            return "html, text: bad UTF-8";
        }
    }

    if (m->list_unsubscribe_url
        && !ngx_http_trigger_valid_url(m->list_unsubscribe_url))
    {
        return "list_unsubscribe_url: not an https URL fit for a header";
    }

    if (m->tag && !ngx_http_trigger_valid_word(m->tag, 64, "_-")) {
        return "tag: not 1-64 of A-Z, a-z, 0-9, _ and -";
    }

    return ngx_http_trigger_check_metadata(m->metadata);
}


/* pieces of requests */

static const char *
ngx_http_trigger_header(ngx_http_trigger_http_request_t *req,
    const char *name, const char *value)
{
    char  *line;

    /* what the checks let through is safe; this is the last guard */
    if (!ngx_http_trigger_valid_secret(value)) {
        return "a header value with a control character";
    }

    if (req->nheaders == NGX_HTTP_TRIGGER_REQUEST_HEADERS) {
        return "too many header lines";
    }

    line = ngx_http_trigger_sprintf(req, "%s: %s", name, value);
    if (line == NULL) {
        return NGX_HTTP_TRIGGER_NOMEM;
    }

    req->headers[req->nheaders++] = line;

    return NULL;
}


static const char *
ngx_http_trigger_url(const ngx_http_trigger_provider_t *p,
    ngx_http_trigger_http_request_t *req, const char *path)
{
    int          n;
    const char  *base;

    if (p->type == NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO
        && p->base_url == NULL)
    {
        req->url = ngx_http_trigger_sprintf(req, "https://%s%s",
                                            p->region_host, path);

    } else {
        base = p->base_url ? p->base_url
                           : ngx_http_trigger_providers[p->type].url;

        n = strlen(base);

        if (n && base[n - 1] == '/' && *path == '/') {
            n--;
        }

        req->url = ngx_http_trigger_sprintf(req, "%.*s%s", n, base, path);
    }

    return req->url ? NULL : NGX_HTTP_TRIGGER_NOMEM;
}


/* headers every JSON API gets: Content-Type, Accept, then auth */

static const char *
ngx_http_trigger_json_headers(ngx_http_trigger_http_request_t *req,
    const char *auth, const char *value)
{
    const char  *err;

    req->method = "POST";
    req->content_type = NGX_HTTP_TRIGGER_JSON_TYPE;

    err = ngx_http_trigger_header(req, "Content-Type",
                                  NGX_HTTP_TRIGGER_JSON_TYPE);

    if (err == NULL) {
        err = ngx_http_trigger_header(req, "Accept",
                                      NGX_HTTP_TRIGGER_JSON_TYPE);
    }

    if (err == NULL && value) {
        err = ngx_http_trigger_header(req, auth, value);
    }

    return err;
}


/* serializes and frees root; NULL root: something failed to build */

static const char *
ngx_http_trigger_json_body(ngx_http_trigger_http_request_t *req,
    json_t *root)
{
    char  *s;

    s = root ? json_dumps(root, JSON_COMPACT) : NULL;

    json_decref(root);

    if (s == NULL) {
        return NGX_HTTP_TRIGGER_NOMEM;
    }

    req->body_len = strlen(s);
    req->body = ngx_http_trigger_strndup(req, s, req->body_len);

    free(s);

    return req->body ? NULL : NGX_HTTP_TRIGGER_NOMEM;
}


/* sets key to the string s, if there is one; -1 on failure */

static int
ngx_http_trigger_json_str(json_t *obj, const char *key, const char *s)
{
    return s ? json_object_set_new(obj, key, json_string(s)) : 0;
}


/* sets key to a shared reference to v, if there is one */

static int
ngx_http_trigger_json_ref(json_t *obj, const char *key, json_t *v)
{
    return v ? json_object_set(obj, key, v) : 0;
}


static json_t *
ngx_http_trigger_json_addr(const char *email, const char *name)
{
    json_t  *obj;

    obj = json_pack("{s:s}", "email", email);

    if (name && *name
        && json_object_set_new(obj, "name", json_string(name)) != 0)
    {
        json_decref(obj);
        return NULL;
    }

    return obj;
}


/* RFC 8058 one-click unsubscription, as a JSON object of headers */

static int
ngx_http_trigger_json_unsubscribe(ngx_http_trigger_http_request_t *req,
    json_t *headers, const ngx_http_trigger_message_t *m)
{
    char  *value;

    if (m->list_unsubscribe_url == NULL) {
        return 0;
    }

    value = ngx_http_trigger_sprintf(req, "<%s>", m->list_unsubscribe_url);

    return ngx_http_trigger_json_str(headers, "List-Unsubscribe", value)
           | ngx_http_trigger_json_str(headers, "List-Unsubscribe-Post",
                                       value ? NGX_HTTP_TRIGGER_ONE_CLICK
                                             : NULL)
           | (value ? 0 : -1);
}


static json_t *
ngx_http_trigger_json_tags(const ngx_http_trigger_message_t *m)
{
    return m->tag ? json_pack("[s]", m->tag) : NULL;
}


/*
 * SendGrid v3: POST /v3/mail/send with a Bearer key; custom_args come
 * back in every event webhook; 202 with the id in X-Message-Id.  No
 * idempotency key.
 */

static const char *
ngx_http_trigger_sendgrid(const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now)
{
    int          rc;
    char        *auth;
    json_t      *root, *pers, *content, *headers;
    const char  *err;

    (void) now;

    auth = ngx_http_trigger_sprintf(req, "Bearer %s", p->api_key);

    err = ngx_http_trigger_url(p, req, "/v3/mail/send");

    if (err == NULL) {
        err = auth ? ngx_http_trigger_json_headers(req, "Authorization", auth)
                   : NGX_HTTP_TRIGGER_NOMEM;
    }

    if (err) {
        return err;
    }

    root = json_object();
    pers = json_object();
    headers = json_object();

    rc = json_object_set_new(pers, "to",
                             json_pack("[o]",
                                       ngx_http_trigger_json_addr(
                                           m->to_email, m->to_name)));

    rc |= ngx_http_trigger_json_ref(pers, "dynamic_template_data",
                                    m->template_data);

    rc |= json_object_set_new(root, "personalizations",
                              json_pack("[o]", pers));
    rc |= json_object_set_new(root, "from",
                              ngx_http_trigger_json_addr(m->from_email,
                                                         m->from_name));

    if (m->reply_to) {
        rc |= json_object_set_new(root, "reply_to",
                                  ngx_http_trigger_json_addr(m->reply_to,
                                                             NULL));
    }

    rc |= ngx_http_trigger_json_str(root, "subject", m->subject);

    if (m->template_id) {
        rc |= json_object_set_new(root, "template_id",
                                  json_string(m->template_id));

    } else {
        /* text/plain must come first */
        content = json_array();

        if (m->text) {
            rc |= json_array_append_new(content,
                      json_pack("{s:s,s:s}", "type", "text/plain",
                                "value", m->text));
        }

        if (m->html) {
            rc |= json_array_append_new(content,
                      json_pack("{s:s,s:s}", "type", "text/html",
                                "value", m->html));
        }

        rc |= json_object_set_new(root, "content", content);
    }

    rc |= ngx_http_trigger_json_unsubscribe(req, headers, m);

    if (json_object_size(headers)) {
        rc |= json_object_set(root, "headers", headers);
    }

    json_decref(headers);

    rc |= ngx_http_trigger_json_ref(root, "custom_args", m->metadata);

    if (m->tag) {
        rc |= json_object_set_new(root, "categories",
                                  ngx_http_trigger_json_tags(m));
    }

    if (rc) {
        json_decref(root);
        root = NULL;
    }

    return ngx_http_trigger_json_body(req, root);
}



/*
 * a form field, if there is a value: a copy, for the request outlives
 * the letter's strings (the sender frees them before the transfer)
 */

static int
ngx_http_trigger_field(ngx_http_trigger_http_request_t *req,
    const char *name, const char *value)
{
    ngx_http_trigger_form_field_t  *f;

    if (value == NULL) {
        return 0;
    }

    f = &req->fields[req->nfields];
    f->name = name;
    f->value_len = strlen(value);
    f->value = ngx_http_trigger_strndup(req, value, f->value_len);

    if (f->value == NULL) {
        return -1;
    }

    req->nfields++;

    return 0;
}


static char *
ngx_http_trigger_json_str_dup(ngx_http_trigger_http_request_t *req,
    json_t *v)
{
    char  *s, *p;

    s = json_dumps(v, JSON_COMPACT);
    if (s == NULL) {
        return NULL;
    }

    p = ngx_http_trigger_strndup(req, s, strlen(s));

    free(s);

    return p;
}


/*
 * Mailgun: POST /v3/<domain>/messages, Basic auth "api:<key>", a
 * multipart form; v:<name> variables come back in the webhooks'
 * user-variables; 200 {"id": "<...>", "message": "Queued. Thank you."}.
 * No idempotency key.
 */

static const char *
ngx_http_trigger_mailgun(const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now)
{
    int                      rc;
    char                    *s, *auth, *from, *to, *unsub, *vars, *name;
    json_t                  *v;
    const char              *err, *key;
    ngx_http_trigger_buf_t   b = { NULL, 0, 0, 0 };

    (void) now;

    req->method = "POST";

    s = ngx_http_trigger_sprintf(req, "/v3/%s/messages", p->domain);
    if (s == NULL) {
        return NGX_HTTP_TRIGGER_NOMEM;
    }

    err = ngx_http_trigger_url(p, req, s);
    if (err) {
        return err;
    }

    s = ngx_http_trigger_sprintf(req, "api:%s", p->api_key);
    if (s == NULL) {
        return NGX_HTTP_TRIGGER_NOMEM;
    }

    ngx_http_trigger_buf_str(&b, "Basic ");
    ngx_http_trigger_base64(&b, (const u_char *) s, strlen(s));

    auth = ngx_http_trigger_buf_done(req, &b, NULL);
    if (auth == NULL) {
        return NGX_HTTP_TRIGGER_NOMEM;
    }

    err = ngx_http_trigger_header(req, "Authorization", auth);
    if (err) {
        return err;
    }

    req->fields = ngx_http_trigger_alloc(req,
                      (11 + json_object_size(m->metadata))
                      * sizeof(ngx_http_trigger_form_field_t));

    from = ngx_http_trigger_address_str(req, m->from_email, m->from_name,
                                        NULL);
    to = ngx_http_trigger_address_str(req, m->to_email, m->to_name, NULL);

    unsub = m->list_unsubscribe_url
            ? ngx_http_trigger_sprintf(req, "<%s>", m->list_unsubscribe_url)
            : NULL;

    vars = m->template_data
           ? ngx_http_trigger_json_str_dup(req, m->template_data) : NULL;

    if (req->fields == NULL || from == NULL || to == NULL
        || (m->list_unsubscribe_url && unsub == NULL)
        || (m->template_data && vars == NULL))
    {
        return NGX_HTTP_TRIGGER_NOMEM;
    }

    rc = ngx_http_trigger_field(req, "from", from);
    rc |= ngx_http_trigger_field(req, "to", to);
    rc |= ngx_http_trigger_field(req, "h:Reply-To", m->reply_to);
    rc |= ngx_http_trigger_field(req, "subject", m->subject);
    rc |= ngx_http_trigger_field(req, "text", m->text);
    rc |= ngx_http_trigger_field(req, "html", m->html);
    rc |= ngx_http_trigger_field(req, "template", m->template_id);
    rc |= ngx_http_trigger_field(req, "t:variables", vars);
    rc |= ngx_http_trigger_field(req, "h:List-Unsubscribe", unsub);
    rc |= ngx_http_trigger_field(req, "h:List-Unsubscribe-Post",
                                 unsub ? NGX_HTTP_TRIGGER_ONE_CLICK : NULL);
    rc |= ngx_http_trigger_field(req, "o:tag", m->tag);

    json_object_foreach(m->metadata, key, v) {
        name = ngx_http_trigger_sprintf(req, "v:%s", key);
        if (name == NULL) {
            return NGX_HTTP_TRIGGER_NOMEM;
        }

        rc |= ngx_http_trigger_field(req, name, json_string_value(v));
    }

    return rc ? NGX_HTTP_TRIGGER_NOMEM : NULL;
}


/* up to 18 digits: a provider's numeric template id */

static int
ngx_http_trigger_number(const char *s)
{
    size_t  n;

    n = strspn(s, "0123456789");

    return n && n <= 18 && s[n] == '\0';
}


/*
 * Postmark: POST /email (/email/withTemplate) with the server token in
 * X-Postmark-Server-Token; Metadata comes back in the webhooks; 200
 * {"MessageID": ..., "ErrorCode": 0}, errors as 422 with an ErrorCode.
 * No idempotency key.
 */

static const char *
ngx_http_trigger_postmark(const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now)
{
    int          rc;
    char        *from, *to, *unsub;
    json_t      *root, *headers;
    const char  *err;

    (void) now;

    err = ngx_http_trigger_url(p, req, m->template_id ? "/email/withTemplate"
                                                      : "/email");

    if (err == NULL) {
        err = ngx_http_trigger_json_headers(req, "X-Postmark-Server-Token",
                                            p->api_key);
    }

    if (err) {
        return err;
    }

    from = ngx_http_trigger_address_str(req, m->from_email, m->from_name,
                                        NULL);
    to = ngx_http_trigger_address_str(req, m->to_email, m->to_name, NULL);

    if (from == NULL || to == NULL) {
        return NGX_HTTP_TRIGGER_NOMEM;
    }

    root = json_pack("{s:s,s:s}", "From", from, "To", to);

    rc = ngx_http_trigger_json_str(root, "ReplyTo", m->reply_to);

    if (m->template_id) {
        /* the template has the subject */
        if (ngx_http_trigger_number(m->template_id)) {
            rc |= json_object_set_new(root, "TemplateId",
                      json_integer(strtoll(m->template_id, NULL, 10)));

        } else {
            rc |= json_object_set_new(root, "TemplateAlias",
                                      json_string(m->template_id));
        }

        rc |= json_object_set_new(root, "TemplateModel",
                                  m->template_data
                                  ? json_incref(m->template_data)
                                  : json_object());

    } else {
        rc |= ngx_http_trigger_json_str(root, "Subject", m->subject);
        rc |= ngx_http_trigger_json_str(root, "HtmlBody", m->html);
        rc |= ngx_http_trigger_json_str(root, "TextBody", m->text);
    }

    if (m->list_unsubscribe_url) {
        unsub = ngx_http_trigger_sprintf(req, "<%s>",
                                         m->list_unsubscribe_url);

        headers = unsub ? json_pack("[{s:s,s:s},{s:s,s:s}]",
                                    "Name", "List-Unsubscribe",
                                    "Value", unsub,
                                    "Name", "List-Unsubscribe-Post",
                                    "Value", NGX_HTTP_TRIGGER_ONE_CLICK)
                        : NULL;

        rc |= json_object_set_new(root, "Headers", headers);
    }

    rc |= ngx_http_trigger_json_ref(root, "Metadata", m->metadata);
    rc |= ngx_http_trigger_json_str(root, "MessageStream", p->message_stream);
    rc |= ngx_http_trigger_json_str(root, "Tag", m->tag);

    if (rc) {
        json_decref(root);
        root = NULL;
    }

    return ngx_http_trigger_json_body(req, root);
}


/*
 * Brevo drops a name that has both non-ASCII characters and specials
 * (a comma, a quote): such a name goes as encoded-words, which it keeps
 */

static const char *
ngx_http_trigger_brevo_name(ngx_http_trigger_http_request_t *req,
    const char *name)
{
    ngx_http_trigger_buf_t  b = { NULL, 0, 0, 0 };

    if (name == NULL || ngx_http_trigger_ascii(name)
        || strpbrk(name, "()<>[]:;@\\,.\"") == NULL)
    {
        return name;
    }

    ngx_http_trigger_encoded_words(&b, name, " ");

    return ngx_http_trigger_buf_done(req, &b, NULL);
}


/*
 * the idempotency key as Brevo wants it, a UUID: the key's SHA-1 in the
 * layout of a name-based (version 5) UUID, the same for every attempt
 */

static char *
ngx_http_trigger_uuid(ngx_http_trigger_http_request_t *req, const char *key)
{
    u_char  hex[40];
    int     v;

    ngx_http_trigger_sha1_hex(hex, (const u_char *) key, strlen(key));

    v = (hex[16] <= '9') ? hex[16] - '0' : hex[16] - 'a' + 10;

    hex[12] = '5';
    hex[16] = "89ab"[v & 3];

    return ngx_http_trigger_sprintf(req, "%.8s-%.4s-%.4s-%.4s-%.12s",
                                    hex, hex + 8, hex + 12, hex + 16,
                                    hex + 20);
}


/*
 * Brevo: POST /v3/smtp/email with an api-key header; the idempotency
 * key goes among the mail headers ("idempotencyKey", a UUID, kept 30
 * minutes), the metadata as the X-Mailin-custom header, which comes
 * back in the webhooks; 201 {"messageId": "<...>"}.
 */

static const char *
ngx_http_trigger_brevo(const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now)
{
    int          rc;
    char        *uuid, *custom;
    json_t      *root, *headers;
    const char  *err, *from_name, *to_name;

    (void) now;

    err = ngx_http_trigger_url(p, req, "/v3/smtp/email");

    if (err == NULL) {
        err = ngx_http_trigger_json_headers(req, "api-key", p->api_key);
    }

    if (err) {
        return err;
    }

    from_name = ngx_http_trigger_brevo_name(req, m->from_name);
    to_name = ngx_http_trigger_brevo_name(req, m->to_name);

    if ((m->from_name && from_name == NULL) || (m->to_name && to_name == NULL))
    {
        return NGX_HTTP_TRIGGER_NOMEM;
    }

    root = json_object();
    headers = json_object();

    rc = json_object_set_new(root, "sender",
                             ngx_http_trigger_json_addr(m->from_email,
                                                        from_name));
    rc |= json_object_set_new(root, "to",
                              json_pack("[o]",
                                        ngx_http_trigger_json_addr(
                                            m->to_email, to_name)));

    if (m->reply_to) {
        rc |= json_object_set_new(root, "replyTo",
                                  ngx_http_trigger_json_addr(m->reply_to,
                                                             NULL));
    }

    rc |= ngx_http_trigger_json_str(root, "subject", m->subject);
    rc |= ngx_http_trigger_json_str(root, "htmlContent", m->html);
    rc |= ngx_http_trigger_json_str(root, "textContent", m->text);

    if (m->template_id) {
        rc |= json_object_set_new(root, "templateId",
                  json_integer(strtoll(m->template_id, NULL, 10)));
        rc |= ngx_http_trigger_json_ref(root, "params", m->template_data);
    }

    uuid = ngx_http_trigger_uuid(req, m->idempotency_key);
    rc |= json_object_set_new(headers, "idempotencyKey", json_string(uuid));

    if (m->metadata) {
        custom = ngx_http_trigger_json_str_dup(req, m->metadata);
        rc |= json_object_set_new(headers, "X-Mailin-custom",
                                  json_string(custom));
    }

    rc |= ngx_http_trigger_json_unsubscribe(req, headers, m);
    rc |= json_object_set_new(root, "headers", headers);

    if (m->tag) {
        rc |= json_object_set_new(root, "tags",
                                  ngx_http_trigger_json_tags(m));
    }

    if (rc) {
        json_decref(root);
        root = NULL;
    }

    return ngx_http_trigger_json_body(req, root);
}


/*
 * UniSender Go: POST /ru/transactional/api/v1/email/send.json on the
 * account's host with an X-API-KEY header; {"idempotence_key": ...,
 * "message": {...}}; the recipient's metadata comes back in the
 * webhooks; 200 {"status": "success", "job_id": ..., "emails": [...],
 * "failed_emails": {...}}.
 */

static const char *
ngx_http_trigger_unisender_go(const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now)
{
    int                      rc;
    char                    *to;
    json_t                  *root, *msg, *rcpt, *headers, *body;
    const char              *err;
    ngx_http_trigger_buf_t   b = { NULL, 0, 0, 0 };

    (void) now;

    err = ngx_http_trigger_url(p, req,
                               "/ru/transactional/api/v1/email/send.json");

    if (err == NULL) {
        err = ngx_http_trigger_json_headers(req, "X-API-KEY", p->api_key);
    }

    if (err) {
        return err;
    }

    rc = 0;
    msg = json_object();
    headers = json_object();

    rcpt = json_pack("{s:s}", "email", m->to_email);
    rc |= ngx_http_trigger_json_ref(rcpt, "substitutions", m->template_data);
    rc |= ngx_http_trigger_json_ref(rcpt, "metadata", m->metadata);
    rc |= json_object_set_new(msg, "recipients", json_pack("[o]", rcpt));

    rc |= ngx_http_trigger_json_str(msg, "from_email", m->from_email);
    rc |= ngx_http_trigger_json_str(msg, "from_name", m->from_name);
    rc |= ngx_http_trigger_json_str(msg, "reply_to", m->reply_to);
    rc |= ngx_http_trigger_json_str(msg, "subject", m->subject);
    rc |= ngx_http_trigger_json_str(msg, "template_id", m->template_id);

    if (m->html || m->text) {
        body = json_object();
        rc |= ngx_http_trigger_json_str(body, "html", m->html);
        rc |= ngx_http_trigger_json_str(body, "plaintext", m->text);
        rc |= json_object_set_new(msg, "body", body);
    }

    if (m->to_name && *m->to_name) {
        /*
         * without a To header it names no one; its quoted names lose
         * commas and brackets, encoded-words do not
         */
        ngx_http_trigger_encoded_words(&b, m->to_name, " ");
        ngx_http_trigger_buf_str(&b, " <");
        ngx_http_trigger_buf_str(&b, m->to_email);
        ngx_http_trigger_buf_str(&b, ">");

        to = ngx_http_trigger_buf_done(req, &b, NULL);
        rc |= json_object_set_new(headers, "To", json_string(to));
    }

    rc |= ngx_http_trigger_json_unsubscribe(req, headers, m);

    if (json_object_size(headers)) {
        rc |= json_object_set(msg, "headers", headers);
    }

    json_decref(headers);

    if (m->tag) {
        rc |= json_object_set_new(msg, "tags", ngx_http_trigger_json_tags(m));
    }

    root = json_pack("{s:o,s:s}", "message", msg,
                     "idempotence_key", m->idempotency_key);

    if (rc) {
        json_decref(root);
        root = NULL;
    }

    return ngx_http_trigger_json_body(req, root);
}


/*
 * A JSON API of the admin's choosing: the body comes rendered from the
 * admin's template; the key as a Bearer token, the idempotency key as
 * Idempotency-Key.
 */

static const char *
ngx_http_trigger_json(const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now)
{
    char        *auth;
    json_t      *body;
    const char  *err;

    (void) now;

    body = json_loads(m->json_body, 0, NULL);
    if (body == NULL) {
        return "json_body: not JSON";
    }

    json_decref(body);

    auth = p->api_key ? ngx_http_trigger_sprintf(req, "Bearer %s", p->api_key)
                      : NULL;

    if (p->api_key && auth == NULL) {
        return NGX_HTTP_TRIGGER_NOMEM;
    }

    err = ngx_http_trigger_url(p, req, "");

    if (err == NULL) {
        err = ngx_http_trigger_json_headers(req, "Authorization", auth);
    }

    if (err == NULL) {
        err = ngx_http_trigger_header(req, "Idempotency-Key",
                                      m->idempotency_key);
    }

    if (err) {
        return err;
    }

    req->body_len = strlen(m->json_body);
    req->body = ngx_http_trigger_strndup(req, m->json_body, req->body_len);

    return req->body ? NULL : NGX_HTTP_TRIGGER_NOMEM;
}


static void
ngx_http_trigger_mime_part(ngx_http_trigger_buf_t *b, const char *subtype,
    const char *content)
{
    ngx_http_trigger_buf_str(b, "Content-Type: text/");
    ngx_http_trigger_buf_str(b, subtype);
    ngx_http_trigger_buf_str(b, "; charset=UTF-8\r\n"
                             "Content-Transfer-Encoding: quoted-printable"
                             "\r\n\r\n");
    ngx_http_trigger_qp(b, content);
    ngx_http_trigger_buf_str(b, "\r\n");
}


/*
 * SMTP: the whole RFC 5322 message for libcurl to upload.  Non-ASCII
 * names and subjects as folded encoded-words, the parts in
 * quoted-printable: every line ends in CRLF and has at most 998
 * characters.  The Message-ID is made of the idempotency key.
 */

static const char *
ngx_http_trigger_smtp(const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t *req, time_t now)
{
    char                     date[64];
    struct tm                tm;
    const char              *err, *boundary;
    ngx_http_trigger_buf_t   b = { NULL, 0, 0, 0 };
    static const char       *wdays[] = {
        "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
    };
    static const char       *months[] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun",
        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
    };

    err = ngx_http_trigger_url(p, req, "");
    if (err) {
        return err;
    }

    if (gmtime_r(&now, &tm) == NULL) {
        return "the clock is out of range";
    }

    snprintf(date, sizeof(date), "%s, %02d %s %d %02d:%02d:%02d +0000",
             wdays[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);

    req->mail_from = ngx_http_trigger_strndup(req, m->from_email,
                                              strlen(m->from_email));
    req->rcpt_to = ngx_http_trigger_strndup(req, m->to_email,
                                            strlen(m->to_email));
    req->message_id = ngx_http_trigger_sprintf(req, "<%s@%s>",
                                               m->idempotency_key,
                                               strchr(m->from_email, '@')
                                               + 1);
    boundary = ngx_http_trigger_sprintf(req, "=_%s", m->idempotency_key);

    /*
     * "STARTTLS when offered" would give the password to whoever strips
     * the offer; only a relay on loopback (a test's) may go without
     */
    req->tls = strncmp(p->base_url, "smtp://", 7) != 0
               || !ngx_http_trigger_loopback(p->base_url + 7);

    if (p->user) {
        req->user = ngx_http_trigger_strndup(req, p->user, strlen(p->user));
    }

    if (p->api_key) {
        req->password = ngx_http_trigger_strndup(req, p->api_key,
                                                 strlen(p->api_key));
    }

    if (req->mail_from == NULL || req->rcpt_to == NULL
        || req->message_id == NULL || boundary == NULL
        || (p->user && req->user == NULL)
        || (p->api_key && req->password == NULL))
    {
        return NGX_HTTP_TRIGGER_NOMEM;
    }

    ngx_http_trigger_buf_str(&b, "Date: ");
    ngx_http_trigger_buf_str(&b, date);
    ngx_http_trigger_buf_str(&b, "\r\nFrom: ");
    ngx_http_trigger_address(&b, m->from_email, m->from_name, "\r\n ");

    if (m->reply_to) {
        ngx_http_trigger_buf_str(&b, "\r\nReply-To: ");
        ngx_http_trigger_buf_str(&b, m->reply_to);
    }

    ngx_http_trigger_buf_str(&b, "\r\nTo: ");
    ngx_http_trigger_address(&b, m->to_email, m->to_name, "\r\n ");
    ngx_http_trigger_buf_str(&b, "\r\nSubject: ");

    if (ngx_http_trigger_ascii(m->subject)) {
        ngx_http_trigger_buf_str(&b, m->subject);

    } else {
        ngx_http_trigger_encoded_words(&b, m->subject, "\r\n ");
    }

    ngx_http_trigger_buf_str(&b, "\r\nMessage-ID: ");
    ngx_http_trigger_buf_str(&b, req->message_id);
    ngx_http_trigger_buf_str(&b, "\r\nMIME-Version: 1.0\r\n");

    if (m->list_unsubscribe_url) {
        ngx_http_trigger_buf_str(&b, "List-Unsubscribe: <");
        ngx_http_trigger_buf_str(&b, m->list_unsubscribe_url);
        ngx_http_trigger_buf_str(&b, ">\r\nList-Unsubscribe-Post: "
                                 NGX_HTTP_TRIGGER_ONE_CLICK "\r\n");
    }

    if (m->text && m->html) {
        /* "=_" never occurs in quoted-printable text */
        ngx_http_trigger_buf_str(&b, "Content-Type: multipart/alternative;"
                                 " boundary=\"");
        ngx_http_trigger_buf_str(&b, boundary);
        ngx_http_trigger_buf_str(&b, "\"\r\n\r\n--");
        ngx_http_trigger_buf_str(&b, boundary);
        ngx_http_trigger_buf_str(&b, "\r\n");
        ngx_http_trigger_mime_part(&b, "plain", m->text);
        ngx_http_trigger_buf_str(&b, "--");
        ngx_http_trigger_buf_str(&b, boundary);
        ngx_http_trigger_buf_str(&b, "\r\n");
        ngx_http_trigger_mime_part(&b, "html", m->html);
        ngx_http_trigger_buf_str(&b, "--");
        ngx_http_trigger_buf_str(&b, boundary);
        ngx_http_trigger_buf_str(&b, "--\r\n");

    } else {
        ngx_http_trigger_mime_part(&b, m->text ? "plain" : "html",
                                   m->text ? m->text : m->html);
    }

    req->body = ngx_http_trigger_buf_done(req, &b, &req->body_len);

    return req->body ? NULL : NGX_HTTP_TRIGGER_NOMEM;
}


const char *
ngx_http_trigger_provider_build(const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *msg, time_t now,
    ngx_http_trigger_http_request_t **out)
{
    const char                       *err;
    ngx_http_trigger_message_t        m;
    ngx_http_trigger_http_request_t  *req;

    if (p->type <= NGX_HTTP_TRIGGER_PROVIDER_NONE
        || p->type >= NGX_HTTP_TRIGGER_PROVIDER_COUNT)
    {
        return "unknown provider";
    }

    m = *msg;

    if (m.from_email == NULL) {
        m.from_email = p->from_email;

        if (m.from_name == NULL) {
            m.from_name = p->from_name;
        }
    }

    err = ngx_http_trigger_check_message(p, &m);
    if (err) {
        return err;
    }

    if (m.template_id) {
        m.html = NULL;
        m.text = NULL;
    }

    req = calloc(1, sizeof(ngx_http_trigger_http_request_t));
    if (req == NULL) {
        return NGX_HTTP_TRIGGER_NOMEM;
    }

    err = ngx_http_trigger_providers[p->type].build(p, &m, req, now);

    if (err) {
        ngx_http_trigger_request_free(req);
        return err;
    }

    *out = req;

    return NULL;
}


/* the answer */

const char *
ngx_http_trigger_provider_id_header(const ngx_http_trigger_provider_t *p)
{
    return (p->type == NGX_HTTP_TRIGGER_PROVIDER_SENDGRID) ? "X-Message-Id"
                                                           : NULL;
}


/*
 * copies whole UTF-8 characters while they fit: control characters as
 * spaces, bytes that are not UTF-8 as '?'
 */

static void
ngx_http_trigger_copy_text(char *dst, size_t size, const u_char *src,
    size_t len)
{
    u_char  c;
    size_t  i, n, d;

    d = 0;

    for (i = 0; i < len; i += n) {
        c = src[i];
        n = (c < 0xc2 || c > 0xf4) ? 1 : (c < 0xe0) ? 2 : (c < 0xf0) ? 3 : 4;

        if (n > 1 && (n > len - i || !ngx_http_trigger_utf8(src + i, n))) {
            n = 1;
        }

        if (d + n >= size) {
            break;
        }

        if (n > 1) {
            memcpy(dst + d, src + i, n);
            d += n;

        } else {
            dst[d++] = (c < 0x20 || c == 0x7f) ? ' ' : (c >= 0x80) ? '?' : c;
        }
    }

    while (d && dst[d - 1] == ' ') {
        d--;
    }

    dst[d] = '\0';
}


/* what an error answer says, wherever the provider puts it */

static const char *
ngx_http_trigger_answer_text(json_t *root)
{
    json_t  *v;

    v = json_object_get(root, "message");

    if (!json_is_string(v)) {
        v = json_object_get(root, "Message");
    }

    if (!json_is_string(v)) {
        v = json_object_get(root, "error");
    }

    if (!json_is_string(v)) {
        /* SendGrid: {"errors": [{"message": ..., "field": ...}]} */
        v = json_object_get(json_array_get(json_object_get(root, "errors"),
                                           0),
                            "message");
    }

    if (!json_is_string(v)) {
        v = json_object_get(json_object_get(root, "error"), "message");
    }

    return json_string_value(v);
}


static void
ngx_http_trigger_json_value(json_t *v, char *buf, size_t size)
{
    if (json_is_string(v)) {
        ngx_http_trigger_copy_text(buf, size,
                                   (const u_char *) json_string_value(v),
                                   json_string_length(v));

    } else if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));

    } else {
        buf[0] = '\0';
    }
}


static long long
ngx_http_trigger_days(long long y, int m, int d)
{
    long long  era, yoe, doy, doe;

    /* days since 1970-01-01 of a proleptic Gregorian date */
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


/* Retry-After: seconds or an HTTP-date; 0 if absent or not understood */

static unsigned
ngx_http_trigger_retry_after(const char *v, time_t now)
{
    int                day, year, hour, min, sec, end;
    char               mon[4];
    long long          t;
    const char        *m;
    static const char  months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

    if (v == NULL) {
        return 0;
    }

    v += strspn(v, " \t");

    if (*v >= '0' && *v <= '9') {
        for (t = 0; *v >= '0' && *v <= '9'; v++) {
            if (t <= NGX_HTTP_TRIGGER_RETRY_AFTER_MAX) {
                t = t * 10 + (*v - '0');
            }
        }

    } else {
        end = 0;

        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (sscanf(v, "%*3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n",
                   &day, mon, &year, &hour, &min, &sec, &end) != 6
            || end == 0 || strlen(mon) != 3
            || (m = strstr(months, mon)) == NULL || (m - months) % 3)
        {
            return 0;
        }

        t = ngx_http_trigger_days(year, (m - months) / 3 + 1, day) * 86400
            + hour * 3600 + min * 60 + sec - now;
    }

    if (t < 1) {
        return 1;
    }

    return t > NGX_HTTP_TRIGGER_RETRY_AFTER_MAX
           ? NGX_HTTP_TRIGGER_RETRY_AFTER_MAX : t;
}


static void
ngx_http_trigger_reason(ngx_http_trigger_send_result_t *res,
    const char *proto, int status, const char *code, const u_char *text,
    size_t len)
{
    size_t  n;

    n = snprintf(res->reason, sizeof(res->reason), "%s %d", proto, status);

    if (*code) {
        n += snprintf(res->reason + n, sizeof(res->reason) - n, " [%s]",
                      code);
    }

    if (len && n + 1 < sizeof(res->reason)) {
        res->reason[n++] = ' ';
        ngx_http_trigger_copy_text(res->reason + n, sizeof(res->reason) - n,
                                   text, len);
    }
}


void
ngx_http_trigger_provider_result(const ngx_http_trigger_provider_t *p,
    int status, const char *retry_after, const char *id,
    const u_char *body, size_t len, time_t now,
    ngx_http_trigger_send_result_t *res)
{
    char         code[32];
    json_t      *root, *v;
    const char  *text, *field;

    memset(res, 0, sizeof(ngx_http_trigger_send_result_t));

    if (p->type == NGX_HTTP_TRIGGER_PROVIDER_SMTP) {
        /* 4xx replies are transient, 5xx permanent (RFC 5321) */
        res->status = (status >= 200 && status < 300)
                      ? NGX_HTTP_TRIGGER_SEND_SENT
                      : (status >= 500 && status < 600)
                        ? NGX_HTTP_TRIGGER_SEND_FAILED
                        : NGX_HTTP_TRIGGER_SEND_RETRY;

        if (res->status == NGX_HTTP_TRIGGER_SEND_SENT) {
            if (id) {
                ngx_http_trigger_copy_text(res->id, sizeof(res->id),
                                           (const u_char *) id, strlen(id));
            }

        } else {
            ngx_http_trigger_reason(res, "SMTP", status, "", body, len);
        }

        return;
    }

    root = len ? json_loadb((const char *) body, len, 0, NULL) : NULL;

    if (root && !json_is_object(root)) {
        json_decref(root);
        root = NULL;
    }

    v = json_object_get(root, "ErrorCode");

    ngx_http_trigger_json_value(v ? v : json_object_get(root, "code"),
                                code, sizeof(code));

    if (status >= 200 && status < 300) {
        res->status = NGX_HTTP_TRIGGER_SEND_SENT;

    } else if (status == 408 || status == 429 || status >= 500 || status < 100)
    {
        res->status = NGX_HTTP_TRIGGER_SEND_RETRY;

    } else {
        /* 400, 401, 403, 404, 413, 422: sending again changes nothing */
        res->status = NGX_HTTP_TRIGGER_SEND_FAILED;
    }

    switch (p->type) {

    case NGX_HTTP_TRIGGER_PROVIDER_POSTMARK:
        /* the body's ErrorCode decides; 100 is maintenance, 429 a limit */
        if (json_is_integer(v) && json_integer_value(v) != 0) {
            res->status = (json_integer_value(v) == 100
                           || json_integer_value(v) == 429)
                          ? NGX_HTTP_TRIGGER_SEND_RETRY
                          : NGX_HTTP_TRIGGER_SEND_FAILED;
        }

        break;

    case NGX_HTTP_TRIGGER_PROVIDER_BREVO:
        /* the key was used in the last 30 minutes: the letter went then */
        if (res->status == NGX_HTTP_TRIGGER_SEND_FAILED
            && strcmp(code, "duplicate_parameter") == 0)
        {
            res->status = NGX_HTTP_TRIGGER_SEND_SENT;
        }

        break;

    case NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO:
        /* accepted, but not for our one recipient */
        v = json_object_get(root, "failed_emails");

        if (res->status == NGX_HTTP_TRIGGER_SEND_SENT
            && json_array_size(json_object_get(root, "emails")) == 0
            && json_object_size(v))
        {
            ngx_http_trigger_json_value(
                json_object_iter_value(json_object_iter(v)), code,
                sizeof(code));

            res->status = (strcmp(code, "temporary_unavailable") == 0)
                          ? NGX_HTTP_TRIGGER_SEND_RETRY
                          : (strcmp(code, "duplicate") == 0)
                            ? NGX_HTTP_TRIGGER_SEND_SENT
                            : NGX_HTTP_TRIGGER_SEND_FAILED;
        }

        break;

    default:
        break;
    }

    if (res->status == NGX_HTTP_TRIGGER_SEND_SENT) {
        field = ngx_http_trigger_providers[p->type].id_field;

        if (id) {
            ngx_http_trigger_copy_text(res->id, sizeof(res->id),
                                       (const u_char *) id, strlen(id));

        } else if (field) {
            ngx_http_trigger_json_value(json_object_get(root, field),
                                        res->id, sizeof(res->id));
        }

    } else {
        if (res->status == NGX_HTTP_TRIGGER_SEND_RETRY) {
            res->delay = ngx_http_trigger_retry_after(retry_after, now);
        }

        text = ngx_http_trigger_answer_text(root);

        if (text) {
            ngx_http_trigger_reason(res, "HTTP", status, code,
                                    (const u_char *) text, strlen(text));

        } else {
            /* not JSON: a proxy's page, Mailgun's plain "Forbidden" */
            ngx_http_trigger_reason(res, "HTTP", status, code,
                                    root ? NULL : body, root ? 0 : len);
        }
    }

    json_decref(root);
}
