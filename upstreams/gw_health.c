/* gw_health: active check and outlier ejection state (see the header). */
#include "gw_health.h"

#include <string.h>

void gw_health_init(struct gw_health *health_ptr)
{
	memset(health_ptr, 0, sizeof(*health_ptr));
	health_ptr->healthy = 1;
}

int gw_health_available(const struct gw_health *health_ptr, uint64_t now_ns)
{
	return health_ptr->healthy && (!health_ptr->ejected_until || now_ns >= health_ptr->ejected_until);
}

int gw_health_check_result(struct gw_health *health_ptr, const struct gw_health_policy *policy_ptr, int passed)
{
	if (passed) {
		health_ptr->check_failures = 0;
		health_ptr->check_passes++;
		if (!health_ptr->healthy && health_ptr->check_passes >= policy_ptr->healthy_threshold) {
			health_ptr->healthy = 1;
			return 1;
		}
	} else {
		health_ptr->check_passes = 0;
		health_ptr->check_failures++;
		if (health_ptr->healthy && health_ptr->check_failures >= policy_ptr->unhealthy_threshold) {
			health_ptr->healthy = 0;
			return 1;
		}
	}
	return 0;
}

static int ejected_now(const struct gw_health *endpoints_ptr, int count, uint64_t now_ns)
{
	int n = 0;

	for (int i = 0; i < count; i++)
		n += endpoints_ptr[i].ejected_until && now_ns < endpoints_ptr[i].ejected_until;
	return n;
}

int gw_health_record(struct gw_health *endpoints_ptr, int count, int index, const struct gw_health_policy *policy_ptr,
		     enum gw_outcome outcome, uint64_t now_ns)
{
	struct gw_health *h_ptr = &endpoints_ptr[index];
	int trip = 0;

	switch (outcome) {
	case GW_OUTCOME_OK:
		h_ptr->run_5xx = 0;
		h_ptr->run_connect_failures = 0;
		return 0;
	case GW_OUTCOME_5XX:
		h_ptr->run_5xx++;
		h_ptr->run_connect_failures = 0;
		trip = policy_ptr->consecutive_5xx > 0 && h_ptr->run_5xx >= policy_ptr->consecutive_5xx;
		break;
	case GW_OUTCOME_CONNECT_FAILURE:
		h_ptr->run_connect_failures++;
		trip = policy_ptr->consecutive_connect_failures > 0 &&
		       h_ptr->run_connect_failures >= policy_ptr->consecutive_connect_failures;
		break;
	}
	if (!trip || (h_ptr->ejected_until && now_ns < h_ptr->ejected_until))
		return 0;
	/* The cap: ejecting this one must keep the share within the limit. */
	if ((ejected_now(endpoints_ptr, count, now_ns) + 1) * 100 > policy_ptr->max_ejection_percent * count)
		return 0;
	h_ptr->ejections++;
	h_ptr->ejected_until = now_ns + policy_ptr->base_ejection_ns * (uint64_t)h_ptr->ejections;
	h_ptr->run_5xx = 0;
	h_ptr->run_connect_failures = 0;
	return 1;
}

int gw_health_expire(struct gw_health *endpoints_ptr, int count, uint64_t now_ns)
{
	int back = 0;

	for (int i = 0; i < count; i++) {
		if (endpoints_ptr[i].ejected_until && now_ns >= endpoints_ptr[i].ejected_until) {
			endpoints_ptr[i].ejected_until = 0;
			back++;
		}
	}
	return back;
}
