/* test_gw_pipeline: the filter pipeline (gateway/gw_pipeline.c) over real
 * routes of a loaded configuration, with filter types made for the test:
 *
 *   - handlers that return at once run with no coroutine: the phases are
 *     called from plain C here, with no process at all; continue, respond,
 *     retry (response head only), a respond without an answer;
 *   - values a stage attaches are seen by later stages and forwarded;
 *   - the body is asked for by declaration (wants_body alone, or a
 *     request_body handler), and the body phase runs without a coroutine;
 *   - a waiting stage opens its own socket in the connection's process
 *     and does a round trip with a loopback server, lock-step: the process
 *     parks while the server holds its answer, the later stage runs only
 *     after, and the socket is closed when the stage's thread ends;
 *   - a waiting thread's raise answers 500;
 *   - a user's type runs between vk_sys_untrusted_begin and _end (the
 *     calls are counted: this binary has its own two), a
 *     trusted one outside;
 *   - per-kernel state outlives requests and is handed over to a new
 *     snapshot (a simulated reload), new filters get new state, and state
 *     no snapshot keeps is freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_exchange_s.h"
#include "gw_filter.h"
#include "gw_filter_states.h"
#include "gw_http.h"
#include "gw_http_s.h"
#include "gw_pipeline.h"

#include "vk_coro.h"
#include "vk_test_proc.h"

/* ---- vk_sys_untrusted_begin/_end, counted ----
 *
 * Without a kernel vkern's own do nothing; this binary links with
 * --allow-multiple-definition (Makefile), so these, defined first, are the
 * ones the pipeline calls. */

static int untrusted_depth, untrusted_begins, untrusted_ends;

void vk_sys_untrusted_begin(void)
{
	untrusted_begins++;
	untrusted_depth = 1;
}

void vk_sys_untrusted_end(void)
{
	untrusted_ends++;
	untrusted_depth = 0;
}

/* What the handlers saw: 1 when they ran inside the untrusted mark. */
static int seen_untrusted[8];
static int seen_count;

static void saw(void)
{
	if (seen_count < (int)(sizeof(seen_untrusted) / sizeof(seen_untrusted[0])))
		seen_untrusted[seen_count++] = untrusted_depth;
}

/* ---- filter types for the test ---- */

static int compile_nothing(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			   struct gw_arena *arena_ptr, void **compiled_ptr)
{
	(void)config_json_ptr, (void)pointer, (void)diag_ptr, (void)arena_ptr;
	*compiled_ptr = NULL;
	return 0;
}

static int request_header_is(const struct gw_exchange *ex_ptr, const char *name, const char *value)
{
	const char *got;
	size_t len;

	return gw_exchange_request_header(ex_ptr, name, &got, &len) && len == strlen(value) &&
	       memcmp(got, value, len) == 0;
}

/* "consumer": attaches the value consumer=alice; x-deny: 403. */
static enum gw_filter_result consumer_request_head(struct gw_stage *stage_ptr)
{
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);

	saw();
	if (request_header_is(ex_ptr, "x-deny", "1")) {
		gw_exchange_respond_error(ex_ptr, 403, "denied");
		return GW_FILTER_RESPOND;
	}
	if (gw_exchange_set_value(ex_ptr, "consumer", "alice", 5) == -1)
		return gw_stage_fail(stage_ptr, "no room");
	return GW_FILTER_CONTINUE;
}

static int wants_body_calls;

static int consumer_wants_body(const struct gw_stage *stage_ptr)
{
	(void)stage_ptr;
	wants_body_calls++;
	return 1;
}

static const struct gw_filter_type consumer_type = {
	.name = "consumer",
	.compile = compile_nothing,
	.request_head = consumer_request_head,
	.wants_body = consumer_wants_body,
};

/* "forward": a later stage that reads the value and forwards it; on the
 * way back, x-retry: 1 asks for another attempt, x-empty: 1 says RESPOND
 * without an answer. */
static char forward_saw[32];

static enum gw_filter_result forward_request_head(struct gw_stage *stage_ptr)
{
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	const char *value;
	size_t len;

