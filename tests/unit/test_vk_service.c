/* Tests for vkern/vk_service.c: addresses, the port reservation that lets
 * every kernel listen on one ephemeral port, and SO_REUSEPORT listening. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vk_service.h"
#include "vk_test_net.h"

static void nothing(struct vk_thread *that)
{
	(void)that;
}

static void test_defaults(void **state)
{
	struct vk_service *s = vk_service_create("svc", nothing, NULL);

	(void)state;
	assert_non_null(s);
	assert_string_equal(vk_service_name(s), "svc");
	assert_string_equal(vk_service_address(s), "127.0.0.1");
	assert_int_equal(vk_service_port(s), 0);
	assert_int_equal(vk_service_heap_pages(s), 16);
	assert_int_equal(vk_service_isolation(s), VK_ISOLATION_OFF);
	vk_service_destroy(s);
}

static void test_bad_addresses_are_rejected(void **state)
{
	struct vk_service *s = vk_service_create("svc", nothing, NULL);

	(void)state;
	assert_int_equal(vk_service_set_address(s, "localhost", 80), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vk_service_set_address(s, "127.0.0.1", 70000), -1);
	assert_int_equal(vk_service_set_address(s, "127.0.0.1", -1), -1);
	assert_int_equal(vk_service_set_address(s, "10.0.0.256", 80), -1);
	assert_int_equal(vk_service_set_address(s, "127.0.0.2", 8080), 0);
	assert_string_equal(vk_service_address(s), "127.0.0.2");
	assert_int_equal(vk_service_port(s), 8080);
	vk_service_destroy(s);
}

/* Port 0 becomes a real port at reservation; the reserving socket does
 * not accept connections itself. */
static void test_reserve_picks_a_port_that_is_not_yet_listening(void **state)
{
	struct vk_service *s = vk_service_create("svc", nothing, NULL);
	int fd;

	(void)state;
	assert_int_equal(vk_service_reserve(s), 0);
	assert_true(vk_service_port(s) > 0);
	fd = vk_test_connect_loopback(vk_service_port(s));
	assert_int_equal(fd, -1);
	vk_service_destroy(s);
}

/* Two kernels (two service copies) listen on the reserved port together. */
static void test_two_listeners_share_the_reserved_port(void **state)
{
	struct vk_service *a = vk_service_create("a", nothing, NULL);
	struct vk_service *b = vk_service_create("b", nothing, NULL);
	int fd;

	(void)state;
	assert_int_equal(vk_service_reserve(a), 0);
	assert_int_equal(vk_service_set_address(b, "127.0.0.1", vk_service_port(a)), 0);
	assert_int_equal(vk_service_listen(a, 0), 0);
	assert_int_equal(vk_service_listen(b, 1), 0);
	assert_true(vk_service_listen_fd(a) >= 0);
	assert_true(vk_service_listen_fd(b) >= 0);
	fd = vk_test_connect_loopback(vk_service_port(a));
	assert_true(fd >= 0);
	close(fd);
	vk_service_unlisten(a);
	assert_int_equal(vk_service_listen_fd(a), -1);
	vk_service_destroy(a);
	vk_service_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bad_addresses_are_rejected),
		cmocka_unit_test(test_reserve_picks_a_port_that_is_not_yet_listening),
		cmocka_unit_test(test_two_listeners_share_the_reserved_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
