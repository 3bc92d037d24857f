/* gw_config_load: from a file or buffer to a sealed snapshot. Parses with
 * jansson (duplicate keys rejected), scans the text for positions, checks
 * the document section by section (upstreams and routes have files of
 * their own) and, if nothing was wrong, seals the snapshot's arena. */
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_config_load.h"
#include "gw_config_syntax.h"
#include "gw_json_pos.h"
#include "gw_arena.h"
#include "gw_diag.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PORT_MAX 65535
#define KERNELS_MAX 256
#define TIMEOUT_MS_MAX 3600000
#define ACCESS_LOG_BUFFER_MIN 4096
#define ACCESS_LOG_BUFFER_MAX 16777216
#define ACCESS_LOG_BUFFER_DEFAULT 65536
#define JSON_SAFE_INTEGER_MAX 9007199254740991LL /* 2^53 - 1: exact in every JSON reader */

void *gw_config_alloc(struct gw_config_loader *loader_ptr, size_t len)
{
	void *memory_ptr = gw_arena_alloc(loader_ptr->check.arena_ptr, len);

	if (!memory_ptr)
		loader_ptr->check.out_of_memory = 1;
	return memory_ptr;
}

const char *gw_config_strdup(struct gw_config_loader *loader_ptr, const char *text)
{
	const char *copy = gw_arena_strdup(loader_ptr->check.arena_ptr, text);

	if (copy)
		return copy;
	loader_ptr->check.out_of_memory = 1;
	return "";
}

const char *gw_config_lower_copy(struct gw_config_loader *loader_ptr, const char *text)
{
	size_t len = strlen(text);
	char *copy_ptr = gw_config_alloc(loader_ptr, len + 1);

	if (!copy_ptr)
		return "";
	for (size_t i = 0; i < len; i++)
		copy_ptr[i] = (text[i] >= 'A' && text[i] <= 'Z') ? (char)(text[i] - 'A' + 'a') : text[i];
	return copy_ptr;
}

int gw_config_check_syntax(struct gw_config_loader *loader_ptr, const char *text, const char *pointer,
			   gw_syntax_fn *syntax, const char *rule)
{
	if (syntax(text))
		return 0;
	return gw_diag_error(loader_ptr->check.diag_ptr, pointer, "%s, not %s", rule,
			     gw_json_quote(&loader_ptr->check, text));
}

int gw_config_read_syntax(struct gw_config_loader *loader_ptr, const json_t *object_ptr, const char *pointer,
			  const char *key, const char *dflt, gw_syntax_fn *syntax, const char *rule,
			  const char **out_ptr)
{
	const char *text;

	*out_ptr = dflt;
	if (gw_json_read_string(&loader_ptr->check, object_ptr, pointer, key, dflt, &text) == -1)
		return -1;
	if (text == dflt)
		return 0;
	if (gw_config_check_syntax(loader_ptr, text, gw_json_member_pointer(&loader_ptr->check, pointer, key), syntax,
				   rule) == -1)
		return -1;
	*out_ptr = text;
	return 0;
}

static int is_ipv4(const char *text)
{
	struct in_addr addr;

	return gw_syntax_parse_ipv4(text, &addr);
}

static int is_via(const char *text)
{
	return text[0] == '\0' || gw_syntax_is_token(text);
}

static void fill_sockaddr(struct sockaddr_in *sockaddr_ptr, const char *address, int port)
{
	sockaddr_ptr->sin_family = AF_INET;
	sockaddr_ptr->sin_port = htons((uint16_t)port);
	gw_syntax_parse_ipv4(address, &sockaddr_ptr->sin_addr);
}

const char *const gw_isolation_names[] = {"off", "filters", "always", NULL};

/* A mode name, or a boolean for short: true is the default ("filters"). */
static void read_isolation(struct gw_json_check *check_ptr, const json_t *json_ptr, const char *pointer, int *out_ptr)
{
	const json_t *value_ptr = json_object_get(json_ptr, "isolation");

	if (value_ptr && json_is_boolean(value_ptr))
		*out_ptr = json_is_true(value_ptr) ? GW_ISOLATION_FILTERS : GW_ISOLATION_OFF;
	else
		gw_json_read_enum(check_ptr, json_ptr, pointer, "isolation", gw_isolation_names, GW_ISOLATION_FILTERS,
				  out_ptr);
}

