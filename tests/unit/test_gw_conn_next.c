/* Tests for gateway/gw_conn_next.c: the one decision on another attempt,
 * for each cause an attempt ends with, and for a filter's ask; with a
 * retry policy, by what failed, whether the request went out, and what
 * may be repeated. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw_conn_self.h"
#include "gw_exchange.h"

/* A GET without a body on its first attempt, on a kept connection,
 * nothing of the response come: the most favourable inputs. */
static struct gw_conn_next_inputs get_on_kept(enum gw_conn_next_cause cause)
{
	return (struct gw_conn_next_inputs){
		.cause = cause,
		.idempotent = 1,
		.replayable = 1,
		.reused = 1,
	};
}

static enum gw_conn_next_action decide(struct gw_conn_next_inputs in)
{
	return gw_conn_next_decide(&in).action;
}

static void test_each_failure_cause(void **state)
{
	(void)state;
	/* Only a kept connection closed under the request goes again by
	 * itself, on a fresh connection to the same endpoint. */
	assert_int_equal(decide(get_on_kept(GW_NEXT_CAUSE_KEPT_CLOSED)), GW_NEXT_FRESH_CONNECTION);
	/* Every other failure is answered (a filter may then ask). */
	static const enum gw_conn_next_cause answered[] = {
		GW_NEXT_CAUSE_NONE,
		GW_NEXT_CAUSE_REFUSED,
		GW_NEXT_CAUSE_QUEUE,
		GW_NEXT_CAUSE_CONNECT_FAILED,
		GW_NEXT_CAUSE_CONNECT_TIMEOUT,
		GW_NEXT_CAUSE_SEND_FAILED,
		GW_NEXT_CAUSE_RESPONSE_TIMEOUT,
		GW_NEXT_CAUSE_RESPONSE_INVALID,
		GW_NEXT_CAUSE_CLIENT,
		GW_NEXT_CAUSE_INTERNAL,
	};
	for (size_t i = 0; i < sizeof(answered) / sizeof(answered[0]); i++)
		assert_int_equal(decide(get_on_kept(answered[i])), GW_NEXT_ANSWER);
}

static void test_kept_closed_goes_again_only_when_safe(void **state)
{
	struct gw_conn_next_inputs in;

	(void)state;
	in = get_on_kept(GW_NEXT_CAUSE_KEPT_CLOSED);
	in.idempotent = 0; /* a POST may have been acted on */
	assert_int_equal(decide(in), GW_NEXT_ANSWER);
	in = get_on_kept(GW_NEXT_CAUSE_KEPT_CLOSED);
	in.replayable = 0; /* its body streamed: gone */
	assert_int_equal(decide(in), GW_NEXT_ANSWER);
	in = get_on_kept(GW_NEXT_CAUSE_KEPT_CLOSED);
	in.reused = 0; /* a new connection that failed is the upstream's answer */
	assert_int_equal(decide(in), GW_NEXT_ANSWER);
	in = get_on_kept(GW_NEXT_CAUSE_KEPT_CLOSED);
	in.fresh_retry_used = 1; /* once */
	assert_int_equal(decide(in), GW_NEXT_ANSWER);
	in = get_on_kept(GW_NEXT_CAUSE_KEPT_CLOSED);
	in.response_started = 1;
	assert_int_equal(decide(in), GW_NEXT_ANSWER);
}

/* A response filter asks after the attempt ended with `how`. */
static struct gw_conn_next_inputs filter_asks(enum gw_conn_next_cause how, int status)
{
	struct gw_conn_next_inputs in = get_on_kept(GW_NEXT_CAUSE_FILTER_ASKS);

	in.attempt_cause = how;
	in.response_status = status;
	return in;
}

static void test_filter_ask(void **state)
{
	struct gw_conn_next_inputs in;

	(void)state;
	/* The upstream's answer, or its failure to answer: picked afresh. */
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_NONE, 503)), GW_NEXT_PICK_AGAIN);
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_CONNECT_FAILED, 502)), GW_NEXT_PICK_AGAIN);
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_CONNECT_TIMEOUT, 504)), GW_NEXT_PICK_AGAIN);
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_RESPONSE_TIMEOUT, 504)), GW_NEXT_PICK_AGAIN);
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_RESPONSE_INVALID, 502)), GW_NEXT_PICK_AGAIN);
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_SEND_FAILED, 502)), GW_NEXT_PICK_AGAIN);
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_QUEUE, 503)), GW_NEXT_PICK_AGAIN);
	/* Not a refusal before any endpoint was tried, nor the client's or
	 * the gateway's own failure. */
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_REFUSED, 503)), GW_NEXT_ANSWER);
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_CLIENT, 400)), GW_NEXT_ANSWER);
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_INTERNAL, 500)), GW_NEXT_ANSWER);
	/* Not what cannot be sent again, nor a tunnel, nor past the bound. */
	in = filter_asks(GW_NEXT_CAUSE_NONE, 503);
	in.replayable = 0;
	assert_int_equal(decide(in), GW_NEXT_ANSWER);
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_NONE, 101)), GW_NEXT_ANSWER);
	in = filter_asks(GW_NEXT_CAUSE_NONE, 503);
	in.attempts = GW_EXCHANGE_ATTEMPTS_MAX - 2;
	assert_int_equal(decide(in), GW_NEXT_PICK_AGAIN);
	in.attempts = GW_EXCHANGE_ATTEMPTS_MAX - 1;
	assert_int_equal(decide(in), GW_NEXT_ANSWER);
	in = filter_asks(GW_NEXT_CAUSE_NONE, 503);
	in.response_sent = 1;
	assert_int_equal(decide(in), GW_NEXT_ANSWER);
	/* A POST the filter asked to keep the body of may go again: the
	 * filter chose to (all_methods); only replayability binds here. */
	in = filter_asks(GW_NEXT_CAUSE_NONE, 503);
	in.idempotent = 0;
	assert_int_equal(decide(in), GW_NEXT_PICK_AGAIN);
}

