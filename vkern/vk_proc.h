#ifndef VK_PROC_H
#define VK_PROC_H

#include <stddef.h>

struct vk_proc;
struct vk_proc_table;

void vk_proc_table_init(struct vk_proc_table *table_ptr);
void vk_proc_table_fini(struct vk_proc_table *table_ptr);
struct vk_proc *vk_proc_table_alloc(struct vk_proc_table *table_ptr);
void vk_proc_table_release(struct vk_proc_table *table_ptr, struct vk_proc *proc_ptr);
struct vk_proc *vk_proc_table_get(struct vk_proc_table *table_ptr, int id);
int vk_proc_table_live(struct vk_proc_table *table_ptr);
int vk_proc_table_slots(struct vk_proc_table *table_ptr);

/* Hot ranges: what most of a process's dispatches touch in its heap,
 * loaded into the cache while the process before it runs. */
#define VK_CACHE_LINE 64
/* Classes are bits of the process's choosing (the stage of its work that
 * touches a range); a range in VK_HOT_ALL (vk_sys.h) is loaded before
 * every dispatch. */
int vk_proc_add_hot(struct vk_proc *proc_ptr, const void *ptr, size_t len, unsigned classes);
void vk_proc_select_hot(struct vk_proc *proc_ptr, unsigned classes);
int vk_proc_hot_count(const struct vk_proc *proc_ptr);
const char *vk_proc_hot_range(const struct vk_proc *proc_ptr, int i, size_t *lines_ptr);
unsigned vk_proc_hot_classes(const struct vk_proc *proc_ptr, int i);
int vk_proc_hot_selected(const struct vk_proc *proc_ptr, int i);
size_t vk_proc_prefetch_hot(const struct vk_proc *proc_ptr);

#endif
