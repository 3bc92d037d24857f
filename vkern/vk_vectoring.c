/* vk_vectoring: the ring buffer behind every socket direction. Data and free
 * space are each described by up to two iovecs so the whole ring moves in
 * one system call (fd_read, fd_write). */
#include "vk_vectoring.h"
#include "vk_vectoring_s.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void vk_vectoring_init(struct vk_vectoring *ring_ptr, void *buf_ptr, size_t buf_len)
{
	memset(ring_ptr, 0, sizeof(*ring_ptr));
	ring_ptr->buf_ptr = buf_ptr;
	ring_ptr->buf_len = buf_len;
}

size_t vk_vectoring_len(struct vk_vectoring *ring_ptr)
{
	return ring_ptr->len;
}

size_t vk_vectoring_space(struct vk_vectoring *ring_ptr)
{
	return ring_ptr->buf_len - ring_ptr->len;
}

size_t vk_vectoring_capacity(struct vk_vectoring *ring_ptr)
{
	return ring_ptr->buf_len;
}

int vk_vectoring_is_empty(struct vk_vectoring *ring_ptr)
{
	return ring_ptr->len == 0;
}

int vk_vectoring_hup_seen(const struct vk_vectoring *ring_ptr)
{
	return ring_ptr->hup_seen;
}

int vk_vectoring_is_full(struct vk_vectoring *ring_ptr)
{
	return ring_ptr->len == ring_ptr->buf_len;
}

/* An offset past the end of the buffer, brought back into it. Every offset
 * the ring computes (start plus at most buf_len) is below 2 * buf_len, so
 * one subtraction does what a division would. */
static size_t wrap(const struct vk_vectoring *ring_ptr, size_t off)
{
	return off >= ring_ptr->buf_len ? off - ring_ptr->buf_len : off;
}

/* Up to two segments starting at offset `from` spanning `n` bytes, wrapping. */
static int segments(struct vk_vectoring *ring_ptr, size_t from, size_t n, struct iovec iov[2])
{
	size_t first;

	if (n == 0)
		return 0;
	from = wrap(ring_ptr, from);
	first = ring_ptr->buf_len - from;
	if (first > n)
		first = n;
	iov[0].iov_base = ring_ptr->buf_ptr + from;
	iov[0].iov_len = first;
	if (first == n)
		return 1;
	iov[1].iov_base = ring_ptr->buf_ptr;
	iov[1].iov_len = n - first;
	return 2;
}

int vk_vectoring_data_iov(struct vk_vectoring *ring_ptr, struct iovec iov[2])
{
	return segments(ring_ptr, ring_ptr->start, ring_ptr->len, iov);
}

int vk_vectoring_space_iov(struct vk_vectoring *ring_ptr, struct iovec iov[2])
{
	return segments(ring_ptr, ring_ptr->start + ring_ptr->len, vk_vectoring_space(ring_ptr), iov);
}

void vk_vectoring_produced(struct vk_vectoring *ring_ptr, size_t n)
{
	ring_ptr->len += n;
}

void vk_vectoring_consumed(struct vk_vectoring *ring_ptr, size_t n)
{
	if (n == 0)
		return;
	ring_ptr->start = wrap(ring_ptr, ring_ptr->start + n);
	ring_ptr->len -= n;
	/* An empty ring restarts at 0, so small messages stay in one segment. */
	if (ring_ptr->len == 0)
		ring_ptr->start = 0;
}

static void copy_out(struct vk_vectoring *ring_ptr, void *buf, size_t n)
{
	struct iovec iov[2];
	int count = segments(ring_ptr, ring_ptr->start, n, iov);
	char *out = buf;

	for (int i = 0; i < count; i++) {
		memcpy(out, iov[i].iov_base, iov[i].iov_len);
		out += iov[i].iov_len;
	}
}

size_t vk_vectoring_peek(struct vk_vectoring *ring_ptr, void *buf, size_t n)
{
	if (n > ring_ptr->len)
		n = ring_ptr->len;
	copy_out(ring_ptr, buf, n);
	return n;
}

size_t vk_vectoring_read(struct vk_vectoring *ring_ptr, void *buf, size_t n)
{
	n = vk_vectoring_peek(ring_ptr, buf, n);
	vk_vectoring_consumed(ring_ptr, n);
	return n;
}

