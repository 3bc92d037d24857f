/* Tests for upstreams/gw_pool.c, without a kernel: vk_sys_* act as plain
 * libc (hold and claim do nothing, close closes), so what is tested is the
 * pool's own bookkeeping: what is kept and handed out, the counts against
 * max_connections and max_pending, the line, and the expiry of kept
 * connections, and that none of it allocates once the pool is made. The
 * kernel's side (a connection the upstream closed while kept) is tested
 * end to end in tests/e2e/gw_pool.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw_breaker.h"
#include "gw_pool.h"
#include "vk_malloc.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MS 1000000ull

/* Where acquire puts a kept connection's TLS state. */
static void *tls_kept_ptr;

/* Allocations (and frees) made between start_counting and stop_counting.
 * The pool's request path (acquire, keep, cancel, sweep) must make none:
 * its bounds are known when it is created. ASan has its own allocator and
 * reports to hooks; otherwise vkern's malloc family stands in front of
 * glibc's and counts its calls. */
static int allocations;

#ifdef __SANITIZE_ADDRESS__
static int counting;

int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
					      void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *addr_ptr, size_t size)
{
	(void)addr_ptr;
	(void)size;
	allocations += counting;
}

static void on_free(const volatile void *addr_ptr)
{
	(void)addr_ptr;
	allocations += counting;
}

static void count_allocations(void)
{
	__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}

static void start_counting(void)
{
	counting = 1;
}

static void stop_counting(void)
{
	counting = 0;
}
#else
static unsigned long calls_before;

static void count_allocations(void)
{
}

static void start_counting(void)
{
	calls_before = vk_malloc_calls();
}

static void stop_counting(void)
{
	allocations = (int)(vk_malloc_calls() - calls_before);
}
#endif

struct fixture {
	struct gw_breaker breaker;
	struct gw_breaker_limits limits;
	struct gw_pool *pool_ptr;
};

static struct gw_pool *make_pool(struct fixture *f, int endpoints, int max_connections, int max_pending, int max_idle)
{
	struct gw_pool_settings settings = {
		.endpoint_count = endpoints,
		.max_idle = max_idle,
		.idle_timeout_ns = 1000 * MS,
		.wait_limit_ns = 2000 * MS,
		.stats_upstream = -1,
	};

	memset(f, 0, sizeof(*f));
	f->limits = (struct gw_breaker_limits){max_connections, max_pending, 1000};
	f->pool_ptr = gw_pool_create(&settings, &f->breaker, &f->limits);
	assert_non_null(f->pool_ptr);
	return f->pool_ptr;
}

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static int acquire(struct fixture *f, int endpoint, int proc, uint64_t now, int *fd)
{
	const char *reason = NULL;

	*fd = -1;
	return (int)gw_pool_acquire(f->pool_ptr, endpoint, 0, AF_INET, proc, 0, now, fd, &tls_kept_ptr, &reason);
}

/* TLS states the pool gave to discard_tls, in order. */
static void *discarded[8];
static int discarded_count;

static void discard_tls(void *state_ptr)
{
	if (discarded_count < 8)
		discarded[discarded_count++] = state_ptr;
}

/* A kept connection's TLS state comes back with it, and goes to
 * discard_tls (once, before its fd closes) when the pool closes it:
 * expired, or pushed out for a new connection, or the pool full. */
