/* gw_filter_geo: acts on what the geo databases say of the client
 * (the top-level "geo": gateway/gw_geo.h).
 *
 *   {"type": "geo",
 *    "deny":  {"country": ["KP"], "asn": [64496]},
 *    "allow": {"continent": ["EU"], "cidr": ["10.0.0.0/8"]},
 *    "headers": true}
 *
 * A client on any list of "deny" is answered 403; with "allow", one on
 * none of its lists is too (JSON error body). "unknown" on a country,
 * continent or subdivision list stands for a client the databases do not
 * place. "headers" (true: the X-Geo-* names; or an object naming a header
 * per value) sends the answer upstream in request headers that replace
 * any the client sent, "unknown" where a value is unknown; the answer is
 * also set as the request's values (geo.country, geo.continent,
 * geo.subdivision, geo.city, geo.asn, geo.asn_org) for the filters after
 * this one (a rate limit per country) and the routes after a continue
 * route. The lookup is the request's one (a route's geo match may have
 * made it already). */
#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_exchange.h"
#include "gw_filter_json.h"
#include "gw_filters.h"
#include "gw_geo_answer.h"
#include "gw_geo_match.h"

#include <string.h>

enum geo_value { GEO_COUNTRY, GEO_CONTINENT, GEO_SUBDIVISION, GEO_CITY, GEO_ASN, GEO_ASN_ORG, GEO_VALUES };

static const char *const value_keys[GEO_VALUES] = {"country", "continent", "subdivision", "city", "asn", "asn_org"};
static const char *const value_names[GEO_VALUES] = {"geo.country", "geo.continent", "geo.subdivision",
						    "geo.city",	   "geo.asn",	    "geo.asn_org"};
static const char *const default_headers[GEO_VALUES] = {"X-Geo-Country", "X-Geo-Continent", "X-Geo-Subdivision",
							"X-Geo-City",	 "X-Geo-ASN",	    "X-Geo-ASN-Org"};

struct geo_config {
	int has_allow;
	int has_deny;
	struct gw_geo_criteria allow;
	struct gw_geo_criteria deny;
	const char *headers[GEO_VALUES]; /* NULL: that value is not sent */
};

static void compile_headers(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *pointer,
			    struct geo_config *config_ptr)
{
	static const char *const keys[] = {"type", "country", "continent", "subdivision",
					   "city", "asn",     "asn_org",   NULL};
	const json_t *headers_ptr = json_object_get(json_ptr, "headers");
	char at[GW_FILTER_POINTER_MAX];

	gw_filter_json_pointer(at, sizeof(at), pointer, "headers");
	if (!headers_ptr || json_is_false(headers_ptr))
		return;
	if (json_is_true(headers_ptr)) {
		memcpy(config_ptr->headers, default_headers, sizeof(default_headers));
		return;
	}
	if (!json_is_object(headers_ptr) || json_object_get(headers_ptr, "type")) {
		gw_filter_json_fail(fj_ptr, at,
				    "expected true, false, or an object naming a header per value: country, "
				    "continent, subdivision, city, asn, asn_org");
		return;
	}
	if (gw_filter_json_keys(fj_ptr, headers_ptr, at, keys) == -1)
		return;
	for (int v = 0; v < GEO_VALUES; v++)
		gw_filter_json_header(fj_ptr, headers_ptr, at, value_keys[v], NULL, &config_ptr->headers[v]);
}

static void compile_list(struct gw_filter_json *fj_ptr, const json_t *json_ptr, const char *pointer, const char *key,
			 int *has_ptr, struct gw_geo_criteria *criteria_ptr)
{
	const json_t *list_ptr = json_object_get(json_ptr, key);
	char at[GW_FILTER_POINTER_MAX];

	if (!list_ptr)
		return;
	*has_ptr = 1;
	if (gw_geo_criteria_compile(list_ptr, gw_filter_json_pointer(at, sizeof(at), pointer, key), fj_ptr->diag_ptr,
				    fj_ptr->arena_ptr, criteria_ptr) == -1)
		fj_ptr->failed = 1;
}

