/* vk_test_proc: drive a micro-process by hand, without a kernel. A test
 * maps a heap, creates the process at its start, adds sockets and threads,
 * then plays the kernel: run, poll what the process says it waits on,
 * deliver the events, run again. */
#ifndef VK_TEST_PROC_H
#define VK_TEST_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vk_heap.h"
#include "vk_heap_s.h"
#include "vk_proc_local.h"
#include "vk_socket.h"
#include "vk_thread.h"

#define VK_TEST_PAGES 64
#define VK_TEST_MAX_FDS 16
#define VK_TEST_MAX_WAITS 16

struct vk_test_wait {
	int fd;
	int events;
};

struct vk_test_proc {
	struct vk_heap heap;
	struct vk_proc_local *pl;
	int fds[VK_TEST_MAX_FDS]; /* closed at teardown unless forgotten */
	int fd_count;
	struct vk_test_wait waits[VK_TEST_MAX_WAITS]; /* from the last blocks() */
	int wait_count;
	uint64_t timer_ns;
};

static inline int vk_test_proc_open(struct vk_test_proc *tp, size_t pages)
{
	memset(tp, 0, sizeof(*tp));
	if (vk_heap_map(&tp->heap, pages) == -1)
		return -1;
	tp->pl = vk_proc_local_create(vk_heap_start(&tp->heap), vk_heap_len(&tp->heap), pages);
	return tp->pl ? 0 : -1;
}

static inline void vk_test_proc_close(struct vk_test_proc *tp)
{
	for (int i = 0; i < tp->fd_count; i++)
		if (tp->fds[i] >= 0)
			close(tp->fds[i]);
	tp->fd_count = 0;
	vk_heap_unmap(&tp->heap);
	tp->pl = NULL;
}

/* cmocka setup/teardown: state is a struct vk_test_proc. */
static inline int vk_test_setup(void **state)
{
	struct vk_test_proc *tp = malloc(sizeof(*tp));

	if (!tp || vk_test_proc_open(tp, VK_TEST_PAGES) == -1) {
		free(tp);
		return -1;
	}
	*state = tp;
	return 0;
}

static inline int vk_test_teardown(void **state)
{
	struct vk_test_proc *tp = *state;

	vk_test_proc_close(tp);
	free(tp);
	return 0;
}

static inline void vk_test_track_fd(struct vk_test_proc *tp, int fd)
{
	if (tp->fd_count < VK_TEST_MAX_FDS)
		tp->fds[tp->fd_count++] = fd;
}

/* The fd was closed by vkern (vk_socket_close): teardown must not close a
 * number that may have been reused. */
static inline void vk_test_forget_fd(struct vk_test_proc *tp, int fd)
{
	for (int i = 0; i < tp->fd_count; i++)
		if (tp->fds[i] == fd)
			tp->fds[i] = -1;
}

static inline int vk_test_set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags == -1 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* A nonblocking AF_UNIX stream pair: fds[0] for a vk_socket, fds[1] for the
 * test playing the peer. Both are closed at teardown. */
static inline int vk_test_socketpair(struct vk_test_proc *tp, int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1)
		return -1;
	vk_test_track_fd(tp, fds[0]);
	vk_test_track_fd(tp, fds[1]);
	if (vk_test_set_nonblock(fds[0]) == -1 || vk_test_set_nonblock(fds[1]) == -1)
		return -1;
	return 0;
}

/* A vk_socket over fds[0] of a fresh socketpair. */
static inline struct vk_socket *vk_test_fd_socket(struct vk_test_proc *tp, int fds[2], size_t rx_len, size_t tx_len)
{
	struct vk_socket *socket_ptr;

	if (vk_test_socketpair(tp, fds) == -1)
		return NULL;
	socket_ptr = vk_socket_alloc(tp->pl, rx_len, tx_len);
	if (socket_ptr)
		vk_socket_set_fd(socket_ptr, fds[0]);
	return socket_ptr;
}

static inline struct vk_thread *vk_test_start(struct vk_test_proc *tp, vk_thread_fn fn, void *arg,
					      struct vk_socket *socket_ptr)
{
	struct vk_thread *thread_ptr = vk_thread_new(tp->pl, fn, arg, socket_ptr);

