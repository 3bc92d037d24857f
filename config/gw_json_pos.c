/* gw_json_pos: a structural scan of JSON text that notes where every value
 * and every member key starts, keyed by JSON pointer. It decodes member
 * keys (escapes included) because pointers are made of decoded keys, and
 * skips over everything else without interpreting it: jansson has already
 * parsed the values, this only says where they were. */
#include "gw_json_pos.h"
#include "gw_json_pos_s.h"
#include "gw_arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POS_FIRST_ENTRIES 64

struct pos_scan {
	const char *text;
	size_t len;
	size_t at;	/* next byte to read */
	int line;	/* of text[at] */
	int column;	/* of text[at] */
	char *path_ptr; /* the pointer of the value being scanned */
	size_t path_len;
	size_t path_cap;
	struct gw_json_pos *pos_ptr;
	int stopped; /* a fault in the text, or out of memory */
};

static int at_end(const struct pos_scan *scan_ptr)
{
	return scan_ptr->at >= scan_ptr->len;
}

static unsigned char peek(const struct pos_scan *scan_ptr)
{
	return at_end(scan_ptr) ? 0 : (unsigned char)scan_ptr->text[scan_ptr->at];
}

/* Moves past one byte. UTF-8 continuation bytes don't start a column. */
static void advance(struct pos_scan *scan_ptr)
{
	unsigned char c = peek(scan_ptr);

	scan_ptr->at++;
	if (c == '\n') {
		scan_ptr->line++;
		scan_ptr->column = 1;
	} else if ((c & 0xC0) != 0x80) {
		scan_ptr->column++;
	}
}

static void skip_space(struct pos_scan *scan_ptr)
{
	for (;;) {
		unsigned char c = peek(scan_ptr);

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		advance(scan_ptr);
	}
}

static int stop(struct pos_scan *scan_ptr)
{
	scan_ptr->stopped = 1;
	return -1;
}

static int path_append(struct pos_scan *scan_ptr, const char *bytes, size_t n)
{
	if (scan_ptr->path_len + n + 1 > scan_ptr->path_cap) {
		size_t cap = scan_ptr->path_cap ? scan_ptr->path_cap : 64;
		char *grown_ptr;

		while (cap < scan_ptr->path_len + n + 1)
			cap *= 2;
		grown_ptr = realloc(scan_ptr->path_ptr, cap);
		if (!grown_ptr)
			return stop(scan_ptr);
		scan_ptr->path_ptr = grown_ptr;
		scan_ptr->path_cap = cap;
	}
	memcpy(scan_ptr->path_ptr + scan_ptr->path_len, bytes, n);
	scan_ptr->path_len += n;
	scan_ptr->path_ptr[scan_ptr->path_len] = '\0';
	return 0;
}

/* Appends one decoded key character, escaped for a JSON pointer. */
static int path_append_key_byte(struct pos_scan *scan_ptr, unsigned char c)
{
	if (c == '~')
		return path_append(scan_ptr, "~0", 2);
	if (c == '/')
		return path_append(scan_ptr, "~1", 2);
	return path_append(scan_ptr, (const char *)&c, 1);
}

static int path_append_code_point(struct pos_scan *scan_ptr, uint32_t cp)
{
	unsigned char utf8[4];
	size_t n;

	if (cp < 0x80) {
		return path_append_key_byte(scan_ptr, (unsigned char)cp);
	} else if (cp < 0x800) {
		utf8[0] = (unsigned char)(0xC0 | (cp >> 6));
		n = 2;
	} else if (cp < 0x10000) {
		utf8[0] = (unsigned char)(0xE0 | (cp >> 12));
		n = 3;
	} else {
		utf8[0] = (unsigned char)(0xF0 | (cp >> 18));
		n = 4;
	}
	for (size_t i = n - 1; i > 0; i--) {
		utf8[i] = (unsigned char)(0x80 | (cp & 0x3F));
		cp >>= 6;
	}
	return path_append(scan_ptr, (const char *)utf8, n);
}

