/* gw_conn_end: how a request of the connection process ends, besides a
 * response relayed: the gateway's own answers (a route's respond or
 * redirect, a filter's answer), the one place an error becomes what the
 * client hears, the upstream-to-client half of a tunnel, and the access
 * log line with its termination code (gw_term.h).
 *
 * Writing an answer is bounded like a body: a client that takes nothing
 * for body_idle_ms is dropped, so it cannot hold the connection. */
#include "gw_conn_self.h"
#include "gw_tls_stream.h"
#include "gw_access_log.h"
#include "gw_config_s.h"
#include "gw_exchange.h"
#include "gw_pipeline.h"
#include "gw_stats.h"

#include "vk_proc_local.h"
#include "vk_vectoring.h"

#include <time.h>

/* ---- termination codes ---- */

static char stage_letter(int stage)
{
	static const char letters[] = {
		[GW_CONN_STAGE_IDLE] = 'R',	     [GW_CONN_STAGE_REQUEST_HEAD] = 'R',
		[GW_CONN_STAGE_BODY_IN] = 'B',	     [GW_CONN_STAGE_QUEUE] = 'Q',
		[GW_CONN_STAGE_CONNECT] = 'C',	     [GW_CONN_STAGE_REQUEST_BODY] = 'B',
		[GW_CONN_STAGE_RESPONSE_HEAD] = 'H', [GW_CONN_STAGE_RESPONSE_BODY] = 'D',
		[GW_CONN_STAGE_TUNNEL] = 'T',
	};

	return stage >= 0 && stage < (int)sizeof(letters) ? letters[stage] : 'R';
}

/* While a body moves, either side may fail, and the code names the one
 * that did. A client that hung up or broke its connection (its receive
 * side says so) is at fault, not the upstream, which must not count it as
 * a 5xx. A stall with the upstream refusing more of the request (its send
 * side blocked) is the upstream's, not a slow client's. */
static char request_body_cause(struct gw_conn_self *self, int error)
{
	struct vk_vectoring *client_rx_ptr = vk_socket_rx(self->client_ptr);

	if (self->relay.status)
		return self->relay.status == 413 ? 'R' : 'B';
	if (vk_vectoring_eof(client_rx_ptr) || vk_vectoring_error(client_rx_ptr))
		return 'C';
	if (error == ETIMEDOUT)
		return vk_vectoring_blocked(vk_socket_tx(self->upstream_ptr)) ? 's' : 'c';
	return 'S';
}

/* On the way back the client fails when its side of the socket does. */
static char response_body_cause(struct gw_conn_self *self, int error)
{
	struct vk_vectoring *client_tx_ptr = vk_socket_tx(self->client_ptr);

	if (vk_vectoring_error(client_tx_ptr))
		return 'C';
	if (error == ETIMEDOUT)
		return vk_vectoring_blocked(client_tx_ptr) ? 'c' : 's';
	return self->relay.status == 502 || error == EPROTO ? 'P' : 'S';
}

void gw_conn_term_from_error(struct gw_conn_self *self, int error)
{
	char cause;

	if (self->term.cause)
		return; /* the stage said why before it raised */
	if (error == ENOMEM || error == ENOBUFS || error == EFAULT)
		cause = 'I';
	else
		switch (self->stage) {
		case GW_CONN_STAGE_BODY_IN:
			cause = self->relay.status == 413 ? 'R'
				: self->relay.status	  ? 'B'
				: error == ETIMEDOUT	  ? 'c'
							  : 'C';
			break;
		case GW_CONN_STAGE_QUEUE:
			cause = error == ETIMEDOUT ? 'R' : 'A';
			break;
		case GW_CONN_STAGE_CONNECT:
			cause = error == ETIMEDOUT ? 's' : 'S';
			break;
		case GW_CONN_STAGE_REQUEST_BODY:
			cause = request_body_cause(self, error);
			break;
		case GW_CONN_STAGE_RESPONSE_HEAD:
			cause = error == ETIMEDOUT ? 's' : error == EPROTO ? 'P' : 'S';
			break;
		case GW_CONN_STAGE_RESPONSE_BODY:
			cause = response_body_cause(self, error);
			break;
		default:
			cause = error == ETIMEDOUT ? 'c' : 'C';
			break;
		}
	self->term.cause = cause;
	self->term.stage = stage_letter(self->stage);
}

