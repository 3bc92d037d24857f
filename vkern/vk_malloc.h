#ifndef VK_MALLOC_H
#define VK_MALLOC_H

/* vk_malloc: the process's malloc(), calloc(), realloc() and free(),
 * routed. While a zone is entered, malloc and calloc take from it (and a
 * full zone refuses: NULL, as from any malloc); otherwise they are libc's.
 * free and realloc find a block's zone from its address: the entered zone,
 * else a resident one, else libc. So a library that calls malloc
 * (BoringSSL) can be given a connection's memory for the span of one call,
 * and what it frees later, from anywhere, goes back where it came from.
 *
 * A zone is entered only while its memory is mapped and visible, and
 * never across a yield: vk_malloc_leave before the call returns. The
 * kernel forgets the entered zone after each dispatch, so a fault inside a
 * call cannot leave it entered. Zones that stay visible for the kernel's
 * life (its own mappings) are made resident, so that frees of their blocks
 * work from outside an entered span too.
 *
 * Under AddressSanitizer, whose allocator must see every block, nothing is
 * routed: vk_malloc_routes() says 0, and entering changes nothing. */

#include <stddef.h>

struct vk_zone;

/* 1 if malloc is routed in this build, 0 under a sanitizer. */
int vk_malloc_routes(void);
/* Calls to malloc, calloc, realloc and free (of a block) so far, routed
 * or not: for tests that a path allocates nothing. */
unsigned long vk_malloc_calls(void);
/* Enters zone_ptr (NULL: libc's heap) and returns what was entered before,
 * for vk_malloc_leave. */
struct vk_zone *vk_malloc_enter(struct vk_zone *zone_ptr);
void vk_malloc_leave(struct vk_zone *previous_ptr);
/* The zone entered now, or NULL. */
struct vk_zone *vk_malloc_entered(void);
/* Back to libc's heap, whatever was entered (the kernel, between
 * dispatches). */
void vk_malloc_reset(void);
/* A zone visible for as long as it is resident. 0, or -1 when
 * VK_MALLOC_RESIDENT_MAX are already. */
#define VK_MALLOC_RESIDENT_MAX 4
int vk_malloc_add_resident(struct vk_zone *zone_ptr);
void vk_malloc_remove_resident(struct vk_zone *zone_ptr);
/* A resident zone over a mapping of its own: at least len bytes, whole
 * pages, its bookkeeping at their start, touched only as used. NULL (errno
 * set) if it cannot be mapped or made resident. */
struct vk_zone *vk_malloc_map_zone(size_t len);
/* Not resident any more, and unmapped. Takes NULL. */
void vk_malloc_unmap_zone(struct vk_zone *zone_ptr);

#endif
