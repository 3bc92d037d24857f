/* vk_timer: the kernel's deadline heap. Expired timers come out in order
 * whatever order they went in, rescheduling and cancelling keep the heap
 * sound, and each timer knows whether it is scheduled. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <time.h>

#include "vk_timer.h"
#include "vk_timer_s.h"

#define MANY_TIMERS 1000
#define RANDOM_SEED 12345
#define NEVER UINT64_MAX

/* The heap and the timers it schedules, so every test can tear down. */
struct fixture {
	struct vk_timer_heap heap;
	struct vk_timer timers[MANY_TIMERS];
	int owners[MANY_TIMERS];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	vk_timer_heap_init(&f->heap);
	for (int i = 0; i < MANY_TIMERS; i++)
		vk_timer_init(&f->timers[i], &f->owners[i]);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vk_timer_heap_fini(&f->heap);
	free(f);
	return 0;
}

/* Pops everything due by `now`, checking that deadlines never go back, and
 * returns how many came out. */
static int pop_all_in_order(struct vk_timer_heap *heap_ptr, uint64_t now)
{
	struct vk_timer *timer_ptr;
	uint64_t last = 0;
	int popped = 0;

	while ((timer_ptr = vk_timer_heap_peek(heap_ptr)) != NULL && vk_timer_when(timer_ptr) <= now) {
		uint64_t when = vk_timer_when(timer_ptr);

		assert_ptr_equal(vk_timer_heap_pop_expired(heap_ptr, now), timer_ptr);
		assert_true(when >= last);
		assert_false(vk_timer_scheduled(timer_ptr));
		last = when;
		popped++;
	}
	return popped;
}

static void assert_none_scheduled(struct fixture *f)
{
	for (int i = 0; i < MANY_TIMERS; i++)
		assert_false(vk_timer_scheduled(&f->timers[i]));
}

static void test_init_leaves_timer_unscheduled(void **state)
{
	struct fixture *f = *state;

	assert_false(vk_timer_scheduled(&f->timers[0]));
	assert_int_equal(vk_timer_when(&f->timers[0]), 0);
	assert_ptr_equal(vk_timer_owner(&f->timers[0]), &f->owners[0]);
	assert_int_equal(vk_timer_heap_len(&f->heap), 0);
	assert_null(vk_timer_heap_peek(&f->heap));
	assert_null(vk_timer_heap_pop_expired(&f->heap, NEVER));
}

static void test_set_schedules_the_timer(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(vk_timer_set(&f->heap, &f->timers[0], 100), 0);
	assert_true(vk_timer_scheduled(&f->timers[0]));
	assert_int_equal(vk_timer_when(&f->timers[0]), 100);
	assert_int_equal(vk_timer_heap_len(&f->heap), 1);
	assert_ptr_equal(vk_timer_heap_peek(&f->heap), &f->timers[0]);
}

static void test_pop_expired_waits_for_the_deadline(void **state)
{
	struct fixture *f = *state;

	vk_timer_set(&f->heap, &f->timers[0], 100);
	assert_null(vk_timer_heap_pop_expired(&f->heap, 99));
	assert_ptr_equal(vk_timer_heap_pop_expired(&f->heap, 100), &f->timers[0]);
	assert_false(vk_timer_scheduled(&f->timers[0]));
	assert_int_equal(vk_timer_when(&f->timers[0]), 0);
	assert_int_equal(vk_timer_heap_len(&f->heap), 0);
}

static void test_pop_expired_leaves_later_timers(void **state)
{
	struct fixture *f = *state;

	vk_timer_set(&f->heap, &f->timers[0], 300);
	vk_timer_set(&f->heap, &f->timers[1], 100);
	vk_timer_set(&f->heap, &f->timers[2], 200);
	assert_int_equal(pop_all_in_order(&f->heap, 250), 2);
	assert_true(vk_timer_scheduled(&f->timers[0]));
	assert_false(vk_timer_scheduled(&f->timers[1]));
	assert_false(vk_timer_scheduled(&f->timers[2]));
	assert_int_equal(vk_timer_heap_len(&f->heap), 1);
}

