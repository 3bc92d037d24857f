#ifndef VK_TIMER_S_H
#define VK_TIMER_S_H

#include <stdint.h>

/* An entry lives in its owner (a process); the heap holds pointers and the
 * entry remembers its position, so moving or removing it is O(log n). */
struct vk_timer {
	uint64_t when_ns;
	int index; /* position in the heap, -1 when not scheduled */
	void *owner_ptr;
};

struct vk_timer_heap {
	struct vk_timer **items_ptr;
	int len;
	int cap;
};

#endif
