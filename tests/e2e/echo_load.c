/* echo_load.c -- concurrent load and byte-exact check of the vk_echo example.
 *
 *   echo_load -p PORT -c CONNS -n LINES [-t SECONDS] [-a 127.0.0.1]
 *
 * Opens CONNS connections to 127.0.0.1:PORT at once (non-blocking sockets
 * driven by one epoll loop) and sends LINES lines on each. For every line
 * the server must answer "<n> <line>", n being the 1-based line number on
 * that connection, and the line exactly as sent including its '\n'.
 *
 * Lines look like "conn <c> line <i> <payload>\n" where the payload is a
 * deterministic pseudo-random run of 1..200 printable characters, so every
 * expected reply can be regenerated instead of stored. Lines go out in
 * bursts of several per write(), and some writes stop in the middle of a
 * line, to exercise the server's buffering. Replies are compared byte by
 * byte as they arrive; the first difference fails the run.
 *
 * Connections are opened in a ramp: at most MAX_UNPROVEN of them may be
 * waiting for their first reply byte at any time (proof the server has
 * accepted them), so a small listen backlog cannot make the kernel drop or
 * reset connections. During the ramp each connection sends only its first
 * line and keeps the socket open, so once the ramp is over all CONNS
 * connections are open at the same time; then the remaining lines flow.
 *
 * Exit status 0 on success, non-zero with one message on the first failure
 * or when the deadline (default 60 s) passes with work still pending. */

#include "e2e_util.h"

#include <sys/epoll.h>
#include <sys/resource.h>

#define MAX_CONNS 100000
#define MAX_LINES 10000000
#define MAX_PAYLOAD 200
#define LINE_CAP (64 + MAX_PAYLOAD) /* "conn .. line .. " + payload */
#define REPLY_CAP (16 + LINE_CAP)   /* "<n> " + line */
#define MAX_BURST_LINES 8
#define OUT_CAP (MAX_BURST_LINES * LINE_CAP)
#define SPLIT_ONE_IN 3 /* one write in N stops mid-burst */
#define READ_CHUNK 65536
#define EPOLL_BATCH 256
#define FD_HEADROOM 32	   /* descriptors beyond CONNS we may need */
#define MAX_UNPROVEN 32	   /* opened but no reply byte seen yet */
#define PENDING_EXAMPLES 5 /* connections listed on a deadline failure */
#define LINE_SEED 0x76b9e2a1c0ffee11ULL
#define BURST_SEED 0x5eed0b0a5eed0b0aULL

struct conn {
	int fd;
	int id;			 /* 0-based connection number */
	int connected;		 /* TCP handshake completed */
	int proven;		 /* server has sent at least one byte */
	int finished;		 /* all replies verified, socket closed */
	int want_out;		 /* EPOLLOUT currently registered */
	long lines_queued;	 /* lines generated into out[] so far */
	long replies_done;	 /* replies fully verified */
	uint64_t rng;		 /* drives burst sizes and split points */
	size_t out_len, out_off; /* unsent bytes are out[out_off..out_len) */
	size_t exp_len, exp_off; /* current expected reply and bytes matched */
	char out[OUT_CAP];
	char exp[REPLY_CAP];
};

static long nconns, nlines;
static struct conn *conns;
static int epfd;
static long active;	  /* connections not yet finished */
static long next_to_open; /* connections [0,next_to_open) are opened */
static long unproven;	  /* opened, no reply byte seen yet */
static int ramping = 1;	  /* not all connections opened and proven yet */
static struct sockaddr_in server_addr;
static uint64_t bytes_verified;

