/* test_gw_filter_basic: the basic filter's configuration (each problem at
 * its pointer, htpasswd lines included), the cache of verified
 * credentials (gw_verified_cache), and the password worker: crypt checks, the hashes taken,
 * the wire format, and a worker process answering over its socket and
 * started again when it dies (requests end to end: tests/e2e/gw_auth.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gw_crypt_worker.h"
#include "gw_filter_test.h"
#include "gw_filters.h"
#include "gw_verified_cache.h"

#include "vk_sys.h"

#include <crypt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* A hash of `password` with `prefix`'s method at its cheapest cost. */
static const char *make_hash(const char *prefix, const char *password, char *out, size_t len)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data data;

	assert_non_null(crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof(setting)));
	memset(&data, 0, sizeof(data));
	assert_non_null(crypt_rn(password, setting, &data, sizeof(data)));
	snprintf(out, len, "%s", data.output);
	return out;
}

static void check(const char *text, int rc, const char *errors)
{
	struct compiled c;

	compile_entry(&gw_filter_basic_type, text, &c);
	assert_string_equal(c.errors, errors);
	assert_int_equal(c.rc, rc);
	compiled_free(&c);
}

static void test_configs(void **state)
{
	char hash[256], text[2048];

	(void)state;
	make_hash("$2b$", "pw", hash, sizeof(hash));
	snprintf(text, sizeof(text),
		 "{\"type\":\"basic\",\"realm\":\"api\",\"cache_seconds\":0,\"consumer_header\":\"x-consumer\","
		 "\"users\":[{\"user\":\"alice\",\"hash\":\"%s\"}]}",
		 hash);
	check(text, 0, "");
	check("{\"type\":\"basic\"}", -1,
	      "/routes/0/filters/0: no users: give an \"htpasswd_file\" or \"users\" with at least one\n");
	snprintf(text, sizeof(text),
		 "{\"type\":\"basic\",\"realm\":\"a\\\"b\",\"cache_entries\":0,\"consumer_header\":\"content-length\","
		 "\"users\":[{\"user\":\"alice\",\"hash\":\"%s\"},{\"user\":\"a:b\",\"hash\":\"%s\"},"
		 "{\"user\":\"carol\",\"hash\":\"$apr1$abc$def\"},{\"user\":\"dave\",\"hash\":\"plain\"},"
		 "{\"user\":\"erin\"},{\"user\":\"alice\",\"hash\":\"%s\"},{\"user\":\"f\",\"hash\":\"$6$bad\"}]}",
		 hash, hash, hash);
	check(text, -1,
	      "/routes/0/filters/0/users/1: user \"a:b\": a user name is 1 to 255 visible characters, without ':'\n"
	      "/routes/0/filters/0/users/2: user \"carol\": an Apache MD5 ($apr1$) hash, which vkgw does not take: use "
	      "bcrypt (htpasswd -B)\n"
	      "/routes/0/filters/0/users/3: user \"dave\": not a bcrypt ($2y$), sha512-crypt ($6$), sha256-crypt "
	      "($5$) or yescrypt ($y$) hash\n"
	      "/routes/0/filters/0/users/4: each user needs \"user\" and \"hash\"\n"
	      "/routes/0/filters/0/users/6: user \"f\": a malformed hash\n"
	      "/routes/0/filters/0/users: user \"alice\" is listed twice in \"users\"\n"
	      "/routes/0/filters/0/realm: a realm is at most 128 characters, without '\"', '\\' or control "
	      "characters\n"
	      "/routes/0/filters/0/cache_entries: must be from 1 to 1048576, not 0\n"
	      "/routes/0/filters/0/consumer_header: header \"content-length\" is the gateway's own: a filter cannot "
	      "use it\n");
}

static void test_htpasswd_file(void **state)
{
	char path[] = "/tmp/vkgw-htpasswd-XXXXXX", text[1024], expected[2048], b[256], s6[256], s5[256];
	int fd = mkstemp(path);
	FILE *file_ptr;

	(void)state;
	assert_true(fd >= 0);
	file_ptr = fdopen(fd, "w");
	fprintf(file_ptr, "# users\n\nalice:%s\nbob:%s\r\ncarol:%s\nnocolon\nerin:{SHA}abc=\nbob:%s\n",
		make_hash("$2y$", "a", b, sizeof(b)), make_hash("$6$", "b", s6, sizeof(s6)),
		make_hash("$5$", "c", s5, sizeof(s5)), s5);
	fclose(file_ptr);
	snprintf(text, sizeof(text), "{\"type\":\"basic\",\"htpasswd_file\":\"%s\"}", path);
	snprintf(expected, sizeof(expected),
		 "/routes/0/filters/0/htpasswd_file: %s:6: expected \"USER:HASH\"\n"
		 "/routes/0/filters/0/htpasswd_file: %s:7: user \"erin\": an unsalted SHA-1 ({SHA}) hash, which vkgw "
		 "does not take: use bcrypt (htpasswd -B)\n"
		 "/routes/0/filters/0/htpasswd_file: %s:8: user \"bob\" is listed already (on an earlier line)\n",
		 path, path, path);
	check(text, -1, expected);
	file_ptr = fopen(path, "w");
	fprintf(file_ptr, "alice:%s\nbob:%s\ncarol:%s", b, s6, s5); /* no newline at the end */
	fclose(file_ptr);
	check(text, 0, "");
	unlink(path);
	snprintf(expected, sizeof(expected),
		 "/routes/0/filters/0/htpasswd_file: cannot read %s: No such file or directory\n", path);
	check(text, -1, expected);
}

