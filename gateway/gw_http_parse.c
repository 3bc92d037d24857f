/* gw_http_parse: the request head parser of the HTTP/1.1 codec, and the field
 * section parsing that request and response heads share (RFC 9112 2-3, 5-6,
 * RFC 9110 5, 7.2, 8.6).
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

#include <arpa/inet.h>
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

/* Field-section states (scan.state); 0 while the start line is read. */
enum {
	FS_START_LINE = 0,
	FS_LINE_START,
	FS_NAME,
	FS_VALUE,
	FS_VALUE_LF,
	FS_END_LF,
};

/* "HTTP/" DIGIT "." DIGIT: the length of an HTTP-version. */
#define HTTP_VERSION_LEN 8
#define PORT_DIGITS_MAX 5
#define PORT_MAX 65535
#define CONTENT_LENGTH_MAX ((uint64_t)INT64_MAX)

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
	memset(req_ptr, 0, sizeof(*req_ptr));
}

size_t gw_http_head_byte_limit(const struct gw_http_limits *limits_ptr)
{
	return limits_ptr->max_head_bytes < GW_HTTP_HEAD_BYTES_MAX ? limits_ptr->max_head_bytes
								   : GW_HTTP_HEAD_BYTES_MAX;
}

int gw_http_head_fail(struct gw_http_head *head_ptr, int status, const char *reason_ptr)
{
	head_ptr->error_ptr = reason_ptr;
	head_ptr->scan.result = -status;
	return -status;
}

static struct gw_http_span span_of(size_t off, size_t len)
{
	struct gw_http_span span = {.off = (uint32_t)off, .len = (uint32_t)len};
	return span;
}

static unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Whether p[0..len) equals the NUL-terminated `lit_ptr`, ignoring ASCII case. */
static int equals_ci(const char *p, size_t len, const char *lit_ptr)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (lit_ptr[i] == '\0' || ascii_lower((unsigned char)p[i]) != ascii_lower((unsigned char)lit_ptr[i]))
			return 0;
	}
	return lit_ptr[i] == '\0';
}

/* Whether a[0..len) and b[0..len) are equal, ignoring ASCII case. */
static int same_ci(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return 0;
	}
	return 1;
}

static int is_token(const char *p, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!gw_http_is_tchar((unsigned char)p[i]))
			return 0;
	}
	return 1;
}

static size_t token_end(const char *p, size_t len, size_t i)
{
	while (i < len && gw_http_is_tchar((unsigned char)p[i]))
		i++;
	return i;
}

static size_t ows_end(const char *p, size_t len, size_t i)
{
	while (i < len && gw_http_is_ows((unsigned char)p[i]))
		i++;
	return i;
}

/* The index after the quoted-string that starts at p[i] (a '"'), or 0 if it
 * is not one. */
static size_t quoted_string_end(const char *p, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '"')
			return i + 1;
		if (c == '\\') {
			if (++i == len || !gw_http_is_field_char((unsigned char)p[i]))
				return 0;
		} else if (!gw_http_is_qdtext(c)) {
			return 0;
		}
	}
	return 0;
}

/* The next non-empty element of the comma-separated list p[0..len) from
 * *pos_ptr (RFC 9110 5.6.1), OWS trimmed; commas inside a quoted-string do
 * not separate. Returns 1 with the element, 0 at the end of the list, or -1
 * on an unterminated quoted-string. */
static int list_next(const char *p, size_t len, size_t *pos_ptr, size_t *off_ptr, size_t *len_ptr)
{
	size_t pos = *pos_ptr;
	size_t start;
	size_t end;
	int quoted = 0;

	while (pos < len && (gw_http_is_ows((unsigned char)p[pos]) || p[pos] == ','))
		pos++;
	if (pos == len) {
		*pos_ptr = pos;
		return 0;
	}
	start = pos;
	for (; pos < len; pos++) {
		if (quoted) {
			if (p[pos] == '\\')
				pos++;
			else if (p[pos] == '"')
				quoted = 0;
		} else if (p[pos] == '"') {
			quoted = 1;
		} else if (p[pos] == ',') {
			break;
		}
	}
	if (quoted || pos > len)
		return -1;
	end = pos;
	while (end > start && gw_http_is_ows((unsigned char)p[end - 1]))
		end--;
	*off_ptr = start;
	*len_ptr = end - start;
	*pos_ptr = pos;
	return 1;
}

