/* test_gw_filter_cors: the cors filter's configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gw_filter_test.h"
#include "gw_filters.h"

static void check(const char *text, int rc, const char *errors)
{
	struct compiled c;

	compile_entry(&gw_filter_cors_type, text, &c);
	assert_string_equal(c.errors, errors);
	assert_int_equal(c.rc, rc);
	compiled_free(&c);
}

static void test_configs(void **state)
{
	(void)state;
	check("{\"type\":\"cors\",\"allow_origins\":[\"*\"]}", 0, "");
	check("{\"type\":\"cors\",\"allow_origins\":[\"https://a.example\",\"http://b.example:8080\"],"
	      "\"allow_methods\":[\"GET\",\"PUT\"],\"allow_headers\":[\"content-type\"],\"expose_headers\":[\"x-id\"],"
	      "\"allow_credentials\":true,\"max_age_s\":600}",
	      0, "");
	check("{\"type\":\"cors\"}", -1, "/routes/0/filters/0: missing required key \"allow_origins\"\n");
	check("{\"type\":\"cors\",\"allow_origins\":[\"https://a.example/\",\"ftp://x\",1],\"allow_methods\":"
	      "[\"GET \"],\"max_age_s\":-1,\"allow_credentials\":1,\"origins\":[]}",
	      -1,
	      "/routes/0/filters/0/origins: unknown key \"origins\"; allowed keys: type, allow_origins, "
	      "allow_methods, allow_headers, expose_headers, allow_credentials, max_age_s\n"
	      "/routes/0/filters/0/allow_origins/2: expected a string, not an integer\n"
	      "/routes/0/filters/0/allow_origins/0: \"https://a.example/\" is not an origin (\"*\" or "
	      "scheme://host[:port])\n"
	      "/routes/0/filters/0/allow_origins/1: \"ftp://x\" is not an origin (\"*\" or scheme://host[:port])\n"
	      "/routes/0/filters/0/allow_methods/0: \"GET \" is not a method name\n"
	      "/routes/0/filters/0/allow_credentials: expected a boolean, not an integer\n"
	      "/routes/0/filters/0/max_age_s: must be from 0 to 86400, not -1\n");
	check("[]", -1, "/routes/0/filters/0: expected an object, not an array\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
