/* gw_arena: bump allocation over mappings. Alignment, zeroed memory, growth
 * chunk by chunk, large requests in chunks of their own, string copies,
 * sealing that really makes the memory read-only (a write in a forked
 * child must die by SIGSEGV), and contains(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gw_arena.h"

#define SMALL_CHUNK 4096

static int is_aligned(const void *ptr)
{
	return ((uintptr_t)ptr % GW_ARENA_ALIGN) == 0;
}

static void test_allocations_are_aligned_zeroed_and_apart(void **state)
{
	struct gw_arena *arena_ptr = gw_arena_create(0);
	unsigned char *previous_ptr = NULL;

	(void)state;
	assert_non_null(arena_ptr);
	for (size_t len = 1; len < 200; len += 7) {
		unsigned char *block_ptr = gw_arena_alloc(arena_ptr, len);

		assert_non_null(block_ptr);
		assert_true(is_aligned(block_ptr));
		for (size_t i = 0; i < len; i++)
			assert_int_equal(block_ptr[i], 0);
		memset(block_ptr, 0xAB, len);
		if (previous_ptr)
			assert_true(block_ptr >= previous_ptr + len - 7);
		previous_ptr = block_ptr;
	}
	gw_arena_destroy(arena_ptr);
}

static void test_zero_length_gives_distinct_pointers(void **state)
{
	struct gw_arena *arena_ptr = gw_arena_create(0);
	void *a_ptr = gw_arena_alloc(arena_ptr, 0);
	void *b_ptr = gw_arena_alloc(arena_ptr, 0);

	(void)state;
	assert_non_null(a_ptr);
	assert_non_null(b_ptr);
	assert_ptr_not_equal(a_ptr, b_ptr);
	gw_arena_destroy(arena_ptr);
}

static void test_arena_grows_chunk_by_chunk(void **state)
{
	struct gw_arena *arena_ptr = gw_arena_create(SMALL_CHUNK);
	char *blocks[64];

	(void)state;
	assert_int_equal(gw_arena_chunk_count(arena_ptr), 1);
	for (int i = 0; i < 64; i++) {
		blocks[i] = gw_arena_alloc(arena_ptr, 1000);
		assert_non_null(blocks[i]);
		memset(blocks[i], i, 1000);
	}
	assert_true(gw_arena_chunk_count(arena_ptr) >= 64 * 1000 / SMALL_CHUNK);
	assert_int_equal(gw_arena_used(arena_ptr), 64 * 1008);
	assert_true(gw_arena_mapped(arena_ptr) >= gw_arena_used(arena_ptr));
	/* Earlier blocks are untouched by later ones. */
	for (int i = 0; i < 64; i++) {
		assert_int_equal((unsigned char)blocks[i][0], i);
		assert_int_equal((unsigned char)blocks[i][999], i);
	}
	gw_arena_destroy(arena_ptr);
}

static void test_large_request_gets_its_own_chunk(void **state)
{
	struct gw_arena *arena_ptr = gw_arena_create(SMALL_CHUNK);
	size_t large = 10 * SMALL_CHUNK - 64; /* fills its chunk but for a few bytes */
	char *small_ptr = gw_arena_alloc(arena_ptr, 16);
	char *large_ptr = gw_arena_alloc(arena_ptr, large);
	char *next_ptr = gw_arena_alloc(arena_ptr, 16);
	char *huge_ptr = gw_arena_alloc(arena_ptr, 100 * SMALL_CHUNK - 64);

	(void)state;
	assert_non_null(large_ptr);
	memset(large_ptr, 1, large);
	assert_non_null(huge_ptr);
	memset(huge_ptr, 2, 100 * SMALL_CHUNK - 64);
	assert_int_equal(gw_arena_chunk_count(arena_ptr), 3);
	assert_true(gw_arena_mapped(arena_ptr) >= 110 * SMALL_CHUNK);
	/* The current chunk had more room left than the large one: small
	 * requests go on there, right after the first. */
	assert_ptr_equal(next_ptr, small_ptr + 16);
	assert_ptr_equal(gw_arena_alloc(arena_ptr, 16), next_ptr + 16);
	gw_arena_destroy(arena_ptr);
}

static void test_bumping_moves_to_the_roomier_chunk(void **state)
{
	struct gw_arena *arena_ptr = gw_arena_create(SMALL_CHUNK);
	char *first_ptr = gw_arena_alloc(arena_ptr, 3000);
	char *second_ptr = gw_arena_alloc(arena_ptr, 5000); /* leaves ~3 KiB in its chunk, ~1 KiB here */

	(void)state;
	assert_non_null(first_ptr);
	assert_int_equal(gw_arena_chunk_count(arena_ptr), 2);
	assert_ptr_equal(gw_arena_alloc(arena_ptr, 16), second_ptr + 5008);
	gw_arena_destroy(arena_ptr);
}

