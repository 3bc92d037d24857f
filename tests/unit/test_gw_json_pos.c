/* gw_json_pos: positions of JSON values by pointer. Nested objects and
 * arrays, key versus value positions, pointer escapes (RFC 6901) and key
 * escapes (JSON), CRLF line ends, columns counted in characters, falling
 * back to an ancestor, the value holding a byte offset, and text that is
 * malformed, empty or deeper than the limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_arena.h"
#include "gw_json_pos.h"

static struct gw_json_pos *scan(const char *text)
{
	struct gw_json_pos *pos_ptr = gw_json_pos_scan(text, strlen(text));

	assert_non_null(pos_ptr);
	return pos_ptr;
}

/* Asserts that `pointer` is found exactly at line:column. */
static void assert_value_at(const struct gw_json_pos *pos_ptr, const char *pointer, int line, int column)
{
	int found_line, found_column;

	assert_int_equal(gw_json_pos_find(pos_ptr, pointer, &found_line, &found_column), 0);
	assert_int_equal(found_line, line);
	assert_int_equal(found_column, column);
}

static void assert_key_at(const struct gw_json_pos *pos_ptr, const char *pointer, int line, int column)
{
	int found_line, found_column;

	assert_int_equal(gw_json_pos_find_key(pos_ptr, pointer, &found_line, &found_column), 0);
	assert_int_equal(found_line, line);
	assert_int_equal(found_column, column);
}

static void test_root_and_members_of_one_line(void **state)
{
	struct gw_json_pos *pos_ptr = scan("  {\"a\": 1, \"bb\": true, \"c\":null}");

	(void)state;
	assert_value_at(pos_ptr, "", 1, 3);
	assert_value_at(pos_ptr, "/a", 1, 9);
	assert_key_at(pos_ptr, "/a", 1, 4);
	assert_value_at(pos_ptr, "/bb", 1, 18);
	assert_key_at(pos_ptr, "/bb", 1, 12);
	assert_value_at(pos_ptr, "/c", 1, 28);
	assert_key_at(pos_ptr, "/c", 1, 24);
	assert_int_equal(gw_json_pos_count(pos_ptr), 4);
	gw_json_pos_free(pos_ptr);
}

static void test_nested_objects_and_arrays(void **state)
{
	const char *text = "{\n"
			   "  \"routes\": [\n"
			   "    { \"match\": { \"methods\": [\"GET\", \"POST\"] } },\n"
			   "    [],\n"
			   "    [ 1, [ 2, { \"deep\": \"x\" } ] ]\n"
			   "  ]\n"
			   "}\n";
	struct gw_json_pos *pos_ptr = scan(text);

	(void)state;
	assert_value_at(pos_ptr, "/routes", 2, 13);
	assert_value_at(pos_ptr, "/routes/0", 3, 5);
	assert_value_at(pos_ptr, "/routes/0/match", 3, 16);
	assert_value_at(pos_ptr, "/routes/0/match/methods", 3, 29);
	assert_value_at(pos_ptr, "/routes/0/match/methods/0", 3, 30);
	assert_value_at(pos_ptr, "/routes/0/match/methods/1", 3, 37);
	assert_value_at(pos_ptr, "/routes/1", 4, 5);
	assert_value_at(pos_ptr, "/routes/2/0", 5, 7);
	assert_value_at(pos_ptr, "/routes/2/1/1/deep", 5, 25);
	assert_key_at(pos_ptr, "/routes/2/1/1/deep", 5, 17);
	/* Array elements and the root have no key: their value's place. */
	assert_key_at(pos_ptr, "/routes/0", 3, 5);
	assert_key_at(pos_ptr, "", 1, 1);
	gw_json_pos_free(pos_ptr);
}

static void test_pointer_escapes_tilde_and_slash(void **state)
{
	struct gw_json_pos *pos_ptr = scan("{\"a/b\": 1, \"m~n\": 2, \"~1\": 3, \"\": 4}");

	(void)state;
	assert_value_at(pos_ptr, "/a~1b", 1, 9);
	assert_value_at(pos_ptr, "/m~0n", 1, 19);
	assert_value_at(pos_ptr, "/~01", 1, 28);
	assert_value_at(pos_ptr, "/", 1, 35);
	gw_json_pos_free(pos_ptr);
}

static void test_keys_are_decoded_before_escaping(void **state)
{
	/* Keys: a"b, back\slash, sl/ash (written \/), caf\u00e9, an emoji as
	 * a surrogate pair, and tab\t. */
	const char *text = "{\"a\\\"b\": 1,\n"
			   " \"back\\\\slash\": 2,\n"
			   " \"sl\\/ash\": 3,\n"
			   " \"caf\\u00e9\": 4,\n"
			   " \"\\ud83d\\ude00\": 5,\n"
			   " \"tab\\t\": 6}";
	struct gw_json_pos *pos_ptr = scan(text);

	(void)state;
	assert_value_at(pos_ptr, "/a\"b", 1, 10);
	assert_value_at(pos_ptr, "/back\\slash", 2, 17);
	assert_value_at(pos_ptr, "/sl~1ash", 3, 13);
	assert_value_at(pos_ptr, "/caf\xc3\xa9", 4, 15);
	assert_value_at(pos_ptr, "/\xf0\x9f\x98\x80", 5, 18);
	assert_value_at(pos_ptr, "/tab\t", 6, 11);
	gw_json_pos_free(pos_ptr);
}

