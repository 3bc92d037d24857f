/* vk_fault_service: the echo protocol ("<n> <line>") plus commands that
 * misbehave on purpose, for the fault-isolation tests:
 *   !null          write through a NULL pointer (no handler: process dies)
 *   !null-caught   the same inside a vk_catch: answers "caught signal 11"
 *   !div0          integer division by zero (SIGFPE, no handler)
 *   !addr          answers the address of this connection's canary
 *   !poke HEX      writes into that address (another process's heap)
 *   !check         answers "canary ok" or "canary corrupted"
 *   !hog           a child thread whose locals exceed the heap (ENOMEM)
 *   !hog-caught    the same, caught: answers "ENOMEM needed N pages"
 *   !stats         answers this kernel's counters and its reload count
 *   !sleep MS      sleeps MS milliseconds on the kernel's timers, answers
 *                  "slept N ms" with the time it really took
 *   !deadline MS   waits at most MS for the next line: "timeout" if it did
 *                  not come in time, else "line in time"
 * The faults are made with inline assembly so sanitizers and the compiler
 * see no undefined behaviour: the hardware fault is the point. */
#include "vk_coro.h"
#include "vk_proc_local.h"
#include "vk_runtime.h"
#include "vk_service.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 512
#define CANARY 0x5ca1ab1e0ddba11ull
#define HOG_BYTES (1024 * 1024)

/* Per kernel (each kernel is its own OS process): SIGHUP reloads seen. */
static unsigned long reloads;

static void on_reload(void *ctx_ptr, int kernel_index)
{
	(void)ctx_ptr;
	(void)kernel_index;
	reloads++;
}

static void store_to(uintptr_t addr, uint64_t value)
{
	__asm__ volatile("movq %1, (%0)" : : "r"(addr), "r"(value) : "memory");
}

static int divide(int a, int b)
{
	int q = a;

	__asm__ volatile("cltd\n\tidivl %1" : "+a"(q) : "r"(b) : "edx", "cc");
	return q;
}

struct hog_self {
	char bytes[HOG_BYTES];
};

static void hog(struct vk_thread *that)
{
	struct hog_self *self;

	vk_begin();
	self->bytes[0] = 1;
	vk_end();
}

struct caught_self {
	char msg[64];
	int len;
};

/* Faults inside a handler-protected thread: the fault becomes a raise. */
static void null_caught(struct vk_thread *that)
{
	struct caught_self *self;

	vk_begin();
	vk_catch
	{
		self->len = snprintf(self->msg, sizeof(self->msg), "caught signal %d\n", vk_error_signal());
		vk_write(self->msg, (size_t)self->len);
		vk_flush();
	}
	store_to(0, 1);
	vk_end();
}

struct deadline_self {
	char line[LINE_MAX_LEN];
	size_t len;
};

/* Reads one line within the deadline given in its argument (a string of
 * milliseconds, which it overwrites with the outcome for the caller). */
static void read_with_deadline(struct vk_thread *that)
{
	struct deadline_self *self;
	char *arg = vk_thread_arg(that);

	vk_begin();
	vk_catch
	{
		snprintf(vk_thread_arg(that), 16, "%s", vk_error() == ETIMEDOUT ? "timeout" : "error");
	}
	vk_deadline(strtoul(arg, NULL, 10));
	vk_readline(self->len, self->line, sizeof(self->line));
	vk_deadline_clear();
	snprintf(vk_thread_arg(that), 16, "line in time");
	vk_end();
}

struct fault_self {
	char line[LINE_MAX_LEN];
	uint64_t started_ns;
	char out[LINE_MAX_LEN + 32];
	uint64_t canary;
	size_t len;
	int out_len;
	unsigned long number;
};

static int command(const char *line, const char *name)
{
	size_t n = strlen(name);

	return strncmp(line, name, n) == 0 && (line[n] == '\n' || line[n] == ' ' || line[n] == '\r');
}

