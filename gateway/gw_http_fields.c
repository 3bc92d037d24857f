/* gw_http_fields: the field section that request and response heads share
 * (RFC 9112 5, RFC 9110 5), and the head-wide helpers both parsers use.
 *
 * Field lines are read by a byte-level state machine whose state lives in
 * the head (struct gw_http_scan), so each call goes on where the previous
 * one stopped. Strict by design, as a proxy must be: obs-fold, whitespace
 * before the colon, bare CR or LF and control characters are rejected. A
 * line is interpreted once its CRLF is read: the values of the fields that
 * frame the message or the connection (Host, Content-Length,
 * Transfer-Encoding, Connection, Upgrade, Expect) are checked there and
 * noted in the scan state; what they mean together is judged by the request
 * or the response parser once the head is complete, as their rules differ. */
#include "gw_http.h"
#include "gw_http_s.h"
#include "gw_http_self.h"

#include <string.h>

/* Field-section states (scan.state); 0 while the start line is read. */
enum {
	FS_START_LINE = 0,
	FS_LINE_START,
	FS_NAME,
	FS_VALUE,
	FS_VALUE_LF,
	FS_END_LF,
};

int gw_http_head_fail(struct gw_http_head *head_ptr, int status, const char *reason_ptr)
{
	head_ptr->error_ptr = reason_ptr;
	head_ptr->scan.result = -status;
	return -status;
}

/* The number of bytes of the buffer a head may use, given the limits. */
static size_t head_byte_limit(const struct gw_http_limits *limits_ptr)
{
	return limits_ptr->max_head_bytes < GW_HTTP_HEAD_BYTES_MAX ? limits_ptr->max_head_bytes
								   : GW_HTTP_HEAD_BYTES_MAX;
}

/* Both parsers are called again and again with the same buffer, grown, and
 * must neither answer twice nor read past the head byte limit. */
int gw_http_head_resume(const struct gw_http_head *head_ptr, size_t len, const struct gw_http_limits *limits_ptr,
			size_t *scan_len_ptr)
{
	size_t byte_limit = head_byte_limit(limits_ptr);

	*scan_len_ptr = len < byte_limit ? len : byte_limit;
	return head_ptr->scan.result == 0 && head_ptr->scan.pos <= *scan_len_ptr;
}

/* Field lines. */

#define BYTES_OF(b) (0x0101010101010101ull * (b))

static uint64_t load64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t load32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* `known` is lower-case letters and '-'. OR-ing 0x20 lowers an upper-case
 * letter and maps no other token character onto a lower-case letter or '-'
 * (only CR, which no name holds, becomes '-'): one comparison a word, the
 * last word overlapping the one before it. */
static int named(const char *name, const char *known, size_t len)
{
	size_t i;

	if (len < 4) {
		for (i = 0; i < len; i++)
			if ((name[i] | 0x20) != known[i])
				return 0;
		return 1;
	}
	if (len < 8)
		return (load32(name) | 0x20202020u) == load32(known) &&
		       (load32(name + len - 4) | 0x20202020u) == load32(known + len - 4);
	for (i = 0; i + 8 < len; i += 8)
		if ((load64(name + i) | BYTES_OF(0x20)) != load64(known + i))
			return 0;
	return (load64(name + len - 8) | BYTES_OF(0x20)) == load64(known + len - 8);
}

/* The kind of a field named `known` when its name is that. */
#define NAMED(name, known, len, kind) (named((name), (known), (len)) ? (kind) : GW_FIELD_OTHER)

/* Names of one length differ in their first letter (x-forwarded-proto
 * and x-request-timeout in their third), so the length and that letter
 * leave one candidate to compare. */
enum gw_http_field_kind gw_http_field_kind_of(const char *name, size_t len)
{
	char first = len ? (char)(name[0] | 0x20) : 0; /* lower case, for letters */

