/* test_gw_jwt: tokens, keys and claims (filters/gw_jwt.h) against the
 * vectors of ../shared/corpora/jwt, read in place: Wycheproof's JWS tests
 * (every signature verdict), RFC 7515 Appendix A, the RFC 7520 cookbook,
 * nginx-auth-jwt's gateway tokens; and the attacks the corpus does not
 * spell out: "none" in other cases, an RSA public key used as an HMAC
 * secret, padding, stray bits, extra segments, "crit", duplicate members,
 * DER ECDSA signatures, the JSON scratch filling up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gw_jwt.h"

#include <openssl/base64.h>
#include <openssl/hmac.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CORPUS "../shared/corpora/jwt"
#define TOKEN_BUF 16384

static void b64url(const void *bytes, size_t len, char *out);

static json_t *load(const char *path)
{
	json_error_t error;
	json_t *root_ptr = json_load_file(path, 0, &error);

	if (!root_ptr)
		fail_msg("%s: %s (the corpus is read in place from ../shared)", path, error.text);
	return root_ptr;
}

static int keys_from_json(const json_t *jwk_ptr, int allow_short, struct gw_jwt_keys *keys_ptr)
{
	char *text = json_dumps(jwk_ptr, 0), err[256];
	int rc = gw_jwt_keys_parse(text, strlen(text), 0, allow_short, keys_ptr, err, sizeof(err));

	free(text);
	return rc;
}

/* Decoded and verified: GW_JWT_VALID or the first problem. */
static enum gw_jwt_status check_signature(const char *token, const struct gw_jwt_keys *keys_ptr, int want_claims)
{
	static char buf[TOKEN_BUF];
	struct gw_jwt_token t;
	const char *why;
	enum gw_jwt_status status = gw_jwt_decode(token, strlen(token), want_claims, buf, sizeof(buf), &t, &why);

	if (status == GW_JWT_VALID)
		status = gw_jwt_verify(&t, keys_ptr);
	json_decref(t.header_ptr);
	json_decref(t.payload_ptr);
	return status;
}

/* Where vkgw's verdict is not Wycheproof's, and why (checked: a change
 * either way shows). */
static const struct {
	int tc_id;
	const char *why;
} deviations[] = {
	{346, "the key says alg PS256, the token PS384: the key's algorithm rules"},
	{350, "the key says alg PS256, the token PS384: the key's algorithm rules"},
	{347, "the key's alg \"ES521\" is no algorithm: the key is refused"},
	{351, "the key's alg \"ES521\" is no algorithm: the key is refused"},
	{367, "this copy of the token is byte for byte tcId 357's, which is valid"},
	{370, "this copy of the token is byte for byte tcId 357's, which is valid"},
	{372, "a '?' inside base64url: strict decoding refuses what lenient decoders skip"},
	{373, "a '?' inside base64url: strict decoding refuses what lenient decoders skip"},
};

static int deviation(int tc_id)
{
	for (size_t i = 0; i < sizeof(deviations) / sizeof(deviations[0]); i++)
		if (deviations[i].tc_id == tc_id)
			return 1;
	return 0;
}

static void test_wycheproof(void **state)
{
	json_t *root_ptr = load(CORPUS "/wycheproof/json_web_signature_test.json");
	const json_t *group_ptr, *test_ptr;
	size_t g, t;
	int run = 0, wrong = 0;

	(void)state;
	json_array_foreach(json_object_get(root_ptr, "testGroups"), g, group_ptr) {
		const json_t *jwk_ptr = json_object_get(group_ptr, "public");
		struct gw_jwt_keys keys;
		int have_keys;

		if (!jwk_ptr)
			jwk_ptr = json_object_get(group_ptr, "private");
		have_keys = keys_from_json(jwk_ptr, 0, &keys) == 0;
		json_array_foreach(json_object_get(group_ptr, "tests"), t, test_ptr) {
			const char *result = json_string_value(json_object_get(test_ptr, "result"));
			const char *jws = json_string_value(json_object_get(test_ptr, "jws"));
			int valid = jws && have_keys && check_signature(jws, &keys, 0) == GW_JWT_VALID;
			int tc_id = (int)json_integer_value(json_object_get(test_ptr, "tcId"));

			run++;
			/* "acceptable" cases may go either way. */
			if (strcmp(result, "acceptable") != 0 &&
			    (valid != (strcmp(result, "valid") == 0)) != deviation(tc_id)) {
				print_message("wycheproof tcId %d (%s): expected %s%s\n", tc_id,
					      json_string_value(json_object_get(test_ptr, "comment")), result,
					      deviation(tc_id) ? ", which vkgw should not give" : "");
				wrong++;
			}
		}
		if (have_keys)
			gw_jwt_keys_free(&keys);
	}
	json_decref(root_ptr);
	assert_true(run >= 400);
	assert_int_equal(wrong, 0);
}

