/*
 * The events endpoint's JSON body (POST /_trigger/events):
 * ngx_http_trigger_events_parse_json().
 */


#include "fuzz.h"


#define EV_SIZE  sizeof(ngx_http_trigger_event_t)


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                     i, n, n2;
    const char                *err, *err2;
    ngx_http_trigger_event_t  *evs, *evs2;

    /* exactly as many as the module gives it: overruns are caught */
    evs = malloc(NGX_HTTP_TRIGGER_EVENTS_MAX * EV_SIZE);
    evs2 = malloc(NGX_HTTP_TRIGGER_EVENTS_MAX * EV_SIZE);
    FUZZ_CHECK(evs != NULL && evs2 != NULL);

    err = ngx_http_trigger_events_parse_json(data, size, evs,
                                             NGX_HTTP_TRIGGER_EVENTS_MAX, &n);
    err2 = ngx_http_trigger_events_parse_json(data, size, evs2,
                                              NGX_HTTP_TRIGGER_EVENTS_MAX,
                                              &n2);

    FUZZ_CHECK(err == err2 && n == n2);
    FUZZ_CHECK(err ? n == 0 : n >= 1 && n <= NGX_HTTP_TRIGGER_EVENTS_MAX);

    for (i = 0; err == NULL && i < n; i++) {
        FUZZ_CHECK(memcmp(&evs[i], &evs2[i], EV_SIZE) == 0);
        fuzz_check_event(&evs[i]);
        fuzz_event_roundtrip(&evs[i]);
    }

    free(evs2);

    /* a batch one event over the limit is refused as a whole */
    if (err == NULL && n > 1) {
        evs2 = malloc((n - 1) * EV_SIZE);
        FUZZ_CHECK(evs2 != NULL);

        err = ngx_http_trigger_events_parse_json(data, size, evs2, n - 1,
                                                 &n2);
        FUZZ_CHECK(err != NULL && strcmp(err, "too many events") == 0
                   && n2 == 0);
        free(evs2);
    }

    free(evs);

    return 0;
}
