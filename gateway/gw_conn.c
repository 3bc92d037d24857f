/* gw_conn: the life of a client connection's stream (see gw_conn.h), in
 * the order a request lives it:
 *
 *   read the head (under the header deadline), route it, run the request
 *   filters (and keep the body for those that read it); then either the
 *   gateway answers itself (gw_conn_end.c), or the attempts at the
 *   upstream (gw_conn_next.c: pick an endpoint, take a connection, send
 *   the request, read the response head, run the response filters, and
 *   ask the one place that decides whether to go again); then relay the
 *   response (or open a tunnel), log it, and wait for the next request.
 *
 * Stages that block are child threads (vk_call) that carry their failure
 * back as a value (self->term, gw_term.h, and for an attempt, the cause
 * gw_conn_next.c reads); the others are plain functions. A raise that
 * reaches this thread ends the connection, through the one place that
 * turns a termination code into what the client hears
 * (gw_conn_answer_error). Per-connection state is in gw_conn_self.h. */
#include "gw_conn.h"
#include "gw_conn_self.h"
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_conn_s.h"
#include "gw_generation.h"
#include "gw_generation_s.h"
#include "gw_exchange.h"
#include "gw_exchange_s.h"
#include "gw_http.h"
#include "gw_http_s.h"
#include "gw_pipeline.h"
#include "gw_relay.h"
#include "gw_stats.h"
#include "gw_subrequest.h"
#include "gw_tls_stream.h"

#include "vk_coro.h"
#include "vk_heap.h"
#include "vk_proc_local.h"
#include "vk_socket.h"
#include "vk_vectoring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* Two heads (request, response), the head being written, two sockets of
 * two rings, the thread's locals, a chunked relay in flight, and room for
 * bookkeeping. */
#define GW_CONN_HEAP_SLACK (32 * 1024)

/* What a fault answers: a constant, written from a heap that may be damaged. */
#define GW_CONN_FAULT_BODY "{\"error\":\"internal fault\",\"status\":500}\n"
#define GW_CONN_FAULT_ANSWER                                                                             \
	"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 40\r\n" \
	"Connection: close\r\n\r\n" GW_CONN_FAULT_BODY
_Static_assert(sizeof(GW_CONN_FAULT_BODY) - 1 == 40, "the fault answer's Content-Length");

/* The longest head written: what was received, the filters' edits, and
 * what the gateway adds. */
static size_t out_cap(size_t max_head_bytes)
{
	return max_head_bytes + GW_EXCHANGE_BYTES + 4 * GW_EXCHANGE_EDITS_MAX + GW_CONN_OUT_SLACK;
}

size_t gw_conn_heap_pages(size_t max_head_bytes, size_t ring_bytes, size_t body_buffer_bytes, int tls)
{
	size_t bytes = 2 * max_head_bytes + out_cap(max_head_bytes) + 4 * ring_bytes + sizeof(struct gw_conn_self) +
		       GW_RELAY_HEAP_BYTES + GW_CONN_HEAP_SLACK + GW_PIPELINE_WAIT_HEAP_BYTES +
		       gw_subrequest_heap_bytes(GW_STAGE_SUBREQUEST_BODY_BYTES) +
		       (body_buffer_bytes ? body_buffer_bytes + 64 : 0) +
		       /* TLS with the client (and its BoringSSL memory) and
			* with the upstream */
		       2 * (gw_tls_stream_size() + 64) + (tls ? GW_TLS_ZONE_BYTES + 64 : 0) +
		       /* a hedge's copy of the connection's state, its socket
			* and rings, its response head and the head it writes,
			* and its TLS (gw_conn_next.c): made only when one races */
		       sizeof(struct gw_conn_self) + 64 + vk_socket_size() + max_head_bytes + out_cap(max_head_bytes) +
		       2 * ring_bytes + 64 + gw_tls_stream_size() + 64;

	return vk_pages_for(bytes);
}

/* ---- the connection ---- */

/* What most requests touch, for the kernel to load into the cache ahead
 * of a dispatch (vk_sys_hot_in): the process's header, the client socket
 * and this thread (all before self) with self's per-request fields; the
 * heads' parse state and their copies; each socket and the start of its
 * rings, where the heads are read and written. A keep-alive request takes
 * two dispatches, one when the request comes (GW_CONN_HOT_REQUEST: the
 * client's receive ring, the request head's copy, the upstream's send
 * ring) and one when the response does (GW_CONN_HOT_RESPONSE: the
 * upstream's receive ring, the response's parse state and copy, the
 * client's send ring); the process selects the one it waits for
 * (vk_sys_hot_select). */
