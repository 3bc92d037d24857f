/* vk_vectoring: the ring buffer behind every socket direction. Copies in
 * and out, wrap-around into two segments, ring-to-ring moves, and one
 * readv()/writev() against a nonblocking socketpair. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vk_vectoring.h"
#include "vk_vectoring_s.h"

#define RING_LEN 16
#define BIG_RING_LEN (1024 * 1024)
#define SMALL_SNDBUF 4096

/* A ring of RING_LEN bytes whose data starts at offset `start` and holds
 * `len` (at least 1) bytes 'a', 'b', ...: filler is written and consumed
 * while data is held, since an emptied ring restarts at offset 0. */
static void ring_at(struct vk_vectoring *ring_ptr, char *buf, size_t start, size_t len)
{
	char fill[RING_LEN];
	size_t first = len < RING_LEN - start ? len : RING_LEN - start;

	vk_vectoring_init(ring_ptr, buf, RING_LEN);
	memset(fill, '.', sizeof(fill));
	assert_int_equal(vk_vectoring_write(ring_ptr, fill, start), start);
	for (size_t i = 0; i < len; i++)
		fill[i] = (char)('a' + i);
	assert_int_equal(vk_vectoring_write(ring_ptr, fill, first), first);
	vk_vectoring_consumed(ring_ptr, start);
	assert_int_equal(vk_vectoring_write(ring_ptr, fill + first, len - first), len - first);
	assert_int_equal(vk_vectoring_len(ring_ptr), len);
	assert_int_equal(vk_vectoring_byte_at(ring_ptr, 0), 'a');
}

static void socketpair_nonblocking(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK), 0);
}

static void test_init_gives_an_empty_ring(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	struct iovec iov[2];

	(void)state;
	vk_vectoring_init(&ring, buf, sizeof(buf));
	assert_true(vk_vectoring_is_empty(&ring));
	assert_false(vk_vectoring_is_full(&ring));
	assert_int_equal(vk_vectoring_len(&ring), 0);
	assert_int_equal(vk_vectoring_space(&ring), RING_LEN);
	assert_int_equal(vk_vectoring_capacity(&ring), RING_LEN);
	assert_int_equal(vk_vectoring_data_iov(&ring, iov), 0);
	assert_false(vk_vectoring_eof(&ring));
	assert_false(vk_vectoring_blocked(&ring));
	assert_int_equal(vk_vectoring_error(&ring), 0);
}

static void test_write_then_read_returns_the_same_bytes(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char out[RING_LEN];

	(void)state;
	vk_vectoring_init(&ring, buf, sizeof(buf));
	assert_int_equal(vk_vectoring_write(&ring, "hello", 5), 5);
	assert_int_equal(vk_vectoring_len(&ring), 5);
	assert_int_equal(vk_vectoring_read(&ring, out, sizeof(out)), 5);
	assert_memory_equal(out, "hello", 5);
	assert_true(vk_vectoring_is_empty(&ring));
}

static void test_write_stops_when_full(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char in[RING_LEN + 4];

	(void)state;
	memset(in, 'x', sizeof(in));
	vk_vectoring_init(&ring, buf, sizeof(buf));
	assert_int_equal(vk_vectoring_write(&ring, in, sizeof(in)), RING_LEN);
	assert_true(vk_vectoring_is_full(&ring));
	assert_int_equal(vk_vectoring_space(&ring), 0);
	assert_int_equal(vk_vectoring_write(&ring, in, 1), 0);
}

static void test_read_in_pieces_keeps_order(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char out[4];

	(void)state;
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_vectoring_write(&ring, "abcdefg", 7);
	assert_int_equal(vk_vectoring_read(&ring, out, 3), 3);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(vk_vectoring_read(&ring, out, 4), 4);
	assert_memory_equal(out, "defg", 4);
	assert_int_equal(vk_vectoring_read(&ring, out, 4), 0);
}

