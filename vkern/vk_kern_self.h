#ifndef VK_KERN_SELF_H
#define VK_KERN_SELF_H

/* The kernel's internals its system calls (vk_sys.c) work on. Not for
 * other code: processes reach the kernel through vk_sys.h only. */

struct vk_kern;
struct vk_fd;
struct vk_proc;

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

#endif
