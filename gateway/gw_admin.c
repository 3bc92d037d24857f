/* gw_admin: the admin listener's connection process (see gw_admin.h).
 *
 * Each request is read whole (head only: a body is not read, and the
 * connection closes after the answer), answered from a buffer sized once
 * for the largest rendering, and the connection kept alive as the client
 * asks, except while the kernel drains. */
#include "gw_admin.h"
#include "gw_admin_s.h"
#include "gw_http.h"
#include "gw_http_read.h"
#include "gw_http_s.h"
#include "gw_stats.h"
#include "gw_http_write.h"
#include "gw_tls.h"

#include "vk_coro.h"
#include "vk_heap.h"
#include "vk_proc_local.h"
#include "vk_socket.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#define GW_ADMIN_HEAD_MAX (8 * 1024)
#define GW_ADMIN_TARGET_MAX 2048
#define GW_ADMIN_HEADERS_MAX 64
#define GW_ADMIN_HEADER_TIMEOUT_MS 5000
#define GW_ADMIN_KEEPALIVE_IDLE_MS 60000
#define GW_ADMIN_LINE_MAX 512
/* Room for an error body, whatever the size of the rendering. */
#define GW_ADMIN_ERROR_BODY_MAX 512
/* The thread's locals, the socket structures, and room for bookkeeping. */
#define GW_ADMIN_HEAP_SLACK (16 * 1024)

/* POST /config/reload waits for the check, then for every kernel to have
 * applied it, looking this often, for at most this long. */
#define GW_ADMIN_RELOAD_POLL_MS 5
#define GW_ADMIN_RELOAD_WAIT_MS 10000

#define GW_ADMIN_JSON "application/json"
/* The Prometheus text exposition format, version 0.0.4. */
#define GW_ADMIN_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"

struct gw_admin_self {
	const struct gw_admin_config *cfg_ptr;
	struct gw_request req;
	char *head_ptr;
	struct gw_http_read head_read; /* head_read.len: bytes of the head so far */
	char *body_ptr;		       /* the rendering buffer */
	size_t body_cap;
	const char *body;
	size_t body_len;
	const char *content_type;
	int status;
	const char *allow; /* a 405: the methods the path answers; NULL otherwise */
	int close_after;
	int first;
	int more;
	char line[GW_ADMIN_LINE_MAX];
	size_t line_len;
	/* POST /config/reload: asked; where reloads stood when asked, then as
	 * last seen; the time waited */
	int reload_asked;
	struct gw_stats_reload_state reload;
	uint64_t reloads_before;
	uint64_t waited_ms;
};

void gw_admin_config_init(struct gw_admin_config *cfg_ptr, struct gw_stats *stats_ptr, size_t ring_bytes)
{
	memset(cfg_ptr, 0, sizeof(*cfg_ptr));
	cfg_ptr->stats_ptr = stats_ptr;
	gw_http_limits_default(&cfg_ptr->limits);
	cfg_ptr->limits.max_head_bytes = GW_ADMIN_HEAD_MAX;
	cfg_ptr->limits.max_target_bytes = GW_ADMIN_TARGET_MAX;
	cfg_ptr->limits.max_headers = GW_ADMIN_HEADERS_MAX;
	cfg_ptr->header_timeout_ms = GW_ADMIN_HEADER_TIMEOUT_MS;
	cfg_ptr->keepalive_idle_ms = GW_ADMIN_KEEPALIVE_IDLE_MS;
	cfg_ptr->ring_bytes = ring_bytes;
	cfg_ptr->token = "";
}

static size_t body_cap(const struct gw_admin_config *cfg_ptr)
{
	size_t max = gw_stats_render_max(cfg_ptr->stats_ptr);

	return max > GW_ADMIN_ERROR_BODY_MAX ? max : GW_ADMIN_ERROR_BODY_MAX;
}

