/*
 * Unit tests for the email providers' requests and answers.
 */


#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "ngx_http_trigger_provider.h"
#include "unit.h"


#define NOW  1700000000

#define FROM_NAME  "Магазин «Ромашка», Inc."
#define TO_NAME    "Иван \"Ваня\" Петров"
#define SUBJECT    "Скидка 10% только сегодня — для вас, Иван! "              \
                   "Успейте до полуночи"
#define HTML       "<p class=\"greeting\">Привет, \"друг\"!</p>\n" \
                   "<a href=\"https://shop.example.com/?a=1&b=2\">Купить</a>"
#define TEXT       "Привет, друг!\nСкидка ждёт: https://shop.example.com/\n" \
                   ".точка в начале строки\n"
#define UNSUB      "https://shop.example.com/_trigger/unsubscribe?t=abc123"
#define KEY        "L-7f3a9c"

/* computed apart from the module, by Python's base64 */
#define FROM_EW                                                             \
    "=?UTF-8?B?0JzQsNCz0LDQt9C40L0gwqvQoNC+0LzQsNGI0LrQsMK7LCBJbmMu?="
#define TO_EW                                                               \
    "=?UTF-8?B?0JjQstCw0L0gItCS0LDQvdGPIiDQn9C10YLRgNC+0LI=?="
#define SUBJECT_EW                                                          \
    "=?UTF-8?B?0KHQutC40LTQutCwIDEwJSDRgtC+0LvRjNC60L4g0YHQtdCz0L7QtNC90Y8g?=" \
    "\r\n "                                                                 \
    "=?UTF-8?B?4oCUINC00LvRjyDQstCw0YEsINCY0LLQsNC9ISDQo9GB0L/QtdC50YLQtSA=?=" \
    "\r\n "                                                                 \
    "=?UTF-8?B?0LTQviDQv9C+0LvRg9C90L7Rh9C4?="


static json_t  *metadata;


static ngx_http_trigger_message_t
letter(void)
{
    ngx_http_trigger_message_t  m;

    memset(&m, 0, sizeof(m));

    m.from_email = "shop@example.com";
    m.from_name = FROM_NAME;
    m.reply_to = "help@example.com";
    m.to_email = "ivan@example.org";
    m.to_name = TO_NAME;
    m.subject = SUBJECT;
    m.html = HTML;
    m.text = TEXT;
    m.list_unsubscribe_url = UNSUB;
    m.idempotency_key = KEY;
    m.metadata = metadata;
    m.tag = "offer";

    return m;
}


static ngx_http_trigger_provider_t
profile(ngx_http_trigger_provider_e type, const char *key, const char *url)
{
    ngx_http_trigger_provider_t  p;

    memset(&p, 0, sizeof(p));

    p.type = type;
    p.api_key = key;
    p.base_url = url;

    return p;
}


/* the value at "a.0.b": object members and array items */

static json_t *
jget(json_t *v, const char *path)
{
    char  buf[128], *p, *dot;

    snprintf(buf, sizeof(buf), "%s", path);

    for (p = buf; v && p; p = dot) {
        dot = strchr(p, '.');

        if (dot) {
            *dot++ = '\0';
        }

        v = json_is_array(v) ? json_array_get(v, atoi(p))
                             : json_object_get(v, p);
    }

    return v;
}


static int
jis(json_t *root, const char *path, const char *want)
{
    json_t  *v;

    v = jget(root, path);

    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}


static int
has_header(ngx_http_trigger_http_request_t *req, const char *line)
{
    size_t  i;

    for (i = 0; i < req->nheaders; i++) {
        if (strcmp(req->headers[i], line) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
headers_clean(ngx_http_trigger_http_request_t *req)
{
    size_t  i;

    for (i = 0; i < req->nheaders; i++) {
        if (strpbrk(req->headers[i], "\r\n")) {
            return 0;
        }
    }

    return 1;
}


static const char *
form(ngx_http_trigger_http_request_t *req, const char *name)
{
    size_t  i;

    for (i = 0; i < req->nfields; i++) {
        if (strcmp(req->fields[i].name, name) == 0) {
            return req->fields[i].value;
        }
    }

    return NULL;
}


static json_t *
build_json(ngx_http_trigger_provider_t *p, ngx_http_trigger_message_t *m,
    ngx_http_trigger_http_request_t **req, const char *name)
{
    char         buf[128];
    const char  *err;

    *req = NULL;
    err = ngx_http_trigger_provider_build(p, m, NOW, req);

    snprintf(buf, sizeof(buf), "%s: built (%s)", name, err ? err : "ok");
    ok(err == NULL && *req != NULL, buf);

    if (*req == NULL) {
        return NULL;
    }

    snprintf(buf, sizeof(buf), "%s: header lines free of CR and LF", name);
    ok(headers_clean(*req), buf);

    return json_loadb((*req)->body, (*req)->body_len, 0, NULL);
}


static void
test_provider_config(void)
{
    ngx_http_trigger_provider_t  p;

    ok(ngx_http_trigger_provider_type("sendgrid")
       == NGX_HTTP_TRIGGER_PROVIDER_SENDGRID
       && ngx_http_trigger_provider_type("mailgun")
          == NGX_HTTP_TRIGGER_PROVIDER_MAILGUN
       && ngx_http_trigger_provider_type("postmark")
          == NGX_HTTP_TRIGGER_PROVIDER_POSTMARK
       && ngx_http_trigger_provider_type("brevo")
          == NGX_HTTP_TRIGGER_PROVIDER_BREVO
       && ngx_http_trigger_provider_type("unisender_go")
          == NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO
       && ngx_http_trigger_provider_type("json")
          == NGX_HTTP_TRIGGER_PROVIDER_JSON
       && ngx_http_trigger_provider_type("smtp")
          == NGX_HTTP_TRIGGER_PROVIDER_SMTP,
       "provider names");
    ok(ngx_http_trigger_provider_type("ses")
       == NGX_HTTP_TRIGGER_PROVIDER_NONE, "unknown provider name");

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, "SG.key", NULL);
    ok(ngx_http_trigger_provider_check(&p) == NULL, "sendgrid profile");

    p.api_key = NULL;
    ok(ngx_http_trigger_provider_check(&p) != NULL, "API key required");

    p.api_key = "SG.key\r\nX-Evil: 1";
    ok(ngx_http_trigger_provider_check(&p) != NULL, "CRLF in the key");

    p.api_key = "SG.key";
    p.base_url = "http://api.example.com";
    ok(ngx_http_trigger_provider_check(&p) != NULL,
       "plain http refused for a remote host");

    p.base_url = "http://127.0.0.1:8025";
    ok(ngx_http_trigger_provider_check(&p) == NULL, "http to 127.0.0.1");

    p.base_url = "http://localhost:8025/";
    ok(ngx_http_trigger_provider_check(&p) == NULL, "http to localhost");

    p.base_url = "http://[::1]:8025";
    ok(ngx_http_trigger_provider_check(&p) == NULL, "http to [::1]");

    p.base_url = "http://127.0.0.1.evil.example/";
    ok(ngx_http_trigger_provider_check(&p) != NULL,
       "a name that starts like loopback is not loopback");

    p.base_url = "https://api.eu.sendgrid.com";
    ok(ngx_http_trigger_provider_check(&p) == NULL, "https base URL");

    p.base_url = "https://api.eu.sendgrid.com/\r\n";
    ok(ngx_http_trigger_provider_check(&p) != NULL, "CRLF in the URL");

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_MAILGUN, "key-1", NULL);
    ok(ngx_http_trigger_provider_check(&p) != NULL, "mailgun needs a domain");
    p.domain = "mg.example.com";
    ok(ngx_http_trigger_provider_check(&p) == NULL, "mailgun profile");
    p.domain = "mg.example.com/../x";
    ok(ngx_http_trigger_provider_check(&p) != NULL,
       "mailgun domain is a host name");

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO, "us", NULL);
    ok(ngx_http_trigger_provider_check(&p) != NULL,
       "unisender go needs its host");
    p.region_host = "go1.unisender.ru";
    ok(ngx_http_trigger_provider_check(&p) == NULL, "unisender go profile");

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_POSTMARK, "pm", NULL);
    p.message_stream = "broadcast";
    ok(ngx_http_trigger_provider_check(&p) == NULL, "postmark stream");
    p.message_stream = "broad cast";
    ok(ngx_http_trigger_provider_check(&p) != NULL, "bad postmark stream");

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_JSON, NULL, NULL);
    ok(ngx_http_trigger_provider_check(&p) != NULL, "json needs a URL");
    p.base_url = "https://esp.example.com/send";
    ok(ngx_http_trigger_provider_check(&p) == NULL, "json without a key");

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_SMTP, NULL,
                "https://smtp.example.com");
    ok(ngx_http_trigger_provider_check(&p) != NULL, "smtp needs smtp(s)://");
    p.base_url = "smtps://smtp.example.com";
    ok(ngx_http_trigger_provider_check(&p) == NULL, "smtps, no login");
    p.base_url = "smtp://smtp.example.com:587";
    ok(ngx_http_trigger_provider_check(&p) == NULL, "smtp with STARTTLS");
    p.user = "shop";
    ok(ngx_http_trigger_provider_check(&p) != NULL,
       "smtp login without a password");
    p.api_key = "secret";
    ok(ngx_http_trigger_provider_check(&p) == NULL, "smtp login");

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_BREVO, "xkeysib", NULL);
    p.from_email = "shop@example.com";
    p.from_name = "Shop\r\nBcc: x@example.com";
    ok(ngx_http_trigger_provider_check(&p) != NULL,
       "CRLF in the default sender's name");
}


