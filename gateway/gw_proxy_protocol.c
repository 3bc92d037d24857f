/* gw_proxy_protocol: the PROXY protocol header, versions 1 and 2 (HAProxy's
 * proxy-protocol.txt).
 *
 *   v1: "PROXY" SP "UNKNOWN" [ SP *any ] CRLF
 *     | "PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP srcport SP dstport CRLF
 *   v2: 12-byte signature, version and command, family and transport,
 *       16-bit length, then the address block and TLVs in that length.
 *
 * Both are checked as far as the bytes go, so a connection that speaks
 * something else is refused at its first wrong byte instead of being waited
 * on until a timeout. */
#include "gw_proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#define V1_PREFIX "PROXY "
#define V1_PREFIX_LEN 6
#define V1_PORT_MAX 65535

#define V2_SIGNATURE "\r\n\r\n\0\r\nQUIT\n"
#define V2_SIGNATURE_LEN 12
#define V2_FIXED_LEN 16 /* signature, version and command, family, length */
#define V2_VERSION 2
#define V2_CMD_LOCAL 0
#define V2_CMD_PROXY 1
#define V2_FAMILY_TCP4 0x11
#define V2_FAMILY_TCP6 0x21
#define V2_TLV_HEAD_LEN 3 /* type, 16-bit length */

/* How far a v1 line has arrived. */
enum {
	LINE_INVALID = -1,
	LINE_PARTIAL,  /* no CR yet: the text goes on */
	LINE_NEEDS_LF, /* the text ends at a CR that is the last byte */
	LINE_WHOLE,    /* text, CR, LF */
};

/* How a v1 field ended. */
enum {
	FIELD_SP,  /* at a space: more fields follow */
	FIELD_EOL, /* at the end of a line that has ended */
	FIELD_CUT, /* at the end of the bytes so far: the field may go on */
};

/* Reads the text of a v1 line field by field. */
struct v1_cursor {
	const char *text_ptr;
	size_t len; /* bytes of text before CR, or all of them when no CR yet */
	size_t pos;
	int ended; /* a CR follows the text */
};

static enum gw_proxy_result fail(const char **why_ptr, const char *reason_ptr)
{
	if (why_ptr)
		*why_ptr = reason_ptr;
	return GW_PROXY_INVALID;
}

/* The first len bytes of buf agree with expect as far as both go. */
static int matches_start(const char *buf_ptr, size_t len, const char *expect_ptr, size_t expect_len)
{
	return memcmp(buf_ptr, expect_ptr, len < expect_len ? len : expect_len) == 0;
}

static int line_invalid(const char **why_ptr, const char *reason_ptr)
{
	fail(why_ptr, reason_ptr);
	return LINE_INVALID;
}

static int is_word(const char *field_ptr, size_t len, const char *word_ptr)
{
	return len == strlen(word_ptr) && memcmp(field_ptr, word_ptr, len) == 0;
}

static int is_prefix(const char *field_ptr, size_t len, const char *word_ptr)
{
	return len <= strlen(word_ptr) && memcmp(field_ptr, word_ptr, len) == 0;
}

/* Finds the CRLF ending the line within GW_PROXY_V1_MAX bytes; *text_len_ptr
 * is the text before it, or all the bytes while there is no CR yet. */
static int v1_find_end(const char *buf_ptr, size_t len, size_t *text_len_ptr, const char **why_ptr)
{
	/* The CR may be at most the second-to-last byte of the longest line. */
	size_t limit = len < GW_PROXY_V1_MAX - 1 ? len : GW_PROXY_V1_MAX - 1;

	for (size_t i = 0; i < limit; i++) {
		if (buf_ptr[i] == '\n')
			return line_invalid(why_ptr, "PROXY v1 line has LF without CR");
		if (buf_ptr[i] != '\r')
			continue;
		*text_len_ptr = i;
		if (i + 1 == len)
			return LINE_NEEDS_LF;
		if (buf_ptr[i + 1] != '\n')
			return line_invalid(why_ptr, "PROXY v1 line has CR without LF");
		return LINE_WHOLE;
	}
	if (len >= GW_PROXY_V1_MAX)
		return line_invalid(why_ptr, "PROXY v1 line has no CRLF within 107 bytes");
	*text_len_ptr = len;
	return LINE_PARTIAL;
}

