/* gw_verified_cache: verified credentials a kernel remembers (see the header). */
#include "gw_verified_cache.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdlib.h>
#include <string.h>

struct gw_verified_cache *gw_verified_cache_create_noted(size_t entries, size_t note_max)
{
	size_t buckets = 0;
	size_t slot_bytes = (sizeof(struct gw_verified_cache_slot) + note_max + 7) & ~(size_t)7;
	struct gw_verified_cache *cache_ptr;

	if (entries > 0) {
		buckets = 1;
		while (buckets * GW_VERIFIED_CACHE_WAYS < entries)
			buckets <<= 1;
	}
	cache_ptr = calloc(1, sizeof(*cache_ptr) + buckets * GW_VERIFIED_CACHE_WAYS * slot_bytes);
	if (!cache_ptr)
		return NULL;
	RAND_bytes(cache_ptr->secret, sizeof(cache_ptr->secret));
	cache_ptr->bucket_count = buckets;
	cache_ptr->note_max = note_max;
	cache_ptr->slot_bytes = slot_bytes;
	return cache_ptr;
}

struct gw_verified_cache *gw_verified_cache_create(size_t entries)
{
	return gw_verified_cache_create_noted(entries, GW_VERIFIED_NOTE_MAX);
}

void gw_verified_cache_free(struct gw_verified_cache *cache_ptr)
{
	if (!cache_ptr)
		return;
	OPENSSL_cleanse(cache_ptr->secret, sizeof(cache_ptr->secret));
	free(cache_ptr);
}

void gw_verified_cache_tag(const struct gw_verified_cache *cache_ptr, const void *const *parts, const size_t *lens,
			   int count, uint8_t tag[GW_VERIFIED_TAG_BYTES])
{
	HMAC_CTX ctx;
	unsigned len = GW_VERIFIED_TAG_BYTES;
	static const uint8_t separator = 0;

	HMAC_CTX_init(&ctx);
	HMAC_Init_ex(&ctx, cache_ptr->secret, sizeof(cache_ptr->secret), EVP_sha256(), NULL);
	for (int i = 0; i < count; i++) {
		if (i > 0)
			HMAC_Update(&ctx, &separator, 1);
		HMAC_Update(&ctx, parts[i], lens[i]);
	}
	HMAC_Final(&ctx, tag, &len);
	HMAC_CTX_cleanup(&ctx);
}

/* Way `way` of the bucket of `tag`. */
static struct gw_verified_cache_slot *slot(const struct gw_verified_cache *cache_ptr, const uint8_t *tag, int way)
{
	size_t index = ((size_t)tag[0] | (size_t)tag[1] << 8 | (size_t)tag[2] << 16 | (size_t)tag[3] << 24) &
		       (cache_ptr->bucket_count - 1);

	return (struct gw_verified_cache_slot *)(cache_ptr->slots + (index * GW_VERIFIED_CACHE_WAYS + (size_t)way) *
									    cache_ptr->slot_bytes);
}

const struct gw_verified_cache_slot *gw_verified_cache_find(const struct gw_verified_cache *cache_ptr,
							    const uint8_t tag[GW_VERIFIED_TAG_BYTES], uint64_t now_ns)
{
	if (!cache_ptr->bucket_count)
		return NULL;
	for (int i = 0; i < GW_VERIFIED_CACHE_WAYS; i++) {
		const struct gw_verified_cache_slot *slot_ptr = slot(cache_ptr, tag, i);

		if (slot_ptr->expires_ns > now_ns && CRYPTO_memcmp(slot_ptr->tag, tag, GW_VERIFIED_TAG_BYTES) == 0)
			return slot_ptr;
	}
	return NULL;
}

void gw_verified_cache_put(struct gw_verified_cache *cache_ptr, const uint8_t tag[GW_VERIFIED_TAG_BYTES],
			   uint64_t expires_ns, const char *note, size_t len)
{
	struct gw_verified_cache_slot *victim_ptr;

	if (!cache_ptr->bucket_count)
		return;
	victim_ptr = slot(cache_ptr, tag, 0);
	for (int i = 0; i < GW_VERIFIED_CACHE_WAYS; i++) {
		struct gw_verified_cache_slot *slot_ptr = slot(cache_ptr, tag, i);

		if (memcmp(slot_ptr->tag, tag, GW_VERIFIED_TAG_BYTES) == 0) {
			victim_ptr = slot_ptr;
			break;
		}
		if (slot_ptr->expires_ns < victim_ptr->expires_ns)
			victim_ptr = slot_ptr;
	}
	memcpy(victim_ptr->tag, tag, GW_VERIFIED_TAG_BYTES);
	victim_ptr->expires_ns = expires_ns;
	victim_ptr->note_len = 0;
	if (note && len <= cache_ptr->note_max) {
		memcpy(victim_ptr->note, note, len);
		victim_ptr->note_len = (uint32_t)len;
	}
}