/* splitmix64: a tiny, well-mixed deterministic generator. */
static uint64_t next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Write line 'i' (0-based) of connection 'c' into buf; return its length. */
static size_t make_line(long c, long i, char *buf)
{
	uint64_t state = LINE_SEED ^ ((uint64_t)c << 32) ^ (uint64_t)i;
	size_t payload = 1 + next_rand(&state) % MAX_PAYLOAD;
	int n = snprintf(buf, LINE_CAP, "conn %ld line %ld ", c, i);
	size_t len = (size_t)n;
	for (size_t k = 0; k < payload; k++)
		buf[len++] = (char)(' ' + next_rand(&state) % ('~' - ' ' + 1));
	buf[len++] = '\n';
	return len;
}

/* Load the reply the server owes for line 'i' of c into c->exp. */
static void load_expected_reply(struct conn *c, long i)
{
	int n = snprintf(c->exp, REPLY_CAP, "%ld ", i + 1);
	c->exp_len = (size_t)n + make_line(c->id, i, c->exp + n);
	c->exp_off = 0;
}

static void set_want_out(struct conn *c, int want)
{
	if (c->want_out == want)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		e2e_fail("epoll_ctl(MOD) conn %d: %s", c->id, strerror(errno));
	c->want_out = want;
}

/* Raise the open-files soft limit to the hard limit and make sure
 * CONNS connections fit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		e2e_fail("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		e2e_fail("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)(nconns + FD_HEADROOM))
		e2e_fail("open-files limit %llu too low for %ld connections", (unsigned long long)rl.rlim_cur, nconns);
}

/* Open connections until MAX_UNPROVEN of them await their first reply. */
static void open_more_connections(void)
{
	while (next_to_open < nconns && unproven < MAX_UNPROVEN) {
		struct conn *c = &conns[next_to_open];
		c->id = (int)next_to_open++;
		c->rng = BURST_SEED ^ (uint64_t)c->id;
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (c->fd < 0)
			e2e_fail("socket for conn %d: %s", c->id, strerror(errno));
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c->fd, (struct sockaddr *)&server_addr, sizeof(server_addr)) < 0 && errno != EINPROGRESS)
			e2e_fail("connect conn %d to %s:%d: %s", c->id, E2E_LOOPBACK_ADDR, ntohs(server_addr.sin_port),
				 strerror(errno));
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			e2e_fail("epoll_ctl(ADD) conn %d: %s", c->id, strerror(errno));
		c->want_out = 1;
		load_expected_reply(c, 0);
		unproven++;
	}
}

/* Fill c->out with the next burst of 1..MAX_BURST_LINES lines (just one
 * line while ramping up). */
static void queue_burst(struct conn *c)
{
	long count = 1 + (long)(next_rand(&c->rng) % MAX_BURST_LINES);
	if (ramping)
		count = 1;
	c->out_len = c->out_off = 0;
	while (count-- > 0 && c->lines_queued < nlines)
		c->out_len += make_line(c->id, c->lines_queued++, c->out + c->out_len);
}

/* Socket writable: finish connecting, then send (part of) a burst. One
 * write() per event, so a split burst really goes out in two writes. */
static void handle_writable(struct conn *c)
{
	if (!c->connected) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err)
			e2e_fail("conn %d: connect failed: %s", c->id, strerror(err));
		c->connected = 1;
	}
	if (c->out_off == c->out_len) {
		if (c->lines_queued == nlines || (ramping && c->lines_queued > 0)) {
			set_want_out(c, 0); /* all sent, or held until ramp-up ends */
			return;
		}
		queue_burst(c);
	}
	size_t chunk = c->out_len - c->out_off;
	if (chunk > 1 && next_rand(&c->rng) % SPLIT_ONE_IN == 0)
		chunk = 1 + next_rand(&c->rng) % (chunk - 1);
	ssize_t n = write(c->fd, c->out + c->out_off, chunk);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		e2e_fail("conn %d: write failed: %s (%ld of %ld lines queued, "
			 "%ld replies verified)",
			 c->id, strerror(errno), c->lines_queued, nlines, c->replies_done);
	}
	c->out_off += (size_t)n;
}

