/* http_pipeline.c -- HTTP/1.1 pipelining test for the vk_hello example.
 *
 *   http_pipeline -p PORT -n N [-t SECONDS] [-a 127.0.0.1]
 *
 * On one connection to 127.0.0.1:PORT, sends N keep-alive requests
 *   "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
 * in a single write() call, then reads and verifies N complete
 * "HTTP/1.1 200" responses with the body "Hello, world\n", in order, with
 * nothing extra after them. The server must not close the connection
 * before the N-th response is complete.
 *
 * The single write() matters: a separate test runs this under strace to
 * count the server's syscalls for a batch of pipelined requests. The write
 * is done on a blocking socket (bounded by SO_SNDTIMEO) so the kernel takes
 * the whole batch in one call; should it still come back short, the rest
 * is sent and a note is printed to stderr.
 *
 * Exit status 0 on success, non-zero with one message on the first failure
 * or when the deadline (default 60 s) passes with work still pending. */

#include "e2e_util.h"

#include <sys/time.h>

#define MAX_REQUESTS 1000000
#define READ_CHUNK 65536
#define WHAT_CAP 160
#define ERR_CAP 512

static const char REQUEST[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/* Build N copies of REQUEST back to back; returns the buffer. */
static char *build_requests(long n, size_t *len_out)
{
	size_t one = sizeof(REQUEST) - 1;
	size_t len = one * (size_t)n;
	char *buf = malloc(len);
	if (!buf)
		e2e_fail("out of memory for %ld requests", n);
	for (long i = 0; i < n; i++)
		memcpy(buf + one * (size_t)i, REQUEST, one);
	*len_out = len;
	return buf;
}

/* Switch fd to blocking mode with a send timeout of the remaining run
 * time, so one write() can hand the kernel the whole batch. */
static void make_blocking_for_send(int fd)
{
	int flags = fcntl(fd, F_GETFL, 0);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		e2e_fail("fcntl(clear O_NONBLOCK): %s", strerror(errno));
	int ms = e2e_remaining_ms("sending the pipelined requests");
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		e2e_fail("setsockopt(SO_SNDTIMEO): %s", strerror(errno));
}

/* Send all requests with one write(); finish a short write if needed. */
static void send_requests(int fd, const char *buf, size_t len, long n)
{
	make_blocking_for_send(fd);
	ssize_t w = write(fd, buf, len);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		e2e_remaining_ms("sending the pipelined requests (send timed out)");
	if (w < 0)
		e2e_fail("write of %ld pipelined requests (%zu bytes): %s", n, len, strerror(errno));
	e2e_set_nonblock(fd);
	if ((size_t)w < len) {
		fprintf(stderr,
			"%s: note: single write() sent only %zd of %zu bytes;"
			" sending the rest\n",
			e2e_prog, w, len);
		e2e_write_all(fd, buf + w, len - (size_t)w, "sending the rest of the pipelined requests");
	}
}

/* Read and verify n responses in order. Returns after the n-th. */
static void read_responses(int fd, long n)
{
	char err[ERR_CAP], what[WHAT_CAP], esc[E2E_ESCAPE_MAX + 8];
	size_t cap = 2 * READ_CHUNK;
	char *buf = malloc(cap);
	size_t len = 0;
	long done = 0;
	if (!buf)
		e2e_fail("out of memory for the response buffer");

	while (done < n) {
		/* Parse every complete response already buffered. */
		size_t off = 0;
		long got = 0;
		while (done < n && (got = e2e_http_parse_hello(buf + off, len - off, err, sizeof(err))) > 0) {
			off += (size_t)got;
			done++;
		}
		if (got < 0)
			e2e_fail("response %ld of %ld: %s", done + 1, n, err);
		memmove(buf, buf + off, len - off);
		len -= off;
		if (done == n)
			break;

		if (cap - len < READ_CHUNK) {
			if (cap >= (size_t)E2E_HTTP_MAX_HEADER * 64)
				e2e_fail("response %ld of %ld: %zu bytes buffered without a "
					 "complete response",
					 done + 1, n, len);
			cap *= 2;
			if (!(buf = realloc(buf, cap)))
				e2e_fail("out of memory for the response buffer");
		}
		snprintf(what, sizeof(what),
			 "%ld of %ld responses verified, "
			 "waiting for response %ld (%zu bytes of it buffered)",
			 done, n, done + 1, len);
		ssize_t r = e2e_read_some(fd, buf + len, cap - len, what);
		if (r < 0)
			e2e_fail("read error after %ld of %ld responses: %s", done, n, strerror(errno));
		if (r == 0)
			e2e_fail("server closed the connection after %ld of %ld "
				 "responses (%zu bytes of the next one: \"%s\")",
				 done, n, len, e2e_escape(buf, len, esc, sizeof(esc)));
		len += (size_t)r;
	}
	if (len > 0)
		e2e_fail("%zu unexpected bytes after all %ld responses: \"%s\"", len, n,
			 e2e_escape(buf, len, esc, sizeof(esc)));
	free(buf);
}

static void usage(void)
{
	fprintf(stderr, "usage: %s -p PORT -n N [-t SECONDS] [-a 127.0.0.1]\n", e2e_prog);
	exit(2);
}

int main(int argc, char **argv)
{
	long port = -1, n = -1, deadline = E2E_DEFAULT_DEADLINE_S;
	int opt;
	e2e_prog = "http_pipeline";
	while ((opt = getopt(argc, argv, "a:p:n:t:")) != -1) {
		switch (opt) {
		case 'a':
			e2e_require_loopback(optarg);
			break;
		case 'p':
			port = e2e_parse_long(optarg, "port", 1, 65535);
			break;
		case 'n':
			n = e2e_parse_long(optarg, "N", 1, MAX_REQUESTS);
			break;
		case 't':
			deadline = e2e_parse_long(optarg, "SECONDS", 1, E2E_MAX_DEADLINE_S);
			break;
		default:
			usage();
		}
	}
	if (port < 0 || n < 0 || optind != argc)
		usage();

	e2e_deadline_start(deadline);
	size_t len;
	char *reqs = build_requests(n, &len);
	int fd = e2e_connect((int)port, "connecting");
	send_requests(fd, reqs, len, n);
	read_responses(fd, n);
	close(fd);
	free(reqs);
	printf("http_pipeline: %ld responses ok\n", n);
	return 0;
}
