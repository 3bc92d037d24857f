#ifndef GW_FILTER_QUERY_H
#define GW_FILTER_QUERY_H

/* gw_filter_query: a credential in the request's query (an API key, an
 * access token), for the filters that take one from there. */

#include <stddef.h>

struct gw_exchange;

/* The longest query a filter takes a parameter out of (the rest goes
 * upstream without it). */
#define GW_FILTER_QUERY_MAX 4096

/* The value of query parameter `name` in `query`, percent-decoded into
 * out[cap] ('+' stays '+': credentials are not form text); its length, or
 * -1 when absent, -2 when malformed or too long. *start_ptr and *end_ptr:
 * the parameter's bytes in `query`, with the '&' before it if any. */
long gw_filter_query_param(const char *query, size_t len, const char *name, size_t name_len, char *out, size_t cap,
			   size_t *start_ptr, size_t *end_ptr);
/* In the request phase: the query sent upstream becomes `query` without
 * query[start..end) (gw_exchange_set_query). 0, or -1. */
int gw_filter_query_drop(struct gw_exchange *ex_ptr, const char *query, size_t len, size_t start, size_t end);

#endif
