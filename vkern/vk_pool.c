/* vk_pool: preallocated micro-heaps for new connections. When the pool is
 * empty a heap is mapped on the spot; returned heaps are kept up to a cap.
 * The pool's own array is an anonymous mapping, grown by doubling. */
#include "vk_pool.h"
#include "vk_pool_s.h"
#include "vk_heap.h"

#include <string.h>
#include <sys/mman.h>

static int grow(struct vk_pool *pool_ptr)
{
	int cap = pool_ptr->free_cap ? pool_ptr->free_cap * 2 : 64;
	struct vk_heap *p;

	if (cap > pool_ptr->max_free)
		cap = pool_ptr->max_free;
	if (cap <= pool_ptr->free_cap)
		return -1;
	p = mmap(NULL, sizeof(*p) * (size_t)cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (pool_ptr->free_ptr) {
		memcpy(p, pool_ptr->free_ptr, sizeof(*p) * (size_t)pool_ptr->free_len);
		munmap(pool_ptr->free_ptr, sizeof(*p) * (size_t)pool_ptr->free_cap);
	}
	pool_ptr->free_ptr = p;
	pool_ptr->free_cap = cap;
	return 0;
}

int vk_pool_init(struct vk_pool *pool_ptr, size_t pages, int prealloc, int max_free)
{
	memset(pool_ptr, 0, sizeof(*pool_ptr));
	pool_ptr->pages = pages;
	pool_ptr->max_free = max_free > 0 ? max_free : 1;
	pool_ptr->warm = pool_ptr->max_free;
	for (int i = 0; i < prealloc && i < pool_ptr->max_free; i++) {
		struct vk_heap heap;

		if (vk_heap_map(&heap, pages) == -1) {
			vk_pool_fini(pool_ptr);
			return -1;
		}
		vk_pool_put(pool_ptr, &heap);
	}
	return 0;
}

void vk_pool_fini(struct vk_pool *pool_ptr)
{
	for (int i = 0; i < pool_ptr->free_len; i++)
		vk_heap_unmap(&pool_ptr->free_ptr[i]);
	if (pool_ptr->free_ptr)
		munmap(pool_ptr->free_ptr, sizeof(struct vk_heap) * (size_t)pool_ptr->free_cap);
	memset(pool_ptr, 0, sizeof(*pool_ptr));
}

int vk_pool_get(struct vk_pool *pool_ptr, struct vk_heap *heap_ptr)
{
	if (pool_ptr->free_len > 0) {
		*heap_ptr = pool_ptr->free_ptr[--pool_ptr->free_len];
		pool_ptr->hits++;
		if (vk_heap_unprotect(heap_ptr) == 0)
			return 0;
		vk_heap_unmap(heap_ptr);
	}
	pool_ptr->misses++;
	return vk_heap_map(heap_ptr, pool_ptr->pages);
}

/* A burst of connections leaves many heaps free: past the first `warm`,
 * whose reuse costs nothing, their pages go back to the OS (one madvise
 * each; they stay mapped, ready to be touched again). */
void vk_pool_set_warm(struct vk_pool *pool_ptr, int warm)
{
	pool_ptr->warm = warm;
}

void vk_pool_put(struct vk_pool *pool_ptr, struct vk_heap *heap_ptr)
{
	if (vk_heap_pages(heap_ptr) != pool_ptr->pages ||
	    (pool_ptr->free_len == pool_ptr->free_cap && grow(pool_ptr) == -1)) {
		vk_heap_unmap(heap_ptr);
		return;
	}
	if (pool_ptr->free_len >= pool_ptr->warm)
		vk_heap_release(heap_ptr);
	pool_ptr->free_ptr[pool_ptr->free_len++] = *heap_ptr;
}

size_t vk_pool_pages(struct vk_pool *pool_ptr)
{
	return pool_ptr->pages;
}

int vk_pool_free_count(struct vk_pool *pool_ptr)
{
	return pool_ptr->free_len;
}

size_t vk_pool_misses(struct vk_pool *pool_ptr)
{
	return pool_ptr->misses;
}
