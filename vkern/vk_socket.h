#ifndef VK_SOCKET_H
#define VK_SOCKET_H

#include <stddef.h>
#include <stdint.h>

struct vk_socket;
struct vk_thread;
struct vk_proc_local;
struct vk_pipe;
struct vk_vectoring;

/* Results of the non-blocking operations behind the blocking macros:
 * VK_OP_DONE, VK_OP_BLOCK (the thread's block is set), or -errno. */
#define VK_OP_DONE 0
#define VK_OP_BLOCK 1

/* Events a blocked thread waits for on its socket's fds. */
#define VK_EV_IN 1
#define VK_EV_OUT 2
#define VK_EV_HUP 4
#define VK_EV_ERR 8

enum vk_read_mode {
	VK_READ_EXACT, /* all of len, or fewer only at EOF */
	VK_READ_SOME,  /* at least one byte, or 0 at EOF */
	VK_READ_LINE,  /* through the first '\n'; -ENOBUFS if len is reached first */
};

struct vk_socket *vk_socket_alloc(struct vk_proc_local *proc_local_ptr, size_t rx_len, size_t tx_len);
/* A socket whose rings are the caller's (raw memory is fine: ring bytes
 * are written before they are read). */
struct vk_socket *vk_socket_alloc_on(struct vk_proc_local *proc_local_ptr, void *rx_buf, size_t rx_len, void *tx_buf,
				     size_t tx_len);
char *vk_socket_rings(struct vk_socket *socket_ptr);
/* For a caller placing a socket in memory of its own (vk_socket_init). */
size_t vk_socket_size(void);
/* The socket (on every dispatch) and the first bytes of each ring (where an
 * empty ring restarts; in the classes given) are hot in its process
 * (vk_sys_hot_in): 0, or -1 with errno. */
int vk_socket_hot(struct vk_socket *socket_ptr, size_t rx_bytes, unsigned rx_classes, size_t tx_bytes,
		  unsigned tx_classes);
/* Empty, contiguous rings: their length from vk_socket_rings (their pages
 * may go back to the OS), else 0. */
size_t vk_socket_idle_rings(struct vk_socket *socket_ptr);
void vk_socket_free(struct vk_socket *socket_ptr);
void vk_socket_init(struct vk_socket *socket_ptr, struct vk_proc_local *proc_local_ptr, void *rx_buf, size_t rx_len,
		    void *tx_buf, size_t tx_len);
struct vk_pipe *vk_socket_rx_pipe(struct vk_socket *socket_ptr);
struct vk_pipe *vk_socket_tx_pipe(struct vk_socket *socket_ptr);
struct vk_vectoring *vk_socket_rx(struct vk_socket *socket_ptr);
struct vk_vectoring *vk_socket_tx(struct vk_socket *socket_ptr);
void vk_socket_set_fd(struct vk_socket *socket_ptr, int fd);
void vk_socket_attach_fd(struct vk_socket *socket_ptr, int fd);
/* The caller knows nothing is waiting to be read on the fd (a kept
 * connection claimed with no events): the first read waits for the poller
 * instead of trying a system call that would say EAGAIN. */
void vk_socket_assume_drained(struct vk_socket *socket_ptr);
/* Whether a connected fd has nothing to read and no end seen: a look that
 * takes nothing (MSG_PEEK). */
int vk_socket_fd_quiet(int fd);
int vk_socket_detach_fd(struct vk_socket *socket_ptr);
void vk_socket_connect_pair(struct vk_socket *writer_ptr, struct vk_socket *reader_ptr);
int vk_socket_rx_fd(struct vk_socket *socket_ptr);
int vk_socket_tx_fd(struct vk_socket *socket_ptr);

int vk_socket_read_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, char *buf, size_t len,
		      size_t *done_ptr, enum vk_read_mode mode);
int vk_socket_write_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, const char *buf, size_t len,
		       size_t *done_ptr);
int vk_socket_flush_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr);
/* A VK_READ_SOME read from src that, when it must wait, first sends what
 * dst has queued: a relay that wrote to dst forwards it before waiting for
 * more, and costs no extra send while src has bytes. */
int vk_socket_read_relay_op(struct vk_socket *src_ptr, struct vk_socket *dst_ptr, struct vk_thread *thread_ptr,
			    char *buf, size_t len, size_t *done_ptr);
/* Parsing in the ring: wait until rx holds more than `held` bytes (or
 * the peer's end, or a full ring); look at the held bytes up to the ring's
 * end without taking them (NULL and 0 when none; a shorter view than
 * vk_socket_rx_held means they wrap); take the first n as if read. */
int vk_socket_wait_more_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, size_t held);
const char *vk_socket_rx_view(struct vk_socket *socket_ptr, size_t *len_ptr);
void vk_socket_rx_drop(struct vk_socket *socket_ptr, size_t n);
int vk_socket_readhup_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, size_t *done_ptr);
int vk_socket_splice_op(struct vk_socket *src_ptr, struct vk_socket *dst_ptr, struct vk_thread *thread_ptr, size_t len,
			size_t *done_ptr);
int vk_socket_wait_readable_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr);
/* Until the handshake of the transform on the socket's read end (TLS) is
 * done; at once when there is none. */
/* Peeks at the fd's received bytes without reading them (vk_socket.c). */
int vk_socket_peek_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, char *buf, size_t cap,
		      size_t *len_ptr);
int vk_socket_handshake_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr);

/* One try at vk_socket_splice_op for a caller with no thread to block:
 * what dst has queued, then up to `len` bytes src already holds, in one
 * writev. The bytes of src sent (0 when none could go), or -errno; the
 * poller is not told. What is still queued stays in vk_socket_tx(dst). */
long vk_socket_splice_now(struct vk_socket *src_ptr, struct vk_socket *dst_ptr, size_t len);
int vk_socket_connect_op(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr, const void *addr,
			 unsigned addr_len, size_t *done_ptr);
size_t vk_socket_unread(struct vk_socket *socket_ptr, const void *buf, size_t len);

int vk_socket_eof(struct vk_socket *socket_ptr);
int vk_socket_hup(struct vk_socket *socket_ptr);
size_t vk_socket_rx_held(struct vk_socket *socket_ptr);
void vk_socket_shutdown_tx(struct vk_socket *socket_ptr);
/* Gives the connection up while a thread of the process may be blocked
 * on it (another thread decided): both directions are shut down, so the
 * peer sees the end, reads here find EOF and writes EPIPE, and the
 * threads blocked on it are woken to find that out. Close it after, as
 * ever. For an fd's socket (an in-process pair has no end to shut: its
 * threads are woken and block again). */
void vk_socket_abort(struct vk_socket *socket_ptr);
void vk_socket_close(struct vk_socket *socket_ptr);
int vk_socket_is_closed(struct vk_socket *socket_ptr);
/* The stream offset of the next byte written (bytes sent plus queued): a
 * mark to take back to. */
uint64_t vk_socket_tx_mark(struct vk_socket *socket_ptr);
/* Takes back what was written since `mark` (vk_socket_tx_mark) while
 * none of it has left: 0, or -1 (nothing dropped) when some has. */
int vk_socket_tx_drop_from(struct vk_socket *socket_ptr, uint64_t mark);

/* Called by the process scheduler when the kernel reports fd events. */
void vk_socket_fd_event(struct vk_socket *socket_ptr, int fd, int events);
void vk_socket_unblock(struct vk_socket *socket_ptr, struct vk_thread *thread_ptr);

#endif
