#ifndef GW_STATS_S_H
#define GW_STATS_S_H

#include "gw_stats.h"

/* The shared table behind gw_stats.h, for gw_stats.c, its renderer
 * (gw_stats_render.c) and its tests. Every counter is a uint64_t written
 * by one kernel only and read by any, with relaxed __atomic loads and
 * stores: a reader may see one counter a moment older than another, never
 * a torn value. */

#include <stddef.h>
#include <stdint.h>

#include "vk_sys.h" /* VK_STAT_COUNT */

struct gw_config;

/* 1xx .. 5xx */
#define GW_STATS_CLASSES 5
/* Slots start on their own cache lines: kernels never write the same one. */
#define GW_STATS_ALIGN 64

struct gw_stats_kernel {
	uint64_t pid;		    /* 0: the kernel never started */
	uint64_t epochs;	    /* starts of this slot's kernel (restarts add one) */
	uint64_t config_generation; /* the configuration generation new requests take (gw_generation.h) */
	uint64_t connections_accepted;
	uint64_t connections_active;
	uint64_t requests;
	uint64_t responses[GW_STATS_CLASSES];
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t tls_handshakes;			    /* TLS handshakes completed on the listeners */
	uint64_t tls_handshake_failures[GW_TLS_FAIL_COUNT]; /* by enum gw_stats_tls_failure */
	uint64_t tls_connections;			    /* gauge: listener connections whose TLS state is alive */
	uint64_t tls_memory_refused;	/* BoringSSL allocations a listener connection's zone refused */
	uint64_t tls_memory_leftover;	/* listener connections whose zone kept blocks after SSL_free */
	uint64_t proxy_headers;		/* PROXY protocol headers taken on the listeners that expect one */
	uint64_t proxy_headers_refused; /* connections closed for a missing or malformed PROXY header */
	uint64_t vkern[VK_STAT_COUNT];	/* vk_sys_stat, as last published */
};

#define GW_STATS_HEAD_BUCKETS 20
#define GW_STATS_HEAD_DECAY 2048

struct gw_stats_upstream {
	uint64_t refused; /* no healthy endpoint, or the breaker: 503 */
	/* the kernel's connection pool for the upstream (gauges) */
	uint64_t connections; /* open: in use, connecting or kept */
	uint64_t kept;	      /* kept alive, waiting for a request */
	uint64_t waiting;     /* requests in line for a connection */
	/* retries with deadlines (gateway/gw_conn_next.c) */
	uint64_t retries;	       /* attempts after the first, of any cause */
	uint64_t retries_active;       /* gauge: of those, in flight */
	uint64_t retry_second;	       /* the second (monotonic) retry_second_count counts */
	uint64_t retry_second_count;   /* retries started in it */
	uint64_t retry_budget_refused; /* retries the budget refused */
	uint64_t deadline_expired;     /* requests answered 504 at their deadline */
	uint64_t hedges;	       /* second attempts raced against a slow first one */
	uint64_t hedges_won;	       /* of those, the ones whose response head came first */
	/* The time to a response head, this kernel's, for a hedge's delay at
	 * the upstream's p95: bucket b counts heads within 2^b * 64 us, halved
	 * all together every GW_STATS_HEAD_DECAY heads (recent ones weigh). */
	uint64_t head_times[GW_STATS_HEAD_BUCKETS];
	uint64_t head_count;
};

struct gw_stats_endpoint {
	uint64_t requests;
	uint64_t responses[GW_STATS_CLASSES];
	uint64_t connect_failures;
	uint64_t active;
	uint64_t failing_checks; /* 1: active checks say unhealthy */
	uint64_t ejected_until_ns;
	uint64_t ejections;
};

/* The reloads of the configuration, written only by the process that
 * takes SIGHUP (the supervisor, or a lone kernel): a seqlock, `seq` odd
 * while a write is under way. */
#define GW_STATS_RELOAD_PROBLEMS_BYTES 2048
struct gw_stats_reload {
	uint64_t seq;
	uint64_t accepted; /* checked, and sent to the kernels */
	uint64_t refused;  /* the new configuration had problems: nothing changed */
	uint64_t last_refused;
	char problems[GW_STATS_RELOAD_PROBLEMS_BYTES]; /* the last refused one's, a line each */
};

/* Room for what reloads add over vkgw's life, beyond the upstreams,
 * endpoints and listeners of the configuration it started with: the
 * table is shared memory, sized once before the kernels fork. */
