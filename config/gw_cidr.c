/* gw_cidr: addresses and CIDR prefixes in one 16-byte form (see gw_cidr.h).
 *
 * Address text goes through glibc's inet_pton(), which takes exactly the
 * dotted quad (no leading zeros, no shorthand like "10.1") and the RFC 4291
 * IPv6 forms; this file only adds the length bound, the family choice and
 * the prefix length. */
#include "gw_cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void ip_from_v4(const uint8_t v4[4], struct gw_ip *out_ptr)
{
	memcpy(out_ptr->bytes, v4_mapped_prefix, sizeof(v4_mapped_prefix));
	memcpy(out_ptr->bytes + 12, v4, 4);
}

int gw_ip_is_v4(const struct gw_ip *ip_ptr)
{
	return memcmp(ip_ptr->bytes, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

int gw_ip_parse(const char *text, size_t len, struct gw_ip *out_ptr)
{
	/* The longest literal, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	 * is 45 bytes: inet_pton() needs a terminated copy. */
	char buf[INET6_ADDRSTRLEN];
	uint8_t v4[4];
	struct in6_addr v6;

	if (len == 0 || len >= sizeof(buf) || memchr(text, '\0', len))
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (memchr(buf, ':', len)) {
		if (inet_pton(AF_INET6, buf, &v6) != 1)
			return -1;
		memcpy(out_ptr->bytes, v6.s6_addr, 16);
		return 0;
	}
	if (inet_pton(AF_INET, buf, v4) != 1)
		return -1;
	ip_from_v4(v4, out_ptr);
	return 0;
}

int gw_ip_from_sockaddr(const struct sockaddr *sa_ptr, struct gw_ip *out_ptr)
{
	const struct sockaddr_in *in4_ptr;
	const struct sockaddr_in6 *in6_ptr;

	if (!sa_ptr)
		return -1;
	if (sa_ptr->sa_family == AF_INET) {
		in4_ptr = (const struct sockaddr_in *)sa_ptr;
		ip_from_v4((const uint8_t *)&in4_ptr->sin_addr.s_addr, out_ptr);
		return 0;
	}
	if (sa_ptr->sa_family == AF_INET6) {
		in6_ptr = (const struct sockaddr_in6 *)sa_ptr;
		memcpy(out_ptr->bytes, in6_ptr->sin6_addr.s6_addr, 16);
		return 0;
	}
	return -1;
}

void gw_ip_format(const struct gw_ip *ip_ptr, char *buf, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	const uint8_t *bytes_ptr = ip_ptr->bytes;

	if (len == 0)
		return;
	if (gw_ip_is_v4(ip_ptr))
		snprintf(text, sizeof(text), "%u.%u.%u.%u", bytes_ptr[12], bytes_ptr[13], bytes_ptr[14], bytes_ptr[15]);
	else if (!inet_ntop(AF_INET6, bytes_ptr, text, sizeof(text)))
		text[0] = '\0';
	/* Half an address would read as another one: all or nothing. */
	if (strlen(text) >= len)
		text[0] = '\0';
	memcpy(buf, text, strlen(text) + 1);
}

/* Decimal digits without a sign or leading zeros, at most `max`; -1 if not. */
static int parse_prefix_length(const char *text, int max)
{
	int value = 0;

	if (text[0] == '\0' || (text[0] == '0' && text[1] != '\0'))
		return -1;
	for (size_t i = 0; text[i]; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		value = value * 10 + (text[i] - '0');
		if (value > max)
			return -1;
	}
	return value;
}

/* Whether every bit of the address past the first `bits` is zero. */
static int host_bits_clear(const struct gw_ip *ip_ptr, int bits)
{
	for (int i = bits / 8; i < 16; i++) {
		uint8_t host_mask = i == bits / 8 ? (uint8_t)(0xff >> (bits % 8)) : 0xff;
		if (ip_ptr->bytes[i] & host_mask)
			return 0;
	}
	return 1;
}

static int refuse(const char **why_ptr, const char *why)
{
	if (why_ptr)
		*why_ptr = why;
	return -1;
}

int gw_cidr_parse(const char *text, struct gw_cidr *out_ptr, const char **why_ptr)
{
	const char *slash_ptr;
	size_t address_len;
	struct gw_ip base;
	int is_v4, length;

	if (!text || text[0] == '\0')
		return refuse(why_ptr, "empty");
	slash_ptr = strchr(text, '/');
	address_len = slash_ptr ? (size_t)(slash_ptr - text) : strlen(text);
	if (gw_ip_parse(text, address_len, &base) < 0)
		return refuse(why_ptr, "not an IPv4 or IPv6 address");
	/* The family is the one written: "::ffff:10.0.0.0/104" is IPv6 text,
	 * its length counts over 128 bits. */
	is_v4 = memchr(text, ':', address_len) == NULL;
	length = is_v4 ? 32 : 128;
	if (slash_ptr) {
		length = parse_prefix_length(slash_ptr + 1, is_v4 ? 32 : 128);
		if (length < 0)
			return refuse(why_ptr, is_v4 ? "prefix length must be 0 to 32, digits without leading zeros"
						     : "prefix length must be 0 to 128, digits without leading zeros");
	}
	if (is_v4)
		length += 96;
	if (!host_bits_clear(&base, length))
		return refuse(why_ptr, "address has bits set past the prefix length; give the network's first address");
	out_ptr->base = base;
	out_ptr->bits = (uint8_t)length;
	return 0;
}

int gw_cidr_contains(const struct gw_cidr *cidr_ptr, const struct gw_ip *ip_ptr)
{
	int whole = cidr_ptr->bits / 8, rest = cidr_ptr->bits % 8;
	uint8_t mask;

	if (cidr_ptr->bits > 128)
		return 0;
	if (memcmp(cidr_ptr->base.bytes, ip_ptr->bytes, (size_t)whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return ((cidr_ptr->base.bytes[whole] ^ ip_ptr->bytes[whole]) & mask) == 0;
}

int gw_cidr_list_contains(const struct gw_cidr *list_ptr, int count, const struct gw_ip *ip_ptr)
{
	if (!list_ptr)
		return 0;
	for (int i = 0; i < count; i++) {
		if (gw_cidr_contains(&list_ptr[i], ip_ptr))
			return 1;
	}
	return 0;
}
