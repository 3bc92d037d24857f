/* vk_socket through the blocking macros: reads, lines, writes, flushes,
 * splices, hang-ups and closes, over socketpairs (the test plays the peer
 * and the kernel) and over in-process pairs between two threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include "vk_coro.h"
#include "vk_test_proc.h"
#include "vk_vectoring.h"

#define BIG_LEN (1024 * 1024)

/* ---- a reader thread running one kind of read several times ---- */

enum io_op {
	OP_READ,
	OP_READ_SOME,
	OP_READLINE,
	OP_READHUP,
};

struct io_job {
	enum io_op op;
	size_t len; /* asked for on each call */
	int calls;
	/* results */
	char out[4096];
	size_t out_len;
	size_t rc[8];
	int calls_done;
	int error;
	int ended;
};

struct io_self {
	char buf[2048];
	size_t rc;
	int i;
};

static void io_reader(struct vk_thread *that)
{
	struct io_job *job = vk_thread_arg(that);
	struct io_self *self;

	vk_begin();
	vk_catch
	{
		job->error = vk_error();
	}
	for (self->i = 0; self->i < job->calls; self->i++) {
		if (job->op == OP_READ)
			vk_read(self->rc, self->buf, job->len);
		else if (job->op == OP_READ_SOME)
			vk_read_some(self->rc, self->buf, job->len);
		else if (job->op == OP_READLINE)
			vk_readline(self->rc, self->buf, job->len);
		else
			vk_readhup(self->rc);
		if (job->op != OP_READHUP && job->out_len + self->rc <= sizeof(job->out)) {
			memcpy(job->out + job->out_len, self->buf, self->rc);
			job->out_len += self->rc;
		}
		job->rc[self->i] = self->rc;
		job->calls_done++;
	}
	job->ended = 1;
	vk_end();
}

/* ---- a writer thread sending data in flushed chunks ---- */

struct write_job {
	const char *data;
	size_t len;
	size_t chunk;	/* bytes per vk_write */
	int flush_each; /* flush and yield after each chunk */
	int close_at_end;
	int error;
	int ended;
};

struct write_self {
	size_t off;
	size_t n;
};

static void chunk_writer(struct vk_thread *that)
{
	struct write_job *job = vk_thread_arg(that);
	struct write_self *self;

	vk_begin();
	vk_catch
	{
		job->error = vk_error();
	}
	for (self->off = 0; self->off < job->len; self->off += self->n) {
		self->n = job->len - self->off < job->chunk ? job->len - self->off : job->chunk;
		vk_write(job->data + self->off, self->n);
		if (job->flush_each) {
			vk_flush();
			vk_yield();
		}
	}
	vk_flush();
	if (job->close_at_end)
		vk_close();
	job->ended = 1;
	vk_end();
}

/* Two sockets of the process, what `writer` writes `reader` reads. */
static void in_process_pair(struct vk_test_proc *tp, struct vk_socket **writer, struct vk_socket **reader, size_t ring)
{
	*writer = vk_socket_alloc(tp->pl, ring, ring);
	*reader = vk_socket_alloc(tp->pl, ring, ring);
	assert_non_null(*writer);
	assert_non_null(*reader);
	vk_socket_connect_pair(*writer, *reader);
}

static size_t fd_pending(int fd)
{
	int n = 0;

	if (ioctl(fd, FIONREAD, &n) == -1)
		return (size_t)-1;
	return (size_t)n;
}

/* ---- reads over a socketpair ---- */

static void test_read_exact_across_peer_writes(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READ, .len = 12, .calls = 1};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(write(fds[1], "abcd", 4), 4);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(write(fds[1], "efgh", 4), 4);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(job.calls_done, 0);
	assert_int_equal(write(fds[1], "ijklmn", 6), 6);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.rc[0], 12);
	assert_int_equal(job.out_len, 12);
	assert_memory_equal(job.out, "abcdefghijkl", 12);
}

static void test_read_at_eof_returns_fewer(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READ, .len = 10, .calls = 2};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_int_equal(write(fds[1], "abc", 3), 3);
	assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 20), VK_PROC_ENDED);
	assert_int_equal(job.error, 0);
	assert_int_equal(job.calls_done, 2);
	assert_int_equal(job.rc[0], 3);
	assert_int_equal(job.rc[1], 0);
	assert_memory_equal(job.out, "abc", 3);
	assert_true(vk_socket_eof(socket_ptr));
}

static void test_read_some_waits_for_a_byte_and_returns_what_is_there(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READ_SOME, .len = 100, .calls = 1};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 256, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(job.calls_done, 0);
	assert_int_equal(write(fds[1], "hello", 5), 5);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.rc[0], 5);
	assert_memory_equal(job.out, "hello", 5);
}

static void test_read_some_at_eof_returns_zero(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READ_SOME, .len = 100, .calls = 1};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 256, 64);
	assert_non_null(socket_ptr);
	assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 20), VK_PROC_ENDED);
	assert_int_equal(job.calls_done, 1);
	assert_int_equal(job.rc[0], 0);
}

/* A parser in the ring: waits for more than it has looked at, looks in
 * place, takes only what it parsed. */
struct view_job {
	size_t held_seen[4]; /* vk_socket_rx_held after each wait */
	char view[4][16];
	int waits_done;
	int error;
};

