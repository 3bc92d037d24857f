/* vk_zone and vk_malloc: the allocator over a fixed region (aligned
 * blocks, frees in any order merged so the whole region comes back, growth
 * in place, refusals and bad frees counted, a long random run checked
 * against a model) and the routing of the process's malloc into an entered
 * zone (what is freed later, entered or not, goes back to its zone). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "vk_malloc.h"
#include "vk_zone.h"
#include "vk_zone_s.h"

#define REGION_LEN (64 * 1024)

static _Alignas(VK_ZONE_ALIGN) char region[REGION_LEN];

static void zone_on_region(struct vk_zone *zone_ptr)
{
	memset(region, 0xa5, sizeof(region));
	vk_zone_init(zone_ptr, region, sizeof(region));
}

static int within_region(const void *ptr, size_t len)
{
	return (const char *)ptr >= region && (const char *)ptr + len <= region + sizeof(region);
}

static void test_blocks_are_aligned_inside_and_apart(void **state)
{
	struct vk_zone zone;
	char *a, *b, *c;

	(void)state;
	zone_on_region(&zone);
	a = vk_zone_alloc(&zone, 1);
	b = vk_zone_alloc(&zone, 100);
	c = vk_zone_alloc(&zone, 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(within_region(a, 1) && within_region(b, 100) && within_region(c, 1));
	assert_int_equal((uintptr_t)a % VK_ZONE_ALIGN, 0);
	assert_int_equal((uintptr_t)b % VK_ZONE_ALIGN, 0);
	assert_true(b >= a + 1 || a >= b + 100);
	assert_true(vk_zone_usable(&zone, b) >= 100);
	memset(b, 0x11, 100);
	memset(a, 0x22, 1);
	assert_int_equal(b[99], 0x11);
	assert_int_equal(vk_zone_live(&zone), 3);
	assert_true(vk_zone_owns(&zone, a));
	assert_false(vk_zone_owns(&zone, region + sizeof(region)));
}

/* Frees in any order: the region comes back as one block, able to hold
 * nearly all of it again. */
static void test_frees_in_any_order_merge(void **state)
{
	struct vk_zone zone;
	void *blocks[40];
	void *big;

	(void)state;
	zone_on_region(&zone);
	for (int i = 0; i < 40; i++)
		assert_non_null(blocks[i] = vk_zone_alloc(&zone, 500));
	for (int i = 0; i < 40; i += 2)
		vk_zone_free(&zone, blocks[i]);
	/* Free holes of 512 bytes each: a larger block does not fit in them. */
	for (int i = 1; i < 40; i += 4)
		vk_zone_free(&zone, blocks[i]);
	for (int i = 3; i < 40; i += 4)
		vk_zone_free(&zone, blocks[i]);
	assert_int_equal(vk_zone_live(&zone), 0);
	assert_int_equal(vk_zone_used(&zone), 0);
	assert_true(vk_zone_peak(&zone) >= 40 * 500);
	big = vk_zone_alloc(&zone, REGION_LEN - 64);
	assert_non_null(big);
	vk_zone_free(&zone, big);
	assert_int_equal(vk_zone_refused(&zone), 0);
}

static void test_full_zone_refuses_and_counts(void **state)
{
	struct vk_zone zone;
	void *a;

	(void)state;
	zone_on_region(&zone);
	assert_null(vk_zone_alloc(&zone, REGION_LEN));
	assert_null(vk_zone_alloc(&zone, SIZE_MAX));
	a = vk_zone_alloc(&zone, REGION_LEN / 2);
	assert_non_null(a);
	assert_null(vk_zone_alloc(&zone, REGION_LEN / 2));
	assert_int_equal(vk_zone_refused(&zone), 3);
	vk_zone_free(&zone, a);
	assert_non_null(vk_zone_alloc(&zone, REGION_LEN / 2));
}

static void test_bad_frees_are_counted_and_ignored(void **state)
{
	struct vk_zone zone;
	char *a;

	(void)state;
	zone_on_region(&zone);
	a = vk_zone_alloc(&zone, 64);
	vk_zone_free(&zone, a + 16); /* inside a block */
	vk_zone_free(&zone, a);
	vk_zone_free(&zone, a); /* twice */
	vk_zone_free(&zone, NULL);
	assert_int_equal(vk_zone_bad_frees(&zone), 2);
	assert_int_equal(vk_zone_live(&zone), 0);
	assert_int_equal(vk_zone_used(&zone), 0);
}

static void test_realloc_grows_in_place_and_moves_when_it_must(void **state)
{
	struct vk_zone zone;
	char *a, *b, *grown;

	(void)state;
	zone_on_region(&zone);
	a = vk_zone_alloc(&zone, 100);
	memset(a, 0x5a, 100);
	grown = vk_zone_realloc(&zone, a, 1000); /* the free rest follows it */
	assert_ptr_equal(grown, a);
	assert_int_equal(grown[99], 0x5a);
	b = vk_zone_alloc(&zone, 100); /* now a neighbour: no more room */
	grown = vk_zone_realloc(&zone, a, 5000);
	assert_ptr_not_equal(grown, a);
	for (int i = 0; i < 100; i++)
		assert_int_equal(grown[i], 0x5a);
	assert_ptr_equal(vk_zone_realloc(&zone, grown, 10), grown); /* shrinks in place */
	assert_null(vk_zone_realloc(&zone, b, 0));		    /* 0 bytes: freed */
	assert_null(vk_zone_realloc(&zone, grown, REGION_LEN));	    /* too large: kept */
	assert_int_equal(grown[9], 0x5a);
	vk_zone_free(&zone, grown);
	assert_int_equal(vk_zone_live(&zone), 0);
	assert_int_equal(vk_zone_used(&zone), 0);
}

