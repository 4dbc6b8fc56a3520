/*
 * The offer in the page: deciding for a request, the product feed, and
 * the bootstrap that brings the widget.
 */


#include "ngx_http_trigger_widget.h"
#include "ngx_http_trigger_html.h"
#include "ngx_http_trigger_widget_js.h"


static void ngx_http_trigger_json_cleanup(void *data);


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

    ngx_str_t           *value;
    ngx_uint_t           i;
    ngx_pool_cleanup_t  *cln;

    value = cf->args->elts;

    for (i = 0; ngx_http_trigger_widget_text_keys[i]; i++) {
        if (ngx_strcmp(value[1].data, ngx_http_trigger_widget_text_keys[i])
            == 0)
        {
            break;
        }
    }

    if (ngx_http_trigger_widget_text_keys[i] == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown widget text \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (tlcf->widget_texts == NULL) {
        tlcf->widget_texts = json_object();
        cln = ngx_pool_cleanup_add(cf->pool, 0);

        if (tlcf->widget_texts == NULL || cln == NULL) {
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_trigger_json_cleanup;
        cln->data = tlcf->widget_texts;
    }

    if (json_object_set_new(tlcf->widget_texts, (char *) value[1].data,
                            json_stringn((char *) value[2].data,
                                         value[2].len))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "widget text \"%V\" is not valid UTF-8",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
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

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid signal \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* the bootstrap's fixed part, rendered once per location */

char *
ngx_http_trigger_widget_merge(ngx_conf_t *cf,
    ngx_http_trigger_loc_conf_t *conf)
{
    char                          *text;
    size_t                         len;
    json_t                        *o;
    ngx_uint_t                     sig, mail;
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

    o = json_pack("{s:s%, s:s%, s:s%, s:O?, s:o, s:{s:b, s:b, s:b, s:b,"
                  " s:I}, s:I, s:b, s:b}",
                  "api", tmcf->api.data, tmcf->api.len,
                  "lang", conf->widget_lang.data, conf->widget_lang.len,
                  "discount", conf->discount.data, conf->discount.len,
                  "texts", conf->widget_texts,
                  "consent", conf->widget_consent.len
                             ? json_stringn((char *) conf->widget_consent.data,
                                            conf->widget_consent.len)
                             : json_null(),
                  "signals",
                  "top", (sig & NGX_HTTP_TRIGGER_SIGNAL_TOP) != 0,
                  "back", (sig & NGX_HTTP_TRIGGER_SIGNAL_BACK) != 0,
                  "tab", (sig & NGX_HTTP_TRIGGER_SIGNAL_TAB) != 0,
                  "scroll", (sig & NGX_HTTP_TRIGGER_SIGNAL_SCROLL) != 0,
                  "idle", (json_int_t) ((sig & NGX_HTTP_TRIGGER_SIGNAL_IDLE)
                                        ? conf->widget_idle : 0),
                  "delay", (json_int_t) conf->widget_delay,
                  "datalayer", conf->widget_datalayer ? 1 : 0,
                  "mail", mail ? 1 : 0);
    if (o == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "widget settings are not valid UTF-8");
        return NGX_CONF_ERROR;
    }

    text = json_dumps(o, JSON_COMPACT|JSON_ENSURE_ASCII);
    json_decref(o);

    if (text == NULL) {
        return NGX_CONF_ERROR;
    }

    /* without the object's braces: the request adds its own members */
    len = ngx_strlen(text) - 2;

    conf->widget_static.data = ngx_pnalloc(cf->pool, 6 * len);
    if (conf->widget_static.data == NULL) {
        free(text);
        return NGX_CONF_ERROR;
    }

    conf->widget_static.len = ngx_http_trigger_script_json(
                                  conf->widget_static.data,
                                  (u_char *) text + 1, len);
    free(text);

    return NGX_CONF_OK;
}
