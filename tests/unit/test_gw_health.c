/* Tests for upstreams/gw_health.c and gw_breaker.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw_breaker.h"
#include "gw_health.h"

#define SEC 1000000000ull

static const struct gw_health_policy policy = {
	.healthy_threshold = 2,
	.unhealthy_threshold = 3,
	.consecutive_5xx = 5,
	.consecutive_connect_failures = 3,
	.base_ejection_ns = 30 * SEC,
	.max_ejection_percent = 50,
};

static void test_checks_flip_after_runs(void **state)
{
	struct gw_health h;

	(void)state;
	gw_health_init(&h);
	assert_true(gw_health_available(&h, 0));
	assert_int_equal(gw_health_check_result(&h, &policy, 0), 0);
	assert_int_equal(gw_health_check_result(&h, &policy, 0), 0);
	assert_int_equal(gw_health_check_result(&h, &policy, 1), 0); /* run broken */
	assert_int_equal(gw_health_check_result(&h, &policy, 0), 0);
	assert_int_equal(gw_health_check_result(&h, &policy, 0), 0);
	assert_int_equal(gw_health_check_result(&h, &policy, 0), 1);
	assert_false(gw_health_available(&h, 0));
	assert_int_equal(gw_health_check_result(&h, &policy, 1), 0);
	assert_int_equal(gw_health_check_result(&h, &policy, 1), 1);
	assert_true(gw_health_available(&h, 0));
}

static void test_5xx_run_ejects_with_growing_time(void **state)
{
	struct gw_health hs[4];
	uint64_t now = 100 * SEC;

	(void)state;
	for (int i = 0; i < 4; i++)
		gw_health_init(&hs[i]);
	for (int i = 0; i < 4; i++)
		assert_int_equal(gw_health_record(hs, 4, 0, &policy, GW_OUTCOME_5XX, now), 0);
	assert_int_equal(gw_health_record(hs, 4, 0, &policy, GW_OUTCOME_5XX, now), 1);
	assert_false(gw_health_available(&hs[0], now + 29 * SEC));
	assert_int_equal(gw_health_expire(hs, 4, now + 30 * SEC), 1);
	assert_true(gw_health_available(&hs[0], now + 30 * SEC));
	/* Ejected a second time: twice as long. */
	now += 40 * SEC;
	for (int i = 0; i < 5; i++)
		gw_health_record(hs, 4, 0, &policy, GW_OUTCOME_5XX, now);
	assert_false(gw_health_available(&hs[0], now + 59 * SEC));
	assert_true(gw_health_available(&hs[0], now + 60 * SEC));
}

static void test_success_resets_the_run(void **state)
{
	struct gw_health hs[2];

	(void)state;
	gw_health_init(&hs[0]);
	gw_health_init(&hs[1]);
	for (int round = 0; round < 10; round++) {
		gw_health_record(hs, 2, 0, &policy, GW_OUTCOME_CONNECT_FAILURE, 0);
		gw_health_record(hs, 2, 0, &policy, GW_OUTCOME_CONNECT_FAILURE, 0);
		gw_health_record(hs, 2, 0, &policy, GW_OUTCOME_OK, 0);
	}
	assert_true(gw_health_available(&hs[0], 0));
	gw_health_record(hs, 2, 0, &policy, GW_OUTCOME_CONNECT_FAILURE, 0);
	gw_health_record(hs, 2, 0, &policy, GW_OUTCOME_CONNECT_FAILURE, 0);
	assert_int_equal(gw_health_record(hs, 2, 0, &policy, GW_OUTCOME_CONNECT_FAILURE, 0), 1);
}

static void test_ejection_cap_keeps_half_the_endpoints(void **state)
{
	struct gw_health hs[4];
	int ejected = 0;

	(void)state;
	for (int i = 0; i < 4; i++)
		gw_health_init(&hs[i]);
	for (int e = 0; e < 4; e++)
		for (int i = 0; i < 3; i++)
			ejected += gw_health_record(hs, 4, e, &policy, GW_OUTCOME_CONNECT_FAILURE, SEC);
	assert_int_equal(ejected, 2);
	assert_true(gw_health_available(&hs[2], SEC));
	assert_true(gw_health_available(&hs[3], SEC));
}

static void test_breaker_limits_each_counter(void **state)
{
	const struct gw_breaker_limits limits = {.max_connections = 2, .max_pending = 1, .max_requests = 3};
	struct gw_breaker b = {0};

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(gw_breaker_admit_request(&b, &limits), GW_BREAKER_ADMIT);
	assert_int_equal(gw_breaker_admit_request(&b, &limits), GW_BREAKER_TOO_MANY_REQUESTS);
	gw_breaker_request_done(&b);
	assert_int_equal(gw_breaker_admit_request(&b, &limits), GW_BREAKER_ADMIT);
	assert_int_equal(gw_breaker_admit_pending(&b, &limits), GW_BREAKER_ADMIT);
	assert_int_equal(gw_breaker_admit_pending(&b, &limits), GW_BREAKER_TOO_MANY_PENDING);
	gw_breaker_pending_done(&b);
	assert_int_equal(gw_breaker_admit_connection(&b, &limits), GW_BREAKER_ADMIT);
	assert_int_equal(gw_breaker_admit_connection(&b, &limits), GW_BREAKER_ADMIT);
	assert_int_equal(gw_breaker_admit_connection(&b, &limits), GW_BREAKER_TOO_MANY_CONNECTIONS);
	gw_breaker_connection_closed(&b);
	assert_int_equal(gw_breaker_admit_connection(&b, &limits), GW_BREAKER_ADMIT);
	assert_string_equal(gw_breaker_reason(GW_BREAKER_TOO_MANY_PENDING), "circuit breaker: max_pending reached");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checks_flip_after_runs),
		cmocka_unit_test(test_5xx_run_ejects_with_growing_time),
		cmocka_unit_test(test_success_resets_the_run),
		cmocka_unit_test(test_ejection_cap_keeps_half_the_endpoints),
		cmocka_unit_test(test_breaker_limits_each_counter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