/* ---- answers ---- */

struct answer_self {
	int status;
	const char *body;
	size_t body_len;
	char error[GW_HTTP_ERROR_BODY_MAX];
};

/* Request filters ran and no response head went back through them yet:
 * an answer of the gateway's own goes back through them, like an
 * upstream's would (a browser needs its CORS headers on a 502 too). */
static int answer_goes_through_filters(const struct gw_conn_self *self)
{
	return self->route_ptr && self->exchange.stages_passed > 0 && !self->response_filtered &&
	       !self->exchange.resp_ptr && self->stage != GW_CONN_STAGE_RESPONSE_BODY;
}

/* What goes out: a filter's answer (its body, or the JSON error shape),
 * or the route's respond or redirect action. */
static void choose_body(struct gw_conn_self *conn_ptr, struct answer_self *self)
{
	const struct gw_exchange *ex_ptr = &conn_ptr->exchange;

	self->status = ex_ptr->response_status;
	self->body = NULL;
	self->body_len = 0;
	if (ex_ptr->verdict == GW_VERDICT_RESPOND && ex_ptr->error_message) {
		self->body_len =
			gw_http_error_body(self->error, sizeof(self->error), self->status, ex_ptr->error_message);
		self->body = self->error;
	} else if (ex_ptr->verdict == GW_VERDICT_RESPOND) {
		self->body = ex_ptr->body;
		self->body_len = ex_ptr->body_len;
	} else if (conn_ptr->route_ptr->action.kind == GW_ACTION_RESPOND) {
		self->body = conn_ptr->route_ptr->action.respond.body;
		self->body_len = conn_ptr->route_ptr->action.respond.body_len;
	}
}

/* A filter's answer, or the route's respond or redirect action (the
 * exchange's response_status), with the response edits of the filters it
 * went back through, which run here first. The request body is not read:
 * with one, the connection closes after the answer. The caller has set
 * the termination code. */
void gw_conn_answer_directly(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	struct answer_self *self;

	vk_begin();
	vk_catch
	{
		/* The client is gone or took nothing in time: it just closes. */
		conn_ptr->close_after = 1;
	}
	vk_idle_timeout(conn_ptr->cfg_ptr->body_idle_ms);
	if (answer_goes_through_filters(conn_ptr)) {
		conn_ptr->response_filtered = 1;
		if (gw_pipeline_run(&conn_ptr->exchange, GW_PHASE_RESPONSE_HEAD) == GW_PIPELINE_WAIT)
			vk_call(gw_pipeline_wait, &conn_ptr->exchange);
		/* Not an attempt at the upstream: nothing to go again. */
		if (conn_ptr->exchange.verdict == GW_VERDICT_RETRY)
			conn_ptr->exchange.verdict = GW_VERDICT_CONTINUE;
	}
	conn_ptr->close_after = !conn_ptr->req.head.keep_alive || conn_ptr->req.head.body != GW_BODY_NONE ||
				vk_sys_draining() || conn_ptr->force_close || conn_ptr->closing_listener;
	choose_body(conn_ptr, self);
	gw_conn_log_request(conn_ptr, self->status);
	gw_http_out_init(&conn_ptr->out, conn_ptr->out_ptr, conn_ptr->out_cap);
	gw_conn_write_answer_head(&conn_ptr->out, conn_ptr, self->status, self->body_len,
				  conn_ptr->exchange.verdict == GW_VERDICT_RESPOND && conn_ptr->exchange.error_message);
	if (conn_ptr->out.overflow)
		vk_raise(ENOBUFS);
	vk_write_on(conn_ptr->client_ptr, conn_ptr->out_ptr, conn_ptr->out.len);
	if (self->body_len && conn_ptr->req.method != GW_METHOD_HEAD)
		vk_write_on(conn_ptr->client_ptr, self->body, self->body_len);
	vk_flush_on(conn_ptr->client_ptr);
	vk_end();
}

struct error_self {
	int status;
};

