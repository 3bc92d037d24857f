#ifndef VK_POOL_H
#define VK_POOL_H

#include <stddef.h>
#include <stdint.h>

struct vk_pool;
struct vk_heap;

int vk_pool_init(struct vk_pool *pool_ptr, size_t pages, int prealloc, int max_free);
void vk_pool_fini(struct vk_pool *pool_ptr);
int vk_pool_get(struct vk_pool *pool_ptr, struct vk_heap *heap_ptr);
void vk_pool_put(struct vk_pool *pool_ptr, struct vk_heap *heap_ptr, uint64_t now_ns);
/* At most `warm` free heaps keep their pages (default: none); past that,
 * the one put back longest ago gives them back to the OS. */
void vk_pool_set_warm(struct vk_pool *pool_ptr, int warm);
/* A warm heap not taken again within decay_ns gives its pages back at the
 * next vk_pool_decay() (default 0: never). */
void vk_pool_set_decay(struct vk_pool *pool_ptr, uint64_t decay_ns);
void vk_pool_decay(struct vk_pool *pool_ptr, uint64_t now_ns);
/* When the next warm heap is due to give its pages back; 0: none is. */
uint64_t vk_pool_next_decay_ns(struct vk_pool *pool_ptr);
int vk_pool_warm_count(struct vk_pool *pool_ptr);
size_t vk_pool_pages(struct vk_pool *pool_ptr);
int vk_pool_free_count(struct vk_pool *pool_ptr);
size_t vk_pool_misses(struct vk_pool *pool_ptr);

#endif
