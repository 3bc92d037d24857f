#ifndef VK_CHANNEL_S_H
#define VK_CHANNEL_S_H

#include <stdalign.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

/* A fixed-size message between kernels or between a kernel and its
 * supervisor. */
struct vk_msg {
	uint32_t type;
	int32_t from;
	uint64_t arg[3];
	char text[32];
};

/* Lock-free single-producer/single-consumer ring in shared memory, with an
 * eventfd so the consumer can sleep in its poller. Head and tail sit on
 * their own cache lines so producer and consumer do not share one. */
struct vk_channel {
	alignas(64) _Atomic uint32_t head; /* next slot to read, owned by the consumer */
	alignas(64) _Atomic uint32_t tail; /* next slot to write, owned by the producer */
	alignas(64) uint32_t mask;
	int event_fd;
	size_t map_len;
	alignas(64) struct vk_msg slots[];
};

#endif
