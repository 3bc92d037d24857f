#ifndef GW_WATCH_H
#define GW_WATCH_H

/* gw_watch: a helper process (gw_child.h) that watches files and, when
 * one of them changes, sends SIGHUP to the process that started it, which
 * reloads as on the signal. It watches each file's directory (inotify), so
 * a file replaced by a rename, and the symlink swap Kubernetes makes when a
 * mounted Secret or ConfigMap changes (the directory's "..data"), count as
 * changes too. Changes that come together (a certificate and its key) give
 * one signal: it waits until the directory has been quiet for
 * GW_WATCH_QUIET_MS (at most GW_WATCH_LATEST_MS after the first). */

#include <sys/types.h>

#define GW_WATCH_QUIET_MS 200
#define GW_WATCH_LATEST_MS 2000
#define GW_WATCH_PATHS_MAX 64

/* Forks the watcher of `paths` (at most GW_WATCH_PATHS_MAX): its pid, 0
 * with nothing to watch, -1 when it cannot start. Call before listening sockets exist. `what` names the
 * files in its log lines ("certificates"). */
pid_t gw_watch_start(const char *const *paths, int count, const char *what);
/* The same, a process called `name`, but in place of the signal the watcher calls changed_fn(ctx_ptr)
 * (in its own process: ctx_ptr is its copy of the caller's memory), and
 * once as it starts, its watches in place (a change just before is not
 * missed). */
typedef void gw_watch_fn(void *ctx_ptr);
pid_t gw_watch_start_calling(const char *name, const char *const *paths, int count, const char *what,
			     gw_watch_fn *changed_fn, void *ctx_ptr);
void gw_watch_stop(pid_t pid);

#endif
