/* gw_filter_retry: retries with deadlines. The request goes again when
 * an attempt fails in a way the next endpoint may not:
 *
 *   {"type": "retry", "attempts": 3,
 *    "retry_on": ["connect-failure", "reset", "timeout"],
 *    "on_statuses": [502, 503, 504], "per_try_timeout_ms": 0,
 *    "backoff": {"base_ms": 25, "max_ms": 250}, "retry_after": true,
 *    "hedge": {"delay": "p95", "delay_ms": 50}}
 *
 * "attempts" counts the first one too. Failures without a response head
 * ("retry_on") are the connection's to retry, by the policy this filter
 * states in the request head (gw_exchange_set_retry_policy): it decides
 * with the request's deadline, the upstream's retry budget, the backoff
 * and the endpoints already tried (gateway/gw_conn_next.c). Statuses are
 * the upstream's, asked for here in the response head.
 *
 * After the request went out, only GET, HEAD, OPTIONS, PUT, DELETE and
 * TRACE, and requests with an Idempotency-Key, are retried, other
 * methods only with "all_methods": true, as they may not be safe to
 * repeat; a request never sent (the connect failed, no pooled connection)
 * always may be. The body of a request that may be retried is kept whole
 * for this (up to http.max_buffered_body_bytes), any other streams and is
 * not retried once sent. A hedge (opt-in) races a second attempt against
 * a first one slow to answer, for requests safe to repeat whose body is
 * kept whole. */
#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filters.h"
#include "gw_http.h"

#include <string.h>

#define RETRY_STATUSES_MAX 16

struct retry_config {
	struct gw_retry_policy policy;
	int statuses[RETRY_STATUSES_MAX];
	int status_count;
};

static const struct {
	const char *name;
	unsigned bit;
} retry_on_names[] = {
	{"connect-failure", GW_RETRY_ON_CONNECT_FAILURE},
	{"reset", GW_RETRY_ON_RESET},
	{"timeout", GW_RETRY_ON_TIMEOUT},
};
#define RETRY_ON_NAMES "\"connect-failure\", \"reset\" or \"timeout\""

static int retry_on_compile(struct gw_filter_json *fj_ptr, const json_t *config_json_ptr, const char *pointer,
			    unsigned *bits_ptr)
{
	const json_t *list_ptr = json_object_get(config_json_ptr, "retry_on");
	char at[GW_FILTER_POINTER_MAX], item[GW_FILTER_POINTER_MAX];

	*bits_ptr = GW_RETRY_ON_CONNECT_FAILURE | GW_RETRY_ON_RESET | GW_RETRY_ON_TIMEOUT;
	if (!list_ptr)
		return 0;
	gw_filter_json_pointer(at, sizeof(at), pointer, "retry_on");
	if (!json_is_array(list_ptr))
		return gw_filter_json_fail(fj_ptr, at, "expected an array of " RETRY_ON_NAMES);
	*bits_ptr = 0;
	for (size_t i = 0; i < json_array_size(list_ptr); i++) {
		const char *name = json_string_value(json_array_get(list_ptr, i));
		size_t k = 0;

		while (name && k < sizeof(retry_on_names) / sizeof(retry_on_names[0]) &&
		       strcmp(name, retry_on_names[k].name) != 0)
			k++;
		if (!name || k == sizeof(retry_on_names) / sizeof(retry_on_names[0])) {
			gw_filter_json_fail(fj_ptr, gw_filter_json_index(item, sizeof(item), at, i),
					    "expected " RETRY_ON_NAMES);
			continue;
		}
		*bits_ptr |= retry_on_names[k].bit;
	}
	return 0;
}

/* "backoff": {"base_ms", "max_ms"}: Envoy's defaults, 25 ms and 10 times that. */
static void backoff_compile(struct gw_filter_json *fj_ptr, const json_t *config_json_ptr, const char *pointer,
			    struct gw_retry_policy *policy_ptr)
{
	static const char *const keys[] = {"base_ms", "max_ms", NULL};
	const json_t *backoff_ptr = NULL;
	char at[GW_FILTER_POINTER_MAX];
	long long base = 25, max;

