/* gw_http_parse: the request head parser of the HTTP/1.1 codec (RFC 9112
 * 2-3, 6, RFC 9110 7.2): the request line and its target, then, once the
 * field section (gw_http_fields.c) is read, Host and how the body is framed.
 *
 * Strict by design: a proxy that reads a message differently from the
 * server behind it can be made to smuggle requests, so anything the RFCs let
 * a recipient reject is rejected: bare CR or LF, obs-fold, whitespace before
 * a colon, control characters, ambiguous Content-Length, any transfer coding
 * but a single final "chunked", a missing, repeated or invalid Host.
 *
 * The parser is a byte-level state machine whose state lives in the request
 * (struct gw_http_scan), so each call goes on where the previous one
 * stopped; field lines are interpreted once their CRLF is read, and the
 * head as a whole once the empty line is. */
#include "gw_http.h"
#include "gw_http_s.h"
#include "gw_http_self.h"

#include <stddef.h>
#include <string.h>

/* Request-line states (scan.line_state). */
enum {
	RL_LEADING = 0, /* empty lines may precede the request line */
	RL_LEADING_LF,
	RL_METHOD,
	RL_TARGET,
	RL_VERSION,
	RL_LF,
	RL_DONE,
};

/* "HTTP/" DIGIT "." DIGIT: the length of an HTTP-version. */
#define HTTP_VERSION_LEN 8

void gw_http_limits_default(struct gw_http_limits *limits_ptr)
{
	limits_ptr->max_head_bytes = GW_HTTP_DEFAULT_MAX_HEAD_BYTES;
	limits_ptr->max_target_bytes = GW_HTTP_DEFAULT_MAX_TARGET_BYTES;
	limits_ptr->max_headers = GW_HTTP_DEFAULT_MAX_HEADERS;
	limits_ptr->max_body_bytes = GW_HTTP_DEFAULT_MAX_BODY_BYTES;
	limits_ptr->max_trailers = GW_HTTP_DEFAULT_MAX_TRAILERS;
	limits_ptr->max_trailer_bytes = GW_HTTP_DEFAULT_MAX_TRAILER_BYTES;
	limits_ptr->max_chunk_line_bytes = GW_HTTP_DEFAULT_MAX_CHUNK_LINE_BYTES;
}

void gw_http_request_init(struct gw_request *req_ptr)
{
	/* Not the field and option arrays: some 2.7 KB per head, and only
	 * the entries the counts cover are ever read. */
	memset(req_ptr, 0, offsetof(struct gw_request, head.fields));
}

const struct gw_http_field *gw_http_header_find(const struct gw_request *req_ptr, const char *buf_ptr,
						const char *name_ptr)
{
	return gw_http_head_field_find(&req_ptr->head, buf_ptr, name_ptr);
}

/* Request line (RFC 9112 3). */

/* Methods are case-sensitive (RFC 9110 9.1). */
static enum gw_http_method method_lookup(const char *p, size_t len)
{
#define METHOD(name, method)                   \
	{                                      \
		name, sizeof(name) - 1, method \
	}
	static const struct {
		const char *name_ptr;
		size_t len;
		enum gw_http_method method;
	} known[] = {
		METHOD("GET", GW_METHOD_GET),	      METHOD("HEAD", GW_METHOD_HEAD),
		METHOD("POST", GW_METHOD_POST),	      METHOD("PUT", GW_METHOD_PUT),
		METHOD("DELETE", GW_METHOD_DELETE),   METHOD("CONNECT", GW_METHOD_CONNECT),
		METHOD("OPTIONS", GW_METHOD_OPTIONS), METHOD("TRACE", GW_METHOD_TRACE),
		METHOD("PATCH", GW_METHOD_PATCH),
	};
#undef METHOD

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (known[i].len == len && memcmp(known[i].name_ptr, p, len) == 0)
			return known[i].method;
	}
	return GW_METHOD_OTHER;
}

