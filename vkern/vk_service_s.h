#ifndef VK_SERVICE_S_H
#define VK_SERVICE_S_H

#include <stddef.h>

#include "vk_pool_s.h"
#include "vk_service.h"
#include "vk_thread.h"

/* A listening address and what runs for each connection accepted on it. */
struct vk_service {
	const char *name;
	char address[64];
	int port; /* 0: an ephemeral port, chosen once for all kernels */
	vk_thread_fn main_fn;
	void *arg_ptr;
	size_t heap_pages;
	size_t rx_len;
	size_t tx_len;
	enum vk_isolation isolation;
	int serves_drain; /* keeps accepting through a drain, without holding it up */
	int backlog;
	int nodelay;
	int reserve_fd; /* bound, not listening: holds the port across kernels */
	/* per kernel (each kernel process has its own copy) */
	int listen_fd;
	int accept_more; /* the last accept batch ended before EAGAIN */
	/* The last accept found no fd free: the listener is not armed (a
	 * level-triggered driver would report it again at once); accept is
	 * tried again when an fd closes, or at accept_retry_ns. */
	int accept_starved;
	uint64_t accept_retry_ns;
	int closed; /* vk_kern_close_service: accepts nothing any more */
	struct vk_pool pool;
};

#endif
