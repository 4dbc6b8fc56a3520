/*
 * Email service providers: what to send for one letter (a request for
 * the provider's HTTP API, or a whole message for SMTP) and what the
 * provider's answer means.  Plain C and jansson: no nginx, no libcurl;
 * the glue turns a request into a curl handle and calls back with the
 * answer.  docs/providers.md describes each profile.
 */

#ifndef _NGX_HTTP_TRIGGER_PROVIDER_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_PROVIDER_H_INCLUDED_


#include <stddef.h>
#include <time.h>
#include <sys/types.h>
#include <jansson.h>


typedef enum {
    NGX_HTTP_TRIGGER_PROVIDER_NONE = 0,
    NGX_HTTP_TRIGGER_PROVIDER_SENDGRID,
    NGX_HTTP_TRIGGER_PROVIDER_MAILGUN,
    NGX_HTTP_TRIGGER_PROVIDER_POSTMARK,
    NGX_HTTP_TRIGGER_PROVIDER_BREVO,
    NGX_HTTP_TRIGGER_PROVIDER_UNISENDER_GO,
    NGX_HTTP_TRIGGER_PROVIDER_JSON,
    NGX_HTTP_TRIGGER_PROVIDER_SMTP,
    NGX_HTTP_TRIGGER_PROVIDER_COUNT
} ngx_http_trigger_provider_e;


/*
 * A profile, from the configuration.  The strings are the caller's and
 * must outlive the profile; NULL means not set.
 */
typedef struct {
    ngx_http_trigger_provider_e  type;
    /* the API key or token; for SMTP the password */
    const char                  *api_key;
    /* SMTP only: the login */
    const char                  *user;
    /*
     * scheme and host (and a path prefix), without the API's own path:
     * "https://api.eu.mailgun.net"; NULL for the provider's default.
     * Plain http only to 127.0.0.1, ::1 or localhost (a test's fake
     * provider).  The JSON profile: the whole URL.  SMTP: "smtps://host"
     * or "smtp://host:587", where the sender must require STARTTLS.
     */
    const char                  *base_url;
    /* Mailgun: the sending domain, part of the API's path */
    const char                  *domain;
    /* UniSender Go: the account's host, "go1.unisender.ru" or "go2..." */
    const char                  *region_host;
    /* Postmark: the message stream ("outbound" when not set) */
    const char                  *message_stream;
    /* for letters that name no sender */
    const char                  *from_email;
    const char                  *from_name;
} ngx_http_trigger_provider_t;


/* "sendgrid", "mailgun", ...; NGX_HTTP_TRIGGER_PROVIDER_NONE if unknown */
ngx_http_trigger_provider_e ngx_http_trigger_provider_type(const char *name);

/* checks a profile; returns NULL or what is wrong with it */
const char *ngx_http_trigger_provider_check(
    const ngx_http_trigger_provider_t *p);


/*
 * Reads a secret (an API key, a password) from a file: one line without
 * control characters, its trailing newline trimmed, 1 to size - 1
 * bytes, into buf, NUL-terminated.  Returns NULL or what is wrong (errno
 * then tells why an open or read failed); on failure buf is wiped.
 */
const char *ngx_http_trigger_secret_read(const char *path, char *buf,
    size_t size, size_t *len);


/*
 * A letter.  Strings are NUL-terminated UTF-8, NULL when absent; from
 * defaults to the profile's.  Addresses, names, the subject, the URL,
 * the keys and the metadata go into header fields: a control character
 * there (CR, LF, anything below 0x20) makes the builder refuse the
 * letter, never strip it.
 */
typedef struct {
    const char  *from_email;
    const char  *from_name;
    const char  *reply_to;
    const char  *to_email;
    const char  *to_name;
    /* rendered letters: subject and at least one of html and text */
    const char  *subject;
    const char  *html;
    const char  *text;
    /*
     * or a template kept by the provider (not SMTP): its id (Brevo: a
     * number; Postmark: a number or an alias) and its data, an object
     */
    const char  *template_id;
    json_t      *template_data;
    /* https://...: RFC 8058 List-Unsubscribe and List-Unsubscribe-Post */
    const char  *list_unsubscribe_url;
    /*
     * required, 1-64 of [A-Za-z0-9_-], the same for every attempt at
     * this letter: the provider's idempotency key where it has one, the
     * SMTP Message-ID's left part
     */
    const char  *idempotency_key;
    /*
     * up to 10 fields the provider gives back in its webhooks, e.g.
     * {"letter": "<id>", "chain": "offer"}: names 1-20 of [A-Za-z0-9_],
     * values strings of up to 80 printable ASCII characters
     */
    json_t      *metadata;
    /* a category for the provider's reports, 1-64 of [A-Za-z0-9_-] */
    const char  *tag;
    /* the JSON profile only: the body, rendered from the admin's template */
    const char  *json_body;
} ngx_http_trigger_message_t;


