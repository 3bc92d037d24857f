/* vk_poll_uring: io_uring one-shot poll requests. Requests are written to
 * the submission queue as processes block and go to the kernel together
 * with the wait, in one io_uring_enter(). */
#include "vk_poll_s.h"
#include "vk_fd.h"
#include "vk_fd_s.h"
#include "vk_poll.h"
#include "vk_socket.h"

#include <errno.h>
#include <poll.h>

#define URING_DEPTH 4096
#define DIR_OUT_BIT (1ull << 31)
#define REMOVE_TAG UINT64_MAX

static int uring_init(struct vk_poll *poll_ptr)
{
	int rc = io_uring_queue_init(URING_DEPTH, &poll_ptr->ring, 0);

	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	poll_ptr->ring_ready = 1;
	return 0;
}

static void uring_fini(struct vk_poll *poll_ptr)
{
	if (poll_ptr->ring_ready)
		io_uring_queue_exit(&poll_ptr->ring);
	poll_ptr->ring_ready = 0;
}

/* A free SQE, submitting what is queued if the ring is full. */
static struct io_uring_sqe *get_sqe(struct vk_poll *poll_ptr)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&poll_ptr->ring);

	if (!sqe) {
		io_uring_submit(&poll_ptr->ring);
		sqe = io_uring_get_sqe(&poll_ptr->ring);
	}
	return sqe;
}

static int uring_want(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	for (int i = 0; i < 2; i++) {
		int dir = i ? VK_EV_OUT : VK_EV_IN;
		struct io_uring_sqe *sqe;

		if (!(fd_ptr->blocked & dir) || (fd_ptr->armed & dir))
			continue;
		sqe = get_sqe(poll_ptr);
		if (!sqe)
			return -1;
		io_uring_prep_poll_add(sqe, fd_ptr->fd, i ? POLLOUT : (POLLIN | POLLRDHUP));
		io_uring_sqe_set_data64(sqe, vk_fd_tag(fd_ptr) | (i ? DIR_OUT_BIT : 0));
		fd_ptr->armed |= dir;
	}
	return 0;
}

static void uring_forget(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	for (int i = 0; i < 2; i++) {
		int dir = i ? VK_EV_OUT : VK_EV_IN;
		struct io_uring_sqe *sqe;

		if (!(fd_ptr->armed & dir))
			continue;
		sqe = get_sqe(poll_ptr);
		if (!sqe)
			continue;
		io_uring_prep_poll_remove(sqe, vk_fd_tag(fd_ptr) | (i ? DIR_OUT_BIT : 0));
		io_uring_sqe_set_data64(sqe, REMOVE_TAG);
	}
	fd_ptr->armed = 0;
}

static int uring_wait(struct vk_poll *poll_ptr, int timeout_ms)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int rc;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
	}
	if (io_uring_sq_ready(&poll_ptr->ring))
		poll_ptr->registers++;
	rc = io_uring_submit_and_wait_timeout(&poll_ptr->ring, &cqe, 1, timeout_ms >= 0 ? &ts : NULL, NULL);
	if (rc < 0 && rc != -ETIME && rc != -EINTR) {
		errno = -rc;
		return -1;
	}
	io_uring_for_each_cqe(&poll_ptr->ring, head, cqe) {
		uint64_t data = io_uring_cqe_get_data64(cqe);

		seen++;
		if (data != REMOVE_TAG) {
			uint64_t tag = data & ~DIR_OUT_BIT;
			int dir = (data & DIR_OUT_BIT) ? VK_EV_OUT : VK_EV_IN;
			struct vk_fd *fd_ptr = vk_fd_table_lookup(poll_ptr->fds_ptr, vk_fd_tag_fd(tag));

			if (fd_ptr && fd_ptr->gen == vk_fd_tag_gen(tag)) {
				fd_ptr->armed &= ~dir;
				if (cqe->res > 0)
					vk_poll_deliver(poll_ptr, tag, vk_poll_from_pollmask(cqe->res));
			}
		}
	}
	io_uring_cq_advance(&poll_ptr->ring, seen);
	return (int)seen;
}

const struct vk_poll_driver vk_poll_uring_driver = {
	.name = "uring",
	.init = uring_init,
	.fini = uring_fini,
	.want = uring_want,
	.forget = uring_forget,
	.wait = uring_wait,
};