	switch (len) {
	case sizeof("te") - 1:
		return NAMED(name, "te", len, GW_FIELD_TE);
	case sizeof("host") - 1:
		return NAMED(name, "host", len, GW_FIELD_HOST);
	case sizeof("expect") - 1:
		return NAMED(name, "expect", len, GW_FIELD_EXPECT);
	case sizeof("retry-after") - 1:
		return NAMED(name, "retry-after", len, GW_FIELD_RETRY_AFTER);
	case sizeof("content-type") - 1:
		return first == 'c' ? NAMED(name, "content-type", len, GW_FIELD_CONTENT_TYPE)
				    : NAMED(name, "grpc-timeout", len, GW_FIELD_GRPC_TIMEOUT);
	case sizeof("x-envoy-expected-rq-timeout-ms") - 1:
		return NAMED(name, "x-envoy-expected-rq-timeout-ms", len, GW_FIELD_ENVOY_EXPECTED_TIMEOUT);
	case sizeof("upgrade") - 1:
		return first == 'u' ? NAMED(name, "upgrade", len, GW_FIELD_UPGRADE)
				    : NAMED(name, "trailer", len, GW_FIELD_TRAILER);
	case sizeof("connection") - 1:
		return first == 'c' ? NAMED(name, "connection", len, GW_FIELD_CONNECTION)
				    : NAMED(name, "keep-alive", len, GW_FIELD_KEEP_ALIVE);
	case sizeof("content-length") - 1:
		return NAMED(name, "content-length", len, GW_FIELD_CONTENT_LENGTH);
	case sizeof("x-forwarded-for") - 1:
		return NAMED(name, "x-forwarded-for", len, GW_FIELD_X_FORWARDED_FOR);
	case sizeof("proxy-connection") - 1:
		return first == 'p' ? NAMED(name, "proxy-connection", len, GW_FIELD_PROXY_CONNECTION)
				    : NAMED(name, "x-forwarded-host", len, GW_FIELD_X_FORWARDED_HOST);
	case sizeof("transfer-encoding") - 1:
		if (first == 't')
			return NAMED(name, "transfer-encoding", len, GW_FIELD_TRANSFER_ENCODING);
		return (name[2] | 0x20) == 'f' ? NAMED(name, "x-forwarded-proto", len, GW_FIELD_X_FORWARDED_PROTO)
					       : NAMED(name, "x-request-timeout", len, GW_FIELD_X_REQUEST_TIMEOUT);
	default:
		return GW_FIELD_OTHER;
	}
}

static int content_length_field(struct gw_http_head *head_ptr, const char *value_ptr, size_t len)
{
	uint64_t value = 0;
	int r = gw_http_content_length_parse(value_ptr, len, &value);

	if (r == -1)
		return gw_http_head_fail(head_ptr, 400, "invalid Content-Length");
	if (r == -2 || (head_ptr->scan.cl_seen && value != head_ptr->content_length))
		return gw_http_head_fail(head_ptr, 400, "Content-Length values differ");
	head_ptr->length_plain = r == 1 && !head_ptr->scan.cl_seen;
	head_ptr->scan.cl_seen = 1;
	head_ptr->content_length = value;
	return 0;
}

/* Notes each coding in order; whether the list as a whole is acceptable is
 * decided once every Transfer-Encoding line is read. */
static int transfer_encoding_field(struct gw_http_head *head_ptr, const char *value_ptr, size_t len)
{
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	size_t pos = 0;
	size_t off;
	size_t elem_len;
	int r;

	scan_ptr->te_seen = 1;
	while ((r = gw_http_list_next(value_ptr, len, &pos, &off, &elem_len)) > 0) {
		size_t name_len;
		int has_params;

		if (gw_http_transfer_coding_parse(value_ptr + off, elem_len, &name_len, &has_params) < 0)
			return gw_http_head_fail(head_ptr, 400, "malformed Transfer-Encoding");
		if (gw_http_equals_ci(value_ptr + off, name_len, "chunked")) {
			if (has_params)
				return gw_http_head_fail(head_ptr, 400, "chunked with parameters");
			if (scan_ptr->te_chunked_count < UINT8_MAX)
				scan_ptr->te_chunked_count++;
			scan_ptr->te_last_chunked = 1;
		} else {
			scan_ptr->te_unknown = 1;
			scan_ptr->te_last_chunked = 0;
		}
	}
	if (r < 0)
		return gw_http_head_fail(head_ptr, 400, "malformed Transfer-Encoding");
	return 0;
}