static void test_peek_does_not_consume(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char out[8] = {0};

	(void)state;
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_vectoring_write(&ring, "abc", 3);
	assert_int_equal(vk_vectoring_peek(&ring, out, sizeof(out)), 3);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(vk_vectoring_len(&ring), 3);
	memset(out, 0, sizeof(out));
	assert_int_equal(vk_vectoring_read(&ring, out, 3), 3);
	assert_memory_equal(out, "abc", 3);
}

static void test_wrapped_data_is_two_segments(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	struct iovec iov[2];

	(void)state;
	ring_at(&ring, buf, 12, 10);
	assert_int_equal(vk_vectoring_data_iov(&ring, iov), 2);
	assert_ptr_equal(iov[0].iov_base, buf + 12);
	assert_int_equal(iov[0].iov_len, 4);
	assert_ptr_equal(iov[1].iov_base, buf);
	assert_int_equal(iov[1].iov_len, 6);
	assert_memory_equal(iov[0].iov_base, "abcd", 4);
	assert_memory_equal(iov[1].iov_base, "efghij", 6);
}

static void test_wrapped_data_leaves_one_space_segment(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	struct iovec iov[2];

	(void)state;
	ring_at(&ring, buf, 12, 10);
	assert_int_equal(vk_vectoring_space_iov(&ring, iov), 1);
	assert_ptr_equal(iov[0].iov_base, buf + 6);
	assert_int_equal(iov[0].iov_len, 6);
}

static void test_unwrapped_data_leaves_two_space_segments(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	struct iovec iov[2];

	(void)state;
	ring_at(&ring, buf, 4, 4);
	assert_int_equal(vk_vectoring_data_iov(&ring, iov), 1);
	assert_ptr_equal(iov[0].iov_base, buf + 4);
	assert_int_equal(iov[0].iov_len, 4);
	assert_int_equal(vk_vectoring_space_iov(&ring, iov), 2);
	assert_ptr_equal(iov[0].iov_base, buf + 8);
	assert_int_equal(iov[0].iov_len, 8);
	assert_ptr_equal(iov[1].iov_base, buf);
	assert_int_equal(iov[1].iov_len, 4);
}

static void test_full_ring_has_no_space_segment(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	struct iovec iov[2];

	(void)state;
	ring_at(&ring, buf, 5, RING_LEN);
	assert_int_equal(vk_vectoring_space_iov(&ring, iov), 0);
	assert_int_equal(vk_vectoring_data_iov(&ring, iov), 2);
	assert_int_equal(iov[0].iov_len + iov[1].iov_len, RING_LEN);
}

static void test_write_and_read_across_the_wrap(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char out[RING_LEN];

	(void)state;
	ring_at(&ring, buf, 12, 1);
	assert_int_equal(vk_vectoring_write(&ring, "0123456789", 10), 10);
	assert_memory_equal(buf + 13, "012", 3);
	assert_memory_equal(buf, "3456789", 7);
	assert_int_equal(vk_vectoring_read(&ring, out, sizeof(out)), 11);
	assert_memory_equal(out, "a0123456789", 11);
}

static void test_produced_adds_bytes_written_into_space(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	struct iovec iov[2];
	char out[RING_LEN];

	(void)state;
	ring_at(&ring, buf, 4, 4);
	assert_int_equal(vk_vectoring_space_iov(&ring, iov), 2);
	memcpy(iov[0].iov_base, "ABCDEFGH", 8);
	memcpy(iov[1].iov_base, "IJ", 2);
	vk_vectoring_produced(&ring, 10);
	assert_int_equal(vk_vectoring_len(&ring), 14);
	assert_int_equal(vk_vectoring_read(&ring, out, sizeof(out)), 14);
	assert_memory_equal(out, "abcdABCDEFGHIJ", 14);
}

