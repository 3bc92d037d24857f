#ifndef GW_FILTER_H
#define GW_FILTER_H

/* Filter types and their registry.
 *
 * A filter is a pipeline stage of a route: a coroutine in the connection's
 * micro-process that sees the request head (and later the response head)
 * by reference and decides to continue or to answer itself. This header is
 * the part the configuration needs: looking a type up by name and
 * compiling its JSON into an immutable blob kept in the config snapshot.
 * The stage interface itself lands with the connection process. */

#include <jansson.h>
#include <stddef.h>

struct gw_diag;
struct gw_arena;

struct gw_filter_type {
	const char *name;
	/* Validate `config` (the route's filter entry, an object whose "type"
	 * is this filter's name) and compile it into memory from `arena`.
	 * Report every problem with gw_diag_error(diag, "<pointer>/key", ...)
	 * using paths under `pointer` (e.g. "/routes/0/filters/1"); unknown
	 * keys and wrong types are errors. Returns 0, or -1 after reporting. */
	int (*compile)(const json_t *config, const char *pointer, struct gw_diag *diag, struct gw_arena *arena,
		       void **compiled_out);
};

/* The built-in types and those registered at start-up, by name. */
const struct gw_filter_type *gw_filter_type_find(const char *name);
int gw_filter_type_register(const struct gw_filter_type *type);
/* Every registered name, NULL-terminated, for error messages. */
const char *const *gw_filter_type_names(void);

#endif
