/* gw_tls: a TLS listener's contexts (gw_tls.h), and the certificate each
 * handshake gets. The choice is made in BoringSSL's early ClientHello
 * callback, before any other handshake work: the name the client sent
 * (SNI), then the key type it can verify. */
#include "gw_tls.h"
#include "gw_tls_s.h"
#include "gw_tls_stream.h"
#include "gw_stats.h"
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_diag.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hkdf.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "vk_malloc.h"

#define ALPN_HTTP_1_1 "http/1.1"
#define SESSION_ID_CONTEXT "vkgw"

/* TLS code points the choice reads from a ClientHello. */
#define EXT_SUPPORTED_GROUPS 10
#define EXT_SIGNATURE_ALGORITHMS 13
#define EXT_SUPPORTED_VERSIONS 43
#define SIGNATURE_ECDSA 0x03 /* low byte of an ECDSA signature scheme */

/* What went wrong while building one certificate's context: the member at
 * fault ("cert", "key", "ciphers", "curves") and why. */
struct build_problem {
	const char *member;
	char message[256];
};

void gw_tls_explain(char *message, size_t message_len, const char *what, const char *path)
{
	const char *reason = NULL, *first = NULL;
	unsigned long code;

	/* BoringSSL queues the cause under what it stopped: a file that cannot
	 * be read says why in errno's words, a key that is not the
	 * certificate's says so, and text that is no PEM says that. */
	while ((code = ERR_get_error())) {
		if (!first)
			first = ERR_reason_error_string(code);
		if (reason)
			continue;
		if (ERR_GET_LIB(code) == ERR_LIB_SYS)
			reason = strerror(ERR_GET_REASON(code));
		else if (ERR_GET_LIB(code) == ERR_LIB_X509 && (ERR_GET_REASON(code) == X509_R_KEY_TYPE_MISMATCH ||
							       ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH))
			reason = "the key is not the certificate's";
		else if (ERR_GET_LIB(code) == ERR_LIB_PEM)
			reason = "no PEM data of the right kind";
	}
	if (!reason)
		reason = first ? first : "no detail from BoringSSL";
	if (path)
		snprintf(message, message_len, "%s %s: %s", what, path, reason);
	else
		snprintf(message, message_len, "%s: %s", what, reason);
}

static void problem(struct build_problem *problem_ptr, const char *member, const char *what, const char *path)
{
	problem_ptr->member = member;
	gw_tls_explain(problem_ptr->message, sizeof(problem_ptr->message), what, path);
}

/* ---- the choice of a certificate ---- */

static int read_u16(const uint8_t *p)
{
	return (p[0] << 8) | p[1];
}

/* Whether the u16 list (length-prefixed with `prefix` bytes) holds a value
 * for which match(value, arg) is true. */
static int u16_list_has(const uint8_t *data, size_t len, size_t prefix, int (*match)(int, int), int arg)
{
	size_t list_len;

	if (len < prefix)
		return 0;
	list_len = prefix == 2 ? (size_t)read_u16(data) : data[0];
	if (list_len > len - prefix)
		return 0;
	for (size_t i = prefix; i + 1 < prefix + list_len; i += 2)
		if (match(read_u16(data + i), arg))
			return 1;
	return 0;
}

static int equals(int value, int arg)
{
	return value == arg;
}

static int is_ecdsa_scheme(int value, int arg)
{
	(void)arg;
	return (value & 0xff) == SIGNATURE_ECDSA;
}

/* ECDHE-ECDSA with AES-GCM or ChaCha20 (TLS 1.2). */
static int is_ecdsa_suite(int value, int arg)
{
	(void)arg;
	return value == 0xc02b || value == 0xc02c || value == 0xcca9;
}

/* The TLS 1.3 signature scheme and the group of an ECDSA key's curve. */
static int scheme_of_curve(int nid)
{
	return nid == NID_X9_62_prime256v1 ? 0x0403 : nid == NID_secp384r1 ? 0x0503 : 0x0603;
}

static int group_of_curve(int nid)
{
	return nid == NID_X9_62_prime256v1 ? 23 : nid == NID_secp384r1 ? 24 : 25;
}

/* Whether the client can verify a signature by an ECDSA key on `nid`:
 * in TLS 1.3 its signature schemes say so; in TLS 1.2 it must also offer
 * an ECDHE-ECDSA suite and the curve. */