typedef struct {
    const char  *name;
    const char  *value;
    size_t       value_len;
} ngx_http_trigger_form_field_t;


typedef struct ngx_http_trigger_chunk_s  ngx_http_trigger_chunk_t;

#define NGX_HTTP_TRIGGER_REQUEST_HEADERS  8

/*
 * What to send.  Everything it points to belongs to it, freed at once
 * by ngx_http_trigger_request_free().
 */
typedef struct {
    /* "POST"; NULL for SMTP */
    const char                     *method;
    const char                     *url;
    /* "Name: value" lines, each free of CR and LF; Content-Type included */
    const char                     *headers[NGX_HTTP_TRIGGER_REQUEST_HEADERS];
    size_t                          nheaders;
    /*
     * the body and its type, or for SMTP the whole message: CRLF lines,
     * its dot-stuffing left to libcurl
     */
    const char                     *body;
    size_t                          body_len;
    const char                     *content_type;
    /* Mailgun: multipart/form-data fields instead of a body */
    ngx_http_trigger_form_field_t  *fields;
    size_t                          nfields;
    /* SMTP: the envelope, the login (NULL: none) and the Message-ID */
    const char                     *mail_from;
    const char                     *rcpt_to;
    const char                     *user;
    const char                     *password;
    const char                     *message_id;
    /*
     * SMTP: the letter and the login travel only encrypted (smtps://,
     * or smtp:// with STARTTLS required); 0 for a relay on loopback
     */
    unsigned                        tls:1;
    ngx_http_trigger_chunk_t       *chunks;
} ngx_http_trigger_http_request_t;


/*
 * Builds the request for a letter through a checked profile; now is for
 * the SMTP Date.  Returns NULL and *req, or what is wrong with the
 * letter (a static string) and no request.
 */
const char *ngx_http_trigger_provider_build(
    const ngx_http_trigger_provider_t *p,
    const ngx_http_trigger_message_t *msg, time_t now,
    ngx_http_trigger_http_request_t **req);
void ngx_http_trigger_request_free(ngx_http_trigger_http_request_t *req);


typedef enum {
    NGX_HTTP_TRIGGER_SEND_SENT = 0,
    NGX_HTTP_TRIGGER_SEND_RETRY,
    NGX_HTTP_TRIGGER_SEND_FAILED
} ngx_http_trigger_send_e;

#define NGX_HTTP_TRIGGER_SEND_ID_MAX      255
#define NGX_HTTP_TRIGGER_SEND_REASON_MAX  200
#define NGX_HTTP_TRIGGER_RETRY_AFTER_MAX  86400

typedef struct {
    ngx_http_trigger_send_e  status;
    /* RETRY: seconds asked by Retry-After; 0: the caller's own backoff */
    unsigned                 delay;
    /* SENT: the provider's message id, "" if it gave none */
    char                     id[NGX_HTTP_TRIGGER_SEND_ID_MAX + 1];
    /*
     * RETRY and FAILED: the status, the provider's error code and words,
     * for the logs and the dead letters
     */
    char                     reason[NGX_HTTP_TRIGGER_SEND_REASON_MAX + 1];
} ngx_http_trigger_send_result_t;


/* the response header that carries the message id (SendGrid), or NULL */
const char *ngx_http_trigger_provider_id_header(
    const ngx_http_trigger_provider_t *p);

/*
 * Classifies an answer: the HTTP status, the Retry-After and id header
 * values (NULL when absent) and the body.  For SMTP: the last reply's
 * code and text, and as id the request's message_id.  Connection
 * errors and timeouts, which have no answer, are the caller's.
 */
void ngx_http_trigger_provider_result(const ngx_http_trigger_provider_t *p,
    int status, const char *retry_after, const char *id,
    const u_char *body, size_t len, time_t now,
    ngx_http_trigger_send_result_t *res);


#endif /* _NGX_HTTP_TRIGGER_PROVIDER_H_INCLUDED_ */
