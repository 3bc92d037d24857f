#ifndef GW_CHILD_H
#define GW_CHILD_H

/* gw_child: the helper processes vkgw forks beside its kernels (the
 * resolver, the certificate watcher). Each is forked before any listening
 * socket exists, holds none of vkgw's descriptors, takes the default
 * signal handling back (ignoring the signals that mean something to the
 * gateway: a signal to every vkgw process must not end it), and ends when
 * the process that forked it ends. */

#include <sys/types.h>

/* Forks: the child's pid in the parent (-1 on failure); 0 in the child,
 * ready as above and named `name` (prctl), which must not return to the
 * caller's loop but end with _exit. */
pid_t gw_child_fork(const char *name);

/* The same, except that the child keeps one descriptor, `keep_fd`, as
 * GW_CHILD_KEPT_FD (a socket it serves, made by the parent so that it is
 * ready before the child runs); -1 keeps none. */
#define GW_CHILD_KEPT_FD 3
pid_t gw_child_fork_keeping(const char *name, int keep_fd);

/* Ends the child (if it is still this process's unreaped child) and
 * reaps it. Takes 0 and -1 (no child). */
void gw_child_stop(pid_t pid);

#endif