static int next_field(struct v1_cursor *cursor_ptr, const char **field_ptr, size_t *field_len_ptr)
{
	const char *start_ptr = cursor_ptr->text_ptr + cursor_ptr->pos;
	size_t left = cursor_ptr->len - cursor_ptr->pos;
	const char *space_ptr = memchr(start_ptr, ' ', left);

	*field_ptr = start_ptr;
	if (space_ptr) {
		*field_len_ptr = (size_t)(space_ptr - start_ptr);
		cursor_ptr->pos += *field_len_ptr + 1;
		return FIELD_SP;
	}
	*field_len_ptr = left;
	cursor_ptr->pos = cursor_ptr->len;
	return cursor_ptr->ended ? FIELD_EOL : FIELD_CUT;
}

/* Characters an address of the family may contain: a cut field made of
 * these may still become a valid address. */
static int address_char(int family, char c)
{
	if ((c >= '0' && c <= '9') || c == '.')
		return 1;
	if (family == AF_INET)
		return 0;
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':';
}

/* Returns NULL when the field is a valid address (or, cut, may become one),
 * else why not. Whole addresses are stored in *addr_ptr. */
static const char *v1_address(int family, const char *field_ptr, size_t len, int cut, struct sockaddr_storage *addr_ptr,
			      socklen_t *addr_len_ptr)
{
	size_t max = family == AF_INET ? INET_ADDRSTRLEN - 1 : INET6_ADDRSTRLEN - 1;
	char text[INET6_ADDRSTRLEN];
	struct sockaddr_in *in_ptr = (struct sockaddr_in *)addr_ptr;
	struct sockaddr_in6 *in6_ptr = (struct sockaddr_in6 *)addr_ptr;
	int ok;

	if (len > max)
		return "PROXY v1 address too long";
	for (size_t i = 0; i < len; i++)
		if (!address_char(family, field_ptr[i]))
			return family == AF_INET ? "PROXY v1 TCP4 address is not IPv4"
						 : "PROXY v1 TCP6 address is not IPv6";
	if (cut)
		return NULL;
	memcpy(text, field_ptr, len);
	text[len] = '\0';
	if (family == AF_INET) {
		in_ptr->sin_family = AF_INET;
		ok = inet_pton(AF_INET, text, &in_ptr->sin_addr) == 1;
		*addr_len_ptr = sizeof(*in_ptr);
	} else {
		in6_ptr->sin6_family = AF_INET6;
		ok = inet_pton(AF_INET6, text, &in6_ptr->sin6_addr) == 1;
		*addr_len_ptr = sizeof(*in6_ptr);
	}
	return ok ? NULL : "PROXY v1 address is malformed";
}

/* A port as decimal 0..65535 without sign or leading zeros; a cut field is
 * checked as far as it goes. */
static const char *v1_port(const char *field_ptr, size_t len, unsigned *port_ptr)
{
	unsigned value = 0;

	if (len > 1 && field_ptr[0] == '0')
		return "PROXY v1 port has a leading zero";
	for (size_t i = 0; i < len; i++) {
		if (field_ptr[i] < '0' || field_ptr[i] > '9')
			return "PROXY v1 port is not a decimal number";
		value = value * 10 + (unsigned)(field_ptr[i] - '0');
		if (value > V1_PORT_MAX)
			return "PROXY v1 port above 65535";
	}
	*port_ptr = value;
	return NULL;
}

static void set_port(struct sockaddr_storage *addr_ptr, unsigned port)
{
	if (addr_ptr->ss_family == AF_INET)
		((struct sockaddr_in *)addr_ptr)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)addr_ptr)->sin6_port = htons((uint16_t)port);
}

/* Field index (0: source, 1: destination, 2: source port, 3: destination
 * port) checked and stored in *header_ptr. */
static const char *v1_field(int index, int family, const char *field_ptr, size_t len, int cut,
			    struct gw_proxy_header *header_ptr)
{
	unsigned port;
	const char *reason_ptr;

	if (index == 0)
		return v1_address(family, field_ptr, len, cut, &header_ptr->source, &header_ptr->source_len);
	if (index == 1)
		return v1_address(family, field_ptr, len, cut, &header_ptr->destination, &header_ptr->destination_len);
	reason_ptr = v1_port(field_ptr, len, &port);
	if (!reason_ptr && !cut)
		set_port(index == 2 ? &header_ptr->source : &header_ptr->destination, port);
	return reason_ptr;
}

/* The four fields after TCP4 or TCP6: each but the last ends in one space. */
static enum gw_proxy_result v1_endpoints(struct v1_cursor *cursor_ptr, int family, struct gw_proxy_header *header_ptr,
					 const char **why_ptr)
{
	const char *field_ptr;
	const char *reason_ptr;
	size_t len;

	for (int index = 0; index < 4; index++) {
		int end = next_field(cursor_ptr, &field_ptr, &len);

		if (len == 0 && end != FIELD_CUT)
			return fail(why_ptr, "PROXY v1 line has an empty field");
		reason_ptr = v1_field(index, family, field_ptr, len, end == FIELD_CUT, header_ptr);
		if (reason_ptr)
			return fail(why_ptr, reason_ptr);
		if (end == FIELD_CUT)
			return GW_PROXY_NEED_MORE;
		if (end == FIELD_EOL && index < 3)
			return fail(why_ptr, "PROXY v1 line has too few fields");
		if (end == FIELD_SP && index == 3)
			return fail(why_ptr, "PROXY v1 line has too many fields");
	}
	return GW_PROXY_DONE;
}

