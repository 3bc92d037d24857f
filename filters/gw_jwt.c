/* gw_jwt: tokens (see the header). Keys are in gw_jwt_keys.c. */
#include "gw_jwt.h"

#include <openssl/base64.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/digest.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const alg_names[GW_JWT_ALG_COUNT] = {
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256",
	"PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
};

int gw_jwt_alg_from_name(const char *name, size_t len)
{
	for (int i = 0; i < GW_JWT_ALG_COUNT; i++)
		if (strlen(alg_names[i]) == len && memcmp(alg_names[i], name, len) == 0)
			return i;
	return -1;
}

const char *gw_jwt_alg_name(enum gw_jwt_alg alg)
{
	return alg < GW_JWT_ALG_COUNT ? alg_names[alg] : "?";
}

/* The digest of an algorithm (NULL for EdDSA, which hashes itself). */
static const EVP_MD *alg_digest(enum gw_jwt_alg alg)
{
	switch (alg) {
	case GW_JWT_HS256:
	case GW_JWT_RS256:
	case GW_JWT_PS256:
	case GW_JWT_ES256:
		return EVP_sha256();
	case GW_JWT_HS384:
	case GW_JWT_RS384:
	case GW_JWT_PS384:
	case GW_JWT_ES384:
		return EVP_sha384();
	case GW_JWT_HS512:
	case GW_JWT_RS512:
	case GW_JWT_PS512:
	case GW_JWT_ES512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

/* ---- JSON scratch ---- */

static struct {
	char *base;
	size_t len;
	size_t used;
	int active;
} scratch;

static void *scratch_malloc(size_t size)
{
	void *p;

	if (!scratch.active)
		return malloc(size);
	size = (size + 15) & ~(size_t)15;
	if (size > scratch.len - scratch.used)
		return NULL;
	p = scratch.base + scratch.used;
	scratch.used += size;
	return p;
}

static void scratch_free(void *p)
{
	/* The region stays known after end: a value made in it is never
	 * given to free(), whenever it is released. */
	if (p && scratch.base && (char *)p >= scratch.base && (char *)p < scratch.base + scratch.len)
		return;
	free(p);
}

void gw_json_scratch_install(void)
{
	static int installed;

	if (!installed)
		json_set_alloc_funcs(scratch_malloc, scratch_free);
	installed = 1;
}

int gw_json_scratch_reserve(size_t len)
{
	char *base;

	if (len <= scratch.len)
		return 0;
	/* Never during a request: nothing lives in the old region. */
	base = malloc(len);
	if (!base)
		return -1;
	free(scratch.base);
	scratch.base = base;
	scratch.len = len;
	return 0;
}

void gw_json_scratch_begin(void)
{
	scratch.used = 0;
	scratch.active = scratch.base != NULL;
}

void gw_json_scratch_end(void)
{
	scratch.active = 0;
}

/* ---- decoding ---- */

static int b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* base64url without padding (RFC 7515 2), strictly: only its alphabet, no
 * length that cannot be, and no bits set past the last byte (one token has
 * one encoding). Into out (room for len bytes); the decoded length, or -1. */
static long b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	char quad[4];
	size_t n = 0, i = 0, decoded;

	if (len % 4 == 1)
		return -1;
	for (size_t j = 0; j < len; j++)
		if (!b64url_char((unsigned char)in[j]))
			return -1;
	while (i < len) {
		size_t take = len - i < 4 ? len - i : 4;

		for (size_t k = 0; k < 4; k++) {
			char c = k < take ? in[i + k] : '=';

			quad[k] = c == '-' ? '+' : c == '_' ? '/' : c;
		}
		if (n + 3 > cap || !EVP_DecodeBase64((uint8_t *)out + n, &decoded, 3, (const uint8_t *)quad, 4))
			return -1;
		n += decoded;
		i += take;
	}
	/* Stray bits: the last character of a 2- or 3-character group. */
	if (len % 4) {
		const char *last =
			strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", in[len - 1]);
		int value = (int)(last - "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

		if ((len % 4 == 2 && (value & 0x0f)) || (len % 4 == 3 && (value & 0x03)))
			return -1;
	}
	return (long)n;
}

static json_t *load_object(const uint8_t *bytes, long len)
{
	json_t *value_ptr = json_loadb((const char *)bytes, (size_t)len, JSON_REJECT_DUPLICATES, NULL);

	if (value_ptr && !json_is_object(value_ptr)) {
		json_decref(value_ptr);
		return NULL;
	}
	return value_ptr;
}

static enum gw_jwt_status malformed(const char **why_ptr, const char *why)
{
	*why_ptr = why;
	return GW_JWT_MALFORMED;
}

/* The header's members vkgw acts on: "alg", "kid", "crit". */
static enum gw_jwt_status read_header(struct gw_jwt_token *out, const char **why_ptr)
{
	const json_t *alg_ptr = json_object_get(out->header_ptr, "alg");
	const json_t *kid_ptr = json_object_get(out->header_ptr, "kid");
	int alg;

	if (!json_is_string(alg_ptr))
		return malformed(why_ptr, "the header has no \"alg\"");
	if (strcasecmp(json_string_value(alg_ptr), "none") == 0) {
		*why_ptr = "unsigned tokens (alg none) are not accepted";
		return GW_JWT_BAD_ALG;
	}
	alg = gw_jwt_alg_from_name(json_string_value(alg_ptr), json_string_length(alg_ptr));
	if (alg < 0) {
		*why_ptr = "an algorithm vkgw does not take";
		return GW_JWT_BAD_ALG;
	}
	out->alg = (enum gw_jwt_alg)alg;
	if (kid_ptr && (!json_is_string(kid_ptr) || json_string_length(kid_ptr) > GW_JWT_KID_MAX))
		return malformed(why_ptr, "a \"kid\" that is not a short string");
	out->kid = kid_ptr && json_string_length(kid_ptr) > 0 ? json_string_value(kid_ptr) : NULL;
	/* RFC 7515 4.1.11: an extension the recipient does not understand
	 * makes the token invalid; vkgw understands none. */
	if (json_object_get(out->header_ptr, "crit"))
		return malformed(why_ptr, "a critical header extension vkgw does not understand");
	return GW_JWT_VALID;
}

enum gw_jwt_status gw_jwt_decode(const char *token, size_t len, int want_claims, char *buf, size_t buf_len,
				 struct gw_jwt_token *out, const char **why_ptr)
{
	const char *dot1 = memchr(token, '.', len), *dot2, *end = token + len;
	uint8_t *bytes = (uint8_t *)buf;
	enum gw_jwt_status status;
	long n;

	memset(out, 0, sizeof(*out));
	if (!dot1 || !(dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1))) ||
	    memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
		return malformed(why_ptr, "not three dot-separated segments");
	if (buf_len < len)
		return malformed(why_ptr, "too long");
	out->signing_input = token;
	out->signing_input_len = (size_t)(dot2 - token);
	n = b64url_decode(token, (size_t)(dot1 - token), bytes, buf_len);
	if (n < 0 || !(out->header_ptr = load_object(bytes, n)))
		return malformed(why_ptr, "the header is not base64url of a JSON object");
	/* The header first: an unsigned token is refused as such. */
	status = read_header(out, why_ptr);
	if (status != GW_JWT_VALID)
		return status;
	n = b64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), out->sig, sizeof(out->sig));
	if (n <= 0)
		return malformed(why_ptr, "the signature is not base64url");
	out->sig_len = (size_t)n;
	n = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), bytes, buf_len);
	if (n < 0)
		return malformed(why_ptr, "the payload is not base64url");
	if (want_claims && !(out->payload_ptr = load_object(bytes, n)))
		return malformed(why_ptr, "the payload is not a JSON object");
	return GW_JWT_VALID;
}

