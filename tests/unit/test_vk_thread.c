/* The micro-thread language of vk_coro.h: structure, yields, errors,
 * finally blocks, calls, spawns, sleeps and deadlines, on a process driven
 * by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "vk_coro.h"
#include "vk_test_proc.h"

/* What the threads did, in order: a test-owned trace the threads append to. */
struct trace {
	char text[256];
	int handled;
	int error;
	int finally_runs;
	int value;
	void *ptr;
};

static void trace_add(struct trace *trace_ptr, const char *step)
{
	size_t used = strlen(trace_ptr->text);

	snprintf(trace_ptr->text + used, sizeof(trace_ptr->text) - used, "%s%s", used ? " " : "", step);
}

/* ---- vk_begin / vk_end ---- */

struct counter_self {
	int count;
	char tag[8];
	uint64_t big;
};

/* Counts through several yields with its state kept only in self. */
static void counter(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct counter_self *self;

	vk_begin();
	memcpy(self->tag, "kept", 5);
	self->big = 0x0123456789abcdefull;
	for (self->count = 0; self->count < 5; self->count++)
		vk_yield();
	trace_ptr->value = self->count;
	if (strcmp(self->tag, "kept") == 0 && self->big == 0x0123456789abcdefull)
		trace_add(trace_ptr, "intact");
	vk_end();
}

static void test_self_locals_survive_yields(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, counter, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.value, 5);
	assert_string_equal(trace.text, "intact");
}

struct step_self {
	int unused;
};

static void ends_at_once(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct step_self *self;

	vk_begin();
	trace_add(trace_ptr, "ran");
	vk_end();
}

static void test_end_frees_thread_and_self(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	size_t before = vk_proc_local_used(tp->pl);

	assert_non_null(vk_test_start(tp, ends_at_once, &trace, NULL));
	assert_int_equal(vk_proc_local_thread_count(tp->pl), 1);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_string_equal(trace.text, "ran");
	assert_int_equal(vk_proc_local_thread_count(tp->pl), 0);
	assert_int_equal(vk_proc_local_used(tp->pl), before);
}

/* ---- vk_yield ---- */

struct yielder_arg {
	struct trace *trace_ptr;
	const char *name;
};

struct yielder_self {
	int round;
	char step[16];
};

static void yielder(struct vk_thread *that)
{
	struct yielder_arg *arg = vk_thread_arg(that);
	struct yielder_self *self;

	vk_begin();
	for (self->round = 1; self->round <= 3; self->round++) {
		snprintf(self->step, sizeof(self->step), "%s%d", arg->name, self->round);
		trace_add(arg->trace_ptr, self->step);
		vk_yield();
	}
	vk_end();
}

static void test_yield_alternates_two_threads(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct yielder_arg a = {&trace, "A"};
	struct yielder_arg b = {&trace, "B"};

	assert_non_null(vk_test_start(tp, yielder, &a, NULL));
	assert_non_null(vk_test_start(tp, yielder, &b, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_string_equal(trace.text, "A1 B1 A2 B2 A3 B3");
}

/* ---- vk_raise / vk_catch ---- */

struct raiser_self {
	int reached_after_raise;
};

/* Raises EPROTO under a handler that records it and clears it. */
static void raiser_caught(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct raiser_self *self;

	vk_begin();
	vk_catch
	{
		trace_ptr->handled++;
		trace_ptr->error = vk_error();
		trace_add(trace_ptr, "catch");
		vk_clear_error();
	}
	trace_add(trace_ptr, "before");
	vk_raise(EPROTO);
	self->reached_after_raise = 1;
	trace_add(trace_ptr, "after");
	vk_end();
}

static void test_raise_jumps_to_catch_with_error(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, raiser_caught, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.handled, 1);
	assert_int_equal(trace.error, EPROTO);
	assert_string_equal(trace.text, "before catch");
}

/* The handler handles the error and does not clear it by hand: the
 * contract of vk_coro.h is that only a raise with no catch ends the thread
 * with the error, as in vk_echo.c whose ENOBUFS handler answers the client. */
static void raiser_handled(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct raiser_self *self;

	vk_begin();
	vk_catch
	{
		trace_ptr->handled++;
		trace_ptr->error = vk_error();
	}
	vk_raise(ENOBUFS);
	self->reached_after_raise = 1;
	vk_end();
}

static void test_caught_error_does_not_fail_process(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	char why[256] = "";
	enum vk_proc_run run;

	assert_non_null(vk_test_start(tp, raiser_handled, &trace, NULL));
	run = vk_proc_local_run(tp->pl);
	assert_int_equal(trace.handled, 1);
	assert_int_equal(trace.error, ENOBUFS);
	if (run != VK_PROC_ENDED)
		vk_proc_local_describe_failure(tp->pl, why, sizeof(why));
	assert_string_equal(why, "");
	assert_int_equal(run, VK_PROC_ENDED);
}

static void raiser_uncaught(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct raiser_self *self;

	vk_begin();
	vk_raise(EPROTO);
	trace_add(trace_ptr, "after");
	vk_end();
}

static void test_uncaught_raise_fails_process(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct vk_thread *thread_ptr;
	char why[256];

	thread_ptr = vk_test_start(tp, raiser_uncaught, &trace, NULL);
	assert_non_null(thread_ptr);
	vk_thread_set_name(thread_ptr, "raiser");
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_FAILED);
	assert_string_equal(trace.text, "");
	assert_int_equal(vk_proc_local_failed_error(tp->pl), EPROTO);
	vk_proc_local_describe_failure(tp->pl, why, sizeof(why));
	assert_non_null(strstr(why, "raiser"));
	assert_non_null(strstr(why, strerror(EPROTO)));
	assert_non_null(strstr(why, "test_vk_thread.c"));
}

