#ifndef VK_PIPE_S_H
#define VK_PIPE_S_H

enum vk_pipe_type {
	VK_PIPE_NONE = 0,
	VK_PIPE_FD,	/* a file descriptor owned by this process */
	VK_PIPE_SOCKET, /* another vk_socket in the same micro-process */
};

/* A transform sits between an fd and the ring (TLS): it reads from or
 * writes to the fd itself and fills or drains the ring. recv and send keep
 * the contract of vk_vectoring_recv_fd/send_fd (bytes moved, 0 at the end,
 * -1 with errno; EAGAIN marks the ring blocked).
 *
 * A transform's read may have to write first (a handshake message) and its
 * write may have to read: waits_for says which fd events a read (VK_EV_IN)
 * or a write (VK_EV_OUT) that last said EAGAIN waits for, and only those
 * events end the deduction that the direction is blocked. NULL: a read
 * waits for input, a write for output.
 *
 * handshake, if set, takes one step of whatever must happen before
 * application bytes move (vk_socket_handshake_op): 0 when done, the fd
 * events it waits for (VK_EV_IN, VK_EV_OUT) when it would block, or
 * -errno. A handshake counts as a read: waits_for(VK_EV_IN) reports the
 * same events until the next step. */
struct vk_vectoring;
struct vk_transform_ops {
	long (*recv)(void *ctx_ptr, int fd, struct vk_vectoring *ring_ptr);
	long (*send)(void *ctx_ptr, int fd, struct vk_vectoring *ring_ptr);
	int (*waits_for)(void *ctx_ptr, int direction);
	int (*handshake)(void *ctx_ptr, int fd);
};

struct vk_pipe {
	enum vk_pipe_type type;
	int fd;
	struct vk_socket *socket_ptr;
	const struct vk_transform_ops *transform_ptr;
	void *transform_ctx_ptr;
};

#endif