static int client_verifies_ecdsa(const SSL_CLIENT_HELLO *hello_ptr, int nid, int max_version)
{
	const uint8_t *sigalgs, *data;
	size_t sigalgs_len, len;
	int has_sigalgs =
		SSL_early_callback_ctx_extension_get(hello_ptr, EXT_SIGNATURE_ALGORITHMS, &sigalgs, &sigalgs_len);

	if (max_version >= TLS1_3_VERSION &&
	    SSL_early_callback_ctx_extension_get(hello_ptr, EXT_SUPPORTED_VERSIONS, &data, &len) &&
	    u16_list_has(data, len, 1, equals, TLS1_3_VERSION))
		return has_sigalgs && u16_list_has(sigalgs, sigalgs_len, 2, equals, scheme_of_curve(nid));
	if (has_sigalgs && !u16_list_has(sigalgs, sigalgs_len, 2, is_ecdsa_scheme, 0))
		return 0;
	if (SSL_early_callback_ctx_extension_get(hello_ptr, EXT_SUPPORTED_GROUPS, &data, &len) &&
	    !u16_list_has(data, len, 2, equals, group_of_curve(nid)))
		return 0;
	for (size_t i = 0; i + 1 < hello_ptr->cipher_suites_len; i += 2)
		if (is_ecdsa_suite(read_u16(hello_ptr->cipher_suites + i), 0))
			return 1;
	return 0;
}

/* "*.example.com" covers exactly one more label. */
static int wildcard_covers(const char *pattern, const char *name, size_t name_len)
{
	const char *suffix = pattern + 1; /* ".example.com" */
	size_t suffix_len = strlen(suffix);
	size_t label_len;

	if (name_len <= suffix_len || strncasecmp(name + name_len - suffix_len, suffix, suffix_len) != 0)
		return 0;
	label_len = name_len - suffix_len;
	return label_len > 0 && memchr(name, '.', label_len) == NULL;
}

enum name_match { MATCH_EXACT, MATCH_WILDCARD, MATCH_DEFAULT, MATCH_KINDS };

static int certificate_matches(const struct gw_config_tls_certificate *cert_ptr, const char *name, size_t name_len,
			       enum name_match kind)
{
	if (kind == MATCH_DEFAULT)
		return cert_ptr->server_name_count == 0;
	for (int i = 0; name && i < cert_ptr->server_name_count; i++) {
		const char *pattern = cert_ptr->server_names[i];
		int wildcard = pattern[0] == '*';

		if (kind == MATCH_EXACT && !wildcard && strlen(pattern) == name_len &&
		    strncasecmp(pattern, name, name_len) == 0)
			return 1;
		if (kind == MATCH_WILDCARD && wildcard && wildcard_covers(pattern, name, name_len))
			return 1;
	}
	return 0;
}

/* The certificate for this ClientHello, or -1 when none serves its name. */
static int choose(const struct gw_tls *tls_ptr, const SSL_CLIENT_HELLO *hello_ptr, const char *name)
{
	size_t name_len = name ? strlen(name) : 0;

	/* "example.com." is "example.com". */
	if (name_len && name[name_len - 1] == '.')
		name_len--;
	for (int kind = MATCH_EXACT; kind < MATCH_KINDS; kind++) {
		int first = -1, rsa = -1;

		for (int i = 0; i < tls_ptr->certificate_count; i++) {
			const struct gw_tls_certificate *cert_ptr = &tls_ptr->certificates_ptr[i];

			if (!certificate_matches(cert_ptr->config_ptr, name, name_len, (enum name_match)kind))
				continue;
			if (first < 0)
				first = i;
			if (cert_ptr->is_ecdsa &&
			    client_verifies_ecdsa(hello_ptr, cert_ptr->curve_nid,
						  SSL_CTX_get_max_proto_version(cert_ptr->ctx_ptr)))
				return i;
			if (!cert_ptr->is_ecdsa && rsa < 0)
				rsa = i;
		}
		if (first >= 0)
			return rsa >= 0 ? rsa : first;
	}
	return -1;
}

