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
/* The kernel calls fn(ctx, fd) after it closes fd, however the fd goes:
 * closed by its process, by the process's end, or while held. For counts
 * that must stay true when a process dies. The fd must be the caller's. */
int vk_sys_on_close(int fd, void (*fn)(void *ctx_ptr, int fd), void *ctx_ptr);
/* The same, a second slot, for state that lives with the connection (its
 * TLS session) beside whoever counts it: run first. Either may be set
 * or cleared (fn NULL) without touching the other. */
int vk_sys_on_close_state(int fd, void (*fn)(void *ctx_ptr, int fd), void *ctx_ptr);

/* Keep-alive hand-over between the processes of one kernel. vk_sys_hold
 * gives the caller's fd to the kernel, which owns it until some process
 * vk_sys_claim()s it, and meanwhile watches it for input. vk_sys_claim
 * returns the events (VK_EV_IN, _HUP, _ERR of vk_socket.h) seen while it
 * was held, 0 if none, or -1; an event may be stale, so a non-zero answer
 * means "look before you use it". vk_sys_close() closes a held fd from
 * any process. */
int vk_sys_hold(int fd);
int vk_sys_claim(int fd);
int vk_sys_held_events(int fd);

/* The calling process's id, and a wake-up for another process's threads
 * in vk_wait_notified() (vk_coro.h). */
uint64_t vk_sys_self(void);
int vk_sys_notify(uint64_t proc_ref);
/* Starts a process with no connection; returns its id, or -1. */
int vk_sys_spawn(const char *name, vk_thread_fn fn, void *arg_ptr, size_t pages);
/* The signal of the last fault the calling process survived (a thread's
 * catch block took it), 0 if none. Kept in kernel memory: whatever the
 * fault damaged in the process's heap, this stays true. A process that
 * faulted should end soon: its heap may be damaged. */
int vk_sys_faulted(void);
/* Whether fd is the calling process's own (not the kernel's, another
 * process's, or held): to check an fd number read from a heap that may be
 * damaged before writing to it. */
int vk_sys_owns(int fd);
/* Around code the calling process does not trust (a user's filter): from
 * begin to end, in this dispatch and any later one, every other isolated
 * heap is hidden, so a stray write faults instead of landing in another
 * connection. They do not nest: end (also from a catch block, where the
 * untrusted code may have left without reaching its own end) leaves the
 * untrusted state whatever came before. */
void vk_sys_untrusted_begin(void);
void vk_sys_untrusted_end(void);
/* The monotonic time, in ns. Inside a process the clock is read once per
 * dispatch, at the first call: the time does not move while the process
 * runs. A new read anywhere else. */
uint64_t vk_sys_now_ns(void);
/* A range of the calling process's heap that most of its dispatches
 * touch: the kernel loads it into the cache ahead of them (vk_proc.c,
 * "hot ranges"). Up to VK_PROC_HOT_MAX; 0, or -1 with errno. vk_sys_hot_in
 * names one that only the dispatches of some classes (bits of the
 * process's choosing) touch, and vk_sys_hot_select says which classes the
 * process's next dispatch needs, before it waits (all until it says). */
#define VK_HOT_ALL 0xffu
int vk_sys_hot(const void *ptr, size_t len);
int vk_sys_hot_in(const void *ptr, size_t len, unsigned classes);
void vk_sys_hot_select(unsigned classes);
/* The time the kernel last read (vk_sys_now_ns outside a kernel): no clock
 * read, for timers whose precision is a dispatch, outside a dispatch too. */
uint64_t vk_sys_coarse_now_ns(void);
int vk_sys_draining(void);
/* The whole program drains, as on SIGTERM: with a supervisor, it tells
 * every kernel (this one included); a lone kernel drains itself. Takes
 * effect after the current dispatch. 0, or -1 (errno) outside a kernel. */
int vk_sys_drain_all(void);
/* The whole program reloads, as on SIGHUP (the check hook where the
 * signal is taken, then every kernel's reload hook). Takes effect after
 * the current dispatch. 0, or -1 (errno) outside a kernel. */
int vk_sys_reload_all(void);
/* vk_kern_open_service and vk_kern_close_service on the calling kernel
 * (vk_kern.h), for its reload hook. -1 (ESRCH) outside a kernel. */
struct vk_service;
int vk_sys_open_service(struct vk_service *service_ptr);
int vk_sys_close_service(struct vk_service *service_ptr);
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
	VK_STAT_MPROTECTS,	  /* mprotect() calls that hid or showed a process heap */
	VK_STAT_ACCEPT_EMFILE,	  /* accepts refused for want of an fd (EMFILE, ENFILE) */
	VK_STAT_PREFETCHED_LINES, /* hot cache lines prefetched before dispatches */
	VK_STAT_COUNT,
};

uint64_t vk_sys_stat(enum vk_stat which);
const char *vk_sys_stat_name(enum vk_stat which);

#endif
