/* gw_pipeline: the filter stages of a route, run in order (gw_pipeline.h).
 *
 * Each stage is a child thread called on the connection's socket, so a
 * stage that blocks on its own I/O parks the connection's process, not the
 * kernel. The stage's argument lives in the exchange, not in the runner's
 * locals, so that on_response finds the same state on_request left.
 *
 * A user's filter is not the gateway's code: it runs between
 * vk_sys_untrusted_begin and _end, so with the listener's isolation on,
 * every other connection's heap is hidden from it (a stray write faults
 * and ends this connection only). The gateway's own code, built-in
 * filters included (their type says `trusted`), runs with the heaps left
 * as they are. */
#include "gw_pipeline.h"
#include "gw_config_s.h"
#include "gw_exchange_s.h"
#include "gw_filter.h"

#include "vk_coro.h"
#include "vk_sys.h"

#include <errno.h>

#include <string.h>

struct pipeline_self {
	int i;
};

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
	if (!bytes)
		return 0;
	if (bytes > sizeof(ex_ptr->state) - ex_ptr->state_used)
		return -1;
	stage_ptr->state_ptr = ex_ptr->state + ex_ptr->state_used;
	memset(stage_ptr->state_ptr, 0, bytes);
	ex_ptr->state_used += bytes;
	return 0;
}

static void enter_filter(const struct gw_exchange *ex_ptr, int i)
{
	if (!ex_ptr->route_ptr->filters_ptr[i].type_ptr->trusted)
		vk_sys_untrusted_begin();
}

void gw_pipeline_request(struct vk_thread *that)
{
	struct gw_exchange *ex_ptr = vk_thread_arg(that);
	struct pipeline_self *self;
	vk_thread_fn on_request;

	vk_begin();
	vk_catch
	{
		/* The stage failed, and with it the request: the client hears
		 * about it, the connection goes on. Not after a fault: the
		 * connection decides (gw_conn.c), its heap may be damaged. */
		vk_sys_untrusted_end();
		if (vk_sys_faulted())
			vk_raise(EFAULT);
		gw_exchange_respond_error(ex_ptr, 500, "filter failed");
	}
	if (ex_ptr->route_ptr->filter_count > GW_EXCHANGE_STAGES_MAX)
		gw_exchange_respond_error(ex_ptr, 500, "route has too many filters");
	for (self->i = 0; self->i < ex_ptr->route_ptr->filter_count && ex_ptr->verdict == GW_VERDICT_CONTINUE;
	     self->i++) {
		if (stage_prepare(ex_ptr, self->i) == -1) {
			gw_exchange_respond_error(ex_ptr, 500, "filter state does not fit in the exchange");
			break;
		}
		on_request = ex_ptr->route_ptr->filters_ptr[self->i].type_ptr->on_request;
		if (on_request) {
			enter_filter(ex_ptr, self->i);
			vk_call(on_request, &ex_ptr->stages[self->i]);
			vk_sys_untrusted_end();
		}
		if (ex_ptr->verdict == GW_VERDICT_CONTINUE)
			ex_ptr->stages_passed = self->i + 1;
		else
			ex_ptr->answered_by = ex_ptr->route_ptr->filters_ptr[self->i].type_ptr->name;
	}
	vk_end();
}

void gw_pipeline_response(struct vk_thread *that)
{
	struct gw_exchange *ex_ptr = vk_thread_arg(that);
	struct pipeline_self *self;
	vk_thread_fn on_response;

	vk_begin();
	vk_catch
	{
		vk_sys_untrusted_end();
		if (vk_sys_faulted())
			vk_raise(EFAULT);
		gw_exchange_respond_error(ex_ptr, 500, "response filter failed");
	}
	for (self->i = ex_ptr->stages_passed - 1; self->i >= 0 && ex_ptr->verdict != GW_VERDICT_RETRY; self->i--) {
		on_response = ex_ptr->route_ptr->filters_ptr[self->i].type_ptr->on_response;
		if (on_response) {
			enter_filter(ex_ptr, self->i);
			vk_call(on_response, &ex_ptr->stages[self->i]);
			vk_sys_untrusted_end();
		}
	}
	vk_end();
}

int gw_pipeline_wants_body(const struct gw_exchange *ex_ptr)
{
	int wants = 0;

	for (int i = 0; i < ex_ptr->stages_passed && !wants; i++) {
		const struct gw_filter_type *type_ptr = ex_ptr->route_ptr->filters_ptr[i].type_ptr;

		if (!type_ptr->on_request_body)
			continue;
		if (!type_ptr->wants_body) {
			wants = 1;
			continue;
		}
		enter_filter(ex_ptr, i);
		wants = type_ptr->wants_body(&ex_ptr->stages[i]);
		vk_sys_untrusted_end();
	}
	return wants;
}

void gw_pipeline_request_body(struct vk_thread *that)
{
	struct gw_exchange *ex_ptr = vk_thread_arg(that);
	struct pipeline_self *self;
	vk_thread_fn on_request_body;

	vk_begin();
	vk_catch
	{
		vk_sys_untrusted_end();
		if (vk_sys_faulted())
			vk_raise(EFAULT);
		gw_exchange_respond_error(ex_ptr, 500, "body filter failed");
	}
	for (self->i = 0; self->i < ex_ptr->stages_passed && ex_ptr->verdict == GW_VERDICT_CONTINUE; self->i++) {
		on_request_body = ex_ptr->route_ptr->filters_ptr[self->i].type_ptr->on_request_body;
		if (on_request_body) {
			enter_filter(ex_ptr, self->i);
			vk_call(on_request_body, &ex_ptr->stages[self->i]);
			vk_sys_untrusted_end();
		}
		if (ex_ptr->verdict != GW_VERDICT_CONTINUE) {
			/* The response goes back through the stages before it. */
			ex_ptr->answered_by = ex_ptr->route_ptr->filters_ptr[self->i].type_ptr->name;
			ex_ptr->stages_passed = self->i;
		}
	}
	vk_end();
}

int gw_pipeline_config_wants_bodies(const struct gw_config *config_ptr)
{
	for (int r = 0; r < config_ptr->route_count; r++)
		for (int f = 0; f < config_ptr->routes_ptr[r].filter_count; f++)
			if (config_ptr->routes_ptr[r].filters_ptr[f].type_ptr->on_request_body)
				return 1;
	return 0;
}
