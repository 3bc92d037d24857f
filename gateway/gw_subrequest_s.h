#ifndef GW_SUBREQUEST_S_H
#define GW_SUBREQUEST_S_H

#include <stdint.h>

#include "gw_http_s.h"
#include "gw_relay.h"
#include "gw_subrequest.h"
#include "gw_upstream.h"

struct gw_config;
struct gw_generation;
struct gw_tls_stream;
struct vk_proc_local;
struct vk_socket;

/* Where a run is in its exchange with the upstream: a time out while
 * connecting is a connect failure, later a response time out. */
enum gw_subrequest_stage {
	GW_SUBREQUEST_STAGE_QUEUE,
	GW_SUBREQUEST_STAGE_CONNECT,
	GW_SUBREQUEST_STAGE_RESPONSE,
};

struct gw_subrequest {
	struct gw_subrequest_ask ask;
	/* Bound to a request's snapshot (gw_stage_subrequest), or both NULL:
	 * each run takes the kernel's newest generation and holds it. */
	const struct gw_config *config_ptr;
	const struct gw_upstream_ops *ops_ptr;
	struct gw_generation *held_ptr;
	struct vk_proc_local *proc_local_ptr;
	struct vk_socket *socket_ptr;
	struct gw_tls_stream *tls_ptr; /* used when the pick says TLS */
	/* this run */
	const struct gw_config *run_config_ptr;
	const struct gw_upstream_ops *run_ops_ptr;
	int upstream_index;
	int picked;
	struct gw_upstream_pick pick;
	int fd;
	void *tls_kept_ptr;
	int reused;
	int fresh;  /* a kept connection failed before any answer: a new one this time */
	int waited; /* the run waited in line for a connection */
	int tls_started;
	enum gw_subrequest_stage stage;
	uint64_t wait_until_ns;
	size_t parsed_upto; /* head bytes held when the last parse wanted more */
	int rc;
	struct gw_relay relay;
	/* the outcome */
	enum gw_subrequest_outcome outcome;
	const char *failure;
	int endpoint_at_fault; /* a connect failure the endpoint's health hears of */
	struct gw_http_limits limits;
	struct gw_response resp;
	size_t head_len;
	char *head_ptr; /* GW_SUBREQUEST_HEAD_BYTES */
	char *body_ptr; /* body_cap + 1 */
	char *ask_ptr;	/* GW_SUBREQUEST_ASK_BYTES, the caller's */
	size_t body_cap;
	size_t body_len;
};

#endif