size_t gw_admin_heap_pages(const struct gw_admin_config *cfg_ptr)
{
	return vk_pages_for(cfg_ptr->limits.max_head_bytes + body_cap(cfg_ptr) + 2 * cfg_ptr->ring_bytes +
			    sizeof(struct gw_admin_self) + GW_ADMIN_HEAP_SLACK);
}

static void answer_error(struct gw_admin_self *self, int status, const char *message)
{
	self->status = status;
	self->content_type = GW_ADMIN_JSON;
	self->body = self->body_ptr;
	self->body_len = gw_http_error_body(self->body_ptr, self->body_cap, status, message);
}

static void answer_text(struct gw_admin_self *self, int status, const char *content_type, const char *text)
{
	self->status = status;
	self->content_type = content_type;
	self->body = text;
	self->body_len = strlen(text);
}

/* A rendering, or a 500 if the buffer sized for the worst case was not
 * enough after all (a bug, but not one to take the kernel down for). */
static void answer_rendering(struct gw_admin_self *self, const char *content_type, size_t len)
{
	if (len >= self->body_cap) {
		answer_error(self, 500, "the statistics did not fit their buffer");
		return;
	}
	self->status = 200;
	self->content_type = content_type;
	self->body = self->body_ptr;
	self->body_len = len;
}

static int path_is(const char *path, size_t len, const char *name)
{
	return len == strlen(name) && memcmp(path, name, len) == 0;
}

/* Whether the request carries "Authorization: Bearer <token>", compared
 * in constant time. */
static int carries_token(const struct gw_admin_self *self, const char *token)
{
	static const char scheme[] = "Bearer ";
	const struct gw_http_field *field_ptr = gw_http_header_find(&self->req, self->head_ptr, "authorization");
	size_t scheme_len = sizeof(scheme) - 1;

	if (!field_ptr || field_ptr->value.len <= scheme_len ||
	    strncasecmp(self->head_ptr + field_ptr->value.off, scheme, scheme_len) != 0)
		return 0;
	return gw_tls_secret_equal(self->head_ptr + field_ptr->value.off + scheme_len,
				   field_ptr->value.len - scheme_len, token, strlen(token));
}

/* The admin listener's actions, each a POST. */
enum gw_admin_action {
	GW_ADMIN_DRAIN,	 /* /drain */
	GW_ADMIN_RELOAD, /* /config/reload */
};

/* An action may be taken: 1, or 0 with the refusal answered. */
static int action_allowed(struct gw_admin_self *self, const struct gw_admin_config *cfg_ptr,
			  enum gw_admin_action action)
{
	if (self->req.method != GW_METHOD_POST) {
		answer_error(self, 405,
			     action == GW_ADMIN_DRAIN ? "/drain answers POST only"
						      : "/config/reload answers POST only");
		self->allow = "POST";
		return 0;
	}
	if (cfg_ptr->token[0] && !carries_token(self, cfg_ptr->token)) {
		answer_error(self, 401, "admin actions need the admin token (Authorization: Bearer <token>)");
		return 0;
	}
	if (!cfg_ptr->token[0] && !cfg_ptr->actions_allowed) {
		answer_error(self, 403, "admin actions are taken only on a loopback admin listener, or with a token");
		return 0;
	}
	return 1;
}

/* POST /drain: the whole program drains (vk_sys_drain_all), answered
 * before it does. POST /config/reload: the program reloads as on SIGHUP
 * (vk_sys_reload_all), answered once the check is done and every kernel
 * has the new configuration (reload_wait). The connection closes after
 * the answer, so a body sent with the request is never taken for a next
 * request. */
static void answer_action(struct gw_admin_self *self, const struct gw_admin_config *cfg_ptr,
			  enum gw_admin_action action)
{
	self->close_after = 1;
	if (!action_allowed(self, cfg_ptr, action))
		return;
	if (action == GW_ADMIN_DRAIN) {
		if (vk_sys_drain_all() == -1)
			answer_error(self, 500, "the drain could not be started");
		else
			answer_text(self, 202, GW_ADMIN_JSON, "{\"status\":\"draining\"}\n");
		return;
	}
	gw_stats_reload_state(cfg_ptr->stats_ptr, &self->reload);
	if (vk_sys_reload_all() == -1) {
		answer_error(self, 500, "the reload could not be started");
		return;
	}
	self->reload_asked = 1;
}

