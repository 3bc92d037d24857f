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
#include <sys/queue.h>

/* One upstream's state in this kernel. A table (gw_upstreams) per
 * configuration generation points at one per upstream; a reload's table
 * takes over the state of an upstream that stays the same where it
 * matters (compatible()), so its pool, health, ejections and breaker
 * counts go on, and makes a new one otherwise. */
struct gw_upstream_state {
	TAILQ_ENTRY(gw_upstream_state) link; /* the kernel's states (the reaper sweeps their pools) */
	int listed;			     /* in that list */
	int tables;			     /* gw_upstreams tables pointing here */
	int retired;			     /* no table does: freed once its health check ends */
	int check_running;		     /* its health-check process has not ended */
	/* The snapshot it was made from, held: config_ptr points into it. */
	const struct gw_config *origin_ptr;
	const struct gw_config_upstream *config_ptr;
	int stats_index; /* its slot in /stats (gw_stats.h); -1: none */
	/* What a reload may change in place: the newest table's. */
	struct gw_breaker_limits limits;
	struct gw_health_policy health_policy;
	int outlier_detection;
	struct gw_balance balance;
	struct gw_balance_endpoint *endpoints_ptr;
	struct gw_health *health_ptr;
	struct gw_breaker breaker;
	struct gw_pool *pool_ptr;	    /* this upstream's connections */
	struct gw_resolver_view *views_ptr; /* per endpoint, for DNS names; NULL: no resolver */
	struct vk_zone *tls_zone_ptr;	    /* the kernel's TLS zone, taken (tls_zone_take); NULL: plain */
	struct gw_tls_client *tls_ptr;	    /* TLS to its endpoints; NULL: plain */
	struct gw_health_check_arg check;
};

struct gw_upstreams {
	const struct gw_config *config_ptr;
	struct gw_upstream_state **states_ptr; /* per upstream of config_ptr */
	int count;
};

/* Every state of this kernel's tables, and whether a process sweeps their
 * pools (each kernel is its own process: these are its own). */
static TAILQ_HEAD(gw_upstream_state_list,
		  gw_upstream_state) gw_upstream_states = TAILQ_HEAD_INITIALIZER(gw_upstream_states);
static int gw_upstreams_reaper_running;

/* BoringSSL's memory for TLS to upstreams: one resident zone per kernel
 * (vk_malloc.h), shared by every upstream of every generation that speaks
 * TLS, opened with the first and closed with the last. Its room: every
 * connection the TLS upstreams of the configuration that opens it may
 * have at once (their max_connections) and a health check per endpoint,
 * twice over for the upstreams reloads bring, and at least
 * GW_UPSTREAMS_TLS_CONNECTIONS_MIN; pages are touched only as used. When
 * it is full, a new TLS connection fails (a 502 that says so). */
#define GW_UPSTREAMS_TLS_CONNECTIONS_MIN 1024

static struct vk_zone *gw_upstreams_tls_zone_ptr;
static int gw_upstreams_tls_users;

static struct vk_zone *tls_zone_take(const struct gw_config *config_ptr)
{
	size_t connections = 0;

	if (gw_upstreams_tls_zone_ptr) {
		gw_upstreams_tls_users++;
		return gw_upstreams_tls_zone_ptr;
	}
	for (int u = 0; u < config_ptr->upstream_count; u++) {
		const struct gw_config_upstream *up_ptr = &config_ptr->upstreams_ptr[u];

		if (up_ptr->tls.enabled)
			connections += (size_t)up_ptr->limits.breaker.max_connections + (size_t)up_ptr->endpoint_count;
	}
	connections *= 2;
	if (connections < GW_UPSTREAMS_TLS_CONNECTIONS_MIN)
		connections = GW_UPSTREAMS_TLS_CONNECTIONS_MIN;
	gw_upstreams_tls_zone_ptr = gw_tls_client_zone_open(connections);
	if (!gw_upstreams_tls_zone_ptr) {
		fprintf(stderr, "vkgw: cannot map the memory for TLS to upstreams: %s\n", strerror(errno));
		return NULL;
	}
	gw_upstreams_tls_users = 1;
	return gw_upstreams_tls_zone_ptr;
}

