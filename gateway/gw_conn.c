/* gw_conn: the life of a client connection (see gw_conn.h).
 *
 * One thread does it all, in order: read a head (under the header
 * deadline), forward it, splice the body, read the response head (under
 * the response deadline), relay it, splice its body. The stage it is in
 * decides what an error becomes: before anything of the response went to
 * the client, a JSON error response; after, the connection just closes.
 *
 * The route's filters (gw_pipeline.h) run after routing and again after
 * the response head: their header edits are replayed while each head is
 * written, and a filter's own answer goes out like a respond action. */
#include "gw_conn.h"
#include "gw_conn_self.h"
#include "gw_access_log.h"
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_conn_s.h"
#include "gw_exchange_s.h"
#include "gw_http.h"
#include "gw_http_s.h"
#include "gw_pipeline.h"
#include "gw_relay.h"
#include "gw_stats.h"
#include "gw_status.h"

#include "vk_coro.h"
#include "vk_heap.h"
#include "vk_proc_local.h"
#include "vk_socket.h"
#include "vk_vectoring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/* Two heads (request, response), two sockets of two rings, the thread's
 * locals, a chunked relay in flight, and room for bookkeeping. */
#define GW_CONN_HEAP_SLACK (32 * 1024)

size_t gw_conn_heap_pages(size_t max_head_bytes, size_t ring_bytes, size_t body_buffer_bytes)
{
	size_t bytes = 2 * max_head_bytes + 4 * ring_bytes + sizeof(struct gw_conn_self) + GW_RELAY_HEAP_BYTES +
		       GW_CONN_HEAP_SLACK + GW_PIPELINE_WAIT_HEAP_BYTES +
		       (body_buffer_bytes ? body_buffer_bytes + 64 : 0);

	return vk_pages_for(bytes);
}

static void peer_address(struct vk_socket *socket_ptr, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = vk_socket_rx_fd(socket_ptr);

	snprintf(out, len, "unknown");
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)len);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)len);
}

/* What an error at this stage answers, or 0 when the client only gets a
 * close (it already has part of a response, or went away). */
static int error_status(int stage, int error)
{
	switch (stage) {
	case GW_CONN_STAGE_REQUEST_HEAD:
		return error == ETIMEDOUT ? 408 : error == ENOBUFS ? 431 : 400;
	case GW_CONN_STAGE_BODY_IN:
		return error == ETIMEDOUT ? 408 : 400;
	case GW_CONN_STAGE_CONNECT:
		return error == ETIMEDOUT ? 504 : 502;
	case GW_CONN_STAGE_REQUEST_BODY:
		return error == ETIMEDOUT ? 408 : 502;
	case GW_CONN_STAGE_RESPONSE_HEAD:
		return error == ETIMEDOUT ? 504 : 502;
	default:
		return 0;
	}
}

/* While the request body goes upstream, either side may fail, and the
 * answer names the one that did. A client that hung up or broke its
 * connection (its receive side says so) is at fault, not the upstream,
 * which must not count it as a 5xx (a whole body leaves no reason to read
 * the client again before the response, so a client that half-closes
 * after its request is not blamed for an upstream failure). A stall with
 * the upstream refusing more of the body (its send side blocked) is the
 * upstream's, not a slow client's 408. 0: the stage's usual answer. */
static int request_body_status(struct gw_conn_self *self, int error, const char **reason_ptr)
{
	struct vk_vectoring *client_rx_ptr = vk_socket_rx(self->client_ptr);

	if (self->stage != GW_CONN_STAGE_REQUEST_BODY)
		return 0;
	if (vk_vectoring_eof(client_rx_ptr) || vk_vectoring_error(client_rx_ptr)) {
		*reason_ptr = "request body incomplete: the client stopped sending";
		return 400;
	}
	if (error == ETIMEDOUT && vk_vectoring_blocked(vk_socket_tx(self->upstream_ptr))) {
		*reason_ptr = "upstream stopped reading the request body";
		return 504;
	}
	return 0;
}

/* A kept connection may have been closed by the upstream just as it was
 * taken. A request that failed on one before any of the response came, and
 * that may be sent twice (RFC 9110 9.2.2) with no body to replay, goes
 * again, once, on a new connection. */
static int may_go_again(const struct gw_conn_self *self, int error)
{
	return self->reused && !self->retried && !self->status && !self->response_started &&
	       (self->stage == GW_CONN_STAGE_REQUEST_BODY || self->stage == GW_CONN_STAGE_RESPONSE_HEAD) &&
	       (error == ECONNRESET || error == EPIPE || error == ECONNABORTED) &&
	       gw_http_method_idempotent(self->req.method) && gw_exchange_replayable(&self->exchange);
}

