/* gw_config_match: picking a request's route. Routes are tried in order
 * and the first whose matchers all accept the request wins. The host is
 * compared without its port and final dot, ignoring ASCII case; paths and
 * header values are compared byte for byte. Nothing here allocates. */
#include "gw_config.h"
#include "gw_config_s.h"

#include <string.h>

int gw_config_method_from_name(const char *name, size_t len)
{
	static const struct {
		const char *name;
		enum gw_http_method method;
	} known[] = {
		{"GET", GW_METHOD_GET},		{"HEAD", GW_METHOD_HEAD},     {"POST", GW_METHOD_POST},
		{"PUT", GW_METHOD_PUT},		{"DELETE", GW_METHOD_DELETE}, {"CONNECT", GW_METHOD_CONNECT},
		{"OPTIONS", GW_METHOD_OPTIONS}, {"TRACE", GW_METHOD_TRACE},   {"PATCH", GW_METHOD_PATCH},
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i].name) == len && memcmp(known[i].name, name, len) == 0)
			return known[i].method;
	return GW_METHOD_OTHER;
}

const struct gw_config_upstream *gw_config_find_upstream(const struct gw_config *config_ptr, const char *name)
{
	for (int i = 0; i < config_ptr->upstream_count; i++)
		if (strcmp(config_ptr->upstreams_ptr[i].name, name) == 0)
			return &config_ptr->upstreams_ptr[i];
	return NULL;
}

/* What matching needs of the request, worked out once per lookup. */
struct match_view {
	const struct gw_match_request *request_ptr;
	int method;	  /* enum gw_http_method */
	const char *host; /* NULL: no Host */
	size_t host_len;  /* without port and final dot */
};

static size_t host_len_without_port(const char *host, size_t len)
{
	const char *end;

	if (len > 0 && host[0] == '[') {
		end = memchr(host, ']', len);
		return end ? (size_t)(end - host) + 1 : len;
	}
	end = memchr(host, ':', len);
	if (end)
		len = (size_t)(end - host);
	if (len > 0 && host[len - 1] == '.')
		len--;
	return len;
}

/* `text` is in lower case already. */
static int equal_ignoring_case(const char *host, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = host[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != text[i])
			return 0;
	}
	return 1;
}

static int method_matches(const struct gw_route_matcher *matcher_ptr, const struct match_view *view_ptr)
{
	const struct gw_match_request *request_ptr = view_ptr->request_ptr;

	if (view_ptr->method != GW_METHOD_OTHER)
		return (matcher_ptr->methods.known_bits & GW_MATCH_METHOD_BIT(view_ptr->method)) != 0;
	for (int i = 0; i < matcher_ptr->methods.other_count; i++) {
		const char *name = matcher_ptr->methods.other_ptr[i];

		if (strlen(name) == request_ptr->method_len &&
		    memcmp(name, request_ptr->method, request_ptr->method_len) == 0)
			return 1;
	}
	return 0;
}

static int regex_matches(const regex_t *regex_ptr, const char *path, size_t len)
{
	/* REG_STARTEND (glibc, BSD): the path needs no terminating NUL. */
	regmatch_t range = {.rm_so = 0, .rm_eo = (regoff_t)len};

	return regexec(regex_ptr, path ? path : "", 1, &range, REG_STARTEND) == 0;
}

static int header_lookup(const struct gw_route_matcher *matcher_ptr, const struct match_view *view_ptr,
			 const char **value_ptr, size_t *value_len_ptr)
{
	const struct gw_match_request *request_ptr = view_ptr->request_ptr;

	if (!request_ptr->header_lookup)
		return 0;
	return request_ptr->header_lookup(request_ptr->header_ctx_ptr, matcher_ptr->header.name,
					  matcher_ptr->header.name_len, value_ptr, value_len_ptr) == 1;
}

static int value_lookup(const struct gw_route_matcher *matcher_ptr, const struct match_view *view_ptr,
			const char **value_ptr, size_t *value_len_ptr)
{
	const struct gw_match_request *request_ptr = view_ptr->request_ptr;

	if (!request_ptr->value_lookup)
		return 0;
	return request_ptr->value_lookup(request_ptr->value_ctx_ptr, matcher_ptr->header.name,
					 matcher_ptr->header.name_len, value_ptr, value_len_ptr) == 1;
}

/* One of the comma-separated items of `list` is `item`, whole. */
static int list_has(const char *list, size_t list_len, const char *item, size_t item_len)
{
	const char *end = list + list_len;

	for (const char *p = list; p <= end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *item_end = comma ? comma : end;

		if ((size_t)(item_end - p) == item_len && memcmp(p, item, item_len) == 0)
			return 1;
		p = item_end + 1;
	}
	return 0;
}

