/* vkgw: the gateway program. It sits in deploy/, above every layer, because
 * it wires them together: filters, upstreams, config and the gateway.
 *
 *   vkgw -c FILE            run on the configuration in FILE
 *   vkgw --check -c FILE    validate FILE: exit 0, or 1 with every problem
 *                           as FILE:LINE:COL: /json/pointer: message
 *   vkgw --version | --help
 *
 * Start-up loads the configuration into an immutable snapshot, turns every
 * listener into a vkern service whose connections run gw_conn_main, and
 * starts the kernels. Each kernel builds its first configuration
 * generation (gw_generation.h: its upstream state, balancing, health,
 * circuit breakers, and its filters' state) and its own access log buffer
 * in the kernel-start hook. A reload (SIGHUP) is checked where the signal
 * is taken, posted to the kernels in a mailbox, and each kernel builds the
 * next generation from those very bytes. Shared between kernels: the
 * counter table the admin listener reads (gw_stats.h), the reload mailbox,
 * and the table of resolved DNS endpoints that a resolver process forked
 * here (before any listening socket) keeps up to date; all are mapped
 * before the kernels fork. */
#include "gw_access_log.h"
#include "gw_admin.h"
#include "gw_admin_s.h"
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_config_tls.h"
#include "gw_conn.h"
#include "gw_conn_s.h"
#include "gw_diag.h"
#include "gw_filter_states.h"
#include "gw_filters.h"
#include "gw_generation.h"
#include "gw_geo.h"
#include "gw_generation_s.h"
#include "gw_pipeline.h"
#include "gw_stats.h"
#include "gw_tls.h"
#include "gw_tls_client.h"
#include "gw_watch.h"
#include "gw_resolver.h"
#include "gw_resolver_process.h"
#include "gw_upstreams.h"

#include "vk_mailbox.h"
#include "gw_rate_table.h"
#include "vk_poll.h"
#include "vk_runtime.h"
#include "vk_service.h"
#include "vk_sys.h"
#include "vk_timer.h"
#include "vk_upgrade.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define GW_RESOLVER_RESTARTS_MAX_SLOTS 5
#define GW_VERSION "0.1.0"
#define GW_RING_BYTES (16 * 1024)
/* vkern's limit (vk_runtime.c). */
#define GW_KERNELS_MAX 256
/* An hour: a longer drain is a mistake, not a wish. */
#define GW_GRACE_MS_MAX 3600000

/* A listener in one kernel: its service, and what it gives its
 * connections (gw_conn_listener: where its config is in the newest
 * generation). Found again across reloads by name, address and port. */
struct gw_program_listener {
	char *name;
	char *address;
	int port;
	struct vk_service *service_ptr;
	struct gw_conn_listener conn; /* index -1: a reload closed it */
	struct gw_tls *first_tls_ptr; /* those vkgw started with: made before the fork; NULL: plain */
};

struct gw_program {
	const char *config_path;
	/* The configuration vkgw started with: the listeners, the admin
	 * listener, the stats table's and the resolver's layout come from it. */
	struct gw_config *config_ptr;
	/* This kernel's listeners: those vkgw started with (made before the
	 * fork), then those reloads opened; closed ones stay for their
	 * connections. */
	struct gw_program_listener **listeners_ptr;
	int listener_count;
	int cli_isolation; /* --isolation, overriding each listener's; -1: none */
	/* Where the process that takes SIGHUP compares a reload: the last
	 * configuration accepted (the listeners it has). */
	struct gw_config *running_ptr;
	struct vk_mailbox *mailbox_ptr; /* checked configurations, supervisor to kernels */
	uint64_t generation;		/* the newest posted (1: the one vkgw started with) */
	unsigned kernel_seed;		/* this kernel's, for its balancers */
	struct gw_stats *stats_ptr;	/* shared by the kernels; NULL without an admin listener */
	struct gw_admin_config admin_config;
	struct gw_resolver *resolver_ptr;			    /* shared by every process */
	pid_t resolver_pid;					    /* 0: no DNS endpoints */
	uint64_t resolver_restarts[GW_RESOLVER_RESTARTS_MAX_SLOTS]; /* when it was started again */
	int resolver_restart_count;
	int watch_config;	      /* --watch: the watcher watches the configuration file too */
	pid_t watch_pid;	      /* the file watcher; 0: nothing to watch */
	struct gw_geo_table *geo_ptr; /* the geo databases every process shares; NULL: none */
	pid_t geo_loader_pid;	      /* watches and validates them; 0: none */
	int geo_loader_restarts;      /* in the window that began at geo_loader_window_ns */
	uint64_t geo_loader_window_ns;
};

static void usage(FILE *out_ptr)
{
	fprintf(out_ptr,
		"usage: vkgw -c FILE [-k KERNELS] [-P DRIVER] [-g GRACE_MS] [--isolation MODE] [--watch] [-v] [-s]\n"
		"       vkgw --check -c FILE\n"
		"       vkgw --version\n"
		"  -c, --config FILE   the JSON configuration (docs/config.md)\n"
		"      --check         validate the configuration and exit\n"
		"  -k KERNELS          kernels, 1 to 256 (default: the first listener's \"kernels\", else one per "
		"CPU)\n"
		"  -P DRIVER           poll driver: epoll, epoll-oneshot, poll, aio, uring\n"
		"  -g GRACE_MS         how long SIGTERM waits for live connections, 0 to 3600000 (default 10000)\n"
		"      --isolation MODE  every listener's isolation, overriding its \"isolation\": off, filters\n"
		"                      (each connection's heap hidden from other connections' filters) or always\n"
		"                      (hidden whenever another connection runs)\n"
		"      --no-isolation  the same as --isolation off\n"
		"      --watch         reload when the configuration file changes (inotify; a renamed-over\n"
		"                      file and a Kubernetes ConfigMap's ..data swap count), as SIGHUP does\n"
		"  -v                  log every failed connection process\n"
		"  -s                  print kernel counters at exit\n");
}

static int parse_isolation(const char *text, int *out_ptr)
{
	for (int i = 0; gw_isolation_names[i]; i++) {
		if (strcmp(text, gw_isolation_names[i]) == 0) {
			*out_ptr = i;
			return 0;
		}
	}
	fprintf(stderr, "vkgw: --isolation: expected off, filters or always, not '%s'\n", text);
	return -1;
}

/* The gateway's modes in vkern's terms: a filter is the untrusted code. */
static enum vk_isolation vk_isolation_of(int isolation)
{
	switch (isolation) {
	case GW_ISOLATION_FILTERS:
		return VK_ISOLATION_UNTRUSTED;
	case GW_ISOLATION_ALWAYS:
		return VK_ISOLATION_ALWAYS;
	default:
		return VK_ISOLATION_OFF;
	}
}

/* A listener's isolation: the command line's, if it gave one. */
static int listener_isolation(const struct gw_program *program_ptr, const struct gw_config_listener *listener_ptr)
{
	return program_ptr->cli_isolation >= 0 ? program_ptr->cli_isolation : listener_ptr->isolation;
}

/* A whole decimal number from min to max, or -1 after saying why (the
 * caller exits 2, as for any other usage error). */
