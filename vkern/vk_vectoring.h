#ifndef VK_VECTORING_H
#define VK_VECTORING_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct vk_vectoring;

void vk_vectoring_init(struct vk_vectoring *ring_ptr, void *buf_ptr, size_t buf_len);
size_t vk_vectoring_len(struct vk_vectoring *ring_ptr);
size_t vk_vectoring_space(struct vk_vectoring *ring_ptr);
size_t vk_vectoring_capacity(struct vk_vectoring *ring_ptr);
int vk_vectoring_is_empty(struct vk_vectoring *ring_ptr);
int vk_vectoring_is_full(struct vk_vectoring *ring_ptr);

/* Segments of held data (tx) and of free space (rx); each returns 0..2. */
int vk_vectoring_data_iov(struct vk_vectoring *ring_ptr, struct iovec iov[2]);
int vk_vectoring_space_iov(struct vk_vectoring *ring_ptr, struct iovec iov[2]);
void vk_vectoring_produced(struct vk_vectoring *ring_ptr, size_t n);
void vk_vectoring_consumed(struct vk_vectoring *ring_ptr, size_t n);

size_t vk_vectoring_read(struct vk_vectoring *ring_ptr, void *buf, size_t n);
size_t vk_vectoring_peek(struct vk_vectoring *ring_ptr, void *buf, size_t n);
size_t vk_vectoring_write(struct vk_vectoring *ring_ptr, const void *buf, size_t n);
/* Put n bytes back in front of the held data (as if never read); returns
 * what fitted. */
size_t vk_vectoring_unread(struct vk_vectoring *ring_ptr, const void *buf, size_t n);
ssize_t vk_vectoring_find(struct vk_vectoring *ring_ptr, int c, size_t limit);
int vk_vectoring_byte_at(struct vk_vectoring *ring_ptr, size_t offset);
size_t vk_vectoring_move(struct vk_vectoring *dst_ptr, struct vk_vectoring *src_ptr, size_t n);

/* One syscall each: fill free space from fd, or drain held data to fd.
 * Return bytes moved, 0 at EOF (recv), or -1 with errno (EAGAIN sets
 * blocked). A socket is read and written with recv/send (one segment) or
 * recvmsg/sendmsg (two), with MSG_NOSIGNAL; any other fd with
 * readv/writev. */
ssize_t vk_vectoring_recv_fd(struct vk_vectoring *ring_ptr, int fd);
ssize_t vk_vectoring_send_fd(struct vk_vectoring *ring_ptr, int fd);

/* One write of first's held data, then up to second_max of second's:
 * what went is consumed from first, then from second. first's blocked and
 * error flags tell the outcome, as for vk_vectoring_send_fd. */
ssize_t vk_vectoring_send_two_fd(struct vk_vectoring *first_ptr, struct vk_vectoring *second_ptr, size_t second_max,
				 int fd);

int vk_vectoring_eof(struct vk_vectoring *ring_ptr);
/* The poller reported that the far side hung up: a short read no longer
 * proves the socket empty (the hang-up's edge may be spent already). */
int vk_vectoring_hup_seen(const struct vk_vectoring *ring_ptr);
void vk_vectoring_set_eof(struct vk_vectoring *ring_ptr);
int vk_vectoring_blocked(struct vk_vectoring *ring_ptr);
void vk_vectoring_set_blocked(struct vk_vectoring *ring_ptr, int blocked);
int vk_vectoring_error(struct vk_vectoring *ring_ptr);
void vk_vectoring_set_error(struct vk_vectoring *ring_ptr, int error);

#endif