static void load_listener(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer, int index,
			  struct gw_config_listener *listener_ptr)
{
	static const char *const keys[] = {"name",	"address", "port",	     "kernels",
					   "isolation", "tls",	   "proxy_protocol", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *default_name = gw_arena_printf(check_ptr->arena_ptr, "listener-%d", index);
	const json_t *tls_json_ptr = NULL;

	/* Cross-checks read every listener, even one that isn't an object. */
	if (!default_name)
		check_ptr->out_of_memory = 1;
	listener_ptr->name = default_name ? default_name : "";
	listener_ptr->address = "127.0.0.1";
	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "name", listener_ptr->name, gw_syntax_is_name,
			      GW_SYNTAX_NAME_RULE, &listener_ptr->name);
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "address", "127.0.0.1", is_ipv4, GW_SYNTAX_IPV4_RULE,
			      &listener_ptr->address);
	gw_json_check_required(check_ptr, json_ptr, pointer, "port");
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "port", 0, PORT_MAX, 0, &listener_ptr->port);
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "kernels", 0, KERNELS_MAX, 0, &listener_ptr->kernels);
	read_isolation(check_ptr, json_ptr, pointer, &listener_ptr->isolation);
	gw_json_read_bool(check_ptr, json_ptr, pointer, "proxy_protocol", 0, &listener_ptr->proxy_protocol);
	fill_sockaddr(&listener_ptr->sockaddr, listener_ptr->address, listener_ptr->port);
	if (gw_json_read_object(check_ptr, json_ptr, pointer, "tls", &tls_json_ptr) == 0)
		gw_config_load_tls(loader_ptr, tls_json_ptr, gw_json_member_pointer(check_ptr, pointer, "tls"),
				   &listener_ptr->tls);
}

/* Two sockets on one address and port would share its connections
 * (SO_REUSEPORT) instead of failing: refuse that here. */
static int same_socket(const struct sockaddr_in *a_ptr, const struct sockaddr_in *b_ptr)
{
	if (a_ptr->sin_port == 0 || a_ptr->sin_port != b_ptr->sin_port)
		return 0;
	return a_ptr->sin_addr.s_addr == b_ptr->sin_addr.s_addr || a_ptr->sin_addr.s_addr == htonl(INADDR_ANY) ||
	       b_ptr->sin_addr.s_addr == htonl(INADDR_ANY);
}

static void check_listeners_differ(struct gw_config_loader *loader_ptr, const struct gw_config_listener *listeners_ptr,
				   int count, const char *pointer)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;

	for (int i = 1; i < count; i++) {
		const char *at = gw_json_index_pointer(check_ptr, pointer, (size_t)i);

		for (int j = 0; j < i; j++) {
			if (strcmp(listeners_ptr[i].name, listeners_ptr[j].name) == 0) {
				gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, at, "name"),
					      "name %s is already used by %s/%d",
					      gw_json_quote(check_ptr, listeners_ptr[i].name), pointer, j);
				break;
			}
		}
		for (int j = 0; j < i; j++) {
			if (same_socket(&listeners_ptr[i].sockaddr, &listeners_ptr[j].sockaddr)) {
				gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, at, "port"),
					      "%s:%d is already used by %s/%d", listeners_ptr[i].address,
					      listeners_ptr[i].port, pointer, j);
				break;
			}
		}
	}
}

static void load_listeners(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer)
{
	struct gw_config *config_ptr = loader_ptr->config_ptr;
	size_t count = json_array_size(json_ptr);
	struct gw_config_listener *listeners_ptr =
		gw_config_alloc(loader_ptr, sizeof(*listeners_ptr) * (count ? count : 1));

	if (!listeners_ptr)
		return;
	for (size_t i = 0; i < count; i++)
		load_listener(loader_ptr, json_array_get(json_ptr, i),
			      gw_json_index_pointer(&loader_ptr->check, pointer, i), (int)i, &listeners_ptr[i]);
	config_ptr->listeners_ptr = listeners_ptr;
	config_ptr->listener_count = (int)count;
	check_listeners_differ(loader_ptr, listeners_ptr, (int)count, pointer);
}

