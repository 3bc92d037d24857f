#ifndef GW_JWT_H
#define GW_JWT_H

/* gw_jwt: JSON Web Tokens (RFC 7519) signed as compact JWS (RFC 7515),
 * for the jwt filter: keys from JWK Sets or PEM, strict decoding, the
 * signature checked by BoringSSL, and the registered claims.
 *
 * Which algorithm verifies a token is the key's to say, never the
 * token's alone: each key carries the set of algorithms it may verify
 * (from its JWK "alg", else its type and curve, narrowed by the
 * provider's "algorithms"), and a token whose "alg" is not in the set of
 * the key it names is refused before any cryptography. So "none" (in any
 * letter case), HMAC under an RSA or EC public key, and a key type that
 * does not fit the algorithm all fail the same way. */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum gw_jwt_alg {
	GW_JWT_HS256,
	GW_JWT_HS384,
	GW_JWT_HS512,
	GW_JWT_RS256,
	GW_JWT_RS384,
	GW_JWT_RS512,
	GW_JWT_PS256,
	GW_JWT_PS384,
	GW_JWT_PS512,
	GW_JWT_ES256,
	GW_JWT_ES384,
	GW_JWT_ES512,
	GW_JWT_EDDSA,
	GW_JWT_ALG_COUNT
};

#define GW_JWT_ALG_BIT(alg) (1u << (alg))
#define GW_JWT_HMAC_ALGS (GW_JWT_ALG_BIT(GW_JWT_HS256) | GW_JWT_ALG_BIT(GW_JWT_HS384) | GW_JWT_ALG_BIT(GW_JWT_HS512))
#define GW_JWT_RSA_ALGS                                                                               \
	(GW_JWT_ALG_BIT(GW_JWT_RS256) | GW_JWT_ALG_BIT(GW_JWT_RS384) | GW_JWT_ALG_BIT(GW_JWT_RS512) | \
	 GW_JWT_ALG_BIT(GW_JWT_PS256) | GW_JWT_ALG_BIT(GW_JWT_PS384) | GW_JWT_ALG_BIT(GW_JWT_PS512))
#define GW_JWT_ALL_ALGS ((1u << GW_JWT_ALG_COUNT) - 1)

/* The algorithm named exactly `name` (case matters, as in RFC 7518), or -1. */
int gw_jwt_alg_from_name(const char *name, size_t len);
const char *gw_jwt_alg_name(enum gw_jwt_alg alg);

/* ---- keys ---- */

#define GW_JWT_KID_MAX 256
/* RSA keys below this many bits are refused (RFC 7518 3.3 asks 2048). */
#define GW_JWT_RSA_MIN_BITS 2048

struct evp_pkey_st;

struct gw_jwt_key {
	char *kid; /* or NULL */
	unsigned algs;
	struct evp_pkey_st *pkey; /* RSA, EC or Ed25519; NULL for an HMAC key */
	uint8_t *secret;
	size_t secret_len;
};

struct gw_jwt_keys {
	struct gw_jwt_key *keys_ptr;
	int count;
};

/* Keys from `text`: a JWK Set ({"keys": [...]}), a single JWK, or PEM
 * (public keys and certificates; each key gets the algorithms of its
 * type). `algs` (0: any) narrows what every key may verify; keys that can
 * verify nothing of it, or that are only for encryption ("use": "enc",
 * "key_ops" without "verify"), are refused, as are private parts in a
 * set that should be public only when `public_only`. HMAC keys shorter
 * than their hash (RFC 7518 3.2) are refused unless allow_short_hmac.
 * 0, or -1 with why in err[err_len]. Memory from malloc: freed by
 * gw_jwt_keys_free (the keys live in per-kernel state). */
int gw_jwt_keys_parse(const char *text, size_t len, unsigned algs, int allow_short_hmac, struct gw_jwt_keys *out,
		      char *err, size_t err_len);
void gw_jwt_keys_free(struct gw_jwt_keys *keys_ptr);

/* ---- tokens ---- */

/* The largest signature: ES512's 132 bytes, RSA 8192 bits. */
#define GW_JWT_SIG_MAX 1024

