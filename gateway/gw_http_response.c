/* gw_http_response: the response head parser of the HTTP/1.1 codec (RFC 9112
 * 4, 6.3). It reads what an upstream answered: the status line, the field
 * lines (read by gw_http_fields.c, by the same rules as a request's), and
 * how the body is delimited.
 *
 * Every error is -502: whatever is wrong with an upstream's answer, the
 * client gets a Bad Gateway; the reason is kept in head.error_ptr for the
 * log. As strict as for requests where framing is concerned (the response
 * body is re-framed or spliced by what we read here); lenient only on an
 * empty reason phrase without its SP, which frames nothing. */
#include "gw_http.h"
#include "gw_http_s.h"
#include "gw_http_self.h"

#include <stddef.h>
#include <string.h>

/* Status-line states (scan.line_state). */
enum {
	SL_VERSION = 0,
	SL_CODE,
	SL_REASON,
	SL_LF,
	SL_DONE,
};

#define STATUS_VERSION_LEN 8 /* "HTTP/1.x" */
#define STATUS_CODE_LEN 3
#define STATUS_MIN 100
#define STATUS_MAX 599
#define STATUS_BAD_GATEWAY 502

void gw_http_response_init(struct gw_response *resp_ptr)
{
	/* Not the field and option arrays: some 2.7 KB per head, and only
	 * the entries the counts cover are ever read. */
	memset(resp_ptr, 0, offsetof(struct gw_response, head.fields));
}

const struct gw_http_field *gw_http_response_header_find(const struct gw_response *resp_ptr, const char *buf_ptr,
							 const char *name_ptr)
{
	return gw_http_head_field_find(&resp_ptr->head, buf_ptr, name_ptr);
}

static int fail(struct gw_response *resp_ptr, const char *reason_ptr)
{
	return gw_http_head_fail(&resp_ptr->head, STATUS_BAD_GATEWAY, reason_ptr);
}

/* Whether `c` may be byte `i` of "HTTP/1." DIGIT; any minor version above 1
 * is read as 1.1 (RFC 9110 2.5). */
