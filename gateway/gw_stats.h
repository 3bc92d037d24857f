#ifndef GW_STATS_H
#define GW_STATS_H

/* The gateway's counters, for the admin listener (gw_admin.h).
 *
 * Kernels are separate OS processes, so the counters live in one table of
 * shared memory, mapped before the kernels fork: one slot per kernel,
 * written only by that kernel (relaxed atomic stores, no locks), read and
 * summed by whichever kernel answers an admin request. A slot holds the
 * kernel's connection, request and byte counters, a copy of its vkern
 * counters (vk_sys_stat), and per upstream and endpoint (of any
 * configuration generation: see gw_stats_show_config):
 * requests, answers by class, connect failures, refusals, and the
 * endpoint's health as that kernel sees it.
 *
 * The writers below go to the slot this process attached to; with none
 * attached (unit tests of other modules, tools) they do nothing. None of
 * them allocates. */

#include <stddef.h>
#include <stdint.h>

struct gw_config;
struct gw_stats;

/* A table for `kernels` kernels, showing the upstreams and listeners of
 * `config_ptr` (their names are copied), with room for those reloads add
 * (GW_STATS_SPARE_*, gw_stats_s.h). NULL on failure. */
struct gw_stats *gw_stats_create(const struct gw_config *config_ptr, int kernels);
void gw_stats_destroy(struct gw_stats *stats_ptr);
int gw_stats_kernels(const struct gw_stats *stats_ptr);
/* An accepted configuration, before any kernel takes it (from the one
 * process that checks reloads): its upstreams (by name and endpoints) and
 * listeners (by name) get the slots they had, or new ones, and are the
 * ones shown; those it dropped keep their counts, unshown. The number of
 * upstreams and listeners the table had no room for (not counted). */
int gw_stats_show_config(struct gw_stats *stats_ptr, const struct gw_config *config_ptr);
/* How the listener named `listener` isolates its connections (enum
 * gw_isolation), as it runs (the config's "isolation", unless the command
 * line overrode it). */
void gw_stats_set_isolation(struct gw_stats *stats_ptr, const char *listener, int isolation);

/* In kernel `kernel_index`'s process, at its start: its slot becomes this
 * process's. The slot's gauges (active connections and requests, endpoint
 * health) start over, since a restarted kernel has none of its
 * predecessor's connections; its counters carry on. */
void gw_stats_attach(struct gw_stats *stats_ptr, int kernel_index);
void gw_stats_detach(void);

/* A reload of the configuration (SIGHUP) was accepted (problems NULL), or
 * refused for its problems, a line each ("FILE:LINE:COL: /pointer:
 * message"; cut to what fits). From the process that takes the signal. */
void gw_stats_config_reload(struct gw_stats *stats_ptr, const char *problems);

/* ---- writers (this kernel's slot) ---- */

/* The configuration generation this kernel's new requests take. */
void gw_stats_config_generation(uint64_t generation);
void gw_stats_connection_opened(void);
void gw_stats_connection_closed(void);
/* Why a TLS handshake on a listener failed: the "reason" label of
 * vkgw_tls_handshake_failures_total and the keys of /stats'
 * "failures_by_reason" (gw_stats_tls_failure_names). */
enum gw_stats_tls_failure {
	GW_TLS_FAIL_TIMEOUT,		    /* timeouts.handshake_ms ran out */
	GW_TLS_FAIL_CLOSED,		    /* the client closed or reset */
	GW_TLS_FAIL_NOT_TLS,		    /* no TLS record: plain HTTP, garbage */
	GW_TLS_FAIL_VERSION,		    /* no version in common (TLS 1.0, 1.1) */
	GW_TLS_FAIL_NO_SHARED_CIPHER,	    /* no cipher suite or curve in common */
	GW_TLS_FAIL_UNKNOWN_SERVER_NAME,    /* no certificate for the name, no default */
	GW_TLS_FAIL_ALPN,		    /* no application protocol in common */
	GW_TLS_FAIL_NO_CLIENT_CERTIFICATE,  /* mTLS required and none came */
	GW_TLS_FAIL_BAD_CLIENT_CERTIFICATE, /* the client's certificate did not verify */
	GW_TLS_FAIL_CLIENT_ALERT,	    /* the client refused (e.g. it does not trust ours) */
	GW_TLS_FAIL_PROTOCOL,		    /* any other protocol error */
	GW_TLS_FAIL_COUNT
};
extern const char *const gw_stats_tls_failure_names[GW_TLS_FAIL_COUNT];

/* A PROXY protocol header taken (1), or a connection refused for one (0). */
void gw_stats_proxy_header(int taken);

/* A TLS handshake on a listener completed, or failed for `reason`. */
void gw_stats_tls_handshake_completed(void);
void gw_stats_tls_handshake_failed(enum gw_stats_tls_failure reason);
/* A listener connection's TLS state was made (+1) or freed (-1). */
void gw_stats_tls_connection(int delta);
/* A listener connection's BoringSSL memory at its end: whether blocks
 * were left in its zone once its SSL was freed (never expected), and how
 * many of its allocations the zone refused. */
