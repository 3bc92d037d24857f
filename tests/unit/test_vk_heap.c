/* vk_heap: a micro-process's memory as one mapping. Mapping, bounds, and
 * protection that really hides the pages (checked in a forked child that
 * must die by SIGSEGV). */
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

#include "vk_heap.h"
#include "vk_heap_s.h"

#define HEAP_PAGES 4

/* Runs touch(heap) in a child and returns how the child ended (waitpid). */
static int status_of_child_touching(struct vk_heap *heap_ptr, void (*touch)(struct vk_heap *))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = {0, 0};

		/* The child's fault must end it: no cmocka or sanitizer handler,
		 * and no core file. */
		setrlimit(RLIMIT_CORE, &no_core);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		touch(heap_ptr);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void write_first_byte(struct vk_heap *heap_ptr)
{
	*(volatile char *)vk_heap_start(heap_ptr) = 1;
}

static void write_last_byte(struct vk_heap *heap_ptr)
{
	((volatile char *)vk_heap_start(heap_ptr))[vk_heap_len(heap_ptr) - 1] = 1;
}

static void read_first_byte(struct vk_heap *heap_ptr)
{
	(void)*(volatile char *)vk_heap_start(heap_ptr);
}

static void write_guard_page(struct vk_heap *heap_ptr)
{
	((volatile char *)vk_heap_start(heap_ptr))[-1] = 1;
}