int gw_http_token_list_contains(const char *value_ptr, size_t len, const char *token_ptr)
{
	size_t pos = 0;
	size_t off;
	size_t elem_len;

	while (list_next(value_ptr, len, &pos, &off, &elem_len) > 0) {
		if (equals_ci(value_ptr + off, elem_len, token_ptr))
			return 1;
	}
	return 0;
}

/* Content-Length = 1*DIGIT, also as a list of identical values ("5, 5",
 * RFC 9110 8.6). Returns 0 with the value, -1 if malformed or above 2^63-1,
 * -2 if the values differ. */
static int content_length_parse(const char *p, size_t len, uint64_t *value_ptr)
{
	size_t pos = 0;
	size_t off;
	size_t elem_len;
	int count = 0;
	int r;

	while ((r = list_next(p, len, &pos, &off, &elem_len)) > 0) {
		uint64_t value = 0;

		for (size_t i = off; i < off + elem_len; i++) {
			unsigned digit = (unsigned char)p[i] - '0';

			if (digit > 9 || value > (CONTENT_LENGTH_MAX - digit) / 10)
				return -1;
			value = value * 10 + digit;
		}
		if (count > 0 && value != *value_ptr)
			return -2;
		*value_ptr = value;
		count++;
	}
	return (r < 0 || count == 0) ? -1 : 0;
}

/* transfer-coding = token *( OWS ";" OWS token BWS "=" BWS ( token /
 * quoted-string ) ) (RFC 9112 7, RFC 9110 10.1.4). Returns 0 with the
 * length of the coding's name and whether it has parameters, -1 if
 * malformed. */
static int transfer_coding_parse(const char *p, size_t len, size_t *name_len_ptr, int *has_params_ptr)
{
	size_t i = token_end(p, len, 0);

	if (i == 0)
		return -1;
	*name_len_ptr = i;
	*has_params_ptr = 0;
	while (i < len) {
		size_t j;

		i = ows_end(p, len, i);
		if (i == len || p[i] != ';')
			return -1;
		i = ows_end(p, len, i + 1);
		j = token_end(p, len, i);
		if (j == i)
			return -1;
		i = ows_end(p, len, j);
		if (i == len || p[i] != '=')
			return -1;
		i = ows_end(p, len, i + 1);
		if (i < len && p[i] == '"')
			j = quoted_string_end(p, len, i);
		else
			j = token_end(p, len, i);
		if (j <= i)
			return -1;
		i = j;
		*has_params_ptr = 1;
	}
	return 0;
}

/* port = 1*5DIGIT up to 65535 (RFC 3986 allows an empty port; we do not). */
static int port_valid(const char *p, size_t len)
{
	unsigned port = 0;

	if (len == 0 || len > PORT_DIGITS_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		port = port * 10 + (unsigned)(p[i] - '0');
	}
	return port <= PORT_MAX;
}

/* unreserved / sub-delims of RFC 3986 2.2-2.3 (pct-encoded handled apart). */
static int is_reg_name_char(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && strchr("-._~!$&'()*+,;=", c) != NULL;
}

/* uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): a reg-name (which
 * covers IPv4 addresses) or an [IPv6] literal; never empty, never with
 * userinfo or whitespace. */
static int host_valid(const char *p, size_t len, int port_required)
{
	size_t i = 0;

	if (len == 0)
		return 0;
	if (p[0] == '[') {
		char addr[INET6_ADDRSTRLEN];
		struct in6_addr in6;
		const char *close_ptr = memchr(p, ']', len);
		size_t addr_len;

		if (close_ptr == NULL)
			return 0;
		addr_len = (size_t)(close_ptr - p) - 1;
		if (addr_len == 0 || addr_len >= sizeof(addr))
			return 0;
		memcpy(addr, p + 1, addr_len);
		addr[addr_len] = '\0';
		if (inet_pton(AF_INET6, addr, &in6) != 1)
			return 0;
		i = addr_len + 2;
	} else {
		for (; i < len && p[i] != ':'; i++) {
			if (p[i] == '%') {
				if (len - i < 3 || !gw_http_is_hexdig((unsigned char)p[i + 1]) ||
				    !gw_http_is_hexdig((unsigned char)p[i + 2]))
					return 0;
				i += 2;
			} else if (!is_reg_name_char((unsigned char)p[i])) {
				return 0;
			}
		}
		if (i == 0)
			return 0;
	}
	if (i == len)
		return !port_required;
	if (p[i] != ':')
		return 0;
	return port_valid(p + i + 1, len - i - 1);
}

