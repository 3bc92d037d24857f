/* vk_timer: a kernel's timers, a binary min-heap keyed on deadline. Each
 * process has at most one entry (its nearest wake-up), so the heap is
 * proportional to sleeping processes, not to timers asked for. */
#include "vk_timer.h"
#include "vk_timer_s.h"

#include <stdlib.h>
#include <time.h>

uint64_t vk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vk_timer_init(struct vk_timer *timer_ptr, void *owner_ptr)
{
	timer_ptr->when_ns = 0;
	timer_ptr->index = -1;
	timer_ptr->owner_ptr = owner_ptr;
}

int vk_timer_scheduled(struct vk_timer *timer_ptr)
{
	return timer_ptr->index >= 0;
}

uint64_t vk_timer_when(struct vk_timer *timer_ptr)
{
	return timer_ptr->when_ns;
}

void *vk_timer_owner(struct vk_timer *timer_ptr)
{
	return timer_ptr->owner_ptr;
}

void vk_timer_heap_init(struct vk_timer_heap *heap_ptr)
{
	heap_ptr->items_ptr = NULL;
	heap_ptr->len = 0;
	heap_ptr->cap = 0;
}

void vk_timer_heap_fini(struct vk_timer_heap *heap_ptr)
{
	free(heap_ptr->items_ptr);
	vk_timer_heap_init(heap_ptr);
}

static void place(struct vk_timer_heap *heap_ptr, int i, struct vk_timer *timer_ptr)
{
	heap_ptr->items_ptr[i] = timer_ptr;
	timer_ptr->index = i;
}

static void sift_up(struct vk_timer_heap *heap_ptr, int i)
{
	struct vk_timer *timer_ptr = heap_ptr->items_ptr[i];

	while (i > 0) {
		int parent = (i - 1) / 2;

		if (heap_ptr->items_ptr[parent]->when_ns <= timer_ptr->when_ns)
			break;
		place(heap_ptr, i, heap_ptr->items_ptr[parent]);
		i = parent;
	}
	place(heap_ptr, i, timer_ptr);
}

static void sift_down(struct vk_timer_heap *heap_ptr, int i)
{
	struct vk_timer *timer_ptr = heap_ptr->items_ptr[i];

	for (;;) {
		int child = 2 * i + 1;

		if (child >= heap_ptr->len)
			break;
		if (child + 1 < heap_ptr->len &&
		    heap_ptr->items_ptr[child + 1]->when_ns < heap_ptr->items_ptr[child]->when_ns)
			child++;
		if (timer_ptr->when_ns <= heap_ptr->items_ptr[child]->when_ns)
			break;
		place(heap_ptr, i, heap_ptr->items_ptr[child]);
		i = child;
	}
	place(heap_ptr, i, timer_ptr);
}

static void remove_at(struct vk_timer_heap *heap_ptr, int i)
{
	struct vk_timer *last_ptr = heap_ptr->items_ptr[--heap_ptr->len];

	heap_ptr->items_ptr[i]->index = -1;
	if (i == heap_ptr->len)
		return;
	place(heap_ptr, i, last_ptr);
	sift_down(heap_ptr, i);
	sift_up(heap_ptr, last_ptr->index);
}

int vk_timer_set(struct vk_timer_heap *heap_ptr, struct vk_timer *timer_ptr, uint64_t when_ns)
{
	if (when_ns == 0) {
		if (timer_ptr->index >= 0)
			remove_at(heap_ptr, timer_ptr->index);
		timer_ptr->when_ns = 0;
		return 0;
	}
	if (timer_ptr->index >= 0) {
		uint64_t old = timer_ptr->when_ns;

		timer_ptr->when_ns = when_ns;
		if (when_ns < old)
			sift_up(heap_ptr, timer_ptr->index);
		else
			sift_down(heap_ptr, timer_ptr->index);
		return 0;
	}
	if (heap_ptr->len == heap_ptr->cap) {
		int cap = heap_ptr->cap ? heap_ptr->cap * 2 : 64;
		struct vk_timer **p = realloc(heap_ptr->items_ptr, sizeof(*p) * (size_t)cap);

		if (!p)
			return -1;
		heap_ptr->items_ptr = p;
		heap_ptr->cap = cap;
	}
	timer_ptr->when_ns = when_ns;
	place(heap_ptr, heap_ptr->len++, timer_ptr);
	sift_up(heap_ptr, timer_ptr->index);
	return 0;
}

struct vk_timer *vk_timer_heap_peek(struct vk_timer_heap *heap_ptr)
{
	return heap_ptr->len ? heap_ptr->items_ptr[0] : NULL;
}

struct vk_timer *vk_timer_heap_pop_expired(struct vk_timer_heap *heap_ptr, uint64_t now_ns)
{
	struct vk_timer *timer_ptr = vk_timer_heap_peek(heap_ptr);

	if (!timer_ptr || timer_ptr->when_ns > now_ns)
		return NULL;
	remove_at(heap_ptr, 0);
	timer_ptr->when_ns = 0;
	return timer_ptr;
}

int vk_timer_heap_len(struct vk_timer_heap *heap_ptr)
{
	return heap_ptr->len;
}
