/* Tests for config/gw_cidr.c: prefixes parsed or refused with a reason,
 * membership for IPv4, IPv6 and IPv4-mapped addresses, socket addresses
 * and the text form. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "gw_cidr.h"

static struct gw_ip ip(const char *text)
{
	struct gw_ip out;

	assert_int_equal(gw_ip_parse(text, strlen(text), &out), 0);
	return out;
}

static struct gw_cidr cidr(const char *text)
{
	struct gw_cidr out;
	const char *why = NULL;

	if (gw_cidr_parse(text, &out, &why) < 0)
		fail_msg("%s: %s", text, why);
	return out;
}

static int holds(const char *prefix, const char *address)
{
	struct gw_cidr c = cidr(prefix);
	struct gw_ip a = ip(address);

	return gw_cidr_contains(&c, &a);
}

static const char *formatted(const struct gw_ip *ip_ptr)
{
	static char buf[INET6_ADDRSTRLEN];

	gw_ip_format(ip_ptr, buf, sizeof(buf));
	return buf;
}

static void test_parses_an_ipv4_prefix_over_the_mapped_form(void **state)
{
	static const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0};
	struct gw_cidr c = cidr("10.0.0.0/8");

	(void)state;
	assert_int_equal(c.bits, 96 + 8);
	assert_memory_equal(c.base.bytes, want, 16);
	assert_true(gw_ip_is_v4(&c.base));
	assert_int_equal(cidr("0.0.0.0/0").bits, 96);
	assert_int_equal(cidr("192.0.2.0/24").bits, 120);
}

static void test_a_lone_address_is_a_full_length_prefix(void **state)
{
	struct gw_cidr v4 = cidr("192.0.2.7");
	struct gw_cidr v6 = cidr("2001:db8::1");
	struct gw_ip want = ip("192.0.2.7");

	(void)state;
	assert_int_equal(v4.bits, 128);
	assert_memory_equal(v4.base.bytes, want.bytes, 16);
	assert_int_equal(v6.bits, 128);
	assert_string_equal(formatted(&v6.base), "2001:db8::1");
}

static void test_parses_an_ipv6_prefix(void **state)
{
	static const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8};
	struct gw_cidr c = cidr("2001:db8::/32");

	(void)state;
	assert_int_equal(c.bits, 32);
	assert_memory_equal(c.base.bytes, want, 16);
	assert_false(gw_ip_is_v4(&c.base));
	assert_int_equal(cidr("::/0").bits, 0);
	assert_int_equal(cidr("2001:db8::/128").bits, 128);
	/* IPv6 text counts over 128 bits even when it is IPv4-mapped. */
	assert_int_equal(cidr("::ffff:10.0.0.0/104").bits, 104);
}

static void test_refuses_bad_prefixes_with_a_reason(void **state)
{
	static const char *const bad[] = {
		"",
		"1.2.3.4/33",
		"::/129",
		"1.2.3.4/",
		"1.2.3.0/024",
		"0.0.0.0/00",
		"1.2.3.0/+24",
		"1.2.3.0/ 24",
		"1.2.3.0/24 ",
		"1.2.3.0/-1",
		"1.2.3.0/2a",
		"1.2.3.0/99999999999999999999",
		"garbage",
		"garbage/8",
		"/8",
		" 1.2.3.4",
		"1.2.3",
		"01.2.3.4",
		"256.1.1.1",
		"1.2.3.4.5",
		"[::1]",
		"::1/64/1",
		"1.2.3.0/24/24",
		"fe80::1%eth0",
	};
	struct gw_cidr out, before;
	const char *why;

	(void)state;
	memset(&out, 0xa5, sizeof(out));
	before = out;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (gw_cidr_parse(bad[i], &out, &why) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(why);
		assert_true(strlen(why) > 0);
		assert_memory_equal(&out, &before, sizeof(out));
	}
	assert_int_equal(gw_cidr_parse(NULL, &out, &why), -1);
	/* The reason may be left unasked. */
	assert_int_equal(gw_cidr_parse("1.2.3.4/33", &out, NULL), -1);
}

static void test_reasons_tell_the_faults_apart(void **state)
{
	const char *empty, *garbage, *v4_length, *v6_length, *host_bits;
	struct gw_cidr out;

	(void)state;
	assert_int_equal(gw_cidr_parse("", &out, &empty), -1);
	assert_int_equal(gw_cidr_parse("nope/8", &out, &garbage), -1);
	assert_int_equal(gw_cidr_parse("10.0.0.0/33", &out, &v4_length), -1);
	assert_int_equal(gw_cidr_parse("::/129", &out, &v6_length), -1);
	assert_int_equal(gw_cidr_parse("10.0.0.1/8", &out, &host_bits), -1);
	assert_string_equal(empty, "empty");
	assert_non_null(strstr(garbage, "address"));
	assert_non_null(strstr(v4_length, "32"));
	assert_non_null(strstr(v6_length, "128"));
	assert_non_null(strstr(host_bits, "bits set"));
}

