/* gw_rate_table: GCRA cells shared by every kernel (see the header). */
#include "gw_rate_table.h"
#include "gw_rate_table_s.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/siphash.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* Key parts are hashed from a copy, parts over 64 bytes as their
 * SHA-256. */
#define KEY_TEXT_MAX 512 /* parts are folded into a digest past it */
#define HEADER_BYTES 128 /* two cache lines: the cells start on a line */

static struct gw_rate_table *instance_ptr;

struct gw_rate_table *gw_rate_table_create(size_t cells)
{
	size_t buckets = 1, len;
	struct gw_rate_table *table_ptr;
	void *map_ptr;

	while (buckets * GW_RATE_CELLS < cells)
		buckets <<= 1;
	len = HEADER_BYTES + buckets * GW_RATE_WAYS * sizeof(struct gw_rate_cell) +
	      GW_RATE_COUNTERS * sizeof(struct gw_rate_counter);
	map_ptr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map_ptr == MAP_FAILED)
		return NULL;
	table_ptr = map_ptr;
	_Static_assert(sizeof(struct gw_rate_table) <= HEADER_BYTES, "the header fits before the cells");
	RAND_bytes((uint8_t *)table_ptr->secret, sizeof(table_ptr->secret));
	table_ptr->bucket_count = buckets;
	table_ptr->map_len = len;
	table_ptr->cells_ptr = (struct gw_rate_cell *)((char *)map_ptr + HEADER_BYTES);
	table_ptr->counters_ptr = (struct gw_rate_counter *)(table_ptr->cells_ptr + buckets * GW_RATE_WAYS);
	instance_ptr = table_ptr;
	return table_ptr;
}

void gw_rate_table_destroy(struct gw_rate_table *table_ptr)
{
	if (!table_ptr)
		return;
	if (instance_ptr == table_ptr)
		instance_ptr = NULL;
	munmap(table_ptr, table_ptr->map_len);
}

struct gw_rate_table *gw_rate_table_instance(void)
{
	return instance_ptr;
}

size_t gw_rate_table_cells(const struct gw_rate_table *table_ptr)
{
	return table_ptr->bucket_count * GW_RATE_CELLS;
}

uint64_t gw_rate_table_live_evictions(const struct gw_rate_table *table_ptr)
{
	return __atomic_load_n(&table_ptr->live_evictions, __ATOMIC_RELAXED);
}

void gw_rate_table_key(const struct gw_rate_table *table_ptr, const void *const *parts, const size_t *lens, int count,
		       uint8_t key[GW_RATE_KEY_BYTES])
{
	uint8_t text[KEY_TEXT_MAX];
	size_t n = 0;
	uint64_t index, tag;

	for (int i = 0; i < count; i++) {
		/* Each part with its length (bytes moved from one part to the
		 * next give another key); a long part as its digest. */
		uint32_t len32 = (uint32_t)lens[i];
		int digest = lens[i] > 64;

		if (n + 4 + 64 > sizeof(text)) {
			/* Full: what is there folds into its digest. */
			SHA256(text, n, text);
			n = SHA256_DIGEST_LENGTH;
		}
		len32 |= digest ? 0x80000000u : 0;
		memcpy(text + n, &len32, 4);
		n += 4;
		if (digest) {
			SHA256(parts[i], lens[i], text + n);
			n += SHA256_DIGEST_LENGTH;
		} else {
			memcpy(text + n, parts[i], lens[i]);
			n += lens[i];
		}
	}
	index = SIPHASH_24(table_ptr->secret[0], text, n);
	tag = SIPHASH_24(table_ptr->secret[1], text, n) | 1; /* 0 is an empty cell */
	memcpy(key, &index, 8);
	memcpy(key + 8, &tag, 8);
}

/* ---- cells ---- */

typedef unsigned __int128 cell_word;

static cell_word pack(uint64_t tag, uint64_t tat_ns)
{
	return (cell_word)tat_ns << 64 | tag;
}

/* The cell as it is, maybe torn between its halves: a swap expecting it
 * fails then, and the caller looks again. */
static void cell_read(const struct gw_rate_cell *cell_ptr, uint64_t *tag_ptr, uint64_t *tat_ptr)
{
	*tag_ptr = __atomic_load_n(&cell_ptr->tag, __ATOMIC_ACQUIRE);
	*tat_ptr = __atomic_load_n(&cell_ptr->tat_ns, __ATOMIC_ACQUIRE);
}

