#ifndef GW_FILTER_JSON_H
#define GW_FILTER_JSON_H

/* gw_filter_json: strict reads of a filter's JSON entry for the compile()
 * functions of filters/, with the loader's message style. Each read
 * reports a problem at the member's JSON pointer, sets `failed`, and goes
 * on, so one compile() reports every problem of its entry. (config/'s
 * gw_json_check is the loader's own; these are the few reads filters need.) */

#include <jansson.h>
#include <stddef.h>

struct gw_diag;
struct gw_arena;

#define GW_FILTER_POINTER_MAX 512

struct gw_filter_json {
	struct gw_diag *diag_ptr;
	struct gw_arena *arena_ptr; /* strings and arrays read are copied here */
	int failed;
};

/* Reports `message` at `at` and sets `failed`; returns -1. */
int gw_filter_json_fail(struct gw_filter_json *fj_ptr, const char *at, const char *message);

/* `base` + "/" + `key` escaped per RFC 6901, into out[len]. */
const char *gw_filter_json_pointer(char *out, size_t len, const char *base, const char *key);
/* The same with an array index. */
const char *gw_filter_json_index(char *out, size_t len, const char *base, size_t index);

/* `value_ptr` must be an object whose keys are all in `allowed_ptr` (NULL-ended;
 * a filter entry lists "type" too). 0, or -1 if it is no object at all. */
int gw_filter_json_keys(struct gw_filter_json *fj_ptr, const json_t *value_ptr, const char *pointer,
			const char *const *allowed_ptr);

/* Members of `object_ptr`: absent gives the default; 0, or -1 reported. */
int gw_filter_json_bool(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			int dflt, int *out_ptr);
int gw_filter_json_int(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer, const char *key,
		       long long min, long long max, long long dflt, long long *out_ptr);
int gw_filter_json_string(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			  const char *dflt, const char **out_ptr);
/* An array of strings, copied: *out_ptr NULL and *count_ptr 0 when absent. */
int gw_filter_json_strings(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer,
			   const char *key, const char ***out_ptr, int *count_ptr);
/* An object member, not copied: *out_ptr NULL when absent. */
int gw_filter_json_object(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			  const json_t **out_ptr);
/* A header name the filter sets or takes out: a valid field name, not one
 * the gateway keeps to itself (gw_header_name_reserved). */
int gw_filter_json_header(struct gw_filter_json *fj_ptr, const json_t *object_ptr, const char *pointer, const char *key,
			  const char *dflt, const char **out_ptr);

/* A file an entry names ("keys_file"), for compile(): the path as written,
 * joined to the configuration file's directory when relative (so that
 * `vkgw --watch` watches it too, gw_config_file_path), read whole into the
 * arena with a NUL after it; its path in *path_ptr. NULL after reporting
 * at `at` (unreadable, or above max_bytes). */
char *gw_filter_json_read_file(struct gw_filter_json *fj_ptr, const char *written, const char *at, size_t max_bytes,
			       const char **path_ptr);
/* The lines of such a text, one by one, in place: the next line (its end
 * of line, LF or CRLF, replaced by a NUL), or NULL at the end. */
char *gw_filter_file_line(char **cursor_ptr);
/* How many lines gw_filter_file_line will give. */
int gw_filter_file_line_count(const char *text);

#endif
