/* gw_http_read: one request head from a socket (see the header). */
#include "gw_http_read.h"
#include "gw_http.h"
#include "gw_http_s.h"

#include "vk_coro.h"
#include "vk_socket.h"

void gw_http_read_request_head(struct vk_thread *that)
{
	struct gw_http_read *rd = vk_thread_arg(that);
	struct {
		size_t n;
		int rc;
	} * self;

	vk_begin();
	/* The caller's deadline: a child thread has its own. */
	that->deadline_ns = rd->deadline_ns;
	rd->len = 0;
	rd->status = 0;
	rd->gone = 0;
	gw_http_request_init(rd->req_ptr);
	for (;;) {
		vk_read_some_on(rd->socket_ptr, self->n, rd->buf_ptr + rd->len,
				rd->limits_ptr->max_head_bytes - rd->len);
		if (self->n == 0) {
			rd->gone = 1;
			break;
		}
		rd->len += self->n;
		self->rc = gw_http_parse_request(rd->req_ptr, rd->buf_ptr, rd->len, rd->limits_ptr);
		if (self->rc > 0) {
			/* What came after the head is a body or the next request. */
			vk_socket_unread(rd->socket_ptr, rd->buf_ptr + self->rc, rd->len - (size_t)self->rc);
			rd->len = (size_t)self->rc;
			break;
		}
		if (self->rc < 0) {
			rd->status = -self->rc;
			break;
		}
		if (rd->len == rd->limits_ptr->max_head_bytes) {
			rd->status = 431;
			break;
		}
	}
	vk_end();
}
