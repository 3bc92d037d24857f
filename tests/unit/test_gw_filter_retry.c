/* test_gw_filter_retry: the retry filter's configuration (its attempts are
 * tested end to end in tests/e2e/gw_retry.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gw_filter_test.h"
#include "gw_exchange.h"
#include "gw_filters.h"

static void check(const char *text, int rc, const char *errors)
{
	struct compiled c;

	compile_entry(&gw_filter_retry_type, text, &c);
	assert_string_equal(c.errors, errors);
	assert_int_equal(c.rc, rc);
	compiled_free(&c);
}

static void test_configs(void **state)
{
	(void)state;
	check("{\"type\":\"retry\"}", 0, "");
	check("{\"type\":\"retry\",\"attempts\":3,\"on_statuses\":[500,503],\"all_methods\":true}", 0, "");
	check("{\"type\":\"retry\",\"attempts\":1}", -1, "/routes/0/filters/0/attempts: must be from 2 to 10, not 1\n");
	check("{\"type\":\"retry\",\"on_statuses\":[]}", -1,
	      "/routes/0/filters/0/on_statuses: expected an array of 1 to 16 statuses\n");
	check("{\"type\":\"retry\",\"on_statuses\":[503,\"x\",99]}", -1,
	      "/routes/0/filters/0/on_statuses/1: expected a status from 200 to 599\n"
	      "/routes/0/filters/0/on_statuses/2: expected a status from 200 to 599\n");
	check("{\"type\":\"retry\",\"retry_on\":[\"reset\",\"timeout\"],\"per_try_timeout_ms\":250,"
	      "\"backoff\":{\"base_ms\":10,\"max_ms\":100},\"retry_after\":false}",
	      0, "");
	check("{\"type\":\"retry\",\"retry_on\":[]}", 0, "");
	check("{\"type\":\"retry\",\"retry_on\":\"reset\"}", -1,
	      "/routes/0/filters/0/retry_on: expected an array of \"connect-failure\", \"reset\" or \"timeout\"\n");
	check("{\"type\":\"retry\",\"retry_on\":[\"reset\",\"5xx\",1]}", -1,
	      "/routes/0/filters/0/retry_on/1: expected \"connect-failure\", \"reset\" or \"timeout\"\n"
	      "/routes/0/filters/0/retry_on/2: expected \"connect-failure\", \"reset\" or \"timeout\"\n");
	check("{\"type\":\"retry\",\"backoff\":{\"base_ms\":50,\"max_ms\":10}}", -1,
	      "/routes/0/filters/0/backoff/max_ms: must be at least base_ms\n");
	check("{\"type\":\"retry\",\"backoff\":{\"base\":50}}", -1,
	      "/routes/0/filters/0/backoff/base: unknown key \"base\"; allowed keys: base_ms, max_ms\n");
	check("{\"type\":\"retry\",\"hedge\":{\"delay\":\"p95\",\"delay_ms\":20}}", 0, "");
	check("{\"type\":\"retry\",\"hedge\":{\"delay\":\"p99\",\"delay_ms\":0}}", -1,
	      "/routes/0/filters/0/hedge/delay_ms: must be from 1 to 60000, not 0\n"
	      "/routes/0/filters/0/hedge/delay: expected \"fixed\" (delay_ms) or \"p95\" (the upstream's)\n");
	check("{\"type\":\"retry\",\"per_try_timeout_ms\":-1}", -1,
	      "/routes/0/filters/0/per_try_timeout_ms: must be from 0 to 3600000, not -1\n");
}

/* What the filter states for the connection: the policy, with the
 * defaults a bare entry gets. */
static void test_policy_defaults(void **state)
{
	struct compiled c;
	const struct gw_retry_policy *policy_ptr;

	(void)state;
	compile_entry(&gw_filter_retry_type, "{\"type\":\"retry\"}", &c);
	assert_int_equal(c.rc, 0);
	policy_ptr = c.blob_ptr; /* the policy is the compiled entry's first member */
	assert_int_equal(policy_ptr->attempts, 2);
	assert_int_equal(policy_ptr->retry_on, GW_RETRY_ON_CONNECT_FAILURE | GW_RETRY_ON_RESET | GW_RETRY_ON_TIMEOUT);
	assert_int_equal(policy_ptr->per_try_ms, 0);
	assert_int_equal(policy_ptr->backoff_base_ms, 25);
	assert_int_equal(policy_ptr->backoff_max_ms, 250);
	assert_int_equal(policy_ptr->all_methods, 0);
	assert_int_equal(policy_ptr->honour_retry_after, 1);
	assert_int_equal(policy_ptr->hedge_delay_ms, 0); /* no hedging unless asked */
	compiled_free(&c);
	compile_entry(&gw_filter_retry_type, "{\"type\":\"retry\",\"hedge\":{}}", &c);
	assert_int_equal(c.rc, 0);
	policy_ptr = c.blob_ptr;
	assert_int_equal(policy_ptr->hedge_delay_ms, 50);
	assert_int_equal(policy_ptr->hedge_p95, 0);
	compiled_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configs),
		cmocka_unit_test(test_policy_defaults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
