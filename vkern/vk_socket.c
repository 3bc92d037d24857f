/* vk_socket: buffered stream I/O for micro-threads. Every operation first
 * works on the rings and only makes a syscall when the rings cannot satisfy
 * it; a direction whose last syscall hit EAGAIN is not retried until the
 * kernel reports an event for it (deductive polling). */
#include "vk_socket.h"
#include "vk_socket_s.h"
#include "vk_pipe.h"
#include "vk_proc_local.h"
#include "vk_sys.h"
#include "vk_thread.h"
#include "vk_vectoring.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Result of one attempt to move bytes between a pipe and a ring. */
#define MOVED 1
#define NOTHING 0 /* eof reached, or would block (see ring->blocked) */

struct vk_socket *vk_socket_alloc(struct vk_proc_local *proc_local_ptr, size_t rx_len, size_t tx_len)
{
	struct vk_socket *socket_ptr;
	char *buf;

	/* Raw: vk_socket_init clears the struct, and ring bytes are only read
	 * after they are written, so ring pages are touched as bytes come. */
	socket_ptr = vk_proc_local_alloc_raw(proc_local_ptr, sizeof(*socket_ptr) + rx_len + tx_len);
	if (!socket_ptr)
		return NULL;
	buf = (char *)(socket_ptr + 1);
	vk_socket_init(socket_ptr, proc_local_ptr, buf, rx_len, buf + rx_len, tx_len);
	return socket_ptr;
}

/* A socket on rings the caller laid out (contiguous with other buffers,
 * say, so that one madvise covers them all when idle). */
struct vk_socket *vk_socket_alloc_on(struct vk_proc_local *proc_local_ptr, void *rx_buf, size_t rx_len, void *tx_buf,
				     size_t tx_len)
{
	struct vk_socket *socket_ptr = vk_proc_local_alloc(proc_local_ptr, sizeof(*socket_ptr));

	if (socket_ptr)
		vk_socket_init(socket_ptr, proc_local_ptr, rx_buf, rx_len, tx_buf, tx_len);
	return socket_ptr;
}

size_t vk_socket_size(void)
{
	return sizeof(struct vk_socket);
}

char *vk_socket_rings(struct vk_socket *socket_ptr)
{
	return socket_ptr->rx.buf_ptr;
}

int vk_socket_hot(struct vk_socket *socket_ptr, size_t rx_bytes, unsigned rx_classes, size_t tx_bytes,
		  unsigned tx_classes)
{
	if (rx_bytes > socket_ptr->rx.buf_len)
		rx_bytes = socket_ptr->rx.buf_len;
	if (tx_bytes > socket_ptr->tx.buf_len)
		tx_bytes = socket_ptr->tx.buf_len;
	if (vk_sys_hot(socket_ptr, sizeof(*socket_ptr)) == -1 ||
	    (rx_bytes && vk_sys_hot_in(socket_ptr->rx.buf_ptr, rx_bytes, rx_classes) == -1) ||
	    (tx_bytes && vk_sys_hot_in(socket_ptr->tx.buf_ptr, tx_bytes, tx_classes) == -1))
		return -1;
	return 0;
}

/* Empty rings hold nothing worth keeping: the length of the rings (rx
 * then tx, contiguous as vk_socket_alloc lays them out) whose pages may go
 * back to the OS now, or 0. */
size_t vk_socket_idle_rings(struct vk_socket *socket_ptr)
{
	struct vk_vectoring *rx_ptr = &socket_ptr->rx;
	struct vk_vectoring *tx_ptr = &socket_ptr->tx;

	if (rx_ptr->len || tx_ptr->len || tx_ptr->buf_ptr != rx_ptr->buf_ptr + rx_ptr->buf_len)
		return 0;
	rx_ptr->start = 0;
	tx_ptr->start = 0;
	return rx_ptr->buf_len + tx_ptr->buf_len;
}

void vk_socket_free(struct vk_socket *socket_ptr)
{
	vk_socket_close(socket_ptr);
	vk_proc_local_forget_socket(socket_ptr->proc_local_ptr, socket_ptr);
	vk_proc_local_free(socket_ptr->proc_local_ptr, socket_ptr);
}

