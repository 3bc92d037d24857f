/* gw_conn_route: where a request goes: its route (matched on method, host,
 * path and headers), and for a proxy action the upstream's admission, the
 * endpoint (with the hash key a policy balances on) and the path rewrite.
 * Plain functions of the connection process (gw_conn.c). */
#include "gw_conn_self.h"
#include "gw_tls_stream.h"
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_conn_s.h"

#include <string.h>
#include <strings.h>

/* Route matching looks headers up through this. */
static int lookup_header(void *ctx_ptr, const char *name, size_t name_len, const char **value_ptr,
			 size_t *value_len_ptr)
{
	struct gw_conn_self *self = ctx_ptr;

	for (uint32_t i = 0; i < self->req.head.field_count; i++) {
		const struct gw_http_field *f_ptr = &self->req.head.fields[i];

		if (f_ptr->name.len == name_len && strncasecmp(self->head_ptr + f_ptr->name.off, name, name_len) == 0) {
			*value_ptr = self->head_ptr + f_ptr->value.off;
			*value_len_ptr = f_ptr->value.len;
			return 1;
		}
	}
	return 0;
}

/* ... and the request's values: the client's TLS certificate. */
static int lookup_value(void *ctx_ptr, const char *name, size_t name_len, const char **value_ptr, size_t *value_len_ptr)
{
	struct gw_conn_self *self = ctx_ptr;

	return self->tls_ptr && gw_tls_stream_value(self->tls_ptr, name, name_len, value_ptr, value_len_ptr);
}

/* ... and, after a continue route, the values its filters set. */
static int lookup_value_or_set(void *ctx_ptr, const char *name, size_t name_len, const char **value_ptr,
			       size_t *value_len_ptr)
{
	struct gw_conn_self *self = ctx_ptr;
	char key[GW_EXCHANGE_VALUE_KEY_MAX + 1];

	if (lookup_value(ctx_ptr, name, name_len, value_ptr, value_len_ptr))
		return 1;
	if (name_len > GW_EXCHANGE_VALUE_KEY_MAX)
		return 0;
	memcpy(key, name, name_len);
	key[name_len] = '\0';
	*value_ptr = gw_exchange_value(&self->exchange, key, value_len_ptr);
	return *value_ptr != NULL;
}

/* The path of the request target, without its query. A CONNECT target
 * (authority-form) has none: only routes without a path match see it. */
struct gw_http_span gw_conn_target_path(const struct gw_conn_self *self)
{
	if (self->req.target_form == GW_TARGET_AUTHORITY)
		return (struct gw_http_span){.off = self->req.target.off, .len = 0};
	struct gw_http_span path =
		self->req.target_form == GW_TARGET_ABSOLUTE ? self->req.target_path : self->req.target;
	const char *q = memchr(self->head_ptr + path.off, '?', path.len);

	if (q)
		path.len = (uint32_t)(q - (self->head_ptr + path.off));
	return path;
}

const struct gw_route *gw_conn_match_route(struct gw_conn_self *self, const struct gw_config *config_ptr,
					   int first_route, int with_values)
{
	struct gw_http_span path = gw_conn_target_path(self);
	struct gw_match_request request = {
		.method = self->head_ptr + self->req.method_span.off,
		.method_len = self->req.method_span.len,
		.host = self->req.host.len ? self->head_ptr + self->req.host.off : NULL,
		.host_len = self->req.host.len,
		.path = self->head_ptr + path.off,
		.path_len = path.len,
		.header_lookup = lookup_header,
		.header_ctx_ptr = self,
		.value_lookup = with_values ? lookup_value_or_set : lookup_value,
		.value_ctx_ptr = self,
		.first_route = first_route,
		.geo_lookup = self->cfg_ptr->geo ? gw_conn_geo : NULL,
		.geo_ctx_ptr = self,
	};

	return gw_config_match_route(config_ptr, &request);
}

/* The value of cookie `name` in a Cookie header value, or NULL. */
static const char *find_cookie(const char *value, size_t value_len, const char *name, size_t *len_ptr)
{
	size_t name_len = strlen(name);
	const char *p = value, *end = value + value_len;

	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *item_end = semi ? semi : end;

		while (p < item_end && *p == ' ')
			p++;
		if ((size_t)(item_end - p) > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
			*len_ptr = (size_t)(item_end - p - (ptrdiff_t)name_len - 1);
			return p + name_len + 1;
		}
		p = item_end + 1;
	}
	return NULL;
}

/* The key a hash policy balances on: a header, a cookie or the client. */
static void hash_key(struct gw_conn_self *self, const struct gw_config_upstream *up_ptr, const char **key_ptr,
		     size_t *len_ptr)
{
	const char *value;
	size_t value_len;

	*key_ptr = NULL;
	*len_ptr = 0;
	switch (up_ptr->balance.hash_on) {
	case GW_CONFIG_HASH_ON_HEADER:
		if (lookup_header(self, up_ptr->balance.hash_key, strlen(up_ptr->balance.hash_key), &value,
				  &value_len)) {
			*key_ptr = value;
			*len_ptr = value_len;
		}
		break;
	case GW_CONFIG_HASH_ON_COOKIE:
		if (lookup_header(self, "cookie", 6, &value, &value_len))
			*key_ptr = find_cookie(value, value_len, up_ptr->balance.hash_key, len_ptr);
		break;
	case GW_CONFIG_HASH_ON_CLIENT_ADDRESS:
		*key_ptr = self->client_addr;
		*len_ptr = strlen(self->client_addr);
		break;
	default:
		break;
	}
}

