#ifndef VK_STACK_H
#define VK_STACK_H

#include <stddef.h>

struct vk_stack;

#define VK_STACK_ALIGN 16

void vk_stack_init(struct vk_stack *stack_ptr, void *start_ptr, size_t len);
void vk_stack_assume_zeroed(struct vk_stack *stack_ptr);
void *vk_stack_push(struct vk_stack *stack_ptr, size_t size);
void *vk_stack_push_raw(struct vk_stack *stack_ptr, size_t size);
void *vk_stack_push_high(struct vk_stack *stack_ptr, size_t size);
void vk_stack_pop(struct vk_stack *stack_ptr, void *ptr);
size_t vk_stack_used(struct vk_stack *stack_ptr);
size_t vk_stack_avail(struct vk_stack *stack_ptr);
size_t vk_stack_peak(struct vk_stack *stack_ptr);
size_t vk_stack_last_failed(struct vk_stack *stack_ptr);
int vk_stack_owns(struct vk_stack *stack_ptr, void *ptr);

#endif
