/* Tests for config/gw_geo_match.c: geo criteria compiled from JSON (every
 * problem reported at its JSON pointer, codes upper-cased, "unknown" as an
 * empty value) and matched against geo answers: all lists (a route's
 * match) or any list (the geo filter), countries, continents,
 * subdivisions, autonomous systems and address prefixes (IPv4, IPv6,
 * IPv4-mapped), and no prefix for an answer without an address. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "gw_arena.h"
#include "gw_cidr.h"
#include "gw_diag.h"
#include "gw_geo_answer.h"
#include "gw_geo_match.h"

#define AT "/routes/3/match/geo"

struct fixture {
	struct gw_arena *arena_ptr;
	struct gw_diag *diag_ptr;
	json_t *json_ptr;
};

static int setup(void **state)
{
	static struct fixture f;

	f.arena_ptr = gw_arena_create(0);
	f.diag_ptr = gw_diag_create();
	f.json_ptr = NULL;
	*state = &f;
	return f.arena_ptr && f.diag_ptr ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	json_decref(f->json_ptr);
	gw_diag_destroy(f->diag_ptr);
	gw_arena_destroy(f->arena_ptr);
	return 0;
}

/* Compiles `text` (JSON) found at AT: gw_geo_criteria_compile's result.
 * The JSON stays alive until teardown; a fresh sink takes the problems. */
static int compile(struct fixture *f, const char *text, struct gw_geo_criteria *out_ptr)
{
	json_error_t err;

	json_decref(f->json_ptr);
	gw_diag_destroy(f->diag_ptr);
	f->diag_ptr = gw_diag_create();
	assert_non_null(f->diag_ptr);
	f->json_ptr = json_loads(text, JSON_DECODE_ANY, &err);
	if (!f->json_ptr)
		fail_msg("bad test JSON %s: %s", text, err.text);
	return gw_geo_criteria_compile(f->json_ptr, AT, f->diag_ptr, f->arena_ptr, out_ptr);
}

static struct gw_geo_criteria compiled(struct fixture *f, const char *text)
{
	struct gw_geo_criteria criteria;

	if (compile(f, text, &criteria) != 0) {
		const struct gw_diag_problem *p = gw_diag_problem(f->diag_ptr, 0);

		fail_msg("%s refused: %s: %s", text, p ? p->pointer : "?", p ? p->message : "no problem reported");
	}
	assert_int_equal(gw_diag_count(f->diag_ptr), 0);
	return criteria;
}

/* `text` refused with exactly the problems at `pointers` (NULL-ended, in
 * order); each message holding `needle` when not NULL. */
static void refused(struct fixture *f, const char *text, const char *const *pointers, const char *needle)
{
	struct gw_geo_criteria criteria;
	int count = 0;

	if (compile(f, text, &criteria) != -1)
		fail_msg("%s compiled", text);
	while (pointers[count])
		count++;
	for (int i = 0; i < gw_diag_count(f->diag_ptr); i++) {
		const struct gw_diag_problem *p = gw_diag_problem(f->diag_ptr, i);

		if (i >= count)
			fail_msg("%s: a problem too many: %s: %s", text, p->pointer, p->message);
		if (strcmp(p->pointer, pointers[i]) != 0)
			fail_msg("%s: problem %d at \"%s\" (%s), want \"%s\"", text, i, p->pointer, p->message,
				 pointers[i]);
		if (needle && !strstr(p->message, needle))
			fail_msg("%s: \"%s\" does not say \"%s\"", text, p->message, needle);
	}
	if (gw_diag_count(f->diag_ptr) != count)
		fail_msg("%s: %d problems, want %d", text, gw_diag_count(f->diag_ptr), count);
}

#define REFUSED(f, text, needle, ...) refused((f), (text), (const char *const[]){__VA_ARGS__, NULL}, (needle))

/* ---- compiling ---- */

