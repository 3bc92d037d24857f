/* vk_poll_aio: Linux AIO poll requests (IOCB_CMD_POLL, one-shot). Requests
 * made while the process flushes are queued and go out in one io_submit()
 * just before io_getevents() waits; when the context is full, completed
 * events are drained to make room. */
#include "vk_poll_s.h"
#include "vk_fd.h"
#include "vk_fd_s.h"
#include "vk_poll.h"
#include "vk_socket.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define AIO_DEPTH 8192
/* The direction rides in bit 31 of the fd half of the tag. */
#define DIR_OUT_BIT (1ull << 31)

static long io_setup_(unsigned nr, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, nr, ctx);
}

static long io_submit_(aio_context_t ctx, long n, struct iocb **iocbs)
{
	return syscall(SYS_io_submit, ctx, n, iocbs);
}

static long io_getevents_(aio_context_t ctx, long min_nr, long nr, struct io_event *events, struct timespec *ts)
{
	return syscall(SYS_io_getevents, ctx, min_nr, nr, events, ts);
}

static long io_cancel_(aio_context_t ctx, struct iocb *iocb, struct io_event *result)
{
	return syscall(SYS_io_cancel, ctx, iocb, result);
}

static int aio_init(struct vk_poll *poll_ptr)
{
	poll_ptr->aio_ctx = 0;
	return io_setup_(AIO_DEPTH, &poll_ptr->aio_ctx) == -1 ? -1 : 0;
}

static void aio_fini(struct vk_poll *poll_ptr)
{
	if (poll_ptr->aio_ctx)
		syscall(SYS_io_destroy, poll_ptr->aio_ctx);
	poll_ptr->aio_ctx = 0;
	free(poll_ptr->aio_queue_ptr);
	poll_ptr->aio_queue_ptr = NULL;
	poll_ptr->aio_queue_len = poll_ptr->aio_queue_cap = 0;
}

static int enqueue(struct vk_poll *poll_ptr, struct iocb *cb)
{
	if (poll_ptr->aio_queue_len == poll_ptr->aio_queue_cap) {
		int cap = poll_ptr->aio_queue_cap ? poll_ptr->aio_queue_cap * 2 : 256;
		struct iocb **p = realloc(poll_ptr->aio_queue_ptr, sizeof(*p) * (size_t)cap);

		if (!p)
			return -1;
		poll_ptr->aio_queue_ptr = p;
		poll_ptr->aio_queue_cap = cap;
	}
	poll_ptr->aio_queue_ptr[poll_ptr->aio_queue_len++] = cb;
	return 0;
}

static int aio_want(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	static const int dirs[2] = {VK_EV_IN, VK_EV_OUT};

	for (int i = 0; i < 2; i++) {
		struct iocb *cb = &fd_ptr->aio_cb[i];

		if (!(fd_ptr->blocked & dirs[i]) || (fd_ptr->armed & dirs[i]))
			continue;
		memset(cb, 0, sizeof(*cb));
		cb->aio_lio_opcode = IOCB_CMD_POLL;
		cb->aio_fildes = (uint32_t)fd_ptr->fd;
		cb->aio_buf = i == 0 ? (POLLIN | POLLRDHUP) : POLLOUT;
		cb->aio_data = vk_fd_tag(fd_ptr) | (i ? DIR_OUT_BIT : 0);
		if (enqueue(poll_ptr, cb) == -1)
			return -1;
		fd_ptr->armed |= dirs[i];
		fd_ptr->queued |= dirs[i];
	}
	return 0;
}

static void handle(struct vk_poll *poll_ptr, struct io_event *ev)
{
	uint64_t tag = ev->data & ~DIR_OUT_BIT;
	int dir = (ev->data & DIR_OUT_BIT) ? VK_EV_OUT : VK_EV_IN;
	struct vk_fd *fd_ptr = vk_fd_table_lookup(poll_ptr->fds_ptr, vk_fd_tag_fd(tag));

	poll_ptr->aio_inflight--;
	if (!fd_ptr || fd_ptr->gen != vk_fd_tag_gen(tag))
		return;
	fd_ptr->armed &= ~dir;
	if (ev->res < 0)
		return; /* cancelled */
	vk_poll_deliver(poll_ptr, tag, vk_poll_from_pollmask((int)ev->res));
}

