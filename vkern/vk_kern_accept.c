/* vk_kern_accept: the kernel's accept path. A listener's pending
 * connections are accepted in batches, each into a new micro-process of its
 * service. When fds run out the listener starves: its queued clients are
 * not announced again, so the kernel accepts again when an fd closes, and
 * on a timer meanwhile; the shortage is logged at most once a second. */
#include "vk_kern.h"
#include "vk_kern_s.h"
#include "vk_kern_self.h"
#include "vk_fd.h"
#include "vk_heap.h"
#include "vk_pool.h"
#include "vk_proc.h"
#include "vk_proc_local.h"
#include "vk_service.h"
#include "vk_service_s.h"
#include "vk_socket.h"
#include "vk_sys.h"
#include "vk_thread.h"
#include "vk_timer.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define VK_ACCEPT_BATCH 64
/* Out of fds, accept is tried again this often (and whenever one closes). */
#define VK_ACCEPT_RETRY_NS 100000000ull
#define VK_EMFILE_LOG_NS 1000000000ull

static int spawn(struct vk_kern *kern_ptr, struct vk_service *service_ptr, int fd)
{
	struct vk_proc *proc_ptr = vk_proc_table_alloc(&kern_ptr->procs);
	struct vk_proc_local *proc_local_ptr;
	struct vk_socket *socket_ptr;
	struct vk_thread *thread_ptr;
	char *rings_ptr;
	struct vk_fd *fd_ptr = vk_fd_table_get(&kern_ptr->fds, fd);

	if (!proc_ptr || !fd_ptr)
		goto fail;
	if (vk_pool_get(&service_ptr->pool, &proc_ptr->heap) == -1)
		goto fail_proc;
	proc_ptr->service_ptr = service_ptr;
	proc_ptr->name = service_ptr->name;
	proc_ptr->isolation = service_ptr->isolation;
	proc_ptr->untrusted = 0;
	proc_local_ptr = vk_proc_local_create(vk_heap_start(&proc_ptr->heap), vk_heap_len(&proc_ptr->heap),
					      vk_heap_pages(&proc_ptr->heap));
	if (!proc_local_ptr)
		goto fail_heap;
	if (vk_heap_zeroed(&proc_ptr->heap))
		vk_proc_local_heap_zeroed(proc_local_ptr);
	vk_heap_set_used(&proc_ptr->heap);
	proc_ptr->proc_local_ptr = proc_local_ptr;
	/* The rings at the far end: the small objects that follow (thread,
	 * locals) share the first pages with the process's own state. */
	rings_ptr = vk_proc_local_alloc_high(proc_local_ptr, service_ptr->rx_len + service_ptr->tx_len);
	socket_ptr = rings_ptr ? vk_socket_alloc_on(proc_local_ptr, rings_ptr, service_ptr->rx_len,
						    rings_ptr + service_ptr->rx_len, service_ptr->tx_len)
			       : NULL;
	if (!socket_ptr)
		goto fail_heap;
	vk_socket_set_fd(socket_ptr, fd);
	thread_ptr = vk_thread_new(proc_local_ptr, service_ptr->main_fn, service_ptr->arg_ptr, socket_ptr);
	if (!thread_ptr)
		goto fail_heap;
	vk_thread_set_name(thread_ptr, service_ptr->name);
	vk_proc_local_enqueue(proc_local_ptr, thread_ptr);
	vk_kern_own_fd(kern_ptr, fd_ptr, proc_ptr);
	vk_kern_isolate_new(kern_ptr, proc_ptr);
	if (kern_ptr->draining)
		proc_ptr->drain_pending = 1;
	if (service_ptr->serves_drain)
		kern_ptr->drain_exempt_live++;
	vk_kern_enqueue(kern_ptr, proc_ptr);
	kern_ptr->stats[VK_STAT_ACCEPTED]++;
	return 0;

fail_heap:
	fprintf(stderr, "vk: kernel %d: service %s: a heap of %zu pages cannot hold a connection's socket and thread\n",
		kern_ptr->index, service_ptr->name, service_ptr->heap_pages);
	vk_pool_put(&service_ptr->pool, &proc_ptr->heap, kern_ptr->now_ns);
fail_proc:
	vk_proc_table_release(&kern_ptr->procs, proc_ptr);
fail:
	return -1;
}

