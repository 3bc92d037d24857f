/* gw_http_write: HTTP/1 heads (see gw_http_write.h). First the pieces
 * every head is made of, then the heads the connection process writes:
 * the request it forwards, the response it relays (and the 101 that turns
 * the connection into a tunnel), and the answers it gives itself.
 *
 * Field lines received are copied as they came, name and value in their
 * case and order; the lines a run of kept fields took in the received
 * head are copied as one run. */
#include "gw_http_write.h"
#include "gw_deadline.h"
#include "gw_conn_self.h"
#include "gw_config_s.h"
#include "gw_conn_s.h"
#include "gw_exchange_s.h"

#include "vk_socket.h"
#include "vk_vectoring.h"

#include <sys/uio.h>

/* ---- pieces ---- */

/* Counted first, then written in place from the last digit back. */
void gw_http_out_uint(struct gw_http_out *out_ptr, uint64_t value)
{
	size_t n = 1;
	char *end_ptr;

	for (uint64_t rest = value / 10; rest; rest /= 10)
		n++;
	if (n > out_ptr->cap - out_ptr->len) {
		out_ptr->overflow = 1;
		return;
	}
	out_ptr->len += n;
	end_ptr = out_ptr->buf_ptr + out_ptr->len;
	do {
		*--end_ptr = (char)('0' + value % 10);
		value /= 10;
	} while (value);
}

/* Room checked once for the whole line. */
void gw_http_out_field(struct gw_http_out *out_ptr, const char *name, size_t name_len, const char *value,
		       size_t value_len)
{
	char *p;

	if (name_len + value_len + 4 > out_ptr->cap - out_ptr->len) {
		out_ptr->overflow = 1;
		return;
	}
	p = out_ptr->buf_ptr + out_ptr->len;
	memcpy(p, name, name_len);
	p += name_len;
	memcpy(p, ": ", 2);
	memcpy(p + 2, value, value_len);
	memcpy(p + 2 + value_len, "\r\n", 2);
	out_ptr->len += name_len + value_len + 4;
}

const char *gw_http_status_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 417:
		return "Expectation Failed";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		break;
	}
	if (status >= 100 && status < 200)
		return "Informational";
	if (status >= 200 && status < 300)
		return "Success";
	if (status >= 300 && status < 400)
		return "Redirection";
	if (status >= 400 && status < 500)
		return "Client Error";
	return "Server Error";
}

void gw_http_out_status_line(struct gw_http_out *out_ptr, int status)
{
	const char *reason = gw_http_status_reason(status);

	GW_HTTP_OUT_LITERAL(out_ptr, "HTTP/1.1 ");
	gw_http_out_uint(out_ptr, (uint64_t)status);
	GW_HTTP_OUT_LITERAL(out_ptr, " ");
	gw_http_out_bytes(out_ptr, reason, strlen(reason));
	GW_HTTP_OUT_LITERAL(out_ptr, "\r\n");
}

void gw_http_out_head_end(struct gw_http_out *out_ptr, int status, size_t content_length, int close_connection)
{
	if (gw_http_status_has_body(status)) {
		GW_HTTP_OUT_LITERAL(out_ptr, "Content-Length: ");
		gw_http_out_uint(out_ptr, content_length);
		GW_HTTP_OUT_LITERAL(out_ptr, "\r\n");
	}
	if (close_connection)
		GW_HTTP_OUT_LITERAL(out_ptr, "Connection: close\r\n");
	GW_HTTP_OUT_LITERAL(out_ptr, "\r\n");
}

void gw_http_out_json_string(struct gw_http_out *out_ptr, const char *bytes, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t room = out_ptr->cap - out_ptr->len < max ? out_ptr->cap - out_ptr->len : max;

	for (const unsigned char *p = (const unsigned char *)bytes; p < (const unsigned char *)bytes + len; p++) {
		char esc[6];
		size_t k;

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			k = 2;
		} else if (*p < 0x20 || *p >= 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			k = 6;
		} else {
			esc[0] = (char)*p;
			k = 1;
		}
		if (k > room)
			return;
		gw_http_out_bytes(out_ptr, esc, k);
		room -= k;
	}
}

