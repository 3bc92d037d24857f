#ifndef GW_CONN_H
#define GW_CONN_H

/* The connection process: one micro-process per client connection, whose
 * root thread runs gw_conn_main on the client socket. It reads and parses
 * each request head, picks where it goes, forwards the head (hop-by-hop
 * fields out, Via and X-Forwarded-* in) and splices the body, then relays
 * the response the same way, for as long as both sides keep alive.
 *
 * The thread's argument is a struct gw_conn_config (gw_conn_s.h): read-only
 * while any connection uses it. */

#include "vk_thread.h"

struct gw_conn_config;

void gw_conn_main(struct vk_thread *that);

/* Heap pages a connection needs for the given head limit and ring sizes,
 * on a TLS listener or not. */
size_t gw_conn_heap_pages(size_t max_head_bytes, size_t ring_bytes, size_t body_buffer_bytes, int tls);

#endif