/* Request filters ran and no response head went back through them yet:
 * an error of the gateway's own then goes back through them. */
static int own_error_goes_through_filters(const struct gw_conn_self *self)
{
	return self->route_ptr && self->exchange.stages_passed > 0 && self->exchange.verdict == GW_VERDICT_CONTINUE &&
	       !self->exchange.resp_ptr && self->stage != GW_CONN_STAGE_RESPONSE_BODY;
}

/* The exchange on the upstream connection is over. It goes back for any
 * request of this kernel when `whole` (nothing of the response is left to
 * read) and the upstream keeps it alive, unless bytes nobody asked for
 * are waiting (vk_socket_detach_fd refuses); else it closes. */
static void release_upstream(struct gw_conn_self *self, const struct gw_conn_config *cfg_ptr, int whole)
{
	int fd;

	if (whole && self->resp.head.keep_alive && (fd = vk_socket_detach_fd(self->upstream_ptr)) >= 0)
		cfg_ptr->upstream_ops.keep(cfg_ptr->upstream_ops.ctx_ptr, self->upstream_index, &self->pick, fd);
	else
		vk_socket_close(self->upstream_ptr);
}

static const char *error_message(int stage, int error)
{
	switch (stage) {
	case GW_CONN_STAGE_REQUEST_HEAD:
		return error == ETIMEDOUT ? "request head not received in time" : "malformed request";
	case GW_CONN_STAGE_BODY_IN:
		return error == ETIMEDOUT ? "request body stalled" : "request body incomplete";
	case GW_CONN_STAGE_CONNECT:
		return error == ETIMEDOUT ? "upstream connect timed out" : "upstream connect failed";
	case GW_CONN_STAGE_REQUEST_BODY:
		return error == ETIMEDOUT ? "request body stalled" : "upstream failed while receiving the request";
	case GW_CONN_STAGE_RESPONSE_HEAD:
		return error == ETIMEDOUT ? "upstream response timed out" : "upstream sent no valid response";
	default:
		return "";
	}
}