size_t gw_http_error_body(char *buf, size_t cap, int status, const char *message)
{
	static const char tail[] = "\",\"status\":000}\n";
	struct gw_http_out out;

	if (cap == 0)
		return 0;
	/* The message gets what the rest leaves (and the NUL). */
	gw_http_out_init(&out, buf, cap - 1 > sizeof(tail) ? cap - sizeof(tail) : 0);
	GW_HTTP_OUT_LITERAL(&out, "{\"error\":\"");
	message = message ? message : gw_http_status_reason(status);
	gw_http_out_json_string(&out, message, strlen(message), SIZE_MAX);
	out.cap = cap - 1;
	GW_HTTP_OUT_LITERAL(&out, "\",\"status\":");
	gw_http_out_uint(&out, (uint64_t)status);
	GW_HTTP_OUT_LITERAL(&out, "}\n");
	if (out.overflow)
		out.len = 0;
	buf[out.len] = '\0';
	return out.len;
}

/* ---- the connection process's heads ---- */

/* The field lines the exchange's edits add to one side's head. */
static void out_edits(struct gw_http_out *out_ptr, const struct gw_exchange *ex_ptr, enum gw_exchange_side side)
{
	const char *name, *value;
	size_t name_len, value_len;

	for (uint32_t i = 0; i < ex_ptr->edit_count; i++)
		if (gw_exchange_edit_written(ex_ptr, side, i, &name, &name_len, &value, &value_len))
			gw_http_out_field(out_ptr, name, name_len, value, value_len);
}

/* Received field lines copied as they came. Consecutive kept lines that
 * end in CRLF right after their value are one run of the received head,
 * copied at once. */
struct field_runs {
	struct gw_http_out *out_ptr;
	const char *buf;
	uint32_t start; /* the run: [start, end) of buf, then CRLF */
	uint32_t end;
	int open;
};

static void runs_flush(struct field_runs *r_ptr)
{
	if (!r_ptr->open)
		return;
	gw_http_out_bytes(r_ptr->out_ptr, r_ptr->buf + r_ptr->start, r_ptr->end - r_ptr->start);
	GW_HTTP_OUT_LITERAL(r_ptr->out_ptr, "\r\n");
	r_ptr->open = 0;
}

static void runs_add(struct field_runs *r_ptr, const struct gw_http_field *f_ptr)
{
	uint32_t end = f_ptr->value.off + f_ptr->value.len;

	if (r_ptr->open && f_ptr->name.off == r_ptr->end + 2 && r_ptr->buf[r_ptr->end] == '\r' &&
	    r_ptr->buf[r_ptr->end + 1] == '\n') {
		r_ptr->end = end;
		return;
	}
	runs_flush(r_ptr);
	r_ptr->start = f_ptr->name.off;
	r_ptr->end = end;
	r_ptr->open = 1;
}

/* The end of a target's path and query as it goes upstream: with a
 * query a stage set (gw_exchange_set_query), the path, then that one. */
static void out_path_rest(struct gw_http_out *out_ptr, const struct gw_exchange *ex_ptr, const char *bytes, size_t len)
{
	const char *mark;

	if (!ex_ptr->query_set) {
		gw_http_out_bytes(out_ptr, bytes, len);
		return;
	}
	mark = memchr(bytes, '?', len);
	gw_http_out_bytes(out_ptr, bytes, mark ? (size_t)(mark - bytes) : len);
	if (ex_ptr->query_len) {
		GW_HTTP_OUT_LITERAL(out_ptr, "?");
		gw_http_out_bytes(out_ptr, ex_ptr->query, ex_ptr->query_len);
	}
}

