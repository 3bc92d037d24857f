/* gw_child: a helper process, forked and made ready (see the header). */
#include "gw_child.h"

#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define GW_CHILD_CLOSE_MAX 65536 /* descriptors closed when close_range is missing */

/* The listening sockets (and anything else vkgw holds) are not the
 * child's business: everything from `first` up goes. */
static void close_inherited(int first)
{
	if (close_range((unsigned)first, ~0u, 0) == 0)
		return;
	for (int fd = first; fd < GW_CHILD_CLOSE_MAX; fd++)
		close(fd);
}

static void reset_signals(void)
{
	static const int signals[] = {SIGTERM, SIGINT, SIGCHLD, SIGPIPE};
	/* The gateway's own meanings (reload, log reopen) are not this
	 * process's: a signal to every vkgw process must not end it. */
	static const int ignored[] = {SIGHUP, SIGUSR1, SIGUSR2};
	sigset_t none;

	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		signal(signals[i], SIG_DFL);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		signal(ignored[i], SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

pid_t gw_child_fork_keeping(const char *name, int keep_fd)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid != 0)
		return pid;
	/* Started again by a kernel or the supervisor, it inherits their
	 * signal handling: it wants the defaults back. */
	reset_signals();
	/* It goes when vkgw goes, however vkgw ends. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, name);
	if (keep_fd < 0) {
		close_inherited(3);
		return 0;
	}
	/* dup2 clears close-on-exec; the kept descriptor is the child's own. */
	if (keep_fd != GW_CHILD_KEPT_FD && dup2(keep_fd, GW_CHILD_KEPT_FD) == -1)
		_exit(1);
	close_inherited(GW_CHILD_KEPT_FD + 1);
	return 0;
}

pid_t gw_child_fork(const char *name)
{
	return gw_child_fork_keeping(name, -1);
}

void gw_child_stop(pid_t pid)
{
	int status;

	if (pid <= 0)
		return;
	/* Only if it is still our unreaped child: a supervisor that reaped it
	 * (it died) leaves a pid that may belong to someone else by now. */
	if (waitpid(pid, &status, WNOHANG) != 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
}
