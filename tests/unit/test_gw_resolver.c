/* gw_resolver and gw_resolver_process: the shared table of DNS endpoint
 * addresses (seqlock, views, rotation), keep-last-good on failure and its
 * log lines, availability through gw_upstreams, real lookups of
 * "localhost", and the names reloads add. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_diag.h"
#include "gw_resolver.h"
#include "gw_resolver_process.h"
#include "gw_upstream.h"
#include "gw_upstreams.h"
#include "gw_upstreams_test.h"

#define TORN_TEST_NS 300000000ull
/* On a loaded machine the writer may run in few time slices: the reader
 * goes on until it has seen enough generations, up to this bound. */
#define TORN_TEST_MAX_NS 20000000000ull

static union gw_resolver_address v4(const char *text, int port)
{
	union gw_resolver_address a;

	memset(&a, 0, sizeof(a));
	a.in4.sin_family = AF_INET;
	a.in4.sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, text, &a.in4.sin_addr), 1);
	return a;
}

static union gw_resolver_address v6(const char *text, int port)
{
	union gw_resolver_address a;

	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, text, &a.in6.sin6_addr), 1);
	return a;
}

/* A set of 1 to 3 addresses (NULL-ended), as a lookup would give them. */
static struct gw_resolver_addresses set_of(union gw_resolver_address a, const union gw_resolver_address *b,
					   const union gw_resolver_address *c)
{
	struct gw_resolver_addresses s;

	memset(&s, 0, sizeof(s));
	s.addresses[s.count++] = a;
	if (b)
		s.addresses[s.count++] = *b;
	if (c)
		s.addresses[s.count++] = *c;
	return s;
}

