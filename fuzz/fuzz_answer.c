/*
 * The widget's answer to an offer (POST /_trigger/subscribe and
 * /_trigger/decline): ngx_http_trigger_answer_parse_json().  The first
 * byte's low bit says whether an email is needed (subscribe), the rest
 * is the body.
 */


#include "fuzz.h"


static void
fuzz_check_answer(const ngx_http_trigger_answer_t *a, int need_email)
{
    size_t  i;

    FUZZ_CHECK(a->token_len > 0 && a->token_len < sizeof(a->token)
               && a->token[a->token_len] == '\0');

    if (!need_email) {
        FUZZ_CHECK(a->email_len == 0 && a->tz_len == 0 && !a->consent);
        return;
    }

    FUZZ_CHECK(a->email_len < sizeof(a->email)
               && a->email[a->email_len] == '\0'
               && ngx_http_trigger_valid_email(a->email, a->email_len));

    for (i = 0; i < a->email_len; i++) {
        FUZZ_CHECK(a->email[i] < 'A' || a->email[i] > 'Z');
    }

    FUZZ_CHECK(a->tz_len < sizeof(a->tz) && a->tz[a->tz_len] == '\0');
    FUZZ_CHECK(a->tz_len == 0 || ngx_http_trigger_valid_tz(a->tz, a->tz_len));
}


/* the answer written back as JSON parses the same */

static void
fuzz_answer_roundtrip(const ngx_http_trigger_answer_t *a, int need_email)
{
    char                       *text;
    json_t                     *obj;
    const char                 *err;
    ngx_http_trigger_answer_t   back;

    obj = json_object();
    json_object_set_new(obj, "token",
                        json_stringn((const char *) a->token, a->token_len));

    if (need_email) {
        json_object_set_new(obj, "email",
                            json_stringn((const char *) a->email,
                                         a->email_len));
        json_object_set_new(obj, "consent", json_boolean(a->consent));

        if (a->tz_len) {
            json_object_set_new(obj, "tz",
                                json_stringn((const char *) a->tz,
                                             a->tz_len));
        }
    }

    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    FUZZ_CHECK(text != NULL);

    err = ngx_http_trigger_answer_parse_json((const u_char *) text,
                                             strlen(text), need_email, &back);
    if (err != NULL || memcmp(&back, a, sizeof(back)) != 0) {
        fprintf(stderr, "JSON \"%s\": %s\n", text, err ? err : "differs");
        abort();
    }

    free(text);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                         need_email;
    const char                 *err, *err2;
    ngx_http_trigger_answer_t   a, b;

    if (size == 0) {
        return 0;
    }

    need_email = data[0] & 1;

    err = ngx_http_trigger_answer_parse_json(data + 1, size - 1, need_email,
                                             &a);
    err2 = ngx_http_trigger_answer_parse_json(data + 1, size - 1, need_email,
                                              &b);

    FUZZ_CHECK(err == err2);

    if (err == NULL) {
        FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
        fuzz_check_answer(&a, need_email);
        fuzz_answer_roundtrip(&a, need_email);
    }

    return 0;
}
