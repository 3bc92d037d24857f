#ifndef VK_FAULT_H
#define VK_FAULT_H

/* Hardware faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL) go to `fn`, on an
 * alternate stack so even a stack overflow is caught. If fn returns, the
 * fault was not a process's: the default action (a crash) follows.
 * Returns the alternate stack, to release when the kernel ends. */
void *vk_fault_install(void (*fn)(int signo, void *addr));
void vk_fault_release_altstack(void *stack_ptr);

#endif