/* ---- signatures ---- */

static int verify_hmac(const struct gw_jwt_token *token_ptr, const struct gw_jwt_key *key_ptr)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;

	if (!HMAC(alg_digest(token_ptr->alg), key_ptr->secret, key_ptr->secret_len,
		  (const uint8_t *)token_ptr->signing_input, token_ptr->signing_input_len, mac, &mac_len))
		return 0;
	return mac_len == token_ptr->sig_len && CRYPTO_memcmp(mac, token_ptr->sig, mac_len) == 0;
}

/* ES: the signature is r||s, each exactly the curve's size (RFC 7518 3.4). */
static int verify_ecdsa(const struct gw_jwt_token *token_ptr, const struct gw_jwt_key *key_ptr)
{
	static const size_t sizes[] = {32, 48, 66};
	size_t half = sizes[token_ptr->alg - GW_JWT_ES256];
	const EC_KEY *ec_ptr = EVP_PKEY_get0_EC_KEY(key_ptr->pkey);
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned digest_len = 0;
	ECDSA_SIG *sig_ptr;
	int ok = 0;

	if (!ec_ptr || token_ptr->sig_len != 2 * half ||
	    !EVP_Digest(token_ptr->signing_input, token_ptr->signing_input_len, digest, &digest_len,
			alg_digest(token_ptr->alg), NULL))
		return 0;
	sig_ptr = ECDSA_SIG_new();
	if (sig_ptr && BN_bin2bn(token_ptr->sig, half, sig_ptr->r) &&
	    BN_bin2bn(token_ptr->sig + half, half, sig_ptr->s))
		ok = ECDSA_do_verify(digest, digest_len, sig_ptr, ec_ptr) == 1;
	ECDSA_SIG_free(sig_ptr);
	return ok;
}

