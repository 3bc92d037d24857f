/* vk_kern: the virtual kernel. It dispatches a process when an event it
 * waits for arrives, and after each dispatch turns what the process blocked
 * on into poll registrations. Faults raised inside a process come back here
 * and end only that process. Connections are accepted into micro-processes
 * by vk_kern_accept.c; signals, the supervisor's inbox, drain and the run
 * loop are here. */
#include "vk_kern.h"
#include "vk_kern_s.h"
#include "vk_kern_self.h"
#include "vk_channel.h"
#include "vk_fault.h"
#include "vk_fd.h"
#include "vk_heap.h"
#include "vk_malloc.h"
#include "vk_poll.h"
#include "vk_pool.h"
#include "vk_proc.h"
#include "vk_proc_local.h"
#include "vk_runtime.h"
#include "vk_service.h"
#include "vk_service_s.h"
#include "vk_socket.h"
#include "vk_sys.h"
#include "vk_timer.h"
#include "vk_upgrade.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define VK_DEFAULT_GRACE_MS 10000
#define VK_POOL_PREALLOC 64
#define VK_POOL_MAX_FREE 4096
/* Free heaps keep their pages until VK_POOL_DECAY_MS unused (vk_pool.c). */
#define VK_POOL_DECAY_MS 10000

__thread struct vk_kern *vk_kern_current_ptr;

/* Signals arrive through a handler that notes them and pokes an eventfd.
 * (A signalfd would be simpler, but AIO polls it from a kernel worker that
 * cannot see this process's signals, so under that driver it never fires.)
 * One kernel per OS process, so these can be process-wide. */
static volatile sig_atomic_t signals_pending;
static int signal_event_fd = -1;

#define SIGNAL_BIT(signo) (1 << ((signo)&31))

static const char *const stat_names[VK_STAT_COUNT] = {
	[VK_STAT_ACCEPTED] = "accepted",	   [VK_STAT_PROCS_LIVE] = "live",
	[VK_STAT_PROCS_ENDED] = "ended",	   [VK_STAT_PROCS_FAILED] = "failed",
	[VK_STAT_PROCS_KILLED] = "killed",	   [VK_STAT_FAULTS_CAUGHT] = "faults_caught",
	[VK_STAT_DISPATCHES] = "dispatches",	   [VK_STAT_POLL_REGISTERS] = "poll_registers",
	[VK_STAT_POLL_WAITS] = "poll_waits",	   [VK_STAT_MPROTECTS] = "mprotects",
	[VK_STAT_ACCEPT_EMFILE] = "accept_emfile", [VK_STAT_PREFETCHED_LINES] = "prefetched_lines",
};

static void on_ready(void *ctx_ptr, struct vk_fd *fd_ptr, int events);

struct vk_kern *vk_kern_create(int index, const char *poll_driver)
{
	struct vk_kern *kern_ptr = calloc(1, sizeof(*kern_ptr));

	if (!kern_ptr)
		return NULL;
	kern_ptr->index = index;
	kern_ptr->signal_fd = -1;
	kern_ptr->grace_ns = (uint64_t)VK_DEFAULT_GRACE_MS * 1000000u;
	TAILQ_INIT(&kern_ptr->run_q);
	TAILQ_INIT(&kern_ptr->shown_q);
	vk_proc_table_init(&kern_ptr->procs);
	vk_timer_heap_init(&kern_ptr->timers);
	if (vk_fd_table_init(&kern_ptr->fds) == -1 ||
	    vk_poll_init(&kern_ptr->poll, poll_driver, &kern_ptr->fds, on_ready, kern_ptr) == -1) {
		int saved = errno;

		vk_fd_table_fini(&kern_ptr->fds);
		free(kern_ptr);
		errno = saved;
		return NULL;
	}
	return kern_ptr;
}

void vk_kern_destroy(struct vk_kern *kern_ptr)
{
	if (!kern_ptr)
		return;
	if (kern_ptr->signal_fd >= 0)
		close(kern_ptr->signal_fd);
	vk_poll_fini(&kern_ptr->poll);
	vk_timer_heap_fini(&kern_ptr->timers);
	vk_proc_table_fini(&kern_ptr->procs);
	vk_fd_table_fini(&kern_ptr->fds);
	vk_fault_release_altstack(kern_ptr->altstack_ptr);
	free(kern_ptr->services_ptr);
	if (vk_kern_current_ptr == kern_ptr)
		vk_kern_current_ptr = NULL;
	free(kern_ptr);
}

int vk_kern_add_service(struct vk_kern *kern_ptr, struct vk_service *service_ptr)
{
	struct vk_service **p = realloc(kern_ptr->services_ptr, sizeof(*p) * (size_t)(kern_ptr->service_count + 1));

	if (!p)
		return -1;
	p[kern_ptr->service_count++] = service_ptr;
	kern_ptr->services_ptr = p;
	return 0;
}

void vk_kern_set_channels(struct vk_kern *kern_ptr, struct vk_channel *inbox_ptr, struct vk_channel *outbox_ptr)
{
	kern_ptr->inbox_ptr = inbox_ptr;
	kern_ptr->outbox_ptr = outbox_ptr;
}

