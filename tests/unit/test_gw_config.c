/* gw_config: loading. The examples and a fixture using every key load into
 * the expected snapshot; each broken fixture in tests/config/ prints
 * exactly the expected PATH:LINE:COL: POINTER: MESSAGE lines; filters are
 * compiled by their registered types; the snapshot is read-only. Runs from
 * the repository root (tests/run-tests.sh does), where the fixtures are. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gw_arena.h"
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_config_tls.h"
#include "gw_diag.h"
#include "gw_filter.h"
#include "gw_json_pos.h"

#define FIXTURES "tests/config/"
#define EXAMPLES "config/examples/"

/* Three filter types standing in for the real ones. Like a real filter
 * they see only jansson, gw_diag and gw_arena. */

struct fake_request_id {
	const char *header;
	const char *pointer; /* the pointer compile() was given */
};

struct fake_headers {
	int add_count;
};

static int compile_request_id(const json_t *config, const char *pointer, struct gw_diag *diag, struct gw_arena *arena,
			      void **compiled_out)
{
	struct fake_request_id *blob_ptr = gw_arena_alloc(arena, sizeof(*blob_ptr));
	char at[256];
	int rc = 0;

	if (!blob_ptr)
		return -1;
	blob_ptr->header = "x-request-id";
	blob_ptr->pointer = gw_arena_strdup(arena, pointer);
	for (void *iter_ptr = json_object_iter((json_t *)config); iter_ptr;
	     iter_ptr = json_object_iter_next((json_t *)config, iter_ptr)) {
		const char *key = json_object_iter_key(iter_ptr);
		const json_t *value = json_object_iter_value(iter_ptr);

		snprintf(at, sizeof(at), "%s/%s", pointer, key);
		if (strcmp(key, "type") == 0)
			continue;
		if (strcmp(key, "header") != 0)
			rc = gw_diag_error_key(diag, at, "unknown key \"%s\"; allowed keys: type, header", key);
		else if (!json_is_string(value))
			rc = gw_diag_error(diag, at, "expected a string");
		else
			blob_ptr->header = gw_arena_strdup(arena, json_string_value(value));
	}
	*compiled_out = blob_ptr;
	return rc;
}

static int compile_headers(const json_t *config, const char *pointer, struct gw_diag *diag, struct gw_arena *arena,
			   void **compiled_out)
{
	struct fake_headers *blob_ptr = gw_arena_alloc(arena, sizeof(*blob_ptr));
	const json_t *response = json_object_get(config, "response");
	char at[256];

	if (!blob_ptr)
		return -1;
	snprintf(at, sizeof(at), "%s/response", pointer);
	if (response && !json_is_object(response))
		return gw_diag_error(diag, at, "expected an object");
	blob_ptr->add_count = (int)json_object_size(json_object_get(response, "add"));
	*compiled_out = blob_ptr;
	return 0;
}

/* Says no without saying why: the loader must still report something. */
static int compile_refuses(const json_t *config, const char *pointer, struct gw_diag *diag, struct gw_arena *arena,
			   void **compiled_out)
{
	(void)config, (void)pointer, (void)diag, (void)arena, (void)compiled_out;
	return -1;
}

static const struct gw_filter_type request_id_type = {.name = "request_id", .compile = compile_request_id};
/* Like the real one, it edits responses too: no filter for a continue route. */
static enum gw_filter_result edits_responses(struct gw_stage *stage_ptr)
{
	(void)stage_ptr;
	return GW_FILTER_CONTINUE;
}

static const struct gw_filter_type headers_type = {
	.name = "headers", .compile = compile_headers, .response_head = edits_responses};
static const struct gw_filter_type refuses_type = {.name = "refuses", .compile = compile_refuses};

static int register_fake_filters(void **state)
{
	(void)state;
	if (gw_filter_type_register(&request_id_type) == -1 || gw_filter_type_register(&headers_type) == -1 ||
	    gw_filter_type_register(&refuses_type) == -1)
		return -1;
	return 0;
}

/* Loads `path`; returns the printed problems ("" if none) to free(). */
static char *load_file_printing(const char *path, struct gw_config **config_out)
{
	struct gw_diag *diag = gw_diag_create();
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct gw_config *config;

	assert_non_null(diag);
	assert_non_null(out);
	config = gw_config_load_file(path, diag);
	gw_config_print_errors(out, path, diag, NULL);
	fclose(out);
	if (config)
		assert_int_equal(gw_diag_count(diag), 0);
	else
		assert_true(gw_diag_count(diag) > 0);
	gw_diag_destroy(diag);
	if (config_out)
		*config_out = config;
	else
		gw_config_free(config);
	return text;
}

static char *load_text_printing(const char *json, struct gw_config **config_out)
{
	struct gw_diag *diag = gw_diag_create();
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct gw_config *config;

	assert_non_null(diag);
	assert_non_null(out);
	config = gw_config_load_buffer(json, strlen(json), diag);
	gw_config_print_errors(out, "t.json", diag, NULL);
	fclose(out);
	gw_diag_destroy(diag);
	if (config_out)
		*config_out = config;
	else
		gw_config_free(config);
	return text;
}

