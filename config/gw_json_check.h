#ifndef GW_JSON_CHECK_H
#define GW_JSON_CHECK_H

/* gw_json_check: typed reads of JSON object members that report every
 * problem to a gw_diag under the member's JSON pointer and go on. Each
 * read either fills *out (the value, or the default when the member is
 * absent) and returns 0, or reports and returns -1 leaving *out at the
 * default, so a loader can read a whole object and collect every problem.
 *
 * Used by the configuration loader; it depends on nothing above gateway/
 * (jansson, gw_diag, gw_arena), so filters could share it if it moved. */

#include <jansson.h>
#include <stddef.h>

struct gw_diag;
struct gw_arena;

struct gw_json_check {
	struct gw_diag *diag_ptr;
	struct gw_arena *arena_ptr;   /* strings read are copied here */
	struct gw_arena *scratch_ptr; /* pointers and quoted text for messages */
	int out_of_memory;	      /* an allocation failed somewhere */
};

/* "an object", "an array", "a string", "an integer", "a real number",
 * "a boolean" or "null": how messages name a value's type. */
const char *gw_json_type_name(const json_t *value_ptr);
/* `text` as a JSON string literal for a message: quoted, escaped, cut
 * after GW_JSON_QUOTE_MAX bytes with "...". */
#define GW_JSON_QUOTE_MAX 80
const char *gw_json_quote(struct gw_json_check *check_ptr, const char *text);

/* The pointer of member `key` or element `index` under `pointer`, in the
 * scratch arena ("" if out of memory, and out_of_memory is set). */
const char *gw_json_member_pointer(struct gw_json_check *check_ptr, const char *pointer, const char *key);
const char *gw_json_index_pointer(struct gw_json_check *check_ptr, const char *pointer, size_t index);

/* Checks that `value_ptr` is an object and reports each key not in `allowed_ptr`
 * (NULL-terminated) at the key's position. -1 only if not an object. */
int gw_json_check_object(struct gw_json_check *check_ptr, const json_t *value_ptr, const char *pointer,
			 const char *const *allowed_ptr);
/* Reports "missing required key" on `object_ptr` if `key` is absent. */
int gw_json_check_required(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer,
			   const char *key);
/* Of `keys_ptr` (NULL-terminated) exactly one must be present in `object_ptr`:
 * reports none at the object and each extra at its key. The index of the
 * first present, or -1. */
int gw_json_check_one_of(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer,
			 const char *const *keys_ptr);

/* Integers: absent gives `dflt`; a real with no fraction counts as an
 * integer (as in JSON Schema). Messages give the range. */
int gw_json_read_int(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
		     long long min, long long max, long long dflt, long long *out_ptr);
/* The same into an int field, for ranges that lie within int. */
int gw_json_read_int_field(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer,
			   const char *key, int min, int max, int dflt, int *out_ptr);
/* The same for a value already in hand (an array element). */
int gw_json_check_int(struct gw_json_check *check_ptr, const json_t *value_ptr, const char *pointer, long long min,
		      long long max, long long *out_ptr);
int gw_json_read_bool(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
		      int dflt, int *out_ptr);
/* Strings are copied into the check's arena; `dflt` is used as it is. */
int gw_json_read_string(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			const char *dflt, const char **out_ptr);
/* One of `names_ptr` (NULL-terminated); *out_ptr is the index. */
int gw_json_read_enum(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
		      const char *const *names_ptr, int dflt, int *out_ptr);
/* An array member: *out_ptr is NULL when absent; -1 if it is not an array or
 * has fewer than `min_items` elements. */
int gw_json_read_array(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
		       size_t min_items, const json_t **out_ptr);
/* An object member: *out_ptr is NULL when absent; -1 if it is not an object
 * (its keys are not checked here). */
int gw_json_read_object(struct gw_json_check *check_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			const json_t **out_ptr);

#endif