void vk_socket_init(struct vk_socket *socket_ptr, struct vk_proc_local *proc_local_ptr, void *rx_buf, size_t rx_len,
		    void *tx_buf, size_t tx_len)
{
	memset(socket_ptr, 0, sizeof(*socket_ptr));
	vk_pipe_init_none(&socket_ptr->rx_pipe);
	vk_pipe_init_none(&socket_ptr->tx_pipe);
	vk_vectoring_init(&socket_ptr->rx, rx_buf, rx_len);
	vk_vectoring_init(&socket_ptr->tx, tx_buf, tx_len);
	socket_ptr->proc_local_ptr = proc_local_ptr;
	vk_proc_local_track_socket(proc_local_ptr, socket_ptr);
}

struct vk_pipe *vk_socket_rx_pipe(struct vk_socket *socket_ptr)
{
	return &socket_ptr->rx_pipe;
}

struct vk_pipe *vk_socket_tx_pipe(struct vk_socket *socket_ptr)
{
	return &socket_ptr->tx_pipe;
}

struct vk_vectoring *vk_socket_rx(struct vk_socket *socket_ptr)
{
	return &socket_ptr->rx;
}

struct vk_vectoring *vk_socket_tx(struct vk_socket *socket_ptr)
{
	return &socket_ptr->tx;
}

void vk_socket_set_fd(struct vk_socket *socket_ptr, int fd)
{
	vk_pipe_init_fd(&socket_ptr->rx_pipe, fd);
	vk_pipe_init_fd(&socket_ptr->tx_pipe, fd);
}

/* What writer_ptr writes, reader_ptr reads. */
void vk_socket_connect_pair(struct vk_socket *writer_ptr, struct vk_socket *reader_ptr)
{
	vk_pipe_init_socket(&writer_ptr->tx_pipe, reader_ptr);
	vk_pipe_init_socket(&reader_ptr->rx_pipe, writer_ptr);
}

int vk_socket_rx_fd(struct vk_socket *socket_ptr)
{
	return vk_pipe_fd(&socket_ptr->rx_pipe);
}

int vk_socket_tx_fd(struct vk_socket *socket_ptr)
{
	return vk_pipe_fd(&socket_ptr->tx_pipe);
}

/* The thread waits to read (VK_EV_IN) and/or write (VK_EV_OUT); through a
 * transform, the fd events each waits for may be the other ones. */
static void block(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, int directions)
{
	int events = 0;

	if (directions & VK_EV_IN) {
		socket_ptr->reader_ptr = thread_ptr;
		events |= vk_pipe_waits_for(&socket_ptr->rx_pipe, VK_EV_IN);
	}
	if (directions & VK_EV_OUT) {
		socket_ptr->writer_ptr = thread_ptr;
		events |= vk_pipe_waits_for(&socket_ptr->tx_pipe, VK_EV_OUT);
	}
	vk_thread_set_block(thread_ptr, socket_ptr, events);
}

void vk_socket_unblock(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr)
{
	if (socket_ptr->reader_ptr == thread_ptr)
		socket_ptr->reader_ptr = NULL;
	if (socket_ptr->writer_ptr == thread_ptr)
		socket_ptr->writer_ptr = NULL;
}

static void wake_reader(struct vk_socket *socket_ptr)
{
	if (socket_ptr->reader_ptr)
		vk_thread_wake(socket_ptr->reader_ptr);
}

static void wake_writer(struct vk_socket *socket_ptr)
{
	if (socket_ptr->writer_ptr)
		vk_thread_wake(socket_ptr->writer_ptr);
}

/* Bytes left our rx ring: an in-process writer feeding us may go on. */
static void consumed(struct vk_socket *socket_ptr)
{
	struct vk_socket *peer_ptr = vk_pipe_socket(&socket_ptr->rx_pipe);

	if (peer_ptr)
		wake_writer(peer_ptr);
}

/* One attempt to bring bytes into rx. MOVED, NOTHING (see rx.eof and
 * rx.blocked), or -errno. */