static void aio_forget(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	for (int i = 0; i < 2; i++) {
		int dir = i ? VK_EV_OUT : VK_EV_IN;
		struct io_event result;

		if (!(fd_ptr->armed & dir))
			continue;
		if (fd_ptr->queued & dir) {
			for (int q = 0; q < poll_ptr->aio_queue_len; q++) {
				if (poll_ptr->aio_queue_ptr[q] == &fd_ptr->aio_cb[i]) {
					poll_ptr->aio_queue_ptr[q] = poll_ptr->aio_queue_ptr[--poll_ptr->aio_queue_len];
					break;
				}
			}
		} else {
			/* The completion still arrives, with a stale generation. */
			io_cancel_(poll_ptr->aio_ctx, &fd_ptr->aio_cb[i], &result);
		}
	}
	fd_ptr->armed = 0;
	fd_ptr->queued = 0;
}

static int drain_events(struct vk_poll *poll_ptr, long min_nr, struct timespec *ts)
{
	struct io_event events[VK_POLL_BATCH];
	long n;

	do {
		n = io_getevents_(poll_ptr->aio_ctx, min_nr, VK_POLL_BATCH, events, ts);
	} while (n == -1 && errno == EINTR);
	for (long i = 0; i < n; i++)
		handle(poll_ptr, &events[i]);
	return (int)n;
}

static void submit_queue(struct vk_poll *poll_ptr)
{
	while (poll_ptr->aio_queue_len > 0) {
		long n = io_submit_(poll_ptr->aio_ctx, poll_ptr->aio_queue_len, poll_ptr->aio_queue_ptr);

		if (n > 0) {
			poll_ptr->registers++;
			for (long i = 0; i < n; i++) {
				struct iocb *cb = poll_ptr->aio_queue_ptr[i];
				struct vk_fd *fd_ptr = vk_fd_table_lookup(poll_ptr->fds_ptr, (int)cb->aio_fildes);

				fd_ptr->queued &= ~(cb->aio_buf == POLLOUT ? VK_EV_OUT : VK_EV_IN);
			}
			poll_ptr->aio_inflight += (int)n;
			memmove(poll_ptr->aio_queue_ptr, poll_ptr->aio_queue_ptr + n,
				sizeof(struct iocb *) * (size_t)(poll_ptr->aio_queue_len - n));
			poll_ptr->aio_queue_len -= (int)n;
		} else if (n == -1 && errno == EAGAIN) {
			/* Context full: take completed events out to make room. */
			struct timespec ts = {0, 1000000};

			drain_events(poll_ptr, 1, &ts);
		} else {
			/* The first request is bad (fd gone): drop it, keep the rest. */
			struct iocb *cb = poll_ptr->aio_queue_ptr[0];
			struct vk_fd *fd_ptr = vk_fd_table_lookup(poll_ptr->fds_ptr, (int)cb->aio_fildes);
			int dir = cb->aio_buf == POLLOUT ? VK_EV_OUT : VK_EV_IN;

			fd_ptr->queued &= ~dir;
			fd_ptr->armed &= ~dir;
			memmove(poll_ptr->aio_queue_ptr, poll_ptr->aio_queue_ptr + 1,
				sizeof(struct iocb *) * (size_t)(poll_ptr->aio_queue_len - 1));
			poll_ptr->aio_queue_len--;
		}
	}
}

static int aio_wait(struct vk_poll *poll_ptr, int timeout_ms)
{
	struct timespec ts;

	submit_queue(poll_ptr);
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
	}
	return drain_events(poll_ptr, 1, timeout_ms >= 0 ? &ts : NULL);
}

const struct vk_poll_driver vk_poll_aio_driver = {
	.name = "aio",
	.init = aio_init,
	.fini = aio_fini,
	.want = aio_want,
	.forget = aio_forget,
	.wait = aio_wait,
};
