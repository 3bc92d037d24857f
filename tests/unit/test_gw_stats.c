/* Tests for gateway/gw_stats.c and gw_stats_render.c: the shared table
 * (slots per kernel, sums, gauges reset on attach, bounds) and both
 * renderings (JSON that parses to the right numbers; Prometheus lines). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_diag.h"
#include "gw_stats.h"
#include "gw_stats_s.h"

static const char config_text[] =
	"{ \"listeners\": [ { \"name\": \"l\", \"address\": \"127.0.0.1\", \"port\": 0 },"
	"                   { \"name\": \"m\", \"port\": 0, \"isolation\": false } ],"
	"  \"admin\": { \"address\": \"127.0.0.1\", \"port\": 0 },"
	"  \"upstreams\": { \"app\": { \"endpoints\": [ \"127.0.0.1:8001\", \"127.0.0.1:8002\" ] },"
	"                   \"db\": { \"endpoints\": [ \"127.0.0.1:9001\" ] } },"
	"  \"routes\": [ { \"name\": \"r\", \"action\": { \"proxy\": { \"upstream\": \"app\" } } } ] }";

struct fixture {
	struct gw_config *config_ptr;
	struct gw_stats *stats_ptr;
	char *buf;
	size_t cap;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gw_diag *diag = gw_diag_create();

	f->config_ptr = gw_config_load_buffer(config_text, sizeof(config_text) - 1, diag);
	gw_diag_destroy(diag);
	if (!f->config_ptr)
		return -1;
	f->stats_ptr = gw_stats_create(f->config_ptr, 3);
	if (!f->stats_ptr)
		return -1;
	f->cap = gw_stats_render_max(f->stats_ptr);
	f->buf = malloc(f->cap);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gw_stats_destroy(f->stats_ptr);
	gw_config_free(f->config_ptr);
	free(f->buf);
	free(f);
	return 0;
}

static json_t *render_json(struct fixture *f, uint64_t now_ns)
{
	json_error_t err;
	size_t n = gw_stats_render_json(f->stats_ptr, now_ns, f->buf, f->cap);
	json_t *doc;

	assert_true(n < f->cap);
	assert_int_equal(strlen(f->buf), n);
	doc = json_loads(f->buf, 0, &err);
	if (!doc)
		fail_msg("not JSON (%s): %s", err.text, f->buf);
	return doc;
}

static json_int_t at(json_t *doc, const char *path)
{
	char copy[256], *save, *part;
	json_t *node = doc;

	snprintf(copy, sizeof(copy), "%s", path);
	for (part = strtok_r(copy, ".", &save); part && node; part = strtok_r(NULL, ".", &save))
		node = json_is_array(node) ? json_array_get(node, (size_t)atoi(part)) : json_object_get(node, part);
	if (!json_is_integer(node))
		fail_msg("%s is not an integer", path);
	return json_integer_value(node);
}

static const char *state_at(json_t *doc, const char *upstream, int endpoint)
{
	json_t *ep = json_array_get(
		json_object_get(json_object_get(json_object_get(doc, "upstreams"), upstream), "endpoints"),
		(size_t)endpoint);

	return json_string_value(json_object_get(ep, "state"));
}

/* Writers with no slot attached do nothing (and do not crash). */
static void test_writers_without_a_slot_are_no_ops(void **state)
{
	struct fixture *f = *state;
	json_t *doc;

	gw_stats_connection_opened();
	gw_stats_request_done(200, 10, 20, 0, 0);
	gw_stats_upstream_refused(0);
	doc = render_json(f, 1);
	assert_int_equal(at(doc, "total.requests"), 0);
	assert_int_equal(at(doc, "kernels"), 3);
	json_decref(doc);
}

