#ifndef VK_PIPE_H
#define VK_PIPE_H

struct vk_pipe;
struct vk_socket;
struct vk_vectoring;
struct vk_transform_ops;

void vk_pipe_init_none(struct vk_pipe *pipe_ptr);
void vk_pipe_init_fd(struct vk_pipe *pipe_ptr, int fd);
void vk_pipe_init_socket(struct vk_pipe *pipe_ptr, struct vk_socket *socket_ptr);
void vk_pipe_set_transform(struct vk_pipe *pipe_ptr, const struct vk_transform_ops *ops_ptr, void *ctx_ptr);
int vk_pipe_type(struct vk_pipe *pipe_ptr);
int vk_pipe_fd(struct vk_pipe *pipe_ptr);
struct vk_socket *vk_pipe_socket(struct vk_pipe *pipe_ptr);

/* One syscall (or transform step) moving bytes between the fd and a ring. */
long vk_pipe_recv(struct vk_pipe *pipe_ptr, struct vk_vectoring *ring_ptr);
long vk_pipe_send(struct vk_pipe *pipe_ptr, struct vk_vectoring *ring_ptr);
/* The fd events a read (VK_EV_IN) or write (VK_EV_OUT) that would block
 * waits for: `direction` itself, unless a transform says otherwise. */
int vk_pipe_waits_for(const struct vk_pipe *pipe_ptr, int direction);
/* One step of the transform's handshake: 0 when done (or there is none),
 * the events it waits for, or -errno. */
int vk_pipe_handshake(struct vk_pipe *pipe_ptr);

#endif
