/* gw_chunked: the chunked body decoder and encoder. Any split of the input
 * gives the same data (checked down to 1-byte pieces), data spans point into
 * the caller's buffer, the body ends exactly after its final CRLF, and every
 * malformed chunk-size line, extension, terminator or trailer is a 400. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gw_chunked.h"
#include "gw_chunked_s.h"
#include "gw_http.h"
#include "gw_http_s.h"

#define OUT_MAX 4096

static struct gw_http_limits limits;
static struct gw_chunked dec;

static int setup_limits(void **state)
{
	(void)state;
	gw_http_limits_default(&limits);
	return 0;
}

struct decoded {
	char data[OUT_MAX];
	size_t data_len;
	size_t consumed; /* input bytes consumed in total */
	int result;	 /* DONE, MORE or the error */
};

/* Decodes body[0..len) handed over in pieces of `piece` bytes, as a caller
 * reading from a socket would. */
static struct decoded decode_in_pieces(const char *body, size_t len, size_t piece)
{
	struct decoded out = {.result = GW_CHUNKED_MORE};

	gw_chunked_init(&dec, &limits);
	for (size_t at = 0; at < len && out.result == GW_CHUNKED_MORE; at += piece) {
		const char *buf = body + at;
		size_t n = len - at < piece ? len - at : piece;
		int r;

		do {
			size_t consumed;
			size_t off;
			size_t data_len;

			r = gw_chunked_feed(&dec, buf, n, &consumed, &off, &data_len);
			assert_true(consumed <= n);
			if (r == GW_CHUNKED_DATA) {
				assert_true(data_len > 0 && off + data_len <= consumed);
				assert_true(out.data_len + data_len <= OUT_MAX);
				memcpy(out.data + out.data_len, buf + off, data_len);
				out.data_len += data_len;
			} else {
				assert_int_equal(data_len, 0);
			}
			if (r >= 0)
				out.consumed += consumed;
			buf += consumed;
			n -= consumed;
		} while (r == GW_CHUNKED_DATA);
		out.result = r;
	}
	return out;
}

/* Decodes `body` whole, and in every piece size down to 1 byte; all must
 * agree. */
static struct decoded decode(const char *body)
{
	size_t len = strlen(body);
	struct decoded whole = decode_in_pieces(body, len, len ? len : 1);

	for (size_t piece = 1; piece < len; piece++) {
		struct decoded split = decode_in_pieces(body, len, piece);

		assert_int_equal(split.result, whole.result);
		assert_int_equal(split.data_len, whole.data_len);
		assert_memory_equal(split.data, whole.data, whole.data_len);
		if (whole.result == GW_CHUNKED_DONE)
			assert_int_equal(split.consumed, whole.consumed);
	}
	return whole;
}

static int decode_result(const char *body)
{
	return decode(body).result;
}

static void assert_body(const char *body, const char *want)
{
	struct decoded out = decode(body);

	assert_int_equal(out.result, GW_CHUNKED_DONE);
	assert_int_equal(out.consumed, strlen(body));
	assert_int_equal(out.data_len, strlen(want));
	assert_memory_equal(out.data, want, out.data_len);
}

static void test_single_chunk_decodes(void **state)
{
	(void)state;
	assert_body("1e\r\nall your base are belong to us\r\n0\r\n\r\n", "all your base are belong to us");
	assert_int_equal(gw_chunked_body_bytes(&dec), 30);
	assert_null(gw_chunked_error(&dec));
}

static void test_one_byte_pieces_match_one_piece(void **state)
{
	static const char *bodies[] = {
		"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
		"5;a=\"x;\\\"y\";b=c\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"0\r\n\r\n",
		"1\r\nx\r\n2\r\nyz\r\n3\r\nabc\r\n00\r\n\r\n",
	};
	(void)state;

	/* decode() compares every piece size with the whole. */
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		assert_int_equal(decode_result(bodies[i]), GW_CHUNKED_DONE);
	assert_body("1\r\nx\r\n2\r\nyz\r\n3\r\nabc\r\n00\r\n\r\n", "xyzabc");
}

static void test_data_span_points_into_buffer_and_stops_there(void **state)
{
	/* Lengths are tracked by hand: GCC 12.2 at -O1 and above miscomputes
	 * strlen() of a string literal advanced twice by a value a call wrote. */
	const char *body = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	size_t left = strlen(body);
	size_t consumed;
	size_t off;
	size_t len;
	(void)state;

	gw_chunked_init(&dec, &limits);
	assert_int_equal(gw_chunked_feed(&dec, body, left, &consumed, &off, &len), GW_CHUNKED_DATA);
	assert_int_equal(off, 3);
	assert_int_equal(len, 5);
	assert_int_equal(consumed, 8);
	body += consumed;
	left -= consumed;
	assert_int_equal(gw_chunked_feed(&dec, body, left, &consumed, &off, &len), GW_CHUNKED_DATA);
	assert_int_equal(off, 5);
	assert_int_equal(len, 6);
	assert_int_equal(consumed, 11);
	assert_memory_equal(body + off, " world", 6);
	body += consumed;
	left -= consumed;
	assert_int_equal(gw_chunked_feed(&dec, body, left, &consumed, &off, &len), GW_CHUNKED_DONE);
	assert_int_equal(consumed, left);
	assert_int_equal(len, 0);
}