static int version_char_ok(size_t i, unsigned char c)
{
	static const char prefix[] = "HTTP/1.";

	if (i < sizeof(prefix) - 1)
		return c == (unsigned char)prefix[i];
	return c >= '0' && c <= '9';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The common case in one pass: "HTTP/1.x NNN reason" CRLF, all here from
 * the start. 1 when read, 0 to leave the line to the byte machine below
 * (not all here, or wrong: it says what is wrong). */
static int whole_status_line(struct gw_response *resp_ptr, const char *buf_ptr, size_t scan_len)
{
	struct gw_http_head *head_ptr = &resp_ptr->head;
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	const char *p = buf_ptr + scan_ptr->pos;
	size_t reason_off = scan_ptr->pos + STATUS_VERSION_LEN + 1 + STATUS_CODE_LEN + 1;
	size_t cr = reason_off - 1;
	unsigned status;

	if (scan_ptr->line_state != SL_VERSION || scan_ptr->pos != scan_ptr->mark || scan_len < reason_off + 1 ||
	    memcmp(p, "HTTP/1.", 7) != 0 || !is_digit(p[7]) || p[8] != ' ' || !is_digit(p[9]) || !is_digit(p[10]) ||
	    !is_digit(p[11]))
		return 0;
	status = (unsigned)(p[9] - '0') * 100 + (unsigned)(p[10] - '0') * 10 + (unsigned)(p[11] - '0');
	if (status < STATUS_MIN || status > STATUS_MAX)
		return 0;
	if (p[12] == ' ')
		cr = gw_http_field_chars_end(buf_ptr, reason_off, scan_len);
	else
		reason_off = cr;
	if (scan_len - cr < 2 || buf_ptr[cr] != '\r' || buf_ptr[cr + 1] != '\n')
		return 0;
	head_ptr->version_minor = p[7] == '0' ? 0 : 1;
	resp_ptr->status = (uint16_t)status;
	resp_ptr->reason = gw_http_span_of(reason_off, cr - reason_off);
	scan_ptr->pos = (uint32_t)(cr + 2);
	scan_ptr->line_state = SL_DONE;
	return 1;
}

/* Reads the status line from scan.pos; returns 1 once it is complete, 0 if
 * more bytes are needed, or -502. */
static int scan_status_line(struct gw_response *resp_ptr, const char *buf_ptr, size_t scan_len)
{
	struct gw_http_head *head_ptr = &resp_ptr->head;
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	size_t pos = scan_ptr->pos;

	while (pos < scan_len && scan_ptr->line_state != SL_DONE) {
		unsigned char c = (unsigned char)buf_ptr[pos];
		size_t i = pos - scan_ptr->mark;

		switch (scan_ptr->line_state) {
		case SL_VERSION:
			if (i == STATUS_VERSION_LEN) {
				if (c != ' ')
					return fail(resp_ptr, "malformed status line");
				head_ptr->version_minor = buf_ptr[pos - 1] == '0' ? 0 : 1;
				scan_ptr->mark = (uint32_t)pos + 1;
				scan_ptr->line_state = SL_CODE;
			} else if (!version_char_ok(i, c)) {
				return fail(resp_ptr, "malformed or unsupported HTTP version");
			}
			pos++;
			break;
		case SL_CODE:
			if (i < STATUS_CODE_LEN) {
				if (c < '0' || c > '9')
					return fail(resp_ptr, "status code is not 3 digits");
				resp_ptr->status = (uint16_t)(resp_ptr->status * 10 + (c - '0'));
				pos++;
				break;
			}
			if (resp_ptr->status < STATUS_MIN || resp_ptr->status > STATUS_MAX)
				return fail(resp_ptr, "status code out of range");
			if (c == ' ') {
				scan_ptr->mark = (uint32_t)pos + 1;
				scan_ptr->line_state = SL_REASON;
			} else if (c == '\r') {
				scan_ptr->mark = (uint32_t)pos;
				resp_ptr->reason = (struct gw_http_span){.off = (uint32_t)pos, .len = 0};
				scan_ptr->line_state = SL_LF;
			} else {
				return fail(resp_ptr, "status code is not 3 digits");
			}
			pos++;
			break;
		case SL_REASON:
			while (pos < scan_len && gw_http_is_field_char((unsigned char)buf_ptr[pos]))
				pos++;
			if (pos == scan_len)
				break;
			if (buf_ptr[pos] != '\r')
				return fail(resp_ptr, "control character or bare LF in reason phrase");
			resp_ptr->reason =
				(struct gw_http_span){.off = scan_ptr->mark, .len = (uint32_t)pos - scan_ptr->mark};
			scan_ptr->line_state = SL_LF;
			pos++;
			break;
		case SL_LF:
			if (c != '\n')
				return fail(resp_ptr, "bare CR in status line");
			scan_ptr->line_state = SL_DONE;
			pos++;
			break;
		default:
			return fail(resp_ptr, "parser state corrupt");
		}
	}
	scan_ptr->pos = (uint32_t)pos;
	return scan_ptr->line_state == SL_DONE;
}

/* The whole head is read: body framing per RFC 9112 6.3, and connection. */
static int response_head_done(struct gw_response *resp_ptr, const char *buf_ptr, int request_method_is_head)
{
	struct gw_http_head *head_ptr = &resp_ptr->head;
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	uint16_t status = resp_ptr->status;
	int no_body = request_method_is_head || status < 200 || status == 204 || status == 304;

	/* Checked even where the body is absent: the head is forwarded as is. */
	if (scan_ptr->te_seen) {
		if (scan_ptr->cl_seen)
			return fail(resp_ptr, "both Transfer-Encoding and Content-Length");
		if (head_ptr->version_minor == 0)
			return fail(resp_ptr, "Transfer-Encoding in an HTTP/1.0 response");
		/* Other codings would have to be passed on undecoded to a client
		 * that may not know them: we take chunked alone. */
		if (scan_ptr->te_chunked_count != 1 || !scan_ptr->te_last_chunked || scan_ptr->te_unknown)
			return fail(resp_ptr, "transfer coding other than a single chunked");
	}
	if (status == 101) {
		if (!scan_ptr->upgrade_seen)
			return fail(resp_ptr, "101 without Upgrade");
		head_ptr->upgrade = 1;
	}

	if (no_body)
		head_ptr->body = GW_BODY_NONE;
	else if (scan_ptr->te_seen)
		head_ptr->body = GW_BODY_CHUNKED;
	else if (scan_ptr->cl_seen)
		head_ptr->body = GW_BODY_LENGTH;
	else
		head_ptr->body = GW_BODY_UNTIL_CLOSE;

	gw_http_head_finish_connection(head_ptr, buf_ptr);
	if (head_ptr->body == GW_BODY_UNTIL_CLOSE || head_ptr->upgrade)
		head_ptr->keep_alive = 0;
	return 0;
}

int gw_http_parse_response(struct gw_response *resp_ptr, const char *buf_ptr, size_t len,
			   const struct gw_http_limits *limits_ptr, int request_method_is_head)
{
	struct gw_http_head *head_ptr = &resp_ptr->head;
	struct gw_http_scan *scan_ptr = &head_ptr->scan;
	size_t scan_len;
	int r;

	if (!gw_http_head_resume(head_ptr, len, limits_ptr, &scan_len))
		return scan_ptr->result;
	r = whole_status_line(resp_ptr, buf_ptr, scan_len);
	if (r == 0)
		r = scan_status_line(resp_ptr, buf_ptr, scan_len);
	if (r > 0)
		r = gw_http_head_scan_fields(head_ptr, buf_ptr, scan_len, limits_ptr->max_headers);
	if (r > 0) {
		int done = response_head_done(resp_ptr, buf_ptr, request_method_is_head);

		if (done < 0)
			return done;
		scan_ptr->result = r;
		return r;
	}
	if (r == 0 && len > scan_len)
		r = fail(resp_ptr, "response head too large");
	if (r < 0) {
		/* The field parser answers as to a client (400, 431). */
		scan_ptr->result = -STATUS_BAD_GATEWAY;
		return -STATUS_BAD_GATEWAY;
	}
	return 0;
}
