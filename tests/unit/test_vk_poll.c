/* Tests for the poll drivers (vkern/vk_poll*.c): every driver runs the same
 * suite against nonblocking socketpairs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vk_fd.h"
#include "vk_fd_s.h"
#include "vk_poll.h"
#include "vk_poll_s.h"
#include "vk_socket.h"

#define MAX_SEEN 512
#define WAIT_MS 1000

struct fixture {
	const char *driver;
	struct vk_fd_table fds;
	struct vk_poll poll;
	int seen_fd[MAX_SEEN];
	int seen_events[MAX_SEEN];
	int seen;
};

static void record(void *ctx_ptr, struct vk_fd *fd_ptr, int events)
{
	struct fixture *f = ctx_ptr;

	if (f->seen < MAX_SEEN) {
		f->seen_fd[f->seen] = fd_ptr->fd;
		f->seen_events[f->seen] = events;
		f->seen++;
	}
}

static int setup(void **state)
{
	struct fixture *f = *state;

	f->seen = 0;
	assert_int_equal(vk_fd_table_init(&f->fds), 0);
	assert_int_equal(vk_poll_init(&f->poll, f->driver, &f->fds, record, f), 0);
	assert_string_equal(vk_poll_name(&f->poll), f->driver);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vk_poll_fini(&f->poll);
	vk_fd_table_fini(&f->fds);
	return 0;
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static struct vk_fd *watch(struct fixture *f, int fd, int events)
{
	struct vk_fd *fd_ptr = vk_fd_table_get(&f->fds, fd);

	assert_non_null(fd_ptr);
	fd_ptr->kind = VK_FD_CONN;
	fd_ptr->blocked |= events;
	assert_int_equal(vk_poll_want(&f->poll, fd_ptr), 0);
	return fd_ptr;
}

static void unwatch_and_close(struct fixture *f, struct vk_fd *fd_ptr)
{
	int fd = fd_ptr->fd;

	vk_poll_forget(&f->poll, fd_ptr);
	vk_fd_reset(fd_ptr);
	close(fd);
}

static int saw(struct fixture *f, int fd, int events)
{
	for (int i = 0; i < f->seen; i++)
		if (f->seen_fd[i] == fd && (f->seen_events[i] & events))
			return 1;
	return 0;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_readable_after_write(void **state)
{
	struct fixture *f = *state;
	int sv[2];

	pair(sv);
	watch(f, sv[0], VK_EV_IN);
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_true(vk_poll_wait(&f->poll, WAIT_MS) >= 1);
	assert_true(saw(f, sv[0], VK_EV_IN));
	close(sv[0]);
	close(sv[1]);
}

static void test_data_before_registration_is_reported(void **state)
{
	struct fixture *f = *state;
	int sv[2];

	pair(sv);
	assert_int_equal(write(sv[1], "x", 1), 1);
	watch(f, sv[0], VK_EV_IN);
	assert_true(vk_poll_wait(&f->poll, WAIT_MS) >= 1);
	assert_true(saw(f, sv[0], VK_EV_IN));
	close(sv[0]);
	close(sv[1]);
}

static void test_writable(void **state)
{
	struct fixture *f = *state;
	int sv[2];

	pair(sv);
	watch(f, sv[0], VK_EV_OUT);
	assert_true(vk_poll_wait(&f->poll, WAIT_MS) >= 1);
	assert_true(saw(f, sv[0], VK_EV_OUT));
	close(sv[0]);
	close(sv[1]);
}

static void test_hangup_is_reported(void **state)
{
	struct fixture *f = *state;
	int sv[2];

	pair(sv);
	watch(f, sv[0], VK_EV_IN);
	close(sv[1]);
	assert_true(vk_poll_wait(&f->poll, WAIT_MS) >= 1);
	assert_true(saw(f, sv[0], VK_EV_IN | VK_EV_HUP));
	close(sv[0]);
}

/* Nothing to read: the wait times out without an IN event. (Edge-triggered
 * epoll registers both directions and may report OUT: the kernel keeps
 * unasked-for events as pending, so that is allowed.) */
static void test_timeout_without_events(void **state)
{
	struct fixture *f = *state;
	uint64_t start = ms_now();
	int sv[2];

	pair(sv);
	watch(f, sv[0], VK_EV_IN);
	while (ms_now() - start < 50)
		assert_true(vk_poll_wait(&f->poll, 50) >= 0);
	assert_false(saw(f, sv[0], VK_EV_IN));
	close(sv[0]);
	close(sv[1]);
}