/* The reload asked is answered: its check first (refused: 422 with the
 * problems), then every kernel's taking it (200 "applied"), each for at
 * most GW_ADMIN_RELOAD_WAIT_MS in all (202 "accepted" when the kernels
 * have not all applied it by then; 504 when the check never answered). */
static void reload_wait(struct vk_thread *that)
{
	struct gw_admin_self *admin_ptr = vk_thread_arg(that);
	const struct gw_admin_config *cfg_ptr = admin_ptr->cfg_ptr;
	struct {
		int unused;
	} * self;

	vk_begin();
	admin_ptr->reloads_before = admin_ptr->reload.answered;
	for (admin_ptr->waited_ms = 0;; admin_ptr->waited_ms += GW_ADMIN_RELOAD_POLL_MS) {
		gw_stats_reload_state(cfg_ptr->stats_ptr, &admin_ptr->reload);
		if (admin_ptr->reload.answered != admin_ptr->reloads_before &&
		    (admin_ptr->reload.refused || admin_ptr->reload.applied))
			break;
		if (admin_ptr->waited_ms >= GW_ADMIN_RELOAD_WAIT_MS)
			break;
		vk_sleep(GW_ADMIN_RELOAD_POLL_MS);
	}
	if (admin_ptr->reload.answered == admin_ptr->reloads_before) {
		answer_error(admin_ptr, 504, "the configuration check did not answer in time");
	} else {
		answer_rendering(admin_ptr, GW_ADMIN_JSON,
				 gw_stats_render_reload(cfg_ptr->stats_ptr, admin_ptr->reload.applied,
							admin_ptr->body_ptr, admin_ptr->body_cap));
		admin_ptr->status = admin_ptr->reload.refused ? 422 : admin_ptr->reload.applied ? 200 : 202;
	}
	vk_end();
}

/* Decides the answer to the parsed request: status, type and body. */
static void answer(struct gw_admin_self *self, const struct gw_admin_config *cfg_ptr)
{
	struct gw_http_span target =
		self->req.target_form == GW_TARGET_ABSOLUTE ? self->req.target_path : self->req.target;
	const char *path = self->head_ptr + target.off;
	const char *query = memchr(path, '?', target.len);
	size_t len = query ? (size_t)(query - path) : target.len;
	int ready = path_is(path, len, "/ready"), stats = path_is(path, len, "/stats"),
	    metrics = path_is(path, len, "/metrics"), drain = path_is(path, len, "/drain"),
	    reload = path_is(path, len, "/config/reload");

	self->allow = NULL;
	if (!ready && !stats && !metrics && !drain && !reload) {
		answer_error(self, 404,
			     "no such admin endpoint (there are /ready, /stats, /metrics, /drain and /config/reload)");
		return;
	}
	if (drain || reload) {
		answer_action(self, cfg_ptr, drain ? GW_ADMIN_DRAIN : GW_ADMIN_RELOAD);
		return;
	}
	if (self->req.method != GW_METHOD_GET && self->req.method != GW_METHOD_HEAD) {
		answer_error(self, 405, "this admin endpoint answers GET and HEAD only");
		self->allow = "GET, HEAD";
		return;
	}
	if (ready) {
		if (vk_sys_draining())
			answer_text(self, 503, GW_ADMIN_JSON, "{\"status\":\"draining\"}\n");
		else
			answer_text(self, 200, GW_ADMIN_JSON, "{\"status\":\"ready\"}\n");
		return;
	}
	/* This kernel's vkern counters as of now; the others' as of their
	 * last wait for events. */
	gw_stats_publish_kernel();
	if (stats)
		answer_rendering(
			self, GW_ADMIN_JSON,
			gw_stats_render_json(cfg_ptr->stats_ptr, vk_sys_now_ns(), self->body_ptr, self->body_cap));
	else
		answer_rendering(self, GW_ADMIN_PROMETHEUS,
				 gw_stats_render_prometheus(cfg_ptr->stats_ptr, vk_sys_now_ns(), self->body_ptr,
							    self->body_cap));
}

