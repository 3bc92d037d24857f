#ifndef GW_RESOLVER_H
#define GW_RESOLVER_H

/* gw_resolver: the addresses of DNS endpoints, shared between processes.
 *
 * getaddrinfo blocks, and a kernel must never block, so names are resolved
 * in a separate resolver process (gw_resolver_process.h) that writes what
 * it finds into this table: one entry per DNS endpoint, in shared memory
 * mapped before any fork. The resolver is the only writer; each entry is
 * a seqlock, so a kernel reads it without locks and tries again (a bounded
 * number of times) when its copy was torn by a concurrent write.
 *
 * Each kernel keeps a view per DNS endpoint: a private copy taken when the
 * entry's generation moved, so the common case is one atomic load. Picks
 * rotate over the view's IPv4 addresses, or its IPv6 ones when the name
 * has no IPv4 address: a connect is never retried on another address, and
 * a service reached as "localhost" usually listens on 127.0.0.1 only. */

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "gw_resolver_s.h"

struct gw_config;

/* The table for every DNS endpoint of the config (0 entries when there is
 * none), with room for GW_RESOLVER_SPARE names that reloads add; nothing
 * is resolved yet. NULL on failure. */
struct gw_resolver *gw_resolver_create(const struct gw_config *config_ptr);
void gw_resolver_destroy(struct gw_resolver *resolver_ptr);
int gw_resolver_count(const struct gw_resolver *resolver_ptr);
/* Entry i (0 to count - 1), or NULL. */
const struct gw_resolver_entry *gw_resolver_entry_at(const struct gw_resolver *resolver_ptr, int i);
/* The entry of endpoint `endpoint` of upstream `upstream`, or NULL. */
const struct gw_resolver_entry *gw_resolver_find(const struct gw_resolver *resolver_ptr, int upstream, int endpoint);
/* The entry of a DNS endpoint "host:port" as configured (any upstream's:
 * each names the same addresses), or NULL. */
const struct gw_resolver_entry *gw_resolver_find_address(const struct gw_resolver *resolver_ptr, const char *address);

/* ---- adding names: the one process that checks reloads ---- */

/* The DNS names (host:port) of `config_ptr` the table does not have. */
int gw_resolver_new_names(const struct gw_resolver *resolver_ptr, const struct gw_config *config_ptr);
/* Entries still free. */
int gw_resolver_room(const struct gw_resolver *resolver_ptr);
/* Adds an entry for each of those names (unresolved: the resolver process
 * resolves it at its next pass, gw_resolver_process_wake), so that the
 * kernels find it by address. The index of the first added (the count
 * before), or -1 when there is no room for them all (nothing added). */
int gw_resolver_add_new(struct gw_resolver *resolver_ptr, const struct gw_config *config_ptr);
/* The resolver has had a first answer for the entry (addresses, or an
 * error): from any process. */
int gw_resolver_answered(const struct gw_resolver_entry *entry_ptr);

/* ---- writer side: the resolver process only ---- */

/* Replaces an entry's addresses under its seqlock. */
void gw_resolver_publish(struct gw_resolver_entry *entry_ptr, const struct gw_resolver_addresses *addresses_ptr);
/* One resolution of an entry: addresses_ptr, or NULL and `error` when it
 * failed. A failure keeps the last good addresses. Logs to `log_ptr` when the
 * addresses change and when resolution starts or stops failing. */
void gw_resolver_record(struct gw_resolver_entry *entry_ptr, const struct gw_resolver_addresses *addresses_ptr,
			const char *error, FILE *log_ptr);
/* Puts IPv4 addresses before IPv6 ones, keeping each family's order. */
void gw_resolver_order(struct gw_resolver_addresses *addresses_ptr);
/* "A, B" (IPv6 in brackets, ports included) into buf; this size holds
 * GW_RESOLVER_ADDRESSES_MAX of them. */
#define GW_RESOLVER_FORMAT_MAX 640
void gw_resolver_format(const struct gw_resolver_addresses *addresses_ptr, char *buf, size_t len);

/* ---- reader side: kernels ---- */

/* Consistent copy of an entry. 0 and *seq_ptr, or -1 if every try was torn
 * or a write was in progress (the caller keeps what it had). */
int gw_resolver_read(const struct gw_resolver_entry *entry_ptr, struct gw_resolver_addresses *out_ptr,
		     uint32_t *seq_ptr);

void gw_resolver_view_init(struct gw_resolver_view *view_ptr, const struct gw_resolver_entry *entry_ptr);
/* Brings the view up to date; the number of addresses picks rotate over. */
int gw_resolver_view_refresh(struct gw_resolver_view *view_ptr);
/* The next address in rotation (valid until the next refresh), or NULL
 * when the view has none. */
const struct sockaddr *gw_resolver_view_next(struct gw_resolver_view *view_ptr, socklen_t *len_ptr);
/* Address number `turn` modulo the usable ones, without moving the
 * rotation (health checks); NULL when the view has none. */
const struct sockaddr *gw_resolver_view_at(const struct gw_resolver_view *view_ptr, unsigned turn, socklen_t *len_ptr);

#endif
