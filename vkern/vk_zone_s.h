#ifndef VK_ZONE_S_H
#define VK_ZONE_S_H

#include <stddef.h>
#include <stdint.h>

/* Free blocks by size class: class k holds the free blocks of 2^k to
 * 2^(k+1) - 1 bytes, and bit k of class_map says it has some. */
#define VK_ZONE_CLASSES 48

struct vk_zone_free;

struct vk_zone {
	char *start_ptr; /* the first block's header */
	char *end_ptr;	 /* the closing header: a used block of size 0 */
	uint64_t class_map;
	struct vk_zone_free *classes[VK_ZONE_CLASSES];
	size_t live;
	size_t used;
	size_t peak;
	size_t refused;
	size_t bad_frees;
};

#endif
