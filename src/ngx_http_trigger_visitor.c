/*
 * Who the visitor is: the signed cookie, or a new id; bots and visitors
 * without consent are nobody to track.
 */


#include "ngx_http_trigger_visitor.h"


ngx_int_t
ngx_http_trigger_cookie_value(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
#if (nginx_version >= 1023000)
    return ngx_http_parse_cookie_lines(r, r->headers_in.cookie, name, value)
           ? NGX_OK : NGX_DECLINED;
#else
    return ngx_http_parse_multi_header_lines(&r->headers_in.cookies, name,
                                             value)
           == NGX_DECLINED ? NGX_DECLINED : NGX_OK;
#endif
}


void
ngx_http_trigger_identify(ngx_http_request_t *r, ngx_http_trigger_ctx_t *ctx,
    ngx_http_trigger_loc_conf_t *tlcf)
{
    ngx_str_t                      cookie, value;
    ngx_uint_t                     known;
    ngx_table_elt_t               *ua;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    ctx->conf = tlcf;

    known = ngx_http_trigger_cookie_value(r, &tlcf->cookie_name, &cookie)
                == NGX_OK
            && ngx_http_trigger_cookie_valid(cookie.data, cookie.len,
                                             tmcf->secret.data,
                                             tmcf->secret.len);

    /*
     * A valid cookie was only ever issued to a client that passed the
     * bot check: the pattern runs for clients without one.
     */

    if (!known && !tlcf->bots_off) {
        ua = r->headers_in.user_agent;

        if (ua == NULL || ua->value.len == 0
            || ngx_regex_exec(tlcf->bots, &ua->value, NULL, 0) >= 0)
        {
            ctx->status = NGX_HTTP_TRIGGER_STATUS_BOT;
            return;
        }
    }

    if (tlcf->consent_name.len
        && (ngx_http_trigger_cookie_value(r, &tlcf->consent_name, &value)
            != NGX_OK
            || value.len != tlcf->consent_value.len
            || ngx_strncmp(value.data, tlcf->consent_value.data, value.len)
               != 0))
    {
        ctx->status = NGX_HTTP_TRIGGER_STATUS_NO_CONSENT;
        return;
    }

    ctx->status = NGX_HTTP_TRIGGER_STATUS_PENDING;

    if (known) {
        ngx_memcpy(ctx->cookie, cookie.data, NGX_HTTP_TRIGGER_COOKIE_LEN);
        ctx->identified = 1;
        return;
    }

    if (ngx_http_trigger_cookie_new(ctx->cookie, tmcf->secret.data,
                                    tmcf->secret.len)
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      "trigger: getrandom() failed");
        ctx->status = NGX_HTTP_TRIGGER_STATUS_ERROR;
        return;
    }

    ctx->identified = 1;
    ctx->new_visitor = 1;
}


size_t
ngx_http_trigger_visitor_key(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, u_char *buf)
{
    u_char                        *p;
    ngx_http_trigger_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trigger_module);

    /* key prefixes are limited to 64 bytes at configuration time */
    p = ngx_cpymem(buf, tmcf->key_prefix.data, tmcf->key_prefix.len);
    *p++ = '{';
    p = ngx_cpymem(p, ctx->cookie, NGX_HTTP_TRIGGER_VID_LEN);
    *p++ = '}';

    return p - buf;
}
