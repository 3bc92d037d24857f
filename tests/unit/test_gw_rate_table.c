/* gw_rate_table: GCRA cells in memory shared across processes. Times are
 * given, not read, so every verdict here is exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gw_rate_table.h"

#define MS 1000000ull

static void key_of(struct gw_rate_table *table_ptr, const char *text, uint8_t key[GW_RATE_KEY_BYTES])
{
	const void *parts[] = {"rule", text};
	size_t lens[] = {4, strlen(text)};

	gw_rate_table_key(table_ptr, parts, lens, 2, key);
}

/* A burst of 5 at once, then one per interval; a refusal says when the
 * next would pass and takes nothing; remaining and reset count down. */
static void test_burst_then_rate(void **state)
{
	struct gw_rate_table *table_ptr = gw_rate_table_create(64);
	struct gw_rate_verdict v;
	uint8_t key[GW_RATE_KEY_BYTES];
	uint64_t t0 = 1000 * MS;

	(void)state;
	assert_non_null(table_ptr);
	assert_ptr_equal(gw_rate_table_instance(), table_ptr);
	key_of(table_ptr, "alice", key);
	for (int i = 0; i < 5; i++) {
		gw_rate_table_take(table_ptr, key, 10 * MS, 5, t0, &v);
		assert_true(v.admitted);
		assert_int_equal(v.remaining, 4 - i);
		assert_int_equal(v.reset_ns, (uint64_t)(i + 1) * 10 * MS);
	}
	gw_rate_table_take(table_ptr, key, 10 * MS, 5, t0, &v);
	assert_false(v.admitted);
	assert_int_equal(v.remaining, 0);
	assert_int_equal(v.retry_after_ns, 10 * MS);
	/* Refusals took nothing: just before the interval, still refused;
	 * at it, one passes, and only one. */
	gw_rate_table_take(table_ptr, key, 10 * MS, 5, t0 + 10 * MS - 1, &v);
	assert_false(v.admitted);
	assert_int_equal(v.retry_after_ns, 1);
	gw_rate_table_take(table_ptr, key, 10 * MS, 5, t0 + 10 * MS, &v);
	assert_true(v.admitted);
	assert_int_equal(v.remaining, 0);
	gw_rate_table_take(table_ptr, key, 10 * MS, 5, t0 + 10 * MS, &v);
	assert_false(v.admitted);
	/* After a quiet time the bucket is full again, never fuller. */
	for (int i = 0; i < 6; i++)
		gw_rate_table_take(table_ptr, key, 10 * MS, 5, t0 + 10000 * MS, &v);
	assert_false(v.admitted);
	gw_rate_table_destroy(table_ptr);
	assert_null(gw_rate_table_instance());
}

/* Keys are apart; bytes moved between parts make another key; a key is
 * the table's own (another table's secret gives another key). */
static void test_keys(void **state)
{
	struct gw_rate_table *table_ptr = gw_rate_table_create(64), *other_ptr = gw_rate_table_create(64);
	uint8_t a[GW_RATE_KEY_BYTES], b[GW_RATE_KEY_BYTES], c[GW_RATE_KEY_BYTES];
	const void *parts1[] = {"ab", "c"}, *parts2[] = {"a", "bc"};
	size_t lens1[] = {2, 1}, lens2[] = {1, 2};
	char long_value[300];
	struct gw_rate_verdict v;

	(void)state;
	gw_rate_table_key(table_ptr, parts1, lens1, 2, a);
	gw_rate_table_key(table_ptr, parts2, lens2, 2, b);
	assert_memory_not_equal(a, b, sizeof(a));
	gw_rate_table_key(other_ptr, parts1, lens1, 2, c);
	assert_memory_not_equal(a, c, sizeof(a));
	gw_rate_table_key(table_ptr, parts1, lens1, 2, c);
	assert_memory_equal(a, c, sizeof(a));
	/* Long parts and many parts: still a key of their own. */
	memset(long_value, 'x', sizeof(long_value));
	{
		const void *p1[] = {long_value, long_value, long_value};
		size_t l1[] = {sizeof(long_value), sizeof(long_value), sizeof(long_value)};
		size_t l2[] = {sizeof(long_value), sizeof(long_value), sizeof(long_value) - 1};

		gw_rate_table_key(table_ptr, p1, l1, 3, a);
		gw_rate_table_key(table_ptr, p1, l2, 3, b);
		assert_memory_not_equal(a, b, sizeof(a));
	}
	key_of(table_ptr, "alice", a);
	key_of(table_ptr, "bob", b);
	gw_rate_table_take(table_ptr, a, MS, 1, 50 * MS, &v);
	assert_true(v.admitted);
	gw_rate_table_take(table_ptr, a, MS, 1, 50 * MS, &v);
	assert_false(v.admitted);
	gw_rate_table_take(table_ptr, b, MS, 1, 50 * MS, &v);
	assert_true(v.admitted);
	gw_rate_table_destroy(other_ptr);
	gw_rate_table_destroy(table_ptr);
}

