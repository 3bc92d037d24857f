/* gw_filter_jwt: a request must carry a JSON Web Token one of the route's
 * providers signed.
 *
 *   {"type": "jwt",
 *    "providers": [ {"name": "idp", "issuer": "https://idp.example",
 *                    "audiences": ["api"], "keys_file": "jwks.json",
 *                    "algorithms": ["RS256", "ES256"],
 *                    "from": [{"header": "authorization", "prefix": "Bearer "},
 *                             {"query": "access_token"}, {"cookie": "jwt"}],
 *                    "clock_skew_seconds": 60, "required_claims": ["sub"],
 *                    "claims_to_headers": {"sub": "x-user"},
 *                    "consumer_claim": "sub", "payload_header": "x-jwt-payload",
 *                    "forward_token": false} ],
 *    "allow_missing": false, "scopes": ["read"],
 *    "cache_entries": 1024, "cache_seconds": 300, "max_token_bytes": 8192}
 *
 * Each provider names where its tokens come from and the keys that verify
 * them (a JWK Set or PEM file, "keys" inline, or "jwks": a JWK Set fetched
 * from an upstream and refreshed, gw_jwt_remote.h); gw_jwt.h does the
 * decoding, the signatures and the claims. The first provider whose token
 * verifies lets the request through (one provider: that one is required;
 * several: any of them); with "allow_missing", a request with no token at
 * all goes through without an identity, but a token that is there must be
 * good. "scopes" must all be granted ("scope", space-separated, or "scp").
 *
 * Answers: no token: 401 with WWW-Authenticate: Bearer realm="vkgw"; a
 * bad one: 401 with error="invalid_token" and an error_description; a
 * good one lacking a scope: 403 with error="insufficient_scope"; a token
 * of a remote provider whose keys never came: 503. A token whose kid a
 * remote set lacks (or before the set came) waits for a fetch when one may
 * start (gw_jwt_remote_want), then is judged with what it brought.
 *
 * A verified signature is remembered per kernel (gw_verified_cache.h,
 * the token's tag under the kernel's secret) until the token's "exp" or
 * "cache_seconds", whichever comes first: a repeated token costs an HMAC
 * and its claims' checks, not a signature check. The headers the filter
 * sets (claims_to_headers, payload_header) are removed from every
 * request first, so a client cannot send its own. JSON is parsed into a
 * per-kernel scratch region (gw_json_scratch): no malloc per request. */
#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filter_query.h"
#include "gw_filters.h"
#include "gw_http.h"
#include "gw_config_filters.h"
#include "gw_jwt.h"
#include "gw_jwt_remote.h"
#include "gw_verified_cache.h"

#include "vk_coro.h"
#include "vk_sys.h"

#include <openssl/sha.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define JWT_PROVIDERS_MAX 8
#define JWT_SOURCES_MAX 4
#define JWT_CLAIM_HEADERS_MAX 16
#define JWT_CLAIM_VALUES_MAX 8
#define JWT_CLAIM_NAME_MAX 60 /* "jwt." and it: a value key of at most 64 */
#define JWT_KEYS_FILE_MAX (1 << 20)
/* Scratch for jansson per byte of token: a JSON value costs a few dozen
 * bytes, one per few bytes of text. */
#define JWT_SCRATCH_PER_TOKEN_BYTE 16
#define JWT_DESCRIPTION_MAX 160
/* A Cookie field rewritten without the token's cookie: at most this long
 * (the exchange keeps edits in 4 KiB). */
#define GW_COOKIE_KEPT_MAX 3072

enum source_kind { SOURCE_HEADER, SOURCE_QUERY, SOURCE_COOKIE };

struct jwt_source {
	enum source_kind kind;
	const char *name;
	size_t name_len;
	const char *prefix; /* headers: "Bearer " by default for Authorization */
	size_t prefix_len;
};

struct jwt_claim_header {
	const char *claim;
	const char *header;
};

struct jwt_provider {
	const char *name;
	const char *keys_text; /* JWKS or PEM, parsed per kernel; NULL: remote */
	size_t keys_len;
	struct gw_jwt_remote_source remote; /* upstream NULL: the keys are local */
	unsigned algs;
	int allow_short_hmac;
	struct gw_jwt_claims_policy policy;
	struct jwt_source sources[JWT_SOURCES_MAX];
	int source_count;
	struct jwt_claim_header claim_headers[JWT_CLAIM_HEADERS_MAX];
	int claim_header_count;
	const char **claim_values; /* claims set as the request values "jwt.CLAIM" */
	int claim_value_count;
	const char *consumer_claim;
	const char *payload_header; /* or NULL */
	int forward_token;
};

struct jwt_config {
	struct jwt_provider providers[JWT_PROVIDERS_MAX];
	int provider_count;
	int allow_missing;
	const char **scopes;
	int scope_count;
	long long max_token_bytes;
	long long cache_entries;
	long long cache_seconds;
	uint8_t digest[SHA256_DIGEST_LENGTH]; /* of what the kernel state is made from */
};

/* Per kernel: each provider's keys (local ones here, remote ones in
 * remote_ptr), the cache, and JSON scratch. */
struct jwt_kernel {
	uint8_t digest[SHA256_DIGEST_LENGTH];
	struct gw_jwt_keys keys[JWT_PROVIDERS_MAX];
	struct gw_jwt_remote *remote_ptr; /* NULL: no provider is remote */
	struct gw_verified_cache *cache_ptr;
	char *decoded; /* max_token_bytes: the decoded segments */
};

/* ---- configuration ---- */

static const char *const provider_keys[] = {"name",
					    "issuer",
					    "audiences",
					    "keys_file",
					    "keys",
					    "jwks",
					    "algorithms",
					    "allow_short_hmac_keys",
					    "from",
					    "clock_skew_seconds",
					    "required_claims",
					    "claims_to_headers",
					    "claims_to_values",
					    "consumer_claim",
					    "payload_header",
					    "forward_token",
					    NULL};

/* "algorithms": names of gw_jwt.h's algorithms (0: any). */
static void read_algorithms(struct gw_filter_json *fj_ptr, const json_t *p_json, const char *at,
			    struct jwt_provider *p_ptr)
{
	const char **names = NULL;
	int count = 0;
	char list_at[GW_FILTER_POINTER_MAX], item_at[GW_FILTER_POINTER_MAX];