#define GW_CONN_HOT_HEAD_FIELDS 8
#define GW_CONN_HOT_RX_BYTES 512
#define GW_CONN_HOT_TX_BYTES 256

static void hot_ranges(struct gw_conn_self *self, struct vk_proc_local *pl_ptr)
{
	size_t head_part =
		offsetof(struct gw_http_head, fields) + GW_CONN_HOT_HEAD_FIELDS * sizeof(struct gw_http_field);

	vk_sys_hot(pl_ptr, (size_t)((char *)self->exchange.stages - (char *)pl_ptr));
	vk_sys_hot(&self->req, offsetof(struct gw_request, head) + head_part);
	vk_sys_hot_in(&self->resp, offsetof(struct gw_response, head) + head_part, GW_CONN_HOT_RESPONSE);
	vk_sys_hot_in(self->head_ptr, GW_CONN_HOT_TX_BYTES, GW_CONN_HOT_REQUEST);
	vk_sys_hot_in(self->resp_ptr, GW_CONN_HOT_TX_BYTES, GW_CONN_HOT_RESPONSE);
	vk_socket_hot(self->client_ptr, GW_CONN_HOT_RX_BYTES, GW_CONN_HOT_REQUEST, GW_CONN_HOT_TX_BYTES,
		      GW_CONN_HOT_RESPONSE);
	vk_socket_hot(self->upstream_ptr, GW_CONN_HOT_RX_BYTES, GW_CONN_HOT_RESPONSE, GW_CONN_HOT_TX_BYTES,
		      GW_CONN_HOT_REQUEST);
}

/* The listener's config in the kernel's newest generation, held until
 * the connection lets it go (gw_generation.h). NULL when a reload closed
 * the listener between the accept and now: the connection ends as a
 * refused one would have. */
static const struct gw_conn_config *config_taken(const struct gw_conn_listener *listener_ptr)
{
	struct gw_generation *generation_ptr = gw_generation_current();

	if (listener_ptr->index < 0)
		return NULL;
	gw_generation_hold(generation_ptr);
	return &generation_ptr->conn_configs_ptr[listener_ptr->index];
}

/* A request starts (before request_begin): after a reload, it takes the
 * newest generation and the connection lets go of the one before. The
 * connection's buffers fit it: a reload that would change their sizes is
 * refused (deploy/gw_main.c, check_heap_sizes). A listener the reload
 * closed has no config there: the request is served on the generation
 * the connection has, and the connection closes after it. */
static void request_generation(struct gw_conn_self *self, const struct gw_conn_listener *listener_ptr)
{
	struct gw_generation *current_ptr = gw_generation_current();

	if (self->cfg_ptr->generation_ptr == current_ptr)
		return;
	if (listener_ptr->index < 0) {
		self->closing_listener = 1;
		return;
	}
	gw_generation_release(self->cfg_ptr->generation_ptr);
	gw_generation_hold(current_ptr);
	self->cfg_ptr = &current_ptr->conn_configs_ptr[listener_ptr->index];
}

/* The upstream socket, both heads, the head being written and the
 * upstream rings in one raw block: written before read, their pages are
 * touched only as bytes come. The buffers, and the per-request tail of
 * self, go back to the OS once the connection has been idle a while
 * (gw_conn_self.h). -1 when the heap has no room. */
