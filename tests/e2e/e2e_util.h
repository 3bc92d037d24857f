/* e2e_util.h -- small helpers shared by the end-to-end test clients.
 *
 * Every e2e client is a single .c file that includes this header. The
 * helpers here cover the boring parts: failing loudly with one clear
 * message, a hard run-time deadline, connecting to 127.0.0.1 only,
 * deadline-bounded reads and writes, and parsing the "Hello, world"
 * HTTP response of the vk_hello example service.
 *
 * Everything is static (inline) so each client stays self-contained. */

#ifndef E2E_UTIL_H
#define E2E_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem(); include this header before any other */
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define E2E_LOOPBACK_ADDR "127.0.0.1"
#define E2E_DEFAULT_DEADLINE_S 60
#define E2E_MAX_DEADLINE_S 86400
#define E2E_BACKSTOP_GRACE_S 5 /* SIGALRM safety net after the deadline */
#define E2E_ESCAPE_MAX 160     /* max chars shown when quoting bytes */

/* The body the vk_hello service answers every GET with. */
#define E2E_HELLO_BODY "Hello, world\n"
#define E2E_HTTP_MAX_HEADER 8192

static const char *e2e_prog = "e2e";
static int64_t e2e_deadline_ms; /* absolute, CLOCK_MONOTONIC */
static long e2e_deadline_secs;

/* Print "<prog>: FAIL: <message>" to stderr and exit with status 1. */
__attribute__((format(printf, 1, 2), noreturn)) static void e2e_fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: FAIL: ", e2e_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline int64_t e2e_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Last-resort guard in case something blocks where we did not expect it:
 * the normal deadline checks fail with a precise message long before. */
static void e2e_backstop_handler(int sig)
{
	static const char msg[] = "FAIL: hard deadline backstop fired (process was stuck)\n";
	(void)sig;
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)ignored;
	_exit(2);
}

/* Start the run-time budget of 'secs' seconds, counted from now. */
static inline void e2e_deadline_start(long secs)
{
	e2e_deadline_secs = secs;
	e2e_deadline_ms = e2e_now_ms() + (int64_t)secs * 1000;
	signal(SIGALRM, e2e_backstop_handler);
	signal(SIGPIPE, SIG_IGN); /* writes to a closed peer must give EPIPE */
	alarm((unsigned)(secs + E2E_BACKSTOP_GRACE_S));
}

/* Milliseconds left before the deadline (zero or negative once passed). */
static inline int64_t e2e_ms_left(void)
{
	return e2e_deadline_ms - e2e_now_ms();
}

/* Milliseconds left before the deadline; fails (naming what was still
 * pending) once it has passed. */
static inline int e2e_remaining_ms(const char *pending)
{
	int64_t left = e2e_ms_left();
	if (left <= 0)
		e2e_fail("deadline of %ld s exceeded; still pending: %s", e2e_deadline_secs, pending);
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Parse a decimal command-line value in [min,max] or fail. */
static inline long e2e_parse_long(const char *s, const char *name, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min || v > max)
		e2e_fail("bad %s '%s' (expected an integer in %ld..%ld)", name, s, min, max);
	return v;
}

/* These clients only ever talk to the local machine. */
static inline void e2e_require_loopback(const char *addr)
{
	if (strcmp(addr, E2E_LOOPBACK_ADDR) != 0)
		e2e_fail("refusing address '%s': only %s is allowed", addr, E2E_LOOPBACK_ADDR);
}

static inline void e2e_set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL, 0);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		e2e_fail("fcntl(O_NONBLOCK): %s", strerror(errno));
}

static inline void e2e_loopback_sockaddr(int port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, E2E_LOOPBACK_ADDR, &sa->sin_addr) != 1)
		e2e_fail("inet_pton(%s) failed", E2E_LOOPBACK_ADDR);
}

/* Wait until fd is ready for 'events' (POLLIN/POLLOUT), failing at the
 * deadline with 'what' as the description of the pending work. Returns
 * the revents reported by poll(). */
static inline short e2e_wait_fd(int fd, short events, const char *what)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events, .revents = 0};
		int n = poll(&p, 1, e2e_remaining_ms(what));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			e2e_fail("poll: %s (while: %s)", strerror(errno), what);
		if (n > 0)
			return p.revents;
	}
}

/* Open a non-blocking TCP connection to 127.0.0.1:port and wait for it to
 * be established. 'what' describes the caller's step for error messages. */
static inline int e2e_connect(int port, const char *what)
{
	struct sockaddr_in sa;
	e2e_loopback_sockaddr(port, &sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		e2e_fail("socket: %s (%s)", strerror(errno), what);
	e2e_set_nonblock(fd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS)
			e2e_fail("connect to %s:%d: %s (%s)", E2E_LOOPBACK_ADDR, port, strerror(errno), what);
		e2e_wait_fd(fd, POLLOUT, what);
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err)
			e2e_fail("connect to %s:%d: %s (%s)", E2E_LOOPBACK_ADDR, port, strerror(err), what);
	}
	return fd;
}

/* Write all of buf to a non-blocking fd, bounded by the deadline. */
static inline void e2e_write_all(int fd, const char *buf, size_t len, const char *what)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);
		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			e2e_wait_fd(fd, POLLOUT, what);
		} else {
			e2e_fail("write failed after %zu of %zu bytes: %s (%s)", off, len,
				 n < 0 ? strerror(errno) : "wrote 0 bytes", what);
		}
	}
}

