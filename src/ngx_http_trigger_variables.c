/*
 * The module's variables: the visitor's state, and what the module made
 * of the request.
 */


#include "ngx_http_trigger_variables.h"
#include "ngx_http_trigger_track.h"
#include "ngx_http_trigger_zone.h"


/* variables beyond the script's state */
#define NGX_HTTP_TRIGGER_VAR_VISITOR  (NGX_HTTP_TRIGGER_STATE_COUNT + 1)
#define NGX_HTTP_TRIGGER_VAR_STATUS   (NGX_HTTP_TRIGGER_STATE_COUNT + 2)
#define NGX_HTTP_TRIGGER_VAR_OFFER    (NGX_HTTP_TRIGGER_STATE_COUNT + 3)
#define NGX_HTTP_TRIGGER_VAR_PENDING  (NGX_HTTP_TRIGGER_STATE_COUNT + 4)


static ngx_int_t ngx_http_trigger_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_trigger_vars[] = {

    { ngx_string("trigger_visitor"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_VAR_VISITOR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("trigger_status"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_VAR_STATUS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("trigger_zone_pending"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_VAR_PENDING, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("trigger_visits"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_VISITS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("trigger_depth"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_DEPTH, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("trigger_duration"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_DURATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("trigger_since_last"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_SINCE_LAST, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("trigger_cart_items"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_CART_ITEMS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("trigger_cart_qty"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_CART_QTY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("trigger_viewed"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_VIEWED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("trigger_purchases"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_PURCHASES, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("trigger_offer"), NULL, ngx_http_trigger_variable,
      NGX_HTTP_TRIGGER_VAR_OFFER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_trigger_status_names[] = {
    ngx_null_string,
    ngx_string("pending"),
    ngx_string("tracked"),
    ngx_string("bot"),
    ngx_string("no_consent"),
    ngx_string("unavailable"),
    ngx_string("timeout"),
    ngx_string("error"),
    ngx_string("zone")
};


ngx_int_t
ngx_http_trigger_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_trigger_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* the visitor's state, or, past it, what the module made of the request */

static ngx_int_t
ngx_http_trigger_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    ngx_str_t                value;
    ngx_http_trigger_ctx_t  *ctx;

    if (data == NGX_HTTP_TRIGGER_VAR_PENDING) {
        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->len = ngx_sprintf(p, "%ui", ngx_http_trigger_zone_pending()) - p;
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;
        v->data = p;

        return NGX_OK;
    }

    ctx = ngx_http_trigger_get_ctx(r->main);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_TRIGGER_VAR_VISITOR:
        value.data = ctx->cookie;
        value.len = ctx->identified ? NGX_HTTP_TRIGGER_VID_LEN : 0;
        break;

    case NGX_HTTP_TRIGGER_VAR_STATUS:
        value = ngx_http_trigger_status_names[ctx->status];
        break;

    case NGX_HTTP_TRIGGER_VAR_OFFER:
        value.data = (u_char *) ngx_http_trigger_offer_names[ctx->offer];
        value.len = ngx_strlen(value.data);
        break;

    default:
        /* subscribe is "tracked" too, but answers no visitor state */
        if (!ctx->has_state) {
            value.len = 0;
            break;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        value.data = p;
        value.len = ngx_sprintf(p, "%L", ctx->state[data]) - p;
    }

    if (value.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = value.data;
    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