static enum ssl_select_cert_result_t select_certificate(const SSL_CLIENT_HELLO *hello_ptr)
{
	SSL *ssl_ptr = hello_ptr->ssl;
	const struct gw_tls *tls_ptr = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl_ptr));
	int chosen = choose(tls_ptr, hello_ptr, SSL_get_servername(ssl_ptr, TLSEXT_NAMETYPE_host_name));

	if (chosen < 0) {
		/* No certificate for this name and no default: BoringSSL ends
		 * the handshake with an alert. */
		gw_tls_stream_note_failure(ssl_ptr, "no certificate for the server name",
					   GW_TLS_FAIL_UNKNOWN_SERVER_NAME);
		return ssl_select_cert_error;
	}
	if (tls_ptr->certificates_ptr[chosen].ctx_ptr != SSL_get_SSL_CTX(ssl_ptr))
		SSL_set_SSL_CTX(ssl_ptr, tls_ptr->certificates_ptr[chosen].ctx_ptr);
	return ssl_select_cert_success;
}

/* ALPN: HTTP/1.1 is all there is until HTTP/2 exists. A client that
 * offers protocols but not it gets no_application_protocol (RFC 7301). */
static int select_alpn(SSL *ssl_ptr, const uint8_t **out, uint8_t *out_len, const uint8_t *in, unsigned in_len,
		       void *arg_ptr)
{
	static const uint8_t http11[] = ALPN_HTTP_1_1;
	CBS list, protocol;

	(void)arg_ptr;
	CBS_init(&list, in, in_len);
	while (CBS_len(&list) > 0) {
		if (!CBS_get_u8_length_prefixed(&list, &protocol))
			break;
		if (CBS_len(&protocol) == sizeof(http11) - 1 &&
		    memcmp(CBS_data(&protocol), http11, sizeof(http11) - 1) == 0) {
			*out = CBS_data(&protocol);
			*out_len = (uint8_t)CBS_len(&protocol);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	gw_tls_stream_note_failure(ssl_ptr, "no application protocol in common (only http/1.1 is served)",
				   GW_TLS_FAIL_ALPN);
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* ---- session tickets ----
 *
 * Every kernel must open every ticket, and a key must not live forever.
 * One secret is drawn before the kernels fork; the key of each period of
 * ticket_rotation_s seconds (wall-clock time, the same in every kernel) is
 * HKDF of the secret and the period's number. A ticket's key name is the
 * period and a tag derived with its keys: a ticket of the current or the
 * previous period opens (one of the previous is renewed), any other, or a
 * forged name, falls back to a full handshake. */

#define TICKET_TAG_BYTES 8
#define TICKET_AES_BYTES 16
#define TICKET_HMAC_BYTES 32

struct ticket_keys {
	uint8_t aes[TICKET_AES_BYTES];
	uint8_t hmac[TICKET_HMAC_BYTES];
	uint8_t tag[TICKET_TAG_BYTES];
};

static int derive_ticket_keys(const struct gw_tls *tls_ptr, uint64_t period, struct ticket_keys *keys_ptr)
{
	uint8_t info[sizeof("vkgw ticket keys") - 1 + 8];

	memcpy(info, "vkgw ticket keys", sizeof("vkgw ticket keys") - 1);
	for (int i = 0; i < 8; i++)
		info[sizeof(info) - 1 - i] = (uint8_t)(period >> (8 * i));
	return HKDF((uint8_t *)keys_ptr, sizeof(*keys_ptr), EVP_sha256(), tls_ptr->ticket_secret,
		    sizeof(tls_ptr->ticket_secret), NULL, 0, info, sizeof(info));
}

/* The wall clock the periods are counted on (tests set another). */
static time_t (*wall_clock)(time_t *) = time;

void gw_tls_set_clock(time_t (*clock_fn)(time_t *))
{
	wall_clock = clock_fn ? clock_fn : time;
}

static int ticket_key(SSL *ssl_ptr, uint8_t *key_name, uint8_t *iv, EVP_CIPHER_CTX *cipher_ctx_ptr,
		      HMAC_CTX *hmac_ctx_ptr, int encrypt)
{
	const struct gw_tls *tls_ptr = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl_ptr));
	uint64_t now_period = (uint64_t)wall_clock(NULL) / (uint64_t)tls_ptr->config_ptr->ticket_rotation_s;
	uint64_t period = 0;
	struct ticket_keys keys;
	int rc;

	if (encrypt) {
		period = now_period;
		for (int i = 0; i < 8; i++)
			key_name[7 - i] = (uint8_t)(period >> (8 * i));
		if (!derive_ticket_keys(tls_ptr, period, &keys) || !RAND_bytes(iv, EVP_MAX_IV_LENGTH))
			return -1;
		memcpy(key_name + 8, keys.tag, TICKET_TAG_BYTES);
		rc = EVP_EncryptInit_ex(cipher_ctx_ptr, EVP_aes_128_cbc(), NULL, keys.aes, iv) &&
				     HMAC_Init_ex(hmac_ctx_ptr, keys.hmac, sizeof(keys.hmac), EVP_sha256(), NULL)
			     ? 1
			     : -1;
	} else {
		for (int i = 0; i < 8; i++)
			period = (period << 8) | key_name[i];
		if (period != now_period && period + 1 != now_period)
			return 0;
		if (!derive_ticket_keys(tls_ptr, period, &keys))
			return -1;
		if (CRYPTO_memcmp(key_name + 8, keys.tag, TICKET_TAG_BYTES) != 0)
			return 0;
		rc = EVP_DecryptInit_ex(cipher_ctx_ptr, EVP_aes_128_cbc(), NULL, keys.aes, iv) &&
				     HMAC_Init_ex(hmac_ctx_ptr, keys.hmac, sizeof(keys.hmac), EVP_sha256(), NULL)
			     ? (period == now_period ? 1 : 2)
			     : -1;
	}
	OPENSSL_cleanse(&keys, sizeof(keys));
	return rc;
}

/* ---- building ---- */

/* The key's type (RSA or ECDSA, and an ECDSA key's curve), or -1. */
static int key_type(SSL_CTX *ctx_ptr, struct gw_tls_certificate *cert_ptr)
{
	X509 *x509_ptr = SSL_CTX_get0_certificate(ctx_ptr);
	EVP_PKEY *key_ptr = x509_ptr ? X509_get_pubkey(x509_ptr) : NULL;
	int rc = -1;

	if (!key_ptr)
		return -1;
	if (EVP_PKEY_id(key_ptr) == EVP_PKEY_RSA) {
		cert_ptr->is_ecdsa = 0;
		rc = 0;
	} else if (EVP_PKEY_id(key_ptr) == EVP_PKEY_EC) {
		const EC_KEY *ec_ptr = EVP_PKEY_get0_EC_KEY(key_ptr);
		int nid = ec_ptr ? EC_GROUP_get_curve_name(EC_KEY_get0_group(ec_ptr)) : NID_undef;

		if (nid == NID_X9_62_prime256v1 || nid == NID_secp384r1 || nid == NID_secp521r1) {
			cert_ptr->is_ecdsa = 1;
			cert_ptr->curve_nid = nid;
			rc = 0;
		}
	}
	EVP_PKEY_free(key_ptr);
	return rc;
}

/* ---- the session cache ----
 *
 * A TLS 1.2 client that takes no ticket resumes by session ID, from a
 * cache of this kernel's. BoringSSL's own cache would keep each session
 * where the handshake allocated it, in the connection's memory (see
 * gw_tls_stream.c, "Memory"), which ends with the connection. So the
 * cache is this table, in the kernel's memory: a new session is
 * serialized into the slot its ID hashes to (replacing whatever was
 * there), and a lookup makes a fresh copy, in the memory of the
 * connection that asks. */

static struct gw_tls_session_slot *slot_of(const struct gw_tls *tls_ptr, const uint8_t *id, size_t id_len)
{
	uint32_t hash = 2166136261u;

	for (size_t i = 0; i < id_len; i++)
		hash = (hash ^ id[i]) * 16777619u;
	return &tls_ptr->sessions_ptr[hash % GW_TLS_SESSION_SLOTS];
}

static int session_new(SSL *ssl_ptr, SSL_SESSION *session_ptr)
{
	const struct gw_tls *tls_ptr = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl_ptr));
	unsigned id_len;
	const uint8_t *id = SSL_SESSION_get_id(session_ptr, &id_len);
	struct gw_tls_session_slot *slot_ptr;
	uint8_t *data;
	size_t len;

	if (!tls_ptr || id_len == 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH ||
	    !SSL_SESSION_to_bytes(session_ptr, &data, &len))
		return 0;
	slot_ptr = slot_of(tls_ptr, id, id_len);
	if (len <= sizeof(slot_ptr->data)) {
		memcpy(slot_ptr->data, data, len);
		slot_ptr->len = (uint16_t)len;
		memcpy(slot_ptr->id, id, id_len);
		slot_ptr->id_len = (uint8_t)id_len;
		slot_ptr->expires = SSL_SESSION_get_time(session_ptr) + SSL_SESSION_get_timeout(session_ptr);
	}
	OPENSSL_free(data);
	return 0; /* no reference kept */
}