static void test_minimal_example_loads_with_defaults(void **state)
{
	struct gw_config *config;
	char *errors = load_file_printing(EXAMPLES "minimal.json", &config);
	const struct gw_config_upstream *upstream_ptr;
	const struct gw_route *route_ptr;

	(void)state;
	assert_string_equal(errors, "");
	assert_non_null(config);
	assert_int_equal(config->listener_count, 1);
	assert_string_equal(config->listeners_ptr[0].name, "listener-0");
	assert_string_equal(config->listeners_ptr[0].address, "127.0.0.1");
	assert_int_equal(config->listeners_ptr[0].port, 8080);
	assert_int_equal(config->listeners_ptr[0].kernels, 0);
	assert_int_equal(config->listeners_ptr[0].isolation, GW_ISOLATION_FILTERS);
	assert_int_equal(ntohs(config->listeners_ptr[0].sockaddr.sin_port), 8080);
	assert_int_equal(ntohl(config->listeners_ptr[0].sockaddr.sin_addr.s_addr), 0x7F000001);
	assert_false(config->admin.enabled);
	assert_false(config->access_log.enabled);
	assert_int_equal(config->http.limits.max_head_bytes, 16384);
	assert_int_equal(config->http.limits.max_headers, 100);
	assert_int_equal(config->http.limits.max_target_bytes, 8192);
	assert_true(config->http.limits.max_body_bytes == 68719476736ULL);
	assert_int_equal(config->http.limits.max_trailers, GW_HTTP_DEFAULT_MAX_TRAILERS);
	assert_int_equal(config->http.limits.max_chunk_line_bytes, GW_HTTP_DEFAULT_MAX_CHUNK_LINE_BYTES);
	assert_int_equal(config->http.trusted_hops, 0);
	assert_string_equal(config->http.via, "vkgw");
	assert_int_equal(config->timeouts.header_ms, 10000);
	assert_int_equal(config->timeouts.body_idle_ms, 30000);
	assert_int_equal(config->timeouts.keepalive_idle_ms, 60000);

	assert_int_equal(config->upstream_count, 1);
	upstream_ptr = &config->upstreams_ptr[0];
	assert_string_equal(upstream_ptr->name, "demo");
	assert_int_equal(upstream_ptr->endpoint_count, 1);
	assert_int_equal(upstream_ptr->endpoints_ptr[0].kind, GW_CONFIG_ENDPOINT_IPV4);
	assert_int_equal(upstream_ptr->endpoints_ptr[0].port, 8081);
	assert_int_equal(upstream_ptr->endpoints_ptr[0].weight, 1);
	assert_int_equal(upstream_ptr->resolve_interval_ms, 30000);
	assert_int_equal(upstream_ptr->balance.policy, GW_BALANCE_ROUND_ROBIN);
	assert_int_equal(upstream_ptr->balance.hash_on, GW_CONFIG_HASH_ON_NOTHING);
	assert_false(upstream_ptr->health_check.enabled);
	assert_false(upstream_ptr->outlier_detection.enabled);
	/* Without outlier_detection nothing is ever ejected. */
	assert_int_equal(upstream_ptr->health_policy.consecutive_5xx, 0);
	assert_int_equal(upstream_ptr->health_policy.consecutive_connect_failures, 0);
	assert_int_equal(upstream_ptr->health_policy.healthy_threshold, 2);
	assert_int_equal(upstream_ptr->limits.breaker.max_connections, 1024);
	assert_int_equal(upstream_ptr->limits.breaker.max_pending, 1024);
	assert_int_equal(upstream_ptr->limits.breaker.max_requests, 1024);
	assert_int_equal(upstream_ptr->limits.max_idle_per_kernel, 1024);
	assert_int_equal(upstream_ptr->timeouts.connect_ms, 1000);
	assert_int_equal(upstream_ptr->timeouts.response_ms, 15000);
	assert_int_equal(upstream_ptr->timeouts.idle_ms, 60000);
	/* A retry budget on by default. */
	assert_int_equal(upstream_ptr->retry_budget.enabled, 1);
	assert_int_equal(upstream_ptr->retry_budget.percent, 20);
	assert_int_equal(upstream_ptr->retry_budget.min_per_second, 10);

	assert_int_equal(config->route_count, 1);
	route_ptr = &config->routes_ptr[0];
	assert_string_equal(route_ptr->name, "route-0");
	assert_int_equal(route_ptr->matcher_count, 0);
	assert_int_equal(route_ptr->filter_count, 0);
	assert_int_equal(route_ptr->action.kind, GW_ACTION_PROXY);
	assert_int_equal(route_ptr->action.proxy.upstream_index, 0);
	assert_null(route_ptr->action.proxy.prefix_rewrite);
	/* Upgrades: WebSocket only; CONNECT: refused. */
	assert_int_equal(route_ptr->action.proxy.upgrade_count, 1);
	assert_string_equal(route_ptr->action.proxy.upgrades_ptr[0], "websocket");
	assert_int_equal(route_ptr->action.proxy.connect, 0);
	/* A deadline of 15 s, a client's ask taken up to a minute, sent on. */
	assert_int_equal(route_ptr->action.proxy.deadline.timeout_ms, 15000);
	assert_int_equal(route_ptr->action.proxy.deadline.client_max_ms, 60000);
	assert_int_equal(route_ptr->action.proxy.deadline.offset_ms, 0);
	assert_int_equal(route_ptr->action.proxy.deadline.header_count, 1);
	assert_string_equal(route_ptr->action.proxy.deadline.headers_ptr[0], "x-request-timeout");
	assert_int_equal(route_ptr->action.proxy.deadline.grpc_header_count, 1);
	assert_string_equal(route_ptr->action.proxy.deadline.grpc_headers_ptr[0], "grpc-timeout");
	gw_config_free(config);
	free(errors);
}

static void test_default_example_loads_with_its_filters(void **state)
{
	struct gw_config *config;
	char *errors = load_file_printing(EXAMPLES "filters.json", &config);
	const struct gw_route *route_ptr;

	(void)state;
	assert_string_equal(errors, "");
	assert_non_null(config);
	assert_int_equal(config->listeners_ptr[0].port, 8080);
	assert_non_null(gw_config_find_upstream(config, "demo"));
	assert_int_equal(gw_config_find_upstream(config, "demo")->endpoints_ptr[0].port, 8081);
	route_ptr = &config->routes_ptr[0];
	assert_int_equal(route_ptr->filter_count, 2);
	assert_ptr_equal(route_ptr->filters_ptr[0].type_ptr, &request_id_type);
	assert_ptr_equal(route_ptr->filters_ptr[1].type_ptr, &headers_type);
	assert_int_equal(((struct fake_headers *)route_ptr->filters_ptr[1].compiled_ptr)->add_count, 1);
	assert_int_equal(route_ptr->action.kind, GW_ACTION_PROXY);
	gw_config_free(config);
	free(errors);
}

