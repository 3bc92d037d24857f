/* gw_filter_json: typed reads for filter compile() functions (see
 * gw_filter_json.h). */
#include "gw_filter_json.h"
#include "gw_arena.h"
#include "gw_config.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_json_check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int fail(struct gw_filter_json *fj_ptr)
{
	fj_ptr->failed = 1;
	return -1;
}

/* A member of another type than the one asked for, reported at its pointer. */
static int wrong_type(struct gw_filter_json *fj_ptr, const char *pointer, const char *key, const char *expected,
		      const json_t *value_ptr)
{
	char at[GW_FILTER_POINTER_MAX];

	gw_diag_error(fj_ptr->diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, key), "expected %s, not %s",
		      expected, gw_json_type_name(value_ptr));
	return fail(fj_ptr);
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

int gw_filter_json_keys(struct gw_filter_json *fj_ptr, const json_t *value_ptr, const char *pointer,
			const char *const *allowed_ptr)
{
	char at[GW_FILTER_POINTER_MAX], list[GW_FILTER_POINTER_MAX] = "";
	const char *key;
	json_t *member_ptr;
	size_t used = 0;

	if (!json_is_object(value_ptr)) {
		gw_diag_error(fj_ptr->diag_ptr, pointer, "expected an object, not %s", gw_json_type_name(value_ptr));
		return fail(fj_ptr);
	}
	for (int i = 0; allowed_ptr[i] && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", allowed_ptr[i]);
	json_object_foreach((json_t *)value_ptr, key, member_ptr) {
		int known = 0;

		(void)member_ptr;
		for (int i = 0; allowed_ptr[i] && !known; i++)
			known = strcmp(key, allowed_ptr[i]) == 0;
		if (known)
			continue;
		gw_diag_error_key(fj_ptr->diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, key),
				  "unknown key \"%s\"; allowed keys: %s", key, list);
		fail(fj_ptr);
	}
	return 0;
}

int gw_filter_json_bool(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			int dflt, int *out_ptr)
{
	const json_t *value_ptr = json_object_get(object_ptr, key);

	*out_ptr = dflt;
	if (!value_ptr)
		return 0;
	if (!json_is_boolean(value_ptr))
		return wrong_type(fj_ptr, pointer, key, "a boolean", value_ptr);
	*out_ptr = json_is_true(value_ptr);
	return 0;
}

int gw_filter_json_int(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer, const char *key,
		       long long min, long long max, long long dflt, long long *out_ptr)
{
	const json_t *value_ptr = json_object_get(object_ptr, key);
	char at[GW_FILTER_POINTER_MAX];
	long long n;

	*out_ptr = dflt;
	if (!value_ptr)
		return 0;
	gw_filter_json_pointer(at, sizeof(at), pointer, key);
	if (json_is_integer(value_ptr)) {
		n = json_integer_value(value_ptr);
	} else if (json_is_real(value_ptr) &&
		   json_real_value(value_ptr) == (double)(long long)json_real_value(value_ptr)) {
		/* 60.0 is an integer, as in JSON Schema */
		n = (long long)json_real_value(value_ptr);
	} else {
		gw_diag_error(fj_ptr->diag_ptr, at, "expected an integer from %lld to %lld, not %s", min, max,
			      gw_json_type_name(value_ptr));
		return fail(fj_ptr);
	}
	if (n < min || n > max) {
		gw_diag_error(fj_ptr->diag_ptr, at, "must be from %lld to %lld, not %lld", min, max, n);
		return fail(fj_ptr);
	}
	*out_ptr = n;
	return 0;
}

int gw_filter_json_string(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			  const char *dflt, const char **out_ptr)
{
	const json_t *value_ptr = json_object_get(object_ptr, key);

	*out_ptr = dflt;
	if (!value_ptr)
		return 0;
	if (!json_is_string(value_ptr))
		return wrong_type(fj_ptr, pointer, key, "a string", value_ptr);
	*out_ptr = gw_arena_strndup(fj_ptr->arena_ptr, json_string_value(value_ptr), json_string_length(value_ptr));
	return *out_ptr ? 0 : fail(fj_ptr);
}

