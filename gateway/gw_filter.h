#ifndef GW_FILTER_H
#define GW_FILTER_H

/* Filter types and their registry.
 *
 * A filter is a pipeline stage of a route. Its type gives the
 * configuration a compile() (JSON -> immutable blob in the config
 * snapshot) and the connection up to three phase handlers: plain functions
 * that look at the request (gw_exchange.h), maybe edit it, and say at once
 * what happens next. A handler that must wait on I/O of its own (a JWKS
 * fetch, a Redis round trip) names a thread function with gw_stage_wait()
 * and returns GW_FILTER_WAIT: only then does the stage cost a coroutine,
 * run in the connection's micro-process (it parks the connection, not the
 * kernel). docs/filters.md says how to write one. */

#include <jansson.h>
#include <stddef.h>

#include "vk_thread.h"

struct gw_diag;
struct gw_arena;
struct gw_stage;

enum gw_filter_result {
	GW_FILTER_CONTINUE, /* on to the next stage, then the upstream (or the client) */
	GW_FILTER_RESPOND,  /* the stage answered: gw_exchange_respond*() was called */
	GW_FILTER_RETRY,    /* response head only: another attempt instead of this answer */
	GW_FILTER_WAIT,	    /* gw_stage_wait() named the thread whose outcome decides */
};

/* A phase handler: called with the stage (gw_exchange.h), returns without
 * blocking. */
typedef enum gw_filter_result (*gw_filter_handler)(struct gw_stage *stage_ptr);

struct gw_filter_type {
	const char *name;
	/* Validate `config_json_ptr` (the route's filter entry, an object whose
	 * "type" is this filter's name) and compile it into memory from
	 * `arena_ptr`. Report every problem with
	 * gw_diag_error(diag_ptr, "<pointer>/key", ...) using paths under
	 * `pointer` (e.g. "/routes/0/filters/1"); unknown keys and wrong types
	 * are errors. Returns 0, or -1 after reporting. */
	int (*compile)(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
		       struct gw_arena *arena_ptr, void **compiled_ptr);
	/* The request head, in route order, until a stage answers. NULL: the
	 * filter has nothing to do there (it still lets the request through). */
	gw_filter_handler request_head;
	/* The whole request body, in route order, for the stages whose
	 * request_head let the request through, before anything goes
	 * upstream; gw_exchange_request_body() gives the bytes. */
	gw_filter_handler request_body;
	/* The response head (the upstream's, or an answer of the gateway's
	 * own or a stage's), in reverse route order, for the stages whose
	 * request_head let the request through. It may edit response headers,
	 * answer instead (the connection then closes), or ask for another
	 * attempt (GW_FILTER_RETRY; gw_exchange.h says when one is made). */
	gw_filter_handler response_head;
	/* Asking for the request body is a declaration: a type with a
	 * request_body handler, or with wants_body, asks for it. The
	 * connection then reads the whole body (decoded if chunked, at most
	 * http.max_buffered_body_bytes, 413 beyond) before anything goes
	 * upstream; the kept body goes upstream with a Content-Length, and can
	 * be sent again on another attempt. wants_body, optional, says whether
	 * this request's body is wanted (NULL: always); a stage that only
	 * needs some (a retry of repeatable methods) spares the others the
	 * keeping. Types that ask for none never see the body: it streams
	 * through untouched. */
	int (*wants_body)(const struct gw_stage *stage_ptr);
	/* Zeroed per-request bytes the stages get from gw_stage_state(). */
	size_t state_bytes;
	/* Per-kernel state of one filter of a route, for what outlives a
	 * request (a cache, token buckets): made when the kernel starts (and
	 * for each new configuration snapshot), never on the request path;
	 * gw_stage_kernel_state() gives it to the stages. `previous_ptr` is
	 * the state the same filter had in the snapshot before (same route
	 * name, same type, same place among that type's filters of the route),
	 * or NULL: the hook returns it (taken over, perhaps adjusted), or new
	 * state, having copied what it keeps from it. Returns NULL on failure.
	 * kernel_state_free frees a state no snapshot keeps. Both optional. */
	void *(*kernel_state_create)(const void *compiled_ptr, void *previous_ptr);
	void (*kernel_state_free)(void *state_ptr);
	/* The built-in types, shipped and tested with vkgw, set it: their code
	 * runs as the gateway's own. Left 0 (a user's filter), every call into
	 * the type's code on the request path (handlers, waiting threads,
	 * wants_body) runs with every other connection's heap hidden when the
	 * listener's isolation is on (docs/gateway-design.md, Isolation). */
	int trusted;
};

/* In a handler: the stage waits on `fn`, a thread function whose argument
 * is the stage, run with vk_call in the connection's process. Returns
 * GW_FILTER_WAIT, for the handler to return. The thread's outcome is the
 * stage's: gw_exchange_respond*() answers, gw_exchange_retry() (response
 * head) asks for another attempt, a raise it does not catch answers 500;
 * else the request goes on. */
enum gw_filter_result gw_stage_wait(struct gw_stage *stage_ptr, vk_thread_fn fn);
/* In a handler that cannot do its part (no room left for its edits, say):
 * answers 500 in the JSON error shape with `message` (which must outlive
 * the request), and returns GW_FILTER_RESPOND, for the handler to return. */
enum gw_filter_result gw_stage_fail(struct gw_stage *stage_ptr, const char *message);

/* The built-in types and those registered at start-up, by name. Registering
 * also hands config/ the lookups it compiles route filters with
 * (gw_config_filters.h). */
const struct gw_filter_type *gw_filter_type_find(const char *name);
int gw_filter_type_register(const struct gw_filter_type *type_ptr);
/* Every registered name, NULL-terminated, for error messages. */
const char *const *gw_filter_type_names(void);

#endif
