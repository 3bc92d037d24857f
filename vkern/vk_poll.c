/* vk_poll: choice of poll driver and the checks common to all of them. */
#include "vk_poll.h"
#include "vk_poll_s.h"
#include "vk_fd.h"
#include "vk_fd_s.h"
#include "vk_socket.h"

#include <poll.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

extern const struct vk_poll_driver vk_poll_epoll_driver;
extern const struct vk_poll_driver vk_poll_epoll_oneshot_driver;
extern const struct vk_poll_driver vk_poll_poll_driver;
extern const struct vk_poll_driver vk_poll_aio_driver;
extern const struct vk_poll_driver vk_poll_uring_driver;

static const struct vk_poll_driver *const drivers[] = {
	&vk_poll_epoll_driver, &vk_poll_epoll_oneshot_driver, &vk_poll_poll_driver,
	&vk_poll_aio_driver,   &vk_poll_uring_driver,
};

static const char *const driver_names[] = {"epoll", "epoll-oneshot", "poll", "aio", "uring", NULL};

const char *const *vk_poll_driver_names(void)
{
	return driver_names;
}

int vk_poll_init(struct vk_poll *poll_ptr, const char *name, struct vk_fd_table *fds_ptr, vk_poll_ready_fn ready,
		 void *ctx_ptr)
{
	memset(poll_ptr, 0, sizeof(*poll_ptr));
	poll_ptr->epoll_fd = -1;
	if (!name || !*name)
		name = getenv("VK_POLL");
	if (!name || !*name)
		name = "epoll";
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			poll_ptr->driver_ptr = drivers[i];
	if (!poll_ptr->driver_ptr) {
		errno = ENOENT;
		return -1;
	}
	poll_ptr->fds_ptr = fds_ptr;
	poll_ptr->ready_cb = ready;
	poll_ptr->ready_ctx_ptr = ctx_ptr;
	return poll_ptr->driver_ptr->init(poll_ptr);
}

void vk_poll_fini(struct vk_poll *poll_ptr)
{
	if (poll_ptr->driver_ptr)
		poll_ptr->driver_ptr->fini(poll_ptr);
	poll_ptr->driver_ptr = NULL;
}

const char *vk_poll_name(struct vk_poll *poll_ptr)
{
	return poll_ptr->driver_ptr->name;
}

int vk_poll_want(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	return poll_ptr->driver_ptr->want(poll_ptr, fd_ptr);
}

void vk_poll_forget(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	poll_ptr->driver_ptr->forget(poll_ptr, fd_ptr);
}

int vk_poll_wait(struct vk_poll *poll_ptr, int timeout_ms)
{
	poll_ptr->waits++;
	return poll_ptr->driver_ptr->wait(poll_ptr, timeout_ms);
}

uint64_t vk_poll_registers(struct vk_poll *poll_ptr)
{
	return poll_ptr->registers;
}

uint64_t vk_poll_waits(struct vk_poll *poll_ptr)
{
	return poll_ptr->waits;
}

/* A registration outlives nothing: an event for an fd that was closed (and
 * perhaps reused) since it was armed carries an old generation. */
void vk_poll_deliver(struct vk_poll *poll_ptr, uint64_t tag, int events)
{
	struct vk_fd *fd_ptr = vk_fd_table_lookup(poll_ptr->fds_ptr, vk_fd_tag_fd(tag));

	if (!fd_ptr || fd_ptr->kind == VK_FD_FREE || fd_ptr->gen != vk_fd_tag_gen(tag))
		return;
	poll_ptr->ready_cb(poll_ptr->ready_ctx_ptr, fd_ptr, events);
}

int vk_poll_from_pollmask(int mask)
{
	int events = 0;

	if (mask & POLLIN)
		events |= VK_EV_IN;
	if (mask & POLLOUT)
		events |= VK_EV_OUT;
	if (mask & (POLLHUP | POLLRDHUP))
		events |= VK_EV_HUP;
	if (mask & (POLLERR | POLLNVAL))
		events |= VK_EV_ERR;
	return events;
}

int vk_poll_to_pollmask(int events)
{
	int mask = 0;

	if (events & VK_EV_IN)
		mask |= POLLIN;
	if (events & VK_EV_OUT)
		mask |= POLLOUT;
	return mask;
}