static void test_consumed_drops_bytes_from_the_front(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char out[RING_LEN];

	(void)state;
	ring_at(&ring, buf, 12, 10);
	vk_vectoring_consumed(&ring, 5);
	assert_int_equal(vk_vectoring_len(&ring), 5);
	assert_int_equal(vk_vectoring_read(&ring, out, sizeof(out)), 5);
	assert_memory_equal(out, "fghij", 5);
}

static void test_empty_ring_restarts_at_offset_zero(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char out[RING_LEN];
	struct iovec iov[2];

	(void)state;
	ring_at(&ring, buf, 10, 3);
	assert_int_equal(vk_vectoring_read(&ring, out, 3), 3);
	assert_int_equal(vk_vectoring_space_iov(&ring, iov), 1);
	assert_ptr_equal(iov[0].iov_base, buf);
	assert_int_equal(iov[0].iov_len, RING_LEN);
	vk_vectoring_write(&ring, "xyz", 3);
	assert_int_equal(vk_vectoring_data_iov(&ring, iov), 1);
	assert_ptr_equal(iov[0].iov_base, buf);
}

static void test_find_returns_offset_of_first_match(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];

	(void)state;
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_vectoring_write(&ring, "GET /\r\n\r\n", 9);
	assert_int_equal(vk_vectoring_find(&ring, '\n', RING_LEN), 6);
	assert_int_equal(vk_vectoring_find(&ring, 'G', RING_LEN), 0);
	assert_int_equal(vk_vectoring_find(&ring, 'z', RING_LEN), -1);
}

static void test_find_matches_in_the_second_segment(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];

	(void)state;
	ring_at(&ring, buf, 12, 10);
	/* 'a'..'d' sit at the end of buf, 'e'..'j' at its start. */
	assert_int_equal(vk_vectoring_find(&ring, 'g', RING_LEN), 6);
	assert_int_equal(vk_vectoring_find(&ring, 'd', RING_LEN), 3);
	assert_int_equal(vk_vectoring_find(&ring, 'e', RING_LEN), 4);
}

static void test_find_ignores_matches_past_limit(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];

	(void)state;
	ring_at(&ring, buf, 12, 10);
	assert_int_equal(vk_vectoring_find(&ring, 'g', 6), -1);
	assert_int_equal(vk_vectoring_find(&ring, 'g', 7), 6);
	assert_int_equal(vk_vectoring_find(&ring, 'a', 0), -1);
}

static void test_find_ignores_stale_bytes_past_the_data(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char out[4];

	(void)state;
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_vectoring_write(&ring, "abc\n", 4);
	vk_vectoring_read(&ring, out, 4);
	vk_vectoring_write(&ring, "ab", 2);
	assert_int_equal(vk_vectoring_find(&ring, '\n', RING_LEN), -1);
}

static void test_byte_at_reads_across_the_wrap(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];

	(void)state;
	ring_at(&ring, buf, 12, 10);
	assert_int_equal(vk_vectoring_byte_at(&ring, 0), 'a');
	assert_int_equal(vk_vectoring_byte_at(&ring, 3), 'd');
	assert_int_equal(vk_vectoring_byte_at(&ring, 4), 'e');
	assert_int_equal(vk_vectoring_byte_at(&ring, 9), 'j');
	assert_int_equal(vk_vectoring_byte_at(&ring, 10), -1);
}

static void test_byte_at_returns_bytes_above_127_unsigned(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];

	(void)state;
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_vectoring_write(&ring, "\xff", 1);
	assert_int_equal(vk_vectoring_byte_at(&ring, 0), 0xff);
}

static void test_move_transfers_all_when_destination_has_room(void **state)
{
	struct vk_vectoring src, dst;
	char src_buf[RING_LEN];
	char dst_buf[RING_LEN];
	char out[RING_LEN];

	(void)state;
	ring_at(&src, src_buf, 12, 10);
	vk_vectoring_init(&dst, dst_buf, sizeof(dst_buf));
	assert_int_equal(vk_vectoring_move(&dst, &src, RING_LEN), 10);
	assert_true(vk_vectoring_is_empty(&src));
	assert_int_equal(vk_vectoring_read(&dst, out, sizeof(out)), 10);
	assert_memory_equal(out, "abcdefghij", 10);
}