static int conn_setup(struct gw_conn_self *self, struct vk_thread *that, const struct gw_conn_listener *listener_ptr)
{
	struct vk_proc_local *pl_ptr = vk_thread_proc_local(that);
	const struct gw_conn_config *cfg_ptr = config_taken(listener_ptr);
	size_t head_bytes, block;
	char *rings;

	if (!cfg_ptr)
		return -1;
	head_bytes = cfg_ptr->limits.max_head_bytes;
	block = 2 * head_bytes + out_cap(head_bytes) + 2 * cfg_ptr->ring_bytes;
	self->cfg_ptr = cfg_ptr;
	self->closing_listener = 0;
	self->client_ptr = that->socket_ptr;
	self->stage = GW_CONN_STAGE_IDLE;
	self->handshaking = 0;
	self->tls_ptr = NULL;
	self->upstream_tls_ptr = NULL;
	if (cfg_ptr->tls_ptr) {
		void *zone_ptr = vk_proc_local_alloc_raw(pl_ptr, GW_TLS_ZONE_BYTES);

		self->tls_ptr = vk_proc_local_alloc(pl_ptr, gw_tls_stream_size());
		if (!self->tls_ptr || !zone_ptr ||
		    gw_tls_stream_accept(self->tls_ptr, cfg_ptr->tls_ptr, self->client_ptr, zone_ptr,
					 GW_TLS_ZONE_BYTES) == -1) {
			self->tls_ptr = NULL;
			return -1;
		}
	}
	self->upstream_ptr = vk_proc_local_alloc_raw(pl_ptr, vk_socket_size() + block);
	if (!self->upstream_ptr)
		return -1;
	self->head_ptr = (char *)self->upstream_ptr + vk_socket_size();
	self->resp_ptr = self->head_ptr + head_bytes;
	self->out_ptr = self->resp_ptr + head_bytes;
	self->out_cap = out_cap(head_bytes);
	rings = self->out_ptr + self->out_cap;
	vk_socket_init(self->upstream_ptr, pl_ptr, rings, cfg_ptr->ring_bytes, rings + cfg_ptr->ring_bytes,
		       cfg_ptr->ring_bytes);
	vk_proc_local_add_spare(pl_ptr, self->head_ptr, block);
	vk_proc_local_add_spare(pl_ptr, self->exchange.stages,
				(size_t)((char *)(self + 1) - (char *)self->exchange.stages));
	gw_conn_peer_client(self);
	self->geo_kept = 0;
	self->upstream_index = -1;
	self->hedge_ptr = NULL;
	self->hedging = 0;
	hot_ranges(self, pl_ptr);
	return 0;
}

/* ---- one request: the head, the route, the request filters ---- */

/* What a request starts from: the fields it reads before setting them.
 * The exchange's counts only (its arrays are read up to them). */
static void request_begin(struct gw_conn_self *self, const struct gw_conn_config *cfg_ptr)
{
	self->stage = GW_CONN_STAGE_REQUEST_HEAD;
	self->term = (struct gw_term){0};
	self->started_ns = vk_sys_coarse_now_ns();
	self->upstream_ns = 0;
	self->attempts_sent = 0;
	/* read by the writers and the log before the attempts set them */
	self->grpc = 0;
	self->deadline_ns = 0;
	self->upstream_left_ns = 0;
	self->bytes_in = 0;
	self->bytes_out = 0;
	self->route_ptr = NULL;
	self->path_rest = NULL;
	self->relay.status = 0;
	self->force_close = 0;
	self->response_filtered = 0;
	self->geo_looked_up = 0;
	self->exchange.stages_passed = 0;
	self->exchange.resp_ptr = NULL;
	self->exchange.edit_count = 0;
	self->exchange.verdict = GW_VERDICT_CONTINUE;
	self->exchange.answered_by = NULL;
	self->exchange.error_message = NULL;
	self->exchange.response_status = 0;
	self->head_read = (struct gw_http_read){.socket_ptr = self->client_ptr,
						.buf_ptr = self->head_ptr,
						.limits_ptr = &cfg_ptr->limits,
						.req_ptr = &self->req};
}

/* The head read: 1 when it is whole and acceptable, else 0 with the
 * termination code set. */
static int request_head_taken(struct gw_conn_self *self, const struct gw_conn_config *cfg_ptr)
{
	int rc;

	self->bytes_in = self->head_read.len;
	if (self->head_read.gone) {
		self->term = (struct gw_term){.cause = 'C', .stage = 'R'};
		return 0;
	}
	if (self->head_read.status) {
		self->term = (struct gw_term){.cause = 'B', .stage = 'R', .status = (uint16_t)self->head_read.status};
		return 0;
	}
	self->head_len = self->head_read.len;
	/* A chunked body already here is checked whole first, so a malformed
	 * one is refused before any of it goes upstream. */
	if (self->req.head.body == GW_BODY_CHUNKED &&
	    (rc = gw_relay_chunked_precheck(self->client_ptr, &cfg_ptr->limits)) < 0) {
		self->term = (struct gw_term){.cause = rc == -413 ? 'R' : 'B', .stage = 'B', .status = (uint16_t)-rc};
		return 0;
	}
	return 1;
}

