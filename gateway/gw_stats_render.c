/* gw_stats_render: the counter table as JSON (GET /stats) and as the
 * Prometheus text format (GET /metrics). Both read the table with relaxed
 * loads, sum what they show into small views, and write with snprintf
 * into the caller's buffer: no allocation, so an admin request costs the
 * kernel nothing it could run out of.
 *
 * Names printed here (upstreams, endpoint addresses) come from a validated
 * config: letters, digits, '.', '_', '-', ':', '[' and ']' only, so they
 * need no escaping in a JSON string or a Prometheus label value. */
#include "gw_stats.h"
#include "gw_stats_s.h"
#include "gw_http_write.h"
#include "gw_config_s.h"

#include "vk_sys.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* snprintf semantics over several calls: `len` counts everything, what
 * fits is written. */
struct out {
	char *buf;
	size_t cap;
	size_t len;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o_ptr, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o_ptr->len < o_ptr->cap ? o_ptr->buf + o_ptr->len : NULL,
		      o_ptr->len < o_ptr->cap ? o_ptr->cap - o_ptr->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o_ptr->len += (size_t)n;
}

static const char *isolation_name(int isolation)
{
	return isolation >= 0 && isolation <= GW_ISOLATION_ALWAYS ? gw_isolation_names[isolation] : "?";
}
static const char *const class_names[GW_STATS_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

/* ---- views: sums over a range of kernels ---- */

struct endpoint_view {
	uint64_t requests;
	uint64_t responses[GW_STATS_CLASSES];
	uint64_t connect_failures;
	uint64_t active;
	uint64_t ejections;
	uint64_t unhealthy; /* kernels whose active checks fail it */
	uint64_t ejected;   /* kernels that have it ejected now */
};

struct upstream_view {
	uint64_t requests;
	uint64_t responses[GW_STATS_CLASSES];
	uint64_t connect_failures;
	uint64_t active;
	uint64_t refused;
	uint64_t connections;
	uint64_t kept;
	uint64_t waiting;
	uint64_t retries;
	uint64_t retries_active;
	uint64_t retry_budget_refused;
	uint64_t deadline_expired;
	uint64_t hedges;
	uint64_t hedges_won;
};

static void kernel_view(const struct gw_stats *stats_ptr, int k0, int k1, struct gw_stats_kernel *v_ptr)
{
	const uint64_t *src_ptr;
	uint64_t *dst_ptr = (uint64_t *)v_ptr;

	memset(v_ptr, 0, sizeof(*v_ptr));
	for (int k = k0; k < k1; k++) {
		src_ptr = (const uint64_t *)gw_stats_kernel_of(stats_ptr, k);
		for (size_t i = 0; i < sizeof(*v_ptr) / sizeof(uint64_t); i++)
			dst_ptr[i] += gw_stats_load(&src_ptr[i]);
	}
}

static void endpoint_view(const struct gw_stats *stats_ptr, int k0, int k1, int u, int e, uint64_t now_ns,
			  struct endpoint_view *v_ptr)
{
	memset(v_ptr, 0, sizeof(*v_ptr));
	for (int k = k0; k < k1; k++) {
		const struct gw_stats_endpoint *ep_ptr = gw_stats_endpoint_of(stats_ptr, k, u, e);
		uint64_t until = gw_stats_load(&ep_ptr->ejected_until_ns);

		v_ptr->requests += gw_stats_load(&ep_ptr->requests);
		for (int c = 0; c < GW_STATS_CLASSES; c++)
			v_ptr->responses[c] += gw_stats_load(&ep_ptr->responses[c]);
		v_ptr->connect_failures += gw_stats_load(&ep_ptr->connect_failures);
		v_ptr->active += gw_stats_load(&ep_ptr->active);
		v_ptr->ejections += gw_stats_load(&ep_ptr->ejections);
		v_ptr->unhealthy += gw_stats_load(&ep_ptr->failing_checks) != 0;
		/* Ejections end lazily (at the next pick): the time decides. */
		v_ptr->ejected += until != 0 && now_ns < until;
	}
}

static void upstream_view(const struct gw_stats *stats_ptr, int k0, int k1, int u, uint64_t now_ns,
			  struct upstream_view *v_ptr)
{
	struct endpoint_view ev;

	memset(v_ptr, 0, sizeof(*v_ptr));
	for (int k = k0; k < k1; k++) {
		const struct gw_stats_upstream *up_ptr = gw_stats_upstream_of(stats_ptr, k, u);

		v_ptr->refused += gw_stats_load(&up_ptr->refused);
		v_ptr->connections += gw_stats_load(&up_ptr->connections);
		v_ptr->kept += gw_stats_load(&up_ptr->kept);
		v_ptr->waiting += gw_stats_load(&up_ptr->waiting);
		v_ptr->retries += gw_stats_load(&up_ptr->retries);
		v_ptr->retries_active += gw_stats_load(&up_ptr->retries_active);
		v_ptr->retry_budget_refused += gw_stats_load(&up_ptr->retry_budget_refused);
		v_ptr->deadline_expired += gw_stats_load(&up_ptr->deadline_expired);
		v_ptr->hedges += gw_stats_load(&up_ptr->hedges);
		v_ptr->hedges_won += gw_stats_load(&up_ptr->hedges_won);
	}
	for (int e = 0; e < stats_ptr->upstream_names_ptr[u].endpoint_count; e++) {
		endpoint_view(stats_ptr, k0, k1, u, e, now_ns, &ev);
		v_ptr->requests += ev.requests;
		for (int c = 0; c < GW_STATS_CLASSES; c++)
			v_ptr->responses[c] += ev.responses[c];
		v_ptr->connect_failures += ev.connect_failures;
		v_ptr->active += ev.active;
	}
}

/* Failing checks outrank an ejection: it lasts until checks pass again,
 * an ejection only for its time. */
static const char *endpoint_state(const struct endpoint_view *v_ptr)
{
	return v_ptr->unhealthy ? "unhealthy" : v_ptr->ejected ? "ejected" : "healthy";
}

/* ---- JSON ---- */

static void json_classes(struct out *o_ptr, const uint64_t *responses_ptr)
{
	put(o_ptr, "{");
	for (int c = 0; c < GW_STATS_CLASSES; c++)
		put(o_ptr, "%s\"%s\":%llu", c ? "," : "", class_names[c], (unsigned long long)responses_ptr[c]);
	put(o_ptr, "}");
}

static uint64_t tls_failures(const struct gw_stats_kernel *v_ptr)
{
	uint64_t total = 0;

	for (int r = 0; r < GW_TLS_FAIL_COUNT; r++)
		total += v_ptr->tls_handshake_failures[r];
	return total;
}

static void json_kernel_fields(struct out *o_ptr, const struct gw_stats_kernel *v_ptr)
{
	put(o_ptr, "\"connections\":{\"accepted\":%llu,\"active\":%llu},\"requests\":%llu,\"responses\":",
	    (unsigned long long)v_ptr->connections_accepted, (unsigned long long)v_ptr->connections_active,
	    (unsigned long long)v_ptr->requests);
	json_classes(o_ptr, v_ptr->responses);
	put(o_ptr,
	    ",\"bytes\":{\"in\":%llu,\"out\":%llu},\"tls\":{\"connections\":%llu,\"handshakes\":%llu,\"failures\":%"
	    "llu,",
	    (unsigned long long)v_ptr->bytes_in, (unsigned long long)v_ptr->bytes_out,
	    (unsigned long long)v_ptr->tls_connections, (unsigned long long)v_ptr->tls_handshakes,
	    (unsigned long long)tls_failures(v_ptr));
	put(o_ptr, "\"failures_by_reason\":{");
	for (int r = 0; r < GW_TLS_FAIL_COUNT; r++)
		put(o_ptr, "%s\"%s\":%llu", r ? "," : "", gw_stats_tls_failure_names[r],
		    (unsigned long long)v_ptr->tls_handshake_failures[r]);
	put(o_ptr, "},\"memory\":{\"refused\":%llu,\"leftover\":%llu}},\"vkern\":{",
	    (unsigned long long)v_ptr->tls_memory_refused, (unsigned long long)v_ptr->tls_memory_leftover);
	for (int i = 0; i < VK_STAT_COUNT; i++)
		put(o_ptr, "%s\"%s\":%llu", i ? "," : "", vk_sys_stat_name((enum vk_stat)i),
		    (unsigned long long)v_ptr->vkern[i]);
	put(o_ptr, "}");
}

static void json_endpoint_fields(struct out *o_ptr, const struct endpoint_view *v_ptr)
{
	put(o_ptr, "\"state\":\"%s\",\"requests\":%llu,\"active\":%llu,\"responses\":", endpoint_state(v_ptr),
	    (unsigned long long)v_ptr->requests, (unsigned long long)v_ptr->active);
	json_classes(o_ptr, v_ptr->responses);
	put(o_ptr, ",\"connect_failures\":%llu,\"ejections\":%llu", (unsigned long long)v_ptr->connect_failures,
	    (unsigned long long)v_ptr->ejections);
}

static void json_endpoint(struct out *o_ptr, const struct gw_stats *stats_ptr, int u, int e, uint64_t now_ns)
{
	struct endpoint_view v;

	endpoint_view(stats_ptr, 0, stats_ptr->kernels, u, e, now_ns, &v);
	put(o_ptr, "{\"address\":\"%s\",",
	    stats_ptr->endpoint_names_ptr[stats_ptr->upstream_names_ptr[u].endpoint_first + e].address);
	json_endpoint_fields(o_ptr, &v);
	put(o_ptr, ",\"ejected_in_kernels\":%llu,\"unhealthy_in_kernels\":%llu,\"per_kernel\":[",
	    (unsigned long long)v.ejected, (unsigned long long)v.unhealthy);
	for (int k = 0; k < stats_ptr->kernels; k++) {
		endpoint_view(stats_ptr, k, k + 1, u, e, now_ns, &v);
		put(o_ptr, "%s{\"kernel\":%d,", k ? "," : "", k);
		json_endpoint_fields(o_ptr, &v);
		put(o_ptr, "}");
	}
	put(o_ptr, "]}");
}

static void json_upstream(struct out *o_ptr, const struct gw_stats *stats_ptr, int u, int first, uint64_t now_ns)
{
	const struct gw_stats_upstream_name *up_ptr = &stats_ptr->upstream_names_ptr[u];
	struct upstream_view v;

	upstream_view(stats_ptr, 0, stats_ptr->kernels, u, now_ns, &v);
	put(o_ptr, "%s\"%s\":{\"requests\":%llu,\"active\":%llu,\"refused\":%llu,\"responses\":", first ? "" : ",",
	    up_ptr->name, (unsigned long long)v.requests, (unsigned long long)v.active, (unsigned long long)v.refused);
	json_classes(o_ptr, v.responses);
	put(o_ptr, ",\"connect_failures\":%llu,\"connections\":%llu,\"kept\":%llu,\"waiting\":%llu,",
	    (unsigned long long)v.connect_failures, (unsigned long long)v.connections, (unsigned long long)v.kept,
	    (unsigned long long)v.waiting);
	put(o_ptr, "\"retries\":%llu,\"retries_active\":%llu,\"retry_budget_refused\":%llu,\"deadline_expired\":%llu,",
	    (unsigned long long)v.retries, (unsigned long long)v.retries_active,
	    (unsigned long long)v.retry_budget_refused, (unsigned long long)v.deadline_expired);
	put(o_ptr, "\"hedges\":%llu,\"hedges_won\":%llu,", (unsigned long long)v.hedges,
	    (unsigned long long)v.hedges_won);
	put(o_ptr, "\"endpoints\":[");
	for (int e = 0; e < up_ptr->endpoint_count; e++) {
		put(o_ptr, "%s", e ? "," : "");
		json_endpoint(o_ptr, stats_ptr, u, e, now_ns);
	}
	put(o_ptr, "]}");
}

/* The reload record as of one moment (the writer may be in the middle of
 * another: read again until a copy is whole). */
static void reload_view(const struct gw_stats *stats_ptr, struct gw_stats_reload *v_ptr)
{
	const struct gw_stats_reload *reload_ptr = stats_ptr->reload_ptr;

	for (int tries = 0; tries < 100; tries++) {
		uint64_t seq = __atomic_load_n(&reload_ptr->seq, __ATOMIC_ACQUIRE);

		memcpy(v_ptr, reload_ptr, sizeof(*v_ptr));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (seq % 2 == 0 && __atomic_load_n(&reload_ptr->seq, __ATOMIC_RELAXED) == seq)
			break;
	}
	v_ptr->problems[sizeof(v_ptr->problems) - 1] = '\0';
}

/* "problems": the last refused reload's, a string per line. */
static void json_problems(struct out *o_ptr, const struct gw_stats_reload *v_ptr)
{
	/* A line escaped as JSON (gw_http_out_json_string): at most six
	 * bytes for each of its bytes. */
	char escaped[sizeof(v_ptr->problems) * 6];
	struct gw_http_out out;
	const char *line = v_ptr->problems;

	put(o_ptr, "\"problems\":[");
	for (int n = 0; *line; n++) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);

		gw_http_out_init(&out, escaped, sizeof(escaped));
		gw_http_out_json_string(&out, line, len, sizeof(escaped));
		put(o_ptr, "%s\"%.*s\"", n ? "," : "", (int)out.len, escaped);
		line += len + (end != NULL);
	}
	put(o_ptr, "]");
}

