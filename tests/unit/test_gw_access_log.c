/* Tests for gateway/gw_access_log.c: buffering, never blocking, whole
 * lines, PIPE_BUF-sized writes to pipes, drops counted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_access_log.h"

static char path[64];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/gw_access_log.%d", (int)getpid());
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	gw_access_log_close();
	unlink(path);
	return 0;
}

static size_t file_size(void)
{
	FILE *f = fopen(path, "r");
	long n;

	if (!f)
		return 0;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return (size_t)n;
}

static void test_lines_wait_in_the_buffer_until_flushed(void **state)
{
	(void)state;
	assert_int_equal(gw_access_log_open(path, 4096), 0);
	gw_access_log_append("{\"a\":1}\n", 8);
	assert_int_equal(gw_access_log_buffered(), 8);
	assert_int_equal(file_size(), 0);
	gw_access_log_flush();
	assert_int_equal(gw_access_log_buffered(), 0);
	assert_int_equal(file_size(), 8);
}

static void test_half_full_buffer_is_written(void **state)
{
	char line[101];

	(void)state;
	memset(line, 'x', 100);
	line[100] = '\n';
	assert_int_equal(gw_access_log_open(path, 1024), 0);
	for (int i = 0; i < 6; i++)
		gw_access_log_append(line, sizeof(line));
	assert_true(file_size() >= 505);
	gw_access_log_close();
	assert_int_equal(file_size(), 606);
}

/* A pipe nobody reads: appends never block; overflow is dropped, counted. */
static void test_full_pipe_never_blocks_and_counts_drops(void **state)
{
	char line[64], buf[65536];
	int fds[2], saved;
	size_t got = 0;
	ssize_t n;

	(void)state;
	memset(line, 'y', 63);
	line[63] = '\n';
	assert_int_equal(pipe(fds), 0);
	saved = dup(STDOUT_FILENO);
	dup2(fds[1], STDOUT_FILENO);
	assert_int_equal(gw_access_log_open("-", 8192), 0);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	for (int i = 0; i < 20000; i++)
		gw_access_log_append(line, sizeof(line));
	assert_true(gw_access_log_dropped() > 0);
	/* What reached the pipe is whole lines, written at most PIPE_BUF at once. */
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	while ((n = read(fds[0], buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			assert_true(buf[i] == 'y' || buf[i] == '\n');
		got += (size_t)n;
	}
	assert_true(got > 0);
	assert_int_equal(got % sizeof(line), 0);
	gw_access_log_close();
	close(fds[0]);
	close(fds[1]);
}

static void test_closed_log_ignores_appends(void **state)
{
	(void)state;
	assert_false(gw_access_log_is_open());
	gw_access_log_append("x\n", 2);
	assert_int_equal(gw_access_log_buffered(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines_wait_in_the_buffer_until_flushed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_full_buffer_is_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_pipe_never_blocks_and_counts_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_log_ignores_appends, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
