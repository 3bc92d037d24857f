/* gw_http_parse: the request head parser. Every head is parsed three ways
 * (whole, resumed byte by byte, fresh on every prefix) and the answers must
 * agree: a valid head gives 0 on each proper prefix, then its length. Then
 * each strictness rule, positive and negative, the limits, and where the
 * offsets point. */
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
static struct gw_request req;

static int setup_limits(void **state)
{
	(void)state;
	gw_http_limits_default(&limits);
	return 0;
}

/* Parses buf[0..len) in one call into `req`, after checking that feeding it
 * byte by byte (resuming) and from scratch on every prefix agree with that:
 * 0 on prefixes until the answer, then the same answer. */
static int parse_n(const char *buf, size_t len)
{
	static struct gw_request step;
	int whole;
	int seen = 0;

	gw_http_request_init(&req);
	whole = gw_http_parse_request(&req, buf, len, &limits);

	gw_http_request_init(&step);
	for (size_t n = 0; n <= len; n++) {
		int r = gw_http_parse_request(&step, buf, n, &limits);

		if (seen == 0 && r != 0)
			seen = r;
		if (seen != 0)
			assert_int_equal(r, seen);
		else if (r != 0)
			fail_msg("prefix %zu: %d", n, r);
	}
	assert_int_equal(seen, whole);

	for (size_t n = 0; n < len; n++) {
		struct gw_request fresh;
		int r;

		gw_http_request_init(&fresh);
		r = gw_http_parse_request(&fresh, buf, n, &limits);
		if (whole > 0 && r != 0)
			fail_msg("proper prefix %zu of a valid head: %d", n, r);
		if (r != 0 && r != whole)
			fail_msg("prefix %zu: %d, whole: %d", n, r, whole);
	}
	return whole;
}

static int parse(const char *buf)
{
	return parse_n(buf, strlen(buf));
}

static int span_is(const char *buf, struct gw_http_span span, const char *want)
{
	return span.len == strlen(want) && memcmp(buf + span.off, want, span.len) == 0;
}

#define assert_span(buf, span, want) assert_true(span_is((buf), (span), (want)))
#define assert_complete(head) assert_int_equal(parse(head), (int)strlen(head))

/* A request with one extra field line `field` (e.g. "Content-Length: 5"). */
static int parse_with_field(const char *field)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: example.test\r\n%s\r\n\r\n", field);
	return parse(buf);
}

static int parse_with_fields(const char *a, const char *b)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: example.test\r\n%s\r\n%s\r\n\r\n", a, b);
	return parse(buf);
}

/* Positive basics */

static void test_simple_get_is_complete(void **state)
{
	const char *head = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.test\r\n\r\n";
	(void)state;

	assert_int_equal(parse(head), (int)strlen(head));
	assert_int_equal(req.method, GW_METHOD_GET);
	assert_span(head, req.method_span, "GET");
	assert_span(head, req.target, "/index.html?q=1");
	assert_int_equal(req.target_form, GW_TARGET_ORIGIN);
	assert_int_equal(req.head.version_minor, 1);
	assert_span(head, req.host, "example.test");
	assert_int_equal(req.head.body, GW_BODY_NONE);
	assert_int_equal(req.head.keep_alive, 1);
	assert_int_equal(req.head.start, 0);
	assert_int_equal(req.head.length, strlen(head));
	assert_null(req.head.error_ptr);
}

static void test_field_offsets_order_case_and_ows(void **state)
{
	const char *head = "GET / HTTP/1.1\r\n"
			   "Host:example.test\r\n"
			   "X-Mixed-Case:  \t a  b \t \r\n"
			   "empty:\r\n"
			   "x-mixed-case: second\r\n"
			   "\r\n";
	(void)state;

	assert_int_equal(parse(head), (int)strlen(head));
	assert_int_equal(req.head.field_count, 4);
	assert_span(head, req.head.fields[0].name, "Host");
	assert_span(head, req.head.fields[0].value, "example.test");
	assert_int_equal(req.head.fields[0].kind, GW_FIELD_HOST);
	assert_span(head, req.head.fields[1].name, "X-Mixed-Case");
	assert_span(head, req.head.fields[1].value, "a  b");
	assert_span(head, req.head.fields[2].name, "empty");
	assert_int_equal(req.head.fields[2].value.len, 0);
	assert_span(head, req.head.fields[3].name, "x-mixed-case");
	assert_span(head, req.head.fields[3].value, "second");
	assert_int_equal(req.head.fields[3].kind, GW_FIELD_OTHER);
}

static void test_known_methods_and_other_tokens(void **state)
{
	static const struct {
		const char *name;
		enum gw_http_method method;
	} cases[] = {
		{"GET", GW_METHOD_GET},	       {"HEAD", GW_METHOD_HEAD},     {"POST", GW_METHOD_POST},
		{"PUT", GW_METHOD_PUT},	       {"DELETE", GW_METHOD_DELETE}, {"OPTIONS", GW_METHOD_OPTIONS},
		{"TRACE", GW_METHOD_TRACE},    {"PATCH", GW_METHOD_PATCH},   {"get", GW_METHOD_OTHER},
		{"M-SEARCH", GW_METHOD_OTHER}, {"GETX", GW_METHOD_OTHER},    {"!#$%&'*+-.^_`|~", GW_METHOD_OTHER},
	};
	char buf[256];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].name);

		assert_int_equal(parse(buf), n);
		assert_int_equal(req.method, cases[i].method);
		assert_span(buf, req.method_span, cases[i].name);
	}
}

static void test_leading_empty_lines_are_skipped_and_counted(void **state)
{
	const char *head = "\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	(void)state;

	assert_int_equal(parse(head), (int)strlen(head));
	assert_int_equal(req.head.start, 4);
	assert_span(head, req.method_span, "GET");
	assert_span(head, req.target, "/x");
}

