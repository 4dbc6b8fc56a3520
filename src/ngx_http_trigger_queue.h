/*
 * The letters' queue in Redis: jobs (a contact in a chain) ordered by
 * when their next step is due, claimed in batches with a lease so that
 * any number of workers and hosts share it and none sends a letter
 * twice; a job whose worker died is taken again when its lease ends.
 * See docs/redis.md for the keys.
 */

#ifndef _NGX_HTTP_TRIGGER_QUEUE_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_QUEUE_H_INCLUDED_


#include "ngx_http_trigger_module.h"
#include "ngx_http_trigger_redis.h"


/* a job's id: "<sha1 of the address>:<chain>" */
#define NGX_HTTP_TRIGGER_JOB_ID_MAX    (40 + 1 + 64)
#define NGX_HTTP_TRIGGER_JOB_ITEMS     10
/* "<prefix>letter:<job id>:<started>:<pc>" */
#define NGX_HTTP_TRIGGER_LETTER_KEY_MAX                                     \
    (64 + 7 + NGX_HTTP_TRIGGER_JOB_ID_MAX + 2 + 2 * NGX_INT64_LEN)
/* a letter's record, and its provider's id, kept for the webhooks */
#define NGX_HTTP_TRIGGER_LETTER_TTL    (90 * 86400)


/* what a claim tells of a job, its contact and the contact's visitor */
typedef struct {
    u_char                         id[NGX_HTTP_TRIGGER_JOB_ID_MAX + 1];
    size_t                         id_len;
    /* the lease's end: it proves the job is still this worker's */
    int64_t                        lease;

    ngx_str_t                      chain;
    int64_t                        version;
    int32_t                        pc;
    int                            variant;
    int64_t                        started;
    int64_t                        attempts;
    /* purchases of the visitor when the chain began */
    int64_t                        purchases_then;

    ngx_str_t                      email;
    ngx_str_t                      vid;
    ngx_str_t                      code;
    int64_t                        code_expires;
    ngx_str_t                      tz;
    ngx_str_t                      lang;
    ngx_str_t                      discount;
    int64_t                        cap_sent;
    int64_t                        cap_start;
    unsigned                       suppressed:1;
    unsigned                       code_used:1;
    int64_t                        purchases;

    /* the visitor's cart lines, then viewed products */
    ngx_str_t                      cart[NGX_HTTP_TRIGGER_JOB_ITEMS];
    ngx_uint_t                     ncart;
    ngx_str_t                      viewed[NGX_HTTP_TRIGGER_JOB_ITEMS];
    ngx_uint_t                     nviewed;
} ngx_http_trigger_job_t;


/* how a job's turn ended */
typedef struct {
    /* "next" (due again at due), "done", "dead" */
    const char                    *outcome;
    int32_t                        pc;
    int64_t                        due;
    int                            variant;
    int64_t                        attempts;
    const char                    *error;
    /* a letter went out: its record */
    const char                    *letter;
    int32_t                        letter_pc;
    const char                    *provider;
    const char                    *message_id;
    int64_t                        cap_sent;
    int64_t                        cap_start;
} ngx_http_trigger_job_end_t;


#define NGX_HTTP_TRIGGER_HISTORY_MAX   20
/* chains that look at behaviour, at most */
#define NGX_HTTP_TRIGGER_BEHAVIOUR_MAX 32


/* a known contact whose recent events the chains' triggers look at */
typedef struct {
    u_char                           digest[40];
    /* "queued": subscribed (and confirmed) */
    unsigned                         subscribed:1;
    unsigned                         suppressed:1;
    /* the previous check: events after it are new */
    int64_t                          checked;
    int64_t                          purchases;
    ngx_http_trigger_chain_event_t   history[NGX_HTTP_TRIGGER_HISTORY_MAX];
    ngx_uint_t                       nhistory;
    /* per chain asked about: when the event that last started it was */
    int64_t                          fired[NGX_HTTP_TRIGGER_BEHAVIOUR_MAX];
} ngx_http_trigger_contact_t;


extern ngx_http_trigger_script_t  ngx_http_trigger_claim_script;
extern ngx_http_trigger_script_t  ngx_http_trigger_finish_script;
extern ngx_http_trigger_script_t  ngx_http_trigger_triggers_script;
extern ngx_http_trigger_script_t  ngx_http_trigger_start_script;


/*
 * Claims up to max due jobs for lease seconds.  handler gets the jobs
 * (in an array allocated with ngx_alloc, each to be ngx_free()d by the
 * caller, or NULL with n 0 when Redis failed) and when the next one is
 * due (0: the queue is empty).
 */
typedef void (*ngx_http_trigger_claim_pt)(void *data,
    ngx_http_trigger_job_t **jobs, ngx_uint_t n, int64_t next_due);

ngx_int_t ngx_http_trigger_queue_claim(ngx_http_trigger_redis_t *rd,
    ngx_str_t *prefix, ngx_uint_t max, time_t lease,
    ngx_http_trigger_claim_pt handler, void *data);

/* writes a letter's record's key into buf; returns the end */
u_char *ngx_http_trigger_queue_letter_key(u_char *buf, ngx_str_t *prefix,
    ngx_http_trigger_job_t *job, int32_t pc);

/* ends a job's turn; without a reply: a lost one ends with the lease */
ngx_int_t ngx_http_trigger_queue_finish(ngx_http_trigger_redis_t *rd,
    ngx_str_t *prefix, ngx_http_trigger_job_t *job,
    ngx_http_trigger_job_end_t *end);


/*
 * Takes up to max contacts whose events are new (and turns the due
 * "lapse" checks into events first); handler gets them in an array of
 * n, ngx_free()d by the queue after the call (NULL, 0 on failure).
 */
typedef void (*ngx_http_trigger_triggers_pt)(void *data,
    ngx_http_trigger_contact_t *contacts, ngx_uint_t n);

ngx_int_t ngx_http_trigger_queue_triggers(ngx_http_trigger_redis_t *rd,
    ngx_str_t *prefix, ngx_uint_t max, ngx_str_t *chains, ngx_uint_t nchains,
    int64_t *lapses, ngx_uint_t nlapses,
    ngx_http_trigger_triggers_pt handler, void *data);

/*
 * Starts the chains named (one of a kind per contact), each for the
 * event of the time given (an event starts a chain once).
 */
ngx_int_t ngx_http_trigger_queue_start(ngx_http_trigger_redis_t *rd,
    ngx_str_t *prefix, ngx_http_trigger_contact_t *contact,
    ngx_str_t *chains, int64_t *times, ngx_uint_t n);


#endif /* _NGX_HTTP_TRIGGER_QUEUE_H_INCLUDED_ */
