/* gw_http_syntax: the syntax of the values the HTTP/1.1 codec interprets,
 * as pure functions of a byte range: case-insensitive comparison, tokens,
 * comma-separated lists with quoted-strings (RFC 9110 5.6), Content-Length
 * (RFC 9110 8.6), transfer-coding (RFC 9112 7) and uri-host [":" port]
 * (RFC 9110 7.2, RFC 3986 3.2.2).
 *
 * They know nothing of heads or parser state, so the field section
 * (gw_http_fields.c) and the request-target (gw_http_parse.c) read a value
 * the same way wherever it appears. */
#include "gw_http.h"
#include "gw_http_self.h"

#include <arpa/inet.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define PORT_DIGITS_MAX 5
#define PORT_MAX 65535
#define CONTENT_LENGTH_MAX ((uint64_t)INT64_MAX)

/* Each byte's classes (gw_http.h). Ranges never overlap. */
#define T GW_HTTP_CHAR_TCHAR
#define F GW_HTTP_CHAR_FIELD
#define G GW_HTTP_CHAR_TARGET
#define H GW_HTTP_CHAR_HOST
const uint8_t gw_http_char_class[256] = {
	['\t'] = F,
	[' '] = F,
	['!'] = T | F | G | H,
	['"'] = F | G,
	['#'] = T | F,
	['$'] = T | F | G | H,
	['%'] = T | F | G,
	['&'] = T | F | G | H,
	['\''] = T | F | G | H,
	['('] = F | G | H,
	[')'] = F | G | H,
	['*'] = T | F | G | H,
	['+'] = T | F | G | H,
	[','] = F | G | H,
	['-'] = T | F | G | H,
	['.'] = T | F | G | H,
	['/'] = F | G,
	['0' ... '9'] = T | F | G | H,
	[':'] = F | G,
	[';'] = F | G | H,
	['<'] = F | G,
	['='] = F | G | H,
	['>'] = F | G,
	['?'] = F | G,
	['@'] = F | G,
	['A' ... 'Z'] = T | F | G | H,
	['['] = F | G,
	['\\'] = F | G,
	[']'] = F | G,
	['^'] = T | F | G,
	['_'] = T | F | G | H,
	['`'] = T | F | G,
	['a' ... 'z'] = T | F | G | H,
	['{'] = F | G,
	['|'] = T | F | G,
	['}'] = F | G,
	['~'] = T | F | G | H,
	[0x80 ... 0xff] = F,
};
#undef T
#undef F
#undef G
#undef H

static unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Whether p[0..len) equals the NUL-terminated `lit_ptr`, ignoring ASCII case. */
int gw_http_equals_ci(const char *p, size_t len, const char *lit_ptr)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (lit_ptr[i] == '\0' || ascii_lower((unsigned char)p[i]) != ascii_lower((unsigned char)lit_ptr[i]))
			return 0;
	}
	return lit_ptr[i] == '\0';
}

/* Whether a[0..len) and b[0..len) are equal, ignoring ASCII case. */
int gw_http_same_ci(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return 0;
	}
	return 1;
}

#define BYTES_OF(b) (0x0101010101010101ull * (b))

/* Values and names are scanned sixteen bytes at a time where SSE2 is
 * there (every x86-64), eight (SWAR) otherwise; what a vector flags is
 * then looked at byte by byte, so the vector only needs to be right about
 * the bytes it lets through. */
#ifdef __SSE2__
/* The bytes of v below 0x20 or DEL, as a bit mask (bit i: byte i). 0x80
 * and above is obs-text, allowed. */
static unsigned field_stops16(__m128i v)
{
	__m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
	__m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));

	return (unsigned)_mm_movemask_epi8(_mm_or_si128(ctl, del));
}

/* The bytes of v outside [A-Za-z0-9-], the tchars nearly every field name
 * is made of, as a bit mask. */
static unsigned name_stops16(__m128i v)
{
	__m128i alpha = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
	__m128i digit = _mm_sub_epi8(v, _mm_set1_epi8('0'));
	__m128i ok = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(alpha, _mm_set1_epi8(25)), alpha),
				  _mm_cmpeq_epi8(_mm_min_epu8(digit, _mm_set1_epi8(9)), digit));

	ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
	return ~(unsigned)_mm_movemask_epi8(ok) & 0xffffu;
}
#endif

/* A word's bytes below 0x20 or DEL are flagged (0x80 in the byte); the
 * lowest flag exactly, the ones above it may be false, from the borrow. */
static uint64_t field_stops8(uint64_t word)
{
	uint64_t not_del = word ^ BYTES_OF(0x7f);

	return (((word - BYTES_OF(0x20)) & ~word) | ((not_del - BYTES_OF(0x01)) & ~not_del)) & BYTES_OF(0x80);
}

