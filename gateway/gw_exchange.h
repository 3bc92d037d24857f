#ifndef GW_EXCHANGE_H
#define GW_EXCHANGE_H

/* gw_exchange: one request's life as the filter pipeline sees it. The
 * connection process keeps one in its micro-heap and hands it by reference
 * to each filter stage (gw_filter.h). A stage reads the request (and, on
 * the way back, the response head), records header edits, and may set the
 * verdict: answer the client itself instead of going upstream.
 *
 * Nothing here allocates: edits are copied into the exchange's own bounded
 * buffer, which is reset for every request. An edit that does not fit, or
 * whose name or value is not valid in HTTP, fails with -1 and errno
 * ENOBUFS or EINVAL. Header names are matched case-insensitively. */

#include <stddef.h>

#include "gw_http.h"

struct gw_exchange;
struct gw_stage;

enum gw_exchange_side {
	GW_SIDE_REQUEST,  /* the head forwarded upstream */
	GW_SIDE_RESPONSE, /* the head written to the client */
};

enum gw_header_op {
	GW_HEADER_SET,	  /* drop every field of that name, then add this one */
	GW_HEADER_ADD,	  /* one more field line, after the others */
	GW_HEADER_REMOVE, /* drop every field of that name */
};

enum gw_verdict {
	GW_VERDICT_CONTINUE, /* on to the next stage, then the upstream */
	GW_VERDICT_RESPOND,  /* the connection answers the client with what was set */
	GW_VERDICT_RETRY,    /* on_response: send the request again (gw_exchange_retry) */
};

/* ---- what a stage is handed (its thread's argument) ---- */

struct gw_exchange *gw_stage_exchange(const struct gw_stage *stage_ptr);
/* What the filter type's compile() made, from the immutable snapshot. */
const void *gw_stage_config(const struct gw_stage *stage_ptr);
/* gw_filter_type.state_bytes zeroed bytes, kept from on_request to
 * on_response of the same request; NULL when the type asked for none. */
void *gw_stage_state(const struct gw_stage *stage_ptr);

/* ---- the request, read-only ---- */

enum gw_http_method gw_exchange_method(const struct gw_exchange *ex_ptr);
const char *gw_exchange_method_name(const struct gw_exchange *ex_ptr, size_t *len_ptr);
/* The path without its query, and the whole target as received. */
const char *gw_exchange_path(const struct gw_exchange *ex_ptr, size_t *len_ptr);
const char *gw_exchange_target(const struct gw_exchange *ex_ptr, size_t *len_ptr);
const char *gw_exchange_client_address(const struct gw_exchange *ex_ptr);
int gw_exchange_has_body(const struct gw_exchange *ex_ptr);
/* The whole request body, in on_request_body (gw_filter.h); NULL before. */
const char *gw_exchange_request_body(const struct gw_exchange *ex_ptr, size_t *len_ptr);

/* The value a field will be forwarded with, edits included: the last
 * set/add of that name, else the first field as received. 1 and the value
 * (not NUL-terminated), or 0 when absent or removed. */
int gw_exchange_request_header(const struct gw_exchange *ex_ptr, const char *name, const char **value_ptr,
			       size_t *len_ptr);

/* ---- the response, on the way back ---- */

/* The status going to the client: the upstream's, or the one a stage or
 * the route answers with; 0 before either is known. */
int gw_exchange_response_status(const struct gw_exchange *ex_ptr);
/* Like gw_exchange_request_header, for the response head (an answer the
 * gateway writes itself has only the fields edits add). */
int gw_exchange_response_header(const struct gw_exchange *ex_ptr, const char *name, const char **value_ptr,
				size_t *len_ptr);

/* ---- edits ---- */

int gw_exchange_edit(struct gw_exchange *ex_ptr, enum gw_exchange_side side, enum gw_header_op op, const char *name,
		     size_t name_len, const char *value, size_t value_len);
/* The same with NUL-terminated strings (value ignored for a remove). */
int gw_exchange_set(struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name, const char *value);
int gw_exchange_add(struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name, const char *value);
int gw_exchange_remove(struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name);

/* ---- the verdict ---- */

/* Answer with `status`, the response-side edits as headers, and `body`,
 * which must outlive the request (the compiled config, a literal, or a
 * copy made with gw_exchange_copy). */
void gw_exchange_respond(struct gw_exchange *ex_ptr, int status, const char *body, size_t body_len);
/* Answer with the gateway's JSON error shape {"error":message,"status":N};
 * `message` must outlive the request. */
void gw_exchange_respond_error(struct gw_exchange *ex_ptr, int status, const char *message);
enum gw_verdict gw_exchange_verdict(const struct gw_exchange *ex_ptr);

/* In on_response: ask for another attempt instead of this answer (the
 * upstream's, or the gateway's own 502/503/504 from reaching or hearing
 * the upstream; not a refusal before any endpoint was picked). The request goes to the
 * upstream again, picked afresh by the balancer; this answer's body is
 * dropped, its edits forgotten, and every on_response runs again for the
 * next one. Only a request that can be sent again qualifies: one without
 * a body, or whose body a stage asked to keep (on_request_body). Returns
 * 0, or -1 when it does not qualify (the answer then goes on). */
int gw_exchange_retry(struct gw_exchange *ex_ptr);
/* However filters ask, a request goes upstream at most this many times. */
#define GW_EXCHANGE_ATTEMPTS_MAX 10
/* Attempts made before this one (0 on the first). */
int gw_exchange_attempt(const struct gw_exchange *ex_ptr);
/* `len` bytes copied into the exchange's buffer (NUL added), or NULL. */
char *gw_exchange_copy(struct gw_exchange *ex_ptr, const char *bytes, size_t len);

/* ---- field syntax, for compile() functions ---- */

/* A token (RFC 9110 5.6.2) of 1 to GW_EXCHANGE_NAME_MAX bytes. */
int gw_header_name_valid(const char *name, size_t len);
/* Field characters only, no CR or LF, no leading or trailing space. */
int gw_header_value_valid(const char *value, size_t len);
/* Fields the connection writes itself (framing, Host, hop-by-hop): a
 * filter may not edit them. */
int gw_header_name_reserved(const char *name, size_t len);

#endif
