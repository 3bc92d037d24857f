/* gw_filter_basic: HTTP Basic authentication (RFC 7617) against an
 * htpasswd file.
 *
 *   {"type": "basic", "htpasswd_file": "users.htpasswd", "realm": "api",
 *    "cache_seconds": 300, "cache_entries": 1024, "check_timeout_ms": 3000,
 *    "consumer_header": "x-consumer", "forward_authorization": false}
 *
 * "htpasswd_file" holds lines of "USER:HASH" as `htpasswd -B` writes them
 * (bcrypt; sha512-crypt and sha256-crypt from `openssl passwd -6/-5` or
 * mkpasswd, and yescrypt, are taken too; Apache MD5 and {SHA} are refused
 * with the line that has one). "users": [{"user", "hash"}] lists more in
 * the config itself. The file is read when the configuration loads, so it
 * reloads with it (and `vkgw --watch` reloads when it changes).
 *
 * Checking a password costs what its hash was made to cost (bcrypt at
 * cost 10: ~60 ms of CPU), so the kernel never checks one itself: the
 * check goes to the kernel's password worker (gw_crypt_worker.h) while
 * the connection waits and the kernel serves the others. A verified
 * credential is remembered per kernel for "cache_seconds" (0: never) in a
 * bounded cache ("cache_entries"), under a keyed digest of user, stored
 * hash and password (gw_verified_cache.h), never the password: a repeated
 * request costs one HMAC, and a password changed in the file is checked
 * afresh. An unknown user costs a check too (against the first user's
 * hash), so the time of an answer does not say which users exist.
 *
 * No or malformed credentials, or wrong ones: 401 with
 * WWW-Authenticate: Basic realm="...", charset="UTF-8" and the JSON error
 * body. The worker unreachable, too busy (more than GW_CRYPT_BACKLOG
 * checks waiting) or slower than "check_timeout_ms": 503. Verified: the
 * user is the request's value "consumer" (the access log's, the later
 * stages', "consumer_header"'s), and Authorization is removed from what
 * goes upstream unless "forward_authorization". */
#include "gw_arena.h"
#include "gw_crypt_worker.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filters.h"
#include "gw_verified_cache.h"

#include "vk_coro.h"
#include "vk_sys.h"

#include <openssl/base64.h>
#include <openssl/crypto.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTPASSWD_FILE_MAX (64 << 20)
#define USER_MAX 255
/* The decoded "user:password" taken from a request, at most. */
#define CREDENTIALS_MAX (USER_MAX + 1 + GW_CRYPT_PASSWORD_MAX)
#define REALM_MAX 128

_Static_assert(GW_CRYPT_REQUEST_MAX <= GW_STAGE_SOCKET_RING_BYTES,
	       "a check request fits the stage socket's ring: writing it never waits");

struct basic_user {
	const char *name;
	const char *hash;
	int line; /* in the htpasswd file; 0 for "users" entries */
};

struct basic_config {
	struct basic_user *users_ptr; /* sorted by name */
	int user_count;
	const char *challenge; /* the WWW-Authenticate value */
	long long cache_seconds;
	long long cache_entries;
	long long check_timeout_ms;
	const char *consumer_header; /* or NULL */
	int forward_authorization;
};

/* Per request, from the request head to the worker's answer. */
struct basic_request {
	const struct basic_user *user_ptr; /* NULL: unknown, checked against a stand-in */
	uint8_t tag[GW_VERIFIED_TAG_BYTES];
};

/* ---- the configuration ---- */

/* Collecting the users: each name once, each hash one vkgw can check. */
struct user_builder {
	struct gw_filter_json *fj_ptr;
	struct basic_user *users_ptr;
	int count;
	int capacity;
};

static int user_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > USER_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c == 0x7f || c == ':')
			return 0;
	}
	return 1;
}

/* `where` ("FILE:LINE: " or "") says where the user was read, `line`
 * which line (0: the config). Twice the same name is found once sorted. */