static void test_tls_state_travels_with_its_connection(void **state)
{
	struct fixture f;
	struct gw_pool_settings settings = {.endpoint_count = 2,
					    .max_idle = 1,
					    .idle_timeout_ns = 1000 * MS,
					    .wait_limit_ns = 2000 * MS,
					    .stats_upstream = -1,
					    .discard_tls = discard_tls};
	int a_state, b_state, c_state, a, b, c, d, fd;
	const char *reason = NULL;

	(void)state;
	memset(&f, 0, sizeof(f));
	discarded_count = 0;
	f.limits = (struct gw_breaker_limits){2, 10, 1000};
	f.pool_ptr = gw_pool_create(&settings, &f.breaker, &f.limits);
	assert_non_null(f.pool_ptr);
	assert_int_equal(acquire(&f, 0, 1, 0, &a), GW_POOL_NEW);
	assert_int_equal(acquire(&f, 1, 2, 0, &b), GW_POOL_NEW);
	assert_int_equal(gw_pool_keep(f.pool_ptr, 0, 0, a, &a_state, 0), 1);
	/* max_idle 1: the second is closed with its state. */
	assert_int_equal(gw_pool_keep(f.pool_ptr, 1, 0, b, &b_state, 0), 0);
	assert_int_equal(discarded_count, 1);
	assert_ptr_equal(discarded[0], &b_state);
	assert_false(is_open(b));
	tls_kept_ptr = NULL;
	assert_int_equal(gw_pool_acquire(f.pool_ptr, 0, 0, AF_INET, 3, 0, 1 * MS, &fd, &tls_kept_ptr, &reason),
			 GW_POOL_REUSED);
	assert_int_equal(fd, a);
	assert_ptr_equal(tls_kept_ptr, &a_state);
	assert_int_equal(discarded_count, 1);
	/* Kept again; with max_connections reached, a new connection to the
	 * other endpoint pushes it out, state and all. */
	assert_int_equal(acquire(&f, 1, 4, 1 * MS, &c), GW_POOL_NEW);
	assert_int_equal(gw_pool_keep(f.pool_ptr, 0, 0, a, &a_state, 2 * MS), 1);
	assert_int_equal(acquire(&f, 1, 5, 3 * MS, &d), GW_POOL_NEW);
	assert_int_equal(discarded_count, 2);
	assert_ptr_equal(discarded[1], &a_state); /* (its fd number may be d's now) */
	/* Expired in a sweep. A plain connection's NULL is never given to
	 * discard_tls (d finds the one place taken and is closed). */
	assert_int_equal(gw_pool_keep(f.pool_ptr, 1, 0, c, &c_state, 4 * MS), 1);
	assert_int_equal(gw_pool_keep(f.pool_ptr, 1, 0, d, NULL, 4 * MS), 0);
	assert_false(is_open(d));
	assert_int_equal(discarded_count, 2);
	assert_int_equal(gw_pool_sweep(f.pool_ptr, 2000 * MS, 0), 0);
	assert_int_equal(discarded_count, 3);
	assert_ptr_equal(discarded[2], &c_state);
	assert_int_equal(acquire(&f, 0, 6, 2001 * MS, &fd), GW_POOL_NEW);
	assert_int_equal(gw_pool_keep(f.pool_ptr, 0, 0, fd, NULL, 2001 * MS), 1);
	assert_int_equal(gw_pool_sweep(f.pool_ptr, 2001 * MS, 1), 0);
	assert_int_equal(discarded_count, 3);
	assert_int_equal(f.breaker.connections, 0);
	/* A pool destroyed with a connection kept gives its state back too. */
	assert_int_equal(acquire(&f, 0, 7, 2002 * MS, &fd), GW_POOL_NEW);
	assert_int_equal(gw_pool_keep(f.pool_ptr, 0, 0, fd, &a_state, 2002 * MS), 1);
	gw_pool_destroy(f.pool_ptr);
	assert_int_equal(discarded_count, 4);
	assert_ptr_equal(discarded[3], &a_state);
	close(fd);
}

static void test_new_then_kept_then_reused(void **state)
{
	struct fixture f;
	int fd, again;

	(void)state;
	make_pool(&f, 2, 10, 10, 10);
	assert_int_equal(acquire(&f, 0, 1, 0, &fd), GW_POOL_NEW);
	assert_true(fd >= 0);
	assert_int_equal(f.breaker.connections, 1);
	assert_int_equal(gw_pool_keep(f.pool_ptr, 0, 0, fd, NULL, 10 * MS), 1);
	assert_int_equal(gw_pool_idle_count(f.pool_ptr), 1);
	/* Another endpoint does not get it. */
	assert_int_equal(acquire(&f, 1, 2, 20 * MS, &again), GW_POOL_NEW);
	assert_int_not_equal(again, fd);
	assert_int_equal(f.breaker.connections, 2);
	/* The same endpoint does, newest first. */
	assert_int_equal(acquire(&f, 0, 3, 30 * MS, &again), GW_POOL_REUSED);
	assert_int_equal(again, fd);
	assert_int_equal(gw_pool_idle_count(f.pool_ptr), 0);
	assert_int_equal(f.breaker.connections, 2);
	gw_pool_destroy(f.pool_ptr);
}

