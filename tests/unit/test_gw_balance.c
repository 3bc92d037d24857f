/* Tests for upstreams/gw_balance.c: every policy's distribution, weights,
 * skipping unavailable endpoints, and consistent hashing's stability. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gw_balance.h"

#define KEYS 100000

static void endpoints(struct gw_balance_endpoint *eps, int n, const int *weights)
{
	static char names[16][32];

	memset(eps, 0, sizeof(*eps) * (size_t)n);
	for (int i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "10.0.0.%d:80", i + 1);
		eps[i].name = names[i];
		eps[i].weight = weights ? weights[i] : 1;
		eps[i].available = 1;
	}
}

static int key_of(char *buf, int i)
{
	return snprintf(buf, 32, "user-%d", i);
}

static void test_round_robin_follows_weights_smoothly(void **state)
{
	static const int weights[] = {5, 1, 1};
	struct gw_balance_endpoint eps[3];
	struct gw_balance b;
	int counts[3] = {0}, last = -1;

	(void)state;
	endpoints(eps, 3, weights);
	assert_int_equal(gw_balance_init(&b, GW_BALANCE_ROUND_ROBIN, eps, 3, 1), 0);
	for (int i = 0; i < 7000; i++) {
		int e = gw_balance_pick(&b, NULL, 0);

		assert_true(e >= 0 && e < 3);
		counts[e]++;
		/* Smooth: a weight-1 endpoint never gets two picks in a row. */
		if (e != 0)
			assert_int_not_equal(e, last);
		last = e;
	}
	assert_int_equal(counts[0], 5000);
	assert_int_equal(counts[1], 1000);
	assert_int_equal(counts[2], 1000);
	gw_balance_fini(&b);
}

static void test_round_robin_skips_unavailable(void **state)
{
	struct gw_balance_endpoint eps[3];
	struct gw_balance b;

	(void)state;
	endpoints(eps, 3, NULL);
	assert_int_equal(gw_balance_init(&b, GW_BALANCE_ROUND_ROBIN, eps, 3, 1), 0);
	gw_balance_set_available(&b, 1, 0);
	for (int i = 0; i < 100; i++)
		assert_int_not_equal(gw_balance_pick(&b, NULL, 0), 1);
	gw_balance_set_available(&b, 0, 0);
	gw_balance_set_available(&b, 2, 0);
	assert_int_equal(gw_balance_available_count(&b), 0);
	assert_int_equal(gw_balance_pick(&b, NULL, 0), -1);
	gw_balance_fini(&b);
}

static void test_least_request_avoids_the_loaded_endpoint(void **state)
{
	struct gw_balance_endpoint eps[3];
	struct gw_balance b;

	(void)state;
	endpoints(eps, 3, NULL);
	eps[0].active = 10;
	assert_int_equal(gw_balance_init(&b, GW_BALANCE_LEAST_REQUEST, eps, 3, 42), 0);
	/* Two distinct draws out of three always include an idle endpoint. */
	for (int i = 0; i < 10000; i++)
		assert_int_not_equal(gw_balance_pick(&b, NULL, 0), 0);
	gw_balance_fini(&b);
}

static void test_least_request_spreads_equal_load(void **state)
{
	struct gw_balance_endpoint eps[4];
	struct gw_balance b;
	int counts[4] = {0};

	(void)state;
	endpoints(eps, 4, NULL);
	assert_int_equal(gw_balance_init(&b, GW_BALANCE_LEAST_REQUEST, eps, 4, 7), 0);
	for (int i = 0; i < 40000; i++) {
		int e = gw_balance_pick(&b, NULL, 0);

		/* Simulate requests that finish: load stays level. */
		counts[e]++;
	}
	for (int e = 0; e < 4; e++)
		assert_true(counts[e] > 9000 && counts[e] < 11000);
	gw_balance_fini(&b);
}

