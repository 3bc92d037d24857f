#ifndef VK_RUNTIME_H
#define VK_RUNTIME_H

/* Start-up of the M:N runtime: N kernels (OS processes, one per CPU,
 * pinned), each listening on every service with SO_REUSEPORT, watched by a
 * supervisor that forwards signals over the kernels' channels and restarts
 * a kernel that dies. With one kernel it runs in the calling process. */

struct vk_service;

/* What the program tells a service manager (systemd's sd_notify). */
enum vk_runtime_state {
	VK_RUNTIME_READY,     /* every kernel listens; after a reload, sent */
	VK_RUNTIME_RELOADING, /* a reload passed its check and goes to the kernels */
	VK_RUNTIME_STOPPING,  /* a drain began */
};

/* Options, filled in by the caller (a plain options struct, not an object). */
struct vk_runtime_config {
	int kernels;		 /* 0: one per CPU this process may run on */
	const char *poll_driver; /* NULL: $VK_POLL, else "epoll" */
	unsigned grace_ms;	 /* how long a drain waits for connections */
	int pin;		 /* pin kernel i to the i-th allowed CPU */
	int announce;		 /* print "listening on ADDR:PORT" when ready */
	int verbose;
	int stats_at_exit; /* each kernel prints its counters to stderr */
	unsigned spin_us;  /* busy-poll this long after events (0: off; default $VK_SPIN_US) */
	void (*reload_fn)(void *ctx_ptr, int kernel_index); /* SIGHUP */
	/* SIGHUP, where it is taken (the supervisor, or a lone kernel),
	 * before any kernel's reload_fn: -1 and no kernel reloads (the new
	 * configuration has problems, say). NULL: every SIGHUP reloads. */
	int (*reload_check_fn)(void *ctx_ptr);
	void *reload_ctx_ptr;
	/* SIGUSR1 or SIGUSR2, in each kernel's process (with hook_ctx_ptr);
	 * without it they are ignored. Every other signal whose default
	 * would end the program without meaning to is ignored (docs/vkern.md). */
	void (*signal_fn)(void *ctx_ptr, int kernel_index, int signo);
	/* Per-kernel hooks, run in each kernel's own process: after it starts
	 * listening, before every wait for events (flush buffered output
	 * there: it is the moment the kernel has nothing else to do), and
	 * when it stops. */
	void (*kernel_start_fn)(void *ctx_ptr, int kernel_index);
	void (*before_wait_fn)(void *ctx_ptr);
	void (*kernel_stop_fn)(void *ctx_ptr, int kernel_index);
	/* A child process the program started itself (not a kernel) ended.
	 * Called where it can be reaped, so the program may start it again:
	 * in the supervisor, or in the process of a lone kernel. */
	void (*child_exit_fn)(void *ctx_ptr, int pid, int status);
	/* The program's state changed (enum vk_runtime_state), called where
	 * signals are taken: the supervisor, or a lone kernel. */
	void (*state_fn)(void *ctx_ptr, int state);
	void *hook_ctx_ptr;
};

void vk_runtime_config_defaults(struct vk_runtime_config *cfg_ptr);
int vk_runtime_allowed_cpus(int *cpus, int max);
int vk_runtime_run(const struct vk_runtime_config *cfg_ptr, struct vk_service **services_ptr, int count);

/* The flags every example shares: -a ADDR -p PORT -k KERNELS -i (isolate)
 * -P DRIVER --pages N -g GRACE_MS -v -s (stats at exit). Returns 0, or -1
 * after printing usage. */
int vk_runtime_parse_args(int argc, char **argv, struct vk_runtime_config *cfg_ptr, struct vk_service *service_ptr);

#endif
