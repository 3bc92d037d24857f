#ifndef VK_CHANNEL_H
#define VK_CHANNEL_H

#include <stdint.h>

#include "vk_channel_s.h"

enum vk_msg_type {
	VK_MSG_DRAIN = 1,  /* supervisor -> kernel: stop accepting, finish, exit */
	VK_MSG_STOP,	   /* supervisor -> kernel: exit now */
	VK_MSG_RELOAD,	   /* supervisor -> kernel: call the reload hook */
	VK_MSG_READY,	   /* kernel -> supervisor: listening */
	VK_MSG_SIGNAL,	   /* supervisor -> kernel: call the signal hook with arg[0] */
	VK_MSG_DRAIN_ALL,  /* kernel -> supervisor: drain every kernel, as SIGTERM does */
	VK_MSG_RELOAD_ALL, /* kernel -> supervisor: reload, as SIGHUP does */
	VK_MSG_USER = 100,
};

struct vk_channel;

/* Created before fork so both sides share memory and eventfd. */
struct vk_channel *vk_channel_create(uint32_t capacity);
void vk_channel_destroy(struct vk_channel *channel_ptr);
int vk_channel_push(struct vk_channel *channel_ptr, const struct vk_msg *msg_ptr);
int vk_channel_pop(struct vk_channel *channel_ptr, struct vk_msg *msg_ptr);
int vk_channel_fd(struct vk_channel *channel_ptr);
void vk_channel_clear(struct vk_channel *channel_ptr);
void vk_channel_reset(struct vk_channel *channel_ptr);
uint32_t vk_channel_len(struct vk_channel *channel_ptr);

#endif