static int died_by_sigsegv(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

static int exited_cleanly(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_pages_for_rounds_up(void **state)
{
	size_t page = vk_page_size();

	(void)state;
	assert_int_equal(page, (size_t)sysconf(_SC_PAGESIZE));
	assert_int_equal(vk_pages_for(0), 0);
	assert_int_equal(vk_pages_for(1), 1);
	assert_int_equal(vk_pages_for(page - 1), 1);
	assert_int_equal(vk_pages_for(page), 1);
	assert_int_equal(vk_pages_for(page + 1), 2);
	assert_int_equal(vk_pages_for(10 * page), 10);
}

static void test_pages_for_does_not_wrap_near_size_max(void **state)
{
	size_t page = vk_page_size();

	(void)state;
	assert_int_equal(vk_pages_for(SIZE_MAX), SIZE_MAX / page + 1);
	assert_int_equal(vk_pages_for(SIZE_MAX - page + 2), SIZE_MAX / page + 1);
}

static void test_map_gives_writable_zeroed_pages(void **state)
{
	struct vk_heap heap;
	char *p;

	(void)state;
	assert_int_equal(vk_heap_map(&heap, HEAP_PAGES), 0);
	p = vk_heap_start(&heap);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % vk_page_size(), 0);
	assert_int_equal(vk_heap_pages(&heap), HEAP_PAGES);
	assert_int_equal(vk_heap_len(&heap), HEAP_PAGES * vk_page_size());
	assert_false(vk_heap_is_protected(&heap));
	for (size_t i = 0; i < vk_heap_len(&heap); i++)
		assert_int_equal(p[i], 0);
	memset(p, 0x5a, vk_heap_len(&heap));
	assert_int_equal(p[vk_heap_len(&heap) - 1], 0x5a);
	vk_heap_unmap(&heap);
}

static void test_map_zero_pages_fails_with_einval(void **state)
{
	struct vk_heap heap;

	(void)state;
	errno = 0;
	assert_int_equal(vk_heap_map(&heap, 0), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_map_overflowing_page_count_fails_with_einval(void **state)
{
	struct vk_heap heap;

	(void)state;
	errno = 0;
	assert_int_equal(vk_heap_map(&heap, SIZE_MAX / vk_page_size()), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_unmap_clears_the_heap(void **state)
{
	struct vk_heap heap;

	(void)state;
	assert_int_equal(vk_heap_map(&heap, HEAP_PAGES), 0);
	vk_heap_unmap(&heap);
	assert_null(vk_heap_start(&heap));
	assert_int_equal(vk_heap_len(&heap), 0);
	assert_int_equal(vk_heap_pages(&heap), 0);
	vk_heap_unmap(&heap);
}

static void test_two_heaps_do_not_overlap(void **state)
{
	struct vk_heap a, b;
	char *pa, *pb;

	(void)state;
	assert_int_equal(vk_heap_map(&a, HEAP_PAGES), 0);
	assert_int_equal(vk_heap_map(&b, HEAP_PAGES), 0);
	pa = vk_heap_start(&a);
	pb = vk_heap_start(&b);
	assert_true(pa + vk_heap_len(&a) <= pb || pb + vk_heap_len(&b) <= pa);
	assert_false(vk_heap_contains(&a, pb, 1));
	assert_false(vk_heap_contains(&b, pa, 1));
	vk_heap_unmap(&a);
	vk_heap_unmap(&b);
}

static void test_contains_accepts_ranges_inside(void **state)
{
	struct vk_heap heap;
	char *p;
	size_t len;

	(void)state;
	assert_int_equal(vk_heap_map(&heap, HEAP_PAGES), 0);
	p = vk_heap_start(&heap);
	len = vk_heap_len(&heap);
	assert_true(vk_heap_contains(&heap, p, 1));
	assert_true(vk_heap_contains(&heap, p, len));
	assert_true(vk_heap_contains(&heap, p + len - 1, 1));
	assert_true(vk_heap_contains(&heap, p + 100, 200));
	vk_heap_unmap(&heap);
}

static void test_contains_rejects_ranges_outside_or_across_an_edge(void **state)
{
	struct vk_heap heap;
	char *p;
	size_t len;

	(void)state;
	assert_int_equal(vk_heap_map(&heap, HEAP_PAGES), 0);
	p = vk_heap_start(&heap);
	len = vk_heap_len(&heap);
	assert_false(vk_heap_contains(&heap, p - 1, 1));
	assert_false(vk_heap_contains(&heap, p - 1, 2));
	assert_false(vk_heap_contains(&heap, p + len, 1));
	assert_false(vk_heap_contains(&heap, p + len - 1, 2));
	assert_false(vk_heap_contains(&heap, p, len + 1));
	assert_false(vk_heap_contains(&heap, p + 1, SIZE_MAX));
	vk_heap_unmap(&heap);
}

static void test_protect_marks_the_heap(void **state)
{
	struct vk_heap heap;

	(void)state;
	assert_int_equal(vk_heap_map(&heap, HEAP_PAGES), 0);
	assert_int_equal(vk_heap_protect(&heap), 0);
	assert_true(vk_heap_is_protected(&heap));
	assert_int_equal(vk_heap_protect(&heap), 0);
	assert_true(vk_heap_is_protected(&heap));
	assert_int_equal(vk_heap_unprotect(&heap), 0);
	assert_false(vk_heap_is_protected(&heap));
	vk_heap_unmap(&heap);
}

static void test_write_to_protected_heap_dies_by_sigsegv(void **state)
{
	struct vk_heap heap;

	(void)state;
	assert_int_equal(vk_heap_map(&heap, HEAP_PAGES), 0);
	assert_int_equal(vk_heap_protect(&heap), 0);
	assert_true(died_by_sigsegv(status_of_child_touching(&heap, write_first_byte)));
	assert_true(died_by_sigsegv(status_of_child_touching(&heap, write_last_byte)));
	vk_heap_unmap(&heap);
}

static void test_read_of_protected_heap_dies_by_sigsegv(void **state)
{
	struct vk_heap heap;

	(void)state;
	assert_int_equal(vk_heap_map(&heap, HEAP_PAGES), 0);
	assert_int_equal(vk_heap_protect(&heap), 0);
	assert_true(died_by_sigsegv(status_of_child_touching(&heap, read_first_byte)));
	vk_heap_unmap(&heap);
}

static void test_unprotect_restores_access(void **state)
{
	struct vk_heap heap;
	char *p;

	(void)state;
	assert_int_equal(vk_heap_map(&heap, HEAP_PAGES), 0);
	p = vk_heap_start(&heap);
	p[0] = 42;
	assert_int_equal(vk_heap_protect(&heap), 0);
	assert_int_equal(vk_heap_unprotect(&heap), 0);
	assert_true(exited_cleanly(status_of_child_touching(&heap, write_last_byte)));
	assert_int_equal(p[0], 42);
	p[vk_heap_len(&heap) - 1] = 7;
	vk_heap_unmap(&heap);
}

static void test_unprotected_heap_is_writable_in_a_child(void **state)
{
	struct vk_heap heap;

	(void)state;
	assert_int_equal(vk_heap_map(&heap, HEAP_PAGES), 0);
	assert_true(exited_cleanly(status_of_child_touching(&heap, write_first_byte)));
	vk_heap_unmap(&heap);
}

static void test_page_below_heap_is_a_read_only_guard(void **state)
{
	struct vk_heap heap;

	(void)state;
	assert_int_equal(vk_heap_map(&heap, HEAP_PAGES), 0);
	assert_true(died_by_sigsegv(status_of_child_touching(&heap, write_guard_page)));
	vk_heap_unmap(&heap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pages_for_rounds_up),
		cmocka_unit_test(test_pages_for_does_not_wrap_near_size_max),
		cmocka_unit_test(test_map_gives_writable_zeroed_pages),
		cmocka_unit_test(test_map_zero_pages_fails_with_einval),
		cmocka_unit_test(test_map_overflowing_page_count_fails_with_einval),
		cmocka_unit_test(test_unmap_clears_the_heap),
		cmocka_unit_test(test_two_heaps_do_not_overlap),
		cmocka_unit_test(test_contains_accepts_ranges_inside),
		cmocka_unit_test(test_contains_rejects_ranges_outside_or_across_an_edge),
		cmocka_unit_test(test_protect_marks_the_heap),
		cmocka_unit_test(test_write_to_protected_heap_dies_by_sigsegv),
		cmocka_unit_test(test_read_of_protected_heap_dies_by_sigsegv),
		cmocka_unit_test(test_unprotect_restores_access),
		cmocka_unit_test(test_unprotected_heap_is_writable_in_a_child),
		cmocka_unit_test(test_page_below_heap_is_a_read_only_guard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
