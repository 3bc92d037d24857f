/* gw_filter_api_key: a request must carry a known API key.
 *
 *   {"type": "api_key", "header": "x-api-key",
 *    "keys": [ {"consumer": "alice", "sha256": "<64 hex digits>"},
 *              {"consumer": "bob", "key": "<the key itself>"} ],
 *    "keys_file": "api-keys.txt", "forward_key": false,
 *    "unknown_key_status": 401, "consumer_header": "x-consumer"}
 *
 * The key comes from a request header ("header", the default x-api-key)
 * or a query parameter ("query"). Keys are kept only as SHA-256 digests,
 * each naming a consumer: "sha256" gives the digest, "key" the key (hashed
 * when the configuration loads), and "keys_file" lines of "CONSUMER
 * SHA256HEX" ('#' starts a comment); the file is read when the
 * configuration loads, so it reloads with it. A request's key is hashed
 * and compared with every digest in constant time, with no early exit
 * (gw_api_key_find): how long the lookup takes says nothing of which keys
 * exist or how close a guess came. No key: 401; an unknown one: 401, or
 * "unknown_key_status" 403; both with the gateway's JSON error body and
 * nothing about the keys. A known key: the value "consumer" is set for the
 * stages after this one, the access log and "consumer_header" (sent
 * upstream, replacing anything the client sent under that name), and the
 * key is removed from what goes upstream unless "forward_key". */
#include "gw_filter_api_key.h"
#include "gw_arena.h"
#include "gw_config.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filter_query.h"
#include "gw_filters.h"
#include "gw_http.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The longest key taken from a request (a longer one is unknown). */
#define API_KEY_MAX 1024
#define KEYS_FILE_MAX (64 << 20)

struct api_key_config {
	const char *header; /* or NULL: the query parameter */
	const char *query;
	size_t query_len;
	struct gw_api_key_set keys;
	int forward_key;
	int unknown_status;
	const char *consumer_header; /* or NULL */
};

int gw_api_key_find(const struct gw_api_key_set *set_ptr, const uint8_t digest[GW_API_KEY_DIGEST_BYTES],
		    int *compared_ptr)
{
	int found = -1;

	*compared_ptr = 0;
	for (int i = 0; i < set_ptr->count; i++) {
		/* Every digest is compared, and the match is taken without a
		 * branch on the comparison: the time is the same for every key,
		 * known or not, wherever it sits. */
		int same = CRYPTO_memcmp(set_ptr->keys_ptr[i].digest, digest, GW_API_KEY_DIGEST_BYTES) == 0;
		int mask = -same;

		found = (found & ~mask) | (i & mask);
		(*compared_ptr)++;
	}
	return found;
}

