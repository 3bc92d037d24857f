/* gw_stats: the shared counter table and its writers (see gw_stats.h). */
#include "gw_stats.h"
#include "gw_stats_s.h"
#include "gw_config_s.h"

#include "vk_sys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* This process's kernel slot: each kernel is its own OS process, so this
 * is per kernel by construction. */
static struct {
	const struct gw_stats *stats_ptr;
	struct gw_stats_kernel *kernel_ptr;
	int index;
} gw_stats_own;

/* One writer per slot: a plain load and store is enough, and cheaper than
 * a locked add; the store is atomic so readers never see a torn value. */
static inline void add(uint64_t *value_ptr, uint64_t n)
{
	__atomic_store_n(value_ptr, __atomic_load_n(value_ptr, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void set(uint64_t *value_ptr, uint64_t v)
{
	__atomic_store_n(value_ptr, v, __ATOMIC_RELAXED);
}

/* The sizing pass: every entry counted and shown, with the longest names
 * and addresses, every counter at its widest and every endpoint in its
 * longest state, rendered without a buffer. */
static size_t worst_case_render(struct gw_stats *stats_ptr)
{
	size_t json, prom;

	memset(stats_ptr->table_ptr, 0xff, stats_ptr->table_bytes);
	/* Problems whose every byte needs a 6-byte escape. */
	memset(stats_ptr->reload_ptr, 0xff, sizeof(*stats_ptr->reload_ptr));
	stats_ptr->reload_ptr->seq = 0;
	memset(stats_ptr->reload_ptr->problems, 1, sizeof(stats_ptr->reload_ptr->problems) - 1);
	stats_ptr->reload_ptr->problems[sizeof(stats_ptr->reload_ptr->problems) - 1] = '\0';
	for (int u = 0; u < stats_ptr->upstream_capacity; u++) {
		struct gw_stats_upstream_name *n_ptr = &stats_ptr->upstream_names_ptr[u];

		memset(n_ptr->name, 'u', sizeof(n_ptr->name) - 1);
		/* The first has them all: an endpoint costs the same anywhere. */
		n_ptr->endpoint_count = u == 0 ? stats_ptr->endpoint_capacity : 0;
		n_ptr->shown = 1;
	}
	for (int e = 0; e < stats_ptr->endpoint_capacity; e++)
		memset(stats_ptr->endpoint_names_ptr[e].address, 'a', GW_STATS_ADDRESS_BYTES - 1);
	for (int l = 0; l < stats_ptr->listener_capacity; l++) {
		memset(stats_ptr->listener_names_ptr[l].name, 'l', GW_STATS_NAME_BYTES - 1);
		/* "filters" is the longest mode name. */
		stats_ptr->listener_names_ptr[l].isolation = GW_ISOLATION_FILTERS;
		stats_ptr->listener_names_ptr[l].shown = 1;
	}
	stats_ptr->names_ptr->upstream_count = stats_ptr->upstream_capacity;
	stats_ptr->names_ptr->endpoint_count = stats_ptr->endpoint_capacity;
	stats_ptr->names_ptr->listener_count = stats_ptr->listener_capacity;
	json = gw_stats_render_json(stats_ptr, 0, NULL, 0);
	prom = gw_stats_render_prometheus(stats_ptr, 0, NULL, 0);
	memset(stats_ptr->table_ptr, 0, stats_ptr->table_bytes);
	memset(stats_ptr->reload_ptr, 0, sizeof(*stats_ptr->reload_ptr));
	memset(stats_ptr->names_ptr, 0, stats_ptr->names_bytes);
	return (json > prom ? json : prom) + 1;
}

static void *map_shared(size_t bytes)
{
	void *p_ptr = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p_ptr == MAP_FAILED ? NULL : p_ptr;
}

static size_t endpoint_total(const struct gw_config *config_ptr)
{
	size_t n = 0;

	for (int u = 0; u < config_ptr->upstream_count; u++)
		n += (size_t)config_ptr->upstreams_ptr[u].endpoint_count;
	return n;
}

struct gw_stats *gw_stats_create(const struct gw_config *config_ptr, int kernels)
{
	struct gw_stats *stats_ptr = calloc(1, sizeof(*stats_ptr));
	unsigned char *names_ptr;
	size_t bytes;

	if (!stats_ptr || kernels < 1)
		goto fail;
	stats_ptr->kernels = kernels;
	stats_ptr->upstream_capacity = config_ptr->upstream_count + GW_STATS_SPARE_UPSTREAMS;
	stats_ptr->endpoint_capacity = (int)endpoint_total(config_ptr) + GW_STATS_SPARE_ENDPOINTS;
	stats_ptr->listener_capacity = config_ptr->listener_count + GW_STATS_SPARE_LISTENERS;
	bytes = sizeof(struct gw_stats_kernel) +
		sizeof(struct gw_stats_upstream) * (size_t)stats_ptr->upstream_capacity +
		sizeof(struct gw_stats_endpoint) * (size_t)stats_ptr->endpoint_capacity;
	stats_ptr->slot_bytes = (bytes + GW_STATS_ALIGN - 1) / GW_STATS_ALIGN * GW_STATS_ALIGN;
	stats_ptr->table_bytes = stats_ptr->slot_bytes * (size_t)kernels;
	stats_ptr->table_ptr = map_shared(stats_ptr->table_bytes);
	stats_ptr->names_bytes = sizeof(struct gw_stats_names) +
				 sizeof(struct gw_stats_upstream_name) * (size_t)stats_ptr->upstream_capacity +
				 sizeof(struct gw_stats_endpoint_name) * (size_t)stats_ptr->endpoint_capacity +
				 sizeof(struct gw_stats_listener_name) * (size_t)stats_ptr->listener_capacity;
	names_ptr = map_shared(stats_ptr->names_bytes);
	stats_ptr->reload_ptr = map_shared(sizeof(*stats_ptr->reload_ptr));
	if (!stats_ptr->table_ptr || !names_ptr || !stats_ptr->reload_ptr)
		goto fail;
	stats_ptr->names_ptr = (struct gw_stats_names *)names_ptr;
	stats_ptr->upstream_names_ptr = (struct gw_stats_upstream_name *)(stats_ptr->names_ptr + 1);
	stats_ptr->endpoint_names_ptr =
		(struct gw_stats_endpoint_name *)(stats_ptr->upstream_names_ptr + stats_ptr->upstream_capacity);
	stats_ptr->listener_names_ptr =
		(struct gw_stats_listener_name *)(stats_ptr->endpoint_names_ptr + stats_ptr->endpoint_capacity);
	stats_ptr->render_max = worst_case_render(stats_ptr);
	gw_stats_show_config(stats_ptr, config_ptr);
	return stats_ptr;
fail:
	gw_stats_destroy(stats_ptr);
	return NULL;
}

void gw_stats_destroy(struct gw_stats *stats_ptr)
{
	if (!stats_ptr)
		return;
	if (gw_stats_own.stats_ptr == stats_ptr)
		gw_stats_detach();
	if (stats_ptr->table_ptr)
		munmap(stats_ptr->table_ptr, stats_ptr->table_bytes);
	if (stats_ptr->names_ptr)
		munmap(stats_ptr->names_ptr, stats_ptr->names_bytes);
	if (stats_ptr->reload_ptr)
		munmap(stats_ptr->reload_ptr, sizeof(*stats_ptr->reload_ptr));
	free(stats_ptr);
}

/* ---- the names (one writer: gw_stats_show_config) ---- */

static int same_upstream(const struct gw_stats *stats_ptr, int u, const struct gw_config_upstream *up_ptr)
{
	const struct gw_stats_upstream_name *n_ptr = &stats_ptr->upstream_names_ptr[u];

	if (strcmp(n_ptr->name, up_ptr->name) != 0 || n_ptr->endpoint_count != up_ptr->endpoint_count)
		return 0;
	for (int e = 0; e < up_ptr->endpoint_count; e++)
		if (strcmp(stats_ptr->endpoint_names_ptr[n_ptr->endpoint_first + e].address,
			   up_ptr->endpoints_ptr[e].address) != 0)
			return 0;
	return 1;
}

static int find_upstream(const struct gw_stats *stats_ptr, const struct gw_config_upstream *up_ptr)
{
	for (int u = 0, n = gw_stats_upstream_count(stats_ptr); u < n; u++)
		if (same_upstream(stats_ptr, u, up_ptr))
			return u;
	return -1;
}

static int find_listener(const struct gw_stats *stats_ptr, const char *name)
{
	for (int l = 0, n = gw_stats_listener_count(stats_ptr); l < n; l++)
		if (strcmp(stats_ptr->listener_names_ptr[l].name, name) == 0)
			return l;
	return -1;
}

/* A new upstream entry and its endpoints' (written, then counted), or -1
 * when the table has no room left. */
static int add_upstream(struct gw_stats *stats_ptr, const struct gw_config_upstream *up_ptr)
{
	struct gw_stats_names *names_ptr = stats_ptr->names_ptr;
	int u = names_ptr->upstream_count, first = names_ptr->endpoint_count;
	struct gw_stats_upstream_name *n_ptr = &stats_ptr->upstream_names_ptr[u];

	if (u >= stats_ptr->upstream_capacity || first + up_ptr->endpoint_count > stats_ptr->endpoint_capacity)
		return -1;
	snprintf(n_ptr->name, sizeof(n_ptr->name), "%s", up_ptr->name);
	n_ptr->endpoint_first = first;
	n_ptr->endpoint_count = up_ptr->endpoint_count;
	for (int e = 0; e < up_ptr->endpoint_count; e++)
		snprintf(stats_ptr->endpoint_names_ptr[first + e].address, GW_STATS_ADDRESS_BYTES, "%s",
			 up_ptr->endpoints_ptr[e].address);
	__atomic_store_n(&names_ptr->endpoint_count, first + up_ptr->endpoint_count, __ATOMIC_RELEASE);
	__atomic_store_n(&names_ptr->upstream_count, u + 1, __ATOMIC_RELEASE);
	return u;
}

static int add_listener(struct gw_stats *stats_ptr, const struct gw_config_listener *listener_ptr)
{
	int l = stats_ptr->names_ptr->listener_count;
	struct gw_stats_listener_name *n_ptr = &stats_ptr->listener_names_ptr[l];

	if (l >= stats_ptr->listener_capacity)
		return -1;
	snprintf(n_ptr->name, sizeof(n_ptr->name), "%s", listener_ptr->name);
	n_ptr->isolation = (uint32_t)listener_ptr->isolation;
	__atomic_store_n(&stats_ptr->names_ptr->listener_count, l + 1, __ATOMIC_RELEASE);
	return l;
}

int gw_stats_show_config(struct gw_stats *stats_ptr, const struct gw_config *config_ptr)
{
	int missing = 0, n;

	/* First every entry the configuration needs, then what is shown: a
	 * reader never sees a name shown before it is whole. */
	for (int i = 0; i < config_ptr->upstream_count; i++)
		if (find_upstream(stats_ptr, &config_ptr->upstreams_ptr[i]) < 0 &&
		    add_upstream(stats_ptr, &config_ptr->upstreams_ptr[i]) < 0)
			missing++;
	for (int i = 0; i < config_ptr->listener_count; i++)
		if (find_listener(stats_ptr, config_ptr->listeners_ptr[i].name) < 0 &&
		    add_listener(stats_ptr, &config_ptr->listeners_ptr[i]) < 0)
			missing++;
	n = gw_stats_upstream_count(stats_ptr);
	for (int u = 0; u < n; u++) {
		int shown = 0;

		for (int i = 0; i < config_ptr->upstream_count && !shown; i++)
			shown = same_upstream(stats_ptr, u, &config_ptr->upstreams_ptr[i]);
		__atomic_store_n(&stats_ptr->upstream_names_ptr[u].shown, (uint32_t)shown, __ATOMIC_RELAXED);
	}
	n = gw_stats_listener_count(stats_ptr);
	for (int l = 0; l < n; l++) {
		int shown = 0;

		for (int i = 0; i < config_ptr->listener_count && !shown; i++)
			shown = strcmp(stats_ptr->listener_names_ptr[l].name, config_ptr->listeners_ptr[i].name) == 0;
		__atomic_store_n(&stats_ptr->listener_names_ptr[l].shown, (uint32_t)shown, __ATOMIC_RELAXED);
	}
	return missing;
}

void gw_stats_config_reload(struct gw_stats *stats_ptr, const char *problems)
{
	struct gw_stats_reload *reload_ptr = stats_ptr ? stats_ptr->reload_ptr : NULL;

	if (!reload_ptr)
		return;
	__atomic_store_n(&reload_ptr->seq, reload_ptr->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (problems) {
		reload_ptr->refused++;
		reload_ptr->last_refused = 1;
		snprintf(reload_ptr->problems, sizeof(reload_ptr->problems), "%s", problems);
	} else {
		reload_ptr->accepted++;
		reload_ptr->last_refused = 0;
		reload_ptr->problems[0] = '\0';
	}
	__atomic_store_n(&reload_ptr->seq, reload_ptr->seq + 1, __ATOMIC_RELEASE);
}

int gw_stats_kernels(const struct gw_stats *stats_ptr)
{
	return stats_ptr->kernels;
}

void gw_stats_set_isolation(struct gw_stats *stats_ptr, const char *listener, int isolation)
{
	int l = find_listener(stats_ptr, listener);

	if (l >= 0)
		__atomic_store_n(&stats_ptr->listener_names_ptr[l].isolation, (uint32_t)isolation, __ATOMIC_RELAXED);
}

size_t gw_stats_render_max(const struct gw_stats *stats_ptr)
{
	return stats_ptr->render_max + gw_stats_sources_max();
}

void gw_stats_attach(struct gw_stats *stats_ptr, int kernel_index)
{
	struct gw_stats_kernel *kernel_ptr;

	if (kernel_index < 0 || kernel_index >= stats_ptr->kernels)
		return;
	kernel_ptr = gw_stats_kernel_of(stats_ptr, kernel_index);
	gw_stats_own.stats_ptr = stats_ptr;
	gw_stats_own.kernel_ptr = kernel_ptr;
	gw_stats_own.index = kernel_index;
	set(&kernel_ptr->pid, (uint64_t)getpid());
	add(&kernel_ptr->epochs, 1);
	set(&kernel_ptr->connections_active, 0);
	for (int u = 0, n = gw_stats_upstream_count(stats_ptr); u < n; u++) {
		set(&gw_stats_upstream_of(stats_ptr, kernel_index, u)->retries_active, 0);
		for (int e = 0; e < stats_ptr->upstream_names_ptr[u].endpoint_count; e++) {
			struct gw_stats_endpoint *ep_ptr = gw_stats_endpoint_of(stats_ptr, kernel_index, u, e);

			set(&ep_ptr->active, 0);
			set(&ep_ptr->failing_checks, 0);
			set(&ep_ptr->ejected_until_ns, 0);
			set(&ep_ptr->ejections, 0);
		}
	}
	gw_stats_publish_kernel();
}

void gw_stats_detach(void)
{
	memset(&gw_stats_own, 0, sizeof(gw_stats_own));
}

void gw_stats_config_generation(uint64_t generation)
{
	if (gw_stats_own.kernel_ptr)
		__atomic_store_n(&gw_stats_own.kernel_ptr->config_generation, generation, __ATOMIC_RELAXED);
}

void gw_stats_connection_opened(void)
{
	if (!gw_stats_own.kernel_ptr)
		return;
	add(&gw_stats_own.kernel_ptr->connections_accepted, 1);
	add(&gw_stats_own.kernel_ptr->connections_active, 1);
}

const char *const gw_stats_tls_failure_names[GW_TLS_FAIL_COUNT] = {
	[GW_TLS_FAIL_TIMEOUT] = "timeout",
	[GW_TLS_FAIL_CLOSED] = "closed",
	[GW_TLS_FAIL_NOT_TLS] = "not_tls",
	[GW_TLS_FAIL_VERSION] = "version",
	[GW_TLS_FAIL_NO_SHARED_CIPHER] = "no_shared_cipher",
	[GW_TLS_FAIL_UNKNOWN_SERVER_NAME] = "unknown_server_name",
	[GW_TLS_FAIL_ALPN] = "alpn",
	[GW_TLS_FAIL_NO_CLIENT_CERTIFICATE] = "no_client_certificate",
	[GW_TLS_FAIL_BAD_CLIENT_CERTIFICATE] = "bad_client_certificate",
	[GW_TLS_FAIL_CLIENT_ALERT] = "client_alert",
	[GW_TLS_FAIL_PROTOCOL] = "protocol",
};

void gw_stats_tls_handshake_completed(void)
{
	if (gw_stats_own.kernel_ptr)
		add(&gw_stats_own.kernel_ptr->tls_handshakes, 1);
}

void gw_stats_tls_connection(int delta)
{
	if (gw_stats_own.kernel_ptr)
		add(&gw_stats_own.kernel_ptr->tls_connections, (uint64_t)(int64_t)delta);
}

void gw_stats_tls_memory(int leftover, size_t refused)
{
	if (!gw_stats_own.kernel_ptr)
		return;
	if (leftover)
		add(&gw_stats_own.kernel_ptr->tls_memory_leftover, 1);
	if (refused)
		add(&gw_stats_own.kernel_ptr->tls_memory_refused, refused);
}

void gw_stats_proxy_header(int taken)
{
	if (gw_stats_own.kernel_ptr)
		add(taken ? &gw_stats_own.kernel_ptr->proxy_headers : &gw_stats_own.kernel_ptr->proxy_headers_refused,
		    1);
}

void gw_stats_tls_handshake_failed(enum gw_stats_tls_failure reason)
{
	if (gw_stats_own.kernel_ptr && reason < GW_TLS_FAIL_COUNT)
		add(&gw_stats_own.kernel_ptr->tls_handshake_failures[reason], 1);
}

void gw_stats_connection_closed(void)
{
	uint64_t *active_ptr;

	if (!gw_stats_own.kernel_ptr)
		return;
	active_ptr = &gw_stats_own.kernel_ptr->connections_active;
	if (gw_stats_load(active_ptr) > 0)
		add(active_ptr, (uint64_t)-1);
}

/* The endpoint's counters in this kernel's slot, or NULL for indexes the
 * table does not have. */
static struct gw_stats_endpoint *own_endpoint(int upstream, int endpoint)
{
	const struct gw_stats *stats_ptr = gw_stats_own.stats_ptr;

	if (!stats_ptr || upstream < 0 || upstream >= gw_stats_upstream_count(stats_ptr) || endpoint < 0 ||
	    endpoint >= stats_ptr->upstream_names_ptr[upstream].endpoint_count)
		return NULL;
	return gw_stats_endpoint_of(stats_ptr, gw_stats_own.index, upstream, endpoint);
}

int gw_stats_upstream_slot(const struct gw_config_upstream *upstream_ptr)
{
	const struct gw_stats *stats_ptr = gw_stats_own.stats_ptr;

	return stats_ptr ? find_upstream(stats_ptr, upstream_ptr) : -1;
}

void gw_stats_request_done(int status, uint64_t bytes_in, uint64_t bytes_out, int upstream, int endpoint)
{
	struct gw_stats_kernel *kernel_ptr = gw_stats_own.kernel_ptr;
	struct gw_stats_endpoint *ep_ptr;
	int class = status / 100 - 1;

	if (!kernel_ptr)
		return;
	add(&kernel_ptr->requests, 1);
	add(&kernel_ptr->bytes_in, bytes_in);
	add(&kernel_ptr->bytes_out, bytes_out);
	if (class >= 0 && class < GW_STATS_CLASSES)
		add(&kernel_ptr->responses[class], 1);
	ep_ptr = own_endpoint(upstream, endpoint);
	if (!ep_ptr)
		return;
	add(&ep_ptr->requests, 1);
	if (class >= 0 && class < GW_STATS_CLASSES)
		add(&ep_ptr->responses[class], 1);
}

void gw_stats_upstream_refused(int upstream)
{
	const struct gw_stats *stats_ptr = gw_stats_own.stats_ptr;

	if (!stats_ptr || upstream < 0 || upstream >= gw_stats_upstream_count(stats_ptr))
		return;
	add(&gw_stats_upstream_of(stats_ptr, gw_stats_own.index, upstream)->refused, 1);
}

/* This kernel's part of an upstream, or NULL (no table, no such slot). */
static struct gw_stats_upstream *own_upstream(int upstream)
{
	const struct gw_stats *stats_ptr = gw_stats_own.stats_ptr;

	if (!stats_ptr || upstream < 0 || upstream >= gw_stats_upstream_count(stats_ptr))
		return NULL;
	return gw_stats_upstream_of(stats_ptr, gw_stats_own.index, upstream);
}

int gw_stats_retry_budget_allows(int upstream, int percent, int min_per_second, uint64_t now_ns)
{
	const struct gw_stats *stats_ptr = gw_stats_own.stats_ptr;
	uint64_t second = now_ns / 1000000000u, requests = 0, retries = 0, this_second = 0;

	if (!own_upstream(upstream))
		return 1;
	for (int k = 0; k < stats_ptr->kernels; k++) {
		const struct gw_stats_upstream *up_ptr = gw_stats_upstream_of(stats_ptr, k, upstream);

		retries += gw_stats_load(&up_ptr->retries_active);
		if (gw_stats_load(&up_ptr->retry_second) == second)
			this_second += gw_stats_load(&up_ptr->retry_second_count);
		for (int e = 0; e < stats_ptr->upstream_names_ptr[upstream].endpoint_count; e++)
			requests += gw_stats_load(&gw_stats_endpoint_of(stats_ptr, k, upstream, e)->active);
	}
	return (retries + 1) * 100 <= (uint64_t)percent * requests || this_second < (uint64_t)min_per_second;
}

/* A retry or a hedge in flight, and one more this second: what the
 * budget weighs. */
static void budget_take(struct gw_stats_upstream *up_ptr, uint64_t now_ns)
{
	uint64_t second = now_ns / 1000000000u;

	add(&up_ptr->retries_active, 1);
	if (gw_stats_load(&up_ptr->retry_second) != second) {
		/* the count first: a reader that sees the new second sees it */
		set(&up_ptr->retry_second_count, 0);
		set(&up_ptr->retry_second, second);
	}
	add(&up_ptr->retry_second_count, 1);
}

void gw_stats_retry_started(int upstream, uint64_t now_ns)
{
	struct gw_stats_upstream *up_ptr = own_upstream(upstream);

	if (!up_ptr)
		return;
	add(&up_ptr->retries, 1);
	budget_take(up_ptr, now_ns);
}

void gw_stats_retry_ended(int upstream)
{
	struct gw_stats_upstream *up_ptr = own_upstream(upstream);

	if (up_ptr && gw_stats_load(&up_ptr->retries_active) > 0)
		add(&up_ptr->retries_active, (uint64_t)-1);
}

void gw_stats_retry_budget_refused(int upstream)
{
	struct gw_stats_upstream *up_ptr = own_upstream(upstream);

	if (up_ptr)
		add(&up_ptr->retry_budget_refused, 1);
}

void gw_stats_deadline_expired(int upstream)
{
	struct gw_stats_upstream *up_ptr = own_upstream(upstream);

	if (up_ptr)
		add(&up_ptr->deadline_expired, 1);
}

void gw_stats_hedge_started(int upstream, uint64_t now_ns)
{
	struct gw_stats_upstream *up_ptr = own_upstream(upstream);

	if (!up_ptr)
		return;
	add(&up_ptr->hedges, 1);
	budget_take(up_ptr, now_ns);
}

void gw_stats_hedge_won(int upstream)
{
	struct gw_stats_upstream *up_ptr = own_upstream(upstream);

	if (up_ptr)
		add(&up_ptr->hedges_won, 1);
}

void gw_stats_response_head_time(int upstream, uint64_t us)
{
	struct gw_stats_upstream *up_ptr = own_upstream(upstream);
	unsigned bucket = 0;

	if (!up_ptr)
		return;
	while (bucket + 1 < GW_STATS_HEAD_BUCKETS && us >= (64ull << bucket))
		bucket++;
	add(&up_ptr->head_times[bucket], 1);
	add(&up_ptr->head_count, 1);
	if (gw_stats_load(&up_ptr->head_count) >= GW_STATS_HEAD_DECAY) {
		uint64_t count = 0;

		for (int b = 0; b < GW_STATS_HEAD_BUCKETS; b++) {
			set(&up_ptr->head_times[b], gw_stats_load(&up_ptr->head_times[b]) / 2);
			count += gw_stats_load(&up_ptr->head_times[b]);
		}
		set(&up_ptr->head_count, count);
	}
}

uint64_t gw_stats_response_head_p95_us(int upstream)
{
	const struct gw_stats_upstream *up_ptr = own_upstream(upstream);
	uint64_t count, seen = 0;

	if (!up_ptr || (count = gw_stats_load(&up_ptr->head_count)) < 20)
		return 0;
	for (int b = 0; b < GW_STATS_HEAD_BUCKETS; b++) {
		seen += gw_stats_load(&up_ptr->head_times[b]);
		if (seen * 100 >= count * 95)
			return 64ull << b;
	}
	return 64ull << (GW_STATS_HEAD_BUCKETS - 1);
}

void gw_stats_upstream_pool(int upstream, uint64_t connections, uint64_t kept, uint64_t waiting)
{
	const struct gw_stats *stats_ptr = gw_stats_own.stats_ptr;
	struct gw_stats_upstream *up_ptr;

	if (!stats_ptr || upstream < 0 || upstream >= gw_stats_upstream_count(stats_ptr))
		return;
	up_ptr = gw_stats_upstream_of(stats_ptr, gw_stats_own.index, upstream);
	set(&up_ptr->connections, connections);
	set(&up_ptr->kept, kept);
	set(&up_ptr->waiting, waiting);
}

void gw_stats_endpoint_connect_failed(int upstream, int endpoint)
{
	struct gw_stats_endpoint *ep_ptr = own_endpoint(upstream, endpoint);

	if (ep_ptr)
		add(&ep_ptr->connect_failures, 1);
}

void gw_stats_endpoint_health(int upstream, int endpoint, int failing_checks, uint64_t ejected_until_ns,
			      uint64_t ejections, uint64_t active)
{
	struct gw_stats_endpoint *ep_ptr = own_endpoint(upstream, endpoint);

	if (!ep_ptr)
		return;
	set(&ep_ptr->failing_checks, failing_checks != 0);
	set(&ep_ptr->ejected_until_ns, ejected_until_ns);
	set(&ep_ptr->ejections, ejections);
	set(&ep_ptr->active, active);
}

void gw_stats_publish_kernel(void)
{
	if (!gw_stats_own.kernel_ptr)
		return;
	for (int i = 0; i < VK_STAT_COUNT; i++)
		set(&gw_stats_own.kernel_ptr->vkern[i], vk_sys_stat((enum vk_stat)i));
}