static void view_reader(struct vk_thread *that)
{
	struct view_job *job = vk_thread_arg(that);
	struct {
		size_t len;
	} * self;

	vk_begin();
	vk_catch
	{
		job->error = vk_error();
	}
	/* More than 0 held; then more than the 5 seen; then, after taking 3 of
	 * the 8, more than the 5 left: only the peer's end ends that wait. */
	vk_wait_more_on(that->socket_ptr, 0);
	job->held_seen[job->waits_done++] = vk_socket_rx_held(that->socket_ptr);
	vk_wait_more_on(that->socket_ptr, 5);
	job->held_seen[job->waits_done] = vk_socket_rx_held(that->socket_ptr);
	memcpy(job->view[job->waits_done++], vk_socket_rx_view(that->socket_ptr, &self->len), 7);
	vk_socket_rx_drop(that->socket_ptr, 3);
	job->held_seen[job->waits_done] = vk_socket_rx_held(that->socket_ptr);
	memcpy(job->view[job->waits_done++], vk_socket_rx_view(that->socket_ptr, &self->len), self->len);
	vk_wait_more_on(that->socket_ptr, 5);
	job->held_seen[job->waits_done++] = vk_socket_rx_held(that->socket_ptr);
	vk_end();
}

static void test_wait_more_view_and_drop(void **state)
{
	struct vk_test_proc *tp = *state;
	struct view_job job = {0};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, view_reader, &job, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(job.waits_done, 0);
	assert_int_equal(write(fds[1], "HTTP/", 5), 5);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	/* Five held and five seen: the second wait waits. */
	assert_int_equal(job.waits_done, 1);
	assert_int_equal(job.held_seen[0], 5);
	assert_int_equal(write(fds[1], "1.1", 3), 3);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(job.waits_done, 3);
	assert_int_equal(job.held_seen[1], 8);
	assert_memory_equal(job.view[1], "HTTP/1.", 7);
	/* Three taken: five left, in place. */
	assert_int_equal(job.held_seen[2], 5);
	assert_memory_equal(job.view[2], "P/1.1", 5);
	assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.error, 0);
	assert_int_equal(job.waits_done, 4);
	/* The end released the last wait; the five bytes are still held. */
	assert_int_equal(job.held_seen[3], 5);
	assert_int_equal(vk_socket_rx_held(socket_ptr), 5);
}

static void test_readline_returns_through_newline(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READLINE, .len = 64, .calls = 3};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 256, 64);
	assert_non_null(socket_ptr);
	assert_int_equal(write(fds[1], "one\ntwo\nth", 10), 10);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(job.calls_done, 2);
	assert_int_equal(job.rc[0], 4);
	assert_int_equal(job.rc[1], 4);
	assert_memory_equal(job.out, "one\ntwo\n", 8);
	/* the third line is split across peer writes */
	assert_int_equal(write(fds[1], "ree\nfour\n", 9), 9);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.rc[2], 6);
	assert_int_equal(job.out_len, 14);
	assert_memory_equal(job.out, "one\ntwo\nthree\n", 14);
	/* what follows the line stays for the next read */
	assert_int_equal(vk_socket_rx_held(socket_ptr), 5);
}

static void test_readline_at_eof_returns_the_rest(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READLINE, .len = 64, .calls = 2};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 256, 64);
	assert_non_null(socket_ptr);
	assert_int_equal(write(fds[1], "tail", 4), 4);
	assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 20), VK_PROC_ENDED);
	assert_int_equal(job.calls_done, 2);
	assert_int_equal(job.rc[0], 4);
	assert_int_equal(job.rc[1], 0);
	assert_memory_equal(job.out, "tail", 4);
}

static void test_readline_longer_than_max_raises_enobufs(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READLINE, .len = 8, .calls = 1};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 256, 64);
	assert_non_null(socket_ptr);
	assert_int_equal(write(fds[1], "abcdefghij\n", 11), 11);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 20), VK_PROC_ENDED);
	assert_int_equal(job.error, ENOBUFS);
	assert_int_equal(job.calls_done, 0);
	assert_int_equal(job.ended, 0);
}

/* The line does not fit even though it arrives in pieces under the limit. */
static void test_readline_longer_than_max_in_pieces_raises_enobufs(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READLINE, .len = 8, .calls = 1};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 256, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(write(fds[1], "abcde", 5), 5);
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 3), VK_PROC_ALIVE);
	assert_int_equal(job.error, 0);
	assert_int_equal(write(fds[1], "fghij\n", 6), 6);
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 20), VK_PROC_ENDED);
	assert_int_equal(job.error, ENOBUFS);
	assert_int_equal(job.calls_done, 0);
}

static void test_readline_exactly_max_fits(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READLINE, .len = 8, .calls = 1};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 256, 64);
	assert_non_null(socket_ptr);
	assert_int_equal(write(fds[1], "abcdefg\n", 8), 8);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 20), VK_PROC_ENDED);
	assert_int_equal(job.error, 0);
	assert_int_equal(job.rc[0], 8);
	assert_memory_equal(job.out, "abcdefg\n", 8);
}

static void test_readhup_drops_input_until_hangup(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READHUP, .calls = 1};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 4, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(write(fds[1], "abc", 3), 3);
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 3), VK_PROC_ALIVE);
	assert_int_equal(write(fds[1], "defghijk", 8), 8);
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 3), VK_PROC_ALIVE);
	assert_int_equal(job.calls_done, 0);
	assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 20), VK_PROC_ENDED);
	assert_int_equal(job.calls_done, 1);
	assert_int_equal(job.rc[0], 11);
	assert_true(vk_socket_hup(socket_ptr));
}

/* ---- writes and flushes over a socketpair ---- */

struct flush_self {
	int unused;
};

static void write_sleep_flush(struct vk_thread *that)
{
	struct flush_self *self;

	vk_begin();
	vk_write_literal("hello");
	vk_sleep(1);
	vk_flush();
	vk_end();
}

