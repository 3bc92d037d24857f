#ifndef GW_CONN_SELF_H
#define GW_CONN_SELF_H

/* The connection process's own state and small helpers, shared by its
 * files, in reading order: gw_conn.c (the life of the stream),
 * gw_conn_route.c (route, endpoint, upgrade), gw_conn_body.c (a body kept
 * for filters), gw_conn_next.c (the attempts at the upstream, and the
 * one decision on another), gw_http_write.c
 * (the heads), gw_conn_end.c (answers, errors, tunnel, log). Not for
 * other code. */

#include "gw_conn_s.h"
#include "gw_exchange_s.h"
#include "gw_geo_answer.h"
#include "gw_http.h"
#include "gw_http_read.h"
#include "gw_http_s.h"
#include "gw_http_write.h"
#include "gw_relay.h"
#include "gw_term.h"

#include "vk_coro.h"
#include "vk_socket.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* A string literal, its length counted by the compiler. */
#define GW_WRITE_LITERAL(sock, literal) vk_write_on((sock), (literal), sizeof(literal) - 1)
/* room for every try's endpoint (up to GW_EXCHANGE_ATTEMPTS_MAX names of
 * up to 262 bytes) besides the rest */
#define GW_CONN_LOG_MAX 6144
/* Room for what the gateway adds to a forwarded head besides what it
 * received (the filters' edits have their own bound): Host, X-Forwarded-*,
 * Via, framing, Upgrade, a rewritten prefix. */
#define GW_CONN_OUT_SLACK 4096
/* What a 405 to CONNECT allows: every method but CONNECT. */
#define GW_CONN_ALLOW "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE"

/* The classes of the connection's hot ranges (gw_conn.c, hot_ranges). */
#define GW_CONN_HOT_REQUEST 1u
#define GW_CONN_HOT_RESPONSE 2u

/* Where a request is (the termination code's stage letter, gw_term.h). */
enum gw_conn_stage {
	GW_CONN_STAGE_IDLE,	     /* between requests: a close is quiet */
	GW_CONN_STAGE_REQUEST_HEAD,  /* R: reading the head */
	GW_CONN_STAGE_BODY_IN,	     /* B: keeping the body a filter asked for */
	GW_CONN_STAGE_QUEUE,	     /* Q: admission, an endpoint, a pooled connection */
	GW_CONN_STAGE_CONNECT,	     /* C: reaching the upstream */
	GW_CONN_STAGE_REQUEST_BODY,  /* B: forwarding the head and the body */
	GW_CONN_STAGE_RESPONSE_HEAD, /* H: waiting for the upstream, then its filters */
	GW_CONN_STAGE_RESPONSE_BODY, /* D: relaying the body */
	GW_CONN_STAGE_TUNNEL,	     /* T: CONNECT or 101 */
};

/* Why an attempt at the upstream ended without a response head to relay,
 * or that a filter asks for another one: what gw_conn_upstream_next
 * decides on (gw_conn_next.c). */
enum gw_conn_next_cause {
	GW_NEXT_CAUSE_NONE,		/* a response head came */
	GW_NEXT_CAUSE_KEPT_CLOSED,	/* a kept connection closed or reset before any byte of the response */
	GW_NEXT_CAUSE_REFUSED,		/* admission or no endpoint: nothing was tried */
	GW_NEXT_CAUSE_QUEUE,		/* no pooled connection: none free in time, or the line is full */
	GW_NEXT_CAUSE_CONNECT_FAILED,	/* refused, unreachable */
	GW_NEXT_CAUSE_CONNECT_TIMEOUT,	/* connect_ms passed */
	GW_NEXT_CAUSE_SEND_FAILED,	/* the upstream failed while taking the request */
	GW_NEXT_CAUSE_RESPONSE_TIMEOUT, /* response_ms passed before a whole head */
	GW_NEXT_CAUSE_TRY_TIMEOUT,	/* the retry policy's per-try timeout passed */
	GW_NEXT_CAUSE_DEADLINE,		/* the request's deadline passed: 504, never again */
	GW_NEXT_CAUSE_RESPONSE_INVALID, /* closed before a whole head, or not HTTP */
	GW_NEXT_CAUSE_CLIENT,		/* the client's side failed: never again */
	GW_NEXT_CAUSE_INTERNAL,		/* the gateway's own failure (the head did not fit...) */
	GW_NEXT_CAUSE_FILTER_ASKS,	/* a response filter asks for another attempt */
};

