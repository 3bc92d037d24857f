/* gw_filter_registry: filter types by name. Types register at start-up,
 * before any kernel runs, so the table needs no lock; it is kept sorted by
 * name so that error messages list the known types alphabetically. */
#include "gw_filter.h"
#include "gw_config_filters.h"

#include <errno.h>
#include <string.h>

#define GW_FILTER_TYPES_MAX 64

static const struct gw_filter_type *registry_types[GW_FILTER_TYPES_MAX];
static const char *registry_names[GW_FILTER_TYPES_MAX + 1];
static int registry_count;

const struct gw_filter_type *gw_filter_type_find(const char *name)
{
	for (int i = 0; i < registry_count; i++)
		if (strcmp(registry_types[i]->name, name) == 0)
			return registry_types[i];
	return NULL;
}

static int registry_compile(const struct gw_filter_type *type_ptr, const json_t *config_json_ptr, const char *pointer,
			    struct gw_diag *diag_ptr, struct gw_arena *arena_ptr, void **compiled_ptr)
{
	return type_ptr->compile(config_json_ptr, pointer, diag_ptr, arena_ptr, compiled_ptr);
}

static int request_head_only(const struct gw_filter_type *type_ptr)
{
	return !type_ptr->request_body && !type_ptr->response_head && !type_ptr->wants_body;
}

/* config/ sits below the filter types, so it looks them up through these. */
static const struct gw_config_filter_types registry_for_config = {
	.find = gw_filter_type_find,
	.names = gw_filter_type_names,
	.compile = registry_compile,
	.request_head_only = request_head_only,
};

int gw_filter_type_register(const struct gw_filter_type *type_ptr)
{
	int at = 0;

	if (!type_ptr || !type_ptr->name || !type_ptr->name[0] || !type_ptr->compile) {
		errno = EINVAL;
		return -1;
	}
	if (gw_filter_type_find(type_ptr->name)) {
		errno = EEXIST;
		return -1;
	}
	if (registry_count == GW_FILTER_TYPES_MAX) {
		errno = ENOSPC;
		return -1;
	}
	while (at < registry_count && strcmp(registry_types[at]->name, type_ptr->name) < 0)
		at++;
	for (int i = registry_count; i > at; i--) {
		registry_types[i] = registry_types[i - 1];
		registry_names[i] = registry_names[i - 1];
	}
	registry_types[at] = type_ptr;
	registry_names[at] = type_ptr->name;
	registry_count++;
	registry_names[registry_count] = NULL;
	gw_config_set_filter_types(&registry_for_config);
	return 0;
}

const char *const *gw_filter_type_names(void)
{
	return registry_names;
}
