#ifndef VK_THREAD_H
#define VK_THREAD_H

#include <stddef.h>
#include <stdint.h>

struct vk_thread;
struct vk_socket;
struct vk_proc_local;

typedef void (*vk_thread_fn)(struct vk_thread *that);

struct vk_thread *vk_thread_new(struct vk_proc_local *proc_local_ptr, vk_thread_fn func, void *arg_ptr,
				struct vk_socket *socket_ptr);
void vk_thread_free(struct vk_thread *thread_ptr);
void vk_thread_retire(struct vk_thread *thread_ptr, struct vk_thread *keeper_ptr);
void *vk_thread_self(struct vk_thread *thread_ptr, size_t size);
void vk_thread_exit(struct vk_thread *thread_ptr);
void vk_thread_fail_alloc(struct vk_thread *thread_ptr, size_t size);

struct vk_thread *vk_thread_call(struct vk_thread *parent_ptr, vk_thread_fn func, void *arg_ptr);
struct vk_thread *vk_thread_spawn(struct vk_thread *parent_ptr, vk_thread_fn func, void *arg_ptr,
				  struct vk_socket *socket_ptr);

void vk_thread_set_block(struct vk_thread *thread_ptr, struct vk_socket *socket_ptr, int events);
void vk_thread_clear_block(struct vk_thread *thread_ptr);
void vk_thread_wake(struct vk_thread *thread_ptr);
void vk_thread_set_name(struct vk_thread *thread_ptr, const char *name);
const char *vk_thread_name(struct vk_thread *thread_ptr);
int vk_thread_status(struct vk_thread *thread_ptr);
int vk_thread_error(struct vk_thread *thread_ptr);
struct vk_socket *vk_thread_socket(struct vk_thread *thread_ptr);
void vk_thread_set_socket(struct vk_thread *thread_ptr, struct vk_socket *socket_ptr);
struct vk_proc_local *vk_thread_proc_local(struct vk_thread *thread_ptr);
void *vk_thread_arg(struct vk_thread *thread_ptr);

/* Timers: absolute CLOCK_MONOTONIC nanoseconds. */
uint64_t vk_thread_next_timer(struct vk_thread *thread_ptr);
void vk_thread_expire(struct vk_thread *thread_ptr, uint64_t now_ns);

/* Turns a fault caught by the kernel into a raise: 1 if the thread has a
 * handler and was queued to run it, 0 if the process must die. */
int vk_thread_fault(struct vk_thread *thread_ptr, int signo);

#endif
