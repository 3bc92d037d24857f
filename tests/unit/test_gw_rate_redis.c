/* gw_rate_redis: the Redis mode's calls and the script's answers. The
 * script itself runs in a real Redis in tests/e2e/gw_rate_limit_redis.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "gw_rate_redis.h"

static const char sha[] = "0123456789abcdef0123456789abcdef01234567";

static void test_command(void **state)
{
	const char *want = "*7\r\n$7\r\nEVALSHA\r\n$40\r\n0123456789abcdef0123456789abcdef01234567\r\n$1\r\n1\r\n"
			   "$17\r\nvkgw:{per-ip:a|b}\r\n$6\r\n100000\r\n$2\r\n20\r\n$1\r\n5\r\n";
	char out[512];
	size_t n;

	(void)state;
	/* 10 per second: 100000 us apart */
	n = gw_rate_redis_command(out, sizeof(out), sha, "per-ip", "a|b", 3, 100000000u, 20, 5);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	/* a give-back asks for -1 */
	n = gw_rate_redis_command(out, sizeof(out), sha, "r", "k", 1, 1000000u, 1, -1);
	assert_true(n > 0);
	assert_non_null(memmem(out, n, "$2\r\n-1\r\n", 8));
	/* an interval of 1.5 us goes as 2: rounded up, never faster */
	n = gw_rate_redis_command(out, sizeof(out), sha, "r", "k", 1, 1500u, 1, 1);
	assert_non_null(memmem(out, n, "$1\r\n2\r\n$1\r\n1\r\n$1\r\n1\r\n", 21));
	/* no room: 0, nothing claimed */
	assert_int_equal(gw_rate_redis_command(out, 40, sha, "r", "k", 1, 1000000u, 1, 1), 0);
}

/* A key over 200 bytes is named by its SHA-256: the same on every
 * instance, and bounded. */
static void test_long_key(void **state)
{
	char key[1000], out[1024], again[1024];
	size_t n, m;

	(void)state;
	memset(key, 'x', sizeof(key));
	n = gw_rate_redis_command(out, sizeof(out), sha, "r", key, sizeof(key), 1000000u, 1, 1);
	assert_true(n > 0 && n < 300);
	assert_non_null(memmem(out, n, "vkgw:{r:#", 9));
	m = gw_rate_redis_command(again, sizeof(again), sha, "r", key, sizeof(key), 1000000u, 1, 1);
	assert_int_equal(n, m);
	assert_memory_equal(out, again, n);
	key[999] = 'y';
	m = gw_rate_redis_command(again, sizeof(again), sha, "r", key, sizeof(key), 1000000u, 1, 1);
	assert_int_equal(n, m);
	assert_memory_not_equal(out, again, n);
}

static void test_answers(void **state)
{
	struct gw_rate_redis_answer a;
	const char *granted = "*4\r\n:5\r\n:3\r\n:900000\r\n:0\r\n";
	const char *refused = "*4\r\n:0\r\n:0\r\n:1000000\r\n:250000\r\n";
	static const char *const bad[] = {
		"-NOSCRIPT No matching script. Please use EVAL.\r\n",
		"*3\r\n:1\r\n:2\r\n:3\r\n",
		"*4\r\n:1\r\n:2\r\n:3\r\n$1\r\n4\r\n",
		"*4\r\n:1\r\n:-2\r\n:3\r\n:4\r\n",
		":1\r\n",
		"*4\r\n:1\r\n:2\r\n:3\r\n", /* not whole */
	};

	(void)state;
	assert_int_equal(gw_rate_redis_answer(granted, strlen(granted), &a), (long)strlen(granted));
	assert_int_equal(a.granted, 5);
	assert_int_equal(a.remaining, 3);
	assert_int_equal(a.reset_us, 900000);
	assert_int_equal(a.retry_us, 0);
	assert_int_equal(gw_rate_redis_answer(refused, strlen(refused), &a), (long)strlen(refused));
	assert_int_equal(a.granted, 0);
	assert_int_equal(a.retry_us, 250000);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gw_rate_redis_answer(bad[i], strlen(bad[i]), &a) != -1)
			fail_msg("answer %zu was taken", i);
}

static void test_lease_cells(void **state)
{
	static struct gw_rate_lease leases[GW_RATE_LEASES];

	(void)state;
	/* every cell in the table, the same one for the same tag */
	for (uint64_t tag = 1; tag < 100000; tag += 7919) {
		struct gw_rate_lease *cell_ptr = gw_rate_lease_cell(leases, tag);

		assert_true(cell_ptr >= leases && cell_ptr < leases + GW_RATE_LEASES);
		assert_ptr_equal(cell_ptr, gw_rate_lease_cell(leases, tag));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_long_key),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_lease_cells),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