/* Wycheproof's JWK tests: key sets a verifier must refuse (mixed secret
 * and public keys, a kid twice, a key for encryption, RSA under 2048
 * bits or with exponent 1 or the ROCA flaw, short or empty HMAC keys, an
 * alg that fits neither the curve nor the type, AES keys) and sets it
 * must use. */
static void test_wycheproof_jwk(void **state)
{
	json_t *root_ptr = load(CORPUS "/wycheproof/json_web_key_test.json");
	const json_t *group_ptr, *test_ptr;
	size_t g, t;
	int run = 0;

	(void)state;
	json_array_foreach(json_object_get(root_ptr, "testGroups"), g, group_ptr) {
		const json_t *set_ptr = json_object_get(group_ptr, "public");
		struct gw_jwt_keys keys;
		int have_keys;

		if (!set_ptr)
			set_ptr = json_object_get(group_ptr, "private");
		have_keys = keys_from_json(set_ptr, 0, &keys) == 0;
		json_array_foreach(json_object_get(group_ptr, "tests"), t, test_ptr) {
			const char *result = json_string_value(json_object_get(test_ptr, "result"));
			const char *jws = json_string_value(json_object_get(test_ptr, "jws"));
			int valid = have_keys && check_signature(jws, &keys, 0) == GW_JWT_VALID;

			if (valid != (strcmp(result, "valid") == 0))
				fail_msg("wycheproof JWK tcId %lld (%s, %s): expected %s",
					 (long long)json_integer_value(json_object_get(test_ptr, "tcId")),
					 json_string_value(json_object_get(group_ptr, "comment")),
					 json_string_value(json_object_get(test_ptr, "comment")), result);
			run++;
		}
		if (have_keys)
			gw_jwt_keys_free(&keys);
	}
	assert_int_equal(run, 26);
	json_decref(root_ptr);
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[i]);
	return n;
}

/* One primitive vector through gw_jwt_verify: `msg` as the signing input,
 * the raw signature, a set with one key. */
static int primitive_valid(enum gw_jwt_alg alg, const struct gw_jwt_keys *keys_ptr, const char *msg_hex,
			   const char *sig_hex)
{
	static uint8_t msg[65536];
	struct gw_jwt_token token = {.alg = alg};

	if (strlen(sig_hex) / 2 > sizeof(token.sig))
		return 0;
	token.signing_input = (const char *)msg;
	token.signing_input_len = unhex(msg_hex, msg, sizeof(msg));
	token.sig_len = unhex(sig_hex, token.sig, sizeof(token.sig));
	return gw_jwt_verify(&token, keys_ptr) == GW_JWT_VALID;
}

/* Wycheproof's ES256 (P1363: r||s), RS256 (PKCS #1 v1.5) and HMAC-SHA256
 * vectors, each with its expected result. */