/* Each kernel writes its own slot; totals are the sums. */
static void test_slots_sum_into_totals(void **state)
{
	struct fixture *f = *state;
	json_t *doc;

	gw_stats_attach(f->stats_ptr, 0);
	gw_stats_connection_opened();
	gw_stats_request_done(200, 100, 1000, 0, 0);
	gw_stats_request_done(502, 50, 60, 0, 1);
	gw_stats_attach(f->stats_ptr, 2);
	gw_stats_connection_opened();
	gw_stats_connection_opened();
	gw_stats_connection_closed();
	gw_stats_request_done(404, 7, 8, -1, -1);
	gw_stats_request_done(0, 1, 0, 0, 0); /* no status: a request, no class */
	gw_stats_upstream_refused(1);
	gw_stats_endpoint_connect_failed(0, 1);
	/* Out of range: ignored. */
	gw_stats_request_done(200, 0, 0, 5, 0);
	gw_stats_request_done(200, 0, 0, 1, 3);
	gw_stats_detach();

	doc = render_json(f, 1);
	assert_int_equal(at(doc, "total.requests"), 6);
	assert_int_equal(at(doc, "total.responses.2xx"), 3);
	assert_int_equal(at(doc, "total.responses.4xx"), 1);
	assert_int_equal(at(doc, "total.responses.5xx"), 1);
	assert_int_equal(at(doc, "total.bytes.in"), 158);
	assert_int_equal(at(doc, "total.bytes.out"), 1068);
	assert_int_equal(at(doc, "total.connections.accepted"), 3);
	assert_int_equal(at(doc, "total.connections.active"), 2);
	assert_int_equal(at(doc, "per_kernel.0.requests"), 2);
	assert_int_equal(at(doc, "per_kernel.1.requests"), 0);
	assert_int_equal(at(doc, "per_kernel.2.requests"), 4);
	assert_int_equal(at(doc, "per_kernel.2.connections.active"), 1);
	assert_true(at(doc, "per_kernel.0.pid") == (json_int_t)getpid());
	assert_int_equal(at(doc, "upstreams.app.requests"), 3);
	assert_int_equal(at(doc, "upstreams.app.responses.5xx"), 1);
	assert_int_equal(at(doc, "upstreams.app.connect_failures"), 1);
	assert_int_equal(at(doc, "upstreams.app.endpoints.0.requests"), 2);
	assert_int_equal(at(doc, "upstreams.app.endpoints.0.per_kernel.2.requests"), 1);
	assert_int_equal(at(doc, "upstreams.app.endpoints.1.responses.5xx"), 1);
	assert_int_equal(at(doc, "upstreams.db.refused"), 1);
	assert_int_equal(at(doc, "upstreams.db.requests"), 0);
	json_decref(doc);
}

/* Ejection is judged by the reader's clock; failing checks outrank it;
 * the total state is the worst any kernel sees. */
static void test_endpoint_state(void **state)
{
	struct fixture *f = *state;
	json_t *doc;

	gw_stats_attach(f->stats_ptr, 1);
	gw_stats_endpoint_health(0, 0, 0, 5000, 1, 2);
	gw_stats_endpoint_health(0, 1, 1, 0, 0, 0);
	gw_stats_detach();

	doc = render_json(f, 4999);
	assert_string_equal(state_at(doc, "app", 0), "ejected");
	assert_string_equal(state_at(doc, "app", 1), "unhealthy");
	assert_string_equal(state_at(doc, "db", 0), "healthy");
	assert_int_equal(at(doc, "upstreams.app.endpoints.0.ejected_in_kernels"), 1);
	assert_int_equal(at(doc, "upstreams.app.endpoints.0.active"), 2);
	assert_int_equal(at(doc, "upstreams.app.active"), 2);
	json_decref(doc);
	doc = render_json(f, 5000);
	assert_string_equal(state_at(doc, "app", 0), "healthy");
	assert_int_equal(at(doc, "upstreams.app.endpoints.0.ejections"), 1);
	json_decref(doc);

	/* A restarted kernel starts with no load and a clean bill of health,
	 * but its counters carry on. */
	gw_stats_attach(f->stats_ptr, 1);
	gw_stats_request_done(200, 0, 0, 0, 0);
	gw_stats_detach();
	doc = render_json(f, 1);
	assert_string_equal(state_at(doc, "app", 1), "healthy");
	assert_int_equal(at(doc, "upstreams.app.endpoints.0.active"), 0);
	assert_int_equal(at(doc, "per_kernel.1.starts"), 2);
	json_decref(doc);
}

/* The retry budget weighs retries in flight, across kernels, against
 * the upstream's requests in flight, with a floor a second; hedges count. */
