#ifndef GW_ADMIN_S_H
#define GW_ADMIN_S_H

#include <stddef.h>
#include <stdint.h>

#include "gw_http_s.h"

struct gw_stats;

/* What every admin connection reads. */
struct gw_admin_config {
	struct gw_stats *stats_ptr;
	struct gw_http_limits limits;
	uint64_t header_timeout_ms; /* the whole request head */
	uint64_t keepalive_idle_ms; /* between requests */
	size_t ring_bytes;	    /* each socket ring, each way */
	/* Without a token, actions (POST /drain, POST /config/reload) are
	 * taken only when the admin listener is on a loopback address
	 * (elsewhere 403); with one, only from a request that carries it
	 * ("Authorization: Bearer <token>"; else 401), wherever it listens. */
	int actions_allowed;
	const char *token; /* "": none */
};

/* Fills in the admin's limits (small: its requests are a line and a few
 * headers) and timeouts. */
void gw_admin_config_init(struct gw_admin_config *cfg_ptr, struct gw_stats *stats_ptr, size_t ring_bytes);

#endif
