#ifndef GW_RESP_H
#define GW_RESP_H

/* gw_resp: RESP2, the Redis serialization protocol, for the rate limiter's
 * Redis mode: commands written as arrays of bulk strings, replies parsed
 * from a buffer as they come (a reply split across reads is "not yet"),
 * without allocating: the values point into the buffer. Bounded: a bulk
 * string or an array larger than the caller allows, or arrays nested
 * deeper than GW_RESP_DEPTH_MAX, are malformed. */

#include <stddef.h>

#define GW_RESP_DEPTH_MAX 4

/* The command argv[0..argc) as a RESP array of bulk strings, into
 * out[cap]: its length, as snprintf returns (written whole only when it
 * is below cap; out may be NULL with cap 0 to measure). */
size_t gw_resp_command(char *out, size_t cap, int argc, const char *const *argv, const size_t *lens);

enum gw_resp_type {
	GW_RESP_SIMPLE,	 /* +OK */
	GW_RESP_ERROR,	 /* -NOSCRIPT No matching script */
	GW_RESP_INTEGER, /* :42 */
	GW_RESP_BULK,	 /* $5 hello */
	GW_RESP_NULL,	 /* $-1 or *-1 */
	GW_RESP_ARRAY,	 /* *N: its N elements follow it in the values */
};

struct gw_resp_value {
	enum gw_resp_type type;
	long long integer; /* GW_RESP_INTEGER */
	const char *str;   /* SIMPLE, ERROR, BULK: into the buffer, not NUL-terminated */
	size_t len;
	int count; /* ARRAY: its elements */
};

struct gw_resp_limits {
	size_t max_bulk; /* bytes of one bulk string */
	int max_values;	 /* values of one reply, arrays' elements included */
};

/* One whole reply at buf[0..len): its length in bytes, with the reply in
 * values[0] and, for an array, its elements after it depth-first
 * (*count_ptr values in all, at most limits->max_values); 0 when more
 * bytes are needed; -1 when it is malformed or over the limits. */
long gw_resp_parse(const char *buf, size_t len, const struct gw_resp_limits *limits_ptr, struct gw_resp_value *values,
		   int *count_ptr);

#endif
