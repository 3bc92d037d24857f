#ifndef GW_HTTP_S_H
#define GW_HTTP_S_H

/* The structs of the HTTP/1.1 codec (gw_http.h), for the files that embed a
 * parsed request or response, such as the connection process keeping one in
 * its micro-heap. Every span is an offset into the buffer that was parsed.
 * Members under "parser state" belong to the parser. */

#include <stddef.h>
#include <stdint.h>

#include "gw_http.h"

/* buf[off .. off + len) */
struct gw_http_span {
	uint32_t off;
	uint32_t len;
};

struct gw_http_field {
	struct gw_http_span name;  /* as received: case kept */
	struct gw_http_span value; /* OWS trimmed on both sides */
	uint8_t kind;		   /* enum gw_http_field_kind */
	uint8_t nominated;	   /* named by a Connection option: do not forward */
};

/* Where the parser is, and what it learnt from field lines that only counts
 * once the head is complete. Zero is the start of a message. */
struct gw_http_scan {
	uint32_t pos;	    /* bytes of the buffer examined so far */
	uint32_t mark;	    /* start of the token or field line being read */
	uint32_t colon;	    /* the colon of the field line being read */
	uint8_t line_state; /* start-line state, owned by the request or response parser */
	uint8_t state;	    /* field-section state, 0 while in the start line */
	uint8_t host_count;
	uint8_t cl_seen;
	uint8_t te_seen;
	uint8_t te_chunked_count; /* "chunked" codings, over all Transfer-Encoding lines */
	uint8_t te_last_chunked;  /* the last coding so far is "chunked" */
	uint8_t te_unknown;	  /* some other (valid) coding was listed */
	uint8_t conn_close;
	uint8_t conn_keep_alive;
	uint8_t conn_upgrade;
	uint8_t upgrade_seen;
	uint8_t expect_continue;
	uint32_t host_field; /* index of the first Host field line */
	int result;	     /* sticky: head length, or negative status; 0 while parsing */
};

/* What requests and responses share: version, field lines, framing. */
struct gw_http_head {
	uint32_t start;	       /* offset of the start line (after leading empty lines) */
	uint32_t length;       /* bytes through the final CRLF CRLF, 0 until complete */
	uint8_t version_minor; /* HTTP/1.0 or HTTP/1.1 */
	uint8_t keep_alive;    /* the connection may carry another message after this one */
	uint8_t upgrade;       /* request: Upgrade + "Connection: upgrade"; response: 101 */
	enum gw_http_body body;
	uint64_t content_length; /* for GW_BODY_LENGTH */
	uint8_t length_plain;	 /* one Content-Length line, one value alone: it may go as received */
	uint32_t field_count;
	uint32_t option_count;
	const char *error_ptr;	  /* why the message was rejected (static string), or NULL */
	struct gw_http_scan scan; /* parser state */
	/* The arrays come last: a new message clears what is above them
	 * only (gw_http_request_init), and an entry is written whole before
	 * the counts above cover it. */
	struct gw_http_field fields[GW_HTTP_FIELDS_MAX];
	/* The Connection header's options, in order: names of fields to drop
	 * when forwarding (every field line with such a name is `nominated`). */
	struct gw_http_span options[GW_HTTP_CONNECTION_OPTIONS_MAX];
};

struct gw_request {
	enum gw_http_method method;
	enum gw_http_target_form target_form;
	struct gw_http_span method_span;
	struct gw_http_span target;
	/* Absolute-form only: the authority, and what follows it (path and
	 * query; may be empty or start with '?': forward it after a "/"). */
	struct gw_http_span target_authority;
	struct gw_http_span target_path;
	/* Effective host: the absolute-form authority, else the Host value;
	 * len 0 for an HTTP/1.0 request without Host. */
	struct gw_http_span host;
	uint8_t expect_continue;  /* Expect: 100-continue */
	struct gw_http_head head; /* last: see gw_http_head's arrays */
};

struct gw_response {
	uint16_t status;
	struct gw_http_span reason;
	struct gw_http_head head; /* last: see gw_http_head's arrays */
};

#endif
