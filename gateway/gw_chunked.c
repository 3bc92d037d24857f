/* gw_chunked: decoder and encoder of the chunked transfer coding (RFC 9112
 * 7.1), for request bodies and upstream response bodies.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *
 * Framing bytes go through a one-byte-at-a-time state machine (they are few);
 * chunk data is handed back as spans of the caller's buffer. */
#include "gw_chunked.h"
#include "gw_chunked_s.h"
#include "gw_http.h"
#include "gw_http_s.h"

#include <string.h>

/* Decoder states, in the order they occur; the chunk-size line comes first,
 * the trailer section last (the byte limits rely on this order). */
enum {
	CS_SIZE_START = 0,  /* first HEXDIG of a chunk-size */
	CS_SIZE,	    /* more HEXDIG, ';', BWS or CR */
	CS_SIZE_BWS,	    /* whitespace after the size: only ';' may follow */
	CS_EXT_NAME_START,  /* after ';': BWS, then a chunk-ext-name */
	CS_EXT_NAME,	    /* token, then '=', ';', BWS or CR */
	CS_EXT_NAME_BWS,    /* whitespace after a name: '=' or ';' must follow */
	CS_EXT_VALUE_START, /* after '=': BWS, then token or quoted-string */
	CS_EXT_TOKEN,	    /* token value */
	CS_EXT_QUOTED,	    /* inside a quoted-string value */
	CS_EXT_QUOTED_PAIR, /* after a backslash */
	CS_EXT_VALUE_END,   /* after a value: ';', BWS or CR */
	CS_EXT_BWS,	    /* whitespace after a value: only ';' may follow */
	CS_SIZE_LF,	    /* the LF of the chunk-size line */
	CS_DATA,	    /* chunk_left bytes of data */
	CS_DATA_CR,	    /* the CRLF after the data */
	CS_DATA_LF,
	CS_TRAILER_LINE_START, /* a trailer field name, or CR of the final CRLF */
	CS_TRAILER_NAME,
	CS_TRAILER_VALUE,
	CS_TRAILER_LF,
	CS_END_LF, /* LF of the final CRLF */
	CS_DONE,
};

/* A chunk-size above this would overflow 2^63 - 1 at the next hex digit. */
#define CHUNK_SIZE_SHIFT_MAX ((uint64_t)INT64_MAX >> 4)

void gw_chunked_init(struct gw_chunked *chunked_ptr, const struct gw_http_limits *limits_ptr)
{
	memset(chunked_ptr, 0, sizeof(*chunked_ptr));
	chunked_ptr->max_body_bytes = limits_ptr->max_body_bytes;
	chunked_ptr->max_line_bytes = limits_ptr->max_chunk_line_bytes;
	chunked_ptr->max_trailer_bytes = limits_ptr->max_trailer_bytes;
	chunked_ptr->max_trailers = limits_ptr->max_trailers;
}

uint64_t gw_chunked_body_bytes(const struct gw_chunked *chunked_ptr)
{
	return chunked_ptr->body_bytes;
}

uint32_t gw_chunked_trailer_count(const struct gw_chunked *chunked_ptr)
{
	return chunked_ptr->trailer_count;
}

const char *gw_chunked_error(const struct gw_chunked *chunked_ptr)
{
	return chunked_ptr->error_ptr;
}

static int fail(struct gw_chunked *chunked_ptr, int status, const char *reason_ptr)
{
	chunked_ptr->error_ptr = reason_ptr;
	chunked_ptr->result = -status;
	chunked_ptr->state = CS_DONE;
	return -status;
}

/* The size is complete: checked against the body limit as soon as known. */
static int size_done(struct gw_chunked *chunked_ptr)
{
	/* body_bytes never exceeds max_body_bytes: this cannot wrap. */
	if (chunked_ptr->chunk_size > chunked_ptr->max_body_bytes - chunked_ptr->body_bytes)
		return fail(chunked_ptr, 413, "chunked body above the body limit");
	return 0;
}

/* After a chunk-ext-name or value: another extension, the line's end, or
 * whitespace (which must come before a ';'). */
static int ext_separator(struct gw_chunked *chunked_ptr, unsigned char c)
{
	if (c == ';')
		chunked_ptr->state = CS_EXT_NAME_START;
	else if (c == '\r')
		chunked_ptr->state = CS_SIZE_LF;
	else if (gw_http_is_ows(c))
		chunked_ptr->state = CS_EXT_BWS;
	else
		return fail(chunked_ptr, 400, "malformed chunk extension");
	return 0;
}

