/* The HTTP/1.1 request corpus (../shared/corpora/http1, read in place) run
 * through the codec as the connection process will: parse a head, read its
 * body by its framing (Content-Length, or gw_chunked), then the next
 * pipelined request from the bytes left, until the bytes run out, something
 * is rejected, or more bytes are needed. Each outcome is checked against the
 * manifest's "expect" (where it allows a choice, we reject) and, for
 * forwarded requests, against the count, order and bodies its "status"
 * names; "/smuggled" must never come out as a request target. Every case is
 * also fed one byte at a time and must end the same way. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_chunked.h"
#include "gw_chunked_s.h"
#include "gw_http.h"
#include "gw_http_s.h"

/* Relative to the repository root, where the test runner runs. */
#define CORPUS_DIR "../shared/corpora/http1"
#define CORPUS_DIR_ENV "GW_HTTP_CORPUS"
#define CASE_BYTES_MAX (1024 * 1024)
#define MESSAGES_MAX 8
#define TARGET_MAX 64
#define BODY_MAX 256
#define STATUSES_MAX 4

enum end {
	END_CLEAN,	/* every byte belonged to a complete message */
	END_INCOMPLETE, /* waiting for more bytes */
	END_REJECTED,
};

enum phase {
	PHASE_HEAD,
	PHASE_LENGTH,
	PHASE_CHUNKED,
	PHASE_REJECTED,
};

struct outcome {
	int messages; /* complete requests: head and body */
	char targets[MESSAGES_MAX][TARGET_MAX];
	char bodies[MESSAGES_MAX][BODY_MAX];
	size_t body_lens[MESSAGES_MAX];
	int smuggled; /* a head with target "/smuggled" was parsed */
	enum end end;
	int status; /* the negative status when rejected */
	const char *reason_ptr;
};

/* What the connection process does with the bytes it has so far. */
struct driver {
	enum phase phase;
	size_t pos; /* bytes used by complete messages and the current one */
	uint64_t left;
	struct gw_request req;
	struct gw_chunked chunked;
	struct outcome out;
};

static struct gw_http_limits limits;
static char corpus_dir[512];

/* Where the manifest lets us choose and we do not reject. Repeated identical
 * Content-Length values are one value (RFC 9110 8.6): the parser accepts
 * them and reports a single content_length ("normalize"). */
static const struct {
	const char *file;
	const char *expect; /* what we do instead of the manifest's first choice */
} choices[] = {
	{"023-dup-cl-same-list.http", "forward"},
	{"024-dup-cl-same-lines.http", "forward"},
};

static void body_append(struct driver *d, const char *data, size_t len)
{
	int m = d->out.messages;

	assert_true(m < MESSAGES_MAX);
	assert_true(d->out.body_lens[m] + len <= BODY_MAX);
	memcpy(d->out.bodies[m] + d->out.body_lens[m], data, len);
	d->out.body_lens[m] += len;
}

static void message_done(struct driver *d)
{
	d->out.messages++;
	d->phase = PHASE_HEAD;
	gw_http_request_init(&d->req);
}

static void reject(struct driver *d, int status, const char *reason_ptr)
{
	d->phase = PHASE_REJECTED;
	d->out.status = status;
	d->out.reason_ptr = reason_ptr;
}

static void head_done(struct driver *d, const char *buf, int len)
{
	struct gw_request *req_ptr = &d->req;
	int m = d->out.messages;

	assert_true(m < MESSAGES_MAX);
	snprintf(d->out.targets[m], TARGET_MAX, "%.*s", (int)req_ptr->target.len, buf + req_ptr->target.off);
	if (strcmp(d->out.targets[m], "/smuggled") == 0)
		d->out.smuggled = 1;
	d->pos += (size_t)len;
	switch (req_ptr->head.body) {
	case GW_BODY_NONE:
		message_done(d);
		break;
	case GW_BODY_LENGTH:
		d->left = req_ptr->head.content_length;
		d->phase = PHASE_LENGTH;
		if (d->left == 0)
			message_done(d);
		break;
	case GW_BODY_CHUNKED:
		gw_chunked_init(&d->chunked, &limits);
		d->phase = PHASE_CHUNKED;
		break;
	default:
		fail_msg("a request framed as %d", req_ptr->head.body);
	}
}

