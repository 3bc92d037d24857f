/* gw_filter_hmac: verifies a request's HMAC signature over its body, the
 * way webhook senders sign what they post (GitHub's X-Hub-Signature-256,
 * and many others):
 *
 *   {"type": "hmac", "header": "x-hub-signature-256", "prefix": "sha256=",
 *    "algorithm": "sha256", "encoding": "hex", "secret_env": "HOOK_SECRET"}
 *
 * The signature is prefix + encoding(HMAC(secret, body)). A request without
 * the header is answered 401 at once, before its body is read; one whose
 * body does not match, 401 after. The secret comes from the environment
 * ("secret_env", read when the configuration loads) or, for tests,
 * "secret". This is the filter that shows how a stage asks for the body:
 * it has a request_body handler, so the connection keeps the body whole
 * for it. Its HMAC context is per-kernel state (kernel_state_create). */
#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filters.h"
#include "gw_http.h"

#include <openssl/base64.h>
#include <openssl/crypto.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "vkgw's filters are built against BoringSSL (android-libboringssl-dev)"
#endif

#define HMAC_SIGNATURE_MAX 256

enum hmac_encoding { HMAC_HEX, HMAC_BASE64 };

struct hmac_config {
	const char *header;
	const char *prefix;
	size_t prefix_len;
	const EVP_MD *(*md)(void);
	enum hmac_encoding encoding;
	const char *secret;
	size_t secret_len;
};

static const struct {
	const char *name;
	const EVP_MD *(*md)(void);
} algorithms[] = {{"sha256", EVP_sha256}, {"sha1", EVP_sha1}, {"sha512", EVP_sha512}};

static int hmac_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const keys[] = {"type",     "header",     "prefix", "algorithm",
					   "encoding", "secret_env", "secret", NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct hmac_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));
	const char *algorithm = NULL, *encoding = NULL, *secret_env = NULL, *secret = NULL;
	char at[GW_FILTER_POINTER_MAX];

	if (!config_ptr)
		return -1;
	memset(config_ptr, 0, sizeof(*config_ptr));
	*compiled_ptr = config_ptr;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, keys) == -1)
		return -1;
	if (gw_filter_json_string(&fj, config_json_ptr, pointer, "header", "x-signature", &config_ptr->header) == 0 &&
	    !gw_header_name_valid(config_ptr->header, strlen(config_ptr->header))) {
		gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "header"),
			      "\"%s\" is not a valid header name", config_ptr->header);
		fj.failed = 1;
	}
	if (gw_filter_json_string(&fj, config_json_ptr, pointer, "prefix", "", &config_ptr->prefix) == 0)
		config_ptr->prefix_len = strlen(config_ptr->prefix);
	if (gw_filter_json_string(&fj, config_json_ptr, pointer, "algorithm", "sha256", &algorithm) == 0) {
		for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
			if (strcmp(algorithm, algorithms[i].name) == 0)
				config_ptr->md = algorithms[i].md;
		if (!config_ptr->md) {
			gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "algorithm"),
				      "\"%s\" is not one of \"sha256\", \"sha1\", \"sha512\"", algorithm);
			fj.failed = 1;
		}
	}
	if (gw_filter_json_string(&fj, config_json_ptr, pointer, "encoding", "hex", &encoding) == 0) {
		if (strcmp(encoding, "hex") == 0) {
			config_ptr->encoding = HMAC_HEX;
		} else if (strcmp(encoding, "base64") == 0) {
			config_ptr->encoding = HMAC_BASE64;
		} else {
			gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "encoding"),
				      "\"%s\" is not \"hex\" or \"base64\"", encoding);
			fj.failed = 1;
		}
	}
	gw_filter_json_string(&fj, config_json_ptr, pointer, "secret_env", NULL, &secret_env);
	gw_filter_json_string(&fj, config_json_ptr, pointer, "secret", NULL, &secret);
	if (!secret_env == !secret) {
		gw_diag_error(diag_ptr, pointer, "exactly one of \"secret_env\" and \"secret\" is required");
		fj.failed = 1;
	} else if (secret_env) {
		const char *value = getenv(secret_env);

		if (!value || !*value) {
			gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "secret_env"),
				      "environment variable %s is not set or empty", secret_env);
			fj.failed = 1;
		} else {
			config_ptr->secret_len = strlen(value);
			config_ptr->secret = gw_arena_alloc(arena_ptr, config_ptr->secret_len + 1);
			if (!config_ptr->secret)
				return -1;
			memcpy((char *)config_ptr->secret, value, config_ptr->secret_len + 1);
		}
	} else if (!*secret) {
		gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "secret"),
			      "the secret is empty");
		fj.failed = 1;
	} else {
		config_ptr->secret = secret;
		config_ptr->secret_len = strlen(secret);
	}
	return fj.failed ? -1 : 0;
}