static const char *
secret(const char *content, size_t content_len, char *buf, size_t size,
    size_t *len)
{
    int          fd;
    char         path[] = "/tmp/trigger-secret-XXXXXX";
    const char  *err;

    fd = mkstemp(path);

    if (fd == -1
        || write(fd, content, content_len) != (ssize_t) content_len)
    {
        return "test: cannot write a temporary file";
    }

    close(fd);

    err = ngx_http_trigger_secret_read(path, buf, size, len);

    unlink(path);

    return err;
}


static void
test_secret(void)
{
    char    buf[16];
    size_t  len;

    ok(secret("sk-123\n", 7, buf, sizeof(buf), &len) == NULL
       && len == 6 && strcmp(buf, "sk-123") == 0, "secret: newline trimmed");
    ok(secret("sk-123\r\n", 8, buf, sizeof(buf), &len) == NULL
       && len == 6 && strcmp(buf, "sk-123") == 0, "secret: CRLF trimmed");
    ok(secret("sk-123", 6, buf, sizeof(buf), &len) == NULL
       && strcmp(buf, "sk-123") == 0, "secret: no newline");
    ok(secret("", 0, buf, sizeof(buf), &len) != NULL, "secret: empty");
    ok(secret("\n", 1, buf, sizeof(buf), &len) != NULL,
       "secret: only a newline");
    ok(secret("sk\nX-Evil: 1\n", 13, buf, sizeof(buf), &len) != NULL
       && buf[0] == '\0', "secret: two lines refused, buffer wiped");
    ok(secret("sk\0x", 4, buf, sizeof(buf), &len) != NULL, "secret: NUL");
    ok(secret("0123456789abcdef", 16, buf, sizeof(buf), &len) != NULL,
       "secret: too large");
    ok(secret("0123456789abcde\n", 16, buf, sizeof(buf), &len) != NULL,
       "secret: fills the buffer with its newline");
    ok(secret("0123456789abcde", 15, buf, sizeof(buf), &len) == NULL
       && len == 15, "secret: largest that fits");
    ok(ngx_http_trigger_secret_read("/nonexistent/trigger", buf, sizeof(buf),
                                    &len) != NULL, "secret: no file");
}


static void
test_sendgrid(void)
{
    json_t                           *root, *data;
    ngx_http_trigger_message_t        m;
    ngx_http_trigger_provider_t       p;
    ngx_http_trigger_http_request_t  *req;

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, "SG.key",
                "http://127.0.0.1:8025");
    m = letter();

    root = build_json(&p, &m, &req, "sendgrid");
    if (req == NULL) {
        return;
    }

    ok(strcmp(req->url, "http://127.0.0.1:8025/v3/mail/send") == 0
       && strcmp(req->method, "POST") == 0, "sendgrid: URL");
    ok(has_header(req, "Authorization: Bearer SG.key")
       && has_header(req, "Content-Type: application/json")
       && strcmp(req->content_type, "application/json") == 0,
       "sendgrid: auth and content type");
    ok(jis(root, "personalizations.0.to.0.email", "ivan@example.org")
       && jis(root, "personalizations.0.to.0.name", TO_NAME),
       "sendgrid: recipient");
    ok(jis(root, "from.email", "shop@example.com")
       && jis(root, "from.name", FROM_NAME)
       && jis(root, "reply_to.email", "help@example.com"),
       "sendgrid: sender, reply-to");
    ok(jis(root, "subject", SUBJECT), "sendgrid: subject");
    ok(jis(root, "content.0.type", "text/plain")
       && jis(root, "content.0.value", TEXT)
       && jis(root, "content.1.type", "text/html")
       && jis(root, "content.1.value", HTML), "sendgrid: text then html");
    ok(jis(root, "headers.List-Unsubscribe", "<" UNSUB ">")
       && jis(root, "headers.List-Unsubscribe-Post",
              "List-Unsubscribe=One-Click"), "sendgrid: RFC 8058 headers");
    ok(jis(root, "custom_args.letter", KEY)
       && jis(root, "custom_args.chain", "offer"),
       "sendgrid: metadata as custom_args");
    ok(jis(root, "categories.0", "offer"), "sendgrid: tag as category");

    json_decref(root);
    ngx_http_trigger_request_free(req);

    p.base_url = NULL;
    m.template_id = "d-0123abcd";
    data = json_pack("{s:s}", "name", "Иван");
    m.template_data = data;

    root = build_json(&p, &m, &req, "sendgrid template");
    if (req == NULL) {
        json_decref(data);
        return;
    }

    ok(strcmp(req->url, "https://api.sendgrid.com/v3/mail/send") == 0,
       "sendgrid: default URL");
    ok(jis(root, "template_id", "d-0123abcd")
       && jis(root, "personalizations.0.dynamic_template_data.name", "Иван")
       && json_object_get(root, "content") == NULL,
       "sendgrid: template and its data, no content");

    json_decref(root);
    json_decref(data);
    ngx_http_trigger_request_free(req);
}