static int fill(struct vk_socket *socket_ptr)
{
	struct vk_vectoring *rx = &socket_ptr->rx;
	size_t space;
	long rc;

	if (rx->error)
		return -rx->error;
	if (rx->eof || vk_vectoring_is_full(rx))
		return NOTHING;
	switch (socket_ptr->rx_pipe.type) {
	case VK_PIPE_FD:
		if (rx->blocked)
			return NOTHING;
		space = vk_vectoring_space(rx);
		rc = vk_pipe_recv(&socket_ptr->rx_pipe, rx);
		if (rc > 0) {
			/* A short read emptied the socket: the next read would
			 * hit EAGAIN, so skip it. Safe because every driver
			 * reports data arriving after this read, and a pending
			 * hang-up (which an edge may have announced already)
			 * turns the deduction off. */
			if ((size_t)rc < space && !rx->hup_seen && !socket_ptr->rx_pipe.transform_ptr)
				rx->blocked = 1;
			return MOVED;
		}
		if (rc == 0 || errno == EAGAIN)
			return NOTHING;
		return -errno;
	case VK_PIPE_SOCKET:
		/* Bytes arrive only when the peer flushes into us. */
		rx->blocked = 1;
		return NOTHING;
	default:
		rx->eof = 1;
		return NOTHING;
	}
}

/* One attempt to send what tx holds. MOVED, NOTHING (blocked), or -errno. */
static int drain(struct vk_socket *socket_ptr)
{
	struct vk_vectoring *tx = &socket_ptr->tx;
	struct vk_socket *peer_ptr;
	size_t moved;
	long rc;

	if (tx->error)
		return -tx->error;
	if (vk_vectoring_is_empty(tx))
		return MOVED;
	switch (socket_ptr->tx_pipe.type) {
	case VK_PIPE_FD:
		if (tx->blocked)
			return NOTHING;
		rc = vk_pipe_send(&socket_ptr->tx_pipe, tx);
		if (rc > 0) {
			socket_ptr->tx_sent += (uint64_t)rc;
			return MOVED;
		}
		if (rc == 0 || errno == EAGAIN)
			return NOTHING;
		return -errno;
	case VK_PIPE_SOCKET:
		peer_ptr = socket_ptr->tx_pipe.socket_ptr;
		if (peer_ptr->closed || peer_ptr->rx.eof) {
			tx->error = EPIPE;
			return -EPIPE;
		}
		moved = vk_vectoring_move(&peer_ptr->rx, tx, SIZE_MAX);
		socket_ptr->tx_sent += moved;
		if (moved)
			wake_reader(peer_ptr);
		tx->blocked = !vk_vectoring_is_empty(tx);
		return moved ? MOVED : NOTHING;
	default:
		tx->error = EPIPE;
		return -EPIPE;
	}
}

/* About to wait for input: send what is queued first, so a peer waiting
 * for our answer is not kept waiting, and answers to pipelined requests go
 * out together. Returns the events to wait for, or -errno. */
static int wait_for_input(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr)
{
	int rc;

	if (!vk_vectoring_is_empty(&socket_ptr->tx) && socket_ptr->tx_pipe.type != VK_PIPE_NONE) {
		rc = drain(socket_ptr);
		if (rc < 0)
			return rc;
	}
	block(socket_ptr, thread_ptr, VK_EV_IN | (vk_vectoring_is_empty(&socket_ptr->tx) ? 0 : VK_EV_OUT));
	return VK_OP_BLOCK;
}

/* A loop that needs more input brings it in: GO_ON (some came, or the
 * peer's end), VK_OP_BLOCK (the thread waits for it), or -errno. */
#define GO_ON 2
static int fill_or_wait(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr)
{
	int rc = fill(socket_ptr);

	if (rc < 0)
		return rc;
	if (rc == NOTHING && !socket_ptr->rx.eof)
		return wait_for_input(socket_ptr, thread_ptr);
	return GO_ON;
}

/* A read; when it must wait, flush_ptr's queued output (if any) goes out
 * first, so a relay forwards what it has before it waits for more. */
