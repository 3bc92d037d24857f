/* Tests for gateway/gw_client_address.c: which address a rule picks from
 * the peer, X-Forwarded-For or Forwarded, that a spoofed header from an
 * untrusted peer is ignored, and what is not an address. Each line is
 * handed over in a buffer of exactly its length, so a read past it shows
 * under ASan. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_client_address.h"

#define XFF GW_CLIENT_FROM_X_FORWARDED_FOR
#define FWD GW_CLIENT_FROM_FORWARDED
#define TRUSTED 1
#define NOT_TRUSTED 0
#define MAX_LINES 8

/* The lines of one header as an array and its count. */
#define LINES(...) \
	(const char *const[]){__VA_ARGS__}, (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* The proxies in front: 10.0.0.0/8 and 2001:db8:ffff::/48. */
static struct gw_cidr trusted_prefixes[2];

static struct gw_ip ip(const char *text)
{
	struct gw_ip out;

	assert_int_equal(gw_ip_parse(text, strlen(text), &out), 0);
	return out;
}

static int setup(void **state)
{
	const char *why = NULL;

	(void)state;
	if (gw_cidr_parse("10.0.0.0/8", &trusted_prefixes[0], &why) < 0 ||
	    gw_cidr_parse("2001:db8:ffff::/48", &trusted_prefixes[1], &why) < 0)
		return -1;
	return 0;
}

static struct gw_client_rule rule(enum gw_client_from from, int hops, int trusted)
{
	return (struct gw_client_rule){
		.from = from,
		.trusted_hops = hops,
		.trusted_ptr = trusted ? trusted_prefixes : NULL,
		.trusted_count = trusted ? 2 : 0,
	};
}

/* What the rule picks, as "peer ADDR", "header ADDR" or "unusable". On
 * UNUSABLE the output must be left as it was. */
static const char *pick(struct gw_client_rule r, const char *peer, const char *const *lines, int count)
{
	static char text[80];
	char *copies[MAX_LINES];
	size_t lens[MAX_LINES];
	char address[INET6_ADDRSTRLEN];
	struct gw_ip peer_ip = ip(peer), out, untouched;
	enum gw_client_source source;

	assert_true(count <= MAX_LINES);
	for (int i = 0; i < count; i++) {
		lens[i] = strlen(lines[i]);
		copies[i] = malloc(lens[i]);
		assert_true(copies[i] != NULL || lens[i] == 0);
		if (lens[i])
			memcpy(copies[i], lines[i], lens[i]);
	}
	memset(&out, 0xa5, sizeof(out));
	untouched = out;
	source = gw_client_address_pick(&r, &peer_ip, (const char *const *)copies, lens, count, &out);
	for (int i = 0; i < count; i++)
		free(copies[i]);
	gw_ip_format(&out, address, sizeof(address));
	switch (source) {
	case GW_CLIENT_PEER:
		assert_memory_equal(out.bytes, peer_ip.bytes, 16);
		snprintf(text, sizeof(text), "peer %s", address);
		break;
	case GW_CLIENT_HEADER:
		snprintf(text, sizeof(text), "header %s", address);
		break;
	case GW_CLIENT_UNUSABLE:
		assert_memory_equal(&out, &untouched, sizeof(out));
		snprintf(text, sizeof(text), "unusable");
		break;
	default:
		fail_msg("source %d", (int)source);
	}
	return text;
}

/* One line, for the many cases that need no more. */
static const char *pick1(struct gw_client_rule r, const char *peer, const char *line)
{
	return pick(r, peer, &line, 1);
}

static void test_peer_mode_ignores_the_headers(void **state)
{
	(void)state;
	assert_string_equal(pick(rule(GW_CLIENT_FROM_PEER, 0, 0), "203.0.113.9", LINES("192.0.2.1")),
			    "peer 203.0.113.9");
	assert_string_equal(pick(rule(GW_CLIENT_FROM_PEER, 1, TRUSTED), "10.0.0.1", LINES("192.0.2.1")),
			    "peer 10.0.0.1");
	assert_string_equal(pick(rule(GW_CLIENT_FROM_PEER, 0, 0), "2001:db8::1", NULL, 0), "peer 2001:db8::1");
}

static void test_spoofed_header_from_an_untrusted_peer_is_ignored(void **state)
{
	(void)state;
	assert_string_equal(pick(rule(XFF, 1, TRUSTED), "203.0.113.9", LINES("192.0.2.1")), "peer 203.0.113.9");
	assert_string_equal(pick(rule(XFF, 0, TRUSTED), "203.0.113.9", LINES("192.0.2.1, 10.0.0.2")),
			    "peer 203.0.113.9");
	assert_string_equal(pick(rule(FWD, 0, TRUSTED), "2001:db8::1", LINES("for=192.0.2.1")), "peer 2001:db8::1");
	/* Not parsed at all: garbage from an untrusted peer is not UNUSABLE. */
	assert_string_equal(pick(rule(XFF, 1, TRUSTED), "203.0.113.9", LINES("garbage")), "peer 203.0.113.9");
	/* The same header through a trusted proxy is used. */
	assert_string_equal(pick(rule(XFF, 1, TRUSTED), "10.9.9.9", LINES("192.0.2.1")), "header 192.0.2.1");
	assert_string_equal(pick(rule(XFF, 1, TRUSTED), "2001:db8:ffff::7", LINES("192.0.2.1")), "header 192.0.2.1");
}

static void test_nothing_trusted_is_the_peer(void **state)
{
	(void)state;
	assert_string_equal(pick(rule(XFF, 0, NOT_TRUSTED), "203.0.113.9", LINES("192.0.2.1")), "peer 203.0.113.9");
	assert_string_equal(pick(rule(FWD, 0, NOT_TRUSTED), "203.0.113.9", LINES("for=192.0.2.1")), "peer 203.0.113.9");
}

static void test_trusted_hops_count_from_the_right_across_lines(void **state)
{
	const char *const lines[] = {"192.0.2.1, 192.0.2.2", "192.0.2.3"};

	(void)state;
	assert_string_equal(pick(rule(XFF, 1, NOT_TRUSTED), "203.0.113.9", lines, 2), "header 192.0.2.3");
	assert_string_equal(pick(rule(XFF, 2, NOT_TRUSTED), "203.0.113.9", lines, 2), "header 192.0.2.2");
	assert_string_equal(pick(rule(XFF, 3, NOT_TRUSTED), "203.0.113.9", lines, 2), "header 192.0.2.1");
	/* With prefixes too, once the peer is in them. */
	assert_string_equal(pick(rule(XFF, 2, TRUSTED), "10.0.0.1", lines, 2), "header 192.0.2.2");
}

static void test_fewer_entries_than_hops_is_the_peer(void **state)
{
	(void)state;
	assert_string_equal(pick(rule(XFF, 4, NOT_TRUSTED), "203.0.113.9", LINES("192.0.2.1, 192.0.2.2", "192.0.2.3")),
			    "peer 203.0.113.9");
	assert_string_equal(pick(rule(XFF, 1, NOT_TRUSTED), "203.0.113.9", NULL, 0), "peer 203.0.113.9");
	assert_string_equal(pick(rule(FWD, 2, NOT_TRUSTED), "203.0.113.9", LINES("for=192.0.2.1")), "peer 203.0.113.9");
}

static void test_hops_out_of_range_are_unusable(void **state)
{
	char line[20 * 12];
	size_t n = 0;

	(void)state;
	for (int i = 1; i <= 20; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s192.0.2.%d", i > 1 ? "," : "", i);
	/* 16 is allowed: the 16th from the right of 1..20 is .5. */
	assert_string_equal(pick1(rule(XFF, 16, NOT_TRUSTED), "203.0.113.9", line), "header 192.0.2.5");
	assert_string_equal(pick1(rule(XFF, 17, NOT_TRUSTED), "203.0.113.9", line), "unusable");
	assert_string_equal(pick1(rule(XFF, -1, NOT_TRUSTED), "203.0.113.9", line), "unusable");
}

static void test_picked_entry_not_an_address_is_unusable(void **state)
{
	(void)state;
	assert_string_equal(pick1(rule(XFF, 1, NOT_TRUSTED), "203.0.113.9", "192.0.2.1, garbage"), "unusable");
	assert_string_equal(pick1(rule(XFF, 2, NOT_TRUSTED), "203.0.113.9", "192.0.2.1,,192.0.2.3"), "unusable");
	assert_string_equal(pick1(rule(XFF, 1, NOT_TRUSTED), "203.0.113.9", "192.0.2.1,,192.0.2.3"),
			    "header 192.0.2.3");
	assert_string_equal(pick1(rule(XFF, 3, NOT_TRUSTED), "203.0.113.9", "192.0.2.1,,192.0.2.3"),
			    "header 192.0.2.1");
	/* A trailing comma leaves an empty rightmost entry; an empty line is one. */
	assert_string_equal(pick1(rule(XFF, 1, NOT_TRUSTED), "203.0.113.9", "192.0.2.1,"), "unusable");
	assert_string_equal(pick(rule(XFF, 1, NOT_TRUSTED), "203.0.113.9", LINES("192.0.2.1", "")), "unusable");
	assert_string_equal(pick(rule(XFF, 2, NOT_TRUSTED), "203.0.113.9", LINES("192.0.2.1", " ")),
			    "header 192.0.2.1");
	/* Only the picked entry is read: garbage to its left does not matter. */
	assert_string_equal(pick1(rule(XFF, 1, NOT_TRUSTED), "203.0.113.9", "\"x, 192.0.2.7"), "header 192.0.2.7");
}

static void test_recursive_walk_skips_trusted_proxies(void **state)
{
	(void)state;
	assert_string_equal(pick(rule(XFF, 0, TRUSTED), "10.0.0.1", LINES("192.0.2.5, 10.1.1.1", "2001:db8:ffff::2")),
			    "header 192.0.2.5");
	/* The walk stops at the client: garbage to its left is never read. */
	assert_string_equal(pick(rule(XFF, 0, TRUSTED), "10.0.0.1", LINES("garbage, 192.0.2.7, 10.2.2.2")),
			    "header 192.0.2.7");
	/* The rightmost untrusted address wins over one further left. */
	assert_string_equal(pick(rule(XFF, 0, TRUSTED), "10.0.0.1", LINES("192.0.2.1, 192.0.2.2")), "header 192.0.2.2");
	/* A mapped entry inside a trusted IPv4 prefix is trusted. */
	assert_string_equal(pick(rule(XFF, 0, TRUSTED), "10.0.0.1", LINES("192.0.2.8, ::ffff:10.3.3.3")),
			    "header 192.0.2.8");
}

static void test_recursive_walk_all_trusted_is_the_leftmost(void **state)
{
	(void)state;
	assert_string_equal(pick(rule(XFF, 0, TRUSTED), "10.0.0.1", LINES("10.0.0.5, 10.0.0.6", "10.0.0.7")),
			    "header 10.0.0.5");
	assert_string_equal(pick(rule(FWD, 0, TRUSTED), "10.0.0.1", LINES("for=10.0.0.5, for=\"[2001:db8:ffff::9]\"")),
			    "header 10.0.0.5");
}

static void test_recursive_walk_stops_at_a_non_address(void **state)
{
	(void)state;
	assert_string_equal(pick(rule(XFF, 0, TRUSTED), "10.0.0.1", LINES("192.0.2.5, unknown, 10.0.0.2")), "unusable");
	assert_string_equal(pick(rule(XFF, 0, TRUSTED), "10.0.0.1", LINES("192.0.2.5", "")), "unusable");
	assert_string_equal(pick(rule(FWD, 0, TRUSTED), "10.0.0.1", LINES("for=192.0.2.5, for=_hidden")), "unusable");
	/* No header at all: the peer. */
	assert_string_equal(pick(rule(XFF, 0, TRUSTED), "10.0.0.1", NULL, 0), "peer 10.0.0.1");
}

static void test_recursive_walk_is_bounded(void **state)
{
	char line[70 * 16];
	size_t n = 0;

	(void)state;
	/* 63 trusted entries with the client left of them: 64 entries, found. */
	n += (size_t)snprintf(line + n, sizeof(line) - n, "192.0.2.1");
	for (int i = 0; i < 63; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, ", 10.0.0.%d", i);
	assert_string_equal(pick1(rule(XFF, 0, TRUSTED), "10.0.0.1", line), "header 192.0.2.1");
	/* 64 trusted entries: the leftmost. */
	n = (size_t)snprintf(line, sizeof(line), "10.0.1.1");
	for (int i = 0; i < 63; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, ", 10.0.0.%d", i);
	assert_string_equal(pick1(rule(XFF, 0, TRUSTED), "10.0.0.1", line), "header 10.0.1.1");
	/* One more entry, even the client: past the walk, not an address. */
	n = (size_t)snprintf(line, sizeof(line), "192.0.2.1");
	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, ", 10.0.0.%d", i);
	assert_string_equal(pick1(rule(XFF, 0, TRUSTED), "10.0.0.1", line), "unusable");
	/* The same across lines: 63 trusted entries on the last line, then 64. */
	assert_string_equal(
		pick(rule(XFF, 0, TRUSTED), "10.0.0.1", LINES("192.0.2.1", line + strlen("192.0.2.1, 10.0.0.0, "))),
		"header 192.0.2.1");
	assert_string_equal(pick(rule(XFF, 0, TRUSTED), "10.0.0.1", LINES("192.0.2.1", line + strlen("192.0.2.1, "))),
			    "unusable");
}

static void test_xff_ports_brackets_and_spaces(void **state)
{
	static const struct {
		const char *entry;
		const char *want;
	} cases[] = {
		{"192.0.2.5", "header 192.0.2.5"},
		{"192.0.2.5:8080", "header 192.0.2.5"},
		{"192.0.2.5:0", "header 192.0.2.5"},
		{"192.0.2.5:65535", "header 192.0.2.5"},
		{"2001:db8::7", "header 2001:db8::7"},
		{"[2001:db8::7]", "header 2001:db8::7"},
		{"[2001:db8::7]:443", "header 2001:db8::7"},
		{" \t192.0.2.6 \t", "header 192.0.2.6"},
		{"::ffff:192.0.2.9", "header 192.0.2.9"},
		{"[::ffff:192.0.2.9]:1", "header 192.0.2.9"},
		{"192.0.2.5:65536", "unusable"},
		{"192.0.2.5:123456", "unusable"},
		{"192.0.2.5:", "unusable"},
		{"192.0.2.5:80:90", "unusable"},
		{"192.0.2.5:_abc", "unusable"},
		{"[2001:db8::7", "unusable"},
		{"[2001:db8::7]:", "unusable"},
		{"[2001:db8::7]x", "unusable"},
		{"2001:db8::7]:80", "unusable"},
		{"[192.0.2.5]", "unusable"},
		{"[]", "unusable"},
		{"192.0.2.5 6", "unusable"},
		{"\"192.0.2.5\"", "unusable"},
		{"fe80::1%eth0", "unusable"},
		{"unknown", "unusable"},
		{"localhost:80", "unusable"},
		{"", "unusable"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = pick1(rule(XFF, 1, NOT_TRUSTED), "203.0.113.9", cases[i].entry);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("\"%s\": %s, want %s", cases[i].entry, got, cases[i].want);
	}
}

static void test_values_are_read_only_up_to_their_lengths(void **state)
{
	const char *const values[] = {"192.0.2.1, 192.0.2.2"};
	const size_t lens[] = {9};
	struct gw_client_rule r = rule(XFF, 1, NOT_TRUSTED);
	struct gw_ip peer = ip("203.0.113.9"), out, want = ip("192.0.2.1");

	(void)state;
	assert_int_equal(gw_client_address_pick(&r, &peer, values, lens, 1, &out), GW_CLIENT_HEADER);
	assert_memory_equal(out.bytes, want.bytes, 16);
}

static void test_forwarded_quoted_ipv6_with_port(void **state)
{
	(void)state;
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=\"[2001:db8:cafe::17]:4711\""),
			    "header 2001:db8:cafe::17");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=\"[2001:db8:cafe::17]\""),
			    "header 2001:db8:cafe::17");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=\"192.0.2.43:_abc\""),
			    "header 192.0.2.43");
	/* Accepted unquoted too, though the RFC wants the quotes. */
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=[2001:db8::9]:80"),
			    "header 2001:db8::9");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=192.0.2.43:8080"),
			    "header 192.0.2.43");
	/* A bare IPv6 is ambiguous with a port: not an address. */
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=\"2001:db8::9\""), "unusable");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=\"[2001:db8::9]:_\""), "unusable");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=\"[2001:db8::9]:8o\""), "unusable");
}

