/* gw_config_routes: the "routes" section. Each route's "match" becomes an
 * array of matchers ordered cheapest first (method, host, exact or prefix
 * path, headers, then a regex), its filters are compiled by their types,
 * and its action refers to its upstream by index. */
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_config_filters.h"
#include "gw_config_load.h"
#include "gw_config_syntax.h"
#include "gw_arena.h"
#include "gw_diag.h"

#include <stdlib.h>
#include <string.h>

#define STATUS_MIN 100
#define STATUS_MAX 599
#define REDIRECT_STATUS_DEFAULT 302
#define REDIRECT_STATUSES "301, 302, 303, 307, 308"
#define REGEX_ERROR_MAX 256
/* A route's deadline: Envoy's default route timeout, and an hour at most;
 * a client may ask for a minute at most unless the route says otherwise. */
#define DEADLINE_MS_DEFAULT 15000
#define DEADLINE_MS_MAX 3600000
#define DEADLINE_CLIENT_MAX_MS_DEFAULT 60000
/* Upstream names an "unknown upstream" message lists at most. */
#define UPSTREAMS_LISTED 16
/* Matchers besides the headers: method, host, path, the client
 * certificate's four, and geo. */
#define ROUTE_FIXED_MATCHERS 8

static const char *const path_kinds[] = {"exact", "prefix", "regex", NULL};
enum path_kind { PATH_EXACT, PATH_PREFIX, PATH_REGEX };

/* What the loader keeps of a route's path match for its action. */
struct route_path {
	int kind; /* -1: no path match */
	const char *text;
};

/* Set by the gateway's filter registry; NULL: no type registered yet. */
static const struct gw_config_filter_types *filter_types_ptr;

void gw_config_set_filter_types(const struct gw_config_filter_types *types_ptr)
{
	filter_types_ptr = types_ptr;
}

static int gw_config_filter_request_head_only(const struct gw_filter_type *type_ptr)
{
	return !filter_types_ptr || !filter_types_ptr->request_head_only || !type_ptr ||
	       filter_types_ptr->request_head_only(type_ptr);
}

static struct gw_route_matcher *add_matcher(struct gw_route_matcher *matchers_ptr, int *count_ptr,
					    enum gw_match_kind kind)
{
	struct gw_route_matcher *matcher_ptr = &matchers_ptr[(*count_ptr)++];

	matcher_ptr->kind = kind;
	return matcher_ptr;
}

static void load_methods(struct gw_config_loader *loader_ptr, const json_t *methods_ptr, const char *pointer,
			 struct gw_route_matcher *matcher_ptr)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	size_t count = json_array_size(methods_ptr);
	const char **others_ptr = gw_config_alloc(loader_ptr, sizeof(char *) * count);

	if (!others_ptr)
		return;
	matcher_ptr->methods.other_ptr = others_ptr;
	for (size_t i = 0; i < count; i++) {
		const json_t *method_ptr = json_array_get(methods_ptr, i);
		const char *method_pointer = gw_json_index_pointer(check_ptr, pointer, i);
		int known;

		if (!json_is_string(method_ptr)) {
			gw_diag_error(check_ptr->diag_ptr, method_pointer, "expected a string, not %s",
				      gw_json_type_name(method_ptr));
			continue;
		}
		if (gw_config_check_syntax(loader_ptr, json_string_value(method_ptr), method_pointer,
					   gw_syntax_is_token, GW_SYNTAX_TOKEN_RULE) == -1)
			continue;
		known = gw_config_method_from_name(json_string_value(method_ptr), json_string_length(method_ptr));
		if (known != GW_METHOD_OTHER)
			matcher_ptr->methods.known_bits |= GW_MATCH_METHOD_BIT(known);
		else
			others_ptr[matcher_ptr->methods.other_count++] =
				gw_config_strdup(loader_ptr, json_string_value(method_ptr));
	}
}

static void load_header_matcher(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
				struct gw_route_matcher *matcher_ptr)
{
	static const char *const keys[] = {"name", "exact", "present", NULL};
	static const char *const tests[] = {"exact", "present", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *name = NULL, *value;
	int present;

	matcher_ptr->header.name = "";
	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	gw_json_check_required(check_ptr, json_ptr, pointer, "name");
	if (gw_config_read_syntax(loader_ptr, json_ptr, pointer, "name", NULL, gw_syntax_is_token, GW_SYNTAX_TOKEN_RULE,
				  &name) == 0 &&
	    name) {
		matcher_ptr->header.name = gw_config_lower_copy(loader_ptr, name);
		matcher_ptr->header.name_len = strlen(name);
	}
	switch (gw_json_check_one_of(check_ptr, json_ptr, pointer, tests)) {
	case 0:
		if (gw_config_read_syntax(loader_ptr, json_ptr, pointer, "exact", NULL, gw_syntax_is_field_value,
					  GW_SYNTAX_FIELD_VALUE_RULE, &value) == 0) {
			matcher_ptr->kind = GW_MATCH_HEADER_EXACT;
			matcher_ptr->header.value = value;
			matcher_ptr->header.value_len = strlen(value);
		}
		break;
	case 1:
		if (gw_json_read_bool(check_ptr, json_ptr, pointer, "present", 1, &present) == 0)
			matcher_ptr->kind = present ? GW_MATCH_HEADER_PRESENT : GW_MATCH_HEADER_ABSENT;
		break;
	}
}

/* Compiles `pattern` into the snapshot's arena and lists it for regfree(). */
static const regex_t *compile_regex(struct gw_config_loader *loader_ptr, const char *pattern, const char *pointer)
{
	struct gw_config_regex *regex_ptr = gw_config_alloc(loader_ptr, sizeof(*regex_ptr));
	char message[REGEX_ERROR_MAX];
	int rc;

	if (!regex_ptr)
		return NULL;
	rc = regcomp(&regex_ptr->regex, pattern, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &regex_ptr->regex, message, sizeof(message));
		gw_diag_error(loader_ptr->check.diag_ptr, pointer, "invalid regular expression: %s", message);
		return NULL;
	}
	regex_ptr->next_ptr = loader_ptr->config_ptr->regexes_ptr;
	loader_ptr->config_ptr->regexes_ptr = regex_ptr;
	return &regex_ptr->regex;
}

