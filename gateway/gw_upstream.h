#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

/* How the connection process reaches an upstream, without knowing how
 * endpoints are chosen: gateway/ defines this interface and upstreams/
 * implements it (balancing, health, circuit breaking, per kernel), so the
 * dependency points from upstreams/ to gateway/, not the other way. */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The endpoint chosen for one request. */
struct gw_upstream_pick {
	int endpoint;
	int stats_upstream; /* the upstream's slot in /stats (gw_stats.h); -1: none */
	/* The address to connect to, copied: a DNS name may resolve anew
	 * while the request waits for a connection. */
	struct sockaddr_storage addr;
	const struct sockaddr *addr_ptr; /* &addr */
	socklen_t addr_len;
	uint64_t addr_key; /* kept connections are reused for the same address only */
	const char *name;  /* "host:port" */
	/* TLS to it (gw_tls_client.h); NULL: plain TCP. */
	struct gw_tls_client *tls_ptr;
};

enum gw_upstream_outcome {
	GW_UPSTREAM_OK,		     /* a response below 500 */
	GW_UPSTREAM_5XX,	     /* a 5xx response */
	GW_UPSTREAM_CONNECT_FAILURE, /* refused, reset or timed out while connecting */
	GW_UPSTREAM_ABORTED,	     /* the exchange broke off for another reason */
};

enum gw_upstream_connection {
	GW_UPSTREAM_KEPT,    /* *fd_ptr: a kept-alive connection, ready, found with nothing to read;
				and *tls_kept_ptr its TLS state (gw_tls_stream_resume), NULL if plain */
	GW_UPSTREAM_FRESH,   /* *fd_ptr: a new socket, still to connect */
	GW_UPSTREAM_WAIT,    /* none free: wait to be notified (vk_wait_notified), then ask again */
	GW_UPSTREAM_REFUSED, /* answer 503 with *reason_ptr */
};

struct gw_upstream_ops {
	/* Admits a request to upstream `index` (circuit breaker) and picks an
	 * endpoint (balancing, health); key: the hash key for hash policies.
	 * avoid_mask: endpoints a retry would rather not have again (bit
	 * e % 64: those already tried), taken only when no other is available.
	 * Returns 0, or a status to answer (503) with a static reason. */
	int (*pick)(void *ctx_ptr, int index, const char *key, size_t key_len, uint64_t avoid_mask,
		    struct gw_upstream_pick *pick_ptr, const char **reason_ptr);
	/* The request ended: counts it out and records the outcome. */
	void (*done)(void *ctx_ptr, int index, int endpoint, enum gw_upstream_outcome outcome);
	/* A connection to the picked endpoint for the calling process, under
	 * the upstream's max_connections and max_pending. fresh: not a kept
	 * one (a retry after a kept one failed). The fd is the caller's, and
	 * counted until it is closed, however that happens. */
	enum gw_upstream_connection (*connection)(void *ctx_ptr, int index, const struct gw_upstream_pick *pick_ptr,
						  int fresh, int *fd_ptr, void **tls_kept_ptr, const char **reason_ptr);
	/* The caller stops waiting for a connection. */
	void (*stop_waiting)(void *ctx_ptr, int index);
	/* The exchange on fd ended cleanly and fd is detached from the
	 * caller's socket, with its TLS state (gw_tls_stream_keep; NULL if
	 * plain): kept for another request, or closed. */
	void (*keep)(void *ctx_ptr, int index, const struct gw_upstream_pick *pick_ptr, int fd, void *tls_kept_ptr);
	void *ctx_ptr;
};

#endif