/* "config": the reloads, and the problems of the last one refused. */
static void json_reloads(struct out *o_ptr, const struct gw_stats *stats_ptr)
{
	struct gw_stats_reload v;

	reload_view(stats_ptr, &v);
	/* Generation 1 is the configuration vkgw started with; each accepted
	 * reload makes the next (deploy/gw_main.c). */
	put(o_ptr,
	    "\"config\":{\"generation\":%llu,\"reloads\":{\"accepted\":%llu,\"refused\":%llu},\"last_reload\":\"%s\",",
	    (unsigned long long)v.accepted + 1, (unsigned long long)v.accepted, (unsigned long long)v.refused,
	    v.last_refused ? "refused"
	    : v.accepted   ? "accepted"
			   : "none");
	json_problems(o_ptr, &v);
	put(o_ptr, "},");
}

void gw_stats_reload_state(const struct gw_stats *stats_ptr, struct gw_stats_reload_state *state_ptr)
{
	struct gw_stats_reload v;
	uint64_t lowest = UINT64_MAX;

	reload_view(stats_ptr, &v);
	for (int k = 0; k < stats_ptr->kernels; k++) {
		const struct gw_stats_kernel *kernel_ptr = gw_stats_kernel_of(stats_ptr, k);
		uint64_t generation = gw_stats_load(&kernel_ptr->config_generation);

		if (gw_stats_load(&kernel_ptr->pid) && generation < lowest)
			lowest = generation;
	}
	state_ptr->answered = v.accepted + v.refused;
	state_ptr->refused = v.last_refused;
	state_ptr->generation = v.accepted + 1;
	state_ptr->applied = lowest != UINT64_MAX && lowest >= state_ptr->generation;
}

