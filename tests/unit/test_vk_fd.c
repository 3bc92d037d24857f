/* vk_fd: the kernel's table of file descriptors. Entries appear a chunk at
 * a time as fds are used, stay put while the table grows, and carry a
 * generation that tags poll registrations. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "vk_fd.h"
#include "vk_fd_s.h"

/* The table reads RLIMIT_NOFILE when it starts; tests fix it to this. */
#define FD_LIMIT (8 * VK_FD_CHUNK)

static int setup(void **state)
{
	struct vk_fd_table *table_ptr = calloc(1, sizeof(*table_ptr));
	struct rlimit saved, fixed;
	int rc;

	if (!table_ptr || getrlimit(RLIMIT_NOFILE, &saved) == -1)
		return -1;
	if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < FD_LIMIT)
		return -1;
	fixed = saved;
	fixed.rlim_cur = FD_LIMIT;
	if (setrlimit(RLIMIT_NOFILE, &fixed) == -1)
		return -1;
	rc = vk_fd_table_init(table_ptr);
	setrlimit(RLIMIT_NOFILE, &saved);
	*state = table_ptr;
	return rc;
}

static int teardown(void **state)
{
	struct vk_fd_table *table_ptr = *state;

	vk_fd_table_fini(table_ptr);
	free(table_ptr);
	return 0;
}

static int fd_of(struct vk_fd *fd_ptr)
{
	return vk_fd_tag_fd(vk_fd_tag(fd_ptr));
}

static uint32_t gen_of(struct vk_fd *fd_ptr)
{
	return vk_fd_tag_gen(vk_fd_tag(fd_ptr));
}

static void test_new_table_has_no_chunks(void **state)
{
	struct vk_fd_table *table_ptr = *state;

	assert_int_equal(vk_fd_table_chunks(table_ptr), 0);
	assert_null(vk_fd_table_lookup(table_ptr, 0));
}

static void test_get_creates_a_free_entry(void **state)
{
	struct vk_fd_table *table_ptr = *state;
	struct vk_fd *fd_ptr = vk_fd_table_get(table_ptr, 3);

	assert_non_null(fd_ptr);
	assert_int_equal(fd_of(fd_ptr), 3);
	assert_int_equal(fd_ptr->kind, VK_FD_FREE);
	assert_int_equal(fd_ptr->owner, -1);
	assert_int_equal(fd_ptr->slot, -1);
	assert_int_equal(fd_ptr->owner_next, -1);
	assert_int_equal(vk_fd_table_chunks(table_ptr), 1);
}

static void test_get_twice_returns_the_same_entry(void **state)
{
	struct vk_fd_table *table_ptr = *state;
	struct vk_fd *fd_ptr = vk_fd_table_get(table_ptr, 7);

	fd_ptr->kind = VK_FD_CONN;
	fd_ptr->owner = 12;
	assert_ptr_equal(vk_fd_table_get(table_ptr, 7), fd_ptr);
	assert_int_equal(fd_ptr->kind, VK_FD_CONN);
	assert_int_equal(fd_ptr->owner, 12);
}

static void test_entries_in_one_chunk_share_it(void **state)
{
	struct vk_fd_table *table_ptr = *state;

	for (int fd = 0; fd < VK_FD_CHUNK; fd += 17)
		assert_int_equal(fd_of(vk_fd_table_get(table_ptr, fd)), fd);
	assert_non_null(vk_fd_table_get(table_ptr, VK_FD_CHUNK - 1));
	assert_int_equal(vk_fd_table_chunks(table_ptr), 1);
}

static void test_chunks_grow_only_as_used(void **state)
{
	struct vk_fd_table *table_ptr = *state;

	vk_fd_table_get(table_ptr, VK_FD_CHUNK);
	assert_int_equal(vk_fd_table_chunks(table_ptr), 1);
	vk_fd_table_get(table_ptr, 5 * VK_FD_CHUNK + 3);
	assert_int_equal(vk_fd_table_chunks(table_ptr), 2);
	vk_fd_table_get(table_ptr, 5 * VK_FD_CHUNK + 4);
	assert_int_equal(vk_fd_table_chunks(table_ptr), 2);
	vk_fd_table_get(table_ptr, 0);
	assert_int_equal(vk_fd_table_chunks(table_ptr), 3);
}

static void test_entries_stay_put_while_table_grows(void **state)
{
	struct vk_fd_table *table_ptr = *state;
	struct vk_fd *first_ptr = vk_fd_table_get(table_ptr, 1);

	first_ptr->owner = 99;
	for (int fd = VK_FD_CHUNK; fd < FD_LIMIT; fd += VK_FD_CHUNK)
		assert_non_null(vk_fd_table_get(table_ptr, fd));
	assert_int_equal(vk_fd_table_chunks(table_ptr), FD_LIMIT / VK_FD_CHUNK);
	assert_ptr_equal(vk_fd_table_get(table_ptr, 1), first_ptr);
	assert_ptr_equal(vk_fd_table_lookup(table_ptr, 1), first_ptr);
	assert_int_equal(first_ptr->owner, 99);
}

static void test_lookup_does_not_create(void **state)
{
	struct vk_fd_table *table_ptr = *state;

	assert_null(vk_fd_table_lookup(table_ptr, 10));
	assert_null(vk_fd_table_lookup(table_ptr, 3 * VK_FD_CHUNK));
	assert_int_equal(vk_fd_table_chunks(table_ptr), 0);
}

