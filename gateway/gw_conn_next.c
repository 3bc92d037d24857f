/* gw_conn_next: the attempts at the upstream of one request, and the one
 * place that decides whether it goes to the upstream again (as
 * ngx_http_upstream_next() does in nginx).
 *
 * The request has a deadline: the route's timeout_ms, tightened by a
 * timeout the client asks for (X-Request-Timeout, grpc-timeout,
 * x-envoy-expected-rq-timeout-ms, capped by the route's client_max_ms).
 * It is a limit on the attempts' threads (vk_limit_at: a kernel timer,
 * not a poll): whatever an attempt waits on raises ETIMEDOUT when it
 * passes, the attempt's upstream connection is closed, and the client
 * hears 504. What is left of it goes upstream with each attempt.
 *
 * An attempt picks an endpoint (not one tried before, when another is
 * available), takes a connection (kept, new, or after a wait in line),
 * sends the request and reads the response head, under its per-try
 * timeout; it carries its failure back as a value (a termination code,
 * gw_term.h, and a cause), never as a raise. The decision is asked when
 * an attempt ended without a response head to relay (the cause says why)
 * and when a response filter asks for another attempt (gw_exchange_retry).
 * It reads a struct of inputs only (gw_conn_next_decide); a retry it
 * allows must then fit the upstream's retry budget, and its backoff (or
 * the upstream's Retry-After) must end before the deadline. Giving up
 * leaves the answer as it stands: the error the attempt's termination
 * code names, or the response the filters saw. */
#include "gw_conn_self.h"
#include "gw_config_s.h"
#include "gw_deadline.h"
#include "gw_exchange.h"
#include "gw_pipeline.h"
#include "gw_random.h"
#include "gw_stats.h"
#include "gw_tls_stream.h"

#include "vk_coro.h"
#include "vk_proc_local.h"
#include "vk_socket.h"
#include "vk_vectoring.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NS_PER_MS 1000000ull
/* A race's waits end when either side does (it notifies); this bounds
 * them only as a guard. */
#define RACE_GUARD_MS 1000

/* ---- the deadline ---- */

static uint64_t earliest(uint64_t a_ns, uint64_t b_ns)
{
	return !a_ns ? b_ns : !b_ns ? a_ns : a_ns < b_ns ? a_ns : b_ns;
}

/* A gRPC request: Content-Type application/grpc, alone or with a
 * subtype (+proto, +json), and gRPC-Web's application/grpc-web(-text). */
static int grpc_content_type(const char *value, size_t len)
{
	static const char grpc[] = "application/grpc";
	size_t n = sizeof(grpc) - 1;

	if (len < n || strncasecmp(value, grpc, n) != 0)
		return 0;
	if (len >= n + 4 && strncasecmp(value + n, "-web", 4) == 0)
		n += 4;
	return len == n || value[n] == '+' || value[n] == ';' || value[n] == '-';
}

/* The shortest timeout the client asks for in ns (0: none), and whether
 * the request is gRPC. A value that does not parse is ignored, and the
 * access log says so. */
static uint64_t client_timeout(struct gw_conn_self *self)
{
	uint64_t asked = 0, ns;
	int rc;

	for (uint32_t i = 0; i < self->req.head.field_count; i++) {
		const struct gw_http_field *f_ptr = &self->req.head.fields[i];
		const char *value = span(self->head_ptr, f_ptr->value);

		switch (f_ptr->kind) {
		case GW_FIELD_CONTENT_TYPE:
			self->grpc = grpc_content_type(value, f_ptr->value.len);
			continue;
		case GW_FIELD_X_REQUEST_TIMEOUT:
		case GW_FIELD_ENVOY_EXPECTED_TIMEOUT:
			rc = gw_deadline_parse_ms(value, f_ptr->value.len, &ns);
			break;
		case GW_FIELD_GRPC_TIMEOUT:
			rc = gw_deadline_parse_grpc(value, f_ptr->value.len, &ns);
			break;
		default:
			continue;
		}
		if (rc == -1)
			self->deadline_ignored = 1;
		else if (!asked || ns < asked)
			asked = ns ? ns : 1;
	}
	return asked;
}

/* The request's deadline, from when the gateway has the whole request
 * (its head, the request filters done, a body they kept; a body that
 * streams: once it has gone, request_sent): the route's timeout, or the
 * client's when that is shorter; without a route timeout, the client's
 * up to client_max_ms. */
static void deadline_begin(struct gw_conn_self *self)
{
	const struct gw_route_deadline *config_ptr = &self->route_ptr->action.proxy.deadline;
	uint64_t budget = (uint64_t)config_ptr->timeout_ms * NS_PER_MS, asked;

	self->grpc = 0;
	self->deadline_ignored = 0;
	self->retry_refused = NULL;
	self->tried_mask = 0;
	self->try_count = 0;
	self->backoff_ns = 0;
	self->retry_counted = 0;
	asked = client_timeout(self);
	if (asked && config_ptr->client_max_ms)
		budget = budget ? earliest(budget, asked)
				: earliest(asked, (uint64_t)config_ptr->client_max_ms * NS_PER_MS);
	self->deadline_budget_ns = budget;
	self->deadline_ns = budget ? vk_sys_now_ns() + budget : 0;
}

/* A body that streamed from the client has gone: the request is whole
 * now, and its deadline and this try's timeout count from here (its
 * upload was the body timeouts' to bound, not theirs). */
static void request_sent(struct gw_conn_self *self)
{
	const struct gw_retry_policy *policy_ptr = gw_exchange_retry_policy(&self->exchange);
	uint64_t now = vk_sys_now_ns();

	if (self->deadline_budget_ns)
		self->deadline_ns = now + self->deadline_budget_ns;
	if (self->try_end_ns)
		self->try_end_ns = now + policy_ptr->per_try_ms * NS_PER_MS;
}

/* An attempt starts: its per-try timeout. */
static void try_begin(struct gw_conn_self *self)
{
	const struct gw_retry_policy *policy_ptr = gw_exchange_retry_policy(&self->exchange);
	uint64_t now = vk_sys_now_ns();

	self->try_started_ns = now;
	self->try_end_ns = policy_ptr && policy_ptr->per_try_ms ? now + policy_ptr->per_try_ms * NS_PER_MS : 0;
}

/* As the request head goes: what is left of the deadline (or of the try,
 * when that ends first) for the upstream, less the route's offset; 0:
 * no deadline. */
static void upstream_left_update(struct gw_conn_self *self)
{
	uint64_t now = vk_sys_now_ns(), end = earliest(self->deadline_ns, self->try_end_ns);
	uint64_t offset = (uint64_t)self->route_ptr->action.proxy.deadline.offset_ms * NS_PER_MS;

	self->upstream_left_ns = !end ? 0 : end > now + offset ? end - now - offset : 1;
}

/* An attempt (this request's, or a hedge's `leg_ptr`) ended: what the
 * access log says of it. */
