/* gw_resolver: the shared table of DNS endpoint addresses, its seqlock,
 * and the kernels' views of it (see the header).
 *
 * The seqlock follows the C11 pattern: the writer makes seq odd, a release
 * fence orders that before the payload stores, and a release store makes
 * seq even again; a reader loads seq with acquire, copies the payload, and
 * an acquire fence orders the copy before it loads seq again. Equal and
 * even: the copy is whole. The payload moves as relaxed 32-bit atomics, so
 * the concurrent access is defined, not merely tolerated. */
#include "gw_resolver.h"
#include "gw_config.h"
#include "gw_config_s.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* Torn or in-progress reads before a reader gives up until its next pick:
 * the writer may have died mid-write, and a kernel must not spin. */
#define GW_RESOLVER_READ_TRIES 4

#define PAYLOAD_WORDS (sizeof(struct gw_resolver_addresses) / sizeof(uint32_t))
_Static_assert(sizeof(struct gw_resolver_addresses) % sizeof(uint32_t) == 0, "the payload moves as 32-bit words");

static int entry_count(const struct gw_resolver *resolver_ptr)
{
	return __atomic_load_n(&resolver_ptr->count, __ATOMIC_ACQUIRE);
}

/* Entry `i`'s constant part, for endpoint `e` of `up_ptr`. */
static void entry_fill(struct gw_resolver_entry *entry_ptr, const struct gw_config_upstream *up_ptr, int u, int e)
{
	const struct gw_config_endpoint *endpoint_ptr = &up_ptr->endpoints_ptr[e];

	entry_ptr->upstream_index = u;
	entry_ptr->endpoint_index = e;
	entry_ptr->interval_ms = up_ptr->resolve_interval_ms;
	entry_ptr->port = endpoint_ptr->port;
	snprintf(entry_ptr->upstream_name, sizeof(entry_ptr->upstream_name), "%s", up_ptr->name);
	snprintf(entry_ptr->address, sizeof(entry_ptr->address), "%s", endpoint_ptr->address);
	snprintf(entry_ptr->host, sizeof(entry_ptr->host), "%s", endpoint_ptr->host);
}

struct gw_resolver *gw_resolver_create(const struct gw_config *config_ptr)
{
	struct gw_resolver *resolver_ptr;
	size_t bytes;
	int count = 0, i = 0;

	for (int u = 0; u < config_ptr->upstream_count; u++)
		for (int e = 0; e < config_ptr->upstreams_ptr[u].endpoint_count; e++)
			count += config_ptr->upstreams_ptr[u].endpoints_ptr[e].kind == GW_CONFIG_ENDPOINT_DNS;
	bytes = sizeof(*resolver_ptr) + (size_t)(count + GW_RESOLVER_SPARE) * sizeof(resolver_ptr->entries[0]);
	/* Anonymous and shared: the resolver and the kernels, all forked
	 * after this, see the same pages (zeroed: seq 0, no addresses). The
	 * spare entries cost address space until a reload writes them. */
	resolver_ptr = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (resolver_ptr == MAP_FAILED)
		return NULL;
	resolver_ptr->map_bytes = bytes;
	resolver_ptr->capacity = count + GW_RESOLVER_SPARE;
	for (int u = 0; u < config_ptr->upstream_count; u++) {
		const struct gw_config_upstream *up_ptr = &config_ptr->upstreams_ptr[u];

		for (int e = 0; e < up_ptr->endpoint_count; e++)
			if (up_ptr->endpoints_ptr[e].kind == GW_CONFIG_ENDPOINT_DNS)
				entry_fill(&resolver_ptr->entries[i++], up_ptr, u, e);
	}
	resolver_ptr->count = count;
	return resolver_ptr;
}

void gw_resolver_destroy(struct gw_resolver *resolver_ptr)
{
	if (resolver_ptr)
		munmap(resolver_ptr, resolver_ptr->map_bytes);
}

