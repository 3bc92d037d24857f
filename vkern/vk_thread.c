/* vk_thread: lifecycle and scheduling state of a micro-thread. The control
 * flow itself is in the macros of vk_coro.h. */
#include "vk_thread.h"
#include "vk_thread_s.h"
#include "vk_future_s.h"
#include "vk_proc_local.h"
#include "vk_socket.h"
#include "vk_sys.h"

#include <errno.h>
#include <string.h>

static void thread_init(struct vk_thread *thread_ptr, struct vk_proc_local *proc_local_ptr, vk_thread_fn func,
			void *arg_ptr, struct vk_socket *socket_ptr)
{
	thread_ptr->func_ptr = func;
	thread_ptr->arg_ptr = arg_ptr;
	thread_ptr->socket_ptr = socket_ptr;
	thread_ptr->proc_local_ptr = proc_local_ptr;
	thread_ptr->status = VK_THREAD_RUNNABLE;
	thread_ptr->name = "thread";
	TAILQ_INIT(&thread_ptr->inbox);
	vk_proc_local_add_thread(proc_local_ptr, thread_ptr);
}

struct vk_thread *vk_thread_new(struct vk_proc_local *proc_local_ptr, vk_thread_fn func, void *arg_ptr,
				struct vk_socket *socket_ptr)
{
	struct vk_thread *thread_ptr = vk_proc_local_alloc(proc_local_ptr, sizeof(*thread_ptr));

	if (!thread_ptr) {
		errno = ENOMEM;
		return NULL;
	}
	thread_init(thread_ptr, proc_local_ptr, func, arg_ptr, socket_ptr);
	return thread_ptr;
}

/* What the thread holds besides its block: its locals and its own
 * socket, and, unless it is kept, the block it keeps for its next call. */
static void thread_release(struct vk_thread *thread_ptr, int keep_spare)
{
	struct vk_proc_local *proc_local_ptr = thread_ptr->proc_local_ptr;

	if (thread_ptr->spare_child_ptr && !keep_spare) {
		vk_thread_free(thread_ptr->spare_child_ptr);
		thread_ptr->spare_child_ptr = NULL;
	}
	if (thread_ptr->self_ptr != thread_ptr)
		vk_proc_local_free(proc_local_ptr, thread_ptr->self_ptr);
	thread_ptr->self_ptr = NULL;
	if (thread_ptr->owns_socket && thread_ptr->socket_ptr)
		vk_socket_free(thread_ptr->socket_ptr);
	thread_ptr->owns_socket = 0;
	thread_ptr->socket_ptr = NULL;
}

void vk_thread_free(struct vk_thread *thread_ptr)
{
	thread_release(thread_ptr, 0);
	vk_proc_local_free(thread_ptr->proc_local_ptr, thread_ptr);
}

/* An ended thread is done with. A called child's block is kept by the
 * caller that waited for it (keeper_ptr), for its next call, and the
 * child keeps its own spare: most connections call the same few stages
 * for every request, and then a call, at any depth, costs no allocation,
 * no free and no reclaim. What is kept is one block per caller and
 * depth, given back when the caller ends. Anything else is freed. */
void vk_thread_retire(struct vk_thread *thread_ptr, struct vk_thread *keeper_ptr)
{
	if (!keeper_ptr || keeper_ptr->spare_child_ptr) {
		vk_thread_free(thread_ptr);
		return;
	}
	thread_release(thread_ptr, 1);
	keeper_ptr->spare_child_ptr = thread_ptr;
}

/* The coroutine's locals, allocated on its first run. */
void *vk_thread_self(struct vk_thread *thread_ptr, size_t size)
{
	if (thread_ptr->self_ptr)
		return thread_ptr->self_ptr;
	if (size == 0)
		thread_ptr->self_ptr = thread_ptr;
	else
		thread_ptr->self_ptr = vk_proc_local_alloc(thread_ptr->proc_local_ptr, size);
	return thread_ptr->self_ptr;
}

void vk_thread_exit(struct vk_thread *thread_ptr)
{
	thread_ptr->status = VK_THREAD_ENDED;
}

void vk_thread_fail_alloc(struct vk_thread *thread_ptr, size_t size)
{
	(void)size;
	thread_ptr->error = ENOMEM;
	thread_ptr->error_file = __FILE__;
	thread_ptr->error_line = __LINE__;
	thread_ptr->status = VK_THREAD_ENDED;
}

/* A child on the caller's socket; the caller waits until it ends. The
 * child starts under the caller's time limit (docs/vkern.md, "Time"): a
 * copy, so what the child sets is its own, and the caller's is as it was
 * once the child returns.
 *
 * The child runs at once, from inside the caller (vk_proc_local_run_call):
 * most calls end without blocking (a head already in the ring, a body
 * that came with it), and then the caller goes on without a trip through
 * the run queue. The caller is left as if it had yielded, waiting at the
 * call, so a child that blocks, or faults out of the run, is resumed
 * and reaped by the run loop as any other. */
struct vk_thread *vk_thread_call(struct vk_thread *parent_ptr, vk_thread_fn func, void *arg_ptr)
{
	struct vk_thread *child_ptr = parent_ptr->spare_child_ptr;