static void test_refuses_host_bits_past_the_prefix(void **state)
{
	static const char *const bad[] = {
		"10.0.0.1/8", "192.0.2.1/24",	"192.0.2.128/24",     "192.0.2.6/30",
		"1.0.0.0/0",  "2001:db8::1/64", "2001:db8:8000::/32", "::1/0",
	};
	struct gw_cidr out;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (gw_cidr_parse(bad[i], &out, &why) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(why, "bits set"));
	}
	/* The last bit inside the prefix may be set. */
	assert_int_equal(cidr("192.0.2.4/31").bits, 96 + 31);
	assert_int_equal(cidr("2001:db8:8000::/33").bits, 33);
}

static void test_contains_ipv4(void **state)
{
	(void)state;
	assert_true(holds("10.0.0.0/8", "10.0.0.0"));
	assert_true(holds("10.0.0.0/8", "10.255.255.255"));
	assert_false(holds("10.0.0.0/8", "11.0.0.0"));
	assert_false(holds("10.0.0.0/8", "9.255.255.255"));
	assert_true(holds("192.168.128.0/17", "192.168.200.1"));
	assert_false(holds("192.168.128.0/17", "192.168.127.255"));
	assert_true(holds("192.0.2.7", "192.0.2.7"));
	assert_false(holds("192.0.2.7", "192.0.2.6"));
	assert_true(holds("0.0.0.0/0", "255.255.255.255"));
	/* An IPv4 /0 is every IPv4 address, no IPv6 one. */
	assert_false(holds("0.0.0.0/0", "2001:db8::1"));
	assert_false(holds("0.0.0.0/0", "::"));
}