static void tag3(const struct gw_verified_cache *cache_ptr, const char *user, const char *hash, const char *password,
		 uint8_t *tag)
{
	const void *parts[] = {user, hash, password};
	size_t lens[] = {strlen(user), strlen(hash), strlen(password)};

	gw_verified_cache_tag(cache_ptr, parts, lens, 3, tag);
}

/* The cache of verified credentials (gw_verified_cache.h), as basic
 * keys it: user, stored hash, password. */
static void test_cache(void **state)
{
	struct gw_verified_cache *cache_ptr = gw_verified_cache_create(8);
	struct gw_verified_cache *other_ptr = gw_verified_cache_create(8);
	uint8_t tag[GW_VERIFIED_TAG_BYTES], again[GW_VERIFIED_TAG_BYTES], other[GW_VERIFIED_TAG_BYTES];

	(void)state;
	assert_non_null(cache_ptr);
	assert_int_equal(cache_ptr->bucket_count, 2);
	tag3(cache_ptr, "alice", "$2y$hash", "pw", tag);
	tag3(cache_ptr, "alice", "$2y$hash", "pw", again);
	assert_memory_equal(tag, again, sizeof(tag));
	/* Another password, another stored hash (the file changed), another
	 * kernel's secret, or the bytes shifted between parts: another tag. */
	tag3(cache_ptr, "alice", "$2y$hash", "pX", other);
	assert_memory_not_equal(tag, other, sizeof(tag));
	tag3(cache_ptr, "alice", "$2y$hasX", "pw", other);
	assert_memory_not_equal(tag, other, sizeof(tag));
	tag3(cache_ptr, "alic", "e$2y$hash", "pw", other);
	assert_memory_not_equal(tag, other, sizeof(tag));
	tag3(other_ptr, "alice", "$2y$hash", "pw", other);
	assert_memory_not_equal(tag, other, sizeof(tag));

	assert_false(gw_verified_cache_find(cache_ptr, tag, 0));
	gw_verified_cache_put(cache_ptr, tag, 1100, NULL, 0);
	assert_true(gw_verified_cache_find(cache_ptr, tag, 100));
	assert_true(gw_verified_cache_find(cache_ptr, tag, 1099));
	assert_false(gw_verified_cache_find(cache_ptr, tag, 1100)); /* expired */
	/* The bucket holds four: a fifth replaces the one expiring first. */
	for (int i = 0; i < 5; i++) {
		uint8_t t[GW_VERIFIED_TAG_BYTES];

		memcpy(t, tag, sizeof(t));
		t[31] = (uint8_t)i; /* same bucket: the bucket comes from the first bytes */
		gw_verified_cache_put(cache_ptr, t, 3000 + (uint64_t)i, NULL, 0);
	}
	tag[31] = 0;
	assert_false(gw_verified_cache_find(cache_ptr, tag, 2004));
	for (int i = 1; i < 5; i++) {
		tag[31] = (uint8_t)i;
		assert_true(gw_verified_cache_find(cache_ptr, tag, 2004));
	}
	/* A note goes with its entry; one too long is not kept. */
	gw_verified_cache_put(cache_ptr, tag, 5000, "=alice", 6);
	assert_int_equal(gw_verified_cache_find(cache_ptr, tag, 4000)->note_len, 6);
	assert_memory_equal(gw_verified_cache_find(cache_ptr, tag, 4000)->note, "=alice", 6);
	gw_verified_cache_put(cache_ptr, tag, 5000, "x", GW_VERIFIED_NOTE_MAX + 1);
	assert_int_equal(gw_verified_cache_find(cache_ptr, tag, 4000)->note_len, 0);
	gw_verified_cache_free(cache_ptr);
	gw_verified_cache_free(other_ptr);
	/* Notes of a size of the cache's choosing (forward_auth's
	 * decisions): each slot keeps its own, neighbours untouched. */
	cache_ptr = gw_verified_cache_create_noted(8, 1000);
	{
		char big[1001];

		for (int i = 0; i < 4; i++) {
			memset(big, 'a' + i, sizeof(big));
			tag[31] = (uint8_t)i;
			gw_verified_cache_put(cache_ptr, tag, 5000, big, 1000 - (size_t)i);
		}
		for (int i = 0; i < 4; i++) {
			const struct gw_verified_cache_slot *slot_ptr;

			tag[31] = (uint8_t)i;
			slot_ptr = gw_verified_cache_find(cache_ptr, tag, 4000);
			assert_non_null(slot_ptr);
			assert_int_equal(slot_ptr->note_len, 1000 - i);
			assert_int_equal(slot_ptr->note[0], 'a' + i);
			assert_int_equal(slot_ptr->note[999 - i], 'a' + i);
		}
		gw_verified_cache_put(cache_ptr, tag, 5000, big, 1001);
		assert_int_equal(gw_verified_cache_find(cache_ptr, tag, 4000)->note_len, 0);
	}
	gw_verified_cache_free(cache_ptr);
	/* No cache: nothing is remembered. */
	cache_ptr = gw_verified_cache_create(0);
	gw_verified_cache_put(cache_ptr, tag, 10, NULL, 0);
	assert_false(gw_verified_cache_find(cache_ptr, tag, 1));
	gw_verified_cache_free(cache_ptr);
}