static void test_bad_codes_are_reported_at_their_item(void **state)
{
	struct fixture *f = *state;

	REFUSED(f, "{\"country\": [\"GBR\"]}", "\"GBR\"", AT "/country/0");
	REFUSED(f, "{\"country\": [\"DE\", \"gb\", \"G1\", \"\"]}", "ISO 3166-1", AT "/country/2", AT "/country/3");
	REFUSED(f, "{\"continent\": [\"EU\", \"XX\"]}", "\"XX\"", AT "/continent/1");
	/* Two letters, yet no continent. */
	REFUSED(f, "{\"continent\": [\"GB\"]}", "continent", AT "/continent/0");
	REFUSED(f, "{\"subdivision\": [\"GB_ENG\"]}", "\"GB_ENG\"", AT "/subdivision/0");
	REFUSED(f, "{\"subdivision\": [\"GB-\", \"GB-ENGL\", \"1B-ENG\", \"GB-E!\"]}", "ISO 3166-2",
		AT "/subdivision/0", AT "/subdivision/1", AT "/subdivision/2", AT "/subdivision/3");
	REFUSED(f, "{\"country\": [null]}", "null", AT "/country/0");
	REFUSED(f, "{\"continent\": [7]}", "a string", AT "/continent/0");
}

static void test_bad_asns_are_reported_at_their_item(void **state)
{
	struct fixture *f = *state;

	REFUSED(f, "{\"asn\": [0]}", "autonomous system number", AT "/asn/0");
	REFUSED(f, "{\"asn\": [13335, \"1\"]}", "autonomous system number", AT "/asn/1");
	REFUSED(f, "{\"asn\": [-1, 4294967296, 1.5, true]}", NULL, AT "/asn/0", AT "/asn/1", AT "/asn/2", AT "/asn/3");
	/* The bounds themselves are fine. */
	compiled(f, "{\"asn\": [1, 4294967295]}");
}

static void test_bad_cidrs_are_reported_with_the_reason(void **state)
{
	struct fixture *f = *state;

	/* Host bits set: most likely a typo. */
	REFUSED(f, "{\"cidr\": [\"10.0.0.0/8\", \"10.0.0.1/8\"]}",
		"\"10.0.0.1/8\" is not an address prefix: address has bits", AT "/cidr/1");
	REFUSED(f, "{\"cidr\": [\"2001:db8::1/32\"]}", "bits set past the prefix", AT "/cidr/0");
	REFUSED(f, "{\"cidr\": [\"10.0.0.0/33\", \"example.com\", 10]}", NULL, AT "/cidr/0", AT "/cidr/1",
		AT "/cidr/2");
}

static void test_object_shape_problems(void **state)
{
	struct fixture *f = *state;

	REFUSED(f, "{\"countries\": [\"DE\"]}", "unknown key \"countries\"", AT "/countries");
	assert_int_equal(gw_diag_problem(f->diag_ptr, 0)->anchor, GW_DIAG_AT_KEY);
	REFUSED(f, "{}", "empty object", AT);
	REFUSED(f, "{\"country\": []}", "non-empty array", AT "/country");
	REFUSED(f, "{\"asn\": 13335}", "non-empty array", AT "/asn");
	REFUSED(f, "[\"DE\"]", "object", AT);
	REFUSED(f, "\"DE\"", "object", AT);
	/* Every list's problems, in one pass. */
	REFUSED(f, "{\"country\": [\"GBR\"], \"continent\": [], \"asn\": [0], \"cidr\": [\"10.0.0.1/8\"]}", NULL,
		AT "/country/0", AT "/continent", AT "/asn/0", AT "/cidr/0");
}

/* An unknown key is a JSON pointer token: '/' and '~' escaped (RFC 6901),
 * as the rest of the configuration's pointers are, so that the problem can
 * be found in the source. */
static void test_unknown_key_pointer_is_escaped(void **state)
{
	struct fixture *f = *state;

	REFUSED(f, "{\"coun/try\": [\"DE\"]}", "unknown key", AT "/coun~1try");
	REFUSED(f, "{\"a~b\": [\"DE\"]}", "unknown key", AT "/a~0b");
}