enum gw_conn_next_action {
	GW_NEXT_ANSWER,		  /* no other attempt: the answer (or the error) goes to the client */
	GW_NEXT_FRESH_CONNECTION, /* the same endpoint again, on a new connection, unseen by filters */
	GW_NEXT_PICK_AGAIN,	  /* another attempt, the endpoint picked afresh */
};

/* What the decision reads: everything it depends on, so that it can be
 * tested alone. The budget and the backoff are weighed after it says go
 * (gw_conn_upstream_next). */
struct gw_conn_next_inputs {
	enum gw_conn_next_cause cause;
	int idempotent;	      /* the method may be sent twice (RFC 9110 9.2.2) */
	int safe;	      /* idempotent, or with an Idempotency-Key, or the policy's all_methods */
	int replayable;	      /* no body, or one kept whole */
	int sent;	      /* the failed attempt wrote the request upstream */
	unsigned retry_on;    /* the retry policy's (enum gw_retry_on); 0: no policy */
	int attempts_max;     /* the retry policy's attempts; 1: no policy */
	int reused;	      /* the connection was kept from an earlier request */
	int fresh_retry_used; /* this attempt already went again on a new connection */
	int response_started; /* bytes of the response came from the upstream */
	int response_sent;    /* bytes of the response went to the client */
	/* with GW_NEXT_CAUSE_FILTER_ASKS: how the attempt ended (NONE: the
	 * upstream answered) */
	enum gw_conn_next_cause attempt_cause;
	int attempts;	     /* attempts before this one (gw_exchange_attempt) */
	int response_status; /* the answer going to the client now (101: a tunnel) */
};

struct gw_conn_next_decision {
	enum gw_conn_next_action action;
};

/* One attempt at the upstream, for the access log. */
struct gw_conn_try {
	const char *endpoint; /* "host:port"; NULL: none was picked */
	uint32_t us;	      /* from its start to its response head or failure */
	uint16_t status;      /* the response's; 0: it failed (term says how) */
	char cause;	      /* the termination code of a failure (gw_term.h) */
	char stage;
	uint8_t hedge;	   /* a hedge, raced against the attempt before it */
	uint8_t cancelled; /* it lost a race and was given up */
};

struct gw_tls_stream;