__attribute__((target("cx16"))) static int cell_swap(struct gw_rate_cell *cell_ptr, uint64_t tag, uint64_t tat_ns,
						     uint64_t new_tag, uint64_t new_tat_ns)
{
	return __sync_bool_compare_and_swap((cell_word *)cell_ptr, pack(tag, tat_ns), pack(new_tag, new_tat_ns));
}

/* log2 of burst * interval, rounded down. */
static uint64_t capacity_log2(uint64_t interval_ns, uint64_t burst)
{
	uint64_t capacity = interval_ns * burst;

	return capacity ? 63 - (uint64_t)__builtin_clzll(capacity) : 0;
}

/* The key's bucket, and its tag for a limit of interval_ns and burst:
 * the hash's high bits and the capacity's log2 in the low ones (never 0:
 * an empty cell). */
static struct gw_rate_cell *bucket_of(const struct gw_rate_table *table_ptr, const uint8_t key[GW_RATE_KEY_BYTES],
				      uint64_t interval_ns, uint64_t burst, uint64_t *tag_ptr)
{
	uint64_t index;

	memcpy(&index, key, 8);
	memcpy(tag_ptr, key + 8, 8);
	*tag_ptr = (*tag_ptr & ~(uint64_t)GW_RATE_TAG_CAPACITY_MASK) | capacity_log2(interval_ns, burst);
	if (*tag_ptr == 0)
		*tag_ptr = (uint64_t)GW_RATE_TAG_CAPACITY_MASK + 1;
	return &table_ptr->cells_ptr[(index & (table_ptr->bucket_count - 1)) * GW_RATE_WAYS];
}

static void verdict_of(uint64_t tat_ns, uint64_t now_ns, uint64_t interval_ns, uint64_t burst,
		       struct gw_rate_verdict *verdict_ptr)
{
	/* tat_ns >= now_ns: the TAT after this request. Full again at TAT;
	 * room for (now + burst * T - TAT) / T more. */
	uint64_t ahead = tat_ns - now_ns, capacity = burst * interval_ns;

	verdict_ptr->reset_ns = ahead;
	verdict_ptr->remaining = ahead >= capacity ? 0 : (capacity - ahead) / interval_ns;
}

/* How much of its burst a live cell's key has used: TAT ahead of now
 * over its capacity (burst * interval, whose log2 the tag's low bits
 * carry), 0 for an empty or passed one. */
static double used_share(uint64_t tag, uint64_t tat_ns, uint64_t now_ns)
{
	if (tag == 0 || tat_ns <= now_ns)
		return 0;
	return (double)(tat_ns - now_ns) / (double)(1ull << (tag & GW_RATE_TAG_CAPACITY_MASK));
}

/* A cell for a key the bucket lacks: an empty one, else one whose TAT has
 * passed, else the one whose key has used the least of its burst (a live
 * key forgotten: the furthest from its limit, whatever its rule, never
 * the busiest). */
static struct gw_rate_cell *victim(struct gw_rate_cell *bucket_ptr, uint64_t now_ns)
{
	struct gw_rate_cell *best_ptr = NULL;
	double best_share = 0;
	uint64_t tag, tat;

	for (int i = 0; i < GW_RATE_CELLS; i++) {
		double share;

		cell_read(&bucket_ptr[i], &tag, &tat);
		if (tag == 0 || tat <= now_ns)
			return &bucket_ptr[i];
		share = used_share(tag, tat, now_ns);
		if (!best_ptr || share < best_share) {
			best_share = share;
			best_ptr = &bucket_ptr[i];
		}
	}
	return best_ptr;
}

/* The bucket's memory of the last live key it forgot: replaced. */
static void ghost_keep(struct gw_rate_cell *bucket_ptr, uint64_t tag, uint64_t tat_ns)
{
	struct gw_rate_cell *ghost_ptr = &bucket_ptr[GW_RATE_CELLS];
	uint64_t was_tag, was_tat;

	do
		cell_read(ghost_ptr, &was_tag, &was_tat);
	while (!cell_swap(ghost_ptr, was_tag, was_tat, tag, tat_ns));
}

/* Where the key's TAT starts when it has no cell: where the ghost left it
 * if it is that key's (taken: the ghost is cleared), else now. */
static uint64_t ghost_take(struct gw_rate_cell *bucket_ptr, uint64_t tag, uint64_t now_ns)
{
	struct gw_rate_cell *ghost_ptr = &bucket_ptr[GW_RATE_CELLS];
	uint64_t ghost_tag, tat;

	cell_read(ghost_ptr, &ghost_tag, &tat);
	if (ghost_tag != tag || tat <= now_ns || !cell_swap(ghost_ptr, ghost_tag, tat, 0, 0))
		return now_ns;
	return tat;
}