int gw_resolver_count(const struct gw_resolver *resolver_ptr)
{
	return entry_count(resolver_ptr);
}

const struct gw_resolver_entry *gw_resolver_entry_at(const struct gw_resolver *resolver_ptr, int i)
{
	return i >= 0 && i < entry_count(resolver_ptr) ? &resolver_ptr->entries[i] : NULL;
}

const struct gw_resolver_entry *gw_resolver_find(const struct gw_resolver *resolver_ptr, int upstream, int endpoint)
{
	for (int i = 0, n = entry_count(resolver_ptr); i < n; i++)
		if (resolver_ptr->entries[i].upstream_index == upstream &&
		    resolver_ptr->entries[i].endpoint_index == endpoint)
			return &resolver_ptr->entries[i];
	return NULL;
}

const struct gw_resolver_entry *gw_resolver_find_address(const struct gw_resolver *resolver_ptr, const char *address)
{
	for (int i = 0, n = entry_count(resolver_ptr); i < n; i++)
		if (strcmp(resolver_ptr->entries[i].address, address) == 0)
			return &resolver_ptr->entries[i];
	return NULL;
}

/* Endpoint e of upstream u is a DNS name an endpoint before it in the
 * config (upstream by upstream) already names. */
static int named_before(const struct gw_config *config_ptr, int u, int e)
{
	const char *address = config_ptr->upstreams_ptr[u].endpoints_ptr[e].address;

	for (int v = 0; v <= u; v++) {
		const struct gw_config_upstream *up_ptr = &config_ptr->upstreams_ptr[v];

		for (int f = 0; f < (v == u ? e : up_ptr->endpoint_count); f++)
			if (up_ptr->endpoints_ptr[f].kind == GW_CONFIG_ENDPOINT_DNS &&
			    strcmp(up_ptr->endpoints_ptr[f].address, address) == 0)
				return 1;
	}
	return 0;
}

/* The DNS endpoints of `config_ptr` whose address the table does not
 * have (each address once): their number, and, with `add`, each written
 * into the next entry, then counted (a reader that sees the count sees
 * the entry whole). */
static int new_names(struct gw_resolver *resolver_ptr, const struct gw_config *config_ptr, int add)
{
	int n = 0;

	for (int u = 0; u < config_ptr->upstream_count; u++) {
		const struct gw_config_upstream *up_ptr = &config_ptr->upstreams_ptr[u];

		for (int e = 0; e < up_ptr->endpoint_count; e++) {
			int i = entry_count(resolver_ptr);

			if (up_ptr->endpoints_ptr[e].kind != GW_CONFIG_ENDPOINT_DNS ||
			    gw_resolver_find_address(resolver_ptr, up_ptr->endpoints_ptr[e].address) ||
			    (!add && named_before(config_ptr, u, e)))
				continue;
			n++;
			if (!add)
				continue;
			entry_fill(&resolver_ptr->entries[i], up_ptr, u, e);
			resolver_ptr->entries[i].upstream_index = -1;
			__atomic_store_n(&resolver_ptr->count, i + 1, __ATOMIC_RELEASE);
		}
	}
	return n;
}

int gw_resolver_new_names(const struct gw_resolver *resolver_ptr, const struct gw_config *config_ptr)
{
	/* Counting writes nothing. */
	return new_names((struct gw_resolver *)resolver_ptr, config_ptr, 0);
}

int gw_resolver_room(const struct gw_resolver *resolver_ptr)
{
	return resolver_ptr->capacity - entry_count(resolver_ptr);
}

int gw_resolver_add_new(struct gw_resolver *resolver_ptr, const struct gw_config *config_ptr)
{
	int first = entry_count(resolver_ptr);

	if (gw_resolver_new_names(resolver_ptr, config_ptr) > gw_resolver_room(resolver_ptr))
		return -1;
	new_names(resolver_ptr, config_ptr, 1);
	return first;
}

