#ifndef VK_CORO_H
#define VK_CORO_H

/* The micro-thread language: macros that turn a blocking-style function
 * into a state machine. A thread function looks like
 *
 *	void echo(struct vk_thread *that)
 *	{
 *		struct { char line[256]; size_t n; } *self;
 *
 *		vk_begin();
 *		for (;;) {
 *			vk_readline(self->n, self->line, sizeof(self->line));
 *			if (self->n == 0)
 *				break;
 *			vk_write(self->line, self->n);
 *			vk_flush();
 *		}
 *		vk_end();
 *	}
 *
 * Rules: state that must survive a blocking call lives in `self` (C locals
 * do not survive); `that` is the thread; every macro may return from the
 * function and come back later.
 *
 * Errors: vk_raise(e) jumps to the installed vk_catch block, or, with none,
 * ends the thread with the error (a called child hands it to its caller; a
 * thread with no caller takes its process down). vk_catch { } and
 * vk_finally { } install their block for everything that follows them,
 * the way Go's defer does; a finally block runs once when the thread ends,
 * by success or error. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "vk_future.h"
#include "vk_proc_local.h"
#include "vk_socket.h"
#include "vk_sys.h"
#include "vk_thread.h"
#include "vk_thread_s.h"

#define VK_CAT_(a, b) a##b
#define VK_CAT(a, b) VK_CAT_(a, b)
#define VK_LABEL(c) VK_CAT(vk_l_, c)

/* ---- structure ---- */

#define vk_begin()                                                 \
	do {                                                       \
		self = vk_thread_self(that, sizeof(*self));        \
		if (!self) {                                       \
			vk_thread_fail_alloc(that, sizeof(*self)); \
			return;                                    \
		}                                                  \
		if (that->resume_ptr)                              \
			goto * that->resume_ptr;                   \
	} while (0)

/* For a coroutine whose state lives in its argument (or nowhere): no
 * self block is allocated, so a call costs at most one allocation, the
 * thread's (none when the caller kept its last child's block).
 * C locals still do not survive a blocking macro. */
#define vk_begin_stateless()                     \
	do {                                     \
		if (that->resume_ptr)            \
			goto * that->resume_ptr; \
	} while (0)

#define vk_end()                                       \
	vk_l_end:                                      \
	__attribute__((unused));                       \
	if (that->finally_ptr) {                       \
		void *vk_finally_ = that->finally_ptr; \
		that->finally_ptr = NULL;              \
		goto *vk_finally_;                     \
	}                                              \
	vk_thread_exit(that);                          \
	return

/* ---- yielding ---- */

#define VK_YIELD_(c, st)                          \
	do {                                      \
		that->resume_ptr = &&VK_LABEL(c); \
		that->status = (st);              \
		return;                           \
		VK_LABEL(c) :;                    \
	} while (0)

/* Yields with status `st` for as long as `cond` holds; the condition is
 * tested again each time the thread is resumed (a wake-up may be early). */
#define VK_WAIT_WHILE_(c, cond, st)               \
	while (cond) {                            \
		that->resume_ptr = &&VK_LABEL(c); \
		that->status = (st);              \
		return;                           \
		VK_LABEL(c) :;                    \
	}

/* Let the other runnable threads of the process go first. */
#define vk_yield() VK_YIELD_(__COUNTER__, VK_THREAD_RUNNABLE)

/* ---- errors ---- */

#define vk_raise(e)                                          \
	do {                                                 \
		that->error = (e);                           \
		that->error_file = __FILE__;                 \
		that->error_line = __LINE__;                 \
		if (that->catch_ptr) {                       \
			void *vk_handler_ = that->catch_ptr; \
			that->catch_ptr = NULL;              \
			goto *vk_handler_;                   \
		}                                            \
		goto vk_l_end;                               \
	} while (0)

/* Installs a block run later by jumping to its label; `after` runs when
 * the block falls off its end. */
#define VK_INSTALL_(c, slot, after)       \
	that->slot = &&VK_LABEL(c);       \
	if (0)                            \
	VK_LABEL(c)                       \
	    : for (;; ({                  \
			   after;         \
			   goto vk_l_end; \
		   }))

/* A catch block that completes has handled the error; a finally block
 * leaves it for whoever waits on the thread. */
