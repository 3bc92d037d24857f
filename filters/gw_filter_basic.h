#ifndef GW_FILTER_BASIC_H
#define GW_FILTER_BASIC_H

/* The basic filter's per-kernel cache of verified credentials
 * (filters/gw_filter_basic.c), open for its unit test. */

#include <stddef.h>
#include <stdint.h>

#define GW_BASIC_TAG_BYTES 32 /* HMAC-SHA-256 */
#define GW_BASIC_CACHE_WAYS 4

/* A remembered verification: the tag of (user, stored hash, password)
 * under the kernel's secret, never the password, and when it expires. */
struct gw_basic_cache_slot {
	uint8_t tag[GW_BASIC_TAG_BYTES];
	uint64_t expires_ns;
};

struct gw_basic_cache {
	uint8_t secret[32];  /* random per kernel: tags mean nothing elsewhere */
	size_t bucket_count; /* a power of two; 0: no cache */
	uint64_t ttl_ns;
	struct gw_basic_cache_slot slots[]; /* bucket_count * GW_BASIC_CACHE_WAYS */
};

/* A cache of at least `entries` slots, each kept `ttl_ns`; NULL for want
 * of memory. entries 0 makes one that remembers nothing. Freed with free(). */
struct gw_basic_cache *gw_basic_cache_create(size_t entries, uint64_t ttl_ns);
/* The tag of a credential: HMAC-SHA-256 under the cache's secret of the
 * user, the stored hash and the password (NUL-separated). A changed hash
 * (the password changed in the file) gives another tag. */
void gw_basic_cache_tag(const struct gw_basic_cache *cache_ptr, const char *user, size_t user_len, const char *hash,
			const char *password, size_t password_len, uint8_t tag[GW_BASIC_TAG_BYTES]);
/* Whether `tag` was remembered and has not expired at now_ns. */
int gw_basic_cache_find(const struct gw_basic_cache *cache_ptr, const uint8_t tag[GW_BASIC_TAG_BYTES], uint64_t now_ns);
/* Remembers `tag` until now_ns + ttl, in place of the slot of its bucket
 * that expires first. */
void gw_basic_cache_put(struct gw_basic_cache *cache_ptr, const uint8_t tag[GW_BASIC_TAG_BYTES], uint64_t now_ns);

#endif