size_t gw_stats_render_reload(const struct gw_stats *stats_ptr, int applied, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	struct gw_stats_reload v;

	reload_view(stats_ptr, &v);
	put(&o, "{\"status\":\"%s\",\"generation\":%llu,",
	    v.last_refused ? "refused"
	    : applied	   ? "applied"
			   : "accepted",
	    (unsigned long long)v.accepted + 1);
	json_problems(&o, &v);
	put(&o, "}\n");
	return o.len;
}

size_t gw_stats_render_json(const struct gw_stats *stats_ptr, uint64_t now_ns, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	struct gw_stats_kernel v;
	int first = 1;

	kernel_view(stats_ptr, 0, stats_ptr->kernels, &v);
	put(&o, "{\"kernels\":%d,", stats_ptr->kernels);
	json_reloads(&o, stats_ptr);
	put(&o, "\"total\":{");
	json_kernel_fields(&o, &v);
	put(&o, "},\"per_kernel\":[");
	for (int k = 0; k < stats_ptr->kernels; k++) {
		kernel_view(stats_ptr, k, k + 1, &v);
		put(&o, "%s{\"kernel\":%d,\"pid\":%llu,\"starts\":%llu,\"config_generation\":%llu,", k ? "," : "", k,
		    (unsigned long long)v.pid, (unsigned long long)v.epochs,
		    (unsigned long long)gw_stats_load(&gw_stats_kernel_of(stats_ptr, k)->config_generation));
		json_kernel_fields(&o, &v);
		put(&o, "}");
	}
	put(&o, "],\"listeners\":[");
	for (int l = 0, n = gw_stats_listener_count(stats_ptr); l < n; l++) {
		const struct gw_stats_listener_name *l_ptr = &stats_ptr->listener_names_ptr[l];

		if (!gw_stats_shown(&l_ptr->shown))
			continue;
		put(&o, "%s{\"name\":\"%s\",\"isolation\":\"%s\"}", first ? "" : ",", l_ptr->name,
		    isolation_name((int)gw_stats_load32(&l_ptr->isolation)));
		first = 0;
	}
	put(&o, "],\"upstreams\":{");
	first = 1;
	for (int u = 0, n = gw_stats_upstream_count(stats_ptr); u < n; u++) {
		if (!gw_stats_shown(&stats_ptr->upstream_names_ptr[u].shown))
			continue;
		json_upstream(&o, stats_ptr, u, first, now_ns);
		first = 0;
	}
	put(&o, "}}\n");
	return o.len;
}