static void try_record(struct gw_conn_self *self, const struct gw_conn_self *leg_ptr, int hedge)
{
	struct gw_conn_try *try_ptr;
	uint64_t us = (vk_sys_now_ns() - leg_ptr->try_started_ns) / 1000u;

	if (self->try_count >= GW_EXCHANGE_ATTEMPTS_MAX)
		return;
	try_ptr = &self->tries[self->try_count++];
	try_ptr->endpoint = leg_ptr->upstream_index >= 0 ? leg_ptr->pick.name : NULL;
	try_ptr->us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	try_ptr->status = leg_ptr->next_cause != GW_NEXT_CAUSE_NONE  ? 0
			  : leg_ptr->req.method == GW_METHOD_CONNECT ? 200 /* the tunnel is open */
								     : leg_ptr->resp.status;
	try_ptr->cause = leg_ptr->term.cause;
	try_ptr->stage = leg_ptr->term.stage;
	try_ptr->hedge = (uint8_t)hedge;
	try_ptr->cancelled = (uint8_t)leg_ptr->leg_cancelled;
}

/* The retry counted in flight for the budget is over. */
static void retry_settle(struct gw_conn_self *self)
{
	if (self->retry_counted)
		gw_stats_retry_ended(self->retry_stats_upstream);
	self->retry_counted = 0;
}

/* A timeout that was the deadline's or the try's: the client hears 504
 * either way, and the cause says which. */
static enum gw_conn_next_cause timed_cause(struct gw_conn_self *self, enum gw_conn_next_cause cause)
{
	uint64_t now = vk_sys_now_ns();

	if (self->deadline_ns && now >= self->deadline_ns) {
		self->term = (struct gw_term){
			.cause = 's', .stage = self->term.stage, .status = 504, .reason = "deadline exceeded"};
		return GW_NEXT_CAUSE_DEADLINE;
	}
	if (self->try_end_ns && now >= self->try_end_ns) {
		self->term = (struct gw_term){
			.cause = 's', .stage = self->term.stage, .status = 504, .reason = "per-try timeout"};
		return GW_NEXT_CAUSE_TRY_TIMEOUT;
	}
	return cause;
}

/* ---- the attempts ---- */

/* The exchange on the upstream connection is over. It goes back for any
 * request of this kernel when `whole` (nothing of the response is left to
 * read) and the upstream keeps it alive, unless bytes nobody asked for
 * are waiting (vk_socket_detach_fd refuses); else it closes. */
void gw_conn_release_upstream(struct gw_conn_self *self, int whole)
{
	const struct gw_conn_config *cfg_ptr = self->cfg_ptr;
	/* The stream of an earlier request's TLS upstream stays allocated:
	 * what counts is whether this connection speaks TLS. */
	struct gw_tls_stream *tls_ptr = self->pick.tls_ptr ? self->upstream_tls_ptr : NULL;
	int fd;

	if (whole && self->resp.head.keep_alive && (!tls_ptr || gw_tls_stream_quiet(tls_ptr)) &&
	    (fd = vk_socket_detach_fd(self->upstream_ptr)) >= 0)
		cfg_ptr->upstream_ops.keep(cfg_ptr->upstream_ops.ctx_ptr, self->upstream_index, &self->pick, fd,
					   tls_ptr ? gw_tls_stream_keep(tls_ptr) : NULL);
	else
		gw_conn_close_upstream(self);
}

void gw_conn_close_upstream(struct gw_conn_self *self)
{
	if (self->upstream_tls_ptr && !vk_sys_faulted())
		gw_tls_stream_end(self->upstream_tls_ptr);
	vk_socket_close(self->upstream_ptr);
}

/* TLS on the upstream connection just taken: a new handshake's stream
 * on a fresh connection, the kept state on a kept one. The stream is
 * made the first time (the micro-heap keeps it). 0, or -1 (no memory). */
static int upstream_tls_begin(struct gw_conn_self *self, struct vk_proc_local *proc_local_ptr)
{
	if (!self->upstream_tls_ptr) {
		self->upstream_tls_ptr = vk_proc_local_alloc(proc_local_ptr, gw_tls_stream_size());
		if (!self->upstream_tls_ptr) {
			/* A kept connection's state has nowhere to go. */
			gw_tls_stream_discard(self->reused ? self->upstream_tls_kept_ptr : NULL);
			self->upstream_tls_kept_ptr = NULL;
			return -1;
		}
	}
	if (self->reused) {
		gw_tls_stream_resume(self->upstream_tls_ptr, self->pick.tls_ptr, self->pick.endpoint,
				     self->upstream_tls_kept_ptr, self->upstream_ptr);
		self->upstream_tls_kept_ptr = NULL;
		return 0;
	}
	return gw_tls_stream_connect(self->upstream_tls_ptr, self->pick.tls_ptr, self->pick.endpoint,
				     self->upstream_ptr);
}

/* A handshake with the upstream that failed is a 502 whose body says why
 * (a certificate that did not verify, say), in the termination code of a
 * failed connect. */
static void upstream_tls_failed(struct gw_conn_self *self)
{
	const char *failure;

	if (self->stage != GW_CONN_STAGE_CONNECT || !self->upstream_tls_ptr || self->term.cause ||
	    !gw_tls_stream_running(self->upstream_tls_ptr))
		return;
	failure = gw_tls_stream_failure(self->upstream_tls_ptr);
	if (failure[0])
		self->term = (struct gw_term){.cause = 'S', .stage = 'C', .status = 502, .reason = failure};
}

/* An attempt starts: an endpoint, picked afresh (admission may refuse). */
static void attempt_pick(struct gw_conn_self *self)
{
	int status;

	self->stage = GW_CONN_STAGE_QUEUE;
	self->term = (struct gw_term){0};
	self->next_cause = GW_NEXT_CAUSE_NONE;
	self->retried = 0;
	self->response_filtered = 0;
	status = gw_conn_pick_upstream(self, self->cfg_ptr);
	if (status) {
		if (!self->try_count)
			self->upstream_ns = 0; /* this request reached no endpoint */
		self->term.cause = 'A';
		self->term.stage = 'Q';
		self->term.status = (uint16_t)status;
		self->next_cause = GW_NEXT_CAUSE_REFUSED;
		return;
	}
	if (!self->upstream_ns)
		self->upstream_ns = vk_sys_coarse_now_ns(); /* upstream_ms counts from the first attempt */
}

/* What the decision reads of a failed attempt, from its termination code. */
static enum gw_conn_next_cause attempt_cause(const struct gw_conn_self *self, int error)
{
	switch (self->term.cause) {
	case 'C':
	case 'c':
	case 'B':
		return GW_NEXT_CAUSE_CLIENT;
	case 'I':
	case 'R':
		return self->term.stage == 'Q' ? GW_NEXT_CAUSE_QUEUE : GW_NEXT_CAUSE_INTERNAL;
	case 'A':
		return GW_NEXT_CAUSE_QUEUE;
	default:
		break;
	}
	if (self->term.stage == 'C')
		return self->term.cause == 's' ? GW_NEXT_CAUSE_CONNECT_TIMEOUT : GW_NEXT_CAUSE_CONNECT_FAILED;
	if (self->term.cause == 'S' && self->reused && !self->response_started &&
	    (error == ECONNRESET || error == EPIPE || error == ECONNABORTED))
		return GW_NEXT_CAUSE_KEPT_CLOSED;
	if (self->term.stage == 'B')
		return GW_NEXT_CAUSE_SEND_FAILED;
	return self->term.cause == 's' ? GW_NEXT_CAUSE_RESPONSE_TIMEOUT : GW_NEXT_CAUSE_RESPONSE_INVALID;
}

/* A connection for the picked endpoint: kept, new, or after a wait in
 * line (max_connections), for at most connect_ms. */
