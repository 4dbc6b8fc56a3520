/*
 * Email chains: the chains file (letters, and chains with a trigger,
 * exit conditions and steps), each chain's steps compiled into a flat
 * program, the trigger matcher and the step executor.  Plain C, no
 * nginx, so that unit tests call it.  The file's format and the
 * program's shape are in docs/chains.md.
 */

#ifndef _NGX_HTTP_TRIGGER_CHAIN_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_CHAIN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>


#define NGX_HTTP_TRIGGER_CHAIN_NAME_MAX      64
#define NGX_HTTP_TRIGGER_CHAIN_INSNS_MAX     1000


typedef enum {
    NGX_HTTP_TRIGGER_CHAIN_EV_VISIT = 0,
    NGX_HTTP_TRIGGER_CHAIN_EV_CART_ADD,
    NGX_HTTP_TRIGGER_CHAIN_EV_RETURN,
    NGX_HTTP_TRIGGER_CHAIN_EV_LAPSE,
    NGX_HTTP_TRIGGER_CHAIN_EV_SUBSCRIBED,
    NGX_HTTP_TRIGGER_CHAIN_EV_SOCIAL,
    NGX_HTTP_TRIGGER_CHAIN_EV_CODE_ISSUED,
    NGX_HTTP_TRIGGER_CHAIN_EV_COUNT
} ngx_http_trigger_chain_ev_e;


typedef enum {
    /* in a trigger: any action */
    NGX_HTTP_TRIGGER_CHAIN_SOCIAL_ANY = 0,
    NGX_HTTP_TRIGGER_CHAIN_SOCIAL_LIKE,
    NGX_HTTP_TRIGGER_CHAIN_SOCIAL_SHARE,
    NGX_HTTP_TRIGGER_CHAIN_SOCIAL_INVITE
} ngx_http_trigger_chain_social_e;


/* what a contact did: in its recent history, or the new event */
typedef struct {
    ngx_http_trigger_chain_ev_e      type;
    int64_t                          time;
    /* visit: pages and seconds in this visit so far */
    int64_t                          depth;
    int64_t                          duration;
    /* return, lapse: seconds since the contact's previous activity */
    int64_t                          away;
    ngx_http_trigger_chain_social_e  action;
} ngx_http_trigger_chain_event_t;


/* one event of a trigger with its thresholds (0: none) */
typedef struct {
    ngx_http_trigger_chain_ev_e      type;
    int64_t                          depth;
    int64_t                          duration;
    /* return: "away", lapse: "after" */
    int64_t                          away;
    ngx_http_trigger_chain_social_e  action;
} ngx_http_trigger_chain_pattern_t;


typedef enum {
    NGX_HTTP_TRIGGER_CHAIN_ONE = 0,
    NGX_HTTP_TRIGGER_CHAIN_ALL,
    NGX_HTTP_TRIGGER_CHAIN_ANY,
    NGX_HTTP_TRIGGER_CHAIN_SEQUENCE
} ngx_http_trigger_chain_combine_e;


typedef struct {
    ngx_http_trigger_chain_combine_e   combine;
    ngx_http_trigger_chain_pattern_t  *events;
    size_t                             nevents;
    /* seconds the events must fit in; 0: no window */
    int64_t                            within;
} ngx_http_trigger_chain_trigger_t;


/* what is true of a contact now: "if" conditions and exits */
typedef enum {
    NGX_HTTP_TRIGGER_CHAIN_PURCHASED = 0,
    NGX_HTTP_TRIGGER_CHAIN_CODE_USED,
    NGX_HTTP_TRIGGER_CHAIN_CODE_EXPIRED,
    NGX_HTTP_TRIGGER_CHAIN_CART_EMPTY,
    NGX_HTTP_TRIGGER_CHAIN_UNSUBSCRIBED,
    NGX_HTTP_TRIGGER_CHAIN_BOUNCED,
    NGX_HTTP_TRIGGER_CHAIN_COMPLAINED,
    NGX_HTTP_TRIGGER_CHAIN_OPENED_PREVIOUS,
    NGX_HTTP_TRIGGER_CHAIN_CLICKED_PREVIOUS,
    NGX_HTTP_TRIGGER_CHAIN_COND_COUNT
} ngx_http_trigger_chain_cond_e;


