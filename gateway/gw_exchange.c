/* gw_exchange: the request a filter stage is handed (see gw_exchange.h).
 *
 * Edits are kept as a log in the order filters made them, not applied to
 * a copy of the head: the connection replays the log while it writes each
 * head, so a request nobody edits costs nothing, and the bytes received are
 * still forwarded as they came. */
#include "gw_exchange.h"
#include "gw_exchange_s.h"
#include "gw_config_s.h"
#include "gw_filter_states.h"
#include "gw_subrequest.h"
#include "gw_subrequest_s.h"

#include "vk_socket.h"
#include "vk_thread.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

struct gw_exchange *gw_stage_exchange(const struct gw_stage *stage_ptr)
{
	return stage_ptr->exchange_ptr;
}

const void *gw_stage_config(const struct gw_stage *stage_ptr)
{
	return stage_ptr->config_ptr;
}

void *gw_stage_state(const struct gw_stage *stage_ptr)
{
	return stage_ptr->state_ptr;
}

void *gw_stage_kernel_state(const struct gw_stage *stage_ptr)
{
	const struct gw_exchange *ex_ptr = stage_ptr->exchange_ptr;

	return gw_filter_states_get(ex_ptr->filter_states_ptr, ex_ptr->route_ptr, stage_ptr->index);
}

struct vk_socket *gw_stage_socket(struct gw_stage *stage_ptr, struct vk_thread *that)
{
	if (!stage_ptr->socket_ptr)
		stage_ptr->socket_ptr = vk_socket_alloc(vk_thread_proc_local(that), GW_STAGE_SOCKET_RING_BYTES,
							GW_STAGE_SOCKET_RING_BYTES);
	return stage_ptr->socket_ptr;
}

struct gw_subrequest *gw_stage_subrequest(struct gw_stage *stage_ptr, struct vk_thread *that)
{
	struct gw_exchange *ex_ptr = stage_ptr->exchange_ptr;

	if (!ex_ptr->upstream_ops_ptr)
		return NULL;
	if (!ex_ptr->subrequest_ptr)
		ex_ptr->subrequest_ptr =
			gw_subrequest_create(vk_thread_proc_local(that), GW_STAGE_SUBREQUEST_BODY_BYTES);
	if (ex_ptr->subrequest_ptr) {
		ex_ptr->subrequest_ptr->config_ptr = ex_ptr->config_ptr;
		ex_ptr->subrequest_ptr->ops_ptr = ex_ptr->upstream_ops_ptr;
	}
	return ex_ptr->subrequest_ptr;
}

/* No answer yet: what each attempt at the upstream starts from. */
static void clear_answer(struct gw_exchange *ex_ptr)
{
	ex_ptr->resp_ptr = NULL;
	ex_ptr->resp_head_ptr = NULL;
	ex_ptr->response_status = 0;
	ex_ptr->verdict = GW_VERDICT_CONTINUE;
	ex_ptr->status = 0;
	ex_ptr->body = NULL;
	ex_ptr->body_len = 0;
	ex_ptr->error_message = NULL;
}

void gw_exchange_begin(struct gw_exchange *ex_ptr, const struct gw_request *req_ptr, const char *head_ptr,
		       struct gw_http_span path, const char *client_addr, const struct gw_route *route_ptr)
{
	/* Only the bookkeeping is reset: the buffers are read up to their
	 * counts, so clearing 6 KiB per request would be wasted. */
	ex_ptr->req_ptr = req_ptr;
	ex_ptr->head_ptr = head_ptr;
	ex_ptr->path = path;
	ex_ptr->client_addr = client_addr;
	ex_ptr->geo_fn = NULL;
	ex_ptr->route_ptr = route_ptr;
	clear_answer(ex_ptr);
	ex_ptr->answered_by = NULL;
	ex_ptr->request_body = NULL;
	ex_ptr->request_body_len = 0;
	ex_ptr->body_kept = 0;
	ex_ptr->attempt = 0;
	ex_ptr->retry_policy_ptr = NULL;
	ex_ptr->request_edit_count = 0;
	ex_ptr->request_bytes_used = 0;
	ex_ptr->request_value_count = 0;
	ex_ptr->query_set = 0;
	ex_ptr->query = NULL;
	ex_ptr->query_len = 0;
	ex_ptr->stages_passed = 0;
	ex_ptr->value_count = 0;
	ex_ptr->edit_count = 0;
	ex_ptr->bytes_used = 0;
	ex_ptr->state_used = 0;
}

