/* vk_upgrade, the new process's side: the sockets named in $VK_INHERIT
 * are found by service name (or by place, for a listener the old process
 * opened after its start), kernel i taking the i-th of a service's, and
 * those no kernel took are closed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vk_upgrade.h"

/* A listening socket on 127.0.0.1, its port in *port_ptr. */
static int listening(int *port_ptr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port_ptr = ntohs(sa.sin_port);
	return fd;
}

static void test_sockets_are_taken_by_name_then_place(void **state)
{
	int port_a, port_b, port_c;
	int a0 = listening(&port_a), a1 = listening(&port_b), c = listening(&port_c);
	char value[256];

	(void)state;
	/* Two sockets of service "web" (two kernels), one of a listener a
	 * reload had opened, known by its place. */
	snprintf(value, sizeof(value), "web=%d;web=%d;@127.0.0.1:%d=%d", a0, a1, port_c, c);
	setenv("VK_INHERIT", value, 1);
	setenv("VK_UPGRADE_FROM", "1", 1);
	vk_upgrade_take_inherited();
	assert_null(getenv("VK_INHERIT"));
	assert_null(getenv("VK_UPGRADE_FROM"));
	/* Not for the programs this one starts. */
	assert_int_equal(fcntl(a0, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(vk_upgrade_inherited_port("web"), port_a);
	assert_int_equal(vk_upgrade_inherited_fd("web", "127.0.0.1", 0, 1), a1);
	assert_int_equal(vk_upgrade_inherited_fd("web", "127.0.0.1", 0, 2), -1);
	assert_int_equal(vk_upgrade_inherited_fd("more", "127.0.0.1", port_c, 0), c);
	assert_int_equal(vk_upgrade_inherited_fd("other", "127.0.0.1", port_c + 1, 0), -1);
	/* Kernel 1 took a1 and c: a0 closes, the others stay. */
	vk_upgrade_close_untaken();
	assert_int_equal(fcntl(a0, F_GETFD), -1);
	assert_true(fcntl(a1, F_GETFD) >= 0);
	assert_true(fcntl(c, F_GETFD) >= 0);
	assert_int_equal(vk_upgrade_inherited_fd("web", "127.0.0.1", 0, 1), -1);
	close(a1);
	close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sockets_are_taken_by_name_then_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
