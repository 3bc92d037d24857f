#ifndef GW_BREAKER_H
#define GW_BREAKER_H

/* Circuit breaking per upstream (per kernel): limits on connections open,
 * requests waiting for a connection, and requests in flight. Past
 * max_requests or max_pending a request is answered 503 at once; past
 * max_connections it waits in gw_pool's line (max_pending places). */

#include "gw_upstream_policy.h" /* struct gw_breaker_limits */

struct gw_breaker {
	int connections;
	int pending;
	int requests;
};

enum gw_breaker_verdict {
	GW_BREAKER_ADMIT,
	GW_BREAKER_TOO_MANY_REQUESTS,
	GW_BREAKER_TOO_MANY_PENDING,
	GW_BREAKER_TOO_MANY_CONNECTIONS,
};

/* A request arrives; on ADMIT it counts as in flight. */
enum gw_breaker_verdict gw_breaker_admit_request(struct gw_breaker *b_ptr, const struct gw_breaker_limits *l_ptr);
void gw_breaker_request_done(struct gw_breaker *b_ptr);
/* It needs a connection no pool had: wait (pending) or open one. */
enum gw_breaker_verdict gw_breaker_admit_pending(struct gw_breaker *b_ptr, const struct gw_breaker_limits *l_ptr);
void gw_breaker_pending_done(struct gw_breaker *b_ptr);
enum gw_breaker_verdict gw_breaker_admit_connection(struct gw_breaker *b_ptr, const struct gw_breaker_limits *l_ptr);
void gw_breaker_connection_closed(struct gw_breaker *b_ptr);
/* For the 503 body: "max_requests (1024) reached" and the like. */
const char *gw_breaker_reason(enum gw_breaker_verdict verdict);

#endif
