/* gw_relay: chunked bodies between sockets (see the header). */
#include "gw_relay.h"
#include "gw_chunked.h"
#include "gw_chunked_s.h"

#include "vk_coro.h"
#include "vk_socket.h"
#include "vk_vectoring.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#define GW_RELAY_BUF (16 * 1024)

struct relay_self {
	struct gw_chunked decoder;
	char buf[GW_RELAY_BUF];
	char header[GW_CHUNKED_HEADER_MAX];
	size_t header_len;
	size_t len;
	size_t pos;
	size_t consumed;
	size_t data_off;
	size_t data_len;
	int rc;
};

_Static_assert(sizeof(struct relay_self) + 1024 < GW_RELAY_HEAP_BYTES, "GW_RELAY_HEAP_BYTES too small");

void gw_relay_chunked(struct vk_thread *that)
{
	struct gw_relay *relay_ptr = vk_thread_arg(that);
	struct relay_self *self;

	vk_begin();
	if (relay_ptr->idle_ms)
		vk_idle_timeout(relay_ptr->idle_ms);
	gw_chunked_init(&self->decoder, relay_ptr->limits_ptr);
	for (;;) {
		if (self->pos == self->len) {
			/* What went to dst leaves before the wait for more. */
			vk_read_some_relay_on(relay_ptr->src_ptr, relay_ptr->dst_ptr, self->len, self->buf,
					      sizeof(self->buf));
			self->pos = 0;
			if (self->len == 0)
				vk_raise(ECONNRESET); /* the sender left mid-body */
		}
		self->rc = gw_chunked_feed(&self->decoder, self->buf + self->pos, self->len - self->pos,
					   &self->consumed, &self->data_off, &self->data_len);
		if (self->rc < 0) {
			relay_ptr->status =
				relay_ptr->malformed_status == 400 ? -self->rc : relay_ptr->malformed_status;
			vk_raise(EPROTO);
		}
		if (self->rc == GW_CHUNKED_DATA && !relay_ptr->dst_ptr) {
			if (self->data_len > relay_ptr->keep_cap - relay_ptr->bytes) {
				relay_ptr->status = 413;
				vk_raise(EPROTO);
			}
			memcpy(relay_ptr->keep_ptr + relay_ptr->bytes, self->buf + self->pos + self->data_off,
			       self->data_len);
			relay_ptr->bytes += self->data_len;
		} else if (self->rc == GW_CHUNKED_DATA) {
			if (!relay_ptr->raw) {
				self->header_len = gw_chunked_header(self->header, self->data_len);
				vk_write_on(relay_ptr->dst_ptr, self->header, self->header_len);
			}
			vk_write_on(relay_ptr->dst_ptr, self->buf + self->pos + self->data_off, self->data_len);
			if (!relay_ptr->raw)
				vk_write_on(relay_ptr->dst_ptr, GW_CHUNKED_CRLF, GW_CHUNKED_CRLF_LEN);
			relay_ptr->bytes += self->data_len;
		}
		self->pos += self->consumed;
		if (self->rc == GW_CHUNKED_DONE) {
			vk_socket_unread(relay_ptr->src_ptr, self->buf + self->pos, self->len - self->pos);
			if (!relay_ptr->raw && relay_ptr->dst_ptr)
				vk_write_on(relay_ptr->dst_ptr, GW_CHUNKED_LAST, GW_CHUNKED_LAST_LEN);
			break;
		}
	}
	vk_end();
}

int gw_relay_chunked_precheck(struct vk_socket *src_ptr, const struct gw_http_limits *limits_ptr)
{
	struct gw_chunked decoder;
	struct iovec iov[2];
	int count = vk_vectoring_data_iov(vk_socket_rx(src_ptr), iov);

	gw_chunked_init(&decoder, limits_ptr);
	for (int i = 0; i < count; i++) {
		const char *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		while (left > 0) {
			size_t consumed, data_off, data_len;
			int rc = gw_chunked_feed(&decoder, p, left, &consumed, &data_off, &data_len);

			if (rc < 0)
				return rc;
			if (rc == GW_CHUNKED_DONE)
				return 1;
			p += consumed;
			left -= consumed;
		}
	}
	return 0;
}
