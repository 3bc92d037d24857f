/* gw_filter_lookup: {"type": "lookup", "port": 7000, "timeout_ms": 500}
 *
 * A handler that waits on I/O of its own. The consumer behind the
 * request's "api_key" value (set by the require filter, before this one)
 * comes from a directory service on "address" (default 127.0.0.1) and
 * "port", one line each way: "KEY\n" -> "NAME\n", or "-\n" when the key is
 * unknown (403). Answers are cached in per-kernel state, so only the first
 * request with a key waits: it parks its connection on a socket of the
 * stage's own while the kernel serves the others. The consumer is attached
 * as the value "consumer" and forwarded upstream as x-consumer. A
 * directory that cannot be reached or says nothing in time: 503. */
#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter.h"
#include "gw_filter_json.h"

#include "vk_coro.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define LOOKUP_CACHE_SLOTS 64
#define LOOKUP_TEXT_MAX 64

struct lookup_config {
	struct sockaddr_in addr;
	long long timeout_ms;
};

struct lookup_entry {
	char key[LOOKUP_TEXT_MAX];
	char consumer[LOOKUP_TEXT_MAX];
};

/* Per kernel: the answers seen, the oldest replaced first. */
struct lookup_cache {
	struct lookup_entry entries[LOOKUP_CACHE_SLOTS];
	unsigned next;
};

static int lookup_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			  struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const keys[] = {"type", "address", "port", "timeout_ms", NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct lookup_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));
	const char *address = NULL;
	long long port = 0;
	char at[GW_FILTER_POINTER_MAX];

	if (!config_ptr)
		return -1;
	memset(config_ptr, 0, sizeof(*config_ptr));
	*compiled_ptr = config_ptr;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, keys) == -1)
		return -1;
	gw_filter_json_string(&fj, config_json_ptr, pointer, "address", "127.0.0.1", &address);
	if (gw_filter_json_int(&fj, config_json_ptr, pointer, "port", 1, 65535, 0, &port) == 0 && !port) {
		gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "port"), "required");
		fj.failed = 1;
	}
	gw_filter_json_int(&fj, config_json_ptr, pointer, "timeout_ms", 1, 60000, 500, &config_ptr->timeout_ms);
	config_ptr->addr.sin_family = AF_INET;
	config_ptr->addr.sin_port = htons((uint16_t)port);
	if (address && inet_pton(AF_INET, address, &config_ptr->addr.sin_addr) != 1) {
		gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "address"),
			      "expected an IPv4 address");
		fj.failed = 1;
	}
	return fj.failed ? -1 : 0;
}

/* Made when the kernel starts; a reload keeps what was learnt. */
static void *lookup_kernel_state_create(const void *compiled_ptr, void *previous_ptr)
{
	(void)compiled_ptr;
	return previous_ptr ? previous_ptr : calloc(1, sizeof(struct lookup_cache));
}

static void lookup_kernel_state_free(void *state_ptr)
{
	free(state_ptr);
}

static const char *cached(const struct lookup_cache *cache_ptr, const char *key, size_t len)
{
	for (int i = 0; i < LOOKUP_CACHE_SLOTS; i++)
		if (strlen(cache_ptr->entries[i].key) == len && memcmp(cache_ptr->entries[i].key, key, len) == 0)
			return cache_ptr->entries[i].consumer;
	return NULL;
}

static void remember(struct lookup_cache *cache_ptr, const char *key, size_t key_len, const char *consumer, size_t len)
{
	struct lookup_entry *entry_ptr = &cache_ptr->entries[cache_ptr->next];

	if (key_len == 0 || key_len >= LOOKUP_TEXT_MAX || len >= LOOKUP_TEXT_MAX)
		return;
	memcpy(entry_ptr->key, key, key_len);
	entry_ptr->key[key_len] = '\0';
	memcpy(entry_ptr->consumer, consumer, len);
	entry_ptr->consumer[len] = '\0';
	cache_ptr->next = (cache_ptr->next + 1) % LOOKUP_CACHE_SLOTS;
}

/* The directory's answer, from the cache or the wire: "-" is no one. */
static enum gw_filter_result conclude(struct gw_stage *stage_ptr, const char *consumer, size_t len)
{
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);

	if (len == 1 && consumer[0] == '-') {
		gw_exchange_respond_error(ex_ptr, 403, "unknown api key");
		return GW_FILTER_RESPOND;
	}
	if (gw_exchange_set_value(ex_ptr, "consumer", consumer, len) == -1 ||
	    gw_exchange_forward_value(ex_ptr, "consumer", "x-consumer") == -1)
		return gw_stage_fail(stage_ptr, "lookup: no room for the consumer");
	return GW_FILTER_CONTINUE;
}

/* A cache miss: the stage's thread asks the directory. Only what is in
 * `self` survives its waits. Its outcome is what it does to the exchange. */
static void lookup_wait(struct vk_thread *that)
{
	struct gw_stage *stage_ptr = vk_thread_arg(that);
	const struct lookup_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	struct {
		struct vk_socket *socket_ptr;
		const char *key;
		size_t key_len;
		char line[LOOKUP_TEXT_MAX + 1];
		size_t len;
	} * self;

	vk_begin();
	vk_catch
	{
		gw_exchange_respond_error(ex_ptr, 503, "directory unavailable");
	}
	self->key = gw_exchange_value(ex_ptr, "api_key", &self->key_len);
	self->socket_ptr = gw_stage_socket(stage_ptr, that);
	if (!self->socket_ptr)
		vk_raise(ENOMEM);
	vk_deadline(config_ptr->timeout_ms);
	vk_connect(self->socket_ptr, &config_ptr->addr, sizeof(config_ptr->addr));
	vk_write_on(self->socket_ptr, self->key, self->key_len);
	vk_write_on(self->socket_ptr, "\n", 1);
	vk_flush_on(self->socket_ptr);
	vk_readline_on(self->socket_ptr, self->len, self->line, sizeof(self->line));
	if (self->len < 2 || self->line[self->len - 1] != '\n')
		vk_raise(EPROTO);
	remember(gw_stage_kernel_state(stage_ptr), self->key, self->key_len, self->line, self->len - 1);
	conclude(stage_ptr, self->line, self->len - 1);
	vk_end();
}

static enum gw_filter_result lookup_request_head(struct gw_stage *stage_ptr)
{
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	const char *key, *consumer;
	size_t len;

	key = gw_exchange_value(ex_ptr, "api_key", &len);
	if (!key)
		return gw_stage_fail(stage_ptr, "lookup: no api_key value (require comes first)");
	consumer = cached(gw_stage_kernel_state(stage_ptr), key, len);
	if (consumer)
		return conclude(stage_ptr, consumer, strlen(consumer));
	return gw_stage_wait(stage_ptr, lookup_wait);
}

const struct gw_filter_type gw_filter_lookup_type = {
	.name = "lookup",
	.compile = lookup_compile,
	.request_head = lookup_request_head,
	.kernel_state_create = lookup_kernel_state_create,
	.kernel_state_free = lookup_kernel_state_free,
};