struct gw_jwt_token {
	json_t *header_ptr;  /* the decoded header object */
	json_t *payload_ptr; /* the claims object, or NULL (gw_jwt_decode's want_claims 0) */
	enum gw_jwt_alg alg;
	const char *kid;	   /* in header_ptr; NULL when absent or empty */
	const char *signing_input; /* header.payload as received */
	size_t signing_input_len;
	uint8_t sig[GW_JWT_SIG_MAX];
	size_t sig_len;
};

enum gw_jwt_status {
	GW_JWT_VALID,
	GW_JWT_MALFORMED,
	GW_JWT_BAD_ALG,
	GW_JWT_UNKNOWN_KID,
	GW_JWT_BAD_SIGNATURE,
	GW_JWT_EXPIRED,
	GW_JWT_NOT_YET_VALID,
	GW_JWT_BAD_IAT,
	GW_JWT_BAD_ISSUER,
	GW_JWT_BAD_AUDIENCE,
	GW_JWT_MISSING_CLAIM,
};

/* Strict decoding of a compact JWS: exactly three base64url segments
 * without padding (and no stray bits), a JSON object header (duplicate
 * members refused) whose "alg" is one of enum gw_jwt_alg ("none" in any
 * case is not), no "crit" (vkgw understands no extension), and with
 * want_claims a JSON object payload. JSON values are made with the
 * jansson allocator in force (gw_json_scratch). `buf` (buf_len bytes, at
 * least the token's length) holds the decoded segments. GW_JWT_VALID, or
 * GW_JWT_MALFORMED / GW_JWT_BAD_ALG with a static reason in *why_ptr;
 * the caller json_decref()s what it got either way. */
enum gw_jwt_status gw_jwt_decode(const char *token, size_t len, int want_claims, char *buf, size_t buf_len,
				 struct gw_jwt_token *out, const char **why_ptr);

/* The signature, checked with the key the token's "kid" names (a token
 * without one: the set's only key), which must allow the token's "alg".
 * ES signatures are exactly r||s of the curve's size. GW_JWT_VALID, or
 * GW_JWT_UNKNOWN_KID, GW_JWT_BAD_ALG, GW_JWT_BAD_SIGNATURE. */
enum gw_jwt_status gw_jwt_verify(const struct gw_jwt_token *token_ptr, const struct gw_jwt_keys *keys_ptr);

struct gw_jwt_claims_policy {
	const char *issuer; /* or NULL: any */
	const char *const *audiences;
	int audience_count; /* 0: any */
	long long skew_s;
	const char *const *required;
	int required_count;
};

/* The registered claims at now_s: "exp" and "nbf" (numbers, with the
 * skew), "iat" (a number, not after now + skew), "iss" equal to the
 * policy's, "aud" (a string or an array of strings) naming one of its
 * audiences, and every required claim present. GW_JWT_VALID or the
 * first problem, its reason in *why_ptr. */
enum gw_jwt_status gw_jwt_check_claims(const json_t *payload_ptr, const struct gw_jwt_claims_policy *policy_ptr,
				       int64_t now_s, const char **why_ptr);

/* ---- JSON on the request path ---- */

/* jansson allocates through malloc; a kernel must not on the request
 * path. Between begin and end, jansson's allocations come from the
 * process's scratch region (bump allocation; frees are no-ops; NULL when
 * it is full, which jansson reports as a parse failure); outside, they go
 * to malloc as before. One region per process (kernel), however many
 * filters use it: a value made in it is never given to free(), whichever
 * filter releases it. Every value made between begin and end must be
 * released before the next begin. gw_json_scratch_install() sets
 * jansson's allocator (once, before the first scratch value);
 * gw_json_scratch_reserve() grows the region to at least `len` bytes, at
 * start-up or when a filter's state is made, never during a request
 * (0, or -1 for want of memory). */
void gw_json_scratch_install(void);
int gw_json_scratch_reserve(size_t len);
void gw_json_scratch_begin(void);
void gw_json_scratch_end(void);

#endif