/* A DNS endpoint's addresses differ: kept connections go to the same one. */
static void test_kept_only_for_the_same_address(void **state)
{
	struct fixture f;
	const char *reason = NULL;
	int a, fd;

	(void)state;
	make_pool(&f, 1, 10, 10, 10);
	assert_int_equal(gw_pool_acquire(f.pool_ptr, 0, 1111, AF_INET, 1, 0, 0, &a, &tls_kept_ptr, &reason),
			 GW_POOL_NEW);
	gw_pool_keep(f.pool_ptr, 0, 1111, a, NULL, 0);
	assert_int_equal(gw_pool_acquire(f.pool_ptr, 0, 2222, AF_INET, 2, 0, 0, &fd, &tls_kept_ptr, &reason),
			 GW_POOL_NEW);
	assert_int_not_equal(fd, a);
	gw_pool_keep(f.pool_ptr, 0, 2222, fd, NULL, 0);
	assert_int_equal(gw_pool_acquire(f.pool_ptr, 0, 1111, AF_INET, 3, 0, 0, &fd, &tls_kept_ptr, &reason),
			 GW_POOL_REUSED);
	assert_int_equal(fd, a);
	assert_int_equal(gw_pool_idle_count(f.pool_ptr), 1);
	gw_pool_destroy(f.pool_ptr);
}

static void test_fresh_skips_kept(void **state)
{
	struct fixture f;
	const char *reason = NULL;
	int fd, other;

	(void)state;
	make_pool(&f, 1, 10, 10, 10);
	assert_int_equal(acquire(&f, 0, 1, 0, &fd), GW_POOL_NEW);
	gw_pool_keep(f.pool_ptr, 0, 0, fd, NULL, 0);
	assert_int_equal(gw_pool_acquire(f.pool_ptr, 0, 0, AF_INET, 1, 1, 0, &other, &tls_kept_ptr, &reason),
			 GW_POOL_NEW);
	assert_int_not_equal(other, fd);
	assert_int_equal(gw_pool_idle_count(f.pool_ptr), 1);
	gw_pool_destroy(f.pool_ptr);
}

static void test_expired_kept_connection_is_closed(void **state)
{
	struct fixture f;
	int fd, again;

	(void)state;
	make_pool(&f, 1, 10, 10, 10);
	assert_int_equal(acquire(&f, 0, 1, 0, &fd), GW_POOL_NEW);
	gw_pool_keep(f.pool_ptr, 0, 0, fd, NULL, 0);
	/* idle_timeout 1 s: at 1.5 s it is closed, and a new one made. */
	assert_int_equal(acquire(&f, 0, 1, 1500 * MS, &again), GW_POOL_NEW);
	assert_int_equal(f.breaker.connections, 1);
	assert_int_equal(gw_pool_idle_count(f.pool_ptr), 0);
	gw_pool_destroy(f.pool_ptr);
}

static void test_sweep_closes_expired_only(void **state)
{
	struct fixture f;
	int a, b;

	(void)state;
	make_pool(&f, 1, 10, 10, 10);
	acquire(&f, 0, 1, 0, &a);
	acquire(&f, 0, 2, 0, &b);
	gw_pool_keep(f.pool_ptr, 0, 0, a, NULL, 0);
	gw_pool_keep(f.pool_ptr, 0, 0, b, NULL, 800 * MS);
	assert_int_equal(gw_pool_sweep(f.pool_ptr, 1200 * MS, 0), 1);
	assert_false(is_open(a));
	assert_true(is_open(b));
	assert_int_equal(f.breaker.connections, 1);
	assert_int_equal(gw_pool_sweep(f.pool_ptr, 1200 * MS, 1), 0); /* a drain: all go */
	assert_false(is_open(b));
	assert_int_equal(f.breaker.connections, 0);
	gw_pool_destroy(f.pool_ptr);
}

static void test_max_idle_closes_the_surplus(void **state)
{
	struct fixture f;
	int a, b;

	(void)state;
	make_pool(&f, 1, 10, 10, 1);
	acquire(&f, 0, 1, 0, &a);
	acquire(&f, 0, 2, 0, &b);
	assert_int_equal(gw_pool_keep(f.pool_ptr, 0, 0, a, NULL, 0), 1);
	assert_int_equal(gw_pool_keep(f.pool_ptr, 0, 0, b, NULL, 0), 0);
	assert_false(is_open(b));
	assert_int_equal(f.breaker.connections, 1);
	gw_pool_destroy(f.pool_ptr);
}