/* The body relay failed. When nothing of the response has left for the
 * client and the client's side is fine, the queued part is taken back and
 * the error is answered instead; else what is queued goes out and the
 * close tells the client the body is short. */
static int response_taken_back(struct gw_conn_self *self)
{
	struct vk_vectoring *tx_ptr = vk_socket_tx(self->client_ptr);

	return !vk_vectoring_error(tx_ptr) && !vk_vectoring_blocked(tx_ptr) &&
	       vk_socket_tx_drop_from(self->client_ptr, self->response_mark) == 0;
}

/* The one place an ending with a termination code becomes what the
 * client hears: the table's status and message (or the stage's own) as a
 * JSON error, through the filters that let the request pass; nothing
 * when the code has no status (the client left, or part of the response
 * already went). The request is logged, and the connection closes. */
void gw_conn_answer_error(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	const struct gw_conn_config *cfg_ptr = conn_ptr->cfg_ptr;
	struct error_self *self;

	vk_begin();
	vk_catch
	{
		/* the client is gone or stalled too: it just closes */
	}
	/* The upstream connection is counted against max_connections: it
	 * goes at once, not when the client has heard why. */
	gw_conn_close_upstream(conn_ptr);
	/* A connect the request's deadline cut short is no failure of the
	 * endpoint's: a client asking for 5 ms must not get it ejected. */
	gw_conn_upstream_done(conn_ptr, cfg_ptr,
			      conn_ptr->stage == GW_CONN_STAGE_CONNECT && conn_ptr->next_cause != GW_NEXT_CAUSE_DEADLINE
				      ? GW_UPSTREAM_CONNECT_FAILURE
				      : GW_UPSTREAM_ABORTED);
	conn_ptr->close_after = 1;
	self->status = gw_term_answer_status(&conn_ptr->term);
	if (conn_ptr->stage == GW_CONN_STAGE_RESPONSE_BODY && self->status && !response_taken_back(conn_ptr))
		self->status = 0;
	/* Bounded: a client that takes nothing cannot hold the connection. */
	vk_idle_timeout(cfg_ptr->body_idle_ms);
	if (!self->status) {
		/* What the client got of the response is what it was. */
		gw_conn_log_request(conn_ptr,
				    conn_ptr->stage == GW_CONN_STAGE_RESPONSE_BODY ? conn_ptr->resp.status : 0);
		vk_flush_on(conn_ptr->client_ptr);
	} else {
		/* Answered like a filter's error, through the filters that let
		 * the request pass (gw_conn_answer_directly). */
		conn_ptr->force_close = 1;
		if (answer_goes_through_filters(conn_ptr)) {
			conn_ptr->exchange.response_status = self->status;
			conn_ptr->response_filtered = 1;
			if (gw_pipeline_run(&conn_ptr->exchange, GW_PHASE_RESPONSE_HEAD) == GW_PIPELINE_WAIT)
				vk_call(gw_pipeline_wait, &conn_ptr->exchange);
		}
		conn_ptr->exchange.verdict = GW_VERDICT_RESPOND;
		conn_ptr->exchange.response_status = self->status;
		conn_ptr->exchange.error_message = gw_term_answer_message(&conn_ptr->term);
		vk_call(gw_conn_answer_directly, conn_ptr);
	}
	vk_end();
}

/* ---- the tunnel ---- */

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

/* ---- the access log ---- */

/* The log's wall-clock time to the second, formatted when the second
 * changes, not per line: the milliseconds come from the kernel's
 * monotonic clock, read anyway, against where the second began. Per
 * kernel (each kernel is its own OS process). */
static struct {
	uint64_t second_ns; /* monotonic time at which the cached second began */
	uint64_t until_ns;  /* and ends: 0 before the first line */
	char text[sizeof("YYYY-MM-DDTHH:MM:SS")];
} log_clock;

/* value in exactly `width` decimal digits (zero-padded, cut on the left). */
static void out_digits(char *out, uint64_t value, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = (char)('0' + value % 10);
		value /= 10;
	}
}

