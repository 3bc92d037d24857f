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

/* A DNS name (253) and ":port"; an upstream name (GW_CONFIG_NAME_MAX). */
#define GW_RESOLVER_HOST_BYTES 254
#define GW_RESOLVER_ADDRESS_BYTES 262
#define GW_RESOLVER_NAME_BYTES 65

/* Entries a reload may add (DNS names vkgw did not start with) over the
 * life of the program; the table's size is fixed when it is mapped. */
#define GW_RESOLVER_SPARE 64

/* One DNS endpoint's slot in the shared table. */
struct gw_resolver_entry {
	/* The seqlock, also the entry's generation: odd while the resolver
	 * writes `published`, 2 more after each change. Readers compare it
	 * with the value they copied at to skip the copy. */
	uint32_t seq;
	/* 1 once the resolver has had a first answer (addresses or an
	 * error); set by the resolver, read by whoever added the entry. */
	uint32_t answered;
	struct gw_resolver_addresses published;
	/* Written before the entry is counted (gw_resolver.count), constant
	 * after: in the text, since processes do not share their configs. */
	int upstream_index; /* in the config vkgw started with; -1 for one a reload added */
	int endpoint_index;
	int interval_ms;
	int port;
	char upstream_name[GW_RESOLVER_NAME_BYTES]; /* the first upstream that named it */
	char address[GW_RESOLVER_ADDRESS_BYTES];    /* "host:port" as configured */
	char host[GW_RESOLVER_HOST_BYTES];
	/* The resolver process's own bookkeeping (kernels never read it). */
	uint64_t due_ns;
	int failing; /* the last resolution failed */
};

/* The table: one mapping, MAP_SHARED, made before the resolver and the
 * kernels are forked, so every process sees the same entries. `count`
 * only grows (gw_resolver_add_new, from the one process that checks
 * reloads), stored with release after the entry is written, and loaded
 * with acquire by the readers. */
struct gw_resolver {
	size_t map_bytes;
	int capacity;
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
