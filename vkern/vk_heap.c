/* vk_heap: page-granular anonymous mappings that can be hidden with one
 * mprotect() call each way. */
#include "vk_heap.h"
#include "vk_heap_s.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

size_t vk_page_size(void)
{
	static size_t page_size;

	if (!page_size)
		page_size = (size_t)sysconf(_SC_PAGESIZE);
	return page_size;
}

size_t vk_pages_for(size_t len)
{
	size_t page = vk_page_size();

	return (len + page - 1) / page;
}

int vk_heap_map(struct vk_heap *heap_ptr, size_t pages)
{
	void *addr;

	if (pages == 0 || pages > SIZE_MAX / vk_page_size()) {
		errno = EINVAL;
		return -1;
	}
	addr = mmap(NULL, pages * vk_page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (addr == MAP_FAILED)
		return -1;
	heap_ptr->addr_ptr = addr;
	heap_ptr->pages = pages;
	heap_ptr->len = pages * vk_page_size();
	heap_ptr->protected = 0;
	return 0;
}

void vk_heap_unmap(struct vk_heap *heap_ptr)
{
	if (heap_ptr->addr_ptr)
		munmap(heap_ptr->addr_ptr, heap_ptr->len);
	heap_ptr->addr_ptr = NULL;
	heap_ptr->len = 0;
	heap_ptr->pages = 0;
	heap_ptr->protected = 0;
}

int vk_heap_protect(struct vk_heap *heap_ptr)
{
	if (heap_ptr->protected)
		return 0;
	if (mprotect(heap_ptr->addr_ptr, heap_ptr->len, PROT_NONE) == -1)
		return -1;
	heap_ptr->protected = 1;
	return 0;
}

int vk_heap_unprotect(struct vk_heap *heap_ptr)
{
	if (!heap_ptr->protected)
		return 0;
	if (mprotect(heap_ptr->addr_ptr, heap_ptr->len, PROT_READ | PROT_WRITE) == -1)
		return -1;
	heap_ptr->protected = 0;
	return 0;
}

int vk_heap_is_protected(struct vk_heap *heap_ptr)
{
	return heap_ptr->protected;
}

void *vk_heap_start(struct vk_heap *heap_ptr)
{
	return heap_ptr->addr_ptr;
}

size_t vk_heap_len(struct vk_heap *heap_ptr)
{
	return heap_ptr->len;
}

size_t vk_heap_pages(struct vk_heap *heap_ptr)
{
	return heap_ptr->pages;
}

int vk_heap_contains(struct vk_heap *heap_ptr, const void *ptr, size_t len)
{
	uintptr_t start = (uintptr_t)heap_ptr->addr_ptr;
	uintptr_t p = (uintptr_t)ptr;

	return p >= start && len <= heap_ptr->len && p - start <= heap_ptr->len - len;
}