static char *format_address(const struct sockaddr *sa, char *buf, size_t len)
{
	struct gw_resolver_addresses one;

	memset(&one, 0, sizeof(one));
	one.count = 1;
	memcpy(&one.addresses[0], sa,
	       sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	gw_resolver_format(&one, buf, len);
	return buf;
}

static struct gw_resolver_entry *entry_at(struct gw_resolver *resolver_ptr, int upstream, int endpoint)
{
	return (struct gw_resolver_entry *)gw_resolver_find(resolver_ptr, upstream, endpoint);
}

static void test_one_entry_per_dns_endpoint(void **state)
{
	struct gw_config *config_ptr = gw_test_load_upstreams(
		"\"app\": { \"endpoints\": [ \"127.0.0.1:80\", \"one.example:81\", \"[::1]:82\" ] },"
		" \"b\": { \"endpoints\": [ \"two.example:90\", \"one.example:91\" ], \"resolve_interval_ms\": 5000 }");
	struct gw_resolver *resolver_ptr = gw_resolver_create(config_ptr);
	const struct gw_resolver_entry *entry_ptr;

	(void)state;
	assert_non_null(resolver_ptr);
	assert_int_equal(gw_resolver_count(resolver_ptr), 3);
	assert_null(gw_resolver_find(resolver_ptr, 0, 0));
	assert_null(gw_resolver_find(resolver_ptr, 0, 2));
	entry_ptr = gw_resolver_find(resolver_ptr, 0, 1);
	assert_non_null(entry_ptr);
	assert_string_equal(entry_ptr->host, "one.example");
	assert_int_equal(entry_ptr->port, 81);
	assert_int_equal(entry_ptr->interval_ms, 30000);
	assert_int_equal(entry_ptr->published.count, 0);
	entry_ptr = gw_resolver_find(resolver_ptr, 1, 1);
	assert_non_null(entry_ptr);
	assert_string_equal(entry_ptr->upstream_name, "b");
	assert_string_equal(entry_ptr->address, "one.example:91");
	assert_int_equal(entry_ptr->interval_ms, 5000);
	gw_resolver_destroy(resolver_ptr);
	gw_config_free(config_ptr);
}

static void test_publish_read_and_view_generation(void **state)
{
	struct gw_config *config_ptr = gw_test_load_upstreams("\"app\": { \"endpoints\": [ \"svc.example:80\" ] }");
	struct gw_resolver *resolver_ptr = gw_resolver_create(config_ptr);
	struct gw_resolver_entry *entry_ptr = entry_at(resolver_ptr, 0, 0);
	union gw_resolver_address b = v4("10.0.0.2", 80);
	struct gw_resolver_addresses two = set_of(v4("10.0.0.1", 80), &b, NULL);
	struct gw_resolver_addresses one = set_of(v4("10.0.0.9", 80), NULL, NULL);
	struct gw_resolver_addresses copy;
	struct gw_resolver_view view;
	uint32_t seq = 99;

	(void)state;
	gw_resolver_view_init(&view, entry_ptr);
	assert_int_equal(gw_resolver_view_refresh(&view), 0);
	gw_resolver_publish(entry_ptr, &two);
	assert_int_equal(gw_resolver_read(entry_ptr, &copy, &seq), 0);
	assert_int_equal(seq, 2);
	assert_memory_equal(&copy, &two, sizeof(two));
	assert_int_equal(gw_resolver_view_refresh(&view), 2);
	assert_int_equal(view.seen_seq, 2);

	/* A write in progress (or a writer that died mid-write): readers give
	 * up at once instead of spinning, and the view keeps its copy. */
	__atomic_store_n(&entry_ptr->seq, 3, __ATOMIC_RELEASE);
	memcpy(&entry_ptr->published, &one, sizeof(one));
	assert_int_equal(gw_resolver_read(entry_ptr, &copy, &seq), -1);
	assert_int_equal(gw_resolver_view_refresh(&view), 2);
	assert_int_equal(view.seen_seq, 2);

	__atomic_store_n(&entry_ptr->seq, 2, __ATOMIC_RELEASE);
	gw_resolver_publish(entry_ptr, &one);
	assert_int_equal(gw_resolver_view_refresh(&view), 1);
	assert_int_equal(view.seen_seq, 4);
	gw_resolver_destroy(resolver_ptr);
	gw_config_free(config_ptr);
}

/* Set k: 1 + k % 8 addresses, every one carrying k in its port and
 * address, so a copy mixing two sets shows. */
static struct gw_resolver_addresses numbered_set(uint32_t k)
{
	struct gw_resolver_addresses s;

	memset(&s, 0, sizeof(s));
	s.count = 1 + k % GW_RESOLVER_ADDRESSES_MAX;
	for (uint32_t i = 0; i < s.count; i++) {
		s.addresses[i].in4.sin_family = AF_INET;
		s.addresses[i].in4.sin_port = htons((uint16_t)k);
		s.addresses[i].in4.sin_addr.s_addr = htonl(k);
	}
	return s;
}

static int consistent(const struct gw_resolver_addresses *s)
{
	uint32_t k;

	if (s->count == 0)
		return 1; /* before the first publish */
	k = ntohl(s->addresses[0].in4.sin_addr.s_addr);
	if (s->count != 1 + k % GW_RESOLVER_ADDRESSES_MAX)
		return 0;
	for (uint32_t i = 0; i < GW_RESOLVER_ADDRESSES_MAX; i++) {
		int used = i < s->count;

		if (ntohl(s->addresses[i].in4.sin_addr.s_addr) != (used ? k : 0) ||
		    ntohs(s->addresses[i].in4.sin_port) != (used ? (uint16_t)k : 0))
			return 0;
	}
	return 1;
}

/* A writer process publishing as fast as it can, a reader here: every
 * copy that read() accepts is one whole set. */
static void test_concurrent_reads_are_never_torn(void **state)
{
	struct gw_config *config_ptr = gw_test_load_upstreams("\"app\": { \"endpoints\": [ \"svc.example:80\" ] }");
	struct gw_resolver *resolver_ptr = gw_resolver_create(config_ptr);
	struct gw_resolver_entry *entry_ptr = entry_at(resolver_ptr, 0, 0);
	uint64_t start = gw_resolver_now_ns();
	unsigned long accepted = 0, refused = 0, torn = 0, changes = 0;
	uint32_t last_seq = 0;
	pid_t writer;

	(void)state;
	writer = fork();
	assert_true(writer >= 0);
	if (writer == 0) {
		for (uint32_t k = 1;; k++) {
			struct gw_resolver_addresses s = numbered_set(k);

			gw_resolver_publish(entry_ptr, &s);
		}
	}
	for (;;) {
		uint64_t elapsed = gw_resolver_now_ns() - start;
		struct gw_resolver_addresses copy;
		uint32_t seq;

		if (elapsed >= TORN_TEST_MAX_NS || (elapsed >= TORN_TEST_NS && accepted > 100 && changes > 10))
			break;
		if (gw_resolver_read(entry_ptr, &copy, &seq) == -1) {
			refused++;
			continue;
		}
		accepted++;
		torn += !consistent(&copy);
		changes += seq != last_seq;
		last_seq = seq;
	}
	kill(writer, SIGKILL);
	waitpid(writer, NULL, 0);
	print_message("seqlock: %lu copies accepted, %lu refused, %lu generations seen\n", accepted, refused, changes);
	assert_int_equal(torn, 0);
	assert_true(accepted > 100);
	assert_true(changes > 10); /* the writer really was writing meanwhile */
	gw_resolver_destroy(resolver_ptr);
	gw_config_free(config_ptr);
}

static void test_rotation_prefers_ipv4(void **state)
{
	struct gw_config *config_ptr =
		gw_test_load_upstreams("\"app\": { \"endpoints\": [ \"svc.example:80\", \"v6.example:80\" ] }");
	struct gw_resolver *resolver_ptr = gw_resolver_create(config_ptr);
	struct gw_resolver_entry *mixed_ptr = entry_at(resolver_ptr, 0, 0), *only6_ptr = entry_at(resolver_ptr, 0, 1);
	union gw_resolver_address a = v4("127.0.0.1", 80), b = v4("127.0.0.2", 80), x = v6("::2", 80);
	struct gw_resolver_addresses mixed = set_of(v6("::1", 80), &a, &b), only6 = set_of(v6("::1", 80), &x, NULL);
	struct gw_resolver_view view;
	char buf[GW_RESOLVER_FORMAT_MAX];
	FILE *log = fopen("/dev/null", "w");
	socklen_t len;

	(void)state;
	gw_resolver_record(mixed_ptr, &mixed, NULL, log);
	gw_resolver_format(&mixed_ptr->published, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:80, 127.0.0.2:80, [::1]:80");
	gw_resolver_view_init(&view, mixed_ptr);
	assert_int_equal(gw_resolver_view_refresh(&view), 2);
	assert_string_equal(format_address(gw_resolver_view_next(&view, &len), buf, sizeof(buf)), "127.0.0.1:80");
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_string_equal(format_address(gw_resolver_view_next(&view, &len), buf, sizeof(buf)), "127.0.0.2:80");
	assert_string_equal(format_address(gw_resolver_view_next(&view, &len), buf, sizeof(buf)), "127.0.0.1:80");
	/* view_at does not move the rotation. */
	assert_string_equal(format_address(gw_resolver_view_at(&view, 5, &len), buf, sizeof(buf)), "127.0.0.2:80");
	assert_string_equal(format_address(gw_resolver_view_next(&view, &len), buf, sizeof(buf)), "127.0.0.2:80");

	gw_resolver_record(only6_ptr, &only6, NULL, log);
	gw_resolver_view_init(&view, only6_ptr);
	assert_int_equal(gw_resolver_view_refresh(&view), 2);
	assert_string_equal(format_address(gw_resolver_view_next(&view, &len), buf, sizeof(buf)), "[::1]:80");
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_string_equal(format_address(gw_resolver_view_next(&view, &len), buf, sizeof(buf)), "[::2]:80");
	fclose(log);
	gw_resolver_destroy(resolver_ptr);
	gw_config_free(config_ptr);
}

/* Lines logged by `record` calls since the last take. */
struct log_capture {
	char *text;
	size_t len;
	FILE *f;
};

static char *take(struct log_capture *c)
{
	char *text;

	fclose(c->f);
	text = c->text;
	c->text = NULL;
	c->f = open_memstream(&c->text, &c->len);
	return text;
}

static void assert_logged(struct log_capture *c, const char *expected)
{
	char *text = take(c);

	assert_string_equal(text, expected);
	free(text);
}

static void test_failures_keep_the_last_good_addresses(void **state)
{
	struct gw_config *config_ptr = gw_test_load_upstreams("\"app\": { \"endpoints\": [ \"svc.example:80\" ] }");
	struct gw_resolver *resolver_ptr = gw_resolver_create(config_ptr);
	struct gw_resolver_entry *entry_ptr = entry_at(resolver_ptr, 0, 0);
	union gw_resolver_address b = v4("10.0.0.2", 80);
	struct gw_resolver_addresses ab = set_of(v4("10.0.0.1", 80), &b, NULL),
				     c = set_of(v4("10.0.0.3", 80), NULL, NULL);
	struct gw_resolver_view view;
	struct log_capture log = {0};
	uint32_t seq;

	(void)state;
	log.f = open_memstream(&log.text, &log.len);
	gw_resolver_view_init(&view, entry_ptr);

	/* Failing from the start: unavailable, said once. */
	gw_resolver_record(entry_ptr, NULL, "Name or service not known", log.f);
	gw_resolver_record(entry_ptr, NULL, "Name or service not known", log.f);
	assert_logged(&log, "vkgw: upstream app endpoint svc.example:80: cannot resolve svc.example: Name or service "
			    "not known; unavailable until it resolves\n");
	assert_int_equal(gw_resolver_view_refresh(&view), 0);

	gw_resolver_record(entry_ptr, &ab, NULL, log.f);
	assert_logged(&log, "vkgw: upstream app endpoint svc.example:80 now resolves to 10.0.0.1:80, 10.0.0.2:80\n");
	assert_int_equal(gw_resolver_view_refresh(&view), 2);
	seq = entry_ptr->seq;

	/* The same answer again: nothing written, nothing said. */
	gw_resolver_record(entry_ptr, &ab, NULL, log.f);
	assert_logged(&log, "");
	assert_int_equal(entry_ptr->seq, seq);

	/* Failures keep what was there, and are said once. */
	gw_resolver_record(entry_ptr, NULL, "Temporary failure in name resolution", log.f);
	gw_resolver_record(entry_ptr, NULL, "Temporary failure in name resolution", log.f);
	assert_logged(&log, "vkgw: upstream app endpoint svc.example:80: cannot resolve svc.example: Temporary "
			    "failure in name resolution; keeping 10.0.0.1:80, 10.0.0.2:80\n");
	assert_int_equal(entry_ptr->seq, seq);
	assert_int_equal(gw_resolver_view_refresh(&view), 2);

	gw_resolver_record(entry_ptr, &ab, NULL, log.f);
	assert_logged(&log, "vkgw: upstream app endpoint svc.example:80 resolves again to 10.0.0.1:80, 10.0.0.2:80\n");
	gw_resolver_record(entry_ptr, &c, NULL, log.f);
	assert_logged(&log, "vkgw: upstream app endpoint svc.example:80 now resolves to 10.0.0.3:80\n");
	assert_int_equal(gw_resolver_view_refresh(&view), 1);
	assert_int_equal(entry_ptr->seq, seq + 2);

	fclose(log.f);
	free(log.text);
	gw_resolver_destroy(resolver_ptr);
	gw_config_free(config_ptr);
}

struct picker {
	struct gw_upstreams *upstreams_ptr;
	struct gw_upstream_ops ops;
};

/* One pick of upstream 0: the status, and the address or "-" in buf. */
static int pick_once(struct picker *p, char *buf, size_t len)
{
	struct gw_upstream_pick pick;
	const char *reason = NULL;
	int status = p->ops.pick(p->ops.ctx_ptr, 0, NULL, 0, 0, &pick, &reason);

	snprintf(buf, len, "-");
	if (status == 0) {
		format_address(pick.addr_ptr, buf, len);
		p->ops.done(p->ops.ctx_ptr, 0, pick.endpoint, GW_UPSTREAM_OK);
	}
	return status;
}

static void test_availability_follows_the_table(void **state)
{
	struct gw_config *config_ptr =
		gw_test_load_upstreams("\"app\": { \"endpoints\": [ \"127.0.0.9:1\", \"svc.example:8080\" ], "
				       "\"health_check\": { \"path\": \"/health\" } }");
	struct gw_resolver *resolver_ptr = gw_resolver_create(config_ptr);
	struct gw_resolver_entry *entry_ptr = entry_at(resolver_ptr, 0, 1);
	union gw_resolver_address b = v4("127.0.0.2", 8080);
	struct gw_resolver_addresses ab = set_of(v4("127.0.0.1", 8080), &b, NULL);
	struct picker p = {.upstreams_ptr = gw_upstreams_create(config_ptr, 1, NULL, resolver_ptr)};
	struct gw_upstream_state *state_ptr;
	FILE *log = fopen("/dev/null", "w");
	struct sockaddr_storage probe;
	socklen_t probe_len;
	char buf[GW_RESOLVER_FORMAT_MAX];
	int seen_a = 0, seen_b = 0;

	(void)state;
	assert_non_null(p.upstreams_ptr);
	gw_upstreams_ops(p.upstreams_ptr, &p.ops);
	state_ptr = gw_upstreams_state(p.upstreams_ptr, 0);
	/* Unresolved: only the literal endpoint serves, and there is nothing
	 * to probe. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pick_once(&p, buf, sizeof(buf)), 0);
		assert_string_equal(buf, "127.0.0.9:1");
	}
	assert_int_equal(gw_upstreams_probe_address(state_ptr, 1, 0, &probe, &probe_len), -1);
	assert_int_equal(gw_upstreams_probe_address(state_ptr, 0, 0, &probe, &probe_len), 0);

	gw_resolver_record(entry_ptr, &ab, NULL, log);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pick_once(&p, buf, sizeof(buf)), 0);
		seen_a += strcmp(buf, "127.0.0.1:8080") == 0;
		seen_b += strcmp(buf, "127.0.0.2:8080") == 0;
	}
	/* Round robin over two endpoints, the DNS one rotating over its two
	 * addresses. */
	assert_int_equal(seen_a, 2);
	assert_int_equal(seen_b, 2);
	assert_int_equal(gw_upstreams_probe_address(state_ptr, 1, 1, &probe, &probe_len), 0);
	assert_string_equal(format_address((struct sockaddr *)&probe, buf, sizeof(buf)), "127.0.0.2:8080");
	assert_int_equal(probe_len, sizeof(struct sockaddr_in));

	/* Unhealthy by active checks: not picked even though it resolves. */
	for (int i = 0; i < 3; i++)
		gw_upstreams_check_result(state_ptr, 1, 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pick_once(&p, buf, sizeof(buf)), 0);
		assert_string_equal(buf, "127.0.0.9:1");
	}
	fclose(log);
	gw_upstreams_destroy(p.upstreams_ptr);
	gw_resolver_destroy(resolver_ptr);
	gw_config_free(config_ptr);
}

static void test_without_a_resolver_dns_endpoints_stay_unavailable(void **state)
{
	struct gw_config *config_ptr = gw_test_load_upstreams("\"app\": { \"endpoints\": [ \"svc.example:8080\" ] }");
	struct picker p = {.upstreams_ptr = gw_upstreams_create(config_ptr, 1, NULL, NULL)};
	char buf[64];

	(void)state;
	gw_upstreams_ops(p.upstreams_ptr, &p.ops);
	assert_int_equal(pick_once(&p, buf, sizeof(buf)), 503);
	gw_upstreams_destroy(p.upstreams_ptr);
	gw_config_free(config_ptr);
}

static void test_lookup_resolves_localhost(void **state)
{
	struct gw_resolver_addresses found;
	const char *error = NULL;
	char buf[GW_RESOLVER_FORMAT_MAX];

	(void)state;
	assert_int_equal(gw_resolver_lookup("localhost", 8080, &found, &error), 0);
	assert_true(found.count >= 1);
	/* IPv4 first, port applied; 127.0.0.1 among them. */
	assert_int_equal(found.addresses[0].sa.sa_family, AF_INET);
	gw_resolver_format(&found, buf, sizeof(buf));
	assert_non_null(strstr(buf, "127.0.0.1:8080"));
	assert_int_equal(gw_resolver_lookup("vkgw-no-such-host.invalid", 80, &found, &error), -1);
	assert_non_null(error);
	assert_int_equal(found.count, 0);
}

/* Each entry on its upstream's interval; a name shared by two upstreams
 * gets each one's port. */
static void test_run_due_follows_the_intervals(void **state)
{
	struct gw_config *config_ptr = gw_test_load_upstreams(
		"\"app\": { \"endpoints\": [ \"localhost:1001\" ], \"resolve_interval_ms\": 1000 },"
		" \"b\": { \"endpoints\": [ \"localhost:1002\" ], \"resolve_interval_ms\": 5000 }");
	struct gw_resolver *resolver_ptr = gw_resolver_create(config_ptr);
	struct gw_resolver_entry *a_ptr = entry_at(resolver_ptr, 0, 0), *b_ptr = entry_at(resolver_ptr, 1, 0);
	FILE *log = fopen("/dev/null", "w");
	uint64_t t0 = 1000000000ull, next;
	char buf[GW_RESOLVER_FORMAT_MAX];

	(void)state;
	next = gw_resolver_run_due(resolver_ptr, t0, log);
	assert_true(next == t0 + 1000000000ull);
	gw_resolver_format(&a_ptr->published, buf, sizeof(buf));
	assert_non_null(strstr(buf, "127.0.0.1:1001"));
	gw_resolver_format(&b_ptr->published, buf, sizeof(buf));
	assert_non_null(strstr(buf, "127.0.0.1:1002"));
	assert_true(b_ptr->due_ns == t0 + 5000000000ull);
	/* One second on, only app is due. */
	next = gw_resolver_run_due(resolver_ptr, t0 + 1000000000ull, log);
	assert_true(a_ptr->due_ns == t0 + 2000000000ull);
	assert_true(b_ptr->due_ns == t0 + 5000000000ull);
	assert_true(next == t0 + 2000000000ull);
	fclose(log);
	gw_resolver_destroy(resolver_ptr);
	gw_config_free(config_ptr);
}

/* A reload's new names: counted once each, added after the entries vkgw
 * started with (found by address, in no upstream of the first config),
 * resolved at the next pass; more than the room left adds nothing. */
static void test_reloads_add_names_while_there_is_room(void **state)
{
	struct gw_config *first_ptr = gw_test_load_upstreams("\"app\": { \"endpoints\": [ \"localhost:1001\" ] }");
	struct gw_config *fresh_ptr = gw_test_load_upstreams(
		"\"app\": { \"endpoints\": [ \"localhost:1001\", \"localhost:1003\" ] },"
		" \"b\": { \"endpoints\": [ \"127.0.0.1:9\", \"localhost:1003\", \"new.example:80\" ] }");
	struct gw_resolver *resolver_ptr = gw_resolver_create(first_ptr);
	const struct gw_resolver_entry *added_ptr;
	FILE *log = fopen("/dev/null", "w");
	char many[GW_RESOLVER_SPARE * 40 + 64], buf[GW_RESOLVER_FORMAT_MAX];
	struct gw_config *too_many_ptr;
	size_t used = 0;

	(void)state;
	assert_int_equal(gw_resolver_count(resolver_ptr), 1);
	assert_int_equal(gw_resolver_room(resolver_ptr), GW_RESOLVER_SPARE);
	assert_int_equal(gw_resolver_new_names(resolver_ptr, first_ptr), 0);
	assert_int_equal(gw_resolver_new_names(resolver_ptr, fresh_ptr), 2);
	assert_int_equal(gw_resolver_count(resolver_ptr), 1); /* counting adds nothing */
	assert_int_equal(gw_resolver_add_new(resolver_ptr, fresh_ptr), 1);
	assert_int_equal(gw_resolver_count(resolver_ptr), 3);
	assert_int_equal(gw_resolver_room(resolver_ptr), GW_RESOLVER_SPARE - 2);
	assert_int_equal(gw_resolver_new_names(resolver_ptr, fresh_ptr), 0);
	added_ptr = gw_resolver_find_address(resolver_ptr, "localhost:1003");
	assert_ptr_equal(added_ptr, gw_resolver_entry_at(resolver_ptr, 1));
	assert_int_equal(added_ptr->upstream_index, -1);
	assert_string_equal(added_ptr->upstream_name, "app");
	assert_string_equal(added_ptr->host, "localhost");
	assert_int_equal(added_ptr->port, 1003);
	assert_non_null(gw_resolver_find_address(resolver_ptr, "new.example:80"));
	assert_null(gw_resolver_entry_at(resolver_ptr, 3));
	assert_false(gw_resolver_answered(added_ptr));
	gw_resolver_run_due(resolver_ptr, gw_resolver_now_ns(), log);
	assert_true(gw_resolver_answered(added_ptr));
	gw_resolver_format(&added_ptr->published, buf, sizeof(buf));
	assert_non_null(strstr(buf, "127.0.0.1:1003"));
	/* GW_RESOLVER_SPARE - 1 more names: one too many. */
	used += (size_t)snprintf(many + used, sizeof(many) - used, "\"app\": { \"endpoints\": [ ");
	for (int i = 0; i < GW_RESOLVER_SPARE - 1; i++)
		used += (size_t)snprintf(many + used, sizeof(many) - used, "%s\"n%d.example:80\"", i ? ", " : "", i);
	snprintf(many + used, sizeof(many) - used, " ] }");
	too_many_ptr = gw_test_load_upstreams(many);
	assert_int_equal(gw_resolver_new_names(resolver_ptr, too_many_ptr), GW_RESOLVER_SPARE - 1);
	assert_int_equal(gw_resolver_add_new(resolver_ptr, too_many_ptr), -1);
	assert_int_equal(gw_resolver_count(resolver_ptr), 3);
	fclose(log);
	gw_config_free(too_many_ptr);
	gw_resolver_destroy(resolver_ptr);
	gw_config_free(fresh_ptr);
	gw_config_free(first_ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_entry_per_dns_endpoint),
		cmocka_unit_test(test_publish_read_and_view_generation),
		cmocka_unit_test(test_concurrent_reads_are_never_torn),
		cmocka_unit_test(test_rotation_prefers_ipv4),
		cmocka_unit_test(test_failures_keep_the_last_good_addresses),
		cmocka_unit_test(test_availability_follows_the_table),
		cmocka_unit_test(test_without_a_resolver_dns_endpoints_stay_unavailable),
		cmocka_unit_test(test_lookup_resolves_localhost),
		cmocka_unit_test(test_run_due_follows_the_intervals),
		cmocka_unit_test(test_reloads_add_names_while_there_is_room),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
