/* gw_generation: the kernel's configuration generations (see the .h). */
#include "gw_generation.h"
#include "gw_generation_s.h"

#include <stddef.h>

static TAILQ_HEAD(gw_generation_list, gw_generation) gw_generations = TAILQ_HEAD_INITIALIZER(gw_generations);

struct gw_generation *gw_generation_current(void)
{
	return TAILQ_LAST(&gw_generations, gw_generation_list);
}

void gw_generation_publish(struct gw_generation *generation_ptr)
{
	struct gw_generation *previous_ptr = gw_generation_current();

	if (previous_ptr)
		previous_ptr->retired = 1;
	generation_ptr->retired = 0;
	TAILQ_INSERT_TAIL(&gw_generations, generation_ptr, link);
}

void gw_generation_hold(struct gw_generation *generation_ptr)
{
	generation_ptr->users++;
}

void gw_generation_release(struct gw_generation *generation_ptr)
{
	if (generation_ptr->users > 0)
		generation_ptr->users--;
}

int gw_generation_collect(void)
{
	struct gw_generation *generation_ptr, *next_ptr;
	int alive = 0;

	for (generation_ptr = TAILQ_FIRST(&gw_generations); generation_ptr; generation_ptr = next_ptr) {
		next_ptr = TAILQ_NEXT(generation_ptr, link);
		if (!generation_ptr->retired || generation_ptr->users > 0) {
			alive++;
			continue;
		}
		TAILQ_REMOVE(&gw_generations, generation_ptr, link);
		generation_ptr->free_fn(generation_ptr);
	}
	return alive;
}

void gw_generation_free_all(void)
{
	struct gw_generation *generation_ptr;

	while ((generation_ptr = TAILQ_FIRST(&gw_generations))) {
		TAILQ_REMOVE(&gw_generations, generation_ptr, link);
		generation_ptr->free_fn(generation_ptr);
	}
}
