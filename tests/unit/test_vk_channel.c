/* vk_channel: the single-producer single-consumer ring between kernels.
 * Order, capacity, the eventfd that wakes the consumer, and a producer and
 * consumer in two processes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vk_channel.h"

#define CAPACITY 8
#define FORK_CAPACITY 64
#define FORK_MESSAGES 10000
#define WAIT_MS 5000
#define HANG_LIMIT_S 2
#define PRODUCER_LIMIT_S 30

static struct vk_msg msg_numbered(uint64_t n)
{
	struct vk_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = VK_MSG_USER;
	msg.from = 1;
	msg.arg[0] = n;
	return msg;
}

static int fd_readable_now(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/* How many pushes succeed on an empty channel before it is full. */
static int pushes_until_full(struct vk_channel *channel_ptr)
{
	struct vk_msg msg = msg_numbered(0);
	int pushed = 0;

	while (vk_channel_push(channel_ptr, &msg) == 0)
		pushed++;
	return pushed;
}

static void test_new_channel_is_empty(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(CAPACITY);
	struct vk_msg msg;

	(void)state;
	assert_non_null(channel_ptr);
	assert_int_equal(vk_channel_len(channel_ptr), 0);
	assert_true(vk_channel_fd(channel_ptr) >= 0);
	assert_false(fd_readable_now(vk_channel_fd(channel_ptr)));
	errno = 0;
	assert_int_equal(vk_channel_pop(channel_ptr, &msg), -1);
	assert_int_equal(errno, EAGAIN);
	vk_channel_destroy(channel_ptr);
}

