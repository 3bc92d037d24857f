#ifndef VK_POOL_S_H
#define VK_POOL_S_H

#include <stddef.h>
#include <stdint.h>

#include "vk_heap_s.h"

/* Free heaps of one page count, kept mapped for the next connection. */
struct vk_pool_entry {
	struct vk_heap heap;
	uint64_t put_ns; /* when it came back */
};

struct vk_pool {
	size_t pages;
	/* A stack of free heaps, oldest at the bottom: those below warm_from
	 * have given their pages back, the rest are warm. */
	struct vk_pool_entry *free_ptr;
	int free_len;
	int free_cap;
	int max_free;
	int warm_from;
	int warm;	   /* free heaps kept resident at most */
	uint64_t decay_ns; /* a warm heap unused this long gives its pages back; 0: never */
	size_t hits;
	size_t misses;
};

#endif