static void test_compiled_lists_hold_upper_case_codes(void **state)
{
	struct fixture *f = *state;
	struct gw_geo_criteria c = compiled(f, "{\"country\": [\"de\", \"unknown\", \"Gb\"], \"continent\": "
					       "[\"eu\", \"unknown\"], \"subdivision\": [\"gb-eng\", \"US-CA\", "
					       "\"FR-75C\", \"unknown\"], \"asn\": [13335, 4294967295], \"cidr\": "
					       "[\"10.0.0.0/8\", \"2001:db8::/32\"]}");

	assert_int_equal(c.country_count, 3);
	assert_string_equal(c.countries_ptr[0], "DE");
	assert_string_equal(c.countries_ptr[1], "");
	assert_string_equal(c.countries_ptr[2], "GB");
	assert_int_equal(c.continent_count, 2);
	assert_string_equal(c.continents_ptr[0], "EU");
	assert_string_equal(c.continents_ptr[1], "");
	assert_int_equal(c.subdivision_count, 4);
	assert_string_equal(c.subdivisions_ptr[0], "GB-ENG");
	assert_string_equal(c.subdivisions_ptr[1], "US-CA");
	assert_string_equal(c.subdivisions_ptr[2], "FR-75C");
	assert_string_equal(c.subdivisions_ptr[3], "");
	assert_int_equal(c.asn_count, 2);
	assert_int_equal(c.asns_ptr[0], 13335);
	assert_int_equal(c.asns_ptr[1], 4294967295u);
	assert_int_equal(c.cidr_count, 2);
	assert_int_equal(c.cidrs_ptr[0].bits, 96 + 8);
	assert_int_equal(c.cidrs_ptr[1].bits, 32);
	/* In the arena given. */
	assert_true(gw_arena_contains(f->arena_ptr, c.countries_ptr, 3 * sizeof(c.countries_ptr[0])));
	assert_true(gw_arena_contains(f->arena_ptr, c.cidrs_ptr, 2 * sizeof(c.cidrs_ptr[0])));
	/* Lists not given are empty. */
	c = compiled(f, "{\"asn\": [7018]}");
	assert_int_equal(c.country_count, 0);
	assert_int_equal(c.continent_count, 0);
	assert_int_equal(c.subdivision_count, 0);
	assert_int_equal(c.cidr_count, 0);
	assert_int_equal(c.asn_count, 1);
}

/* ---- matching ---- */

/* An answer: country, continent, subdivision, ASN and address ("" or NULL:
 * none; a NULL address: not known). */
static struct gw_geo_answer answer(const char *country, const char *continent, const char *subdivision, uint32_t asn,
				   const char *address)
{
	struct gw_geo_answer a = {0};

	snprintf(a.country, sizeof(a.country), "%s", country ? country : "");
	snprintf(a.continent, sizeof(a.continent), "%s", continent ? continent : "");
	snprintf(a.subdivision, sizeof(a.subdivision), "%s", subdivision ? subdivision : "");
	a.asn = asn;
	a.found = a.country[0] || a.continent[0] || asn;
	if (address) {
		a.address_known = 1;
		assert_int_equal(gw_ip_parse(address, strlen(address), &a.address), 0);
	}
	return a;
}

static int all(struct fixture *f, const char *criteria, const struct gw_geo_answer *a_ptr)
{
	struct gw_geo_criteria c = compiled(f, criteria);

	return gw_geo_criteria_all(&c, a_ptr);
}

static int any(struct fixture *f, const char *criteria, const struct gw_geo_answer *a_ptr)
{
	struct gw_geo_criteria c = compiled(f, criteria);

	return gw_geo_criteria_any(&c, a_ptr);
}

