/* gw_pipeline: the filter stages of a route, run phase by phase
 * (gw_pipeline.h).
 *
 * A phase is a walk over the route's stages that calls each one's handler
 * for the phase and acts on what it returns; it needs no coroutine, so a
 * route of filters that never wait costs a few function calls. The walk's
 * place (phase, stage) is kept in the exchange: when a handler waits, the
 * walk stops there, and gw_pipeline_wait, a thread of the connection's
 * process, runs the waiting thread and takes the walk up again after it.
 * A stage's argument lives in the exchange, so that the response head
 * finds the same state the request head left.
 *
 * A user's filter is not the gateway's code: every call into a type not
 * marked `trusted` (a handler, a waiting thread, wants_body) runs between
 * vk_sys_untrusted_begin and _end, so with the listener's isolation on,
 * every other connection's heap is hidden from it (a stray write faults
 * and ends this connection only). The gateway's own code, built-in filters
 * included, runs with the heaps left as they are. A fault in a handler
 * lands in the connection's catch block, which ends the untrusted mark. */
#include "gw_pipeline.h"
#include "gw_config_s.h"
#include "gw_exchange_s.h"
#include "gw_filter.h"

#include "vk_coro.h"
#include "vk_socket.h"
#include "vk_sys.h"

#include <errno.h>
#include <string.h>

static const struct gw_filter_type *type_at(const struct gw_exchange *ex_ptr, int i)
{
	return ex_ptr->route_ptr->filters_ptr[i].type_ptr;
}

/* Points stage i at its config, and at fresh zeroed state on the way in.
 * -1 when the exchange has no room left for the state. */
static int stage_prepare(struct gw_exchange *ex_ptr, int i)
{
	const struct gw_route_filter *filter_ptr = &ex_ptr->route_ptr->filters_ptr[i];
	struct gw_stage *stage_ptr = &ex_ptr->stages[i];
	size_t bytes = (filter_ptr->type_ptr->state_bytes + 15) & ~(size_t)15;

	stage_ptr->exchange_ptr = ex_ptr;
	stage_ptr->config_ptr = filter_ptr->compiled_ptr;
	stage_ptr->state_ptr = NULL;
	stage_ptr->index = i;
	stage_ptr->wait_fn = NULL;
	stage_ptr->socket_ptr = NULL;
	if (!bytes)
		return 0;
	if (bytes > sizeof(ex_ptr->state) - ex_ptr->state_used)
		return -1;
	stage_ptr->state_ptr = ex_ptr->state + ex_ptr->state_used;
	memset(stage_ptr->state_ptr, 0, bytes);
	ex_ptr->state_used += bytes;
	return 0;
}

static void enter_filter(const struct gw_filter_type *type_ptr)
{
	if (!type_ptr->trusted)
		vk_sys_untrusted_begin();
}

static void leave_filter(const struct gw_filter_type *type_ptr)
{
	if (!type_ptr->trusted)
		vk_sys_untrusted_end();
}

static gw_filter_handler phase_handler(const struct gw_filter_type *type_ptr, enum gw_pipeline_phase phase)
{
	switch (phase) {
	case GW_PHASE_REQUEST_HEAD:
		return type_ptr->request_head;
	case GW_PHASE_REQUEST_BODY:
		return type_ptr->request_body;
	default:
		return type_ptr->response_head;
	}
}

/* Whether the walk has a stage left, at ex_ptr->at. On the way in it
 * stops at the first answer; on the way back every stage sees the answer
 * (a stage's own one included), until one asks for another attempt. */
static int phase_goes_on(const struct gw_exchange *ex_ptr)
{
	switch (ex_ptr->phase) {
	case GW_PHASE_REQUEST_HEAD:
		return ex_ptr->at < ex_ptr->route_ptr->filter_count && ex_ptr->verdict == GW_VERDICT_CONTINUE;
	case GW_PHASE_REQUEST_BODY:
		return ex_ptr->at < ex_ptr->stages_passed && ex_ptr->verdict == GW_VERDICT_CONTINUE;
	default:
		return ex_ptr->at >= 0 && ex_ptr->verdict != GW_VERDICT_RETRY;
	}
}

/* What a handler's result makes of the exchange (a waiting thread acts
 * on the exchange itself). */
static void apply_result(struct gw_exchange *ex_ptr, enum gw_filter_result result)
{
	switch (result) {
	case GW_FILTER_CONTINUE:
		break;
	case GW_FILTER_RESPOND:
		if (ex_ptr->verdict != GW_VERDICT_RESPOND)
			gw_exchange_respond_error(ex_ptr, 500, "filter answered nothing");
		break;
	case GW_FILTER_RETRY:
		/* Whether the request qualifies is decided there; if not, the
		 * answer goes on. */
		if (ex_ptr->phase == GW_PHASE_RESPONSE_HEAD)
			gw_exchange_retry(ex_ptr);
		else
			gw_exchange_respond_error(ex_ptr, 500, "filter asked for a retry before the response");
		break;
	case GW_FILTER_WAIT:
		gw_exchange_respond_error(ex_ptr, 500, "filter waits on nothing (no gw_stage_wait)");
		break;
	}
}

/* The stage at ex_ptr->at is done: the books, and on to the next. */
static void stage_done(struct gw_exchange *ex_ptr)
{
	int i = ex_ptr->at;

	switch (ex_ptr->phase) {
	case GW_PHASE_REQUEST_HEAD:
		if (ex_ptr->verdict == GW_VERDICT_CONTINUE)
			ex_ptr->stages_passed = i + 1;
		else
			ex_ptr->answered_by = type_at(ex_ptr, i)->name;
		ex_ptr->at++;
		break;
	case GW_PHASE_REQUEST_BODY:
		if (ex_ptr->verdict != GW_VERDICT_CONTINUE) {
			/* The answer goes back through the stages before it. */
			ex_ptr->answered_by = type_at(ex_ptr, i)->name;
			ex_ptr->stages_passed = i;
		}
		ex_ptr->at++;
		break;
	default:
		ex_ptr->at--;
		break;
	}
}

