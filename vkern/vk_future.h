#ifndef VK_FUTURE_H
#define VK_FUTURE_H

struct vk_future;
struct vk_thread;

void vk_future_send(struct vk_future *future_ptr, struct vk_thread *from_ptr, struct vk_thread *to_ptr, void *msg_ptr);
struct vk_future *vk_future_receive(struct vk_thread *thread_ptr);
void vk_future_resolve(struct vk_future *future_ptr, void *reply_ptr);
int vk_future_done(struct vk_future *future_ptr);
void *vk_future_msg(struct vk_future *future_ptr);
void *vk_future_reply(struct vk_future *future_ptr);
struct vk_thread *vk_future_from(struct vk_future *future_ptr);

#endif
