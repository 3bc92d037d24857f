/* gw_filter_forward_auth: an authorization service decides, as nginx's
 * auth_request, Traefik's ForwardAuth and Envoy's ext_authz (HTTP) do.
 *
 *   {"type": "forward_auth", "upstream": "auth", "path": "/check",
 *    "method": "GET", "request_headers": ["authorization", "cookie"],
 *    "response_headers": ["x-user", "x-scopes"], "consumer_header": "x-user",
 *    "deny_headers": ["www-authenticate", "content-type", "location", "set-cookie"],
 *    "timeout_ms": 1000, "on_error": "deny",
 *    "cache": {"key_headers": ["authorization"], "seconds": 30, "entries": 1024}}
 *
 * For each request, a subrequest (gateway/gw_subrequest.h) goes to the
 * configured upstream through its balancer, pool, health and breaker:
 * "method" "path", the "request_headers" the request has (as earlier
 * stages left them), and X-Forwarded-Method, -Uri, -Host and -For saying
 * what the client asked. No body is sent.
 *
 * - A 2xx answer lets the request through. Each of "response_headers" is
 *   copied from the answer into the request going upstream, replacing
 *   what the client sent; one the answer lacks is removed, so a client
 *   cannot pose as the service. "consumer_header" of the answer becomes
 *   the request's value "consumer" (rate limiting and the access log see
 *   it).
 * - Any other status is the answer: that status, the answer's body, and
 *   its "deny_headers".
 * - No whole answer in "timeout_ms" (time out, refused or failed connect,
 *   no endpoint available, a malformed or oversized answer): 503 in the
 *   JSON error shape, or with "on_error": "allow" the request goes on
 *   (the response_headers removed, as for any request the service did not
 *   vouch for).
 *
 * With "cache", a decision is remembered per kernel for "seconds", keyed
 * by a keyed digest (gw_verified_cache.h) of the "key_headers" values
 * (absent and empty differ), never the values themselves: only the key
 * headers count, so cache only what the service decides from them alone.
 * 2xx, 401 and 403 answers are remembered, with what they carry (copied
 * headers, or the status, deny headers and body), when that fits an entry;
 * other answers and failures are asked again each time. */
#include "gw_arena.h"
#include "gw_config_filters.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filters.h"
#include "gw_subrequest.h"
#include "gw_verified_cache.h"

#include "vk_coro.h"
#include "vk_sys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A remembered decision holds at most this much (headers and body). */
#define DECISION_NOTE_MAX 1024
#define HEADERS_MAX 16

struct forward_auth_config {
	const char *upstream;
	const char *method;
	const char *path;
	const char **request_headers;
	int request_header_count;
	const char **response_headers;
	int response_header_count;
	const char **deny_headers;
	int deny_header_count;
	const char *consumer_header; /* or NULL */
	long long timeout_ms;
	int allow_on_error;
	const char **cache_key_headers;
	int cache_key_count;
	long long cache_seconds; /* 0: no cache */
	long long cache_entries;
};

/* Per request: the cache tag of the key headers. */
struct forward_auth_request {
	uint8_t tag[GW_VERIFIED_TAG_BYTES];
};

/* ---- configuration ---- */

static const char *const default_request_headers[] = {"authorization", "cookie"};
static const char *const default_deny_headers[] = {"www-authenticate", "content-type", "location", "set-cookie"};

/* A list of header names under `key` (default `dflt` when absent), each a
 * valid name the gateway does not keep to itself. */
static void read_header_list(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *pointer,
			     const char *key, const char *const *dflt, int dflt_count, const char ***out_ptr,
			     int *count_ptr)
{
	char at[GW_FILTER_POINTER_MAX], item_at[GW_FILTER_POINTER_MAX];

	if (gw_filter_json_strings(fj_ptr, json_ptr, pointer, key, out_ptr, count_ptr) == -1)
		return;
	if (!json_object_get(json_ptr, key)) {
		*out_ptr = (const char **)dflt;
		*count_ptr = dflt_count;
		return;
	}
	gw_filter_json_pointer(at, sizeof(at), pointer, key);
	if (*count_ptr > HEADERS_MAX) {
		gw_diag_error(fj_ptr->diag_ptr, at, "at most %d header names", HEADERS_MAX);
		fj_ptr->failed = 1;
	}
	for (int i = 0; i < *count_ptr; i++) {
		const char *name = (*out_ptr)[i];

		if (!gw_header_name_valid(name, strlen(name)) || gw_header_name_reserved(name, strlen(name))) {
			gw_diag_error(fj_ptr->diag_ptr, gw_filter_json_index(item_at, sizeof(item_at), at, (size_t)i),
				      "a header name a filter may use (a token, not a framing or hop-by-hop field)");
			fj_ptr->failed = 1;
		}
	}
}