static void test_retry_budget(void **state)
{
	struct fixture *f = *state;
	const uint64_t second = 7000000000ull;
	json_t *doc;

	/* No table: nothing to weigh, everything allowed. */
	assert_true(gw_stats_retry_budget_allows(0, 20, 0, second));
	/* Kernel 1 has 10 requests in flight to app, kernel 2 none. */
	gw_stats_attach(f->stats_ptr, 1);
	gw_stats_endpoint_health(0, 0, 0, 0, 0, 6);
	gw_stats_endpoint_health(0, 1, 0, 0, 0, 4);
	gw_stats_detach();
	gw_stats_attach(f->stats_ptr, 2);
	/* 20% of 10: two retries in flight, from any kernel */
	assert_true(gw_stats_retry_budget_allows(0, 20, 0, second));
	gw_stats_retry_started(0, second);
	assert_true(gw_stats_retry_budget_allows(0, 20, 0, second));
	gw_stats_hedge_started(0, second);
	assert_false(gw_stats_retry_budget_allows(0, 20, 0, second));
	/* the floor: fewer than 3 started this second */
	assert_true(gw_stats_retry_budget_allows(0, 20, 3, second));
	gw_stats_retry_started(0, second);
	assert_false(gw_stats_retry_budget_allows(0, 20, 3, second));
	/* a new second: the floor again */
	assert_true(gw_stats_retry_budget_allows(0, 20, 3, second + 1000000000ull));
	/* ended: room again */
	gw_stats_retry_ended(0);
	gw_stats_retry_ended(0);
	assert_true(gw_stats_retry_budget_allows(0, 20, 0, second));
	gw_stats_hedge_won(0);
	gw_stats_retry_budget_refused(0);
	gw_stats_deadline_expired(0);
	gw_stats_detach();
	doc = render_json(f, 1);
	assert_int_equal(at(doc, "upstreams.app.retries"), 2);
	assert_int_equal(at(doc, "upstreams.app.retries_active"), 1);
	assert_int_equal(at(doc, "upstreams.app.hedges"), 1);
	assert_int_equal(at(doc, "upstreams.app.hedges_won"), 1);
	assert_int_equal(at(doc, "upstreams.app.retry_budget_refused"), 1);
	assert_int_equal(at(doc, "upstreams.app.deadline_expired"), 1);
	json_decref(doc);
}

/* A hedge's delay at p95: the 95th percentile of recent response heads. */
static void test_response_head_p95(void **state)
{
	struct fixture *f = *state;

	gw_stats_attach(f->stats_ptr, 0);
	for (int i = 0; i < 19; i++)
		gw_stats_response_head_time(1, 100);
	assert_int_equal(gw_stats_response_head_p95_us(1), 0); /* too few */
	for (int i = 0; i < 81; i++)
		gw_stats_response_head_time(1, 100);
	/* 100 heads within 128 us */
	assert_int_equal(gw_stats_response_head_p95_us(1), 128);
	for (int i = 0; i < 10; i++)
		gw_stats_response_head_time(1, 5000);
	/* 10 of 110 slow: the 95th percentile is in 5000's bucket */
	assert_int_equal(gw_stats_response_head_p95_us(1), 8192);
	/* older heads weigh less: after many fast ones, fast again */
	for (int i = 0; i < 4 * GW_STATS_HEAD_DECAY; i++)
		gw_stats_response_head_time(1, 100);
	assert_int_equal(gw_stats_response_head_p95_us(1), 128);
	gw_stats_detach();
}