/* Takes what it can from buf[0..avail); returns whether it made progress. */
static int driver_step(struct driver *d, const char *buf, size_t avail)
{
	size_t start = d->pos;
	size_t consumed;
	size_t off;
	size_t len;
	int r;

	switch (d->phase) {
	case PHASE_HEAD:
		r = gw_http_parse_request(&d->req, buf + d->pos, avail - d->pos, &limits);
		if (r < 0) {
			reject(d, r, d->req.head.error_ptr);
			return 0;
		}
		if (r > 0)
			head_done(d, buf + d->pos, r);
		return r > 0;
	case PHASE_LENGTH:
		len = avail - d->pos < d->left ? avail - d->pos : (size_t)d->left;
		body_append(d, buf + d->pos, len);
		d->pos += len;
		d->left -= len;
		if (d->left == 0)
			message_done(d);
		return d->pos > start || d->phase != PHASE_LENGTH;
	case PHASE_CHUNKED:
		r = gw_chunked_feed(&d->chunked, buf + d->pos, avail - d->pos, &consumed, &off, &len);
		if (r < 0) {
			reject(d, r, gw_chunked_error(&d->chunked));
			return 0;
		}
		if (r == GW_CHUNKED_DATA)
			body_append(d, buf + d->pos + off, len);
		d->pos += consumed;
		if (r == GW_CHUNKED_DONE)
			message_done(d);
		return r != GW_CHUNKED_MORE || consumed > 0;
	default:
		return 0;
	}
}

/* Runs buf[0..len) through a driver, the bytes arriving `piece` at a time. */
static struct outcome run(const char *buf, size_t len, size_t piece)
{
	static struct driver d;

	memset(&d, 0, sizeof(d));
	gw_http_request_init(&d.req);
	for (size_t avail = piece < len ? piece : len;; avail = avail + piece < len ? avail + piece : len) {
		while (driver_step(&d, buf, avail))
			;
		if (avail == len || d.phase == PHASE_REJECTED)
			break;
	}
	if (d.phase == PHASE_REJECTED)
		d.out.end = END_REJECTED;
	else if (d.phase == PHASE_HEAD && d.pos == len)
		d.out.end = END_CLEAN;
	else
		d.out.end = END_INCOMPLETE;
	return d.out;
}

static void describe(const struct outcome *out_ptr, char *text, size_t size)
{
	size_t n = 0;

	if (out_ptr->end == END_REJECTED)
		n += (size_t)snprintf(text + n, size - n, "%sreject %d (%s)", out_ptr->messages ? "forward then " : "",
				      out_ptr->status, out_ptr->reason_ptr ? out_ptr->reason_ptr : "?");
	else if (out_ptr->end == END_INCOMPLETE)
		n += (size_t)snprintf(text + n, size - n, "incomplete");
	else
		n += (size_t)snprintf(text + n, size - n, "forward x%d", out_ptr->messages);
	for (int i = 0; i < out_ptr->messages && n < size; i++)
		n += (size_t)snprintf(text + n, size - n, " %s'%.*s'", out_ptr->targets[i], (int)out_ptr->body_lens[i],
				      out_ptr->bodies[i]);
}

/* The 3-digit statuses an "expect" allows ("reject-400/501", "reject-400 (or
 * 413)"); none means any status. */
static int allowed_statuses(const char *expect, int statuses[STATUSES_MAX])
{
	int count = 0;
	const char *p = strstr(expect, "reject");

	for (; p != NULL && *p != '\0'; p++) {
		if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
		    !isdigit((unsigned char)p[3]) && count < STATUSES_MAX) {
			statuses[count++] = atoi(p);
			p += 2;
		}
	}
	return count;
}

static int status_allowed(int status, const char *expect)
{
	int statuses[STATUSES_MAX];
	int count = allowed_statuses(expect, statuses);

	if (count == 0)
		return status < 0;
	for (int i = 0; i < count; i++) {
		if (-status == statuses[i])
			return 1;
	}
	return 0;
}

