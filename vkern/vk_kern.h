#ifndef VK_KERN_H
#define VK_KERN_H

#include <stdint.h>

struct vk_kern;
struct vk_service;
struct vk_channel;

struct vk_kern *vk_kern_create(int index, const char *poll_driver);
void vk_kern_destroy(struct vk_kern *kern_ptr);
int vk_kern_add_service(struct vk_kern *kern_ptr, struct vk_service *service_ptr);
void vk_kern_set_channels(struct vk_kern *kern_ptr, struct vk_channel *inbox_ptr, struct vk_channel *outbox_ptr);
void vk_kern_set_grace_ms(struct vk_kern *kern_ptr, unsigned grace_ms);
void vk_kern_set_reload(struct vk_kern *kern_ptr, void (*fn)(void *ctx_ptr, int kernel_index), void *ctx_ptr);
/* Asked (with the reload hook's context) when SIGHUP reaches this kernel's
 * own process, before the reload hook: -1 and it does not run. A reload
 * the supervisor sends was asked in the supervisor. */
void vk_kern_set_reload_check(struct vk_kern *kern_ptr, int (*fn)(void *ctx_ptr));
/* A lone kernel (no supervisor) says when a reload starts and ends and
 * when a drain starts (enum vk_runtime_state), with the signal hook's
 * context. */
void vk_kern_set_state(struct vk_kern *kern_ptr, void (*fn)(void *ctx_ptr, int state));
/* SIGUSR1 and SIGUSR2 (sent to this kernel, or forwarded by the
 * supervisor) call fn with the signal's number; without fn they are
 * ignored. */
void vk_kern_set_signal(struct vk_kern *kern_ptr, void (*fn)(void *ctx_ptr, int kernel_index, int signo),
			void *ctx_ptr);
/* The process's own children (not kernels): reaped on SIGCHLD, each
 * reported to fn. Before vk_kern_start. */
void vk_kern_set_child_exit(struct vk_kern *kern_ptr, void (*fn)(void *ctx_ptr, int pid, int status), void *ctx_ptr);
void vk_kern_set_verbose(struct vk_kern *kern_ptr, int verbose);
void vk_kern_set_spin_us(struct vk_kern *kern_ptr, unsigned spin_us);
void vk_kern_set_before_wait(struct vk_kern *kern_ptr, void (*fn)(void *ctx_ptr), void *ctx_ptr);
int vk_kern_index(struct vk_kern *kern_ptr);
const char *vk_kern_poll_name(struct vk_kern *kern_ptr);

/* Listen on every service, take signals through a signalfd. */
int vk_kern_start(struct vk_kern *kern_ptr);
/* While the kernel runs (between dispatches: a reload hook): a service
 * starts listening in this kernel, as vk_kern_start's do (SO_REUSEPORT:
 * every kernel that opens it shares its port, which must not be 0).
 * 0, or -1 with errno, nothing opened (ESHUTDOWN while draining). */
int vk_kern_open_service(struct vk_kern *kern_ptr, struct vk_service *service_ptr);
/* The service stops accepting in this kernel (its listening socket
 * closes); its connections go on, and the service stays (closed) for
 * them: the caller never frees it while the kernel runs. */
void vk_kern_close_service(struct vk_kern *kern_ptr, struct vk_service *service_ptr);
/* Run until drained or stopped; returns the exit code. */
int vk_kern_run(struct vk_kern *kern_ptr);
/* Stop accepting; let live connections end within the grace period. */
void vk_kern_drain(struct vk_kern *kern_ptr);
uint64_t vk_kern_stat(struct vk_kern *kern_ptr, int which);
void vk_kern_print_stats(struct vk_kern *kern_ptr);

/* Called by the fault handler: returns only if the fault did not happen
 * inside a process (the caller then lets it kill the OS process). */
void vk_kern_fault(int signo, void *addr);

#endif
