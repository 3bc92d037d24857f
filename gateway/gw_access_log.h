#ifndef GW_ACCESS_LOG_H
#define GW_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

/* The access log: one JSON line per request, buffered per kernel and
 * written without ever blocking a kernel. Each kernel is its own OS
 * process, so this state is per kernel by construction.
 *
 * Lines are appended to a buffer; the buffer is written when it is half
 * full and whenever the kernel is about to wait for events. The fd never
 * blocks (a pipe is reopened non-blocking); what cannot be written yet
 * stays buffered, and lines that do not fit in a full buffer are dropped
 * and counted rather than stall the kernel. Writes end on line boundaries
 * and, to a pipe, are at most PIPE_BUF bytes, so lines from several kernels
 * never interleave mid-line. */

/* path: a file (appended to), "-" for standard output. */
int gw_access_log_open(const char *path, size_t buffer_bytes);
int gw_access_log_is_open(void);
void gw_access_log_append(const char *line, size_t len);
void gw_access_log_flush(void);
size_t gw_access_log_buffered(void);
uint64_t gw_access_log_dropped(void);

/* The logrotate convention (SIGUSR1): after the file was renamed, flush
 * to it what is buffered and open the path again (a new file). Standard
 * output stays as it is. 0, or -1 with errno (the old file stays in use). */
int gw_access_log_reopen(void);

/* Flushes what it can and closes. */
void gw_access_log_close(void);

#endif