void vk_kern_set_grace_ms(struct vk_kern *kern_ptr, unsigned grace_ms)
{
	kern_ptr->grace_ns = (uint64_t)grace_ms * 1000000u;
}

void vk_kern_set_reload(struct vk_kern *kern_ptr, void (*fn)(void *ctx_ptr, int kernel_index), void *ctx_ptr)
{
	kern_ptr->reload_fn = fn;
	kern_ptr->reload_ctx_ptr = ctx_ptr;
}

void vk_kern_set_reload_check(struct vk_kern *kern_ptr, int (*fn)(void *ctx_ptr))
{
	kern_ptr->reload_check_fn = fn;
}

void vk_kern_set_state(struct vk_kern *kern_ptr, void (*fn)(void *ctx_ptr, int state))
{
	kern_ptr->state_fn = fn;
}

static void tell_state(struct vk_kern *kern_ptr, int state)
{
	if (kern_ptr->state_fn)
		kern_ptr->state_fn(kern_ptr->signal_ctx_ptr, state);
}

void vk_kern_set_signal(struct vk_kern *kern_ptr, void (*fn)(void *ctx_ptr, int kernel_index, int signo), void *ctx_ptr)
{
	kern_ptr->signal_fn = fn;
	kern_ptr->signal_ctx_ptr = ctx_ptr;
}

/* After a wait that returned events, keep polling without sleeping for this
 * long: a client writing to a kernel that is not asleep pays no wake-up. */
void vk_kern_set_child_exit(struct vk_kern *kern_ptr, void (*fn)(void *ctx_ptr, int pid, int status), void *ctx_ptr)
{
	kern_ptr->child_exit_fn = fn;
	kern_ptr->child_exit_ctx_ptr = ctx_ptr;
}

void vk_kern_set_spin_us(struct vk_kern *kern_ptr, unsigned spin_us)
{
	kern_ptr->spin_ns = (uint64_t)spin_us * 1000u;
}

void vk_kern_set_before_wait(struct vk_kern *kern_ptr, void (*fn)(void *ctx_ptr), void *ctx_ptr)
{
	kern_ptr->before_wait_fn = fn;
	kern_ptr->before_wait_ctx_ptr = ctx_ptr;
}

void vk_kern_set_verbose(struct vk_kern *kern_ptr, int verbose)
{
	kern_ptr->verbose = verbose;
}

int vk_kern_index(struct vk_kern *kern_ptr)
{
	return kern_ptr->index;
}

const char *vk_kern_poll_name(struct vk_kern *kern_ptr)
{
	return vk_poll_name(&kern_ptr->poll);
}

uint64_t vk_kern_stat(struct vk_kern *kern_ptr, int which)
{
	if (which == VK_STAT_PROCS_LIVE)
		return (uint64_t)vk_proc_table_live(&kern_ptr->procs);
	if (which == VK_STAT_POLL_REGISTERS)
		return vk_poll_registers(&kern_ptr->poll);
	if (which == VK_STAT_POLL_WAITS)
		return vk_poll_waits(&kern_ptr->poll);
	return which >= 0 && which < VK_STAT_COUNT ? kern_ptr->stats[which] : 0;
}

void vk_kern_print_stats(struct vk_kern *kern_ptr)
{
	char line[512];
	int len = snprintf(line, sizeof(line), "vk: kernel %d (%s):", kern_ptr->index, vk_poll_name(&kern_ptr->poll));

	for (int i = 0; i < VK_STAT_COUNT && len < (int)sizeof(line); i++)
		len += snprintf(line + len, sizeof(line) - (size_t)len, " %s=%llu", stat_names[i],
				(unsigned long long)vk_kern_stat(kern_ptr, i));
	fprintf(stderr, "%s\n", line);
}

/* ---- fds ---- */

void vk_kern_own_fd(struct vk_kern *kern_ptr, struct vk_fd *fd_ptr, struct vk_proc *proc_ptr)
{
	fd_ptr->kind = VK_FD_CONN;
	fd_ptr->owner = proc_ptr->id;
	fd_ptr->owner_prev = -1;
	fd_ptr->owner_next = proc_ptr->fd_head;
	if (proc_ptr->fd_head >= 0)
		vk_fd_table_lookup(&kern_ptr->fds, proc_ptr->fd_head)->owner_prev = fd_ptr->fd;
	proc_ptr->fd_head = fd_ptr->fd;
}

void vk_kern_disown_fd(struct vk_kern *kern_ptr, struct vk_fd *fd_ptr)
{
	struct vk_proc *proc_ptr = vk_proc_table_get(&kern_ptr->procs, fd_ptr->owner);

	if (fd_ptr->owner_prev >= 0)
		vk_fd_table_lookup(&kern_ptr->fds, fd_ptr->owner_prev)->owner_next = fd_ptr->owner_next;
	else if (proc_ptr)
		proc_ptr->fd_head = fd_ptr->owner_next;
	if (fd_ptr->owner_next >= 0)
		vk_fd_table_lookup(&kern_ptr->fds, fd_ptr->owner_next)->owner_prev = fd_ptr->owner_prev;
}

