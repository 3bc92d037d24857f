/* gw_filter_json: typed reads for filter compile() functions (see
 * gw_filter_json.h). */
#include "gw_filter_json.h"
#include "gw_arena.h"
#include "gw_diag.h"

#include <stdio.h>
#include <string.h>

static const char *type_name(const json_t *value)
{
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static int fail(struct gw_filter_json *fj_ptr)
{
	fj_ptr->failed = 1;
	return -1;
}

const char *gw_filter_json_pointer(char *out, size_t len, const char *base, const char *key)
{
	size_t at = (size_t)snprintf(out, len, "%s/", base);

	for (const char *c = key; *c && at + 3 < len; c++) {
		if (*c == '~' || *c == '/') {
			out[at++] = '~';
			out[at++] = *c == '~' ? '0' : '1';
		} else {
			out[at++] = *c;
		}
	}
	if (at < len)
		out[at] = '\0';
	return out;
}

const char *gw_filter_json_index(char *out, size_t len, const char *base, size_t index)
{
	snprintf(out, len, "%s/%zu", base, index);
	return out;
}

int gw_filter_json_keys(struct gw_filter_json *fj_ptr, const json_t *value, const char *pointer,
			const char *const *allowed)
{
	char at[GW_FILTER_POINTER_MAX], list[GW_FILTER_POINTER_MAX] = "";
	const char *key;
	json_t *member;
	size_t used = 0;

	if (!json_is_object(value)) {
		gw_diag_error(fj_ptr->diag_ptr, pointer, "expected an object, not %s", type_name(value));
		return fail(fj_ptr);
	}
	for (int i = 0; allowed[i] && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", allowed[i]);
	json_object_foreach((json_t *)value, key, member) {
		int known = 0;

		(void)member;
		for (int i = 0; allowed[i] && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (known)
			continue;
		gw_diag_error_key(fj_ptr->diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, key),
				  "unknown key \"%s\"; allowed keys: %s", key, list);
		fail(fj_ptr);
	}
	return 0;
}

int gw_filter_json_bool(struct gw_filter_json *fj_ptr, const json_t *object, const char *pointer, const char *key,
			int dflt, int *out)
{
	const json_t *value = json_object_get(object, key);
	char at[GW_FILTER_POINTER_MAX];

	*out = dflt;
	if (!value)
		return 0;
	if (!json_is_boolean(value)) {
		gw_diag_error(fj_ptr->diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, key),
			      "expected a boolean, not %s", type_name(value));
		return fail(fj_ptr);
	}
	*out = json_is_true(value);
	return 0;
}

int gw_filter_json_int(struct gw_filter_json *fj_ptr, const json_t *object, const char *pointer, const char *key,
		       long long min, long long max, long long dflt, long long *out)
{
	const json_t *value = json_object_get(object, key);
	char at[GW_FILTER_POINTER_MAX];
	long long n;

	*out = dflt;
	if (!value)
		return 0;
	gw_filter_json_pointer(at, sizeof(at), pointer, key);
	if (json_is_integer(value)) {
		n = json_integer_value(value);
	} else if (json_is_real(value) && json_real_value(value) == (double)(long long)json_real_value(value)) {
		/* 60.0 is an integer, as in JSON Schema */
		n = (long long)json_real_value(value);
	} else {
		gw_diag_error(fj_ptr->diag_ptr, at, "expected an integer from %lld to %lld, not %s", min, max,
			      type_name(value));
		return fail(fj_ptr);
	}
	if (n < min || n > max) {
		gw_diag_error(fj_ptr->diag_ptr, at, "must be from %lld to %lld, not %lld", min, max, n);
		return fail(fj_ptr);
	}
	*out = n;
	return 0;
}

int gw_filter_json_string(struct gw_filter_json *fj_ptr, const json_t *object, const char *pointer, const char *key,
			  const char *dflt, const char **out)
{
	const json_t *value = json_object_get(object, key);
	char at[GW_FILTER_POINTER_MAX];

	*out = dflt;
	if (!value)
		return 0;
	if (!json_is_string(value)) {
		gw_diag_error(fj_ptr->diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, key),
			      "expected a string, not %s", type_name(value));
		return fail(fj_ptr);
	}
	*out = gw_arena_strndup(fj_ptr->arena_ptr, json_string_value(value), json_string_length(value));
	return *out ? 0 : fail(fj_ptr);
}

int gw_filter_json_strings(struct gw_filter_json *fj_ptr, const json_t *object, const char *pointer, const char *key,
			   const char ***out, int *count_out)
{
	const json_t *value = json_object_get(object, key);
	char at[GW_FILTER_POINTER_MAX], item_at[GW_FILTER_POINTER_MAX];
	const char **items_ptr;
	size_t count;
	int rc = 0;

	*out = NULL;
	*count_out = 0;
	if (!value)
		return 0;
	gw_filter_json_pointer(at, sizeof(at), pointer, key);
	if (!json_is_array(value)) {
		gw_diag_error(fj_ptr->diag_ptr, at, "expected an array, not %s", type_name(value));
		return fail(fj_ptr);
	}
	count = json_array_size(value);
	items_ptr = gw_arena_alloc(fj_ptr->arena_ptr, sizeof(*items_ptr) * (count ? count : 1));
	if (!items_ptr)
		return fail(fj_ptr);
	for (size_t i = 0; i < count; i++) {
		const json_t *item = json_array_get(value, i);

		if (!json_is_string(item)) {
			gw_diag_error(fj_ptr->diag_ptr, gw_filter_json_index(item_at, sizeof(item_at), at, i),
				      "expected a string, not %s", type_name(item));
			rc = fail(fj_ptr);
			continue;
		}
		items_ptr[i] = gw_arena_strndup(fj_ptr->arena_ptr, json_string_value(item), json_string_length(item));
		if (!items_ptr[i])
			rc = fail(fj_ptr);
	}
	*out = items_ptr;
	*count_out = (int)count;
	return rc;
}

int gw_filter_json_object(struct gw_filter_json *fj_ptr, const json_t *object, const char *pointer, const char *key,
			  const json_t **out)
{
	const json_t *value = json_object_get(object, key);
	char at[GW_FILTER_POINTER_MAX];

	*out = NULL;
	if (!value)
		return 0;
	if (!json_is_object(value)) {
		gw_diag_error(fj_ptr->diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, key),
			      "expected an object, not %s", type_name(value));
		return fail(fj_ptr);
	}
	*out = value;
	return 0;
}