static void test_lookup_finds_entries_of_a_created_chunk(void **state)
{
	struct vk_fd_table *table_ptr = *state;
	struct vk_fd *fd_ptr = vk_fd_table_get(table_ptr, 2 * VK_FD_CHUNK + 1);

	assert_ptr_equal(vk_fd_table_lookup(table_ptr, 2 * VK_FD_CHUNK + 1), fd_ptr);
	assert_int_equal(fd_of(vk_fd_table_lookup(table_ptr, 2 * VK_FD_CHUNK + 9)), 2 * VK_FD_CHUNK + 9);
	assert_null(vk_fd_table_lookup(table_ptr, VK_FD_CHUNK + 1));
	assert_null(vk_fd_table_lookup(table_ptr, 1));
	assert_int_equal(vk_fd_table_chunks(table_ptr), 1);
}

static void test_lookup_of_bad_fds_is_null(void **state)
{
	struct vk_fd_table *table_ptr = *state;

	vk_fd_table_get(table_ptr, FD_LIMIT - 1);
	assert_null(vk_fd_table_lookup(table_ptr, -1));
	assert_null(vk_fd_table_lookup(table_ptr, FD_LIMIT));
	assert_null(vk_fd_table_lookup(table_ptr, 1 << 29));
}

static void test_fd_at_rlimit_is_rejected_with_ebadf(void **state)
{
	struct vk_fd_table *table_ptr = *state;

	assert_non_null(vk_fd_table_get(table_ptr, FD_LIMIT - 1));
	errno = 0;
	assert_null(vk_fd_table_get(table_ptr, FD_LIMIT));
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_null(vk_fd_table_get(table_ptr, 1 << 29));
	assert_int_equal(errno, EBADF);
}

static void test_negative_fd_is_rejected_with_ebadf(void **state)
{
	struct vk_fd_table *table_ptr = *state;

	errno = 0;
	assert_null(vk_fd_table_get(table_ptr, -1));
	assert_int_equal(errno, EBADF);
	assert_int_equal(vk_fd_table_chunks(table_ptr), 0);
}

static void test_reset_bumps_generation_and_frees(void **state)
{
	struct vk_fd_table *table_ptr = *state;
	struct vk_fd *fd_ptr = vk_fd_table_get(table_ptr, 4);
	uint32_t gen = gen_of(fd_ptr);

	fd_ptr->kind = VK_FD_CONN;
	fd_ptr->owner = 3;
	fd_ptr->pending = 1;
	vk_fd_reset(fd_ptr);
	assert_int_equal(gen_of(fd_ptr), gen + 1);
	assert_int_equal(fd_of(fd_ptr), 4);
	assert_int_equal(fd_ptr->kind, VK_FD_FREE);
	assert_int_equal(fd_ptr->owner, -1);
	assert_int_equal(fd_ptr->pending, 0);
	vk_fd_reset(fd_ptr);
	assert_int_equal(gen_of(fd_ptr), gen + 2);
}

static void test_tag_changes_after_reset(void **state)
{
	struct vk_fd_table *table_ptr = *state;
	struct vk_fd *fd_ptr = vk_fd_table_get(table_ptr, 4);
	uint64_t before = vk_fd_tag(fd_ptr);

	vk_fd_reset(fd_ptr);
	assert_true(vk_fd_tag(fd_ptr) != before);
	assert_int_equal(vk_fd_tag_fd(vk_fd_tag(fd_ptr)), vk_fd_tag_fd(before));
}

static void test_tag_round_trips_fd_and_generation(void **state)
{
	struct vk_fd_table *table_ptr = *state;
	struct vk_fd *fd_ptr = vk_fd_table_get(table_ptr, FD_LIMIT - 1);
	uint64_t tag;

	for (int i = 0; i < 5; i++)
		vk_fd_reset(fd_ptr);
	tag = vk_fd_tag(fd_ptr);
	assert_int_equal(vk_fd_tag_fd(tag), FD_LIMIT - 1);
	assert_int_equal(vk_fd_tag_gen(tag), fd_ptr->gen);
}

static void test_tag_keeps_high_generations(void **state)
{
	struct vk_fd_table *table_ptr = *state;
	struct vk_fd *fd_ptr = vk_fd_table_get(table_ptr, 9);
	uint64_t tag;

	fd_ptr->gen = UINT32_MAX - 1;
	vk_fd_reset(fd_ptr);
	tag = vk_fd_tag(fd_ptr);
	assert_int_equal(vk_fd_tag_gen(tag), UINT32_MAX);
	assert_int_equal(vk_fd_tag_fd(tag), 9);
}

static void test_fini_drops_all_chunks(void **state)
{
	struct vk_fd_table *table_ptr = *state;

	vk_fd_table_get(table_ptr, 0);
	vk_fd_table_get(table_ptr, FD_LIMIT - 1);
	vk_fd_table_fini(table_ptr);
	assert_int_equal(vk_fd_table_chunks(table_ptr), 0);
	assert_null(vk_fd_table_lookup(table_ptr, 0));
}

#define FD_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FD_TEST(test_new_table_has_no_chunks),
		FD_TEST(test_get_creates_a_free_entry),
		FD_TEST(test_get_twice_returns_the_same_entry),
		FD_TEST(test_entries_in_one_chunk_share_it),
		FD_TEST(test_chunks_grow_only_as_used),
		FD_TEST(test_entries_stay_put_while_table_grows),
		FD_TEST(test_lookup_does_not_create),
		FD_TEST(test_lookup_finds_entries_of_a_created_chunk),
		FD_TEST(test_lookup_of_bad_fds_is_null),
		FD_TEST(test_fd_at_rlimit_is_rejected_with_ebadf),
		FD_TEST(test_negative_fd_is_rejected_with_ebadf),
		FD_TEST(test_reset_bumps_generation_and_frees),
		FD_TEST(test_tag_changes_after_reset),
		FD_TEST(test_tag_round_trips_fd_and_generation),
		FD_TEST(test_tag_keeps_high_generations),
		FD_TEST(test_fini_drops_all_chunks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
