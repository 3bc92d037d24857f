/* gw_geo_match: geo lists compiled from JSON, and matched (see the
 * header). Lists are short and searched in order: a route's country list
 * of the 27 EU members costs at most 27 two-byte compares. */
#include "gw_geo_match.h"
#include "gw_arena.h"
#include "gw_diag.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define UNKNOWN "unknown"

static const char *const list_keys[] = {"country", "continent", "subdivision", "asn", "cidr", NULL};
static const char *const continents[] = {"AF", "AN", "AS", "EU", "NA", "OC", "SA", NULL};

static const char *at(char *buf, size_t len, const char *pointer, const char *key, long index)
{
	if (index < 0)
		snprintf(buf, len, "%s/%s", pointer, key);
	else
		snprintf(buf, len, "%s/%s/%ld", pointer, key, index);
	return buf;
}

/* `pointer` + "/" + `key`, the key escaped as a JSON pointer token
 * (RFC 6901: '~' as "~0", '/' as "~1"). */
static const char *member_at(char *buf, size_t len, const char *pointer, const char *key)
{
	size_t at = (size_t)snprintf(buf, len, "%s/", pointer);

	for (const char *c = key; *c && at + 3 < len; c++) {
		if (*c == '~' || *c == '/') {
			buf[at++] = '~';
			buf[at++] = *c == '~' ? '0' : '1';
		} else {
			buf[at++] = *c;
		}
	}
	if (at < len)
		buf[at] = '\0';
	return buf;
}

/* Two letters, upper-cased into out; "unknown" gives "". */
static int two_letters(const char *text, char out[3])
{
	if (strcmp(text, UNKNOWN) == 0) {
		out[0] = '\0';
		return 0;
	}
	if (strlen(text) != 2 || !isalpha((unsigned char)text[0]) || !isalpha((unsigned char)text[1]))
		return -1;
	out[0] = (char)toupper((unsigned char)text[0]);
	out[1] = (char)toupper((unsigned char)text[1]);
	out[2] = '\0';
	return 0;
}

static int is_continent(const char code[3])
{
	for (int i = 0; continents[i]; i++)
		if (strcmp(code, continents[i]) == 0)
			return 1;
	return code[0] == '\0';
}

/* ISO 3166-2: two letters, '-', one to three letters or digits. */
static int subdivision_code(const char *text, char out[8])
{
	size_t len = strlen(text), i;

	if (strcmp(text, UNKNOWN) == 0) {
		out[0] = '\0';
		return 0;
	}
	if (len < 4 || len > 6 || text[2] != '-' || !isalpha((unsigned char)text[0]) ||
	    !isalpha((unsigned char)text[1]))
		return -1;
	for (i = 3; i < len; i++)
		if (!isalnum((unsigned char)text[i]))
			return -1;
	for (i = 0; i <= len; i++)
		out[i] = (char)toupper((unsigned char)text[i]);
	return 0;
}

/* One list's item at `pointer`: 0, or -1 after reporting it. */
static int compile_item(const char *key, const json_t *item_ptr, const char *pointer, struct gw_diag *diag_ptr,
			void *slot_ptr)
{
	const char *text = json_string_value(item_ptr);
	const char *why;

	if (strcmp(key, "asn") == 0) {
		if (!json_is_integer(item_ptr) || json_integer_value(item_ptr) < 1 ||
		    json_integer_value(item_ptr) > 4294967295LL)
			return gw_diag_error(diag_ptr, pointer, "an autonomous system number, 1 to 4294967295");
		*(uint32_t *)slot_ptr = (uint32_t)json_integer_value(item_ptr);
		return 0;
	}
	if (!text)
		return gw_diag_error(diag_ptr, pointer, "expected a string, not %s",
				     json_is_null(item_ptr) ? "null" : "another type");
	if (strcmp(key, "country") == 0 && two_letters(text, slot_ptr) == -1)
		return gw_diag_error(diag_ptr, pointer,
				     "\"%s\" is not an ISO 3166-1 alpha-2 country code (two letters: \"DE\") or "
				     "\"unknown\"",
				     text);
	if (strcmp(key, "continent") == 0 && (two_letters(text, slot_ptr) == -1 || !is_continent(slot_ptr)))
		return gw_diag_error(diag_ptr, pointer,
				     "\"%s\" is not a continent code (AF, AN, AS, EU, NA, OC, SA) or \"unknown\"",
				     text);
	if (strcmp(key, "subdivision") == 0 && subdivision_code(text, slot_ptr) == -1)
		return gw_diag_error(diag_ptr, pointer,
				     "\"%s\" is not an ISO 3166-2 subdivision code (\"GB-ENG\", \"US-CA\") or "
				     "\"unknown\"",
				     text);
	if (strcmp(key, "cidr") == 0 && gw_cidr_parse(text, slot_ptr, &why) == -1)
		return gw_diag_error(diag_ptr, pointer, "\"%s\" is not an address prefix: %s", text, why);
	return 0;
}

static size_t item_size(const char *key)
{
	if (strcmp(key, "asn") == 0)
		return sizeof(uint32_t);
	if (strcmp(key, "cidr") == 0)
		return sizeof(struct gw_cidr);
	return strcmp(key, "subdivision") == 0 ? 8 : 3;
}

/* The list under `key`, if any, into memory from the arena: its items
 * and count. -1 after reporting a problem. */
static int compile_list(const json_t *json_ptr, const char *pointer, const char *key, struct gw_diag *diag_ptr,
			struct gw_arena *arena_ptr, void **items_ptr, int *count_ptr)
{
	const json_t *list_ptr = json_object_get(json_ptr, key);
	char where[512];
	char *items;
	int rc = 0;