/* Read what is available from a non-blocking fd (waiting up to the
 * deadline). Returns bytes read, 0 on EOF, or -1 with errno set on a
 * socket error such as ECONNRESET. */
static inline ssize_t e2e_read_some(int fd, char *buf, size_t cap, const char *what)
{
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		e2e_wait_fd(fd, POLLIN, what);
	}
}

/* Render bytes printably into dst (C-style escapes), truncating long input
 * with "...". Returns dst. */
static inline char *e2e_escape(const char *src, size_t len, char *dst, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		char tmp[8];
		if (c == '\n')
			strcpy(tmp, "\\n");
		else if (c == '\r')
			strcpy(tmp, "\\r");
		else if (c == '\\')
			strcpy(tmp, "\\\\");
		else if (c == '"')
			strcpy(tmp, "\\\"");
		else if (isprint(c)) {
			tmp[0] = (char)c;
			tmp[1] = '\0';
		} else
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
		size_t tl = strlen(tmp);
		if (o + tl + 4 >= cap || o >= E2E_ESCAPE_MAX) {
			strcpy(dst + o, "...");
			return dst;
		}
		memcpy(dst + o, tmp, tl);
		o += tl;
	}
	dst[o] = '\0';
	return dst;
}

/* Parse one "Hello, world" HTTP/1.1 200 response at the start of buf.
 * Returns the number of bytes the response occupies once it is complete,
 * 0 if more bytes are needed, or -1 with a reason in err if the bytes are
 * not the expected response. The body is delimited by Content-Length. */
static inline long e2e_http_parse_hello(const char *buf, size_t len, char *err, size_t errcap)
{
	static const char status_prefix[] = "HTTP/1.1 200";
	const size_t plen = sizeof(status_prefix) - 1;
	const size_t body_len = sizeof(E2E_HELLO_BODY) - 1;
	char esc[E2E_ESCAPE_MAX + 8];

	/* Check the status line as soon as its bytes are there. */
	size_t cmp = len < plen ? len : plen;
	if (memcmp(buf, status_prefix, cmp) != 0 || (len > plen && buf[plen] != ' ' && buf[plen] != '\r')) {
		snprintf(err, errcap, "response does not start with \"%s\": \"%s\"", status_prefix,
			 e2e_escape(buf, len, esc, sizeof(esc)));
		return -1;
	}
	const char *hdr_end = memmem(buf, len, "\r\n\r\n", 4);
	if (!hdr_end) {
		if (len > E2E_HTTP_MAX_HEADER) {
			snprintf(err, errcap, "no end of headers within %d bytes", E2E_HTTP_MAX_HEADER);
			return -1;
		}
		return 0;
	}
	size_t head_len = (size_t)(hdr_end - buf) + 4;

	/* Walk the header lines looking for Content-Length. */
	long content_length = -1;
	const char *line = memchr(buf, '\n', head_len) + 1; /* skip status */
	while (line < hdr_end + 2) {
		const char *eol = memmem(line, (size_t)(hdr_end + 2 - line), "\r\n", 2);
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		size_t name_len = colon ? (size_t)(colon - line) : 0;
		if (colon && name_len == strlen("Transfer-Encoding") &&
		    strncasecmp(line, "Transfer-Encoding", name_len) == 0) {
			snprintf(err, errcap, "unexpected Transfer-Encoding header");
			return -1;
		}
		if (colon && name_len == strlen("Content-Length") &&
		    strncasecmp(line, "Content-Length", name_len) == 0) {
			const char *p = colon + 1;
			while (p < eol && (*p == ' ' || *p == '\t'))
				p++;
			long v = 0;
			int digits = 0;
			while (p < eol && isdigit((unsigned char)*p) && v < 100000000) {
				v = v * 10 + (*p++ - '0');
				digits++;
			}
			while (p < eol && (*p == ' ' || *p == '\t'))
				p++;
			if (!digits || p != eol || content_length >= 0) {
				snprintf(err, errcap, "bad or duplicate Content-Length: \"%s\"",
					 e2e_escape(line, (size_t)(eol - line), esc, sizeof(esc)));
				return -1;
			}
			content_length = v;
		}
		line = eol + 2;
	}
	if (content_length < 0) {
		snprintf(err, errcap, "no Content-Length header in: \"%s\"",
			 e2e_escape(buf, head_len, esc, sizeof(esc)));
		return -1;
	}
	if ((size_t)content_length != body_len) {
		snprintf(err, errcap, "Content-Length is %ld, expected %zu", content_length, body_len);
		return -1;
	}

	/* Check the body bytes we already have, then wait for the rest. */
	size_t have = len - head_len;
	if (have > body_len)
		have = body_len;
	if (memcmp(buf + head_len, E2E_HELLO_BODY, have) != 0) {
		snprintf(err, errcap, "wrong body: \"%s\" (expected \"Hello, world\\n\")",
			 e2e_escape(buf + head_len, have, esc, sizeof(esc)));
		return -1;
	}
	if (have < body_len)
		return 0;
	return (long)(head_len + body_len);
}

#endif /* E2E_UTIL_H */