/* The path match; a regex is returned through *regex_ptr to go last. */
static void load_path(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
		      struct gw_route_matcher *matchers_ptr, int *count_ptr, struct route_path *path_ptr,
		      const regex_t **regex_ptr)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	struct gw_route_matcher *matcher_ptr;
	int kind;
	const char *text;

	if (gw_json_check_object(check_ptr, json_ptr, pointer, path_kinds) == -1)
		return;
	kind = gw_json_check_one_of(check_ptr, json_ptr, pointer, path_kinds);
	if (kind == PATH_REGEX) {
		if (gw_config_read_syntax(loader_ptr, json_ptr, pointer, "regex", NULL, gw_syntax_is_not_empty,
					  GW_SYNTAX_NOT_EMPTY_RULE, &text) == 0) {
			*regex_ptr =
				compile_regex(loader_ptr, text, gw_json_member_pointer(check_ptr, pointer, "regex"));
			path_ptr->kind = PATH_REGEX;
		}
	} else if (kind >= 0) {
		if (gw_config_read_syntax(loader_ptr, json_ptr, pointer, path_kinds[kind], NULL, gw_syntax_is_path,
					  GW_SYNTAX_PATH_RULE, &text) == 0) {
			matcher_ptr = add_matcher(matchers_ptr, count_ptr,
						  kind == PATH_EXACT ? GW_MATCH_PATH_EXACT : GW_MATCH_PATH_PREFIX);
			matcher_ptr->text.ptr = text;
			matcher_ptr->text.len = strlen(text);
			path_ptr->kind = kind;
			path_ptr->text = text;
		}
	}
}

static int is_sha256_hex(const char *text)
{
	size_t len = strlen(text);

	return len == 64 && strspn(text, "0123456789abcdef") == 64;
}

/* A matcher of request value `name` (gw_match_request.value_lookup). */
static void add_value_matcher(struct gw_route_matcher *matchers_ptr, int *count_ptr, enum gw_match_kind kind,
			      const char *name, const char *value)
{
	struct gw_route_matcher *matcher_ptr = add_matcher(matchers_ptr, count_ptr, kind);

	matcher_ptr->header.name = name;
	matcher_ptr->header.name_len = strlen(name);
	matcher_ptr->header.value = value;
	matcher_ptr->header.value_len = value ? strlen(value) : 0;
}

/* "client_certificate": { "present": bool, "subject": RFC 2253 text,
 * "name": "DNS:x" | "URI:x" | "EMAIL:x", "sha256": hex }, on the verified
 * certificate of a TLS listener's client (docs/config.md). */
static void load_client_certificate(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
				    struct gw_route_matcher *matchers_ptr, int *count_ptr)
{
	static const char *const keys[] = {"present", "subject", "name", "sha256", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *subject = NULL, *name = NULL, *sha256 = NULL;
	int present = 1;

	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	if (json_object_size(json_ptr) == 0) {
		gw_diag_error(check_ptr->diag_ptr, pointer,
			      "names nothing to match: \"present\", \"subject\", "
			      "\"name\" or \"sha256\"");
		return;
	}
	gw_json_read_bool(check_ptr, json_ptr, pointer, "present", 1, &present);
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "subject", NULL, gw_syntax_is_not_empty,
			      GW_SYNTAX_NOT_EMPTY_RULE, &subject);
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "name", NULL, gw_syntax_is_not_empty,
			      GW_SYNTAX_NOT_EMPTY_RULE, &name);
	if (json_is_string(json_object_get(json_ptr, "sha256")))
		sha256 = gw_config_lower_copy(loader_ptr, json_string_value(json_object_get(json_ptr, "sha256")));
	else
		gw_json_read_string(check_ptr, json_ptr, pointer, "sha256", NULL, &sha256);
	if (sha256)
		gw_config_check_syntax(loader_ptr, sha256, gw_json_member_pointer(check_ptr, pointer, "sha256"),
				       is_sha256_hex, "must be a SHA-256 in hex (64 digits)");
	if (!present && (subject || name || sha256)) {
		gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, "present"),
			      "false matches requests without a certificate: it takes no other key");
		return;
	}
	add_value_matcher(matchers_ptr, count_ptr, present ? GW_MATCH_VALUE_PRESENT : GW_MATCH_VALUE_ABSENT,
			  "tls.client.sha256", NULL);
	if (subject)
		add_value_matcher(matchers_ptr, count_ptr, GW_MATCH_VALUE_EXACT, "tls.client.subject", subject);
	if (name)
		add_value_matcher(matchers_ptr, count_ptr, GW_MATCH_VALUE_LIST_HAS, "tls.client.names", name);
	if (sha256)
		add_value_matcher(matchers_ptr, count_ptr, GW_MATCH_VALUE_EXACT, "tls.client.sha256", sha256);
}

