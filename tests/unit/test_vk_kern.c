/* Tests for vkern/vk_kern.c's dispatch, on a real kernel in this process:
 * the events of one poll wait reach a process in one dispatch, a process
 * dispatched again before any other costs no mprotect() and runs first
 * when it is ready again, another process's dispatch still hides an
 * isolated heap, and a caught fault is remembered (vk_sys_faulted).
 * With VK_ISOLATION_UNTRUSTED, trusted code costs no mprotect() (and is
 * not kept out of other heaps), while code between vk_sys_untrusted_begin
 * and _end, in a later dispatch too, finds every other heap hidden. The
 * clock is read once per dispatch, and a sleep still lasts what it asks.
 * A deadline moved later wakes its process early once, never late.
 *
 * The test drives the kernel from its before-wait hook: each call is one
 * step of a lock-step exchange with the processes, and the last step
 * drains the kernel so that vk_kern_run returns. An alarm bounds a test
 * whose kernel would wait forever. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vk_coro.h"
#include "vk_heap.h"
#include "vk_kern_s.h"
#include "vk_kern_self.h"
#include "vk_proc.h"
#include "vk_kern.h"
#include "vk_proc_local.h"
#include "vk_service.h"
#include "vk_socket.h"
#include "vk_sys.h"
#include "vk_test_net.h"
#include "vk_timer.h"

#define TEST_ALARM_S 20
#define STEPS_MAX 1000

struct step_state {
	struct vk_kern *kern_ptr;
	struct vk_service *service_ptr;
	int client_fd[2];
	int side_fd[2]; /* socketpair: [0] is the process's, [1] the test's */
	int step;
	int calls;
	uint64_t dispatches_before;
	uint64_t dispatches_after;
	uint64_t mprotects_before;
	uint64_t mprotects_after;
};

static struct step_state st;
/* Written by the processes' threads (process memory may reach globals). */
static int started;
static int bytes_seen[2];
static volatile long *victim_ptr;
static int victim_intact = -1;

/* A kernel with `service_ptr`, `clients` connections queued on it, then
 * run until the hook drains it. */
static void run_kernel(struct vk_service *service_ptr, int clients, int side, void (*hook)(void *ctx_ptr))
{
	memset(&st, 0, sizeof(st));
	st.client_fd[0] = st.client_fd[1] = -1;
	st.side_fd[0] = st.side_fd[1] = -1;
	started = 0;
	memset(bytes_seen, 0, sizeof(bytes_seen));
	victim_ptr = NULL;
	victim_intact = -1;
	assert_int_equal(vk_service_set_address(service_ptr, "127.0.0.1", 0), 0);
	assert_int_equal(vk_service_reserve(service_ptr), 0);
	st.service_ptr = service_ptr;
	st.kern_ptr = vk_kern_create(0, "epoll");
	assert_non_null(st.kern_ptr);
	assert_int_equal(vk_kern_add_service(st.kern_ptr, service_ptr), 0);
	vk_kern_set_grace_ms(st.kern_ptr, 10);
	vk_kern_set_before_wait(st.kern_ptr, hook, NULL);
	/* The process's end of the pair becomes its fd, closed by the kernel. */
	if (side)
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, st.side_fd), 0);
	assert_int_equal(vk_kern_start(st.kern_ptr), 0);
	/* Loopback connects complete in the OS: queued before the first accept. */
	for (int i = 0; i < clients; i++) {
		st.client_fd[i] = vk_test_connect_loopback(vk_service_port(service_ptr));
		assert_true(st.client_fd[i] >= 0);
	}
	alarm(TEST_ALARM_S);
	vk_kern_run(st.kern_ptr);
	alarm(0);
	for (int i = 0; i < 2; i++)
		if (st.client_fd[i] >= 0)
			close(st.client_fd[i]);
	if (side)
		close(st.side_fd[1]);
}

