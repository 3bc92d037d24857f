#ifndef GW_GEO_MATCH_H
#define GW_GEO_MATCH_H

/* gw_geo_match: lists of countries, continents, subdivisions, autonomous
 * systems and address prefixes, compiled from JSON, and whether a
 * request's geo answer (gw_geo_answer.h) is on them. A route's
 * "match": {"geo": {...}} wants every list it gives to hold the answer
 * (as a route's other matchers do); the geo filter's "allow" and "deny"
 * want any one of them to. The text "unknown" in a country, continent or
 * subdivision list stands for an answer without one. */

#include <jansson.h>
#include <stdint.h>

#include "gw_cidr.h"
#include "gw_geo_answer.h"

struct gw_arena;
struct gw_diag;

struct gw_geo_criteria {
	const char (*countries_ptr)[3]; /* upper case; "" for "unknown" */
	int country_count;
	const char (*continents_ptr)[3];
	int continent_count;
	const char (*subdivisions_ptr)[8];
	int subdivision_count;
	const uint32_t *asns_ptr;
	int asn_count;
	const struct gw_cidr *cidrs_ptr;
	int cidr_count;
};

/* The object at `pointer` ({"country": [...], "continent": [...],
 * "subdivision": [...], "asn": [...], "cidr": [...]}, at least one list,
 * none empty) into *out_ptr, from `arena_ptr`. Every problem is reported
 * under its pointer. 0, or -1. */
int gw_geo_criteria_compile(const json_t *json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			    struct gw_arena *arena_ptr, struct gw_geo_criteria *out_ptr);
/* Every list given holds the answer. */
int gw_geo_criteria_all(const struct gw_geo_criteria *criteria_ptr, const struct gw_geo_answer *answer_ptr);
/* Some list holds the answer. */
int gw_geo_criteria_any(const struct gw_geo_criteria *criteria_ptr, const struct gw_geo_answer *answer_ptr);

#endif
