#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include <stdint.h>

#include "gw_health_s.h"

/* Endpoint health: active checks move an endpoint between healthy and
 * unhealthy after runs of results; passive outlier detection ejects an
 * endpoint after a run of 5xx answers or failed connects, for base time x
 * the number of times it was ejected, as long as no more than the allowed
 * share of the upstream's endpoints is ejected at once. An endpoint is
 * available when healthy and not ejected. */

enum gw_outcome {
	GW_OUTCOME_OK,		    /* a response below 500 */
	GW_OUTCOME_5XX,		    /* a 5xx response */
	GW_OUTCOME_CONNECT_FAILURE, /* refused, reset during connect, timed out */
};

void gw_health_init(struct gw_health *health_ptr);
int gw_health_available(const struct gw_health *health_ptr, uint64_t now_ns);

/* An active check ended; returns 1 if the healthy state changed. */
int gw_health_check_result(struct gw_health *health_ptr, const struct gw_health_policy *policy_ptr, int passed);

/* A proxied request ended. endpoints_ptr/count: the whole upstream, to apply
 * the ejection cap. Returns 1 if this endpoint was ejected now. */
int gw_health_record(struct gw_health *endpoints_ptr, int count, int index, const struct gw_health_policy *policy_ptr,
		     enum gw_outcome outcome, uint64_t now_ns);

/* Ends ejections whose time has come; returns how many returned. */
int gw_health_expire(struct gw_health *endpoints_ptr, int count, uint64_t now_ns);

#endif
