#ifndef VK_POLL_H
#define VK_POLL_H

#include <stdint.h>

struct vk_poll;
struct vk_fd;
struct vk_fd_table;

typedef void (*vk_poll_ready_fn)(void *ctx_ptr, struct vk_fd *fd_ptr, int events);

/* Driver names: "epoll" (edge-triggered), "epoll-oneshot", "poll", "aio",
 * "uring". NULL or "" takes $VK_POLL, else "epoll". */
int vk_poll_init(struct vk_poll *poll_ptr, const char *name, struct vk_fd_table *fds_ptr, vk_poll_ready_fn ready,
		 void *ctx_ptr);
void vk_poll_fini(struct vk_poll *poll_ptr);
const char *vk_poll_name(struct vk_poll *poll_ptr);
int vk_poll_want(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr);
void vk_poll_forget(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr);
int vk_poll_wait(struct vk_poll *poll_ptr, int timeout_ms);
uint64_t vk_poll_registers(struct vk_poll *poll_ptr);
uint64_t vk_poll_waits(struct vk_poll *poll_ptr);
const char *const *vk_poll_driver_names(void);

/* For drivers: poll(2)-style masks to VK_EV_* and back. */
int vk_poll_from_pollmask(int mask);
int vk_poll_to_pollmask(int events);

/* For drivers: hand an event to the kernel unless its tag is stale. */
void vk_poll_deliver(struct vk_poll *poll_ptr, uint64_t tag, int events);

#endif