static void test_move_is_partial_when_destination_is_short(void **state)
{
	struct vk_vectoring src, dst;
	char src_buf[RING_LEN];
	char dst_buf[RING_LEN];
	char out[RING_LEN];

	(void)state;
	ring_at(&src, src_buf, 12, 10);
	vk_vectoring_init(&dst, dst_buf, sizeof(dst_buf));
	vk_vectoring_write(&dst, "0123456789AB", 12);
	assert_int_equal(vk_vectoring_move(&dst, &src, RING_LEN), 4);
	assert_true(vk_vectoring_is_full(&dst));
	assert_int_equal(vk_vectoring_len(&src), 6);
	assert_int_equal(vk_vectoring_read(&dst, out, sizeof(out)), RING_LEN);
	assert_memory_equal(out, "0123456789ABabcd", RING_LEN);
	assert_int_equal(vk_vectoring_read(&src, out, sizeof(out)), 6);
	assert_memory_equal(out, "efghij", 6);
}

static void test_move_stops_at_n(void **state)
{
	struct vk_vectoring src, dst;
	char src_buf[RING_LEN];
	char dst_buf[RING_LEN];
	char out[RING_LEN];

	(void)state;
	ring_at(&src, src_buf, 12, 10);
	vk_vectoring_init(&dst, dst_buf, sizeof(dst_buf));
	assert_int_equal(vk_vectoring_move(&dst, &src, 5), 5);
	assert_int_equal(vk_vectoring_len(&src), 5);
	assert_int_equal(vk_vectoring_read(&dst, out, sizeof(out)), 5);
	assert_memory_equal(out, "abcde", 5);
}

static void test_move_into_a_wrapped_destination(void **state)
{
	struct vk_vectoring src, dst;
	char src_buf[RING_LEN];
	char dst_buf[RING_LEN];
	char out[RING_LEN];

	(void)state;
	vk_vectoring_init(&src, src_buf, sizeof(src_buf));
	vk_vectoring_write(&src, "0123456789", 10);
	ring_at(&dst, dst_buf, 10, 4);
	assert_int_equal(vk_vectoring_move(&dst, &src, RING_LEN), 10);
	assert_int_equal(vk_vectoring_read(&dst, out, sizeof(out)), 14);
	assert_memory_equal(out, "abcd0123456789", 14);
}

static void test_recv_on_empty_socket_sets_blocked(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	int sv[2];

	(void)state;
	socketpair_nonblocking(sv);
	vk_vectoring_init(&ring, buf, sizeof(buf));
	errno = 0;
	assert_int_equal(vk_vectoring_recv_fd(&ring, sv[0]), -1);
	assert_int_equal(errno, EAGAIN);
	assert_true(vk_vectoring_blocked(&ring));
	assert_false(vk_vectoring_eof(&ring));
	assert_int_equal(vk_vectoring_error(&ring), 0);
	close(sv[0]);
	close(sv[1]);
}

static void test_recv_takes_what_the_peer_sent(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char out[RING_LEN];
	int sv[2];

	(void)state;
	socketpair_nonblocking(sv);
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_vectoring_set_blocked(&ring, 1);
	assert_int_equal(write(sv[1], "ping", 4), 4);
	assert_int_equal(vk_vectoring_recv_fd(&ring, sv[0]), 4);
	assert_false(vk_vectoring_blocked(&ring));
	assert_int_equal(vk_vectoring_read(&ring, out, sizeof(out)), 4);
	assert_memory_equal(out, "ping", 4);
	close(sv[0]);
	close(sv[1]);
}