static int parse_number(const char *option, const char *text, long min, long max, long *out_ptr)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	/* strtol skips leading blanks: the whole text must be the number. */
	if (errno || end == text || *end || isspace((unsigned char)*text) || v < min || v > max) {
		fprintf(stderr, "vkgw: %s takes a whole number from %ld to %ld, not \"%s\"\n", option, min, max, text);
		return -1;
	}
	*out_ptr = v;
	return 0;
}

/* One of vkern's poll drivers, or -1 after listing them. */
static int check_poll_driver(const char *name)
{
	const char *const *names_ptr = vk_poll_driver_names();

	for (int i = 0; names_ptr[i]; i++)
		if (strcmp(names_ptr[i], name) == 0)
			return 0;
	fprintf(stderr, "vkgw: -P: unknown poll driver \"%s\" (one of:", name);
	for (int i = 0; names_ptr[i]; i++)
		fprintf(stderr, " %s", names_ptr[i]);
	fprintf(stderr, ")\n");
	return -1;
}

/* One configuration generation in this kernel (gateway/gw_generation.h):
 * what its connection configs point to. */
struct gw_program_generation {
	struct gw_generation generation;
	const struct gw_config *config_ptr; /* held */
	struct gw_upstreams *upstreams_ptr;
	struct gw_filter_states *filter_states_ptr;
	int owns_tls; /* its TLS contexts were made by this kernel (not before the fork) */
	struct gw_conn_config conn_configs[];
};

static void fill_conn_config(struct gw_conn_config *conn_ptr, const struct gw_config *config_ptr)
{
	memset(conn_ptr, 0, sizeof(*conn_ptr));
	conn_ptr->limits = config_ptr->http.limits;
	conn_ptr->header_timeout_ms = (uint64_t)config_ptr->timeouts.header_ms;
	conn_ptr->body_idle_ms = (uint64_t)config_ptr->timeouts.body_idle_ms;
	conn_ptr->keepalive_idle_ms = (uint64_t)config_ptr->timeouts.keepalive_idle_ms;
	conn_ptr->handshake_ms = (uint64_t)config_ptr->timeouts.handshake_ms;
	conn_ptr->via = config_ptr->http.via;
	conn_ptr->trusted_hops = config_ptr->http.trusted_hops;
	conn_ptr->geo = config_ptr->geo.enabled;
	conn_ptr->client_rule = (struct gw_client_rule){
		.from = config_ptr->geo.client_from == GW_CONFIG_CLIENT_X_FORWARDED_FOR ? GW_CLIENT_FROM_X_FORWARDED_FOR
			: config_ptr->geo.client_from == GW_CONFIG_CLIENT_FORWARDED	? GW_CLIENT_FROM_FORWARDED
											: GW_CLIENT_FROM_PEER,
		.trusted_hops = config_ptr->geo.trusted_hops,
		.trusted_ptr = config_ptr->geo.trusted_ptr,
		.trusted_count = config_ptr->geo.trusted_count,
	};
	conn_ptr->ring_bytes = GW_RING_BYTES;
	conn_ptr->body_buffer_bytes =
		gw_pipeline_config_wants_bodies(config_ptr) ? config_ptr->http.max_buffered_body_bytes : 0;
	conn_ptr->config_ptr = config_ptr;
}

static void generation_free(struct gw_generation *generation_ptr)
{
	struct gw_program_generation *g_ptr = generation_ptr->owner_ptr;

	gw_upstreams_destroy(g_ptr->upstreams_ptr);
	gw_filter_states_destroy(g_ptr->filter_states_ptr);
	for (int i = 0; g_ptr->owns_tls && i < generation_ptr->listener_count; i++)
		if (g_ptr->conn_configs[i].tls_ptr)
			gw_tls_retire(g_ptr->conn_configs[i].tls_ptr);
	gw_config_free(g_ptr->config_ptr);
	free(g_ptr);
}

/* Listener i's TLS contexts in a new generation: those made before the
 * fork for the first; after a reload, for a listener it keeps, its new
 * settings with the session ticket secret of the contexts before (tickets
 * still resume, and every kernel still agrees); for one it opens, a secret
 * every kernel derives alike. 0, or -1 after saying why. */
static int generation_tls(struct gw_program *program_ptr, struct gw_program_generation *g_ptr,
			  const struct gw_program_generation *previous_ptr, int i)
{
	const struct gw_config_listener *listener_ptr = &g_ptr->config_ptr->listeners_ptr[i];
	struct gw_tls **tls_ptr_ptr = &g_ptr->conn_configs[i].tls_ptr;
	char error[512];
	int kept;

	if (!previous_ptr) {
		*tls_ptr_ptr = program_ptr->listeners_ptr[i]->first_tls_ptr;
		return 0;
	}
	g_ptr->owns_tls = 1;
	if (!listener_ptr->tls.enabled)
		return 0;
	kept = gw_config_listener_kept(previous_ptr->config_ptr, listener_ptr);
	if (kept >= 0 && previous_ptr->conn_configs[kept].tls_ptr)
		*tls_ptr_ptr = gw_tls_reload(&listener_ptr->tls, previous_ptr->conn_configs[kept].tls_ptr, error,
					     sizeof(error));
	else
		*tls_ptr_ptr = gw_tls_create_named(&listener_ptr->tls, listener_ptr->name, error, sizeof(error));
	if (!*tls_ptr_ptr) {
		fprintf(stderr, "vkgw: kernel %d: listener %s: %s\n", vk_sys_kernel_index(), listener_ptr->name, error);
		return -1;
	}
	return 0;
}

/* This kernel's generation of `config_ptr` (held from here), after
 * `previous_ptr` (NULL: the first), whose upstream and filter state it
 * takes over where it can. NULL after saying why: nothing changed. */
static struct gw_program_generation *generation_create(struct gw_program *program_ptr,
						       const struct gw_config *config_ptr,
						       const struct gw_program_generation *previous_ptr,
						       uint64_t number)
{
	int n = config_ptr->listener_count;
	struct gw_program_generation *g_ptr = calloc(1, sizeof(*g_ptr) + sizeof(struct gw_conn_config) * (size_t)n);

	if (!g_ptr)
		return NULL;
	gw_config_hold(config_ptr);
	g_ptr->config_ptr = config_ptr;
	g_ptr->generation.number = number;
	g_ptr->generation.conn_configs_ptr = g_ptr->conn_configs;
	g_ptr->generation.listener_count = n;
	g_ptr->generation.free_fn = generation_free;
	g_ptr->generation.owner_ptr = g_ptr;
	g_ptr->upstreams_ptr =
		gw_upstreams_create(config_ptr, program_ptr->kernel_seed,
				    previous_ptr ? previous_ptr->upstreams_ptr : NULL, program_ptr->resolver_ptr);
	/* What the filters keep across requests (caches, buckets), made before
	 * the first request, handed over from the generation before. */
	g_ptr->filter_states_ptr =
		gw_filter_states_create(config_ptr, previous_ptr ? previous_ptr->filter_states_ptr : NULL);
	if (!g_ptr->upstreams_ptr || !g_ptr->filter_states_ptr) {
		fprintf(stderr, "vkgw: kernel %d: cannot set up the upstreams and filters of configuration %llu\n",
			vk_sys_kernel_index(), (unsigned long long)number);
		generation_free(&g_ptr->generation);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		fill_conn_config(&g_ptr->conn_configs[i], config_ptr);
		g_ptr->conn_configs[i].proxy_protocol = config_ptr->listeners_ptr[i].proxy_protocol;
		gw_upstreams_ops(g_ptr->upstreams_ptr, &g_ptr->conn_configs[i].upstream_ops);
		g_ptr->conn_configs[i].filter_states_ptr = g_ptr->filter_states_ptr;
		g_ptr->conn_configs[i].generation_ptr = &g_ptr->generation;
		if (generation_tls(program_ptr, g_ptr, previous_ptr, i) == -1) {
			generation_free(&g_ptr->generation);
			return NULL;
		}
	}
	return g_ptr;
}