static void test_forwarded_names_and_pairs(void **state)
{
	(void)state;
	assert_string_equal(
		pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "proto=https;For=192.0.2.60;by=203.0.113.43"),
		"header 192.0.2.60");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "FOR=192.0.2.61"), "header 192.0.2.61");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", " for=192.0.2.62 ;\tproto=http ; "),
			    "header 192.0.2.62");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", ";;for=192.0.2.63;;"), "header 192.0.2.63");
	/* Escapes in a quoted-string stand for the character itself. */
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=\"\\192.0.2.64\""),
			    "header 192.0.2.64");
	/* "forwarded" and "fo" are other parameters. */
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "forwarded=192.0.2.65"), "unusable");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "fo=192.0.2.65"), "unusable");
}

static void test_forwarded_quotes_hide_separators(void **state)
{
	const char *line = "for=192.0.2.1, for=192.0.2.2;host=\"a,b;c\"";

	(void)state;
	/* Split at the quoted comma, the rightmost entry would be malformed. */
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", line), "header 192.0.2.2");
	assert_string_equal(pick1(rule(FWD, 2, NOT_TRUSTED), "203.0.113.9", line), "header 192.0.2.1");
	assert_string_equal(pick1(rule(FWD, 3, NOT_TRUSTED), "203.0.113.9", line), "peer 203.0.113.9");
	/* An escaped quote does not end the string. */
	line = "for=192.0.2.3;ext=\"x\\\",y\"";
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", line), "header 192.0.2.3");
	assert_string_equal(pick1(rule(FWD, 2, NOT_TRUSTED), "203.0.113.9", line), "peer 203.0.113.9");
}

