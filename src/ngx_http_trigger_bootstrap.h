/*
 * The bootstrap put into a page for the offer.
 */

#ifndef _NGX_HTTP_TRIGGER_BOOTSTRAP_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_BOOTSTRAP_H_INCLUDED_


#include "ngx_http_trigger_module.h"


/* the HTML to insert before </body> */
ngx_int_t ngx_http_trigger_widget_bootstrap(ngx_http_request_t *r,
    ngx_http_trigger_ctx_t *ctx, ngx_str_t *html);


#endif /* _NGX_HTTP_TRIGGER_BOOTSTRAP_H_INCLUDED_ */
