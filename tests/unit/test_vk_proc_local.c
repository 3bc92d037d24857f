/* vk_proc_local: the micro-process's allocator, thread bookkeeping, run
 * results, what it reports to the kernel, and the fault hook. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>

#include "vk_coro.h"
#include "vk_sys.h"
#include "vk_test_proc.h"
#include "vk_vectoring.h"

struct trace {
	int runs;
	int handled;
	int error;
	int signo;
	int after_fault;
};

/* ---- allocation ---- */

static void test_create_rejects_heap_smaller_than_its_state(void **state)
{
	char small[8];

	(void)state;
	assert_null(vk_proc_local_create(small, sizeof(small), 1));
}

static void test_alloc_free_accounting(void **state)
{
	struct vk_test_proc *tp = *state;
	size_t used;
	void *a;
	void *b;

	assert_int_equal(vk_proc_local_used(tp->pl), 0);
	a = vk_proc_local_alloc(tp->pl, 100);
	assert_non_null(a);
	assert_true(vk_proc_local_used(tp->pl) >= 100);
	assert_true(vk_heap_contains(&tp->heap, a, 100));
	assert_int_equal((uintptr_t)a % 16, 0);
	used = vk_proc_local_used(tp->pl);
	b = vk_proc_local_alloc(tp->pl, 200);
	assert_non_null(b);
	assert_true(vk_proc_local_used(tp->pl) >= used + 200);
	assert_true((char *)b >= (char *)a + 100);

	/* freed below the top: kept until what is above goes */
	used = vk_proc_local_used(tp->pl);
	vk_proc_local_free(tp->pl, a);
	assert_int_equal(vk_proc_local_used(tp->pl), used);
	vk_proc_local_free(tp->pl, b);
	assert_int_equal(vk_proc_local_used(tp->pl), 0);
	assert_int_equal(vk_proc_local_peak(tp->pl), used);
}

static void test_alloc_returns_zeroed_memory(void **state)
{
	struct vk_test_proc *tp = *state;
	unsigned char *p = vk_proc_local_alloc(tp->pl, 256);
	unsigned char *q;

	assert_non_null(p);
	memset(p, 0xa5, 256);
	vk_proc_local_free(tp->pl, p);
	q = vk_proc_local_alloc(tp->pl, 256);
	assert_ptr_equal(q, p);
	for (int i = 0; i < 256; i++)
		assert_int_equal(q[i], 0);
}

static void test_alloc_beyond_heap_fails_and_leaves_heap_usable(void **state)
{
	struct vk_test_proc *tp = *state;

	assert_null(vk_proc_local_alloc(tp->pl, vk_heap_len(&tp->heap)));
	assert_int_equal(vk_proc_local_used(tp->pl), 0);
	assert_non_null(vk_proc_local_alloc(tp->pl, 64));
}

static void test_user_pointer_round_trips(void **state)
{
	struct vk_test_proc *tp = *state;
	int user;

	assert_null(vk_proc_local_user(tp->pl));
	vk_proc_local_set_user(tp->pl, &user);
	assert_ptr_equal(vk_proc_local_user(tp->pl), &user);
}

/* ---- threads and run ---- */

struct quick_self {
	int x;
};

static void quick(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct quick_self *self;

	vk_begin();
	trace_ptr->runs++;
	vk_yield();
	self->x = 1;
	vk_end();
}

static void test_thread_count_and_memory_follow_threads(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_int_equal(vk_proc_local_thread_count(tp->pl), 0);
	for (int i = 0; i < 3; i++)
		assert_non_null(vk_test_start(tp, quick, &trace, NULL));
	assert_int_equal(vk_proc_local_thread_count(tp->pl), 3);
	assert_true(vk_proc_local_used(tp->pl) > 0);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.runs, 3);
	assert_int_equal(vk_proc_local_thread_count(tp->pl), 0);
	assert_int_equal(vk_proc_local_used(tp->pl), 0);
}

static void test_run_with_no_threads_is_ended(void **state)
{
	struct vk_test_proc *tp = *state;

	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
}

struct sleeper_self {
	int slept;
};

static void sleeper(struct vk_thread *that)
{
	intptr_t ms = (intptr_t)vk_thread_arg(that);
	struct sleeper_self *self;

	vk_begin();
	vk_sleep(ms);
	self->slept = 1;
	vk_end();
}

static void test_run_is_alive_while_a_thread_blocks(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, sleeper, (void *)(intptr_t)20, NULL));
	assert_non_null(vk_test_start(tp, quick, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_proc_local_thread_count(tp->pl), 1);
	assert_int_equal(trace.runs, 1);
	assert_int_equal(vk_test_blocks(tp), 1);
	vk_proc_local_expire(tp->pl, tp->timer_ns);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(vk_proc_local_thread_count(tp->pl), 0);
}