	value = gw_exchange_value(ex_ptr, "consumer", &len);
	snprintf(forward_saw, sizeof(forward_saw), "%.*s", value ? (int)len : 4, value ? value : "none");
	if (request_header_is(ex_ptr, "x-retry-early", "1"))
		return GW_FILTER_RETRY;
	return gw_exchange_forward_value(ex_ptr, "consumer", "x-consumer") == -1 ? gw_stage_fail(stage_ptr, "no room")
										 : GW_FILTER_CONTINUE;
}

static enum gw_filter_result forward_response_head(struct gw_stage *stage_ptr)
{
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);

	if (request_header_is(ex_ptr, "x-retry", "1"))
		return GW_FILTER_RETRY;
	if (request_header_is(ex_ptr, "x-empty", "1"))
		return GW_FILTER_RESPOND;
	return gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "x-seen", "1") == -1 ? gw_stage_fail(stage_ptr, "no room")
									      : GW_FILTER_CONTINUE;
}

static const struct gw_filter_type forward_type = {
	.name = "forward",
	.trusted = 1,
	.compile = compile_nothing,
	.request_head = forward_request_head,
	.response_head = forward_response_head,
};

/* "bodycheck": reads the kept body; answers 422 unless it says "ok". */
static enum gw_filter_result bodycheck_request_body(struct gw_stage *stage_ptr)
{
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	size_t len;
	const char *body = gw_exchange_request_body(ex_ptr, &len);

	if (body && len == 2 && memcmp(body, "ok", 2) == 0)
		return GW_FILTER_CONTINUE;
	gw_exchange_respond_error(ex_ptr, 422, "body refused");
	return GW_FILTER_RESPOND;
}

static const struct gw_filter_type bodycheck_type = {
	.name = "bodycheck",
	.trusted = 1,
	.compile = compile_nothing,
	.request_body = bodycheck_request_body,
};

/* "ask": waits on a loopback server, on a socket of its own: sends
 * "ping\n", attaches the line it gets back as the value "reply". With
 * x-fail: 1, its thread raises instead. */
static struct sockaddr_in ask_addr;
static struct vk_socket *ask_socket_ptr;

static void ask_wait(struct vk_thread *that)
{
	struct gw_stage *stage_ptr = vk_thread_arg(that);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	struct {
		struct vk_socket *socket_ptr;
		char reply[32];
		size_t len;
	} * self;

	vk_begin();
	saw();
	if (request_header_is(ex_ptr, "x-fail", "1"))
		vk_raise(EIO);
	self->socket_ptr = gw_stage_socket(stage_ptr, that);
	if (!self->socket_ptr)
		vk_raise(ENOMEM);
	assert_ptr_equal(gw_stage_socket(stage_ptr, that), self->socket_ptr);
	ask_socket_ptr = self->socket_ptr;
	vk_deadline(5000);
	vk_connect(self->socket_ptr, &ask_addr, sizeof(ask_addr));
	vk_write_on(self->socket_ptr, "ping\n", 5);
	vk_flush_on(self->socket_ptr);
	vk_readline_on(self->socket_ptr, self->len, self->reply, sizeof(self->reply));
	if (self->len < 1 || gw_exchange_set_value(ex_ptr, "reply", self->reply, self->len - 1) == -1)
		vk_raise(EPROTO);
	vk_end();
}

static enum gw_filter_result ask_request_head(struct gw_stage *stage_ptr)
{
	saw();
	return gw_stage_wait(stage_ptr, ask_wait);
}

static const struct gw_filter_type ask_type = {
	.name = "ask",
	.compile = compile_nothing,
	.request_head = ask_request_head,
};

/* "after": a stage behind "ask" that copies the reply into a header. */
static int after_runs;

static enum gw_filter_result after_request_head(struct gw_stage *stage_ptr)
{
	after_runs++;
	return gw_exchange_forward_value(gw_stage_exchange(stage_ptr), "reply", "x-reply") == -1
		       ? gw_stage_fail(stage_ptr, "no room")
		       : GW_FILTER_CONTINUE;
}

static const struct gw_filter_type after_type = {
	.name = "after",
	.trusted = 1,
	.compile = compile_nothing,
	.request_head = after_request_head,
};

/* "counter": per-kernel state, a count of the requests it saw. Its
 * create hook takes the previous state over as it is. */
struct counter_state {
	int requests;
	int handed_over;
};

static int counter_creates, counter_frees;

