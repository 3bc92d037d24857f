/* vk_future through vk_request / vk_listen / vk_reply: pointers passed
 * between two threads of one process, and requests queued in order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vk_coro.h"
#include "vk_future_s.h"
#include "vk_test_proc.h"

#define MAX_REQUESTS 8

/* What the server saw and answered, in test memory so it outlives the
 * threads. */
struct exchange {
	int expected; /* requests the server serves before it ends */
	int served;
	void *msg_seen[MAX_REQUESTS];
	int order[MAX_REQUESTS];
	int answers[MAX_REQUESTS];
	struct vk_thread *from_seen[MAX_REQUESTS];
};

struct server_self {
	struct vk_future *future;
	int i;
};

/* Answers each request with a pointer to msg * 10, kept in the exchange. */
static void server(struct vk_thread *that)
{
	struct exchange *ex = vk_thread_arg(that);
	struct server_self *self;

	vk_begin();
	for (self->i = 0; self->i < ex->expected; self->i++) {
		vk_listen(self->future);
		ex->msg_seen[self->i] = vk_future_msg(self->future);
		ex->from_seen[self->i] = vk_future_from(self->future);
		ex->order[self->i] = *(int *)vk_future_msg(self->future);
		ex->answers[self->i] = ex->order[self->i] * 10;
		vk_reply(self->future, &ex->answers[self->i]);
		ex->served++;
	}
	vk_end();
}

struct client_arg {
	struct vk_thread *server;
	int msg;
	/* results */
	void *msg_sent; /* where the message lived: the client's self */
	void *reply;
	int reply_value;
	int done;
};

struct client_self {
	struct vk_future future;
	int msg;
};

static void client(struct vk_thread *that)
{
	struct client_arg *arg = vk_thread_arg(that);
	struct client_self *self;

	vk_begin();
	self->msg = arg->msg;
	arg->msg_sent = &self->msg;
	vk_request(arg->server, &self->future, &self->msg);
	arg->reply = vk_future_reply(&self->future);
	arg->reply_value = *(int *)arg->reply;
	arg->done = 1;
	vk_end();
}

