#ifndef VK_POOL_H
#define VK_POOL_H

#include <stddef.h>

struct vk_pool;
struct vk_heap;

int vk_pool_init(struct vk_pool *pool_ptr, size_t pages, int prealloc, int max_free);
void vk_pool_fini(struct vk_pool *pool_ptr);
int vk_pool_get(struct vk_pool *pool_ptr, struct vk_heap *heap_ptr);
void vk_pool_put(struct vk_pool *pool_ptr, struct vk_heap *heap_ptr);
/* Free heaps beyond `warm` are given back to the OS (default: none). */
void vk_pool_set_warm(struct vk_pool *pool_ptr, int warm);
size_t vk_pool_pages(struct vk_pool *pool_ptr);
int vk_pool_free_count(struct vk_pool *pool_ptr);
size_t vk_pool_misses(struct vk_pool *pool_ptr);

#endif