static void *counter_create(const void *compiled_ptr, void *previous_ptr)
{
	struct counter_state *state_ptr = previous_ptr;

	(void)compiled_ptr;
	if (state_ptr) {
		state_ptr->handed_over++;
		return state_ptr;
	}
	counter_creates++;
	return calloc(1, sizeof(struct counter_state));
}

static void counter_free(void *state_ptr)
{
	counter_frees++;
	free(state_ptr);
}

static enum gw_filter_result counter_request_head(struct gw_stage *stage_ptr)
{
	struct counter_state *state_ptr = gw_stage_kernel_state(stage_ptr);

	state_ptr->requests++;
	return GW_FILTER_CONTINUE;
}

static const struct gw_filter_type counter_type = {
	.name = "counter",
	.trusted = 1,
	.compile = compile_nothing,
	.request_head = counter_request_head,
	.kernel_state_create = counter_create,
	.kernel_state_free = counter_free,
};

/* "mark": on the way back, marks the response (x-marked: 1). */
static enum gw_filter_result mark_response_head(struct gw_stage *stage_ptr)
{
	return gw_exchange_set(gw_stage_exchange(stage_ptr), GW_SIDE_RESPONSE, "x-marked", "1") == -1
		       ? gw_stage_fail(stage_ptr, "no room")
		       : GW_FILTER_CONTINUE;
}

static const struct gw_filter_type mark_type = {
	.name = "mark",
	.trusted = 1,
	.compile = compile_nothing,
	.response_head = mark_response_head,
};

static int register_types(void **state)
{
	const struct gw_filter_type *types[] = {&consumer_type, &forward_type, &bodycheck_type, &ask_type,
						&after_type,	&counter_type, &mark_type};

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (gw_filter_type_register(types[i]) == -1)
			return -1;
	return 0;
}

/* ---- a request through a route of a loaded snapshot ---- */

static struct gw_config *load(const char *json)
{
	struct gw_diag *diag_ptr = gw_diag_create();
	struct gw_config *config_ptr = gw_config_load_buffer(json, strlen(json), diag_ptr);

	if (!config_ptr)
		gw_config_print_errors(stderr, "test.json", diag_ptr, NULL);
	gw_diag_destroy(diag_ptr);
	assert_non_null(config_ptr);
	return config_ptr;
}

#define CONFIG_HEAD "{\"listeners\":[{\"name\":\"l\",\"port\":0}],\"routes\":["
#define CONFIG_TAIL "]}"
#define ROUTE(name, filters)                                                                                           \
	"{\"name\":\"" name "\",\"match\":{\"path\":{\"prefix\":\"/" name "\"}},\"filters\":[" filters "],\"action\":" \
	"{\"respond\":{\"status\":200}}}"
#define FILTER(type) "{\"type\":\"" type "\"}"

struct request {
	char head[512];
	struct gw_request req;
	struct gw_exchange ex;
};

static void begin(struct request *r, const struct gw_config *config_ptr, const char *route, const char *fields)
{
	struct gw_http_limits limits;
	size_t len;
	const struct gw_route *route_ptr = NULL;

	for (int i = 0; i < config_ptr->route_count; i++)
		if (strcmp(config_ptr->routes_ptr[i].name, route) == 0)
			route_ptr = &config_ptr->routes_ptr[i];
	assert_non_null(route_ptr);
	len = (size_t)snprintf(r->head, sizeof(r->head), "POST /%s HTTP/1.1\r\nHost: h\r\n%s\r\n", route, fields);
	gw_http_limits_default(&limits);
	gw_http_request_init(&r->req);
	assert_int_equal(gw_http_parse_request(&r->req, r->head, len, &limits), (int)len);
	gw_exchange_begin(&r->ex, &r->req, r->head, r->req.target, "127.0.0.1", route_ptr);
}

/* The value the request side's edits give `name`, or "" when none. */
static const char *forwarded(const struct gw_exchange *ex_ptr, const char *name)
{
	static char out[64];
	const char *value;
	size_t len;

	out[0] = '\0';
	if (gw_exchange_request_header(ex_ptr, name, &value, &len) == 1)
		snprintf(out, sizeof(out), "%.*s", (int)len, value);
	return out;
}