static int listed(const char *const *names, int count, const char *name)
{
	for (int i = 0; i < count; i++)
		if (strcasecmp(names[i], name) == 0)
			return 1;
	return 0;
}

static void read_target(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *pointer,
			struct forward_auth_config *config_ptr)
{
	char at[GW_FILTER_POINTER_MAX];

	gw_filter_json_string(fj_ptr, json_ptr, pointer, "upstream", NULL, &config_ptr->upstream);
	gw_filter_json_pointer(at, sizeof(at), pointer, "upstream");
	if (!config_ptr->upstream && !json_object_get(json_ptr, "upstream")) {
		gw_diag_error(fj_ptr->diag_ptr, pointer, "missing \"upstream\": the authorization service");
		fj_ptr->failed = 1;
	} else if (config_ptr->upstream &&
		   gw_config_filter_upstream(config_ptr->upstream, at, fj_ptr->diag_ptr) == -1) {
		fj_ptr->failed = 1;
	}
	gw_filter_json_string(fj_ptr, json_ptr, pointer, "method", "GET", &config_ptr->method);
	if (config_ptr->method && !gw_header_name_valid(config_ptr->method, strlen(config_ptr->method))) {
		gw_diag_error(fj_ptr->diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "method"),
			      "a method: a token such as GET");
		fj_ptr->failed = 1;
	}
	gw_filter_json_string(fj_ptr, json_ptr, pointer, "path", "/", &config_ptr->path);
	if (config_ptr->path &&
	    (config_ptr->path[0] != '/' || strlen(config_ptr->path) > 1024 || strpbrk(config_ptr->path, " #\r\n\t"))) {
		gw_diag_error(fj_ptr->diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "path"),
			      "an origin-form target: '/' then a path and maybe a query, no spaces or '#', "
			      "at most 1024 bytes");
		fj_ptr->failed = 1;
	}
}

static void read_cache(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *pointer,
		       struct forward_auth_config *config_ptr)
{
	static const char *const allowed[] = {"key_headers", "seconds", "entries", NULL};
	const json_t *cache_ptr = NULL;
	char at[GW_FILTER_POINTER_MAX];

	if (gw_filter_json_object(fj_ptr, json_ptr, pointer, "cache", &cache_ptr) == -1 || !cache_ptr)
		return;
	gw_filter_json_pointer(at, sizeof(at), pointer, "cache");
	if (gw_filter_json_keys(fj_ptr, cache_ptr, at, allowed) == -1)
		return;
	read_header_list(fj_ptr, cache_ptr, at, "key_headers", NULL, 0, &config_ptr->cache_key_headers,
			 &config_ptr->cache_key_count);
	if (!json_object_get(cache_ptr, "key_headers")) {
		gw_diag_error(fj_ptr->diag_ptr, at, "missing \"key_headers\": the decision is remembered by them");
		fj_ptr->failed = 1;
	}
	if (config_ptr->cache_key_count == 0 && json_is_array(json_object_get(cache_ptr, "key_headers"))) {
		gw_diag_error(fj_ptr->diag_ptr, at,
			      "\"key_headers\" must name at least one header: the decision is remembered by them");
		fj_ptr->failed = 1;
	}
	gw_filter_json_int(fj_ptr, cache_ptr, at, "seconds", 1, 86400, 30, &config_ptr->cache_seconds);
	gw_filter_json_int(fj_ptr, cache_ptr, at, "entries", 1, 1 << 20, 1024, &config_ptr->cache_entries);
}

