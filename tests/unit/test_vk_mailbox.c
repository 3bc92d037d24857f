/* vk_mailbox: posts replace, a reader takes only what is newer than what
 * it has, and a copy torn by a concurrent post is never returned. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vk_mailbox.h"

static void test_post_and_take(void **state)
{
	struct vk_mailbox *mailbox_ptr = vk_mailbox_create(64);
	uint64_t number = 0;
	size_t len = 0;
	char *text_ptr;

	(void)state;
	assert_non_null(mailbox_ptr);
	/* Empty: nothing to take. */
	assert_null(vk_mailbox_take(mailbox_ptr, 0, &number, &len));
	assert_int_equal(errno, ENOMSG);
	assert_int_equal(vk_mailbox_post(mailbox_ptr, 2, "first", 5), 0);
	assert_int_equal(vk_mailbox_post(mailbox_ptr, 3, "second", 6), 0);
	text_ptr = vk_mailbox_take(mailbox_ptr, 1, &number, &len);
	assert_non_null(text_ptr);
	assert_string_equal(text_ptr, "second");
	assert_int_equal(len, 6);
	assert_int_equal(number, 3);
	free(text_ptr);
	/* Taken already: nothing newer. */
	assert_null(vk_mailbox_take(mailbox_ptr, 3, &number, &len));
	assert_int_equal(errno, ENOMSG);
	/* Too large: refused, and what was there stays. */
	assert_int_equal(vk_mailbox_post(mailbox_ptr, 4,
					 "0123456789012345678901234567890123456789012345678901234567890123456789", 70),
			 -1);
	assert_int_equal(errno, EMSGSIZE);
	text_ptr = vk_mailbox_take(mailbox_ptr, 0, &number, &len);
	assert_string_equal(text_ptr, "second");
	free(text_ptr);
	vk_mailbox_destroy(mailbox_ptr);
}

/* A message of `len` bytes, every one of them `fill`. */
static void fill_message(char *buf, size_t len, char fill)
{
	memset(buf, fill, len);
}

static void test_a_forked_reader_never_sees_a_torn_message(void **state)
{
	enum { BIG = 256 * 1024 };
	struct vk_mailbox *mailbox_ptr = vk_mailbox_create(BIG);
	static char message[BIG];
	int ready[2];
	pid_t writer;
	uint64_t last = 0;
	int taken = 0, status;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	fill_message(message, 1000, 'a');
	assert_int_equal(vk_mailbox_post(mailbox_ptr, 1, message, 1000), 0);
	writer = fork();
	assert_true(writer >= 0);
	if (writer == 0) {
		/* Posts of changing sizes and bytes, as fast as it can. */
		close(ready[0]);
		assert_int_equal(write(ready[1], "g", 1), 1);
		for (uint64_t n = 2; n < 20000; n++) {
			size_t len = 1000 + (size_t)(n * 7919 % (BIG - 1000));

			fill_message(message, len, (char)('a' + n % 26));
			vk_mailbox_post(mailbox_ptr, n, message, len);
		}
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], message, 1), 1);
	while (waitpid(writer, &status, WNOHANG) == 0 || taken == 0) {
		uint64_t number;
		size_t len;
		char *text_ptr = vk_mailbox_take(mailbox_ptr, last, &number, &len);

		if (!text_ptr) {
			assert_true(errno == ENOMSG || errno == EAGAIN);
			continue;
		}
		/* Whole: its length and every byte are those of post `number`. */
		assert_true(number > last);
		assert_int_equal(len, number == 1 ? 1000 : 1000 + (size_t)(number * 7919 % (BIG - 1000)));
		for (size_t i = 0; i < len; i++)
			assert_int_equal(text_ptr[i], (char)('a' + (number == 1 ? 0 : number % 26)));
		last = number;
		taken++;
		free(text_ptr);
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(taken > 0);
	close(ready[0]);
	vk_mailbox_destroy(mailbox_ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_and_take),
		cmocka_unit_test(test_a_forked_reader_never_sees_a_torn_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
