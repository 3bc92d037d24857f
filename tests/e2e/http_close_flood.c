/* http_close_flood.c -- connection churn test for the vk_hello example.
 *
 *   http_close_flood -p PORT -n COUNT [-t SECONDS] [-a 127.0.0.1]
 *
 * COUNT times in a row, one connection at a time: connect to
 * 127.0.0.1:PORT, send one GET, and normally read the response until the
 * server closes, checking "HTTP/1.1 200" and the body "Hello, world\n"
 * (delimited by Content-Length). Requests alternate between
 *   GET / HTTP/1.1 + "Connection: close"   (odd iterations)
 *   GET / HTTP/1.0                          (even iterations)
 * and both must make the server close after the response.
 *
 * To churn the server's teardown paths, every 3rd iteration closes the
 * socket right after sending without reading (abrupt disconnect), and every
 * 7th iteration closes with SO_LINGER {1,0} so the kernel sends an RST
 * (the RST wins when both apply). Iterations are numbered from 1.
 *
 * Afterwards one keep-alive connection carries two HTTP/1.1 requests, each
 * of which must be answered, to prove the server still serves normally.
 *
 * Exit status 0 on success, non-zero with one message on the first failure
 * or when the deadline (default 60 s) passes with work still pending. */

#include "e2e_util.h"

#define MAX_COUNT 10000000
#define ABRUPT_EVERY 3 /* close right after sending, no read */
#define RST_EVERY 7    /* SO_LINGER {1,0} close => RST */
#define KEEPALIVE_ROUNDS 2
#define RESP_CAP 16384
#define CONTEXT_CAP 160
#define ERR_CAP 512