struct gw_conn_self {
	struct vk_socket *client_ptr;
	struct gw_tls_stream *tls_ptr; /* TLS on the client's socket; NULL: plain */
	int handshaking;	       /* in the TLS handshake: a raise is its failure */
	struct vk_socket *upstream_ptr;
	/* TLS on the upstream's socket: made when an upstream first needs it,
	 * running while its SSL is (gw_tls_stream.h); NULL: never needed. */
	struct gw_tls_stream *upstream_tls_ptr;
	void *upstream_tls_kept_ptr; /* a kept connection's TLS state, as the pool gave it */
	char *head_ptr;		     /* the request head as received: forwarded from here */
	size_t head_len;
	struct gw_http_read head_read;
	char *resp_ptr; /* the response head as received */
	size_t resp_len;
	size_t resp_taken; /* of a head longer than the ring: bytes moved to resp_ptr */
	char *out_ptr;	   /* a head being written (gw_http_write.h) */
	size_t out_cap;
	struct gw_http_out out;
	size_t n;
	size_t spliced; /* by the relay thread's last splice */
	int rc;
	int more;
	int served; /* a request came: later waits are keep-alive waits */
	int upstream_fd;
	int reused;	       /* the upstream connection was kept from an earlier request */
	int retried;	       /* this attempt already went again on a fresh connection */
	int attempts_sent;     /* times this request was written to an upstream */
	int response_started;  /* some of the response came: it cannot go again */
	int response_filtered; /* the response filters ran for what goes to the client */
	int stage;
	struct gw_term term; /* why this request ended (cause 0: it has not) */
	enum gw_conn_next_cause next_cause;
	enum gw_conn_next_action next;
	int close_after;
	int force_close;      /* an error answer: the connection's state is unknown */
	int closing_listener; /* a reload closed the listener: this request is the last */
	int error_code;	      /* the error being answered */
	char client_addr[INET6_ADDRSTRLEN];
	struct gw_ip client_ip; /* the peer, or the PROXY header's source */
	int client_ip_known;
	int geo_looked_up; /* this request's geo answer is in `geo` */
	/* The last answer, kept across the connection's requests: the next
	 * request from the same address, with the same databases mapped
	 * (gw_geo_kernel_generation), takes it without a lookup. */
	int geo_kept;
	uint32_t geo_generation;
	struct gw_geo_answer geo;
	struct gw_relay relay;
	/* this request's route and upstream */
	const struct gw_route *route_ptr;
	struct gw_upstream_pick pick;
	int upstream_index; /* -1: no upstream picked for this request */
	/* The request's deadline and retries (gw_conn_next.c). */
	uint64_t deadline_ns;	     /* vk_sys_now_ns() time; 0: none */
	uint64_t deadline_budget_ns; /* its length, to count again from a streamed body's end */
	uint64_t try_started_ns;     /* this attempt's start */
	uint64_t try_end_ns;	     /* its per-try timeout's end; 0: none */
	uint64_t upstream_left_ns;   /* the time left that goes upstream with this attempt (0: none) */
	uint64_t tried_mask;	     /* endpoints tried, bit e % 64 (gw_upstream_ops.pick avoids them) */
	uint64_t backoff_ns;	     /* the wait before the next attempt */
	uint64_t decided_ns;	     /* the attempts ended: the answer was decided */
	int grpc;		     /* a gRPC request: Content-Type application/grpc... */
	int deadline_ignored;	     /* a malformed timeout the client sent, ignored */
	int attempt_sent;	     /* this attempt wrote the request upstream */
	int retry_counted;	     /* this attempt is a retry the budget counts in flight */
	int retry_stats_upstream;    /* ... for this upstream slot */
	const char *retry_refused;   /* why no other attempt was made when one was asked ("budget"...) */
	int try_count;
	/* Hedging (gw_conn_next.c): the racing attempt's own state, a copy of
	 * this struct made as it starts, with its own socket and buffers;
	 * made the first time, kept by the micro-heap. */
	struct gw_conn_self *hedge_ptr;
	int hedging;	   /* a hedge races this attempt */
	int hedge_won;	   /* ... and its head came first */
	int leg_running;   /* this attempt runs in a thread of its own, beside a hedge's */
	int leg_cancelled; /* its race is lost: it gives up */
	int leg_faulted;   /* it faulted (the race ends the connection) */
	uint64_t hedge_at_ns;
	uint64_t wait_until_ns;
	uint64_t connect_ms;
	uint64_t response_ms;
	/* where the response starts in the client's output (vk_socket_tx_mark) */
	uint64_t response_mark;
	/* for the access log line */
	uint64_t started_ns;  /* the request's first byte */
	uint64_t upstream_ns; /* the request went to the upstream */
	uint64_t bytes_in;
	uint64_t bytes_out;
	struct vk_thread *tunnel_ptr; /* upstream-to-client half of an upgraded connection */
	const struct gw_conn_config *cfg_ptr;
	const char *path_rest; /* the part of the path after a rewritten prefix */
	size_t path_rest_len;
	/* a body kept for filters that read it (gw_conn_body.c) */
	char *body_ptr; /* taken once, http.max_buffered_body_bytes */
	size_t body_len;
	/* what the route's filters see and decide: its arrays are touched only
	 * by filters that use them, and are part of the per-request tail */
	struct gw_exchange exchange;
	/* Per request, dead between requests: from the exchange's arrays on
	 * (gw_exchange_begin resets their counts), the pages of self go back to
	 * the OS while the connection is idle (vk_proc_local_add_spare), so
	 * this tail stays last and nothing in it outlives a request; nothing
	 * in it is zeroed per request either (the parsers set what they
	 * fill). The fields above are few and small: a connection waiting for
	 * a request keeps them on one page or two. */
	/* Before the first request it holds a PROXY protocol header being
	 * read (gw_conn_client.c): nothing else uses it then. */
	char log_line[GW_CONN_LOG_MAX];
	struct gw_conn_try tries[GW_EXCHANGE_ATTEMPTS_MAX];
	struct gw_request req;
	struct gw_response resp;
};

