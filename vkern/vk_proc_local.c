/* vk_proc_local: a micro-process's scheduler, run inside its own heap. The
 * kernel dispatches the process; the process runs its threads until every
 * one has blocked or ended, then reports what it waits for. */
#include "vk_proc_local.h"
#include "vk_proc_local_s.h"
#include "vk_heap.h"
#include "vk_socket.h"
#include "vk_socket_s.h"
#include "vk_stack.h"
#include "vk_thread.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct vk_proc_local *vk_proc_local_create(void *heap_start, size_t heap_len, size_t pages)
{
	struct vk_proc_local *proc_local_ptr = heap_start;

	if (heap_len < sizeof(*proc_local_ptr))
		return NULL;
	memset(proc_local_ptr, 0, sizeof(*proc_local_ptr));
	vk_stack_init(&proc_local_ptr->stack, proc_local_ptr + 1, heap_len - sizeof(*proc_local_ptr));
	TAILQ_INIT(&proc_local_ptr->run_q);
	LIST_INIT(&proc_local_ptr->threads);
	LIST_INIT(&proc_local_ptr->sockets);
	proc_local_ptr->pages = pages;
	return proc_local_ptr;
}

/* The heap was all zero bytes when the process was created (fresh, or
 * given back to the OS): zeroed allocations need not write. */
void vk_proc_local_heap_zeroed(struct vk_proc_local *proc_local_ptr)
{
	vk_stack_assume_zeroed(&proc_local_ptr->stack);
}

static void *alloc(struct vk_proc_local *proc_local_ptr, size_t size, int zero)
{
	void *ptr =
		zero ? vk_stack_push(&proc_local_ptr->stack, size) : vk_stack_push_raw(&proc_local_ptr->stack, size);

	if (!ptr) {
		size_t needed =
			sizeof(*proc_local_ptr) + vk_stack_used(&proc_local_ptr->stack) + size + 2 * VK_STACK_ALIGN;

		proc_local_ptr->alloc_failed_pages = vk_pages_for(needed + sizeof(size_t) * 4);
	}
	return ptr;
}

void *vk_proc_local_alloc(struct vk_proc_local *proc_local_ptr, size_t size)
{
	return alloc(proc_local_ptr, size, 1);
}

void *vk_proc_local_alloc_raw(struct vk_proc_local *proc_local_ptr, size_t size)
{
	return alloc(proc_local_ptr, size, 0);
}

void vk_proc_local_free(struct vk_proc_local *proc_local_ptr, void *ptr)
{
	vk_stack_pop(&proc_local_ptr->stack, ptr);
}

size_t vk_proc_local_used(struct vk_proc_local *proc_local_ptr)
{
	return vk_stack_used(&proc_local_ptr->stack);
}

size_t vk_proc_local_peak(struct vk_proc_local *proc_local_ptr)
{
	return vk_stack_peak(&proc_local_ptr->stack);
}

void vk_proc_local_add_thread(struct vk_proc_local *proc_local_ptr, struct vk_thread *thread_ptr)
{
	LIST_INSERT_HEAD(&proc_local_ptr->threads, thread_ptr, all_elem);
	proc_local_ptr->thread_count++;
}

void vk_proc_local_track_socket(struct vk_proc_local *proc_local_ptr, struct vk_socket *socket_ptr)
{
	LIST_INSERT_HEAD(&proc_local_ptr->sockets, socket_ptr, list_elem);
}

void vk_proc_local_forget_socket(struct vk_proc_local *proc_local_ptr, struct vk_socket *socket_ptr)
{
	(void)proc_local_ptr;
	LIST_REMOVE(socket_ptr, list_elem);
}

void vk_proc_local_enqueue(struct vk_proc_local *proc_local_ptr, struct vk_thread *thread_ptr)
{
	TAILQ_INSERT_TAIL(&proc_local_ptr->run_q, thread_ptr, run_elem);
}

void vk_proc_local_enqueue_first(struct vk_proc_local *proc_local_ptr, struct vk_thread *thread_ptr)
{
	TAILQ_INSERT_HEAD(&proc_local_ptr->run_q, thread_ptr, run_elem);
}

int vk_proc_local_thread_count(struct vk_proc_local *proc_local_ptr)
{
	return proc_local_ptr->thread_count;
}

void vk_proc_local_set_user(struct vk_proc_local *proc_local_ptr, void *user_ptr)
{
	proc_local_ptr->user_ptr = user_ptr;
}

