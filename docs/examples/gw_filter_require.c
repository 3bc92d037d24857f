/* gw_filter_require: {"type": "require", "header": "x-api-key"}
 *
 * A handler that never blocks: 401 unless the request carries the header;
 * otherwise the key is attached to the request as the value "api_key",
 * for the stages after this one. */
#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter.h"
#include "gw_filter_json.h"

struct require_config {
	const char *header;
};

static int require_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			   struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const keys[] = {"type", "header", NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct require_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));

	if (!config_ptr)
		return -1;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, keys) == 0)
		gw_filter_json_string(&fj, config_json_ptr, pointer, "header", "x-api-key", &config_ptr->header);
	*compiled_ptr = config_ptr;
	return fj.failed ? -1 : 0;
}

static enum gw_filter_result require_request_head(struct gw_stage *stage_ptr)
{
	const struct require_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	const char *key;
	size_t len;

	if (!gw_exchange_request_header(ex_ptr, config_ptr->header, &key, &len)) {
		gw_exchange_respond_error(ex_ptr, 401, "missing credentials");
		return GW_FILTER_RESPOND;
	}
	if (gw_exchange_set_value(ex_ptr, "api_key", key, len) == -1)
		return gw_stage_fail(stage_ptr, "require: no room for the key");
	return GW_FILTER_CONTINUE;
}

const struct gw_filter_type gw_filter_require_type = {
	.name = "require",
	.compile = require_compile,
	.request_head = require_request_head,
};