static void test_too_large_request_fails_with_enomem(void **state)
{
	struct gw_arena *arena_ptr = gw_arena_create(0);

	(void)state;
	errno = 0;
	assert_null(gw_arena_alloc(arena_ptr, SIZE_MAX));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(gw_arena_alloc(arena_ptr, SIZE_MAX - 100));
	assert_int_equal(errno, ENOMEM);
	assert_non_null(gw_arena_alloc(arena_ptr, 8));
	gw_arena_destroy(arena_ptr);
}

static void test_string_copies(void **state)
{
	struct gw_arena *arena_ptr = gw_arena_create(0);
	char *copy;

	(void)state;
	copy = gw_arena_strndup(arena_ptr, "listener", 4);
	assert_string_equal(copy, "list");
	assert_true(is_aligned(copy));
	assert_string_equal(gw_arena_strndup(arena_ptr, "ab", 100), "ab");
	assert_string_equal(gw_arena_strndup(arena_ptr, "ab", 0), "");
	assert_string_equal(gw_arena_strdup(arena_ptr, "route-7"), "route-7");
	assert_string_equal(gw_arena_printf(arena_ptr, "%s-%d", "route", 12), "route-12");
	assert_memory_equal(gw_arena_memdup(arena_ptr, "a\0b", 3), "a\0b", 3);
	assert_non_null(gw_arena_memdup(arena_ptr, NULL, 0));
	gw_arena_destroy(arena_ptr);
}

static void test_contains_knows_the_arena_memory(void **state)
{
	struct gw_arena *arena_ptr = gw_arena_create(SMALL_CHUNK);
	char *a_ptr = gw_arena_alloc(arena_ptr, 100);
	char *b_ptr = gw_arena_alloc(arena_ptr, 3 * SMALL_CHUNK);
	char outside[16];

	(void)state;
	assert_true(gw_arena_contains(arena_ptr, a_ptr, 100));
	assert_true(gw_arena_contains(arena_ptr, b_ptr, 3 * SMALL_CHUNK));
	assert_true(gw_arena_contains(arena_ptr, b_ptr + 10, 1));
	assert_false(gw_arena_contains(arena_ptr, outside, sizeof(outside)));
	assert_false(gw_arena_contains(arena_ptr, a_ptr, SIZE_MAX));
	gw_arena_destroy(arena_ptr);
}

/* Writes one byte in a child and returns how the child ended. */
static int status_of_child_writing(char *byte_ptr)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = {0, 0};

		setrlimit(RLIMIT_CORE, &no_core);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		*(volatile char *)byte_ptr = 1;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_sealed_arena_is_read_only(void **state)
{
	struct gw_arena *arena_ptr = gw_arena_create(SMALL_CHUNK);
	char *first_ptr = gw_arena_strdup(arena_ptr, "kept");
	char *big_ptr = gw_arena_alloc(arena_ptr, 2 * SMALL_CHUNK);
	int status;

	(void)state;
	assert_false(gw_arena_is_sealed(arena_ptr));
	assert_int_equal(gw_arena_seal(arena_ptr), 0);
	assert_true(gw_arena_is_sealed(arena_ptr));
	assert_int_equal(gw_arena_seal(arena_ptr), 0);
	assert_string_equal(first_ptr, "kept");
	status = status_of_child_writing(first_ptr);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	status = status_of_child_writing(big_ptr + SMALL_CHUNK);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	errno = 0;
	assert_null(gw_arena_alloc(arena_ptr, 8));
	assert_int_equal(errno, EPERM);
	assert_int_equal(gw_arena_unseal(arena_ptr), 0);
	assert_false(gw_arena_is_sealed(arena_ptr));
	status = status_of_child_writing(first_ptr);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	first_ptr[0] = 'K';
	assert_non_null(gw_arena_alloc(arena_ptr, 8));
	assert_int_equal(gw_arena_seal(arena_ptr), 0);
	gw_arena_destroy(arena_ptr); /* sealed arenas go too */
}

static void test_destroy_takes_null(void **state)
{
	(void)state;
	gw_arena_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allocations_are_aligned_zeroed_and_apart),
		cmocka_unit_test(test_zero_length_gives_distinct_pointers),
		cmocka_unit_test(test_arena_grows_chunk_by_chunk),
		cmocka_unit_test(test_large_request_gets_its_own_chunk),
		cmocka_unit_test(test_bumping_moves_to_the_roomier_chunk),
		cmocka_unit_test(test_too_large_request_fails_with_enomem),
		cmocka_unit_test(test_string_copies),
		cmocka_unit_test(test_contains_knows_the_arena_memory),
		cmocka_unit_test(test_sealed_arena_is_read_only),
		cmocka_unit_test(test_destroy_takes_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