size_t vk_vectoring_write(struct vk_vectoring *ring_ptr, const void *buf, size_t n)
{
	struct iovec iov[2];
	const char *in = buf;
	size_t end = ring_ptr->start + ring_ptr->len;
	int count;

	/* The common case, a small write that fits before the buffer's end:
	 * the head writers make a dozen of these per message. */
	if (end + n <= ring_ptr->buf_len) {
		memcpy(ring_ptr->buf_ptr + end, buf, n);
		ring_ptr->len += n;
		return n;
	}
	if (n > vk_vectoring_space(ring_ptr))
		n = vk_vectoring_space(ring_ptr);
	count = segments(ring_ptr, ring_ptr->start + ring_ptr->len, n, iov);
	for (int i = 0; i < count; i++) {
		memcpy(iov[i].iov_base, in, iov[i].iov_len);
		in += iov[i].iov_len;
	}
	ring_ptr->len += n;
	return n;
}

size_t vk_vectoring_unread(struct vk_vectoring *ring_ptr, const void *buf, size_t n)
{
	struct iovec iov[2];
	const char *in = buf;
	int count;

	if (n > vk_vectoring_space(ring_ptr))
		n = vk_vectoring_space(ring_ptr);
	if (n == 0)
		return 0;
	ring_ptr->start = wrap(ring_ptr, ring_ptr->start + ring_ptr->buf_len - n);
	ring_ptr->len += n;
	count = segments(ring_ptr, ring_ptr->start, n, iov);
	for (int i = 0; i < count; i++) {
		memcpy(iov[i].iov_base, in, iov[i].iov_len);
		in += iov[i].iov_len;
	}
	return n;
}

/* Offset of the first `c` within the first `limit` bytes held, or -1. */
ssize_t vk_vectoring_find(struct vk_vectoring *ring_ptr, int c, size_t limit)
{
	struct iovec iov[2];
	size_t seen = 0;
	int count;

	if (limit > ring_ptr->len)
		limit = ring_ptr->len;
	count = segments(ring_ptr, ring_ptr->start, limit, iov);
	for (int i = 0; i < count; i++) {
		char *hit = memchr(iov[i].iov_base, c, iov[i].iov_len);

		if (hit)
			return (ssize_t)(seen + (size_t)(hit - (char *)iov[i].iov_base));
		seen += iov[i].iov_len;
	}
	return -1;
}

int vk_vectoring_byte_at(struct vk_vectoring *ring_ptr, size_t offset)
{
	if (offset >= ring_ptr->len)
		return -1;
	return (unsigned char)ring_ptr->buf_ptr[wrap(ring_ptr, ring_ptr->start + offset)];
}

/* Ring to ring, no intermediate buffer: at most min(n, held, free) bytes. */
size_t vk_vectoring_move(struct vk_vectoring *dst_ptr, struct vk_vectoring *src_ptr, size_t n)
{
	struct iovec iov[2];
	size_t moved = 0;
	int count;

	if (n > src_ptr->len)
		n = src_ptr->len;
	if (n > vk_vectoring_space(dst_ptr))
		n = vk_vectoring_space(dst_ptr);
	count = segments(src_ptr, src_ptr->start, n, iov);
	for (int i = 0; i < count; i++)
		moved += vk_vectoring_write(dst_ptr, iov[i].iov_base, iov[i].iov_len);
	vk_vectoring_consumed(src_ptr, moved);
	return moved;
}

/* After a failed call: 1 when it is to be made again, after a signal, or
 * as readv()/writev() once the fd has turned out to be no socket. */
static int call_again(struct vk_vectoring *ring_ptr)
{
	if (errno == ENOTSOCK && !ring_ptr->not_socket) {
		ring_ptr->not_socket = 1;
		return 1;
	}
	return errno == EINTR;
}

/* Sockets are read with recv() or recvmsg(), which go to the socket
 * without the file layer's position lock and checks, and take one segment
 * without copying an iovec in. A ring learns the first time that its fd
 * is no socket (a pipe, a terminal) and uses readv() from then on. */