/* A raise inside the handler is not caught again by the same handler. */
static void raiser_in_handler(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct raiser_self *self;

	vk_begin();
	vk_catch
	{
		trace_ptr->handled++;
		vk_raise(EBADMSG);
	}
	vk_raise(EPROTO);
	self->reached_after_raise = 1;
	vk_end();
}

static void test_raise_in_catch_fails_process(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, raiser_in_handler, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_FAILED);
	assert_int_equal(trace.handled, 1);
	assert_int_equal(vk_proc_local_failed_error(tp->pl), EBADMSG);
}

/* ---- vk_finally ---- */

struct finally_self {
	int yields;
};

static void finally_ok(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct finally_self *self;

	vk_begin();
	vk_finally
	{
		trace_ptr->finally_runs++;
		trace_add(trace_ptr, "finally");
	}
	trace_add(trace_ptr, "body");
	vk_yield();
	trace_add(trace_ptr, "end");
	vk_end();
}

static void test_finally_runs_once_on_success(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, finally_ok, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.finally_runs, 1);
	assert_string_equal(trace.text, "body end finally");
}

static void finally_error(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct finally_self *self;

	vk_begin();
	vk_finally
	{
		trace_ptr->finally_runs++;
		trace_ptr->error = vk_error();
		trace_add(trace_ptr, "finally");
	}
	trace_add(trace_ptr, "body");
	vk_raise(EPROTO);
	trace_add(trace_ptr, "after");
	vk_end();
}

static void test_finally_runs_once_on_error(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, finally_error, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_FAILED);
	assert_int_equal(trace.finally_runs, 1);
	assert_int_equal(trace.error, EPROTO);
	assert_string_equal(trace.text, "body finally");
	assert_int_equal(vk_proc_local_failed_error(tp->pl), EPROTO);
}

static void finally_yielding(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct finally_self *self;

	vk_begin();
	vk_finally
	{
		trace_ptr->finally_runs++;
		trace_add(trace_ptr, "f1");
		for (self->yields = 0; self->yields < 2; self->yields++)
			vk_yield();
		trace_add(trace_ptr, "f2");
	}
	trace_add(trace_ptr, "body");
	vk_raise(EPROTO);
	vk_end();
}

static void test_finally_may_yield_on_error(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct trace other = {0};
	struct yielder_arg b = {&other, "B"};

	assert_non_null(vk_test_start(tp, finally_yielding, &trace, NULL));
	assert_non_null(vk_test_start(tp, yielder, &b, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_FAILED);
	assert_int_equal(trace.finally_runs, 1);
	assert_string_equal(trace.text, "body f1 f2");
	/* the other thread ran while the finally block was yielding */
	assert_string_equal(other.text, "B1 B2");
}

static void finally_sleeping(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct finally_self *self;

	vk_begin();
	vk_finally
	{
		trace_ptr->finally_runs++;
		trace_add(trace_ptr, "f1");
		vk_sleep(5);
		trace_add(trace_ptr, "f2");
	}
	trace_add(trace_ptr, "body");
	vk_end();
}

static void test_finally_may_block_on_success(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, finally_sleeping, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_string_equal(trace.text, "body f1");
	assert_int_equal(vk_test_blocks(tp), 1);
	assert_true(tp->timer_ns > 0);
	vk_proc_local_expire(tp->pl, tp->timer_ns);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.finally_runs, 1);
	assert_string_equal(trace.text, "body f1 f2");
}

