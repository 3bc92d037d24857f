/* vk_pipe: one end of a socket, either a file descriptor or another socket
 * of the same micro-process. */
#include "vk_pipe.h"
#include "vk_pipe_s.h"
#include "vk_vectoring.h"

#include <stddef.h>

void vk_pipe_init_none(struct vk_pipe *pipe_ptr)
{
	pipe_ptr->type = VK_PIPE_NONE;
	pipe_ptr->fd = -1;
	pipe_ptr->socket_ptr = NULL;
	pipe_ptr->transform_ptr = NULL;
	pipe_ptr->transform_ctx_ptr = NULL;
}

void vk_pipe_init_fd(struct vk_pipe *pipe_ptr, int fd)
{
	vk_pipe_init_none(pipe_ptr);
	pipe_ptr->type = VK_PIPE_FD;
	pipe_ptr->fd = fd;
}

void vk_pipe_init_socket(struct vk_pipe *pipe_ptr, struct vk_socket *socket_ptr)
{
	vk_pipe_init_none(pipe_ptr);
	pipe_ptr->type = VK_PIPE_SOCKET;
	pipe_ptr->socket_ptr = socket_ptr;
}

void vk_pipe_set_transform(struct vk_pipe *pipe_ptr, const struct vk_transform_ops *ops_ptr, void *ctx_ptr)
{
	pipe_ptr->transform_ptr = ops_ptr;
	pipe_ptr->transform_ctx_ptr = ctx_ptr;
}

int vk_pipe_type(struct vk_pipe *pipe_ptr)
{
	return pipe_ptr->type;
}

int vk_pipe_fd(struct vk_pipe *pipe_ptr)
{
	return pipe_ptr->type == VK_PIPE_FD ? pipe_ptr->fd : -1;
}

struct vk_socket *vk_pipe_socket(struct vk_pipe *pipe_ptr)
{
	return pipe_ptr->type == VK_PIPE_SOCKET ? pipe_ptr->socket_ptr : NULL;
}

long vk_pipe_recv(struct vk_pipe *pipe_ptr, struct vk_vectoring *ring_ptr)
{
	if (pipe_ptr->transform_ptr)
		return pipe_ptr->transform_ptr->recv(pipe_ptr->transform_ctx_ptr, pipe_ptr->fd, ring_ptr);
	return vk_vectoring_recv_fd(ring_ptr, pipe_ptr->fd);
}

long vk_pipe_send(struct vk_pipe *pipe_ptr, struct vk_vectoring *ring_ptr)
{
	if (pipe_ptr->transform_ptr)
		return pipe_ptr->transform_ptr->send(pipe_ptr->transform_ctx_ptr, pipe_ptr->fd, ring_ptr);
	return vk_vectoring_send_fd(ring_ptr, pipe_ptr->fd);
}

int vk_pipe_waits_for(const struct vk_pipe *pipe_ptr, int direction)
{
	if (pipe_ptr->transform_ptr && pipe_ptr->transform_ptr->waits_for)
		return pipe_ptr->transform_ptr->waits_for(pipe_ptr->transform_ctx_ptr, direction);
	return direction;
}

int vk_pipe_handshake(struct vk_pipe *pipe_ptr)
{
	if (!pipe_ptr->transform_ptr || !pipe_ptr->transform_ptr->handshake)
		return 0;
	return pipe_ptr->transform_ptr->handshake(pipe_ptr->transform_ctx_ptr, pipe_ptr->fd);
}
