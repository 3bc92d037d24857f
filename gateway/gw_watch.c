/* gw_watch: files watched for changes, and a SIGHUP to the parent when
 * they change (see the header). */
#include "gw_watch.h"
#include "gw_child.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define PARENT_CHECK_MS 1000
#define KUBERNETES_DATA_LINK "..data"

/* One watched file: its directory and its name there. */
struct watched {
	char dir[PATH_MAX];
	char name[NAME_MAX + 1];
	int wd;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The file's directory and name: 0, or -1 when either is too long. */
static int split(const char *path, struct watched *watched_ptr)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	size_t dir_len = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);

	if (dir_len >= sizeof(watched_ptr->dir) || strlen(name) >= sizeof(watched_ptr->name))
		return -1;
	if (!slash)
		memcpy(watched_ptr->dir, ".", 2);
	else {
		memcpy(watched_ptr->dir, path, dir_len);
		watched_ptr->dir[dir_len] = '\0';
	}
	memcpy(watched_ptr->name, name, strlen(name) + 1);
	return 0;
}

/* The event is about a watched file (or the directory's Kubernetes data
 * link): its path, else NULL. */
static const char *concerns(const struct watched *files, int count, const struct inotify_event *event_ptr)
{
	for (int i = 0; i < count; i++)
		if (files[i].wd == event_ptr->wd && event_ptr->len &&
		    (strcmp(event_ptr->name, files[i].name) == 0 || strcmp(event_ptr->name, KUBERNETES_DATA_LINK) == 0))
			return files[i].name;
	return NULL;
}

/* Reads what inotify has: the name of a watched file that changed, or
 * NULL. */
static const char *read_changes(int ifd, const struct watched *files, int count)
{
	char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	const char *changed = NULL;
	ssize_t len;

	while ((len = read(ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *event_ptr = (const struct inotify_event *)p;
			/* Events were lost: any file may have changed. */
			const char *name =
				event_ptr->mask & IN_Q_OVERFLOW ? "(events lost)" : concerns(files, count, event_ptr);

			if (name)
				changed = name;
			p += sizeof(*event_ptr) + event_ptr->len;
		}
	}
	return changed;
}

/* What a change does by default: the parent reloads. */
static void signal_parent(void *ctx_ptr)
{
	kill(*(pid_t *)ctx_ptr, SIGHUP);
}

static void __attribute__((noreturn)) watch_main(struct watched *files, int count, int ifd, pid_t parent,
						 const char *what, gw_watch_fn *changed_fn, void *ctx_ptr)
{
	const char *changed = NULL;
	uint64_t first_ms = 0, last_ms = 0;

	for (;;) {
		struct pollfd pfd = {.fd = ifd, .events = POLLIN};
		uint64_t now = now_ms();
		int timeout = PARENT_CHECK_MS;

		if (changed) {
			uint64_t due = last_ms + GW_WATCH_QUIET_MS;

			if (due > first_ms + GW_WATCH_LATEST_MS)
				due = first_ms + GW_WATCH_LATEST_MS;
			if (now >= due) {
				fprintf(stderr, "vkgw: %s: %s changed: %s\n", what, changed,
					changed_fn == signal_parent ? "reloading" : "checking it");
				fflush(stderr);
				changed_fn(ctx_ptr);
				changed = NULL;
				continue;
			}
			timeout = (int)(due - now);
		}
		if (getppid() != parent)
			_exit(0);
		if (poll(&pfd, 1, timeout) == 1) {
			const char *name = read_changes(ifd, files, count);

			if (name) {
				if (!changed)
					first_ms = now_ms();
				changed = name;
				last_ms = now_ms();
			}
		}
	}
}

pid_t gw_watch_start(const char *const *paths, int count, const char *what)
{
	static pid_t parent;

	parent = getpid();
	return gw_watch_start_calling("vkgw-watch", paths, count, what, signal_parent, &parent);
}

pid_t gw_watch_start_calling(const char *name, const char *const *paths, int count, const char *what,
			     gw_watch_fn *changed_fn, void *ctx_ptr)
{
	static struct watched files[GW_WATCH_PATHS_MAX];
	pid_t parent = getpid();
	pid_t pid;
	int ifd;

	if (count == 0)
		return 0;
	if (count > GW_WATCH_PATHS_MAX)
		count = GW_WATCH_PATHS_MAX; /* the caller says which are left out */
	pid = gw_child_fork(name);
	if (pid != 0)
		return pid;
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd == -1) {
		fprintf(stderr, "vkgw: %s: cannot watch for changes: %s\n", what, strerror(errno));
		_exit(1);
	}
	for (int i = 0; i < count; i++) {
		if (split(paths[i], &files[i]) == -1) {
			files[i].wd = -1;
			fprintf(stderr, "vkgw: %s: %s: path too long to watch (SIGHUP still reloads)\n", what,
				paths[i]);
			continue;
		}
		files[i].wd = inotify_add_watch(ifd, files[i].dir,
						IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB);
		if (files[i].wd == -1)
			fprintf(stderr, "vkgw: %s: cannot watch %s for changes: %s (SIGHUP still reloads)\n", what,
				files[i].dir, strerror(errno));
	}
	/* What changed before the watches were there: looked at once now. */
	if (changed_fn != signal_parent)
		changed_fn(ctx_ptr);
	watch_main(files, count, ifd, parent, what, changed_fn, ctx_ptr);
}

void gw_watch_stop(pid_t pid)
{
	gw_child_stop(pid);
}
