#ifndef GW_HTTP_POLICY_H
#define GW_HTTP_POLICY_H

/* What the configuration decides about HTTP and the codec
 * (gateway/gw_http.h) obeys: the codec's limits with their defaults, and the
 * request methods a route can match by bit. Plain types, defined here so
 * that config/ needs nothing from the layers that consume them. */

#include <stddef.h>
#include <stdint.h>

/* Defaults filled in by gw_http_limits_default() and by the loader. */
#define GW_HTTP_DEFAULT_MAX_HEAD_BYTES (16u * 1024)
#define GW_HTTP_DEFAULT_MAX_HEADERS 100u
#define GW_HTTP_DEFAULT_MAX_TARGET_BYTES (8u * 1024)
#define GW_HTTP_DEFAULT_MAX_BODY_BYTES (64ull << 30)
#define GW_HTTP_DEFAULT_MAX_TRAILERS 32u
#define GW_HTTP_DEFAULT_MAX_TRAILER_BYTES (8u * 1024)
#define GW_HTTP_DEFAULT_MAX_CHUNK_LINE_BYTES 4096u

struct gw_http_limits {
	size_t max_head_bytes;	     /* start line + field lines + empty line: 431 */
	size_t max_target_bytes;     /* request-target: 414 */
	uint32_t max_headers;	     /* field lines, clamped to GW_HTTP_FIELDS_MAX: 431 */
	uint64_t max_body_bytes;     /* Content-Length or sum of chunk sizes: 413 */
	uint32_t max_trailers;	     /* trailer field lines of a chunked body: 400 */
	size_t max_trailer_bytes;    /* trailer section of a chunked body: 400 */
	size_t max_chunk_line_bytes; /* chunk-size line with its extensions: 400 */
};

enum gw_http_method {
	GW_METHOD_OTHER = 0, /* a valid token that is none of the below */
	GW_METHOD_GET,
	GW_METHOD_HEAD,
	GW_METHOD_POST,
	GW_METHOD_PUT,
	GW_METHOD_DELETE,
	GW_METHOD_CONNECT,
	GW_METHOD_OPTIONS,
	GW_METHOD_TRACE,
	GW_METHOD_PATCH,
};

#endif