/* ---- Prometheus ---- */

/* An array of counters, one series each, told apart by a label. */
struct series_label {
	const char *name;
	const char *const *values;
	int count;
};

static const struct series_label by_class = {"code_class", class_names, GW_STATS_CLASSES};
static const struct series_label by_tls_failure = {"reason", gw_stats_tls_failure_names, GW_TLS_FAIL_COUNT};

/* A metric family over one of the views: a field at `offset`, or with
 * `array`, the array there, one series per label value. */
struct family {
	const char *name;
	const char *type;
	const char *help;
	size_t offset;
	const struct series_label *array;
};

static const struct family kernel_families[] = {
	{"vkgw_kernel_starts_total", "counter", "Starts of the kernel in this slot (a restart adds one).",
	 offsetof(struct gw_stats_kernel, epochs), NULL},
	{"vkgw_connections_accepted_total", "counter", "Client connections accepted on the listeners.",
	 offsetof(struct gw_stats_kernel, connections_accepted), NULL},
	{"vkgw_connections_active", "gauge", "Client connections open now.",
	 offsetof(struct gw_stats_kernel, connections_active), NULL},
	{"vkgw_requests_total", "counter", "Requests that ended, whatever their status.",
	 offsetof(struct gw_stats_kernel, requests), NULL},
	{"vkgw_responses_total", "counter", "Responses sent to clients, by status class.",
	 offsetof(struct gw_stats_kernel, responses), &by_class},
	{"vkgw_received_bytes_total", "counter", "Request bytes received (heads and bodies, as the access log counts).",
	 offsetof(struct gw_stats_kernel, bytes_in), NULL},
	{"vkgw_sent_bytes_total", "counter", "Response bytes sent (heads and bodies, as the access log counts).",
	 offsetof(struct gw_stats_kernel, bytes_out), NULL},
	{"vkgw_tls_connections", "gauge",
	 "Listener connections whose TLS state is alive (freed when the connection's socket closes, however it ends).",
	 offsetof(struct gw_stats_kernel, tls_connections), NULL},
	{"vkgw_tls_memory_refused_total", "counter",
	 "BoringSSL allocations refused for want of room in a listener connection's TLS memory (its handshake fails).",
	 offsetof(struct gw_stats_kernel, tls_memory_refused), NULL},
	{"vkgw_tls_memory_leftover_total", "counter",
	 "Listener connections whose TLS memory still held blocks after their SSL was freed (a defect if not 0).",
	 offsetof(struct gw_stats_kernel, tls_memory_leftover), NULL},
	{"vkgw_proxy_headers_total", "counter",
	 "PROXY protocol headers taken on the listeners with proxy_protocol (their source stands for the peer).",
	 offsetof(struct gw_stats_kernel, proxy_headers), NULL},
	{"vkgw_proxy_headers_refused_total", "counter",
	 "Connections closed on a listener with proxy_protocol for a missing, late or malformed PROXY header.",
	 offsetof(struct gw_stats_kernel, proxy_headers_refused), NULL},
	{"vkgw_tls_handshakes_total", "counter", "TLS handshakes completed on the listeners.",
	 offsetof(struct gw_stats_kernel, tls_handshakes), NULL},
	{"vkgw_tls_handshake_failures_total", "counter",
	 "TLS handshakes on the listeners that did not complete, by reason (docs/config.md, admin).",
	 offsetof(struct gw_stats_kernel, tls_handshake_failures), &by_tls_failure},
};

