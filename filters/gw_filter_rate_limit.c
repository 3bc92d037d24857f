/* gw_filter_rate_limit: requests per key, limited across every kernel of
 * the instance (filters/gw_rate_table.h).
 *
 *   {"type": "rate_limit",
 *    "rules": [ {"name": "per-consumer", "key": ["consumer"],
 *                "rate": 100, "period_seconds": 60, "burst": 20,
 *                "overrides": [ {"key": "alice", "rate": 1000, "burst": 100} ]},
 *               {"name": "per-net", "key": [ {"client_address": {"ipv4_prefix": 24, "ipv6_prefix": 64}} ],
 *                "rate": 10, "period_seconds": 1} ],
 *    "headers": "draft", "status": 429, "shadow": false}
 *
 * A rule's key is made of parts: "consumer" (the value an auth filter
 * set), {"value": NAME} (any request value, "jwt.tier" say),
 * {"header": NAME}, "client_address" or {"client_address": masks} (the
 * address, or its network), "route" (the route's name), {"constant":
 * TEXT}. A request lacking a part is not counted by that rule, unless its
 * "missing" is "limit" (then it counts under an empty part). Each rule
 * lets `rate` requests through per `period_seconds` with `burst` at once
 * (default: rate), per key; "overrides" give a key other numbers. Several
 * rules: the request passes only if every one lets it; what the rules
 * before a refusing one took is given back.
 *
 * Refused: `status` (429, or 503) in the JSON error shape with
 * Retry-After (seconds, rounded up). "headers": "draft" answers every
 * request with RateLimit-Policy and RateLimit (draft-ietf-httpapi-
 * ratelimit-headers-10: "NAME";q=RATE;w=PERIOD and "NAME";r=REMAINING;
 * t=RESET for each rule that counted the request), "legacy" with
 * X-RateLimit-Limit/-Remaining/-Reset of the rule nearest to its limit,
 * "both", or "none". "shadow": counts and logs what it would refuse, and
 * refuses nothing. */
#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filters.h"
#include "gw_rate_redis.h"
#include "gw_rate_table.h"
#include "gw_redis.h"

#include "vk_coro.h"
#include "vk_sys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RULES_MAX 8
#define PARTS_MAX 6
#define OVERRIDES_MAX 256
#define KEY_TEXT_MAX 1024
#define NS_PER_S 1000000000ull
#define FOLLOWERS_MAX 128

enum part_kind { PART_CONSUMER, PART_VALUE, PART_HEADER, PART_ADDRESS, PART_ROUTE, PART_CONSTANT };
enum headers_mode { HEADERS_NONE, HEADERS_DRAFT, HEADERS_LEGACY, HEADERS_BOTH };

struct key_part {
	enum part_kind kind;
	const char *name; /* value, header, constant */
	int ipv4_prefix;  /* addresses: bits kept */
	int ipv6_prefix;
};

struct limit {
	long long rate;
	long long burst;
	uint64_t interval_ns;
	/* Rule and numbers, hashed with each key: a reload that keeps them
	 * keeps the cells (the table outlives configurations); one that
	 * changes them starts afresh. */
	const char *identity;
	size_t identity_len;
	/* its RateLimit-Policy member, "NAME";q=RATE;w=PERIOD: the same for
	 * every request */
	const char *policy;
};

struct override {
	const char *key; /* the key's text: its parts joined by '|' */
	struct limit limit;
};

struct rule {
	const char *name;
	struct key_part parts[PARTS_MAX];
	int part_count;
	int count_missing;
	long long period_s;
	struct limit limit;
	struct override *overrides;
	int override_count;
};

enum on_error { ON_ERROR_ALLOW, ON_ERROR_DENY, ON_ERROR_LOCAL };

/* "mode": "redis": where the cells are, and what a request does when
 * Redis cannot say. */
struct redis_config {
	struct gw_redis_options options;
	uint64_t timeout_ns;
	enum on_error on_error;
	long long batch;
	uint64_t lease_ns;
};

struct rate_limit_config {
	struct rule rules[RULES_MAX];
	int rule_count;
	enum headers_mode headers;
	int status;
	int shadow;
	int redis_mode;
	struct redis_config redis;
};

/* Per kernel: each rule's counters in the shared table, found at the
 * rule's first request (the route's name is known then); in Redis mode
 * the kernel's client and leases. */
struct rate_limit_kernel {
	struct gw_rate_counter *counters[RULES_MAX];
	struct gw_redis *redis_ptr;
	struct gw_rate_lease *leases;
	uint64_t logged_ns; /* the last Redis failure logged */
	uint64_t unlogged;
	/* requests waiting for another's call on a key they share */
	uint64_t followers[FOLLOWERS_MAX];
	int follower_count;
};

/* Where a rule's admission came from, to give it back when a later rule
 * refuses the request. */
enum took_from { FROM_TABLE, FROM_LEASE, FROM_REDIS };

struct rule_key {
	uint8_t rule;
	uint8_t from;
	const struct limit *limit_ptr;
	uint8_t digest[GW_RATE_KEY_BYTES];
	uint64_t lease_until_ns; /* FROM_LEASE: which lease the token came from */
};

/* Per request: what each rule that counted it said, for the headers. */
struct rate_limit_request {
	int counted;
	struct {
		uint8_t rule;
		const struct limit *limit_ptr;
		uint64_t remaining;
		uint64_t reset_s;
	} seen[RULES_MAX];
	/* admissions so far, and the rules asked of Redis */
	int took_count;
	struct rule_key took[RULES_MAX];
	int asked_count;
	struct rule_key asked[RULES_MAX];
	int refused;
	uint64_t retry_ns;
	uint64_t now_ns;
	uint64_t asked_ns; /* the calls went to Redis */
	struct gw_redis_wait wait;
	int next_rule; /* where judging goes on after following */
	int no_follow; /* ask Redis even when a call for the key is in flight */
	int marked;    /* its calls marked their keys as being asked */
	uint64_t follow_until_ns;
	uint64_t follow_deadline_ns; /* following ends by then: the request asks itself */
	const char *why;	     /* why the calls could not go */
};

/* ---- configuration ---- */

static void read_address_part(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *at,
			      struct key_part *part_ptr)
{
	static const char *const allowed[] = {"ipv4_prefix", "ipv6_prefix", NULL};
	long long v4 = 32, v6 = 128;

	part_ptr->kind = PART_ADDRESS;
	if (json_is_object(json_ptr) && gw_filter_json_keys(fj_ptr, json_ptr, at, allowed) == 0) {
		gw_filter_json_int(fj_ptr, json_ptr, at, "ipv4_prefix", 0, 32, 32, &v4);
		gw_filter_json_int(fj_ptr, json_ptr, at, "ipv6_prefix", 0, 128, 128, &v6);
	}
	part_ptr->ipv4_prefix = (int)v4;
	part_ptr->ipv6_prefix = (int)v6;
}

