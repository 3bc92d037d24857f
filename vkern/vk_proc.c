/* vk_proc: the kernel's process table. Entries come in chunks that never
 * move, and ids are reused through a free list, so the table is as large
 * as the peak number of live processes. */
#include "vk_proc.h"
#include "vk_proc_s.h"
#include "vk_timer.h"

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