/* Makes `g_ptr` the one new requests take, and starts the health checks
 * of the upstreams it did not take over. */
static void generation_publish(struct gw_program_generation *g_ptr)
{
	gw_generation_publish(&g_ptr->generation);
	gw_stats_config_generation(g_ptr->generation.number);
	if (gw_upstreams_start_health_checks(g_ptr->upstreams_ptr) == -1)
		fprintf(stderr, "vkgw: kernel %d: cannot start the health checks\n", vk_sys_kernel_index());
}

/* The newest checked configuration, if newer than `after` (held): the
 * snapshot the check loaded when this process made it, else loaded from
 * the very bytes the supervisor checked, in the mailbox. NULL if there is
 * none (or after saying why it did not load: the files it names may have
 * changed since the check). */
static struct gw_config *posted_config(struct gw_program *program_ptr, uint64_t after, uint64_t *number_ptr)
{
	struct gw_diag *diag_ptr;
	struct gw_config *config_ptr = NULL;
	char *text_ptr;
	size_t len;

	/* This process checked it itself (a lone kernel; a kernel the
	 * supervisor started again after the check): the snapshot the check
	 * loaded is the one posted, so it is not parsed a second time. */
	if (program_ptr->generation > after && program_ptr->running_ptr) {
		*number_ptr = program_ptr->generation;
		gw_config_hold(program_ptr->running_ptr);
		return program_ptr->running_ptr;
	}
	text_ptr = vk_mailbox_take(program_ptr->mailbox_ptr, after, number_ptr, &len);
	if (!text_ptr) {
		if (errno != ENOMSG)
			fprintf(stderr, "vkgw: kernel %d: cannot read the new configuration: %s\n",
				vk_sys_kernel_index(), strerror(errno));
		return NULL;
	}
	diag_ptr = gw_diag_create();
	if (diag_ptr)
		config_ptr = gw_config_load_text(text_ptr, len, program_ptr->config_path, diag_ptr);
	if (!config_ptr) {
		fprintf(stderr, "vkgw: kernel %d: configuration %llu does not load here; keeping the one before:\n",
			vk_sys_kernel_index(), (unsigned long long)*number_ptr);
		if (diag_ptr)
			gw_config_print_errors(stderr, program_ptr->config_path, diag_ptr, NULL);
	}
	gw_diag_destroy(diag_ptr);
	free(text_ptr);
	return config_ptr;
}

static void generation_switch(struct gw_program *program_ptr, struct gw_program_generation *g_ptr);

/* Kernel start: this kernel's first generation and access log. A kernel
 * started again after a crash takes the newest configuration posted. */
static void kernel_start(void *ctx_ptr, int kernel_index)
{
	struct gw_program *program_ptr = ctx_ptr;
	const struct gw_config *config_ptr = program_ptr->config_ptr;
	struct gw_config *posted_ptr;
	struct gw_program_generation *g_ptr;
	uint64_t number = 1;

	/* First: the upstreams publish their endpoints' health from the start. */
	if (program_ptr->stats_ptr)
		gw_stats_attach(program_ptr->stats_ptr, kernel_index);
	program_ptr->kernel_seed = (unsigned)kernel_index + 1;
	g_ptr = generation_create(program_ptr, config_ptr, NULL, number);
	if (!g_ptr) {
		fprintf(stderr, "vkgw: kernel %d: cannot set up the configuration\n", kernel_index);
		exit(1);
	}
	generation_publish(g_ptr);
	/* The geo databases the loader accepted, mapped before any request. */
	gw_geo_kernel_start(program_ptr->geo_ptr, kernel_index);
	posted_ptr = posted_config(program_ptr, number, &number);
	if (posted_ptr) {
		struct gw_program_generation *next_ptr = generation_create(program_ptr, posted_ptr, g_ptr, number);

		gw_config_free(posted_ptr);
		if (next_ptr)
			generation_switch(program_ptr, next_ptr);
	}
	if (config_ptr->access_log.enabled &&
	    gw_access_log_open(config_ptr->access_log.to_stdout ? "-" : config_ptr->access_log.path,
			       config_ptr->access_log.buffer_bytes) == -1)
		fprintf(stderr, "vkgw: kernel %d: cannot open the access log %s\n", kernel_index,
			config_ptr->access_log.path);
}

static void before_wait(void *ctx_ptr)
{
	(void)ctx_ptr;
	gw_access_log_flush();
	gw_generation_collect();
	gw_stats_publish_kernel();
	/* A geo database the loader accepted since: mapped between turns. */
	gw_geo_kernel_follow();
}

/* SIGUSR1 reopens the access log (logrotate renames it, then signals);
 * SIGUSR2 (the binary upgrade) is vkern's (vk_upgrade.h). */
static void user_signal(void *ctx_ptr, int kernel_index, int signo)
{
	const struct gw_program *program_ptr = ctx_ptr;

	if (signo != SIGUSR1 || !gw_access_log_is_open())
		return;
	if (gw_access_log_reopen() == -1)
		fprintf(stderr, "vkgw: kernel %d: SIGUSR1: cannot reopen the access log %s: %s\n", kernel_index,
			program_ptr->config_path, strerror(errno));
}

/* The listener's service, its connections' memory sized for `conn_ptr`;
 * NULL after saying why. */
static struct vk_service *listener_service(struct gw_program_listener *listener_ptr, int isolation,
					   const struct gw_conn_config *conn_ptr)
{
	struct vk_service *service_ptr = vk_service_create(listener_ptr->name, gw_conn_main, &listener_ptr->conn);

	if (!service_ptr || vk_service_set_address(service_ptr, listener_ptr->address, listener_ptr->port) == -1) {
		fprintf(stderr, "vkgw: listener %s: bad address %s:%d\n", listener_ptr->name, listener_ptr->address,
			listener_ptr->port);
		vk_service_destroy(service_ptr);
		return NULL;
	}
	vk_service_set_isolation(service_ptr, vk_isolation_of(isolation));
	vk_service_set_heap_pages(service_ptr,
				  gw_conn_heap_pages(conn_ptr->limits.max_head_bytes, GW_RING_BYTES,
						     conn_ptr->body_buffer_bytes, conn_ptr->tls_ptr != NULL));
	vk_service_set_buffers(service_ptr, GW_RING_BYTES, GW_RING_BYTES);
	return service_ptr;
}

/* A listener entry for `listener_ptr` (its index in its configuration:
 * `index`), without a service yet; NULL without memory. */
