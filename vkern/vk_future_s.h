#ifndef VK_FUTURE_S_H
#define VK_FUTURE_S_H

#include <sys/queue.h>

/* A request from one thread to another of the same process: a pointer goes
 * over, a pointer comes back. Lives in the requester's memory. */
struct vk_future {
	struct vk_thread *from_ptr;
	struct vk_thread *to_ptr;
	void *msg_ptr;
	void *reply_ptr;
	int done;
	TAILQ_ENTRY(vk_future) inbox_elem;
};

#endif
