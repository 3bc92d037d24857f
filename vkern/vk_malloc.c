/* vk_malloc: malloc, calloc, realloc and free defined by the program, so
 * that every caller in the process, shared libraries included, reaches
 * them (vk_malloc.h). What is not for a zone goes to glibc's allocator
 * through its __libc_ entry points, which glibc exports for this use. The
 * aligned allocations (memalign and the like) are left to glibc: their
 * blocks are glibc's, and free finds them so. */
#include "vk_malloc.h"
#include "vk_heap.h"
#include "vk_zone.h"
#include "vk_zone_s.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define VK_MALLOC_ROUTED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VK_MALLOC_ROUTED 0
#endif
#endif
#ifndef VK_MALLOC_ROUTED
#define VK_MALLOC_ROUTED 1
#endif

static __thread struct vk_zone *entered_ptr;
static struct vk_zone *resident_ptrs[VK_MALLOC_RESIDENT_MAX];
static int resident_count;
static unsigned long calls;

int vk_malloc_routes(void)
{
	return VK_MALLOC_ROUTED;
}

struct vk_zone *vk_malloc_enter(struct vk_zone *zone_ptr)
{
	struct vk_zone *previous_ptr = entered_ptr;

	entered_ptr = VK_MALLOC_ROUTED ? zone_ptr : NULL;
	return previous_ptr;
}

void vk_malloc_leave(struct vk_zone *previous_ptr)
{
	entered_ptr = previous_ptr;
}

struct vk_zone *vk_malloc_entered(void)
{
	return entered_ptr;
}

void vk_malloc_reset(void)
{
	entered_ptr = NULL;
}

unsigned long vk_malloc_calls(void)
{
	return calls;
}

int vk_malloc_add_resident(struct vk_zone *zone_ptr)
{
	if (resident_count == VK_MALLOC_RESIDENT_MAX)
		return -1;
	resident_ptrs[resident_count++] = zone_ptr;
	return 0;
}

void vk_malloc_remove_resident(struct vk_zone *zone_ptr)
{
	for (int i = 0; i < resident_count; i++)
		if (resident_ptrs[i] == zone_ptr) {
			resident_ptrs[i] = resident_ptrs[--resident_count];
			return;
		}
}

/* The mapping is whole pages, so the zone's closing header ends it: its
 * length is known from the zone. */
struct vk_zone *vk_malloc_map_zone(size_t len)
{
	size_t mapped = vk_pages_for(sizeof(struct vk_zone) + len) * vk_page_size();
	struct vk_zone *zone_ptr =
		mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (zone_ptr == MAP_FAILED)
		return NULL;
	vk_zone_init(zone_ptr, zone_ptr + 1, mapped - sizeof(*zone_ptr));
	if (vk_malloc_add_resident(zone_ptr) == -1) {
		munmap(zone_ptr, mapped);
		errno = EMFILE;
		return NULL;
	}
	return zone_ptr;
}

void vk_malloc_unmap_zone(struct vk_zone *zone_ptr)
{
	if (!zone_ptr)
		return;
	vk_malloc_remove_resident(zone_ptr);
	munmap(zone_ptr, (size_t)(zone_ptr->end_ptr - (char *)zone_ptr) + VK_ZONE_ALIGN);
}

#if VK_MALLOC_ROUTED

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void __libc_free(void *ptr);

/* The zone a block belongs to, or NULL for glibc's. */
static struct vk_zone *zone_of(const void *ptr)
{
	if (entered_ptr && vk_zone_owns(entered_ptr, ptr))
		return entered_ptr;
	for (int i = 0; i < resident_count; i++)
		if (vk_zone_owns(resident_ptrs[i], ptr))
			return resident_ptrs[i];
	return NULL;
}

void *malloc(size_t size)
{
	calls++;
	return entered_ptr ? vk_zone_alloc(entered_ptr, size) : __libc_malloc(size);
}

void *calloc(size_t count, size_t size)
{
	void *ptr;

	calls++;
	if (!entered_ptr)
		return __libc_calloc(count, size);
	if (size && count > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	ptr = vk_zone_alloc(entered_ptr, count * size);
	if (ptr)
		memset(ptr, 0, count * size);
	return ptr;
}

void *realloc(void *ptr, size_t size)
{
	struct vk_zone *zone_ptr = ptr ? zone_of(ptr) : entered_ptr;

	calls++;
	return zone_ptr ? vk_zone_realloc(zone_ptr, ptr, size) : __libc_realloc(ptr, size);
}

void free(void *ptr)
{
	struct vk_zone *zone_ptr;

	if (!ptr)
		return;
	calls++;
	zone_ptr = zone_of(ptr);
	if (zone_ptr)
		vk_zone_free(zone_ptr, ptr);
	else
		__libc_free(ptr);
}

#endif