static int read_hex4(struct pos_scan *scan_ptr, uint32_t *value_ptr)
{
	uint32_t value = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = peek(scan_ptr);

		if (c >= '0' && c <= '9')
			value = value * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			value = value * 16 + (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			value = value * 16 + (c - 'A' + 10);
		else
			return stop(scan_ptr);
		advance(scan_ptr);
	}
	*value_ptr = value;
	return 0;
}

/* After a backslash and 'u': one code point, a surrogate pair included. */
static int read_unicode_escape(struct pos_scan *scan_ptr, uint32_t *cp_ptr)
{
	uint32_t high, low;

	if (read_hex4(scan_ptr, &high) == -1)
		return -1;
	if (high < 0xD800 || high > 0xDFFF) {
		*cp_ptr = high;
		return 0;
	}
	if (high > 0xDBFF || peek(scan_ptr) != '\\')
		return stop(scan_ptr);
	advance(scan_ptr);
	if (peek(scan_ptr) != 'u')
		return stop(scan_ptr);
	advance(scan_ptr);
	if (read_hex4(scan_ptr, &low) == -1)
		return -1;
	if (low < 0xDC00 || low > 0xDFFF)
		return stop(scan_ptr);
	*cp_ptr = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
	return 0;
}

/* Reads a member key (at its opening quote) and appends "/" + the decoded,
 * pointer-escaped key to the path. */
static int scan_key(struct pos_scan *scan_ptr)
{
	advance(scan_ptr);
	if (path_append(scan_ptr, "/", 1) == -1)
		return -1;
	for (;;) {
		unsigned char c = peek(scan_ptr);
		uint32_t cp;

		if (at_end(scan_ptr))
			return stop(scan_ptr);
		advance(scan_ptr);
		if (c == '"')
			return 0;
		if (c != '\\') {
			if (path_append_key_byte(scan_ptr, c) == -1)
				return -1;
			continue;
		}
		c = peek(scan_ptr);
		advance(scan_ptr);
		switch (c) {
		case '"':
		case '\\':
		case '/':
			cp = c;
			break;
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (read_unicode_escape(scan_ptr, &cp) == -1)
				return -1;
			break;
		default:
			return stop(scan_ptr);
		}
		if (path_append_code_point(scan_ptr, cp) == -1)
			return -1;
	}
}

/* Skips a string value, escapes and all, from its opening quote. */
static int skip_string(struct pos_scan *scan_ptr)
{
	advance(scan_ptr);
	for (;;) {
		unsigned char c = peek(scan_ptr);

		if (at_end(scan_ptr))
			return stop(scan_ptr);
		advance(scan_ptr);
		if (c == '"')
			return 0;
		if (c == '\\') {
			if (at_end(scan_ptr))
				return stop(scan_ptr);
			advance(scan_ptr);
		}
	}
}

/* Skips a number, true, false or null: anything up to a delimiter. */
static int skip_scalar(struct pos_scan *scan_ptr)
{
	size_t start = scan_ptr->at;

	while (!at_end(scan_ptr) && !strchr(",:]}[{\" \t\r\n", peek(scan_ptr)))
		advance(scan_ptr);
	return scan_ptr->at > start ? 0 : stop(scan_ptr);
}

/* Appends an entry for the value starting at the scan position, with the
 * current path as its pointer. Returns its index, or -1. */
