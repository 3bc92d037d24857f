/* gw_http_response: the response head parser. The status line, the body
 * framing table of RFC 9112 6.3 (HEAD, 1xx, 204, 304, chunked, length, until
 * close), keep-alive, and every invalid response turned into -502. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gw_http.h"
#include "gw_http_s.h"

static struct gw_http_limits limits;
static struct gw_response resp;

static int setup_limits(void **state)
{
	(void)state;
	gw_http_limits_default(&limits);
	return 0;
}

/* Parses `head` whole into `resp`, after checking that every prefix, fed
 * byte by byte to one struct, gives 0 until the same answer. */
static int parse_as(const char *head, int is_head)
{
	static struct gw_response step;
	size_t len = strlen(head);
	int whole;
	int seen = 0;

	gw_http_response_init(&resp);
	whole = gw_http_parse_response(&resp, head, len, &limits, is_head);
	gw_http_response_init(&step);
	for (size_t n = 0; n <= len; n++) {
		int r = gw_http_parse_response(&step, head, n, &limits, is_head);

		if (seen == 0 && r != 0)
			seen = r;
		if (seen != 0)
			assert_int_equal(r, seen);
		if (whole > 0 && n < len)
			assert_int_equal(r, 0);
	}
	assert_int_equal(seen, whole);
	return whole;
}

static int parse(const char *head)
{
	return parse_as(head, 0);
}

static int span_is(const char *buf, struct gw_http_span span, const char *want)
{
	return span.len == strlen(want) && memcmp(buf + span.off, want, span.len) == 0;
}

#define assert_complete(head) assert_int_equal(parse(head), (int)strlen(head))

static void test_status_line_parsed(void **state)
{
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: t\r\n\r\n";
	(void)state;

	assert_complete(head);
	assert_int_equal(resp.status, 200);
	assert_true(span_is(head, resp.reason, "OK"));
	assert_int_equal(resp.head.version_minor, 1);
	assert_int_equal(resp.head.field_count, 2);
	assert_true(span_is(head, resp.head.fields[1].name, "Server"));
	assert_true(span_is(head, resp.head.fields[1].value, "t"));
	assert_int_equal(resp.head.length, strlen(head));
	assert_null(resp.head.error_ptr);
}

static void test_reason_may_be_empty_or_hold_spaces(void **state)
{
	const char *spaced = "HTTP/1.1 404 Not  Found \xe9\t\r\nContent-Length: 0\r\n\r\n";
	(void)state;

	assert_complete("HTTP/1.1 204 \r\n\r\n");
	assert_int_equal(resp.reason.len, 0);
	assert_complete("HTTP/1.1 204\r\n\r\n");
	assert_int_equal(resp.reason.len, 0);
	assert_complete(spaced);
	assert_true(span_is(spaced, resp.reason, "Not  Found \xe9\t"));
}

