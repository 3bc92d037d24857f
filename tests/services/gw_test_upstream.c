/* gw_test_upstream: the HTTP/1.1 upstream the gateway's end-to-end tests
 * proxy to. A keep-alive server that parses just enough HTTP (request line,
 * headers, Content-Length and chunked bodies, Connection, HTTP/1.0, Expect:
 * 100-continue) and behaves by path. A route matches its name exactly or
 * followed by "/ARG":
 *   /echo              200: the request head exactly as received, then the
 *                      body (decoded if chunked, with "X-Body-Was: chunked")
 *   /status/NNN        that status with body "status NNN\n"; 204 and 304
 *                      have no body; a 1xx goes out as an interim response
 *                      followed by a final 200 (a client would wait forever
 *                      for a final response otherwise)
 *   /bytes/N           N bytes of the stream below, Content-Length framed
 *   /bytes-chunked/N   the same, chunked, chunk sizes varying from 1 byte up
 *   /bytes-close/N     the same, no length: the close ends the body
 *   /cksum             "<crc> <length>\n" of the body, as POSIX cksum prints
 *   /stall             reads the request, never answers
 *   /reset             reads the head, then resets the connection
 *   /close-mid-body    Content-Length: 1000, 10 bytes, close
 *   /slow/MS           sleeps MS milliseconds, then 200 "slow\n"
 *   /fail-first/N/KEY[/RA]  503 "failing I of N\n" (with "Retry-After: RA"
 *                      when given) to the first N requests naming KEY that
 *                      this process sees, then 200 "ok after N\n": an
 *                      upstream that fails a few times and recovers
 *   /whoami            200 "<listening port>\n"
 *   /conn              200 "<connection number> <request number on it>\n",
 *                      both counted from 1 by this kernel: shows reuse
 *   /junk-after        200 "ok\n", then 50 ms later, unasked, a whole second
 *                      response ("JUNK!") on the same kept-alive connection
 *   /drop-next         200, then the next request on this connection is
 *                      read and the connection closed without an answer
 *                      (a kept connection the server gave up on)
 *   /ws                WebSocket handshake (RFC 6455), then echoes raw bytes
 *   /switch/PROTO      101 with "Upgrade: PROTO" whatever was asked (or not),
 *                      then echoes raw bytes: an upstream that switches
 *                      protocols unasked
 *   /lockstep-chunked/PORT, /lockstep-sse/PORT, /lockstep-length/PORT/N
 *                      a response the test releases piece by piece: the
 *                      upstream connects to 127.0.0.1:PORT (the test's
 *                      control socket) and obeys one command line at a
 *                      time, each written in one flush, the head in front
 *                      of the first: "head"; "data N" and N bytes (a chunk,
 *                      or raw bytes of the Content-Length N); "fail N" and
 *                      N bytes (those, then a malformed chunk size, and a
 *                      close); "reset" (RST); "end". -sse is chunked with
 *                      "Content-Type: text/event-stream"; Connection: close
 *   /lockstep-upload/PORT  the request body, piece by piece as it arrives,
 *                      goes to the control socket as "got N\n" and the N
 *                      bytes; then 200 "received <total>\n"
 *   /health            200 "ok\n", or 503 "down\n" when $TEST_UPSTREAM_UNHEALTHY
 *                      is 1 or the file $TEST_UPSTREAM_HEALTH_FILE says "down"
 *   anything else      404
 * Every response carries "X-Upstream-Port: <listening port>".
 *
 * The byte stream: byte i is byte i % 8 (little-endian) of splitmix64's
 * output number i / 8 + 1 from seed 0, i.e. of mix((i / 8 + 1) * golden).
 * Any position is computed on its own, so any framing can cut it anywhere,
 * and a test reproduces it in a few lines of Python. */
#include "vk_coro.h"
#include "vk_runtime.h"
#include "vk_service.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* Rings of 64 KiB and bodies moved in ring-sized pieces: a 1 GiB response
 * is 16 Ki writev calls. */
#define RING_BYTES (64 * 1024)
#define IO_BYTES RING_BYTES
#define HEAD_MAX (16 * 1024)
#define PATH_MAX_LEN 2048
#define OUT_MAX 1024
#define LINE_MAX_LEN 1024
#define WS_KEY_MAX 128
/* The request (head, I/O buffer), both rings and the threads' locals. */
#define HEAP_PAGES 80
#define BYTES_MAX (1ull << 40)
#define SLOW_MAX_MS 600000
#define CLOSE_MID_BODY_LENGTH 1000
#define CLOSE_MID_BODY_SENT 10
#define HEALTH_FILE_MAX 64
#define CTL_RING_BYTES 4096
#define CTL_LINE_MAX 64

#define SPLITMIX_GOLDEN 0x9e3779b97f4a7c15ull
#define CKSUM_POLY 0x04c11db7u
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define SHA1_LEN 20
#define BASE64_LEN(n) (((n) + 2) / 3 * 4)

enum framing {
	FRAME_LENGTH,  /* Content-Length */
	FRAME_CHUNKED, /* Transfer-Encoding: chunked (FRAME_CLOSE for HTTP/1.0) */
	FRAME_CLOSE,   /* the close ends the body */
	FRAME_NONE,    /* no body at all: 1xx, 204, 304 */
};