/* The poll driver forgets the fd before the number can be reused. */
void vk_kern_close_fd(struct vk_kern *kern_ptr, struct vk_fd *fd_ptr)
{
	int fd = fd_ptr->fd;
	vk_fd_close_fn on_close = fd_ptr->on_close;
	void *on_close_ctx_ptr = fd_ptr->on_close_ctx_ptr;
	vk_fd_close_fn on_close_state = fd_ptr->on_close_state;
	void *on_close_state_ctx_ptr = fd_ptr->on_close_state_ctx_ptr;

	if (fd_ptr->kind == VK_FD_CONN)
		vk_kern_disown_fd(kern_ptr, fd_ptr);
	vk_poll_forget(&kern_ptr->poll, fd_ptr);
	vk_fd_reset(fd_ptr);
	close(fd);
	/* A listener that ran out of fds has one now. */
	if (kern_ptr->accept_starved)
		vk_kern_retry_accepts_on_close(kern_ptr);
	/* After the close: whoever counts the fd may open another at once. */
	if (on_close_state)
		on_close_state(on_close_state_ctx_ptr, fd);
	if (on_close)
		on_close(on_close_ctx_ptr, fd);
}

/* Ask the driver for `events` on fd; it arms only what is not armed yet. */
void vk_kern_want(struct vk_kern *kern_ptr, struct vk_fd *fd_ptr, int events)
{
	fd_ptr->blocked |= events;
	if (vk_poll_want(&kern_ptr->poll, fd_ptr) == -1 && kern_ptr->verbose)
		fprintf(stderr, "vk: kernel %d: poll registration of fd %d failed: %s\n", kern_ptr->index, fd_ptr->fd,
			strerror(errno));
}

static int watch_control_fd(struct vk_kern *kern_ptr, int fd, void *ctx_ptr)
{
	struct vk_fd *fd_ptr = vk_fd_table_get(&kern_ptr->fds, fd);

	if (!fd_ptr)
		return -1;
	fd_ptr->kind = VK_FD_CONTROL;
	fd_ptr->ctx_ptr = ctx_ptr;
	vk_kern_want(kern_ptr, fd_ptr, VK_EV_IN);
	return 0;
}

/* ---- processes ---- */

void vk_kern_enqueue(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr)
{
	if (proc_ptr->queued)
		return;
	proc_ptr->queued = 1;
	TAILQ_INSERT_TAIL(&kern_ptr->run_q, proc_ptr, run_elem);
}

/* Isolation, lazily: a heap is hidden only when code it must be kept from
 * is about to run. An UNTRUSTED process's heap stays visible until some
 * process runs untrusted code (vk_sys_untrusted_begin); an ALWAYS process's
 * heap until any other process runs. A process dispatched again before
 * that (its next event came in the same or the next wait) needs no
 * mprotect() either way. What runs meanwhile is the kernel itself. */
static void hide(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr)
{
	if (kern_ptr->shown_proc_ptr == proc_ptr)
		kern_ptr->shown_proc_ptr = NULL;
	if (!proc_ptr->on_shown_q)
		return;
	TAILQ_REMOVE(&kern_ptr->shown_q, proc_ptr, shown_elem);
	proc_ptr->on_shown_q = 0;
	kern_ptr->stats[VK_STAT_MPROTECTS]++;
	if (vk_heap_protect(&proc_ptr->heap) == -1)
		fprintf(stderr, "vk: kernel %d: protect: %s\n", kern_ptr->index, strerror(errno));
}

void vk_kern_hide_others(struct vk_kern *kern_ptr, struct vk_proc *keep_ptr)
{
	struct vk_proc *proc_ptr = TAILQ_FIRST(&kern_ptr->shown_q), *next_ptr;

	for (; proc_ptr; proc_ptr = next_ptr) {
		next_ptr = TAILQ_NEXT(proc_ptr, shown_elem);
		if (proc_ptr != keep_ptr)
			hide(kern_ptr, proc_ptr);
	}
}

static void mark_shown(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr)
{
	if (proc_ptr->on_shown_q)
		return;
	TAILQ_INSERT_TAIL(&kern_ptr->shown_q, proc_ptr, shown_elem);
	proc_ptr->on_shown_q = 1;
}

/* Called on accept, while the new heap is still visible. */
void vk_kern_isolate_new(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr)
{
	if (proc_ptr->isolation == VK_ISOLATION_UNTRUSTED) {
		mark_shown(kern_ptr, proc_ptr);
	} else if (proc_ptr->isolation == VK_ISOLATION_ALWAYS) {
		/* Others may run before its first dispatch. */
		if (vk_heap_protect(&proc_ptr->heap) == 0)
			kern_ptr->stats[VK_STAT_MPROTECTS]++;
	}
}

static int untrusted(struct vk_proc *proc_ptr)
{
	return proc_ptr->isolation == VK_ISOLATION_ALWAYS || proc_ptr->untrusted;
}

