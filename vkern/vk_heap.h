#ifndef VK_HEAP_H
#define VK_HEAP_H

#include <stddef.h>

struct vk_heap;

size_t vk_page_size(void);
size_t vk_pages_for(size_t len);

int vk_heap_map(struct vk_heap *heap_ptr, size_t pages);
void vk_heap_unmap(struct vk_heap *heap_ptr);
int vk_heap_protect(struct vk_heap *heap_ptr);
int vk_heap_unprotect(struct vk_heap *heap_ptr);
int vk_heap_is_protected(struct vk_heap *heap_ptr);
void *vk_heap_start(struct vk_heap *heap_ptr);
size_t vk_heap_len(struct vk_heap *heap_ptr);
size_t vk_heap_pages(struct vk_heap *heap_ptr);
int vk_heap_contains(struct vk_heap *heap_ptr, const void *ptr, size_t len);
/* Pages back to the OS (MADV_DONTNEED): the heap reads as zeros after. */
int vk_heap_release(struct vk_heap *heap_ptr);
int vk_heap_release_range(void *ptr, size_t len);
/* All zero bytes (fresh or released) until vk_heap_set_used. */
int vk_heap_zeroed(struct vk_heap *heap_ptr);
void vk_heap_set_used(struct vk_heap *heap_ptr);

#endif
