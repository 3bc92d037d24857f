#ifndef GW_CONN_SELF_H
#define GW_CONN_SELF_H

/* The connection process's own state and small helpers, shared by its
 * files (gw_conn.c: the request loop; gw_conn_write.c: writing heads,
 * direct answers, the tunnel, the access log line). Not for other code. */

#include "gw_conn_s.h"
#include "gw_exchange_s.h"
#include "gw_http.h"
#include "gw_http_read.h"
#include "gw_http_s.h"
#include "gw_relay.h"

#include "vk_coro.h"
#include "vk_socket.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define GW_CONN_LINE_MAX 512

/* A string literal, its length counted by the compiler. */
#define GW_WRITE_LITERAL(sock, literal) vk_write_on((sock), (literal), sizeof(literal) - 1)
#define GW_CONN_ERROR_MAX 640
#define GW_CONN_LOG_MAX 1536
/* What a 405 to CONNECT allows: every method but CONNECT. */
#define GW_CONN_ALLOW "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE"

enum gw_conn_stage {
	GW_CONN_STAGE_IDLE,	     /* between requests: a close is quiet */
	GW_CONN_STAGE_REQUEST_HEAD,  /* reading the head: errors are 400/408/431... */
	GW_CONN_STAGE_BODY_IN,	     /* keeping the body a filter asked for: 400/408/413 */
	GW_CONN_STAGE_PICK,	     /* admission and an endpoint: 503 (status always set) */
	GW_CONN_STAGE_POOL_WAIT,     /* waiting for a free upstream connection: 503 */
	GW_CONN_STAGE_CONNECT,	     /* reaching the upstream: 502/504 */
	GW_CONN_STAGE_REQUEST_BODY,  /* forwarding the request: 502, or 408 on the client */
	GW_CONN_STAGE_RESPONSE_HEAD, /* waiting for the upstream: 502/504 */
	GW_CONN_STAGE_RESPONSE_BODY, /* relaying the body: 502 while none of it left, else a close */
};

/* Writes the field lines the exchange's edits add to one side's head. */
struct edits_writer {
	const struct gw_exchange *ex_ptr;
	struct vk_socket *socket_ptr;
	enum gw_exchange_side side;
};

struct gw_conn_self {
	struct vk_socket *client_ptr;
	struct vk_socket *upstream_ptr;
	char *head_ptr; /* the request head as received: forwarded from here */
	size_t head_len;
	struct gw_http_read head_read;
	char *resp_ptr; /* the response head as received */
	size_t resp_len;
	size_t n;
	int rc;
	int more;
	int served; /* a request came: later waits are keep-alive waits */
	int upstream_fd;
	int reused;	      /* the upstream connection was kept from an earlier request */
	int retried;	      /* this request already went again on a fresh connection */
	int attempts_sent;    /* times this request was written to an upstream */
	int response_started; /* some of the response came: it cannot go again */
	int stage;
	int status;
	int close_after;
	int force_close; /* an error answer: the connection's state is unknown */
	int error_code;	 /* the error being answered */
	uint32_t i;
	char client_addr[INET6_ADDRSTRLEN];
	struct gw_relay relay;
	/* this request's route and upstream */
	const struct gw_route *route_ptr;
	const char *reason; /* static: why an error status was chosen */
	struct gw_upstream_pick pick;
	int upstream_index; /* -1: no upstream picked for this request */
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
	struct edits_writer edits;
	/* what the route's filters see and decide: its arrays are touched only
	 * by filters that use them, and are part of the per-request tail */
	struct gw_exchange exchange;
	/* Per request, dead between requests: from the exchange's arrays on
	 * (gw_exchange_begin resets their counts), the pages of self go back to
	 * the OS while the connection is idle (vk_proc_local_add_spare), so
	 * this tail stays last and nothing in it outlives a request. The
	 * fields above are few and small: a connection waiting for a request
	 * keeps them on one page or two. */
	char line[GW_CONN_LINE_MAX];
	size_t line_len;
	char error[GW_CONN_ERROR_MAX];
	char log_line[GW_CONN_LOG_MAX];
	struct gw_request req;
	struct gw_response resp;
};