static void test_least_request_weighs_load_by_weight(void **state)
{
	static const int weights[] = {4, 1};
	struct gw_balance_endpoint eps[2];
	struct gw_balance b;

	(void)state;
	endpoints(eps, 2, weights);
	/* 3 in flight on weight 4 is lighter than 1 on weight 1. */
	eps[0].active = 3;
	eps[1].active = 1;
	assert_int_equal(gw_balance_init(&b, GW_BALANCE_LEAST_REQUEST, eps, 2, 3), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(gw_balance_pick(&b, NULL, 0), 0);
	gw_balance_fini(&b);
}

/* Shares of KEYS keys; each must be within tolerance of weight/total. */
static void check_shares(struct gw_balance *b, const int *weights, int n, double tolerance)
{
	int counts[16] = {0}, total = 0;
	char key[32];

	for (int i = 0; i < n; i++)
		total += weights ? weights[i] : 1;
	for (int i = 0; i < KEYS; i++) {
		int e = gw_balance_pick(b, key, (size_t)key_of(key, i));

		assert_true(e >= 0 && e < n);
		counts[e]++;
	}
	for (int i = 0; i < n; i++) {
		double want = (double)KEYS * (weights ? weights[i] : 1) / total;

		assert_true(counts[i] > want * (1 - tolerance) && counts[i] < want * (1 + tolerance));
	}
}

static void test_maglev_shares_follow_weights(void **state)
{
	static const int weights[] = {2, 1, 1};
	struct gw_balance_endpoint eps[3];
	struct gw_balance b;

	(void)state;
	endpoints(eps, 3, weights);
	assert_int_equal(gw_balance_init(&b, GW_BALANCE_MAGLEV, eps, 3, 0), 0);
	check_shares(&b, weights, 3, 0.05);
	gw_balance_fini(&b);
}

static void test_ring_shares_are_even(void **state)
{
	struct gw_balance_endpoint eps[5];
	struct gw_balance b;

	(void)state;
	endpoints(eps, 5, NULL);
	assert_int_equal(gw_balance_init(&b, GW_BALANCE_RING, eps, 5, 0), 0);
	check_shares(&b, NULL, 5, 0.25);
	gw_balance_fini(&b);
}

/* Taking one endpoint out moves its keys and (almost) no others. */
static void check_stability(enum gw_balance_policy policy, double max_moved_other)
{
	static int before[KEYS];
	struct gw_balance_endpoint eps[5];
	struct gw_balance b;
	int moved_other = 0, on_removed = 0;
	char key[32];

	endpoints(eps, 5, NULL);
	assert_int_equal(gw_balance_init(&b, policy, eps, 5, 0), 0);
	for (int i = 0; i < KEYS; i++)
		before[i] = gw_balance_pick(&b, key, (size_t)key_of(key, i));
	gw_balance_set_available(&b, 2, 0);
	for (int i = 0; i < KEYS; i++) {
		int e = gw_balance_pick(&b, key, (size_t)key_of(key, i));

		assert_int_not_equal(e, 2);
		if (before[i] == 2)
			on_removed++;
		else if (e != before[i])
			moved_other++;
	}
	assert_true(on_removed > KEYS / 10);
	assert_true(moved_other <= (int)(KEYS * max_moved_other));
	/* Back in: the same keys as before go to it again. */
	gw_balance_set_available(&b, 2, 1);
	for (int i = 0; i < KEYS; i++)
		if (before[i] == 2)
			assert_int_equal(gw_balance_pick(&b, key, (size_t)key_of(key, i)), 2);
	gw_balance_fini(&b);
}

static void test_maglev_removal_moves_few_other_keys(void **state)
{
	(void)state;
	check_stability(GW_BALANCE_MAGLEV, 0.05);
}

static void test_ring_removal_moves_no_other_keys(void **state)
{
	(void)state;
	check_stability(GW_BALANCE_RING, 0.0);
}

static void test_hash_of_the_same_key_is_the_same_endpoint(void **state)
{
	struct gw_balance_endpoint eps[4];
	struct gw_balance b;
	int first;

	(void)state;
	endpoints(eps, 4, NULL);
	assert_int_equal(gw_balance_init(&b, GW_BALANCE_MAGLEV, eps, 4, 0), 0);
	first = gw_balance_pick(&b, "session-abc", 11);
	for (int i = 0; i < 100; i++)
		assert_int_equal(gw_balance_pick(&b, "session-abc", 11), first);
	gw_balance_fini(&b);
}

/* A retry's pick avoids the endpoints tried, under every policy, unless
 * no other is available. */
static void test_pick_avoiding_tried_endpoints(void **state)
{
	static const enum gw_balance_policy policies[] = {GW_BALANCE_ROUND_ROBIN, GW_BALANCE_LEAST_REQUEST,
							  GW_BALANCE_MAGLEV, GW_BALANCE_RING};
	struct gw_balance_endpoint eps[4];
	struct gw_balance b;
	char key[32];

	(void)state;
	for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
		endpoints(eps, 4, NULL);
		assert_int_equal(gw_balance_init(&b, policies[p], eps, 4, 5), 0);
		for (int i = 0; i < 200; i++) {
			int len = key_of(key, i), first = gw_balance_pick(&b, key, (size_t)len);
			uint64_t tried = 1ull << first;
			int second = gw_balance_pick_avoiding(&b, key, (size_t)len, tried);

			assert_true(second >= 0 && second < 4);
			assert_int_not_equal(second, first);
			tried |= 1ull << second;
			assert_false((tried >> gw_balance_pick_avoiding(&b, key, (size_t)len, tried)) & 1);
		}
		/* Only tried ones left available: one of them, not none. */
		gw_balance_set_available(&b, 2, 0);
		gw_balance_set_available(&b, 3, 0);
		for (int i = 0; i < 20; i++) {
			int e = gw_balance_pick_avoiding(&b, key, (size_t)key_of(key, i), 0x3);

			assert_true(e == 0 || e == 1);
		}
		gw_balance_fini(&b);
	}
}

static void test_no_endpoints_is_rejected(void **state)
{
	struct gw_balance b;

	(void)state;
	assert_int_equal(gw_balance_init(&b, GW_BALANCE_ROUND_ROBIN, NULL, 0, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_robin_follows_weights_smoothly),
		cmocka_unit_test(test_round_robin_skips_unavailable),
		cmocka_unit_test(test_least_request_avoids_the_loaded_endpoint),
		cmocka_unit_test(test_least_request_spreads_equal_load),
		cmocka_unit_test(test_least_request_weighs_load_by_weight),
		cmocka_unit_test(test_maglev_shares_follow_weights),
		cmocka_unit_test(test_ring_shares_are_even),
		cmocka_unit_test(test_maglev_removal_moves_few_other_keys),
		cmocka_unit_test(test_ring_removal_moves_no_other_keys),
		cmocka_unit_test(test_hash_of_the_same_key_is_the_same_endpoint),
		cmocka_unit_test(test_pick_avoiding_tried_endpoints),
		cmocka_unit_test(test_no_endpoints_is_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
