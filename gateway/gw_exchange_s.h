#ifndef GW_EXCHANGE_S_H
#define GW_EXCHANGE_S_H

/* The exchange struct (gw_exchange.h), for the connection process that
 * embeds one and the pipeline that runs the stages. Filters use the
 * functions of gw_exchange.h, never these members. */

#include <stdint.h>

#include "gw_exchange.h"
#include "gw_filter.h"
#include "gw_http_s.h"

struct gw_config;
struct gw_route;
struct gw_filter_states;
struct gw_subrequest;
struct gw_upstream_ops;
struct vk_socket;

/* Bounds of what filters may record per request; past them an edit fails
 * with ENOBUFS (the filter decides whether that is an error). */
#define GW_EXCHANGE_EDITS_MAX 64
#define GW_EXCHANGE_BYTES 4096
#define GW_EXCHANGE_STATE_BYTES 2048
#define GW_EXCHANGE_STAGES_MAX 32
#define GW_EXCHANGE_NAME_MAX 256
#define GW_EXCHANGE_VALUES_MAX 16
#define GW_EXCHANGE_VALUE_KEY_MAX 64

struct gw_header_edit {
	uint8_t side; /* enum gw_exchange_side */
	uint8_t op;   /* enum gw_header_op */
	uint16_t name_off;
	uint16_t name_len;
	uint16_t value_off;
	uint16_t value_len;
};

/* A value attached to the request (gw_exchange_set_value), in bytes. */
struct gw_exchange_value {
	uint16_t key_off;
	uint16_t key_len;
	uint16_t value_off;
	uint16_t value_len;
};

struct gw_stage {
	struct gw_exchange *exchange_ptr;
	const void *config_ptr;
	void *state_ptr;
	int index; /* in the route's filters */
	/* while the stage waits (gw_stage_wait): its thread, and the socket
	 * it may open (gw_stage_socket), closed when the thread ends */
	vk_thread_fn wait_fn;
	struct vk_socket *socket_ptr;
};

/* Where the pipeline is (gw_pipeline.h): a phase, and the stage it runs. */
enum gw_pipeline_phase {
	GW_PHASE_REQUEST_HEAD,
	GW_PHASE_REQUEST_BODY,
	GW_PHASE_RESPONSE_HEAD,
};

struct gw_geo_answer;
struct gw_exchange {
	/* the request, as parsed in the connection's head buffer */
	const struct gw_request *req_ptr;
	const char *head_ptr;
	struct gw_http_span path;
	const char *client_addr;
	/* the client's geo answer, looked up on the first call (the
	 * connection's); NULL: no geo databases */
	const struct gw_geo_answer *(*geo_fn)(void *ctx_ptr);
	void *geo_ctx_ptr;
	const struct gw_route *route_ptr;
	/* this kernel's state of the snapshot's filters (gw_filter_states.h),
	 * or NULL: set by the connection */
	const struct gw_filter_states *filter_states_ptr;
	/* the snapshot and this kernel's upstreams, for subrequests: set by
	 * the connection; and the connection's subrequest, kept from one
	 * request to the next (gw_stage_subrequest) */
	const struct gw_config *config_ptr;
	const struct gw_upstream_ops *upstream_ops_ptr;
	struct gw_subrequest *subrequest_ptr;
	/* the pipeline's place while a phase runs */
	enum gw_pipeline_phase phase;
	int at;
	/* the response head, once parsed (NULL for an answer of our own) */
	const struct gw_response *resp_ptr;
	const char *resp_head_ptr;
	int response_status;
	/* the verdict */
	enum gw_verdict verdict;
	int status;
	const char *body;
	size_t body_len;
	const char *error_message; /* non-NULL: answer in the JSON error shape */
	/* the request body, once kept for a stage that asked (gw_filter.h) */
	const char *request_body;
	size_t request_body_len;
	int body_kept;
	/* attempts at the upstream (gw_exchange_retry) */
	int attempt;
	const struct gw_retry_policy *retry_policy_ptr; /* NULL: none */
	uint32_t request_edit_count;			/* edits made before the first attempt */
	size_t request_bytes_used;			/* their bytes, kept across attempts */
	/* stages whose request_head let the request through: the response
	 * goes back through these, in reverse */
	int stages_passed;
	const char *answered_by;      /* the filter type that answered itself, or NULL */
	uint32_t request_value_count; /* values set before the first attempt */
	/* the query sent upstream instead of the received one
	 * (gw_exchange_set_query), in `bytes` */
	int query_set;
	const char *query;
	size_t query_len;
	/* how much of each array below is in use: here, beside the other
	 * fields every request writes, not each on a cache line of its own
	 * after the array before it */
	uint32_t value_count;
	uint32_t edit_count;
	size_t bytes_used;
	size_t state_used;
	struct gw_stage stages[GW_EXCHANGE_STAGES_MAX];
	struct gw_exchange_value values[GW_EXCHANGE_VALUES_MAX];
	struct gw_header_edit edits[GW_EXCHANGE_EDITS_MAX];
	char bytes[GW_EXCHANGE_BYTES];
	_Alignas(16) char state[GW_EXCHANGE_STATE_BYTES];
};

/* ---- for the connection process ---- */

/* Starts the exchange of a newly parsed request (everything else reset). */
void gw_exchange_begin(struct gw_exchange *ex_ptr, const struct gw_request *req_ptr, const char *head_ptr,
		       struct gw_http_span path, const char *client_addr, const struct gw_route *route_ptr);
/* After a continue route (gateway/gw_conn.c): the request goes on to
 * `route_ptr`, whose filters run next; the edits, values and query the
 * earlier filters made are kept, their stages are done. */
void gw_exchange_reroute(struct gw_exchange *ex_ptr, const struct gw_route *route_ptr);
/* The request stages are done: edits made from here on are the
 * response's, forgotten at each new attempt. */
void gw_exchange_request_done(struct gw_exchange *ex_ptr);
/* Whether the request can be sent again: no body, or one kept whole. */
int gw_exchange_replayable(const struct gw_exchange *ex_ptr);
/* Starts the next attempt after a GW_VERDICT_RETRY. */
void gw_exchange_next_attempt(struct gw_exchange *ex_ptr);
/* The upstream's response head, before the response stages run. */
void gw_exchange_set_response(struct gw_exchange *ex_ptr, const struct gw_response *resp_ptr,
			      const char *resp_head_ptr);
/* Whether a received field of `side` is dropped by a set or a remove. */
int gw_exchange_field_dropped(const struct gw_exchange *ex_ptr, enum gw_exchange_side side, const char *name,
			      size_t len);
/* Whether edit `index` adds a field line to `side`'s head (a set or add no
 * later set or remove of the same name undid); if so, its name and value. */
int gw_exchange_edit_written(const struct gw_exchange *ex_ptr, enum gw_exchange_side side, uint32_t index,
			     const char **name_ptr, size_t *name_len_ptr, const char **value_ptr,
			     size_t *value_len_ptr);

#endif
