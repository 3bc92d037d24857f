/* vk_mailbox: see the .h. */
#include "vk_mailbox.h"
#include "vk_mailbox_s.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* A reader gives up after this many torn copies (a post per try). */
#define VK_MAILBOX_TRIES 64

struct vk_mailbox *vk_mailbox_create(size_t capacity)
{
	struct vk_mailbox *mailbox_ptr = calloc(1, sizeof(*mailbox_ptr));

	if (!mailbox_ptr)
		return NULL;
	mailbox_ptr->capacity = capacity;
	mailbox_ptr->map_bytes = sizeof(struct vk_mailbox_shared) + capacity;
	mailbox_ptr->shared_ptr = mmap(NULL, mailbox_ptr->map_bytes, PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mailbox_ptr->shared_ptr == MAP_FAILED) {
		free(mailbox_ptr);
		return NULL;
	}
	return mailbox_ptr;
}

void vk_mailbox_destroy(struct vk_mailbox *mailbox_ptr)
{
	if (!mailbox_ptr)
		return;
	munmap(mailbox_ptr->shared_ptr, mailbox_ptr->map_bytes);
	free(mailbox_ptr);
}

int vk_mailbox_post(struct vk_mailbox *mailbox_ptr, uint64_t number, const void *data, size_t len)
{
	struct vk_mailbox_shared *shared_ptr = mailbox_ptr->shared_ptr;
	uint64_t seq = __atomic_load_n(&shared_ptr->seq, __ATOMIC_RELAXED); /* the only writer */

	if (len > mailbox_ptr->capacity) {
		errno = EMSGSIZE;
		return -1;
	}
	__atomic_store_n(&shared_ptr->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&shared_ptr->number, number, __ATOMIC_RELAXED);
	__atomic_store_n(&shared_ptr->len, (uint64_t)len, __ATOMIC_RELAXED);
	memcpy(shared_ptr->data, data, len);
	__atomic_store_n(&shared_ptr->seq, seq + 2, __ATOMIC_RELEASE);
	return 0;
}

char *vk_mailbox_take(const struct vk_mailbox *mailbox_ptr, uint64_t after, uint64_t *number_ptr, size_t *len_ptr)
{
	const struct vk_mailbox_shared *shared_ptr = mailbox_ptr->shared_ptr;

	for (int i = 0; i < VK_MAILBOX_TRIES; i++) {
		uint64_t seq = __atomic_load_n(&shared_ptr->seq, __ATOMIC_ACQUIRE);
		uint64_t number = __atomic_load_n(&shared_ptr->number, __ATOMIC_RELAXED);
		uint64_t len = __atomic_load_n(&shared_ptr->len, __ATOMIC_RELAXED);
		char *copy_ptr;

		if (seq % 2)
			continue;
		if (number <= after || seq == 0) {
			if (__atomic_load_n(&shared_ptr->seq, __ATOMIC_ACQUIRE) != seq)
				continue;
			errno = ENOMSG;
			return NULL;
		}
		/* A torn read of len is caught by the seq check below; until
		 * then it must only be kept in bounds. */
		if (len > mailbox_ptr->capacity)
			continue;
		copy_ptr = malloc((size_t)len + 1);
		if (!copy_ptr)
			return NULL;
		memcpy(copy_ptr, shared_ptr->data, (size_t)len);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&shared_ptr->seq, __ATOMIC_RELAXED) != seq) {
			free(copy_ptr);
			continue;
		}
		copy_ptr[len] = '\0';
		*number_ptr = number;
		*len_ptr = (size_t)len;
		return copy_ptr;
	}
	errno = EAGAIN;
	return NULL;
}
