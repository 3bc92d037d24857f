/* vk_sys: the system calls of micro-processes (vk_sys.h), on the kernel's
 * fd table, process table and run queue (vk_kern_self.h). */
#include "vk_sys.h"
#include "vk_channel.h"
#include "vk_fd.h"
#include "vk_fd_s.h"
#include "vk_heap.h"
#include "vk_kern.h"
#include "vk_kern_s.h"
#include "vk_kern_self.h"
#include "vk_proc.h"
#include "vk_proc_local.h"
#include "vk_proc_s.h"
#include "vk_socket.h"
#include "vk_thread.h"
#include "vk_timer.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

int vk_sys_close(int fd)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;
	struct vk_fd *fd_ptr;

	if (!kern_ptr)
		return close(fd);
	fd_ptr = vk_fd_table_lookup(&kern_ptr->fds, fd);
	if (!fd_ptr || fd_ptr->kind == VK_FD_FREE)
		return close(fd);
	if (fd_ptr->kind == VK_FD_HELD) {
		vk_kern_close_fd(kern_ptr, fd_ptr);
		return 0;
	}
	if (fd_ptr->kind != VK_FD_CONN ||
	    (kern_ptr->current_proc_ptr && fd_ptr->owner != kern_ptr->current_proc_ptr->id)) {
		errno = EBADF;
		return -1;
	}
	vk_kern_close_fd(kern_ptr, fd_ptr);
	return 0;
}

/* A process with no connection (health checks, resolvers): its first
 * thread runs fn(arg) with no socket, in a heap of its own. Works from a
 * kernel hook and from a running process. */
int vk_sys_spawn(const char *name, vk_thread_fn fn, void *arg_ptr, size_t pages)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;
	struct vk_proc *proc_ptr;
	struct vk_thread *thread_ptr;

	if (!kern_ptr) {
		errno = ENOSYS;
		return -1;
	}
	proc_ptr = vk_proc_table_alloc(&kern_ptr->procs);
	if (!proc_ptr)
		return -1;
	if (vk_heap_map(&proc_ptr->heap, pages) == -1) {
		vk_proc_table_release(&kern_ptr->procs, proc_ptr);
		return -1;
	}
	proc_ptr->name = name;
	proc_ptr->proc_local_ptr =
		vk_proc_local_create(vk_heap_start(&proc_ptr->heap), vk_heap_len(&proc_ptr->heap), pages);
	thread_ptr = proc_ptr->proc_local_ptr ? vk_thread_new(proc_ptr->proc_local_ptr, fn, arg_ptr, NULL) : NULL;
	if (!thread_ptr) {
		vk_heap_unmap(&proc_ptr->heap);
		vk_proc_table_release(&kern_ptr->procs, proc_ptr);
		errno = ENOMEM;
		return -1;
	}
	vk_thread_set_name(thread_ptr, name);
	vk_proc_local_enqueue(proc_ptr->proc_local_ptr, thread_ptr);
	if (kern_ptr->draining)
		proc_ptr->drain_pending = 1;
	vk_kern_enqueue(kern_ptr, proc_ptr);
	return proc_ptr->id;
}

int vk_sys_adopt(int fd)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;
	struct vk_fd *fd_ptr;

	if (!kern_ptr || !kern_ptr->current_proc_ptr)
		return 0;
	fd_ptr = vk_fd_table_get(&kern_ptr->fds, fd);
	if (!fd_ptr)
		return -1;
	if (fd_ptr->kind != VK_FD_FREE) {
		errno = EBUSY;
		return -1;
	}
	vk_kern_own_fd(kern_ptr, fd_ptr, kern_ptr->current_proc_ptr);
	return 0;
}

/* The calling process's own connection fd: 1 with *fd_ptr_ptr set; 0 with
 * no kernel (unit tests run gateway code without one, and every fd is
 * theirs); -1 (EBADF) when the fd is not this process's connection. */
static int own_conn_fd(int fd, struct vk_fd **fd_ptr_ptr)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;
	struct vk_fd *fd_ptr;

	if (!kern_ptr)
		return 0;
	fd_ptr = vk_fd_table_lookup(&kern_ptr->fds, fd);
	if (!fd_ptr || fd_ptr->kind != VK_FD_CONN || !kern_ptr->current_proc_ptr ||
	    fd_ptr->owner != kern_ptr->current_proc_ptr->id) {
		errno = EBADF;
		return -1;
	}
	*fd_ptr_ptr = fd_ptr;
	return 1;
}