static void tls_zone_let_go(void)
{
	if (--gw_upstreams_tls_users > 0)
		return;
	gw_tls_client_zone_close(gw_upstreams_tls_zone_ptr);
	gw_upstreams_tls_zone_ptr = NULL;
}

static void state_free(struct gw_upstream_state *state_ptr)
{
	if (state_ptr->listed)
		TAILQ_REMOVE(&gw_upstream_states, state_ptr, link);
	if (state_ptr->endpoints_ptr)
		gw_balance_fini(&state_ptr->balance);
	free(state_ptr->endpoints_ptr);
	free(state_ptr->health_ptr);
	gw_pool_destroy(state_ptr->pool_ptr);
	free(state_ptr->views_ptr);
	gw_tls_client_destroy(state_ptr->tls_ptr);
	if (state_ptr->tls_zone_ptr)
		tls_zone_let_go();
	gw_config_free(state_ptr->origin_ptr);
	free(state_ptr);
}

/* No table points here any more: its kept connections close now, and the
 * rest goes once its health check has seen it retired (listed until then). */
static void state_retire(struct gw_upstream_state *state_ptr)
{
	state_ptr->retired = 1;
	if (state_ptr->pool_ptr)
		gw_pool_sweep(state_ptr->pool_ptr, vk_sys_now_ns(), 1);
	if (!state_ptr->check_running)
		state_free(state_ptr);
}

/* Where its endpoints' DNS names are resolved: the resolver's entry for
 * the same "host:port" (the resolver knows the names vkgw started with). */
static int state_views(struct gw_upstream_state *state_ptr, const struct gw_resolver *resolver_ptr)
{
	int n = state_ptr->config_ptr->endpoint_count;

	state_ptr->views_ptr = calloc((size_t)n + 1, sizeof(*state_ptr->views_ptr));
	if (!state_ptr->views_ptr)
		return -1;
	for (int e = 0; e < n; e++)
		gw_resolver_view_init(&state_ptr->views_ptr[e],
				      resolver_ptr
					      ? gw_resolver_find_address(
							resolver_ptr, state_ptr->config_ptr->endpoints_ptr[e].address)
					      : NULL);
	return 0;
}

/* What a reload may change in place, from the newest table's config. */
static void state_update(struct gw_upstream_state *state_ptr, const struct gw_config_upstream *up_ptr)
{
	state_ptr->limits = up_ptr->limits.breaker;
	state_ptr->health_policy = up_ptr->health_policy;
	state_ptr->outlier_detection = up_ptr->outlier_detection.enabled;
}