static SSL_SESSION *session_get(SSL *ssl_ptr, const uint8_t *id, int id_len, int *out_copy)
{
	const struct gw_tls *tls_ptr = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl_ptr));
	const struct gw_tls_session_slot *slot_ptr;

	*out_copy = 0; /* the copy made here is the SSL's */
	if (!tls_ptr || id_len <= 0)
		return NULL;
	slot_ptr = slot_of(tls_ptr, id, (size_t)id_len);
	if (slot_ptr->expires <= (uint64_t)time(NULL) || slot_ptr->id_len != id_len ||
	    memcmp(slot_ptr->id, id, (size_t)id_len) != 0)
		return NULL;
	return SSL_SESSION_from_bytes(slot_ptr->data, slot_ptr->len, SSL_get_SSL_CTX(ssl_ptr));
}

/* ---- the private key ----
 *
 * A private key is shared by every connection of the kernel, and BoringSSL
 * keeps mutable state in it: an RSA key's blinding values are made anew
 * every 32 signatures, and may be reallocated then. Signing in the
 * connection's memory would leave them there when the connection ends
 * (gw_tls_stream.c, "Memory"). So BoringSSL signs through this method,
 * which runs each operation in the kernel's zone for keys: its temporary
 * values come and go there, and what the key keeps stays there. The
 * operation itself is BoringSSL's (EVP_DigestSign, RSA_decrypt), on the
 * key loaded into the context. */

