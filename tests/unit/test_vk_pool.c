/* vk_pool: micro-heaps kept mapped between connections. Preallocated heaps
 * are handed out without mapping, the pool keeps at most max_free, and a
 * heap comes back from it visible whatever state it went in. Free heaps
 * keep their pages up to the warm count and until they decay, oldest
 * first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "vk_heap.h"
#include "vk_heap_s.h"
#include "vk_pool.h"
#include "vk_pool_s.h"

#define POOL_PAGES 4
#define OTHER_PAGES 2
#define PREALLOC 3
#define MAX_FREE 5

/* Whether [ptr, ptr + len) is still mapped in this process. */
static int is_mapped(void *ptr, size_t len)
{
	return msync(ptr, len, MS_ASYNC) == 0 || errno != ENOMEM;
}

static void assert_heap_usable(struct vk_heap *heap_ptr)
{
	char *p = vk_heap_start(heap_ptr);

	assert_non_null(p);
	assert_int_equal(vk_heap_pages(heap_ptr), POOL_PAGES);
	assert_false(vk_heap_is_protected(heap_ptr));
	p[0] = 1;
	p[vk_heap_len(heap_ptr) - 1] = 1;
}

static void test_init_preallocates(void **state)
{
	struct vk_pool pool;

	(void)state;
	assert_int_equal(vk_pool_init(&pool, POOL_PAGES, PREALLOC, MAX_FREE), 0);
	assert_int_equal(vk_pool_pages(&pool), POOL_PAGES);
	assert_int_equal(vk_pool_free_count(&pool), PREALLOC);
	assert_int_equal(vk_pool_misses(&pool), 0);
	vk_pool_fini(&pool);
}

static void test_prealloc_is_capped_at_max_free(void **state)
{
	struct vk_pool pool;

	(void)state;
	assert_int_equal(vk_pool_init(&pool, POOL_PAGES, MAX_FREE + 3, MAX_FREE), 0);
	assert_int_equal(vk_pool_free_count(&pool), MAX_FREE);
	vk_pool_fini(&pool);
}

static void test_get_from_prealloc_does_not_miss(void **state)
{
	struct vk_pool pool;
	struct vk_heap heaps[PREALLOC];

	(void)state;
	vk_pool_init(&pool, POOL_PAGES, PREALLOC, MAX_FREE);
	for (int i = 0; i < PREALLOC; i++) {
		assert_int_equal(vk_pool_get(&pool, &heaps[i]), 0);
		assert_heap_usable(&heaps[i]);
	}
	assert_int_equal(vk_pool_misses(&pool), 0);
	assert_int_equal(vk_pool_free_count(&pool), 0);
	for (int i = 0; i < PREALLOC; i++)
		vk_heap_unmap(&heaps[i]);
	vk_pool_fini(&pool);
}

static void test_get_beyond_prealloc_maps_and_counts_misses(void **state)
{
	struct vk_pool pool;
	struct vk_heap heaps[PREALLOC + 2];

	(void)state;
	vk_pool_init(&pool, POOL_PAGES, PREALLOC, MAX_FREE);
	for (int i = 0; i < PREALLOC + 2; i++) {
		assert_int_equal(vk_pool_get(&pool, &heaps[i]), 0);
		assert_heap_usable(&heaps[i]);
	}
	assert_int_equal(vk_pool_misses(&pool), 2);
	for (int i = 0; i < PREALLOC + 2; i++)
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(vk_heap_start(&heaps[i]), vk_heap_start(&heaps[j]));
	for (int i = 0; i < PREALLOC + 2; i++)
		vk_heap_unmap(&heaps[i]);
	vk_pool_fini(&pool);
}

static void test_put_heap_is_handed_out_again(void **state)
{
	struct vk_pool pool;
	struct vk_heap heap;
	void *start;

	(void)state;
	vk_pool_init(&pool, POOL_PAGES, 0, MAX_FREE);
	assert_int_equal(vk_pool_get(&pool, &heap), 0);
	assert_int_equal(vk_pool_misses(&pool), 1);
	start = vk_heap_start(&heap);
	vk_pool_put(&pool, &heap, 0);
	assert_int_equal(vk_pool_free_count(&pool), 1);
	assert_int_equal(vk_pool_get(&pool, &heap), 0);
	assert_ptr_equal(vk_heap_start(&heap), start);
	assert_int_equal(vk_pool_misses(&pool), 1);
	vk_heap_unmap(&heap);
	vk_pool_fini(&pool);
}

