/*
 * Unit tests for email chains (the chains file, triggers, the step
 * executor) and time zones, printing TAP.  TEST_REPO is the repository,
 * for the shipped examples.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ngx_http_trigger_chain.h"
#include "ngx_http_trigger_tz.h"


#define JAN   1767268800     /* 2026-01-01 12:00 UTC */
#define JUL   1782907200     /* 2026-07-01 12:00 UTC */
#define DAY   86400
#define HOUR  3600


static int   tests;
static int   failed;
static char  tmp[64];


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %d - %s\n", cond ? "" : "not ", tests, name);
}


static const ngx_http_trigger_tz_t *
zone(const char *name)
{
    return ngx_http_trigger_tz_get((const u_char *) name, strlen(name));
}


static int32_t
offset(const char *name, int64_t t)
{
    return ngx_http_trigger_tz_offset(zone(name), t);
}


static void
write_file(const char *name, const char *data, size_t len)
{
    FILE  *f;

    f = fopen(name, "w");
    fwrite(data, 1, len, f);
    fclose(f);
}


/* loads JSON written to chains.json in the test directory */

static int
load(const char *json, ngx_http_trigger_chains_t **chains, char *err,
    size_t len)
{
    write_file("chains.json", json, strlen(json));
    err[0] = '\0';
    *chains = NULL;

    return ngx_http_trigger_chains_load("chains.json", chains, err, len);
}


/* the file loads not, and the message starts with want */

static void
refused(const char *json, const char *want)
{
    int                         rc;
    char                        err[512], name[600];
    ngx_http_trigger_chains_t  *chains;

    rc = load(json, &chains, err, sizeof(err));

    snprintf(name, sizeof(name), "refused: %s", want);
    ok(rc == -1 && strncmp(err, want, strlen(want)) == 0, name);

    if (rc == -1 && strncmp(err, want, strlen(want)) != 0) {
        printf("# got: %s\n", err);
    }

    ngx_http_trigger_chains_free(chains);
}


#define LETTERS                                                               \
    "\"letters\": {\"a\": {\"subject\": \"A\", \"text\": \"a\"},"             \
    " \"b\": {\"subject\": \"B\", \"text\": \"b\"},"                          \
    " \"c\": {\"subject\": \"C\", \"html\": \"<p>c</p>\"}}"

#define CHAIN(trigger, steps)                                                 \
    "{" LETTERS ", \"chains\": [{\"name\": \"x\", \"trigger\": " trigger     \
    ", \"steps\": " steps "}]}"


static void
test_duration(void)
{
    ok(ngx_http_trigger_chain_duration("90m") == 5400, "duration 90m");
    ok(ngx_http_trigger_chain_duration("1d12h") == 129600,
       "duration 1d12h");
    ok(ngx_http_trigger_chain_duration("1w") == 7 * DAY, "duration 1w");
    ok(ngx_http_trigger_chain_duration("30") == 30,
       "digits alone are seconds");
    ok(ngx_http_trigger_chain_duration("1d2h3m4s") == DAY + 2 * HOUR + 184,
       "every unit once");
    ok(ngx_http_trigger_chain_duration("12h1d") == -1,
       "larger units first");
    ok(ngx_http_trigger_chain_duration("1h1h") == -1, "a unit once");
    ok(ngx_http_trigger_chain_duration("1d 2h") == -1
       && ngx_http_trigger_chain_duration("") == -1
       && ngx_http_trigger_chain_duration("d") == -1
       && ngx_http_trigger_chain_duration("1x") == -1
       && ngx_http_trigger_chain_duration("1d30") == -1
       && ngx_http_trigger_chain_duration("-1d") == -1,
       "not durations");
    ok(ngx_http_trigger_chain_duration("99999999999d") == -1,
       "absurdly long");
}


static void
test_tz_known(void)
{
    ok(offset("Europe/Moscow", JAN) == 3 * HOUR
       && offset("Europe/Moscow", JUL) == 3 * HOUR,
       "Europe/Moscow +3 all year");
    ok(offset("Europe/Berlin", JAN) == HOUR
       && offset("Europe/Berlin", JUL) == 2 * HOUR,
       "Europe/Berlin +1 in January, +2 in July 2026");
    ok(offset("America/New_York", JAN) == -5 * HOUR
       && offset("America/New_York", JUL) == -4 * HOUR,
       "America/New_York -5, -4");
    ok(offset("Asia/Kolkata", JAN) == 5 * HOUR + 1800
       && offset("Asia/Kolkata", JUL) == 5 * HOUR + 1800,
       "Asia/Kolkata +5:30");
    ok(offset("Australia/Lord_Howe", JAN) == 11 * HOUR
       && offset("Australia/Lord_Howe", JUL) == 10 * HOUR + 1800,
       "Australia/Lord_Howe: half an hour of DST, southern summer");
    ok(offset("UTC", JAN) == 0 && offset("UTC", JUL) == 0, "UTC");

    /* 2026-03-29 01:00 UTC: Berlin's clocks go from 02:00 to 03:00 */
    ok(offset("Europe/Berlin", 1774746000 - 1) == HOUR
       && offset("Europe/Berlin", 1774746000) == 2 * HOUR,
       "Berlin's DST begins to the second");

    /* beyond the files' transitions: the footer's rule */
    ok(offset("America/New_York", 2224756800) == -4 * HOUR,
       "New York, July 2040 (the footer's rule)");
    ok(offset("Australia/Lord_Howe", 2524651200) == 11 * HOUR
       && offset("Australia/Lord_Howe", 2540289600) == 10 * HOUR + 1800,
       "Lord Howe 2050 (the footer's rule, across New Year)");
    ok(offset("Europe/Berlin", 4103697600) == HOUR
       && offset("Europe/Berlin", 4119336000) == 2 * HOUR,
       "Berlin 2100");

    /* the past: India's war time */
    ok(offset("Asia/Kolkata", -838987200) == 6 * HOUR + 1800,
       "Kolkata 1943 +6:30");
}