static inline const char *span(const char *buf, struct gw_http_span s)
{
	return buf + s.off;
}

/* X-Forwarded-For, -Proto, -Host: written by the gateway itself, from the
 * received ones only when the previous hop is trusted (trusted_hops). */
enum forwarded_kind { XF_NONE, XF_FOR, XF_PROTO, XF_HOST };

static inline enum forwarded_kind forwarded_kind(const struct gw_http_field *f_ptr)
{
	switch (f_ptr->kind) {
	case GW_FIELD_X_FORWARDED_FOR:
		return XF_FOR;
	case GW_FIELD_X_FORWARDED_PROTO:
		return XF_PROTO;
	case GW_FIELD_X_FORWARDED_HOST:
		return XF_HOST;
	default:
		return XF_NONE;
	}
}

/* The first received field of a forwarded kind, or NULL. */
static inline const struct gw_http_field *forwarded_field(const struct gw_conn_self *self, enum forwarded_kind kind)
{
	for (uint32_t i = 0; i < self->req.head.field_count; i++)
		if (forwarded_kind(&self->req.head.fields[i]) == kind)
			return &self->req.head.fields[i];
	return NULL;
}

/* Whether the field line is copied as received: the proxy writes Host
 * and Content-Length itself, and drops hop-by-hop fields and those the
 * Connection header names (RFC 9110 7.6.1). The codec tells them by kind. */
static inline int copied_as_received(const struct gw_http_field *f_ptr)
{
	return !f_ptr->nominated && f_ptr->kind != GW_FIELD_HOST && f_ptr->kind != GW_FIELD_CONTENT_LENGTH &&
	       !gw_http_field_is_hop_by_hop((enum gw_http_field_kind)f_ptr->kind);
}

/* The first field line of a kind the codec recognises, or NULL. */
static inline const struct gw_http_field *field_of_kind(const struct gw_http_head *head_ptr,
							enum gw_http_field_kind kind)
{
	for (uint32_t i = 0; i < head_ptr->field_count; i++)
		if (head_ptr->fields[i].kind == kind)
			return &head_ptr->fields[i];
	return NULL;
}

/* The client sends its body only once told to go on (RFC 9110 10.1.1). */
static inline int expects_continue(const struct gw_conn_self *self)
{
	return self->req.expect_continue &&
	       (self->req.head.body == GW_BODY_CHUNKED ||
		(self->req.head.body == GW_BODY_LENGTH && self->req.head.content_length > 0));
}

/* In gw_http_write.c: the heads the connection writes, into out. */
void gw_conn_write_request_head(struct gw_http_out *out_ptr, const struct gw_conn_self *self);
void gw_conn_write_response_head(struct gw_http_out *out_ptr, const struct gw_conn_self *self);
void gw_conn_write_switch_head(struct gw_http_out *out_ptr, const struct gw_conn_self *self);
/* Where gw_conn_head_out put a head. */
enum gw_conn_head_where {
	GW_CONN_HEAD_QUEUED,	/* in the socket's send ring: nothing more to do */
	GW_CONN_HEAD_BUFFERED,	/* in out_ptr: the caller writes it (vk_write_on) */
	GW_CONN_HEAD_TOO_LARGE, /* too large even for out_ptr */
};
typedef void gw_conn_head_writer(struct gw_http_out *out_ptr, const struct gw_conn_self *self);
/* Writes a head straight into the socket's send ring when its free run
 * has room (nearly always: the ring is empty between messages), else into
 * out_ptr; self->out says how long it is either way. */
enum gw_conn_head_where gw_conn_head_out(struct gw_conn_self *self, struct vk_socket *socket_ptr,
					 gw_conn_head_writer *write_fn);
