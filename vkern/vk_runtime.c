/* vk_runtime: starts kernels and supervises them. */
#include "vk_runtime.h"
#include "vk_channel.h"
#include "vk_kern.h"
#include "vk_service.h"
#include "vk_timer.h"
#include "vk_upgrade.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define VK_MAX_KERNELS 256
#define VK_CHANNEL_SLOTS 64
#define VK_DEFAULT_GRACE_MS 10000
#define VK_RESTARTS_MAX 5 /* in VK_RESTART_WINDOW: then give up */
#define VK_RESTART_WINDOW_NS 10000000000ull
#define VK_KILL_MARGIN_NS 2000000000ull /* after the grace period: SIGKILL */
/* Linux's default fs.nr_open: the most a soft limit may be when the hard
 * one is "unlimited". */
#define VK_NOFILE_UNLIMITED (1u << 20)

struct kernel_slot {
	pid_t pid;
	int ready;
	int exited;
	int status;
	struct vk_channel *inbox_ptr;
	struct vk_channel *outbox_ptr;
};

void vk_runtime_config_defaults(struct vk_runtime_config *cfg_ptr)
{
	memset(cfg_ptr, 0, sizeof(*cfg_ptr));
	cfg_ptr->grace_ms = VK_DEFAULT_GRACE_MS;
	cfg_ptr->pin = 1;
	cfg_ptr->announce = 1;
	if (getenv("VK_SPIN_US"))
		cfg_ptr->spin_us = (unsigned)strtoul(getenv("VK_SPIN_US"), NULL, 10);
}

int vk_runtime_allowed_cpus(int *cpus, int max)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		return 0;
	for (int cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[n++] = cpu;
	return n;
}

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void announce(struct vk_service **services_ptr, int count)
{
	for (int i = 0; i < count; i++)
		printf("listening on %s:%d\n", vk_service_address(services_ptr[i]), vk_service_port(services_ptr[i]));
	fflush(stdout);
}

static int run_kernel(const struct vk_runtime_config *cfg_ptr, struct vk_service **services_ptr, int count, int index,
		      int cpu, struct kernel_slot *slot_ptr)
{
	struct vk_kern *kern_ptr;
	int rc;

	if (cfg_ptr->pin && cpu >= 0)
		pin_to(cpu);
	kern_ptr = vk_kern_create(index, cfg_ptr->poll_driver);
	if (!kern_ptr) {
		fprintf(stderr, "vk: kernel %d: poll driver %s: %s\n", index,
			cfg_ptr->poll_driver ? cfg_ptr->poll_driver : "(default)", strerror(errno));
		return 1;
	}
	for (int i = 0; i < count; i++)
		vk_kern_add_service(kern_ptr, services_ptr[i]);
	if (slot_ptr)
		vk_kern_set_channels(kern_ptr, slot_ptr->inbox_ptr, slot_ptr->outbox_ptr);
	vk_kern_set_grace_ms(kern_ptr, cfg_ptr->grace_ms);
	vk_kern_set_reload(kern_ptr, cfg_ptr->reload_fn, cfg_ptr->reload_ctx_ptr);
	vk_kern_set_reload_check(kern_ptr, cfg_ptr->reload_check_fn);
	vk_kern_set_signal(kern_ptr, cfg_ptr->signal_fn, cfg_ptr->hook_ctx_ptr);
	vk_kern_set_verbose(kern_ptr, cfg_ptr->verbose);
	vk_kern_set_spin_us(kern_ptr, cfg_ptr->spin_us);
	/* A lone kernel is the program's process: its children are its own,
	 * and it tells the service manager. */
	if (!slot_ptr && cfg_ptr->child_exit_fn)
		vk_kern_set_child_exit(kern_ptr, cfg_ptr->child_exit_fn, cfg_ptr->hook_ctx_ptr);
	if (!slot_ptr)
		vk_kern_set_state(kern_ptr, cfg_ptr->state_fn);
	if (vk_kern_start(kern_ptr) == -1) {
		fprintf(stderr, "vk: kernel %d: start: %s\n", index, strerror(errno));
		vk_kern_destroy(kern_ptr);
		return 1;
	}
	vk_kern_set_before_wait(kern_ptr, cfg_ptr->before_wait_fn, cfg_ptr->hook_ctx_ptr);
	if (cfg_ptr->kernel_start_fn)
		cfg_ptr->kernel_start_fn(cfg_ptr->hook_ctx_ptr, index);
	if (slot_ptr) {
		struct vk_msg msg = {.type = VK_MSG_READY, .from = index};

		vk_channel_push(slot_ptr->outbox_ptr, &msg);
	} else {
		if (cfg_ptr->announce)
			announce(services_ptr, count);
		if (cfg_ptr->state_fn)
			cfg_ptr->state_fn(cfg_ptr->hook_ctx_ptr, VK_RUNTIME_READY);
		vk_upgrade_ready();
	}
	rc = vk_kern_run(kern_ptr);
	if (cfg_ptr->kernel_stop_fn)
		cfg_ptr->kernel_stop_fn(cfg_ptr->hook_ctx_ptr, index);
	if (cfg_ptr->stats_at_exit || getenv("VK_STATS"))
		vk_kern_print_stats(kern_ptr);
	vk_kern_destroy(kern_ptr);
	return rc;
}