static void test_blocks_report_earliest_timer(void **state)
{
	struct vk_test_proc *tp = *state;
	uint64_t before = vk_sys_now_ns();

	assert_non_null(vk_test_start(tp, sleeper, (void *)(intptr_t)500, NULL));
	assert_non_null(vk_test_start(tp, sleeper, (void *)(intptr_t)20, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_test_blocks(tp), 2);
	assert_true(tp->timer_ns >= before + 20 * 1000000ull);
	assert_true(tp->timer_ns < before + 500 * 1000000ull);
	/* the first expiry ends one sleeper; the other's timer is next */
	vk_proc_local_expire(tp->pl, tp->timer_ns);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_proc_local_thread_count(tp->pl), 1);
	assert_int_equal(vk_test_blocks(tp), 1);
	assert_true(tp->timer_ns >= before + 500 * 1000000ull);
}

struct raiser_self {
	int x;
};

static void raiser(struct vk_thread *that)
{
	struct raiser_self *self;

	vk_begin();
	vk_raise(EIO);
	vk_end();
}

static void test_failure_stops_the_other_threads(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, raiser, NULL, NULL));
	assert_non_null(vk_test_start(tp, quick, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_FAILED);
	assert_int_equal(trace.runs, 0);
	assert_int_equal(vk_proc_local_failed_error(tp->pl), EIO);
	/* and it stays failed */
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_FAILED);
	assert_int_equal(trace.runs, 0);
}

/* ---- deadlock detection input ---- */

struct pipe_reader_self {
	char buf[8];
	size_t rc;
};

static void pipe_reader(struct vk_thread *that)
{
	struct pipe_reader_self *self;

	vk_begin();
	vk_read(self->rc, self->buf, sizeof(self->buf));
	vk_end();
}

static void test_wait_on_unwritten_in_process_pipe_reports_no_waits(void **state)
{
	struct vk_test_proc *tp = *state;
	struct vk_socket *writer = vk_socket_alloc(tp->pl, 64, 64);
	struct vk_socket *reader = vk_socket_alloc(tp->pl, 64, 64);

	assert_non_null(writer);
	assert_non_null(reader);
	vk_socket_connect_pair(writer, reader);
	assert_non_null(vk_test_start(tp, pipe_reader, NULL, reader));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_proc_local_thread_count(tp->pl), 1);
	assert_int_equal(vk_test_blocks(tp), 0);
	assert_int_equal(tp->wait_count, 0);
	assert_int_equal(tp->timer_ns, 0);
}

/* The same thread on a socketpair does report its wait. */
static void test_wait_on_fd_reports_one_wait(void **state)
{
	struct vk_test_proc *tp = *state;
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, pipe_reader, NULL, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_test_blocks(tp), 1);
	assert_true(vk_test_waits_on(tp, fds[0], VK_EV_IN));
}

/* ---- drain ---- */

struct idle_self {
	int more;
};

static void idle_waiter(struct vk_thread *that)
{
	struct idle_self *self;

	vk_begin();
	vk_wait_request(self->more);
	vk_end();
}

/* Draining wakes the threads idling between requests, not the others. */
static void test_drain_wakes_only_idle_threads(void **state)
{
	struct vk_test_proc *tp = *state;
	struct vk_socket *idle_sock;
	struct vk_socket *busy_sock;
	struct vk_thread *idle;
	struct vk_thread *busy;
	int idle_fds[2];
	int busy_fds[2];

	idle_sock = vk_test_fd_socket(tp, idle_fds, 64, 64);
	busy_sock = vk_test_fd_socket(tp, busy_fds, 64, 64);
	assert_non_null(idle_sock);
	assert_non_null(busy_sock);
	idle = vk_test_start(tp, idle_waiter, NULL, idle_sock);
	busy = vk_test_start(tp, pipe_reader, NULL, busy_sock);
	assert_non_null(idle);
	assert_non_null(busy);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_thread_status(idle), VK_THREAD_BLOCKED);
	assert_int_equal(vk_thread_status(busy), VK_THREAD_BLOCKED);
	vk_proc_local_drain(tp->pl);
	assert_int_equal(vk_thread_status(idle), VK_THREAD_RUNNABLE);
	assert_int_equal(vk_thread_status(busy), VK_THREAD_BLOCKED);
}

/* ---- faults ---- */