	if (child_ptr) {
		struct vk_thread *grandchild_ptr = child_ptr->spare_child_ptr;

		parent_ptr->spare_child_ptr = NULL;
		memset(child_ptr, 0, sizeof(*child_ptr));
		child_ptr->spare_child_ptr = grandchild_ptr;
		thread_init(child_ptr, parent_ptr->proc_local_ptr, func, arg_ptr, parent_ptr->socket_ptr);
	} else {
		child_ptr = vk_thread_new(parent_ptr->proc_local_ptr, func, arg_ptr, parent_ptr->socket_ptr);
		if (!child_ptr)
			return NULL;
		/* Kept for the caller's next call: most dispatches touch it
		 * (none to record it with outside a kernel: errno stays). */
		int saved_errno = errno;

		vk_sys_hot(child_ptr, sizeof(*child_ptr));
		errno = saved_errno;
	}
	child_ptr->parent_ptr = parent_ptr;
	child_ptr->deadline_ns = parent_ptr->deadline_ns;
	child_ptr->idle_ns = parent_ptr->idle_ns;
	child_ptr->limit_ns = parent_ptr->limit_ns;
	parent_ptr->call_pending = 1;
	parent_ptr->status = VK_THREAD_WAITING;
	vk_proc_local_run_call(parent_ptr->proc_local_ptr, parent_ptr, child_ptr);
	return child_ptr;
}

struct vk_thread *vk_thread_spawn(struct vk_thread *parent_ptr, vk_thread_fn func, void *arg_ptr,
				  struct vk_socket *socket_ptr)
{
	struct vk_thread *child_ptr = vk_thread_new(parent_ptr->proc_local_ptr, func, arg_ptr, socket_ptr);

	if (!child_ptr)
		return NULL;
	vk_proc_local_enqueue(parent_ptr->proc_local_ptr, child_ptr);
	return child_ptr;
}

void vk_thread_set_block(struct vk_thread *thread_ptr, struct vk_socket *socket_ptr, int events)
{
	thread_ptr->block_socket_ptr = socket_ptr;
	thread_ptr->block_events = events;
}

void vk_thread_clear_block(struct vk_thread *thread_ptr)
{
	if (thread_ptr->block_socket_ptr)
		vk_socket_unblock(thread_ptr->block_socket_ptr, thread_ptr);
	thread_ptr->block_socket_ptr = NULL;
	thread_ptr->block_events = 0;
}

void vk_thread_wake(struct vk_thread *thread_ptr)
{
	if (thread_ptr->status != VK_THREAD_BLOCKED && thread_ptr->status != VK_THREAD_WAITING)
		return;
	vk_thread_clear_block(thread_ptr);
	thread_ptr->in_inbox_wait = 0;
	thread_ptr->status = VK_THREAD_RUNNABLE;
	vk_proc_local_enqueue(thread_ptr->proc_local_ptr, thread_ptr);
}

void vk_thread_set_name(struct vk_thread *thread_ptr, const char *name)
{
	thread_ptr->name = name;
}

const char *vk_thread_name(struct vk_thread *thread_ptr)
{
	return thread_ptr->name;
}

int vk_thread_status(struct vk_thread *thread_ptr)
{
	return thread_ptr->status;
}

int vk_thread_error(struct vk_thread *thread_ptr)
{
	return thread_ptr->error;
}

struct vk_socket *vk_thread_socket(struct vk_thread *thread_ptr)
{
	return thread_ptr->socket_ptr;
}

void vk_thread_set_socket(struct vk_thread *thread_ptr, struct vk_socket *socket_ptr)
{
	thread_ptr->socket_ptr = socket_ptr;
}

struct vk_proc_local *vk_thread_proc_local(struct vk_thread *thread_ptr)
{
	return thread_ptr->proc_local_ptr;
}

void *vk_thread_arg(struct vk_thread *thread_ptr)
{
	return thread_ptr->arg_ptr;
}

/* Earliest moment this blocked thread must run again, 0 if none. */
uint64_t vk_thread_next_timer(struct vk_thread *thread_ptr)
{
	uint64_t next = thread_ptr->wake_ns;

	if (thread_ptr->status != VK_THREAD_BLOCKED)
		return 0;
	if (thread_ptr->deadline_ns && thread_ptr->block_socket_ptr && (!next || thread_ptr->deadline_ns < next))
		next = thread_ptr->deadline_ns;
	if (thread_ptr->release_ns && (!next || thread_ptr->release_ns < next))
		next = thread_ptr->release_ns;
	return next;
}

void vk_thread_expire(struct vk_thread *thread_ptr, uint64_t now_ns)
{
	if (thread_ptr->status != VK_THREAD_BLOCKED)
		return;
	/* Idle a while: what the process does not use goes back to the OS,
	 * and the thread waits on, unwoken. */
	if (thread_ptr->release_ns && thread_ptr->release_ns <= now_ns) {
		thread_ptr->release_ns = 0;
		/* (not if an error took the thread out of its idle wait) */
		if (thread_ptr->idle)
			vk_proc_local_release_idle(thread_ptr->proc_local_ptr);
	}
	if (thread_ptr->wake_ns && thread_ptr->wake_ns <= now_ns) {
		thread_ptr->wake_ns = 0;
		vk_thread_wake(thread_ptr);
	} else if (thread_ptr->deadline_ns && thread_ptr->deadline_ns <= now_ns && thread_ptr->block_socket_ptr) {
		thread_ptr->timed_out = 1;
		vk_thread_wake(thread_ptr);
	}
}

int vk_thread_fault(struct vk_thread *thread_ptr, int signo)
{
	void *handler_ptr = thread_ptr->catch_ptr;

	thread_ptr->error = EFAULT;
	thread_ptr->error_signal = signo;
	thread_ptr->error_file = "(fault)";
	thread_ptr->error_line = 0;
	if (!handler_ptr)
		return 0;
	thread_ptr->catch_ptr = NULL;
	thread_ptr->resume_ptr = handler_ptr;
	thread_ptr->status = VK_THREAD_RUNNABLE;
	vk_thread_clear_block(thread_ptr);
	vk_proc_local_enqueue(thread_ptr->proc_local_ptr, thread_ptr);
	return 1;
}