static void test_recv_after_peer_close_sets_eof(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	int sv[2];

	(void)state;
	socketpair_nonblocking(sv);
	vk_vectoring_init(&ring, buf, sizeof(buf));
	close(sv[1]);
	assert_int_equal(vk_vectoring_recv_fd(&ring, sv[0]), 0);
	assert_true(vk_vectoring_eof(&ring));
	assert_true(vk_vectoring_is_empty(&ring));
	close(sv[0]);
}

static void test_recv_on_bad_fd_records_error(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	int sv[2];

	(void)state;
	socketpair_nonblocking(sv);
	close(sv[0]);
	close(sv[1]);
	vk_vectoring_init(&ring, buf, sizeof(buf));
	assert_int_equal(vk_vectoring_recv_fd(&ring, sv[0]), -1);
	assert_int_equal(vk_vectoring_error(&ring), EBADF);
	assert_false(vk_vectoring_blocked(&ring));
}

static void test_one_recv_fills_both_space_segments_after_wrap(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char out[RING_LEN];
	struct iovec iov[2];
	int sv[2];

	(void)state;
	socketpair_nonblocking(sv);
	ring_at(&ring, buf, 4, 4);
	assert_int_equal(vk_vectoring_space_iov(&ring, iov), 2);
	assert_int_equal(write(sv[1], "0123456789AB", 12), 12);
	assert_int_equal(vk_vectoring_recv_fd(&ring, sv[0]), 12);
	assert_true(vk_vectoring_is_full(&ring));
	assert_memory_equal(buf + 8, "01234567", 8);
	assert_memory_equal(buf, "89AB", 4);
	assert_int_equal(vk_vectoring_read(&ring, out, sizeof(out)), RING_LEN);
	assert_memory_equal(out, "abcd0123456789AB", RING_LEN);
	close(sv[0]);
	close(sv[1]);
}

static void test_one_send_drains_both_data_segments(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char out[RING_LEN];
	int sv[2];

	(void)state;
	socketpair_nonblocking(sv);
	ring_at(&ring, buf, 12, 10);
	assert_int_equal(vk_vectoring_send_fd(&ring, sv[0]), 10);
	assert_true(vk_vectoring_is_empty(&ring));
	assert_false(vk_vectoring_blocked(&ring));
	assert_int_equal(read(sv[1], out, sizeof(out)), 10);
	assert_memory_equal(out, "abcdefghij", 10);
	close(sv[0]);
	close(sv[1]);
}

/* A pipe is no socket: the first recv answers ENOTSOCK, the ring notes it
 * and reads with readv from then on, both segments at once; a socket's
 * ring never learns that. */
static void test_recv_from_a_pipe_falls_back_to_readv_once(void **state)
{
	struct vk_vectoring ring, sock_ring;
	char buf[RING_LEN], sock_buf[RING_LEN];
	char out[RING_LEN];
	int p[2], sv[2];

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	vk_vectoring_init(&ring, buf, sizeof(buf));
	assert_int_equal(write(p[1], "pipe", 4), 4);
	assert_int_equal(vk_vectoring_recv_fd(&ring, p[0]), 4);
	assert_true(ring.not_socket);
	assert_int_equal(vk_vectoring_read(&ring, out, sizeof(out)), 4);
	assert_memory_equal(out, "pipe", 4);
	ring_at(&ring, buf, 4, 4);
	ring.not_socket = 1;
	assert_int_equal(write(p[1], "0123456789AB", 12), 12);
	assert_int_equal(vk_vectoring_recv_fd(&ring, p[0]), 12);
	assert_int_equal(vk_vectoring_recv_fd(&ring, p[0]), 0); /* full: no call */
	assert_false(vk_vectoring_eof(&ring));
	assert_int_equal(vk_vectoring_read(&ring, out, sizeof(out)), RING_LEN);
	assert_memory_equal(out, "abcd0123456789AB", RING_LEN);
	assert_int_equal(vk_vectoring_recv_fd(&ring, p[0]), -1);
	assert_true(vk_vectoring_blocked(&ring));
	close(p[1]);
	assert_int_equal(vk_vectoring_recv_fd(&ring, p[0]), 0);
	assert_true(vk_vectoring_eof(&ring));
	close(p[0]);

	socketpair_nonblocking(sv);
	vk_vectoring_init(&sock_ring, sock_buf, sizeof(sock_buf));
	assert_int_equal(write(sv[1], "sock", 4), 4);
	assert_int_equal(vk_vectoring_recv_fd(&sock_ring, sv[0]), 4);
	assert_false(sock_ring.not_socket);
	close(sv[0]);
	close(sv[1]);
}

