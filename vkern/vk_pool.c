/* vk_pool: preallocated micro-heaps for new connections. When the pool is
 * empty a heap is mapped on the spot; returned heaps are kept up to a cap.
 * The pool's own array is an anonymous mapping, grown by doubling.
 *
 * A free heap keeps its pages while it may soon be taken again, as an
 * allocator keeps freed memory for a while: a burst of connections that
 * ends and comes back (a client's connection pool reconnecting, a load
 * test's next run) finds its heaps resident, with no page fault to take
 * per page touched. The stack is ordered by the time each heap came back;
 * past `warm` resident heaps, and for those not taken again within the
 * decay time, the oldest give their pages back (one madvise each; they
 * stay mapped, ready to be touched again). */
#include "vk_pool.h"
#include "vk_pool_s.h"
#include "vk_heap.h"

#include <string.h>
#include <sys/mman.h>

static int grow(struct vk_pool *pool_ptr)
{
	int cap = pool_ptr->free_cap ? pool_ptr->free_cap * 2 : 64;
	struct vk_pool_entry *p;

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
		vk_pool_put(pool_ptr, &heap, 0);
	}
	return 0;
}

void vk_pool_fini(struct vk_pool *pool_ptr)
{
	for (int i = 0; i < pool_ptr->free_len; i++)
		vk_heap_unmap(&pool_ptr->free_ptr[i].heap);
	if (pool_ptr->free_ptr)
		munmap(pool_ptr->free_ptr, sizeof(struct vk_pool_entry) * (size_t)pool_ptr->free_cap);
	memset(pool_ptr, 0, sizeof(*pool_ptr));
}

/* The most recently returned heap: the one most likely still resident. */
int vk_pool_get(struct vk_pool *pool_ptr, struct vk_heap *heap_ptr)
{
	if (pool_ptr->free_len > 0) {
		*heap_ptr = pool_ptr->free_ptr[--pool_ptr->free_len].heap;
		if (pool_ptr->warm_from > pool_ptr->free_len)
			pool_ptr->warm_from = pool_ptr->free_len;
		pool_ptr->hits++;
		if (vk_heap_unprotect(heap_ptr) == 0)
			return 0;
		vk_heap_unmap(heap_ptr);
	}
	pool_ptr->misses++;
	return vk_heap_map(heap_ptr, pool_ptr->pages);
}

/* The oldest warm heap gives its pages back (one never used has none). */
static void cool_oldest(struct vk_pool *pool_ptr)
{
	struct vk_heap *heap_ptr = &pool_ptr->free_ptr[pool_ptr->warm_from].heap;

	if (!vk_heap_zeroed(heap_ptr))
		vk_heap_release(heap_ptr);
	pool_ptr->warm_from++;
}

void vk_pool_set_warm(struct vk_pool *pool_ptr, int warm)
{
	pool_ptr->warm = warm;
	while (vk_pool_warm_count(pool_ptr) > pool_ptr->warm)
		cool_oldest(pool_ptr);
}

void vk_pool_set_decay(struct vk_pool *pool_ptr, uint64_t decay_ns)
{
	pool_ptr->decay_ns = decay_ns;
}

void vk_pool_put(struct vk_pool *pool_ptr, struct vk_heap *heap_ptr, uint64_t now_ns)
{
	if (vk_heap_pages(heap_ptr) != pool_ptr->pages ||
	    (pool_ptr->free_len == pool_ptr->free_cap && grow(pool_ptr) == -1)) {
		vk_heap_unmap(heap_ptr);
		return;
	}
	pool_ptr->free_ptr[pool_ptr->free_len].heap = *heap_ptr;
	pool_ptr->free_ptr[pool_ptr->free_len].put_ns = now_ns;
	pool_ptr->free_len++;
	while (vk_pool_warm_count(pool_ptr) > pool_ptr->warm)
		cool_oldest(pool_ptr);
}

/* Cheap when nothing is due: one time compared. Heaps due within an
 * eighth of the decay time go too, so that heaps put back over a few
 * seconds wake an idle kernel a few times, not once each. */
void vk_pool_decay(struct vk_pool *pool_ptr, uint64_t now_ns)
{
	uint64_t ahead_ns = now_ns + pool_ptr->decay_ns / 8;

	if (!pool_ptr->decay_ns)
		return;
	while (pool_ptr->warm_from < pool_ptr->free_len &&
	       pool_ptr->free_ptr[pool_ptr->warm_from].put_ns + pool_ptr->decay_ns <= ahead_ns)
		cool_oldest(pool_ptr);
}

uint64_t vk_pool_next_decay_ns(struct vk_pool *pool_ptr)
{
	if (!pool_ptr->decay_ns || pool_ptr->warm_from == pool_ptr->free_len)
		return 0;
	return pool_ptr->free_ptr[pool_ptr->warm_from].put_ns + pool_ptr->decay_ns;
}

int vk_pool_warm_count(struct vk_pool *pool_ptr)
{
	return pool_ptr->free_len - pool_ptr->warm_from;
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