static int add_entry(struct pos_scan *scan_ptr, size_t key_start, int key_line, int key_column)
{
	struct gw_json_pos *pos_ptr = scan_ptr->pos_ptr;
	struct gw_json_pos_entry *entry_ptr;

	if (pos_ptr->count == pos_ptr->cap) {
		int cap = pos_ptr->cap ? pos_ptr->cap * 2 : POS_FIRST_ENTRIES;
		struct gw_json_pos_entry *grown_ptr;

		/* The old array stays in the arena: growth by doubling wastes
		 * at most as much as is finally used. */
		grown_ptr = gw_arena_alloc(pos_ptr->arena_ptr, sizeof(*grown_ptr) * (size_t)cap);
		if (!grown_ptr)
			return stop(scan_ptr);
		if (pos_ptr->count)
			memcpy(grown_ptr, pos_ptr->entries_ptr, sizeof(*grown_ptr) * (size_t)pos_ptr->count);
		pos_ptr->entries_ptr = grown_ptr;
		pos_ptr->cap = cap;
	}
	entry_ptr = &pos_ptr->entries_ptr[pos_ptr->count];
	entry_ptr->pointer =
		gw_arena_strndup(pos_ptr->arena_ptr, scan_ptr->path_len ? scan_ptr->path_ptr : "", scan_ptr->path_len);
	if (!entry_ptr->pointer)
		return stop(scan_ptr);
	entry_ptr->start = scan_ptr->at;
	entry_ptr->end = scan_ptr->len;
	entry_ptr->key_start = key_line ? key_start : scan_ptr->at;
	entry_ptr->line = scan_ptr->line;
	entry_ptr->column = scan_ptr->column;
	entry_ptr->key_line = key_line;
	entry_ptr->key_column = key_column;
	return pos_ptr->count++;
}

static int scan_value(struct pos_scan *scan_ptr, int depth, size_t key_start, int key_line, int key_column);

/* After a member or an element: the path back to the container's, then its
 * closing `closer` (1: the container is done) or a comma before the next
 * one (0). -1 on anything else. */
static int scan_separator(struct pos_scan *scan_ptr, size_t parent_len, char closer)
{
	scan_ptr->path_len = parent_len;
	scan_ptr->path_ptr[parent_len] = '\0';
	skip_space(scan_ptr);
	if (peek(scan_ptr) == closer) {
		advance(scan_ptr);
		return 1;
	}
	if (peek(scan_ptr) != ',')
		return stop(scan_ptr);
	advance(scan_ptr);
	skip_space(scan_ptr);
	return 0;
}

static int scan_object(struct pos_scan *scan_ptr, int depth)
{
	int rc;

	advance(scan_ptr);
	skip_space(scan_ptr);
	if (peek(scan_ptr) == '}') {
		advance(scan_ptr);
		return 0;
	}
	for (;;) {
		size_t parent_len = scan_ptr->path_len;
		size_t key_start = scan_ptr->at;
		int key_line = scan_ptr->line;
		int key_column = scan_ptr->column;

		if (peek(scan_ptr) != '"' || scan_key(scan_ptr) == -1)
			return stop(scan_ptr);
		skip_space(scan_ptr);
		if (peek(scan_ptr) != ':')
			return stop(scan_ptr);
		advance(scan_ptr);
		skip_space(scan_ptr);
		if (scan_value(scan_ptr, depth + 1, key_start, key_line, key_column) == -1)
			return -1;
		rc = scan_separator(scan_ptr, parent_len, '}');
		if (rc != 0)
			return rc == 1 ? 0 : -1;
	}
}

static int scan_array(struct pos_scan *scan_ptr, int depth)
{
	int rc;

	advance(scan_ptr);
	skip_space(scan_ptr);
	if (peek(scan_ptr) == ']') {
		advance(scan_ptr);
		return 0;
	}
	for (size_t index = 0;; index++) {
		size_t parent_len = scan_ptr->path_len;
		char step[2 + 3 * sizeof(size_t)];
		int n = snprintf(step, sizeof(step), "/%zu", index);

		if (path_append(scan_ptr, step, (size_t)n) == -1)
			return -1;
		if (scan_value(scan_ptr, depth + 1, 0, 0, 0) == -1)
			return -1;
		rc = scan_separator(scan_ptr, parent_len, ']');
		if (rc != 0)
			return rc == 1 ? 0 : -1;
	}
}