/* RS, PS and EdDSA through EVP_DigestVerify. */
static int verify_evp(const struct gw_jwt_token *token_ptr, const struct gw_jwt_key *key_ptr)
{
	EVP_MD_CTX ctx;
	EVP_PKEY_CTX *pctx_ptr = NULL;
	int ok = 0;
	int pss = token_ptr->alg >= GW_JWT_PS256 && token_ptr->alg <= GW_JWT_PS512;

	EVP_MD_CTX_init(&ctx);
	if (EVP_DigestVerifyInit(&ctx, &pctx_ptr, alg_digest(token_ptr->alg), NULL, key_ptr->pkey) &&
	    (!pss || (EVP_PKEY_CTX_set_rsa_padding(pctx_ptr, RSA_PKCS1_PSS_PADDING) &&
		      /* RFC 7518 3.5: the salt is as long as the hash. */
		      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx_ptr, -1))))
		ok = EVP_DigestVerify(&ctx, token_ptr->sig, token_ptr->sig_len,
				      (const uint8_t *)token_ptr->signing_input, token_ptr->signing_input_len) == 1;
	EVP_MD_CTX_cleanup(&ctx);
	return ok;
}

enum gw_jwt_status gw_jwt_verify(const struct gw_jwt_token *token_ptr, const struct gw_jwt_keys *keys_ptr)
{
	const struct gw_jwt_key *key_ptr = NULL;
	int ok;

	if (token_ptr->kid) {
		for (int i = 0; i < keys_ptr->count && !key_ptr; i++)
			if (keys_ptr->keys_ptr[i].kid && strcmp(keys_ptr->keys_ptr[i].kid, token_ptr->kid) == 0 &&
			    (keys_ptr->keys_ptr[i].algs & GW_JWT_ALG_BIT(token_ptr->alg)))
				key_ptr = &keys_ptr->keys_ptr[i];
		if (!key_ptr)
			for (int i = 0; i < keys_ptr->count && !key_ptr; i++)
				if (keys_ptr->keys_ptr[i].kid && strcmp(keys_ptr->keys_ptr[i].kid, token_ptr->kid) == 0)
					return GW_JWT_BAD_ALG;
	} else if (keys_ptr->count == 1) {
		key_ptr = &keys_ptr->keys_ptr[0];
	}
	if (!key_ptr)
		return GW_JWT_UNKNOWN_KID;
	if (!(key_ptr->algs & GW_JWT_ALG_BIT(token_ptr->alg)))
		return GW_JWT_BAD_ALG;
	if (token_ptr->alg <= GW_JWT_HS512)
		ok = key_ptr->secret && verify_hmac(token_ptr, key_ptr);
	else if (token_ptr->alg >= GW_JWT_ES256 && token_ptr->alg <= GW_JWT_ES512)
		ok = key_ptr->pkey && verify_ecdsa(token_ptr, key_ptr);
	else
		ok = key_ptr->pkey && verify_evp(token_ptr, key_ptr);
	return ok ? GW_JWT_VALID : GW_JWT_BAD_SIGNATURE;
}

