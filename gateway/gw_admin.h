#ifndef GW_ADMIN_H
#define GW_ADMIN_H

/* The admin listener's connection process: one micro-process per admin
 * connection, whose root thread runs gw_admin_main on the client socket.
 * It reads requests with the gateway's HTTP parser and answers
 *   GET /ready    200 {"status":"ready"}, 503 {"status":"draining"}
 *   GET /stats    the counter table as JSON (gw_stats.h)
 *   GET /metrics  the same in the Prometheus text format
 *   POST /drain   202 {"status":"draining"}: the whole program drains, as
 *                 on SIGTERM (only on a loopback admin listener: 403
 *                 elsewhere); the connection closes after the answer
 * (HEAD too for the GETs); another path is a 404, another method a 405, a
 * malformed request a 400, all with the gateway's JSON error body.
 *
 * The thread's argument is a struct gw_admin_config (gw_admin_s.h),
 * read-only while any connection uses it. Admin requests are not counted
 * in the gateway's own counters. */

#include <stddef.h>

#include "vk_thread.h"

struct gw_admin_config;

void gw_admin_main(struct vk_thread *that);

/* Heap pages an admin connection needs (its rendering buffer included). */
size_t gw_admin_heap_pages(const struct gw_admin_config *cfg_ptr);

#endif