/* Plays the kernel's fault path: the "hardware fault" inside a thread jumps
 * out of vk_proc_local_run() to here, as the kernel's signal handler jumps
 * back into its dispatch. */
static jmp_buf fault_jmp;

static int run_until_fault(struct vk_proc_local *pl)
{
	if (setjmp(fault_jmp) != 0)
		return 1;
	vk_proc_local_run(pl);
	return 0;
}

struct faulting_self {
	int steps;
};

static void faulting_caught(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct faulting_self *self;

	vk_begin();
	vk_catch
	{
		trace_ptr->handled++;
		trace_ptr->error = vk_error();
		trace_ptr->signo = vk_error_signal();
	}
	self->steps++;
	longjmp(fault_jmp, 1);
	trace_ptr->after_fault = 1;
	vk_end();
}

static void test_fault_with_catch_resumes_in_catch(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, faulting_caught, &trace, NULL));
	assert_int_equal(run_until_fault(tp->pl), 1);
	assert_int_equal(vk_proc_local_fault(tp->pl, SIGSEGV), 1);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.handled, 1);
	assert_int_equal(trace.error, EFAULT);
	assert_int_equal(trace.signo, SIGSEGV);
	assert_int_equal(trace.after_fault, 0);
}

static void faulting_uncaught(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct faulting_self *self;

	vk_begin();
	self->steps++;
	longjmp(fault_jmp, 1);
	trace_ptr->after_fault = 1;
	vk_end();
}

static void test_fault_without_catch_fails_process(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct vk_thread *thread_ptr;
	char why[256];

	thread_ptr = vk_test_start(tp, faulting_uncaught, &trace, NULL);
	assert_non_null(thread_ptr);
	vk_thread_set_name(thread_ptr, "crasher");
	assert_int_equal(run_until_fault(tp->pl), 1);
	assert_int_equal(vk_proc_local_fault(tp->pl, SIGSEGV), 0);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_FAILED);
	assert_int_equal(trace.after_fault, 0);
	assert_int_equal(vk_proc_local_failed_error(tp->pl), EFAULT);
	vk_proc_local_describe_failure(tp->pl, why, sizeof(why));
	assert_non_null(strstr(why, "crasher"));
	assert_non_null(strstr(why, "signal 11"));
}

static void test_fault_outside_a_thread_returns_0(void **state)
{
	struct vk_test_proc *tp = *state;

	assert_int_equal(vk_proc_local_fault(tp->pl, SIGSEGV), 0);
}

/* Only the faulting thread's own handler counts (docs/vkern.md): a fault in
 * a called child with no catch kills the process even though its caller
 * has one, unlike a raise, which the child would hand to the caller. */
static void child_faulting(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct faulting_self *self;

	vk_begin();
	self->steps++;
	longjmp(fault_jmp, 1);
	trace_ptr->after_fault = 1;
	vk_end();
}

struct caller_self {
	int x;
};

static void caller_catching(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct caller_self *self;

	vk_begin();
	vk_catch
	{
		trace_ptr->handled++;
		trace_ptr->error = vk_error();
	}
	vk_call(child_faulting, trace_ptr);
	vk_end();
}

/* Like a raise, a fault in a called child with no handler of its own goes
 * to its caller's handler, and the process lives on. */
static void test_fault_in_called_child_without_catch_goes_to_caller(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, caller_catching, &trace, NULL));
	assert_int_equal(run_until_fault(tp->pl), 1);
	assert_int_equal(vk_proc_local_fault(tp->pl, SIGBUS), 1);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.handled, 1);
	assert_int_equal(trace.error, EFAULT);
	assert_int_equal(trace.after_fault, 0);
}

/* A called child runs from inside its caller: a fault two calls deep
 * leaves the C frames of both callers, and each must still get its
 * child's end and go on (here, up to the outer caller's handler). */
static void middle_calling(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct caller_self *self;

	vk_begin();
	vk_call(child_faulting, trace_ptr);
	trace_ptr->after_fault = 1;
	vk_end();
}

static void caller_catching_two_deep(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct caller_self *self;

	vk_begin();
	vk_catch
	{
		trace_ptr->handled++;
		trace_ptr->error = vk_error();
	}
	vk_call(middle_calling, trace_ptr);
	vk_end();
}

static void test_fault_two_calls_deep_reaches_the_outer_caller(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, caller_catching_two_deep, &trace, NULL));
	assert_int_equal(run_until_fault(tp->pl), 1);
	assert_int_equal(vk_proc_local_fault(tp->pl, SIGSEGV), 1);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.handled, 1);
	assert_int_equal(trace.error, EFAULT);
	assert_int_equal(trace.after_fault, 0);
}

