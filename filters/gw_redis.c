/* gw_redis: a kernel's pipelined Redis client (see the header). */
#include "gw_redis_s.h"
#include "gw_resp.h"

#include "vk_coro.h"
#include "vk_heap.h"
#include "vk_sys.h"
#include "vk_vectoring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING_BYTES 65536
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define IDLE_CHECK_MS 1000
#define ABANDONED_AFTER_NS 10000000000ull /* an ended slot nobody read: its owner went */
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

static LIST_HEAD(, gw_redis) kernel_clients = LIST_HEAD_INITIALIZER(kernel_clients);

/* ---- addresses ---- */

int gw_redis_parse_address(const char *text, struct sockaddr_storage *addr_ptr, socklen_t *len_ptr)
{
	char host[64];
	const char *colon = strrchr(text, ':'), *host_start = text;
	size_t host_len;
	char *end;
	long port;

	if (!colon || colon == text)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 1 || port > 65535)
		return -1;
	host_len = (size_t)(colon - text);
	if (text[0] == '[') {
		if (host_len < 3 || colon[-1] != ']')
			return -1;
		host_start = text + 1;
		host_len -= 2;
	}
	if (host_len >= sizeof(host))
		return -1;
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	memset(addr_ptr, 0, sizeof(*addr_ptr));
	if (text[0] != '[') {
		struct sockaddr_in *in_ptr = (struct sockaddr_in *)addr_ptr;

		if (inet_pton(AF_INET, host, &in_ptr->sin_addr) != 1)
			return -1;
		in_ptr->sin_family = AF_INET;
		in_ptr->sin_port = htons((uint16_t)port);
		*len_ptr = sizeof(*in_ptr);
	} else {
		struct sockaddr_in6 *in6_ptr = (struct sockaddr_in6 *)addr_ptr;

		if (inet_pton(AF_INET6, host, &in6_ptr->sin6_addr) != 1)
			return -1;
		in6_ptr->sin6_family = AF_INET6;
		in6_ptr->sin6_port = htons((uint16_t)port);
		*len_ptr = sizeof(*in6_ptr);
	}
	return 0;
}

/* ---- slots ---- */

static struct gw_redis_slot *slot_of(const struct gw_redis *redis_ptr, uint64_t ticket)
{
	uint32_t index = (uint32_t)ticket, generation = (uint32_t)(ticket >> 32);

	if (index >= (uint32_t)redis_ptr->slot_count || redis_ptr->slots[index].generation != generation)
		return NULL;
	return &redis_ptr->slots[index];
}

static void slot_free(struct gw_redis *redis_ptr, struct gw_redis_slot *slot_ptr)
{
	slot_ptr->state = GW_REDIS_SLOT_FREE;
	slot_ptr->generation++;
	redis_ptr->free_slots[redis_ptr->free_count++] = (int)(slot_ptr - redis_ptr->slots);
}

/* The slot's replies are in, or it failed: its owner wakes, or, gone,
 * leaves it to be freed. */
static void slot_end(struct gw_redis *redis_ptr, struct gw_redis_slot *slot_ptr, enum gw_redis_outcome outcome)
{
	slot_ptr->state = GW_REDIS_SLOT_ENDED;
	slot_ptr->outcome = outcome;
	slot_ptr->ended_ns = vk_sys_coarse_now_ns();
	if (slot_ptr->abandoned || vk_sys_notify(slot_ptr->owner_ref) == -1)
		slot_free(redis_ptr, slot_ptr);
}

static uint32_t ring_index(const struct gw_redis *redis_ptr, uint32_t position)
{
	return position & redis_ptr->order_mask;
}

/* Every slot in flight, and the queued ones too when `queued`, fail. */
static void fail_slots(struct gw_redis *redis_ptr, int queued)
{
	uint32_t until = queued ? redis_ptr->end : redis_ptr->unsent;

	for (; redis_ptr->first != until; redis_ptr->first++)
		slot_end(redis_ptr, &redis_ptr->slots[redis_ptr->order[ring_index(redis_ptr, redis_ptr->first)]],
			 GW_REDIS_FAILED);
	redis_ptr->unsent = redis_ptr->first;
}

