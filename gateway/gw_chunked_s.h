#ifndef GW_CHUNKED_S_H
#define GW_CHUNKED_S_H

/* The chunked decoder's state (gw_chunked.h), for the files that embed one:
 * the connection process keeps it beside the request it is forwarding. */

#include <stddef.h>
#include <stdint.h>

struct gw_chunked {
	uint64_t chunk_size; /* the chunk-size being read */
	uint64_t chunk_left; /* data bytes of the current chunk still to come */
	uint64_t body_bytes; /* sum of the chunk sizes read so far */
	uint64_t max_body_bytes;
	size_t line_bytes; /* bytes of the current chunk-size line */
	size_t max_line_bytes;
	size_t trailer_bytes; /* bytes of the trailer section so far */
	size_t max_trailer_bytes;
	uint32_t trailer_count;
	uint32_t max_trailers;
	uint8_t state;
	int result;	       /* sticky: GW_CHUNKED_DONE or a negative status; 0 while decoding */
	const char *error_ptr; /* why the body was rejected, or NULL */
};

#endif
