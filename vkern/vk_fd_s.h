#ifndef VK_FD_S_H
#define VK_FD_S_H

#include <stdint.h>
#include <linux/aio_abi.h>

enum vk_fd_kind {
	VK_FD_FREE = 0,
	VK_FD_CONN,    /* owned by a micro-process */
	VK_FD_LISTEN,  /* a service's listening socket */
	VK_FD_CONTROL, /* the kernel's own: signalfd, channel eventfd */
	VK_FD_HELD,    /* a kept-alive connection between owners (vk_sys_hold) */
};

/* Called by the kernel when an fd goes, however it goes (closed by its
 * process, by the process's end, or while held). */
typedef void (*vk_fd_close_fn)(void *ctx_ptr, int fd);

/* The kernel's mirror of one file descriptor's poll state. */
struct vk_fd {
	int fd;
	enum vk_fd_kind kind;
	uint32_t gen;	/* bumped on close; tags registrations so stale events are dropped */
	int owner;	/* process id when kind is VK_FD_CONN */
	int blocked;	/* events a thread of the owner waits for (VK_EV_*) */
	int pending;	/* events seen and not yet handed to the owner */
	int armed;	/* events the poll driver is registered for */
	int added;	/* epoll: present in the interest list */
	int slot;	/* poll(): index in the driver's block list, -1 if none */
	int queued;	/* aio: directions armed but not yet submitted */
	int owner_next; /* next fd of the same process, -1 at the end */
	int owner_prev;
	void *ctx_ptr; /* kernel-owned fds: their service or handler */
	vk_fd_close_fn on_close;
	void *on_close_ctx_ptr;
	/* a second hook, for state that lives with the connection (a TLS
	 * session), run before on_close, which counts it */
	vk_fd_close_fn on_close_state;
	void *on_close_state_ctx_ptr;
	struct iocb aio_cb[2]; /* aio driver: one poll request per direction */
};

/* Chunks never move, so a struct vk_fd * stays valid while the table grows. */
#define VK_FD_CHUNK 256

struct vk_fd_table {
	struct vk_fd **chunks_ptr;
	int chunk_count;
	int limit; /* RLIMIT_NOFILE */
};

#endif