static void add_user(struct user_builder *b_ptr, const char *at, const char *where, int line, const char *name,
		     size_t name_len, const char *hash)
{
	const char *problem = NULL;

	if (!user_name_valid(name, name_len))
		problem = "a user name is 1 to 255 visible characters, without ':'";
	else if (b_ptr->count == b_ptr->capacity)
		problem = "too many users";
	else
		problem = gw_crypt_hash_problem(hash);
	if (problem) {
		gw_diag_error(b_ptr->fj_ptr->diag_ptr, at, "%suser \"%.*s\": %s", where, (int)name_len, name, problem);
		b_ptr->fj_ptr->failed = 1;
		return;
	}
	b_ptr->users_ptr[b_ptr->count].name = gw_arena_strndup(b_ptr->fj_ptr->arena_ptr, name, name_len);
	b_ptr->users_ptr[b_ptr->count].hash = gw_arena_strndup(b_ptr->fj_ptr->arena_ptr, hash, strlen(hash));
	b_ptr->users_ptr[b_ptr->count].line = line;
	if (!b_ptr->users_ptr[b_ptr->count].name || !b_ptr->users_ptr[b_ptr->count].hash) {
		b_ptr->fj_ptr->failed = 1;
		return;
	}
	b_ptr->count++;
}

/* "htpasswd_file": "USER:HASH" lines; blank ones and '#' comments skipped. */
static void read_htpasswd(struct user_builder *b_ptr, char *text, const char *path, const char *at)
{
	char *cursor = text, *line, where[64 + GW_FILTER_POINTER_MAX];
	int number = 0;

	while ((line = gw_filter_file_line(&cursor))) {
		char *colon;

		number++;
		line += strspn(line, " \t");
		if (!*line || *line == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%d: ", path, number);
		colon = strchr(line, ':');
		if (!colon) {
			gw_diag_error(b_ptr->fj_ptr->diag_ptr, at, "%sexpected \"USER:HASH\"", where);
			b_ptr->fj_ptr->failed = 1;
			continue;
		}
		add_user(b_ptr, at, where, number, line, (size_t)(colon - line), colon + 1);
	}
}

/* "users": [{"user", "hash"}]. */
static void read_user_entries(struct user_builder *b_ptr, const json_t *users_json_ptr, const char *pointer)
{
	static const char *const allowed[] = {"user", "hash", NULL};
	char at[GW_FILTER_POINTER_MAX];
	size_t i;
	const json_t *entry_ptr;

	json_array_foreach(users_json_ptr, i, entry_ptr) {
		const char *user = NULL, *hash = NULL;

		gw_filter_json_index(at, sizeof(at), pointer, i);
		if (gw_filter_json_keys(b_ptr->fj_ptr, entry_ptr, at, allowed) == -1)
			continue;
		gw_filter_json_string(b_ptr->fj_ptr, entry_ptr, at, "user", NULL, &user);
		gw_filter_json_string(b_ptr->fj_ptr, entry_ptr, at, "hash", NULL, &hash);
		if (!user || !hash) {
			gw_diag_error(b_ptr->fj_ptr->diag_ptr, at, "each user needs \"user\" and \"hash\"");
			b_ptr->fj_ptr->failed = 1;
			continue;
		}
		add_user(b_ptr, at, "", 0, user, strlen(user), hash);
	}
}

static int compare_users(const void *a, const void *b)
{
	return strcmp(((const struct basic_user *)a)->name, ((const struct basic_user *)b)->name);
}

/* Sorted (for bsearch), each name once. */
static void sort_users(struct user_builder *b_ptr, const char *path, const char *at)
{
	qsort(b_ptr->users_ptr, (size_t)b_ptr->count, sizeof(struct basic_user), compare_users);
	for (int i = 1; i < b_ptr->count; i++) {
		const struct basic_user *first_ptr = &b_ptr->users_ptr[i - 1], *again_ptr = &b_ptr->users_ptr[i];

		if (strcmp(first_ptr->name, again_ptr->name) != 0)
			continue;
		if (first_ptr->line > again_ptr->line) {
			const struct basic_user *swap_ptr = first_ptr;

			first_ptr = again_ptr;
			again_ptr = swap_ptr;
		}
		if (again_ptr->line)
			gw_diag_error(b_ptr->fj_ptr->diag_ptr, at, "%s:%d: user \"%s\" is listed already (%s)", path,
				      again_ptr->line, again_ptr->name,
				      first_ptr->line ? "on an earlier line" : "in \"users\"");
		else
			gw_diag_error(b_ptr->fj_ptr->diag_ptr, at, "user \"%s\" is listed twice in \"users\"",
				      again_ptr->name);
		b_ptr->fj_ptr->failed = 1;
	}
}

/* The realm, a quoted-string's content without escapes. */
static const char *read_challenge(struct gw_filter_json *fj_ptr, const json_t *config_json_ptr, const char *pointer)
{
	char at[GW_FILTER_POINTER_MAX], value[REALM_MAX + 64];
	const char *realm = NULL;

	gw_filter_json_string(fj_ptr, config_json_ptr, pointer, "realm", "vkgw", &realm);
	if (!realm)
		return NULL;
	for (const char *p = realm; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\') {
			realm = NULL;
			break;
		}
	if (!realm || strlen(realm) > REALM_MAX) {
		gw_diag_error(fj_ptr->diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "realm"),
			      "a realm is at most %d characters, without '\"', '\\' or control characters", REALM_MAX);
		fj_ptr->failed = 1;
		return NULL;
	}
	snprintf(value, sizeof(value), "Basic realm=\"%s\", charset=\"UTF-8\"", realm);
	return gw_arena_strndup(fj_ptr->arena_ptr, value, strlen(value));
}