/* Request line, always HTTP/1.1 and origin-form upstream. */
static void out_request_line(struct gw_http_out *out_ptr, const struct gw_conn_self *self)
{
	gw_http_out_bytes(out_ptr, span(self->head_ptr, self->req.method_span), self->req.method_span.len);
	GW_HTTP_OUT_LITERAL(out_ptr, " ");
	if (self->path_rest) {
		const char *rewrite = self->route_ptr->action.proxy.prefix_rewrite;

		gw_http_out_bytes(out_ptr, rewrite, strlen(rewrite));
		out_path_rest(out_ptr, &self->exchange, self->path_rest, self->path_rest_len);
	} else if (self->req.target_form == GW_TARGET_ABSOLUTE) {
		if (self->req.target_path.len == 0 || self->head_ptr[self->req.target_path.off] != '/')
			GW_HTTP_OUT_LITERAL(out_ptr, "/");
		out_path_rest(out_ptr, &self->exchange, span(self->head_ptr, self->req.target_path),
			      self->req.target_path.len);
	} else {
		out_path_rest(out_ptr, &self->exchange, span(self->head_ptr, self->req.target), self->req.target.len);
	}
	GW_HTTP_OUT_LITERAL(out_ptr, " HTTP/1.1\r\n");
}

/* X-Forwarded-For, -Proto and -Host. From an untrusted client
 * (trusted_hops 0, the edge) nothing received is kept: the chain starts
 * with the client's address. Behind trusted hops the received chain is
 * kept and the client's address appended, and a received
 * X-Forwarded-Proto or -Host passes on. */
static void out_forwarded(struct gw_http_out *out_ptr, const struct gw_conn_self *self)
{
	int trusted = self->cfg_ptr->trusted_hops > 0;
	const struct gw_http_field *f_ptr;

	GW_HTTP_OUT_LITERAL(out_ptr, "X-Forwarded-For: ");
	for (uint32_t i = 0; trusted && i < self->req.head.field_count; i++) {
		f_ptr = &self->req.head.fields[i];
		if (forwarded_kind(f_ptr) != XF_FOR || f_ptr->value.len == 0)
			continue;
		gw_http_out_bytes(out_ptr, span(self->head_ptr, f_ptr->value), f_ptr->value.len);
		GW_HTTP_OUT_LITERAL(out_ptr, ", ");
	}
	gw_http_out_bytes(out_ptr, self->client_addr, strlen(self->client_addr));
	GW_HTTP_OUT_LITERAL(out_ptr, "\r\nX-Forwarded-Proto: ");
	if (trusted && (f_ptr = forwarded_field(self, XF_PROTO)))
		gw_http_out_bytes(out_ptr, span(self->head_ptr, f_ptr->value), f_ptr->value.len);
	else if (self->tls_ptr)
		GW_HTTP_OUT_LITERAL(out_ptr, "https");
	else
		GW_HTTP_OUT_LITERAL(out_ptr, "http");
	GW_HTTP_OUT_LITERAL(out_ptr, "\r\n");
	if (trusted && (f_ptr = forwarded_field(self, XF_HOST)))
		gw_http_out_field(out_ptr, "X-Forwarded-Host", 16, span(self->head_ptr, f_ptr->value),
				  f_ptr->value.len);
	else if (self->req.host.len)
		gw_http_out_field(out_ptr, "X-Forwarded-Host", 16, span(self->head_ptr, self->req.host),
				  self->req.host.len);
}

/* "Via: 1.<minor> <pseudonym>", when one is configured. */
static void out_via(struct gw_http_out *out_ptr, const struct gw_conn_config *cfg_ptr, int version_minor)
{
	if (!cfg_ptr->via || !*cfg_ptr->via)
		return;
	if (version_minor)
		GW_HTTP_OUT_LITERAL(out_ptr, "Via: 1.1 ");
	else
		GW_HTTP_OUT_LITERAL(out_ptr, "Via: 1.0 ");
	gw_http_out_bytes(out_ptr, cfg_ptr->via, strlen(cfg_ptr->via));
	GW_HTTP_OUT_LITERAL(out_ptr, "\r\n");
}

static void out_content_length(struct gw_http_out *out_ptr, uint64_t length)
{
	GW_HTTP_OUT_LITERAL(out_ptr, "Content-Length: ");
	gw_http_out_uint(out_ptr, length);
	GW_HTTP_OUT_LITERAL(out_ptr, "\r\n");
}

static int named_in(const char *name, size_t len, const char *const *names_ptr, int count)
{
	for (int i = 0; i < count; i++)
		if (strlen(names_ptr[i]) == len && strncasecmp(names_ptr[i], name, len) == 0)
			return 1;
	return 0;
}

