/* vk_proc: the kernel's process table. Entries come in chunks that never
 * move, and ids are reused through a free list, so the table is as large
 * as the peak number of live processes. */
#include "vk_proc.h"
#include "vk_proc_s.h"
#include "vk_heap.h"
#include "vk_sys.h"
#include "vk_timer.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

static void *map_zeroed(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void vk_proc_table_init(struct vk_proc_table *table_ptr)
{
	memset(table_ptr, 0, sizeof(*table_ptr));
	SLIST_INIT(&table_ptr->free_list);
}

void vk_proc_table_fini(struct vk_proc_table *table_ptr)
{
	for (int i = 0; i < table_ptr->chunk_count; i++)
		if (table_ptr->chunks_ptr[i])
			munmap(table_ptr->chunks_ptr[i], sizeof(struct vk_proc) * VK_PROC_CHUNK);
	if (table_ptr->chunks_ptr)
		munmap(table_ptr->chunks_ptr, sizeof(struct vk_proc *) * (size_t)table_ptr->chunk_count);
	vk_proc_table_init(table_ptr);
}

static struct vk_proc *new_slot(struct vk_proc_table *table_ptr)
{
	int id = table_ptr->slots;
	int index = id / VK_PROC_CHUNK;

	if (index >= table_ptr->chunk_count) {
		int count = table_ptr->chunk_count ? table_ptr->chunk_count * 2 : 4;
		struct vk_proc **chunks_ptr = map_zeroed(sizeof(*chunks_ptr) * (size_t)count);

		if (!chunks_ptr)
			return NULL;
		if (table_ptr->chunks_ptr) {
			memcpy(chunks_ptr, table_ptr->chunks_ptr, sizeof(*chunks_ptr) * (size_t)table_ptr->chunk_count);
			munmap(table_ptr->chunks_ptr, sizeof(*chunks_ptr) * (size_t)table_ptr->chunk_count);
		}
		table_ptr->chunks_ptr = chunks_ptr;
		table_ptr->chunk_count = count;
	}
	if (!table_ptr->chunks_ptr[index]) {
		table_ptr->chunks_ptr[index] = map_zeroed(sizeof(struct vk_proc) * VK_PROC_CHUNK);
		if (!table_ptr->chunks_ptr[index])
			return NULL;
	}
	table_ptr->slots++;
	return &table_ptr->chunks_ptr[index][id % VK_PROC_CHUNK];
}

struct vk_proc *vk_proc_table_alloc(struct vk_proc_table *table_ptr)
{
	struct vk_proc *proc_ptr = SLIST_FIRST(&table_ptr->free_list);
	uint32_t gen;
	int id;

	if (proc_ptr) {
		SLIST_REMOVE_HEAD(&table_ptr->free_list, free_elem);
		id = proc_ptr->id;
	} else {
		id = table_ptr->slots;
		proc_ptr = new_slot(table_ptr);
		if (!proc_ptr)
			return NULL;
	}
	gen = proc_ptr->gen + 1;
	memset(proc_ptr, 0, sizeof(*proc_ptr));
	proc_ptr->id = id;
	proc_ptr->gen = gen;
	proc_ptr->in_use = 1;
	proc_ptr->fd_head = -1;
	vk_timer_init(&proc_ptr->timer, proc_ptr);
	table_ptr->live++;
	return proc_ptr;
}

void vk_proc_table_release(struct vk_proc_table *table_ptr, struct vk_proc *proc_ptr)
{
	if (!proc_ptr->in_use)
		return;
	proc_ptr->in_use = 0;
	table_ptr->live--;
	SLIST_INSERT_HEAD(&table_ptr->free_list, proc_ptr, free_elem);
}

struct vk_proc *vk_proc_table_get(struct vk_proc_table *table_ptr, int id)
{
	if (id < 0 || id >= table_ptr->slots)
		return NULL;
	return &table_ptr->chunks_ptr[id / VK_PROC_CHUNK][id % VK_PROC_CHUNK];
}

int vk_proc_table_live(struct vk_proc_table *table_ptr)
{
	return table_ptr->live;
}

int vk_proc_table_slots(struct vk_proc_table *table_ptr)
{
	return table_ptr->slots;
}

/* ---- hot ranges ----
 *
 * With hundreds of connections, each connection's memory has left the
 * core's caches by the time its next event comes, and a dispatch then
 * waits on every cache line it touches, one after another: at 500 proxied
 * connections that wait was a third of vkgw's user time. A process names
 * the lines it touches on most dispatches (its headers, the start of each
 * ring: an empty ring restarts there); while one process runs, the kernel
 * prefetches those of the next one in the run queue, so its misses
 * overlap the running process's work and system calls instead.
 *
 * A process whose dispatches alternate between stages (a proxy reads a
 * request on one, a response on the next) puts each range in the classes
 * of the stages that touch it, and before it waits selects the classes
 * its next dispatch will need: the other stage's lines are not loaded
 * for nothing, nor push out of the cache what the running process uses. */

/* [ptr, ptr + len), in whole lines, must lie in the process's heap: 0, or
 * -1 with EINVAL (outside, empty, or in no class) or ENOSPC
 * (VK_PROC_HOT_MAX ranges already). Ranges of the same classes that meet
 * or overlap it are joined into one. */
int vk_proc_add_hot(struct vk_proc *proc_ptr, const void *ptr, size_t len, unsigned classes)
{
	uintptr_t start = (uintptr_t)vk_heap_start(&proc_ptr->heap);
	uintptr_t from = (uintptr_t)ptr, first, end;
	int i = 0;

	classes &= VK_HOT_ALL;
	if (!len || !classes || from < start || len > vk_heap_len(&proc_ptr->heap) ||
	    from - start > vk_heap_len(&proc_ptr->heap) - len) {
		errno = EINVAL;
		return -1;
	}
	first = (from & ~(uintptr_t)(VK_CACHE_LINE - 1)) - start;
	end = (from - start + len + VK_CACHE_LINE - 1) & ~(uintptr_t)(VK_CACHE_LINE - 1);
	while (i < proc_ptr->hot_count) {
		uintptr_t off = proc_ptr->hot_off[i], off_end = off + (uintptr_t)proc_ptr->hot_lines[i] * VK_CACHE_LINE;

		if (first > off_end || end < off || proc_ptr->hot_classes[i] != classes) {
			i++;
			continue;
		}
		first = first < off ? first : off;
		end = end > off_end ? end : off_end;
		proc_ptr->hot_count--;
		proc_ptr->hot_off[i] = proc_ptr->hot_off[proc_ptr->hot_count];
		proc_ptr->hot_lines[i] = proc_ptr->hot_lines[proc_ptr->hot_count];
		proc_ptr->hot_classes[i] = proc_ptr->hot_classes[proc_ptr->hot_count];
		i = 0; /* the wider range may meet one passed over */
	}
	if (proc_ptr->hot_count == VK_PROC_HOT_MAX) {
		errno = ENOSPC;
		return -1;
	}
	proc_ptr->hot_off[proc_ptr->hot_count] = (uint32_t)first;
	proc_ptr->hot_lines[proc_ptr->hot_count] = (uint32_t)((end - first) / VK_CACHE_LINE);
	proc_ptr->hot_classes[proc_ptr->hot_count] = (uint8_t)classes;
	proc_ptr->hot_count++;
	return 0;
}

/* The classes to load before the process's next dispatch (all of them
 * until it chooses). */
void vk_proc_select_hot(struct vk_proc *proc_ptr, unsigned classes)
{
	proc_ptr->hot_skip = (uint8_t)(~classes & VK_HOT_ALL);
}

unsigned vk_proc_hot_classes(const struct vk_proc *proc_ptr, int i)
{
	return proc_ptr->hot_classes[i];
}

/* The i-th range is in a class selected for the next dispatch. */
int vk_proc_hot_selected(const struct vk_proc *proc_ptr, int i)
{
	return (proc_ptr->hot_classes[i] & ~proc_ptr->hot_skip) != 0;
}

int vk_proc_hot_count(const struct vk_proc *proc_ptr)
{
	return proc_ptr->hot_count;
}

/* The i-th range: its first line, and how many lines. */
const char *vk_proc_hot_range(const struct vk_proc *proc_ptr, int i, size_t *lines_ptr)
{
	*lines_ptr = proc_ptr->hot_lines[i];
	return (const char *)vk_heap_start((struct vk_heap *)&proc_ptr->heap) + proc_ptr->hot_off[i];
}

/* A prefetch never faults: a hidden heap's lines are simply not loaded.
 * Two lines a turn: this runs before every dispatch. It returns the lines
 * asked for, and the caller counts them: a function whose only effect is
 * prefetching is otherwise one the compiler may drop calls to, wherever it
 * does not inline it. */
size_t vk_proc_prefetch_hot(const struct vk_proc *proc_ptr)
{
	size_t total = 0;

	for (int i = 0; i < proc_ptr->hot_count; i++) {
		size_t lines;
		const char *line_ptr, *end_ptr;

		if (!vk_proc_hot_selected(proc_ptr, i))
			continue;
		line_ptr = vk_proc_hot_range(proc_ptr, i, &lines);
		end_ptr = line_ptr + lines * VK_CACHE_LINE;
		total += lines;
		for (; line_ptr + VK_CACHE_LINE < end_ptr; line_ptr += 2 * VK_CACHE_LINE) {
			__builtin_prefetch(line_ptr, 1, 3);
			__builtin_prefetch(line_ptr + VK_CACHE_LINE, 1, 3);
		}
		if (line_ptr < end_ptr)
			__builtin_prefetch(line_ptr, 1, 3);
	}
	return total;
}
