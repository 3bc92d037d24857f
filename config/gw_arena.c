/* gw_arena: bump allocation over anonymous mappings, chunk by chunk.
 * Fresh anonymous pages are zero and the arena never reuses memory, so
 * every allocation comes back zeroed without a memset. */
#include "gw_arena.h"
#include "gw_arena_s.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_size(void)
{
	static size_t size;

	if (!size)
		size = (size_t)sysconf(_SC_PAGESIZE);
	return size;
}

/* Rounds `len` up to a multiple of `align` (a power of two); 0 on overflow. */
static size_t round_up(size_t len, size_t align)
{
	if (len > SIZE_MAX - (align - 1))
		return 0;
	return (len + align - 1) & ~(align - 1);
}

/* Maps a chunk with at least `min_data` bytes of room after its header. */
static struct gw_arena_chunk *map_chunk(size_t min_data, size_t chunk_bytes)
{
	size_t header = offsetof(struct gw_arena_chunk, data);
	size_t len = 0;
	struct gw_arena_chunk *chunk_ptr;

	if (min_data <= SIZE_MAX - header)
		len = round_up(header + min_data > chunk_bytes ? header + min_data : chunk_bytes, page_size());
	if (len == 0) {
		errno = ENOMEM;
		return NULL;
	}
	chunk_ptr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (chunk_ptr == MAP_FAILED)
		return NULL;
	chunk_ptr->next_ptr = NULL;
	chunk_ptr->len = len;
	return chunk_ptr;
}

struct gw_arena *gw_arena_create(size_t chunk_bytes)
{
	size_t self = round_up(sizeof(struct gw_arena), GW_ARENA_ALIGN);
	struct gw_arena_chunk *chunk_ptr;
	struct gw_arena *arena_ptr;

	if (chunk_bytes == 0)
		chunk_bytes = GW_ARENA_DEFAULT_CHUNK_BYTES;
	chunk_ptr = map_chunk(self, chunk_bytes);
	if (!chunk_ptr)
		return NULL;
	arena_ptr = (struct gw_arena *)chunk_ptr->data;
	arena_ptr->chunks_ptr = chunk_ptr;
	arena_ptr->next_ptr = chunk_ptr->data + self;
	arena_ptr->end_ptr = (char *)chunk_ptr + chunk_ptr->len;
	arena_ptr->chunk_bytes = chunk_bytes;
	arena_ptr->mapped_bytes = chunk_ptr->len;
	arena_ptr->chunk_count = 1;
	return arena_ptr;
}

void gw_arena_destroy(struct gw_arena *arena_ptr)
{
	struct gw_arena_chunk *chunk_ptr;

	if (!arena_ptr)
		return;
	/* The arena itself lives in the oldest chunk, the last one unmapped. */
	chunk_ptr = arena_ptr->chunks_ptr;
	while (chunk_ptr) {
		struct gw_arena_chunk *next_ptr = chunk_ptr->next_ptr;

		munmap(chunk_ptr, chunk_ptr->len);
		chunk_ptr = next_ptr;
	}
}

void *gw_arena_alloc(struct gw_arena *arena_ptr, size_t len)
{
	size_t need = round_up(len ? len : 1, GW_ARENA_ALIGN);
	struct gw_arena_chunk *chunk_ptr;
	char *start_ptr;

	if (arena_ptr->sealed) {
		errno = EPERM;
		return NULL;
	}
	if (need == 0) {
		errno = ENOMEM;
		return NULL;
	}
	if (need <= (size_t)(arena_ptr->end_ptr - arena_ptr->next_ptr)) {
		start_ptr = arena_ptr->next_ptr;
		arena_ptr->next_ptr += need;
		arena_ptr->used_bytes += need;
		return start_ptr;
	}
	chunk_ptr = map_chunk(need, arena_ptr->chunk_bytes);
	if (!chunk_ptr)
		return NULL;
	chunk_ptr->next_ptr = arena_ptr->chunks_ptr;
	arena_ptr->chunks_ptr = chunk_ptr;
	arena_ptr->mapped_bytes += chunk_ptr->len;
	arena_ptr->chunk_count++;
	arena_ptr->used_bytes += need;
	start_ptr = chunk_ptr->data;
	/* Bump on in whichever chunk has more room left: a large request gets
	 * its own chunk without wasting the rest of the current one. */
	if ((size_t)((char *)chunk_ptr + chunk_ptr->len - (start_ptr + need)) >
	    (size_t)(arena_ptr->end_ptr - arena_ptr->next_ptr)) {
		arena_ptr->next_ptr = start_ptr + need;
		arena_ptr->end_ptr = (char *)chunk_ptr + chunk_ptr->len;
	}
	return start_ptr;
}

