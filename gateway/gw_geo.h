#ifndef GW_GEO_H
#define GW_GEO_H

/* gw_geo: the geo databases (MaxMind DB files, read with libmaxminddb)
 * and a request's lookup in them.
 *
 * Up to three files, one per role: "country" (country and continent),
 * "city" (those too, with the subdivision and the city) and "asn". A
 * file is validated before any kernel maps it: opened, and every node of
 * its search tree read, and of every record it points to, the values
 * vkgw reads (a lookup then meets no corrupt tree or record, whatever
 * the address). That work is never a kernel's: at start it is the
 * supervisor's, before the kernels fork; later the loader process's
 * (gw_geo_loader_start), which watches the files' directories (inotify: a
 * file renamed over the old one too) and publishes each file it accepts
 * in a table of shared memory (gw_geo_table). A file it refuses is logged
 * and counted, and the one before stays.
 *
 * What is validated and published is a copy: the file's bytes in a sealed
 * memfd of the validating process, which nothing can change (a file
 * rewritten in place or truncated under it changes nothing the kernels
 * map). Each kernel maps the newest accepted copy of each role itself,
 * between two turns of its event loop (gw_geo_kernel_follow): opened as
 * /proc/PID/fd/FD, checked to be that copy, mapped with libmaxminddb's
 * MMDB_MODE_MMAP: every kernel shares its pages, read-only. A lookup
 * copies what it finds into the request (gw_geo_answer.h), so an old copy
 * is unmapped as soon as the new one is in. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gw_geo_answer.h"

enum gw_geo_role { GW_GEO_COUNTRY, GW_GEO_CITY, GW_GEO_ASN, GW_GEO_ROLES };

struct gw_geo_table;

/* The role's name: "country", "city", "asn". */
const char *gw_geo_role_name(enum gw_geo_role role);

/* ---- the table: made before the kernels fork ---- */

/* A table for the files at paths[role] (NULL: the role is not used) and
 * `kernels` kernels' lookup counters, in shared memory. Each file is
 * validated now: -1 and the first problem in error[len] ("country:
 * /path: ...") if one is refused, else the table in *table_ptr_ptr
 * (NULL when no path is given). */
int gw_geo_table_create(const char *const paths[GW_GEO_ROLES], int kernels, struct gw_geo_table **table_ptr_ptr,
			char *error, size_t len);
void gw_geo_table_destroy(struct gw_geo_table *table_ptr);
/* The file of a role, or NULL. */
const char *gw_geo_table_path(const struct gw_geo_table *table_ptr, enum gw_geo_role role);

/* Whether the file at `path` is one vkgw can use in `role` (enum
 * gw_geo_role): it opens, and every record its search tree points to
 * gives the values that role reads. 0, or -1 with why in error[len].
 * Blocks for as long as the file's size asks: never in a kernel. */
int gw_geo_validate(int role, const char *path, char *error, size_t len);

/* ---- the loader process ---- */

/* Forks the process that watches the table's files and publishes the
 * ones it accepts; its pid (0: nothing to watch; -1: it cannot start).
 * Before any listening socket exists. */
pid_t gw_geo_loader_start(struct gw_geo_table *table_ptr);
void gw_geo_loader_stop(pid_t pid);
/* Waits (at most timeout_ms) for the loader `pid` to have published its
 * own copy of every file, as it does when it starts; then this process
 * lets go of the copies it made (gw_geo_table_create's). 0, or -1 (the
 * loader ended, or took too long: this process keeps its copies, which
 * the kernels map until the loader publishes). */
int gw_geo_loader_wait(struct gw_geo_table *table_ptr, pid_t pid, int timeout_ms);
/* What the loader does on a change: each role's file checked again, and
 * published or refused. Also for tests. */
void gw_geo_table_refresh(struct gw_geo_table *table_ptr);

/* ---- a kernel ---- */

/* This kernel's databases follow `table_ptr` (kernel `kernel_index`):
 * each accepted file is mapped now. 0, or -1 (the kernel cannot map one:
 * it is logged, and that role answers unknown until it can). */
int gw_geo_kernel_start(struct gw_geo_table *table_ptr, int kernel_index);
/* Maps the files accepted since the last call; nearly free when none was
 * (an atomic load per role). Between two turns of the event loop. */
void gw_geo_kernel_follow(void);
/* Whether this kernel has any database to look in. */
int gw_geo_kernel_ready(void);
/* Looks the address up in every mapped database: answer_ptr's texts and
 * numbers, empty or 0 where nothing is known. Never fails: a corrupt
 * record counts as an error and answers unknown. Counts the lookup. */
void gw_geo_lookup(const struct gw_ip *ip_ptr, struct gw_geo_answer *answer_ptr);
/* A request whose client address could not be worked out (a forwarded
 * entry that is no address): counted. */
void gw_geo_count_no_address(void);
/* An answer looked up before given again (a connection's next request
 * from the same address): counted as a lookup with that result. */
void gw_geo_count_answer(const struct gw_geo_answer *answer_ptr);
/* Moves each time this kernel maps a database: an answer looked up
 * under another number may be stale. */
uint32_t gw_geo_kernel_generation(void);

/* ---- metrics (any process) ---- */

/* The Prometheus lines of the table: each file's build time and age,
 * when it was accepted, acceptances and refusals, and the lookups by
 * result. Rendered as snprintf does. */
#define GW_GEO_RENDER_MAX 4096
size_t gw_geo_render_prometheus(char *buf, size_t len);

#endif
