/* gw_json_check: reading JSON members with their type and range checked,
 * each problem reported under the member's pointer. The wording of these
 * messages is what users see for most configuration mistakes. */
#include "gw_json_check.h"
#include "gw_json_pos.h"
#include "gw_arena.h"
#include "gw_diag.h"

#include <stdio.h>
#include <string.h>

const char *gw_json_type_name(const json_t *value_ptr)
{
	switch (json_typeof(value_ptr)) {
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
	case JSON_NULL:
		return "null";
	}
	return "an unknown value";
}

static const char *out_of_memory(struct gw_json_check *check_ptr)
{
	check_ptr->out_of_memory = 1;
	return "";
}

const char *gw_json_quote(struct gw_json_check *check_ptr, const char *text)
{
	size_t len = strlen(text);
	size_t cut = len;
	char *quoted_ptr, *out_ptr;

	if (cut > GW_JSON_QUOTE_MAX) {
		cut = GW_JSON_QUOTE_MAX;
		while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
			cut--;
	}
	/* Worst case every byte becomes \u00XX; then quotes and "...". */
	quoted_ptr = gw_arena_alloc(check_ptr->scratch_ptr, cut * 6 + 6);
	if (!quoted_ptr)
		return out_of_memory(check_ptr);
	out_ptr = quoted_ptr;
	*out_ptr++ = '"';
	for (size_t i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '"' || c == '\\') {
			*out_ptr++ = '\\';
			*out_ptr++ = (char)c;
		} else if (c == '\n') {
			out_ptr = stpcpy(out_ptr, "\\n");
		} else if (c == '\t') {
			out_ptr = stpcpy(out_ptr, "\\t");
		} else if (c < 0x20 || c == 0x7F) {
			out_ptr += sprintf(out_ptr, "\\u%04x", c);
		} else {
			*out_ptr++ = (char)c;
		}
	}
	*out_ptr++ = '"';
	if (cut < len)
		out_ptr = stpcpy(out_ptr, "...");
	*out_ptr = '\0';
	return quoted_ptr;
}

const char *gw_json_member_pointer(struct gw_json_check *check_ptr, const char *pointer, const char *key)
{
	const char *member = gw_json_pointer_member(check_ptr->scratch_ptr, pointer, key);

	return member ? member : out_of_memory(check_ptr);
}

const char *gw_json_index_pointer(struct gw_json_check *check_ptr, const char *pointer, size_t index)
{
	const char *element = gw_json_pointer_index(check_ptr->scratch_ptr, pointer, index);

	return element ? element : out_of_memory(check_ptr);
}

/* "a, b, c" or, quoted, "\"a\", \"b\", \"c\"". */
static const char *join_names(struct gw_json_check *check_ptr, const char *const *names_ptr, int quoted)
{
	size_t len = 1;
	char *list_ptr, *out_ptr;

	for (int i = 0; names_ptr[i]; i++)
		len += strlen(names_ptr[i]) + 4;
	list_ptr = gw_arena_alloc(check_ptr->scratch_ptr, len);
	if (!list_ptr)
		return out_of_memory(check_ptr);
	out_ptr = list_ptr;
	for (int i = 0; names_ptr[i]; i++) {
		if (i)
			out_ptr = stpcpy(out_ptr, ", ");
		if (quoted)
			*out_ptr++ = '"';
		out_ptr = stpcpy(out_ptr, names_ptr[i]);
		if (quoted)
			*out_ptr++ = '"';
	}
	*out_ptr = '\0';
	return list_ptr;
}

static int is_allowed(const char *key, const char *const *allowed_ptr)
{
	for (int i = 0; allowed_ptr[i]; i++)
		if (strcmp(key, allowed_ptr[i]) == 0)
			return 1;
	return 0;
}

int gw_json_check_object(struct gw_json_check *check_ptr, const json_t *value_ptr, const char *pointer,
			 const char *const *allowed_ptr)
{
	if (!json_is_object(value_ptr))
		return gw_diag_error(check_ptr->diag_ptr, pointer, "expected an object, not %s",
				     gw_json_type_name(value_ptr));
	for (void *iter_ptr = json_object_iter((json_t *)value_ptr); iter_ptr;
	     iter_ptr = json_object_iter_next((json_t *)value_ptr, iter_ptr)) {
		const char *key = json_object_iter_key(iter_ptr);

		if (is_allowed(key, allowed_ptr))
			continue;
		gw_diag_error_key(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, key),
				  "unknown key %s; allowed keys: %s", gw_json_quote(check_ptr, key),
				  join_names(check_ptr, allowed_ptr, 0));
	}
	return 0;
}

int gw_json_check_required(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer,
			   const char *key)
{
	if (json_object_get(object_ptr, key))
		return 0;
	return gw_diag_error(check_ptr->diag_ptr, pointer, "missing required key \"%s\"", key);
}

int gw_json_check_one_of(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer,
			 const char *const *keys_ptr)
{
	int first = -1;

	for (int i = 0; keys_ptr[i]; i++) {
		if (!json_object_get(object_ptr, keys_ptr[i]))
			continue;
		if (first == -1) {
			first = i;
			continue;
		}
		gw_diag_error_key(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, keys_ptr[i]),
				  "\"%s\" cannot be used together with \"%s\"", keys_ptr[i], keys_ptr[first]);
	}
	if (first == -1)
		gw_diag_error(check_ptr->diag_ptr, pointer, "must have one of %s", join_names(check_ptr, keys_ptr, 1));
	return first;
}

