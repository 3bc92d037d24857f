/* vk_service: what a kernel accepts connections for. */
#include "vk_service.h"
#include "vk_service_s.h"
#include "vk_upgrade.h"
#include "vk_pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define VK_SERVICE_DEFAULT_PAGES 16
#define VK_SERVICE_DEFAULT_RING (16 * 1024)
#define VK_SERVICE_DEFAULT_BACKLOG 4096

struct vk_service *vk_service_create(const char *name, vk_thread_fn main_fn, void *arg_ptr)
{
	struct vk_service *service_ptr = calloc(1, sizeof(*service_ptr));

	if (!service_ptr)
		return NULL;
	service_ptr->name = name;
	snprintf(service_ptr->address, sizeof(service_ptr->address), "127.0.0.1");
	service_ptr->main_fn = main_fn;
	service_ptr->arg_ptr = arg_ptr;
	service_ptr->heap_pages = VK_SERVICE_DEFAULT_PAGES;
	service_ptr->rx_len = VK_SERVICE_DEFAULT_RING;
	service_ptr->tx_len = VK_SERVICE_DEFAULT_RING;
	service_ptr->backlog = VK_SERVICE_DEFAULT_BACKLOG;
	service_ptr->nodelay = 1;
	service_ptr->reserve_fd = -1;
	service_ptr->listen_fd = -1;
	return service_ptr;
}

void vk_service_destroy(struct vk_service *service_ptr)
{
	if (!service_ptr)
		return;
	vk_service_unlisten(service_ptr);
	if (service_ptr->reserve_fd >= 0)
		close(service_ptr->reserve_fd);
	vk_pool_fini(&service_ptr->pool);
	free(service_ptr);
}

int vk_service_set_address(struct vk_service *service_ptr, const char *address, int port)
{
	struct in_addr probe;

	if (strlen(address) >= sizeof(service_ptr->address) || inet_pton(AF_INET, address, &probe) != 1 || port < 0 ||
	    port > 65535) {
		errno = EINVAL;
		return -1;
	}
	snprintf(service_ptr->address, sizeof(service_ptr->address), "%s", address);
	service_ptr->port = port;
	return 0;
}

void vk_service_set_heap_pages(struct vk_service *service_ptr, size_t pages)
{
	service_ptr->heap_pages = pages;
}

void vk_service_set_buffers(struct vk_service *service_ptr, size_t rx_len, size_t tx_len)
{
	service_ptr->rx_len = rx_len;
	service_ptr->tx_len = tx_len;
}

void vk_service_set_isolation(struct vk_service *service_ptr, enum vk_isolation isolation)
{
	service_ptr->isolation = isolation;
}

const char *vk_service_name(struct vk_service *service_ptr)
{
	return service_ptr->name;
}

const char *vk_service_address(struct vk_service *service_ptr)
{
	return service_ptr->address;
}

int vk_service_port(struct vk_service *service_ptr)
{
	return service_ptr->port;
}

size_t vk_service_heap_pages(struct vk_service *service_ptr)
{
	return service_ptr->heap_pages;
}

void vk_service_set_serves_drain(struct vk_service *service_ptr, int serves_drain)
{
	service_ptr->serves_drain = serves_drain;
}

enum vk_isolation vk_service_isolation(struct vk_service *service_ptr)
{
	return service_ptr->isolation;
}

static int bound_socket(struct vk_service *service_ptr)
{
	struct sockaddr_in sa;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)service_ptr->port);
	inet_pton(AF_INET, service_ptr->address, &sa.sin_addr);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int vk_service_reserve(struct vk_service *service_ptr)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = bound_socket(service_ptr);

	if (fd == -1)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&sa, &len) == -1) {
		close(fd);
		return -1;
	}
	service_ptr->port = ntohs(sa.sin_port);
	service_ptr->reserve_fd = fd;
	return 0;
}

int vk_service_listen(struct vk_service *service_ptr, int kernel_index)
{
	int fd = vk_upgrade_inherited_fd(service_ptr->name, service_ptr->address, service_ptr->port, kernel_index);

	if (fd < 0)
		fd = bound_socket(service_ptr);

	if (fd == -1)
		return -1;
	if (listen(fd, service_ptr->backlog) == -1) {
		close(fd);
		return -1;
	}
	service_ptr->listen_fd = fd;
	return 0;
}

void vk_service_unlisten(struct vk_service *service_ptr)
{
	if (service_ptr->listen_fd >= 0)
		close(service_ptr->listen_fd);
	service_ptr->listen_fd = -1;
}

int vk_service_listen_fd(struct vk_service *service_ptr)
{
	return service_ptr->listen_fd;
}