/* Describe a mismatch at data[pos] against the expected reply and fail. */
static void fail_mismatch(struct conn *c, const char *data, size_t pos, size_t len)
{
	char exp_esc[E2E_ESCAPE_MAX + 8], got_esc[E2E_ESCAPE_MAX + 8];
	char got[REPLY_CAP + 64];
	size_t tail = len - pos;
	if (tail > sizeof(got) - c->exp_off)
		tail = sizeof(got) - c->exp_off;
	memcpy(got, c->exp, c->exp_off);	    /* bytes that matched */
	memcpy(got + c->exp_off, data + pos, tail); /* and what came instead */
	e2e_fail("conn %d reply %ld: byte %zu differs (expected 0x%02x, got 0x%02x)"
		 "\n  expected: \"%s\"\n  got:      \"%s\"",
		 c->id, c->replies_done + 1, c->exp_off, (unsigned char)c->exp[c->exp_off], (unsigned char)data[pos],
		 e2e_escape(c->exp, c->exp_len, exp_esc, sizeof(exp_esc)),
		 e2e_escape(got, c->exp_off + tail, got_esc, sizeof(got_esc)));
}

/* Compare received bytes with the expected reply stream of c. */
static void check_reply_bytes(struct conn *c, const char *data, size_t len)
{
	size_t pos = 0;
	if (!c->proven && len > 0) {
		c->proven = 1;
		unproven--;
	}
	while (pos < len) {
		if (c->replies_done == nlines) {
			char esc[E2E_ESCAPE_MAX + 8];
			e2e_fail("conn %d: %zu unexpected bytes after all %ld replies: "
				 "\"%s\"",
				 c->id, len - pos, nlines, e2e_escape(data + pos, len - pos, esc, sizeof(esc)));
		}
		size_t want = c->exp_len - c->exp_off;
		size_t n = len - pos < want ? len - pos : want;
		const char *diff = NULL;
		for (size_t k = 0; k < n; k++) {
			if (data[pos + k] != c->exp[c->exp_off + k]) {
				diff = data + pos + k;
				c->exp_off += k;
				break;
			}
		}
		if (diff)
			fail_mismatch(c, data, (size_t)(diff - data), len);
		c->exp_off += n;
		pos += n;
		bytes_verified += n;
		if (c->exp_off == c->exp_len) {
			c->replies_done++;
			if (c->replies_done < nlines)
				load_expected_reply(c, c->replies_done);
		}
	}
}

/* Every reply on c verified: close it. */
static void finish_connection(struct conn *c)
{
	close(c->fd); /* also removes it from the epoll set */
	c->finished = 1;
	active--;
}

/* Socket readable: drain it, verifying every byte; close when done. */
static void handle_readable(struct conn *c)
{
	static char buf[READ_CHUNK];
	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof(buf));
		if (n > 0) {
			check_reply_bytes(c, buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n < 0)
			e2e_fail("conn %d: read failed after %ld of %ld replies: %s", c->id, c->replies_done, nlines,
				 strerror(errno));
		e2e_fail("conn %d: server closed the connection after %ld of %ld "
			 "replies (%zu bytes into reply %ld; %ld lines queued)",
			 c->id, c->replies_done, nlines, c->exp_off, c->replies_done + 1, c->lines_queued);
	}
	if (c->replies_done == nlines && !ramping)
		finish_connection(c);
}

/* All CONNS connections are open and proven: let every one of them send
 * the rest of its lines, and close those that are already done. */
static void end_ramp(void)
{
	ramping = 0;
	for (long i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		if (c->replies_done == nlines)
			finish_connection(c);
		else
			set_want_out(c, 1);
	}
}

/* Build the "still pending" text for a deadline failure. Connections
 * the server never answered are listed first: they are the likely cause. */
