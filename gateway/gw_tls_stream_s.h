#ifndef GW_TLS_STREAM_S_H
#define GW_TLS_STREAM_S_H

#include <openssl/ssl.h>

#include "vk_zone_s.h"

#define GW_TLS_CLIENT_SUBJECT_MAX 256
#define GW_TLS_CLIENT_NAMES_MAX 512
#define GW_TLS_CLIENT_CERT_MAX 1024
/* Bytes read ahead of what BoringSSL asks for (gw_tls_stream.c, "The
 * BIO"): a record's header and a usual request's body in one recv. */
#define GW_TLS_READ_AHEAD 2048

struct gw_tls_stream {
	SSL *ssl_ptr;
	/* Where BoringSSL allocates for the stream (gw_tls_stream.c,
	 * "Memory"): a server's own_zone, over the region of the connection's
	 * heap it was given; a client's, the kernel's zone for upstreams
	 * (NULL: libc's heap, as in a test harness). */
	struct vk_zone *zone_ptr;
	struct vk_zone own_zone;
	struct gw_tls *tls_ptr; /* a server's: the contexts it started on, held (gw_tls_hold) */
	/* The kernel's close hook of hook_fd gives back what a process that
	 * faults leaves (gw_tls_stream.c, "Whose memory"). */
	int hooked;
	int hook_fd;
	/* A client's (to an upstream): its context, and the endpoint, whose
	 * sessions it keeps (gw_tls_client_s.h). */
	struct gw_tls_client *client_ptr;
	int endpoint;
	struct vk_socket *socket_ptr;
	/* The fd events the last read (or handshake step) and the last write
	 * that would block wait for (vk_transform_ops.waits_for). */
	int rx_waits;
	int tx_waits;
	/* Read ahead: received, not yet given to BoringSSL. */
	uint16_t ahead_off;
	uint16_t ahead_len;
	/* The last recv came back short: the socket had no more, so the next
	 * read in the same transform call waits without asking again. */
	int rx_drained;
	const char *failure; /* why the handshake failed: a constant, or failure_text */
	char failure_text[128];
	int failure_kind; /* enum gw_stats_tls_failure; -1: not known yet */
	/* The client's verified certificate, read once after the handshake
	 * (empty strings: none): its subject (RFC 2253), its DNS, URI and
	 * email names ("DNS:a,URI:b"), the SHA-256 of its DER in hex, and all
	 * of it as one header value in the style of Envoy's
	 * x-forwarded-client-cert. */
	char client_subject[GW_TLS_CLIENT_SUBJECT_MAX];
	char client_names[GW_TLS_CLIENT_NAMES_MAX];
	char client_sha256[65];
	char client_cert[GW_TLS_CLIENT_CERT_MAX];
	uint8_t ahead[GW_TLS_READ_AHEAD];
};

#endif