#define VK_CATCH_(c)                          \
	that->catch_home_ptr = &&VK_LABEL(c); \
	VK_INSTALL_(c, catch_ptr, vk_clear_error())
#define vk_catch VK_CATCH_(__COUNTER__)
#define vk_finally VK_INSTALL_(__COUNTER__, finally_ptr, (void)0)
#define vk_uncatch() (that->catch_ptr = NULL)
/* A catch block that goes back to work (goto) arms itself again first. */
#define vk_catch_rearm() (that->catch_ptr = that->catch_home_ptr)
#define vk_error() (that->error)
#define vk_error_signal() (that->error_signal)
#define vk_clear_error() (that->error = 0, that->error_signal = 0)

/* ---- blocking machinery ---- */

/* Runs `op` (a vk_socket_*_op call) until it is done, blocking the thread
 * whenever it would block, raising on error or deadline. */
/* An idle timeout restarts its deadline whenever the thread is about to
 * wait, so what it limits is silence, not the whole operation; a limit
 * (vk_limit_at) caps whatever deadline that gives. */
#define VK_REARM_IDLE_()                                                                          \
	do {                                                                                      \
		if (that->idle_ns)                                                                \
			that->deadline_ns = vk_sys_now_ns() + that->idle_ns;                      \
		if (that->limit_ns && (!that->deadline_ns || that->deadline_ns > that->limit_ns)) \
			that->deadline_ns = that->limit_ns;                                       \
	} while (0)

#define VK_OP_(c, op)                                              \
	do {                                                       \
		that->op_done = 0;                                 \
		for (;;) {                                         \
			int vk_rc_ = (op);                         \
			if (vk_rc_ == VK_OP_DONE)                  \
				break;                             \
			if (vk_rc_ < 0)                            \
				vk_raise(-vk_rc_);                 \
			that->resume_ptr = &&VK_LABEL(c);          \
			VK_REARM_IDLE_();                          \
			that->status = VK_THREAD_BLOCKED;          \
			return;                                    \
			VK_LABEL(c) : vk_thread_clear_block(that); \
			if (that->timed_out) {                     \
				that->timed_out = 0;               \
				vk_raise(ETIMEDOUT);               \
			}                                          \
		}                                                  \
	} while (0)

/* ---- socket I/O (on the thread's socket; _on variants take one) ---- */

/* One read op in `mode`; rc gets the bytes read. */
#define VK_READ_(c, sock, rc, buf, len, mode)                                                             \
	do {                                                                                              \
		VK_OP_(c, vk_socket_read_op((sock), that, (char *)(buf), (len), &that->op_done, (mode))); \
		(rc) = that->op_done;                                                                     \
	} while (0)

/* Exactly len bytes, fewer only at EOF. */
#define vk_read_on(sock, rc, buf, len) VK_READ_(__COUNTER__, sock, rc, buf, len, VK_READ_EXACT)
#define vk_read(rc, buf, len) vk_read_on(that->socket_ptr, rc, buf, len)

/* At least one byte, or 0 at EOF. */
#define vk_read_some_on(sock, rc, buf, len) VK_READ_(__COUNTER__, sock, rc, buf, len, VK_READ_SOME)
#define vk_read_some(rc, buf, len) vk_read_some_on(that->socket_ptr, rc, buf, len)

/* vk_read_some_on from src that, before it waits, sends what dst has
 * queued: what a relay wrote to dst goes out before it waits for more. */
#define vk_read_some_relay_on(src, dst, rc, buf, len)                                                      \
	do {                                                                                               \
		VK_OP_(__COUNTER__,                                                                        \
		       vk_socket_read_relay_op((src), (dst), that, (char *)(buf), (len), &that->op_done)); \
		(rc) = that->op_done;                                                                      \
	} while (0)

/* A line through its '\n' (rc counts it); at EOF, what remains (rc may be
 * 0). A line that does not fit in `len` raises ENOBUFS. */
#define vk_readline_on(sock, rc, buf, len) VK_READ_(__COUNTER__, sock, rc, buf, len, VK_READ_LINE)
#define vk_readline(rc, buf, len) vk_readline_on(that->socket_ptr, rc, buf, len)

/* Until sock's rx holds more than `held` bytes, its peer's end, or a full
 * ring (vk_socket_rx_view looks at them in place). */
