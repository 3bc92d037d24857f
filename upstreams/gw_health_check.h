#ifndef GW_HEALTH_CHECK_H
#define GW_HEALTH_CHECK_H

/* Active health checks: a process per upstream per kernel (see the .c). */

struct gw_upstream_state;
struct gw_config_upstream;

#define GW_HEALTH_CHECK_PAGES 8

/* Part of the upstream's state, which outlives the check process: a
 * reload that drops the upstream retires the state, the process sees it
 * after its probe or its sleep and ends, and the state goes then. */
struct gw_health_check_arg {
	struct gw_upstream_state *state_ptr;
	const struct gw_config_upstream *upstream_ptr; /* lives as long as the state */
	char name[96];
};

/* Starts the checks of one upstream in the calling kernel. */
int gw_health_check_start(struct gw_health_check_arg *arg_ptr);

#endif
