/* gw_jwt_keys: verification keys from JWK Sets (RFC 7517, 7518 6) and
 * PEM, each with the algorithms it may verify (gw_jwt.h). */
#include "gw_jwt.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JWK_PART_MAX 1024 /* bytes of one decoded member (an 8192-bit modulus) */

struct parse {
	unsigned algs; /* the provider's, or every one */
	int allow_short_hmac;
	char *err;
	size_t err_len;
};

static int problem(struct parse *p_ptr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p_ptr->err, p_ptr->err_len, fmt, ap);
	va_end(ap);
	return -1;
}

/* A base64url member of a JWK (padding tolerated: some issuers add it). */
static long jwk_bytes(const json_t *jwk_ptr, const char *name, uint8_t *out, size_t cap)
{
	const json_t *value_ptr = json_object_get(jwk_ptr, name);
	char quad[4];
	const char *s;
	size_t len, n = 0, decoded;

	if (!json_is_string(value_ptr))
		return -1;
	s = json_string_value(value_ptr);
	len = json_string_length(value_ptr);
	while (len > 0 && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		for (size_t k = 0; k < 4; k++) {
			char c = i + k < len ? s[i + k] : '=';

			if (c == '+' || c == '/')
				return -1;
			quad[k] = c == '-' ? '+' : c == '_' ? '/' : c;
		}
		if (n + 3 > cap || !EVP_DecodeBase64(out + n, &decoded, 3, (const uint8_t *)quad, 4))
			return -1;
		n += decoded;
	}
	return (long)n;
}

/* "use" and "key_ops": a key for encryption does not verify. */
static int usable_for_signatures(const json_t *jwk_ptr)
{
	const json_t *use_ptr = json_object_get(jwk_ptr, "use"), *ops_ptr = json_object_get(jwk_ptr, "key_ops");
	const json_t *op_ptr;
	size_t i;
	int verify = 0;

	if (use_ptr && (!json_is_string(use_ptr) || strcmp(json_string_value(use_ptr), "sig") != 0))
		return 0;
	if (!ops_ptr)
		return 1;
	json_array_foreach(ops_ptr, i, op_ptr) {
		verify |= json_is_string(op_ptr) && strcmp(json_string_value(op_ptr), "verify") == 0;
	}
	return verify;
}

static unsigned hmac_algs_for_length(size_t len)
{
	return (len >= 32 ? GW_JWT_ALG_BIT(GW_JWT_HS256) : 0) | (len >= 48 ? GW_JWT_ALG_BIT(GW_JWT_HS384) : 0) |
	       (len >= 64 ? GW_JWT_ALG_BIT(GW_JWT_HS512) : 0);
}

static int oct_key(struct parse *p_ptr, const json_t *jwk_ptr, struct gw_jwt_key *key_ptr, unsigned *type_algs)
{
	uint8_t bytes[JWK_PART_MAX];
	long n = jwk_bytes(jwk_ptr, "k", bytes, sizeof(bytes));

	if (n <= 0)
		return problem(p_ptr, "an \"oct\" key needs \"k\", base64url");
	key_ptr->secret = malloc((size_t)n);
	if (!key_ptr->secret)
		return problem(p_ptr, "out of memory");
	memcpy(key_ptr->secret, bytes, (size_t)n);
	key_ptr->secret_len = (size_t)n;
	*type_algs = p_ptr->allow_short_hmac ? GW_JWT_HMAC_ALGS : hmac_algs_for_length((size_t)n);
	if (!*type_algs)
		return problem(p_ptr, "an HMAC key of %ld bytes: at least 32 (RFC 7518 3.2)", n);
	return 0;
}

static BIGNUM *jwk_bignum(const json_t *jwk_ptr, const char *name)
{
	uint8_t bytes[JWK_PART_MAX];
	long n = jwk_bytes(jwk_ptr, name, bytes, sizeof(bytes));

	return n > 0 ? BN_bin2bn(bytes, (size_t)n, NULL) : NULL;
}

/* ROCA (CVE-2017-15361): moduli from Infineon's flawed generator are
 * 65537^k mod M for a primorial M, so for every small prime p, n mod p
 * lies in the subgroup 65537 generates mod p. A random modulus does so for
 * all of these primes with negligible probability. */
