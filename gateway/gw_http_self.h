#ifndef GW_HTTP_SELF_H
#define GW_HTTP_SELF_H

/* The HTTP/1.1 codec's own helpers, shared by its files and not for other
 * code (callers use gw_http.h and gw_http_s.h). The codec is four files,
 * each depending only on those above it:
 *   gw_http_syntax.c    the syntax of the values it interprets (pure functions)
 *   gw_http_fields.c    the field section every head has, and head-wide helpers
 *   gw_http_parse.c     request heads: request line, target, Host, framing
 *   gw_http_response.c  response heads: status line, framing */

#include <stddef.h>
#include <stdint.h>

#include "gw_http.h"
#include "gw_http_s.h"

static inline struct gw_http_span gw_http_span_of(size_t off, size_t len)
{
	struct gw_http_span span = {.off = (uint32_t)off, .len = (uint32_t)len};
	return span;
}

/* gw_http_syntax.c */

/* Whether p[0..len) equals the NUL-terminated `lit_ptr`, ignoring ASCII case. */
int gw_http_equals_ci(const char *p, size_t len, const char *lit_ptr);

/* Whether a[0..len) and b[0..len) are equal, ignoring ASCII case. */
int gw_http_same_ci(const char *a, const char *b, size_t len);

/* Whether p[0..len) is a token (1*tchar). */
int gw_http_is_token(const char *p, size_t len);

/* The index of the first byte of p[i..len) that is not OWS, or len. */
size_t gw_http_ows_end(const char *p, size_t len, size_t i);

/* Content-Length = 1*DIGIT, also as a list of identical values ("5, 5",
 * RFC 9110 8.6). Returns 0 with the value, -1 if malformed or above 2^63-1,
 * -2 if the values differ. */
int gw_http_content_length_parse(const char *p, size_t len, uint64_t *value_ptr);

/* One transfer-coding with its parameters (RFC 9112 7). Returns 0 with the
 * length of the coding's name and whether it has parameters, -1 if
 * malformed. */
int gw_http_transfer_coding_parse(const char *p, size_t len, size_t *name_len_ptr, int *has_params_ptr);

/* Whether p[0..len) is uri-host [ ":" port ], the port being required when
 * `port_required` (RFC 9110 7.2, RFC 3986 3.2.2). */
int gw_http_host_valid(const char *p, size_t len, int port_required);

/* gw_http_fields.c */

/* Records an error on `head_ptr` and returns -status. */
int gw_http_head_fail(struct gw_http_head *head_ptr, int status, const char *reason_ptr);

/* Where a parse call starts. Sets *scan_len_ptr to the bytes of
 * buf[0..len) it may examine (the head byte limit applied; len above it
 * means the head is too large) and returns 1 if there is anything to do, or
 * 0 if the call is to return scan.result at once: the result is known
 * (sticky), or the buffer is shorter than the bytes already examined
 * (result 0: nothing new). */
int gw_http_head_resume(const struct gw_http_head *head_ptr, size_t len, const struct gw_http_limits *limits_ptr,
			size_t *scan_len_ptr);

/* Reads field lines from head_ptr->scan.pos up to scan_len, the start line
 * being done. Returns the head length once the empty line is read, 0 if more
 * bytes are needed, -400 on a malformed line or -431 past max_fields. */
int gw_http_head_scan_fields(struct gw_http_head *head_ptr, const char *buf_ptr, size_t scan_len, uint32_t max_fields);

/* Once the head is complete: marks the fields the Connection options name
 * and works out keep-alive from the version and the Connection options. */
void gw_http_head_finish_connection(struct gw_http_head *head_ptr, const char *buf_ptr);

/* The first field line named `name_ptr`, or NULL. */
const struct gw_http_field *gw_http_head_field_find(const struct gw_http_head *head_ptr, const char *buf_ptr,
						    const char *name_ptr);

#endif
