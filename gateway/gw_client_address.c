/* gw_client_address: the client's address from the peer or a forwarding
 * header (see gw_client_address.h for the contract).
 *
 * Each header line is split into entries left to right (a quoted-string in
 * Forwarded can hold a comma, and only a forward scan knows where one
 * starts), keeping the rightmost ones: lines are taken from the last one
 * back, until enough entries are known. The rule then reads them from the
 * right. Nothing is allocated: the entries are spans into the values. */
#include "gw_client_address.h"

#include <string.h>

/* One more slot than the walk may use, to know that an entry lies past it. */
#define ENTRY_SLOTS (GW_CLIENT_MAX_ENTRIES + 1)
/* Room for an unescaped `for` value: an address with any sane port. */
#define FOR_VALUE_MAX 256

struct span {
	const char *text;
	size_t len;
};

/* The rightmost entries of the header, items[0] being the rightmost. */
struct entries {
	struct span items[ENTRY_SLOTS];
	int count;
};

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(char c)
{
	return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static struct span trim(const char *text, size_t len)
{
	while (len > 0 && is_ows(text[0])) {
		text++;
		len--;
	}
	while (len > 0 && is_ows(text[len - 1]))
		len--;
	return (struct span){text, len};
}

/* Where `stop` next occurs in text[pos..len), or len. With `quotes`, a
 * quoted-string (backslash escapes) hides separators and *open_ptr (when
 * not NULL) says whether one was left unterminated. */
static size_t find_separator(const char *text, size_t len, size_t pos, char stop, int quotes, int *open_ptr)
{
	int quoted = 0;

	for (; pos < len; pos++) {
		if (quoted) {
			if (text[pos] == '\\')
				pos++;
			else if (text[pos] == '"')
				quoted = 0;
		} else if (text[pos] == stop) {
			break;
		} else if (quotes && text[pos] == '"') {
			quoted = 1;
		}
	}
	if (open_ptr)
		*open_ptr = quoted;
	/* A backslash as the last byte steps one past the end. */
	return pos < len ? pos : len;
}

static size_t count_line_entries(const char *text, size_t len, int quotes)
{
	size_t n = 1;

	for (size_t pos = find_separator(text, len, 0, ',', quotes, NULL); pos < len;
	     pos = find_separator(text, len, pos + 1, ',', quotes, NULL))
		n++;
	return n;
}

/* Adds the line's rightmost entries, right to left, up to `limit` in all. */
static void collect_line(const char *text, size_t len, int quotes, int limit, struct entries *entries_ptr)
{
	size_t total = count_line_entries(text, len, quotes);
	size_t room = (size_t)(limit - entries_ptr->count);
	size_t take = total < room ? total : room;
	size_t index = 0, start = 0, end;

	for (;;) {
		end = find_separator(text, len, start, ',', quotes, NULL);
		if (index >= total - take)
			entries_ptr->items[(size_t)entries_ptr->count + (total - 1 - index)] =
				trim(text + start, end - start);
		index++;
		if (end >= len)
			break;
		start = end + 1;
	}
	entries_ptr->count += (int)take;
}

/* The last `limit` (at most ENTRY_SLOTS) entries of all the lines. */
static void collect_entries(enum gw_client_from from, const char *const *values, const size_t *lens, int count,
			    int limit, struct entries *entries_ptr)
{
	int quotes = from == GW_CLIENT_FROM_FORWARDED;

	entries_ptr->count = 0;
	if (!values || !lens)
		return;
	for (int i = count - 1; i >= 0 && entries_ptr->count < limit; i--) {
		/* A NULL line is an empty one (and NULL + 0 is not valid C). */
		if (values[i])
			collect_line(values[i], lens[i], quotes, limit, entries_ptr);
		else
			collect_line("", 0, quotes, limit, entries_ptr);
	}
}

/* 1 to 5 digits, at most 65535. */
static int is_port(const char *text, size_t len)
{
	unsigned value = 0;

	if (len == 0 || len > 5)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(text[i]))
			return 0;
		value = value * 10 + (unsigned)(text[i] - '0');
	}
	return value <= 65535;
}

/* RFC 7239 6.3 obfport: "_" 1*(ALPHA / DIGIT / "." / "_" / "-"). */
static int is_obfuscated_port(const char *text, size_t len)
{
	if (len < 2 || text[0] != '_')
		return 0;
	for (size_t i = 1; i < len; i++) {
		if (!is_alpha(text[i]) && !is_digit(text[i]) && !strchr("._-", text[i]))
			return 0;
	}
	return 1;
}