/* The options the proxy acts on, told apart by length first: every
 * keep-alive response carries one of them. */
static void connection_option(struct gw_http_scan *scan_ptr, const char *option_ptr, size_t len)
{
	switch (len) {
	case 5:
		if (named(option_ptr, "close", 5))
			scan_ptr->conn_close = 1;
		break;
	case 7:
		if (named(option_ptr, "upgrade", 7))
			scan_ptr->conn_upgrade = 1;
		break;
	case 10:
		if (named(option_ptr, "keep-alive", 10))
			scan_ptr->conn_keep_alive = 1;
		break;
	default:
		break;
	}
}

static int connection_field(struct gw_http_head *head_ptr, const char *buf_ptr, size_t value_off, size_t len)
{
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	const char *value_ptr = buf_ptr + value_off;
	size_t pos = 0;
	size_t off;
	size_t elem_len;
	int r;

	/* Nearly every Connection line is one of these, alone: no list to walk. */
	if (head_ptr->option_count < GW_HTTP_CONNECTION_OPTIONS_MAX &&
	    ((len == 10 && named(value_ptr, "keep-alive", 10)) || (len == 5 && named(value_ptr, "close", 5)))) {
		head_ptr->options[head_ptr->option_count++] = gw_http_span_of(value_off, len);
		connection_option(scan_ptr, value_ptr, len);
		return 0;
	}
	while ((r = gw_http_list_next(value_ptr, len, &pos, &off, &elem_len)) > 0) {
		if (!gw_http_is_token(value_ptr + off, elem_len))
			return gw_http_head_fail(head_ptr, 400, "Connection option is not a token");
		if (head_ptr->option_count >= GW_HTTP_CONNECTION_OPTIONS_MAX)
			return gw_http_head_fail(head_ptr, 431, "too many Connection options");
		head_ptr->options[head_ptr->option_count++] = gw_http_span_of(value_off + off, elem_len);
		connection_option(scan_ptr, value_ptr + off, elem_len);
	}
	if (r < 0)
		return gw_http_head_fail(head_ptr, 400, "Connection option is not a token");
	return 0;
}

/* Records the field line that ends with the CR at `cr`, and interprets the
 * fields that frame the message or the connection. Inlined into the
 * one-pass reader, which calls it for nearly every line. */