static void test_partial_data_is_reported_as_it_comes(void **state)
{
	size_t consumed;
	size_t off;
	size_t len;
	(void)state;

	gw_chunked_init(&dec, &limits);
	assert_int_equal(gw_chunked_feed(&dec, "a\r\n0123", 7, &consumed, &off, &len), GW_CHUNKED_DATA);
	assert_int_equal(off, 3);
	assert_int_equal(len, 4);
	assert_int_equal(gw_chunked_feed(&dec, "456789\r\n", 8, &consumed, &off, &len), GW_CHUNKED_DATA);
	assert_int_equal(off, 0);
	assert_int_equal(len, 6);
	assert_int_equal(consumed, 6);
	assert_int_equal(gw_chunked_feed(&dec, "\r\n", 2, &consumed, &off, &len), GW_CHUNKED_MORE);
	assert_int_equal(consumed, 2);
	assert_int_equal(gw_chunked_feed(&dec, "", 0, &consumed, &off, &len), GW_CHUNKED_MORE);
}

static void test_done_leaves_the_next_message(void **state)
{
	const char *buf = "5\r\nhello\r\n0\r\n\r\nGARBAGE\r\n\r\n";
	struct decoded out;
	(void)state;

	out = decode_in_pieces(buf, strlen(buf), strlen(buf));
	assert_int_equal(out.result, GW_CHUNKED_DONE);
	assert_int_equal(out.consumed, strlen("5\r\nhello\r\n0\r\n\r\n"));
	out = decode_in_pieces(buf, strlen(buf), 1);
	assert_int_equal(out.consumed, strlen("5\r\nhello\r\n0\r\n\r\n"));
}

static void test_result_is_sticky(void **state)
{
	size_t consumed;
	size_t off;
	size_t len;
	(void)state;

	gw_chunked_init(&dec, &limits);
	assert_int_equal(gw_chunked_feed(&dec, "0\r\n\r\n", 5, &consumed, &off, &len), GW_CHUNKED_DONE);
	assert_int_equal(gw_chunked_feed(&dec, "5\r\n", 3, &consumed, &off, &len), GW_CHUNKED_DONE);
	assert_int_equal(consumed, 0);
	gw_chunked_init(&dec, &limits);
	assert_int_equal(gw_chunked_feed(&dec, "x", 1, &consumed, &off, &len), -400);
	assert_int_equal(gw_chunked_feed(&dec, "0\r\n\r\n", 5, &consumed, &off, &len), -400);
	assert_non_null(gw_chunked_error(&dec));
}

