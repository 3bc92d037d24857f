#ifndef VK_THREAD_S_H
#define VK_THREAD_S_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

enum vk_thread_status {
	VK_THREAD_RUNNABLE,
	VK_THREAD_RUNNING,
	VK_THREAD_BLOCKED, /* on socket I/O, a sleep, or both with a deadline */
	VK_THREAD_WAITING, /* on another thread: a call, a future, an inbox */
	VK_THREAD_ENDED,
};

struct vk_future;

/* A stackless coroutine. Everything that must survive a yield lives here or
 * in its `self` block, both inside the micro-heap. */
struct vk_thread {
	void (*func_ptr)(struct vk_thread *that);
	void *resume_ptr;     /* label to continue at */
	void *catch_ptr;      /* installed error handler, NULL if none */
	void *finally_ptr;    /* installed finally block, NULL if none */
	void *catch_home_ptr; /* the catch block last installed: vk_catch_rearm() */
	void *self_ptr;	      /* the coroutine's locals */
	void *arg_ptr;
	const char *name;
	struct vk_socket *socket_ptr; /* default socket of the I/O macros */
	struct vk_proc_local *proc_local_ptr;
	struct vk_thread *parent_ptr; /* caller waiting in vk_call() */
	/* Its last called child's block, ended and kept for the next
	 * vk_call(): a call then allocates nothing. NULL if none. */
	struct vk_thread *spare_child_ptr;
	enum vk_thread_status status;

	int error;	  /* errno-style value raised, 0 if none */
	int error_signal; /* the signal, when the error is a fault */
	const char *error_file;
	int error_line;
	int child_error; /* handed over by a called child at its end */

	size_t op_done; /* progress of the current blocking operation */
	struct vk_socket *block_socket_ptr;
	int block_events;
	uint64_t deadline_ns; /* blocking ops raise ETIMEDOUT past it; 0: none */
	uint64_t idle_ns;     /* re-arms deadline_ns at every block: a limit on silence */
	uint64_t limit_ns;    /* no block waits past it, whatever the deadline or idle timeout; 0: none */
	uint64_t wake_ns;     /* end of a vk_sleep(); 0: none */
	uint64_t release_ns;  /* an idle wait gives its process's spare pages back then; 0: none */
	unsigned timed_out : 1;
	unsigned idle : 1;	 /* waiting between requests: drain may end it */
	unsigned notifiable : 1; /* in vk_wait_notified(): vk_sys_notify() ends it */
	unsigned in_inbox_wait : 1;
	unsigned owns_socket : 1;
	unsigned call_pending : 1; /* waiting in vk_call() for a child to end */
	unsigned call_running : 1; /* its called child is running from inside it */

	TAILQ_HEAD(, vk_future) inbox;
	TAILQ_ENTRY(vk_thread) run_elem;
	LIST_ENTRY(vk_thread) all_elem;
};

#endif