static int forward_auth_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
				struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const allowed[] = {"type",
					      "upstream",
					      "path",
					      "method",
					      "request_headers",
					      "response_headers",
					      "consumer_header",
					      "deny_headers",
					      "timeout_ms",
					      "on_error",
					      "cache",
					      NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct forward_auth_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));
	const char *on_error = NULL;
	char at[GW_FILTER_POINTER_MAX];

	if (!config_ptr)
		return -1;
	memset(config_ptr, 0, sizeof(*config_ptr));
	*compiled_ptr = config_ptr;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, allowed) == -1)
		return -1;
	read_target(&fj, config_json_ptr, pointer, config_ptr);
	read_header_list(&fj, config_json_ptr, pointer, "request_headers", default_request_headers, 2,
			 &config_ptr->request_headers, &config_ptr->request_header_count);
	read_header_list(&fj, config_json_ptr, pointer, "response_headers", NULL, 0, &config_ptr->response_headers,
			 &config_ptr->response_header_count);
	read_header_list(&fj, config_json_ptr, pointer, "deny_headers", default_deny_headers, 4,
			 &config_ptr->deny_headers, &config_ptr->deny_header_count);
	gw_filter_json_header(&fj, config_json_ptr, pointer, "consumer_header", NULL, &config_ptr->consumer_header);
	if (config_ptr->consumer_header &&
	    !listed(config_ptr->response_headers, config_ptr->response_header_count, config_ptr->consumer_header)) {
		gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "consumer_header"),
			      "must be one of \"response_headers\" (what the service vouches for)");
		fj.failed = 1;
	}
	gw_filter_json_int(&fj, config_json_ptr, pointer, "timeout_ms", 1, 60000, 1000, &config_ptr->timeout_ms);
	gw_filter_json_string(&fj, config_json_ptr, pointer, "on_error", "deny", &on_error);
	if (on_error && strcmp(on_error, "deny") != 0 && strcmp(on_error, "allow") != 0) {
		gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "on_error"),
			      "\"deny\" (503) or \"allow\"");
		fj.failed = 1;
	}
	config_ptr->allow_on_error = on_error && strcmp(on_error, "allow") == 0;
	read_cache(&fj, config_json_ptr, pointer, config_ptr);
	return fj.failed ? -1 : 0;
}

/* ---- per kernel: the decision cache ---- */

static void *forward_auth_kernel_state_create(const void *compiled_ptr, void *previous_ptr)
{
	const struct forward_auth_config *config_ptr = compiled_ptr;
	struct gw_verified_cache *previous_cache_ptr = previous_ptr;

	/* What the service decided may not hold under the new settings:
	 * a reload starts afresh. */
	(void)previous_cache_ptr;
	return gw_verified_cache_create_noted(config_ptr->cache_seconds ? (size_t)config_ptr->cache_entries : 0,
					      DECISION_NOTE_MAX);
}

static void forward_auth_kernel_state_free(void *state_ptr)
{
	gw_verified_cache_free(state_ptr);
}

/* ---- a decision, kept as a note ----
 * 'A' then, per response header the answer had: its index, a 2-byte
 * length and the value. 'D' then the 3-digit status, per deny header
 * line: index, length, value; then 0xff and the body. */

struct note_writer {
	char note[DECISION_NOTE_MAX];
	size_t len;
	int overflow;
};

static void note_put(struct note_writer *w_ptr, const void *bytes, size_t len)
{
	if (w_ptr->overflow || len > sizeof(w_ptr->note) - w_ptr->len) {
		w_ptr->overflow = 1;
		return;
	}
	memcpy(w_ptr->note + w_ptr->len, bytes, len);
	w_ptr->len += len;
}

static void note_field(struct note_writer *w_ptr, int index, const char *value, size_t len)
{
	uint8_t head[3] = {(uint8_t)index, (uint8_t)(len >> 8), (uint8_t)len};

	if (len > 0xffff)
		w_ptr->overflow = 1;
	note_put(w_ptr, head, sizeof(head));
	note_put(w_ptr, value, len);
}

/* The next field of a note from *pos_ptr: 1 with it, 0 at its end (or
 * at the body's marker). */
