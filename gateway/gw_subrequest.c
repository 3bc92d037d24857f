/* gw_subrequest: a request of the gateway's own to a configured upstream
 * (gw_subrequest.h). One run: bind to a configuration, pick an endpoint,
 * take a connection, send the head, read the response whole, then give
 * the connection back to the pool (or close it) and record the outcome,
 * as the connection process does for a proxied request
 * (gateway/gw_conn_next.c), in a few stages of its own. */
#include "gw_subrequest.h"
#include "gw_subrequest_s.h"
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_conn_s.h"
#include "gw_generation.h"
#include "gw_generation_s.h"
#include "gw_http.h"
#include "gw_tls_stream.h"

#include "vk_coro.h"
#include "vk_proc_local.h"
#include "vk_socket.h"
#include "vk_vectoring.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* The request head goes out through this ring; the target and the
 * fields wait in the caller's memory when it is full. */
#define SUBREQUEST_TX_BYTES 2048

size_t gw_subrequest_heap_bytes(size_t body_cap)
{
	return sizeof(struct gw_subrequest) + GW_SUBREQUEST_HEAD_BYTES + GW_SUBREQUEST_ASK_BYTES + body_cap + 1 +
	       vk_socket_size() + GW_SUBREQUEST_HEAD_BYTES + SUBREQUEST_TX_BYTES + gw_tls_stream_size() +
	       GW_RELAY_HEAP_BYTES + 256;
}

struct gw_subrequest *gw_subrequest_create(struct vk_proc_local *proc_local_ptr, size_t body_cap)
{
	struct gw_subrequest *sub_ptr = vk_proc_local_alloc(proc_local_ptr, sizeof(*sub_ptr));

	if (!sub_ptr)
		return NULL;
	sub_ptr->proc_local_ptr = proc_local_ptr;
	sub_ptr->body_cap = body_cap;
	sub_ptr->head_ptr = vk_proc_local_alloc_raw(proc_local_ptr, GW_SUBREQUEST_HEAD_BYTES);
	sub_ptr->body_ptr = vk_proc_local_alloc_raw(proc_local_ptr, body_cap + 1);
	sub_ptr->ask_ptr = vk_proc_local_alloc_raw(proc_local_ptr, GW_SUBREQUEST_ASK_BYTES);
	sub_ptr->socket_ptr = vk_socket_alloc(proc_local_ptr, GW_SUBREQUEST_HEAD_BYTES, SUBREQUEST_TX_BYTES);
	sub_ptr->tls_ptr = vk_proc_local_alloc(proc_local_ptr, gw_tls_stream_size());
	if (!sub_ptr->head_ptr || !sub_ptr->body_ptr || !sub_ptr->ask_ptr || !sub_ptr->socket_ptr ||
	    !sub_ptr->tls_ptr) {
		gw_subrequest_destroy(sub_ptr);
		return NULL;
	}
	gw_http_limits_default(&sub_ptr->limits);
	sub_ptr->limits.max_head_bytes = GW_SUBREQUEST_HEAD_BYTES;
	sub_ptr->limits.max_body_bytes = body_cap;
	return sub_ptr;
}

void gw_subrequest_destroy(struct gw_subrequest *sub_ptr)
{
	if (!sub_ptr)
		return;
	if (sub_ptr->socket_ptr)
		vk_socket_free(sub_ptr->socket_ptr);
	vk_proc_local_free(sub_ptr->proc_local_ptr, sub_ptr->tls_ptr);
	vk_proc_local_free(sub_ptr->proc_local_ptr, sub_ptr->ask_ptr);
	vk_proc_local_free(sub_ptr->proc_local_ptr, sub_ptr->body_ptr);
	vk_proc_local_free(sub_ptr->proc_local_ptr, sub_ptr->head_ptr);
	vk_proc_local_free(sub_ptr->proc_local_ptr, sub_ptr);
}

char *gw_subrequest_ask_buffer(struct gw_subrequest *sub_ptr)
{
	return sub_ptr->ask_ptr;
}

