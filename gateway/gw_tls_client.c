/* gw_tls_client: one upstream's TLS context, as the client (see the
 * header). The handshakes themselves run in gw_tls_stream.c. */
#include "gw_tls_client.h"
#include "gw_tls_client_s.h"
#include "gw_tls_s.h"
#include "gw_tls_stream.h"
#include "gw_tls_stream_s.h"
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_diag.h"

#include "vk_malloc.h"

#include <openssl/err.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The member of the "tls" object a problem is reported under ("" for the
 * object itself), and the message. */
struct client_problem {
	const char *member;
	char message[320];
};

static void problem(struct client_problem *problem_ptr, const char *member, const char *what, const char *path)
{
	problem_ptr->member = member;
	gw_tls_explain(problem_ptr->message, sizeof(problem_ptr->message), what, path);
}

/* A TLS 1.3 server sends its session tickets after the handshake: each is
 * kept as its endpoint's next session (a client should use one once). */
static int session_given(SSL *ssl_ptr, SSL_SESSION *session_ptr)
{
	struct gw_tls_stream *stream_ptr = SSL_get_app_data(ssl_ptr);
	struct gw_tls_client *client_ptr = stream_ptr ? stream_ptr->client_ptr : NULL;
	struct gw_tls_client_endpoint *endpoint_ptr;

	if (!client_ptr || stream_ptr->endpoint < 0 || stream_ptr->endpoint >= client_ptr->endpoint_count)
		return 0;
	endpoint_ptr = &client_ptr->endpoints_ptr[stream_ptr->endpoint];
	SSL_SESSION_free(endpoint_ptr->session);
	endpoint_ptr->session = session_ptr;
	return 1; /* the reference is ours */
}

static int load_trust(SSL_CTX *ctx_ptr, const struct gw_config_upstream_tls *config_ptr,
		      struct client_problem *problem_ptr)
{
	const char *ca_path = config_ptr->ca_path[0] ? config_ptr->ca_path : GW_CONFIG_SYSTEM_CA_FILE;

