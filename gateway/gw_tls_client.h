#ifndef GW_TLS_CLIENT_H
#define GW_TLS_CLIENT_H

/* gw_tls_client: TLS to one upstream, the gateway as the client: one
 * BoringSSL context with the upstream's settings (docs/config.md,
 * "upstreams.NAME.tls"), the name each endpoint is verified against and
 * sent as SNI, and the last session each endpoint gave, to resume with.
 * Each kernel makes its own (its sessions are its own).
 *
 * Defaults: the upstream's certificate is verified, against the system
 * store unless a CA file is named; the name checked is the endpoint's
 * host (a DNS name, or an IP address matched against the certificate's IP
 * names), or `server_name` for all endpoints; TLS 1.2 and 1.3 only; ALPN
 * "http/1.1". */

#include <stddef.h>

struct gw_tls_client;
struct gw_config_upstream;
struct gw_config_upstream_tls;
struct gw_diag;
struct vk_zone;

/* The kernel's memory for TLS to upstreams: what BoringSSL allocates for
 * upstream connections (which the pool keeps past the connection that
 * opened them) and for the contexts' sessions. One zone per kernel, made
 * with the upstreams, room for `connections` at
 * GW_TLS_CLIENT_CONNECTION_BYTES each, in one mapping whose pages are
 * touched only as they are used; resident (vk_malloc.h), so a free finds
 * it from anywhere. NULL (errno set) if it cannot be mapped. */
#define GW_TLS_CLIENT_CONNECTION_BYTES (64 * 1024)
struct vk_zone *gw_tls_client_zone_open(size_t connections);
/* After every context and connection that used it is gone. Takes NULL. */
void gw_tls_client_zone_close(struct vk_zone *zone_ptr);

/* The context for `upstream_ptr`'s "tls" object, its connections' memory
 * from zone_ptr (NULL: libc's heap), or NULL with a message naming the
 * file or setting at fault in `error`. */
struct gw_tls_client *gw_tls_client_create(const struct gw_config_upstream *upstream_ptr, struct vk_zone *zone_ptr,
					   char *error, size_t error_len);
void gw_tls_client_destroy(struct gw_tls_client *client_ptr);

/* The configuration loader's check of an upstream's "tls" object
 * (config/gw_config_tls.h). */
int gw_tls_client_check_config(const struct gw_config_upstream_tls *config_ptr, struct gw_diag *diag_ptr);

#endif