/* Records the value at the scan position and moves past it. */
static int scan_value(struct pos_scan *scan_ptr, int depth, size_t key_start, int key_line, int key_column)
{
	int index;
	int rc;

	if (depth > GW_JSON_POS_MAX_DEPTH || at_end(scan_ptr))
		return stop(scan_ptr);
	index = add_entry(scan_ptr, key_start, key_line, key_column);
	if (index == -1)
		return -1;
	switch (peek(scan_ptr)) {
	case '{':
		rc = scan_object(scan_ptr, depth);
		break;
	case '[':
		rc = scan_array(scan_ptr, depth);
		break;
	case '"':
		rc = skip_string(scan_ptr);
		break;
	default:
		rc = skip_scalar(scan_ptr);
		break;
	}
	if (rc == 0)
		scan_ptr->pos_ptr->entries_ptr[index].end = scan_ptr->at;
	return rc;
}

static int compare_by_pointer(const void *a_ptr, const void *b_ptr, void *arg_ptr)
{
	const struct gw_json_pos_entry *entries_ptr = arg_ptr;
	int a = *(const int *)a_ptr;
	int b = *(const int *)b_ptr;
	int order = strcmp(entries_ptr[a].pointer, entries_ptr[b].pointer);

	if (order)
		return order;
	return (a > b) - (a < b);
}

static int sort_by_pointer(struct gw_json_pos *pos_ptr)
{
	pos_ptr->by_pointer_ptr = gw_arena_alloc(pos_ptr->arena_ptr, sizeof(int) * (size_t)pos_ptr->count);
	if (!pos_ptr->by_pointer_ptr)
		return -1;
	for (int i = 0; i < pos_ptr->count; i++)
		pos_ptr->by_pointer_ptr[i] = i;
	qsort_r(pos_ptr->by_pointer_ptr, (size_t)pos_ptr->count, sizeof(int), compare_by_pointer, pos_ptr->entries_ptr);
	return 0;
}

struct gw_json_pos *gw_json_pos_scan(const char *text, size_t len)
{
	struct gw_arena *arena_ptr = gw_arena_create(0);
	struct gw_json_pos *pos_ptr;
	struct pos_scan scan = {.text = text, .len = len, .line = 1, .column = 1};

	if (!arena_ptr)
		return NULL;
	pos_ptr = gw_arena_alloc(arena_ptr, sizeof(*pos_ptr));
	if (!pos_ptr) {
		gw_arena_destroy(arena_ptr);
		return NULL;
	}
	pos_ptr->arena_ptr = arena_ptr;
	scan.pos_ptr = pos_ptr;
	skip_space(&scan);
	scan_value(&scan, 0, 0, 0, 0);
	free(scan.path_ptr);
	if (sort_by_pointer(pos_ptr) == -1) {
		gw_arena_destroy(arena_ptr);
		return NULL;
	}
	return pos_ptr;
}

void gw_json_pos_free(struct gw_json_pos *pos_ptr)
{
	if (pos_ptr)
		gw_arena_destroy(pos_ptr->arena_ptr);
}

/* Orders an entry's pointer against the first `len` bytes of `key`. */
static int compare_prefix(const char *pointer, const char *key, size_t len)
{
	int order = strncmp(pointer, key, len);

	if (order)
		return order;
	return pointer[len] != '\0';
}