static int parse_digest(const char *hex, size_t len, uint8_t out[GW_API_KEY_DIGEST_BYTES])
{
	if (len != 2 * GW_API_KEY_DIGEST_BYTES)
		return -1;
	for (size_t i = 0; i < GW_API_KEY_DIGEST_BYTES; i++) {
		int hi = gw_http_hex_value((unsigned char)hex[2 * i]),
		    lo = gw_http_hex_value((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* A consumer name: what a config name may be (letters, digits, '-', '_',
 * '.', starting with a letter or digit), at most 64 bytes. */
static int consumer_valid(const char *name, size_t len)
{
	if (len == 0 || len > 64)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

		if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
			return 0;
	}
	return 1;
}

/* Collecting the keys: at most `capacity`, each digest once. */
struct key_builder {
	struct gw_filter_json *fj_ptr;
	struct gw_api_key *keys_ptr;
	int count;
	int capacity;
};

/* A key for `consumer`; `file` and `line` (or NULL) say where it was read. */
static void add_key(struct key_builder *b_ptr, const char *at, const char *file, const char *line, const char *consumer,
		    size_t consumer_len, const uint8_t digest[GW_API_KEY_DIGEST_BYTES])
{
	struct gw_api_key *key_ptr;
	int compared;
	struct gw_api_key_set so_far = {b_ptr->keys_ptr, b_ptr->count};
	const char *problem = NULL;

	if (!consumer_valid(consumer, consumer_len))
		problem = "the consumer must be 1 to 64 letters, digits, '-', '_' or '.', starting with a letter "
			  "or digit";
	else if (gw_api_key_find(&so_far, digest, &compared) >= 0)
		problem = "the same key is listed twice";
	if (problem) {
		if (file)
			gw_diag_error(b_ptr->fj_ptr->diag_ptr, at, "%s:%s: %s", file, line, problem);
		else
			gw_diag_error(b_ptr->fj_ptr->diag_ptr, at, "%s", problem);
		b_ptr->fj_ptr->failed = 1;
		return;
	}
	key_ptr = &b_ptr->keys_ptr[b_ptr->count];
	key_ptr->consumer = gw_arena_strndup(b_ptr->fj_ptr->arena_ptr, consumer, consumer_len);
	memcpy(key_ptr->digest, digest, GW_API_KEY_DIGEST_BYTES);
	if (!key_ptr->consumer) {
		b_ptr->fj_ptr->failed = 1;
		return;
	}
	b_ptr->count++;
}

/* "keys": [{"consumer", and "sha256" or "key"}]. */
static void read_key_entries(struct key_builder *b_ptr, const json_t *keys_json_ptr, const char *pointer)
{
	static const char *const allowed[] = {"consumer", "sha256", "key", NULL};
	char at[GW_FILTER_POINTER_MAX], key_at[GW_FILTER_POINTER_MAX];
	size_t i;
	const json_t *entry_ptr;

	json_array_foreach(keys_json_ptr, i, entry_ptr) {
		const char *consumer = NULL, *sha256 = NULL, *key = NULL;
		uint8_t digest[GW_API_KEY_DIGEST_BYTES];

		gw_filter_json_index(at, sizeof(at), pointer, i);
		if (gw_filter_json_keys(b_ptr->fj_ptr, entry_ptr, at, allowed) == -1)
			continue;
		gw_filter_json_string(b_ptr->fj_ptr, entry_ptr, at, "consumer", NULL, &consumer);
		gw_filter_json_string(b_ptr->fj_ptr, entry_ptr, at, "sha256", NULL, &sha256);
		gw_filter_json_string(b_ptr->fj_ptr, entry_ptr, at, "key", NULL, &key);
		if (!consumer || (!sha256 == !key)) {
			gw_diag_error(b_ptr->fj_ptr->diag_ptr, at,
				      "each key needs \"consumer\" and exactly one of \"sha256\" and \"key\"");
			b_ptr->fj_ptr->failed = 1;
			continue;
		}
		if (sha256 && parse_digest(sha256, strlen(sha256), digest) == -1) {
			gw_diag_error(b_ptr->fj_ptr->diag_ptr,
				      gw_filter_json_pointer(key_at, sizeof(key_at), at, "sha256"),
				      "not a SHA-256 digest: 64 hexadecimal digits");
			b_ptr->fj_ptr->failed = 1;
			continue;
		}
		if (key && (strlen(key) == 0 || strlen(key) > API_KEY_MAX)) {
			gw_diag_error(b_ptr->fj_ptr->diag_ptr,
				      gw_filter_json_pointer(key_at, sizeof(key_at), at, "key"),
				      "a key is 1 to %d bytes", API_KEY_MAX);
			b_ptr->fj_ptr->failed = 1;
			continue;
		}
		if (key)
			SHA256((const uint8_t *)key, strlen(key), digest);
		add_key(b_ptr, at, NULL, NULL, consumer, strlen(consumer), digest);
	}
}

/* "keys_file" (its text, read at `path`): lines of "CONSUMER SHA256HEX";
 * each problem is reported at the member's pointer, as "FILE:LINE: message". */
static void read_keys_file(struct key_builder *b_ptr, char *text, const char *path, const char *at)
{
	char *cursor = text, *line, where[32];
	int number = 0;

	while ((line = gw_filter_file_line(&cursor))) {
		char *consumer, *hex, *rest, *save = NULL;
		uint8_t digest[GW_API_KEY_DIGEST_BYTES];

		number++;
		line[strcspn(line, "#")] = '\0';
		consumer = strtok_r(line, " \t", &save);
		if (!consumer)
			continue;
		hex = strtok_r(NULL, " \t", &save);
		rest = strtok_r(NULL, " \t", &save);
		if (!hex || rest || parse_digest(hex, strlen(hex), digest) == -1) {
			gw_diag_error(b_ptr->fj_ptr->diag_ptr, at,
				      "%s:%d: expected \"CONSUMER SHA256HEX\" (64 hexadecimal digits)", path, number);
			b_ptr->fj_ptr->failed = 1;
			continue;
		}
		snprintf(where, sizeof(where), "%d", number);
		add_key(b_ptr, at, path, where, consumer, strlen(consumer), digest);
	}
}

static int api_key_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			   struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const allowed[] = {
		"type", "header", "query", "keys", "keys_file", "forward_key", "unknown_key_status", "consumer_header",
		NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct api_key_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));
	struct key_builder builder = {.fj_ptr = &fj};
	const json_t *keys_json_ptr = json_object_get(config_json_ptr, "keys");
	const char *keys_file = NULL, *keys_path = NULL;
	char at[GW_FILTER_POINTER_MAX], file_at[GW_FILTER_POINTER_MAX];
	char *keys_text = NULL;
	long long status = 401;

	if (!config_ptr)
		return -1;
	memset(config_ptr, 0, sizeof(*config_ptr));
	*compiled_ptr = config_ptr;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, allowed) == -1)
		return -1;
	gw_filter_json_string(&fj, config_json_ptr, pointer, "keys_file", NULL, &keys_file);
	gw_filter_json_pointer(file_at, sizeof(file_at), pointer, "keys_file");
	if (keys_file)
		keys_text = gw_filter_json_read_file(&fj, keys_file, file_at, KEYS_FILE_MAX, &keys_path);
	/* Room for every entry and every line of the file. */
	builder.capacity = (int)json_array_size(keys_json_ptr) + (keys_text ? gw_filter_file_line_count(keys_text) : 0);
	builder.keys_ptr = gw_arena_alloc(arena_ptr, sizeof(struct gw_api_key) * (size_t)(builder.capacity + 1));
	if (!builder.keys_ptr)
		return -1;
	gw_filter_json_string(&fj, config_json_ptr, pointer, "header", NULL, &config_ptr->header);
	gw_filter_json_string(&fj, config_json_ptr, pointer, "query", NULL, &config_ptr->query);
	if (config_ptr->header && config_ptr->query) {
		gw_diag_error(diag_ptr, pointer, "\"header\" and \"query\" both name where the key is: give one");
		fj.failed = 1;
	} else if (!config_ptr->query) {
		gw_filter_json_header(&fj, config_json_ptr, pointer, "header", "x-api-key", &config_ptr->header);
	} else if (!config_ptr->query[0] || strpbrk(config_ptr->query, "&=#? ")) {
		gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "query"),
			      "a query parameter name: not empty, without '&', '=', '#', '?' or spaces");
		fj.failed = 1;
	} else {
		config_ptr->query_len = strlen(config_ptr->query);
	}
	gw_filter_json_bool(&fj, config_json_ptr, pointer, "forward_key", 0, &config_ptr->forward_key);
	if (gw_filter_json_int(&fj, config_json_ptr, pointer, "unknown_key_status", 401, 403, 401, &status) == 0 &&
	    status != 401 && status != 403) {
		gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "unknown_key_status"),
			      "401 or 403");
		fj.failed = 1;
	}
	config_ptr->unknown_status = (int)status;
	gw_filter_json_header(&fj, config_json_ptr, pointer, "consumer_header", NULL, &config_ptr->consumer_header);
	if (keys_json_ptr && !json_is_array(keys_json_ptr)) {
		gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "keys"), "must be an array");
		fj.failed = 1;
	} else if (keys_json_ptr) {
		read_key_entries(&builder, keys_json_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "keys"));
	}
	if (keys_text)
		read_keys_file(&builder, keys_text, keys_path, file_at);
	if (!fj.failed && builder.count == 0) {
		gw_diag_error(diag_ptr, pointer, "no keys: give \"keys\" or a \"keys_file\" with at least one");
		fj.failed = 1;
	}
	config_ptr->keys.keys_ptr = builder.keys_ptr;
	config_ptr->keys.count = builder.count;
	return fj.failed ? -1 : 0;
}

