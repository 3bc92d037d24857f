/* test_gw_filter_request_id: the request_id filter's configuration and
 * its traceparent check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gw_filter_test.h"
#include "gw_filters.h"

static void check(const char *text, int rc, const char *errors)
{
	struct compiled c;

	compile_entry(&gw_filter_request_id_type, text, &c);
	assert_string_equal(c.errors, errors);
	assert_int_equal(c.rc, rc);
	compiled_free(&c);
}

static void test_configs(void **state)
{
	(void)state;
	check("{\"type\":\"request_id\"}", 0, "");
	check("{\"type\":\"request_id\",\"header\":\"x-trace-id\",\"trust_incoming\":false,\"traceparent\":false,"
	      "\"response\":false}",
	      0, "");
	check("{\"type\":\"request_id\",\"header\":1,\"trust_incoming\":\"yes\",\"respons\":true}", -1,
	      "/routes/0/filters/0/respons: unknown key \"respons\"; allowed keys: type, header, trust_incoming, "
	      "traceparent, response\n"
	      "/routes/0/filters/0/header: expected a string, not an integer\n"
	      "/routes/0/filters/0/trust_incoming: expected a boolean, not a string\n");
	check("{\"type\":\"request_id\",\"header\":\"x id\"}", -1,
	      "/routes/0/filters/0/header: \"x id\" is not a valid header name\n");
	check("{\"type\":\"request_id\",\"header\":\"Host\"}", -1,
	      "/routes/0/filters/0/header: header \"Host\" cannot carry the request id\n");
}

static void test_traceparent(void **state)
{
	static const char good[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	static const char *const bad[] = {
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",    /* short */
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x", /* 00 has no more fields */
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   /* version ff */
		"00-00000000000000000000000000000000-b7ad6b7169203331-01",   /* zero trace id */
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",   /* zero parent id */
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",   /* upper case */
		"00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   /* separator */
	};

	(void)state;
	assert_true(gw_traceparent_valid(good, strlen(good)));
	assert_true(gw_traceparent_valid("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later", 61));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(gw_traceparent_valid(bad[i], strlen(bad[i])));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configs),
		cmocka_unit_test(test_traceparent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