static void test_write_is_buffered_until_flush(void **state)
{
	struct vk_test_proc *tp = *state;
	struct vk_socket *socket_ptr;
	char buf[16];
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, write_sleep_flush, NULL, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(read(fds[1], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(vk_test_blocks(tp), 1);
	vk_proc_local_expire(tp->pl, tp->timer_ns);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(read(fds[1], buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
}

struct ping_self {
	char line[32];
	size_t len;
};

struct ping_result {
	char line[32];
	size_t len;
};

static void ping_then_readline(struct vk_thread *that)
{
	struct ping_result *result = vk_thread_arg(that);
	struct ping_self *self;

	vk_begin();
	vk_write_literal("ping\n");
	vk_readline(self->len, self->line, sizeof(self->line));
	memcpy(result->line, self->line, self->len);
	result->len = self->len;
	vk_end();
}

static void test_read_that_must_wait_flushes_output_first(void **state)
{
	struct vk_test_proc *tp = *state;
	struct ping_result result = {{0}, 0};
	struct vk_socket *socket_ptr;
	char buf[16];
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, ping_then_readline, &result, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	/* the peer sees the request before it has sent anything */
	assert_int_equal(read(fds[1], buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "ping\n", 5);
	assert_int_equal(write(fds[1], "pong\n", 5), 5);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(result.len, 5);
	assert_memory_equal(result.line, "pong\n", 5);
}

/* Same, but the output cannot leave yet: the thread waits for both
 * directions, and the output leaves as soon as it can. */
static void test_read_with_unsendable_output_waits_in_and_out(void **state)
{
	struct vk_test_proc *tp = *state;
	struct ping_result result = {{0}, 0};
	struct vk_socket *socket_ptr;
	static char filler[65536];
	char buf[4096];
	size_t filled = 0;
	size_t drained = 0;
	size_t n;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	/* fill the kernel's buffers from the thread's side */
	while ((n = vk_test_write_some(fds[0], filler, sizeof(filler))) > 0)
		filled += n;
	assert_non_null(vk_test_start(tp, ping_then_readline, &result, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_test_blocks(tp), 2);
	assert_true(vk_test_waits_on(tp, fds[0], VK_EV_IN));
	assert_true(vk_test_waits_on(tp, fds[0], VK_EV_OUT));

	/* the peer drains the filler; the ping follows it */
	while (drained < filled && (n = vk_test_read_some(fds[1], buf, sizeof(buf))) > 0)
		drained += n;
	assert_int_equal(drained, filled);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_OUT);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(read(fds[1], buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "ping\n", 5);
	assert_int_equal(vk_test_blocks(tp), 1);
	assert_true(vk_test_waits_on(tp, fds[0], VK_EV_IN));
	assert_false(vk_test_waits_on(tp, fds[0], VK_EV_OUT));

	assert_int_equal(write(fds[1], "pong\n", 5), 5);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_memory_equal(result.line, "pong\n", 5);
}

/* Peer side of a socketpair for vk_test_pump: feeds `in` to feed_fd (then
 * shuts it down if asked) and collects what arrives on drain_fd. */
struct peer {
	int feed_fd;
	const unsigned char *in;
	size_t in_len;
	size_t in_off;
	int shutdown_after;
	int shut;
	int drain_fd;
	unsigned char *out;
	size_t out_cap;
	size_t out_len;
	size_t overflow;
};

static void peer_drain(struct peer *peer_ptr)
{
	unsigned char buf[65536];
	size_t n;

	if (peer_ptr->drain_fd < 0)
		return;
	while ((n = vk_test_read_some(peer_ptr->drain_fd, buf, sizeof(buf))) > 0) {
		size_t keep = peer_ptr->out_cap - peer_ptr->out_len;

		if (keep > n)
			keep = n;
		memcpy(peer_ptr->out + peer_ptr->out_len, buf, keep);
		peer_ptr->out_len += keep;
		peer_ptr->overflow += n - keep;
	}
}

static void peer_step(void *ctx_ptr)
{
	struct peer *peer_ptr = ctx_ptr;

	if (peer_ptr->feed_fd >= 0) {
		while (peer_ptr->in_off < peer_ptr->in_len) {
			size_t n = vk_test_write_some(peer_ptr->feed_fd, peer_ptr->in + peer_ptr->in_off,
						      peer_ptr->in_len - peer_ptr->in_off);

			if (n == 0)
				break;
			peer_ptr->in_off += n;
		}
		if (peer_ptr->in_off == peer_ptr->in_len && peer_ptr->shutdown_after && !peer_ptr->shut) {
			shutdown(peer_ptr->feed_fd, SHUT_WR);
			peer_ptr->shut = 1;
		}
	}
	peer_drain(peer_ptr);
}

static unsigned char *pattern_buffer(size_t len)
{
	unsigned char *buf = malloc(len);

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = vk_test_pattern(i);
	return buf;
}

static void assert_pattern(const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != vk_test_pattern(i))
			fail_msg("byte %zu is %u, expected %u", i, buf[i], vk_test_pattern(i));
}

static void test_write_larger_than_ring_completes_as_peer_reads(void **state)
{
	struct vk_test_proc *tp = *state;
	unsigned char *data = pattern_buffer(BIG_LEN);
	unsigned char *out = calloc(1, BIG_LEN);
	struct write_job job = {.data = (const char *)data, .len = BIG_LEN, .chunk = BIG_LEN};
	struct peer peer = {.feed_fd = -1};
	struct vk_socket *socket_ptr;
	int fds[2];

	assert_non_null(out);
	socket_ptr = vk_test_fd_socket(tp, fds, 64, 4096);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, chunk_writer, &job, socket_ptr));
	/* more than the ring and the kernel's buffer hold: it must block */
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(job.ended, 0);
	peer.drain_fd = fds[1];
	peer.out = out;
	peer.out_cap = BIG_LEN;
	assert_int_equal(vk_test_pump(tp, peer_step, &peer, 100), VK_PROC_ENDED);
	peer_drain(&peer);
	assert_int_equal(job.error, 0);
	assert_int_equal(job.ended, 1);
	assert_int_equal(peer.out_len, BIG_LEN);
	assert_int_equal(peer.overflow, 0);
	assert_pattern(out, BIG_LEN);
	free(out);
	free(data);
}

static void test_blocked_write_reports_fd_out(void **state)
{
	struct vk_test_proc *tp = *state;
	unsigned char *data = pattern_buffer(BIG_LEN);
	struct write_job job = {.data = (const char *)data, .len = BIG_LEN, .chunk = BIG_LEN};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 4096);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, chunk_writer, &job, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_test_blocks(tp), 1);
	assert_int_equal(tp->wait_count, 1);
	assert_int_equal(tp->waits[0].fd, fds[0]);
	assert_int_equal(tp->waits[0].events, VK_EV_OUT);
	assert_int_equal(tp->timer_ns, 0);
	free(data);
}

static void test_blocked_read_reports_fd_in(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READ, .len = 4, .calls = 1};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_test_blocks(tp), 1);
	assert_int_equal(tp->wait_count, 1);
	assert_int_equal(tp->waits[0].fd, fds[0]);
	assert_int_equal(tp->waits[0].events, VK_EV_IN);
	assert_int_equal(tp->timer_ns, 0);
}