static const char REQ_HTTP11_CLOSE[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
static const char REQ_HTTP10[] = "GET / HTTP/1.0\r\n\r\n";
static const char REQ_HTTP11_KEEPALIVE[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

enum ending { END_READ, END_ABRUPT, END_RST };

static const char *ending_name(enum ending e)
{
	return e == END_RST ? "RST close" : e == END_ABRUPT ? "abrupt close" : "read response";
}

/* Close fd with SO_LINGER {1,0}, making the kernel reset the connection. */
static void close_with_rst(int fd, const char *ctx)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		e2e_fail("%s: setsockopt(SO_LINGER): %s", ctx, strerror(errno));
	close(fd);
}

/* Read until the server closes, then check the bytes are exactly one
 * hello response. */
static void read_response_until_close(int fd, const char *ctx)
{
	static char buf[RESP_CAP];
	char err[ERR_CAP], what[CONTEXT_CAP + 128], esc[E2E_ESCAPE_MAX + 8];
	size_t len = 0;
	long complete = 0;

	snprintf(what, sizeof(what), "%s: reading response", ctx);
	for (;;) {
		if (len == sizeof(buf))
			e2e_fail("%s: response larger than %d bytes", ctx, RESP_CAP);
		ssize_t n = e2e_read_some(fd, buf + len, sizeof(buf) - len, what);
		if (n < 0)
			e2e_fail("%s: read error after %zu response bytes: %s", ctx, len, strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
		complete = e2e_http_parse_hello(buf, len, err, sizeof(err));
		if (complete < 0)
			e2e_fail("%s: %s", ctx, err);
		if (complete > 0)
			snprintf(what, sizeof(what),
				 "%s: complete response received, "
				 "waiting for the server to close the connection",
				 ctx);
	}
	if (complete == 0)
		e2e_fail("%s: server closed before a complete response (got %zu "
			 "bytes): \"%s\"",
			 ctx, len, e2e_escape(buf, len, esc, sizeof(esc)));
	if ((size_t)complete != len)
		e2e_fail("%s: %zu unexpected bytes after the response: \"%s\"", ctx, len - (size_t)complete,
			 e2e_escape(buf + complete, len - (size_t)complete, esc, sizeof(esc)));
}

/* One iteration (1-based i): connect, send, then read or drop. */
static void run_iteration(int port, long i, long count)
{
	int http10 = (i % 2 == 0);
	enum ending end = (i % RST_EVERY == 0) ? END_RST : (i % ABRUPT_EVERY == 0) ? END_ABRUPT : END_READ;
	const char *req = http10 ? REQ_HTTP10 : REQ_HTTP11_CLOSE;
	char ctx[CONTEXT_CAP];
	snprintf(ctx, sizeof(ctx), "iteration %ld/%ld (%s, %s)", i, count,
		 http10 ? "HTTP/1.0" : "HTTP/1.1 Connection: close", ending_name(end));

	int fd = e2e_connect(port, ctx);
	e2e_write_all(fd, req, strlen(req), ctx);
	switch (end) {
	case END_RST:
		close_with_rst(fd, ctx);
		break;
	case END_ABRUPT:
		close(fd);
		break;
	case END_READ:
		read_response_until_close(fd, ctx);
		close(fd);
		break;
	}
}

/* Two requests on one keep-alive connection; each must be answered and
 * the connection must stay open in between. */
static void keepalive_check(int port)
{
	static char buf[RESP_CAP];
	char err[ERR_CAP], ctx[CONTEXT_CAP], esc[E2E_ESCAPE_MAX + 8];
	const char *req = REQ_HTTP11_KEEPALIVE;

	snprintf(ctx, sizeof(ctx), "final keep-alive check: connecting");
	int fd = e2e_connect(port, ctx);
	for (int round = 1; round <= KEEPALIVE_ROUNDS; round++) {
		size_t len = 0;
		long complete = 0;
		snprintf(ctx, sizeof(ctx), "final keep-alive check: request %d/%d", round, KEEPALIVE_ROUNDS);
		e2e_write_all(fd, req, strlen(req), ctx);
		while (complete == 0) {
			if (len == sizeof(buf))
				e2e_fail("%s: response larger than %d bytes", ctx, RESP_CAP);
			ssize_t n = e2e_read_some(fd, buf + len, sizeof(buf) - len, ctx);
			if (n < 0)
				e2e_fail("%s: read error after %zu response bytes: %s%s", ctx, len, strerror(errno),
					 round > 1 ? " (server dropped the keep-alive connection?)" : "");
			if (n == 0)
				e2e_fail("%s: server closed the keep-alive connection after "
					 "%zu bytes of this response: \"%s\"",
					 ctx, len, e2e_escape(buf, len, esc, sizeof(esc)));
			len += (size_t)n;
			complete = e2e_http_parse_hello(buf, len, err, sizeof(err));
			if (complete < 0)
				e2e_fail("%s: %s", ctx, err);
		}
		if ((size_t)complete != len)
			e2e_fail("%s: %zu unexpected bytes after the response: \"%s\"", ctx, len - (size_t)complete,
				 e2e_escape(buf + complete, len - (size_t)complete, esc, sizeof(esc)));
	}
	close(fd);
}

static void usage(void)
{
	fprintf(stderr, "usage: %s -p PORT -n COUNT [-t SECONDS] [-a 127.0.0.1]\n", e2e_prog);
	exit(2);
}

int main(int argc, char **argv)
{
	long port = -1, count = -1, deadline = E2E_DEFAULT_DEADLINE_S;
	int opt;
	e2e_prog = "http_close_flood";
	while ((opt = getopt(argc, argv, "a:p:n:t:")) != -1) {
		switch (opt) {
		case 'a':
			e2e_require_loopback(optarg);
			break;
		case 'p':
			port = e2e_parse_long(optarg, "port", 1, 65535);
			break;
		case 'n':
			count = e2e_parse_long(optarg, "COUNT", 1, MAX_COUNT);
			break;
		case 't':
			deadline = e2e_parse_long(optarg, "SECONDS", 1, E2E_MAX_DEADLINE_S);
			break;
		default:
			usage();
		}
	}
	if (port < 0 || count < 0 || optind != argc)
		usage();

	e2e_deadline_start(deadline);
	for (long i = 1; i <= count; i++)
		run_iteration((int)port, i, count);
	keepalive_check((int)port);
	printf("http_close_flood: %ld iterations ok\n", count);
	return 0;
}