/* Advances through one byte of framing (every state but CS_DATA). Returns 0,
 * GW_CHUNKED_DONE after the final LF, or a negative status. */
static int framing_step(struct gw_chunked *chunked_ptr, unsigned char c)
{
	int r;

	if (chunked_ptr->state <= CS_SIZE_LF) {
		if (++chunked_ptr->line_bytes > chunked_ptr->max_line_bytes)
			return fail(chunked_ptr, 400, "chunk-size line too long");
	} else if (chunked_ptr->state >= CS_TRAILER_LINE_START) {
		if (++chunked_ptr->trailer_bytes > chunked_ptr->max_trailer_bytes)
			return fail(chunked_ptr, 400, "trailer section too large");
	}

	switch (chunked_ptr->state) {
	case CS_SIZE_START:
		if (!gw_http_is_hexdig(c))
			return fail(chunked_ptr, 400, "chunk-size is not a hex number");
		chunked_ptr->chunk_size = (uint64_t)gw_http_hex_value(c);
		chunked_ptr->state = CS_SIZE;
		return 0;
	case CS_SIZE:
		if (gw_http_is_hexdig(c)) {
			if (chunked_ptr->chunk_size > CHUNK_SIZE_SHIFT_MAX)
				return fail(chunked_ptr, 400, "chunk-size overflows");
			chunked_ptr->chunk_size = (chunked_ptr->chunk_size << 4) | (uint64_t)gw_http_hex_value(c);
			return 0;
		}
		r = size_done(chunked_ptr);
		if (r < 0)
			return r;
		if (c == ';')
			chunked_ptr->state = CS_EXT_NAME_START;
		else if (c == '\r')
			chunked_ptr->state = CS_SIZE_LF;
		else if (gw_http_is_ows(c))
			chunked_ptr->state = CS_SIZE_BWS;
		else
			return fail(chunked_ptr, 400, "chunk-size is not a hex number");
		return 0;
	case CS_SIZE_BWS:
	case CS_EXT_BWS:
		if (c == ';')
			chunked_ptr->state = CS_EXT_NAME_START;
		else if (!gw_http_is_ows(c))
			return fail(chunked_ptr, 400, "whitespace not followed by ';' in chunk-size line");
		return 0;
	case CS_EXT_NAME_START:
		if (gw_http_is_tchar(c))
			chunked_ptr->state = CS_EXT_NAME;
		else if (!gw_http_is_ows(c))
			return fail(chunked_ptr, 400, "chunk-ext-name is not a token");
		return 0;
	case CS_EXT_NAME:
		if (gw_http_is_tchar(c))
			return 0;
		if (c == '=') {
			chunked_ptr->state = CS_EXT_VALUE_START;
			return 0;
		}
		if (gw_http_is_ows(c)) {
			chunked_ptr->state = CS_EXT_NAME_BWS;
			return 0;
		}
		return ext_separator(chunked_ptr, c);
	case CS_EXT_NAME_BWS:
		if (c == '=')
			chunked_ptr->state = CS_EXT_VALUE_START;
		else if (c == ';')
			chunked_ptr->state = CS_EXT_NAME_START;
		else if (!gw_http_is_ows(c))
			return fail(chunked_ptr, 400, "whitespace not followed by '=' or ';' in chunk extension");
		return 0;
	case CS_EXT_VALUE_START:
		if (c == '"')
			chunked_ptr->state = CS_EXT_QUOTED;
		else if (gw_http_is_tchar(c))
			chunked_ptr->state = CS_EXT_TOKEN;
		else if (!gw_http_is_ows(c))
			return fail(chunked_ptr, 400, "chunk-ext-val is neither token nor quoted-string");
		return 0;
	case CS_EXT_TOKEN:
		if (gw_http_is_tchar(c))
			return 0;
		return ext_separator(chunked_ptr, c);
	case CS_EXT_QUOTED:
		if (c == '"')
			chunked_ptr->state = CS_EXT_VALUE_END;
		else if (c == '\\')
			chunked_ptr->state = CS_EXT_QUOTED_PAIR;
		else if (!gw_http_is_qdtext(c))
			return fail(chunked_ptr, 400, "invalid character in quoted chunk-ext-val");
		return 0;
	case CS_EXT_QUOTED_PAIR:
		if (!gw_http_is_field_char(c))
			return fail(chunked_ptr, 400, "invalid quoted-pair in chunk-ext-val");
		chunked_ptr->state = CS_EXT_QUOTED;
		return 0;
	case CS_EXT_VALUE_END:
		return ext_separator(chunked_ptr, c);
	case CS_SIZE_LF:
		if (c != '\n')
			return fail(chunked_ptr, 400, "bare CR in chunk-size line");
		chunked_ptr->line_bytes = 0;
		if (chunked_ptr->chunk_size == 0) {
			chunked_ptr->state = CS_TRAILER_LINE_START;
			return 0;
		}
		chunked_ptr->chunk_left = chunked_ptr->chunk_size;
		chunked_ptr->body_bytes += chunked_ptr->chunk_size;
		chunked_ptr->state = CS_DATA;
		return 0;
	case CS_DATA_CR:
		if (c != '\r')
			return fail(chunked_ptr, 400, "chunk data not followed by CRLF");
		chunked_ptr->state = CS_DATA_LF;
		return 0;
	case CS_DATA_LF:
		if (c != '\n')
			return fail(chunked_ptr, 400, "chunk data not followed by CRLF");
		chunked_ptr->state = CS_SIZE_START;
		return 0;
	case CS_TRAILER_LINE_START:
		if (c == '\r') {
			chunked_ptr->state = CS_END_LF;
			return 0;
		}
		if (gw_http_is_ows(c))
			return fail(chunked_ptr, 400, "trailer line starts with whitespace (obs-fold)");
		if (!gw_http_is_tchar(c))
			return fail(chunked_ptr, 400, "trailer field name is not a token");
		if (++chunked_ptr->trailer_count > chunked_ptr->max_trailers)
			return fail(chunked_ptr, 400, "too many trailer fields");
		chunked_ptr->state = CS_TRAILER_NAME;
		return 0;
	case CS_TRAILER_NAME:
		if (c == ':')
			chunked_ptr->state = CS_TRAILER_VALUE;
		else if (!gw_http_is_tchar(c))
			return fail(chunked_ptr, 400, "trailer field name is not a token");
		return 0;
	case CS_TRAILER_VALUE:
		if (c == '\r')
			chunked_ptr->state = CS_TRAILER_LF;
		else if (!gw_http_is_field_char(c))
			return fail(chunked_ptr, 400, "control character or bare LF in trailer field");
		return 0;
	case CS_TRAILER_LF:
		if (c != '\n')
			return fail(chunked_ptr, 400, "bare CR in trailer field");
		chunked_ptr->state = CS_TRAILER_LINE_START;
		return 0;
	case CS_END_LF:
		if (c != '\n')
			return fail(chunked_ptr, 400, "bare CR at end of chunked body");
		chunked_ptr->state = CS_DONE;
		chunked_ptr->result = GW_CHUNKED_DONE;
		return GW_CHUNKED_DONE;
	default:
		return fail(chunked_ptr, 400, "decoder state corrupt");
	}
}