static void test_every_key_reaches_the_snapshot(void **state)
{
	struct gw_config *config;
	char *errors = load_file_printing(FIXTURES "good_full.json", &config);
	const struct gw_config_upstream *api_ptr;
	const struct gw_route *route_ptr;
	const struct gw_route_matcher *matchers_ptr;

	(void)state;
	assert_string_equal(errors, "");
	assert_non_null(config);
	assert_int_equal(config->listener_count, 2);
	assert_string_equal(config->listeners_ptr[0].name, "public");
	assert_int_equal(config->listeners_ptr[0].sockaddr.sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(config->listeners_ptr[0].kernels, 4);
	assert_int_equal(config->listeners_ptr[0].isolation, GW_ISOLATION_OFF);
	assert_string_equal(config->listeners_ptr[1].name, "listener-1");
	assert_int_equal(config->listeners_ptr[1].isolation, GW_ISOLATION_ALWAYS);
	assert_int_equal(config->listeners_ptr[1].port, 0);
	assert_true(config->admin.enabled);
	assert_int_equal(config->admin.port, 9901);
	assert_string_equal(config->admin.token, "an-admin-token-of-32-characters!");
	assert_true(config->access_log.enabled);
	assert_false(config->access_log.to_stdout);
	assert_string_equal(config->access_log.path, "/var/log/vkgw/access.log");
	assert_int_equal(config->access_log.buffer_bytes, 131072);
	assert_int_equal(config->rate_limits.cells, 5000);
	assert_int_equal(config->http.limits.max_head_bytes, 32768);
	assert_int_equal(config->http.limits.max_headers, 64);
	assert_int_equal(config->http.limits.max_target_bytes, 4096);
	assert_true(config->http.limits.max_body_bytes == 1000000); /* written 1e6 */
	assert_int_equal(config->http.trusted_hops, 1);
	assert_string_equal(config->http.via, "");
	assert_int_equal(config->timeouts.header_ms, 5000);
	assert_int_equal(config->timeouts.body_idle_ms, 20000);
	assert_int_equal(config->timeouts.keepalive_idle_ms, 75000);

	assert_int_equal(config->upstream_count, 2);
	api_ptr = gw_config_find_upstream(config, "api");
	assert_non_null(api_ptr);
	assert_int_equal(api_ptr->index, 0);
	assert_int_equal(api_ptr->endpoint_count, 3);
	assert_int_equal(api_ptr->endpoints_ptr[0].kind, GW_CONFIG_ENDPOINT_IPV4);
	assert_int_equal(api_ptr->endpoints_ptr[1].kind, GW_CONFIG_ENDPOINT_IPV6);
	assert_string_equal(api_ptr->endpoints_ptr[1].host, "2001:db8::1");
	assert_int_equal(api_ptr->endpoints_ptr[1].weight, 3);
	assert_int_equal(ntohs(api_ptr->endpoints_ptr[1].sockaddr.in6.sin6_port), 8080);
	assert_int_equal(api_ptr->endpoints_ptr[2].kind, GW_CONFIG_ENDPOINT_DNS);
	assert_string_equal(api_ptr->endpoints_ptr[2].host, "api.internal.example");
	assert_int_equal(api_ptr->endpoints_ptr[2].port, 9000);
	assert_int_equal(api_ptr->resolve_interval_ms, 10000);
	assert_int_equal(api_ptr->balance.policy, GW_BALANCE_RING);
	assert_int_equal(api_ptr->balance.hash_on, GW_CONFIG_HASH_ON_HEADER);
	assert_string_equal(api_ptr->balance.hash_key, "x-user");
	assert_true(api_ptr->health_check.enabled);
	assert_string_equal(api_ptr->health_check.method, "HEAD");
	assert_string_equal(api_ptr->health_check.path, "/healthz?full=1");
	assert_int_equal(api_ptr->health_check.expected_status_count, 2);
	assert_int_equal(api_ptr->health_check.expected_statuses_ptr[1], 204);
	assert_int_equal(api_ptr->health_check.interval_ms, 2000);
	assert_int_equal(api_ptr->health_check.timeout_ms, 500);
	assert_int_equal(api_ptr->health_check.healthy_threshold, 1);
	assert_int_equal(api_ptr->health_check.unhealthy_threshold, 2);
	assert_true(api_ptr->outlier_detection.enabled);
	assert_int_equal(api_ptr->outlier_detection.consecutive_5xx, 10);
	assert_int_equal(api_ptr->outlier_detection.consecutive_connect_failures, 0);
	assert_int_equal(api_ptr->outlier_detection.base_ejection_ms, 60000);
	assert_int_equal(api_ptr->outlier_detection.max_ejection_percent, 30);
	assert_int_equal(api_ptr->health_policy.healthy_threshold, 1);
	assert_int_equal(api_ptr->health_policy.unhealthy_threshold, 2);
	assert_int_equal(api_ptr->health_policy.consecutive_5xx, 10);
	assert_int_equal(api_ptr->health_policy.consecutive_connect_failures, 0);
	assert_true(api_ptr->health_policy.base_ejection_ns == 60000000000ULL);
	assert_int_equal(api_ptr->health_policy.max_ejection_percent, 30);
	assert_int_equal(api_ptr->limits.breaker.max_connections, 100);
	assert_int_equal(api_ptr->limits.breaker.max_pending, 0);
	assert_int_equal(api_ptr->limits.breaker.max_requests, 200);
	assert_int_equal(api_ptr->limits.max_idle_per_kernel, 8);
	assert_int_equal(api_ptr->timeouts.connect_ms, 250);
	assert_int_equal(api_ptr->timeouts.response_ms, 5000);
	assert_int_equal(api_ptr->retry_budget.enabled, 1);
	assert_int_equal(api_ptr->retry_budget.percent, 50);
	assert_int_equal(api_ptr->retry_budget.min_per_second, 3);
	assert_int_equal(gw_config_find_upstream(config, "static")->balance.policy, GW_BALANCE_LEAST_REQUEST);
	assert_null(gw_config_find_upstream(config, "nope"));

	assert_int_equal(config->route_count, 5);
	route_ptr = &config->routes_ptr[0];
	assert_string_equal(route_ptr->name, "api-v2");
	/* Cheapest first: method, host, prefix, then the three headers. */
	assert_int_equal(route_ptr->matcher_count, 6);
	matchers_ptr = route_ptr->matchers_ptr;
	assert_int_equal(matchers_ptr[0].kind, GW_MATCH_METHOD);
	assert_int_equal(matchers_ptr[0].methods.known_bits,
			 GW_MATCH_METHOD_BIT(GW_METHOD_GET) | GW_MATCH_METHOD_BIT(GW_METHOD_POST));
	assert_int_equal(matchers_ptr[0].methods.other_count, 1);
	assert_string_equal(matchers_ptr[0].methods.other_ptr[0], "PURGE");
	assert_int_equal(matchers_ptr[1].kind, GW_MATCH_HOST_EXACT);
	assert_string_equal(matchers_ptr[1].text.ptr, "api.example.com");
	assert_int_equal(matchers_ptr[2].kind, GW_MATCH_PATH_PREFIX);
	assert_string_equal(matchers_ptr[2].text.ptr, "/v2/");
	assert_int_equal(matchers_ptr[3].kind, GW_MATCH_HEADER_EXACT);
	assert_string_equal(matchers_ptr[3].header.name, "x-canary");
	assert_string_equal(matchers_ptr[3].header.value, "yes");
	assert_int_equal(matchers_ptr[4].kind, GW_MATCH_HEADER_PRESENT);
	assert_int_equal(matchers_ptr[5].kind, GW_MATCH_HEADER_ABSENT);
	assert_int_equal(route_ptr->filter_count, 2);
	assert_string_equal(((struct fake_request_id *)route_ptr->filters_ptr[0].compiled_ptr)->header, "x-trace-id");
	assert_string_equal(((struct fake_request_id *)route_ptr->filters_ptr[0].compiled_ptr)->pointer,
			    "/routes/0/filters/0");
	assert_int_equal(route_ptr->action.proxy.upstream_index, 0);
	assert_string_equal(route_ptr->action.proxy.prefix_rewrite, "/");
	assert_int_equal(route_ptr->action.proxy.match_prefix_len, 4);
	assert_int_equal(route_ptr->action.proxy.upgrade_count, 2);
	assert_string_equal(route_ptr->action.proxy.upgrades_ptr[1], "h2c");
	assert_int_equal(route_ptr->action.proxy.connect, 1);
	assert_int_equal(route_ptr->action.proxy.deadline.timeout_ms, 2500);
	assert_int_equal(route_ptr->action.proxy.deadline.client_max_ms, 1000);
	assert_int_equal(route_ptr->action.proxy.deadline.offset_ms, 5);
	assert_int_equal(route_ptr->action.proxy.deadline.header_count, 2);
	assert_string_equal(route_ptr->action.proxy.deadline.headers_ptr[0], "x-request-timeout");
	assert_string_equal(route_ptr->action.proxy.deadline.headers_ptr[1], "x-envoy-expected-rq-timeout-ms");
	assert_int_equal(route_ptr->action.proxy.deadline.grpc_header_count, 0);

	route_ptr = &config->routes_ptr[1];
	assert_string_equal(route_ptr->name, "route-1");
	assert_int_equal(route_ptr->matcher_count, 2);
	assert_int_equal(route_ptr->matchers_ptr[0].kind, GW_MATCH_HOST_SUFFIX);
	assert_string_equal(route_ptr->matchers_ptr[0].text.ptr, ".example.com");
	assert_int_equal(route_ptr->matchers_ptr[1].kind, GW_MATCH_PATH_REGEX);

	route_ptr = &config->routes_ptr[2];
	assert_int_equal(route_ptr->action.kind, GW_ACTION_RESPOND);
	assert_int_equal(route_ptr->action.respond.status, 200);
	assert_string_equal(route_ptr->action.respond.body, "pong\n");
	assert_int_equal(route_ptr->action.respond.body_len, 5);
	assert_int_equal(route_ptr->action.respond.header_count, 1);
	assert_string_equal(route_ptr->action.respond.headers_ptr[0].name, "Content-Type");
	assert_string_equal(route_ptr->action.respond.headers_ptr[0].value, "text/plain");

	route_ptr = &config->routes_ptr[3];
	assert_int_equal(route_ptr->action.kind, GW_ACTION_REDIRECT);
	assert_int_equal(route_ptr->action.redirect.status, 301);
	assert_string_equal(route_ptr->action.redirect.location, "https://example.com/new/");
	assert_int_equal(config->routes_ptr[4].action.redirect.status, 302);
	gw_config_free(config);
	free(errors);
}

static void test_too_many_problems_end_with_a_note(void **state)
{
	char text[16384];
	size_t len = 0;
	struct gw_diag *diag = gw_diag_create();
	char *printed = NULL;
	size_t printed_len = 0;
	FILE *out = open_memstream(&printed, &printed_len);
	int lines = 0;
	const char *last;

	(void)state;
	len += (size_t)snprintf(text + len, sizeof(text) - len, "{ \"listeners\": [ { \"port\": 1 } ]");
	for (int i = 0; i < 300; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, ",\n \"k%d\": 1", i);
	len += (size_t)snprintf(text + len, sizeof(text) - len,
				",\n \"routes\": [ { \"action\": { \"respond\": { \"status\": 200 } } } ] }");
	assert_null(gw_config_load_buffer(text, len, diag));
	assert_int_equal(gw_diag_count(diag), GW_DIAG_MAX_PROBLEMS + 1);
	assert_int_equal(gw_diag_reported(diag), 300);
	gw_config_print_errors(out, "t.json", diag, NULL);
	fclose(out);
	for (const char *c = printed; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, GW_DIAG_MAX_PROBLEMS + 1);
	assert_non_null(strstr(printed, "t.json:2:2: /k0: unknown key \"k0\"; allowed keys: $schema, listeners, admin, "
					"access_log, http, timeouts, upstreams, routes, rate_limits, geo\n"));
	assert_non_null(strstr(printed, "t.json:257:2: /k255: unknown key"));
	assert_null(strstr(printed, "/k256"));
	last = printed + strlen(printed) - 1;
	while (last > printed && last[-1] != '\n')
		last--;
	assert_string_equal(last, "t.json: too many errors; only the first 256 are shown\n");
	free(printed);
	gw_diag_destroy(diag);
}

static void test_problems_leave_the_loader_with_positions(void **state)
{
	const char *text = "{\n  \"listeners\": [ { \"port\": -1 } ],\n  \"routes\": [ { \"x\": 1 } ]\n}";
	struct gw_diag *diag = gw_diag_create();
	const struct gw_diag_problem *problem_ptr;

	(void)state;
	assert_null(gw_config_load_buffer(text, strlen(text), diag));
	assert_int_equal(gw_diag_count(diag), 3);
	problem_ptr = gw_diag_problem(diag, 0);
	assert_string_equal(problem_ptr->pointer, "/listeners/0/port");
	assert_int_equal(problem_ptr->anchor, GW_DIAG_AT_POSITION);
	assert_int_equal(problem_ptr->line, 2);
	assert_int_equal(problem_ptr->column, 28);
	/* An unknown key is placed at the key, a missing one at its object. */
	problem_ptr = gw_diag_problem(diag, 1);
	assert_string_equal(problem_ptr->pointer, "/routes/0/x");
	assert_int_equal(problem_ptr->line, 3);
	assert_int_equal(problem_ptr->column, 17);
	problem_ptr = gw_diag_problem(diag, 2);
	assert_string_equal(problem_ptr->pointer, "/routes/0");
	assert_string_equal(problem_ptr->message, "missing required key \"action\"");
	assert_int_equal(problem_ptr->line, 3);
	assert_int_equal(problem_ptr->column, 15);
	gw_diag_destroy(diag);
}

static void test_printing_sorts_by_position_and_uses_pos_when_given(void **state)
{
	const char *text = "{\n  \"a\": {\n    \"b\": 1\n  }\n}\n";
	struct gw_json_pos *pos_ptr = gw_json_pos_scan(text, strlen(text));
	struct gw_diag *diag = gw_diag_create();
	char *printed = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&printed, &len);

	(void)state;
	gw_diag_error(diag, "/a/b", "late value");
	gw_diag_error_key(diag, "/a/b", "the key");
	gw_diag_error(diag, "/a/missing", "falls back to /a");
	gw_diag_error(diag, "", "the whole document");
	gw_diag_error_at(diag, 0, 0, "", "no position at all");
	gw_diag_error_at(diag, 1, 1, "/a", "known position");
	gw_config_print_errors(out, "f.json", diag, pos_ptr);
	fclose(out);
	assert_string_equal(printed, "f.json: no position at all\n"
				     "f.json:1:1: the whole document\n"
				     "f.json:1:1: /a: known position\n"
				     "f.json:2:8: /a/missing: falls back to /a\n"
				     "f.json:3:5: /a/b: the key\n"
				     "f.json:3:10: /a/b: late value\n");
	free(printed);
	gw_diag_destroy(diag);
	gw_json_pos_free(pos_ptr);
}