static int read_op(struct vk_socket *socket_ptr, struct vk_socket *flush_ptr, struct vk_thread *thread_ptr, char *buf,
		   size_t len, size_t *done_ptr, enum vk_read_mode mode)
{
	struct vk_vectoring *rx = &socket_ptr->rx;

	for (;;) {
		size_t want = len - *done_ptr;
		size_t got;
		int rc;

		if (mode == VK_READ_LINE) {
			ssize_t newline = vk_vectoring_find(rx, '\n', want);

			if (newline >= 0) {
				*done_ptr += vk_vectoring_read(rx, buf + *done_ptr, (size_t)newline + 1);
				consumed(socket_ptr);
				return VK_OP_DONE;
			}
			got = vk_vectoring_read(rx, buf + *done_ptr, want);
			*done_ptr += got;
			if (got)
				consumed(socket_ptr);
			if (*done_ptr == len)
				return -ENOBUFS;
		} else {
			got = vk_vectoring_read(rx, buf + *done_ptr, want);
			*done_ptr += got;
			if (got)
				consumed(socket_ptr);
			if (*done_ptr == len || (mode == VK_READ_SOME && *done_ptr > 0))
				return VK_OP_DONE;
		}
		if (rx->eof)
			return VK_OP_DONE;
		rc = fill(socket_ptr);
		if (rc < 0)
			return rc;
		if (rc == NOTHING && !rx->eof) {
			if (flush_ptr && (rc = vk_socket_flush_op(flush_ptr, thread_ptr)) != VK_OP_DONE)
				return rc;
			return wait_for_input(socket_ptr, thread_ptr);
		}
	}
}

int vk_socket_read_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, char *buf, size_t len,
		      size_t *done_ptr, enum vk_read_mode mode)
{
	return read_op(socket_ptr, NULL, thread_ptr, buf, len, done_ptr, mode);
}

/* Until rx holds more than `held` bytes, or the peer's end, or a full
 * ring: for a reader that parses in the ring (vk_socket_rx_view) and takes
 * only what it parsed (vk_socket_rx_drop). */
int vk_socket_wait_more_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, size_t held)
{
	struct vk_vectoring *rx = &socket_ptr->rx;

	for (;;) {
		int rc;

		if (vk_vectoring_len(rx) > held || rx->eof || vk_vectoring_is_full(rx))
			return VK_OP_DONE;
		rc = fill_or_wait(socket_ptr, thread_ptr);
		if (rc != GO_ON)
			return rc;
	}
}

const char *vk_socket_rx_view(struct vk_socket *socket_ptr, size_t *len_ptr)
{
	struct iovec iov[2];

	if (vk_vectoring_data_iov(&socket_ptr->rx, iov) == 0) {
		*len_ptr = 0;
		return NULL;
	}
	*len_ptr = iov[0].iov_len;
	return iov[0].iov_base;
}

void vk_socket_rx_drop(struct vk_socket *socket_ptr, size_t n)
{
	if (n > vk_vectoring_len(&socket_ptr->rx))
		n = vk_vectoring_len(&socket_ptr->rx);
	vk_vectoring_consumed(&socket_ptr->rx, n);
	if (n)
		consumed(socket_ptr);
}

int vk_socket_read_relay_op(struct vk_socket *src_ptr, struct vk_socket *dst_ptr, struct vk_thread *thread_ptr,
			    char *buf, size_t len, size_t *done_ptr)
{
	return read_op(src_ptr, dst_ptr, thread_ptr, buf, len, done_ptr, VK_READ_SOME);
}

int vk_socket_write_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, const char *buf, size_t len,
		       size_t *done_ptr)
{
	for (;;) {
		int rc;

		*done_ptr += vk_vectoring_write(&socket_ptr->tx, buf + *done_ptr, len - *done_ptr);
		if (*done_ptr == len)
			return VK_OP_DONE;
		rc = drain(socket_ptr);
		if (rc < 0)
			return rc;
		if (rc == NOTHING) {
			block(socket_ptr, thread_ptr, VK_EV_OUT);
			return VK_OP_BLOCK;
		}
	}
}

int vk_socket_flush_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr)
{
	while (!vk_vectoring_is_empty(&socket_ptr->tx)) {
		int rc = drain(socket_ptr);

		if (rc < 0)
			return rc;
		if (rc == NOTHING) {
			block(socket_ptr, thread_ptr, VK_EV_OUT);
			return VK_OP_BLOCK;
		}
	}
	return VK_OP_DONE;
}