static void reset_counts(void)
{
	untrusted_begins = untrusted_ends = untrusted_depth = 0;
	seen_count = 0;
	wants_body_calls = 0;
	after_runs = 0;
	forward_saw[0] = '\0';
}

/* ---- handlers that return at once ---- */

static void test_sync_continue_values_and_response(void **state)
{
	struct gw_config *config_ptr =
		load(CONFIG_HEAD ROUTE("r", FILTER("consumer") "," FILTER("forward")) CONFIG_TAIL);
	struct request r;

	(void)state;
	reset_counts();
	begin(&r, config_ptr, "r", "Content-Length: 0\r\n");
	/* Plain C: no process, no thread. */
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_HEAD), GW_PIPELINE_DONE);
	assert_int_equal(r.ex.verdict, GW_VERDICT_CONTINUE);
	assert_int_equal(r.ex.stages_passed, 2);
	assert_string_equal(forward_saw, "alice");
	assert_string_equal(forwarded(&r.ex, "x-consumer"), "alice");
	/* The user's type ran inside the untrusted mark, the trusted one not. */
	assert_int_equal(untrusted_begins, 1);
	assert_int_equal(untrusted_ends, 1);
	assert_int_equal(seen_count, 1);
	assert_int_equal(seen_untrusted[0], 1);

	/* The body is asked for by declaration: consumer has wants_body only. */
	assert_true(gw_pipeline_wants_body(&r.ex));
	assert_int_equal(wants_body_calls, 1);
	assert_int_equal(untrusted_begins, 2);
	assert_int_equal(untrusted_ends, 2);
	assert_true(gw_pipeline_config_wants_bodies(config_ptr));

	gw_exchange_request_done(&r.ex);
	r.ex.response_status = 200;
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_RESPONSE_HEAD), GW_PIPELINE_DONE);
	assert_int_equal(r.ex.verdict, GW_VERDICT_CONTINUE);
	{
		const char *value;
		size_t len;

		assert_int_equal(gw_exchange_response_header(&r.ex, "x-seen", &value, &len), 1);
	}
	/* The value is still there for the response head and the log. */
	{
		size_t len;

		assert_string_equal(gw_exchange_value(&r.ex, "consumer", &len), "alice");
		assert_null(gw_exchange_value(&r.ex, "country", &len));
	}
	gw_config_free(config_ptr);
}

static void test_sync_respond_stops_the_walk(void **state)
{
	struct gw_config *config_ptr =
		load(CONFIG_HEAD ROUTE("r", FILTER("consumer") "," FILTER("forward")) CONFIG_TAIL);
	struct request r;

	(void)state;
	reset_counts();
	begin(&r, config_ptr, "r", "x-deny: 1\r\n");
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_HEAD), GW_PIPELINE_DONE);
	assert_int_equal(r.ex.verdict, GW_VERDICT_RESPOND);
	assert_int_equal(r.ex.status, 403);
	assert_int_equal(r.ex.stages_passed, 0);
	assert_string_equal(r.ex.answered_by, "consumer");
	assert_string_equal(forward_saw, ""); /* the later stage never ran */
	assert_false(gw_pipeline_wants_body(&r.ex));
	gw_config_free(config_ptr);
}

