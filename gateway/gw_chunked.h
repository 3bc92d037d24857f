#ifndef GW_CHUNKED_H
#define GW_CHUNKED_H

/* The chunked transfer coding (RFC 9112 7.1): an incremental decoder that
 * finds the chunk data inside the caller's buffers, so the data can be
 * forwarded without copying, and a small encoder to frame data again.
 *
 * The decoder works byte by byte and keeps its whole state in struct
 * gw_chunked (gw_chunked_s.h), so any split of the input is fine, including
 * the two segments of a ring buffer. It is strict: chunk sizes are 1*HEXDIG
 * below 2^63, whitespace only before ';', chunk extensions well-formed
 * (token or quoted-string values), every line ends in CRLF, chunk data is
 * followed by CRLF. Trailer fields are checked with the field-line rules of
 * heads, counted and bounded, then dropped: they are consumed as framing. */

#include <stddef.h>
#include <stdint.h>

struct gw_chunked;
struct gw_http_limits;

/* gw_chunked_feed() results; errors are negative HTTP statuses. */
enum gw_chunked_result {
	GW_CHUNKED_MORE = 0, /* all of buf consumed: feed more bytes */
	GW_CHUNKED_DATA = 1, /* a span of chunk data was found: feed the rest */
	GW_CHUNKED_DONE = 2, /* last chunk, trailers and final CRLF consumed */
};

/* Starts a new chunked body, with max_body_bytes (413), max_trailers,
 * max_trailer_bytes and max_chunk_line_bytes (400) copied from `limits_ptr`. */
void gw_chunked_init(struct gw_chunked *chunked_ptr, const struct gw_http_limits *limits_ptr);

/* Decodes buf_ptr[0..len). Sets *consumed_ptr to the bytes used and, when it
 * returns GW_CHUNKED_DATA, data_off/data_len to chunk data inside
 * buf_ptr[0..*consumed_ptr) (else data_len is 0). Stops after one span of
 * data and after the end of the body: bytes past *consumed_ptr belong to
 * the next call, or to the next message after GW_CHUNKED_DONE. Returns a
 * gw_chunked_result, or -400 (malformed) / -413 (over max_body_bytes), and
 * keeps returning DONE or the error until the next init. */
int gw_chunked_feed(struct gw_chunked *chunked_ptr, const char *buf_ptr, size_t len, size_t *consumed_ptr,
		    size_t *data_off_ptr, size_t *data_len_ptr);

/* Chunk data bytes decoded so far. */
uint64_t gw_chunked_body_bytes(const struct gw_chunked *chunked_ptr);
/* Trailer field lines read so far. */
uint32_t gw_chunked_trailer_count(const struct gw_chunked *chunked_ptr);
/* Why the body was rejected (a static string), or NULL. */
const char *gw_chunked_error(const struct gw_chunked *chunked_ptr);

/* Encoder. A chunk is GW_CHUNKED_HEADER_MAX bytes or fewer of header written
 * by gw_chunked_header(), the data, then GW_CHUNKED_CRLF; the body ends with
 * GW_CHUNKED_LAST (the last chunk and an empty trailer section). */
#define GW_CHUNKED_HEADER_MAX (sizeof(size_t) * 2 + 2)
#define GW_CHUNKED_CRLF "\r\n"
#define GW_CHUNKED_CRLF_LEN 2
#define GW_CHUNKED_LAST "0\r\n\r\n"
#define GW_CHUNKED_LAST_LEN 5

/* Writes the chunk-size line for `data_len` (> 0) bytes of data, lowercase
 * hex and CRLF, into out_ptr (GW_CHUNKED_HEADER_MAX bytes); returns its
 * length. No NUL is written. */
size_t gw_chunked_header(char *out_ptr, size_t data_len);

#endif