static void finish(struct vk_service *service_ptr)
{
	vk_kern_destroy(st.kern_ptr);
	vk_service_destroy(service_ptr);
}

static int drained_after_too_many_calls(void)
{
	if (++st.calls < STEPS_MAX)
		return 0;
	vk_kern_drain(st.kern_ptr);
	return 1;
}

/* ---- one process, two ready fds ---- */

struct reader_self {
	char c;
	size_t n;
	struct vk_socket *side_ptr;
	struct vk_thread *child_ptr;
};

static void side_reader(struct vk_thread *that)
{
	struct reader_self *self;

	vk_begin();
	started++;
	vk_read_some(self->n, &self->c, 1);
	bytes_seen[1] += (int)self->n;
	vk_end();
}

/* Two threads, each blocked on a fd of its own. */
static void two_fds(struct vk_thread *that)
{
	struct reader_self *self;

	vk_begin();
	self->side_ptr = vk_socket_alloc(vk_thread_proc_local(that), 64, 64);
	if (!self->side_ptr || vk_sys_adopt(st.side_fd[0]) == -1)
		vk_raise(ENOMEM);
	vk_socket_set_fd(self->side_ptr, st.side_fd[0]);
	vk_spawn(self->child_ptr, side_reader, NULL, self->side_ptr);
	started++;
	vk_read_some(self->n, &self->c, 1);
	bytes_seen[0] += (int)self->n;
	vk_end();
}

static void two_fds_step(void *ctx_ptr)
{
	(void)ctx_ptr;
	if (drained_after_too_many_calls())
		return;
	if (st.step == 0 && started == 2) {
		/* Both threads wait: make both fds ready before the next wait. */
		st.dispatches_before = vk_kern_stat(st.kern_ptr, VK_STAT_DISPATCHES);
		assert_int_equal(write(st.client_fd[0], "a", 1), 1);
		assert_int_equal(write(st.side_fd[1], "b", 1), 1);
		st.step = 1;
	} else if (st.step == 1 && bytes_seen[0] + bytes_seen[1] > 0) {
		st.dispatches_after = vk_kern_stat(st.kern_ptr, VK_STAT_DISPATCHES);
		st.step = 2;
		vk_kern_drain(st.kern_ptr);
	}
}

static void test_two_ready_fds_one_dispatch(void **state)
{
	struct vk_service *service_ptr = vk_service_create("two_fds", two_fds, NULL);

	(void)state;
	run_kernel(service_ptr, 1, 1, two_fds_step);
	assert_int_equal(st.step, 2);
	assert_int_equal(bytes_seen[0], 1);
	assert_int_equal(bytes_seen[1], 1);
	assert_int_equal(st.dispatches_after - st.dispatches_before, 1);
	finish(service_ptr);
}

/* ---- one isolated process, dispatched again and again ---- */

struct echo_self {
	char c;
	size_t n;
};

static void echo(struct vk_thread *that)
{
	struct echo_self *self;

	vk_begin();
	for (;;) {
		started++;
		vk_read_some(self->n, &self->c, 1);
		if (self->n == 0)
			break;
		bytes_seen[0]++;
		vk_write(&self->c, 1);
		vk_flush();
	}
	vk_end();
}

#define ECHO_ROUNDS 5

static void echo_step(void *ctx_ptr)
{
	char c;

	(void)ctx_ptr;
	if (drained_after_too_many_calls())
		return;
	if (st.step == 0 && started == 1) {
		st.dispatches_before = vk_kern_stat(st.kern_ptr, VK_STAT_DISPATCHES);
		st.mprotects_before = vk_kern_stat(st.kern_ptr, VK_STAT_MPROTECTS);
		st.step = 1;
	}
	if (st.step < 1 || started != st.step)
		return;
	/* The process answered the last byte and waits for the next. */
	if (st.step > 1)
		assert_int_equal(read(st.client_fd[0], &c, 1), 1);
	if (st.step <= ECHO_ROUNDS) {
		assert_int_equal(write(st.client_fd[0], "e", 1), 1);
		st.step++;
		return;
	}
	st.dispatches_after = vk_kern_stat(st.kern_ptr, VK_STAT_DISPATCHES);
	st.mprotects_after = vk_kern_stat(st.kern_ptr, VK_STAT_MPROTECTS);
	st.step = -1;
	vk_kern_drain(st.kern_ptr);
}