/* Ended slots nobody read for long: their owners went without a word. */
static void sweep_slots(struct gw_redis *redis_ptr, uint64_t now_ns)
{
	for (int i = 0; i < redis_ptr->slot_count; i++) {
		struct gw_redis_slot *slot_ptr = &redis_ptr->slots[i];

		if (slot_ptr->state == GW_REDIS_SLOT_ENDED && now_ns > slot_ptr->ended_ns + ABANDONED_AFTER_NS)
			slot_free(redis_ptr, slot_ptr);
	}
}

/* ---- failures ---- */

/* Why the connection failed, logged at most once a second. */
static void failed(struct gw_redis *redis_ptr, const char *why, int error)
{
	uint64_t now_ns = vk_sys_coarse_now_ns();
	char reason[sizeof(redis_ptr->failure)];

	/* `why` may be the failure already kept (a reply's error) */
	snprintf(reason, sizeof(reason), "%s%s%s", why, error ? ": " : "", error ? strerror(error) : "");
	memcpy(redis_ptr->failure, reason, sizeof(reason));
	if (redis_ptr->logged_ns && now_ns < redis_ptr->logged_ns + NS_PER_S) {
		redis_ptr->unlogged++;
		return;
	}
	fprintf(stderr, "vkgw: redis %s: %s; retrying in %llu ms", redis_ptr->address, redis_ptr->failure,
		(unsigned long long)redis_ptr->backoff_ms);
	if (redis_ptr->unlogged)
		fprintf(stderr, " (%llu more failures since the last line)", (unsigned long long)redis_ptr->unlogged);
	fputc('\n', stderr);
	redis_ptr->logged_ns = now_ns;
	redis_ptr->unlogged = 0;
}

/* The next backoff: doubled, at most BACKOFF_MAX_MS, with up to a
 * quarter of jitter so that kernels and instances do not come back in
 * step. */
static void back_off(struct gw_redis *redis_ptr)
{
	uint64_t base = redis_ptr->backoff_ms ? redis_ptr->backoff_ms * 2 : BACKOFF_FIRST_MS;

	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	redis_ptr->backoff_ms = base - (uint64_t)(vk_sys_now_ns() % (base / 4 + 1));
}

static void client_free(struct gw_redis *redis_ptr)
{
	if (!redis_ptr)
		return;
	free(redis_ptr->order);
	free(redis_ptr->free_slots);
	free(redis_ptr->slots);
	free(redis_ptr->address);
	free(redis_ptr->username);
	free(redis_ptr->password);
	free(redis_ptr->script);
	free(redis_ptr);
}

/* ---- the client process ---- */

struct client_self {
	struct vk_socket *socket_ptr;
	char *parse_ptr; /* a copy of what rx holds: the ring may wrap */
	size_t parsed_upto;
	uint32_t batch_end;
	size_t n;
	struct gw_redis_slot *slot_ptr;
};

/* AUTH and SCRIPT LOAD, ahead of the batch's slots. */
static size_t internal_commands(struct gw_redis *redis_ptr, char *out, size_t cap, int on_connect)
{
	size_t n = 0;

	redis_ptr->internal_in_flight = 0;
	if (on_connect && redis_ptr->password) {
		const char *argv[3] = {"AUTH"};
		size_t lens[3] = {4};
		int argc = 1;

		if (redis_ptr->username)
			argv[argc++] = redis_ptr->username;
		argv[argc++] = redis_ptr->password;
		for (int i = 1; i < argc; i++)
			lens[i] = strlen(argv[i]);
		n += gw_resp_command(out + n, cap - n, argc, argv, lens);
		redis_ptr->internal_in_flight++;
	}
	if (redis_ptr->need_script) {
		const char *argv[] = {"SCRIPT", "LOAD", redis_ptr->script};
		size_t lens[] = {6, 4, strlen(redis_ptr->script)};

		n += gw_resp_command(out + n, cap - n, 3, argv, lens);
		redis_ptr->internal_in_flight++;
		redis_ptr->need_script = 0;
	}
	return n;
}