void gw_exchange_reroute(struct gw_exchange *ex_ptr, const struct gw_route *route_ptr)
{
	/* The continue route's stages acted on the request head only (the
	 * loader checks it): nothing of theirs is left to run. */
	ex_ptr->route_ptr = route_ptr;
	ex_ptr->stages_passed = 0;
	ex_ptr->state_used = 0;
	ex_ptr->answered_by = NULL;
}

void gw_exchange_set_response(struct gw_exchange *ex_ptr, const struct gw_response *resp_ptr, const char *resp_head_ptr)
{
	ex_ptr->resp_ptr = resp_ptr;
	ex_ptr->resp_head_ptr = resp_head_ptr;
	ex_ptr->response_status = resp_ptr->status;
}

/* ---- the request ---- */

enum gw_http_method gw_exchange_method(const struct gw_exchange *ex_ptr)
{
	return ex_ptr->req_ptr->method;
}

const char *gw_exchange_method_name(const struct gw_exchange *ex_ptr, size_t *len_ptr)
{
	*len_ptr = ex_ptr->req_ptr->method_span.len;
	return ex_ptr->head_ptr + ex_ptr->req_ptr->method_span.off;
}

const char *gw_exchange_path(const struct gw_exchange *ex_ptr, size_t *len_ptr)
{
	*len_ptr = ex_ptr->path.len;
	return ex_ptr->head_ptr + ex_ptr->path.off;
}

const char *gw_exchange_target(const struct gw_exchange *ex_ptr, size_t *len_ptr)
{
	*len_ptr = ex_ptr->req_ptr->target.len;
	return ex_ptr->head_ptr + ex_ptr->req_ptr->target.off;
}

const struct gw_geo_answer *gw_exchange_geo(const struct gw_exchange *ex_ptr)
{
	return ex_ptr->geo_fn ? ex_ptr->geo_fn(ex_ptr->geo_ctx_ptr) : NULL;
}

const char *gw_exchange_client_address(const struct gw_exchange *ex_ptr)
{
	return ex_ptr->client_addr;
}

const char *gw_exchange_route_name(const struct gw_exchange *ex_ptr)
{
	return ex_ptr->route_ptr ? ex_ptr->route_ptr->name : NULL;
}

int gw_exchange_has_body(const struct gw_exchange *ex_ptr)
{
	return ex_ptr->req_ptr->head.body != GW_BODY_NONE;
}

static int name_is(const char *a, size_t a_len, const char *b, size_t b_len)
{
	return a_len == b_len && strncasecmp(a, b, a_len) == 0;
}

/* The latest edit of `name` on `side` decides, if there is one: 1 with a
 * value (set/add), 0 (remove), or -1 when no edit names it. */
static int edited_value(const struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name, size_t name_len,
			const char **value_ptr, size_t *len_ptr)
{
	for (uint32_t i = ex_ptr->edit_count; i-- > 0;) {
		const struct gw_header_edit *e_ptr = &ex_ptr->edits[i];

		if (e_ptr->side != side || !name_is(ex_ptr->bytes + e_ptr->name_off, e_ptr->name_len, name, name_len))
			continue;
		if (e_ptr->op == GW_HEADER_REMOVE)
			return 0;
		*value_ptr = ex_ptr->bytes + e_ptr->value_off;
		*len_ptr = e_ptr->value_len;
		return 1;
	}
	return -1;
}

/* A header as the next stage sees it: the latest edit naming it decides,
 * else the head as received (none while there is no head on that side). */
static int header_value(const struct gw_exchange *ex_ptr, enum gw_exchange_side side,
			const struct gw_http_head *head_ptr, const char *buf, const char *name, const char **value_ptr,
			size_t *len_ptr)
{
	size_t name_len = strlen(name);
	int rc = edited_value(ex_ptr, side, name, name_len, value_ptr, len_ptr);

	if (rc >= 0 || !head_ptr)
		return rc > 0;
	for (uint32_t i = 0; i < head_ptr->field_count; i++) {
		const struct gw_http_field *f_ptr = &head_ptr->fields[i];

		if (name_is(buf + f_ptr->name.off, f_ptr->name.len, name, name_len)) {
			*value_ptr = buf + f_ptr->value.off;
			*len_ptr = f_ptr->value.len;
			return 1;
		}
	}
	return 0;
}