/* a chain's program: see docs/chains.md, "The compiled program" */
typedef enum {
    NGX_HTTP_TRIGGER_CHAIN_OP_SEND = 0,  /* arg: the letter's index */
    NGX_HTTP_TRIGGER_CHAIN_OP_WAIT,      /* arg: seconds */
    NGX_HTTP_TRIGGER_CHAIN_OP_WAIT_UNTIL,  /* arg: seconds after midnight */
    NGX_HTTP_TRIGGER_CHAIN_OP_IF,        /* arg: condition; false: jump */
    NGX_HTTP_TRIGGER_CHAIN_OP_UNLESS,    /* arg: condition; true: jump */
    NGX_HTTP_TRIGGER_CHAIN_OP_JUMP,
    NGX_HTTP_TRIGGER_CHAIN_OP_SPLIT,     /* arg: variants, VARIANTs follow */
    NGX_HTTP_TRIGGER_CHAIN_OP_VARIANT,   /* arg: weight; jump: its steps */
    NGX_HTTP_TRIGGER_CHAIN_OP_EXIT
} ngx_http_trigger_chain_op_e;


typedef struct {
    ngx_http_trigger_chain_op_e      op;
    int32_t                          jump;
    int64_t                          arg;
} ngx_http_trigger_chain_insn_t;


typedef struct {
    char                            *name;
    /* Mustache sources, NUL-terminated UTF-8; NULL when not given */
    char                            *subject;
    char                            *html;
    char                            *text;
    /* the files html and text came from, NULL when inline */
    char                            *html_file;
    char                            *text_file;
    /* or the provider's own template and its data (NULL if none) */
    char                            *esp_template;
    json_t                          *data;
} ngx_http_trigger_chain_letter_t;


typedef struct {
    char                            *name;
    ngx_http_trigger_chain_trigger_t trigger;
    /* bit (1 << ev) for each event type its trigger looks at */
    unsigned                         events;
    /* bit (1 << cond) for each exit condition */
    unsigned                         exits;
    ngx_http_trigger_chain_insn_t   *program;
    int32_t                          ninsns;
    /*
     * a hash of the program's shape: steps added, removed or moved
     * change it, texts, delays, times and weights do not
     */
    uint32_t                         version;
} ngx_http_trigger_chain_t;


typedef struct {
    ngx_http_trigger_chain_letter_t *letters;
    size_t                           nletters;
    ngx_http_trigger_chain_t        *chains;
    size_t                           nchains;
    /* seconds after local midnight; both -1 without quiet hours */
    int64_t                          quiet_from;
    int64_t                          quiet_to;
    /* at most cap_letters in cap_per seconds; 0: no cap */
    int64_t                          cap_letters;
    int64_t                          cap_per;
    /* "defaults", NULL when not given */
    char                            *from_name;
    char                            *from_email;
    char                            *reply_to;
    char                            *shop_name;
    char                            *shop_address;
    char                            *shop_url;
    /* how far back a trigger looks: the history to keep, seconds */
    int64_t                          history;
    /* the distinct "lapse" thresholds, shortest first: timers to set */
    int64_t                         *lapses;
    size_t                           nlapses;
} ngx_http_trigger_chains_t;


/* a contact's state when its turn in a chain comes */
typedef struct {
    /* since the contact entered this chain */
    unsigned                         purchased:1;
    unsigned                         code_used:1;
    unsigned                         cart_empty:1;
    unsigned                         unsubscribed:1;
    unsigned                         bounced:1;
    unsigned                         complained:1;
    /* this chain's previous letter (from the provider's webhooks) */
    unsigned                         opened_previous:1;
    unsigned                         clicked_previous:1;
    /* when the contact's code expires, 0: no code */
    int64_t                          code_expires;
    /* the cap: letters sent in the current period, when it began */
    int64_t                          cap_sent;
    int64_t                          cap_start;
    /* seconds east of UTC at a time (ngx_http_trigger_tz_offset) */
    int32_t                        (*utc_offset)(const void *zone,
                                                 int64_t t);
    const void                      *zone;
    /* the contact's stable id, for the A/B draw */
    const u_char                    *id;
    size_t                           id_len;
    /* the A/B variant drawn before in this chain, -1: none yet */
    int                              variant;
} ngx_http_trigger_chain_contact_t;