/* the sender frees the letter's strings before libcurl reads the form */

static void
test_mailgun_owns_fields(ngx_http_trigger_provider_t *p)
{
    char                             *subject, *text, *html, *tag;
    json_t                           *md;
    const char                       *err;
    ngx_http_trigger_message_t        m;
    ngx_http_trigger_http_request_t  *req;

    subject = strdup(SUBJECT);
    text = strdup(TEXT);
    html = strdup(HTML);
    tag = strdup("offer");
    md = json_pack("{s:s}", "job", "j-1");

    m = letter();
    m.subject = subject;
    m.text = text;
    m.html = html;
    m.tag = tag;
    m.metadata = md;
    req = NULL;

    err = ngx_http_trigger_provider_build(p, &m, NOW, &req);

    /* gone and overwritten, as a later allocation would */
    memset(subject, 'x', strlen(subject));
    memset(text, 'x', strlen(text));
    memset(html, 'x', strlen(html));
    memset(tag, 'x', strlen(tag));
    json_object_set_new(md, "job", json_string("xxx"));
    free(subject);
    free(text);
    free(html);
    free(tag);
    json_decref(md);

    ok(err == NULL && req
       && form(req, "subject") && strcmp(form(req, "subject"), SUBJECT) == 0
       && form(req, "text") && strcmp(form(req, "text"), TEXT) == 0
       && form(req, "html") && strcmp(form(req, "html"), HTML) == 0
       && form(req, "o:tag") && strcmp(form(req, "o:tag"), "offer") == 0
       && form(req, "v:job") && strcmp(form(req, "v:job"), "j-1") == 0,
       "mailgun: the form keeps its own copies of the letter's strings");

    ngx_http_trigger_request_free(req);
}


static void
test_mailgun(void)
{
    const char                       *err;
    ngx_http_trigger_message_t        m;
    ngx_http_trigger_provider_t       p;
    ngx_http_trigger_http_request_t  *req;

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_MAILGUN, "key-mg-123",
                "http://127.0.0.1:8025/");
    p.domain = "mg.example.com";
    m = letter();
    req = NULL;

    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err == NULL && req, "mailgun: built");
    if (req == NULL) {
        return;
    }

    ok(strcmp(req->url, "http://127.0.0.1:8025/v3/mg.example.com/messages")
       == 0, "mailgun: URL with the domain");
    ok(has_header(req, "Authorization: Basic YXBpOmtleS1tZy0xMjM=")
       && req->nheaders == 1 && req->body == NULL,
       "mailgun: Basic api:key, a form and no body");
    ok(form(req, "from")
       && strcmp(form(req, "from"),
                 "\"" FROM_NAME "\" <shop@example.com>") == 0,
       "mailgun: from");
    ok(form(req, "to")
       && strcmp(form(req, "to"),
                 "\"Иван \\\"Ваня\\\" Петров\" <ivan@example.org>") == 0,
       "mailgun: to, the name's quotes escaped");
    ok(form(req, "subject") && strcmp(form(req, "subject"), SUBJECT) == 0
       && form(req, "text") && strcmp(form(req, "text"), TEXT) == 0
       && form(req, "html") && strcmp(form(req, "html"), HTML) == 0,
       "mailgun: subject, text, html");
    ok(form(req, "h:List-Unsubscribe")
       && strcmp(form(req, "h:List-Unsubscribe"), "<" UNSUB ">") == 0
       && form(req, "h:List-Unsubscribe-Post")
       && strcmp(form(req, "h:List-Unsubscribe-Post"),
                 "List-Unsubscribe=One-Click") == 0,
       "mailgun: RFC 8058 headers");
    ok(form(req, "v:letter") && strcmp(form(req, "v:letter"), KEY) == 0
       && form(req, "v:chain") && strcmp(form(req, "v:chain"), "offer") == 0,
       "mailgun: metadata as v: variables");
    ok(form(req, "o:tag") && strcmp(form(req, "o:tag"), "offer") == 0
       && form(req, "h:Reply-To")
       && strcmp(form(req, "h:Reply-To"), "help@example.com") == 0
       && req->fields[0].value_len == strlen(req->fields[0].value),
       "mailgun: tag, reply-to, lengths");

    ngx_http_trigger_request_free(req);

    test_mailgun_owns_fields(&p);
}


static void
test_postmark(void)
{
    json_t                           *root;
    ngx_http_trigger_message_t        m;
    ngx_http_trigger_provider_t       p;
    ngx_http_trigger_http_request_t  *req;

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_POSTMARK, "pm-token", NULL);
    p.message_stream = "broadcast";
    m = letter();

    root = build_json(&p, &m, &req, "postmark");
    if (req == NULL) {
        return;
    }

    ok(strcmp(req->url, "https://api.postmarkapp.com/email") == 0,
       "postmark: URL");
    ok(has_header(req, "X-Postmark-Server-Token: pm-token")
       && has_header(req, "Accept: application/json"),
       "postmark: token, Accept");
    ok(jis(root, "From", "\"" FROM_NAME "\" <shop@example.com>")
       && jis(root, "To", "\"Иван \\\"Ваня\\\" Петров\" <ivan@example.org>")
       && jis(root, "ReplyTo", "help@example.com"), "postmark: addresses");
    ok(jis(root, "Subject", SUBJECT) && jis(root, "HtmlBody", HTML)
       && jis(root, "TextBody", TEXT), "postmark: subject and bodies");
    ok(jis(root, "Headers.0.Name", "List-Unsubscribe")
       && jis(root, "Headers.0.Value", "<" UNSUB ">")
       && jis(root, "Headers.1.Name", "List-Unsubscribe-Post")
       && jis(root, "Headers.1.Value", "List-Unsubscribe=One-Click"),
       "postmark: RFC 8058 headers");
    ok(jis(root, "Metadata.letter", KEY) && jis(root, "Metadata.chain", "offer")
       && jis(root, "MessageStream", "broadcast") && jis(root, "Tag", "offer"),
       "postmark: metadata, stream, tag");

    json_decref(root);
    ngx_http_trigger_request_free(req);

    m.template_id = "12345";
    root = build_json(&p, &m, &req, "postmark template");
    if (req == NULL) {
        return;
    }

    ok(strcmp(req->url, "https://api.postmarkapp.com/email/withTemplate") == 0
       && json_integer_value(json_object_get(root, "TemplateId")) == 12345
       && json_is_object(json_object_get(root, "TemplateModel"))
       && json_object_get(root, "Subject") == NULL
       && json_object_get(root, "HtmlBody") == NULL,
       "postmark: numeric template id");

    json_decref(root);
    ngx_http_trigger_request_free(req);

    m.template_id = "welcome";
    root = build_json(&p, &m, &req, "postmark alias");
    if (req == NULL) {
        return;
    }

    ok(jis(root, "TemplateAlias", "welcome"), "postmark: template alias");

    json_decref(root);
    ngx_http_trigger_request_free(req);
}