/* The signature's bytes, decoded from after the prefix; -1 if malformed. */
static int decode_signature(const struct hmac_config *config_ptr, const char *value, size_t len, uint8_t *out_ptr,
			    size_t cap, size_t *out_len_ptr)
{
	if (len < config_ptr->prefix_len || strncasecmp(value, config_ptr->prefix, config_ptr->prefix_len) != 0)
		return -1;
	value += config_ptr->prefix_len;
	len -= config_ptr->prefix_len;
	if (config_ptr->encoding == HMAC_BASE64)
		return EVP_DecodeBase64(out_ptr, out_len_ptr, cap, (const uint8_t *)value, len) ? 0 : -1;
	if (len % 2 || len / 2 > cap)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int hi = gw_http_hex_value((unsigned char)value[i]),
		    lo = gw_http_hex_value((unsigned char)value[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out_ptr[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*out_len_ptr = len / 2;
	return 0;
}

/* No signature: no need to read the body. */
static enum gw_filter_result hmac_request_head(struct gw_stage *stage_ptr)
{
	const struct hmac_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	const char *value;
	size_t len;

	if (gw_exchange_request_header(ex_ptr, config_ptr->header, &value, &len))
		return GW_FILTER_CONTINUE;
	gw_exchange_respond_error(ex_ptr, 401, "missing request signature");
	return GW_FILTER_RESPOND;
}

/* The filter's HMAC context in each kernel, made when the kernel starts
 * and reused by every request: once its digest is set, it allocates
 * nothing. The computation never yields, so no two requests share it at
 * once. Nothing in it is worth handing over: a new snapshot gets a new
 * one (the old one is freed with the old snapshot's table). */
static void *hmac_kernel_state_create(const void *compiled_ptr, void *previous_ptr)
{
	(void)compiled_ptr;
	(void)previous_ptr;
	return HMAC_CTX_new();
}

static void hmac_kernel_state_free(void *state_ptr)
{
	HMAC_CTX_free(state_ptr);
}

static enum gw_filter_result hmac_request_body(struct gw_stage *stage_ptr)
{
	const struct hmac_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	HMAC_CTX *hmac_ptr = gw_stage_kernel_state(stage_ptr);
	uint8_t given[HMAC_SIGNATURE_MAX], expected[EVP_MAX_MD_SIZE];
	size_t given_len, value_len, body_len;
	unsigned expected_len;
	const char *value, *body;

	if (!gw_exchange_request_header(ex_ptr, config_ptr->header, &value, &value_len) ||
	    decode_signature(config_ptr, value, value_len, given, sizeof(given), &given_len) == -1) {
		gw_exchange_respond_error(ex_ptr, 401, "malformed request signature");
		return GW_FILTER_RESPOND;
	}
	body = gw_exchange_request_body(ex_ptr, &body_len);
	if (!hmac_ptr || !HMAC_Init_ex(hmac_ptr, config_ptr->secret, config_ptr->secret_len, config_ptr->md(), NULL) ||
	    !HMAC_Update(hmac_ptr, (const uint8_t *)body, body_len) || !HMAC_Final(hmac_ptr, expected, &expected_len))
		return gw_stage_fail(stage_ptr, "signature could not be computed");
	if (given_len != expected_len || CRYPTO_memcmp(given, expected, expected_len) != 0) {
		gw_exchange_respond_error(ex_ptr, 401, "request signature does not match");
		return GW_FILTER_RESPOND;
	}
	return GW_FILTER_CONTINUE;
}

const struct gw_filter_type gw_filter_hmac_type = {
	.name = "hmac",
	.trusted = 1,
	.compile = hmac_compile,
	.request_head = hmac_request_head,
	.request_body = hmac_request_body,
	.kernel_state_create = hmac_kernel_state_create,
	.kernel_state_free = hmac_kernel_state_free,
};