/* the C library's own reading of the same files, for many moments */

static void
test_tz_libc(void)
{
    int          bad, i;
    char         env[80];
    time_t       t;
    int64_t      s;
    struct tm    tm;
    const char  *zones[] = {
        "Europe/Berlin", "Europe/London", "Europe/Moscow", "Europe/Kyiv",
        "America/New_York", "America/Sao_Paulo", "America/St_Johns",
        "America/Santiago", "Asia/Kolkata", "Asia/Tehran", "Asia/Kathmandu",
        "Australia/Lord_Howe", "Australia/Adelaide", "Pacific/Auckland",
        "Pacific/Chatham", "Africa/Casablanca", "Antarctica/Troll",
        "America/Godthab", "Etc/GMT+5", "UTC", NULL
    };

    for (i = 0; zones[i]; i++) {
        bad = 0;

        snprintf(env, sizeof(env), ":%s", zones[i]);
        setenv("TZ", env, 1);
        tzset();

        /* 1950 to 2070, every 5 days and a bit */
        for (s = -631152000; s < 3155760000LL; s += 5 * DAY + 3917) {
            t = s;
            localtime_r(&t, &tm);

            if (offset(zones[i], s) != tm.tm_gmtoff) {
                bad++;
            }
        }

        snprintf(env, sizeof(env), "%s as the C library has it", zones[i]);
        ok(zone(zones[i]) != NULL && bad == 0, env);
    }

    unsetenv("TZ");
}


/* a version 2 file with one type and no transitions: only its footer */

static ngx_http_trigger_tz_t *
footer_zone(const char *footer)
{
    size_t   n;
    u_char   buf[256], *p;
    int      block;

    p = buf;

    for (block = 0; block < 2; block++) {
        memset(p, 0, 44);
        memcpy(p, "TZif2", 5);
        p[39] = 1;          /* typecnt */
        p[43] = 4;          /* charcnt */
        p += 44;
        memset(p, 0, 6);    /* utoff 0, not DST, abbreviation 0 */
        p += 6;
        memcpy(p, "UTC", 4);
        p += 4;
    }

    n = strlen(footer);
    *p++ = '\n';
    memcpy(p, footer, n);
    p += n;
    *p++ = '\n';

    return ngx_http_trigger_tz_parse(buf, p - buf);
}