/* "values": {"NAME": "exact text" | {"present": bool}}, on the values a
 * request carries (a continue route's filters set them: "consumer",
 * "jwt.role"; the client's certificate: "tls.client.*"). */
static void load_value_matchers(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
				struct gw_route_matcher *matchers_ptr, int *count_ptr)
{
	static const char *const keys[] = {"present", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *name;
	const json_t *value_ptr;

	json_object_foreach((json_t *)json_ptr, name, value_ptr) {
		const char *at = gw_json_member_pointer(check_ptr, pointer, name);
		const char *copy = gw_arena_strdup(check_ptr->arena_ptr, name);
		int present = 1;

		if (!copy) {
			check_ptr->out_of_memory = 1;
			continue;
		}
		if (!gw_syntax_is_token(name) || strlen(name) > 64) {
			gw_diag_error(check_ptr->diag_ptr, at, "a value's name is a token of 1 to 64 characters");
			continue;
		}
		if (json_is_string(value_ptr)) {
			const char *text = gw_arena_strdup(check_ptr->arena_ptr, json_string_value(value_ptr));

			if (text)
				add_value_matcher(matchers_ptr, count_ptr, GW_MATCH_VALUE_EXACT, copy, text);
			else
				check_ptr->out_of_memory = 1;
			continue;
		}
		if (!json_is_object(value_ptr)) {
			gw_diag_error(check_ptr->diag_ptr, at, "a string to equal, or {\"present\": true or false}");
			continue;
		}
		if (gw_json_check_object(check_ptr, value_ptr, at, keys) == -1)
			continue;
		gw_json_check_required(check_ptr, value_ptr, at, "present");
		gw_json_read_bool(check_ptr, value_ptr, at, "present", 1, &present);
		add_value_matcher(matchers_ptr, count_ptr, present ? GW_MATCH_VALUE_PRESENT : GW_MATCH_VALUE_ABSENT,
				  copy, NULL);
	}
}

/* "geo": {"country": [...], ...}: the client's geo answer on every list
 * given. Needs the top-level "geo" databases. */
static void load_geo_matcher(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			     struct gw_route_matcher *matchers_ptr, int *count_ptr)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	struct gw_geo_criteria *criteria_ptr = gw_config_alloc(loader_ptr, sizeof(*criteria_ptr));

	if (!loader_ptr->config_ptr->geo.enabled)
		gw_diag_error(check_ptr->diag_ptr, pointer,
			      "matching on geo needs the databases: add \"geo\": {\"databases\": {...}} at the top "
			      "level");
	if (!criteria_ptr ||
	    gw_geo_criteria_compile(json_ptr, pointer, check_ptr->diag_ptr, check_ptr->arena_ptr, criteria_ptr) == -1)
		return;
	add_matcher(matchers_ptr, count_ptr, GW_MATCH_GEO)->geo_ptr = criteria_ptr;
}

