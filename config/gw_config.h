#ifndef GW_CONFIG_H
#define GW_CONFIG_H

/* gw_config: the gateway's JSON configuration turned into a validated,
 * immutable snapshot (gw_config_s.h), and the route lookup over it.
 *
 * Loading checks everything and reports every problem to a gw_diag, each
 * under the JSON pointer of the value at fault; on success it returns a
 * snapshot that lives in one sealed (read-only) arena. Filter entries are
 * compiled by their registered type (gw_config_filters.h: the gateway's
 * registry supplies the lookup), so the filter types must be registered
 * before loading. docs/config.md describes the
 * format and config/schema.json is its JSON Schema. */

#include <stddef.h>
#include <stdio.h>

struct gw_config;
struct gw_route;
struct gw_config_upstream;
struct gw_diag;
struct gw_json_pos;

/* Configuration files larger than this are refused. */
#define GW_CONFIG_MAX_FILE_BYTES (64 * 1024 * 1024)

/* Loads and checks a configuration. NULL if there was any problem (or not
 * enough memory), every problem then being in `diag_ptr` with its line and
 * column already set (the text is gone by the time they are printed). */
struct gw_config *gw_config_load_file(const char *path, struct gw_diag *diag_ptr);
struct gw_config *gw_config_load_buffer(const char *text, size_t len, struct gw_diag *diag_ptr);
/* The text of a file as gw_config_load_file reads it (a regular file, at
 * most GW_CONFIG_MAX_FILE_BYTES), in a malloc()ed buffer; NULL after
 * reporting. Then gw_config_load_text checks the very bytes read, relative
 * file paths in them joined to the directory of `path`. */
char *gw_config_read_file(const char *path, size_t *len_ptr, struct gw_diag *diag_ptr);
struct gw_config *gw_config_load_text(const char *text, size_t len, const char *path, struct gw_diag *diag_ptr);
/* For a filter's compile(), while a configuration loads: a file path from
 * its entry as the loader takes paths (a relative one is joined to the
 * configuration file's directory), in `arena_ptr`; NULL for want of
 * memory. Outside a load, or for a text with no file, the path as
 * written. The snapshot lists the files so named (filter_files_ptr), and
 * `vkgw --watch` watches them with the configuration file. */
struct gw_arena;
const char *gw_config_file_path(struct gw_arena *arena_ptr, const char *path);
/* Gives the problems reported since index `first` (by a check made after
 * loading) their lines and columns in `text`. */
void gw_config_locate_problems(struct gw_diag *diag_ptr, int first, const char *text, size_t len);
/* One more holder of the snapshot: each gw_config_free lets one go, and
 * the last frees it (its regexes and its arena). A loaded snapshot has
 * one holder. Free takes NULL. */
void gw_config_hold(const struct gw_config *config_ptr);
void gw_config_free(const struct gw_config *config_ptr);

/* What a reload to `fresh_ptr` may not change: against `first_ptr` (the
 * snapshot vkgw started with), the admin listener and the access log; against
 * `running_ptr` (the last one accepted), a listener it keeps (same name,
 * address and port) must keep its isolation and TLS on or off, and one it
 * adds or moves needs a port other than 0. 0, or -1 with each problem
 * reported under its pointer (positions: gw_config_locate_problems). */
int gw_config_check_reload(const struct gw_config *first_ptr, const struct gw_config *running_ptr,
			   const struct gw_config *fresh_ptr, struct gw_diag *diag_ptr);
/* The index in `running_ptr` of the listener a reload keeps for
 * `listener_ptr`: the same name, address and port; -1 if it adds it (or
 * moves it: the old one closes, a new one opens). */
struct gw_config_listener;
int gw_config_listener_kept(const struct gw_config *running_ptr, const struct gw_config_listener *listener_ptr);

/* Prints one line per problem, in order of position in the file:
 *   PATH:LINE:COL: POINTER: MESSAGE
 * The "POINTER: " part is left out for the whole document (pointer ""),
 * e.g. for a syntax error outside any value; "LINE:COL:" is left out when
 * the problem has no position (an unreadable file). `pos_ptr` may be NULL; it
 * is used only for problems whose position is not set yet. */
void gw_config_print_errors(FILE *out_ptr, const char *path, const struct gw_diag *diag_ptr,
			    const struct gw_json_pos *pos_ptr);

/* A request as route matching sees it. Header lookups receive the name in
 * lower case and return 1 with the (first) value, or 0 if absent. */
typedef int gw_header_lookup_fn(void *ctx_ptr, const char *name, size_t name_len, const char **value_ptr,
				size_t *value_len_ptr);

/* How the loader checks a geo database file it is given for a role
 * (GW_CONFIG_GEO_COUNTRY, _CITY, _ASN; the program registers
 * gateway/gw_geo.h's gw_geo_validate): 0, or -1 with why in
 * error[len], reported at the file's pointer. Unset, files are not read. */
typedef int gw_config_geo_check_fn(int role, const char *path, char *error, size_t len);
void gw_config_set_geo_check(gw_config_geo_check_fn *check_fn);

struct gw_geo_answer;
struct gw_match_request {
	const char *method;
	size_t method_len;
	const char *host; /* the Host header as received (a port is ignored); NULL if none */
	size_t host_len;
	const char *path; /* the target's path, without the query */
	size_t path_len;
	gw_header_lookup_fn *header_lookup; /* NULL: no headers */
	void *header_ctx_ptr;
	/* The request's values by name (the client's TLS certificate:
	 * "tls.client.subject", "tls.client.names", "tls.client.sha256"),
	 * with the header lookup's contract; NULL: none. */
	gw_header_lookup_fn *value_lookup;
	void *value_ctx_ptr;
	int first_route; /* routes before this index are not tried (after a continue route) */
	/* The client's geo answer, looked up on the first call (a route
	 * matching on geo asks); NULL: none. */
	const struct gw_geo_answer *(*geo_lookup)(void *ctx_ptr);
	void *geo_ctx_ptr;
};

/* The first route, from request_ptr->first_route on, whose matchers all
 * accept `request_ptr`, or NULL. */
const struct gw_route *gw_config_match_route(const struct gw_config *config_ptr,
					     const struct gw_match_request *request_ptr);
/* The upstream named `name`, or NULL. */
const struct gw_config_upstream *gw_config_find_upstream(const struct gw_config *config_ptr, const char *name);
/* The method's enum gw_http_method value (gw_http_policy.h), or
 * GW_METHOD_OTHER for any other token. Case-sensitive. */
int gw_config_method_from_name(const char *name, size_t len);

#endif