void gw_stats_tls_memory(int leftover, size_t refused);

/* A request ended with `status` (0: no status reached the client), having
 * moved these bytes; `upstream` and `endpoint` (config indexes) name where
 * it went, -1 when it went to none. */
void gw_stats_request_done(int status, uint64_t bytes_in, uint64_t bytes_out, int upstream, int endpoint);

/* Upstream `upstream` refused a request before any endpoint (no healthy
 * endpoint, or its circuit breaker). */
void gw_stats_upstream_refused(int upstream);
/* The slot in this kernel's table of an upstream of any configuration
 * generation (gw_stats_show_config gave it one): that of the same name
 * with the same endpoints in the same order. -1: none (nothing is counted
 * for it). */
struct gw_config_upstream;
int gw_stats_upstream_slot(const struct gw_config_upstream *upstream_ptr);
void gw_stats_endpoint_connect_failed(int upstream, int endpoint);

/* Retries to upstream `upstream` (its slot): whether one more fits its
 * budget, seen across every kernel: retries in flight below `percent` of
 * its requests in flight, or fewer than `min_per_second` started this
 * second (1 when no table is attached: nothing to see). */
int gw_stats_retry_budget_allows(int upstream, int percent, int min_per_second, uint64_t now_ns);
/* A retry starts (counted, and in flight until gw_stats_retry_ended). */
void gw_stats_retry_started(int upstream, uint64_t now_ns);
void gw_stats_retry_ended(int upstream);
/* A retry the budget refused; a request answered at its deadline. */
void gw_stats_retry_budget_refused(int upstream);
void gw_stats_deadline_expired(int upstream);
/* A hedge started (counted as a retry in flight, gw_stats_retry_ended
 * ends it), and one whose response head came first. */
void gw_stats_hedge_started(int upstream, uint64_t now_ns);
void gw_stats_hedge_won(int upstream);
/* An attempt's time to its response head; the 95th percentile of this
 * kernel's recent ones in us (a bucket's upper bound), 0 while there are
 * fewer than 20. */
void gw_stats_response_head_time(int upstream, uint64_t us);
uint64_t gw_stats_response_head_p95_us(int upstream);
/* The kernel's pool for upstream `upstream`: connections open, kept alive,
 * and requests waiting in line for one. */
void gw_stats_upstream_pool(int upstream, uint64_t connections, uint64_t kept, uint64_t waiting);

/* An endpoint's health and load as this kernel sees them: failing active
 * checks, ejected until (monotonic ns, 0: not ejected), times ejected, and
 * requests in flight. */
void gw_stats_endpoint_health(int upstream, int endpoint, int failing_checks, uint64_t ejected_until_ns,
			      uint64_t ejections, uint64_t active);

/* Copies this kernel's vkern counters into its slot: they are the kernel's
 * own, and another kernel may be the one asked. */
void gw_stats_publish_kernel(void);

/* Metrics of a layer above (a filter's counters in memory every kernel
 * shares), rendered in /metrics after the gateway's own by whichever
 * process answers: `render` writes Prometheus text into buf[len] and
 * returns its length as snprintf does, at most max_bytes. Registered
 * before the kernels fork (at most 4). 0, or -1 when full. */
typedef size_t (*gw_stats_source_fn)(char *buf, size_t len);
int gw_stats_add_source(gw_stats_source_fn render, size_t max_bytes);

/* ---- readers (any kernel) ---- */

/* The largest rendering either format can produce for this table (its
 * terminating NUL included): size the buffer once, and rendering never
 * needs more. */
size_t gw_stats_render_max(const struct gw_stats *stats_ptr);

/* Both renderers return the rendering's length the way snprintf does: it
 * is complete, and NUL-terminated, when that is below len.
 *
 * GET /stats: totals, per kernel, per upstream and endpoint, as JSON. */
size_t gw_stats_render_json(const struct gw_stats *stats_ptr, uint64_t now_ns, char *buf, size_t len);
/* Where reloads stand: a caller that asked for one sees it answered when
 * `answered` moves. */
struct gw_stats_reload_state {
	uint64_t answered;   /* reloads accepted or refused so far */
	uint64_t generation; /* the newest accepted configuration's */
	int refused;	     /* the last reload was refused */
	int applied;	     /* every started kernel gives new requests `generation` */
};
void gw_stats_reload_state(const struct gw_stats *stats_ptr, struct gw_stats_reload_state *state_ptr);
/* The last reload as POST /config/reload answers it, smaller than
 * gw_stats_render_max: {"status": "applied" (every kernel has it, as the
 * caller says), "accepted" (not yet) or "refused", "generation": the
 * newest accepted, "problems": [the refused one's, a line each]}. */
size_t gw_stats_render_reload(const struct gw_stats *stats_ptr, int applied, char *buf, size_t len);

/* GET /metrics: the Prometheus text exposition format (version 0.0.4). */
size_t gw_stats_render_prometheus(const struct gw_stats *stats_ptr, uint64_t now_ns, char *buf, size_t len);

#endif