/* The kernel's zone for key operations, mapped once per process (before
 * the kernels fork, each then has its copy). */
#define KEY_ZONE_BYTES (1024 * 1024)
static struct vk_zone *key_zone_ptr;

static int open_key_zone(void)
{
	if (!key_zone_ptr)
		key_zone_ptr = vk_malloc_map_zone(KEY_ZONE_BYTES);
	return key_zone_ptr ? 0 : -1;
}

static int sign(EVP_PKEY *key_ptr, uint8_t *out, size_t *out_len, size_t max_out, uint16_t algorithm, const uint8_t *in,
		size_t in_len)
{
	EVP_MD_CTX *md_ptr = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pkey_ctx_ptr;
	int ok = md_ptr && EVP_DigestSignInit(md_ptr, &pkey_ctx_ptr, SSL_get_signature_algorithm_digest(algorithm),
					      NULL, key_ptr);

	if (ok && SSL_is_signature_algorithm_rsa_pss(algorithm))
		ok = EVP_PKEY_CTX_set_rsa_padding(pkey_ctx_ptr, RSA_PKCS1_PSS_PADDING) &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx_ptr, -1); /* the digest's length */
	*out_len = max_out;
	ok = ok && EVP_DigestSign(md_ptr, out, out_len, in, in_len);
	EVP_MD_CTX_free(md_ptr);
	return ok;
}

static enum ssl_private_key_result_t key_sign(SSL *ssl_ptr, uint8_t *out, size_t *out_len, size_t max_out,
					      uint16_t algorithm, const uint8_t *in, size_t in_len)
{
	EVP_PKEY *key_ptr = SSL_CTX_get0_privatekey(SSL_get_SSL_CTX(ssl_ptr));
	struct vk_zone *previous_ptr = vk_malloc_enter(key_zone_ptr);
	int ok = key_ptr && sign(key_ptr, out, out_len, max_out, algorithm, in, in_len);

	vk_malloc_leave(previous_ptr);
	return ok ? ssl_private_key_success : ssl_private_key_failure;
}

/* RSA key exchange, only if `ciphers` asks for it: a raw RSA decryption. */
static enum ssl_private_key_result_t key_decrypt(SSL *ssl_ptr, uint8_t *out, size_t *out_len, size_t max_out,
						 const uint8_t *in, size_t in_len)
{
	EVP_PKEY *key_ptr = SSL_CTX_get0_privatekey(SSL_get_SSL_CTX(ssl_ptr));
	RSA *rsa_ptr = key_ptr ? EVP_PKEY_get0_RSA(key_ptr) : NULL;
	struct vk_zone *previous_ptr = vk_malloc_enter(key_zone_ptr);
	int ok = rsa_ptr && RSA_decrypt(rsa_ptr, out_len, out, max_out, in, in_len, RSA_NO_PADDING);

	vk_malloc_leave(previous_ptr);
	return ok ? ssl_private_key_success : ssl_private_key_failure;
}

