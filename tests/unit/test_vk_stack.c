/* vk_stack: the micro-heap's LIFO allocator. Zeroed aligned blocks, NULL on
 * exhaustion with the size remembered, and frees in any order reclaimed once
 * what was above them is gone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vk_stack.h"
#include "vk_stack_s.h"

#define ARENA_LEN 4096
#define BLOCK_LEN 100

/* Backing memory, aligned so tests can also offset into it on purpose. */
static _Alignas(VK_STACK_ALIGN) char arena[ARENA_LEN];

static void stack_on_arena(struct vk_stack *stack_ptr)
{
	memset(arena, 0xa5, sizeof(arena));
	vk_stack_init(stack_ptr, arena, sizeof(arena));
}

static int within_arena(void *ptr, size_t len)
{
	return (char *)ptr >= arena && (char *)ptr + len <= arena + sizeof(arena);
}

static void test_new_stack_is_empty(void **state)
{
	struct vk_stack stack;

	(void)state;
	stack_on_arena(&stack);
	assert_int_equal(vk_stack_used(&stack), 0);
	assert_int_equal(vk_stack_avail(&stack), ARENA_LEN);
	assert_int_equal(vk_stack_peak(&stack), 0);
	assert_int_equal(vk_stack_last_failed(&stack), 0);
}

static void test_push_returns_zeroed_memory(void **state)
{
	struct vk_stack stack;
	char zeros[BLOCK_LEN] = {0};
	char *p;

	(void)state;
	stack_on_arena(&stack);
	p = vk_stack_push(&stack, BLOCK_LEN);
	assert_non_null(p);
	assert_true(within_arena(p, BLOCK_LEN));
	assert_memory_equal(p, zeros, BLOCK_LEN);
}

static void test_push_after_pop_is_zeroed_again(void **state)
{
	struct vk_stack stack;
	char zeros[BLOCK_LEN] = {0};
	char *p;

	(void)state;
	stack_on_arena(&stack);
	p = vk_stack_push(&stack, BLOCK_LEN);
	memset(p, 0xff, BLOCK_LEN);
	vk_stack_pop(&stack, p);
	p = vk_stack_push(&stack, BLOCK_LEN);
	assert_non_null(p);
	assert_memory_equal(p, zeros, BLOCK_LEN);
}

static void test_push_is_16_byte_aligned(void **state)
{
	struct vk_stack stack;

	(void)state;
	stack_on_arena(&stack);
	for (size_t size = 1; size < 40; size++) {
		void *p = vk_stack_push(&stack, size);

		assert_non_null(p);
		assert_int_equal((uintptr_t)p % VK_STACK_ALIGN, 0);
	}
}

static void test_push_on_unaligned_start_is_aligned(void **state)
{
	struct vk_stack stack;
	void *p;

	(void)state;
	vk_stack_init(&stack, arena + 3, sizeof(arena) - 3);
	p = vk_stack_push(&stack, 1);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % VK_STACK_ALIGN, 0);
	p = vk_stack_push(&stack, 7);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % VK_STACK_ALIGN, 0);
}

static void test_blocks_do_not_overlap(void **state)
{
	struct vk_stack stack;
	char *a, *b;

	(void)state;
	stack_on_arena(&stack);
	a = vk_stack_push(&stack, BLOCK_LEN);
	b = vk_stack_push(&stack, BLOCK_LEN);
	assert_true(b >= a + BLOCK_LEN || a >= b + BLOCK_LEN);
	memset(a, 1, BLOCK_LEN);
	memset(b, 2, BLOCK_LEN);
	assert_int_equal(a[BLOCK_LEN - 1], 1);
	assert_int_equal(b[0], 2);
}

static void test_push_counts_in_used_and_avail(void **state)
{
	struct vk_stack stack;

	(void)state;
	stack_on_arena(&stack);
	vk_stack_push(&stack, BLOCK_LEN);
	assert_true(vk_stack_used(&stack) >= BLOCK_LEN);
	assert_int_equal(vk_stack_used(&stack) + vk_stack_avail(&stack), ARENA_LEN);
}

static void test_exhaustion_returns_null_and_keeps_size(void **state)
{
	struct vk_stack stack;
	size_t used;

	(void)state;
	stack_on_arena(&stack);
	vk_stack_push(&stack, ARENA_LEN / 2);
	used = vk_stack_used(&stack);
	assert_null(vk_stack_push(&stack, ARENA_LEN / 2 + 1));
	assert_int_equal(vk_stack_last_failed(&stack), ARENA_LEN / 2 + 1);
	assert_int_equal(vk_stack_used(&stack), used);
}