static int matcher_matches(const struct gw_route_matcher *matcher_ptr, const struct match_view *view_ptr)
{
	const struct gw_match_request *request_ptr = view_ptr->request_ptr;
	const char *value;
	size_t value_len;

	switch (matcher_ptr->kind) {
	case GW_MATCH_METHOD:
		return method_matches(matcher_ptr, view_ptr);
	case GW_MATCH_HOST_EXACT:
		return view_ptr->host && view_ptr->host_len == matcher_ptr->text.len &&
		       equal_ignoring_case(view_ptr->host, matcher_ptr->text.ptr, matcher_ptr->text.len);
	case GW_MATCH_HOST_SUFFIX:
		/* The suffix starts with its dot, so "example.com" itself and
		 * "badexample.com" stay out of "*.example.com". */
		return view_ptr->host && view_ptr->host_len > matcher_ptr->text.len &&
		       equal_ignoring_case(view_ptr->host + view_ptr->host_len - matcher_ptr->text.len,
					   matcher_ptr->text.ptr, matcher_ptr->text.len);
	case GW_MATCH_PATH_EXACT:
		return request_ptr->path_len == matcher_ptr->text.len &&
		       memcmp(request_ptr->path, matcher_ptr->text.ptr, matcher_ptr->text.len) == 0;
	case GW_MATCH_PATH_PREFIX:
		return request_ptr->path_len >= matcher_ptr->text.len &&
		       memcmp(request_ptr->path, matcher_ptr->text.ptr, matcher_ptr->text.len) == 0;
	case GW_MATCH_PATH_REGEX:
		return regex_matches(matcher_ptr->regex_ptr, request_ptr->path, request_ptr->path_len);
	case GW_MATCH_HEADER_EXACT:
		return header_lookup(matcher_ptr, view_ptr, &value, &value_len) &&
		       value_len == matcher_ptr->header.value_len &&
		       memcmp(value, matcher_ptr->header.value, value_len) == 0;
	case GW_MATCH_HEADER_PRESENT:
		return header_lookup(matcher_ptr, view_ptr, &value, &value_len);
	case GW_MATCH_HEADER_ABSENT:
		return !header_lookup(matcher_ptr, view_ptr, &value, &value_len);
	case GW_MATCH_VALUE_EXACT:
		return value_lookup(matcher_ptr, view_ptr, &value, &value_len) &&
		       value_len == matcher_ptr->header.value_len &&
		       memcmp(value, matcher_ptr->header.value, value_len) == 0;
	case GW_MATCH_VALUE_LIST_HAS:
		return value_lookup(matcher_ptr, view_ptr, &value, &value_len) &&
		       list_has(value, value_len, matcher_ptr->header.value, matcher_ptr->header.value_len);
	case GW_MATCH_VALUE_PRESENT:
		return value_lookup(matcher_ptr, view_ptr, &value, &value_len);
	case GW_MATCH_VALUE_ABSENT:
		return !value_lookup(matcher_ptr, view_ptr, &value, &value_len);
	case GW_MATCH_GEO:
		return request_ptr->geo_lookup &&
		       gw_geo_criteria_all(matcher_ptr->geo_ptr, request_ptr->geo_lookup(request_ptr->geo_ctx_ptr));
	}
	return 0;
}

static int route_matches(const struct gw_route *route_ptr, const struct match_view *view_ptr)
{
	for (int i = 0; i < route_ptr->matcher_count; i++)
		if (!matcher_matches(&route_ptr->matchers_ptr[i], view_ptr))
			return 0;
	return 1;
}

const struct gw_route *gw_config_match_route(const struct gw_config *config_ptr,
					     const struct gw_match_request *request_ptr)
{
	struct match_view view = {
		.request_ptr = request_ptr,
		.method = request_ptr->method ? gw_config_method_from_name(request_ptr->method, request_ptr->method_len)
					      : GW_METHOD_OTHER,
		.host = request_ptr->host,
		.host_len = request_ptr->host ? host_len_without_port(request_ptr->host, request_ptr->host_len) : 0,
	};

	for (int i = request_ptr->first_route > 0 ? request_ptr->first_route : 0; i < config_ptr->route_count; i++)
		if (route_matches(&config_ptr->routes_ptr[i], &view))
			return &config_ptr->routes_ptr[i];
	return NULL;
}