void *gw_arena_memdup(struct gw_arena *arena_ptr, const void *src_ptr, size_t len)
{
	void *copy_ptr = gw_arena_alloc(arena_ptr, len);

	if (copy_ptr && len)
		memcpy(copy_ptr, src_ptr, len);
	return copy_ptr;
}

/* The first n bytes of str, NUL-terminated. */
static char *copy_string(struct gw_arena *arena_ptr, const char *str, size_t n)
{
	char *copy_ptr;

	if (n == SIZE_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	copy_ptr = gw_arena_alloc(arena_ptr, n + 1);
	if (copy_ptr)
		memcpy(copy_ptr, str, n);
	return copy_ptr;
}

char *gw_arena_strndup(struct gw_arena *arena_ptr, const char *str, size_t len)
{
	return copy_string(arena_ptr, str, strnlen(str, len));
}

char *gw_arena_strdup(struct gw_arena *arena_ptr, const char *str)
{
	return copy_string(arena_ptr, str, strlen(str));
}

char *gw_arena_vprintf(struct gw_arena *arena_ptr, const char *fmt, va_list ap)
{
	va_list again;
	char *text_ptr;
	int n;

	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n < 0) {
		va_end(again);
		errno = EINVAL;
		return NULL;
	}
	text_ptr = gw_arena_alloc(arena_ptr, (size_t)n + 1);
	if (text_ptr)
		vsnprintf(text_ptr, (size_t)n + 1, fmt, again);
	va_end(again);
	return text_ptr;
}

char *gw_arena_printf(struct gw_arena *arena_ptr, const char *fmt, ...)
{
	va_list ap;
	char *text_ptr;

	va_start(ap, fmt);
	text_ptr = gw_arena_vprintf(arena_ptr, fmt, ap);
	va_end(ap);
	return text_ptr;
}

/* Sets every chunk's protection; the headers stay readable either way. */
static int protect_chunks(struct gw_arena *arena_ptr, int prot)
{
	for (struct gw_arena_chunk *chunk_ptr = arena_ptr->chunks_ptr; chunk_ptr; chunk_ptr = chunk_ptr->next_ptr)
		if (mprotect(chunk_ptr, chunk_ptr->len, prot) == -1)
			return -1;
	return 0;
}

int gw_arena_seal(struct gw_arena *arena_ptr)
{
	if (arena_ptr->sealed)
		return 0;
	/* Set first: once the oldest chunk is read-only the flag can't be
	 * written. Reading chunk headers stays possible throughout. */
	arena_ptr->sealed = 1;
	if (protect_chunks(arena_ptr, PROT_READ) == -1) {
		int saved = errno;

		protect_chunks(arena_ptr, PROT_READ | PROT_WRITE);
		arena_ptr->sealed = 0;
		errno = saved;
		return -1;
	}
	return 0;
}

int gw_arena_unseal(struct gw_arena *arena_ptr)
{
	if (!arena_ptr->sealed)
		return 0;
	if (protect_chunks(arena_ptr, PROT_READ | PROT_WRITE) == -1)
		return -1;
	arena_ptr->sealed = 0;
	return 0;
}

int gw_arena_is_sealed(const struct gw_arena *arena_ptr)
{
	return arena_ptr->sealed;
}

int gw_arena_contains(const struct gw_arena *arena_ptr, const void *addr_ptr, size_t len)
{
	uintptr_t start = (uintptr_t)addr_ptr;

	if (len > UINTPTR_MAX - start)
		return 0;
	for (const struct gw_arena_chunk *chunk_ptr = arena_ptr->chunks_ptr; chunk_ptr;
	     chunk_ptr = chunk_ptr->next_ptr) {
		uintptr_t lo = (uintptr_t)chunk_ptr->data;
		uintptr_t hi = (uintptr_t)chunk_ptr + chunk_ptr->len;

		if (start >= lo && start + len <= hi)
			return 1;
	}
	return 0;
}

size_t gw_arena_used(const struct gw_arena *arena_ptr)
{
	return arena_ptr->used_bytes;
}

size_t gw_arena_mapped(const struct gw_arena *arena_ptr)
{
	return arena_ptr->mapped_bytes;
}

int gw_arena_chunk_count(const struct gw_arena *arena_ptr)
{
	return arena_ptr->chunk_count;
}
