#ifndef GW_HEALTH_CHECK_H
#define GW_HEALTH_CHECK_H

/* Active health checks: a process per upstream per kernel (see the .c). */

struct gw_upstreams;
struct gw_config_upstream;

#define GW_HEALTH_CHECK_PAGES 8

struct gw_health_check_arg {
	struct gw_upstreams *upstreams_ptr;
	int index;
	const struct gw_config_upstream *upstream_ptr;
	char name[96];
};

/* Starts the checks of one upstream in the calling kernel. */
int gw_health_check_start(struct gw_health_check_arg *arg_ptr);

#endif