/* The protocol field, then what it calls for. */
static enum gw_proxy_result v1_protocol(struct v1_cursor *cursor_ptr, struct gw_proxy_header *header_ptr,
					const char **why_ptr)
{
	const char *field_ptr;
	size_t len;
	int end = next_field(cursor_ptr, &field_ptr, &len);

	if (end == FIELD_CUT) {
		if (is_prefix(field_ptr, len, "TCP4") || is_prefix(field_ptr, len, "TCP6") ||
		    is_prefix(field_ptr, len, "UNKNOWN"))
			return GW_PROXY_NEED_MORE;
		return fail(why_ptr, "PROXY v1 line has an unknown protocol");
	}
	/* The spec has the receiver ignore whatever follows UNKNOWN. */
	if (is_word(field_ptr, len, "UNKNOWN")) {
		header_ptr->local = 1;
		return GW_PROXY_DONE;
	}
	if (!is_word(field_ptr, len, "TCP4") && !is_word(field_ptr, len, "TCP6"))
		return fail(why_ptr, "PROXY v1 line has an unknown protocol");
	if (end == FIELD_EOL)
		return fail(why_ptr, "PROXY v1 line has too few fields");
	return v1_endpoints(cursor_ptr, field_ptr[3] == '4' ? AF_INET : AF_INET6, header_ptr, why_ptr);
}

/* buf starts with "PROXY " and has more bytes. */
static enum gw_proxy_result parse_v1(const char *buf_ptr, size_t len, struct gw_proxy_header *header_ptr,
				     const char **why_ptr)
{
	struct v1_cursor cursor = {.text_ptr = buf_ptr, .pos = V1_PREFIX_LEN};
	int line = v1_find_end(buf_ptr, len, &cursor.len, why_ptr);
	enum gw_proxy_result result;

	if (line == LINE_INVALID)
		return GW_PROXY_INVALID;
	cursor.ended = line != LINE_PARTIAL;
	result = v1_protocol(&cursor, header_ptr, why_ptr);
	/* A valid text still needs its CRLF, all of it, to be done. */
	if (result != GW_PROXY_DONE)
		return result;
	if (line != LINE_WHOLE)
		return GW_PROXY_NEED_MORE;
	header_ptr->version = 1;
	header_ptr->length = cursor.len + 2;
	return GW_PROXY_DONE;
}

/* Address block size for a v2 family and transport byte, or -1 for one that
 * is refused (UDP, or not in the spec). */
static int v2_address_len(unsigned char family)
{
	switch (family) {
	case 0x00: /* UNSPEC */
		return 0;
	case V2_FAMILY_TCP4:
		return 12;
	case V2_FAMILY_TCP6:
		return 36;
	case 0x31: /* UNIX stream */
	case 0x32: /* UNIX datagram */
		return 216;
	default:
		return -1;
	}
}

/* The TLVs fill len bytes exactly: none runs past the end. */
static int v2_tlvs_tile(const unsigned char *tlv_ptr, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		size_t value_len;

		if (len - pos < V2_TLV_HEAD_LEN)
			return 0;
		value_len = (size_t)tlv_ptr[pos + 1] << 8 | tlv_ptr[pos + 2];
		pos += V2_TLV_HEAD_LEN;
		if (value_len > len - pos)
			return 0;
		pos += value_len;
	}
	return 1;
}

/* Addresses and ports are in network order on the wire as in a sockaddr;
 * copied bytewise, since the block need not be aligned. */
static void v2_tcp4(const unsigned char *block_ptr, struct gw_proxy_header *header_ptr)
{
	struct sockaddr_in *src_ptr = (struct sockaddr_in *)&header_ptr->source;
	struct sockaddr_in *dst_ptr = (struct sockaddr_in *)&header_ptr->destination;

	src_ptr->sin_family = AF_INET;
	dst_ptr->sin_family = AF_INET;
	memcpy(&src_ptr->sin_addr, block_ptr, 4);
	memcpy(&dst_ptr->sin_addr, block_ptr + 4, 4);
	memcpy(&src_ptr->sin_port, block_ptr + 8, 2);
	memcpy(&dst_ptr->sin_port, block_ptr + 10, 2);
	header_ptr->source_len = sizeof(*src_ptr);
	header_ptr->destination_len = sizeof(*dst_ptr);
}