static void test_string_values_with_escapes_are_skipped_whole(void **state)
{
	/* Quotes, brackets and commas inside strings are not structure. */
	struct gw_json_pos *pos_ptr = scan("{\"a\": \"x\\\"],{\\\\\", \"b\": [\"}\", \"\\u005d\"], \"c\": 1}");

	(void)state;
	assert_value_at(pos_ptr, "/b", 1, 24);
	assert_value_at(pos_ptr, "/b/1", 1, 30);
	assert_value_at(pos_ptr, "/c", 1, 46);
	assert_int_equal(gw_json_pos_count(pos_ptr), 6);
	gw_json_pos_free(pos_ptr);
}

static void test_crlf_line_ends_count_as_one_line(void **state)
{
	struct gw_json_pos *pos_ptr = scan("{\r\n  \"a\": 1,\r\n\r\n  \"b\":\r\n    [true]\r\n}\r\n");

	(void)state;
	assert_value_at(pos_ptr, "/a", 2, 8);
	assert_key_at(pos_ptr, "/b", 4, 3);
	assert_value_at(pos_ptr, "/b", 5, 5);
	assert_value_at(pos_ptr, "/b/0", 5, 6);
	gw_json_pos_free(pos_ptr);
}

static void test_columns_count_characters_not_bytes(void **state)
{
	/* "ünï€😀" is 5 characters and 13 bytes; tabs count as one. */
	struct gw_json_pos *pos_ptr = scan("{\"s\": \"\xc3\xbcn\xc3\xaf\xe2\x82\xac\xf0\x9f\x98\x80\",\t\"n\": 1}");

	(void)state;
	assert_value_at(pos_ptr, "/s", 1, 7);
	assert_key_at(pos_ptr, "/n", 1, 16);
	assert_value_at(pos_ptr, "/n", 1, 21);
	gw_json_pos_free(pos_ptr);
}

static void test_unknown_pointer_falls_back_to_nearest_ancestor(void **state)
{
	struct gw_json_pos *pos_ptr = scan("{\n \"a\": {\n  \"b\": [10, 20]\n }\n}");
	int line, column;

	(void)state;
	assert_int_equal(gw_json_pos_find(pos_ptr, "/a/b/5", &line, &column), 1);
	assert_int_equal(line, 3);
	assert_int_equal(column, 8);
	assert_int_equal(gw_json_pos_find(pos_ptr, "/a/missing/deeper", &line, &column), 1);
	assert_int_equal(line, 2);
	assert_int_equal(column, 7);
	assert_int_equal(gw_json_pos_find(pos_ptr, "/nothing", &line, &column), 1);
	assert_int_equal(line, 1);
	assert_int_equal(column, 1);
	/* A prefix of a real key is not that key: "/a/b" does not match "/a/bc". */
	assert_int_equal(gw_json_pos_find(pos_ptr, "/a/bc", &line, &column), 1);
	assert_int_equal(line, 2);
	/* The key of something missing falls back to its ancestor's value. */
	assert_int_equal(gw_json_pos_find_key(pos_ptr, "/a/x", &line, &column), 1);
	assert_int_equal(line, 2);
	assert_int_equal(column, 7);
	gw_json_pos_free(pos_ptr);
}

static void test_empty_or_blank_text_has_no_positions(void **state)
{
	struct gw_json_pos *pos_ptr = scan("  \n ");
	int line = 9, column = 9;

	(void)state;
	assert_int_equal(gw_json_pos_count(pos_ptr), 0);
	assert_int_equal(gw_json_pos_find(pos_ptr, "", &line, &column), -1);
	assert_int_equal(line, 0);
	assert_int_equal(column, 0);
	assert_int_equal(gw_json_pos_find_key(pos_ptr, "/a", &line, &column), -1);
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, 0), "");
	gw_json_pos_free(pos_ptr);
	gw_json_pos_free(NULL);
}

static void test_scalar_root(void **state)
{
	struct gw_json_pos *pos_ptr = scan("\n\n   42  ");

	(void)state;
	assert_value_at(pos_ptr, "", 3, 4);
	gw_json_pos_free(pos_ptr);
}

static void test_malformed_text_keeps_what_came_before(void **state)
{
	struct gw_json_pos *pos_ptr = scan("{\"a\": [1, 2,\n  ], \"b\": 3}");
	int line, column;

	(void)state;
	assert_value_at(pos_ptr, "/a/1", 1, 11);
	assert_int_equal(gw_json_pos_find(pos_ptr, "/b", &line, &column), 1);
	gw_json_pos_free(pos_ptr);
	pos_ptr = scan("{\"a\": \"unterminated");
	assert_value_at(pos_ptr, "/a", 1, 7);
	gw_json_pos_free(pos_ptr);
	pos_ptr = scan("{\"a\" 1}");
	assert_value_at(pos_ptr, "", 1, 1);
	assert_int_equal(gw_json_pos_count(pos_ptr), 1);
	gw_json_pos_free(pos_ptr);
	pos_ptr = scan("{\"bad\\q\": 1}");
	assert_int_equal(gw_json_pos_count(pos_ptr), 1);
	gw_json_pos_free(pos_ptr);
}

