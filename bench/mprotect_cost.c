/* mprotect_cost: why vkern kernels are processes, not threads. Measures a
 * protect/unprotect pair of a 16-page micro-heap (4 pages touched, guard
 * page in front, as vkern maps them) on CPU 0:
 *   alone           single-threaded process
 *   +thread         a second thread of the same process busy on CPU 1:
 *                   every protection change must shoot down its TLB
 *   +process        a separate process busy on CPU 1 (what a second
 *                   kernel is): nothing to shoot down */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEAPS 512
#define PAGES 16
#define TOUCHED 4
#define ROUNDS 100000

static atomic_int stop;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static double measure(char **heaps, size_t page)
{
	double start = now_us();

	for (int r = 0; r < ROUNDS; r++) {
		char *h = heaps[r % HEAPS];

		mprotect(h, PAGES * page, PROT_NONE);
		mprotect(h, PAGES * page, PROT_READ | PROT_WRITE);
		h[0]++;
	}
	return (now_us() - start) / ROUNDS;
}

static void *spin(void *arg)
{
	(void)arg;
	pin(1);
	while (!atomic_load(&stop))
		;
	return NULL;
}

int main(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *heaps[HEAPS];
	pthread_t thread;
	double alone, with_thread, with_process;
	pid_t child;

	pin(0);
	for (int i = 0; i < HEAPS; i++) {
		char *base = mmap(NULL, (PAGES + 1) * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (base == MAP_FAILED)
			return 1;
		mprotect(base, page, PROT_READ);
		heaps[i] = base + page;
		memset(heaps[i], 1, TOUCHED * page);
	}
	alone = measure(heaps, page);

	child = fork();
	if (child == 0) {
		pin(1);
		for (;;)
			;
	}
	with_process = measure(heaps, page);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	pthread_create(&thread, NULL, spin, NULL);
	usleep(10000);
	with_thread = measure(heaps, page);
	atomic_store(&stop, 1);
	pthread_join(thread, NULL);

	printf("mprotect pair (16-page heap, 4 touched) on CPU 0:\n");
	printf("  alone:                        %6.2f us\n", alone);
	printf("  another process busy on CPU 1: %6.2f us\n", with_process);
	printf("  a second thread busy on CPU 1: %6.2f us  (%.1fx: kernels as threads would pay this)\n", with_thread,
	       with_thread / alone);
	return 0;
}
