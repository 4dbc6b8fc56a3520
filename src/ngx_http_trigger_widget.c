/*
 * The offer in the page: deciding for a request, the product feed, and
 * the bootstrap that brings the widget.
 */


#include "ngx_http_trigger_widget.h"
#include "ngx_http_trigger_html.h"
#include "ngx_http_trigger_widget_js.h"


static void ngx_http_trigger_json_cleanup(void *data);
static ngx_int_t ngx_http_trigger_widget_look(ngx_conf_t *cf, json_t *o,
    ngx_http_trigger_look_t *look);


ngx_str_t  ngx_http_trigger_widget_source = {
    sizeof(ngx_http_trigger_widget_js) - 1,
    (u_char *) ngx_http_trigger_widget_js
};

ngx_str_t  ngx_http_trigger_widget_gzip = {
    sizeof(ngx_http_trigger_widget_js_gz) - 1,
    (u_char *) ngx_http_trigger_widget_js_gz
};

ngx_str_t  ngx_http_trigger_widget_version =
    ngx_string(NGX_HTTP_TRIGGER_WIDGET_VERSION);


static const char  *ngx_http_trigger_widget_text_keys[] = {
    "title", "subtitle", "email_label", "email_placeholder",
    "consent_required", "submit", "decline", "close", "in_cart",
    "viewed_title", "cart_title", "success_title", "success_text",
    "success_code", "success_confirm", "copy", "copied", "error_email",
    "error_consent", "error_generic", "error_limit", "error_token",
    "error_unavailable", NULL
};


static void
ngx_http_trigger_json_cleanup(void *data)
{
    json_decref(data);
}


/* [{"sku": ..., "name": ..., ...}] or {"products": [...]} */

char *
ngx_http_trigger_products_load(ngx_conf_t *cf, ngx_str_t *path,
    json_t **products)
{
    size_t               i;
    json_t              *root, *list, *p, *sku, *name, *index;
    json_error_t         error;
    ngx_pool_cleanup_t  *cln;

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    root = json_load_file((char *) path->data, JSON_REJECT_DUPLICATES,
                          &error);
    if (root == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "product feed \"%V\": %s at line %d",
                           path, error.text, error.line);
        return NGX_CONF_ERROR;
    }

    list = json_is_array(root) ? root : json_object_get(root, "products");
    index = json_object();

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (!json_is_array(list) || index == NULL || cln == NULL) {
        json_decref(root);
        json_decref(index);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "product feed \"%V\": expected a list of "
                           "products", path);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_trigger_json_cleanup;
    cln->data = index;

    json_array_foreach(list, i, p) {
        sku = json_object_get(p, "sku");
        name = json_object_get(p, "name");

        if (!json_is_string(sku) || !json_is_string(name)) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "product feed \"%V\": item %uz has no "
                               "\"sku\" or \"name\", ignored", path, i);
            continue;
        }

        json_object_set(index, json_string_value(sku), p);
    }

    json_decref(root);

    *products = index;

    return NGX_CONF_OK;
}


char *
ngx_http_trigger_widget_text(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    value = cf->args->elts;

    return ngx_http_trigger_text_set(cf, &tlcf->widget_texts, &value[1],
                                     &value[2]);
}


/* a text of the widget, key and value as the directives give them */