static void test_versions(void **state)
{
	(void)state;
	assert_complete("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(resp.head.version_minor, 0);
	assert_complete("HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(resp.head.version_minor, 1);
	assert_int_equal(parse("HTTP/2.0 200 OK\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.10 200 OK\r\n\r\n"), -502);
	assert_int_equal(parse("http/1.1 200 OK\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1\r\n\r\n"), -502);
	assert_int_equal(parse("ICY 200 OK\r\n\r\n"), -502);
}

static void test_status_code_three_digits_in_range(void **state)
{
	(void)state;
	assert_int_equal(parse("HTTP/1.1 20 OK\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 2000 OK\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 099 OK\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 600 OK\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 2x0 OK\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1  200 OK\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200\tOK\r\n\r\n"), -502);
	assert_complete("HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(resp.status, 599);
	assert_complete("HTTP/1.1 100 Continue\r\n\r\n");
	assert_int_equal(resp.status, 100);
}

static void test_crlf_only(void **state)
{
	(void)state;
	assert_int_equal(parse("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nA: 1\rB: 2\r\n\r\n"), -502);
	assert_int_equal(parse("\r\nHTTP/1.1 200 OK\r\n\r\n"), -502);
}

static void test_field_rules_as_for_requests(void **state)
{
	(void)state;
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nX: a\fb\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nX(: a\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"), -502);
	assert_non_null(resp.head.error_ptr);
}

/* RFC 9112 6.3, one row per case. */
static void test_framing_table(void **state)
{
	static const struct {
		const char *head;
		int is_head;
		enum gw_http_body body;
		uint64_t length;
		int keep_alive;
	} rows[] = {
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0, GW_BODY_LENGTH, 5, 1},
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, GW_BODY_LENGTH, 0, 1},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", 0, GW_BODY_LENGTH, 5, 1},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, GW_BODY_CHUNKED, 0, 1},
		{"HTTP/1.1 200 OK\r\n\r\n", 0, GW_BODY_UNTIL_CLOSE, 0, 0},
		{"HTTP/1.0 200 OK\r\n\r\n", 0, GW_BODY_UNTIL_CLOSE, 0, 0},
		{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", 0, GW_BODY_LENGTH, 2, 0},
		{"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n", 0, GW_BODY_LENGTH, 2, 1},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", 0, GW_BODY_LENGTH, 2, 0},
		{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 1, GW_BODY_NONE, 100, 1},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 1, GW_BODY_NONE, 0, 1},
		{"HTTP/1.1 200 OK\r\n\r\n", 1, GW_BODY_NONE, 0, 1},
		{"HTTP/1.1 204 No Content\r\n\r\n", 0, GW_BODY_NONE, 0, 1},
		{"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", 0, GW_BODY_NONE, 7, 1},
		{"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", 0, GW_BODY_NONE, 100, 1},
		{"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 0, GW_BODY_NONE, 0, 1},
		{"HTTP/1.1 100 Continue\r\n\r\n", 0, GW_BODY_NONE, 0, 1},
		{"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", 0, GW_BODY_NONE, 0, 1},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 0,
		 GW_BODY_NONE, 0, 0},
		{"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\n", 0, GW_BODY_LENGTH, 3, 1},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (parse_as(rows[i].head, rows[i].is_head) != (int)strlen(rows[i].head))
			fail_msg("row %zu rejected: %s", i, resp.head.error_ptr);
		if (resp.head.body != rows[i].body || resp.head.keep_alive != rows[i].keep_alive)
			fail_msg("row %zu: body %d keep_alive %d", i, resp.head.body, resp.head.keep_alive);
		if (rows[i].body == GW_BODY_LENGTH)
			assert_int_equal(resp.head.content_length, rows[i].length);
	}
}

static void test_upgrade_only_on_101_with_upgrade(void **state)
{
	(void)state;
	assert_complete("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
	assert_int_equal(resp.head.upgrade, 1);
	assert_int_equal(parse("HTTP/1.1 101 Switching Protocols\r\n\r\n"), -502);
	assert_complete("HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(resp.head.upgrade, 0);
}

static void test_content_length_strictness(void **state)
{
	(void)state;
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n"), -502);
	/* The request body limit does not apply to responses. */
	limits.max_body_bytes = 10;
	assert_complete("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n");
	assert_int_equal(resp.head.content_length, 11);
}

static void test_transfer_encoding_only_single_chunked(void **state)
{
	(void)state;
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"), -502);
	assert_int_equal(parse("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), -502);
	/* Even where no body follows, the head is forwarded: still checked. */
	assert_int_equal(parse_as("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 1),
			 -502);
}

static void test_limits_are_502(void **state)
{
	char head[256];
	int n;
	(void)state;

	n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: %050d\r\n\r\n", 0);
	limits.max_head_bytes = (size_t)n;
	assert_int_equal(parse(head), n);
	limits.max_head_bytes = (size_t)n - 1;
	assert_int_equal(parse(head), -502);
	assert_non_null(resp.head.error_ptr);
	gw_http_limits_default(&limits);
	limits.max_headers = 1;
	assert_int_equal(parse(head), -502);
}

static void test_connection_options_nominate_fields(void **state)
{
	const char *head = "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nContent-Length: 0\r\n\r\n";
	(void)state;

	assert_complete(head);
	assert_int_equal(resp.head.option_count, 1);
	assert_true(span_is(head, resp.head.options[0], "X-Hop"));
	assert_int_equal(resp.head.fields[1].nominated, 1);
	assert_int_equal(resp.head.fields[2].nominated, 0);
}

static void test_response_header_find(void **state)
{
	const char *head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n";
	const struct gw_http_field *field_ptr;
	(void)state;

	assert_complete(head);
	field_ptr = gw_http_response_header_find(&resp, head, "content-type");
	assert_non_null(field_ptr);
	assert_true(span_is(head, field_ptr->value, "text/plain"));
	assert_null(gw_http_response_header_find(&resp, head, "Server"));
}

static void test_result_is_sticky(void **state)
{
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n";
	size_t first = strlen("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	(void)state;

	gw_http_response_init(&resp);
	assert_int_equal(gw_http_parse_response(&resp, head, strlen(head), &limits, 0), (int)first);
	assert_int_equal(gw_http_parse_response(&resp, head, strlen(head), &limits, 0), (int)first);
	gw_http_response_init(&resp);
	assert_int_equal(gw_http_parse_response(&resp, "HTTP/2", 6, &limits, 0), -502);
	assert_int_equal(gw_http_parse_response(&resp, head, strlen(head), &limits, 0), -502);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_status_line_parsed, setup_limits),
		cmocka_unit_test_setup(test_reason_may_be_empty_or_hold_spaces, setup_limits),
		cmocka_unit_test_setup(test_versions, setup_limits),
		cmocka_unit_test_setup(test_status_code_three_digits_in_range, setup_limits),
		cmocka_unit_test_setup(test_crlf_only, setup_limits),
		cmocka_unit_test_setup(test_field_rules_as_for_requests, setup_limits),
		cmocka_unit_test_setup(test_framing_table, setup_limits),
		cmocka_unit_test_setup(test_upgrade_only_on_101_with_upgrade, setup_limits),
		cmocka_unit_test_setup(test_content_length_strictness, setup_limits),
		cmocka_unit_test_setup(test_transfer_encoding_only_single_chunked, setup_limits),
		cmocka_unit_test_setup(test_limits_are_502, setup_limits),
		cmocka_unit_test_setup(test_connection_options_nominate_fields, setup_limits),
		cmocka_unit_test_setup(test_response_header_find, setup_limits),
		cmocka_unit_test_setup(test_result_is_sticky, setup_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