void gw_rate_table_take(struct gw_rate_table *table_ptr, const uint8_t key[GW_RATE_KEY_BYTES], uint64_t interval_ns,
			uint64_t burst, uint64_t now_ns, struct gw_rate_verdict *verdict_ptr)
{
	uint64_t tag, cell_tag, tat, start, tolerance = (burst - 1) * interval_ns;
	struct gw_rate_cell *bucket_ptr = bucket_of(table_ptr, key, interval_ns, burst, &tag), *cell_ptr;

	memset(verdict_ptr, 0, sizeof(*verdict_ptr));
	for (;;) {
		cell_ptr = NULL;
		for (int i = 0; i < GW_RATE_CELLS; i++) {
			cell_read(&bucket_ptr[i], &cell_tag, &tat);
			if (cell_tag == tag) {
				cell_ptr = &bucket_ptr[i];
				break;
			}
		}
		if (!cell_ptr) {
			/* No cell yet: one is made with the TAT the key had
			 * (its ghost) or now, then the key is taken from as
			 * any other. */
			uint64_t first = ghost_take(bucket_ptr, tag, now_ns);

			cell_ptr = victim(bucket_ptr, now_ns);
			cell_read(cell_ptr, &cell_tag, &tat);
			if (cell_tag == tag) {
				/* another kernel just made this key's cell: what the
				 * ghost gave back goes back to it */
				if (first > now_ns)
					ghost_keep(bucket_ptr, tag, first);
				continue;
			}
			if (!cell_swap(cell_ptr, cell_tag, tat, tag, first)) {
				if (first > now_ns)
					ghost_keep(bucket_ptr, tag, first); /* put back what was taken */
				continue;
			}
			if (cell_tag != 0 && tat > now_ns) {
				__atomic_add_fetch(&table_ptr->live_evictions, 1, __ATOMIC_RELAXED);
				ghost_keep(bucket_ptr, cell_tag, tat);
			}
			continue;
		}
		start = tat > now_ns ? tat : now_ns;
		/* A refusal stands only on a cell read whole: its halves were
		 * two loads, and another kernel may have swapped it between. */
		if (start - now_ns > tolerance && !cell_swap(cell_ptr, tag, tat, tag, tat))
			continue;
		if (start - now_ns > tolerance) {
			verdict_ptr->admitted = 0;
			verdict_ptr->retry_after_ns = start - now_ns - tolerance;
			verdict_of(start, now_ns, interval_ns, burst, verdict_ptr);
			verdict_ptr->remaining = 0;
			return;
		}
		if (cell_swap(cell_ptr, tag, tat, tag, start + interval_ns))
			break;
		/* another kernel moved it, or the read was torn: again */
	}
	verdict_ptr->admitted = 1;
	verdict_of(start + interval_ns, now_ns, interval_ns, burst, verdict_ptr);
}

void gw_rate_table_give_back(struct gw_rate_table *table_ptr, const uint8_t key[GW_RATE_KEY_BYTES],
			     uint64_t interval_ns, uint64_t burst, uint64_t now_ns)
{
	uint64_t tag, cell_tag, tat;
	struct gw_rate_cell *bucket_ptr = bucket_of(table_ptr, key, interval_ns, burst, &tag);

	for (int i = 0; i < GW_RATE_CELLS; i++) {
		for (;;) {
			cell_read(&bucket_ptr[i], &cell_tag, &tat);
			if (cell_tag != tag || tat <= now_ns)
				break;
			if (cell_swap(&bucket_ptr[i], tag, tat, tag,
				      tat - interval_ns > now_ns ? tat - interval_ns : now_ns))
				return;
		}
		if (cell_tag == tag)
			return;
	}
}

/* ---- counters ---- */

struct gw_rate_counter *gw_rate_table_counter(struct gw_rate_table *table_ptr, const char *route, const char *rule)
{
	const void *parts[] = {route, rule};
	size_t lens[] = {strlen(route), strlen(rule)};
	uint8_t key[GW_RATE_KEY_BYTES];
	uint64_t tag, start;

