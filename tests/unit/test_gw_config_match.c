/* gw_config_match: picking a request's route from a loaded snapshot. Host
 * (exact and "*." suffix; case, port and final dot ignored), path (exact,
 * prefix, regex on a slice that is not NUL-terminated), methods (known by
 * bit and others by name), headers (exact, present, absent), first match
 * wins, and no match at all. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <strings.h>

#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_diag.h"

/* A request's headers as "name: value" strings, NULL-terminated. */
struct fake_headers {
	const char *const *lines;
	int lookups; /* how many times matching asked */
};

static int lookup_header(void *ctx_ptr, const char *name, size_t name_len, const char **value_out,
			 size_t *value_len_out)
{
	struct fake_headers *headers_ptr = ctx_ptr;

	headers_ptr->lookups++;
	/* Matching hands over names in lower case. */
	for (size_t i = 0; i < name_len; i++)
		assert_false(name[i] >= 'A' && name[i] <= 'Z');
	for (int i = 0; headers_ptr->lines && headers_ptr->lines[i]; i++) {
		const char *line = headers_ptr->lines[i];
		const char *colon = strchr(line, ':');

		if ((size_t)(colon - line) == name_len && strncasecmp(line, name, name_len) == 0) {
			*value_out = colon + 2;
			*value_len_out = strlen(colon + 2);
			return 1;
		}
	}
	return 0;
}

static struct gw_config *load(const char *routes_json)
{
	char text[8192];
	struct gw_diag *diag = gw_diag_create();
	struct gw_config *config;

	snprintf(text, sizeof(text), "{ \"listeners\": [ { \"port\": 0 } ], \"routes\": %s }", routes_json);
	config = gw_config_load_buffer(text, strlen(text), diag);
	if (!config)
		gw_config_print_errors(stderr, "routes", diag, NULL);
	assert_non_null(config);
	gw_diag_destroy(diag);
	return config;
}

/* The name of the route `method host path` (with `headers`) picks, or NULL. */
static const char *route_for(const struct gw_config *config, const char *method, const char *host, const char *path,
			     const char *const *headers)
{
	struct fake_headers fake = {.lines = headers};
	struct gw_match_request request = {
		.method = method,
		.method_len = method ? strlen(method) : 0,
		.host = host,
		.host_len = host ? strlen(host) : 0,
		.path = path,
		.path_len = strlen(path),
		.header_lookup = lookup_header,
		.header_ctx_ptr = &fake,
	};
	const struct gw_route *route_ptr = gw_config_match_route(config, &request);

	return route_ptr ? route_ptr->name : NULL;
}

#define RESPOND "\"action\": { \"respond\": { \"status\": 200 } }"

/* A client certificate's values as the TLS stream gives them ("name=value"
 * strings, NULL-terminated), looked up as the request's values. */
static int lookup_value(void *ctx_ptr, const char *name, size_t name_len, const char **value_out, size_t *value_len_out)
{
	const char *const *values = ctx_ptr;

	for (int i = 0; values && values[i]; i++) {
		const char *eq = strchr(values[i], '=');

		if ((size_t)(eq - values[i]) == name_len && strncmp(values[i], name, name_len) == 0) {
			*value_out = eq + 1;
			*value_len_out = strlen(eq + 1);
			return 1;
		}
	}
	return 0;
}

/* The route matched from `first_route` on for a request with `values`. */
static const char *route_for_values(const struct gw_config *config, const char *const *values, int first_route)
{
	struct gw_match_request request = {
		.method = "GET",
		.method_len = 3,
		.path = "/",
		.path_len = 1,
		.value_lookup = lookup_value,
		.value_ctx_ptr = (void *)values,
		.first_route = first_route,
	};
	const struct gw_route *route_ptr = gw_config_match_route(config, &request);

	return route_ptr ? route_ptr->name : NULL;
}

static const char *route_for_certificate(const struct gw_config *config, const char *const *values)
{
	return route_for_values(config, values, 0);
}

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Routes on the client's certificate: one of its names (a whole item of
 * the comma-separated list, never a prefix), its subject, its digest
 * (given in either case), present or absent. */
