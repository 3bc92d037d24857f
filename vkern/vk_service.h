#ifndef VK_SERVICE_H
#define VK_SERVICE_H

#include <stddef.h>

#include "vk_thread.h"

struct vk_service;

/* Defaults: 127.0.0.1, ephemeral port, 16 pages, 16 KiB rings each way,
 * no isolation, backlog 4096, TCP_NODELAY on. */
struct vk_service *vk_service_create(const char *name, vk_thread_fn main_fn, void *arg_ptr);
void vk_service_destroy(struct vk_service *service_ptr);
int vk_service_set_address(struct vk_service *service_ptr, const char *address, int port);
void vk_service_set_heap_pages(struct vk_service *service_ptr, size_t pages);
void vk_service_set_buffers(struct vk_service *service_ptr, size_t rx_len, size_t tx_len);
/* How a service's connections are isolated: each one's micro-heap is
 * mprotect()ed away from code that must not reach it.
 *   VK_ISOLATION_OFF        never hidden;
 *   VK_ISOLATION_UNTRUSTED  hidden while another process runs untrusted code
 *                           (between vk_sys_untrusted_begin and _end): the
 *                           cost is paid only where such code runs;
 *   VK_ISOLATION_ALWAYS     all of the process's code counts as untrusted:
 *                           its heap is hidden whenever another process runs,
 *                           and every other isolated heap while it runs. */
enum vk_isolation { VK_ISOLATION_OFF, VK_ISOLATION_UNTRUSTED, VK_ISOLATION_ALWAYS };

void vk_service_set_isolation(struct vk_service *service_ptr, enum vk_isolation isolation);
/* A service that must still answer while the kernel drains (an admin or
 * readiness endpoint saying "draining"): it keeps listening until the
 * kernel stops, and its connections do not hold the drain up. */
void vk_service_set_serves_drain(struct vk_service *service_ptr, int serves_drain);
const char *vk_service_name(struct vk_service *service_ptr);
const char *vk_service_address(struct vk_service *service_ptr);
int vk_service_port(struct vk_service *service_ptr);
size_t vk_service_heap_pages(struct vk_service *service_ptr);
enum vk_isolation vk_service_isolation(struct vk_service *service_ptr);

/* Start-up: bind a non-listening socket to fix the port (port 0 picks
 * one); each kernel then listens on it with SO_REUSEPORT. */
int vk_service_reserve(struct vk_service *service_ptr);
/* This kernel's listening socket: the one an upgrade handed over for
 * kernel `kernel_index` (vk_upgrade.h), else a new one. */
int vk_service_listen(struct vk_service *service_ptr, int kernel_index);
void vk_service_unlisten(struct vk_service *service_ptr);
int vk_service_listen_fd(struct vk_service *service_ptr);

#endif
