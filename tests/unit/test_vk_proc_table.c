/* vk_proc_table: the kernel's records of micro-processes. Ids are handed
 * out from 0 upward, released ids are reused first, and records stay put as
 * the table grows past one chunk. A record's hot ranges (vk_proc_add_hot)
 * cover whole cache lines inside its heap, join when they meet, are
 * bounded, and are gone when the record is reused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "vk_heap.h"
#include "vk_proc.h"
#include "vk_proc_s.h"
#include "vk_sys.h"
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

/* ---- hot ranges (vk_proc_add_hot) ---- */

#define HOT_PAGES 4

static struct vk_proc *proc_with_heap(struct fixture *f)
{
	struct vk_proc *proc_ptr = vk_proc_table_alloc(&f->table);

	assert_int_equal(vk_heap_map(&proc_ptr->heap, HOT_PAGES), 0);
	return proc_ptr;
}

static void assert_range(struct vk_proc *proc_ptr, int i, size_t off, size_t lines)
{
	size_t got_lines;
	const char *line_ptr = vk_proc_hot_range(proc_ptr, i, &got_lines);

	assert_int_equal(line_ptr - (const char *)vk_heap_start(&proc_ptr->heap), off);
	assert_int_equal(got_lines, lines);
}

static void test_hot_range_covers_whole_lines(void **state)
{
	struct vk_proc *proc_ptr = proc_with_heap(*state);
	char *heap = vk_heap_start(&proc_ptr->heap);

	assert_int_equal(vk_proc_hot_count(proc_ptr), 0);
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 100, 10, VK_HOT_ALL), 0);
	assert_int_equal(vk_proc_hot_count(proc_ptr), 1);
	assert_range(proc_ptr, 0, 64, 1);
	/* 10 bytes across a line boundary are two lines. */
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 1020, 10, VK_HOT_ALL), 0);
	assert_range(proc_ptr, 1, 960, 2);
	vk_heap_unmap(&proc_ptr->heap);
}

static void test_hot_ranges_that_meet_are_joined(void **state)
{
	struct vk_proc *proc_ptr = proc_with_heap(*state);
	char *heap = vk_heap_start(&proc_ptr->heap);

	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 128, 64, VK_HOT_ALL), 0);
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 192, 100, VK_HOT_ALL), 0); /* right after */
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 64, 64, VK_HOT_ALL), 0);   /* right before */
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 130, 8, VK_HOT_ALL), 0);   /* inside */
	assert_int_equal(vk_proc_hot_count(proc_ptr), 1);
	assert_range(proc_ptr, 0, 64, 4);
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 448, 1, VK_HOT_ALL), 0); /* a line apart */
	assert_int_equal(vk_proc_hot_count(proc_ptr), 2);
	assert_range(proc_ptr, 1, 448, 1);
	vk_heap_unmap(&proc_ptr->heap);
}

static void test_hot_range_outside_the_heap_is_refused(void **state)
{
	struct vk_proc *proc_ptr = proc_with_heap(*state);
	char *heap = vk_heap_start(&proc_ptr->heap);
	size_t len = vk_heap_len(&proc_ptr->heap);

	errno = 0;
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap - 1, 8, VK_HOT_ALL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + len - 4, 8, VK_HOT_ALL), -1);
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + len, 1, VK_HOT_ALL), -1);
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap, len + 1, VK_HOT_ALL), -1);
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap, 0, VK_HOT_ALL), -1);
	assert_int_equal(vk_proc_hot_count(proc_ptr), 0);
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + len - 8, 8, VK_HOT_ALL), 0); /* the last bytes are in */
	assert_range(proc_ptr, 0, len - 64, 1);
	vk_heap_unmap(&proc_ptr->heap);
}