/* VCHAR but '#': no whitespace, no CTL, no fragment, no obs-text. */
static int is_target_char(unsigned char c)
{
	return gw_http_char_class[c] & GW_HTTP_CHAR_TARGET;
}

static size_t scheme_end(const char *p, size_t len)
{
	size_t i = 0;

	if (len == 0 || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))
		return 0;
	for (i = 1; i < len; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
		      c == '-' || c == '.'))
			break;
	}
	return i;
}

/* Decides the form of the request-target (RFC 9112 3.2) and, for the
 * absolute-form, where its authority and path are. */
static int target_classify(struct gw_request *req_ptr, const char *buf_ptr)
{
	struct gw_http_head *head_ptr = &req_ptr->head;
	const char *t = buf_ptr + req_ptr->target.off;
	size_t len = req_ptr->target.len;
	size_t authority;
	size_t authority_end;

	if (req_ptr->method == GW_METHOD_CONNECT) {
		if (!gw_http_host_valid(t, len, 1))
			return gw_http_head_fail(head_ptr, 400, "CONNECT target is not host:port");
		req_ptr->target_form = GW_TARGET_AUTHORITY;
		return 0;
	}
	if (t[0] == '/') {
		req_ptr->target_form = GW_TARGET_ORIGIN;
		return 0;
	}
	if (len == 1 && t[0] == '*') {
		if (req_ptr->method != GW_METHOD_OPTIONS)
			return gw_http_head_fail(head_ptr, 400, "asterisk-form outside OPTIONS");
		req_ptr->target_form = GW_TARGET_ASTERISK;
		return 0;
	}
	authority = scheme_end(t, len);
	if (authority == 0 || len - authority < 3 || memcmp(t + authority, "://", 3) != 0)
		return gw_http_head_fail(head_ptr, 400, "request-target is in no known form");
	authority += 3;
	for (authority_end = authority; authority_end < len; authority_end++) {
		if (t[authority_end] == '/' || t[authority_end] == '?')
			break;
	}
	if (!gw_http_host_valid(t + authority, authority_end - authority, 0))
		return gw_http_head_fail(head_ptr, 400, "invalid authority in absolute-form target");
	req_ptr->target_form = GW_TARGET_ABSOLUTE;
	req_ptr->target_authority = gw_http_span_of(req_ptr->target.off + authority, authority_end - authority);
	req_ptr->target_path = gw_http_span_of(req_ptr->target.off + authority_end, len - authority_end);
	return 0;
}

/* Whether `c` may be byte `i` of an HTTP-version ("HTTP/" DIGIT "." DIGIT). */
static int version_char_ok(size_t i, unsigned char c)
{
	static const char name[] = "HTTP/";

	if (i < sizeof(name) - 1)
		return c == (unsigned char)name[i];
	if (i == 6)
		return c == '.';
	return c >= '0' && c <= '9';
}

/* The request line is complete: version first (an HTTP/2 preface is not
 * ours to judge further), then the target. */
static int request_line_done(struct gw_request *req_ptr, const char *buf_ptr, size_t version_off)
{
	struct gw_http_head *head_ptr = &req_ptr->head;
	char major = buf_ptr[version_off + 5];
	char minor = buf_ptr[version_off + 7];

	if (major != '1' || (minor != '0' && minor != '1'))
		return gw_http_head_fail(head_ptr, 505, "HTTP version not supported");
	head_ptr->version_minor = (uint8_t)(minor - '0');
	return target_classify(req_ptr, buf_ptr);
}

/* Reads the request line from scan.pos; returns 1 once it is complete, 0 if
 * more bytes are needed, or a negative status. */
