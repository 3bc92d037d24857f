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

/* The context for `upstream_ptr`'s "tls" object, or NULL with a message
 * naming the file or setting at fault in `error`. */
struct gw_tls_client *gw_tls_client_create(const struct gw_config_upstream *upstream_ptr, char *error,
					   size_t error_len);
void gw_tls_client_destroy(struct gw_tls_client *client_ptr);

/* The configuration loader's check of an upstream's "tls" object
 * (config/gw_config_tls.h). */
int gw_tls_client_check_config(const struct gw_config_upstream_tls *config_ptr, struct gw_diag *diag_ptr);

#endif