static int take_connection(struct gw_conn_self *self)
{
	const struct gw_conn_config *cfg_ptr = self->cfg_ptr;

	return cfg_ptr->upstream_ops.connection(cfg_ptr->upstream_ops.ctx_ptr, self->upstream_index, &self->pick,
						self->retried || self->req.method == GW_METHOD_CONNECT,
						&self->upstream_fd, &self->upstream_tls_kept_ptr, &self->term.reason);
}

/* The request body after the head: the kept one, or streamed from the
 * client (told to go on first, RFC 9110 10.1.1). */
static void send_body(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	const struct gw_conn_config *cfg_ptr = conn_ptr->cfg_ptr;

	vk_begin_stateless();
	/* An upstream that stops reading, or a client that stops sending,
	 * does not hold it for ever. */
	vk_idle_timeout(cfg_ptr->body_idle_ms);
	if (conn_ptr->exchange.body_kept) {
		vk_write_on(conn_ptr->upstream_ptr, conn_ptr->body_ptr, conn_ptr->body_len);
	} else {
		/* the client's pace: body_idle_ms bounds it, the deadline counts
		 * from its end (request_sent) */
		vk_limit_at(0);
		if (expects_continue(conn_ptr)) {
			GW_WRITE_LITERAL(conn_ptr->client_ptr, "HTTP/1.1 100 Continue\r\n\r\n");
			vk_flush_on(conn_ptr->client_ptr);
		}
		if (conn_ptr->req.head.body == GW_BODY_LENGTH) {
			vk_splice(conn_ptr->n, conn_ptr->client_ptr, conn_ptr->upstream_ptr,
				  conn_ptr->req.head.content_length);
			conn_ptr->bytes_in += conn_ptr->n;
			if (conn_ptr->n < conn_ptr->req.head.content_length)
				vk_raise(ECONNRESET); /* the client left mid-body */
		} else {
			conn_ptr->relay = (struct gw_relay){.src_ptr = conn_ptr->client_ptr,
							    .dst_ptr = conn_ptr->upstream_ptr,
							    .limits_ptr = &cfg_ptr->limits,
							    .malformed_status = 400,
							    .idle_ms = cfg_ptr->body_idle_ms};
			vk_call(gw_relay_chunked, &conn_ptr->relay);
			conn_ptr->bytes_in += conn_ptr->relay.bytes;
		}
	}
	vk_end();
}

static int has_body_to_send(const struct gw_conn_self *self)
{
	return self->exchange.body_kept
		       ? self->body_len > 0
		       : self->req.head.body == GW_BODY_CHUNKED ||
				 (self->req.head.body == GW_BODY_LENGTH && self->req.head.content_length > 0);
}

/* The request head for the upstream, queued on its socket or in the head
 * buffer: GW_CONN_HEAD_TOO_LARGE with the termination code set when it
 * does not fit. */
static enum gw_conn_head_where request_head_written(struct gw_conn_self *self)
{
	enum gw_conn_head_where where = gw_conn_head_out(self, self->upstream_ptr, gw_conn_write_request_head);

	if (where == GW_CONN_HEAD_TOO_LARGE)
		self->term =
			(struct gw_term){.cause = 'I', .stage = 'B', .reason = "request head too large to forward"};
	return where;
}

/* The response head is parsed where it lies in the upstream's ring, and
 * only the head is copied out (to the buffer the exchange and the head
 * writer read): the body stays in the ring for the relay. Held bytes that
 * wrap around the ring's end are parsed from a copy instead, and a head
 * longer than the ring is taken out of it as it comes (resp_taken bytes so
 * far). */
static int response_head_parsed(struct gw_conn_self *self)
{
	const struct gw_http_limits *limits_ptr = &self->cfg_ptr->limits;
	struct vk_socket *upstream_ptr = self->upstream_ptr;
	size_t held = vk_socket_rx_held(upstream_ptr), len;
	const char *head_ptr = vk_socket_rx_view(upstream_ptr, &len);
	int rc;

	if (self->resp_taken || len < held) {
		len = held < limits_ptr->max_head_bytes - self->resp_taken
			      ? held
			      : limits_ptr->max_head_bytes - self->resp_taken;
		vk_vectoring_peek(vk_socket_rx(upstream_ptr), self->resp_ptr + self->resp_taken, len);
		head_ptr = self->resp_ptr;
		len += self->resp_taken;
	} else if (len > limits_ptr->max_head_bytes) {
		len = limits_ptr->max_head_bytes;
	}
	self->resp_len = len;
	rc = gw_http_parse_response(&self->resp, head_ptr, len, limits_ptr, self->req.method == GW_METHOD_HEAD);
	if (rc > 0) {
		if (head_ptr != self->resp_ptr)
			memcpy(self->resp_ptr, head_ptr, (size_t)rc);
		vk_socket_rx_drop(upstream_ptr, (size_t)rc - self->resp_taken);
		self->resp_len = (size_t)rc;
	} else if (rc == 0 && vk_vectoring_is_full(vk_socket_rx(upstream_ptr))) {
		if (head_ptr != self->resp_ptr)
			memcpy(self->resp_ptr, head_ptr, len);
		vk_socket_rx_drop(upstream_ptr, len - self->resp_taken);
		self->resp_taken = len;
	}
	return rc;
}

/* A response head starts: nothing of it held yet. */
static void response_head_begin(struct gw_conn_self *self)
{
	gw_http_response_init(&self->resp);
	self->resp_len = 0;
	self->resp_taken = 0;
	self->rc = 0;
}

/* After a wait for more of the head: 0 when nothing new came (the
 * upstream ended), else the head parsed again with what did. */
static int response_head_more(struct gw_conn_self *self)
{
	if (vk_socket_rx_held(self->upstream_ptr) <= self->resp_len - self->resp_taken)
		return 0;
	self->response_started = 1;
	self->rc = response_head_parsed(self);
	return 1;
}

/* The last parse gave the head to relay: whole, and not an interim one. */
static int response_head_final(const struct gw_conn_self *self)
{
	return self->rc > 0 && (self->resp.status >= 200 || self->resp.status == 101);
}

/* The rest of a response head whose first bytes the attempt parsed
 * (conn_ptr->rc says how that went): more of a partial head, the heads
 * after interim ones (100 was answered here), under the caller's response
 * deadline. An end before a whole head, or a head the codec refuses,
 * raises. */
static void read_response_head(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	const struct gw_http_limits *limits_ptr = &conn_ptr->cfg_ptr->limits;

	vk_begin_stateless();
	while (!response_head_final(conn_ptr)) {
		if (conn_ptr->rc > 0)
			response_head_begin(conn_ptr); /* after an interim head, the next */
		else if (conn_ptr->rc < 0 || conn_ptr->resp_len == limits_ptr->max_head_bytes)
			vk_raise(EPROTO);
		/* Bytes held in the ring and not yet parsed over, or the end. */
		vk_wait_more_on(conn_ptr->upstream_ptr, conn_ptr->resp_len - conn_ptr->resp_taken);
		if (!response_head_more(conn_ptr))
			vk_raise(ECONNRESET);
	}
	vk_end();
}

/* One attempt at the upstream, from taking a connection to a whole
 * response head (after the interim ones). A failure is recorded as a
 * termination code and a cause for gw_conn_upstream_next, not raised. */