static void test_missing_file_is_reported_without_position(void **state)
{
	char *errors = load_file_printing(FIXTURES "no_such_file.json", NULL);

	(void)state;
	assert_string_equal(errors, FIXTURES "no_such_file.json: cannot open: No such file or directory\n");
	free(errors);
	errors = load_file_printing(FIXTURES, NULL);
	assert_string_equal(errors, FIXTURES ": cannot read: is a directory\n");
	free(errors);
}

/* A listener's "tls": certificates with their names (lower case), paths
 * as written from a buffer, the defaults, and the checker the TLS layer
 * registers seeing the parsed object (here a fake that refuses a key). */
static int tls_checks;

static int fake_tls_check(const struct gw_config_tls *tls_ptr, struct gw_diag *diag_ptr)
{
	char pointer[256];

	tls_checks++;
	for (int i = 0; i < tls_ptr->certificate_count; i++) {
		if (strcmp(tls_ptr->certificates_ptr[i].key_path, "refused.key") == 0) {
			snprintf(pointer, sizeof(pointer), "%s/key", tls_ptr->certificates_ptr[i].pointer);
			return gw_diag_error(diag_ptr, pointer, "refused");
		}
	}
	return 0;
}

static void test_listener_tls_reaches_the_snapshot(void **state)
{
	struct gw_config *config;
	const struct gw_config_tls *tls_ptr;
	char *errors;

	(void)state;
	gw_config_set_tls_check(fake_tls_check);
	tls_checks = 0;
	errors = load_text_printing(
		"{\"listeners\": [{\"port\": 0, \"tls\": {\"certificates\": ["
		"{\"cert\": \"a.pem\", \"key\": \"a.key\", \"server_names\": [\"API.Example.com\", \"*.example.com\"]},"
		"{\"cert\": \"/abs/d.pem\", \"key\": \"d.key\"}],"
		"\"min_version\": \"1.3\", \"curves\": [\"X25519\", \"P-256\"],"
		"\"client_certificates\": {\"mode\": \"required\", \"ca\": \"ca.pem\", \"depth\": 2}}}, {\"port\": 0}],"
		"\"timeouts\": {\"handshake_ms\": 1500},"
		"\"routes\": [{\"action\": {\"respond\": {\"status\": 204}}}]}",
		&config);
	assert_string_equal(errors, "");
	free(errors);
	assert_non_null(config);
	assert_int_equal(tls_checks, 1);
	tls_ptr = &config->listeners_ptr[0].tls;
	assert_true(tls_ptr->enabled);
	assert_int_equal(tls_ptr->certificate_count, 2);
	assert_string_equal(tls_ptr->certificates_ptr[0].cert_path, "a.pem");
	assert_string_equal(tls_ptr->certificates_ptr[0].key_path, "a.key");
	assert_int_equal(tls_ptr->certificates_ptr[0].server_name_count, 2);
	assert_string_equal(tls_ptr->certificates_ptr[0].server_names[0], "api.example.com");
	assert_string_equal(tls_ptr->certificates_ptr[0].server_names[1], "*.example.com");
	assert_string_equal(tls_ptr->certificates_ptr[0].pointer, "/listeners/0/tls/certificates/0");
	assert_string_equal(tls_ptr->certificates_ptr[1].cert_path, "/abs/d.pem");
	assert_int_equal(tls_ptr->certificates_ptr[1].server_name_count, 0);
	assert_int_equal(tls_ptr->min_version, 0x0304);
	assert_string_equal(tls_ptr->curves, "X25519:P-256");
	assert_non_null(strstr(tls_ptr->ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256"));
	assert_int_equal(config->timeouts.handshake_ms, 1500);
	assert_int_equal(tls_ptr->client_certificates, GW_CLIENT_CERTIFICATES_REQUIRED);
	assert_string_equal(tls_ptr->client_ca_path, "ca.pem");
	assert_int_equal(tls_ptr->client_verify_depth, 2);
	assert_false(config->listeners_ptr[1].tls.enabled);
	assert_int_equal(config->listeners_ptr[1].tls.client_certificates, GW_CLIENT_CERTIFICATES_NONE);
	assert_int_equal(config->listeners_ptr[1].tls.min_version, 0x0303);
	gw_config_free(config);

	/* Bad names and versions are the loader's; the files are the
	 * checker's, asked only once the rest is right. */
	tls_checks = 0;
	errors = load_text_printing(
		"{\"listeners\": [{\"port\": 0, \"tls\": {\"certificates\": ["
		"{\"cert\": \"a.pem\", \"key\": \"a.key\", \"server_names\": [\"a..b\", \"*.*.c\", \"-a.b\", 7]}],"
		"\"min_version\": \"1.1\", \"client_certificates\": {\"mode\": \"sometimes\", \"depth\": 11}}}],"
		"\"routes\": [{\"action\": {\"proxy\": {\"upstream\": \"u\", \"forward_client_cert\": \"x cert\"}}}],"
		"\"upstreams\": {\"u\": {\"endpoints\": [\"127.0.0.1:1\"]}}}",
		&config);
	assert_null(config);
	assert_int_equal(tls_checks, 0);
	assert_non_null(strstr(errors, "/listeners/0/tls/certificates/0/server_names/0: must be a DNS name"));
	assert_non_null(strstr(errors, "/listeners/0/tls/certificates/0/server_names/1: must be a DNS name"));
	assert_non_null(strstr(errors, "/listeners/0/tls/certificates/0/server_names/2: must be a DNS name"));
	assert_non_null(
		strstr(errors, "/listeners/0/tls/certificates/0/server_names/3: expected a string, not an integer"));
	assert_non_null(strstr(errors, "/listeners/0/tls/min_version: "));
	assert_non_null(strstr(errors, "/listeners/0/tls/client_certificates/mode: "));
	assert_non_null(strstr(errors, "/listeners/0/tls/client_certificates: missing required key \"ca\""));
	assert_non_null(strstr(errors, "/listeners/0/tls/client_certificates/depth: must be from 1 to 10, not 11"));
	assert_non_null(strstr(errors, "/routes/0/action/proxy/forward_client_cert: must be an HTTP token"));
	free(errors);
	errors = load_text_printing(
		"{\"listeners\": [{\"port\": 0, \"tls\": {\"certificates\": ["
		"{\"cert\": \"a.pem\", \"key\": \"refused.key\"}]}},"
		"{\"port\": 0, \"tls\": {}}], \"routes\": [{\"action\": {\"respond\": {\"status\": 204}}}]}",
		&config);
	assert_null(config);
	assert_int_equal(tls_checks, 1);
	assert_non_null(strstr(errors, "t.json:1:78: /listeners/0/tls/certificates/0/key: refused\n"));
	assert_non_null(strstr(errors, "/listeners/1/tls: missing required key \"certificates\""));
	free(errors);
	gw_config_set_tls_check(NULL);
}

static void test_whole_reals_count_as_integers(void **state)
{
	struct gw_config *config;
	char *errors =
		load_text_printing("{ \"listeners\": [ { \"port\": 8080.0, \"kernels\": 2e0 } ],"
				   "  \"http\": { \"max_body_bytes\": 1.5e3 },"
				   "  \"routes\": [ { \"action\": { \"redirect\": { \"status\": 307.0, \"location\": "
				   "\"/\" } } } ] }",
				   &config);

	(void)state;
	assert_string_equal(errors, "");
	assert_int_equal(config->listeners_ptr[0].port, 8080);
	assert_int_equal(config->listeners_ptr[0].kernels, 2);
	assert_true(config->http.limits.max_body_bytes == 1500);
	assert_int_equal(config->routes_ptr[0].action.redirect.status, 307);
	gw_config_free(config);
	free(errors);
	errors = load_text_printing(
		"{ \"listeners\": [ { \"port\": 80.5 } ], \"routes\": [ { \"action\": { \"redirect\": "
		"{ \"status\": 301.5, \"location\": \"/\" } } } ] }",
		NULL);
	assert_string_equal(errors,
			    "t.json:1:28: /listeners/0/port: expected an integer from 0 to 65535, not a real "
			    "number\n"
			    "t.json:1:88: /routes/0/action/redirect/status: must be one of 301, 302, 303, 307, 308, "
			    "not 301.5\n");
	free(errors);
}

/* "upgrades" takes protocol names (tokens), "connect" a boolean, each
 * refused at its place. */
static void test_upgrades_and_connect_are_checked(void **state)
{
	char *errors = load_text_printing(
		"{ \"listeners\": [ { \"port\": 80 } ], \"upstreams\": { \"a\": { \"endpoints\": [\"127.0.0.1:1\"] } },"
		" \"routes\": [ { \"action\": { \"proxy\": { \"upstream\": \"a\", \"upgrades\": [\"web socket\", 1], "
		"\"connect\": \"yes\" } } } ] }",
		NULL);

	(void)state;
	assert_non_null(strstr(errors, "/routes/0/action/proxy/upgrades/0: must be an HTTP token"));
	assert_non_null(strstr(errors, "/routes/0/action/proxy/upgrades/1: expected a string, not an integer"));
	assert_non_null(strstr(errors, "/routes/0/action/proxy/connect: expected"));
	free(errors);
}

/* A continue route needs a route after it, and filters that act on the
 * request head only; "values" names tokens and takes a text or
 * {"present"}. */
static void test_continue_routes_are_checked(void **state)
{
	char *errors;

	errors = load_text_printing(
		"{ \"listeners\": [ { \"port\": 80 } ],"
		" \"routes\": [ { \"filters\": [ { \"type\": \"request_id\" }, { \"type\": \"headers\" } ], "
		"\"action\": { \"continue\": {} } },"
		" { \"match\": { \"values\": { \"a b\": \"x\", \"c\": 1, \"d\": { \"there\": true } } }, "
		"\"action\": { \"respond\": { \"status\": 200 } } },"
		" { \"action\": { \"continue\": { \"x\": 1 } } } ] }",
		NULL);

	(void)state;
	assert_non_null(strstr(errors, "/routes/0/filters/1: a continue route's filters act on the request head only"));
	assert_null(strstr(errors, "/routes/0/filters/0:"));
	assert_non_null(strstr(errors, "/routes/1/match/values/a b: a value's name is a token"));
	assert_non_null(strstr(errors, "/routes/1/match/values/c: a string to equal"));
	assert_non_null(strstr(errors, "/routes/1/match/values/d/there: unknown key"));
	assert_non_null(strstr(errors, "/routes/2/action/continue/x: unknown key"));
	assert_non_null(strstr(errors, "/routes/2/action: continue: no route follows to answer"));
	free(errors);
}

static void test_snapshot_lives_in_its_sealed_arena(void **state)
{
	struct gw_config *config;
	char *errors = load_file_printing(FIXTURES "good_full.json", &config);
	const struct gw_route *route_ptr = &config->routes_ptr[0];

	(void)state;
	assert_string_equal(errors, "");
	assert_true(gw_arena_is_sealed(config->arena_ptr));
	assert_true(gw_arena_contains(config->arena_ptr, config, sizeof(*config)));
	assert_true(gw_arena_contains(config->arena_ptr, config->routes_ptr, sizeof(*config->routes_ptr) * 5));
	assert_true(gw_arena_contains(config->arena_ptr, route_ptr->name, strlen(route_ptr->name) + 1));
	assert_true(gw_arena_contains(config->arena_ptr, route_ptr->matchers_ptr, sizeof(*route_ptr->matchers_ptr)));
	/* Filter blobs are compiled into the same arena. */
	assert_true(gw_arena_contains(config->arena_ptr, route_ptr->filters_ptr[0].compiled_ptr,
				      sizeof(struct fake_request_id)));
	assert_true(gw_arena_contains(config->arena_ptr, config->upstreams_ptr[0].endpoints_ptr[2].host, 1));
	gw_config_free(config);
	free(errors);
}

static void test_writing_to_a_snapshot_faults(void **state)
{
	struct gw_config *config;
	char *errors = load_file_printing(EXAMPLES "minimal.json", &config);
	int status;
	pid_t pid;

	(void)state;
	assert_string_equal(errors, "");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = {0, 0};

		setrlimit(RLIMIT_CORE, &no_core);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		((volatile struct gw_config *)config)->route_count = 0;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	gw_config_free(config);
	free(errors);
}

static void test_loads_append_to_one_diag(void **state)
{
	struct gw_diag *diag = gw_diag_create();
	const char *broken = "{ \"listeners\": [] }";

	(void)state;
	assert_null(gw_config_load_buffer(broken, strlen(broken), diag));
	assert_int_equal(gw_diag_count(diag), 2);
	assert_null(gw_config_load_buffer(broken, strlen(broken), diag));
	assert_int_equal(gw_diag_count(diag), 4);
	assert_string_equal(gw_diag_problem(diag, 2)->pointer, "/listeners");
	assert_string_equal(gw_diag_problem(diag, 2)->message, "must not be empty");
	assert_int_equal(gw_diag_problem(diag, 2)->column, 16);
	assert_string_equal(gw_diag_problem(diag, 3)->message, "missing required key \"routes\"");
	gw_diag_destroy(diag);
	gw_config_free(NULL);
}

static void test_filter_registry_keeps_types_by_name(void **state)
{
	static const struct gw_filter_type again = {.name = "headers", .compile = compile_headers};
	static const struct gw_filter_type nameless = {.name = "", .compile = compile_headers};
	static const struct gw_filter_type no_compile = {.name = "no_compile", .compile = NULL};
	const char *const *names = gw_filter_type_names();

	(void)state;
	assert_ptr_equal(gw_filter_type_find("headers"), &headers_type);
	assert_ptr_equal(gw_filter_type_find("request_id"), &request_id_type);
	assert_null(gw_filter_type_find("Headers"));
	assert_null(gw_filter_type_find("gzip"));
	/* Sorted, whatever the order of registration. */
	assert_string_equal(names[0], "headers");
	assert_string_equal(names[1], "refuses");
	assert_string_equal(names[2], "request_id");
	assert_null(names[3]);
	errno = 0;
	assert_int_equal(gw_filter_type_register(&again), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(gw_filter_type_register(&nameless), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(gw_filter_type_register(&no_compile), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(gw_filter_type_register(NULL), -1);
	assert_null(gw_filter_type_names()[3]);
}

/* One broken fixture and everything the loader must say about it. */
struct bad_case {
	const char *file;
	const char *expected;
};

static const struct bad_case bad_cases[] = {
	{"bad_crlf.json",
	 "tests/config/bad_crlf.json:4:42: /routes/0/action/respond/status: must be from 100 to 599, not 600\n"
	 "tests/config/bad_crlf.json:4:47: /routes/0/action/respond/bdy: unknown key \"bdy\"; allowed keys: status, "
	 "body, headers\n"},
	{"bad_cross_checks.json",
	 "tests/config/bad_cross_checks.json:4:15: /listeners/1/name: name \"a\" is already used by /listeners/0\n"
	 "tests/config/bad_cross_checks.json:4:50: /listeners/1/port: 0.0.0.0:8080 is already used by /listeners/0\n"
	 "tests/config/bad_cross_checks.json:6:22: /admin/port: 127.0.0.1:8080 is already used by /listeners/0\n"
	 "tests/config/bad_cross_checks.json:9:42: /routes/0/action/proxy/upstream: unknown upstream \"nowhere\"; no "
	 "upstreams are defined\n"
	 "tests/config/bad_cross_checks.json:9:53: /routes/0/action/proxy/prefix_rewrite: needs a \"prefix\" path "
	 "match, not \"exact\"\n"
	 "tests/config/bad_cross_checks.json:10:15: /routes/1/name: name \"r\" is already used by /routes/0\n"
	 "tests/config/bad_cross_checks.json:10:68: /routes/1/action/respond/body: must be empty: a 204 response has "
	 "no body\n"},
	{"bad_admin_token.json",
	 "tests/config/bad_admin_token.json:3:37: /admin/token: a token is 16 to 256 visible ASCII characters (no "
	 "spaces)\n"},
	{"bad_duplicate_key.json",
	 "tests/config/bad_duplicate_key.json:4:12: /listeners/0/port: duplicate object key near '\"port\"'\n"},
	{"bad_client_certificate.json",
	 "tests/config/bad_client_certificate.json:4:52: /routes/0/match/client_certificate/sha256: must be a SHA-256 "
	 "in hex (64 digits), not \"abc\"\n"
	 "tests/config/bad_client_certificate.json:5:53: /routes/1/match/client_certificate/present: false matches "
	 "requests without a certificate: it takes no other key\n"
	 "tests/config/bad_client_certificate.json:6:40: /routes/2/match/client_certificate: names nothing to match: "
	 "\"present\", \"subject\", \"name\" or \"sha256\"\n"},
	{"bad_empty.json", "tests/config/bad_empty.json:1:1: '[' or '{' expected near end of file\n"},
	{"bad_endpoint.json",
	 "tests/config/bad_endpoint.json:6:9: /upstreams/api/endpoints/0: \"backend.internal\" has no port; expected "
	 "\"host:port\"\n"
	 "tests/config/bad_endpoint.json:7:9: /upstreams/api/endpoints/1: \"::1:8080\": an IPv6 address must be in "
	 "brackets, like \"[::1]:8080\"\n"
	 "tests/config/bad_endpoint.json:8:9: /upstreams/api/endpoints/2: \"[::1]:0\": the port must be from 1 to "
	 "65535\n"
	 "tests/config/bad_endpoint.json:9:9: /upstreams/api/endpoints/3: \"[::g]:80\": the host must be an IPv4 "
	 "address, an IPv6 address in brackets or a DNS name\n"
	 "tests/config/bad_endpoint.json:10:9: /upstreams/api/endpoints/4: \"300.1.1.1:80\": the host must be an IPv4 "
	 "address, an IPv6 address in brackets or a DNS name\n"
	 "tests/config/bad_endpoint.json:11:22: /upstreams/api/endpoints/5/address: \"-bad-.example:80\": the host "
	 "must be an IPv4 address, an IPv6 address in brackets or a DNS name\n"
	 "tests/config/bad_endpoint.json:12:9: /upstreams/api/endpoints/6: expected a string \"host:port\" or an "
	 "object, not an integer\n"},
	{"bad_enum.json", "tests/config/bad_enum.json:6:30: /upstreams/api/balance/policy: must be one of "
			  "\"round_robin\", \"least_request\", \"hash\", not \"random\"\n"
			  "tests/config/bad_enum.json:6:58: /upstreams/api/balance/hash_algorithm: expected one of "
			  "\"ring\", \"maglev\", not an integer\n"
			  "tests/config/bad_enum.json:9:53: /routes/0/action/redirect/status: must be one of 301, 302, "
			  "303, 307, 308, not 300\n"},
	{"bad_filter_config.json",
	 "tests/config/bad_filter_config.json:5:33: /routes/0/filters/0/hedaer: unknown key \"hedaer\"; allowed keys: "
	 "type, header\n"
	 "tests/config/bad_filter_config.json:6:42: /routes/0/filters/1/response: expected an object\n"
	 "tests/config/bad_filter_config.json:7:9: /routes/0/filters/2: filter \"refuses\" refused this "
	 "configuration\n"},
	{"bad_hash_without_hash_on.json",
	 "tests/config/bad_hash_without_hash_on.json:4:53: /upstreams/a/balance: missing required key \"hash_on\" "
	 "(policy \"hash\" needs it)\n"
	 "tests/config/bad_hash_without_hash_on.json:5:55: /upstreams/b/balance/hash_on: \"hash_on\" is only allowed "
	 "with policy \"hash\"\n"
	 "tests/config/bad_hash_without_hash_on.json:7:73: /upstreams/c/balance/hash_on/client_address: "
	 "\"client_address\" cannot be used together with \"cookie\"\n"},
	{"bad_missing_required.json",
	 "tests/config/bad_missing_required.json:1:1: missing required key \"routes\"\n"
	 "tests/config/bad_missing_required.json:3:5: /listeners/0: missing required key \"port\"\n"
	 "tests/config/bad_missing_required.json:5:12: /admin: missing required key \"port\"\n"
	 "tests/config/bad_missing_required.json:6:25: /upstreams/api: missing required key \"endpoints\"\n"},
	{"bad_not_object.json", "tests/config/bad_not_object.json:1:1: expected an object, not an array\n"},
	{"bad_out_of_range.json",
	 "tests/config/bad_out_of_range.json:2:28: /listeners/0/port: must be from 0 to 65535, not 65536\n"
	 "tests/config/bad_out_of_range.json:2:46: /listeners/0/kernels: must be from 0 to 256, not -1\n"
	 "tests/config/bad_out_of_range.json:3:31: /http/max_head_bytes: must be from 1024 to 1048576, not 512\n"
	 "tests/config/bad_out_of_range.json:3:54: /http/max_body_bytes: must be from 0 to 9007199254740991, not "
	 "1e+300\n"
	 "tests/config/bad_out_of_range.json:4:30: /timeouts/header_ms: must be from 1 to 3600000, not 0\n"
	 "tests/config/bad_out_of_range.json:7:60: /upstreams/api/endpoints/0/weight: must be from 1 to 1000, not "
	 "1001\n"
	 "tests/config/bad_out_of_range.json:8:54: /upstreams/api/outlier_detection/max_ejection_percent: must be from "
	 "0 to 100, not 101\n"
	 "tests/config/bad_out_of_range.json:8:90: /upstreams/api/retry_budget/percent: must be from 0 to 1000, not "
	 "1001\n"
	 "tests/config/bad_out_of_range.json:9:52: /upstreams/api/health_check/expected_statuses/1: must be from 100 "
	 "to 599, not 600\n"
	 "tests/config/bad_out_of_range.json:12:52: /routes/0/action/respond/status: must be from 100 to 599, not "
	 "99\n"
	 "tests/config/bad_out_of_range.json:13:73: /routes/1/action/proxy/timeout_ms: must be from 0 to 3600000, not "
	 "-1\n"
	 "tests/config/bad_out_of_range.json:13:108: /routes/1/action/proxy/deadline/client_max_ms: must be from 0 to "
	 "3600000, not 3600001\n"},
	{"bad_regex.json", "tests/config/bad_regex.json:4:37: /routes/0/match/path/regex: invalid regular expression: "
			   "Unmatched ( or \\(\n"},
	{"bad_strings.json",
	 "tests/config/bad_strings.json:2:28: /listeners/0/name: must be 1 to 64 letters, digits, '_', '.' or '-', "
	 "starting with a letter or digit, not \"my listener\"\n"
	 "tests/config/bad_strings.json:2:54: /listeners/0/address: must be an IPv4 address like \"127.0.0.1\", not "
	 "\"localhost\"\n"
	 "tests/config/bad_strings.json:5:17: /routes/0/match/host: must be a host name like \"api.example.com\" or "
	 "\"*.example.com\", not \"*.bad_host.com\"\n"
	 "tests/config/bad_strings.json:6:29: /routes/0/match/path/prefix: must start with \"/\" and hold only visible "
	 "ASCII other than '?' and '#', not \"api\"\n"
	 "tests/config/bad_strings.json:7:20: /routes/0/match/methods: must not be empty\n"
	 "tests/config/bad_strings.json:8:32: /routes/0/match/headers/0/name: must be an HTTP token (letters, digits "
	 "and !#$%&'*+-.^_`|~), not \"X Y\"\n"
	 "tests/config/bad_strings.json:8:48: /routes/0/match/headers/0/exact: must not contain control characters, "
	 "not \"a\\u0001b\"\n"
	 "tests/config/bad_strings.json:8:62: /routes/0/match/headers/1: must have one of \"exact\", \"present\"\n"
	 "tests/config/bad_strings.json:10:45: /routes/0/action/redirect/location: must be a URI: visible ASCII, no "
	 "spaces, not \"has space\"\n"},
	{"bad_syntax.json", "tests/config/bad_syntax.json:3:21: /listeners/0: string or '}' expected near '}'\n"},
	{"bad_two_path_kinds.json", "tests/config/bad_two_path_kinds.json:4:43: /routes/0/match/path/prefix: "
				    "\"prefix\" cannot be used together with \"exact\"\n"
				    "tests/config/bad_two_path_kinds.json:4:59: /routes/0/match/path/regex: \"regex\" "
				    "cannot be used together with \"exact\"\n"
				    "tests/config/bad_two_path_kinds.json:6:26: /routes/1/match/path: must have one of "
				    "\"exact\", \"prefix\", \"regex\"\n"},
	{"bad_unicode.json", "tests/config/bad_unicode.json:2:28: /listeners/0/name: must be 1 to 64 letters, digits, "
			     "'_', '.' or '-', starting with a letter or digit, not \"écoute\"\n"
			     "tests/config/bad_unicode.json:3:89: /routes/0/action/respond/headers/x-€: header name "
			     "must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~), not \"x-€\"\n"},
	{"bad_unknown_filter.json",
	 "tests/config/bad_unknown_filter.json:4:30: /routes/0/filters/0/type: unknown filter type \"rate_limit\"; "
	 "known types: headers, refuses, request_id\n"
	 "tests/config/bad_unknown_filter.json:4:46: /routes/0/filters/1: missing required key \"type\"\n"
	 "tests/config/bad_unknown_filter.json:4:63: /routes/0/filters/2: expected an object, not a string\n"},
	{"bad_unknown_key.json", "tests/config/bad_unknown_key.json:3:31: /listeners/0/prot: unknown key \"prot\"; "
				 "allowed keys: name, address, port, kernels, isolation, tls, proxy_protocol\n"
				 "tests/config/bad_unknown_key.json:6:51: /routes/0/filter: unknown key \"filter\"; "
				 "allowed keys: name, match, filters, action\n"},
	{"bad_unknown_upstream.json", "tests/config/bad_unknown_upstream.json:8:42: /routes/0/action/proxy/upstream: "
				      "unknown upstream \"apu\"; defined upstreams: api, web\n"},
	{"bad_wrong_type.json",
	 "tests/config/bad_wrong_type.json:2:28: /listeners/0/port: expected an integer from 0 to 65535, not a string\n"
	 "tests/config/bad_wrong_type.json:2:49: /listeners/0/isolation: must be one of \"off\", \"filters\", "
	 "\"always\", not \"no\"\n"
	 "tests/config/bad_wrong_type.json:3:20: /http/via: expected a string, not an integer\n"
	 "tests/config/bad_wrong_type.json:3:38: /http/max_headers: expected an integer from 1 to 1000, not a real "
	 "number\n"
	 "tests/config/bad_wrong_type.json:4:30: /access_log/enabled: expected a boolean, not a string\n"
	 "tests/config/bad_wrong_type.json:5:13: /routes: expected an array, not an object\n"},
};

static void test_bad_fixture_prints_exactly_its_problems(void **state)
{
	const struct bad_case *case_ptr = *state;
	char path[256];
	char *errors;

	snprintf(path, sizeof(path), FIXTURES "%s", case_ptr->file);
	errors = load_file_printing(path, NULL);
	assert_string_equal(errors, case_ptr->expected);
	free(errors);
}

int main(void)
{
	const struct CMUnitTest fixed_tests[] = {
		cmocka_unit_test(test_minimal_example_loads_with_defaults),
		cmocka_unit_test(test_default_example_loads_with_its_filters),
		cmocka_unit_test(test_every_key_reaches_the_snapshot),
		cmocka_unit_test(test_too_many_problems_end_with_a_note),
		cmocka_unit_test(test_problems_leave_the_loader_with_positions),
		cmocka_unit_test(test_printing_sorts_by_position_and_uses_pos_when_given),
		cmocka_unit_test(test_missing_file_is_reported_without_position),
		cmocka_unit_test(test_whole_reals_count_as_integers),
		cmocka_unit_test(test_upgrades_and_connect_are_checked),
		cmocka_unit_test(test_continue_routes_are_checked),
		cmocka_unit_test(test_snapshot_lives_in_its_sealed_arena),
		cmocka_unit_test(test_writing_to_a_snapshot_faults),
		cmocka_unit_test(test_loads_append_to_one_diag),
		cmocka_unit_test(test_filter_registry_keeps_types_by_name),
		cmocka_unit_test(test_listener_tls_reaches_the_snapshot),
	};
	size_t fixed_count = sizeof(fixed_tests) / sizeof(fixed_tests[0]);
	size_t bad_count = sizeof(bad_cases) / sizeof(bad_cases[0]);
	struct CMUnitTest
		tests[sizeof(fixed_tests) / sizeof(fixed_tests[0]) + sizeof(bad_cases) / sizeof(bad_cases[0])];

	memcpy(tests, fixed_tests, sizeof(fixed_tests));
	for (size_t i = 0; i < bad_count; i++)
		tests[fixed_count + i] = (struct CMUnitTest){
			.name = bad_cases[i].file,
			.test_func = test_bad_fixture_prints_exactly_its_problems,
			.initial_state = (void *)&bad_cases[i],
		};
	return _cmocka_run_group_tests("test_gw_config", tests, fixed_count + bad_count, register_fake_filters, NULL);
}