static void test_wycheproof_primitives(void **state)
{
	static const struct {
		const char *file;
		enum gw_jwt_alg alg;
		const char *key_member;
	} suites[] = {
		{CORPUS "/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json", GW_JWT_ES256, "publicKeyJwk"},
		{CORPUS "/wycheproof/rsa_signature_2048_sha256_test.json", GW_JWT_RS256, "keyJwk"},
		{CORPUS "/wycheproof/hmac_sha256_test.json", GW_JWT_HS256, NULL},
	};

	(void)state;
	for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
		json_t *root_ptr = load(suites[s].file);
		const json_t *group_ptr, *test_ptr;
		size_t g, t;
		int run = 0;

		json_array_foreach(json_object_get(root_ptr, "testGroups"), g, group_ptr) {
			struct gw_jwt_keys keys = {0};
			int have_keys = 0;

			/* A JWS MAC is the whole tag: truncated tags are no JWT. */
			if (!suites[s].key_member && json_integer_value(json_object_get(group_ptr, "tagSize")) != 256)
				continue;
			if (suites[s].key_member)
				have_keys =
					keys_from_json(json_object_get(group_ptr, suites[s].key_member), 0, &keys) == 0;
			json_array_foreach(json_object_get(group_ptr, "tests"), t, test_ptr) {
				const char *result = json_string_value(json_object_get(test_ptr, "result"));
				const char *sig = json_string_value(
					json_object_get(test_ptr, suites[s].key_member ? "sig" : "tag"));
				int valid;

				if (!suites[s].key_member) {
					/* Each HMAC test has its own key: a one-key set of it. */
					uint8_t k[1024];
					char b64[2048], jwk[2200];
					size_t k_len = unhex(json_string_value(json_object_get(test_ptr, "key")), k,
							     sizeof(k));
					json_t *jwk_ptr;

					if (have_keys)
						gw_jwt_keys_free(&keys);
					b64url(k, k_len, b64);
					snprintf(jwk, sizeof(jwk), "{\"kty\":\"oct\",\"k\":\"%s\"}", b64);
					jwk_ptr = json_loads(jwk, 0, NULL);
					have_keys = k_len > 0 && keys_from_json(jwk_ptr, 1, &keys) == 0;
					json_decref(jwk_ptr);
				}
				valid = have_keys &&
					primitive_valid(suites[s].alg, &keys,
							json_string_value(json_object_get(test_ptr, "msg")), sig);
				if (strcmp(result, "acceptable") != 0 && valid != (strcmp(result, "valid") == 0))
					fail_msg("%s tcId %lld (%s): expected %s", suites[s].file,
						 (long long)json_integer_value(json_object_get(test_ptr, "tcId")),
						 json_string_value(json_object_get(test_ptr, "comment")), result);
				run++;
			}
			if (have_keys)
				gw_jwt_keys_free(&keys);
		}
		assert_true(run > 50);
		json_decref(root_ptr);
	}
}

static void test_rfc7515_appendix_a(void **state)
{
	json_t *root_ptr = load(CORPUS "/rfc7515_appendix_a.json");
	const json_t *vector_ptr;
	size_t i;
	struct gw_jwt_claims_policy policy = {.skew_s = 60};

	(void)state;
	json_array_foreach(json_object_get(root_ptr, "vectors"), i, vector_ptr) {
		const char *alg = json_string_value(json_object_get(vector_ptr, "alg"));
		const char *token = json_string_value(json_object_get(vector_ptr, "token"));
		static char buf[TOKEN_BUF];
		struct gw_jwt_keys keys = {0};
		struct gw_jwt_token tok;
		const char *why;

		if (strcmp(alg, "none") == 0) {
			assert_int_equal(gw_jwt_decode(token, strlen(token), 1, buf, sizeof(buf), &tok, &why),
					 GW_JWT_BAD_ALG);
			json_decref(tok.header_ptr);
			json_decref(tok.payload_ptr);
			continue;
		}
		assert_int_equal(keys_from_json(json_object_get(vector_ptr, "key"), 0, &keys), 0);
		assert_int_equal(gw_jwt_decode(token, strlen(token), 1, buf, sizeof(buf), &tok, &why), GW_JWT_VALID);
		assert_int_equal(gw_jwt_verify(&tok, &keys), GW_JWT_VALID);
		/* Signed right, but its exp is in 2011. */
		assert_int_equal(gw_jwt_check_claims(tok.payload_ptr, &policy, time(NULL), &why), GW_JWT_EXPIRED);
		assert_int_equal(gw_jwt_check_claims(tok.payload_ptr, &policy, 1300819380 - 61, &why), GW_JWT_VALID);
		json_decref(tok.header_ptr);
		json_decref(tok.payload_ptr);
		gw_jwt_keys_free(&keys);
	}
	json_decref(root_ptr);
}

