/* gw_pool: kept-alive upstream connections and the line for new ones (see
 * the header). Per kernel: nothing here is shared or locked. */
#include "gw_pool.h"
#include "gw_pool_s.h"
#include "gw_breaker.h"
#include "gw_stats.h"

#include "vk_socket.h"
#include "vk_sys.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct gw_pool *gw_pool_create(const struct gw_pool_settings *settings_ptr, struct gw_breaker *breaker_ptr,
			       const struct gw_breaker_limits *limits_ptr)
{
	struct gw_pool *pool_ptr = calloc(1, sizeof(*pool_ptr));

	if (!pool_ptr)
		return NULL;
	pool_ptr->settings = *settings_ptr;
	pool_ptr->breaker_ptr = breaker_ptr;
	pool_ptr->limits_ptr = limits_ptr;
	pool_ptr->endpoints_ptr = calloc((size_t)settings_ptr->endpoint_count + 1, sizeof(*pool_ptr->endpoints_ptr));
	pool_ptr->kept_places_ptr = calloc((size_t)settings_ptr->max_idle + 1, sizeof(*pool_ptr->kept_places_ptr));
	pool_ptr->line_cap = limits_ptr->max_pending;
	pool_ptr->line_ptr = calloc((size_t)pool_ptr->line_cap + 1, sizeof(*pool_ptr->line_ptr));
	if (!pool_ptr->endpoints_ptr || !pool_ptr->kept_places_ptr || !pool_ptr->line_ptr) {
		gw_pool_destroy(pool_ptr);
		return NULL;
	}
	for (int e = 0; e < settings_ptr->endpoint_count; e++)
		TAILQ_INIT(&pool_ptr->endpoints_ptr[e].kept);
	TAILQ_INIT(&pool_ptr->free_places);
	for (int i = 0; i < settings_ptr->max_idle; i++)
		TAILQ_INSERT_TAIL(&pool_ptr->free_places, &pool_ptr->kept_places_ptr[i], kept_elem);
	return pool_ptr;
}

void gw_pool_destroy(struct gw_pool *pool_ptr)
{
	if (!pool_ptr)
		return;
	/* The fds go with the kernel; the kept TLS states go here. */
	for (int e = 0; pool_ptr->endpoints_ptr && e < pool_ptr->settings.endpoint_count; e++) {
		struct gw_pool_kept *place_ptr;

		TAILQ_FOREACH(place_ptr, &pool_ptr->endpoints_ptr[e].kept, kept_elem)
			if (place_ptr->tls_kept_ptr && pool_ptr->settings.discard_tls)
				pool_ptr->settings.discard_tls(place_ptr->tls_kept_ptr);
	}
	free(pool_ptr->endpoints_ptr);
	free(pool_ptr->kept_places_ptr);
	free(pool_ptr->line_ptr);
	free(pool_ptr);
}

/* The admin listener's gauges, after every change. */
static void publish(const struct gw_pool *pool_ptr)
{
	gw_stats_upstream_pool(pool_ptr->settings.stats_upstream, (uint64_t)pool_ptr->breaker_ptr->connections,
			       (uint64_t)pool_ptr->kept_total, (uint64_t)pool_ptr->line_len);
}

/* ---- the line ---- */

static struct gw_pool_waiter *line_at(struct gw_pool *pool_ptr, int i)
{
	return &pool_ptr->line_ptr[i];
}

static int line_find(struct gw_pool *pool_ptr, uint64_t proc_ref)
{
	for (int i = 0; i < pool_ptr->line_len; i++)
		if (line_at(pool_ptr, i)->proc_ref == proc_ref)
			return i;
	return -1;
}

static void line_remove(struct gw_pool *pool_ptr, int place)
{
	for (int i = place; i + 1 < pool_ptr->line_len; i++)
		*line_at(pool_ptr, i) = *line_at(pool_ptr, i + 1);
	pool_ptr->line_len--;
	gw_breaker_pending_done(pool_ptr->breaker_ptr);
}

/* The breaker admits at most max_pending waiters, the line's places:
 * full is only a breaker out of step with the line. */
