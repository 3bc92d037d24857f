#ifndef GW_POOL_S_H
#define GW_POOL_S_H

#include "gw_pool.h"

#include <stdint.h>

struct gw_pool_kept {
	int fd;
	uint64_t since_ns;
	uint64_t addr_key;
};

/* One endpoint's kept connections, oldest first: taken from the end. */
struct gw_pool_endpoint {
	struct gw_pool_kept *kept_ptr;
	int count;
	int cap; /* grows only: no allocation once warm */
};

struct gw_pool_waiter {
	uint64_t proc_ref; /* vk_sys_self() */
	uint64_t since_ns;
};

struct gw_pool {
	struct gw_pool_settings settings;
	struct gw_breaker *breaker_ptr; /* counts connections and waiters */
	const struct gw_breaker_limits *limits_ptr;
	struct gw_pool_endpoint *endpoints_ptr;
	int kept_total;
	/* The line of waiting processes: a ring of max_pending places. */
	struct gw_pool_waiter *line_ptr;
	int line_cap;
	int line_head;
	int line_len;
};

#endif