static void test_redispatch_costs_no_mprotect(void **state)
{
	struct vk_service *service_ptr = vk_service_create("echo", echo, NULL);

	(void)state;
	vk_service_set_isolation(service_ptr, VK_ISOLATION_ALWAYS);
	run_kernel(service_ptr, 1, 0, echo_step);
	assert_int_equal(st.step, -1);
	assert_int_equal(bytes_seen[0], ECHO_ROUNDS);
	assert_true(st.dispatches_after - st.dispatches_before >= ECHO_ROUNDS);
	assert_int_equal(st.mprotects_after - st.mprotects_before, 0);
	finish(service_ptr);
}

/* ---- two isolated processes, both ready: the one still shown goes first ---- */

static void shown_first_step(void *ctx_ptr)
{
	(void)ctx_ptr;
	if (drained_after_too_many_calls())
		return;
	if (st.step == 0 && started == 2) {
		/* Dispatched in accept order, the second is shown now; the
		 * first gets its byte first, so it comes first in the wait. */
		st.mprotects_before = vk_kern_stat(st.kern_ptr, VK_STAT_MPROTECTS);
		assert_int_equal(write(st.client_fd[0], "a", 1), 1);
		assert_int_equal(write(st.client_fd[1], "b", 1), 1);
		st.step = 1;
	} else if (st.step == 1 && bytes_seen[0] == 2) {
		st.mprotects_after = vk_kern_stat(st.kern_ptr, VK_STAT_MPROTECTS);
		st.step = 2;
		vk_kern_drain(st.kern_ptr);
	}
}

static void test_shown_process_runs_first(void **state)
{
	struct vk_service *service_ptr = vk_service_create("echo", echo, NULL);

	(void)state;
	vk_service_set_isolation(service_ptr, VK_ISOLATION_ALWAYS);
	run_kernel(service_ptr, 2, 0, shown_first_step);
	assert_int_equal(st.step, 2);
	/* Hide the second and show the first: one switch, not two. */
	assert_int_equal(st.mprotects_after - st.mprotects_before, 2);
	finish(service_ptr);
}

/* ---- two isolated processes: the other one's turn hides the first ---- */

struct victim_self {
	volatile long canary;
	char c;
	size_t n;
};

/* The first connection publishes where its heap holds a canary; the
 * second writes there. */
static void poke(struct vk_thread *that)
{
	struct victim_self *self;

	vk_begin();
	if (!victim_ptr) {
		self->canary = 42;
		victim_ptr = &self->canary;
		started++;
		vk_read_some(self->n, &self->c, 1);
		victim_intact = self->canary == 42;
	} else {
		*victim_ptr = 666;
		bytes_seen[1] = 1; /* not reached with isolation */
	}
	vk_end();
}

static void poke_step(void *ctx_ptr)
{
	(void)ctx_ptr;
	if (drained_after_too_many_calls())
		return;
	/* The victim waits, the poker is gone. */
	if (st.step == 0 && started >= 1 && vk_kern_stat(st.kern_ptr, VK_STAT_PROCS_LIVE) == 1 &&
	    vk_kern_stat(st.kern_ptr, VK_STAT_ACCEPTED) == 2) {
		assert_int_equal(write(st.client_fd[0], "v", 1), 1);
		st.step = 1;
	} else if (st.step == 1 && victim_intact >= 0) {
		st.step = 2;
		vk_kern_drain(st.kern_ptr);
	}
}

