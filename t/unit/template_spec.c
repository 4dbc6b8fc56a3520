/*
 * The official Mustache specification tests against the template
 * renderer, printing TAP: template_spec DIR, where DIR holds the spec's
 * JSON files.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_trigger_template.h"


#define SPEC_MAX_PARTIALS  8


typedef struct {
    const char                   *name[SPEC_MAX_PARTIALS];
    ngx_http_trigger_template_t  *tpl[SPEC_MAX_PARTIALS];
    size_t                        n;
} spec_partials_t;


static int  tests;
static int  failed;


static void
ok(int cond, const char *file, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %d - %s: %s\n", cond ? "" : "not ", tests, file, name);
}


static void
diag(const char *what, const char *text)
{
    const char  *p;

    printf("#   %s: ", what);

    for (p = text; *p; p++) {
        if (*p == '\n') {
            printf("\\n");

        } else if (*p == '\r') {
            printf("\\r");

        } else {
            putchar(*p);
        }
    }

    putchar('\n');
}


static const ngx_http_trigger_template_t *
spec_partial(void *data, const char *name, size_t len)
{
    size_t            i;
    spec_partials_t  *p;

    p = data;

    for (i = 0; i < p->n; i++) {
        if (strlen(p->name[i]) == len && memcmp(p->name[i], name, len) == 0) {
            return p->tpl[i];
        }
    }

    return NULL;
}


static void
spec_test(const char *file, json_t *test)
{
    int                               rc;
    char                              err[256];
    size_t                            i;
    json_t                           *template, *expected, *value;
    const char                       *name, *key;
    spec_partials_t                   partials;
    ngx_http_trigger_template_t      *t;
    ngx_http_trigger_template_buf_t   out;

    name = json_string_value(json_object_get(test, "name"));
    template = json_object_get(test, "template");
    expected = json_object_get(test, "expected");

    if (name == NULL || !json_is_string(template)
        || !json_is_string(expected))
    {
        ok(0, file, name ? name : "(a test without a name)");
        return;
    }

    memset(&partials, 0, sizeof(partials));
    ngx_http_trigger_template_buf_init(&out, 1 << 20);
    rc = -1;
    err[0] = '\0';

    t = ngx_http_trigger_template_compile(json_string_value(template),
                                          json_string_length(template),
                                          err, sizeof(err));
    if (t == NULL) {
        goto done;
    }

    json_object_foreach(json_object_get(test, "partials"), key, value) {
        if (partials.n == SPEC_MAX_PARTIALS) {
            snprintf(err, sizeof(err), "too many partials");
            goto done;
        }

        partials.name[partials.n] = key;
        partials.tpl[partials.n] = ngx_http_trigger_template_compile(
                                       json_string_value(value),
                                       json_string_length(value),
                                       err, sizeof(err));

        if (partials.tpl[partials.n++] == NULL) {
            goto done;
        }
    }

    rc = ngx_http_trigger_template_render(t, json_object_get(test, "data"),
                                          spec_partial, &partials, 0, &out);

done:

    if (rc == NGX_HTTP_TRIGGER_TEMPLATE_OK
        && out.len == json_string_length(expected)
        && memcmp(out.data, json_string_value(expected), out.len) == 0)
    {
        ok(1, file, name);

    } else {
        ok(0, file, name);
        diag("template", json_string_value(template));
        diag("expected", json_string_value(expected));

        if (rc == NGX_HTTP_TRIGGER_TEMPLATE_OK) {
            diag("got", out.data);

        } else {
            diag("error", err[0] ? err
                                 : ngx_http_trigger_template_strerror(rc));
        }
    }

    ngx_http_trigger_template_buf_free(&out);
    ngx_http_trigger_template_free(t);

    for (i = 0; i < partials.n; i++) {
        ngx_http_trigger_template_free(partials.tpl[i]);
    }
}


int
main(int argc, char **argv)
{
    char           path[4096];
    size_t         i, k;
    json_t        *spec, *list;
    json_error_t   error;
    static const char  *files[] = {
        "comments.json", "interpolation.json", "sections.json",
        "inverted.json", "delimiters.json", "partials.json"
    };

    if (argc != 2) {
        fprintf(stderr, "usage: %s MUSTACHE-SPEC-DIR\n", argv[0]);
        return 2;
    }

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", argv[1], files[i]);

        spec = json_load_file(path, 0, &error);
        list = json_object_get(spec, "tests");

        if (!json_is_array(list) || json_array_size(list) == 0) {
            ok(0, files[i], "loaded");
            printf("#   %s: %s\n", path,
                   spec ? "no tests in it" : error.text);
            json_decref(spec);
            continue;
        }

        for (k = 0; k < json_array_size(list); k++) {
            spec_test(files[i], json_array_get(list, k));
        }

        json_decref(spec);
    }

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