static void test_rfc7520_cookbook(void **state)
{
	static const char *const files[] = {"4_1.rsa_v15_signature.json", "4_2.rsa-pss_signature.json",
					    "4_3.ecdsa_signature.json", "4_4.hmac-sha2_integrity_protection.json"};
	char path[256];

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		json_t *root_ptr;
		struct gw_jwt_keys keys;
		const char *compact;

		snprintf(path, sizeof(path), CORPUS "/rfc7520-cookbook/%s", files[i]);
		root_ptr = load(path);
		compact = json_string_value(json_object_get(json_object_get(root_ptr, "output"), "compact"));
		/* The cookbook's keys hold private parts: only the public ones
		 * are read. The HMAC key is 32 bytes. */
		assert_int_equal(keys_from_json(json_object_get(json_object_get(root_ptr, "input"), "key"), 0, &keys),
				 0);
		assert_int_equal(check_signature(compact, &keys, 0), GW_JWT_VALID);
		gw_jwt_keys_free(&keys);
		json_decref(root_ptr);
	}
}

static char *read_text(const char *path)
{
	FILE *file_ptr = fopen(path, "r");
	static char text[65536];
	size_t n;

	assert_non_null(file_ptr);
	n = fread(text, 1, sizeof(text) - 1, file_ptr);
	text[n] = '\0';
	fclose(file_ptr);
	return text;
}

/* nginx-auth-jwt's gateway tokens, each with its expected verdict: HS
 * secrets there are 12 bytes, so this set allows short HMAC keys. vkgw
 * refuses iat -1 (not a time before now), which nginx-auth-jwt accepts
 * unless its iat check is on. */
/* Its jwks.json mixes HMAC secrets and public keys, which vkgw refuses
 * in one set (Wycheproof's MixedKeySet): split into two, as two providers
 * would hold them. */
static void split_keys(const char *text, struct gw_jwt_keys *secrets_ptr, struct gw_jwt_keys *public_ptr)
{
	json_t *root_ptr = json_loads(text, 0, NULL), *secrets = json_array(), *publics = json_array(), *jwk_ptr;
	json_t *wrap;
	size_t i;

	assert_non_null(root_ptr);
	json_array_foreach(json_object_get(root_ptr, "keys"), i, jwk_ptr) {
		json_array_append(strcmp(json_string_value(json_object_get(jwk_ptr, "kty")), "oct") == 0 ? secrets
													 : publics,
				  jwk_ptr);
	}
	wrap = json_pack("{sO}", "keys", secrets);
	assert_int_equal(keys_from_json(wrap, 1, secrets_ptr), 0);
	json_decref(wrap);
	wrap = json_pack("{sO}", "keys", publics);
	assert_int_equal(keys_from_json(wrap, 0, public_ptr), 0);
	json_decref(wrap);
	json_decref(secrets);
	json_decref(publics);
	json_decref(root_ptr);
}

static void test_nginx_auth_jwt(void **state)
{
	json_t *root_ptr = load(CORPUS "/nginx-auth-jwt/tokens_expected.json");
	const char *text = read_text(CORPUS "/nginx-auth-jwt/data/jwks.json");
	struct gw_jwt_keys keys, public_keys, keys10;
	struct gw_jwt_claims_policy policy = {.skew_s = 60};
	const json_t *token_ptr;
	char err[256];
	size_t i;
	int run = 0;

	(void)state;
	assert_int_equal(gw_jwt_keys_parse(text, strlen(text), 0, 1, &keys, err, sizeof(err)), -1);
	assert_string_equal(err, "a key set with both secret (oct) and public keys: give them to two providers");
	split_keys(text, &keys, &public_keys);
	text = read_text(CORPUS "/nginx-auth-jwt/data/test10.jwk");
	assert_int_equal(gw_jwt_keys_parse(text, strlen(text), 0, 1, &keys10, err, sizeof(err)), 0);
	/* Without the allowance, their 12-byte secrets are refused. */
	text = read_text(CORPUS "/nginx-auth-jwt/data/jwks.json");
	{
		struct gw_jwt_keys strict;

		assert_int_equal(gw_jwt_keys_parse(text, strlen(text), 0, 0, &strict, err, sizeof(err)), -1);
		assert_string_equal(err, "key 0: an HMAC key of 12 bytes: at least 32 (RFC 7518 3.2)");
	}
	json_array_foreach(json_object_get(root_ptr, "tokens"), i, token_ptr) {
		const char *name = json_string_value(json_object_get(token_ptr, "name"));
		const char *expected = json_string_value(json_object_get(token_ptr, "expected"));
		const char *token = json_string_value(json_object_get(token_ptr, "token"));
		static char buf[TOKEN_BUF];
		struct gw_jwt_token tok;
		const char *why = "";
		enum gw_jwt_status status = gw_jwt_decode(token, strlen(token), 1, buf, sizeof(buf), &tok, &why);
		int accept = strncmp(expected, "accept", 6) == 0;

		if (status == GW_JWT_VALID)
			status = gw_jwt_verify(&tok, strcmp(name, "test10_jwt") == 0 ? &keys10
						     : tok.alg <= GW_JWT_HS512	     ? &keys
										     : &public_keys);
		if (status == GW_JWT_VALID)
			status = gw_jwt_check_claims(tok.payload_ptr, &policy, time(NULL), &why);
		if (strcmp(name, "test1_invalid_iat_jwt") == 0)
			assert_int_equal(status, GW_JWT_BAD_IAT);
		else if ((status == GW_JWT_VALID) != accept)
			fail_msg("%s: %s, got status %d (%s)", name, expected, status, why);
		json_decref(tok.header_ptr);
		json_decref(tok.payload_ptr);
		run++;
	}
	assert_int_equal(run, 28);
	gw_jwt_keys_free(&keys);
	gw_jwt_keys_free(&public_keys);
	gw_jwt_keys_free(&keys10);
	json_decref(root_ptr);
}

