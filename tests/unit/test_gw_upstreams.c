/* gw_upstreams across a reload: a new table takes over the state of the
 * upstreams that stay the same (health, ejections, breaker counts, pool),
 * starts afresh for those that changed, and the state of an upstream no
 * table holds any more goes with the last table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_diag.h"
#include "gw_upstream.h"
#include "gw_upstreams.h"
#include "gw_upstreams_test.h"

/* Picks of upstream `index` until one fails: the endpoints picked, as a
 * string of their indexes ("0101..."), at most n. */
static void picks(struct gw_upstreams *upstreams_ptr, int index, int n, char *out, size_t len)
{
	struct gw_upstream_ops ops;
	size_t used = 0;

	gw_upstreams_ops(upstreams_ptr, &ops);
	out[0] = '\0';
	for (int i = 0; i < n && used + 2 < len; i++) {
		struct gw_upstream_pick pick;
		const char *reason = NULL;

		if (ops.pick(ops.ctx_ptr, index, NULL, 0, 0, &pick, &reason) != 0) {
			used += (size_t)snprintf(out + used, len - used, "x");
			continue;
		}
		used += (size_t)snprintf(out + used, len - used, "%d", pick.endpoint);
		ops.done(ops.ctx_ptr, index, pick.endpoint, GW_UPSTREAM_OK);
	}
}

/* Endpoint 1 of upstream `index` answers 5xx until ejected. */
static void eject_endpoint_1(struct gw_upstreams *upstreams_ptr, int index)
{
	struct gw_upstream_ops ops;

	gw_upstreams_ops(upstreams_ptr, &ops);
	for (int i = 0; i < 2; i++) {
		struct gw_upstream_pick pick = {0};
		const char *reason = NULL;

		assert_int_equal(ops.pick(ops.ctx_ptr, index, NULL, 0, 0, &pick, &reason), 0);
		ops.done(ops.ctx_ptr, index, 1, GW_UPSTREAM_5XX);
	}
}

#define APP_JSON(extra)                                                                             \
	"\"app\": { \"endpoints\": [ \"127.0.0.1:1\", \"127.0.0.1:2\" ], \"outlier_detection\": { " \
	"\"consecutive_5xx\": 2, \"base_ejection_ms\": 600000 }" extra " }"

static void test_a_kept_upstream_keeps_its_ejections(void **state)
{
	struct gw_config *a_ptr = gw_test_load_upstreams(APP_JSON(""));
	/* Another upstream before it: its index changes, its state does not. */
	struct gw_config *b_ptr =
		gw_test_load_upstreams("\"other\": { \"endpoints\": [ \"127.0.0.1:3\" ] }, " APP_JSON(""));
	struct gw_upstreams *first_ptr = gw_upstreams_create(a_ptr, 1, NULL, NULL);
	struct gw_upstreams *second_ptr;
	char seen[32];

	(void)state;
	assert_non_null(first_ptr);
	picks(first_ptr, 0, 4, seen, sizeof(seen));
	assert_string_equal(seen, "0101");
	eject_endpoint_1(first_ptr, 0);
	picks(first_ptr, 0, 4, seen, sizeof(seen));
	assert_string_equal(seen, "0000");

	second_ptr = gw_upstreams_create(b_ptr, 1, first_ptr, NULL);
	assert_non_null(second_ptr);
	assert_ptr_equal(gw_upstreams_state(second_ptr, 1), gw_upstreams_state(first_ptr, 0));
	assert_ptr_not_equal(gw_upstreams_state(second_ptr, 0), gw_upstreams_state(first_ptr, 0));
	/* Still ejected, seen from the new table; the new upstream serves. */
	picks(second_ptr, 1, 4, seen, sizeof(seen));
	assert_string_equal(seen, "0000");
	picks(second_ptr, 0, 2, seen, sizeof(seen));
	assert_string_equal(seen, "00");
	/* The old table goes first (its requests ended), then the new one:
	 * the shared state goes with the last (ASan sees a double free). */
	gw_upstreams_destroy(first_ptr);
	picks(second_ptr, 1, 2, seen, sizeof(seen));
	assert_string_equal(seen, "00");
	gw_upstreams_destroy(second_ptr);
	gw_config_free(a_ptr);
	gw_config_free(b_ptr);
}