static const char *describe_pending(void)
{
	static char msg[1024];
	long unconnected = 0, no_reply = 0, sending = 0, waiting = 0, shown = 0;
	int off;
	for (long i = 0; i < next_to_open; i++) {
		struct conn *c = &conns[i];
		if (c->finished)
			continue;
		if (!c->connected)
			unconnected++;
		else if (!c->proven)
			no_reply++;
		else if (c->lines_queued < nlines || c->out_off < c->out_len)
			sending++;
		else
			waiting++;
	}
	off = snprintf(msg, sizeof(msg),
		       "%ld of %ld connections unfinished (%s; "
		       "%ld not opened yet, %ld connecting, %ld without any reply yet, "
		       "%ld sending, %ld awaiting replies)",
		       active, nconns, ramping ? "still ramping up" : "ramp-up done", nconns - next_to_open,
		       unconnected, no_reply, sending, waiting);
	for (int pass = 0; pass < 2; pass++) {
		for (long i = 0; i < next_to_open && shown < PENDING_EXAMPLES; i++) {
			struct conn *c = &conns[i];
			if (c->finished || c->proven != pass || off >= (int)sizeof(msg))
				continue;
			off += snprintf(msg + off, sizeof(msg) - (size_t)off,
					"; conn %d: %s, %ld/%ld lines queued, %ld/%ld replies verified", c->id,
					!c->connected ? "not connected"
					: c->proven   ? "connected"
						      : "connected, no reply yet",
					c->lines_queued, nlines, c->replies_done, nlines);
			shown++;
		}
	}
	return msg;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s -p PORT -c CONNS -n LINES [-t SECONDS] "
		"[-a 127.0.0.1]\n",
		e2e_prog);
	exit(2);
}

int main(int argc, char **argv)
{
	long port = -1, deadline = E2E_DEFAULT_DEADLINE_S;
	int opt;
	e2e_prog = "echo_load";
	nconns = nlines = -1;
	while ((opt = getopt(argc, argv, "a:p:c:n:t:")) != -1) {
		switch (opt) {
		case 'a':
			e2e_require_loopback(optarg);
			break;
		case 'p':
			port = e2e_parse_long(optarg, "port", 1, 65535);
			break;
		case 'c':
			nconns = e2e_parse_long(optarg, "CONNS", 1, MAX_CONNS);
			break;
		case 'n':
			nlines = e2e_parse_long(optarg, "LINES", 1, MAX_LINES);
			break;
		case 't':
			deadline = e2e_parse_long(optarg, "SECONDS", 1, E2E_MAX_DEADLINE_S);
			break;
		default:
			usage();
		}
	}
	if (port < 0 || nconns < 0 || nlines < 0 || optind != argc)
		usage();

	e2e_deadline_start(deadline);
	raise_fd_limit();
	conns = calloc((size_t)nconns, sizeof(*conns));
	if (!conns)
		e2e_fail("out of memory for %ld connections", nconns);
	epfd = epoll_create1(0);
	if (epfd < 0)
		e2e_fail("epoll_create1: %s", strerror(errno));
	e2e_loopback_sockaddr((int)port, &server_addr);
	active = nconns;
	open_more_connections();

	struct epoll_event events[EPOLL_BATCH];
	while (active > 0) {
		int64_t left = e2e_ms_left();
		if (left <= 0)
			e2e_remaining_ms(describe_pending()); /* fails with the details */
		int n = epoll_wait(epfd, events, EPOLL_BATCH, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			e2e_fail("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;
			uint32_t ev = events[i].events;
			/* Replies first: a server that closed early is best reported
			 * by what it sent before closing. */
			if (!c->finished && c->connected && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				handle_readable(c);
			if (!c->finished && (ev & (EPOLLOUT | EPOLLERR)))
				handle_writable(c);
		}
		open_more_connections();
		if (ramping && next_to_open == nconns && unproven == 0)
			end_ramp();
	}
	printf("echo_load: %ld connections x %ld lines ok (%llu bytes verified)\n", nconns, nlines,
	       (unsigned long long)bytes_verified);
	return 0;
}