/* Discard input until the peer hangs up; *done_ptr counts what was dropped. */
int vk_socket_readhup_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, size_t *done_ptr)
{
	struct vk_vectoring *rx = &socket_ptr->rx;

	for (;;) {
		size_t held = vk_vectoring_len(rx);
		int rc;

		if (held) {
			vk_vectoring_consumed(rx, held);
			*done_ptr += held;
			consumed(socket_ptr);
		}
		if (rx->eof)
			return VK_OP_DONE;
		rc = fill_or_wait(socket_ptr, thread_ptr);
		if (rc != GO_ON)
			return rc;
	}
}

/* dst's fd may take src's bytes straight from src's ring (send_direct):
 * not known blocked or failed, and, through a transform (TLS), which sends
 * from one ring, only when nothing is queued. */
static int may_send_direct(const struct vk_socket *dst_ptr)
{
	return dst_ptr->tx_pipe.type == VK_PIPE_FD && !dst_ptr->tx.blocked && !dst_ptr->tx.error &&
	       (dst_ptr->tx.len == 0 || !dst_ptr->tx_pipe.transform_ptr);
}

/* Sends what dst has queued (a head written just before, say) and then up
 * to `max` bytes of src's rx ring straight to dst's fd, in one writev: the
 * spliced bytes are copied only by the kernel. Through a transform (TLS),
 * which sends from one ring, only when nothing is queued. Returns the
 * bytes of src sent (0 when only queued bytes went), -EAGAIN when nothing
 * went, or -errno. */
static long send_direct(struct vk_socket *src_ptr, struct vk_socket *dst_ptr, size_t max)
{
	size_t src_before = vk_vectoring_len(&src_ptr->rx);
	long rc;

	if (dst_ptr->tx_pipe.transform_ptr) {
		/* A truncated view of src's data, so the send stops at `max`. */
		struct vk_vectoring view = src_ptr->rx;

		if (view.len > max)
			view.len = max;
		view.blocked = dst_ptr->tx.blocked;
		view.error = 0;
		rc = vk_pipe_send(&dst_ptr->tx_pipe, &view);
		if (rc > 0) {
			vk_vectoring_consumed(&src_ptr->rx, (size_t)rc);
			dst_ptr->tx.blocked = view.blocked;
		} else if (rc < 0 && errno != EAGAIN) {
			dst_ptr->tx.error = errno;
		}
	} else {
		rc = vk_vectoring_send_two_fd(&dst_ptr->tx, &src_ptr->rx, max, vk_pipe_fd(&dst_ptr->tx_pipe));
	}
	if (rc > 0) {
		dst_ptr->tx_sent += (uint64_t)rc;
		if (vk_vectoring_len(&src_ptr->rx) != src_before)
			consumed(src_ptr);
		return (long)(src_before - vk_vectoring_len(&src_ptr->rx));
	}
	if (rc == 0 || errno == EAGAIN) {
		dst_ptr->tx.blocked = 1;
		return -EAGAIN;
	}
	return -errno;
}

int vk_socket_splice_op(struct vk_socket *src_ptr, struct vk_socket *dst_ptr, struct vk_thread *thread_ptr, size_t len,
			size_t *done_ptr)
{
	for (;;) {
		size_t want = len - *done_ptr;
		int rc;

		if (want == 0)
			return VK_OP_DONE;
		if (!vk_vectoring_is_empty(&src_ptr->rx)) {
			long moved;

			if (may_send_direct(dst_ptr)) {
				moved = send_direct(src_ptr, dst_ptr, want);
				if (moved == -EAGAIN) {
					block(dst_ptr, thread_ptr, VK_EV_OUT);
					return VK_OP_BLOCK;
				}
				if (moved < 0)
					return (int)moved;
				*done_ptr += (size_t)moved;
				continue;
			}
			moved = (long)vk_vectoring_move(&dst_ptr->tx, &src_ptr->rx, want);
			if (moved)
				consumed(src_ptr);
			*done_ptr += (size_t)moved;
			if (moved)
				continue;
			rc = drain(dst_ptr);
			if (rc < 0)
				return rc;
			if (rc == NOTHING) {
				block(dst_ptr, thread_ptr, VK_EV_OUT);
				return VK_OP_BLOCK;
			}
			continue;
		}
		if (src_ptr->rx.eof)
			return VK_OP_DONE;
		rc = fill(src_ptr);
		if (rc < 0)
			return rc;
		if (rc == MOVED || src_ptr->rx.eof)
			continue;
		/* Waiting for input: first push out what is queued, so the far
		 * side is not kept waiting on bytes we already have. */
		rc = vk_socket_flush_op(dst_ptr, thread_ptr);
		if (rc != VK_OP_DONE)
			return rc;
		block(src_ptr, thread_ptr, VK_EV_IN);
		return VK_OP_BLOCK;
	}
}

