#ifndef GW_PIPELINE_H
#define GW_PIPELINE_H

/* gw_pipeline: runs a route's filter stages over an exchange. Both are
 * thread functions the connection process runs with vk_call, the argument
 * being its struct gw_exchange (gw_exchange_s.h, begun for this request).
 *
 * gw_pipeline_request runs each filter's on_request in route order until
 * one answers. gw_pipeline_response runs on_response, in reverse, for the
 * stages that let the request through. A stage that fails (an uncaught
 * raise, or more state than the exchange holds) becomes a 500 verdict: the
 * runners themselves never raise. */

#include "vk_thread.h"

struct gw_exchange;
struct gw_config;

void gw_pipeline_request(struct vk_thread *that);
void gw_pipeline_response(struct vk_thread *that);

/* Whether a stage that let the request through asks for its body; then,
 * with the body kept in the exchange, gw_pipeline_request_body runs their
 * on_request_body in route order until one answers. */
int gw_pipeline_wants_body(const struct gw_exchange *ex_ptr);
void gw_pipeline_request_body(struct vk_thread *that);

/* Whether any route of the snapshot has a filter that asks for bodies:
 * connections then need room to keep one. */
int gw_pipeline_config_wants_bodies(const struct gw_config *config_ptr);

#endif
