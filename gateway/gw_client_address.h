#ifndef GW_CLIENT_ADDRESS_H
#define GW_CLIENT_ADDRESS_H

/* gw_client_address: the client's address for policies that key on it (the
 * geo filter): the TCP peer, or an address from X-Forwarded-For or Forwarded
 * (RFC 7239) when the peer is a proxy the configuration trusts.
 *
 * The contract of gw_client_address_pick():
 *
 * - from PEER: the peer.
 * - Otherwise, when trusted_count > 0 and the peer is in none of the trusted
 *   prefixes: the peer. A header from an untrusted client is whatever it
 *   chose to send, so it is ignored, never parsed.
 * - trusted_count == 0 and trusted_hops == 0: the peer (nothing is trusted;
 *   the configuration refuses this combination anyway).
 * - The header's entries are read right to left: the rightmost was appended
 *   by the nearest proxy. Every field line is one part of a single list, in
 *   the order received, so the last line's last entry is the rightmost.
 * - trusted_hops N > 0 (Envoy's xff_num_trusted_hops): the Nth entry from
 *   the right is the client; with one trusted proxy in front, N = 1 picks
 *   the rightmost entry, the address that proxy saw. Fewer than N entries:
 *   the peer (as Envoy does). The picked entry not an address: UNUSABLE.
 *   With trusted prefixes as well, the peer must be in them first.
 * - trusted_hops 0 with trusted prefixes (nginx's real_ip_recursive): from
 *   the right, entries that are addresses inside the trusted prefixes are
 *   skipped; the first address outside them is the client. An entry that is
 *   not an address stops the walk: UNUSABLE. Every entry trusted: the
 *   leftmost one. No entries at all (count 0): the peer.
 * - trusted_hops outside 0..GW_CLIENT_MAX_HOPS: UNUSABLE (a caller's error;
 *   failing to "unknown" is safer than guessing).
 *
 * X-Forwarded-For: entries separated by ',', each with optional SP/HTAB
 * around it: IPv4, IPv6, "[IPv6]", "[IPv6]:port" or "IPv4:port", a port
 * being 1 to 5 digits up to 65535. An empty entry (",," or an empty line)
 * is an entry that is not an address: RFC 9110 would have a recipient skip
 * it, but then an empty entry a client sent could move which entry is the
 * Nth, so here it counts, and being no address, it is never trusted.
 *
 * Forwarded (RFC 7239 section 4): elements separated by ',', pairs within
 * an element by ';', SP/HTAB allowed around elements and pairs but not
 * around '='; a value is a token or a quoted-string (backslash escapes;
 * ',' and ';' inside quotes do not split). The `for` pair (name matched
 * case-insensitively) names the node (section 6): IPv4 or "[IPv6]" (to be
 * quoted by the RFC; accepted unquoted too), either with an optional
 * ":port" (digits) or an obfuscated port (":_abc"). A bare IPv6 (no
 * brackets) is not an address: "::1:80" could be an address with a port or
 * without one. "unknown" and obfuscated identifiers ("_hidden") are not
 * addresses; neither is an element without a `for` pair, with two of them,
 * or with any malformed pair (an unterminated quote, a pair without '=', an
 * empty value). An unterminated quote runs to the end of its line, so it
 * ends the line's last element.
 *
 * Bounded work: at most GW_CLIENT_MAX_ENTRIES entries are walked from the
 * right; an entry past them counts as one that is not an address. A `for`
 * value over 255 bytes is not an address. The values are not NUL-terminated
 * and never read past their lengths; nothing is allocated.
 *
 * An IPv4-mapped IPv6 entry ("::ffff:1.2.3.4") equals the IPv4 form, as does
 * a peer that reached a dual-stack socket. */

#include <stddef.h>

#include "gw_cidr.h"

#define GW_CLIENT_MAX_HOPS 16
#define GW_CLIENT_MAX_ENTRIES 64

enum gw_client_from { GW_CLIENT_FROM_PEER, GW_CLIENT_FROM_X_FORWARDED_FOR, GW_CLIENT_FROM_FORWARDED };

struct gw_client_rule {
	enum gw_client_from from;
	int trusted_hops;		   /* 0..GW_CLIENT_MAX_HOPS */
	const struct gw_cidr *trusted_ptr; /* trusted proxy prefixes; may be NULL with count 0 */
	int trusted_count;
};

enum gw_client_source { GW_CLIENT_PEER, GW_CLIENT_HEADER, GW_CLIENT_UNUSABLE };

/* values: the header's field values in the order received (every
 * X-Forwarded-For line, or every Forwarded line, as one list: the last
 * line's last entry is the rightmost); values[i] holds lens[i] bytes.
 * Returns where *out_ptr came from: the peer, the header, or UNUSABLE when
 * the entry the rule picks is not an address (then *out_ptr is untouched
 * and the caller treats the client as unknown). */
enum gw_client_source gw_client_address_pick(const struct gw_client_rule *rule_ptr, const struct gw_ip *peer_ptr,
					     const char *const *values, const size_t *lens, int count,
					     struct gw_ip *out_ptr);

#endif