/* One part of a key: a name, or an object of one member. */
static void read_part(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *at, struct key_part *part_ptr)
{
	const char *kind = json_string_value(json_ptr), *member;
	const json_t *value_ptr;
	char member_at[GW_FILTER_POINTER_MAX];

	if (kind) {
		if (strcmp(kind, "consumer") == 0)
			part_ptr->kind = PART_CONSUMER;
		else if (strcmp(kind, "route") == 0)
			part_ptr->kind = PART_ROUTE;
		else if (strcmp(kind, "client_address") == 0)
			read_address_part(fj_ptr, NULL, at, part_ptr);
		else
			gw_filter_json_fail(fj_ptr, at,
					    "\"consumer\", \"route\", \"client_address\", or an object: {\"value\"}, "
					    "{\"header\"}, {\"client_address\": {prefixes}}, {\"constant\"}");
		return;
	}
	if (!json_is_object(json_ptr) || json_object_size(json_ptr) != 1) {
		gw_filter_json_fail(fj_ptr, at, "a key part: a name, or an object of one member");
		return;
	}
	json_object_foreach((json_t *)json_ptr, member, value_ptr) {
		gw_filter_json_pointer(member_at, sizeof(member_at), at, member);
		if (strcmp(member, "client_address") == 0) {
			if (!json_is_object(value_ptr))
				gw_filter_json_fail(fj_ptr, member_at, "an object: {\"ipv4_prefix\", \"ipv6_prefix\"}");
			else
				read_address_part(fj_ptr, value_ptr, member_at, part_ptr);
			continue;
		}
		part_ptr->kind = strcmp(member, "value") == 0	 ? PART_VALUE
				 : strcmp(member, "header") == 0 ? PART_HEADER
								 : PART_CONSTANT;
		if (part_ptr->kind == PART_CONSTANT && strcmp(member, "constant") != 0) {
			gw_filter_json_fail(fj_ptr, member_at,
					    "a key part is one of value, header, client_address, constant");
			continue;
		}
		if (part_ptr->kind == PART_HEADER)
			gw_filter_json_header(fj_ptr, json_ptr, at, member, NULL, &part_ptr->name);
		else
			gw_filter_json_string(fj_ptr, json_ptr, at, member, NULL, &part_ptr->name);
		if (part_ptr->name && !part_ptr->name[0])
			gw_filter_json_fail(fj_ptr, member_at, "not empty");
	}
}

/* The numbers of a limit; `identity` is made from them and the rule. */
static void read_limit(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *at, long long period_s,
		       long long dflt_rate, struct limit *limit_ptr)
{
	char burst_at[GW_FILTER_POINTER_MAX];

	gw_filter_json_int(fj_ptr, json_ptr, at, "rate", 1, 1000000000, dflt_rate, &limit_ptr->rate);
	gw_filter_json_int(fj_ptr, json_ptr, at, "burst", 1, 1000000000, limit_ptr->rate, &limit_ptr->burst);
	limit_ptr->interval_ns = (uint64_t)period_s * NS_PER_S / (uint64_t)limit_ptr->rate;
	if (limit_ptr->interval_ns == 0)
		gw_filter_json_fail(fj_ptr, at, "rate / period_seconds above one per nanosecond");
	else if ((uint64_t)limit_ptr->burst > UINT64_MAX / 2 / limit_ptr->interval_ns)
		gw_filter_json_fail(fj_ptr, gw_filter_json_pointer(burst_at, sizeof(burst_at), at, "burst"),
				    "burst * period_seconds / rate too long");
}

