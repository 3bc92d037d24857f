/* Tests for vk_socket_connect_op (vk_connect) and vk_socket_unread: the
 * pieces a proxy needs to reach an upstream and to give back bytes that
 * belong to the next message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vk_coro.h"
#include "vk_test_proc.h"

struct connect_case {
	struct sockaddr_in addr;
	int error;
	int connected;
	char reply[16];
	size_t reply_len;
};

struct connector_self {
	char buf[16];
	size_t len;
};

static void connector(struct vk_thread *that)
{
	struct connect_case *c = vk_thread_arg(that);
	struct connector_self *self;

	vk_begin();
	vk_catch
	{
		c->error = vk_error();
	}
	vk_connect(that->socket_ptr, &c->addr, sizeof(c->addr));
	c->connected = 1;
	vk_write_literal("ping\n");
	vk_readline(self->len, self->buf, sizeof(self->buf));
	memcpy(c->reply, self->buf, self->len);
	c->reply_len = self->len;
	vk_end();
}

static int listen_loopback(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &addr->sin_addr);
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) == -1 || listen(fd, 8) == -1 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

struct peer {
	int listen_fd;
	int conn_fd;
};

/* Accepts, then answers the line it gets with "pong\n". */
static void serve(void *ctx_ptr)
{
	struct peer *p = ctx_ptr;
	char buf[16];

	if (p->conn_fd < 0) {
		p->conn_fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK);
		return;
	}
	if (read(p->conn_fd, buf, sizeof(buf)) > 0)
		assert_int_equal(write(p->conn_fd, "pong\n", 5), 5);
}

static void test_connect_then_exchange(void **state)
{
	struct vk_test_proc *tp = *state;
	struct connect_case c = {0};
	struct peer p = {.conn_fd = -1};
	struct vk_socket *socket_ptr;

	p.listen_fd = listen_loopback(&c.addr);
	assert_true(p.listen_fd >= 0);
	socket_ptr = vk_socket_alloc(tp->pl, 256, 256);
	assert_non_null(vk_test_start(tp, connector, &c, socket_ptr));
	assert_int_equal(vk_test_pump(tp, serve, &p, 50), VK_PROC_ENDED);
	assert_int_equal(c.error, 0);
	assert_int_equal(c.connected, 1);
	assert_int_equal(c.reply_len, 5);
	assert_memory_equal(c.reply, "pong\n", 5);
	close(vk_socket_rx_fd(socket_ptr));
	close(p.conn_fd);
	close(p.listen_fd);
}

static void test_connect_refused_raises_econnrefused(void **state)
{
	struct vk_test_proc *tp = *state;
	struct connect_case c = {0};
	struct vk_socket *socket_ptr;
	int fd = listen_loopback(&c.addr);

	/* A port that was just free: nobody listens there now. */
	close(fd);
	socket_ptr = vk_socket_alloc(tp->pl, 256, 256);
	assert_non_null(vk_test_start(tp, connector, &c, socket_ptr));
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 50), VK_PROC_ENDED);
	assert_int_equal(c.connected, 0);
	assert_int_equal(c.error, ECONNREFUSED);
	close(vk_socket_rx_fd(socket_ptr));
}

struct unread_self {
	char buf[64];
	size_t len;
};

struct unread_case {
	char first[64];
	char second[64];
	size_t first_len, second_len;
};

/* Reads more than one line at once, gives the rest back, reads it again. */
static void unreader(struct vk_thread *that)
{
	struct unread_case *u = vk_thread_arg(that);
	struct unread_self *self;
	char *newline;

	vk_begin();
	vk_read(self->len, self->buf, 12);
	newline = memchr(self->buf, '\n', self->len);
	u->first_len = (size_t)(newline - self->buf) + 1;
	memcpy(u->first, self->buf, u->first_len);
	assert_int_equal(vk_socket_unread(that->socket_ptr, newline + 1, self->len - u->first_len),
			 self->len - u->first_len);
	vk_readline(u->second_len, u->second, sizeof(u->second));
	vk_end();
}

static void test_unread_bytes_are_read_again_first(void **state)
{
	struct vk_test_proc *tp = *state;
	struct unread_case u = {0};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_int_equal(write(fds[1], "one\ntwo two\n", 12), 12);
	assert_non_null(vk_test_start(tp, unreader, &u, socket_ptr));
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 10), VK_PROC_ENDED);
	assert_int_equal(u.first_len, 4);
	assert_memory_equal(u.first, "one\n", 4);
	assert_int_equal(u.second_len, 8);
	assert_memory_equal(u.second, "two two\n", 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_then_exchange, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused_raises_econnrefused, vk_test_setup,
						vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_unread_bytes_are_read_again_first, vk_test_setup,
						vk_test_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
