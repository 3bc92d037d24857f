#ifndef GW_TLS_STREAM_H
#define GW_TLS_STREAM_H

/* gw_tls_stream: TLS on one connection's socket, as a vkern transform
 * (docs/vkern.md, "Transforms"): the socket's rings hold plaintext, and
 * BoringSSL reads and writes the fd through a BIO that makes one recv or
 * send per call and reports EAGAIN as a retry, so a handshake or a record
 * that would block yields like any other I/O and deductive polling holds.
 * The stream itself lives in the connection's micro-heap, and so does what
 * BoringSSL allocates for a server stream (the SSL, its buffers, the
 * handshake's state): in a zone over a region of the heap the connection
 * gives it. A client stream's BoringSSL memory is the kernel's zone for
 * upstreams (gw_tls_client.h). What a process that faults leaves outside
 * its heap, the kernel gives back when it closes the fd. */

#include <stddef.h>
#include <stdint.h>

struct gw_tls;
struct gw_tls_stream;
struct vk_socket;
typedef struct ssl_st SSL;

/* Once per process, before any stream: the BIO method. 0, or -1. */
int gw_tls_stream_prepare(void);

size_t gw_tls_stream_size(void);
/* The region a server stream's BoringSSL memory comes from. The tests'
 * handshakes (RSA and ECDSA, client certificates, 16 KiB records) peak at
 * 21 KiB, a keep-alive connection between requests holds a few; this is
 * three times that. A connection whose BoringSSL asks for more (a client
 * sending a certificate chain of tens of KiB) fails its handshake,
 * counted in tls.memory.refused. Its pages are touched only as used. */
#define GW_TLS_ZONE_BYTES (64 * 1024)
/* A server-side stream for `tls_ptr`'s listener on the socket's fd, set as
 * the transform of both pipes, whose BoringSSL memory is the zone_len bytes
 * at zone_region_ptr (GW_TLS_ZONE_BYTES, from the connection's heap). 0, or
 * -1 (out of memory). */
int gw_tls_stream_accept(struct gw_tls_stream *stream_ptr, struct gw_tls *tls_ptr, struct vk_socket *socket_ptr,
			 void *zone_region_ptr, size_t zone_len);
/* A client-side stream to endpoint `endpoint` of `client_ptr`'s upstream
 * (gw_tls_client.h) on the socket's fd, connected: its handshake is still
 * to run (vk_handshake_on). It offers the endpoint's last session. 0, or
 * -1 (out of memory). */
struct gw_tls_client;
int gw_tls_stream_connect(struct gw_tls_stream *stream_ptr, struct gw_tls_client *client_ptr, int endpoint,
			  struct vk_socket *socket_ptr);
/* A client-side stream whose connection is kept for another request
 * (the upstream pool): its TLS state, taken from the stream (which ends,
 * plain), to give to gw_tls_stream_resume on the same fd, or to
 * gw_tls_stream_discard. NULL if the stream has none. */
void *gw_tls_stream_keep(struct gw_tls_stream *stream_ptr);
void gw_tls_stream_resume(struct gw_tls_stream *stream_ptr, struct gw_tls_client *client_ptr, int endpoint,
			  void *kept_ptr, struct vk_socket *socket_ptr);
/* Whether the stream has an SSL (started, and not ended or kept). */
int gw_tls_stream_running(const struct gw_tls_stream *stream_ptr);
/* Nothing read from the peer is waiting in BoringSSL (a connection with
 * something unasked is not kept). */
int gw_tls_stream_quiet(const struct gw_tls_stream *stream_ptr);
/* A kept TLS state the pool closes: its memory (no close_notify: the
 * connection is between responses, nothing is cut short). */
void gw_tls_stream_discard(void *kept_ptr);

/* A close_notify if it can go at once, then BoringSSL's memory back, and
 * the socket plain again. Takes a stream never started. */
void gw_tls_stream_end(struct gw_tls_stream *stream_ptr);

/* What the access log records, once the handshake is done: "TLSv1.3",
 * the cipher's standard name, the server name asked for ("" if none), and
 * whether the session was resumed. */
const char *gw_tls_stream_version(const struct gw_tls_stream *stream_ptr);
const char *gw_tls_stream_cipher(const struct gw_tls_stream *stream_ptr);
const char *gw_tls_stream_server_name(const struct gw_tls_stream *stream_ptr);
int gw_tls_stream_resumed(const struct gw_tls_stream *stream_ptr);
/* Why the handshake failed ("" when it did not, or nothing is known). For
 * a client, a certificate that did not verify says why ("the upstream's
 * certificate does not name it", ...). */
const char *gw_tls_stream_failure(const struct gw_tls_stream *stream_ptr);

/* The values the client's verified certificate gives each request on
 * the connection (gw_exchange_set_value), for filters and the route:
 *   tls.client.subject  its subject, RFC 2253 ("CN=client,O=Example")
 *   tls.client.names    its DNS, URI and email names ("DNS:a,URI:spiffe://x")
 *   tls.client.sha256   the SHA-256 of its DER, in hex
 *   tls.client.cert     all of it as one header value:
 *                       Hash=HEX;Subject="...";URI=...;DNS=...
 * Nothing when the client sent none. 0, or -1 with errno (no room). */
#define GW_TLS_CLIENT_CERT_VALUE "tls.client.cert"
/* One of those values by name (for route matching, which runs before the
 * exchange has them): 1 with the value, or 0 (no certificate, or no such
 * name). */
int gw_tls_stream_value(const struct gw_tls_stream *stream_ptr, const char *name, size_t name_len,
			const char **value_ptr, size_t *value_len_ptr);
struct gw_exchange;
int gw_tls_stream_attach(const struct gw_tls_stream *stream_ptr, struct gw_exchange *exchange_ptr);

/* Which enum gw_stats_tls_failure a failed handshake counts under, from
 * the error it raised (a timeout, the client gone) and what BoringSSL
 * said. */
int gw_tls_stream_failure_kind(const struct gw_tls_stream *stream_ptr, int error);

/* From BoringSSL's callbacks: the reason a handshake is about to fail,
 * and its kind (enum gw_stats_tls_failure). */
void gw_tls_stream_note_failure(SSL *ssl_ptr, const char *reason, int kind);

#endif