/* The client's TLS certificate, for the filters (values) and, where the
 * route names a header for it, for the upstream. That header never
 * passes as the client sent it: a client without a certificate (or one
 * that did not fit) must not be able to claim one. */
static void client_certificate_attached(struct gw_conn_self *self)
{
	const char *header = self->route_ptr->action.kind == GW_ACTION_PROXY
				     ? self->route_ptr->action.proxy.forward_client_cert
				     : NULL;
	int attached = self->tls_ptr && gw_tls_stream_attach(self->tls_ptr, &self->exchange) == 0;

	if (header && (!attached || gw_exchange_forward_value(&self->exchange, GW_TLS_CLIENT_CERT_VALUE, header) != 0))
		gw_exchange_remove(&self->exchange, GW_SIDE_REQUEST, header);
}

/* The route, and the exchange the filters will see: 1, or 0 with the
 * termination code set. CONNECT is a tunnel only where a route enables
 * it; anywhere else it is not a method of this server's resources. */
static int request_routed(struct gw_conn_self *self, const struct gw_conn_config *cfg_ptr)
{
	self->route_ptr = gw_conn_match_route(self, cfg_ptr->config_ptr, 0, 0);
	if (self->req.method == GW_METHOD_CONNECT && !gw_conn_connect_allowed(self->route_ptr)) {
		self->term = (struct gw_term){.cause = 'N', .stage = 'T'};
		self->route_ptr = NULL; /* answered as by no route: no filters */
		return 0;
	}
	if (!self->route_ptr) {
		self->term = (struct gw_term){.cause = 'N', .stage = 'R'};
		return 0;
	}
	gw_exchange_begin(&self->exchange, &self->req, self->head_ptr, gw_conn_target_path(self), self->client_addr,
			  self->route_ptr);
	self->exchange.filter_states_ptr = cfg_ptr->filter_states_ptr;
	self->exchange.config_ptr = cfg_ptr->config_ptr;
	self->exchange.upstream_ops_ptr = &cfg_ptr->upstream_ops;
	self->exchange.geo_fn = cfg_ptr->geo ? gw_conn_geo : NULL;
	self->exchange.geo_ctx_ptr = self;
	client_certificate_attached(self);
	return 1;
}

/* After a continue route's filters: the route that answers, matched from
 * the next one on with the values they set. The exchange keeps their
 * edits and values; the new route's filters run next. 1, or 0 (no route
 * answers: the termination code is set). */
static int request_rerouted(struct gw_conn_self *self, const struct gw_conn_config *cfg_ptr)
{
	const struct gw_route *route_ptr =
		gw_conn_match_route(self, cfg_ptr->config_ptr, self->route_ptr->index + 1, 1);

	if (!route_ptr) {
		self->term = (struct gw_term){.cause = 'N', .stage = 'R'};
		return 0;
	}
	self->route_ptr = route_ptr;
	gw_exchange_reroute(&self->exchange, route_ptr);
	/* The route that answers says where the certificate goes upstream. */
	client_certificate_attached(self);
	return 1;
}

/* Whether the request goes on past a continue route. */
static int continues(const struct gw_conn_self *self)
{
	return self->exchange.verdict == GW_VERDICT_CONTINUE && self->route_ptr->action.kind == GW_ACTION_CONTINUE;
}

/* A continue route's filters let the request through: the route matched
 * after it and its request-head filters, as long as routes continue.
 * Stops with the termination code set when no route answers. */
static void request_continued(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	while (continues(conn_ptr) && request_rerouted(conn_ptr, conn_ptr->cfg_ptr)) {
		if (gw_pipeline_run(&conn_ptr->exchange, GW_PHASE_REQUEST_HEAD) == GW_PIPELINE_WAIT) {
			vk_call(gw_pipeline_wait, &conn_ptr->exchange);
		}
	}
	vk_end();
}