static int show(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr)
{
	struct vk_proc *last_ptr = kern_ptr->shown_proc_ptr;

	if (untrusted(proc_ptr))
		vk_kern_hide_others(kern_ptr, proc_ptr);
	else if (last_ptr && last_ptr != proc_ptr && last_ptr->isolation == VK_ISOLATION_ALWAYS)
		hide(kern_ptr, last_ptr);
	if (proc_ptr->isolation == VK_ISOLATION_OFF)
		return 0;
	kern_ptr->shown_proc_ptr = proc_ptr;
	if (!vk_heap_is_protected(&proc_ptr->heap)) {
		mark_shown(kern_ptr, proc_ptr);
		return 0;
	}
	kern_ptr->stats[VK_STAT_MPROTECTS]++;
	if (vk_heap_unprotect(&proc_ptr->heap) == -1)
		return -1;
	mark_shown(kern_ptr, proc_ptr);
	return 0;
}

static void proc_end(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr)
{
	if (kern_ptr->shown_proc_ptr == proc_ptr)
		kern_ptr->shown_proc_ptr = NULL;
	if (proc_ptr->on_shown_q) {
		TAILQ_REMOVE(&kern_ptr->shown_q, proc_ptr, shown_elem);
		proc_ptr->on_shown_q = 0;
	}
	proc_ptr->untrusted = 0;
	while (proc_ptr->fd_head >= 0)
		vk_kern_close_fd(kern_ptr, vk_fd_table_lookup(&kern_ptr->fds, proc_ptr->fd_head));
	vk_timer_set(&kern_ptr->timers, &proc_ptr->timer, 0);
	if (proc_ptr->queued) {
		TAILQ_REMOVE(&kern_ptr->run_q, proc_ptr, run_elem);
		proc_ptr->queued = 0;
	}
	if (proc_ptr->service_ptr && proc_ptr->service_ptr->serves_drain)
		kern_ptr->drain_exempt_live--;
	if (proc_ptr->service_ptr)
		vk_pool_put(&proc_ptr->service_ptr->pool, &proc_ptr->heap, kern_ptr->now_ns);
	else
		vk_heap_unmap(&proc_ptr->heap);
	vk_proc_table_release(&kern_ptr->procs, proc_ptr);
}

static void log_proc_failure(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr, const char *what)
{
	char why[256];

	vk_proc_local_describe_failure(proc_ptr->proc_local_ptr, why, sizeof(why));
	fprintf(stderr, "vk: kernel %d: process %d (%s) %s: %s\n", kern_ptr->index, proc_ptr->id, proc_ptr->name, what,
		why);
}

/* ---- dispatch ---- */

static void collect_block(void *ctx_ptr, int fd, int events)
{
	struct vk_kern *kern_ptr = ctx_ptr;
	struct vk_proc *proc_ptr = kern_ptr->current_proc_ptr;
	struct vk_fd *fd_ptr = vk_fd_table_lookup(&kern_ptr->fds, fd);

	/* A process may only wait on fds it owns. */
	if (!fd_ptr || fd_ptr->kind != VK_FD_CONN || fd_ptr->owner != proc_ptr->id)
		return;
	vk_kern_want(kern_ptr, fd_ptr, events);
	/* An event that came in while nobody waited satisfies the wait now. */
	if (fd_ptr->pending & events)
		vk_kern_enqueue(kern_ptr, proc_ptr);
}

static void deliver_events(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr)
{
	struct vk_proc_local *proc_local_ptr = proc_ptr->proc_local_ptr;

	for (int fd = proc_ptr->fd_head; fd >= 0;) {
		struct vk_fd *fd_ptr = vk_fd_table_lookup(&kern_ptr->fds, fd);
		int pending = fd_ptr->pending;

		fd = fd_ptr->owner_next;
		fd_ptr->blocked = 0;
		if (pending) {
			fd_ptr->pending = 0;
			vk_proc_local_fd_event(proc_local_ptr, fd_ptr->fd, pending);
		}
	}
	if (proc_ptr->timer_fired) {
		proc_ptr->timer_fired = 0;
		vk_proc_local_expire(proc_local_ptr, kern_ptr->now_ns);
	}
	if (proc_ptr->drain_pending) {
		proc_ptr->drain_pending = 0;
		vk_proc_local_drain(proc_local_ptr);
	}
	if (proc_ptr->notify_pending) {
		proc_ptr->notify_pending = 0;
		vk_proc_local_notify(proc_local_ptr);
	}
}

/* The process's next timer. One later than the entry in the heap keeps
 * the entry: the process is then woken early, finds nothing due, and sets
 * its timer again. A connection's deadline moves later at nearly every
 * dispatch (each request waits for its response, then for the next
 * request), so the heap, whose entries are cold under many connections,
 * is touched about once per timeout instead of twice per request. A
 * timer is never late. */
static void arm_timer(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr, uint64_t timer_ns)
{
	if (timer_ns && vk_timer_scheduled(&proc_ptr->timer) && timer_ns >= vk_timer_when(&proc_ptr->timer))
		return;
	vk_timer_set(&kern_ptr->timers, &proc_ptr->timer, timer_ns);
}

