/* gw_conn_next: the attempts at the upstream of one request, and the one
 * place that decides whether it goes to the upstream again (as
 * ngx_http_upstream_next() does in nginx).
 *
 * An attempt picks an endpoint, takes a connection (kept, new, or after a
 * wait in line), sends the request and reads the response head; it
 * carries its failure back as a value (a termination code, gw_term.h, and
 * a cause), never as a raise. The decision is asked when an attempt ended
 * without a response head to relay (the cause says why) and when a
 * response filter asks for another attempt (gw_exchange_retry). It reads
 * a struct of inputs only, so retry-with-deadline can add deadlines,
 * budgets, backoff and hedging there, and nowhere else. Giving up leaves
 * the answer as it stands: the error the attempt's termination code
 * names, or the response the filters saw. */
#include "gw_conn_self.h"
#include "gw_config_s.h"
#include "gw_exchange.h"
#include "gw_pipeline.h"
#include "gw_tls_stream.h"

#include "vk_coro.h"
#include "vk_proc_local.h"
#include "vk_socket.h"
#include "vk_vectoring.h"

#include <errno.h>
#include <string.h>

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
		self->upstream_ns = 0; /* this request reached no endpoint in the end */
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
		if (vk_sys_faulted())
			vk_raise(EFAULT);
		upstream_tls_failed(conn_ptr);
		gw_conn_close_upstream(conn_ptr);
		gw_conn_term_from_error(conn_ptr, vk_error());
		conn_ptr->next_cause = attempt_cause(conn_ptr, vk_error());
		vk_clear_error();
	}
	conn_ptr->stage = GW_CONN_STAGE_QUEUE;
	conn_ptr->response_started = 0;
	conn_ptr->wait_until_ns = vk_sys_coarse_now_ns() + conn_ptr->connect_ms * 1000000u;
	while ((conn_ptr->rc = take_connection(conn_ptr)) == GW_UPSTREAM_WAIT) {
		if (vk_sys_coarse_now_ns() >= conn_ptr->wait_until_ns) {
			cfg_ptr->upstream_ops.stop_waiting(cfg_ptr->upstream_ops.ctx_ptr, conn_ptr->upstream_index);
			vk_raise(ETIMEDOUT);
		}
		vk_wait_notified((conn_ptr->wait_until_ns - vk_sys_coarse_now_ns()) / 1000000u + 1);
	}
	if (conn_ptr->rc == GW_UPSTREAM_REFUSED)
		vk_raise(EPROTO);
	vk_socket_attach_fd(conn_ptr->upstream_ptr, conn_ptr->upstream_fd);
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
	/* CONNECT: the upstream is reached, the tunnel is the rest. */
	if (conn_ptr->req.method != GW_METHOD_CONNECT) {
		conn_ptr->rc = request_head_written(conn_ptr);
		if (conn_ptr->rc == GW_CONN_HEAD_TOO_LARGE)
			vk_raise(ENOBUFS);
		if (conn_ptr->rc == GW_CONN_HEAD_BUFFERED)
			vk_write_on(conn_ptr->upstream_ptr, conn_ptr->out_ptr, conn_ptr->out.len);
		if (has_body_to_send(conn_ptr) || expects_continue(conn_ptr))
			vk_call(send_body, conn_ptr);
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

/* A filter asked for another attempt and the decision says go: this
 * answer is dropped. A response with a body never read takes its
 * connection with it; one without a body leaves it for reuse. */
static void attempt_dropped(struct gw_conn_self *self)
{
	if (self->next_cause == GW_NEXT_CAUSE_NONE) {
		gw_conn_release_upstream(
			self, self->resp.head.body == GW_BODY_NONE ||
				      (self->resp.head.body == GW_BODY_LENGTH && self->resp.head.content_length == 0));
		gw_conn_upstream_done(self, self->cfg_ptr, self->resp.status >= 500 ? GW_UPSTREAM_5XX : GW_UPSTREAM_OK);
	} else {
		gw_conn_upstream_done(self, self->cfg_ptr,
				      self->term.stage == 'C' ? GW_UPSTREAM_CONNECT_FAILURE : GW_UPSTREAM_ABORTED);
	}
	gw_exchange_next_attempt(&self->exchange);
}

/* The attempts at the upstream, until the one decision says answer: with
 * a response head to relay (the response filters have seen it), or with a
 * termination code (the error the response filters have seen). */
void gw_conn_attempts(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	for (conn_ptr->next = GW_NEXT_PICK_AGAIN; conn_ptr->next != GW_NEXT_ANSWER;) {
		if (conn_ptr->next == GW_NEXT_PICK_AGAIN)
			attempt_pick(conn_ptr);
		else
			conn_ptr->retried = 1;
		if (conn_ptr->next_cause == GW_NEXT_CAUSE_NONE)
			vk_call(attempt, conn_ptr);
		conn_ptr->next = gw_conn_upstream_next(conn_ptr, conn_ptr->next_cause);
		if (conn_ptr->next != GW_NEXT_ANSWER) {
			conn_ptr->term = (struct gw_term){0};
			conn_ptr->next_cause = GW_NEXT_CAUSE_NONE;
			continue;
		}
		if (!response_filters_apply(conn_ptr))
			break;
		conn_ptr->response_filtered = 1;
		if (gw_pipeline_run(&conn_ptr->exchange, GW_PHASE_RESPONSE_HEAD) == GW_PIPELINE_WAIT)
			vk_call(gw_pipeline_wait, &conn_ptr->exchange);
		if (conn_ptr->exchange.verdict != GW_VERDICT_RETRY)
			break;
		conn_ptr->next = gw_conn_upstream_next(conn_ptr, GW_NEXT_CAUSE_FILTER_ASKS);
		if (conn_ptr->next == GW_NEXT_PICK_AGAIN)
			attempt_dropped(conn_ptr);
		else if (gw_pipeline_resume(&conn_ptr->exchange) == GW_PIPELINE_WAIT)
			vk_call(gw_pipeline_wait, &conn_ptr->exchange);
	}
	vk_end();
}

/* ---- the decision ---- */

struct gw_conn_next_decision gw_conn_next_decide(const struct gw_conn_next_inputs *in_ptr)
{
	struct gw_conn_next_decision answer = {.action = GW_NEXT_ANSWER};

	switch (in_ptr->cause) {
	case GW_NEXT_CAUSE_KEPT_CLOSED:
		/* The upstream may have closed a kept connection just as it was
		 * taken: a request that may be sent twice goes again, once, on a
		 * new connection, before anything of the response came. */
		if (in_ptr->reused && !in_ptr->fresh_retry_used && !in_ptr->response_started && in_ptr->idempotent &&
		    in_ptr->replayable)
			return (struct gw_conn_next_decision){.action = GW_NEXT_FRESH_CONNECTION};
		return answer;
	case GW_NEXT_CAUSE_FILTER_ASKS:
		/* Only what can be sent again, after the upstream answered or
		 * failed (not a refusal before any endpoint was tried, nor the
		 * client's or the gateway's own failure), with nothing of the
		 * answer gone to the client, within the bound on attempts. */
		if (!in_ptr->replayable || in_ptr->attempt_cause == GW_NEXT_CAUSE_REFUSED ||
		    in_ptr->attempt_cause == GW_NEXT_CAUSE_CLIENT || in_ptr->attempt_cause == GW_NEXT_CAUSE_INTERNAL ||
		    in_ptr->response_sent || in_ptr->response_status == 101 ||
		    in_ptr->attempts + 1 >= GW_EXCHANGE_ATTEMPTS_MAX)
			return answer;
		return (struct gw_conn_next_decision){.action = GW_NEXT_PICK_AGAIN};
	default:
		/* Any other failure is answered; a filter that sees the error
		 * may ask for another attempt. */
		return answer;
	}
}

enum gw_conn_next_action gw_conn_upstream_next(struct gw_conn_self *self, enum gw_conn_next_cause cause)
{
	struct gw_conn_next_inputs in = {
		.cause = cause,
		.idempotent = gw_http_method_idempotent(self->req.method),
		.replayable = gw_exchange_replayable(&self->exchange),
		.reused = self->reused,
		.fresh_retry_used = self->retried,
		.response_started = self->response_started,
		/* The head goes to the client only after this decision. */
		.response_sent = 0,
		.attempt_cause = self->next_cause,
		.attempts = gw_exchange_attempt(&self->exchange),
		.response_status = self->exchange.response_status,
	};

	return gw_conn_next_decide(&in).action;
}
