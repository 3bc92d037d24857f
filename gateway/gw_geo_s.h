#ifndef GW_GEO_S_H
#define GW_GEO_S_H

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>

#include "gw_geo.h"

/* Which file a path names: the same file with the same bytes as long as
 * these stay the same (ctime too, which no one can set back). */
struct gw_geo_identity {
	uint64_t dev;
	uint64_t ino;
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
};

/* Where the kernels find an accepted file's snapshot: a sealed memfd of
 * the process that validated it, opened as /proc/PID/fd/FD, and what it
 * must be (a closed descriptor's number may name another file by then). */
struct gw_geo_snapshot {
	int32_t pid;
	int32_t fd;
	uint64_t dev;
	uint64_t ino;
};

/* One role's file, in shared memory: written by the one process that
 * validates (the supervisor at start, then the loader) under a seqlock
 * (seq odd while a write is under way), read by the kernels and by
 * whoever renders /metrics. */
struct gw_geo_entry {
	char path[PATH_MAX]; /* "": the role is not used */
	_Atomic uint32_t seq;
	uint32_t version;		 /* of the accepted file: 1 at start, one more per file accepted */
	struct gw_geo_identity identity; /* of the file at the path the snapshot was taken of */
	struct gw_geo_snapshot snapshot;
	uint64_t build_epoch;	   /* the database's metadata: when it was built */
	uint64_t accepted_unix_ns; /* when it was validated */
	char database_type[64];
	/* Outside the seqlock, the validating process's own: counters, and
	 * the file last refused. */
	_Atomic uint64_t accepted;
	_Atomic uint64_t refused;
	struct gw_geo_identity refused_identity; /* not validated again until it changes */
};

/* A kernel's lookups, by result. Each kernel writes its own line. */
enum gw_geo_result { GW_GEO_FOUND, GW_GEO_NOT_FOUND, GW_GEO_ERROR, GW_GEO_NO_ADDRESS, GW_GEO_RESULTS };
struct gw_geo_kernel_counters {
	_Atomic uint64_t lookups[GW_GEO_RESULTS];
} __attribute__((aligned(64)));

struct gw_geo_table {
	size_t mapped_bytes;
	int kernels;
	struct gw_geo_entry entries[GW_GEO_ROLES];
	struct gw_geo_kernel_counters counters[]; /* one per kernel */
};

#endif
