#ifndef GW_DIAG_S_H
#define GW_DIAG_S_H

/* gw_diag's layout: the problems and their text live in the sink's own
 * arena, which holds the struct itself too. */

#include "gw_diag.h"

struct gw_arena;

struct gw_diag {
	struct gw_arena *arena_ptr;
	int count;    /* problems kept, the overflow note included */
	int reported; /* every report, kept or not */
	struct gw_diag_problem problems[GW_DIAG_MAX_PROBLEMS + 1];
};

#endif