typedef enum {
    NGX_HTTP_TRIGGER_CHAIN_SEND = 0,
    NGX_HTTP_TRIGGER_CHAIN_WAIT,
    NGX_HTTP_TRIGGER_CHAIN_DONE
} ngx_http_trigger_chain_act_e;


typedef enum {
    NGX_HTTP_TRIGGER_CHAIN_WAIT_STEP = 0,
    NGX_HTTP_TRIGGER_CHAIN_WAIT_QUIET,
    NGX_HTTP_TRIGGER_CHAIN_WAIT_CAP
} ngx_http_trigger_chain_wait_e;


typedef enum {
    NGX_HTTP_TRIGGER_CHAIN_DONE_END = 0,
    NGX_HTTP_TRIGGER_CHAIN_DONE_EXIT,
    NGX_HTTP_TRIGGER_CHAIN_DONE_COND,
    /* a pc the program does not have (the chain changed) */
    NGX_HTTP_TRIGGER_CHAIN_DONE_INVALID
} ngx_http_trigger_chain_done_e;


typedef struct {
    ngx_http_trigger_chain_act_e           act;
    /* SEND: the pc after the letter; WAIT: the pc to resume at */
    int32_t                                pc;
    /* WAIT: until when */
    int64_t                                until;
    const ngx_http_trigger_chain_letter_t *letter;
    ngx_http_trigger_chain_wait_e          wait;
    ngx_http_trigger_chain_done_e          done;
    /* DONE_COND: the exit condition that held */
    ngx_http_trigger_chain_cond_e          cond;
    /* a split was passed: the variant taken, else -1 */
    int                                    variant;
    /* ... drawn just now: record it for the contact */
    unsigned                               drawn:1;
} ngx_http_trigger_chain_action_t;


extern const char  *ngx_http_trigger_chain_event_names[
                                            NGX_HTTP_TRIGGER_CHAIN_EV_COUNT];
extern const char  *ngx_http_trigger_chain_cond_names[
                                            NGX_HTTP_TRIGGER_CHAIN_COND_COUNT];


/*
 * Loads and checks the chains file: 0 and *out, or -1 and a message
 * naming the file and the place in it ("chains.json: chains[1].steps[2]
 * .wait: not a duration") in err.
 */
int ngx_http_trigger_chains_load(const char *path,
    ngx_http_trigger_chains_t **out, char *err, size_t err_len);
void ngx_http_trigger_chains_free(ngx_http_trigger_chains_t *chains);

const ngx_http_trigger_chain_t *ngx_http_trigger_chain_find(
    const ngx_http_trigger_chains_t *chains, const u_char *name, size_t len);

/*
 * Whether the new event ev fires the trigger, given the contact's recent
 * events (oldest first, all before ev): ev must be one of the trigger's
 * events, so a trigger fires on the event that completes it; a visit's
 * threshold is completed once per visit.  Events at or before since (the
 * one that started the chain last; 0: never) take no part: an event
 * starts a chain once.
 */
int ngx_http_trigger_chain_fires(const ngx_http_trigger_chain_trigger_t *t,
    const ngx_http_trigger_chain_event_t *history, size_t n,
    const ngx_http_trigger_chain_event_t *ev, int64_t since);

/*
 * What to do for a contact at pc (0 when it enters the chain) now:
 * send a letter, wait until a time, or leave the chain.
 */
void ngx_http_trigger_chain_next(const ngx_http_trigger_chains_t *chains,
    const ngx_http_trigger_chain_t *chain, int32_t pc,
    const ngx_http_trigger_chain_contact_t *contact, int64_t now,
    ngx_http_trigger_chain_action_t *action);

/* counts a letter sent now against the cap, starting a new period */
void ngx_http_trigger_chain_cap_count(
    const ngx_http_trigger_chains_t *chains,
    ngx_http_trigger_chain_contact_t *contact, int64_t now);

/* "end", "exit", an exit condition's name, "quiet_hours", ... */
const char *ngx_http_trigger_chain_reason(
    const ngx_http_trigger_chain_action_t *action);

/* "1d12h", "90m" (units w d h m s; digits alone are seconds), -1 if not */
int64_t ngx_http_trigger_chain_duration(const char *s);


#endif /* _NGX_HTTP_TRIGGER_CHAIN_H_INCLUDED_ */
