/* vk_proc_table: the kernel's records of micro-processes. Ids are handed
 * out from 0 upward, released ids are reused first, and records stay put as
 * the table grows past one chunk. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "vk_proc.h"
#include "vk_proc_s.h"
#include "vk_timer.h"

#define MANY_PROCS 600

struct fixture {
	struct vk_proc_table table;
	struct vk_proc *procs[MANY_PROCS];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	vk_proc_table_init(&f->table);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vk_proc_table_fini(&f->table);
	free(f);
	return 0;
}

static void alloc_n(struct fixture *f, int n)
{
	for (int i = 0; i < n; i++) {
		f->procs[i] = vk_proc_table_alloc(&f->table);
		assert_non_null(f->procs[i]);
	}
}

static void test_new_table_is_empty(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(vk_proc_table_live(&f->table), 0);
	assert_int_equal(vk_proc_table_slots(&f->table), 0);
	assert_null(vk_proc_table_get(&f->table, 0));
}

static void test_alloc_hands_out_ids_from_zero(void **state)
{
	struct fixture *f = *state;

	alloc_n(f, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(f->procs[i]->id, i);
	assert_int_equal(vk_proc_table_slots(&f->table), 5);
}

static void test_alloc_gives_a_fresh_record(void **state)
{
	struct fixture *f = *state;
	struct vk_proc *proc_ptr = vk_proc_table_alloc(&f->table);

	assert_true(proc_ptr->in_use);
	assert_int_equal(proc_ptr->fd_head, -1);
	assert_false(vk_timer_scheduled(&proc_ptr->timer));
	assert_ptr_equal(vk_timer_owner(&proc_ptr->timer), proc_ptr);
	assert_null(proc_ptr->service_ptr);
	assert_int_equal(proc_ptr->dispatches, 0);
}

static void test_live_counts_allocs_and_releases(void **state)
{
	struct fixture *f = *state;

	alloc_n(f, 4);
	assert_int_equal(vk_proc_table_live(&f->table), 4);
	vk_proc_table_release(&f->table, f->procs[1]);
	assert_int_equal(vk_proc_table_live(&f->table), 3);
	assert_false(f->procs[1]->in_use);
	assert_int_equal(vk_proc_table_slots(&f->table), 4);
}

static void test_released_id_is_reused_first(void **state)
{
	struct fixture *f = *state;
	struct vk_proc *proc_ptr;

	alloc_n(f, 4);
	vk_proc_table_release(&f->table, f->procs[2]);
	proc_ptr = vk_proc_table_alloc(&f->table);
	assert_ptr_equal(proc_ptr, f->procs[2]);
	assert_int_equal(proc_ptr->id, 2);
	/* the same slot, a new generation: an old reference no longer names it */
	assert_int_equal(proc_ptr->gen, f->procs[1]->gen + 1);
	assert_true(proc_ptr->in_use);
	assert_int_equal(vk_proc_table_slots(&f->table), 4);
	assert_int_equal(vk_proc_table_live(&f->table), 4);
}

static void test_reused_record_is_cleared(void **state)
{
	struct fixture *f = *state;
	struct vk_proc *proc_ptr;

	alloc_n(f, 1);
	f->procs[0]->dispatches = 77;
	f->procs[0]->fd_head = 5;
	vk_proc_table_release(&f->table, f->procs[0]);
	proc_ptr = vk_proc_table_alloc(&f->table);
	assert_int_equal(proc_ptr->id, 0);
	assert_int_equal(proc_ptr->dispatches, 0);
	assert_int_equal(proc_ptr->fd_head, -1);
}

static void test_free_list_reuses_every_released_id(void **state)
{
	struct fixture *f = *state;
	int seen[10] = {0};

	alloc_n(f, 10);
	for (int i = 1; i < 10; i += 2)
		vk_proc_table_release(&f->table, f->procs[i]);
	for (int i = 0; i < 5; i++) {
		struct vk_proc *proc_ptr = vk_proc_table_alloc(&f->table);

		assert_true(proc_ptr->id % 2 == 1);
		seen[proc_ptr->id]++;
	}
	for (int i = 1; i < 10; i += 2)
		assert_int_equal(seen[i], 1);
	assert_int_equal(vk_proc_table_alloc(&f->table)->id, 10);
}