static int note_next(const char *note, size_t len, size_t *pos_ptr, int *index_ptr, const char **value_ptr,
		     size_t *value_len_ptr)
{
	const uint8_t *p = (const uint8_t *)note + *pos_ptr;

	if (*pos_ptr + 3 > len || p[0] == 0xff)
		return 0;
	*index_ptr = p[0];
	*value_len_ptr = (size_t)p[1] << 8 | p[2];
	*value_ptr = note + *pos_ptr + 3;
	*pos_ptr += 3 + *value_len_ptr;
	return *pos_ptr <= len;
}

/* ---- the request ---- */

static enum gw_filter_result refuse_unavailable(struct gw_stage *stage_ptr)
{
	gw_exchange_respond_error(gw_stage_exchange(stage_ptr), 503, "authorization service unavailable");
	return GW_FILTER_RESPOND;
}

/* Through, with the values the service gave (value(i): response header
 * i's value, or NULL). */
static enum gw_filter_result admit_with(struct gw_stage *stage_ptr, const char *const *values, const size_t *lens)
{
	const struct forward_auth_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);

	for (int i = 0; i < config_ptr->response_header_count; i++) {
		const char *name = config_ptr->response_headers[i];
		int rc = values[i] ? gw_exchange_edit(ex_ptr, GW_SIDE_REQUEST, GW_HEADER_SET, name, strlen(name),
						      values[i], lens[i])
				   : gw_exchange_remove(ex_ptr, GW_SIDE_REQUEST, name);

		if (rc == -1)
			return gw_stage_fail(stage_ptr, "forward_auth: no room for the service's headers");
		if (values[i] && config_ptr->consumer_header && strcasecmp(name, config_ptr->consumer_header) == 0 &&
		    gw_exchange_set_value(ex_ptr, "consumer", values[i], lens[i]) == -1)
			return gw_stage_fail(stage_ptr, "forward_auth: no room for the consumer");
	}
	return GW_FILTER_CONTINUE;
}

/* Through without the service's word (on_error allow): what it would
 * have vouched for is removed. */
static enum gw_filter_result admit_unvouched(struct gw_stage *stage_ptr)
{
	const char *values[HEADERS_MAX] = {0};
	size_t lens[HEADERS_MAX] = {0};

	return admit_with(stage_ptr, values, lens);
}

static enum gw_filter_result admit_cached(struct gw_stage *stage_ptr, const char *note, size_t len)
{
	const char *values[HEADERS_MAX] = {0};
	size_t lens[HEADERS_MAX] = {0}, pos = 1, value_len;
	const char *value;
	int index;

	while (note_next(note, len, &pos, &index, &value, &value_len))
		if (index < HEADERS_MAX) {
			values[index] = value;
			lens[index] = value_len;
		}
	return admit_with(stage_ptr, values, lens);
}

static enum gw_filter_result deny_cached(struct gw_stage *stage_ptr, const char *note, size_t len)
{
	const struct forward_auth_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	int status = (note[1] - '0') * 100 + (note[2] - '0') * 10 + (note[3] - '0');
	size_t pos = 4, value_len;
	const char *value, *body;
	int index;

	while (note_next(note, len, &pos, &index, &value, &value_len)) {
		const char *name = config_ptr->deny_headers[index];

		if (gw_exchange_edit(ex_ptr, GW_SIDE_RESPONSE, GW_HEADER_ADD, name, strlen(name), value, value_len) ==
		    -1)
			return gw_stage_fail(stage_ptr, "forward_auth: no room for the denial's headers");
	}
	/* The entry may be replaced while the answer is written: the body
	 * goes out of a copy of the request's own. */
	pos++;
	body = gw_exchange_copy(ex_ptr, note + pos, len - pos);
	if (!body)
		return gw_stage_fail(stage_ptr, "forward_auth: no room for the denial's body");
	gw_exchange_respond(ex_ptr, status, body, len - pos);
	return GW_FILTER_RESPOND;
}

/* The subrequest's target and fields, in its ask buffer: 0, or -1 when
 * they do not fit. */