	gw_filter_json_strings(fj_ptr, p_json, at, "algorithms", &names, &count);
	gw_filter_json_pointer(list_at, sizeof(list_at), at, "algorithms");
	for (int i = 0; i < count; i++) {
		int alg = gw_jwt_alg_from_name(names[i], strlen(names[i]));

		if (alg < 0) {
			gw_diag_error(fj_ptr->diag_ptr,
				      gw_filter_json_index(item_at, sizeof(item_at), list_at, (size_t)i),
				      "\"%s\": one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, "
				      "ES256, ES384, ES512, EdDSA",
				      names[i]);
			fj_ptr->failed = 1;
			continue;
		}
		p_ptr->algs |= GW_JWT_ALG_BIT(alg);
	}
}

/* "from": [{"header", "prefix"} | {"query"} | {"cookie"}]; by default the
 * Authorization header's Bearer token. */
static void read_sources(struct gw_filter_json *fj_ptr, const json_t *p_json, const char *at,
			 struct jwt_provider *p_ptr)
{
	static const char *const allowed[] = {"header", "prefix", "query", "cookie", NULL};
	const json_t *from_ptr = json_object_get(p_json, "from"), *item_ptr;
	char from_at[GW_FILTER_POINTER_MAX], item_at[GW_FILTER_POINTER_MAX];
	size_t i;

	gw_filter_json_pointer(from_at, sizeof(from_at), at, "from");
	if (!from_ptr) {
		p_ptr->sources[0] = (struct jwt_source){SOURCE_HEADER, "authorization", 13, "Bearer ", 7};
		p_ptr->source_count = 1;
		return;
	}
	if (!json_is_array(from_ptr) || json_array_size(from_ptr) == 0 || json_array_size(from_ptr) > JWT_SOURCES_MAX) {
		gw_filter_json_fail(fj_ptr, from_at, "an array of 1 to 4 places a token comes from");
		return;
	}
	json_array_foreach(from_ptr, i, item_ptr) {
		struct jwt_source *s_ptr = &p_ptr->sources[p_ptr->source_count];
		const char *header = NULL, *query = NULL, *cookie = NULL, *prefix = NULL;

		gw_filter_json_index(item_at, sizeof(item_at), from_at, i);
		if (gw_filter_json_keys(fj_ptr, item_ptr, item_at, allowed) == -1)
			continue;
		gw_filter_json_header(fj_ptr, item_ptr, item_at, "header", NULL, &header);
		gw_filter_json_string(fj_ptr, item_ptr, item_at, "query", NULL, &query);
		gw_filter_json_string(fj_ptr, item_ptr, item_at, "cookie", NULL, &cookie);
		gw_filter_json_string(fj_ptr, item_ptr, item_at, "prefix", NULL, &prefix);
		if (!!header + !!query + !!cookie != 1 || (prefix && !header)) {
			gw_filter_json_fail(fj_ptr, item_at,
					    "one of \"header\" (with an optional \"prefix\"), \"query\" or \"cookie\"");
			continue;
		}
		s_ptr->kind = header ? SOURCE_HEADER : query ? SOURCE_QUERY : SOURCE_COOKIE;
		s_ptr->name = header ? header : query ? query : cookie;
		s_ptr->name_len = strlen(s_ptr->name);
		s_ptr->prefix = prefix ? prefix : (header && strcasecmp(header, "authorization") == 0 ? "Bearer " : "");
		s_ptr->prefix_len = strlen(s_ptr->prefix);
		if (s_ptr->name_len == 0 || ((query || cookie) && strpbrk(s_ptr->name, "&=#?;, \t"))) {
			gw_filter_json_fail(fj_ptr, item_at,
					    "a query parameter or cookie name: not empty, no '&', '=', ';' or spaces");
			continue;
		}
		p_ptr->source_count++;
	}
}

/* "claims_to_headers": {"claim": "header"}. */
static void read_claim_headers(struct gw_filter_json *fj_ptr, const json_t *p_json, const char *at,
			       struct jwt_provider *p_ptr)
{
	const json_t *map_ptr = NULL, *value_ptr;
	const char *claim;
	char map_at[GW_FILTER_POINTER_MAX];

	gw_filter_json_object(fj_ptr, p_json, at, "claims_to_headers", &map_ptr);
	gw_filter_json_pointer(map_at, sizeof(map_at), at, "claims_to_headers");
	if (map_ptr && json_object_size(map_ptr) > JWT_CLAIM_HEADERS_MAX) {
		gw_filter_json_fail(fj_ptr, map_at, "at most 16 claims");
		return;
	}
	json_object_foreach((json_t *)map_ptr, claim, value_ptr) {
		struct jwt_claim_header *c_ptr = &p_ptr->claim_headers[p_ptr->claim_header_count];

		if (gw_filter_json_header(fj_ptr, map_ptr, map_at, claim, NULL, &c_ptr->header) == -1)
			continue;
		c_ptr->claim = gw_arena_strndup(fj_ptr->arena_ptr, claim, strlen(claim));
		p_ptr->claim_header_count += c_ptr->claim != NULL;
	}
}

/* "claims_to_values": claims a later stage or route may read as the
 * request values "jwt.CLAIM" (the routes after a continue route match on
 * them). */
static void read_claim_values(struct gw_filter_json *fj_ptr, const json_t *p_json, const char *at,
			      struct jwt_provider *p_ptr)
{
	char list_at[GW_FILTER_POINTER_MAX], item_at[GW_FILTER_POINTER_MAX];

	gw_filter_json_strings(fj_ptr, p_json, at, "claims_to_values", &p_ptr->claim_values, &p_ptr->claim_value_count);
	gw_filter_json_pointer(list_at, sizeof(list_at), at, "claims_to_values");
	if (p_ptr->claim_value_count > JWT_CLAIM_VALUES_MAX) {
		gw_filter_json_fail(fj_ptr, list_at, "at most 8 claims");
		return;
	}
	for (int i = 0; i < p_ptr->claim_value_count; i++) {
		size_t len = strlen(p_ptr->claim_values[i]);
		int token = len > 0 && len <= JWT_CLAIM_NAME_MAX;

		for (size_t c = 0; token && c < len; c++)
			token = gw_http_is_tchar((unsigned char)p_ptr->claim_values[i][c]);
		if (!token)
			gw_filter_json_fail(
				fj_ptr, gw_filter_json_index(item_at, sizeof(item_at), list_at, (size_t)i),
				"a claim named here is a token of 1 to 60 characters (its value is \"jwt.\" and it)");
	}
}