static void limit_identity(struct gw_filter_json *fj_ptr, const struct rule *rule_ptr, struct limit *limit_ptr,
			   const char *override_key)
{
	char text[512];
	int n = snprintf(text, sizeof(text), "%s|%lld|%lld|%lld|%s", rule_ptr->name, rule_ptr->period_s,
			 limit_ptr->rate, limit_ptr->burst, override_key ? override_key : "");

	limit_ptr->identity_len = n < 0 ? 0 : (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1;
	limit_ptr->identity = gw_arena_strndup(fj_ptr->arena_ptr, text, limit_ptr->identity_len);
	n = snprintf(text, sizeof(text), "\"%s\";q=%lld;w=%lld", rule_ptr->name, limit_ptr->rate, rule_ptr->period_s);
	limit_ptr->policy = gw_arena_strndup(fj_ptr->arena_ptr, text, n < 0 ? 0 : (size_t)n);
	if (!limit_ptr->identity || !limit_ptr->policy)
		fj_ptr->failed = 1;
}

static void read_overrides(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *at, struct rule *rule_ptr)
{
	static const char *const allowed[] = {"key", "rate", "burst", NULL};
	const json_t *list_ptr = json_object_get(json_ptr, "overrides"), *item_ptr;
	char list_at[GW_FILTER_POINTER_MAX], item_at[GW_FILTER_POINTER_MAX];
	size_t i;

	if (!list_ptr)
		return;
	gw_filter_json_pointer(list_at, sizeof(list_at), at, "overrides");
	if (!json_is_array(list_ptr) || json_array_size(list_ptr) > OVERRIDES_MAX) {
		gw_filter_json_fail(fj_ptr, list_at, "an array of at most 256 overrides");
		return;
	}
	rule_ptr->overrides =
		gw_arena_alloc(fj_ptr->arena_ptr, sizeof(struct override) * (json_array_size(list_ptr) + 1));
	if (!rule_ptr->overrides) {
		fj_ptr->failed = 1;
		return;
	}
	json_array_foreach(list_ptr, i, item_ptr) {
		struct override *o_ptr = &rule_ptr->overrides[rule_ptr->override_count++];

		gw_filter_json_index(item_at, sizeof(item_at), list_at, i);
		memset(o_ptr, 0, sizeof(*o_ptr));
		if (gw_filter_json_keys(fj_ptr, item_ptr, item_at, allowed) == -1)
			continue;
		gw_filter_json_string(fj_ptr, item_ptr, item_at, "key", NULL, &o_ptr->key);
		if (!o_ptr->key)
			gw_filter_json_fail(fj_ptr, item_at,
					    "an override names its \"key\" (the parts' values joined by '|')");
		read_limit(fj_ptr, item_ptr, item_at, rule_ptr->period_s, rule_ptr->limit.rate, &o_ptr->limit);
		if (!fj_ptr->failed)
			limit_identity(fj_ptr, rule_ptr, &o_ptr->limit, o_ptr->key);
	}
}

static void read_rule(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *at, struct rule *rule_ptr)
{
	static const char *const allowed[] = {"name",  "key",	    "rate",    "period_seconds",
					      "burst", "overrides", "missing", NULL};
	const json_t *key_ptr = json_object_get(json_ptr, "key"), *part_json;
	char key_at[GW_FILTER_POINTER_MAX], part_at[GW_FILTER_POINTER_MAX];
	const char *missing = NULL;
	size_t i;

	if (gw_filter_json_keys(fj_ptr, json_ptr, at, allowed) == -1)
		return;
	gw_filter_json_string(fj_ptr, json_ptr, at, "name", NULL, &rule_ptr->name);
	if (!rule_ptr->name || !rule_ptr->name[0] || strlen(rule_ptr->name) > 64 || strpbrk(rule_ptr->name, "\"\\") ||
	    !gw_header_value_valid(rule_ptr->name, strlen(rule_ptr->name)))
		gw_filter_json_fail(
			fj_ptr, at,
			"a rule needs a \"name\" (1 to 64 printable bytes, no '\"' or '\\\\': it goes in headers)");
	gw_filter_json_pointer(key_at, sizeof(key_at), at, "key");
	if (!json_is_array(key_ptr) || json_array_size(key_ptr) == 0 || json_array_size(key_ptr) > PARTS_MAX) {
		gw_filter_json_fail(fj_ptr, key_at, "an array of 1 to 6 key parts");
	} else {
		json_array_foreach(key_ptr, i, part_json) {
			read_part(fj_ptr, part_json, gw_filter_json_index(part_at, sizeof(part_at), key_at, i),
				  &rule_ptr->parts[rule_ptr->part_count++]);
		}
	}
	gw_filter_json_int(fj_ptr, json_ptr, at, "period_seconds", 1, 86400 * 366, 1, &rule_ptr->period_s);
	if (!json_object_get(json_ptr, "rate"))
		gw_filter_json_fail(fj_ptr, at, "a rule needs a \"rate\" (requests per period_seconds)");
	read_limit(fj_ptr, json_ptr, at, rule_ptr->period_s, 1, &rule_ptr->limit);
	gw_filter_json_string(fj_ptr, json_ptr, at, "missing", "skip", &missing);
	if (missing && strcmp(missing, "skip") != 0 && strcmp(missing, "limit") != 0)
		gw_filter_json_fail(fj_ptr, gw_filter_json_pointer(part_at, sizeof(part_at), at, "missing"),
				    "\"skip\" (the rule does not count a request lacking a key part) or \"limit\"");
	rule_ptr->count_missing = missing && strcmp(missing, "limit") == 0;
	if (!fj_ptr->failed)
		limit_identity(fj_ptr, rule_ptr, &rule_ptr->limit, NULL);
	read_overrides(fj_ptr, json_ptr, at, rule_ptr);
}

static void read_redis(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *at,
		       struct rate_limit_config *config_ptr)
{
	static const char *const allowed[] = {"address",  "username", "password", "timeout_ms",	 "connect_timeout_ms",
					      "on_error", "batch",    "lease_ms", "max_pending", NULL};
	struct redis_config *redis_ptr = &config_ptr->redis;
	const char *on_error = NULL;
	char member_at[GW_FILTER_POINTER_MAX];
	long long timeout_ms = 100, connect_ms = 1000, lease_ms = 1000, pending = 256;

	if (gw_filter_json_keys(fj_ptr, json_ptr, at, allowed) == -1)
		return;
	gw_filter_json_string(fj_ptr, json_ptr, at, "address", NULL, &redis_ptr->options.address);
	if (!redis_ptr->options.address || gw_redis_parse_address(redis_ptr->options.address, &redis_ptr->options.addr,
								  &redis_ptr->options.addr_len) == -1)
		gw_filter_json_fail(fj_ptr, gw_filter_json_pointer(member_at, sizeof(member_at), at, "address"),
				    "Redis's \"HOST:PORT\": a numeric IPv4 or [IPv6] address, or localhost");
	gw_filter_json_string(fj_ptr, json_ptr, at, "username", NULL, &redis_ptr->options.username);
	gw_filter_json_string(fj_ptr, json_ptr, at, "password", NULL, &redis_ptr->options.password);
	if (redis_ptr->options.username && !redis_ptr->options.password)
		gw_filter_json_fail(fj_ptr, at, "a username goes with a password (AUTH)");
	gw_filter_json_int(fj_ptr, json_ptr, at, "timeout_ms", 1, 60000, 100, &timeout_ms);
	gw_filter_json_int(fj_ptr, json_ptr, at, "connect_timeout_ms", 1, 60000, 1000, &connect_ms);
	gw_filter_json_int(fj_ptr, json_ptr, at, "batch", 1, 10000, 1, &redis_ptr->batch);
	gw_filter_json_int(fj_ptr, json_ptr, at, "lease_ms", 1, 3600000, 1000, &lease_ms);
	gw_filter_json_int(fj_ptr, json_ptr, at, "max_pending", 16, 65536, 256, &pending);
	gw_filter_json_string(fj_ptr, json_ptr, at, "on_error", "allow", &on_error);
	redis_ptr->on_error = !on_error			       ? ON_ERROR_ALLOW
			      : strcmp(on_error, "allow") == 0 ? ON_ERROR_ALLOW
			      : strcmp(on_error, "deny") == 0  ? ON_ERROR_DENY
			      : strcmp(on_error, "local") == 0 ? ON_ERROR_LOCAL
							       : -1;
	if ((int)redis_ptr->on_error == -1)
		gw_filter_json_fail(fj_ptr, gw_filter_json_pointer(member_at, sizeof(member_at), at, "on_error"),
				    "\"allow\" (fail open), \"deny\" (fail closed: 503) or \"local\" (this "
				    "instance's own table)");
	redis_ptr->timeout_ns = (uint64_t)timeout_ms * 1000000u;
	redis_ptr->lease_ns = (uint64_t)lease_ms * 1000000u;
	redis_ptr->options.connect_timeout_ms = (uint64_t)connect_ms;
	/* A connection is given up when a batch waits far longer than any
	 * request would: well past the requests' own time out. */
	redis_ptr->options.stall_ms = (uint64_t)(timeout_ms * 10 > 1000 ? timeout_ms * 10 : 1000);
	redis_ptr->options.max_pending = (int)pending;
	redis_ptr->options.script = gw_rate_redis_script;
}

/* Redis counts time in microseconds, in Lua's doubles. */
static int redis_limit_fits(const struct limit *limit_ptr)
{
	return limit_ptr->interval_ns >= 1000 && (double)limit_ptr->burst * (double)limit_ptr->interval_ns <= 1e18;
}

/* "mode" and, for Redis, "redis". */
static void read_mode(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *pointer,
		      struct rate_limit_config *config_ptr)
{
	const char *mode = NULL;
	const json_t *redis_json = NULL;
	char at[GW_FILTER_POINTER_MAX];

	gw_filter_json_string(fj_ptr, json_ptr, pointer, "mode", "local", &mode);
	gw_filter_json_object(fj_ptr, json_ptr, pointer, "redis", &redis_json);
	gw_filter_json_pointer(at, sizeof(at), pointer, "mode");
	if (mode && strcmp(mode, "local") != 0 && strcmp(mode, "redis") != 0) {
		gw_filter_json_fail(fj_ptr, at, "\"local\" (this instance's kernels) or \"redis\" (every instance)");
		return;
	}
	config_ptr->redis_mode = mode && strcmp(mode, "redis") == 0;
	if (config_ptr->redis_mode != (redis_json != NULL)) {
		gw_filter_json_fail(
			fj_ptr, config_ptr->redis_mode ? at : gw_filter_json_pointer(at, sizeof(at), pointer, "redis"),
			"\"mode\": \"redis\" goes with a \"redis\" object, and only with it");
		return;
	}
	if (!config_ptr->redis_mode)
		return;
	read_redis(fj_ptr, redis_json, gw_filter_json_pointer(at, sizeof(at), pointer, "redis"), config_ptr);
	for (int r = 0; r < config_ptr->rule_count; r++) {
		const struct rule *rule_ptr = &config_ptr->rules[r];
		int fits = redis_limit_fits(&rule_ptr->limit);
		char rules_at[GW_FILTER_POINTER_MAX];

		for (int o = 0; o < rule_ptr->override_count; o++)
			fits &= redis_limit_fits(&rule_ptr->overrides[o].limit);
		if (!fits)
			gw_filter_json_fail(
				fj_ptr,
				gw_filter_json_index(
					at, sizeof(at),
					gw_filter_json_pointer(rules_at, sizeof(rules_at), pointer, "rules"),
					(size_t)r),
				"in Redis mode, period_seconds / rate is at least a microsecond and burst * "
				"period_seconds / rate at most 30 years");
	}
}

static int rate_limit_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			      struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const allowed[] = {"type", "rules", "headers", "status", "shadow", "mode", "redis", NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct rate_limit_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));
	const json_t *rules_ptr = json_object_get(config_json_ptr, "rules"), *rule_json;
	char at[GW_FILTER_POINTER_MAX], rule_at[GW_FILTER_POINTER_MAX];
	const char *headers = NULL;
	long long status = 429;
	size_t i;

	if (!config_ptr)
		return -1;
	memset(config_ptr, 0, sizeof(*config_ptr));
	*compiled_ptr = config_ptr;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, allowed) == -1)
		return -1;
	gw_filter_json_pointer(at, sizeof(at), pointer, "rules");
	if (!json_is_array(rules_ptr) || json_array_size(rules_ptr) == 0 || json_array_size(rules_ptr) > RULES_MAX)
		return gw_filter_json_fail(&fj, at, "an array of 1 to 8 rules");
	json_array_foreach(rules_ptr, i, rule_json) {
		read_rule(&fj, rule_json, gw_filter_json_index(rule_at, sizeof(rule_at), at, i),
			  &config_ptr->rules[config_ptr->rule_count++]);
	}
	gw_filter_json_string(&fj, config_json_ptr, pointer, "headers", "draft", &headers);
	config_ptr->headers = !headers			       ? HEADERS_DRAFT
			      : strcmp(headers, "draft") == 0  ? HEADERS_DRAFT
			      : strcmp(headers, "legacy") == 0 ? HEADERS_LEGACY
			      : strcmp(headers, "both") == 0   ? HEADERS_BOTH
			      : strcmp(headers, "none") == 0   ? HEADERS_NONE
							       : -1;
	if ((int)config_ptr->headers == -1)
		gw_filter_json_fail(
			&fj, gw_filter_json_pointer(at, sizeof(at), pointer, "headers"),
			"\"draft\" (RateLimit-Policy and RateLimit), \"legacy\" (X-RateLimit-*), \"both\" or \"none\"");
	if (gw_filter_json_int(&fj, config_json_ptr, pointer, "status", 429, 503, 429, &status) == 0 && status != 429 &&
	    status != 503)
		gw_filter_json_fail(&fj, gw_filter_json_pointer(at, sizeof(at), pointer, "status"), "429 or 503");
	config_ptr->status = (int)status;
	gw_filter_json_bool(&fj, config_json_ptr, pointer, "shadow", 0, &config_ptr->shadow);
	read_mode(&fj, config_json_ptr, pointer, config_ptr);
	return fj.failed ? -1 : 0;
}

