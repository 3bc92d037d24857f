#ifndef GW_RATE_TABLE_S_H
#define GW_RATE_TABLE_S_H

#include <stddef.h>
#include <stdint.h>

#include "gw_rate_table.h"

/* A bucket is one cache line: 3 cells and the ghost of the last live key
 * it forgot (its tag and TAT), which that key takes back if it returns
 * before another is forgotten. */
#define GW_RATE_WAYS 4
#define GW_RATE_CELLS (GW_RATE_WAYS - 1)

/* A tag's low 6 bits: log2 of its limit's capacity (burst * interval),
 * for choosing whom to forget across rules. */
#define GW_RATE_TAG_CAPACITY_MASK 0x3f

/* One cell: 16 bytes, swapped whole. tag 0: empty. */
struct gw_rate_cell {
	uint64_t tag;
	uint64_t tat_ns;
} __attribute__((aligned(16)));

struct gw_rate_counter {
	uint64_t tag;	/* of route and rule; 0: free */
	uint32_t ready; /* 1 once the names are written */
	char route[64];
	char rule[64];
	uint64_t counts[GW_RATE_RESULTS];
};

struct gw_rate_table {
	uint64_t secret[2][2]; /* SipHash keys: bucket index, tag */
	size_t bucket_count;   /* a power of two */
	size_t map_len;
	uint64_t live_evictions;	      /* atomic */
	struct gw_rate_cell *cells_ptr;	      /* bucket_count * GW_RATE_WAYS (the last a ghost), 64-byte aligned */
	struct gw_rate_counter *counters_ptr; /* GW_RATE_COUNTERS, after the cells */
};

#endif