static void test_other_process_hides_the_last_one(void **state)
{
	struct vk_service *service_ptr = vk_service_create("poke", poke, NULL);

	(void)state;
	vk_service_set_isolation(service_ptr, VK_ISOLATION_ALWAYS);
	run_kernel(service_ptr, 2, 0, poke_step);
	assert_int_equal(st.step, 2);
	assert_int_equal(vk_kern_stat(st.kern_ptr, VK_STAT_PROCS_KILLED), 1);
	assert_int_equal(bytes_seen[1], 0);
	assert_int_equal(victim_intact, 1);
	finish(service_ptr);
}

/* ---- a new isolated process is hidden before its first dispatch ---- */

/* The first connection, on its byte, overwrites the start of every other
 * process's heap (found the way no process should: in the kernel's
 * table); the others echo. */
static void scribbler(struct vk_thread *that)
{
	struct vk_kern *kern_ptr = vk_kern_current_ptr;
	struct echo_self *self;

	vk_begin();
	if (started++ == 0) {
		vk_read_some(self->n, &self->c, 1);
		for (int id = 0; id < vk_proc_table_slots(&kern_ptr->procs); id++) {
			struct vk_proc *proc_ptr = vk_proc_table_get(&kern_ptr->procs, id);

			if (proc_ptr->in_use && proc_ptr != kern_ptr->current_proc_ptr)
				memset(vk_heap_start(&proc_ptr->heap), 0xff, 256);
		}
		bytes_seen[1] = 1; /* not reached with isolation */
	} else {
		vk_read_some(self->n, &self->c, 1);
		bytes_seen[0] += (int)self->n;
		vk_write(&self->c, 1);
		vk_flush();
	}
	vk_end();
}

static void scribbler_step(void *ctx_ptr)
{
	char c;

	(void)ctx_ptr;
	if (drained_after_too_many_calls())
		return;
	if (st.step == 0 && started == 1) {
		/* The scribbler's byte first, then a new connection: in the
		 * next wait the scribbler runs while the newcomer, accepted
		 * in that wait, has not run yet. */
		assert_int_equal(write(st.client_fd[0], "s", 1), 1);
		st.client_fd[1] = vk_test_connect_loopback(vk_service_port(st.service_ptr));
		assert_true(st.client_fd[1] >= 0);
		st.step = 1;
	} else if (st.step == 1 && started == 2) {
		assert_int_equal(write(st.client_fd[1], "n", 1), 1);
		st.step = 2;
	} else if (st.step == 2 && bytes_seen[0] == 1) {
		assert_int_equal(read(st.client_fd[1], &c, 1), 1);
		st.step = 3;
		vk_kern_drain(st.kern_ptr);
	}
}

static void test_new_process_hidden_before_it_runs(void **state)
{
	struct vk_service *service_ptr = vk_service_create("scribbler", scribbler, NULL);

	(void)state;
	vk_service_set_isolation(service_ptr, VK_ISOLATION_ALWAYS);
	run_kernel(service_ptr, 1, 0, scribbler_step);
	assert_int_equal(st.step, 3);
	assert_int_equal(bytes_seen[1], 0);
	assert_int_equal(vk_kern_stat(st.kern_ptr, VK_STAT_PROCS_KILLED), 1);
	finish(service_ptr);
}

/* ---- UNTRUSTED isolation: only untrusted code is kept out ---- */

static int poker_untrusted;
static int victim_checks;

/* The first connection publishes a canary and checks it on each byte; the
 * second (untrusted, if poker_untrusted) waits for a byte, then writes
 * over the canary. The wait puts the victim's dispatch in between. */
static void victim_or_poker(struct vk_thread *that)
{
	struct victim_self *self;

	vk_begin();
	if (!victim_ptr) {
		self->canary = 42;
		victim_ptr = &self->canary;
		started++;
		for (;;) {
			vk_read_some(self->n, &self->c, 1);
			if (self->n == 0)
				break;
			victim_intact = self->canary == 42;
			victim_checks++;
		}
	} else {
		if (poker_untrusted)
			vk_sys_untrusted_begin();
		started++;
		vk_read_some(self->n, &self->c, 1);
		*victim_ptr = 666;
		bytes_seen[1] = 1; /* not reached when untrusted */
		vk_sys_untrusted_end();
	}
	vk_end();
}

