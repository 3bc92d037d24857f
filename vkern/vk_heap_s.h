#ifndef VK_HEAP_S_H
#define VK_HEAP_S_H

#include <stddef.h>

/* One contiguous anonymous mapping: a micro-process's whole memory, so that
 * a single mprotect() hides or shows all of it. */
struct vk_heap {
	char *addr_ptr;
	size_t len;
	size_t pages;
	int protected;
	int zeroed; /* every byte is zero: fresh from mmap, or given back */
};

#endif