static inline __attribute__((always_inline)) int field_line_done(struct gw_http_head *head_ptr, const char *buf_ptr,
								 size_t cr)
{
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	struct gw_http_field *field_ptr = &head_ptr->fields[head_ptr->field_count];
	size_t value_off = scan_ptr->colon + 1;
	size_t value_end = cr;

	/* Nearly every value follows one space. */
	if (value_off < cr && buf_ptr[value_off] == ' ')
		value_off++;
	if (value_off < cr && gw_http_is_ows((unsigned char)buf_ptr[value_off]))
		value_off = gw_http_ows_end(buf_ptr, cr, value_off);

	while (value_end > value_off && gw_http_is_ows((unsigned char)buf_ptr[value_end - 1]))
		value_end--;
	field_ptr->name = gw_http_span_of(scan_ptr->mark, scan_ptr->colon - scan_ptr->mark);
	field_ptr->value = gw_http_span_of(value_off, value_end - value_off);
	field_ptr->kind = (uint8_t)gw_http_field_kind_of(buf_ptr + scan_ptr->mark, field_ptr->name.len);
	field_ptr->nominated = 0;
	head_ptr->field_count++;

	switch (field_ptr->kind) {
	case GW_FIELD_HOST:
		if (scan_ptr->host_count++ == 0)
			scan_ptr->host_field = head_ptr->field_count - 1;
		else
			scan_ptr->host_count = 2;
		return 0;
	case GW_FIELD_CONTENT_LENGTH:
		return content_length_field(head_ptr, buf_ptr + value_off, value_end - value_off);
	case GW_FIELD_TRANSFER_ENCODING:
		return transfer_encoding_field(head_ptr, buf_ptr + value_off, value_end - value_off);
	case GW_FIELD_CONNECTION:
		return connection_field(head_ptr, buf_ptr, value_off, value_end - value_off);
	case GW_FIELD_UPGRADE:
		scan_ptr->upgrade_seen = 1;
		return 0;
	case GW_FIELD_EXPECT:
		if (gw_http_token_list_contains(buf_ptr + value_off, value_end - value_off, "100-continue"))
			scan_ptr->expect_continue = 1;
		return 0;
	default:
		return 0;
	}
}

/* The common case in one pass: a whole, well-formed field line from
 * `pos`, recorded and interpreted. Returns where the next line starts,
 * 0 for anything else (a line not all here, or one that is wrong, which
 * the byte machine below reads again to say what is wrong), or the
 * negative status of a line that is well-formed but unacceptable. */
static long whole_field_line(struct gw_http_head *head_ptr, const char *buf_ptr, size_t pos, size_t scan_len,
			     uint32_t max_fields)
{
	size_t name_end = gw_http_token_chars_end(buf_ptr, pos, scan_len);
	size_t cr;
	int r;

	if (name_end == pos || name_end == scan_len || buf_ptr[name_end] != ':' || head_ptr->field_count >= max_fields)
		return 0;
	cr = gw_http_field_chars_end(buf_ptr, name_end + 1, scan_len);
	if (scan_len - cr < 2 || buf_ptr[cr] != '\r' || buf_ptr[cr + 1] != '\n')
		return 0;
	head_ptr->scan.mark = (uint32_t)pos;
	head_ptr->scan.colon = (uint32_t)name_end;
	r = field_line_done(head_ptr, buf_ptr, cr);
	return r < 0 ? r : (long)(cr + 2);
}