/* vkern's counters (vk_sys.h), named after vk_sys_stat_name. */
static const char *const vkern_help[VK_STAT_COUNT] = {
	[VK_STAT_ACCEPTED] = "Connections the virtual kernel accepted (admin connections included).",
	[VK_STAT_PROCS_LIVE] = "Micro-processes alive now.",
	[VK_STAT_PROCS_ENDED] = "Micro-processes that ended.",
	[VK_STAT_PROCS_FAILED] = "Micro-processes ended by an unhandled error.",
	[VK_STAT_PROCS_KILLED] = "Micro-processes ended by an unhandled fault.",
	[VK_STAT_FAULTS_CAUGHT] = "Faults turned into an error a thread handled.",
	[VK_STAT_DISPATCHES] = "Micro-process dispatches.",
	[VK_STAT_POLL_REGISTERS] = "Registrations sent to the poll driver.",
	[VK_STAT_POLL_WAITS] = "Waits for events.",
	[VK_STAT_MPROTECTS] = "mprotect() calls that hid or showed an isolated micro-process's heap.",
	[VK_STAT_ACCEPT_EMFILE] = "Accepts refused for want of a file descriptor (EMFILE, ENFILE).",
	[VK_STAT_PREFETCHED_LINES] = "Cache lines of the next process to run prefetched before its dispatch.",
};