#define vk_wait_more_on(sock, held) VK_OP_(__COUNTER__, vk_socket_wait_more_op((sock), that, (held)))

#define vk_write_on(sock, buf, len) \
	VK_OP_(__COUNTER__, vk_socket_write_op((sock), that, (const char *)(buf), (len), &that->op_done))
#define vk_write(buf, len) vk_write_on(that->socket_ptr, buf, len)
#define vk_write_literal(s) vk_write((s), sizeof(s) - 1)

#define vk_flush_on(sock) VK_OP_(__COUNTER__, vk_socket_flush_op((sock), that))
#define vk_flush() vk_flush_on(that->socket_ptr)

/* Drop input until the peer hangs up. */
#define vk_readhup_on(sock, rc)                                                          \
	do {                                                                             \
		VK_OP_(__COUNTER__, vk_socket_readhup_op((sock), that, &that->op_done)); \
		(rc) = that->op_done;                                                    \
	} while (0)
#define vk_readhup(rc) vk_readhup_on(that->socket_ptr, rc)

/* Move `len` bytes (SIZE_MAX: until EOF) from src's input to dst's output
 * without a buffer in between; rc is the count moved. */
#define vk_splice(rc, src, dst, len)                                                                 \
	do {                                                                                         \
		VK_OP_(__COUNTER__, vk_socket_splice_op((src), (dst), that, (len), &that->op_done)); \
		(rc) = that->op_done;                                                                \
	} while (0)

/* Connect sock to the address: the fd attached to it (vk_socket_attach_fd)
 * if it has an open one, else a fresh one that replaces its pipes. Raises
 * the connect error (ECONNREFUSED, ETIMEDOUT under a deadline, ...). */
#define vk_connect(sock, addr, addr_len) \
	VK_OP_(__COUNTER__, vk_socket_connect_op((sock), that, (addr), (addr_len), &that->op_done))

#define vk_wait_readable_on(sock) VK_OP_(__COUNTER__, vk_socket_wait_readable_op((sock), that))
/* Until the handshake of sock's transform (TLS) is done; raises its error. */
#define vk_handshake_on(sock) VK_OP_(__COUNTER__, vk_socket_handshake_op((sock), that))
#define vk_wait_readable() vk_wait_readable_on(that->socket_ptr)
/* Until bytes wait on sock's fd (or it ended): peeked into buf[cap], their
 * count in *len_ptr, and left there for the caller to read
 * (vk_socket_peek_op). */
#define vk_peek_on(sock, buf, cap, len_ptr) \
	VK_OP_(__COUNTER__, vk_socket_peek_op((sock), that, (buf), (cap), (len_ptr)))

/* Waiting for the next request: rc is 1 when bytes are there, 0 when the
 * peer hung up or the kernel is draining, so idle keep-alive connections do
 * not hold a shutdown up. After VK_IDLE_RELEASE_MS of waiting, the pages of
 * the process's empty rings and spare range go back to the OS
 * (vk_proc_local_set_spare): an idle connection keeps only what it uses. */
#define VK_IDLE_RELEASE_MS 1000
#define vk_wait_request(rc)                                                                                 \
	do {                                                                                                \
		that->idle = 1;                                                                             \
		that->release_ns = vk_sys_coarse_now_ns() + VK_IDLE_RELEASE_MS * 1000000ull;                \
		VK_OP_(__COUNTER__,                                                                         \
		       vk_proc_local_draining(that->proc_local_ptr) && !vk_socket_rx_held(that->socket_ptr) \
			       ? VK_OP_DONE                                                                 \
			       : vk_socket_wait_readable_op(that->socket_ptr, that));                       \
		that->idle = 0;                                                                             \
		that->release_ns = 0;                                                                       \
		(rc) = vk_socket_rx_held(that->socket_ptr) > 0;                                             \
	} while (0)

#define vk_eof() vk_socket_eof(that->socket_ptr)
#define vk_hup() vk_socket_hup(that->socket_ptr)
#define vk_close() vk_socket_close(that->socket_ptr)
#define vk_shutdown() vk_socket_shutdown_tx(that->socket_ptr)

/* ---- time ---- */

