/* test_gw_exchange: header edits as the connection replays them, lookups
 * that see the edits, bounds, and the verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gw_exchange.h"
#include "gw_exchange_s.h"
#include "gw_http.h"
#include "gw_http_s.h"

static const char head[] = "GET /a/b?q=1 HTTP/1.1\r\nHost: h\r\nX-Keep: k\r\nX-Drop: d\r\nX-Set: old\r\n\r\n";

static struct gw_request req;
static struct gw_exchange ex;

static void begin(void)
{
	struct gw_http_limits limits;
	struct gw_http_span path;

	gw_http_limits_default(&limits);
	gw_http_request_init(&req);
	assert_int_equal(gw_http_parse_request(&req, head, sizeof(head) - 1, &limits), (int)sizeof(head) - 1);
	path = req.target;
	path.len = 4; /* "/a/b" */
	gw_exchange_begin(&ex, &req, head, path, "127.0.0.1", NULL);
}

/* The head's field lines after the edits, as "name: value\n" lines. */
static void request_lines(char *out, size_t len)
{
	const char *name, *value;
	size_t name_len, value_len, used = 0;

	out[0] = '\0';
	for (uint32_t i = 0; i < req.head.field_count; i++) {
		const struct gw_http_field *f = &req.head.fields[i];

		if (!gw_exchange_field_dropped(&ex, GW_SIDE_REQUEST, head + f->name.off, f->name.len))
			used += (size_t)snprintf(out + used, len - used, "%.*s: %.*s\n", (int)f->name.len,
						 head + f->name.off, (int)f->value.len, head + f->value.off);
	}
	for (uint32_t i = 0; i < ex.edit_count; i++)
		if (gw_exchange_edit_written(&ex, GW_SIDE_REQUEST, i, &name, &name_len, &value, &value_len))
			used += (size_t)snprintf(out + used, len - used, "%.*s: %.*s\n", (int)name_len, name,
						 (int)value_len, value);
}

static void test_request_accessors(void **state)
{
	const char *s;
	size_t len;

	(void)state;
	begin();
	assert_int_equal(gw_exchange_method(&ex), GW_METHOD_GET);
	s = gw_exchange_path(&ex, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(s, "/a/b", 4);
	s = gw_exchange_target(&ex, &len);
	assert_int_equal(len, 8);
	assert_string_equal(gw_exchange_client_address(&ex), "127.0.0.1");
	assert_int_equal(gw_exchange_request_header(&ex, "x-keep", &s, &len), 1);
	assert_memory_equal(s, "k", 1);
	assert_int_equal(gw_exchange_request_header(&ex, "x-none", &s, &len), 0);
	assert_false(gw_exchange_has_body(&ex));
}

static void test_edits_replay_in_order(void **state)
{
	char lines[1024];
	const char *s;
	size_t len;

	(void)state;
	begin();
	assert_int_equal(gw_exchange_remove(&ex, GW_SIDE_REQUEST, "x-drop"), 0);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "X-SET", "new"), 0);
	assert_int_equal(gw_exchange_add(&ex, GW_SIDE_REQUEST, "x-add", "1"), 0);
	assert_int_equal(gw_exchange_add(&ex, GW_SIDE_REQUEST, "x-gone", "1"), 0);
	assert_int_equal(gw_exchange_remove(&ex, GW_SIDE_REQUEST, "X-Gone"), 0);
	assert_int_equal(gw_exchange_add(&ex, GW_SIDE_REQUEST, "x-add", "2"), 0);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_RESPONSE, "x-resp", "r"), 0);
	request_lines(lines, sizeof(lines));
	assert_string_equal(lines, "Host: h\nX-Keep: k\nX-SET: new\nx-add: 1\nx-add: 2\n");
	/* lookups see the edits: the last set/add wins, a remove hides */
	assert_int_equal(gw_exchange_request_header(&ex, "x-set", &s, &len), 1);
	assert_memory_equal(s, "new", 3);
	assert_int_equal(gw_exchange_request_header(&ex, "x-add", &s, &len), 1);
	assert_memory_equal(s, "2", 1);
	assert_int_equal(gw_exchange_request_header(&ex, "x-drop", &s, &len), 0);
	/* response edits are the response's only */
	assert_int_equal(gw_exchange_response_header(&ex, "x-resp", &s, &len), 1);
	assert_int_equal(gw_exchange_request_header(&ex, "x-resp", &s, &len), 0);
	/* a new request starts clean */
	begin();
	request_lines(lines, sizeof(lines));
	assert_string_equal(lines, "Host: h\nX-Keep: k\nX-Drop: d\nX-Set: old\n");
}

