#ifndef GW_RATE_TABLE_H
#define GW_RATE_TABLE_H

/* gw_rate_table: the rate limiter's buckets, one table for the whole
 * instance, in memory shared by every kernel (mapped before they fork),
 * so that a limit holds however connections spread over the kernels.
 *
 * Each (rule, key) is a GCRA cell (the "generic cell rate algorithm",
 * a token bucket written as one time): its theoretical arrival time TAT.
 * A request at `now` under interval T (period / rate) and burst B passes
 * when max(TAT, now) - now <= (B - 1) * T, and moves TAT to
 * max(TAT, now) + T. A cell is 16 bytes, a keyed tag and its TAT, updated
 * with one 16-byte compare-and-swap: no lock, no kernel ever waits for
 * another, and one that dies mid-update leaves nothing half-done.
 *
 * Bounded memory: the table has a fixed number of cells, 3 to a bucket
 * (one cache line with the bucket's ghost). A new key takes an empty
 * cell, else one whose TAT has passed (such a key is as good as new:
 * nothing is lost), else the cell of the key that has used the least of
 * its burst (TAT ahead of now over burst * interval, whatever its rule):
 * the live key furthest from its limit, never the busiest, is
 * forgotten, and its tag
 * and TAT stay in the bucket's ghost, which it takes back if it returns
 * first. A key passes more than its limit only if it is forgotten and
 * its ghost is overwritten (a second live key forgotten in the bucket)
 * before it returns: one burst more, each time that happens. */

#include <stddef.h>
#include <stdint.h>

struct gw_rate_table;

#define GW_RATE_KEY_BYTES 16 /* a keyed digest of rule and key (gw_rate_table_key) */

/* A table of at least `cells` cells (a power of two of buckets), shared
 * with the processes forked after; NULL with errno. Pages are touched as
 * keys come. Also the instance's table (gw_rate_table_instance) until
 * destroyed. */
struct gw_rate_table *gw_rate_table_create(size_t cells);
void gw_rate_table_destroy(struct gw_rate_table *table_ptr);
struct gw_rate_table *gw_rate_table_instance(void);
size_t gw_rate_table_cells(const struct gw_rate_table *table_ptr);

/* The key of `count` byte strings (NUL-separated), under the table's
 * secret, random per instance: a client cannot choose keys that collide. */
void gw_rate_table_key(const struct gw_rate_table *table_ptr, const void *const *parts, const size_t *lens, int count,
		       uint8_t key[GW_RATE_KEY_BYTES]);

struct gw_rate_verdict {
	int admitted;
	uint64_t remaining;	 /* requests that would pass now, after this one */
	uint64_t reset_ns;	 /* until the bucket is full again */
	uint64_t retry_after_ns; /* refused: until one would pass */
};

/* Takes one request of `key` at now_ns under interval_ns and burst (>= 1).
 * Refused requests take nothing. */
void gw_rate_table_take(struct gw_rate_table *table_ptr, const uint8_t key[GW_RATE_KEY_BYTES], uint64_t interval_ns,
			uint64_t burst, uint64_t now_ns, struct gw_rate_verdict *verdict_ptr);
/* Gives back what gw_rate_table_take took (a later rule refused the
 * request), if the cell is still that key's. */
void gw_rate_table_give_back(struct gw_rate_table *table_ptr, const uint8_t key[GW_RATE_KEY_BYTES],
			     uint64_t interval_ns, uint64_t burst, uint64_t now_ns);
/* Cells evicted while their key was live, since the start. */
uint64_t gw_rate_table_live_evictions(const struct gw_rate_table *table_ptr);

/* ---- counters per rule, for /metrics ---- */

struct gw_rate_counter;

enum gw_rate_result {
	GW_RATE_ALLOWED,
	GW_RATE_LIMITED,	/* refused */
	GW_RATE_SHADOW_LIMITED, /* would have been refused (shadow mode) */
	GW_RATE_REDIS_ERROR,	/* Redis mode: Redis did not say (on_error said) */
	GW_RATE_RESULTS
};

/* The counters of rule `rule` of route `route` (names cut at 63 bytes),
 * made at the first ask, shared by every kernel; NULL once
 * GW_RATE_COUNTERS rules have some (their requests are then not
 * counted). */
#define GW_RATE_COUNTERS 256
struct gw_rate_counter *gw_rate_table_counter(struct gw_rate_table *table_ptr, const char *route, const char *rule);
void gw_rate_counter_add(struct gw_rate_counter *counter_ptr, enum gw_rate_result result);
uint64_t gw_rate_counter_get(const struct gw_rate_counter *counter_ptr, enum gw_rate_result result);
/* The instance table's counters as Prometheus text
 * (vkgw_rate_limit_requests_total{route,rule,result},
 * vkgw_rate_limit_redis_errors_total{route,rule} and
 * vkgw_rate_limit_live_evictions_total), as snprintf returns; a
 * gw_stats_source_fn. */
size_t gw_rate_table_render_prometheus(char *buf, size_t len);
#define GW_RATE_RENDER_MAX (GW_RATE_COUNTERS * 4 * 220 + 2048)

#endif
