#ifndef VK_SYS_H
#define VK_SYS_H

/* The micro-process's system calls into its virtual kernel. A process holds
 * no pointer to kernel memory: these reach the kernel of the calling OS
 * thread through the kernel's own state, the way a trap would. Without a
 * running kernel (unit tests) they fall back to plain libc behaviour. */

#include <stddef.h>
#include <stdint.h>

#include "vk_thread.h"

int vk_sys_close(int fd);
int vk_sys_adopt(int fd);
/* Starts a process with no connection; returns its id, or -1. */
int vk_sys_spawn(const char *name, vk_thread_fn fn, void *arg_ptr, size_t pages);
uint64_t vk_sys_now_ns(void);
int vk_sys_draining(void);
int vk_sys_kernel_index(void);

enum vk_stat {
	VK_STAT_ACCEPTED,
	VK_STAT_PROCS_LIVE,
	VK_STAT_PROCS_ENDED,
	VK_STAT_PROCS_FAILED,  /* ended by an unhandled raise */
	VK_STAT_PROCS_KILLED,  /* ended by an unhandled fault */
	VK_STAT_FAULTS_CAUGHT, /* faults turned into a raise the thread handled */
	VK_STAT_DISPATCHES,
	VK_STAT_POLL_REGISTERS, /* registrations sent to the poll driver */
	VK_STAT_POLL_WAITS,
	VK_STAT_COUNT,
};

uint64_t vk_sys_stat(enum vk_stat which);
const char *vk_sys_stat_name(enum vk_stat which);

#endif
