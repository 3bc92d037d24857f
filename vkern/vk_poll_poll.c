/* vk_poll_poll: poll(2) built from the block list. Every wait passes just
 * the fds a thread is blocked on right now, so registration rides along
 * with the wait and costs no syscall of its own. */
#include "vk_poll_s.h"
#include "vk_fd.h"
#include "vk_fd_s.h"
#include "vk_poll.h"

#include <errno.h>
#include <stdlib.h>

static int grow(void **array_ptr, int *cap_ptr, int need, size_t elem)
{
	int cap = *cap_ptr ? *cap_ptr : 64;
	void *p;

	if (need <= *cap_ptr)
		return 0;
	while (cap < need)
		cap *= 2;
	p = realloc(*array_ptr, (size_t)cap * elem);
	if (!p)
		return -1;
	*array_ptr = p;
	*cap_ptr = cap;
	return 0;
}

static int poll_init(struct vk_poll *poll_ptr)
{
	(void)poll_ptr;
	return 0;
}

static void poll_fini(struct vk_poll *poll_ptr)
{
	free(poll_ptr->list_ptr);
	free(poll_ptr->pollfds_ptr);
	poll_ptr->list_ptr = NULL;
	poll_ptr->pollfds_ptr = NULL;
}

static int poll_want(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	if (fd_ptr->slot >= 0)
		return 0;
	if (grow((void **)&poll_ptr->list_ptr, &poll_ptr->list_cap, poll_ptr->list_len + 1, sizeof(int)) == -1)
		return -1;
	fd_ptr->slot = poll_ptr->list_len;
	poll_ptr->list_ptr[poll_ptr->list_len++] = fd_ptr->fd;
	return 0;
}

static void remove_slot(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	int slot = fd_ptr->slot;
	int last_fd = poll_ptr->list_ptr[--poll_ptr->list_len];

	fd_ptr->slot = -1;
	if (slot != poll_ptr->list_len) {
		struct vk_fd *moved_ptr = vk_fd_table_lookup(poll_ptr->fds_ptr, last_fd);

		poll_ptr->list_ptr[slot] = last_fd;
		moved_ptr->slot = slot;
	}
}

static void poll_forget(struct vk_poll *poll_ptr, struct vk_fd *fd_ptr)
{
	if (fd_ptr->slot >= 0)
		remove_slot(poll_ptr, fd_ptr);
	fd_ptr->armed = 0;
}

static int poll_wait(struct vk_poll *poll_ptr, int timeout_ms)
{
	uint64_t tags[VK_POLL_BATCH];
	short revents[VK_POLL_BATCH];
	int count = 0;
	int n;

	/* Build the array from what is blocked now; drop fds no longer blocked. */
	for (int i = 0; i < poll_ptr->list_len;) {
		struct vk_fd *fd_ptr = vk_fd_table_lookup(poll_ptr->fds_ptr, poll_ptr->list_ptr[i]);

		if (!fd_ptr->blocked) {
			remove_slot(poll_ptr, fd_ptr);
			continue;
		}
		i++;
	}
	if (grow((void **)&poll_ptr->pollfds_ptr, &poll_ptr->pollfds_cap, poll_ptr->list_len + 1,
		 sizeof(struct pollfd)) == -1)
		return -1;
	for (int i = 0; i < poll_ptr->list_len; i++) {
		struct vk_fd *fd_ptr = vk_fd_table_lookup(poll_ptr->fds_ptr, poll_ptr->list_ptr[i]);

		poll_ptr->pollfds_ptr[i].fd = fd_ptr->fd;
		poll_ptr->pollfds_ptr[i].events = (short)vk_poll_to_pollmask(fd_ptr->blocked);
		poll_ptr->pollfds_ptr[i].revents = 0;
	}
	poll_ptr->registers += (uint64_t)poll_ptr->list_len;
	do {
		n = poll(poll_ptr->pollfds_ptr, (nfds_t)poll_ptr->list_len, timeout_ms);
	} while (n == -1 && errno == EINTR);
	if (n <= 0)
		return n;
	/* Collect first: delivering may close fds and reorder the list. */
	for (int i = 0; i < poll_ptr->list_len && count < VK_POLL_BATCH; i++) {
		if (!poll_ptr->pollfds_ptr[i].revents)
			continue;
		tags[count] = vk_fd_tag(vk_fd_table_lookup(poll_ptr->fds_ptr, poll_ptr->pollfds_ptr[i].fd));
		revents[count] = poll_ptr->pollfds_ptr[i].revents;
		count++;
	}
	for (int i = 0; i < count; i++)
		vk_poll_deliver(poll_ptr, tags[i], vk_poll_from_pollmask(revents[i]));
	return count;
}

const struct vk_poll_driver vk_poll_poll_driver = {
	.name = "poll",
	.init = poll_init,
	.fini = poll_fini,
	.want = poll_want,
	.forget = poll_forget,
	.wait = poll_wait,
};