static struct gw_upstream_state *state_create(const struct gw_config *config_ptr, int u, unsigned seed,
					      const struct gw_resolver *resolver_ptr)
{
	const struct gw_config_upstream *up_ptr = &config_ptr->upstreams_ptr[u];
	struct gw_upstream_state *state_ptr = calloc(1, sizeof(*state_ptr));
	int n = up_ptr->endpoint_count;

	if (!state_ptr)
		return NULL;
	gw_config_hold(config_ptr);
	state_ptr->origin_ptr = config_ptr;
	state_ptr->config_ptr = up_ptr;
	state_ptr->stats_index = gw_stats_upstream_slot(up_ptr);
	state_update(state_ptr, up_ptr);
	state_ptr->endpoints_ptr = calloc((size_t)n, sizeof(*state_ptr->endpoints_ptr));
	state_ptr->health_ptr = calloc((size_t)n, sizeof(*state_ptr->health_ptr));
	if (!state_ptr->endpoints_ptr || !state_ptr->health_ptr || state_views(state_ptr, resolver_ptr) == -1)
		goto fail;
	for (int e = 0; e < n; e++) {
		state_ptr->endpoints_ptr[e].name = up_ptr->endpoints_ptr[e].address;
		state_ptr->endpoints_ptr[e].weight = up_ptr->endpoints_ptr[e].weight;
		/* A DNS name serves once it has addresses (refresh_availability). */
		state_ptr->endpoints_ptr[e].available = up_ptr->endpoints_ptr[e].kind != GW_CONFIG_ENDPOINT_DNS;
		gw_health_init(&state_ptr->health_ptr[e]);
	}
	if (gw_balance_init(&state_ptr->balance, up_ptr->balance.policy, state_ptr->endpoints_ptr, n,
			    (uint64_t)seed * 2654435761u + (uint64_t)u + 1) == -1) {
		free(state_ptr->endpoints_ptr);
		state_ptr->endpoints_ptr = NULL;
		goto fail;
	}
	state_ptr->pool_ptr = gw_pool_create(
		&(struct gw_pool_settings){
			.endpoint_count = n,
			.max_idle = up_ptr->limits.max_idle_per_kernel,
			.idle_timeout_ns = (uint64_t)up_ptr->timeouts.idle_ms * 1000000u,
			/* nobody waits longer than a connect may take */
			.wait_limit_ns = ((uint64_t)up_ptr->timeouts.connect_ms + 1000u) * 1000000u,
			.stats_upstream = state_ptr->stats_index,
			.discard_tls = gw_tls_stream_discard,
		},
		&state_ptr->breaker, &state_ptr->limits);
	if (!state_ptr->pool_ptr)
		goto fail;
	if (up_ptr->tls.enabled) {
		char error[400];

		state_ptr->tls_zone_ptr = tls_zone_take(config_ptr);
		if (!state_ptr->tls_zone_ptr)
			goto fail;
		/* The loader checked the files; they may have changed since. */
		state_ptr->tls_ptr = gw_tls_client_create(up_ptr, state_ptr->tls_zone_ptr, error, sizeof(error));
		if (!state_ptr->tls_ptr) {
			fprintf(stderr, "vkgw: upstream %s: %s\n", up_ptr->name, error);
			goto fail;
		}
	}
	TAILQ_INSERT_TAIL(&gw_upstream_states, state_ptr, link);
	state_ptr->listed = 1;
	return state_ptr;
fail:
	state_free(state_ptr);
	return NULL;
}

