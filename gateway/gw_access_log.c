/* gw_access_log: the per-kernel access log buffer (see the header). */
#include "gw_access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static struct {
	int fd;
	int is_pipe;
	char *buf;
	size_t cap;
	size_t len;
	uint64_t dropped;
	char path[PATH_MAX]; /* for a reopen */
} log_state = {.fd = -1};

/* A new fd for path, non-blocking where a write could block; is_pipe_ptr
 * tells whether writes must stay within PIPE_BUF. */
static int open_log(const char *path, int *is_pipe_ptr)
{
	struct stat st;
	int fd;

	*is_pipe_ptr = 0;
	if (strcmp(path, "-") == 0) {
		/* A new open file description of stdout, so O_NONBLOCK on it
		 * does not change the fd the rest of the process writes to. */
		char self[32];

		snprintf(self, sizeof(self), "/proc/self/fd/%d", STDOUT_FILENO);
		fd = open(self, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd == -1)
			fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	} else {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	}
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode))) {
		*is_pipe_ptr = S_ISFIFO(st.st_mode);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	return fd;
}

int gw_access_log_open(const char *path, size_t buffer_bytes)
{
	int fd;

	gw_access_log_close();
	if (strlen(path) >= sizeof(log_state.path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open_log(path, &log_state.is_pipe);
	if (fd == -1)
		return -1;
	snprintf(log_state.path, sizeof(log_state.path), "%s", path);
	log_state.buf = mmap(NULL, buffer_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (log_state.buf == MAP_FAILED) {
		log_state.buf = NULL;
		close(fd);
		return -1;
	}
	log_state.fd = fd;
	log_state.cap = buffer_bytes;
	log_state.len = 0;
	log_state.dropped = 0;
	return 0;
}

int gw_access_log_is_open(void)
{
	return log_state.fd >= 0;
}

/* The longest prefix of the buffer ending on a line boundary, capped at
 * `max` bytes (0 if no whole line fits). */
static size_t whole_lines(size_t max)
{
	size_t n = log_state.len < max ? log_state.len : max;

	while (n > 0 && log_state.buf[n - 1] != '\n')
		n--;
	return n;
}

void gw_access_log_flush(void)
{
	size_t max = log_state.is_pipe ? PIPE_BUF : log_state.cap;

	while (log_state.fd >= 0 && log_state.len > 0) {
		size_t chunk = whole_lines(max);
		ssize_t n;

		if (chunk == 0)
			chunk = log_state.len < max ? log_state.len : max; /* a line longer than max */
		n = write(log_state.fd, log_state.buf, chunk);
		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return; /* EAGAIN (or an error): try again at the next flush */
		}
		memmove(log_state.buf, log_state.buf + n, log_state.len - (size_t)n);
		log_state.len -= (size_t)n;
	}
}

void gw_access_log_append(const char *line, size_t len)
{
	if (log_state.fd < 0)
		return;
	if (len > log_state.cap - log_state.len) {
		gw_access_log_flush();
		if (len > log_state.cap - log_state.len) {
			log_state.dropped++;
			return;
		}
	}
	memcpy(log_state.buf + log_state.len, line, len);
	log_state.len += len;
	if (log_state.len > log_state.cap / 2)
		gw_access_log_flush();
}

int gw_access_log_reopen(void)
{
	int fd, is_pipe;

	if (log_state.fd < 0 || strcmp(log_state.path, "-") == 0)
		return 0;
	/* What was logged before the signal goes to the file it was logged
	 * for (renamed by now); what cannot be written yet follows it to the
	 * new one. */
	gw_access_log_flush();
	fd = open_log(log_state.path, &is_pipe);
	if (fd == -1)
		return -1;
	close(log_state.fd);
	log_state.fd = fd;
	log_state.is_pipe = is_pipe;
	return 0;
}

size_t gw_access_log_buffered(void)
{
	return log_state.len;
}

uint64_t gw_access_log_dropped(void)
{
	return log_state.dropped;
}

void gw_access_log_close(void)
{
	if (log_state.fd < 0)
		return;
	gw_access_log_flush();
	close(log_state.fd);
	munmap(log_state.buf, log_state.cap);
	log_state.fd = -1;
	log_state.buf = NULL;
	log_state.len = 0;
	log_state.is_pipe = 0;
}