static void test_contains_ipv6(void **state)
{
	(void)state;
	assert_true(holds("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(holds("2001:db8::/32", "2001:db9::"));
	assert_true(holds("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(holds("2001:db8::/33", "2001:db8:8000::"));
	assert_true(holds("2001:db8::1", "2001:db8::1"));
	assert_false(holds("2001:db8::1", "2001:db8::2"));
	assert_true(holds("::/0", "2001:db8::1"));
	/* ::/0 covers the mapped range, so every IPv4 address too. */
	assert_true(holds("::/0", "192.0.2.1"));
	assert_false(holds("2001:db8::/32", "192.0.2.1"));
}

static void test_mapped_addresses_equal_ipv4(void **state)
{
	struct gw_ip mapped = ip("::ffff:10.1.2.3");
	struct gw_ip plain = ip("10.1.2.3");
	struct gw_cidr v6_text = cidr("::ffff:10.0.0.0/104");
	struct gw_cidr v4_text = cidr("10.0.0.0/8");

	(void)state;
	assert_memory_equal(mapped.bytes, plain.bytes, 16);
	assert_true(gw_ip_is_v4(&mapped));
	assert_true(holds("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_true(holds("::ffff:10.0.0.0/104", "10.1.2.3"));
	assert_false(holds("::ffff:10.0.0.0/104", "11.1.2.3"));
	assert_int_equal(v6_text.bits, v4_text.bits);
	assert_memory_equal(v6_text.base.bytes, v4_text.base.bytes, 16);
	/* IPv4-compatible (::a.b.c.d, deprecated) is another address. */
	assert_false(holds("10.0.0.0/8", "::10.1.2.3"));
}

static void test_list_contains_any(void **state)
{
	struct gw_cidr list[2];
	struct gw_ip a = ip("192.168.5.5"), b = ip("2001:db8::5"), c = ip("172.16.0.1");

	(void)state;
	list[0] = cidr("192.168.0.0/16");
	list[1] = cidr("2001:db8::/48");
	assert_true(gw_cidr_list_contains(list, 2, &a));
	assert_true(gw_cidr_list_contains(list, 2, &b));
	assert_false(gw_cidr_list_contains(list, 2, &c));
	/* Only the first `count` count. */
	assert_false(gw_cidr_list_contains(list, 1, &b));
	assert_false(gw_cidr_list_contains(list, 0, &a));
	assert_false(gw_cidr_list_contains(NULL, 0, &a));
}

static void test_from_sockaddr(void **state)
{
	struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(80)};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	struct gw_ip out, want = ip("192.0.2.1");

	(void)state;
	assert_int_equal(inet_pton(AF_INET, "192.0.2.1", &in4.sin_addr), 1);
	assert_int_equal(gw_ip_from_sockaddr((struct sockaddr *)&in4, &out), 0);
	assert_memory_equal(out.bytes, want.bytes, 16);
	assert_true(gw_ip_is_v4(&out));

	/* A dual-stack socket's IPv4 peer stays the same address. */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1", &in6.sin6_addr), 1);
	assert_int_equal(gw_ip_from_sockaddr((struct sockaddr *)&in6, &out), 0);
	assert_memory_equal(out.bytes, want.bytes, 16);

	assert_int_equal(inet_pton(AF_INET6, "2001:db8::9", &in6.sin6_addr), 1);
	assert_int_equal(gw_ip_from_sockaddr((struct sockaddr *)&in6, &out), 0);
	assert_false(gw_ip_is_v4(&out));
	assert_string_equal(formatted(&out), "2001:db8::9");

	assert_int_equal(gw_ip_from_sockaddr((struct sockaddr *)&un, &out), -1);
	assert_int_equal(gw_ip_from_sockaddr(NULL, &out), -1);
}

static void test_ip_parse_reads_exactly_len_bytes(void **state)
{
	/* The longest literal (45 bytes) fits the copy inet_pton() reads. */
	static const char longest[] = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
	char too_long[200];
	struct gw_ip out, want = ip("192.0.2.1");

	(void)state;
	assert_int_equal(gw_ip_parse("192.0.2.1, 10.0.0.1", 9, &out), 0);
	assert_memory_equal(out.bytes, want.bytes, 16);
	assert_int_equal(gw_ip_parse("192.0.2.10", 9, &out), 0);
	assert_string_equal(formatted(&out), "192.0.2.1");
	assert_int_equal(gw_ip_parse("192.0.2.1", 8, &out), -1);
	assert_int_equal(gw_ip_parse("192.0.2.1", 0, &out), -1);
	assert_int_equal(gw_ip_parse("192.0\0.2.1", 10, &out), -1);
	assert_int_equal(strlen(longest), 45);
	assert_int_equal(gw_ip_parse(longest, strlen(longest), &out), 0);
	assert_string_equal(formatted(&out), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	memset(too_long, '1', sizeof(too_long));
	assert_int_equal(gw_ip_parse(too_long, sizeof(too_long), &out), -1);
	assert_int_equal(gw_ip_parse("fe80::1%eth0", 12, &out), -1);
	assert_int_equal(gw_ip_parse("[::1]", 5, &out), -1);
	assert_int_equal(gw_ip_parse("::1", 3, &out), 0);
	assert_string_equal(formatted(&out), "::1");
}

static void test_format(void **state)
{
	struct gw_ip v4 = ip("192.0.2.1"), v6 = ip("2001:db8::1"), mapped = ip("::ffff:10.0.0.255");
	struct gw_ip widest = ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	char buf[INET6_ADDRSTRLEN], small[9], exact[10];

	(void)state;
	assert_string_equal(formatted(&v4), "192.0.2.1");
	assert_string_equal(formatted(&v6), "2001:db8::1");
	assert_string_equal(formatted(&mapped), "10.0.0.255");
	gw_ip_format(&widest, buf, sizeof(buf));
	assert_string_equal(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	/* Too small: nothing rather than a part that names another address. */
	memset(small, 'x', sizeof(small));
	gw_ip_format(&v4, small, sizeof(small));
	assert_string_equal(small, "");
	gw_ip_format(&v4, exact, sizeof(exact));
	assert_string_equal(exact, "192.0.2.1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parses_an_ipv4_prefix_over_the_mapped_form),
		cmocka_unit_test(test_a_lone_address_is_a_full_length_prefix),
		cmocka_unit_test(test_parses_an_ipv6_prefix),
		cmocka_unit_test(test_refuses_bad_prefixes_with_a_reason),
		cmocka_unit_test(test_reasons_tell_the_faults_apart),
		cmocka_unit_test(test_refuses_host_bits_past_the_prefix),
		cmocka_unit_test(test_contains_ipv4),
		cmocka_unit_test(test_contains_ipv6),
		cmocka_unit_test(test_mapped_addresses_equal_ipv4),
		cmocka_unit_test(test_list_contains_any),
		cmocka_unit_test(test_from_sockaddr),
		cmocka_unit_test(test_ip_parse_reads_exactly_len_bytes),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