/* "jwks": {"upstream", "path", "refresh_seconds", "min_refresh_seconds",
 * "timeout_ms", "max_bytes"}. */
static void read_remote(struct gw_filter_json *fj_ptr, const json_t *p_json, const char *at, struct jwt_provider *p_ptr)
{
	static const char *const allowed[] = {
		"upstream", "path", "refresh_seconds", "min_refresh_seconds", "timeout_ms", "max_bytes", NULL};
	struct gw_jwt_remote_source *r_ptr = &p_ptr->remote;
	const json_t *jwks_ptr = NULL;
	char jwks_at[GW_FILTER_POINTER_MAX], key_at[GW_FILTER_POINTER_MAX];

	if (gw_filter_json_object(fj_ptr, p_json, at, "jwks", &jwks_ptr) == -1 || !jwks_ptr)
		return;
	gw_filter_json_pointer(jwks_at, sizeof(jwks_at), at, "jwks");
	if (gw_filter_json_keys(fj_ptr, jwks_ptr, jwks_at, allowed) == -1)
		return;
	gw_filter_json_string(fj_ptr, jwks_ptr, jwks_at, "upstream", NULL, &r_ptr->upstream);
	gw_filter_json_pointer(key_at, sizeof(key_at), jwks_at, "upstream");
	if (!r_ptr->upstream && !json_object_get(jwks_ptr, "upstream"))
		gw_filter_json_fail(fj_ptr, jwks_at, "missing \"upstream\": the key server");
	else if (r_ptr->upstream && gw_config_filter_upstream(r_ptr->upstream, key_at, fj_ptr->diag_ptr) == -1)
		fj_ptr->failed = 1;
	gw_filter_json_string(fj_ptr, jwks_ptr, jwks_at, "path", "/.well-known/jwks.json", &r_ptr->path);
	if (r_ptr->path && (r_ptr->path[0] != '/' || strlen(r_ptr->path) > 1024 || strpbrk(r_ptr->path, " #\r\n\t")))
		gw_filter_json_fail(
			fj_ptr, gw_filter_json_pointer(key_at, sizeof(key_at), jwks_at, "path"),
			"an origin-form target: '/' then a path and maybe a query, no spaces or '#', at most 1024 "
			"bytes");
	gw_filter_json_int(fj_ptr, jwks_ptr, jwks_at, "refresh_seconds", 1, 86400, 300, &r_ptr->refresh_seconds);
	gw_filter_json_int(fj_ptr, jwks_ptr, jwks_at, "min_refresh_seconds", 1, 3600, 10, &r_ptr->min_refresh_seconds);
	gw_filter_json_int(fj_ptr, jwks_ptr, jwks_at, "timeout_ms", 1, 60000, 2000, &r_ptr->timeout_ms);
	gw_filter_json_int(fj_ptr, jwks_ptr, jwks_at, "max_bytes", 1024, 1 << 20, 65536, &r_ptr->max_bytes);
	if (r_ptr->min_refresh_seconds > r_ptr->refresh_seconds)
		gw_filter_json_fail(fj_ptr,
				    gw_filter_json_pointer(key_at, sizeof(key_at), jwks_at, "min_refresh_seconds"),
				    "at most refresh_seconds");
	r_ptr->provider = p_ptr->name;
	r_ptr->algs = p_ptr->algs;
	r_ptr->allow_short_hmac = p_ptr->allow_short_hmac;
}

/* The keys, parsed once here for their problems; each kernel parses them
 * again into its own state. */
static void read_keys(struct gw_filter_json *fj_ptr, const json_t *p_json, const char *at, struct jwt_provider *p_ptr)
{
	const char *file = NULL, *path = NULL;
	const json_t *inline_ptr = json_object_get(p_json, "keys");
	char file_at[GW_FILTER_POINTER_MAX], err[256];
	struct gw_jwt_keys keys;
	char *text = NULL;

	gw_filter_json_string(fj_ptr, p_json, at, "keys_file", NULL, &file);
	gw_filter_json_pointer(file_at, sizeof(file_at), at, file ? "keys_file" : "keys");
	if ((file != NULL) + (inline_ptr != NULL) + (json_object_get(p_json, "jwks") != NULL) != 1) {
		gw_filter_json_fail(
			fj_ptr, at,
			"give the keys one way: \"keys_file\" (JWKS or PEM), \"keys\" (a JWK Set) or \"jwks\" "
			"(fetched from an upstream)");
		return;
	}
	if (json_object_get(p_json, "jwks")) {
		read_remote(fj_ptr, p_json, at, p_ptr);
		return;
	}
	if (file) {
		text = gw_filter_json_read_file(fj_ptr, file, file_at, JWT_KEYS_FILE_MAX, &path);
	} else {
		char *dumped = json_dumps(inline_ptr, JSON_COMPACT);

		text = dumped ? gw_arena_strndup(fj_ptr->arena_ptr, dumped, strlen(dumped)) : NULL;
		free(dumped);
		path = "the inline keys";
	}
	if (!text)
		return;
	if (gw_jwt_keys_parse(text, strlen(text), p_ptr->algs, p_ptr->allow_short_hmac, &keys, err, sizeof(err)) ==
	    -1) {
		gw_diag_error(fj_ptr->diag_ptr, file_at, "%s: %s", path, err);
		fj_ptr->failed = 1;
		return;
	}
	gw_jwt_keys_free(&keys);
	p_ptr->keys_text = text;
	p_ptr->keys_len = strlen(text);
}

static void read_provider(struct gw_filter_json *fj_ptr, const json_t *p_json, const char *at,
			  struct jwt_provider *p_ptr)
{
	long long skew = 60;