/* ---- the request ---- */

static int state_headers(struct gw_stage *stage_ptr);

/* The client's address, or its network under the part's prefixes, as
 * text into out[INET6_ADDRSTRLEN + 4]. */
static int address_text(const char *address, const struct key_part *part_ptr, char *out, size_t cap)
{
	unsigned char bytes[16];
	int bits, family = strchr(address, ':') ? AF_INET6 : AF_INET;
	size_t len = family == AF_INET ? 4 : 16;

	if (inet_pton(family, address, bytes) != 1)
		return snprintf(out, cap, "%s", address);
	bits = family == AF_INET ? part_ptr->ipv4_prefix : part_ptr->ipv6_prefix;
	for (size_t i = 0; i < len; i++) {
		int keep = bits - (int)i * 8;

		bytes[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
	if (!inet_ntop(family, bytes, out, (socklen_t)cap))
		return -1;
	return (int)strlen(out) + snprintf(out + strlen(out), cap - strlen(out), "/%d", bits);
}

/* The rule's key text for this request (parts joined by '|'), or -1 when
 * a part is missing and the rule skips such requests. */
static long key_text(const struct gw_stage *stage_ptr, const struct rule *rule_ptr, char *out, size_t cap)
{
	const struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	size_t n = 0;

	for (int i = 0; i < rule_ptr->part_count; i++) {
		const struct key_part *part_ptr = &rule_ptr->parts[i];
		const char *value = NULL;
		size_t len = 0;
		char address[INET6_ADDRSTRLEN + 8];
		int rc;

		switch (part_ptr->kind) {
		case PART_CONSUMER:
			value = gw_exchange_value(ex_ptr, "consumer", &len);
			break;
		case PART_VALUE:
			value = gw_exchange_value(ex_ptr, part_ptr->name, &len);
			break;
		case PART_HEADER:
			if (!gw_exchange_request_header(ex_ptr, part_ptr->name, &value, &len))
				value = NULL;
			break;
		case PART_ADDRESS:
			value = gw_exchange_client_address(ex_ptr);
			if (part_ptr->ipv4_prefix == 32 && part_ptr->ipv6_prefix == 128) {
				len = strlen(value); /* the whole address: as it is */
				break;
			}
			rc = address_text(value, part_ptr, address, sizeof(address));
			value = rc < 0 ? NULL : address;
			len = rc < 0 ? 0 : (size_t)rc;
			break;
		case PART_ROUTE:
			value = gw_exchange_route_name(ex_ptr);
			len = value ? strlen(value) : 0;
			break;
		case PART_CONSTANT:
			value = part_ptr->name;
			len = strlen(value);
			break;
		}
		if (!value && !rule_ptr->count_missing)
			return -1;
		if (n + len + 1 > cap)
			len = cap - n - 1; /* a longer key is cut: its parts still differ before */
		if (i > 0)
			out[n++] = '|';
		memcpy(out + n, value ? value : "", len);
		n += len;
		if (n >= cap - 1)
			break;
	}
	return (long)n;
}

static const struct limit *limit_for(const struct rule *rule_ptr, const char *key, size_t len)
{
	for (int i = 0; i < rule_ptr->override_count; i++)
		if (strlen(rule_ptr->overrides[i].key) == len && memcmp(rule_ptr->overrides[i].key, key, len) == 0)
			return &rule_ptr->overrides[i].limit;
	return &rule_ptr->limit;
}

/* The answer when the request does not pass: `status` in the JSON error
 * shape, with Retry-After and the state headers (the answer does not come
 * back through this stage's response_head). */
static enum gw_filter_result answer(struct gw_stage *stage_ptr, int status, uint64_t retry_ns, const char *message)
{
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	char seconds[24];

	snprintf(seconds, sizeof(seconds), "%llu", (unsigned long long)((retry_ns + NS_PER_S - 1) / NS_PER_S));
	if (gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "retry-after", seconds) == -1 || state_headers(stage_ptr) == -1)
		return gw_stage_fail(stage_ptr, "rate_limit: no room for the rate limit headers");
	gw_exchange_respond_error(ex_ptr, status, message);
	return GW_FILTER_RESPOND;
}

/* One more request rule r counted, in /metrics. */
static void count(const struct gw_stage *stage_ptr, struct rate_limit_kernel *kernel_ptr, int r,
		  enum gw_rate_result result)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	const char *route = gw_exchange_route_name(gw_stage_exchange(stage_ptr));

	if (!kernel_ptr)
		return;
	if (!kernel_ptr->counters[r])
		kernel_ptr->counters[r] =
			gw_rate_table_counter(gw_rate_table_instance(), route ? route : "", config_ptr->rules[r].name);
	gw_rate_counter_add(kernel_ptr->counters[r], result);
}