void *vk_proc_local_user(struct vk_proc_local *proc_local_ptr)
{
	return proc_local_ptr->user_ptr;
}

static void record_failure(struct vk_proc_local *proc_local_ptr, struct vk_thread *thread_ptr)
{
	if (proc_local_ptr->failed)
		return;
	proc_local_ptr->failed = 1;
	proc_local_ptr->failed_error = thread_ptr->error;
	proc_local_ptr->failed_signal = thread_ptr->error_signal;
	proc_local_ptr->failed_file = thread_ptr->error_file;
	proc_local_ptr->failed_line = thread_ptr->error_line;
	proc_local_ptr->failed_thread = thread_ptr->name;
}

/* A thread ended: hand its error to a waiting caller, or fail the process
 * when no one is there to handle it. */
static void reap(struct vk_proc_local *proc_local_ptr, struct vk_thread *thread_ptr)
{
	struct vk_thread *parent_ptr = thread_ptr->parent_ptr;
	struct vk_thread *keeper_ptr = NULL;

	if (parent_ptr && parent_ptr->call_pending) {
		keeper_ptr = parent_ptr;
		parent_ptr->child_error = thread_ptr->error;
		parent_ptr->call_pending = 0;
		/* (a caller the child runs inside goes on by itself) */
		if (parent_ptr->status == VK_THREAD_WAITING && !parent_ptr->call_running) {
			parent_ptr->status = VK_THREAD_RUNNABLE;
			vk_proc_local_enqueue_first(proc_local_ptr, parent_ptr);
		}
	} else if (thread_ptr->error) {
		record_failure(proc_local_ptr, thread_ptr);
	}
	vk_thread_clear_block(thread_ptr);
	LIST_REMOVE(thread_ptr, all_elem);
	proc_local_ptr->thread_count--;
	vk_thread_retire(thread_ptr, keeper_ptr);
}

/* Runs a thread once, and settles it by the status it left with. */
static void run_once(struct vk_proc_local *proc_local_ptr, struct vk_thread *thread_ptr)
{
	thread_ptr->status = VK_THREAD_RUNNING;
	proc_local_ptr->current_ptr = thread_ptr;
	thread_ptr->func_ptr(thread_ptr);
	proc_local_ptr->current_ptr = NULL;
	switch (thread_ptr->status) {
	case VK_THREAD_RUNNABLE:
		vk_proc_local_enqueue(proc_local_ptr, thread_ptr);
		break;
	case VK_THREAD_RUNNING: /* returned without vk_end(): treat as ended */
	case VK_THREAD_ENDED:
		thread_ptr->status = VK_THREAD_ENDED;
		reap(proc_local_ptr, thread_ptr);
		break;
	default:
		break;
	}
}

enum vk_proc_run vk_proc_local_run(struct vk_proc_local *proc_local_ptr)
{
	struct vk_thread *thread_ptr;

	while (!proc_local_ptr->failed && (thread_ptr = TAILQ_FIRST(&proc_local_ptr->run_q))) {
		TAILQ_REMOVE(&proc_local_ptr->run_q, thread_ptr, run_elem);
		run_once(proc_local_ptr, thread_ptr);
	}
	if (proc_local_ptr->failed)
		return VK_PROC_FAILED;
	return proc_local_ptr->thread_count ? VK_PROC_ALIVE : VK_PROC_ENDED;
}

/* A called child's first run, from inside its caller (vk_thread_call).
 * The caller waits at the call meanwhile; when the child ends here, reap
 * hands the caller its error and the caller runs on, not queued. */
void vk_proc_local_run_call(struct vk_proc_local *proc_local_ptr, struct vk_thread *parent_ptr,
			    struct vk_thread *child_ptr)
{
	parent_ptr->call_running = 1;
	run_once(proc_local_ptr, child_ptr);
	parent_ptr->call_running = 0;
	proc_local_ptr->current_ptr = parent_ptr;
	if (!parent_ptr->call_pending)
		parent_ptr->status = VK_THREAD_RUNNING;
}

void vk_proc_local_fd_event(struct vk_proc_local *proc_local_ptr, int fd, int events)
{
	struct vk_socket *socket_ptr;

	LIST_FOREACH(socket_ptr, &proc_local_ptr->sockets, list_elem)
		vk_socket_fd_event(socket_ptr, fd, events);
}

