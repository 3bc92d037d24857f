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

	return len / page + (len % page != 0);
}

/* Each heap is preceded by a read-only guard page. Its protection differs
 * from the heap's in both states, so the kernel never merges neighbouring
 * heaps into one VMA, and mprotect() never has to split one: that halves
 * the cost of a protect/unprotect pair. */
int vk_heap_map(struct vk_heap *heap_ptr, size_t pages)
{
	size_t page = vk_page_size();
	char *base;

	if (pages == 0 || pages > SIZE_MAX / page - 1) {
		errno = EINVAL;
		return -1;
	}
	base = mmap(NULL, (pages + 1) * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return -1;
	if (mprotect(base, page, PROT_READ) == -1) {
		munmap(base, (pages + 1) * page);
		return -1;
	}
	heap_ptr->addr_ptr = base + page;
	heap_ptr->pages = pages;
	heap_ptr->len = pages * vk_page_size();
	heap_ptr->protected = 0;
	heap_ptr->zeroed = 1;
	return 0;
}

/* Gives the heap's pages back to the OS: it stays mapped, and reads as
 * zeros, faulting pages in again only as they are touched. */
int vk_heap_release(struct vk_heap *heap_ptr)
{
	if (madvise(heap_ptr->addr_ptr, heap_ptr->len, MADV_DONTNEED) == -1)
		return -1;
	heap_ptr->zeroed = 1;
	return 0;
}

/* The same for whole pages inside [ptr, ptr + len) (a buffer whose content
 * no longer matters): the partial pages at either end are kept. */
int vk_heap_release_range(void *ptr, size_t len)
{
	size_t page = vk_page_size();
	uintptr_t from = ((uintptr_t)ptr + page - 1) & ~(uintptr_t)(page - 1);
	uintptr_t to = ((uintptr_t)ptr + len) & ~(uintptr_t)(page - 1);

	if (to <= from)
		return 0;
	return madvise((void *)from, to - from, MADV_DONTNEED);
}

int vk_heap_zeroed(struct vk_heap *heap_ptr)
{
	return heap_ptr->zeroed;
}

void vk_heap_set_used(struct vk_heap *heap_ptr)
{
	heap_ptr->zeroed = 0;
}

void vk_heap_unmap(struct vk_heap *heap_ptr)
{
	if (heap_ptr->addr_ptr)
		munmap(heap_ptr->addr_ptr - vk_page_size(), heap_ptr->len + vk_page_size());
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