/* The same for output, one segment and two: a pipe gets writev. */
static void test_send_to_a_pipe_falls_back_to_writev_once(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	char out[2 * RING_LEN];
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_vectoring_write(&ring, "one", 3);
	assert_int_equal(vk_vectoring_send_fd(&ring, p[1]), 3);
	assert_true(ring.not_socket);
	assert_true(vk_vectoring_is_empty(&ring));
	ring_at(&ring, buf, 12, 10);
	ring.not_socket = 1;
	assert_int_equal(vk_vectoring_send_fd(&ring, p[1]), 10);
	assert_int_equal(read(p[0], out, sizeof(out)), 13);
	assert_memory_equal(out, "oneabcdefghij", 13);
	close(p[0]);
	vk_vectoring_write(&ring, "lost", 4);
	assert_int_equal(vk_vectoring_send_fd(&ring, p[1]), -1);
	assert_int_equal(vk_vectoring_error(&ring), EPIPE);
	close(p[1]);
}

/* A socket whose peer has gone is an EPIPE on the ring even where SIGPIPE
 * is not ignored: sends carry MSG_NOSIGNAL, one segment or two. */
static void test_send_to_closed_socket_raises_no_sigpipe(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	int sv[2];
	void (*before)(int) = signal(SIGPIPE, SIG_DFL);

	(void)state;
	socketpair_nonblocking(sv);
	close(sv[1]);
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_vectoring_write(&ring, "lost", 4);
	assert_int_equal(vk_vectoring_send_fd(&ring, sv[0]), -1);
	assert_int_equal(vk_vectoring_error(&ring), EPIPE);
	ring_at(&ring, buf, 12, 10);
	assert_int_equal(vk_vectoring_send_fd(&ring, sv[0]), -1);
	assert_int_equal(vk_vectoring_error(&ring), EPIPE);
	assert_false(ring.not_socket);
	close(sv[0]);
	signal(SIGPIPE, before);
}

/* A head queued in one ring and a body held in another go in one writev:
 * all of the first, then the second up to its limit (here wrapped, so four
 * segments), each consumed by what went. */
static void test_send_two_sends_first_then_second_up_to_max(void **state)
{
	struct vk_vectoring head, body;
	char head_buf[RING_LEN], body_buf[RING_LEN];
	char out[2 * RING_LEN];
	int sv[2];

	(void)state;
	socketpair_nonblocking(sv);
	ring_at(&head, head_buf, 14, 4);  /* "abcd", wrapped at 16 */
	ring_at(&body, body_buf, 12, 10); /* "abcdefghij", wrapped */
	assert_int_equal(vk_vectoring_send_two_fd(&head, &body, 7, sv[0]), 11);
	assert_true(vk_vectoring_is_empty(&head));
	assert_false(vk_vectoring_blocked(&head));
	assert_int_equal(vk_vectoring_len(&body), 3);
	assert_int_equal(read(sv[1], out, sizeof(out)), 11);
	assert_memory_equal(out, "abcdabcdefg", 11);
	/* Nothing held in either: nothing sent, no system call. */
	vk_vectoring_consumed(&body, 3);
	assert_int_equal(vk_vectoring_send_two_fd(&head, &body, 100, sv[0]), 0);
	close(sv[0]);
	close(sv[1]);
}