static int basic_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			 struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const allowed[] = {"type",
					      "htpasswd_file",
					      "users",
					      "realm",
					      "cache_seconds",
					      "cache_entries",
					      "check_timeout_ms",
					      "consumer_header",
					      "forward_authorization",
					      NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct basic_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));
	struct user_builder builder = {.fj_ptr = &fj};
	const json_t *users_json_ptr = json_object_get(config_json_ptr, "users");
	const char *file = NULL, *path = NULL;
	char at[GW_FILTER_POINTER_MAX], file_at[GW_FILTER_POINTER_MAX];
	char *text = NULL;

	if (!config_ptr)
		return -1;
	memset(config_ptr, 0, sizeof(*config_ptr));
	*compiled_ptr = config_ptr;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, allowed) == -1)
		return -1;
	gw_filter_json_string(&fj, config_json_ptr, pointer, "htpasswd_file", NULL, &file);
	gw_filter_json_pointer(file_at, sizeof(file_at), pointer, "htpasswd_file");
	if (file)
		text = gw_filter_json_read_file(&fj, file, file_at, HTPASSWD_FILE_MAX, &path);
	if (users_json_ptr && !json_is_array(users_json_ptr)) {
		gw_diag_error(diag_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "users"), "must be an array");
		fj.failed = 1;
		users_json_ptr = NULL;
	}
	builder.capacity = (int)json_array_size(users_json_ptr) + (text ? gw_filter_file_line_count(text) : 0);
	builder.users_ptr = gw_arena_alloc(arena_ptr, sizeof(struct basic_user) * (size_t)(builder.capacity + 1));
	if (!builder.users_ptr)
		return -1;
	if (users_json_ptr)
		read_user_entries(&builder, users_json_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, "users"));
	if (text)
		read_htpasswd(&builder, text, path, file_at);
	if (!fj.failed && builder.count == 0) {
		gw_diag_error(diag_ptr, pointer, "no users: give an \"htpasswd_file\" or \"users\" with at least one");
		fj.failed = 1;
	}
	sort_users(&builder, path, text ? file_at : gw_filter_json_pointer(at, sizeof(at), pointer, "users"));
	config_ptr->users_ptr = builder.users_ptr;
	config_ptr->user_count = builder.count;
	config_ptr->challenge = read_challenge(&fj, config_json_ptr, pointer);
	gw_filter_json_int(&fj, config_json_ptr, pointer, "cache_seconds", 0, 86400, 300, &config_ptr->cache_seconds);
	gw_filter_json_int(&fj, config_json_ptr, pointer, "cache_entries", 1, 1 << 20, 1024,
			   &config_ptr->cache_entries);
	gw_filter_json_int(&fj, config_json_ptr, pointer, "check_timeout_ms", 1, 60000, 3000,
			   &config_ptr->check_timeout_ms);
	gw_filter_json_header(&fj, config_json_ptr, pointer, "consumer_header", NULL, &config_ptr->consumer_header);
	gw_filter_json_bool(&fj, config_json_ptr, pointer, "forward_authorization", 0,
			    &config_ptr->forward_authorization);
	return fj.failed ? -1 : 0;
}

/* ---- per kernel ---- */

/* The cache, and a hold on the kernel's password worker. A reload keeps
 * both (what the cache holds stays true: a changed hash misses) when the
 * cache's size stays. */
static void *basic_kernel_state_create(const void *compiled_ptr, void *previous_ptr)
{
	const struct basic_config *config_ptr = compiled_ptr;
	size_t entries = config_ptr->cache_seconds ? (size_t)config_ptr->cache_entries : 0;
	struct gw_verified_cache *fresh_ptr = gw_verified_cache_create(entries), *previous_cache_ptr = previous_ptr;

	if (fresh_ptr && previous_cache_ptr && previous_cache_ptr->bucket_count == fresh_ptr->bucket_count) {
		gw_verified_cache_free(fresh_ptr);
		return previous_cache_ptr;
	}
	if (!fresh_ptr)
		return NULL;
	if (gw_crypt_worker_hold() == -1) {
		fprintf(stderr, "vkgw: basic: cannot start the password worker: %s\n", strerror(errno));
		gw_verified_cache_free(fresh_ptr);
		return NULL;
	}
	return fresh_ptr;
}

