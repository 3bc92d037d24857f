/* vk_channel: how kernels talk. Nothing on the request path uses it; it
 * carries shutdown, reload and (later) configuration snapshots. */
#include "vk_channel.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

struct vk_channel *vk_channel_create(uint32_t capacity)
{
	struct vk_channel *channel_ptr;
	size_t len;
	uint32_t cap = 1;

	if (capacity > (1u << 31)) {
		errno = EINVAL;
		return NULL;
	}
	while (cap < capacity)
		cap <<= 1;
	len = sizeof(*channel_ptr) + sizeof(struct vk_msg) * cap;
	channel_ptr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (channel_ptr == MAP_FAILED)
		return NULL;
	atomic_init(&channel_ptr->head, 0);
	atomic_init(&channel_ptr->tail, 0);
	channel_ptr->mask = cap - 1;
	channel_ptr->map_len = len;
	channel_ptr->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (channel_ptr->event_fd == -1) {
		munmap(channel_ptr, len);
		return NULL;
	}
	return channel_ptr;
}

void vk_channel_destroy(struct vk_channel *channel_ptr)
{
	if (!channel_ptr)
		return;
	close(channel_ptr->event_fd);
	munmap(channel_ptr, channel_ptr->map_len);
}

int vk_channel_push(struct vk_channel *channel_ptr, const struct vk_msg *msg_ptr)
{
	uint32_t tail = atomic_load_explicit(&channel_ptr->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&channel_ptr->head, memory_order_acquire);
	uint64_t one = 1;

	if (tail - head > channel_ptr->mask) {
		errno = EAGAIN;
		return -1;
	}
	channel_ptr->slots[tail & channel_ptr->mask] = *msg_ptr;
	atomic_store_explicit(&channel_ptr->tail, tail + 1, memory_order_release);
	/* The message is queued whatever happens here; a failed wake-up can
	 * only mean the counter is saturated, so the reader is awake anyway. */
	(void)!write(channel_ptr->event_fd, &one, sizeof(one));
	return 0;
}

int vk_channel_pop(struct vk_channel *channel_ptr, struct vk_msg *msg_ptr)
{
	uint32_t head = atomic_load_explicit(&channel_ptr->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&channel_ptr->tail, memory_order_acquire);

	if (head == tail) {
		errno = EAGAIN;
		return -1;
	}
	*msg_ptr = channel_ptr->slots[head & channel_ptr->mask];
	atomic_store_explicit(&channel_ptr->head, head + 1, memory_order_release);
	return 0;
}

int vk_channel_fd(struct vk_channel *channel_ptr)
{
	return channel_ptr->event_fd;
}

/* Reset the wake-up counter; call before popping so no push is missed. */
void vk_channel_clear(struct vk_channel *channel_ptr)
{
	uint64_t count;

	while (read(channel_ptr->event_fd, &count, sizeof(count)) == (ssize_t)sizeof(count))
		;
}

/* Forget unread messages: for a consumer that restarts. */
void vk_channel_reset(struct vk_channel *channel_ptr)
{
	atomic_store(&channel_ptr->head, atomic_load(&channel_ptr->tail));
	vk_channel_clear(channel_ptr);
}

uint32_t vk_channel_len(struct vk_channel *channel_ptr)
{
	return atomic_load(&channel_ptr->tail) - atomic_load(&channel_ptr->head);
}