static void load_match(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
		       struct gw_route *route_ptr, struct route_path *path_ptr)
{
	static const char *const keys[] = {"host",   "path", "methods", "headers", "client_certificate",
					   "values", "geo",  NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const json_t *methods_ptr, *headers_ptr, *path_json_ptr, *cert_json_ptr, *values_ptr = NULL;
	const char *host;
	const regex_t *regex_ptr = NULL;
	struct gw_route_matcher *matchers_ptr;
	int count = 0;

	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	gw_json_read_array(check_ptr, json_ptr, pointer, "methods", 1, &methods_ptr);
	gw_json_read_array(check_ptr, json_ptr, pointer, "headers", 0, &headers_ptr);
	gw_json_read_object(check_ptr, json_ptr, pointer, "values", &values_ptr);
	matchers_ptr = gw_config_alloc(loader_ptr,
				       sizeof(*matchers_ptr) * (ROUTE_FIXED_MATCHERS + json_array_size(headers_ptr) +
								json_object_size(values_ptr)));
	if (!matchers_ptr)
		return;
	if (methods_ptr)
		load_methods(loader_ptr, methods_ptr, gw_json_member_pointer(check_ptr, pointer, "methods"),
			     add_matcher(matchers_ptr, &count, GW_MATCH_METHOD));
	if (gw_config_read_syntax(loader_ptr, json_ptr, pointer, "host", NULL, gw_syntax_is_host_pattern,
				  GW_SYNTAX_HOST_PATTERN_RULE, &host) == 0 &&
	    host) {
		int suffix = host[0] == '*';
		struct gw_route_matcher *matcher_ptr =
			add_matcher(matchers_ptr, &count, suffix ? GW_MATCH_HOST_SUFFIX : GW_MATCH_HOST_EXACT);

		/* "*.example.com" keeps ".example.com": the dot must match too. */
		matcher_ptr->text.ptr = gw_config_lower_copy(loader_ptr, host + suffix);
		matcher_ptr->text.len = strlen(host + suffix);
	}
	if (gw_json_read_object(check_ptr, json_ptr, pointer, "path", &path_json_ptr) == 0 && path_json_ptr)
		load_path(loader_ptr, path_json_ptr, gw_json_member_pointer(check_ptr, pointer, "path"), matchers_ptr,
			  &count, path_ptr, &regex_ptr);
	for (size_t i = 0; i < json_array_size(headers_ptr); i++)
		load_header_matcher(
			loader_ptr, json_array_get(headers_ptr, i),
			gw_json_index_pointer(check_ptr, gw_json_member_pointer(check_ptr, pointer, "headers"), i),
			add_matcher(matchers_ptr, &count, GW_MATCH_HEADER_PRESENT));
	if (gw_json_read_object(check_ptr, json_ptr, pointer, "client_certificate", &cert_json_ptr) == 0 &&
	    cert_json_ptr)
		load_client_certificate(loader_ptr, cert_json_ptr,
					gw_json_member_pointer(check_ptr, pointer, "client_certificate"), matchers_ptr,
					&count);
	if (values_ptr)
		load_value_matchers(loader_ptr, values_ptr, gw_json_member_pointer(check_ptr, pointer, "values"),
				    matchers_ptr, &count);
	if (json_object_get(json_ptr, "geo"))
		load_geo_matcher(loader_ptr, json_object_get(json_ptr, "geo"),
				 gw_json_member_pointer(check_ptr, pointer, "geo"), matchers_ptr, &count);
	if (regex_ptr)
		add_matcher(matchers_ptr, &count, GW_MATCH_PATH_REGEX)->regex_ptr = regex_ptr;
	route_ptr->matchers_ptr = matchers_ptr;
	route_ptr->matcher_count = count;
}

static const char *known_filter_types(struct gw_config_loader *loader_ptr)
{
	const char *const *names_ptr = filter_types_ptr ? filter_types_ptr->names() : NULL;
	const char *list = "known types: ";

	if (!names_ptr || !names_ptr[0])
		return "no filter types are registered";
	for (int i = 0; names_ptr[i]; i++) {
		list = gw_arena_printf(loader_ptr->check.scratch_ptr, "%s%s%s", list, i ? ", " : "", names_ptr[i]);
		if (!list) {
			loader_ptr->check.out_of_memory = 1;
			return "";
		}
	}
	return list;
}

/* The loader whose filter entry a type compiles now, for
 * gw_config_filter_upstream; NULL outside a compile(). Loads run one at a
 * time in a process (the check, or a kernel building a generation). */
static struct gw_config_loader *compiling_loader_ptr;

static void load_filter(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			struct gw_route_filter *filter_ptr)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	int reported = gw_diag_reported(check_ptr->diag_ptr);
	const struct gw_filter_type *type_ptr;
	const char *type;
	int rc;

	if (!json_is_object(json_ptr)) {
		gw_diag_error(check_ptr->diag_ptr, pointer, "expected an object, not %s", gw_json_type_name(json_ptr));
		return;
	}
	gw_json_check_required(check_ptr, json_ptr, pointer, "type");
	if (gw_json_read_string(check_ptr, json_ptr, pointer, "type", NULL, &type) == -1 || !type)
		return;
	type_ptr = filter_types_ptr ? filter_types_ptr->find(type) : NULL;
	if (!type_ptr) {
		gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, "type"),
			      "unknown filter type %s; %s", gw_json_quote(check_ptr, type),
			      known_filter_types(loader_ptr));
		return;
	}
	if (strcmp(type, "geo") == 0 && !loader_ptr->config_ptr->geo.enabled)
		gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, "type"),
			      "a geo filter needs the databases: add \"geo\": {\"databases\": {...}} at the top "
			      "level");
	filter_ptr->type_ptr = type_ptr;
	compiling_loader_ptr = loader_ptr;
	rc = filter_types_ptr->compile(type_ptr, json_ptr, pointer, check_ptr->diag_ptr, check_ptr->arena_ptr,
				       &filter_ptr->compiled_ptr);
	compiling_loader_ptr = NULL;
	if (rc == -1 && gw_diag_reported(check_ptr->diag_ptr) == reported)
		gw_diag_error(check_ptr->diag_ptr, pointer, "filter %s refused this configuration",
			      gw_json_quote(check_ptr, type));
}