static void test_push_larger_than_arena_fails(void **state)
{
	struct vk_stack stack;

	(void)state;
	stack_on_arena(&stack);
	assert_null(vk_stack_push(&stack, ARENA_LEN + 1));
	assert_int_equal(vk_stack_last_failed(&stack), ARENA_LEN + 1);
	assert_null(vk_stack_push(&stack, SIZE_MAX));
	assert_int_equal(vk_stack_last_failed(&stack), SIZE_MAX);
	assert_int_equal(vk_stack_used(&stack), 0);
}

static void test_push_fills_arena_without_overrun(void **state)
{
	struct vk_stack stack;
	int blocks = 0;
	char *p;

	(void)state;
	stack_on_arena(&stack);
	while ((p = vk_stack_push(&stack, BLOCK_LEN)) != NULL) {
		assert_true(within_arena(p, BLOCK_LEN));
		blocks++;
	}
	assert_true(blocks > 0);
	assert_true(blocks <= ARENA_LEN / BLOCK_LEN);
	assert_int_equal(vk_stack_last_failed(&stack), BLOCK_LEN);
}

/* A stack given fewer bytes than its alignment padding has no room at all. */
static void test_tiny_unaligned_arena_hands_out_nothing(void **state)
{
	struct vk_stack stack;

	(void)state;
	memset(arena, 0xa5, sizeof(arena));
	vk_stack_init(&stack, arena + 1, 8);
	assert_null(vk_stack_push(&stack, 1));
	assert_int_equal(vk_stack_last_failed(&stack), 1);
}

static void test_lifo_pop_reclaims_everything(void **state)
{
	struct vk_stack stack;
	void *a, *b, *c;

	(void)state;
	stack_on_arena(&stack);
	a = vk_stack_push(&stack, BLOCK_LEN);
	b = vk_stack_push(&stack, 2 * BLOCK_LEN);
	c = vk_stack_push(&stack, 3 * BLOCK_LEN);
	vk_stack_pop(&stack, c);
	vk_stack_pop(&stack, b);
	vk_stack_pop(&stack, a);
	assert_int_equal(vk_stack_used(&stack), 0);
	assert_int_equal(vk_stack_avail(&stack), ARENA_LEN);
}

static void test_pop_of_top_gives_back_its_space(void **state)
{
	struct vk_stack stack;
	size_t used;
	void *p;

	(void)state;
	stack_on_arena(&stack);
	vk_stack_push(&stack, BLOCK_LEN);
	used = vk_stack_used(&stack);
	p = vk_stack_push(&stack, BLOCK_LEN);
	vk_stack_pop(&stack, p);
	assert_int_equal(vk_stack_used(&stack), used);
}

static void test_pop_below_top_is_not_reclaimed_yet(void **state)
{
	struct vk_stack stack;
	size_t used;
	void *a;

	(void)state;
	stack_on_arena(&stack);
	a = vk_stack_push(&stack, BLOCK_LEN);
	vk_stack_push(&stack, BLOCK_LEN);
	used = vk_stack_used(&stack);
	vk_stack_pop(&stack, a);
	assert_int_equal(vk_stack_used(&stack), used);
}

static void test_out_of_order_frees_reclaimed_when_top_freed(void **state)
{
	struct vk_stack stack;
	void *a, *b, *c;

	(void)state;
	stack_on_arena(&stack);
	a = vk_stack_push(&stack, BLOCK_LEN);
	b = vk_stack_push(&stack, BLOCK_LEN);
	c = vk_stack_push(&stack, BLOCK_LEN);
	vk_stack_pop(&stack, a);
	vk_stack_pop(&stack, b);
	vk_stack_pop(&stack, c);
	assert_int_equal(vk_stack_used(&stack), 0);
}

static void test_out_of_order_frees_stop_at_a_live_block(void **state)
{
	struct vk_stack stack;
	size_t used_after_a;
	void *a, *b, *c;

	(void)state;
	stack_on_arena(&stack);
	a = vk_stack_push(&stack, BLOCK_LEN);
	used_after_a = vk_stack_used(&stack);
	b = vk_stack_push(&stack, BLOCK_LEN);
	c = vk_stack_push(&stack, BLOCK_LEN);
	vk_stack_pop(&stack, b);
	vk_stack_pop(&stack, c);
	assert_int_equal(vk_stack_used(&stack), used_after_a);
	assert_true(vk_stack_owns(&stack, a));
}