static void catch_then_finally(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct finally_self *self;

	vk_begin();
	vk_finally
	{
		trace_ptr->finally_runs++;
		trace_add(trace_ptr, "finally");
	}
	vk_catch
	{
		trace_ptr->handled++;
		trace_add(trace_ptr, "catch");
		vk_clear_error();
	}
	vk_raise(EPROTO);
	vk_end();
}

static void test_finally_runs_after_catch(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, catch_then_finally, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.handled, 1);
	assert_int_equal(trace.finally_runs, 1);
	assert_string_equal(trace.text, "catch finally");
}

/* ---- vk_call ---- */

struct child_self {
	int step;
};

static void child_yielding(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct child_self *self;

	vk_begin();
	trace_add(trace_ptr, "C1");
	vk_yield();
	trace_add(trace_ptr, "C2");
	vk_yield();
	trace_add(trace_ptr, "C3");
	vk_end();
}

struct parent_self {
	struct vk_thread *child;
	int step;
};

static void parent_calling(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct parent_self *self;

	vk_begin();
	trace_add(trace_ptr, "P1");
	vk_call(child_yielding, trace_ptr);
	trace_add(trace_ptr, "P2");
	vk_end();
}

static void test_call_runs_child_to_completion_first(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct trace other = {0};
	struct yielder_arg b = {&other, "B"};

	assert_non_null(vk_test_start(tp, parent_calling, &trace, NULL));
	assert_non_null(vk_test_start(tp, yielder, &b, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_string_equal(trace.text, "P1 C1 C2 C3 P2");
	assert_string_equal(other.text, "B1 B2 B3");
	assert_int_equal(vk_proc_local_thread_count(tp->pl), 0);
}

static void child_raising(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct child_self *self;

	vk_begin();
	trace_add(trace_ptr, "C");
	vk_yield();
	vk_raise(ECONNRESET);
	trace_add(trace_ptr, "C-after");
	vk_end();
}

static void parent_catching(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct parent_self *self;

	vk_begin();
	vk_catch
	{
		trace_ptr->handled++;
		trace_ptr->error = vk_error();
		trace_add(trace_ptr, "P-catch");
		vk_clear_error();
	}
	trace_add(trace_ptr, "P1");
	vk_call(child_raising, trace_ptr);
	trace_add(trace_ptr, "P2");
	vk_end();
}

static void test_call_child_raise_is_caught_in_parent(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, parent_catching, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.handled, 1);
	assert_int_equal(trace.error, ECONNRESET);
	assert_string_equal(trace.text, "P1 C P-catch");
}

static void parent_not_catching(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct parent_self *self;

	vk_begin();
	vk_call(child_raising, trace_ptr);
	trace_add(trace_ptr, "P2");
	vk_end();
}

static void test_call_child_raise_uncaught_fails_process(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, parent_not_catching, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_FAILED);
	assert_int_equal(vk_proc_local_failed_error(tp->pl), ECONNRESET);
	assert_string_equal(trace.text, "C");
}

/* The child handles its own error: the parent must not see it. */
static void child_handling(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct child_self *self;

	vk_begin();
	vk_catch
	{
		trace_add(trace_ptr, "C-catch");
	}
	vk_raise(ECONNRESET);
	vk_end();
}

static void parent_of_handling_child(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct parent_self *self;

	vk_begin();
	vk_catch
	{
		trace_ptr->handled++;
		trace_ptr->error = vk_error();
		vk_clear_error();
	}
	vk_call(child_handling, trace_ptr);
	trace_add(trace_ptr, "P2");
	vk_end();
}

static void test_call_child_caught_error_not_raised_in_parent(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, parent_of_handling_child, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.error, 0);
	assert_int_equal(trace.handled, 0);
	assert_string_equal(trace.text, "C-catch P2");
}

static void child_reading_socket(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct child_self *self;

	vk_begin();
	trace_ptr->ptr = vk_thread_socket(that);
	self->step = 1;
	vk_end();
}

static void parent_with_socket(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct parent_self *self;

	vk_begin();
	vk_call(child_reading_socket, trace_ptr);
	vk_end();
}

static void test_call_child_shares_parent_socket(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct vk_socket *socket_ptr = vk_socket_alloc(tp->pl, 64, 64);

	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, parent_with_socket, &trace, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_ptr_equal(trace.ptr, socket_ptr);
}