static int scan_request_line(struct gw_request *req_ptr, const char *buf_ptr, size_t scan_len,
			     const struct gw_http_limits *limits_ptr)
{
	struct gw_http_head *head_ptr = &req_ptr->head;
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	size_t pos = scan_ptr->pos;
	size_t end;
	int r;

	while (pos < scan_len && scan_ptr->line_state != RL_DONE) {
		unsigned char c = (unsigned char)buf_ptr[pos];

		switch (scan_ptr->line_state) {
		case RL_LEADING:
			if (c == '\r') {
				scan_ptr->line_state = RL_LEADING_LF;
				pos++;
				break;
			}
			if (!gw_http_is_tchar(c))
				return gw_http_head_fail(head_ptr, 400, "request line does not start with a method");
			head_ptr->start = scan_ptr->mark = (uint32_t)pos;
			scan_ptr->line_state = RL_METHOD;
			break;
		case RL_LEADING_LF:
			if (c != '\n')
				return gw_http_head_fail(head_ptr, 400, "bare CR before request line");
			scan_ptr->line_state = RL_LEADING;
			pos++;
			break;
		case RL_METHOD:
			while (pos < scan_len && gw_http_is_tchar((unsigned char)buf_ptr[pos]))
				pos++;
			if (pos == scan_len)
				break;
			if (buf_ptr[pos] != ' ')
				return gw_http_head_fail(head_ptr, 400, "method is not a token followed by one SP");
			req_ptr->method_span = gw_http_span_of(scan_ptr->mark, pos - scan_ptr->mark);
			req_ptr->method = method_lookup(buf_ptr + scan_ptr->mark, pos - scan_ptr->mark);
			scan_ptr->mark = (uint32_t)++pos;
			scan_ptr->line_state = RL_TARGET;
			break;
		case RL_TARGET:
			/* Look no further than one byte past the limit, to answer 414 early. */
			end = scan_len;
			if (limits_ptr->max_target_bytes < scan_len - scan_ptr->mark)
				end = scan_ptr->mark + limits_ptr->max_target_bytes + 1;
			while (pos < end && is_target_char((unsigned char)buf_ptr[pos]))
				pos++;
			if (pos - scan_ptr->mark > limits_ptr->max_target_bytes)
				return gw_http_head_fail(head_ptr, 414, "request-target too long");
			if (pos == scan_len)
				break;
			if (buf_ptr[pos] != ' ' || pos == scan_ptr->mark)
				return gw_http_head_fail(head_ptr, 400, "invalid character in request-target");
			req_ptr->target = gw_http_span_of(scan_ptr->mark, pos - scan_ptr->mark);
			scan_ptr->mark = (uint32_t)++pos;
			scan_ptr->line_state = RL_VERSION;
			break;
		case RL_VERSION:
			/* The common case, the whole version and its CRLF here: at once. */
			if (pos == scan_ptr->mark && scan_len - pos >= HTTP_VERSION_LEN + 2 &&
			    memcmp(buf_ptr + pos, "HTTP/", 5) == 0 &&
			    version_char_ok(5, (unsigned char)buf_ptr[pos + 5]) && buf_ptr[pos + 6] == '.' &&
			    version_char_ok(7, (unsigned char)buf_ptr[pos + 7]) &&
			    buf_ptr[pos + HTTP_VERSION_LEN] == '\r') {
				pos += HTTP_VERSION_LEN + 1;
				scan_ptr->line_state = RL_LF;
				break;
			}
			if (pos - scan_ptr->mark == HTTP_VERSION_LEN) {
				if (c != '\r')
					return gw_http_head_fail(head_ptr, 400, "request line does not end in CRLF");
				scan_ptr->line_state = RL_LF;
			} else if (!version_char_ok(pos - scan_ptr->mark, c)) {
				return gw_http_head_fail(head_ptr, 400, "malformed HTTP version");
			}
			pos++;
			break;
		case RL_LF:
			if (c != '\n')
				return gw_http_head_fail(head_ptr, 400, "bare CR in request line");
			pos++;
			scan_ptr->pos = (uint32_t)pos;
			r = request_line_done(req_ptr, buf_ptr, scan_ptr->mark);
			if (r < 0)
				return r;
			scan_ptr->line_state = RL_DONE;
			break;
		default:
			return gw_http_head_fail(head_ptr, 400, "parser state corrupt");
		}
	}
	scan_ptr->pos = (uint32_t)pos;
	return scan_ptr->line_state == RL_DONE;
}

