/* gw_breaker: circuit breaker counters (see the header). */
#include "gw_breaker.h"

enum gw_breaker_verdict gw_breaker_admit_request(struct gw_breaker *b_ptr, const struct gw_breaker_limits *l_ptr)
{
	if (b_ptr->requests >= l_ptr->max_requests)
		return GW_BREAKER_TOO_MANY_REQUESTS;
	b_ptr->requests++;
	return GW_BREAKER_ADMIT;
}

void gw_breaker_request_done(struct gw_breaker *b_ptr)
{
	if (b_ptr->requests > 0)
		b_ptr->requests--;
}

enum gw_breaker_verdict gw_breaker_admit_pending(struct gw_breaker *b_ptr, const struct gw_breaker_limits *l_ptr)
{
	if (b_ptr->pending >= l_ptr->max_pending)
		return GW_BREAKER_TOO_MANY_PENDING;
	b_ptr->pending++;
	return GW_BREAKER_ADMIT;
}

void gw_breaker_pending_done(struct gw_breaker *b_ptr)
{
	if (b_ptr->pending > 0)
		b_ptr->pending--;
}

enum gw_breaker_verdict gw_breaker_admit_connection(struct gw_breaker *b_ptr, const struct gw_breaker_limits *l_ptr)
{
	if (b_ptr->connections >= l_ptr->max_connections)
		return GW_BREAKER_TOO_MANY_CONNECTIONS;
	b_ptr->connections++;
	return GW_BREAKER_ADMIT;
}

void gw_breaker_connection_closed(struct gw_breaker *b_ptr)
{
	if (b_ptr->connections > 0)
		b_ptr->connections--;
}

const char *gw_breaker_reason(enum gw_breaker_verdict verdict)
{
	switch (verdict) {
	case GW_BREAKER_TOO_MANY_REQUESTS:
		return "circuit breaker: max_requests reached";
	case GW_BREAKER_TOO_MANY_PENDING:
		return "circuit breaker: max_pending reached";
	case GW_BREAKER_TOO_MANY_CONNECTIONS:
		return "circuit breaker: max_connections reached";
	default:
		return "admitted";
	}
}
