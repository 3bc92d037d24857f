#ifndef GW_REDIS_H
#define GW_REDIS_H

/* gw_redis: a kernel's connection to a Redis server, for filters that
 * keep state there (the rate limiter's Redis mode). No blocking client
 * library: a process of the kernel's own speaks RESP (gw_resp.h) over a
 * non-blocking vk_socket, and the connection processes hand it their
 * commands through slots in kernel memory.
 *
 * Pipelining: the client sends every queued command in one write and
 * waits for their replies; commands that come meanwhile go together in
 * the next write. One batch in flight at a time: under load a batch
 * carries many requests' commands for one round trip, and Redis sees
 * them in the order they were submitted.
 *
 * The script: each client runs one Lua script through EVALSHA (its SHA-1
 * computed here), loaded with SCRIPT LOAD on every connect, and again
 * after a NOSCRIPT reply (a SCRIPT FLUSH on the server): the slot that
 * met it fails, the next batch loads the script first.
 *
 * Failure: a connect that fails or times out, a connection that ends, a
 * malformed reply, or a batch unanswered for `stall_ms` closes the
 * connection and fails the slots in flight; submits then fail at once
 * (no request waits on a Redis known to be down) until the next connect,
 * after a backoff doubling from 100 ms to 5 s (with jitter). A
 * connection found closed while idle (Redis restarted between requests)
 * is replaced at once, its queued commands kept for the new one. Every
 * failure is logged, at most once a second per client and kernel.
 *
 * Clients are per kernel and shared by the filters whose options are the
 * same (gw_redis_get counts them). */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vk_thread.h"

struct gw_redis;

struct gw_redis_options {
	const char *address; /* as configured ("127.0.0.1:6379"), for logs */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	const char *username; /* AUTH on connect when password is not NULL */
	const char *password;
	uint64_t connect_timeout_ms;
	uint64_t stall_ms;  /* a batch unanswered this long ends the connection */
	int max_pending;    /* slots: submits beyond them fail (EAGAIN) */
	const char *script; /* the Lua script EVALSHA runs */
};

/* "HOST:PORT" with a numeric IPv4 or IPv6 host ("[::1]:6379"), or
 * "localhost:PORT": 0, or -1 when it is not one. */
int gw_redis_parse_address(const char *text, struct sockaddr_storage *addr_ptr, socklen_t *len_ptr);

/* The calling kernel's client for `options_ptr`, started if none has
 * them (its process spawned in the kernel), counted; NULL after saying
 * why on stderr. Not on the request path. */
struct gw_redis *gw_redis_get(const struct gw_redis_options *options_ptr);
/* One user fewer: the last one's going ends the client's process. */
void gw_redis_put(struct gw_redis *redis_ptr);

/* The script's SHA-1 in hex (40 characters), for EVALSHA commands. */
const char *gw_redis_script_sha(const struct gw_redis *redis_ptr);

/* ---- a call ---- */

/* Commands, already RESP arrays, for one slot: at most this many bytes
 * and replies. */
#define GW_REDIS_SLOT_BYTES 4096
#define GW_REDIS_REPLY_BYTES 1024
#define GW_REDIS_SLOT_COMMANDS 8

enum gw_redis_outcome {
	GW_REDIS_PENDING,
	GW_REDIS_DONE,	    /* the replies, one per command, are in gw_redis_replies */
	GW_REDIS_FAILED,    /* the connection failed (or was down) */
	GW_REDIS_TIMED_OUT, /* no replies within the caller's time */
};

/* A slot for the calling process's commands: `commands` RESP arrays of
 * `len` bytes in all at `bytes`. 0 with *ticket_ptr, or -1 with errno:
 * ENOTCONN (Redis is down: no waiting), EAGAIN (every slot taken),
 * EMSGSIZE. A ticket the caller does not wait for and release is the
 * client's to free (fire and forget): pass NULL. */
int gw_redis_submit(struct gw_redis *redis_ptr, const char *bytes, size_t len, int commands, uint64_t *ticket_ptr);

/* A thread function: the calling process waits for its slot's replies
 * until `until_ns`; `outcome` says how it ended (a time out gives the
 * slot up: its replies, if any come, are dropped). */
struct gw_redis_wait {
	struct gw_redis *redis_ptr;
	uint64_t ticket;
	uint64_t until_ns;
	enum gw_redis_outcome outcome;
};
void gw_redis_wait(struct vk_thread *that);

/* The replies of a slot that is GW_REDIS_DONE, back to back. */
const char *gw_redis_replies(const struct gw_redis *redis_ptr, uint64_t ticket, size_t *len_ptr);
/* The slot goes back (after gw_redis_wait, whatever its outcome). */
void gw_redis_release(struct gw_redis *redis_ptr, uint64_t ticket);

/* Why the last failure came, for the callers' logs ("" when none). */
const char *gw_redis_failure(const struct gw_redis *redis_ptr);
const char *gw_redis_address(const struct gw_redis *redis_ptr);

#endif
