/* test_gw_filter_hmac: the hmac filter's configuration (its verdicts on
 * bodies are tested end to end in tests/e2e/gw_filters.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gw_filter_test.h"
#include "gw_filters.h"

#include <stdlib.h>

static void check(const char *text, int rc, const char *errors)
{
	struct compiled c;

	compile_entry(&gw_filter_hmac_type, text, &c);
	assert_string_equal(c.errors, errors);
	assert_int_equal(c.rc, rc);
	compiled_free(&c);
}

static void test_configs(void **state)
{
	(void)state;
	check("{\"type\":\"hmac\",\"secret\":\"s\"}", 0, "");
	check("{\"type\":\"hmac\",\"header\":\"x-hub-signature-256\",\"prefix\":\"sha256=\",\"algorithm\":\"sha512\","
	      "\"encoding\":\"base64\",\"secret\":\"s\"}",
	      0, "");
	setenv("TEST_HMAC_SECRET", "from-env", 1);
	check("{\"type\":\"hmac\",\"secret_env\":\"TEST_HMAC_SECRET\"}", 0, "");
	unsetenv("TEST_HMAC_UNSET");
	check("{\"type\":\"hmac\",\"secret_env\":\"TEST_HMAC_UNSET\"}", -1,
	      "/routes/0/filters/0/secret_env: environment variable TEST_HMAC_UNSET is not set or empty\n");
	check("{\"type\":\"hmac\"}", -1,
	      "/routes/0/filters/0: exactly one of \"secret_env\" and \"secret\" is required\n");
	check("{\"type\":\"hmac\",\"secret\":\"s\",\"secret_env\":\"TEST_HMAC_SECRET\"}", -1,
	      "/routes/0/filters/0: exactly one of \"secret_env\" and \"secret\" is required\n");
	check("{\"type\":\"hmac\",\"secret\":\"\",\"header\":\"bad "
	      "header\",\"algorithm\":\"md5\",\"encoding\":\"rot13\"}",
	      -1,
	      "/routes/0/filters/0/header: \"bad header\" is not a valid header name\n"
	      "/routes/0/filters/0/algorithm: \"md5\" is not one of \"sha256\", \"sha1\", \"sha512\"\n"
	      "/routes/0/filters/0/encoding: \"rot13\" is not \"hex\" or \"base64\"\n"
	      "/routes/0/filters/0/secret: the secret is empty\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
