#ifndef VK_PROC_S_H
#define VK_PROC_S_H

#include <stdint.h>
#include <sys/queue.h>

#include "vk_heap_s.h"
#include "vk_service.h"
#include "vk_timer_s.h"

/* The kernel's record of a micro-process, in kernel memory. It points into
 * the process heap; nothing in the heap points back. */
/* Ranges of its heap a process has said most dispatches touch. */
#define VK_PROC_HOT_MAX 16

struct vk_proc {
	int id;
	uint32_t gen; /* uses of this slot: with id, names one process */
	int in_use;
	struct vk_heap heap;
	struct vk_proc_local *proc_local_ptr;
	struct vk_service *service_ptr; /* NULL for a process started by vk_sys_spawn() */
	const char *name;
	enum vk_isolation isolation;
	int faulted; /* signal of the last fault it survived (vk_sys_faulted) */
	int fd_head; /* first fd owned, -1 if none; linked through vk_fd */
	struct vk_timer timer;
	unsigned queued : 1;
	unsigned timer_fired : 1;
	unsigned drain_pending : 1;
	unsigned notify_pending : 1; /* vk_sys_notify() */
	uint64_t dispatches;
	unsigned on_shown_q : 1;
	unsigned untrusted : 1; /* between vk_sys_untrusted_begin and _end */
	/* Whole cache lines, from the heap's start (vk_proc_add_hot), each
	 * with its classes; those in hot_skip are left out of the prefetch
	 * before the next dispatch (vk_proc_select_hot). */
	uint8_t hot_count;
	uint8_t hot_skip;
	uint8_t hot_classes[VK_PROC_HOT_MAX];
	uint32_t hot_lines[VK_PROC_HOT_MAX];
	uint32_t hot_off[VK_PROC_HOT_MAX];
	TAILQ_ENTRY(vk_proc) run_elem;
	TAILQ_ENTRY(vk_proc) shown_elem; /* its isolated heap is visible */
	SLIST_ENTRY(vk_proc) free_elem;
};

#define VK_PROC_CHUNK 256

struct vk_proc_table {
	struct vk_proc **chunks_ptr;
	int chunk_count; /* directory size */
	int slots;	 /* process ids handed out so far */
	int live;
	SLIST_HEAD(, vk_proc) free_list;
};

#endif
