/* gw_conn_body: a request body kept whole, for filters that asked to read
 * it (gw_filter.h: request_body, wants_body). Only then is a body held: otherwise it
 * streams from client to upstream through the rings and is never whole in
 * memory. The kept body goes upstream with a Content-Length, and can go
 * again if the request is retried. */
#include "gw_conn_self.h"
#include "gw_conn_s.h"
#include "gw_relay.h"

#include "vk_coro.h"
#include "vk_proc_local.h"

#include <errno.h>

void gw_conn_keep_body(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	const struct gw_conn_config *cfg_ptr = conn_ptr->cfg_ptr;

	vk_begin_stateless();
	conn_ptr->body_len = 0;
	if (conn_ptr->req.head.body == GW_BODY_LENGTH &&
	    conn_ptr->req.head.content_length > cfg_ptr->body_buffer_bytes) {
		conn_ptr->term = (struct gw_term){.cause = 'R', .stage = 'B'};
		vk_raise(EPROTO);
	}
	/* One buffer per connection, of the largest size, taken at the first
	 * body: the heap was sized for it. Not zeroed, so only the pages the
	 * bodies fill become resident. */
	if (!conn_ptr->body_ptr) {
		conn_ptr->body_ptr =
			vk_proc_local_alloc_raw(vk_thread_proc_local(that), cfg_ptr->body_buffer_bytes + 1);
		if (!conn_ptr->body_ptr)
			vk_raise(ENOMEM);
	}
	/* The client waits for leave to send (RFC 9110 10.1.1): given here,
	 * as the body comes to the gateway first. */
	if (expects_continue(conn_ptr)) {
		GW_WRITE_LITERAL(conn_ptr->client_ptr, "HTTP/1.1 100 Continue\r\n\r\n");
		vk_flush_on(conn_ptr->client_ptr);
	}
	vk_idle_timeout(cfg_ptr->body_idle_ms);
	if (conn_ptr->req.head.body == GW_BODY_LENGTH && conn_ptr->req.head.content_length > 0) {
		vk_read_on(conn_ptr->client_ptr, conn_ptr->body_len, conn_ptr->body_ptr,
			   conn_ptr->req.head.content_length);
		if (conn_ptr->body_len < conn_ptr->req.head.content_length)
			vk_raise(ECONNRESET); /* the client left mid-body */
	} else if (conn_ptr->req.head.body == GW_BODY_CHUNKED) {
		conn_ptr->relay = (struct gw_relay){.src_ptr = conn_ptr->client_ptr,
						    .keep_ptr = conn_ptr->body_ptr,
						    .keep_cap = cfg_ptr->body_buffer_bytes,
						    .limits_ptr = &cfg_ptr->limits,
						    .malformed_status = 400,
						    .idle_ms = cfg_ptr->body_idle_ms};
		vk_call(gw_relay_chunked, &conn_ptr->relay);
		conn_ptr->body_len = conn_ptr->relay.bytes;
	}
	vk_deadline_clear();
	conn_ptr->bytes_in += conn_ptr->body_len;
	conn_ptr->exchange.request_body = conn_ptr->body_ptr;
	conn_ptr->exchange.request_body_len = conn_ptr->body_len;
	conn_ptr->exchange.body_kept = 1;
	vk_end();
}