static void test_all_wants_every_list_any_wants_one(void **state)
{
	struct fixture *f = *state;
	const char *criteria = "{\"country\": [\"GB\", \"DE\"], \"asn\": [29518]}";
	struct gw_geo_answer gb = answer("GB", "EU", "GB-ENG", 0, "81.2.69.142");
	struct gw_geo_answer se_bredband = answer("SE", "EU", "SE-E", 29518, "89.160.20.128");
	struct gw_geo_answer de_bredband = answer("DE", "EU", "", 29518, "89.160.20.129");
	struct gw_geo_answer us = answer("US", "NA", "US-WA", 7018, "216.160.83.56");

	assert_false(all(f, criteria, &gb));
	assert_true(any(f, criteria, &gb));
	assert_false(all(f, criteria, &se_bredband));
	assert_true(any(f, criteria, &se_bredband));
	assert_true(all(f, criteria, &de_bredband));
	assert_true(any(f, criteria, &de_bredband));
	assert_false(all(f, criteria, &us));
	assert_false(any(f, criteria, &us));
	/* One list: both agree. */
	assert_true(all(f, "{\"continent\": [\"NA\"]}", &us));
	assert_true(any(f, "{\"continent\": [\"NA\"]}", &us));
	assert_false(all(f, "{\"continent\": [\"NA\"]}", &gb));
	assert_false(any(f, "{\"continent\": [\"NA\"]}", &gb));
	/* Five lists, each holding the answer, but for one. */
	criteria = "{\"country\": [\"US\"], \"continent\": [\"NA\"], \"subdivision\": [\"US-WA\"], \"asn\": [7018], "
		   "\"cidr\": [\"216.160.83.56/29\"]}";
	assert_true(all(f, criteria, &us));
	criteria = "{\"country\": [\"US\"], \"continent\": [\"NA\"], \"subdivision\": [\"US-CA\"], \"asn\": [7018], "
		   "\"cidr\": [\"216.160.83.56/29\"]}";
	assert_false(all(f, criteria, &us));
	assert_true(any(f, criteria, &us));
}

static void test_codes_match_whatever_case_was_written(void **state)
{
	struct fixture *f = *state;
	struct gw_geo_answer gb = answer("GB", "EU", "GB-ENG", 0, NULL);

	assert_true(all(f, "{\"country\": [\"gb\"]}", &gb));
	assert_true(all(f, "{\"continent\": [\"eu\"]}", &gb));
	assert_true(all(f, "{\"subdivision\": [\"gb-eng\"]}", &gb));
	assert_false(all(f, "{\"subdivision\": [\"GB-SCT\"]}", &gb));
	/* A subdivision is not its country. */
	assert_false(all(f, "{\"subdivision\": [\"GB-EN\"]}", &gb));
}

static void test_unknown_matches_an_empty_value(void **state)
{
	struct fixture *f = *state;
	struct gw_geo_answer nothing = answer(NULL, NULL, NULL, 0, "10.0.0.1");
	struct gw_geo_answer continent_only = answer(NULL, "EU", NULL, 0, "2.3.3.1");
	struct gw_geo_answer gb = answer("GB", "EU", "GB-ENG", 0, "81.2.69.142");

	assert_true(all(f, "{\"country\": [\"unknown\"]}", &nothing));
	assert_true(all(f, "{\"country\": [\"unknown\"]}", &continent_only));
	assert_false(all(f, "{\"country\": [\"unknown\"]}", &gb));
	assert_true(any(f, "{\"country\": [\"DE\", \"unknown\"]}", &nothing));
	assert_false(any(f, "{\"country\": [\"DE\", \"unknown\"]}", &gb));
	assert_true(all(f, "{\"continent\": [\"unknown\"]}", &nothing));
	assert_false(all(f, "{\"continent\": [\"unknown\"]}", &continent_only));
	assert_true(all(f, "{\"subdivision\": [\"unknown\"]}", &continent_only));
	assert_false(all(f, "{\"subdivision\": [\"unknown\"]}", &gb));
	/* Without "unknown", an empty value is on no list. */
	assert_false(all(f, "{\"country\": [\"GB\", \"DE\"]}", &nothing));
	assert_false(any(f, "{\"continent\": [\"EU\"], \"subdivision\": [\"GB-ENG\"]}", &nothing));
}