int gw_chunked_feed(struct gw_chunked *chunked_ptr, const char *buf_ptr, size_t len, size_t *consumed_ptr,
		    size_t *data_off_ptr, size_t *data_len_ptr)
{
	size_t pos = 0;
	int r;

	*consumed_ptr = 0;
	*data_off_ptr = 0;
	*data_len_ptr = 0;
	if (chunked_ptr->result != 0)
		return chunked_ptr->result;
	while (pos < len) {
		if (chunked_ptr->state == CS_DATA) {
			size_t n = len - pos;

			if (n > chunked_ptr->chunk_left)
				n = (size_t)chunked_ptr->chunk_left;
			chunked_ptr->chunk_left -= n;
			if (chunked_ptr->chunk_left == 0)
				chunked_ptr->state = CS_DATA_CR;
			*data_off_ptr = pos;
			*data_len_ptr = n;
			*consumed_ptr = pos + n;
			return GW_CHUNKED_DATA;
		}
		r = framing_step(chunked_ptr, (unsigned char)buf_ptr[pos++]);
		if (r < 0)
			return r;
		if (r == GW_CHUNKED_DONE) {
			*consumed_ptr = pos;
			return GW_CHUNKED_DONE;
		}
	}
	*consumed_ptr = pos;
	return GW_CHUNKED_MORE;
}

size_t gw_chunked_header(char *out_ptr, size_t data_len)
{
	static const char hex[] = "0123456789abcdef";
	int shift = 0;
	size_t n = 0;

	while (shift + 4 < (int)(sizeof(size_t) * 8) && (data_len >> (shift + 4)) != 0)
		shift += 4;
	for (; shift >= 0; shift -= 4)
		out_ptr[n++] = hex[(data_len >> shift) & 0xf];
	out_ptr[n++] = '\r';
	out_ptr[n++] = '\n';
	return n;
}
