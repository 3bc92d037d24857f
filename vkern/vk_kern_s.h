#ifndef VK_KERN_S_H
#define VK_KERN_S_H

#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/queue.h>

#include "vk_fd_s.h"
#include "vk_poll_s.h"
#include "vk_proc_s.h"
#include "vk_timer_s.h"

struct vk_service;
struct vk_channel;

/* One virtual kernel: one per CPU, sharing nothing with the others. */
struct vk_kern {
	int index;
	struct vk_fd_table fds;
	struct vk_poll poll;
	struct vk_proc_table procs;
	struct vk_timer_heap timers;
	TAILQ_HEAD(, vk_proc) run_q;
	struct vk_service **services_ptr;
	int service_count;

	int draining;
	int stopping;
	int drain_exempt_live; /* live processes of services that serve a drain */
	uint64_t grace_ns;
	uint64_t spin_ns; /* after events, poll without sleeping this long */
	uint64_t drain_deadline_ns;
	uint64_t now_ns; /* read when the last poll wait returned: timers fire by it */
	/* The clock read once per dispatch, when the process first asks
	 * (vk_sys_now_ns); 0 until then. Every time the process asks for
	 * while it runs, deadlines and sleeps included, is this one. */
	uint64_t dispatch_now_ns;
	int exit_code;
	uint64_t stats[16];

	/* The fault window: a fault raised while a process runs comes back
	 * here instead of killing the OS process. */
	sigjmp_buf fault_jmp;
	volatile sig_atomic_t in_dispatch;
	volatile sig_atomic_t fault_signo;
	void *volatile fault_addr;
	struct vk_proc *current_proc_ptr;
	/* The isolated process dispatched last: dispatched again next, it
	 * costs no mprotect() at all, so it runs first. */
	struct vk_proc *shown_proc_ptr;
	/* Every isolated process whose heap is visible now: all of them are
	 * hidden before untrusted code runs. */
	TAILQ_HEAD(, vk_proc) shown_q;
	void *altstack_ptr;

	int signal_fd;
	struct vk_channel *inbox_ptr;  /* from the supervisor */
	struct vk_channel *outbox_ptr; /* to the supervisor */
	void (*reload_fn)(void *ctx_ptr, int kernel_index);
	int (*reload_check_fn)(void *ctx_ptr);
	void *reload_ctx_ptr;
	void (*signal_fn)(void *ctx_ptr, int kernel_index, int signo); /* SIGUSR1, SIGUSR2 */
	void *signal_ctx_ptr;
	/* A lone kernel's state changes (vk_runtime_config.state_fn), with
	 * signal_ctx_ptr. */
	void (*state_fn)(void *ctx_ptr, int state);
	void (*child_exit_fn)(void *ctx_ptr, int pid, int status); /* SIGCHLD, when set */
	void *child_exit_ctx_ptr;
	void (*before_wait_fn)(void *ctx_ptr);
	void *before_wait_ctx_ptr;
	int verbose;
	int accept_starved;	   /* some service waits for an fd to accept with */
	uint64_t emfile_logged_ns; /* fd exhaustion is logged at most once a second */
	uint64_t emfile_unlogged;  /* occurrences since the last line */
};

#endif