struct request {
	char head[HEAD_MAX]; /* request line, header lines and blank line, as received */
	char buf[IO_BYTES];  /* body pieces in, generated bytes out */
	char out[OUT_MAX];   /* a response head (or a short whole response) */
	int port;
	int conn_number; /* this connection's, counted by the kernel from 1 */
	int request_number;
	int drop_next; /* /drop-next was asked on this connection */
	/* From here on, per request: cleared before each head is read. */
	size_t head_len;
	size_t out_len;
	char path[PATH_MAX_LEN];
	const char *arg; /* the path after the route's "NAME/" */
	char ws_key[WS_KEY_MAX];
	int gone; /* the peer hung up before a whole head */
	int http10;
	int is_head;
	int keep_alive;
	int expect_continue;
	int upgrade_websocket;
	int connection_upgrade;
	/* Body framing, read side: left in the current chunk (or of the
	 * Content-Length); a chunk's data is followed by a CRLF still to read. */
	int chunked;
	int body_done;
	int chunk_crlf;
	uint64_t content_length;
	uint64_t body_left;
	/* One piece of body to take: into take, at most take_cap; took. */
	char *take;
	size_t take_cap;
	size_t took;
	/* Response side: the framing the head announced; data to send. */
	enum framing framing;
	const char *data;
	size_t data_len;
};

/* ---- the byte stream ---- */

static uint64_t stream_word(uint64_t k)
{
	uint64_t z = (k + 1) * SPLITMIX_GOLDEN;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned char stream_byte(uint64_t i)
{
	return (unsigned char)(stream_word(i / 8) >> (8 * (i % 8)));
}

/* Whole words in the middle: one mix per 8 bytes keeps 1 GiB cheap. */
static void stream_fill(char *dst, uint64_t offset, size_t len)
{
	for (; len > 0 && offset % 8; len--)
		*dst++ = (char)stream_byte(offset++);
	for (; len >= 8; len -= 8, offset += 8) {
		uint64_t w = stream_word(offset / 8);

		for (int b = 0; b < 8; b++)
			*dst++ = (char)(w >> (8 * b));
	}
	for (; len > 0; len--)
		*dst++ = (char)stream_byte(offset++);
}

/* Chunk sizes for /bytes-chunked, cycled: tiny ones, odd ones, a full ring. */
static const size_t chunk_sizes[] = {1, 2, 5, 13, 64, 100, 1000, 4096, 8191, 16384, 30000, 65535, IO_BYTES};

/* ---- POSIX cksum: CRC-32 (MSB first) of the data, then of the length in
 * as few bytes as it takes, low byte first; complemented. Sliced by 8 so a
 * large upload is not slowed down by the checksum. ---- */

static uint32_t crc_table[8][256];

static void cksum_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i << 24;

		for (int k = 0; k < 8; k++)
			c = (c & 0x80000000u) ? (c << 1) ^ CKSUM_POLY : c << 1;
		crc_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (int i = 0; i < 256; i++)
			crc_table[t][i] = (crc_table[t - 1][i] << 8) ^ crc_table[0][crc_table[t - 1][i] >> 24];
}

static uint32_t crc_byte(uint32_t crc, unsigned char b)
{
	return (crc << 8) ^ crc_table[0][(crc >> 24) ^ b];
}

static uint32_t cksum_update(uint32_t crc, const unsigned char *p, size_t len)
{
	for (; len >= 8; len -= 8, p += 8) {
		uint32_t w = crc ^ ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);

		crc = crc_table[7][w >> 24] ^ crc_table[6][(w >> 16) & 0xff] ^ crc_table[5][(w >> 8) & 0xff] ^
		      crc_table[4][w & 0xff] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
		      crc_table[0][p[7]];
	}
	for (; len > 0; len--)
		crc = crc_byte(crc, *p++);
	return crc;
}

static uint32_t cksum_final(uint32_t crc, uint64_t length)
{
	for (; length; length >>= 8)
		crc = crc_byte(crc, (unsigned char)length);
	return ~crc;
}

/* ---- SHA-1 (FIPS 180-4) and base64, just for Sec-WebSocket-Accept ---- */

static uint32_t rol32(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
		       p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;

		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5a827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ed9eba1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
		else
			f = b ^ c ^ d, k = 0xca62c1d6;
		t = rol32(a, 5) + f + e + k + w[i];
		e = d, d = c, c = rol32(b, 30), b = a, a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void sha1(const void *data, size_t len, unsigned char digest[SHA1_LEN])
{
	uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
	const unsigned char *p = data;
	unsigned char tail[128] = {0};
	size_t rest = len % 64, tail_len = rest < 56 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;

	for (size_t n = len / 64; n > 0; n--, p += 64)
		sha1_block(h, p);
	memcpy(tail, p, rest);
	tail[rest] = 0x80;
	for (int i = 0; i < 8; i++)
		tail[tail_len - 1 - i] = (unsigned char)(bits >> (8 * i));
	for (size_t off = 0; off < tail_len; off += 64)
		sha1_block(h, tail + off);
	for (int i = 0; i < SHA1_LEN; i++)
		digest[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const unsigned char *in, size_t len, char *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);

		*out++ = alphabet[v >> 18];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		*out++ = i + 2 < len ? alphabet[v & 63] : '=';
	}
	*out = '\0';
}

/* base64(SHA-1(key GUID)), RFC 6455 section 4.2.2. */
static void websocket_accept(const char *key, char out[BASE64_LEN(SHA1_LEN) + 1])
{
	char joined[WS_KEY_MAX + sizeof(WS_GUID)];
	unsigned char digest[SHA1_LEN];
	int len = snprintf(joined, sizeof(joined), "%s%s", key, WS_GUID);

	sha1(joined, (size_t)len, digest);
	base64(digest, sizeof(digest), out);
}

/* ---- health ---- */

static int unhealthy_env;
static const char *health_file;