static int roca_fingerprint(const BIGNUM *n)
{
	static const unsigned primes[] = {3,   5,   7,	 11,  13,  17,	19,  23,  29,  31,  37,	 41,  43,
					  47,  53,  59,	 61,  67,  71,	73,  79,  83,  89,  97,	 101, 103,
					  107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167};

	for (size_t i = 0; i < sizeof(primes) / sizeof(primes[0]); i++) {
		unsigned p = primes[i], residue = (unsigned)BN_mod_word(n, p), g = 65537 % p, x = 1;
		int in_subgroup = 0;

		for (unsigned k = 0; k < p && !in_subgroup; k++) {
			in_subgroup = x == residue;
			x = x * g % p;
		}
		if (!in_subgroup)
			return 0;
	}
	return 1;
}

/* What a public exponent must be: odd, above 1, at most 2^32 (RFC 8017
 * allows more; no issuer uses it, and small ones like 1 are no signature). */
static int exponent_sane(const BIGNUM *e)
{
	return BN_is_odd(e) && !BN_is_one(e) && BN_num_bits(e) <= 33;
}

static int rsa_key(struct parse *p_ptr, const json_t *jwk_ptr, struct gw_jwt_key *key_ptr, unsigned *type_algs)
{
	BIGNUM *n = jwk_bignum(jwk_ptr, "n"), *e = jwk_bignum(jwk_ptr, "e");
	RSA *rsa_ptr = RSA_new();
	int rc = -1;

	if (!n || !e || !rsa_ptr)
		problem(p_ptr, "an \"RSA\" key needs \"n\" and \"e\", base64url");
	else if (!exponent_sane(e))
		problem(p_ptr, "an RSA key whose exponent is not odd and above 1");
	else if (!RSA_set0_key(rsa_ptr, n, e, NULL))
		problem(p_ptr, "an RSA key BoringSSL does not take");
	else if ((n = e = NULL, RSA_bits(rsa_ptr) < GW_JWT_RSA_MIN_BITS))
		problem(p_ptr, "an RSA key of %u bits: at least %d", RSA_bits(rsa_ptr), GW_JWT_RSA_MIN_BITS);
	else if (roca_fingerprint(RSA_get0_n(rsa_ptr)))
		problem(p_ptr, "an RSA key made by a generator with the ROCA flaw (CVE-2017-15361)");
	else if (!(key_ptr->pkey = EVP_PKEY_new()) || !EVP_PKEY_set1_RSA(key_ptr->pkey, rsa_ptr))
		problem(p_ptr, "out of memory");
	else
		rc = 0;
	BN_free(n);
	BN_free(e);
	RSA_free(rsa_ptr);
	*type_algs = GW_JWT_RSA_ALGS;
	return rc;
}

static const struct {
	const char *crv;
	int nid;
	size_t bytes;
	enum gw_jwt_alg alg;
} curves[] = {
	{"P-256", NID_X9_62_prime256v1, 32, GW_JWT_ES256},
	{"P-384", NID_secp384r1, 48, GW_JWT_ES384},
	{"P-521", NID_secp521r1, 66, GW_JWT_ES512},
};

/* An EC public key from its curve and coordinates; the point must be on
 * the curve (EC_KEY_check_key). */
static int ec_pkey(struct parse *p_ptr, int curve, const uint8_t *x, const uint8_t *y, struct gw_jwt_key *key_ptr)
{
	EC_KEY *ec_ptr = EC_KEY_new_by_curve_name(curves[curve].nid);
	BIGNUM *bx = BN_bin2bn(x, curves[curve].bytes, NULL), *by = BN_bin2bn(y, curves[curve].bytes, NULL);
	EC_POINT *point_ptr = ec_ptr ? EC_POINT_new(EC_KEY_get0_group(ec_ptr)) : NULL;
	int rc = -1;

	if (!ec_ptr || !bx || !by || !point_ptr)
		problem(p_ptr, "out of memory");
	else if (!EC_POINT_set_affine_coordinates_GFp(EC_KEY_get0_group(ec_ptr), point_ptr, bx, by, NULL) ||
		 !EC_KEY_set_public_key(ec_ptr, point_ptr) || !EC_KEY_check_key(ec_ptr))
		problem(p_ptr, "an EC key whose point is not on %s", curves[curve].crv);
	else if (!(key_ptr->pkey = EVP_PKEY_new()) || !EVP_PKEY_set1_EC_KEY(key_ptr->pkey, ec_ptr))
		problem(p_ptr, "out of memory");
	else
		rc = 0;
	EC_POINT_free(point_ptr);
	BN_free(bx);
	BN_free(by);
	EC_KEY_free(ec_ptr);
	return rc;
}