#ifdef __SSE2__
/* Sixteen bytes at a time, while `stops16` flags none of them; a flagged
 * byte that is of the class after all (HTAB in a value, '_' in a name) is
 * stepped over. Returns where a byte outside the class stands (*stopped
 * set), or where fewer than sixteen bytes are left. */
static inline __attribute__((always_inline)) size_t
run16(const char *buf_ptr, size_t pos, size_t end, unsigned (*stops16)(__m128i), uint8_t class_bit, int *stopped_ptr)
{
	*stopped_ptr = 0;
	while (end - pos >= 16) {
		unsigned stops = stops16(_mm_loadu_si128((const __m128i *)(const void *)(buf_ptr + pos)));

		if (!stops) {
			pos += 16;
			continue;
		}
		pos += (size_t)__builtin_ctz(stops);
		if (!(gw_http_char_class[(unsigned char)buf_ptr[pos]] & class_bit)) {
			*stopped_ptr = 1;
			return pos;
		}
		pos++;
	}
	return pos;
}
#endif

/* HTAB, rare in values, is the one stop that does not end the run. */
size_t gw_http_field_chars_end(const char *buf_ptr, size_t pos, size_t end)
{
#ifdef __SSE2__
	int stopped;

	pos = run16(buf_ptr, pos, end, field_stops16, GW_HTTP_CHAR_FIELD, &stopped);
	if (stopped)
		return pos;
#endif
	while (end - pos >= 8) {
		uint64_t word, stops;

		memcpy(&word, buf_ptr + pos, sizeof(word));
		stops = field_stops8(word);
		if (!stops) {
			pos += 8;
			continue;
		}
		pos += (size_t)__builtin_ctzll(stops) / 8;
		if (buf_ptr[pos] != '\t')
			return pos;
		pos++;
	}
	while (pos < end && gw_http_is_field_char((unsigned char)buf_ptr[pos]))
		pos++;
	return pos;
}

size_t gw_http_token_chars_end(const char *buf_ptr, size_t pos, size_t end)
{
#ifdef __SSE2__
	int stopped;

	pos = run16(buf_ptr, pos, end, name_stops16, GW_HTTP_CHAR_TCHAR, &stopped);
	if (stopped)
		return pos;
#endif
	while (pos < end && gw_http_is_tchar((unsigned char)buf_ptr[pos]))
		pos++;
	return pos;
}

int gw_http_is_token(const char *p, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!gw_http_is_tchar((unsigned char)p[i]))
			return 0;
	}
	return 1;
}

static size_t token_end(const char *p, size_t len, size_t i)
{
	while (i < len && gw_http_is_tchar((unsigned char)p[i]))
		i++;
	return i;
}

size_t gw_http_ows_end(const char *p, size_t len, size_t i)
{
	while (i < len && gw_http_is_ows((unsigned char)p[i]))
		i++;
	return i;
}

/* The index after the quoted-string that starts at p[i] (a '"'), or 0 if it
 * is not one. */
static size_t quoted_string_end(const char *p, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '"')
			return i + 1;
		if (c == '\\') {
			if (++i == len || !gw_http_is_field_char((unsigned char)p[i]))
				return 0;
		} else if (!gw_http_is_qdtext(c)) {
			return 0;
		}
	}
	return 0;
}

/* The next non-empty element of the comma-separated list p[0..len) from
 * *pos_ptr (RFC 9110 5.6.1), OWS trimmed; commas inside a quoted-string do
 * not separate. Returns 1 with the element, 0 at the end of the list, or -1
 * on an unterminated quoted-string. */
int gw_http_list_next(const char *p, size_t len, size_t *pos_ptr, size_t *off_ptr, size_t *len_ptr)
{
	size_t pos = *pos_ptr;
	size_t start;
	size_t end;
	int quoted = 0;

	while (pos < len && (gw_http_is_ows((unsigned char)p[pos]) || p[pos] == ','))
		pos++;
	if (pos == len) {
		*pos_ptr = pos;
		return 0;
	}
	start = pos;
	for (; pos < len; pos++) {
		if (quoted) {
			if (p[pos] == '\\')
				pos++;
			else if (p[pos] == '"')
				quoted = 0;
		} else if (p[pos] == '"') {
			quoted = 1;
		} else if (p[pos] == ',') {
			break;
		}
	}
	if (quoted || pos > len)
		return -1;
	end = pos;
	while (end > start && gw_http_is_ows((unsigned char)p[end - 1]))
		end--;
	*off_ptr = start;
	*len_ptr = end - start;
	*pos_ptr = pos;
	return 1;
}

int gw_http_token_list_contains(const char *value_ptr, size_t len, const char *token_ptr)
{
	size_t pos = 0;
	size_t off;
	size_t elem_len;

	while (gw_http_list_next(value_ptr, len, &pos, &off, &elem_len) > 0) {
		if (gw_http_equals_ci(value_ptr + off, elem_len, token_ptr))
			return 1;
	}
	return 0;
}