static void log_clock_tick(uint64_t now_ns)
{
	struct timespec wall;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &wall);
	gmtime_r(&wall.tv_sec, &tm);
	out_digits(log_clock.text, (uint64_t)tm.tm_year + 1900, 4);
	log_clock.text[4] = '-';
	out_digits(log_clock.text + 5, (uint64_t)tm.tm_mon + 1, 2);
	log_clock.text[7] = '-';
	out_digits(log_clock.text + 8, (uint64_t)tm.tm_mday, 2);
	log_clock.text[10] = 'T';
	out_digits(log_clock.text + 11, (uint64_t)tm.tm_hour, 2);
	log_clock.text[13] = ':';
	out_digits(log_clock.text + 14, (uint64_t)tm.tm_min, 2);
	log_clock.text[16] = ':';
	out_digits(log_clock.text + 17, (uint64_t)tm.tm_sec, 2);
	log_clock.second_ns = now_ns - (uint64_t)wall.tv_nsec;
	log_clock.until_ns = log_clock.second_ns + 1000000000u;
}

/* "2026-12-05T06:37:50.123Z" */
static void out_time(struct gw_http_out *out_ptr, uint64_t now_ns)
{
	char ms[3];

	if (now_ns >= log_clock.until_ns || now_ns < log_clock.second_ns)
		log_clock_tick(now_ns);
	gw_http_out_bytes(out_ptr, log_clock.text, sizeof(log_clock.text) - 1);
	GW_HTTP_OUT_LITERAL(out_ptr, ".");
	out_digits(ms, (now_ns - log_clock.second_ns) / 1000000u, 3);
	gw_http_out_bytes(out_ptr, ms, 3);
	GW_HTTP_OUT_LITERAL(out_ptr, "Z");
}

/* A duration in milliseconds with three decimals. */
static void out_ms(struct gw_http_out *out_ptr, uint64_t ns)
{
	char frac[3];

	gw_http_out_uint(out_ptr, ns / 1000000u);
	GW_HTTP_OUT_LITERAL(out_ptr, ".");
	out_digits(frac, ns / 1000u % 1000u, 3);
	gw_http_out_bytes(out_ptr, frac, 3);
}

/* A JSON string, or null. */
static void out_string_or_null(struct gw_http_out *out_ptr, const char *string)
{
	if (!string) {
		GW_HTTP_OUT_LITERAL(out_ptr, "null");
		return;
	}
	GW_HTTP_OUT_LITERAL(out_ptr, "\"");
	gw_http_out_json_string(out_ptr, string, strlen(string), SIZE_MAX);
	GW_HTTP_OUT_LITERAL(out_ptr, "\"");
}

/* Length of the well-formed UTF-8 sequence of 2 to 4 bytes at p, or 0. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end)
{
	size_t n = p[0] >= 0xF0 && p[0] <= 0xF4	  ? 4
		   : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
		   : p[0] >= 0xC2 && p[0] <= 0xDF ? 2
						  : 0;
	uint32_t code;

	if (!n || (size_t)(end - p) < n)
		return 0;
	code = p[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		code = code << 6 | (p[i] & 0x3F);
	}
	/* overlong forms, surrogates and beyond U+10FFFF are not UTF-8 */
	if ((n == 3 && code < 0x800) || (n == 4 && (code < 0x10000 || code > 0x10FFFF)) ||
	    (code >= 0xD800 && code <= 0xDFFF))
		return 0;
	return n;
}

/* A database's text (a city, an organisation) as a JSON string: its
 * UTF-8 kept as is, any byte that is not UTF-8 as U+FFFD. */
static void out_text_or_null(struct gw_http_out *out_ptr, const char *text)
{
	const unsigned char *p = (const unsigned char *)text, *end;

	if (!text[0]) {
		GW_HTTP_OUT_LITERAL(out_ptr, "null");
		return;
	}
	end = p + strlen(text);
	GW_HTTP_OUT_LITERAL(out_ptr, "\"");
	while (p < end) {
		size_t n = *p >= 0x80 ? utf8_sequence(p, end) : 0;

		if (n)
			gw_http_out_bytes(out_ptr, (const char *)p, n);
		else if (*p >= 0x80)
			GW_HTTP_OUT_LITERAL(out_ptr, "\\ufffd");
		else
			gw_http_out_json_string(out_ptr, (const char *)p, 1, SIZE_MAX);
		p += n ? n : 1;
	}
	GW_HTTP_OUT_LITERAL(out_ptr, "\"");
}

