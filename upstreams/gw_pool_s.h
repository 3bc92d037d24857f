#ifndef GW_POOL_S_H
#define GW_POOL_S_H

#include "gw_pool.h"

#include <stdint.h>
#include <sys/queue.h>

/* A place for one kept connection: in its endpoint's list while it holds
 * one, in the pool's free list otherwise. */
struct gw_pool_kept {
	int fd;
	void *tls_kept_ptr; /* its TLS state; NULL: plain */
	uint64_t since_ns;
	uint64_t addr_key;
	TAILQ_ENTRY(gw_pool_kept) kept_elem;
};

TAILQ_HEAD(gw_pool_kept_list, gw_pool_kept);

/* One endpoint's kept connections, oldest first: taken from the end. */
struct gw_pool_endpoint {
	struct gw_pool_kept_list kept;
};

struct gw_pool_waiter {
	uint64_t proc_ref; /* vk_sys_self() */
	uint64_t since_ns;
};

/* Both bounds are known at start (max_idle, max_pending): the places for
 * kept connections and the line are made by gw_pool_create, so requests
 * never allocate here. */
struct gw_pool {
	struct gw_pool_settings settings;
	struct gw_breaker *breaker_ptr; /* counts connections and waiters */
	const struct gw_breaker_limits *limits_ptr;
	struct gw_pool_endpoint *endpoints_ptr;
	/* max_idle places, shared by the endpoints */
	struct gw_pool_kept *kept_places_ptr;
	struct gw_pool_kept_list free_places;
	int kept_total;
	/* The line of waiting processes, first first: max_pending places. */
	struct gw_pool_waiter *line_ptr;
	int line_cap;
	int line_len;
};

#endif
