#ifndef VK_VECTORING_S_H
#define VK_VECTORING_S_H

#include <stddef.h>

/* A ring buffer whose free space and whose data are each at most two
 * segments, so one system call moves all of either: recv()/send() for one
 * segment of a socket, recvmsg()/sendmsg() for two, readv()/writev() for
 * any other fd. */
struct vk_vectoring {
	char *buf_ptr;
	size_t buf_len;
	size_t start;		 /* offset of the first byte held */
	size_t len;		 /* bytes held */
	int error;		 /* errno of the last failed syscall, 0 if none */
	unsigned eof : 1;	 /* the far side will send no more */
	unsigned blocked : 1;	 /* the last syscall returned EAGAIN, or would have */
	unsigned hup_seen : 1;	 /* the poller reported the far side hung up */
	unsigned not_socket : 1; /* its fd answered ENOTSOCK: readv()/writev() from now on */
};

#endif