static void test_hot_ranges_are_bounded_and_cleared_with_the_record(void **state)
{
	struct fixture *f = *state;
	struct vk_proc *proc_ptr = proc_with_heap(f);
	char *heap = vk_heap_start(&proc_ptr->heap);
	struct vk_heap heap_copy = proc_ptr->heap;
	int id = proc_ptr->id;

	for (int i = 0; i < VK_PROC_HOT_MAX; i++)
		assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 128 * i, 1, VK_HOT_ALL), 0);
	errno = 0;
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 128 * VK_PROC_HOT_MAX, 1, VK_HOT_ALL), -1);
	assert_int_equal(errno, ENOSPC);
	/* One that meets named ranges joins them, and still goes in. */
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 64, 1, VK_HOT_ALL), 0);
	assert_int_equal(vk_proc_hot_count(proc_ptr), VK_PROC_HOT_MAX - 1);
	assert_range(proc_ptr, VK_PROC_HOT_MAX - 2, 0, 3);
	/* The heap of a hidden process: prefetching its lines cannot fault. */
	assert_int_equal(vk_heap_protect(&proc_ptr->heap), 0);
	vk_proc_prefetch_hot(proc_ptr);
	vk_proc_table_release(&f->table, proc_ptr);
	proc_ptr = vk_proc_table_alloc(&f->table);
	assert_int_equal(proc_ptr->id, id);
	assert_int_equal(vk_proc_hot_count(proc_ptr), 0);
	vk_heap_unmap(&heap_copy);
}

/* Ranges of different classes stay apart even where they meet; every range
 * is loaded until the process selects, then only those of a selected
 * class (VK_HOT_ALL ones always); a range in no class is refused; a new
 * record selects everything again. */
static void test_hot_classes_choose_what_the_next_dispatch_loads(void **state)
{
	struct fixture *f = *state;
	struct vk_proc *proc_ptr = proc_with_heap(f);
	char *heap = vk_heap_start(&proc_ptr->heap);
	struct vk_heap heap_copy = proc_ptr->heap;
	enum { REQUEST = 1, RESPONSE = 2 };

	assert_int_equal(vk_proc_add_hot(proc_ptr, heap, 64, VK_HOT_ALL), 0);
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 64, 64, REQUEST), 0);	   /* meets the first */
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 128, 128, RESPONSE), 0); /* meets the second */
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 192, 128, RESPONSE), 0); /* joins the third */
	errno = 0;
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap + 1024, 64, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vk_proc_hot_count(proc_ptr), 3);
	assert_range(proc_ptr, 0, 0, 1);
	assert_range(proc_ptr, 1, 64, 1);
	assert_range(proc_ptr, 2, 128, 3);
	assert_int_equal(vk_proc_hot_classes(proc_ptr, 0), VK_HOT_ALL);
	assert_int_equal(vk_proc_hot_classes(proc_ptr, 1), REQUEST);
	assert_int_equal(vk_proc_hot_classes(proc_ptr, 2), RESPONSE);
	for (int i = 0; i < 3; i++)
		assert_true(vk_proc_hot_selected(proc_ptr, i));
	/* The prefetch reports the lines it asked for, the kernel counts them. */
	assert_int_equal(vk_proc_prefetch_hot(proc_ptr), 5);
	vk_proc_select_hot(proc_ptr, REQUEST);
	assert_true(vk_proc_hot_selected(proc_ptr, 0));
	assert_true(vk_proc_hot_selected(proc_ptr, 1));
	assert_false(vk_proc_hot_selected(proc_ptr, 2));
	assert_int_equal(vk_proc_prefetch_hot(proc_ptr), 2);
	vk_proc_select_hot(proc_ptr, RESPONSE);
	assert_true(vk_proc_hot_selected(proc_ptr, 0));
	assert_false(vk_proc_hot_selected(proc_ptr, 1));
	assert_true(vk_proc_hot_selected(proc_ptr, 2));
	assert_int_equal(vk_proc_prefetch_hot(proc_ptr), 4);
	vk_proc_select_hot(proc_ptr, 0);
	for (int i = 0; i < 3; i++)
		assert_false(vk_proc_hot_selected(proc_ptr, i));
	assert_int_equal(vk_proc_prefetch_hot(proc_ptr), 0);
	vk_proc_select_hot(proc_ptr, RESPONSE);
	vk_proc_table_release(&f->table, proc_ptr);
	proc_ptr = vk_proc_table_alloc(&f->table);
	proc_ptr->heap = heap_copy;
	assert_int_equal(vk_proc_add_hot(proc_ptr, heap, 64, REQUEST), 0);
	assert_true(vk_proc_hot_selected(proc_ptr, 0));
	vk_heap_unmap(&heap_copy);
}

#define PROC_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		PROC_TEST(test_new_table_is_empty),
		PROC_TEST(test_hot_range_covers_whole_lines),
		PROC_TEST(test_hot_ranges_that_meet_are_joined),
		PROC_TEST(test_hot_range_outside_the_heap_is_refused),
		PROC_TEST(test_hot_ranges_are_bounded_and_cleared_with_the_record),
		PROC_TEST(test_hot_classes_choose_what_the_next_dispatch_loads),
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
