/* gw_jwt_remote: remote JWK Sets per kernel, and the process that
 * fetches them (see the header). */
#include "gw_jwt_remote.h"
#include "gw_jwt.h"
#include "gw_http.h"
#include "gw_subrequest.h"

#include "vk_coro.h"
#include "vk_heap.h"
#include "vk_sys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REMOTE_PROVIDERS_MAX 8
#define WAITERS_MAX 64
#define MAX_AGE_CEILING_S 86400
#define NS_PER_S 1000000000ull

struct remote_set {
	/* copied from the source: the object outlives the snapshot it came from */
	char *provider;
	char *upstream; /* NULL: not remote */
	char *path;
	uint64_t refresh_s;
	uint64_t min_refresh_s;
	uint64_t timeout_ms;
	size_t max_bytes;
	unsigned algs;
	int allow_short_hmac;
	/* what was fetched */
	struct gw_jwt_keys keys;
	int loaded;
	char *text; /* the last good set as served, for a reload's hand-over */
	size_t text_len;
	uint64_t tried_ns; /* the last fetch began */
	uint64_t next_ns;  /* the next one is due */
	uint64_t backoff_s;
	int wanted;	    /* a request asked for a fetch */
	int in_flight;	    /* its fetch runs now */
	unsigned completed; /* fetches ended, well or not */
};

struct gw_jwt_remote {
	struct remote_set sets[REMOTE_PROVIDERS_MAX];
	int count;
	size_t body_cap; /* the largest max_bytes */
	/* the fetcher */
	uint64_t fetcher_ref;
	int fetcher_running;
	int retired;
	char name[48];
	/* processes waiting for the end of a round */
	uint64_t waiters[WAITERS_MAX];
	int waiter_count;
};

static void remote_free(struct gw_jwt_remote *remote_ptr)
{
	for (int i = 0; i < remote_ptr->count; i++) {
		struct remote_set *set_ptr = &remote_ptr->sets[i];

		gw_jwt_keys_free(&set_ptr->keys);
		free(set_ptr->text);
		free(set_ptr->provider);
		free(set_ptr->upstream);
		free(set_ptr->path);
	}
	free(remote_ptr);
}

const struct gw_jwt_keys *gw_jwt_remote_keys(const struct gw_jwt_remote *remote_ptr, int index)
{
	return remote_ptr->sets[index].loaded ? &remote_ptr->sets[index].keys : NULL;
}

int gw_jwt_remote_is_remote(const struct gw_jwt_remote *remote_ptr, int index)
{
	return remote_ptr && index < remote_ptr->count && remote_ptr->sets[index].upstream != NULL;
}