static void test_client_certificate_routes(void **state)
{
	struct gw_config *config = load(
		"[ { \"name\": \"spiffe\", \"match\": { \"client_certificate\": { \"name\": \"URI:spiffe://test/a\" } "
		"}, " RESPOND " },"
		"  { \"name\": \"subject\", \"match\": { \"client_certificate\": { \"subject\": \"CN=b,O=Example\" } "
		"}, " RESPOND " },"
		"  { \"name\": \"digest\", \"match\": { \"client_certificate\": { \"sha256\": \"" SHA_A
		"\" } }, " RESPOND " },"
		"  { \"name\": \"any\", \"match\": { \"client_certificate\": { \"present\": true } }, " RESPOND " },"
		"  { \"name\": \"none\", \"match\": { \"client_certificate\": { \"present\": false } }, " RESPOND
		" } ]");
	const char *const a[] = {"tls.client.sha256=ff", "tls.client.subject=CN=a",
				 "tls.client.names=DNS:a.test,URI:spiffe://test/a", NULL};
	const char *const a_prefix[] = {"tls.client.sha256=ff", "tls.client.subject=CN=a",
					"tls.client.names=URI:spiffe://test/ab,DNS:URI:spiffe://test/a.x", NULL};
	const char *const b[] = {"tls.client.sha256=ee", "tls.client.subject=CN=b,O=Example",
				 "tls.client.names=", NULL};
	const char *const d[] = {"tls.client.sha256=" SHA_A, "tls.client.subject=CN=d", "tls.client.names=", NULL};

	(void)state;
	assert_string_equal(route_for_certificate(config, a), "spiffe");
	assert_string_equal(route_for_certificate(config, a_prefix), "any");
	assert_string_equal(route_for_certificate(config, b), "subject");
	assert_string_equal(route_for_certificate(config, d), "digest");
	assert_string_equal(route_for_certificate(config, NULL), "none");
	gw_config_free(config);
	/* The digest in upper case matches the same (it is kept lower). */
	config = load("[ { \"name\": \"digest\", \"match\": { \"client_certificate\": { \"sha256\": "
		      "\"0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\" } }, " RESPOND " } ]");
	assert_string_equal(route_for_certificate(config, d), "digest");
	assert_null(route_for_certificate(config, a));
	gw_config_free(config);
}

/* "values": a value equal to a text, present or absent; and matching
 * from a route on (after a continue route), the routes before skipped. */
static void test_value_routes(void **state)
{
	struct gw_config *config = load(
		"[ { \"name\": \"gate\", \"action\": { \"continue\": {} } },"
		"  { \"name\": \"admin\", \"match\": { \"values\": { \"jwt.role\": \"admin\" } }, " RESPOND " },"
		"  { \"name\": \"bob\", \"match\": { \"values\": { \"consumer\": \"bob\", \"jwt.role\": { \"present\": "
		"false } } }, " RESPOND " },"
		"  { \"name\": \"anyone\", \"match\": { \"values\": { \"consumer\": { \"present\": true } } }, " RESPOND
		" },"
		"  { \"name\": \"nobody\", " RESPOND " } ]");
	const char *const admin[] = {"consumer=alice", "jwt.role=admin", NULL};
	const char *const admins[] = {"consumer=alice", "jwt.role=administrator", NULL};
	const char *const bob[] = {"consumer=bob", NULL};
	const char *const bob_role[] = {"consumer=bob", "jwt.role=user", NULL};

	(void)state;
	assert_int_equal(config->routes_ptr[0].action.kind, GW_ACTION_CONTINUE);
	assert_string_equal(route_for_values(config, admin, 0), "gate");
	assert_string_equal(route_for_values(config, admin, 1), "admin");
	assert_string_equal(route_for_values(config, admins, 1), "anyone");
	assert_string_equal(route_for_values(config, bob, 1), "bob");
	assert_string_equal(route_for_values(config, bob_role, 1), "anyone");
	assert_string_equal(route_for_values(config, NULL, 1), "nobody");
	assert_null(route_for_values(config, NULL, 5));
	gw_config_free(config);
}

static void test_exact_host_ignores_case_port_and_final_dot(void **state)
{
	struct gw_config *config =
		load("[ { \"name\": \"api\", \"match\": { \"host\": \"API.example.com\" }, " RESPOND " } ]");

	(void)state;
	assert_string_equal(route_for(config, "GET", "api.example.com", "/", NULL), "api");
	assert_string_equal(route_for(config, "GET", "Api.Example.COM", "/", NULL), "api");
	assert_string_equal(route_for(config, "GET", "api.example.com:8080", "/", NULL), "api");
	assert_string_equal(route_for(config, "GET", "api.example.com.", "/", NULL), "api");
	assert_string_equal(route_for(config, "GET", "api.example.com.:443", "/", NULL), "api");
	gw_config_free(config);
}