static void test_sync_retry_and_mistakes(void **state)
{
	struct gw_config *config_ptr =
		load(CONFIG_HEAD ROUTE("r", FILTER("consumer") "," FILTER("forward")) CONFIG_TAIL);
	struct request r;

	(void)state;
	/* RETRY on the response head: the verdict the connection acts on. */
	begin(&r, config_ptr, "r", "x-retry: 1\r\n");
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_HEAD), GW_PIPELINE_DONE);
	gw_exchange_request_done(&r.ex);
	r.ex.response_status = 503;
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_RESPONSE_HEAD), GW_PIPELINE_DONE);
	assert_int_equal(r.ex.verdict, GW_VERDICT_RETRY);
	/* The next attempt keeps the request's values and edits. */
	gw_exchange_next_attempt(&r.ex);
	assert_string_equal(forwarded(&r.ex, "x-consumer"), "alice");

	/* An ask the connection turns down (gw_conn_next.c): the answer goes
	 * on through the stages after the one that asked. */
	{
		struct gw_config *marked_ptr =
			load(CONFIG_HEAD ROUTE("m", FILTER("mark") "," FILTER("forward")) CONFIG_TAIL);
		const char *value;
		size_t len;

		begin(&r, marked_ptr, "m", "x-retry: 1\r\n");
		assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_HEAD), GW_PIPELINE_DONE);
		gw_exchange_request_done(&r.ex);
		r.ex.response_status = 503;
		assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_RESPONSE_HEAD), GW_PIPELINE_DONE);
		assert_int_equal(r.ex.verdict, GW_VERDICT_RETRY);
		assert_int_equal(gw_exchange_response_header(&r.ex, "x-marked", &value, &len), 0);
		assert_int_equal(gw_pipeline_resume(&r.ex), GW_PIPELINE_DONE);
		assert_int_equal(r.ex.verdict, GW_VERDICT_CONTINUE);
		assert_int_equal(gw_exchange_response_header(&r.ex, "x-marked", &value, &len), 1);
		gw_config_free(marked_ptr);
	}

	/* RETRY before the response is a mistake: 500. */
	begin(&r, config_ptr, "r", "x-retry-early: 1\r\n");
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_HEAD), GW_PIPELINE_DONE);
	assert_int_equal(r.ex.verdict, GW_VERDICT_RESPOND);
	assert_int_equal(r.ex.status, 500);
	assert_string_equal(r.ex.answered_by, "forward");

	/* RESPOND without an answer: 500. */
	begin(&r, config_ptr, "r", "x-empty: 1\r\n");
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_HEAD), GW_PIPELINE_DONE);
	gw_exchange_request_done(&r.ex);
	r.ex.response_status = 200;
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_RESPONSE_HEAD), GW_PIPELINE_DONE);
	assert_int_equal(r.ex.verdict, GW_VERDICT_RESPOND);
	assert_int_equal(r.ex.status, 500);
	gw_config_free(config_ptr);
}

static void test_body_phase_without_a_coroutine(void **state)
{
	struct gw_config *config_ptr =
		load(CONFIG_HEAD ROUTE("b", FILTER("forward") "," FILTER("bodycheck")) CONFIG_TAIL);
	struct request r;

	(void)state;
	begin(&r, config_ptr, "b", "Content-Length: 2\r\n");
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_HEAD), GW_PIPELINE_DONE);
	/* A request_body handler is the declaration: no wants_body needed. */
	assert_true(gw_pipeline_wants_body(&r.ex));
	r.ex.request_body = "ok";
	r.ex.request_body_len = 2;
	r.ex.body_kept = 1;
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_BODY), GW_PIPELINE_DONE);
	assert_int_equal(r.ex.verdict, GW_VERDICT_CONTINUE);
	assert_int_equal(r.ex.stages_passed, 2);

	begin(&r, config_ptr, "b", "Content-Length: 2\r\n");
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_HEAD), GW_PIPELINE_DONE);
	r.ex.request_body = "no";
	r.ex.request_body_len = 2;
	r.ex.body_kept = 1;
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_BODY), GW_PIPELINE_DONE);
	assert_int_equal(r.ex.status, 422);
	/* The answer goes back through the stages before the one that gave it. */
	assert_int_equal(r.ex.stages_passed, 1);
	assert_string_equal(r.ex.answered_by, "bodycheck");
	gw_config_free(config_ptr);
}

/* ---- a waiting stage, in a process ---- */

/* The connection's side: the call sites of gw_conn.c. */
static void conn_thread(struct vk_thread *that)
{
	struct gw_exchange *ex_ptr = vk_thread_arg(that);
	struct {
		char unused;
	} * self;

	vk_begin();
	if (gw_pipeline_run(ex_ptr, GW_PHASE_REQUEST_HEAD) == GW_PIPELINE_WAIT)
		vk_call(gw_pipeline_wait, ex_ptr);
	(void)self;
	vk_end();
}