static struct gw_program_listener *listener_entry(struct gw_program *program_ptr,
						  const struct gw_config_listener *listener_ptr, int index)
{
	struct gw_program_listener **grown_ptr =
		realloc(program_ptr->listeners_ptr, sizeof(*grown_ptr) * (size_t)(program_ptr->listener_count + 1));
	struct gw_program_listener *entry_ptr = calloc(1, sizeof(*entry_ptr));

	if (grown_ptr)
		program_ptr->listeners_ptr = grown_ptr;
	if (!grown_ptr || !entry_ptr || !(entry_ptr->name = strdup(listener_ptr->name)) ||
	    !(entry_ptr->address = strdup(listener_ptr->address))) {
		if (entry_ptr)
			free(entry_ptr->name);
		free(entry_ptr);
		return NULL;
	}
	entry_ptr->port = listener_ptr->port;
	entry_ptr->conn.index = index;
	program_ptr->listeners_ptr[program_ptr->listener_count++] = entry_ptr;
	return entry_ptr;
}

/* The open listener of this kernel a configuration's listener is: the
 * same name, address and port; NULL if there is none. */
static struct gw_program_listener *listener_open_as(const struct gw_program *program_ptr,
						    const struct gw_config_listener *listener_ptr)
{
	for (int i = 0; i < program_ptr->listener_count; i++) {
		struct gw_program_listener *entry_ptr = program_ptr->listeners_ptr[i];

		if (entry_ptr->conn.index >= 0 && strcmp(entry_ptr->name, listener_ptr->name) == 0 &&
		    strcmp(entry_ptr->address, listener_ptr->address) == 0 && entry_ptr->port == listener_ptr->port)
			return entry_ptr;
	}
	return NULL;
}

/* The listeners of a new generation this kernel does not have yet start
 * listening (before the generation is published: no connection can come
 * until the reload hook returns). One that cannot is named, and its
 * requests go nowhere: the rest of the reload stands. Its entry is made
 * closed (index -1) until listeners_follow opens it to requests. */
static void listeners_open(struct gw_program *program_ptr, const struct gw_program_generation *g_ptr)
{
	const struct gw_config *config_ptr = g_ptr->config_ptr;

	for (int i = 0; i < config_ptr->listener_count; i++) {
		const struct gw_config_listener *listener_ptr = &config_ptr->listeners_ptr[i];
		struct gw_program_listener *entry_ptr;

		if (listener_open_as(program_ptr, listener_ptr))
			continue;
		entry_ptr = listener_entry(program_ptr, listener_ptr, -1);
		if (entry_ptr)
			entry_ptr->service_ptr = listener_service(
				entry_ptr, listener_isolation(program_ptr, listener_ptr), &g_ptr->conn_configs[i]);
		if (!entry_ptr || !entry_ptr->service_ptr || vk_sys_open_service(entry_ptr->service_ptr) == -1) {
			fprintf(stderr, "vkgw: kernel %d: listener %s cannot listen on %s:%d: %s\n",
				vk_sys_kernel_index(), listener_ptr->name, listener_ptr->address, listener_ptr->port,
				strerror(errno));
			if (entry_ptr && entry_ptr->service_ptr) {
				vk_service_destroy(entry_ptr->service_ptr);
				entry_ptr->service_ptr = NULL;
			}
			continue;
		}
		entry_ptr->conn.index = -2; /* opened, waiting for listeners_follow */
		fprintf(stderr, "vkgw: kernel %d: listener %s listening on %s:%d\n", vk_sys_kernel_index(),
			listener_ptr->name, listener_ptr->address, listener_ptr->port);
	}
}

/* The generation just published: each listener finds its config in it
 * (its index there); one it no longer has stops accepting, and its
 * connections end after the request they are in (gw_conn.c). */
static void listeners_follow(struct gw_program *program_ptr, const struct gw_config *config_ptr)
{
	for (int i = 0; i < program_ptr->listener_count; i++) {
		struct gw_program_listener *entry_ptr = program_ptr->listeners_ptr[i];
		int index = -1;

		if (!entry_ptr->service_ptr || entry_ptr->conn.index == -1)
			continue;
		for (int l = 0; l < config_ptr->listener_count && index < 0; l++) {
			const struct gw_config_listener *listener_ptr = &config_ptr->listeners_ptr[l];

			if (strcmp(entry_ptr->name, listener_ptr->name) == 0 &&
			    strcmp(entry_ptr->address, listener_ptr->address) == 0 &&
			    entry_ptr->port == listener_ptr->port)
				index = l;
		}
		entry_ptr->conn.index = index;
		if (index >= 0)
			continue;
		vk_sys_close_service(entry_ptr->service_ptr);
		fprintf(stderr, "vkgw: kernel %d: listener %s closed on %s:%d\n", vk_sys_kernel_index(),
			entry_ptr->name, entry_ptr->address, entry_ptr->port);
	}
}

/* Publishes a generation built from a reload, with its listeners. */
static void generation_switch(struct gw_program *program_ptr, struct gw_program_generation *g_ptr)
{
	listeners_open(program_ptr, g_ptr);
	generation_publish(g_ptr);
	listeners_follow(program_ptr, g_ptr->config_ptr);
}

/* A reload, in each kernel, after reload_check posted the new
 * configuration: the next generation is built from it (certificate and
 * key files read again) and new requests take it; requests under way
 * finish on theirs. If it cannot be built here, the kernel says so and
 * keeps the generation it has. */
static void reload(void *ctx_ptr, int kernel_index)
{
	struct gw_program *program_ptr = ctx_ptr;
	struct gw_generation *current_ptr = gw_generation_current();
	struct gw_program_generation *next_ptr;
	struct gw_config *config_ptr;
	uint64_t number, began_ns = vk_now_ns();

	config_ptr = posted_config(program_ptr, current_ptr->number, &number);
	if (!config_ptr)
		return;
	next_ptr = generation_create(program_ptr, config_ptr, current_ptr->owner_ptr, number);
	gw_config_free(config_ptr);
	if (!next_ptr) {
		fprintf(stderr, "vkgw: kernel %d: configuration %llu not applied; keeping %llu\n", kernel_index,
			(unsigned long long)number, (unsigned long long)current_ptr->number);
		return;
	}
	generation_switch(program_ptr, next_ptr);
	/* How long this kernel's connections waited for it. */
	fprintf(stderr, "vkgw: kernel %d: configuration %llu applied (built in %.3f ms)\n", kernel_index,
		(unsigned long long)number, (double)(vk_now_ns() - began_ns) / 1e6);
}

/* The problems a refused reload reports in /stats, at most. */
#define GW_RELOAD_PROBLEMS_MAX 2048

/* What the kernels cannot change while they run, beyond what the config
 * layer refuses (gw_config_check_reload): each listener's connection
 * heaps are sized at start by the request head limit and the body buffer
 * filters may ask for. */
static void check_heap_sizes(const struct gw_config *running_ptr, const struct gw_config *fresh_ptr,
			     struct gw_diag *diag_ptr)
{
	struct gw_conn_config was, now;

	fill_conn_config(&was, running_ptr);
	fill_conn_config(&now, fresh_ptr);
	if (was.limits.max_head_bytes != now.limits.max_head_bytes)
		gw_diag_error(diag_ptr, "/http/max_head_bytes",
			      "was %zu: connection memory is sized by it at start; restart vkgw to change it",
			      was.limits.max_head_bytes);
	if (was.body_buffer_bytes != now.body_buffer_bytes)
		gw_diag_error(diag_ptr, "/http/max_buffered_body_bytes",
			      "the body buffer filters get was %zu bytes, now %zu (this value, or whether any "
			      "route's filters read bodies): connection memory is sized by it at start; restart "
			      "vkgw to change it",
			      was.body_buffer_bytes, now.body_buffer_bytes);
}

