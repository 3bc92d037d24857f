/* ecdsa_speed: ECDSA P-256 verifications per second of BoringSSL, the
 * library vkgw verifies JWTs with, the way the jwt filter calls it
 * (SHA-256 of a token-sized input, then ECDSA_do_verify on r||s), for
 * bench-proxy's auth suite to compare vkgw's uncached ES256 with. Runs
 * for about `seconds` (default 3) and prints "VERIFY_PER_SECOND". */
#include <openssl/bn.h>
#include <openssl/digest.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/nid.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0, start, elapsed;
	EC_KEY *key_ptr = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	uint8_t input[200], digest[32];
	unsigned digest_len = 0;
	ECDSA_SIG *sig_ptr;
	long count = 0;

	memset(input, 'a', sizeof(input));
	if (!key_ptr || !EC_KEY_generate_key(key_ptr) ||
	    !EVP_Digest(input, sizeof(input), digest, &digest_len, EVP_sha256(), NULL) ||
	    !(sig_ptr = ECDSA_do_sign(digest, digest_len, key_ptr))) {
		fprintf(stderr, "ecdsa_speed: BoringSSL could not make a key or a signature\n");
		return 1;
	}
	start = now();
	do {
		for (int i = 0; i < 100; i++) {
			EVP_Digest(input, sizeof(input), digest, &digest_len, EVP_sha256(), NULL);
			if (ECDSA_do_verify(digest, digest_len, sig_ptr, key_ptr) != 1) {
				fprintf(stderr, "ecdsa_speed: a good signature did not verify\n");
				return 1;
			}
		}
		count += 100;
		elapsed = now() - start;
	} while (elapsed < seconds);
	printf("%.0f\n", (double)count / elapsed);
	ECDSA_SIG_free(sig_ptr);
	EC_KEY_free(key_ptr);
	return 0;
}
