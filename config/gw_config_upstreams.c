/* gw_config_upstreams: the "upstreams" section. Each named upstream becomes
 * one entry of the snapshot's upstream array (routes refer to it by index)
 * with its endpoints parsed into addresses, and every optional part filled
 * with its defaults. */
#include "gw_config_s.h"
#include "gw_config_load.h"
#include "gw_config_syntax.h"
#include "gw_arena.h"
#include "gw_diag.h"

#include <arpa/inet.h>
#include <string.h>

#define TIMEOUT_MS_MAX 3600000
#define RESOLVE_INTERVAL_MS_MIN 1000
#define RESOLVE_INTERVAL_MS_MAX 86400000
#define WEIGHT_MAX 1000
#define THRESHOLD_MAX 1000
#define LIMIT_MAX 1000000
#define RETRIES_PER_SECOND_MAX 100000
#define IDLE_PER_KERNEL_MAX 100000
#define STATUS_MIN 100
#define STATUS_MAX 599

static const int default_expected_statuses[] = {200};

/* Indexes in the "policy" and "hash_algorithm" name lists. */
enum { POLICY_ROUND_ROBIN, POLICY_LEAST_REQUEST, POLICY_HASH };
enum { ALGORITHM_RING, ALGORITHM_MAGLEV };

/* An optional sub-object: checked for unknown keys, NULL when absent or
 * unusable (its reads then give defaults). */
static const json_t *read_part(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			       const char *key, const char *const *keys_ptr, const char **pointer_ptr)
{
	const json_t *part_ptr;

	*pointer_ptr = gw_json_member_pointer(&loader_ptr->check, pointer, key);
	if (gw_json_read_object(&loader_ptr->check, json_ptr, pointer, key, &part_ptr) == -1 || !part_ptr)
		return NULL;
	gw_json_check_object(&loader_ptr->check, part_ptr, *pointer_ptr, keys_ptr);
	return part_ptr;
}

static void report_endpoint(struct gw_config_loader *loader_ptr, const char *pointer, const char *address,
			    enum gw_syntax_endpoint_result syntax)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *quoted = gw_json_quote(check_ptr, address);

	switch (syntax) {
	case GW_SYNTAX_ENDPOINT_OK:
		break;
	case GW_SYNTAX_ENDPOINT_NO_PORT:
		gw_diag_error(check_ptr->diag_ptr, pointer, "%s has no port; expected \"host:port\"", quoted);
		break;
	case GW_SYNTAX_ENDPOINT_BAD_PORT:
		gw_diag_error(check_ptr->diag_ptr, pointer, "%s: the port must be from 1 to 65535", quoted);
		break;
	case GW_SYNTAX_ENDPOINT_BAD_HOST:
		gw_diag_error(check_ptr->diag_ptr, pointer,
			      "%s: the host must be an IPv4 address, an IPv6 address in brackets or a DNS name",
			      quoted);
		break;
	case GW_SYNTAX_ENDPOINT_BARE_IPV6:
		gw_diag_error(check_ptr->diag_ptr, pointer,
			      "%s: an IPv6 address must be in brackets, like \"[::1]:8080\"", quoted);
		break;
	}
}