static void test_line_and_max_pending(void **state)
{
	struct fixture f;
	const char *reason = NULL;
	int a, fd;

	(void)state;
	make_pool(&f, 1, 1, 2, 10);
	assert_int_equal(acquire(&f, 0, 1, 0, &a), GW_POOL_NEW);
	/* No room: processes 2 and 3 wait, 4 is one too many. */
	assert_int_equal(acquire(&f, 0, 2, 0, &fd), GW_POOL_WAIT);
	assert_int_equal(acquire(&f, 0, 3, 0, &fd), GW_POOL_WAIT);
	assert_int_equal(gw_pool_acquire(f.pool_ptr, 0, 0, AF_INET, 4, 0, 0, &fd, &tls_kept_ptr, &reason),
			 GW_POOL_REFUSED);
	assert_non_null(strstr(reason, "max_pending"));
	assert_int_equal(gw_pool_waiting(f.pool_ptr), 2);
	assert_int_equal(f.breaker.pending, 2);
	/* Asking again keeps one's place. */
	assert_int_equal(acquire(&f, 0, 3, 0, &fd), GW_POOL_WAIT);
	assert_int_equal(gw_pool_waiting(f.pool_ptr), 2);
	/* The connection comes back: the first in line gets it. */
	gw_pool_keep(f.pool_ptr, 0, 0, a, NULL, 10 * MS);
	assert_int_equal(acquire(&f, 0, 2, 10 * MS, &fd), GW_POOL_REUSED);
	assert_int_equal(fd, a);
	assert_int_equal(gw_pool_waiting(f.pool_ptr), 1);
	/* Process 3 gives up. */
	gw_pool_cancel(f.pool_ptr, 3);
	assert_int_equal(gw_pool_waiting(f.pool_ptr), 0);
	assert_int_equal(f.breaker.pending, 0);
	gw_pool_destroy(f.pool_ptr);
}

static void test_newcomers_wait_behind_the_line(void **state)
{
	struct fixture f;
	int a, fd;

	(void)state;
	make_pool(&f, 1, 1, 10, 10);
	acquire(&f, 0, 1, 0, &a);
	assert_int_equal(acquire(&f, 0, 2, 0, &fd), GW_POOL_WAIT);
	gw_pool_keep(f.pool_ptr, 0, 0, a, NULL, 0);
	/* A connection is kept, but process 2 was first. */
	assert_int_equal(acquire(&f, 0, 9, 0, &fd), GW_POOL_WAIT);
	assert_int_equal(acquire(&f, 0, 2, 0, &fd), GW_POOL_REUSED);
	assert_int_equal(fd, a);
	gw_pool_keep(f.pool_ptr, 0, 0, a, NULL, 0);
	assert_int_equal(acquire(&f, 0, 9, 0, &fd), GW_POOL_REUSED);
	assert_int_equal(gw_pool_waiting(f.pool_ptr), 0);
	gw_pool_destroy(f.pool_ptr);
}

static void test_only_the_first_in_line_may_open(void **state)
{
	struct fixture f;
	int a, fd;

	(void)state;
	make_pool(&f, 1, 1, 10, 0);
	acquire(&f, 0, 1, 0, &a);
	assert_int_equal(acquire(&f, 0, 2, 0, &fd), GW_POOL_WAIT);
	assert_int_equal(acquire(&f, 0, 3, 0, &fd), GW_POOL_WAIT);
	/* max_idle 0: given back means closed, which frees the place. */
	assert_int_equal(gw_pool_keep(f.pool_ptr, 0, 0, a, NULL, 0), 0);
	assert_int_equal(f.breaker.connections, 0);
	assert_int_equal(acquire(&f, 0, 3, 0, &fd), GW_POOL_WAIT); /* not first */
	assert_int_equal(acquire(&f, 0, 2, 0, &fd), GW_POOL_NEW);
	assert_int_equal(gw_pool_waiting(f.pool_ptr), 1);
	gw_pool_destroy(f.pool_ptr);
}

static void test_kept_to_another_endpoint_makes_room(void **state)
{
	struct fixture f;
	int a, b;

	(void)state;
	make_pool(&f, 2, 1, 10, 10);
	acquire(&f, 0, 1, 0, &a);
	gw_pool_keep(f.pool_ptr, 0, 0, a, NULL, 0);
	assert_int_equal(acquire(&f, 1, 2, 0, &b), GW_POOL_NEW);
	/* (b may well get a's number: a was closed first.) */
	assert_int_equal(gw_pool_idle_count(f.pool_ptr), 0);
	assert_int_equal(f.breaker.connections, 1);
	gw_pool_destroy(f.pool_ptr);
}