/* What a later rule's refusal gives back is there again. */
static void test_give_back(void **state)
{
	struct gw_rate_table *table_ptr = gw_rate_table_create(64);
	uint8_t key[GW_RATE_KEY_BYTES];
	struct gw_rate_verdict v;

	(void)state;
	key_of(table_ptr, "carol", key);
	gw_rate_table_take(table_ptr, key, 10 * MS, 2, 100 * MS, &v);
	gw_rate_table_take(table_ptr, key, 10 * MS, 2, 100 * MS, &v);
	assert_true(v.admitted);
	gw_rate_table_give_back(table_ptr, key, 10 * MS, 2, 100 * MS);
	gw_rate_table_take(table_ptr, key, 10 * MS, 2, 100 * MS, &v);
	assert_true(v.admitted);
	gw_rate_table_take(table_ptr, key, 10 * MS, 2, 100 * MS, &v);
	assert_false(v.admitted);
	gw_rate_table_destroy(table_ptr);
}

/* One bucket (3 cells and its ghost). Keys whose time has passed make
 * room without loss. With every cell live, a new key forgets the key
 * furthest from its limit, never the busiest, and that key takes its TAT
 * back from the ghost: over the whole run it passes exactly its burst. */
static void test_eviction(void **state)
{
	struct gw_rate_table *table_ptr = gw_rate_table_create(3);
	uint8_t a[GW_RATE_KEY_BYTES], b[GW_RATE_KEY_BYTES], c[GW_RATE_KEY_BYTES], x[GW_RATE_KEY_BYTES],
		y[GW_RATE_KEY_BYTES];
	struct gw_rate_verdict v;
	const uint64_t burst = 3, interval = 100 * MS, t = 50 * interval;
	int passed = 0;

	(void)state;
	assert_int_equal(gw_rate_table_cells(table_ptr), 3);
	key_of(table_ptr, "a", a);
	key_of(table_ptr, "b", b);
	key_of(table_ptr, "c", c);
	key_of(table_ptr, "x", x);
	key_of(table_ptr, "y", y);
	/* Old keys whose time has passed: x and y take their cells, nothing
	 * live is lost. */
	gw_rate_table_take(table_ptr, a, interval, burst, 0, &v);
	gw_rate_table_take(table_ptr, b, interval, burst, 0, &v);
	gw_rate_table_take(table_ptr, c, interval, burst, 0, &v);
	gw_rate_table_take(table_ptr, x, interval, burst, 10 * interval, &v);
	gw_rate_table_take(table_ptr, y, interval, burst, 10 * interval, &v);
	assert_int_equal(gw_rate_table_live_evictions(table_ptr), 0);
	/* At t: a uses its whole burst, b one, c two. */
	for (int i = 0; i < 3; i++)
		gw_rate_table_take(table_ptr, a, interval, burst, t, &v);
	gw_rate_table_take(table_ptr, b, interval, burst, t, &v);
	passed += v.admitted;
	gw_rate_table_take(table_ptr, c, interval, burst, t, &v);
	gw_rate_table_take(table_ptr, c, interval, burst, t, &v);
	/* x comes: b (furthest from its limit) is forgotten. */
	gw_rate_table_take(table_ptr, x, interval, burst, t, &v);
	assert_true(v.admitted);
	assert_int_equal(gw_rate_table_live_evictions(table_ptr), 1);
	/* b returns: its ghost gives it back its TAT, 2 more pass, no more. */
	for (int i = 0; i < 5; i++) {
		gw_rate_table_take(table_ptr, b, interval, burst, t, &v);
		passed += v.admitted;
	}
	assert_int_equal(passed, burst);
	/* a, the busiest, was never forgotten: still at its limit. */
	gw_rate_table_take(table_ptr, a, interval, burst, t, &v);
	assert_false(v.admitted);
	gw_rate_table_destroy(table_ptr);
}

