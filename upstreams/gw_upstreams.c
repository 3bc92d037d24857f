/* gw_upstreams: per-kernel upstream state behind gw_upstream_ops. */
#include "gw_upstreams.h"
#include "gw_balance.h"
#include "gw_breaker.h"
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_health.h"
#include "gw_health_check.h"
#include "gw_pool.h"
#include "gw_stats.h"
#include "gw_resolver.h"
#include "gw_tls_client.h"
#include "gw_tls_stream.h"
#include "gw_upstream.h"

#include "vk_coro.h"
#include "vk_sys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct upstream_state {
	const struct gw_config_upstream *config_ptr;
	struct gw_balance balance;
	struct gw_balance_endpoint *endpoints_ptr;
	struct gw_health *health_ptr;
	struct gw_breaker breaker;
	struct gw_breaker_limits limits;
	struct gw_pool *pool_ptr;	    /* this upstream's connections */
	struct gw_resolver_view *views_ptr; /* per endpoint, for DNS names; NULL: no resolver */
	struct gw_tls_client *tls_ptr;	    /* TLS to its endpoints; NULL: plain */
};

struct gw_upstreams {
	const struct gw_config *config_ptr;
	struct upstream_state *states_ptr;
	struct gw_health_check_arg *checks_ptr; /* one per upstream */
	int count;
	int reaper_running;	      /* a process closes expired kept connections */
	struct vk_zone *tls_zone_ptr; /* BoringSSL's memory for TLS to upstreams; NULL: none speaks it */
};

static void release(struct upstream_state *state_ptr)
{
	if (state_ptr->endpoints_ptr)
		gw_balance_fini(&state_ptr->balance);
	free(state_ptr->endpoints_ptr);
	free(state_ptr->health_ptr);
	gw_pool_destroy(state_ptr->pool_ptr);
	free(state_ptr->views_ptr);
	gw_tls_client_destroy(state_ptr->tls_ptr);
}

/* Room for every connection the TLS upstreams may have open at once (their
 * max_connections), and a health check per endpoint. 0, or -1 after
 * saying why. */