static int build_ask(struct gw_stage *stage_ptr, struct gw_subrequest *sub_ptr)
{
	const struct forward_auth_config *config_ptr = gw_stage_config(stage_ptr);
	const struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	char *buf = gw_subrequest_ask_buffer(sub_ptr);
	size_t cap = GW_SUBREQUEST_ASK_BYTES, len = 0, method_len, uri_len, host_len = 0;
	const char *method = gw_exchange_method_name(ex_ptr, &method_len);
	const char *uri = gw_exchange_target(ex_ptr, &uri_len);
	const char *host = NULL, *value;
	struct gw_subrequest_ask ask = {.upstream = config_ptr->upstream,
					.method = config_ptr->method,
					.target = config_ptr->path,
					.target_len = strlen(config_ptr->path),
					.timeout_ms = (uint64_t)config_ptr->timeout_ms};
	int n;

	gw_exchange_request_header(ex_ptr, "host", &host, &host_len);
	for (int i = 0; i < config_ptr->request_header_count; i++) {
		size_t value_len;

		if (!gw_exchange_request_header(ex_ptr, config_ptr->request_headers[i], &value, &value_len))
			continue;
		n = snprintf(buf + len, cap - len, "%s: %.*s\r\n", config_ptr->request_headers[i], (int)value_len,
			     value);
		if (n < 0 || (size_t)n >= cap - len)
			return -1;
		len += (size_t)n;
	}
	n = snprintf(buf + len, cap - len,
		     "X-Forwarded-Method: %.*s\r\nX-Forwarded-Uri: %.*s\r\nX-Forwarded-Host: %.*s\r\n"
		     "X-Forwarded-For: %s\r\n%s",
		     (int)method_len, method, (int)uri_len, uri, (int)host_len, host ? host : "",
		     gw_exchange_client_address(ex_ptr),
		     strcmp(config_ptr->method, "GET") == 0 || strcmp(config_ptr->method, "HEAD") == 0
			     ? ""
			     : "Content-Length: 0\r\n");
	if (n < 0 || (size_t)n >= cap - len)
		return -1;
	ask.fields = buf;
	ask.fields_len = len + (size_t)n;
	gw_subrequest_ask(sub_ptr, &ask);
	return 0;
}

/* Remembers a 2xx answer's copied headers, or a 401/403 answer whole,
 * when it fits an entry. */
static void remember(struct gw_stage *stage_ptr, const struct gw_subrequest *sub_ptr)
{
	const struct forward_auth_config *config_ptr = gw_stage_config(stage_ptr);
	const struct forward_auth_request *request_ptr = gw_stage_state(stage_ptr);
	int status = gw_subrequest_status(sub_ptr);
	struct note_writer w = {.len = 0};
	const char *value, *body;
	size_t value_len, body_len;
	char digits[4];

	if (!config_ptr->cache_seconds || !(status / 100 == 2 || status == 401 || status == 403))
		return;
	if (status / 100 == 2) {
		note_put(&w, "A", 1);
		for (int i = 0; i < config_ptr->response_header_count; i++)
			if (gw_subrequest_header(sub_ptr, config_ptr->response_headers[i], 0, &value, &value_len))
				note_field(&w, i, value, value_len);
	} else {
		snprintf(digits, sizeof(digits), "%03d", status);
		note_put(&w, "D", 1);
		note_put(&w, digits, 3);
		for (int i = 0; i < config_ptr->deny_header_count; i++)
			for (int nth = 0;
			     gw_subrequest_header(sub_ptr, config_ptr->deny_headers[i], nth, &value, &value_len); nth++)
				note_field(&w, i, value, value_len);
		note_put(&w, "\xff", 1);
		body = gw_subrequest_body(sub_ptr, &body_len);
		note_put(&w, body, body_len);
	}
	if (!w.overflow)
		gw_verified_cache_put(gw_stage_kernel_state(stage_ptr), request_ptr->tag,
				      vk_sys_coarse_now_ns() + (uint64_t)config_ptr->cache_seconds * 1000000000ull,
				      w.note, w.len);
}