/* ---- made here ---- */

static void b64url(const void *bytes, size_t len, char *out)
{
	size_t n;

	EVP_EncodeBlock((uint8_t *)out, bytes, len);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '=')
		out[--n] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/* An HS256 token of header and payload under `secret`. */
static void hs256(const char *header, const char *payload, const void *secret, size_t secret_len, char *out)
{
	uint8_t mac[32];
	unsigned mac_len;
	char h[1024], p[1024], s[64];

	b64url(header, strlen(header), h);
	b64url(payload, strlen(payload), p);
	sprintf(out, "%s.%s", h, p);
	HMAC(EVP_sha256(), secret, secret_len, (const uint8_t *)out, strlen(out), mac, &mac_len);
	b64url(mac, mac_len, s);
	strcat(out, ".");
	strcat(out, s);
}

#define SECRET "0123456789abcdef0123456789abcdef"
#define OCT_JWK "{\"kty\":\"oct\",\"kid\":\"k1\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}"

static void test_decoding_is_strict(void **state)
{
	struct gw_jwt_keys keys;
	char token[4096], bad[4200], err[256];

	(void)state;
	assert_int_equal(gw_jwt_keys_parse(OCT_JWK, strlen(OCT_JWK), 0, 0, &keys, err, sizeof(err)), 0);
	hs256("{\"alg\":\"HS256\",\"kid\":\"k1\"}", "{\"sub\":\"a\"}", SECRET, 32, token);
	assert_int_equal(check_signature(token, &keys, 1), GW_JWT_VALID);
	/* "none", whatever the case; an algorithm unknown. */
	hs256("{\"alg\":\"nOnE\",\"kid\":\"k1\"}", "{}", SECRET, 32, bad);
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_BAD_ALG);
	hs256("{\"alg\":\"hs256\",\"kid\":\"k1\"}", "{}", SECRET, 32, bad);
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_BAD_ALG);
	/* Padding, a fourth segment, a stray character. */
	snprintf(bad, sizeof(bad), "%s=", token);
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_MALFORMED);
	snprintf(bad, sizeof(bad), "%s.x", token);
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_MALFORMED);
	snprintf(bad, sizeof(bad), "%s", token);
	bad[3] = '+';
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_MALFORMED);
	/* A last character with bits past the end: another spelling of the
	 * same bytes is not the token. {"sub":"a"} is 11 bytes: its base64url
	 * ends in a 3-character group whose last character keeps 2 bits spare. */
	{
		char *dot2 = strrchr(token, '.');
		char c = dot2[-1];

		snprintf(bad, sizeof(bad), "%s", token);
		bad[dot2 - token - 1] = (char)(c == 'Q' ? 'R' : c + 1);
		assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_MALFORMED);
	}
	/* crit; duplicate members; a payload that is no object. */
	hs256("{\"alg\":\"HS256\",\"kid\":\"k1\",\"crit\":[\"b64\"],\"b64\":false}", "{}", SECRET, 32, bad);
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_MALFORMED);
	hs256("{\"alg\":\"HS256\",\"alg\":\"HS256\",\"kid\":\"k1\"}", "{}", SECRET, 32, bad);
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_MALFORMED);
	hs256("{\"alg\":\"HS256\",\"kid\":\"k1\"}", "{\"sub\":\"a\",\"sub\":\"b\"}", SECRET, 32, bad);
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_MALFORMED);
	hs256("{\"alg\":\"HS256\",\"kid\":\"k1\"}", "[1]", SECRET, 32, bad);
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_MALFORMED);
	/* Another kid: unknown; none with one key: that key; a wrong secret. */
	hs256("{\"alg\":\"HS256\",\"kid\":\"k2\"}", "{}", SECRET, 32, bad);
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_UNKNOWN_KID);
	hs256("{\"alg\":\"HS256\"}", "{}", SECRET, 32, bad);
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_VALID);
	hs256("{\"alg\":\"HS256\",\"kid\":\"k1\"}", "{}", "x" SECRET, 33, bad);
	assert_int_equal(check_signature(bad, &keys, 1), GW_JWT_BAD_SIGNATURE);
	gw_jwt_keys_free(&keys);
}