static int ec_key(struct parse *p_ptr, const json_t *jwk_ptr, struct gw_jwt_key *key_ptr, unsigned *type_algs)
{
	const char *crv = json_string_value(json_object_get(jwk_ptr, "crv"));
	uint8_t x[JWK_PART_MAX], y[JWK_PART_MAX];
	int curve = -1;

	for (int i = 0; i < 3 && crv; i++)
		if (strcmp(crv, curves[i].crv) == 0)
			curve = i;
	if (curve < 0)
		return problem(p_ptr, "an \"EC\" key needs \"crv\" P-256, P-384 or P-521");
	/* Exactly the curve's size: RFC 7518 6.2.1.2. */
	if (jwk_bytes(jwk_ptr, "x", x, sizeof(x)) != (long)curves[curve].bytes ||
	    jwk_bytes(jwk_ptr, "y", y, sizeof(y)) != (long)curves[curve].bytes)
		return problem(p_ptr, "an EC key's \"x\" and \"y\" are %zu bytes each on %s", curves[curve].bytes, crv);
	*type_algs = GW_JWT_ALG_BIT(curves[curve].alg);
	return ec_pkey(p_ptr, curve, x, y, key_ptr);
}

static int okp_key(struct parse *p_ptr, const json_t *jwk_ptr, struct gw_jwt_key *key_ptr, unsigned *type_algs)
{
	const char *crv = json_string_value(json_object_get(jwk_ptr, "crv"));
	uint8_t x[JWK_PART_MAX];

	if (!crv || strcmp(crv, "Ed25519") != 0)
		return problem(p_ptr, "an \"OKP\" key needs \"crv\" Ed25519");
	if (jwk_bytes(jwk_ptr, "x", x, sizeof(x)) != 32)
		return problem(p_ptr, "an Ed25519 key's \"x\" is 32 bytes");
	key_ptr->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
	*type_algs = GW_JWT_ALG_BIT(GW_JWT_EDDSA);
	return key_ptr->pkey ? 0 : problem(p_ptr, "an Ed25519 key BoringSSL does not take");
}

/* The algorithms a key may verify: its type's, narrowed by its "alg" and
 * by the provider's. */
static int settle_algs(struct parse *p_ptr, const json_t *jwk_ptr, unsigned type_algs, struct gw_jwt_key *key_ptr)
{
	const json_t *alg_ptr = json_object_get(jwk_ptr, "alg");
	unsigned algs = type_algs & p_ptr->algs;

	if (alg_ptr) {
		int alg = json_is_string(alg_ptr)
				  ? gw_jwt_alg_from_name(json_string_value(alg_ptr), json_string_length(alg_ptr))
				  : -1;

		if (alg < 0)
			return problem(p_ptr, "\"alg\" is not a signature algorithm vkgw takes");
		if (!(type_algs & GW_JWT_ALG_BIT(alg)))
			return problem(p_ptr, "\"alg\" %s does not fit the key's type", gw_jwt_alg_name(alg));
		algs &= GW_JWT_ALG_BIT(alg);
	}
	if (!algs)
		return problem(p_ptr, "the key verifies none of the algorithms allowed");
	key_ptr->algs = algs;
	return 0;
}

