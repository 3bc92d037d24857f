#ifndef GW_JSON_POS_H
#define GW_JSON_POS_H

/* gw_json_pos: where each value of a JSON text starts, by JSON pointer.
 *
 * jansson gives a line and column only for syntax errors; a problem found
 * later (a port out of range) is known by its JSON pointer (RFC 6901). This
 * scanner reads only the structure of the text (objects, arrays, strings
 * with their escapes, scalars) and records, for every value, its pointer,
 * the 1-based line and column where it starts and, for object members,
 * where the key starts. Columns count characters (UTF-8 code points), as
 * jansson does; lines end at '\n', so CRLF text counts the same. */

#include <stddef.h>

struct gw_json_pos;
struct gw_arena;

/* Nesting deeper than this stops the scan (jansson's own parser limit). */
#define GW_JSON_POS_MAX_DEPTH 2048

/* Scans `text`. Malformed text is scanned up to the first fault, so what
 * comes before it can still be found. NULL only when out of memory. */
struct gw_json_pos *gw_json_pos_scan(const char *text, size_t len);
void gw_json_pos_free(struct gw_json_pos *pos_ptr);

/* Where the value at `pointer` starts. A pointer not in the text falls back
 * to its nearest ancestor that is. Returns 0 (found), 1 (an ancestor's
 * position) or -1 (nothing scanned; *line_ptr and *column_ptr are set to 0). */
int gw_json_pos_find(const struct gw_json_pos *pos_ptr, const char *pointer, int *line_ptr, int *column_ptr);
/* The same for the key of the object member at `pointer`; an array element
 * or the root, which have no key, give their value's position. */
int gw_json_pos_find_key(const struct gw_json_pos *pos_ptr, const char *pointer, int *line_ptr, int *column_ptr);
/* The pointer of the innermost value (a member's key included) holding byte
 * `offset`; "" when none does. Names the place of a parser's error. */
const char *gw_json_pos_pointer_at(const struct gw_json_pos *pos_ptr, size_t offset);
/* Values recorded. */
int gw_json_pos_count(const struct gw_json_pos *pos_ptr);

/* `parent` + "/" + `key` with '~' and '/' escaped as "~0" and "~1", or
 * `parent` + "/" + `index`, copied into `arena_ptr`. NULL when out of memory. */
char *gw_json_pointer_member(struct gw_arena *arena_ptr, const char *parent, const char *key);
char *gw_json_pointer_index(struct gw_arena *arena_ptr, const char *parent, size_t index);

#endif