static void
test_tz_parse(void)
{
    size_t                  n;
    FILE                   *f;
    u_char                  buf[8192];
    ngx_http_trigger_tz_t  *tz;

    tz = footer_zone("<+0530>-5:30");
    ok(tz != NULL && ngx_http_trigger_tz_offset(tz, JAN) == 19800,
       "footer: <+0530>-5:30");
    ngx_http_trigger_tz_destroy(tz);

    tz = footer_zone("AEST-10AEDT,M10.1.0,M4.1.0/3");
    ok(tz != NULL && ngx_http_trigger_tz_offset(tz, JAN) == 11 * HOUR
       && ngx_http_trigger_tz_offset(tz, JUL) == 10 * HOUR,
       "footer: the southern hemisphere");
    ngx_http_trigger_tz_destroy(tz);

    /* America/Nuuk-like: the change at -1 and 0 hours local time */
    tz = footer_zone("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
    ok(tz != NULL && ngx_http_trigger_tz_offset(tz, JAN) == -2 * HOUR
       && ngx_http_trigger_tz_offset(tz, JUL) == -HOUR,
       "footer: negative change times");
    ngx_http_trigger_tz_destroy(tz);

    /* DST all year: from Jan 1 00:00 to Dec 31 25:00 */
    tz = footer_zone("EST5EDT4,0/0,J365/25");
    ok(tz != NULL && ngx_http_trigger_tz_offset(tz, JAN) == -4 * HOUR
       && ngx_http_trigger_tz_offset(tz, 1767225600 + 2 * HOUR)
          == -4 * HOUR,
       "footer: daylight time all year");
    ngx_http_trigger_tz_destroy(tz);

    tz = footer_zone("EST5EDT");
    ok(tz != NULL && ngx_http_trigger_tz_offset(tz, JUL) == 0,
       "footer without rules: unused, the last type");
    ngx_http_trigger_tz_destroy(tz);

    ok(ngx_http_trigger_tz_parse((const u_char *) "TZif2", 5) == NULL,
       "a header cut short");

    f = fopen("/usr/share/zoneinfo/Europe/Berlin", "r");
    n = f ? fread(buf, 1, sizeof(buf), f) : 0;

    if (f) {
        fclose(f);
    }

    tz = ngx_http_trigger_tz_parse(buf, n);
    ok(tz != NULL && ngx_http_trigger_tz_offset(tz, JUL) == 2 * HOUR,
       "Europe/Berlin from its bytes");
    ngx_http_trigger_tz_destroy(tz);

    ok(ngx_http_trigger_tz_parse(buf, n / 2) == NULL,
       "a file cut in half");

    buf[0] = 'X';
    ok(ngx_http_trigger_tz_parse(buf, n) == NULL, "not a TZif file");
}


static void
test_tz_names(void)
{
    ok(zone("Europe/Berlin") != NULL
       && zone("Europe/Berlin") == zone("Europe/Berlin"),
       "a zone is read once and kept");
    ok(zone("../../etc/passwd") == NULL && zone("Europe/../UTC") == NULL,
       "no way out of the zoneinfo directory");
    ok(zone("/etc/localtime") == NULL, "no absolute paths");
    ok(zone("") == NULL && zone("Nowhere/City") == NULL,
       "unknown names");
    ok(zone("Europe") == NULL, "a directory is not a zone");
    ok(zone("zone.tab") == NULL, "not a zone name");
    ok(ngx_http_trigger_tz_offset(NULL, JAN) == 0, "no zone: UTC");
}


static void
test_examples(void)
{
    int                              ok_jumps, rc;
    char                             err[512];
    size_t                           i, f;
    int32_t                          pc;
    const char                      *files[] = { "chains.json",
                                                 "chains-demo.json" };
    ngx_http_trigger_chains_t       *chains;
    const ngx_http_trigger_chain_t  *c;

    for (f = 0; f < 2; f++) {
        snprintf(err, sizeof(err), "%s/examples/%s", TEST_REPO, files[f]);
        chains = NULL;
        rc = ngx_http_trigger_chains_load(err, &chains, err, sizeof(err));

        ok(rc == 0, files[f]);

        if (rc != 0) {
            printf("# %s\n", err);
            continue;
        }

        ok_jumps = 1;

        for (i = 0; i < chains->nchains; i++) {
            c = &chains->chains[i];

            for (pc = 0; pc < c->ninsns; pc++) {
                if ((c->program[pc].op == NGX_HTTP_TRIGGER_CHAIN_OP_JUMP
                     || c->program[pc].op == NGX_HTTP_TRIGGER_CHAIN_OP_IF
                     || c->program[pc].op == NGX_HTTP_TRIGGER_CHAIN_OP_UNLESS
                     || c->program[pc].op == NGX_HTTP_TRIGGER_CHAIN_OP_VARIANT)
                    && (c->program[pc].jump <= pc
                        || c->program[pc].jump > c->ninsns))
                {
                    ok_jumps = 0;
                }
            }
        }

        ok(ok_jumps, "every jump goes forward, within the program");

        c = ngx_http_trigger_chain_find(chains, (const u_char *) "offer", 5);

        ok(c != NULL && c->ninsns == 7
           && c->program[0].op == NGX_HTTP_TRIGGER_CHAIN_OP_SEND
           && c->program[1].op == NGX_HTTP_TRIGGER_CHAIN_OP_WAIT
           && c->program[6].op == NGX_HTTP_TRIGGER_CHAIN_OP_SEND
           && c->trigger.combine == NGX_HTTP_TRIGGER_CHAIN_ONE
           && c->trigger.events[0].type
              == NGX_HTTP_TRIGGER_CHAIN_EV_CODE_ISSUED
           && (c->exits & 1u << NGX_HTTP_TRIGGER_CHAIN_CODE_EXPIRED),
           "the offer chain: four letters, three waits");

        ok(chains->letters[0].html != NULL
           && strstr(chains->letters[0].html, "{{unsubscribe_url}}") != NULL
           && strstr(chains->letters[0].html_file, "letters/offer.html")
              != NULL
           && strstr(chains->letters[0].text, "{{{code}}}") != NULL,
           "the offer letter's sources are read");

        ok(chains->shop_name != NULL
           && strcmp(chains->shop_name, "Kettle & Leaf") == 0,
           "defaults");

        if (f == 0) {
            ok(chains->history == DAY && chains->nlapses == 3
               && chains->lapses[0] == HOUR && chains->lapses[1] == 2 * HOUR
               && chains->lapses[2] == 30 * DAY,
               "history to keep and lapse timers");
            ok(chains->quiet_from == 21 * HOUR && chains->quiet_to == 9 * HOUR
               && chains->cap_letters == 3 && chains->cap_per == DAY,
               "quiet hours and cap");
        }

        ngx_http_trigger_chains_free(chains);
    }
}


static void
test_refused(void)
{
    refused("{\"letters\": {}, ",
            "chains.json:1:");
    refused("{\"letters\": {\"a\": {\"subject\": \"A\", \"text\": \"a\"},"
            " \"a\": {\"subject\": \"A\", \"text\": \"a\"}}, \"chains\": []}",
            "chains.json:1:");
    refused("[]", "chains.json: expected an object");
    refused("{" LETTERS "}", "chains.json: no \"chains\"");
    refused("{" LETTERS ", \"chain\": []}",
            "chains.json: chain: unknown key (expected defaults, "
            "quiet_hours, cap, letters, chains)");

    refused("{\"letters\": {\"a\": {\"subjet\": \"A\", \"text\": \"a\"}},"
            " \"chains\": []}",
            "chains.json: letters.a.subjet: unknown key (expected subject, "
            "html, text, esp_template, data)");
    refused("{\"letters\": {\"a\": {\"text\": \"a\"}}, \"chains\": []}",
            "chains.json: letters.a: no \"subject\"");
    refused("{\"letters\": {\"a\": {\"subject\": \"A\\r\\nBcc: x@y.z\","
            " \"text\": \"a\"}}, \"chains\": []}",
            "chains.json: letters.a.subject: control characters");
    refused("{\"letters\": {\"a\": {\"subject\": \"A\"}}, \"chains\": []}",
            "chains.json: letters.a: no \"html\" and no \"text\"");
    refused("{\"letters\": {\"a b\": {\"subject\": \"A\", \"text\": \"a\"}},"
            " \"chains\": []}",
            "chains.json: letters.a b: a name is letters");
    refused("{\"letters\": {\"a\": {\"subject\": \"A\", \"html\": "
            "{\"file\": \"missing.html\"}}}, \"chains\": []}",
            "chains.json: letters.a.html: ./missing.html: No such file");
    refused("{\"letters\": {\"a\": {\"subject\": \"A\", \"html\": "
            "{\"file\": \"bad.html\"}}}, \"chains\": []}",
            "chains.json: letters.a.html: ./bad.html: not UTF-8 text "
            "(byte 3)");
    refused("{\"letters\": {\"a\": {\"subject\": \"A\", \"html\": "
            "{\"path\": \"a.html\"}}}, \"chains\": []}",
            "chains.json: letters.a.html: expected the text itself or "
            "{\"file\": \"path\"}");
    refused("{\"letters\": {\"a\": {\"esp_template\": \"d-1\", \"html\": "
            "\"x\"}}, \"chains\": []}",
            "chains.json: letters.a.html: a letter is either the provider's");
    refused("{" LETTERS ", \"chains\": []}",
            "chains.json: chains: expected a list of 1 to 100 chains");

    refused(CHAIN("\"code_issued\"",
                  "[{\"send\": \"a\"}, {\"wait\": \"1d\"}, "
                  "{\"send\": \"b\"}, {\"wait\": \"soon\"}, "
                  "{\"send\": \"c\"}]"),
            "chains.json: chains[0].steps[3].wait: not a duration");
    refused("{" LETTERS ", \"chains\": [{\"name\": \"x\", \"trigger\": "
            "\"code_issued\", \"steps\": [{\"send\": \"a\"}]}, "
            "{\"name\": \"y\", \"trigger\": \"code_issued\", \"steps\": "
            "[{\"send\": \"a\"}, {\"wait\": \"1d\"}, {\"wait\": \"2 days\"},"
            " {\"send\": \"b\"}]}]}",
            "chains.json: chains[1].steps[2].wait: not a duration");
    refused(CHAIN("\"purchase\"", "[{\"send\": \"a\"}]"),
            "chains.json: chains[0].trigger: unknown event \"purchase\" "
            "(expected visit, cart_add, return, lapse, subscribed, social, "
            "code_issued)");
    refused(CHAIN("{\"visit\": {\"pages\": 3}}", "[{\"send\": \"a\"}]"),
            "chains.json: chains[0].trigger.visit.pages: unknown key "
            "(expected depth, duration)");
    refused(CHAIN("\"return\"", "[{\"send\": \"a\"}]"),
            "chains.json: chains[0].trigger: no \"away\"");
    refused(CHAIN("{\"social\": {\"action\": \"poke\"}}",
                  "[{\"send\": \"a\"}]"),
            "chains.json: chains[0].trigger.social.action: expected");
    refused(CHAIN("{\"sequence\": [\"cart_add\", \"subscribed\"]}",
                  "[{\"send\": \"a\"}]"),
            "chains.json: chains[0].trigger: no \"within\"");
    refused(CHAIN("{\"any\": [\"cart_add\", {\"all\": []}]}",
                  "[{\"send\": \"a\"}]"),
            "chains.json: chains[0].trigger.any[1]: a combination holds "
            "events");
    refused(CHAIN("{\"any\": [\"cart_add\"]}", "[{\"send\": \"a\"}]"),
            "chains.json: chains[0].trigger.any: expected a list of 2 to 8");
    refused(CHAIN("\"code_issued\"", "[{\"send\": \"nope\"}]"),
            "chains.json: chains[0].steps[0].send: unknown letter \"nope\"");
    refused(CHAIN("\"code_issued\"",
                  "[{\"if\": \"rich\", \"then\": [{\"send\": \"a\"}]}]"),
            "chains.json: chains[0].steps[0].if: unknown condition \"rich\"");
    refused("{" LETTERS ", \"chains\": [{\"name\": \"x\", \"trigger\": "
            "\"code_issued\", \"exit\": [\"code_used\", \"rich\"], "
            "\"steps\": [{\"send\": \"a\"}]}]}",
            "chains.json: chains[0].exit[1]: unknown condition \"rich\"");
    refused(CHAIN("\"code_issued\"",
                  "[{\"if\": \"bought\", \"then\": [], \"else\": []}, "
                  "{\"send\": \"a\"}]"),
            "chains.json: chains[0].steps[0]: nothing to do");
    refused(CHAIN("\"code_issued\"",
                  "[{\"send\": \"a\", \"wait\": \"1d\"}]"),
            "chains.json: chains[0].steps[0]: one step at a time");
    refused(CHAIN("\"code_issued\"", "[{\"sned\": \"a\"}]"),
            "chains.json: chains[0].steps[0]: expected a step: send, wait, "
            "wait_until, if, split, exit");
    refused(CHAIN("\"code_issued\"",
                  "[{\"split\": [{\"weight\": 50, \"steps\": "
                  "[{\"send\": \"a\"}]}]}]"),
            "chains.json: chains[0].steps[0].split: expected 2 to 5 "
            "variants");
    refused(CHAIN("\"code_issued\"",
                  "[{\"split\": [{\"weight\": 1, \"steps\": []}, "
                  "{\"weight\": 1, \"steps\": []}, {\"weight\": 1, "
                  "\"steps\": []}, {\"weight\": 1, \"steps\": []}, "
                  "{\"weight\": 1, \"steps\": []}, {\"weight\": 1, "
                  "\"steps\": []}]}]"),
            "chains.json: chains[0].steps[0].split: expected 2 to 5 "
            "variants");
    refused(CHAIN("\"code_issued\"",
                  "[{\"split\": [{\"weight\": 50, \"steps\": "
                  "[{\"send\": \"a\"}]}, {\"weight\": 0, \"steps\": "
                  "[{\"send\": \"b\"}]}]}]"),
            "chains.json: chains[0].steps[0].split[1].weight: expected a "
            "whole number above 0");
    refused(CHAIN("\"code_issued\"",
                  "[{\"split\": [{\"weight\": 50, \"steps\": "
                  "[{\"send\": \"a\"}]}, {\"weight\": \"50%\", \"steps\": "
                  "[{\"send\": \"b\"}]}]}]"),
            "chains.json: chains[0].steps[0].split[1].weight: expected a "
            "whole number above 0");
    refused(CHAIN("\"code_issued\"",
                  "[{\"split\": [{\"weight\": 1, \"steps\": "
                  "[{\"send\": \"a\"}]}, {\"weight\": 1, \"steps\": []}]},"
                  " {\"split\": [{\"weight\": 1, \"steps\": "
                  "[{\"send\": \"b\"}]}, {\"weight\": 1, \"steps\": []}]}]"),
            "chains.json: chains[0].steps[1].split: a second split");
    refused("{" LETTERS ", \"chains\": [{\"name\": \"x\", \"trigger\": "
            "\"code_issued\", \"steps\": [{\"send\": \"a\"}]}, "
            "{\"name\": \"x\", \"trigger\": \"subscribed\", \"steps\": "
            "[{\"send\": \"b\"}]}]}",
            "chains.json: chains[1].name: \"x\" again (chains[0] has it)");
    refused(CHAIN("\"code_issued\"",
                  "[{\"wait\": \"1d\"}, {\"if\": \"bought\", \"then\": "
                  "[{\"exit\": true}]}, {\"wait_until\": \"10:00\"},"
                  " {\"exit\": true}]"),
            "chains.json: chains[0].steps: no \"send\" step");
    refused(CHAIN("\"code_issued\"",
                  "[{\"send\": \"a\"}, {\"exit\": true}, {\"send\": \"b\"}]"),
            "chains.json: chains[0].steps[2]: never reached");
    refused(CHAIN("\"code_issued\"", "[{\"send\": \"a\"}, {\"wait\": \"1d\"}]"),
            "chains.json: chains[0].steps[1]: a wait at the end");
    refused(CHAIN("\"code_issued\"",
                  "[{\"wait_until\": \"24:00\"}, {\"send\": \"a\"}]"),
            "chains.json: chains[0].steps[0].wait_until: not a time of day");
    refused(CHAIN("\"code_issued\"", "[{\"exit\": 1}, {\"send\": \"a\"}]"),
            "chains.json: chains[0].steps[0].exit: expected true");
    refused("{\"quiet_hours\": {\"from\": \"21:00\", \"to\": \"9\"}, "
            LETTERS ", \"chains\": []}",
            "chains.json: quiet_hours.to: not a time of day");
    refused("{\"cap\": {\"letters\": 0, \"per\": \"1d\"}, "
            LETTERS ", \"chains\": []}",
            "chains.json: cap.letters: expected a whole number");
    refused("{\"defaults\": {\"from_email\": \"shop\"}, "
            LETTERS ", \"chains\": []}",
            "chains.json: defaults.from_email: not an email address");
}


static void
test_loaded(void)
{
    int                         rc;
    char                        err[512];
    ngx_http_trigger_chains_t  *chains, *other;

    rc = load("{\"_note\": \"for people\", \"letters\": {\"t\": "
              "{\"esp_template\": \"d-123\", \"data\": {\"k\": 1}}}, "
              "\"chains\": [{\"name\": \"x\", \"_why\": \"test\", "
              "\"trigger\": {\"social\": {}}, \"exit\": [\"bought\"], "
              "\"steps\": [{\"send\": \"t\"}]}]}",
              &chains, err, sizeof(err));

    ok(rc == 0 && chains->letters[0].esp_template != NULL
       && strcmp(chains->letters[0].esp_template, "d-123") == 0
       && json_integer_value(json_object_get(chains->letters[0].data, "k"))
          == 1
       && chains->letters[0].html == NULL,
       "a provider's template with its data; notes ignored");

    ok(rc == 0
       && (chains->chains[0].exits
           == (1u << NGX_HTTP_TRIGGER_CHAIN_PURCHASED
               | 1u << NGX_HTTP_TRIGGER_CHAIN_UNSUBSCRIBED
               | 1u << NGX_HTTP_TRIGGER_CHAIN_BOUNCED
               | 1u << NGX_HTTP_TRIGGER_CHAIN_COMPLAINED)),
       "\"bought\" is \"purchased\"; unsubscribed, bounced, complained "
       "always exit");

    ngx_http_trigger_chains_free(chains);

    /* the version follows the shape, not the numbers */
    load(CHAIN("\"code_issued\"",
               "[{\"send\": \"a\"}, {\"wait\": \"1d\"}, {\"send\": \"b\"}]"),
         &chains, err, sizeof(err));
    load(CHAIN("\"code_issued\"",
               "[{\"send\": \"a\"}, {\"wait\": \"3d\"}, {\"send\": \"b\"}]"),
         &other, err, sizeof(err));

    ok(chains && other
       && chains->chains[0].version == other->chains[0].version,
       "another delay: the same version");

    ngx_http_trigger_chains_free(other);

    load(CHAIN("\"code_issued\"",
               "[{\"send\": \"a\"}, {\"wait\": \"1d\"}, {\"send\": \"c\"}]"),
         &other, err, sizeof(err));

    ok(chains && other
       && chains->chains[0].version != other->chains[0].version,
       "another letter: another version");

    ngx_http_trigger_chains_free(other);
    ngx_http_trigger_chains_free(chains);
}


static ngx_http_trigger_chain_event_t
ev(ngx_http_trigger_chain_ev_e type, int64_t time)
{
    ngx_http_trigger_chain_event_t  e;

    memset(&e, 0, sizeof(e));
    e.type = type;
    e.time = time;

    return e;
}


static int
fires(const char *trigger, const ngx_http_trigger_chain_event_t *history,
    size_t n, ngx_http_trigger_chain_event_t e)
{
    int                         rc;
    char                        err[512], json[1024];
    ngx_http_trigger_chains_t  *chains;

    snprintf(json, sizeof(json), "{" LETTERS ", \"chains\": [{\"name\": "
             "\"x\", \"trigger\": %s, \"steps\": [{\"send\": \"a\"}]}]}",
             trigger);

    if (load(json, &chains, err, sizeof(err)) != 0) {
        printf("# %s\n", err);
        return -1;
    }

    rc = ngx_http_trigger_chain_fires(&chains->chains[0].trigger, history, n,
                                      &e, 0);

    ngx_http_trigger_chains_free(chains);

    return rc;
}


static void
test_triggers(void)
{
    int64_t                         now;
    ngx_http_trigger_chain_event_t  e, h[4];

    now = JAN;

    e = ev(NGX_HTTP_TRIGGER_CHAIN_EV_VISIT, now);
    e.depth = 2;
    e.duration = 300;
    ok(fires("{\"visit\": {\"depth\": 3, \"duration\": \"2m\"}}", NULL, 0, e)
       == 0, "visit: 2 pages are not 3");
    e.depth = 3;
    ok(fires("{\"visit\": {\"depth\": 3, \"duration\": \"2m\"}}", NULL, 0, e)
       == 1, "visit: 3 pages and 5 minutes");
    e.duration = 119;
    ok(fires("{\"visit\": {\"depth\": 3, \"duration\": \"2m\"}}", NULL, 0, e)
       == 0, "visit: too short");

    /* a visit completes the pattern once: its first page past it */
    h[0] = ev(NGX_HTTP_TRIGGER_CHAIN_EV_VISIT, now);
    h[0].depth = 3;
    h[0].duration = 300;
    e = ev(NGX_HTTP_TRIGGER_CHAIN_EV_VISIT, now + 10);
    e.depth = 4;
    e.duration = 310;
    ok(fires("{\"visit\": {\"depth\": 3}}", h, 1, e) == 0,
       "visit: the next page of the same visit does not fire again");
    e.duration = 5;
    ok(fires("{\"visit\": {\"depth\": 3}}", h, 1, e) == 1,
       "visit: another visit past the threshold fires");

    e = ev(NGX_HTTP_TRIGGER_CHAIN_EV_RETURN, now);
    e.away = 13 * DAY;
    ok(fires("{\"return\": {\"away\": \"14d\"}}", NULL, 0, e) == 0,
       "return after 13 days is not after 14");
    e.away = 15 * DAY;
    ok(fires("{\"return\": {\"away\": \"14d\"}}", NULL, 0, e) == 1,
       "return after 15 days");

    e = ev(NGX_HTTP_TRIGGER_CHAIN_EV_SOCIAL, now);
    e.action = NGX_HTTP_TRIGGER_CHAIN_SOCIAL_SHARE;
    ok(fires("{\"social\": {\"action\": \"like\"}}", NULL, 0, e) == 0
       && fires("{\"social\": {\"action\": \"share\"}}", NULL, 0, e) == 1
       && fires("\"social\"", NULL, 0, e) == 1,
       "social actions");

    ok(fires("\"cart_add\"", NULL, 0, e) == 0, "another event");

    /* any of */
    e = ev(NGX_HTTP_TRIGGER_CHAIN_EV_SUBSCRIBED, now);
    ok(fires("{\"any\": [\"cart_add\", \"subscribed\"]}", NULL, 0, e) == 1,
       "any: one of them");

    /* all of, within an hour */
    h[0] = ev(NGX_HTTP_TRIGGER_CHAIN_EV_CART_ADD, now - 1800);
    e = ev(NGX_HTTP_TRIGGER_CHAIN_EV_VISIT, now);
    e.depth = 3;

#define ALL  "{\"all\": [\"cart_add\", {\"visit\": {\"depth\": 3}}], " \
             "\"within\": \"1h\"}"

    ok(fires(ALL, h, 1, e) == 1, "all: the second completes it");
    ok(fires(ALL, NULL, 0, e) == 0, "all: one is missing");

    h[0].time = now - 2 * HOUR;
    ok(fires(ALL, h, 1, e) == 0, "all: the first is too old");

    h[0] = e;
    h[0].time = now - 60;
    ok(fires(ALL, h, 1, ev(NGX_HTTP_TRIGGER_CHAIN_EV_CART_ADD, now)) == 1,
       "all: in any order");
    ok(fires(ALL, h, 1, ev(NGX_HTTP_TRIGGER_CHAIN_EV_SUBSCRIBED, now)) == 0,
       "all: fires on one of its own events only");

    /* a sequence: cart, a visit, then an hour away, within a day */
#define SEQ  "{\"sequence\": [\"cart_add\", \"visit\", " \
             "{\"lapse\": {\"after\": \"1h\"}}], \"within\": \"1d\"}"

    h[0] = ev(NGX_HTTP_TRIGGER_CHAIN_EV_CART_ADD, now - 5 * HOUR);
    h[1] = ev(NGX_HTTP_TRIGGER_CHAIN_EV_SUBSCRIBED, now - 4 * HOUR);
    h[2] = ev(NGX_HTTP_TRIGGER_CHAIN_EV_VISIT, now - 2 * HOUR);
    e = ev(NGX_HTTP_TRIGGER_CHAIN_EV_LAPSE, now);
    e.away = HOUR;

    ok(fires(SEQ, h, 3, e) == 1, "sequence: in order within the window");

    e.away = HOUR - 1;
    ok(fires(SEQ, h, 3, e) == 0, "sequence: not away long enough");
    e.away = HOUR;

    h[0].type = NGX_HTTP_TRIGGER_CHAIN_EV_VISIT;
    h[2].type = NGX_HTTP_TRIGGER_CHAIN_EV_CART_ADD;
    ok(fires(SEQ, h, 3, e) == 0, "sequence: out of order");

    h[0].type = NGX_HTTP_TRIGGER_CHAIN_EV_CART_ADD;
    h[2].type = NGX_HTTP_TRIGGER_CHAIN_EV_VISIT;
    h[0].time = now - DAY - 1;
    ok(fires(SEQ, h, 3, e) == 0, "sequence: outside the window");

    h[0].time = now - DAY;
    ok(fires(SEQ, h, 3, e) == 1, "sequence: at the window's edge");

    ok(fires(SEQ, h, 3, ev(NGX_HTTP_TRIGGER_CHAIN_EV_VISIT, now)) == 0,
       "sequence: fires on its last event only");
}


static int32_t
fixed_offset(const void *zone, int64_t t)
{
    (void) t;

    return *(const int32_t *) zone;
}


static void
test_executor(void)
{
    int                                    i, counts[3], n;
    char                                   err[512], id[16];
    int32_t                                plus3, pc;
    ngx_http_trigger_chains_t             *chains;
    const ngx_http_trigger_chain_t        *c;
    ngx_http_trigger_chain_action_t        a, b;
    ngx_http_trigger_chain_contact_t       st, s;

    if (load("{\"quiet_hours\": {\"from\": \"21:00\", \"to\": \"09:00\"},"
             " \"cap\": {\"letters\": 2, \"per\": \"1d\"}, " LETTERS ","
             " \"chains\": [{\"name\": \"x\", \"trigger\": \"code_issued\","
             " \"exit\": [\"code_used\", \"purchased\", \"code_expired\"],"
             " \"steps\": [{\"send\": \"a\"}, {\"wait\": \"1d\"},"
             " {\"if\": \"cart_empty\", \"then\": [{\"send\": \"b\"}],"
             " \"else\": [{\"send\": \"c\"}]},"
             " {\"wait_until\": \"10:00\"},"
             " {\"if\": \"not opened_previous\", \"then\": [{\"exit\": true}]},"
             " {\"send\": \"a\"}]},"
             " {\"name\": \"ab\", \"trigger\": \"subscribed\", \"steps\": ["
             " {\"split\": [{\"weight\": 50, \"steps\": [{\"send\": \"a\"}]},"
             " {\"weight\": 30, \"steps\": [{\"send\": \"b\"}]},"
             " {\"weight\": 20, \"steps\": []}]}]}]}",
             &chains, err, sizeof(err))
        != 0)
    {
        printf("# %s\n", err);
        ok(0, "the executor's chains load");
        return;
    }

    c = &chains->chains[0];

    /* SEND a; WAIT; IF; SEND b; JUMP; SEND c; WAIT_UNTIL; UNLESS; EXIT;
     * SEND a */
    ok(c->ninsns == 10
       && c->program[2].op == NGX_HTTP_TRIGGER_CHAIN_OP_IF
       && c->program[2].jump == 5
       && c->program[4].op == NGX_HTTP_TRIGGER_CHAIN_OP_JUMP
       && c->program[4].jump == 6
       && c->program[7].op == NGX_HTTP_TRIGGER_CHAIN_OP_UNLESS
       && c->program[7].jump == 9,
       "the program's shape");

    plus3 = 3 * HOUR;

    memset(&st, 0, sizeof(st));
    st.utc_offset = fixed_offset;
    st.zone = &plus3;
    st.variant = -1;
    st.id = (const u_char *) "a@example.com";
    st.id_len = 13;

    /* 15:00 at UTC+3 */
    ngx_http_trigger_chain_next(chains, c, 0, &st, JAN, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_SEND && a.pc == 1
       && strcmp(a.letter->name, "a") == 0, "the first letter at once");

    ngx_http_trigger_chain_next(chains, c, 1, &st, JAN, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_WAIT && a.until == JAN + DAY
       && a.pc == 2 && a.wait == NGX_HTTP_TRIGGER_CHAIN_WAIT_STEP,
       "wait a day");

    s = st;
    s.cart_empty = 1;
    ngx_http_trigger_chain_next(chains, c, 2, &s, JAN + DAY, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_SEND && a.pc == 4
       && strcmp(a.letter->name, "b") == 0, "if: then");

    ngx_http_trigger_chain_next(chains, c, 2, &st, JAN + DAY, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_SEND && a.pc == 6
       && strcmp(a.letter->name, "c") == 0, "if: else");

    /* after b, the jump over the else, then 10:00 at UTC+3 tomorrow */
    ngx_http_trigger_chain_next(chains, c, 4, &st, JAN + DAY, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_WAIT && a.pc == 7
       && a.until == 1767337200 + DAY, "wait until 10:00 local time");

    /* at 10:00 exactly: on at once */
    ngx_http_trigger_chain_next(chains, c, 6, &st, 1767337200, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_DONE
       && a.done == NGX_HTTP_TRIGGER_CHAIN_DONE_EXIT && a.pc == 8,
       "it is 10:00: on; not opened: the exit step");

    s = st;
    s.opened_previous = 1;
    ngx_http_trigger_chain_next(chains, c, 7, &s, 1767337200, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_SEND && a.pc == 10,
       "opened: the last letter");

    ngx_http_trigger_chain_next(chains, c, 10, &s, 1767337200, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_DONE
       && a.done == NGX_HTTP_TRIGGER_CHAIN_DONE_END
       && strcmp(ngx_http_trigger_chain_reason(&a), "end") == 0,
       "the chain ends");

    ngx_http_trigger_chain_next(chains, c, 11, &s, JAN, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_DONE
       && a.done == NGX_HTTP_TRIGGER_CHAIN_DONE_INVALID,
       "a pc beyond the program");

    /* exits, before any send */
    s = st;
    s.code_used = 1;
    ngx_http_trigger_chain_next(chains, c, 0, &s, JAN, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_DONE
       && a.done == NGX_HTTP_TRIGGER_CHAIN_DONE_COND
       && a.cond == NGX_HTTP_TRIGGER_CHAIN_CODE_USED
       && strcmp(ngx_http_trigger_chain_reason(&a), "code_used") == 0,
       "exit: code used");

    s = st;
    s.code_expires = JAN;
    ngx_http_trigger_chain_next(chains, c, 0, &s, JAN - 1, &a);
    ngx_http_trigger_chain_next(chains, c, 0, &s, JAN, &b);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_SEND
       && b.act == NGX_HTTP_TRIGGER_CHAIN_DONE
       && b.cond == NGX_HTTP_TRIGGER_CHAIN_CODE_EXPIRED,
       "exit: the code expires");

    s = st;
    s.purchased = 1;
    ngx_http_trigger_chain_next(chains, c, 5, &s, JAN, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_DONE
       && a.cond == NGX_HTTP_TRIGGER_CHAIN_PURCHASED, "exit: purchased");

    s = st;
    s.bounced = 1;
    ngx_http_trigger_chain_next(chains, c, 0, &s, JAN, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_DONE
       && a.cond == NGX_HTTP_TRIGGER_CHAIN_BOUNCED,
       "exit: bounced, without being listed");

    s = st;
    s.unsubscribed = 1;
    ngx_http_trigger_chain_next(chains, c, 0, &s, JAN, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_DONE
       && a.cond == NGX_HTTP_TRIGGER_CHAIN_UNSUBSCRIBED,
       "exit: unsubscribed, without being listed");

    /* quiet hours: 22:00 at UTC+3 waits for 09:00 */
    ngx_http_trigger_chain_next(chains, c, 0, &st, JAN + 7 * HOUR, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_WAIT
       && a.wait == NGX_HTTP_TRIGGER_CHAIN_WAIT_QUIET && a.pc == 0
       && a.until == JAN + DAY - 6 * HOUR
       && strcmp(ngx_http_trigger_chain_reason(&a), "quiet_hours") == 0,
       "quiet hours: the send waits until 09:00, not dropped");

    /* 08:30 there: the same morning */
    ngx_http_trigger_chain_next(chains, c, 0, &st, JAN - 6 * HOUR - 1800,
                                &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_WAIT
       && a.until == JAN - 6 * HOUR, "quiet hours: after midnight");

    ngx_http_trigger_chain_next(chains, c, 0, &st, JAN - 6 * HOUR, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_SEND, "09:00: quiet hours are over");

    /* New York, the night clocks go forward: 01:00 EST to 09:00 EDT */
    s = st;
    s.utc_offset = ngx_http_trigger_tz_offset;
    s.zone = zone("America/New_York");
    ngx_http_trigger_chain_next(chains, c, 0, &s, 1772949600, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_WAIT && a.until == 1772974800,
       "quiet hours across a clock change (a real zone)");

    /* the cap: 2 a day */
    s = st;
    s.cap_sent = 2;
    s.cap_start = JAN - HOUR;
    ngx_http_trigger_chain_next(chains, c, 0, &s, JAN, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_WAIT
       && a.wait == NGX_HTTP_TRIGGER_CHAIN_WAIT_CAP && a.pc == 0
       && a.until == JAN - HOUR + DAY,
       "the cap delays the send to the end of its period");

    s.cap_start = JAN - DAY;
    ngx_http_trigger_chain_next(chains, c, 0, &s, JAN, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_SEND, "the cap's period is over");

    ngx_http_trigger_chain_cap_count(chains, &s, JAN);
    ok(s.cap_start == JAN && s.cap_sent == 1, "a new cap period begins");
    ngx_http_trigger_chain_cap_count(chains, &s, JAN + HOUR);
    ok(s.cap_start == JAN && s.cap_sent == 2, "counted in the period");

    /* the A/B split: 50, 30, 20 (the last gets nothing) */
    c = &chains->chains[1];

    ngx_http_trigger_chain_next(chains, c, 0, &st, JAN, &a);
    ngx_http_trigger_chain_next(chains, c, 0, &st, JAN, &b);
    ok(a.drawn && a.variant >= 0 && a.variant < 3
       && b.variant == a.variant, "a contact draws the same variant");

    s = st;
    s.variant = 2;
    ngx_http_trigger_chain_next(chains, c, 0, &s, JAN, &a);
    ok(!a.drawn && a.variant == 2 && a.act == NGX_HTTP_TRIGGER_CHAIN_DONE
       && a.done == NGX_HTTP_TRIGGER_CHAIN_DONE_END,
       "a recorded variant is kept; the control group gets nothing");

    s.variant = 1;
    ngx_http_trigger_chain_next(chains, c, 0, &s, JAN, &a);
    pc = a.pc;
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_SEND
       && strcmp(a.letter->name, "b") == 0, "variant b");

    ngx_http_trigger_chain_next(chains, c, pc, &s, JAN, &a);
    ok(a.act == NGX_HTTP_TRIGGER_CHAIN_DONE
       && a.done == NGX_HTTP_TRIGGER_CHAIN_DONE_END,
       "after variant b, the end");

    memset(counts, 0, sizeof(counts));
    n = 3000;

    for (i = 0; i < n; i++) {
        s = st;
        s.id_len = snprintf(id, sizeof(id), "c%d", i);
        s.id = (const u_char *) id;
        ngx_http_trigger_chain_next(chains, c, 0, &s, JAN, &a);
        counts[a.variant]++;
    }

    ok(counts[0] > n * 45 / 100 && counts[0] < n * 55 / 100
       && counts[1] > n * 25 / 100 && counts[1] < n * 35 / 100
       && counts[2] > n * 15 / 100 && counts[2] < n * 25 / 100,
       "variants drawn in the weights' shares");

    ngx_http_trigger_chains_free(chains);
}


int
main(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/chain_tests.XXXXXX");

    if (mkdtemp(tmp) == NULL || chdir(tmp) != 0) {
        perror(tmp);
        return 1;
    }

    write_file("bad.html", "<p>\xc3\x28</p>", 9);

    test_duration();
    test_tz_known();
    test_tz_libc();
    test_tz_parse();
    test_tz_names();
    test_examples();
    test_refused();
    test_loaded();
    test_triggers();
    test_executor();

    unlink("chains.json");
    unlink("bad.html");
    rmdir(tmp);

    ngx_http_trigger_tz_free();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