/* The walk from ex_ptr->at, until the phase is over or a stage waits. */
static enum gw_pipeline_status run_stages(struct gw_exchange *ex_ptr)
{
	while (phase_goes_on(ex_ptr)) {
		struct gw_stage *stage_ptr = &ex_ptr->stages[ex_ptr->at];
		const struct gw_filter_type *type_ptr = type_at(ex_ptr, ex_ptr->at);
		gw_filter_handler handler = phase_handler(type_ptr, ex_ptr->phase);
		enum gw_filter_result result;

		if (ex_ptr->phase == GW_PHASE_REQUEST_HEAD && stage_prepare(ex_ptr, ex_ptr->at) == -1) {
			gw_exchange_respond_error(ex_ptr, 500, "filter state does not fit in the exchange");
		} else if (handler) {
			enter_filter(type_ptr);
			result = handler(stage_ptr);
			leave_filter(type_ptr);
			if (result == GW_FILTER_WAIT && stage_ptr->wait_fn)
				return GW_PIPELINE_WAIT;
			apply_result(ex_ptr, result);
		}
		stage_done(ex_ptr);
	}
	return GW_PIPELINE_DONE;
}

enum gw_pipeline_status gw_pipeline_run(struct gw_exchange *ex_ptr, enum gw_pipeline_phase phase)
{
	ex_ptr->phase = phase;
	switch (phase) {
	case GW_PHASE_REQUEST_HEAD:
		if (ex_ptr->route_ptr->filter_count > GW_EXCHANGE_STAGES_MAX) {
			gw_exchange_respond_error(ex_ptr, 500, "route has too many filters");
			return GW_PIPELINE_DONE;
		}
		ex_ptr->at = 0;
		break;
	case GW_PHASE_REQUEST_BODY:
		ex_ptr->at = 0;
		break;
	default:
		ex_ptr->at = ex_ptr->stages_passed - 1;
		break;
	}
	return run_stages(ex_ptr);
}

enum gw_pipeline_status gw_pipeline_resume(struct gw_exchange *ex_ptr)
{
	ex_ptr->verdict = GW_VERDICT_CONTINUE;
	return run_stages(ex_ptr);
}

enum gw_filter_result gw_stage_wait(struct gw_stage *stage_ptr, vk_thread_fn fn)
{
	stage_ptr->wait_fn = fn;
	return GW_FILTER_WAIT;
}

enum gw_filter_result gw_stage_fail(struct gw_stage *stage_ptr, const char *message)
{
	gw_exchange_respond_error(stage_ptr->exchange_ptr, 500, message);
	return GW_FILTER_RESPOND;
}

static void release_socket(struct gw_stage *stage_ptr)
{
	if (stage_ptr->socket_ptr) {
		vk_socket_free(stage_ptr->socket_ptr);
		stage_ptr->socket_ptr = NULL;
	}
}

/* One waiting stage: its thread, between untrusted begin and end for a
 * user's filter, and the socket it opened closed after it. */
static void stage_wait(struct vk_thread *that)
{
	struct gw_stage *stage_ptr = vk_thread_arg(that);
	const struct gw_filter_type *type_ptr = type_at(stage_ptr->exchange_ptr, stage_ptr->index);

	vk_begin_stateless();
	vk_catch
	{
		/* The stage failed, and with it the request: the client hears
		 * about it, the connection goes on. Not after a fault: the
		 * connection decides (gw_conn.c), its heap may be damaged. */
		vk_sys_untrusted_end();
		if (vk_sys_faulted())
			vk_raise(EFAULT);
		release_socket(stage_ptr);
		gw_exchange_respond_error(stage_ptr->exchange_ptr, 500, "filter failed");
	}
	enter_filter(type_ptr);
	vk_call(stage_ptr->wait_fn, stage_ptr);
	leave_filter(type_ptr);
	release_socket(stage_ptr);
	vk_end();
}

void gw_pipeline_wait(struct vk_thread *that)
{
	struct gw_exchange *ex_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	do {
		vk_call(stage_wait, &ex_ptr->stages[ex_ptr->at]);
		ex_ptr->stages[ex_ptr->at].wait_fn = NULL;
		stage_done(ex_ptr);
	} while (run_stages(ex_ptr) == GW_PIPELINE_WAIT);
	vk_end();
}

static int asks_for_body(const struct gw_filter_type *type_ptr)
{
	return type_ptr->request_body || type_ptr->wants_body;
}

int gw_pipeline_wants_body(const struct gw_exchange *ex_ptr)
{
	int wants = 0;

	for (int i = 0; i < ex_ptr->stages_passed && !wants; i++) {
		const struct gw_filter_type *type_ptr = type_at(ex_ptr, i);

		if (!asks_for_body(type_ptr))
			continue;
		if (!type_ptr->wants_body) {
			wants = 1;
			continue;
		}
		enter_filter(type_ptr);
		wants = type_ptr->wants_body(&ex_ptr->stages[i]);
		leave_filter(type_ptr);
	}
	return wants;
}

int gw_pipeline_config_wants_bodies(const struct gw_config *config_ptr)
{
	for (int r = 0; r < config_ptr->route_count; r++)
		for (int f = 0; f < config_ptr->routes_ptr[r].filter_count; f++)
			if (asks_for_body(config_ptr->routes_ptr[r].filters_ptr[f].type_ptr))
				return 1;
	return 0;
}
