/*
 * libcurl's multi interface on nginx's event loop: its sockets through
 * the module's socket adapter, its timer as an nginx timer.  One multi
 * handle per worker; transfers never block the worker.
 */

#ifndef _NGX_HTTP_TRIGGER_CURL_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <curl/curl.h>


/* the transfer ended (rc is CURLE_OK or why not); easy is the caller's */
typedef void (*ngx_http_trigger_curl_done_pt)(void *data, CURL *easy,
    CURLcode rc);


/* transfers: how many may run at once, as many connections are kept */
ngx_int_t ngx_http_trigger_curl_init_process(ngx_cycle_t *cycle,
    ngx_uint_t transfers);
/* ends every transfer, each done called with CURLE_ABORTED_BY_CALLBACK */
void ngx_http_trigger_curl_exit_process(void);

/*
 * Starts a prepared easy handle; done is called once, from the event
 * loop, never from inside ngx_http_trigger_curl_start().
 */
ngx_int_t ngx_http_trigger_curl_start(CURL *easy,
    ngx_http_trigger_curl_done_pt done, void *data);


#endif /* _NGX_HTTP_TRIGGER_CURL_H_INCLUDED_ */