static pid_t start_kernel(const struct vk_runtime_config *cfg_ptr, struct vk_service **services_ptr, int count,
			  int index, int cpu, struct kernel_slot *slot_ptr)
{
	pid_t parent = getpid();
	pid_t pid;

	vk_channel_reset(slot_ptr->inbox_ptr);
	slot_ptr->ready = 0;
	slot_ptr->exited = 0;
	fflush(NULL);
	pid = fork();
	if (pid != 0)
		return pid;
	/* The kernel goes when its supervisor goes. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	_exit(run_kernel(cfg_ptr, services_ptr, count, index, cpu, slot_ptr));
}

static void broadcast_arg(struct kernel_slot *slots, int n, enum vk_msg_type type, uint64_t arg)
{
	struct vk_msg msg = {.type = type, .from = -1, .arg = {arg}};

	for (int i = 0; i < n; i++)
		if (slots[i].pid > 0 && !slots[i].exited)
			vk_channel_push(slots[i].inbox_ptr, &msg);
}

static void tell_state(const struct vk_runtime_config *cfg_ptr, int state)
{
	if (cfg_ptr->state_fn)
		cfg_ptr->state_fn(cfg_ptr->hook_ctx_ptr, state);
}

static void broadcast(struct kernel_slot *slots, int n, enum vk_msg_type type)
{
	broadcast_arg(slots, n, type, 0);
}

/* Signals whose default would end the program though nothing here sends
 * or expects them (timers, async I/O, power, real-time): ignored, so a
 * stray kill does not take the gateway down. SIGXFSZ too: a write past
 * the file size limit then fails with EFBIG instead. Inherited by the
 * kernels; the caught ones (TERM, INT, HUP, USR1, USR2, CHLD) are set up
 * by the supervisor and each kernel. */
static void ignore_stray_signals(void)
{
	static const int signals[] = {SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSTKFLT, SIGXFSZ, SIGPIPE};

	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		signal(signals[i], SIG_IGN);
	for (int signo = SIGRTMIN; signo <= SIGRTMAX; signo++)
		signal(signo, SIG_IGN);
}

/* SIGUSR2: the new binary starts with every kernel's listening sockets
 * (vk_upgrade.h). */
static void upgrade(struct kernel_slot *slots, int kernels, struct vk_service **services_ptr, int count)
{
	pid_t pids[VK_MAX_KERNELS];

	for (int i = 0; i < kernels; i++)
		pids[i] = slots[i].exited ? 0 : slots[i].pid;
	vk_upgrade_start(pids, kernels, services_ptr, count);
}

/* SIGHUP, or a kernel's vk_sys_reload_all: the check hook, then every
 * kernel's reload hook if it passed. */
static void reload_all(const struct vk_runtime_config *cfg_ptr, struct kernel_slot *slots, int kernels)
{
	if (cfg_ptr->reload_check_fn && cfg_ptr->reload_check_fn(cfg_ptr->reload_ctx_ptr) != 0)
		return;
	tell_state(cfg_ptr, VK_RUNTIME_RELOADING);
	broadcast(slots, kernels, VK_MSG_RELOAD);
	tell_state(cfg_ptr, VK_RUNTIME_READY);
}

/* SIGTERM, or a kernel's vk_sys_drain_all: every kernel drains, once;
 * those still running when the grace period is over are killed. */
static void drain_all(const struct vk_runtime_config *cfg_ptr, struct kernel_slot *slots, int kernels,
		      int *draining_ptr, uint64_t *kill_at_ptr)
{
	if (*draining_ptr)
		return;
	*draining_ptr = 1;
	*kill_at_ptr = vk_now_ns() + (uint64_t)cfg_ptr->grace_ms * 1000000u + VK_KILL_MARGIN_NS;
	/* After an upgrade, the drain hands over: nothing stops. */
	if (!vk_upgrade_successor())
		tell_state(cfg_ptr, VK_RUNTIME_STOPPING);
	broadcast(slots, kernels, VK_MSG_DRAIN);
}

static int supervise(const struct vk_runtime_config *cfg_ptr, struct vk_service **services_ptr, int count, int kernels,
		     int *cpus, int ncpus)
{
	struct kernel_slot slots[VK_MAX_KERNELS];
	struct pollfd pfds[VK_MAX_KERNELS + 1];
	uint64_t restarts[VK_RESTARTS_MAX] = {0};
	int restart_count = 0, announced = 0, draining = 0, failed = 0;
	uint64_t kill_at = 0;
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd == -1)
		return 1;
	memset(slots, 0, sizeof(slots));
	for (int i = 0; i < kernels; i++) {
		slots[i].inbox_ptr = vk_channel_create(VK_CHANNEL_SLOTS);
		slots[i].outbox_ptr = vk_channel_create(VK_CHANNEL_SLOTS);
		if (!slots[i].inbox_ptr || !slots[i].outbox_ptr)
			return 1;
	}
	for (int i = 0; i < kernels; i++)
		slots[i].pid = start_kernel(cfg_ptr, services_ptr, count, i, cpus[i % ncpus], &slots[i]);
	/* The kernels took their upgrade sockets; a kernel started again
	 * later listens anew. */
	vk_upgrade_close_untaken();

	for (;;) {
		int live = 0, ready = 0, timeout = -1;
		struct signalfd_siginfo info;

		for (int i = 0; i < kernels; i++) {
			live += !slots[i].exited;
			ready += slots[i].ready;
		}
		if (live == 0)
			break;
		if (!announced && ready == kernels) {
			if (cfg_ptr->announce)
				announce(services_ptr, count);
			tell_state(cfg_ptr, VK_RUNTIME_READY);
			vk_upgrade_ready();
			announced = 1;
		}
		if (kill_at) {
			uint64_t now = vk_now_ns();

			if (now >= kill_at) {
				for (int i = 0; i < kernels; i++)
					if (!slots[i].exited)
						kill(slots[i].pid, SIGKILL);
				failed = 1;
				kill_at = 0;
			} else {
				timeout = (int)((kill_at - now) / 1000000) + 1;
			}
		}
		pfds[0].fd = sfd;
		pfds[0].events = POLLIN;
		for (int i = 0; i < kernels; i++) {
			pfds[i + 1].fd = vk_channel_fd(slots[i].outbox_ptr);
			pfds[i + 1].events = POLLIN;
		}
		if (poll(pfds, (nfds_t)kernels + 1, timeout) == -1 && errno != EINTR)
			return 1;
		for (int i = 0; i < kernels; i++) {
			struct vk_msg msg;

			vk_channel_clear(slots[i].outbox_ptr);
			while (vk_channel_pop(slots[i].outbox_ptr, &msg) == 0) {
				if (msg.type == VK_MSG_READY)
					slots[i].ready = 1;
				else if (msg.type == VK_MSG_DRAIN_ALL)
					drain_all(cfg_ptr, slots, kernels, &draining, &kill_at);
				else if (msg.type == VK_MSG_RELOAD_ALL && !draining)
					reload_all(cfg_ptr, slots, kernels);
			}
		}
		while (read(sfd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
			if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) {
				drain_all(cfg_ptr, slots, kernels, &draining, &kill_at);
			} else if (info.ssi_signo == SIGHUP) {
				reload_all(cfg_ptr, slots, kernels);
			} else if (info.ssi_signo == SIGUSR2 && !draining) {
				upgrade(slots, kernels, services_ptr, count);
				broadcast_arg(slots, kernels, VK_MSG_SIGNAL, info.ssi_signo);
			} else if (info.ssi_signo == SIGUSR1 || info.ssi_signo == SIGUSR2) {
				broadcast_arg(slots, kernels, VK_MSG_SIGNAL, info.ssi_signo);
			}
		}
		for (;;) {
			int status;
			pid_t pid = waitpid(-1, &status, WNOHANG);

			int kernel = -1;

			if (pid <= 0)
				break;
			for (int i = 0; i < kernels; i++)
				if (slots[i].pid == pid)
					kernel = i;
			if (kernel < 0 && pid == vk_upgrade_successor()) {
				vk_upgrade_ended(status);
				continue;
			}
			if (kernel < 0) {
				if (!draining && cfg_ptr->child_exit_fn)
					cfg_ptr->child_exit_fn(cfg_ptr->hook_ctx_ptr, (int)pid, status);
				continue;
			}
			for (int i = 0; i < kernels; i++) {
				if (slots[i].pid != pid)
					continue;
				slots[i].exited = 1;
				slots[i].status = status;
				if (draining) {
					if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
						failed = 1;
					break;
				}
				fprintf(stderr, "vk: kernel %d (pid %d) ended unexpectedly (%s %d)\n", i, (int)pid,
					WIFSIGNALED(status) ? "signal" : "exit",
					WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
				if (restart_count == VK_RESTARTS_MAX &&
				    vk_now_ns() - restarts[restart_count % VK_RESTARTS_MAX] < VK_RESTART_WINDOW_NS) {
					fprintf(stderr, "vk: kernels keep dying: shutting down\n");
					draining = 1;
					failed = 1;
					kill_at = vk_now_ns() + VK_KILL_MARGIN_NS;
					broadcast(slots, kernels, VK_MSG_DRAIN);
					break;
				}
				restarts[restart_count % VK_RESTARTS_MAX] = vk_now_ns();
				if (restart_count < VK_RESTARTS_MAX)
					restart_count++;
				slots[i].pid =
					start_kernel(cfg_ptr, services_ptr, count, i, cpus[i % ncpus], &slots[i]);
			}
		}
	}
	for (int i = 0; i < kernels; i++) {
		vk_channel_destroy(slots[i].inbox_ptr);
		vk_channel_destroy(slots[i].outbox_ptr);
	}
	close(sfd);
	return failed;
}

/* Every connection is an fd: the soft open-file limit goes up to the hard
 * one at start, as nginx and HAProxy do, before any kernel is forked. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	was = rl.rlim_cur;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? VK_NOFILE_UNLIMITED : rl.rlim_max;
		if (rl.rlim_cur < was || setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			fprintf(stderr, "vk: open files: limit %llu, not raised to %llu: %s\n", (unsigned long long)was,
				(unsigned long long)rl.rlim_cur, strerror(errno));
			return;
		}
	}
	if (rl.rlim_cur == was)
		fprintf(stderr, "vk: open files: limit %llu (the hard limit)\n", (unsigned long long)was);
	else
		fprintf(stderr, "vk: open files: limit %llu (raised from %llu)\n", (unsigned long long)rl.rlim_cur,
			(unsigned long long)was);
}

int vk_runtime_run(const struct vk_runtime_config *cfg_ptr, struct vk_service **services_ptr, int count)
{
	int cpus[VK_MAX_KERNELS];
	int ncpus = vk_runtime_allowed_cpus(cpus, VK_MAX_KERNELS);
	int kernels = cfg_ptr->kernels > 0 ? cfg_ptr->kernels : ncpus;

	if (kernels < 1)
		kernels = 1;
	if (kernels > VK_MAX_KERNELS) {
		fprintf(stderr, "vk: at most %d kernels\n", VK_MAX_KERNELS);
		return 1;
	}
	ignore_stray_signals();
	raise_fd_limit();
	vk_upgrade_take_inherited();
	for (int i = 0; i < count; i++) {
		int inherited_port = vk_upgrade_inherited_port(vk_service_name(services_ptr[i]));

		/* An upgrade's sockets hold the port already. */
		if (inherited_port) {
			char address[64];

			snprintf(address, sizeof(address), "%s", vk_service_address(services_ptr[i]));
			vk_service_set_address(services_ptr[i], address, inherited_port);
			continue;
		}
		if (vk_service_reserve(services_ptr[i]) == -1) {
			fprintf(stderr, "vk: service %s: cannot bind %s:%d: %s\n", vk_service_name(services_ptr[i]),
				vk_service_address(services_ptr[i]), vk_service_port(services_ptr[i]), strerror(errno));
			return 1;
		}
	}
	if (kernels == 1)
		return run_kernel(cfg_ptr, services_ptr, count, 0, ncpus > 0 ? cpus[0] : -1, NULL);
	return supervise(cfg_ptr, services_ptr, count, kernels, cpus, ncpus > 0 ? ncpus : 1);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-a ADDR] [-p PORT] [-k KERNELS] [-i] [-P DRIVER] [--pages N] [-g GRACE_MS] [-v] [-s]\n"
		"  -a ADDR      listen address (default 127.0.0.1)\n"
		"  -p PORT      listen port (default 0: pick one and print it)\n"
		"  -k KERNELS   kernels, one per CPU (default: every allowed CPU)\n"
		"  -i           isolate each connection's memory (mprotect while not running)\n"
		"  -P DRIVER    poll driver: epoll, epoll-oneshot, poll, aio, uring (default $VK_POLL or epoll)\n"
		"  --pages N    micro-heap pages per connection\n"
		"  -g GRACE_MS  drain grace period on SIGTERM\n"
		"  -v           log every failed process\n"
		"  -s           print kernel counters at exit\n",
		prog);
}

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int vk_runtime_parse_args(int argc, char **argv, struct vk_runtime_config *cfg_ptr, struct vk_service *service_ptr)
{
	static const struct option options[] = {
		{"pages", required_argument, NULL, 'H'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char address[64];
	long port = vk_service_port(service_ptr), v;
	int c;

	snprintf(address, sizeof(address), "%s", vk_service_address(service_ptr));
	while ((c = getopt_long(argc, argv, "a:p:k:iP:g:vsh", options, NULL)) != -1) {
		switch (c) {
		case 'a':
			snprintf(address, sizeof(address), "%s", optarg);
			break;
		case 'p':
			if (parse_int(optarg, 0, 65535, &port) == -1)
				goto bad;
			break;
		case 'k':
			if (parse_int(optarg, 1, VK_MAX_KERNELS, &v) == -1)
				goto bad;
			cfg_ptr->kernels = (int)v;
			break;
		case 'i':
			vk_service_set_isolation(service_ptr, VK_ISOLATION_ALWAYS);
			break;
		case 'P':
			cfg_ptr->poll_driver = optarg;
			break;
		case 'H':
			if (parse_int(optarg, 1, 1 << 20, &v) == -1)
				goto bad;
			vk_service_set_heap_pages(service_ptr, (size_t)v);
			break;
		case 'g':
			if (parse_int(optarg, 0, 3600000, &v) == -1)
				goto bad;
			cfg_ptr->grace_ms = (unsigned)v;
			break;
		case 'v':
			cfg_ptr->verbose = 1;
			break;
		case 's':
			cfg_ptr->stats_at_exit = 1;
			break;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	if (vk_service_set_address(service_ptr, address, (int)port) == -1) {
		fprintf(stderr, "%s: bad address %s\n", argv[0], address);
		return -1;
	}
	return 0;
bad:
	usage(argv[0]);
	return -1;
}