static void basic_kernel_state_free(void *state_ptr)
{
	gw_verified_cache_free(state_ptr);
	gw_crypt_worker_release();
}

/* ---- the request ---- */

/* The decoded "user:password" of the request's Authorization, into
 * out[CREDENTIALS_MAX]: its length, or -1 when there is none, -2 when it
 * is not Basic credentials vkgw can take. */
static long credentials(const struct gw_exchange *ex_ptr, uint8_t *out)
{
	const char *value;
	size_t len, decoded, skip;

	if (!gw_exchange_request_header(ex_ptr, "authorization", &value, &len))
		return -1;
	if (len < 6 || strncasecmp(value, "Basic ", 6) != 0)
		return -2;
	skip = 6;
	while (skip < len && value[skip] == ' ')
		skip++;
	if (!EVP_DecodedLength(&decoded, len - skip) || decoded > CREDENTIALS_MAX ||
	    !EVP_DecodeBase64(out, &decoded, CREDENTIALS_MAX, (const uint8_t *)value + skip, len - skip))
		return -2;
	/* A NUL would cut the password crypt sees; a control byte is no text. */
	for (size_t i = 0; i < decoded; i++)
		if (out[i] < 0x20 || out[i] == 0x7f)
			return -2;
	return (long)decoded;
}

static const struct basic_user *find_user(const struct basic_config *config_ptr, const char *name, size_t len)
{
	char key[USER_MAX + 1];
	struct basic_user probe = {.name = key};

	if (len > USER_MAX)
		return NULL;
	memcpy(key, name, len);
	key[len] = '\0';
	return bsearch(&probe, config_ptr->users_ptr, (size_t)config_ptr->user_count, sizeof(struct basic_user),
		       compare_users);
}

static enum gw_filter_result challenge(struct gw_stage *stage_ptr, const char *message)
{
	const struct basic_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);

	if (gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "WWW-Authenticate", config_ptr->challenge) == -1)
		return gw_stage_fail(stage_ptr, "basic: no room for WWW-Authenticate");
	gw_exchange_respond_error(ex_ptr, 401, message);
	return GW_FILTER_RESPOND;
}

/* Verified: the user is the consumer. */
static enum gw_filter_result admit(struct gw_stage *stage_ptr, const struct basic_user *user_ptr)
{
	const struct basic_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);

	if (gw_exchange_set_value(ex_ptr, "consumer", user_ptr->name, strlen(user_ptr->name)) == -1)
		return gw_stage_fail(stage_ptr, "basic: no room for the consumer");
	if (config_ptr->consumer_header &&
	    gw_exchange_forward_value(ex_ptr, "consumer", config_ptr->consumer_header) == -1)
		return gw_stage_fail(stage_ptr, "basic: no room for the consumer header");
	if (!config_ptr->forward_authorization && gw_exchange_remove(ex_ptr, GW_SIDE_REQUEST, "authorization") == -1)
		return gw_stage_fail(stage_ptr, "basic: cannot remove Authorization");
	return GW_FILTER_CONTINUE;
}

/* The check request for the worker, into out[GW_CRYPT_REQUEST_MAX]; 0
 * when the credentials are gone (they were there in the request head). */
static size_t check_request(struct gw_stage *stage_ptr, char *out)
{
	const struct basic_config *config_ptr = gw_stage_config(stage_ptr);
	const struct basic_request *request_ptr = gw_stage_state(stage_ptr);
	const char *hash = request_ptr->user_ptr ? request_ptr->user_ptr->hash : config_ptr->users_ptr[0].hash;
	uint8_t decoded[CREDENTIALS_MAX];
	long len = credentials(gw_stage_exchange(stage_ptr), decoded);
	const uint8_t *colon = len > 0 ? memchr(decoded, ':', (size_t)len) : NULL;
	size_t n = 0;

	if (colon)
		n = gw_crypt_request(out, hash, strlen(hash), (const char *)colon + 1,
				     (size_t)(decoded + len - colon - 1));
	OPENSSL_cleanse(decoded, sizeof(decoded));
	return n;
}

/* A check the cache could not answer: the worker's verdict, with the
 * connection parked on the stage's socket meanwhile. */
