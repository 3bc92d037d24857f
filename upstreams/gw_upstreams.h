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

/* The table of `config_ptr`'s upstreams. With `previous_ptr` (this
 * kernel's table of the generation before, on a reload), an upstream that
 * stays compatible takes over its state: pool, health, ejections, breaker
 * counts; the rest start afresh. DNS endpoints take their addresses from
 * the resolver's shared table (upstreams/gw_resolver.h; NULL: they stay
 * unavailable). NULL on failure, the previous table unchanged. */
struct gw_upstreams *gw_upstreams_create(const struct gw_config *config_ptr, unsigned seed,
					 const struct gw_upstreams *previous_ptr,
					 const struct gw_resolver *resolver_ptr);
/* A state no table holds any more is retired: its kept connections close
 * at once, the rest goes when its health check has ended. */
void gw_upstreams_destroy(struct gw_upstreams *upstreams_ptr);
void gw_upstreams_ops(struct gw_upstreams *upstreams_ptr, struct gw_upstream_ops *ops_ptr);

/* Starts the active health checks (upstreams with a "health_check") that
 * no earlier table started; from the kernel (start, reload). */
int gw_upstreams_start_health_checks(struct gw_upstreams *upstreams_ptr);

/* ---- for the health checks (gw_health_check.c): one upstream's state ---- */
struct gw_upstream_state;
struct gw_tls_client;
/* The state of upstream `index` of the table (its health check's, and
 * tests'). */
struct gw_upstream_state *gw_upstreams_state(struct gw_upstreams *upstreams_ptr, int index);
/* Whether a table still holds the state: the check goes on. */
int gw_upstreams_check_goes_on(struct gw_upstream_state *state_ptr);
/* The check process ended (it saw the state retired, or the kernel drains). */
void gw_upstreams_check_ended(struct gw_upstream_state *state_ptr);
/* Where to probe an endpoint: its literal address, or address number
 * `turn` (modulo their count) of its DNS name. -1 if it has none. */
int gw_upstreams_probe_address(struct gw_upstream_state *state_ptr, int endpoint, unsigned turn,
			       struct sockaddr_storage *addr_ptr, socklen_t *len_ptr);
/* TLS to the upstream (its probes speak it too); NULL: plain. */
struct gw_tls_client *gw_upstreams_tls(const struct gw_upstream_state *state_ptr);
/* A probe of the endpoint passed or failed. */
void gw_upstreams_check_result(struct gw_upstream_state *state_ptr, int endpoint, int passed);

#endif