/* A small table (1024 cells), a million distinct keys asking once each under
 * an hourly rule (100 an hour, burst 100: each key's cell stays live
 * 36 s, so the table is full from the first second and each bucket
 * forgets a key every ~25 ms), and among them 8 busy keys of
 * another rule (one per 10 ms, burst 5) asking at twice their rate all
 * along: a busy key, near its limit, is never the one forgotten, and
 * passes its limit and no more; the table's memory is what it was made
 * with. */
static void test_million_keys(void **state)
{
	struct gw_rate_table *table_ptr = gw_rate_table_create(1024);
	const uint64_t busy_interval = 10 * MS, busy_burst = 5, step = MS / 20;
	const uint64_t noise_interval = 36000 * MS, noise_burst = 100;
	uint8_t busy[8][GW_RATE_KEY_BYTES], key[GW_RATE_KEY_BYTES];
	uint64_t passed[8] = {0}, now = 0;
	struct gw_rate_verdict v;
	size_t cells = gw_rate_table_cells(table_ptr);

	(void)state;
	for (int b = 0; b < 8; b++) {
		char name[8] = {'b', (char)('0' + b), 0};

		key_of(table_ptr, name, busy[b]);
	}
	/* A key every 50 us (50 s in all); each busy key every 5 ms. */
	for (uint32_t k = 0; k < 1000000; k++, now += step) {
		const void *parts[] = {&k};
		size_t lens[] = {sizeof(k)};

		gw_rate_table_key(table_ptr, parts, lens, 1, key);
		gw_rate_table_take(table_ptr, key, noise_interval, noise_burst, now, &v);
		assert_true(v.admitted); /* a key seen once always passes */
		if (k % 100 == 0)
			for (int b = 0; b < 8; b++) {
				gw_rate_table_take(table_ptr, busy[b], busy_interval, busy_burst, now, &v);
				passed[b] += v.admitted;
			}
	}
	/* 50 s at one per 10 ms: 5000, and the burst; more than one burst
	 * over would be a busy key forgotten and its ghost lost. */
	for (int b = 0; b < 8; b++)
		assert_in_range(passed[b], 5000, 5000 + 2 * busy_burst);
	assert_true(gw_rate_table_live_evictions(table_ptr) > 900000);
	assert_int_equal(gw_rate_table_cells(table_ptr), cells);
	gw_rate_table_destroy(table_ptr);
}

/* Two processes (forked after the table was made) take from one key at
 * the same instants: together they pass exactly what one would, one per
 * interval plus the burst, whichever of them gets each. */
static void test_two_processes_share(void **state)
{
	struct gw_rate_table *table_ptr = gw_rate_table_create(1024);
	uint8_t key[GW_RATE_KEY_BYTES];
	int *counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[2];
	int status;

	(void)state;
	assert_true(counts != MAP_FAILED);
	key_of(table_ptr, "shared", key);
	for (int p = 0; p < 2; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			struct gw_rate_verdict v;
			int n = 0;

			/* 1 s in steps of 0.1 ms, an interval of 1 ms, burst 4. */
			for (uint64_t t = 0; t <= 10000; t++) {
				gw_rate_table_take(table_ptr, key, MS, 4, t * MS / 10, &v);
				n += v.admitted;
			}
			counts[p] = n;
			_exit(0);
		}
	}
	for (int p = 0; p < 2; p++) {
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* 1000 intervals in [0, 1 s], the first holding the burst: 1000 + 4
	 * at most; a process that lags behind the other's TAT is refused, so
	 * never more, and each interval is someone's. */
	assert_in_range(counts[0] + counts[1], 1000, 1004);
	munmap(counts, 4096);
	gw_rate_table_destroy(table_ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),	    cmocka_unit_test(test_keys),
		cmocka_unit_test(test_give_back),	    cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_two_processes_share), cmocka_unit_test(test_million_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