static void test_leading_bare_lf_or_space_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}

static void test_every_prefix_needs_more_on_several_heads(void **state)
{
	static const char *heads[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\nPOST /upload HTTP/1.1\r\nHost: example.test:8080\r\nContent-Length: 10\r\nExpect: "
		"100-continue\r\n\r\n",
		"PUT http://example.test/p?q HTTP/1.1\r\nHost: other\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /old HTTP/1.0\r\nConnection: keep-alive\r\nX: \xff\xfe\r\n\r\n",
		"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n",
	};
	(void)state;

	/* parse() checks every prefix three ways. */
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
		assert_int_equal(parse(heads[i]), (int)strlen(heads[i]));
}

static void test_result_is_sticky_and_body_bytes_are_not_read(void **state)
{
	const char *buf = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t first = strlen("GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
	(void)state;

	gw_http_request_init(&req);
	assert_int_equal(gw_http_parse_request(&req, buf, strlen(buf), &limits), (int)first);
	assert_int_equal(gw_http_parse_request(&req, buf, strlen(buf), &limits), (int)first);
	gw_http_request_init(&req);
	assert_int_equal(gw_http_parse_request(&req, buf + first, strlen(buf) - first, &limits),
			 (int)(strlen(buf) - first));
	assert_span(buf + first, req.target, "/b");

	gw_http_request_init(&req);
	assert_int_equal(gw_http_parse_request(&req, "GET  /", 6, &limits), -400);
	assert_int_equal(gw_http_parse_request(&req, "GET / HTTP/1.1\r\n\r\n", 18, &limits), -400);
}

/* Request line */

static void test_request_line_needs_single_spaces(void **state)
{
	(void)state;
	assert_int_equal(parse("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET /\tHTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET /\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET\r\n\r\n"), -400);
}

static void test_method_must_be_a_token(void **state)
{
	(void)state;
	assert_int_equal(parse("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GE\"T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("G\x80T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET: / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}

static void test_target_without_whitespace_ctl_or_fragment(void **state)
{
	(void)state;
	assert_int_equal(parse("GET /foo bar HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse_n("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 30), -400);
	assert_complete("GET /a?b=|{}\"<>^`\\ HTTP/1.1\r\nHost: a\r\n\r\n");
}

static void test_version_exactly_http_1_0_or_1_1(void **state)
{
	(void)state;
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n"), 18);
	assert_int_equal(req.head.version_minor, 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 27);
	assert_int_equal(req.head.version_minor, 1);
	assert_int_equal(parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), -505);
	assert_int_equal(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -505);
	assert_int_equal(parse("GET / HTTP/0.9\r\n\r\n"), -505);
	assert_int_equal(parse("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/11\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET / http/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTPS/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET / FOO\r\nHost: a\r\n\r\n"), -400);
}

static void test_h2_preface_is_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), -505);
}

static void test_request_line_crlf_only(void **state)
{
	(void)state;
	assert_int_equal(parse("GET / HTTP/1.1\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\rHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\nHost: a\n\n"), -400);
}

static void test_absolute_form_gives_authority_path_and_host(void **state)
{
	const char *head = "GET http://example.test:8080/p/q?x=1 HTTP/1.1\r\nHost: other.test\r\n\r\n";
	const char *bare = "GET HTTPS://example.test HTTP/1.1\r\nHost: x\r\n\r\n";
	const char *query = "GET http://example.test?x HTTP/1.1\r\nHost: x\r\n\r\n";
	(void)state;

	assert_int_equal(parse(head), (int)strlen(head));
	assert_int_equal(req.target_form, GW_TARGET_ABSOLUTE);
	assert_span(head, req.target_authority, "example.test:8080");
	assert_span(head, req.target_path, "/p/q?x=1");
	assert_span(head, req.host, "example.test:8080");

	assert_int_equal(parse(bare), (int)strlen(bare));
	assert_span(bare, req.target_authority, "example.test");
	assert_int_equal(req.target_path.len, 0);
	assert_int_equal(parse(query), (int)strlen(query));
	assert_span(query, req.target_path, "?x");
}

static void test_absolute_form_invalid_authority_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse("GET http://user@example.test/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET http://a:b/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	/* The Host field must still be valid, and present. */
	assert_int_equal(parse("GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n"), -400);
	assert_int_equal(parse("GET http://a/ HTTP/1.1\r\n\r\n"), -400);
}

