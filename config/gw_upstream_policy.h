#ifndef GW_UPSTREAM_POLICY_H
#define GW_UPSTREAM_POLICY_H

/* What the configuration decides about an upstream and upstreams/ carries
 * out: the balancing policy (gw_balance), the circuit breaker's limits
 * (gw_breaker) and the health thresholds (gw_health). Plain types, defined
 * here so that config/ needs nothing from the layers that consume them. */

#include <stdint.h>

enum gw_balance_policy {
	GW_BALANCE_ROUND_ROBIN,
	GW_BALANCE_LEAST_REQUEST,
	GW_BALANCE_MAGLEV,
	GW_BALANCE_RING,
};

struct gw_breaker_limits {
	int max_connections;
	int max_pending;
	int max_requests;
};

/* Thresholds, from the upstream's health_check and outlier_detection. */
struct gw_health_policy {
	int healthy_threshold;	 /* consecutive passed checks to become healthy */
	int unhealthy_threshold; /* consecutive failed checks to become unhealthy */
	int consecutive_5xx;	 /* 0: passive ejection on 5xx off */
	int consecutive_connect_failures;
	uint64_t base_ejection_ns;
	int max_ejection_percent;
};

#endif