	*items_ptr = NULL;
	*count_ptr = 0;
	if (!list_ptr)
		return 0;
	if (!json_is_array(list_ptr) || json_array_size(list_ptr) == 0)
		return gw_diag_error(diag_ptr, at(where, sizeof(where), pointer, key, -1),
				     "expected a non-empty array");
	items = gw_arena_alloc(arena_ptr, item_size(key) * json_array_size(list_ptr));
	if (!items)
		return gw_diag_error(diag_ptr, pointer, "out of memory");
	for (size_t i = 0; i < json_array_size(list_ptr); i++)
		if (compile_item(key, json_array_get(list_ptr, i), at(where, sizeof(where), pointer, key, (long)i),
				 diag_ptr, items + i * item_size(key)) == -1)
			rc = -1;
	*items_ptr = items;
	*count_ptr = (int)json_array_size(list_ptr);
	return rc;
}

static int check_keys(const json_t *json_ptr, const char *pointer, struct gw_diag *diag_ptr)
{
	const char *key;
	json_t *value_ptr;
	char where[512];
	int rc = 0, known;

	if (!json_is_object(json_ptr))
		return gw_diag_error(diag_ptr, pointer, "expected an object of lists: %s",
				     "country, continent, "
				     "subdivision, asn, cidr");
	json_object_foreach((json_t *)json_ptr, key, value_ptr) {
		known = 0;
		for (int i = 0; list_keys[i]; i++)
			known |= strcmp(key, list_keys[i]) == 0;
		if (!known)
			rc = gw_diag_error_key(diag_ptr, member_at(where, sizeof(where), pointer, key),
					       "unknown key \"%s\"; known keys: country, continent, subdivision, asn, "
					       "cidr",
					       key);
	}
	if (rc == 0 && json_object_size(json_ptr) == 0)
		rc = gw_diag_error(diag_ptr, pointer,
				   "an empty object matches nothing: give a list (country, continent, subdivision, "
				   "asn, cidr)");
	return rc;
}

int gw_geo_criteria_compile(const json_t *json_ptr, const char *pointer, struct gw_diag *diag_ptr,
			    struct gw_arena *arena_ptr, struct gw_geo_criteria *out_ptr)
{
	void *items[5];
	int rc;

	*out_ptr = (struct gw_geo_criteria){0};
	if (check_keys(json_ptr, pointer, diag_ptr) == -1)
		return -1;
	rc = compile_list(json_ptr, pointer, "country", diag_ptr, arena_ptr, &items[0], &out_ptr->country_count);
	rc |= compile_list(json_ptr, pointer, "continent", diag_ptr, arena_ptr, &items[1], &out_ptr->continent_count);
	rc |= compile_list(json_ptr, pointer, "subdivision", diag_ptr, arena_ptr, &items[2],
			   &out_ptr->subdivision_count);
	rc |= compile_list(json_ptr, pointer, "asn", diag_ptr, arena_ptr, &items[3], &out_ptr->asn_count);
	rc |= compile_list(json_ptr, pointer, "cidr", diag_ptr, arena_ptr, &items[4], &out_ptr->cidr_count);
	out_ptr->countries_ptr = items[0];
	out_ptr->continents_ptr = items[1];
	out_ptr->subdivisions_ptr = items[2];
	out_ptr->asns_ptr = items[3];
	out_ptr->cidrs_ptr = items[4];
	return rc ? -1 : 0;
}

/* ---- matching: -1 when the list is not given, else 0 or 1 ---- */

static int code_listed(const char *codes, size_t width, int count, const char *code)
{
	if (count == 0)
		return -1;
	for (int i = 0; i < count; i++)
		if (strcmp(codes + (size_t)i * width, code) == 0)
			return 1;
	return 0;
}

static int asn_listed(const struct gw_geo_criteria *c_ptr, uint32_t asn)
{
	if (c_ptr->asn_count == 0)
		return -1;
	for (int i = 0; i < c_ptr->asn_count; i++)
		if (c_ptr->asns_ptr[i] == asn)
			return 1;
	return 0;
}

static int cidr_listed(const struct gw_geo_criteria *c_ptr, const struct gw_geo_answer *a_ptr)
{
	if (c_ptr->cidr_count == 0)
		return -1;
	return a_ptr->address_known && gw_cidr_list_contains(c_ptr->cidrs_ptr, c_ptr->cidr_count, &a_ptr->address);
}

/* The five lists' verdicts, in list_keys order. */
static void verdicts(const struct gw_geo_criteria *c_ptr, const struct gw_geo_answer *a_ptr, int out[5])
{
	out[0] = code_listed((const char *)c_ptr->countries_ptr, 3, c_ptr->country_count, a_ptr->country);
	out[1] = code_listed((const char *)c_ptr->continents_ptr, 3, c_ptr->continent_count, a_ptr->continent);
	out[2] = code_listed((const char *)c_ptr->subdivisions_ptr, 8, c_ptr->subdivision_count, a_ptr->subdivision);
	out[3] = asn_listed(c_ptr, a_ptr->asn);
	out[4] = cidr_listed(c_ptr, a_ptr);
}

int gw_geo_criteria_all(const struct gw_geo_criteria *criteria_ptr, const struct gw_geo_answer *answer_ptr)
{
	int v[5];

	verdicts(criteria_ptr, answer_ptr, v);
	for (int i = 0; i < 5; i++)
		if (v[i] == 0)
			return 0;
	return 1;
}

int gw_geo_criteria_any(const struct gw_geo_criteria *criteria_ptr, const struct gw_geo_answer *answer_ptr)
{
	int v[5];

	verdicts(criteria_ptr, answer_ptr, v);
	for (int i = 0; i < 5; i++)
		if (v[i] == 1)
			return 1;
	return 0;
}