/* A timeout the client sent: under a deadline, replaced by what is left
 * of it (out_deadline), whether the codec knows its name or the route
 * names it. */
static int deadline_field(const struct gw_conn_self *self, const struct gw_http_field *f_ptr)
{
	const struct gw_route_deadline *config_ptr = &self->route_ptr->action.proxy.deadline;
	const char *name = span(self->head_ptr, f_ptr->name);

	if (f_ptr->kind == GW_FIELD_X_REQUEST_TIMEOUT || f_ptr->kind == GW_FIELD_GRPC_TIMEOUT ||
	    f_ptr->kind == GW_FIELD_ENVOY_EXPECTED_TIMEOUT)
		return 1;
	return f_ptr->kind == GW_FIELD_OTHER && config_ptr->other_names &&
	       (named_in(name, f_ptr->name.len, config_ptr->headers_ptr, config_ptr->header_count) ||
		named_in(name, f_ptr->name.len, config_ptr->grpc_headers_ptr, config_ptr->grpc_header_count));
}

/* What is left of the request's deadline, in the headers the route names
 * (gRPC's own on a gRPC request), so that the next hop's deadline is
 * shorter by the time spent here. */
static void out_deadline(struct gw_http_out *out_ptr, const struct gw_conn_self *self)
{
	const struct gw_route_deadline *config_ptr = &self->route_ptr->action.proxy.deadline;
	const char *const *names_ptr = self->grpc ? config_ptr->grpc_headers_ptr : config_ptr->headers_ptr;
	int count = self->grpc ? config_ptr->grpc_header_count : config_ptr->header_count;
	char ms[GW_DEADLINE_TEXT_MAX], grpc[GW_DEADLINE_TEXT_MAX];
	size_t ms_len = 0, grpc_len = 0;

	for (int i = 0; i < count; i++) {
		size_t name_len = strlen(names_ptr[i]);

		if (name_len == sizeof("grpc-timeout") - 1 && memcmp(names_ptr[i], "grpc-timeout", name_len) == 0) {
			if (!grpc_len)
				grpc_len = gw_deadline_format_grpc(self->upstream_left_ns, grpc);
			gw_http_out_field(out_ptr, names_ptr[i], name_len, grpc, grpc_len);
		} else {
			if (!ms_len)
				ms_len = gw_deadline_format_ms(self->upstream_left_ns, ms);
			gw_http_out_field(out_ptr, names_ptr[i], name_len, ms, ms_len);
		}
	}
}

void gw_conn_write_request_head(struct gw_http_out *out_ptr, const struct gw_conn_self *self)
{
	struct field_runs runs = {.out_ptr = out_ptr, .buf = self->head_ptr};
	const struct gw_http_field *f_ptr;
	int timed = self->upstream_left_ns != 0;

	out_request_line(out_ptr, self);
	for (uint32_t i = 0; i < self->req.head.field_count; i++) {
		f_ptr = &self->req.head.fields[i];
		if (!copied_as_received(f_ptr) || forwarded_kind(f_ptr) != XF_NONE ||
		    (timed && deadline_field(self, f_ptr)) ||
		    gw_exchange_field_dropped(&self->exchange, GW_SIDE_REQUEST, span(self->head_ptr, f_ptr->name),
					      f_ptr->name.len))
			runs_flush(&runs);
		else
			runs_add(&runs, f_ptr);
	}
	runs_flush(&runs);
	out_edits(out_ptr, &self->exchange, GW_SIDE_REQUEST);
	/* Always a Host: HTTP/1.1 requires one (RFC 9112 3.2), so an HTTP/1.0
	 * request without one names the endpoint as configured. */
	if (self->req.host.len)
		gw_http_out_field(out_ptr, "Host", 4, span(self->head_ptr, self->req.host), self->req.host.len);
	else
		gw_http_out_field(out_ptr, "Host", 4, self->pick.name, strlen(self->pick.name));
	out_forwarded(out_ptr, self);
	out_via(out_ptr, self->cfg_ptr, self->req.head.version_minor);
	if (timed)
		out_deadline(out_ptr, self);
	if (self->exchange.body_kept && self->req.head.body != GW_BODY_NONE)
		out_content_length(out_ptr, self->body_len);
	else if (!self->exchange.body_kept && self->req.head.body == GW_BODY_LENGTH)
		out_content_length(out_ptr, self->req.head.content_length);
	else if (!self->exchange.body_kept && self->req.head.body == GW_BODY_CHUNKED)
		GW_HTTP_OUT_LITERAL(out_ptr, "Transfer-Encoding: chunked\r\n");
	/* An upgrade is asked of the upstream explicitly (the received Upgrade
	 * and Connection were hop-by-hop), for the protocols the route allows
	 * (WebSocket by default): without one left, the request goes as a
	 * plain one. */
	gw_conn_upgrade_fields(self, out_ptr);
	GW_HTTP_OUT_LITERAL(out_ptr, "\r\n");
}

