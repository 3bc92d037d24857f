#ifndef VK_MAILBOX_S_H
#define VK_MAILBOX_S_H

#include <stddef.h>
#include <stdint.h>

#include "vk_mailbox.h"

/* The shared page(s): the seqlock (odd while a post is under way), then
 * the message. */
struct vk_mailbox_shared {
	uint64_t seq;
	uint64_t number;
	uint64_t len;
	unsigned char data[];
};

struct vk_mailbox {
	struct vk_mailbox_shared *shared_ptr; /* MAP_SHARED | MAP_ANONYMOUS */
	size_t capacity;
	size_t map_bytes;
};

#endif
