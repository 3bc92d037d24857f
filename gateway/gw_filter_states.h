#ifndef GW_FILTER_STATES_H
#define GW_FILTER_STATES_H

/* gw_filter_states: one kernel's state of the filters of one config
 * snapshot (gw_filter.h, kernel_state_create): a cache, token buckets,
 * whatever outlives a request. Made when the kernel starts, before it
 * serves, and again for each new snapshot a reload brings, handing over
 * the state of the snapshot before; never on the request path. Each
 * kernel is its own OS process, so nothing here is shared or locked. */

struct gw_config;
struct gw_route;
struct gw_filter_states;

/* The states of every route filter of `config_ptr` whose type has
 * kernel_state_create. With `previous_ptr` (this kernel's states of the
 * snapshot before), each filter that was already there (same route name,
 * same type, same place among that type's filters of the route) is handed
 * its old state. NULL on failure (a hook failed, or no memory): nothing
 * was handed over then, and `previous_ptr` stays as it was. */
struct gw_filter_states *gw_filter_states_create(const struct gw_config *config_ptr,
						 struct gw_filter_states *previous_ptr);
/* Frees the table and every state of it that no later table took over
 * (kernel_state_free). Once the connections using its snapshot are gone. */
void gw_filter_states_destroy(struct gw_filter_states *states_ptr);
/* The state of filter `index` of the route; NULL without one (or without
 * a table). */
void *gw_filter_states_get(const struct gw_filter_states *states_ptr, const struct gw_route *route_ptr, int index);

#endif
