/* Tests for gateway/gw_proxy_protocol.c: v1 lines and v2 headers parsed
 * strictly, prefixes waited on, anything else refused at once. Every parse
 * runs on a heap copy of exactly the bytes given, so a read past them shows
 * under ASan (make debug). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "gw_proxy_protocol.h"

/* What the last parse() returned through its pointers. */
static struct gw_proxy_header header;
static const char *why_ptr;

static enum gw_proxy_result parse(const void *buf_ptr, size_t len)
{
	char *copy_ptr = malloc(len ? len : 1);
	enum gw_proxy_result result;

	assert_non_null(copy_ptr);
	memcpy(copy_ptr, buf_ptr, len);
	memset(&header, 0xab, sizeof(header));
	why_ptr = NULL;
	result = gw_proxy_parse(copy_ptr, len, &header, &why_ptr);
	free(copy_ptr);
	if (result == GW_PROXY_INVALID)
		assert_non_null(why_ptr);
	else
		assert_null(why_ptr);
	return result;
}

static enum gw_proxy_result parse_str(const char *text_ptr)
{
	return parse(text_ptr, strlen(text_ptr));
}

static void assert_endpoint(const struct sockaddr_storage *addr_ptr, socklen_t addr_len, int family,
			    const char *expect_ptr, unsigned port)
{
	char text[INET6_ADDRSTRLEN];

	assert_int_equal(addr_ptr->ss_family, family);
	if (family == AF_INET) {
		const struct sockaddr_in *in_ptr = (const struct sockaddr_in *)addr_ptr;

		assert_int_equal(addr_len, sizeof(struct sockaddr_in));
		assert_non_null(inet_ntop(AF_INET, &in_ptr->sin_addr, text, sizeof(text)));
		assert_int_equal(ntohs(in_ptr->sin_port), port);
	} else {
		const struct sockaddr_in6 *in6_ptr = (const struct sockaddr_in6 *)addr_ptr;

		assert_int_equal(addr_len, sizeof(struct sockaddr_in6));
		assert_non_null(inet_ntop(AF_INET6, &in6_ptr->sin6_addr, text, sizeof(text)));
		assert_int_equal(ntohs(in6_ptr->sin6_port), port);
	}
	assert_string_equal(text, expect_ptr);
}

/* Every proper prefix of a valid header must be waited on. */
static void assert_prefixes_need_more(const void *buf_ptr, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (parse(buf_ptr, i) != GW_PROXY_NEED_MORE)
			fail_msg("prefix of %zu bytes: %s", i, why_ptr ? why_ptr : "DONE");
}

static void assert_invalid(const char *text_ptr)
{
	if (parse_str(text_ptr) != GW_PROXY_INVALID)
		fail_msg("accepted or waited on: \"%s\"", text_ptr);
}

/* v1 */

#define V1_TCP4 "PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\n"
#define V1_TCP6 "PROXY TCP6 2001:db8::1 ::ffff:10.0.0.2 65535 0\r\n"
#define V1_UNKNOWN "PROXY UNKNOWN\r\n"

static void test_v1_tcp4(void **state)
{
	(void)state;
	assert_int_equal(parse_str(V1_TCP4), GW_PROXY_DONE);
	assert_int_equal(header.version, 1);
	assert_int_equal(header.length, strlen(V1_TCP4));
	assert_int_equal(header.local, 0);
	assert_endpoint(&header.source, header.source_len, AF_INET, "192.168.0.1", 56324);
	assert_endpoint(&header.destination, header.destination_len, AF_INET, "10.0.0.2", 443);
}

static void test_v1_tcp6(void **state)
{
	(void)state;
	assert_int_equal(parse_str(V1_TCP6), GW_PROXY_DONE);
	assert_int_equal(header.version, 1);
	assert_int_equal(header.length, strlen(V1_TCP6));
	assert_int_equal(header.local, 0);
	assert_endpoint(&header.source, header.source_len, AF_INET6, "2001:db8::1", 65535);
	assert_endpoint(&header.destination, header.destination_len, AF_INET6, "::ffff:10.0.0.2", 0);
}

static void test_v1_unknown(void **state)
{
	const char *line_ptr = "PROXY UNKNOWN ffff:f::ffff 1.2.3.4 65535 anything goes\r\n";

	(void)state;
	assert_int_equal(parse_str(V1_UNKNOWN), GW_PROXY_DONE);
	assert_int_equal(header.version, 1);
	assert_int_equal(header.length, strlen(V1_UNKNOWN));
	assert_int_equal(header.local, 1);
	assert_int_equal(parse_str(line_ptr), GW_PROXY_DONE);
	assert_int_equal(header.length, strlen(line_ptr));
	assert_int_equal(header.local, 1);
	/* UNKNOWN is a word: it must end at a space or at the CRLF. */
	assert_invalid("PROXY UNKNOWNX\r\n");
}