static int line_push(struct gw_pool *pool_ptr, uint64_t proc_ref, uint64_t now_ns)
{
	if (pool_ptr->line_len == pool_ptr->line_cap)
		return -1;
	*line_at(pool_ptr, pool_ptr->line_len) = (struct gw_pool_waiter){proc_ref, now_ns};
	pool_ptr->line_len++;
	return 0;
}

/* A place held longer than any wait may last belongs to a process that
 * ended without leaving the line (a fault): it must not block the rest. */
static int drop_stale(struct gw_pool *pool_ptr, uint64_t now_ns)
{
	int dropped = 0;

	while (pool_ptr->line_len > 0 && now_ns - line_at(pool_ptr, 0)->since_ns > pool_ptr->settings.wait_limit_ns) {
		line_remove(pool_ptr, 0);
		dropped = 1;
	}
	return dropped;
}

/* Something was given back or closed: the first in line looks again. A
 * process that is gone leaves the line. */
static void wake_first(struct gw_pool *pool_ptr)
{
	while (pool_ptr->line_len > 0 && vk_sys_notify(line_at(pool_ptr, 0)->proc_ref) == -1 &&
	       vk_sys_kernel_index() >= 0)
		line_remove(pool_ptr, 0);
}

/* ---- connections ---- */

/* The kernel's on-close hook for every connection the pool counts. */
static void closed(void *ctx_ptr, int fd)
{
	struct gw_pool *pool_ptr = ctx_ptr;

	(void)fd;
	gw_breaker_connection_closed(pool_ptr->breaker_ptr);
	wake_first(pool_ptr);
	publish(pool_ptr);
}

/* Without a kernel (unit tests) no hook runs: the count is kept here. */
static void close_counted(struct gw_pool *pool_ptr, int fd)
{
	vk_sys_close(fd);
	if (vk_sys_kernel_index() < 0)
		closed(pool_ptr, fd);
}

/* A kept connection the pool ends: its TLS state, then its fd. */
static void close_kept(struct gw_pool *pool_ptr, struct gw_pool_kept kept)
{
	if (kept.tls_kept_ptr && pool_ptr->settings.discard_tls)
		pool_ptr->settings.discard_tls(kept.tls_kept_ptr);
	close_counted(pool_ptr, kept.fd);
}

/* Takes a kept connection out of its endpoint's list; its place is free. */
static struct gw_pool_kept take_at(struct gw_pool *pool_ptr, struct gw_pool_endpoint *ep_ptr,
				   struct gw_pool_kept *place_ptr)
{
	struct gw_pool_kept kept = *place_ptr;

	TAILQ_REMOVE(&ep_ptr->kept, place_ptr, kept_elem);
	TAILQ_INSERT_HEAD(&pool_ptr->free_places, place_ptr, kept_elem);
	pool_ptr->kept_total--;
	return kept;
}

/* The newest kept connection to the address, usable (its TLS state in
 * *tls_kept_ptr); -1 if none. */
static int take_kept(struct gw_pool *pool_ptr, int endpoint, uint64_t addr_key, uint64_t now_ns, void **tls_kept_ptr)
{
	struct gw_pool_endpoint *ep_ptr = &pool_ptr->endpoints_ptr[endpoint];
	struct gw_pool_kept *place_ptr, *older_ptr;

	for (place_ptr = TAILQ_LAST(&ep_ptr->kept, gw_pool_kept_list); place_ptr; place_ptr = older_ptr) {
		struct gw_pool_kept kept;
		int events;

		older_ptr = TAILQ_PREV(place_ptr, gw_pool_kept_list, kept_elem);
		if (place_ptr->addr_key != addr_key)
			continue;
		kept = take_at(pool_ptr, ep_ptr, place_ptr);
		if (now_ns - kept.since_ns > pool_ptr->settings.idle_timeout_ns) {
			close_kept(pool_ptr, kept);
			continue;
		}
		events = vk_sys_claim(kept.fd);
		if (events < 0) {
			/* Not held any more: the fd is not ours to use or close,
			 * but its TLS state is. */
			if (kept.tls_kept_ptr && pool_ptr->settings.discard_tls)
				pool_ptr->settings.discard_tls(kept.tls_kept_ptr);
			continue;
		}
		/* Closed by the upstream, or it said something unasked (for TLS,
		 * a close_notify): the kernel's record of events may be stale,
		 * so a look decides. */
		if (events != 0 && !vk_socket_fd_quiet(kept.fd)) {
			close_kept(pool_ptr, kept);
			continue;
		}
		*tls_kept_ptr = kept.tls_kept_ptr;
		return kept.fd;
	}
	return -1;
}