static void test_exact_host_refuses_other_hosts(void **state)
{
	struct gw_config *config =
		load("[ { \"name\": \"api\", \"match\": { \"host\": \"api.example.com\" }, " RESPOND " } ]");

	(void)state;
	assert_null(route_for(config, "GET", "www.example.com", "/", NULL));
	assert_null(route_for(config, "GET", "xapi.example.com", "/", NULL));
	assert_null(route_for(config, "GET", "api.example.co", "/", NULL));
	assert_null(route_for(config, "GET", "api.example.com.evil", "/", NULL));
	assert_null(route_for(config, "GET", "[::1]:8080", "/", NULL));
	assert_null(route_for(config, "GET", "", "/", NULL));
	assert_null(route_for(config, "GET", NULL, "/", NULL));
	gw_config_free(config);
}

static void test_suffix_host_takes_subdomains_only(void **state)
{
	struct gw_config *config =
		load("[ { \"name\": \"sub\", \"match\": { \"host\": \"*.Example.com\" }, " RESPOND " } ]");

	(void)state;
	assert_string_equal(route_for(config, "GET", "a.example.com", "/", NULL), "sub");
	assert_string_equal(route_for(config, "GET", "a.b.EXAMPLE.com:81", "/", NULL), "sub");
	assert_null(route_for(config, "GET", "example.com", "/", NULL));
	assert_null(route_for(config, "GET", ".example.com", "/", NULL));
	assert_null(route_for(config, "GET", "badexample.com", "/", NULL));
	assert_null(route_for(config, "GET", "a.example.org", "/", NULL));
	assert_null(route_for(config, "GET", NULL, "/", NULL));
	gw_config_free(config);
}

static void test_exact_path_takes_that_path_only(void **state)
{
	struct gw_config *config =
		load("[ { \"name\": \"ping\", \"match\": { \"path\": { \"exact\": \"/ping\" } }, " RESPOND " } ]");

	(void)state;
	assert_string_equal(route_for(config, "GET", "h", "/ping", NULL), "ping");
	assert_null(route_for(config, "GET", "h", "/ping/", NULL));
	assert_null(route_for(config, "GET", "h", "/pin", NULL));
	assert_null(route_for(config, "GET", "h", "/PING", NULL));
	gw_config_free(config);
}

static void test_prefix_path_is_a_byte_prefix(void **state)
{
	struct gw_config *config =
		load("[ { \"name\": \"api\", \"match\": { \"path\": { \"prefix\": \"/api\" } }, " RESPOND " } ]");

	(void)state;
	assert_string_equal(route_for(config, "GET", "h", "/api", NULL), "api");
	assert_string_equal(route_for(config, "GET", "h", "/api/users", NULL), "api");
	assert_string_equal(route_for(config, "GET", "h", "/apiary", NULL), "api");
	assert_null(route_for(config, "GET", "h", "/ap", NULL));
	assert_null(route_for(config, "GET", "h", "/v1/api", NULL));
	gw_config_free(config);
}

static void test_regex_path_reads_only_the_path_slice(void **state)
{
	struct gw_config *config = load(
		"[ { \"name\": \"versioned\", \"match\": { \"path\": { \"regex\": \"^/v[0-9]+/items$\" } }, " RESPOND
		" } ]");
	const char *target = "/v2/items?limit=10";
	struct gw_match_request request = {.method = "GET", .method_len = 3, .path = target, .path_len = 9};

	(void)state;
	assert_string_equal(route_for(config, "GET", "h", "/v2/items", NULL), "versioned");
	assert_string_equal(route_for(config, "GET", "h", "/v10/items", NULL), "versioned");
	assert_null(route_for(config, "GET", "h", "/v/items", NULL));
	assert_null(route_for(config, "GET", "h", "/x/v2/items", NULL));
	/* The path ends before the query, with no NUL there: "$" must see
	 * the end of the slice, not of the string. */
	assert_non_null(gw_config_match_route(config, &request));
	request.path_len = 8;
	assert_null(gw_config_match_route(config, &request));
	gw_config_free(config);
}

