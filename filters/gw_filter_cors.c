/* gw_filter_cors: Cross-Origin Resource Sharing (Fetch standard, "CORS
 * protocol").
 *
 *   {"type": "cors", "allow_origins": ["https://a.example", "*"],
 *    "allow_methods": ["GET", "POST"], "allow_headers": ["content-type"],
 *    "expose_headers": ["x-request-id"], "allow_credentials": false,
 *    "max_age_s": 600}
 *
 * A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
 * answered here and never reaches the upstream: 204 with the
 * Access-Control-Allow-* headers when the origin and method are allowed,
 * 403 otherwise. Any other request with an allowed Origin goes on, and
 * its response gets Access-Control-Allow-Origin and the rest. The answer
 * depends on Origin, so every answer to a request with one says
 * "Vary: Origin" to caches. With credentials, the origin is echoed rather
 * than "*", which browsers refuse with credentials. */
#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filters.h"

#include <string.h>
#include <strings.h>

#define CORS_MAX_AGE_MAX 86400

struct cors_config {
	const char **origins_ptr;
	int origin_count;
	int any_origin; /* "*" is listed */
	const char **methods_ptr;
	int method_count;
	/* the response header values, joined once at compile time */
	const char *allow_methods; /* never empty: defaults to GET, HEAD, POST */
	const char *allow_headers; /* NULL: none */
	const char *expose_headers;
	int allow_credentials;
	char max_age[24]; /* "" when not configured */
};

/* "*", or scheme "://" host [":" port], as browsers serialise an origin. */
static int origin_valid(const char *origin)
{
	const char *host;

	if (strcmp(origin, "*") == 0)
		return 1;
	if (strncmp(origin, "https://", 8) == 0)
		host = origin + 8;
	else if (strncmp(origin, "http://", 7) == 0)
		host = origin + 7;
	else
		return 0;
	if (!*host)
		return 0;
	for (const char *c = host; *c; c++)
		if (*c == '/' || *c == '?' || *c == '#' || *c == ' ' || !gw_http_is_field_char((unsigned char)*c))
			return 0;
	return 1;
}

static int token_valid(const char *s)
{
	return gw_header_name_valid(s, strlen(s));
}

/* Checks each element of an array already read; reports bad ones. */
static void check_items(struct gw_filter_json *fj_ptr, const char *pointer, const char *key, const char **items_ptr,
			int count, int (*valid)(const char *), const char *what)
{
	char at[GW_FILTER_POINTER_MAX], item_at[GW_FILTER_POINTER_MAX];

	gw_filter_json_pointer(at, sizeof(at), pointer, key);
	for (int i = 0; i < count; i++) {
		if (!items_ptr[i] || valid(items_ptr[i]))
			continue;
		gw_diag_error(fj_ptr->diag_ptr, gw_filter_json_index(item_at, sizeof(item_at), at, (size_t)i),
			      "\"%s\" is not %s", items_ptr[i], what);
		fj_ptr->failed = 1;
	}
}

static const char *join(struct gw_arena *arena_ptr, const char **items_ptr, int count)
{
	const char *out = "";

	for (int i = 0; i < count && out; i++)
		out = gw_arena_printf(arena_ptr, "%s%s%s", out, i ? ", " : "", items_ptr[i] ? items_ptr[i] : "");
	return count ? out : NULL;
}

static int cors_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const keys[] = {"type",	     "allow_origins",	  "allow_methods", "allow_headers",
					   "expose_headers", "allow_credentials", "max_age_s",	   NULL};
	static const char *default_methods[] = {"GET", "HEAD", "POST"};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct cors_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));
	const char **headers_ptr, **expose_ptr;
	int header_count, expose_count;
	long long max_age;

	if (!config_ptr)
		return -1;
	*compiled_ptr = config_ptr;
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, keys) == -1)
		return -1;
	if (!json_object_get(config_json_ptr, "allow_origins")) {
		gw_diag_error(diag_ptr, pointer, "missing required key \"allow_origins\"");
		fj.failed = 1;
	}
	gw_filter_json_strings(&fj, config_json_ptr, pointer, "allow_origins", &config_ptr->origins_ptr,
			       &config_ptr->origin_count);
	check_items(&fj, pointer, "allow_origins", config_ptr->origins_ptr, config_ptr->origin_count, origin_valid,
		    "an origin (\"*\" or scheme://host[:port])");
	for (int i = 0; i < config_ptr->origin_count; i++)
		if (config_ptr->origins_ptr[i] && strcmp(config_ptr->origins_ptr[i], "*") == 0)
			config_ptr->any_origin = 1;
	gw_filter_json_strings(&fj, config_json_ptr, pointer, "allow_methods", &config_ptr->methods_ptr,
			       &config_ptr->method_count);
	check_items(&fj, pointer, "allow_methods", config_ptr->methods_ptr, config_ptr->method_count, token_valid,
		    "a method name");
	if (!json_object_get(config_json_ptr, "allow_methods")) {
		config_ptr->methods_ptr = default_methods;
		config_ptr->method_count = 3;
	}
	gw_filter_json_strings(&fj, config_json_ptr, pointer, "allow_headers", &headers_ptr, &header_count);
	check_items(&fj, pointer, "allow_headers", headers_ptr, header_count, token_valid, "a header name");
	gw_filter_json_strings(&fj, config_json_ptr, pointer, "expose_headers", &expose_ptr, &expose_count);
	check_items(&fj, pointer, "expose_headers", expose_ptr, expose_count, token_valid, "a header name");
	gw_filter_json_bool(&fj, config_json_ptr, pointer, "allow_credentials", 0, &config_ptr->allow_credentials);
	if (gw_filter_json_int(&fj, config_json_ptr, pointer, "max_age_s", 0, CORS_MAX_AGE_MAX, -1, &max_age) == 0 &&
	    max_age >= 0)
		snprintf(config_ptr->max_age, sizeof(config_ptr->max_age), "%lld", max_age);
	if (fj.failed)
		return -1;
	config_ptr->allow_methods = join(arena_ptr, config_ptr->methods_ptr, config_ptr->method_count);
	config_ptr->allow_headers = join(arena_ptr, headers_ptr, header_count);
	config_ptr->expose_headers = join(arena_ptr, expose_ptr, expose_count);
	if (!config_ptr->allow_methods && config_ptr->method_count)
		return -1;
	return 0;
}

