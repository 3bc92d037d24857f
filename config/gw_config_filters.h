#ifndef GW_CONFIG_FILTERS_H
#define GW_CONFIG_FILTERS_H

/* How the loader compiles a route's "filters" without knowing filter types:
 * the types live a layer above (gateway/gw_filter.h), so the gateway's
 * registry hands config these lookups when a type registers. Until one
 * does, no type is known and every filter entry is an unknown type. The
 * snapshot keeps the type as an opaque pointer (gw_route_filter). */

#include <jansson.h>

struct gw_arena;
struct gw_diag;
struct gw_filter_type;

struct gw_config_filter_types {
	/* The type named `name`, or NULL. */
	const struct gw_filter_type *(*find)(const char *name);
	/* Every known name, NULL-terminated, for error messages. */
	const char *const *(*names)(void);
	/* The type's compile() of one filter entry (gateway/gw_filter.h says
	 * what it must do): 0, or -1 after reporting to `diag`. */
	int (*compile)(const struct gw_filter_type *type_ptr, const json_t *config, const char *pointer,
		       struct gw_diag *diag, struct gw_arena *arena, void **compiled_out);
	/* Whether the type acts on the request head only (no body, no
	 * response): what a continue route's filters must do. */
	int (*request_head_only)(const struct gw_filter_type *type_ptr);
};

/* For a type's compile(), a filter that sends requests of its own to an
 * upstream (forward_auth, a remote JWKS): 0 when the snapshot being loaded
 * defines the upstream `name` (or its upstreams could not be read, which
 * is reported already), else -1 after reporting "unknown upstream" at
 * `pointer` with the names defined. Outside a compile(): -1, reported. */
int gw_config_filter_upstream(const char *name, const char *pointer, struct gw_diag *diag_ptr);

/* The lookups every later load uses; the caller keeps `types_ptr` alive.
 * Set at start-up, before any kernel runs (no lock). */
void gw_config_set_filter_types(const struct gw_config_filter_types *types_ptr);

#endif
