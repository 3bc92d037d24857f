#ifndef GW_RESOLVER_PROCESS_H
#define GW_RESOLVER_PROCESS_H

/* The resolver process: the one place getaddrinfo runs. vkgw resolves
 * every DNS endpoint once at start-up (before kernels exist, so the first
 * requests find addresses), then forks this process, which re-resolves
 * each name on its upstream's resolve_interval_ms and writes the results
 * into the shared gw_resolver table. */

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct gw_resolver;
struct gw_resolver_addresses;

/* The IPv4 and IPv6 addresses of `host`, port applied, IPv4 first and
 * without duplicates. 0, or -1 with a static *error_ptr. Blocks. */
int gw_resolver_lookup(const char *host, int port, struct gw_resolver_addresses *out_ptr, const char **error_ptr);

/* Resolves the entries due at now_ns (a name shared by several entries
 * once) and records each result (logging to `log_ptr`); returns when the next
 * entry is due. Entries start due, so the first call resolves them all. */
uint64_t gw_resolver_run_due(struct gw_resolver *resolver_ptr, uint64_t now_ns, FILE *log_ptr);

uint64_t gw_resolver_now_ns(void);

/* Forks the resolver process; its pid, 0 when there is nothing to resolve
 * (yet: a reload that adds a name starts it), -1 on failure. The child
 * closes every descriptor but 0, 1 and 2. It ends with its parent. */
pid_t gw_resolver_process_start(struct gw_resolver *resolver_ptr);
/* Has it resolve the entries added since its last pass now. */
void gw_resolver_process_wake(pid_t pid);
/* Ends it (if it is still this process's child) and reaps it. */
void gw_resolver_process_stop(pid_t pid);

#endif
