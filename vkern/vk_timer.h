#ifndef VK_TIMER_H
#define VK_TIMER_H

#include <stdint.h>

struct vk_timer;
struct vk_timer_heap;

void vk_timer_init(struct vk_timer *timer_ptr, void *owner_ptr);
int vk_timer_scheduled(struct vk_timer *timer_ptr);
uint64_t vk_timer_when(struct vk_timer *timer_ptr);
void *vk_timer_owner(struct vk_timer *timer_ptr);

void vk_timer_heap_init(struct vk_timer_heap *heap_ptr);
void vk_timer_heap_fini(struct vk_timer_heap *heap_ptr);
/* Schedule, reschedule (when_ns != 0) or cancel (when_ns == 0). */
int vk_timer_set(struct vk_timer_heap *heap_ptr, struct vk_timer *timer_ptr, uint64_t when_ns);
struct vk_timer *vk_timer_heap_peek(struct vk_timer_heap *heap_ptr);
struct vk_timer *vk_timer_heap_pop_expired(struct vk_timer_heap *heap_ptr, uint64_t now_ns);
int vk_timer_heap_len(struct vk_timer_heap *heap_ptr);

uint64_t vk_now_ns(void);

#endif