long vk_socket_splice_now(struct vk_socket *src_ptr, struct vk_socket *dst_ptr, size_t len)
{
	long moved;

	if (!may_send_direct(dst_ptr))
		return 0;
	if (len > vk_vectoring_len(&src_ptr->rx))
		len = vk_vectoring_len(&src_ptr->rx);
	moved = send_direct(src_ptr, dst_ptr, len);
	return moved == -EAGAIN ? 0 : moved;
}

/* Wait until rx holds at least one byte or EOF, without consuming. */
int vk_socket_wait_readable_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr)
{
	for (;;) {
		int rc;

		if (!vk_vectoring_is_empty(&socket_ptr->rx) || socket_ptr->rx.eof)
			return VK_OP_DONE;
		rc = fill(socket_ptr);
		if (rc < 0)
			return rc;
		if (rc == NOTHING && !socket_ptr->rx.eof)
			return wait_for_input(socket_ptr, thread_ptr);
	}
}

/* A look at what the fd has received, reading nothing: for a header a
 * protocol above takes before any rx transform reads the fd (the PROXY
 * protocol's, before TLS). Peeks at most cap bytes into buf: done when
 * some are there (*len_ptr their count) or the peer ended (rx.eof, and
 * *len_ptr 0); else the thread waits for input. The caller reads what it
 * peeked before it peeks again (the bytes it is sure are its header):
 * bytes left unread would wake a level-triggered driver at once, again
 * and again. */
int vk_socket_peek_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, char *buf, size_t cap,
		      size_t *len_ptr)
{
	ssize_t n;

	if (socket_ptr->rx.error)
		return -socket_ptr->rx.error;
	n = recv(vk_pipe_fd(&socket_ptr->rx_pipe), buf, cap, MSG_PEEK | MSG_DONTWAIT);
	*len_ptr = n > 0 ? (size_t)n : 0;
	if (n > 0)
		return VK_OP_DONE;
	if (n == 0 && cap > 0) {
		socket_ptr->rx.eof = 1;
		return VK_OP_DONE;
	}
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return -errno;
	socket_ptr->rx.blocked = 1;
	block(socket_ptr, thread_ptr, VK_EV_IN);
	return VK_OP_BLOCK;
}

/* Until the rx transform's handshake is done: each step that would block
 * waits for the fd events it names, and runs again only after one. */
int vk_socket_handshake_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr)
{
	int rc;

	if (socket_ptr->rx.error)
		return -socket_ptr->rx.error;
	rc = vk_pipe_handshake(&socket_ptr->rx_pipe);
	if (rc <= 0)
		return rc;
	socket_ptr->rx.blocked = 1;
	block(socket_ptr, thread_ptr, VK_EV_IN);
	return VK_OP_BLOCK;
}

/* A non-blocking TCP connect on a fresh socket: the fd is created, handed
 * to the kernel (so it is closed with the process), and set on both pipes.
 * *done_ptr tracks the stage across blocks: 0 not started, 1 in progress. */