static const struct family upstream_families[] = {
	{"vkgw_upstream_requests_total", "counter", "Requests sent to an endpoint of the upstream.",
	 offsetof(struct upstream_view, requests), NULL},
	{"vkgw_upstream_responses_total", "counter",
	 "Responses to requests sent to the upstream, by status class (the gateway's 502 and 504 included).",
	 offsetof(struct upstream_view, responses), &by_class},
	{"vkgw_upstream_connect_failures_total", "counter", "Connects to the upstream's endpoints that failed.",
	 offsetof(struct upstream_view, connect_failures), NULL},
	{"vkgw_upstream_active_requests", "gauge", "Requests to the upstream in flight.",
	 offsetof(struct upstream_view, active), NULL},
	{"vkgw_upstream_refused_total", "counter",
	 "Requests answered 503 before reaching an endpoint (no healthy endpoint, circuit breaker).",
	 offsetof(struct upstream_view, refused), NULL},
	{"vkgw_upstream_connections", "gauge", "Connections to the upstream open (in use, connecting or kept alive).",
	 offsetof(struct upstream_view, connections), NULL},
	{"vkgw_upstream_kept_connections", "gauge", "Connections to the upstream kept alive for the next request.",
	 offsetof(struct upstream_view, kept), NULL},
	{"vkgw_upstream_waiting_requests", "gauge",
	 "Requests waiting for a connection to the upstream (max_connections reached).",
	 offsetof(struct upstream_view, waiting), NULL},
	{"vkgw_upstream_retries_total", "counter",
	 "Attempts at the upstream after a request's first (a failure, or a status the retry filter retries).",
	 offsetof(struct upstream_view, retries), NULL},
	{"vkgw_upstream_retries_active", "gauge", "Of those, in flight: what the retry budget weighs.",
	 offsetof(struct upstream_view, retries_active), NULL},
	{"vkgw_upstream_retry_budget_refused_total", "counter",
	 "Retries the upstream's retry budget refused (the answer went to the client as it was).",
	 offsetof(struct upstream_view, retry_budget_refused), NULL},
	{"vkgw_upstream_deadline_expired_total", "counter",
	 "Requests to the upstream answered 504 when their deadline passed.",
	 offsetof(struct upstream_view, deadline_expired), NULL},
	{"vkgw_upstream_hedges_total", "counter",
	 "Second attempts raced against a first one slow to answer (the retry filter's hedge).",
	 offsetof(struct upstream_view, hedges), NULL},
	{"vkgw_upstream_hedges_won_total", "counter", "Hedges whose response head came before the first attempt's.",
	 offsetof(struct upstream_view, hedges_won), NULL},
};

