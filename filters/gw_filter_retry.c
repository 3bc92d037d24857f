/* gw_filter_retry: sends a request again when its answer is a failure the
 * next endpoint may not have:
 *
 *   {"type": "retry", "attempts": 3, "on_statuses": [502, 503, 504]}
 *
 * "attempts" counts the first one too. The statuses are the upstream's or
 * the gateway's own (a refused connect is a 502, a timeout a 504), so a
 * dead endpoint costs a retry, not an error. The balancer picks each
 * attempt afresh. GET, HEAD, OPTIONS, PUT, DELETE and TRACE are retried,
 * other methods only with "all_methods": true, as they may not be safe to
 * repeat; the body of a request that may be retried is kept whole for
 * this (up to http.max_buffered_body_bytes), any other streams.
 *
 * This is the mechanism's first user; deadlines and budgets across
 * attempts come with the retry-with-deadline filter. */
#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filters.h"
#include "gw_http.h"

#include <string.h>

#define RETRY_STATUSES_MAX 16

struct retry_config {
	int attempts;
	int all_methods;
	int statuses[RETRY_STATUSES_MAX];
	int status_count;
};

static int retry_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			 struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const keys[] = {"type", "attempts", "on_statuses", "all_methods", NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct retry_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));
	const json_t *statuses_ptr;
	long long attempts;
	char at[GW_FILTER_POINTER_MAX], item[GW_FILTER_POINTER_MAX];

	if (!config_ptr)
		return -1;
	memset(config_ptr, 0, sizeof(*config_ptr));
	*compiled_ptr = config_ptr;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, keys) == -1)
		return -1;
	if (gw_filter_json_int(&fj, config_json_ptr, pointer, "attempts", 2, GW_EXCHANGE_ATTEMPTS_MAX, 2, &attempts) ==
	    0)
		config_ptr->attempts = (int)attempts;
	gw_filter_json_bool(&fj, config_json_ptr, pointer, "all_methods", 0, &config_ptr->all_methods);
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

static int repeatable(const struct retry_config *config_ptr, const struct gw_exchange *ex_ptr)
{
	return config_ptr->all_methods || gw_http_method_idempotent(gw_exchange_method(ex_ptr));
}

static enum gw_filter_result retry_response_head(struct gw_stage *stage_ptr)
{
	const struct retry_config *config_ptr = gw_stage_config(stage_ptr);
	const struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);

	if (retried_on(config_ptr, gw_exchange_response_status(ex_ptr)) &&
	    gw_exchange_attempt(ex_ptr) + 1 < config_ptr->attempts && repeatable(config_ptr, ex_ptr))
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
	.response_head = retry_response_head,
};