static int listen_loopback(struct sockaddr_in *addr_ptr)
{
	socklen_t len = sizeof(*addr_ptr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(addr_ptr, 0, sizeof(*addr_ptr));
	addr_ptr->sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &addr_ptr->sin_addr);
	if (bind(fd, (struct sockaddr *)addr_ptr, sizeof(*addr_ptr)) == -1 || listen(fd, 8) == -1 ||
	    getsockname(fd, (struct sockaddr *)addr_ptr, &len) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The loopback server: accepts, then reads what comes; it answers only
 * when the test says so. */
struct server {
	int listen_fd;
	int conn_fd;
	char got[32];
	size_t got_len;
};

static void server_step(void *ctx_ptr)
{
	struct server *s_ptr = ctx_ptr;
	ssize_t n;

	if (s_ptr->conn_fd < 0) {
		s_ptr->conn_fd = accept4(s_ptr->listen_fd, NULL, NULL, SOCK_NONBLOCK);
		return;
	}
	n = read(s_ptr->conn_fd, s_ptr->got + s_ptr->got_len, sizeof(s_ptr->got) - 1 - s_ptr->got_len);
	if (n > 0)
		s_ptr->got_len += (size_t)n;
	s_ptr->got[s_ptr->got_len] = '\0';
}

static void test_waiting_stage_round_trip_lock_step(void **state)
{
	struct vk_test_proc *tp = *state;
	struct gw_config *config_ptr = load(CONFIG_HEAD ROUTE("w", FILTER("ask") "," FILTER("after")) CONFIG_TAIL);
	struct server server = {.conn_fd = -1};
	struct request *r_ptr = calloc(1, sizeof(*r_ptr));
	enum vk_proc_run run;
	char end;

	reset_counts();
	server.listen_fd = listen_loopback(&ask_addr);
	assert_true(server.listen_fd >= 0);
	begin(r_ptr, config_ptr, "w", "");
	assert_non_null(vk_test_start(tp, conn_thread, &r_ptr->ex, NULL));
	/* Until the server has the question, the process waits on it. */
	run = vk_proc_local_run(tp->pl);
	for (int round = 0; round < 200 && run == VK_PROC_ALIVE && strcmp(server.got, "ping\n") != 0; round++) {
		server_step(&server);
		vk_test_poll_once(tp, 10);
		run = vk_proc_local_run(tp->pl);
	}
	assert_string_equal(server.got, "ping\n");
	/* Parked, not ended: the answer is held, the later stage waits. */
	assert_int_equal(run, VK_PROC_ALIVE);
	vk_test_blocks(tp);
	assert_true(vk_test_waits_on(tp, vk_socket_rx_fd(ask_socket_ptr), VK_EV_IN));
	assert_true(tp->timer_ns != 0); /* its deadline */
	assert_int_equal(after_runs, 0);
	assert_int_equal(r_ptr->ex.verdict, GW_VERDICT_CONTINUE);
	/* The user's handler and its thread both ran inside the mark, which
	 * lasts across the wait. */
	assert_int_equal(untrusted_depth, 1);
	assert_int_equal(seen_count, 2);
	assert_int_equal(seen_untrusted[0], 1);
	assert_int_equal(seen_untrusted[1], 1);

	assert_int_equal(write(server.conn_fd, "pong\n", 5), 5);
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 50), VK_PROC_ENDED);
	assert_int_equal(r_ptr->ex.verdict, GW_VERDICT_CONTINUE);
	assert_int_equal(r_ptr->ex.stages_passed, 2);
	assert_int_equal(after_runs, 1);
	assert_string_equal(forwarded(&r_ptr->ex, "x-reply"), "pong");
	assert_int_equal(untrusted_begins, 2);
	assert_int_equal(untrusted_ends, 2);
	assert_int_equal(untrusted_depth, 0);
	/* The stage's socket was closed when its thread ended. */
	assert_true(vk_socket_is_closed(ask_socket_ptr));
	assert_null(r_ptr->ex.stages[0].socket_ptr);
	assert_int_equal(read(server.conn_fd, &end, 1), 0);

	close(server.conn_fd);
	close(server.listen_fd);
	free(r_ptr);
	gw_config_free(config_ptr);
}

static void test_waiting_thread_raise_answers_500(void **state)
{
	struct vk_test_proc *tp = *state;
	struct gw_config *config_ptr = load(CONFIG_HEAD ROUTE("w", FILTER("ask") "," FILTER("after")) CONFIG_TAIL);
	struct request *r_ptr = calloc(1, sizeof(*r_ptr));

	reset_counts();
	begin(r_ptr, config_ptr, "w", "x-fail: 1\r\n");
	assert_non_null(vk_test_start(tp, conn_thread, &r_ptr->ex, NULL));
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 10), VK_PROC_ENDED);
	assert_int_equal(r_ptr->ex.verdict, GW_VERDICT_RESPOND);
	assert_int_equal(r_ptr->ex.status, 500);
	assert_string_equal(r_ptr->ex.error_message, "filter failed");
	assert_string_equal(r_ptr->ex.answered_by, "ask");
	assert_int_equal(after_runs, 0);
	assert_int_equal(untrusted_depth, 0);
	free(r_ptr);
	gw_config_free(config_ptr);
}