/* Takes `text` as set `set_ptr`'s keys: 0, or -1 with why in err. */
static int take_keys(struct remote_set *set_ptr, const char *text, size_t len, char *err, size_t err_len)
{
	struct gw_jwt_keys keys;
	char *copy;

	if (gw_jwt_keys_parse(text, len, set_ptr->algs, set_ptr->allow_short_hmac, &keys, err, err_len) == -1)
		return -1;
	copy = malloc(len + 1);
	if (!copy) {
		gw_jwt_keys_free(&keys);
		snprintf(err, err_len, "no memory");
		return -1;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	gw_jwt_keys_free(&set_ptr->keys);
	free(set_ptr->text);
	set_ptr->keys = keys;
	set_ptr->text = copy;
	set_ptr->text_len = len;
	set_ptr->loaded = 1;
	return 0;
}

/* ---- the fetcher ---- */

/* Cache-Control's max-age in seconds (no-store and no-cache: 0), or -1
 * when it says nothing of freshness. */
static long long max_age_of(const struct gw_subrequest *sub_ptr)
{
	const char *value;
	size_t len, pos = 0, off, item_len;
	long long age = -1;

	for (int nth = 0; gw_subrequest_header(sub_ptr, "cache-control", nth, &value, &len); nth++, pos = 0) {
		while (gw_http_list_next(value, len, &pos, &off, &item_len) == 1) {
			const char *item = value + off;

			if ((item_len == 8 && strncasecmp(item, "no-store", 8) == 0) ||
			    (item_len == 8 && strncasecmp(item, "no-cache", 8) == 0))
				return 0;
			if (item_len > 8 && strncasecmp(item, "max-age=", 8) == 0) {
				long long n = 0;
				size_t i;

				for (i = 8; i < item_len && item[i] >= '0' && item[i] <= '9' && n < MAX_AGE_CEILING_S;
				     i++)
					n = n * 10 + (item[i] - '0');
				if (i > 8)
					age = n;
			}
		}
	}
	return age;
}

static uint64_t clamp_s(long long s, uint64_t low, uint64_t high)
{
	return s < (long long)low ? low : (uint64_t)s > high ? high : (uint64_t)s;
}

/* One fetch of set `set_ptr` ended: the keys taken, or the failure
 * logged; when the next is due. */
static void fetch_ended(struct remote_set *set_ptr, const struct gw_subrequest *sub_ptr, uint64_t now_ns)
{
	char err[256];
	const char *body;
	size_t body_len;
	long long max_age;

	set_ptr->in_flight = 0;
	set_ptr->completed++;
	err[0] = '\0';
	if (gw_subrequest_outcome(sub_ptr) != GW_SUBREQUEST_RESPONSE)
		snprintf(err, sizeof(err), "%s", gw_subrequest_failure(sub_ptr));
	else if (gw_subrequest_status(sub_ptr) != 200)
		snprintf(err, sizeof(err), "status %d", gw_subrequest_status(sub_ptr));
	else if ((gw_subrequest_body(sub_ptr, &body_len), body_len > set_ptr->max_bytes))
		snprintf(err, sizeof(err), "a body of %zu bytes, over max_bytes", body_len);
	else if ((body = gw_subrequest_body(sub_ptr, &body_len)) &&
		 take_keys(set_ptr, body, body_len, err, sizeof(err)) == 0)
		err[0] = '\0';
	if (err[0]) {
		set_ptr->backoff_s = set_ptr->backoff_s ? set_ptr->backoff_s * 2 : set_ptr->min_refresh_s;
		if (set_ptr->backoff_s > set_ptr->refresh_s)
			set_ptr->backoff_s = set_ptr->refresh_s;
		set_ptr->next_ns = now_ns + set_ptr->backoff_s * NS_PER_S;
		fprintf(stderr, "vkgw: jwt: provider %s: JWKS from upstream %s%s: %s; %s, next try in %llu s\n",
			set_ptr->provider, set_ptr->upstream, set_ptr->path, err,
			set_ptr->loaded ? "the last good keys stay" : "no keys yet (503)",
			(unsigned long long)set_ptr->backoff_s);
		return;
	}
	set_ptr->backoff_s = 0;
	max_age = max_age_of(sub_ptr);
	set_ptr->next_ns = now_ns + (max_age < 0 ? set_ptr->refresh_s
						 : clamp_s(max_age, set_ptr->min_refresh_s, MAX_AGE_CEILING_S)) *
					    NS_PER_S;
}

static int due(const struct remote_set *set_ptr, uint64_t now_ns)
{
	if (!set_ptr->upstream)
		return 0;
	if (set_ptr->wanted && now_ns >= set_ptr->tried_ns + set_ptr->min_refresh_s * NS_PER_S)
		return 1;
	return now_ns >= set_ptr->next_ns;
}

/* Milliseconds until a set is due (at least 1). */
static uint64_t until_due_ms(const struct gw_jwt_remote *remote_ptr, uint64_t now_ns)
{
	uint64_t soonest = UINT64_MAX;

	for (int i = 0; i < remote_ptr->count; i++) {
		const struct remote_set *set_ptr = &remote_ptr->sets[i];
		uint64_t at = set_ptr->next_ns;

		if (!set_ptr->upstream)
			continue;
		if (set_ptr->wanted && set_ptr->tried_ns + set_ptr->min_refresh_s * NS_PER_S < at)
			at = set_ptr->tried_ns + set_ptr->min_refresh_s * NS_PER_S;
		if (at < soonest)
			soonest = at;
	}
	if (soonest <= now_ns)
		return 1;
	return soonest == UINT64_MAX ? 60000 : (soonest - now_ns) / 1000000u + 1;
}

/* Wakes the requests waiting for a fetch; a waiter whose process is
 * gone (it faulted while waiting) gives its place back. */
static void notify_waiters(struct gw_jwt_remote *remote_ptr)
{
	for (int i = 0; i < remote_ptr->waiter_count;)
		if (vk_sys_notify(remote_ptr->waiters[i]) == -1)
			remote_ptr->waiters[i] = remote_ptr->waiters[--remote_ptr->waiter_count];
		else
			i++;
}

/* A fetch of set `set_ptr` begins: the subrequest's ask, its strings in
 * the ask buffer. */
static void fetch_begins(struct remote_set *set_ptr, struct gw_subrequest *sub_ptr)
{
	char *buf = gw_subrequest_ask_buffer(sub_ptr);
	size_t upstream_len = strlen(set_ptr->upstream) + 1, path_len = strlen(set_ptr->path);
	static const char fields[] = "Accept: application/jwk-set+json, application/json\r\n";
	struct gw_subrequest_ask ask = {.method = "GET", .timeout_ms = set_ptr->timeout_ms};

	/* The compile() bounds both well below the buffer. */
	memcpy(buf, set_ptr->upstream, upstream_len);
	memcpy(buf + upstream_len, set_ptr->path, path_len);
	memcpy(buf + upstream_len + path_len, fields, sizeof(fields) - 1);
	ask.upstream = buf;
	ask.target = buf + upstream_len;
	ask.target_len = path_len;
	ask.fields = buf + upstream_len + path_len;
	ask.fields_len = sizeof(fields) - 1;
	gw_subrequest_ask(sub_ptr, &ask);
	set_ptr->tried_ns = vk_sys_coarse_now_ns();
	set_ptr->wanted = 0;
	set_ptr->in_flight = 1;
}

static void fetcher_main(struct vk_thread *that)
{
	struct gw_jwt_remote *remote_ptr = vk_thread_arg(that);
	struct {
		struct gw_subrequest *sub_ptr;
		int i;
	} * self;

	vk_begin();
	vk_finally
	{
		remote_ptr->fetcher_running = 0;
		notify_waiters(remote_ptr);
		if (remote_ptr->retired)
			remote_free(remote_ptr);
	}
	remote_ptr->fetcher_ref = vk_sys_self();
	self->sub_ptr = gw_subrequest_create(vk_thread_proc_local(that), remote_ptr->body_cap);
	if (!self->sub_ptr)
		vk_raise(ENOMEM);
	while (!vk_draining() && !remote_ptr->retired) {
		for (self->i = 0; self->i < remote_ptr->count && !remote_ptr->retired; self->i++) {
			if (!due(&remote_ptr->sets[self->i], vk_sys_coarse_now_ns()))
				continue;
			fetch_begins(&remote_ptr->sets[self->i], self->sub_ptr);
			vk_call(gw_subrequest_run, self->sub_ptr);
			if (remote_ptr->retired)
				break;
			fetch_ended(&remote_ptr->sets[self->i], self->sub_ptr, vk_sys_coarse_now_ns());
			notify_waiters(remote_ptr);
		}
		if (remote_ptr->retired)
			break;
		/* Until the next is due, a request wants one, the state
		 * goes, or the kernel drains. */
		that->idle = 1;
		vk_wait_notified(until_due_ms(remote_ptr, vk_sys_coarse_now_ns()));
		that->idle = 0;
	}
	vk_end();
}

/* ---- made, handed over, retired ---- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Set i copied from its source; the keys of `previous` when it fetched
 * from the same place. 0, or -1 for want of memory. */
static int set_init(struct remote_set *set_ptr, const struct gw_jwt_remote_source *source_ptr,
		    const struct gw_jwt_remote *previous_ptr)
{
	char err[256];

	set_ptr->provider = dup_or_null(source_ptr->provider);
	set_ptr->upstream = dup_or_null(source_ptr->upstream);
	set_ptr->path = dup_or_null(source_ptr->path);
	if (!set_ptr->provider || (source_ptr->upstream && (!set_ptr->upstream || !set_ptr->path)))
		return -1;
	set_ptr->refresh_s = (uint64_t)source_ptr->refresh_seconds;
	set_ptr->min_refresh_s = (uint64_t)source_ptr->min_refresh_seconds;
	set_ptr->timeout_ms = (uint64_t)source_ptr->timeout_ms;
	set_ptr->max_bytes = (size_t)source_ptr->max_bytes;
	set_ptr->algs = source_ptr->algs;
	set_ptr->allow_short_hmac = source_ptr->allow_short_hmac;
	if (!set_ptr->upstream || !previous_ptr)
		return 0;
	for (int i = 0; i < previous_ptr->count; i++) {
		const struct remote_set *was_ptr = &previous_ptr->sets[i];

		if (!was_ptr->loaded || !was_ptr->upstream || strcmp(was_ptr->upstream, set_ptr->upstream) != 0 ||
		    strcmp(was_ptr->path, set_ptr->path) != 0)
			continue;
		/* Keys the new settings refuse (other algorithms) are
		 * fetched again instead. */
		if (take_keys(set_ptr, was_ptr->text, was_ptr->text_len, err, sizeof(err)) == 0)
			set_ptr->next_ns = was_ptr->next_ns;
		break;
	}
	return 0;
}

struct gw_jwt_remote *gw_jwt_remote_create(const struct gw_jwt_remote_source *sources, int count,
					   const struct gw_jwt_remote *previous_ptr)
{
	struct gw_jwt_remote *remote_ptr = calloc(1, sizeof(*remote_ptr));

	if (!remote_ptr || count > REMOTE_PROVIDERS_MAX) {
		fprintf(stderr, "vkgw: jwt: no memory for remote keys\n");
		free(remote_ptr);
		return NULL;
	}
	remote_ptr->count = count;
	remote_ptr->fetcher_ref = UINT64_MAX; /* until the fetcher runs: nobody to tell */
	for (int i = 0; i < count; i++) {
		if (set_init(&remote_ptr->sets[i], &sources[i], previous_ptr) == -1) {
			fprintf(stderr, "vkgw: jwt: no memory for remote keys\n");
			remote_free(remote_ptr);
			return NULL;
		}
		if (sources[i].upstream && (size_t)sources[i].max_bytes > remote_ptr->body_cap)
			remote_ptr->body_cap = (size_t)sources[i].max_bytes;
	}
	snprintf(remote_ptr->name, sizeof(remote_ptr->name), "jwks:%s", sources[0].provider);
	if (vk_sys_spawn(remote_ptr->name, fetcher_main, remote_ptr,
			 vk_pages_for(gw_subrequest_heap_bytes(remote_ptr->body_cap) + 16384)) < 0) {
		fprintf(stderr, "vkgw: jwt: cannot start the JWKS fetcher: %s\n", strerror(errno));
		remote_free(remote_ptr);
		return NULL;
	}
	remote_ptr->fetcher_running = 1;
	return remote_ptr;
}

void gw_jwt_remote_retire(struct gw_jwt_remote *remote_ptr)
{
	if (!remote_ptr)
		return;
	if (!remote_ptr->fetcher_running) {
		remote_free(remote_ptr);
		return;
	}
	remote_ptr->retired = 1;
	vk_sys_notify(remote_ptr->fetcher_ref);
}

/* ---- requests ---- */

static uint64_t all_timeouts_ms(const struct gw_jwt_remote *remote_ptr)
{
	uint64_t total = 0;

	for (int i = 0; i < remote_ptr->count; i++)
		if (remote_ptr->sets[i].upstream)
			total += remote_ptr->sets[i].timeout_ms;
	return total;
}

int gw_jwt_remote_want(struct gw_jwt_remote *remote_ptr, int index, uint64_t now_ns)
{
	struct remote_set *set_ptr = &remote_ptr->sets[index];

	if (!set_ptr->upstream || !remote_ptr->fetcher_running)
		return 0;
	if (set_ptr->in_flight)
		return 1;
	if (now_ns < set_ptr->tried_ns + set_ptr->min_refresh_s * NS_PER_S)
		return 0;
	set_ptr->wanted = 1;
	vk_sys_notify(remote_ptr->fetcher_ref);
	return 1;
}

void gw_jwt_remote_wait(struct vk_thread *that)
{
	struct gw_jwt_remote_wait *wait_ptr = vk_thread_arg(that);
	struct gw_jwt_remote *remote_ptr = wait_ptr->remote_ptr;
	struct remote_set *set_ptr = &remote_ptr->sets[wait_ptr->index];

	vk_begin_stateless();
	vk_finally
	{
		for (int i = 0; i < remote_ptr->waiter_count; i++)
			if (remote_ptr->waiters[i] == vk_sys_self()) {
				remote_ptr->waiters[i] = remote_ptr->waiters[--remote_ptr->waiter_count];
				break;
			}
	}
	if (remote_ptr->waiter_count == WAITERS_MAX)
		vk_raise(EAGAIN); /* too many waiting: answered at once */
	remote_ptr->waiters[remote_ptr->waiter_count++] = vk_sys_self();
	wait_ptr->completed = set_ptr->completed;
	/* The fetcher asks one provider after another: the others' fetches
	 * may come first. */
	wait_ptr->until_ns = vk_sys_now_ns() + all_timeouts_ms(remote_ptr) * 1000000u + 100000000u;
	/* Until its fetch ends (other notifications wake it too), the
	 * fetch's time and a margin, or the fetcher's end. */
	while (set_ptr->completed == wait_ptr->completed && remote_ptr->fetcher_running &&
	       vk_sys_now_ns() < wait_ptr->until_ns)
		vk_wait_notified((wait_ptr->until_ns - vk_sys_now_ns()) / 1000000u + 1);
	vk_end();
}