	if (thread_ptr)
		vk_proc_local_enqueue(tp->pl, thread_ptr);
	return thread_ptr;
}

static inline void vk_test_collect(void *ctx_ptr, int fd, int events)
{
	struct vk_test_proc *tp = ctx_ptr;

	if (tp->wait_count < VK_TEST_MAX_WAITS) {
		tp->waits[tp->wait_count].fd = fd;
		tp->waits[tp->wait_count].events = events;
		tp->wait_count++;
	}
}

/* What the blocked threads wait on, into tp->waits; returns the count of
 * waits the kernel could end. */
static inline int vk_test_blocks(struct vk_test_proc *tp)
{
	tp->wait_count = 0;
	tp->timer_ns = 0;
	return vk_proc_local_blocks(tp->pl, vk_test_collect, tp, &tp->timer_ns);
}

/* Whether the last vk_test_blocks() reported a wait for `events` on fd. */
static inline int vk_test_waits_on(struct vk_test_proc *tp, int fd, int events)
{
	for (int i = 0; i < tp->wait_count; i++)
		if (tp->waits[i].fd == fd && (tp->waits[i].events & events) == events)
			return 1;
	return 0;
}

/* Plays the kernel's poll once: waits up to timeout_ms for what the process
 * reported and delivers what is ready. Returns the events delivered. */
static inline int vk_test_poll_once(struct vk_test_proc *tp, int timeout_ms)
{
	struct pollfd pfds[VK_TEST_MAX_WAITS];
	int delivered = 0;
	int n;

	vk_test_blocks(tp);
	for (int i = 0; i < tp->wait_count; i++) {
		pfds[i].fd = tp->waits[i].fd;
		pfds[i].events = (short)(((tp->waits[i].events & VK_EV_IN) ? POLLIN : 0) |
					 ((tp->waits[i].events & VK_EV_OUT) ? POLLOUT : 0));
		pfds[i].revents = 0;
	}
	n = poll(pfds, (nfds_t)tp->wait_count, timeout_ms);
	if (n <= 0)
		return 0;
	for (int i = 0; i < tp->wait_count; i++) {
		int events = 0;

		if (pfds[i].revents & POLLIN)
			events |= VK_EV_IN;
		if (pfds[i].revents & POLLOUT)
			events |= VK_EV_OUT;
		if (pfds[i].revents & POLLHUP)
			events |= VK_EV_HUP;
		if (pfds[i].revents & POLLERR)
			events |= VK_EV_ERR;
		if (events) {
			vk_proc_local_fd_event(tp->pl, pfds[i].fd, events);
			delivered++;
		}
	}
	return delivered;
}

/* Called between rounds so the test can feed and drain the peers. */
typedef void (*vk_test_peer_fn)(void *ctx_ptr);

/* Runs the process to its end (or failure, or a stall of `rounds` rounds
 * with nothing delivered), playing the kernel in between. */
static inline enum vk_proc_run vk_test_pump(struct vk_test_proc *tp, vk_test_peer_fn peer, void *ctx_ptr, int rounds)
{
	enum vk_proc_run run = vk_proc_local_run(tp->pl);
	int idle = 0;

	while (run == VK_PROC_ALIVE && idle < rounds) {
		if (peer)
			peer(ctx_ptr);
		if (vk_test_poll_once(tp, 10) == 0)
			idle++;
		else
			idle = 0;
		run = vk_proc_local_run(tp->pl);
	}
	return run;
}

/* Peer-side helpers on a nonblocking fd: what could be moved now. */
static inline size_t vk_test_write_some(int fd, const void *buf, size_t len)
{
	ssize_t rc = write(fd, buf, len);

	return rc > 0 ? (size_t)rc : 0;
}

static inline size_t vk_test_read_some(int fd, void *buf, size_t len)
{
	ssize_t rc = read(fd, buf, len);

	return rc > 0 ? (size_t)rc : 0;
}

/* The byte at position i of the test patterns. */
static inline unsigned char vk_test_pattern(size_t i)
{
	return (unsigned char)((i * 31u + (i >> 8) * 7u + 1u) & 0xff);
}

#endif