static void test_hex_digits_either_case(void **state)
{
	(void)state;
	assert_body("A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
	assert_body("a\r\n0123456789\r\n0\r\n\r\n", "0123456789");
	assert_body("0000b\r\nhello world\r\n0\r\n\r\n", "hello world");
}

static void test_zero_prefixed_last_chunk(void **state)
{
	(void)state;
	assert_body("5\r\nhello\r\n6\r\n world\r\n000\r\n\r\n", "hello world");
	assert_body("0000000000000000000000000\r\n\r\n", "");
}

static void test_chunk_size_must_be_hex(void **state)
{
	(void)state;
	assert_int_equal(decode_result("g\r\nx\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("-1\r\nx\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("+1\r\nx\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("0x5\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result(" 5\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result(";a\r\nhello\r\n0\r\n\r\n"), -400);
}

static void test_chunk_size_overflow_rejected(void **state)
{
	(void)state;
	assert_int_equal(decode_result("FFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("10000000000000005\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("8000000000000000\r\n"), -400);
	limits.max_body_bytes = UINT64_MAX;
	assert_int_equal(decode_result("7fffffffffffffff\r\n"), GW_CHUNKED_MORE);
}

static void test_body_limit_is_413(void **state)
{
	(void)state;
	limits.max_body_bytes = 10;
	assert_body("a\r\n0123456789\r\n0\r\n\r\n", "0123456789");
	assert_int_equal(decode_result("b\r\n"), -413);
	assert_int_equal(decode_result("6\r\n012345\r\n5\r\n"), -413);
	assert_int_equal(decode_result("6\r\n012345\r\n5;x"), -413);
	assert_int_equal(decode_result("7fffffffffffffff\r\n"), -413);
}

static void test_whitespace_only_before_semicolon(void **state)
{
	(void)state;
	assert_body("5 ;a\r\nhello\r\n0\r\n\r\n", "hello");
	assert_body("5\t \t;a=b\r\nhello\r\n0 ; last\r\n\r\n", "hello");
	assert_body("5; a = b ; c\r\nhello\r\n0\r\n\r\n", "hello");
	assert_int_equal(decode_result("a \r\n0123456789\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("2 erfrferferf\r\naa\r\n0 rrrr\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a \r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a=b \r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a=\"b\" \r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5 5\r\nhello\r\n0\r\n\r\n"), -400);
}

static void test_extensions_token_and_quoted(void **state)
{
	(void)state;
	assert_body("5;ilovew3;somuchlove=aretheseparametersfor;another=withvalue\r\nhello\r\n"
		    "6;blahblah;blah\r\n world\r\n0\r\n\r\n",
		    "hello world");
	assert_body("5;ilovew3=\"I \\\"love\\\"; \\\\extensions\\\\\";somuchlove=\"aretheseparametersfor\";"
		    "blah;foo=bar\r\nhello\r\n6;blahblah;blah\r\n world\r\n0\r\n\r\n",
		    "hello world");
	assert_body("5;a=\"\"\r\nhello\r\n0;x=\"caf\xe9\"\r\n\r\n", "hello");
}

static void test_malformed_extensions_rejected(void **state)
{
	(void)state;
	assert_int_equal(decode_result("5;ilovew3=\"abc\";somuchlove=\"def; ghi\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;=b\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a=\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a==b\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a=b\"c\"\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a=\"b\\\x7f\"\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a(b)\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a b\r\nhello\r\n0\r\n\r\n"), -400);
}

static void test_lines_end_in_crlf_only(void **state)
{
	(void)state;
	assert_int_equal(decode_result("5\nhello\n0\n\n"), -400);
	assert_int_equal(decode_result("3 \n  \r\nfoo\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5;a\rb\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5\r\nhello\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5\r\nhello\r\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5\r\nhello\r\n0\n\r\n"), -400);
	assert_int_equal(decode_result("5\r\nhello\r\n0\r\n\n"), -400);
	assert_int_equal(decode_result("5\r\nhello\r\n0\r\n\r\r"), -400);
}

static void test_data_must_be_followed_by_crlf(void **state)
{
	(void)state;
	assert_int_equal(decode_result("5\r\nABCDE0\r\n\r\n"), -400);
	assert_int_equal(decode_result("5\r\nhelloX\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("3\r\nhello\r\n0\r\n\r\n"), -400);
}

static void test_missing_last_chunk_needs_more(void **state)
{
	struct decoded out;
	(void)state;

	out = decode("3\r\nfoo\r\n");
	assert_int_equal(out.result, GW_CHUNKED_MORE);
	assert_int_equal(out.data_len, 3);
	assert_int_equal(decode_result("3\r\nfoo\r\n0\r\n"), GW_CHUNKED_MORE);
	assert_int_equal(decode_result("3\r\nfoo\r\n0\r\nX: y\r\n"), GW_CHUNKED_MORE);
}

static void test_trailers_are_checked_and_counted(void **state)
{
	(void)state;
	assert_body("5\r\nhello\r\n6\r\n world\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n", "hello world");
	assert_int_equal(gw_chunked_trailer_count(&dec), 2);
	assert_body("0\r\nX:\r\nY: \xff\t\r\n\r\n", "");
	assert_int_equal(gw_chunked_trailer_count(&dec), 2);
}

static void test_trailer_field_rules(void **state)
{
	(void)state;
	assert_int_equal(decode_result("0\r\nX: a\r\n folded\r\n\r\n"), -400);
	assert_int_equal(decode_result("0\r\n X: a\r\n\r\n"), -400);
	assert_int_equal(decode_result("0\r\nX : a\r\n\r\n"), -400);
	assert_int_equal(decode_result("0\r\nno-colon\r\n\r\n"), -400);
	assert_int_equal(decode_result("0\r\n: a\r\n\r\n"), -400);
	assert_int_equal(decode_result("0\r\nX: a\nY: b\r\n\r\n"), -400);
	assert_int_equal(decode_result("0\r\nX: a\rY: b\r\n\r\n"), -400);
	assert_int_equal(decode_result("0\r\nX: a\fb\r\n\r\n"), -400);
	assert_int_equal(decode_result("0\r\nX: a\x7f\r\n\r\n"), -400);
}

static void test_trailer_limits(void **state)
{
	(void)state;
	limits.max_trailers = 2;
	assert_int_equal(decode_result("0\r\nA: 1\r\nB: 2\r\n\r\n"), GW_CHUNKED_DONE);
	assert_int_equal(decode_result("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), -400);
	gw_http_limits_default(&limits);
	limits.max_trailer_bytes = 10;
	assert_int_equal(decode_result("0\r\nA: 123\r\n\r\n"), GW_CHUNKED_DONE);
	assert_int_equal(decode_result("0\r\nA: 1234\r\n\r\n"), -400);
}

static void test_chunk_line_limit(void **state)
{
	(void)state;
	limits.max_chunk_line_bytes = 8;
	assert_body("5;abcd\r\nhello\r\n0\r\n\r\n", "hello");
	assert_int_equal(decode_result("5;abcde\r\nhello\r\n0\r\n\r\n"), -400);
	assert_int_equal(decode_result("000000005\r\nhello\r\n0\r\n\r\n"), -400);
}

static void test_encoder_header(void **state)
{
	char out[GW_CHUNKED_HEADER_MAX];
	size_t n;
	(void)state;

	n = gw_chunked_header(out, 1);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "1\r\n", 3);
	n = gw_chunked_header(out, 0x1e);
	assert_memory_equal(out, "1e\r\n", n);
	assert_int_equal(n, 4);
	n = gw_chunked_header(out, 0xabc0);
	assert_int_equal(n, 6);
	assert_memory_equal(out, "abc0\r\n", n);
	n = gw_chunked_header(out, SIZE_MAX);
	assert_int_equal(n, GW_CHUNKED_HEADER_MAX);
	assert_memory_equal(out, "ffffffffffffffff\r\n", n);
	assert_int_equal(strlen(GW_CHUNKED_CRLF), GW_CHUNKED_CRLF_LEN);
	assert_int_equal(strlen(GW_CHUNKED_LAST), GW_CHUNKED_LAST_LEN);
}

static void test_encoded_body_decodes_back(void **state)
{
	static const char *pieces[] = {"hello", " ", "world, this is a longer piece of data!"};
	char body[512];
	size_t n = 0;
	(void)state;

	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		n += gw_chunked_header(body + n, strlen(pieces[i]));
		memcpy(body + n, pieces[i], strlen(pieces[i]));
		n += strlen(pieces[i]);
		memcpy(body + n, GW_CHUNKED_CRLF, GW_CHUNKED_CRLF_LEN);
		n += GW_CHUNKED_CRLF_LEN;
	}
	memcpy(body + n, GW_CHUNKED_LAST, GW_CHUNKED_LAST_LEN + 1);
	assert_body(body, "hello world, this is a longer piece of data!");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_single_chunk_decodes, setup_limits),
		cmocka_unit_test_setup(test_one_byte_pieces_match_one_piece, setup_limits),
		cmocka_unit_test_setup(test_data_span_points_into_buffer_and_stops_there, setup_limits),
		cmocka_unit_test_setup(test_partial_data_is_reported_as_it_comes, setup_limits),
		cmocka_unit_test_setup(test_done_leaves_the_next_message, setup_limits),
		cmocka_unit_test_setup(test_result_is_sticky, setup_limits),
		cmocka_unit_test_setup(test_hex_digits_either_case, setup_limits),
		cmocka_unit_test_setup(test_zero_prefixed_last_chunk, setup_limits),
		cmocka_unit_test_setup(test_chunk_size_must_be_hex, setup_limits),
		cmocka_unit_test_setup(test_chunk_size_overflow_rejected, setup_limits),
		cmocka_unit_test_setup(test_body_limit_is_413, setup_limits),
		cmocka_unit_test_setup(test_whitespace_only_before_semicolon, setup_limits),
		cmocka_unit_test_setup(test_extensions_token_and_quoted, setup_limits),
		cmocka_unit_test_setup(test_malformed_extensions_rejected, setup_limits),
		cmocka_unit_test_setup(test_lines_end_in_crlf_only, setup_limits),
		cmocka_unit_test_setup(test_data_must_be_followed_by_crlf, setup_limits),
		cmocka_unit_test_setup(test_missing_last_chunk_needs_more, setup_limits),
		cmocka_unit_test_setup(test_trailers_are_checked_and_counted, setup_limits),
		cmocka_unit_test_setup(test_trailer_field_rules, setup_limits),
		cmocka_unit_test_setup(test_trailer_limits, setup_limits),
		cmocka_unit_test_setup(test_chunk_line_limit, setup_limits),
		cmocka_unit_test_setup(test_encoder_header, setup_limits),
		cmocka_unit_test_setup(test_encoded_body_decodes_back, setup_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
