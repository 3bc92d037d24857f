/* Tests for gateway/gw_http_write.c: the status table, the JSON error
 * body, and the three heads the connection writes with the one writer (a
 * forwarded request, a relayed response, an answer of the gateway's own). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "gw_conn_s.h"
#include "gw_conn_self.h"
#include "gw_http.h"
#include "gw_http_write.h"

static struct gw_conn_self conn;
static struct gw_conn_config cfg;
static struct gw_http_limits limits;
static char out_buf[4096];
static struct gw_http_out out;

/* A connection that received `head` from 192.0.2.7, with no route edits. */
static void received(const char *head)
{
	memset(&conn, 0, sizeof(conn));
	memset(&cfg, 0, sizeof(cfg));
	gw_http_limits_default(&limits);
	cfg.via = "vkgw";
	conn.cfg_ptr = &cfg;
	conn.head_ptr = (char *)head;
	conn.head_len = strlen(head);
	memcpy(conn.client_addr, "192.0.2.7", sizeof("192.0.2.7"));
	conn.pick.name = "10.0.0.1:8080";
	gw_http_request_init(&conn.req);
	assert_int_equal(gw_http_parse_request(&conn.req, head, conn.head_len, &limits), (int)conn.head_len);
	gw_http_out_init(&out, out_buf, sizeof(out_buf));
}

static void answered(const char *head)
{
	size_t len = strlen(head);

	conn.resp_ptr = (char *)head;
	gw_http_response_init(&conn.resp);
	assert_int_equal(gw_http_parse_response(&conn.resp, head, len, &limits, 0), (int)len);
	conn.resp_len = len;
	gw_http_out_init(&out, out_buf, sizeof(out_buf));
}

static void assert_out(const char *want)
{
	assert_false(out.overflow);
	out_buf[out.len < sizeof(out_buf) ? out.len : sizeof(out_buf) - 1] = '\0';
	assert_string_equal(out_buf, want);
}

static void test_status_table(void **state)
{
	(void)state;
	assert_string_equal(gw_http_status_reason(200), "OK");
	assert_string_equal(gw_http_status_reason(431), "Request Header Fields Too Large");
	assert_string_equal(gw_http_status_reason(504), "Gateway Timeout");
	assert_string_equal(gw_http_status_reason(299), "Success");
	assert_string_equal(gw_http_status_reason(499), "Client Error");
	gw_http_out_init(&out, out_buf, sizeof(out_buf));
	gw_http_out_status_line(&out, 503);
	assert_out("HTTP/1.1 503 Service Unavailable\r\n");
	/* no body, no length (RFC 9110 8.6), and a close when asked */
	gw_http_out_init(&out, out_buf, sizeof(out_buf));
	gw_http_out_head_end(&out, 204, 0, 1);
	assert_out("Connection: close\r\n\r\n");
}

static void test_uint(void **state)
{
	(void)state;
	gw_http_out_init(&out, out_buf, sizeof(out_buf));
	gw_http_out_uint(&out, 0);
	GW_HTTP_OUT_LITERAL(&out, " ");
	gw_http_out_uint(&out, 1024);
	GW_HTTP_OUT_LITERAL(&out, " ");
	gw_http_out_uint(&out, UINT64_MAX);
	assert_out("0 1024 18446744073709551615");
	/* what does not fit is not written, and says so */
	gw_http_out_init(&out, out_buf, 3);
	gw_http_out_uint(&out, 1024);
	assert_true(out.overflow);
	assert_int_equal(out.len, 0);
}

