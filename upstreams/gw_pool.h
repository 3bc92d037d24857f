#ifndef GW_POOL_H
#define GW_POOL_H

/* gw_pool: one upstream's connections in one kernel. Kept-alive
 * connections wait here between requests, per endpoint, newest first; they
 * belong to the kernel meanwhile (vk_sys_hold), which watches them, so a
 * connection the upstream closed is not handed out. Every connection open
 * (in use, connecting or idle) counts against max_connections: a request
 * that finds none free waits in line (max_pending), first come first
 * served, and is woken when one is given back or closed. */

#include <stdint.h>
#include <sys/socket.h>

struct gw_pool;
struct gw_breaker;
struct gw_breaker_limits;

enum gw_pool_result {
	GW_POOL_REUSED,	 /* *fd_ptr: a kept-alive connection, now the caller's */
	GW_POOL_NEW,	 /* *fd_ptr: a fresh socket, counted, still to connect */
	GW_POOL_WAIT,	 /* in line: wait for a wake-up, then ask again */
	GW_POOL_REFUSED, /* max_pending reached, or no socket could be made */
};

struct gw_pool_settings {
	int endpoint_count;
	int max_idle;		  /* kept connections, all endpoints together */
	uint64_t idle_timeout_ns; /* a kept connection older than this is closed */
	uint64_t wait_limit_ns;	  /* a place in line older than this is abandoned */
	int stats_upstream;	  /* where its gauges go (gw_stats.h); -1: nowhere */
	/* A kept connection's TLS state, when the pool closes it (before
	 * its fd); NULL: the connections are plain. */
	void (*discard_tls)(void *tls_kept_ptr);
};

struct gw_pool *gw_pool_create(const struct gw_pool_settings *settings_ptr, struct gw_breaker *breaker_ptr,
			       const struct gw_breaker_limits *limits_ptr);
void gw_pool_destroy(struct gw_pool *pool_ptr);

/* A connection to `endpoint` for process `proc_ref` (vk_sys_self). A kept one must be to
 * the same address (addr_key: a DNS name's addresses differ), and comes
 * with its TLS state in *tls_kept_ptr. fresh: skip the kept ones (a retry
 * after a kept one failed). */
enum gw_pool_result gw_pool_acquire(struct gw_pool *pool_ptr, int endpoint, uint64_t addr_key, int family,
				    uint64_t proc_ref, int fresh, uint64_t now_ns, int *fd_ptr, void **tls_kept_ptr,
				    const char **reason_ptr);
/* The caller stops waiting (its time ran out). */
void gw_pool_cancel(struct gw_pool *pool_ptr, uint64_t proc_ref);
/* The exchange on fd (the caller's, detached from its socket) ended
 * cleanly: keep it, with its TLS state (NULL if plain), for the next
 * request, or close both if the pool is full. Returns 1 if kept. */
int gw_pool_keep(struct gw_pool *pool_ptr, int endpoint, uint64_t addr_key, int fd, void *tls_kept_ptr,
		 uint64_t now_ns);
/* Closes kept connections that expired or that the upstream closed;
 * `all` closes every one (a drain). Returns how many stay kept. */
int gw_pool_sweep(struct gw_pool *pool_ptr, uint64_t now_ns, int all);

int gw_pool_idle_count(const struct gw_pool *pool_ptr);
int gw_pool_waiting(const struct gw_pool *pool_ptr);

#endif
