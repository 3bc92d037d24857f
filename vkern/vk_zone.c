/* vk_zone: a boundary-tag allocator over one region (vk_zone.h).
 *
 * Every block starts with a header: the size of the block before it and
 * its own size (header included, a multiple of 16), whose low bit says it
 * is in use. A freed block merges at once with a free neighbour on either
 * side, so two free blocks are never adjacent, and waits in the list of
 * its size class. An allocation first looks through its own class for a
 * block that fits, then takes the first block of the next non-empty class
 * up (found in the class bitmap), which always fits, and splits off what
 * it does not need. The region ends with a header of a used, empty block,
 * so the last block never merges past it. */
#include "vk_zone.h"
#include "vk_zone_s.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

struct vk_zone_block {
	size_t prev_size; /* 0: the first block */
	size_t size;	  /* | BLOCK_USED */
};

struct vk_zone_free {
	struct vk_zone_block head;
	struct vk_zone_free *next_ptr;
	struct vk_zone_free *prev_ptr;
};

#define BLOCK_USED ((size_t)1)
#define HEADER sizeof(struct vk_zone_block)
#define MIN_BLOCK sizeof(struct vk_zone_free)

_Static_assert(HEADER == VK_ZONE_ALIGN, "a header keeps blocks aligned");

static size_t size_of(const struct vk_zone_block *block_ptr)
{
	return block_ptr->size & ~BLOCK_USED;
}

static int is_used(const struct vk_zone_block *block_ptr)
{
	return (block_ptr->size & BLOCK_USED) != 0;
}

static struct vk_zone_block *next_of(struct vk_zone_block *block_ptr)
{
	return (struct vk_zone_block *)((char *)block_ptr + size_of(block_ptr));
}

static int class_of(size_t size)
{
	return 63 - __builtin_clzll((unsigned long long)size);
}

static void unlink_free(struct vk_zone *zone_ptr, struct vk_zone_free *free_ptr)
{
	int k = class_of(size_of(&free_ptr->head));

	if (free_ptr->prev_ptr)
		free_ptr->prev_ptr->next_ptr = free_ptr->next_ptr;
	else
		zone_ptr->classes[k] = free_ptr->next_ptr;
	if (free_ptr->next_ptr)
		free_ptr->next_ptr->prev_ptr = free_ptr->prev_ptr;
	if (!zone_ptr->classes[k])
		zone_ptr->class_map &= ~((uint64_t)1 << k);
}

/* A free block (its header set) into its class, and the next block told
 * its size. */
static void link_free(struct vk_zone *zone_ptr, struct vk_zone_block *block_ptr)
{
	struct vk_zone_free *free_ptr = (struct vk_zone_free *)block_ptr;
	int k = class_of(size_of(block_ptr));

	next_of(block_ptr)->prev_size = size_of(block_ptr);
	free_ptr->prev_ptr = NULL;
	free_ptr->next_ptr = zone_ptr->classes[k];
	if (free_ptr->next_ptr)
		free_ptr->next_ptr->prev_ptr = free_ptr;
	zone_ptr->classes[k] = free_ptr;
	zone_ptr->class_map |= (uint64_t)1 << k;
}

void vk_zone_init(struct vk_zone *zone_ptr, void *start_ptr, size_t len)
{
	uintptr_t start = ((uintptr_t)start_ptr + VK_ZONE_ALIGN - 1) & ~(uintptr_t)(VK_ZONE_ALIGN - 1);
	uintptr_t end = ((uintptr_t)start_ptr + len) & ~(uintptr_t)(VK_ZONE_ALIGN - 1);
	struct vk_zone_block *end_ptr;

	memset(zone_ptr, 0, sizeof(*zone_ptr));
	if (len < VK_ZONE_MIN_BYTES || end < start + MIN_BLOCK + HEADER) {
		/* Too small for a block: a zone that refuses everything. */
		zone_ptr->start_ptr = zone_ptr->end_ptr = NULL;
		return;
	}
	zone_ptr->start_ptr = (char *)start;
	zone_ptr->end_ptr = (char *)(end - HEADER);
	end_ptr = (struct vk_zone_block *)zone_ptr->end_ptr;
	end_ptr->size = BLOCK_USED;
	((struct vk_zone_block *)start)->prev_size = 0;
	((struct vk_zone_block *)start)->size = (size_t)(zone_ptr->end_ptr - zone_ptr->start_ptr);
	link_free(zone_ptr, (struct vk_zone_block *)start);
}