static void test_a_changed_upstream_starts_afresh(void **state)
{
	struct gw_config *a_ptr = gw_test_load_upstreams(APP_JSON(""));
	/* A third endpoint: endpoints differ, so health does not carry over. */
	struct gw_config *b_ptr = gw_test_load_upstreams(
		"\"app\": { \"endpoints\": [ \"127.0.0.1:1\", \"127.0.0.1:2\", \"127.0.0.1:4\" ], "
		"\"outlier_detection\": { \"consecutive_5xx\": 2, \"base_ejection_ms\": 600000 } }");
	struct gw_upstreams *first_ptr = gw_upstreams_create(a_ptr, 1, NULL, NULL);
	struct gw_upstreams *second_ptr;
	char seen[32];

	(void)state;
	eject_endpoint_1(first_ptr, 0);
	second_ptr = gw_upstreams_create(b_ptr, 1, first_ptr, NULL);
	assert_ptr_not_equal(gw_upstreams_state(second_ptr, 0), gw_upstreams_state(first_ptr, 0));
	picks(second_ptr, 0, 3, seen, sizeof(seen));
	assert_string_equal(seen, "012");
	/* The old table still serves its requests from the old state. */
	picks(first_ptr, 0, 2, seen, sizeof(seen));
	assert_string_equal(seen, "00");
	/* In either order. */
	gw_upstreams_destroy(second_ptr);
	gw_upstreams_destroy(first_ptr);
	gw_config_free(b_ptr);
	gw_config_free(a_ptr);
}

static void test_breaker_limits_change_in_place(void **state)
{
	struct gw_config *a_ptr = gw_test_load_upstreams(APP_JSON(", \"limits\": { \"max_requests\": 1 }"));
	struct gw_config *b_ptr = gw_test_load_upstreams(APP_JSON(", \"limits\": { \"max_requests\": 2 }"));
	struct gw_upstreams *first_ptr = gw_upstreams_create(a_ptr, 1, NULL, NULL);
	struct gw_upstreams *second_ptr;
	struct gw_upstream_ops ops;
	struct gw_upstream_pick pick[3];
	const char *reason = NULL;

	(void)state;
	gw_upstreams_ops(first_ptr, &ops);
	/* One request in flight under the first table... */
	assert_int_equal(ops.pick(ops.ctx_ptr, 0, NULL, 0, 0, &pick[0], &reason), 0);
	assert_int_equal(ops.pick(ops.ctx_ptr, 0, NULL, 0, 0, &pick[1], &reason), 503);
	second_ptr = gw_upstreams_create(b_ptr, 1, first_ptr, NULL);
	assert_ptr_equal(gw_upstreams_state(second_ptr, 0), gw_upstreams_state(first_ptr, 0));
	/* ...counts against the new limit of 2: one more, not two. */
	gw_upstreams_ops(second_ptr, &ops);
	assert_int_equal(ops.pick(ops.ctx_ptr, 0, NULL, 0, 0, &pick[1], &reason), 0);
	assert_int_equal(ops.pick(ops.ctx_ptr, 0, NULL, 0, 0, &pick[2], &reason), 503);
	ops.done(ops.ctx_ptr, 0, pick[1].endpoint, GW_UPSTREAM_OK);
	gw_upstreams_ops(first_ptr, &ops);
	ops.done(ops.ctx_ptr, 0, pick[0].endpoint, GW_UPSTREAM_OK);
	gw_upstreams_destroy(first_ptr);
	gw_upstreams_destroy(second_ptr);
	gw_config_free(a_ptr);
	gw_config_free(b_ptr);
}

static void test_a_state_holds_its_configuration(void **state)
{
	struct gw_config *a_ptr = gw_test_load_upstreams(APP_JSON(""));
	struct gw_config *b_ptr = gw_test_load_upstreams(APP_JSON(""));
	struct gw_upstreams *first_ptr = gw_upstreams_create(a_ptr, 1, NULL, NULL);
	struct gw_upstreams *second_ptr = gw_upstreams_create(b_ptr, 1, first_ptr, NULL);
	char seen[32];

	(void)state;
	/* The first table and its snapshot go while the state made from that
	 * snapshot lives on in the second: it still reads its endpoints. */
	gw_upstreams_destroy(first_ptr);
	gw_config_free(a_ptr);
	picks(second_ptr, 0, 4, seen, sizeof(seen));
	assert_string_equal(seen, "0101");
	gw_upstreams_destroy(second_ptr);
	gw_config_free(b_ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_kept_upstream_keeps_its_ejections),
		cmocka_unit_test(test_a_changed_upstream_starts_afresh),
		cmocka_unit_test(test_breaker_limits_change_in_place),
		cmocka_unit_test(test_a_state_holds_its_configuration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
