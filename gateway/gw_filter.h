#ifndef GW_FILTER_H
#define GW_FILTER_H

/* Filter types and their registry.
 *
 * A filter is a pipeline stage of a route: a coroutine in the connection's
 * micro-process that sees the request head (and later the response head)
 * by reference and decides to continue or to answer itself. A type gives
 * the configuration its compile() (JSON -> immutable blob in the config
 * snapshot) and the connection its stage threads. docs/filters.md says how
 * to write one. */

#include <jansson.h>
#include <stddef.h>

#include "vk_thread.h"

struct gw_diag;
struct gw_arena;
struct gw_stage;

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
	/* The request stage: run with vk_call(on_request, stage_ptr), where
	 * the thread's argument is a struct gw_stage * (gw_exchange.h). It
	 * returns once it has decided: gw_exchange_respond*() to answer, else
	 * the request goes on. It may block on I/O of its own. A raise it does
	 * not catch answers 500. NULL: the filter has nothing to do there. */
	vk_thread_fn on_request;
	/* The response stage, optional: run in reverse route order, once the
	 * response head is known, for the stages whose on_request let the
	 * request through. It may edit response headers. */
	vk_thread_fn on_response;
	/* The request body, optional: a type that has it asks for the body.
	 * The connection then reads the whole body (decoded if chunked, at
	 * most http.max_buffered_body_bytes, 413 beyond) before anything goes
	 * upstream, and runs this for the stages whose on_request let the
	 * request through, in route order; gw_exchange_request_body() gives
	 * the bytes. It may answer (gw_exchange_respond*). The kept body is
	 * what goes upstream, with a Content-Length. Types without it never
	 * see the body: it streams through untouched. */
	vk_thread_fn on_request_body;
	/* Optional, with on_request_body: whether this request's body is
	 * wanted at all (NULL: always). A stage that only needs some bodies
	 * (a retry of repeatable methods) spares the others the keeping. */
	int (*wants_body)(const struct gw_stage *stage_ptr);
	/* Zeroed per-request bytes the stages get from gw_stage_state(). */
	size_t state_bytes;
	/* The built-in types, shipped and tested with vkgw, set it: their code
	 * runs as the gateway's own. Left 0 (a user's filter), the handlers
	 * run with every other connection's heap hidden when the listener's
	 * isolation is on (docs/gateway-design.md, Isolation). */
	int trusted;
};

/* The built-in types and those registered at start-up, by name. Registering
 * also hands config/ the lookups it compiles route filters with
 * (gw_config_filters.h). */
const struct gw_filter_type *gw_filter_type_find(const char *name);
int gw_filter_type_register(const struct gw_filter_type *type_ptr);
/* Every registered name, NULL-terminated, for error messages. */
const char *const *gw_filter_type_names(void);

#endif