void gw_subrequest_ask(struct gw_subrequest *sub_ptr, const struct gw_subrequest_ask *ask_ptr)
{
	sub_ptr->ask = *ask_ptr;
}

/* ---- one run, in stages ---- */

static void run_reset(struct gw_subrequest *sub_ptr)
{
	sub_ptr->outcome = GW_SUBREQUEST_NONE;
	sub_ptr->failure = "";
	sub_ptr->picked = 0;
	sub_ptr->fd = -1;
	sub_ptr->tls_kept_ptr = NULL;
	sub_ptr->reused = 0;
	sub_ptr->fresh = 0;
	sub_ptr->waited = 0;
	sub_ptr->endpoint_at_fault = 0;
	sub_ptr->relay.status = 0;
	sub_ptr->tls_started = 0;
	sub_ptr->stage = GW_SUBREQUEST_STAGE_QUEUE;
	sub_ptr->head_len = 0;
	sub_ptr->body_len = 0;
	sub_ptr->parsed_upto = 0;
	gw_http_response_init(&sub_ptr->resp);
}

static void fail(struct gw_subrequest *sub_ptr, enum gw_subrequest_outcome outcome, const char *failure)
{
	sub_ptr->outcome = outcome;
	sub_ptr->failure = failure;
}

/* The configuration the run goes by, and its upstream: 0, or -1 with
 * the outcome set. */
static int bind_upstream(struct gw_subrequest *sub_ptr)
{
	const struct gw_config_upstream *upstream_ptr;

	sub_ptr->run_config_ptr = sub_ptr->config_ptr;
	sub_ptr->run_ops_ptr = sub_ptr->ops_ptr;
	if (!sub_ptr->run_config_ptr) {
		struct gw_generation *generation_ptr = gw_generation_current();

		if (!generation_ptr || generation_ptr->listener_count == 0) {
			fail(sub_ptr, GW_SUBREQUEST_UNKNOWN_UPSTREAM, "no configuration in force");
			return -1;
		}
		/* Held to the end of the run: a reload cannot free the
		 * upstreams this run is using. */
		gw_generation_hold(generation_ptr);
		sub_ptr->held_ptr = generation_ptr;
		sub_ptr->run_config_ptr = generation_ptr->conn_configs_ptr[0].config_ptr;
		sub_ptr->run_ops_ptr = &generation_ptr->conn_configs_ptr[0].upstream_ops;
	}
	upstream_ptr = gw_config_find_upstream(sub_ptr->run_config_ptr, sub_ptr->ask.upstream);
	if (!upstream_ptr) {
		fail(sub_ptr, GW_SUBREQUEST_UNKNOWN_UPSTREAM, "no such upstream in the configuration");
		return -1;
	}
	sub_ptr->upstream_index = upstream_ptr->index;
	return 0;
}

static void unbind(struct gw_subrequest *sub_ptr)
{
	if (sub_ptr->held_ptr)
		gw_generation_release(sub_ptr->held_ptr);
	sub_ptr->held_ptr = NULL;
}

static void connection_close(struct gw_subrequest *sub_ptr)
{
	if (sub_ptr->tls_started && !vk_sys_faulted())
		gw_tls_stream_end(sub_ptr->tls_ptr);
	sub_ptr->tls_started = 0;
	vk_socket_close(sub_ptr->socket_ptr);
}

/* The run ended: the outcome to the upstream's health and breaker, the
 * connection to the pool when the response was read whole and it may
 * carry another. */
