/* vk_upgrade: see the .h. */
#include "vk_upgrade.h"
#include "vk_service.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define VK_UPGRADE_FDS_MAX 1024
#define VK_UPGRADE_NAME_MAX 80

struct vk_upgrade_socket {
	char name[VK_UPGRADE_NAME_MAX]; /* the service's, or "@ADDR:PORT" */
	int fd;
	int taken;
};

static char vk_upgrade_path[PATH_MAX];
static char **vk_upgrade_argv;
static pid_t vk_upgrade_child;
static pid_t vk_upgrade_from;
static struct vk_upgrade_socket vk_upgrade_inherited[VK_UPGRADE_FDS_MAX];
static int vk_upgrade_inherited_count;

int vk_upgrade_set_program(char **argv)
{
	ssize_t len = readlink("/proc/self/exe", vk_upgrade_path, sizeof(vk_upgrade_path) - 1);

	if (len <= 0)
		return -1;
	vk_upgrade_path[len] = '\0';
	vk_upgrade_argv = argv;
	return 0;
}

pid_t vk_upgrade_successor(void)
{
	return vk_upgrade_child;
}

/* "@ADDR:PORT" of an IPv4 listening socket, or -1 for anything else. */
static int socket_place(int fd, char *place, size_t len, int *port_ptr)
{
	struct sockaddr_in sa;
	socklen_t sa_len = sizeof(sa);
	int listening = 0;
	socklen_t opt_len = sizeof(listening);
	char address[INET_ADDRSTRLEN];

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &opt_len) == -1 || !listening ||
	    getsockname(fd, (struct sockaddr *)&sa, &sa_len) == -1 || sa.sin_family != AF_INET ||
	    !inet_ntop(AF_INET, &sa.sin_addr, address, sizeof(address)))
		return -1;
	*port_ptr = ntohs(sa.sin_port);
	snprintf(place, len, "@%s:%d", address, *port_ptr);
	return 0;
}

/* The name a socket goes by: the service on its address and port, else
 * its place. */
static void socket_name(const char *place, int port, struct vk_service **services_ptr, int count, char *name,
			size_t len)
{
	for (int i = 0; i < count; i++) {
		char service_place[VK_UPGRADE_NAME_MAX];

		snprintf(service_place, sizeof(service_place), "@%s:%d", vk_service_address(services_ptr[i]),
			 vk_service_port(services_ptr[i]));
		if (vk_service_port(services_ptr[i]) == port && strcmp(service_place, place) == 0) {
			snprintf(name, len, "%s", vk_service_name(services_ptr[i]));
			return;
		}
	}
	snprintf(name, len, "%s", place);
}

/* The listening sockets of process `pid`, copied into this one. */
static int collect(pid_t pid, struct vk_upgrade_socket *sockets_ptr, int *count_ptr, struct vk_service **services_ptr,
		   int count)
{
	char dir_path[64];
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	DIR *dir_ptr;
	struct dirent *entry_ptr;

	if (pidfd == -1)
		return -1;
	snprintf(dir_path, sizeof(dir_path), "/proc/%d/fd", (int)pid);
	dir_ptr = opendir(dir_path);
	if (!dir_ptr) {
		close(pidfd);
		return -1;
	}
	while ((entry_ptr = readdir(dir_ptr)) && *count_ptr < VK_UPGRADE_FDS_MAX) {
		char link_path[sizeof(dir_path) + sizeof(entry_ptr->d_name) + 1], target[64],
			place[VK_UPGRADE_NAME_MAX];
		ssize_t len;
		int fd, port;

		if (entry_ptr->d_name[0] == '.')
			continue;
		snprintf(link_path, sizeof(link_path), "%s/%s", dir_path, entry_ptr->d_name);
		len = readlink(link_path, target, sizeof(target) - 1);
		if (len <= 0 || strncmp(target, "socket:", 7) != 0)
			continue;
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(entry_ptr->d_name), 0);
		if (fd == -1)
			continue;
		if (socket_place(fd, place, sizeof(place), &port) == -1) {
			close(fd);
			continue;
		}
		sockets_ptr[*count_ptr].fd = fd;
		socket_name(place, port, services_ptr, count, sockets_ptr[*count_ptr].name,
			    sizeof(sockets_ptr[*count_ptr].name));
		(*count_ptr)++;
	}
	closedir(dir_ptr);
	close(pidfd);
	return 0;
}

/* "name=fd;name=fd..." */
static char *inherit_value(const struct vk_upgrade_socket *sockets_ptr, int count)
{
	size_t len = 1;
	char *value_ptr, *p;

	for (int i = 0; i < count; i++)
		len += strlen(sockets_ptr[i].name) + 16;
	value_ptr = malloc(len);
	if (!value_ptr)
		return NULL;
	p = value_ptr;
	*p = '\0';
	for (int i = 0; i < count; i++)
		p += sprintf(p, "%s%s=%d", i ? ";" : "", sockets_ptr[i].name, sockets_ptr[i].fd);
	return value_ptr;
}