/* A caller keeps its ended child's block for its next call: a call on a
 * heap with no room left still runs, and when the caller ends, the kept
 * blocks (a grandchild's inside the child's, too) are all given back. */
struct hog {
	void *ptr[64];
	int n;
};

static void hog_all(struct vk_proc_local *pl, struct hog *hog_ptr)
{
	for (size_t size = (size_t)1 << 24; size >= 16 && hog_ptr->n < 64;) {
		void *ptr = vk_proc_local_alloc_raw(pl, size);

		if (ptr)
			hog_ptr->ptr[hog_ptr->n++] = ptr;
		else
			size /= 2;
	}
}

static void unhog(struct vk_proc_local *pl, struct hog *hog_ptr)
{
	while (hog_ptr->n)
		vk_proc_local_free(pl, hog_ptr->ptr[--hog_ptr->n]);
}

static void grandchild_stateless(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	trace_add(trace_ptr, "G");
	vk_end();
}

static void child_calling_grandchild(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);

	vk_begin_stateless();
	trace_add(trace_ptr, "C");
	vk_call(grandchild_stateless, trace_ptr);
	vk_end();
}

static void parent_calling_on_full_heap(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct hog *hog_ptr = trace_ptr->ptr;

	vk_begin_stateless();
	vk_call(child_calling_grandchild, trace_ptr);
	hog_all(vk_thread_proc_local(that), hog_ptr);
	trace_ptr->value = hog_ptr->n;
	vk_call(child_calling_grandchild, trace_ptr);
	unhog(vk_thread_proc_local(that), hog_ptr);
	vk_end();
}