/* What the geo databases said, when the request was looked up: the
 * address looked up (forwarded, perhaps) and the values routes and
 * filters saw, null where unknown. */
static void out_geo(struct gw_http_out *out_ptr, const struct gw_conn_self *self)
{
	const struct gw_geo_answer *a_ptr = &self->geo;
	char address[INET6_ADDRSTRLEN];

	if (!self->geo_looked_up) {
		GW_HTTP_OUT_LITERAL(out_ptr, "null");
		return;
	}
	if (a_ptr->address_known)
		gw_ip_format(&a_ptr->address, address, sizeof(address));
	GW_HTTP_OUT_LITERAL(out_ptr, "{\"address\":");
	out_string_or_null(out_ptr, a_ptr->address_known ? address : NULL);
	GW_HTTP_OUT_LITERAL(out_ptr, ",\"country\":");
	out_string_or_null(out_ptr, a_ptr->country[0] ? a_ptr->country : NULL);
	GW_HTTP_OUT_LITERAL(out_ptr, ",\"continent\":");
	out_string_or_null(out_ptr, a_ptr->continent[0] ? a_ptr->continent : NULL);
	GW_HTTP_OUT_LITERAL(out_ptr, ",\"subdivision\":");
	out_string_or_null(out_ptr, a_ptr->subdivision[0] ? a_ptr->subdivision : NULL);
	GW_HTTP_OUT_LITERAL(out_ptr, ",\"city\":");
	out_text_or_null(out_ptr, a_ptr->city);
	GW_HTTP_OUT_LITERAL(out_ptr, ",\"asn\":");
	if (a_ptr->asn)
		gw_http_out_uint(out_ptr, a_ptr->asn);
	else
		GW_HTTP_OUT_LITERAL(out_ptr, "null");
	GW_HTTP_OUT_LITERAL(out_ptr, ",\"asn_org\":");
	out_text_or_null(out_ptr, a_ptr->asn_org);
	GW_HTTP_OUT_LITERAL(out_ptr, "}");
}

/* The line's bounds on what the client chose. */
#define GW_CONN_LOG_METHOD_MAX 64
#define GW_CONN_LOG_TARGET_MAX 512
#define GW_CONN_LOG_QUERY_MAX 256 /* a query a stage replaced (out_target) */
#define GW_CONN_LOG_CONSUMER_MAX 128

/* The end of a request: its counters (gw_stats.h), and one JSON line in
 * the kernel's access log when that is on, written without printf (the
 * request path's cost, docs/gateway-design.md). */
/* The connection's TLS, or null: version, cipher, the server name the
 * client asked for (null: none; BoringSSL takes at most 255 bytes), and
 * whether the session was resumed. */
static void out_tls(struct gw_http_out *out_ptr, const struct gw_tls_stream *tls_ptr)
{
	const char *sni;

	if (!tls_ptr) {
		GW_HTTP_OUT_LITERAL(out_ptr, "null");
		return;
	}
	sni = gw_tls_stream_server_name(tls_ptr);
	GW_HTTP_OUT_LITERAL(out_ptr, "{\"version\":");
	out_string_or_null(out_ptr, gw_tls_stream_version(tls_ptr));
	GW_HTTP_OUT_LITERAL(out_ptr, ",\"cipher\":");
	out_string_or_null(out_ptr, gw_tls_stream_cipher(tls_ptr));
	GW_HTTP_OUT_LITERAL(out_ptr, ",\"sni\":");
	out_string_or_null(out_ptr, sni[0] ? sni : NULL);
	if (gw_tls_stream_resumed(tls_ptr))
		GW_HTTP_OUT_LITERAL(out_ptr, ",\"resumed\":true}");
	else
		GW_HTTP_OUT_LITERAL(out_ptr, ",\"resumed\":false}");
}

/* The target as received; but with the query a stage replaced (the
 * api_key filter takes its key out of it), the path and that query: a
 * secret the stage removed stays out of the log too. */
