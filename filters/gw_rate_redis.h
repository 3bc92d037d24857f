#ifndef GW_RATE_REDIS_H
#define GW_RATE_REDIS_H

/* gw_rate_redis: the rate limiter's Redis mode, what is not the filter's
 * flow: the GCRA script Redis runs, its commands and replies, and the
 * leases a kernel holds.
 *
 * A key's cell in Redis is one string, its TAT in microseconds of Redis's
 * own clock (TIME: every instance reads the same clock), named
 * "vkgw:{RULE:KEY}" (the hash tag is the whole rule and key, so a
 * cluster spreads keys over its nodes, and a script touching one key's
 * cells stays in one slot; a key over 200 bytes goes as "#" and its
 * SHA-256). The rule's numbers are not in the name: a reload or an
 * instance with other numbers goes on from the same TAT, which is what
 * GCRA means by a changed rate. Each call is one key (one rule): a
 * request under several Redis rules sends their calls in one pipeline,
 * and gives back what the others took when one refuses.
 *
 * Batching: a call may ask for `want` tokens at once; the script grants
 * what the bucket has, at most want. The kernel keeps those it did not
 * use in a lease for that key, spent by its next requests without a
 * round trip until the lease is `lease_ms` old. A refusal is kept too
 * (the key is refused locally until the retry time Redis gave): a TAT
 * only moves forward, so nothing passes sooner anyway. The bound: a
 * kernel never holds more than batch - 1 unused tokens of a key, so in
 * any window the instances together admit at most the limit (burst +
 * window / interval) plus (batch - 1) for every kernel of every instance
 * holding a lease on the key; unused leased tokens lapse, which admits
 * less, never more. batch 1 (the default) is exact. */

#include <stddef.h>
#include <stdint.h>

/* The Lua script: KEYS[1] the cell; ARGV interval (us), burst, want (a
 * negative want gives -want tokens back). Replies {granted, remaining,
 * reset_us, retry_us}: granted 0 is a refusal with retry_us to wait. */
extern const char gw_rate_redis_script[];

/* Appends to out[cap] the EVALSHA command for one rule and key asking for
 * `want` tokens: its length, or 0 when it does not fit. */
size_t gw_rate_redis_command(char *out, size_t cap, const char *sha, const char *rule, const char *key, size_t key_len,
			     uint64_t interval_ns, uint64_t burst, long want);

struct gw_rate_redis_answer {
	uint64_t granted;
	uint64_t remaining;
	uint64_t reset_us;
	uint64_t retry_us;
};

/* One reply of the script at buf[0..len): its length, or -1 when it is
 * not the script's answer (an error reply, another shape). */
long gw_rate_redis_answer(const char *buf, size_t len, struct gw_rate_redis_answer *answer_ptr);

/* ---- leases: per kernel and filter, direct mapped by key tag ---- */

/* Single flight (batch above 1): while a kernel's call for a key is in
 * flight, its other requests for the key wait for that call's answer (the
 * lease it leaves) instead of asking too. */
struct gw_rate_lease {
	uint64_t tag;		  /* 0: empty */
	uint64_t until_ns;	  /* tokens usable until */
	uint64_t denied_until_ns; /* refused locally until */
	uint64_t remaining;	  /* the bucket's, when Redis last said */
	uint64_t reset_at_ns;
	uint64_t tokens;
	uint64_t asking_until_ns; /* a call of this kernel's for the key is in flight */
};

#define GW_RATE_LEASES 4096

/* The lease cell for `tag` (another key's when they collide: the caller
 * checks the tag, and a new key takes the cell, dropping the other's
 * tokens, which admits less, never more). */
static inline struct gw_rate_lease *gw_rate_lease_cell(struct gw_rate_lease *leases, uint64_t tag)
{
	return &leases[(tag ^ tag >> 29) & (GW_RATE_LEASES - 1)];
}

#endif
