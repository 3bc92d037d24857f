/* gw_conn_next: the one place that decides whether a request goes to the
 * upstream again (as ngx_http_upstream_next() does in nginx).
 *
 * It is asked when an attempt ended without a response head to relay
 * (the cause says why) and when a response filter asks for another
 * attempt (gw_exchange_retry). The decision reads a struct of inputs
 * only, so retry-with-deadline can add deadlines, budgets, backoff and
 * hedging here, and nowhere else. Giving up leaves the answer as it
 * stands: the error the attempt's termination code names (gw_term.h), or
 * the response the filters saw. */
#include "gw_conn_self.h"
#include "gw_config_s.h"
#include "gw_exchange.h"

struct gw_conn_next_decision gw_conn_next_decide(const struct gw_conn_next_inputs *in_ptr)
{
	struct gw_conn_next_decision answer = {.action = GW_NEXT_ANSWER};

	switch (in_ptr->cause) {
	case GW_NEXT_CAUSE_KEPT_CLOSED:
		/* The upstream may have closed a kept connection just as it was
		 * taken: a request that may be sent twice goes again, once, on a
		 * new connection, before anything of the response came. */
		if (in_ptr->reused && !in_ptr->fresh_retry_used && !in_ptr->response_started && in_ptr->idempotent &&
		    in_ptr->replayable)
			return (struct gw_conn_next_decision){.action = GW_NEXT_FRESH_CONNECTION};
		return answer;
	case GW_NEXT_CAUSE_FILTER_ASKS:
		/* Only what can be sent again, after the upstream answered or
		 * failed (not a refusal before any endpoint was tried, nor the
		 * client's or the gateway's own failure), with nothing of the
		 * answer gone to the client, within the bound on attempts. */
		if (!in_ptr->replayable || in_ptr->attempt_cause == GW_NEXT_CAUSE_REFUSED ||
		    in_ptr->attempt_cause == GW_NEXT_CAUSE_CLIENT || in_ptr->attempt_cause == GW_NEXT_CAUSE_INTERNAL ||
		    in_ptr->response_sent || in_ptr->response_status == 101 ||
		    in_ptr->attempts + 1 >= GW_EXCHANGE_ATTEMPTS_MAX)
			return answer;
		return (struct gw_conn_next_decision){.action = GW_NEXT_PICK_AGAIN};
	default:
		/* Any other failure is answered; a filter that sees the error
		 * may ask for another attempt. */
		return answer;
	}
}

enum gw_conn_next_action gw_conn_upstream_next(struct gw_conn_self *self, enum gw_conn_next_cause cause)
{
	struct gw_conn_next_inputs in = {
		.cause = cause,
		.idempotent = gw_http_method_idempotent(self->req.method),
		.replayable = gw_exchange_replayable(&self->exchange),
		.reused = self->reused,
		.fresh_retry_used = self->retried,
		.response_started = self->response_started,
		/* The head goes to the client only after this decision. */
		.response_sent = 0,
		.attempt_cause = self->next_cause,
		.attempts = gw_exchange_attempt(&self->exchange),
		.response_status = self->exchange.response_status,
	};

	return gw_conn_next_decide(&in).action;
}