static void out_target(struct gw_http_out *out_ptr, const struct gw_conn_self *self)
{
	const char *target = span(self->head_ptr, self->req.target);
	size_t len = self->req.target.len;
	const char *mark = self->exchange.query_set ? memchr(target, '?', len) : NULL;

	if (!mark) {
		gw_http_out_json_string(out_ptr, target, len, GW_CONN_LOG_TARGET_MAX);
		return;
	}
	gw_http_out_json_string(out_ptr, target, (size_t)(mark - target), GW_CONN_LOG_TARGET_MAX);
	if (self->exchange.query_len == 0)
		return;
	GW_HTTP_OUT_LITERAL(out_ptr, "?");
	gw_http_out_json_string(out_ptr, self->exchange.query, self->exchange.query_len, GW_CONN_LOG_QUERY_MAX);
}

/* The value "consumer" an authentication stage set (any bytes a filter
 * chose: escaped), or null. */
static void out_consumer(struct gw_http_out *out_ptr, const struct gw_exchange *ex_ptr)
{
	size_t len;
	const char *consumer = gw_exchange_value(ex_ptr, "consumer", &len);

	if (!consumer) {
		GW_HTTP_OUT_LITERAL(out_ptr, "null");
		return;
	}
	GW_HTTP_OUT_LITERAL(out_ptr, "\"");
	gw_http_out_json_string(out_ptr, consumer, len, GW_CONN_LOG_CONSUMER_MAX);
	GW_HTTP_OUT_LITERAL(out_ptr, "\"");
}

/* Every attempt at the upstream ("tries": endpoint, outcome: its status
 * or termination code, or "cancelled" for the side of a race that lost;
 * ms; "hedge": true for a hedge), and the deadline: what was left of it when
 * the answer was decided (negative: past), and why no further attempt was
 * made when one was due ("budget", "deadline"). */
static void out_tries(struct gw_http_out *out_ptr, const struct gw_conn_self *self)
{
	int proxied = self->route_ptr && self->route_ptr->action.kind == GW_ACTION_PROXY && self->upstream_ns;
	uint64_t now = self->decided_ns;

	GW_HTTP_OUT_LITERAL(out_ptr, ",\"tries\":[");
	for (int i = 0; proxied && i < self->try_count; i++) {
		const struct gw_conn_try *try_ptr = &self->tries[i];
		char code[2] = {try_ptr->cause ? try_ptr->cause : '-', try_ptr->stage ? try_ptr->stage : '-'};

		GW_HTTP_OUT_LITERAL(out_ptr, "{\"endpoint\":");
		out_string_or_null(out_ptr, try_ptr->endpoint);
		GW_HTTP_OUT_LITERAL(out_ptr, ",\"outcome\":\"");
		if (try_ptr->cancelled)
			GW_HTTP_OUT_LITERAL(out_ptr, "cancelled");
		else if (try_ptr->status)
			gw_http_out_uint(out_ptr, try_ptr->status);
		else
			gw_http_out_bytes(out_ptr, code, 2);
		GW_HTTP_OUT_LITERAL(out_ptr, "\",\"ms\":");
		out_ms(out_ptr, (uint64_t)try_ptr->us * 1000u);
		if (try_ptr->hedge)
			GW_HTTP_OUT_LITERAL(out_ptr, ",\"hedge\":true");
		if (i + 1 < self->try_count)
			GW_HTTP_OUT_LITERAL(out_ptr, "},");
		else
			GW_HTTP_OUT_LITERAL(out_ptr, "}");
	}
	GW_HTTP_OUT_LITERAL(out_ptr, "],\"deadline_left_ms\":");
	if (!proxied || !self->deadline_ns) {
		GW_HTTP_OUT_LITERAL(out_ptr, "null");
	} else if (now < self->deadline_ns + 1000000u) {
		gw_http_out_uint(out_ptr, now < self->deadline_ns ? (self->deadline_ns - now) / 1000000u : 0);
	} else {
		GW_HTTP_OUT_LITERAL(out_ptr, "-");
		gw_http_out_uint(out_ptr, (now - self->deadline_ns) / 1000000u);
	}
	if (proxied && self->deadline_ignored)
		GW_HTTP_OUT_LITERAL(out_ptr, ",\"deadline_header\":\"ignored\"");
	GW_HTTP_OUT_LITERAL(out_ptr, ",\"retry_refused\":");
	out_string_or_null(out_ptr, proxied ? self->retry_refused : NULL);
}