static void test_authority_form_only_for_connect(void **state)
{
	const char *head = "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n";
	(void)state;

	assert_int_equal(parse(head), (int)strlen(head));
	assert_int_equal(req.method, GW_METHOD_CONNECT);
	assert_int_equal(req.target_form, GW_TARGET_AUTHORITY);
	assert_span(head, req.target, "example.test:443");
	assert_complete("CONNECT [::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(parse("CONNECT example.test HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("CONNECT http://a:1/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET example.test:443 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}

static void test_asterisk_form_only_for_options(void **state)
{
	(void)state;
	assert_int_equal(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 31);
	assert_int_equal(req.target_form, GW_TARGET_ASTERISK);
	assert_int_equal(parse("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET relative/path HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}

/* Field lines */

static void test_field_lines_crlf_only(void **state)
{
	(void)state;
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nFoo: 1\rBar: 2\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost\n: a\r\n\r\n"), -400);
}

static void test_no_whitespace_between_name_and_colon(void **state)
{
	(void)state;
	assert_int_equal(parse_with_field("Content-Length : 4"), -400);
	assert_int_equal(parse_with_field("X-Foo\t: 4"), -400);
	assert_int_equal(parse_with_field("X Foo: 4"), -400);
}

static void test_obs_fold_and_leading_whitespace_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: abc\r\n\tdef\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nX: abc\r\n  def\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nname\r\n : value\r\n\r\n"), -400);
}

static void test_field_name_must_be_a_token(void **state)
{
	(void)state;
	assert_int_equal(parse_with_field("X(a): b"), -400);
	assert_int_equal(parse_with_field("X@y: b"), -400);
	assert_int_equal(parse_with_field(": no name"), -400);
	assert_int_equal(parse_with_field("no-colon"), -400);
	assert_int_equal(parse_with_field("X\x80: b"), -400);
	assert_true(parse_with_field("!#$%&'*+-.^_`|~09azAZ: b") > 0);
}

static void test_field_value_characters(void **state)
{
	const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
	(void)state;

	assert_int_equal(parse_n(nul, sizeof(nul) - 1), -400);
	assert_int_equal(parse_with_field("Header1: hello\fworld"), -400);
	assert_int_equal(parse_with_field("X: a\x7f"), -400);
	assert_int_equal(parse_with_field("X: a\x01"), -400);
	assert_int_equal(parse_with_field("X: a\x1b[0m"), -400);
	assert_true(parse_with_field("X-Latin1: caf\xe9 \xff") > 0);
	assert_true(parse_with_field("X: a\tb\t \"q\" ~") > 0);
}

static void test_underscore_name_is_not_transfer_encoding(void **state)
{
	(void)state;
	assert_true(parse_with_fields("Transfer_Encoding: chunked", "Content-Length: 5") > 0);
	assert_int_equal(req.head.body, GW_BODY_LENGTH);
	assert_int_equal(req.head.content_length, 5);
	assert_int_equal(req.head.fields[1].kind, GW_FIELD_OTHER);
}

/* Content-Length */

static void test_content_length_valid(void **state)
{
	(void)state;
	assert_true(parse_with_field("Content-Length: 5") > 0);
	assert_int_equal(req.head.body, GW_BODY_LENGTH);
	assert_int_equal(req.head.content_length, 5);
	assert_int_equal(req.head.fields[1].kind, GW_FIELD_CONTENT_LENGTH);
	assert_true(parse_with_field("content-LENGTH: 003") > 0);
	assert_int_equal(req.head.content_length, 3);
	assert_true(parse_with_field("Content-Length: 0") > 0);
	assert_int_equal(req.head.body, GW_BODY_LENGTH);
	assert_int_equal(req.head.content_length, 0);
	assert_true(parse_with_field("Content-Length: 00000000000000000000000000042") > 0);
	assert_int_equal(req.head.content_length, 42);
}

static void test_content_length_syntax_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse_with_field("Content-Length: +5"), -400);
	assert_int_equal(parse_with_field("Content-Length: -5"), -400);
	assert_int_equal(parse_with_field("Content-Length: 4 2"), -400);
	assert_int_equal(parse_with_field("Content-Length:"), -400);
	assert_int_equal(parse_with_field("Content-Length:  \t "), -400);
	assert_int_equal(parse_with_field("Content-Length: 5a"), -400);
	assert_int_equal(parse_with_field("Content-Length: 0x5"), -400);
	assert_int_equal(parse_with_field("Content-Length: \"5\""), -400);
	assert_int_equal(parse_with_field("Content-Length: 5."), -400);
}

static void test_content_length_overflow_does_not_wrap(void **state)
{
	(void)state;
	assert_int_equal(parse_with_field("Content-Length: 9223372036854775808"), -400);
	assert_int_equal(parse_with_field("Content-Length: 18446744073709551621"), -400);
	assert_int_equal(parse_with_field("Content-Length: 1000000000000000000000"), -400);
	limits.max_body_bytes = UINT64_MAX;
	assert_true(parse_with_field("Content-Length: 9223372036854775807") > 0);
	assert_int_equal(req.head.content_length, 9223372036854775807ull);
}

static void test_content_length_above_body_limit_is_413(void **state)
{
	(void)state;
	assert_int_equal(parse_with_field("Content-Length: 9223372036854775807"), -413);
	limits.max_body_bytes = 100;
	assert_true(parse_with_field("Content-Length: 100") > 0);
	assert_int_equal(parse_with_field("Content-Length: 101"), -413);
	/* 1 GiB uploads pass the defaults. */
	gw_http_limits_default(&limits);
	assert_true(parse_with_field("Content-Length: 1073741824") > 0);
}

static void test_repeated_content_length_must_agree(void **state)
{
	(void)state;
	assert_true(parse_with_fields("Content-Length: 5", "Content-Length: 5") > 0);
	assert_int_equal(req.head.content_length, 5);
	assert_true(parse_with_field("Content-Length: 5, 5") > 0);
	assert_int_equal(req.head.content_length, 5);
	assert_true(parse_with_field("Content-Length: 5,5 ,05") > 0);
	assert_int_equal(req.head.content_length, 5);
	assert_int_equal(parse_with_fields("Content-Length: 5", "Content-Length: 6"), -400);
	assert_int_equal(parse_with_field("Content-Length: 5, 6"), -400);
	assert_int_equal(parse_with_fields("Content-Length: 5, 5", "Content-Length: 6"), -400);
}

/* Transfer-Encoding */

static void test_transfer_encoding_chunked(void **state)
{
	(void)state;
	assert_true(parse_with_field("Transfer-Encoding: chunked") > 0);
	assert_int_equal(req.head.body, GW_BODY_CHUNKED);
	assert_int_equal(req.head.fields[1].kind, GW_FIELD_TRANSFER_ENCODING);
	assert_true(parse_with_field("transfer-encoding: CHUNKED") > 0);
	assert_int_equal(req.head.body, GW_BODY_CHUNKED);
	assert_true(parse_with_field("Transfer-Encoding:\tchunked \t") > 0);
	assert_int_equal(req.head.body, GW_BODY_CHUNKED);
	assert_true(parse_with_field("Transfer-Encoding: , chunked,") > 0);
	assert_int_equal(req.head.body, GW_BODY_CHUNKED);
}

static void test_transfer_encoding_with_content_length_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse_with_fields("Content-Length: 6", "Transfer-Encoding: chunked"), -400);
	assert_int_equal(parse_with_fields("Transfer-Encoding: chunked", "Content-Length: 6"), -400);
	assert_int_equal(parse_with_fields("Transfer-Encoding: gzip, chunked", "Content-Length: 6"), -400);
}

static void test_chunked_more_than_once_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse_with_field("Transfer-Encoding: chunked, chunked"), -400);
	assert_int_equal(parse_with_fields("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), -400);
}

static void test_chunked_not_last_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse_with_field("Transfer-Encoding: chunked, gzip"), -400);
	assert_int_equal(parse_with_fields("Transfer-Encoding: chunked", "Transfer-Encoding: identity"), -400);
}

