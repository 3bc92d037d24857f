#ifndef GW_FILTER_API_KEY_H
#define GW_FILTER_API_KEY_H

/* The api_key filter's key set (filters/gw_filter_api_key.c), open for its
 * unit test: the constant-time lookup is the part that must not change
 * shape. */

#include <stdint.h>

#define GW_API_KEY_DIGEST_BYTES 32 /* SHA-256 */

struct gw_api_key {
	const char *consumer;
	uint8_t digest[GW_API_KEY_DIGEST_BYTES];
};

struct gw_api_key_set {
	struct gw_api_key *keys_ptr;
	int count;
};

/* The index of the key whose digest is `digest`, or -1. Every digest is
 * compared (CRYPTO_memcmp) and the match is chosen without a branch, so
 * the time does not depend on which key matches or whether any does;
 * *compared_ptr says how many were compared (all of them). */
int gw_api_key_find(const struct gw_api_key_set *set_ptr, const uint8_t digest[GW_API_KEY_DIGEST_BYTES],
		    int *compared_ptr);

#endif
