/* gw_conn_write: what the connection process writes besides relaying:
 * the header edits and X-Forwarded-* of a forwarded head, direct answers
 * (respond and redirect actions, a filter's own answer), the upstream-to-
 * client half of an upgraded connection, the end of a response the
 * upstream cut short, and the access log line. */
#include "gw_conn_self.h"
#include "gw_access_log.h"
#include "gw_config_s.h"
#include "gw_exchange.h"
#include "gw_stats.h"
#include "gw_status.h"

#include "vk_proc_local.h"
#include "vk_vectoring.h"

#include <stdio.h>
#include <time.h>

struct edits_self {
	uint32_t i;
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

void gw_conn_write_edits(struct vk_thread *that)
{
	struct edits_writer *w_ptr = vk_thread_arg(that);
	struct edits_self *self;

	vk_begin();
	for (self->i = 0; self->i < w_ptr->ex_ptr->edit_count; self->i++) {
		if (!gw_exchange_edit_written(w_ptr->ex_ptr, w_ptr->side, self->i, &self->name, &self->name_len,
					      &self->value, &self->value_len))
			continue;
		vk_write_on(w_ptr->socket_ptr, self->name, self->name_len);
		GW_WRITE_LITERAL(w_ptr->socket_ptr, ": ");
		vk_write_on(w_ptr->socket_ptr, self->value, self->value_len);
		GW_WRITE_LITERAL(w_ptr->socket_ptr, "\r\n");
	}
	vk_end();
}

struct tunnel_self {
	struct vk_socket *src_ptr;
	struct vk_socket *dst_ptr;
	size_t n;
};

/* The upstream-to-client half of an upgraded connection (the connection
 * thread does the other half): until the upstream hangs up, then the
 * client's side is half-closed. An error on either side ends it quietly;
 * the process ends when both halves have. */
void gw_conn_tunnel(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	struct tunnel_self *self;

	vk_begin();
	self->src_ptr = conn_ptr->upstream_ptr;
	self->dst_ptr = conn_ptr->client_ptr;
	vk_catch
	{
		vk_socket_shutdown_tx(self->dst_ptr);
	}
	vk_splice(self->n, self->src_ptr, self->dst_ptr, SIZE_MAX);
	vk_flush_on(self->dst_ptr);
	vk_socket_shutdown_tx(self->dst_ptr);
	vk_end();
}

struct cut_self {
	char unused;
};

/* The body relay failed. When the upstream's side failed and nothing of
 * the response has left for the client, it is taken back and the status
 * to answer instead is set; else (or when it is the client that cannot
 * take more) what is queued goes out, each wait bounded like the body's,
 * and the close tells the client the body is short. */
void gw_conn_cut_response(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	struct vk_vectoring *tx_ptr = vk_socket_tx(conn_ptr->client_ptr);
	struct cut_self *self;

	vk_begin();
	if (!vk_vectoring_error(tx_ptr) && !vk_vectoring_blocked(tx_ptr) &&
	    vk_socket_tx_drop_from(conn_ptr->client_ptr, conn_ptr->response_mark) == 0) {
		conn_ptr->status = conn_ptr->error_code == ETIMEDOUT ? 504 : 502;
		conn_ptr->reason = conn_ptr->error_code == ETIMEDOUT
					   ? "upstream response body stalled"
					   : "upstream failed before sending the response body";
	} else {
		vk_catch
		{
			/* the client is gone or stalled too: it just closes */
		}
		vk_idle_timeout(conn_ptr->response_ms);
		vk_flush_on(conn_ptr->client_ptr);
	}
	(void)self;
	vk_end();
}

struct forwarded_self {
	uint32_t i;
};

/* X-Forwarded-For, -Proto and -Host for the upstream. From an untrusted
 * client (trusted_hops 0, the edge) nothing received is kept: the chain
 * starts with the client's address. Behind trusted hops the received
 * chain is kept and the client's address appended, and a received
 * X-Forwarded-Proto or -Host passes on. */
void gw_conn_write_forwarded(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	const struct gw_conn_config *cfg_ptr = conn_ptr->cfg_ptr;
	struct forwarded_self *self;
	const struct gw_http_field *f_ptr;

	vk_begin();
	GW_WRITE_LITERAL(conn_ptr->upstream_ptr, "X-Forwarded-For: ");
	if (cfg_ptr->trusted_hops > 0) {
		for (self->i = 0; self->i < conn_ptr->req.head.field_count; self->i++) {
			f_ptr = &conn_ptr->req.head.fields[self->i];
			if (forwarded_kind(conn_ptr->head_ptr, f_ptr) != XF_FOR || f_ptr->value.len == 0)
				continue;
			vk_write_on(conn_ptr->upstream_ptr,
				    span(conn_ptr->head_ptr, conn_ptr->req.head.fields[self->i].value),
				    conn_ptr->req.head.fields[self->i].value.len);
			GW_WRITE_LITERAL(conn_ptr->upstream_ptr, ", ");
		}
	}
	vk_write_on(conn_ptr->upstream_ptr, conn_ptr->client_addr, strlen(conn_ptr->client_addr));
	GW_WRITE_LITERAL(conn_ptr->upstream_ptr, "\r\nX-Forwarded-Proto: ");
	if (cfg_ptr->trusted_hops > 0 && (f_ptr = forwarded_field(conn_ptr, XF_PROTO)))
		vk_write_on(conn_ptr->upstream_ptr,
			    span(conn_ptr->head_ptr, forwarded_field(conn_ptr, XF_PROTO)->value),
			    forwarded_field(conn_ptr, XF_PROTO)->value.len);
	else
		GW_WRITE_LITERAL(conn_ptr->upstream_ptr, "http");
	GW_WRITE_LITERAL(conn_ptr->upstream_ptr, "\r\n");
	if (cfg_ptr->trusted_hops > 0 && (f_ptr = forwarded_field(conn_ptr, XF_HOST))) {
		GW_WRITE_LITERAL(conn_ptr->upstream_ptr, "X-Forwarded-Host: ");
		vk_write_on(conn_ptr->upstream_ptr, span(conn_ptr->head_ptr, forwarded_field(conn_ptr, XF_HOST)->value),
			    forwarded_field(conn_ptr, XF_HOST)->value.len);
		GW_WRITE_LITERAL(conn_ptr->upstream_ptr, "\r\n");
	} else if (conn_ptr->req.host.len) {
		GW_WRITE_LITERAL(conn_ptr->upstream_ptr, "X-Forwarded-Host: ");
		vk_write_on(conn_ptr->upstream_ptr, span(conn_ptr->head_ptr, conn_ptr->req.host),
			    conn_ptr->req.host.len);
		GW_WRITE_LITERAL(conn_ptr->upstream_ptr, "\r\n");
	}
	vk_end();
}

/* The end of a request: its counters (gw_stats.h), and one JSON line in
 * the kernel's access log when that is on. */
void gw_conn_log_request(struct gw_conn_self *self, int status)
{
	char method[64], target[512], when[40];
	uint64_t now = vk_sys_now_ns();
	struct timespec wall;
	struct tm tm;
	size_t n;
	int len;

	/* started_ns: once per request, however many paths end it. */
	if (!self->started_ns)
		return;
	gw_stats_request_done(status, self->bytes_in, self->bytes_out,
			      self->upstream_ns && self->route_ptr && self->route_ptr->action.kind == GW_ACTION_PROXY
				      ? self->route_ptr->action.proxy.upstream_index
				      : -1,
			      self->pick.endpoint);
	if (!gw_access_log_is_open()) {
		self->started_ns = 0;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &wall);
	gmtime_r(&wall.tv_sec, &tm);
	n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ", wall.tv_nsec / 1000000);
	gw_access_log_escape(method, sizeof(method), self->head_ptr + self->req.method_span.off,
			     self->req.method_span.len);
	gw_access_log_escape(target, sizeof(target), self->head_ptr + self->req.target.off, self->req.target.len);
	len = snprintf(self->log_line, sizeof(self->log_line),
		       "{\"time\":\"%s\",\"client\":\"%s\",\"method\":\"%s\",\"target\":\"%s\",\"status\":%d,"
		       "\"bytes_in\":%llu,\"bytes_out\":%llu,\"upstream\":%s%s%s,\"attempts\":%d,\"upstream_ms\":%.3f,"
		       "\"total_ms\":%.3f,\"route\":%s%s%s,\"filters\":{\"passed\":%d,\"answered_by\":%s%s%s}}\n",
		       when, self->client_addr, method, target, status, (unsigned long long)self->bytes_in,
		       (unsigned long long)self->bytes_out, self->upstream_ns ? "\"" : "",
		       self->upstream_ns ? self->pick.name : "null", self->upstream_ns ? "\"" : "", self->attempts_sent,
		       self->upstream_ns ? (double)(now - self->upstream_ns) / 1e6 : 0.0,
		       (double)(now - self->started_ns) / 1e6, self->route_ptr ? "\"" : "",
		       self->route_ptr ? self->route_ptr->name : "null", self->route_ptr ? "\"" : "",
		       self->exchange.stages_passed, self->exchange.answered_by ? "\"" : "",
		       self->exchange.answered_by ? self->exchange.answered_by : "null",
		       self->exchange.answered_by ? "\"" : "");
	if (len > 0 && (size_t)len < sizeof(self->log_line))
		gw_access_log_append(self->log_line, (size_t)len);
	self->started_ns = 0;
}

struct answer_self {
	char line[GW_CONN_LINE_MAX];
	size_t len;
	int i;
	int status;
	const char *body;
	size_t body_len;
};

/* A filter's answer, or the route's respond or redirect action, on the
 * client socket, with the response edits of the filters it went through.
 * The request body is not read: with one, the connection closes after the
 * answer. */
void gw_conn_answer_directly(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	const struct gw_route_action *action_ptr = &conn_ptr->route_ptr->action;
	const struct gw_exchange *ex_ptr = &conn_ptr->exchange;
	int by_filter = ex_ptr->verdict == GW_VERDICT_RESPOND;
	struct answer_self *self;

	vk_begin();
	conn_ptr->close_after = !conn_ptr->req.head.keep_alive || conn_ptr->req.head.body != GW_BODY_NONE ||
				vk_sys_draining() || conn_ptr->force_close;
	self->status = ex_ptr->response_status;
	if (by_filter && ex_ptr->error_message) {
		self->body_len = gw_status_error_body(conn_ptr->error, sizeof(conn_ptr->error), self->status,
						      ex_ptr->error_message);
		self->body = conn_ptr->error;
	} else if (by_filter) {
		self->body = ex_ptr->body;
		self->body_len = ex_ptr->body_len;
	} else if (action_ptr->kind == GW_ACTION_RESPOND) {
		self->body = action_ptr->respond.body;
		self->body_len = action_ptr->respond.body_len;
	} else {
		self->body = NULL;
		self->body_len = 0;
	}
	self->len = (size_t)snprintf(self->line, sizeof(self->line), "HTTP/1.1 %d %s\r\n", self->status,
				     gw_status_reason(self->status));
	vk_write_on(conn_ptr->client_ptr, self->line, self->len);
	if (by_filter) {
		/* A filter's headers are all edits; only the error shape has
		 * a type of its own. */
		if (ex_ptr->error_message)
			GW_WRITE_LITERAL(conn_ptr->client_ptr, "Content-Type: application/json\r\n");
	} else if (action_ptr->kind == GW_ACTION_REDIRECT) {
		self->len = (size_t)snprintf(self->line, sizeof(self->line), "Location: %s\r\n",
					     action_ptr->redirect.location);
		vk_write_on(conn_ptr->client_ptr, self->line, self->len);
	} else {
		for (self->i = 0; self->i < action_ptr->respond.header_count; self->i++) {
			if (gw_exchange_field_dropped(ex_ptr, GW_SIDE_RESPONSE,
						      action_ptr->respond.headers_ptr[self->i].name,
						      strlen(action_ptr->respond.headers_ptr[self->i].name)))
				continue;
			self->len = (size_t)snprintf(self->line, sizeof(self->line), "%s: %s\r\n",
						     action_ptr->respond.headers_ptr[self->i].name,
						     action_ptr->respond.headers_ptr[self->i].value);
			vk_write_on(conn_ptr->client_ptr, self->line, self->len);
		}
	}
	conn_ptr->edits = (struct edits_writer){ex_ptr, conn_ptr->client_ptr, GW_SIDE_RESPONSE};
	vk_call(gw_conn_write_edits, &conn_ptr->edits);
	/* No length on answers that cannot have a body (RFC 9110 8.6). */
	if (self->status >= 200 && self->status != 204 && self->status != 304) {
		self->len = (size_t)snprintf(self->line, sizeof(self->line), "Content-Length: %zu\r\n", self->body_len);
		vk_write_on(conn_ptr->client_ptr, self->line, self->len);
	}
	if (conn_ptr->close_after)
		GW_WRITE_LITERAL(conn_ptr->client_ptr, "Connection: close\r\n");
	GW_WRITE_LITERAL(conn_ptr->client_ptr, "\r\n");
	if (self->body_len && conn_ptr->req.method != GW_METHOD_HEAD)
		vk_write_on(conn_ptr->client_ptr, self->body, self->body_len);
	vk_flush_on(conn_ptr->client_ptr);
	vk_end();
}
