/* test_gw_filter_api_key: the api_key filter's configuration (each
 * problem at its pointer, keys files included) and its key lookup, which
 * compares every digest whatever matches (its verdicts on requests are
 * tested end to end in tests/e2e/gw_filters.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gw_filter_api_key.h"
#include "gw_filter_test.h"
#include "gw_filters.h"

#include <openssl/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BOB_SHA256 "81b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9"

static void check(const char *text, int rc, const char *errors)
{
	struct compiled c;

	compile_entry(&gw_filter_api_key_type, text, &c);
	assert_string_equal(c.errors, errors);
	assert_int_equal(c.rc, rc);
	compiled_free(&c);
}

static void test_configs(void **state)
{
	(void)state;
	check("{\"type\":\"api_key\",\"keys\":[{\"consumer\":\"alice\",\"key\":\"k1\"}]}", 0, "");
	check("{\"type\":\"api_key\",\"query\":\"api_key\",\"forward_key\":true,\"unknown_key_status\":403,"
	      "\"consumer_header\":\"x-consumer\",\"keys\":[{\"consumer\":\"bob\",\"sha256\":\"" BOB_SHA256 "\"}]}",
	      0, "");
	check("{\"type\":\"api_key\"}", -1,
	      "/routes/0/filters/0: no keys: give \"keys\" or a \"keys_file\" with at least one\n");
	check("{\"type\":\"api_key\",\"header\":\"a\",\"query\":\"b\",\"keys\":[{\"consumer\":\"a\",\"key\":\"k\"}]}",
	      -1, "/routes/0/filters/0: \"header\" and \"query\" both name where the key is: give one\n");
	check("{\"type\":\"api_key\",\"header\":\"bad header\",\"consumer_header\":\"x y\",\"unknown_key_status\":402,"
	      "\"keys\":[{\"consumer\":\"a\",\"key\":\"k\"}]}",
	      -1,
	      "/routes/0/filters/0/header: \"bad header\" is not a valid header name\n"
	      "/routes/0/filters/0/unknown_key_status: 401 or 403\n"
	      "/routes/0/filters/0/consumer_header: \"x y\" is not a valid header name\n");
	check("{\"type\":\"api_key\",\"query\":\"a=b\",\"keys\":[{\"consumer\":\"a\",\"key\":\"k\"}]}", -1,
	      "/routes/0/filters/0/query: a query parameter name: not empty, without '&', '=', '#', '?' or spaces\n");
	check("{\"type\":\"api_key\",\"keys\":[{\"consumer\":\"a\"},{\"consumer\":\"b\",\"key\":\"k\",\"sha256\":"
	      "\"" BOB_SHA256 "\"},{\"consumer\":\"c\",\"sha256\":\"abc\"},{\"consumer\":\"-x\",\"key\":\"k2\"},"
	      "{\"consumer\":\"d\",\"key\":\"bob\"},{\"consumer\":\"e\",\"sha256\":\"" BOB_SHA256 "\"},"
	      "{\"consumer\":\"f\",\"key\":\"\"},{\"consumer\":\"g\",\"key\":\"k\",\"extra\":1}]}",
	      -1,
	      "/routes/0/filters/0/keys/0: each key needs \"consumer\" and exactly one of \"sha256\" and \"key\"\n"
	      "/routes/0/filters/0/keys/1: each key needs \"consumer\" and exactly one of \"sha256\" and \"key\"\n"
	      "/routes/0/filters/0/keys/2/sha256: not a SHA-256 digest: 64 hexadecimal digits\n"
	      "/routes/0/filters/0/keys/3: the consumer must be 1 to 64 letters, digits, '-', '_' or '.', starting "
	      "with a letter or digit\n"
	      "/routes/0/filters/0/keys/5: the same key is listed twice\n"
	      "/routes/0/filters/0/keys/6/key: a key is 1 to 1024 bytes\n"
	      "/routes/0/filters/0/keys/7/extra: unknown key \"extra\"; allowed keys: consumer, sha256, key\n");
}

static void test_keys_file(void **state)
{
	char path[] = "/tmp/vkgw-api-keys-XXXXXX", text[1024], expected[1024];
	int fd = mkstemp(path);
	FILE *file_ptr;

	(void)state;
	assert_true(fd >= 0);
	file_ptr = fdopen(fd, "w");
	fprintf(file_ptr, "# consumers\n\nbob " BOB_SHA256 "  # bob's\nbad zz\ncarol " BOB_SHA256 "\n");
	fclose(file_ptr);
	snprintf(text, sizeof(text), "{\"type\":\"api_key\",\"keys_file\":\"%s\"}", path);
	snprintf(expected, sizeof(expected),
		 "/routes/0/filters/0/keys_file: %s:4: expected \"CONSUMER SHA256HEX\" (64 hexadecimal digits)\n"
		 "/routes/0/filters/0/keys_file: %s:5: the same key is listed twice\n",
		 path, path);
	check(text, -1, expected);
	file_ptr = fopen(path, "w");
	fprintf(file_ptr, "bob " BOB_SHA256 "\n");
	fclose(file_ptr);
	check(text, 0, "");
	unlink(path);
	snprintf(expected, sizeof(expected),
		 "/routes/0/filters/0/keys_file: cannot read %s: No such file or directory\n", path);
	check(text, -1, expected);
}

/* The lookup compares every digest, wherever the match is, and when none
 * matches: no early exit for a timing to betray. */
static void test_find_compares_every_key(void **state)
{
	struct gw_api_key keys[5];
	struct gw_api_key_set set = {keys, 5};
	uint8_t digest[GW_API_KEY_DIGEST_BYTES];
	char key[16];
	int compared;

	(void)state;
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		SHA256((const uint8_t *)key, strlen(key), keys[i].digest);
		keys[i].consumer = "c";
	}
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		SHA256((const uint8_t *)key, strlen(key), digest);
		assert_int_equal(gw_api_key_find(&set, digest, &compared), i);
		assert_int_equal(compared, 5);
	}
	SHA256((const uint8_t *)"key-9", 5, digest);
	assert_int_equal(gw_api_key_find(&set, digest, &compared), -1);
	assert_int_equal(compared, 5);
	/* One bit off in the last byte is no match. */
	memcpy(digest, keys[4].digest, sizeof(digest));
	digest[GW_API_KEY_DIGEST_BYTES - 1] ^= 1;
	assert_int_equal(gw_api_key_find(&set, digest, &compared), -1);
	assert_int_equal(compared, 5);
	set.count = 0;
	assert_int_equal(gw_api_key_find(&set, digest, &compared), -1);
	assert_int_equal(compared, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configs),
		cmocka_unit_test(test_keys_file),
		cmocka_unit_test(test_find_compares_every_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