static void
test_brevo(void)
{
    json_t                           *root;
    const char                       *err;
    ngx_http_trigger_message_t        m;
    ngx_http_trigger_provider_t       p;
    ngx_http_trigger_http_request_t  *req;

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_BREVO, "xkeysib-1", NULL);
    m = letter();

    root = build_json(&p, &m, &req, "brevo");
    if (req == NULL) {
        return;
    }

    ok(strcmp(req->url, "https://api.brevo.com/v3/smtp/email") == 0
       && has_header(req, "api-key: xkeysib-1"), "brevo: URL, api-key");
    ok(jis(root, "sender.email", "shop@example.com")
       && jis(root, "sender.name", FROM_EW)
       && jis(root, "to.0.email", "ivan@example.org")
       && jis(root, "to.0.name", TO_EW)
       && jis(root, "replyTo.email", "help@example.com"),
       "brevo: addresses, names with specials as encoded-words");
    ok(jis(root, "subject", SUBJECT) && jis(root, "htmlContent", HTML)
       && jis(root, "textContent", TEXT), "brevo: subject and bodies");
    ok(jis(root, "headers.idempotencyKey",
           "945810b3-93e6-5c8f-858f-e8e1cd4e166c"),
       "brevo: idempotency key as a UUID from the key's SHA-1");
    ok(jis(root, "headers.X-Mailin-custom",
           "{\"letter\":\"" KEY "\",\"chain\":\"offer\"}"),
       "brevo: metadata in X-Mailin-custom");
    ok(jis(root, "headers.List-Unsubscribe", "<" UNSUB ">")
       && jis(root, "headers.List-Unsubscribe-Post",
              "List-Unsubscribe=One-Click") && jis(root, "tags.0", "offer"),
       "brevo: RFC 8058 headers, tag");

    json_decref(root);
    ngx_http_trigger_request_free(req);

    m.from_name = "Магазин Ромашка";
    m.template_id = "17";
    m.template_data = metadata;
    root = build_json(&p, &m, &req, "brevo template");
    if (req == NULL) {
        return;
    }

    ok(json_integer_value(json_object_get(root, "templateId")) == 17
       && jis(root, "params.letter", KEY)
       && json_object_get(root, "htmlContent") == NULL,
       "brevo: template id as a number, params");
    ok(jis(root, "sender.name", "Магазин Ромашка"),
       "brevo: a name without specials as it is");

    json_decref(root);
    ngx_http_trigger_request_free(req);

    m.template_id = "welcome";
    req = NULL;
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err && req == NULL, "brevo: template ids are numbers");
}


static void
test_unisender_go(void)
{
    json_t                           *root;
    ngx_http_trigger_message_t        m;
    ngx_http_trigger_provider_t       p;
    ngx_http_trigger_http_request_t  *req;

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO, "us-key", NULL);
    p.region_host = "go2.unisender.ru";
    m = letter();

    root = build_json(&p, &m, &req, "unisender go");
    if (req == NULL) {
        return;
    }

    ok(strcmp(req->url, "https://go2.unisender.ru/ru/transactional/api/v1/"
                        "email/send.json") == 0
       && has_header(req, "X-API-KEY: us-key"),
       "unisender go: URL on the account's host, X-API-KEY");
    ok(jis(root, "idempotence_key", KEY), "unisender go: idempotence_key");
    ok(jis(root, "message.recipients.0.email", "ivan@example.org")
       && jis(root, "message.recipients.0.metadata.letter", KEY)
       && jis(root, "message.recipients.0.metadata.chain", "offer"),
       "unisender go: recipient and its metadata");
    ok(jis(root, "message.from_email", "shop@example.com")
       && jis(root, "message.from_name", FROM_NAME)
       && jis(root, "message.reply_to", "help@example.com")
       && jis(root, "message.subject", SUBJECT)
       && jis(root, "message.body.html", HTML)
       && jis(root, "message.body.plaintext", TEXT),
       "unisender go: sender, subject, bodies");
    ok(jis(root, "message.headers.To", TO_EW " <ivan@example.org>")
       && jis(root, "message.headers.List-Unsubscribe", "<" UNSUB ">")
       && jis(root, "message.headers.List-Unsubscribe-Post",
              "List-Unsubscribe=One-Click")
       && jis(root, "message.tags.0", "offer"),
       "unisender go: To with an encoded name, RFC 8058 headers, tag");

    json_decref(root);
    ngx_http_trigger_request_free(req);

    p.base_url = "http://127.0.0.1:8025";
    root = build_json(&p, &m, &req, "unisender go, test URL");
    if (req == NULL) {
        return;
    }

    ok(strcmp(req->url, "http://127.0.0.1:8025/ru/transactional/api/v1/"
                        "email/send.json") == 0,
       "unisender go: base URL wins over the host");

    json_decref(root);
    ngx_http_trigger_request_free(req);
}


static void
test_json_profile(void)
{
    const char                       *err;
    ngx_http_trigger_message_t        m;
    ngx_http_trigger_provider_t       p;
    ngx_http_trigger_http_request_t  *req;

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_JSON, "tok",
                "http://127.0.0.1:8025/send");
    memset(&m, 0, sizeof(m));
    m.idempotency_key = KEY;
    m.json_body = "{\"to\":\"ivan@example.org\",\"subject\":\"Скидка\"}";
    req = NULL;

    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err == NULL && req, "json: built");
    if (req == NULL) {
        return;
    }

    ok(strcmp(req->url, "http://127.0.0.1:8025/send") == 0
       && has_header(req, "Authorization: Bearer tok")
       && has_header(req, "Idempotency-Key: " KEY)
       && has_header(req, "Content-Type: application/json"),
       "json: URL, Bearer, Idempotency-Key");
    ok(req->body_len == strlen(m.json_body)
       && memcmp(req->body, m.json_body, req->body_len) == 0,
       "json: the rendered body as it is");

    ngx_http_trigger_request_free(req);

    p.api_key = NULL;
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err == NULL && req && req->nheaders == 3
       && !has_header(req, "Authorization: Bearer tok"),
       "json: no key, no Authorization");
    ngx_http_trigger_request_free(req);

    m.json_body = "{\"to\":";
    req = NULL;
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err && req == NULL, "json: a body that is not JSON is refused");
}