/* The whole head is read: Host, framing and connection (RFC 9112 3.2, 6.1,
 * 6.3, 9.3). */
static int request_head_done(struct gw_request *req_ptr, const char *buf_ptr, const struct gw_http_limits *limits_ptr)
{
	struct gw_http_head *head_ptr = &req_ptr->head;
	struct gw_http_scan *scan_ptr = &head_ptr->scan;

	if (scan_ptr->host_count > 1)
		return gw_http_head_fail(head_ptr, 400, "more than one Host");
	if (scan_ptr->host_count == 0 && head_ptr->version_minor == 1)
		return gw_http_head_fail(head_ptr, 400, "HTTP/1.1 request without Host");
	if (scan_ptr->host_count == 1) {
		const struct gw_http_field *host_ptr = &head_ptr->fields[scan_ptr->host_field];

		if (!gw_http_host_valid(buf_ptr + host_ptr->value.off, host_ptr->value.len, 0))
			return gw_http_head_fail(head_ptr, 400, "invalid Host");
		req_ptr->host = host_ptr->value;
	}
	if (req_ptr->target_form == GW_TARGET_ABSOLUTE)
		req_ptr->host = req_ptr->target_authority;

	if (scan_ptr->te_seen) {
		if (scan_ptr->cl_seen)
			return gw_http_head_fail(head_ptr, 400, "both Transfer-Encoding and Content-Length");
		if (head_ptr->version_minor == 0)
			return gw_http_head_fail(head_ptr, 400, "Transfer-Encoding in an HTTP/1.0 request");
		if (scan_ptr->te_chunked_count > 1)
			return gw_http_head_fail(head_ptr, 400, "chunked applied more than once");
		if (scan_ptr->te_chunked_count == 1 && !scan_ptr->te_last_chunked)
			return gw_http_head_fail(head_ptr, 400, "chunked is not the final transfer coding");
		if (scan_ptr->te_unknown)
			return gw_http_head_fail(head_ptr, 501, "unsupported transfer coding");
		if (scan_ptr->te_chunked_count == 0)
			return gw_http_head_fail(head_ptr, 400, "empty Transfer-Encoding");
		head_ptr->body = GW_BODY_CHUNKED;
	} else if (scan_ptr->cl_seen) {
		if (head_ptr->content_length > limits_ptr->max_body_bytes)
			return gw_http_head_fail(head_ptr, 413, "Content-Length above the body limit");
		head_ptr->body = GW_BODY_LENGTH;
	} else {
		head_ptr->body = GW_BODY_NONE;
	}

	/* HTTP/1.0 requests cannot expect 100 or upgrade (RFC 9110 10.1.1, 7.8). */
	req_ptr->expect_continue = scan_ptr->expect_continue && head_ptr->version_minor == 1;
	head_ptr->upgrade = scan_ptr->upgrade_seen && scan_ptr->conn_upgrade && head_ptr->version_minor == 1;
	gw_http_head_finish_connection(head_ptr, buf_ptr);
	return 0;
}

int gw_http_parse_request(struct gw_request *req_ptr, const char *buf_ptr, size_t len,
			  const struct gw_http_limits *limits_ptr)
{
	struct gw_http_head *head_ptr = &req_ptr->head;
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	size_t scan_len;
	int r;

	if (!gw_http_head_resume(head_ptr, len, limits_ptr, &scan_len))
		return scan_ptr->result;
	r = scan_request_line(req_ptr, buf_ptr, scan_len, limits_ptr);
	if (r < 0)
		return r;
	if (r > 0) {
		r = gw_http_head_scan_fields(head_ptr, buf_ptr, scan_len, limits_ptr->max_headers);
		if (r < 0)
			return r;
		if (r > 0) {
			int done = request_head_done(req_ptr, buf_ptr, limits_ptr);

			if (done < 0)
				return done;
			scan_ptr->result = r;
			return r;
		}
	}
	if (len > scan_len)
		return gw_http_head_fail(head_ptr, 431, "request head too large");
	return 0;
}