static void load_endpoint(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			  struct gw_config_endpoint *endpoint_ptr)
{
	static const char *const keys[] = {"address", "weight", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *address = NULL;
	const char *address_pointer = pointer;
	struct gw_syntax_endpoint parts;
	enum gw_syntax_endpoint_result syntax;

	endpoint_ptr->weight = 1;
	if (json_is_string(json_ptr)) {
		address = gw_config_strdup(loader_ptr, json_string_value(json_ptr));
	} else if (json_is_object(json_ptr)) {
		gw_json_check_object(check_ptr, json_ptr, pointer, keys);
		gw_json_check_required(check_ptr, json_ptr, pointer, "address");
		gw_json_read_string(check_ptr, json_ptr, pointer, "address", NULL, &address);
		gw_json_read_int_field(check_ptr, json_ptr, pointer, "weight", 1, WEIGHT_MAX, 1, &endpoint_ptr->weight);
		address_pointer = gw_json_member_pointer(check_ptr, pointer, "address");
	} else {
		gw_diag_error(check_ptr->diag_ptr, pointer, "expected a string \"host:port\" or an object, not %s",
			      gw_json_type_name(json_ptr));
		return;
	}
	if (!address)
		return;
	syntax = gw_syntax_parse_endpoint(address, &parts);
	if (syntax != GW_SYNTAX_ENDPOINT_OK) {
		report_endpoint(loader_ptr, address_pointer, address, syntax);
		return;
	}
	endpoint_ptr->address = address;
	endpoint_ptr->host = gw_config_strdup(loader_ptr, parts.host);
	endpoint_ptr->port = parts.port;
	if (parts.is_ipv4) {
		endpoint_ptr->kind = GW_CONFIG_ENDPOINT_IPV4;
		endpoint_ptr->sockaddr.in4.sin_family = AF_INET;
		endpoint_ptr->sockaddr.in4.sin_port = htons((uint16_t)parts.port);
		endpoint_ptr->sockaddr.in4.sin_addr = parts.in4;
	} else if (parts.is_ipv6) {
		endpoint_ptr->kind = GW_CONFIG_ENDPOINT_IPV6;
		endpoint_ptr->sockaddr.in6.sin6_family = AF_INET6;
		endpoint_ptr->sockaddr.in6.sin6_port = htons((uint16_t)parts.port);
		endpoint_ptr->sockaddr.in6.sin6_addr = parts.in6;
	} else {
		endpoint_ptr->kind = GW_CONFIG_ENDPOINT_DNS;
	}
}

static void load_endpoints(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			   struct gw_config_upstream *upstream_ptr)
{
	const json_t *endpoints_json_ptr;
	const char *endpoints_pointer = gw_json_member_pointer(&loader_ptr->check, pointer, "endpoints");
	struct gw_config_endpoint *endpoints_ptr;
	size_t count;

	gw_json_check_required(&loader_ptr->check, json_ptr, pointer, "endpoints");
	if (gw_json_read_array(&loader_ptr->check, json_ptr, pointer, "endpoints", 1, &endpoints_json_ptr) == -1 ||
	    !endpoints_json_ptr)
		return;
	count = json_array_size(endpoints_json_ptr);
	endpoints_ptr = gw_config_alloc(loader_ptr, sizeof(*endpoints_ptr) * count);
	if (!endpoints_ptr)
		return;
	for (size_t i = 0; i < count; i++)
		load_endpoint(loader_ptr, json_array_get(endpoints_json_ptr, i),
			      gw_json_index_pointer(&loader_ptr->check, endpoints_pointer, i), &endpoints_ptr[i]);
	upstream_ptr->endpoints_ptr = endpoints_ptr;
	upstream_ptr->endpoint_count = (int)count;
}

static int is_true(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer)
{
	if (json_is_true(json_ptr))
		return 1;
	if (json_is_false(json_ptr))
		gw_diag_error(loader_ptr->check.diag_ptr, pointer,
			      "must be true (leave \"client_address\" out instead)");
	else
		gw_diag_error(loader_ptr->check.diag_ptr, pointer, "expected true, not %s",
			      gw_json_type_name(json_ptr));
	return 0;
}

static void load_hash_on(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			 struct gw_config_balance *balance_ptr)
{
	static const char *const keys[] = {"header", "cookie", "client_address", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *name;

	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	switch (gw_json_check_one_of(check_ptr, json_ptr, pointer, keys)) {
	case 0:
		if (gw_config_read_syntax(loader_ptr, json_ptr, pointer, "header", NULL, gw_syntax_is_token,
					  GW_SYNTAX_TOKEN_RULE, &name) == 0) {
			balance_ptr->hash_on = GW_CONFIG_HASH_ON_HEADER;
			balance_ptr->hash_key = gw_config_lower_copy(loader_ptr, name);
		}
		break;
	case 1:
		if (gw_config_read_syntax(loader_ptr, json_ptr, pointer, "cookie", NULL, gw_syntax_is_token,
					  GW_SYNTAX_TOKEN_RULE, &name) == 0) {
			balance_ptr->hash_on = GW_CONFIG_HASH_ON_COOKIE;
			balance_ptr->hash_key = name;
		}
		break;
	case 2:
		if (is_true(loader_ptr, json_object_get(json_ptr, "client_address"),
			    gw_json_member_pointer(check_ptr, pointer, "client_address")))
			balance_ptr->hash_on = GW_CONFIG_HASH_ON_CLIENT_ADDRESS;
		break;
	}
}

/* "policy" and "hash_algorithm" together name one balancer policy. */
static enum gw_balance_policy balance_policy(int policy, int algorithm)
{
	static const enum gw_balance_policy plain[] = {GW_BALANCE_ROUND_ROBIN, GW_BALANCE_LEAST_REQUEST};

	if (policy == POLICY_HASH)
		return algorithm == ALGORITHM_RING ? GW_BALANCE_RING : GW_BALANCE_MAGLEV;
	return plain[policy];
}

static void load_balance(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			 struct gw_config_balance *balance_ptr)
{
	static const char *const keys[] = {"policy", "hash_on", "hash_algorithm", NULL};
	static const char *const policies[] = {"round_robin", "least_request", "hash", NULL};
	static const char *const algorithms[] = {"ring", "maglev", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *balance_pointer;
	const json_t *balance_json_ptr = read_part(loader_ptr, json_ptr, pointer, "balance", keys, &balance_pointer);
	const json_t *hash_on_ptr = json_object_get(balance_json_ptr, "hash_on");
	int policy, algorithm;

	balance_ptr->hash_on = GW_CONFIG_HASH_ON_NOTHING;
	if (gw_json_read_enum(check_ptr, balance_json_ptr, balance_pointer, "policy", policies, POLICY_ROUND_ROBIN,
			      &policy) == 0) {
		if (policy == POLICY_HASH && !hash_on_ptr)
			gw_diag_error(check_ptr->diag_ptr, balance_pointer,
				      "missing required key \"hash_on\" (policy \"hash\" needs it)");
		else if (policy != POLICY_HASH && hash_on_ptr)
			gw_diag_error_key(check_ptr->diag_ptr,
					  gw_json_member_pointer(check_ptr, balance_pointer, "hash_on"),
					  "\"hash_on\" is only allowed with policy \"hash\"");
		else if (hash_on_ptr)
			load_hash_on(loader_ptr, hash_on_ptr,
				     gw_json_member_pointer(check_ptr, balance_pointer, "hash_on"), balance_ptr);
	}
	gw_json_read_enum(check_ptr, balance_json_ptr, balance_pointer, "hash_algorithm", algorithms, ALGORITHM_MAGLEV,
			  &algorithm);
	balance_ptr->policy = balance_policy(policy, algorithm);
}

static void load_expected_statuses(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
				   struct gw_config_health_check *check_ptr)
{
	const json_t *statuses_json_ptr;
	const char *statuses_pointer = gw_json_member_pointer(&loader_ptr->check, pointer, "expected_statuses");
	int *statuses_ptr;
	size_t count;

	check_ptr->expected_statuses_ptr = default_expected_statuses;
	check_ptr->expected_status_count = 1;
	if (gw_json_read_array(&loader_ptr->check, json_ptr, pointer, "expected_statuses", 1, &statuses_json_ptr) ==
		    -1 ||
	    !statuses_json_ptr)
		return;
	count = json_array_size(statuses_json_ptr);
	statuses_ptr = gw_config_alloc(loader_ptr, sizeof(int) * count);
	if (!statuses_ptr)
		return;
	for (size_t i = 0; i < count; i++) {
		long long status = 0;

		gw_json_check_int(&loader_ptr->check, json_array_get(statuses_json_ptr, i),
				  gw_json_index_pointer(&loader_ptr->check, statuses_pointer, i), STATUS_MIN,
				  STATUS_MAX, &status);
		statuses_ptr[i] = (int)status;
	}
	check_ptr->expected_statuses_ptr = statuses_ptr;
	check_ptr->expected_status_count = (int)count;
}

static void load_health_check(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			      struct gw_config_health_check *health_ptr)
{
	static const char *const keys[] = {"method",
					   "path",
					   "expected_statuses",
					   "interval_ms",
					   "timeout_ms",
					   "healthy_threshold",
					   "unhealthy_threshold",
					   NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *part_pointer;
	const json_t *part_ptr = read_part(loader_ptr, json_ptr, pointer, "health_check", keys, &part_pointer);

	health_ptr->enabled = part_ptr != NULL;
	gw_config_read_syntax(loader_ptr, part_ptr, part_pointer, "method", "GET", gw_syntax_is_token,
			      GW_SYNTAX_TOKEN_RULE, &health_ptr->method);
	gw_config_read_syntax(loader_ptr, part_ptr, part_pointer, "path", "/", gw_syntax_is_target,
			      GW_SYNTAX_TARGET_RULE, &health_ptr->path);
	load_expected_statuses(loader_ptr, part_ptr, part_pointer, health_ptr);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "interval_ms", 1, TIMEOUT_MS_MAX, 5000,
			       &health_ptr->interval_ms);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "timeout_ms", 1, TIMEOUT_MS_MAX, 1000,
			       &health_ptr->timeout_ms);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "healthy_threshold", 1, THRESHOLD_MAX, 2,
			       &health_ptr->healthy_threshold);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "unhealthy_threshold", 1, THRESHOLD_MAX, 3,
			       &health_ptr->unhealthy_threshold);
}

