/* gw_conn: the life of a client connection (see gw_conn.h).
 *
 * One thread does it all, in order: read a head (under the header
 * deadline), forward it, splice the body, read the response head (under
 * the response deadline), relay it, splice its body. The stage it is in
 * decides what an error becomes: before anything of the response went to
 * the client, a JSON error response; after, the connection just closes. */
#include "gw_conn.h"
#include "gw_conn_s.h"
#include "gw_http.h"
#include "gw_http_s.h"
#include "gw_relay.h"
#include "gw_status.h"

#include "vk_coro.h"
#include "vk_heap.h"
#include "vk_proc_local.h"
#include "vk_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define GW_CONN_LINE_MAX 512
#define GW_CONN_ERROR_MAX 640

enum gw_conn_stage {
	STAGE_IDLE,	     /* between requests: a close is quiet */
	STAGE_REQUEST_HEAD,  /* reading the head: errors are 400/408/431... */
	STAGE_CONNECT,	     /* reaching the upstream: 502/504 */
	STAGE_REQUEST_BODY,  /* forwarding the request: 502, or 408 on the client */
	STAGE_RESPONSE_HEAD, /* waiting for the upstream: 502/504 */
	STAGE_RESPONSE_BODY, /* the client has part of the response: close only */
};

struct gw_conn_self {
	struct gw_request req;
	struct gw_response resp;
	struct vk_socket *client_ptr;
	struct vk_socket *upstream_ptr;
	char *head_ptr; /* the request head as received: forwarded from here */
	size_t head_len;
	char *resp_ptr; /* the response head as received */
	size_t resp_len;
	size_t n;
	int rc;
	int more;
	int upstream_open;
	int stage;
	int status;
	int close_after;
	uint32_t i;
	char client_addr[INET6_ADDRSTRLEN];
	char line[GW_CONN_LINE_MAX];
	size_t line_len;
	char error[GW_CONN_ERROR_MAX];
	struct gw_relay relay;
};

/* Two heads (request, response), two sockets of two rings, the thread's
 * locals, a chunked relay in flight, and room for bookkeeping. */
#define GW_CONN_HEAP_SLACK (32 * 1024)

size_t gw_conn_heap_pages(size_t max_head_bytes, size_t ring_bytes)
{
	size_t bytes = 2 * max_head_bytes + 4 * ring_bytes + sizeof(struct gw_conn_self) + GW_RELAY_HEAP_BYTES +
		       GW_CONN_HEAP_SLACK;

	return vk_pages_for(bytes);
}

static const char *span(const char *buf, struct gw_http_span s)
{
	return buf + s.off;
}

/* Fields a proxy never forwards as received (RFC 9110 7.6.1), besides the
 * ones the Connection header names. */
static int hop_by_hop(const char *name, size_t len)
{
	static const char *const names[] = {"connection", "keep-alive",	       "proxy-connection", "te",
					    "trailer",	  "transfer-encoding", "upgrade",	   "expect"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0)
			return 1;
	return 0;
}

/* Host and Content-Length are written once by the proxy itself: the
 * effective host (absolute-form wins), and one length however the client
 * repeated it. */
static int forwarded(const char *buf, const struct gw_http_field *f)
{
	return !f->nominated && f->kind != GW_FIELD_HOST && f->kind != GW_FIELD_CONTENT_LENGTH &&
	       !hop_by_hop(buf + f->name.off, f->name.len);
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
	case STAGE_REQUEST_HEAD:
		return error == ETIMEDOUT ? 408 : error == ENOBUFS ? 431 : 400;
	case STAGE_CONNECT:
		return error == ETIMEDOUT ? 504 : 502;
	case STAGE_REQUEST_BODY:
		return error == ETIMEDOUT ? 408 : 502;
	case STAGE_RESPONSE_HEAD:
		return error == ETIMEDOUT ? 504 : 502;
	default:
		return 0;
	}
}

