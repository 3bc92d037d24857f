#ifndef GW_UPSTREAMS_H
#define GW_UPSTREAMS_H

/* The upstreams of one kernel: for every upstream of a config snapshot,
 * its endpoints' balancing, health and circuit-breaker state, and the
 * gw_upstream_ops the connection process uses to reach them. Each kernel
 * builds its own (nothing shared, no locks). */

struct gw_config;
struct gw_upstreams;
struct gw_upstream_ops;

struct gw_upstreams *gw_upstreams_create(const struct gw_config *config_ptr, unsigned seed);
void gw_upstreams_destroy(struct gw_upstreams *upstreams_ptr);
void gw_upstreams_ops(struct gw_upstreams *upstreams_ptr, struct gw_upstream_ops *ops_ptr);

/* Starts this kernel's active health checks (upstreams with a
 * "health_check"); call from the kernel-start hook. */
int gw_upstreams_start_health_checks(struct gw_upstreams *upstreams_ptr);
/* A probe of endpoint `endpoint` of upstream `index` passed or failed. */
void gw_upstreams_check_result(struct gw_upstreams *upstreams_ptr, int index, int endpoint, int passed);

#endif