static void test_partial_send_sets_blocked_when_peer_buffer_fills(void **state)
{
	struct vk_vectoring ring;
	char *buf = malloc(BIG_RING_LEN);
	int sndbuf = SMALL_SNDBUF;
	ssize_t sent;
	int sv[2];

	(void)state;
	assert_non_null(buf);
	socketpair_nonblocking(sv);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	vk_vectoring_init(&ring, buf, BIG_RING_LEN);
	memset(buf, 'z', BIG_RING_LEN);
	vk_vectoring_produced(&ring, BIG_RING_LEN);
	sent = vk_vectoring_send_fd(&ring, sv[0]);
	assert_true(sent > 0);
	assert_true(sent < BIG_RING_LEN);
	assert_int_equal(vk_vectoring_len(&ring), BIG_RING_LEN - (size_t)sent);
	assert_true(vk_vectoring_blocked(&ring));
	close(sv[0]);
	close(sv[1]);
	free(buf);
}

static void test_send_to_full_peer_fails_with_eagain_and_blocked(void **state)
{
	struct vk_vectoring ring;
	char *buf = malloc(BIG_RING_LEN);
	int sndbuf = SMALL_SNDBUF;
	int sv[2];

	(void)state;
	assert_non_null(buf);
	socketpair_nonblocking(sv);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	vk_vectoring_init(&ring, buf, BIG_RING_LEN);
	memset(buf, 'z', BIG_RING_LEN);
	vk_vectoring_produced(&ring, BIG_RING_LEN);
	while (vk_vectoring_send_fd(&ring, sv[0]) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	assert_true(vk_vectoring_blocked(&ring));
	assert_false(vk_vectoring_is_empty(&ring));
	assert_int_equal(vk_vectoring_error(&ring), 0);
	close(sv[0]);
	close(sv[1]);
	free(buf);
}

static void test_send_to_closed_peer_records_epipe(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];
	int sv[2];

	(void)state;
	socketpair_nonblocking(sv);
	close(sv[1]);
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_vectoring_write(&ring, "lost", 4);
	assert_int_equal(vk_vectoring_send_fd(&ring, sv[0]), -1);
	assert_int_equal(vk_vectoring_error(&ring), EPIPE);
	assert_int_equal(vk_vectoring_len(&ring), 4);
	close(sv[0]);
}

static void test_zero_capacity_ring_moves_nothing(void **state)
{
	struct vk_vectoring ring;
	char buf[1];
	char out[4];
	struct iovec iov[2];

	(void)state;
	vk_vectoring_init(&ring, buf, 0);
	assert_true(vk_vectoring_is_empty(&ring));
	assert_true(vk_vectoring_is_full(&ring));
	assert_int_equal(vk_vectoring_space_iov(&ring, iov), 0);
	assert_int_equal(vk_vectoring_write(&ring, "x", 1), 0);
	assert_int_equal(vk_vectoring_read(&ring, out, sizeof(out)), 0);
	assert_int_equal(vk_vectoring_find(&ring, 'x', 4), -1);
}

static void test_flag_setters_round_trip(void **state)
{
	struct vk_vectoring ring;
	char buf[RING_LEN];

	(void)state;
	vk_vectoring_init(&ring, buf, sizeof(buf));
	vk_vectoring_set_eof(&ring);
	vk_vectoring_set_blocked(&ring, 7);
	vk_vectoring_set_error(&ring, ECONNRESET);
	assert_true(vk_vectoring_eof(&ring));
	assert_int_equal(vk_vectoring_blocked(&ring), 1);
	assert_int_equal(vk_vectoring_error(&ring), ECONNRESET);
	vk_vectoring_set_blocked(&ring, 0);
	assert_false(vk_vectoring_blocked(&ring));
}