/* The address of each listener the reload opens (or moves) is bound
 * once here, as the kernels will bind it (SO_REUSEPORT), and let go: an
 * address in use by another program, one this host does not have, or a
 * port it may not bind is a problem of the file, reported at its place,
 * not a surprise in every kernel. */
static void check_new_ports(const struct gw_config *running_ptr, const struct gw_config *fresh_ptr,
			    struct gw_diag *diag_ptr)
{
	for (int i = 0; i < fresh_ptr->listener_count; i++) {
		const struct gw_config_listener *listener_ptr = &fresh_ptr->listeners_ptr[i];
		char pointer[64];
		int one = 1, fd;

		if (gw_config_listener_kept(running_ptr, listener_ptr) >= 0 || listener_ptr->port == 0)
			continue;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
		    bind(fd, (const struct sockaddr *)&listener_ptr->sockaddr, sizeof(listener_ptr->sockaddr)) == -1) {
			snprintf(pointer, sizeof(pointer), "/listeners/%d/port", i);
			gw_diag_error(diag_ptr, pointer, "cannot listen on %s:%d: %s", listener_ptr->address,
				      listener_ptr->port, strerror(errno));
		}
		if (fd != -1)
			close(fd);
	}
}

/* How each listener of `config_ptr` isolates, as /stats shows it. */
static void stats_show_isolation(const struct gw_program *program_ptr, const struct gw_config *config_ptr)
{
	for (int i = 0; i < config_ptr->listener_count; i++)
		gw_stats_set_isolation(program_ptr->stats_ptr, config_ptr->listeners_ptr[i].name,
				       listener_isolation(program_ptr, &config_ptr->listeners_ptr[i]));
}

/* /stats and /metrics show the upstreams and listeners of an accepted
 * reload before any kernel counts for them. */
static void stats_show_config(struct gw_program *program_ptr, const struct gw_config *fresh_ptr)
{
	int missing;

	if (!program_ptr->stats_ptr)
		return;
	missing = gw_stats_show_config(program_ptr->stats_ptr, fresh_ptr);
	if (missing > 0)
		fprintf(stderr,
			"vkgw: reload: %d upstream%s or listener%s not counted in /stats and /metrics: the table "
			"has no room left for more (restart vkgw)\n",
			missing, missing == 1 ? "" : "s", missing == 1 ? "" : "s");
	stats_show_isolation(program_ptr, fresh_ptr);
}

/* The DNS names a reload adds (vkgw did not start with them) need room
 * in the resolver's table, which is sized at start (GW_RESOLVER_SPARE
 * over vkgw's life). */
static void check_dns_room(const struct gw_program *program_ptr, const struct gw_config *fresh_ptr,
			   struct gw_diag *diag_ptr)
{
	int wanted = gw_resolver_new_names(program_ptr->resolver_ptr, fresh_ptr);
	int room = gw_resolver_room(program_ptr->resolver_ptr);
	char pointer[128];

	if (wanted <= room)
		return;
	for (int u = 0; u < fresh_ptr->upstream_count; u++) {
		const struct gw_config_upstream *up_ptr = &fresh_ptr->upstreams_ptr[u];

		for (int e = 0; e < up_ptr->endpoint_count; e++) {
			if (up_ptr->endpoints_ptr[e].kind != GW_CONFIG_ENDPOINT_DNS ||
			    gw_resolver_find_address(program_ptr->resolver_ptr, up_ptr->endpoints_ptr[e].address))
				continue;
			snprintf(pointer, sizeof(pointer), "/upstreams/%s/endpoints/%d", up_ptr->name, e);
			gw_diag_error(
				diag_ptr, pointer,
				"%s: this file adds %d DNS names vkgw did not start with, and the resolver has "
				"room for %d more (reloads may add %d over vkgw's life); restart vkgw to add them",
				up_ptr->endpoints_ptr[e].address, wanted, room, GW_RESOLVER_SPARE);
			return;
		}
	}
}

/* The longest the supervisor waits for the first answers about the DNS
 * names a reload adds. */
#define GW_RELOAD_DNS_WAIT_NS (2000ull * 1000000ull)

/* A checked reload's new DNS names go into the resolver's table before any
 * kernel builds the generation that names them, and the resolver process
 * (started now if vkgw had no name to resolve) resolves them at once. The
 * supervisor waits for their first answers (at most
 * GW_RELOAD_DNS_WAIT_NS), so that the new generation's first requests
 * find addresses; a lone kernel does not, since its connections would
 * wait with it: until the answer, such an endpoint has no address, like
 * a name that fails at start. */
static void add_dns_names(struct gw_program *program_ptr, const struct gw_config *fresh_ptr)
{
	int first = gw_resolver_add_new(program_ptr->resolver_ptr, fresh_ptr);
	int count = gw_resolver_count(program_ptr->resolver_ptr);
	uint64_t deadline = gw_resolver_now_ns() + GW_RELOAD_DNS_WAIT_NS;

	if (first < 0 || first == count)
		return;
	fprintf(stderr, "vkgw: reload: %d DNS name%s to resolve\n", count - first, count - first == 1 ? "" : "s");
	if (program_ptr->resolver_pid <= 0)
		program_ptr->resolver_pid = gw_resolver_process_start(program_ptr->resolver_ptr);
	else
		gw_resolver_process_wake(program_ptr->resolver_pid);
	if (program_ptr->resolver_pid <= 0 || vk_sys_kernel_index() >= 0)
		return;
	for (int i = first; i < count; i++)
		while (!gw_resolver_answered(gw_resolver_entry_at(program_ptr->resolver_ptr, i)) &&
		       gw_resolver_now_ns() < deadline) {
			struct timespec ts = {0, 1000000}; /* polled: the answer comes from another process */

			nanosleep(&ts, NULL);
		}
}

/* SIGHUP, where it is taken (the supervisor, or a lone kernel), before any
 * kernel reloads: the configuration file is read and checked as --check
 * does, certificate files included, and against what cannot change while
 * vkgw runs. With problems, nothing reloads: they are logged as
 * FILE:LINE:COL: /pointer: message, and /stats and /metrics count the
 * refusal (the problems are in /stats). Else the very bytes checked are
 * posted to the kernels as the next generation. 0, or -1. */