/* The first body the manifest's status text names: "body 'x'", "body =
 * 'x'" or "body WORD"; returns its length, or -1 if none is named. */
static int named_body(const char *status, char *body, size_t size)
{
	const char *p = strstr(status, "body ");
	size_t n = 0;

	if (p == NULL)
		return -1;
	p += strlen("body ");
	if (strncmp(p, "= ", 2) == 0)
		p += 2;
	if (*p == '\'') {
		for (p++; *p != '\0' && *p != '\'' && n + 1 < size; p++)
			body[n++] = *p;
	} else {
		for (; isalnum((unsigned char)*p) && n + 1 < size; p++)
			body[n++] = *p;
	}
	body[n] = '\0';
	return (int)n;
}

/* "3 responses in order /a,/b,/c": the targets, in order; returns the count. */
static int named_order(const char *status, char targets[MESSAGES_MAX][TARGET_MAX])
{
	const char *p = strstr(status, "in order ");
	int count = 0;

	if (p == NULL)
		return 0;
	p += strlen("in order ");
	while (*p == '/' && count < MESSAGES_MAX) {
		size_t n = strcspn(p, ", ");

		snprintf(targets[count++], TARGET_MAX, "%.*s", (int)n, p);
		p += n;
		if (*p != ',')
			break;
		p++;
	}
	return count;
}

/* Whether `out` is what `expect` (and the `status` text) asks for; on a
 * mismatch `why` says what differs. */
static int outcome_matches(const struct outcome *out_ptr, const char *expect, const char *status, char *why,
			   size_t size)
{
	char body[BODY_MAX];
	char order[MESSAGES_MAX][TARGET_MAX];
	int body_len;
	int want_messages = 1;
	int order_count;
	const char *x;

	if (out_ptr->smuggled) {
		snprintf(why, size, "/smuggled was parsed as a request");
		return 0;
	}
	if (strncmp(expect, "forward then reject", strlen("forward then reject")) == 0) {
		if (out_ptr->messages != 1 || out_ptr->end != END_REJECTED ||
		    !status_allowed(out_ptr->status, expect)) {
			snprintf(why, size, "wanted one request, then a rejection");
			return 0;
		}
	} else if (strncmp(expect, "forward", strlen("forward")) == 0) {
		x = strstr(expect, " x");
		if (x != NULL && isdigit((unsigned char)x[2]))
			want_messages = atoi(x + 2);
		if (out_ptr->end != END_CLEAN || out_ptr->messages != want_messages) {
			snprintf(why, size, "wanted %d complete request(s) and nothing left", want_messages);
			return 0;
		}
		order_count = named_order(status, order);
		for (int i = 0; i < order_count; i++) {
			if (i >= out_ptr->messages || strcmp(order[i], out_ptr->targets[i]) != 0) {
				snprintf(why, size, "request %d is not %.40s", i, order[i]);
				return 0;
			}
		}
	} else if (strncmp(expect, "reject", strlen("reject")) == 0) {
		if (out_ptr->messages != 0 || out_ptr->end != END_REJECTED ||
		    !status_allowed(out_ptr->status, expect)) {
			snprintf(why, size, "wanted the first request rejected with a listed status");
			return 0;
		}
	} else if (strcmp(expect, "incomplete") == 0) {
		if (out_ptr->messages != 0 || out_ptr->end != END_INCOMPLETE) {
			snprintf(why, size, "wanted a wait for more bytes");
			return 0;
		}
	} else {
		snprintf(why, size, "unknown expect");
		return 0;
	}

	body_len = named_body(status, body, sizeof(body));
	if (out_ptr->messages > 0 && body_len >= 0 &&
	    ((size_t)body_len != out_ptr->body_lens[0] || memcmp(body, out_ptr->bodies[0], (size_t)body_len) != 0)) {
		snprintf(why, size, "body is not '%.60s'", body);
		return 0;
	}
	return 1;
}