static void *rate_limit_kernel_state_create(const void *compiled_ptr, void *previous_ptr)
{
	const struct rate_limit_config *config_ptr = compiled_ptr;
	struct rate_limit_kernel *kernel_ptr = calloc(1, sizeof(*kernel_ptr));

	/* The counters live in the shared table: a new state finds them
	 * again by name. The Redis client is the kernel's, shared by every
	 * filter with the same Redis options: a reload that keeps them keeps
	 * the connection. Leases start afresh (they admit less, never more). */
	(void)previous_ptr;
	if (!kernel_ptr || !config_ptr->redis_mode)
		return kernel_ptr;
	kernel_ptr->leases = calloc(GW_RATE_LEASES, sizeof(*kernel_ptr->leases));
	kernel_ptr->redis_ptr = kernel_ptr->leases ? gw_redis_get(&config_ptr->redis.options) : NULL;
	if (!kernel_ptr->redis_ptr) {
		free(kernel_ptr->leases);
		free(kernel_ptr);
		return NULL;
	}
	return kernel_ptr;
}

static void rate_limit_kernel_state_free(void *state_ptr)
{
	struct rate_limit_kernel *kernel_ptr = state_ptr;

	if (!kernel_ptr)
		return;
	gw_redis_put(kernel_ptr->redis_ptr);
	free(kernel_ptr->leases);
	free(kernel_ptr);
}

/* ---- the request: what each rule says ---- */

/* Rule r's verdict on the request, in the headers and /metrics: 1 when it
 * refuses (not in shadow mode), so no later rule need be asked. */
static int judged(struct gw_stage *stage_ptr, int r, const struct limit *limit_ptr, int admitted, uint64_t remaining,
		  uint64_t reset_ns, uint64_t retry_ns)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	int i = request_ptr->counted++;

	request_ptr->seen[i].rule = (uint8_t)r;
	request_ptr->seen[i].limit_ptr = limit_ptr;
	request_ptr->seen[i].remaining = remaining;
	request_ptr->seen[i].reset_s = (reset_ns + NS_PER_S - 1) / NS_PER_S;
	count(stage_ptr, gw_stage_kernel_state(stage_ptr), r,
	      admitted		   ? GW_RATE_ALLOWED
	      : config_ptr->shadow ? GW_RATE_SHADOW_LIMITED
				   : GW_RATE_LIMITED);
	if (admitted)
		return 0;
	if (config_ptr->shadow) {
		char text[KEY_TEXT_MAX];
		long len = key_text(stage_ptr, &config_ptr->rules[r], text, sizeof(text));

		fprintf(stderr, "vkgw: rate_limit: rule %s would refuse key %.*s (shadow)\n", config_ptr->rules[r].name,
			(int)(len < 0 ? 0 : len), text);
		return 0;
	}
	request_ptr->refused = 1;
	request_ptr->retry_ns = retry_ns;
	return 1;
}

static void took(struct rate_limit_request *request_ptr, const struct rule_key *key_ptr, enum took_from from)
{
	request_ptr->took[request_ptr->took_count] = *key_ptr;
	request_ptr->took[request_ptr->took_count++].from = (uint8_t)from;
}

/* Rule key_ptr->rule in the instance's own table. */
static int judge_local(struct gw_stage *stage_ptr, const struct rule_key *key_ptr)
{
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	const struct limit *limit_ptr = key_ptr->limit_ptr;
	struct gw_rate_verdict v;

	gw_rate_table_take(gw_rate_table_instance(), key_ptr->digest, limit_ptr->interval_ns,
			   (uint64_t)limit_ptr->burst, request_ptr->now_ns, &v);
	if (v.admitted)
		took(request_ptr, key_ptr, FROM_TABLE);
	return judged(stage_ptr, key_ptr->rule, limit_ptr, v.admitted, v.remaining, v.reset_ns, v.retry_after_ns);
}

static uint64_t lease_tag(const struct rule_key *key_ptr)
{
	uint64_t tag;

	memcpy(&tag, key_ptr->digest, sizeof(tag));
	return tag | 1;
}

static uint64_t until(uint64_t at_ns, uint64_t now_ns)
{
	return at_ns > now_ns ? at_ns - now_ns : 0;
}

#define NEEDS_REDIS (-1)
#define FOLLOWS (-2)

/* Redis mode, before asking Redis: the kernel's lease on the key.
 * NEEDS_REDIS, FOLLOWS (a call of this kernel's for the key is in flight:
 * its answer will say), else what judged() said. */
