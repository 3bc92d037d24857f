#ifndef GW_DEADLINE_H
#define GW_DEADLINE_H

/* gw_deadline: the texts of a request's deadline, read from what a client
 * asks for and written into what goes upstream (gw_conn_next.c keeps the
 * deadline itself). Plain functions of bytes, no state.
 *
 *   X-Request-Timeout, x-envoy-expected-rq-timeout-ms: milliseconds, a
 *     decimal integer;
 *   grpc-timeout: 1 to 8 digits and a unit, H M S m u n (hours .. nanos),
 *     as gRPC over HTTP/2 defines it.
 *
 * A malformed value is refused (-1) and the caller ignores it: a client
 * cannot turn a bad header into an error, only tighten its deadline. */

#include <stddef.h>
#include <stdint.h>

/* The longest text either writer produces (without a NUL). */
#define GW_DEADLINE_TEXT_MAX 20

/* A value in milliseconds: 1 to 10 digits, surrounding blanks allowed. */
int gw_deadline_parse_ms(const char *text, size_t len, uint64_t *ns_ptr);
/* A grpc-timeout value. */
int gw_deadline_parse_grpc(const char *text, size_t len, uint64_t *ns_ptr);
/* `ns` left, for a header that takes milliseconds (rounded down, at
 * least 1: a request that goes at all goes with time to answer). */
size_t gw_deadline_format_ms(uint64_t ns, char *buf);
/* The same in grpc-timeout's form: the finest unit that fits 8 digits. */
size_t gw_deadline_format_grpc(uint64_t ns, char *buf);

#endif
