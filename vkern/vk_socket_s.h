#ifndef VK_SOCKET_S_H
#define VK_SOCKET_S_H

#include <stdint.h>
#include <sys/queue.h>

#include "vk_pipe_s.h"
#include "vk_vectoring_s.h"

/* Stream I/O handle: a read end and a write end (each an fd or a socket in
 * the same process), each buffered by its own ring. */
struct vk_socket {
	struct vk_pipe rx_pipe;
	struct vk_pipe tx_pipe;
	struct vk_vectoring rx;
	struct vk_vectoring tx;
	struct vk_thread *reader_ptr; /* blocked on rx, woken by an in-process peer */
	struct vk_thread *writer_ptr; /* blocked on tx */
	struct vk_proc_local *proc_local_ptr;
	uint64_t tx_sent; /* bytes that left: from tx, or straight from a splice */
	unsigned closed : 1;
	LIST_ENTRY(vk_socket) list_elem;
};

#endif
