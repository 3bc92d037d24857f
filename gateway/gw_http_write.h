#ifndef GW_HTTP_WRITE_H
#define GW_HTTP_WRITE_H

/* gw_http_write: HTTP/1 heads, written by every server of the gateway. A
 * head is built in a buffer of the caller's by plain functions, then goes
 * to its socket in one vk_write_on: forwarded requests and relayed
 * responses (the connection process's, declared in gw_conn_self.h), the
 * gateway's own answers and the admin listener's. Here are the one
 * status-reason table, the one field-line writer and the JSON error shape
 * {"error":"<message>","status":<code>}.
 *
 * Nothing here formats with printf: integers go through a small decimal
 * writer, literal pieces are copied with their length counted by the
 * compiler. */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A head being built: bytes past cap are not written, and overflow says
 * the head is incomplete (the caller answers an error instead). */
struct gw_http_out {
	char *buf_ptr;
	size_t len;
	size_t cap;
	int overflow;
};

/* The largest JSON error body: a longer message is cut. */
#define GW_HTTP_ERROR_BODY_MAX 512

static inline void gw_http_out_init(struct gw_http_out *out_ptr, char *buf_ptr, size_t cap)
{
	out_ptr->buf_ptr = buf_ptr;
	out_ptr->len = 0;
	out_ptr->cap = cap;
	out_ptr->overflow = 0;
}

static inline void gw_http_out_bytes(struct gw_http_out *out_ptr, const char *bytes, size_t len)
{
	if (len > out_ptr->cap - out_ptr->len) {
		out_ptr->overflow = 1;
		return;
	}
	memcpy(out_ptr->buf_ptr + out_ptr->len, bytes, len);
	out_ptr->len += len;
}

/* A string literal, its length counted by the compiler. */
#define GW_HTTP_OUT_LITERAL(out_ptr, literal) gw_http_out_bytes((out_ptr), (literal), sizeof(literal) - 1)

/* An unsigned integer in decimal. */
void gw_http_out_uint(struct gw_http_out *out_ptr, uint64_t value);

/* One field line: name ": " value CRLF. */
void gw_http_out_field(struct gw_http_out *out_ptr, const char *name, size_t name_len, const char *value,
		       size_t value_len);

/* bytes[0..len) as the inside of a JSON string (quotes, backslashes,
 * control and non-ASCII bytes escaped), at most max bytes of it: cut
 * before the first escape that does not fit, never mid-escape. */
void gw_http_out_json_string(struct gw_http_out *out_ptr, const char *bytes, size_t len, size_t max);

/* "HTTP/1.1 <status> <reason>\r\n", the reason from the table. */
void gw_http_out_status_line(struct gw_http_out *out_ptr, int status);

/* The end of an answer's head: Content-Length (unless the status cannot
 * have a body, RFC 9110 8.6), "Connection: close" when asked, the empty
 * line. */
void gw_http_out_head_end(struct gw_http_out *out_ptr, int status, size_t content_length, int close_connection);

/* The reason phrase of a status: the table's, or its class's. */
const char *gw_http_status_reason(int status);

/* Whether an answer with this status carries a body (and its length). */
static inline int gw_http_status_has_body(int status)
{
	return status >= 200 && status != 204 && status != 304;
}

/* The JSON error body for status and message (the reason when NULL),
 * into buf (at most cap bytes, cut safely, NUL-terminated); its length. */
size_t gw_http_error_body(char *buf, size_t cap, int status, const char *message);

#endif
