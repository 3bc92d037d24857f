#ifndef VK_STACK_S_H
#define VK_STACK_S_H

#include <stddef.h>

/* A LIFO arena inside a micro-heap. Blocks freed out of order are marked and
 * reclaimed when everything above them is freed too, so a process that
 * allocates and frees in a loop does not creep. */
struct vk_stack {
	char *start_ptr;
	char *top_ptr;
	char *end_ptr;
	size_t top_size;    /* size of the block on top */
	size_t peak;	    /* highest use seen, for sizing heaps */
	size_t last_failed; /* size of the last push that did not fit */
	/* From here to the end every byte is known to be zero (a heap fresh
	 * from mmap, or given back to the OS): a zeroed push there writes
	 * nothing, so its pages stay untouched until used. */
	char *zero_ptr;
	size_t high_used; /* taken from the end for good (vk_stack_push_high) */
};

#endif