/* Runs a process until all its threads block or end. Everything that reads
 * process memory happens inside the fault window. */
static void dispatch(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr)
{
	struct vk_proc_local *proc_local_ptr = proc_ptr->proc_local_ptr;
	volatile int delivered = 0;
	enum vk_proc_run run;
	uint64_t timer_ns = 0;
	int waits;

	/* The clock is read at the process's first vk_sys_now_ns(), if any. */
	kern_ptr->dispatch_now_ns = 0;
	if (show(kern_ptr, proc_ptr) == -1) {
		fprintf(stderr, "vk: kernel %d: unprotect: %s\n", kern_ptr->index, strerror(errno));
		proc_end(kern_ptr, proc_ptr);
		return;
	}
	kern_ptr->current_proc_ptr = proc_ptr;
	kern_ptr->stats[VK_STAT_DISPATCHES]++;
	proc_ptr->dispatches++;
	if (sigsetjmp(kern_ptr->fault_jmp, 0) != 0) {
		/* A thread faulted: its handler runs, or the process dies. */
		int signo = kern_ptr->fault_signo;

		/* A fault inside a call that entered a zone (vk_malloc.h) left
		 * it entered: the kernel's own mallocs are libc's again. */
		vk_malloc_reset();
		kern_ptr->in_dispatch = 1;
		if (!vk_proc_local_fault(proc_local_ptr, signo)) {
			kern_ptr->in_dispatch = 0;
			kern_ptr->stats[VK_STAT_PROCS_KILLED]++;
			fprintf(stderr, "vk: kernel %d: process %d (%s) killed: signal %d (%s) at %p\n",
				kern_ptr->index, proc_ptr->id, proc_ptr->name, signo, strsignal(signo),
				kern_ptr->fault_addr);
			goto end;
		}
		kern_ptr->stats[VK_STAT_FAULTS_CAUGHT]++;
		proc_ptr->faulted = signo;
	}
	kern_ptr->in_dispatch = 1;
	if (!delivered) {
		delivered = 1;
		deliver_events(kern_ptr, proc_ptr);
	}
	run = vk_proc_local_run(proc_local_ptr);
	vk_malloc_reset();
	if (run == VK_PROC_ENDED) {
		kern_ptr->in_dispatch = 0;
		kern_ptr->stats[VK_STAT_PROCS_ENDED]++;
		goto end;
	}
	if (run == VK_PROC_FAILED) {
		kern_ptr->in_dispatch = 0;
		kern_ptr->stats[VK_STAT_PROCS_FAILED]++;
		if (kern_ptr->verbose || vk_proc_local_failed_error(proc_local_ptr) == ENOMEM)
			log_proc_failure(kern_ptr, proc_ptr, "failed");
		goto end;
	}
	waits = vk_proc_local_blocks(proc_local_ptr, collect_block, kern_ptr, &timer_ns);
	kern_ptr->in_dispatch = 0;
	if (waits == 0) {
		/* Nothing outside the process can ever wake it. */
		kern_ptr->stats[VK_STAT_PROCS_FAILED]++;
		fprintf(stderr, "vk: kernel %d: process %d (%s) deadlocked: every thread waits on another\n",
			kern_ptr->index, proc_ptr->id, proc_ptr->name);
		goto end;
	}
	arm_timer(kern_ptr, proc_ptr, timer_ns);
	kern_ptr->current_proc_ptr = NULL;
	return;

end:
	kern_ptr->current_proc_ptr = NULL;
	proc_end(kern_ptr, proc_ptr);
}

void vk_kern_fault(int signo, void *addr)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;

	if (!kern_ptr || !kern_ptr->in_dispatch)
		return;
	kern_ptr->in_dispatch = 0;
	kern_ptr->fault_signo = signo;
	kern_ptr->fault_addr = addr;
	siglongjmp(kern_ptr->fault_jmp, 1);
}

/* ---- events ---- */

static void on_signal(int signo)
{
	uint64_t one = 1;
	int saved = errno;

	signals_pending |= SIGNAL_BIT(signo);
	(void)!write(signal_event_fd, &one, sizeof(one));
	errno = saved;
}

