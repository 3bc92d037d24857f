#ifndef GW_CONN_S_H
#define GW_CONN_S_H

#include <stdint.h>
#include <sys/socket.h>

#include "gw_http_s.h"

/* What every connection of a listener reads: limits, timeouts, and where
 * requests go. Immutable while connections use it. Routing through the
 * config snapshot replaces the single upstream address. */
struct gw_conn_config {
	struct gw_http_limits limits;
	uint64_t header_timeout_ms;   /* whole request head: 408 (slowloris) */
	uint64_t body_idle_ms;	      /* no body bytes for this long: 408 */
	uint64_t keepalive_idle_ms;   /* between requests: close quietly */
	uint64_t connect_timeout_ms;  /* upstream connect: 504 */
	uint64_t response_timeout_ms; /* upstream response head: 504 */
	const char *via;	      /* pseudonym in Via: "1.1 <via>" */
	size_t ring_bytes;	      /* each socket's ring, each way */
	struct sockaddr_storage upstream_addr;
	socklen_t upstream_addr_len;
	char upstream_name[64]; /* "host:port", for logs and errors */
};

#endif
