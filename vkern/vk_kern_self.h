#ifndef VK_KERN_SELF_H
#define VK_KERN_SELF_H

/* The kernel's internals that its system calls (vk_sys.c) and its accept
 * path (vk_kern_accept.c) work on. Not for other code: processes reach the
 * kernel through vk_sys.h only. */

#include <stdint.h>

struct vk_kern;
struct vk_fd;
struct vk_proc;
struct vk_service;

/* The kernel of the calling OS thread, NULL outside one (unit tests). */
extern __thread struct vk_kern *vk_kern_current_ptr;

/* fd records: owned by a process (linked on its list), given up, closed
 * (the poll driver forgets it first, the on-close hook runs after). */
void vk_kern_own_fd(struct vk_kern *kern_ptr, struct vk_fd *fd_ptr, struct vk_proc *proc_ptr);
void vk_kern_disown_fd(struct vk_kern *kern_ptr, struct vk_fd *fd_ptr);
void vk_kern_close_fd(struct vk_kern *kern_ptr, struct vk_fd *fd_ptr);
/* Asks the poll driver for `events` on the fd. */
void vk_kern_want(struct vk_kern *kern_ptr, struct vk_fd *fd_ptr, int events);
/* Puts a process on the run queue (once). */
void vk_kern_enqueue(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr);

/* Isolation: a new process's heap starts visible (UNTRUSTED) or hidden
 * (ALWAYS); every visible isolated heap but the running process's is
 * hidden before untrusted code runs. */
void vk_kern_isolate_new(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr);
void vk_kern_hide_others(struct vk_kern *kern_ptr, struct vk_proc *keep_ptr);

/* The accept path (vk_kern_accept.c). A batch accepts until EAGAIN, or
 * marks the service to go on (accept_more), or starves it (out of fds). */
void vk_kern_accept_batch(struct vk_kern *kern_ptr, struct vk_service *service_ptr);
/* Some service has connections left to accept: the wait must not sleep. */
int vk_kern_accepts_pending(struct vk_kern *kern_ptr);
/* An fd closed: starved services accept again. */
void vk_kern_retry_accepts_on_close(struct vk_kern *kern_ptr);
/* After a wait: starved services that are due accept again. */
void vk_kern_retry_starved_accepts(struct vk_kern *kern_ptr);
/* The earliest time a starved service is due (0: none is starved). */
uint64_t vk_kern_accept_retry_ns(struct vk_kern *kern_ptr);

#endif