static int catch_signals(struct vk_kern *kern_ptr)
{
	/* The user signals are caught even without a hook: their default
	 * action would end the kernel. */
	static const int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
	struct sigaction sa;
	sigset_t set;

	kern_ptr->signal_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (kern_ptr->signal_fd == -1)
		return -1;
	signal_event_fd = kern_ptr->signal_fd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (sigaction(signals[i], &sa, NULL) == -1)
			return -1;
		sigaddset(&set, signals[i]);
	}
	/* Children are reaped here only when someone wants to hear of them. */
	if (kern_ptr->child_exit_fn) {
		sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
		if (sigaction(SIGCHLD, &sa, NULL) == -1)
			return -1;
		sigaddset(&set, SIGCHLD);
	}
	/* A supervisor forks kernels with these blocked. */
	return sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void handle_signals(struct vk_kern *kern_ptr)
{
	uint64_t count;
	int pending;

	while (read(kern_ptr->signal_fd, &count, sizeof(count)) == (ssize_t)sizeof(count))
		;
	pending = signals_pending;
	signals_pending &= ~pending;
	if (pending & (SIGNAL_BIT(SIGTERM) | SIGNAL_BIT(SIGINT))) {
		/* After an upgrade, the drain hands over: nothing stops. */
		if (!vk_upgrade_successor())
			tell_state(kern_ptr, VK_RUNTIME_STOPPING);
		vk_kern_drain(kern_ptr);
	}
	if ((pending & SIGNAL_BIT(SIGHUP)) && kern_ptr->reload_fn &&
	    (!kern_ptr->reload_check_fn || kern_ptr->reload_check_fn(kern_ptr->reload_ctx_ptr) == 0)) {
		tell_state(kern_ptr, VK_RUNTIME_RELOADING);
		kern_ptr->reload_fn(kern_ptr->reload_ctx_ptr, kern_ptr->index);
		tell_state(kern_ptr, VK_RUNTIME_READY);
	}
	if ((pending & SIGNAL_BIT(SIGUSR1)) && kern_ptr->signal_fn)
		kern_ptr->signal_fn(kern_ptr->signal_ctx_ptr, kern_ptr->index, SIGUSR1);
	if ((pending & SIGNAL_BIT(SIGUSR2)) && kern_ptr->signal_fn)
		kern_ptr->signal_fn(kern_ptr->signal_ctx_ptr, kern_ptr->index, SIGUSR2);
	/* A lone kernel is the program: it starts the new binary itself. */
	if ((pending & SIGNAL_BIT(SIGUSR2)) && !kern_ptr->inbox_ptr && !kern_ptr->draining) {
		pid_t self = getpid();

		vk_upgrade_start(&self, 1, kern_ptr->services_ptr, kern_ptr->service_count);
	}
	if ((pending & SIGNAL_BIT(SIGCHLD)) && kern_ptr->child_exit_fn) {
		int status;
		pid_t pid;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid == vk_upgrade_successor())
				vk_upgrade_ended(status);
			else
				kern_ptr->child_exit_fn(kern_ptr->child_exit_ctx_ptr, (int)pid, status);
		}
	}
}

static void handle_inbox(struct vk_kern *kern_ptr)
{
	struct vk_msg msg;

	vk_channel_clear(kern_ptr->inbox_ptr);
	while (vk_channel_pop(kern_ptr->inbox_ptr, &msg) == 0) {
		switch (msg.type) {
		case VK_MSG_DRAIN:
			vk_kern_drain(kern_ptr);
			break;
		case VK_MSG_STOP:
			kern_ptr->stopping = 1;
			break;
		case VK_MSG_RELOAD:
			if (kern_ptr->reload_fn)
				kern_ptr->reload_fn(kern_ptr->reload_ctx_ptr, kern_ptr->index);
			break;
		case VK_MSG_SIGNAL:
			if (kern_ptr->signal_fn)
				kern_ptr->signal_fn(kern_ptr->signal_ctx_ptr, kern_ptr->index, (int)msg.arg[0]);
			break;
		default:
			break;
		}
	}
}

static void on_ready(void *ctx_ptr, struct vk_fd *fd_ptr, int events)
{
	struct vk_kern *kern_ptr = ctx_ptr;
	struct vk_proc *proc_ptr;

	switch (fd_ptr->kind) {
	case VK_FD_CONN:
		fd_ptr->pending |= events;
		proc_ptr = vk_proc_table_get(&kern_ptr->procs, fd_ptr->owner);
		if (proc_ptr && proc_ptr->in_use && (events & fd_ptr->blocked))
			vk_kern_enqueue(kern_ptr, proc_ptr);
		else if (proc_ptr && proc_ptr->in_use && fd_ptr->blocked && (events & (VK_EV_HUP | VK_EV_ERR)))
			vk_kern_enqueue(kern_ptr, proc_ptr);
		break;
	case VK_FD_HELD:
		/* Kept for whoever claims it next, who learns of this; one
		 * event is all it takes, so nothing more is waited for. */
		if (events & (VK_EV_IN | VK_EV_HUP | VK_EV_ERR)) {
			fd_ptr->pending |= events;
			fd_ptr->blocked = 0;
		} else {
			/* Only writable (a one-shot driver's registration for
			 * both directions fired for the other one): watch
			 * for input again. */
			vk_kern_want(kern_ptr, fd_ptr, VK_EV_IN);
		}
		break;
	case VK_FD_LISTEN:
		fd_ptr->blocked = 0;
		if (!kern_ptr->draining || ((struct vk_service *)fd_ptr->ctx_ptr)->serves_drain)
			vk_kern_accept_batch(kern_ptr, fd_ptr->ctx_ptr);
		break;
	case VK_FD_CONTROL:
		fd_ptr->blocked = 0;
		if (fd_ptr->fd == kern_ptr->signal_fd)
			handle_signals(kern_ptr);
		else if (kern_ptr->inbox_ptr && fd_ptr->fd == vk_channel_fd(kern_ptr->inbox_ptr))
			handle_inbox(kern_ptr);
		vk_kern_want(kern_ptr, fd_ptr, VK_EV_IN);
		break;
	default:
		break;
	}
}