/* The head of an answer of the gateway's own (a route's respond or
 * redirect, a filter's answer, an error through the filters): the route's
 * or the JSON error's fields, the response edits, the framing. */
void gw_conn_write_answer_head(struct gw_http_out *out_ptr, const struct gw_conn_self *self, int status,
			       size_t body_len, int json);
/* In gw_conn_client.c: who the client is. */
/* Thread: the PROXY protocol header a listener with proxy_protocol reads
 * before anything else; its source becomes the client's address. A
 * missing, late or malformed one sets self->force_close. */
void gw_conn_proxy_header(struct vk_thread *that);
/* The peer's address as the client's (client_addr and client_ip). */
void gw_conn_peer_client(struct gw_conn_self *self);
/* This request's geo answer, looked up on the first call. */
const struct gw_geo_answer *gw_conn_geo(void *self_ptr);
/* In gw_conn_end.c: how a request ends. */
/* The upstream-to-client half of a tunnel. */
void gw_conn_tunnel(struct vk_thread *that);
/* A direct answer: the route's respond or redirect, or a filter's. */
void gw_conn_answer_directly(struct vk_thread *that);
/* The one place an ending with self->term set becomes what the client
 * hears (an error answer, through the filters when they let the request
 * pass, or a close), and is logged. */
void gw_conn_answer_error(struct vk_thread *that);
/* The termination code of an error raised at the current stage. */
void gw_conn_term_from_error(struct gw_conn_self *self, int error);
void gw_conn_log_request(struct gw_conn_self *self, int status);
/* In gw_conn_next.c: the attempts at the upstream (a thread, its
 * argument self), and whether a request goes to the upstream again. */
void gw_conn_attempts(struct vk_thread *that);
/* The exchange on the upstream connection is over. It goes back for any
 * request of this kernel when `whole` (nothing of the response is left to
 * read) and the upstream keeps it alive, unless bytes nobody asked for
 * are waiting; else it closes. */
void gw_conn_release_upstream(struct gw_conn_self *self, int whole);
/* The upstream connection closes: its TLS first (a close_notify if it
 * goes at once, BoringSSL's memory back), unless a fault may have damaged
 * the pointer to it. */
void gw_conn_close_upstream(struct gw_conn_self *self);
struct gw_conn_next_decision gw_conn_next_decide(const struct gw_conn_next_inputs *in_ptr);
enum gw_conn_next_action gw_conn_upstream_next(struct gw_conn_self *self, enum gw_conn_next_cause cause);
/* In gw_conn_route.c. */
struct gw_config;
struct gw_conn_config;
struct gw_http_span gw_conn_target_path(const struct gw_conn_self *self);
/* The first route from index `first_route` on that matches the request;
 * with `with_values`, routes see the values the request's filters set so
 * far (after a continue route), besides the client certificate's. */
const struct gw_route *gw_conn_match_route(struct gw_conn_self *self, const struct gw_config *config_ptr,
					   int first_route, int with_values);
/* Admission and an endpoint for the route's upstream, its timeouts, and
 * the path rewrite: 0, or the status to answer (the reason in term). */
int gw_conn_pick_upstream(struct gw_conn_self *self, const struct gw_conn_config *cfg_ptr);
/* CONNECT is tunnelled only on a proxy route with "connect": true. */
int gw_conn_connect_allowed(const struct gw_route *route_ptr);
/* The Upgrade and Connection lines for the upstream: the request's
 * Upgrade protocols the route allows ("upgrades"); nothing when none is
 * left (the request goes as a plain one). */
void gw_conn_upgrade_fields(const struct gw_conn_self *self, struct gw_http_out *out_ptr);
/* A 101 may become a tunnel: its Upgrade is one protocol, offered by
 * the request and allowed by the route. */
int gw_conn_upgrade_granted(const struct gw_conn_self *self);
/* The upstream's verdict on this request, given once. */
void gw_conn_upstream_done(struct gw_conn_self *self, const struct gw_conn_config *cfg_ptr,
			   enum gw_upstream_outcome outcome);
/* In gw_conn_body.c. */
void gw_conn_keep_body(struct vk_thread *that);

#endif