/* Read at every check, so a test flips health by writing the file. */
static int healthy(void)
{
	char text[HEALTH_FILE_MAX + 1];
	ssize_t n;
	int fd;

	if (unhealthy_env)
		return 0;
	if (!health_file || (fd = open(health_file, O_RDONLY | O_CLOEXEC)) == -1)
		return 1;
	n = read(fd, text, HEALTH_FILE_MAX);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return !strstr(text, "down");
}

/* ---- request head parsing (lenient: a test peer, not a validator) ---- */

static int header_is(const char *line, const char *name)
{
	size_t n = strlen(name);

	return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* The header's value after its leading blanks, up to the line's end (the
 * line is NUL-ended; it is not cut: it is part of the head /echo returns). */
static const char *header_value(const char *line)
{
	const char *v = strchr(line, ':') + 1;

	return v + strspn(v, " \t");
}

static void parse_header(struct request *req, const char *line)
{
	const char *v;

	if (!strchr(line, ':'))
		return;
	v = header_value(line);
	if (header_is(line, "content-length")) {
		req->content_length = strtoull(v, NULL, 10);
	} else if (header_is(line, "transfer-encoding")) {
		req->chunked = strcasestr(v, "chunked") != NULL;
	} else if (header_is(line, "connection")) {
		if (strcasestr(v, "close"))
			req->keep_alive = 0;
		else if (strcasestr(v, "keep-alive"))
			req->keep_alive = 1;
		req->connection_upgrade = strcasestr(v, "upgrade") != NULL;
	} else if (header_is(line, "upgrade")) {
		req->upgrade_websocket = strcasestr(v, "websocket") != NULL;
	} else if (header_is(line, "sec-websocket-key")) {
		snprintf(req->ws_key, sizeof(req->ws_key), "%.*s", (int)strcspn(v, " \t\r\n"), v);
	} else if (header_is(line, "expect")) {
		req->expect_continue = strcasestr(v, "100-continue") != NULL;
	}
}

/* With TEST_UPSTREAM_LOG set: every request line received, one per line,
 * so tests can prove what never reached the upstream. Opened with O_APPEND
 * before the kernels fork, so short lines never interleave. */
static int request_log_fd = -1;

static void log_request_line(const char *line)
{
	size_t len = strcspn(line, "\r\n");
	char buf[1024];

	if (request_log_fd < 0)
		return;
	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	memcpy(buf, line, len);
	buf[len] = '\n';
	(void)!write(request_log_fd, buf, len + 1);
}

/* "METHOD TARGET VERSION": the path is the target without its query, and
 * without scheme and authority in absolute form. */
static int parse_request_line(struct request *req, const char *line)
{
	const char *target = strchr(line, ' ');
	const char *version, *scheme;
	size_t len;

	if (!target)
		return -1;
	log_request_line(line);
	req->is_head = target - line == 4 && strncmp(line, "HEAD", 4) == 0;
	while (*target == ' ')
		target++;
	len = strcspn(target, " ?#\r\n");
	version = target + strcspn(target, " \r\n");
	while (*version == ' ')
		version++;
	req->http10 = strncmp(version, "HTTP/1.1", 8) != 0;
	req->keep_alive = !req->http10;
	scheme = memmem(target, len, "://", 3);
	if (scheme) {
		const char *slash = memchr(scheme + 3, '/', len - (size_t)(scheme + 3 - target));

		len = slash ? len - (size_t)(slash - target) : 0;
		target = slash ? slash : "/";
	}
	if (len == 0 || len >= sizeof(req->path))
		len = 0;
	memcpy(req->path, target, len);
	req->path[len] = '\0';
	return 0;
}

/* Ready for the next request: everything but the buffers and the port. */
static void request_reset(struct request *req)
{
	size_t keep = offsetof(struct request, head_len);

	memset((char *)req + keep, 0, sizeof(*req) - keep);
}

/* Reads the head into req->head, line by line. A head larger than the
 * buffer raises ENOBUFS (answered 431), a nonsense request line EPROTO. */
static void read_head(struct vk_thread *that)
{
	struct {
		char *line;
		size_t len;
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	request_reset(req);
	for (;;) {
		self->line = req->head + req->head_len;
		vk_readline(self->len, self->line, HEAD_MAX - 1 - req->head_len);
		if (self->len == 0 || self->line[self->len - 1] != '\n') {
			req->gone = 1;
			break;
		}
		self->line[self->len] = '\0';
		if (self->line[0] == '\r' || self->line[0] == '\n') {
			if (req->head_len == 0)
				continue; /* a stray CRLF before the request line */
			req->head_len += self->len;
			break;
		}
		if (req->head_len > 0)
			parse_header(req, self->line);
		else if (parse_request_line(req, self->line) == -1)
			vk_raise(EPROTO);
		req->head_len += self->len;
	}
	req->body_left = req->chunked ? 0 : req->content_length;
	req->body_done = !req->chunked && req->content_length == 0;
	vk_end();
}

/* ---- body, read side ---- */

/* The next chunk's size line (after the previous chunk's CRLF); at the
 * last chunk, the trailers up to the blank line, which end the body. */
static void next_chunk(struct vk_thread *that)
{
	struct {
		char line[LINE_MAX_LEN];
		size_t len;
	} * self;
	struct request *req = vk_thread_arg(that);
	char *end;

	vk_begin();
	if (req->chunk_crlf) {
		vk_readline(self->len, self->line, sizeof(self->line));
		req->chunk_crlf = 0;
	}
	vk_readline(self->len, self->line, sizeof(self->line) - 1);
	if (self->len == 0)
		vk_raise(ECONNRESET);
	self->line[self->len] = '\0';
	req->body_left = strtoull(self->line, &end, 16);
	if (end == self->line)
		vk_raise(EPROTO);
	req->chunk_crlf = 1;
	while (req->body_left == 0) {
		vk_readline(self->len, self->line, sizeof(self->line));
		if (self->len == 0)
			vk_raise(ECONNRESET);
		if (self->line[0] == '\r' || self->line[0] == '\n') {
			req->body_done = 1;
			break;
		}
	}
	vk_end();
}

/* Up to take_cap bytes of decoded body into take; took is 0 only once the
 * body is over (body_done). A body cut short raises ECONNRESET. */
static void body_piece(struct vk_thread *that)
{
	struct request *req = vk_thread_arg(that);

	vk_begin_stateless();
	req->took = 0;
	while (!req->body_done && req->body_left == 0) {
		if (!req->chunked)
			req->body_done = 1;
		else
			vk_call(next_chunk, req);
	}
	if (!req->body_done) {
		vk_read_some(req->took, req->take, req->take_cap < req->body_left ? req->take_cap : req->body_left);
		if (req->took == 0)
			vk_raise(ECONNRESET);
		req->body_left -= req->took;
		if (!req->chunked && req->body_left == 0)
			req->body_done = 1;
	}
	vk_end();
}

static void discard_body(struct vk_thread *that)
{
	struct request *req = vk_thread_arg(that);

	vk_begin_stateless();
	while (!req->body_done) {
		req->take = req->buf;
		req->take_cap = sizeof(req->buf);
		vk_call(body_piece, req);
	}
	vk_end();
}

/* ---- responses ---- */

static const char *reason(int status)
{
	static const struct {
		int status;
		const char *text;
	} reasons[] = {
		{100, "Continue"},
		{101, "Switching Protocols"},
		{103, "Early Hints"},
		{200, "OK"},
		{201, "Created"},
		{202, "Accepted"},
		{204, "No Content"},
		{206, "Partial Content"},
		{301, "Moved Permanently"},
		{302, "Found"},
		{304, "Not Modified"},
		{307, "Temporary Redirect"},
		{308, "Permanent Redirect"},
		{400, "Bad Request"},
		{401, "Unauthorized"},
		{403, "Forbidden"},
		{404, "Not Found"},
		{405, "Method Not Allowed"},
		{408, "Request Timeout"},
		{413, "Content Too Large"},
		{429, "Too Many Requests"},
		{431, "Request Header Fields Too Large"},
		{500, "Internal Server Error"},
		{502, "Bad Gateway"},
		{503, "Service Unavailable"},
		{504, "Gateway Timeout"},
	};

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].text;
	return "Status";
}

/* The response head into req->out; sets req->framing (chunked becomes
 * close-framed for an HTTP/1.0 client) and drops keep-alive when the close
 * is what ends the body. `extra` is more header lines, each with CRLF. */
static size_t format_head(struct request *req, int status, enum framing framing, uint64_t length, const char *extra)
{
	char *p = req->out, *end = req->out + sizeof(req->out);

	if (framing == FRAME_CHUNKED && req->http10)
		framing = FRAME_CLOSE;
	if (framing == FRAME_CLOSE)
		req->keep_alive = 0;
	req->framing = framing;
	p += snprintf(p, (size_t)(end - p), "HTTP/1.1 %d %s\r\nX-Upstream-Port: %d\r\n", status, reason(status),
		      req->port);
	if (framing != FRAME_NONE && !(extra && strncasecmp(extra, "Content-Type:", 13) == 0))
		p += snprintf(p, (size_t)(end - p), "Content-Type: text/plain\r\n");
	if (framing == FRAME_LENGTH)
		p += snprintf(p, (size_t)(end - p), "Content-Length: %" PRIu64 "\r\n", length);
	else if (framing == FRAME_CHUNKED)
		p += snprintf(p, (size_t)(end - p), "Transfer-Encoding: chunked\r\n");
	if (!req->keep_alive)
		p += snprintf(p, (size_t)(end - p), "Connection: close\r\n");
	else if (req->http10)
		p += snprintf(p, (size_t)(end - p), "Connection: keep-alive\r\n");
	p += snprintf(p, (size_t)(end - p), "%s\r\n", extra ? extra : "");
	req->out_len = (size_t)(p - req->out);
	return req->out_len;
}

/* A whole response with a short body (none for HEAD) into req->out. */
static size_t format_simple(struct request *req, int status, const char *body)
{
	size_t len = strlen(body);

	format_head(req, status, FRAME_LENGTH, len, NULL);
	if (!req->is_head && req->out_len + len < sizeof(req->out)) {
		memcpy(req->out + req->out_len, body, len);
		req->out_len += len;
	}
	return req->out_len;
}

/* Writes req->data in the framing the head announced (as one chunk when
 * chunked; nothing for HEAD, and never an empty chunk, which would end the
 * body). */
static void send_data(struct vk_thread *that)
{
	struct {
		char size_line[32];
		size_t size_len;
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	if (req->is_head || req->data_len == 0 || req->framing == FRAME_NONE) {
		/* nothing goes on the wire */
	} else if (req->framing == FRAME_CHUNKED) {
		self->size_len = (size_t)snprintf(self->size_line, sizeof(self->size_line), "%zx\r\n", req->data_len);
		vk_write(self->size_line, self->size_len);
		vk_write(req->data, req->data_len);
		vk_write_literal("\r\n");
	} else {
		vk_write(req->data, req->data_len);
	}
	vk_end();
}

/* The end of a chunked body (nothing to do for the other framings). */
static void send_end(struct vk_thread *that)
{
	struct request *req = vk_thread_arg(that);

	vk_begin_stateless();
	if (req->framing == FRAME_CHUNKED && !req->is_head)
		vk_write_literal("0\r\n\r\n");
	vk_end();
}

/* ---- routes ---- */

/* Decimal argument in [min, max], the whole argument. */
static int parse_arg(const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*arg < '0' || *arg > '9')
		return -1;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* /echo: holds up to a buffer of body before answering, so a small request
 * is read whole first and answered with a Content-Length; a larger one
 * streams (chunked if its own length is unknown). */
static void handle_echo(struct vk_thread *that)
{
	struct {
		size_t held;
		uint64_t length;
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	while (!req->body_done && self->held < sizeof(req->buf)) {
		req->take = req->buf + self->held;
		req->take_cap = sizeof(req->buf) - self->held;
		vk_call(body_piece, req);
		self->held += req->took;
	}
	self->length = req->head_len + (req->chunked ? self->held : req->content_length);
	format_head(req, 200, req->body_done || !req->chunked ? FRAME_LENGTH : FRAME_CHUNKED, self->length,
		    req->chunked ? "X-Body-Was: chunked\r\n" : NULL);
	vk_write(req->out, req->out_len);
	req->data = req->head;
	req->data_len = req->head_len;
	vk_call(send_data, req);
	req->data = req->buf;
	req->data_len = self->held;
	vk_call(send_data, req);
	while (!req->body_done) {
		req->take = req->buf;
		req->take_cap = sizeof(req->buf);
		vk_call(body_piece, req);
		req->data_len = req->took;
		vk_call(send_data, req);
	}
	vk_call(send_end, req);
	vk_end();
}

static void handle_status(struct vk_thread *that)
{
	struct {
		uint64_t status;
		char body[32];
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	if (parse_arg(req->arg, 100, 599, &self->status) == -1) {
		format_simple(req, 400, "bad status\n");
	} else if (self->status < 200 || self->status == 204 || self->status == 304) {
		format_head(req, (int)self->status, FRAME_NONE, 0, NULL);
		if (self->status < 200) {
			vk_write(req->out, req->out_len);
			format_simple(req, 200, "after interim\n");
		}
	} else {
		snprintf(self->body, sizeof(self->body), "status %d\n", (int)self->status);
		format_simple(req, (int)self->status, self->body);
	}
	vk_write(req->out, req->out_len);
	vk_end();
}

static enum framing bytes_framing(const struct request *req)
{
	if (strncmp(req->path, "/bytes-chunked", 14) == 0)
		return FRAME_CHUNKED;
	if (strncmp(req->path, "/bytes-close", 12) == 0)
		return FRAME_CLOSE;
	return FRAME_LENGTH;
}

/* /bytes, /bytes-chunked, /bytes-close: the stream, generated piece by
 * piece into the I/O buffer. */
static void handle_bytes(struct vk_thread *that)
{
	struct {
		uint64_t n;
		uint64_t sent;
		size_t chunk;
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	if (parse_arg(req->arg, 0, BYTES_MAX, &self->n) == -1) {
		self->n = 0; /* nothing to stream after the 400 */
		format_simple(req, 400, "bad count\n");
	} else {
		format_head(req, 200, bytes_framing(req), self->n, NULL);
	}
	vk_write(req->out, req->out_len);
	for (self->sent = 0; self->sent < self->n && !req->is_head; self->sent += req->data_len) {
		req->data_len = req->framing == FRAME_CHUNKED
					? chunk_sizes[self->chunk++ % (sizeof(chunk_sizes) / sizeof(chunk_sizes[0]))]
					: sizeof(req->buf);
		if (req->data_len > self->n - self->sent)
			req->data_len = (size_t)(self->n - self->sent);
		stream_fill(req->buf, self->sent, req->data_len);
		req->data = req->buf;
		vk_call(send_data, req);
	}
	vk_call(send_end, req);
	vk_end();
}

static void handle_cksum(struct vk_thread *that)
{
	struct {
		uint32_t crc;
		uint64_t length;
		char body[48];
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	while (!req->body_done) {
		req->take = req->buf;
		req->take_cap = sizeof(req->buf);
		vk_call(body_piece, req);
		self->crc = cksum_update(self->crc, (const unsigned char *)req->buf, req->took);
		self->length += req->took;
	}
	snprintf(self->body, sizeof(self->body), "%" PRIu32 " %" PRIu64 "\n", cksum_final(self->crc, self->length),
		 self->length);
	format_simple(req, 200, self->body);
	vk_write(req->out, req->out_len);
	vk_end();
}

/* Never answers; drops whatever comes until the peer goes (or the server
 * drains: vk_wait_request lets a SIGTERM end it at once). */
static void handle_stall(struct vk_thread *that)
{
	struct {
		int more;
		size_t len;
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	req->keep_alive = 0;
	for (;;) {
		vk_wait_request(self->more);
		if (!self->more)
			break;
		vk_read_some(self->len, req->buf, sizeof(req->buf));
	}
	vk_end();
}

/* A zero linger makes close() send RST instead of FIN. */
static void handle_reset(struct vk_thread *that)
{
	struct request *req = vk_thread_arg(that);
	struct linger hard = {.l_onoff = 1, .l_linger = 0};

	vk_begin_stateless();
	setsockopt(vk_socket_rx_fd(that->socket_ptr), SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
	vk_close();
	req->keep_alive = 0;
	vk_end();
}

static void handle_close_mid_body(struct vk_thread *that)
{
	struct request *req = vk_thread_arg(that);

	vk_begin_stateless();
	format_head(req, 200, FRAME_LENGTH, CLOSE_MID_BODY_LENGTH, NULL);
	vk_write(req->out, req->out_len);
	stream_fill(req->buf, 0, CLOSE_MID_BODY_SENT);
	vk_write(req->buf, CLOSE_MID_BODY_SENT);
	vk_flush();
	vk_close();
	req->keep_alive = 0;
	vk_end();
}

static void handle_slow(struct vk_thread *that)
{
	struct {
		uint64_t ms;
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	if (parse_arg(req->arg, 0, SLOW_MAX_MS, &self->ms) == -1) {
		format_simple(req, 400, "bad milliseconds\n");
	} else {
		vk_sleep(self->ms);
		format_simple(req, 200, "slow\n");
	}
	vk_write(req->out, req->out_len);
	vk_end();
}

/* /fail-first: the keys seen so far and their counts (a test uses few). */
#define FAIL_KEYS_MAX 64
#define FAIL_KEY_LEN 48
static struct {
	char key[FAIL_KEY_LEN];
	uint64_t seen;
} fail_keys[FAIL_KEYS_MAX];

static uint64_t *fail_count(const char *key, size_t len)
{
	for (int i = 0; i < FAIL_KEYS_MAX; i++) {
		if (!fail_keys[i].key[0]) {
			memcpy(fail_keys[i].key, key, len);
			return &fail_keys[i].seen;
		}
		if (strlen(fail_keys[i].key) == len && memcmp(fail_keys[i].key, key, len) == 0)
			return &fail_keys[i].seen;
	}
	return NULL;
}

static void handle_fail_first(struct vk_thread *that)
{
	struct {
		char body[64];
		char extra[48];
	} * self;
	struct request *req = vk_thread_arg(that);
	char *end;
	const char *key, *key_end;
	unsigned long long n, retry_after = 0;
	uint64_t *seen_ptr = NULL;

	vk_begin();
	n = strtoull(req->arg, &end, 10);
	key = *end == '/' ? end + 1 : NULL;
	key_end = key ? strchr(key, '/') : NULL;
	if (key_end)
		retry_after = strtoull(key_end + 1, NULL, 10);
	else if (key)
		key_end = key + strlen(key);
	if (key && key_end > key && (size_t)(key_end - key) < FAIL_KEY_LEN)
		seen_ptr = fail_count(key, (size_t)(key_end - key));
	self->extra[0] = '\0';
	if (!seen_ptr) {
		format_simple(req, 400, "expected /fail-first/N/KEY[/RA]\n");
	} else if (++*seen_ptr <= n) {
		snprintf(self->body, sizeof(self->body), "failing %llu of %llu\n", (unsigned long long)*seen_ptr, n);
		if (retry_after)
			snprintf(self->extra, sizeof(self->extra), "Retry-After: %llu\r\n", retry_after);
		format_head(req, 503, FRAME_LENGTH, strlen(self->body), self->extra);
		if (!req->is_head && req->out_len + strlen(self->body) < sizeof(req->out)) {
			memcpy(req->out + req->out_len, self->body, strlen(self->body));
			req->out_len += strlen(self->body);
		}
	} else {
		snprintf(self->body, sizeof(self->body), "ok after %llu\n", n);
		format_simple(req, 200, self->body);
	}
	vk_write(req->out, req->out_len);
	vk_end();
}

static void handle_whoami(struct vk_thread *that)
{
	struct {
		char body[16];
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	snprintf(self->body, sizeof(self->body), "%d\n", req->port);
	format_simple(req, 200, self->body);
	vk_write(req->out, req->out_len);
	vk_end();
}

static int connections_seen;

static void handle_conn(struct vk_thread *that)
{
	struct {
		char body[32];
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	snprintf(self->body, sizeof(self->body), "%d %d\n", req->conn_number, req->request_number);
	format_simple(req, 200, self->body);
	vk_write(req->out, req->out_len);
	vk_end();
}

static const char junk_response[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nJUNK!";

static void handle_junk_after(struct vk_thread *that)
{
	struct request *req = vk_thread_arg(that);

	vk_begin_stateless();
	format_simple(req, 200, "ok\n");
	vk_write(req->out, req->out_len);
	vk_flush();
	vk_sleep(50);
	vk_write(junk_response, sizeof(junk_response) - 1);
	vk_end();
}

static void handle_drop_next(struct vk_thread *that)
{
	struct request *req = vk_thread_arg(that);

	vk_begin_stateless();
	req->drop_next = 1;
	format_simple(req, 200, "the next request on this connection gets no answer\n");
	vk_write(req->out, req->out_len);
	vk_end();
}

/* After a 101: the connection is a raw echo until the peer closes (or the
 * server drains). */
static void raw_echo(struct vk_thread *that)
{
	struct {
		int more;
		size_t len;
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	for (;;) {
		vk_wait_request(self->more);
		if (!self->more)
			break;
		vk_read_some(self->len, req->buf, sizeof(req->buf));
		vk_write(req->buf, self->len);
	}
	vk_end();
}

/* The handshake, then a raw echo. */
static void handle_ws(struct vk_thread *that)
{
	struct {
		char accept[BASE64_LEN(SHA1_LEN) + 1];
		int upgraded;
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	self->upgraded = req->upgrade_websocket && req->connection_upgrade && req->ws_key[0];
	if (!self->upgraded) {
		format_simple(req, 400, "websocket upgrade expected\n");
	} else {
		websocket_accept(req->ws_key, self->accept);
		req->out_len = (size_t)snprintf(
			req->out, sizeof(req->out),
			"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			"Sec-WebSocket-Accept: %s\r\nX-Upstream-Port: %d\r\n\r\n",
			self->accept, req->port);
		req->keep_alive = 0;
	}
	vk_write(req->out, req->out_len);
	if (self->upgraded)
		vk_call(raw_echo, req);
	vk_end();
}

/* 101 to PROTO, asked or not, then a raw echo like /ws. */
static void handle_switch(struct vk_thread *that)
{
	struct request *req = vk_thread_arg(that);

	vk_begin_stateless();
	req->out_len = (size_t)snprintf(req->out, sizeof(req->out),
					"HTTP/1.1 101 Switching Protocols\r\nUpgrade: %.64s\r\nConnection: Upgrade\r\n"
					"X-Upstream-Port: %d\r\n\r\n",
					*req->arg ? req->arg : "h2c", req->port);
	req->keep_alive = 0;
	vk_write(req->out, req->out_len);
	vk_call(raw_echo, req);
	vk_end();
}

/* ---- lock-step streaming: the test drives the exchange through a control
 * connection, so it can hold each step until it saw the previous one
 * arrive through the gateway. ---- */

/* "PORT" or "PORT/N" into port (and n). */
static int parse_lockstep_arg(const char *arg, uint64_t *port, uint64_t *n)
{
	char *end;

	if (*arg < '0' || *arg > '9')
		return -1;
	*port = strtoull(arg, &end, 10);
	if (*port == 0 || *port > 65535)
		return -1;
	if (!n)
		return *end ? -1 : 0;
	if (*end != '/')
		return -1;
	return parse_arg(end + 1, 0, BYTES_MAX, n);
}

static void ctl_address(struct sockaddr_in *sa, uint64_t port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void handle_lockstep(struct vk_thread *that)
{
	struct {
		struct vk_socket *ctl;
		struct sockaddr_in addr;
		char line[CTL_LINE_MAX];
		size_t len;
		uint64_t port;
		uint64_t length;
		int head_sent;
	} * self;
	struct request *req = vk_thread_arg(that);
	struct linger hard = {.l_onoff = 1, .l_linger = 0};

	vk_begin();
	req->keep_alive = 0;
	self->ctl = NULL;
	self->head_sent = 0;
	if (parse_lockstep_arg(req->arg, &self->port,
			       strncmp(req->path, "/lockstep-length", 16) == 0 ? &self->length : NULL) == -1) {
		format_simple(req, 400, "bad lockstep argument\n");
		vk_write(req->out, req->out_len);
		self->head_sent = -1; /* and nothing more */
	} else {
		self->ctl = vk_socket_alloc(vk_thread_proc_local(that), CTL_RING_BYTES, CTL_RING_BYTES);
		if (!self->ctl)
			vk_raise(ENOMEM);
		ctl_address(&self->addr, self->port);
		vk_connect(self->ctl, &self->addr, sizeof(self->addr));
	}
	while (self->head_sent >= 0) {
		vk_readline_on(self->ctl, self->len, self->line, sizeof(self->line) - 1);
		if (self->len == 0)
			break; /* the test went away */
		self->line[self->len] = '\0';
		if (!self->head_sent) {
			if (strncmp(req->path, "/lockstep-sse", 13) == 0)
				format_head(req, 200, FRAME_CHUNKED, 0,
					    "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n");
			else if (strncmp(req->path, "/lockstep-length", 16) == 0)
				format_head(req, 200, FRAME_LENGTH, self->length, NULL);
			else
				format_head(req, 200, FRAME_CHUNKED, 0, NULL);
			vk_write(req->out, req->out_len);
			self->head_sent = 1;
		}
		if (strncmp(self->line, "data ", 5) == 0 || strncmp(self->line, "fail ", 5) == 0) {
			req->data_len = (size_t)strtoull(self->line + 5, NULL, 10);
			if (req->data_len > sizeof(req->buf))
				vk_raise(EPROTO);
			vk_read_on(self->ctl, self->len, req->buf, req->data_len);
			req->data = req->buf;
			req->data_len = self->len;
			vk_call(send_data, req);
			if (self->line[0] == 'f') {
				if (req->framing == FRAME_CHUNKED)
					vk_write_literal("zz\r\n");
				vk_flush();
				vk_close();
				break;
			}
		} else if (strcmp(self->line, "reset\n") == 0) {
			vk_flush();
			setsockopt(vk_socket_rx_fd(that->socket_ptr), SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
			vk_close();
			break;
		} else if (strcmp(self->line, "end\n") == 0) {
			vk_call(send_end, req);
			vk_flush();
			break;
		}
		vk_flush();
	}
	if (self->ctl)
		vk_socket_free(self->ctl);
	vk_end();
}

static void handle_lockstep_upload(struct vk_thread *that)
{
	struct {
		struct vk_socket *ctl;
		struct sockaddr_in addr;
		char line[CTL_LINE_MAX];
		size_t len;
		uint64_t port;
		uint64_t total;
		char body[48];
	} * self;
	struct request *req = vk_thread_arg(that);

	vk_begin();
	req->keep_alive = 0;
	self->ctl = NULL;
	self->total = 0;
	if (parse_lockstep_arg(req->arg, &self->port, NULL) == -1) {
		vk_call(discard_body, req);
		format_simple(req, 400, "bad lockstep argument\n");
		vk_write(req->out, req->out_len);
	} else {
		self->ctl = vk_socket_alloc(vk_thread_proc_local(that), CTL_RING_BYTES, CTL_RING_BYTES);
		if (!self->ctl)
			vk_raise(ENOMEM);
		ctl_address(&self->addr, self->port);
		vk_connect(self->ctl, &self->addr, sizeof(self->addr));
	}
	while (self->ctl && !req->body_done) {
		req->take = req->buf;
		req->take_cap = sizeof(req->buf);
		vk_call(body_piece, req);
		if (req->took == 0)
			continue;
		self->total += req->took;
		self->len = (size_t)snprintf(self->line, sizeof(self->line), "got %zu\n", req->took);
		vk_write_on(self->ctl, self->line, self->len);
		vk_write_on(self->ctl, req->buf, req->took);
		vk_flush_on(self->ctl);
	}
	if (self->ctl) {
		vk_socket_free(self->ctl);
		snprintf(self->body, sizeof(self->body), "received %" PRIu64 "\n", self->total);
		format_simple(req, 200, self->body);
		vk_write(req->out, req->out_len);
	}
	vk_end();
}

static void handle_health(struct vk_thread *that)
{
	struct request *req = vk_thread_arg(that);

	vk_begin_stateless();
	if (healthy())
		format_simple(req, 200, "ok\n");
	else
		format_simple(req, 503, "down\n");
	vk_write(req->out, req->out_len);
	vk_end();
}

static void handle_not_found(struct vk_thread *that)
{
	struct request *req = vk_thread_arg(that);

	vk_begin_stateless();
	format_simple(req, 404, "not found\n");
	vk_write(req->out, req->out_len);
	vk_end();
}

struct route {
	const char *name;
	vk_thread_fn fn;
	int reads_body; /* else the body is discarded before fn runs */
};

static const struct route routes[] = {
	{"/echo", handle_echo, 1},
	{"/status", handle_status, 0},
	{"/bytes", handle_bytes, 0},
	{"/bytes-chunked", handle_bytes, 0},
	{"/bytes-close", handle_bytes, 0},
	{"/cksum", handle_cksum, 1},
	{"/stall", handle_stall, 0},
	{"/reset", handle_reset, 1},
	{"/close-mid-body", handle_close_mid_body, 0},
	{"/slow", handle_slow, 0},
	{"/fail-first", handle_fail_first, 0},
	{"/whoami", handle_whoami, 0},
	{"/conn", handle_conn, 0},
	{"/drop-next", handle_drop_next, 0},
	{"/junk-after", handle_junk_after, 0},
	{"/ws", handle_ws, 0},
	{"/switch", handle_switch, 0},
	{"/health", handle_health, 0},
	{"/lockstep-chunked", handle_lockstep, 0},
	{"/lockstep-sse", handle_lockstep, 0},
	{"/lockstep-length", handle_lockstep, 0},
	{"/lockstep-upload", handle_lockstep_upload, 1},
};

static const struct route not_found = {"", handle_not_found, 0};

/* NAME or NAME/ARG; sets req->arg. */
static const struct route *route_of(struct request *req)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		size_t n = strlen(routes[i].name);

		if (strncmp(req->path, routes[i].name, n) != 0 || (req->path[n] != '\0' && req->path[n] != '/'))
			continue;
		req->arg = req->path[n] ? req->path + n + 1 : req->path + n;
		return &routes[i];
	}
	req->arg = "";
	return &not_found;
}

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static int wants_continue(const struct request *req)
{
	return req->expect_continue && !req->http10 && (req->chunked || req->content_length > 0);
}

/* Protocol errors get an answer before the close; an I/O error (the peer
 * went away) just ends the connection. */
static size_t format_error(struct request *req, int error)
{
	req->keep_alive = 0;
	if (error == ENOBUFS)
		return format_simple(req, 431, "request head too large\n");
	if (error == EPROTO)
		return format_simple(req, 400, "bad request\n");
	return 0;
}

/* The service, for its listening port (reserved before the kernels fork,
 * so every kernel's copy knows it). */
static struct vk_service *upstream_service;

static void upstream(struct vk_thread *that)
{
	struct {
		struct request req;
		const struct route *route;
		int more;
	} * self;

	vk_begin();
	self->req.port = vk_service_port(upstream_service);
	self->req.conn_number = ++connections_seen;
	vk_catch
	{
		vk_catch
		{
			/* the peer is gone: nothing more to say */
		}
		self->req.is_head = 0;
		if (format_error(&self->req, vk_error()) > 0)
			vk_write(self->req.out, self->req.out_len);
		vk_flush();
	}
	for (;;) {
		vk_wait_request(self->more);
		if (!self->more)
			break;
		vk_call(read_head, &self->req);
		if (self->req.gone)
			break;
		self->req.request_number++;
		if (self->req.drop_next)
			break; /* read, and never answered */
		self->route = route_of(&self->req);
		if (wants_continue(&self->req) && self->route->fn != handle_reset)
			vk_write_literal(continue_100);
		if (!self->route->reads_body)
			vk_call(discard_body, &self->req);
		vk_call(self->route->fn, &self->req);
		if (!self->req.keep_alive)
			break;
	}
	vk_flush();
	vk_end();
}

int main(int argc, char **argv)
{
	struct vk_runtime_config cfg;
	int rc;
	struct vk_service *service_ptr;
	const char *unhealthy = getenv("TEST_UPSTREAM_UNHEALTHY");

	unhealthy_env = unhealthy && strcmp(unhealthy, "1") == 0;
	health_file = getenv("TEST_UPSTREAM_HEALTH_FILE");
	if (getenv("TEST_UPSTREAM_LOG"))
		request_log_fd = open(getenv("TEST_UPSTREAM_LOG"), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	cksum_init();
	vk_runtime_config_defaults(&cfg);
	service_ptr = vk_service_create("test-upstream", upstream, NULL);
	if (!service_ptr)
		return 2;
	/* Defaults that flags (--pages) may still override. */
	vk_service_set_heap_pages(service_ptr, HEAP_PAGES);
	vk_service_set_buffers(service_ptr, RING_BYTES, RING_BYTES);
	if (vk_runtime_parse_args(argc, argv, &cfg, service_ptr) == -1)
		return 2;
	/* Set before the kernels fork; the port is known once reserved. */
	upstream_service = service_ptr;
	rc = vk_runtime_run(&cfg, &service_ptr, 1);
	vk_service_destroy(service_ptr);
	return rc;
}
