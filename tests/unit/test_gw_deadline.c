/* Tests for gateway/gw_deadline.c: the timeouts a client asks for, read,
 * and what is left of a deadline, written for the next hop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gw_deadline.h"

#define MS 1000000ull
#define S 1000000000ull

static uint64_t ms_of(const char *text)
{
	uint64_t ns = 0;

	assert_int_equal(gw_deadline_parse_ms(text, strlen(text), &ns), 0);
	return ns;
}

static uint64_t grpc_of(const char *text)
{
	uint64_t ns = 0;

	assert_int_equal(gw_deadline_parse_grpc(text, strlen(text), &ns), 0);
	return ns;
}

static void test_milliseconds(void **state)
{
	static const char *const malformed[] = {"", " ", "-5", "+5", "5ms", "1.5", "0x10", "12345678901", "1 2"};
	uint64_t ns;

	(void)state;
	assert_int_equal(ms_of("250"), 250 * MS);
	assert_int_equal(ms_of(" 1500\t"), 1500 * MS);
	assert_int_equal(ms_of("0"), 0);
	assert_int_equal(ms_of("9999999999"), 9999999999ull * MS);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		assert_int_equal(gw_deadline_parse_ms(malformed[i], strlen(malformed[i]), &ns), -1);
}

static void test_grpc_units(void **state)
{
	static const char *const malformed[] = {"", "S", "10", "10s", "10 S", "123456789S", "-1S", "1.5S", "10Sx"};
	uint64_t ns;

	(void)state;
	assert_int_equal(grpc_of("2H"), 2 * 3600 * S);
	assert_int_equal(grpc_of("3M"), 3 * 60 * S);
	assert_int_equal(grpc_of("10S"), 10 * S);
	assert_int_equal(grpc_of("250m"), 250 * MS);
	assert_int_equal(grpc_of("1500u"), 1500000);
	assert_int_equal(grpc_of("99999999n"), 99999999);
	/* the most hours 64 bits of ns hold, and more saturated */
	assert_int_equal(grpc_of("5124095H"), 5124095ull * 3600 * S);
	assert_int_equal(grpc_of("5124096H"), UINT64_MAX);
	assert_int_equal(grpc_of("99999999H"), UINT64_MAX);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		assert_int_equal(gw_deadline_parse_grpc(malformed[i], strlen(malformed[i]), &ns), -1);
}

static void check_format(size_t (*format)(uint64_t, char *), uint64_t ns, const char *expected)
{
	char buf[GW_DEADLINE_TEXT_MAX + 1];
	size_t len = format(ns, buf);

	assert_true(len <= GW_DEADLINE_TEXT_MAX);
	buf[len] = '\0';
	assert_string_equal(buf, expected);
}

static void test_written_rounded_down_never_zero(void **state)
{
	(void)state;
	check_format(gw_deadline_format_ms, 1499 * MS + 999999, "1499");
	check_format(gw_deadline_format_ms, 1, "1");
	check_format(gw_deadline_format_ms, 0, "1");
	check_format(gw_deadline_format_grpc, 1499 * MS + 5, "1499m");
	check_format(gw_deadline_format_grpc, 10, "1m");
	/* past 8 digits of ms: seconds, then minutes, then hours */
	check_format(gw_deadline_format_grpc, 100000000ull * MS, "100000S");
	check_format(gw_deadline_format_grpc, 100000000ull * S, "1666666M");
	check_format(gw_deadline_format_grpc, UINT64_MAX, "5124095H");
	check_format(gw_deadline_format_ms, UINT64_MAX, "18446744073709");
}

static void test_written_reads_back(void **state)
{
	static const uint64_t samples[] = {1 * MS, 999 * MS, 15 * S, 3600 * S, 86400 * S};
	char buf[GW_DEADLINE_TEXT_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		size_t len = gw_deadline_format_grpc(samples[i], buf);
		uint64_t ns;

		assert_int_equal(gw_deadline_parse_grpc(buf, len, &ns), 0);
		assert_true(ns <= samples[i]);
		len = gw_deadline_format_ms(samples[i], buf);
		assert_int_equal(gw_deadline_parse_ms(buf, len, &ns), 0);
		assert_int_equal(ns, samples[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_milliseconds),
		cmocka_unit_test(test_grpc_units),
		cmocka_unit_test(test_written_rounded_down_never_zero),
		cmocka_unit_test(test_written_reads_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