/* ---- deductive polling ---- */

/* After a read hit EAGAIN, waking the thread without an fd event must not
 * make it read again: the data the peer wrote stays in the kernel. */
static void test_read_after_eagain_waits_for_fd_event(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READ, .len = 6, .calls = 1};
	struct vk_socket *socket_ptr;
	struct vk_thread *thread_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	thread_ptr = vk_test_start(tp, io_reader, &job, socket_ptr);
	assert_non_null(thread_ptr);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);

	assert_int_equal(write(fds[1], "abcdef", 6), 6);
	vk_thread_wake(thread_ptr); /* a wake-up with no event behind it */
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(fd_pending(fds[0]), 6);
	assert_int_equal(vk_socket_rx_held(socket_ptr), 0);
	assert_int_equal(job.calls_done, 0);
	assert_int_equal(vk_test_blocks(tp), 1);
	assert_true(vk_test_waits_on(tp, fds[0], VK_EV_IN));

	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(fd_pending(fds[0]), 0);
	assert_memory_equal(job.out, "abcdef", 6);
}

/* An event for another fd does not end the deduction either. */
static void test_read_after_eagain_ignores_other_fd_events(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READ, .len = 3, .calls = 1};
	struct vk_socket *socket_ptr;
	struct vk_socket *other_ptr;
	int fds[2];
	int other[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	other_ptr = vk_test_fd_socket(tp, other, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(other_ptr);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(write(fds[1], "xyz", 3), 3);
	vk_proc_local_fd_event(tp->pl, other[0], VK_EV_IN | VK_EV_OUT);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(fd_pending(fds[0]), 3);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_memory_equal(job.out, "xyz", 3);
}

/* A read that got less than the ring could hold emptied the socket: the
 * next read is known to block without trying it. */
static void test_read_after_short_read_waits_for_fd_event(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READ, .len = 6, .calls = 1};
	struct vk_socket *socket_ptr;
	struct vk_thread *thread_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_int_equal(write(fds[1], "abc", 3), 3);
	thread_ptr = vk_test_start(tp, io_reader, &job, socket_ptr);
	assert_non_null(thread_ptr);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(fd_pending(fds[0]), 0);

	assert_int_equal(write(fds[1], "def", 3), 3);
	vk_thread_wake(thread_ptr);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(fd_pending(fds[0]), 3);
	assert_int_equal(job.calls_done, 0);

	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_memory_equal(job.out, "abcdef", 6);
}

/* After a hang-up event, a short read no longer proves the socket empty
 * (data and FIN may be announced by one edge): the thread reads on to EOF
 * without waiting for another event. */
static void test_read_after_hup_event_reads_to_eof(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job job = {.op = OP_READ, .len = 10, .calls = 1};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, io_reader, &job, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(write(fds[1], "abc", 3), 3);
	assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN | VK_EV_HUP);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.rc[0], 3);
	assert_memory_equal(job.out, "abc", 3);
}

/* ---- splice between socketpairs ---- */

struct splice_job {
	struct vk_socket *src;
	struct vk_socket *dst;
	const char *head; /* written to dst before the splice, if set */
	size_t len;
	size_t rc;
	int error;
	int ended;
};

struct splice_self {
	size_t rc;
};

static void splicer(struct vk_thread *that)
{
	struct splice_job *job = vk_thread_arg(that);
	struct splice_self *self;

	vk_begin();
	vk_catch
	{
		job->error = vk_error();
	}
	if (job->head)
		vk_write_on(job->dst, job->head, strlen(job->head));
	vk_splice(self->rc, job->src, job->dst, job->len);
	job->rc = self->rc;
	vk_flush_on(job->dst);
	job->ended = 1;
	vk_end();
}

/* Runs a splicer between two socketpairs to the end: the peer feeds its
 * `in` into src (the caller sets in, out and their lengths) and drains dst
 * into its `out`. src's fds are the caller's, for checks after. */
static void splice_between_socketpairs(struct vk_test_proc *tp, struct splice_job *job, struct peer *peer, int src[2])
{
	int dst[2];

	job->src = vk_test_fd_socket(tp, src, 4096, 64);
	job->dst = vk_test_fd_socket(tp, dst, 64, 4096);
	assert_non_null(job->src);
	assert_non_null(job->dst);
	assert_non_null(vk_test_start(tp, splicer, job, NULL));
	peer->feed_fd = src[1];
	peer->drain_fd = dst[1];
	assert_int_equal(vk_test_pump(tp, peer_step, peer, 100), VK_PROC_ENDED);
	peer_drain(peer);
}