static void run_end(struct gw_subrequest *sub_ptr)
{
	const struct gw_upstream_ops *ops_ptr = sub_ptr->run_ops_ptr;
	enum gw_upstream_outcome outcome = GW_UPSTREAM_ABORTED;
	int fd;

	if (!sub_ptr->picked) {
		unbind(sub_ptr);
		return;
	}
	if (sub_ptr->outcome == GW_SUBREQUEST_RESPONSE) {
		outcome = sub_ptr->resp.status >= 500 ? GW_UPSTREAM_5XX : GW_UPSTREAM_OK;
		if (sub_ptr->resp.head.keep_alive && sub_ptr->resp.head.body != GW_BODY_UNTIL_CLOSE &&
		    (!sub_ptr->tls_started || gw_tls_stream_quiet(sub_ptr->tls_ptr)) &&
		    (fd = vk_socket_detach_fd(sub_ptr->socket_ptr)) >= 0) {
			ops_ptr->keep(ops_ptr->ctx_ptr, sub_ptr->upstream_index, &sub_ptr->pick, fd,
				      sub_ptr->tls_started ? gw_tls_stream_keep(sub_ptr->tls_ptr) : NULL);
			sub_ptr->tls_started = 0;
		}
	} else if (sub_ptr->outcome == GW_SUBREQUEST_CONNECT_FAILED && sub_ptr->endpoint_at_fault) {
		outcome = GW_UPSTREAM_CONNECT_FAILURE;
	}
	connection_close(sub_ptr);
	ops_ptr->done(ops_ptr->ctx_ptr, sub_ptr->upstream_index, sub_ptr->pick.endpoint, outcome);
	sub_ptr->picked = 0;
	unbind(sub_ptr);
}

/* What an error raised in the exchange means. */
static void failed_with(struct gw_subrequest *sub_ptr, int error)
{
	if (sub_ptr->outcome != GW_SUBREQUEST_NONE)
		return; /* set where it was seen */
	if (sub_ptr->stage <= GW_SUBREQUEST_STAGE_CONNECT) {
		const char *tls_failure = sub_ptr->tls_started ? gw_tls_stream_failure(sub_ptr->tls_ptr) : "";

		fail(sub_ptr, GW_SUBREQUEST_CONNECT_FAILED,
		     tls_failure[0]	  ? tls_failure
		     : error == ETIMEDOUT ? "connect timed out"
					  : "connect failed");
		/* The endpoint's health hears of it unless the gateway is the
		 * cause: no memory, or a time out after the run waited in line
		 * (the connect had only what the queue left of the budget). */
		sub_ptr->endpoint_at_fault = error != ENOMEM && !(error == ETIMEDOUT && sub_ptr->waited);
	} else if (error == ETIMEDOUT) {
		fail(sub_ptr, GW_SUBREQUEST_TIMEOUT, "no whole response in time");
	} else if (error == ENOMEM) {
		fail(sub_ptr, GW_SUBREQUEST_INVALID, "no memory");
	} else {
		fail(sub_ptr, GW_SUBREQUEST_INVALID, "the connection ended before a whole response");
	}
}

/* A connection for the picked endpoint: kept, new, or after a wait in
 * line (max_connections), until the run's deadline. */
