#ifndef GW_EXCHANGE_H
#define GW_EXCHANGE_H

/* gw_exchange: one request's life as the filter pipeline sees it. The
 * connection process keeps one in its micro-heap and hands it by reference
 * to each filter stage (gw_filter.h). A stage reads the request (and, on
 * the way back, the response head), records header edits, and may set the
 * verdict: answer the client itself instead of going upstream.
 *
 * Nothing here allocates: edits are copied into the exchange's own bounded
 * buffer, which is reset for every request. An edit that does not fit, or
 * whose name or value is not valid in HTTP, fails with -1 and errno
 * ENOBUFS or EINVAL. Header names are matched case-insensitively. */

#include <stddef.h>

#include "gw_http.h"

struct gw_exchange;
struct gw_stage;
struct vk_socket;
struct vk_thread;

enum gw_exchange_side {
	GW_SIDE_REQUEST,  /* the head forwarded upstream */
	GW_SIDE_RESPONSE, /* the head written to the client */
};

enum gw_header_op {
	GW_HEADER_SET,	  /* drop every field of that name, then add this one */
	GW_HEADER_ADD,	  /* one more field line, after the others */
	GW_HEADER_REMOVE, /* drop every field of that name */
};

enum gw_verdict {
	GW_VERDICT_CONTINUE, /* on to the next stage, then the upstream */
	GW_VERDICT_RESPOND,  /* the connection answers the client with what was set */
	GW_VERDICT_RETRY,    /* response head: send the request again (gw_exchange_retry) */
};

/* ---- what a stage is handed (a handler's argument, and a waiting
 * thread's) ---- */

struct gw_exchange *gw_stage_exchange(const struct gw_stage *stage_ptr);
/* What the filter type's compile() made, from the immutable snapshot. */
const void *gw_stage_config(const struct gw_stage *stage_ptr);
/* gw_filter_type.state_bytes zeroed bytes, kept from the request head to
 * the response head of the same request (across attempts); NULL when the
 * type asked for none. */
void *gw_stage_state(const struct gw_stage *stage_ptr);
/* This kernel's state of this filter of the route (kernel_state_create in
 * gw_filter.h): shared by every request the kernel serves; NULL when the
 * type has none. */
void *gw_stage_kernel_state(const struct gw_stage *stage_ptr);
/* In a waiting thread (gw_stage_wait), `that` being that thread: a socket
 * of the stage's own in the connection's micro-heap, with rings of
 * GW_STAGE_SOCKET_RING_BYTES each way, to vk_connect, vk_write_on,
 * vk_read_some_on... under a deadline of the thread's choosing. One per
 * wait (a second call returns the same); the pipeline closes and frees it
 * when the thread ends, however it ends. NULL when the heap is full. */
#define GW_STAGE_SOCKET_RING_BYTES 4096
struct vk_socket *gw_stage_socket(struct gw_stage *stage_ptr, struct vk_thread *that);

/* In a waiting thread: the connection's subrequest (gw_subrequest.h),
 * bound to the configuration the request goes by, keeping response bodies
 * of up to GW_STAGE_SUBREQUEST_BODY_BYTES. One per connection, made at
 * the first call and kept: a stage takes what it keeps of a response
 * (into the exchange) before its thread ends, and a body it answers with
 * stays there until the answer is written. NULL when the heap is full. */
#define GW_STAGE_SUBREQUEST_BODY_BYTES 8192
struct gw_subrequest;
struct gw_subrequest *gw_stage_subrequest(struct gw_stage *stage_ptr, struct vk_thread *that);

/* ---- the request, read-only ---- */

enum gw_http_method gw_exchange_method(const struct gw_exchange *ex_ptr);
const char *gw_exchange_method_name(const struct gw_exchange *ex_ptr, size_t *len_ptr);
/* The path without its query, and the whole target as received. */
const char *gw_exchange_path(const struct gw_exchange *ex_ptr, size_t *len_ptr);
const char *gw_exchange_target(const struct gw_exchange *ex_ptr, size_t *len_ptr);
/* The target's query as received (after the '?', which it leaves out),
 * or NULL when there is none. */
