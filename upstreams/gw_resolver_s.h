#ifndef GW_RESOLVER_S_H
#define GW_RESOLVER_S_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

/* Addresses kept per DNS endpoint; a name with more keeps the first ones
 * in getaddrinfo's order (IPv4 before IPv6, see gw_resolver.h). */
#define GW_RESOLVER_ADDRESSES_MAX 8

union gw_resolver_address {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

/* What a name resolved to, port applied. Unused slots stay zero, so two
 * sets compare with memcmp. Copied between processes as 32-bit words. */
struct gw_resolver_addresses {
	uint32_t count;
	union gw_resolver_address addresses[GW_RESOLVER_ADDRESSES_MAX];
};

/* One DNS endpoint's slot in the shared table. */
struct gw_resolver_entry {
	/* The seqlock, also the entry's generation: odd while the resolver
	 * writes `published`, 2 more after each change. Readers compare it
	 * with the value they copied at to skip the copy. */
	uint32_t seq;
	struct gw_resolver_addresses published;
	/* Set before any fork, constant after. */
	int upstream_index;
	int endpoint_index;
	int interval_ms;
	const char *upstream_name;
	const char *address; /* "host:port" as configured */
	const char *host;
	int port;
	/* The resolver process's own bookkeeping (kernels never read it). */
	uint64_t due_ns;
	int failing; /* the last resolution failed */
};

/* The table: one mapping, MAP_SHARED, made before the resolver and the
 * kernels are forked, so every process sees the same entries. */
struct gw_resolver {
	size_t map_bytes;
	int count;
	struct gw_resolver_entry entries[];
};

/* A kernel's copy of one entry: what picks rotate over. */
struct gw_resolver_view {
	const struct gw_resolver_entry *entry_ptr; /* NULL: not a DNS endpoint */
	uint32_t seen_seq;			   /* the entry's seq when copied */
	struct gw_resolver_addresses copy;
	uint32_t usable; /* the leading addresses of the preferred family */
	uint32_t next;	 /* rotation */
};

#endif
