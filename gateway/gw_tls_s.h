#ifndef GW_TLS_S_H
#define GW_TLS_S_H

#include <openssl/ssl.h>

struct gw_config_tls;
struct gw_config_tls_certificate;

/* One certificate and key, in a context of its own with the listener's
 * settings (BoringSSL holds one certificate per key type per context, and
 * two certificates may serve one name). */
struct gw_tls_certificate {
	SSL_CTX *ctx_ptr;
	int is_ecdsa;  /* else RSA */
	int curve_nid; /* an ECDSA key's curve */
	const struct gw_config_tls_certificate *config_ptr;
};

/* The kernel's cache of TLS 1.2 sessions (gw_tls.c, "The session
 * cache"): each slot one session, serialized, found by its ID. */
#define GW_TLS_SESSION_SLOTS 1024
#define GW_TLS_SESSION_BYTES 4000

struct gw_tls_session_slot {
	uint64_t expires; /* wall clock seconds; 0: empty */
	uint8_t id_len;
	uint8_t id[SSL_MAX_SSL_SESSION_ID_LENGTH];
	uint16_t len;
	uint8_t data[GW_TLS_SESSION_BYTES];
};

struct gw_tls {
	const struct gw_config_tls *config_ptr;
	struct gw_tls_certificate *certificates_ptr; /* in the configuration's order */
	int certificate_count;
	/* Every handshake starts on the first certificate's context; its
	 * app data points back here. */
	SSL_CTX *initial_ctx_ptr;
	/* Made before the kernels fork, so every kernel derives the same
	 * session ticket keys from it (gw_tls.c, "Session tickets"). */
	uint8_t ticket_secret[32];
	struct gw_tls_session_slot *sessions_ptr; /* GW_TLS_SESSION_SLOTS */
	int users;				  /* connections of this kernel on these contexts */
	int retired;				  /* a reload replaced them: freed when users drops to 0 */
};

/* What went wrong in the BoringSSL call just made, from its error queue
 * (emptied): "WHAT PATH: REASON" (or "WHAT: REASON" without a path), the
 * reason in errno's words for a file that cannot be read. */
void gw_tls_explain(char *message, size_t message_len, const char *what, const char *path);

/* For tests: the wall clock session ticket periods are counted on (NULL:
 * time()). */
#include <time.h>
void gw_tls_set_clock(time_t (*clock_fn)(time_t *));

#endif
