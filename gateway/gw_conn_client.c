/* gw_conn_client: who the client of a connection is. The peer, unless
 * the listener expects a PROXY protocol header (a TCP balancer in front
 * says whom it carries); and for a request's geo lookup, the address its
 * configuration trusts: the peer, or one from X-Forwarded-For or
 * Forwarded past trusted proxies (gw_client_address.h). */
#include "gw_conn_self.h"
#include "gw_geo.h"
#include "gw_proxy_protocol.h"
#include "gw_stats.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

_Static_assert(GW_CONN_LOG_MAX >= GW_PROXY_HEADER_MAX, "the PROXY header is read into log_line");

/* A refused header's reason, logged at most once a second per kernel: a
 * misconfigured balancer (or a scan) would flood the log otherwise. */
static void log_refusal(const struct gw_conn_self *self, const char *why)
{
	static uint64_t last_ns;
	uint64_t now = vk_sys_coarse_now_ns();

	if (last_ns && now - last_ns < 1000000000ull)
		return;
	last_ns = now;
	fprintf(stderr, "vkgw: kernel %d: connection from %s closed: its PROXY protocol header: %s\n",
		vk_sys_kernel_index(), self->client_addr, why);
}

static void set_client(struct gw_conn_self *self, const struct sockaddr *sa_ptr)
{
	self->client_ip_known = gw_ip_from_sockaddr(sa_ptr, &self->client_ip) == 0;
	if (self->client_ip_known)
		gw_ip_format(&self->client_ip, self->client_addr, sizeof(self->client_addr));
	else
		memcpy(self->client_addr, "unknown", sizeof("unknown"));
}

void gw_conn_peer_client(struct gw_conn_self *self)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = vk_socket_rx_fd(self->client_ptr);

	ss.ss_family = AF_UNSPEC;
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		ss.ss_family = AF_UNSPEC;
	set_client(self, (struct sockaddr *)&ss);
}

/* Takes n bytes the last peek saw off the socket, to land at `at` in the
 * header's buffer (where the peek put them already). 0, or -1. */
static int take(struct gw_conn_self *self, size_t at, size_t n)
{
	return recv(vk_socket_rx_fd(self->client_ptr), self->log_line + at, n, MSG_DONTWAIT) == (ssize_t)n ? 0 : -1;
}

/* The parse of what came so far: a header that is not whole yet is
 * taken off the socket as it comes (every byte of it is the header's),
 * so that a wait for more never wakes on bytes already seen; a whole one
 * is taken up to its end, what follows left for TLS or HTTP. */
static enum gw_proxy_result parsed(struct gw_conn_self *self, size_t *had_ptr, size_t peeked,
				   struct gw_proxy_header *header_ptr, const char **why_ptr)
{
	enum gw_proxy_result result = gw_proxy_parse(self->log_line, *had_ptr + peeked, header_ptr, why_ptr);

	if (result == GW_PROXY_NEED_MORE && *had_ptr + peeked >= GW_PROXY_HEADER_MAX) {
		*why_ptr = "too long";
		return GW_PROXY_INVALID;
	}
	if (result == GW_PROXY_DONE && header_ptr->length < *had_ptr) {
		*why_ptr = "malformed"; /* cannot be: what was taken was a header's start */
		return GW_PROXY_INVALID;
	}
	if (result == GW_PROXY_NEED_MORE || result == GW_PROXY_DONE) {
		size_t n = result == GW_PROXY_DONE ? header_ptr->length - *had_ptr : peeked;

		if (take(self, *had_ptr, n) == -1) {
			*why_ptr = "cut short";
			return GW_PROXY_INVALID;
		}
		*had_ptr += n;
	}
	return result;
}