static ssize_t fd_read(struct vk_vectoring *ring_ptr, int fd, struct iovec *iov, int count)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)count};
	ssize_t rc;

	do {
		if (ring_ptr->not_socket)
			rc = readv(fd, iov, count);
		else if (count == 1)
			rc = recv(fd, iov[0].iov_base, iov[0].iov_len, 0);
		else
			rc = recvmsg(fd, &msg, 0);
	} while (rc == -1 && call_again(ring_ptr));
	return rc;
}

/* The same for output; MSG_NOSIGNAL, so a peer that has gone away is an
 * EPIPE for this ring, never a SIGPIPE for the process. */
static ssize_t fd_write(struct vk_vectoring *ring_ptr, int fd, const struct iovec *iov, int count)
{
	struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)count};
	ssize_t rc;

	do {
		if (ring_ptr->not_socket)
			rc = writev(fd, iov, count);
		else if (count == 1)
			rc = send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
		else
			rc = sendmsg(fd, &msg, MSG_NOSIGNAL);
	} while (rc == -1 && call_again(ring_ptr));
	return rc;
}

ssize_t vk_vectoring_recv_fd(struct vk_vectoring *ring_ptr, int fd)
{
	struct iovec iov[2];
	int count = vk_vectoring_space_iov(ring_ptr, iov);
	ssize_t rc;

	if (count == 0)
		return 0;
	rc = fd_read(ring_ptr, fd, iov, count);
	if (rc > 0) {
		ring_ptr->len += (size_t)rc;
		ring_ptr->blocked = 0;
	} else if (rc == 0) {
		ring_ptr->eof = 1;
	} else if (errno == EAGAIN) {
		ring_ptr->blocked = 1;
	} else {
		ring_ptr->error = errno;
	}
	return rc;
}

/* One write of iov to fd; a failure is recorded on the ring whose output
 * it is: blocked on EAGAIN, its error otherwise. */
static ssize_t write_for(struct vk_vectoring *ring_ptr, int fd, const struct iovec *iov, int count)
{
	ssize_t rc;

	rc = fd_write(ring_ptr, fd, iov, count);
	if (rc == -1) {
		if (errno == EAGAIN)
			ring_ptr->blocked = 1;
		else
			ring_ptr->error = errno;
	}
	return rc;
}

ssize_t vk_vectoring_send_fd(struct vk_vectoring *ring_ptr, int fd)
{
	struct iovec iov[2];
	int count = vk_vectoring_data_iov(ring_ptr, iov);
	ssize_t rc;

	if (count == 0)
		return 0;
	rc = write_for(ring_ptr, fd, iov, count);
	if (rc >= 0) {
		vk_vectoring_consumed(ring_ptr, (size_t)rc);
		ring_ptr->blocked = ring_ptr->len > 0;
	}
	return rc;
}

ssize_t vk_vectoring_send_two_fd(struct vk_vectoring *first_ptr, struct vk_vectoring *second_ptr, size_t second_max,
				 int fd)
{
	struct iovec iov[4];
	int count = vk_vectoring_data_iov(first_ptr, iov);
	size_t first_len = first_ptr->len, second_len = second_ptr->len < second_max ? second_ptr->len : second_max;
	ssize_t rc;

	count += segments(second_ptr, second_ptr->start, second_len, iov + count);
	if (count == 0)
		return 0;
	rc = write_for(first_ptr, fd, iov, count);
	if (rc >= 0) {
		size_t from_first = (size_t)rc < first_len ? (size_t)rc : first_len;

		vk_vectoring_consumed(first_ptr, from_first);
		vk_vectoring_consumed(second_ptr, (size_t)rc - from_first);
		first_ptr->blocked = (size_t)rc < first_len + second_len;
	}
	return rc;
}

int vk_vectoring_eof(struct vk_vectoring *ring_ptr)
{
	return ring_ptr->eof;
}

void vk_vectoring_set_eof(struct vk_vectoring *ring_ptr)
{
	ring_ptr->eof = 1;
}

int vk_vectoring_blocked(struct vk_vectoring *ring_ptr)
{
	return ring_ptr->blocked;
}

void vk_vectoring_set_blocked(struct vk_vectoring *ring_ptr, int blocked)
{
	ring_ptr->blocked = blocked != 0;
}

int vk_vectoring_error(struct vk_vectoring *ring_ptr)
{
	return ring_ptr->error;
}

void vk_vectoring_set_error(struct vk_vectoring *ring_ptr, int error)
{
	ring_ptr->error = error;
}