/* Re-arming after an event: the next write is reported again. */
static void test_second_event_after_rearm(void **state)
{
	struct fixture *f = *state;
	struct vk_fd *fd_ptr;
	char buf[8];
	int sv[2];

	pair(sv);
	fd_ptr = watch(f, sv[0], VK_EV_IN);
	assert_int_equal(write(sv[1], "a", 1), 1);
	assert_true(vk_poll_wait(&f->poll, WAIT_MS) >= 1);
	assert_int_equal(read(sv[0], buf, sizeof(buf)), 1);
	assert_int_equal(read(sv[0], buf, sizeof(buf)), -1);
	f->seen = 0;
	fd_ptr->blocked = VK_EV_IN;
	assert_int_equal(vk_poll_want(&f->poll, fd_ptr), 0);
	assert_int_equal(write(sv[1], "b", 1), 1);
	assert_true(vk_poll_wait(&f->poll, WAIT_MS) >= 1);
	assert_true(saw(f, sv[0], VK_EV_IN));
	close(sv[0]);
	close(sv[1]);
}

/* An fd closed and its number reused must never get the old fd's events. */
static void test_closed_fd_number_reused_gets_no_stale_event(void **state)
{
	struct fixture *f = *state;
	struct vk_fd *fd_ptr;
	int sv[2], sv2[2], n;

	pair(sv);
	fd_ptr = watch(f, sv[0], VK_EV_IN);
	unwatch_and_close(f, fd_ptr);
	/* The same number again, for a socket nobody waits on. */
	pair(sv2);
	if (sv2[0] != sv[0]) {
		assert_int_equal(dup2(sv2[0], sv[0]), sv[0]);
		close(sv2[0]);
		sv2[0] = sv[0];
	}
	assert_int_equal(write(sv2[1], "x", 1), 1);
	close(sv[1]);
	n = vk_poll_wait(&f->poll, 50);
	assert_true(n >= 0);
	assert_false(saw(f, sv2[0], VK_EV_IN | VK_EV_HUP));
	close(sv2[0]);
	close(sv2[1]);
}

static void test_many_fds(void **state)
{
	struct fixture *f = *state;
	enum { N = 200 };
	int sv[N][2];
	int found = 0;

	for (int i = 0; i < N; i++) {
		pair(sv[i]);
		watch(f, sv[i][0], VK_EV_IN);
	}
	for (int i = 0; i < N; i += 2)
		assert_int_equal(write(sv[i][1], "x", 1), 1);
	for (int tries = 0; tries < 10 && f->seen < N / 2; tries++)
		vk_poll_wait(&f->poll, WAIT_MS);
	for (int i = 0; i < N; i++)
		found += saw(f, sv[i][0], VK_EV_IN);
	assert_int_equal(found, N / 2);
	for (int i = 0; i < N; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
}

static void test_unknown_driver_is_rejected(void **state)
{
	struct vk_fd_table fds;
	struct vk_poll poll;

	(void)state;
	assert_int_equal(vk_fd_table_init(&fds), 0);
	assert_int_equal(vk_poll_init(&poll, "kqueue", &fds, record, NULL), -1);
	assert_int_equal(errno, ENOENT);
	vk_fd_table_fini(&fds);
}

#define DRIVER_TESTS(state)                                                                                          \
	cmocka_unit_test_prestate_setup_teardown(test_readable_after_write, setup, teardown, state),                 \
		cmocka_unit_test_prestate_setup_teardown(test_data_before_registration_is_reported, setup, teardown, \
							 state),                                                     \
		cmocka_unit_test_prestate_setup_teardown(test_writable, setup, teardown, state),                     \
		cmocka_unit_test_prestate_setup_teardown(test_hangup_is_reported, setup, teardown, state),           \
		cmocka_unit_test_prestate_setup_teardown(test_timeout_without_events, setup, teardown, state),       \
		cmocka_unit_test_prestate_setup_teardown(test_second_event_after_rearm, setup, teardown, state),     \
		cmocka_unit_test_prestate_setup_teardown(test_closed_fd_number_reused_gets_no_stale_event, setup,    \
							 teardown, state),                                           \
		cmocka_unit_test_prestate_setup_teardown(test_many_fds, setup, teardown, state)

static struct fixture f_epoll = {.driver = "epoll"};
static struct fixture f_oneshot = {.driver = "epoll-oneshot"};
static struct fixture f_poll = {.driver = "poll"};
static struct fixture f_aio = {.driver = "aio"};
static struct fixture f_uring = {.driver = "uring"};

int main(void)
{
	const struct CMUnitTest tests[] = {
		DRIVER_TESTS(&f_epoll), DRIVER_TESTS(&f_oneshot), DRIVER_TESTS(&f_poll),
		DRIVER_TESTS(&f_aio),	DRIVER_TESTS(&f_uring),	  cmocka_unit_test(test_unknown_driver_is_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