static void test_call_reuses_the_ended_childs_block(void **state)
{
	struct vk_test_proc *tp = *state;
	struct hog hog = {0};
	struct trace trace = {.ptr = &hog};
	size_t before = vk_proc_local_used(tp->pl);

	assert_non_null(vk_test_start(tp, parent_calling_on_full_heap, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_true(trace.value > 0); /* the heap was full for the second call */
	assert_string_equal(trace.text, "C G C G");
	assert_int_equal(vk_proc_local_thread_count(tp->pl), 0);
	assert_int_equal(vk_proc_local_used(tp->pl), before);
}

/* ---- vk_spawn ---- */

static void spawned(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct child_self *self;

	vk_begin();
	trace_add(trace_ptr, "S1");
	vk_yield();
	trace_add(trace_ptr, "S2");
	vk_end();
}

static void parent_spawning(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct parent_self *self;

	vk_begin();
	trace_add(trace_ptr, "P1");
	vk_spawn(self->child, spawned, trace_ptr, NULL);
	trace_ptr->value = vk_proc_local_thread_count(vk_thread_proc_local(that));
	trace_add(trace_ptr, "P2");
	vk_yield();
	trace_add(trace_ptr, "P3");
	vk_yield();
	trace_add(trace_ptr, "P4");
	vk_end();
}

static void test_spawn_runs_beside_parent(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, parent_spawning, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	/* the spawn does not wait: the parent goes on, then they take turns */
	assert_string_equal(trace.text, "P1 P2 S1 P3 S2 P4");
	assert_int_equal(trace.value, 2);
}

/* ---- micro-heap exhaustion ---- */

struct hog_self {
	char bytes[1024 * 1024];
};

static void hog(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct hog_self *self;

	vk_begin();
	self->bytes[sizeof(self->bytes) - 1] = 1;
	trace_add(trace_ptr, "hog-ran");
	vk_end();
}

static void test_self_too_large_fails_with_enomem(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct vk_thread *thread_ptr;
	char why[256];

	thread_ptr = vk_test_start(tp, hog, &trace, NULL);
	assert_non_null(thread_ptr);
	vk_thread_set_name(thread_ptr, "hog");
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_FAILED);
	assert_string_equal(trace.text, "");
	assert_int_equal(vk_proc_local_failed_error(tp->pl), ENOMEM);
	vk_proc_local_describe_failure(tp->pl, why, sizeof(why));
	assert_non_null(strstr(why, "hog"));
	assert_non_null(strstr(why, "needed "));
	assert_non_null(strstr(why, " pages"));
}

/* The page count named is enough: a heap of that size runs the thread. */
static void test_enomem_page_count_is_sufficient(void **state)
{
	struct vk_test_proc *tp = *state;
	struct vk_test_proc bigger;
	struct trace trace = {0};
	char why[256];
	const char *needed;
	size_t pages = 0;

	assert_non_null(vk_test_start(tp, hog, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_FAILED);
	vk_proc_local_describe_failure(tp->pl, why, sizeof(why));
	needed = strstr(why, "needed ");
	assert_non_null(needed);
	assert_int_equal(sscanf(needed, "needed %zu pages", &pages), 1);
	assert_true(pages > VK_TEST_PAGES);
	assert_true(pages * vk_page_size() >= sizeof(struct hog_self));

	assert_int_equal(vk_test_proc_open(&bigger, pages), 0);
	assert_non_null(vk_test_start(&bigger, hog, &trace, NULL));
	assert_int_equal(vk_proc_local_run(bigger.pl), VK_PROC_ENDED);
	vk_test_proc_close(&bigger);
	assert_string_equal(trace.text, "hog-ran");
}

/* ---- vk_sleep ---- */

struct sleeper_self {
	int woke;
};

static void sleeper(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct sleeper_self *self;

	vk_begin();
	trace_add(trace_ptr, "sleep");
	vk_sleep(50);
	self->woke = 1;
	trace_add(trace_ptr, "woke");
	vk_end();
}

static void test_sleep_wakes_only_after_expire_past_wakeup(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	uint64_t before = vk_sys_now_ns();

	assert_non_null(vk_test_start(tp, sleeper, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_string_equal(trace.text, "sleep");

	/* the wake-up is reported as the process's timer, 50ms on */
	assert_int_equal(vk_test_blocks(tp), 1);
	assert_int_equal(tp->wait_count, 0);
	assert_true(tp->timer_ns >= before + 50 * 1000000ull);
	assert_true(tp->timer_ns <= vk_sys_now_ns() + 50 * 1000000ull);

	/* running again without an expiry does nothing */
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_string_equal(trace.text, "sleep");

	/* an expiry before the wake-up does nothing */
	vk_proc_local_expire(tp->pl, tp->timer_ns - 1);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_string_equal(trace.text, "sleep");

	vk_proc_local_expire(tp->pl, tp->timer_ns);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_string_equal(trace.text, "sleep woke");
}

/* ---- vk_deadline ---- */

struct deadline_self {
	char buf[16];
	size_t len;
};

static void deadline_reader(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct deadline_self *self;

	vk_begin();
	vk_catch
	{
		trace_ptr->handled++;
		trace_ptr->error = vk_error();
		vk_clear_error();
	}
	vk_deadline(100);
	vk_read(self->len, self->buf, sizeof(self->buf));
	trace_add(trace_ptr, "read");
	vk_end();
}

static void test_deadline_on_blocked_read_raises_etimedout(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct vk_socket *socket_ptr;
	uint64_t before = vk_sys_now_ns();
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, deadline_reader, &trace, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);

	/* waits on the fd and on the deadline */
	assert_int_equal(vk_test_blocks(tp), 2);
	assert_true(vk_test_waits_on(tp, fds[0], VK_EV_IN));
	assert_true(tp->timer_ns >= before + 100 * 1000000ull);

	vk_proc_local_expire(tp->pl, tp->timer_ns - 1);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(trace.handled, 0);

	vk_proc_local_expire(tp->pl, tp->timer_ns);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.handled, 1);
	assert_int_equal(trace.error, ETIMEDOUT);
	assert_string_equal(trace.text, "");
}

static void test_deadline_not_raised_when_read_completes(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct vk_socket *socket_ptr;
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, deadline_reader, &trace, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(write(fds[1], "0123456789abcdef", 16), 16);
	vk_proc_local_fd_event(tp->pl, fds[0], VK_EV_IN);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.handled, 0);
	assert_string_equal(trace.text, "read");
}

/* ---- a called child's deadline ---- */

struct inherit_self {
	char buf[16];
	size_t len;
	uint64_t deadline_ns;
	uint64_t idle_ns;
};

/* Reads with whatever time limit it was started with. */
static void child_reading_inherited(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct inherit_self *self;

	vk_begin();
	trace_ptr->value = that->deadline_ns != 0;
	vk_read(self->len, self->buf, sizeof(self->buf));
	trace_add(trace_ptr, "read");
	vk_end();
}

static void parent_with_deadline(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct inherit_self *self;

	vk_begin();
	vk_catch
	{
		trace_ptr->handled++;
		trace_ptr->error = vk_error();
		vk_clear_error();
	}
	vk_deadline(100);
	vk_call(child_reading_inherited, trace_ptr);
	trace_add(trace_ptr, "returned");
	vk_end();
}

/* A child started with vk_call blocks under its caller's deadline: the
 * process reports it as a timer, and past it the child's read raises
 * ETIMEDOUT, which reaches the caller. */
static void test_call_child_inherits_deadline(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct vk_socket *socket_ptr;
	uint64_t before = vk_sys_now_ns();
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, parent_with_deadline, &trace, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(trace.value, 1);
	assert_int_equal(vk_test_blocks(tp), 2);
	assert_true(tp->timer_ns >= before + 100 * 1000000ull);
	assert_true(tp->timer_ns <= vk_sys_now_ns() + 100 * 1000000ull);

	vk_proc_local_expire(tp->pl, tp->timer_ns);
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_int_equal(trace.handled, 1);
	assert_int_equal(trace.error, ETIMEDOUT);
	assert_string_equal(trace.text, "");
}

static void parent_with_idle_timeout(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct inherit_self *self;

	vk_begin();
	vk_idle_timeout(50);
	vk_call(child_reading_inherited, trace_ptr);
	vk_end();
}

/* An idle timeout is inherited as one: the child's wait gets the whole
 * silence limit from the moment it waits. */
static void test_call_child_inherits_idle_timeout(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};
	struct vk_socket *socket_ptr;
	uint64_t before = vk_sys_now_ns();
	int fds[2];

	socket_ptr = vk_test_fd_socket(tp, fds, 64, 64);
	assert_non_null(socket_ptr);
	assert_non_null(vk_test_start(tp, parent_with_idle_timeout, &trace, socket_ptr));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ALIVE);
	assert_int_equal(vk_test_blocks(tp), 2);
	assert_true(tp->timer_ns >= before + 50 * 1000000ull);
	assert_true(tp->timer_ns <= vk_sys_now_ns() + 50 * 1000000ull);
}