static void test_asn_lists(void **state)
{
	struct fixture *f = *state;
	struct gw_geo_answer bredband = answer("SE", "EU", NULL, 29518, NULL);
	struct gw_geo_answer none = answer("SE", "EU", NULL, 0, NULL);
	struct gw_geo_answer top = answer(NULL, NULL, NULL, 4294967295u, NULL);

	assert_true(all(f, "{\"asn\": [1221, 29518]}", &bredband));
	assert_false(all(f, "{\"asn\": [1221, 7018]}", &bredband));
	/* An unknown ASN (0) is on no list: 0 cannot be written. */
	assert_false(all(f, "{\"asn\": [1221, 29518]}", &none));
	assert_true(all(f, "{\"asn\": [4294967295]}", &top));
	assert_false(all(f, "{\"asn\": [4294967294]}", &top));
}

static void test_cidr_lists(void **state)
{
	struct fixture *f = *state;
	const char *criteria = "{\"cidr\": [\"10.0.0.0/8\", \"192.0.2.128/25\", \"2001:db8::/32\"]}";
	static const char *const inside[] = {"10.0.0.0",
					     "10.255.255.255",
					     "192.0.2.128",
					     "192.0.2.255",
					     "::ffff:10.1.2.3",
					     "2001:db8::1",
					     "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"};
	static const char *const outside[] = {
		"11.0.0.0", "9.255.255.255", "192.0.2.127", "2001:db9::", "2001:db7::1", "::10.1.2.3", "::1"};

	for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
		struct gw_geo_answer a = answer(NULL, NULL, NULL, 0, inside[i]);

		if (!all(f, criteria, &a) || !any(f, criteria, &a))
			fail_msg("%s is not taken as inside", inside[i]);
	}
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		struct gw_geo_answer a = answer(NULL, NULL, NULL, 0, outside[i]);

		if (all(f, criteria, &a) || any(f, criteria, &a))
			fail_msg("%s is taken as inside", outside[i]);
	}
}

/* Without an address, no prefix holds the answer, not even ::/0 or
 * 0.0.0.0/0 (whatever the address bytes hold). */
static void test_no_address_matches_no_cidr(void **state)
{
	struct fixture *f = *state;
	struct gw_geo_answer a = answer("GB", "EU", NULL, 0, "10.1.2.3");
	struct gw_geo_answer zero = answer("GB", "EU", NULL, 0, "::");

	a.address_known = 0;
	zero.address_known = 0;
	assert_false(all(f, "{\"cidr\": [\"10.0.0.0/8\"]}", &a));
	assert_false(any(f, "{\"cidr\": [\"10.0.0.0/8\"]}", &a));
	assert_false(all(f, "{\"cidr\": [\"::/0\", \"0.0.0.0/0\"]}", &a));
	assert_false(any(f, "{\"cidr\": [\"::/0\", \"0.0.0.0/0\"]}", &zero));
	assert_false(all(f, "{\"country\": [\"GB\"], \"cidr\": [\"::/0\"]}", &a));
	/* Another list may still hold it. */
	assert_true(any(f, "{\"country\": [\"GB\"], \"cidr\": [\"::/0\"]}", &a));
	/* With the address known, ::/0 holds everything. */
	a.address_known = 1;
	assert_true(all(f, "{\"cidr\": [\"::/0\"]}", &a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_codes_are_reported_at_their_item, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_asns_are_reported_at_their_item, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_cidrs_are_reported_with_the_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_shape_problems, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_key_pointer_is_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compiled_lists_hold_upper_case_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_wants_every_list_any_wants_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_codes_match_whatever_case_was_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_matches_an_empty_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_asn_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cidr_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_address_matches_no_cidr, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