static inline const char *span(const char *buf, struct gw_http_span s)
{
	return buf + s.off;
}

/* Fields a proxy never forwards as received (RFC 9110 7.6.1), besides the
 * ones the Connection header names. */
static inline int hop_by_hop(const char *name, size_t len)
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
/* X-Forwarded-For, -Proto, -Host: written by the gateway itself, from the
 * received ones only when the previous hop is trusted (trusted_hops). */
enum forwarded_kind { XF_NONE, XF_FOR, XF_PROTO, XF_HOST };

static inline enum forwarded_kind forwarded_kind(const char *buf, const struct gw_http_field *f_ptr)
{
	static const char *const names[] = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"};

	for (int i = 0; i < 3; i++)
		if (strlen(names[i]) == f_ptr->name.len &&
		    strncasecmp(buf + f_ptr->name.off, names[i], f_ptr->name.len) == 0)
			return (enum forwarded_kind)(i + 1);
	return XF_NONE;
}

/* The first received field of a forwarded kind, or NULL. */
static inline const struct gw_http_field *forwarded_field(const struct gw_conn_self *self, enum forwarded_kind kind)
{
	for (uint32_t i = 0; i < self->req.head.field_count; i++)
		if (forwarded_kind(self->head_ptr, &self->req.head.fields[i]) == kind)
			return &self->req.head.fields[i];
	return NULL;
}

/* Whether the field line is copied as received (the proxy writes the
 * others itself, or drops them). */
static inline int copied_as_received(const char *buf, const struct gw_http_field *f_ptr)
{
	return !f_ptr->nominated && f_ptr->kind != GW_FIELD_HOST && f_ptr->kind != GW_FIELD_CONTENT_LENGTH &&
	       !hop_by_hop(buf + f_ptr->name.off, f_ptr->name.len);
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

/* In gw_conn_write.c. */
void gw_conn_write_edits(struct vk_thread *that);
void gw_conn_write_forwarded(struct vk_thread *that);
void gw_conn_tunnel(struct vk_thread *that);
/* With error_code set: a 502/504 into status, or the queued part flushed. */
void gw_conn_cut_response(struct vk_thread *that);
void gw_conn_answer_directly(struct vk_thread *that);
void gw_conn_log_request(struct gw_conn_self *self, int status);
/* In gw_conn_route.c. */
struct gw_config;
struct gw_conn_config;
struct gw_http_span gw_conn_target_path(const struct gw_conn_self *self);
const struct gw_route *gw_conn_match_route(struct gw_conn_self *self, const struct gw_config *config_ptr);
/* Admission and an endpoint for the route's upstream, its timeouts, and
 * the path rewrite: 0, or the status to answer. */
int gw_conn_pick_upstream(struct gw_conn_self *self, const struct gw_conn_config *cfg_ptr);
/* CONNECT is tunnelled only on a proxy route with "connect": true. */
int gw_conn_connect_allowed(const struct gw_route *route_ptr);
/* The Upgrade and Connection lines for the upstream: the request's
 * Upgrade protocols the route allows ("upgrades"), written into out;
 * their length, or 0 when none is left (the request goes as a plain one). */
size_t gw_conn_upgrade_fields(const struct gw_conn_self *self, char *out, size_t cap);
/* A 101 may become a tunnel: its Upgrade is one protocol, offered by
 * the request and allowed by the route. */
int gw_conn_upgrade_granted(const struct gw_conn_self *self);
/* The upstream's verdict on this request, given once. */
void gw_conn_upstream_done(struct gw_conn_self *self, const struct gw_conn_config *cfg_ptr,
			   enum gw_upstream_outcome outcome);
/* In gw_conn_body.c. */
void gw_conn_keep_body(struct vk_thread *that);

#endif