char *
ngx_http_trigger_text_set(ngx_conf_t *cf, json_t **texts, ngx_str_t *key,
    ngx_str_t *text)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_trigger_widget_text_keys[i]; i++) {
        if (key->len == ngx_strlen(ngx_http_trigger_widget_text_keys[i])
            && ngx_strncmp(key->data, ngx_http_trigger_widget_text_keys[i],
                           key->len)
               == 0)
        {
            break;
        }
    }

    if (ngx_http_trigger_widget_text_keys[i] == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown widget text \"%V\"", key);
        return NGX_CONF_ERROR;
    }

    if (*texts == NULL) {
        *texts = ngx_http_trigger_json_keep(cf, json_object());
        if (*texts == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (json_object_set_new(*texts, ngx_http_trigger_widget_text_keys[i],
                            json_stringn((char *) text->data, text->len))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "widget text \"%V\" is not valid UTF-8", key);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a JSON value that lives as long as the configuration */

json_t *
ngx_http_trigger_json_keep(ngx_conf_t *cf, json_t *json)
{
    ngx_pool_cleanup_t  *cln;

    if (json == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        json_decref(json);
        return NULL;
    }

    cln->handler = ngx_http_trigger_json_cleanup;
    cln->data = json;

    return json;
}


char *
ngx_http_trigger_widget_signals(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (tlcf->widget_signals != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    tlcf->widget_signals = 0;
    tlcf->widget_idle = 0;
    tlcf->widget_idle_desktop = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "off") == 0 && cf->args->nelts == 2) {
            continue;

        } else if (ngx_strcmp(value[i].data, "top") == 0) {
            tlcf->widget_signals |= NGX_HTTP_TRIGGER_SIGNAL_TOP;

        } else if (ngx_strcmp(value[i].data, "back") == 0) {
            tlcf->widget_signals |= NGX_HTTP_TRIGGER_SIGNAL_BACK;

        } else if (ngx_strcmp(value[i].data, "tab") == 0) {
            tlcf->widget_signals |= NGX_HTTP_TRIGGER_SIGNAL_TAB;

        } else if (ngx_strcmp(value[i].data, "scroll") == 0) {
            tlcf->widget_signals |= NGX_HTTP_TRIGGER_SIGNAL_SCROLL;

        } else if (ngx_strncmp(value[i].data, "idle=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;
            tlcf->widget_idle = ngx_parse_time(&s, 1);

            if (tlcf->widget_idle == (time_t) NGX_ERROR
                || tlcf->widget_idle == 0)
            {
                return "has an invalid idle time";
            }

            tlcf->widget_signals |= NGX_HTTP_TRIGGER_SIGNAL_IDLE;

        } else if (ngx_strncmp(value[i].data, "idle_desktop=", 13) == 0) {
            s.data = value[i].data + 13;
            s.len = value[i].len - 13;
            tlcf->widget_idle_desktop = ngx_parse_time(&s, 1);

            if (tlcf->widget_idle_desktop == (time_t) NGX_ERROR
                || tlcf->widget_idle_desktop == 0)
            {
                return "has an invalid idle_desktop time";
            }

            tlcf->widget_signals |= NGX_HTTP_TRIGGER_SIGNAL_IDLE_DESKTOP;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid signal \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * trigger_offer_variant name weight=N [discount=text] [format=...]
 * [accent=#rrggbb] [text key=text ...]
 */

char *
ngx_http_trigger_widget_variant(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_trigger_loc_conf_t *tlcf = conf;

    u_char                      *eq, *p;
    char                        *rc;
    ngx_int_t                    n, f;
    ngx_str_t                   *value, key, text;
    ngx_uint_t                   i;
    ngx_http_trigger_variant_t  *v;

    value = cf->args->elts;

    if (tlcf->variants == NULL) {
        tlcf->variants = ngx_array_create(cf->pool, 5,
                                          sizeof(ngx_http_trigger_variant_t));
        if (tlcf->variants == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (tlcf->variants->nelts == 5) {
        return "allows at most 5 variants in one place";
    }

    if (!ngx_http_trigger_offer_name_valid(value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid variant name \"%V\": 1-32 letters, "
                           "digits, \"_\" or \"-\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    v = tlcf->variants->elts;

    for (i = 0; i < tlcf->variants->nelts; i++) {
        if (v[i].name.len == value[1].len
            && ngx_strncmp(v[i].name.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate variant \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    v = ngx_array_push(tlcf->variants);
    if (v == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(v, sizeof(ngx_http_trigger_variant_t));
    v->name = value[1];
    v->weight = NGX_CONF_UNSET_UINT;
    v->format = NGX_CONF_UNSET_UINT;

    for (i = 2; i < cf->args->nelts; i++) {
        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        if (eq == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid variant parameter \"%V\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        key.data = value[i].data;
        key.len = eq - key.data;
        text.data = eq + 1;
        text.len = value[i].data + value[i].len - text.data;

        if (key.len == 6 && ngx_strncmp(key.data, "weight", 6) == 0) {
            n = ngx_atoi(text.data, text.len);

            if (n == NGX_ERROR || n > 10000) {
                return "has an invalid weight (0-10000)";
            }

            v->weight = n;

        } else if (key.len == 8 && ngx_strncmp(key.data, "discount", 8) == 0)
        {
            v->discount = text;

        } else if (key.len == 6 && ngx_strncmp(key.data, "format", 6) == 0) {
            f = ngx_http_trigger_offer_word(ngx_http_trigger_offer_formats,
                                            text.data, text.len);
            if (f < 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid format \"%V\"", &text);
                return NGX_CONF_ERROR;
            }

            v->format = f;

        } else if (key.len == 6 && ngx_strncmp(key.data, "accent", 6) == 0) {
            if (!ngx_http_trigger_offer_accent_valid(text.data, text.len)) {
                return "has an invalid accent (#rrggbb)";
            }

            v->accent = text;

        } else {
            rc = ngx_http_trigger_text_set(cf, &v->texts, &key, &text);
            if (rc != NGX_CONF_OK) {
                return rc;
            }
        }
    }

    if (v->weight == NGX_CONF_UNSET_UINT) {
        return "needs weight=N";
    }

    p = ngx_pnalloc(cf->pool, sizeof("visitors_offered:") + v->name.len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(p, "visitors_offered:%V%Z", &v->name);
    v->offered.all = "visitors_offered";
    v->offered.variant = (char *) p;

    return NGX_CONF_OK;
}


/*
 * A level without variants has its parent's; each location has copies,
 * its own texts and look rendered into them.
 */

char *
ngx_http_trigger_variants_merge(ngx_conf_t *cf,
    ngx_http_trigger_loc_conf_t *conf, ngx_http_trigger_loc_conf_t *prev)
{
    void                        *p;
    ngx_uint_t                   i, sum;
    ngx_http_trigger_variant_t  *v;

    if (conf->variants == NULL && prev->variants) {
        conf->variants = ngx_array_create(cf->pool, prev->variants->nelts,
                                          sizeof(ngx_http_trigger_variant_t));
        if (conf->variants == NULL) {
            return NGX_CONF_ERROR;
        }

        p = ngx_array_push_n(conf->variants, prev->variants->nelts);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(p, prev->variants->elts,
                   prev->variants->nelts * sizeof(ngx_http_trigger_variant_t));
    }

    if (conf->variants == NULL) {
        return NGX_CONF_OK;
    }

    if (conf->variants->nelts < 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"trigger_offer_variant\" needs 2 to 5 "
                           "variants in one place");
        return NGX_CONF_ERROR;
    }

    conf->weights = ngx_palloc(cf->pool,
                               conf->variants->nelts * sizeof(uint32_t));
    if (conf->weights == NULL) {
        return NGX_CONF_ERROR;
    }

    v = conf->variants->elts;
    sum = 0;

    for (i = 0; i < conf->variants->nelts; i++) {
        conf->weights[i] = v[i].weight;
        sum += v[i].weight;
    }

    if (sum == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the variants' weights are all 0");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the visitor's variant where variants are configured, or NULL */

ngx_http_trigger_variant_t *
ngx_http_trigger_variant_of(ngx_http_trigger_loc_conf_t *tlcf,
    const u_char *vid)
{
    ngx_http_trigger_variant_t  *v;

    if (tlcf->variants == NULL) {
        return NULL;
    }

    v = tlcf->variants->elts;

    return &v[ngx_http_trigger_offer_variant(vid, NGX_HTTP_TRIGGER_VID_LEN,
                                             tlcf->weights,
                                             tlcf->variants->nelts)];
}


/*
 * The settings of a location's offer, then of each of its variants (the
 * variant's texts, discount and look over the location's), rendered once.
 */

char *
ngx_http_trigger_widget_merge(ngx_conf_t *cf,
    ngx_http_trigger_loc_conf_t *conf)
{
    json_t                        *o, *v, *texts, *consent;
    ngx_uint_t                     i, sig, mail;
    ngx_http_trigger_variant_t    *var;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_trigger_module);

    if (tmcf->api.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"trigger_offer\" needs a location with "
                           "\"trigger_api\" for the widget's requests");
        return NGX_CONF_ERROR;
    }

    sig = conf->widget_signals;

    /* the success text promises a letter only when one will be sent */
    mail = tmcf->sender.on_subscribe && tmcf->sender.on_subscribe->nelts;

    if (conf->widget_consent.len == 2
        && ngx_strncmp(conf->widget_consent.data, "on", 2) == 0)
    {
        /* the widget's own label, in its language */
        consent = json_true();

    } else if (conf->widget_consent.len) {
        consent = json_stringn((char *) conf->widget_consent.data,
                               conf->widget_consent.len);
    } else {
        consent = json_null();
    }

    o = json_pack("{s:s%, s:s%, s:s%, s:O?, s:o, s:{s:b, s:b, s:b, s:b,"
                  " s:I, s:I}, s:I, s:b, s:b, s:s, s:o, s:n, s:I, s:b}",
                  "api", tmcf->api.data, tmcf->api.len,
                  "lang", conf->widget_lang.data, conf->widget_lang.len,
                  "discount", conf->discount.data, conf->discount.len,
                  "texts", conf->widget_texts,
                  "consent", consent,
                  "signals",
                  "top", (sig & NGX_HTTP_TRIGGER_SIGNAL_TOP) != 0,
                  "back", (sig & NGX_HTTP_TRIGGER_SIGNAL_BACK) != 0,
                  "tab", (sig & NGX_HTTP_TRIGGER_SIGNAL_TAB) != 0,
                  "scroll", (sig & NGX_HTTP_TRIGGER_SIGNAL_SCROLL) != 0,
                  "idle", (json_int_t) ((sig & NGX_HTTP_TRIGGER_SIGNAL_IDLE)
                                        ? conf->widget_idle : 0),
                  "idle_desktop",
                  (json_int_t) ((sig & NGX_HTTP_TRIGGER_SIGNAL_IDLE_DESKTOP)
                                ? conf->widget_idle_desktop : 0),
                  "delay", (json_int_t) conf->widget_delay,
                  "datalayer", conf->widget_datalayer ? 1 : 0,
                  "mail", mail ? 1 : 0,
                  "format",
                  ngx_http_trigger_offer_formats[conf->widget_format],
                  "accent", conf->widget_accent.len
                            ? json_stringn((char *) conf->widget_accent.data,
                                           conf->widget_accent.len)
                            : json_null(),
                  "variant",
                  "close_pause", (json_int_t) conf->close_pause,
                  "reminder", conf->widget_reminder ? 1 : 0);

    if (ngx_http_trigger_json_keep(cf, o) == NULL
        || ngx_http_trigger_widget_look(cf, o, &conf->look) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "widget settings are not valid UTF-8");
        return NGX_CONF_ERROR;
    }

    if (conf->variants == NULL) {
        return NGX_CONF_OK;
    }

    var = conf->variants->elts;

    for (i = 0; i < conf->variants->nelts; i++) {
        v = ngx_http_trigger_json_keep(cf, json_deep_copy(o));
        if (v == NULL) {
            return NGX_CONF_ERROR;
        }

        texts = conf->widget_texts ? json_deep_copy(conf->widget_texts)
                                   : json_object();

        if (texts == NULL
            || (var[i].texts && json_object_update(texts, var[i].texts) != 0)
            || json_object_set_new(v, "texts", texts) != 0
            || json_object_set_new(v, "variant",
                                   json_stringn((char *) var[i].name.data,
                                                var[i].name.len))
               != 0
            || (var[i].discount.len
                && json_object_set_new(v, "discount",
                          json_stringn((char *) var[i].discount.data,
                                       var[i].discount.len))
                   != 0)
            || (var[i].format != NGX_CONF_UNSET_UINT
                && json_object_set_new(v, "format", json_string(
                       ngx_http_trigger_offer_formats[var[i].format]))
                   != 0)
            || (var[i].accent.len
                && json_object_set_new(v, "accent",
                          json_stringn((char *) var[i].accent.data,
                                       var[i].accent.len))
                   != 0)
            || ngx_http_trigger_widget_look(cf, v, &var[i].look) != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "variant \"%V\": widget settings are not "
                               "valid UTF-8", &var[i].name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* an offer page's and a reminder's parts of the settings o */

static ngx_int_t
ngx_http_trigger_widget_look(ngx_conf_t *cf, json_t *o,
    ngx_http_trigger_look_t *look)
{
    json_t     *reminder;
    ngx_int_t   rc;

    look->settings = o;

    if (ngx_http_trigger_widget_render(cf->pool, o, &look->offer) != NGX_OK) {
        return NGX_ERROR;
    }

    reminder = json_pack("{s:O, s:O, s:O, s:O}",
                         "api", json_object_get(o, "api"),
                         "lang", json_object_get(o, "lang"),
                         "texts", json_object_get(o, "texts"),
                         "accent", json_object_get(o, "accent"));
    if (reminder == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_trigger_widget_render(cf->pool, reminder, &look->reminder);
    json_decref(reminder);

    return rc;
}


/*
 * The members of the object o, without its braces (a request adds its
 * own), JSON escaped for a <script> element.
 */

ngx_int_t
ngx_http_trigger_widget_render(ngx_pool_t *pool, json_t *o, ngx_str_t *out)
{
    char    *text;
    size_t   len;

    text = json_dumps(o, JSON_COMPACT|JSON_ENSURE_ASCII);
    if (text == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text) - 2;

    out->data = ngx_pnalloc(pool, 6 * len);
    if (out->data == NULL) {
        free(text);
        return NGX_ERROR;
    }

    out->len = ngx_http_trigger_script_json(out->data, (u_char *) text + 1,
                                            len);
    free(text);

    return NGX_OK;
}