static void attempt(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	const struct gw_conn_config *cfg_ptr = conn_ptr->cfg_ptr;

	vk_begin_stateless();
	vk_catch
	{
		/* A fault is not the upstream's: it ends the connection. */
		if (vk_sys_faulted()) {
			retry_settle(conn_ptr);
			vk_raise(EFAULT);
		}
		upstream_tls_failed(conn_ptr);
		gw_conn_close_upstream(conn_ptr);
		gw_conn_term_from_error(conn_ptr, vk_error());
		conn_ptr->next_cause = attempt_cause(conn_ptr, vk_error());
		if (vk_error() == ETIMEDOUT)
			conn_ptr->next_cause = timed_cause(conn_ptr, conn_ptr->next_cause);
		vk_clear_error();
	}
	/* Nothing this attempt waits on outlasts the request's deadline or
	 * its own per-try timeout. */
	vk_limit_at(earliest(conn_ptr->deadline_ns, conn_ptr->try_end_ns));
	conn_ptr->stage = GW_CONN_STAGE_QUEUE;
	conn_ptr->response_started = 0;
	conn_ptr->attempt_sent = 0;
	conn_ptr->wait_until_ns = earliest(vk_sys_now_ns() + conn_ptr->connect_ms * NS_PER_MS, that->limit_ns);
	while ((conn_ptr->rc = take_connection(conn_ptr)) == GW_UPSTREAM_WAIT) {
		if (vk_sys_now_ns() >= conn_ptr->wait_until_ns || conn_ptr->leg_cancelled) {
			cfg_ptr->upstream_ops.stop_waiting(cfg_ptr->upstream_ops.ctx_ptr, conn_ptr->upstream_index);
			vk_raise(ETIMEDOUT);
		}
		vk_wait_notified((conn_ptr->wait_until_ns - vk_sys_now_ns()) / NS_PER_MS + 1);
	}
	if (conn_ptr->rc == GW_UPSTREAM_REFUSED)
		vk_raise(EPROTO);
	vk_socket_attach_fd(conn_ptr->upstream_ptr, conn_ptr->upstream_fd);
	/* a race lost while this side waited for a connection: it goes back
	 * closed (the catch), never used */
	if (conn_ptr->leg_cancelled)
		vk_raise(ECANCELED);
	conn_ptr->reused = conn_ptr->rc == GW_UPSTREAM_KEPT;
	if (conn_ptr->reused) {
		if (conn_ptr->pick.tls_ptr && upstream_tls_begin(conn_ptr, vk_thread_proc_local(that)) == -1)
			vk_raise(ENOMEM);
		/* A kept connection was found quiet when taken, and its upstream
		 * says nothing before it is asked: no read until the poller
		 * reports one. */
		vk_socket_assume_drained(conn_ptr->upstream_ptr);
	} else {
		conn_ptr->stage = GW_CONN_STAGE_CONNECT;
		/* connect_ms bounds the TCP connect and the TLS handshake
		 * together. */
		vk_deadline(conn_ptr->connect_ms);
		vk_connect(conn_ptr->upstream_ptr, conn_ptr->pick.addr_ptr, conn_ptr->pick.addr_len);
		if (conn_ptr->pick.tls_ptr) {
			if (upstream_tls_begin(conn_ptr, vk_thread_proc_local(that)) == -1)
				vk_raise(ENOMEM);
			vk_handshake_on(conn_ptr->upstream_ptr);
		}
		vk_deadline_clear();
	}
	conn_ptr->stage = GW_CONN_STAGE_REQUEST_BODY;
	conn_ptr->attempts_sent++;
	conn_ptr->attempt_sent = 1;
	/* CONNECT: the upstream is reached, the tunnel is the rest. */
	if (conn_ptr->req.method != GW_METHOD_CONNECT) {
		upstream_left_update(conn_ptr);
		conn_ptr->rc = request_head_written(conn_ptr);
		if (conn_ptr->rc == GW_CONN_HEAD_TOO_LARGE)
			vk_raise(ENOBUFS);
		if (conn_ptr->rc == GW_CONN_HEAD_BUFFERED)
			vk_write_on(conn_ptr->upstream_ptr, conn_ptr->out_ptr, conn_ptr->out.len);
		if (has_body_to_send(conn_ptr) || expects_continue(conn_ptr)) {
			vk_call(send_body, conn_ptr);
			if (!conn_ptr->exchange.body_kept) {
				request_sent(conn_ptr);
				vk_limit_at(earliest(conn_ptr->deadline_ns, conn_ptr->try_end_ns));
			}
		}
		vk_flush_on(conn_ptr->upstream_ptr);
		conn_ptr->stage = GW_CONN_STAGE_RESPONSE_HEAD;
		vk_deadline(conn_ptr->response_ms);
		/* Most heads come whole in the first read: parsed here, with no
		 * thread; the rest, and interim heads, in read_response_head. */
		response_head_begin(conn_ptr);
		vk_sys_hot_select(GW_CONN_HOT_RESPONSE);
		vk_wait_more_on(conn_ptr->upstream_ptr, 0);
		if (!response_head_more(conn_ptr))
			vk_raise(ECONNRESET);
		if (!response_head_final(conn_ptr))
			vk_call(read_response_head, conn_ptr);
		vk_deadline_clear();
	}
	vk_end();
}

/* The response filters see the upstream's head, or the gateway's own
 * error when the attempt failed after the request filters let it pass. */
static int response_filters_apply(struct gw_conn_self *self)
{
	if (!self->exchange.stages_passed)
		return 0;
	if (self->next_cause == GW_NEXT_CAUSE_NONE) {
		gw_exchange_set_response(&self->exchange, &self->resp, self->resp_ptr);
		return self->req.method != GW_METHOD_CONNECT;
	}
	self->exchange.response_status = gw_term_answer_status(&self->term);
	return self->exchange.response_status != 0;
}

/* The dropped answer's body is all in the ring already (a short error
 * page comes with its head): dropped too, so the connection may go back
 * for reuse instead of closing (a retry storm would otherwise open a
 * connection per retry). 1 when nothing of the response is left. */
static int body_dropped(struct gw_conn_self *self)
{
	uint64_t length = self->resp.head.content_length;

	if (self->resp.head.body == GW_BODY_NONE)
		return 1;
	if (self->resp.head.body != GW_BODY_LENGTH || length > vk_socket_rx_held(self->upstream_ptr))
		return 0;
	vk_socket_rx_drop(self->upstream_ptr, (size_t)length);
	return 1;
}

/* A filter asked for another attempt and the decision says go: this
 * answer is dropped. A response with a body not all here takes its
 * connection with it; one whose body is (or without one) leaves it for
 * reuse. */
static void attempt_dropped(struct gw_conn_self *self)
{
	if (self->next_cause == GW_NEXT_CAUSE_NONE) {
		gw_conn_release_upstream(self, body_dropped(self));
		gw_conn_upstream_done(self, self->cfg_ptr, self->resp.status >= 500 ? GW_UPSTREAM_5XX : GW_UPSTREAM_OK);
	} else {
		gw_conn_upstream_done(self, self->cfg_ptr,
				      self->term.stage == 'C' ? GW_UPSTREAM_CONNECT_FAILURE : GW_UPSTREAM_ABORTED);
	}
	gw_exchange_next_attempt(&self->exchange);
}

