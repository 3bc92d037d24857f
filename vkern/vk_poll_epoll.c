/* vk_poll_epoll: epoll in two modes.
 * Edge-triggered: one epoll_ctl(ADD) per fd, at its first block, for both
 * directions; afterwards every edge is mirrored and nothing is re-armed.
 * One-shot: epoll_ctl each time an fd blocks, for just what it waits on. */
#include "vk_poll_s.h"
#include "vk_fd.h"
#include "vk_fd_s.h"
#include "vk_poll.h"
#include "vk_socket.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

static int epoll_init(struct vk_poll *poll_ptr)
{
	poll_ptr->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	return poll_ptr->epoll_fd == -1 ? -1 : 0;
}

static void epoll_fini(struct vk_poll *poll_ptr)
{
	if (poll_ptr->epoll_fd >= 0)
		close(poll_ptr->epoll_fd);
	poll_ptr->epoll_fd = -1;
}

static uint32_t to_epoll(int events)
{
	uint32_t mask = EPOLLRDHUP;

	if (events & VK_EV_IN)
		mask |= EPOLLIN;
	if (events & VK_EV_OUT)
		mask |= EPOLLOUT;
	return mask;
}

static int from_epoll(uint32_t mask)
{
	int events = 0;

	if (mask & EPOLLIN)
		events |= VK_EV_IN;
	if (mask & EPOLLOUT)
		events |= VK_EV_OUT;
	if (mask & (EPOLLHUP | EPOLLRDHUP))
		events |= VK_EV_HUP;
	if (mask & EPOLLERR)
		events |= VK_EV_ERR;
	return events;
}

static int edge_want(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	struct epoll_event ev;

	if (fd_ptr->added)
		return 0;
	ev.events = to_epoll(VK_EV_IN | VK_EV_OUT) | EPOLLET;
	ev.data.u64 = vk_fd_tag(fd_ptr);
	poll_ptr->registers++;
	if (epoll_ctl(poll_ptr->epoll_fd, EPOLL_CTL_ADD, fd_ptr->fd, &ev) == -1)
		return -1;
	fd_ptr->added = 1;
	fd_ptr->armed = VK_EV_IN | VK_EV_OUT;
	return 0;
}

static int oneshot_want(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	struct epoll_event ev;
	int events = fd_ptr->blocked | fd_ptr->armed;

	if (!(fd_ptr->blocked & ~fd_ptr->armed))
		return 0;
	ev.events = to_epoll(events) | EPOLLONESHOT;
	ev.data.u64 = vk_fd_tag(fd_ptr);
	poll_ptr->registers++;
	if (epoll_ctl(poll_ptr->epoll_fd, fd_ptr->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd_ptr->fd, &ev) == -1)
		return -1;
	fd_ptr->added = 1;
	fd_ptr->armed = events;
	return 0;
}

/* close() removes the fd from the interest list (we never dup a polled
 * fd), and events already fetched carry the old generation. */
static void epoll_forget(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	(void)poll_ptr;
	fd_ptr->added = 0;
	fd_ptr->armed = 0;
}

static int wait_common(struct vk_poll *poll_ptr, int timeout_ms, int oneshot)
{
	struct epoll_event events[VK_POLL_BATCH];
	int n;

	do {
		n = epoll_wait(poll_ptr->epoll_fd, events, VK_POLL_BATCH, timeout_ms);
	} while (n == -1 && errno == EINTR);
	for (int i = 0; i < n; i++) {
		if (oneshot) {
			struct vk_fd *fd_ptr = vk_fd_table_lookup(poll_ptr->fds_ptr, vk_fd_tag_fd(events[i].data.u64));

			if (fd_ptr && fd_ptr->gen == vk_fd_tag_gen(events[i].data.u64))
				fd_ptr->armed = 0;
		}
		vk_poll_deliver(poll_ptr, events[i].data.u64, from_epoll(events[i].events));
	}
	return n;
}

static int edge_wait(struct vk_poll *poll_ptr, int timeout_ms)
{
	return wait_common(poll_ptr, timeout_ms, 0);
}

static int oneshot_wait(struct vk_poll *poll_ptr, int timeout_ms)
{
	return wait_common(poll_ptr, timeout_ms, 1);
}

const struct vk_poll_driver vk_poll_epoll_driver = {
	.name = "epoll",
	.init = epoll_init,
	.fini = epoll_fini,
	.want = edge_want,
	.forget = epoll_forget,
	.wait = edge_wait,
};

const struct vk_poll_driver vk_poll_epoll_oneshot_driver = {
	.name = "epoll-oneshot",
	.init = epoll_init,
	.fini = epoll_fini,
	.want = oneshot_want,
	.forget = epoll_forget,
	.wait = oneshot_wait,
};
