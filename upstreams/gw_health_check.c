/* gw_health_check: active health checks. Each kernel runs one process per
 * upstream that has a "health_check": it probes the endpoints in turn
 * (connect, send the configured request, read the status line, all within
 * timeout_ms) and feeds each result to the endpoint's health, which the
 * balancer reads. A probe costs this kernel a few syscalls per interval;
 * nothing is shared with the other kernels, which probe on their own.
 * A DNS endpoint is probed at one of its resolved addresses, the next one
 * each round, and skipped while it has none (it is unavailable then).
 * An upstream reached over TLS is probed over TLS, with the same
 * verification: a certificate that does not verify fails the probe. */
#include "gw_health_check.h"
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_upstreams.h"
#include "gw_tls_stream.h"

#include "vk_coro.h"
#include "vk_proc_local.h"
#include "vk_socket.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_RX_BYTES 2048
#define CHECK_TX_BYTES 1024
#define CHECK_REQUEST_MAX 512
#define CHECK_LINE_MAX 256

struct check_self {
	struct vk_socket *socket_ptr;
	struct gw_tls_client *tls_client_ptr; /* NULL: plain */
	struct gw_tls_stream *tls_ptr;	      /* for tls_client_ptr */
	char request[CHECK_REQUEST_MAX];
	size_t request_len;
	char line[CHECK_LINE_MAX];
	size_t len;
	int endpoint;
	int passed;
	unsigned round;
	struct sockaddr_storage address;
	socklen_t address_len;
	const struct gw_config_endpoint *endpoint_ptr;
	const struct gw_config_upstream *upstream_ptr;
};

static int expected_status(const struct gw_config_health_check *hc_ptr, int status)
{
	for (int i = 0; i < hc_ptr->expected_status_count; i++)
		if (hc_ptr->expected_statuses_ptr[i] == status)
			return 1;
	return 0;
}

/* "HTTP/1.x NNN ...": the status, or -1. */
static int status_of(const char *line, size_t len)
{
	if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
		return -1;
	if (line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' || line[11] < '0' || line[11] > '9')
		return -1;
	return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

static void probe_close(struct check_self *c_ptr)
{
	if (c_ptr->tls_ptr)
		gw_tls_stream_end(c_ptr->tls_ptr);
	vk_socket_close(c_ptr->socket_ptr);
}

/* One probe of one endpoint: a called child, so that any error (refused,
 * reset, timeout) ends the probe as failed and nothing more. */
static void probe(struct vk_thread *that)
{
	struct check_self *c_ptr = vk_thread_arg(that);
	struct {
		int unused;
	} * self;

	vk_begin();
	vk_catch
	{
		c_ptr->passed = 0;
		probe_close(c_ptr);
	}
	c_ptr->passed = 0;
	vk_deadline(c_ptr->upstream_ptr->health_check.timeout_ms);
	vk_connect(c_ptr->socket_ptr, &c_ptr->address, c_ptr->address_len);
	if (c_ptr->tls_client_ptr) {
		if (gw_tls_stream_connect(c_ptr->tls_ptr, c_ptr->tls_client_ptr, c_ptr->endpoint, c_ptr->socket_ptr) ==
		    -1)
			vk_raise(ENOMEM);
		vk_handshake_on(c_ptr->socket_ptr);
	}
	vk_write_on(c_ptr->socket_ptr, c_ptr->request, c_ptr->request_len);
	vk_flush_on(c_ptr->socket_ptr);
	vk_readline_on(c_ptr->socket_ptr, c_ptr->len, c_ptr->line, sizeof(c_ptr->line));
	c_ptr->passed = expected_status(&c_ptr->upstream_ptr->health_check, status_of(c_ptr->line, c_ptr->len));
	vk_deadline_clear();
	probe_close(c_ptr);
	vk_end();
}

static void gw_health_check_main(struct vk_thread *that)
{
	struct gw_health_check_arg *arg_ptr = vk_thread_arg(that);
	struct check_self *self;

	vk_begin();
	/* A probe cut short (the kernel drains) gives BoringSSL's memory back. */
	vk_finally
	{
		if (self->tls_ptr && !vk_sys_faulted())
			gw_tls_stream_end(self->tls_ptr);
		gw_upstreams_check_ended(arg_ptr->state_ptr);
	}
	self->upstream_ptr = arg_ptr->upstream_ptr;
	self->socket_ptr = vk_socket_alloc(vk_thread_proc_local(that), CHECK_RX_BYTES, CHECK_TX_BYTES);
	if (!self->socket_ptr)
		vk_raise(ENOMEM);
	self->tls_client_ptr = gw_upstreams_tls(arg_ptr->state_ptr);
	if (self->tls_client_ptr) {
		self->tls_ptr = vk_proc_local_alloc(vk_thread_proc_local(that), gw_tls_stream_size());
		if (!self->tls_ptr)
			vk_raise(ENOMEM);
	}
	while (!vk_draining() && gw_upstreams_check_goes_on(arg_ptr->state_ptr)) {
		for (self->endpoint = 0; self->endpoint < self->upstream_ptr->endpoint_count && !vk_draining() &&
					 gw_upstreams_check_goes_on(arg_ptr->state_ptr);
		     self->endpoint++) {
			self->endpoint_ptr = &self->upstream_ptr->endpoints_ptr[self->endpoint];
			if (gw_upstreams_probe_address(arg_ptr->state_ptr, self->endpoint, self->round, &self->address,
						       &self->address_len) == -1)
				continue;
			self->request_len =
				(size_t)snprintf(self->request, sizeof(self->request),
						 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: "
						 "vkgw-health-check\r\nConnection: close\r\n\r\n",
						 self->upstream_ptr->health_check.method,
						 self->upstream_ptr->health_check.path, self->endpoint_ptr->address);
			vk_call(probe, self);
			if (gw_upstreams_check_goes_on(arg_ptr->state_ptr))
				gw_upstreams_check_result(arg_ptr->state_ptr, self->endpoint, self->passed);
		}
		self->round++;
		vk_sleep_idle(self->upstream_ptr->health_check.interval_ms);
	}
	vk_end();
}

int gw_health_check_start(struct gw_health_check_arg *arg_ptr)
{
	return vk_sys_spawn(arg_ptr->name, gw_health_check_main, arg_ptr, GW_HEALTH_CHECK_PAGES) < 0 ? -1 : 0;
}