static void test_many_random_deadlines_pop_in_order(void **state)
{
	struct fixture *f = *state;

	srandom(RANDOM_SEED);
	for (int i = 0; i < MANY_TIMERS; i++)
		assert_int_equal(vk_timer_set(&f->heap, &f->timers[i], 1 + (uint64_t)random() % 10000), 0);
	assert_int_equal(vk_timer_heap_len(&f->heap), MANY_TIMERS);
	assert_int_equal(pop_all_in_order(&f->heap, NEVER), MANY_TIMERS);
	assert_int_equal(vk_timer_heap_len(&f->heap), 0);
	assert_none_scheduled(f);
}

static void test_equal_deadlines_all_pop(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 100; i++)
		vk_timer_set(&f->heap, &f->timers[i], 500);
	assert_int_equal(pop_all_in_order(&f->heap, 500), 100);
	for (int i = 0; i < 100; i++)
		assert_false(vk_timer_scheduled(&f->timers[i]));
}

static void test_reschedule_earlier_moves_to_front(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 10; i++)
		vk_timer_set(&f->heap, &f->timers[i], 100 + (uint64_t)i * 10);
	vk_timer_set(&f->heap, &f->timers[9], 50);
	assert_int_equal(vk_timer_heap_len(&f->heap), 10);
	assert_ptr_equal(vk_timer_heap_peek(&f->heap), &f->timers[9]);
	assert_int_equal(vk_timer_when(&f->timers[9]), 50);
	assert_int_equal(pop_all_in_order(&f->heap, NEVER), 10);
}

static void test_reschedule_later_moves_back(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 10; i++)
		vk_timer_set(&f->heap, &f->timers[i], 100 + (uint64_t)i * 10);
	vk_timer_set(&f->heap, &f->timers[0], 1000);
	assert_int_equal(vk_timer_heap_len(&f->heap), 10);
	assert_ptr_equal(vk_timer_heap_peek(&f->heap), &f->timers[1]);
	assert_int_equal(pop_all_in_order(&f->heap, 999), 9);
	assert_ptr_equal(vk_timer_heap_pop_expired(&f->heap, 1000), &f->timers[0]);
}

static void test_many_random_reschedules_keep_order(void **state)
{
	struct fixture *f = *state;

	srandom(RANDOM_SEED);
	for (int i = 0; i < MANY_TIMERS; i++)
		vk_timer_set(&f->heap, &f->timers[i], 1 + (uint64_t)random() % 10000);
	for (int i = 0; i < MANY_TIMERS; i++)
		vk_timer_set(&f->heap, &f->timers[random() % MANY_TIMERS], 1 + (uint64_t)random() % 10000);
	assert_int_equal(vk_timer_heap_len(&f->heap), MANY_TIMERS);
	assert_int_equal(pop_all_in_order(&f->heap, NEVER), MANY_TIMERS);
	assert_none_scheduled(f);
}

static void test_cancel_from_the_middle(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 10; i++)
		vk_timer_set(&f->heap, &f->timers[i], 100 + (uint64_t)i * 10);
	assert_int_equal(vk_timer_set(&f->heap, &f->timers[5], 0), 0);
	assert_false(vk_timer_scheduled(&f->timers[5]));
	assert_int_equal(vk_timer_when(&f->timers[5]), 0);
	assert_int_equal(vk_timer_heap_len(&f->heap), 9);
	assert_int_equal(pop_all_in_order(&f->heap, NEVER), 9);
	assert_false(vk_timer_scheduled(&f->timers[5]));
}

static void test_cancel_the_last_entry(void **state)
{
	struct fixture *f = *state;

	vk_timer_set(&f->heap, &f->timers[0], 100);
	vk_timer_set(&f->heap, &f->timers[1], 200);
	vk_timer_set(&f->heap, &f->timers[1], 0);
	assert_int_equal(vk_timer_heap_len(&f->heap), 1);
	assert_false(vk_timer_scheduled(&f->timers[1]));
	assert_true(vk_timer_scheduled(&f->timers[0]));
	assert_ptr_equal(vk_timer_heap_pop_expired(&f->heap, NEVER), &f->timers[0]);
}