/* Never called: no operation is left pending. */
static enum ssl_private_key_result_t key_complete(SSL *ssl_ptr, uint8_t *out, size_t *out_len, size_t max_out)
{
	(void)ssl_ptr;
	(void)out;
	(void)out_len;
	(void)max_out;
	return ssl_private_key_failure;
}

static const SSL_PRIVATE_KEY_METHOD key_method = {
	.sign = key_sign,
	.decrypt = key_decrypt,
	.complete = key_complete,
};

/* Client certificates: asked for (optional) or required, verified
 * against the CA file up to the depth; a verification that fails ends the
 * handshake with an alert, in either mode. 1, or 0 (the CA file). */
static int set_client_verification(SSL_CTX *ctx_ptr, const struct gw_config_tls *config_ptr)
{
	STACK_OF(X509_NAME) * names_ptr;

	if (!SSL_CTX_load_verify_locations(ctx_ptr, config_ptr->client_ca_path, NULL))
		return 0;
	names_ptr = SSL_load_client_CA_file(config_ptr->client_ca_path);
	if (!names_ptr)
		return 0;
	SSL_CTX_set_client_CA_list(ctx_ptr, names_ptr);
	SSL_CTX_set_verify(ctx_ptr,
			   SSL_VERIFY_PEER | (config_ptr->client_certificates == GW_CLIENT_CERTIFICATES_REQUIRED
						      ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
						      : 0),
			   NULL);
	SSL_CTX_set_verify_depth(ctx_ptr, config_ptr->client_verify_depth);
	return 1;
}

