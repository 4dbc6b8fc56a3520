/*
 * The offer in the page: deciding for a request, the product feed, and
 * the bootstrap that brings the widget.
 */


#include "ngx_http_trigger_widget.h"
#include "ngx_http_trigger_track.h"
#include "ngx_http_trigger_stats.h"
#include "ngx_http_trigger_html.h"
#include "ngx_http_trigger_widget_js.h"


static void ngx_http_trigger_mark_reply(void *data, redisReply *reply);
static void ngx_http_trigger_json_cleanup(void *data);


/* remembers the group a visitor was first put in, and when */

ngx_http_trigger_script_t  ngx_http_trigger_mark_script = {
    ngx_string(
    "if redis.call('HSETNX', KEYS[1], 'h', ARGV[1]) == 1 then\n"
    "  redis.call('HSET', KEYS[1], 'e', ARGV[2])\n"
    "  return 1\n"
    "end\n"
    "return 0\n"),
    { 0 }
};


ngx_str_t  ngx_http_trigger_widget_source = {
    sizeof(ngx_http_trigger_widget_js) - 1,
    (u_char *) ngx_http_trigger_widget_js
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


void
ngx_http_trigger_offer_request(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    u_char                           key[NGX_HTTP_TRIGGER_KEY_MAX];
    size_t                           key_len;
    ngx_str_t                        value;
    const char                      *group, *visitors;
    ngx_http_trigger_redis_cmd_t    *cmd;
    ngx_http_trigger_loc_conf_t     *tlcf;
    ngx_http_trigger_offer_state_t   st;

    tlcf = ctx->conf;

    ngx_memzero(&st, sizeof(ngx_http_trigger_offer_state_t));

    st.now = ngx_time();
    st.depth = ctx->state[NGX_HTTP_TRIGGER_DEPTH];
    st.duration = ctx->state[NGX_HTTP_TRIGGER_DURATION];
    st.purchases = ctx->state[NGX_HTTP_TRIGGER_PURCHASES];
    st.items = ctx->state[NGX_HTTP_TRIGGER_CART_ITEMS]
               + ctx->state[NGX_HTTP_TRIGGER_VIEWED];
    st.declined_at = ctx->state[NGX_HTTP_TRIGGER_DECLINED_AT];
    st.active_until = ctx->state[NGX_HTTP_TRIGGER_ACTIVE_UNTIL];
    st.shows = ctx->state[NGX_HTTP_TRIGGER_SHOWS];
    st.shows_since = ctx->state[NGX_HTTP_TRIGGER_SHOWS_SINCE];
    st.bucket = ngx_http_trigger_offer_bucket(ctx->cookie,
                                              NGX_HTTP_TRIGGER_VID_LEN);
    st.condition = 1;

    if (tlcf->offer_if) {
        if (ngx_http_complex_value(r, tlcf->offer_if, &value) != NGX_OK) {
            return;
        }

        st.condition = value.len && !(value.len == 1 && value.data[0] == '0');
    }

    ctx->offer = ngx_http_trigger_offer_decide(&tlcf->rules, &st);

    if (ctx->offer == NGX_HTTP_TRIGGER_OFFER_ELIGIBLE) {
        /*
         * the page will have an offer in it that no copy a browser kept
         * has: no 304 (the not_modified filter runs before the module's)
         */
        r->disable_not_modified = 1;

        group = "t";
        visitors = "visitors_offered";

    } else if (ctx->offer == NGX_HTTP_TRIGGER_OFFER_HOLDOUT) {
        group = "c";
        visitors = "visitors_held_out";

    } else {
        return;
    }

    /* a visitor's group is recorded once: the first time it is drawn */
    if (ctx->state[NGX_HTTP_TRIGGER_GROUP] != 0) {
        return;
    }

    key_len = ngx_http_trigger_visitor_key(r, ctx, key);

    cmd = ngx_http_trigger_redis_cmd_create(&ngx_http_trigger_mark_script,
                                            4, key_len + 2 + NGX_INT64_LEN);
    if (cmd == NULL) {
        return;
    }

    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) "1", 1);
    ngx_http_trigger_redis_cmd_arg(cmd, key, key_len);
    ngx_http_trigger_redis_cmd_arg(cmd, (u_char *) group, 1);
    ngx_http_trigger_redis_cmd_arg_int(cmd, st.now);

    (void) ngx_http_trigger_redis_eval(ngx_http_trigger_redis_pages, cmd,
                                       ngx_http_trigger_mark_reply,
                                       (void *) visitors);
}