/* "[IPv6]" (the brackets included in len). */
static int parse_bracketed(const char *text, size_t len, struct gw_ip *out_ptr)
{
	/* Without a ':' gw_ip_parse() would take "[1.2.3.4]" as IPv4. */
	if (len < 2 || !memchr(text + 1, ':', len - 2))
		return -1;
	return gw_ip_parse(text + 1, len - 2, out_ptr);
}

/* An address with an optional port, as X-Forwarded-For writes it or as
 * Forwarded's node (`forwarded`: no bare IPv6, obfuscated ports allowed). */
static int parse_node(const char *text, size_t len, int forwarded, struct gw_ip *out_ptr)
{
	const char *colon_ptr, *close_ptr;
	size_t host_len, port_len;
	struct gw_ip ip;

	if (len > 0 && text[0] == '[') {
		close_ptr = memchr(text, ']', len);
		if (!close_ptr)
			return -1;
		host_len = (size_t)(close_ptr - text) + 1;
		if (parse_bracketed(text, host_len, &ip) < 0)
			return -1;
	} else {
		colon_ptr = memchr(text, ':', len);
		/* Two colons or more: the whole entry is an IPv6 address. */
		if (colon_ptr && !forwarded && memchr(colon_ptr + 1, ':', len - (size_t)(colon_ptr + 1 - text)))
			return gw_ip_parse(text, len, out_ptr);
		host_len = colon_ptr ? (size_t)(colon_ptr - text) : len;
		if (gw_ip_parse(text, host_len, &ip) < 0)
			return -1;
	}
	if (host_len < len) {
		port_len = len - host_len - 1;
		if (text[host_len] != ':')
			return -1;
		if (!is_port(text + host_len + 1, port_len) &&
		    !(forwarded && is_obfuscated_port(text + host_len + 1, port_len)))
			return -1;
	}
	*out_ptr = ip;
	return 0;
}

static int is_for(const char *name, size_t len)
{
	return len == 3 && (name[0] | 0x20) == 'f' && (name[1] | 0x20) == 'o' && (name[2] | 0x20) == 'r';
}

/* A quoted-string that is all of text[0..len), unescaped into out[0..size)
 * when out is not NULL. Its unescaped length, or -1 when malformed or too
 * long for out. */
static long unquote(const char *text, size_t len, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 1; i < len; i++) {
		if (text[i] == '"')
			return i == len - 1 ? (long)n : -1;
		if (text[i] == '\\' && ++i == len)
			return -1;
		if (out) {
			if (n == size)
				return -1;
			out[n] = text[i];
		}
		n++;
	}
	return -1;
}

/* A token's characters, leniently: any visible ASCII but '"' (the
 * separators are already split off), so that an unquoted "[::1]:80", which
 * the RFC wants quoted, still reads. */
static int is_plain_value(const char *text, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] <= ' ' || text[i] > '~' || text[i] == '"')
			return 0;
	}
	return 1;
}

/* A pair "name=value" (OWS trimmed). 1 with the value in out[0..*out_len_ptr)
 * when it is `for`, 0 for another well-formed pair, -1 when malformed. */
static int forwarded_pair(struct span pair, char *out, size_t size, size_t *out_len_ptr)
{
	const char *equals_ptr = memchr(pair.text, '=', pair.len);
	const char *value;
	size_t name_len, value_len;
	long unquoted_len;
	int wanted;

	if (!equals_ptr || equals_ptr == pair.text)
		return -1;
	name_len = (size_t)(equals_ptr - pair.text);
	for (size_t i = 0; i < name_len; i++) {
		if (!is_tchar(pair.text[i]))
			return -1;
	}
	wanted = is_for(pair.text, name_len);
	value = equals_ptr + 1;
	value_len = pair.len - name_len - 1;
	if (value_len > 0 && value[0] == '"') {
		unquoted_len = unquote(value, value_len, wanted ? out : NULL, size);
		if (unquoted_len < 0)
			return -1;
		if (wanted)
			*out_len_ptr = (size_t)unquoted_len;
		return wanted;
	}
	if (!is_plain_value(value, value_len) || (wanted && value_len > size))
		return -1;
	if (wanted) {
		memcpy(out, value, value_len);
		*out_len_ptr = value_len;
	}
	return wanted;
}

/* The `for` value of a Forwarded element, unescaped into out[0..size). 0,
 * or -1 when the element has none, has two, or has a malformed pair. */