const char *gw_exchange_query(const struct gw_exchange *ex_ptr, size_t *len_ptr);
/* In the request phase: the query sent upstream instead (without '?';
 * copied into the exchange; len 0 sends the path alone). 0, or -1 with
 * errno EINVAL (a byte a query may not hold: controls, space, '#', not
 * ASCII) or ENOBUFS (no room). */
int gw_exchange_set_query(struct gw_exchange *ex_ptr, const char *query, size_t len);
const char *gw_exchange_client_address(const struct gw_exchange *ex_ptr);
/* What the geo databases say of the client (gw_geo_answer.h: the
 * configuration's client address, looked up once per request), or NULL
 * when no database is configured. */
struct gw_geo_answer;
const struct gw_geo_answer *gw_exchange_geo(const struct gw_exchange *ex_ptr);
/* The name of the route the request is on. */
const char *gw_exchange_route_name(const struct gw_exchange *ex_ptr);
int gw_exchange_has_body(const struct gw_exchange *ex_ptr);
/* The whole request body, from the request body phase on (gw_filter.h);
 * NULL before, or when no stage asked for it. */
const char *gw_exchange_request_body(const struct gw_exchange *ex_ptr, size_t *len_ptr);

/* The value a field will be forwarded with, edits included: the last
 * set/add of that name, else the first field as received. 1 and the value
 * (not NUL-terminated), or 0 when absent or removed. */
int gw_exchange_request_header(const struct gw_exchange *ex_ptr, const char *name, const char **value_ptr,
			       size_t *len_ptr);

/* ---- values attached to the request ---- */

/* A stage attaches what it learnt (a consumer name, a JWT claim, a
 * country) for the stages after it, the response head and routing. Keys
 * are tokens of 1 to GW_EXCHANGE_VALUE_KEY_MAX bytes; values any bytes,
 * copied into the exchange's buffer with a NUL after them (no allocation).
 * Setting a key again replaces its value. -1 with errno EINVAL (key),
 * ENOBUFS (no room: GW_EXCHANGE_VALUES_MAX values, the exchange's bytes). */
int gw_exchange_set_value(struct gw_exchange *ex_ptr, const char *key, const char *value, size_t len);
/* The value of `key` (NUL-terminated, its length in *len_ptr), or NULL. */
const char *gw_exchange_value(const struct gw_exchange *ex_ptr, const char *key, size_t *len_ptr);
/* Forwards the value of `key` upstream as the request header `name` (a
 * set: it replaces what the client sent). 0; 1 when there is no such
 * value (nothing changes); -1 with errno as gw_exchange_edit (a value that
 * is not a valid field value is EINVAL). */
int gw_exchange_forward_value(struct gw_exchange *ex_ptr, const char *key, const char *name);

/* ---- the response, on the way back ---- */

/* The status going to the client: the upstream's, or the one a stage or
 * the route answers with; 0 before either is known. */
int gw_exchange_response_status(const struct gw_exchange *ex_ptr);
/* Like gw_exchange_request_header, for the response head (an answer the
 * gateway writes itself has only the fields edits add). */
int gw_exchange_response_header(const struct gw_exchange *ex_ptr, const char *name, const char **value_ptr,
				size_t *len_ptr);

/* ---- edits ---- */

int gw_exchange_edit(struct gw_exchange *ex_ptr, enum gw_exchange_side side, enum gw_header_op op, const char *name,
		     size_t name_len, const char *value, size_t value_len);
/* The same with NUL-terminated strings (value ignored for a remove). */
int gw_exchange_set(struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name, const char *value);
int gw_exchange_add(struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name, const char *value);
int gw_exchange_remove(struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name);

/* ---- the verdict ---- */

/* Answer with `status`, the response-side edits as headers, and `body`,
 * which must outlive the request (the compiled config, a literal, or a
 * copy made with gw_exchange_copy). */
void gw_exchange_respond(struct gw_exchange *ex_ptr, int status, const char *body, size_t body_len);
/* Answer with the gateway's JSON error shape {"error":message,"status":N};
 * `message` must outlive the request. */
void gw_exchange_respond_error(struct gw_exchange *ex_ptr, int status, const char *message);
enum gw_verdict gw_exchange_verdict(const struct gw_exchange *ex_ptr);