void gw_conn_proxy_header(struct vk_thread *that)
{
	struct gw_conn_self *conn_ptr = vk_thread_arg(that);
	struct {
		size_t had;
		size_t peeked;
		enum gw_proxy_result result;
		struct gw_proxy_header header;
		const char *why;
	} * self;

	vk_begin();
	vk_catch
	{
		/* late (header_ms) or reset */
		conn_ptr->force_close = 1;
		gw_stats_proxy_header(0);
		log_refusal(conn_ptr, vk_error() == ETIMEDOUT ? "did not come in time" : "cut short");
	}
	self->had = 0;
	self->why = "cut short";
	self->result = GW_PROXY_NEED_MORE;
	vk_deadline(conn_ptr->cfg_ptr->header_timeout_ms);
	while (self->result == GW_PROXY_NEED_MORE) {
		vk_peek_on(conn_ptr->client_ptr, conn_ptr->log_line + self->had, GW_PROXY_HEADER_MAX - self->had,
			   &self->peeked);
		if (self->peeked == 0) {
			self->result = GW_PROXY_INVALID; /* the peer ended */
			break;
		}
		self->result = parsed(conn_ptr, &self->had, self->peeked, &self->header, &self->why);
	}
	vk_deadline_clear();
	if (self->result == GW_PROXY_DONE) {
		if (!self->header.local)
			set_client(conn_ptr, (const struct sockaddr *)&self->header.source);
		gw_stats_proxy_header(1);
	} else {
		conn_ptr->force_close = 1;
		gw_stats_proxy_header(0);
		log_refusal(conn_ptr, self->why);
	}
	vk_end();
}

/* ---- the client address of a request, and its geo answer ---- */

/* The field values of one kind of forwarding header, in order: at most
 * this many lines. The rules read from the right, where the trusted
 * proxies wrote, so with more lines than that the client's address is
 * unknown rather than taken from lines a client may have written. */
#define FORWARDED_VALUES_MAX 16

static int is_forwarding(const struct gw_conn_self *self, const struct gw_http_field *f_ptr, enum gw_client_from from)
{
	if (from == GW_CLIENT_FROM_X_FORWARDED_FOR)
		return f_ptr->kind == GW_FIELD_X_FORWARDED_FOR;
	return f_ptr->name.len == 9 && strncasecmp(span(self->head_ptr, f_ptr->name), "forwarded", 9) == 0;
}

/* The lines' count, or -1 when there are more than FORWARDED_VALUES_MAX. */
static int forwarding_values(const struct gw_conn_self *self, enum gw_client_from from, const char **values,
			     size_t *lens)
{
	int count = 0;

	for (uint32_t i = 0; i < self->req.head.field_count; i++) {
		const struct gw_http_field *f_ptr = &self->req.head.fields[i];

		if (!is_forwarding(self, f_ptr, from))
			continue;
		if (count == FORWARDED_VALUES_MAX)
			return -1;
		values[count] = span(self->head_ptr, f_ptr->value);
		lens[count++] = f_ptr->value.len;
	}
	return count;
}

const struct gw_geo_answer *gw_conn_geo(void *self_ptr)
{
	struct gw_conn_self *self = self_ptr;
	const struct gw_client_rule *rule_ptr = &self->cfg_ptr->client_rule;
	const char *values[FORWARDED_VALUES_MAX];
	size_t lens[FORWARDED_VALUES_MAX];
	struct gw_ip ip = self->client_ip;
	int count;

	if (self->geo_looked_up)
		return &self->geo;
	self->geo_looked_up = 1;
	count = rule_ptr->from == GW_CLIENT_FROM_PEER ? 0 : forwarding_values(self, rule_ptr->from, values, lens);
	if (!self->client_ip_known || count < 0 ||
	    gw_client_address_pick(rule_ptr, &self->client_ip, values, lens, count, &ip) == GW_CLIENT_UNUSABLE) {
		self->geo = (struct gw_geo_answer){0};
		self->geo_kept = 0;
		gw_geo_count_no_address();
		return &self->geo;
	}
	/* A keep-alive client asks again: the same answer. */
	if (self->geo_kept && self->geo_generation == gw_geo_kernel_generation() &&
	    memcmp(&self->geo.address, &ip, sizeof(ip)) == 0) {
		gw_geo_count_answer(&self->geo);
		return &self->geo;
	}
	gw_geo_lookup(&ip, &self->geo);
	self->geo_kept = 1;
	self->geo_generation = gw_geo_kernel_generation();
	return &self->geo;
}