static SSL_CTX *new_context(const struct gw_config_tls *config_ptr, struct build_problem *problem_ptr)
{
	SSL_CTX *ctx_ptr = SSL_CTX_new(TLS_method());

	if (!ctx_ptr) {
		problem(problem_ptr, "cert", "cannot create a TLS context", NULL);
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx_ptr, (uint16_t)config_ptr->min_version) ||
	    !SSL_CTX_set_max_proto_version(ctx_ptr, TLS1_3_VERSION)) {
		problem(problem_ptr, "min_version", "unsupported TLS version", NULL);
	} else if (!SSL_CTX_set_strict_cipher_list(ctx_ptr, config_ptr->ciphers)) {
		problem(problem_ptr, "ciphers", "not a cipher list BoringSSL accepts in full", NULL);
	} else if (!SSL_CTX_set1_curves_list(ctx_ptr, config_ptr->curves)) {
		problem(problem_ptr, "curves", "unknown curve (X25519, P-256, P-384, P-521)", NULL);
	} else if (config_ptr->client_certificates != GW_CLIENT_CERTIFICATES_NONE &&
		   !set_client_verification(ctx_ptr, config_ptr)) {
		problem(problem_ptr, "client_certificates/ca", "cannot load PEM CA certificates from",
			config_ptr->client_ca_path);
	} else {
		SSL_CTX_set_mode(ctx_ptr, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_CTX_set_options(ctx_ptr, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
		SSL_CTX_set_session_id_context(ctx_ptr, (const uint8_t *)SESSION_ID_CONTEXT,
					       sizeof(SESSION_ID_CONTEXT) - 1);
		SSL_CTX_set_select_certificate_cb(ctx_ptr, select_certificate);
		SSL_CTX_set_tlsext_ticket_key_cb(ctx_ptr, ticket_key);
		/* A session lives no longer than its ticket's key opens it. */
		SSL_CTX_set_timeout(ctx_ptr, (uint32_t)config_ptr->ticket_rotation_s);
		SSL_CTX_set_session_psk_dhe_timeout(ctx_ptr, (uint32_t)config_ptr->ticket_rotation_s);
		SSL_CTX_set_alpn_select_cb(ctx_ptr, select_alpn, NULL);
		SSL_CTX_set_session_cache_mode(ctx_ptr, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
		SSL_CTX_sess_set_new_cb(ctx_ptr, session_new);
		SSL_CTX_sess_set_get_cb(ctx_ptr, session_get);
		return ctx_ptr;
	}
	SSL_CTX_free(ctx_ptr);
	return NULL;
}

static int build_certificate(const struct gw_config_tls *config_ptr, int index, struct gw_tls_certificate *cert_ptr,
			     struct build_problem *problem_ptr)
{
	const struct gw_config_tls_certificate *entry_ptr = &config_ptr->certificates_ptr[index];
	SSL_CTX *ctx_ptr = new_context(config_ptr, problem_ptr);

	memset(cert_ptr, 0, sizeof(*cert_ptr));
	cert_ptr->config_ptr = entry_ptr;
	if (!ctx_ptr)
		return -1;
	if (!SSL_CTX_use_certificate_chain_file(ctx_ptr, entry_ptr->cert_path)) {
		problem(problem_ptr, "cert", "cannot load a PEM certificate chain from", entry_ptr->cert_path);
	} else if (!SSL_CTX_use_PrivateKey_file(ctx_ptr, entry_ptr->key_path, SSL_FILETYPE_PEM)) {
		problem(problem_ptr, "key", "cannot load a PEM private key from", entry_ptr->key_path);
	} else if (!SSL_CTX_check_private_key(ctx_ptr)) {
		problem(problem_ptr, "key", "the key does not match the certificate in", entry_ptr->key_path);
	} else if (key_type(ctx_ptr, cert_ptr) == -1) {
		problem(problem_ptr, "cert",
			"only RSA and ECDSA (P-256, P-384, P-521) certificates are served:", entry_ptr->cert_path);
	} else if (open_key_zone() == -1) {
		problem(problem_ptr, "key", "no memory for the kernel's key operations", NULL);
	} else {
		SSL_CTX_set_private_key_method(ctx_ptr, &key_method);
		cert_ptr->ctx_ptr = ctx_ptr;
		return 0;
	}
	SSL_CTX_free(ctx_ptr);
	return -1;
}

static struct gw_tls *create(const struct gw_config_tls *config_ptr, const uint8_t *secret_ptr, char *error,
			     size_t error_len);

struct gw_tls *gw_tls_create(const struct gw_config_tls *config_ptr, char *error, size_t error_len)
{
	return create(config_ptr, NULL, error, error_len);
}

struct gw_tls *gw_tls_reload(const struct gw_config_tls *config_ptr, const struct gw_tls *previous_ptr, char *error,
			     size_t error_len)
{
	return create(config_ptr, previous_ptr->ticket_secret, error, error_len);
}

/* The secret listeners opened after the fork derive theirs from. */
static uint8_t gw_tls_root_secret[32];
static int gw_tls_root_ready;

int gw_tls_root_secret_init(void)
{
	gw_tls_root_ready = RAND_bytes(gw_tls_root_secret, sizeof(gw_tls_root_secret)) == 1;
	return gw_tls_root_ready ? 0 : -1;
}

struct gw_tls *gw_tls_create_named(const struct gw_config_tls *config_ptr, const char *name, char *error,
				   size_t error_len)
{
	uint8_t secret[32];
	unsigned secret_len = 0;

	if (!gw_tls_root_ready || !HMAC(EVP_sha256(), gw_tls_root_secret, sizeof(gw_tls_root_secret),
					(const uint8_t *)name, strlen(name), secret, &secret_len)) {
		snprintf(error, error_len, "no session ticket secret to derive the listener's from");
		return NULL;
	}
	return create(config_ptr, secret, error, error_len);
}

void gw_tls_hold(struct gw_tls *tls_ptr)
{
	tls_ptr->users++;
}

void gw_tls_release(struct gw_tls *tls_ptr)
{
	if (--tls_ptr->users == 0 && tls_ptr->retired)
		gw_tls_destroy(tls_ptr);
}

int gw_tls_secret_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
	return a_len == b_len && CRYPTO_memcmp(a, b, a_len) == 0;
}

void gw_tls_retire(struct gw_tls *tls_ptr)
{
	tls_ptr->retired = 1;
	if (tls_ptr->users == 0)
		gw_tls_destroy(tls_ptr);
}

/* What BoringSSL computes on first use and keeps in a shared object is
 * computed now, in the kernel's memory, not during a handshake, whose
 * allocations are the connection's (gw_tls_stream.c, "Memory"): the
 * parsed extensions and public key of each trusted CA certificate. (The
 * private key's are made where its operations run, "The private key".) */
static void warm(SSL_CTX *ctx_ptr)
{
	X509_STORE *store_ptr = SSL_CTX_get_cert_store(ctx_ptr);
	STACK_OF(X509_OBJECT) *objects_ptr = store_ptr ? X509_STORE_get0_objects(store_ptr) : NULL;

	for (size_t i = 0; objects_ptr && i < sk_X509_OBJECT_num(objects_ptr); i++) {
		X509 *ca_ptr = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects_ptr, i));

		if (!ca_ptr)
			continue;
		X509_check_purpose(ca_ptr, -1, 0);
		EVP_PKEY_free(X509_get_pubkey(ca_ptr)); /* its parsed key, kept */
	}
	ERR_clear_error();
}