static void test_cancel_unscheduled_timer_is_harmless(void **state)
{
	struct fixture *f = *state;

	vk_timer_set(&f->heap, &f->timers[0], 100);
	assert_int_equal(vk_timer_set(&f->heap, &f->timers[1], 0), 0);
	assert_int_equal(vk_timer_heap_len(&f->heap), 1);
	assert_false(vk_timer_scheduled(&f->timers[1]));
	assert_true(vk_timer_scheduled(&f->timers[0]));
}

static void test_many_random_cancels_keep_order(void **state)
{
	struct fixture *f = *state;
	int cancelled = 0;

	srandom(RANDOM_SEED);
	for (int i = 0; i < MANY_TIMERS; i++)
		vk_timer_set(&f->heap, &f->timers[i], 1 + (uint64_t)random() % 10000);
	for (int i = 0; i < MANY_TIMERS; i += 3) {
		vk_timer_set(&f->heap, &f->timers[i], 0);
		cancelled++;
	}
	assert_int_equal(vk_timer_heap_len(&f->heap), MANY_TIMERS - cancelled);
	for (int i = 0; i < MANY_TIMERS; i++)
		assert_int_equal(vk_timer_scheduled(&f->timers[i]), i % 3 != 0);
	assert_int_equal(pop_all_in_order(&f->heap, NEVER), MANY_TIMERS - cancelled);
	assert_none_scheduled(f);
}

static void test_popped_timer_can_be_scheduled_again(void **state)
{
	struct fixture *f = *state;

	vk_timer_set(&f->heap, &f->timers[0], 100);
	vk_timer_heap_pop_expired(&f->heap, 100);
	assert_int_equal(vk_timer_set(&f->heap, &f->timers[0], 200), 0);
	assert_true(vk_timer_scheduled(&f->timers[0]));
	assert_int_equal(vk_timer_heap_len(&f->heap), 1);
	assert_ptr_equal(vk_timer_heap_pop_expired(&f->heap, 200), &f->timers[0]);
}

static void test_fini_empties_the_heap(void **state)
{
	struct fixture *f = *state;

	vk_timer_set(&f->heap, &f->timers[0], 100);
	vk_timer_heap_fini(&f->heap);
	assert_int_equal(vk_timer_heap_len(&f->heap), 0);
	assert_null(vk_timer_heap_peek(&f->heap));
}

static void test_now_is_monotonic(void **state)
{
	uint64_t last = vk_now_ns();

	(void)state;
	assert_true(last > 0);
	for (int i = 0; i < 10000; i++) {
		uint64_t now = vk_now_ns();

		assert_true(now >= last);
		last = now;
	}
}

static void test_now_advances(void **state)
{
	uint64_t start = vk_now_ns();
	struct timespec nap = {0, 1000000};

	(void)state;
	/* Not synchronisation: the clock must count the time slept. */
	nanosleep(&nap, NULL);
	assert_true(vk_now_ns() - start >= 1000000);
}

#define TIMER_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TIMER_TEST(test_init_leaves_timer_unscheduled),
		TIMER_TEST(test_set_schedules_the_timer),
		TIMER_TEST(test_pop_expired_waits_for_the_deadline),
		TIMER_TEST(test_pop_expired_leaves_later_timers),
		TIMER_TEST(test_many_random_deadlines_pop_in_order),
		TIMER_TEST(test_equal_deadlines_all_pop),
		TIMER_TEST(test_reschedule_earlier_moves_to_front),
		TIMER_TEST(test_reschedule_later_moves_back),
		TIMER_TEST(test_many_random_reschedules_keep_order),
		TIMER_TEST(test_cancel_from_the_middle),
		TIMER_TEST(test_cancel_the_last_entry),
		TIMER_TEST(test_cancel_unscheduled_timer_is_harmless),
		TIMER_TEST(test_many_random_cancels_keep_order),
		TIMER_TEST(test_popped_timer_can_be_scheduled_again),
		TIMER_TEST(test_fini_empties_the_heap),
		cmocka_unit_test(test_now_is_monotonic),
		cmocka_unit_test(test_now_advances),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
