#ifndef VK_FD_H
#define VK_FD_H

#include <stdint.h>

struct vk_fd;
struct vk_fd_table;

int vk_fd_table_init(struct vk_fd_table *table_ptr);
void vk_fd_table_fini(struct vk_fd_table *table_ptr);
struct vk_fd *vk_fd_table_get(struct vk_fd_table *table_ptr, int fd);
struct vk_fd *vk_fd_table_lookup(struct vk_fd_table *table_ptr, int fd);
int vk_fd_table_chunks(struct vk_fd_table *table_ptr);

void vk_fd_reset(struct vk_fd *fd_ptr);
uint64_t vk_fd_tag(struct vk_fd *fd_ptr);
int vk_fd_tag_fd(uint64_t tag);
uint32_t vk_fd_tag_gen(uint64_t tag);

#endif
