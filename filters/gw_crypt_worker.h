#ifndef GW_CRYPT_WORKER_H
#define GW_CRYPT_WORKER_H

/* gw_crypt_worker: the process that checks passwords against crypt(3)
 * hashes for one kernel.
 *
 * A bcrypt check at cost 10 takes about 60 ms of CPU (sha512-crypt about
 * 2 ms): done in the kernel, it would stall every other connection of the
 * kernel for that long. So a kernel never runs crypt itself: its first
 * password-checking filter starts a worker process beside it (forked with
 * gw_child, so it ends with the kernel), listening on an abstract Unix
 * socket whose name only the kernel knows, and the stage that needs a check
 * parks its own connection on a socket to the worker while the kernel
 * serves the others. The worker checks one password at a time: a kernel's
 * checks queue there (each kernel has its own worker, so the CPUs check in
 * parallel), and the filters bound how many may wait.
 *
 * A request is a pure question, "does this password give this hash?": it
 * carries both, so the worker holds no secret, and it answers only
 * processes of its own user (SO_PEERCRED).
 *
 * Wire format, kernel to worker: the hash's length and the password's
 * (2 bytes each, big-endian), then their bytes; one byte back:
 * GW_CRYPT_MATCH, GW_CRYPT_NO_MATCH or GW_CRYPT_UNUSABLE (the hash is not
 * one crypt can use). */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define GW_CRYPT_HASH_MAX 256
#define GW_CRYPT_PASSWORD_MAX 1024
#define GW_CRYPT_REQUEST_MAX (4 + GW_CRYPT_HASH_MAX + GW_CRYPT_PASSWORD_MAX)

#define GW_CRYPT_MATCH 'Y'
#define GW_CRYPT_NO_MATCH 'N'
#define GW_CRYPT_UNUSABLE 'E'

/* Whether `password` gives `hash` (NUL-terminated both): GW_CRYPT_MATCH,
 * GW_CRYPT_NO_MATCH or GW_CRYPT_UNUSABLE. Takes as long as crypt does;
 * the comparison itself is constant-time. What the worker runs. */
int gw_crypt_check(const char *hash, const char *password);

/* Whether vkgw accepts `hash` in a password file: bcrypt ($2a$, $2b$,
 * $2y$), sha256-crypt ($5$), sha512-crypt ($6$) or yescrypt ($y$), well
 * formed. NULL, or why not (a static string). */
const char *gw_crypt_hash_problem(const char *hash);

/* The worker of this process (kernel): held by each filter state that
 * checks passwords, started by the first hold, stopped when the last is
 * released. Never on the request path except gw_crypt_worker_lost. 0, or
 * -1 when it cannot be started. */
int gw_crypt_worker_hold(void);
void gw_crypt_worker_release(void);
/* Where to connect, or NULL when no worker runs. */
const struct sockaddr *gw_crypt_worker_address(socklen_t *len_ptr);
/* Its process, or 0. */
pid_t gw_crypt_worker_pid(void);
/* A connection to the worker was refused at now_ns: it died (killed, out
 * of memory). The dead one is reaped and another started, at most once
 * every GW_CRYPT_RESTART_NS: the requests in between are answered 503. */
#define GW_CRYPT_RESTART_NS 1000000000ull
void gw_crypt_worker_lost(uint64_t now_ns);

/* The request bytes for a check, into out (GW_CRYPT_REQUEST_MAX bytes);
 * its length, or 0 when the hash or password is too long. */
size_t gw_crypt_request(char *out, const char *hash, size_t hash_len, const char *password, size_t password_len);

#endif
