#ifndef GW_HTTP_H
#define GW_HTTP_H

/* The HTTP/1.1 codec (RFC 9112, RFC 9110): parses a request head or a
 * response head at the start of a byte buffer into offsets, strictly.
 *
 * It knows nothing of sockets and allocates nothing: the parsed head lives in
 * a caller-provided struct (gw_http_s.h) and every span is an offset into the
 * caller's buffer, so the raw bytes can be kept and forwarded verbatim.
 *
 * Parsing is incremental: call gw_http_request_init() once per message, then
 * gw_http_parse_request() each time more bytes arrived, always with a buffer
 * that starts at the same byte and holds at least the bytes of the previous
 * call. Each call scans only the new bytes. It returns the head length (> 0)
 * once the empty line is seen, 0 while more bytes are needed, or a negative
 * HTTP status (-400, -413, -414, -431, -501, -505) to answer with. Results,
 * including errors, are sticky until the next init. A zeroed struct is an
 * initialised one.
 *
 * Chunked bodies are decoded by gw_chunked.h. */

#include <stddef.h>
#include <stdint.h>

/* The limits and their GW_HTTP_DEFAULT_* values, and enum gw_http_method,
 * are the configuration's (config/gw_http_policy.h). */
#include "gw_http_policy.h"

/* Capacities of the arrays inside a parsed head; limits are clamped to them. */
#define GW_HTTP_FIELDS_MAX 128u
#define GW_HTTP_CONNECTION_OPTIONS_MAX 16u
/* Offsets are 32-bit: a head can never be longer than this. */
#define GW_HTTP_HEAD_BYTES_MAX (64u * 1024 * 1024)

/* Whether a method may be sent twice with the effect of once (RFC 9110
 * 9.2.2): GET, HEAD, OPTIONS, TRACE, PUT, DELETE. */
int gw_http_method_idempotent(enum gw_http_method method);

/* RFC 9112 3.2. */
enum gw_http_target_form {
	GW_TARGET_ORIGIN = 0, /* /path?query */
	GW_TARGET_ABSOLUTE,   /* scheme://authority/path?query */
	GW_TARGET_AUTHORITY,  /* host:port, CONNECT only */
	GW_TARGET_ASTERISK,   /* *, OPTIONS only */
};

/* How the message body is delimited (RFC 9112 6.3). */
enum gw_http_body {
	GW_BODY_NONE = 0,
	GW_BODY_LENGTH,	     /* content_length bytes (may be 0) */
	GW_BODY_CHUNKED,     /* decode with gw_chunked */
	GW_BODY_UNTIL_CLOSE, /* responses only: until the server closes */
};

/* Field lines the codec names: those the parser interprets, the other
 * hop-by-hop ones (RFC 9110 7.6.1), the X-Forwarded-* the proxy writes
 * itself, and those a request's deadline and retries read (a client's
 * timeout, gRPC's Content-Type, Retry-After). Everything else is
 * GW_FIELD_OTHER. */
enum gw_http_field_kind {
	GW_FIELD_OTHER = 0,
	GW_FIELD_HOST,
	GW_FIELD_CONTENT_LENGTH,
	GW_FIELD_TRANSFER_ENCODING,
	GW_FIELD_CONNECTION,
	GW_FIELD_UPGRADE,
	GW_FIELD_EXPECT,
	GW_FIELD_KEEP_ALIVE,
	GW_FIELD_PROXY_CONNECTION,
	GW_FIELD_TE,
	GW_FIELD_TRAILER,
	GW_FIELD_X_FORWARDED_FOR,
	GW_FIELD_X_FORWARDED_PROTO,
	GW_FIELD_X_FORWARDED_HOST,
	GW_FIELD_X_REQUEST_TIMEOUT,
	GW_FIELD_GRPC_TIMEOUT,
	GW_FIELD_ENVOY_EXPECTED_TIMEOUT, /* x-envoy-expected-rq-timeout-ms */
	GW_FIELD_CONTENT_TYPE,
	GW_FIELD_RETRY_AFTER,
};

/* The kind of a field name (a token), case-insensitive: at most one
 * comparison. */
enum gw_http_field_kind gw_http_field_kind_of(const char *name, size_t len);

/* Hop-by-hop fields concern one connection and are never forwarded: the
 * proxy answers Expect itself and frames each side's body itself. */
