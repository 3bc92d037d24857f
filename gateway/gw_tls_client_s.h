#ifndef GW_TLS_CLIENT_S_H
#define GW_TLS_CLIENT_S_H

#include <openssl/ssl.h>

struct gw_config_upstream_tls;

/* One endpoint as TLS sees it. */
struct gw_tls_client_endpoint {
	const char *name;     /* verified (and sent as SNI unless an address) */
	int is_address;	      /* an IP address: no SNI, matched to IP names */
	SSL_SESSION *session; /* the last one it gave, to resume with; NULL: none */
};

struct gw_tls_client {
	SSL_CTX *ctx_ptr;
	struct vk_zone *zone_ptr; /* its connections' BoringSSL memory; NULL: libc's */
	const struct gw_config_upstream_tls *config_ptr;
	struct gw_tls_client_endpoint *endpoints_ptr; /* the upstream's endpoints, in order */
	int endpoint_count;
};

#endif
