#ifndef GW_JWT_REMOTE_H
#define GW_JWT_REMOTE_H

/* gw_jwt_remote: the JWK Sets a jwt filter's providers fetch from a key
 * server ("jwks": an upstream and a path), per kernel.
 *
 * A process of the kernel's own (the fetcher) asks each remote provider's
 * upstream for its set through a subrequest (gateway/gw_subrequest.h:
 * the upstream's balancing, pool, TLS, health and breaker): at start,
 * then every refresh_seconds, or after the response's Cache-Control
 * max-age when it has one (no-store, no-cache: as soon as allowed), and
 * sooner when a request meets a kid the set lacks. Two fetches of one
 * provider are never closer than min_refresh_seconds, so tokens with
 * made-up kids cannot turn into a flood on the key server. A fetch that
 * fails (no answer, not 200, not a key set vkgw takes) keeps the last
 * good set; the next try comes after min_refresh_seconds, doubling up to
 * refresh_seconds, and each failure is logged. A request that needs a
 * fetch (no set yet, an unknown kid) and may have one now waits for it,
 * up to the fetch's timeout, parked in its own micro-process.
 *
 * A reload that keeps the filter as it was keeps this object (the
 * fetcher goes on); one that changes it makes a new one that starts from
 * the sets the old one had for the providers that still fetch from the
 * same upstream and path. Nothing here is shared between kernels. */

#include <stddef.h>
#include <stdint.h>

#include "vk_thread.h"

struct gw_jwt_keys;
struct gw_jwt_remote;

/* Where one provider's keys come from (the filter's compiled config). */
struct gw_jwt_remote_source {
	const char *provider; /* the provider's name, for logs */
	const char *upstream; /* NULL: the provider's keys are local */
	const char *path;
	long long refresh_seconds;
	long long min_refresh_seconds;
	long long timeout_ms;
	long long max_bytes;
	unsigned algs; /* what the keys may verify (gw_jwt_keys_parse) */
	int allow_short_hmac;
};

/* The remote sets of `count` providers (sources[i].upstream NULL: not
 * remote), started from what `previous_ptr` (or NULL) had, with the
 * fetcher started in the calling kernel. NULL after saying why on stderr
 * (no memory, no process). */
struct gw_jwt_remote *gw_jwt_remote_create(const struct gw_jwt_remote_source *sources, int count,
					   const struct gw_jwt_remote *previous_ptr);
/* The filter's state goes: freed now, or by the fetcher when its fetch
 * in flight ends. */
void gw_jwt_remote_retire(struct gw_jwt_remote *remote_ptr);

/* Provider `index`'s keys, or NULL when none were ever fetched. */
const struct gw_jwt_keys *gw_jwt_remote_keys(const struct gw_jwt_remote *remote_ptr, int index);
int gw_jwt_remote_is_remote(const struct gw_jwt_remote *remote_ptr, int index);

/* A request needs provider `index` fetched again (no set yet, or a kid
 * its set lacks): 1 when a fetch is in flight, or one may start now
 * (min_refresh_seconds since the last) and the fetcher was told, so the
 * request may wait for it (gw_jwt_remote_wait); 0 when it may not. */
int gw_jwt_remote_want(struct gw_jwt_remote *remote_ptr, int index, uint64_t now_ns);

/* A thread function whose argument is a struct gw_jwt_remote_wait: the
 * calling process waits until the next fetch of provider `index` ends
 * (at most its timeout and a margin), after gw_jwt_remote_want said 1.
 * Raises EAGAIN when too many wait already. */
struct gw_jwt_remote_wait {
	struct gw_jwt_remote *remote_ptr;
	int index;
	unsigned completed;
	uint64_t until_ns;
};
void gw_jwt_remote_wait(struct vk_thread *that);

#endif