/* The classic confusion: an RS256 key's public PEM as an HMAC secret.
 * The key says RSA, so HS256 is refused before any HMAC is computed. */
static void test_rsa_key_is_no_hmac_secret(void **state)
{
	json_t *root_ptr = load(CORPUS "/rfc7515_appendix_a.json");
	const json_t *rsa_jwk_ptr = json_object_get(json_array_get(json_object_get(root_ptr, "vectors"), 1), "key");
	struct gw_jwt_keys keys;
	char token[4096];
	char *jwk_text = json_dumps(rsa_jwk_ptr, 0);

	(void)state;
	assert_int_equal(keys_from_json(rsa_jwk_ptr, 0, &keys), 0);
	hs256("{\"alg\":\"HS256\"}", "{}", jwk_text, strlen(jwk_text), token);
	assert_int_equal(check_signature(token, &keys, 1), GW_JWT_BAD_ALG);
	hs256("{\"alg\":\"ES256\"}", "{}", jwk_text, strlen(jwk_text), token);
	assert_int_equal(check_signature(token, &keys, 1), GW_JWT_BAD_ALG);
	free(jwk_text);
	gw_jwt_keys_free(&keys);
	json_decref(root_ptr);
}

static void test_keys(void **state)
{
	struct gw_jwt_keys keys;
	char err[256];
	const char *text;

	(void)state;
	text = "{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}";
	assert_int_equal(gw_jwt_keys_parse(text, strlen(text), 0, 0, &keys, err, sizeof(err)), -1);
	assert_string_equal(err, "an HMAC key of 5 bytes: at least 32 (RFC 7518 3.2)");
	text = "{\"kty\":\"oct\",\"alg\":\"RS256\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}";
	assert_int_equal(gw_jwt_keys_parse(text, strlen(text), 0, 0, &keys, err, sizeof(err)), -1);
	assert_string_equal(err, "\"alg\" RS256 does not fit the key's type");
	text = "{\"kty\":\"oct\",\"use\":\"enc\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}";
	assert_int_equal(gw_jwt_keys_parse(text, strlen(text), 0, 0, &keys, err, sizeof(err)), -1);
	text = OCT_JWK;
	assert_int_equal(
		gw_jwt_keys_parse(text, strlen(text), GW_JWT_ALG_BIT(GW_JWT_RS256), 0, &keys, err, sizeof(err)), -1);
	assert_string_equal(err, "the key verifies none of the algorithms allowed");
	/* 32 bytes: HS256 only, not HS384 or HS512. */
	assert_int_equal(gw_jwt_keys_parse(text, strlen(text), 0, 0, &keys, err, sizeof(err)), 0);
	assert_int_equal(keys.keys_ptr[0].algs, GW_JWT_ALG_BIT(GW_JWT_HS256));
	gw_jwt_keys_free(&keys);
	text = "{\"keys\":[" OCT_JWK ",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}";
	assert_int_equal(gw_jwt_keys_parse(text, strlen(text), 0, 0, &keys, err, sizeof(err)), -1);
	assert_string_equal(err, "key 1: an EC key's \"x\" and \"y\" are 32 bytes each on P-256");
	text = "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n";
	assert_int_equal(gw_jwt_keys_parse(text, strlen(text), 0, 0, &keys, err, sizeof(err)), -1);
	assert_string_equal(err, "PEM block 1: not a public key or certificate BoringSSL reads");
}