int vk_socket_connect_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, const void *addr,
			 unsigned addr_len, size_t *done_ptr)
{
	const struct sockaddr *sa = addr;
	socklen_t len = sizeof(int);
	int fd, err = 0;

	if (*done_ptr == 0) {
		/* An fd the caller attached (vk_socket_attach_fd) is connected
		 * as it is; otherwise a fresh one is made. */
		fd = vk_pipe_fd(&socket_ptr->tx_pipe);
		if (fd < 0 || socket_ptr->closed) {
			fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd == -1)
				return -errno;
			if (vk_sys_adopt(fd) == -1) {
				err = errno;
				close(fd);
				return -err;
			}
			vk_socket_attach_fd(socket_ptr, fd);
		}
		*done_ptr = 1;
		if (connect(fd, sa, (socklen_t)addr_len) == 0)
			return VK_OP_DONE;
		if (errno != EINPROGRESS)
			return -errno;
		/* Writable when the handshake ends, one way or the other. */
		socket_ptr->tx.blocked = 1;
		block(socket_ptr, thread_ptr, VK_EV_OUT);
		return VK_OP_BLOCK;
	}
	fd = vk_pipe_fd(&socket_ptr->tx_pipe);
	if (socket_ptr->tx.blocked) {
		block(socket_ptr, thread_ptr, VK_EV_OUT);
		return VK_OP_BLOCK;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -errno;
	return err ? -err : VK_OP_DONE;
}

/* The socket takes fd (already the process's) as a fresh connection:
 * nothing of an earlier one remains, and nothing is assumed blocked. */
void vk_socket_attach_fd(struct vk_socket *socket_ptr, int fd)
{
	vk_socket_set_fd(socket_ptr, fd);
	socket_ptr->closed = 0;
	socket_ptr->reader_ptr = NULL;
	socket_ptr->writer_ptr = NULL;
	vk_vectoring_init(&socket_ptr->rx, socket_ptr->rx.buf_ptr, socket_ptr->rx.buf_len);
	vk_vectoring_init(&socket_ptr->tx, socket_ptr->tx.buf_ptr, socket_ptr->tx.buf_len);
}

void vk_socket_assume_drained(struct vk_socket *socket_ptr)
{
	socket_ptr->rx.blocked = 1;
}