/* vk_thread_fault directly, on a blocked thread. */
static void catching_sleeper(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct sleeper_self *self;

	vk_begin();
	vk_catch
	{
		trace_ptr->handled++;
		trace_ptr->error = vk_error();
		trace_ptr->signo = vk_error_signal();
	}
	vk_sleep(1000);
	self->slept = 1;
	trace_ptr->after_fault = 1;
	vk_end();
}

static void test_thread_fault_with_catch_queues_handler(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct vk_thread *thread_ptr;

	thread_ptr = vk_test_start(tp, catching_sleeper, &trace, NULL);
	assert_non_null(thread_ptr);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_thread_fault(thread_ptr, SIGBUS), 1);
	assert_int_equal(vk_thread_status(thread_ptr), VK_THREAD_RUNNABLE);
	assert_int_equal(vk_thread_error(thread_ptr), EFAULT);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.handled, 1);
	assert_int_equal(trace.error, EFAULT);
	assert_int_equal(trace.signo, SIGBUS);
	assert_int_equal(trace.after_fault, 0);
}

static void test_thread_fault_without_catch_returns_0(void **state)
{
	struct vk_test_proc *tp = *state;
	struct vk_thread *thread_ptr;

	thread_ptr = vk_test_start(tp, sleeper, (void *)(intptr_t)1000, NULL);
	assert_non_null(thread_ptr);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_thread_fault(thread_ptr, SIGBUS), 0);
	/* not queued: the process is left for the kernel to end */
	assert_int_equal(vk_thread_status(thread_ptr), VK_THREAD_BLOCKED);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
}

/* ---- idle memory ---- */

static size_t resident_pages(void *ptr, size_t len)
{
	size_t page = vk_page_size();
	uintptr_t from = ((uintptr_t)ptr + page - 1) & ~(uintptr_t)(page - 1);
	uintptr_t to = ((uintptr_t)ptr + len) & ~(uintptr_t)(page - 1);
	unsigned char vec[VK_TEST_PAGES];
	size_t n = 0;

	if (to <= from)
		return 0;
	assert_int_equal(mincore((void *)from, to - from, vec), 0);
	for (size_t i = 0; i < (to - from) / page; i++)
		n += vec[i] & 1;
	return n;
}

/* What an idle process does not use goes back to the OS: empty rings, the
 * spare ranges, the free part of the heap. What it holds stays: a ring
 * with bytes in it, and every other allocation. Released memory reads as
 * zeros and works again. */
static void test_release_idle_gives_back_only_what_is_unused(void **state)
{
	struct vk_test_proc *tp = *state;
	size_t ring = 2 * vk_page_size(), spare_len = 3 * vk_page_size() + 100;
	char *rings, *busy_rings, *small, *spare, *tmp;
	struct vk_socket *idle_ptr, *busy_ptr;
	char got[5];

	vk_proc_local_heap_zeroed(tp->pl);
	rings = vk_proc_local_alloc_high(tp->pl, 2 * ring);
	busy_rings = vk_proc_local_alloc_high(tp->pl, 2 * ring);
	assert_non_null(rings);
	assert_non_null(busy_rings);
	idle_ptr = vk_socket_alloc_on(tp->pl, rings, ring, rings + ring, ring);
	busy_ptr = vk_socket_alloc_on(tp->pl, busy_rings, ring, busy_rings + ring, ring);
	small = vk_proc_local_alloc(tp->pl, 64);
	spare = vk_proc_local_alloc_raw(tp->pl, spare_len);
	assert_non_null(idle_ptr);
	assert_non_null(busy_ptr);
	assert_non_null(small);
	assert_non_null(spare);
	memset(small, 0x5a, 64);
	memset(rings, 0x66, 2 * ring);
	memset(busy_rings, 0x66, 2 * ring);
	memset(spare, 0x77, spare_len);
	assert_int_equal(vk_proc_local_add_spare(tp->pl, spare, spare_len), 0);
	assert_int_equal(vk_socket_unread(busy_ptr, "hello", 5), 5);
	tmp = vk_proc_local_alloc_raw(tp->pl, 4 * vk_page_size());
	assert_non_null(tmp);
	memset(tmp, 0x88, 4 * vk_page_size());
	vk_proc_local_free(tp->pl, tmp);

	vk_proc_local_release_idle(tp->pl);

	assert_int_equal(resident_pages(rings, 2 * ring), 0);
	assert_int_equal(resident_pages(spare, spare_len), 0);
	assert_int_equal(resident_pages(tmp, 4 * vk_page_size()), 0);
	assert_int_equal(resident_pages(busy_rings, 2 * ring), 2 * ring / vk_page_size());
	for (int i = 0; i < 64; i++)
		assert_int_equal((unsigned char)small[i], 0x5a);
	/* the partial pages at the ends of the spare range are kept */
	assert_int_equal((unsigned char)spare[spare_len - 1], 0x77);
	assert_int_equal(spare[vk_page_size() * 2], 0);
	assert_int_equal(vk_socket_unread(busy_ptr, "", 0), 0);
	assert_int_equal(vk_vectoring_read(vk_socket_rx(busy_ptr), got, sizeof(got)), 5);
	assert_memory_equal(got, "hello", 5);

	/* Reused after release: the idle socket's ring works, and a zeroed
	 * allocation over the released free part is zero. */
	assert_int_equal(vk_socket_unread(idle_ptr, "again", 5), 5);
	assert_int_equal(vk_vectoring_read(vk_socket_rx(idle_ptr), got, sizeof(got)), 5);
	assert_memory_equal(got, "again", 5);
	tmp = vk_proc_local_alloc(tp->pl, 4 * vk_page_size());
	assert_non_null(tmp);
	for (size_t i = 0; i < 4 * vk_page_size(); i++)
		assert_int_equal(tmp[i], 0);
}