/* Unread puts bytes back in front of what is held, across the wrap. */
static void test_unread_goes_in_front_across_the_wrap(void **state)
{
	struct vk_vectoring ring;
	char buf[8], out[8];

	(void)state;
	vk_vectoring_init(&ring, buf, sizeof(buf));
	assert_int_equal(vk_vectoring_write(&ring, "abcdef", 6), 6);
	assert_int_equal(vk_vectoring_read(&ring, out, 5), 5);
	assert_int_equal(vk_vectoring_write(&ring, "ghij", 4), 4); /* f g h i j, wrapped */
	assert_int_equal(vk_vectoring_unread(&ring, "XYZ", 3), 3);
	assert_int_equal(vk_vectoring_len(&ring), 8);
	assert_int_equal(vk_vectoring_read(&ring, out, 8), 8);
	assert_memory_equal(out, "XYZfghij", 8);
	assert_int_equal(vk_vectoring_unread(&ring, "12345678", 8), 8);
	assert_int_equal(vk_vectoring_unread(&ring, "9", 1), 0); /* full */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_gives_an_empty_ring),
		cmocka_unit_test(test_write_then_read_returns_the_same_bytes),
		cmocka_unit_test(test_write_stops_when_full),
		cmocka_unit_test(test_read_in_pieces_keeps_order),
		cmocka_unit_test(test_peek_does_not_consume),
		cmocka_unit_test(test_wrapped_data_is_two_segments),
		cmocka_unit_test(test_wrapped_data_leaves_one_space_segment),
		cmocka_unit_test(test_unwrapped_data_leaves_two_space_segments),
		cmocka_unit_test(test_full_ring_has_no_space_segment),
		cmocka_unit_test(test_write_and_read_across_the_wrap),
		cmocka_unit_test(test_produced_adds_bytes_written_into_space),
		cmocka_unit_test(test_consumed_drops_bytes_from_the_front),
		cmocka_unit_test(test_empty_ring_restarts_at_offset_zero),
		cmocka_unit_test(test_find_returns_offset_of_first_match),
		cmocka_unit_test(test_find_matches_in_the_second_segment),
		cmocka_unit_test(test_find_ignores_matches_past_limit),
		cmocka_unit_test(test_find_ignores_stale_bytes_past_the_data),
		cmocka_unit_test(test_byte_at_reads_across_the_wrap),
		cmocka_unit_test(test_byte_at_returns_bytes_above_127_unsigned),
		cmocka_unit_test(test_move_transfers_all_when_destination_has_room),
		cmocka_unit_test(test_move_is_partial_when_destination_is_short),
		cmocka_unit_test(test_move_stops_at_n),
		cmocka_unit_test(test_move_into_a_wrapped_destination),
		cmocka_unit_test(test_recv_on_empty_socket_sets_blocked),
		cmocka_unit_test(test_recv_takes_what_the_peer_sent),
		cmocka_unit_test(test_recv_after_peer_close_sets_eof),
		cmocka_unit_test(test_recv_on_bad_fd_records_error),
		cmocka_unit_test(test_one_recv_fills_both_space_segments_after_wrap),
		cmocka_unit_test(test_one_send_drains_both_data_segments),
		cmocka_unit_test(test_partial_send_sets_blocked_when_peer_buffer_fills),
		cmocka_unit_test(test_send_to_full_peer_fails_with_eagain_and_blocked),
		cmocka_unit_test(test_send_to_closed_peer_records_epipe),
		cmocka_unit_test(test_recv_from_a_pipe_falls_back_to_readv_once),
		cmocka_unit_test(test_send_to_a_pipe_falls_back_to_writev_once),
		cmocka_unit_test(test_send_to_closed_socket_raises_no_sigpipe),
		cmocka_unit_test(test_zero_capacity_ring_moves_nothing),
		cmocka_unit_test(test_unread_goes_in_front_across_the_wrap),
		cmocka_unit_test(test_flag_setters_round_trip),
		cmocka_unit_test(test_send_two_sends_first_then_second_up_to_max),
	};

	signal(SIGPIPE, SIG_IGN);

	return cmocka_run_group_tests(tests, NULL, NULL);
}
