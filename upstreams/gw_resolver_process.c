/* gw_resolver_process: resolving DNS endpoints with getaddrinfo, at
 * start-up and then in a process of its own (see the header). */
#include "gw_resolver_process.h"
#include "gw_resolver.h"
#include "gw_child.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The longest the resolver sleeps before checking that vkgw is still its
 * parent (PR_SET_PDEATHSIG is the first line; this covers its races). */
#define GW_RESOLVER_PARENT_CHECK_NS 1000000000ull

uint64_t gw_resolver_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_port(struct gw_resolver_addresses *addresses_ptr, int port)
{
	for (uint32_t i = 0; i < addresses_ptr->count; i++) {
		union gw_resolver_address *a_ptr = &addresses_ptr->addresses[i];

		if (a_ptr->sa.sa_family == AF_INET6)
			a_ptr->in6.sin6_port = htons((uint16_t)port);
		else
			a_ptr->in4.sin_port = htons((uint16_t)port);
	}
}

static int contains(const struct gw_resolver_addresses *addresses_ptr, const union gw_resolver_address *a_ptr)
{
	for (uint32_t i = 0; i < addresses_ptr->count; i++)
		if (memcmp(&addresses_ptr->addresses[i], a_ptr, sizeof(*a_ptr)) == 0)
			return 1;
	return 0;
}

int gw_resolver_lookup(const char *host, int port, struct gw_resolver_addresses *out_ptr, const char **error_ptr)
{
	/* No AI_ADDRCONFIG: it hides every address of a family the host has
	 * no non-loopback address of, so "localhost" in a container with only
	 * lo would resolve to nothing. */
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *list_ptr;
	int rc = getaddrinfo(host, NULL, &hints, &list_ptr);

	memset(out_ptr, 0, sizeof(*out_ptr));
	if (rc != 0) {
		*error_ptr = rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
		return -1;
	}
	for (struct addrinfo *ai_ptr = list_ptr; ai_ptr && out_ptr->count < GW_RESOLVER_ADDRESSES_MAX;
	     ai_ptr = ai_ptr->ai_next) {
		union gw_resolver_address a;

		/* Only the fields that matter, the rest zero: sets compare
		 * with memcmp. */
		memset(&a, 0, sizeof(a));
		if (ai_ptr->ai_family == AF_INET) {
			a.in4.sin_family = AF_INET;
			a.in4.sin_addr = ((const struct sockaddr_in *)ai_ptr->ai_addr)->sin_addr;
		} else if (ai_ptr->ai_family == AF_INET6) {
			a.in6.sin6_family = AF_INET6;
			a.in6.sin6_addr = ((const struct sockaddr_in6 *)ai_ptr->ai_addr)->sin6_addr;
			a.in6.sin6_scope_id = ((const struct sockaddr_in6 *)ai_ptr->ai_addr)->sin6_scope_id;
		} else {
			continue;
		}
		if (!contains(out_ptr, &a))
			out_ptr->addresses[out_ptr->count++] = a;
	}
	freeaddrinfo(list_ptr);
	if (out_ptr->count == 0) {
		*error_ptr = "no IPv4 or IPv6 address";
		return -1;
	}
	set_port(out_ptr, port);
	gw_resolver_order(out_ptr);
	return 0;
}

/* One entry's result in a pass, kept so a name shared by several entries
 * is looked up once. */
struct pass_result {
	int done;
	int ok;
	const char *error;
	struct gw_resolver_addresses addresses;
};

static void resolve_entry(struct gw_resolver *resolver_ptr, struct pass_result *results_ptr, int i, FILE *log_ptr)
{
	struct gw_resolver_entry *entry_ptr = &resolver_ptr->entries[i];
	struct pass_result *r_ptr = &results_ptr[i];

	for (int j = 0; j < i; j++) {
		if (results_ptr[j].done && strcasecmp(resolver_ptr->entries[j].host, entry_ptr->host) == 0) {
			*r_ptr = results_ptr[j];
			set_port(&r_ptr->addresses, entry_ptr->port);
			break;
		}
	}
	if (!r_ptr->done) {
		r_ptr->ok = gw_resolver_lookup(entry_ptr->host, entry_ptr->port, &r_ptr->addresses, &r_ptr->error) == 0;
		r_ptr->done = 1;
	}
	gw_resolver_record(entry_ptr, r_ptr->ok ? &r_ptr->addresses : NULL, r_ptr->error, log_ptr);
}

uint64_t gw_resolver_run_due(struct gw_resolver *resolver_ptr, uint64_t now_ns, FILE *log_ptr)
{
	/* The entries counted now (a reload may add more meanwhile: the
	 * next pass has them, due at once). */
	int count = gw_resolver_count(resolver_ptr);
	struct pass_result *results_ptr = calloc((size_t)count + 1, sizeof(*results_ptr));
	uint64_t next = UINT64_MAX;

	if (!results_ptr)
		return now_ns + GW_RESOLVER_PARENT_CHECK_NS; /* try again soon */
	for (int i = 0; i < count; i++) {
		struct gw_resolver_entry *entry_ptr = &resolver_ptr->entries[i];

		if (entry_ptr->due_ns <= now_ns) {
			resolve_entry(resolver_ptr, results_ptr, i, log_ptr);
			entry_ptr->due_ns = now_ns + (uint64_t)entry_ptr->interval_ms * 1000000ull;
		}
		if (entry_ptr->due_ns < next)
			next = entry_ptr->due_ns;
	}
	free(results_ptr);
	fflush(log_ptr);
	return next;
}

/* The resolver waits for its next due entry, or for SIGUSR1
 * (gw_resolver_process_wake: a reload added names). The signal stays
 * blocked, so one sent while a pass runs is taken by the next wait, not
 * lost. */
static void __attribute__((noreturn)) resolver_main(struct gw_resolver *resolver_ptr, pid_t parent)
{
	sigset_t wake;

	sigemptyset(&wake);
	sigaddset(&wake, SIGUSR1);
	sigprocmask(SIG_BLOCK, &wake, NULL);
	for (;;) {
		uint64_t next = gw_resolver_run_due(resolver_ptr, gw_resolver_now_ns(), stderr);
		uint64_t now = gw_resolver_now_ns();
		uint64_t wait = next > now ? next - now : 0;
		struct timespec ts;

		if (getppid() != parent)
			_exit(0);
		if (wait > GW_RESOLVER_PARENT_CHECK_NS)
			wait = GW_RESOLVER_PARENT_CHECK_NS;
		ts.tv_sec = (time_t)(wait / 1000000000ull);
		ts.tv_nsec = (long)(wait % 1000000000ull);
		sigtimedwait(&wake, NULL, &ts);
	}
}

void gw_resolver_process_wake(pid_t pid)
{
	if (pid > 0)
		kill(pid, SIGUSR1);
}

pid_t gw_resolver_process_start(struct gw_resolver *resolver_ptr)
{
	pid_t parent = getpid();
	pid_t pid;

	if (gw_resolver_count(resolver_ptr) == 0)
		return 0;
	pid = gw_child_fork("vkgw-resolver");
	if (pid != 0)
		return pid;
	resolver_main(resolver_ptr, parent);
}

void gw_resolver_process_stop(pid_t pid)
{
	gw_child_stop(pid);
}