static const struct family endpoint_families[] = {
	{"vkgw_endpoint_requests_total", "counter",
	 "Requests whose last attempt went to the endpoint (an attempt retried elsewhere is counted there).",
	 offsetof(struct endpoint_view, requests), NULL},
	{"vkgw_endpoint_responses_total", "counter",
	 "Responses to the requests whose last attempt went to the endpoint, by status class (the gateway's 502 and "
	 "504 included).",
	 offsetof(struct endpoint_view, responses), &by_class},
	{"vkgw_endpoint_connect_failures_total", "counter", "Connects to the endpoint that failed.",
	 offsetof(struct endpoint_view, connect_failures), NULL},
	{"vkgw_endpoint_active_requests", "gauge", "Requests to the endpoint in flight.",
	 offsetof(struct endpoint_view, active), NULL},
	{"vkgw_endpoint_ejections_total", "counter", "Outlier ejections of the endpoint since the kernel started.",
	 offsetof(struct endpoint_view, ejections), NULL},
	{"vkgw_endpoint_ejected", "gauge", "1 while outlier detection has the endpoint ejected.",
	 offsetof(struct endpoint_view, ejected), NULL},
	{"vkgw_endpoint_unhealthy", "gauge", "1 while active health checks fail the endpoint.",
	 offsetof(struct endpoint_view, unhealthy), NULL},
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

static void prom_header(struct out *o_ptr, const char *name, const char *type, const char *help)
{
	put(o_ptr, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One family's series for one label set: `labels` without braces. */
static void prom_series(struct out *o_ptr, const struct family *f_ptr, const char *labels, const void *view_ptr)
{
	const uint64_t *value_ptr = (const uint64_t *)((const char *)view_ptr + f_ptr->offset);

	if (!f_ptr->array) {
		put(o_ptr, "%s{%s} %llu\n", f_ptr->name, labels, (unsigned long long)*value_ptr);
		return;
	}
	for (int i = 0; i < f_ptr->array->count; i++)
		put(o_ptr, "%s{%s,%s=\"%s\"} %llu\n", f_ptr->name, labels, f_ptr->array->name, f_ptr->array->values[i],
		    (unsigned long long)value_ptr[i]);
}

/* Long enough for kernel, upstream and endpoint labels. */
#define LABELS_MAX (3 * GW_CONFIG_NAME_MAX + 320)

/* ---- sources of the layers above ---- */

#define SOURCES_MAX 4

static struct {
	gw_stats_source_fn render;
	size_t max_bytes;
} sources[SOURCES_MAX];
static int source_count;

int gw_stats_add_source(gw_stats_source_fn render, size_t max_bytes)
{
	for (int i = 0; i < source_count; i++)
		if (sources[i].render == render)
			return 0;
	if (source_count == SOURCES_MAX)
		return -1;
	sources[source_count].render = render;
	sources[source_count++].max_bytes = max_bytes;
	return 0;
}

size_t gw_stats_sources_max(void)
{
	size_t total = 0;

	for (int i = 0; i < source_count; i++)
		total += sources[i].max_bytes;
	return total;
}

static size_t render_gateway(const struct gw_stats *stats_ptr, uint64_t now_ns, char *buf, size_t len);

size_t gw_stats_render_prometheus(const struct gw_stats *stats_ptr, uint64_t now_ns, char *buf, size_t len)
{
	size_t n = render_gateway(stats_ptr, now_ns, buf, len);

	for (int i = 0; i < source_count; i++)
		n += sources[i].render(n < len ? buf + n : NULL, n < len ? len - n : 0);
	return n;
}

static size_t render_gateway(const struct gw_stats *stats_ptr, uint64_t now_ns, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	char labels[LABELS_MAX], name[96];
	struct gw_stats_kernel kv;
	struct gw_stats_reload reload;
	int upstreams = gw_stats_upstream_count(stats_ptr), listeners = gw_stats_listener_count(stats_ptr);
	int shown_upstreams = 0, shown_endpoints = 0;

	for (int u = 0; u < upstreams; u++)
		if (gw_stats_shown(&stats_ptr->upstream_names_ptr[u].shown)) {
			shown_upstreams++;
			shown_endpoints += stats_ptr->upstream_names_ptr[u].endpoint_count;
		}

	for (size_t f = 0; f < COUNT_OF(kernel_families); f++) {
		prom_header(&o, kernel_families[f].name, kernel_families[f].type, kernel_families[f].help);
		for (int k = 0; k < stats_ptr->kernels; k++) {
			kernel_view(stats_ptr, k, k + 1, &kv);
			snprintf(labels, sizeof(labels), "kernel=\"%d\"", k);
			prom_series(&o, &kernel_families[f], labels, &kv);
		}
	}
	for (int i = 0; i < VK_STAT_COUNT; i++) {
		int gauge = i == VK_STAT_PROCS_LIVE;

		snprintf(name, sizeof(name), "vkgw_vkern_%s%s", vk_sys_stat_name((enum vk_stat)i),
			 gauge ? "" : "_total");
		prom_header(&o, name, gauge ? "gauge" : "counter",
			    vkern_help[i] ? vkern_help[i] : "A virtual kernel counter.");
		for (int k = 0; k < stats_ptr->kernels; k++)
			put(&o, "%s{kernel=\"%d\"} %llu\n", name, k,
			    (unsigned long long)gw_stats_load(&gw_stats_kernel_of(stats_ptr, k)->vkern[i]));
	}
	reload_view(stats_ptr, &reload);
	prom_header(&o, "vkgw_config_reloads_total", "counter",
		    "Reloads of the configuration asked (SIGHUP): accepted, or refused for problems in the new one.");
	put(&o,
	    "vkgw_config_reloads_total{result=\"accepted\"} %llu\nvkgw_config_reloads_total{result=\"refused\"} %llu\n",
	    (unsigned long long)reload.accepted, (unsigned long long)reload.refused);
	prom_header(&o, "vkgw_config_last_reload_successful", "gauge",
		    "0 when the last reload was refused (the problems are in /stats), else 1.");
	put(&o, "vkgw_config_last_reload_successful %d\n", !reload.last_refused);
	prom_header(&o, "vkgw_config_generation", "gauge",
		    "The configuration generation the kernel gives new requests (1: the file vkgw started with, "
		    "then one more per accepted reload).");
	for (int k = 0; k < stats_ptr->kernels; k++)
		put(&o, "vkgw_config_generation{kernel=\"%d\"} %llu\n", k,
		    (unsigned long long)gw_stats_load(&gw_stats_kernel_of(stats_ptr, k)->config_generation));
	prom_header(&o, "vkgw_listener_isolation", "gauge",
		    "1 when the listener's connections run isolated (mode: from filters of other connections, "
		    "or always), 0 when off.");
	for (int k = 0; k < stats_ptr->kernels; k++)
		for (int l = 0; l < listeners; l++) {
			const struct gw_stats_listener_name *l_ptr = &stats_ptr->listener_names_ptr[l];
			int isolation = (int)gw_stats_load32(&l_ptr->isolation);

			if (gw_stats_shown(&l_ptr->shown))
				put(&o, "vkgw_listener_isolation{kernel=\"%d\",listener=\"%s\",mode=\"%s\"} %d\n", k,
				    l_ptr->name, isolation_name(isolation), isolation != GW_ISOLATION_OFF);
		}
	if (shown_upstreams == 0)
		return o.len;
	for (size_t f = 0; f < COUNT_OF(upstream_families); f++) {
		prom_header(&o, upstream_families[f].name, upstream_families[f].type, upstream_families[f].help);
		for (int k = 0; k < stats_ptr->kernels; k++) {
			for (int u = 0; u < upstreams; u++) {
				struct upstream_view uv;

				if (!gw_stats_shown(&stats_ptr->upstream_names_ptr[u].shown))
					continue;
				upstream_view(stats_ptr, k, k + 1, u, now_ns, &uv);
				snprintf(labels, sizeof(labels), "kernel=\"%d\",upstream=\"%s\"", k,
					 stats_ptr->upstream_names_ptr[u].name);
				prom_series(&o, &upstream_families[f], labels, &uv);
			}
		}
	}
	if (shown_endpoints == 0)
		return o.len;
	for (size_t f = 0; f < COUNT_OF(endpoint_families); f++) {
		prom_header(&o, endpoint_families[f].name, endpoint_families[f].type, endpoint_families[f].help);
		for (int k = 0; k < stats_ptr->kernels; k++) {
			for (int u = 0; u < upstreams; u++) {
				const struct gw_stats_upstream_name *up_ptr = &stats_ptr->upstream_names_ptr[u];

				if (!gw_stats_shown(&up_ptr->shown))
					continue;
				for (int e = 0; e < up_ptr->endpoint_count; e++) {
					struct endpoint_view ev;

					endpoint_view(stats_ptr, k, k + 1, u, e, now_ns, &ev);
					snprintf(labels, sizeof(labels),
						 "kernel=\"%d\",upstream=\"%s\",endpoint=\"%s\"", k, up_ptr->name,
						 stats_ptr->endpoint_names_ptr[up_ptr->endpoint_first + e].address);
					prom_series(&o, &endpoint_families[f], labels, &ev);
				}
			}
		}
	}
	return o.len;
}
