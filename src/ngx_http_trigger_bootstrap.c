/*
 * The bootstrap put into a page for the offer: its data, escaped for a
 * <script> element, and the widget's script tag.
 */


#include "ngx_http_trigger_bootstrap.h"
#include "ngx_http_trigger_widget.h"
#include "ngx_http_trigger_html.h"


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