static void v2_tcp6(const unsigned char *block_ptr, struct gw_proxy_header *header_ptr)
{
	struct sockaddr_in6 *src_ptr = (struct sockaddr_in6 *)&header_ptr->source;
	struct sockaddr_in6 *dst_ptr = (struct sockaddr_in6 *)&header_ptr->destination;

	src_ptr->sin6_family = AF_INET6;
	dst_ptr->sin6_family = AF_INET6;
	memcpy(&src_ptr->sin6_addr, block_ptr, 16);
	memcpy(&dst_ptr->sin6_addr, block_ptr + 16, 16);
	memcpy(&src_ptr->sin6_port, block_ptr + 32, 2);
	memcpy(&dst_ptr->sin6_port, block_ptr + 34, 2);
	header_ptr->source_len = sizeof(*src_ptr);
	header_ptr->destination_len = sizeof(*dst_ptr);
}

/* The fixed part, checked byte by byte as it arrives. */
static enum gw_proxy_result v2_fixed(const unsigned char *buf_ptr, size_t len, size_t *total_ptr, const char **why_ptr)
{
	size_t body_len;

	if (len > 12 && buf_ptr[12] >> 4 != V2_VERSION)
		return fail(why_ptr, "PROXY v2 header has a version other than 2");
	if (len > 12 && (buf_ptr[12] & 0x0f) > V2_CMD_PROXY)
		return fail(why_ptr, "PROXY v2 header has an unknown command");
	if (len > 13 && v2_address_len(buf_ptr[13]) < 0)
		return fail(why_ptr, "PROXY v2 header has an unsupported family or transport");
	if (len < V2_FIXED_LEN)
		return GW_PROXY_NEED_MORE;
	body_len = (size_t)buf_ptr[14] << 8 | buf_ptr[15];
	*total_ptr = V2_FIXED_LEN + body_len;
	if (*total_ptr > GW_PROXY_HEADER_MAX)
		return fail(why_ptr, "PROXY v2 header is too long");
	return len < *total_ptr ? GW_PROXY_NEED_MORE : GW_PROXY_DONE;
}

/* buf starts with (a prefix of) the v2 signature. */
static enum gw_proxy_result parse_v2(const unsigned char *buf_ptr, size_t len, struct gw_proxy_header *header_ptr,
				     const char **why_ptr)
{
	size_t total = 0;
	enum gw_proxy_result result = v2_fixed(buf_ptr, len, &total, why_ptr);
	size_t address_len;

	if (result != GW_PROXY_DONE)
		return result;
	header_ptr->version = 2;
	header_ptr->length = total;
	/* LOCAL: the spec has the receiver discard the block, family and all. */
	if ((buf_ptr[12] & 0x0f) == V2_CMD_LOCAL) {
		header_ptr->local = 1;
		return GW_PROXY_DONE;
	}
	address_len = (size_t)v2_address_len(buf_ptr[13]);
	if (total - V2_FIXED_LEN < address_len)
		return fail(why_ptr, "PROXY v2 address block too short for its family");
	if (!v2_tlvs_tile(buf_ptr + V2_FIXED_LEN + address_len, total - V2_FIXED_LEN - address_len))
		return fail(why_ptr, "PROXY v2 TLV runs past the end of the header");
	if (buf_ptr[13] == V2_FAMILY_TCP4)
		v2_tcp4(buf_ptr + V2_FIXED_LEN, header_ptr);
	else if (buf_ptr[13] == V2_FAMILY_TCP6)
		v2_tcp6(buf_ptr + V2_FIXED_LEN, header_ptr);
	else
		header_ptr->local = 1;
	return GW_PROXY_DONE;
}

enum gw_proxy_result gw_proxy_parse(const char *buf, size_t len, struct gw_proxy_header *out_ptr, const char **why_ptr)
{
	struct gw_proxy_header header;
	enum gw_proxy_result result;

	if (len == 0)
		return GW_PROXY_NEED_MORE;
	memset(&header, 0, sizeof(header));
	if (matches_start(buf, len, V1_PREFIX, V1_PREFIX_LEN))
		result = len <= V1_PREFIX_LEN ? GW_PROXY_NEED_MORE : parse_v1(buf, len, &header, why_ptr);
	else if (matches_start(buf, len, V2_SIGNATURE, V2_SIGNATURE_LEN))
		result = parse_v2((const unsigned char *)buf, len, &header, why_ptr);
	else
		return fail(why_ptr, "not a PROXY protocol header");
	if (result == GW_PROXY_DONE)
		*out_ptr = header;
	return result;
}
