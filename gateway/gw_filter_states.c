/* gw_filter_states: each kernel's state of a snapshot's filters (see
 * gw_filter_states.h). One block per table: the route offsets, then one
 * slot per route filter, so a stage finds its state with two loads. */
#include "gw_filter_states.h"
#include "gw_config_s.h"
#include "gw_filter.h"

#include <stdlib.h>
#include <string.h>

struct filter_state_slot {
	const struct gw_filter_type *type_ptr;
	void *state_ptr;
	int taken_over; /* a later table has it: not freed with this one */
};

struct gw_filter_states {
	const struct gw_config *config_ptr; /* the snapshot: its routes name the slots */
	int route_count;
	int *first_slot_ptr; /* per route index: its first filter's slot */
	struct filter_state_slot *slots_ptr;
	int slot_count;
};

/* Filter `index` of the route is the how-many-th of its type there. */
static int ordinal_of_type(const struct gw_route *route_ptr, int index)
{
	int n = 0;

	for (int i = 0; i < index; i++)
		n += route_ptr->filters_ptr[i].type_ptr == route_ptr->filters_ptr[index].type_ptr;
	return n;
}

/* The slot the same filter had in the table before: same route name,
 * same type, same ordinal among that type's filters. NULL if new. */
static struct filter_state_slot *predecessor(struct gw_filter_states *previous_ptr, const struct gw_route *route_ptr,
					     int index)
{
	const struct gw_config *previous_config_ptr = previous_ptr->config_ptr;
	const struct gw_filter_type *type_ptr = route_ptr->filters_ptr[index].type_ptr;
	int ordinal = ordinal_of_type(route_ptr, index);

	for (int r = 0; r < previous_config_ptr->route_count; r++) {
		const struct gw_route *old_ptr = &previous_config_ptr->routes_ptr[r];

		if (strcmp(old_ptr->name, route_ptr->name) != 0)
			continue;
		for (int f = 0; f < old_ptr->filter_count; f++)
			if (old_ptr->filters_ptr[f].type_ptr == type_ptr && ordinal-- == 0)
				return &previous_ptr->slots_ptr[previous_ptr->first_slot_ptr[old_ptr->index] + f];
		return NULL;
	}
	return NULL;
}

/* Frees the states a table made itself and gives back those it took. */
static void undo(struct gw_filter_states *states_ptr, struct filter_state_slot **taken_ptr, int count)
{
	for (int i = 0; i < count; i++) {
		struct filter_state_slot *slot_ptr = &states_ptr->slots_ptr[i];

		if (taken_ptr[i])
			taken_ptr[i]->taken_over = 0;
		else if (slot_ptr->state_ptr && slot_ptr->type_ptr->kernel_state_free)
			slot_ptr->type_ptr->kernel_state_free(slot_ptr->state_ptr);
	}
}

static struct gw_filter_states *allocate(const struct gw_config *config_ptr)
{
	struct gw_filter_states *states_ptr;
	int slot_count = 0;

	for (int r = 0; r < config_ptr->route_count; r++)
		slot_count += config_ptr->routes_ptr[r].filter_count;
	states_ptr = calloc(1, sizeof(*states_ptr) + sizeof(int) * (size_t)config_ptr->route_count +
				       sizeof(struct filter_state_slot) * (size_t)slot_count);
	if (!states_ptr)
		return NULL;
	states_ptr->config_ptr = config_ptr;
	states_ptr->route_count = config_ptr->route_count;
	states_ptr->first_slot_ptr = (int *)(states_ptr + 1);
	states_ptr->slots_ptr = (struct filter_state_slot *)(states_ptr->first_slot_ptr + config_ptr->route_count);
	states_ptr->slot_count = slot_count;
	slot_count = 0;
	for (int r = 0; r < config_ptr->route_count; r++) {
		states_ptr->first_slot_ptr[r] = slot_count;
		for (int f = 0; f < config_ptr->routes_ptr[r].filter_count; f++)
			states_ptr->slots_ptr[slot_count++].type_ptr =
				config_ptr->routes_ptr[r].filters_ptr[f].type_ptr;
	}
	return states_ptr;
}

struct gw_filter_states *gw_filter_states_create(const struct gw_config *config_ptr,
						 struct gw_filter_states *previous_ptr)
{
	struct gw_filter_states *states_ptr = allocate(config_ptr);
	struct filter_state_slot **taken_ptr;
	int slot = 0;

	if (!states_ptr)
		return NULL;
	/* Which old slot each new one took over, to give it back on failure. */
	taken_ptr = calloc((size_t)states_ptr->slot_count + 1, sizeof(*taken_ptr));
	if (!taken_ptr) {
		free(states_ptr);
		return NULL;
	}
	for (int r = 0; r < config_ptr->route_count; r++) {
		const struct gw_route *route_ptr = &config_ptr->routes_ptr[r];

		for (int f = 0; f < route_ptr->filter_count; f++, slot++) {
			const struct gw_route_filter *filter_ptr = &route_ptr->filters_ptr[f];
			struct filter_state_slot *old_ptr = NULL;
			void *previous_state_ptr = NULL;

			if (!filter_ptr->type_ptr->kernel_state_create)
				continue;
			if (previous_ptr)
				old_ptr = predecessor(previous_ptr, route_ptr, f);
			if (old_ptr && !old_ptr->taken_over)
				previous_state_ptr = old_ptr->state_ptr;
			states_ptr->slots_ptr[slot].state_ptr =
				filter_ptr->type_ptr->kernel_state_create(filter_ptr->compiled_ptr, previous_state_ptr);
			if (!states_ptr->slots_ptr[slot].state_ptr) {
				undo(states_ptr, taken_ptr, slot);
				free(taken_ptr);
				free(states_ptr);
				return NULL;
			}
			if (previous_state_ptr && states_ptr->slots_ptr[slot].state_ptr == previous_state_ptr) {
				old_ptr->taken_over = 1;
				taken_ptr[slot] = old_ptr;
			}
		}
	}
	free(taken_ptr);
	return states_ptr;
}

void gw_filter_states_destroy(struct gw_filter_states *states_ptr)
{
	if (!states_ptr)
		return;
	for (int i = 0; i < states_ptr->slot_count; i++) {
		struct filter_state_slot *slot_ptr = &states_ptr->slots_ptr[i];

		if (slot_ptr->state_ptr && !slot_ptr->taken_over && slot_ptr->type_ptr->kernel_state_free)
			slot_ptr->type_ptr->kernel_state_free(slot_ptr->state_ptr);
	}
	free(states_ptr);
}

void *gw_filter_states_get(const struct gw_filter_states *states_ptr, const struct gw_route *route_ptr, int index)
{
	if (!states_ptr || !route_ptr || route_ptr->index >= states_ptr->route_count)
		return NULL;
	return states_ptr->slots_ptr[states_ptr->first_slot_ptr[route_ptr->index] + index].state_ptr;
}