static int same_text(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static int same_health_check(const struct gw_config_health_check *a, const struct gw_config_health_check *b)
{
	if (a->enabled != b->enabled)
		return 0;
	if (!a->enabled)
		return 1;
	if (!same_text(a->method, b->method) || !same_text(a->path, b->path) || a->interval_ms != b->interval_ms ||
	    a->timeout_ms != b->timeout_ms || a->expected_status_count != b->expected_status_count)
		return 0;
	for (int i = 0; i < a->expected_status_count; i++)
		if (a->expected_statuses_ptr[i] != b->expected_statuses_ptr[i])
			return 0;
	return 1;
}

static int same_tls(const struct gw_config_upstream_tls *a, const struct gw_config_upstream_tls *b)
{
	if (a->enabled != b->enabled)
		return 0;
	return !a->enabled || (same_text(a->server_name, b->server_name) && a->verify == b->verify &&
			       same_text(a->ca_path, b->ca_path) && a->verify_depth == b->verify_depth &&
			       same_text(a->cert_path, b->cert_path) && same_text(a->key_path, b->key_path) &&
			       a->min_version == b->min_version && same_text(a->ciphers, b->ciphers));
}

/* Whether a reload's upstream `now_ptr` can take over the state made for
 * `was_ptr`: the same name and endpoints in the same order (health,
 * ejections and kept connections are per endpoint), the same balancing,
 * health check and TLS, and the same pool settings. Breaker limits and
 * outlier detection change in place; timeouts are read per request. */
static int compatible(const struct gw_config_upstream *was_ptr, const struct gw_config_upstream *now_ptr)
{
	if (strcmp(was_ptr->name, now_ptr->name) != 0 || was_ptr->endpoint_count != now_ptr->endpoint_count)
		return 0;
	for (int e = 0; e < now_ptr->endpoint_count; e++)
		if (strcmp(was_ptr->endpoints_ptr[e].address, now_ptr->endpoints_ptr[e].address) != 0 ||
		    was_ptr->endpoints_ptr[e].weight != now_ptr->endpoints_ptr[e].weight)
			return 0;
	return was_ptr->balance.policy == now_ptr->balance.policy &&
	       was_ptr->balance.hash_on == now_ptr->balance.hash_on &&
	       same_text(was_ptr->balance.hash_key, now_ptr->balance.hash_key) &&
	       same_health_check(&was_ptr->health_check, &now_ptr->health_check) &&
	       same_tls(&was_ptr->tls, &now_ptr->tls) &&
	       was_ptr->limits.max_idle_per_kernel == now_ptr->limits.max_idle_per_kernel &&
	       was_ptr->timeouts.idle_ms == now_ptr->timeouts.idle_ms &&
	       was_ptr->timeouts.connect_ms == now_ptr->timeouts.connect_ms &&
	       was_ptr->resolve_interval_ms == now_ptr->resolve_interval_ms;
}

/* The state of the previous table this upstream takes over, or NULL. */
static struct gw_upstream_state *predecessor(const struct gw_upstreams *previous_ptr,
					     const struct gw_config_upstream *up_ptr)
{
	for (int u = 0; previous_ptr && u < previous_ptr->count; u++)
		if (compatible(previous_ptr->states_ptr[u]->config_ptr, up_ptr))
			return previous_ptr->states_ptr[u];
	return NULL;
}

struct gw_upstreams *gw_upstreams_create(const struct gw_config *config_ptr, unsigned seed,
					 const struct gw_upstreams *previous_ptr,
					 const struct gw_resolver *resolver_ptr)
{
	struct gw_upstreams *upstreams_ptr = calloc(1, sizeof(*upstreams_ptr));

	if (!upstreams_ptr)
		return NULL;
	upstreams_ptr->config_ptr = config_ptr;
	upstreams_ptr->states_ptr = calloc((size_t)config_ptr->upstream_count + 1, sizeof(*upstreams_ptr->states_ptr));
	if (!upstreams_ptr->states_ptr)
		goto fail;
	for (int u = 0; u < config_ptr->upstream_count; u++) {
		struct gw_upstream_state *state_ptr = predecessor(previous_ptr, &config_ptr->upstreams_ptr[u]);

		if (!state_ptr)
			state_ptr = state_create(config_ptr, u, seed, resolver_ptr);
		if (!state_ptr)
			goto fail;
		state_ptr->tables++;
		upstreams_ptr->states_ptr[u] = state_ptr;
		upstreams_ptr->count++;
	}
	/* Only once every state is there: a failure above changes nothing
	 * in the states taken over. */
	for (int u = 0; u < upstreams_ptr->count; u++)
		state_update(upstreams_ptr->states_ptr[u], &config_ptr->upstreams_ptr[u]);
	return upstreams_ptr;
fail:
	gw_upstreams_destroy(upstreams_ptr);
	return NULL;
}

void gw_upstreams_destroy(struct gw_upstreams *upstreams_ptr)
{
	if (!upstreams_ptr)
		return;
	for (int u = 0; u < upstreams_ptr->count; u++)
		if (--upstreams_ptr->states_ptr[u]->tables == 0)
			state_retire(upstreams_ptr->states_ptr[u]);
	free(upstreams_ptr->states_ptr);
	free(upstreams_ptr);
}

/* The admin listener's view of an endpoint (gateway/gw_stats.h), after
 * each change of its load or health. */
static void publish(const struct gw_upstream_state *state_ptr, int e)
{
	const struct gw_health *health_ptr = &state_ptr->health_ptr[e];

	gw_stats_endpoint_health(state_ptr->stats_index, e, !health_ptr->healthy, health_ptr->ejected_until,
				 (uint64_t)health_ptr->ejections, (uint64_t)state_ptr->endpoints_ptr[e].active);
}

/* A literal address always has one; a DNS name while the resolver has
 * found at least one (one atomic load when nothing changed). */
static int has_address(struct gw_upstream_state *state_ptr, int e)
{
	if (state_ptr->config_ptr->endpoints_ptr[e].kind != GW_CONFIG_ENDPOINT_DNS)
		return 1;
	return state_ptr->views_ptr && gw_resolver_view_refresh(&state_ptr->views_ptr[e]) > 0;
}

/* Ejections that ran out give their endpoints back to the balancer, and so
 * do DNS names that resolved. */
static void refresh_availability(struct gw_upstream_state *state_ptr, uint64_t now)
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

static int pick(void *ctx_ptr, int index, const char *key, size_t key_len, uint64_t avoid_mask,
		struct gw_upstream_pick *pick_ptr, const char **reason_ptr)
{
	const struct sockaddr *addr_ptr;
	struct gw_upstreams *upstreams_ptr = ctx_ptr;
	struct gw_upstream_state *state_ptr;
	const struct gw_config_endpoint *endpoint_ptr;
	enum gw_breaker_verdict verdict;
	int e;

	if (index < 0 || index >= upstreams_ptr->count) {
		*reason_ptr = "no such upstream";
		return 502;
	}
	state_ptr = upstreams_ptr->states_ptr[index];
	verdict = gw_breaker_admit_request(&state_ptr->breaker, &state_ptr->limits);
	if (verdict != GW_BREAKER_ADMIT) {
		*reason_ptr = gw_breaker_reason(verdict);
		gw_stats_upstream_refused(state_ptr->stats_index);
		return 503;
	}
	refresh_availability(state_ptr, vk_sys_now_ns());
	e = avoid_mask ? gw_balance_pick_avoiding(&state_ptr->balance, key, key_len, avoid_mask)
		       : gw_balance_pick(&state_ptr->balance, key, key_len);
	if (e < 0) {
		gw_breaker_request_done(&state_ptr->breaker);
		*reason_ptr = "no healthy endpoint";
		gw_stats_upstream_refused(state_ptr->stats_index);
		return 503;
	}
	state_ptr->endpoints_ptr[e].active++;
	publish(state_ptr, e);
	endpoint_ptr = &state_ptr->config_ptr->endpoints_ptr[e];
	pick_ptr->endpoint = e;
	pick_ptr->stats_upstream = state_ptr->stats_index;
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
	struct gw_upstream_state *state_ptr;
	enum gw_outcome health_outcome;

	if (index < 0 || index >= upstreams_ptr->count)
		return;
	state_ptr = upstreams_ptr->states_ptr[index];
	gw_breaker_request_done(&state_ptr->breaker);
	if (endpoint < 0 || endpoint >= state_ptr->config_ptr->endpoint_count)
		return;
	if (state_ptr->endpoints_ptr[endpoint].active > 0)
		state_ptr->endpoints_ptr[endpoint].active--;
	if (outcome == GW_UPSTREAM_CONNECT_FAILURE)
		gw_stats_endpoint_connect_failed(state_ptr->stats_index, endpoint);
	publish(state_ptr, endpoint);
	if (outcome == GW_UPSTREAM_ABORTED || !state_ptr->outlier_detection)
		return;
	health_outcome = outcome == GW_UPSTREAM_OK    ? GW_OUTCOME_OK
			 : outcome == GW_UPSTREAM_5XX ? GW_OUTCOME_5XX
						      : GW_OUTCOME_CONNECT_FAILURE;
	if (gw_health_record(state_ptr->health_ptr, state_ptr->config_ptr->endpoint_count, endpoint,
			     &state_ptr->health_policy, health_outcome, vk_sys_now_ns())) {
		gw_balance_set_available(&state_ptr->balance, endpoint, 0);
		publish(state_ptr, endpoint);
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
	switch (gw_pool_acquire(upstreams_ptr->states_ptr[index]->pool_ptr, pick_ptr->endpoint, pick_ptr->addr_key,
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
		gw_pool_cancel(upstreams_ptr->states_ptr[index]->pool_ptr, vk_sys_self());
}

/* The reaper: while any connection is kept, a process closes those that
 * expired or that their upstream closed, once a second, and all of them
 * when the kernel drains. It ends when nothing is kept, so an idle kernel
 * is not woken for it. */
#define REAPER_PERIOD_MS 1000
#define REAPER_PAGES 4

static void reaper_main(struct vk_thread *that)
{
	struct gw_upstream_state *state_ptr;
	struct {
		int kept;
	} * self;

	vk_begin();
	/* However it ends, a new one may start when something is kept. */
	vk_finally
	{
		gw_upstreams_reaper_running = 0;
	}
	do {
		vk_sleep_idle(REAPER_PERIOD_MS);
		self->kept = 0;
		TAILQ_FOREACH(state_ptr, &gw_upstream_states, link)
			if (!state_ptr->retired)
				self->kept += gw_pool_sweep(state_ptr->pool_ptr, vk_sys_now_ns(), vk_draining());
	} while (self->kept > 0 && !vk_draining());
	gw_upstreams_reaper_running = 0;
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
	if (gw_pool_keep(upstreams_ptr->states_ptr[index]->pool_ptr, pick_ptr->endpoint, pick_ptr->addr_key, fd,
			 tls_kept_ptr, vk_sys_now_ns()) &&
	    !gw_upstreams_reaper_running && vk_sys_spawn("upstream-pool-reaper", reaper_main, NULL, REAPER_PAGES) >= 0)
		gw_upstreams_reaper_running = 1;
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
	for (int u = 0; u < upstreams_ptr->count; u++) {
		struct gw_upstream_state *state_ptr = upstreams_ptr->states_ptr[u];
		struct gw_health_check_arg *arg_ptr = &state_ptr->check;

		/* A state taken over keeps its running check. */
		if (!state_ptr->config_ptr->health_check.enabled || state_ptr->check_running)
			continue;
		arg_ptr->state_ptr = state_ptr;
		arg_ptr->upstream_ptr = state_ptr->config_ptr;
		snprintf(arg_ptr->name, sizeof(arg_ptr->name), "health-check %s", state_ptr->config_ptr->name);
		if (gw_health_check_start(arg_ptr) == -1)
			return -1;
		state_ptr->check_running = 1;
	}
	return 0;
}

struct gw_upstream_state *gw_upstreams_state(struct gw_upstreams *upstreams_ptr, int index)
{
	return index >= 0 && index < upstreams_ptr->count ? upstreams_ptr->states_ptr[index] : NULL;
}

int gw_upstreams_check_goes_on(struct gw_upstream_state *state_ptr)
{
	return !state_ptr->retired;
}

void gw_upstreams_check_ended(struct gw_upstream_state *state_ptr)
{
	state_ptr->check_running = 0;
	if (state_ptr->retired)
		state_free(state_ptr);
}

void gw_upstreams_check_result(struct gw_upstream_state *state_ptr, int endpoint, int passed)
{
	if (endpoint < 0 || endpoint >= state_ptr->config_ptr->endpoint_count)
		return;
	if (gw_health_check_result(&state_ptr->health_ptr[endpoint], &state_ptr->health_policy, passed))
		fprintf(stderr, "vkgw: kernel %d: upstream %s endpoint %s is now %s\n", vk_sys_kernel_index(),
			state_ptr->config_ptr->name, state_ptr->config_ptr->endpoints_ptr[endpoint].address,
			passed ? "healthy" : "unhealthy");
	publish(state_ptr, endpoint);
}

struct gw_tls_client *gw_upstreams_tls(const struct gw_upstream_state *state_ptr)
{
	return state_ptr->tls_ptr;
}

int gw_upstreams_probe_address(struct gw_upstream_state *state_ptr, int endpoint, unsigned turn,
			       struct sockaddr_storage *addr_ptr, socklen_t *len_ptr)
{
	const struct gw_config_endpoint *endpoint_ptr;
	const void *from_ptr;
	socklen_t len;

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