/* A failed attempt the decision sends to another endpoint: the one it
 * had is done with (its verdict given), the exchange starts over. */
static void attempt_failed_over(struct gw_conn_self *self)
{
	gw_conn_upstream_done(self, self->cfg_ptr,
			      self->term.stage == 'C' ? GW_UPSTREAM_CONNECT_FAILURE : GW_UPSTREAM_ABORTED);
	gw_exchange_next_attempt(&self->exchange);
}

/* Before an attempt: an endpoint picked afresh, or the same one again on
 * a new connection; its per-try timeout. A deadline already past ends
 * the request before anything goes upstream. */
static void attempt_prepare(struct gw_conn_self *self)
{
	self->hedge_won = 0;
	if (self->deadline_ns && vk_sys_now_ns() >= self->deadline_ns) {
		self->term = (struct gw_term){.stage = 'Q'};
		self->next_cause = timed_cause(self, GW_NEXT_CAUSE_NONE);
		return;
	}
	if (self->next == GW_NEXT_PICK_AGAIN)
		attempt_pick(self);
	else
		self->retried = 1;
	try_begin(self);
}

/* After it: recorded, and the decision on what follows. */
static void attempt_conclude(struct gw_conn_self *self)
{
	if (self->upstream_index >= 0) {
		self->tried_mask |= 1ull << ((unsigned)self->pick.endpoint % 64);
		if (self->next_cause == GW_NEXT_CAUSE_NONE)
			gw_stats_response_head_time(self->pick.stats_upstream,
						    (vk_sys_now_ns() - self->try_started_ns) / 1000u);
	}
	try_record(self, self, self->hedge_won);
	retry_settle(self);
	self->next = gw_conn_upstream_next(self, self->next_cause);
}

/* ---- hedging ---- */

/* A hedge may race this attempt: the policy asks for one, and the request
 * is safe to send twice (idempotent, or with an Idempotency-Key) and can
 * be (no body, or one kept whole); never a tunnel. */
static int hedge_wanted(const struct gw_conn_self *self)
{
	const struct gw_retry_policy *policy_ptr = gw_exchange_retry_policy(&self->exchange);
	const char *key;
	size_t key_len;

	return policy_ptr && policy_ptr->hedge_delay_ms && self->req.method != GW_METHOD_CONNECT &&
	       !self->req.head.upgrade && gw_exchange_replayable(&self->exchange) &&
	       (gw_http_method_idempotent(self->req.method) ||
		gw_exchange_request_header(&self->exchange, "idempotency-key", &key, &key_len));
}

/* How long the first attempt has before a hedge: the policy's delay, or
 * the p95 of the upstream's recent response heads in this kernel. */
static uint64_t hedge_delay_ns(const struct gw_conn_self *self)
{
	const struct gw_retry_policy *policy_ptr = gw_exchange_retry_policy(&self->exchange);
	uint64_t p95_us = policy_ptr->hedge_p95 ? gw_stats_response_head_p95_us(self->pick.stats_upstream) : 0;

	return p95_us ? p95_us * 1000u : (uint64_t)policy_ptr->hedge_delay_ms * NS_PER_MS;
}

/* The hedge's state: the connection's (the request, its route, its
 * exchange), on its own socket and buffers, made the first time. NULL
 * without room. */
static struct gw_conn_self *hedge_leg(struct gw_conn_self *self, struct vk_proc_local *pl_ptr)
{
	struct gw_conn_self *leg_ptr = self->hedge_ptr;
	size_t head_bytes = self->cfg_ptr->limits.max_head_bytes, ring_bytes = self->cfg_ptr->ring_bytes;
	struct gw_conn_self kept;
	char *block;

	if (!leg_ptr) {
		leg_ptr = vk_proc_local_alloc(pl_ptr, sizeof(*leg_ptr));
		block = leg_ptr ? vk_proc_local_alloc_raw(pl_ptr, vk_socket_size() + head_bytes + self->out_cap +
									  2 * ring_bytes)
				: NULL;
		if (!block)
			return NULL;
		leg_ptr->upstream_ptr = (struct vk_socket *)block;
		leg_ptr->resp_ptr = block + vk_socket_size();
		leg_ptr->out_ptr = leg_ptr->resp_ptr + head_bytes;
		vk_socket_init(leg_ptr->upstream_ptr, pl_ptr, leg_ptr->out_ptr + self->out_cap, ring_bytes,
			       leg_ptr->out_ptr + self->out_cap + ring_bytes, ring_bytes);
		leg_ptr->upstream_tls_ptr = NULL;
		self->hedge_ptr = leg_ptr;
	}
	/* Its own: the socket, the buffers, the TLS stream. */
	kept.upstream_ptr = leg_ptr->upstream_ptr;
	kept.resp_ptr = leg_ptr->resp_ptr;
	kept.out_ptr = leg_ptr->out_ptr;
	kept.upstream_tls_ptr = leg_ptr->upstream_tls_ptr;
	memcpy(leg_ptr, self, sizeof(*leg_ptr));
	leg_ptr->upstream_ptr = kept.upstream_ptr;
	leg_ptr->resp_ptr = kept.resp_ptr;
	leg_ptr->out_ptr = kept.out_ptr;
	leg_ptr->upstream_tls_ptr = kept.upstream_tls_ptr;
	leg_ptr->hedge_ptr = NULL;
	leg_ptr->retry_counted = 0;
	leg_ptr->leg_cancelled = 0;
	return leg_ptr;
}

/* A hedge starts, when the budget allows one, on an endpoint other than
 * the first attempt's: 0, or -1 (the first attempt goes on alone). */
static int hedge_start(struct gw_conn_self *self, struct vk_proc_local *pl_ptr)
{
	const struct gw_config_upstream *up_ptr =
		&self->cfg_ptr->config_ptr->upstreams_ptr[self->route_ptr->action.proxy.upstream_index];
	uint64_t now = vk_sys_now_ns();
	int stats_upstream = gw_stats_upstream_slot(up_ptr);
	struct gw_conn_self *leg_ptr;

	/* Still in line for a pooled connection: a hedge would only take the
	 * first attempt's place (the line is the process's), or wait behind it. */
	if (self->stage == GW_CONN_STAGE_QUEUE)
		return -1;
	if (up_ptr->retry_budget.enabled && !gw_stats_retry_budget_allows(stats_upstream, up_ptr->retry_budget.percent,
									  up_ptr->retry_budget.min_per_second, now)) {
		gw_stats_retry_budget_refused(stats_upstream);
		return -1;
	}
	leg_ptr = hedge_leg(self, pl_ptr);
	if (!leg_ptr)
		return -1;
	leg_ptr->tried_mask |= 1ull << ((unsigned)self->pick.endpoint % 64);
	leg_ptr->next = GW_NEXT_PICK_AGAIN;
	attempt_pick(leg_ptr);
	if (leg_ptr->next_cause != GW_NEXT_CAUSE_NONE)
		return -1; /* refused: nothing was picked */
	if (leg_ptr->pick.endpoint == self->pick.endpoint) {
		gw_conn_upstream_done(leg_ptr, leg_ptr->cfg_ptr, GW_UPSTREAM_ABORTED);
		return -1; /* no other endpoint available */
	}
	try_begin(leg_ptr);
	gw_stats_hedge_started(stats_upstream, now);
	leg_ptr->retry_counted = 1;
	leg_ptr->retry_stats_upstream = stats_upstream;
	leg_ptr->leg_running = 1;
	self->hedging = 1;
	return 0;
}