/* A stage asked for the body: kept whole, then read by the stages. */
static void request_body_for_filters(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	conn_ptr->stage = GW_CONN_STAGE_BODY_IN;
	vk_call(gw_conn_keep_body, conn_ptr);
	if (gw_pipeline_run(&conn_ptr->exchange, GW_PHASE_REQUEST_BODY) == GW_PIPELINE_WAIT)
		vk_call(gw_pipeline_wait, &conn_ptr->exchange);
	vk_end();
}

/* The gateway answers itself: a filter said so, or the route's action is
 * respond or redirect. */
static int answered_directly(struct gw_conn_self *self)
{
	if (self->exchange.verdict == GW_VERDICT_RESPOND) {
		self->term = (struct gw_term){.cause = 'F', .stage = self->stage == GW_CONN_STAGE_BODY_IN ? 'B' : 'R'};
		return 1;
	}
	if (self->route_ptr->action.kind == GW_ACTION_PROXY)
		return 0;
	self->exchange.response_status = self->route_ptr->action.kind == GW_ACTION_RESPOND
						 ? self->route_ptr->action.respond.status
						 : self->route_ptr->action.redirect.status;
	return 1;
}

/* ---- the response ---- */

/* A response filter answered instead of the upstream: its body is not
 * read, so the connection ends after the answer. */
static void response_replaced(struct gw_conn_self *self)
{
	gw_conn_release_upstream(self, 0);
	gw_conn_upstream_done(self, self->cfg_ptr, self->resp.status >= 500 ? GW_UPSTREAM_5XX : GW_UPSTREAM_OK);
	self->term = (struct gw_term){.cause = 'F', .stage = 'H'};
	self->force_close = 1;
}

/* The head of a tunnel: 200 for CONNECT, the upstream's 101 for an
 * upgrade it was asked for (else raw bytes would flow past routing and
 * filters: h2c smuggling). 0 with the termination code set when refused. */
static int tunnel_head(struct gw_conn_self *self)
{
	gw_http_out_init(&self->out, self->out_ptr, self->out_cap);
	if (self->req.method == GW_METHOD_CONNECT) {
		self->resp.status = 200;
		GW_HTTP_OUT_LITERAL(&self->out, "HTTP/1.1 200 Connection established\r\n\r\n");
		return 1;
	}
	if (!gw_conn_upgrade_granted(self)) {
		self->term =
			(struct gw_term){.cause = 'P', .stage = 'H', .reason = "upstream switched protocols unasked"};
		return 0;
	}
	gw_conn_write_switch_head(&self->out, self);
	return !self->out.overflow;
}

/* A tunnel until either side closes (CONNECT, 101): its head, the
 * upstream-to-client half beside (gw_conn_tunnel), and the other half
 * here. */
static void tunnel(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	const struct gw_conn_config *cfg_ptr = conn_ptr->cfg_ptr;

	vk_begin_stateless();
	conn_ptr->stage = GW_CONN_STAGE_TUNNEL;
	vk_idle_timeout(cfg_ptr->body_idle_ms);
	vk_write_on(conn_ptr->client_ptr, conn_ptr->out_ptr, conn_ptr->out.len);
	vk_flush_on(conn_ptr->client_ptr);
	gw_conn_log_request(conn_ptr, conn_ptr->resp.status);
	gw_conn_upstream_done(conn_ptr, cfg_ptr, GW_UPSTREAM_OK);
	vk_deadline_clear();
	vk_spawn(conn_ptr->tunnel_ptr, gw_conn_tunnel, conn_ptr, NULL);
	vk_splice(conn_ptr->n, conn_ptr->client_ptr, conn_ptr->upstream_ptr, SIZE_MAX);
	vk_flush_on(conn_ptr->upstream_ptr);
	vk_socket_shutdown_tx(conn_ptr->upstream_ptr);
	vk_end();
}

static int response_close_after(const struct gw_conn_self *self)
{
	/* An HTTP/1.0 client cannot take chunks: it gets the data and a close. */
	return !self->req.head.keep_alive || self->resp.head.body == GW_BODY_UNTIL_CLOSE ||
	       (self->resp.head.body == GW_BODY_CHUNKED && self->req.head.version_minor == 0) || vk_sys_draining() ||
	       self->closing_listener;
}

/* The response relayed: it ended normally, or the upstream cut it short
 * (a close before the length: the client sees a short body). */