static int forwarded_for(struct span element, char *out, size_t size, size_t *out_len_ptr)
{
	size_t start = 0, end;
	int open, found = 0, kind;
	struct span pair;

	for (;;) {
		end = find_separator(element.text, element.len, start, ';', 1, &open);
		if (open)
			return -1;
		pair = trim(element.text + start, end - start);
		if (pair.len > 0) {
			kind = forwarded_pair(pair, out, size, out_len_ptr);
			/* RFC 7239 4: a parameter occurs at most once per element. */
			if (kind < 0 || (kind == 1 && found))
				return -1;
			found |= kind;
		}
		if (end >= element.len)
			break;
		start = end + 1;
	}
	return found ? 0 : -1;
}

static int entry_address(enum gw_client_from from, struct span entry, struct gw_ip *out_ptr)
{
	char node[FOR_VALUE_MAX];
	size_t node_len = 0;

	if (from == GW_CLIENT_FROM_X_FORWARDED_FOR)
		return parse_node(entry.text, entry.len, 0, out_ptr);
	if (forwarded_for(entry, node, sizeof(node), &node_len) < 0)
		return -1;
	return parse_node(node, node_len, 1, out_ptr);
}

static enum gw_client_source use_peer(const struct gw_ip *peer_ptr, struct gw_ip *out_ptr)
{
	*out_ptr = *peer_ptr;
	return GW_CLIENT_PEER;
}

static enum gw_client_source use_entry(enum gw_client_from from, struct span entry, struct gw_ip *out_ptr)
{
	struct gw_ip ip;

	if (entry_address(from, entry, &ip) < 0)
		return GW_CLIENT_UNUSABLE;
	*out_ptr = ip;
	return GW_CLIENT_HEADER;
}

/* nginx's real_ip_recursive: skip trusted addresses from the right. */
static enum gw_client_source pick_untrusted(const struct gw_client_rule *rule_ptr, const struct entries *entries_ptr,
					    const struct gw_ip *peer_ptr, struct gw_ip *out_ptr)
{
	struct gw_ip ip = {{0}};

	if (entries_ptr->count == 0)
		return use_peer(peer_ptr, out_ptr);
	for (int i = 0; i < entries_ptr->count; i++) {
		if (i == GW_CLIENT_MAX_ENTRIES || entry_address(rule_ptr->from, entries_ptr->items[i], &ip) < 0)
			return GW_CLIENT_UNUSABLE;
		if (!gw_cidr_list_contains(rule_ptr->trusted_ptr, rule_ptr->trusted_count, &ip))
			break;
	}
	/* The first untrusted address, or else the leftmost entry. */
	*out_ptr = ip;
	return GW_CLIENT_HEADER;
}

enum gw_client_source gw_client_address_pick(const struct gw_client_rule *rule_ptr, const struct gw_ip *peer_ptr,
					     const char *const *values, const size_t *lens, int count,
					     struct gw_ip *out_ptr)
{
	struct entries entries;
	int hops = rule_ptr->trusted_hops;
	int trusted_count = rule_ptr->trusted_ptr ? rule_ptr->trusted_count : 0;

	if (rule_ptr->from == GW_CLIENT_FROM_PEER)
		return use_peer(peer_ptr, out_ptr);
	if (rule_ptr->from != GW_CLIENT_FROM_X_FORWARDED_FOR && rule_ptr->from != GW_CLIENT_FROM_FORWARDED)
		return GW_CLIENT_UNUSABLE;
	if (hops < 0 || hops > GW_CLIENT_MAX_HOPS)
		return GW_CLIENT_UNUSABLE;
	if (trusted_count > 0 && !gw_cidr_list_contains(rule_ptr->trusted_ptr, trusted_count, peer_ptr))
		return use_peer(peer_ptr, out_ptr);
	if (trusted_count <= 0 && hops == 0)
		return use_peer(peer_ptr, out_ptr);
	if (hops > 0) {
		/* Only the Nth entry matters, and whether there are N. */
		collect_entries(rule_ptr->from, values, lens, count, hops, &entries);
		if (entries.count < hops)
			return use_peer(peer_ptr, out_ptr);
		return use_entry(rule_ptr->from, entries.items[hops - 1], out_ptr);
	}
	collect_entries(rule_ptr->from, values, lens, count, ENTRY_SLOTS, &entries);
	return pick_untrusted(rule_ptr, &entries, peer_ptr, out_ptr);
}