/* No thread for the hedge: what hedge_start took is given back. */
static void hedge_undo(struct gw_conn_self *self)
{
	struct gw_conn_self *leg_ptr = self->hedge_ptr;

	retry_settle(leg_ptr);
	gw_conn_upstream_done(leg_ptr, leg_ptr->cfg_ptr, GW_UPSTREAM_ABORTED);
	leg_ptr->leg_running = 0;
	self->hedging = 0;
}

/* One side of a race, in a thread of its own: the attempt, then word to
 * the race that it ended. */
static void race_leg(struct vk_thread *that)
{
	struct gw_conn_self *leg_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	vk_catch
	{
		/* A fault (the attempt handles every other error): the race
		 * ends the connection once the other side has stopped. */
		leg_ptr->leg_faulted = 1;
		leg_ptr->leg_running = 0;
		vk_sys_notify(vk_sys_self());
	}
	vk_call(attempt, leg_ptr);
	leg_ptr->leg_running = 0;
	vk_sys_notify(vk_sys_self());
	vk_end();
}

static int has_head(const struct gw_conn_self *leg_ptr)
{
	return !leg_ptr->leg_running && !leg_ptr->leg_faulted && leg_ptr->next_cause == GW_NEXT_CAUSE_NONE;
}

/* The race is decided: a response head came (the first attempt's is
 * looked at first), or both attempts failed. */
static int race_decided(const struct gw_conn_self *self)
{
	const struct gw_conn_self *hedge_ptr = self->hedging ? self->hedge_ptr : NULL;

	if (has_head(self) || (hedge_ptr && has_head(hedge_ptr)) || self->leg_faulted ||
	    (hedge_ptr && hedge_ptr->leg_faulted))
		return 1;
	return !self->leg_running && (!hedge_ptr || !hedge_ptr->leg_running);
}

/* The side that lost gives up: its connection is shut under it, so the
 * thread wakes to the end wherever it waits (a wait for a pooled
 * connection looks at leg_cancelled). */
static void race_cancel(struct gw_conn_self *self)
{
	struct gw_conn_self *loser_ptr;

	if (self->leg_faulted || self->hedge_ptr->leg_faulted) {
		/* the side still running stops: the fault ends the connection */
		loser_ptr = self->leg_faulted ? self->hedge_ptr : self;
	} else {
		self->hedge_won = !has_head(self) && has_head(self->hedge_ptr);
		loser_ptr = self->hedge_won ? self : self->hedge_ptr;
	}
	if (!loser_ptr->leg_running)
		return;
	loser_ptr->leg_cancelled = 1;
	if (!vk_socket_is_closed(loser_ptr->upstream_ptr))
		vk_socket_abort(loser_ptr->upstream_ptr);
	vk_sys_notify(vk_sys_self());
}

/* The hedge's state becomes the connection's: it won. The first attempt's
 * socket and buffers become the next hedge's. */
static void hedge_adopt(struct gw_conn_self *self, struct gw_conn_self *leg_ptr)
{
	struct vk_socket *socket_ptr = self->upstream_ptr;
	struct gw_tls_stream *tls_ptr = self->upstream_tls_ptr;
	char *resp_ptr = self->resp_ptr;

	self->upstream_ptr = leg_ptr->upstream_ptr;
	self->upstream_tls_ptr = leg_ptr->upstream_tls_ptr;
	self->resp_ptr = leg_ptr->resp_ptr;
	leg_ptr->upstream_ptr = socket_ptr;
	leg_ptr->upstream_tls_ptr = tls_ptr;
	leg_ptr->resp_ptr = resp_ptr;
	self->resp = leg_ptr->resp;
	self->resp_len = leg_ptr->resp_len;
	self->resp_taken = leg_ptr->resp_taken;
	self->rc = leg_ptr->rc;
	self->pick = leg_ptr->pick;
	self->pick.addr_ptr = (const struct sockaddr *)&self->pick.addr;
	self->upstream_index = leg_ptr->upstream_index;
	self->connect_ms = leg_ptr->connect_ms;
	self->response_ms = leg_ptr->response_ms;
	self->upstream_fd = leg_ptr->upstream_fd;
	self->reused = leg_ptr->reused;
	self->retried = leg_ptr->retried;
	self->response_started = leg_ptr->response_started;
	self->attempt_sent = leg_ptr->attempt_sent;
	self->stage = leg_ptr->stage;
	self->term = leg_ptr->term;
	self->next_cause = leg_ptr->next_cause;
	self->try_started_ns = leg_ptr->try_started_ns;
	self->try_end_ns = leg_ptr->try_end_ns;
	self->upstream_left_ns = leg_ptr->upstream_left_ns;
	self->attempts_sent++;
	leg_ptr->upstream_index = -1;
}

/* An endpoint's verdict on a side that did not win: none when it was
 * cancelled or the deadline cut it (no failure of the endpoint's), a
 * connect failure when its connect failed on its own. */
static enum gw_upstream_outcome side_outcome(const struct gw_conn_self *leg_ptr)
{
	if (leg_ptr->leg_cancelled || leg_ptr->next_cause == GW_NEXT_CAUSE_DEADLINE || leg_ptr->term.stage != 'C')
		return GW_UPSTREAM_ABORTED;
	return GW_UPSTREAM_CONNECT_FAILURE;
}

/* Both sides have ended: the loser's try is recorded, its endpoint given
 * its verdict and its connection closed (a head that came too late is
 * not read), and the winner's state is the connection's. */
static void race_settle(struct gw_conn_self *self)
{
	struct gw_conn_self *hedge_ptr = self->hedge_ptr;
	struct gw_conn_self *loser_ptr = self->hedge_won ? self : hedge_ptr;

	self->hedging = 0;
	self->leg_running = 0;
	hedge_ptr->tried_mask = 0;
	self->tried_mask |= 1ull << ((unsigned)hedge_ptr->pick.endpoint % 64);
	self->tried_mask |= 1ull << ((unsigned)self->pick.endpoint % 64);
	retry_settle(hedge_ptr);
	if (loser_ptr->next_cause == GW_NEXT_CAUSE_NONE) {
		loser_ptr->leg_cancelled = 1;
		gw_conn_close_upstream(loser_ptr);
	}
	if (!self->hedge_won) {
		/* The first attempt's try is recorded after this, by the one
		 * place that decides what follows; the hedge's goes now. */
		try_record(self, hedge_ptr, 1);
		self->attempts_sent += hedge_ptr->attempt_sent;
		gw_conn_upstream_done(hedge_ptr, hedge_ptr->cfg_ptr, side_outcome(hedge_ptr));
		return;
	}
	gw_stats_hedge_won(hedge_ptr->pick.stats_upstream);
	/* The tail the hedge was for: the first attempt's time so far is a
	 * sample of the upstream's too (at least that long). */
	if (self->leg_cancelled)
		gw_stats_response_head_time(self->pick.stats_upstream,
					    (vk_sys_now_ns() - self->try_started_ns) / 1000u);
	try_record(self, self, 0);
	gw_conn_upstream_done(self, self->cfg_ptr, side_outcome(self));
	hedge_adopt(self, hedge_ptr);
	self->leg_cancelled = 0;
}