static void response_relayed(struct gw_conn_self *self)
{
	self->bytes_out = self->resp_len + (self->resp.head.body == GW_BODY_CHUNKED ? self->relay.bytes : self->n);
	if (self->resp.head.body == GW_BODY_LENGTH && self->n < self->resp.head.content_length)
		self->term = (struct gw_term){.cause = 'S', .stage = 'D'};
}

/* The response head, with the response filters' edits, queued for the
 * client (in its send ring, or in the head buffer for the relay to
 * write): no wait. */
static void relay_begin(struct gw_conn_self *self)
{
	self->stage = GW_CONN_STAGE_RESPONSE_BODY;
	self->close_after = response_close_after(self);
	self->response_mark = vk_socket_tx_mark(self->client_ptr);
	self->rc = gw_conn_head_out(self, self->client_ptr, gw_conn_write_response_head);
	self->n = 0;
}

/* Most responses are whole in the upstream's ring by the time their head
 * is parsed: head and body then leave in one writev, with no thread. 1
 * when the response went whole; 0 leaves the rest to the relay thread
 * (n bytes of the body went). */
static int relay_now(struct gw_conn_self *self)
{
	long sent;

	if (self->rc != GW_CONN_HEAD_QUEUED || self->resp.head.body != GW_BODY_LENGTH ||
	    vk_socket_rx_held(self->upstream_ptr) < self->resp.head.content_length)
		return 0;
	sent = vk_socket_splice_now(self->upstream_ptr, self->client_ptr, self->resp.head.content_length);
	if (sent > 0)
		self->n = (size_t)sent;
	if (self->n < self->resp.head.content_length || !vk_vectoring_is_empty(vk_socket_tx(self->client_ptr)))
		return 0;
	response_relayed(self);
	return 1;
}

/* The rest of the response to the client, after relay_begin (and what
 * relay_now sent): the head if it waits in the head buffer, then the body
 * as it comes. Neither side may go silent mid-body for longer than the
 * upstream's response timeout. */
static void relay(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	const struct gw_conn_config *cfg_ptr = conn_ptr->cfg_ptr;

	vk_begin_stateless();
	vk_idle_timeout(conn_ptr->response_ms);
	if (conn_ptr->rc == GW_CONN_HEAD_TOO_LARGE)
		vk_raise(EPROTO);
	if (conn_ptr->rc == GW_CONN_HEAD_BUFFERED)
		vk_write_on(conn_ptr->client_ptr, conn_ptr->out_ptr, conn_ptr->out.len);
	if (conn_ptr->resp.head.body == GW_BODY_LENGTH) {
		vk_splice(conn_ptr->spliced, conn_ptr->upstream_ptr, conn_ptr->client_ptr,
			  conn_ptr->resp.head.content_length - conn_ptr->n);
		conn_ptr->n += conn_ptr->spliced;
	} else if (conn_ptr->resp.head.body == GW_BODY_UNTIL_CLOSE) {
		vk_splice(conn_ptr->n, conn_ptr->upstream_ptr, conn_ptr->client_ptr, SIZE_MAX);
	} else if (conn_ptr->resp.head.body == GW_BODY_CHUNKED) {
		conn_ptr->relay = (struct gw_relay){.src_ptr = conn_ptr->upstream_ptr,
						    .dst_ptr = conn_ptr->client_ptr,
						    .limits_ptr = &cfg_ptr->limits,
						    .malformed_status = 502,
						    .idle_ms = conn_ptr->response_ms,
						    .raw = conn_ptr->req.head.version_minor == 0};
		vk_call(gw_relay_chunked, &conn_ptr->relay);
	}
	response_relayed(conn_ptr);
	if (!conn_ptr->term.cause)
		vk_flush_on(conn_ptr->client_ptr);
	vk_end();
}

/* The response went whole: logged, and the upstream connection kept for
 * another request when it can be. */
static void response_done(struct gw_conn_self *self)
{
	gw_conn_log_request(self, self->resp.status);
	gw_conn_release_upstream(self, self->resp.head.body != GW_BODY_UNTIL_CLOSE);
	gw_conn_upstream_done(self, self->cfg_ptr, self->resp.status >= 500 ? GW_UPSTREAM_5XX : GW_UPSTREAM_OK);
}

/* A handshake BoringSSL refused (EPROTO): its alert is in the socket
 * already. The write side closes after it, and what the client still
 * sends is read and dropped until it closes, for at most
 * GW_CONN_TLS_LINGER_MS: a close with input unread would be a reset, which
 * can overtake the alert (a TLS 1.3 client sends its request before it
 * reads the alert for its certificate). */