/* One reply of AUTH or SCRIPT LOAD: 0, or -1 when it failed. */
static int internal_reply(struct gw_redis *redis_ptr, const struct gw_resp_value *value_ptr)
{
	if (value_ptr->type == GW_RESP_ERROR) {
		snprintf(redis_ptr->failure, sizeof(redis_ptr->failure), "%.*s",
			 (int)(value_ptr->len < 120 ? value_ptr->len : 120), value_ptr->str);
		return -1;
	}
	if (value_ptr->type == GW_RESP_BULK && (value_ptr->len != 40 || memcmp(value_ptr->str, redis_ptr->sha, 40))) {
		snprintf(redis_ptr->failure, sizeof(redis_ptr->failure), "SCRIPT LOAD answered another SHA-1");
		return -1;
	}
	return 0;
}

/* Slots of the batch whose commands were left out (their owners gave
 * up before they went) end where they stand. */
static void skip_left_out(struct gw_redis *redis_ptr, uint32_t batch_end)
{
	while (redis_ptr->first != batch_end) {
		struct gw_redis_slot *slot_ptr =
			&redis_ptr->slots[redis_ptr->order[ring_index(redis_ptr, redis_ptr->first)]];

		if (slot_ptr->commands > 0)
			return;
		redis_ptr->first++;
		slot_free(redis_ptr, slot_ptr);
	}
}

/* One reply of the slot first in flight: kept, and the slot ended when it
 * has all its replies. A NOSCRIPT fails the slot (its commands did not
 * run) and has the script loaded again. */
static void slot_reply(struct gw_redis *redis_ptr, const char *bytes, size_t len, const struct gw_resp_value *value_ptr)
{
	struct gw_redis_slot *slot_ptr = &redis_ptr->slots[redis_ptr->order[ring_index(redis_ptr, redis_ptr->first)]];
	int noscript =
		value_ptr->type == GW_RESP_ERROR && value_ptr->len >= 8 && memcmp(value_ptr->str, "NOSCRIPT", 8) == 0;

	if (noscript)
		redis_ptr->need_script = 1;
	if (slot_ptr->outcome != GW_REDIS_FAILED && !noscript && slot_ptr->reply_len + len <= sizeof(slot_ptr->reply)) {
		memcpy(slot_ptr->reply + slot_ptr->reply_len, bytes, len);
		slot_ptr->reply_len += len;
	} else {
		slot_ptr->outcome = GW_REDIS_FAILED;
	}
	if (++slot_ptr->replies < slot_ptr->commands)
		return;
	redis_ptr->first++;
	slot_end(redis_ptr, slot_ptr, slot_ptr->outcome == GW_REDIS_FAILED ? GW_REDIS_FAILED : GW_REDIS_DONE);
}

/* The whole replies rx holds, taken: 1 when the batch is answered, 0 for
 * more, -1 when a reply is malformed or AUTH/SCRIPT LOAD failed. */
static int take_replies(struct gw_redis *redis_ptr, struct client_self *self)
{
	static const struct gw_resp_limits limits = {.max_bulk = GW_REDIS_REPLY_BYTES, .max_values = 64};
	struct gw_resp_value values[64];
	size_t held = vk_socket_rx_held(self->socket_ptr), pos = 0;
	int count;
	long n;

	vk_vectoring_peek(vk_socket_rx(self->socket_ptr), self->parse_ptr, held);
	skip_left_out(redis_ptr, self->batch_end);
	while (redis_ptr->first != self->batch_end || redis_ptr->internal_in_flight > 0) {
		n = gw_resp_parse(self->parse_ptr + pos, held - pos, &limits, values, &count);
		if (n == 0)
			break;
		if (n < 0) {
			snprintf(redis_ptr->failure, sizeof(redis_ptr->failure), "a malformed reply");
			return -1;
		}
		if (redis_ptr->internal_in_flight > 0) {
			redis_ptr->internal_in_flight--;
			if (internal_reply(redis_ptr, &values[0]) == -1)
				return -1;
		} else {
			slot_reply(redis_ptr, self->parse_ptr + pos, (size_t)n, &values[0]);
			skip_left_out(redis_ptr, self->batch_end);
		}
		pos += (size_t)n;
	}
	vk_socket_rx_drop(self->socket_ptr, pos);
	self->parsed_upto = held - pos;
	if (redis_ptr->first == self->batch_end && redis_ptr->internal_in_flight == 0) {
		if (self->parsed_upto > 0) {
			snprintf(redis_ptr->failure, sizeof(redis_ptr->failure), "bytes nobody asked for");
			return -1;
		}
		return 1;
	}
	if (self->parsed_upto == RING_BYTES) {
		snprintf(redis_ptr->failure, sizeof(redis_ptr->failure), "a reply larger than the ring");
		return -1;
	}
	return 0;
}

