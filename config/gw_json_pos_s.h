#ifndef GW_JSON_POS_S_H
#define GW_JSON_POS_S_H

/* gw_json_pos's layout: one entry per value, in document order, and an
 * index of them sorted by pointer for lookups. All of it in one arena. */

#include <stddef.h>

struct gw_arena;

struct gw_json_pos_entry {
	const char *pointer;
	size_t start;	  /* byte offset of the value's first byte */
	size_t end;	  /* one past its last byte (the text's end if unfinished) */
	size_t key_start; /* byte offset of a member's key; `start` otherwise */
	int line;
	int column;
	int key_line; /* 0 for array elements and the root */
	int key_column;
};

struct gw_json_pos {
	struct gw_arena *arena_ptr;
	struct gw_json_pos_entry *entries_ptr;
	int count;
	int cap;
	int *by_pointer_ptr; /* entry indexes sorted by pointer, then by order */
};

#endif