/* Blocking I/O after this raises ETIMEDOUT once `ms` have passed. */
#define vk_deadline(ms) (that->idle_ns = 0, that->deadline_ns = vk_sys_now_ns() + (uint64_t)(ms)*1000000u)
#define vk_deadline_clear() (that->deadline_ns = 0, that->idle_ns = 0)

/* Blocking I/O after this raises ETIMEDOUT when it waits `ms` without
 * progress (each wait gets `ms` afresh). */
#define vk_idle_timeout(ms) (that->idle_ns = (uint64_t)(ms)*1000000u, that->deadline_ns = 0)

/* A moment (vk_sys_now_ns() time) no blocking I/O of this thread, or of
 * the children it calls after this, waits past, whatever deadline or idle
 * timeout they set: past it they raise ETIMEDOUT. A request's deadline
 * over stages that each have their own timeouts. 0: none. */
#define vk_limit_at(ns) (that->limit_ns = (ns))

#define VK_SLEEP_(c, ms)                                                   \
	do {                                                               \
		that->wake_ns = vk_sys_now_ns() + (uint64_t)(ms)*1000000u; \
		VK_WAIT_WHILE_(c, that->wake_ns, VK_THREAD_BLOCKED);       \
	} while (0)
#define vk_sleep(ms) VK_SLEEP_(__COUNTER__, ms)

/* A sleep a drain cuts short (vk_draining() tells): for background work
 * that must not hold a shutdown up. */
#define vk_sleep_idle(ms)       \
	do {                    \
		that->idle = 1; \
		vk_sleep(ms);   \
		that->idle = 0; \
	} while (0)
#define vk_draining() vk_proc_local_draining(that->proc_local_ptr)

/* A sleep of at most `ms` that vk_sys_notify() on this process ends early:
 * how a process waits for another to hand it something. */
#define vk_wait_notified(ms)          \
	do {                          \
		that->notifiable = 1; \
		vk_sleep(ms);         \
		that->notifiable = 0; \
	} while (0)

/* ---- other threads ---- */

/* Run fn as a child on this thread's socket and wait for it to end; its
 * unhandled error is raised here. The child starts with this thread's
 * deadline and idle timeout and may set its own; this thread's are
 * unchanged when it returns. */
#define VK_CALL_(c, fn, arg)                                               \
	do {                                                               \
		that->resume_ptr = &&VK_LABEL(c); /* the child runs now */ \
		if (!vk_thread_call(that, (fn), (arg)))                    \
			vk_raise(ENOMEM);                                  \
		VK_WAIT_WHILE_(c, that->call_pending, VK_THREAD_WAITING);  \
		if (that->child_error) {                                   \
			int vk_child_error_ = that->child_error;           \
			that->child_error = 0;                             \
			vk_raise(vk_child_error_);                         \
		}                                                          \
	} while (0)
#define vk_call(fn, arg) VK_CALL_(__COUNTER__, fn, arg)

/* Start fn beside this thread; `child` gets the new thread. */
#define vk_spawn(child, fn, arg, sock)                                \
	do {                                                          \
		(child) = vk_thread_spawn(that, (fn), (arg), (sock)); \
		if (!(child))                                         \
			vk_raise(ENOMEM);                             \
	} while (0)

/* Send `msg` to thread `to` through `future` and wait for its reply. */
#define VK_REQUEST_(c, to, future, msg)                                        \
	do {                                                                   \
		vk_future_send((future), that, (to), (msg));                   \
		VK_WAIT_WHILE_(c, !vk_future_done(future), VK_THREAD_WAITING); \
	} while (0)
#define vk_request(to, future, msg) VK_REQUEST_(__COUNTER__, to, future, msg)

/* Wait for the next request sent to this thread. */
#define VK_LISTEN_(c, future_var)                                   \
	do {                                                        \
		while (!((future_var) = vk_future_receive(that))) { \
			that->in_inbox_wait = 1;                    \
			that->resume_ptr = &&VK_LABEL(c);           \
			that->status = VK_THREAD_WAITING;           \
			return;                                     \
			VK_LABEL(c) :;                              \
		}                                                   \
	} while (0)
#define vk_listen(future_var) VK_LISTEN_(__COUNTER__, future_var)
#define vk_reply(future, reply) vk_future_resolve((future), (reply))

#endif