static void test_claims(void **state)
{
	static const char *const audiences[] = {"api", "web"};
	static const char *const required[] = {"sub"};
	struct gw_jwt_claims_policy policy = {.issuer = "https://idp",
					      .audiences = audiences,
					      .audience_count = 2,
					      .skew_s = 60,
					      .required = required,
					      .required_count = 1};
	const char *why;
	json_t *p;

	(void)state;
#define CLAIMS(text, now, status)                                             \
	p = json_loads(text, 0, NULL);                                        \
	assert_non_null(p);                                                   \
	assert_int_equal(gw_jwt_check_claims(p, &policy, now, &why), status); \
	json_decref(p)
	CLAIMS("{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"exp\":1000}", 1000 + 59, GW_JWT_VALID);
	CLAIMS("{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"exp\":1000}", 1000 + 60, GW_JWT_EXPIRED);
	CLAIMS("{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"nbf\":1000}", 1000 - 60, GW_JWT_VALID);
	CLAIMS("{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"nbf\":1000}", 1000 - 61, GW_JWT_NOT_YET_VALID);
	CLAIMS("{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"iat\":2000}", 1000, GW_JWT_BAD_IAT);
	CLAIMS("{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"exp\":\"2000\"}", 1000, GW_JWT_MALFORMED);
	CLAIMS("{\"iss\":\"https://other\",\"aud\":\"api\",\"sub\":\"a\"}", 1000, GW_JWT_BAD_ISSUER);
	CLAIMS("{\"aud\":\"api\",\"sub\":\"a\"}", 1000, GW_JWT_BAD_ISSUER);
	CLAIMS("{\"iss\":\"https://idp\",\"aud\":[\"x\",\"web\"],\"sub\":\"a\"}", 1000, GW_JWT_VALID);
	CLAIMS("{\"iss\":\"https://idp\",\"aud\":[\"x\",1],\"sub\":\"a\"}", 1000, GW_JWT_BAD_AUDIENCE);
	CLAIMS("{\"iss\":\"https://idp\",\"sub\":\"a\"}", 1000, GW_JWT_BAD_AUDIENCE);
	CLAIMS("{\"iss\":\"https://idp\",\"aud\":\"api\"}", 1000, GW_JWT_MISSING_CLAIM);
#undef CLAIMS
}

/* On the request path jansson allocates from a scratch buffer: a token
 * too big for it fails to parse (a hundred numbers do not fit 2 KiB),
 * nothing is malloc'd. */
static void test_json_scratch(void **state)
{
	char token[4096], payload[2048];
	struct gw_jwt_keys keys;
	char err[256];

	(void)state;
	assert_int_equal(gw_jwt_keys_parse(OCT_JWK, strlen(OCT_JWK), 0, 0, &keys, err, sizeof(err)), 0);
	strcpy(payload, "{\"a\":[");
	for (int i = 0; i < 100; i++)
		strcat(payload, i ? ",1" : "1");
	strcat(payload, "]}");
	assert_int_equal(gw_json_scratch_reserve(2048), 0);
	assert_int_equal(gw_json_scratch_reserve(1024), 0); /* it never shrinks */
	hs256("{\"alg\":\"HS256\"}", payload, SECRET, 32, token);
	gw_json_scratch_begin();
	assert_int_equal(check_signature(token, &keys, 1), GW_JWT_MALFORMED);
	hs256("{\"alg\":\"HS256\"}", "{\"sub\":\"a\"}", SECRET, 32, token);
	gw_json_scratch_begin();
	assert_int_equal(check_signature(token, &keys, 1), GW_JWT_VALID);
	gw_json_scratch_end();
	hs256("{\"alg\":\"HS256\"}", payload, SECRET, 32, token);
	assert_int_equal(check_signature(token, &keys, 1), GW_JWT_VALID);
	gw_jwt_keys_free(&keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wycheproof),
		cmocka_unit_test(test_wycheproof_jwk),
		cmocka_unit_test(test_wycheproof_primitives),
		cmocka_unit_test(test_rfc7515_appendix_a),
		cmocka_unit_test(test_rfc7520_cookbook),
		cmocka_unit_test(test_nginx_auth_jwt),
		cmocka_unit_test(test_decoding_is_strict),
		cmocka_unit_test(test_rsa_key_is_no_hmac_secret),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_json_scratch),
	};

	gw_json_scratch_install();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