int vk_zone_owns(const struct vk_zone *zone_ptr, const void *ptr)
{
	return (const char *)ptr > zone_ptr->start_ptr && (const char *)ptr < zone_ptr->end_ptr;
}

/* A block that fits `need`: first-fit in its own class, else the head of
 * the first larger class. NULL if none. */
static struct vk_zone_free *find(struct vk_zone *zone_ptr, size_t need)
{
	int k = class_of(need);
	uint64_t larger;

	for (struct vk_zone_free *free_ptr = zone_ptr->classes[k]; free_ptr; free_ptr = free_ptr->next_ptr)
		if (size_of(&free_ptr->head) >= need)
			return free_ptr;
	larger = k + 1 < VK_ZONE_CLASSES ? zone_ptr->class_map & ~(((uint64_t)2 << k) - 1) : 0;
	return larger ? zone_ptr->classes[__builtin_ctzll(larger)] : NULL;
}

/* The block keeps `need` bytes; a tail large enough to be a block of its
 * own goes back, merged with a free block after it. */
static void trim(struct vk_zone *zone_ptr, struct vk_zone_block *block_ptr, size_t need)
{
	size_t size = size_of(block_ptr);
	struct vk_zone_block *tail_ptr, *after_ptr;

	if (size - need < MIN_BLOCK)
		return;
	block_ptr->size = need | (block_ptr->size & BLOCK_USED);
	tail_ptr = next_of(block_ptr);
	tail_ptr->prev_size = need;
	tail_ptr->size = size - need;
	after_ptr = next_of(tail_ptr);
	if (!is_used(after_ptr)) {
		unlink_free(zone_ptr, (struct vk_zone_free *)after_ptr);
		tail_ptr->size += size_of(after_ptr);
	}
	link_free(zone_ptr, tail_ptr);
}

/* A request's block size, or 0 if no block could be that large. */
static size_t block_size_for(size_t size)
{
	size_t need;

	if (size > SIZE_MAX / 2)
		return 0;
	need = (size + HEADER + VK_ZONE_ALIGN - 1) & ~(size_t)(VK_ZONE_ALIGN - 1);
	return need < MIN_BLOCK ? MIN_BLOCK : need;
}

static void count_use(struct vk_zone *zone_ptr, long blocks, long bytes)
{
	zone_ptr->live += (size_t)blocks;
	zone_ptr->used += (size_t)bytes;
	if (zone_ptr->used > zone_ptr->peak)
		zone_ptr->peak = zone_ptr->used;
}

void *vk_zone_alloc(struct vk_zone *zone_ptr, size_t size)
{
	size_t need = block_size_for(size);
	struct vk_zone_free *free_ptr = need ? find(zone_ptr, need) : NULL;

	if (!free_ptr) {
		zone_ptr->refused++;
		errno = ENOMEM;
		return NULL;
	}
	unlink_free(zone_ptr, free_ptr);
	free_ptr->head.size |= BLOCK_USED;
	trim(zone_ptr, &free_ptr->head, need);
	count_use(zone_ptr, 1, (long)size_of(&free_ptr->head));
	return (char *)free_ptr + HEADER;
}

/* The block of a pointer the zone gave and has not taken back, or NULL. */
static struct vk_zone_block *block_of(const struct vk_zone *zone_ptr, const void *ptr)
{
	struct vk_zone_block *block_ptr = (struct vk_zone_block *)((char *)ptr - HEADER);
	size_t size;

