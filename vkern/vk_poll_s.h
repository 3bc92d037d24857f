#ifndef VK_POLL_S_H
#define VK_POLL_S_H

#include <poll.h>
#include <stdint.h>
#include <linux/aio_abi.h>
#include <liburing.h>

struct vk_fd;
struct vk_poll;
struct vk_fd_table;

struct vk_poll_driver {
	const char *name;
	int (*init)(struct vk_poll *poll_ptr);
	void (*fini)(struct vk_poll *poll_ptr);
	/* fd_ptr->blocked holds events not yet armed: register for them. */
	int (*want)(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr);
	/* fd is about to be closed: drop any registration. */
	void (*forget)(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr);
	/* Wait up to timeout_ms (-1: no limit), deliver what arrived. */
	int (*wait)(struct vk_poll *poll_ptr, int timeout_ms);
};

#define VK_POLL_BATCH 1024

struct vk_poll {
	const struct vk_poll_driver *driver_ptr;
	struct vk_fd_table *fds_ptr;
	void (*ready_cb)(void *ctx_ptr, struct vk_fd *fd_ptr, int events);
	void *ready_ctx_ptr;
	uint64_t registers; /* registration requests made to the OS */
	uint64_t waits;

	/* epoll, both modes */
	int epoll_fd;

	/* poll(): fds with blocked events, and the array built from them */
	int *list_ptr;
	int list_len;
	int list_cap;
	struct pollfd *pollfds_ptr;
	int pollfds_cap;

	/* aio: poll requests waiting for io_submit(), batched with the wait */
	aio_context_t aio_ctx;
	struct iocb **aio_queue_ptr;
	int aio_queue_len;
	int aio_queue_cap;
	int aio_inflight;

	/* io_uring: poll requests sit in the SQ until the wait submits them */
	struct io_uring ring;
	int ring_ready;
};

#endif
