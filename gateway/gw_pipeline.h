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

void gw_pipeline_request(struct vk_thread *that);
void gw_pipeline_response(struct vk_thread *that);

#endif
