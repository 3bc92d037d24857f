#ifndef GW_GENERATION_H
#define GW_GENERATION_H

/* gw_generation: what one configuration snapshot is in one kernel (its
 * listeners' connection configs, with the routes, the upstreams' and the
 * filters' state they point to), and the kernel's hand-over from one to
 * the next on a reload.
 *
 * New requests take the newest generation; a request that started keeps
 * the one it started on (a connection holds one generation at a time and
 * moves to the newest between requests; a tunnel keeps its own to the
 * end). A generation a reload replaced is retired, and freed, between
 * dispatches, once nothing holds it. Each kernel is its own process: the
 * list is the kernel's, and nothing here is shared or locked. */

#include <stdint.h>

struct gw_generation;

/* The newest generation, NULL before the first is published. */
struct gw_generation *gw_generation_current(void);
/* Makes `generation_ptr` (its users 0, its number set by the caller) the
 * newest; the one before is retired. */
void gw_generation_publish(struct gw_generation *generation_ptr);
void gw_generation_hold(struct gw_generation *generation_ptr);
void gw_generation_release(struct gw_generation *generation_ptr);
/* Frees (free_fn) the retired generations nothing holds; between
 * dispatches, never from a connection's process. The count still alive,
 * the newest included. */
int gw_generation_collect(void);
/* At kernel stop: every generation, held or not. */
void gw_generation_free_all(void);

#endif
