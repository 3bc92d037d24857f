/* gw_http_read: one request head from a socket (see the header). */
#include "gw_http_read.h"
#include "gw_http.h"
#include "gw_http_s.h"

#include "vk_coro.h"
#include "vk_socket.h"

#include <string.h>

static void read_begin(struct gw_http_read *rd_ptr)
{
	rd_ptr->len = 0;
	rd_ptr->status = 0;
	rd_ptr->gone = 0;
	gw_http_request_init(rd_ptr->req_ptr);
}

/* Parsed where it lies in the ring (spans are offsets, so they hold for
 * the copy), and only what is taken is copied out: a body that came with
 * the head stays where the relay reads it. */
int gw_http_read_request_head_now(struct gw_http_read *rd_ptr)
{
	size_t held;
	const char *view = vk_socket_rx_view(rd_ptr->socket_ptr, &held);
	size_t max = rd_ptr->limits_ptr->max_head_bytes;
	int rc;

	if (held == 0)
		return 0;
	read_begin(rd_ptr);
	if (held > max)
		held = max;
	rc = gw_http_parse_request(rd_ptr->req_ptr, view, held, rd_ptr->limits_ptr);
	if (rc > 0) {
		rd_ptr->len = (size_t)rc;
	} else if (rc < 0) {
		rd_ptr->status = -rc;
		rd_ptr->len = held;
	} else if (held == max) {
		rd_ptr->status = 431;
		rd_ptr->len = held;
	} else {
		return 0;
	}
	memcpy(rd_ptr->buf_ptr, view, rd_ptr->len);
	vk_socket_rx_drop(rd_ptr->socket_ptr, rd_ptr->len);
	return 1;
}

void gw_http_read_request_head(struct vk_thread *that)
{
	struct gw_http_read *rd_ptr = vk_thread_arg(that);
	int rc;

	vk_begin_stateless();
	read_begin(rd_ptr);
	for (;;) {
		vk_read_some_on(rd_ptr->socket_ptr, rd_ptr->got, rd_ptr->buf_ptr + rd_ptr->len,
				rd_ptr->limits_ptr->max_head_bytes - rd_ptr->len);
		if (rd_ptr->got == 0) {
			rd_ptr->gone = 1;
			break;
		}
		rd_ptr->len += rd_ptr->got;
		rc = gw_http_parse_request(rd_ptr->req_ptr, rd_ptr->buf_ptr, rd_ptr->len, rd_ptr->limits_ptr);
		if (rc > 0) {
			/* What came after the head is a body or the next request. */
			vk_socket_unread(rd_ptr->socket_ptr, rd_ptr->buf_ptr + rc, rd_ptr->len - (size_t)rc);
			rd_ptr->len = (size_t)rc;
			break;
		}
		if (rc < 0) {
			rd_ptr->status = -rc;
			break;
		}
		if (rd_ptr->len == rd_ptr->limits_ptr->max_head_bytes) {
			rd_ptr->status = 431;
			break;
		}
	}
	vk_end();
}