void gw_conn_log_request(struct gw_conn_self *self, int status)
{
	uint64_t now = vk_sys_coarse_now_ns();
	struct gw_http_out out;
	char term[2];

	/* started_ns: once per request, however many paths end it. */
	if (!self->started_ns)
		return;
	gw_stats_request_done(status, self->bytes_in, self->bytes_out,
			      self->upstream_ns && self->route_ptr && self->route_ptr->action.kind == GW_ACTION_PROXY
				      ? self->pick.stats_upstream
				      : -1,
			      self->pick.endpoint);
	if (!gw_access_log_is_open()) {
		self->started_ns = 0;
		return;
	}
	term[0] = self->term.cause ? self->term.cause : '-';
	term[1] = self->term.cause ? self->term.stage : '-';
	gw_http_out_init(&out, self->log_line, sizeof(self->log_line));
	GW_HTTP_OUT_LITERAL(&out, "{\"time\":\"");
	out_time(&out, now);
	GW_HTTP_OUT_LITERAL(&out, "\",\"client\":\"");
	gw_http_out_bytes(&out, self->client_addr, strlen(self->client_addr));
	GW_HTTP_OUT_LITERAL(&out, "\",\"method\":\"");
	gw_http_out_json_string(&out, span(self->head_ptr, self->req.method_span), self->req.method_span.len,
				GW_CONN_LOG_METHOD_MAX);
	GW_HTTP_OUT_LITERAL(&out, "\",\"target\":\"");
	out_target(&out, self);
	GW_HTTP_OUT_LITERAL(&out, "\",\"status\":");
	gw_http_out_uint(&out, (uint64_t)status);
	GW_HTTP_OUT_LITERAL(&out, ",\"termination\":\"");
	gw_http_out_bytes(&out, term, 2);
	GW_HTTP_OUT_LITERAL(&out, "\",\"bytes_in\":");
	gw_http_out_uint(&out, self->bytes_in);
	GW_HTTP_OUT_LITERAL(&out, ",\"bytes_out\":");
	gw_http_out_uint(&out, self->bytes_out);
	GW_HTTP_OUT_LITERAL(&out, ",\"upstream\":");
	out_string_or_null(&out, self->upstream_ns ? self->pick.name : NULL);
	GW_HTTP_OUT_LITERAL(&out, ",\"attempts\":");
	gw_http_out_uint(&out, (uint64_t)self->attempts_sent);
	out_tries(&out, self);
	GW_HTTP_OUT_LITERAL(&out, ",\"upstream_ms\":");
	out_ms(&out, self->upstream_ns ? now - self->upstream_ns : 0);
	GW_HTTP_OUT_LITERAL(&out, ",\"total_ms\":");
	out_ms(&out, now - self->started_ns);
	GW_HTTP_OUT_LITERAL(&out, ",\"route\":");
	out_string_or_null(&out, self->route_ptr ? self->route_ptr->name : NULL);
	GW_HTTP_OUT_LITERAL(&out, ",\"filters\":{\"passed\":");
	gw_http_out_uint(&out, (uint64_t)self->exchange.stages_passed);
	GW_HTTP_OUT_LITERAL(&out, ",\"answered_by\":");
	out_string_or_null(&out, self->exchange.answered_by);
	GW_HTTP_OUT_LITERAL(&out, "},\"consumer\":");
	out_consumer(&out, &self->exchange);
	GW_HTTP_OUT_LITERAL(&out, ",\"tls\":");
	out_tls(&out, self->tls_ptr);
	GW_HTTP_OUT_LITERAL(&out, ",\"geo\":");
	out_geo(&out, self);
	GW_HTTP_OUT_LITERAL(&out, "}\n");
	if (!out.overflow)
		gw_access_log_append(self->log_line, out.len);
	self->started_ns = 0;
}