	if (!vk_zone_owns(zone_ptr, ptr) || ((uintptr_t)ptr & (VK_ZONE_ALIGN - 1)) != 0)
		return NULL;
	size = size_of(block_ptr);
	if (!is_used(block_ptr) || size < MIN_BLOCK || size % VK_ZONE_ALIGN != 0 ||
	    size > (size_t)(zone_ptr->end_ptr - (char *)block_ptr))
		return NULL;
	return block_ptr;
}

void vk_zone_free(struct vk_zone *zone_ptr, void *ptr)
{
	struct vk_zone_block *block_ptr, *next_ptr;

	if (!ptr)
		return;
	block_ptr = block_of(zone_ptr, ptr);
	if (!block_ptr) {
		zone_ptr->bad_frees++;
		return;
	}
	count_use(zone_ptr, -1, -(long)size_of(block_ptr));
	block_ptr->size &= ~BLOCK_USED;
	next_ptr = next_of(block_ptr);
	if (!is_used(next_ptr)) {
		unlink_free(zone_ptr, (struct vk_zone_free *)next_ptr);
		block_ptr->size += size_of(next_ptr);
	}
	if (block_ptr->prev_size) {
		struct vk_zone_block *prev_ptr = (struct vk_zone_block *)((char *)block_ptr - block_ptr->prev_size);

		if (!is_used(prev_ptr)) {
			unlink_free(zone_ptr, (struct vk_zone_free *)prev_ptr);
			prev_ptr->size += size_of(block_ptr);
			block_ptr = prev_ptr;
		}
	}
	link_free(zone_ptr, block_ptr);
}

void *vk_zone_realloc(struct vk_zone *zone_ptr, void *ptr, size_t size)
{
	struct vk_zone_block *block_ptr, *next_ptr;
	size_t need, had;
	void *moved_ptr;

	if (!ptr)
		return vk_zone_alloc(zone_ptr, size);
	if (size == 0) {
		vk_zone_free(zone_ptr, ptr);
		return NULL;
	}
	block_ptr = block_of(zone_ptr, ptr);
	need = block_size_for(size);
	if (!block_ptr || !need) {
		if (!block_ptr)
			zone_ptr->bad_frees++;
		errno = ENOMEM;
		return NULL;
	}
	had = size_of(block_ptr);
	next_ptr = next_of(block_ptr);
	if (had < need && !is_used(next_ptr) && had + size_of(next_ptr) >= need) {
		/* Grows in place into the free block after it. */
		unlink_free(zone_ptr, (struct vk_zone_free *)next_ptr);
		block_ptr->size += size_of(next_ptr);
		next_of(block_ptr)->prev_size = size_of(block_ptr);
	}
	if (size_of(block_ptr) >= need) {
		trim(zone_ptr, block_ptr, need);
		count_use(zone_ptr, 0, (long)size_of(block_ptr) - (long)had);
		return ptr;
	}
	moved_ptr = vk_zone_alloc(zone_ptr, size);
	if (!moved_ptr)
		return NULL;
	memcpy(moved_ptr, ptr, had - HEADER);
	vk_zone_free(zone_ptr, ptr);
	return moved_ptr;
}

size_t vk_zone_usable(const struct vk_zone *zone_ptr, const void *ptr)
{
	const struct vk_zone_block *block_ptr = block_of(zone_ptr, ptr);

	return block_ptr ? size_of(block_ptr) - HEADER : 0;
}

size_t vk_zone_live(const struct vk_zone *zone_ptr)
{
	return zone_ptr->live;
}

size_t vk_zone_used(const struct vk_zone *zone_ptr)
{
	return zone_ptr->used;
}

size_t vk_zone_peak(const struct vk_zone *zone_ptr)
{
	return zone_ptr->peak;
}

size_t vk_zone_refused(const struct vk_zone *zone_ptr)
{
	return zone_ptr->refused;
}

size_t vk_zone_bad_frees(const struct vk_zone *zone_ptr)
{
	return zone_ptr->bad_frees;
}
