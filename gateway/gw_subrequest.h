#ifndef GW_SUBREQUEST_H
#define GW_SUBREQUEST_H

/* gw_subrequest: a request of the gateway's own to one of the configured
 * upstreams (an authorization service, a JWKS endpoint), through the
 * machinery proxied requests use: the upstream's balancer picks the
 * endpoint, its pool gives the connection (a kept one, or a new one under
 * max_connections and max_pending), TLS when the upstream has it, and the
 * outcome counts for its health, outlier ejection and circuit breaker.
 * The response is read whole: the head parsed by the gateway's strict
 * codec, the body (Content-Length, chunked, or to the close) kept up to a
 * bound. A connection whose response was read whole and may stay open
 * goes back to the pool; a kept one found closed before any answer is
 * replaced by a new one, once. A connect failure counts against the
 * endpoint unless the gateway caused it (no memory, or a time out after
 * waiting in line for a connection).
 *
 * It runs as a called thread, vk_call(gw_subrequest_run, sub_ptr), in the
 * process that holds it: a filter's waiting thread (gw_stage_subrequest
 * in gw_exchange.h: the request's own configuration) or a process of a
 * filter's own (gw_subrequest_create: the kernel's newest configuration
 * at each run). It allocates nothing while it runs. */

#include <stddef.h>
#include <stdint.h>

struct gw_subrequest;
struct vk_proc_local;
struct vk_thread;

enum gw_subrequest_outcome {
	GW_SUBREQUEST_NONE = 0,		/* not run yet */
	GW_SUBREQUEST_RESPONSE,		/* a whole response: status, head, body */
	GW_SUBREQUEST_UNKNOWN_UPSTREAM, /* the configuration in force has no upstream of that name */
	GW_SUBREQUEST_REFUSED,		/* no endpoint took it: none available, breaker open, queue */
	GW_SUBREQUEST_CONNECT_FAILED,	/* refused, reset, TLS failure or time out while connecting */
	GW_SUBREQUEST_TIMEOUT,		/* no whole response in time */
	GW_SUBREQUEST_INVALID,		/* a response the codec refuses, or an end before it was whole */
	GW_SUBREQUEST_TOO_LARGE,	/* a head or a body past the bounds */
};

/* What to ask. The strings are the caller's and must stay as they are
 * while the subrequest runs. */
struct gw_subrequest_ask {
	const char *upstream; /* the upstream's name in the configuration */
	const char *method;   /* a token: "GET" */
	const char *target;   /* origin-form: "/path?query" */
	size_t target_len;
	/* More field lines, each ending in CRLF (Host is the endpoint's
	 * "host:port", written first), or NULL. The head ends after them;
	 * no body is sent. */
	const char *fields;
	size_t fields_len;
	/* The whole of it: waiting for a connection, connecting, the
	 * response to its last byte. */
	uint64_t timeout_ms;
};

/* The response head a subrequest keeps at most: its socket's ring. */
#define GW_SUBREQUEST_HEAD_BYTES 8192

/* A subrequest in `proc_local_ptr`'s heap for a process of a filter's
 * own, keeping response bodies of up to body_cap bytes; NULL for want
 * of memory. Each run goes to the newest configuration of the kernel. */
struct gw_subrequest *gw_subrequest_create(struct vk_proc_local *proc_local_ptr, size_t body_cap);
void gw_subrequest_destroy(struct gw_subrequest *sub_ptr);
/* Heap one takes, for processes that size theirs. */
size_t gw_subrequest_heap_bytes(size_t body_cap);

/* Room of the subrequest's own (GW_SUBREQUEST_ASK_BYTES) the caller may
 * build the ask's target and fields in. */
#define GW_SUBREQUEST_ASK_BYTES 4096
char *gw_subrequest_ask_buffer(struct gw_subrequest *sub_ptr);

/* Sets what the next run asks (copied: the strings it points to are not). */
void gw_subrequest_ask(struct gw_subrequest *sub_ptr, const struct gw_subrequest_ask *ask_ptr);
/* The thread function: its argument is the subrequest. It never raises:
 * the outcome says how it went. */
void gw_subrequest_run(struct vk_thread *that);

enum gw_subrequest_outcome gw_subrequest_outcome(const struct gw_subrequest *sub_ptr);
/* What went wrong, a short phrase ("" after a response). */
const char *gw_subrequest_failure(const struct gw_subrequest *sub_ptr);
/* After a response: its status, its fields and its body. */
int gw_subrequest_status(const struct gw_subrequest *sub_ptr);
/* The `nth` (from 0) field line named `name` (case-insensitive): 1 with
 * its value (OWS trimmed, not NUL-terminated), or 0 when there is none. */
int gw_subrequest_header(const struct gw_subrequest *sub_ptr, const char *name, int nth, const char **value_ptr,
			 size_t *len_ptr);
const char *gw_subrequest_body(const struct gw_subrequest *sub_ptr, size_t *len_ptr);

#endif
