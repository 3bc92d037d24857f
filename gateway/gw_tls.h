#ifndef GW_TLS_H
#define GW_TLS_H

/* gw_tls: a TLS listener's certificates, as BoringSSL contexts, and the
 * choice among them for each handshake: the certificate whose server name
 * the client asked for (exact before "*.suffix", then a certificate that
 * names none), ECDSA before RSA when the client can verify it. Built once
 * per listener before the kernels start; read-only afterwards, so every
 * kernel shares it (each kernel is a process: its copy).
 *
 * Defaults (docs/config.md, "tls"): TLS 1.2 and 1.3 only, forward-secret
 * AEAD suites, no renegotiation (BoringSSL has none on a server), no
 * compression, no 0-RTT; ALPN "http/1.1", and a fatal
 * no_application_protocol alert for a client that offers only others. */

#include <stddef.h>

struct gw_tls;
struct gw_config_tls;
struct gw_diag;

/* The contexts for `config_ptr`, or NULL with a message naming the file
 * (or setting) at fault in `error`. */
struct gw_tls *gw_tls_create(const struct gw_config_tls *config_ptr, char *error, size_t error_len);
/* A reload's contexts: `config_ptr`'s files read again (their
 * certificates renewed, say), keeping `previous_ptr`'s session ticket
 * secret, so that tickets issued before still resume and every kernel
 * still agrees. NULL with `error` as above: the caller keeps the previous
 * contexts. */
struct gw_tls *gw_tls_reload(const struct gw_config_tls *config_ptr, const struct gw_tls *previous_ptr, char *error,
			     size_t error_len);
/* For a listener a reload opens: its session ticket secret is derived
 * from the root secret and its name, so every kernel derives the same one
 * (gw_tls_root_secret_init, before the kernels fork). NULL with `error`. */
int gw_tls_root_secret_init(void);
struct gw_tls *gw_tls_create_named(const struct gw_config_tls *config_ptr, const char *name, char *error,
				   size_t error_len);
void gw_tls_destroy(struct gw_tls *tls_ptr);

/* Connections hold the contexts they started on: a reload retires the old
 * ones, which go once the last connection holding them has ended (in
 * this kernel: each kernel counts its own). */
void gw_tls_hold(struct gw_tls *tls_ptr);
void gw_tls_release(struct gw_tls *tls_ptr);
void gw_tls_retire(struct gw_tls *tls_ptr);

/* Whether two secrets (an admin token) are equal, in time that does not
 * depend on where they differ (BoringSSL's CRYPTO_memcmp). */
int gw_tls_secret_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/* The configuration loader's check of a "tls" object's files and
 * settings (config/gw_config_tls.h): loads everything once, as the
 * listener would, and reports each problem under its JSON pointer. */
int gw_tls_check_config(const struct gw_config_tls *config_ptr, struct gw_diag *diag_ptr);

#endif