static void test_crypt_check(void **state)
{
	static const char *const methods[] = {"$2b$", "$2y$", "$5$", "$6$", "$y$"};
	char hash[256];

	(void)state;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		make_hash(methods[i], "secret", hash, sizeof(hash));
		assert_null(gw_crypt_hash_problem(hash));
		assert_int_equal(gw_crypt_check(hash, "secret"), GW_CRYPT_MATCH);
		assert_int_equal(gw_crypt_check(hash, "secreT"), GW_CRYPT_NO_MATCH);
		assert_int_equal(gw_crypt_check(hash, ""), GW_CRYPT_NO_MATCH);
	}
	assert_non_null(gw_crypt_hash_problem("$1$abc$def"));	 /* md5-crypt */
	assert_non_null(gw_crypt_hash_problem("abJnggxhB/yWI")); /* DES */
	assert_non_null(gw_crypt_hash_problem("$2y$10$short"));
	assert_int_equal(gw_crypt_check("$2y$10$short", "x"), GW_CRYPT_UNUSABLE);
}

/* One question to the worker over its socket, as a kernel asks it. */
static int ask(const char *hash, const char *password, size_t password_len)
{
	socklen_t len;
	const struct sockaddr *addr_ptr = gw_crypt_worker_address(&len);
	char request[GW_CRYPT_REQUEST_MAX], verdict = 0;
	size_t n = gw_crypt_request(request, hash, strlen(hash), password, password_len);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_non_null(addr_ptr);
	assert_true(n > 0);
	if (connect(fd, addr_ptr, len) == -1) {
		close(fd);
		return -1;
	}
	assert_int_equal(write(fd, request, n), (ssize_t)n);
	if (read(fd, &verdict, 1) != 1)
		verdict = 0;
	close(fd);
	return verdict;
}

static void test_worker(void **state)
{
	char hash[256], big[GW_CRYPT_PASSWORD_MAX + 1];
	socklen_t len;
	pid_t pid;
	uint64_t started_ns;

	(void)state;
	make_hash("$2b$", "secret", hash, sizeof(hash));
	assert_null(gw_crypt_worker_address(&len));
	assert_int_equal(gw_crypt_worker_hold(), 0);
	assert_int_equal(gw_crypt_worker_hold(), 0); /* a second holder shares it */
	assert_int_equal(ask(hash, "secret", 6), GW_CRYPT_MATCH);
	assert_int_equal(ask(hash, "wrong", 5), GW_CRYPT_NO_MATCH);
	/* "secret\0x" is not "secret". */
	assert_int_equal(ask(hash, "secret\0x", 8), GW_CRYPT_NO_MATCH);
	memset(big, 'a', sizeof(big));
	assert_int_equal(gw_crypt_request(big, hash, strlen(hash), big, sizeof(big)), 0);

	/* Killed: refused at once (nobody else listens), then started again
	 * by the first refusal a second after it started. */
	pid = gw_crypt_worker_pid();
	assert_true(pid > 0);
	started_ns = vk_sys_now_ns();
	kill(pid, SIGKILL);
	while (ask(hash, "secret", 6) != -1)
		;			  /* until the socket goes with the process */
	gw_crypt_worker_lost(started_ns); /* not within the restart interval */
	assert_int_equal(gw_crypt_worker_pid(), pid);
	/* Its socket closes before it is a zombie: until it is one, a
	 * refusal is taken for a full backlog and nothing restarts. */
	while (gw_crypt_worker_pid() == pid && vk_sys_now_ns() - started_ns < 5000000000ull)
		gw_crypt_worker_lost(started_ns + GW_CRYPT_RESTART_NS + vk_sys_now_ns());
	assert_true(gw_crypt_worker_pid() > 0);
	assert_true(gw_crypt_worker_pid() != pid);
	assert_int_equal(ask(hash, "secret", 6), GW_CRYPT_MATCH);

	gw_crypt_worker_release();
	assert_non_null(gw_crypt_worker_address(&len)); /* one holder left */
	pid = gw_crypt_worker_pid();
	gw_crypt_worker_release();
	assert_null(gw_crypt_worker_address(&len));
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1); /* stopped and reaped */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configs),	    cmocka_unit_test(test_htpasswd_file), cmocka_unit_test(test_cache),
		cmocka_unit_test(test_crypt_check), cmocka_unit_test(test_worker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
