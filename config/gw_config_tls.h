#ifndef GW_CONFIG_TLS_H
#define GW_CONFIG_TLS_H

/* How the loader checks a listener's certificate and key files without
 * knowing TLS: the layer that does (gateway/gw_tls.c) hands config its
 * checker at start-up, as the gateway's registry hands it the filter
 * types. Until one is set the files are not read at load time, only named.
 *
 * The checker loads each certificate of `tls_ptr` as the listener would
 * and reports what is wrong to `diag_ptr` under the pointer of the member
 * at fault (a certificate's "/cert" or "/key", or the "tls" object's
 * "/ciphers" or "/curves"): 0, or -1 after reporting. */

struct gw_config_tls;
struct gw_diag;

typedef int gw_config_tls_check_fn(const struct gw_config_tls *tls_ptr, struct gw_diag *diag_ptr);

/* Set before any load, before any kernel runs (no lock). */
void gw_config_set_tls_check(gw_config_tls_check_fn *check_fn);

/* The same for an upstream's "tls" object: its CA file (or the system
 * store), client certificate and key, ciphers, reported under their
 * members' pointers ("/ca", "/cert", "/key", "/ciphers"). */
struct gw_config_upstream_tls;
typedef int gw_config_upstream_tls_check_fn(const struct gw_config_upstream_tls *tls_ptr, struct gw_diag *diag_ptr);
void gw_config_set_upstream_tls_check(gw_config_upstream_tls_check_fn *check_fn);

#endif
