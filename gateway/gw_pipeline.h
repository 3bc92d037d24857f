#ifndef GW_PIPELINE_H
#define GW_PIPELINE_H

/* gw_pipeline: runs a route's filter stages over an exchange, one phase at
 * a time (gw_filter.h):
 *
 *   GW_PHASE_REQUEST_HEAD   request_head, in route order, until one answers
 *   GW_PHASE_REQUEST_BODY   request_body, in route order, for the stages
 *                           that let the request through, until one answers
 *   GW_PHASE_RESPONSE_HEAD  response_head, in reverse, for those stages
 *
 * gw_pipeline_run is a plain function: the handlers return at once, so a
 * phase costs no coroutine. Only when a handler waits (gw_stage_wait) does
 * it stop at that stage and say GW_PIPELINE_WAIT; the connection then runs
 * vk_call(gw_pipeline_wait, ex_ptr), which runs the waiting thread and the
 * rest of the phase (and any later wait of it), in the connection's
 * process:
 *
 *	if (gw_pipeline_run(&self->exchange, GW_PHASE_REQUEST_HEAD) == GW_PIPELINE_WAIT)
 *		vk_call(gw_pipeline_wait, &self->exchange);
 *
 * A stage that fails (a waiting thread's uncaught raise, a RESPOND without
 * an answer, more state than the exchange holds) becomes a 500 verdict:
 * neither raises, except for a fault, which goes to the connection. */

#include "gw_exchange_s.h"

#include "vk_thread.h"

struct gw_config;

enum gw_pipeline_status {
	GW_PIPELINE_DONE, /* the phase is over: the exchange's verdict says what next */
	GW_PIPELINE_WAIT, /* a stage waits: vk_call(gw_pipeline_wait, ex_ptr) */
};

enum gw_pipeline_status gw_pipeline_run(struct gw_exchange *ex_ptr, enum gw_pipeline_phase phase);
/* A response head phase that stopped at a stage's retry ask
 * (gw_exchange_retry), when the connection decided against another
 * attempt: the answer goes on through the stages after that one. */
enum gw_pipeline_status gw_pipeline_resume(struct gw_exchange *ex_ptr);
/* The thread that finishes a phase gw_pipeline_run left waiting; its
 * argument is the exchange. */
void gw_pipeline_wait(struct vk_thread *that);

/* After the request head: whether a stage that let the request through
 * asks for its body (gw_filter.h, wants_body). The connection then keeps
 * it in the exchange and runs GW_PHASE_REQUEST_BODY. */
int gw_pipeline_wants_body(const struct gw_exchange *ex_ptr);

/* Whether any route of the snapshot has a filter that asks for bodies:
 * connections then need room to keep one. */
int gw_pipeline_config_wants_bodies(const struct gw_config *config_ptr);

/* Heap a waiting stage may need in the connection's process, beyond the
 * thread's own locals: its socket (gw_stage_socket) and the pipeline's
 * threads. */
#define GW_PIPELINE_WAIT_HEAP_BYTES (2 * GW_STAGE_SOCKET_RING_BYTES + 4096)

#endif