static void test_splice_exact_count_between_socketpairs(void **state)
{
	struct vk_test_proc *tp = *state;
	size_t len = 300000;
	size_t extra = 1000;
	unsigned char *data = pattern_buffer(len + extra);
	unsigned char *out = calloc(1, len + extra);
	struct splice_job job = {.len = len};
	struct peer peer = {0};
	int src[2];

	assert_non_null(out);
	peer.in = data;
	peer.in_len = len + extra;
	peer.out = out;
	peer.out_cap = len + extra;
	splice_between_socketpairs(tp, &job, &peer, src);
	assert_int_equal(job.error, 0);
	assert_int_equal(job.ended, 1);
	assert_int_equal(job.rc, len);
	assert_int_equal(peer.out_len, len);
	assert_pattern(out, len);
	/* the bytes past the count were not consumed beyond the ring */
	assert_int_equal(vk_socket_rx_held(job.src) + fd_pending(src[0]) + (peer.in_len - peer.in_off), extra);
	free(out);
	free(data);
}

/* A head queued on dst before the splice goes first, the spliced bytes
 * after it in order (one writev carries both while the peer keeps up), and
 * nothing is left queued. */
static void test_splice_after_a_queued_head(void **state)
{
	struct vk_test_proc *tp = *state;
	size_t len = 300000;
	unsigned char *data = pattern_buffer(len);
	unsigned char *out = calloc(1, len + 16);
	struct splice_job job = {.len = len, .head = "HEAD:"};
	struct peer peer = {0};
	int src[2];

	assert_non_null(out);
	peer.in = data;
	peer.in_len = len;
	peer.out = out;
	peer.out_cap = len + 16;
	splice_between_socketpairs(tp, &job, &peer, src);
	assert_int_equal(job.error, 0);
	assert_int_equal(job.rc, len);
	assert_int_equal(peer.out_len, len + 5);
	assert_memory_equal(out, "HEAD:", 5);
	assert_pattern(out + 5, len);
	assert_true(vk_vectoring_is_empty(vk_socket_tx(job.dst)));
	free(out);
	free(data);
}

/* vk_socket_splice_now, with no thread: what dst has queued and then up to
 * `len` of the bytes src holds leave in one go, and the rest stays in
 * src; with dst's far side full, nothing goes, nothing is taken from src,
 * and the queued head stays queued for a thread to flush. */
static void test_splice_now_sends_queued_head_and_held_bytes(void **state)
{
	struct vk_test_proc *tp = *state;
	unsigned char *data = pattern_buffer(1500);
	unsigned char out[2048];
	struct vk_socket *src, *dst;
	int src_fds[2], dst_fds[2];
	ssize_t got;

	src = vk_test_fd_socket(tp, src_fds, 4096, 64);
	dst = vk_test_fd_socket(tp, dst_fds, 64, 4096);
	assert_non_null(src);
	assert_non_null(dst);
	assert_int_equal(vk_socket_unread(src, data, 1500), 1500);
	assert_int_equal(vk_vectoring_write(vk_socket_tx(dst), "HEAD:", 5), 5);
	assert_int_equal(vk_socket_splice_now(src, dst, 1000), 1000);
	assert_int_equal(vk_vectoring_len(vk_socket_tx(dst)), 0);
	assert_int_equal(vk_socket_rx_held(src), 500);
	got = read(dst_fds[1], out, sizeof(out));
	assert_int_equal(got, 1005);
	assert_memory_equal(out, "HEAD:", 5);
	assert_pattern(out + 5, 1000);
	free(data);
}