static int judge_leased(struct gw_stage *stage_ptr, const struct rule_key *key_ptr)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	struct rate_limit_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);
	uint64_t tag = lease_tag(key_ptr), now_ns = request_ptr->now_ns;
	struct gw_rate_lease *lease_ptr = gw_rate_lease_cell(kernel_ptr->leases, tag);

	if (lease_ptr->tag != tag)
		return NEEDS_REDIS;
	if (lease_ptr->denied_until_ns > now_ns)
		return judged(stage_ptr, key_ptr->rule, key_ptr->limit_ptr, 0, 0, until(lease_ptr->reset_at_ns, now_ns),
			      lease_ptr->denied_until_ns - now_ns);
	if (lease_ptr->tokens > 0 && lease_ptr->until_ns > now_ns) {
		lease_ptr->tokens--;
		took(request_ptr, key_ptr, FROM_LEASE);
		request_ptr->took[request_ptr->took_count - 1].lease_until_ns = lease_ptr->until_ns;
		return judged(stage_ptr, key_ptr->rule, key_ptr->limit_ptr, 1, lease_ptr->remaining + lease_ptr->tokens,
			      until(lease_ptr->reset_at_ns, now_ns), 0);
	}
	/* Following pays only when the call's answer may serve others
	 * (tokens taken ahead): with batch 1 every request asks, pipelined. */
	if (lease_ptr->asking_until_ns > now_ns && !request_ptr->no_follow && config_ptr->redis.batch > 1) {
		if (lease_ptr->asking_until_ns > request_ptr->follow_until_ns)
			request_ptr->follow_until_ns = lease_ptr->asking_until_ns;
		return FOLLOWS;
	}
	return NEEDS_REDIS;
}

/* The rules from next_rule on: 1 when the request must first follow a
 * call in flight (judging goes on from that rule after it), else 0 with
 * the rules to ask Redis about in `asked`. */
static int judge_rules(struct gw_stage *stage_ptr)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	char text[KEY_TEXT_MAX];

	for (; request_ptr->next_rule < config_ptr->rule_count && !request_ptr->refused; request_ptr->next_rule++) {
		const struct rule *rule_ptr = &config_ptr->rules[request_ptr->next_rule];
		long len = key_text(stage_ptr, rule_ptr, text, sizeof(text));
		struct rule_key key;

		if (len < 0)
			continue;
		key.rule = (uint8_t)request_ptr->next_rule;
		key.limit_ptr = limit_for(rule_ptr, text, (size_t)len);
		{
			const void *parts[] = {key.limit_ptr->identity, text};
			size_t lens[] = {key.limit_ptr->identity_len, (size_t)len};

			gw_rate_table_key(gw_rate_table_instance(), parts, lens, 2, key.digest);
		}
		if (!config_ptr->redis_mode) {
			judge_local(stage_ptr, &key);
			continue;
		}
		switch (judge_leased(stage_ptr, &key)) {
		case NEEDS_REDIS:
			request_ptr->asked[request_ptr->asked_count++] = key;
			break;
		case FOLLOWS:
			return 1;
		}
	}
	return 0;
}

/* The asked rules' calls are done (answered or not): their keys are no
 * longer being asked, and the requests that followed them look again. */
static void calls_ended(struct gw_stage *stage_ptr)
{
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	struct rate_limit_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);

	if (!request_ptr->marked)
		return; /* the calls never went: no key was marked, nobody follows them */
	request_ptr->marked = 0;
	for (int i = 0; i < request_ptr->asked_count; i++) {
		struct gw_rate_lease *lease_ptr =
			gw_rate_lease_cell(kernel_ptr->leases, lease_tag(&request_ptr->asked[i]));

		/* this request's mark only: another's call may be in flight */
		if (lease_ptr->tag == lease_tag(&request_ptr->asked[i]) &&
		    lease_ptr->asking_until_ns == request_ptr->wait.until_ns)
			lease_ptr->asking_until_ns = 0;
	}
	for (int i = 0; i < kernel_ptr->follower_count;)
		if (vk_sys_notify(kernel_ptr->followers[i]) == -1)
			kernel_ptr->followers[i] = kernel_ptr->followers[--kernel_ptr->follower_count];
		else
			i++;
}

/* Redis's answer for one asked rule, in the kernel's lease of the key:
 * the tokens granted beyond this request's one, or the refusal until
 * its retry time. */
static void keep_answer(struct gw_stage *stage_ptr, const struct rule_key *key_ptr,
			const struct gw_rate_redis_answer *answer_ptr)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	struct rate_limit_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);
	uint64_t tag = lease_tag(key_ptr), now_ns = request_ptr->now_ns;
	int admitted = answer_ptr->granted > 0;

	*gw_rate_lease_cell(kernel_ptr->leases, tag) = (struct gw_rate_lease){
		.tag = tag,
		.until_ns = now_ns + config_ptr->redis.lease_ns,
		/* from when the call left: the retry time is Redis's, counted
		 * from its running the script, which came between */
		.denied_until_ns = admitted ? 0 : request_ptr->asked_ns + answer_ptr->retry_us * 1000u,
		.remaining = answer_ptr->remaining,
		.reset_at_ns = now_ns + answer_ptr->reset_us * 1000u,
		.tokens = admitted ? answer_ptr->granted - 1 : 0,
	};
}

/* The asked rule's verdict on this request. */
static int judge_answered(struct gw_stage *stage_ptr, const struct rule_key *key_ptr,
			  const struct gw_rate_redis_answer *answer_ptr)
{
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	int admitted = answer_ptr->granted > 0;

	if (admitted)
		took(request_ptr, key_ptr, FROM_REDIS);
	return judged(stage_ptr, key_ptr->rule, key_ptr->limit_ptr, admitted,
		      answer_ptr->remaining + (admitted ? answer_ptr->granted - 1 : 0), answer_ptr->reset_us * 1000u,
		      answer_ptr->retry_us * 1000u);
}

/* What the rules that let the request through took goes back: a refused
 * request counts against none. A lease gets its token again; a token
 * Redis granted goes back to Redis (nobody waits for that reply). */
static void give_back(struct gw_stage *stage_ptr)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	struct rate_limit_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);

	while (request_ptr->took_count > 0) {
		const struct rule_key *key_ptr = &request_ptr->took[--request_ptr->took_count];
		const struct rule *rule_ptr = &config_ptr->rules[key_ptr->rule];
		struct gw_rate_lease *lease_ptr;
		char text[KEY_TEXT_MAX], command[GW_REDIS_SLOT_BYTES];
		long len;
		size_t n;

		switch ((enum took_from)key_ptr->from) {
		case FROM_TABLE:
			gw_rate_table_give_back(gw_rate_table_instance(), key_ptr->digest,
						key_ptr->limit_ptr->interval_ns, (uint64_t)key_ptr->limit_ptr->burst,
						request_ptr->now_ns);
			break;
		case FROM_LEASE:
			/* Back to the lease it came from, if that lease is still
			 * the key's and under batch - 1 (the bound); else to
			 * Redis, as a token Redis granted. */
			lease_ptr = gw_rate_lease_cell(kernel_ptr->leases, lease_tag(key_ptr));
			if (lease_ptr->tag == lease_tag(key_ptr) && lease_ptr->until_ns == key_ptr->lease_until_ns &&
			    lease_ptr->tokens + 1 < (uint64_t)config_ptr->redis.batch) {
				lease_ptr->tokens++;
				break;
			}
			/* fall through */
		case FROM_REDIS:
			len = key_text(stage_ptr, rule_ptr, text, sizeof(text));
			n = len < 0 ? 0
				    : gw_rate_redis_command(command, sizeof(command),
							    gw_redis_script_sha(kernel_ptr->redis_ptr), rule_ptr->name,
							    text, (size_t)len, key_ptr->limit_ptr->interval_ns,
							    (uint64_t)key_ptr->limit_ptr->burst, -1);
			if (n > 0)
				gw_redis_submit(kernel_ptr->redis_ptr, command, n, 1, NULL);
			break;
		}
	}
}