static int open_tls_zone(struct gw_upstreams *upstreams_ptr)
{
	size_t connections = 0;

	for (int u = 0; u < upstreams_ptr->count; u++) {
		const struct gw_config_upstream *up_ptr = &upstreams_ptr->config_ptr->upstreams_ptr[u];

		if (up_ptr->tls.enabled)
			connections += (size_t)up_ptr->limits.breaker.max_connections + (size_t)up_ptr->endpoint_count;
	}
	if (connections == 0)
		return 0;
	upstreams_ptr->tls_zone_ptr = gw_tls_client_zone_open(connections);
	if (!upstreams_ptr->tls_zone_ptr) {
		fprintf(stderr, "vkgw: cannot map the memory for TLS to upstreams: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

struct gw_upstreams *gw_upstreams_create(const struct gw_config *config_ptr, unsigned seed)
{
	struct gw_upstreams *upstreams_ptr = calloc(1, sizeof(*upstreams_ptr));

	if (!upstreams_ptr)
		return NULL;
	upstreams_ptr->config_ptr = config_ptr;
	upstreams_ptr->count = config_ptr->upstream_count;
	upstreams_ptr->states_ptr = calloc((size_t)config_ptr->upstream_count + 1, sizeof(struct upstream_state));
	if (!upstreams_ptr->states_ptr || open_tls_zone(upstreams_ptr) == -1)
		goto fail;
	for (int u = 0; u < config_ptr->upstream_count; u++) {
		const struct gw_config_upstream *up_ptr = &config_ptr->upstreams_ptr[u];
		struct upstream_state *state_ptr = &upstreams_ptr->states_ptr[u];
		int n = up_ptr->endpoint_count;

		state_ptr->config_ptr = up_ptr;
		state_ptr->limits = up_ptr->limits.breaker;
		state_ptr->endpoints_ptr = calloc((size_t)n, sizeof(*state_ptr->endpoints_ptr));
		state_ptr->health_ptr = calloc((size_t)n, sizeof(*state_ptr->health_ptr));
		if (!state_ptr->endpoints_ptr || !state_ptr->health_ptr)
			goto fail;
		for (int e = 0; e < n; e++) {
			state_ptr->endpoints_ptr[e].name = up_ptr->endpoints_ptr[e].address;
			state_ptr->endpoints_ptr[e].weight = up_ptr->endpoints_ptr[e].weight;
			/* A DNS name serves once it has addresses (refresh_availability). */
			state_ptr->endpoints_ptr[e].available = up_ptr->endpoints_ptr[e].kind != GW_CONFIG_ENDPOINT_DNS;
			gw_health_init(&state_ptr->health_ptr[e]);
		}
		if (gw_balance_init(&state_ptr->balance, up_ptr->balance.policy, state_ptr->endpoints_ptr, n,
				    (uint64_t)seed * 2654435761u + (uint64_t)u + 1) == -1)
			goto fail;
		state_ptr->pool_ptr = gw_pool_create(
			&(struct gw_pool_settings){
				.endpoint_count = n,
				.max_idle = up_ptr->limits.max_idle_per_kernel,
				.idle_timeout_ns = (uint64_t)up_ptr->timeouts.idle_ms * 1000000u,
				/* nobody waits longer than a connect may take */
				.wait_limit_ns = ((uint64_t)up_ptr->timeouts.connect_ms + 1000u) * 1000000u,
				.stats_upstream = u,
				.discard_tls = gw_tls_stream_discard,
			},
			&state_ptr->breaker, &state_ptr->limits);
		if (!state_ptr->pool_ptr)
			goto fail;
		if (up_ptr->tls.enabled) {
			char error[400];

			/* The loader checked the files; they may have changed since. */
			state_ptr->tls_ptr =
				gw_tls_client_create(up_ptr, upstreams_ptr->tls_zone_ptr, error, sizeof(error));
			if (!state_ptr->tls_ptr) {
				fprintf(stderr, "vkgw: upstream %s: %s\n", up_ptr->name, error);
				goto fail;
			}
		}
	}
	return upstreams_ptr;
fail:
	gw_upstreams_destroy(upstreams_ptr);
	return NULL;
}

void gw_upstreams_destroy(struct gw_upstreams *upstreams_ptr)
{
	if (!upstreams_ptr)
		return;
	for (int u = 0; upstreams_ptr->states_ptr && u < upstreams_ptr->count; u++)
		release(&upstreams_ptr->states_ptr[u]);
	gw_tls_client_zone_close(upstreams_ptr->tls_zone_ptr);
	free(upstreams_ptr->states_ptr);
	free(upstreams_ptr->checks_ptr);
	free(upstreams_ptr);
}

/* The admin listener's view of an endpoint (gateway/gw_stats.h), after
 * each change of its load or health. */
static void publish(const struct upstream_state *state_ptr, int index, int e)
{
	const struct gw_health *health_ptr = &state_ptr->health_ptr[e];

	gw_stats_endpoint_health(index, e, !health_ptr->healthy, health_ptr->ejected_until,
				 (uint64_t)health_ptr->ejections, (uint64_t)state_ptr->endpoints_ptr[e].active);
}

/* A literal address always has one; a DNS name while the resolver has
 * found at least one (one atomic load when nothing changed). */
static int has_address(struct upstream_state *state_ptr, int e)
{
	if (state_ptr->config_ptr->endpoints_ptr[e].kind != GW_CONFIG_ENDPOINT_DNS)
		return 1;
	return state_ptr->views_ptr && gw_resolver_view_refresh(&state_ptr->views_ptr[e]) > 0;
}

/* Ejections that ran out give their endpoints back to the balancer, and so
 * do DNS names that resolved. */
static void refresh_availability(struct upstream_state *state_ptr, uint64_t now)
{
	int n = state_ptr->config_ptr->endpoint_count;

	gw_health_expire(state_ptr->health_ptr, n, now);
	for (int e = 0; e < n; e++)
		gw_balance_set_available(&state_ptr->balance, e,
					 has_address(state_ptr, e) &&
						 gw_health_available(&state_ptr->health_ptr[e], now));
}

/* The pool's key of an address: equal addresses, equal keys. A word at a
 * time, as it is taken on every pick. */
static uint64_t addr_key_of(const struct sockaddr *addr_ptr, size_t len)
{
	const unsigned char *p = (const unsigned char *)addr_ptr;
	uint64_t h = len;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t word;

		memcpy(&word, p + i, sizeof(word));
		h = (h ^ word) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static int pick(void *ctx_ptr, int index, const char *key, size_t key_len, struct gw_upstream_pick *pick_ptr,
		const char **reason_ptr)
{
	const struct sockaddr *addr_ptr;
	struct gw_upstreams *upstreams_ptr = ctx_ptr;
	struct upstream_state *state_ptr;
	const struct gw_config_endpoint *endpoint_ptr;
	enum gw_breaker_verdict verdict;
	int e;

	if (index < 0 || index >= upstreams_ptr->count) {
		*reason_ptr = "no such upstream";
		return 502;
	}
	state_ptr = &upstreams_ptr->states_ptr[index];
	verdict = gw_breaker_admit_request(&state_ptr->breaker, &state_ptr->limits);
	if (verdict != GW_BREAKER_ADMIT) {
		*reason_ptr = gw_breaker_reason(verdict);
		gw_stats_upstream_refused(index);
		return 503;
	}
	refresh_availability(state_ptr, vk_sys_now_ns());
	e = gw_balance_pick(&state_ptr->balance, key, key_len);
	if (e < 0) {
		gw_breaker_request_done(&state_ptr->breaker);
		*reason_ptr = "no healthy endpoint";
		gw_stats_upstream_refused(index);
		return 503;
	}
	state_ptr->endpoints_ptr[e].active++;
	publish(state_ptr, index, e);
	endpoint_ptr = &state_ptr->config_ptr->endpoints_ptr[e];
	pick_ptr->endpoint = e;
	pick_ptr->name = endpoint_ptr->address;
	pick_ptr->tls_ptr = state_ptr->tls_ptr;
	if (endpoint_ptr->kind == GW_CONFIG_ENDPOINT_DNS) {
		/* Available, so refreshed just now with an address: the next one
		 * in rotation. */
		addr_ptr = gw_resolver_view_next(&state_ptr->views_ptr[e], &pick_ptr->addr_len);
	} else if (endpoint_ptr->kind == GW_CONFIG_ENDPOINT_IPV6) {
		addr_ptr = (const struct sockaddr *)&endpoint_ptr->sockaddr.in6;
		pick_ptr->addr_len = sizeof(endpoint_ptr->sockaddr.in6);
	} else {
		addr_ptr = (const struct sockaddr *)&endpoint_ptr->sockaddr.in4;
		pick_ptr->addr_len = sizeof(endpoint_ptr->sockaddr.in4);
	}
	memcpy(&pick_ptr->addr, addr_ptr, pick_ptr->addr_len);
	pick_ptr->addr_ptr = (const struct sockaddr *)&pick_ptr->addr;
	pick_ptr->addr_key = addr_key_of(addr_ptr, pick_ptr->addr_len);
	return 0;
}

static void done(void *ctx_ptr, int index, int endpoint, enum gw_upstream_outcome outcome)
{
	struct gw_upstreams *upstreams_ptr = ctx_ptr;
	struct upstream_state *state_ptr;
	enum gw_outcome health_outcome;

	if (index < 0 || index >= upstreams_ptr->count)
		return;
	state_ptr = &upstreams_ptr->states_ptr[index];
	gw_breaker_request_done(&state_ptr->breaker);
	if (endpoint < 0 || endpoint >= state_ptr->config_ptr->endpoint_count)
		return;
	if (state_ptr->endpoints_ptr[endpoint].active > 0)
		state_ptr->endpoints_ptr[endpoint].active--;
	if (outcome == GW_UPSTREAM_CONNECT_FAILURE)
		gw_stats_endpoint_connect_failed(index, endpoint);
	publish(state_ptr, index, endpoint);
	if (outcome == GW_UPSTREAM_ABORTED || !state_ptr->config_ptr->outlier_detection.enabled)
		return;
	health_outcome = outcome == GW_UPSTREAM_OK    ? GW_OUTCOME_OK
			 : outcome == GW_UPSTREAM_5XX ? GW_OUTCOME_5XX
						      : GW_OUTCOME_CONNECT_FAILURE;
	if (gw_health_record(state_ptr->health_ptr, state_ptr->config_ptr->endpoint_count, endpoint,
			     &state_ptr->config_ptr->health_policy, health_outcome, vk_sys_now_ns())) {
		gw_balance_set_available(&state_ptr->balance, endpoint, 0);
		publish(state_ptr, index, endpoint);
	}
}

/* ---- connections ---- */

static enum gw_upstream_connection connection(void *ctx_ptr, int index, const struct gw_upstream_pick *pick_ptr,
					      int fresh, int *fd_ptr, void **tls_kept_ptr, const char **reason_ptr)
{
	struct gw_upstreams *upstreams_ptr = ctx_ptr;

	if (index < 0 || index >= upstreams_ptr->count) {
		*reason_ptr = "no such upstream";
		return GW_UPSTREAM_REFUSED;
	}
	switch (gw_pool_acquire(upstreams_ptr->states_ptr[index].pool_ptr, pick_ptr->endpoint, pick_ptr->addr_key,
				pick_ptr->addr_ptr->sa_family, vk_sys_self(), fresh, vk_sys_now_ns(), fd_ptr,
				tls_kept_ptr, reason_ptr)) {
	case GW_POOL_REUSED:
		return GW_UPSTREAM_KEPT;
	case GW_POOL_NEW:
		return GW_UPSTREAM_FRESH;
	case GW_POOL_WAIT:
		return GW_UPSTREAM_WAIT;
	default:
		return GW_UPSTREAM_REFUSED;
	}
}

static void stop_waiting(void *ctx_ptr, int index)
{
	struct gw_upstreams *upstreams_ptr = ctx_ptr;

	if (index >= 0 && index < upstreams_ptr->count)
		gw_pool_cancel(upstreams_ptr->states_ptr[index].pool_ptr, vk_sys_self());
}

/* The reaper: while any connection is kept, a process closes those that
 * expired or that their upstream closed, once a second, and all of them
 * when the kernel drains. It ends when nothing is kept, so an idle kernel
 * is not woken for it. */
#define REAPER_PERIOD_MS 1000
#define REAPER_PAGES 4

static void reaper_main(struct vk_thread *that)
{
	struct gw_upstreams *upstreams_ptr = vk_thread_arg(that);
	struct {
		int kept;
	} * self;

	vk_begin();
	/* However it ends, a new one may start when something is kept. */
	vk_finally
	{
		upstreams_ptr->reaper_running = 0;
	}
	do {
		vk_sleep_idle(REAPER_PERIOD_MS);
		self->kept = 0;
		for (int u = 0; u < upstreams_ptr->count; u++)
			self->kept +=
				gw_pool_sweep(upstreams_ptr->states_ptr[u].pool_ptr, vk_sys_now_ns(), vk_draining());
	} while (self->kept > 0 && !vk_draining());
	upstreams_ptr->reaper_running = 0;
	vk_end();
}

static void keep(void *ctx_ptr, int index, const struct gw_upstream_pick *pick_ptr, int fd, void *tls_kept_ptr)
{
	struct gw_upstreams *upstreams_ptr = ctx_ptr;

	if (index < 0 || index >= upstreams_ptr->count) {
		gw_tls_stream_discard(tls_kept_ptr);
		vk_sys_close(fd);
		return;
	}
	if (gw_pool_keep(upstreams_ptr->states_ptr[index].pool_ptr, pick_ptr->endpoint, pick_ptr->addr_key, fd,
			 tls_kept_ptr, vk_sys_now_ns()) &&
	    !upstreams_ptr->reaper_running &&
	    vk_sys_spawn("upstream-pool-reaper", reaper_main, upstreams_ptr, REAPER_PAGES) >= 0)
		upstreams_ptr->reaper_running = 1;
}

void gw_upstreams_ops(struct gw_upstreams *upstreams_ptr, struct gw_upstream_ops *ops_ptr)
{
	ops_ptr->pick = pick;
	ops_ptr->done = done;
	ops_ptr->connection = connection;
	ops_ptr->stop_waiting = stop_waiting;
	ops_ptr->keep = keep;
	ops_ptr->ctx_ptr = upstreams_ptr;
}

int gw_upstreams_start_health_checks(struct gw_upstreams *upstreams_ptr)
{
	upstreams_ptr->checks_ptr = calloc((size_t)upstreams_ptr->count + 1, sizeof(*upstreams_ptr->checks_ptr));
	if (!upstreams_ptr->checks_ptr)
		return -1;
	for (int u = 0; u < upstreams_ptr->count; u++) {
		const struct gw_config_upstream *up_ptr = &upstreams_ptr->config_ptr->upstreams_ptr[u];
		struct gw_health_check_arg *arg_ptr = &upstreams_ptr->checks_ptr[u];

		if (!up_ptr->health_check.enabled)
			continue;
		arg_ptr->upstreams_ptr = upstreams_ptr;
		arg_ptr->index = u;
		arg_ptr->upstream_ptr = up_ptr;
		snprintf(arg_ptr->name, sizeof(arg_ptr->name), "health-check %s", up_ptr->name);
		if (gw_health_check_start(arg_ptr) == -1)
			return -1;
	}
	return 0;
}

void gw_upstreams_check_result(struct gw_upstreams *upstreams_ptr, int index, int endpoint, int passed)
{
	struct upstream_state *state_ptr;

	if (index < 0 || index >= upstreams_ptr->count)
		return;
	state_ptr = &upstreams_ptr->states_ptr[index];
	if (endpoint < 0 || endpoint >= state_ptr->config_ptr->endpoint_count)
		return;
	if (gw_health_check_result(&state_ptr->health_ptr[endpoint], &state_ptr->config_ptr->health_policy, passed))
		fprintf(stderr, "vkgw: kernel %d: upstream %s endpoint %s is now %s\n", vk_sys_kernel_index(),
			state_ptr->config_ptr->name, state_ptr->config_ptr->endpoints_ptr[endpoint].address,
			passed ? "healthy" : "unhealthy");
	publish(state_ptr, index, endpoint);
}

int gw_upstreams_set_resolver(struct gw_upstreams *upstreams_ptr, const struct gw_resolver *resolver_ptr)
{
	for (int u = 0; u < upstreams_ptr->count; u++) {
		struct upstream_state *state_ptr = &upstreams_ptr->states_ptr[u];
		int n = state_ptr->config_ptr->endpoint_count;

		free(state_ptr->views_ptr);
		state_ptr->views_ptr = calloc((size_t)n, sizeof(*state_ptr->views_ptr));
		if (!state_ptr->views_ptr)
			return -1;
		for (int e = 0; e < n; e++)
			gw_resolver_view_init(&state_ptr->views_ptr[e], gw_resolver_find(resolver_ptr, u, e));
	}
	return 0;
}

struct gw_tls_client *gw_upstreams_tls(struct gw_upstreams *upstreams_ptr, int index)
{
	return index >= 0 && index < upstreams_ptr->count ? upstreams_ptr->states_ptr[index].tls_ptr : NULL;
}

int gw_upstreams_probe_address(struct gw_upstreams *upstreams_ptr, int index, int endpoint, unsigned turn,
			       struct sockaddr_storage *addr_ptr, socklen_t *len_ptr)
{
	const struct upstream_state *state_ptr;
	const struct gw_config_endpoint *endpoint_ptr;
	const void *from_ptr;
	socklen_t len;

	if (index < 0 || index >= upstreams_ptr->count)
		return -1;
	state_ptr = &upstreams_ptr->states_ptr[index];
	if (endpoint < 0 || endpoint >= state_ptr->config_ptr->endpoint_count)
		return -1;
	endpoint_ptr = &state_ptr->config_ptr->endpoints_ptr[endpoint];
	if (endpoint_ptr->kind == GW_CONFIG_ENDPOINT_DNS) {
		if (!state_ptr->views_ptr || gw_resolver_view_refresh(&state_ptr->views_ptr[endpoint]) == 0)
			return -1;
		from_ptr = gw_resolver_view_at(&state_ptr->views_ptr[endpoint], turn, &len);
	} else if (endpoint_ptr->kind == GW_CONFIG_ENDPOINT_IPV6) {
		from_ptr = &endpoint_ptr->sockaddr.in6;
		len = sizeof(endpoint_ptr->sockaddr.in6);
	} else {
		from_ptr = &endpoint_ptr->sockaddr.in4;
		len = sizeof(endpoint_ptr->sockaddr.in4);
	}
	memcpy(addr_ptr, from_ptr, len);
	*len_ptr = len;
	return 0;
}