/* In the response head (what a handler's GW_FILTER_RETRY does; a waiting
 * thread calls it): ask for another attempt instead of this answer (the
 * upstream's, or the gateway's own 502/503/504 from reaching or hearing
 * the upstream). This only records the ask, and ends the phase's walk;
 * the connection's one decision on another attempt (gateway/gw_conn_next.c)
 * then says whether the request goes again. If it does, the request goes
 * to the upstream again, picked afresh by the balancer; this answer's body
 * is dropped, its edits forgotten, and every response_head runs again for
 * the next one. If not (a request that cannot be sent again: with a body
 * no stage asked to keep, gw_filter.h wants_body; a refusal before any
 * endpoint was picked; the bound on attempts), the answer goes on through
 * the stages after this one. Returns 0, or -1 outside the response head or
 * when a stage has answered already (nothing is recorded). */
int gw_exchange_retry(struct gw_exchange *ex_ptr);
/* However filters ask, a request goes upstream at most this many times. */
#define GW_EXCHANGE_ATTEMPTS_MAX 10

/* How the connection retries attempts that end without a response head
 * (gateway/gw_conn_next.c decides), as a retry filter states it in the
 * request head (gw_exchange_set_retry_policy); statuses stay the filter's
 * to ask for (gw_exchange_retry). Without one, an attempt that fails is
 * answered (but for a kept connection the upstream had closed). */
enum gw_retry_on {
	GW_RETRY_ON_CONNECT_FAILURE = 1u << 0, /* refused, unreachable, connect timeout, no pooled connection */
	GW_RETRY_ON_RESET = 1u << 1,	       /* closed or reset before a whole response head, or not HTTP */
	GW_RETRY_ON_TIMEOUT = 1u << 2,	       /* the per-try timeout, or the upstream's response_ms */
};

struct gw_retry_policy {
	int attempts;		  /* at most, the first included (up to GW_EXCHANGE_ATTEMPTS_MAX) */
	unsigned retry_on;	  /* enum gw_retry_on bits */
	uint32_t per_try_ms;	  /* an attempt's time to a response head; 0: only the deadline */
	uint32_t backoff_base_ms; /* before retry n (from 1): a random wait below */
	uint32_t backoff_max_ms;  /*   min(backoff_max_ms, backoff_base_ms * 2^(n-1)) */
	int all_methods;	  /* retry after sending whatever the method */
	int honour_retry_after;	  /* a Retry-After the deadline fits is waited for */
	/* Hedging: after this long without a response head, a second attempt
	 * races the first on another endpoint (idempotent requests only);
	 * 0: none. With hedge_p95, the upstream's observed p95 instead, this
	 * while it is unknown. */
	uint32_t hedge_delay_ms;
	int hedge_p95;
};

/* In the request head: this request's retries follow `policy_ptr` (which
 * must outlive the request: the filter's compiled config). The last call
 * wins. */
void gw_exchange_set_retry_policy(struct gw_exchange *ex_ptr, const struct gw_retry_policy *policy_ptr);
const struct gw_retry_policy *gw_exchange_retry_policy(const struct gw_exchange *ex_ptr);
/* The answer in the response head is the upstream's (not the gateway's
 * own error after an attempt failed). */
int gw_exchange_response_is_upstreams(const struct gw_exchange *ex_ptr);
/* Attempts made before this one (0 on the first). */
int gw_exchange_attempt(const struct gw_exchange *ex_ptr);
/* `len` bytes copied into the exchange's buffer (NUL added), or NULL. */
char *gw_exchange_copy(struct gw_exchange *ex_ptr, const char *bytes, size_t len);

/* ---- field syntax, for compile() functions ---- */

/* A token (RFC 9110 5.6.2) of 1 to GW_EXCHANGE_NAME_MAX bytes. */
int gw_header_name_valid(const char *name, size_t len);
/* Field characters only, no CR or LF, no leading or trailing space. */
int gw_header_value_valid(const char *value, size_t len);
/* Fields the connection writes itself (framing, Host, hop-by-hop): a
 * filter may not edit them. `name` is a valid name (above). */
int gw_header_name_reserved(const char *name, size_t len);

#endif