/* The table is shared: a forked child's writes are seen by the parent. */
static void test_table_is_shared_across_fork(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid = fork();
	json_t *doc;

	assert_true(pid >= 0);
	if (pid == 0) {
		gw_stats_attach(f->stats_ptr, 1);
		for (int i = 0; i < 1000; i++)
			gw_stats_request_done(204, 1, 1, 1, 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	doc = render_json(f, 1);
	assert_int_equal(at(doc, "per_kernel.1.requests"), 1000);
	assert_int_equal(at(doc, "upstreams.db.endpoints.0.responses.2xx"), 1000);
	json_decref(doc);
}

/* The worst case fits render_max; a short buffer reports what it needs. */
static void test_render_max_bounds_both_formats(void **state)
{
	struct fixture *f = *state;
	struct gw_stats_kernel *kernel_ptr;
	size_t need;

	for (int k = 0; k < 3; k++) {
		kernel_ptr = gw_stats_kernel_of(f->stats_ptr, k);
		memset(kernel_ptr, 0xff, f->stats_ptr->slot_bytes);
	}
	/* The longest problems, each byte escaped as six. */
	memset(f->stats_ptr->reload_ptr->problems, 1, sizeof(f->stats_ptr->reload_ptr->problems));
	assert_true(gw_stats_render_json(f->stats_ptr, 0, f->buf, f->cap) < f->cap);
	assert_true(gw_stats_render_prometheus(f->stats_ptr, 0, f->buf, f->cap) < f->cap);
	need = gw_stats_render_prometheus(f->stats_ptr, 0, f->buf, 100);
	assert_true(need >= 100);
	assert_int_equal(strlen(f->buf), 99);
	memset(f->stats_ptr->table_ptr, 0, f->stats_ptr->table_bytes);
}

/* A refused reload's problems come out a JSON string per line, escaped;
 * an accepted one clears them; /metrics counts both and says whether the
 * last was refused. */
static void test_config_reloads(void **state)
{
	struct fixture *f = *state;
	json_t *doc = render_json(f, 1), *config, *problems;

	config = json_object_get(doc, "config");
	assert_string_equal(json_string_value(json_object_get(config, "last_reload")), "none");
	json_decref(doc);
	gw_stats_config_reload(f->stats_ptr, "a.json:1:1: missing \"routes\"\na.json:5:3: /x\tthere\n");
	doc = render_json(f, 1);
	config = json_object_get(doc, "config");
	problems = json_object_get(config, "problems");
	assert_int_equal(json_array_size(problems), 2);
	assert_string_equal(json_string_value(json_array_get(problems, 0)), "a.json:1:1: missing \"routes\"");
	assert_string_equal(json_string_value(json_array_get(problems, 1)), "a.json:5:3: /x\tthere");
	assert_string_equal(json_string_value(json_object_get(config, "last_reload")), "refused");
	assert_int_equal(at(doc, "config.reloads.refused"), 1);
	json_decref(doc);
	assert_true(gw_stats_render_prometheus(f->stats_ptr, 0, f->buf, f->cap) < f->cap);
	assert_non_null(strstr(f->buf, "vkgw_config_reloads_total{result=\"refused\"} 1\n"));
	assert_non_null(strstr(f->buf, "vkgw_config_last_reload_successful 0\n"));
	gw_stats_config_reload(f->stats_ptr, NULL);
	doc = render_json(f, 1);
	config = json_object_get(doc, "config");
	assert_int_equal(json_array_size(json_object_get(config, "problems")), 0);
	assert_string_equal(json_string_value(json_object_get(config, "last_reload")), "accepted");
	assert_int_equal(at(doc, "config.reloads.accepted"), 1);
	json_decref(doc);
	assert_true(gw_stats_render_prometheus(f->stats_ptr, 0, f->buf, f->cap) < f->cap);
	assert_non_null(strstr(f->buf, "vkgw_config_reloads_total{result=\"accepted\"} 1\n"));
	assert_non_null(strstr(f->buf, "vkgw_config_last_reload_successful 1\n"));
}

static const char *isolation_at(json_t *doc, int listener)
{
	json_t *node =
		json_object_get(json_array_get(json_object_get(doc, "listeners"), (size_t)listener), "isolation");

	if (!json_is_string(node))
		fail_msg("listeners.%d.isolation is not a string", listener);
	return json_string_value(node);
}

/* Each listener says how it isolates its connections: the config's value
 * until the program sets what it started (the command line may override). */
static void test_listener_isolation(void **state)
{
	struct fixture *f = *state;
	json_t *doc = render_json(f, 1);

	assert_string_equal(isolation_at(doc, 0), "filters");
	assert_string_equal(isolation_at(doc, 1), "off");
	json_decref(doc);
	assert_non_null(strstr(f->buf, "\"listeners\":[{\"name\":\"l\",\"isolation\":\"filters\"}"));
	gw_stats_set_isolation(f->stats_ptr, "l", GW_ISOLATION_OFF);
	gw_stats_set_isolation(f->stats_ptr, "m", GW_ISOLATION_ALWAYS);
	doc = render_json(f, 1);
	assert_string_equal(isolation_at(doc, 0), "off");
	assert_string_equal(isolation_at(doc, 1), "always");
	json_decref(doc);
	assert_true(gw_stats_render_prometheus(f->stats_ptr, 0, f->buf, f->cap) < f->cap);
	assert_non_null(strstr(f->buf, "# TYPE vkgw_listener_isolation gauge\n"));
	assert_non_null(strstr(f->buf, "vkgw_listener_isolation{kernel=\"2\",listener=\"l\",mode=\"off\"} 0\n"));
	assert_non_null(strstr(f->buf, "vkgw_listener_isolation{kernel=\"0\",listener=\"m\",mode=\"always\"} 1\n"));
}

/* Every sample belongs to a family announced by HELP and TYPE; counters
 * end in _total; every family but the configuration's is per kernel. */
static void test_prometheus_lines(void **state)
{
	struct fixture *f = *state;
	char *line, *save, family[128] = "", type[16] = "";
	int samples = 0;

	gw_stats_attach(f->stats_ptr, 0);
	gw_stats_request_done(503, 1, 2, 0, 1);
	gw_stats_endpoint_health(0, 1, 0, 100, 1, 0);
	gw_stats_detach();
	assert_true(gw_stats_render_prometheus(f->stats_ptr, 50, f->buf, f->cap) < f->cap);
	assert_non_null(strstr(f->buf, "vkgw_requests_total{kernel=\"0\"} 1\n"));
	assert_non_null(strstr(f->buf, "vkgw_responses_total{kernel=\"0\",code_class=\"5xx\"} 1\n"));
	assert_non_null(strstr(f->buf, "vkgw_endpoint_responses_total{kernel=\"0\",upstream=\"app\","
				       "endpoint=\"127.0.0.1:8002\",code_class=\"5xx\"} 1\n"));
	assert_non_null(
		strstr(f->buf, "vkgw_endpoint_ejected{kernel=\"0\",upstream=\"app\",endpoint=\"127.0.0.1:8002\"} 1\n"));
	assert_non_null(
		strstr(f->buf, "vkgw_endpoint_ejected{kernel=\"1\",upstream=\"app\",endpoint=\"127.0.0.1:8002\"} 0\n"));
	assert_non_null(strstr(f->buf, "vkgw_upstream_requests_total{kernel=\"2\",upstream=\"db\"} 0\n"));
	assert_non_null(strstr(f->buf, "# TYPE vkgw_vkern_live gauge\n"));
	for (line = strtok_r(f->buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "# TYPE %127s %15s", family, type) == 2) {
			if (strcmp(type, "counter") == 0)
				assert_non_null(strstr(family, "_total"));
			continue;
		}
		if (line[0] == '#')
			continue;
		assert_memory_equal(line, family, strlen(family));
		samples++;
		/* The configuration's reloads are the program's, not a kernel's. */
		if (strncmp(family, "vkgw_config_", 12) == 0)
			continue;
		assert_true(line[strlen(family)] == '{');
		assert_non_null(strstr(line, "kernel=\""));
	}
	assert_true(samples > 50);
}

static struct gw_config *load(const char *text)
{
	struct gw_diag *diag = gw_diag_create();
	struct gw_config *config_ptr = gw_config_load_buffer(text, strlen(text), diag);

	gw_diag_destroy(diag);
	assert_non_null(config_ptr);
	return config_ptr;
}

static int upstream_index(const struct gw_config *config_ptr, const char *name)
{
	for (int u = 0; u < config_ptr->upstream_count; u++)
		if (strcmp(config_ptr->upstreams_ptr[u].name, name) == 0)
			return u;
	fail_msg("no upstream %s", name);
	return -1;
}

/* What a reload accepts is what /stats and /metrics show: an upstream it
 * adds gets slots of its own, one it drops is no longer shown but keeps
 * its counts (shown again when it comes back), listeners follow by name;
 * past the spare room, the rest are not counted, and the renderings still
 * fit their bound. */
static void test_reloads_show_their_upstreams(void **state)
{
	struct fixture *f = *state;
	struct gw_config *next_ptr = load(
		"{ \"listeners\": [ { \"name\": \"l\", \"address\": \"127.0.0.1\", \"port\": 0 },"
		"                   { \"name\": \"n\", \"port\": 0 } ],"
		"  \"upstreams\": { \"app\": { \"endpoints\": [ \"127.0.0.1:8001\", \"127.0.0.1:8002\" ] },"
		"                   \"extra\": { \"endpoints\": [ \"127.0.0.1:7001\", \"extra.example:7002\" ] } },"
		"  \"routes\": [ { \"name\": \"r\", \"action\": { \"proxy\": { \"upstream\": \"app\" } } } ] }");
	char *big = malloc(64 * 1024);
	size_t used = 0;
	struct gw_config *big_ptr;
	char label[64];
	int extra;
	json_t *doc;

	gw_stats_attach(f->stats_ptr, 0);
	gw_stats_request_done(200, 1, 1, 0, 0);
	gw_stats_upstream_refused(1);
	assert_int_equal(gw_stats_show_config(f->stats_ptr, next_ptr), 0);
	extra = gw_stats_upstream_slot(&next_ptr->upstreams_ptr[upstream_index(next_ptr, "extra")]);
	assert_int_equal(extra, 2);
	assert_int_equal(gw_stats_upstream_slot(&next_ptr->upstreams_ptr[upstream_index(next_ptr, "app")]), 0);
	gw_stats_request_done(200, 1, 1, extra, 1);
	doc = render_json(f, 1);
	assert_int_equal(at(doc, "upstreams.app.requests"), 1);
	assert_int_equal(at(doc, "upstreams.extra.requests"), 1);
	assert_int_equal(at(doc, "upstreams.extra.endpoints.1.requests"), 1);
	assert_null(json_object_get(json_object_get(doc, "upstreams"), "db"));
	assert_int_equal(json_array_size(json_object_get(doc, "listeners")), 2);
	json_decref(doc);
	assert_non_null(strstr(f->buf, "{\"address\":\"extra.example:7002\","));
	assert_non_null(strstr(f->buf, "\"listeners\":[{\"name\":\"l\",\"isolation\":\"filters\"},{\"name\":\"n\","));
	assert_true(gw_stats_render_prometheus(f->stats_ptr, 0, f->buf, f->cap) < f->cap);
	assert_non_null(strstr(f->buf, "vkgw_upstream_requests_total{kernel=\"0\",upstream=\"extra\"} 1\n"));
	assert_null(strstr(f->buf, "upstream=\"db\""));
	assert_null(strstr(f->buf, "listener=\"m\""));
	/* Back to the first configuration: db's counts are where they were. */
	assert_int_equal(gw_stats_show_config(f->stats_ptr, f->config_ptr), 0);
	doc = render_json(f, 1);
	assert_int_equal(at(doc, "upstreams.db.refused"), 1);
	assert_null(json_object_get(json_object_get(doc, "upstreams"), "extra"));
	json_decref(doc);
	/* One upstream more than the spare room left, with the longest names
	 * and addresses the config allows. */
	used += (size_t)snprintf(big + used, 64 * 1024 - used,
				 "{ \"listeners\": [ { \"name\": \"l\", \"port\": 0 } ], \"upstreams\": {"
				 " \"app\": { \"endpoints\": [ \"127.0.0.1:8001\" ] }");
	memset(label, 'a', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	for (int i = 0; i < GW_STATS_SPARE_UPSTREAMS; i++)
		used += (size_t)snprintf(big + used, 64 * 1024 - used,
					 ", \"u%062d\": { \"endpoints\": [ \"h%062d.%s.%s.%.61s:65535\" ] }", i, i,
					 label, label, label);
	snprintf(big + used, 64 * 1024 - used,
		 " }, \"routes\": [ { \"name\": \"r\", \"action\": { \"proxy\": { \"upstream\": \"app\" } } } ] }");
	big_ptr = load(big);
	/* 31 entries left (34 less app, db and extra); this file needs 33: its
	 * app has other endpoints than the first one's. */
	assert_int_equal(gw_stats_show_config(f->stats_ptr, big_ptr), 2);
	for (int k = 0; k < 3; k++)
		memset(gw_stats_kernel_of(f->stats_ptr, k), 0xff, f->stats_ptr->slot_bytes);
	assert_true(gw_stats_render_json(f->stats_ptr, 0, f->buf, f->cap) < f->cap);
	assert_true(gw_stats_render_prometheus(f->stats_ptr, 0, f->buf, f->cap) < f->cap);
	memset(f->stats_ptr->table_ptr, 0, f->stats_ptr->table_bytes);
	gw_stats_detach();
	gw_config_free(big_ptr);
	gw_config_free(next_ptr);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writers_without_a_slot_are_no_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slots_sum_into_totals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endpoint_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_is_shared_across_fork, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_max_bounds_both_formats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prometheus_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listener_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_response_head_p95, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_reloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reloads_show_their_upstreams, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
