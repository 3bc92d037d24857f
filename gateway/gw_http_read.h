#ifndef GW_HTTP_READ_H
#define GW_HTTP_READ_H

/* Reading one request head from a socket, for every server of the gateway
 * (the proxy's connections and the admin listener's): a thread function
 * the connection runs with vk_call, its argument a struct gw_http_read. */

#include <stddef.h>
#include <stdint.h>

#include "vk_thread.h"

struct vk_socket;
struct gw_request;
struct gw_http_limits;

struct gw_http_read {
	struct vk_socket *socket_ptr;
	char *buf_ptr; /* limits_ptr->max_head_bytes of room */
	const struct gw_http_limits *limits_ptr;
	struct gw_request *req_ptr; /* parsed into, from buf_ptr */
	size_t len;		    /* out: bytes read; the head's length once whole */
	int status;		    /* out: the status a refused head gets (400, 414, 431...), or 0 */
	int gone;		    /* out: the peer left before a whole head */
	size_t got;		    /* the last read's bytes: the coroutine's one local, kept here */
};

/* Reads until the head is whole (what came after it is given back to the
 * socket), refused (status), or the peer leaves (gone). It runs under the
 * caller's deadline (vk_call hands it down): past it, ETIMEDOUT is raised
 * in the caller. */
void gw_http_read_request_head(struct vk_thread *that);

/* The same read from what the socket already holds, with no thread: 1
 * when that settles it (the head is whole, or refused), 0 when more must
 * come, and then nothing was taken and gw_http_read_request_head reads it
 * all. Most heads arrive in one segment, so most take this way. */
int gw_http_read_request_head_now(struct gw_http_read *rd_ptr);

/* Either way, from a thread body. */
#define gw_http_read_request_head_call(rd_ptr)                        \
	do {                                                          \
		if (!gw_http_read_request_head_now(rd_ptr))           \
			vk_call(gw_http_read_request_head, (rd_ptr)); \
	} while (0)

#endif
