#ifndef VK_UPGRADE_H
#define VK_UPGRADE_H

/* vk_upgrade: a new binary takes over from a running one without a
 * refused connection (SIGUSR2 to the program).
 *
 * The old process collects its kernels' listening sockets (pidfd_getfd
 * from each kernel: a parent may take its children's fds), starts the new
 * binary with them inherited and named in $VK_INHERIT ("name=fd" for each
 * service; a service opened after the start, which the supervisor does not
 * know, as "@ADDR:PORT=fd"), and goes on serving. The new one takes, for
 * each of its services, the same sockets (kernel i the i-th of the
 * service's), so nothing is closed: connections queued on a socket are
 * accepted by whichever process takes them. Once every kernel of the new
 * one listens, it sends SIGTERM to the old one ($VK_UPGRADE_FROM), which
 * drains: it stops accepting (its copies of the sockets close; the
 * sockets stay open in the new one) and its connections finish there. */

#include <sys/types.h>

struct vk_service;

/* The program to start on an upgrade: its path (read now, so that a new
 * file installed at it later is what starts) and its arguments (kept). */
int vk_upgrade_set_program(char **argv);

/* ---- the old process ---- */

/* Starts the new program with the listening sockets of `pids` (the
 * kernels; a lone kernel's own pid); services_ptr: those the program
 * started with, to name the sockets. Its pid, or -1 after saying why
 * (nothing changed: the old one goes on). */
pid_t vk_upgrade_start(const pid_t *pids, int n, struct vk_service **services_ptr, int count);
/* The new program started by vk_upgrade_start, 0 if none: a drain then is
 * the hand-over, not a stop (a service manager is not told "stopping"). */
pid_t vk_upgrade_successor(void);
/* The new program ended before it took over (the supervisor reaped it):
 * said, and this one goes on as before. */
void vk_upgrade_ended(int status);

/* ---- the new process ---- */

/* Takes $VK_INHERIT and $VK_UPGRADE_FROM (and removes them from the
 * environment): call once, before anything listens. */
void vk_upgrade_take_inherited(void);
/* The inherited socket for kernel `kernel_index` of a service (by name,
 * else by address and port), taken: -1 if none. */
int vk_upgrade_inherited_fd(const char *name, const char *address, int port, int kernel_index);
/* The port of the service's first inherited socket (for a service on port
 * 0), or 0. */
int vk_upgrade_inherited_port(const char *name);
/* Closes the inherited sockets this process did not take (each kernel,
 * once it listens; the supervisor, once the kernels are forked). */
void vk_upgrade_close_untaken(void);
/* Every kernel listens: the old process is told to drain (once). */
void vk_upgrade_ready(void);

#endif