static void load_filters(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			 struct gw_route *route_ptr)
{
	const json_t *filters_json_ptr;
	const char *filters_pointer = gw_json_member_pointer(&loader_ptr->check, pointer, "filters");
	struct gw_route_filter *filters_ptr;
	size_t count;

	if (gw_json_read_array(&loader_ptr->check, json_ptr, pointer, "filters", 0, &filters_json_ptr) == -1 ||
	    !filters_json_ptr)
		return;
	count = json_array_size(filters_json_ptr);
	filters_ptr = gw_config_alloc(loader_ptr, sizeof(*filters_ptr) * (count ? count : 1));
	if (!filters_ptr)
		return;
	for (size_t i = 0; i < count; i++)
		load_filter(loader_ptr, json_array_get(filters_json_ptr, i),
			    gw_json_index_pointer(&loader_ptr->check, filters_pointer, i), &filters_ptr[i]);
	route_ptr->filters_ptr = filters_ptr;
	route_ptr->filter_count = (int)count;
}

/* "defined upstreams: a, b, c" for a message, the first few only. */
static const char *defined_upstreams(struct gw_config_loader *loader_ptr)
{
	const struct gw_config *config_ptr = loader_ptr->config_ptr;
	int shown = config_ptr->upstream_count < UPSTREAMS_LISTED ? config_ptr->upstream_count : UPSTREAMS_LISTED;
	const char *list = "defined upstreams: ";

	if (config_ptr->upstream_count == 0)
		return "no upstreams are defined";
	for (int i = 0; i < shown && list; i++)
		list = gw_arena_printf(loader_ptr->check.scratch_ptr, "%s%s%s", list, i ? ", " : "",
				       config_ptr->upstreams_ptr[i].name);
	if (list && shown < config_ptr->upstream_count)
		list = gw_arena_printf(loader_ptr->check.scratch_ptr, "%s, ... (%d in all)", list,
				       config_ptr->upstream_count);
	if (!list) {
		loader_ptr->check.out_of_memory = 1;
		return "";
	}
	return list;
}

int gw_config_filter_upstream(const char *name, const char *pointer, struct gw_diag *diag_ptr)
{
	struct gw_config_loader *loader_ptr = compiling_loader_ptr;

	if (!loader_ptr) {
		gw_diag_error(diag_ptr, pointer, "upstreams are known only while a configuration loads");
		return -1;
	}
	if (loader_ptr->upstreams_unreadable || gw_config_find_upstream(loader_ptr->config_ptr, name))
		return 0;
	gw_diag_error(diag_ptr, pointer, "unknown upstream %s; %s", gw_json_quote(&loader_ptr->check, name),
		      defined_upstreams(loader_ptr));
	return -1;
}

/* A list of tokens at `key` (protocol or header names), copied, in lower
 * case when `lower`; `dflt_ptr` (dflt_count of them) when absent, none
 * when it is []. */
static void load_tokens(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			const char *key, int lower, const char *const *dflt_ptr, int dflt_count,
			const char *const **names_ptr, int *count_ptr)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const json_t *list_ptr;
	const char **names;

	*names_ptr = dflt_ptr;
	*count_ptr = dflt_count;
	if (gw_json_read_array(check_ptr, json_ptr, pointer, key, 0, &list_ptr) == -1 || !list_ptr)
		return;
	pointer = gw_json_member_pointer(check_ptr, pointer, key);
	names = gw_config_alloc(loader_ptr, sizeof(char *) * (json_array_size(list_ptr) + 1));
	if (!names)
		return;
	*names_ptr = names;
	*count_ptr = 0;
	for (size_t i = 0; i < json_array_size(list_ptr); i++) {
		const json_t *name_ptr = json_array_get(list_ptr, i);
		const char *name_pointer = gw_json_index_pointer(check_ptr, pointer, i);
		const char *name = json_string_value(name_ptr);

		if (!name) {
			gw_diag_error(check_ptr->diag_ptr, name_pointer, "expected a string, not %s",
				      gw_json_type_name(name_ptr));
			continue;
		}
		if (gw_config_check_syntax(loader_ptr, name, name_pointer, gw_syntax_is_token, GW_SYNTAX_TOKEN_RULE) ==
		    -1)
			continue;
		names[(*count_ptr)++] =
			lower ? gw_config_lower_copy(loader_ptr, name) : gw_config_strdup(loader_ptr, name);
	}
}

/* "upgrades": protocol names (tokens); absent: WebSocket only. */
static void load_upgrades(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			  struct gw_route_action *action_ptr)
{
	static const char *const websocket_only[] = {"websocket"};

	load_tokens(loader_ptr, json_ptr, pointer, "upgrades", 0, websocket_only, 1, &action_ptr->proxy.upgrades_ptr,
		    &action_ptr->proxy.upgrade_count);
}

/* One of the names is not a deadline header the codec knows. */
static int any_other_name(const char *const *names_ptr, int count)
{
	for (int i = 0; i < count; i++)
		if (names_ptr[i] && strcmp(names_ptr[i], "x-request-timeout") != 0 &&
		    strcmp(names_ptr[i], "grpc-timeout") != 0 &&
		    strcmp(names_ptr[i], "x-envoy-expected-rq-timeout-ms") != 0)
			return 1;
	return 0;
}

