/* gw_resp: RESP2 commands and replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "gw_resp.h"

static const struct gw_resp_limits limits = {.max_bulk = 64, .max_values = 8};

static long parse(const char *text, struct gw_resp_value *values, int *count_ptr)
{
	return gw_resp_parse(text, strlen(text), &limits, values, count_ptr);
}

static void test_command(void **state)
{
	const char *argv[] = {"EVALSHA", "abc", "1", "{vkgw:r}:k"};
	size_t lens[] = {7, 3, 1, 10};
	const char *want = "*4\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$10\r\n{vkgw:r}:k\r\n";
	char out[128];
	const char *bin[] = {"a\r\nb"};
	size_t bin_len[] = {4};

	(void)state;
	assert_int_equal(gw_resp_command(NULL, 0, 4, argv, lens), strlen(want));
	assert_int_equal(gw_resp_command(out, sizeof(out), 4, argv, lens), strlen(want));
	assert_string_equal(out, want);
	/* Binary-safe: a CRLF inside an argument is just bytes. */
	assert_int_equal(gw_resp_command(out, sizeof(out), 1, bin, bin_len), 14);
	assert_memory_equal(out, "*1\r\n$4\r\na\r\nb\r\n", 14);
}

static void test_replies(void **state)
{
	struct gw_resp_value v[8];
	int count;

	(void)state;
	assert_int_equal(parse("+OK\r\n", v, &count), 5);
	assert_int_equal(count, 1);
	assert_int_equal(v[0].type, GW_RESP_SIMPLE);
	assert_memory_equal(v[0].str, "OK", 2);
	assert_int_equal(parse("-NOSCRIPT No matching script.\r\n", v, &count), 31);
	assert_int_equal(v[0].type, GW_RESP_ERROR);
	assert_int_equal(v[0].len, 28);
	assert_int_equal(parse(":-42\r\n", v, &count), 6);
	assert_int_equal(v[0].type, GW_RESP_INTEGER);
	assert_int_equal(v[0].integer, -42);
	assert_int_equal(parse("$5\r\nhe\r\no\r\n", v, &count), 11);
	assert_int_equal(v[0].type, GW_RESP_BULK);
	assert_memory_equal(v[0].str, "he\r\no", 5);
	assert_int_equal(parse("$0\r\n\r\n", v, &count), 6);
	assert_int_equal(v[0].len, 0);
	assert_int_equal(parse("$-1\r\n", v, &count), 5);
	assert_int_equal(v[0].type, GW_RESP_NULL);
	assert_int_equal(parse("*-1\r\n", v, &count), 5);
	assert_int_equal(v[0].type, GW_RESP_NULL);
	/* The rate limit script's answer: [admitted, remaining, reset_ms],
	 * and an array in an array, depth-first. */
	assert_int_equal(parse("*3\r\n:1\r\n:99\r\n:1000\r\n", v, &count), 20);
	assert_int_equal(count, 4);
	assert_int_equal(v[0].type, GW_RESP_ARRAY);
	assert_int_equal(v[0].count, 3);
	assert_int_equal(v[3].integer, 1000);
	assert_int_equal(parse("*2\r\n*1\r\n+a\r\n$1\r\nb\r\n", v, &count), 19);
	assert_int_equal(count, 4);
	assert_int_equal(v[1].type, GW_RESP_ARRAY);
	assert_int_equal(v[2].type, GW_RESP_SIMPLE);
	assert_int_equal(v[3].type, GW_RESP_BULK);
	/* Pipelined replies: one at a time, each its own length. */
	assert_int_equal(parse(":1\r\n:2\r\n", v, &count), 4);
}

/* Every proper prefix of a reply asks for more; none is taken as whole. */
static void test_partial(void **state)
{
	static const char *const replies[] = {"+OK\r\n", ":12345\r\n", "$5\r\nhello\r\n", "*2\r\n$1\r\na\r\n:7\r\n",
					      "$-1\r\n"};
	struct gw_resp_value v[8];
	int count;

	(void)state;
	for (size_t r = 0; r < sizeof(replies) / sizeof(replies[0]); r++)
		for (size_t len = 0; len < strlen(replies[r]); len++)
			if (gw_resp_parse(replies[r], len, &limits, v, &count) != 0)
				fail_msg("reply %zu, %zu bytes: not 0", r, len);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"?x\r\n",			  /* unknown type */
		"+OK\n",			  /* LF without CR */
		"+O\rK\r\n",			  /* CR without LF */
		":12a\r\n",			  /* not a number */
		":\r\n",			  /* empty number */
		":1234567890123456789\r\n",	  /* too long a number */
		"$-2\r\n",			  /* negative size */
		"$65\r\n",			  /* above max_bulk */
		"$3\r\nabcd\r\n",		  /* no CRLF after the bytes */
		"*8\r\n",			  /* as many values as the limit, and the array itself */
		"*-5\r\n",			  /* negative count */
		"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", /* nested deeper than GW_RESP_DEPTH_MAX */
	};
	struct gw_resp_value v[8];
	int count;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], v, &count) != -1)
			fail_msg("bad reply %zu was not refused", i);
	/* The depth allowed is taken. */
	assert_int_equal(parse("*1\r\n*1\r\n*1\r\n:1\r\n", v, &count), 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