static void test_unsupported_codings_are_501(void **state)
{
	(void)state;
	assert_int_equal(parse_with_field("Transfer-Encoding: gzip, chunked"), -501);
	assert_int_equal(parse_with_field("Transfer-Encoding: cow, chunked"), -501);
	assert_int_equal(parse_with_field("Transfer-Encoding: xchunked"), -501);
	assert_int_equal(parse_with_field("Transfer-Encoding: chunkedchunked"), -501);
	assert_int_equal(parse_with_field("Transfer-Encoding: gzip"), -501);
	assert_int_equal(parse_with_fields("Transfer-Encoding: gzip", "Transfer-Encoding: chunked"), -501);
	assert_int_equal(parse_with_field("Transfer-Encoding: gzip;q=\"a, b\", chunked"), -501);
	assert_int_equal(parse_with_field("Transfer-Encoding: ext ; p = v , chunked"), -501);
}

static void test_malformed_codings_are_400(void **state)
{
	(void)state;
	assert_int_equal(parse_with_field("Transfer-Encoding: \"chunked\""), -400);
	assert_int_equal(parse_with_field("Transfer-Encoding: chunked;a=b"), -400);
	assert_int_equal(parse_with_field("Transfer-Encoding: gzip;, chunked"), -400);
	assert_int_equal(parse_with_field("Transfer-Encoding: gzip;q=\"x, chunked"), -400);
	assert_int_equal(parse_with_field("Transfer-Encoding: chu nked"), -400);
	assert_int_equal(parse_with_field("Transfer-Encoding: chunked\\"), -400);
	assert_int_equal(parse_with_field("Transfer-Encoding:"), -400);
	assert_int_equal(parse_with_field("Transfer-Encoding: ,"), -400);
}

static void test_transfer_encoding_in_http10_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
}

/* Host */

static void test_host_required_once_in_http11(void **state)
{
	(void)state;
	assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a.test\r\nHOST: a.test\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.0\r\nHost: a.test\r\nHost: b.test\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n"), 18);
	assert_int_equal(req.host.len, 0);
	assert_int_equal(parse("GET / HTTP/1.0\r\nHost: a.test\r\n\r\n"), 32);
	assert_int_equal(req.host.len, 6);
}

static void test_host_values_valid(void **state)
{
	static const char *valid[] = {
		"example.test", "example.test:8080", "127.0.0.1", "127.0.0.1:1",      "[::1]",
		"[::1]:443",	"[2001:db8::7]",     "a%2Db",	  "exa_mple-1.test~", "localhost:5000",
		"x:65535",
	};
	char buf[256];
	(void)state;

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", valid[i]);

		assert_int_equal(parse(buf), n);
		assert_span(buf, req.host, valid[i]);
	}
}

static void test_host_values_invalid(void **state)
{
	static const char *invalid[] = {
		"",
		"a b",
		"user@example.test",
		"example.test:",
		"example.test:abc",
		"x:65536",
		"x:123456",
		"[::1",
		"[zz::1]",
		"[::1]x",
		"[]",
		"a/b",
		"a%zz",
		"a%2",
		"\"a\"",
		":80",
		"a:1:2",
		"a\\b",
		"[fe80::1%25eth0]",
		"a?b",
	};
	char buf[256];
	(void)state;

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", invalid[i]);
		if (parse(buf) != -400)
			fail_msg("Host \"%s\" was accepted", invalid[i]);
	}
}

/* Connection, Upgrade, Expect */