static int parse_jwk(struct parse *p_ptr, const json_t *jwk_ptr, struct gw_jwt_key *key_ptr)
{
	const char *kty = json_string_value(json_object_get(jwk_ptr, "kty"));
	const json_t *kid_ptr = json_object_get(jwk_ptr, "kid");
	unsigned type_algs = 0;
	int rc;

	if (!json_is_object(jwk_ptr))
		return problem(p_ptr, "a key is not a JSON object");
	if (kid_ptr && (!json_is_string(kid_ptr) || json_string_length(kid_ptr) > GW_JWT_KID_MAX))
		return problem(p_ptr, "\"kid\" is not a string of at most %d bytes", GW_JWT_KID_MAX);
	if (kid_ptr && json_string_length(kid_ptr) > 0 && !(key_ptr->kid = strdup(json_string_value(kid_ptr))))
		return problem(p_ptr, "out of memory");
	if (!usable_for_signatures(jwk_ptr))
		return problem(p_ptr, "a key for encryption (\"use\" or \"key_ops\"), not for verifying signatures");
	if (!kty)
		return problem(p_ptr, "a key without \"kty\"");
	if (strcmp(kty, "oct") == 0)
		rc = oct_key(p_ptr, jwk_ptr, key_ptr, &type_algs);
	else if (strcmp(kty, "RSA") == 0)
		rc = rsa_key(p_ptr, jwk_ptr, key_ptr, &type_algs);
	else if (strcmp(kty, "EC") == 0)
		rc = ec_key(p_ptr, jwk_ptr, key_ptr, &type_algs);
	else if (strcmp(kty, "OKP") == 0)
		rc = okp_key(p_ptr, jwk_ptr, key_ptr, &type_algs);
	else
		rc = problem(p_ptr, "\"kty\" %s: vkgw takes oct, RSA, EC and OKP", kty);
	return rc == 0 ? settle_algs(p_ptr, jwk_ptr, type_algs, key_ptr) : -1;
}

static void key_clear(struct gw_jwt_key *key_ptr)
{
	free(key_ptr->kid);
	EVP_PKEY_free(key_ptr->pkey);
	if (key_ptr->secret)
		OPENSSL_cleanse(key_ptr->secret, key_ptr->secret_len);
	free(key_ptr->secret);
	memset(key_ptr, 0, sizeof(*key_ptr));
}

void gw_jwt_keys_free(struct gw_jwt_keys *keys_ptr)
{
	for (int i = 0; i < keys_ptr->count; i++)
		key_clear(&keys_ptr->keys_ptr[i]);
	free(keys_ptr->keys_ptr);
	keys_ptr->keys_ptr = NULL;
	keys_ptr->count = 0;
}

/* Across the set: a kid names one key, and secrets (oct) are not mixed
 * with public keys, where a public key's bytes could be taken for a
 * secret (RFC 8725 3.1). */
static int check_set(struct parse *p_ptr, const struct gw_jwt_keys *keys_ptr)
{
	int secret = 0, public = 0;

	for (int i = 0; i < keys_ptr->count; i++) {
		const struct gw_jwt_key *key_ptr = &keys_ptr->keys_ptr[i];

		secret |= key_ptr->secret != NULL;
		public |= key_ptr->pkey != NULL;
		for (int j = 0; j < i && key_ptr->kid; j++)
			if (keys_ptr->keys_ptr[j].kid && strcmp(keys_ptr->keys_ptr[j].kid, key_ptr->kid) == 0)
				return problem(p_ptr, "keys %d and %d have the same kid \"%s\"", j, i, key_ptr->kid);
	}
	if (secret && public)
		return problem(p_ptr, "a key set with both secret (oct) and public keys: give them to two providers");
	return 0;
}

static int parse_jwks(struct parse *p_ptr, const char *text, size_t len, struct gw_jwt_keys *out)
{
	json_error_t error;
	json_t *root_ptr = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
	const json_t *keys_json_ptr, *jwk_ptr;
	size_t i, count;
	int rc = 0;

	if (!root_ptr)
		return problem(p_ptr, "not JSON: line %d: %s", error.line, error.text);
	keys_json_ptr = json_object_get(root_ptr, "keys");
	count = keys_json_ptr ? json_array_size(keys_json_ptr) : 1;
	if ((keys_json_ptr && !json_is_array(keys_json_ptr)) || !json_is_object(root_ptr) || count == 0) {
		json_decref(root_ptr);
		return problem(p_ptr, "neither a JWK Set with keys nor a JWK");
	}
	out->keys_ptr = calloc(count, sizeof(struct gw_jwt_key));
	if (!out->keys_ptr) {
		json_decref(root_ptr);
		return problem(p_ptr, "out of memory");
	}
	if (!keys_json_ptr) {
		rc = parse_jwk(p_ptr, root_ptr, &out->keys_ptr[0]);
		out->count = 1;
	}
	json_array_foreach(keys_json_ptr, i, jwk_ptr) {
		out->count++;
		if (rc == 0 && parse_jwk(p_ptr, jwk_ptr, &out->keys_ptr[i]) == -1) {
			char again[256];

			snprintf(again, sizeof(again), "key %zu: %s", i, p_ptr->err);
			snprintf(p_ptr->err, p_ptr->err_len, "%s", again);
			rc = -1;
		}
	}
	json_decref(root_ptr);
	return rc == 0 ? check_set(p_ptr, out) : -1;
}

