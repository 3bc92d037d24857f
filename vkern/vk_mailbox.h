#ifndef VK_MAILBOX_H
#define VK_MAILBOX_H

/* vk_mailbox: one message at a time from one writer process to any number
 * of readers, in shared memory mapped before the kernels fork: the
 * supervisor posts (a checked configuration, say) and each kernel takes
 * the newest when it is told to look. The writer never waits for the
 * readers: a post replaces what was there, under a seqlock, and a reader
 * whose copy was torn by a post copies the newer message again. Each
 * message carries a number the writer chooses (increasing), so a reader
 * knows whether it has already taken it. */

#include <stddef.h>
#include <stdint.h>

struct vk_mailbox;

/* Room for messages up to `capacity` bytes; pages are touched only as
 * posts use them. NULL with errno set. */
struct vk_mailbox *vk_mailbox_create(size_t capacity);
void vk_mailbox_destroy(struct vk_mailbox *mailbox_ptr);
/* Writer: 0, or -1 (EMSGSIZE) when the message does not fit. */
int vk_mailbox_post(struct vk_mailbox *mailbox_ptr, uint64_t number, const void *data, size_t len);
/* Reader: the newest message, if its number is above `after`, copied into
 * a malloc()ed buffer (*len_ptr bytes, and a NUL after them) with its
 * number in *number_ptr. NULL with errno: ENOMSG (nothing newer), EAGAIN
 * (every try was torn by posts), ENOMEM. */
char *vk_mailbox_take(const struct vk_mailbox *mailbox_ptr, uint64_t after, uint64_t *number_ptr, size_t *len_ptr);

#endif