int vk_sys_on_close(int fd, void (*fn)(void *ctx_ptr, int fd), void *ctx_ptr)
{
	struct vk_fd *fd_ptr;
	int owned = own_conn_fd(fd, &fd_ptr);

	if (owned <= 0)
		return owned;
	fd_ptr->on_close = fn;
	fd_ptr->on_close_ctx_ptr = ctx_ptr;
	return 0;
}

int vk_sys_on_close_state(int fd, void (*fn)(void *ctx_ptr, int fd), void *ctx_ptr)
{
	struct vk_fd *fd_ptr;
	int owned = own_conn_fd(fd, &fd_ptr);

	if (owned <= 0)
		return owned;
	fd_ptr->on_close_state = fn;
	fd_ptr->on_close_state_ctx_ptr = ctx_ptr;
	return 0;
}

/* The kernel keeps the fd between owners and watches it for input: for a
 * kept-alive connection, any input or hang-up while nobody owns it is news
 * (the peer closed it, or said something unasked). */
int vk_sys_hold(int fd)
{
	struct vk_fd *fd_ptr;
	int owned = own_conn_fd(fd, &fd_ptr);

	if (owned <= 0)
		return owned;
	vk_kern_disown_fd(vk_kern_current_ptr, fd_ptr);
	fd_ptr->kind = VK_FD_HELD;
	fd_ptr->owner = -1;
	fd_ptr->owner_next = -1;
	fd_ptr->owner_prev = -1;
	fd_ptr->pending = 0;
	fd_ptr->blocked = 0;
	vk_kern_want(vk_kern_current_ptr, fd_ptr, VK_EV_IN);
	return 0;
}

int vk_sys_claim(int fd)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;
	struct vk_fd *fd_ptr;
	int seen;

	if (!kern_ptr)
		return 0;
	fd_ptr = vk_fd_table_lookup(&kern_ptr->fds, fd);
	if (!fd_ptr || fd_ptr->kind != VK_FD_HELD || !kern_ptr->current_proc_ptr) {
		errno = EBADF;
		return -1;
	}
	seen = fd_ptr->pending & (VK_EV_IN | VK_EV_HUP | VK_EV_ERR);
	fd_ptr->pending = 0;
	fd_ptr->blocked = 0;
	vk_kern_own_fd(kern_ptr, fd_ptr, kern_ptr->current_proc_ptr);
	return seen;
}

int vk_sys_held_events(int fd)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;
	struct vk_fd *fd_ptr;

	if (!kern_ptr)
		return 0;
	fd_ptr = vk_fd_table_lookup(&kern_ptr->fds, fd);
	if (!fd_ptr || fd_ptr->kind != VK_FD_HELD) {
		errno = EBADF;
		return -1;
	}
	return fd_ptr->pending & (VK_EV_IN | VK_EV_HUP | VK_EV_ERR);
}

/* The slot's id and its generation: a process that ends and a later one in
 * the same slot have different references. */
uint64_t vk_sys_self(void)
{
	struct vk_proc *proc_ptr = vk_kern_current_ptr ? vk_kern_current_ptr->current_proc_ptr : NULL;

	return proc_ptr ? (uint64_t)proc_ptr->gen << 32 | (uint32_t)proc_ptr->id : UINT64_MAX;
}

/* Wakes the process's notifiable sleepers (vk_wait_notified). -1 when the
 * process has ended (its slot may hold another by now). */
int vk_sys_notify(uint64_t proc_ref)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;
	struct vk_proc *proc_ptr;

	if (!kern_ptr || proc_ref == UINT64_MAX)
		return -1;
	proc_ptr = vk_proc_table_get(&kern_ptr->procs, (int)(uint32_t)proc_ref);
	if (!proc_ptr || !proc_ptr->in_use || proc_ptr->gen != (uint32_t)(proc_ref >> 32))
		return -1;
	proc_ptr->notify_pending = 1;
	vk_kern_enqueue(kern_ptr, proc_ptr);
	return 0;
}