int vk_socket_fd_quiet(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Lets go of the fd without closing it (to hand it over, vk_sys_hold), or
 * returns -1 when it cannot go as it is: bytes unread or unsent, or an
 * end already seen. The socket is then closed to its user. */
int vk_socket_detach_fd(struct vk_socket *socket_ptr)
{
	int fd = vk_pipe_fd(&socket_ptr->tx_pipe);

	if (fd < 0 || socket_ptr->closed || fd != vk_pipe_fd(&socket_ptr->rx_pipe) ||
	    !vk_vectoring_is_empty(&socket_ptr->rx) || !vk_vectoring_is_empty(&socket_ptr->tx) || socket_ptr->rx.eof ||
	    socket_ptr->rx.hup_seen || socket_ptr->tx.error)
		return -1;
	/* Unless the last read showed the socket drained, the peer may have
	 * sent more since: a look, without taking anything, settles it. */
	if (!socket_ptr->rx.blocked && !vk_socket_fd_quiet(fd))
		return -1;
	vk_pipe_init_none(&socket_ptr->rx_pipe);
	vk_pipe_init_none(&socket_ptr->tx_pipe);
	socket_ptr->closed = 1;
	socket_ptr->rx.eof = 1;
	socket_ptr->tx.error = EPIPE;
	return fd;
}

/* Give back bytes a reader took but does not own (the start of the next
 * message, read together with this one's end). */
size_t vk_socket_unread(struct vk_socket *socket_ptr, const void *buf, size_t len)
{
	return vk_vectoring_unread(&socket_ptr->rx, buf, len);
}

/* Nothing more will be read: the peer hung up and rx is drained. */
int vk_socket_eof(struct vk_socket *socket_ptr)
{
	return socket_ptr->rx.eof && vk_vectoring_is_empty(&socket_ptr->rx);
}

int vk_socket_hup(struct vk_socket *socket_ptr)
{
	return socket_ptr->rx.eof;
}

size_t vk_socket_rx_held(struct vk_socket *socket_ptr)
{
	return vk_vectoring_len(&socket_ptr->rx);
}

void vk_socket_abort(struct vk_socket *socket_ptr)
{
	int fd = vk_pipe_fd(&socket_ptr->rx_pipe);

	if (fd < 0)
		fd = vk_pipe_fd(&socket_ptr->tx_pipe);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	/* Nothing waits for the poller now: the next try of either side's
	 * operation meets the end at once. */
	socket_ptr->rx.blocked = 0;
	socket_ptr->tx.blocked = 0;
	wake_reader(socket_ptr);
	wake_writer(socket_ptr);
}

void vk_socket_shutdown_tx(struct vk_socket *socket_ptr)
{
	struct vk_socket *peer_ptr;

	switch (socket_ptr->tx_pipe.type) {
	case VK_PIPE_FD:
		shutdown(socket_ptr->tx_pipe.fd, SHUT_WR);
		break;
	case VK_PIPE_SOCKET:
		peer_ptr = socket_ptr->tx_pipe.socket_ptr;
		peer_ptr->rx.eof = 1;
		wake_reader(peer_ptr);
		break;
	default:
		break;
	}
}

/* Closes both ends. Fds go back through the kernel so it can forget them
 * before the number is reused. In-process peers see EOF (or EPIPE). */
void vk_socket_close(struct vk_socket *socket_ptr)
{
	int rx_fd = vk_pipe_fd(&socket_ptr->rx_pipe);
	int tx_fd = vk_pipe_fd(&socket_ptr->tx_pipe);
	struct vk_socket *peer_ptr;

	if (socket_ptr->closed)
		return;
	socket_ptr->closed = 1;
	if (rx_fd >= 0)
		vk_sys_close(rx_fd);
	if (tx_fd >= 0 && tx_fd != rx_fd)
		vk_sys_close(tx_fd);
	peer_ptr = vk_pipe_socket(&socket_ptr->tx_pipe);
	if (peer_ptr) {
		peer_ptr->rx.eof = 1;
		wake_reader(peer_ptr);
	}
	peer_ptr = vk_pipe_socket(&socket_ptr->rx_pipe);
	if (peer_ptr)
		wake_writer(peer_ptr);
	vk_pipe_init_none(&socket_ptr->rx_pipe);
	vk_pipe_init_none(&socket_ptr->tx_pipe);
	socket_ptr->rx.eof = 1;
	if (!socket_ptr->tx.error)
		socket_ptr->tx.error = EPIPE;
	/* Another thread blocked on this socket would wait for an fd that is
	 * gone: it runs, and finds EOF or EPIPE. */
	wake_reader(socket_ptr);
	wake_writer(socket_ptr);
}

uint64_t vk_socket_tx_mark(struct vk_socket *socket_ptr)
{
	return socket_ptr->tx_sent + vk_vectoring_len(&socket_ptr->tx);
}

int vk_socket_tx_drop_from(struct vk_socket *socket_ptr, uint64_t mark)
{
	if (socket_ptr->tx_sent > mark)
		return -1;
	if (mark >= vk_socket_tx_mark(socket_ptr))
		return 0; /* nothing written since */
	/* The ring holds the oldest byte first: keeping its head keeps what
	 * was written before the mark. */
	socket_ptr->tx.len = (size_t)(mark - socket_ptr->tx_sent);
	return 0;
}

int vk_socket_is_closed(struct vk_socket *socket_ptr)
{
	return socket_ptr->closed;
}

/* The kernel saw `events` on `fd`: a direction that was deduced blocked may
 * be tried again, and the thread waiting on it runs. */
void vk_socket_fd_event(struct vk_socket *socket_ptr, int fd, int events)
{
	int ends = VK_EV_HUP | VK_EV_ERR;

	if (vk_pipe_fd(&socket_ptr->rx_pipe) == fd &&
	    (events & (vk_pipe_waits_for(&socket_ptr->rx_pipe, VK_EV_IN) | ends))) {
		socket_ptr->rx.blocked = 0;
		if (events & ends)
			socket_ptr->rx.hup_seen = 1;
		wake_reader(socket_ptr);
	}
	if (vk_pipe_fd(&socket_ptr->tx_pipe) == fd &&
	    (events & (vk_pipe_waits_for(&socket_ptr->tx_pipe, VK_EV_OUT) | ends))) {
		socket_ptr->tx.blocked = 0;
		wake_writer(socket_ptr);
	}
}