/* The upstream's verdict on this request, given once. */
void gw_conn_upstream_done(struct gw_conn_self *self, const struct gw_conn_config *cfg_ptr,
			   enum gw_upstream_outcome outcome)
{
	if (self->upstream_index < 0 || !cfg_ptr->upstream_ops.done)
		return;
	cfg_ptr->upstream_ops.done(cfg_ptr->upstream_ops.ctx_ptr, self->upstream_index, self->pick.endpoint, outcome);
	self->upstream_index = -1;
}

/* Admission and an endpoint for the route's upstream, its timeouts, and
 * the path rewrite. Returns 0, or the status to answer. */
int gw_conn_pick_upstream(struct gw_conn_self *self, const struct gw_conn_config *cfg_ptr)
{
	const struct gw_route_action *action_ptr = &self->route_ptr->action;
	const struct gw_config_upstream *up_ptr = &cfg_ptr->config_ptr->upstreams_ptr[action_ptr->proxy.upstream_index];
	const char *key;
	size_t key_len;
	int status;

	hash_key(self, up_ptr, &key, &key_len);
	status = cfg_ptr->upstream_ops.pick(cfg_ptr->upstream_ops.ctx_ptr, up_ptr->index, key, key_len,
					    self->tried_mask, &self->pick, &self->term.reason);
	if (status)
		return status;
	self->upstream_index = up_ptr->index;
	self->connect_ms = (uint64_t)up_ptr->timeouts.connect_ms;
	self->response_ms = (uint64_t)up_ptr->timeouts.response_ms;
	if (action_ptr->proxy.prefix_rewrite) {
		struct gw_http_span target =
			self->req.target_form == GW_TARGET_ABSOLUTE ? self->req.target_path : self->req.target;

		self->path_rest = self->head_ptr + target.off + action_ptr->proxy.match_prefix_len;
		self->path_rest_len = target.len - action_ptr->proxy.match_prefix_len;
	}
	return 0;
}

int gw_conn_connect_allowed(const struct gw_route *route_ptr)
{
	return route_ptr && route_ptr->action.kind == GW_ACTION_PROXY && route_ptr->action.proxy.connect;
}

/* Whether the route lets a request switch to `protocol`, an Upgrade list
 * element (name["/"version]): its name is in the route's "upgrades". */
static int upgrade_allowed(const struct gw_route *route_ptr, const char *protocol, size_t len)
{
	const char *slash = memchr(protocol, '/', len);
	size_t name_len = slash ? (size_t)(slash - protocol) : len;

	for (int i = 0; i < route_ptr->action.proxy.upgrade_count; i++) {
		const char *allowed = route_ptr->action.proxy.upgrades_ptr[i];

		if (strlen(allowed) == name_len && strncasecmp(allowed, protocol, name_len) == 0)
			return 1;
	}
	return 0;
}

void gw_conn_upgrade_fields(const struct gw_conn_self *self, struct gw_http_out *out_ptr)
{
	const struct gw_http_field *f_ptr = field_of_kind(&self->req.head, GW_FIELD_UPGRADE);
	const char *value, *elem;
	size_t pos = 0, off, elem_len;
	int allowed = 0;

	if (!self->req.head.upgrade || !f_ptr || self->route_ptr->action.kind != GW_ACTION_PROXY)
		return;
	value = self->head_ptr + f_ptr->value.off;
	while (gw_http_list_next(value, f_ptr->value.len, &pos, &off, &elem_len) > 0) {
		elem = value + off;
		if (!upgrade_allowed(self->route_ptr, elem, elem_len))
			continue;
		if (allowed++)
			GW_HTTP_OUT_LITERAL(out_ptr, ", ");
		else
			GW_HTTP_OUT_LITERAL(out_ptr, "Upgrade: ");
		gw_http_out_bytes(out_ptr, elem, elem_len);
	}
	if (allowed)
		GW_HTTP_OUT_LITERAL(out_ptr, "\r\nConnection: upgrade\r\n");
}

int gw_conn_upgrade_granted(const struct gw_conn_self *self)
{
	const struct gw_http_field *asked_ptr = field_of_kind(&self->req.head, GW_FIELD_UPGRADE);
	const struct gw_http_field *granted_ptr = field_of_kind(&self->resp.head, GW_FIELD_UPGRADE);
	const char *offered, *granted_value, *to;
	size_t pos = 0, off, elem_len, to_len, to_pos = 0;

	if (!self->req.head.upgrade || !asked_ptr || !granted_ptr || self->route_ptr->action.kind != GW_ACTION_PROXY)
		return 0;
	granted_value = self->resp_ptr + granted_ptr->value.off;
	if (gw_http_list_next(granted_value, granted_ptr->value.len, &to_pos, &off, &to_len) <= 0)
		return 0;
	to = granted_value + off;
	/* One protocol, one the request offered and the route allows. */
	if (gw_http_list_next(granted_value, granted_ptr->value.len, &to_pos, &off, &elem_len) != 0 ||
	    !upgrade_allowed(self->route_ptr, to, to_len))
		return 0;
	offered = self->head_ptr + asked_ptr->value.off;
	while (gw_http_list_next(offered, asked_ptr->value.len, &pos, &off, &elem_len) > 0)
		if (elem_len == to_len && strncasecmp(offered + off, to, to_len) == 0)
			return 1;
	return 0;
}