static int reload_check(void *ctx_ptr)
{
	struct gw_program *program_ptr = ctx_ptr;
	struct gw_diag *diag_ptr = gw_diag_create();
	char problems[GW_RELOAD_PROBLEMS_MAX] = "out of memory";
	struct gw_config *fresh_ptr = NULL;
	char *text_ptr = NULL;
	size_t len = 0;
	FILE *out_ptr;
	uint64_t began_ns = vk_now_ns();
	int first;

	if (diag_ptr && (text_ptr = gw_config_read_file(program_ptr->config_path, &len, diag_ptr)))
		fresh_ptr = gw_config_load_text(text_ptr, len, program_ptr->config_path, diag_ptr);
	if (fresh_ptr) {
		first = gw_diag_count(diag_ptr);
		gw_config_check_reload(program_ptr->config_ptr, program_ptr->running_ptr, fresh_ptr, diag_ptr);
		check_heap_sizes(program_ptr->config_ptr, fresh_ptr, diag_ptr);
		check_new_ports(program_ptr->running_ptr, fresh_ptr, diag_ptr);
		check_dns_room(program_ptr, fresh_ptr, diag_ptr);
		gw_config_locate_problems(diag_ptr, first, text_ptr, len);
		if (gw_diag_count(diag_ptr) == 0)
			add_dns_names(program_ptr, fresh_ptr);
		if (gw_diag_count(diag_ptr) == 0 &&
		    vk_mailbox_post(program_ptr->mailbox_ptr, program_ptr->generation + 1, text_ptr, len) == -1)
			gw_diag_error(diag_ptr, "", "cannot post it to the kernels: %s", strerror(errno));
	}
	free(text_ptr);
	if (diag_ptr && gw_diag_count(diag_ptr) == 0) {
		/* Posted: the kernels build it once this returns. */
		stats_show_config(program_ptr, fresh_ptr);
		/* The listeners the next reload is compared with. */
		gw_config_free(program_ptr->running_ptr);
		program_ptr->running_ptr = fresh_ptr;
		program_ptr->generation++;
		gw_diag_destroy(diag_ptr);
		gw_stats_config_reload(program_ptr->stats_ptr, NULL);
		fprintf(stderr, "vkgw: reload: %s checked in %.3f ms; configuration %llu goes to the kernels\n",
			program_ptr->config_path, (double)(vk_now_ns() - began_ns) / 1e6,
			(unsigned long long)program_ptr->generation);
		return 0;
	}
	gw_config_free(fresh_ptr);
	fprintf(stderr, "vkgw: reload: %s has problems, nothing reloads:\n", program_ptr->config_path);
	if (diag_ptr) {
		gw_config_print_errors(stderr, program_ptr->config_path, diag_ptr, NULL);
		out_ptr = fmemopen(problems, sizeof(problems) - 1, "w");
		if (out_ptr) {
			memset(problems, 0, sizeof(problems));
			gw_config_print_errors(out_ptr, program_ptr->config_path, diag_ptr, NULL);
			fclose(out_ptr);
		}
	}
	gw_stats_config_reload(program_ptr->stats_ptr, problems);
	gw_diag_destroy(diag_ptr);
	return -1;
}

/* What a service manager hears (systemd, Type=notify: deploy/systemd/):
 * ready once every kernel listens, reloading while a reload that passed
 * its check goes to the kernels (then ready again), stopping when the
 * drain begins. From the supervisor, or a lone kernel: the main process.
 * Without $NOTIFY_SOCKET, sd_notify does nothing. */
static void tell_service_manager(void *ctx_ptr, int state)
{
	struct timespec now;

	(void)ctx_ptr;
	switch (state) {
	case VK_RUNTIME_READY:
		/* After an upgrade this process is the main one (the unit's
		 * NotifyAccess=all lets it say so). */
		sd_notifyf(0, "READY=1\nSTATUS=serving\nMAINPID=%d", (int)getpid());
		break;
	case VK_RUNTIME_RELOADING:
		clock_gettime(CLOCK_MONOTONIC, &now);
		sd_notifyf(0, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
			   (unsigned long long)now.tv_sec * 1000000ull + (unsigned long long)now.tv_nsec / 1000u);
		break;
	case VK_RUNTIME_STOPPING:
		sd_notify(0, "STOPPING=1\nSTATUS=draining");
		break;
	}
}

static void kernel_stop(void *ctx_ptr, int kernel_index)
{
	(void)ctx_ptr;
	(void)kernel_index;
	gw_access_log_close();
	gw_generation_free_all();
	gw_stats_detach();
}

static void watch_path(const char **paths, int *count_ptr, int *dropped_ptr, const char *path)
{
	if (*count_ptr < GW_WATCH_PATHS_MAX)
		paths[(*count_ptr)++] = path;
	else
		(*dropped_ptr)++;
}

/* The TLS listeners' files are watched, and with --watch the
 * configuration file and the files its filters read too (an api_key keys
 * file): a change reloads as SIGHUP does
 * (gateway/gw_watch.h). The files are those of the configuration vkgw
 * started with. Before any listening socket exists. 0, or -1 after saying
 * why. */
static int start_watch(struct gw_program *program_ptr)
{
	const char *paths[GW_WATCH_PATHS_MAX];
	int count = 0, dropped = 0;
	sigset_t hup;

	/* Its SIGHUP may come before anything here catches the signal (whose
	 * default ends the program): held until the supervisor's signalfd or
	 * the lone kernel's handler takes it. */
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigprocmask(SIG_BLOCK, &hup, NULL);

	if (program_ptr->watch_config) {
		watch_path(paths, &count, &dropped, program_ptr->config_path);
		/* The filters' files (an api_key keys file) reload with it. */
		for (int i = 0; i < program_ptr->config_ptr->filter_file_count; i++)
			watch_path(paths, &count, &dropped, program_ptr->config_ptr->filter_files_ptr[i]);
	}
	for (int i = 0; i < program_ptr->config_ptr->listener_count; i++) {
		const struct gw_config_tls *tls_ptr = &program_ptr->config_ptr->listeners_ptr[i].tls;

		for (int c = 0; tls_ptr->enabled && c < tls_ptr->certificate_count; c++) {
			watch_path(paths, &count, &dropped, tls_ptr->certificates_ptr[c].cert_path);
			watch_path(paths, &count, &dropped, tls_ptr->certificates_ptr[c].key_path);
		}
		if (tls_ptr->enabled && tls_ptr->client_ca_path[0])
			watch_path(paths, &count, &dropped, tls_ptr->client_ca_path);
	}
	if (dropped)
		fprintf(stderr,
			"vkgw: certificates: %d files past the first %d are not watched (SIGHUP reloads them)\n",
			dropped, GW_WATCH_PATHS_MAX);
	program_ptr->watch_pid =
		gw_watch_start(paths, count, program_ptr->watch_config ? "configuration" : "certificates");
	if (program_ptr->watch_pid == -1) {
		fprintf(stderr, "vkgw: cannot start the certificate watcher\n");
		return -1;
	}
	return 0;
}

/* A TLS listener's contexts, made before the kernels fork (each kernel
 * then has its copy, and they all derive the same session ticket keys).
 * 0, or -1 after saying why. */
static int listener_tls(const struct gw_config_listener *listener_ptr, struct gw_tls **tls_ptr_ptr)
{
	char error[512];

	if (!listener_ptr->tls.enabled)
		return 0;
	*tls_ptr_ptr = gw_tls_create(&listener_ptr->tls, error, sizeof(error));
	if (!*tls_ptr_ptr) {
		fprintf(stderr, "vkgw: listener %s: %s\n", listener_ptr->name, error);
		return -1;
	}
	return 0;
}

/* The admin listener: it keeps answering while the kernel drains, so
 * /ready can say so. */
static struct vk_service *admin_service(const struct gw_config_admin *admin_ptr, struct gw_admin_config *cfg_ptr)
{
	struct vk_service *service_ptr = vk_service_create("admin", gw_admin_main, cfg_ptr);

	if (!service_ptr || vk_service_set_address(service_ptr, admin_ptr->address, admin_ptr->port) == -1) {
		fprintf(stderr, "vkgw: admin: bad address %s:%d\n", admin_ptr->address, admin_ptr->port);
		return NULL;
	}
	vk_service_set_heap_pages(service_ptr, gw_admin_heap_pages(cfg_ptr));
	vk_service_set_buffers(service_ptr, cfg_ptr->ring_bytes, cfg_ptr->ring_bytes);
	vk_service_set_serves_drain(service_ptr, 1);
	return service_ptr;
}