/* Every fd-less accept is counted; a line at most once a second says how
 * many there were, whatever the verbosity: the operator must hear of it. */
static void note_emfile(struct vk_kern *kern_ptr, struct vk_service *service_ptr, int error)
{
	uint64_t now = vk_now_ns();

	kern_ptr->stats[VK_STAT_ACCEPT_EMFILE]++;
	if (kern_ptr->emfile_logged_ns && now - kern_ptr->emfile_logged_ns < VK_EMFILE_LOG_NS) {
		kern_ptr->emfile_unlogged++;
		return;
	}
	fprintf(stderr, "vk: kernel %d: accept on %s: %s (%llu more since the last report); retrying as fds free up\n",
		kern_ptr->index, service_ptr->name, strerror(error), (unsigned long long)kern_ptr->emfile_unlogged);
	kern_ptr->emfile_logged_ns = now;
	kern_ptr->emfile_unlogged = 0;
}

/* Out of fds, queued clients are not announced again (no new SYN may come,
 * and an edge-triggered listener stays silent): the kernel accepts again
 * when an fd closes, and on a timer meanwhile. */
static void starve_accepts(struct vk_kern *kern_ptr, struct vk_service *service_ptr, int error)
{
	note_emfile(kern_ptr, service_ptr, error);
	service_ptr->accept_starved = 1;
	service_ptr->accept_retry_ns = vk_now_ns() + VK_ACCEPT_RETRY_NS;
	kern_ptr->accept_starved = 1;
}

void vk_kern_retry_accepts_on_close(struct vk_kern *kern_ptr)
{
	for (int i = 0; i < kern_ptr->service_count; i++) {
		struct vk_service *service_ptr = kern_ptr->services_ptr[i];

		if (service_ptr->accept_starved)
			service_ptr->accept_more = 1;
	}
}

void vk_kern_accept_batch(struct vk_kern *kern_ptr, struct vk_service *service_ptr)
{
	int one = 1;

	service_ptr->accept_more = 0;
	for (int i = 0; i < VK_ACCEPT_BATCH; i++) {
		int fd = accept4(service_ptr->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				starve_accepts(kern_ptr, service_ptr, errno);
				return;
			}
			if (errno != EAGAIN && kern_ptr->verbose)
				fprintf(stderr, "vk: kernel %d: accept on %s: %s\n", kern_ptr->index, service_ptr->name,
					strerror(errno));
			service_ptr->accept_starved = 0;
			vk_kern_want(kern_ptr, vk_fd_table_get(&kern_ptr->fds, service_ptr->listen_fd), VK_EV_IN);
			return;
		}
		service_ptr->accept_starved = 0;
		if (service_ptr->nodelay)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (spawn(kern_ptr, service_ptr, fd) == -1)
			close(fd);
	}
	service_ptr->accept_more = 1;
}

int vk_kern_accepts_pending(struct vk_kern *kern_ptr)
{
	for (int i = 0; i < kern_ptr->service_count; i++)
		if (kern_ptr->services_ptr[i]->accept_more)
			return 1;
	return 0;
}

/* The retry timer: due services try again; the kernel stays marked while
 * any of them is still starved. */
void vk_kern_retry_starved_accepts(struct vk_kern *kern_ptr)
{
	int starved = 0;

	for (int i = 0; i < kern_ptr->service_count; i++) {
		struct vk_service *service_ptr = kern_ptr->services_ptr[i];

		if (!service_ptr->accept_starved)
			continue;
		starved = 1;
		if (kern_ptr->now_ns >= service_ptr->accept_retry_ns)
			service_ptr->accept_more = 1;
	}
	kern_ptr->accept_starved = starved;
}

/* The timer of the starved services: the earliest retry among them. */
uint64_t vk_kern_accept_retry_ns(struct vk_kern *kern_ptr)
{
	uint64_t when = 0;

	for (int i = 0; i < kern_ptr->service_count; i++) {
		struct vk_service *service_ptr = kern_ptr->services_ptr[i];

		if (service_ptr->accept_starved && (!when || service_ptr->accept_retry_ns < when))
			when = service_ptr->accept_retry_ns;
	}
	return when;
}