/* "timeout_ms" and "deadline": the request's deadline (gw_route_deadline). */
static void load_deadline(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			  struct gw_route_deadline *deadline_ptr)
{
	static const char *const keys[] = {"client_max_ms", "offset_ms", "headers", "grpc_headers", NULL};
	static const char *const plain_default[] = {"x-request-timeout"};
	static const char *const grpc_default[] = {"grpc-timeout"};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const json_t *part_ptr = NULL;
	const char *part_pointer = gw_json_member_pointer(check_ptr, pointer, "deadline");

	gw_json_read_int_field(check_ptr, json_ptr, pointer, "timeout_ms", 0, DEADLINE_MS_MAX, DEADLINE_MS_DEFAULT,
			       &deadline_ptr->timeout_ms);
	if (gw_json_read_object(check_ptr, json_ptr, pointer, "deadline", &part_ptr) == 0 && part_ptr)
		gw_json_check_object(check_ptr, part_ptr, part_pointer, keys);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "client_max_ms", 0, DEADLINE_MS_MAX,
			       DEADLINE_CLIENT_MAX_MS_DEFAULT, &deadline_ptr->client_max_ms);
	gw_json_read_int_field(check_ptr, part_ptr, part_pointer, "offset_ms", 0, DEADLINE_MS_MAX, 0,
			       &deadline_ptr->offset_ms);
	load_tokens(loader_ptr, part_ptr, part_pointer, "headers", 1, plain_default, 1, &deadline_ptr->headers_ptr,
		    &deadline_ptr->header_count);
	load_tokens(loader_ptr, part_ptr, part_pointer, "grpc_headers", 1, grpc_default, 1,
		    &deadline_ptr->grpc_headers_ptr, &deadline_ptr->grpc_header_count);
	deadline_ptr->other_names = any_other_name(deadline_ptr->headers_ptr, deadline_ptr->header_count) ||
				    any_other_name(deadline_ptr->grpc_headers_ptr, deadline_ptr->grpc_header_count);
}

static void load_proxy(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
		       const struct route_path *path_ptr, struct gw_route_action *action_ptr)
{
	static const char *const keys[] = {"upstream",	 "prefix_rewrite", "upgrades", "connect", "forward_client_cert",
					   "timeout_ms", "deadline",	   NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const struct gw_config_upstream *upstream_ptr;
	const char *name;

	action_ptr->kind = GW_ACTION_PROXY;
	action_ptr->proxy.upstream_index = -1;
	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	gw_json_check_required(check_ptr, json_ptr, pointer, "upstream");
	if (gw_json_read_string(check_ptr, json_ptr, pointer, "upstream", NULL, &name) == 0 && name &&
	    !loader_ptr->upstreams_unreadable) {
		upstream_ptr = gw_config_find_upstream(loader_ptr->config_ptr, name);
		if (upstream_ptr)
			action_ptr->proxy.upstream_index = upstream_ptr->index;
		else
			gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, "upstream"),
				      "unknown upstream %s; %s", gw_json_quote(check_ptr, name),
				      defined_upstreams(loader_ptr));
	}
	if (gw_config_read_syntax(loader_ptr, json_ptr, pointer, "prefix_rewrite", NULL, gw_syntax_is_path,
				  GW_SYNTAX_PATH_RULE, &action_ptr->proxy.prefix_rewrite) == 0 &&
	    action_ptr->proxy.prefix_rewrite) {
		if (path_ptr->kind == PATH_EXACT || path_ptr->kind == PATH_REGEX)
			gw_diag_error_key(check_ptr->diag_ptr,
					  gw_json_member_pointer(check_ptr, pointer, "prefix_rewrite"),
					  "needs a \"prefix\" path match, not \"%s\"", path_kinds[path_ptr->kind]);
		/* No path match at all is the prefix "/". */
		action_ptr->proxy.match_prefix_len = path_ptr->text ? strlen(path_ptr->text) : 1;
	}
	load_upgrades(loader_ptr, json_ptr, pointer, action_ptr);
	gw_json_read_bool(check_ptr, json_ptr, pointer, "connect", 0, &action_ptr->proxy.connect);
	if (gw_config_read_syntax(loader_ptr, json_ptr, pointer, "forward_client_cert", NULL, gw_syntax_is_token,
				  GW_SYNTAX_TOKEN_RULE, &action_ptr->proxy.forward_client_cert) == 0 &&
	    action_ptr->proxy.forward_client_cert)
		action_ptr->proxy.forward_client_cert =
			gw_config_lower_copy(loader_ptr, action_ptr->proxy.forward_client_cert);
	load_deadline(loader_ptr, json_ptr, pointer, &action_ptr->proxy.deadline);
}

static int has_no_body(int status)
{
	return status < 200 || status == 204 || status == 304;
}