/* A public key from PEM (SubjectPublicKeyInfo or a certificate's) with
 * the algorithms of its type. */
static int pem_key(struct parse *p_ptr, EVP_PKEY *pkey, struct gw_jwt_key *key_ptr)
{
	unsigned type_algs = 0;
	const EC_KEY *ec_ptr;

	key_ptr->pkey = pkey;
	switch (EVP_PKEY_id(pkey)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_bits(pkey) < GW_JWT_RSA_MIN_BITS)
			return problem(p_ptr, "an RSA key of %d bits: at least %d", EVP_PKEY_bits(pkey),
				       GW_JWT_RSA_MIN_BITS);
		type_algs = GW_JWT_RSA_ALGS;
		break;
	case EVP_PKEY_EC:
		ec_ptr = EVP_PKEY_get0_EC_KEY(pkey);
		for (int i = 0; i < 3; i++)
			if (EC_GROUP_get_curve_name(EC_KEY_get0_group(ec_ptr)) == curves[i].nid)
				type_algs = GW_JWT_ALG_BIT(curves[i].alg);
		break;
	case EVP_PKEY_ED25519:
		type_algs = GW_JWT_ALG_BIT(GW_JWT_EDDSA);
		break;
	}
	if (!type_algs)
		return problem(p_ptr, "a PEM key of a type or curve vkgw does not take");
	key_ptr->algs = type_algs & p_ptr->algs;
	return key_ptr->algs ? 0 : problem(p_ptr, "the key verifies none of the algorithms allowed");
}

static int parse_pem(struct parse *p_ptr, const char *text, size_t len, struct gw_jwt_keys *out)
{
	int cap = 0;

	for (const char *s = text; (s = strstr(s, "-----BEGIN ")); s++)
		cap++;
	out->keys_ptr = calloc((size_t)(cap ? cap : 1), sizeof(struct gw_jwt_key));
	if (!out->keys_ptr)
		return problem(p_ptr, "out of memory");
	for (const char *s = text; out->count < cap && (s = strstr(s, "-----BEGIN ")); s++) {
		BIO *bio_ptr = BIO_new_mem_buf(s, (int)(text + len - s));
		EVP_PKEY *pkey = NULL;
		X509 *cert_ptr = NULL;

		if (strncmp(s, "-----BEGIN CERTIFICATE-----", 27) == 0) {
			cert_ptr = bio_ptr ? PEM_read_bio_X509(bio_ptr, NULL, NULL, NULL) : NULL;
			pkey = cert_ptr ? X509_get_pubkey(cert_ptr) : NULL;
		} else if (strncmp(s, "-----BEGIN PUBLIC KEY-----", 26) == 0) {
			pkey = bio_ptr ? PEM_read_bio_PUBKEY(bio_ptr, NULL, NULL, NULL) : NULL;
		}
		X509_free(cert_ptr);
		BIO_free(bio_ptr);
		if (!pkey)
			return problem(p_ptr, "PEM block %d: not a public key or certificate BoringSSL reads",
				       out->count + 1);
		if (pem_key(p_ptr, pkey, &out->keys_ptr[out->count++]) == -1)
			return -1;
	}
	return out->count ? 0 : problem(p_ptr, "no PEM block");
}

int gw_jwt_keys_parse(const char *text, size_t len, unsigned algs, int allow_short_hmac, struct gw_jwt_keys *out,
		      char *err, size_t err_len)
{
	struct parse p = {.algs = algs ? algs : GW_JWT_ALL_ALGS,
			  .allow_short_hmac = allow_short_hmac,
			  .err = err,
			  .err_len = err_len};
	size_t skip = strspn(text, " \t\r\n");
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	rc = skip < len && text[skip] == '{' ? parse_jwks(&p, text, len, out) : parse_pem(&p, text, len, out);
	if (rc == -1)
		gw_jwt_keys_free(out);
	return rc;
}
