/* gw_filter_query: query parameters for the filters (see the header). */
#include "gw_filter_query.h"
#include "gw_exchange.h"
#include "gw_http.h"

#include <string.h>

long gw_filter_query_param(const char *query, size_t len, const char *name, size_t name_len, char *out, size_t cap,
			   size_t *start_ptr, size_t *end_ptr)
{
	size_t i = 0;

	while (i <= len) {
		size_t end = i;
		size_t n = 0;

		while (end < len && query[end] != '&')
			end++;
		if (end - i > name_len && memcmp(query + i, name, name_len) == 0 && query[i + name_len] == '=') {
			for (size_t j = i + name_len + 1; j < end; j++) {
				int c = (unsigned char)query[j];

				if (c == '%') {
					int hi = j + 2 < end ? gw_http_hex_value((unsigned char)query[j + 1]) : -1;
					int lo = j + 2 < end ? gw_http_hex_value((unsigned char)query[j + 2]) : -1;

					if (hi < 0 || lo < 0)
						return -2;
					c = hi << 4 | lo;
					j += 2;
				}
				if (n == cap)
					return -2;
				out[n++] = (char)c;
			}
			*start_ptr = i > 0 ? i - 1 : i;
			*end_ptr = i > 0 ? end : (end < len ? end + 1 : end);
			return (long)n;
		}
		i = end + 1;
	}
	return -1;
}

int gw_filter_query_drop(struct gw_exchange *ex_ptr, const char *query, size_t len, size_t start, size_t end)
{
	char rest[GW_FILTER_QUERY_MAX];

	if (len - (end - start) > sizeof(rest))
		return -1;
	memcpy(rest, query, start);
	memcpy(rest + start, query + end, len - end);
	return gw_exchange_set_query(ex_ptr, rest, len - (end - start));
}
