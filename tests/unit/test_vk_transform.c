/* A transform (TLS, here a toy with the same needs) on a socket's fd: a
 * handshake that yields like any other I/O, a read that must write first,
 * and a write that must read first. Each waits for the fd events the
 * transform names, and a wrong event does not end the wait. The test plays
 * the peer and the kernel over a socketpair. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>

#include "vk_coro.h"
#include "vk_pipe.h"
#include "vk_pipe_s.h"
#include "vk_test_proc.h"
#include "vk_vectoring.h"

/* The toy: its handshake sends "HI" and then needs one byte "K" back.
 * `stall_out` makes a write (of the handshake, or of a read or a write
 * that must write first) find the fd full; `read_needs_out` makes the
 * next read write first, `write_needs_in` makes the next write read
 * first (as a TLS key update or renegotiation would). */
struct toy {
	int stall_out;
	int read_needs_out;
	int write_needs_in;
	int sent_hi;
	int done;
	int steps;
	int rx_waits; /* what the last read or step that would block waits for */
	int tx_waits;
};

static int toy_waits_for(void *ctx_ptr, int direction)
{
	struct toy *toy = ctx_ptr;

	return direction == VK_EV_IN ? toy->rx_waits : toy->tx_waits;
}

static int toy_handshake(void *ctx_ptr, int fd)
{
	struct toy *toy = ctx_ptr;
	char c;

	toy->steps++;
	if (toy->done)
		return 0;
	if (!toy->sent_hi) {
		if (toy->stall_out)
			return toy->rx_waits = VK_EV_OUT;
		if (send(fd, "HI", 2, MSG_NOSIGNAL) != 2)
			return -EIO;
		toy->sent_hi = 1;
	}
	if (recv(fd, &c, 1, 0) != 1)
		return errno == EAGAIN ? (toy->rx_waits = VK_EV_IN) : -EIO;
	if (c != 'K')
		return -EPROTO;
	toy->done = 1;
	return 0;
}

static long toy_recv(void *ctx_ptr, int fd, struct vk_vectoring *ring_ptr)
{
	struct toy *toy = ctx_ptr;

	if (toy->read_needs_out) {
		if (toy->stall_out) {
			toy->rx_waits = VK_EV_OUT;
			vk_vectoring_set_blocked(ring_ptr, 1);
			errno = EAGAIN;
			return -1;
		}
		toy->read_needs_out = 0;
	}
	toy->rx_waits = VK_EV_IN;
	return vk_vectoring_recv_fd(ring_ptr, fd);
}

static long toy_send(void *ctx_ptr, int fd, struct vk_vectoring *ring_ptr)
{
	struct toy *toy = ctx_ptr;
	char c;

	if (toy->write_needs_in) {
		if (recv(fd, &c, 1, 0) != 1) {
			toy->tx_waits = VK_EV_IN;
			vk_vectoring_set_blocked(ring_ptr, 1);
			errno = EAGAIN;
			return -1;
		}
		toy->write_needs_in = 0;
	}
	toy->tx_waits = VK_EV_OUT;
	return vk_vectoring_send_fd(ring_ptr, fd);
}

static const struct vk_transform_ops toy_ops = {
	.recv = toy_recv,
	.send = toy_send,
	.waits_for = toy_waits_for,
	.handshake = toy_handshake,
};

struct job {
	char out[8];
	size_t got;
	int error;
	int ended;
};

/* Handshake, then read three bytes. */
static void handshake_then_read(struct vk_thread *that)
{
	struct job *job = vk_thread_arg(that);
	struct {
		int unused;
	} * self;

	vk_begin();
	vk_catch
	{
		job->error = vk_error();
		job->ended = 1;
	}
	vk_handshake_on(that->socket_ptr);
	vk_read(job->got, job->out, 3);
	job->ended = 1;
	vk_end();
}

/* Write three bytes and flush them. */
static void write_three(struct vk_thread *that)
{
	struct job *job = vk_thread_arg(that);
	struct {
		int unused;
	} * self;

	vk_begin();
	vk_write_literal("out");
	vk_flush();
	job->ended = 1;
	vk_end();
}

static struct vk_socket *toy_socket(struct vk_test_proc *tp, int fds[2], struct toy *toy)
{
	struct vk_socket *socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);

	if (socket_ptr) {
		vk_pipe_set_transform(vk_socket_rx_pipe(socket_ptr), &toy_ops, toy);
		vk_pipe_set_transform(vk_socket_tx_pipe(socket_ptr), &toy_ops, toy);
	}
	return socket_ptr;
}

static void run_alive(struct vk_test_proc *tp)
{
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_test_blocks(tp), 1);
}

/* The handshake's first step cannot write: it waits for the fd to take
 * bytes, not for input, and input does not run it again. Then it waits
 * for the answer, and the read goes on in the same thread. */
