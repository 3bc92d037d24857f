/* test_gw_filter_retry: the retry filter's configuration (its attempts are
 * tested end to end in tests/e2e/gw_retry.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gw_filter_test.h"
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
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