static void load_response_headers(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
				  struct gw_route_action *action_ptr)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const json_t *headers_ptr;
	const char *headers_pointer = gw_json_member_pointer(check_ptr, pointer, "headers");
	struct gw_config_header *fields_ptr;
	int count = 0;

	if (gw_json_read_object(check_ptr, json_ptr, pointer, "headers", &headers_ptr) == -1 || !headers_ptr)
		return;
	fields_ptr = gw_config_alloc(loader_ptr, sizeof(*fields_ptr) * (json_object_size(headers_ptr) + 1));
	if (!fields_ptr)
		return;
	for (void *iter_ptr = json_object_iter((json_t *)headers_ptr); iter_ptr;
	     iter_ptr = json_object_iter_next((json_t *)headers_ptr, iter_ptr)) {
		const char *name = json_object_iter_key(iter_ptr);

		const char *field_pointer = gw_json_member_pointer(check_ptr, headers_pointer, name);

		if (!gw_syntax_is_token(name))
			gw_diag_error_key(check_ptr->diag_ptr, field_pointer, "header name %s, not %s",
					  GW_SYNTAX_TOKEN_RULE, gw_json_quote(check_ptr, name));
		if (gw_config_read_syntax(loader_ptr, headers_ptr, headers_pointer, name, NULL,
					  gw_syntax_is_field_value, GW_SYNTAX_FIELD_VALUE_RULE,
					  &fields_ptr[count].value) == -1)
			continue;
		fields_ptr[count].name = gw_config_strdup(loader_ptr, name);
		count++;
	}
	action_ptr->respond.headers_ptr = fields_ptr;
	action_ptr->respond.header_count = count;
}

static void load_respond(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			 struct gw_route_action *action_ptr)
{
	static const char *const keys[] = {"status", "body", "headers", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	long long status;
	const char *body;

	action_ptr->kind = GW_ACTION_RESPOND;
	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	gw_json_check_required(check_ptr, json_ptr, pointer, "status");
	gw_json_read_int(check_ptr, json_ptr, pointer, "status", STATUS_MIN, STATUS_MAX, 0, &status);
	if (gw_json_read_string(check_ptr, json_ptr, pointer, "body", "", &body) == 0 && body[0] && status &&
	    has_no_body((int)status))
		gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, "body"),
			      "must be empty: a %lld response has no body", status);
	action_ptr->respond.status = (int)status;
	action_ptr->respond.body = body;
	action_ptr->respond.body_len = strlen(body);
	load_response_headers(loader_ptr, json_ptr, pointer, action_ptr);
}

