/* Tests for gateway/gw_status.c: reasons and JSON error responses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "gw_status.h"

static void test_known_and_class_reasons(void **state)
{
	(void)state;
	assert_string_equal(gw_status_reason(431), "Request Header Fields Too Large");
	assert_string_equal(gw_status_reason(504), "Gateway Timeout");
	assert_string_equal(gw_status_reason(299), "Success");
	assert_string_equal(gw_status_reason(499), "Client Error");
}

static void test_error_body_is_valid_json_with_escapes(void **state)
{
	char buf[256];
	json_error_t err;
	json_t *doc;
	size_t n;

	(void)state;
	n = gw_status_error_body(buf, sizeof(buf), 400, "bad \"header\"\\\n\x01");
	assert_int_equal(n, strlen(buf));
	doc = json_loads(buf, 0, &err);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "error")), "bad \"header\"\\\n\x01");
	assert_int_equal(json_integer_value(json_object_get(doc, "status")), 400);
	json_decref(doc);
}

static void test_error_response_frames_the_body(void **state)
{
	char buf[512];
	const char *body;
	size_t n;

	(void)state;
	n = gw_status_error_response(buf, sizeof(buf), 503, "upstream app: too many pending requests", 1);
	assert_true(n > 0);
	assert_memory_equal(buf, "HTTP/1.1 503 Service Unavailable\r\n", 34);
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	body = strstr(buf, "\r\n\r\n") + 4;
	assert_non_null(strstr(buf, "Content-Type: application/json\r\n"));
	{
		char want[64];

		snprintf(want, sizeof(want), "Content-Length: %zu\r\n", strlen(body));
		assert_non_null(strstr(buf, want));
	}
	assert_int_equal(gw_status_error_response(buf, 20, 503, "x", 0), 0);
}

static void test_long_message_is_truncated_not_overflowed(void **state)
{
	char message[1000], buf[128];

	(void)state;
	memset(message, 'x', sizeof(message) - 1);
	message[sizeof(message) - 1] = '\0';
	assert_true(gw_status_error_body(buf, sizeof(buf), 400, message) < sizeof(buf));
	assert_int_equal(buf[sizeof(buf) - 1], '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_and_class_reasons),
		cmocka_unit_test(test_error_body_is_valid_json_with_escapes),
		cmocka_unit_test(test_error_response_frames_the_body),
		cmocka_unit_test(test_long_message_is_truncated_not_overflowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
