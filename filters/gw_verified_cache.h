#ifndef GW_VERIFIED_CACHE_H
#define GW_VERIFIED_CACHE_H

/* gw_verified_cache: what a kernel remembers of the credentials it has
 * verified (a password, a token), so that a repeated request costs one
 * HMAC instead of a verification. An entry is a tag, HMAC-SHA-256 under
 * a random secret of the kernel of what was verified, never the
 * credential itself, with the time it expires; 4-way buckets, the entry
 * expiring first makes room. Per kernel, made with the filter's kernel
 * state, never on the request path. */

#include <stddef.h>
#include <stdint.h>

#define GW_VERIFIED_TAG_BYTES 32 /* HMAC-SHA-256 */
#define GW_VERIFIED_CACHE_WAYS 4
#define GW_VERIFIED_NOTE_MAX 47 /* gw_verified_cache_create's notes */

/* An entry may carry a note of the filter's (jwt: the consumer;
 * forward_auth: the decision), so that a hit needs nothing else;
 * note_len 0: none. Slots are note_max bytes apart beyond the struct. */
struct gw_verified_cache_slot {
	uint8_t tag[GW_VERIFIED_TAG_BYTES];
	uint64_t expires_ns;
	uint32_t note_len;
	char note[];
};

struct gw_verified_cache {
	uint8_t secret[32];  /* random per kernel: tags mean nothing elsewhere */
	size_t bucket_count; /* a power of two; 0: remembers nothing */
	size_t note_max;
	size_t slot_bytes;
	_Alignas(8) unsigned char slots[]; /* bucket_count * GW_VERIFIED_CACHE_WAYS */
};

/* A cache of at least `entries` slots (0: one that remembers nothing)
 * with notes of up to GW_VERIFIED_NOTE_MAX bytes, or note_max;
 * NULL for want of memory. Freed with gw_verified_cache_free. */
struct gw_verified_cache *gw_verified_cache_create(size_t entries);
struct gw_verified_cache *gw_verified_cache_create_noted(size_t entries, size_t note_max);
void gw_verified_cache_free(struct gw_verified_cache *cache_ptr);
/* The tag of `count` byte strings, NUL-separated (so that bytes moved
 * from one part to the next give another tag), under the cache's secret. */
void gw_verified_cache_tag(const struct gw_verified_cache *cache_ptr, const void *const *parts, const size_t *lens,
			   int count, uint8_t tag[GW_VERIFIED_TAG_BYTES]);
/* The entry of `tag` if it is remembered and has not expired at now_ns,
 * else NULL. */
const struct gw_verified_cache_slot *gw_verified_cache_find(const struct gw_verified_cache *cache_ptr,
							    const uint8_t tag[GW_VERIFIED_TAG_BYTES], uint64_t now_ns);
/* Remembers `tag` until expires_ns, in place of the entry of its bucket
 * that expires first (or of the same tag), with `note` (len bytes, at most
 * the cache's note_max; NULL or longer: none). */
void gw_verified_cache_put(struct gw_verified_cache *cache_ptr, const uint8_t tag[GW_VERIFIED_TAG_BYTES],
			   uint64_t expires_ns, const char *note, size_t len);

#endif