/* Many random allocations, reallocations and frees, each block filled with
 * its own byte: no block ever overlaps another or loses its content, and
 * once all are freed the zone is empty again. */
static void test_random_run_keeps_every_block_intact(void **state)
{
	enum { SLOTS = 64 };
	struct vk_zone zone;
	char *ptrs[SLOTS] = {0};
	size_t lens[SLOTS] = {0};
	uint64_t seed = 42;

	(void)state;
	zone_on_region(&zone);
	for (int round = 0; round < 20000; round++) {
		int i;
		size_t len;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		i = (int)((seed >> 33) % SLOTS);
		len = (size_t)((seed >> 13) % ((seed >> 50) % 4 == 0 ? 4000 : 200));
		if (ptrs[i]) {
			for (size_t k = 0; k < lens[i]; k++)
				assert_int_equal((unsigned char)ptrs[i][k], (unsigned char)i);
		}
		if (ptrs[i] && (seed >> 40) % 2 == 0) {
			vk_zone_free(&zone, ptrs[i]);
			ptrs[i] = NULL;
			lens[i] = 0;
			continue;
		}
		{
			char *p = ptrs[i] ? vk_zone_realloc(&zone, ptrs[i], len + 1) : vk_zone_alloc(&zone, len + 1);

			if (!p)
				continue; /* refused: the old block stays */
			assert_true(within_region(p, len + 1));
			if (lens[i] > len + 1)
				lens[i] = len + 1;
			ptrs[i] = p;
			memset(p + lens[i], i, len + 1 - lens[i]);
			lens[i] = len + 1;
		}
	}
	for (int i = 0; i < SLOTS; i++)
		vk_zone_free(&zone, ptrs[i]);
	assert_int_equal(vk_zone_live(&zone), 0);
	assert_int_equal(vk_zone_used(&zone), 0);
	assert_int_equal(vk_zone_bad_frees(&zone), 0);
	assert_non_null(vk_zone_alloc(&zone, REGION_LEN - 64));
}

/* The process's malloc while a zone is entered: its blocks come from the
 * zone, a free after leaving finds them through the zone's residency, and
 * libc's blocks stay libc's. (Skipped under ASan, which routes nothing.) */
static void test_malloc_goes_to_the_entered_zone(void **state)
{
	struct vk_zone zone, *previous_ptr;
	char *libc_ptr, *zoned_ptr, *cleared_ptr, *grown_ptr;

	(void)state;
	if (!vk_malloc_routes())
		skip();
	zone_on_region(&zone);
	libc_ptr = malloc(32);
	previous_ptr = vk_malloc_enter(&zone);
	assert_ptr_equal(vk_malloc_entered(), &zone);
	zoned_ptr = malloc(100);
	cleared_ptr = calloc(10, 10);
	grown_ptr = realloc(NULL, 10);
	libc_ptr = realloc(libc_ptr, 64); /* libc's, grown by libc */
	vk_malloc_leave(previous_ptr);
	assert_true(within_region(zoned_ptr, 100));
	assert_true(within_region(cleared_ptr, 100));
	assert_true(within_region(grown_ptr, 10));
	assert_false(within_region(libc_ptr, 1));
	for (int i = 0; i < 100; i++)
		assert_int_equal(cleared_ptr[i], 0);
	assert_int_equal(vk_zone_live(&zone), 3);
	free(libc_ptr);
	assert_int_equal(vk_malloc_add_resident(&zone), 0);
	free(zoned_ptr);
	grown_ptr = realloc(grown_ptr, 2000);
	assert_true(within_region(grown_ptr, 2000));
	free(grown_ptr);
	free(cleared_ptr);
	vk_malloc_remove_resident(&zone);
	assert_int_equal(vk_zone_live(&zone), 0);
	/* A zone with no room: malloc says NULL, as any malloc may. */
	vk_zone_init(&zone, region, 8);
	previous_ptr = vk_malloc_enter(&zone);
	zoned_ptr = malloc(1);
	vk_malloc_reset();
	assert_null(zoned_ptr);
	assert_null(vk_malloc_entered());
}

/* A zone over a mapping of its own is resident from the start: a block
 * taken while it was entered is freed from outside it. */
static void test_mapped_zone_is_resident(void **state)
{
	struct vk_zone *zone_ptr = vk_malloc_map_zone(100 * 1024), *previous_ptr;
	char *ptr;

	(void)state;
	if (!vk_malloc_routes())
		skip();
	assert_non_null(zone_ptr);
	ptr = vk_zone_alloc(zone_ptr, 100 * 1024 - 64); /* the room asked for is there */
	assert_non_null(ptr);
	vk_zone_free(zone_ptr, ptr);
	previous_ptr = vk_malloc_enter(zone_ptr);
	ptr = malloc(4000);
	vk_malloc_leave(previous_ptr);
	assert_true(vk_zone_owns(zone_ptr, ptr));
	assert_int_equal(vk_zone_live(zone_ptr), 1);
	free(ptr);
	assert_int_equal(vk_zone_live(zone_ptr), 0);
	vk_malloc_unmap_zone(zone_ptr);
	ptr = malloc(16); /* libc's, with no resident zone left to ask */
	free(ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocks_are_aligned_inside_and_apart),
		cmocka_unit_test(test_frees_in_any_order_merge),
		cmocka_unit_test(test_full_zone_refuses_and_counts),
		cmocka_unit_test(test_bad_frees_are_counted_and_ignored),
		cmocka_unit_test(test_realloc_grows_in_place_and_moves_when_it_must),
		cmocka_unit_test(test_random_run_keeps_every_block_intact),
		cmocka_unit_test(test_malloc_goes_to_the_entered_zone),
		cmocka_unit_test(test_mapped_zone_is_resident),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