static inline int gw_http_field_is_hop_by_hop(enum gw_http_field_kind kind)
{
	switch (kind) {
	case GW_FIELD_CONNECTION:
	case GW_FIELD_KEEP_ALIVE:
	case GW_FIELD_PROXY_CONNECTION:
	case GW_FIELD_TE:
	case GW_FIELD_TRAILER:
	case GW_FIELD_TRANSFER_ENCODING:
	case GW_FIELD_UPGRADE:
	case GW_FIELD_EXPECT:
		return 1;
	default:
		return 0;
	}
}

struct gw_http_field;
struct gw_http_head;
struct gw_request;
struct gw_response;

/* Fills `limits_ptr` with the GW_HTTP_DEFAULT_* values. */
void gw_http_limits_default(struct gw_http_limits *limits_ptr);

/* Resets `req_ptr` for a new message (same as zeroing it). */
void gw_http_request_init(struct gw_request *req_ptr);

/* Parses the request head at the start of buf_ptr[0..len). Returns its length
 * through the final CRLF CRLF (leading empty lines included), 0 if more bytes
 * are needed, or -400, -413 (Content-Length above max_body_bytes), -414,
 * -431, -501 (unsupported transfer coding) or -505. */
int gw_http_parse_request(struct gw_request *req_ptr, const char *buf_ptr, size_t len,
			  const struct gw_http_limits *limits_ptr);

/* Resets `resp_ptr` for a new message (same as zeroing it). */
void gw_http_response_init(struct gw_response *resp_ptr);

/* Parses the response head at the start of buf_ptr[0..len), the answer to a
 * request whose method was HEAD when `request_method_is_head`. Returns its
 * length, 0 if more bytes are needed, or -502 when the response is invalid
 * or exceeds the limits (the reason is in resp_ptr->head.error_ptr). */
int gw_http_parse_response(struct gw_response *resp_ptr, const char *buf_ptr, size_t len,
			   const struct gw_http_limits *limits_ptr, int request_method_is_head);

/* The first field line named `name_ptr` (case-insensitive), or NULL. */
const struct gw_http_field *gw_http_header_find(const struct gw_request *req_ptr, const char *buf_ptr,
						const char *name_ptr);
const struct gw_http_field *gw_http_response_header_find(const struct gw_response *resp_ptr, const char *buf_ptr,
							 const char *name_ptr);

/* The next non-empty element of the comma-separated list p[0..len) from
 * *pos_ptr (RFC 9110 5.6.1), OWS trimmed; commas inside a quoted-string do
 * not separate. Returns 1 with the element, 0 at the end of the list, or -1
 * on an unterminated quoted-string. */
int gw_http_list_next(const char *p, size_t len, size_t *pos_ptr, size_t *off_ptr, size_t *len_ptr);

/* Whether the comma-separated list value_ptr[0..len) (RFC 9110 5.6.1, OWS
 * and empty elements allowed) has an element equal to `token_ptr`,
 * case-insensitively. */
int gw_http_token_list_contains(const char *value_ptr, size_t len, const char *token_ptr);

/* Character classes of RFC 9110 5.6.2 and 5.5, shared by the codec files:
 * one table look-up per byte (gw_http_syntax.c), as the parsers test every
 * byte of every head. */
#define GW_HTTP_CHAR_TCHAR 1u  /* tchar */
#define GW_HTTP_CHAR_FIELD 2u  /* field-vchar (VCHAR or obs-text), SP or HTAB */
#define GW_HTTP_CHAR_TARGET 4u /* request-target: VCHAR but '#' */
#define GW_HTTP_CHAR_HOST 8u   /* reg-name: unreserved or sub-delims (RFC 3986 2.2-2.3) */

extern const uint8_t gw_http_char_class[256];

static inline int gw_http_is_tchar(unsigned char c)
{
	return gw_http_char_class[c] & GW_HTTP_CHAR_TCHAR;
}

/* What a field value may hold. */
static inline int gw_http_is_field_char(unsigned char c)
{
	return gw_http_char_class[c] & GW_HTTP_CHAR_FIELD;
}

/* Where the run of field-value characters in buf_ptr[pos..end) ends. */
size_t gw_http_field_chars_end(const char *buf_ptr, size_t pos, size_t end);

/* Where the run of tchars (a field name, a method) in buf_ptr[pos..end) ends. */
size_t gw_http_token_chars_end(const char *buf_ptr, size_t pos, size_t end);

static inline int gw_http_is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static inline int gw_http_is_hexdig(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The value of a hex digit, or -1 if c is not one. */
static inline int gw_http_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* qdtext of a quoted-string (RFC 9110 5.6.4). */
static inline int gw_http_is_qdtext(unsigned char c)
{
	return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

#endif