static void test_put_keeps_up_to_max_free(void **state)
{
	struct vk_pool pool;
	struct vk_heap heaps[MAX_FREE + 2];

	(void)state;
	vk_pool_init(&pool, POOL_PAGES, 0, MAX_FREE);
	for (int i = 0; i < MAX_FREE + 2; i++)
		vk_pool_get(&pool, &heaps[i]);
	for (int i = 0; i < MAX_FREE + 2; i++)
		vk_pool_put(&pool, &heaps[i], 0);
	assert_int_equal(vk_pool_free_count(&pool), MAX_FREE);
	vk_pool_fini(&pool);
}

static void test_put_beyond_max_free_unmaps(void **state)
{
	struct vk_pool pool;
	struct vk_heap kept, extra;
	void *extra_start;
	size_t extra_len;

	(void)state;
	vk_pool_init(&pool, POOL_PAGES, 0, 1);
	vk_pool_get(&pool, &kept);
	vk_pool_get(&pool, &extra);
	extra_start = vk_heap_start(&extra);
	extra_len = vk_heap_len(&extra);
	vk_pool_put(&pool, &kept, 0);
	vk_pool_put(&pool, &extra, 0);
	assert_int_equal(vk_pool_free_count(&pool), 1);
	assert_null(vk_heap_start(&extra));
	assert_false(is_mapped(extra_start, extra_len));
	vk_pool_fini(&pool);
}

static void test_heap_of_other_page_count_is_not_kept(void **state)
{
	struct vk_pool pool;
	struct vk_heap other;
	void *start;
	size_t len;

	(void)state;
	vk_pool_init(&pool, POOL_PAGES, 0, MAX_FREE);
	assert_int_equal(vk_heap_map(&other, OTHER_PAGES), 0);
	start = vk_heap_start(&other);
	len = vk_heap_len(&other);
	vk_pool_put(&pool, &other, 0);
	assert_int_equal(vk_pool_free_count(&pool), 0);
	assert_false(is_mapped(start, len));
	vk_pool_fini(&pool);
}

static void test_protected_heap_comes_back_unprotected(void **state)
{
	struct vk_pool pool;
	struct vk_heap heap;
	char *p;

	(void)state;
	vk_pool_init(&pool, POOL_PAGES, 0, MAX_FREE);
	vk_pool_get(&pool, &heap);
	p = vk_heap_start(&heap);
	p[10] = 'k';
	assert_int_equal(vk_heap_protect(&heap), 0);
	vk_pool_put(&pool, &heap, 0);
	memset(&heap, 0, sizeof(heap));
	assert_int_equal(vk_pool_get(&pool, &heap), 0);
	assert_ptr_equal(vk_heap_start(&heap), p);
	assert_heap_usable(&heap);
	assert_int_equal(p[10], 'k');
	vk_heap_unmap(&heap);
	vk_pool_fini(&pool);
}

static void test_fini_unmaps_free_heaps(void **state)
{
	struct vk_pool pool;
	struct vk_heap heaps[PREALLOC];
	void *starts[PREALLOC];
	size_t len = 0;

	(void)state;
	vk_pool_init(&pool, POOL_PAGES, PREALLOC, MAX_FREE);
	for (int i = 0; i < PREALLOC; i++) {
		vk_pool_get(&pool, &heaps[i]);
		starts[i] = vk_heap_start(&heaps[i]);
		len = vk_heap_len(&heaps[i]);
	}
	for (int i = 0; i < PREALLOC; i++)
		vk_pool_put(&pool, &heaps[i], 0);
	vk_pool_fini(&pool);
	assert_int_equal(vk_pool_free_count(&pool), 0);
	for (int i = 0; i < PREALLOC; i++)
		assert_false(is_mapped(starts[i], len));
}

static void test_max_free_below_one_keeps_one(void **state)
{
	struct vk_pool pool;
	struct vk_heap a, b;

	(void)state;
	vk_pool_init(&pool, POOL_PAGES, 0, 0);
	vk_pool_get(&pool, &a);
	vk_pool_get(&pool, &b);
	vk_pool_put(&pool, &a, 0);
	vk_pool_put(&pool, &b, 0);
	assert_int_equal(vk_pool_free_count(&pool), 1);
	vk_pool_fini(&pool);
}

