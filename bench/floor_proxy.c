/* floor_proxy: the least a proxy can do per request, for bench-proxy.sh to
 * measure the others against. One thread, level-triggered epoll; each client
 * connection gets its own upstream connection and bytes are copied both ways
 * as they come, with no HTTP. Per request that is one read and one write on
 * each side, the same system calls a keep-alive HTTP proxy cannot avoid, and
 * no user-space work beyond them.
 *
 *   floor_proxy -u HOST:PORT [-l HOST:PORT]
 *
 * Listens on -l (default 127.0.0.1:0, the kernel picks the port) and prints
 * "listening on HOST:PORT" on stdout, as vkgw does. When either side of a
 * pair closes or fails, both are closed. SIGTERM or SIGINT: exit 0. Not for
 * production: no timeouts, no limits beyond the open-file limit. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Enough for a request or a 1 KiB response in one read; a bigger message
 * just takes more reads, as it would in any proxy. */
#define BUF_SIZE 16384
#define MAX_EVENTS 256
#define ACCEPTS_PER_WAKE 64

/* One side of a pair. buf holds bytes read from this side and not yet
 * written to the peer: while it holds any, this side is not read (the
 * buffer is the whole backpressure). */
struct end {
	int fd;
	uint32_t events; /* the epoll interest currently registered */
	struct end *peer_ptr;
	struct pair *pair_ptr;
	size_t off, len;
	char buf[BUF_SIZE];
};

struct pair {
	struct end client, upstream;
	bool connecting; /* the upstream connect has not completed yet */
	bool closed;
	struct pair *next_closed_ptr;
};

static volatile sig_atomic_t stop_requested;
static int epfd;
static struct pair *closed_ptr; /* freed after the batch of events that closed them */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "floor_proxy: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: floor_proxy -u HOST:PORT [-l HOST:PORT]\n");
	exit(2);
}

/* "1.2.3.4:80" or "[::1]:80", numeric only. The port is range-checked
 * here: getaddrinfo takes any number and keeps its low 16 bits. */
static bool parse_addr(const char *text, struct sockaddr_storage *ss_ptr, socklen_t *len_ptr)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	char *end_ptr;
	long port;
	size_t n;

	if (colon == NULL)
		return false;
	n = (size_t)(colon - text);
	if (text[0] == '[' && n >= 2 && text[n - 1] == ']') {
		text++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, text, n);
	host[n] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end_ptr, 10);
	if (errno != 0 || end_ptr == colon + 1 || *end_ptr != '\0' || port < 0 || port > 65535)
		return false;

	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai_ptr;
	if (getaddrinfo(host, colon + 1, &hints, &ai_ptr) != 0)
		return false;
	memcpy(ss_ptr, ai_ptr->ai_addr, ai_ptr->ai_addrlen);
	*len_ptr = ai_ptr->ai_addrlen;
	freeaddrinfo(ai_ptr);
	return true;
}

/* The interest an end needs now: read while its buffer is empty, write
 * while the peer has bytes for it (or, upstream side, until connected). */
static void update_interest(struct end *end_ptr)
{
	struct pair *pair_ptr = end_ptr->pair_ptr;
	uint32_t want = 0;

	if (pair_ptr->connecting) {
		if (end_ptr == &pair_ptr->upstream)
			want = EPOLLOUT;
	} else {
		if (end_ptr->len == 0)
			want |= EPOLLIN;
		if (end_ptr->peer_ptr->len > 0)
			want |= EPOLLOUT;
	}
	if (want == end_ptr->events)
		return;
	struct epoll_event ev = {.events = want, .data.ptr = end_ptr};
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, end_ptr->fd, &ev) < 0)
		die("epoll_ctl MOD");
	end_ptr->events = want;
}

/* Closing removes both fds from epoll; events already returned for them in
 * this batch still point at the pair, so it is freed after the batch. */
static void close_pair(struct pair *pair_ptr)
{
	if (pair_ptr->closed)
		return;
	pair_ptr->closed = true;
	close(pair_ptr->client.fd);
	close(pair_ptr->upstream.fd);
	pair_ptr->next_closed_ptr = closed_ptr;
	closed_ptr = pair_ptr;
}

static void free_closed(void)
{
	while (closed_ptr != NULL) {
		struct pair *next_ptr = closed_ptr->next_closed_ptr;
		free(closed_ptr);
		closed_ptr = next_ptr;
	}
}