static void fault_service(struct vk_thread *that)
{
	struct fault_self *self;

	vk_begin();
	self->canary = CANARY;
	for (;;) {
		vk_readline(self->len, self->line, sizeof(self->line) - 1);
		if (self->len == 0)
			break;
		self->line[self->len] = '\0';
		self->out_len = 0;
		if (command(self->line, "!null")) {
			store_to(0, 1);
		} else if (command(self->line, "!null-caught")) {
			vk_call(null_caught, NULL);
		} else if (command(self->line, "!div0")) {
			self->out_len = snprintf(self->out, sizeof(self->out), "%d\n",
						 divide(1, (int)self->len - (int)self->len));
		} else if (command(self->line, "!addr")) {
			self->out_len =
				snprintf(self->out, sizeof(self->out), "%" PRIxPTR "\n", (uintptr_t)&self->canary);
		} else if (command(self->line, "!poke")) {
			store_to((uintptr_t)strtoull(self->line + 6, NULL, 16), 0);
			self->out_len = snprintf(self->out, sizeof(self->out), "poked\n");
		} else if (command(self->line, "!check")) {
			self->out_len = snprintf(self->out, sizeof(self->out), "canary %s\n",
						 self->canary == CANARY ? "ok" : "corrupted");
		} else if (command(self->line, "!hog")) {
			vk_call(hog, NULL);
		} else if (command(self->line, "!hog-caught")) {
			vk_catch
			{
				self->out_len = snprintf(self->out, sizeof(self->out), "%s needed %zu pages\n",
							 vk_error() == ENOMEM ? "ENOMEM" : "other",
							 vk_proc_local_alloc_failed_pages(vk_thread_proc_local(that)));
				vk_write(self->out, (size_t)self->out_len);
				vk_flush();
			}
			vk_call(hog, NULL);
		} else if (command(self->line, "!sleep")) {
			self->started_ns = vk_sys_now_ns();
			vk_sleep(strtoul(self->line + 7, NULL, 10));
			self->out_len = snprintf(self->out, sizeof(self->out), "slept %" PRIu64 " ms\n",
						 (vk_sys_now_ns() - self->started_ns) / 1000000);
		} else if (command(self->line, "!deadline")) {
			vk_call(read_with_deadline, self->line + 10);
			self->out_len = snprintf(self->out, sizeof(self->out), "%s\n", self->line + 10);
		} else if (command(self->line, "!stats")) {
			self->out_len =
				snprintf(self->out, sizeof(self->out),
					 "killed=%" PRIu64 " caught=%" PRIu64 " failed=%" PRIu64 " live=%" PRIu64
					 " reloads=%lu\n",
					 vk_sys_stat(VK_STAT_PROCS_KILLED), vk_sys_stat(VK_STAT_FAULTS_CAUGHT),
					 vk_sys_stat(VK_STAT_PROCS_FAILED), vk_sys_stat(VK_STAT_PROCS_LIVE), reloads);
		} else {
			self->out_len = snprintf(self->out, sizeof(self->out), "%lu ", ++self->number);
			vk_write(self->out, (size_t)self->out_len);
			self->out_len = 0;
			vk_write(self->line, self->len);
		}
		if (self->out_len > 0)
			vk_write(self->out, (size_t)self->out_len);
	}
	vk_flush();
	vk_end();
}

int main(int argc, char **argv)
{
	struct vk_runtime_config cfg;
	int rc;
	struct vk_service *service_ptr = vk_service_create("fault", fault_service, NULL);

	vk_runtime_config_defaults(&cfg);
	cfg.reload_fn = on_reload;
	if (!service_ptr || vk_runtime_parse_args(argc, argv, &cfg, service_ptr) == -1)
		return 2;
	rc = vk_runtime_run(&cfg, &service_ptr, 1);
	vk_service_destroy(service_ptr);
	return rc;
}