#define GW_CONN_TLS_LINGER_MS 1000

static void handshake_refused(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	struct {
		size_t dropped;
	} * self;

	vk_begin();
	vk_catch
	{
		/* the linger ran out, or the client reset: the connection ends */
	}
	gw_tls_stream_end(conn_ptr->tls_ptr);
	conn_ptr->tls_ptr = NULL;
	vk_socket_shutdown_tx(conn_ptr->client_ptr);
	vk_deadline(GW_CONN_TLS_LINGER_MS);
	vk_readhup_on(conn_ptr->client_ptr, self->dropped);
	vk_end();
}

/* While the kernel drains (SIGTERM, an upgrade handing over), a
 * connection waiting for a request does not close at once: a client may
 * have sent one as the drain began, and a close then would cut it (the
 * keep-alive race). It waits up to GW_CONN_DRAIN_LINGER_MS more; a
 * request that comes is served, with Connection: close. */
#define GW_CONN_DRAIN_LINGER_MS 1000

static void drain_linger(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	struct {
		int unused;
	} * self;

	vk_begin();
	vk_catch
	{
		/* nothing came: the connection ends quietly */
	}
	vk_deadline(GW_CONN_DRAIN_LINGER_MS);
	vk_wait_readable_on(conn_ptr->client_ptr);
	conn_ptr->more = vk_socket_rx_held(conn_ptr->client_ptr) > 0;
	vk_end();
}

/* ---- the stream ---- */