/* A side faulted: the other is stopped and waited for by the race, then
 * each side's budget is given back, and the fault ends the connection
 * (gw_conn_main answers it). */
static void race_faulted(struct gw_conn_self *self)
{
	retry_settle(self);
	if (self->hedging)
		retry_settle(self->hedge_ptr);
	self->hedging = 0;
	self->leg_running = 0;
}

/* An attempt with a hedge ready: the first attempt runs beside this
 * thread; if no head came by the hedge's delay, a second one races it on
 * another endpoint; the first head wins, and the other side is cancelled
 * and waited for before the winner's state goes on. */
static void race(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	struct vk_thread *leg_thread_ptr;

	vk_begin_stateless();
	conn_ptr->hedging = 0;
	conn_ptr->hedge_won = 0;
	conn_ptr->leg_cancelled = 0;
	conn_ptr->leg_faulted = 0;
	conn_ptr->leg_running = 1;
	vk_spawn(leg_thread_ptr, race_leg, conn_ptr, NULL);
	conn_ptr->hedge_at_ns = vk_sys_now_ns() + hedge_delay_ns(conn_ptr);
	while (conn_ptr->leg_running && vk_sys_now_ns() < conn_ptr->hedge_at_ns)
		vk_wait_notified((conn_ptr->hedge_at_ns - vk_sys_now_ns()) / NS_PER_MS + 1);
	if (conn_ptr->leg_running && hedge_start(conn_ptr, vk_thread_proc_local(that)) == 0 &&
	    !vk_thread_spawn(that, race_leg, conn_ptr->hedge_ptr, NULL))
		hedge_undo(conn_ptr);
	(void)leg_thread_ptr;
	/* Each side's end notifies: these waits are bounded only as a guard
	 * (each side is bounded by the deadline and its own timeouts). */
	while (!race_decided(conn_ptr))
		vk_wait_notified(RACE_GUARD_MS);
	if (conn_ptr->hedging) {
		race_cancel(conn_ptr);
		while (conn_ptr->leg_running || conn_ptr->hedge_ptr->leg_running)
			vk_wait_notified(RACE_GUARD_MS);
		if (!conn_ptr->leg_faulted && !conn_ptr->hedge_ptr->leg_faulted)
			race_settle(conn_ptr);
	}
	if (conn_ptr->leg_faulted || (conn_ptr->hedging && conn_ptr->hedge_ptr->leg_faulted)) {
		race_faulted(conn_ptr);
		vk_raise(EFAULT);
	}
	conn_ptr->leg_running = 0;
	vk_end();
}

/* The wait before the next attempt, taken once, and never past the
 * deadline. */
static uint64_t backoff_ms(struct gw_conn_self *self)
{
	uint64_t wait = self->backoff_ns, now = vk_sys_now_ns();

	self->backoff_ns = 0;
	if (self->deadline_ns && now + wait > self->deadline_ns)
		wait = self->deadline_ns > now ? self->deadline_ns - now : 0;
	return wait / NS_PER_MS;
}

/* The attempts at the upstream, until the one decision says answer: with
 * a response head to relay (the response filters have seen it), or with a
 * termination code (the error the response filters have seen). */
void gw_conn_attempts(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	deadline_begin(conn_ptr);
	for (conn_ptr->next = GW_NEXT_PICK_AGAIN; conn_ptr->next != GW_NEXT_ANSWER;) {
		attempt_prepare(conn_ptr);
		if (conn_ptr->next_cause == GW_NEXT_CAUSE_NONE && hedge_wanted(conn_ptr))
			vk_call(race, conn_ptr);
		else if (conn_ptr->next_cause == GW_NEXT_CAUSE_NONE)
			vk_call(attempt, conn_ptr);
		attempt_conclude(conn_ptr);
		if (conn_ptr->next != GW_NEXT_ANSWER) {
			if (conn_ptr->next == GW_NEXT_PICK_AGAIN)
				attempt_failed_over(conn_ptr);
			conn_ptr->term = (struct gw_term){0};
			conn_ptr->next_cause = GW_NEXT_CAUSE_NONE;
			/* the backoff the decision chose: it ends before the deadline */
			if (conn_ptr->backoff_ns)
				vk_sleep(backoff_ms(conn_ptr));
			continue;
		}
		if (conn_ptr->next_cause == GW_NEXT_CAUSE_DEADLINE)
			gw_stats_deadline_expired(conn_ptr->pick.stats_upstream);
		if (!response_filters_apply(conn_ptr))
			break;
		conn_ptr->response_filtered = 1;
		if (gw_pipeline_run(&conn_ptr->exchange, GW_PHASE_RESPONSE_HEAD) == GW_PIPELINE_WAIT)
			vk_call(gw_pipeline_wait, &conn_ptr->exchange);
		if (conn_ptr->exchange.verdict != GW_VERDICT_RETRY)
			break;
		conn_ptr->next = gw_conn_upstream_next(conn_ptr, GW_NEXT_CAUSE_FILTER_ASKS);
		if (conn_ptr->next == GW_NEXT_PICK_AGAIN) {
			attempt_dropped(conn_ptr);
			if (conn_ptr->backoff_ns)
				vk_sleep(backoff_ms(conn_ptr));
		} else if (gw_pipeline_resume(&conn_ptr->exchange) == GW_PIPELINE_WAIT) {
			vk_call(gw_pipeline_wait, &conn_ptr->exchange);
		}
	}
	conn_ptr->decided_ns = vk_sys_now_ns();
	vk_end();
}

/* ---- the decision ---- */

/* A failure of the attempt that another may not have, by the policy's
 * retry_on; and whether it happened before the request went out. */
static unsigned failure_kind(enum gw_conn_next_cause cause)
{
	switch (cause) {
	case GW_NEXT_CAUSE_QUEUE:
	case GW_NEXT_CAUSE_CONNECT_FAILED:
	case GW_NEXT_CAUSE_CONNECT_TIMEOUT:
		return GW_RETRY_ON_CONNECT_FAILURE;
	case GW_NEXT_CAUSE_KEPT_CLOSED:
	case GW_NEXT_CAUSE_SEND_FAILED:
	case GW_NEXT_CAUSE_RESPONSE_INVALID:
		return GW_RETRY_ON_RESET;
	case GW_NEXT_CAUSE_RESPONSE_TIMEOUT:
	case GW_NEXT_CAUSE_TRY_TIMEOUT:
		return GW_RETRY_ON_TIMEOUT;
	default:
		return 0; /* the deadline, a refusal, the client's or the gateway's own failure */
	}
}

struct gw_conn_next_decision gw_conn_next_decide(const struct gw_conn_next_inputs *in_ptr)
{
	struct gw_conn_next_decision answer = {.action = GW_NEXT_ANSWER};
	struct gw_conn_next_decision again = {.action = GW_NEXT_PICK_AGAIN};
	unsigned kind;