/* 1*DIGIT, at most 2^63-1: 0 with the value, else -1. */
static int decimal_of(const char *p, size_t len, uint64_t *value_ptr)
{
	uint64_t value = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned digit = (unsigned char)p[i] - '0';

		if (digit > 9 || value > (CONTENT_LENGTH_MAX - digit) / 10)
			return -1;
		value = value * 10 + digit;
	}
	*value_ptr = value;
	return 0;
}

/* Content-Length = 1*DIGIT, also as a list of identical values ("5, 5",
 * RFC 9110 8.6). Returns 1 with the value when it is one value alone (it
 * may be forwarded as received), 0 with the value of a list, -1 if
 * malformed or above 2^63-1, -2 if the values differ. */
int gw_http_content_length_parse(const char *p, size_t len, uint64_t *value_ptr)
{
	size_t pos = 0;
	size_t off;
	size_t elem_len;
	int count = 0;
	int r;

	/* Nearly always one value alone: no list to walk. */
	if (decimal_of(p, len, value_ptr) == 0)
		return 1;
	while ((r = gw_http_list_next(p, len, &pos, &off, &elem_len)) > 0) {
		uint64_t value;

		if (decimal_of(p + off, elem_len, &value) < 0)
			return -1;
		if (count > 0 && value != *value_ptr)
			return -2;
		*value_ptr = value;
		count++;
	}
	return (r < 0 || count == 0) ? -1 : 0;
}

/* transfer-coding = token *( OWS ";" OWS token BWS "=" BWS ( token /
 * quoted-string ) ) (RFC 9112 7, RFC 9110 10.1.4). Returns 0 with the
 * length of the coding's name and whether it has parameters, -1 if
 * malformed. */
int gw_http_transfer_coding_parse(const char *p, size_t len, size_t *name_len_ptr, int *has_params_ptr)
{
	size_t i = token_end(p, len, 0);

	if (i == 0)
		return -1;
	*name_len_ptr = i;
	*has_params_ptr = 0;
	while (i < len) {
		size_t j;

		i = gw_http_ows_end(p, len, i);
		if (i == len || p[i] != ';')
			return -1;
		i = gw_http_ows_end(p, len, i + 1);
		j = token_end(p, len, i);
		if (j == i)
			return -1;
		i = gw_http_ows_end(p, len, j);
		if (i == len || p[i] != '=')
			return -1;
		i = gw_http_ows_end(p, len, i + 1);
		if (i < len && p[i] == '"')
			j = quoted_string_end(p, len, i);
		else
			j = token_end(p, len, i);
		if (j <= i)
			return -1;
		i = j;
		*has_params_ptr = 1;
	}
	return 0;
}

/* port = 1*5DIGIT up to 65535 (RFC 3986 allows an empty port; we do not). */
static int port_valid(const char *p, size_t len)
{
	unsigned port = 0;

	if (len == 0 || len > PORT_DIGITS_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		port = port * 10 + (unsigned)(p[i] - '0');
	}
	return port <= PORT_MAX;
}

/* uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): a reg-name (which
 * covers IPv4 addresses) or an [IPv6] literal; never empty, never with
 * userinfo or whitespace. */
int gw_http_host_valid(const char *p, size_t len, int port_required)
{
	size_t i = 0;

	if (len == 0)
		return 0;
	if (p[0] == '[') {
		char addr[INET6_ADDRSTRLEN];
		struct in6_addr in6;
		const char *close_ptr = memchr(p, ']', len);
		size_t addr_len;

		if (close_ptr == NULL)
			return 0;
		addr_len = (size_t)(close_ptr - p) - 1;
		if (addr_len == 0 || addr_len >= sizeof(addr))
			return 0;
		memcpy(addr, p + 1, addr_len);
		addr[addr_len] = '\0';
		if (inet_pton(AF_INET6, addr, &in6) != 1)
			return 0;
		i = addr_len + 2;
	} else {
		/* (neither ':' nor '%' is of the host class) */
		for (; i < len; i++) {
			if (gw_http_char_class[(unsigned char)p[i]] & GW_HTTP_CHAR_HOST)
				continue;
			if (p[i] == ':')
				break;
			if (p[i] != '%' || len - i < 3 || !gw_http_is_hexdig((unsigned char)p[i + 1]) ||
			    !gw_http_is_hexdig((unsigned char)p[i + 2]))
				return 0;
			i += 2;
		}
		if (i == 0)
			return 0;
	}
	if (i == len)
		return !port_required;
	if (p[i] != ':')
		return 0;
	return port_valid(p + i + 1, len - i - 1);
}

int gw_http_method_idempotent(enum gw_http_method method)
{
	switch (method) {
	case GW_METHOD_GET:
	case GW_METHOD_HEAD:
	case GW_METHOD_OPTIONS:
	case GW_METHOD_TRACE:
	case GW_METHOD_PUT:
	case GW_METHOD_DELETE:
		return 1;
	default:
		return 0;
	}
}
