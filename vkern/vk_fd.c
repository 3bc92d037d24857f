/* vk_fd: the kernel's table of file descriptors, grown a chunk at a time
 * as descriptors are used, up to RLIMIT_NOFILE. */
#include "vk_fd.h"
#include "vk_fd_s.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

static void *map_zeroed(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int vk_fd_table_init(struct vk_fd_table *table_ptr)
{
	struct rlimit rl;

	memset(table_ptr, 0, sizeof(*table_ptr));
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	table_ptr->limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30) ? (1 << 30) : (int)rl.rlim_cur;
	return 0;
}

void vk_fd_table_fini(struct vk_fd_table *table_ptr)
{
	for (int i = 0; i < table_ptr->chunk_count; i++)
		if (table_ptr->chunks_ptr[i])
			munmap(table_ptr->chunks_ptr[i], sizeof(struct vk_fd) * VK_FD_CHUNK);
	if (table_ptr->chunks_ptr)
		munmap(table_ptr->chunks_ptr, sizeof(struct vk_fd *) * (size_t)table_ptr->chunk_count);
	memset(table_ptr, 0, sizeof(*table_ptr));
}

/* Doubles the chunk directory until it covers chunk `index`. */
static int grow_directory(struct vk_fd_table *table_ptr, int index)
{
	int count = table_ptr->chunk_count ? table_ptr->chunk_count : 4;
	struct vk_fd **chunks_ptr;

	while (count <= index)
		count *= 2;
	chunks_ptr = map_zeroed(sizeof(*chunks_ptr) * (size_t)count);
	if (!chunks_ptr)
		return -1;
	if (table_ptr->chunks_ptr) {
		memcpy(chunks_ptr, table_ptr->chunks_ptr, sizeof(*chunks_ptr) * (size_t)table_ptr->chunk_count);
		munmap(table_ptr->chunks_ptr, sizeof(*chunks_ptr) * (size_t)table_ptr->chunk_count);
	}
	table_ptr->chunks_ptr = chunks_ptr;
	table_ptr->chunk_count = count;
	return 0;
}

/* The entry for fd, created on first use. */
struct vk_fd *vk_fd_table_get(struct vk_fd_table *table_ptr, int fd)
{
	int index = fd / VK_FD_CHUNK;
	struct vk_fd *chunk_ptr;

	if (fd < 0 || fd >= table_ptr->limit) {
		errno = EBADF;
		return NULL;
	}
	if (index >= table_ptr->chunk_count && grow_directory(table_ptr, index) == -1)
		return NULL;
	chunk_ptr = table_ptr->chunks_ptr[index];
	if (!chunk_ptr) {
		chunk_ptr = map_zeroed(sizeof(struct vk_fd) * VK_FD_CHUNK);
		if (!chunk_ptr)
			return NULL;
		for (int i = 0; i < VK_FD_CHUNK; i++) {
			chunk_ptr[i].fd = index * VK_FD_CHUNK + i;
			vk_fd_reset(&chunk_ptr[i]);
		}
		table_ptr->chunks_ptr[index] = chunk_ptr;
	}
	return &chunk_ptr[fd % VK_FD_CHUNK];
}

/* The entry for fd if its chunk exists, without creating anything. */
struct vk_fd *vk_fd_table_lookup(struct vk_fd_table *table_ptr, int fd)
{
	int index = fd / VK_FD_CHUNK;

	if (fd < 0 || index >= table_ptr->chunk_count || !table_ptr->chunks_ptr[index])
		return NULL;
	return &table_ptr->chunks_ptr[index][fd % VK_FD_CHUNK];
}

int vk_fd_table_chunks(struct vk_fd_table *table_ptr)
{
	int used = 0;

	for (int i = 0; i < table_ptr->chunk_count; i++)
		used += table_ptr->chunks_ptr[i] != NULL;
	return used;
}

/* Back to free; the generation moves on so late events are recognised. */
void vk_fd_reset(struct vk_fd *fd_ptr)
{
	int fd = fd_ptr->fd;
	uint32_t gen = fd_ptr->gen + 1;

	memset(fd_ptr, 0, sizeof(*fd_ptr));
	fd_ptr->fd = fd;
	fd_ptr->gen = gen;
	fd_ptr->kind = VK_FD_FREE;
	fd_ptr->owner = -1;
	fd_ptr->slot = -1;
	fd_ptr->owner_next = -1;
	fd_ptr->owner_prev = -1;
}

uint64_t vk_fd_tag(struct vk_fd *fd_ptr)
{
	return ((uint64_t)fd_ptr->gen << 32) | (uint32_t)fd_ptr->fd;
}

int vk_fd_tag_fd(uint64_t tag)
{
	return (int)(uint32_t)tag;
}

uint32_t vk_fd_tag_gen(uint64_t tag)
{
	return (uint32_t)(tag >> 32);
}
