/* gw_random: the hex form of random bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "gw_random.h"

/* Every length gets exactly 2 * bytes lower-case hex digits and a NUL, and
 * nothing past them is written. */
static void test_hex_length_and_alphabet(void **state)
{
	char out[64];

	(void)state;
	for (size_t bytes = 0; bytes <= 24; bytes++) {
		memset(out, '#', sizeof(out));
		gw_random_hex(out, bytes);
		for (size_t i = 0; i < 2 * bytes; i++)
			if (!((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f')))
				fail_msg("%zu bytes: digit %zu is 0x%02x", bytes, i, (unsigned char)out[i]);
		assert_int_equal(out[2 * bytes], '\0');
		for (size_t i = 2 * bytes + 1; i < sizeof(out); i++)
			assert_int_equal(out[i], '#');
	}
}

/* Over 32000 digits each of the 16 shows up near 2000 times (the bounds
 * are 13 standard deviations wide: a generator that misses a digit or
 * favours half of them fails, chance never does), and no two ids of 128
 * bits repeat. */
static void test_hex_digits_even_and_ids_differ(void **state)
{
	enum { IDS = 1000, BYTES = 16 };
	static char ids[IDS][2 * BYTES + 1];
	int count[16] = {0};

	(void)state;
	for (int n = 0; n < IDS; n++) {
		gw_random_hex(ids[n], BYTES);
		for (int i = 0; i < 2 * BYTES; i++) {
			char c = ids[n][i];

			count[c <= '9' ? c - '0' : c - 'a' + 10]++;
		}
	}
	for (int d = 0; d < 16; d++)
		if (count[d] < 1400 || count[d] > 2600)
			fail_msg("digit %x appeared %d times in 32000", d, count[d]);
	for (int a = 0; a < IDS; a++)
		for (int b = a + 1; b < IDS; b++)
			if (strcmp(ids[a], ids[b]) == 0)
				fail_msg("ids %d and %d repeat: %s", a, b, ids[a]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_length_and_alphabet),
		cmocka_unit_test(test_hex_digits_even_and_ids_differ),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