static void
ngx_http_trigger_mark_reply(void *data, redisReply *reply)
{
    /* counted once per visitor: when the group was first recorded */
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        ngx_http_trigger_stats_incr(data, 1);
    }
}


ngx_int_t
ngx_http_trigger_widget_bootstrap(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_str_t *html)
{
    char                          *items_text;
    u_char                        *p, c, token[NGX_HTTP_TRIGGER_TOKEN_MAX];
    u_char                         sku[NGX_HTTP_TRIGGER_ID_MAX + 1];
    size_t                         len, token_len, items_len;
    json_t                        *items, *item, *product;
    ngx_str_t                      nonce;
    ngx_uint_t                     i;
    ngx_http_trigger_loc_conf_t   *tlcf;
    ngx_http_trigger_main_conf_t  *tmcf;

    tlcf = ctx->conf;
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    token_len = ngx_http_trigger_token_make(token, tmcf->secret.data,
                                            tmcf->secret.len, "offer",
                                            ctx->cookie,
                                            NGX_HTTP_TRIGGER_VID_LEN,
                                            ngx_time() + tmcf->token_ttl);

    items = json_array();
    if (items == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < ctx->nitems && tmcf->products; i++) {
        ngx_cpystrn(sku, ctx->items[i].sku.data,
                    ngx_min(ctx->items[i].sku.len + 1, sizeof(sku)));

        product = json_object_get(tmcf->products, (char *) sku);
        if (product == NULL) {
            continue;
        }

        item = json_copy(product);

        if (item == NULL
            || json_object_set_new(item, "in_cart",
                                   json_boolean(ctx->items[i].qty > 0)) != 0
            || (ctx->items[i].qty > 0
                && json_object_set_new(item, "qty",
                                       json_integer(ctx->items[i].qty))
                   != 0)
            || json_array_append_new(items, item) != 0)
        {
            json_decref(items);
            return NGX_ERROR;
        }
    }

    items_text = json_dumps(items, JSON_COMPACT|JSON_ENSURE_ASCII);
    json_decref(items);

    if (items_text == NULL) {
        return NGX_ERROR;
    }

    items_len = ngx_strlen(items_text);

    ngx_str_null(&nonce);

    if (tlcf->widget_nonce
        && ngx_http_complex_value(r, tlcf->widget_nonce, &nonce) != NGX_OK)
    {
        free(items_text);
        return NGX_ERROR;
    }

    /* a nonce is base64: anything else must not reach an attribute */
    for (i = 0; i < nonce.len; i++) {
        c = nonce.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='
              || c == '-' || c == '_'))
        {
            nonce.len = 0;
        }
    }

    len = sizeof("<script type=\"application/json\" id=\"trg-offer\""
                 " nonce=\"\">{\"v\":1,\"token\":\"\",\"items\":,}</script>"
                 "<script src=\"widget.js?v=\" async nonce=\"\"></script>")
          + 2 * nonce.len + token_len + 6 * items_len
          + tlcf->widget_static.len + tmcf->api.len
          + ngx_http_trigger_widget_version.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        free(items_text);
        return NGX_ERROR;
    }

    html->data = p;

    p = ngx_cpymem(p, "<script type=\"application/json\" id=\"trg-offer\"",
                   sizeof("<script type=\"application/json\" id=\"trg-offer\"")
                   - 1);

    if (nonce.len) {
        p = ngx_sprintf(p, " nonce=\"%V\"", &nonce);
    }

    p = ngx_sprintf(p, ">{\"v\":1,\"token\":\"%*s\",\"items\":", token_len,
                    token);
    p += ngx_http_trigger_script_json(p, (u_char *) items_text, items_len);
    free(items_text);

    p = ngx_sprintf(p, ",%V}</script><script src=\"%Vwidget.js?v=%V\" async",
                    &tlcf->widget_static, &tmcf->api,
                    &ngx_http_trigger_widget_version);

    if (nonce.len) {
        p = ngx_sprintf(p, " nonce=\"%V\"", &nonce);
    }

    p = ngx_cpymem(p, "></script>", sizeof("></script>") - 1);

    html->len = p - html->data;

    return NGX_OK;
}