	if (gw_filter_json_keys(fj_ptr, p_json, at, provider_keys) == -1)
		return;
	gw_filter_json_string(fj_ptr, p_json, at, "name", NULL, &p_ptr->name);
	if (!p_ptr->name)
		gw_filter_json_fail(fj_ptr, at, "a provider needs a \"name\"");
	gw_filter_json_string(fj_ptr, p_json, at, "issuer", NULL, &p_ptr->policy.issuer);
	gw_filter_json_strings(fj_ptr, p_json, at, "audiences", (const char ***)&p_ptr->policy.audiences,
			       &p_ptr->policy.audience_count);
	gw_filter_json_strings(fj_ptr, p_json, at, "required_claims", (const char ***)&p_ptr->policy.required,
			       &p_ptr->policy.required_count);
	gw_filter_json_int(fj_ptr, p_json, at, "clock_skew_seconds", 0, 3600, 60, &skew);
	p_ptr->policy.skew_s = skew;
	read_algorithms(fj_ptr, p_json, at, p_ptr);
	gw_filter_json_bool(fj_ptr, p_json, at, "allow_short_hmac_keys", 0, &p_ptr->allow_short_hmac);
	read_keys(fj_ptr, p_json, at, p_ptr);
	read_sources(fj_ptr, p_json, at, p_ptr);
	read_claim_headers(fj_ptr, p_json, at, p_ptr);
	read_claim_values(fj_ptr, p_json, at, p_ptr);
	gw_filter_json_string(fj_ptr, p_json, at, "consumer_claim", "sub", &p_ptr->consumer_claim);
	gw_filter_json_header(fj_ptr, p_json, at, "payload_header", NULL, &p_ptr->payload_header);
	gw_filter_json_bool(fj_ptr, p_json, at, "forward_token", 0, &p_ptr->forward_token);
}

/* What each kernel's state is made from: the filter's whole entry and
 * the keys its files held. A reload that changes none of it keeps the
 * state, cache included: what a remembered token passed (issuer,
 * audiences, scopes, ...) still holds. */
static int config_digest(struct jwt_config *config_ptr, const json_t *config_json_ptr)
{
	char *entry = json_dumps(config_json_ptr, JSON_COMPACT | JSON_SORT_KEYS);
	SHA256_CTX ctx;

	if (!entry)
		return -1;
	SHA256_Init(&ctx);
	SHA256_Update(&ctx, entry, strlen(entry) + 1);
	free(entry);
	for (int i = 0; i < config_ptr->provider_count; i++)
		if (config_ptr->providers[i].keys_text)
			SHA256_Update(&ctx, config_ptr->providers[i].keys_text, config_ptr->providers[i].keys_len + 1);
	SHA256_Final(config_ptr->digest, &ctx);
	return 0;
}

static int jwt_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
		       struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const allowed[] = {"type",	       "providers",	"allow_missing",   "scopes",
					      "cache_entries", "cache_seconds", "max_token_bytes", NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct jwt_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));
	const json_t *providers_ptr = json_object_get(config_json_ptr, "providers"), *p_json;
	char at[GW_FILTER_POINTER_MAX], p_at[GW_FILTER_POINTER_MAX];
	size_t i;

	if (!config_ptr)
		return -1;
	memset(config_ptr, 0, sizeof(*config_ptr));
	*compiled_ptr = config_ptr;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, allowed) == -1)
		return -1;
	gw_filter_json_pointer(at, sizeof(at), pointer, "providers");
	if (!json_is_array(providers_ptr) || json_array_size(providers_ptr) == 0 ||
	    json_array_size(providers_ptr) > JWT_PROVIDERS_MAX)
		return gw_filter_json_fail(&fj, at, "an array of 1 to 8 providers");
	json_array_foreach(providers_ptr, i, p_json) {
		read_provider(&fj, p_json, gw_filter_json_index(p_at, sizeof(p_at), at, i),
			      &config_ptr->providers[config_ptr->provider_count++]);
	}
	gw_filter_json_bool(&fj, config_json_ptr, pointer, "allow_missing", 0, &config_ptr->allow_missing);
	gw_filter_json_strings(&fj, config_json_ptr, pointer, "scopes", &config_ptr->scopes, &config_ptr->scope_count);
	gw_filter_json_int(&fj, config_json_ptr, pointer, "cache_entries", 0, 1 << 20, 1024,
			   &config_ptr->cache_entries);
	gw_filter_json_int(&fj, config_json_ptr, pointer, "cache_seconds", 0, 86400, 300, &config_ptr->cache_seconds);
	gw_filter_json_int(&fj, config_json_ptr, pointer, "max_token_bytes", 256, 65536, 8192,
			   &config_ptr->max_token_bytes);
	if (!fj.failed && config_digest(config_ptr, config_json_ptr) == -1)
		return -1;
	return fj.failed ? -1 : 0;
}

/* ---- per kernel ---- */

static void jwt_kernel_state_free(void *state_ptr)
{
	struct jwt_kernel *kernel_ptr = state_ptr;

	for (int i = 0; i < JWT_PROVIDERS_MAX; i++)
		gw_jwt_keys_free(&kernel_ptr->keys[i]);
	gw_jwt_remote_retire(kernel_ptr->remote_ptr);
	gw_verified_cache_free(kernel_ptr->cache_ptr);
	free(kernel_ptr->decoded);
	free(kernel_ptr);
}

static void *jwt_kernel_state_create(const void *compiled_ptr, void *previous_ptr)
{
	const struct jwt_config *config_ptr = compiled_ptr;
	struct jwt_kernel *kernel_ptr = previous_ptr, *previous_kernel_ptr = previous_ptr;
	struct gw_jwt_remote_source sources[JWT_PROVIDERS_MAX];
	int remote = 0;
	char err[256];

	/* The same entry and keys: the state goes on as it is (remote keys
	 * and their fetcher included). */
	if (kernel_ptr && memcmp(kernel_ptr->digest, config_ptr->digest, sizeof(kernel_ptr->digest)) == 0)
		return kernel_ptr;
	gw_json_scratch_install();
	kernel_ptr = calloc(1, sizeof(*kernel_ptr));
	if (!kernel_ptr)
		return NULL;
	memcpy(kernel_ptr->digest, config_ptr->digest, sizeof(kernel_ptr->digest));
	kernel_ptr->decoded = malloc((size_t)config_ptr->max_token_bytes);
	kernel_ptr->cache_ptr =
		gw_verified_cache_create(config_ptr->cache_seconds ? (size_t)config_ptr->cache_entries : 0);
	if (!kernel_ptr->decoded || !kernel_ptr->cache_ptr ||
	    gw_json_scratch_reserve((size_t)config_ptr->max_token_bytes * JWT_SCRATCH_PER_TOKEN_BYTE) == -1) {
		jwt_kernel_state_free(kernel_ptr);
		return NULL;
	}
	for (int i = 0; i < config_ptr->provider_count; i++) {
		const struct jwt_provider *p_ptr = &config_ptr->providers[i];

		sources[i] = p_ptr->remote;
		if (p_ptr->remote.upstream) {
			remote = 1;
			continue;
		}
		if (gw_jwt_keys_parse(p_ptr->keys_text, p_ptr->keys_len, p_ptr->algs, p_ptr->allow_short_hmac,
				      &kernel_ptr->keys[i], err, sizeof(err)) == -1) {
			fprintf(stderr, "vkgw: jwt: provider %s: %s\n", p_ptr->name, err);
			jwt_kernel_state_free(kernel_ptr);
			return NULL;
		}
	}
	if (remote) {
		kernel_ptr->remote_ptr = gw_jwt_remote_create(sources, config_ptr->provider_count,
							      previous_ptr ? previous_kernel_ptr->remote_ptr : NULL);
		if (!kernel_ptr->remote_ptr) {
			jwt_kernel_state_free(kernel_ptr);
			return NULL;
		}
	}
	return kernel_ptr;
}