/* The first entry whose pointer is exactly key[0..len), or NULL. */
static const struct gw_json_pos_entry *find_exact(const struct gw_json_pos *pos_ptr, const char *key, size_t len)
{
	int lo = 0, hi = pos_ptr->count;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (compare_prefix(pos_ptr->entries_ptr[pos_ptr->by_pointer_ptr[mid]].pointer, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < pos_ptr->count &&
	    compare_prefix(pos_ptr->entries_ptr[pos_ptr->by_pointer_ptr[lo]].pointer, key, len) == 0)
		return &pos_ptr->entries_ptr[pos_ptr->by_pointer_ptr[lo]];
	return NULL;
}

/* The entry for `pointer` or its nearest recorded ancestor; *exact_ptr says
 * which. NULL when not even the root was recorded. */
static const struct gw_json_pos_entry *find_nearest(const struct gw_json_pos *pos_ptr, const char *pointer,
						    int *exact_ptr)
{
	size_t len = strlen(pointer);

	*exact_ptr = 1;
	for (;;) {
		const struct gw_json_pos_entry *entry_ptr = find_exact(pos_ptr, pointer, len);

		if (entry_ptr)
			return entry_ptr;
		*exact_ptr = 0;
		if (len == 0)
			return NULL;
		while (len > 0 && pointer[len - 1] != '/')
			len--;
		if (len > 0)
			len--;
	}
}

int gw_json_pos_find(const struct gw_json_pos *pos_ptr, const char *pointer, int *line_ptr, int *column_ptr)
{
	int exact;
	const struct gw_json_pos_entry *entry_ptr = find_nearest(pos_ptr, pointer, &exact);

	if (!entry_ptr) {
		*line_ptr = 0;
		*column_ptr = 0;
		return -1;
	}
	*line_ptr = entry_ptr->line;
	*column_ptr = entry_ptr->column;
	return exact ? 0 : 1;
}

int gw_json_pos_find_key(const struct gw_json_pos *pos_ptr, const char *pointer, int *line_ptr, int *column_ptr)
{
	int exact;
	const struct gw_json_pos_entry *entry_ptr = find_nearest(pos_ptr, pointer, &exact);

	if (!entry_ptr) {
		*line_ptr = 0;
		*column_ptr = 0;
		return -1;
	}
	if (exact && entry_ptr->key_line) {
		*line_ptr = entry_ptr->key_line;
		*column_ptr = entry_ptr->key_column;
	} else {
		*line_ptr = entry_ptr->line;
		*column_ptr = entry_ptr->column;
	}
	return exact ? 0 : 1;
}

const char *gw_json_pos_pointer_at(const struct gw_json_pos *pos_ptr, size_t offset)
{
	const char *pointer = "";

	/* Entries are in document order, so the last one holding the offset
	 * is the innermost. */
	for (int i = 0; i < pos_ptr->count; i++) {
		const struct gw_json_pos_entry *entry_ptr = &pos_ptr->entries_ptr[i];

		if (entry_ptr->key_start <= offset && offset < entry_ptr->end)
			pointer = entry_ptr->pointer;
	}
	return pointer;
}

int gw_json_pos_count(const struct gw_json_pos *pos_ptr)
{
	return pos_ptr->count;
}

char *gw_json_pointer_member(struct gw_arena *arena_ptr, const char *parent, const char *key)
{
	size_t parent_len = strlen(parent);
	size_t len = parent_len + 1;
	char *pointer, *out_ptr;

	for (const char *c = key; *c; c++)
		len += (*c == '~' || *c == '/') ? 2 : 1;
	pointer = gw_arena_alloc(arena_ptr, len + 1);
	if (!pointer)
		return NULL;
	memcpy(pointer, parent, parent_len);
	out_ptr = pointer + parent_len;
	*out_ptr++ = '/';
	for (const char *c = key; *c; c++) {
		if (*c == '~' || *c == '/') {
			*out_ptr++ = '~';
			*out_ptr++ = *c == '~' ? '0' : '1';
		} else {
			*out_ptr++ = *c;
		}
	}
	*out_ptr = '\0';
	return pointer;
}

char *gw_json_pointer_index(struct gw_arena *arena_ptr, const char *parent, size_t index)
{
	return gw_arena_printf(arena_ptr, "%s/%zu", parent, index);
}