int gw_resolver_answered(const struct gw_resolver_entry *entry_ptr)
{
	return __atomic_load_n(&entry_ptr->answered, __ATOMIC_ACQUIRE) != 0;
}

/* ---- writer ---- */

void gw_resolver_publish(struct gw_resolver_entry *entry_ptr, const struct gw_resolver_addresses *addresses_ptr)
{
	uint32_t *dst_ptr = (uint32_t *)&entry_ptr->published;
	const uint32_t *src_ptr = (const uint32_t *)addresses_ptr;
	uint32_t seq = __atomic_load_n(&entry_ptr->seq, __ATOMIC_RELAXED); /* the only writer */

	__atomic_store_n(&entry_ptr->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (size_t i = 0; i < PAYLOAD_WORDS; i++)
		__atomic_store_n(&dst_ptr[i], src_ptr[i], __ATOMIC_RELAXED);
	__atomic_store_n(&entry_ptr->seq, seq + 2, __ATOMIC_RELEASE);
}

void gw_resolver_order(struct gw_resolver_addresses *addresses_ptr)
{
	struct gw_resolver_addresses sorted;
	uint32_t n = 0;

	memset(&sorted, 0, sizeof(sorted));
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < addresses_ptr->count; i++)
			if ((addresses_ptr->addresses[i].sa.sa_family == AF_INET) == (pass == 0))
				sorted.addresses[n++] = addresses_ptr->addresses[i];
	sorted.count = n;
	*addresses_ptr = sorted;
}