static int have_work(const struct gw_redis *redis_ptr)
{
	return redis_ptr->unsent != redis_ptr->end || redis_ptr->need_script;
}

/* The queued slots and the internal commands into the send ring, as one
 * batch: the slots [first, batch_end). A slot its owner gave up before
 * it went is in the batch with its commands left out (none to answer). */
static void send_batch(struct vk_thread *that)
{
	struct gw_redis *redis_ptr = vk_thread_arg(that);
	struct client_self *self = vk_proc_local_user(that->proc_local_ptr);

	vk_begin_stateless();
	vk_idle_timeout(
		redis_ptr->stall_ms); /* a Redis that takes nothing in is as stalled as one that answers nothing */
	self->n = internal_commands(redis_ptr, self->parse_ptr, RING_BYTES, self->batch_end == UINT32_MAX);
	vk_write_on(self->socket_ptr, self->parse_ptr, self->n);
	self->batch_end = redis_ptr->end;
	for (; redis_ptr->unsent != self->batch_end; redis_ptr->unsent++) {
		self->slot_ptr = &redis_ptr->slots[redis_ptr->order[ring_index(redis_ptr, redis_ptr->unsent)]];
		self->slot_ptr->state = GW_REDIS_SLOT_SENT;
		if (self->slot_ptr->abandoned)
			self->slot_ptr->commands = 0;
		else
			vk_write_on(self->socket_ptr, self->slot_ptr->bytes, self->slot_ptr->len);
	}
	vk_flush_on(self->socket_ptr);
	/* Every byte before the batch was taken (take_replies refuses
	 * more): no reply can be there yet, so the first read waits for the
	 * poller instead of a read that would say EAGAIN. */
	vk_socket_assume_drained(self->socket_ptr);
	vk_deadline_clear();
	vk_end();
}

/* Until the batch in flight is answered, or `stall_ms` of silence. */
static void read_replies(struct vk_thread *that)
{
	struct gw_redis *redis_ptr = vk_thread_arg(that);
	struct client_self *self = vk_proc_local_user(that->proc_local_ptr);
	int rc;

	vk_begin_stateless();
	self->parsed_upto = 0;
	vk_idle_timeout(redis_ptr->stall_ms);
	for (;;) {
		/* a batch of left-out slots only: nothing to wait for */
		skip_left_out(redis_ptr, self->batch_end);
		if (redis_ptr->first == self->batch_end && redis_ptr->internal_in_flight == 0 && self->parsed_upto == 0)
			break;
		vk_wait_more_on(self->socket_ptr, self->parsed_upto);
		if (vk_socket_rx_held(self->socket_ptr) <= self->parsed_upto)
			vk_raise(ECONNRESET);
		rc = take_replies(redis_ptr, self);
		if (rc == -1)
			vk_raise(EPROTO);
		if (rc == 1)
			break;
	}
	vk_deadline_clear();
	vk_end();
}

/* One connection: connected, the script loaded, then batches until it
 * fails (raised) or the client goes. */