/* ---- the request: where the token is ---- */

/* A found token: its bytes, and where it was (to take it out). */
struct found {
	const char *token;
	size_t len;
	const struct jwt_source *source_ptr;
	const char *query; /* for a query source: the query and the parameter's span */
	size_t query_len, start, end;
};

static int token_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

/* The value of cookie `name` in a Cookie field (RFC 6265 4.2.1). */
static const char *cookie_value(const char *field, size_t len, const char *name, size_t name_len, size_t *out_len)
{
	size_t i = 0;

	while (i < len) {
		size_t end = i;

		while (end < len && field[end] != ';')
			end++;
		while (i < end && field[i] == ' ')
			i++;
		if (end - i > name_len && memcmp(field + i, name, name_len) == 0 && field[i + name_len] == '=') {
			*out_len = end - i - name_len - 1;
			return field + i + name_len + 1;
		}
		i = end + 1;
	}
	return NULL;
}

/* The provider's token, from the first of its places that has one: 1;
 * 0 when none has; -1 when one has something that cannot be a token or
 * is longer than max_len. A query's is percent-decoded into decoded[cap]. */
static int find_token(struct gw_exchange *ex_ptr, const struct jwt_provider *p_ptr, size_t max_len, char *decoded,
		      size_t cap, struct found *out)
{
	for (int i = 0; i < p_ptr->source_count; i++) {
		const struct jwt_source *s_ptr = &p_ptr->sources[i];
		const char *value = NULL;
		size_t len = 0;
		long n;

		memset(out, 0, sizeof(*out));
		out->source_ptr = s_ptr;
		if (s_ptr->kind == SOURCE_QUERY) {
			out->query = gw_exchange_query(ex_ptr, &out->query_len);
			n = out->query ? gw_filter_query_param(out->query, out->query_len, s_ptr->name, s_ptr->name_len,
							       decoded, cap, &out->start, &out->end)
				       : -1;
			if (n == -1 || n == 0)
				continue;
			value = decoded;
			len = n < 0 ? max_len + 1 : (size_t)n;
		} else if (gw_exchange_request_header(ex_ptr, s_ptr->kind == SOURCE_HEADER ? s_ptr->name : "cookie",
						      &value, &len)) {
			if (s_ptr->kind == SOURCE_COOKIE)
				value = cookie_value(value, len, s_ptr->name, s_ptr->name_len, &len);
			else if (len < s_ptr->prefix_len || strncasecmp(value, s_ptr->prefix, s_ptr->prefix_len) != 0)
				value = NULL; /* another scheme: not this provider's token */
			else
				value += s_ptr->prefix_len, len -= s_ptr->prefix_len;
		} else {
			continue;
		}
		if (!value)
			continue;
		out->token = value;
		out->len = len;
		return len > 0 && len <= max_len && token_chars(value, len) ? 1 : -1;
	}
	return 0;
}

/* ---- the request: the verdict ---- */

struct verdict {
	enum gw_jwt_status status;
	const char *why;
	int no_keys; /* a remote provider whose keys never came */
};

/* Per request: a wait for a remote provider's keys, once. */
struct jwt_request {
	struct gw_jwt_remote_wait wait;
	int waited;
};

/* Provider `index`'s keys in this kernel; NULL: remote, never fetched. */
static const struct gw_jwt_keys *keys_of(const struct jwt_kernel *kernel_ptr, int index)
{
	if (gw_jwt_remote_is_remote(kernel_ptr->remote_ptr, index))
		return gw_jwt_remote_keys(kernel_ptr->remote_ptr, index);
	return &kernel_ptr->keys[index];
}

/* Checks the token for one provider (its signature only when the cache
 * has not seen it: `remembered`); the claims object (scratch) in
 * *payload_ptr when it is good. */
static struct verdict check_token(const struct jwt_config *config_ptr, struct jwt_kernel *kernel_ptr, int index,
				  const struct found *found_ptr, int remembered, json_t **payload_ptr)
{
	const struct jwt_provider *p_ptr = &config_ptr->providers[index];
	struct gw_jwt_token token;
	const struct gw_jwt_keys *keys_ptr = keys_of(kernel_ptr, index);
	struct verdict v = {GW_JWT_VALID, "", 0};

	*payload_ptr = NULL;
	v.status = gw_jwt_decode(found_ptr->token, found_ptr->len, 1, kernel_ptr->decoded,
				 (size_t)config_ptr->max_token_bytes, &token, &v.why);
	if (v.status == GW_JWT_VALID && !remembered && !keys_ptr) {
		v = (struct verdict){GW_JWT_UNKNOWN_KID, "the issuer's keys have not been fetched", 1};
	} else if (v.status == GW_JWT_VALID && !remembered) {
		v.status = gw_jwt_verify(&token, keys_ptr);
		v.why = v.status == GW_JWT_UNKNOWN_KID ? "no key of the issuer has the token's kid"
			: v.status == GW_JWT_BAD_ALG   ? "the key does not verify the token's algorithm"
						       : "the signature does not verify";
	}
	if (v.status == GW_JWT_VALID)
		v.status = gw_jwt_check_claims(token.payload_ptr, &p_ptr->policy, (int64_t)time(NULL), &v.why);
	if (v.status == GW_JWT_VALID)
		*payload_ptr = json_incref(token.payload_ptr);
	json_decref(token.header_ptr);
	json_decref(token.payload_ptr);
	return v;
}

/* Until when a verified token is remembered: cache_seconds, and never
 * past its exp. */