/* ---- life cycle ---- */

/* A service's heap pool and listening socket in this kernel. */
static int start_service(struct vk_kern *kern_ptr, struct vk_service *service_ptr)
{
	struct vk_fd *fd_ptr;

	if (vk_pool_init(&service_ptr->pool, service_ptr->heap_pages, VK_POOL_PREALLOC, VK_POOL_MAX_FREE) == -1)
		return -1;
	vk_pool_set_decay(&service_ptr->pool, (uint64_t)VK_POOL_DECAY_MS * 1000000u);
	if (vk_service_listen(service_ptr, kern_ptr->index) == -1)
		return -1;
	fd_ptr = vk_fd_table_get(&kern_ptr->fds, service_ptr->listen_fd);
	if (!fd_ptr) {
		vk_service_unlisten(service_ptr);
		errno = EMFILE;
		return -1;
	}
	fd_ptr->kind = VK_FD_LISTEN;
	fd_ptr->ctx_ptr = service_ptr;
	/* Connections may already be queued: try before waiting. */
	service_ptr->accept_more = 1;
	return 0;
}

int vk_kern_start(struct vk_kern *kern_ptr)
{
	vk_kern_current_ptr = kern_ptr;
	kern_ptr->altstack_ptr = vk_fault_install(vk_kern_fault);
	if (catch_signals(kern_ptr) == -1 || watch_control_fd(kern_ptr, kern_ptr->signal_fd, NULL) == -1)
		return -1;
	if (kern_ptr->inbox_ptr && watch_control_fd(kern_ptr, vk_channel_fd(kern_ptr->inbox_ptr), NULL) == -1)
		return -1;
	for (int i = 0; i < kern_ptr->service_count; i++)
		if (start_service(kern_ptr, kern_ptr->services_ptr[i]) == -1)
			return -1;
	/* An upgrade's sockets other kernels took (or none did). */
	vk_upgrade_close_untaken();
	return 0;
}

/* The service accepts no more: its listening socket is closed. */
static void stop_service_listening(struct vk_kern *kern_ptr, struct vk_service *service_ptr)
{
	struct vk_fd *fd_ptr = vk_fd_table_lookup(&kern_ptr->fds, service_ptr->listen_fd);

	if (fd_ptr) {
		vk_poll_forget(&kern_ptr->poll, fd_ptr);
		vk_fd_reset(fd_ptr);
	}
	vk_service_unlisten(service_ptr);
	service_ptr->accept_more = 0;
	service_ptr->accept_starved = 0;
}

/* all: also the services that serve a drain (the kernel is stopping). */
static void stop_listening(struct vk_kern *kern_ptr, int all)
{
	for (int i = 0; i < kern_ptr->service_count; i++) {
		struct vk_service *service_ptr = kern_ptr->services_ptr[i];

		if (service_ptr->listen_fd < 0 || (service_ptr->serves_drain && !all))
			continue;
		stop_service_listening(kern_ptr, service_ptr);
	}
}

int vk_kern_open_service(struct vk_kern *kern_ptr, struct vk_service *service_ptr)
{
	if (kern_ptr->draining) {
		errno = ESHUTDOWN;
		return -1;
	}
	if (start_service(kern_ptr, service_ptr) == -1)
		return -1;
	if (vk_kern_add_service(kern_ptr, service_ptr) == -1) {
		stop_service_listening(kern_ptr, service_ptr);
		return -1;
	}
	return 0;
}

void vk_kern_close_service(struct vk_kern *kern_ptr, struct vk_service *service_ptr)
{
	if (service_ptr->listen_fd >= 0)
		stop_service_listening(kern_ptr, service_ptr);
	service_ptr->closed = 1;
}

static void for_each_live_proc(struct vk_kern *kern_ptr, void (*fn)(struct vk_kern *, struct vk_proc *))
{
	for (int id = 0; id < vk_proc_table_slots(&kern_ptr->procs); id++) {
		struct vk_proc *proc_ptr = vk_proc_table_get(&kern_ptr->procs, id);

		if (proc_ptr->in_use)
			fn(kern_ptr, proc_ptr);
	}
}

static void mark_drain(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr)
{
	proc_ptr->drain_pending = 1;
	vk_kern_enqueue(kern_ptr, proc_ptr);
}

void vk_kern_drain(struct vk_kern *kern_ptr)
{
	if (kern_ptr->draining)
		return;
	kern_ptr->draining = 1;
	kern_ptr->drain_deadline_ns = vk_now_ns() + kern_ptr->grace_ns;
	stop_listening(kern_ptr, 0);
	for_each_live_proc(kern_ptr, mark_drain);
}

static void kill_proc(struct vk_kern *kern_ptr, struct vk_proc *proc_ptr)
{
	proc_end(kern_ptr, proc_ptr);
}