/* ---- the request ---- */

static enum gw_filter_result refuse(struct gw_exchange *ex_ptr, int status, const char *message)
{
	gw_exchange_respond_error(ex_ptr, status, message);
	return GW_FILTER_RESPOND;
}

static enum gw_filter_result api_key_request_head(struct gw_stage *stage_ptr)
{
	const struct api_key_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	char decoded[API_KEY_MAX];
	const char *key = NULL, *query = NULL;
	size_t len = 0, query_len = 0, start = 0, end = 0;
	uint8_t digest[GW_API_KEY_DIGEST_BYTES];
	int found, compared;
	long n;

	if (config_ptr->header) {
		if (!gw_exchange_request_header(ex_ptr, config_ptr->header, &key, &len) || len == 0)
			return refuse(ex_ptr, 401, "missing API key");
	} else {
		query = gw_exchange_query(ex_ptr, &query_len);
		n = query ? gw_filter_query_param(query, query_len, config_ptr->query, config_ptr->query_len, decoded,
						  sizeof(decoded), &start, &end)
			  : -1;
		if (n == -1 || n == 0)
			return refuse(ex_ptr, 401, "missing API key");
		if (n < 0)
			return refuse(ex_ptr, config_ptr->unknown_status, "invalid API key");
		key = decoded;
		len = (size_t)n;
	}
	SHA256((const uint8_t *)key, len, digest);
	found = gw_api_key_find(&config_ptr->keys, digest, &compared);
	if (found < 0)
		return refuse(ex_ptr, config_ptr->unknown_status, "invalid API key");
	if (gw_exchange_set_value(ex_ptr, "consumer", config_ptr->keys.keys_ptr[found].consumer,
				  strlen(config_ptr->keys.keys_ptr[found].consumer)) == -1)
		return gw_stage_fail(stage_ptr, "api_key: no room for the consumer");
	if (config_ptr->consumer_header &&
	    gw_exchange_forward_value(ex_ptr, "consumer", config_ptr->consumer_header) == -1)
		return gw_stage_fail(stage_ptr, "api_key: no room for the consumer header");
	if (config_ptr->forward_key)
		return GW_FILTER_CONTINUE;
	if (config_ptr->header ? gw_exchange_remove(ex_ptr, GW_SIDE_REQUEST, config_ptr->header) == -1
			       : gw_filter_query_drop(ex_ptr, query, query_len, start, end) == -1)
		return gw_stage_fail(stage_ptr, "api_key: cannot remove the key from the request");
	return GW_FILTER_CONTINUE;
}

const struct gw_filter_type gw_filter_api_key_type = {
	.name = "api_key",
	.compile = api_key_compile,
	.request_head = api_key_request_head,
	.trusted = 1,
};
