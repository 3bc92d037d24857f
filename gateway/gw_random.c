/* gw_random: a per-process generator for identifiers (see gw_random.h).
 *
 * The output is a 64-bit mixing function (the finaliser of splitmix64)
 * over a Weyl sequence whose start and step both come from getrandom():
 * every value differs within 2^64 draws, and an observer of some ids
 * cannot guess the next without knowing the secret state. */
#include "gw_random.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct random_state {
	uint64_t counter;
	uint64_t step; /* odd, so the sequence visits every value */
	int seeded;
	int atfork_registered;
};

static struct random_state random_state;

/* A forked kernel must not repeat its parent's sequence. */
static void random_forget(void)
{
	random_state.seeded = 0;
}

static void random_seed(void)
{
	uint64_t seed[2];
	struct timespec ts;

	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		/* No entropy source: ids must still differ between kernels. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid();
		seed[1] = seed[0] * 0x9e3779b97f4a7c15ull;
	}
	random_state.counter = seed[0];
	random_state.step = seed[1] | 1;
	random_state.seeded = 1;
	if (!random_state.atfork_registered) {
		pthread_atfork(NULL, NULL, random_forget);
		random_state.atfork_registered = 1;
	}
}

uint64_t gw_random_u64(void)
{
	uint64_t z;

	if (!random_state.seeded)
		random_seed();
	random_state.counter += random_state.step;
	z = random_state.counter;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#define BYTES_OF(b) (0x0101010101010101ull * (b))

/* Eight hex digits for 32 random bits, made in one word: each nibble is
 * spread to a byte of its own, then '0' is added, and 'a' - '0' - 10 more
 * where the nibble is 10 or above. Which nibble lands where does not matter
 * for random bits. */
static uint64_t hex_digits(uint32_t bits)
{
	uint64_t x = bits;
	uint64_t letters;

	x = (x | (x << 16)) & 0x0000ffff0000ffffull;
	x = (x | (x << 8)) & 0x00ff00ff00ff00ffull;
	x = (x | (x << 4)) & BYTES_OF(0x0f);
	letters = ((x + BYTES_OF(6)) >> 4) & BYTES_OF(1);
	return x + BYTES_OF('0') + letters * ('a' - '0' - 10);
}

void gw_random_hex(char *out, size_t bytes)
{
	size_t digits = 2 * bytes;
	uint64_t word = 0, text;

	for (size_t at = 0; at < digits; at += 8) {
		if (at % 16 == 0)
			word = gw_random_u64();
		text = hex_digits((uint32_t)word);
		word >>= 32;
		memcpy(out + at, &text, digits - at < 8 ? digits - at : 8);
	}
	out[digits] = '\0';
}