static void test_get_returns_the_record_by_id(void **state)
{
	struct fixture *f = *state;

	alloc_n(f, 3);
	for (int i = 0; i < 3; i++)
		assert_ptr_equal(vk_proc_table_get(&f->table, i), f->procs[i]);
}

static void test_get_out_of_range_is_null(void **state)
{
	struct fixture *f = *state;

	alloc_n(f, 3);
	assert_null(vk_proc_table_get(&f->table, -1));
	assert_null(vk_proc_table_get(&f->table, 3));
	assert_null(vk_proc_table_get(&f->table, VK_PROC_CHUNK));
}

static void test_more_than_one_chunk(void **state)
{
	struct fixture *f = *state;

	alloc_n(f, MANY_PROCS);
	assert_int_equal(vk_proc_table_live(&f->table), MANY_PROCS);
	assert_int_equal(vk_proc_table_slots(&f->table), MANY_PROCS);
	for (int i = 0; i < MANY_PROCS; i++) {
		assert_int_equal(f->procs[i]->id, i);
		assert_ptr_equal(vk_proc_table_get(&f->table, i), f->procs[i]);
	}
	assert_null(vk_proc_table_get(&f->table, MANY_PROCS));
}

static void test_records_are_distinct_across_chunks(void **state)
{
	struct fixture *f = *state;

	alloc_n(f, MANY_PROCS);
	for (int i = 0; i < MANY_PROCS; i++)
		f->procs[i]->dispatches = (uint64_t)i;
	for (int i = 0; i < MANY_PROCS; i++)
		assert_int_equal(vk_proc_table_get(&f->table, i)->dispatches, i);
}

static void test_records_stay_put_as_table_grows(void **state)
{
	struct fixture *f = *state;
	struct vk_proc *first_ptr = vk_proc_table_alloc(&f->table);

	first_ptr->dispatches = 5;
	alloc_n(f, MANY_PROCS);
	assert_ptr_equal(vk_proc_table_get(&f->table, 0), first_ptr);
	assert_int_equal(first_ptr->dispatches, 5);
}

static void test_release_across_chunks_then_reuse(void **state)
{
	struct fixture *f = *state;

	alloc_n(f, MANY_PROCS);
	vk_proc_table_release(&f->table, f->procs[10]);
	vk_proc_table_release(&f->table, f->procs[300]);
	vk_proc_table_release(&f->table, f->procs[599]);
	assert_int_equal(vk_proc_table_live(&f->table), MANY_PROCS - 3);
	for (int i = 0; i < 3; i++) {
		int id = vk_proc_table_alloc(&f->table)->id;

		assert_true(id == 10 || id == 300 || id == 599);
	}
	assert_true(f->procs[10]->in_use);
	assert_true(f->procs[300]->in_use);
	assert_true(f->procs[599]->in_use);
	assert_int_equal(vk_proc_table_alloc(&f->table)->id, MANY_PROCS);
	assert_int_equal(vk_proc_table_live(&f->table), MANY_PROCS + 1);
}

static void test_fini_leaves_an_empty_table(void **state)
{
	struct fixture *f = *state;

	alloc_n(f, MANY_PROCS);
	vk_proc_table_fini(&f->table);
	assert_int_equal(vk_proc_table_live(&f->table), 0);
	assert_int_equal(vk_proc_table_slots(&f->table), 0);
	assert_int_equal(vk_proc_table_alloc(&f->table)->id, 0);
}

#define PROC_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		PROC_TEST(test_new_table_is_empty),
		PROC_TEST(test_alloc_hands_out_ids_from_zero),
		PROC_TEST(test_alloc_gives_a_fresh_record),
		PROC_TEST(test_live_counts_allocs_and_releases),
		PROC_TEST(test_released_id_is_reused_first),
		PROC_TEST(test_reused_record_is_cleared),
		PROC_TEST(test_free_list_reuses_every_released_id),
		PROC_TEST(test_get_returns_the_record_by_id),
		PROC_TEST(test_get_out_of_range_is_null),
		PROC_TEST(test_more_than_one_chunk),
		PROC_TEST(test_records_are_distinct_across_chunks),
		PROC_TEST(test_records_stay_put_as_table_grows),
		PROC_TEST(test_release_across_chunks_then_reuse),
		PROC_TEST(test_fini_leaves_an_empty_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