static uint64_t remember_until(const struct jwt_config *config_ptr, const json_t *payload_ptr, uint64_t now_ns)
{
	const json_t *exp_ptr = json_object_get(payload_ptr, "exp");
	double left = json_is_number(exp_ptr) ? json_number_value(exp_ptr) - (double)time(NULL) : -1;

	if (exp_ptr && left < (double)config_ptr->cache_seconds)
		return left > 0 ? now_ns + (uint64_t)(left * 1e9) : now_ns;
	return now_ns + (uint64_t)config_ptr->cache_seconds * 1000000000ull;
}

static int has_scope(const json_t *payload_ptr, const char *scope)
{
	const json_t *scope_ptr = json_object_get(payload_ptr, "scope"), *scp_ptr = json_object_get(payload_ptr, "scp");
	const json_t *item_ptr;
	size_t i, len = strlen(scope);

	if (json_is_string(scope_ptr))
		for (const char *p = json_string_value(scope_ptr); *p;) {
			size_t n = strcspn(p, " ");

			if (n == len && memcmp(p, scope, len) == 0)
				return 1;
			p += n + (p[n] == ' ');
		}
	if (json_is_string(scp_ptr))
		return strcmp(json_string_value(scp_ptr), scope) == 0;
	json_array_foreach(scp_ptr, i, item_ptr) {
		if (json_is_string(item_ptr) && strcmp(json_string_value(item_ptr), scope) == 0)
			return 1;
	}
	return 0;
}

/* WWW-Authenticate, and the answer (RFC 6750 3). */
static enum gw_filter_result challenge(struct gw_stage *stage_ptr, int status, const char *error,
				       const char *description)
{
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	const struct jwt_config *config_ptr = gw_stage_config(stage_ptr);
	char value[64 + JWT_DESCRIPTION_MAX + 256];
	char clean[JWT_DESCRIPTION_MAX];
	size_t n = 0, at;

	/* error_description takes no '"' or '\' (RFC 6750 3). */
	for (const char *p = description ? description : ""; *p && n + 1 < sizeof(clean); p++)
		clean[n++] = *p == '"' || *p == '\\' ? '\'' : *p;
	clean[n] = '\0';
	at = (size_t)snprintf(value, sizeof(value), "Bearer realm=\"vkgw\"");
	if (error)
		at += (size_t)snprintf(value + at, sizeof(value) - at, ", error=\"%s\", error_description=\"%s\"",
				       error, clean);
	if (status == 403 && config_ptr->scope_count) {
		at += (size_t)snprintf(value + at, sizeof(value) - at, ", scope=\"");
		for (int i = 0; i < config_ptr->scope_count && at < sizeof(value); i++)
			at += (size_t)snprintf(value + at, sizeof(value) - at, "%s%s", i ? " " : "",
					       config_ptr->scopes[i]);
		if (at < sizeof(value))
			snprintf(value + at, sizeof(value) - at, "\"");
	}
	if (gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "WWW-Authenticate", value) == -1)
		return gw_stage_fail(stage_ptr, "jwt: no room for WWW-Authenticate");
	gw_exchange_respond_error(ex_ptr, status,
				  status == 403 ? "insufficient scope"
				  : error	? "invalid token"
						: "missing token");
	return GW_FILTER_RESPOND;
}

/* A claim's value as header text: strings as they are, numbers and
 * booleans as JSON writes them; NULL for the rest. */
static const char *claim_text(const json_t *value_ptr, char *buf, size_t len)
{
	if (json_is_string(value_ptr))
		return json_string_value(value_ptr);
	if (json_is_integer(value_ptr))
		snprintf(buf, len, "%lld", (long long)json_integer_value(value_ptr));
	else if (json_is_real(value_ptr))
		snprintf(buf, len, "%.17g", json_real_value(value_ptr));
	else if (json_is_boolean(value_ptr))
		snprintf(buf, len, "%s", json_is_true(value_ptr) ? "true" : "false");
	else
		return NULL;
	return buf;
}

/* The token's cookie taken out of the Cookie field going upstream (RFC
 * 6265 5.4: a client sends one), the others kept in their order; the
 * field goes when nothing is left. A jar too large for the exchange's
 * room for edits goes as it came. */
static void cookie_drop(struct gw_exchange *ex_ptr, const struct jwt_source *s_ptr)
{
	char kept[GW_COOKIE_KEPT_MAX];
	const char *field;
	size_t len, i = 0, n = 0;

	if (!gw_exchange_request_header(ex_ptr, "cookie", &field, &len))
		return;
	while (i < len) {
		size_t end = i, start;

		while (end < len && field[end] != ';')
			end++;
		start = i;
		while (start < end && field[start] == ' ')
			start++;
		if (end > start &&
		    !(end - start > s_ptr->name_len && memcmp(field + start, s_ptr->name, s_ptr->name_len) == 0 &&
		      field[start + s_ptr->name_len] == '=')) {
			if (n + 2 + (end - start) > sizeof(kept))
				return;
			if (n) {
				memcpy(kept + n, "; ", 2);
				n += 2;
			}
			memcpy(kept + n, field + start, end - start);
			n += end - start;
		}
		i = end + 1;
	}
	while (n && kept[n - 1] == ' ')
		n--;
	if (n == 0)
		gw_exchange_remove(ex_ptr, GW_SIDE_REQUEST, "cookie");
	else
		gw_exchange_edit(ex_ptr, GW_SIDE_REQUEST, GW_HEADER_SET, "cookie", 6, kept, n);
}

/* Verified: the identity goes with the request. `payload_ptr` is NULL
 * when the token was taken from the cache, whose note gave the consumer
 * (a provider with claims_to_headers always has the payload). */