/* quoted-printable back to bytes, for the checks */

static size_t
qp_decode(char *dst, const char *src, size_t len)
{
    char    hex[3];
    size_t  i, d;

    d = 0;

    for (i = 0; i < len; i++) {
        if (src[i] != '=') {
            dst[d++] = src[i];
            continue;
        }

        if (i + 2 < len && src[i + 1] == '\r' && src[i + 2] == '\n') {
            i += 2;
            continue;
        }

        hex[0] = src[i + 1];
        hex[1] = src[i + 2];
        hex[2] = '\0';
        dst[d++] = (char) strtol(hex, NULL, 16);
        i += 2;
    }

    return d;
}


/* does the quoted-printable text from p to q decode to want? */

static int
qp_is(const char *p, const char *q, const char *want)
{
    int     rc;
    char   *buf, *crlf;
    size_t  n, i;

    if (p == NULL || q == NULL || q < p) {
        return 0;
    }

    buf = malloc(q - p + 1);
    n = qp_decode(buf, p, q - p);

    /* the original with CRLF line breaks */
    crlf = malloc(2 * strlen(want) + 1);

    for (i = 0; *want; want++) {
        if (*want == '\n') {
            crlf[i++] = '\r';
        }

        crlf[i++] = *want;
    }

    rc = n == i && memcmp(buf, crlf, n) == 0;

    free(buf);
    free(crlf);

    return rc;
}


/* a part of multipart/alternative: from its blank line to the boundary */

static int
part_is(const char *msg, const char *type, const char *want)
{
    const char  *p;

    p = strstr(msg, type);
    p = p ? strstr(p, "\r\n\r\n") : NULL;

    return p && qp_is(p + 4, strstr(p + 4, "\r\n--=_"), want);
}


static int
lines_ok(const char *s, size_t len)
{
    size_t  i, col;

    col = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '\n' || (s[i] == '\r' && (i + 1 == len
                                               || s[i + 1] != '\n')))
        {
            return 0;
        }

        if (s[i] == '\r') {
            i++;
            col = 0;
            continue;
        }

        if (++col > 998) {
            return 0;
        }
    }

    return len >= 2 && s[len - 2] == '\r' && s[len - 1] == '\n';
}


static void
test_smtp(void)
{
    char                             *html;
    const char                       *err, *body;
    ngx_http_trigger_message_t        m;
    ngx_http_trigger_provider_t       p;
    ngx_http_trigger_http_request_t  *req;

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_SMTP, "pass",
                "smtps://smtp.example.com");
    p.user = "shop";
    m = letter();
    req = NULL;

    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err == NULL && req, "smtp: built");
    if (req == NULL) {
        return;
    }

    body = req->body;

    ok(strcmp(req->url, "smtps://smtp.example.com") == 0
       && strcmp(req->mail_from, "shop@example.com") == 0
       && strcmp(req->rcpt_to, "ivan@example.org") == 0
       && strcmp(req->user, "shop") == 0
       && strcmp(req->password, "pass") == 0
       && req->nheaders == 0 && req->method == NULL,
       "smtp: URL, envelope, login");
    ok(strcmp(req->message_id, "<" KEY "@example.com>") == 0,
       "smtp: Message-ID from the key and the sender's domain");
    ok(req->tls, "smtp: smtps:// is encrypted");
    ok(strlen(body) == req->body_len && lines_ok(body, req->body_len),
       "smtp: CRLF lines of at most 998 characters");
    ok(strncmp(body, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n", 39) == 0,
       "smtp: Date");
    ok(strstr(body, "\r\nFrom: " FROM_EW " <shop@example.com>\r\n") != NULL,
       "smtp: From with an encoded-word");
    ok(strstr(body, "\r\nTo: " TO_EW " <ivan@example.org>\r\n") != NULL,
       "smtp: To with an encoded-word");
    ok(strstr(body, "\r\nSubject: " SUBJECT_EW "\r\n") != NULL,
       "smtp: Subject as folded encoded-words");
    ok(strstr(body, "\r\nReply-To: help@example.com\r\n") != NULL
       && strstr(body, "\r\nMessage-ID: <" KEY "@example.com>\r\n") != NULL
       && strstr(body, "\r\nMIME-Version: 1.0\r\n") != NULL,
       "smtp: Reply-To, Message-ID, MIME-Version");
    ok(strstr(body, "\r\nList-Unsubscribe: <" UNSUB ">\r\n"
                    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
       != NULL, "smtp: RFC 8058 headers");
    ok(strstr(body, "\r\nContent-Type: multipart/alternative; "
                    "boundary=\"=_" KEY "\"\r\n\r\n--=_" KEY "\r\n"
                    "Content-Type: text/plain; charset=UTF-8\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n")
       != NULL, "smtp: multipart/alternative, text first");
    ok(strstr(body, "\r\n--=_" KEY "\r\n"
                    "Content-Type: text/html; charset=UTF-8\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n")
       != NULL, "smtp: html part");
    ok(req->body_len > 20
       && strcmp(body + req->body_len - sizeof("\r\n--=_" KEY "--\r\n") + 1,
                 "\r\n--=_" KEY "--\r\n") == 0,
       "smtp: closing boundary");
    ok(part_is(body, "text/plain", TEXT),
       "smtp: text part decodes to the text");
    ok(part_is(body, "text/html", HTML),
       "smtp: html part decodes to the html");
    ok(strstr(body, "\r\n=2E") != NULL,
       "smtp: a dot starting a line is encoded");

    ngx_http_trigger_request_free(req);

    /* one long line, ASCII names and subject, html only */
    html = malloc(3001);
    memset(html, 'x', 3000);
    memcpy(html + 1000, "\xd0\xaf \t", 4);
    html[3000] = '\0';

    m.html = html;
    m.text = NULL;
    m.from_name = "Shop \"The Best\"";
    m.to_name = NULL;
    m.subject = "Hello";
    m.list_unsubscribe_url = NULL;
    m.reply_to = NULL;
    p.user = NULL;
    p.api_key = NULL;

    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err == NULL && req, "smtp: html only built");

    if (req) {
        body = req->body;

        ok(lines_ok(body, req->body_len), "smtp: a 3000-byte line is split");
        ok(strstr(body, "\r\nFrom: \"Shop \\\"The Best\\\"\" <shop@example.com>"
                        "\r\nTo: ivan@example.org\r\nSubject: Hello\r\n")
           != NULL, "smtp: ASCII name quoted, no name, ASCII subject");
        ok(strstr(body, "multipart") == NULL
           && strstr(body, "List-Unsubscribe") == NULL
           && strstr(body, "\r\nMIME-Version: 1.0\r\nContent-Type: text/html; "
                           "charset=UTF-8\r\n") != NULL,
           "smtp: a single part, no unsubscribe headers");
        ok(qp_is(strstr(body, "\r\n\r\n") + 4, body + req->body_len - 2,
                 html), "smtp: the long line decodes back");
        ok(req->user == NULL && req->password == NULL, "smtp: no login");

        ngx_http_trigger_request_free(req);
    }

    free(html);

    m = letter();
    m.template_id = "welcome";
    req = NULL;
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err && req == NULL, "smtp: no templates");

    /* smtp:// requires STARTTLS, but for a relay on loopback */
    m = letter();
    p.base_url = "smtp://smtp.example.com:587";
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err == NULL && req && req->tls, "smtp: smtp:// requires STARTTLS");
    ngx_http_trigger_request_free(req);

    p.base_url = "smtp://127.0.0.1:2525";
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err == NULL && req && !req->tls, "smtp: loopback may go in clear");
    ngx_http_trigger_request_free(req);

    p.base_url = "smtp://127.0.0.1.example.net:587";
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err == NULL && req && req->tls, "smtp: a name like 127.0.0.1.x is not");
    ngx_http_trigger_request_free(req);
}


