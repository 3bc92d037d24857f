/* vk_stack: the micro-heap's allocator. Each block carries a small header
 * (its size and whether it was freed) so frees can come in any order. */
#include "vk_stack.h"
#include "vk_stack_s.h"

#include <stdint.h>
#include <string.h>

struct vk_stack_block {
	size_t size;	  /* whole block, header included */
	size_t prev_size; /* the block below, so frees can walk down */
	size_t freed;
};

#define VK_STACK_HDR ((sizeof(struct vk_stack_block) + VK_STACK_ALIGN - 1) & ~(size_t)(VK_STACK_ALIGN - 1))

static size_t align_up(size_t n)
{
	return (n + VK_STACK_ALIGN - 1) & ~(size_t)(VK_STACK_ALIGN - 1);
}

void vk_stack_init(struct vk_stack *stack_ptr, void *start_ptr, size_t len)
{
	uintptr_t start = ((uintptr_t)start_ptr + VK_STACK_ALIGN - 1) & ~(uintptr_t)(VK_STACK_ALIGN - 1);

	stack_ptr->start_ptr = (char *)start;
	stack_ptr->top_ptr = (char *)start;
	stack_ptr->top_size = 0;
	stack_ptr->end_ptr = (char *)start_ptr + len;
	/* An arena smaller than the alignment gap holds nothing. */
	if (stack_ptr->end_ptr < stack_ptr->start_ptr)
		stack_ptr->end_ptr = stack_ptr->start_ptr;
	stack_ptr->peak = 0;
	stack_ptr->last_failed = 0;
	stack_ptr->zero_ptr = stack_ptr->end_ptr;
	stack_ptr->high_used = 0;
}

/* The caller knows the free part of the arena holds only zero bytes. */
void vk_stack_assume_zeroed(struct vk_stack *stack_ptr)
{
	stack_ptr->zero_ptr = stack_ptr->top_ptr;
}

/* Returns memory (zeroed if asked), or NULL when the heap is exhausted (the
 * size asked for is kept so the caller can say how much was needed). Only
 * the part below the known-zero mark is cleared; any block, raw or not,
 * moves the mark past itself, since its owner writes it. */
static void *push(struct vk_stack *stack_ptr, size_t size, int zero)
{
	struct vk_stack_block *block_ptr;
	size_t total;

	if (size > (size_t)(stack_ptr->end_ptr - stack_ptr->start_ptr))
		goto exhausted;
	total = VK_STACK_HDR + align_up(size);
	if (total > (size_t)(stack_ptr->end_ptr - stack_ptr->top_ptr))
		goto exhausted;
	block_ptr = (struct vk_stack_block *)stack_ptr->top_ptr;
	block_ptr->size = total;
	block_ptr->prev_size = stack_ptr->top_size;
	block_ptr->freed = 0;
	stack_ptr->top_size = total;
	stack_ptr->top_ptr += total;
	if (vk_stack_used(stack_ptr) > stack_ptr->peak)
		stack_ptr->peak = vk_stack_used(stack_ptr);
	if (zero && (char *)block_ptr + VK_STACK_HDR < stack_ptr->zero_ptr) {
		char *to = stack_ptr->top_ptr < stack_ptr->zero_ptr ? stack_ptr->top_ptr : stack_ptr->zero_ptr;

		memset((char *)block_ptr + VK_STACK_HDR, 0, (size_t)(to - ((char *)block_ptr + VK_STACK_HDR)));
	}
	if (stack_ptr->top_ptr > stack_ptr->zero_ptr)
		stack_ptr->zero_ptr = stack_ptr->top_ptr;
	return (char *)block_ptr + VK_STACK_HDR;

exhausted:
	stack_ptr->last_failed = size;
	return NULL;
}

void *vk_stack_push(struct vk_stack *stack_ptr, size_t size)
{
	return push(stack_ptr, size, 1);
}

/* Not zeroed: for a large buffer that is written before it is read, so
 * the pages it never uses are never touched (and never made resident). It
 * may hold what an earlier process of the same heap left there. */
void *vk_stack_push_raw(struct vk_stack *stack_ptr, size_t size)
{
	return push(stack_ptr, size, 0);
}

/* Raw memory from the far end of the arena, for the process's lifetime
 * (never freed): a buffer placed there keeps the small objects the stack
 * hands out next to each other, on few pages. */
void *vk_stack_push_high(struct vk_stack *stack_ptr, size_t size)
{
	size_t total = align_up(size);

	if (size > (size_t)(stack_ptr->end_ptr - stack_ptr->start_ptr) ||
	    total > (size_t)(stack_ptr->end_ptr - stack_ptr->top_ptr)) {
		stack_ptr->last_failed = size;
		return NULL;
	}
	stack_ptr->end_ptr -= total;
	stack_ptr->high_used += total;
	if (stack_ptr->zero_ptr > stack_ptr->end_ptr)
		stack_ptr->zero_ptr = stack_ptr->end_ptr;
	if (vk_stack_used(stack_ptr) > stack_ptr->peak)
		stack_ptr->peak = vk_stack_used(stack_ptr);
	return stack_ptr->end_ptr;
}

/* Drops freed blocks from the top down, so out-of-order frees are reclaimed
 * once what was above them is gone. */
static void reclaim(struct vk_stack *stack_ptr)
{
	while (stack_ptr->top_ptr > stack_ptr->start_ptr) {
		struct vk_stack_block *last_ptr = (struct vk_stack_block *)(stack_ptr->top_ptr - stack_ptr->top_size);

		if (!last_ptr->freed)
			return;
		stack_ptr->top_ptr = (char *)last_ptr;
		stack_ptr->top_size = last_ptr->prev_size;
	}
}

void vk_stack_pop(struct vk_stack *stack_ptr, void *ptr)
{
	struct vk_stack_block *block_ptr;

	if (!ptr || !vk_stack_owns(stack_ptr, ptr))
		return;
	block_ptr = (struct vk_stack_block *)((char *)ptr - VK_STACK_HDR);
	block_ptr->freed = 1;
	reclaim(stack_ptr);
}

size_t vk_stack_used(struct vk_stack *stack_ptr)
{
	return (size_t)(stack_ptr->top_ptr - stack_ptr->start_ptr) + stack_ptr->high_used;
}

size_t vk_stack_avail(struct vk_stack *stack_ptr)
{
	return (size_t)(stack_ptr->end_ptr - stack_ptr->top_ptr);
}

size_t vk_stack_peak(struct vk_stack *stack_ptr)
{
	return stack_ptr->peak;
}

size_t vk_stack_last_failed(struct vk_stack *stack_ptr)
{
	return stack_ptr->last_failed;
}

int vk_stack_owns(struct vk_stack *stack_ptr, void *ptr)
{
	char *p = ptr;

	return p >= stack_ptr->start_ptr + VK_STACK_HDR && p < stack_ptr->top_ptr;
}
