/* gw_diag: problems kept in order with their pointer, message and anchor;
 * the bound of GW_DIAG_MAX_PROBLEMS and its closing note; positions set
 * after the fact. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gw_diag.h"

static void test_new_sink_is_empty(void **state)
{
	struct gw_diag *diag = gw_diag_create();

	(void)state;
	assert_non_null(diag);
	assert_int_equal(gw_diag_count(diag), 0);
	assert_int_equal(gw_diag_reported(diag), 0);
	assert_null(gw_diag_problem(diag, 0));
	assert_null(gw_diag_problem(diag, -1));
	gw_diag_destroy(diag);
	gw_diag_destroy(NULL);
}

static void test_problems_keep_pointer_message_and_anchor(void **state)
{
	struct gw_diag *diag = gw_diag_create();
	char pointer[32];
	const struct gw_diag_problem *problem_ptr;

	(void)state;
	strcpy(pointer, "/listeners/0/port");
	assert_int_equal(gw_diag_error(diag, pointer, "must be from %d to %d, not %d", 0, 65535, 70000), -1);
	strcpy(pointer, "overwritten");
	assert_int_equal(gw_diag_error_key(diag, "/x~1y", "unknown key \"%s\"", "x/y"), -1);
	assert_int_equal(gw_diag_error_at(diag, 3, 14, "/a", "syntax: %s", "bad"), -1);
	assert_int_equal(gw_diag_error_at(diag, 0, 0, NULL, "cannot open"), -1);
	assert_int_equal(gw_diag_error_at(diag, 2, 0, "", "column clamped"), -1);
	assert_int_equal(gw_diag_count(diag), 5);

	problem_ptr = gw_diag_problem(diag, 0);
	assert_string_equal(problem_ptr->pointer, "/listeners/0/port");
	assert_string_equal(problem_ptr->message, "must be from 0 to 65535, not 70000");
	assert_int_equal(problem_ptr->anchor, GW_DIAG_AT_VALUE);
	assert_int_equal(problem_ptr->line, 0);
	problem_ptr = gw_diag_problem(diag, 1);
	assert_string_equal(problem_ptr->pointer, "/x~1y");
	assert_string_equal(problem_ptr->message, "unknown key \"x/y\"");
	assert_int_equal(problem_ptr->anchor, GW_DIAG_AT_KEY);
	problem_ptr = gw_diag_problem(diag, 2);
	assert_int_equal(problem_ptr->anchor, GW_DIAG_AT_POSITION);
	assert_int_equal(problem_ptr->line, 3);
	assert_int_equal(problem_ptr->column, 14);
	problem_ptr = gw_diag_problem(diag, 3);
	assert_int_equal(problem_ptr->anchor, GW_DIAG_AT_NOTHING);
	assert_string_equal(problem_ptr->pointer, "");
	assert_int_equal(gw_diag_problem(diag, 4)->column, 1);
	gw_diag_destroy(diag);
}

static void test_positions_can_be_set_later(void **state)
{
	struct gw_diag *diag = gw_diag_create();
	const struct gw_diag_problem *problem_ptr;

	(void)state;
	gw_diag_error(diag, "/a", "value");
	gw_diag_error_at(diag, 0, 0, "", "file");
	gw_diag_set_position(diag, 0, 7, 3);
	gw_diag_set_position(diag, 1, 7, 3); /* stays without a position */
	gw_diag_set_position(diag, 5, 7, 3); /* out of range: ignored */
	problem_ptr = gw_diag_problem(diag, 0);
	assert_int_equal(problem_ptr->anchor, GW_DIAG_AT_POSITION);
	assert_int_equal(problem_ptr->line, 7);
	assert_int_equal(problem_ptr->column, 3);
	assert_int_equal(gw_diag_problem(diag, 1)->anchor, GW_DIAG_AT_NOTHING);
	gw_diag_destroy(diag);
}

static void test_sink_keeps_the_first_problems_and_a_note(void **state)
{
	struct gw_diag *diag = gw_diag_create();
	const struct gw_diag_problem *problem_ptr;
	char expected[64];

	(void)state;
	for (int i = 0; i < GW_DIAG_MAX_PROBLEMS + 50; i++)
		gw_diag_error(diag, "/p", "problem %d", i);
	assert_int_equal(gw_diag_count(diag), GW_DIAG_MAX_PROBLEMS + 1);
	assert_int_equal(gw_diag_reported(diag), GW_DIAG_MAX_PROBLEMS + 50);
	snprintf(expected, sizeof(expected), "problem %d", GW_DIAG_MAX_PROBLEMS - 1);
	assert_string_equal(gw_diag_problem(diag, GW_DIAG_MAX_PROBLEMS - 1)->message, expected);
	problem_ptr = gw_diag_problem(diag, GW_DIAG_MAX_PROBLEMS);
	assert_string_equal(problem_ptr->message, "too many errors; only the first 256 are shown");
	assert_string_equal(problem_ptr->pointer, "");
	assert_int_equal(problem_ptr->anchor, GW_DIAG_AT_NOTHING);
	assert_null(gw_diag_problem(diag, GW_DIAG_MAX_PROBLEMS + 1));
	gw_diag_destroy(diag);
}

static void test_long_messages_are_kept_whole(void **state)
{
	struct gw_diag *diag = gw_diag_create();
	char long_text[100000];

	(void)state;
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	gw_diag_error(diag, long_text, "%s", long_text);
	assert_int_equal(strlen(gw_diag_problem(diag, 0)->message), sizeof(long_text) - 1);
	assert_int_equal(strlen(gw_diag_problem(diag, 0)->pointer), sizeof(long_text) - 1);
	gw_diag_destroy(diag);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_sink_is_empty),
		cmocka_unit_test(test_problems_keep_pointer_message_and_anchor),
		cmocka_unit_test(test_positions_can_be_set_later),
		cmocka_unit_test(test_sink_keeps_the_first_problems_and_a_note),
		cmocka_unit_test(test_long_messages_are_kept_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
