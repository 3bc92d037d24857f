/* gw_tls_stream: TLS as the transform of a connection's socket
 * (gw_tls_stream.h). Reads decrypt into the rx ring until it is full or
 * BoringSSL would block; writes encrypt what the tx ring holds. Whichever
 * way BoringSSL would block (a read that must send a handshake message, a
 * write that must wait for the peer's flight) is what the thread waits for.
 *
 * BoringSSL keeps an error queue per thread, shared by every connection of
 * the kernel: it is emptied after every call that failed, so one
 * connection's error never shows in another's SSL_get_error.
 *
 * Memory: every call into BoringSSL for a stream runs in the stream's
 * zone (vk_malloc.h), so what BoringSSL allocates for it (the SSL, its
 * record buffers, the handshake's state, the client's certificate) comes
 * from there. A listener connection's zone is a region of its own heap,
 * hidden with it while other connections run; an upstream connection's
 * is the kernel's (gw_tls_client.h), as the pool keeps it past the
 * connection that opened it. The error queue is emptied before each call
 * leaves the zone, so nothing of one zone is left in the kernel's. */
#include "gw_tls_stream.h"
#include "gw_tls_stream_s.h"
#include "gw_tls.h"
#include "gw_tls_s.h"
#include "gw_tls_client_s.h"
#include "gw_config.h"
#include "gw_config_s.h"

#include "vk_malloc.h"
#include "vk_pipe.h"
#include "vk_pipe_s.h"
#include "vk_socket.h"
#include "vk_sys.h"
#include "vk_vectoring.h"
#include "vk_zone.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "gw_exchange.h"
#include "gw_stats.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

/* ---- the BIO ----
 *
 * BoringSSL asks for a record's 5-byte header, then for its body: read
 * as asked, that is two recvs per record, and a third that finds nothing
 * once the last record is in. So reads go ahead: a small ask is met from
 * one recv of up to GW_TLS_READ_AHEAD bytes (a large one goes straight
 * into BoringSSL's buffer), and a recv that came back short says the
 * socket is empty (unless the poller saw the peer hang up): until the
 * transform is called again (after the poller reports more, or to try
 * anew), a read waits without a syscall. Writes
 * are one send each. The BIO's data is its stream (NULL while a kept
 * connection waits in the pool: nothing is read or written then). */

static BIO_METHOD *fd_method;

static int fd_of(const struct gw_tls_stream *stream_ptr)
{
	return vk_socket_rx_fd(stream_ptr->socket_ptr);
}

/* recv() into buf: n, or -1 with the BIO told to retry on EAGAIN. */
static ssize_t receive(BIO *bio_ptr, struct gw_tls_stream *stream_ptr, void *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(fd_of(stream_ptr), buf, len, 0);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		BIO_set_retry_read(bio_ptr);
	else if (n > 0 && (size_t)n < len && !vk_vectoring_hup_seen(vk_socket_rx(stream_ptr->socket_ptr)))
		/* As vkern deduces for plain sockets: not after a hang-up,
		 * whose edge may have come with these bytes. */
		stream_ptr->rx_drained = 1;
	return n;
}

static int bio_read(BIO *bio_ptr, char *buf, int len)
{
	struct gw_tls_stream *stream_ptr = BIO_get_data(bio_ptr);
	ssize_t n;

	BIO_clear_retry_flags(bio_ptr);
	if (!stream_ptr || len <= 0)
		return -1;
	if (stream_ptr->ahead_len == 0) {
		if (stream_ptr->rx_drained) {
			BIO_set_retry_read(bio_ptr);
			errno = EAGAIN;
			return -1;
		}
		if ((size_t)len >= sizeof(stream_ptr->ahead))
			return (int)receive(bio_ptr, stream_ptr, buf, (size_t)len);
		n = receive(bio_ptr, stream_ptr, stream_ptr->ahead, sizeof(stream_ptr->ahead));
		if (n <= 0)
			return (int)n;
		stream_ptr->ahead_off = 0;
		stream_ptr->ahead_len = (uint16_t)n;
	}
	n = len < stream_ptr->ahead_len ? len : stream_ptr->ahead_len;
	memcpy(buf, stream_ptr->ahead + stream_ptr->ahead_off, (size_t)n);
	stream_ptr->ahead_off += (uint16_t)n;
	stream_ptr->ahead_len -= (uint16_t)n;
	return (int)n;
}