int gw_filter_json_strings(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer,
			   const char *key, const char ***out_ptr, int *count_ptr)
{
	const json_t *value_ptr = json_object_get(object_ptr, key);
	char at[GW_FILTER_POINTER_MAX], item_at[GW_FILTER_POINTER_MAX];
	const char **items_ptr;
	size_t count;
	int rc = 0;

	*out_ptr = NULL;
	*count_ptr = 0;
	if (!value_ptr)
		return 0;
	gw_filter_json_pointer(at, sizeof(at), pointer, key);
	if (!json_is_array(value_ptr)) {
		gw_diag_error(fj_ptr->diag_ptr, at, "expected an array, not %s", gw_json_type_name(value_ptr));
		return fail(fj_ptr);
	}
	count = json_array_size(value_ptr);
	items_ptr = gw_arena_alloc(fj_ptr->arena_ptr, sizeof(*items_ptr) * (count ? count : 1));
	if (!items_ptr)
		return fail(fj_ptr);
	for (size_t i = 0; i < count; i++) {
		const json_t *item_ptr = json_array_get(value_ptr, i);

		if (!json_is_string(item_ptr)) {
			gw_diag_error(fj_ptr->diag_ptr, gw_filter_json_index(item_at, sizeof(item_at), at, i),
				      "expected a string, not %s", gw_json_type_name(item_ptr));
			rc = fail(fj_ptr);
			continue;
		}
		items_ptr[i] =
			gw_arena_strndup(fj_ptr->arena_ptr, json_string_value(item_ptr), json_string_length(item_ptr));
		if (!items_ptr[i])
			rc = fail(fj_ptr);
	}
	*out_ptr = items_ptr;
	*count_ptr = (int)count;
	return rc;
}

int gw_filter_json_object(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			  const json_t **out_ptr)
{
	const json_t *value_ptr = json_object_get(object_ptr, key);

	*out_ptr = NULL;
	if (!value_ptr)
		return 0;
	if (!json_is_object(value_ptr))
		return wrong_type(fj_ptr, pointer, key, "an object", value_ptr);
	*out_ptr = value_ptr;
	return 0;
}

int gw_filter_json_fail(struct gw_filter_json *fj_ptr, const char *at, const char *message)
{
	gw_diag_error(fj_ptr->diag_ptr, at, "%s", message);
	fj_ptr->failed = 1;
	return -1;
}

int gw_filter_json_header(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			  const char *dflt, const char **out_ptr)
{
	char at[GW_FILTER_POINTER_MAX];
	size_t len;

	if (gw_filter_json_string(fj_ptr, object_ptr, pointer, key, dflt, out_ptr) == -1 || !*out_ptr)
		return fj_ptr->failed ? -1 : 0;
	len = strlen(*out_ptr);
	gw_filter_json_pointer(at, sizeof(at), pointer, key);
	if (!gw_header_name_valid(*out_ptr, len)) {
		gw_diag_error(fj_ptr->diag_ptr, at, "\"%s\" is not a valid header name", *out_ptr);
		return fail(fj_ptr);
	}
	if (gw_header_name_reserved(*out_ptr, len)) {
		gw_diag_error(fj_ptr->diag_ptr, at, "header \"%s\" is the gateway's own: a filter cannot use it",
			      *out_ptr);
		return fail(fj_ptr);
	}
	return 0;
}

char *gw_filter_json_read_file(struct gw_filter_json *fj_ptr, const char *written, const char *at, size_t max_bytes,
			       const char **path_ptr)
{
	const char *path = gw_config_file_path(fj_ptr->arena_ptr, written);
	FILE *file_ptr = path ? fopen(path, "re") : NULL;
	char problem[128] = "";
	char *text = NULL;
	long size = -1;

	*path_ptr = path ? path : written;
	if (!file_ptr) {
		gw_diag_error(fj_ptr->diag_ptr, at, "cannot read %s: %s", *path_ptr, strerror(path ? errno : ENOMEM));
		fail(fj_ptr);
		return NULL;
	}
	if (fseek(file_ptr, 0, SEEK_END) == -1 || (size = ftell(file_ptr)) < 0 || fseek(file_ptr, 0, SEEK_SET) == -1)
		snprintf(problem, sizeof(problem), "%s", strerror(errno));
	else if ((size_t)size > max_bytes)
		snprintf(problem, sizeof(problem), "larger than %zu bytes", max_bytes);
	else if (!(text = gw_arena_alloc(fj_ptr->arena_ptr, (size_t)size + 1)))
		snprintf(problem, sizeof(problem), "%s", strerror(ENOMEM));
	else if (fread(text, 1, (size_t)size, file_ptr) != (size_t)size || getc(file_ptr) != EOF)
		snprintf(problem, sizeof(problem), "it changed while it was read");
	fclose(file_ptr);
	if (problem[0]) {
		gw_diag_error(fj_ptr->diag_ptr, at, "cannot read %s: %s", *path_ptr, problem);
		fail(fj_ptr);
		return NULL;
	}
	text[size] = '\0';
	return text;
}

char *gw_filter_file_line(char **cursor_ptr)
{
	char *line = *cursor_ptr, *end;

	if (!line || !*line)
		return NULL;
	end = strchr(line, '\n');
	*cursor_ptr = end ? end + 1 : line + strlen(line);
	if (end) {
		if (end > line && end[-1] == '\r')
			end--;
		*end = '\0';
	}
	return line;
}

int gw_filter_file_line_count(const char *text)
{
	int lines = 0;

	for (; *text; text++)
		lines += *text == '\n' || (text[1] == '\0');
	return lines;
}