/* ---- claims ---- */

static enum gw_jwt_status claim_problem(const char **why_ptr, enum gw_jwt_status status, const char *why)
{
	*why_ptr = why;
	return status;
}

/* A NumericDate member: 1 and its value, 0 when absent, -1 when not a number. */
static int numeric_date(const json_t *payload_ptr, const char *name, double *out_ptr)
{
	const json_t *value_ptr = json_object_get(payload_ptr, name);

	if (!value_ptr)
		return 0;
	if (!json_is_number(value_ptr))
		return -1;
	*out_ptr = json_number_value(value_ptr);
	return 1;
}

static int audience_matches(const json_t *aud_ptr, const struct gw_jwt_claims_policy *policy_ptr)
{
	size_t i;
	const json_t *item_ptr;

	if (json_is_string(aud_ptr)) {
		for (int a = 0; a < policy_ptr->audience_count; a++)
			if (strcmp(json_string_value(aud_ptr), policy_ptr->audiences[a]) == 0)
				return 1;
		return 0;
	}
	json_array_foreach(aud_ptr, i, item_ptr) {
		if (json_is_string(item_ptr) && audience_matches(item_ptr, policy_ptr))
			return 1;
	}
	return 0;
}

enum gw_jwt_status gw_jwt_check_claims(const json_t *payload_ptr, const struct gw_jwt_claims_policy *policy_ptr,
				       int64_t now_s, const char **why_ptr)
{
	double exp = 0, nbf = 0, iat = 0, now = (double)now_s, skew = (double)policy_ptr->skew_s;
	const json_t *iss_ptr = json_object_get(payload_ptr, "iss"), *aud_ptr = json_object_get(payload_ptr, "aud");
	int has;

	has = numeric_date(payload_ptr, "exp", &exp);
	if (has < 0)
		return claim_problem(why_ptr, GW_JWT_MALFORMED, "\"exp\" is not a number");
	if (has && now >= exp + skew)
		return claim_problem(why_ptr, GW_JWT_EXPIRED, "the token has expired");
	has = numeric_date(payload_ptr, "nbf", &nbf);
	if (has < 0)
		return claim_problem(why_ptr, GW_JWT_MALFORMED, "\"nbf\" is not a number");
	if (has && now + skew < nbf)
		return claim_problem(why_ptr, GW_JWT_NOT_YET_VALID, "the token is not valid yet");
	has = numeric_date(payload_ptr, "iat", &iat);
	if (has < 0 || (has && (iat < 0 || iat > now + skew)))
		return claim_problem(why_ptr, GW_JWT_BAD_IAT, "\"iat\" is not a time before now");
	if (iss_ptr && !json_is_string(iss_ptr))
		return claim_problem(why_ptr, GW_JWT_MALFORMED, "\"iss\" is not a string");
	if (policy_ptr->issuer && (!iss_ptr || strcmp(json_string_value(iss_ptr), policy_ptr->issuer) != 0))
		return claim_problem(why_ptr, GW_JWT_BAD_ISSUER, "the issuer is not the one expected");
	if (aud_ptr && !json_is_string(aud_ptr) && !json_is_array(aud_ptr))
		return claim_problem(why_ptr, GW_JWT_MALFORMED, "\"aud\" is neither a string nor an array");
	if (policy_ptr->audience_count && (!aud_ptr || !audience_matches(aud_ptr, policy_ptr)))
		return claim_problem(why_ptr, GW_JWT_BAD_AUDIENCE, "the audience is not one expected");
	for (int i = 0; i < policy_ptr->required_count; i++)
		if (!json_object_get(payload_ptr, policy_ptr->required[i]))
			return claim_problem(why_ptr, GW_JWT_MISSING_CLAIM, "a required claim is missing");
	return GW_JWT_VALID;
}