static void test_methods_match_by_bit_or_by_name(void **state)
{
	struct gw_config *config = load(
		"[ { \"name\": \"m\", \"match\": { \"methods\": [\"DELETE\", \"PUT\", \"PURGE\"] }, " RESPOND " } ]");

	(void)state;
	assert_int_equal(config->routes_ptr[0].matchers_ptr[0].methods.known_bits,
			 GW_MATCH_METHOD_BIT(GW_METHOD_DELETE) | GW_MATCH_METHOD_BIT(GW_METHOD_PUT));
	assert_string_equal(route_for(config, "DELETE", "h", "/", NULL), "m");
	assert_string_equal(route_for(config, "PUT", "h", "/", NULL), "m");
	assert_string_equal(route_for(config, "PURGE", "h", "/", NULL), "m");
	assert_null(route_for(config, "GET", "h", "/", NULL));
	assert_null(route_for(config, "PURG", "h", "/", NULL));
	assert_null(route_for(config, "delete", "h", "/", NULL)); /* methods are case-sensitive */
	assert_null(route_for(config, "LINK", "h", "/", NULL));
	assert_null(route_for(config, NULL, "h", "/", NULL));
	gw_config_free(config);
}

static void test_method_names_map_to_their_enum(void **state)
{
	(void)state;
	assert_int_equal(gw_config_method_from_name("GET", 3), GW_METHOD_GET);
	assert_int_equal(gw_config_method_from_name("PATCH", 5), GW_METHOD_PATCH);
	assert_int_equal(gw_config_method_from_name("OPTIONS", 7), GW_METHOD_OPTIONS);
	assert_int_equal(gw_config_method_from_name("GETX", 3), GW_METHOD_GET);
	assert_int_equal(gw_config_method_from_name("GETX", 4), GW_METHOD_OTHER);
	assert_int_equal(gw_config_method_from_name("get", 3), GW_METHOD_OTHER);
	assert_int_equal(gw_config_method_from_name("", 0), GW_METHOD_OTHER);
}

static void test_header_exact_compares_the_whole_value(void **state)
{
	struct gw_config *config =
		load("[ { \"name\": \"canary\", \"match\": { \"headers\": [ { \"name\": \"X-Canary\", "
		     "\"exact\": \"yes\" } ] }, " RESPOND " } ]");
	const char *const yes[] = {"Host: h", "x-canary: yes", NULL};
	const char *const upper_name[] = {"X-CANARY: yes", NULL};
	const char *const no[] = {"x-canary: no", NULL};
	const char *const longer[] = {"x-canary: yess", NULL};
	const char *const upper_value[] = {"x-canary: YES", NULL};
	const char *const none[] = {"Host: h", NULL};

	(void)state;
	assert_string_equal(route_for(config, "GET", "h", "/", yes), "canary");
	assert_string_equal(route_for(config, "GET", "h", "/", upper_name), "canary");
	assert_null(route_for(config, "GET", "h", "/", no));
	assert_null(route_for(config, "GET", "h", "/", longer));
	assert_null(route_for(config, "GET", "h", "/", upper_value));
	assert_null(route_for(config, "GET", "h", "/", none));
	gw_config_free(config);
}

static void test_header_present_and_absent(void **state)
{
	struct gw_config *config =
		load("[ { \"name\": \"authed\", \"match\": { \"headers\": [ { \"name\": "
		     "\"Authorization\", \"present\": true } ] }, " RESPOND " },"
		     "  { \"name\": \"anonymous\", \"match\": { \"headers\": [ { \"name\": \"Cookie\", "
		     "\"present\": false } ] }, " RESPOND " } ]");
	const char *const auth[] = {"authorization: Bearer x", "cookie: a=1", NULL};
	const char *const empty_auth[] = {"authorization: ", NULL};
	const char *const cookie[] = {"cookie: a=1", NULL};
	struct gw_match_request no_lookup = {.method = "GET", .method_len = 3, .path = "/", .path_len = 1};

	(void)state;
	assert_string_equal(route_for(config, "GET", "h", "/", auth), "authed");
	assert_string_equal(route_for(config, "GET", "h", "/", empty_auth), "authed");
	assert_string_equal(route_for(config, "GET", "h", "/", NULL), "anonymous");
	assert_null(route_for(config, "GET", "h", "/", cookie));
	/* Without a lookup function no header is present. */
	assert_string_equal(gw_config_match_route(config, &no_lookup)->name, "anonymous");
	gw_config_free(config);
}

