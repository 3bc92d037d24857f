/* vk_fault: the signal handlers that turn a fault in a micro-process into
 * an error for its thread. SA_NODEFER lets the kernel leave the handler
 * with siglongjmp without saving and restoring the signal mask, which would
 * cost a syscall on every dispatch. */
#include "vk_fault.h"

#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#define VK_ALTSTACK_SIZE (64 * 1024)

static void (*fault_fn)(int signo, void *addr);

static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};

static void on_fault(int signo, siginfo_t *info, void *uctx)
{
	struct sigaction dfl;

	(void)uctx;
	if (fault_fn)
		fault_fn(signo, info->si_addr);
	/* Not a process's fault: crash as the default action would. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(signo, &dfl, NULL);
}

void *vk_fault_install(void (*fn)(int signo, void *addr))
{
	struct sigaction sa;
	stack_t ss;
	void *stack_ptr;

	fault_fn = fn;
	stack_ptr = mmap(NULL, VK_ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stack_ptr != MAP_FAILED) {
		ss.ss_sp = stack_ptr;
		ss.ss_size = VK_ALTSTACK_SIZE;
		ss.ss_flags = 0;
		sigaltstack(&ss, NULL);
	} else {
		stack_ptr = NULL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++)
		sigaction(fault_signals[i], &sa, NULL);
	return stack_ptr;
}

void vk_fault_release_altstack(void *stack_ptr)
{
	stack_t ss;

	if (!stack_ptr)
		return;
	memset(&ss, 0, sizeof(ss));
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	munmap(stack_ptr, VK_ALTSTACK_SIZE);
}