/* ---- per-kernel state ---- */

static void test_kernel_state_outlives_requests_and_is_handed_over(void **state)
{
	struct gw_config *first_ptr =
		load(CONFIG_HEAD ROUTE("a", FILTER("counter")) "," ROUTE("gone", FILTER("counter")) CONFIG_TAIL);
	struct gw_config *second_ptr = load(CONFIG_HEAD ROUTE("a", FILTER("forward") "," FILTER("counter")) "," ROUTE(
		"new", FILTER("counter") "," FILTER("counter")) CONFIG_TAIL);
	struct gw_filter_states *old_ptr, *new_ptr;
	struct counter_state *a_ptr;
	struct request r;

	(void)state;
	counter_creates = counter_frees = 0;
	/* At kernel start, once: not on the request path. */
	old_ptr = gw_filter_states_create(first_ptr, NULL);
	assert_non_null(old_ptr);
	assert_int_equal(counter_creates, 2);
	/* Two requests, as two connections would make them. */
	for (int i = 0; i < 2; i++) {
		begin(&r, first_ptr, "a", "");
		r.ex.filter_states_ptr = old_ptr;
		assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_HEAD), GW_PIPELINE_DONE);
	}
	a_ptr = gw_stage_kernel_state(&r.ex.stages[0]);
	assert_non_null(a_ptr);
	assert_int_equal(a_ptr->requests, 2);
	assert_int_equal(counter_creates, 2);

	/* A new snapshot: route "a" keeps its counter (now its second
	 * filter, still the first counter), "new" gets two fresh ones. */
	new_ptr = gw_filter_states_create(second_ptr, old_ptr);
	assert_non_null(new_ptr);
	assert_int_equal(counter_creates, 4);
	begin(&r, second_ptr, "a", "");
	r.ex.filter_states_ptr = new_ptr;
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_HEAD), GW_PIPELINE_DONE);
	assert_ptr_equal(gw_stage_kernel_state(&r.ex.stages[1]), a_ptr);
	assert_null(gw_stage_kernel_state(&r.ex.stages[0])); /* forward has none */
	assert_int_equal(a_ptr->requests, 3);
	assert_int_equal(a_ptr->handed_over, 1);
	begin(&r, second_ptr, "new", "");
	r.ex.filter_states_ptr = new_ptr;
	assert_int_equal(gw_pipeline_run(&r.ex, GW_PHASE_REQUEST_HEAD), GW_PIPELINE_DONE);
	assert_ptr_not_equal(gw_stage_kernel_state(&r.ex.stages[0]), gw_stage_kernel_state(&r.ex.stages[1]));
	assert_int_equal(((struct counter_state *)gw_stage_kernel_state(&r.ex.stages[0]))->requests, 1);

	/* The old table goes with its last connection: it frees only the
	 * state nobody took over ("gone"'s). */
	gw_filter_states_destroy(old_ptr);
	assert_int_equal(counter_frees, 1);
	assert_int_equal(a_ptr->requests, 3);
	gw_filter_states_destroy(new_ptr);
	assert_int_equal(counter_frees, 4);
	gw_config_free(first_ptr);
	gw_config_free(second_ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_continue_values_and_response),
		cmocka_unit_test(test_sync_respond_stops_the_walk),
		cmocka_unit_test(test_sync_retry_and_mistakes),
		cmocka_unit_test(test_body_phase_without_a_coroutine),
		cmocka_unit_test_setup_teardown(test_waiting_stage_round_trip_lock_step, vk_test_setup,
						vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_waiting_thread_raise_answers_500, vk_test_setup, vk_test_teardown),
		cmocka_unit_test(test_kernel_state_outlives_requests_and_is_handed_over),
	};

	return cmocka_run_group_tests(tests, register_types, NULL);
}
