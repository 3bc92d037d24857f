/* test_gw_filter_headers: the headers filter's configuration, good and
 * bad, with the exact pointer of every problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gw_filter_test.h"
#include "gw_filters.h"

static void good(const char *text)
{
	struct compiled c;

	compile_entry(&gw_filter_headers_type, text, &c);
	assert_string_equal(c.errors, "");
	assert_int_equal(c.rc, 0);
	assert_non_null(c.blob_ptr);
	compiled_free(&c);
}

static void bad(const char *text, const char *errors)
{
	struct compiled c;

	compile_entry(&gw_filter_headers_type, text, &c);
	assert_string_equal(c.errors, errors);
	assert_int_equal(c.rc, -1);
	compiled_free(&c);
}

static void test_good_configs(void **state)
{
	(void)state;
	good("{\"type\":\"headers\"}");
	good("{\"type\":\"headers\",\"request\":{\"set\":{\"x-a\":\"1\"},\"add\":{\"x-b\":\"\"},\"remove\":[\"x-c\"]},"
	     "\"response\":{\"add\":{\"x-served-by\":\"vkgw\"}}}");
}

static void test_bad_configs(void **state)
{
	(void)state;
	bad("{\"type\":\"headers\",\"reqest\":{}}",
	    "/routes/0/filters/0/reqest: unknown key \"reqest\"; allowed keys: type, request, response\n");
	bad("{\"type\":\"headers\",\"request\":[]}", "/routes/0/filters/0/request: expected an object, not an array\n");
	bad("{\"type\":\"headers\",\"response\":{\"put\":{}}}",
	    "/routes/0/filters/0/response/put: unknown key \"put\"; allowed keys: set, add, remove\n");
	bad("{\"type\":\"headers\",\"request\":{\"set\":{\"x-a\":1}}}",
	    "/routes/0/filters/0/request/set/x-a: expected a string\n");
	bad("{\"type\":\"headers\",\"request\":{\"set\":{\"bad name\":\"1\"}}}",
	    "/routes/0/filters/0/request/set/bad name: \"bad name\" is not a valid header name\n");
	bad("{\"type\":\"headers\",\"request\":{\"add\":{\"x-a\":\"a\\r\\nx-b: 1\"}}}",
	    "/routes/0/filters/0/request/add/x-a: not a valid header value (control characters, or space at either "
	    "end)\n");
	bad("{\"type\":\"headers\",\"request\":{\"remove\":[\"x-a\",\"Content-Length\",3]}}",
	    "/routes/0/filters/0/request/remove/2: expected a string, not an integer\n"
	    "/routes/0/filters/0/request/remove/1: header \"Content-Length\" is written by the gateway and cannot be "
	    "edited\n");
	bad("{\"type\":\"headers\",\"response\":{\"set\":{\"a/b~\":\"1\"}}}",
	    "/routes/0/filters/0/response/set/a~1b~0: \"a/b~\" is not a valid header name\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_configs),
		cmocka_unit_test(test_bad_configs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