/* Field section (shared with responses). */

static enum gw_http_field_kind field_kind(const char *name_ptr, size_t len)
{
	static const struct {
		const char *name_ptr;
		enum gw_http_field_kind kind;
	} known[] = {
		{"host", GW_FIELD_HOST},
		{"content-length", GW_FIELD_CONTENT_LENGTH},
		{"transfer-encoding", GW_FIELD_TRANSFER_ENCODING},
		{"connection", GW_FIELD_CONNECTION},
		{"upgrade", GW_FIELD_UPGRADE},
		{"expect", GW_FIELD_EXPECT},
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (equals_ci(name_ptr, len, known[i].name_ptr))
			return known[i].kind;
	}
	return GW_FIELD_OTHER;
}

static int content_length_field(struct gw_http_head *head_ptr, const char *value_ptr, size_t len)
{
	uint64_t value = 0;
	int r = content_length_parse(value_ptr, len, &value);

	if (r == -1)
		return gw_http_head_fail(head_ptr, 400, "invalid Content-Length");
	if (r == -2 || (head_ptr->scan.cl_seen && value != head_ptr->content_length))
		return gw_http_head_fail(head_ptr, 400, "Content-Length values differ");
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
	while ((r = list_next(value_ptr, len, &pos, &off, &elem_len)) > 0) {
		size_t name_len;
		int has_params;

		if (transfer_coding_parse(value_ptr + off, elem_len, &name_len, &has_params) < 0)
			return gw_http_head_fail(head_ptr, 400, "malformed Transfer-Encoding");
		if (equals_ci(value_ptr + off, name_len, "chunked")) {
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

static int connection_field(struct gw_http_head *head_ptr, const char *buf_ptr, size_t value_off, size_t len)
{
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	const char *value_ptr = buf_ptr + value_off;
	size_t pos = 0;
	size_t off;
	size_t elem_len;
	int r;

	while ((r = list_next(value_ptr, len, &pos, &off, &elem_len)) > 0) {
		if (!is_token(value_ptr + off, elem_len))
			return gw_http_head_fail(head_ptr, 400, "Connection option is not a token");
		if (head_ptr->option_count >= GW_HTTP_CONNECTION_OPTIONS_MAX)
			return gw_http_head_fail(head_ptr, 431, "too many Connection options");
		head_ptr->options[head_ptr->option_count++] = span_of(value_off + off, elem_len);
		if (equals_ci(value_ptr + off, elem_len, "close"))
			scan_ptr->conn_close = 1;
		else if (equals_ci(value_ptr + off, elem_len, "keep-alive"))
			scan_ptr->conn_keep_alive = 1;
		else if (equals_ci(value_ptr + off, elem_len, "upgrade"))
			scan_ptr->conn_upgrade = 1;
	}
	if (r < 0)
		return gw_http_head_fail(head_ptr, 400, "Connection option is not a token");
	return 0;
}

/* Records the field line that ends with the CR at `cr`, and interprets the
 * fields that frame the message or the connection. */
static int field_line_done(struct gw_http_head *head_ptr, const char *buf_ptr, size_t cr)
{
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	struct gw_http_field *field_ptr = &head_ptr->fields[head_ptr->field_count];
	size_t value_off = ows_end(buf_ptr, cr, scan_ptr->colon + 1);
	size_t value_end = cr;

	while (value_end > value_off && gw_http_is_ows((unsigned char)buf_ptr[value_end - 1]))
		value_end--;
	field_ptr->name = span_of(scan_ptr->mark, scan_ptr->colon - scan_ptr->mark);
	field_ptr->value = span_of(value_off, value_end - value_off);
	field_ptr->kind = (uint8_t)field_kind(buf_ptr + scan_ptr->mark, field_ptr->name.len);
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

int gw_http_head_scan_fields(struct gw_http_head *head_ptr, const char *buf_ptr, size_t scan_len, uint32_t max_fields)
{
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	size_t pos = scan_ptr->pos;
	int r;

	if (max_fields > GW_HTTP_FIELDS_MAX)
		max_fields = GW_HTTP_FIELDS_MAX;
	if (scan_ptr->state == FS_START_LINE)
		scan_ptr->state = FS_LINE_START;
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
			while (pos < scan_len && gw_http_is_field_char((unsigned char)buf_ptr[pos]))
				pos++;
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

	for (uint32_t i = 0; i < head_ptr->field_count; i++) {
		struct gw_http_field *field_ptr = &head_ptr->fields[i];

		/* Dropping a framing field because a client nominated it would
		 * desynchronise us from the upstream: those are never nominated. */
		if (field_ptr->kind == GW_FIELD_HOST || field_ptr->kind == GW_FIELD_CONTENT_LENGTH ||
		    field_ptr->kind == GW_FIELD_TRANSFER_ENCODING)
			continue;
		for (uint32_t j = 0; j < head_ptr->option_count; j++) {
			const struct gw_http_span *option_ptr = &head_ptr->options[j];

			if (field_ptr->name.len == option_ptr->len &&
			    same_ci(buf_ptr + field_ptr->name.off, buf_ptr + option_ptr->off, option_ptr->len)) {
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

		if (equals_ci(buf_ptr + field_ptr->name.off, field_ptr->name.len, name_ptr))
			return field_ptr;
	}
	return NULL;
}

const struct gw_http_field *gw_http_header_find(const struct gw_request *req_ptr, const char *buf_ptr,
						const char *name_ptr)
{
	return gw_http_head_field_find(&req_ptr->head, buf_ptr, name_ptr);
}

/* Request line (RFC 9112 3). */

static enum gw_http_method method_lookup(const char *p, size_t len)
{
	static const struct {
		const char *name_ptr;
		enum gw_http_method method;
	} known[] = {
		{"GET", GW_METHOD_GET},		{"HEAD", GW_METHOD_HEAD},     {"POST", GW_METHOD_POST},
		{"PUT", GW_METHOD_PUT},		{"DELETE", GW_METHOD_DELETE}, {"CONNECT", GW_METHOD_CONNECT},
		{"OPTIONS", GW_METHOD_OPTIONS}, {"TRACE", GW_METHOD_TRACE},   {"PATCH", GW_METHOD_PATCH},
	};

	/* Methods are case-sensitive (RFC 9110 9.1). */
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strlen(known[i].name_ptr) == len && memcmp(known[i].name_ptr, p, len) == 0)
			return known[i].method;
	}
	return GW_METHOD_OTHER;
}

/* VCHAR but '#': no whitespace, no CTL, no fragment, no obs-text. */
static int is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '#';
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
		if (!host_valid(t, len, 1))
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
	if (!host_valid(t + authority, authority_end - authority, 0))
		return gw_http_head_fail(head_ptr, 400, "invalid authority in absolute-form target");
	req_ptr->target_form = GW_TARGET_ABSOLUTE;
	req_ptr->target_authority = span_of(req_ptr->target.off + authority, authority_end - authority);
	req_ptr->target_path = span_of(req_ptr->target.off + authority_end, len - authority_end);
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
			req_ptr->method_span = span_of(scan_ptr->mark, pos - scan_ptr->mark);
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
			req_ptr->target = span_of(scan_ptr->mark, pos - scan_ptr->mark);
			scan_ptr->mark = (uint32_t)++pos;
			scan_ptr->line_state = RL_VERSION;
			break;
		case RL_VERSION:
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

		if (!host_valid(buf_ptr + host_ptr->value.off, host_ptr->value.len, 0))
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
	size_t byte_limit = gw_http_head_byte_limit(limits_ptr);
	size_t scan_len = len < byte_limit ? len : byte_limit;
	int r;

	if (scan_ptr->result != 0)
		return scan_ptr->result;
	if (scan_ptr->pos > scan_len)
		return 0; /* a shorter buffer than last time: nothing new */
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
	if (len > byte_limit)
		return gw_http_head_fail(head_ptr, 431, "request head too large");
	return 0;
}