/* An idle wait gives the memory back after VK_IDLE_RELEASE_MS, without
 * waking the thread; the wait itself is not cut short. */
static void test_idle_wait_releases_after_a_while(void **state)
{
	struct vk_test_proc *tp = *state;
	struct vk_socket *socket_ptr;
	struct vk_thread *thread_ptr;
	char *spare;
	uint64_t now = vk_sys_now_ns();
	int sv[2];

	socket_ptr = vk_test_fd_socket(tp, sv, 4096, 4096);
	assert_non_null(socket_ptr);
	spare = vk_proc_local_alloc_raw(tp->pl, 3 * vk_page_size());
	memset(spare, 0x77, 3 * vk_page_size());
	vk_proc_local_add_spare(tp->pl, spare, 3 * vk_page_size());
	thread_ptr = vk_test_start(tp, idle_waiter, NULL, socket_ptr);
	assert_non_null(thread_ptr);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	vk_test_blocks(tp);
	assert_true(tp->timer_ns >= now + VK_IDLE_RELEASE_MS * 1000000ull);
	assert_true(tp->timer_ns < now + (VK_IDLE_RELEASE_MS + 1000) * 1000000ull);
	assert_true(resident_pages(spare, 3 * vk_page_size()) > 0);
	vk_proc_local_expire(tp->pl, tp->timer_ns);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(resident_pages(spare, 3 * vk_page_size()), 0);
	vk_test_blocks(tp);
	assert_int_equal(tp->timer_ns, 0); /* no deadline: nothing more to time */
}

#define PROC_TEST(fn) cmocka_unit_test_setup_teardown(fn, vk_test_setup, vk_test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		PROC_TEST(test_create_rejects_heap_smaller_than_its_state),
		PROC_TEST(test_alloc_free_accounting),
		PROC_TEST(test_alloc_returns_zeroed_memory),
		PROC_TEST(test_release_idle_gives_back_only_what_is_unused),
		PROC_TEST(test_idle_wait_releases_after_a_while),
		PROC_TEST(test_alloc_beyond_heap_fails_and_leaves_heap_usable),
		PROC_TEST(test_user_pointer_round_trips),
		PROC_TEST(test_thread_count_and_memory_follow_threads),
		PROC_TEST(test_run_with_no_threads_is_ended),
		PROC_TEST(test_run_is_alive_while_a_thread_blocks),
		PROC_TEST(test_blocks_report_earliest_timer),
		PROC_TEST(test_failure_stops_the_other_threads),
		PROC_TEST(test_wait_on_unwritten_in_process_pipe_reports_no_waits),
		PROC_TEST(test_wait_on_fd_reports_one_wait),
		PROC_TEST(test_drain_wakes_only_idle_threads),
		PROC_TEST(test_fault_with_catch_resumes_in_catch),
		PROC_TEST(test_fault_without_catch_fails_process),
		PROC_TEST(test_fault_outside_a_thread_returns_0),
		PROC_TEST(test_fault_in_called_child_without_catch_goes_to_caller),
		PROC_TEST(test_fault_two_calls_deep_reaches_the_outer_caller),
		PROC_TEST(test_thread_fault_with_catch_queues_handler),
		PROC_TEST(test_thread_fault_without_catch_returns_0),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