int gw_exchange_request_header(const struct gw_exchange *ex_ptr, const char *name, const char **value_ptr,
			       size_t *len_ptr)
{
	return header_value(ex_ptr, GW_SIDE_REQUEST, &ex_ptr->req_ptr->head, ex_ptr->head_ptr, name, value_ptr,
			    len_ptr);
}

/* ---- values ---- */

static int key_valid(const char *key, size_t len)
{
	if (len == 0 || len > GW_EXCHANGE_VALUE_KEY_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!gw_http_is_tchar((unsigned char)key[i]))
			return 0;
	return 1;
}

/* The latest value set for the key, or NULL. */
static const struct gw_exchange_value *find_value(const struct gw_exchange *ex_ptr, const char *key, size_t len)
{
	for (uint32_t i = ex_ptr->value_count; i-- > 0;) {
		const struct gw_exchange_value *v_ptr = &ex_ptr->values[i];

		if (v_ptr->key_len == len && memcmp(ex_ptr->bytes + v_ptr->key_off, key, len) == 0)
			return v_ptr;
	}
	return NULL;
}

int gw_exchange_set_value(struct gw_exchange *ex_ptr, const char *key, const char *value, size_t len)
{
	size_t key_len = strlen(key), used = ex_ptr->bytes_used;
	const struct gw_exchange_value *old_ptr = find_value(ex_ptr, key, key_len);
	struct gw_exchange_value *v_ptr;
	const char *key_copy, *value_copy;

	if (!key_valid(key, key_len) || len > UINT16_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (ex_ptr->value_count == GW_EXCHANGE_VALUES_MAX) {
		errno = ENOBUFS;
		return -1;
	}
	/* A new value is appended, never written over the old one: the
	 * latest wins, and one set during the response is forgotten with it
	 * at the next attempt (gw_exchange_next_attempt). */
	key_copy = old_ptr ? ex_ptr->bytes + old_ptr->key_off : gw_exchange_copy(ex_ptr, key, key_len);
	value_copy = key_copy ? gw_exchange_copy(ex_ptr, value, len) : NULL;
	if (!value_copy) {
		ex_ptr->bytes_used = used;
		return -1;
	}
	v_ptr = &ex_ptr->values[ex_ptr->value_count++];
	v_ptr->key_off = (uint16_t)(key_copy - ex_ptr->bytes);
	v_ptr->key_len = (uint16_t)key_len;
	v_ptr->value_off = (uint16_t)(value_copy - ex_ptr->bytes);
	v_ptr->value_len = (uint16_t)len;
	return 0;
}

const char *gw_exchange_query(const struct gw_exchange *ex_ptr, size_t *len_ptr)
{
	size_t len;
	const char *target = gw_exchange_target(ex_ptr, &len);
	const char *mark = memchr(target, '?', len);

	if (!mark)
		return NULL;
	*len_ptr = len - (size_t)(mark + 1 - target);
	return mark + 1;
}

int gw_exchange_set_query(struct gw_exchange *ex_ptr, const char *query, size_t len)
{
	char *copy;

	/* What RFC 3986 allows in a query, less nothing a request line could
	 * be split by: visible ASCII but '#'. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)query[i] <= 0x20 || (unsigned char)query[i] >= 0x7f || query[i] == '#') {
			errno = EINVAL;
			return -1;
		}
	copy = len ? gw_exchange_copy(ex_ptr, query, len) : NULL;
	if (len && !copy)
		return -1;
	ex_ptr->query_set = 1;
	ex_ptr->query = copy;
	ex_ptr->query_len = len;
	return 0;
}

const char *gw_exchange_value(const struct gw_exchange *ex_ptr, const char *key, size_t *len_ptr)
{
	const struct gw_exchange_value *v_ptr = find_value(ex_ptr, key, strlen(key));

	if (!v_ptr)
		return NULL;
	*len_ptr = v_ptr->value_len;
	return ex_ptr->bytes + v_ptr->value_off;
}

int gw_exchange_forward_value(struct gw_exchange *ex_ptr, const char *key, const char *name)
{
	size_t len;
	const char *value = gw_exchange_value(ex_ptr, key, &len);

	if (!value)
		return 1;
	return gw_exchange_edit(ex_ptr, GW_SIDE_REQUEST, GW_HEADER_SET, name, strlen(name), value, len);
}

/* ---- the response ---- */

int gw_exchange_response_status(const struct gw_exchange *ex_ptr)
{
	return ex_ptr->response_status;
}

int gw_exchange_response_header(const struct gw_exchange *ex_ptr, const char *name, const char **value_ptr,
				size_t *len_ptr)
{
	const struct gw_http_head *head_ptr = ex_ptr->resp_ptr ? &ex_ptr->resp_ptr->head : NULL;

	return header_value(ex_ptr, GW_SIDE_RESPONSE, head_ptr, ex_ptr->resp_head_ptr, name, value_ptr, len_ptr);
}

/* ---- edits ---- */

int gw_header_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > GW_EXCHANGE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!gw_http_is_tchar((unsigned char)name[i]))
			return 0;
	return 1;
}

