#ifndef GW_CIDR_H
#define GW_CIDR_H

/* gw_cidr: addresses and CIDR prefixes in one 16-byte form.
 *
 * IPv4 is kept as the IPv4-mapped IPv6 address (::ffff:a.b.c.d), so one
 * comparison serves both families and an IPv4 peer that reaches a dual-stack
 * socket as ::ffff:a.b.c.d equals the same address written as a.b.c.d. A
 * consequence: an IPv6 prefix that covers ::ffff:0:0/96 (::/0 does) also
 * holds every IPv4 address. */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address in 16 bytes: IPv6 as is, IPv4 as the IPv4-mapped IPv6 address ::ffff:a.b.c.d. */
struct gw_ip {
	uint8_t bytes[16];
};

struct gw_cidr {
	struct gw_ip base;
	uint8_t bits; /* prefix length over the 128-bit form: an IPv4 /n is 96 + n */
};

/* "a.b.c.d/n" (n 0..32), "a.b.c.d" (/32), "IPV6/n" (n 0..128), "IPV6"
 * (/128). The length is decimal digits without leading zeros ("0" itself is
 * fine); IPv4 is a dotted quad without leading zeros. A base with bits set
 * past the prefix ("10.0.0.1/8") is refused: it is most likely a typo for a
 * host or for another network. Returns 0, or -1 with *why_ptr (when not
 * NULL) a short static reason. */
int gw_cidr_parse(const char *text, struct gw_cidr *out_ptr, const char **why_ptr);
int gw_cidr_contains(const struct gw_cidr *cidr_ptr, const struct gw_ip *ip_ptr);
/* Whether any of list_ptr[0..count) holds the address; 0 for an empty list. */
int gw_cidr_list_contains(const struct gw_cidr *list_ptr, int count, const struct gw_ip *ip_ptr);

/* From a sockaddr_in / sockaddr_in6 (an IPv4-mapped IPv6 stays mapped, so it
 * equals the IPv4 form). 0, or -1 for other families. */
int gw_ip_from_sockaddr(const struct sockaddr *sa_ptr, struct gw_ip *out_ptr);
/* Parses an address literal of exactly len bytes (not NUL-terminated): an
 * IPv4 dotted quad, or IPv6 when it holds a ':'. No brackets, port or zone
 * ("%eth0"). 0, or -1. */
int gw_ip_parse(const char *text, size_t len, struct gw_ip *out_ptr);
int gw_ip_is_v4(const struct gw_ip *ip_ptr);
/* Text form into buf (IPv4 and IPv4-mapped as a.b.c.d); INET6_ADDRSTRLEN
 * bytes suffice. A smaller buffer that cannot hold it gets "". */
void gw_ip_format(const struct gw_ip *ip_ptr, char *buf, size_t len);

#endif