static void load_admin(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer)
{
	static const char *const keys[] = {"address", "port", "token", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	struct gw_config_admin *admin_ptr = &loader_ptr->config_ptr->admin;
	const char *token;

	if (!json_ptr || gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	admin_ptr->enabled = 1;
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "address", "127.0.0.1", is_ipv4, GW_SYNTAX_IPV4_RULE,
			      &admin_ptr->address);
	gw_json_check_required(check_ptr, json_ptr, pointer, "port");
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "port", 0, PORT_MAX, 0, &admin_ptr->port);
	fill_sockaddr(&admin_ptr->sockaddr, admin_ptr->address, admin_ptr->port);
	if (gw_json_read_string(check_ptr, json_ptr, pointer, "token", NULL, &token) == 0 && token) {
		size_t len = strlen(token);
		int visible = 1;

		for (size_t i = 0; i < len; i++)
			visible &= token[i] > ' ' && token[i] < 0x7f;
		if (len < GW_CONFIG_ADMIN_TOKEN_MIN || len > GW_CONFIG_ADMIN_TOKEN_MAX || !visible)
			gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, "token"),
				      "a token is %d to %d visible ASCII characters (no spaces)",
				      GW_CONFIG_ADMIN_TOKEN_MIN, GW_CONFIG_ADMIN_TOKEN_MAX);
	}
	admin_ptr->token = token ? token : "";
	for (int i = 0; i < loader_ptr->config_ptr->listener_count; i++) {
		if (same_socket(&admin_ptr->sockaddr, &loader_ptr->config_ptr->listeners_ptr[i].sockaddr)) {
			gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, "port"),
				      "%s:%d is already used by /listeners/%d", admin_ptr->address, admin_ptr->port, i);
			break;
		}
	}
}

static void load_access_log(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer)
{
	static const char *const keys[] = {"path", "enabled", "buffer_bytes", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	struct gw_config_access_log *log_ptr = &loader_ptr->config_ptr->access_log;
	long long buffer_bytes;

	log_ptr->path = "-";
	log_ptr->buffer_bytes = ACCESS_LOG_BUFFER_DEFAULT;
	if (!json_ptr || gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "path", "-", gw_syntax_is_not_empty,
			      GW_SYNTAX_NOT_EMPTY_RULE, &log_ptr->path);
	gw_json_read_bool(check_ptr, json_ptr, pointer, "enabled", 1, &log_ptr->enabled);
	gw_json_read_int(check_ptr, json_ptr, pointer, "buffer_bytes", ACCESS_LOG_BUFFER_MIN, ACCESS_LOG_BUFFER_MAX,
			 ACCESS_LOG_BUFFER_DEFAULT, &buffer_bytes);
	log_ptr->buffer_bytes = (size_t)buffer_bytes;
	log_ptr->to_stdout = strcmp(log_ptr->path, "-") == 0;
}

static void load_rate_limits(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer)
{
	static const char *const keys[] = {"cells", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	long long cells = GW_RATE_CELLS_DEFAULT;

	if (json_ptr && gw_json_check_object(check_ptr, json_ptr, pointer, keys) == 0)
		gw_json_read_int(check_ptr, json_ptr, pointer, "cells", 1024, 1 << 28, GW_RATE_CELLS_DEFAULT, &cells);
	loader_ptr->config_ptr->rate_limits.cells = (size_t)cells;
}

static void load_http(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer)
{
	static const char *const keys[] = {"max_head_bytes",
					   "max_headers",
					   "max_target_bytes",
					   "max_body_bytes",
					   "max_buffered_body_bytes",
					   "trusted_hops",
					   "via",
					   NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	struct gw_config_http *http_ptr = &loader_ptr->config_ptr->http;
	struct gw_http_limits *limits_ptr = &http_ptr->limits;
	long long head, headers, target, body, buffered;

	if (json_ptr && gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		json_ptr = NULL;
	gw_json_read_int(check_ptr, json_ptr, pointer, "max_head_bytes", 1024, 1048576, GW_HTTP_DEFAULT_MAX_HEAD_BYTES,
			 &head);
	gw_json_read_int(check_ptr, json_ptr, pointer, "max_headers", 1, 1000, GW_HTTP_DEFAULT_MAX_HEADERS, &headers);
	gw_json_read_int(check_ptr, json_ptr, pointer, "max_target_bytes", 256, 1048576,
			 GW_HTTP_DEFAULT_MAX_TARGET_BYTES, &target);
	gw_json_read_int(check_ptr, json_ptr, pointer, "max_body_bytes", 0, JSON_SAFE_INTEGER_MAX,
			 (long long)GW_HTTP_DEFAULT_MAX_BODY_BYTES, &body);
	gw_json_read_int(check_ptr, json_ptr, pointer, "max_buffered_body_bytes", 0, 64 * 1024 * 1024, 1024 * 1024,
			 &buffered);
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "trusted_hops", 0, 16, 0, &http_ptr->trusted_hops);
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "via", "vkgw", is_via,
			      GW_SYNTAX_TOKEN_RULE " or \"\" (no Via header)", &http_ptr->via);
	limits_ptr->max_head_bytes = (size_t)head;
	limits_ptr->max_headers = (uint32_t)headers;
	limits_ptr->max_target_bytes = (size_t)target;
	limits_ptr->max_body_bytes = (uint64_t)body;
	limits_ptr->max_trailers = GW_HTTP_DEFAULT_MAX_TRAILERS;
	limits_ptr->max_trailer_bytes = GW_HTTP_DEFAULT_MAX_TRAILER_BYTES;
	limits_ptr->max_chunk_line_bytes = GW_HTTP_DEFAULT_MAX_CHUNK_LINE_BYTES;
	http_ptr->max_buffered_body_bytes = (size_t)buffered;
}

static void load_client_timeouts(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer)
{
	static const char *const keys[] = {"header_ms", "body_idle_ms", "keepalive_idle_ms", "handshake_ms", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	struct gw_config_timeouts *timeouts_ptr = &loader_ptr->config_ptr->timeouts;

	if (json_ptr && gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		json_ptr = NULL;
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "header_ms", 1, TIMEOUT_MS_MAX, 10000,
			       &timeouts_ptr->header_ms);
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "body_idle_ms", 1, TIMEOUT_MS_MAX, 30000,
			       &timeouts_ptr->body_idle_ms);
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "keepalive_idle_ms", 1, TIMEOUT_MS_MAX, 60000,
			       &timeouts_ptr->keepalive_idle_ms);
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "handshake_ms", 1, TIMEOUT_MS_MAX, 10000,
			       &timeouts_ptr->handshake_ms);
}