int vk_sys_faulted(void)
{
	struct vk_proc *proc_ptr = vk_kern_current_ptr ? vk_kern_current_ptr->current_proc_ptr : NULL;

	return proc_ptr ? proc_ptr->faulted : 0;
}

int vk_sys_owns(int fd)
{
	struct vk_fd *fd_ptr;

	return own_conn_fd(fd, &fd_ptr) >= 0;
}

void vk_sys_untrusted_begin(void)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;
	struct vk_proc *proc_ptr = kern_ptr ? kern_ptr->current_proc_ptr : NULL;

	if (proc_ptr && !proc_ptr->untrusted) {
		proc_ptr->untrusted = 1;
		vk_kern_hide_others(kern_ptr, proc_ptr);
	}
}

void vk_sys_untrusted_end(void)
{
	struct vk_proc *proc_ptr = vk_kern_current_ptr ? vk_kern_current_ptr->current_proc_ptr : NULL;

	if (proc_ptr)
		proc_ptr->untrusted = 0;
}

uint64_t vk_sys_now_ns(void)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;

	if (!kern_ptr || !kern_ptr->in_dispatch)
		return vk_now_ns();
	/* Read at the first ask, not when the dispatch began: a deadline set
	 * after the dispatch's I/O (a keep-alive wait after the response went
	 * out) then counts from after that I/O, and never ends early for the
	 * peer. */
	if (!kern_ptr->dispatch_now_ns)
		kern_ptr->dispatch_now_ns = vk_now_ns();
	return kern_ptr->dispatch_now_ns;
}

uint64_t vk_sys_coarse_now_ns(void)
{
	return vk_kern_current_ptr && vk_kern_current_ptr->now_ns ? vk_kern_current_ptr->now_ns : vk_now_ns();
}

int vk_sys_draining(void)
{
	return vk_kern_current_ptr ? vk_kern_current_ptr->draining : 0;
}

/* What the whole program does on `signo`, asked from inside a kernel: a
 * supervised kernel sends `type` to the supervisor, which takes it as the
 * signal; a lone kernel signals itself. */
static int ask_program(enum vk_msg_type type, int signo)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;
	struct vk_msg msg = {.type = type};

	if (!kern_ptr) {
		errno = ESRCH;
		return -1;
	}
	if (!kern_ptr->outbox_ptr)
		return kill(getpid(), signo);
	msg.from = kern_ptr->index;
	return vk_channel_push(kern_ptr->outbox_ptr, &msg);
}

int vk_sys_drain_all(void)
{
	return ask_program(VK_MSG_DRAIN_ALL, SIGTERM);
}

int vk_sys_reload_all(void)
{
	return ask_program(VK_MSG_RELOAD_ALL, SIGHUP);
}

int vk_sys_open_service(struct vk_service *service_ptr)
{
	if (!vk_kern_current_ptr) {
		errno = ESRCH;
		return -1;
	}
	return vk_kern_open_service(vk_kern_current_ptr, service_ptr);
}

int vk_sys_close_service(struct vk_service *service_ptr)
{
	if (!vk_kern_current_ptr) {
		errno = ESRCH;
		return -1;
	}
	vk_kern_close_service(vk_kern_current_ptr, service_ptr);
	return 0;
}

int vk_sys_kernel_index(void)
{
	return vk_kern_current_ptr ? vk_kern_current_ptr->index : -1;
}

uint64_t vk_sys_stat(enum vk_stat which)
{
	return vk_kern_current_ptr ? vk_kern_stat(vk_kern_current_ptr, which) : 0;
}

int vk_sys_hot_in(const void *ptr, size_t len, unsigned classes)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;

	if (!kern_ptr || !kern_ptr->current_proc_ptr) {
		errno = ENOSYS;
		return -1;
	}
	return vk_proc_add_hot(kern_ptr->current_proc_ptr, ptr, len, classes);
}

int vk_sys_hot(const void *ptr, size_t len)
{
	return vk_sys_hot_in(ptr, len, VK_HOT_ALL);
}

void vk_sys_hot_select(unsigned classes)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;

	if (kern_ptr && kern_ptr->current_proc_ptr)
		vk_proc_select_hot(kern_ptr->current_proc_ptr, classes);
}
