#ifndef GW_CONN_S_H
#define GW_CONN_S_H

#include <stdint.h>
#include <sys/socket.h>

#include "gw_client_address.h"
#include "gw_http_s.h"
#include "gw_upstream.h"

struct gw_config;
struct gw_filter_states;
struct gw_generation;
struct gw_tls;

/* What a listener's service hands each connection: which listener it is.
 * Its config is the listener's in the kernel's newest generation
 * (gw_generation.h), taken again at each request. */
struct gw_conn_listener {
	/* in the newest generation's conn_configs_ptr; below 0: a reload
	 * closed the listener (or is opening it: deploy/gw_main.c) */
	int index;
};

/* What every connection of a listener reads: limits, timeouts, and where
 * requests go (the config snapshot), in one generation. Immutable while
 * connections use it. */
struct gw_conn_config {
	struct gw_http_limits limits;
	uint64_t header_timeout_ms;	   /* whole request head: 408 (slowloris) */
	uint64_t body_idle_ms;		   /* no body bytes for this long: 408 */
	uint64_t keepalive_idle_ms;	   /* between requests: close quietly */
	uint64_t handshake_ms;		   /* a TLS handshake, from the accept */
	const char *via;		   /* pseudonym in Via: "1.1 <via>" */
	int trusted_hops;		   /* hops before this one whose X-Forwarded-* are believed */
	int proxy_protocol;		   /* connections start with a PROXY protocol header */
	int geo;			   /* geo databases are configured: requests may be looked up */
	struct gw_client_rule client_rule; /* the client address a geo lookup uses */
	size_t ring_bytes;		   /* each socket's ring, each way */
	size_t body_buffer_bytes;	   /* a body kept for filters; 0: no route asks */
	/* Routing: the config snapshot and this kernel's upstreams. */
	const struct gw_config *config_ptr;
	struct gw_upstream_ops upstream_ops;
	/* this kernel's state of the snapshot's filters (gw_filter_states.h) */
	const struct gw_filter_states *filter_states_ptr;
	/* the listener's TLS (gw_tls.h); NULL: plain HTTP. Each connection
	 * holds the contexts it started on, whatever generation it moves to. */
	struct gw_tls *tls_ptr;
	struct gw_generation *generation_ptr; /* the one this belongs to */
};

#endif
