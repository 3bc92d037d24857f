#ifndef GW_PROXY_PROTOCOL_H
#define GW_PROXY_PROTOCOL_H

/* The PROXY protocol header, versions 1 (a text line) and 2 (binary), as
 * specified in HAProxy's proxy-protocol.txt. A TCP load balancer in front of
 * the gateway (HAProxy, a cloud network load balancer) opens its own
 * connection to us, so the peer address we see is the balancer's; it sends
 * this header first to tell us the client's address.
 *
 * The header comes before anything else on the connection, TLS handshake
 * included. A listener that expects it peeks at the first bytes (recv with
 * MSG_PEEK, up to GW_PROXY_HEADER_MAX) and calls gw_proxy_parse() on them:
 * on GW_PROXY_NEED_MORE it waits for more bytes and peeks again; on
 * GW_PROXY_DONE it reads exactly `length` bytes to consume the header,
 * leaving what follows for TLS or HTTP; on GW_PROXY_INVALID it closes the
 * connection. The parser is strict and keeps no state: the caller simply
 * calls it again on the longer prefix.
 *
 * The addresses are believed as given, so a listener must expect the header
 * only from peers it trusts to send it. */

#include <stddef.h>
#include <sys/socket.h>

#define GW_PROXY_V1_MAX 107	 /* a whole v1 line, CRLF included */
#define GW_PROXY_HEADER_MAX 1024 /* a v2 header longer than this (16 + its length) is refused */

enum gw_proxy_result {
	GW_PROXY_INVALID = -1,
	GW_PROXY_NEED_MORE = 0,
	GW_PROXY_DONE = 1,
};

struct gw_proxy_header {
	size_t length; /* bytes the header takes: consume exactly these */
	int version;   /* 1 or 2 */
	int local;     /* no usable addresses (v2 LOCAL, UNSPEC or UNIX family; v1 UNKNOWN): the real peer stands */
	struct sockaddr_storage source; /* AF_INET or AF_INET6 with port, when !local */
	socklen_t source_len;
	struct sockaddr_storage destination;
	socklen_t destination_len;
};

/* Parses the first len bytes received on a connection. GW_PROXY_DONE with
 * *out_ptr filled; GW_PROXY_NEED_MORE when the bytes are a proper prefix of
 * a header that may still be valid; GW_PROXY_INVALID with *why_ptr set to a
 * short static English reason (for a log line) otherwise. *out_ptr is only
 * written on GW_PROXY_DONE, *why_ptr only on GW_PROXY_INVALID (and may be
 * NULL). Never reads past len. */
enum gw_proxy_result gw_proxy_parse(const char *buf, size_t len, struct gw_proxy_header *out_ptr, const char **why_ptr);

#endif