static enum gw_filter_result admit(struct gw_stage *stage_ptr, const struct jwt_provider *p_ptr,
				   const struct found *found_ptr, const char *consumer, size_t consumer_len,
				   const json_t *payload_ptr)
{
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	char number[32];
	const char *text;

	if (consumer && gw_exchange_set_value(ex_ptr, "consumer", consumer, consumer_len) == -1)
		return gw_stage_fail(stage_ptr, "jwt: no room for the consumer");
	for (int i = 0; payload_ptr && i < p_ptr->claim_header_count; i++) {
		text = claim_text(json_object_get(payload_ptr, p_ptr->claim_headers[i].claim), number, sizeof(number));
		/* A claim that is no valid field value is left out, not forwarded. */
		if (text && gw_header_value_valid(text, strlen(text)) &&
		    gw_exchange_set(ex_ptr, GW_SIDE_REQUEST, p_ptr->claim_headers[i].header, text) == -1)
			return gw_stage_fail(stage_ptr, "jwt: no room for the claims' headers");
	}
	for (int i = 0; payload_ptr && i < p_ptr->claim_value_count; i++) {
		char key[5 + JWT_CLAIM_NAME_MAX];

		text = claim_text(json_object_get(payload_ptr, p_ptr->claim_values[i]), number, sizeof(number));
		snprintf(key, sizeof(key), "jwt.%s", p_ptr->claim_values[i]);
		if (text && gw_exchange_set_value(ex_ptr, key, text, strlen(text)) == -1)
			return gw_stage_fail(stage_ptr, "jwt: no room for the claims' values");
	}
	if (p_ptr->payload_header) {
		const char *payload = memchr(found_ptr->token, '.', found_ptr->len) + 1;
		const char *end = memchr(payload, '.', (size_t)(found_ptr->token + found_ptr->len - payload));

		/* The payload segment as signed: base64url already. */
		if (gw_exchange_edit(ex_ptr, GW_SIDE_REQUEST, GW_HEADER_SET, p_ptr->payload_header,
				     strlen(p_ptr->payload_header), payload, (size_t)(end - payload)) == -1)
			return gw_stage_fail(stage_ptr, "jwt: no room for the payload header");
	}
	if (p_ptr->forward_token)
		return GW_FILTER_CONTINUE;
	if (found_ptr->source_ptr->kind == SOURCE_COOKIE) {
		cookie_drop(ex_ptr, found_ptr->source_ptr);
		return GW_FILTER_CONTINUE;
	}
	if (found_ptr->source_ptr->kind == SOURCE_HEADER
		    ? gw_exchange_remove(ex_ptr, GW_SIDE_REQUEST, found_ptr->source_ptr->name) == -1
		    : gw_filter_query_drop(ex_ptr, found_ptr->query, found_ptr->query_len, found_ptr->start,
					   found_ptr->end) == -1)
		return gw_stage_fail(stage_ptr, "jwt: cannot take the token out of the request");
	return GW_FILTER_CONTINUE;
}

/* A token seen before whose entry holds all the request needs (no claim
 * goes to a header or a value): admitted without decoding it. The note is "-", or
 * "=" and the consumer. */
static enum gw_filter_result admit_remembered(struct gw_stage *stage_ptr, const struct jwt_provider *p_ptr,
					      const struct found *found_ptr,
					      const struct gw_verified_cache_slot *slot_ptr)
{
	int has_consumer = slot_ptr->note[0] == '=';

	return admit(stage_ptr, p_ptr, found_ptr, has_consumer ? slot_ptr->note + 1 : NULL,
		     has_consumer ? (size_t)slot_ptr->note_len - 1 : 0, NULL);
}

/* A token verified in full (scopes included): remembered, with the
 * consumer when it fits the entry's note. */
static void remember(struct jwt_kernel *kernel_ptr, const struct jwt_config *config_ptr, const uint8_t *tag,
		     const json_t *consumer_ptr, const json_t *payload_ptr, uint64_t now_ns)
{
	char note[GW_VERIFIED_NOTE_MAX];
	size_t len = 1;

	note[0] = '-';
	if (json_is_string(consumer_ptr)) {
		len = json_string_length(consumer_ptr) + 1;
		note[0] = '=';
		if (len <= sizeof(note))
			memcpy(note + 1, json_string_value(consumer_ptr), len - 1);
	}
	/* A consumer too long for the note: no note, the payload is read again. */
	gw_verified_cache_put(kernel_ptr->cache_ptr, tag, remember_until(config_ptr, payload_ptr, now_ns),
			      len <= sizeof(note) ? note : NULL, len);
}

/* What the filter sets is never what the client sent. */
static int strip_own_headers(struct gw_exchange *ex_ptr, const struct jwt_config *config_ptr)
{
	for (int i = 0; i < config_ptr->provider_count; i++) {
		const struct jwt_provider *p_ptr = &config_ptr->providers[i];

		for (int c = 0; c < p_ptr->claim_header_count; c++)
			if (gw_exchange_remove(ex_ptr, GW_SIDE_REQUEST, p_ptr->claim_headers[c].header) == -1)
				return -1;
		if (p_ptr->payload_header && gw_exchange_remove(ex_ptr, GW_SIDE_REQUEST, p_ptr->payload_header) == -1)
			return -1;
	}
	return 0;
}

/* A failure worth reporting over another: one about this issuer's token
 * (a bad signature, expiry) says more than "not this provider's". */
static int more_telling(enum gw_jwt_status status)
{
	return status != GW_JWT_UNKNOWN_KID && status != GW_JWT_BAD_ISSUER;
}

/* The scope the token lacks, or -1. */
static int missing_scope(const struct jwt_config *config_ptr, const json_t *payload_ptr)
{
	for (int s = 0; s < config_ptr->scope_count; s++)
		if (!has_scope(payload_ptr, config_ptr->scopes[s]))
			return s;
	return -1;
}

/* The token's tag in the kernel's cache: provider and token. */
static void token_tag(const struct jwt_kernel *kernel_ptr, const struct jwt_provider *p_ptr,
		      const struct found *found_ptr, uint8_t *tag)
{
	const void *parts[] = {p_ptr->name, found_ptr->token};
	size_t lens[] = {strlen(p_ptr->name), found_ptr->len};

	gw_verified_cache_tag(kernel_ptr->cache_ptr, parts, lens, 2, tag);
}

/* One provider's verdict on the token it found: an answer, or v (a
 * failure) for the caller to weigh against the other providers'. */