/* Whether a JSON real has no fraction (1e3, 5.0). Beyond 2^63 every double
 * is a whole number. */
static int is_integral(double number)
{
	if (number >= 9223372036854775808.0 || number <= -9223372036854775808.0)
		return 1;
	return (double)(long long)number == number;
}

int gw_json_check_int(struct gw_json_check *check_ptr, const json_t *value_ptr, const char *pointer, long long min,
		      long long max, long long *out_ptr)
{
	if (json_is_integer(value_ptr)) {
		long long number = json_integer_value(value_ptr);

		if (number >= min && number <= max) {
			*out_ptr = number;
			return 0;
		}
		return gw_diag_error(check_ptr->diag_ptr, pointer, "must be from %lld to %lld, not %lld", min, max,
				     number);
	}
	if (json_is_real(value_ptr) && is_integral(json_real_value(value_ptr))) {
		double number = json_real_value(value_ptr);

		if (number >= (double)min && number <= (double)max) {
			*out_ptr = (long long)number;
			return 0;
		}
		return gw_diag_error(check_ptr->diag_ptr, pointer, "must be from %lld to %lld, not %.15g", min, max,
				     number);
	}
	return gw_diag_error(check_ptr->diag_ptr, pointer, "expected an integer from %lld to %lld, not %s", min, max,
			     gw_json_type_name(value_ptr));
}

int gw_json_read_int(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
		     long long min, long long max, long long dflt, long long *out_ptr)
{
	const json_t *value_ptr = json_object_get(object_ptr, key);

	*out_ptr = dflt;
	if (!value_ptr)
		return 0;
	return gw_json_check_int(check_ptr, value_ptr, gw_json_member_pointer(check_ptr, pointer, key), min, max,
				 out_ptr);
}

int gw_json_read_int_field(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer,
			   const char *key, int min, int max, int dflt, int *out_ptr)
{
	long long value;
	int rc = gw_json_read_int(check_ptr, object_ptr, pointer, key, min, max, dflt, &value);

	*out_ptr = (int)value;
	return rc;
}

int gw_json_read_bool(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
		      int dflt, int *out_ptr)
{
	const json_t *value_ptr = json_object_get(object_ptr, key);

	*out_ptr = dflt;
	if (!value_ptr)
		return 0;
	if (!json_is_boolean(value_ptr))
		return gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, key),
				     "expected a boolean, not %s", gw_json_type_name(value_ptr));
	*out_ptr = json_is_true(value_ptr);
	return 0;
}

int gw_json_read_string(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			const char *dflt, const char **out_ptr)
{
	const json_t *value_ptr = json_object_get(object_ptr, key);
	const char *copy;

	*out_ptr = dflt;
	if (!value_ptr)
		return 0;
	if (!json_is_string(value_ptr))
		return gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, key),
				     "expected a string, not %s", gw_json_type_name(value_ptr));
	copy = gw_arena_strndup(check_ptr->arena_ptr, json_string_value(value_ptr), json_string_length(value_ptr));
	if (!copy) {
		out_of_memory(check_ptr);
		return -1;
	}
	*out_ptr = copy;
	return 0;
}

int gw_json_read_enum(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
		      const char *const *names_ptr, int dflt, int *out_ptr)
{
	const json_t *value_ptr = json_object_get(object_ptr, key);

	*out_ptr = dflt;
	if (!value_ptr)
		return 0;
	if (json_is_string(value_ptr)) {
		for (int i = 0; names_ptr[i]; i++) {
			if (strcmp(json_string_value(value_ptr), names_ptr[i]) == 0) {
				*out_ptr = i;
				return 0;
			}
		}
		return gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, key),
				     "must be one of %s, not %s", join_names(check_ptr, names_ptr, 1),
				     gw_json_quote(check_ptr, json_string_value(value_ptr)));
	}
	return gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, key),
			     "expected one of %s, not %s", join_names(check_ptr, names_ptr, 1),
			     gw_json_type_name(value_ptr));
}

int gw_json_read_array(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
		       size_t min_items, const json_t **out_ptr)
{
	const json_t *value_ptr = json_object_get(object_ptr, key);

	*out_ptr = NULL;
	if (!value_ptr)
		return 0;
	if (!json_is_array(value_ptr))
		return gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, key),
				     "expected an array, not %s", gw_json_type_name(value_ptr));
	if (json_array_size(value_ptr) < min_items) {
		if (min_items == 1)
			return gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, key),
					     "must not be empty");
		return gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, key),
				     "must have at least %zu elements", min_items);
	}
	*out_ptr = value_ptr;
	return 0;
}

int gw_json_read_object(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			const json_t **out_ptr)
{
	const json_t *value_ptr = json_object_get(object_ptr, key);

	*out_ptr = NULL;
	if (!value_ptr)
		return 0;
	if (!json_is_object(value_ptr))
		return gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, key),
				     "expected an object, not %s", gw_json_type_name(value_ptr));
	*out_ptr = value_ptr;
	return 0;
}