pid_t vk_upgrade_start(const pid_t *pids, int n, struct vk_service **services_ptr, int count)
{
	static struct vk_upgrade_socket sockets[VK_UPGRADE_FDS_MAX];
	char from[24], *value_ptr;
	int socket_count = 0;
	pid_t child, self = getpid();

	if (!vk_upgrade_argv) {
		fprintf(stderr, "vk: upgrade: no program to start\n");
		return -1;
	}
	if (vk_upgrade_child > 0) {
		fprintf(stderr, "vk: upgrade: already under way (pid %d)\n", (int)vk_upgrade_child);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (pids[i] > 0 && collect(pids[i], sockets, &socket_count, services_ptr, count) == -1)
			fprintf(stderr, "vk: upgrade: the sockets of pid %d: %s\n", (int)pids[i], strerror(errno));
	value_ptr = inherit_value(sockets, socket_count);
	snprintf(from, sizeof(from), "%d", (int)self);
	fflush(NULL);
	child = value_ptr ? fork() : -1;
	if (child == 0) {
		sigset_t none;

		for (int i = 0; i < socket_count; i++)
			fcntl(sockets[i].fd, F_SETFD, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setenv("VK_INHERIT", value_ptr, 1);
		setenv("VK_UPGRADE_FROM", from, 1);
		execv(vk_upgrade_path, vk_upgrade_argv);
		fprintf(stderr, "vk: upgrade: cannot start %s: %s\n", vk_upgrade_path, strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < socket_count; i++)
		close(sockets[i].fd);
	free(value_ptr);
	if (child == -1) {
		fprintf(stderr, "vk: upgrade: cannot start %s: %s\n", vk_upgrade_path, strerror(errno));
		return -1;
	}
	vk_upgrade_child = child;
	fprintf(stderr, "vk: upgrade: started %s (pid %d) with %d listening sockets\n", vk_upgrade_path, (int)child,
		socket_count);
	return child;
}

void vk_upgrade_ended(int status)
{
	fprintf(stderr, "vk: upgrade: pid %d ended (%s %d) before taking over; this one goes on\n",
		(int)vk_upgrade_child, WIFSIGNALED(status) ? "signal" : "exit",
		WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	vk_upgrade_child = 0;
}

void vk_upgrade_take_inherited(void)
{
	const char *value = getenv("VK_INHERIT");
	const char *from = getenv("VK_UPGRADE_FROM");

	if (from)
		vk_upgrade_from = (pid_t)atoi(from);
	while (value && *value && vk_upgrade_inherited_count < VK_UPGRADE_FDS_MAX) {
		const char *equal = strchr(value, '=');
		const char *end = strchr(value, ';');
		struct vk_upgrade_socket *socket_ptr = &vk_upgrade_inherited[vk_upgrade_inherited_count];
		size_t name_len;

		if (!equal || (end && end < equal))
			break;
		name_len = (size_t)(equal - value);
		if (name_len < sizeof(socket_ptr->name)) {
			memcpy(socket_ptr->name, value, name_len);
			socket_ptr->name[name_len] = '\0';
			socket_ptr->fd = atoi(equal + 1);
			/* Not for the programs this one starts. */
			fcntl(socket_ptr->fd, F_SETFD, FD_CLOEXEC);
			vk_upgrade_inherited_count++;
		}
		value = end ? end + 1 : NULL;
	}
	unsetenv("VK_INHERIT");
	unsetenv("VK_UPGRADE_FROM");
}

static int matches(const struct vk_upgrade_socket *socket_ptr, const char *name, const char *address, int port)
{
	char place[VK_UPGRADE_NAME_MAX];

	if (strcmp(socket_ptr->name, name) == 0)
		return 1;
	snprintf(place, sizeof(place), "@%s:%d", address, port);
	return port != 0 && strcmp(socket_ptr->name, place) == 0;
}

int vk_upgrade_inherited_fd(const char *name, const char *address, int port, int kernel_index)
{
	int nth = 0;

	for (int i = 0; i < vk_upgrade_inherited_count; i++) {
		struct vk_upgrade_socket *socket_ptr = &vk_upgrade_inherited[i];

		if (socket_ptr->fd < 0 || !matches(socket_ptr, name, address, port))
			continue;
		if (nth++ == kernel_index) {
			socket_ptr->taken = 1;
			return socket_ptr->fd;
		}
	}
	return -1;
}

int vk_upgrade_inherited_port(const char *name)
{
	for (int i = 0; i < vk_upgrade_inherited_count; i++) {
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);

		if (vk_upgrade_inherited[i].fd >= 0 && strcmp(vk_upgrade_inherited[i].name, name) == 0 &&
		    getsockname(vk_upgrade_inherited[i].fd, (struct sockaddr *)&sa, &len) == 0)
			return ntohs(sa.sin_port);
	}
	return 0;
}

void vk_upgrade_close_untaken(void)
{
	for (int i = 0; i < vk_upgrade_inherited_count; i++) {
		if (vk_upgrade_inherited[i].fd >= 0 && !vk_upgrade_inherited[i].taken)
			close(vk_upgrade_inherited[i].fd);
		vk_upgrade_inherited[i].fd = -1;
	}
}

void vk_upgrade_ready(void)
{
	if (vk_upgrade_from <= 0)
		return;
	fprintf(stderr, "vk: upgrade: listening; pid %d drains\n", (int)vk_upgrade_from);
	kill(vk_upgrade_from, SIGTERM);
	vk_upgrade_from = 0;
}
