/* gw_filter_request_id: gives every request an id, and a W3C trace context.
 *
 *   {"type": "request_id", "header": "x-request-id", "trust_incoming": true,
 *    "traceparent": true, "response": true}
 *
 * An incoming id is kept when it is trusted and well formed (1 to 128
 * characters that cannot smuggle anything into a log line or a header);
 * otherwise a new one replaces it: 128 random bits in hex. A valid
 * traceparent keeps its trace id and flags and gets a new parent id (this
 * hop is a new span); an absent or invalid one is created. With "response",
 * the id is echoed to the client, on every answer (the upstream's, or one
 * a filter or the route makes). Ids come from gw_random: no system call. */
#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filters.h"
#include "gw_random.h"

#include <string.h>
#include <strings.h>

#define REQUEST_ID_MAX 128
#define REQUEST_ID_BYTES 16 /* 128 bits */
/* version "-" trace-id "-" parent-id "-" flags (W3C Trace Context 3.2) */
#define TRACEPARENT_LEN 55
#define TRACE_ID_OFF 3
#define TRACE_ID_LEN 32
#define PARENT_ID_OFF 36
#define PARENT_ID_LEN 16
#define FLAGS_OFF 53

struct request_id_config {
	const char *header;
	size_t header_len;
	int trust_incoming;
	int traceparent;
	int response;
};

static int request_id_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			      struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const keys[] = {"type", "header", "trust_incoming", "traceparent", "response", NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct request_id_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));
	char at[GW_FILTER_POINTER_MAX];

	if (!config_ptr)
		return -1;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, keys) == 0) {
		if (gw_filter_json_string(&fj, config_json_ptr, pointer, "header", "x-request-id",
					  &config_ptr->header) == 0) {
			size_t len = strlen(config_ptr->header);

			config_ptr->header_len = len;
			gw_filter_json_pointer(at, sizeof(at), pointer, "header");
			if (!gw_header_name_valid(config_ptr->header, len)) {
				gw_diag_error(diag_ptr, at, "\"%s\" is not a valid header name", config_ptr->header);
				fj.failed = 1;
			} else if (gw_header_name_reserved(config_ptr->header, len) ||
				   strcasecmp(config_ptr->header, "traceparent") == 0) {
				gw_diag_error(diag_ptr, at, "header \"%s\" cannot carry the request id",
					      config_ptr->header);
				fj.failed = 1;
			}
		}
		gw_filter_json_bool(&fj, config_json_ptr, pointer, "trust_incoming", 1, &config_ptr->trust_incoming);
		gw_filter_json_bool(&fj, config_json_ptr, pointer, "traceparent", 1, &config_ptr->traceparent);
		gw_filter_json_bool(&fj, config_json_ptr, pointer, "response", 1, &config_ptr->response);
	}
	*compiled_ptr = config_ptr;
	return fj.failed ? -1 : 0;
}

/* Letters, digits and a few marks: enough for UUIDs and the ids other
 * proxies make, nothing that needs quoting. */
static int request_id_valid(const char *id, size_t len)
{
	if (len == 0 || len > REQUEST_ID_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      strchr("-_.:+/=", c)))
			return 0;
	}
	return 1;
}

static int lower_hex(const char *s, size_t len, int nonzero)
{
	int any = 0;

	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
		any |= s[i] != '0';
	}
	return !nonzero || any;
}

/* W3C Trace Context 3.2: version 00 is exactly 55 characters; a later
 * version may append "-..." fields, and ff is never valid. */
int gw_traceparent_valid(const char *s, size_t len)
{
	if (len < TRACEPARENT_LEN || !lower_hex(s, 2, 0) || strncmp(s, "ff", 2) == 0)
		return 0;
	if (strncmp(s, "00", 2) == 0 ? len != TRACEPARENT_LEN : (len > TRACEPARENT_LEN && s[TRACEPARENT_LEN] != '-'))
		return 0;
	return s[2] == '-' && s[PARENT_ID_OFF - 1] == '-' && s[FLAGS_OFF - 1] == '-' &&
	       lower_hex(s + TRACE_ID_OFF, TRACE_ID_LEN, 1) && lower_hex(s + PARENT_ID_OFF, PARENT_ID_LEN, 1) &&
	       lower_hex(s + FLAGS_OFF, 2, 0);
}

/* A new span in the incoming trace, or a new trace. */
static void make_traceparent(char *out, const char *incoming, size_t incoming_len)
{
	char hex[2 * REQUEST_ID_BYTES + 1];

	if (incoming && gw_traceparent_valid(incoming, incoming_len)) {
		memcpy(out, "00-", 3);
		memcpy(out + TRACE_ID_OFF, incoming + TRACE_ID_OFF, TRACE_ID_LEN);
		memcpy(out + FLAGS_OFF - 1, incoming + FLAGS_OFF - 1, 3);
	} else {
		gw_random_hex(hex, REQUEST_ID_BYTES);
		memcpy(out, "00-", 3);
		memcpy(out + TRACE_ID_OFF, hex, TRACE_ID_LEN);
		memcpy(out + FLAGS_OFF - 1, "-00", 3);
	}
	out[PARENT_ID_OFF - 1] = '-';
	/* A parent id of all zeros is invalid: draw again in that 2^-64 case. */
	do
		gw_random_hex(hex, PARENT_ID_LEN / 2);
	while (!lower_hex(hex, PARENT_ID_LEN, 1));
	memcpy(out + PARENT_ID_OFF, hex, PARENT_ID_LEN);
	out[TRACEPARENT_LEN] = '\0';
}

static enum gw_filter_result request_id_request_head(struct gw_stage *stage_ptr)
{
	const struct request_id_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	char new_id[2 * REQUEST_ID_BYTES + 1], traceparent[TRACEPARENT_LEN + 1];
	const char *id = NULL, *value = NULL;
	size_t id_len = 0, len = 0;
	int rc = 0;

	/* A trusted incoming id is forwarded as it came: only the answer
	 * needs it as an edit. */
	if (!config_ptr->trust_incoming || !gw_exchange_request_header(ex_ptr, config_ptr->header, &id, &id_len) ||
	    !request_id_valid(id, id_len)) {
		gw_random_hex(new_id, REQUEST_ID_BYTES);
		id = new_id;
		id_len = 2 * REQUEST_ID_BYTES;
		rc |= gw_exchange_edit(ex_ptr, GW_SIDE_REQUEST, GW_HEADER_SET, config_ptr->header,
				       config_ptr->header_len, id, id_len);
	}
	if (config_ptr->response)
		rc |= gw_exchange_edit(ex_ptr, GW_SIDE_RESPONSE, GW_HEADER_SET, config_ptr->header,
				       config_ptr->header_len, id, id_len);
	if (config_ptr->traceparent) {
		if (!gw_exchange_request_header(ex_ptr, "traceparent", &value, &len))
			value = NULL;
		make_traceparent(traceparent, value, len);
		rc |= gw_exchange_edit(ex_ptr, GW_SIDE_REQUEST, GW_HEADER_SET, "traceparent", sizeof("traceparent") - 1,
				       traceparent, TRACEPARENT_LEN);
	}
	return rc ? gw_stage_fail(stage_ptr, "request_id: no room left for the edits") : GW_FILTER_CONTINUE;
}

const struct gw_filter_type gw_filter_request_id_type = {
	.name = "request_id",
	.trusted = 1,
	.compile = request_id_compile,
	.request_head = request_id_request_head,
};
