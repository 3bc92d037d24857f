#ifndef GW_BALANCE_S_H
#define GW_BALANCE_S_H

#include <stddef.h>
#include <stdint.h>

#include "gw_upstream_policy.h" /* enum gw_balance_policy */

/* One endpoint as the balancer sees it. Health and load are updated by the
 * upstream side (health checks, outlier ejection, request start and end);
 * the balancer only reads them. */
struct gw_balance_endpoint {
	const char *name; /* "host:port", the identity hashed by maglev/ring */
	int weight;	  /* 1..1000 */
	int available;	  /* healthy and not ejected */
	int active;	  /* requests in flight */
	int64_t current;  /* smooth weighted round robin state */
};

struct gw_ring_point {
	uint64_t hash;
	int endpoint;
};

/* Per kernel, one per upstream: nothing in it is shared between kernels. */
struct gw_balance {
	enum gw_balance_policy policy;
	struct gw_balance_endpoint *endpoints_ptr;
	int count;
	uint64_t rng; /* xorshift state for least-request's two choices */
	/* maglev: lookup table of a prime size, rebuilt when availability changes */
	int *table_ptr;
	uint64_t *scratch_ptr; /* offsets, skips, next: 3 per endpoint */
	size_t table_size;
	/* ring: points sorted by hash, weight points per endpoint */
	struct gw_ring_point *ring_ptr;
	size_t ring_len;
	unsigned availability_gen; /* bumped by gw_balance_set_available */
	unsigned table_gen;
};

#endif