static void test_pool_grows_past_its_first_array(void **state)
{
	enum { MANY = 100 };
	struct vk_pool pool;
	struct vk_heap heap;

	(void)state;
	vk_pool_init(&pool, 1, 0, MANY);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(vk_heap_map(&heap, 1), 0);
		vk_pool_put(&pool, &heap, 0);
	}
	assert_int_equal(vk_pool_free_count(&pool), MANY);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(vk_pool_get(&pool, &heap), 0);
		assert_int_equal(vk_heap_pages(&heap), 1);
		vk_heap_unmap(&heap);
	}
	assert_int_equal(vk_pool_misses(&pool), 0);
	vk_pool_fini(&pool);
}

/* Pages of [ptr, ptr + len) resident in memory. */
static size_t resident_pages(void *ptr, size_t len)
{
	size_t pages = len / vk_page_size(), n = 0;
	unsigned char vec[64];

	assert_true(pages <= sizeof(vec));
	assert_int_equal(mincore(ptr, len, vec), 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	return n;
}

/* A heap put back past the warm count makes the oldest warm one give its
 * pages to the OS: that one stays mapped, comes back zeroed (nothing of
 * the last connection), says so (vk_heap_zeroed), and works again. The
 * newest keeps its pages, and is the one handed out first. */
static void test_heaps_beyond_warm_are_given_back(void **state)
{
	struct vk_pool pool;
	struct vk_heap old, recent, again;
	char *p;

	(void)state;
	assert_int_equal(vk_pool_init(&pool, POOL_PAGES, 0, MAX_FREE), 0);
	vk_pool_set_warm(&pool, 1);
	assert_int_equal(vk_pool_get(&pool, &old), 0);
	assert_int_equal(vk_pool_get(&pool, &recent), 0);
	memset(vk_heap_start(&old), 0x11, vk_heap_len(&old));
	memset(vk_heap_start(&recent), 0x22, vk_heap_len(&recent));
	vk_heap_set_used(&old);
	vk_heap_set_used(&recent);
	vk_pool_put(&pool, &old, 0);
	vk_pool_put(&pool, &recent, 0);
	assert_int_equal(vk_pool_warm_count(&pool), 1);
	assert_int_equal(resident_pages(vk_heap_start(&recent), vk_heap_len(&recent)), POOL_PAGES);
	assert_int_equal(resident_pages(vk_heap_start(&old), vk_heap_len(&old)), 0);

	assert_int_equal(vk_pool_get(&pool, &again), 0);
	assert_ptr_equal(vk_heap_start(&again), vk_heap_start(&recent));
	assert_false(vk_heap_zeroed(&again));
	assert_int_equal(((unsigned char *)vk_heap_start(&again))[0], 0x22);
	vk_heap_unmap(&again);

	assert_int_equal(vk_pool_get(&pool, &again), 0);
	assert_ptr_equal(vk_heap_start(&again), vk_heap_start(&old));
	assert_true(vk_heap_zeroed(&again));
	p = vk_heap_start(&again);
	for (size_t i = 0; i < vk_heap_len(&again); i++)
		assert_int_equal(p[i], 0);
	assert_heap_usable(&again);
	memset(p, 0x33, vk_heap_len(&again));
	assert_int_equal((unsigned char)p[vk_heap_len(&again) / 2], 0x33);
	vk_pool_fini(&pool);
	vk_heap_unmap(&again);
}

#define SECOND_NS 1000000000ull
#define DECAY_NS (8 * SECOND_NS)

/* A heap taken and written over with `byte`. */
static void take_and_use(struct vk_pool *pool_ptr, struct vk_heap *heap_ptr, int byte)
{
	assert_int_equal(vk_pool_get(pool_ptr, heap_ptr), 0);
	memset(vk_heap_start(heap_ptr), byte, vk_heap_len(heap_ptr));
	vk_heap_set_used(heap_ptr);
}

/* Free heaps keep their pages until the decay time passes unused, then
 * give them back in the order they came, those due within an eighth of
 * the decay time together; the pool says when the next is due. */
static void test_warm_heaps_decay_in_the_order_they_came_back(void **state)
{
	struct vk_pool pool;
	struct vk_heap a, b, c, again;

	(void)state;
	assert_int_equal(vk_pool_init(&pool, POOL_PAGES, 0, MAX_FREE), 0);
	assert_int_equal(vk_pool_next_decay_ns(&pool), 0);
	take_and_use(&pool, &a, 0x11);
	vk_pool_put(&pool, &a, 0);
	/* Without a decay time, nothing is ever due. */
	assert_int_equal(vk_pool_next_decay_ns(&pool), 0);
	vk_pool_decay(&pool, 1000 * SECOND_NS);
	assert_int_equal(vk_pool_warm_count(&pool), 1);
	vk_pool_set_decay(&pool, DECAY_NS);
	/* a is taken again and back at 10 s; b and c come at 20 and 20.5 s. */
	take_and_use(&pool, &a, 0x11);
	take_and_use(&pool, &b, 0x22);
	take_and_use(&pool, &c, 0x33);
	vk_pool_put(&pool, &a, 10 * SECOND_NS);
	vk_pool_put(&pool, &b, 20 * SECOND_NS);
	vk_pool_put(&pool, &c, 20 * SECOND_NS + SECOND_NS / 2);
	assert_int_equal(vk_pool_warm_count(&pool), 3);
	assert_int_equal(vk_pool_next_decay_ns(&pool), 10 * SECOND_NS + DECAY_NS);

	vk_pool_decay(&pool, 10 * SECOND_NS + DECAY_NS - DECAY_NS / 8 - 1);
	assert_int_equal(vk_pool_warm_count(&pool), 3);
	vk_pool_decay(&pool, 10 * SECOND_NS + DECAY_NS - DECAY_NS / 8);
	assert_int_equal(vk_pool_warm_count(&pool), 2);
	assert_int_equal(resident_pages(vk_heap_start(&a), vk_heap_len(&a)), 0);
	assert_int_equal(resident_pages(vk_heap_start(&b), vk_heap_len(&b)), POOL_PAGES);
	assert_int_equal(vk_pool_next_decay_ns(&pool), 20 * SECOND_NS + DECAY_NS);
	/* b is due at 28 s, c at 28.5: both go at 28 s. */
	vk_pool_decay(&pool, 20 * SECOND_NS + DECAY_NS);
	assert_int_equal(vk_pool_warm_count(&pool), 0);
	assert_int_equal(vk_pool_next_decay_ns(&pool), 0);
	assert_int_equal(resident_pages(vk_heap_start(&c), vk_heap_len(&c)), 0);

	/* They are still pooled, zeroed, newest first. */
	assert_int_equal(vk_pool_free_count(&pool), 3);
	assert_int_equal(vk_pool_get(&pool, &again), 0);
	assert_ptr_equal(vk_heap_start(&again), vk_heap_start(&c));
	assert_true(vk_heap_zeroed(&again));
	assert_int_equal(((unsigned char *)vk_heap_start(&again))[0], 0);
	/* Taken and put back, it is warm again, and due a decay time later. */
	memset(vk_heap_start(&again), 0x44, vk_heap_len(&again));
	vk_heap_set_used(&again);
	vk_pool_put(&pool, &again, 40 * SECOND_NS);
	assert_int_equal(vk_pool_warm_count(&pool), 1);
	assert_int_equal(vk_pool_next_decay_ns(&pool), 40 * SECOND_NS + DECAY_NS);
	assert_int_equal(resident_pages(vk_heap_start(&c), vk_heap_len(&c)), POOL_PAGES);
	vk_pool_fini(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_preallocates),
		cmocka_unit_test(test_prealloc_is_capped_at_max_free),
		cmocka_unit_test(test_get_from_prealloc_does_not_miss),
		cmocka_unit_test(test_get_beyond_prealloc_maps_and_counts_misses),
		cmocka_unit_test(test_put_heap_is_handed_out_again),
		cmocka_unit_test(test_put_keeps_up_to_max_free),
		cmocka_unit_test(test_put_beyond_max_free_unmaps),
		cmocka_unit_test(test_heap_of_other_page_count_is_not_kept),
		cmocka_unit_test(test_protected_heap_comes_back_unprotected),
		cmocka_unit_test(test_fini_unmaps_free_heaps),
		cmocka_unit_test(test_max_free_below_one_keeps_one),
		cmocka_unit_test(test_pool_grows_past_its_first_array),
		cmocka_unit_test(test_heaps_beyond_warm_are_given_back),
		cmocka_unit_test(test_warm_heaps_decay_in_the_order_they_came_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