/* "HTTP/1.1 NNN ": the status has three digits, as the parser took 100
 * to 599 only. */
static void out_status_line_start(struct gw_http_out *out_ptr, unsigned status)
{
	char line_start[] = "HTTP/1.1 000 ";

	line_start[9] = (char)('0' + status / 100);
	line_start[10] = (char)('0' + status / 10 % 10);
	line_start[11] = (char)('0' + status % 10);
	gw_http_out_bytes(out_ptr, line_start, sizeof(line_start) - 1);
}

void gw_conn_write_response_head(struct gw_http_out *out_ptr, const struct gw_conn_self *self)
{
	struct field_runs runs = {.out_ptr = out_ptr, .buf = self->resp_ptr};
	const struct gw_http_field *f_ptr;
	int length_copied = 0;

	out_status_line_start(out_ptr, self->resp.status);
	gw_http_out_bytes(out_ptr, span(self->resp_ptr, self->resp.reason), self->resp.reason.len);
	GW_HTTP_OUT_LITERAL(out_ptr, "\r\n");
	for (uint32_t i = 0; i < self->resp.head.field_count; i++) {
		f_ptr = &self->resp.head.fields[i];
		/* A length without a body (HEAD, 304) describes the
		 * representation, and a plain one frames the body as it is:
		 * either passes as it came. A dropped one is written anew. */
		if ((!copied_as_received(f_ptr) &&
		     !(f_ptr->kind == GW_FIELD_CONTENT_LENGTH &&
		       (self->resp.head.body != GW_BODY_LENGTH || self->resp.head.length_plain))) ||
		    gw_exchange_field_dropped(&self->exchange, GW_SIDE_RESPONSE, span(self->resp_ptr, f_ptr->name),
					      f_ptr->name.len)) {
			runs_flush(&runs);
		} else {
			runs_add(&runs, f_ptr);
			length_copied |= f_ptr->kind == GW_FIELD_CONTENT_LENGTH;
		}
	}
	runs_flush(&runs);
	out_edits(out_ptr, &self->exchange, GW_SIDE_RESPONSE);
	if (self->resp.head.body == GW_BODY_LENGTH && !length_copied)
		out_content_length(out_ptr, self->resp.head.content_length);
	else if (self->resp.head.body == GW_BODY_CHUNKED && self->req.head.version_minor == 1)
		GW_HTTP_OUT_LITERAL(out_ptr, "Transfer-Encoding: chunked\r\n");
	out_via(out_ptr, self->cfg_ptr, self->resp.head.version_minor);
	if (self->close_after)
		GW_HTTP_OUT_LITERAL(out_ptr, "Connection: close\r\n");
	GW_HTTP_OUT_LITERAL(out_ptr, "\r\n");
}