static void take_connection(struct vk_thread *that)
{
	struct gw_subrequest *sub_ptr = vk_thread_arg(that);
	const struct gw_upstream_ops *ops_ptr = sub_ptr->run_ops_ptr;
	const char *reason = "";

	vk_begin_stateless();
	while ((sub_ptr->rc = ops_ptr->connection(ops_ptr->ctx_ptr, sub_ptr->upstream_index, &sub_ptr->pick, 0,
						  &sub_ptr->fd, &sub_ptr->tls_kept_ptr, &reason)) == GW_UPSTREAM_WAIT) {
		if (vk_sys_coarse_now_ns() >= sub_ptr->wait_until_ns) {
			ops_ptr->stop_waiting(ops_ptr->ctx_ptr, sub_ptr->upstream_index);
			fail(sub_ptr, GW_SUBREQUEST_REFUSED, "no upstream connection free in time");
			vk_raise(ETIMEDOUT);
		}
		vk_wait_notified((sub_ptr->wait_until_ns - vk_sys_coarse_now_ns()) / 1000000u + 1);
		ops_ptr = sub_ptr->run_ops_ptr;
	}
	if (sub_ptr->rc == GW_UPSTREAM_REFUSED) {
		fail(sub_ptr, GW_SUBREQUEST_REFUSED, reason);
		vk_raise(EPROTO);
	}
	vk_socket_attach_fd(sub_ptr->socket_ptr, sub_ptr->fd);
	sub_ptr->reused = sub_ptr->rc == GW_UPSTREAM_KEPT;
	if (sub_ptr->reused) {
		if (sub_ptr->pick.tls_ptr) {
			gw_tls_stream_resume(sub_ptr->tls_ptr, sub_ptr->pick.tls_ptr, sub_ptr->pick.endpoint,
					     sub_ptr->tls_kept_ptr, sub_ptr->socket_ptr);
			sub_ptr->tls_started = 1;
		}
		vk_socket_assume_drained(sub_ptr->socket_ptr);
	} else {
		sub_ptr->stage = GW_SUBREQUEST_STAGE_CONNECT;
		vk_connect(sub_ptr->socket_ptr, sub_ptr->pick.addr_ptr, sub_ptr->pick.addr_len);
		if (sub_ptr->pick.tls_ptr) {
			if (gw_tls_stream_connect(sub_ptr->tls_ptr, sub_ptr->pick.tls_ptr, sub_ptr->pick.endpoint,
						  sub_ptr->socket_ptr) == -1)
				vk_raise(ENOMEM);
			sub_ptr->tls_started = 1;
			vk_handshake_on(sub_ptr->socket_ptr);
		}
	}
	sub_ptr->stage = GW_SUBREQUEST_STAGE_RESPONSE;
	vk_end();
}

/* What has come of the head so far, parsed from a copy (the ring may
 * wrap): 1 with a final head taken out of the ring, 0 for more, or -1
 * with the outcome set. An interim head (1xx) is taken out and the next
 * one parsed. */
static int head_parsed(struct gw_subrequest *sub_ptr)
{
	struct vk_vectoring *rx_ptr = vk_socket_rx(sub_ptr->socket_ptr);
	size_t held;
	int rc;

	for (;;) {
		held = vk_socket_rx_held(sub_ptr->socket_ptr);
		if (held > GW_SUBREQUEST_HEAD_BYTES)
			held = GW_SUBREQUEST_HEAD_BYTES;
		vk_vectoring_peek(rx_ptr, sub_ptr->head_ptr, held);
		gw_http_response_init(&sub_ptr->resp);
		rc = gw_http_parse_response(&sub_ptr->resp, sub_ptr->head_ptr, held, &sub_ptr->limits,
					    strcmp(sub_ptr->ask.method, "HEAD") == 0);
		if (rc < 0) {
			fail(sub_ptr, GW_SUBREQUEST_INVALID,
			     sub_ptr->resp.head.error_ptr ? sub_ptr->resp.head.error_ptr : "invalid response");
			return -1;
		}
		if (rc == 0) {
			if (vk_vectoring_is_full(rx_ptr) || held == GW_SUBREQUEST_HEAD_BYTES) {
				fail(sub_ptr, GW_SUBREQUEST_TOO_LARGE, "response head too large");
				return -1;
			}
			sub_ptr->parsed_upto = held;
			return 0;
		}
		vk_socket_rx_drop(sub_ptr->socket_ptr, (size_t)rc);
		if (sub_ptr->resp.status >= 200) {
			sub_ptr->head_len = (size_t)rc;
			return 1;
		}
		if (sub_ptr->resp.status == 101) {
			fail(sub_ptr, GW_SUBREQUEST_INVALID, "the upstream switched protocols");
			return -1;
		}
		sub_ptr->parsed_upto = 0;
	}
}

static void read_head(struct vk_thread *that)
{
	struct gw_subrequest *sub_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	for (;;) {
		vk_wait_more_on(sub_ptr->socket_ptr, sub_ptr->parsed_upto);
		if (vk_socket_rx_held(sub_ptr->socket_ptr) <= sub_ptr->parsed_upto)
			vk_raise(ECONNRESET); /* the upstream ended */
		sub_ptr->rc = head_parsed(sub_ptr);
		if (sub_ptr->rc == -1)
			vk_raise(EPROTO);
		if (sub_ptr->rc == 1)
			break;
	}
	vk_end();
}

