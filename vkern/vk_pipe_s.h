#ifndef VK_PIPE_S_H
#define VK_PIPE_S_H

enum vk_pipe_type {
	VK_PIPE_NONE = 0,
	VK_PIPE_FD,	/* a file descriptor owned by this process */
	VK_PIPE_SOCKET, /* another vk_socket in the same micro-process */
};

/* A transform sits between an fd and the ring (TLS later): it reads from or
 * writes to the fd itself and fills or drains the ring, keeping the one
 * batch per syscall. Same contract as vk_vectoring_recv_fd/send_fd. */
struct vk_vectoring;
struct vk_transform_ops {
	long (*recv)(void *ctx_ptr, int fd, struct vk_vectoring *ring_ptr);
	long (*send)(void *ctx_ptr, int fd, struct vk_vectoring *ring_ptr);
};

struct vk_pipe {
	enum vk_pipe_type type;
	int fd;
	struct vk_socket *socket_ptr;
	const struct vk_transform_ops *transform_ptr;
	void *transform_ctx_ptr;
};

#endif