static void test_splice_now_with_a_full_peer_moves_nothing(void **state)
{
	struct vk_test_proc *tp = *state;
	unsigned char *data = pattern_buffer(1500);
	char fill[4096];
	struct vk_socket *src, *dst;
	int src_fds[2], dst_fds[2];

	src = vk_test_fd_socket(tp, src_fds, 4096, 64);
	dst = vk_test_fd_socket(tp, dst_fds, 64, 4096);
	assert_non_null(src);
	assert_non_null(dst);
	memset(fill, 'x', sizeof(fill));
	while (write(dst_fds[0], fill, sizeof(fill)) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(vk_socket_unread(src, data, 1500), 1500);
	assert_int_equal(vk_vectoring_write(vk_socket_tx(dst), "HEAD:", 5), 5);
	assert_int_equal(vk_socket_splice_now(src, dst, 1500), 0);
	assert_int_equal(vk_vectoring_len(vk_socket_tx(dst)), 5);
	assert_int_equal(vk_socket_rx_held(src), 1500);
	/* Known blocked now: no second try until the poller says so. */
	assert_int_equal(vk_socket_splice_now(src, dst, 1500), 0);
	assert_int_equal(vk_socket_rx_held(src), 1500);
	free(data);
}

static void test_splice_until_eof_between_socketpairs(void **state)
{
	struct vk_test_proc *tp = *state;
	size_t len = 500000;
	unsigned char *data = pattern_buffer(len);
	unsigned char *out = calloc(1, len);
	struct splice_job job = {.len = SIZE_MAX};
	struct peer peer = {0};
	int src[2];

	assert_non_null(out);
	peer.in = data;
	peer.in_len = len;
	peer.shutdown_after = 1;
	peer.out = out;
	peer.out_cap = len;
	splice_between_socketpairs(tp, &job, &peer, src);
	assert_int_equal(job.error, 0);
	assert_int_equal(job.ended, 1);
	assert_int_equal(job.rc, len);
	assert_int_equal(peer.out_len, len);
	assert_int_equal(peer.overflow, 0);
	assert_pattern(out, len);
	free(out);
	free(data);
}

/* Reads `len` bytes in batches and checks each against the test pattern. */
struct pattern_job {
	size_t len;
	size_t batch;
	size_t seen;
	size_t first_bad; /* SIZE_MAX: none */
	int error;
	int ended;
};

struct pattern_self {
	unsigned char buf[512];
	size_t rc;
};

static void pattern_reader(struct vk_thread *that)
{
	struct pattern_job *job = vk_thread_arg(that);
	struct pattern_self *self;

	vk_begin();
	vk_catch
	{
		job->error = vk_error();
	}
	while (job->seen < job->len) {
		vk_read(self->rc, self->buf, job->len - job->seen < job->batch ? job->len - job->seen : job->batch);
		if (self->rc == 0)
			break;
		for (size_t i = 0; i < self->rc; i++)
			if (self->buf[i] != vk_test_pattern(job->seen + i) && job->first_bad == SIZE_MAX)
				job->first_bad = job->seen + i;
		job->seen += self->rc;
	}
	job->ended = 1;
	vk_end();
}

/* Splice into an in-process pair: the bytes go through the rings. */
static void test_splice_from_socketpair_to_in_process_reader(void **state)
{
	struct vk_test_proc *tp = *state;
	size_t len = 100000;
	unsigned char *data = pattern_buffer(len);
	struct splice_job job = {.len = len};
	struct pattern_job reader = {.len = len, .batch = 300, .first_bad = SIZE_MAX};
	struct vk_socket *reader_sock;
	struct peer peer = {.drain_fd = -1};
	int src[2];

	job.src = vk_test_fd_socket(tp, src, 1024, 64);
	assert_non_null(job.src);
	in_process_pair(tp, &job.dst, &reader_sock, 256);
	assert_non_null(vk_test_start(tp, splicer, &job, NULL));
	assert_non_null(vk_test_start(tp, pattern_reader, &reader, reader_sock));
	peer.feed_fd = src[1];
	peer.in = data;
	peer.in_len = len;
	assert_int_equal(vk_test_pump(tp, peer_step, &peer, 100), VK_PROC_ENDED);
	assert_int_equal(job.error, 0);
	assert_int_equal(job.rc, len);
	assert_int_equal(reader.error, 0);
	assert_int_equal(reader.seen, len);
	assert_int_equal(reader.first_bad, SIZE_MAX);
	free(data);
}

/* ---- in-process pairs ---- */

static void test_in_process_read_exact_across_writes(void **state)
{
	struct vk_test_proc *tp = *state;
	struct write_job writer = {.data = "abcdefghijkl", .len = 12, .chunk = 4, .flush_each = 1};
	struct io_job reader = {.op = OP_READ, .len = 12, .calls = 1};
	struct vk_socket *w;
	struct vk_socket *r;

	in_process_pair(tp, &w, &r, 64);
	assert_non_null(vk_test_start(tp, io_reader, &reader, r));
	assert_non_null(vk_test_start(tp, chunk_writer, &writer, w));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(writer.error, 0);
	assert_int_equal(reader.rc[0], 12);
	assert_memory_equal(reader.out, "abcdefghijkl", 12);
}

static void test_in_process_readline_across_writes(void **state)
{
	struct vk_test_proc *tp = *state;
	struct write_job writer = {.data = "hello\nworld\n", .len = 12, .chunk = 3, .flush_each = 1};
	struct io_job reader = {.op = OP_READLINE, .len = 32, .calls = 2};
	struct vk_socket *w;
	struct vk_socket *r;

	in_process_pair(tp, &w, &r, 64);
	assert_non_null(vk_test_start(tp, io_reader, &reader, r));
	assert_non_null(vk_test_start(tp, chunk_writer, &writer, w));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(reader.rc[0], 6);
	assert_int_equal(reader.rc[1], 6);
	assert_memory_equal(reader.out, "hello\nworld\n", 12);
}

static void test_in_process_write_larger_than_rings(void **state)
{
	struct vk_test_proc *tp = *state;
	size_t len = 1000;
	unsigned char *data = pattern_buffer(len);
	struct write_job writer = {.data = (const char *)data, .len = len, .chunk = len};
	struct io_job reader = {.op = OP_READ, .len = len, .calls = 1};
	struct vk_socket *w;
	struct vk_socket *r;

	in_process_pair(tp, &w, &r, 16);
	assert_non_null(vk_test_start(tp, chunk_writer, &writer, w));
	assert_non_null(vk_test_start(tp, io_reader, &reader, r));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(writer.error, 0);
	assert_int_equal(writer.ended, 1);
	assert_int_equal(reader.rc[0], len);
	assert_pattern((const unsigned char *)reader.out, len);
	free(data);
}

static void test_in_process_close_gives_peer_eof(void **state)
{
	struct vk_test_proc *tp = *state;
	struct write_job writer = {.data = "abc", .len = 3, .chunk = 3, .close_at_end = 1};
	struct io_job reader = {.op = OP_READ, .len = 10, .calls = 2};
	struct vk_socket *w;
	struct vk_socket *r;

	in_process_pair(tp, &w, &r, 64);
	assert_non_null(vk_test_start(tp, io_reader, &reader, r));
	assert_non_null(vk_test_start(tp, chunk_writer, &writer, w));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_true(vk_socket_is_closed(w));
	assert_int_equal(reader.error, 0);
	assert_int_equal(reader.calls_done, 2);
	assert_int_equal(reader.rc[0], 3);
	assert_int_equal(reader.rc[1], 0);
	assert_memory_equal(reader.out, "abc", 3);
	assert_true(vk_socket_eof(r));
}

static void test_in_process_shutdown_gives_peer_eof(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job reader = {.op = OP_READ_SOME, .len = 10, .calls = 1};
	struct vk_socket *w;
	struct vk_socket *r;

	in_process_pair(tp, &w, &r, 64);
	assert_non_null(vk_test_start(tp, io_reader, &reader, r));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	vk_socket_shutdown_tx(w);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(reader.calls_done, 1);
	assert_int_equal(reader.rc[0], 0);
}

static void test_write_to_closed_in_process_peer_raises_epipe(void **state)
{
	struct vk_test_proc *tp = *state;
	struct write_job writer = {.data = "abc", .len = 3, .chunk = 3};
	struct vk_socket *w;
	struct vk_socket *r;

	in_process_pair(tp, &w, &r, 64);
	vk_socket_close(r);
	assert_non_null(vk_test_start(tp, chunk_writer, &writer, w));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(writer.error, EPIPE);
	assert_int_equal(writer.ended, 0);
}

/* The reader closes while the writer is blocked on a full pipe: the writer
 * wakes and gets EPIPE rather than waiting forever. */
struct closing_reader_self {
	char buf[4];
	size_t rc;
};

static void read_four_then_close(struct vk_thread *that)
{
	struct closing_reader_self *self;

	vk_begin();
	vk_read(self->rc, self->buf, sizeof(self->buf));
	vk_close();
	vk_end();
}

static void test_blocked_writer_gets_epipe_when_reader_closes(void **state)
{
	struct vk_test_proc *tp = *state;
	size_t len = 1000;
	unsigned char *data = pattern_buffer(len);
	struct write_job writer = {.data = (const char *)data, .len = len, .chunk = len};
	struct vk_socket *w;
	struct vk_socket *r;

	in_process_pair(tp, &w, &r, 16);
	assert_non_null(vk_test_start(tp, chunk_writer, &writer, w));
	assert_non_null(vk_test_start(tp, read_four_then_close, NULL, r));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(writer.error, EPIPE);
	free(data);
}

/* Over a socketpair whose peer is gone, the flush raises the socket's
 * error (SIGPIPE is ignored, as the runtime does). */
static void test_write_to_closed_fd_peer_raises_epipe(void **state)
{
	struct vk_test_proc *tp = *state;
	struct write_job writer = {.data = "abc", .len = 3, .chunk = 3};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	close(fds[1]);
	vk_test_forget_fd(tp, fds[1]);
	assert_non_null(vk_test_start(tp, chunk_writer, &writer, socket_ptr));
	assert_int_equal(vk_test_pump(tp, NULL, NULL, 20), VK_PROC_ENDED);
	assert_int_equal(writer.error, EPIPE);
	assert_int_equal(writer.ended, 0);
}

static void test_in_process_blocks_report_no_fd(void **state)
{
	struct vk_test_proc *tp = *state;
	struct io_job reader = {.op = OP_READ, .len = 10, .calls = 1};
	struct vk_socket *w;
	struct vk_socket *r;

	in_process_pair(tp, &w, &r, 64);
	assert_non_null(vk_test_start(tp, io_reader, &reader, r));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_test_blocks(tp), 0);
	assert_int_equal(tp->wait_count, 0);
}

