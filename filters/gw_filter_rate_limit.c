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
#include "gw_rate_table.h"

#include "vk_sys.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RULES_MAX 8
#define PARTS_MAX 6
#define OVERRIDES_MAX 256
#define KEY_TEXT_MAX 1024
#define NS_PER_S 1000000000ull

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

struct rate_limit_config {
	struct rule rules[RULES_MAX];
	int rule_count;
	enum headers_mode headers;
	int status;
	int shadow;
};

/* Per kernel: each rule's counters in the shared table, found at the
 * rule's first request (the route's name is known then). */
struct rate_limit_kernel {
	struct gw_rate_counter *counters[RULES_MAX];
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

static int rate_limit_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			      struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const allowed[] = {"type", "rules", "headers", "status", "shadow", NULL};
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

static enum gw_filter_result refuse(struct gw_stage *stage_ptr, uint64_t retry_ns)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	char seconds[24];

	snprintf(seconds, sizeof(seconds), "%llu", (unsigned long long)((retry_ns + NS_PER_S - 1) / NS_PER_S));
	/* The answer does not come back through this stage's response_head:
	 * its headers go with it. */
	if (gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "retry-after", seconds) == -1 || state_headers(stage_ptr) == -1)
		return gw_stage_fail(stage_ptr, "rate_limit: no room for the rate limit headers");
	gw_exchange_respond_error(ex_ptr, config_ptr->status, "rate limit exceeded");
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
	(void)compiled_ptr;
	/* The counters live in the shared table: a new state finds them
	 * again by name. */
	(void)previous_ptr;
	return calloc(1, sizeof(struct rate_limit_kernel));
}

static void rate_limit_kernel_state_free(void *state_ptr)
{
	free(state_ptr);
}

struct taken {
	uint8_t key[GW_RATE_KEY_BYTES];
	uint64_t interval_ns;
	uint64_t burst;
};

static enum gw_filter_result rate_limit_request_head(struct gw_stage *stage_ptr)
{
	const struct rate_limit_config *config_ptr = gw_stage_config(stage_ptr);
	struct rate_limit_request *request_ptr = gw_stage_state(stage_ptr);
	struct gw_rate_table *table_ptr = gw_rate_table_instance();
	struct rate_limit_kernel *kernel_ptr = gw_stage_kernel_state(stage_ptr);
	uint64_t now_ns = vk_sys_now_ns(); /* read once per dispatch: every kernel's clock is the same one */
	struct taken taken[RULES_MAX];
	int taken_count = 0;
	char text[KEY_TEXT_MAX];

	if (!table_ptr)
		return gw_stage_fail(stage_ptr, "rate_limit: no rate table");
	for (int r = 0; r < config_ptr->rule_count; r++) {
		const struct rule *rule_ptr = &config_ptr->rules[r];
		long len = key_text(stage_ptr, rule_ptr, text, sizeof(text));
		const struct limit *limit_ptr;
		struct gw_rate_verdict v;

		if (len < 0)
			continue;
		limit_ptr = limit_for(rule_ptr, text, (size_t)len);
		{
			const void *parts[] = {limit_ptr->identity, text};
			size_t lens[] = {limit_ptr->identity_len, (size_t)len};

			gw_rate_table_key(table_ptr, parts, lens, 2, taken[taken_count].key);
		}
		gw_rate_table_take(table_ptr, taken[taken_count].key, limit_ptr->interval_ns,
				   (uint64_t)limit_ptr->burst, now_ns, &v);
		request_ptr->seen[request_ptr->counted].rule = (uint8_t)r;
		request_ptr->seen[request_ptr->counted].limit_ptr = limit_ptr;
		request_ptr->seen[request_ptr->counted].remaining = v.remaining;
		request_ptr->seen[request_ptr->counted].reset_s = (v.reset_ns + NS_PER_S - 1) / NS_PER_S;
		request_ptr->counted++;
		count(stage_ptr, kernel_ptr, r,
		      v.admitted	   ? GW_RATE_ALLOWED
		      : config_ptr->shadow ? GW_RATE_SHADOW_LIMITED
					   : GW_RATE_LIMITED);
		if (v.admitted) {
			taken[taken_count].interval_ns = limit_ptr->interval_ns;
			taken[taken_count++].burst = (uint64_t)limit_ptr->burst;
			continue;
		}
		if (config_ptr->shadow) {
			fprintf(stderr, "vkgw: rate_limit: rule %s would refuse key %.*s (shadow)\n", rule_ptr->name,
				(int)len, text);
			continue;
		}
		/* What the rules before took goes back: a refused request
		 * counts against none. */
		while (taken_count > 0) {
			taken_count--;
			gw_rate_table_give_back(table_ptr, taken[taken_count].key, taken[taken_count].interval_ns,
						taken[taken_count].burst, now_ns);
		}
		return refuse(stage_ptr, v.retry_after_ns);
	}
	return GW_FILTER_CONTINUE;
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
