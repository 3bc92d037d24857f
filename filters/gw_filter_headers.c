/* gw_filter_headers: adds, sets and removes request and response headers.
 *
 *   {"type": "headers",
 *    "request":  {"set": {"name": "value"}, "add": {...}, "remove": ["name"]},
 *    "response": {...the same...}}
 *
 * Within a side, removes go first, then sets, then adds, whatever the
 * order of the keys in the file. Request edits are made on the way in;
 * response edits on the way back, so a set overrides what the upstream
 * (or a later filter answering itself) said. */
#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filters.h"

#include <string.h>

/* Lengths counted once, at compile: nothing is measured per request. */
struct headers_edit {
	enum gw_header_op op;
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct headers_side {
	const struct headers_edit *edits_ptr;
	int count;
};

struct headers_config {
	struct headers_side request;
	struct headers_side response;
};

static int check_name(struct gw_filter_json *fj_ptr, const char *name, const char *pointer, int at_key)
{
	int (*report)(struct gw_diag *, const char *, const char *, ...) = at_key ? gw_diag_error_key : gw_diag_error;

	if (!gw_header_name_valid(name, strlen(name)))
		report(fj_ptr->diag_ptr, pointer, "\"%s\" is not a valid header name", name);
	else if (gw_header_name_reserved(name, strlen(name)))
		report(fj_ptr->diag_ptr, pointer, "header \"%s\" is written by the gateway and cannot be edited", name);
	else
		return 0;
	fj_ptr->failed = 1;
	return -1;
}

/* The members of a "set" or "add" object, appended to edits_ptr. */
static void compile_values(struct gw_filter_json *fj_ptr, const json_t *side_ptr, const char *pointer, const char *key,
			   enum gw_header_op op, struct headers_edit *edits_ptr, int *count_ptr)
{
	char at[GW_FILTER_POINTER_MAX], member_at[GW_FILTER_POINTER_MAX];
	const json_t *object_ptr, *value_ptr;
	const char *name;

	if (gw_filter_json_object(fj_ptr, side_ptr, pointer, key, &object_ptr) == -1 || !object_ptr)
		return;
	gw_filter_json_pointer(at, sizeof(at), pointer, key);
	json_object_foreach((json_t *)object_ptr, name, value_ptr) {
		gw_filter_json_pointer(member_at, sizeof(member_at), at, name);
		if (check_name(fj_ptr, name, member_at, 1) == -1)
			continue;
		if (!json_is_string(value_ptr)) {
			gw_diag_error(fj_ptr->diag_ptr, member_at, "expected a string");
			fj_ptr->failed = 1;
			continue;
		}
		if (!gw_header_value_valid(json_string_value(value_ptr), json_string_length(value_ptr)) ||
		    strlen(json_string_value(value_ptr)) != json_string_length(value_ptr)) {
			gw_diag_error(fj_ptr->diag_ptr, member_at,
				      "not a valid header value (control characters, or space at either end)");
			fj_ptr->failed = 1;
			continue;
		}
		edits_ptr[*count_ptr] = (struct headers_edit){
			.op = op,
			.name = gw_arena_strdup(fj_ptr->arena_ptr, name),
			.name_len = strlen(name),
			.value = gw_arena_strdup(fj_ptr->arena_ptr, json_string_value(value_ptr)),
			.value_len = json_string_length(value_ptr),
		};
		(*count_ptr)++;
	}
}

static void compile_side(struct gw_filter_json *fj_ptr, const json_t *config_ptr, const char *pointer, const char *key,
			 struct headers_side *side_ptr)
{
	static const char *const keys[] = {"set", "add", "remove", NULL};
	char at[GW_FILTER_POINTER_MAX], remove_at[GW_FILTER_POINTER_MAX], item_at[GW_FILTER_POINTER_MAX];
	const json_t *side_json_ptr;
	const char **removes_ptr;
	struct headers_edit *edits_ptr;
	size_t most;
	int remove_count, count = 0;

	if (gw_filter_json_object(fj_ptr, config_ptr, pointer, key, &side_json_ptr) == -1 || !side_json_ptr)
		return;
	gw_filter_json_pointer(at, sizeof(at), pointer, key);
	gw_filter_json_keys(fj_ptr, side_json_ptr, at, keys);
	gw_filter_json_strings(fj_ptr, side_json_ptr, at, "remove", &removes_ptr, &remove_count);
	most = (size_t)remove_count + json_object_size(json_object_get(side_json_ptr, "set")) +
	       json_object_size(json_object_get(side_json_ptr, "add"));
	edits_ptr = gw_arena_alloc(fj_ptr->arena_ptr, sizeof(*edits_ptr) * (most ? most : 1));
	if (!edits_ptr) {
		fj_ptr->failed = 1;
		return;
	}
	gw_filter_json_pointer(remove_at, sizeof(remove_at), at, "remove");
	for (int i = 0; i < remove_count; i++) {
		if (!removes_ptr[i] ||
		    check_name(fj_ptr, removes_ptr[i],
			       gw_filter_json_index(item_at, sizeof(item_at), remove_at, (size_t)i), 0) == -1)
			continue;
		edits_ptr[count++] =
			(struct headers_edit){GW_HEADER_REMOVE, removes_ptr[i], strlen(removes_ptr[i]), "", 0};
	}
	compile_values(fj_ptr, side_json_ptr, at, "set", GW_HEADER_SET, edits_ptr, &count);
	compile_values(fj_ptr, side_json_ptr, at, "add", GW_HEADER_ADD, edits_ptr, &count);
	side_ptr->edits_ptr = edits_ptr;
	side_ptr->count = count;
}

static int headers_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			   struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const keys[] = {"type", "request", "response", NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct headers_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));

	if (!config_ptr)
		return -1;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, keys) == 0) {
		compile_side(&fj, config_json_ptr, pointer, "request", &config_ptr->request);
		compile_side(&fj, config_json_ptr, pointer, "response", &config_ptr->response);
	}
	*compiled_ptr = config_ptr;
	return fj.failed ? -1 : 0;
}

/* The side's edits, in order; a 500 when the exchange has no room left. */
static enum gw_filter_result apply_side(struct gw_stage *stage_ptr, enum gw_exchange_side side,
					const struct headers_side *side_ptr)
{
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);

	for (int i = 0; i < side_ptr->count; i++) {
		const struct headers_edit *e_ptr = &side_ptr->edits_ptr[i];

		if (gw_exchange_edit(ex_ptr, side, e_ptr->op, e_ptr->name, e_ptr->name_len, e_ptr->value,
				     e_ptr->value_len) == -1)
			return gw_stage_fail(stage_ptr, "headers: no room left for the edits");
	}
	return GW_FILTER_CONTINUE;
}

static enum gw_filter_result headers_request_head(struct gw_stage *stage_ptr)
{
	const struct headers_config *config_ptr = gw_stage_config(stage_ptr);

	return apply_side(stage_ptr, GW_SIDE_REQUEST, &config_ptr->request);
}

static enum gw_filter_result headers_response_head(struct gw_stage *stage_ptr)
{
	const struct headers_config *config_ptr = gw_stage_config(stage_ptr);

	return apply_side(stage_ptr, GW_SIDE_RESPONSE, &config_ptr->response);
}

const struct gw_filter_type gw_filter_headers_type = {
	.name = "headers",
	.trusted = 1,
	.compile = headers_compile,
	.request_head = headers_request_head,
	.response_head = headers_response_head,
};