static void test_edits_refused(void **state)
{
	char big[GW_EXCHANGE_BYTES];
	int i;

	(void)state;
	begin();
	errno = 0;
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "content-length", "1"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "bad name", "1"), -1);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "x-a", "a\r\nx-b: 1"), -1);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_RESPONSE, "Transfer-Encoding", "chunked"), -1);
	/* Every hop-by-hop name, in any case; a control byte or DEL deep in a
	 * long value (past the first eight bytes, read a word at a time). */
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "Keep-Alive", "timeout=5"), -1);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "PROXY-CONNECTION", "close"), -1);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "te", "trailers"), -1);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_RESPONSE, "Trailer", "x-t"), -1);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "x-a", "0123456789abcdef\001ghij"), -1);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "x-a", "0123456789abcdefghijklmn\177"), -1);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "x-a", "0123456789abcdefghij "), -1);
	assert_int_equal(ex.edit_count, 0);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "x-a", "0123456789\tabcdefghij\200\377"), 0);
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "X-Forwarded-Tag", "a"), 0);
	begin();
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(gw_exchange_set(&ex, GW_SIDE_REQUEST, "x-big", big), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(ex.bytes_used, 0);
	for (i = 0; i < GW_EXCHANGE_EDITS_MAX; i++)
		assert_int_equal(gw_exchange_add(&ex, GW_SIDE_REQUEST, "x-n", "1"), 0);
	assert_int_equal(gw_exchange_add(&ex, GW_SIDE_REQUEST, "x-n", "1"), -1);
	assert_int_equal(errno, ENOBUFS);
}

static void test_verdict(void **state)
{
	(void)state;
	begin();
	assert_int_equal(gw_exchange_verdict(&ex), GW_VERDICT_CONTINUE);
	assert_int_equal(gw_exchange_response_status(&ex), 0);
	gw_exchange_respond_error(&ex, 403, "no");
	assert_int_equal(gw_exchange_verdict(&ex), GW_VERDICT_RESPOND);
	assert_int_equal(gw_exchange_response_status(&ex), 403);
	assert_string_equal(ex.error_message, "no");
	gw_exchange_respond(&ex, 204, NULL, 0);
	assert_null(ex.error_message);
	assert_string_equal(gw_exchange_copy(&ex, "abc", 2), "ab");
}

static void test_retry(void **state)
{
	(void)state;
	begin();
	gw_exchange_set(&ex, GW_SIDE_REQUEST, "x-req", "1");
	gw_exchange_request_done(&ex);
	ex.response_status = 503;
	gw_exchange_set(&ex, GW_SIDE_RESPONSE, "x-resp", "1");
	assert_int_equal(gw_exchange_attempt(&ex), 0);
	/* only in the response head */
	ex.phase = GW_PHASE_REQUEST_HEAD;
	assert_int_equal(gw_exchange_retry(&ex), -1);
	assert_int_equal(gw_exchange_verdict(&ex), GW_VERDICT_CONTINUE);
	ex.phase = GW_PHASE_RESPONSE_HEAD;
	assert_int_equal(gw_exchange_retry(&ex), 0);
	assert_int_equal(gw_exchange_verdict(&ex), GW_VERDICT_RETRY);
	assert_int_equal(gw_exchange_retry(&ex), -1); /* asked once is enough */
	gw_exchange_next_attempt(&ex);
	/* the response's edit is forgotten, the request's kept */
	assert_int_equal(ex.edit_count, 1);
	assert_int_equal(ex.bytes_used, ex.request_bytes_used);
	assert_int_equal(gw_exchange_verdict(&ex), GW_VERDICT_CONTINUE);
	assert_int_equal(gw_exchange_response_status(&ex), 0);
	assert_int_equal(gw_exchange_attempt(&ex), 1);
	/* a stage's answer stands: nothing is recorded over it (whether the
	 * request may go again is gw_conn_next.c's, tests/unit/test_gw_conn_next.c) */
	gw_exchange_respond(&ex, 204, NULL, 0);
	assert_int_equal(gw_exchange_retry(&ex), -1);
	assert_int_equal(gw_exchange_verdict(&ex), GW_VERDICT_RESPOND);
}

static void test_replayable(void **state)
{
	static const char post[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
	struct gw_http_limits limits;

	(void)state;
	gw_http_limits_default(&limits);
	gw_http_request_init(&req);
	assert_int_equal(gw_http_parse_request(&req, post, sizeof(post) - 1, &limits), (int)sizeof(post) - 1);
	gw_exchange_begin(&ex, &req, post, req.target, "127.0.0.1", NULL);
	assert_false(gw_exchange_replayable(&ex)); /* the body streamed: gone */
	ex.body_kept = 1;
	assert_true(gw_exchange_replayable(&ex));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_accessors),
		cmocka_unit_test(test_edits_replay_in_order),
		cmocka_unit_test(test_edits_refused),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_replayable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
