/* gw_breaker: circuit breaker counters (see the header). */
#include "gw_breaker.h"

enum gw_breaker_verdict gw_breaker_admit_request(struct gw_breaker *b, const struct gw_breaker_limits *l)
{
	if (b->requests >= l->max_requests)
		return GW_BREAKER_TOO_MANY_REQUESTS;
	b->requests++;
	return GW_BREAKER_ADMIT;
}

void gw_breaker_request_done(struct gw_breaker *b)
{
	if (b->requests > 0)
		b->requests--;
}

enum gw_breaker_verdict gw_breaker_admit_pending(struct gw_breaker *b, const struct gw_breaker_limits *l)
{
	if (b->pending >= l->max_pending)
		return GW_BREAKER_TOO_MANY_PENDING;
	b->pending++;
	return GW_BREAKER_ADMIT;
}

void gw_breaker_pending_done(struct gw_breaker *b)
{
	if (b->pending > 0)
		b->pending--;
}

enum gw_breaker_verdict gw_breaker_admit_connection(struct gw_breaker *b, const struct gw_breaker_limits *l)
{
	if (b->connections >= l->max_connections)
		return GW_BREAKER_TOO_MANY_CONNECTIONS;
	b->connections++;
	return GW_BREAKER_ADMIT;
}

void gw_breaker_connection_closed(struct gw_breaker *b)
{
	if (b->connections > 0)
		b->connections--;
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
