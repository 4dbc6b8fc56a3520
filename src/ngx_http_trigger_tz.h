/*
 * Time zones: the UTC offset of an IANA zone ("Europe/Berlin") at a
 * given moment, read from the system's zoneinfo (TZif files, RFC 8536)
 * without touching the process's TZ.  Plain C, no nginx.
 */

#ifndef _NGX_HTTP_TRIGGER_TZ_H_INCLUDED_
#define _NGX_HTTP_TRIGGER_TZ_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define NGX_HTTP_TRIGGER_TZ_DIR  "/usr/share/zoneinfo"


typedef struct ngx_http_trigger_tz_s  ngx_http_trigger_tz_t;


/*
 * The zone of that name, read once and kept for the life of the
 * process (so the pointer stays valid); NULL if the name is not a valid
 * zone name or there is no readable TZif file for it.
 */
const ngx_http_trigger_tz_t *ngx_http_trigger_tz_get(const u_char *name,
    size_t len);

/*
 * Seconds east of UTC at the unix time t in a zone from
 * ngx_http_trigger_tz_get(): the shape of a chain contact's utc_offset.
 */
int32_t ngx_http_trigger_tz_offset(const void *zone, int64_t t);

/* a zone from the bytes of a TZif file, NULL if they are not one */
ngx_http_trigger_tz_t *ngx_http_trigger_tz_parse(const u_char *p,
    size_t len);
void ngx_http_trigger_tz_destroy(ngx_http_trigger_tz_t *tz);

/* empties the table of zones read so far (at process exit) */
void ngx_http_trigger_tz_free(void);


#endif /* _NGX_HTTP_TRIGGER_TZ_H_INCLUDED_ */