/* A section that must be an object if present; NULL when absent or not. */
static const json_t *section(struct gw_config_loader *loader_ptr, const json_t *root_ptr, const char *key)
{
	const json_t *json_ptr;

	gw_json_read_object(&loader_ptr->check, root_ptr, "", key, &json_ptr);
	return json_ptr;
}

static void load_document(struct gw_config_loader *loader_ptr, const json_t *root_ptr)
{
	static const char *const keys[] = {"$schema",	"listeners", "admin",	    "access_log", "http", "timeouts",
					   "upstreams", "routes",    "rate_limits", "geo",	  NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const json_t *listeners_ptr, *routes_ptr;
	const char *schema;

	if (gw_json_check_object(check_ptr, root_ptr, "", keys) == -1)
		return;
	gw_json_read_string(check_ptr, root_ptr, "", "$schema", NULL, &schema);
	gw_json_check_required(check_ptr, root_ptr, "", "listeners");
	if (gw_json_read_array(check_ptr, root_ptr, "", "listeners", 1, &listeners_ptr) == 0 && listeners_ptr)
		load_listeners(loader_ptr, listeners_ptr, "/listeners");
	load_admin(loader_ptr, section(loader_ptr, root_ptr, "admin"), "/admin");
	load_access_log(loader_ptr, section(loader_ptr, root_ptr, "access_log"), "/access_log");
	load_http(loader_ptr, section(loader_ptr, root_ptr, "http"), "/http");
	load_client_timeouts(loader_ptr, section(loader_ptr, root_ptr, "timeouts"), "/timeouts");
	load_rate_limits(loader_ptr, section(loader_ptr, root_ptr, "rate_limits"), "/rate_limits");
	gw_config_load_geo(loader_ptr, section(loader_ptr, root_ptr, "geo"), "/geo");
	if (json_object_get(root_ptr, "upstreams") && !json_is_object(json_object_get(root_ptr, "upstreams")))
		loader_ptr->upstreams_unreadable = 1;
	gw_config_load_upstreams(loader_ptr, section(loader_ptr, root_ptr, "upstreams"), "/upstreams");
	gw_json_check_required(check_ptr, root_ptr, "", "routes");
	if (gw_json_read_array(check_ptr, root_ptr, "", "routes", 1, &routes_ptr) == 0 && routes_ptr)
		gw_config_load_routes(loader_ptr, routes_ptr, "/routes");
}

static void release(struct gw_config *config_ptr)
{
	struct gw_arena *arena_ptr = config_ptr->arena_ptr;

	/* regfree() writes to the regex_t, which sits in the sealed arena. */
	if (gw_arena_unseal(arena_ptr) == 0)
		for (struct gw_config_regex *regex_ptr = config_ptr->regexes_ptr; regex_ptr;
		     regex_ptr = regex_ptr->next_ptr)
			regfree(&regex_ptr->regex);
	free(config_ptr->holders_ptr);
	gw_arena_destroy(arena_ptr);
}

void gw_config_hold(const struct gw_config *config_ptr)
{
	(*config_ptr->holders_ptr)++;
}

void gw_config_free(const struct gw_config *config_ptr)
{
	if (config_ptr && --(*config_ptr->holders_ptr) == 0)
		release((struct gw_config *)config_ptr);
}

/* While build_snapshot runs: the directory of the file being loaded (the
 * filters' compile() resolve their files with it: gw_config_file_path),
 * and the files they named, which the snapshot lists for the watcher. */
static struct {
	int active;
	const char *base_dir;
	const char *files[GW_CONFIG_FILTER_FILES_MAX];
	int file_count;
} loading;

const char *gw_config_file_path(struct gw_arena *arena_ptr, const char *path)
{
	const char *joined = path;

	if (path[0] != '/' && loading.base_dir)
		joined = gw_arena_printf(arena_ptr, "%s/%s", loading.base_dir, path);
	if (!joined || !loading.active)
		return joined;
	for (int i = 0; i < loading.file_count; i++)
		if (strcmp(loading.files[i], joined) == 0)
			return joined;
	if (loading.file_count < GW_CONFIG_FILTER_FILES_MAX)
		loading.files[loading.file_count++] = joined;
	return joined;
}

/* The filters' files, into the snapshot (their paths are in its arena). */
static void keep_filter_files(struct gw_config *config_ptr)
{
	const char **files_ptr =
		gw_arena_alloc(config_ptr->arena_ptr, sizeof(char *) * (size_t)(loading.file_count + 1));

	if (!files_ptr)
		return;
	memcpy(files_ptr, loading.files, sizeof(char *) * (size_t)loading.file_count);
	config_ptr->filter_files_ptr = files_ptr;
	config_ptr->filter_file_count = loading.file_count;
}

/* Checks a parsed document and builds its snapshot; NULL after reporting. */
static struct gw_config *build_snapshot(const json_t *root_ptr, const char *base_dir, struct gw_diag *diag_ptr)
{
	int reported = gw_diag_reported(diag_ptr);
	struct gw_config_loader loader = {.check = {.diag_ptr = diag_ptr}, .base_dir = base_dir};
	struct gw_config *config_ptr = NULL;

	loader.check.arena_ptr = gw_arena_create(0);
	loader.check.scratch_ptr = gw_arena_create(0);
	if (loader.check.arena_ptr && loader.check.scratch_ptr)
		config_ptr = gw_arena_alloc(loader.check.arena_ptr, sizeof(*config_ptr));
	if (config_ptr) {
		config_ptr->arena_ptr = loader.check.arena_ptr;
		config_ptr->holders_ptr = calloc(1, sizeof(*config_ptr->holders_ptr));
		loader.config_ptr = config_ptr;
		if (config_ptr->holders_ptr) {
			*config_ptr->holders_ptr = 1;
			loading.active = 1;
			loading.base_dir = base_dir;
			loading.file_count = 0;
			load_document(&loader, root_ptr);
			keep_filter_files(config_ptr);
			memset(&loading, 0, sizeof(loading));
		}
	}
	if (!config_ptr || !config_ptr->holders_ptr || loader.check.out_of_memory)
		gw_diag_error(diag_ptr, "", "out of memory while loading the configuration");
	gw_arena_destroy(loader.check.scratch_ptr);
	if (config_ptr && gw_diag_reported(diag_ptr) == reported && gw_arena_seal(config_ptr->arena_ptr) == 0)
		return config_ptr;
	if (config_ptr)
		release(config_ptr);
	else
		gw_arena_destroy(loader.check.arena_ptr);
	return NULL;
}

/* Gives every problem reported since `first` its line and column, while
 * the text's positions are still at hand. */
static void locate_problems(struct gw_diag *diag_ptr, int first, const struct gw_json_pos *pos_ptr)
{
	for (int i = first; i < gw_diag_count(diag_ptr); i++) {
		int line, column;

		if (gw_config_problem_position(gw_diag_problem(diag_ptr, i), pos_ptr, &line, &column) == 0)
			gw_diag_set_position(diag_ptr, i, line, column);
	}
}

/* Relative file paths in the text are joined to base_dir (NULL: as written). */
static struct gw_config *load_text(const char *text, size_t len, const char *base_dir, struct gw_diag *diag_ptr)
{
	int first = gw_diag_count(diag_ptr);
	struct gw_json_pos *pos_ptr = gw_json_pos_scan(text, len);
	struct gw_config *config_ptr = NULL;
	json_error_t error;
	json_t *root_ptr;

	root_ptr = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
	if (!root_ptr) {
		/* jansson's position is just past the offending token. */
		size_t offset = error.position > 0 ? (size_t)error.position - 1 : 0;

		gw_diag_error_at(diag_ptr, error.line, error.column,
				 pos_ptr ? gw_json_pos_pointer_at(pos_ptr, offset) : "", "%s", error.text);
	} else {
		config_ptr = build_snapshot(root_ptr, base_dir, diag_ptr);
		json_decref(root_ptr);
	}
	if (pos_ptr)
		locate_problems(diag_ptr, first, pos_ptr);
	gw_json_pos_free(pos_ptr);
	return config_ptr;
}

struct gw_config *gw_config_load_buffer(const char *text, size_t len, struct gw_diag *diag_ptr)
{
	return load_text(text, len, NULL, diag_ptr);
}

char *gw_config_read_file(const char *path, size_t *len_ptr, struct gw_diag *diag_ptr)
{
	/* Non-blocking: opening a FIFO must not wait for a writer before the
	 * regular-file check refuses it (on a regular file it changes nothing). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	char *text_ptr = NULL;
	size_t len = 0;

	if (fd == -1) {
		gw_diag_error_at(diag_ptr, 0, 0, "", "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		gw_diag_error_at(diag_ptr, 0, 0, "", "cannot read: %s", strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		gw_diag_error_at(diag_ptr, 0, 0, "", "cannot read: %s",
				 S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
	} else if (st.st_size > GW_CONFIG_MAX_FILE_BYTES) {
		gw_diag_error_at(diag_ptr, 0, 0, "", "is larger than %d bytes", GW_CONFIG_MAX_FILE_BYTES);
	} else if (!(text_ptr = malloc((size_t)st.st_size + 1))) {
		gw_diag_error_at(diag_ptr, 0, 0, "", "cannot read: %s", strerror(errno));
	} else {
		while (len < (size_t)st.st_size) {
			ssize_t n = read(fd, text_ptr + len, (size_t)st.st_size - len);

			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0) {
				gw_diag_error_at(diag_ptr, 0, 0, "", "cannot read: %s",
						 n == 0 ? "file shrank while reading" : strerror(errno));
				free(text_ptr);
				text_ptr = NULL;
				break;
			}
			len += (size_t)n;
		}
	}
	close(fd);
	*len_ptr = len;
	return text_ptr;
}

struct gw_config *gw_config_load_text(const char *text, size_t len, const char *path, struct gw_diag *diag_ptr)
{
	struct gw_config *config_ptr;
	const char *slash;
	char *dir_ptr;

	/* The directory part of the path, "." for a bare file name. */
	slash = strrchr(path, '/');
	dir_ptr = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir_ptr) {
		gw_diag_error(diag_ptr, "", "out of memory while loading the configuration");
		return NULL;
	}
	config_ptr = load_text(text, len, dir_ptr, diag_ptr);
	free(dir_ptr);
	return config_ptr;
}

struct gw_config *gw_config_load_file(const char *path, struct gw_diag *diag_ptr)
{
	size_t len;
	char *text_ptr = gw_config_read_file(path, &len, diag_ptr);
	struct gw_config *config_ptr;

	if (!text_ptr)
		return NULL;
	config_ptr = gw_config_load_text(text_ptr, len, path, diag_ptr);
	free(text_ptr);
	return config_ptr;
}

void gw_config_locate_problems(struct gw_diag *diag_ptr, int first, const char *text, size_t len)
{
	struct gw_json_pos *pos_ptr = gw_json_pos_scan(text, len);

	if (pos_ptr)
		locate_problems(diag_ptr, first, pos_ptr);
	gw_json_pos_free(pos_ptr);
}
