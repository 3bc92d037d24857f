/* test_gw_filter_jwt: the jwt filter's configuration, each problem at its
 * pointer (tokens, keys and claims: test_gw_jwt.c; requests end to end:
 * tests/e2e/gw_auth.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gw_filter_test.h"
#include "gw_filters.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define KEYS "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k1\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}"

static void check(const char *text, int rc, const char *errors)
{
	struct compiled c;

	compile_entry(&gw_filter_jwt_type, text, &c);
	assert_string_equal(c.errors, errors);
	assert_int_equal(c.rc, rc);
	compiled_free(&c);
}

static void test_configs(void **state)
{
	(void)state;
	check("{\"type\":\"jwt\",\"providers\":[{\"name\":\"a\",\"keys\":" KEYS "}]}", 0, "");
	check("{\"type\":\"jwt\",\"allow_missing\":true,\"scopes\":[\"read\"],\"providers\":[{\"name\":\"a\","
	      "\"keys\":" KEYS
	      ",\"issuer\":\"https://idp\",\"audiences\":[\"api\"],\"algorithms\":[\"HS256\"],\"from\":[{\"query\":"
	      "\"t\"},{\"cookie\":\"jwt\"},{\"header\":\"x-token\"}],\"claims_to_headers\":{\"sub\":\"x-user\"},"
	      "\"payload_header\":\"x-jwt\",\"required_claims\":[\"sub\"]}]}",
	      0, "");
	check("{\"type\":\"jwt\"}", -1, "/routes/0/filters/0/providers: an array of 1 to 8 providers\n");
	/* A remote set: its upstream is checked against the configuration
	 * being loaded (none here), its timings against each other. */
	check("{\"type\":\"jwt\",\"providers\":[{\"name\":\"a\",\"jwks\":{\"upstream\":\"idp\",\"path\":\"jwks\","
	      "\"refresh_seconds\":5,\"min_refresh_seconds\":6}}]}",
	      -1,
	      "/routes/0/filters/0/providers/0/jwks/upstream: upstreams are known only while a configuration loads\n"
	      "/routes/0/filters/0/providers/0/jwks/path: an origin-form target: '/' then a path and maybe a query, no "
	      "spaces or '#', at most 1024 bytes\n"
	      "/routes/0/filters/0/providers/0/jwks/min_refresh_seconds: at most refresh_seconds\n");
	check("{\"type\":\"jwt\",\"providers\":[{\"name\":\"a\",\"jwks\":{\"path\":\"/k\",\"max_bytes\":10}}]}", -1,
	      "/routes/0/filters/0/providers/0/jwks: missing \"upstream\": the key server\n"
	      "/routes/0/filters/0/providers/0/jwks/max_bytes: must be from 1024 to 1048576, not 10\n");
	check("{\"type\":\"jwt\",\"providers\":[{\"keys\":" KEYS ",\"keys_file\":\"x\"}]}", -1,
	      "/routes/0/filters/0/providers/0: a provider needs a \"name\"\n"
	      "/routes/0/filters/0/providers/0: give the keys one way: \"keys_file\" (JWKS or PEM), \"keys\" (a JWK "
	      "Set) or \"jwks\" (fetched from an upstream)\n");
	check("{\"type\":\"jwt\",\"providers\":[{\"name\":\"a\",\"keys\":" KEYS
	      ",\"algorithms\":[\"none\",\"RS256\"]}]}",
	      -1,
	      "/routes/0/filters/0/providers/0/algorithms/0: \"none\": one of HS256, HS384, HS512, RS256, RS384, "
	      "RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA\n"
	      "/routes/0/filters/0/providers/0/keys: the inline keys: key 0: the key verifies none of the algorithms "
	      "allowed\n");
	check("{\"type\":\"jwt\",\"providers\":[{\"name\":\"a\",\"keys\":{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}"
	      "]},"
	      "\"from\":[{\"query\":\"a=b\"},{\"header\":\"x\",\"cookie\":\"y\"}],\"claims_to_headers\":{\"sub\":"
	      "\"host\"},\"payload_header\":\"bad header\"}]}",
	      -1,
	      "/routes/0/filters/0/providers/0/keys: the inline keys: key 0: an HMAC key of 5 bytes: at least 32 "
	      "(RFC 7518 3.2)\n"
	      "/routes/0/filters/0/providers/0/from/0: a query parameter or cookie name: not empty, no '&', '=', ';' "
	      "or spaces\n"
	      "/routes/0/filters/0/providers/0/from/1: one of \"header\" (with an optional \"prefix\"), \"query\" or "
	      "\"cookie\"\n"
	      "/routes/0/filters/0/providers/0/claims_to_headers/sub: header \"host\" is the gateway's own: a filter "
	      "cannot use it\n"
	      "/routes/0/filters/0/providers/0/payload_header: \"bad header\" is not a valid header name\n");
}

static void test_keys_file(void **state)
{
	char path[] = "/tmp/vkgw-jwks-XXXXXX", text[1024], expected[1024];
	int fd = mkstemp(path);
	FILE *file_ptr;

	(void)state;
	assert_true(fd >= 0);
	file_ptr = fdopen(fd, "w");
	fprintf(file_ptr, "%s", KEYS);
	fclose(file_ptr);
	snprintf(text, sizeof(text), "{\"type\":\"jwt\",\"providers\":[{\"name\":\"a\",\"keys_file\":\"%s\"}]}", path);
	check(text, 0, "");
	file_ptr = fopen(path, "w");
	fprintf(file_ptr, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}");
	fclose(file_ptr);
	snprintf(expected, sizeof(expected),
		 "/routes/0/filters/0/providers/0/keys_file: %s: key 0: an RSA key of 17 bits: at least 2048\n", path);
	check(text, -1, expected);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configs),
		cmocka_unit_test(test_keys_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