/* Every rule has spoken: the request goes on, or is refused. */
static enum gw_filter_result decided(struct gw_stage *stage_ptr)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);

	if (!request_ptr->refused)
		return GW_FILTER_CONTINUE;
	give_back(stage_ptr);
	return answer(stage_ptr, config_ptr->status, request_ptr->retry_ns, "rate limit exceeded");
}

/* Redis could not say for the asked rules (`why`): counted, logged at
 * most once a second per kernel and filter, and on_error decides. */
static enum gw_filter_result redis_failed(struct gw_stage *stage_ptr, const char *why)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	struct rate_limit_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);
	static const char *const decisions[] = {"let through (on_error allow)", "refused with 503 (on_error deny)",
						"judged by this instance alone (on_error local)"};
	uint64_t now_ns = vk_sys_coarse_now_ns();

	calls_ended(stage_ptr);
	for (int i = 0; i < request_ptr->asked_count; i++)
		count(stage_ptr, kernel_ptr, request_ptr->asked[i].rule, GW_RATE_REDIS_ERROR);
	if (!kernel_ptr->logged_ns || now_ns >= kernel_ptr->logged_ns + NS_PER_S) {
		fprintf(stderr, "vkgw: rate_limit: redis %s: %s: requests are %s",
			gw_redis_address(kernel_ptr->redis_ptr), why, decisions[config_ptr->redis.on_error]);
		if (kernel_ptr->unlogged)
			fprintf(stderr, " (%llu more since the last line)", (unsigned long long)kernel_ptr->unlogged);
		fputc('\n', stderr);
		kernel_ptr->logged_ns = now_ns;
		kernel_ptr->unlogged = 0;
	} else {
		kernel_ptr->unlogged++;
	}
	switch (config_ptr->redis.on_error) {
	case ON_ERROR_ALLOW:
		break;
	case ON_ERROR_DENY:
		give_back(stage_ptr);
		return answer(stage_ptr, 503, NS_PER_S, "rate limit service unavailable");
	case ON_ERROR_LOCAL:
		for (int i = 0; i < request_ptr->asked_count && !request_ptr->refused; i++)
			judge_local(stage_ptr, &request_ptr->asked[i]);
		break;
	}
	return decided(stage_ptr);
}

/* The replies came (or did not): each asked rule judged. */
static enum gw_filter_result redis_answered(struct gw_stage *stage_ptr)
{
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	struct rate_limit_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);
	struct gw_rate_redis_answer answers[RULES_MAX];
	const char *replies = NULL;
	size_t len = 0, pos = 0;
	long n = 0;

	if (request_ptr->wait.outcome == GW_REDIS_DONE)
		replies = gw_redis_replies(kernel_ptr->redis_ptr, request_ptr->wait.ticket, &len);
	for (int i = 0; replies && i < request_ptr->asked_count && n >= 0; i++, pos += (size_t)n)
		n = gw_rate_redis_answer(replies + pos, len - pos, &answers[i]);
	gw_redis_release(kernel_ptr->redis_ptr, request_ptr->wait.ticket);
	request_ptr->now_ns = vk_sys_now_ns();
	if (request_ptr->wait.outcome == GW_REDIS_TIMED_OUT)
		return redis_failed(stage_ptr, "no reply within timeout_ms");
	if (request_ptr->wait.outcome != GW_REDIS_DONE)
		return redis_failed(stage_ptr, gw_redis_failure(kernel_ptr->redis_ptr)[0]
						       ? gw_redis_failure(kernel_ptr->redis_ptr)
						       : "the connection failed");
	if (!replies || n < 0)
		return redis_failed(stage_ptr, "a reply that is not the script's answer");
	/* every lease first (its followers take from it), then the verdicts */
	for (int i = 0; i < request_ptr->asked_count; i++)
		keep_answer(stage_ptr, &request_ptr->asked[i], &answers[i]);
	calls_ended(stage_ptr);
	/* The calls went together: a rule after the one that refuses took
	 * its token too, and gives it back with the others. */
	for (int i = 0; i < request_ptr->asked_count; i++)
		if (!request_ptr->refused)
			judge_answered(stage_ptr, &request_ptr->asked[i], &answers[i]);
		else if (answers[i].granted > 0)
			took(request_ptr, &request_ptr->asked[i], FROM_REDIS);
	return decided(stage_ptr);
}

/* The asked rules' calls into one slot of the kernel's client, their
 * keys marked as being asked (this kernel's other requests for them
 * follow): 0, or -1 with `why` (Redis down, no slot free). */
static int submit_calls(struct gw_stage *stage_ptr)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	struct rate_limit_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);
	char commands[GW_REDIS_SLOT_BYTES], text[KEY_TEXT_MAX];
	size_t n = 0, one;

	request_ptr->now_ns = vk_sys_now_ns();
	for (int i = 0; i < request_ptr->asked_count; i++) {
		const struct rule_key *key_ptr = &request_ptr->asked[i];
		const struct rule *rule_ptr = &config_ptr->rules[key_ptr->rule];
		long len = key_text(stage_ptr, rule_ptr, text, sizeof(text));
		long want = config_ptr->redis.batch < key_ptr->limit_ptr->burst ? config_ptr->redis.batch
										: key_ptr->limit_ptr->burst;

		one = gw_rate_redis_command(commands + n, sizeof(commands) - n,
					    gw_redis_script_sha(kernel_ptr->redis_ptr), rule_ptr->name, text,
					    (size_t)(len < 0 ? 0 : len), key_ptr->limit_ptr->interval_ns,
					    (uint64_t)key_ptr->limit_ptr->burst, want);
		if (one == 0) {
			request_ptr->why = "the request's calls exceed a slot";
			return -1;
		}
		n += one;
	}
	if (gw_redis_submit(kernel_ptr->redis_ptr, commands, n, request_ptr->asked_count, &request_ptr->wait.ticket) ==
	    -1) {
		request_ptr->why = errno == EAGAIN     ? "max_pending calls already wait"
				   : errno == ENOTCONN ? "down"
						       : "the calls exceed a slot";
		return -1;
	}
	request_ptr->wait.redis_ptr = kernel_ptr->redis_ptr;
	request_ptr->asked_ns = request_ptr->now_ns;
	request_ptr->wait.until_ns = request_ptr->now_ns + config_ptr->redis.timeout_ns;
	for (int i = 0; i < request_ptr->asked_count; i++) {
		uint64_t tag = lease_tag(&request_ptr->asked[i]);
		struct gw_rate_lease *lease_ptr = gw_rate_lease_cell(kernel_ptr->leases, tag);

		if (lease_ptr->tag != tag)
			*lease_ptr = (struct gw_rate_lease){.tag = tag};
		lease_ptr->asking_until_ns = request_ptr->wait.until_ns;
	}
	request_ptr->marked = 1;
	return 0;
}

