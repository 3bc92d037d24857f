#ifndef GW_UPSTREAMS_H
#define GW_UPSTREAMS_H

/* The upstreams of one kernel: for every upstream of a config snapshot,
 * its endpoints' balancing, health and circuit-breaker state, and the
 * gw_upstream_ops the connection process uses to reach them. Each kernel
 * builds its own (no locks; the one thing shared is the resolver's table of
 * DNS endpoint addresses, which kernels only read). */

#include <sys/socket.h>

struct gw_config;
struct gw_upstreams;
struct gw_upstream_ops;
struct gw_resolver;

struct gw_upstreams *gw_upstreams_create(const struct gw_config *config_ptr, unsigned seed);
void gw_upstreams_destroy(struct gw_upstreams *upstreams_ptr);
void gw_upstreams_ops(struct gw_upstreams *upstreams_ptr, struct gw_upstream_ops *ops_ptr);
/* DNS endpoints take their addresses from the resolver's shared table
 * (upstreams/gw_resolver.h); without one they stay unavailable. Call
 * before the first pick. */
int gw_upstreams_set_resolver(struct gw_upstreams *upstreams_ptr, const struct gw_resolver *resolver_ptr);

/* Starts this kernel's active health checks (upstreams with a
 * "health_check"); call from the kernel-start hook. */
int gw_upstreams_start_health_checks(struct gw_upstreams *upstreams_ptr);
/* Where to probe an endpoint: its literal address, or address number
 * `turn` (modulo their count) of its DNS name. -1 if it has none. */
int gw_upstreams_probe_address(struct gw_upstreams *upstreams_ptr, int index, int endpoint, unsigned turn,
			       struct sockaddr_storage *addr_ptr, socklen_t *len_ptr);
/* TLS to upstream `index` (its probes speak it too); NULL: plain. */
struct gw_tls_client;
struct gw_tls_client *gw_upstreams_tls(struct gw_upstreams *upstreams_ptr, int index);
/* A probe of endpoint `endpoint` of upstream `index` passed or failed. */
void gw_upstreams_check_result(struct gw_upstreams *upstreams_ptr, int index, int endpoint, int passed);

#endif