static void test_handshake_waits_for_what_each_step_names(void **state)
{
	struct vk_test_proc *tp = *state;
	struct toy toy = {.stall_out = 1};
	struct job job = {0};
	char hi[4];
	int fds[2];
	struct vk_socket *socket_ptr = toy_socket(tp, fds, &toy);

	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, handshake_then_read, &job, socket_ptr));
	run_alive(tp);
	assert_int_equal(tp->wait_count, 1);
	assert_int_equal(tp->waits[0].fd, fds[0]);
	assert_int_equal(tp->waits[0].events, VK_EV_OUT);
	assert_int_equal(toy.steps, 1);

	/* Input is not what the step waits for: it does not run. */
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	run_alive(tp);
	assert_int_equal(toy.steps, 1);

	toy.stall_out = 0;
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_OUT);
	run_alive(tp);
	assert_int_equal(toy.steps, 2);
	assert_int_equal(read(fds[1], hi, sizeof(hi)), 2);
	assert_memory_equal(hi, "HI", 2);
	assert_int_equal(tp->waits[0].events, VK_EV_IN);

	/* A writable fd is not what it waits for now. */
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_OUT);
	run_alive(tp);
	assert_int_equal(toy.steps, 2);

	assert_int_equal(write(fds[1], "Kabc", 4), 4);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.error, 0);
	assert_int_equal(job.got, 3);
	assert_memory_equal(job.out, "abc", 3);
}

/* A step that fails raises its error in the thread. */
static void test_handshake_failure_raises(void **state)
{
	struct vk_test_proc *tp = *state;
	struct toy toy = {0};
	struct job job = {0};
	int fds[2];
	struct vk_socket *socket_ptr = toy_socket(tp, fds, &toy);

	assert_non_null(socket_ptr);
	assert_int_equal(write(fds[1], "X", 1), 1);
	assert_non_null(vk_test_start(tp, handshake_then_read, &job, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.error, EPROTO);
	assert_int_equal(job.got, 0);
}

/* A socket with no transform has no handshake: the read follows at once. */
static void test_no_transform_no_handshake(void **state)
{
	struct vk_test_proc *tp = *state;
	struct job job = {0};
	int fds[2];
	struct vk_socket *socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);

	assert_non_null(socket_ptr);
	assert_int_equal(write(fds[1], "xyz", 3), 3);
	assert_non_null(vk_test_start(tp, handshake_then_read, &job, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.error, 0);
	assert_memory_equal(job.out, "xyz", 3);
}

/* A read that must write first waits for the fd to take bytes; input
 * alone does not end that wait. */
static void test_read_that_must_write_waits_for_out(void **state)
{
	struct vk_test_proc *tp = *state;
	struct toy toy = {.done = 1, .stall_out = 1, .read_needs_out = 1};
	struct job job = {0};
	int fds[2];
	struct vk_socket *socket_ptr = toy_socket(tp, fds, &toy);

	assert_non_null(socket_ptr);
	assert_int_equal(write(fds[1], "abc", 3), 3);
	assert_non_null(vk_test_start(tp, handshake_then_read, &job, socket_ptr));
	run_alive(tp);
	assert_true(vk_test_waits_on(tp, fds[0], VK_EV_OUT));
	assert_false(vk_test_waits_on(tp, fds[0], VK_EV_IN));

	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	run_alive(tp);
	assert_int_equal(job.got, 0);

	toy.stall_out = 0;
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_OUT);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_memory_equal(job.out, "abc", 3);
}

/* A write that must read first waits for input, not for room to write
 * (the fd has room: waiting for that would spin). */
static void test_write_that_must_read_waits_for_in(void **state)
{
	struct vk_test_proc *tp = *state;
	struct toy toy = {.done = 1, .write_needs_in = 1};
	struct job job = {0};
	char out[4];
	int fds[2];
	struct vk_socket *socket_ptr = toy_socket(tp, fds, &toy);

	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, write_three, &job, socket_ptr));
	run_alive(tp);
	assert_int_equal(tp->wait_count, 1);
	assert_int_equal(tp->waits[0].events, VK_EV_IN);

	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_OUT);
	run_alive(tp);
	assert_int_equal(job.ended, 0);

	assert_int_equal(write(fds[1], "!", 1), 1);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.ended, 1);
	assert_int_equal(read(fds[1], out, sizeof(out)), 3);
	assert_memory_equal(out, "out", 3);
}

#define TRANSFORM_TEST(fn) cmocka_unit_test_setup_teardown(fn, vk_test_setup, vk_test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TRANSFORM_TEST(test_handshake_waits_for_what_each_step_names),
		TRANSFORM_TEST(test_handshake_failure_raises),
		TRANSFORM_TEST(test_no_transform_no_handshake),
		TRANSFORM_TEST(test_read_that_must_write_waits_for_out),
		TRANSFORM_TEST(test_write_that_must_read_waits_for_in),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