static void test_every_matcher_of_a_route_must_agree(void **state)
{
	struct gw_config *config =
		load("[ { \"name\": \"all\", \"match\": { \"host\": \"a.test\", \"path\": { \"prefix\": "
		     "\"/x\" }, \"methods\": [\"POST\"], \"headers\": [ { \"name\": \"x-k\", \"present\": "
		     "true } ] }, " RESPOND " } ]");
	const char *const k[] = {"x-k: 1", NULL};

	(void)state;
	assert_string_equal(route_for(config, "POST", "a.test", "/x1", k), "all");
	assert_null(route_for(config, "GET", "a.test", "/x1", k));
	assert_null(route_for(config, "POST", "b.test", "/x1", k));
	assert_null(route_for(config, "POST", "a.test", "/y", k));
	assert_null(route_for(config, "POST", "a.test", "/x1", NULL));
	gw_config_free(config);
}

static void test_cheap_matchers_run_before_header_lookups(void **state)
{
	struct gw_config *config =
		load("[ { \"name\": \"r\", \"match\": { \"headers\": [ { \"name\": \"x-k\", \"present\": "
		     "true } ], \"path\": { \"prefix\": \"/x\" } }, " RESPOND " } ]");
	struct fake_headers fake = {0};
	struct gw_match_request request = {.method = "GET",
					   .method_len = 3,
					   .path = "/y",
					   .path_len = 2,
					   .header_lookup = lookup_header,
					   .header_ctx_ptr = &fake};

	(void)state;
	assert_null(gw_config_match_route(config, &request));
	assert_int_equal(fake.lookups, 0);
	gw_config_free(config);
}

static void test_first_matching_route_wins(void **state)
{
	struct gw_config *config =
		load("[ { \"name\": \"first\", \"match\": { \"path\": { \"prefix\": \"/a\" } }, " RESPOND " },"
		     "  { \"name\": \"second\", \"match\": { \"path\": { \"prefix\": \"/a\" } }, " RESPOND " },"
		     "  { \"name\": \"narrow\", \"match\": { \"path\": { \"exact\": \"/a/b\" } }, " RESPOND " },"
		     "  { \"name\": \"rest\", " RESPOND " } ]");

	(void)state;
	assert_string_equal(route_for(config, "GET", "h", "/a", NULL), "first");
	assert_string_equal(route_for(config, "GET", "h", "/a/b", NULL), "first");
	assert_string_equal(route_for(config, "GET", "h", "/b", NULL), "rest");
	gw_config_free(config);
}

static void test_no_matching_route_gives_null(void **state)
{
	struct gw_config *config =
		load("[ { \"name\": \"a\", \"match\": { \"path\": { \"prefix\": \"/a\" } }, " RESPOND " },"
		     "  { \"name\": \"b\", \"match\": { \"host\": \"b.test\" }, " RESPOND " } ]");

	(void)state;
	assert_null(route_for(config, "GET", "c.test", "/c", NULL));
	assert_null(route_for(config, "GET", NULL, "", NULL));
	gw_config_free(config);
}

static void test_route_without_match_takes_everything(void **state)
{
	struct gw_config *config = load("[ { \"name\": \"any\", " RESPOND " } ]");

	(void)state;
	assert_string_equal(route_for(config, "GET", "h", "/", NULL), "any");
	assert_string_equal(route_for(config, "OPTIONS", NULL, "*", NULL), "any");
	assert_string_equal(route_for(config, "BREW", "x.y", "/coffee", NULL), "any");
	gw_config_free(config);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_host_ignores_case_port_and_final_dot),
		cmocka_unit_test(test_exact_host_refuses_other_hosts),
		cmocka_unit_test(test_suffix_host_takes_subdomains_only),
		cmocka_unit_test(test_exact_path_takes_that_path_only),
		cmocka_unit_test(test_prefix_path_is_a_byte_prefix),
		cmocka_unit_test(test_regex_path_reads_only_the_path_slice),
		cmocka_unit_test(test_methods_match_by_bit_or_by_name),
		cmocka_unit_test(test_method_names_map_to_their_enum),
		cmocka_unit_test(test_header_exact_compares_the_whole_value),
		cmocka_unit_test(test_header_present_and_absent),
		cmocka_unit_test(test_every_matcher_of_a_route_must_agree),
		cmocka_unit_test(test_cheap_matchers_run_before_header_lookups),
		cmocka_unit_test(test_client_certificate_routes),
		cmocka_unit_test(test_value_routes),
		cmocka_unit_test(test_first_matching_route_wins),
		cmocka_unit_test(test_no_matching_route_gives_null),
		cmocka_unit_test(test_route_without_match_takes_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