static int outcomes_equal(const struct outcome *a, const struct outcome *b)
{
	if (a->end != b->end || a->messages != b->messages || a->status != b->status || a->smuggled != b->smuggled)
		return 0;
	for (int i = 0; i < a->messages; i++) {
		if (strcmp(a->targets[i], b->targets[i]) != 0 || a->body_lens[i] != b->body_lens[i] ||
		    memcmp(a->bodies[i], b->bodies[i], a->body_lens[i]) != 0)
			return 0;
	}
	return 1;
}

static size_t case_read(const char *file, char *buf)
{
	char path[1024];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/cases/%s", corpus_dir, file);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	n = fread(buf, 1, CASE_BYTES_MAX, f);
	assert_true(feof(f));
	fclose(f);
	return n;
}

static json_t *manifest_load(void)
{
	char path[1024];
	json_error_t error;
	json_t *manifest;

	snprintf(path, sizeof(path), "%s/manifest.json", corpus_dir);
	manifest = json_load_file(path, 0, &error);
	if (manifest == NULL)
		fail_msg("corpus manifest %s not readable (%s); run from the repository root, next to ../shared", path,
			 error.text);
	assert_true(json_is_array(manifest));
	assert_true(json_array_size(manifest) > 0);
	return manifest;
}

static int setup(void **state)
{
	const char *env = getenv(CORPUS_DIR_ENV);
	(void)state;

	gw_http_limits_default(&limits);
	snprintf(corpus_dir, sizeof(corpus_dir), "%s", env != NULL ? env : CORPUS_DIR);
	return 0;
}

static void test_every_case_ends_as_the_manifest_expects(void **state)
{
	static char buf[CASE_BYTES_MAX];
	json_t *manifest = manifest_load();
	size_t i;
	json_t *entry;
	int failed = 0;
	(void)state;

	json_array_foreach(manifest, i, entry) {
		const char *file = json_string_value(json_object_get(entry, "file"));
		const char *manifest_expect = json_string_value(json_object_get(entry, "expect"));
		const char *expect = manifest_expect;
		const char *status = json_string_value(json_object_get(entry, "status"));
		json_int_t bytes = json_integer_value(json_object_get(entry, "bytes"));
		char text[512];
		char why[128] = "";
		size_t len;
		struct outcome out;
		int ok;

		assert_non_null(file);
		assert_non_null(expect);
		for (size_t c = 0; c < sizeof(choices) / sizeof(choices[0]); c++) {
			if (strcmp(file, choices[c].file) == 0) {
				assert_non_null(strstr(expect, " or normalize"));
				expect = choices[c].expect;
			}
		}
		len = case_read(file, buf);
		assert_int_equal(len, (size_t)bytes);
		out = run(buf, len, len);
		ok = outcome_matches(&out, expect, status ? status : "", why, sizeof(why));
		describe(&out, text, sizeof(text));
		printf("%-4s %-42s expect: %-40s%s%s got: %s%s%s\n", ok ? "ok" : "FAIL", file, manifest_expect,
		       expect != manifest_expect ? " we: " : "", expect != manifest_expect ? expect : "", text,
		       ok ? "" : " -- ", why);
		fflush(stdout);
		failed += !ok;
	}
	printf("%zu cases, %d failed\n", json_array_size(manifest), failed);
	json_decref(manifest);
	assert_int_equal(failed, 0);
}

static void test_byte_by_byte_ends_as_whole(void **state)
{
	static char buf[CASE_BYTES_MAX];
	json_t *manifest = manifest_load();
	size_t i;
	json_t *entry;
	(void)state;

	json_array_foreach(manifest, i, entry) {
		const char *file = json_string_value(json_object_get(entry, "file"));
		size_t len = case_read(file, buf);
		struct outcome whole = run(buf, len, len);
		struct outcome split = run(buf, len, 1);

		if (!outcomes_equal(&whole, &split)) {
			char a[512];
			char b[512];

			describe(&whole, a, sizeof(a));
			describe(&split, b, sizeof(b));
			fail_msg("%s: whole: %s, byte by byte: %s", file, a, b);
		}
	}
	json_decref(manifest);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_every_case_ends_as_the_manifest_expects, setup),
		cmocka_unit_test_setup(test_byte_by_byte_ends_as_whole, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