static int try_provider(struct gw_stage *stage_ptr, int index, const struct found *found_ptr,
			enum gw_filter_result *result_ptr, struct verdict *v_ptr)
{
	const struct jwt_config *config_ptr = gw_stage_config(stage_ptr);
	struct jwt_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);
	const struct jwt_provider *p_ptr = &config_ptr->providers[index];
	uint64_t now_ns = vk_sys_coarse_now_ns();
	const struct gw_verified_cache_slot *slot_ptr;
	uint8_t tag[GW_VERIFIED_TAG_BYTES];
	json_t *payload_ptr;
	const json_t *consumer_ptr;

	token_tag(kernel_ptr, p_ptr, found_ptr, tag);
	slot_ptr = gw_verified_cache_find(kernel_ptr->cache_ptr, tag, now_ns);
	/* Remembered tokens passed every check of this configuration's (the
	 * cache goes with it) and the time-bound ones hold until the entry
	 * expires: nothing to decode unless claims go to headers. */
	if (slot_ptr && slot_ptr->note_len && p_ptr->claim_header_count == 0 && p_ptr->claim_value_count == 0) {
		*result_ptr = admit_remembered(stage_ptr, p_ptr, found_ptr, slot_ptr);
		return 1;
	}
	*v_ptr = check_token(config_ptr, kernel_ptr, index, found_ptr, slot_ptr != NULL, &payload_ptr);
	if (v_ptr->status != GW_JWT_VALID)
		return 0;
	consumer_ptr = json_object_get(payload_ptr, p_ptr->consumer_claim);
	if (missing_scope(config_ptr, payload_ptr) >= 0) {
		*result_ptr =
			challenge(stage_ptr, 403, "insufficient_scope", "the token lacks a scope the route requires");
	} else {
		if (!slot_ptr)
			remember(kernel_ptr, config_ptr, tag, consumer_ptr, payload_ptr, now_ns);
		*result_ptr = admit(stage_ptr, p_ptr, found_ptr,
				    json_is_string(consumer_ptr) ? json_string_value(consumer_ptr) : NULL,
				    json_is_string(consumer_ptr) ? json_string_length(consumer_ptr) : 0, payload_ptr);
	}
	json_decref(payload_ptr);
	return 1;
}

static void jwt_wait_keys(struct vk_thread *that);

/* No provider admitted the token and one of them is remote without the
 * token's key: wait for a fetch when one may come (once per request),
 * else 503 when its keys never came. GW_FILTER_CONTINUE: neither. */
static enum gw_filter_result keys_missing(struct gw_stage *stage_ptr, int fetch_index, int no_keys)
{
	struct jwt_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);
	struct jwt_request *request_ptr = gw_stage_state(stage_ptr);

	if (fetch_index < 0)
		return GW_FILTER_CONTINUE;
	if (!request_ptr->waited && gw_jwt_remote_want(kernel_ptr->remote_ptr, fetch_index, vk_sys_coarse_now_ns())) {
		request_ptr->waited = 1;
		request_ptr->wait =
			(struct gw_jwt_remote_wait){.remote_ptr = kernel_ptr->remote_ptr, .index = fetch_index};
		return gw_stage_wait(stage_ptr, jwt_wait_keys);
	}
	if (!no_keys)
		return GW_FILTER_CONTINUE;
	gw_exchange_respond_error(gw_stage_exchange(stage_ptr), 503, "the token issuer's signing keys are unavailable");
	return GW_FILTER_RESPOND;
}

static enum gw_filter_result authenticate(struct gw_stage *stage_ptr)
{
	const struct jwt_config *config_ptr = gw_stage_config(stage_ptr);
	struct jwt_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	struct verdict worst = {GW_JWT_MALFORMED, "not a token", 0};
	int any_token = 0, fetch_index = -1, no_keys = 0;
	enum gw_filter_result missing;

	for (int i = 0; i < config_ptr->provider_count; i++) {
		char query_token[GW_FILTER_QUERY_MAX];
		size_t cap = (size_t)config_ptr->max_token_bytes < sizeof(query_token)
				     ? (size_t)config_ptr->max_token_bytes
				     : sizeof(query_token);
		struct found found;
		struct verdict v;
		enum gw_filter_result result;
		int rc = find_token(ex_ptr, &config_ptr->providers[i], (size_t)config_ptr->max_token_bytes, query_token,
				    cap, &found);

		if (rc == 0)
			continue;
		any_token = 1;
		if (rc < 0) {
			worst = (struct verdict){GW_JWT_MALFORMED, "not a token, or longer than max_token_bytes", 0};
			continue;
		}
		if (try_provider(stage_ptr, i, &found, &result, &v))
			return result;
		if (i == 0 || more_telling(v.status))
			worst = v;
		if (v.status == GW_JWT_UNKNOWN_KID && gw_jwt_remote_is_remote(kernel_ptr->remote_ptr, i)) {
			if (fetch_index < 0)
				fetch_index = i;
			no_keys |= v.no_keys;
		}
	}
	if (!any_token)
		return config_ptr->allow_missing ? GW_FILTER_CONTINUE : challenge(stage_ptr, 401, NULL, NULL);
	missing = keys_missing(stage_ptr, fetch_index, no_keys);
	if (missing != GW_FILTER_CONTINUE)
		return missing;
	return challenge(stage_ptr, 401, "invalid_token", worst.why);
}

/* The request, judged again with what the fetch brought. */
static void judge_again(struct gw_stage *stage_ptr)
{
	gw_json_scratch_begin();
	authenticate(stage_ptr);
	gw_json_scratch_end();
}

/* A request waits for the fetch of a remote provider's keys (too many
 * waiting already: judged at once). */
static void jwt_wait_keys(struct vk_thread *that)
{
	struct gw_stage *stage_ptr = vk_thread_arg(that);
	struct jwt_request *request_ptr = gw_stage_state(stage_ptr);

	vk_begin_stateless();
	vk_catch
	{
		if (vk_sys_faulted())
			vk_raise(EFAULT);
		judge_again(stage_ptr);
	}
	vk_call(gw_jwt_remote_wait, &request_ptr->wait);
	judge_again(stage_ptr);
	vk_end();
}

static enum gw_filter_result jwt_request_head(struct gw_stage *stage_ptr)
{
	struct jwt_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);
	enum gw_filter_result result;

	if (!kernel_ptr)
		return gw_stage_fail(stage_ptr, "jwt: no kernel state");
	if (strip_own_headers(gw_stage_exchange(stage_ptr), gw_stage_config(stage_ptr)) == -1)
		return gw_stage_fail(stage_ptr, "jwt: no room to remove the filter's headers");
	/* Every JSON value of this request comes from the kernel's scratch
	 * and is released before the handler returns: it never waits, so no
	 * other request's values are in there. */
	gw_json_scratch_begin();
	result = authenticate(stage_ptr);
	gw_json_scratch_end();
	return result;
}

const struct gw_filter_type gw_filter_jwt_type = {
	.name = "jwt",
	.compile = jwt_compile,
	.request_head = jwt_request_head,
	.state_bytes = sizeof(struct jwt_request),
	.kernel_state_create = jwt_kernel_state_create,
	.kernel_state_free = jwt_kernel_state_free,
	.trusted = 1,
};