static void test_alloc_free_loop_does_not_creep(void **state)
{
	struct vk_stack stack;
	void *base, *a, *b;

	(void)state;
	stack_on_arena(&stack);
	base = vk_stack_push(&stack, BLOCK_LEN);
	for (int i = 0; i < 1000; i++) {
		a = vk_stack_push(&stack, BLOCK_LEN);
		b = vk_stack_push(&stack, BLOCK_LEN);
		assert_non_null(a);
		assert_non_null(b);
		vk_stack_pop(&stack, a);
		vk_stack_pop(&stack, b);
	}
	vk_stack_pop(&stack, base);
	assert_int_equal(vk_stack_used(&stack), 0);
}

static void test_pop_null_or_foreign_pointer_is_ignored(void **state)
{
	struct vk_stack stack;
	char outside[BLOCK_LEN];
	size_t used;

	(void)state;
	stack_on_arena(&stack);
	vk_stack_push(&stack, BLOCK_LEN);
	used = vk_stack_used(&stack);
	vk_stack_pop(&stack, NULL);
	vk_stack_pop(&stack, outside);
	assert_int_equal(vk_stack_used(&stack), used);
}

static void test_peak_keeps_highest_use(void **state)
{
	struct vk_stack stack;
	size_t high;
	void *a, *b;

	(void)state;
	stack_on_arena(&stack);
	a = vk_stack_push(&stack, BLOCK_LEN);
	b = vk_stack_push(&stack, 5 * BLOCK_LEN);
	high = vk_stack_used(&stack);
	vk_stack_pop(&stack, b);
	vk_stack_pop(&stack, a);
	vk_stack_push(&stack, BLOCK_LEN);
	assert_int_equal(vk_stack_peak(&stack), high);
	assert_true(vk_stack_peak(&stack) > vk_stack_used(&stack));
}

static void test_failed_push_does_not_raise_peak(void **state)
{
	struct vk_stack stack;

	(void)state;
	stack_on_arena(&stack);
	vk_stack_push(&stack, BLOCK_LEN);
	assert_null(vk_stack_push(&stack, ARENA_LEN));
	assert_int_equal(vk_stack_peak(&stack), vk_stack_used(&stack));
}

static void test_owns_live_blocks_only(void **state)
{
	struct vk_stack stack;
	char outside[BLOCK_LEN];
	char *a, *b;

	(void)state;
	stack_on_arena(&stack);
	a = vk_stack_push(&stack, BLOCK_LEN);
	b = vk_stack_push(&stack, BLOCK_LEN);
	assert_true(vk_stack_owns(&stack, a));
	assert_true(vk_stack_owns(&stack, b));
	assert_true(vk_stack_owns(&stack, b + BLOCK_LEN - 1));
	assert_false(vk_stack_owns(&stack, outside));
	assert_false(vk_stack_owns(&stack, arena + ARENA_LEN - 1));
	vk_stack_pop(&stack, b);
	assert_false(vk_stack_owns(&stack, b));
	assert_true(vk_stack_owns(&stack, a));
}

/* ---- raw, known-zero and high blocks (memory per connection) ---- */

/* A raw block is not cleared: its pages are left for the data to touch. */
static void test_push_raw_is_not_zeroed(void **state)
{
	struct vk_stack stack;
	unsigned char *p;

	(void)state;
	stack_on_arena(&stack);
	p = vk_stack_push_raw(&stack, BLOCK_LEN);
	assert_non_null(p);
	for (int i = 0; i < BLOCK_LEN; i++)
		assert_int_equal(p[i], 0xa5);
}

/* On an arena known to be zero, a zeroed push writes nothing; once that
 * memory was used and given back, a zeroed push clears it again: no
 * stale byte of a raw block, a zeroed one, or a header comes through. */