static int bio_write(BIO *bio_ptr, const char *buf, int len)
{
	struct gw_tls_stream *stream_ptr = BIO_get_data(bio_ptr);
	ssize_t n;

	BIO_clear_retry_flags(bio_ptr);
	if (!stream_ptr)
		return -1;
	do
		n = send(fd_of(stream_ptr), buf, (size_t)len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		BIO_set_retry_write(bio_ptr);
	return (int)n;
}

static long bio_ctrl(BIO *bio_ptr, int cmd, long num, void *ptr)
{
	(void)bio_ptr;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int gw_tls_stream_prepare(void)
{
	uint8_t byte;

	if (fd_method)
		return 0;
	/* The thread's error queue and random generator, and libc's time
	 * zone (certificate times are checked), are made on first use: here,
	 * in the kernel's memory, not in a connection's zone. */
	tzset();
	ERR_clear_error();
	if (!RAND_bytes(&byte, 1))
		return -1;
	fd_method = BIO_meth_new(BIO_TYPE_SOCKET, "vkgw fd");
	if (!fd_method || !BIO_meth_set_read(fd_method, bio_read) || !BIO_meth_set_write(fd_method, bio_write) ||
	    !BIO_meth_set_ctrl(fd_method, bio_ctrl))
		return -1;
	return 0;
}

/* ---- the transform ---- */

static void note(struct gw_tls_stream *stream_ptr, const char *reason)
{
	if (!stream_ptr->failure)
		stream_ptr->failure = reason;
}

/* The kind of a protocol failure, from BoringSSL's error code. */
static int failure_kind_of(unsigned long code)
{
	int reason = ERR_GET_REASON(code);

	if (ERR_GET_LIB(code) != ERR_LIB_SSL)
		return GW_TLS_FAIL_PROTOCOL;
	if (reason >= SSL_AD_REASON_OFFSET)
		return GW_TLS_FAIL_CLIENT_ALERT; /* the peer sent an alert */
	switch (reason) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_UNKNOWN_PROTOCOL:
		return GW_TLS_FAIL_NOT_TLS;
	case SSL_R_UNSUPPORTED_PROTOCOL:
		return GW_TLS_FAIL_VERSION;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SHARED_GROUP:
	case SSL_R_NO_CIPHERS_AVAILABLE:
		return GW_TLS_FAIL_NO_SHARED_CIPHER;
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		return GW_TLS_FAIL_NO_CLIENT_CERTIFICATE;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		return GW_TLS_FAIL_BAD_CLIENT_CERTIFICATE;
	case SSL_R_NO_APPLICATION_PROTOCOL:
		return GW_TLS_FAIL_ALPN;
	default:
		return GW_TLS_FAIL_PROTOCOL;
	}
}

/* Why a BoringSSL call that returned n <= 0 stopped: the fd events it
 * waits for (VK_EV_IN, VK_EV_OUT), 0 at the peer's end (its close_notify,
 * or a close without one), or -errno (EPROTO: the protocol failed, and why
 * is noted). The error queue is emptied. Reads, writes and handshake
 * steps all ask here. */
static int why_stopped(struct gw_tls_stream *stream_ptr, int n)
{
	int saved_errno = errno;
	int err = SSL_get_error(stream_ptr->ssl_ptr, n);
	unsigned long code = ERR_peek_last_error();

	ERR_clear_error();
	switch (err) {
	case SSL_ERROR_WANT_READ:
		return VK_EV_IN;
	case SSL_ERROR_WANT_WRITE:
		return VK_EV_OUT;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		/* n == 0: the peer closed without close_notify. What was cut
		 * short the HTTP framing tells. */
		return n == 0 ? 0 : -(saved_errno ? saved_errno : EPIPE);
	default:
		note(stream_ptr, code ? ERR_reason_error_string(code) : "TLS protocol error");
		if (stream_ptr->failure_kind < 0)
			stream_ptr->failure_kind = failure_kind_of(code);
		return -EPROTO;
	}
}

/* A read or write that stopped, on the contract of
 * vk_vectoring_recv_fd/send_fd: the ring marked blocked (what it waits for
 * in *waits_ptr) and -1 with EAGAIN, at its end (a read: 0), or failed
 * (-1 with errno). */
static long stopped(struct gw_tls_stream *stream_ptr, struct vk_vectoring *ring_ptr, int n, int *waits_ptr, int reading)
{
	int why = why_stopped(stream_ptr, n);

	if (why > 0) {
		*waits_ptr = why;
		vk_vectoring_set_blocked(ring_ptr, 1);
		errno = EAGAIN;
		return -1;
	}
	if (why == 0 && reading) {
		vk_vectoring_set_eof(ring_ptr);
		return 0;
	}
	errno = why == 0 ? EPIPE : -why;
	vk_vectoring_set_error(ring_ptr, errno);
	return -1;
}

static long receive_records(struct gw_tls_stream *stream_ptr, struct vk_vectoring *ring_ptr)
{
	long total = 0;

	stream_ptr->rx_drained = 0; /* called again: the socket may have more */
	for (;;) {
		struct iovec iov[2];
		long rc;
		int n;

		if (vk_vectoring_space_iov(ring_ptr, iov) == 0)
			return total;
		n = SSL_read(stream_ptr->ssl_ptr, iov[0].iov_base,
			     iov[0].iov_len > INT_MAX ? INT_MAX : (int)iov[0].iov_len);
		if (n > 0) {
			vk_vectoring_produced(ring_ptr, (size_t)n);
			total += n;
			continue;
		}
		rc = stopped(stream_ptr, ring_ptr, n, &stream_ptr->rx_waits, 1);
		if (total == 0)
			return rc;
		/* Bytes came first: they are this call's result, and what
		 * stopped it is found again by the next one. */
		vk_vectoring_set_blocked(ring_ptr, 0);
		return total;
	}
}

static long send_records(struct gw_tls_stream *stream_ptr, struct vk_vectoring *ring_ptr)
{
	long total = 0;

	for (;;) {
		struct iovec iov[2];
		long rc;
		int n;

		if (vk_vectoring_data_iov(ring_ptr, iov) == 0) {
			vk_vectoring_set_blocked(ring_ptr, 0);
			return total;
		}
		n = SSL_write(stream_ptr->ssl_ptr, iov[0].iov_base,
			      iov[0].iov_len > INT_MAX ? INT_MAX : (int)iov[0].iov_len);
		if (n > 0) {
			vk_vectoring_consumed(ring_ptr, (size_t)n);
			total += n;
			continue;
		}
		rc = stopped(stream_ptr, ring_ptr, n, &stream_ptr->tx_waits, 0);
		/* Partly sent: the rest waits as the ring is marked. */
		return total ? total : rc;
	}
}

/* BoringSSL's calls for a stream run between these two (see "Memory"
 * above). */
static struct vk_zone *enter_zone(const struct gw_tls_stream *stream_ptr)
{
	return vk_malloc_enter(stream_ptr->zone_ptr);
}

static void leave_zone(struct vk_zone *previous_ptr)
{
	int saved_errno = errno;

	/* Not only when an error is queued: the data of one already taken
	 * waits in the queue too. */
	ERR_clear_error();
	vk_malloc_leave(previous_ptr);
	errno = saved_errno;
}

static long tls_recv(void *ctx_ptr, int fd, struct vk_vectoring *ring_ptr)
{
	struct vk_zone *previous_ptr = enter_zone(ctx_ptr);
	long n = receive_records(ctx_ptr, ring_ptr);

	(void)fd;
	leave_zone(previous_ptr);
	return n;
}

static long tls_send(void *ctx_ptr, int fd, struct vk_vectoring *ring_ptr)
{
	struct vk_zone *previous_ptr = enter_zone(ctx_ptr);
	long n = send_records(ctx_ptr, ring_ptr);

	(void)fd;
	leave_zone(previous_ptr);
	return n;
}

static int tls_waits_for(void *ctx_ptr, int direction)
{
	struct gw_tls_stream *stream_ptr = ctx_ptr;

	return direction == VK_EV_IN ? stream_ptr->rx_waits : stream_ptr->tx_waits;
}

/* ---- the client's certificate ---- */

/* Appends text to buf (of cap bytes, NUL-terminated) if all of it fits. */
static void append(char *buf, size_t cap, const char *text, size_t len)
{
	size_t used = strlen(buf);

	if (len < cap - used) {
		memcpy(buf + used, text, len);
		buf[used + len] = '\0';
	}
}

/* A name that can go in a header as it is: visible ASCII, no separator
 * of the combined value. */
static int plain_name(const unsigned char *name, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (name[i] <= 0x20 || name[i] >= 0x7f || name[i] == ',' || name[i] == ';' || name[i] == '"')
			return 0;
	return len > 0;
}

static void read_names(struct gw_tls_stream *stream_ptr, X509 *cert_ptr)
{
	GENERAL_NAMES *names_ptr = X509_get_ext_d2i(cert_ptr, NID_subject_alt_name, NULL, NULL);

	for (size_t i = 0; names_ptr && i < sk_GENERAL_NAME_num(names_ptr); i++) {
		const GENERAL_NAME *name_ptr = sk_GENERAL_NAME_value(names_ptr, i);
		const char *kind = name_ptr->type == GEN_DNS	 ? "DNS"
				   : name_ptr->type == GEN_URI	 ? "URI"
				   : name_ptr->type == GEN_EMAIL ? "EMAIL"
								 : NULL;
		const ASN1_STRING *text_ptr = name_ptr->d.ia5;
		char part[300];
		int len;

		if (!kind || !plain_name(ASN1_STRING_get0_data(text_ptr), (size_t)ASN1_STRING_length(text_ptr)))
			continue;
		len = snprintf(part, sizeof(part), "%s%s:%.*s", stream_ptr->client_names[0] ? "," : "", kind,
			       ASN1_STRING_length(text_ptr), (const char *)ASN1_STRING_get0_data(text_ptr));
		if (len > 0 && (size_t)len < sizeof(part))
			append(stream_ptr->client_names, sizeof(stream_ptr->client_names), part, (size_t)len);
		if (len > 0 && (size_t)len < sizeof(part) && name_ptr->type != GEN_EMAIL) {
			/* ";URI=x" or ";DNS=x" in the combined value */
			len = snprintf(part, sizeof(part), ";%s=%.*s", kind, ASN1_STRING_length(text_ptr),
				       (const char *)ASN1_STRING_get0_data(text_ptr));
			append(stream_ptr->client_cert, sizeof(stream_ptr->client_cert), part, (size_t)len);
		}
	}
	GENERAL_NAMES_free(names_ptr);
}

static void read_subject(struct gw_tls_stream *stream_ptr, X509 *cert_ptr)
{
	BIO *bio_ptr = BIO_new(BIO_s_mem());
	int len;

	if (!bio_ptr)
		return;
	/* RFC 2253 escapes control and non-ASCII bytes: the text is a valid
	 * field value. */
	if (X509_NAME_print_ex(bio_ptr, X509_get_subject_name(cert_ptr), 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_read(bio_ptr, stream_ptr->client_subject, sizeof(stream_ptr->client_subject) - 1);
		stream_ptr->client_subject[len > 0 ? len : 0] = '\0';
	}
	BIO_free(bio_ptr);
}

/* After the handshake: what the client's verified certificate says. */
static void read_client_certificate(struct gw_tls_stream *stream_ptr)
{
	X509 *cert_ptr = SSL_get_peer_certificate(stream_ptr->ssl_ptr);
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned digest_len = 0;
	char part[sizeof(stream_ptr->client_subject) * 2 + 16];
	size_t n = 0;

	if (!cert_ptr || SSL_get_verify_result(stream_ptr->ssl_ptr) != X509_V_OK ||
	    !X509_digest(cert_ptr, EVP_sha256(), digest, &digest_len)) {
		X509_free(cert_ptr);
		ERR_clear_error();
		return;
	}
	for (unsigned i = 0; i < digest_len && i < 32; i++)
		snprintf(stream_ptr->client_sha256 + 2 * i, 3, "%02x", digest[i]);
	read_subject(stream_ptr, cert_ptr);
	/* Hash=...;Subject="..." with '"' and '\' escaped, then the names. */
	n = (size_t)snprintf(part, sizeof(part), "Hash=%s;Subject=\"", stream_ptr->client_sha256);
	for (const char *p = stream_ptr->client_subject; *p && n + 3 < sizeof(part); p++) {
		if (*p == '"' || *p == '\\')
			part[n++] = '\\';
		part[n++] = *p;
	}
	part[n++] = '"';
	append(stream_ptr->client_cert, sizeof(stream_ptr->client_cert), part, n);
	read_names(stream_ptr, cert_ptr);
	X509_free(cert_ptr);
	ERR_clear_error();
}

int gw_tls_stream_value(const struct gw_tls_stream *stream_ptr, const char *name, size_t name_len,
			const char **value_ptr, size_t *value_len_ptr)
{
	static const char prefix[] = "tls.client.";
	const char *field = name + sizeof(prefix) - 1;
	size_t field_len = name_len - (sizeof(prefix) - 1);

	if (!stream_ptr->client_cert[0] || name_len < sizeof(prefix) || memcmp(name, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	if (field_len == 7 && memcmp(field, "subject", 7) == 0)
		*value_ptr = stream_ptr->client_subject;
	else if (field_len == 5 && memcmp(field, "names", 5) == 0)
		*value_ptr = stream_ptr->client_names;
	else if (field_len == 6 && memcmp(field, "sha256", 6) == 0)
		*value_ptr = stream_ptr->client_sha256;
	else if (field_len == 4 && memcmp(field, "cert", 4) == 0)
		*value_ptr = stream_ptr->client_cert;
	else
		return 0;
	*value_len_ptr = strlen(*value_ptr);
	return 1;
}

int gw_tls_stream_attach(const struct gw_tls_stream *stream_ptr, struct gw_exchange *exchange_ptr)
{
	if (!stream_ptr->client_cert[0])
		return 0;
	if (gw_exchange_set_value(exchange_ptr, "tls.client.subject", stream_ptr->client_subject,
				  strlen(stream_ptr->client_subject)) == -1 ||
	    gw_exchange_set_value(exchange_ptr, "tls.client.names", stream_ptr->client_names,
				  strlen(stream_ptr->client_names)) == -1 ||
	    gw_exchange_set_value(exchange_ptr, "tls.client.sha256", stream_ptr->client_sha256,
				  strlen(stream_ptr->client_sha256)) == -1 ||
	    gw_exchange_set_value(exchange_ptr, GW_TLS_CLIENT_CERT_VALUE, stream_ptr->client_cert,
				  strlen(stream_ptr->client_cert)) == -1)
		return -1;
	return 0;
}

/* Why an upstream's certificate did not verify, in words for the 502's
 * body (static); NULL: BoringSSL's words for the rest. */
static const char *verify_failure(long result)
{
	switch (result) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "TLS to the upstream: its certificate does not name it";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
		return "TLS to the upstream: its certificate is not signed by a trusted CA";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "TLS to the upstream: its certificate has expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "TLS to the upstream: its certificate is not valid yet";
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		return "TLS to the upstream: its certificate chain is longer than verify_depth";
	default:
		return NULL;
	}
}

static int handshake_step(struct gw_tls_stream *stream_ptr)
{
	long verified;
	int n, why;

	stream_ptr->rx_drained = 0;
	n = SSL_do_handshake(stream_ptr->ssl_ptr);
	if (n == 1) {
		if (stream_ptr->tls_ptr)
			read_client_certificate(stream_ptr);
		return 0;
	}
	/* Read before why_stopped notes BoringSSL's reason: a certificate
	 * that did not verify is the better one. (Until a certificate is
	 * verified the result is X509_V_ERR_INVALID_CALL.) */
	verified = stream_ptr->client_ptr && stream_ptr->client_ptr->config_ptr->verify
			   ? SSL_get_verify_result(stream_ptr->ssl_ptr)
			   : X509_V_OK;
	why = why_stopped(stream_ptr, n);
	if (why > 0)
		return stream_ptr->rx_waits = why;
	if (verified != X509_V_OK && verified != X509_V_ERR_INVALID_CALL && why == -EPROTO) {
		snprintf(stream_ptr->failure_text, sizeof(stream_ptr->failure_text),
			 "TLS to the upstream: its certificate did not verify: %s",
			 X509_verify_cert_error_string(verified));
		stream_ptr->failure = verify_failure(verified) ? verify_failure(verified) : stream_ptr->failure_text;
	}
	if (why == 0) {
		note(stream_ptr, stream_ptr->client_ptr
					 ? "TLS to the upstream: it closed the connection in the handshake"
					 : "the client closed the connection during the handshake");
		return -ECONNRESET;
	}
	if (why != -EPROTO)
		note(stream_ptr, stream_ptr->client_ptr ? "TLS to the upstream: the connection failed in the handshake"
							: "the connection failed during the handshake");
	else if (stream_ptr->client_ptr && stream_ptr->failure && strncmp(stream_ptr->failure, "TLS to", 6) != 0) {
		/* BoringSSL's reason ("WRONG_VERSION_NUMBER": plain HTTP came
		 * back) says more than anything else here. */
		snprintf(stream_ptr->failure_text, sizeof(stream_ptr->failure_text),
			 "TLS to the upstream: the handshake failed: %s", stream_ptr->failure);
		stream_ptr->failure = stream_ptr->failure_text;
	}
	return why;
}

static int tls_handshake(void *ctx_ptr, int fd)
{
	struct vk_zone *previous_ptr = enter_zone(ctx_ptr);
	int rc = handshake_step(ctx_ptr);

	(void)fd;
	leave_zone(previous_ptr);
	return rc;
}

static const struct vk_transform_ops tls_ops = {
	.recv = tls_recv,
	.send = tls_send,
	.waits_for = tls_waits_for,
	.handshake = tls_handshake,
};

/* ---- the stream ---- */

size_t gw_tls_stream_size(void)
{
	return sizeof(struct gw_tls_stream);
}

/* A stream starts: fresh fields, the SSL on the socket's fd, and the
 * transform on both pipes. */
static void start(struct gw_tls_stream *stream_ptr, SSL *ssl_ptr, struct vk_socket *socket_ptr)
{
	/* Not the whole struct: the certificate's buffers need only their
	 * first byte. */
	stream_ptr->failure = NULL;
	stream_ptr->failure_kind = -1;
	stream_ptr->client_subject[0] = '\0';
	stream_ptr->client_names[0] = '\0';
	stream_ptr->client_sha256[0] = '\0';
	stream_ptr->client_cert[0] = '\0';
	stream_ptr->rx_waits = VK_EV_IN;
	stream_ptr->tx_waits = VK_EV_OUT;
	stream_ptr->socket_ptr = socket_ptr;
	stream_ptr->ssl_ptr = ssl_ptr;
	stream_ptr->ahead_off = 0;
	stream_ptr->ahead_len = 0;
	stream_ptr->rx_drained = 0;
	BIO_set_data(SSL_get_rbio(ssl_ptr), stream_ptr);
	SSL_set_app_data(ssl_ptr, stream_ptr);
	vk_pipe_set_transform(vk_socket_rx_pipe(socket_ptr), &tls_ops, stream_ptr);
	vk_pipe_set_transform(vk_socket_tx_pipe(socket_ptr), &tls_ops, stream_ptr);
}

/* A new SSL on `ctx_ptr` with the fd BIO (its fd set by start), or NULL. */
static SSL *new_ssl(SSL_CTX *ctx_ptr)
{
	SSL *ssl_ptr = SSL_new(ctx_ptr);
	BIO *bio_ptr = ssl_ptr ? BIO_new(fd_method) : NULL;

	if (!bio_ptr) {
		SSL_free(ssl_ptr);
		ERR_clear_error();
		return NULL;
	}
	BIO_set_init(bio_ptr, 1);
	SSL_set_bio(ssl_ptr, bio_ptr, bio_ptr);
	return ssl_ptr;
}

/* ---- whose memory ----
 *
 * The stream's end frees its SSL. A process that faults does not end its
 * streams (its heap is not to be trusted then), so what they hold outside
 * the heap is given back by the kernel's close hook of their fd, whose
 * context is kernel memory. A listener connection's SSL lives in its heap
 * and goes with it; the hook gives back the listener's contexts and the
 * count of live TLS connections (and frees the SSL where malloc is not
 * routed, so it is not in the heap). (BoringSSL's own references to the
 * shared contexts, which only SSL_free drops, stay taken then: a context
 * a reload replaced is not freed after such a fault.) An upstream
 * connection's SSL is in the kernel's zone: the hook frees it. */

static void released_on_close(void *ctx_ptr, int fd)
{
	(void)fd;
	gw_tls_release(ctx_ptr);
	gw_stats_tls_connection(-1);
}

/* Where malloc is not routed (under AddressSanitizer), a listener
 * connection's SSL is libc's, outside the heap: the hook frees it too. */
static void freed_and_released_on_close(void *ctx_ptr, int fd)
{
	SSL *ssl_ptr = ctx_ptr;
	struct gw_tls *tls_ptr = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl_ptr));

	SSL_free(ssl_ptr);
	ERR_clear_error();
	released_on_close(tls_ptr, fd);
}

static void freed_on_close(void *ctx_ptr, int fd)
{
	(void)fd;
	gw_tls_stream_discard(ctx_ptr);
}

/* Without a kernel (a test harness), or on an fd the process does not
 * own (a health check's), there is no hook. */
static void hook(struct gw_tls_stream *stream_ptr, void (*fn)(void *ctx_ptr, int fd), void *ctx_ptr)
{
	stream_ptr->hook_fd = vk_socket_rx_fd(stream_ptr->socket_ptr);
	/* the state's slot: the pool's hook, which counts the connection
	 * against max_connections, stays */
	stream_ptr->hooked = vk_sys_kernel_index() >= 0 && vk_sys_on_close_state(stream_ptr->hook_fd, fn, ctx_ptr) == 0;
}

static void unhook(struct gw_tls_stream *stream_ptr)
{
	if (stream_ptr->hooked)
		vk_sys_on_close_state(stream_ptr->hook_fd, NULL, NULL);
	stream_ptr->hooked = 0;
}

int gw_tls_stream_accept(struct gw_tls_stream *stream_ptr, struct gw_tls *tls_ptr, struct vk_socket *socket_ptr,
			 void *zone_region_ptr, size_t zone_len)
{
	struct vk_zone *previous_ptr;
	SSL *ssl_ptr;

	vk_zone_init(&stream_ptr->own_zone, zone_region_ptr, zone_len);
	stream_ptr->zone_ptr = &stream_ptr->own_zone;
	previous_ptr = enter_zone(stream_ptr);
	ssl_ptr = new_ssl(tls_ptr->initial_ctx_ptr);
	leave_zone(previous_ptr);
	stream_ptr->ssl_ptr = NULL;
	if (!ssl_ptr)
		return -1;
	SSL_set_accept_state(ssl_ptr);
	stream_ptr->tls_ptr = tls_ptr;
	stream_ptr->client_ptr = NULL;
	stream_ptr->endpoint = -1;
	gw_tls_hold(tls_ptr);
	gw_stats_tls_connection(1);
	start(stream_ptr, ssl_ptr, socket_ptr);
	if (vk_malloc_routes())
		hook(stream_ptr, released_on_close, tls_ptr);
	else
		hook(stream_ptr, freed_and_released_on_close, ssl_ptr);
	return 0;
}

/* The endpoint's name on a new client SSL: SNI (not for an address) and
 * what its certificate is verified against. 1, or 0. */
static int name_endpoint(SSL *ssl_ptr, const struct gw_tls_client_endpoint *endpoint_ptr)
{
	X509_VERIFY_PARAM *param_ptr = SSL_get0_param(ssl_ptr);

	if (endpoint_ptr->is_address)
		return X509_VERIFY_PARAM_set1_ip_asc(param_ptr, endpoint_ptr->name);
	return SSL_set_tlsext_host_name(ssl_ptr, endpoint_ptr->name) &&
	       X509_VERIFY_PARAM_set1_host(param_ptr, endpoint_ptr->name, strlen(endpoint_ptr->name));
}

/* A client SSL to the endpoint, offering its last session, or NULL. */
static SSL *new_client_ssl(struct gw_tls_client *client_ptr, int endpoint)
{
	struct gw_tls_client_endpoint *endpoint_ptr = &client_ptr->endpoints_ptr[endpoint];
	SSL *ssl_ptr = new_ssl(client_ptr->ctx_ptr);

	if (!ssl_ptr)
		return NULL;
	SSL_set_connect_state(ssl_ptr);
	if (!name_endpoint(ssl_ptr, endpoint_ptr)) {
		SSL_free(ssl_ptr);
		return NULL;
	}
	if (endpoint_ptr->session) {
		SSL_set_session(ssl_ptr, endpoint_ptr->session);
		/* A TLS 1.3 ticket is used once: the next connection waits for
		 * the ticket this one gets. */
		if (SSL_SESSION_should_be_single_use(endpoint_ptr->session)) {
			SSL_SESSION_free(endpoint_ptr->session);
			endpoint_ptr->session = NULL;
		}
	}
	return ssl_ptr;
}

/* A client stream's fields, before start. */
static void set_client(struct gw_tls_stream *stream_ptr, struct gw_tls_client *client_ptr, int endpoint)
{
	stream_ptr->zone_ptr = client_ptr->zone_ptr;
	stream_ptr->tls_ptr = NULL;
	stream_ptr->client_ptr = client_ptr;
	stream_ptr->endpoint = endpoint;
}

int gw_tls_stream_connect(struct gw_tls_stream *stream_ptr, struct gw_tls_client *client_ptr, int endpoint,
			  struct vk_socket *socket_ptr)
{
	struct vk_zone *previous_ptr;
	SSL *ssl_ptr;

	set_client(stream_ptr, client_ptr, endpoint);
	previous_ptr = enter_zone(stream_ptr);
	ssl_ptr = new_client_ssl(client_ptr, endpoint);
	leave_zone(previous_ptr);
	stream_ptr->ssl_ptr = NULL;
	if (!ssl_ptr)
		return -1;
	start(stream_ptr, ssl_ptr, socket_ptr);
	hook(stream_ptr, freed_on_close, ssl_ptr);
	return 0;
}

/* The stream lets go of its SSL, which points back at it no more, and its
 * socket is plain again: the SSL is returned, to be kept or freed. */
static SSL *let_go(struct gw_tls_stream *stream_ptr)
{
	SSL *ssl_ptr = stream_ptr->ssl_ptr;

	SSL_set_app_data(ssl_ptr, NULL);
	BIO_set_data(SSL_get_rbio(ssl_ptr), NULL);
	stream_ptr->ssl_ptr = NULL;
	vk_pipe_set_transform(vk_socket_rx_pipe(stream_ptr->socket_ptr), NULL, NULL);
	vk_pipe_set_transform(vk_socket_tx_pipe(stream_ptr->socket_ptr), NULL, NULL);
	return ssl_ptr;
}

void *gw_tls_stream_keep(struct gw_tls_stream *stream_ptr)
{
	if (!stream_ptr->ssl_ptr)
		return NULL;
	unhook(stream_ptr); /* the pool's now */
	return let_go(stream_ptr);
}

void gw_tls_stream_resume(struct gw_tls_stream *stream_ptr, struct gw_tls_client *client_ptr, int endpoint,
			  void *kept_ptr, struct vk_socket *socket_ptr)
{
	set_client(stream_ptr, client_ptr, endpoint);
	start(stream_ptr, kept_ptr, socket_ptr);
	hook(stream_ptr, freed_on_close, kept_ptr);
}

int gw_tls_stream_running(const struct gw_tls_stream *stream_ptr)
{
	return stream_ptr->ssl_ptr != NULL;
}

int gw_tls_stream_quiet(const struct gw_tls_stream *stream_ptr)
{
	return stream_ptr->ssl_ptr && !SSL_has_pending(stream_ptr->ssl_ptr) && stream_ptr->ahead_len == 0;
}

void gw_tls_stream_discard(void *kept_ptr)
{
	SSL *ssl_ptr = kept_ptr;
	struct vk_zone *previous_ptr;

	if (!ssl_ptr)
		return;
	/* No close_notify: its BIO has no stream to write through. A kept
	 * connection is between responses, so nothing is cut short. Its
	 * memory is the kernel's zone, which a free finds from anywhere. */
	previous_ptr = vk_malloc_enter(NULL);
	SSL_free(ssl_ptr);
	leave_zone(previous_ptr);
}

/* A listener connection's end: what its zone still holds once its SSL is
 * freed is counted (nothing should be: a block left is BoringSSL keeping
 * something of this connection in a shared object), and its holds in
 * kernel memory are given back. */
static void end_server(struct gw_tls_stream *stream_ptr)
{
	gw_stats_tls_memory(vk_zone_live(&stream_ptr->own_zone) != 0, vk_zone_refused(&stream_ptr->own_zone));
	gw_tls_release(stream_ptr->tls_ptr);
	gw_stats_tls_connection(-1);
}

void gw_tls_stream_end(struct gw_tls_stream *stream_ptr)
{
	struct vk_zone *previous_ptr;

	if (!stream_ptr->ssl_ptr)
		return;
	unhook(stream_ptr);
	previous_ptr = enter_zone(stream_ptr);
	/* One try, never a wait: a peer that is gone or full goes without. */
	if (SSL_is_init_finished(stream_ptr->ssl_ptr) && vk_socket_rx_fd(stream_ptr->socket_ptr) >= 0)
		SSL_shutdown(stream_ptr->ssl_ptr);
	ERR_clear_error();
	SSL_free(let_go(stream_ptr));
	leave_zone(previous_ptr);
	if (stream_ptr->tls_ptr)
		end_server(stream_ptr);
}

const char *gw_tls_stream_version(const struct gw_tls_stream *stream_ptr)
{
	return stream_ptr->ssl_ptr ? SSL_get_version(stream_ptr->ssl_ptr) : "";
}

const char *gw_tls_stream_cipher(const struct gw_tls_stream *stream_ptr)
{
	const SSL_CIPHER *cipher_ptr = stream_ptr->ssl_ptr ? SSL_get_current_cipher(stream_ptr->ssl_ptr) : NULL;

	return cipher_ptr ? SSL_CIPHER_standard_name(cipher_ptr) : "";
}

const char *gw_tls_stream_server_name(const struct gw_tls_stream *stream_ptr)
{
	const char *name =
		stream_ptr->ssl_ptr ? SSL_get_servername(stream_ptr->ssl_ptr, TLSEXT_NAMETYPE_host_name) : NULL;

	return name ? name : "";
}

int gw_tls_stream_resumed(const struct gw_tls_stream *stream_ptr)
{
	return stream_ptr->ssl_ptr && SSL_session_reused(stream_ptr->ssl_ptr);
}

const char *gw_tls_stream_failure(const struct gw_tls_stream *stream_ptr)
{
	return stream_ptr->failure ? stream_ptr->failure : "";
}

void gw_tls_stream_note_failure(SSL *ssl_ptr, const char *reason, int kind)
{
	struct gw_tls_stream *stream_ptr = SSL_get_app_data(ssl_ptr);

	if (!stream_ptr)
		return;
	note(stream_ptr, reason);
	if (stream_ptr->failure_kind < 0)
		stream_ptr->failure_kind = kind;
}

int gw_tls_stream_failure_kind(const struct gw_tls_stream *stream_ptr, int error)
{
	if (error == ETIMEDOUT)
		return GW_TLS_FAIL_TIMEOUT;
	if (error == ECONNRESET || error == EPIPE || error == ECONNABORTED)
		return GW_TLS_FAIL_CLOSED;
	return stream_ptr->failure_kind >= 0 ? stream_ptr->failure_kind : GW_TLS_FAIL_PROTOCOL;
}