/* The service's answer, as the stage's outcome. */
static void decide(struct gw_stage *stage_ptr, const struct gw_subrequest *sub_ptr)
{
	const struct forward_auth_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	int status = gw_subrequest_status(sub_ptr);
	const char *values[HEADERS_MAX] = {0}, *body;
	size_t lens[HEADERS_MAX] = {0}, body_len;

	if (gw_subrequest_outcome(sub_ptr) != GW_SUBREQUEST_RESPONSE) {
		if (config_ptr->allow_on_error)
			admit_unvouched(stage_ptr);
		else
			refuse_unavailable(stage_ptr);
		return;
	}
	remember(stage_ptr, sub_ptr);
	if (status / 100 == 2) {
		for (int i = 0; i < config_ptr->response_header_count; i++)
			if (!gw_subrequest_header(sub_ptr, config_ptr->response_headers[i], 0, &values[i], &lens[i]))
				values[i] = NULL;
		admit_with(stage_ptr, values, lens);
		return;
	}
	for (int i = 0; i < config_ptr->deny_header_count; i++) {
		const char *name = config_ptr->deny_headers[i], *value;
		size_t value_len;

		for (int nth = 0; gw_subrequest_header(sub_ptr, name, nth, &value, &value_len); nth++)
			if (gw_exchange_edit(ex_ptr, GW_SIDE_RESPONSE, GW_HEADER_ADD, name, strlen(name), value,
					     value_len) == -1) {
				gw_stage_fail(stage_ptr, "forward_auth: no room for the denial's headers");
				return;
			}
	}
	/* The body stays in the connection's subrequest until the answer is
	 * written (gw_stage_subrequest). */
	body = gw_subrequest_body(sub_ptr, &body_len);
	gw_exchange_respond(ex_ptr, status, body, body_len);
}

/* The service is asked, the connection parked meanwhile. */
static void forward_auth_wait(struct vk_thread *that)
{
	struct gw_stage *stage_ptr = vk_thread_arg(that);
	struct {
		struct gw_subrequest *sub_ptr;
	} * self;

	vk_begin();
	self->sub_ptr = gw_stage_subrequest(stage_ptr, that);
	if (!self->sub_ptr) {
		gw_stage_fail(stage_ptr, "forward_auth: no memory for the subrequest");
	} else if (build_ask(stage_ptr, self->sub_ptr) == -1) {
		/* Not the service's failure, and never let through unvouched
		 * (on_error allow would make a large header a way in). */
		gw_exchange_respond_error(gw_stage_exchange(stage_ptr), 431,
					  "request headers too large for the authorization request");
	} else {
		vk_call(gw_subrequest_run, self->sub_ptr);
		decide(stage_ptr, self->sub_ptr);
	}
	vk_end();
}

static enum gw_filter_result forward_auth_request_head(struct gw_stage *stage_ptr)
{
	const struct forward_auth_config *config_ptr = gw_stage_config(stage_ptr);
	struct forward_auth_request *request_ptr = gw_stage_state(stage_ptr);
	struct gw_verified_cache *cache_ptr = gw_stage_kernel_state(stage_ptr);
	const struct gw_verified_cache_slot *slot_ptr;
	const void *parts[HEADERS_MAX];
	size_t lens[HEADERS_MAX];
	static const char absent = 1;

	if (!config_ptr->cache_seconds || !cache_ptr)
		return gw_stage_wait(stage_ptr, forward_auth_wait);
	for (int i = 0; i < config_ptr->cache_key_count; i++) {
		const char *value;

		/* An absent header is a one-byte part no value can be (0x01
		 * is not a field character). */
		if (gw_exchange_request_header(gw_stage_exchange(stage_ptr), config_ptr->cache_key_headers[i], &value,
					       &lens[i])) {
			parts[i] = value;
		} else {
			parts[i] = &absent;
			lens[i] = 1;
		}
	}
	gw_verified_cache_tag(cache_ptr, parts, lens, config_ptr->cache_key_count, request_ptr->tag);
	slot_ptr = gw_verified_cache_find(cache_ptr, request_ptr->tag, vk_sys_coarse_now_ns());
	if (!slot_ptr || !slot_ptr->note_len)
		return gw_stage_wait(stage_ptr, forward_auth_wait);
	if (slot_ptr->note[0] == 'A')
		return admit_cached(stage_ptr, slot_ptr->note, slot_ptr->note_len);
	return deny_cached(stage_ptr, slot_ptr->note, slot_ptr->note_len);
}

const struct gw_filter_type gw_filter_forward_auth_type = {
	.name = "forward_auth",
	.compile = forward_auth_compile,
	.request_head = forward_auth_request_head,
	.state_bytes = sizeof(struct forward_auth_request),
	.kernel_state_create = forward_auth_kernel_state_create,
	.kernel_state_free = forward_auth_kernel_state_free,
	.trusted = 1,
};