static void basic_wait(struct vk_thread *that)
{
	struct gw_stage *stage_ptr = vk_thread_arg(that);
	const struct basic_config *config_ptr = gw_stage_config(stage_ptr);
	struct basic_request *request_ptr = gw_stage_state(stage_ptr);
	char request[GW_CRYPT_REQUEST_MAX];
	struct {
		struct vk_socket *socket_ptr;
		const struct sockaddr *addr_ptr;
		socklen_t addr_len;
		size_t len;
		char verdict;
	} * self;

	vk_begin();
	vk_catch
	{
		if (vk_error() == ECONNREFUSED)
			gw_crypt_worker_lost(vk_sys_now_ns());
		gw_exchange_respond_error(gw_stage_exchange(stage_ptr), 503,
					  vk_error() == EAGAIN ? "too many password checks waiting"
							       : "password check unavailable");
	}
	self->addr_ptr = gw_crypt_worker_address(&self->addr_len);
	self->socket_ptr = gw_stage_socket(stage_ptr, that);
	if (!self->addr_ptr)
		vk_raise(ECONNREFUSED);
	if (!self->socket_ptr)
		vk_raise(ENOMEM);
	vk_deadline(config_ptr->check_timeout_ms);
	vk_connect(self->socket_ptr, self->addr_ptr, self->addr_len);
	self->len = check_request(stage_ptr, request);
	if (self->len == 0)
		vk_raise(EPROTO);
	/* The ring has room for the whole request: this never waits, so
	 * `request` (a local) need not survive a wait. */
	vk_write_on(self->socket_ptr, request, self->len);
	OPENSSL_cleanse(request, sizeof(request));
	vk_flush_on(self->socket_ptr);
	vk_read_on(self->socket_ptr, self->len, &self->verdict, 1);
	if (self->len != 1)
		vk_raise(EPIPE);
	if (self->verdict == GW_CRYPT_MATCH && request_ptr->user_ptr) {
		gw_verified_cache_put(gw_stage_kernel_state(stage_ptr), request_ptr->tag,
				      vk_sys_coarse_now_ns() + (uint64_t)config_ptr->cache_seconds * 1000000000ull,
				      NULL, 0);
		admit(stage_ptr, request_ptr->user_ptr);
	} else {
		challenge(stage_ptr, "invalid credentials");
	}
	vk_end();
}

static enum gw_filter_result basic_request_head(struct gw_stage *stage_ptr)
{
	const struct basic_config *config_ptr = gw_stage_config(stage_ptr);
	struct basic_request *request_ptr = gw_stage_state(stage_ptr);
	struct gw_verified_cache *cache_ptr = gw_stage_kernel_state(stage_ptr);
	uint8_t decoded[CREDENTIALS_MAX];
	long len = credentials(gw_stage_exchange(stage_ptr), decoded);
	const uint8_t *colon = len > 0 ? memchr(decoded, ':', (size_t)len) : NULL;
	size_t user_len;

	if (len == -1)
		return challenge(stage_ptr, "missing credentials");
	if (!cache_ptr)
		return gw_stage_fail(stage_ptr, "basic: no kernel state");
	if (!colon || (size_t)(decoded + len - colon - 1) > GW_CRYPT_PASSWORD_MAX) {
		OPENSSL_cleanse(decoded, sizeof(decoded));
		return challenge(stage_ptr, "invalid credentials");
	}
	user_len = (size_t)(colon - decoded);
	request_ptr->user_ptr = find_user(config_ptr, (const char *)decoded, user_len);
	if (request_ptr->user_ptr) {
		const void *parts[] = {decoded, request_ptr->user_ptr->hash, colon + 1};
		size_t lens[] = {user_len, strlen(request_ptr->user_ptr->hash), (size_t)(decoded + len - colon - 1)};

		/* The stored hash is part of the tag: a password changed in the
		 * file misses. */
		gw_verified_cache_tag(cache_ptr, parts, lens, 3, request_ptr->tag);
	}
	OPENSSL_cleanse(decoded, sizeof(decoded));
	if (request_ptr->user_ptr && gw_verified_cache_find(cache_ptr, request_ptr->tag, vk_sys_coarse_now_ns()))
		return admit(stage_ptr, request_ptr->user_ptr);
	return gw_stage_wait(stage_ptr, basic_wait);
}

const struct gw_filter_type gw_filter_basic_type = {
	.name = "basic",
	.compile = basic_compile,
	.request_head = basic_request_head,
	.state_bytes = sizeof(struct basic_request),
	.kernel_state_create = basic_kernel_state_create,
	.kernel_state_free = basic_kernel_state_free,
	.trusted = 1,
};