static void victim_or_poker_step(void *ctx_ptr)
{
	(void)ctx_ptr;
	if (drained_after_too_many_calls())
		return;
	if (st.step == 0 && started == 2) {
		/* The victim runs (trusted: its heap stays visible after). */
		st.mprotects_before = vk_kern_stat(st.kern_ptr, VK_STAT_MPROTECTS);
		assert_int_equal(write(st.client_fd[0], "v", 1), 1);
		st.step = 1;
	} else if (st.step == 1 && victim_checks == 1) {
		assert_int_equal(write(st.client_fd[1], "p", 1), 1);
		st.step = 2;
	} else if (st.step == 2 && vk_kern_stat(st.kern_ptr, VK_STAT_PROCS_LIVE) == 1) {
		/* The poker is gone: the victim looks at its canary again. */
		assert_int_equal(write(st.client_fd[0], "v", 1), 1);
		st.step = 3;
	} else if (st.step == 3 && victim_checks == 2) {
		st.mprotects_after = vk_kern_stat(st.kern_ptr, VK_STAT_MPROTECTS);
		st.step = 4;
		vk_kern_drain(st.kern_ptr);
	}
}

static void run_victim_and_poker(int untrusted)
{
	struct vk_service *service_ptr = vk_service_create("poke", victim_or_poker, NULL);

	poker_untrusted = untrusted;
	victim_checks = 0;
	vk_service_set_isolation(service_ptr, VK_ISOLATION_UNTRUSTED);
	run_kernel(service_ptr, 2, 0, victim_or_poker_step);
	assert_int_equal(st.step, 4);
	if (untrusted) {
		assert_int_equal(vk_kern_stat(st.kern_ptr, VK_STAT_PROCS_KILLED), 1);
		assert_int_equal(bytes_seen[1], 0);
		assert_int_equal(victim_intact, 1);
		/* The poker's begin hid the victim: show it for its byte,
		 * hide it again for the poker's next dispatch, show it after. */
		assert_int_equal(st.mprotects_after - st.mprotects_before, 3);
	} else {
		assert_int_equal(vk_kern_stat(st.kern_ptr, VK_STAT_PROCS_KILLED), 0);
		assert_int_equal(bytes_seen[1], 1);
		assert_int_equal(victim_intact, 0);
		assert_int_equal(vk_kern_stat(st.kern_ptr, VK_STAT_MPROTECTS), 0);
	}
	finish(service_ptr);
}

static void test_untrusted_code_finds_other_heaps_hidden(void **state)
{
	(void)state;
	run_victim_and_poker(1);
}

static void test_trusted_code_costs_no_mprotect(void **state)
{
	(void)state;
	run_victim_and_poker(0);
}

/* ---- a caught fault is remembered for the whole process ---- */

static int faulted_before = -1;
static int faulted_after = -1;
static int *volatile null_ptr;

static void faulter(struct vk_thread *that)
{
	struct echo_self *self;

	vk_begin();
	vk_catch
	{
		faulted_after = vk_sys_faulted();
	}
	faulted_before = vk_sys_faulted();
	*null_ptr = 1;
	vk_end();
}

static void faulter_step(void *ctx_ptr)
{
	(void)ctx_ptr;
	if (drained_after_too_many_calls() || faulted_after < 0)
		return;
	st.step = 1;
	vk_kern_drain(st.kern_ptr);
}