/* The kernel count vk_runtime_run will start: -k, else the first
 * listener's "kernels", else one per CPU this process may run on. */
static int kernel_count(int option, const struct gw_config *config_ptr)
{
	int cpus[GW_KERNELS_MAX];
	int n = option > 0 ? option : config_ptr->listeners_ptr[0].kernels;

	if (n <= 0)
		n = vk_runtime_allowed_cpus(cpus, GW_KERNELS_MAX);
	return n > 0 ? n : 1;
}

/* The resolver process ended while vkgw runs: it starts again, unless it
 * keeps dying (then the kernels keep the addresses they have). */
#define GW_RESOLVER_RESTARTS_MAX GW_RESOLVER_RESTARTS_MAX_SLOTS
#define GW_RESOLVER_RESTART_WINDOW_NS (60ull * 1000000000ull)

/* The geo loader ended: started again (it copies every file again, and
 * the kernels follow), at most GW_GEO_LOADER_RESTARTS times a minute. */
#define GW_GEO_LOADER_RESTARTS 5
#define GW_GEO_LOADER_WINDOW_NS (60ull * 1000000000ull)

static void geo_loader_ended(struct gw_program *program_ptr, int pid, int status)
{
	uint64_t now = gw_resolver_now_ns();

	fprintf(stderr, "vkgw: the geo database loader (pid %d) ended (%s %d)", pid,
		WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	if (now - program_ptr->geo_loader_window_ns > GW_GEO_LOADER_WINDOW_NS) {
		program_ptr->geo_loader_window_ns = now;
		program_ptr->geo_loader_restarts = 0;
	}
	if (program_ptr->geo_loader_restarts++ >= GW_GEO_LOADER_RESTARTS) {
		fprintf(stderr, "; it keeps ending: the databases in use stay, changes are not taken\n");
		program_ptr->geo_loader_pid = 0;
		return;
	}
	program_ptr->geo_loader_pid = gw_geo_loader_start(program_ptr->geo_ptr);
	fprintf(stderr, "; started again (pid %d)\n", (int)program_ptr->geo_loader_pid);
}

static void child_exit(void *ctx_ptr, int pid, int status)
{
	struct gw_program *program_ptr = ctx_ptr;
	uint64_t now = gw_resolver_now_ns();
	uint64_t *oldest_ptr =
		&program_ptr->resolver_restarts[program_ptr->resolver_restart_count % GW_RESOLVER_RESTARTS_MAX];

	if (program_ptr->watch_pid > 0 && pid == program_ptr->watch_pid) {
		fprintf(stderr, "vkgw: the file watcher (pid %d) ended; SIGHUP still reloads\n", pid);
		program_ptr->watch_pid = 0;
		return;
	}
	if (program_ptr->geo_loader_pid > 0 && pid == program_ptr->geo_loader_pid) {
		geo_loader_ended(program_ptr, pid, status);
		return;
	}
	if (program_ptr->resolver_pid <= 0 || pid != program_ptr->resolver_pid)
		return;
	fprintf(stderr, "vkgw: the resolver process (pid %d) ended (%s %d)", pid,
		WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	if (program_ptr->resolver_restart_count >= GW_RESOLVER_RESTARTS_MAX &&
	    now - *oldest_ptr < GW_RESOLVER_RESTART_WINDOW_NS) {
		fprintf(stderr, "; it keeps ending: DNS names keep their last addresses\n");
		program_ptr->resolver_pid = 0;
		return;
	}
	*oldest_ptr = now;
	program_ptr->resolver_restart_count++;
	program_ptr->resolver_pid = gw_resolver_process_start(program_ptr->resolver_ptr);
	fprintf(stderr, "; started again (pid %d)\n", (int)program_ptr->resolver_pid);
}

/* The geo databases: validated here (the configuration's check read them
 * once: they are not walked again unless they changed), shared by the
 * kernels, and followed by the loader process, started before any
 * listening socket exists. 0, or -1 after saying why. */
_Static_assert((int)GW_CONFIG_GEO_COUNTRY == (int)GW_GEO_COUNTRY && (int)GW_CONFIG_GEO_CITY == (int)GW_GEO_CITY &&
		       (int)GW_CONFIG_GEO_ASN == (int)GW_GEO_ASN && (int)GW_CONFIG_GEO_ROLES == (int)GW_GEO_ROLES,
	       "the configuration's geo roles are gw_geo's");

/* How long start-up waits for the loader's first copies (it does not
 * walk the files again: it inherits the verdicts made here). */
#define GW_GEO_LOADER_WAIT_MS 60000

static int start_geo(struct gw_program *program_ptr, int kernels)
{
	const struct gw_config_geo *geo_ptr = &program_ptr->config_ptr->geo;
	char error[768];

	if (!geo_ptr->enabled)
		return 0;
	if (gw_geo_table_create(geo_ptr->databases, kernels, &program_ptr->geo_ptr, error, sizeof(error)) == -1) {
		fprintf(stderr, "vkgw: %s\n", error);
		return -1;
	}
	gw_stats_add_source(gw_geo_render_prometheus, GW_GEO_RENDER_MAX);
	program_ptr->geo_loader_pid = gw_geo_loader_start(program_ptr->geo_ptr);
	/* The loader's copies, not these, are what the kernels map: this
	 * process would hold its own for ever. */
	if (program_ptr->geo_loader_pid <= 0 ||
	    gw_geo_loader_wait(program_ptr->geo_ptr, program_ptr->geo_loader_pid, GW_GEO_LOADER_WAIT_MS) == -1)
		fprintf(stderr, "vkgw: geo databases: the loader did not start: a changed file is not taken until "
				"vkgw restarts\n");
	return 0;
}

/* Every DNS name once, before kernels start, so the first requests find
 * addresses (a name that fails is reported and stays unavailable until
 * the resolver process gets an answer), then the resolver process. */
static int start_resolver(struct gw_program *program_ptr)
{
	program_ptr->resolver_ptr = gw_resolver_create(program_ptr->config_ptr);
	if (!program_ptr->resolver_ptr) {
		fprintf(stderr, "vkgw: cannot map the DNS endpoint table\n");
		return -1;
	}
	gw_resolver_run_due(program_ptr->resolver_ptr, gw_resolver_now_ns(), stderr);
	program_ptr->resolver_pid = gw_resolver_process_start(program_ptr->resolver_ptr);
	if (program_ptr->resolver_pid == -1) {
		fprintf(stderr, "vkgw: cannot start the resolver process\n");
		return -1;
	}
	return 0;
}

static struct gw_config *load(const char *path)
{
	struct gw_diag *diag_ptr = gw_diag_create();
	struct gw_config *config_ptr;

	if (!diag_ptr) {
		fprintf(stderr, "vkgw: out of memory\n");
		return NULL;
	}
	config_ptr = gw_config_load_file(path, diag_ptr);
	if (!config_ptr)
		gw_config_print_errors(stderr, path, diag_ptr, NULL);
	gw_diag_destroy(diag_ptr);
	return config_ptr;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'C'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{"isolation", required_argument, NULL, 'i'},
		{"no-isolation", no_argument, NULL, 'I'}, /* --isolation off */
		{"watch", no_argument, NULL, 'W'},
		{NULL, 0, NULL, 0},
	};
	struct gw_program program = {0};
	struct vk_runtime_config cfg;
	struct vk_service **services_ptr;
	const char *path = NULL;
	int check = 0, kernels = -1, service_count, c, rc;
	long number;
	int isolation = -1; /* -1: each listener's own */

	gw_filters_register_builtin();
	/* The configuration's geo database files are read and checked as it
	 * loads (--check too). */
	gw_config_set_geo_check(gw_geo_validate);
	/* SIGUSR2 starts this path again: a new binary installed there. */
	if (vk_upgrade_set_program(argv) == -1)
		fprintf(stderr, "vkgw: cannot read /proc/self/exe: SIGUSR2 will not upgrade\n");
	/* Certificates and keys are read while the configuration loads, so
	 * that a bad one is reported at its place in the file. */
	gw_config_set_tls_check(gw_tls_check_config);
	gw_config_set_upstream_tls_check(gw_tls_client_check_config);
	vk_runtime_config_defaults(&cfg);
	while ((c = getopt_long(argc, argv, "c:k:P:g:vsh", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 'V':
			printf("vkgw %s\n", GW_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'k':
			if (parse_number("-k", optarg, 1, GW_KERNELS_MAX, &number) == -1)
				return 2;
			kernels = (int)number;
			break;
		case 'P':
			if (check_poll_driver(optarg) == -1)
				return 2;
			cfg.poll_driver = optarg;
			break;
		case 'g':
			if (parse_number("-g", optarg, 0, GW_GRACE_MS_MAX, &number) == -1)
				return 2;
			cfg.grace_ms = (unsigned)number;
			break;
		case 'v':
			cfg.verbose = 1;
			break;
		case 's':
			cfg.stats_at_exit = 1;
			break;
		case 'i':
			if (parse_isolation(optarg, &isolation) == -1)
				return 2;
			break;
		case 'I':
			isolation = GW_ISOLATION_OFF;
			break;
		case 'W':
			program.watch_config = 1;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	program.config_path = path;
	program.config_ptr = load(path);
	if (!program.config_ptr)
		return 1;
	if (check) {
		printf("%s: ok\n", path);
		gw_config_free(program.config_ptr);
		return 0;
	}

	/* After --check (validation stays offline), before any listening
	 * socket exists (the resolver must not hold one). */
	if (start_resolver(&program) == -1 || start_watch(&program) == -1 ||
	    start_geo(&program, kernel_count(kernels, program.config_ptr)) == -1)
		return 1;
	/* From here on the loader process alone reads the geo files: a
	 * reload (the paths cannot change) and the kernels never do. */
	gw_config_set_geo_check(NULL);
	program.generation = 1;
	program.cli_isolation = isolation;
	program.running_ptr = program.config_ptr;
	gw_config_hold(program.running_ptr);
	/* Room for any configuration the loader takes. */
	program.mailbox_ptr = vk_mailbox_create(GW_CONFIG_MAX_FILE_BYTES);
	/* The rate limit cells every kernel shares: mapped before they fork. */
	if (!gw_rate_table_create(program.config_ptr->rate_limits.cells)) {
		fprintf(stderr, "vkgw: cannot map the rate limit table: %s\n", strerror(errno));
		return 1;
	}
	service_count = program.config_ptr->listener_count + (program.config_ptr->admin.enabled ? 1 : 0);
	services_ptr = calloc((size_t)service_count, sizeof(*services_ptr));
	if (!program.mailbox_ptr || !services_ptr || gw_tls_root_secret_init() == -1) {
		fprintf(stderr, "vkgw: out of memory\n");
		return 1;
	}
	for (int i = 0; i < program.config_ptr->listener_count; i++) {
		const struct gw_config_listener *listener_ptr = &program.config_ptr->listeners_ptr[i];
		struct gw_program_listener *entry_ptr = listener_entry(&program, listener_ptr, i);
		struct gw_conn_config sizing;

		if (!entry_ptr || listener_tls(listener_ptr, &entry_ptr->first_tls_ptr) == -1)
			return 1;
		fill_conn_config(&sizing, program.config_ptr);
		sizing.tls_ptr = entry_ptr->first_tls_ptr;
		/* Per listener, so per process: vkern decides at spawn. */
		entry_ptr->service_ptr =
			listener_service(entry_ptr, listener_isolation(&program, listener_ptr), &sizing);
		services_ptr[i] = entry_ptr->service_ptr;
		if (!services_ptr[i])
			return 1;
	}
	/* The table is sized by the kernel count, so that count is fixed here. */
	cfg.kernels = kernel_count(kernels, program.config_ptr);
	if (program.config_ptr->admin.enabled) {
		program.stats_ptr = gw_stats_create(program.config_ptr, cfg.kernels);
		if (!program.stats_ptr) {
			fprintf(stderr, "vkgw: cannot map the statistics table\n");
			return 1;
		}
		stats_show_isolation(&program, program.config_ptr);
		gw_admin_config_init(&program.admin_config, program.stats_ptr, GW_RING_BYTES);
		/* Actions (POST /drain) only where nobody off the host can ask. */
		program.admin_config.actions_allowed =
			(ntohl(program.config_ptr->admin.sockaddr.sin_addr.s_addr) >> 24) == 127;
		program.admin_config.token = program.config_ptr->admin.token;
		services_ptr[service_count - 1] = admin_service(&program.config_ptr->admin, &program.admin_config);
		if (!services_ptr[service_count - 1])
			return 1;
	}
	cfg.kernel_start_fn = kernel_start;
	cfg.before_wait_fn = before_wait;
	cfg.kernel_stop_fn = kernel_stop;
	cfg.child_exit_fn = child_exit;
	cfg.signal_fn = user_signal;
	cfg.reload_fn = reload;
	cfg.reload_check_fn = reload_check;
	cfg.state_fn = tell_service_manager;
	cfg.reload_ctx_ptr = &program;
	cfg.hook_ctx_ptr = &program;
	rc = vk_runtime_run(&cfg, services_ptr, service_count);
	gw_resolver_process_stop(program.resolver_pid);
	gw_watch_stop(program.watch_pid);
	gw_geo_loader_stop(program.geo_loader_pid);
	gw_resolver_destroy(program.resolver_ptr);
	gw_geo_table_destroy(program.geo_ptr);
	for (int i = 0; i < service_count; i++)
		vk_service_destroy(services_ptr[i]);
	free(services_ptr);
	for (int i = 0; i < program.listener_count; i++) {
		/* Those a reload opened (a lone kernel's) are not in services_ptr. */
		if (i >= program.config_ptr->listener_count)
			vk_service_destroy(program.listeners_ptr[i]->service_ptr);
		gw_tls_destroy(program.listeners_ptr[i]->first_tls_ptr);
		free(program.listeners_ptr[i]->name);
		free(program.listeners_ptr[i]->address);
		free(program.listeners_ptr[i]);
	}
	free(program.listeners_ptr);
	gw_config_free(program.running_ptr);
	vk_mailbox_destroy(program.mailbox_ptr);
	gw_stats_destroy(program.stats_ptr);
	gw_config_free(program.config_ptr);
	return rc;
}