/* The body, kept whole: framed by its length, chunked, or to the close. */
static void read_body(struct vk_thread *that)
{
	struct gw_subrequest *sub_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	vk_catch
	{
		if (sub_ptr->relay.status == 413)
			fail(sub_ptr, GW_SUBREQUEST_TOO_LARGE, "response body too large");
		else if (vk_error() == EPROTO)
			fail(sub_ptr, GW_SUBREQUEST_INVALID, "malformed chunked body");
		vk_raise(vk_error());
	}
	switch (sub_ptr->resp.head.body) {
	case GW_BODY_NONE:
		break;
	case GW_BODY_LENGTH:
		if (sub_ptr->resp.head.content_length > sub_ptr->body_cap) {
			fail(sub_ptr, GW_SUBREQUEST_TOO_LARGE, "response body too large");
			vk_raise(EFBIG);
		}
		vk_read_on(sub_ptr->socket_ptr, sub_ptr->body_len, sub_ptr->body_ptr,
			   sub_ptr->resp.head.content_length);
		if (sub_ptr->body_len < sub_ptr->resp.head.content_length)
			vk_raise(ECONNRESET);
		break;
	case GW_BODY_CHUNKED:
		sub_ptr->relay = (struct gw_relay){.src_ptr = sub_ptr->socket_ptr,
						   .keep_ptr = sub_ptr->body_ptr,
						   .keep_cap = sub_ptr->body_cap,
						   .limits_ptr = &sub_ptr->limits,
						   .malformed_status = 502};
		vk_call(gw_relay_chunked, &sub_ptr->relay);
		sub_ptr->body_len = sub_ptr->relay.bytes;
		break;
	case GW_BODY_UNTIL_CLOSE:
		do {
			vk_read_some_on(sub_ptr->socket_ptr, sub_ptr->rc, sub_ptr->body_ptr + sub_ptr->body_len,
					sub_ptr->body_cap + 1 - sub_ptr->body_len);
			sub_ptr->body_len += (size_t)sub_ptr->rc;
		} while (sub_ptr->rc > 0 && sub_ptr->body_len <= sub_ptr->body_cap);
		if (sub_ptr->body_len > sub_ptr->body_cap) {
			fail(sub_ptr, GW_SUBREQUEST_TOO_LARGE, "response body too large");
			vk_raise(EFBIG);
		}
		break;
	}
	sub_ptr->body_ptr[sub_ptr->body_len] = '\0';
	vk_end();
}

static void write_head(struct vk_thread *that)
{
	struct gw_subrequest *sub_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	vk_write_on(sub_ptr->socket_ptr, sub_ptr->ask.method, strlen(sub_ptr->ask.method));
	vk_write_on(sub_ptr->socket_ptr, " ", 1);
	vk_write_on(sub_ptr->socket_ptr, sub_ptr->ask.target, sub_ptr->ask.target_len);
	vk_write_on(sub_ptr->socket_ptr, " HTTP/1.1\r\nHost: ", 17);
	vk_write_on(sub_ptr->socket_ptr, sub_ptr->pick.name, strlen(sub_ptr->pick.name));
	vk_write_on(sub_ptr->socket_ptr, "\r\n", 2);
	if (sub_ptr->ask.fields_len)
		vk_write_on(sub_ptr->socket_ptr, sub_ptr->ask.fields, sub_ptr->ask.fields_len);
	vk_write_on(sub_ptr->socket_ptr, "\r\n", 2);
	vk_flush_on(sub_ptr->socket_ptr);
	vk_end();
}

