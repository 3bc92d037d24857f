#ifndef VK_PROC_LOCAL_H
#define VK_PROC_LOCAL_H

#include <stddef.h>
#include <stdint.h>

struct vk_proc_local;
struct vk_thread;
struct vk_socket;

enum vk_proc_run {
	VK_PROC_ALIVE,	/* blocked, waiting for the kernel */
	VK_PROC_ENDED,	/* every thread ended */
	VK_PROC_FAILED, /* a thread ended with an unhandled error */
};

struct vk_proc_local *vk_proc_local_create(void *heap_start, size_t heap_len, size_t pages);
/* The heap is known to be all zero bytes (vk_heap_zeroed): zeroed
 * allocations write nothing, so untouched pages stay out of RSS. */
void vk_proc_local_heap_zeroed(struct vk_proc_local *proc_local_ptr);
/* Raw memory from the far end of the heap, for the process's lifetime. */
void *vk_proc_local_alloc_high(struct vk_proc_local *proc_local_ptr, size_t size);
/* [ptr, ptr + len): memory whose content is dead while the process waits
 * for a request (a connection's head buffers, say); at most
 * VK_PROC_LOCAL_SPARES ranges. After VK_IDLE_RELEASE_MS in
 * vk_wait_request, their pages and those of every empty ring go back to
 * the OS (vk_proc_local_release_idle), and read as zeros after. */
int vk_proc_local_add_spare(struct vk_proc_local *proc_local_ptr, void *ptr, size_t len);
void vk_proc_local_release_idle(struct vk_proc_local *proc_local_ptr);
void *vk_proc_local_alloc(struct vk_proc_local *proc_local_ptr, size_t size);
/* The same, not zeroed: a large buffer written before it is read. */
void *vk_proc_local_alloc_raw(struct vk_proc_local *proc_local_ptr, size_t size);
void vk_proc_local_free(struct vk_proc_local *proc_local_ptr, void *ptr);
size_t vk_proc_local_used(struct vk_proc_local *proc_local_ptr);
size_t vk_proc_local_peak(struct vk_proc_local *proc_local_ptr);
void vk_proc_local_add_thread(struct vk_proc_local *proc_local_ptr, struct vk_thread *thread_ptr);
void vk_proc_local_track_socket(struct vk_proc_local *proc_local_ptr, struct vk_socket *socket_ptr);
void vk_proc_local_forget_socket(struct vk_proc_local *proc_local_ptr, struct vk_socket *socket_ptr);
void vk_proc_local_enqueue(struct vk_proc_local *proc_local_ptr, struct vk_thread *thread_ptr);
void vk_proc_local_enqueue_first(struct vk_proc_local *proc_local_ptr, struct vk_thread *thread_ptr);
void vk_proc_local_run_call(struct vk_proc_local *proc_local_ptr, struct vk_thread *parent_ptr,
			    struct vk_thread *child_ptr);
int vk_proc_local_thread_count(struct vk_proc_local *proc_local_ptr);
void vk_proc_local_set_user(struct vk_proc_local *proc_local_ptr, void *user_ptr);
void *vk_proc_local_user(struct vk_proc_local *proc_local_ptr);

enum vk_proc_run vk_proc_local_run(struct vk_proc_local *proc_local_ptr);

/* Kernel -> process, during dispatch. */
void vk_proc_local_fd_event(struct vk_proc_local *proc_local_ptr, int fd, int events);
void vk_proc_local_expire(struct vk_proc_local *proc_local_ptr, uint64_t now_ns);
void vk_proc_local_drain(struct vk_proc_local *proc_local_ptr);
void vk_proc_local_notify(struct vk_proc_local *proc_local_ptr);
int vk_proc_local_draining(struct vk_proc_local *proc_local_ptr);
int vk_proc_local_fault(struct vk_proc_local *proc_local_ptr, int signo);

/* Process -> kernel, after a run: each fd a blocked thread waits on, and
 * the earliest timer (0: none). Returns how many waits the kernel can end
 * (fd waits and timers); none with live threads means a deadlock. */
typedef void (*vk_block_cb)(void *ctx_ptr, int fd, int events);
int vk_proc_local_blocks(struct vk_proc_local *proc_local_ptr, vk_block_cb cb, void *ctx_ptr, uint64_t *timer_ns);

int vk_proc_local_failed_error(struct vk_proc_local *proc_local_ptr);
/* Pages the last failed allocation would have needed (0: none failed). */
size_t vk_proc_local_alloc_failed_pages(struct vk_proc_local *proc_local_ptr);

/* Why the process failed, one line. */
void vk_proc_local_describe_failure(struct vk_proc_local *proc_local_ptr, char *buf, size_t len);

#endif