/* Contexts for `config_ptr` with the session ticket secret `secret_ptr`
 * (NULL: random). */
static struct gw_tls *create(const struct gw_config_tls *config_ptr, const uint8_t *secret_ptr, char *error,
			     size_t error_len)
{
	struct gw_tls *tls_ptr = calloc(1, sizeof(*tls_ptr));
	struct build_problem build_problem;

	if (!tls_ptr || gw_tls_stream_prepare() == -1 ||
	    !(tls_ptr->certificates_ptr =
		      calloc((size_t)config_ptr->certificate_count + 1, sizeof(*tls_ptr->certificates_ptr))) ||
	    !(tls_ptr->sessions_ptr = calloc(GW_TLS_SESSION_SLOTS, sizeof(*tls_ptr->sessions_ptr)))) {
		snprintf(error, error_len, "out of memory");
		gw_tls_destroy(tls_ptr);
		return NULL;
	}
	tls_ptr->config_ptr = config_ptr;
	if (secret_ptr)
		memcpy(tls_ptr->ticket_secret, secret_ptr, sizeof(tls_ptr->ticket_secret));
	else if (!RAND_bytes(tls_ptr->ticket_secret, sizeof(tls_ptr->ticket_secret))) {
		snprintf(error, error_len, "no random bytes for the session ticket secret");
		gw_tls_destroy(tls_ptr);
		return NULL;
	}
	for (int i = 0; i < config_ptr->certificate_count; i++) {
		if (build_certificate(config_ptr, i, &tls_ptr->certificates_ptr[i], &build_problem) == -1) {
			snprintf(error, error_len, "%s/%s: %s", config_ptr->certificates_ptr[i].pointer,
				 build_problem.member, build_problem.message);
			gw_tls_destroy(tls_ptr);
			return NULL;
		}
		tls_ptr->certificate_count++;
		SSL_CTX_set_app_data(tls_ptr->certificates_ptr[i].ctx_ptr, tls_ptr);
		warm(tls_ptr->certificates_ptr[i].ctx_ptr);
	}
	tls_ptr->initial_ctx_ptr = tls_ptr->certificates_ptr[0].ctx_ptr;
	return tls_ptr;
}

void gw_tls_destroy(struct gw_tls *tls_ptr)
{
	if (!tls_ptr)
		return;
	OPENSSL_cleanse(tls_ptr->ticket_secret, sizeof(tls_ptr->ticket_secret));
	for (int i = 0; i < tls_ptr->certificate_count; i++)
		SSL_CTX_free(tls_ptr->certificates_ptr[i].ctx_ptr);
	free(tls_ptr->certificates_ptr);
	free(tls_ptr->sessions_ptr);
	free(tls_ptr);
}

int gw_tls_check_config(const struct gw_config_tls *config_ptr, struct gw_diag *diag_ptr)
{
	struct gw_tls_certificate cert;
	struct build_problem build_problem;
	char pointer[512];
	int rc = 0;

	for (int i = 0; i < config_ptr->certificate_count; i++) {
		const char *owner = config_ptr->certificates_ptr[i].pointer;
		int setting;

		if (build_certificate(config_ptr, i, &cert, &build_problem) == 0) {
			SSL_CTX_free(cert.ctx_ptr);
			continue;
		}
		rc = -1;
		/* A setting of the "tls" object is wrong for every certificate:
		 * said once, at the setting. */
		setting = strcmp(build_problem.member, "cert") != 0 && strcmp(build_problem.member, "key") != 0;
		snprintf(pointer, sizeof(pointer), "%s/%s", setting ? config_ptr->pointer : owner,
			 build_problem.member);
		gw_diag_error(diag_ptr, pointer, "%s", build_problem.message);
		if (setting)
			break;
	}
	return rc;
}
