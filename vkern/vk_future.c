/* vk_future: pass a pointer to a thread of the same micro-process and wait
 * for the pointer it answers with. No copying: both live in one heap. */
#include "vk_future.h"
#include "vk_future_s.h"
#include "vk_thread.h"
#include "vk_thread_s.h"

#include <stddef.h>

void vk_future_send(struct vk_future *future_ptr, struct vk_thread *from_ptr, struct vk_thread *to_ptr, void *msg_ptr)
{
	future_ptr->from_ptr = from_ptr;
	future_ptr->to_ptr = to_ptr;
	future_ptr->msg_ptr = msg_ptr;
	future_ptr->reply_ptr = NULL;
	future_ptr->done = 0;
	TAILQ_INSERT_TAIL(&to_ptr->inbox, future_ptr, inbox_elem);
	if (to_ptr->in_inbox_wait)
		vk_thread_wake(to_ptr);
}

struct vk_future *vk_future_receive(struct vk_thread *thread_ptr)
{
	struct vk_future *future_ptr = TAILQ_FIRST(&thread_ptr->inbox);

	if (future_ptr)
		TAILQ_REMOVE(&thread_ptr->inbox, future_ptr, inbox_elem);
	return future_ptr;
}

void vk_future_resolve(struct vk_future *future_ptr, void *reply_ptr)
{
	future_ptr->reply_ptr = reply_ptr;
	future_ptr->done = 1;
	if (future_ptr->from_ptr && future_ptr->from_ptr->status == VK_THREAD_WAITING)
		vk_thread_wake(future_ptr->from_ptr);
}

int vk_future_done(struct vk_future *future_ptr)
{
	return future_ptr->done;
}

void *vk_future_msg(struct vk_future *future_ptr)
{
	return future_ptr->msg_ptr;
}

void *vk_future_reply(struct vk_future *future_ptr)
{
	return future_ptr->reply_ptr;
}

struct vk_thread *vk_future_from(struct vk_future *future_ptr)
{
	return future_ptr->from_ptr;
}
