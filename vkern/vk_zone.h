#ifndef VK_ZONE_H
#define VK_ZONE_H

/* vk_zone: malloc and free, with any order of frees, inside one fixed
 * region the caller owns (a part of a micro-heap, or a kernel's mapping).
 * It is what code that was not written for vkern (BoringSSL) allocates
 * from, through vk_malloc: a connection's share then lives, and is hidden,
 * with its heap. Nothing is taken from the OS: a zone that is full refuses,
 * and a refusal is counted. Blocks are 16-byte aligned. */

#include <stddef.h>

struct vk_zone;

#define VK_ZONE_ALIGN 16
/* The smallest region worth a zone: one block and the closing header.
 * (The bookkeeping, struct vk_zone, is the caller's.) */
#define VK_ZONE_MIN_BYTES 64

/* The zone over [start_ptr, start_ptr + len): empty. */
void vk_zone_init(struct vk_zone *zone_ptr, void *start_ptr, size_t len);
/* `size` bytes, or NULL (errno ENOMEM) when no free block is large enough. */
void *vk_zone_alloc(struct vk_zone *zone_ptr, size_t size);
/* Takes NULL. A pointer the zone did not give (or gave back already) is
 * counted as a bad free and otherwise ignored. */
void vk_zone_free(struct vk_zone *zone_ptr, void *ptr);
/* realloc()'s contract: NULL is an alloc, 0 bytes a free (NULL returned);
 * on failure NULL and the old block kept. */
void *vk_zone_realloc(struct vk_zone *zone_ptr, void *ptr, size_t size);
/* Whether ptr lies inside the zone's region. */
int vk_zone_owns(const struct vk_zone *zone_ptr, const void *ptr);
/* The bytes a block of the zone can hold (at least what was asked). */
size_t vk_zone_usable(const struct vk_zone *zone_ptr, const void *ptr);

/* Blocks given and not freed; bytes they take (headers included), and the
 * most they ever took; allocations refused for want of room; frees of
 * pointers the zone did not give. */
size_t vk_zone_live(const struct vk_zone *zone_ptr);
size_t vk_zone_used(const struct vk_zone *zone_ptr);
size_t vk_zone_peak(const struct vk_zone *zone_ptr);
size_t vk_zone_refused(const struct vk_zone *zone_ptr);
size_t vk_zone_bad_frees(const struct vk_zone *zone_ptr);

#endif
