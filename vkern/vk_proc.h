#ifndef VK_PROC_H
#define VK_PROC_H

struct vk_proc;
struct vk_proc_table;

void vk_proc_table_init(struct vk_proc_table *table_ptr);
void vk_proc_table_fini(struct vk_proc_table *table_ptr);
struct vk_proc *vk_proc_table_alloc(struct vk_proc_table *table_ptr);
void vk_proc_table_release(struct vk_proc_table *table_ptr, struct vk_proc *proc_ptr);
struct vk_proc *vk_proc_table_get(struct vk_proc_table *table_ptr, int id);
int vk_proc_table_live(struct vk_proc_table *table_ptr);
int vk_proc_table_slots(struct vk_proc_table *table_ptr);

#endif
