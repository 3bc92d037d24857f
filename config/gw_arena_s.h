#ifndef GW_ARENA_S_H
#define GW_ARENA_S_H

/* gw_arena's layout. Each chunk is one mapping that starts with a
 * gw_arena_chunk header; the arena itself sits just after the header of
 * the first chunk, so one munmap per chunk frees everything. */

#include <stddef.h>

struct gw_arena_chunk {
	struct gw_arena_chunk *next_ptr; /* older chunks */
	size_t len;			 /* mapping length, header included */
	char data[] __attribute__((aligned(16)));
};

struct gw_arena {
	struct gw_arena_chunk *chunks_ptr; /* newest first */
	char *next_ptr;			   /* bump pointer in the current chunk */
	char *end_ptr;			   /* end of the current chunk */
	size_t chunk_bytes;
	size_t used_bytes;
	size_t mapped_bytes;
	int chunk_count;
	int sealed;
};

#endif