/* The waiting thread of a request that asks: its calls' answers, then
 * the decision. */
static void rate_limit_wait_redis(struct vk_thread *that)
{
	struct gw_stage *stage_ptr = vk_thread_arg(that);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);

	vk_begin_stateless();
	vk_call(gw_redis_wait, &request_ptr->wait);
	redis_answered(stage_ptr);
	vk_end();
}

static void follower_remove(struct rate_limit_kernel *kernel_ptr)
{
	for (int i = 0; i < kernel_ptr->follower_count; i++)
		if (kernel_ptr->followers[i] == vk_sys_self()) {
			kernel_ptr->followers[i] = kernel_ptr->followers[--kernel_ptr->follower_count];
			return;
		}
}

/* The waiting thread of a request that follows another's call on a key
 * (single flight: a kernel asks Redis once for a key at a time, and the
 * answer's lease serves the requests that came meanwhile): until that
 * call ends, then judging goes on, asking Redis itself if it must. */
static void rate_limit_follow(struct vk_thread *that)
{
	struct gw_stage *stage_ptr = vk_thread_arg(that);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	struct rate_limit_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);

	vk_begin_stateless();
	vk_finally
	{
		follower_remove(kernel_ptr);
	}
	do {
		if (kernel_ptr->follower_count == FOLLOWERS_MAX) {
			request_ptr->no_follow = 1; /* too many: this one asks */
		} else {
			/* Woken when a call of the kernel's ends (this key's or
			 * another's: judging again tells), or at the call's
			 * time out. */
			kernel_ptr->followers[kernel_ptr->follower_count++] = vk_sys_self();
			if (vk_sys_now_ns() < request_ptr->follow_until_ns)
				vk_wait_notified((request_ptr->follow_until_ns - vk_sys_now_ns()) / 1000000u + 1);
			follower_remove(kernel_ptr);
		}
		request_ptr->now_ns = vk_sys_now_ns();
		request_ptr->follow_until_ns = 0;
		/* Followers woken after others took the tokens follow the
		 * next call: at most timeout_ms in all, then it asks. */
		if (request_ptr->now_ns >= request_ptr->follow_deadline_ns)
			request_ptr->no_follow = 1;
	} while (judge_rules(stage_ptr) == 1);
	if (request_ptr->refused || request_ptr->asked_count == 0) {
		decided(stage_ptr);
	} else if (submit_calls(stage_ptr) == -1) {
		redis_failed(stage_ptr, request_ptr->why);
	} else {
		vk_call(gw_redis_wait, &request_ptr->wait);
		redis_answered(stage_ptr);
	}
	vk_end();
}

static enum gw_filter_result rate_limit_request_head(struct gw_stage *stage_ptr)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);

	if (!gw_rate_table_instance() || !gw_stage_kernel_state(stage_ptr))
		return gw_stage_fail(stage_ptr, "rate_limit: no rate table");
	request_ptr->now_ns = vk_sys_now_ns(); /* read once per dispatch: every kernel's clock is the same one */
	if (judge_rules(stage_ptr) == 1) {
		request_ptr->follow_deadline_ns = request_ptr->now_ns + config_ptr->redis.timeout_ns;
		return gw_stage_wait(stage_ptr, rate_limit_follow);
	}
	if (request_ptr->refused || request_ptr->asked_count == 0)
		return decided(stage_ptr);
	if (submit_calls(stage_ptr) == -1)
		return redis_failed(stage_ptr, request_ptr->why);
	return gw_stage_wait(stage_ptr, rate_limit_wait_redis);
}

/* The response headers of what the rules that counted the request said:
 * 0, or -1 when the exchange has no room for them. */
static int state_headers(struct gw_stage *stage_ptr)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	const struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	char policy_list[RULES_MAX * 128], state[RULES_MAX * 128], number[24];
	const char *policy = policy_list;
	size_t p = 0, s = 0;
	int nearest = 0, rc = 0;

	if (config_ptr->headers == HEADERS_NONE || request_ptr->counted == 0)
		return 0;
	for (int i = 0; i < request_ptr->counted; i++) {
		const struct rule *rule_ptr = &config_ptr->rules[request_ptr->seen[i].rule];

		if (request_ptr->counted == 1)
			policy = request_ptr->seen[0].limit_ptr->policy; /* most routes: one rule */
		else
			p += (size_t)snprintf(policy_list + p, sizeof(policy_list) - p, "%s%s", i ? ", " : "",
					      request_ptr->seen[i].limit_ptr->policy);
		s += (size_t)snprintf(state + s, sizeof(state) - s, "%s\"%s\";r=%llu;t=%llu", i ? ", " : "",
				      rule_ptr->name, (unsigned long long)request_ptr->seen[i].remaining,
				      (unsigned long long)request_ptr->seen[i].reset_s);
		if (request_ptr->seen[i].remaining < request_ptr->seen[nearest].remaining)
			nearest = i;
	}
	if (config_ptr->headers == HEADERS_DRAFT || config_ptr->headers == HEADERS_BOTH) {
		rc |= gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "ratelimit-policy", policy);
		rc |= gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "ratelimit", state);
	}
	if (config_ptr->headers == HEADERS_LEGACY || config_ptr->headers == HEADERS_BOTH) {
		snprintf(number, sizeof(number), "%lld", request_ptr->seen[nearest].limit_ptr->rate);
		rc |= gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "x-ratelimit-limit", number);
		snprintf(number, sizeof(number), "%llu", (unsigned long long)request_ptr->seen[nearest].remaining);
		rc |= gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "x-ratelimit-remaining", number);
		snprintf(number, sizeof(number), "%llu", (unsigned long long)request_ptr->seen[nearest].reset_s);
		rc |= gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "x-ratelimit-reset", number);
	}
	return rc ? -1 : 0;
}

/* On the way back (the upstream's answer, or another stage's). */
static enum gw_filter_result rate_limit_response_head(struct gw_stage *stage_ptr)
{
	if (state_headers(stage_ptr) == -1)
		return gw_stage_fail(stage_ptr, "rate_limit: no room for the rate limit headers");
	return GW_FILTER_CONTINUE;
}

const struct gw_filter_type gw_filter_rate_limit_type = {
	.name = "rate_limit",
	.compile = rate_limit_compile,
	.request_head = rate_limit_request_head,
	.response_head = rate_limit_response_head,
	.state_bytes = sizeof(struct rate_limit_request),
	.kernel_state_create = rate_limit_kernel_state_create,
	.kernel_state_free = rate_limit_kernel_state_free,
	.trusted = 1,
};