static int next_timeout_ms(struct vk_kern *kern_ptr)
{
	struct vk_timer *timer_ptr = vk_timer_heap_peek(&kern_ptr->timers);
	uint64_t when = timer_ptr ? vk_timer_when(timer_ptr) : 0;
	uint64_t retry_ns = kern_ptr->accept_starved ? vk_kern_accept_retry_ns(kern_ptr) : 0;
	uint64_t now;

	if (kern_ptr->draining && (!when || kern_ptr->drain_deadline_ns < when))
		when = kern_ptr->drain_deadline_ns;
	if (retry_ns && (!when || retry_ns < when))
		when = retry_ns;
	for (int i = 0; i < kern_ptr->service_count; i++) {
		uint64_t decay_ns = vk_pool_next_decay_ns(&kern_ptr->services_ptr[i]->pool);

		if (decay_ns && (!when || decay_ns < when))
			when = decay_ns;
	}
	if (!when)
		return -1;
	now = vk_now_ns();
	if (when <= now)
		return 0;
	/* Round up so the wait never ends just before the deadline. */
	return (int)((when - now + 999999) / 1000000);
}

int vk_kern_run(struct vk_kern *kern_ptr)
{
	struct vk_proc *proc_ptr;
	struct vk_timer *timer_ptr;
	uint64_t spin_until_ns = 0;
	int events;

	vk_kern_current_ptr = kern_ptr;
	kern_ptr->now_ns = vk_now_ns();
	while (!kern_ptr->stopping) {
		for (int i = 0; i < kern_ptr->service_count; i++)
			if (kern_ptr->services_ptr[i]->accept_more &&
			    (!kern_ptr->draining || kern_ptr->services_ptr[i]->serves_drain))
				vk_kern_accept_batch(kern_ptr, kern_ptr->services_ptr[i]);
		/* The process still shown runs first: it needs no mprotect. */
		proc_ptr = kern_ptr->shown_proc_ptr;
		if (proc_ptr && proc_ptr->queued && proc_ptr != TAILQ_FIRST(&kern_ptr->run_q)) {
			TAILQ_REMOVE(&kern_ptr->run_q, proc_ptr, run_elem);
			TAILQ_INSERT_HEAD(&kern_ptr->run_q, proc_ptr, run_elem);
		}
		while ((proc_ptr = TAILQ_FIRST(&kern_ptr->run_q))) {
			struct vk_proc *next_ptr;

			TAILQ_REMOVE(&kern_ptr->run_q, proc_ptr, run_elem);
			proc_ptr->queued = 0;
			/* Its cache misses overlap this dispatch (vk_proc.c). */
			if ((next_ptr = TAILQ_FIRST(&kern_ptr->run_q)))
				kern_ptr->stats[VK_STAT_PREFETCHED_LINES] += vk_proc_prefetch_hot(next_ptr);
			dispatch(kern_ptr, proc_ptr);
		}
		if (kern_ptr->draining && vk_proc_table_live(&kern_ptr->procs) == kern_ptr->drain_exempt_live)
			break;
		if (kern_ptr->before_wait_fn)
			kern_ptr->before_wait_fn(kern_ptr->before_wait_ctx_ptr);
		events = vk_poll_wait(&kern_ptr->poll,
				      vk_kern_accepts_pending(kern_ptr) || kern_ptr->now_ns < spin_until_ns
					      ? 0
					      : next_timeout_ms(kern_ptr));
		kern_ptr->now_ns = vk_now_ns();
		if (kern_ptr->accept_starved)
			vk_kern_retry_starved_accepts(kern_ptr);
		for (int i = 0; i < kern_ptr->service_count; i++)
			vk_pool_decay(&kern_ptr->services_ptr[i]->pool, kern_ptr->now_ns);
		if (events > 0 && kern_ptr->spin_ns)
			spin_until_ns = kern_ptr->now_ns + kern_ptr->spin_ns;
		while ((timer_ptr = vk_timer_heap_pop_expired(&kern_ptr->timers, kern_ptr->now_ns))) {
			proc_ptr = vk_timer_owner(timer_ptr);
			proc_ptr->timer_fired = 1;
			vk_kern_enqueue(kern_ptr, proc_ptr);
		}
		if (kern_ptr->draining && kern_ptr->now_ns >= kern_ptr->drain_deadline_ns) {
			if (vk_proc_table_live(&kern_ptr->procs) > kern_ptr->drain_exempt_live && kern_ptr->verbose)
				fprintf(stderr, "vk: kernel %d: grace period over, closing %d connections\n",
					kern_ptr->index,
					vk_proc_table_live(&kern_ptr->procs) - kern_ptr->drain_exempt_live);
			for_each_live_proc(kern_ptr, kill_proc);
			break;
		}
	}
	stop_listening(kern_ptr, 1);
	for_each_live_proc(kern_ptr, kill_proc);
	return kern_ptr->exit_code;
}

const char *vk_sys_stat_name(enum vk_stat which)
{
	return which < VK_STAT_COUNT ? stat_names[which] : "?";
}
