/* gw_balance: endpoint choice for an upstream.
 *
 * Round robin is the smooth weighted kind: every pick adds each available
 * endpoint's weight to its counter, takes the largest, and subtracts the
 * total from it, so weights 5:1:1 give a a b a c a a rather than bursts.
 * Least request draws two available endpoints at random and takes the one
 * with fewer requests in flight per unit of weight (the "power of two
 * choices": near-best balance without scanning every endpoint).
 * Maglev fills a prime-sized table from per-endpoint permutations so each
 * endpoint owns a near-equal share (by weight) and removing one moves only
 * its own share. The ring hashes weight-scaled points per endpoint and
 * takes the first available point clockwise from the key's hash. */
#include "gw_balance.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* FNV-1a over the bytes, then a 64-bit finaliser so nearby keys spread. */
uint64_t gw_hash64(const void *data_ptr, size_t len, uint64_t seed)
{
	const unsigned char *p = data_ptr;
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static void *map_array(size_t len)
{
	void *p_ptr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p_ptr == MAP_FAILED ? NULL : p_ptr;
}

static uint64_t next_random(struct gw_balance *balance_ptr)
{
	uint64_t x = balance_ptr->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	balance_ptr->rng = x;
	return x;
}

static int build_maglev(struct gw_balance *balance_ptr)
{
	size_t m = balance_ptr->table_size;
	int n = balance_ptr->count;
	uint64_t *offset_ptr = balance_ptr->scratch_ptr, *skip_ptr = offset_ptr + n, *next_ptr = skip_ptr + n;
	size_t filled = 0;
	int max_weight = 1;

	for (size_t i = 0; i < m; i++)
		balance_ptr->table_ptr[i] = -1;
	if (gw_balance_available_count(balance_ptr) == 0)
		return 0;
	for (int e = 0; e < n; e++) {
		const char *name = balance_ptr->endpoints_ptr[e].name;

		next_ptr[e] = 0;
		offset_ptr[e] = gw_hash64(name, strlen(name), 0x6d61676c6576ull) % m;
		skip_ptr[e] = gw_hash64(name, strlen(name), 0x736b6970ull) % (m - 1) + 1;
		if (balance_ptr->endpoints_ptr[e].weight > max_weight)
			max_weight = balance_ptr->endpoints_ptr[e].weight;
	}
	/* Rounds of turns; an endpoint of weight w takes a turn in w of every
	 * max_weight rounds, so shares follow the weights. */
	for (int round = 0; filled < m; round++) {
		for (int e = 0; e < n && filled < m; e++) {
			struct gw_balance_endpoint *ep_ptr = &balance_ptr->endpoints_ptr[e];
			size_t slot;

			if (!ep_ptr->available || (round % max_weight) >= ep_ptr->weight)
				continue;
			do {
				slot = (offset_ptr[e] + next_ptr[e] * skip_ptr[e]) % m;
				next_ptr[e]++;
			} while (balance_ptr->table_ptr[slot] >= 0);
			balance_ptr->table_ptr[slot] = e;
			filled++;
		}
	}
	return 0;
}

static int compare_points(const void *a_ptr, const void *b_ptr)
{
	const struct gw_ring_point *pa_ptr = a_ptr, *pb_ptr = b_ptr;

	return pa_ptr->hash < pb_ptr->hash ? -1 : pa_ptr->hash > pb_ptr->hash;
}

static void build_ring(struct gw_balance *balance_ptr)
{
	size_t k = 0;

	for (int e = 0; e < balance_ptr->count; e++) {
		const char *name = balance_ptr->endpoints_ptr[e].name;
		int points = balance_ptr->endpoints_ptr[e].weight * GW_RING_POINTS_PER_WEIGHT;

		for (int p = 0; p < points; p++) {
			balance_ptr->ring_ptr[k].hash =
				gw_hash64(name, strlen(name), (uint64_t)p * 0x9e3779b97f4a7c15ull);
			balance_ptr->ring_ptr[k].endpoint = e;
			k++;
		}
	}
	qsort(balance_ptr->ring_ptr, k, sizeof(*balance_ptr->ring_ptr), compare_points);
	balance_ptr->ring_len = k;
}

int gw_balance_init(struct gw_balance *balance_ptr, enum gw_balance_policy policy,
		    struct gw_balance_endpoint *endpoints_ptr, int count, uint64_t seed)
{
	memset(balance_ptr, 0, sizeof(*balance_ptr));
	if (count < 1) {
		errno = EINVAL;
		return -1;
	}
	balance_ptr->policy = policy;
	balance_ptr->endpoints_ptr = endpoints_ptr;
	balance_ptr->count = count;
	balance_ptr->rng = seed ? seed : 0x2545f4914f6cdd1dull;
	if (policy == GW_BALANCE_MAGLEV) {
		balance_ptr->table_size = GW_MAGLEV_TABLE_SIZE;
		balance_ptr->table_ptr = map_array(sizeof(int) * balance_ptr->table_size);
		/* Scratch for rebuilds, so a health change costs no allocation. */
		balance_ptr->scratch_ptr = map_array(sizeof(uint64_t) * 3 * (size_t)count);
		if (!balance_ptr->table_ptr || !balance_ptr->scratch_ptr || build_maglev(balance_ptr) == -1)
			return -1;
	} else if (policy == GW_BALANCE_RING) {
		size_t points = 0;

		for (int e = 0; e < count; e++)
			points += (size_t)endpoints_ptr[e].weight * GW_RING_POINTS_PER_WEIGHT;
		balance_ptr->ring_ptr = map_array(sizeof(*balance_ptr->ring_ptr) * points);
		if (!balance_ptr->ring_ptr)
			return -1;
		build_ring(balance_ptr);
	}
	return 0;
}

void gw_balance_fini(struct gw_balance *balance_ptr)
{
	if (balance_ptr->table_ptr)
		munmap(balance_ptr->table_ptr, sizeof(int) * balance_ptr->table_size);
	if (balance_ptr->scratch_ptr)
		munmap(balance_ptr->scratch_ptr, sizeof(uint64_t) * 3 * (size_t)balance_ptr->count);
	if (balance_ptr->ring_ptr) {
		size_t points = 0;

		for (int e = 0; e < balance_ptr->count; e++)
			points += (size_t)balance_ptr->endpoints_ptr[e].weight * GW_RING_POINTS_PER_WEIGHT;
		munmap(balance_ptr->ring_ptr, sizeof(*balance_ptr->ring_ptr) * points);
	}
	memset(balance_ptr, 0, sizeof(*balance_ptr));
}

void gw_balance_set_available(struct gw_balance *balance_ptr, int endpoint, int available)
{
	if (endpoint < 0 || endpoint >= balance_ptr->count ||
	    balance_ptr->endpoints_ptr[endpoint].available == !!available)
		return;
	balance_ptr->endpoints_ptr[endpoint].available = !!available;
	balance_ptr->availability_gen++;
}

int gw_balance_available_count(struct gw_balance *balance_ptr)
{
	int n = 0;

	for (int e = 0; e < balance_ptr->count; e++)
		n += balance_ptr->endpoints_ptr[e].available != 0;
	return n;
}

static int pick_round_robin(struct gw_balance *balance_ptr)
{
	int64_t total = 0;
	int best = -1;

	for (int e = 0; e < balance_ptr->count; e++) {
		struct gw_balance_endpoint *ep_ptr = &balance_ptr->endpoints_ptr[e];

		if (!ep_ptr->available)
			continue;
		ep_ptr->current += ep_ptr->weight;
		total += ep_ptr->weight;
		if (best < 0 || ep_ptr->current > balance_ptr->endpoints_ptr[best].current)
			best = e;
	}
	if (best >= 0)
		balance_ptr->endpoints_ptr[best].current -= total;
	return best;
}

/* Load per unit of weight, compared without division. */
static int less_loaded(const struct gw_balance_endpoint *a_ptr, const struct gw_balance_endpoint *b_ptr)
{
	return (int64_t)a_ptr->active * b_ptr->weight < (int64_t)b_ptr->active * a_ptr->weight;
}

/* The n-th available endpoint, counting from 0. */
static int nth_available(struct gw_balance *balance_ptr, int n)
{
	for (int e = 0; e < balance_ptr->count; e++)
		if (balance_ptr->endpoints_ptr[e].available && n-- == 0)
			return e;
	return -1;
}

static int pick_least_request(struct gw_balance *balance_ptr)
{
	int available = gw_balance_available_count(balance_ptr);
	int i, j, a, b;

	if (available == 0)
		return -1;
	i = (int)(next_random(balance_ptr) % (uint64_t)available);
	j = (int)(next_random(balance_ptr) % (uint64_t)available);
	if (available > 1 && j == i)
		j = (j + 1) % available;
	a = nth_available(balance_ptr, i);
	b = nth_available(balance_ptr, j);
	return less_loaded(&balance_ptr->endpoints_ptr[b], &balance_ptr->endpoints_ptr[a]) ? b : a;
}

static int pick_maglev(struct gw_balance *balance_ptr, uint64_t hash)
{
	if (balance_ptr->table_gen != balance_ptr->availability_gen) {
		if (build_maglev(balance_ptr) == -1)
			return -1;
		balance_ptr->table_gen = balance_ptr->availability_gen;
	}
	return balance_ptr->table_ptr[hash % balance_ptr->table_size];
}

static int pick_ring(struct gw_balance *balance_ptr, uint64_t hash)
{
	size_t lo = 0, hi = balance_ptr->ring_len;

	if (gw_balance_available_count(balance_ptr) == 0)
		return -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (balance_ptr->ring_ptr[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < balance_ptr->ring_len; i++) {
		const struct gw_ring_point *p_ptr = &balance_ptr->ring_ptr[(lo + i) % balance_ptr->ring_len];

		if (balance_ptr->endpoints_ptr[p_ptr->endpoint].available)
			return p_ptr->endpoint;
	}
	return -1;
}

int gw_balance_pick(struct gw_balance *balance_ptr, const void *key_ptr, size_t key_len)
{
	uint64_t hash;

	switch (balance_ptr->policy) {
	case GW_BALANCE_ROUND_ROBIN:
		return pick_round_robin(balance_ptr);
	case GW_BALANCE_LEAST_REQUEST:
		return pick_least_request(balance_ptr);
	case GW_BALANCE_MAGLEV:
	case GW_BALANCE_RING:
		hash = gw_hash64(key_ptr ? key_ptr : "", key_ptr ? key_len : 0, 0);
		return balance_ptr->policy == GW_BALANCE_MAGLEV ? pick_maglev(balance_ptr, hash)
								: pick_ring(balance_ptr, hash);
	}
	return -1;
}

static int avoided(uint64_t avoid_mask, int endpoint)
{
	return (avoid_mask >> ((unsigned)endpoint % 64)) & 1;
}

int gw_balance_pick_avoiding(struct gw_balance *balance_ptr, const void *key_ptr, size_t key_len, uint64_t avoid_mask)
{
	int e = gw_balance_pick(balance_ptr, key_ptr, key_len);
	int tries = balance_ptr->policy == GW_BALANCE_ROUND_ROBIN || balance_ptr->policy == GW_BALANCE_LEAST_REQUEST
			    ? 2
			    : 0;

	while (e >= 0 && avoided(avoid_mask, e) && tries-- > 0)
		e = gw_balance_pick(balance_ptr, key_ptr, key_len);
	if (e < 0 || !avoided(avoid_mask, e))
		return e;
	for (int i = 1; i < balance_ptr->count; i++) {
		int other = (e + i) % balance_ptr->count;

		if (balance_ptr->endpoints_ptr[other].available && !avoided(avoid_mask, other))
			return other;
	}
	return e;
}