static void test_request_passes_pointers_both_ways(void **state)
{
	struct vk_test_proc *tp = *state;
	struct exchange ex = {.expected = 1};
	struct client_arg arg = {.msg = 7};

	arg.server = vk_test_start(tp, server, &ex, NULL);
	assert_non_null(arg.server);
	assert_non_null(vk_test_start(tp, client, &arg, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(ex.served, 1);
	assert_int_equal(arg.done, 1);
	/* the very pointer sent arrives, and the very pointer replied returns */
	assert_ptr_equal(ex.msg_seen[0], arg.msg_sent);
	assert_ptr_equal(arg.reply, &ex.answers[0]);
	assert_int_equal(ex.order[0], 7);
	assert_int_equal(arg.reply_value, 70);
}

/* The client sends first and waits; the server has not run yet. */
static void test_request_before_server_listens(void **state)
{
	struct vk_test_proc *tp = *state;
	struct exchange ex = {.expected = 1};
	struct client_arg arg = {.msg = 3};
	struct vk_thread *client_ptr;

	client_ptr = vk_thread_new(tp->pl, client, &arg, NULL);
	assert_non_null(client_ptr);
	arg.server = vk_thread_new(tp->pl, server, &ex, NULL);
	assert_non_null(arg.server);
	vk_proc_local_enqueue(tp->pl, client_ptr);
	vk_proc_local_enqueue(tp->pl, arg.server);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(arg.reply_value, 30);
	assert_ptr_equal(ex.from_seen[0], client_ptr);
}

static void test_requests_queue_in_order(void **state)
{
	struct vk_test_proc *tp = *state;
	struct exchange ex = {.expected = 3};
	struct client_arg args[3] = {{.msg = 1}, {.msg = 2}, {.msg = 3}};
	struct vk_thread *server_ptr;
	int i;

	server_ptr = vk_thread_new(tp->pl, server, &ex, NULL);
	assert_non_null(server_ptr);
	/* all three requests are sent before the server first listens */
	for (i = 0; i < 3; i++) {
		args[i].server = server_ptr;
		assert_non_null(vk_test_start(tp, client, &args[i], NULL));
	}
	vk_proc_local_enqueue(tp->pl, server_ptr);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(ex.served, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(ex.order[i], i + 1);
		assert_ptr_equal(ex.msg_seen[i], args[i].msg_sent);
		assert_int_equal(args[i].done, 1);
		assert_int_equal(args[i].reply_value, (i + 1) * 10);
	}
}

/* The server listens first; requests arrive while it waits. */
static void test_requests_to_waiting_server_queue_in_order(void **state)
{
	struct vk_test_proc *tp = *state;
	struct exchange ex = {.expected = 3};
	struct client_arg args[3] = {{.msg = 4}, {.msg = 5}, {.msg = 6}};
	struct vk_thread *server_ptr;
	int i;

	server_ptr = vk_test_start(tp, server, &ex, NULL);
	assert_non_null(server_ptr);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_thread_status(server_ptr), VK_THREAD_WAITING);
	/* nothing outside the process can wake a listener */
	assert_int_equal(vk_test_blocks(tp), 0);
	for (i = 0; i < 3; i++) {
		args[i].server = server_ptr;
		assert_non_null(vk_test_start(tp, client, &args[i], NULL));
	}
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(ex.served, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(ex.order[i], i + 4);
		assert_int_equal(args[i].reply_value, (i + 4) * 10);
	}
}

/* A server that answers later: the requester stays waiting until then. */
struct slow_self {
	struct vk_future *future;
};

static void slow_server(struct vk_thread *that)
{
	struct exchange *ex = vk_thread_arg(that);
	struct slow_self *self;

	vk_begin();
	vk_listen(self->future);
	ex->order[0] = *(int *)vk_future_msg(self->future);
	vk_sleep(10);
	ex->answers[0] = ex->order[0] + 1;
	vk_reply(self->future, &ex->answers[0]);
	ex->served++;
	vk_end();
}

static void test_requester_waits_until_reply(void **state)
{
	struct vk_test_proc *tp = *state;
	struct exchange ex = {.expected = 1};
	struct client_arg arg = {.msg = 41};

	arg.server = vk_test_start(tp, slow_server, &ex, NULL);
	assert_non_null(arg.server);
	assert_non_null(vk_test_start(tp, client, &arg, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(ex.order[0], 41);
	assert_int_equal(arg.done, 0);
	assert_int_equal(vk_test_blocks(tp), 1);
	vk_proc_local_expire(tp->pl, tp->timer_ns);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(arg.done, 1);
	assert_int_equal(arg.reply_value, 42);
}

/* The send/receive/resolve calls under the macros, on their own. */
static void test_future_calls_queue_fifo(void **state)
{
	struct vk_test_proc *tp = *state;
	struct vk_thread *to = vk_thread_new(tp->pl, server, NULL, NULL);
	struct vk_thread *from = vk_thread_new(tp->pl, server, NULL, NULL);
	struct vk_future futures[3];
	int msgs[3] = {10, 20, 30};
	int reply = 99;
	int i;

	assert_non_null(to);
	assert_non_null(from);
	assert_null(vk_future_receive(to));
	for (i = 0; i < 3; i++)
		vk_future_send(&futures[i], from, to, &msgs[i]);
	for (i = 0; i < 3; i++) {
		struct vk_future *f = vk_future_receive(to);

		assert_ptr_equal(f, &futures[i]);
		assert_ptr_equal(vk_future_msg(f), &msgs[i]);
		assert_ptr_equal(vk_future_from(f), from);
		assert_false(vk_future_done(f));
		vk_future_resolve(f, &reply);
		assert_true(vk_future_done(f));
		assert_ptr_equal(vk_future_reply(f), &reply);
	}
	assert_null(vk_future_receive(to));
}

#define FUTURE_TEST(fn) cmocka_unit_test_setup_teardown(fn, vk_test_setup, vk_test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FUTURE_TEST(test_request_passes_pointers_both_ways),
		FUTURE_TEST(test_request_before_server_listens),
		FUTURE_TEST(test_requests_queue_in_order),
		FUTURE_TEST(test_requests_to_waiting_server_queue_in_order),
		FUTURE_TEST(test_requester_waits_until_reply),
		FUTURE_TEST(test_future_calls_queue_fifo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