/* Writes what FROM holds to its peer. False if the pair must close. */
static bool flush(struct end *from_ptr)
{
	while (from_ptr->len > 0) {
		ssize_t n = write(from_ptr->peer_ptr->fd, from_ptr->buf + from_ptr->off, from_ptr->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		from_ptr->off += (size_t)n;
		from_ptr->len -= (size_t)n;
	}
	from_ptr->off = 0;
	return true;
}

/* One read per readiness (level-triggered: more data wakes us again), and
 * at once one write of it to the peer. */
static bool on_readable(struct end *end_ptr, uint32_t events)
{
	ssize_t n;

	/* Not reading until flushed; but a hang-up is reported whatever the
	 * interest, and would wake us forever. */
	if (end_ptr->len > 0)
		return (events & (EPOLLHUP | EPOLLERR)) == 0;
	do
		n = read(end_ptr->fd, end_ptr->buf, sizeof(end_ptr->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK;
	if (n == 0)
		return false;
	end_ptr->off = 0;
	end_ptr->len = (size_t)n;
	return flush(end_ptr);
}

static bool on_connected(struct pair *pair_ptr)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(pair_ptr->upstream.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)
		return false;
	pair_ptr->connecting = false;
	return true;
}

static void on_event(struct end *end_ptr, uint32_t events)
{
	struct pair *pair_ptr = end_ptr->pair_ptr;
	bool ok = true;

	if (pair_ptr->closed)
		return;
	if (pair_ptr->connecting) {
		if (end_ptr == &pair_ptr->upstream)
			ok = (events & EPOLLERR) == 0 && on_connected(pair_ptr);
		else
			ok = (events & (EPOLLHUP | EPOLLERR)) == 0;
	} else {
		/* Writable first: it may empty this end's inbound buffer... */
		if (events & (EPOLLOUT | EPOLLERR))
			ok = flush(end_ptr->peer_ptr);
		/* ...and a hang-up without EPOLLIN would otherwise spin. */
		if (ok && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			ok = on_readable(end_ptr, events);
	}
	if (!ok) {
		close_pair(pair_ptr);
		return;
	}
	update_interest(&pair_ptr->client);
	update_interest(&pair_ptr->upstream);
}

static void set_nodelay(int fd)
{
	int one = 1;

	/* Small responses must leave at once, as every HTTP proxy sets it. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void add_end(struct end *end_ptr, struct end *peer_ptr, struct pair *pair_ptr, int fd)
{
	end_ptr->fd = fd;
	end_ptr->peer_ptr = peer_ptr;
	end_ptr->pair_ptr = pair_ptr;
	end_ptr->events = 0;
	end_ptr->off = 0;
	end_ptr->len = 0;
	struct epoll_event ev = {.events = 0, .data.ptr = end_ptr};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl ADD");
}

static void open_pair(int client_fd, const struct sockaddr_storage *up_ptr, socklen_t up_len)
{
	struct pair *pair_ptr;
	int up_fd;

	up_fd = socket(up_ptr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (up_fd < 0) {
		fprintf(stderr, "floor_proxy: socket: %s\n", strerror(errno));
		close(client_fd);
		return;
	}
	pair_ptr = malloc(sizeof(*pair_ptr));
	if (pair_ptr == NULL)
		die("malloc");
	pair_ptr->closed = false;
	pair_ptr->connecting = false;
	set_nodelay(client_fd);
	set_nodelay(up_fd);
	add_end(&pair_ptr->client, &pair_ptr->upstream, pair_ptr, client_fd);
	add_end(&pair_ptr->upstream, &pair_ptr->client, pair_ptr, up_fd);
	if (connect(up_fd, (const struct sockaddr *)up_ptr, up_len) < 0) {
		if (errno != EINPROGRESS) {
			fprintf(stderr, "floor_proxy: connect to upstream: %s\n", strerror(errno));
			close_pair(pair_ptr);
			return;
		}
		pair_ptr->connecting = true;
	}
	update_interest(&pair_ptr->client);
	update_interest(&pair_ptr->upstream);
}

static void on_accept(int listen_fd, const struct sockaddr_storage *up_ptr, socklen_t up_len)
{
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				fprintf(stderr, "floor_proxy: accept: %s\n", strerror(errno));
			return;
		}
		open_pair(fd, up_ptr, up_len);
	}
}

static int open_listener(const struct sockaddr_storage *ss_ptr, socklen_t len)
{
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	char host[NI_MAXHOST], port[NI_MAXSERV];
	int one = 1;
	int fd;

	fd = socket(ss_ptr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss_ptr, len) < 0)
		die("bind");
	if (listen(fd, 4096) < 0)
		die("listen");
	if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) < 0)
		die("getsockname");
	if (getnameinfo((struct sockaddr *)&bound, bound_len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		fprintf(stderr, "floor_proxy: cannot print the listening address\n");
		exit(1);
	}
	bool v6 = bound.ss_family == AF_INET6;
	printf("listening on %s%s%s:%s\n", v6 ? "[" : "", host, v6 ? "]" : "", port);
	fflush(stdout);
	return fd;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage listen_addr, up_addr;
	socklen_t listen_len, up_len;
	const char *listen_text = "127.0.0.1:0", *up_text = NULL;
	struct epoll_event events[MAX_EVENTS];
	int opt, listen_fd;

	while ((opt = getopt(argc, argv, "u:l:")) != -1) {
		if (opt == 'u')
			up_text = optarg;
		else if (opt == 'l')
			listen_text = optarg;
		else
			usage();
	}
	if (up_text == NULL || optind != argc)
		usage();
	if (!parse_addr(up_text, &up_addr, &up_len)) {
		fprintf(stderr, "floor_proxy: -u '%s' is not a numeric HOST:PORT\n", up_text);
		return 2;
	}
	if (!parse_addr(listen_text, &listen_addr, &listen_len)) {
		fprintf(stderr, "floor_proxy: -l '%s' is not a numeric HOST:PORT\n", listen_text);
		return 2;
	}

	/* No SA_RESTART: the signal interrupts epoll_wait, and the loop ends. */
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	listen_fd = open_listener(&listen_addr, listen_len);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &lev) < 0)
		die("epoll_ctl ADD listener");

	while (!stop_requested) {
		int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr == NULL)
				on_accept(listen_fd, &up_addr, up_len);
			else
				on_event(events[i].data.ptr, events[i].events);
		}
		free_closed();
	}
	/* Open pairs are left to the process exit to close. */
	return 0;
}