static int is_redirect_status(double status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static void load_redirect(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			  struct gw_route_action *action_ptr)
{
	static const char *const keys[] = {"status", "location", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *status_pointer = gw_json_member_pointer(check_ptr, pointer, "status");
	const json_t *status_ptr;

	action_ptr->kind = GW_ACTION_REDIRECT;
	action_ptr->redirect.status = REDIRECT_STATUS_DEFAULT;
	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	status_ptr = json_object_get(json_ptr, "status");
	if (status_ptr && !json_is_number(status_ptr))
		gw_diag_error(check_ptr->diag_ptr, status_pointer, "expected one of " REDIRECT_STATUSES ", not %s",
			      gw_json_type_name(status_ptr));
	else if (status_ptr && !is_redirect_status(json_number_value(status_ptr)))
		gw_diag_error(check_ptr->diag_ptr, status_pointer, "must be one of " REDIRECT_STATUSES ", not %.15g",
			      json_number_value(status_ptr));
	else if (status_ptr)
		action_ptr->redirect.status = (int)json_number_value(status_ptr);
	gw_json_check_required(check_ptr, json_ptr, pointer, "location");
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "location", NULL, gw_syntax_is_location,
			      GW_SYNTAX_LOCATION_RULE, &action_ptr->redirect.location);
}

static void load_action(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			const struct route_path *path_ptr, struct gw_route_action *action_ptr)
{
	static const char *const kinds[] = {"proxy", "respond", "redirect", "continue", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const json_t *action_json_ptr;
	const char *action_pointer = gw_json_member_pointer(check_ptr, pointer, "action");

	gw_json_check_required(check_ptr, json_ptr, pointer, "action");
	if (gw_json_read_object(check_ptr, json_ptr, pointer, "action", &action_json_ptr) == -1 || !action_json_ptr)
		return;
	gw_json_check_object(check_ptr, action_json_ptr, action_pointer, kinds);
	switch (gw_json_check_one_of(check_ptr, action_json_ptr, action_pointer, kinds)) {
	case 0:
		load_proxy(loader_ptr, json_object_get(action_json_ptr, "proxy"),
			   gw_json_member_pointer(check_ptr, action_pointer, "proxy"), path_ptr, action_ptr);
		break;
	case 1:
		load_respond(loader_ptr, json_object_get(action_json_ptr, "respond"),
			     gw_json_member_pointer(check_ptr, action_pointer, "respond"), action_ptr);
		break;
	case 2:
		load_redirect(loader_ptr, json_object_get(action_json_ptr, "redirect"),
			      gw_json_member_pointer(check_ptr, action_pointer, "redirect"), action_ptr);
		break;
	case 3: {
		static const char *const none[] = {NULL};

		gw_json_check_object(check_ptr, json_object_get(action_json_ptr, "continue"),
				     gw_json_member_pointer(check_ptr, action_pointer, "continue"), none);
		action_ptr->kind = GW_ACTION_CONTINUE;
		break;
	}
	}
}

static void load_route(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer, int index,
		       struct gw_route *route_ptr)
{
	static const char *const keys[] = {"name", "match", "filters", "action", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *default_name = gw_arena_printf(check_ptr->arena_ptr, "route-%d", index);
	struct route_path path = {.kind = -1};
	const json_t *match_ptr;

	if (!default_name)
		check_ptr->out_of_memory = 1;
	route_ptr->name = default_name ? default_name : "";
	route_ptr->index = index;
	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "name", route_ptr->name, gw_syntax_is_name,
			      GW_SYNTAX_NAME_RULE, &route_ptr->name);
	if (gw_json_read_object(check_ptr, json_ptr, pointer, "match", &match_ptr) == 0 && match_ptr)
		load_match(loader_ptr, match_ptr, gw_json_member_pointer(check_ptr, pointer, "match"), route_ptr,
			   &path);
	load_filters(loader_ptr, json_ptr, pointer, route_ptr);
	load_action(loader_ptr, json_ptr, pointer, &path, &route_ptr->action);
}

static int compare_route_names(const void *a_ptr, const void *b_ptr, void *arg_ptr)
{
	const struct gw_route *routes_ptr = arg_ptr;
	int a = *(const int *)a_ptr;
	int b = *(const int *)b_ptr;
	int order = strcmp(routes_ptr[a].name, routes_ptr[b].name);

	if (order)
		return order;
	return (a > b) - (a < b);
}

/* Route names name routes in logs and metrics, so each names one route.
 * Sorting keeps this check fast for configurations with many routes. */
static void check_route_names_differ(struct gw_config_loader *loader_ptr, struct gw_route *routes_ptr, int count,
				     const char *pointer)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	int *order_ptr = gw_arena_alloc(check_ptr->scratch_ptr, sizeof(int) * (size_t)count);
	int first = 0;

	if (!order_ptr) {
		check_ptr->out_of_memory = 1;
		return;
	}
	for (int i = 0; i < count; i++)
		order_ptr[i] = i;
	qsort_r(order_ptr, (size_t)count, sizeof(int), compare_route_names, routes_ptr);
	for (int i = 1; i < count; i++) {
		const struct gw_route *route_ptr = &routes_ptr[order_ptr[i]];

		if (strcmp(route_ptr->name, routes_ptr[order_ptr[first]].name) != 0) {
			first = i;
			continue;
		}
		gw_diag_error(
			check_ptr->diag_ptr,
			gw_json_member_pointer(
				check_ptr, gw_json_index_pointer(check_ptr, pointer, (size_t)route_ptr->index), "name"),
			"name %s is already used by %s/%d", gw_json_quote(check_ptr, route_ptr->name), pointer,
			order_ptr[first]);
	}
}

/* A continue route hands the request on: a route must follow it, and its
 * filters may act on the request head only (the route that answers runs
 * the response's). */
static void check_continue_routes(struct gw_config_loader *loader_ptr, const struct gw_route *routes_ptr, int count,
				  const char *pointer)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;

	for (int i = 0; i < count; i++) {
		const struct gw_route *route_ptr = &routes_ptr[i];
		const char *at = gw_json_index_pointer(check_ptr, pointer, (size_t)i);

		if (route_ptr->action.kind != GW_ACTION_CONTINUE)
			continue;
		if (i == count - 1)
			gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, at, "action"),
				      "continue: no route follows to answer");
		for (int f = 0; f < route_ptr->filter_count; f++)
			if (!gw_config_filter_request_head_only(route_ptr->filters_ptr[f].type_ptr))
				gw_diag_error(check_ptr->diag_ptr,
					      gw_json_index_pointer(check_ptr,
								    gw_json_member_pointer(check_ptr, at, "filters"),
								    (size_t)f),
					      "a continue route's filters act on the request head only; this one reads "
					      "the body or the response: put it on the route that answers");
	}
}

void gw_config_load_routes(struct gw_config_loader *loader_ptr, const json_t *routes_json_ptr, const char *pointer)
{
	size_t count = json_array_size(routes_json_ptr);
	struct gw_route *routes_ptr = gw_config_alloc(loader_ptr, sizeof(*routes_ptr) * (count ? count : 1));

	if (!routes_ptr)
		return;
	for (size_t i = 0; i < count; i++)
		load_route(loader_ptr, json_array_get(routes_json_ptr, i),
			   gw_json_index_pointer(&loader_ptr->check, pointer, i), (int)i, &routes_ptr[i]);
	loader_ptr->config_ptr->routes_ptr = routes_ptr;
	loader_ptr->config_ptr->route_count = (int)count;
	check_route_names_differ(loader_ptr, routes_ptr, (int)count, pointer);
	check_continue_routes(loader_ptr, routes_ptr, (int)count, pointer);
}