static void child_setting_its_own(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct inherit_self *self;

	vk_begin();
	vk_idle_timeout(5);
	trace_add(trace_ptr, "child");
	vk_yield();
	vk_deadline_clear();
	vk_end();
}

static void parent_keeping_deadline(struct vk_thread *that)
{
	struct trace *trace_ptr = vk_thread_arg(that);
	struct inherit_self *self;

	vk_begin();
	vk_deadline(100);
	self->deadline_ns = that->deadline_ns;
	vk_call(child_setting_its_own, trace_ptr);
	trace_ptr->value = that->deadline_ns == self->deadline_ns && that->idle_ns == 0;
	trace_add(trace_ptr, "parent");
	vk_end();
}

/* What the child sets is its own: the caller's deadline is as it was. */
static void test_call_child_deadline_leaves_caller_unchanged(void **state)
{
	struct vk_test_proc *tp = *state;
	struct trace trace = {0};

	assert_non_null(vk_test_start(tp, parent_keeping_deadline, &trace, NULL));
	assert_int_equal(vk_proc_local_run(tp->pl), VK_PROC_ENDED);
	assert_string_equal(trace.text, "child parent");
	assert_int_equal(trace.value, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_self_locals_survive_yields, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_end_frees_thread_and_self, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_yield_alternates_two_threads, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_raise_jumps_to_catch_with_error, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_caught_error_does_not_fail_process, vk_test_setup,
						vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_uncaught_raise_fails_process, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_raise_in_catch_fails_process, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_finally_runs_once_on_success, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_finally_runs_once_on_error, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_finally_may_yield_on_error, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_finally_may_block_on_success, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_finally_runs_after_catch, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_call_runs_child_to_completion_first, vk_test_setup,
						vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_call_child_raise_is_caught_in_parent, vk_test_setup,
						vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_call_child_raise_uncaught_fails_process, vk_test_setup,
						vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_call_child_caught_error_not_raised_in_parent, vk_test_setup,
						vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_call_child_shares_parent_socket, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_spawn_runs_beside_parent, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_self_too_large_fails_with_enomem, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_enomem_page_count_is_sufficient, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_sleep_wakes_only_after_expire_past_wakeup, vk_test_setup,
						vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_deadline_on_blocked_read_raises_etimedout, vk_test_setup,
						vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_deadline_not_raised_when_read_completes, vk_test_setup,
						vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_call_reuses_the_ended_childs_block, vk_test_setup,
						vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_call_child_inherits_deadline, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_call_child_inherits_idle_timeout, vk_test_setup, vk_test_teardown),
		cmocka_unit_test_setup_teardown(test_call_child_deadline_leaves_caller_unchanged, vk_test_setup,
						vk_test_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