int gw_http_head_scan_fields(struct gw_http_head *head_ptr, const char *buf_ptr, size_t scan_len, uint32_t max_fields)
{
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	size_t pos = scan_ptr->pos;
	long next;
	int r;

	if (max_fields > GW_HTTP_FIELDS_MAX)
		max_fields = GW_HTTP_FIELDS_MAX;
	if (scan_ptr->state == FS_START_LINE)
		scan_ptr->state = FS_LINE_START;
	if (scan_ptr->state == FS_LINE_START) {
		while ((next = whole_field_line(head_ptr, buf_ptr, pos, scan_len, max_fields)) > 0)
			pos = (size_t)next;
		if (next < 0)
			return (int)next;
	}
	while (pos < scan_len) {
		unsigned char c = (unsigned char)buf_ptr[pos];

		switch (scan_ptr->state) {
		case FS_LINE_START:
			if (c == '\r') {
				scan_ptr->state = FS_END_LF;
				pos++;
				break;
			}
			if (gw_http_is_ows(c))
				return gw_http_head_fail(head_ptr, 400, "field line starts with whitespace (obs-fold)");
			if (!gw_http_is_tchar(c))
				return gw_http_head_fail(head_ptr, 400, "field name is not a token");
			if (head_ptr->field_count >= max_fields)
				return gw_http_head_fail(head_ptr, 431, "too many header fields");
			scan_ptr->mark = (uint32_t)pos;
			scan_ptr->state = FS_NAME;
			pos++;
			break;
		case FS_NAME:
			while (pos < scan_len && gw_http_is_tchar((unsigned char)buf_ptr[pos]))
				pos++;
			if (pos == scan_len)
				break;
			if (buf_ptr[pos] != ':')
				return gw_http_head_fail(head_ptr, 400,
							 gw_http_is_ows((unsigned char)buf_ptr[pos])
								 ? "whitespace between field name and colon"
								 : "field name is not a token");
			scan_ptr->colon = (uint32_t)pos;
			scan_ptr->state = FS_VALUE;
			pos++;
			break;
		case FS_VALUE:
			pos = gw_http_field_chars_end(buf_ptr, pos, scan_len);
			if (pos == scan_len)
				break;
			if (buf_ptr[pos] != '\r')
				return gw_http_head_fail(head_ptr, 400,
							 buf_ptr[pos] == '\n' ? "bare LF in field line"
									      : "control character in field value");
			scan_ptr->state = FS_VALUE_LF;
			pos++;
			break;
		case FS_VALUE_LF:
			if (c != '\n')
				return gw_http_head_fail(head_ptr, 400, "bare CR in field line");
			r = field_line_done(head_ptr, buf_ptr, pos - 1);
			if (r < 0)
				return r;
			scan_ptr->state = FS_LINE_START;
			pos++;
			break;
		case FS_END_LF:
			if (c != '\n')
				return gw_http_head_fail(head_ptr, 400, "bare CR at end of head");
			pos++;
			scan_ptr->pos = (uint32_t)pos;
			head_ptr->length = (uint32_t)pos;
			return (int)pos;
		default:
			return gw_http_head_fail(head_ptr, 400, "parser state corrupt");
		}
	}
	scan_ptr->pos = (uint32_t)pos;
	return 0;
}

void gw_http_head_finish_connection(struct gw_http_head *head_ptr, const char *buf_ptr)
{
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	uint64_t option_lengths = 0; /* bit n: an option of n bytes (63: of 63 or more) */

	for (uint32_t j = 0; j < head_ptr->option_count; j++)
		option_lengths |= 1ull << (head_ptr->options[j].len < 63 ? head_ptr->options[j].len : 63);
	for (uint32_t i = 0; option_lengths && i < head_ptr->field_count; i++) {
		struct gw_http_field *field_ptr = &head_ptr->fields[i];

		if (!(option_lengths & (1ull << (field_ptr->name.len < 63 ? field_ptr->name.len : 63))))
			continue;
		/* Dropping a framing field because a client nominated it would
		 * desynchronise us from the upstream: those are never nominated. */
		if (field_ptr->kind == GW_FIELD_HOST || field_ptr->kind == GW_FIELD_CONTENT_LENGTH ||
		    field_ptr->kind == GW_FIELD_TRANSFER_ENCODING)
			continue;
		for (uint32_t j = 0; j < head_ptr->option_count; j++) {
			const struct gw_http_span *option_ptr = &head_ptr->options[j];

			if (field_ptr->name.len == option_ptr->len &&
			    gw_http_same_ci(buf_ptr + field_ptr->name.off, buf_ptr + option_ptr->off,
					    option_ptr->len)) {
				field_ptr->nominated = 1;
				break;
			}
		}
	}
	if (head_ptr->version_minor >= 1)
		head_ptr->keep_alive = !scan_ptr->conn_close;
	else
		head_ptr->keep_alive = scan_ptr->conn_keep_alive && !scan_ptr->conn_close;
}

const struct gw_http_field *gw_http_head_field_find(const struct gw_http_head *head_ptr, const char *buf_ptr,
						    const char *name_ptr)
{
	for (uint32_t i = 0; i < head_ptr->field_count; i++) {
		const struct gw_http_field *field_ptr = &head_ptr->fields[i];

		if (gw_http_equals_ci(buf_ptr + field_ptr->name.off, field_ptr->name.len, name_ptr))
			return field_ptr;
	}
	return NULL;
}