static void test_forwarded_request_head(void **state)
{
	(void)state;
	received("GET /a?b HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nUser-Agent: t\r\n"
		 "Connection: keep-alive, x-drop\r\nX-Drop: 1\r\nX-Forwarded-For: 6.6.6.6\r\nTE: trailers\r\n"
		 "Cookie: c=1\r\n\r\n");
	gw_conn_write_request_head(&out, &conn);
	/* Received lines in their order and case, hop-by-hop ones (and those
	 * Connection names) dropped, X-Forwarded-* from an untrusted client
	 * replaced, one Host, Via. */
	assert_out("GET /a?b HTTP/1.1\r\nAccept: */*\r\nUser-Agent: t\r\nCookie: c=1\r\nHost: example.com\r\n"
		   "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: example.com\r\n"
		   "Via: 1.1 vkgw\r\n\r\n");

	/* A body's length is written by the gateway, once; absolute-form goes
	 * upstream as origin-form; HTTP/1.0 gets Via 1.0. */
	received("POST http://h.example/p HTTP/1.0\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
	gw_conn_write_request_head(&out, &conn);
	assert_out("POST /p HTTP/1.1\r\nHost: h.example\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
		   "X-Forwarded-Host: h.example\r\nVia: 1.0 vkgw\r\nContent-Length: 5\r\n\r\n");

	/* Behind a trusted hop the chain is kept and extended. */
	received("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n\r\n");
	cfg.trusted_hops = 1;
	gw_conn_write_request_head(&out, &conn);
	assert_out("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6, 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
		   "X-Forwarded-Host: h\r\nVia: 1.1 vkgw\r\n\r\n");

	/* A head that does not fit says so instead of being cut. */
	received("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	gw_http_out_init(&out, out_buf, 20);
	gw_conn_write_request_head(&out, &conn);
	assert_true(out.overflow);
}

static void test_relayed_response_head(void **state)
{
	(void)state;
	received("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	answered("HTTP/1.1 200 Fine\r\nContent-Type: text/plain\r\nKeep-Alive: timeout=5\r\n"
		 "Content-Length: 1024\r\nX-A: 1\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n");
	gw_conn_write_response_head(&out, &conn);
	/* The upstream's reason phrase passes, and so does a plain length;
	 * X-Forwarded-* is the request's business only. */
	assert_out("HTTP/1.1 200 Fine\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\nX-A: 1\r\n"
		   "X-Forwarded-For: 6.6.6.6\r\nVia: 1.1 vkgw\r\n\r\n");

	/* A length given as a list, or on two lines, is the gateway's. */
	answered("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\nX-A: 1\r\n\r\n");
	gw_conn_write_response_head(&out, &conn);
	assert_out("HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 7\r\nVia: 1.1 vkgw\r\n\r\n");
	answered("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-A: 1\r\ncontent-length: 7\r\n\r\n");
	gw_conn_write_response_head(&out, &conn);
	assert_out("HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 7\r\nVia: 1.1 vkgw\r\n\r\n");

	/* Chunked to an HTTP/1.1 client, with a close when the connection ends. */
	answered("HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n");
	conn.close_after = 1;
	gw_conn_write_response_head(&out, &conn);
	assert_out(
		"HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\nVia: 1.1 vkgw\r\nConnection: close\r\n\r\n");
}

static void test_gateway_answer_head(void **state)
{
	char body[GW_HTTP_ERROR_BODY_MAX];
	size_t body_len;

	(void)state;
	received("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	body_len = gw_http_error_body(body, sizeof(body), 504, "upstream response timed out");
	assert_string_equal(body, "{\"error\":\"upstream response timed out\",\"status\":504}\n");
	conn.close_after = 1;
	gw_conn_write_answer_head(&out, &conn, 504, body_len, 1);
	assert_out("HTTP/1.1 504 Gateway Timeout\r\nContent-Type: application/json\r\nContent-Length: 53\r\n"
		   "Connection: close\r\n\r\n");
	assert_int_equal(body_len, 53);

	/* CONNECT refused: the methods that are allowed. */
	received("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	conn.term = (struct gw_term){.cause = 'N', .stage = 'T'};
	gw_conn_write_answer_head(&out, &conn, 405, 0, 0);
	assert_out("HTTP/1.1 405 Method Not Allowed\r\nAllow: " GW_CONN_ALLOW "\r\nContent-Length: 0\r\n\r\n");
}

static void test_error_body_is_valid_json_with_escapes(void **state)
{
	char buf[256];
	json_error_t err;
	json_t *doc;
	size_t n;

	(void)state;
	n = gw_http_error_body(buf, sizeof(buf), 400, "bad \"header\"\\\n\x01");
	assert_int_equal(n, strlen(buf));
	doc = json_loads(buf, 0, &err);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "error")), "bad \"header\"\\\n\x01");
	assert_int_equal(json_integer_value(json_object_get(doc, "status")), 400);
	json_decref(doc);
	/* no message: the reason */
	gw_http_error_body(buf, sizeof(buf), 404, NULL);
	assert_string_equal(buf, "{\"error\":\"Not Found\",\"status\":404}\n");
}

static void test_long_message_is_cut_into_valid_json(void **state)
{
	char message[1000], buf[128];
	json_error_t err;
	json_t *doc;

	(void)state;
	memset(message, 'x', sizeof(message) - 1);
	message[sizeof(message) - 1] = '\0';
	assert_true(gw_http_error_body(buf, sizeof(buf), 400, message) < sizeof(buf));
	doc = json_loads(buf, 0, &err);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "status")), 400);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_table),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_forwarded_request_head),
		cmocka_unit_test(test_relayed_response_head),
		cmocka_unit_test(test_gateway_answer_head),
		cmocka_unit_test(test_error_body_is_valid_json_with_escapes),
		cmocka_unit_test(test_long_message_is_cut_into_valid_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