/* Makes room for a new connection: the oldest kept one goes. */
static int close_oldest_kept(struct gw_pool *pool_ptr)
{
	struct gw_pool_endpoint *oldest_ptr = NULL;

	for (int e = 0; e < pool_ptr->settings.endpoint_count; e++) {
		struct gw_pool_endpoint *ep_ptr = &pool_ptr->endpoints_ptr[e];

		if (!TAILQ_EMPTY(&ep_ptr->kept) &&
		    (!oldest_ptr || TAILQ_FIRST(&ep_ptr->kept)->since_ns < TAILQ_FIRST(&oldest_ptr->kept)->since_ns))
			oldest_ptr = ep_ptr;
	}
	if (!oldest_ptr)
		return 0;
	close_kept(pool_ptr, take_at(pool_ptr, oldest_ptr, TAILQ_FIRST(&oldest_ptr->kept)));
	return 1;
}

static int new_socket(struct gw_pool *pool_ptr, int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	if (vk_sys_adopt(fd) == -1 || vk_sys_on_close(fd, closed, pool_ptr) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static enum gw_pool_result acquire(struct gw_pool *pool_ptr, int endpoint, uint64_t addr_key, int family,
				   uint64_t proc_ref, int fresh, uint64_t now_ns, int *fd_ptr, void **tls_kept_ptr,
				   const char **reason_ptr)
{
	int place, fd;

	if (drop_stale(pool_ptr, now_ns))
		wake_first(pool_ptr);
	place = line_find(pool_ptr, proc_ref);
	/* First come, first served: while anyone waits, only the first in
	 * line may take a connection. */
	if (pool_ptr->line_len > 0 && place != 0)
		goto wait;
	*tls_kept_ptr = NULL;
	if (!fresh && (fd = take_kept(pool_ptr, endpoint, addr_key, now_ns, tls_kept_ptr)) >= 0) {
		if (place >= 0) {
			line_remove(pool_ptr, place);
			/* Another connection may be free for the next in line. */
			if (pool_ptr->kept_total > 0 ||
			    pool_ptr->breaker_ptr->connections < pool_ptr->limits_ptr->max_connections)
				wake_first(pool_ptr);
		}
		*fd_ptr = fd;
		return GW_POOL_REUSED;
	}
	/* A new connection, for whoever is first in line (anyone if nobody
	 * waits): a kept one to another endpoint may give its place. */
	if (pool_ptr->line_len == 0 || place == 0) {
		if (pool_ptr->breaker_ptr->connections >= pool_ptr->limits_ptr->max_connections)
			close_oldest_kept(pool_ptr);
		if (gw_breaker_admit_connection(pool_ptr->breaker_ptr, pool_ptr->limits_ptr) == GW_BREAKER_ADMIT) {
			if (place >= 0)
				line_remove(pool_ptr, place);
			fd = new_socket(pool_ptr, family);
			if (fd < 0) {
				gw_breaker_connection_closed(pool_ptr->breaker_ptr);
				*reason_ptr = "no socket for an upstream connection";
				wake_first(pool_ptr);
				return GW_POOL_REFUSED;
			}
			/* Room may remain for the next in line too. */
			if (pool_ptr->breaker_ptr->connections < pool_ptr->limits_ptr->max_connections)
				wake_first(pool_ptr);
			*fd_ptr = fd;
			return GW_POOL_NEW;
		}
	}
wait:
	if (place >= 0)
		return GW_POOL_WAIT;
	if (gw_breaker_admit_pending(pool_ptr->breaker_ptr, pool_ptr->limits_ptr) != GW_BREAKER_ADMIT) {
		*reason_ptr = gw_breaker_reason(GW_BREAKER_TOO_MANY_PENDING);
		return GW_POOL_REFUSED;
	}
	if (line_push(pool_ptr, proc_ref, now_ns) == -1) {
		gw_breaker_pending_done(pool_ptr->breaker_ptr);
		*reason_ptr = "the line of waiting requests is full";
		return GW_POOL_REFUSED;
	}
	return GW_POOL_WAIT;
}

static void cancel(struct gw_pool *pool_ptr, uint64_t proc_ref)
{
	int place = line_find(pool_ptr, proc_ref);

	if (place < 0)
		return;
	line_remove(pool_ptr, place);
	if (place == 0)
		wake_first(pool_ptr);
}

static int keep(struct gw_pool *pool_ptr, int endpoint, uint64_t addr_key, int fd, void *tls_kept_ptr, uint64_t now_ns)
{
	struct gw_pool_endpoint *ep_ptr = &pool_ptr->endpoints_ptr[endpoint];
	/* max_idle places: one is free while fewer are kept */
	struct gw_pool_kept *place_ptr = TAILQ_FIRST(&pool_ptr->free_places);

	if (pool_ptr->kept_total >= pool_ptr->settings.max_idle || !place_ptr || vk_sys_draining())
		goto close;
	if (vk_sys_hold(fd) == -1)
		goto close;
	TAILQ_REMOVE(&pool_ptr->free_places, place_ptr, kept_elem);
	place_ptr->fd = fd;
	place_ptr->tls_kept_ptr = tls_kept_ptr;
	place_ptr->since_ns = now_ns;
	place_ptr->addr_key = addr_key;
	TAILQ_INSERT_TAIL(&ep_ptr->kept, place_ptr, kept_elem);
	pool_ptr->kept_total++;
	wake_first(pool_ptr);
	return 1;
close:
	close_kept(pool_ptr, (struct gw_pool_kept){.fd = fd, .tls_kept_ptr = tls_kept_ptr});
	return 0;
}

static int sweep(struct gw_pool *pool_ptr, uint64_t now_ns, int all)
{
	for (int e = 0; e < pool_ptr->settings.endpoint_count; e++) {
		struct gw_pool_endpoint *ep_ptr = &pool_ptr->endpoints_ptr[e];
		struct gw_pool_kept *place_ptr, *newer_ptr;

		for (place_ptr = TAILQ_FIRST(&ep_ptr->kept); place_ptr; place_ptr = newer_ptr) {
			newer_ptr = TAILQ_NEXT(place_ptr, kept_elem);
			if (all || now_ns - place_ptr->since_ns > pool_ptr->settings.idle_timeout_ns ||
			    (vk_sys_held_events(place_ptr->fd) != 0 && !vk_socket_fd_quiet(place_ptr->fd)))
				close_kept(pool_ptr, take_at(pool_ptr, ep_ptr, place_ptr));
		}
	}
	return pool_ptr->kept_total;
}

/* ---- the interface: each change is published ---- */

enum gw_pool_result gw_pool_acquire(struct gw_pool *pool_ptr, int endpoint, uint64_t addr_key, int family,
				    uint64_t proc_ref, int fresh, uint64_t now_ns, int *fd_ptr, void **tls_kept_ptr,
				    const char **reason_ptr)
{
	enum gw_pool_result result = acquire(pool_ptr, endpoint, addr_key, family, proc_ref, fresh, now_ns, fd_ptr,
					     tls_kept_ptr, reason_ptr);

	publish(pool_ptr);
	return result;
}

void gw_pool_cancel(struct gw_pool *pool_ptr, uint64_t proc_ref)
{
	cancel(pool_ptr, proc_ref);
	publish(pool_ptr);
}

int gw_pool_keep(struct gw_pool *pool_ptr, int endpoint, uint64_t addr_key, int fd, void *tls_kept_ptr, uint64_t now_ns)
{
	int kept = keep(pool_ptr, endpoint, addr_key, fd, tls_kept_ptr, now_ns);

	publish(pool_ptr);
	return kept;
}

int gw_pool_sweep(struct gw_pool *pool_ptr, uint64_t now_ns, int all)
{
	int kept = sweep(pool_ptr, now_ns, all);

	publish(pool_ptr);
	return kept;
}

int gw_pool_idle_count(const struct gw_pool *pool_ptr)
{
	return pool_ptr->kept_total;
}

int gw_pool_waiting(const struct gw_pool *pool_ptr)
{
	return pool_ptr->line_len;
}