void gw_resolver_format(const struct gw_resolver_addresses *addresses_ptr, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < addresses_ptr->count && used < len; i++) {
		const union gw_resolver_address *a_ptr = &addresses_ptr->addresses[i];
		char text[INET6_ADDRSTRLEN];
		int n;

		if (a_ptr->sa.sa_family == AF_INET6) {
			inet_ntop(AF_INET6, &a_ptr->in6.sin6_addr, text, sizeof(text));
			n = snprintf(buf + used, len - used, "%s[%s]:%u", i ? ", " : "", text,
				     ntohs(a_ptr->in6.sin6_port));
		} else {
			inet_ntop(AF_INET, &a_ptr->in4.sin_addr, text, sizeof(text));
			n = snprintf(buf + used, len - used, "%s%s:%u", i ? ", " : "", text,
				     ntohs(a_ptr->in4.sin_port));
		}
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

void gw_resolver_record(struct gw_resolver_entry *entry_ptr, const struct gw_resolver_addresses *addresses_ptr,
			const char *error, FILE *log_ptr)
{
	struct gw_resolver_addresses ordered;
	char list[GW_RESOLVER_FORMAT_MAX];

	if (!addresses_ptr || addresses_ptr->count == 0) {
		/* Like Envoy's STRICT_DNS: a failed lookup changes nothing the
		 * kernels see; it is logged when it starts, not every time. */
		if (!entry_ptr->failing) {
			gw_resolver_format(&entry_ptr->published, list, sizeof(list));
			fprintf(log_ptr, "vkgw: upstream %s endpoint %s: cannot resolve %s: %s; %s%s\n",
				entry_ptr->upstream_name, entry_ptr->address, entry_ptr->host,
				error ? error : "no address",
				entry_ptr->published.count ? "keeping " : "unavailable until it resolves", list);
		}
		entry_ptr->failing = 1;
		__atomic_store_n(&entry_ptr->answered, 1, __ATOMIC_RELEASE);
		return;
	}
	ordered = *addresses_ptr;
	gw_resolver_order(&ordered);
	gw_resolver_format(&ordered, list, sizeof(list));
	if (memcmp(&ordered, &entry_ptr->published, sizeof(ordered)) != 0) {
		gw_resolver_publish(entry_ptr, &ordered);
		fprintf(log_ptr, "vkgw: upstream %s endpoint %s now resolves to %s\n", entry_ptr->upstream_name,
			entry_ptr->address, list);
	} else if (entry_ptr->failing) {
		fprintf(log_ptr, "vkgw: upstream %s endpoint %s resolves again to %s\n", entry_ptr->upstream_name,
			entry_ptr->address, list);
	}
	entry_ptr->failing = 0;
	__atomic_store_n(&entry_ptr->answered, 1, __ATOMIC_RELEASE);
}

/* ---- readers ---- */

int gw_resolver_read(const struct gw_resolver_entry *entry_ptr, struct gw_resolver_addresses *out_ptr,
		     uint32_t *seq_ptr)
{
	const uint32_t *src_ptr = (const uint32_t *)&entry_ptr->published;
	uint32_t *dst_ptr = (uint32_t *)out_ptr;

	for (int t = 0; t < GW_RESOLVER_READ_TRIES; t++) {
		uint32_t before = __atomic_load_n(&entry_ptr->seq, __ATOMIC_ACQUIRE), after;

		if (before & 1)
			continue;
		for (size_t i = 0; i < PAYLOAD_WORDS; i++)
			dst_ptr[i] = __atomic_load_n(&src_ptr[i], __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		after = __atomic_load_n(&entry_ptr->seq, __ATOMIC_RELAXED);
		if (after == before && out_ptr->count <= GW_RESOLVER_ADDRESSES_MAX) {
			*seq_ptr = before;
			return 0;
		}
	}
	return -1;
}

void gw_resolver_view_init(struct gw_resolver_view *view_ptr, const struct gw_resolver_entry *entry_ptr)
{
	memset(view_ptr, 0, sizeof(*view_ptr));
	view_ptr->entry_ptr = entry_ptr;
}

/* Addresses are ordered IPv4 first: the leading run of one family. */
static uint32_t preferred_count(const struct gw_resolver_addresses *addresses_ptr)
{
	uint32_t n = 0;

	while (n < addresses_ptr->count &&
	       addresses_ptr->addresses[n].sa.sa_family == addresses_ptr->addresses[0].sa.sa_family)
		n++;
	return n;
}

int gw_resolver_view_refresh(struct gw_resolver_view *view_ptr)
{
	struct gw_resolver_addresses copy;
	uint32_t seq;

	if (!view_ptr->entry_ptr)
		return 0;
	/* The common case: nothing new since the last copy. */
	if (__atomic_load_n(&view_ptr->entry_ptr->seq, __ATOMIC_ACQUIRE) == view_ptr->seen_seq)
		return (int)view_ptr->usable;
	if (gw_resolver_read(view_ptr->entry_ptr, &copy, &seq) == 0) {
		view_ptr->copy = copy;
		view_ptr->seen_seq = seq;
		view_ptr->usable = preferred_count(&copy);
	}
	return (int)view_ptr->usable;
}

static const struct sockaddr *address_at(const struct gw_resolver_view *view_ptr, uint32_t i, socklen_t *len_ptr)
{
	const union gw_resolver_address *a_ptr = &view_ptr->copy.addresses[i];

	*len_ptr = a_ptr->sa.sa_family == AF_INET6 ? sizeof(a_ptr->in6) : sizeof(a_ptr->in4);
	return &a_ptr->sa;
}

const struct sockaddr *gw_resolver_view_next(struct gw_resolver_view *view_ptr, socklen_t *len_ptr)
{
	if (view_ptr->usable == 0)
		return NULL;
	return address_at(view_ptr, view_ptr->next++ % view_ptr->usable, len_ptr);
}

const struct sockaddr *gw_resolver_view_at(const struct gw_resolver_view *view_ptr, unsigned turn, socklen_t *len_ptr)
{
	if (view_ptr->usable == 0)
		return NULL;
	return address_at(view_ptr, turn % view_ptr->usable, len_ptr);
}