static void load_outlier_detection(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
				   struct gw_config_outlier_detection *outlier_ptr)
{
	static const char *const keys[] = {"consecutive_5xx", "consecutive_connect_failures", "base_ejection_ms",
					   "max_ejection_percent", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *part_pointer;
	const json_t *part_ptr = read_part(loader_ptr, json_ptr, pointer, "outlier_detection", keys, &part_pointer);

	outlier_ptr->enabled = part_ptr != NULL;
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "consecutive_5xx", 0, THRESHOLD_MAX, 5,
			       &outlier_ptr->consecutive_5xx);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "consecutive_connect_failures", 0, THRESHOLD_MAX, 3,
			       &outlier_ptr->consecutive_connect_failures);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "base_ejection_ms", 1, TIMEOUT_MS_MAX, 30000,
			       &outlier_ptr->base_ejection_ms);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "max_ejection_percent", 0, 100, 50,
			       &outlier_ptr->max_ejection_percent);
}

static void load_limits(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			struct gw_config_upstream_limits *limits_ptr)
{
	static const char *const keys[] = {"max_connections", "max_pending", "max_requests", "max_idle_per_kernel",
					   NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *part_pointer;
	const json_t *part_ptr = read_part(loader_ptr, json_ptr, pointer, "limits", keys, &part_pointer);

	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "max_connections", 1, LIMIT_MAX, 1024,
			       &limits_ptr->breaker.max_connections);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "max_pending", 0, LIMIT_MAX, 1024,
			       &limits_ptr->breaker.max_pending);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "max_requests", 1, LIMIT_MAX, 1024,
			       &limits_ptr->breaker.max_requests);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "max_idle_per_kernel", 0, IDLE_PER_KERNEL_MAX, 1024,
			       &limits_ptr->max_idle_per_kernel);
}