static void test_known_zero_is_trusted_only_until_used(void **state)
{
	struct vk_stack stack;
	char zeros[3 * BLOCK_LEN] = {0};
	char *a, *b, *c, *d;

	(void)state;
	memset(arena, 0, sizeof(arena));
	vk_stack_init(&stack, arena, sizeof(arena));
	vk_stack_assume_zeroed(&stack);
	/* A raw block's owner writes it: once popped, it is not zero. */
	b = vk_stack_push_raw(&stack, BLOCK_LEN);
	memset(b, 0xff, BLOCK_LEN);
	vk_stack_pop(&stack, b);
	c = vk_stack_push(&stack, 3 * BLOCK_LEN);
	assert_memory_equal(c, zeros, 3 * BLOCK_LEN);
	/* Poison beyond the top: a push that trusts the mark leaves it. */
	memset(arena + 1024, 0x5a, 16);
	a = vk_stack_push(&stack, 2048);
	assert_non_null(a);
	assert_true(a <= arena + 1024 && a + 2048 > arena + 1024);
	assert_int_equal((unsigned char)arena[1024], 0x5a);
	/* Used and popped: the same memory must come back cleared. */
	vk_stack_pop(&stack, a);
	d = vk_stack_push(&stack, 2048);
	assert_ptr_equal(d, a);
	assert_int_equal((unsigned char)arena[1024], 0);
	vk_stack_pop(&stack, d);
	vk_stack_pop(&stack, c);
}

/* Without vk_stack_assume_zeroed nothing is trusted: an arena full of
 * garbage still gives zeroed blocks. */
static void test_garbage_arena_is_cleared_without_assume(void **state)
{
	struct vk_stack stack;
	char zeros[BLOCK_LEN] = {0};

	(void)state;
	stack_on_arena(&stack);
	assert_memory_equal(vk_stack_push(&stack, BLOCK_LEN), zeros, BLOCK_LEN);
}

/* High blocks come from the end, for good: counted as used, never owned
 * (a pop of one is ignored), and the stack below still works. */
static void test_push_high_takes_from_the_end(void **state)
{
	struct vk_stack stack;
	char *high, *low;

	(void)state;
	stack_on_arena(&stack);
	high = vk_stack_push_high(&stack, 1000);
	assert_non_null(high);
	assert_ptr_equal(high + 1008, arena + ARENA_LEN); /* 1000 rounded up to 16 */
	assert_int_equal(vk_stack_used(&stack), 1008);
	assert_int_equal(vk_stack_avail(&stack), ARENA_LEN - 1008);
	assert_false(vk_stack_owns(&stack, high));
	vk_stack_pop(&stack, high);
	assert_int_equal(vk_stack_used(&stack), 1008);
	low = vk_stack_push(&stack, ARENA_LEN - 1008 - 64);
	assert_non_null(low);
	assert_true(low + ARENA_LEN - 1008 - 64 <= high);
	assert_null(vk_stack_push_high(&stack, 64));
	assert_int_equal(vk_stack_last_failed(&stack), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_raw_is_not_zeroed),
		cmocka_unit_test(test_known_zero_is_trusted_only_until_used),
		cmocka_unit_test(test_garbage_arena_is_cleared_without_assume),
		cmocka_unit_test(test_push_high_takes_from_the_end),
		cmocka_unit_test(test_new_stack_is_empty),
		cmocka_unit_test(test_push_returns_zeroed_memory),
		cmocka_unit_test(test_push_after_pop_is_zeroed_again),
		cmocka_unit_test(test_push_is_16_byte_aligned),
		cmocka_unit_test(test_push_on_unaligned_start_is_aligned),
		cmocka_unit_test(test_blocks_do_not_overlap),
		cmocka_unit_test(test_push_counts_in_used_and_avail),
		cmocka_unit_test(test_exhaustion_returns_null_and_keeps_size),
		cmocka_unit_test(test_push_larger_than_arena_fails),
		cmocka_unit_test(test_push_fills_arena_without_overrun),
		cmocka_unit_test(test_tiny_unaligned_arena_hands_out_nothing),
		cmocka_unit_test(test_lifo_pop_reclaims_everything),
		cmocka_unit_test(test_pop_of_top_gives_back_its_space),
		cmocka_unit_test(test_pop_below_top_is_not_reclaimed_yet),
		cmocka_unit_test(test_out_of_order_frees_reclaimed_when_top_freed),
		cmocka_unit_test(test_out_of_order_frees_stop_at_a_live_block),
		cmocka_unit_test(test_alloc_free_loop_does_not_creep),
		cmocka_unit_test(test_pop_null_or_foreign_pointer_is_ignored),
		cmocka_unit_test(test_peak_keeps_highest_use),
		cmocka_unit_test(test_failed_push_does_not_raise_peak),
		cmocka_unit_test(test_owns_live_blocks_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