static void
test_injection(void)
{
    int                               refused;
    char                              name[128];
    size_t                            i, t;
    json_t                           *md;
    const char                       *err;
    ngx_http_trigger_message_t        m;
    ngx_http_trigger_provider_t       p;
    ngx_http_trigger_http_request_t  *req;

    static const struct {
        const char  *name;
        size_t       offset;
        const char  *value;
    } cases[] = {
        { "to_name", offsetof(ngx_http_trigger_message_t, to_name),
          "Ivan\r\nBcc: victim@example.com" },
        { "from_name", offsetof(ngx_http_trigger_message_t, from_name),
          "Shop\nX-Evil: 1" },
        { "subject", offsetof(ngx_http_trigger_message_t, subject),
          "Hi\r\nBcc: victim@example.com" },
        { "subject with a lone CR",
          offsetof(ngx_http_trigger_message_t, subject), "Hi\rthere" },
        { "subject with DEL", offsetof(ngx_http_trigger_message_t, subject),
          "Hi\x7f" },
        { "to_email", offsetof(ngx_http_trigger_message_t, to_email),
          "ivan@example.org\r\nBcc: victim@example.com" },
        { "from_email", offsetof(ngx_http_trigger_message_t, from_email),
          "shop@example.com\n" },
        { "reply_to", offsetof(ngx_http_trigger_message_t, reply_to),
          "help@example.com\r\n" },
        { "an address with a space",
          offsetof(ngx_http_trigger_message_t, to_email),
          "ivan petrov@example.org" },
        { "an address with two @",
          offsetof(ngx_http_trigger_message_t, to_email),
          "ivan@petrov@example.org" },
        { "list_unsubscribe_url",
          offsetof(ngx_http_trigger_message_t, list_unsubscribe_url),
          "https://shop.example.com/u\r\nBcc: victim@example.com" },
        { "an http unsubscribe URL",
          offsetof(ngx_http_trigger_message_t, list_unsubscribe_url),
          "http://shop.example.com/u" },
        { "a URL with >",
          offsetof(ngx_http_trigger_message_t, list_unsubscribe_url),
          "https://shop.example.com/u>, <mailto:x@example.com" },
        { "idempotency_key",
          offsetof(ngx_http_trigger_message_t, idempotency_key),
          "k\r\nX-Evil: 1" },
        { "tag", offsetof(ngx_http_trigger_message_t, tag), "offer\n" },
        { "template_id", offsetof(ngx_http_trigger_message_t, template_id),
          "d-1\r\nX-Evil: 1" },
        { "a name that is not UTF-8",
          offsetof(ngx_http_trigger_message_t, to_name), "Iv\xff" },
        { "an html body that is not UTF-8",
          offsetof(ngx_http_trigger_message_t, html), "<p>\xc3</p>" }
    };

    static const ngx_http_trigger_provider_e  types[] = {
        NGX_HTTP_TRIGGER_PROVIDER_SENDGRID,
        NGX_HTTP_TRIGGER_PROVIDER_MAILGUN,
        NGX_HTTP_TRIGGER_PROVIDER_POSTMARK,
        NGX_HTTP_TRIGGER_PROVIDER_BREVO,
        NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO,
        NGX_HTTP_TRIGGER_PROVIDER_SMTP
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        refused = 1;

        for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
            p = profile(types[t], "key", "smtps://smtp.example.com");

            if (types[t] != NGX_HTTP_TRIGGER_PROVIDER_SMTP) {
                p.base_url = NULL;
            }

            p.domain = "mg.example.com";
            p.region_host = "go1.unisender.ru";

            m = letter();
            *(const char **) ((char *) &m + cases[i].offset) = cases[i].value;

            req = NULL;
            err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);

            if (err == NULL || req != NULL) {
                refused = 0;
                ngx_http_trigger_request_free(req);
            }
        }

        snprintf(name, sizeof(name), "every provider refuses %s",
                 cases[i].name);
        ok(refused, name);
    }

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, "k", NULL);

    m = letter();
    md = json_pack("{s:s}", "letter", "L-1\r\nX-Evil: 1");
    m.metadata = md;
    req = NULL;
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err && req == NULL, "CRLF in a metadata value refused");
    json_decref(md);

    md = json_pack("{s:s}", "bad name", "x");
    m.metadata = md;
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err && req == NULL, "a metadata name with a space refused");
    json_decref(md);

    md = json_pack("{s:i}", "letter", 1);
    m.metadata = md;
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err && req == NULL, "a metadata value that is not a string refused");
    json_decref(md);

    md = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
                   "a", "1", "b", "1", "c", "1", "d", "1", "e", "1", "f", "1",
                   "g", "1", "h", "1", "i", "1", "j", "1", "k", "1");
    m.metadata = md;
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err && req == NULL, "more than 10 metadata fields refused");
    json_decref(md);

    /* an unchecked profile: the header guard is the last line */
    p.api_key = "SG.key\r\nX-Evil: 1";
    m = letter();
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err && req == NULL, "CRLF in an unchecked key stops at the header");

    p.api_key = "k";
    m = letter();
    m.html = "<p>line one\r\nline two</p>";
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err == NULL && req, "line breaks in a body are content");
    ngx_http_trigger_request_free(req);

    m = letter();
    m.from_email = NULL;
    m.from_name = NULL;
    p.from_email = "news@example.com";
    p.from_name = "News";
    req = NULL;
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err == NULL && req && strstr(req->body, "\"news@example.com\"")
       && strstr(req->body, "\"News\""), "the profile's sender by default");
    ngx_http_trigger_request_free(req);

    m.subject = NULL;
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err && strstr(err, "subject"), "a rendered letter needs a subject");

    m = letter();
    m.html = NULL;
    m.text = NULL;
    err = ngx_http_trigger_provider_build(&p, &m, NOW, &req);
    ok(err != NULL, "a rendered letter needs html or text");
}


