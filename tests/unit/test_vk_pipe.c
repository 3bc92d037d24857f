/* Tests for vkern/vk_pipe.c: one end of a socket (an fd, an in-process
 * socket, or nothing), and the transform hook TLS will use. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vk_pipe.h"
#include "vk_pipe_s.h"
#include "vk_vectoring.h"
#include "vk_vectoring_s.h"

static void test_none_has_no_fd_or_socket(void **state)
{
	struct vk_pipe pipe;

	(void)state;
	vk_pipe_init_none(&pipe);
	assert_int_equal(vk_pipe_type(&pipe), VK_PIPE_NONE);
	assert_int_equal(vk_pipe_fd(&pipe), -1);
	assert_null(vk_pipe_socket(&pipe));
}

static void test_fd_pipe_reports_its_fd_only(void **state)
{
	struct vk_pipe pipe;

	(void)state;
	vk_pipe_init_fd(&pipe, 7);
	assert_int_equal(vk_pipe_type(&pipe), VK_PIPE_FD);
	assert_int_equal(vk_pipe_fd(&pipe), 7);
	assert_null(vk_pipe_socket(&pipe));
}

static void test_socket_pipe_reports_its_socket_only(void **state)
{
	struct vk_pipe pipe;
	struct vk_socket *fake = (struct vk_socket *)&pipe;

	(void)state;
	vk_pipe_init_socket(&pipe, fake);
	assert_int_equal(vk_pipe_type(&pipe), VK_PIPE_SOCKET);
	assert_ptr_equal(vk_pipe_socket(&pipe), fake);
	assert_int_equal(vk_pipe_fd(&pipe), -1);
}

static void test_recv_and_send_move_bytes_through_the_fd(void **state)
{
	struct vk_vectoring ring;
	struct vk_pipe pipe;
	char buf[64], out[16];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_pipe_init_fd(&pipe, sv[0]);
	assert_int_equal(write(sv[1], "ping", 4), 4);
	assert_int_equal(vk_pipe_recv(&pipe, &ring), 4);
	assert_int_equal(vk_vectoring_len(&ring), 4);
	assert_int_equal(vk_pipe_send(&pipe, &ring), 4);
	assert_int_equal(read(sv[1], out, sizeof(out)), 4);
	assert_memory_equal(out, "ping", 4);
	close(sv[0]);
	close(sv[1]);
}

/* A transform that upper-cases what it reads and records what it sends:
 * proof that both directions go through the hook, not the fd. */
struct upper {
	int recvs;
	int sends;
};

static long upper_recv(void *ctx_ptr, int fd, struct vk_vectoring *ring_ptr)
{
	struct upper *u = ctx_ptr;
	char tmp[64];
	long n = read(fd, tmp, sizeof(tmp));

	u->recvs++;
	for (long i = 0; i < n; i++)
		tmp[i] = (char)(tmp[i] >= 'a' && tmp[i] <= 'z' ? tmp[i] - 32 : tmp[i]);
	return n > 0 ? (long)vk_vectoring_write(ring_ptr, tmp, (size_t)n) : n;
}

static long upper_send(void *ctx_ptr, int fd, struct vk_vectoring *ring_ptr)
{
	struct upper *u = ctx_ptr;

	u->sends++;
	return vk_vectoring_send_fd(ring_ptr, fd);
}

static const struct vk_transform_ops upper_ops = {.recv = upper_recv, .send = upper_send};

static void test_transform_sits_between_fd_and_ring(void **state)
{
	struct vk_vectoring ring;
	struct vk_pipe pipe;
	struct upper u = {0};
	char buf[64], out[16];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_pipe_init_fd(&pipe, sv[0]);
	vk_pipe_set_transform(&pipe, &upper_ops, &u);
	assert_int_equal(write(sv[1], "hello", 5), 5);
	assert_int_equal(vk_pipe_recv(&pipe, &ring), 5);
	assert_int_equal(vk_vectoring_read(&ring, out, sizeof(out)), 5);
	assert_memory_equal(out, "HELLO", 5);
	vk_vectoring_write(&ring, "bye", 3);
	assert_int_equal(vk_pipe_send(&pipe, &ring), 3);
	assert_int_equal(read(sv[1], out, sizeof(out)), 3);
	assert_int_equal(u.recvs, 1);
	assert_int_equal(u.sends, 1);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_none_has_no_fd_or_socket),
		cmocka_unit_test(test_fd_pipe_reports_its_fd_only),
		cmocka_unit_test(test_socket_pipe_reports_its_socket_only),
		cmocka_unit_test(test_recv_and_send_move_bytes_through_the_fd),
		cmocka_unit_test(test_transform_sits_between_fd_and_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