#define GW_STATS_SPARE_UPSTREAMS 32
#define GW_STATS_SPARE_ENDPOINTS 64
#define GW_STATS_SPARE_LISTENERS 16
#define GW_STATS_NAME_BYTES 65	   /* a config name (GW_CONFIG_NAME_MAX) */
#define GW_STATS_ADDRESS_BYTES 262 /* an endpoint: a DNS name and ":port" at most */

/* What the slots count for, by name, in shared memory: written by one
 * process (vkgw's before the kernels start, then the one that checks
 * reloads: gw_stats_show_config), read by every kernel. An entry is
 * written whole before the count that covers it is stored (release);
 * readers load the counts with acquire. Entries are never removed: one a
 * reload dropped is no longer `shown`, keeps its counts, and is shown
 * again if a later reload brings it back. */
struct gw_stats_upstream_name {
	char name[GW_STATS_NAME_BYTES];
	int endpoint_first; /* its endpoints' slots: endpoint_first .. + endpoint_count */
	int endpoint_count;
	uint32_t shown; /* in the newest accepted configuration */
};

struct gw_stats_endpoint_name {
	char address[GW_STATS_ADDRESS_BYTES];
};

struct gw_stats_listener_name {
	char name[GW_STATS_NAME_BYTES];
	uint32_t isolation; /* enum gw_isolation, as it runs */
	uint32_t shown;
};

struct gw_stats_names {
	int upstream_count;
	int endpoint_count;
	int listener_count;
};

/* One kernel's slot, in the table at slot_bytes * kernel: the kernel's
 * counters, then one gw_stats_upstream per upstream entry, then one
 * gw_stats_endpoint per endpoint entry (upstream u's from its
 * endpoint_first), each part sized to its capacity. */
struct gw_stats {
	int kernels;
	int upstream_capacity;
	int endpoint_capacity;
	int listener_capacity;
	size_t slot_bytes;
	size_t table_bytes;
	unsigned char *table_ptr; /* MAP_SHARED | MAP_ANONYMOUS */
	/* One MAP_SHARED | MAP_ANONYMOUS mapping: the counts, then the three
	 * arrays of entries at their capacities. */
	size_t names_bytes;
	struct gw_stats_names *names_ptr;
	struct gw_stats_upstream_name *upstream_names_ptr;
	struct gw_stats_endpoint_name *endpoint_names_ptr;
	struct gw_stats_listener_name *listener_names_ptr;
	struct gw_stats_reload *reload_ptr; /* MAP_SHARED | MAP_ANONYMOUS */
	size_t render_max;
};

/* The entries counted so far. */
static inline int gw_stats_upstream_count(const struct gw_stats *stats_ptr)
{
	return __atomic_load_n(&stats_ptr->names_ptr->upstream_count, __ATOMIC_ACQUIRE);
}

static inline int gw_stats_listener_count(const struct gw_stats *stats_ptr)
{
	return __atomic_load_n(&stats_ptr->names_ptr->listener_count, __ATOMIC_ACQUIRE);
}

static inline int gw_stats_shown(const uint32_t *shown_ptr)
{
	return __atomic_load_n(shown_ptr, __ATOMIC_RELAXED) != 0;
}

/* The parts of kernel k's slot. */
static inline struct gw_stats_kernel *gw_stats_kernel_of(const struct gw_stats *stats_ptr, int k)
{
	return (struct gw_stats_kernel *)(stats_ptr->table_ptr + stats_ptr->slot_bytes * (size_t)k);
}

static inline struct gw_stats_upstream *gw_stats_upstream_of(const struct gw_stats *stats_ptr, int k, int u)
{
	return (struct gw_stats_upstream *)(gw_stats_kernel_of(stats_ptr, k) + 1) + u;
}

static inline struct gw_stats_endpoint *gw_stats_endpoint_of(const struct gw_stats *stats_ptr, int k, int u, int e)
{
	struct gw_stats_endpoint *first_ptr =
		(struct gw_stats_endpoint *)(gw_stats_upstream_of(stats_ptr, k, 0) + stats_ptr->upstream_capacity);

	return first_ptr + stats_ptr->upstream_names_ptr[u].endpoint_first + e;
}

static inline uint32_t gw_stats_load32(const uint32_t *value_ptr)
{
	return __atomic_load_n(value_ptr, __ATOMIC_RELAXED);
}

static inline uint64_t gw_stats_load(const uint64_t *value_ptr)
{
	return __atomic_load_n(value_ptr, __ATOMIC_RELAXED);
}

/* What the sources of the layers above may add to /metrics at most
 * (gw_stats_add_source). */
size_t gw_stats_sources_max(void);

#endif