void *vk_proc_local_alloc_high(struct vk_proc_local *proc_local_ptr, size_t size)
{
	void *ptr = vk_stack_push_high(&proc_local_ptr->stack, size);

	if (!ptr)
		proc_local_ptr->alloc_failed_pages =
			vk_pages_for(sizeof(*proc_local_ptr) + vk_stack_used(&proc_local_ptr->stack) + size +
				     2 * VK_STACK_ALIGN + sizeof(size_t) * 4);
	return ptr;
}

int vk_proc_local_add_spare(struct vk_proc_local *proc_local_ptr, void *ptr, size_t len)
{
	if (proc_local_ptr->spare_count == VK_PROC_LOCAL_SPARES) {
		errno = ENOSPC;
		return -1;
	}
	proc_local_ptr->spares[proc_local_ptr->spare_count].ptr = ptr;
	proc_local_ptr->spares[proc_local_ptr->spare_count].len = len;
	proc_local_ptr->spare_count++;
	return 0;
}

/* Ranges to give back, merged where they touch, so that buffers laid out
 * side by side cost one madvise. */
#define RELEASE_RANGES_MAX 8

struct release_set {
	struct {
		char *from;
		char *to;
	} r[RELEASE_RANGES_MAX];
	int n;
};

static void release_flush(struct release_set *set_ptr)
{
	for (int i = 0; i < set_ptr->n; i++)
		vk_heap_release_range(set_ptr->r[i].from, (size_t)(set_ptr->r[i].to - set_ptr->r[i].from));
	set_ptr->n = 0;
}

static void release_add(struct release_set *set_ptr, char *from, size_t len)
{
	char *to = from + len;
	int merged;

	if (!len)
		return;
	do {
		merged = 0;
		for (int i = 0; i < set_ptr->n; i++) {
			if (from > set_ptr->r[i].to || to < set_ptr->r[i].from)
				continue;
			from = from < set_ptr->r[i].from ? from : set_ptr->r[i].from;
			to = to > set_ptr->r[i].to ? to : set_ptr->r[i].to;
			set_ptr->r[i] = set_ptr->r[--set_ptr->n];
			merged = 1;
			break;
		}
	} while (merged);
	if (set_ptr->n == RELEASE_RANGES_MAX)
		release_flush(set_ptr);
	set_ptr->r[set_ptr->n].from = from;
	set_ptr->r[set_ptr->n].to = to;
	set_ptr->n++;
}

/* Once a process has waited VK_IDLE_RELEASE_MS for a request, the pages
 * of what holds nothing worth keeping go back to the OS: its empty rings,
 * its spare ranges, and the free part of its heap (what earlier requests
 * pushed and popped). Their next use faults them in again, zeroed. Only
 * whole pages inside each range go; ranges that touch are merged, so a
 * gateway connection costs two madvise calls. */
void vk_proc_local_release_idle(struct vk_proc_local *proc_local_ptr)
{
	struct release_set set = {.n = 0};
	struct vk_socket *socket_ptr;
	struct vk_stack *stack_ptr = &proc_local_ptr->stack;

	LIST_FOREACH(socket_ptr, &proc_local_ptr->sockets, list_elem) {
		size_t len = vk_socket_idle_rings(socket_ptr);

		if (len)
			release_add(&set, vk_socket_rings(socket_ptr), len);
	}
	for (int i = 0; i < proc_local_ptr->spare_count; i++)
		release_add(&set, proc_local_ptr->spares[i].ptr, proc_local_ptr->spares[i].len);
	release_add(&set, stack_ptr->top_ptr, (size_t)(stack_ptr->end_ptr - stack_ptr->top_ptr));
	release_flush(&set);
}

void vk_proc_local_expire(struct vk_proc_local *proc_local_ptr, uint64_t now_ns)
{
	struct vk_thread *thread_ptr;

	LIST_FOREACH(thread_ptr, &proc_local_ptr->threads, all_elem)
		vk_thread_expire(thread_ptr, now_ns);
}

void vk_proc_local_drain(struct vk_proc_local *proc_local_ptr)
{
	struct vk_thread *thread_ptr;

	proc_local_ptr->draining = 1;
	LIST_FOREACH(thread_ptr, &proc_local_ptr->threads, all_elem) {
		if (thread_ptr->idle) {
			thread_ptr->wake_ns = 0; /* an idle sleep ends too */
			vk_thread_wake(thread_ptr);
		}
	}
}

/* Another process signalled this one (vk_sys_notify): its notifiable
 * sleeps end, and each looks again at what it waits for. */
