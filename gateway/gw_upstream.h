#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

/* How the connection process reaches an upstream, without knowing how
 * endpoints are chosen: gateway/ defines this interface and upstreams/
 * implements it (balancing, health, circuit breaking, per kernel), so the
 * dependency points from upstreams/ to gateway/, not the other way. */

#include <stddef.h>
#include <sys/socket.h>

/* The endpoint chosen for one request. */
struct gw_upstream_pick {
	int endpoint;
	const struct sockaddr *addr_ptr;
	socklen_t addr_len;
	const char *name; /* "host:port" */
};

enum gw_upstream_outcome {
	GW_UPSTREAM_OK,		     /* a response below 500 */
	GW_UPSTREAM_5XX,	     /* a 5xx response */
	GW_UPSTREAM_CONNECT_FAILURE, /* refused, reset or timed out while connecting */
	GW_UPSTREAM_ABORTED,	     /* the exchange broke off for another reason */
};

struct gw_upstream_ops {
	/* Admits a request to upstream `index` (circuit breaker) and picks an
	 * endpoint (balancing, health); key: the hash key for hash policies.
	 * Returns 0, or a status to answer (503) with a static reason. */
	int (*pick)(void *ctx_ptr, int index, const char *key, size_t key_len, struct gw_upstream_pick *pick_ptr,
		    const char **reason_ptr);
	/* The request ended: counts it out and records the outcome. */
	void (*done)(void *ctx_ptr, int index, int endpoint, enum gw_upstream_outcome outcome);
	void *ctx_ptr;
};

#endif
