#ifndef GW_HEALTH_S_H
#define GW_HEALTH_S_H

#include <stdint.h>

/* Thresholds, from the upstream's health_check and outlier_detection. */
struct gw_health_policy {
	int healthy_threshold;	 /* consecutive passed checks to become healthy */
	int unhealthy_threshold; /* consecutive failed checks to become unhealthy */
	int consecutive_5xx;	 /* 0: passive ejection on 5xx off */
	int consecutive_connect_failures;
	uint64_t base_ejection_ns;
	int max_ejection_percent;
};

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