void vk_proc_local_notify(struct vk_proc_local *proc_local_ptr)
{
	struct vk_thread *thread_ptr;

	LIST_FOREACH(thread_ptr, &proc_local_ptr->threads, all_elem) {
		if (thread_ptr->notifiable && thread_ptr->status == VK_THREAD_BLOCKED) {
			thread_ptr->wake_ns = 0;
			vk_thread_wake(thread_ptr);
		}
	}
}

int vk_proc_local_fault(struct vk_proc_local *proc_local_ptr, int signo)
{
	struct vk_thread *thread_ptr = proc_local_ptr->current_ptr;

	proc_local_ptr->current_ptr = NULL;
	if (!thread_ptr)
		return 0;
	/* The fault left the C frames of the callers it ran inside: each
	 * waits at its call again, to be queued as its child ends. */
	for (struct vk_thread *caller_ptr = thread_ptr->parent_ptr; caller_ptr && caller_ptr->call_running;
	     caller_ptr = caller_ptr->parent_ptr)
		caller_ptr->call_running = 0;
	if (vk_thread_fault(thread_ptr, signo))
		return 1;
	/* No handler here: like a raise, a called child hands the fault to
	 * its caller, whose handler may take it. */
	if (thread_ptr->parent_ptr && thread_ptr->parent_ptr->call_pending) {
		thread_ptr->status = VK_THREAD_ENDED;
		reap(proc_local_ptr, thread_ptr);
		return 1;
	}
	record_failure(proc_local_ptr, thread_ptr);
	return 0;
}

int vk_proc_local_blocks(struct vk_proc_local *proc_local_ptr, vk_block_cb cb, void *ctx_ptr, uint64_t *timer_ns)
{
	struct vk_thread *thread_ptr;
	uint64_t next = 0;
	int waits = 0;

	LIST_FOREACH(thread_ptr, &proc_local_ptr->threads, all_elem) {
		struct vk_socket *socket_ptr = thread_ptr->block_socket_ptr;
		uint64_t timer;

		if (thread_ptr->status != VK_THREAD_BLOCKED)
			continue;
		if (socket_ptr) {
			int rx_fd = vk_socket_rx_fd(socket_ptr);
			int tx_fd = vk_socket_tx_fd(socket_ptr);

			if ((thread_ptr->block_events & VK_EV_IN) && rx_fd >= 0) {
				cb(ctx_ptr, rx_fd, VK_EV_IN);
				waits++;
			}
			if ((thread_ptr->block_events & VK_EV_OUT) && tx_fd >= 0) {
				cb(ctx_ptr, tx_fd, VK_EV_OUT);
				waits++;
			}
		}
		timer = vk_thread_next_timer(thread_ptr);
		if (timer) {
			waits++;
			if (!next || timer < next)
				next = timer;
		}
	}
	*timer_ns = next;
	return waits;
}

void vk_proc_local_describe_failure(struct vk_proc_local *proc_local_ptr, char *buf, size_t len)
{
	if (proc_local_ptr->failed_signal) {
		snprintf(buf, len, "thread %s: fault: signal %d (%s)", proc_local_ptr->failed_thread,
			 proc_local_ptr->failed_signal, strsignal(proc_local_ptr->failed_signal));
	} else if (proc_local_ptr->failed_error == ENOMEM && proc_local_ptr->alloc_failed_pages) {
		snprintf(buf, len, "thread %s: micro-heap exhausted: needed %zu pages, heap has %zu (%s:%d)",
			 proc_local_ptr->failed_thread, proc_local_ptr->alloc_failed_pages, proc_local_ptr->pages,
			 proc_local_ptr->failed_file, proc_local_ptr->failed_line);
	} else {
		snprintf(buf, len, "thread %s: unhandled error: %s (%s:%d)", proc_local_ptr->failed_thread,
			 strerror(proc_local_ptr->failed_error), proc_local_ptr->failed_file,
			 proc_local_ptr->failed_line);
	}
}

int vk_proc_local_failed_error(struct vk_proc_local *proc_local_ptr)
{
	return proc_local_ptr->failed_error;
}

size_t vk_proc_local_alloc_failed_pages(struct vk_proc_local *proc_local_ptr)
{
	return proc_local_ptr->alloc_failed_pages;
}

int vk_proc_local_draining(struct vk_proc_local *proc_local_ptr)
{
	return proc_local_ptr->draining;
}