static void test_keep_alive_by_version_and_connection(void **state)
{
	(void)state;
	assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
	assert_int_equal(req.head.keep_alive, 1);
	assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") > 0);
	assert_int_equal(req.head.keep_alive, 0);
	assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n") > 0);
	assert_int_equal(req.head.keep_alive, 0);
	assert_true(parse("GET / HTTP/1.0\r\n\r\n") > 0);
	assert_int_equal(req.head.keep_alive, 0);
	assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
	assert_int_equal(req.head.keep_alive, 1);
	assert_true(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n") > 0);
	assert_int_equal(req.head.keep_alive, 0);
	assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n") > 0);
	assert_int_equal(req.head.keep_alive, 1);
	/* The options are told apart by length first: same length, other name. */
	assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: clone\r\n\r\n") > 0);
	assert_int_equal(req.head.keep_alive, 1);
	assert_true(parse("GET / HTTP/1.0\r\nConnection: keep-alivf\r\n\r\n") > 0);
	assert_int_equal(req.head.keep_alive, 0);
	assert_true(parse("GET / HTTP/1.0\r\nConnection: x, KEEP-ALIVE\r\n\r\n") > 0);
	assert_int_equal(req.head.keep_alive, 1);
}

static void test_connection_options_nominate_fields(void **state)
{
	const char *head = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
			   "Keep-Alive: timeout=5\r\nX-End: 2\r\nx-hop: 3\r\n\r\n";
	(void)state;

	assert_int_equal(parse(head), (int)strlen(head));
	assert_int_equal(req.head.option_count, 2);
	assert_span(head, req.head.options[0], "keep-alive");
	assert_span(head, req.head.options[1], "X-Hop");
	assert_int_equal(req.head.fields[1].kind, GW_FIELD_CONNECTION);
	assert_int_equal(req.head.fields[2].nominated, 1);
	assert_int_equal(req.head.fields[3].nominated, 1);
	assert_int_equal(req.head.fields[4].nominated, 0);
	assert_int_equal(req.head.fields[5].nominated, 1);
	assert_int_equal(req.head.fields[0].nominated, 0);
}

static void test_connection_cannot_nominate_framing_fields(void **state)
{
	(void)state;
	assert_true(parse_with_fields("Connection: Content-Length, host", "Content-Length: 3") > 0);
	assert_int_equal(req.head.fields[0].nominated, 0);
	assert_int_equal(req.head.fields[2].nominated, 0);
}

static void test_connection_options_bounded_and_tokens(void **state)
{
	char field[512] = "Connection: o0";
	(void)state;

	for (unsigned i = 1; i < GW_HTTP_CONNECTION_OPTIONS_MAX; i++)
		snprintf(field + strlen(field), sizeof(field) - strlen(field), ", o%u", i);
	assert_true(parse_with_field(field) > 0);
	assert_int_equal(req.head.option_count, GW_HTTP_CONNECTION_OPTIONS_MAX);
	strcat(field, ", one-more");
	assert_int_equal(parse_with_field(field), -431);
	/* A line holding one common option alone counts like any other. */
	{
		char head[1024] = "GET / HTTP/1.1\r\nHost: a\r\n";

		for (unsigned i = 0; i < GW_HTTP_CONNECTION_OPTIONS_MAX; i++)
			strcat(head, i % 2 ? "Connection: Keep-Alive\r\n" : "Connection: CLOSE\r\n");
		assert_true(parse(strcat(head, "\r\n")) > 0);
		assert_int_equal(req.head.option_count, GW_HTTP_CONNECTION_OPTIONS_MAX);
		assert_int_equal(req.head.keep_alive, 0);
		head[strlen(head) - 2] = '\0';
		assert_int_equal(parse(strcat(head, "Connection: close\r\n\r\n")), -431);
	}
	assert_int_equal(parse_with_field("Connection: a b"), -400);
	assert_int_equal(parse_with_field("Connection: \"close\""), -400);
}

static void test_upgrade_needs_header_option_and_http11(void **state)
{
	(void)state;
	assert_true(parse_with_fields("Upgrade: websocket", "Connection: Upgrade") > 0);
	assert_int_equal(req.head.upgrade, 1);
	assert_true(parse_with_field("Upgrade: websocket") > 0);
	assert_int_equal(req.head.upgrade, 0);
	assert_true(parse_with_field("Connection: upgrade") > 0);
	assert_int_equal(req.head.upgrade, 0);
	assert_true(parse("GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n") > 0);
	assert_int_equal(req.head.upgrade, 0);
}

static void test_expect_100_continue_in_http11(void **state)
{
	(void)state;
	assert_true(parse_with_fields("Content-Length: 4", "Expect: 100-continue") > 0);
	assert_int_equal(req.expect_continue, 1);
	assert_true(parse_with_fields("Content-Length: 4", "expect: 100-Continue") > 0);
	assert_int_equal(req.expect_continue, 1);
	assert_true(parse_with_field("Content-Length: 4") > 0);
	assert_int_equal(req.expect_continue, 0);
	assert_true(parse_with_field("Expect: 200-ok") > 0);
	assert_int_equal(req.expect_continue, 0);
	assert_true(parse("POST / HTTP/1.0\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n") > 0);
	assert_int_equal(req.expect_continue, 0);
}

/* Limits */

static void test_head_limit_is_431_even_when_incomplete(void **state)
{
	char buf[200];
	int n;
	(void)state;

	n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: %040d\r\n\r\n", 0);
	limits.max_head_bytes = (size_t)n;
	assert_int_equal(parse(buf), n);
	limits.max_head_bytes = (size_t)n - 1;
	assert_int_equal(parse(buf), -431);
	/* Incomplete but already too long. */
	gw_http_request_init(&req);
	assert_int_equal(gw_http_parse_request(&req, buf, (size_t)n - 2, &limits), 0);
	gw_http_request_init(&req);
	limits.max_head_bytes = 20;
	assert_int_equal(gw_http_parse_request(&req, buf, 21, &limits), -431);
}

static void test_header_count_limit_is_431(void **state)
{
	const char *head = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
	(void)state;

	limits.max_headers = 3;
	assert_int_equal(parse(head), (int)strlen(head));
	limits.max_headers = 2;
	assert_int_equal(parse(head), -431);
}

static void test_header_count_clamped_to_capacity(void **state)
{
	static char buf[8192];
	size_t n;
	(void)state;

	limits.max_headers = 100000;
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (unsigned i = 1; i < GW_HTTP_FIELDS_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X%u: v\r\n", i);
	strcpy(buf + n, "\r\n");
	assert_int_equal(parse(buf), (int)(n + 2));
	assert_int_equal(req.head.field_count, GW_HTTP_FIELDS_MAX);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Y: v\r\n\r\n");
	assert_int_equal(parse(buf), -431);
}

static void test_target_limit_is_414_as_soon_as_known(void **state)
{
	char buf[128];
	int n;
	(void)state;

	limits.max_target_bytes = 10;
	n = snprintf(buf, sizeof(buf), "GET /123456789 HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(parse(buf), n);
	n = snprintf(buf, sizeof(buf), "GET /1234567890 HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(parse(buf), -414);
	/* No CRLF yet, no space after the target yet: already 414. */
	gw_http_request_init(&req);
	assert_int_equal(gw_http_parse_request(&req, buf, 14, &limits), 0);
	assert_int_equal(gw_http_parse_request(&req, buf, 15, &limits), -414);
}

static void test_default_limits(void **state)
{
	(void)state;
	assert_int_equal(limits.max_head_bytes, 16 * 1024);
	assert_int_equal(limits.max_headers, 100);
	assert_int_equal(limits.max_target_bytes, 8 * 1024);
	assert_true(limits.max_body_bytes >= (1ull << 30));
}

/* Helpers */

static void test_header_find_is_case_insensitive_and_first(void **state)
{
	const char *head = "GET / HTTP/1.1\r\nHost: a\r\nX-Token: one\r\nx-token: two\r\n\r\n";
	const struct gw_http_field *field_ptr;
	(void)state;

	assert_int_equal(parse(head), (int)strlen(head));
	field_ptr = gw_http_header_find(&req, head, "X-TOKEN");
	assert_non_null(field_ptr);
	assert_span(head, field_ptr->value, "one");
	assert_null(gw_http_header_find(&req, head, "X-Tok"));
	assert_null(gw_http_header_find(&req, head, "X-Token2"));
}

static void test_token_list_contains(void **state)
{
	(void)state;
	assert_true(gw_http_token_list_contains("a, b ,c", 7, "b"));
	assert_true(gw_http_token_list_contains("a,\tB\t,c", 7, "b"));
	assert_true(gw_http_token_list_contains(",,close,,", 9, "CLOSE"));
	assert_true(gw_http_token_list_contains("close", 5, "close"));
	assert_false(gw_http_token_list_contains("keep-alive", 10, "alive"));
	assert_false(gw_http_token_list_contains("closed", 6, "close"));
	assert_false(gw_http_token_list_contains("", 0, "close"));
	assert_false(gw_http_token_list_contains("\"a,close\"", 9, "close"));
	/* The length bounds the value. */
	assert_false(gw_http_token_list_contains("a, close", 3, "close"));
}

/* The class table against the RFCs' definitions, byte by byte. */
static int rfc_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void test_char_classes_match_the_rfcs(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		int field = (c >= 0x20 && c != 0x7f) || c == '\t';
		int target = c > 0x20 && c < 0x7f && c != '#';
		int host = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c != '\0' && strchr("-._~!$&'()*+,;=", (int)c) != NULL);

		if (!gw_http_is_tchar((unsigned char)c) != !rfc_tchar((unsigned char)c))
			fail_msg("tchar 0x%02x", c);
		if (!gw_http_is_field_char((unsigned char)c) != !field)
			fail_msg("field char 0x%02x", c);
		if (!(gw_http_char_class[c] & GW_HTTP_CHAR_TARGET) != !target)
			fail_msg("target char 0x%02x", c);
		if (!(gw_http_char_class[c] & GW_HTTP_CHAR_HOST) != !host)
			fail_msg("host char 0x%02x", c);
	}
}

/* A name is known by its length and its letters, not its length alone. */
static void test_field_kind_needs_the_whole_name(void **state)
{
	static const char head[] = "GET / HTTP/1.1\r\n"
				   "HOST: a\r\n"
				   "Hosx: b\r\n"
				   "Content-Lengtx: 5\r\n"
				   "transfer-encodinG: chunked\r\n"
				   "Connectiom: close\r\n"
				   "UPGRADE: websocket\r\n"
				   "Expecx: 100-continue\r\n"
				   "\r\n";

	(void)state;
	assert_int_equal(parse_n(head, sizeof(head) - 1), (int)sizeof(head) - 1);
	assert_int_equal(req.head.field_count, 7);
	assert_int_equal(req.head.fields[0].kind, GW_FIELD_HOST);
	assert_int_equal(req.head.fields[1].kind, GW_FIELD_OTHER);
	assert_int_equal(req.head.fields[2].kind, GW_FIELD_OTHER);
	assert_int_equal(req.head.fields[3].kind, GW_FIELD_TRANSFER_ENCODING);
	assert_int_equal(req.head.fields[4].kind, GW_FIELD_OTHER);
	assert_int_equal(req.head.fields[5].kind, GW_FIELD_UPGRADE);
	assert_int_equal(req.head.fields[6].kind, GW_FIELD_OTHER);
	assert_int_equal(req.head.body, GW_BODY_CHUNKED);
	assert_true(req.head.keep_alive);
	assert_false(req.expect_continue);
}

/* Init clears the counts, not the arrays: what an earlier message left in
 * them is never seen. */
static void test_init_over_an_earlier_message(void **state)
{
	static const char first[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-a, x-b\r\nX-A: 1\r\nX-B: 2\r\n\r\n";
	static const char second[] = "GET / HTTP/1.1\r\nHost: b\r\nX-A: 1\r\n\r\n";
	struct gw_request *r_ptr = &req;

	(void)state;
	memset(r_ptr, 0xa5, sizeof(*r_ptr));
	gw_http_request_init(r_ptr);
	assert_int_equal(gw_http_parse_request(r_ptr, first, sizeof(first) - 1, &limits), (int)sizeof(first) - 1);
	assert_int_equal(r_ptr->head.option_count, 2);
	assert_true(r_ptr->head.fields[2].nominated);
	gw_http_request_init(r_ptr);
	assert_int_equal(gw_http_parse_request(r_ptr, second, sizeof(second) - 1, &limits), (int)sizeof(second) - 1);
	assert_int_equal(r_ptr->head.field_count, 2);
	assert_int_equal(r_ptr->head.option_count, 0);
	assert_false(r_ptr->head.fields[1].nominated);
	assert_int_equal(r_ptr->head.fields[1].kind, GW_FIELD_OTHER);
	assert_null(gw_http_header_find(r_ptr, second, "X-B"));
	assert_non_null(gw_http_header_find(r_ptr, second, "x-a"));
	assert_true(r_ptr->head.keep_alive);
}

/* A field value is read eight bytes at a time: a control byte, DEL, CR or
 * LF at any offset of a long value is still refused, while HTAB and
 * obs-text (0x80 and above) anywhere are allowed. */
static void test_value_bytes_checked_at_every_offset(void **state)
{
	static const unsigned char refused[] = {0x00, 0x01, 0x0b, 0x1f, 0x7f, '\n'};
	static const unsigned char allowed[] = {'\t', 0x80, 0xff, ' ', '~'};
	const char *prefix = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: ";
	char head[128];
	size_t at = strlen(prefix);

	(void)state;
	memcpy(head, prefix, at);
	for (size_t offset = 1; offset < 23; offset++) {
		for (size_t i = 0; i < sizeof(refused) + sizeof(allowed); i++) {
			int is_refused = i < sizeof(refused);
			size_t len = at;

			for (size_t j = 0; j < 24; j++)
				head[len++] = j == offset
						      ? (char)(is_refused ? refused[i] : allowed[i - sizeof(refused)])
						      : (char)('a' + j % 26);
			memcpy(head + len, "\r\n\r\n", 4);
			len += 4;
			if (is_refused && parse_n(head, len) != -400)
				fail_msg("byte 0x%02x at value offset %zu was accepted", refused[i], offset);
			if (!is_refused && parse_n(head, len) != (int)len)
				fail_msg("byte 0x%02x at value offset %zu was refused", allowed[i - sizeof(refused)],
					 offset);
		}
	}
}

/* The scanners read names and values sixteen or eight bytes at a time:
 * wherever a byte of any value stands, from any start and up to any end,
 * they stop exactly where the byte classes say the run ends, and never
 * read at or past the end. */
static size_t class_run_end(const char *buf, size_t pos, size_t end, uint8_t class_bit)
{
	while (pos < end && (gw_http_char_class[(unsigned char)buf[pos]] & class_bit))
		pos++;
	return pos;
}

static void test_scanners_stop_where_the_byte_classes_say(void **state)
{
	char buf[48];

	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		for (size_t at = 0; at < 40; at++) {
			for (size_t pos = 0; pos < 4; pos++) {
				for (size_t end = pos; end <= 40; end += (end < 20 ? 1 : 7)) {
					/* a run of tchars that are field chars too, with one byte c */
					for (size_t i = 0; i < sizeof(buf); i++)
						buf[i] = "Ab-9z_Zq0x.~"[i % 12];
					buf[at] = (char)c;
					/* past `end`: a byte every run takes, so a scan that
					 * went past it would show */
					if (end < sizeof(buf))
						buf[end] = 'a';
					if (gw_http_token_chars_end(buf, pos, end) !=
					    class_run_end(buf, pos, end, GW_HTTP_CHAR_TCHAR))
						fail_msg("token run: byte 0x%02x at %zu, from %zu to %zu", c, at, pos,
							 end);
					if (gw_http_field_chars_end(buf, pos, end) !=
					    class_run_end(buf, pos, end, GW_HTTP_CHAR_FIELD))
						fail_msg("value run: byte 0x%02x at %zu, from %zu to %zu", c, at, pos,
							 end);
				}
			}
		}
	}
}

/* Every named kind, in any case; a name one letter off, or of another
 * name's length with a different first letter, is no kind. */
static void test_field_kind_of_each_name(void **state)
{
	static const struct {
		const char *name;
		enum gw_http_field_kind kind;
		int hop_by_hop;
	} names[] = {
		{"Host", GW_FIELD_HOST, 0},
		{"content-LENGTH", GW_FIELD_CONTENT_LENGTH, 0},
		{"Transfer-Encoding", GW_FIELD_TRANSFER_ENCODING, 1},
		{"CONNECTION", GW_FIELD_CONNECTION, 1},
		{"Upgrade", GW_FIELD_UPGRADE, 1},
		{"Expect", GW_FIELD_EXPECT, 1},
		{"Keep-Alive", GW_FIELD_KEEP_ALIVE, 1},
		{"Proxy-Connection", GW_FIELD_PROXY_CONNECTION, 1},
		{"TE", GW_FIELD_TE, 1},
		{"Trailer", GW_FIELD_TRAILER, 1},
		{"X-Forwarded-For", GW_FIELD_X_FORWARDED_FOR, 0},
		{"x-forwarded-proto", GW_FIELD_X_FORWARDED_PROTO, 0},
		{"X-Forwarded-Host", GW_FIELD_X_FORWARDED_HOST, 0},
		{"Trailes", GW_FIELD_OTHER, 0},
		/* one byte off in each word the names are compared by */
		{"Hpst", GW_FIELD_OTHER, 0},
		{"Hosu", GW_FIELD_OTHER, 0},
		{"Expecu", GW_FIELD_OTHER, 0},
		{"Contenu-Length", GW_FIELD_OTHER, 0},
		{"Content-Lenfth", GW_FIELD_OTHER, 0},
		{"Content-Lengti", GW_FIELD_OTHER, 0},
		{"Transfes-Encoding", GW_FIELD_OTHER, 0},
		{"Transfer-Encodinf", GW_FIELD_OTHER, 0},
		{"Transfer_Encoding", GW_FIELD_OTHER, 0},
		{"Proxy-Connectiom", GW_FIELD_OTHER, 0},
		{"Connection", GW_FIELD_CONNECTION, 1},
		{"Connectioo", GW_FIELD_OTHER, 0},
		{"keep-alivf", GW_FIELD_OTHER, 0},
		{"Xroxy-Connection", GW_FIELD_OTHER, 0},
		{"x-forwarded-hosts", GW_FIELD_OTHER, 0},
		{"ta", GW_FIELD_OTHER, 0},
		{"", GW_FIELD_OTHER, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		enum gw_http_field_kind kind = gw_http_field_kind_of(names[i].name, strlen(names[i].name));

		if (kind != names[i].kind || gw_http_field_is_hop_by_hop(kind) != names[i].hop_by_hop)
			fail_msg("%s: kind %d, hop-by-hop %d", names[i].name, kind, gw_http_field_is_hop_by_hop(kind));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_simple_get_is_complete, setup_limits),
		cmocka_unit_test_setup(test_field_offsets_order_case_and_ows, setup_limits),
		cmocka_unit_test_setup(test_known_methods_and_other_tokens, setup_limits),
		cmocka_unit_test_setup(test_leading_empty_lines_are_skipped_and_counted, setup_limits),
		cmocka_unit_test_setup(test_leading_bare_lf_or_space_rejected, setup_limits),
		cmocka_unit_test_setup(test_every_prefix_needs_more_on_several_heads, setup_limits),
		cmocka_unit_test_setup(test_result_is_sticky_and_body_bytes_are_not_read, setup_limits),
		cmocka_unit_test_setup(test_request_line_needs_single_spaces, setup_limits),
		cmocka_unit_test_setup(test_method_must_be_a_token, setup_limits),
		cmocka_unit_test_setup(test_target_without_whitespace_ctl_or_fragment, setup_limits),
		cmocka_unit_test_setup(test_version_exactly_http_1_0_or_1_1, setup_limits),
		cmocka_unit_test_setup(test_h2_preface_is_rejected, setup_limits),
		cmocka_unit_test_setup(test_request_line_crlf_only, setup_limits),
		cmocka_unit_test_setup(test_absolute_form_gives_authority_path_and_host, setup_limits),
		cmocka_unit_test_setup(test_absolute_form_invalid_authority_rejected, setup_limits),
		cmocka_unit_test_setup(test_authority_form_only_for_connect, setup_limits),
		cmocka_unit_test_setup(test_asterisk_form_only_for_options, setup_limits),
		cmocka_unit_test_setup(test_field_lines_crlf_only, setup_limits),
		cmocka_unit_test_setup(test_no_whitespace_between_name_and_colon, setup_limits),
		cmocka_unit_test_setup(test_obs_fold_and_leading_whitespace_rejected, setup_limits),
		cmocka_unit_test_setup(test_field_name_must_be_a_token, setup_limits),
		cmocka_unit_test_setup(test_field_value_characters, setup_limits),
		cmocka_unit_test_setup(test_underscore_name_is_not_transfer_encoding, setup_limits),
		cmocka_unit_test_setup(test_content_length_valid, setup_limits),
		cmocka_unit_test_setup(test_content_length_syntax_rejected, setup_limits),
		cmocka_unit_test_setup(test_content_length_overflow_does_not_wrap, setup_limits),
		cmocka_unit_test_setup(test_content_length_above_body_limit_is_413, setup_limits),
		cmocka_unit_test_setup(test_repeated_content_length_must_agree, setup_limits),
		cmocka_unit_test_setup(test_transfer_encoding_chunked, setup_limits),
		cmocka_unit_test_setup(test_transfer_encoding_with_content_length_rejected, setup_limits),
		cmocka_unit_test_setup(test_chunked_more_than_once_rejected, setup_limits),
		cmocka_unit_test_setup(test_chunked_not_last_rejected, setup_limits),
		cmocka_unit_test_setup(test_unsupported_codings_are_501, setup_limits),
		cmocka_unit_test_setup(test_malformed_codings_are_400, setup_limits),
		cmocka_unit_test_setup(test_transfer_encoding_in_http10_rejected, setup_limits),
		cmocka_unit_test_setup(test_host_required_once_in_http11, setup_limits),
		cmocka_unit_test_setup(test_host_values_valid, setup_limits),
		cmocka_unit_test_setup(test_host_values_invalid, setup_limits),
		cmocka_unit_test_setup(test_keep_alive_by_version_and_connection, setup_limits),
		cmocka_unit_test_setup(test_connection_options_nominate_fields, setup_limits),
		cmocka_unit_test_setup(test_connection_cannot_nominate_framing_fields, setup_limits),
		cmocka_unit_test_setup(test_connection_options_bounded_and_tokens, setup_limits),
		cmocka_unit_test_setup(test_upgrade_needs_header_option_and_http11, setup_limits),
		cmocka_unit_test_setup(test_expect_100_continue_in_http11, setup_limits),
		cmocka_unit_test_setup(test_head_limit_is_431_even_when_incomplete, setup_limits),
		cmocka_unit_test_setup(test_header_count_limit_is_431, setup_limits),
		cmocka_unit_test_setup(test_header_count_clamped_to_capacity, setup_limits),
		cmocka_unit_test_setup(test_target_limit_is_414_as_soon_as_known, setup_limits),
		cmocka_unit_test_setup(test_default_limits, setup_limits),
		cmocka_unit_test_setup(test_header_find_is_case_insensitive_and_first, setup_limits),
		cmocka_unit_test_setup(test_token_list_contains, setup_limits),
		cmocka_unit_test_setup(test_char_classes_match_the_rfcs, setup_limits),
		cmocka_unit_test_setup(test_field_kind_needs_the_whole_name, setup_limits),
		cmocka_unit_test(test_field_kind_of_each_name),
		cmocka_unit_test_setup(test_value_bytes_checked_at_every_offset, setup_limits),
		cmocka_unit_test(test_scanners_stop_where_the_byte_classes_say),
		cmocka_unit_test_setup(test_init_over_an_earlier_message, setup_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