static void test_message_round_trips_whole(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(CAPACITY);
	struct vk_msg in = msg_numbered(7), out;

	(void)state;
	in.type = VK_MSG_RELOAD;
	in.from = -3;
	in.arg[1] = UINT64_MAX;
	in.arg[2] = 42;
	strcpy(in.text, "reload please");
	assert_int_equal(vk_channel_push(channel_ptr, &in), 0);
	assert_int_equal(vk_channel_len(channel_ptr), 1);
	assert_int_equal(vk_channel_pop(channel_ptr, &out), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	assert_int_equal(vk_channel_len(channel_ptr), 0);
	vk_channel_destroy(channel_ptr);
}

static void test_pop_returns_pushes_in_order(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(CAPACITY);
	struct vk_msg msg;

	(void)state;
	for (uint64_t i = 0; i < 5; i++) {
		msg = msg_numbered(i);
		assert_int_equal(vk_channel_push(channel_ptr, &msg), 0);
	}
	assert_int_equal(vk_channel_len(channel_ptr), 5);
	for (uint64_t i = 0; i < 5; i++) {
		assert_int_equal(vk_channel_pop(channel_ptr, &msg), 0);
		assert_int_equal(msg.arg[0], i);
	}
	assert_int_equal(vk_channel_pop(channel_ptr, &msg), -1);
	vk_channel_destroy(channel_ptr);
}

static void test_order_holds_across_many_wraps(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(4);
	uint64_t next_in = 0, next_out = 0;
	struct vk_msg msg;

	(void)state;
	while (next_out < 1000) {
		for (int i = 0; i < 3; i++) {
			msg = msg_numbered(next_in++);
			assert_int_equal(vk_channel_push(channel_ptr, &msg), 0);
		}
		while (vk_channel_pop(channel_ptr, &msg) == 0)
			assert_int_equal(msg.arg[0], next_out++);
	}
	vk_channel_destroy(channel_ptr);
}

static void test_push_to_full_channel_fails_with_eagain(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(CAPACITY);
	struct vk_msg msg = msg_numbered(0);

	(void)state;
	for (int i = 0; i < CAPACITY; i++)
		assert_int_equal(vk_channel_push(channel_ptr, &msg), 0);
	errno = 0;
	assert_int_equal(vk_channel_push(channel_ptr, &msg), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(vk_channel_len(channel_ptr), CAPACITY);
	vk_channel_destroy(channel_ptr);
}

static void test_pop_from_full_channel_makes_room(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(CAPACITY);
	struct vk_msg msg;

	(void)state;
	assert_int_equal(pushes_until_full(channel_ptr), CAPACITY);
	assert_int_equal(vk_channel_pop(channel_ptr, &msg), 0);
	msg = msg_numbered(1);
	assert_int_equal(vk_channel_push(channel_ptr, &msg), 0);
	assert_int_equal(vk_channel_push(channel_ptr, &msg), -1);
	vk_channel_destroy(channel_ptr);
}

static void test_capacity_rounds_up_to_power_of_two(void **state)
{
	struct vk_channel *five = vk_channel_create(5);
	struct vk_channel *nine = vk_channel_create(9);
	struct vk_channel *one = vk_channel_create(1);

	(void)state;
	assert_int_equal(pushes_until_full(five), 8);
	assert_int_equal(pushes_until_full(nine), 16);
	assert_int_equal(pushes_until_full(one), 1);
	vk_channel_destroy(five);
	vk_channel_destroy(nine);
	vk_channel_destroy(one);
}

static void test_capacity_zero_holds_one(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(0);

	(void)state;
	assert_non_null(channel_ptr);
	assert_int_equal(pushes_until_full(channel_ptr), 1);
	vk_channel_destroy(channel_ptr);
}

/* 2^31 + 1 has no power of two above it in 32 bits: create must give up,
 * not loop. Run in a child so a hang ends by alarm instead of stalling. */
static void test_capacity_past_2_pow_31_fails_without_hanging(void **state)
{
	int status;
	pid_t pid = fork();

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(HANG_LIMIT_S);
		_exit(vk_channel_create((1u << 31) + 1) == NULL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_false(WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_push_makes_eventfd_readable(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(CAPACITY);
	struct vk_msg msg = msg_numbered(0);

	(void)state;
	assert_false(fd_readable_now(vk_channel_fd(channel_ptr)));
	vk_channel_push(channel_ptr, &msg);
	assert_true(fd_readable_now(vk_channel_fd(channel_ptr)));
	vk_channel_destroy(channel_ptr);
}

static void test_clear_resets_eventfd_and_keeps_messages(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(CAPACITY);
	struct vk_msg msg = msg_numbered(0);

	(void)state;
	vk_channel_push(channel_ptr, &msg);
	vk_channel_push(channel_ptr, &msg);
	vk_channel_clear(channel_ptr);
	assert_false(fd_readable_now(vk_channel_fd(channel_ptr)));
	assert_int_equal(vk_channel_len(channel_ptr), 2);
	vk_channel_push(channel_ptr, &msg);
	assert_true(fd_readable_now(vk_channel_fd(channel_ptr)));
	vk_channel_destroy(channel_ptr);
}

static void test_failed_push_does_not_signal(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(CAPACITY);
	struct vk_msg msg = msg_numbered(0);

	(void)state;
	pushes_until_full(channel_ptr);
	vk_channel_clear(channel_ptr);
	assert_int_equal(vk_channel_push(channel_ptr, &msg), -1);
	assert_false(fd_readable_now(vk_channel_fd(channel_ptr)));
	vk_channel_destroy(channel_ptr);
}

static void test_reset_drops_unread_messages(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(CAPACITY);
	struct vk_msg msg = msg_numbered(1);

	(void)state;
	vk_channel_push(channel_ptr, &msg);
	vk_channel_push(channel_ptr, &msg);
	vk_channel_reset(channel_ptr);
	assert_int_equal(vk_channel_len(channel_ptr), 0);
	assert_false(fd_readable_now(vk_channel_fd(channel_ptr)));
	assert_int_equal(vk_channel_pop(channel_ptr, &msg), -1);
	vk_channel_destroy(channel_ptr);
}

static void test_reset_channel_takes_full_capacity_again(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(CAPACITY);
	struct vk_msg msg = msg_numbered(9);

	(void)state;
	pushes_until_full(channel_ptr);
	vk_channel_reset(channel_ptr);
	assert_int_equal(pushes_until_full(channel_ptr), CAPACITY);
	assert_int_equal(vk_channel_pop(channel_ptr, &msg), 0);
	assert_int_equal(msg.arg[0], 0);
	vk_channel_destroy(channel_ptr);
}

/* Child side: pushes 0..FORK_MESSAGES-1, waiting out a full channel. */
static void push_numbers_and_exit(struct vk_channel *channel_ptr)
{
	/* If the parent fails and stops popping, do not spin forever. */
	alarm(PRODUCER_LIMIT_S);
	for (uint64_t i = 0; i < FORK_MESSAGES; i++) {
		struct vk_msg msg = msg_numbered(i);

		while (vk_channel_push(channel_ptr, &msg) == -1) {
			if (errno != EAGAIN)
				_exit(1);
			sched_yield();
		}
	}
	_exit(0);
}

static void test_messages_cross_fork_in_order(void **state)
{
	struct vk_channel *channel_ptr = vk_channel_create(FORK_CAPACITY);
	struct pollfd pfd = {.events = POLLIN};
	uint64_t next = 0;
	struct vk_msg msg;
	int status;
	pid_t pid;

	(void)state;
	assert_non_null(channel_ptr);
	pfd.fd = vk_channel_fd(channel_ptr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		push_numbers_and_exit(channel_ptr);
	while (next < FORK_MESSAGES) {
		assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
		vk_channel_clear(channel_ptr);
		while (vk_channel_pop(channel_ptr, &msg) == 0) {
			assert_int_equal(msg.arg[0], next);
			next++;
		}
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(vk_channel_len(channel_ptr), 0);
	vk_channel_destroy(channel_ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_channel_is_empty),
		cmocka_unit_test(test_message_round_trips_whole),
		cmocka_unit_test(test_pop_returns_pushes_in_order),
		cmocka_unit_test(test_order_holds_across_many_wraps),
		cmocka_unit_test(test_push_to_full_channel_fails_with_eagain),
		cmocka_unit_test(test_pop_from_full_channel_makes_room),
		cmocka_unit_test(test_capacity_rounds_up_to_power_of_two),
		cmocka_unit_test(test_capacity_zero_holds_one),
		cmocka_unit_test(test_capacity_past_2_pow_31_fails_without_hanging),
		cmocka_unit_test(test_push_makes_eventfd_readable),
		cmocka_unit_test(test_clear_resets_eventfd_and_keeps_messages),
		cmocka_unit_test(test_failed_push_does_not_signal),
		cmocka_unit_test(test_reset_drops_unread_messages),
		cmocka_unit_test(test_reset_channel_takes_full_capacity_again),
		cmocka_unit_test(test_messages_cross_fork_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
