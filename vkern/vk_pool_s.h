#ifndef VK_POOL_S_H
#define VK_POOL_S_H

#include <stddef.h>

#include "vk_heap_s.h"

/* Free heaps of one page count, kept mapped for the next connection. */
struct vk_pool {
	size_t pages;
	struct vk_heap *free_ptr; /* a stack of free heaps */
	int free_len;
	int free_cap;
	int max_free;
	int warm; /* free heaps kept resident; the others are given back */
	size_t hits;
	size_t misses;
};

#endif