static void test_a_place_held_too_long_is_dropped(void **state)
{
	struct fixture f;
	int a, fd;

	(void)state;
	make_pool(&f, 1, 1, 10, 0);
	acquire(&f, 0, 1, 0, &a);
	/* Process 2 waits, then ends without leaving the line. */
	assert_int_equal(acquire(&f, 0, 2, 0, &fd), GW_POOL_WAIT);
	gw_pool_keep(f.pool_ptr, 0, 0, a, NULL, 0);
	/* Within wait_limit (2 s) process 3 must wait behind it; after, not. */
	assert_int_equal(acquire(&f, 0, 3, 1000 * MS, &fd), GW_POOL_WAIT);
	assert_int_equal(acquire(&f, 0, 3, 2500 * MS, &fd), GW_POOL_NEW);
	gw_pool_destroy(f.pool_ptr);
}

/* Filling the line to max_pending and the kept places to max_idle (all of
 * them for one endpoint), going past each bound, and emptying both again
 * allocate nothing. */
static void test_no_allocation_after_create(void **state)
{
	struct fixture f;
	const char *reason = NULL;
	int fds[4], fd;

	(void)state;
	make_pool(&f, 2, 4, 8, 3);
	start_counting();
	for (int i = 0; i < 4; i++)
		assert_int_equal(acquire(&f, i % 2, 1 + i, 0, &fds[i]), GW_POOL_NEW);
	for (int proc = 10; proc < 18; proc++)
		assert_int_equal(acquire(&f, 0, proc, 0, &fd), GW_POOL_WAIT);
	assert_int_equal(gw_pool_waiting(f.pool_ptr), 8);
	assert_int_equal(gw_pool_acquire(f.pool_ptr, 0, 0, AF_INET, 18, 0, 0, &fd, &tls_kept_ptr, &reason),
			 GW_POOL_REFUSED);
	assert_non_null(strstr(reason, "max_pending"));
	for (int i = 0; i < 3; i++)
		assert_int_equal(gw_pool_keep(f.pool_ptr, 0, 0, fds[i], NULL, 10 * MS), 1);
	assert_int_equal(gw_pool_keep(f.pool_ptr, 0, 0, fds[3], NULL, 10 * MS), 0);
	assert_int_equal(gw_pool_idle_count(f.pool_ptr), 3);
	assert_int_equal(f.breaker.connections, 3);
	/* The first in line gets the newest; its place is used again. */
	assert_int_equal(acquire(&f, 0, 10, 20 * MS, &fd), GW_POOL_REUSED);
	assert_int_equal(fd, fds[2]);
	assert_int_equal(gw_pool_keep(f.pool_ptr, 0, 0, fd, NULL, 30 * MS), 1);
	for (int proc = 11; proc < 18; proc++)
		gw_pool_cancel(f.pool_ptr, proc);
	assert_int_equal(gw_pool_waiting(f.pool_ptr), 0);
	assert_int_equal(gw_pool_sweep(f.pool_ptr, 40 * MS, 1), 0);
	stop_counting();
	assert_int_equal(allocations, 0);
	assert_int_equal(f.breaker.connections, 0);
	assert_int_equal(f.breaker.pending, 0);
	gw_pool_destroy(f.pool_ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_then_kept_then_reused),
		cmocka_unit_test(test_tls_state_travels_with_its_connection),
		cmocka_unit_test(test_fresh_skips_kept),
		cmocka_unit_test(test_kept_only_for_the_same_address),
		cmocka_unit_test(test_expired_kept_connection_is_closed),
		cmocka_unit_test(test_sweep_closes_expired_only),
		cmocka_unit_test(test_max_idle_closes_the_surplus),
		cmocka_unit_test(test_line_and_max_pending),
		cmocka_unit_test(test_only_the_first_in_line_may_open),
		cmocka_unit_test(test_newcomers_wait_behind_the_line),
		cmocka_unit_test(test_kept_to_another_endpoint_makes_room),
		cmocka_unit_test(test_a_place_held_too_long_is_dropped),
		cmocka_unit_test(test_no_allocation_after_create),
	};

	count_allocations();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