	if (!config_ptr->verify) {
		SSL_CTX_set_verify(ctx_ptr, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	if (!SSL_CTX_load_verify_locations(ctx_ptr, ca_path, NULL)) {
		if (config_ptr->ca_path[0])
			problem(problem_ptr, "ca", "cannot load PEM CA certificates from", ca_path);
		else
			problem(problem_ptr, "", "no \"ca\" is named and the system's CA store cannot be loaded from",
				ca_path);
		return -1;
	}
	SSL_CTX_set_verify(ctx_ptr, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(ctx_ptr, config_ptr->verify_depth);
	return 0;
}

static int load_identity(SSL_CTX *ctx_ptr, const struct gw_config_upstream_tls *config_ptr,
			 struct client_problem *problem_ptr)
{
	if (!config_ptr->cert_path[0])
		return 0;
	if (!SSL_CTX_use_certificate_chain_file(ctx_ptr, config_ptr->cert_path)) {
		problem(problem_ptr, "cert", "cannot load a PEM certificate chain from", config_ptr->cert_path);
		return -1;
	}
	if (!SSL_CTX_use_PrivateKey_file(ctx_ptr, config_ptr->key_path, SSL_FILETYPE_PEM)) {
		problem(problem_ptr, "key", "cannot load a PEM private key from", config_ptr->key_path);
		return -1;
	}
	if (!SSL_CTX_check_private_key(ctx_ptr)) {
		problem(problem_ptr, "key", "the key does not match the certificate in", config_ptr->key_path);
		return -1;
	}
	return 0;
}

static SSL_CTX *new_context(const struct gw_config_upstream_tls *config_ptr, struct client_problem *problem_ptr)
{
	static const uint8_t alpn[] = "\x08http/1.1";
	SSL_CTX *ctx_ptr = SSL_CTX_new(TLS_method());

	if (!ctx_ptr) {
		problem(problem_ptr, "", "cannot create a TLS context", NULL);
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx_ptr, (uint16_t)config_ptr->min_version) ||
	    !SSL_CTX_set_max_proto_version(ctx_ptr, TLS1_3_VERSION))
		problem(problem_ptr, "min_version", "unsupported TLS version", NULL);
	else if (!SSL_CTX_set_strict_cipher_list(ctx_ptr, config_ptr->ciphers))
		problem(problem_ptr, "ciphers", "not a cipher list BoringSSL accepts in full", NULL);
	else if (SSL_CTX_set_alpn_protos(ctx_ptr, alpn, sizeof(alpn) - 1) != 0)
		problem(problem_ptr, "", "cannot offer ALPN http/1.1", NULL);
	else if (load_trust(ctx_ptr, config_ptr, problem_ptr) == 0 &&
		 load_identity(ctx_ptr, config_ptr, problem_ptr) == 0) {
		SSL_CTX_set_mode(ctx_ptr, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_CTX_set_options(ctx_ptr, SSL_OP_NO_COMPRESSION);
		SSL_CTX_set_session_cache_mode(ctx_ptr, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
		SSL_CTX_sess_set_new_cb(ctx_ptr, session_given);
		return ctx_ptr;
	}
	SSL_CTX_free(ctx_ptr);
	return NULL;
}

struct vk_zone *gw_tls_client_zone_open(size_t connections)
{
	return vk_malloc_map_zone(connections * GW_TLS_CLIENT_CONNECTION_BYTES);
}

void gw_tls_client_zone_close(struct vk_zone *zone_ptr)
{
	vk_malloc_unmap_zone(zone_ptr);
}

struct gw_tls_client *gw_tls_client_create(const struct gw_config_upstream *upstream_ptr, struct vk_zone *zone_ptr,
					   char *error, size_t error_len)
{
	const struct gw_config_upstream_tls *config_ptr = &upstream_ptr->tls;
	struct gw_tls_client *client_ptr = calloc(1, sizeof(*client_ptr));
	struct client_problem client_problem = {.member = "", .message = "out of memory"};

	if (client_ptr)
		client_ptr->endpoints_ptr =
			calloc((size_t)upstream_ptr->endpoint_count + 1, sizeof(*client_ptr->endpoints_ptr));
	if (!client_ptr || !client_ptr->endpoints_ptr || gw_tls_stream_prepare() == -1 ||
	    !(client_ptr->ctx_ptr = new_context(config_ptr, &client_problem))) {
		snprintf(error, error_len, "%s%s%s: %s", config_ptr->pointer ? config_ptr->pointer : "",
			 client_problem.member[0] ? "/" : "", client_problem.member, client_problem.message);
		gw_tls_client_destroy(client_ptr);
		return NULL;
	}
	client_ptr->config_ptr = config_ptr;
	client_ptr->zone_ptr = zone_ptr;
	client_ptr->endpoint_count = upstream_ptr->endpoint_count;
	for (int e = 0; e < upstream_ptr->endpoint_count; e++) {
		const struct gw_config_endpoint *endpoint_ptr = &upstream_ptr->endpoints_ptr[e];
		struct gw_tls_client_endpoint *tls_endpoint_ptr = &client_ptr->endpoints_ptr[e];

		if (config_ptr->server_name[0]) {
			tls_endpoint_ptr->name = config_ptr->server_name;
		} else {
			tls_endpoint_ptr->name = endpoint_ptr->host;
			tls_endpoint_ptr->is_address = endpoint_ptr->kind != GW_CONFIG_ENDPOINT_DNS;
		}
	}
	return client_ptr;
}

void gw_tls_client_destroy(struct gw_tls_client *client_ptr)
{
	if (!client_ptr)
		return;
	for (int e = 0; client_ptr->endpoints_ptr && e < client_ptr->endpoint_count; e++)
		SSL_SESSION_free(client_ptr->endpoints_ptr[e].session);
	free(client_ptr->endpoints_ptr);
	SSL_CTX_free(client_ptr->ctx_ptr);
	free(client_ptr);
}

int gw_tls_client_check_config(const struct gw_config_upstream_tls *config_ptr, struct gw_diag *diag_ptr)
{
	struct client_problem client_problem = {.member = "", .message = "out of memory"};
	SSL_CTX *ctx_ptr = new_context(config_ptr, &client_problem);
	char pointer[512];

	if (ctx_ptr) {
		SSL_CTX_free(ctx_ptr);
		return 0;
	}
	snprintf(pointer, sizeof(pointer), "%s%s%s", config_ptr->pointer, client_problem.member[0] ? "/" : "",
		 client_problem.member);
	gw_diag_error(diag_ptr, pointer, "%s", client_problem.message);
	return -1;
}