static void test_caught_fault_is_remembered(void **state)
{
	struct vk_service *service_ptr = vk_service_create("faulter", faulter, NULL);

	(void)state;
	run_kernel(service_ptr, 1, 0, faulter_step);
	assert_int_equal(st.step, 1);
	assert_int_equal(faulted_before, 0);
	assert_int_equal(faulted_after, SIGSEGV);
	assert_int_equal(vk_kern_stat(st.kern_ptr, VK_STAT_FAULTS_CAUGHT), 1);
	finish(service_ptr);
}

/* ---- the clock: read once per dispatch ---- */

#define CLOCK_MOVE_NS 2000000u /* how far the clock moves during one dispatch */
#define CLOCK_SLEEP_MS 5

static uint64_t clock_first, clock_again, clock_slept, clock_raw_before, clock_raw_after;

static void clock_reader(struct vk_thread *that)
{
	struct {
		int unused;
	} * self;

	vk_begin();
	clock_raw_before = vk_now_ns();
	/* The first ask reads the clock... */
	clock_first = vk_sys_now_ns();
	/* ...which moves on while this dispatch runs... */
	while (vk_now_ns() < clock_raw_before + CLOCK_MOVE_NS)
		;
	clock_again = vk_sys_now_ns();
	/* ...and a sleep counts from that read. */
	vk_sleep(CLOCK_SLEEP_MS);
	clock_slept = vk_sys_now_ns();
	clock_raw_after = vk_now_ns();
	vk_end();
}

static void clock_step(void *ctx_ptr)
{
	(void)ctx_ptr;
	if (drained_after_too_many_calls() || !clock_slept)
		return;
	st.step = 1;
	vk_kern_drain(st.kern_ptr);
}

static void test_clock_read_once_per_dispatch(void **state)
{
	struct vk_service *service_ptr = vk_service_create("clock", clock_reader, NULL);
	uint64_t sleep_ns = CLOCK_SLEEP_MS * 1000000ull;

	(void)state;
	clock_first = clock_again = clock_slept = clock_raw_before = clock_raw_after = 0;
	run_kernel(service_ptr, 1, 0, clock_step);
	assert_int_equal(st.step, 1);
	/* One dispatch, one time: the first ask's. */
	assert_true(clock_first != 0);
	assert_true(clock_again == clock_first);
	assert_true(clock_first >= clock_raw_before);
	/* The next dispatch has the time of its own start, and the timer
	 * fired no earlier than asked. */
	assert_true(clock_slept >= clock_first + sleep_ns);
	assert_true(clock_raw_after >= clock_first + sleep_ns);
	assert_true(clock_slept <= clock_raw_after);
	/* Outside a dispatch the time is read afresh. */
	assert_true(vk_sys_now_ns() >= clock_raw_after);
	finish(service_ptr);
}

/* ---- a deadline that moves later ---- */

#define FIRST_DEADLINE_MS 50
#define SECOND_DEADLINE_MS 150

static uint64_t second_wait_ns, timed_out_ns;
static int timeout_error;

/* Reads one byte under a short deadline, then waits under a longer one,
 * which passes. */
static void deadline_mover(struct vk_thread *that)
{
	struct echo_self *self;

	vk_begin();
	vk_catch
	{
		timeout_error = vk_error();
		timed_out_ns = vk_now_ns();
	}
	vk_deadline(FIRST_DEADLINE_MS);
	started++;
	vk_read_some(self->n, &self->c, 1);
	bytes_seen[0] += (int)self->n;
	vk_deadline(SECOND_DEADLINE_MS);
	second_wait_ns = vk_now_ns();
	vk_read_some(self->n, &self->c, 1);
	vk_end();
}

static void deadline_step(void *ctx_ptr)
{
	(void)ctx_ptr;
	if (drained_after_too_many_calls())
		return;
	if (st.step == 0 && started == 1) {
		/* Blocked under the first deadline: the byte goes now. */
		st.dispatches_before = vk_kern_stat(st.kern_ptr, VK_STAT_DISPATCHES);
		assert_int_equal(write(st.client_fd[0], "d", 1), 1);
		st.step = 1;
	} else if (st.step == 1 && timed_out_ns) {
		st.dispatches_after = vk_kern_stat(st.kern_ptr, VK_STAT_DISPATCHES);
		st.step = 2;
		vk_kern_drain(st.kern_ptr);
	}
}

