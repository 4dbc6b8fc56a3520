/*
 * The offer, decided for a request: whether this visitor, now, gets it
 * (the rules are plain C: ngx_http_trigger_offer.c), and the group a
 * visitor is drawn into, recorded once.
 */


#include "ngx_http_trigger_decision.h"
#include "ngx_http_trigger_visitor.h"
#include "ngx_http_trigger_stats.h"
#include "ngx_http_trigger_widget.h"


#define NGX_HTTP_TRIGGER_PREVIEW_COOKIE  "trg_preview"


static void ngx_http_trigger_mark_reply(void *data, redisReply *reply);


static ngx_http_trigger_counter_t  ngx_http_trigger_offered =
    { "visitors_offered", NULL };
static ngx_http_trigger_counter_t  ngx_http_trigger_held_out =
    { "visitors_held_out", NULL };


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


void
ngx_http_trigger_offer_request(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    u_char                           key[NGX_HTTP_TRIGGER_KEY_MAX];
    size_t                           key_len;
    ngx_str_t                        value;
    const char                      *group;
    ngx_http_trigger_counter_t      *visitors;
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
    st.closed_at = ctx->state[NGX_HTTP_TRIGGER_CLOSED_AT];
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
        ctx->variant = ngx_http_trigger_variant_of(tlcf, ctx->cookie);
        visitors = ctx->variant ? &ctx->variant->offered
                                : &ngx_http_trigger_offered;

    } else if (ctx->offer == NGX_HTTP_TRIGGER_OFFER_HOLDOUT) {
        group = "c";
        visitors = &ngx_http_trigger_held_out;

    } else {
        /* a valid, unused code: the reminder, in the variant's look */
        if (ctx->offer == NGX_HTTP_TRIGGER_OFFER_ACTIVE
            && tlcf->widget_reminder && ctx->code.len)
        {
            r->disable_not_modified = 1;
            ctx->reminder = 1;
            ctx->variant = ngx_http_trigger_variant_of(tlcf, ctx->cookie);
        }

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
                                       visitors);
}


static void
ngx_http_trigger_mark_reply(void *data, redisReply *reply)
{
    ngx_http_trigger_counter_t  *c = data;

    /* counted once per visitor: when the group was first recorded */
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        ngx_http_trigger_stats_incr(c->all, 1);

        if (c->variant) {
            ngx_http_trigger_stats_incr(c->variant, 1);
        }
    }
}


/*
 * A staff preview (a cookie the admin location signed): the widget at
 * once, whatever the rules say, and nothing drawn, counted or recorded.
 */

void
ngx_http_trigger_offer_preview(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx)
{
    ngx_str_t                      value;
    ngx_uint_t                     i;
    ngx_http_trigger_variant_t    *v;
    ngx_http_trigger_loc_conf_t   *tlcf;
    ngx_http_trigger_main_conf_t  *tmcf;

    static ngx_str_t  name = ngx_string(NGX_HTTP_TRIGGER_PREVIEW_COOKIE);

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);
    tlcf = ctx->conf;

    if (ngx_http_trigger_cookie_value(r, &name, &value) != NGX_OK
        || !ngx_http_trigger_preview_valid(value.data, value.len,
                                           tmcf->secret.data,
                                           tmcf->secret.len, ngx_time(),
                                           &ctx->preview))
    {
        return;
    }

    ctx->offer = NGX_HTTP_TRIGGER_OFFER_PREVIEW;
    r->disable_not_modified = 1;

    /* the variant asked for, else the visitor's own */
    ctx->variant = ngx_http_trigger_variant_of(tlcf, ctx->cookie);

    if (tlcf->variants == NULL || ctx->preview.variant_len == 0) {
        return;
    }

    v = tlcf->variants->elts;

    for (i = 0; i < tlcf->variants->nelts; i++) {
        if (v[i].name.len == ctx->preview.variant_len
            && ngx_strncmp(v[i].name.data, ctx->preview.variant,
                           v[i].name.len)
               == 0)
        {
            ctx->variant = &v[i];
        }
    }
}