	gw_filter_json_pointer(at, sizeof(at), pointer, "backoff");
	if (gw_filter_json_object(fj_ptr, config_json_ptr, pointer, "backoff", &backoff_ptr) == -1)
		return;
	if (backoff_ptr && gw_filter_json_keys(fj_ptr, backoff_ptr, at, keys) == -1)
		return;
	gw_filter_json_int(fj_ptr, backoff_ptr, at, "base_ms", 0, 60000, 25, &base);
	gw_filter_json_int(fj_ptr, backoff_ptr, at, "max_ms", 0, 600000, base * 10, &max);
	if (max < base) {
		char max_at[GW_FILTER_POINTER_MAX];

		gw_filter_json_fail(fj_ptr, gw_filter_json_pointer(max_at, sizeof(max_at), at, "max_ms"),
				    "must be at least base_ms");
	}
	policy_ptr->backoff_base_ms = (uint32_t)base;
	policy_ptr->backoff_max_ms = (uint32_t)max;
}

/* "hedge": {"delay": "fixed" or "p95", "delay_ms"}: absent, none. */
static void hedge_compile(struct gw_filter_json *fj_ptr, const json_t *config_json_ptr, const char *pointer,
			  struct gw_retry_policy *policy_ptr)
{
	static const char *const keys[] = {"delay", "delay_ms", NULL};
	const json_t *hedge_ptr = NULL;
	const char *delay = NULL;
	char at[GW_FILTER_POINTER_MAX], delay_at[GW_FILTER_POINTER_MAX];
	long long delay_ms;

	gw_filter_json_pointer(at, sizeof(at), pointer, "hedge");
	if (gw_filter_json_object(fj_ptr, config_json_ptr, pointer, "hedge", &hedge_ptr) == -1 || !hedge_ptr ||
	    gw_filter_json_keys(fj_ptr, hedge_ptr, at, keys) == -1)
		return;
	if (gw_filter_json_int(fj_ptr, hedge_ptr, at, "delay_ms", 1, 60000, 50, &delay_ms) == 0)
		policy_ptr->hedge_delay_ms = (uint32_t)delay_ms;
	if (gw_filter_json_string(fj_ptr, hedge_ptr, at, "delay", "fixed", &delay) == 0 && delay) {
		if (strcmp(delay, "p95") == 0)
			policy_ptr->hedge_p95 = 1;
		else if (strcmp(delay, "fixed") != 0)
			gw_filter_json_fail(fj_ptr, gw_filter_json_pointer(delay_at, sizeof(delay_at), at, "delay"),
					    "expected \"fixed\" (delay_ms) or \"p95\" (the upstream's)");
	}
}