static void load_upstream_timeouts(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
				   struct gw_config_upstream_timeouts *timeouts_ptr)
{
	static const char *const keys[] = {"connect_ms", "response_ms", "idle_ms", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *part_pointer;
	const json_t *part_ptr = read_part(loader_ptr, json_ptr, pointer, "timeouts", keys, &part_pointer);

	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "connect_ms", 1, TIMEOUT_MS_MAX, 1000,
			       &timeouts_ptr->connect_ms);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "response_ms", 1, TIMEOUT_MS_MAX, 15000,
			       &timeouts_ptr->response_ms);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "idle_ms", 1, TIMEOUT_MS_MAX, 60000,
			       &timeouts_ptr->idle_ms);
}

static void load_retry_budget(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			      struct gw_config_retry_budget *budget_ptr)
{
	static const char *const keys[] = {"enabled", "percent", "min_per_second", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *part_pointer;
	const json_t *part_ptr = read_part(loader_ptr, json_ptr, pointer, "retry_budget", keys, &part_pointer);

	gw_json_read_bool(check_ptr, part_ptr, part_pointer, "enabled", 1, &budget_ptr->enabled);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "percent", 0, 1000, 20, &budget_ptr->percent);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "min_per_second", 0, RETRIES_PER_SECOND_MAX, 10,
			       &budget_ptr->min_per_second);
}