static const char *error_message(int stage, int error)
{
	switch (stage) {
	case STAGE_REQUEST_HEAD:
		return error == ETIMEDOUT ? "request head not received in time" : "malformed request";
	case STAGE_CONNECT:
		return error == ETIMEDOUT ? "upstream connect timed out" : "upstream connect failed";
	case STAGE_REQUEST_BODY:
		return error == ETIMEDOUT ? "request body stalled" : "upstream failed while receiving the request";
	case STAGE_RESPONSE_HEAD:
		return error == ETIMEDOUT ? "upstream response timed out" : "upstream sent no valid response";
	default:
		return "";
	}
}

void gw_conn_main(struct vk_thread *that)
{
	const struct gw_conn_config *cfg = vk_thread_arg(that);
	struct gw_conn_self *self;
	const struct gw_http_field *f;

	vk_begin();
	self->client_ptr = that->socket_ptr;
	self->head_ptr = vk_proc_local_alloc(vk_thread_proc_local(that), cfg->limits.max_head_bytes);
	self->resp_ptr = vk_proc_local_alloc(vk_thread_proc_local(that), cfg->limits.max_head_bytes);
	self->upstream_ptr = vk_socket_alloc(vk_thread_proc_local(that), cfg->ring_bytes, cfg->ring_bytes);
	if (!self->head_ptr || !self->resp_ptr || !self->upstream_ptr)
		vk_raise(ENOMEM);
	peer_address(self->client_ptr, self->client_addr, sizeof(self->client_addr));

	vk_catch
	{
		/* Errors end the connection; what the client hears depends on how
		 * far the exchange got. */
		if (!self->status && self->relay.status && self->stage != STAGE_RESPONSE_BODY)
			self->status = self->relay.status;
		self->status = self->status ? self->status : error_status(self->stage, vk_error());
		if (self->status) {
			self->n = gw_status_error_response(self->error, sizeof(self->error), self->status,
							   error_message(self->stage, vk_error()), 1);
			vk_deadline_clear();
			vk_write_on(self->client_ptr, self->error, self->n);
			vk_flush_on(self->client_ptr);
		}
	}

	for (;;) {
		/* ---- the next request ---- */
		self->stage = STAGE_IDLE;
		self->status = 0;
		vk_deadline(cfg->keepalive_idle_ms);
		vk_wait_request(self->more);
		if (!self->more)
			break;
		self->stage = STAGE_REQUEST_HEAD;
		vk_deadline(cfg->header_timeout_ms);
		gw_http_request_init(&self->req);
		self->head_len = 0;
		for (;;) {
			vk_read_some(self->n, self->head_ptr + self->head_len,
				     cfg->limits.max_head_bytes - self->head_len);
			if (self->n == 0)
				goto done; /* the client left mid-head: nothing to answer */
			self->head_len += self->n;
			self->rc = gw_http_parse_request(&self->req, self->head_ptr, self->head_len, &cfg->limits);
			if (self->rc > 0)
				break;
			if (self->rc < 0) {
				self->status = -self->rc;
				vk_raise(EPROTO);
			}
			if (self->head_len == cfg->limits.max_head_bytes) {
				self->status = 431;
				vk_raise(EPROTO);
			}
		}
		/* What came after the head is the body or the next request. */
		vk_socket_unread(self->client_ptr, self->head_ptr + self->rc, self->head_len - (size_t)self->rc);
		self->head_len = (size_t)self->rc;
		/* A chunked body already here is checked whole first, so a
		 * malformed one is refused before any of it goes upstream. */
		if (self->req.head.body == GW_BODY_CHUNKED) {
			self->rc = gw_relay_chunked_precheck(self->client_ptr, &cfg->limits);
			if (self->rc < 0) {
				self->status = -self->rc;
				vk_raise(EPROTO);
			}
		}

		/* ---- the upstream ---- */
		if (!self->upstream_open) {
			self->stage = STAGE_CONNECT;
			vk_deadline(cfg->connect_timeout_ms);
			vk_connect(self->upstream_ptr, &cfg->upstream_addr, cfg->upstream_addr_len);
			self->upstream_open = 1;
		}
		self->stage = STAGE_REQUEST_BODY;
		vk_deadline_clear();

		/* Request line, always HTTP/1.1 and origin-form upstream. */
		vk_write_on(self->upstream_ptr, span(self->head_ptr, self->req.method_span), self->req.method_span.len);
		vk_write_on(self->upstream_ptr, " ", 1);
		if (self->req.target_form == GW_TARGET_ABSOLUTE) {
			if (self->req.target_path.len == 0 || self->head_ptr[self->req.target_path.off] != '/')
				vk_write_on(self->upstream_ptr, "/", 1);
			vk_write_on(self->upstream_ptr, span(self->head_ptr, self->req.target_path),
				    self->req.target_path.len);
		} else {
			vk_write_on(self->upstream_ptr, span(self->head_ptr, self->req.target), self->req.target.len);
		}
		vk_write_on(self->upstream_ptr, " HTTP/1.1\r\n", 11);
		for (self->i = 0; self->i < self->req.head.field_count; self->i++) {
			f = &self->req.head.fields[self->i];
			if (!forwarded(self->head_ptr, f))
				continue;
			/* The name, ": ", the value and CRLF as one run of the head. */
			vk_write_on(self->upstream_ptr, span(self->head_ptr, self->req.head.fields[self->i].name),
				    self->req.head.fields[self->i].value.off +
					    self->req.head.fields[self->i].value.len -
					    self->req.head.fields[self->i].name.off);
			vk_write_on(self->upstream_ptr, "\r\n", 2);
		}
		if (self->req.host.len) {
			vk_write_on(self->upstream_ptr, "Host: ", 6);
			vk_write_on(self->upstream_ptr, span(self->head_ptr, self->req.host), self->req.host.len);
			vk_write_on(self->upstream_ptr, "\r\nX-Forwarded-Host: ", 20);
			vk_write_on(self->upstream_ptr, span(self->head_ptr, self->req.host), self->req.host.len);
			vk_write_on(self->upstream_ptr, "\r\n", 2);
		}
		self->line_len = (size_t)snprintf(self->line, sizeof(self->line),
						  "Via: 1.%d %s\r\nX-Forwarded-For: %s\r\nX-Forwarded-Proto: http\r\n",
						  self->req.head.version_minor, cfg->via, self->client_addr);
		vk_write_on(self->upstream_ptr, self->line, self->line_len);
		if (self->req.head.body == GW_BODY_LENGTH) {
			self->line_len = (size_t)snprintf(self->line, sizeof(self->line), "Content-Length: %llu\r\n",
							  (unsigned long long)self->req.head.content_length);
			vk_write_on(self->upstream_ptr, self->line, self->line_len);
		} else if (self->req.head.body == GW_BODY_CHUNKED) {
			vk_write_on(self->upstream_ptr, "Transfer-Encoding: chunked\r\n", 28);
		}
		vk_write_on(self->upstream_ptr, "\r\n", 2);

		/* Body: the client asked to be told to go on (RFC 9110 10.1.1). */
		if (self->req.expect_continue &&
		    (self->req.head.body == GW_BODY_CHUNKED ||
		     (self->req.head.body == GW_BODY_LENGTH && self->req.head.content_length > 0))) {
			vk_write_on(self->client_ptr, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			vk_flush_on(self->client_ptr);
		}
		if (self->req.head.body == GW_BODY_LENGTH && self->req.head.content_length > 0) {
			vk_deadline(cfg->body_idle_ms);
			vk_splice(self->n, self->client_ptr, self->upstream_ptr, self->req.head.content_length);
			if (self->n < self->req.head.content_length)
				goto done; /* the client left mid-body: the upstream request is abandoned */
		} else if (self->req.head.body == GW_BODY_CHUNKED) {
			vk_deadline(cfg->body_idle_ms);
			self->relay = (struct gw_relay){.src_ptr = self->client_ptr,
							.dst_ptr = self->upstream_ptr,
							.limits_ptr = &cfg->limits,
							.malformed_status = 400};
			vk_call(gw_relay_chunked, &self->relay);
		}
		vk_flush_on(self->upstream_ptr);

		/* ---- the response head ---- */
		self->stage = STAGE_RESPONSE_HEAD;
		vk_deadline(cfg->response_timeout_ms);
		for (;;) {
			gw_http_response_init(&self->resp);
			self->resp_len = 0;
			for (;;) {
				vk_read_some_on(self->upstream_ptr, self->n, self->resp_ptr + self->resp_len,
						cfg->limits.max_head_bytes - self->resp_len);
				if (self->n == 0)
					vk_raise(ECONNRESET);
				self->resp_len += self->n;
				self->rc = gw_http_parse_response(&self->resp, self->resp_ptr, self->resp_len,
								  &cfg->limits, self->req.method == GW_METHOD_HEAD);
				if (self->rc > 0)
					break;
				if (self->rc < 0 || self->resp_len == cfg->limits.max_head_bytes)
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

		/* ---- the response ---- */
		self->stage = STAGE_RESPONSE_BODY;
		/* An HTTP/1.0 client cannot take chunks: it gets the data and a close. */
		self->close_after = !self->req.head.keep_alive || self->resp.head.body == GW_BODY_UNTIL_CLOSE ||
				    (self->resp.head.body == GW_BODY_CHUNKED && self->req.head.version_minor == 0) ||
				    vk_sys_draining();
		self->line_len = (size_t)snprintf(self->line, sizeof(self->line), "HTTP/1.1 %u ", self->resp.status);
		vk_write_on(self->client_ptr, self->line, self->line_len);
		vk_write_on(self->client_ptr, span(self->resp_ptr, self->resp.reason), self->resp.reason.len);
		vk_write_on(self->client_ptr, "\r\n", 2);
		for (self->i = 0; self->i < self->resp.head.field_count; self->i++) {
			f = &self->resp.head.fields[self->i];
			/* A length without a body (HEAD, 304) describes the
			 * representation: it passes as it came. */
			if (!forwarded(self->resp_ptr, f) &&
			    !(f->kind == GW_FIELD_CONTENT_LENGTH && self->resp.head.body != GW_BODY_LENGTH))
				continue;
			vk_write_on(self->client_ptr, span(self->resp_ptr, self->resp.head.fields[self->i].name),
				    self->resp.head.fields[self->i].value.off +
					    self->resp.head.fields[self->i].value.len -
					    self->resp.head.fields[self->i].name.off);
			vk_write_on(self->client_ptr, "\r\n", 2);
		}
		if (self->resp.head.body == GW_BODY_LENGTH)
			self->line_len = (size_t)snprintf(self->line, sizeof(self->line), "Content-Length: %llu\r\n",
							  (unsigned long long)self->resp.head.content_length);
		else if (self->resp.head.body == GW_BODY_CHUNKED && self->req.head.version_minor == 1)
			self->line_len =
				(size_t)snprintf(self->line, sizeof(self->line), "Transfer-Encoding: chunked\r\n");
		else
			self->line_len = 0;
		self->line_len += (size_t)snprintf(self->line + self->line_len, sizeof(self->line) - self->line_len,
						   "Via: 1.%d %s\r\n%s\r\n", self->resp.head.version_minor, cfg->via,
						   self->close_after ? "Connection: close\r\n" : "");
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
							.limits_ptr = &cfg->limits,
							.malformed_status = 502,
							.raw = self->req.head.version_minor == 0};
			vk_call(gw_relay_chunked, &self->relay);
		}
		vk_flush_on(self->client_ptr);
		if (!self->resp.head.keep_alive || self->resp.head.body == GW_BODY_UNTIL_CLOSE) {
			vk_socket_close(self->upstream_ptr);
			self->upstream_open = 0;
		}
		if (self->close_after)
			break;
	}
done:
	vk_deadline_clear();
	vk_flush_on(self->client_ptr);
	vk_end();
}
