#ifndef GW_RELAY_H
#define GW_RELAY_H

/* Moving a chunked body from one socket to another: decoded strictly by
 * gw_chunked and written again as fresh chunks (or as raw data for an
 * HTTP/1.0 client, which then gets a close). */

#include <stdint.h>

#include "vk_thread.h"

struct vk_socket;
struct gw_http_limits;

/* Heap a relay in flight takes in its process (its thread and locals). */
#define GW_RELAY_HEAP_BYTES (20 * 1024)

struct gw_relay {
	struct vk_socket *src_ptr;
	struct vk_socket *dst_ptr; /* NULL: the data goes into keep_ptr */
	char *keep_ptr;		   /* a body kept whole, for filters that read it */
	size_t keep_cap;	   /* past it: status 413 */
	const struct gw_http_limits *limits_ptr;
	int malformed_status; /* what malformed framing answers: 400 (request), 502 (response) */
	int raw;	      /* write the data only, no chunk framing */
	uint64_t idle_ms;     /* longest silence on either side: ETIMEDOUT (0: none) */
	int status;	      /* out: the status to answer when it raised */
	uint64_t bytes;	      /* out: body bytes relayed */
};

/* A thread function for vk_call() with a struct gw_relay as argument; it
 * raises EPROTO (with ->status set) on malformed framing or a kept body
 * larger than keep_cap, and ECONNRESET
 * when the source ends mid-body. Bytes after the body are given back to
 * the source. */
void gw_relay_chunked(struct vk_thread *that);

/* Checks the part of a chunked body already buffered in src, without
 * consuming it: 1 when the whole body is there and valid, 0 when it is
 * valid so far, or a negative status (-400, -413). Lets the proxy refuse a
 * malformed small body before anything of it reaches the upstream. */
int gw_relay_chunked_precheck(struct vk_socket *src_ptr, const struct gw_http_limits *limits_ptr);

#endif
