#ifndef GW_HEALTH_S_H
#define GW_HEALTH_S_H

#include <stdint.h>

#include "gw_upstream_policy.h" /* struct gw_health_policy */

/* One endpoint's health, per kernel. */
struct gw_health {
	int healthy; /* by active checks (starts healthy) */
	int check_passes;
	int check_failures;
	int run_5xx;
	int run_connect_failures;
	int ejections;		/* times ejected so far: the ejection time grows with it */
	uint64_t ejected_until; /* 0: not ejected */
};

#endif