/* ---- a relay's read: dst's queued output leaves before src is waited on ---- */

struct relay_job {
	struct vk_socket *src;
	struct vk_socket *dst;
	const char *out; /* written to dst (queued) before the read */
	int sleep_after; /* then wait on a timer, so the test sees dst as it is */
	char in[32];
	size_t in_len;
	int error;
	int ended;
};

struct relay_self {
	size_t rc;
};

static void relay_once(struct vk_thread *that)
{
	struct relay_job *job = vk_thread_arg(that);
	struct relay_self *self;

	vk_begin();
	vk_catch
	{
		job->error = vk_error();
	}
	vk_write_on(job->dst, job->out, strlen(job->out));
	vk_read_some_relay_on(job->src, job->dst, self->rc, job->in, sizeof(job->in));
	job->in_len = self->rc;
	if (job->sleep_after)
		vk_sleep(1);
	job->ended = 1;
	vk_end();
}

static void test_read_relay_that_must_wait_sends_dst_first(void **state)
{
	struct vk_test_proc *tp = *state;
	struct relay_job job = {.out = "chunk"};
	char buf[16];
	int src[2];
	int dst[2];

	job.src = vk_test_fd_socket(tp, src, 64, 64);
	job.dst = vk_test_fd_socket(tp, dst, 64, 64);
	assert_non_null(job.src);
	assert_non_null(job.dst);
	assert_non_null(vk_test_start(tp, relay_once, &job, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	/* dst's peer has the chunk while src has sent nothing yet */
	assert_int_equal(read(dst[1], buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "chunk", 5);
	assert_int_equal(vk_test_blocks(tp), 1);
	assert_true(vk_test_waits_on(tp, src[0], VK_EV_IN));
	assert_int_equal(write(src[1], "next", 4), 4);
	vk_proc_local_fd_event(tp->pl, src[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.error, 0);
	assert_int_equal(job.in_len, 4);
	assert_memory_equal(job.in, "next", 4);
}

/* Bytes already there: the read takes them and sends nothing more, so a
 * fast body costs no extra send per piece. */
static void test_read_relay_with_input_there_sends_nothing(void **state)
{
	struct vk_test_proc *tp = *state;
	struct relay_job job = {.out = "chunk", .sleep_after = 1};
	char buf[16];
	int src[2];
	int dst[2];

	job.src = vk_test_fd_socket(tp, src, 64, 64);
	job.dst = vk_test_fd_socket(tp, dst, 64, 64);
	assert_non_null(job.src);
	assert_non_null(job.dst);
	assert_int_equal(write(src[1], "here", 4), 4);
	assert_non_null(vk_test_start(tp, relay_once, &job, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(job.in_len, 4);
	assert_int_equal(read(dst[1], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(vk_test_blocks(tp), 1);
	vk_proc_local_expire(tp->pl, tp->timer_ns);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.ended, 1);
}

/* dst cannot take its output: the read waits for dst to drain first,
 * then for src. */
static void test_read_relay_with_dst_full_waits_for_dst(void **state)
{
	struct vk_test_proc *tp = *state;
	struct relay_job job = {.out = "ping"};
	static char filler[65536];
	char buf[4096];
	size_t filled = 0;
	size_t drained = 0;
	size_t n;
	int src[2];
	int dst[2];

	job.src = vk_test_fd_socket(tp, src, 64, 64);
	job.dst = vk_test_fd_socket(tp, dst, 64, 64);
	assert_non_null(job.src);
	assert_non_null(job.dst);
	while ((n = vk_test_write_some(dst[0], filler, sizeof(filler))) > 0)
		filled += n;
	assert_non_null(vk_test_start(tp, relay_once, &job, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_test_blocks(tp), 1);
	assert_true(vk_test_waits_on(tp, dst[0], VK_EV_OUT));
	while (drained < filled && (n = vk_test_read_some(dst[1], buf, sizeof(buf))) > 0)
		drained += n;
	vk_proc_local_fd_event(tp->pl, dst[0], VK_EV_OUT);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(read(dst[1], buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(vk_test_blocks(tp), 1);
	assert_true(vk_test_waits_on(tp, src[0], VK_EV_IN));
	assert_int_equal(write(src[1], "pong", 4), 4);
	vk_proc_local_fd_event(tp->pl, src[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_memory_equal(job.in, "pong", 4);
}

/* ---- taking back output that has not left ---- */

struct mark_job {
	int dropped_unsent; /* vk_socket_tx_drop_from on output still queued */
	int dropped_sent;   /* ... on output part of which left */
};

struct mark_self {
	uint64_t mark;
};

static void write_mark_drop(struct vk_thread *that)
{
	struct mark_job *job = vk_thread_arg(that);
	struct mark_self *self;

	vk_begin();
	vk_write_literal("keep");
	self->mark = vk_socket_tx_mark(that->socket_ptr);
	vk_write_literal("drop");
	job->dropped_unsent = vk_socket_tx_drop_from(that->socket_ptr, self->mark);
	vk_flush();
	self->mark = vk_socket_tx_mark(that->socket_ptr);
	vk_write_literal("sent");
	vk_flush();
	vk_write_literal("late");
	job->dropped_sent = vk_socket_tx_drop_from(that->socket_ptr, self->mark);
	vk_flush();
	vk_end();
}

static void test_tx_drop_from_takes_back_only_unsent_output(void **state)
{
	struct vk_test_proc *tp = *state;
	struct mark_job job = {-2, -2};
	struct vk_socket *socket_ptr;
	char buf[32];
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, write_mark_drop, &job, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(job.dropped_unsent, 0);
	assert_int_equal(job.dropped_sent, -1);
	assert_int_equal(read(fds[1], buf, sizeof(buf)), 12);
	assert_memory_equal(buf, "keepsentlate", 12);
}

#define SOCKET_TEST(fn) cmocka_unit_test_setup_teardown(fn, vk_test_setup, vk_test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		SOCKET_TEST(test_read_exact_across_peer_writes),
		SOCKET_TEST(test_read_at_eof_returns_fewer),
		SOCKET_TEST(test_read_some_waits_for_a_byte_and_returns_what_is_there),
		SOCKET_TEST(test_read_some_at_eof_returns_zero),
		SOCKET_TEST(test_wait_more_view_and_drop),
		SOCKET_TEST(test_readline_returns_through_newline),
		SOCKET_TEST(test_readline_at_eof_returns_the_rest),
		SOCKET_TEST(test_readline_longer_than_max_raises_enobufs),
		SOCKET_TEST(test_readline_longer_than_max_in_pieces_raises_enobufs),
		SOCKET_TEST(test_readline_exactly_max_fits),
		SOCKET_TEST(test_readhup_drops_input_until_hangup),
		SOCKET_TEST(test_write_is_buffered_until_flush),
		SOCKET_TEST(test_read_that_must_wait_flushes_output_first),
		SOCKET_TEST(test_read_with_unsendable_output_waits_in_and_out),
		SOCKET_TEST(test_write_larger_than_ring_completes_as_peer_reads),
		SOCKET_TEST(test_blocked_write_reports_fd_out),
		SOCKET_TEST(test_blocked_read_reports_fd_in),
		SOCKET_TEST(test_read_after_eagain_waits_for_fd_event),
		SOCKET_TEST(test_read_after_eagain_ignores_other_fd_events),
		SOCKET_TEST(test_read_after_short_read_waits_for_fd_event),
		SOCKET_TEST(test_read_after_hup_event_reads_to_eof),
		SOCKET_TEST(test_splice_exact_count_between_socketpairs),
		SOCKET_TEST(test_splice_after_a_queued_head),
		SOCKET_TEST(test_splice_now_sends_queued_head_and_held_bytes),
		SOCKET_TEST(test_splice_now_with_a_full_peer_moves_nothing),
		SOCKET_TEST(test_splice_until_eof_between_socketpairs),
		SOCKET_TEST(test_splice_from_socketpair_to_in_process_reader),
		SOCKET_TEST(test_in_process_read_exact_across_writes),
		SOCKET_TEST(test_in_process_readline_across_writes),
		SOCKET_TEST(test_in_process_write_larger_than_rings),
		SOCKET_TEST(test_in_process_close_gives_peer_eof),
		SOCKET_TEST(test_in_process_shutdown_gives_peer_eof),
		SOCKET_TEST(test_write_to_closed_in_process_peer_raises_epipe),
		SOCKET_TEST(test_blocked_writer_gets_epipe_when_reader_closes),
		SOCKET_TEST(test_write_to_closed_fd_peer_raises_epipe),
		SOCKET_TEST(test_in_process_blocks_report_no_fd),
		SOCKET_TEST(test_read_relay_that_must_wait_sends_dst_first),
		SOCKET_TEST(test_read_relay_with_input_there_sends_nothing),
		SOCKET_TEST(test_read_relay_with_dst_full_waits_for_dst),
		SOCKET_TEST(test_tx_drop_from_takes_back_only_unsent_output),
	};

	signal(SIGPIPE, SIG_IGN);

	return cmocka_run_group_tests(tests, NULL, NULL);
}