	gw_rate_table_key(table_ptr, parts, lens, 2, key);
	memcpy(&tag, key + 8, 8);
	memcpy(&start, key, 8);
	for (size_t i = 0; i < GW_RATE_COUNTERS; i++) {
		struct gw_rate_counter *c_ptr = &table_ptr->counters_ptr[(start + i) % GW_RATE_COUNTERS];
		uint64_t expected = 0;

		if (__atomic_load_n(&c_ptr->tag, __ATOMIC_ACQUIRE) == tag)
			return c_ptr;
		if (!__atomic_compare_exchange_n(&c_ptr->tag, &expected, tag, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			if (expected == tag)
				return c_ptr; /* another kernel made it just now */
			continue;
		}
		snprintf(c_ptr->route, sizeof(c_ptr->route), "%s", route);
		snprintf(c_ptr->rule, sizeof(c_ptr->rule), "%s", rule);
		__atomic_store_n(&c_ptr->ready, 1, __ATOMIC_RELEASE);
		return c_ptr;
	}
	return NULL;
}

void gw_rate_counter_add(struct gw_rate_counter *counter_ptr, enum gw_rate_result result)
{
	if (counter_ptr)
		__atomic_add_fetch(&counter_ptr->counts[result], 1, __ATOMIC_RELAXED);
}

uint64_t gw_rate_counter_get(const struct gw_rate_counter *counter_ptr, enum gw_rate_result result)
{
	return __atomic_load_n(&counter_ptr->counts[result], __ATOMIC_RELAXED);
}

/* A label value: '"', '\\' and line ends escaped (the names are printable
 * already: rule names are field values, route names tokens). */
static void label(char *out, size_t cap, const char *text)
{
	size_t n = 0;

	for (const char *p = text; *p && n + 3 < cap; p++) {
		if (*p == '"' || *p == '\\')
			out[n++] = '\\';
		out[n++] = *p;
	}
	out[n] = '\0';
}

/* One family's lines, one per (route, rule) counted so far: the
 * requests by result, or the Redis errors. */
static size_t render_family(const struct gw_rate_table *table_ptr, char *buf, size_t len, int redis_errors)
{
	static const char *const results[GW_RATE_REDIS_ERROR] = {"allowed", "limited", "shadow_limited"};
	size_t n = 0;
	int shown = 0;

#define PUT(...) (n += (size_t)snprintf(n < len ? buf + n : NULL, n < len ? len - n : 0, __VA_ARGS__))
	for (size_t i = 0; i < GW_RATE_COUNTERS; i++) {
		const struct gw_rate_counter *c_ptr = &table_ptr->counters_ptr[i];
		char route[140], rule[140];

		if (!__atomic_load_n(&c_ptr->ready, __ATOMIC_ACQUIRE))
			continue;
		if (!shown++)
			PUT("%s", redis_errors
					  ? "# HELP vkgw_rate_limit_redis_errors_total Requests a rate_limit rule in "
					    "Redis mode could not ask Redis about (down, slow, full, or a bad "
					    "reply): on_error decided.\n"
					    "# TYPE vkgw_rate_limit_redis_errors_total counter\n"
					  : "# HELP vkgw_rate_limit_requests_total Requests a rate_limit rule "
					    "counted, by what it said (for the whole instance: every kernel's).\n"
					    "# TYPE vkgw_rate_limit_requests_total counter\n");
		label(route, sizeof(route), c_ptr->route);
		label(rule, sizeof(rule), c_ptr->rule);
		if (redis_errors) {
			PUT("vkgw_rate_limit_redis_errors_total{route=\"%s\",rule=\"%s\"} %llu\n", route, rule,
			    (unsigned long long)gw_rate_counter_get(c_ptr, GW_RATE_REDIS_ERROR));
			continue;
		}
		for (int r = 0; r < GW_RATE_REDIS_ERROR; r++)
			PUT("vkgw_rate_limit_requests_total{route=\"%s\",rule=\"%s\",result=\"%s\"} %llu\n", route,
			    rule, results[r], (unsigned long long)gw_rate_counter_get(c_ptr, (enum gw_rate_result)r));
	}
#undef PUT
	return n;
}

size_t gw_rate_table_render_prometheus(char *buf, size_t len)
{
	const struct gw_rate_table *table_ptr = instance_ptr;
	size_t n = 0;

	if (!table_ptr)
		return 0;
	n += render_family(table_ptr, buf, len, 0);
	n += render_family(table_ptr, n < len ? buf + n : NULL, n < len ? len - n : 0, 1);
	n += (size_t)snprintf(
		n < len ? buf + n : NULL, n < len ? len - n : 0,
		"# HELP vkgw_rate_limit_live_evictions_total Keys forgotten while live to make room in the "
		"rate limit table (rate_limits.cells too small for the live keys).\n"
		"# TYPE vkgw_rate_limit_live_evictions_total counter\nvkgw_rate_limit_live_evictions_total "
		"%llu\n",
		(unsigned long long)gw_rate_table_live_evictions(table_ptr));
	return n;
}
