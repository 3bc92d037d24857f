#ifndef VK_PROC_LOCAL_S_H
#define VK_PROC_LOCAL_S_H

#include <sys/queue.h>

#include "vk_stack_s.h"
#include "vk_thread_s.h"

/* The process's own view of itself, at the start of its micro-heap. Holds
 * no kernel pointers: the kernel reads and writes it only while it
 * dispatches the process. */
#define VK_PROC_LOCAL_SPARES 2

struct vk_proc_local {
	struct vk_stack stack;
	TAILQ_HEAD(, vk_thread) run_q;
	LIST_HEAD(, vk_thread) threads;
	LIST_HEAD(, vk_socket) sockets;
	int thread_count;
	size_t pages;
	size_t alloc_failed_pages; /* pages a failed allocation needed */
	struct vk_thread *current_ptr;
	int draining;
	int failed; /* a thread ended with an unhandled error */
	int failed_error;
	int failed_signal;
	const char *failed_file;
	int failed_line;
	const char *failed_thread;
	void *user_ptr;
	/* Memory whose content is dead while the process waits for a request
	 * (vk_wait_request): given back to the OS after a while idle. */
	struct {
		char *ptr;
		size_t len;
	} spares[VK_PROC_LOCAL_SPARES];
	int spare_count;
};

#endif