/* A failure with the retry filter's default policy (3 attempts, every
 * kind of failure), on a first attempt of a GET that was sent. */
static struct gw_conn_next_inputs with_policy(enum gw_conn_next_cause cause)
{
	struct gw_conn_next_inputs in = get_on_kept(cause);

	in.safe = 1;
	in.sent = 1;
	in.reused = 0;
	in.retry_on = GW_RETRY_ON_CONNECT_FAILURE | GW_RETRY_ON_RESET | GW_RETRY_ON_TIMEOUT;
	in.attempts_max = 3;
	return in;
}

static void test_policy_retries_each_kind_it_names(void **state)
{
	static const struct {
		enum gw_conn_next_cause cause;
		unsigned kind;
	} kinds[] = {
		{GW_NEXT_CAUSE_QUEUE, GW_RETRY_ON_CONNECT_FAILURE},
		{GW_NEXT_CAUSE_CONNECT_FAILED, GW_RETRY_ON_CONNECT_FAILURE},
		{GW_NEXT_CAUSE_CONNECT_TIMEOUT, GW_RETRY_ON_CONNECT_FAILURE},
		{GW_NEXT_CAUSE_KEPT_CLOSED, GW_RETRY_ON_RESET},
		{GW_NEXT_CAUSE_SEND_FAILED, GW_RETRY_ON_RESET},
		{GW_NEXT_CAUSE_RESPONSE_INVALID, GW_RETRY_ON_RESET},
		{GW_NEXT_CAUSE_RESPONSE_TIMEOUT, GW_RETRY_ON_TIMEOUT},
		{GW_NEXT_CAUSE_TRY_TIMEOUT, GW_RETRY_ON_TIMEOUT},
	};
	struct gw_conn_next_inputs in;

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		in = with_policy(kinds[i].cause);
		assert_int_equal(decide(in), GW_NEXT_PICK_AGAIN);
		in.retry_on &= ~kinds[i].kind; /* not a kind the policy names */
		assert_int_equal(decide(in), GW_NEXT_ANSWER);
		in = with_policy(kinds[i].cause);
		in.attempts = 2; /* the third attempt was the last */
		assert_int_equal(decide(in), GW_NEXT_ANSWER);
		in = with_policy(kinds[i].cause);
		in.attempts_max = 1; /* no policy */
		in.retry_on = 0;
		assert_int_equal(decide(in), GW_NEXT_ANSWER);
	}
	/* Never: the deadline, a refusal before any endpoint, the client's or
	 * the gateway's own failure. */
	assert_int_equal(decide(with_policy(GW_NEXT_CAUSE_DEADLINE)), GW_NEXT_ANSWER);
	assert_int_equal(decide(with_policy(GW_NEXT_CAUSE_REFUSED)), GW_NEXT_ANSWER);
	assert_int_equal(decide(with_policy(GW_NEXT_CAUSE_CLIENT)), GW_NEXT_ANSWER);
	assert_int_equal(decide(with_policy(GW_NEXT_CAUSE_INTERNAL)), GW_NEXT_ANSWER);
}

static void test_unsafe_requests_retried_only_unsent(void **state)
{
	struct gw_conn_next_inputs in;

	(void)state;
	/* A POST that went out and then failed may have been acted on. */
	in = with_policy(GW_NEXT_CAUSE_RESPONSE_INVALID);
	in.idempotent = 0;
	in.safe = 0;
	assert_int_equal(decide(in), GW_NEXT_ANSWER);
	in.cause = GW_NEXT_CAUSE_TRY_TIMEOUT;
	assert_int_equal(decide(in), GW_NEXT_ANSWER);
	/* With an Idempotency-Key (or all_methods) it is safe: again. */
	in.safe = 1;
	assert_int_equal(decide(in), GW_NEXT_PICK_AGAIN);
	/* One never sent (the connect failed) always may go, even with a
	 * body that streamed (none of it went). */
	in = with_policy(GW_NEXT_CAUSE_CONNECT_FAILED);
	in.idempotent = 0;
	in.safe = 0;
	in.sent = 0;
	in.replayable = 0;
	assert_int_equal(decide(in), GW_NEXT_PICK_AGAIN);
	/* A body that streamed after the request went out is gone. */
	in = with_policy(GW_NEXT_CAUSE_SEND_FAILED);
	in.replayable = 0;
	assert_int_equal(decide(in), GW_NEXT_ANSWER);
	/* A kept connection the upstream closed: the same endpoint once on a
	 * fresh connection first, then another endpoint by the policy. */
	in = with_policy(GW_NEXT_CAUSE_KEPT_CLOSED);
	in.reused = 1;
	assert_int_equal(decide(in), GW_NEXT_FRESH_CONNECTION);
	in.fresh_retry_used = 1;
	assert_int_equal(decide(in), GW_NEXT_PICK_AGAIN);
}

static void test_filter_ask_after_the_deadline(void **state)
{
	(void)state;
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_DEADLINE, 504)), GW_NEXT_ANSWER);
	assert_int_equal(decide(filter_asks(GW_NEXT_CAUSE_TRY_TIMEOUT, 504)), GW_NEXT_PICK_AGAIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_failure_cause),
		cmocka_unit_test(test_kept_closed_goes_again_only_when_safe),
		cmocka_unit_test(test_filter_ask),
		cmocka_unit_test(test_policy_retries_each_kind_it_names),
		cmocka_unit_test(test_unsafe_requests_retried_only_unsent),
		cmocka_unit_test(test_filter_ask_after_the_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