static void format_head(struct gw_admin_self *self)
{
	struct gw_http_out out;

	gw_http_out_init(&out, self->line, sizeof(self->line));
	gw_http_out_status_line(&out, self->status);
	gw_http_out_field(&out, "Content-Type", 12, self->content_type, strlen(self->content_type));
	GW_HTTP_OUT_LITERAL(&out, "Cache-Control: no-store\r\n");
	if (self->allow)
		gw_http_out_field(&out, "Allow", 5, self->allow, strlen(self->allow));
	gw_http_out_head_end(&out, self->status, self->body_len, self->close_after);
	self->line_len = out.len;
}

void gw_admin_main(struct vk_thread *that)
{
	const struct gw_admin_config *cfg_ptr = vk_thread_arg(that);
	struct gw_admin_self *self;

	vk_begin();
	self->cfg_ptr = cfg_ptr;
	self->body_cap = body_cap(cfg_ptr);
	self->head_ptr = vk_proc_local_alloc(vk_thread_proc_local(that), cfg_ptr->limits.max_head_bytes);
	self->body_ptr = vk_proc_local_alloc(vk_thread_proc_local(that), self->body_cap);
	if (!self->head_ptr || !self->body_ptr)
		vk_raise(ENOMEM);

	vk_catch
	{
		/* A request that could not be read gets one error answer, then
		 * the connection ends; silence before any byte ends it quietly. */
		if (!self->status && vk_error() == ETIMEDOUT && self->head_read.len > 0)
			self->status = 408;
		if (self->status) {
			answer_error(self, self->status,
				     self->status == 408   ? "request head not received in time"
				     : self->status == 400 ? "malformed request"
							   : NULL);
			self->allow = NULL;
			self->close_after = 1;
			format_head(self);
			vk_deadline_clear();
			vk_write(self->line, self->line_len);
			vk_write(self->body, self->body_len);
			vk_flush();
		}
	}

	for (self->first = 1;; self->first = 0) {
		self->status = 0;
		self->head_read.len = 0;
		/* The first request is awaited like any read: a connection
		 * accepted while draining must still get its answer. */
		if (!self->first) {
			vk_deadline(cfg_ptr->keepalive_idle_ms);
			vk_wait_request(self->more);
			if (!self->more)
				break;
		}
		vk_deadline(cfg_ptr->header_timeout_ms);
		self->head_read = (struct gw_http_read){.socket_ptr = that->socket_ptr,
							.buf_ptr = self->head_ptr,
							.limits_ptr = &cfg_ptr->limits,
							.req_ptr = &self->req};
		gw_http_read_request_head_call(&self->head_read);
		if (self->head_read.gone)
			goto done;
		if (self->head_read.status) {
			self->status = self->head_read.status;
			vk_raise(EPROTO);
		}
		/* What follows the head is the next request (a body is not read). */
		vk_deadline_clear();
		self->close_after = 0;
		self->reload_asked = 0;
		answer(self, cfg_ptr);
		if (self->reload_asked)
			vk_call(reload_wait, self);
		self->close_after |= !self->req.head.keep_alive || self->req.head.body == GW_BODY_CHUNKED ||
				     (self->req.head.body == GW_BODY_LENGTH && self->req.head.content_length > 0) ||
				     vk_sys_draining();
		format_head(self);
		vk_write(self->line, self->line_len);
		if (self->req.method != GW_METHOD_HEAD)
			vk_write(self->body, self->body_len);
		vk_flush();
		if (self->close_after)
			break;
	}
done:
	vk_end();
}