static int geo_compile(const json_t *config_json_ptr, const char *pointer, struct gw_diag *diag_ptr,
		       struct gw_arena *arena_ptr, void **compiled_ptr)
{
	static const char *const keys[] = {"type", "allow", "deny", "headers", NULL};
	struct gw_filter_json fj = {.diag_ptr = diag_ptr, .arena_ptr = arena_ptr};
	struct geo_config *config_ptr = gw_arena_alloc(arena_ptr, sizeof(*config_ptr));

	if (!config_ptr)
		return -1;
	memset(config_ptr, 0, sizeof(*config_ptr));
	if (gw_filter_json_keys(&fj, config_json_ptr, pointer, keys) == 0) {
		compile_list(&fj, config_json_ptr, pointer, "allow", &config_ptr->has_allow, &config_ptr->allow);
		compile_list(&fj, config_json_ptr, pointer, "deny", &config_ptr->has_deny, &config_ptr->deny);
		compile_headers(&fj, config_json_ptr, pointer, config_ptr);
	}
	*compiled_ptr = config_ptr;
	return fj.failed ? -1 : 0;
}

/* n in decimal, at the end of buf[len] (no printf on the request path). */
static const char *decimal(uint32_t n, char *buf, size_t len)
{
	char *p = buf + len;

	*--p = '\0';
	do
		*--p = (char)('0' + n % 10);
	while ((n /= 10) && p > buf);
	return p;
}

/* The answer's value v as text into buf; "" when unknown. */
static const char *value_text(const struct gw_geo_answer *a_ptr, enum geo_value v, char *buf, size_t len)
{
	switch (v) {
	case GEO_COUNTRY:
		return a_ptr->country;
	case GEO_CONTINENT:
		return a_ptr->continent;
	case GEO_SUBDIVISION:
		return a_ptr->subdivision;
	case GEO_CITY:
		return a_ptr->city;
	case GEO_ASN:
		return a_ptr->asn ? decimal(a_ptr->asn, buf, len) : "";
	default:
		return a_ptr->asn_org;
	}
}

/* The values for later stages and routes, and the headers upstream. A
 * value a header cannot carry (a control byte in an organisation's
 * name) goes as "unknown". 0, or -1 (no room). */
static int pass_on(struct gw_exchange *ex_ptr, const struct geo_config *config_ptr, const struct gw_geo_answer *a_ptr)
{
	char number[16];

	for (int v = 0; v < GEO_VALUES; v++) {
		const char *text = value_text(a_ptr, (enum geo_value)v, number, sizeof(number));
		size_t len = strlen(text);

		if (len && gw_exchange_set_value(ex_ptr, value_names[v], text, len) == -1)
			return -1;
		if (!config_ptr->headers[v])
			continue;
		if (!len || !gw_header_value_valid(text, len))
			text = "unknown";
		if (gw_exchange_set(ex_ptr, GW_SIDE_REQUEST, config_ptr->headers[v], text) == -1)
			return -1;
	}
	return 0;
}

static enum gw_filter_result geo_request_head(struct gw_stage *stage_ptr)
{
	const struct geo_config *config_ptr = gw_stage_config(stage_ptr);
	struct gw_exchange *ex_ptr = gw_stage_exchange(stage_ptr);
	const struct gw_geo_answer *a_ptr = gw_exchange_geo(ex_ptr);
	static const struct gw_geo_answer unknown;

	/* No databases (a configuration the loader refuses): all unknown. */
	if (!a_ptr)
		a_ptr = &unknown;
	if ((config_ptr->has_deny && gw_geo_criteria_any(&config_ptr->deny, a_ptr)) ||
	    (config_ptr->has_allow && !gw_geo_criteria_any(&config_ptr->allow, a_ptr))) {
		gw_exchange_respond_error(ex_ptr, 403, "access from this location is not allowed");
		return GW_FILTER_RESPOND;
	}
	if (pass_on(ex_ptr, config_ptr, a_ptr) == -1)
		return gw_stage_fail(stage_ptr, "geo: no room left for the request's geo headers");
	return GW_FILTER_CONTINUE;
}

const struct gw_filter_type gw_filter_geo_type = {
	.name = "geo",
	.trusted = 1,
	.compile = geo_compile,
	.request_head = geo_request_head,
};
