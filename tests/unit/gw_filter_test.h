#ifndef GW_FILTER_TEST_H
#define GW_FILTER_TEST_H

/* For the filter unit tests: compile one filter entry, as the config
 * loader would at /routes/0/filters/0, and collect its problems as
 * "POINTER: MESSAGE\n" lines. */

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "gw_arena.h"
#include "gw_diag.h"
#include "gw_filter.h"

#define FILTER_POINTER "/routes/0/filters/0"

struct compiled {
	struct gw_arena *arena_ptr;
	void *blob_ptr;
	int rc;
	char errors[4096];
};

static inline void compile_entry(const struct gw_filter_type *type_ptr, const char *json_text, struct compiled *out)
{
	json_error_t error;
	json_t *json = json_loads(json_text, 0, &error);
	struct gw_diag *diag_ptr = gw_diag_create();
	size_t used = 0;

	memset(out, 0, sizeof(*out));
	if (!json) {
		snprintf(out->errors, sizeof(out->errors), "bad test JSON: %s", error.text);
		out->rc = -2;
		gw_diag_destroy(diag_ptr);
		return;
	}
	out->arena_ptr = gw_arena_create(0);
	out->rc = type_ptr->compile(json, FILTER_POINTER, diag_ptr, out->arena_ptr, &out->blob_ptr);
	for (int i = 0; i < gw_diag_count(diag_ptr); i++) {
		const struct gw_diag_problem *p = gw_diag_problem(diag_ptr, i);

		used += (size_t)snprintf(out->errors + used, sizeof(out->errors) - used, "%s: %s\n", p->pointer,
					 p->message);
	}
	json_decref(json);
	gw_diag_destroy(diag_ptr);
}

static inline void compiled_free(struct compiled *c)
{
	gw_arena_destroy(c->arena_ptr);
}

#endif
