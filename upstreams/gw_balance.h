#ifndef GW_BALANCE_H
#define GW_BALANCE_H

#include <stddef.h>
#include <stdint.h>

#include "gw_balance_s.h"

/* Choosing an endpoint of an upstream: weighted round robin, least request
 * with two random choices, and consistent hashing (maglev or a ring) on a
 * key. Endpoints that are not available are never chosen; -1 when none is. */

#define GW_MAGLEV_TABLE_SIZE 65537 /* prime; the table is per upstream per kernel */
#define GW_RING_POINTS_PER_WEIGHT 40

int gw_balance_init(struct gw_balance *balance_ptr, enum gw_balance_policy policy,
		    struct gw_balance_endpoint *endpoints_ptr, int count, uint64_t seed);
void gw_balance_fini(struct gw_balance *balance_ptr);
void gw_balance_set_available(struct gw_balance *balance_ptr, int endpoint, int available);
/* key_ptr/key_len: only for the hash policies (NULL hashes as empty). */
int gw_balance_pick(struct gw_balance *balance_ptr, const void *key_ptr, size_t key_len);
/* The same for a retry: an endpoint whose bit (e % 64) is in avoid_mask
 * only when every available one is (Envoy's previous-hosts predicate).
 * The policy picks first; a hash policy's choice, or a rotation that
 * keeps landing on tried ones, gives way to the next available endpoint
 * after it that was not tried. */
int gw_balance_pick_avoiding(struct gw_balance *balance_ptr, const void *key_ptr, size_t key_len, uint64_t avoid_mask);
int gw_balance_available_count(struct gw_balance *balance_ptr);

uint64_t gw_hash64(const void *data_ptr, size_t len, uint64_t seed);

#endif
