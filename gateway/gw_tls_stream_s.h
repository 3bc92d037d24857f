#ifndef GW_TLS_STREAM_S_H
#define GW_TLS_STREAM_S_H

#include <openssl/ssl.h>

struct gw_tls_stream {
	SSL *ssl_ptr;
	struct vk_socket *socket_ptr;
	/* The fd events the last read (or handshake step) and the last write
	 * that would block wait for (vk_transform_ops.waits_for). */
	int rx_waits;
	int tx_waits;
	const char *failure; /* a constant: why the handshake failed */
};

#endif