void gw_conn_write_switch_head(struct gw_http_out *out_ptr, const struct gw_conn_self *self)
{
	struct field_runs runs = {.out_ptr = out_ptr, .buf = self->resp_ptr};
	const struct gw_http_field *upgrade_ptr = field_of_kind(&self->resp.head, GW_FIELD_UPGRADE);

	GW_HTTP_OUT_LITERAL(out_ptr, "HTTP/1.1 101 ");
	gw_http_out_bytes(out_ptr, span(self->resp_ptr, self->resp.reason), self->resp.reason.len);
	GW_HTTP_OUT_LITERAL(out_ptr, "\r\n");
	for (uint32_t i = 0; i < self->resp.head.field_count; i++) {
		if (copied_as_received(&self->resp.head.fields[i]))
			runs_add(&runs, &self->resp.head.fields[i]);
		else
			runs_flush(&runs);
	}
	runs_flush(&runs);
	gw_http_out_field(out_ptr, "Upgrade", 7, span(self->resp_ptr, upgrade_ptr->value), upgrade_ptr->value.len);
	GW_HTTP_OUT_LITERAL(out_ptr, "Connection: Upgrade\r\n\r\n");
}

void gw_conn_write_answer_head(struct gw_http_out *out_ptr, const struct gw_conn_self *self, int status,
			       size_t body_len, int json)
{
	const struct gw_route_action *action_ptr = self->route_ptr ? &self->route_ptr->action : NULL;
	const struct gw_exchange *ex_ptr = &self->exchange;

	gw_http_out_status_line(out_ptr, status);
	if (self->term.cause == 'N' && self->term.stage == 'T')
		GW_HTTP_OUT_LITERAL(out_ptr, "Allow: " GW_CONN_ALLOW "\r\n");
	/* A gRPC client reads its status from grpc-status: a deadline the
	 * gateway enforced is DEADLINE_EXCEEDED (4). Over HTTP/2 this answer
	 * becomes gRPC's trailers-only form (200 with these fields). */
	if (self->grpc && status == 504 && self->term.cause == 's')
		GW_HTTP_OUT_LITERAL(out_ptr, "grpc-status: 4\r\ngrpc-message: deadline exceeded\r\n");
	/* A filter's headers are all edits; only the error shape has a type
	 * of its own. The route's own answer has its configured fields. */
	if (json)
		GW_HTTP_OUT_LITERAL(out_ptr, "Content-Type: application/json\r\n");
	else if (ex_ptr->verdict == GW_VERDICT_RESPOND || !action_ptr)
		; /* the filter's edits say it all */
	else if (action_ptr->kind == GW_ACTION_REDIRECT)
		gw_http_out_field(out_ptr, "Location", 8, action_ptr->redirect.location,
				  strlen(action_ptr->redirect.location));
	else if (action_ptr->kind == GW_ACTION_RESPOND)
		for (int i = 0; i < action_ptr->respond.header_count; i++) {
			const struct gw_config_header *h_ptr = &action_ptr->respond.headers_ptr[i];

			if (!gw_exchange_field_dropped(ex_ptr, GW_SIDE_RESPONSE, h_ptr->name, strlen(h_ptr->name)))
				gw_http_out_field(out_ptr, h_ptr->name, strlen(h_ptr->name), h_ptr->value,
						  strlen(h_ptr->value));
		}
	out_edits(out_ptr, ex_ptr, GW_SIDE_RESPONSE);
	gw_http_out_head_end(out_ptr, status, body_len, self->close_after);
}

/* No copy, and no cold buffer between the writer and the ring: the head
 * is written where the send takes it from. A head the free run cannot
 * hold (a ring that wraps with bytes still queued) is written again, in
 * out_ptr. */
enum gw_conn_head_where gw_conn_head_out(struct gw_conn_self *self, struct vk_socket *socket_ptr,
					 gw_conn_head_writer *write_fn)
{
	struct vk_vectoring *tx_ptr = vk_socket_tx(socket_ptr);
	struct iovec iov[2];

	if (vk_vectoring_space_iov(tx_ptr, iov) > 0) {
		gw_http_out_init(&self->out, iov[0].iov_base, iov[0].iov_len);
		write_fn(&self->out, self);
		if (!self->out.overflow) {
			vk_vectoring_produced(tx_ptr, self->out.len);
			return GW_CONN_HEAD_QUEUED;
		}
	}
	gw_http_out_init(&self->out, self->out_ptr, self->out_cap);
	write_fn(&self->out, self);
	return self->out.overflow ? GW_CONN_HEAD_TOO_LARGE : GW_CONN_HEAD_BUFFERED;
}
