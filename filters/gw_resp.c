/* gw_resp: RESP2 commands and replies (see the header). */
#include "gw_resp.h"

#include <stdio.h>
#include <string.h>

#define NUMBER_DIGITS_MAX 18 /* below 2^63: no overflow */

/* "<prefix><n>\r\n" at out + n when it fits below cap: its length. On
 * every request of the rate limiter's Redis mode: no printf. */
static size_t put_header(char *out, size_t cap, size_t n, char prefix, size_t number)
{
	char digits[24];
	size_t d = sizeof(digits);

	do
		digits[--d] = (char)('0' + number % 10);
	while ((number /= 10) > 0);
	if (n + 1 + (sizeof(digits) - d) + 2 < cap) {
		out[n] = prefix;
		memcpy(out + n + 1, digits + d, sizeof(digits) - d);
		memcpy(out + n + 1 + (sizeof(digits) - d), "\r\n", 3);
	}
	return 1 + (sizeof(digits) - d) + 2;
}

size_t gw_resp_command(char *out, size_t cap, int argc, const char *const *argv, const size_t *lens)
{
	size_t n = put_header(out, cap, 0, '*', (size_t)argc);

	for (int i = 0; i < argc; i++) {
		n += put_header(out, cap, n, '$', lens[i]);
		if (n + lens[i] + 2 < cap) {
			memcpy(out + n, argv[i], lens[i]);
			memcpy(out + n + lens[i], "\r\n", 3);
		}
		n += lens[i] + 2;
	}
	return n;
}

/* The line from buf[*pos] to its CRLF: its length, with *pos past the
 * CRLF; 0 more bytes needed (returned as -2); -1 a bare CR or LF. */
static long line_at(const char *buf, size_t len, size_t *pos_ptr, const char **line_ptr)
{
	size_t start = *pos_ptr;

	for (size_t i = start; i < len; i++) {
		if (buf[i] == '\n')
			return -1; /* LF without CR */
		if (buf[i] != '\r')
			continue;
		if (i + 1 == len)
			return -2;
		if (buf[i + 1] != '\n')
			return -1;
		*line_ptr = buf + start;
		*pos_ptr = i + 2;
		return (long)(i - start);
	}
	return -2;
}

/* A signed decimal of at most NUMBER_DIGITS_MAX digits: 0, or -1. */
static int number(const char *s, size_t len, long long *out)
{
	size_t i = s[0] == '-';
	long long v = 0;

	if (len == i || len - i > NUMBER_DIGITS_MAX)
		return -1;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = s[0] == '-' ? -v : v;
	return 0;
}

struct parse {
	const char *buf;
	size_t len;
	size_t pos;
	const struct gw_resp_limits *limits_ptr;
	struct gw_resp_value *values;
	int count;
};

/* One value at p->pos, at `depth`: 1, 0 (more bytes), or -1. */
static int value_at(struct parse *p, int depth)
{
	struct gw_resp_value *v_ptr;
	const char *line;
	long line_len;
	long long n;
	char kind;

	if (p->pos >= p->len)
		return 0;
	if (p->count == p->limits_ptr->max_values || depth > GW_RESP_DEPTH_MAX)
		return -1;
	kind = p->buf[p->pos++];
	line_len = line_at(p->buf, p->len, &p->pos, &line);
	if (line_len == -2)
		return 0;
	if (line_len < 0)
		return -1;
	v_ptr = &p->values[p->count++];
	memset(v_ptr, 0, sizeof(*v_ptr));
	switch (kind) {
	case '+':
	case '-':
		v_ptr->type = kind == '+' ? GW_RESP_SIMPLE : GW_RESP_ERROR;
		v_ptr->str = line;
		v_ptr->len = (size_t)line_len;
		return 1;
	case ':':
		v_ptr->type = GW_RESP_INTEGER;
		return number(line, (size_t)line_len, &v_ptr->integer) == 0 ? 1 : -1;
	case '$':
		if (number(line, (size_t)line_len, &n) == -1 || n < -1 ||
		    (n >= 0 && (size_t)n > p->limits_ptr->max_bulk))
			return -1;
		if (n == -1) {
			v_ptr->type = GW_RESP_NULL;
			return 1;
		}
		if (p->len - p->pos < (size_t)n + 2)
			return 0;
		if (p->buf[p->pos + (size_t)n] != '\r' || p->buf[p->pos + (size_t)n + 1] != '\n')
			return -1;
		v_ptr->type = GW_RESP_BULK;
		v_ptr->str = p->buf + p->pos;
		v_ptr->len = (size_t)n;
		p->pos += (size_t)n + 2;
		return 1;
	case '*':
		if (number(line, (size_t)line_len, &n) == -1 || n < -1 || n >= p->limits_ptr->max_values)
			return -1;
		if (n == -1) {
			v_ptr->type = GW_RESP_NULL;
			return 1;
		}
		v_ptr->type = GW_RESP_ARRAY;
		v_ptr->count = (int)n;
		for (long long i = 0; i < n; i++) {
			int rc = value_at(p, depth + 1);

			if (rc != 1)
				return rc;
		}
		return 1;
	default:
		return -1;
	}
}

long gw_resp_parse(const char *buf, size_t len, const struct gw_resp_limits *limits_ptr, struct gw_resp_value *values,
		   int *count_ptr)
{
	struct parse p = {.buf = buf, .len = len, .limits_ptr = limits_ptr, .values = values};
	int rc = value_at(&p, 1);

	*count_ptr = rc == 1 ? p.count : 0;
	return rc == 1 ? (long)p.pos : rc;
}