static void session(struct vk_thread *that)
{
	struct gw_redis *redis_ptr = vk_thread_arg(that);
	struct client_self *self = vk_proc_local_user(that->proc_local_ptr);

	vk_begin_stateless();
	redis_ptr->state = GW_REDIS_CONNECTING;
	vk_deadline(redis_ptr->connect_timeout_ms);
	vk_connect(self->socket_ptr, &redis_ptr->addr, redis_ptr->addr_len);
	vk_deadline_clear();
	{
		int one = 1;

		setsockopt(vk_socket_tx_fd(self->socket_ptr), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	redis_ptr->need_script = 1;
	self->batch_end = UINT32_MAX; /* the first batch: AUTH too */
	/* In a drain, the calls already queued still go (their requests are
	 * being answered); the client ends when it has none. */
	while (!redis_ptr->retired && (!vk_draining() || have_work(redis_ptr))) {
		if (!have_work(redis_ptr)) {
			that->idle = 1;
			vk_wait_notified(IDLE_CHECK_MS);
			that->idle = 0;
			sweep_slots(redis_ptr, vk_sys_coarse_now_ns());
			continue;
		}
		/* A connection that ended while idle (Redis restarted) is
		 * replaced before the queued commands go: they are kept. */
		if (!vk_socket_fd_quiet(vk_socket_rx_fd(self->socket_ptr)))
			vk_raise(ECONNABORTED);
		vk_call(send_batch, redis_ptr);
		redis_ptr->state = GW_REDIS_UP;
		vk_call(read_replies, redis_ptr);
		redis_ptr->backoff_ms = 0; /* a batch answered: the next failure starts the backoff over */
	}
	vk_end();
}

static void client_main(struct vk_thread *that)
{
	struct gw_redis *redis_ptr = vk_thread_arg(that);
	struct client_self *self;

	vk_begin();
	vk_finally
	{
		redis_ptr->running = 0;
		redis_ptr->state = GW_REDIS_DOWN;
		fail_slots(redis_ptr, 1);
		if (redis_ptr->retired)
			client_free(redis_ptr);
	}
	/* Before the catch: without its memory the client ends (its users
	 * see Redis down), it does not retry. */
	self->socket_ptr = vk_socket_alloc(vk_thread_proc_local(that), RING_BYTES, RING_BYTES);
	self->parse_ptr = vk_proc_local_alloc_raw(vk_thread_proc_local(that), RING_BYTES);
	if (!self->socket_ptr || !self->parse_ptr)
		vk_raise(ENOMEM);
	vk_proc_local_set_user(vk_thread_proc_local(that), self);
	redis_ptr->process_ref = vk_sys_self();
	vk_catch
	{
		if (vk_sys_faulted())
			vk_raise(EFAULT);
		vk_socket_close(self->socket_ptr);
		if (vk_error() == ECONNABORTED && redis_ptr->state == GW_REDIS_UP) {
			/* closed while idle: again at once, the queue kept */
			vk_clear_error();
			vk_catch_rearm();
			goto again;
		}
		back_off(redis_ptr);
		failed(redis_ptr,
		       redis_ptr->state == GW_REDIS_CONNECTING && vk_error() != EPROTO ? "connect failed"
		       : vk_error() == EPROTO					       ? redis_ptr->failure
		       : vk_error() == ETIMEDOUT				       ? "no reply in stall_ms"
										       : "the connection ended",
		       vk_error() == EPROTO || vk_error() == ETIMEDOUT ? 0 : vk_error());
		redis_ptr->state = GW_REDIS_DOWN;
		fail_slots(redis_ptr, 1);
		vk_clear_error();
		vk_catch_rearm();
		vk_sleep_idle(redis_ptr->backoff_ms);
		goto again;
	}
again:
	if (redis_ptr->retired || vk_draining())
		goto done;
	vk_call(session, redis_ptr);
done:;
	vk_end();
}

/* ---- made, shared, ended ---- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int same_text(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_options(const struct gw_redis *redis_ptr, const struct gw_redis_options *options_ptr)
{
	return strcmp(redis_ptr->address, options_ptr->address) == 0 &&
	       same_text(redis_ptr->username, options_ptr->username) &&
	       same_text(redis_ptr->password, options_ptr->password) &&
	       strcmp(redis_ptr->script, options_ptr->script) == 0 &&
	       redis_ptr->connect_timeout_ms == options_ptr->connect_timeout_ms &&
	       redis_ptr->stall_ms == options_ptr->stall_ms && redis_ptr->slot_count == options_ptr->max_pending;
}

static struct gw_redis *client_new(const struct gw_redis_options *options_ptr)
{
	struct gw_redis *redis_ptr = calloc(1, sizeof(*redis_ptr));
	unsigned char digest[SHA_DIGEST_LENGTH];
	int n = options_ptr->max_pending;

	if (!redis_ptr)
		return NULL;
	redis_ptr->address = strdup(options_ptr->address);
	redis_ptr->username = dup_or_null(options_ptr->username);
	redis_ptr->password = dup_or_null(options_ptr->password);
	redis_ptr->script = strdup(options_ptr->script);
	redis_ptr->slots = calloc((size_t)n, sizeof(*redis_ptr->slots));
	/* a power of two: a uint32 position wraps where its index does */
	while (redis_ptr->order_mask + 1 < (uint32_t)n)
		redis_ptr->order_mask = redis_ptr->order_mask * 2 + 1;
	redis_ptr->order = calloc((size_t)redis_ptr->order_mask + 1, sizeof(int));
	redis_ptr->free_slots = calloc((size_t)n, sizeof(int));
	if (!redis_ptr->address || !redis_ptr->script || !redis_ptr->slots || !redis_ptr->order ||
	    !redis_ptr->free_slots || (options_ptr->username && !redis_ptr->username) ||
	    (options_ptr->password && !redis_ptr->password)) {
		redis_ptr->retired = 1;
		return redis_ptr; /* freed by the caller */
	}
	redis_ptr->addr = options_ptr->addr;
	redis_ptr->addr_len = options_ptr->addr_len;
	redis_ptr->connect_timeout_ms = options_ptr->connect_timeout_ms;
	redis_ptr->stall_ms = options_ptr->stall_ms;
	redis_ptr->slot_count = n;
	for (int i = n - 1; i >= 0; i--)
		redis_ptr->free_slots[redis_ptr->free_count++] = i;
	SHA1((const uint8_t *)options_ptr->script, strlen(options_ptr->script), digest);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(redis_ptr->sha + 2 * i, 3, "%02x", digest[i]);
	redis_ptr->state = GW_REDIS_CONNECTING;
	redis_ptr->process_ref = UINT64_MAX;
	snprintf(redis_ptr->name, sizeof(redis_ptr->name), "redis:%s", options_ptr->address);
	return redis_ptr;
}

struct gw_redis *gw_redis_get(const struct gw_redis_options *options_ptr)
{
	struct gw_redis *redis_ptr;

	LIST_FOREACH(redis_ptr, &kernel_clients, kernel_elem) {
		if (same_options(redis_ptr, options_ptr)) {
			redis_ptr->users++;
			return redis_ptr;
		}
	}
	redis_ptr = client_new(options_ptr);
	if (redis_ptr && !redis_ptr->retired &&
	    vk_sys_spawn(redis_ptr->name, client_main, redis_ptr, vk_pages_for(3 * RING_BYTES + 65536)) >= 0) {
		redis_ptr->running = 1;
		redis_ptr->users = 1;
		LIST_INSERT_HEAD(&kernel_clients, redis_ptr, kernel_elem);
		return redis_ptr;
	}
	fprintf(stderr, "vkgw: redis %s: cannot start the client: %s\n", options_ptr->address,
		redis_ptr && !redis_ptr->retired ? strerror(errno) : "no memory");
	client_free(redis_ptr);
	return NULL;
}

void gw_redis_put(struct gw_redis *redis_ptr)
{
	if (!redis_ptr || --redis_ptr->users > 0)
		return;
	LIST_REMOVE(redis_ptr, kernel_elem);
	redis_ptr->retired = 1;
	if (!redis_ptr->running)
		client_free(redis_ptr); /* its process ended (the kernel drained) */
	else
		vk_sys_notify(redis_ptr->process_ref);
}

const char *gw_redis_script_sha(const struct gw_redis *redis_ptr)
{
	return redis_ptr->sha;
}

const char *gw_redis_failure(const struct gw_redis *redis_ptr)
{
	return redis_ptr->failure;
}

const char *gw_redis_address(const struct gw_redis *redis_ptr)
{
	return redis_ptr->address;
}

/* ---- calls ---- */

int gw_redis_submit(struct gw_redis *redis_ptr, const char *bytes, size_t len, int commands, uint64_t *ticket_ptr)
{
	struct gw_redis_slot *slot_ptr;

	if (!redis_ptr->running || redis_ptr->retired || redis_ptr->state == GW_REDIS_DOWN) {
		errno = ENOTCONN;
		return -1;
	}
	if (len > GW_REDIS_SLOT_BYTES || commands < 1 || commands > GW_REDIS_SLOT_COMMANDS) {
		errno = EMSGSIZE;
		return -1;
	}
	if (redis_ptr->free_count == 0) {
		errno = EAGAIN;
		return -1;
	}
	slot_ptr = &redis_ptr->slots[redis_ptr->free_slots[--redis_ptr->free_count]];
	slot_ptr->state = GW_REDIS_SLOT_QUEUED;
	slot_ptr->outcome = GW_REDIS_PENDING;
	slot_ptr->abandoned = 0;
	/* fire and forget: nobody to wake, so freed as it ends */
	slot_ptr->owner_ref = ticket_ptr ? vk_sys_self() : UINT64_MAX;
	slot_ptr->commands = commands;
	slot_ptr->replies = 0;
	slot_ptr->reply_len = 0;
	slot_ptr->len = len;
	memcpy(slot_ptr->bytes, bytes, len);
	redis_ptr->order[ring_index(redis_ptr, redis_ptr->end++)] = (int)(slot_ptr - redis_ptr->slots);
	if (ticket_ptr)
		*ticket_ptr = (uint64_t)slot_ptr->generation << 32 | (uint32_t)(slot_ptr - redis_ptr->slots);
	vk_sys_notify(redis_ptr->process_ref);
	return 0;
}

void gw_redis_wait(struct vk_thread *that)
{
	struct gw_redis_wait *wait_ptr = vk_thread_arg(that);
	struct gw_redis_slot *slot_ptr;

	vk_begin_stateless();
	for (;;) {
		slot_ptr = slot_of(wait_ptr->redis_ptr, wait_ptr->ticket);
		if (!slot_ptr) {
			wait_ptr->outcome = GW_REDIS_FAILED;
			break;
		}
		if (slot_ptr->state == GW_REDIS_SLOT_ENDED) {
			wait_ptr->outcome = slot_ptr->outcome;
			break;
		}
		if (vk_sys_now_ns() >= wait_ptr->until_ns) {
			wait_ptr->outcome = GW_REDIS_TIMED_OUT;
			break;
		}
		vk_wait_notified((wait_ptr->until_ns - vk_sys_now_ns()) / NS_PER_MS + 1);
	}
	vk_end();
}

const char *gw_redis_replies(const struct gw_redis *redis_ptr, uint64_t ticket, size_t *len_ptr)
{
	const struct gw_redis_slot *slot_ptr = slot_of(redis_ptr, ticket);

	if (!slot_ptr || slot_ptr->state != GW_REDIS_SLOT_ENDED || slot_ptr->outcome != GW_REDIS_DONE) {
		*len_ptr = 0;
		return NULL;
	}
	*len_ptr = slot_ptr->reply_len;
	return slot_ptr->reply;
}

void gw_redis_release(struct gw_redis *redis_ptr, uint64_t ticket)
{
	struct gw_redis_slot *slot_ptr = slot_of(redis_ptr, ticket);

	if (!slot_ptr)
		return;
	if (slot_ptr->state == GW_REDIS_SLOT_ENDED)
		slot_free(redis_ptr, slot_ptr);
	else
		slot_ptr->abandoned = 1; /* queued: never sent; sent: its replies dropped */
}