static void fill_health_policy(struct gw_config_upstream *upstream_ptr)
{
	const struct gw_config_health_check *check_ptr = &upstream_ptr->health_check;
	const struct gw_config_outlier_detection *outlier_ptr = &upstream_ptr->outlier_detection;
	struct gw_health_policy *policy_ptr = &upstream_ptr->health_policy;

	policy_ptr->healthy_threshold = check_ptr->healthy_threshold;
	policy_ptr->unhealthy_threshold = check_ptr->unhealthy_threshold;
	policy_ptr->consecutive_5xx = outlier_ptr->enabled ? outlier_ptr->consecutive_5xx : 0;
	policy_ptr->consecutive_connect_failures = outlier_ptr->enabled ? outlier_ptr->consecutive_connect_failures : 0;
	policy_ptr->base_ejection_ns = (uint64_t)outlier_ptr->base_ejection_ms * 1000000u;
	policy_ptr->max_ejection_percent = outlier_ptr->max_ejection_percent;
}

static void load_upstream(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			  struct gw_config_upstream *upstream_ptr)
{
	static const char *const keys[] = {"endpoints",		"resolve_interval_ms",
					   "balance",		"health_check",
					   "outlier_detection", "limits",
					   "timeouts",		"tls",
					   "retry_budget",	NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const json_t *tls_json_ptr = NULL;

	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	load_endpoints(loader_ptr, json_ptr, pointer, upstream_ptr);
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "resolve_interval_ms", RESOLVE_INTERVAL_MS_MIN,
			       RESOLVE_INTERVAL_MS_MAX, 30000, &upstream_ptr->resolve_interval_ms);
	load_balance(loader_ptr, json_ptr, pointer, &upstream_ptr->balance);
	load_health_check(loader_ptr, json_ptr, pointer, &upstream_ptr->health_check);
	load_outlier_detection(loader_ptr, json_ptr, pointer, &upstream_ptr->outlier_detection);
	load_limits(loader_ptr, json_ptr, pointer, &upstream_ptr->limits);
	load_upstream_timeouts(loader_ptr, json_ptr, pointer, &upstream_ptr->timeouts);
	load_retry_budget(loader_ptr, json_ptr, pointer, &upstream_ptr->retry_budget);
	if (gw_json_read_object(check_ptr, json_ptr, pointer, "tls", &tls_json_ptr) == 0)
		gw_config_load_upstream_tls(loader_ptr, tls_json_ptr, gw_json_member_pointer(check_ptr, pointer, "tls"),
					    &upstream_ptr->tls);
	fill_health_policy(upstream_ptr);
}

void gw_config_load_upstreams(struct gw_config_loader *loader_ptr, const json_t *upstreams_json_ptr,
			      const char *pointer)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	size_t count = json_object_size(upstreams_json_ptr);
	struct gw_config_upstream *upstreams_ptr =
		gw_config_alloc(loader_ptr, sizeof(*upstreams_ptr) * (count ? count : 1));
	int index = 0;

	if (!upstreams_ptr)
		return;
	for (void *iter_ptr = json_object_iter((json_t *)upstreams_json_ptr); iter_ptr;
	     iter_ptr = json_object_iter_next((json_t *)upstreams_json_ptr, iter_ptr)) {
		const char *name = json_object_iter_key(iter_ptr);
		const json_t *upstream_json_ptr = json_object_iter_value(iter_ptr);
		const char *upstream_pointer = gw_json_member_pointer(check_ptr, pointer, name);
		struct gw_config_upstream *upstream_ptr = &upstreams_ptr[index];

		if (!gw_syntax_is_name(name))
			gw_diag_error_key(check_ptr->diag_ptr, upstream_pointer, "upstream name %s, not %s",
					  GW_SYNTAX_NAME_RULE, gw_json_quote(check_ptr, name));
		upstream_ptr->name = gw_config_strdup(loader_ptr, name);
		upstream_ptr->index = index++;
		load_upstream(loader_ptr, upstream_json_ptr, upstream_pointer, upstream_ptr);
	}
	loader_ptr->config_ptr->upstreams_ptr = upstreams_ptr;
	loader_ptr->config_ptr->upstream_count = index;
}