static void test_duplicate_keys_find_the_first(void **state)
{
	struct gw_json_pos *pos_ptr = scan("{\"a\": 1,\n \"a\": 2}");

	(void)state;
	assert_value_at(pos_ptr, "/a", 1, 7);
	/* The second one is still known by its offset. */
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, 12), "/a");
	gw_json_pos_free(pos_ptr);
}

static void test_pointer_at_names_the_innermost_value(void **state)
{
	const char *text = "{\"a\": [10, {\"b\": true}], \"c\": 5}";
	struct gw_json_pos *pos_ptr = scan(text);

	(void)state;
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, 0), "");
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, 1), "/a"); /* the key */
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, 6), "/a");
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, 8), "/a/0");
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, 9), "/a");
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, 14), "/a/1/b");
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, 21), "/a/1");
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, 23), "");
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, 30), "/c");
	assert_string_equal(gw_json_pos_pointer_at(pos_ptr, strlen(text)), "");
	gw_json_pos_free(pos_ptr);
}

static void test_nesting_past_the_limit_stops_the_scan(void **state)
{
	size_t depth = GW_JSON_POS_MAX_DEPTH + 10;
	char *text = malloc(depth * 2 + 1);
	struct gw_json_pos *pos_ptr;

	(void)state;
	assert_non_null(text);
	memset(text, '[', depth);
	memset(text + depth, ']', depth);
	text[depth * 2] = '\0';
	pos_ptr = scan(text);
	assert_value_at(pos_ptr, "/0/0", 1, 3);
	assert_int_equal(gw_json_pos_count(pos_ptr), GW_JSON_POS_MAX_DEPTH + 1);
	gw_json_pos_free(pos_ptr);
	free(text);
}

static void test_many_values_are_all_found(void **state)
{
	size_t cap = 1 << 20;
	char *text = malloc(cap);
	size_t len = 0;
	struct gw_json_pos *pos_ptr;
	char pointer[32];

	(void)state;
	assert_non_null(text);
	len += (size_t)snprintf(text + len, cap - len, "[");
	for (int i = 0; i < 20000; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s\n{\"k%d\": %d}", i ? "," : "", i, i);
	len += (size_t)snprintf(text + len, cap - len, "]");
	pos_ptr = gw_json_pos_scan(text, len);
	assert_non_null(pos_ptr);
	assert_int_equal(gw_json_pos_count(pos_ptr), 1 + 2 * 20000);
	for (int i = 0; i < 20000; i += 997) {
		snprintf(pointer, sizeof(pointer), "/%d/k%d", i, i);
		assert_key_at(pos_ptr, pointer, i + 2, 2);
	}
	assert_value_at(pos_ptr, "/19999/k19999", 20001, 12);
	gw_json_pos_free(pos_ptr);
	free(text);
}

static void test_pointers_are_built_with_escapes(void **state)
{
	struct gw_arena *arena_ptr = gw_arena_create(0);

	(void)state;
	assert_string_equal(gw_json_pointer_member(arena_ptr, "", "a"), "/a");
	assert_string_equal(gw_json_pointer_member(arena_ptr, "/x", "a/b~c"), "/x/a~1b~0c");
	assert_string_equal(gw_json_pointer_member(arena_ptr, "/x", ""), "/x/");
	assert_string_equal(gw_json_pointer_index(arena_ptr, "/routes", 12), "/routes/12");
	gw_arena_destroy(arena_ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_and_members_of_one_line),
		cmocka_unit_test(test_nested_objects_and_arrays),
		cmocka_unit_test(test_pointer_escapes_tilde_and_slash),
		cmocka_unit_test(test_keys_are_decoded_before_escaping),
		cmocka_unit_test(test_string_values_with_escapes_are_skipped_whole),
		cmocka_unit_test(test_crlf_line_ends_count_as_one_line),
		cmocka_unit_test(test_columns_count_characters_not_bytes),
		cmocka_unit_test(test_unknown_pointer_falls_back_to_nearest_ancestor),
		cmocka_unit_test(test_empty_or_blank_text_has_no_positions),
		cmocka_unit_test(test_scalar_root),
		cmocka_unit_test(test_malformed_text_keeps_what_came_before),
		cmocka_unit_test(test_duplicate_keys_find_the_first),
		cmocka_unit_test(test_pointer_at_names_the_innermost_value),
		cmocka_unit_test(test_nesting_past_the_limit_stops_the_scan),
		cmocka_unit_test(test_many_values_are_all_found),
		cmocka_unit_test(test_pointers_are_built_with_escapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