void gw_conn_main(struct vk_thread *that)
{
	const struct gw_conn_config *cfg_ptr = vk_thread_arg(that);
	struct gw_conn_self *self;
	const struct gw_http_field *f_ptr;

	vk_begin();
	/* Counted open until the thread ends, however it ends. */
	gw_stats_connection_opened();
	vk_finally
	{
		gw_stats_connection_closed();
	}
	self->client_ptr = that->socket_ptr;
	/* The upstream socket, both heads and the upstream rings in one raw
	 * block: written before read, their pages are touched only as bytes
	 * come. The buffers, and the per-request tail of self, go back to the
	 * OS once the connection has been idle a while (gw_conn_self.h). */
	self->upstream_ptr = vk_proc_local_alloc_raw(vk_thread_proc_local(that),
						     vk_socket_size() + 2 * cfg_ptr->limits.max_head_bytes +
							     2 * cfg_ptr->ring_bytes);
	if (!self->upstream_ptr)
		vk_raise(ENOMEM);
	self->head_ptr = (char *)self->upstream_ptr + vk_socket_size();
	self->resp_ptr = self->head_ptr + cfg_ptr->limits.max_head_bytes;
	vk_socket_init(self->upstream_ptr, vk_thread_proc_local(that), self->resp_ptr + cfg_ptr->limits.max_head_bytes,
		       cfg_ptr->ring_bytes, self->resp_ptr + cfg_ptr->limits.max_head_bytes + cfg_ptr->ring_bytes,
		       cfg_ptr->ring_bytes);
	vk_proc_local_add_spare(vk_thread_proc_local(that), self->head_ptr,
				2 * cfg_ptr->limits.max_head_bytes + 2 * cfg_ptr->ring_bytes);
	vk_proc_local_add_spare(vk_thread_proc_local(that), self->exchange.stages,
				(size_t)((char *)(self + 1) - (char *)self->exchange.stages));
	peer_address(self->client_ptr, self->client_addr, sizeof(self->client_addr));
	self->cfg_ptr = cfg_ptr;
	self->upstream_index = -1;

	vk_catch
	{
		/* A fault in a user's filter handler lands here, inside its
		 * untrusted mark: the gateway's code runs trusted again. */
		vk_sys_untrusted_end();
		/* The upstream connection is counted against max_connections:
		 * it goes at once, not when the client has heard why. */
		vk_socket_close(self->upstream_ptr);
		if (may_go_again(self, vk_error())) {
			self->retried = 1;
			vk_clear_error();
			vk_catch_rearm();
			goto upstream_connection;
		}
		/* Errors end the connection; what the client hears depends on how
		 * far the exchange got. */
		gw_conn_upstream_done(self, cfg_ptr,
				      self->stage == GW_CONN_STAGE_CONNECT ? GW_UPSTREAM_CONNECT_FAILURE
									   : GW_UPSTREAM_ABORTED);
		if (vk_sys_faulted()) {
			/* A fault (caught SIGSEGV and the like) may have damaged this
			 * heap: no retry, no filters, and the connection ends. The
			 * 500 is still written from this heap, which is safe enough:
			 * isolation kept the damage inside this connection; the
			 * answer is a constant; the fd number is checked with the
			 * kernel first, so a damaged socket cannot write to another
			 * connection (a raise here has no handler left: the process
			 * ends, and the kernel closes its fds from its own memory);
			 * and a second fault kills the process the same way. */
			if (!vk_sys_owns(vk_socket_tx_fd(self->client_ptr)))
				vk_raise(EBADF);
			self->status = self->stage != GW_CONN_STAGE_IDLE && self->stage < GW_CONN_STAGE_RESPONSE_BODY
					       ? 500
					       : 0;
			if (self->stage != GW_CONN_STAGE_IDLE)
				gw_conn_log_request(self, self->status);
			if (self->status) {
				self->n = gw_status_error_response(self->error, sizeof(self->error), 500,
								   "internal fault", 1);
				vk_deadline_clear();
				vk_write_on(self->client_ptr, self->error, self->n);
			}
			vk_clear_error();
			goto tunnel_done; /* flushes, and the connection ends */
		}
		/* A body cut short: a 502 while none of the response left, else the rest of what came. */
		self->error_code = vk_error();
		if (self->stage == GW_CONN_STAGE_RESPONSE_BODY && self->resp.status != 101 &&
		    self->req.method != GW_METHOD_CONNECT && !self->status)
			vk_call(gw_conn_cut_response, self);
		if (!self->status && self->relay.status && self->stage != GW_CONN_STAGE_RESPONSE_BODY)
			self->status = self->relay.status;
		if (!self->status)
			self->status = request_body_status(self, vk_error(), &self->reason);
		self->status = self->status ? self->status : error_status(self->stage, vk_error());
		self->error_code = vk_error();
		if (self->status && own_error_goes_through_filters(self)) {
			/* The gateway's own error goes back through the filters that
			 * let the request pass, like an upstream's answer would (a
			 * browser needs its CORS headers on a 502 too), and one of
			 * them may ask for another attempt. */
			vk_deadline_clear();
			self->exchange.response_status = self->status;
			/* Another attempt only for what went wrong at the upstream. */
			self->exchange.retry_allowed =
				self->stage >= GW_CONN_STAGE_POOL_WAIT && self->stage <= GW_CONN_STAGE_RESPONSE_HEAD;
			if (gw_pipeline_run(&self->exchange, GW_PHASE_RESPONSE_HEAD) == GW_PIPELINE_WAIT)
				vk_call(gw_pipeline_wait, &self->exchange);
			self->exchange.retry_allowed = 0;
			if (self->exchange.verdict == GW_VERDICT_RETRY) {
				gw_exchange_next_attempt(&self->exchange);
				vk_clear_error();
				vk_catch_rearm();
				goto upstream_pick;
			}
			gw_conn_log_request(self, self->status);
			self->exchange.verdict = GW_VERDICT_RESPOND;
			self->exchange.response_status = self->status;
			self->exchange.error_message =
				self->reason ? self->reason : error_message(self->stage, self->error_code);
			self->force_close = 1;
			vk_call(gw_conn_answer_directly, self);
		} else {
			if (self->stage != GW_CONN_STAGE_IDLE)
				gw_conn_log_request(self, self->status);
			if (self->status) {
				self->n = gw_status_error_response(
					self->error, sizeof(self->error), self->status,
					self->reason ? self->reason : error_message(self->stage, vk_error()), 1);
				vk_deadline_clear();
				vk_write_on(self->client_ptr, self->error, self->n);
				vk_flush_on(self->client_ptr);
			}
		}
	}

	for (;;) {
		/* ---- the next request ---- */
		self->stage = GW_CONN_STAGE_IDLE;
		self->status = 0;
		self->reason = NULL;
		/* No exchange until this request is routed. */
		self->exchange.stages_passed = 0;
		self->exchange.resp_ptr = NULL;
		/* The first head is timed from the accept, so a client that never
		 * sends a byte is gone after header_ms; a later one from its first
		 * byte, after a keep-alive wait. */
		if (self->served)
			vk_deadline(cfg_ptr->keepalive_idle_ms);
		else
			vk_deadline(cfg_ptr->header_timeout_ms);
		vk_wait_request(self->more);
		if (!self->more)
			break;
		self->stage = GW_CONN_STAGE_REQUEST_HEAD;
		self->started_ns = vk_sys_now_ns();
		self->upstream_ns = 0;
		self->attempts_sent = 0;
		self->bytes_out = 0;
		self->route_ptr = NULL;
		if (self->served)
			vk_deadline(cfg_ptr->header_timeout_ms);
		self->served = 1;
		self->head_read = (struct gw_http_read){.socket_ptr = self->client_ptr,
							.buf_ptr = self->head_ptr,
							.limits_ptr = &cfg_ptr->limits,
							.req_ptr = &self->req,
							.deadline_ns = that->deadline_ns};
		vk_call(gw_http_read_request_head, &self->head_read);
		if (self->head_read.gone)
			goto done; /* the client left mid-head: nothing to answer */
		if (self->head_read.status) {
			self->status = self->head_read.status;
			self->bytes_in = self->head_read.len;
			vk_raise(EPROTO);
		}
		self->head_len = self->head_read.len;
		self->bytes_in = self->head_len;
		/* A chunked body already here is checked whole first, so a
		 * malformed one is refused before any of it goes upstream. */
		if (self->req.head.body == GW_BODY_CHUNKED) {
			self->rc = gw_relay_chunked_precheck(self->client_ptr, &cfg_ptr->limits);
			if (self->rc < 0) {
				self->status = -self->rc;
				vk_raise(EPROTO);
			}
		}

		/* ---- the route ---- */
		self->path_rest = NULL;
		self->route_ptr = gw_conn_match_route(self, cfg_ptr->config_ptr);
		/* CONNECT is a tunnel only where a route enables it; anywhere
		 * else it is not a method of this server's resources. */
		if (self->req.method == GW_METHOD_CONNECT && !gw_conn_connect_allowed(self->route_ptr)) {
			self->n = gw_status_error_response_fields(self->error, sizeof(self->error), 405,
								  "CONNECT is not enabled on this route", 1,
								  "Allow: " GW_CONN_ALLOW "\r\n");
			vk_write_on(self->client_ptr, self->error, self->n);
			gw_conn_log_request(self, 405);
			break;
		}
		if (!self->route_ptr) {
			self->status = 404;
			self->reason = "no route matches the request";
			vk_raise(EPROTO);
		}
		gw_exchange_begin(&self->exchange, &self->req, self->head_ptr, gw_conn_target_path(self),
				  self->client_addr, self->route_ptr);
		self->exchange.filter_states_ptr = cfg_ptr->filter_states_ptr;
		if (gw_pipeline_run(&self->exchange, GW_PHASE_REQUEST_HEAD) == GW_PIPELINE_WAIT)
			vk_call(gw_pipeline_wait, &self->exchange);
		/* A stage asked for the body: kept whole, then read by them. */
		if (self->exchange.verdict == GW_VERDICT_CONTINUE && gw_pipeline_wants_body(&self->exchange)) {
			self->stage = GW_CONN_STAGE_BODY_IN;
			vk_call(gw_conn_keep_body, self);
			if (gw_pipeline_run(&self->exchange, GW_PHASE_REQUEST_BODY) == GW_PIPELINE_WAIT)
				vk_call(gw_pipeline_wait, &self->exchange);
		}
		if (self->exchange.verdict == GW_VERDICT_RESPOND || self->route_ptr->action.kind != GW_ACTION_PROXY) {
			/* Request filters run for every action; the answer then
			 * goes back through those that let it pass. */
			if (self->exchange.verdict == GW_VERDICT_CONTINUE)
				self->exchange.response_status = self->route_ptr->action.kind == GW_ACTION_RESPOND
									 ? self->route_ptr->action.respond.status
									 : self->route_ptr->action.redirect.status;
			if (gw_pipeline_run(&self->exchange, GW_PHASE_RESPONSE_HEAD) == GW_PIPELINE_WAIT)
				vk_call(gw_pipeline_wait, &self->exchange);
			vk_call(gw_conn_answer_directly, self);
			gw_conn_log_request(self, self->exchange.response_status);
			if (self->close_after)
				break;
			continue;
		}
		gw_exchange_request_done(&self->exchange);

		/* ---- the upstream: picked again for each attempt a filter asks for ---- */
	upstream_pick:
		self->stage = GW_CONN_STAGE_PICK;
		self->reason = NULL;
		self->status = gw_conn_pick_upstream(self, cfg_ptr);
		if (self->status) {
			self->upstream_ns = 0; /* this request reached no endpoint in the end */
			vk_raise(EPROTO);
		}
		if (!self->upstream_ns)
			self->upstream_ns = vk_sys_now_ns(); /* upstream_ms counts from the first attempt */
		self->retried = 0;

		/* ---- the upstream connection: kept, new, or after a wait in line ---- */
	upstream_connection:
		self->stage = GW_CONN_STAGE_POOL_WAIT;
		self->response_started = 0;
		self->wait_until_ns = vk_sys_now_ns() + self->connect_ms * 1000000u;
		for (;;) {
			self->rc = cfg_ptr->upstream_ops.connection(
				cfg_ptr->upstream_ops.ctx_ptr, self->upstream_index, &self->pick,
				self->retried || self->req.method == GW_METHOD_CONNECT, &self->upstream_fd,
				&self->reason);
			if (self->rc != GW_UPSTREAM_WAIT)
				break;
			if (vk_sys_now_ns() >= self->wait_until_ns) {
				cfg_ptr->upstream_ops.stop_waiting(cfg_ptr->upstream_ops.ctx_ptr, self->upstream_index);
				self->status = 503;
				self->reason = "no upstream connection free in time (max_connections)";
				vk_raise(ETIMEDOUT);
			}
			vk_wait_notified((self->wait_until_ns - vk_sys_now_ns()) / 1000000u + 1);
		}
		if (self->rc == GW_UPSTREAM_REFUSED) {
			self->status = 503;
			vk_raise(EPROTO);
		}
		vk_socket_attach_fd(self->upstream_ptr, self->upstream_fd);
		self->reused = self->rc == GW_UPSTREAM_KEPT;
		/* A kept connection was found quiet when taken, and its upstream
		 * says nothing before it is asked: no read until the poller
		 * reports one. */
		if (self->reused)
			vk_socket_assume_drained(self->upstream_ptr);
		if (!self->reused) {
			self->stage = GW_CONN_STAGE_CONNECT;
			vk_deadline(self->connect_ms);
			vk_connect(self->upstream_ptr, self->pick.addr_ptr, self->pick.addr_len);
		}
		self->stage = GW_CONN_STAGE_REQUEST_BODY;
		vk_deadline_clear();
		self->attempts_sent++;
		/* CONNECT (the route enables it): the upstream is reached, the
		 * client's bytes go to it as they are. */
		if (self->req.method == GW_METHOD_CONNECT) {
			self->stage = GW_CONN_STAGE_RESPONSE_BODY;
			self->resp.status = 200;
			GW_WRITE_LITERAL(self->client_ptr, "HTTP/1.1 200 Connection established\r\n\r\n");
			goto tunnel;
		}

		/* Request line, always HTTP/1.1 and origin-form upstream. */
		vk_write_on(self->upstream_ptr, span(self->head_ptr, self->req.method_span), self->req.method_span.len);
		GW_WRITE_LITERAL(self->upstream_ptr, " ");
		if (self->path_rest) {
			vk_write_on(self->upstream_ptr, self->route_ptr->action.proxy.prefix_rewrite,
				    strlen(self->route_ptr->action.proxy.prefix_rewrite));
			vk_write_on(self->upstream_ptr, self->path_rest, self->path_rest_len);
		} else if (self->req.target_form == GW_TARGET_ABSOLUTE) {
			if (self->req.target_path.len == 0 || self->head_ptr[self->req.target_path.off] != '/')
				GW_WRITE_LITERAL(self->upstream_ptr, "/");
			vk_write_on(self->upstream_ptr, span(self->head_ptr, self->req.target_path),
				    self->req.target_path.len);
		} else {
			vk_write_on(self->upstream_ptr, span(self->head_ptr, self->req.target), self->req.target.len);
		}
		GW_WRITE_LITERAL(self->upstream_ptr, " HTTP/1.1\r\n");
		for (self->i = 0; self->i < self->req.head.field_count; self->i++) {
			f_ptr = &self->req.head.fields[self->i];
			if (!copied_as_received(self->head_ptr, f_ptr) ||
			    forwarded_kind(self->head_ptr, f_ptr) != XF_NONE ||
			    gw_exchange_field_dropped(&self->exchange, GW_SIDE_REQUEST,
						      span(self->head_ptr, f_ptr->name), f_ptr->name.len))
				continue;
			/* The name, ": ", the value and CRLF as one run of the head. */
			vk_write_on(self->upstream_ptr, span(self->head_ptr, self->req.head.fields[self->i].name),
				    self->req.head.fields[self->i].value.off +
					    self->req.head.fields[self->i].value.len -
					    self->req.head.fields[self->i].name.off);
			GW_WRITE_LITERAL(self->upstream_ptr, "\r\n");
		}
		self->edits = (struct edits_writer){&self->exchange, self->upstream_ptr, GW_SIDE_REQUEST};
		vk_call(gw_conn_write_edits, &self->edits);
		/* Always a Host: HTTP/1.1 requires one (RFC 9112 3.2), so an
		 * HTTP/1.0 request without one names the endpoint as configured. */
		GW_WRITE_LITERAL(self->upstream_ptr, "Host: ");
		if (self->req.host.len)
			vk_write_on(self->upstream_ptr, span(self->head_ptr, self->req.host), self->req.host.len);
		else
			vk_write_on(self->upstream_ptr, self->pick.name, strlen(self->pick.name));
		GW_WRITE_LITERAL(self->upstream_ptr, "\r\n");
		vk_call(gw_conn_write_forwarded, self);
		if (cfg_ptr->via && *cfg_ptr->via) {
			self->line_len = (size_t)snprintf(self->line, sizeof(self->line), "Via: 1.%d %s\r\n",
							  self->req.head.version_minor, cfg_ptr->via);
			vk_write_on(self->upstream_ptr, self->line, self->line_len);
		}
		if (self->exchange.body_kept && self->req.head.body == GW_BODY_NONE) {
			/* no body: nothing to frame */
		} else if (self->exchange.body_kept) {
			self->line_len = (size_t)snprintf(self->line, sizeof(self->line), "Content-Length: %zu\r\n",
							  self->body_len);
			vk_write_on(self->upstream_ptr, self->line, self->line_len);
		} else if (self->req.head.body == GW_BODY_LENGTH) {
			self->line_len = (size_t)snprintf(self->line, sizeof(self->line), "Content-Length: %llu\r\n",
							  (unsigned long long)self->req.head.content_length);
			vk_write_on(self->upstream_ptr, self->line, self->line_len);
		} else if (self->req.head.body == GW_BODY_CHUNKED) {
			GW_WRITE_LITERAL(self->upstream_ptr, "Transfer-Encoding: chunked\r\n");
		}
		/* An upgrade is asked of the upstream explicitly (the received
		 * Upgrade and Connection were hop-by-hop), for the protocols the
		 * route allows (WebSocket by default): without one left, the
		 * request goes as a plain one. */
		self->line_len = gw_conn_upgrade_fields(self, self->line, sizeof(self->line));
		vk_write_on(self->upstream_ptr, self->line, self->line_len);
		GW_WRITE_LITERAL(self->upstream_ptr, "\r\n");

		/* Body: the client asked to be told to go on (RFC 9110 10.1.1). */
		if (self->exchange.body_kept) {
			/* An upstream that stops reading does not hold it for ever. */
			vk_idle_timeout(cfg_ptr->body_idle_ms);
			vk_write_on(self->upstream_ptr, self->body_ptr, self->body_len);
		} else if (expects_continue(self)) {
			GW_WRITE_LITERAL(self->client_ptr, "HTTP/1.1 100 Continue\r\n\r\n");
			vk_flush_on(self->client_ptr);
		}
		if (self->exchange.body_kept) {
			/* already written */
		} else if (self->req.head.body == GW_BODY_LENGTH && self->req.head.content_length > 0) {
			vk_idle_timeout(cfg_ptr->body_idle_ms);
			vk_splice(self->n, self->client_ptr, self->upstream_ptr, self->req.head.content_length);
			self->bytes_in += self->n;
			if (self->n < self->req.head.content_length)
				goto done; /* the client left mid-body: the upstream request is abandoned */
		} else if (self->req.head.body == GW_BODY_CHUNKED) {
			self->relay = (struct gw_relay){.src_ptr = self->client_ptr,
							.dst_ptr = self->upstream_ptr,
							.limits_ptr = &cfg_ptr->limits,
							.malformed_status = 400,
							.idle_ms = cfg_ptr->body_idle_ms};
			vk_call(gw_relay_chunked, &self->relay);
			self->bytes_in += self->relay.bytes;
		}
		vk_flush_on(self->upstream_ptr);

		/* ---- the response head ---- */
		self->stage = GW_CONN_STAGE_RESPONSE_HEAD;
		vk_deadline(self->response_ms);
		for (;;) {
			gw_http_response_init(&self->resp);
			self->resp_len = 0;
			for (;;) {
				vk_read_some_on(self->upstream_ptr, self->n, self->resp_ptr + self->resp_len,
						cfg_ptr->limits.max_head_bytes - self->resp_len);
				if (self->n == 0)
					vk_raise(ECONNRESET);
				self->response_started = 1;
				self->resp_len += self->n;
				self->rc = gw_http_parse_response(&self->resp, self->resp_ptr, self->resp_len,
								  &cfg_ptr->limits, self->req.method == GW_METHOD_HEAD);
				if (self->rc > 0)
					break;
				if (self->rc < 0 || self->resp_len == cfg_ptr->limits.max_head_bytes)
					vk_raise(EPROTO);
			}
			vk_socket_unread(self->upstream_ptr, self->resp_ptr + self->rc,
					 self->resp_len - (size_t)self->rc);
			self->resp_len = (size_t)self->rc;
			/* Interim 1xx answers other than 101: 100 was answered here. */
			if (self->resp.status >= 200 || self->resp.status == 101)
				break;
		}
		vk_deadline_clear();
		self->response_mark = vk_socket_tx_mark(self->client_ptr);
		if (self->exchange.stages_passed) {
			gw_exchange_set_response(&self->exchange, &self->resp, self->resp_ptr);
			self->exchange.retry_allowed = self->resp.status != 101;
			if (gw_pipeline_run(&self->exchange, GW_PHASE_RESPONSE_HEAD) == GW_PIPELINE_WAIT)
				vk_call(gw_pipeline_wait, &self->exchange);
			self->exchange.retry_allowed = 0;
			/* A filter asked for another attempt: a response with
			 * a body never read takes its connection with it; one
			 * without a body leaves it for reuse. */
			if (self->exchange.verdict == GW_VERDICT_RETRY) {
				release_upstream(self, cfg_ptr,
						 self->resp.head.body == GW_BODY_NONE ||
							 (self->resp.head.body == GW_BODY_LENGTH &&
							  self->resp.head.content_length == 0));
				gw_conn_upstream_done(self, cfg_ptr,
						      self->resp.status >= 500 ? GW_UPSTREAM_5XX : GW_UPSTREAM_OK);
				gw_exchange_next_attempt(&self->exchange);
				goto upstream_pick;
			}
			/* A filter failed on the way back: the upstream's body
			 * is not read, so the connection ends after the error. */
			if (self->exchange.verdict == GW_VERDICT_RESPOND) {
				self->status = self->exchange.status;
				self->reason = self->exchange.error_message;
				vk_raise(EPROTO);
			}
		}

		/* ---- an upgraded connection: a tunnel until either side closes ---- */
		if (self->resp.status == 101) {
			/* Else raw bytes would flow past routing and filters (h2c
			 * smuggling). */
			if (!gw_conn_upgrade_granted(self)) {
				self->reason = "upstream switched protocols unasked";
				vk_raise(EPROTO);
			}
			self->stage = GW_CONN_STAGE_RESPONSE_BODY;
			GW_WRITE_LITERAL(self->client_ptr, "HTTP/1.1 101 ");
			vk_write_on(self->client_ptr, span(self->resp_ptr, self->resp.reason), self->resp.reason.len);
			GW_WRITE_LITERAL(self->client_ptr, "\r\n");
			for (self->i = 0; self->i < self->resp.head.field_count; self->i++) {
				if (!copied_as_received(self->resp_ptr, &self->resp.head.fields[self->i]))
					continue;
				vk_write_on(self->client_ptr,
					    span(self->resp_ptr, self->resp.head.fields[self->i].name),
					    self->resp.head.fields[self->i].value.off +
						    self->resp.head.fields[self->i].value.len -
						    self->resp.head.fields[self->i].name.off);
				GW_WRITE_LITERAL(self->client_ptr, "\r\n");
			}
			GW_WRITE_LITERAL(self->client_ptr, "Upgrade: ");
			vk_write_on(self->client_ptr,
				    span(self->resp_ptr, field_of_kind(&self->resp.head, GW_FIELD_UPGRADE)->value),
				    field_of_kind(&self->resp.head, GW_FIELD_UPGRADE)->value.len);
			GW_WRITE_LITERAL(self->client_ptr, "\r\nConnection: Upgrade\r\n\r\n");
		tunnel:
			vk_flush_on(self->client_ptr);
			gw_conn_log_request(self, self->resp.status);
			gw_conn_upstream_done(self, cfg_ptr, GW_UPSTREAM_OK);
			vk_deadline_clear();
			vk_spawn(self->tunnel_ptr, gw_conn_tunnel, self, NULL);
			vk_splice(self->n, self->client_ptr, self->upstream_ptr, SIZE_MAX);
			vk_flush_on(self->upstream_ptr);
			vk_socket_shutdown_tx(self->upstream_ptr);
			goto tunnel_done;
		}

		/* ---- the response ---- */
		self->stage = GW_CONN_STAGE_RESPONSE_BODY;
		/* Neither side may go silent mid-body for longer than the
		 * upstream's response timeout. */
		vk_idle_timeout(self->response_ms);
		/* An HTTP/1.0 client cannot take chunks: it gets the data and a close. */
		self->close_after = !self->req.head.keep_alive || self->resp.head.body == GW_BODY_UNTIL_CLOSE ||
				    (self->resp.head.body == GW_BODY_CHUNKED && self->req.head.version_minor == 0) ||
				    vk_sys_draining();
		self->line_len = (size_t)snprintf(self->line, sizeof(self->line), "HTTP/1.1 %u ", self->resp.status);
		vk_write_on(self->client_ptr, self->line, self->line_len);
		vk_write_on(self->client_ptr, span(self->resp_ptr, self->resp.reason), self->resp.reason.len);
		GW_WRITE_LITERAL(self->client_ptr, "\r\n");
		for (self->i = 0; self->i < self->resp.head.field_count; self->i++) {
			f_ptr = &self->resp.head.fields[self->i];
			/* A length without a body (HEAD, 304) describes the
			 * representation: it passes as it came. */
			if ((!copied_as_received(self->resp_ptr, f_ptr) &&
			     !(f_ptr->kind == GW_FIELD_CONTENT_LENGTH && self->resp.head.body != GW_BODY_LENGTH)) ||
			    gw_exchange_field_dropped(&self->exchange, GW_SIDE_RESPONSE,
						      span(self->resp_ptr, f_ptr->name), f_ptr->name.len))
				continue;
			vk_write_on(self->client_ptr, span(self->resp_ptr, self->resp.head.fields[self->i].name),
				    self->resp.head.fields[self->i].value.off +
					    self->resp.head.fields[self->i].value.len -
					    self->resp.head.fields[self->i].name.off);
			GW_WRITE_LITERAL(self->client_ptr, "\r\n");
		}
		self->edits = (struct edits_writer){&self->exchange, self->client_ptr, GW_SIDE_RESPONSE};
		vk_call(gw_conn_write_edits, &self->edits);
		if (self->resp.head.body == GW_BODY_LENGTH)
			self->line_len = (size_t)snprintf(self->line, sizeof(self->line), "Content-Length: %llu\r\n",
							  (unsigned long long)self->resp.head.content_length);
		else if (self->resp.head.body == GW_BODY_CHUNKED && self->req.head.version_minor == 1)
			self->line_len =
				(size_t)snprintf(self->line, sizeof(self->line), "Transfer-Encoding: chunked\r\n");
		else
			self->line_len = 0;
		if (cfg_ptr->via && *cfg_ptr->via)
			self->line_len +=
				(size_t)snprintf(self->line + self->line_len, sizeof(self->line) - self->line_len,
						 "Via: 1.%d %s\r\n", self->resp.head.version_minor, cfg_ptr->via);
		self->line_len += (size_t)snprintf(self->line + self->line_len, sizeof(self->line) - self->line_len,
						   "%s\r\n", self->close_after ? "Connection: close\r\n" : "");
		vk_write_on(self->client_ptr, self->line, self->line_len);
		if (self->resp.head.body == GW_BODY_LENGTH) {
			vk_splice(self->n, self->upstream_ptr, self->client_ptr, self->resp.head.content_length);
			if (self->n < self->resp.head.content_length)
				goto done; /* the upstream died mid-body: the client sees a short body and a close */
		} else if (self->resp.head.body == GW_BODY_UNTIL_CLOSE) {
			vk_splice(self->n, self->upstream_ptr, self->client_ptr, SIZE_MAX);
		} else if (self->resp.head.body == GW_BODY_CHUNKED) {
			self->relay = (struct gw_relay){.src_ptr = self->upstream_ptr,
							.dst_ptr = self->client_ptr,
							.limits_ptr = &cfg_ptr->limits,
							.malformed_status = 502,
							.idle_ms = self->response_ms,
							.raw = self->req.head.version_minor == 0};
			vk_call(gw_relay_chunked, &self->relay);
		}
		vk_flush_on(self->client_ptr);
		self->bytes_out =
			self->resp_len + (self->resp.head.body == GW_BODY_CHUNKED ? self->relay.bytes : self->n);
		gw_conn_log_request(self, self->resp.status);
		release_upstream(self, cfg_ptr, self->resp.head.body != GW_BODY_UNTIL_CLOSE);
		gw_conn_upstream_done(self, cfg_ptr, self->resp.status >= 500 ? GW_UPSTREAM_5XX : GW_UPSTREAM_OK);
		if (self->close_after)
			break;
	}
done:
	/* A request cut off mid-body ends here (one that finished was counted already). */
	if (self->stage == GW_CONN_STAGE_REQUEST_BODY || self->stage == GW_CONN_STAGE_RESPONSE_BODY)
		gw_conn_log_request(self, self->stage == GW_CONN_STAGE_RESPONSE_BODY ? self->resp.status : 0);
	gw_conn_upstream_done(self, cfg_ptr, GW_UPSTREAM_ABORTED);
tunnel_done:
	vk_deadline_clear();
	vk_flush_on(self->client_ptr);
	vk_end();
}