static void test_v1_longest_line(void **state)
{
	char line[GW_PROXY_V1_MAX + 1];

	(void)state;
	memset(line, 'a', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + GW_PROXY_V1_MAX - 2, "\r\n", 2);
	assert_int_equal(parse(line, GW_PROXY_V1_MAX), GW_PROXY_DONE);
	assert_int_equal(header.length, GW_PROXY_V1_MAX);
	/* One byte longer: the CR is where the LF had to be. */
	memset(line + GW_PROXY_V1_MAX - 2, 'a', 2);
	memcpy(line + GW_PROXY_V1_MAX - 1, "\r\n", 2);
	assert_int_equal(parse(line, GW_PROXY_V1_MAX + 1), GW_PROXY_INVALID);
}

static void test_v1_no_crlf_within_max(void **state)
{
	char line[GW_PROXY_V1_MAX];

	(void)state;
	memset(line, 'a', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	assert_int_equal(parse(line, GW_PROXY_V1_MAX - 1), GW_PROXY_NEED_MORE);
	assert_int_equal(parse(line, GW_PROXY_V1_MAX), GW_PROXY_INVALID);
	assert_string_equal(why_ptr, "PROXY v1 line has no CRLF within 107 bytes");
}

static void test_v1_prefixes(void **state)
{
	(void)state;
	assert_prefixes_need_more(V1_TCP4, strlen(V1_TCP4));
	assert_prefixes_need_more(V1_TCP6, strlen(V1_TCP6));
	assert_prefixes_need_more(V1_UNKNOWN, strlen(V1_UNKNOWN));
}

static void test_v1_length_excludes_request(void **state)
{
	const char *bytes_ptr = V1_TCP4 "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

	(void)state;
	assert_int_equal(parse_str(bytes_ptr), GW_PROXY_DONE);
	assert_int_equal(header.length, strlen(V1_TCP4));
	assert_int_equal(parse_str(V1_UNKNOWN "\r\n"), GW_PROXY_DONE);
	assert_int_equal(header.length, strlen(V1_UNKNOWN));
}

static void test_http_request_invalid_at_once(void **state)
{
	(void)state;
	assert_int_equal(parse("G", 1), GW_PROXY_INVALID);
	assert_string_equal(why_ptr, "not a PROXY protocol header");
	assert_invalid("GET / HTTP/1.1\r\n");
	/* A TLS ClientHello starts with 0x16. */
	assert_int_equal(parse("\x16\x03\x01", 3), GW_PROXY_INVALID);
	/* Wrong from the 5th byte on: refused there, not waited on. */
	assert_int_equal(parse("PROXX", 5), GW_PROXY_INVALID);
	assert_int_equal(parse("PROXY", 5), GW_PROXY_NEED_MORE);
}

static void test_v1_lowercase(void **state)
{
	(void)state;
	assert_int_equal(parse("p", 1), GW_PROXY_INVALID);
	assert_invalid("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	assert_invalid("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n");
	assert_invalid("PROXY unknown\r\n");
}

static void test_v1_double_spaces(void **state)
{
	(void)state;
	assert_invalid("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	assert_invalid("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n");
	/* Refused as soon as the second space arrives. */
	assert_int_equal(parse_str("PROXY TCP4 1.2.3.4  "), GW_PROXY_INVALID);
	assert_string_equal(why_ptr, "PROXY v1 line has an empty field");
}

static void test_v1_field_count(void **state)
{
	(void)state;
	assert_invalid("PROXY TCP4\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n");
	assert_invalid("PROXY \r\n");
}

static void test_v1_bad_family(void **state)
{
	(void)state;
	assert_invalid("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n");
	assert_invalid("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n");
	/* Known wrong before the line ends. */
	assert_int_equal(parse_str("PROXY TCP5"), GW_PROXY_INVALID);
	assert_string_equal(why_ptr, "PROXY v1 line has an unknown protocol");
}

static void test_v1_address_family_mismatch(void **state)
{
	(void)state;
	assert_invalid("PROXY TCP4 ::1 5.6.7.8 1 2\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 ::ffff:5.6.7.8 1 2\r\n");
	assert_invalid("PROXY TCP6 1.2.3.4 ::1 1 2\r\n");
	assert_invalid("PROXY TCP6 ::1 5.6.7.8 1 2\r\n");
	/* Refused before the field ends, where it can no longer be valid. */
	assert_int_equal(parse_str("PROXY TCP4 ::"), GW_PROXY_INVALID);
	assert_string_equal(why_ptr, "PROXY v1 TCP4 address is not IPv4");
	assert_int_equal(parse_str("PROXY TCP6 ::1 ::g"), GW_PROXY_INVALID);
	assert_int_equal(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 08"), GW_PROXY_INVALID);
	assert_int_equal(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536"), GW_PROXY_INVALID);
	assert_int_equal(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 6553"), GW_PROXY_NEED_MORE);
}

static void test_v1_bad_address(void **state)
{
	(void)state;
	assert_invalid("PROXY TCP4 256.1.1.1 5.6.7.8 1 2\r\n");
	assert_string_equal(why_ptr, "PROXY v1 address is malformed");
	assert_invalid("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n");
	assert_invalid("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n");
	assert_invalid("PROXY TCP4 localhost 5.6.7.8 1 2\r\n");
	assert_invalid("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n");
	assert_invalid("PROXY TCP6 1::2::3 ::1 1 2\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8\t1 2\r\n");
}

static void test_v1_bad_port(void **state)
{
	(void)state;
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n");
	assert_string_equal(why_ptr, "PROXY v1 port above 65535");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n");
	assert_string_equal(why_ptr, "PROXY v1 port has a leading zero");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n");
	assert_int_equal(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n"), GW_PROXY_DONE);
	assert_endpoint(&header.source, header.source_len, AF_INET, "1.2.3.4", 0);
	assert_endpoint(&header.destination, header.destination_len, AF_INET, "5.6.7.8", 65535);
}

static void test_v1_line_ends(void **state)
{
	(void)state;
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n");
	assert_string_equal(why_ptr, "PROXY v1 line has LF without CR");
	assert_invalid("PROXY UNKNOWN\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX");
	assert_string_equal(why_ptr, "PROXY v1 line has CR without LF");
	assert_invalid("PROXY UNKNOWN a\rb\r\n");
	assert_invalid("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n");
}

/* v2 */

static const unsigned char v2_signature[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* Writes a v2 header with body_len bytes of body after the fixed part (the
 * length field says length) and returns the bytes written. */
static size_t v2_build(unsigned char *buf_ptr, unsigned char ver_cmd, unsigned char family, unsigned length,
		       const void *body_ptr, size_t body_len)
{
	memcpy(buf_ptr, v2_signature, sizeof(v2_signature));
	buf_ptr[12] = ver_cmd;
	buf_ptr[13] = family;
	buf_ptr[14] = (unsigned char)(length >> 8);
	buf_ptr[15] = (unsigned char)length;
	if (body_len)
		memcpy(buf_ptr + 16, body_ptr, body_len);
	return 16 + body_len;
}

/* 192.168.0.1:56324 -> 10.0.0.2:443 */
static const unsigned char tcp4_block[12] = {192, 168, 0, 1, 10, 0, 0, 2, 0xdc, 0x04, 0x01, 0xbb};

/* Two TLVs, the second with an empty value. */
static const unsigned char tlvs[9] = {0x01, 0x00, 0x03, 'h', '2', 'x', 0x04, 0x00, 0x00};

static void test_v2_tcp4(void **state)
{
	unsigned char buf[64];
	size_t len = v2_build(buf, 0x21, 0x11, sizeof(tcp4_block), tcp4_block, sizeof(tcp4_block));

	(void)state;
	assert_int_equal(len, 28);
	assert_int_equal(parse(buf, len), GW_PROXY_DONE);
	assert_int_equal(header.version, 2);
	assert_int_equal(header.length, 28);
	assert_int_equal(header.local, 0);
	assert_endpoint(&header.source, header.source_len, AF_INET, "192.168.0.1", 56324);
	assert_endpoint(&header.destination, header.destination_len, AF_INET, "10.0.0.2", 443);
	assert_prefixes_need_more(buf, len);
}

static void test_v2_tcp4_tlvs(void **state)
{
	unsigned char body[sizeof(tcp4_block) + sizeof(tlvs)];
	unsigned char buf[64];
	size_t len;

	(void)state;
	memcpy(body, tcp4_block, sizeof(tcp4_block));
	memcpy(body + sizeof(tcp4_block), tlvs, sizeof(tlvs));
	len = v2_build(buf, 0x21, 0x11, sizeof(body), body, sizeof(body));
	assert_int_equal(parse(buf, len), GW_PROXY_DONE);
	assert_int_equal(header.length, 16 + 12 + 9);
	assert_int_equal(header.local, 0);
	assert_endpoint(&header.source, header.source_len, AF_INET, "192.168.0.1", 56324);
	assert_endpoint(&header.destination, header.destination_len, AF_INET, "10.0.0.2", 443);
	assert_prefixes_need_more(buf, len);
}

/* 2001:db8::1:443 -> ::ffff:10.0.0.2:8443, then body_len - 36 bytes of TLVs. */
static size_t v2_tcp6_build(unsigned char *buf_ptr, size_t tlv_len)
{
	unsigned char body[36 + sizeof(tlvs)];

	memset(body, 0, sizeof(body));
	inet_pton(AF_INET6, "2001:db8::1", body);
	inet_pton(AF_INET6, "::ffff:10.0.0.2", body + 16);
	body[32] = 0x01;
	body[33] = 0xbb;
	body[34] = 0x20;
	body[35] = 0xfb;
	memcpy(body + 36, tlvs, tlv_len);
	return v2_build(buf_ptr, 0x21, 0x21, (unsigned)(36 + tlv_len), body, 36 + tlv_len);
}

static void test_v2_tcp6(void **state)
{
	unsigned char buf[128];

	(void)state;
	for (size_t tlv_len = 0; tlv_len <= sizeof(tlvs); tlv_len += sizeof(tlvs)) {
		size_t len = v2_tcp6_build(buf, tlv_len);

		assert_int_equal(len, 16 + 36 + tlv_len);
		assert_int_equal(parse(buf, len), GW_PROXY_DONE);
		assert_int_equal(header.version, 2);
		assert_int_equal(header.length, len);
		assert_int_equal(header.local, 0);
		assert_endpoint(&header.source, header.source_len, AF_INET6, "2001:db8::1", 443);
		assert_endpoint(&header.destination, header.destination_len, AF_INET6, "::ffff:10.0.0.2", 8443);
		assert_prefixes_need_more(buf, len);
	}
}

static void test_v2_length_excludes_request(void **state)
{
	const char *request_ptr = "GET / HTTP/1.1\r\n";
	unsigned char buf[128];
	size_t len = v2_tcp6_build(buf, sizeof(tlvs));

	(void)state;
	memcpy(buf + len, request_ptr, strlen(request_ptr));
	assert_int_equal(parse(buf, len + strlen(request_ptr)), GW_PROXY_DONE);
	assert_int_equal(header.length, len);
}

static void test_v2_local(void **state)
{
	unsigned char buf[64];
	size_t len = v2_build(buf, 0x20, 0x00, 0, NULL, 0);

	(void)state;
	assert_int_equal(parse(buf, len), GW_PROXY_DONE);
	assert_int_equal(header.version, 2);
	assert_int_equal(header.length, 16);
	assert_int_equal(header.local, 1);
	assert_prefixes_need_more(buf, len);
	/* LOCAL with addresses: they are ignored, their bytes consumed. */
	len = v2_build(buf, 0x20, 0x11, sizeof(tcp4_block), tcp4_block, sizeof(tcp4_block));
	assert_int_equal(parse(buf, len), GW_PROXY_DONE);
	assert_int_equal(header.length, 28);
	assert_int_equal(header.local, 1);
}

static void test_v2_unspec(void **state)
{
	unsigned char buf[64];
	size_t len = v2_build(buf, 0x21, 0x00, 0, NULL, 0);

	(void)state;
	assert_int_equal(parse(buf, len), GW_PROXY_DONE);
	assert_int_equal(header.length, 16);
	assert_int_equal(header.local, 1);
	len = v2_build(buf, 0x21, 0x00, sizeof(tlvs), tlvs, sizeof(tlvs));
	assert_int_equal(parse(buf, len), GW_PROXY_DONE);
	assert_int_equal(header.length, 16 + sizeof(tlvs));
	assert_int_equal(header.local, 1);
}

static void test_v2_unix(void **state)
{
	unsigned char body[216];
	unsigned char buf[300];
	size_t len;

	(void)state;
	memset(body, 0, sizeof(body));
	memcpy(body, "/run/client.sock", 16);
	memcpy(body + 108, "/run/vkgw.sock", 14);
	len = v2_build(buf, 0x21, 0x31, sizeof(body), body, sizeof(body));
	assert_int_equal(parse(buf, len), GW_PROXY_DONE);
	assert_int_equal(header.length, 16 + 216);
	assert_int_equal(header.local, 1);
	len = v2_build(buf, 0x21, 0x32, sizeof(body), body, sizeof(body));
	assert_int_equal(parse(buf, len), GW_PROXY_DONE);
	assert_int_equal(header.local, 1);
	/* The UNIX address block is 216 bytes, like the IP ones it is required. */
	len = v2_build(buf, 0x21, 0x31, 12, body, 12);
	assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
}

static void test_v2_bad_version(void **state)
{
	unsigned char buf[64];
	size_t len = v2_build(buf, 0x11, 0x11, sizeof(tcp4_block), tcp4_block, sizeof(tcp4_block));

	(void)state;
	assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
	assert_string_equal(why_ptr, "PROXY v2 header has a version other than 2");
	/* Refused at the byte itself. */
	assert_int_equal(parse(buf, 13), GW_PROXY_INVALID);
	buf[12] = 0x31;
	assert_int_equal(parse(buf, 13), GW_PROXY_INVALID);
}

static void test_v2_bad_command(void **state)
{
	unsigned char buf[64];
	size_t len = v2_build(buf, 0x22, 0x11, sizeof(tcp4_block), tcp4_block, sizeof(tcp4_block));

	(void)state;
	assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
	assert_string_equal(why_ptr, "PROXY v2 header has an unknown command");
	assert_int_equal(parse(buf, 13), GW_PROXY_INVALID);
	buf[12] = 0x2f;
	assert_int_equal(parse(buf, 13), GW_PROXY_INVALID);
}

static void test_v2_bad_family(void **state)
{
	static const unsigned char refused[] = {0x12, 0x22, 0x10, 0x01, 0x13, 0x20, 0x33, 0x41, 0xff};
	unsigned char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(refused); i++) {
		size_t len = v2_build(buf, 0x21, refused[i], sizeof(tcp4_block), tcp4_block, sizeof(tcp4_block));

		assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
		assert_string_equal(why_ptr, "PROXY v2 header has an unsupported family or transport");
		assert_int_equal(parse(buf, 14), GW_PROXY_INVALID);
	}
}

static void test_v2_address_block_short(void **state)
{
	unsigned char buf[128];
	size_t len = v2_build(buf, 0x21, 0x11, 8, tcp4_block, 8);

	(void)state;
	assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
	assert_string_equal(why_ptr, "PROXY v2 address block too short for its family");
	/* TCP6 with a TCP4-sized block. */
	len = v2_build(buf, 0x21, 0x21, sizeof(tcp4_block), tcp4_block, sizeof(tcp4_block));
	assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
	len = v2_build(buf, 0x21, 0x11, 0, NULL, 0);
	assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
}

static void test_v2_tlv_overrun(void **state)
{
	unsigned char body[sizeof(tcp4_block) + sizeof(tlvs)];
	unsigned char buf[64];
	size_t len;

	(void)state;
	memcpy(body, tcp4_block, sizeof(tcp4_block));
	memcpy(body + sizeof(tcp4_block), tlvs, sizeof(tlvs));
	/* The last TLV's value claims one byte more than there is. */
	body[sizeof(body) - 1] = 1;
	len = v2_build(buf, 0x21, 0x11, sizeof(body), body, sizeof(body));
	assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
	assert_string_equal(why_ptr, "PROXY v2 TLV runs past the end of the header");
	/* A TLV cut in its own type and length. */
	len = v2_build(buf, 0x21, 0x11, sizeof(tcp4_block) + 2, body, sizeof(tcp4_block) + 2);
	assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
	/* The first TLV claims 0xff03 bytes. */
	memcpy(body + sizeof(tcp4_block), tlvs, sizeof(tlvs));
	body[sizeof(tcp4_block) + 1] = 0xff;
	len = v2_build(buf, 0x21, 0x11, sizeof(body), body, sizeof(body));
	assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
}

static void test_v2_header_max(void **state)
{
	unsigned char body[GW_PROXY_HEADER_MAX];
	unsigned char buf[GW_PROXY_HEADER_MAX + 16];
	unsigned body_len = GW_PROXY_HEADER_MAX - 16;
	unsigned tlv_len = body_len - sizeof(tcp4_block) - 3;
	size_t len;

	(void)state;
	/* Exactly GW_PROXY_HEADER_MAX: one TLV fills the rest. */
	memset(body, 0x5a, sizeof(body));
	memcpy(body, tcp4_block, sizeof(tcp4_block));
	body[12] = 0xee;
	body[13] = (unsigned char)(tlv_len >> 8);
	body[14] = (unsigned char)tlv_len;
	len = v2_build(buf, 0x21, 0x11, body_len, body, body_len);
	assert_int_equal(len, GW_PROXY_HEADER_MAX);
	assert_int_equal(parse(buf, 16), GW_PROXY_NEED_MORE);
	assert_int_equal(parse(buf, len), GW_PROXY_DONE);
	assert_int_equal(header.length, GW_PROXY_HEADER_MAX);
	/* One more byte is refused as soon as the length field is in. */
	body_len++;
	tlv_len++;
	body[13] = (unsigned char)(tlv_len >> 8);
	body[14] = (unsigned char)tlv_len;
	len = v2_build(buf, 0x21, 0x11, body_len, body, body_len);
	assert_int_equal(parse(buf, 16), GW_PROXY_INVALID);
	assert_string_equal(why_ptr, "PROXY v2 header is too long");
	assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
	buf[14] = 0xff;
	buf[15] = 0xff;
	assert_int_equal(parse(buf, 16), GW_PROXY_INVALID);
}

static void test_v2_bad_signature(void **state)
{
	unsigned char buf[64];
	size_t len = v2_build(buf, 0x21, 0x11, sizeof(tcp4_block), tcp4_block, sizeof(tcp4_block));

	(void)state;
	for (size_t i = 0; i < sizeof(v2_signature); i++) {
		buf[i] ^= 0x20;
		assert_int_equal(parse(buf, len), GW_PROXY_INVALID);
		assert_int_equal(parse(buf, i + 1), GW_PROXY_INVALID);
		buf[i] ^= 0x20;
	}
	assert_int_equal(parse(buf, len), GW_PROXY_DONE);
}

/* The header is written only when done. */
static void test_out_untouched_unless_done(void **state)
{
	struct gw_proxy_header out;
	const char *reason_ptr = "unset";

	(void)state;
	memset(&out, 0xab, sizeof(out));
	assert_int_equal(gw_proxy_parse("PROXY TCP4 1.2", 14, &out, &reason_ptr), GW_PROXY_NEED_MORE);
	assert_int_equal(gw_proxy_parse("PROXY TCP4 1.2 ", 15, &out, &reason_ptr), GW_PROXY_INVALID);
	assert_int_equal(out.length, (size_t)0xabababababababab);
	assert_int_equal(gw_proxy_parse(V1_TCP4, strlen(V1_TCP4), &out, NULL), GW_PROXY_DONE);
	assert_int_equal(out.length, strlen(V1_TCP4));
	assert_int_equal(gw_proxy_parse("x", 1, &out, NULL), GW_PROXY_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_tcp4),
		cmocka_unit_test(test_v1_tcp6),
		cmocka_unit_test(test_v1_unknown),
		cmocka_unit_test(test_v1_longest_line),
		cmocka_unit_test(test_v1_no_crlf_within_max),
		cmocka_unit_test(test_v1_prefixes),
		cmocka_unit_test(test_v1_length_excludes_request),
		cmocka_unit_test(test_http_request_invalid_at_once),
		cmocka_unit_test(test_v1_lowercase),
		cmocka_unit_test(test_v1_double_spaces),
		cmocka_unit_test(test_v1_field_count),
		cmocka_unit_test(test_v1_bad_family),
		cmocka_unit_test(test_v1_address_family_mismatch),
		cmocka_unit_test(test_v1_bad_address),
		cmocka_unit_test(test_v1_bad_port),
		cmocka_unit_test(test_v1_line_ends),
		cmocka_unit_test(test_v2_tcp4),
		cmocka_unit_test(test_v2_tcp4_tlvs),
		cmocka_unit_test(test_v2_tcp6),
		cmocka_unit_test(test_v2_length_excludes_request),
		cmocka_unit_test(test_v2_local),
		cmocka_unit_test(test_v2_unspec),
		cmocka_unit_test(test_v2_unix),
		cmocka_unit_test(test_v2_bad_version),
		cmocka_unit_test(test_v2_bad_command),
		cmocka_unit_test(test_v2_bad_family),
		cmocka_unit_test(test_v2_address_block_short),
		cmocka_unit_test(test_v2_tlv_overrun),
		cmocka_unit_test(test_v2_header_max),
		cmocka_unit_test(test_v2_bad_signature),
		cmocka_unit_test(test_out_untouched_unless_done),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