	switch (in_ptr->cause) {
	case GW_NEXT_CAUSE_FILTER_ASKS:
		/* Only what can be sent again, after the upstream answered or
		 * failed (not a refusal before any endpoint was tried, nor the
		 * client's or the gateway's own failure, nor the deadline), with
		 * nothing of the answer gone to the client, within the bound on
		 * attempts. */
		if (!in_ptr->replayable || in_ptr->attempt_cause == GW_NEXT_CAUSE_REFUSED ||
		    in_ptr->attempt_cause == GW_NEXT_CAUSE_CLIENT || in_ptr->attempt_cause == GW_NEXT_CAUSE_INTERNAL ||
		    in_ptr->attempt_cause == GW_NEXT_CAUSE_DEADLINE || in_ptr->response_sent ||
		    in_ptr->response_status == 101 || in_ptr->attempts + 1 >= GW_EXCHANGE_ATTEMPTS_MAX)
			return answer;
		return again;
	case GW_NEXT_CAUSE_KEPT_CLOSED:
		/* The upstream may have closed a kept connection just as it was
		 * taken: a request that may be sent twice goes again, once, on a
		 * new connection, before anything of the response came. */
		if (in_ptr->reused && !in_ptr->fresh_retry_used && !in_ptr->response_started && in_ptr->idempotent &&
		    in_ptr->replayable)
			return (struct gw_conn_next_decision){.action = GW_NEXT_FRESH_CONNECTION};
		break;
	default:
		break;
	}
	/* A failure without a response head: another endpoint, when the
	 * policy retries this kind, within its attempts; once the request
	 * went out, only if it can go again whole and is safe to repeat. */
	kind = failure_kind(in_ptr->cause);
	if (!(kind & in_ptr->retry_on) || in_ptr->attempts + 1 >= in_ptr->attempts_max ||
	    in_ptr->attempts + 1 >= GW_EXCHANGE_ATTEMPTS_MAX || in_ptr->response_sent)
		return answer;
	if (in_ptr->sent && (!in_ptr->replayable || !in_ptr->safe))
		return answer;
	return again;
}

/* A Retry-After (RFC 9110 10.2.3) in ns from now: delta-seconds, or an
 * IMF-fixdate; saturated (INT64_MAX: longer than any deadline); -1 when
 * absent or malformed. */
static int64_t retry_after_ns(const struct gw_conn_self *self)
{
	const struct gw_http_field *f_ptr = field_of_kind(&self->resp.head, GW_FIELD_RETRY_AFTER);
	const uint64_t year = 86400u * 366;
	char text[64];
	struct tm tm;
	uint64_t seconds = 0;
	size_t len, i;
	time_t when, now;

	if (!f_ptr || f_ptr->value.len == 0 || f_ptr->value.len >= sizeof(text))
		return -1;
	len = f_ptr->value.len;
	memcpy(text, span(self->resp_ptr, f_ptr->value), len);
	text[len] = '\0';
	for (i = 0; i < len && text[i] >= '0' && text[i] <= '9'; i++)
		seconds = seconds > year ? seconds : seconds * 10 + (uint64_t)(text[i] - '0');
	if (i == len)
		return seconds > year ? INT64_MAX : (int64_t)(seconds * 1000000000ull);
	memset(&tm, 0, sizeof(tm));
	if (!strptime(text, "%a, %d %b %Y %H:%M:%S GMT", &tm))
		return -1;
	when = timegm(&tm);
	now = time(NULL);
	if (when <= now)
		return 0;
	return (uint64_t)(when - now) > year ? INT64_MAX : (int64_t)(when - now) * 1000000000ll;
}

/* The wait before retry number `retry` (from 1): full jitter over an
 * exponential bound (a uniform draw below min(max, base * 2^(retry-1))). */
static uint64_t backoff_jittered(const struct gw_retry_policy *policy_ptr, int retry)
{
	uint64_t bound = (uint64_t)policy_ptr->backoff_base_ms * NS_PER_MS;

	for (int i = 1; i < retry && bound < (uint64_t)policy_ptr->backoff_max_ms * NS_PER_MS; i++)
		bound *= 2;
	if (bound > (uint64_t)policy_ptr->backoff_max_ms * NS_PER_MS)
		bound = (uint64_t)policy_ptr->backoff_max_ms * NS_PER_MS;
	return bound ? gw_random_u64() % bound : 0;
}

/* The retry the decision allows, weighed: the upstream's budget, then a
 * backoff (or the upstream's Retry-After) that must end before the
 * deadline. 1 to go, 0 to answer (retry_refused says why). */
static int retry_weighed(struct gw_conn_self *self, enum gw_conn_next_cause cause)
{
	const struct gw_config_upstream *up_ptr =
		&self->cfg_ptr->config_ptr->upstreams_ptr[self->route_ptr->action.proxy.upstream_index];
	const struct gw_config_retry_budget *budget_ptr = &up_ptr->retry_budget;
	const struct gw_retry_policy *policy_ptr = gw_exchange_retry_policy(&self->exchange);
	uint64_t now = vk_sys_now_ns(), wait = 0;
	int stats_upstream = gw_stats_upstream_slot(up_ptr);
	int64_t upstream_asks;

	if (budget_ptr->enabled &&
	    !gw_stats_retry_budget_allows(stats_upstream, budget_ptr->percent, budget_ptr->min_per_second, now)) {
		self->retry_refused = "budget";
		gw_stats_retry_budget_refused(stats_upstream);
		return 0;
	}
	if (policy_ptr) {
		wait = backoff_jittered(policy_ptr, gw_exchange_attempt(&self->exchange) + 1);
		upstream_asks = cause == GW_NEXT_CAUSE_FILTER_ASKS && self->next_cause == GW_NEXT_CAUSE_NONE &&
						policy_ptr->honour_retry_after
					? retry_after_ns(self)
					: -1;
		if (upstream_asks > (int64_t)wait)
			wait = (uint64_t)upstream_asks;
	}
	if (self->deadline_ns && now + wait + NS_PER_MS >= self->deadline_ns) {
		self->retry_refused = "deadline";
		return 0;
	}
	self->backoff_ns = wait;
	gw_stats_retry_started(stats_upstream, now);
	self->retry_counted = 1;
	self->retry_stats_upstream = stats_upstream;
	return 1;
}

enum gw_conn_next_action gw_conn_upstream_next(struct gw_conn_self *self, enum gw_conn_next_cause cause)
{
	const struct gw_retry_policy *policy_ptr = gw_exchange_retry_policy(&self->exchange);
	const char *key;
	size_t key_len;
	struct gw_conn_next_inputs in = {
		.cause = cause,
		.idempotent = gw_http_method_idempotent(self->req.method),
		.replayable = gw_exchange_replayable(&self->exchange),
		.sent = self->attempt_sent,
		.retry_on = policy_ptr ? policy_ptr->retry_on : 0,
		.attempts_max = policy_ptr ? policy_ptr->attempts : 1,
		.reused = self->reused,
		.fresh_retry_used = self->retried,
		.response_started = self->response_started,
		/* The head goes to the client only after this decision. */
		.response_sent = 0,
		.attempt_cause = self->next_cause,
		.attempts = gw_exchange_attempt(&self->exchange),
		.response_status = self->exchange.response_status,
	};
	enum gw_conn_next_action action;

	self->backoff_ns = 0;
	in.safe = in.idempotent || (policy_ptr && policy_ptr->all_methods) ||
		  gw_exchange_request_header(&self->exchange, "idempotency-key", &key, &key_len);
	action = gw_conn_next_decide(&in).action;
	if (action == GW_NEXT_PICK_AGAIN && !retry_weighed(self, cause))
		return GW_NEXT_ANSWER;
	return action;
}