int gw_header_value_valid(const char *value, size_t len)
{
	if (len && (gw_http_is_ows((unsigned char)value[0]) || gw_http_is_ows((unsigned char)value[len - 1])))
		return 0;
	return gw_http_field_chars_end(value, 0, len) == len;
}

int gw_header_name_reserved(const char *name, size_t len)
{
	enum gw_http_field_kind kind = gw_http_field_kind_of(name, len);

	return gw_http_field_is_hop_by_hop(kind) || kind == GW_FIELD_HOST || kind == GW_FIELD_CONTENT_LENGTH;
}

char *gw_exchange_copy(struct gw_exchange *ex_ptr, const char *bytes, size_t len)
{
	char *out;

	if (len + 1 > sizeof(ex_ptr->bytes) - ex_ptr->bytes_used) {
		errno = ENOBUFS;
		return NULL;
	}
	out = ex_ptr->bytes + ex_ptr->bytes_used;
	memcpy(out, bytes, len);
	out[len] = '\0';
	ex_ptr->bytes_used += len + 1;
	return out;
}

int gw_exchange_edit(struct gw_exchange *ex_ptr, enum gw_exchange_side side, enum gw_header_op op, const char *name,
		     size_t name_len, const char *value, size_t value_len)
{
	struct gw_header_edit *e_ptr;
	size_t used = ex_ptr->bytes_used;
	const char *name_copy, *value_copy;

	if (op == GW_HEADER_REMOVE)
		value_len = 0;
	if (!gw_header_name_valid(name, name_len) || gw_header_name_reserved(name, name_len) ||
	    (op != GW_HEADER_REMOVE && !gw_header_value_valid(value, value_len)) || value_len > UINT16_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (ex_ptr->edit_count == GW_EXCHANGE_EDITS_MAX) {
		errno = ENOBUFS;
		return -1;
	}
	name_copy = gw_exchange_copy(ex_ptr, name, name_len);
	value_copy = name_copy ? gw_exchange_copy(ex_ptr, op == GW_HEADER_REMOVE ? "" : value, value_len) : NULL;
	if (!value_copy) {
		ex_ptr->bytes_used = used;
		return -1;
	}
	e_ptr = &ex_ptr->edits[ex_ptr->edit_count++];
	e_ptr->side = (uint8_t)side;
	e_ptr->op = (uint8_t)op;
	e_ptr->name_off = (uint16_t)(name_copy - ex_ptr->bytes);
	e_ptr->name_len = (uint16_t)name_len;
	e_ptr->value_off = (uint16_t)(value_copy - ex_ptr->bytes);
	e_ptr->value_len = (uint16_t)value_len;
	return 0;
}

int gw_exchange_set(struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name, const char *value)
{
	return gw_exchange_edit(ex_ptr, side, GW_HEADER_SET, name, strlen(name), value, strlen(value));
}

int gw_exchange_add(struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name, const char *value)
{
	return gw_exchange_edit(ex_ptr, side, GW_HEADER_ADD, name, strlen(name), value, strlen(value));
}

int gw_exchange_remove(struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name)
{
	return gw_exchange_edit(ex_ptr, side, GW_HEADER_REMOVE, name, strlen(name), NULL, 0);
}

int gw_exchange_field_dropped(const struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name,
			      size_t len)
{
	for (uint32_t i = 0; i < ex_ptr->edit_count; i++) {
		const struct gw_header_edit *e_ptr = &ex_ptr->edits[i];

		if (e_ptr->side == side && e_ptr->op != GW_HEADER_ADD &&
		    name_is(ex_ptr->bytes + e_ptr->name_off, e_ptr->name_len, name, len))
			return 1;
	}
	return 0;
}

int gw_exchange_edit_written(const struct gw_exchange *ex_ptr, enum gw_exchange_side side, uint32_t index,
			     const char **name_ptr, size_t *name_len_ptr, const char **value_ptr, size_t *value_len_ptr)
{
	const struct gw_header_edit *e_ptr;

	if (index >= ex_ptr->edit_count)
		return 0;
	e_ptr = &ex_ptr->edits[index];
	if (e_ptr->side != side || e_ptr->op == GW_HEADER_REMOVE)
		return 0;
	for (uint32_t i = index + 1; i < ex_ptr->edit_count; i++) {
		const struct gw_header_edit *later_ptr = &ex_ptr->edits[i];

		if (later_ptr->side == side && later_ptr->op != GW_HEADER_ADD &&
		    name_is(ex_ptr->bytes + later_ptr->name_off, later_ptr->name_len, ex_ptr->bytes + e_ptr->name_off,
			    e_ptr->name_len))
			return 0;
	}
	*name_ptr = ex_ptr->bytes + e_ptr->name_off;
	*name_len_ptr = e_ptr->name_len;
	*value_ptr = ex_ptr->bytes + e_ptr->value_off;
	*value_len_ptr = e_ptr->value_len;
	return 1;
}

/* ---- the verdict ---- */

void gw_exchange_respond(struct gw_exchange *ex_ptr, int status, const char *body, size_t body_len)
{
	ex_ptr->verdict = GW_VERDICT_RESPOND;
	ex_ptr->status = status;
	ex_ptr->response_status = status;
	ex_ptr->body = body;
	ex_ptr->body_len = body_len;
	ex_ptr->error_message = NULL;
}

void gw_exchange_respond_error(struct gw_exchange *ex_ptr, int status, const char *message)
{
	gw_exchange_respond(ex_ptr, status, NULL, 0);
	ex_ptr->error_message = message;
}

enum gw_verdict gw_exchange_verdict(const struct gw_exchange *ex_ptr)
{
	return ex_ptr->verdict;
}

int gw_exchange_replayable(const struct gw_exchange *ex_ptr)
{
	const struct gw_http_head *head_ptr = &ex_ptr->req_ptr->head;

	return ex_ptr->body_kept || head_ptr->body == GW_BODY_NONE ||
	       (head_ptr->body == GW_BODY_LENGTH && head_ptr->content_length == 0);
}

int gw_exchange_retry(struct gw_exchange *ex_ptr)
{
	/* Only the ask: whether the request goes again is the connection's
	 * one decision (gw_conn_next.c), which sees why the attempt ended. */
	if (ex_ptr->phase != GW_PHASE_RESPONSE_HEAD || ex_ptr->verdict != GW_VERDICT_CONTINUE)
		return -1;
	ex_ptr->verdict = GW_VERDICT_RETRY;
	return 0;
}

int gw_exchange_attempt(const struct gw_exchange *ex_ptr)
{
	return ex_ptr->attempt;
}

void gw_exchange_set_retry_policy(struct gw_exchange *ex_ptr, const struct gw_retry_policy *policy_ptr)
{
	ex_ptr->retry_policy_ptr = policy_ptr;
}

const struct gw_retry_policy *gw_exchange_retry_policy(const struct gw_exchange *ex_ptr)
{
	return ex_ptr->retry_policy_ptr;
}

int gw_exchange_response_is_upstreams(const struct gw_exchange *ex_ptr)
{
	return ex_ptr->resp_ptr != NULL;
}

void gw_exchange_request_done(struct gw_exchange *ex_ptr)
{
	ex_ptr->request_edit_count = ex_ptr->edit_count;
	ex_ptr->request_bytes_used = ex_ptr->bytes_used;
	ex_ptr->request_value_count = ex_ptr->value_count;
}

void gw_exchange_next_attempt(struct gw_exchange *ex_ptr)
{
	ex_ptr->attempt++;
	clear_answer(ex_ptr);
	ex_ptr->edit_count = ex_ptr->request_edit_count;
	ex_ptr->bytes_used = ex_ptr->request_bytes_used;
	ex_ptr->value_count = ex_ptr->request_value_count;
}

const char *gw_exchange_request_body(const struct gw_exchange *ex_ptr, size_t *len_ptr)
{
	*len_ptr = ex_ptr->request_body_len;
	return ex_ptr->request_body;
}
