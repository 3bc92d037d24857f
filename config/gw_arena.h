#ifndef GW_ARENA_H
#define GW_ARENA_H

/* gw_arena: a bump allocator over anonymous mappings. Memory is only ever
 * given out, never returned piece by piece: the whole arena goes in one
 * gw_arena_destroy(). The configuration snapshot lives in one arena, and
 * once sealed the arena is read-only, so nothing can change it after load. */

#include <stdarg.h>
#include <stddef.h>

struct gw_arena;

/* Chunk size when gw_arena_create() is given 0. */
#define GW_ARENA_DEFAULT_CHUNK_BYTES (64 * 1024)
/* Every allocation starts on this boundary. */
#define GW_ARENA_ALIGN 16

/* A new arena whose chunks are at least `chunk_bytes` long (0: the
 * default). The arena's own bookkeeping lives in its first chunk. NULL with
 * errno set if the first mapping fails. */
struct gw_arena *gw_arena_create(size_t chunk_bytes);
/* Unmaps every chunk, sealed or not. Takes NULL. */
void gw_arena_destroy(struct gw_arena *arena_ptr);

/* `len` zeroed bytes aligned to GW_ARENA_ALIGN; a larger request than a chunk
 * gets a chunk of its own. NULL with errno ENOMEM (out of memory or `len`
 * too large) or EPERM (the arena is sealed). */
void *gw_arena_alloc(struct gw_arena *arena_ptr, size_t len);
void *gw_arena_memdup(struct gw_arena *arena_ptr, const void *src_ptr, size_t len);
/* A NUL-terminated copy of the first `len` bytes of `str` (fewer if `str`
 * ends sooner). */
char *gw_arena_strndup(struct gw_arena *arena_ptr, const char *str, size_t len);
char *gw_arena_strdup(struct gw_arena *arena_ptr, const char *str);
char *gw_arena_printf(struct gw_arena *arena_ptr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *gw_arena_vprintf(struct gw_arena *arena_ptr, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Makes every chunk read-only (a write then faults) and refuses further
 * allocations; unseal gives write access back, for teardown. 0 or -1. */
int gw_arena_seal(struct gw_arena *arena_ptr);
int gw_arena_unseal(struct gw_arena *arena_ptr);
int gw_arena_is_sealed(const struct gw_arena *arena_ptr);

/* Whether [addr_ptr, addr_ptr + len) lies inside one of the arena's chunks. */
int gw_arena_contains(const struct gw_arena *arena_ptr, const void *addr_ptr, size_t len);
/* Bytes handed out (alignment padding included) and bytes mapped. */
size_t gw_arena_used(const struct gw_arena *arena_ptr);
size_t gw_arena_mapped(const struct gw_arena *arena_ptr);
int gw_arena_chunk_count(const struct gw_arena *arena_ptr);

#endif