static void test_forwarded_unknown_and_obfuscated_are_not_addresses(void **state)
{
	(void)state;
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=unknown"), "unusable");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=_hidden"), "unusable");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=\"_hidden:80\""), "unusable");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=\"unknown:_x\""), "unusable");
	assert_string_equal(pick1(rule(FWD, 2, NOT_TRUSTED), "203.0.113.9", "for=192.0.2.1, for=unknown"),
			    "header 192.0.2.1");
}

static void test_forwarded_element_without_for_is_not_an_address(void **state)
{
	const char *line = "for=192.0.2.1, proto=https;by=10.0.0.1";

	(void)state;
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", line), "unusable");
	assert_string_equal(pick1(rule(FWD, 2, NOT_TRUSTED), "203.0.113.9", line), "header 192.0.2.1");
	assert_string_equal(pick1(rule(FWD, 0, TRUSTED), "10.0.0.1", line), "unusable");
	assert_string_equal(pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", "for=192.0.2.1,"), "unusable");
}

static void test_forwarded_malformed_elements(void **state)
{
	static const char *const bad[] = {
		"for=\"192.0.2.2",	       /* unterminated quote */
		"for=\"192.0.2.2\\",	       /* ends inside an escape */
		"for=192.0.2.1;for=192.0.2.2", /* twice in one element */
		"for",			       /* no '=' */
		"for=",			       /* empty value */
		"for =192.0.2.1",	       /* space before '=' */
		"for= 192.0.2.1",	       /* space after '=' */
		"=192.0.2.1",		       /* no name */
		"f(r=192.0.2.1",	       /* name not a token */
		"for=192.0.2.1;proto",	       /* another pair without '=' */
		"for=\"192.0.2.1\"x",	       /* text after the quoted-string */
		"for=192.0.2\"x\"",	       /* a quote inside a token */
		"for=\" 192.0.2.1\"",	       /* a space inside the quotes */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *got = pick1(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", bad[i]);
		if (strcmp(got, "unusable") != 0)
			fail_msg("'%s': %s", bad[i], got);
	}
	/* An unterminated quote spoils only its own (the last) element. */
	assert_string_equal(pick1(rule(FWD, 2, NOT_TRUSTED), "203.0.113.9", "for=192.0.2.1, for=\"192.0.2.2, x"),
			    "header 192.0.2.1");
}

static void test_forwarded_multiple_lines(void **state)
{
	const char *const lines[] = {"for=192.0.2.1", "For=192.0.2.2, for=\"[2001:db8::5]\";proto=https"};

	(void)state;
	assert_string_equal(pick(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", lines, 2), "header 2001:db8::5");
	assert_string_equal(pick(rule(FWD, 2, NOT_TRUSTED), "203.0.113.9", lines, 2), "header 192.0.2.2");
	assert_string_equal(pick(rule(FWD, 3, NOT_TRUSTED), "203.0.113.9", lines, 2), "header 192.0.2.1");
	assert_string_equal(pick(rule(FWD, 4, NOT_TRUSTED), "203.0.113.9", lines, 2), "peer 203.0.113.9");
	/* A quote does not carry over from one line to the next. */
	assert_string_equal(pick(rule(FWD, 2, NOT_TRUSTED), "203.0.113.9", LINES("for=\"192.0.2.1", "for=192.0.2.2")),
			    "unusable");
	assert_string_equal(pick(rule(FWD, 1, NOT_TRUSTED), "203.0.113.9", LINES("for=\"192.0.2.1", "for=192.0.2.2")),
			    "header 192.0.2.2");
}

static void test_forwarded_recursive_walk(void **state)
{
	(void)state;
	assert_string_equal(
		pick(rule(FWD, 0, TRUSTED), "10.0.0.1",
		     LINES("for=192.0.2.9;proto=https, for=\"10.1.2.3:443\"", "for=\"[2001:db8:ffff::1]\"")),
		"header 192.0.2.9");
	assert_string_equal(pick(rule(FWD, 0, TRUSTED), "10.0.0.1", LINES("for=192.0.2.9, by=10.0.0.2")), "unusable");
}

static void test_mapped_peer_is_the_ipv4_peer(void **state)
{
	(void)state;
	/* A dual-stack socket's peer ::ffff:10.0.0.1 is inside 10.0.0.0/8. */
	assert_string_equal(pick(rule(XFF, 1, TRUSTED), "::ffff:10.0.0.1", LINES("192.0.2.1")), "header 192.0.2.1");
	assert_string_equal(pick(rule(XFF, 1, TRUSTED), "::ffff:203.0.113.9", LINES("192.0.2.1")), "peer 203.0.113.9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_mode_ignores_the_headers),
		cmocka_unit_test(test_spoofed_header_from_an_untrusted_peer_is_ignored),
		cmocka_unit_test(test_nothing_trusted_is_the_peer),
		cmocka_unit_test(test_trusted_hops_count_from_the_right_across_lines),
		cmocka_unit_test(test_fewer_entries_than_hops_is_the_peer),
		cmocka_unit_test(test_hops_out_of_range_are_unusable),
		cmocka_unit_test(test_picked_entry_not_an_address_is_unusable),
		cmocka_unit_test(test_recursive_walk_skips_trusted_proxies),
		cmocka_unit_test(test_recursive_walk_all_trusted_is_the_leftmost),
		cmocka_unit_test(test_recursive_walk_stops_at_a_non_address),
		cmocka_unit_test(test_recursive_walk_is_bounded),
		cmocka_unit_test(test_xff_ports_brackets_and_spaces),
		cmocka_unit_test(test_values_are_read_only_up_to_their_lengths),
		cmocka_unit_test(test_forwarded_quoted_ipv6_with_port),
		cmocka_unit_test(test_forwarded_names_and_pairs),
		cmocka_unit_test(test_forwarded_quotes_hide_separators),
		cmocka_unit_test(test_forwarded_unknown_and_obfuscated_are_not_addresses),
		cmocka_unit_test(test_forwarded_element_without_for_is_not_an_address),
		cmocka_unit_test(test_forwarded_malformed_elements),
		cmocka_unit_test(test_forwarded_multiple_lines),
		cmocka_unit_test(test_forwarded_recursive_walk),
		cmocka_unit_test(test_mapped_peer_is_the_ipv4_peer),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