static int retry_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			 struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const keys[] = {
		"type",	   "attempts",	  "on_statuses", "all_methods", "retry_on", "per_try_timeout_ms",
		"backoff", "retry_after", "hedge",	 NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct retry_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));
	const json_t *statuses_ptr;
	long long attempts = 2, per_try_ms = 0;
	char at[GW_FILTER_POINTER_MAX], item[GW_FILTER_POINTER_MAX];

	if (!config_ptr)
		return -1;
	memset(config_ptr, 0, sizeof(*config_ptr));
	*compiled_ptr = config_ptr;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, keys) == -1)
		return -1;
	gw_filter_json_int(&fj, config_json_ptr, pointer, "attempts", 2, GW_EXCHANGE_ATTEMPTS_MAX, 2, &attempts);
	config_ptr->policy.attempts = (int)attempts;
	gw_filter_json_bool(&fj, config_json_ptr, pointer, "all_methods", 0, &config_ptr->policy.all_methods);
	gw_filter_json_int(&fj, config_json_ptr, pointer, "per_try_timeout_ms", 0, 3600000, 0, &per_try_ms);
	config_ptr->policy.per_try_ms = (uint32_t)per_try_ms;
	gw_filter_json_bool(&fj, config_json_ptr, pointer, "retry_after", 1, &config_ptr->policy.honour_retry_after);
	retry_on_compile(&fj, config_json_ptr, pointer, &config_ptr->policy.retry_on);
	backoff_compile(&fj, config_json_ptr, pointer, &config_ptr->policy);
	hedge_compile(&fj, config_json_ptr, pointer, &config_ptr->policy);
	statuses_ptr = json_object_get(config_json_ptr, "on_statuses");
	gw_filter_json_pointer(at, sizeof(at), pointer, "on_statuses");
	if (!statuses_ptr) {
		static const int defaults[] = {502, 503, 504};

		memcpy(config_ptr->statuses, defaults, sizeof(defaults));
		config_ptr->status_count = 3;
	} else if (!json_is_array(statuses_ptr) || json_array_size(statuses_ptr) == 0 ||
		   json_array_size(statuses_ptr) > RETRY_STATUSES_MAX) {
		gw_diag_error(diag_ptr, at, "expected an array of 1 to %d statuses", RETRY_STATUSES_MAX);
		fj.failed = 1;
	} else {
		for (size_t i = 0; i < json_array_size(statuses_ptr); i++) {
			const json_t *s_ptr = json_array_get(statuses_ptr, i);

			if (!json_is_integer(s_ptr) || json_integer_value(s_ptr) < 200 ||
			    json_integer_value(s_ptr) > 599) {
				gw_diag_error(diag_ptr, gw_filter_json_index(item, sizeof(item), at, i),
					      "expected a status from 200 to 599");
				fj.failed = 1;
				continue;
			}
			config_ptr->statuses[config_ptr->status_count++] = (int)json_integer_value(s_ptr);
		}
	}
	return fj.failed ? -1 : 0;
}

static int retried_on(const struct retry_config *config_ptr, int status)
{
	for (int i = 0; i < config_ptr->status_count; i++)
		if (config_ptr->statuses[i] == status)
			return 1;
	return 0;
}

/* Safe to send twice: the method says so (RFC 9110 9.2.2), or the client
 * made it so with an Idempotency-Key, or the route accepts the risk. */
static int repeatable(const struct retry_config *config_ptr, const struct gw_exchange *ex_ptr)
{
	const char *value;
	size_t len;

	return config_ptr->policy.all_methods || gw_http_method_idempotent(gw_exchange_method(ex_ptr)) ||
	       gw_exchange_request_header(ex_ptr, "idempotency-key", &value, &len);
}

static enum gw_filter_result retry_request_head(struct gw_stage *stage_ptr)
{
	const struct retry_config *config_ptr = gw_stage_config(stage_ptr);

	gw_exchange_set_retry_policy(gw_stage_exchange(stage_ptr), &config_ptr->policy);
	return GW_FILTER_CONTINUE;
}

/* An upstream's status asks for another attempt; the gateway's own
 * errors after a failed attempt were the connection's to retry
 * (retry_on), and are not asked for twice. */
static enum gw_filter_result retry_response_head(struct gw_stage *stage_ptr)
{
	const struct retry_config *config_ptr = gw_stage_config(stage_ptr);
	const struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);

	if (gw_exchange_response_is_upstreams(ex_ptr) && retried_on(config_ptr, gw_exchange_response_status(ex_ptr)) &&
	    gw_exchange_attempt(ex_ptr) + 1 < config_ptr->policy.attempts && repeatable(config_ptr, ex_ptr))
		return GW_FILTER_RETRY;
	return GW_FILTER_CONTINUE;
}

/* Asking for the body is what makes a request with one replayable; only
 * a body that may be sent again is worth keeping. No request_body
 * handler: the filter never reads it. */
static int retry_wants_body(const struct gw_stage *stage_ptr)
{
	return repeatable(gw_stage_config(stage_ptr), gw_stage_exchange(stage_ptr));
}

const struct gw_filter_type gw_filter_retry_type = {
	.name = "retry",
	.trusted = 1,
	.compile = retry_compile,
	.wants_body = retry_wants_body,
	.request_head = retry_request_head,
	.response_head = retry_response_head,
};