static int origin_allowed(const struct cors_config *config_ptr, const char *origin, size_t len)
{
	if (config_ptr->any_origin)
		return 1;
	for (int i = 0; i < config_ptr->origin_count; i++)
		if (strlen(config_ptr->origins_ptr[i]) == len &&
		    strncasecmp(config_ptr->origins_ptr[i], origin, len) == 0)
			return 1;
	return 0;
}

static int method_allowed(const struct cors_config *config_ptr, const char *method, size_t len)
{
	for (int i = 0; i < config_ptr->method_count; i++)
		if (strlen(config_ptr->methods_ptr[i]) == len && strncmp(config_ptr->methods_ptr[i], method, len) == 0)
			return 1;
	return 0;
}

/* The headers every allowed answer carries. -1 when the exchange is full. */
static int allow_origin(struct gw_exchange *ex_ptr, const struct cors_config *config_ptr, const char *origin,
			size_t len)
{
	int rc = 0;

	if (config_ptr->any_origin && !config_ptr->allow_credentials)
		rc |= gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "access-control-allow-origin", "*");
	else
		rc |= gw_exchange_edit(ex_ptr, GW_SIDE_RESPONSE, GW_HEADER_SET, "access-control-allow-origin", 27,
				       origin, len);
	if (config_ptr->allow_credentials)
		rc |= gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "access-control-allow-credentials", "true");
	return rc;
}

static enum gw_filter_result cors_request_head(struct gw_stage *stage_ptr)
{
	const struct cors_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	const char *origin, *method;
	size_t origin_len, method_len;
	int rc = 0;

	if (!gw_exchange_request_header(ex_ptr, "origin", &origin, &origin_len))
		return GW_FILTER_CONTINUE; /* not a cross-origin request */
	rc |= gw_exchange_add(ex_ptr, GW_SIDE_RESPONSE, "vary", "Origin");
	if (gw_exchange_method(ex_ptr) == GW_METHOD_OPTIONS &&
	    gw_exchange_request_header(ex_ptr, "access-control-request-method", &method, &method_len)) {
		if (!origin_allowed(config_ptr, origin, origin_len)) {
			gw_exchange_respond_error(ex_ptr, 403, "CORS origin not allowed");
		} else if (!method_allowed(config_ptr, method, method_len)) {
			gw_exchange_respond_error(ex_ptr, 403, "CORS method not allowed");
		} else {
			rc |= allow_origin(ex_ptr, config_ptr, origin, origin_len);
			rc |= gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "access-control-allow-methods",
					      config_ptr->allow_methods);
			if (config_ptr->allow_headers)
				rc |= gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "access-control-allow-headers",
						      config_ptr->allow_headers);
			if (config_ptr->max_age[0])
				rc |= gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "access-control-max-age",
						      config_ptr->max_age);
			gw_exchange_respond(ex_ptr, 204, NULL, 0);
		}
	} else if (origin_allowed(config_ptr, origin, origin_len)) {
		rc |= allow_origin(ex_ptr, config_ptr, origin, origin_len);
		if (config_ptr->expose_headers)
			rc |= gw_exchange_set(ex_ptr, GW_SIDE_RESPONSE, "access-control-expose-headers",
					      config_ptr->expose_headers);
	}
	if (rc)
		return gw_stage_fail(stage_ptr, "cors: no room left for the edits");
	return gw_exchange_verdict(ex_ptr) == GW_VERDICT_RESPOND ? GW_FILTER_RESPOND : GW_FILTER_CONTINUE;
}

const struct gw_filter_type gw_filter_cors_type = {
	.name = "cors",
	.trusted = 1,
	.compile = cors_compile,
	.request_head = cors_request_head,
};