void gw_conn_main(struct vk_thread *that)
{
	const struct gw_conn_listener *listener_ptr = vk_thread_arg(that);
	struct gw_conn_self *self;

	vk_begin();
	/* Counted open until the thread ends, however it ends. */
	gw_stats_connection_opened();
	self->cfg_ptr = NULL;
	vk_finally
	{
		gw_stats_connection_closed();
		if (self->cfg_ptr)
			gw_generation_release(self->cfg_ptr->generation_ptr);
		/* close_notify, and BoringSSL's memory back, unless a fault may
		 * have damaged the streams: then the kernel's close hooks give
		 * back what they held outside this heap (gw_tls_stream.c,
		 * "Whose memory"). */
		if (self->tls_ptr && !vk_sys_faulted())
			gw_tls_stream_end(self->tls_ptr);
		if (self->upstream_tls_ptr && !vk_sys_faulted())
			gw_tls_stream_end(self->upstream_tls_ptr);
	}
	if (conn_setup(self, that, listener_ptr) == -1)
		vk_raise(ENOMEM);
	/* What raises here ends the connection, never goes back into the
	 * loop: the one place answers it. */
	vk_catch
	{
		/* A fault in a user's filter handler lands here, inside its
		 * untrusted mark: the gateway's code runs trusted again. */
		vk_sys_untrusted_end();
		gw_conn_close_upstream(self);
		if (vk_sys_faulted()) {
			/* A fault (caught SIGSEGV and the like) may have damaged this
			 * heap: no retry, no filters, and the connection ends. The
			 * answer is a constant; the fd number is checked with the
			 * kernel first, so a damaged socket cannot write to another
			 * connection (a raise here has no handler left: the process
			 * ends, and the kernel closes its fds from its own memory). */
			if (!vk_sys_owns(vk_socket_tx_fd(self->client_ptr)))
				vk_raise(EBADF);
			vk_clear_error();
			self->term = (struct gw_term){0};
			gw_conn_term_from_error(self, EFAULT);
			if (self->stage != GW_CONN_STAGE_IDLE && self->stage < GW_CONN_STAGE_RESPONSE_BODY) {
				gw_conn_log_request(self, 500);
				vk_deadline(self->cfg_ptr->body_idle_ms);
				GW_WRITE_LITERAL(self->client_ptr, GW_CONN_FAULT_ANSWER);
				vk_flush_on(self->client_ptr);
			}
		} else if (self->handshaking) {
			self->handshaking = 0;
			gw_stats_tls_handshake_failed(gw_tls_stream_failure_kind(self->tls_ptr, vk_error()));
			if (vk_error() == EPROTO) {
				vk_clear_error();
				vk_call(handshake_refused, self);
			}
		} else if (self->stage != GW_CONN_STAGE_IDLE && self->stage != GW_CONN_STAGE_TUNNEL) {
			gw_conn_term_from_error(self, vk_error());
			vk_clear_error();
			vk_call(gw_conn_answer_error, self);
		}
	}

	/* A PROXY protocol header before anything else, TLS included: the
	 * balancer in front says whose connection this is. */
	if (self->cfg_ptr->proxy_protocol) {
		vk_call(gw_conn_proxy_header, self);
		if (self->force_close)
			vk_raise(EPROTO); /* a quiet close: no request yet */
	}

	/* TLS: the handshake first, under its own deadline. A failure ends
	 * the connection with BoringSSL's alert and no HTTP answer (the catch
	 * above, `handshaking`). */
	if (self->tls_ptr) {
		self->handshaking = 1;
		vk_deadline(self->cfg_ptr->handshake_ms);
		vk_handshake_on(self->client_ptr);
		vk_deadline_clear();
		self->handshaking = 0;
		gw_stats_tls_handshake_completed();
	}

	for (;;) {
		/* The head: the first timed from the accept, so a client that
		 * never sends a byte is gone after header_ms; a later one from
		 * its first byte, after a keep-alive wait. */
		self->stage = GW_CONN_STAGE_IDLE;
		vk_deadline(self->served ? self->cfg_ptr->keepalive_idle_ms : self->cfg_ptr->header_timeout_ms);
		vk_sys_hot_select(GW_CONN_HOT_REQUEST);
		vk_wait_request(self->more);
		if (!self->more && vk_sys_draining() && !vk_socket_hup(self->client_ptr))
			vk_call(drain_linger, self);
		if (!self->more)
			break;
		request_generation(self, listener_ptr);
		request_begin(self, self->cfg_ptr);
		if (self->served)
			vk_deadline(self->cfg_ptr->header_timeout_ms);
		self->served = 1;
		gw_http_read_request_head_call(&self->head_read);
		vk_deadline_clear();

		/* The route, then its request filters (and the body some read). */
		if (!request_head_taken(self, self->cfg_ptr) || !request_routed(self, self->cfg_ptr)) {
			vk_call(gw_conn_answer_error, self);
			break;
		}
		if (gw_pipeline_run(&self->exchange, GW_PHASE_REQUEST_HEAD) == GW_PIPELINE_WAIT)
			vk_call(gw_pipeline_wait, &self->exchange);
		if (continues(self)) {
			vk_call(request_continued, self);
			if (self->term.cause) {
				vk_call(gw_conn_answer_error, self);
				break;
			}
		}
		if (self->exchange.verdict == GW_VERDICT_CONTINUE && gw_pipeline_wants_body(&self->exchange))
			vk_call(request_body_for_filters, self);
		if (answered_directly(self)) {
			vk_call(gw_conn_answer_directly, self);
			if (self->close_after)
				break;
			continue;
		}

		/* The attempts at the upstream (gw_conn_next.c), then the answer. */
		gw_exchange_request_done(&self->exchange);
		vk_call(gw_conn_attempts, self);
		if (self->term.cause) {
			vk_call(gw_conn_answer_error, self);
			break;
		}
		if (self->exchange.verdict == GW_VERDICT_RESPOND) {
			response_replaced(self);
			vk_call(gw_conn_answer_directly, self);
			break;
		}
		if (self->req.method == GW_METHOD_CONNECT || self->resp.status == 101) {
			if (tunnel_head(self))
				vk_call(tunnel, self);
			else
				vk_call(gw_conn_answer_error, self);
			break;
		}
		relay_begin(self);
		if (!relay_now(self))
			vk_call(relay, self);
		if (self->term.cause) {
			vk_call(gw_conn_answer_error, self);
			break;
		}
		response_done(self);
		if (self->close_after)
			break;
	}
	/* What is queued for the client goes, bounded like an answer (a
	 * tunnel's half is not: it ends when the upstream's does). */
	if (self->stage == GW_CONN_STAGE_TUNNEL)
		vk_deadline_clear();
	else
		vk_idle_timeout(self->cfg_ptr->body_idle_ms);
	self->stage = GW_CONN_STAGE_IDLE;
	vk_flush_on(self->client_ptr);
	vk_end();
}
