/*
 * The bootstrap put into a page for the offer: its data, escaped for a
 * <script> element, and the widget's script tag.
 */


#include "ngx_http_trigger_bootstrap.h"
#include "ngx_http_trigger_widget.h"
#include "ngx_http_trigger_html.h"


static ngx_int_t ngx_http_trigger_bootstrap_items(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_str_t *items);
static ngx_int_t ngx_http_trigger_bootstrap_preview(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_look_t *look,
    ngx_str_t *settings);


/*
 * An offer page's: {"v":1,"token":...,"items":[...],<settings>}; a
 * reminder's: {"v":1,<settings>,"reminder":{"code":...,"expires":...}}.
 */

ngx_int_t
ngx_http_trigger_widget_bootstrap(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_str_t *html)
{
    u_char                        *p, c, token[NGX_HTTP_TRIGGER_TOKEN_MAX];
    size_t                         len, token_len;
    ngx_str_t                      nonce, items, settings;
    ngx_uint_t                     i;
    ngx_http_trigger_look_t       *look;
    ngx_http_trigger_loc_conf_t   *tlcf;
    ngx_http_trigger_main_conf_t  *tmcf;

    tlcf = ctx->conf;
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    look = ctx->variant ? &ctx->variant->look : &tlcf->look;
    token_len = 0;
    ngx_str_null(&items);

    if (ctx->reminder) {
        settings = look->reminder;

    } else {
        token_len = ngx_http_trigger_token_make(token, tmcf->secret.data,
                                                tmcf->secret.len, "offer",
                                                ctx->cookie,
                                                NGX_HTTP_TRIGGER_VID_LEN,
                                                ngx_time() + tmcf->token_ttl);

        if (ngx_http_trigger_bootstrap_items(r, ctx, &items) != NGX_OK) {
            return NGX_ERROR;
        }

        settings = look->offer;

        if (ctx->offer == NGX_HTTP_TRIGGER_OFFER_PREVIEW
            && ngx_http_trigger_bootstrap_preview(r, ctx, look, &settings)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_str_null(&nonce);

    if (tlcf->widget_nonce
        && ngx_http_complex_value(r, tlcf->widget_nonce, &nonce) != NGX_OK)
    {
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
          + sizeof(",\"reminder\":{\"code\":\"\",\"expires\":}")
          + NGX_HTTP_TRIGGER_CODE_LEN + NGX_TIME_T_LEN
          + 2 * nonce.len + token_len + items.len
          + settings.len + tmcf->api.len
          + ngx_http_trigger_widget_version.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    html->data = p;

    p = ngx_cpymem(p, "<script type=\"application/json\" id=\"trg-offer\"",
                   sizeof("<script type=\"application/json\" id=\"trg-offer\"")
                   - 1);

    if (nonce.len) {
        p = ngx_sprintf(p, " nonce=\"%V\"", &nonce);
    }

    if (ctx->reminder) {
        /* the code is checked as codes are made: nothing to escape */
        p = ngx_sprintf(p, ">{\"v\":1,%V,\"reminder\":{\"code\":\"%V\","
                        "\"expires\":%L}}", &settings, &ctx->code,
                        ctx->state[NGX_HTTP_TRIGGER_ACTIVE_UNTIL]);

    } else {
        p = ngx_sprintf(p, ">{\"v\":1,\"token\":\"%*s\",\"items\":%V,%V}",
                        token_len, token, &items, &settings);
    }

    p = ngx_sprintf(p, "</script><script src=\"%Vwidget.js?v=%V\" async",
                    &tmcf->api, &ngx_http_trigger_widget_version);

    if (nonce.len) {
        p = ngx_sprintf(p, " nonce=\"%V\"", &nonce);
    }

    p = ngx_cpymem(p, "></script>", sizeof("></script>") - 1);

    html->len = p - html->data;

    return NGX_OK;
}


/* the products of the cart and the views, escaped for <script> */

static ngx_int_t
ngx_http_trigger_bootstrap_items(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_str_t *out)
{
    char                          *text;
    u_char                         sku[NGX_HTTP_TRIGGER_ID_MAX + 1];
    size_t                         len;
    json_t                        *items, *item, *product;
    ngx_uint_t                     i;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

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

    text = json_dumps(items, JSON_COMPACT|JSON_ENSURE_ASCII);
    json_decref(items);

    if (text == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text);

    out->data = ngx_pnalloc(r->pool, 6 * len);
    if (out->data == NULL) {
        free(text);
        return NGX_ERROR;
    }

    out->len = ngx_http_trigger_script_json(out->data, (u_char *) text, len);
    free(text);

    return NGX_OK;
}


/* a staff preview: the look's settings with the preview's choices */

static ngx_int_t
ngx_http_trigger_bootstrap_preview(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_http_trigger_look_t *look,
    ngx_str_t *settings)
{
    json_t                      *o;
    ngx_int_t                    rc;
    ngx_http_trigger_preview_t  *pv;

    pv = &ctx->preview;

    o = json_deep_copy(look->settings);

    if (o == NULL
        || json_object_set_new(o, "preview", json_true()) != 0
        || (pv->format >= 0
            && json_object_set_new(o, "format", json_string(
                   ngx_http_trigger_offer_formats[pv->format]))
               != 0)
        || (pv->lang >= 0
            && json_object_set_new(o, "lang", json_string(
                   ngx_http_trigger_offer_langs[pv->lang]))
               != 0))
    {
        json_decref(o);
        return NGX_ERROR;
    }

    rc = ngx_http_trigger_widget_render(r->pool, o, settings);
    json_decref(o);

    return rc;
}
