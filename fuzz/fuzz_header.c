/*
 * The upstream's event headers (X-Trigger-View and the others):
 * ngx_http_trigger_event_parse_header().  The first byte picks the
 * event type, the rest is the header's value.
 */


#include "fuzz.h"


/* how many space-separated values each type takes (README) */
static const size_t  fuzz_values[] = { 1, 2, 2, 0, 3 };


/*
 * The same values sent as JSON to the events endpoint must be accepted
 * or refused alike, and give the same event.
 */

static void
fuzz_compare_json(ngx_http_trigger_event_type_e type, const u_char *value,
    size_t len, const char *err, const ngx_http_trigger_event_t *ev)
{
    int                        purchase;
    char                      *text;
    size_t                     i, n, words, start[4], end[4];
    json_t                    *obj, *s;
    const char                *jerr, *keys[3];
    ngx_http_trigger_event_t   jev;

    words = 0;

    for (i = 0; i < len; i++) {
        if (value[i] == ' ' || value[i] == '\t') {
            continue;
        }

        if (words == 4) {
            break;
        }

        start[words] = i;

        while (i < len && value[i] != ' ' && value[i] != '\t') {
            i++;
        }

        end[words++] = i;
    }

    if (words > fuzz_values[type] && fuzz_values[type] > 0) {
        FUZZ_CHECK(err != NULL && strcmp(err, "too many values") == 0);
        return;
    }

    purchase = type == NGX_HTTP_TRIGGER_EV_PURCHASE;
    keys[0] = purchase ? "order" : "sku";
    keys[1] = purchase ? "amount" : "qty";
    keys[2] = "promo";

    obj = json_object();
    json_object_set_new(obj, "type", json_string(fuzz_event_names[type]));

    for (i = 0; i < words && i < fuzz_values[type]; i++) {
        s = json_stringn((const char *) value + start[i], end[i] - start[i]);

        if (s == NULL) {
            /* not UTF-8: JSON cannot carry it */
            json_decref(obj);
            return;
        }

        json_object_set_new(obj, keys[i], s);
    }

    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    FUZZ_CHECK(text != NULL);

    jerr = ngx_http_trigger_events_parse_json((const u_char *) text,
                                              strlen(text), &jev, 1, &n);

    if ((err == NULL) != (jerr == NULL)
        || (err == NULL && memcmp(&jev, ev, sizeof(jev)) != 0))
    {
        fprintf(stderr, "header: %s, JSON \"%s\": %s\n",
                err ? err : "ok", text, jerr ? jerr : "ok");
        abort();
    }

    free(text);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char                    *err, *err2;
    ngx_http_trigger_event_t       ev, ev2;
    ngx_http_trigger_event_type_e  type;

    if (size == 0) {
        return 0;
    }

    /* the types the filter reads from headers */
    type = data[0] % (NGX_HTTP_TRIGGER_EV_PURCHASE + 1);

    err = ngx_http_trigger_event_parse_header(&ev, type, data + 1, size - 1);
    err2 = ngx_http_trigger_event_parse_header(&ev2, type, data + 1,
                                               size - 1);

    FUZZ_CHECK(err == err2);

    if (err == NULL) {
        FUZZ_CHECK(memcmp(&ev, &ev2, sizeof(ev)) == 0 && ev.type == type);
        fuzz_check_event(&ev);
        fuzz_event_roundtrip(&ev);
    }

    fuzz_compare_json(type, data + 1, size - 1, err, &ev);

    return 0;
}
