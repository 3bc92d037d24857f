#ifndef GW_RANDOM_H
#define GW_RANDOM_H

/* gw_random: fast, unpredictable-enough numbers for identifiers (request
 * ids, trace ids), not for keys. One generator per OS process, which is
 * one per kernel: it is seeded from getrandom() on first use and again in
 * a forked child, so kernels never share a sequence, and no request pays a
 * system call. */

#include <stddef.h>
#include <stdint.h>

uint64_t gw_random_u64(void);
/* `bytes` random bytes as 2 * bytes lower-case hex digits plus a NUL. */
void gw_random_hex(char *out, size_t bytes);

#endif