/* An endpoint for the run: 0, or -1 with the outcome set. */
static int pick_endpoint(struct gw_subrequest *sub_ptr)
{
	const struct gw_upstream_ops *ops_ptr = sub_ptr->run_ops_ptr;
	const char *reason = "";

	if (ops_ptr->pick(ops_ptr->ctx_ptr, sub_ptr->upstream_index, NULL, 0, 0, &sub_ptr->pick, &reason) != 0) {
		fail(sub_ptr, GW_SUBREQUEST_REFUSED, reason);
		return -1;
	}
	sub_ptr->picked = 1;
	sub_ptr->wait_until_ns = vk_sys_coarse_now_ns() + sub_ptr->ask.timeout_ms * 1000000u;
	return 0;
}

/* A kept connection the upstream had closed (its FIN or RST still on the
 * way when the pool handed it out): nothing of an answer came, so the
 * request goes again on a new connection, once, as proxied requests do. */
static int kept_closed(struct gw_subrequest *sub_ptr, int error)
{
	return sub_ptr->reused && !sub_ptr->fresh && sub_ptr->outcome == GW_SUBREQUEST_NONE && sub_ptr->head_len == 0 &&
	       vk_socket_rx_held(sub_ptr->socket_ptr) == 0 &&
	       (error == ECONNRESET || error == EPIPE || error == ECONNABORTED);
}

void gw_subrequest_run(struct vk_thread *that)
{
	struct gw_subrequest *sub_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	vk_catch
	{
		if (vk_sys_faulted())
			vk_raise(EFAULT);
		if (kept_closed(sub_ptr, vk_error())) {
			connection_close(sub_ptr);
			sub_ptr->fresh = 1;
			sub_ptr->stage = GW_SUBREQUEST_STAGE_QUEUE;
			gw_http_response_init(&sub_ptr->resp);
			sub_ptr->parsed_upto = 0;
			vk_clear_error();
			vk_catch_rearm();
			goto again;
		}
		failed_with(sub_ptr, vk_error());
		vk_deadline_clear();
		run_end(sub_ptr);
	}
	run_reset(sub_ptr);
	if (bind_upstream(sub_ptr) == 0 && pick_endpoint(sub_ptr) == 0) {
		vk_deadline(sub_ptr->ask.timeout_ms);
	again:
		vk_call(take_connection, sub_ptr);
		vk_call(write_head, sub_ptr);
		vk_call(read_head, sub_ptr);
		vk_call(read_body, sub_ptr);
		vk_deadline_clear();
		sub_ptr->outcome = GW_SUBREQUEST_RESPONSE;
	}
	run_end(sub_ptr);
	vk_end();
}

enum gw_subrequest_outcome gw_subrequest_outcome(const struct gw_subrequest *sub_ptr)
{
	return sub_ptr->outcome;
}

const char *gw_subrequest_failure(const struct gw_subrequest *sub_ptr)
{
	return sub_ptr->failure ? sub_ptr->failure : "";
}

int gw_subrequest_status(const struct gw_subrequest *sub_ptr)
{
	return sub_ptr->outcome == GW_SUBREQUEST_RESPONSE ? sub_ptr->resp.status : 0;
}

int gw_subrequest_header(const struct gw_subrequest *sub_ptr, const char *name, int nth, const char **value_ptr,
			 size_t *len_ptr)
{
	size_t name_len = strlen(name);

	if (sub_ptr->outcome != GW_SUBREQUEST_RESPONSE)
		return 0;
	for (uint32_t i = 0; i < sub_ptr->resp.head.field_count; i++) {
		const struct gw_http_field *field_ptr = &sub_ptr->resp.head.fields[i];

		if (field_ptr->name.len != name_len ||
		    strncasecmp(sub_ptr->head_ptr + field_ptr->name.off, name, name_len) != 0 || nth-- > 0)
			continue;
		*value_ptr = sub_ptr->head_ptr + field_ptr->value.off;
		*len_ptr = field_ptr->value.len;
		return 1;
	}
	return 0;
}

const char *gw_subrequest_body(const struct gw_subrequest *sub_ptr, size_t *len_ptr)
{
	*len_ptr = sub_ptr->outcome == GW_SUBREQUEST_RESPONSE ? sub_ptr->body_len : 0;
	return sub_ptr->body_ptr;
}
