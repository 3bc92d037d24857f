/* gw_fault_gateway: vkgw itself, plus a filter type that exists only in
 * this test build ("fault"), for the isolation tests (tests/e2e/
 * gw_isolation.sh). build/vkgw never has it.
 *
 * The "fault" filter (no keys) acts on the request header x-fault:
 *   null     dereferences NULL (SIGSEGV in this connection)
 *   publish  puts a canary in this connection's heap and remembers where
 *            (one per kernel: run with -k 1); answers 200 "published"
 *   poke     writes into the published canary, another connection's heap;
 *            answers 200 "poked" if the write went through
 *   check    answers 200 "intact" or "corrupted": the canary as this
 *            connection (the publisher) sees it
 * Without the header, the request goes on. */
#define main gw_program_main
/* The program is vkgw's own main, compiled in here under another name,
 * so the test runs exactly what ships, with one more filter type. */
#include "gw_main.c"
#undef main

#include "gw_exchange.h"
#include "gw_filter.h"
#include "vk_coro.h"
#include "vk_proc_local.h"

#define FAULT_CANARY 0x5afe5afe5afe5afeL
#define FAULT_POKED 0xbadbadbadL

/* In the kernel's OS process, outside every micro-heap. */
static volatile long *fault_canary_ptr;
static int *volatile fault_null_ptr;

static int fault_compile(const json_t *config, const char *pointer, struct gw_diag *diag, struct gw_arena *arena,
			 void **compiled_out)
{
	(void)pointer;
	(void)diag;
	(void)arena;
	(void)config;
	*compiled_out = NULL;
	return 0;
}

static int header_is(const struct gw_exchange *ex_ptr, const char *value)
{
	const char *got;
	size_t len;

	return gw_exchange_request_header(ex_ptr, "x-fault", &got, &len) && len == strlen(value) &&
	       memcmp(got, value, len) == 0;
}

/* Memory in the connection's micro-heap needs its process: the one
 * action of the filter that runs as a waiting thread. */
static void fault_publish(struct vk_thread *that)
{
	struct gw_stage *stage_ptr = vk_thread_arg(that);
	struct {
		int unused;
	} * self;

	vk_begin();
	fault_canary_ptr = vk_proc_local_alloc(vk_thread_proc_local(that), sizeof(*fault_canary_ptr));
	if (!fault_canary_ptr)
		vk_raise(ENOMEM);
	*fault_canary_ptr = FAULT_CANARY;
	gw_exchange_respond(gw_stage_exchange(stage_ptr), 200, "published", 9);
	vk_end();
}

static enum gw_filter_result fault_request_head(struct gw_stage *stage_ptr)
{
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);

	if (header_is(ex_ptr, "null")) {
		*fault_null_ptr = 1;
	} else if (header_is(ex_ptr, "publish")) {
		return gw_stage_wait(stage_ptr, fault_publish);
	} else if (header_is(ex_ptr, "poke") && fault_canary_ptr) {
		*fault_canary_ptr = FAULT_POKED;
		gw_exchange_respond(ex_ptr, 200, "poked", 5);
		return GW_FILTER_RESPOND;
	} else if (header_is(ex_ptr, "check") && fault_canary_ptr) {
		if (*fault_canary_ptr == FAULT_CANARY)
			gw_exchange_respond(ex_ptr, 200, "intact", 6);
		else
			gw_exchange_respond(ex_ptr, 200, "corrupted", 9);
		return GW_FILTER_RESPOND;
	}
	return GW_FILTER_CONTINUE;
}

static const struct gw_filter_type fault_type = {
	.name = "fault",
	.compile = fault_compile,
	.request_head = fault_request_head,
};

int main(int argc, char **argv)
{
	if (gw_filter_type_register(&fault_type) == -1) {
		perror("gw_fault_gateway: register the fault filter");
		return 2;
	}
	return gw_program_main(argc, argv);
}