static void
result(ngx_http_trigger_provider_e type, int status, const char *retry_after,
    const char *id, const char *body, ngx_http_trigger_send_result_t *res)
{
    ngx_http_trigger_provider_t  p;

    p = profile(type, "k", NULL);

    ngx_http_trigger_provider_result(&p, status, retry_after, id,
                                     (const u_char *) body,
                                     body ? strlen(body) : 0, NOW, res);
}


#define SENT(res, want)                                                     \
    ((res).status == NGX_HTTP_TRIGGER_SEND_SENT                             \
     && strcmp((res).id, want) == 0)
#define RETRY(res, secs)                                                    \
    ((res).status == NGX_HTTP_TRIGGER_SEND_RETRY && (res).delay == (secs))
#define FAILED(res, why)                                                    \
    ((res).status == NGX_HTTP_TRIGGER_SEND_FAILED                           \
     && strcmp((res).reason, why) == 0)


static void
test_results(void)
{
    int                              i;
    char                            *big;
    json_t                          *s;
    ngx_http_trigger_provider_t      p;
    ngx_http_trigger_send_result_t   res;

    p = profile(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, "k", NULL);
    ok(strcmp(ngx_http_trigger_provider_id_header(&p), "X-Message-Id") == 0,
       "sendgrid's id is a header");
    p.type = NGX_HTTP_TRIGGER_PROVIDER_MAILGUN;
    ok(ngx_http_trigger_provider_id_header(&p) == NULL,
       "mailgun's id is in the body");

    result(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, 202, NULL,
           "W1Aq3bLnSvqN1bI7YnXnRQ", "", &res);
    ok(SENT(res, "W1Aq3bLnSvqN1bI7YnXnRQ"), "sendgrid 202: X-Message-Id");

    result(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, 400, NULL, NULL,
           "{\"errors\":[{\"message\":\"The from address does not match a "
           "verified Sender Identity.\",\"field\":\"from\",\"help\":null}]}",
           &res);
    ok(FAILED(res, "HTTP 400 The from address does not match a verified "
                   "Sender Identity."), "sendgrid 400: permanent, reason");

    result(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, 401, NULL, NULL,
           "{\"errors\":[{\"field\":null,\"message\":\"The provided "
           "authorization grant is invalid, expired, or revoked\"}]}", &res);
    ok(res.status == NGX_HTTP_TRIGGER_SEND_FAILED, "sendgrid 401: permanent");

    result(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, 403, NULL, NULL, "", &res);
    ok(FAILED(res, "HTTP 403"), "403: permanent");
    result(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, 413, NULL, NULL, "", &res);
    ok(res.status == NGX_HTTP_TRIGGER_SEND_FAILED, "413: permanent");
    result(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, 422, NULL, NULL, "", &res);
    ok(res.status == NGX_HTTP_TRIGGER_SEND_FAILED, "422: permanent");

    result(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, 429, "30", NULL,
           "{\"errors\":[{\"message\":\"too many requests\"}]}", &res);
    ok(RETRY(res, 30)
       && strcmp(res.reason, "HTTP 429 too many requests") == 0,
       "429: retry after the seconds asked");

    /* NOW + 120 s */
    result(NGX_HTTP_TRIGGER_PROVIDER_MAILGUN, 429,
           "Tue, 14 Nov 2023 22:15:20 GMT", NULL, "", &res);
    ok(RETRY(res, 120), "429: retry after an HTTP-date");

    result(NGX_HTTP_TRIGGER_PROVIDER_MAILGUN, 503,
           "Tue, 14 Nov 2023 22:00:00 GMT", NULL, "", &res);
    ok(RETRY(res, 1), "503: a date in the past retries at once");

    result(NGX_HTTP_TRIGGER_PROVIDER_MAILGUN, 503, "Tuesday", NULL, "",
           &res);
    ok(RETRY(res, 0), "503: a Retry-After not understood: own backoff");

    result(NGX_HTTP_TRIGGER_PROVIDER_MAILGUN, 429, "99999999999", NULL, "",
           &res);
    ok(RETRY(res, NGX_HTTP_TRIGGER_RETRY_AFTER_MAX),
       "429: a day at most");

    result(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, 500, NULL, NULL,
           "<html>Internal error</html>", &res);
    ok(RETRY(res, 0) && strcmp(res.reason,
                               "HTTP 500 <html>Internal error</html>") == 0,
       "500: retry, the page in the reason");
    result(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, 502, NULL, NULL, NULL, &res);
    ok(RETRY(res, 0), "502: retry");
    result(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, 408, NULL, NULL, NULL, &res);
    ok(RETRY(res, 0), "408: retry");
    result(NGX_HTTP_TRIGGER_PROVIDER_SENDGRID, 301, NULL, NULL, NULL, &res);
    ok(res.status == NGX_HTTP_TRIGGER_SEND_FAILED,
       "a redirect: a wrong URL, permanent");

    result(NGX_HTTP_TRIGGER_PROVIDER_MAILGUN, 200, NULL, NULL,
           "{\"id\":\"<20231114221320.1.ABCD@mg.example.com>\","
           "\"message\":\"Queued. Thank you.\"}", &res);
    ok(SENT(res, "<20231114221320.1.ABCD@mg.example.com>"),
       "mailgun 200: id from the body");
    result(NGX_HTTP_TRIGGER_PROVIDER_MAILGUN, 401, NULL, NULL, "Forbidden",
           &res);
    ok(FAILED(res, "HTTP 401 Forbidden"), "mailgun 401: plain text reason");
    result(NGX_HTTP_TRIGGER_PROVIDER_MAILGUN, 400, NULL, NULL,
           "{\"message\":\"'to' parameter is not a valid address. please "
           "check documentation\"}", &res);
    ok(FAILED(res, "HTTP 400 'to' parameter is not a valid address. please "
                   "check documentation"), "mailgun 400");

    result(NGX_HTTP_TRIGGER_PROVIDER_POSTMARK, 200, NULL, NULL,
           "{\"To\":\"ivan@example.org\",\"SubmittedAt\":"
           "\"2023-11-14T22:13:20.0000000Z\",\"MessageID\":"
           "\"0a129aee-e1cd-480d-b08d-4f48548ff48d\",\"ErrorCode\":0,"
           "\"Message\":\"OK\"}", &res);
    ok(SENT(res, "0a129aee-e1cd-480d-b08d-4f48548ff48d"),
       "postmark 200: MessageID");
    result(NGX_HTTP_TRIGGER_PROVIDER_POSTMARK, 422, NULL, NULL,
           "{\"ErrorCode\":406,\"Message\":\"You tried to send to recipient(s)"
           " that have been marked as inactive.\"}", &res);
    ok(FAILED(res, "HTTP 422 [406] You tried to send to recipient(s) that "
                   "have been marked as inactive."),
       "postmark 406 inactive recipient: permanent");
    result(NGX_HTTP_TRIGGER_PROVIDER_POSTMARK, 422, NULL, NULL,
           "{\"ErrorCode\":300,\"Message\":\"Invalid 'To' address: "
           "'ivan'.\"}", &res);
    ok(res.status == NGX_HTTP_TRIGGER_SEND_FAILED
       && strstr(res.reason, "[300]"), "postmark 300: permanent");
    result(NGX_HTTP_TRIGGER_PROVIDER_POSTMARK, 401, NULL, NULL,
           "{\"ErrorCode\":10,\"Message\":\"Bad or missing API token\"}",
           &res);
    ok(res.status == NGX_HTTP_TRIGGER_SEND_FAILED,
       "postmark 10 bad token: permanent");
    result(NGX_HTTP_TRIGGER_PROVIDER_POSTMARK, 422, NULL, NULL,
           "{\"ErrorCode\":100,\"Message\":\"Maintenance\"}", &res);
    ok(RETRY(res, 0), "postmark 100 maintenance: retry");
    result(NGX_HTTP_TRIGGER_PROVIDER_POSTMARK, 429, "5", NULL,
           "{\"ErrorCode\":429,\"Message\":\"Rate limit exceeded\"}", &res);
    ok(RETRY(res, 5), "postmark 429: retry");

    result(NGX_HTTP_TRIGGER_PROVIDER_BREVO, 201, NULL, NULL,
           "{\"messageId\":\"<202311142213.12345678901@smtp-relay.mailin.fr>"
           "\"}", &res);
    ok(SENT(res, "<202311142213.12345678901@smtp-relay.mailin.fr>"),
       "brevo 201: messageId");
    result(NGX_HTTP_TRIGGER_PROVIDER_BREVO, 400, NULL, NULL,
           "{\"code\":\"invalid_parameter\",\"message\":\"email is not "
           "valid in to\"}", &res);
    ok(FAILED(res, "HTTP 400 [invalid_parameter] email is not valid in to"),
       "brevo 400: permanent with the code");
    result(NGX_HTTP_TRIGGER_PROVIDER_BREVO, 402, NULL, NULL,
           "{\"code\":\"not_enough_credits\",\"message\":\"Not enough "
           "credits\"}", &res);
    ok(res.status == NGX_HTTP_TRIGGER_SEND_FAILED,
       "brevo 402: permanent");
    result(NGX_HTTP_TRIGGER_PROVIDER_BREVO, 400, NULL, NULL,
           "{\"code\":\"duplicate_parameter\",\"message\":\"duplicate "
           "idempotency key\"}", &res);
    ok(SENT(res, ""), "brevo duplicate_parameter: sent by an earlier try");

    result(NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO, 200, NULL, NULL,
           "{\"status\":\"success\",\"job_id\":\"1ZymBc-00041N-9X\","
           "\"emails\":[\"ivan@example.org\"]}", &res);
    ok(SENT(res, "1ZymBc-00041N-9X"), "unisender go 200: job_id");
    result(NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO, 200, NULL, NULL,
           "{\"status\":\"success\",\"job_id\":\"1ZymBc-00041N-9X\","
           "\"emails\":[],\"failed_emails\":{\"ivan@example.org\":"
           "\"unsubscribed\"}}", &res);
    ok(FAILED(res, "HTTP 200 [unsubscribed]"),
       "unisender go: an unsubscribed recipient is permanent");
    result(NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO, 200, NULL, NULL,
           "{\"status\":\"success\",\"job_id\":\"1ZymBc-00041N-9X\","
           "\"emails\":[],\"failed_emails\":{\"ivan@example.org\":"
           "\"temporary_unavailable\"}}", &res);
    ok(RETRY(res, 0), "unisender go: temporary_unavailable retries");
    result(NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO, 200, NULL, NULL,
           "{\"status\":\"success\",\"job_id\":\"1ZymBc-00041N-9X\","
           "\"emails\":[],\"failed_emails\":{\"ivan@example.org\":"
           "\"duplicate\"}}", &res);
    ok(SENT(res, "1ZymBc-00041N-9X"), "unisender go: a duplicate was sent");
    result(NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO, 400, NULL, NULL,
           "{\"status\":\"error\",\"message\":\"Пользователь не найден\","
           "\"code\":114}", &res);
    ok(FAILED(res, "HTTP 400 [114] Пользователь не найден"),
       "unisender go 400: permanent, UTF-8 reason kept");

    result(NGX_HTTP_TRIGGER_PROVIDER_JSON, 200, NULL, NULL,
           "{\"id\":\"abc-1\"}", &res);
    ok(SENT(res, "abc-1"), "json 200: id");
    result(NGX_HTTP_TRIGGER_PROVIDER_JSON, 204, NULL, NULL, NULL, &res);
    ok(SENT(res, ""), "json 204: no id");

    result(NGX_HTTP_TRIGGER_PROVIDER_SMTP, 250, NULL, "<" KEY "@example.com>",
           "2.0.0 Ok: queued as 4SVb1", &res);
    ok(SENT(res, "<" KEY "@example.com>"), "smtp 250: the Message-ID");
    result(NGX_HTTP_TRIGGER_PROVIDER_SMTP, 451, NULL, NULL,
           "4.7.1 Try again later\r\n", &res);
    ok(RETRY(res, 0) && strcmp(res.reason, "SMTP 451 4.7.1 Try again later")
                        == 0, "smtp 451: transient");
    result(NGX_HTTP_TRIGGER_PROVIDER_SMTP, 550, NULL, NULL,
           "5.1.1 <ivan@example.org>: Recipient address rejected", &res);
    ok(FAILED(res, "SMTP 550 5.1.1 <ivan@example.org>: Recipient address "
                   "rejected"), "smtp 550: permanent");

    big = malloc(1001);
    memset(big, 0xd0, 1000);
    big[1000] = '\0';

    for (i = 0; i < 1000; i += 2) {
        big[i + 1] = (char) 0xaf;
    }

    big[5] = '\n';
    result(NGX_HTTP_TRIGGER_PROVIDER_MAILGUN, 400, NULL, NULL, big, &res);
    ok(strlen(res.reason) <= NGX_HTTP_TRIGGER_SEND_REASON_MAX
       && strchr(res.reason, '\n') == NULL
       && strncmp(res.reason, "HTTP 400 \xd0\xaf\xd0\xaf? \xd0\xaf", 17) == 0,
       "a long reason: controls and bad bytes replaced");

    /* jansson takes valid UTF-8 only */
    s = json_string(res.reason);
    ok(s != NULL && strlen(res.reason) > 190,
       "a long reason is cut between characters");
    json_decref(s);

    free(big);
}


void
test_providers(void)
{
    metadata = json_pack("{s:s,s:s}", "letter", KEY, "chain", "offer");

    test_provider_config();
    test_secret();
    test_sendgrid();
    test_mailgun();
    test_postmark();
    test_brevo();
    test_unisender_go();
    test_json_profile();
    test_smtp();
    test_injection();
    test_results();

    json_decref(metadata);
}