/* The timer entry is left at the first deadline when the second, later
 * one is set: the process is woken there once, early, finds nothing due,
 * and times out at the second deadline, never before it. */
static void test_later_deadline_wakes_early_once_never_late(void **state)
{
	struct vk_service *service_ptr = vk_service_create("deadline", deadline_mover, NULL);

	(void)state;
	second_wait_ns = timed_out_ns = 0;
	timeout_error = 0;
	run_kernel(service_ptr, 1, 0, deadline_step);
	assert_int_equal(st.step, 2);
	assert_int_equal(bytes_seen[0], 1);
	assert_int_equal(timeout_error, ETIMEDOUT);
	assert_true(timed_out_ns >= second_wait_ns + SECOND_DEADLINE_MS * 1000000ull);
	/* the byte, the early wake at the first deadline, the timeout */
	assert_int_equal(st.dispatches_after - st.dispatches_before, 3);
	finish(service_ptr);
}

/* ---- a limit over a child's idle timeout ---- */

#define LIMIT_MS 100
#define CHILD_IDLE_MS 20000

static uint64_t limit_set_ns;

static void idle_reader(struct vk_thread *that)
{
	struct echo_self *self;

	vk_begin();
	vk_idle_timeout(CHILD_IDLE_MS);
	vk_read_some(self->n, &self->c, 1);
	vk_end();
}

/* The limit the thread sets caps the wait of the child it calls, whose
 * own idle timeout is far longer. */
static void limited_caller(struct vk_thread *that)
{
	vk_begin_stateless();
	vk_catch
	{
		timeout_error = vk_error();
		timed_out_ns = vk_now_ns();
	}
	limit_set_ns = vk_sys_now_ns();
	vk_limit_at(limit_set_ns + LIMIT_MS * 1000000ull);
	started++;
	vk_call(idle_reader, NULL);
	vk_end();
}

static void limit_step(void *ctx_ptr)
{
	(void)ctx_ptr;
	if (drained_after_too_many_calls())
		return;
	if (st.step == 0 && timed_out_ns) {
		st.step = 1;
		vk_kern_drain(st.kern_ptr);
	}
}

static void test_limit_caps_a_called_childs_idle_timeout(void **state)
{
	struct vk_service *service_ptr = vk_service_create("limit", limited_caller, NULL);

	(void)state;
	timed_out_ns = 0;
	timeout_error = 0;
	run_kernel(service_ptr, 1, 0, limit_step);
	assert_int_equal(st.step, 1);
	assert_int_equal(timeout_error, ETIMEDOUT);
	/* never before the limit; long before the child's idle timeout */
	assert_true(timed_out_ns >= limit_set_ns + LIMIT_MS * 1000000ull);
	assert_true(timed_out_ns < limit_set_ns + CHILD_IDLE_MS * 1000000ull / 2);
	finish(service_ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_ready_fds_one_dispatch),
		cmocka_unit_test(test_redispatch_costs_no_mprotect),
		cmocka_unit_test(test_shown_process_runs_first),
		cmocka_unit_test(test_other_process_hides_the_last_one),
		cmocka_unit_test(test_new_process_hidden_before_it_runs),
		cmocka_unit_test(test_caught_fault_is_remembered),
		cmocka_unit_test(test_untrusted_code_finds_other_heaps_hidden),
		cmocka_unit_test(test_trusted_code_costs_no_mprotect),
		cmocka_unit_test(test_clock_read_once_per_dispatch),
		cmocka_unit_test(test_later_deadline_wakes_early_once_never_late),
		cmocka_unit_test(test_limit_caps_a_called_childs_idle_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
