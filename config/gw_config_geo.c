/* gw_config_geo: the top-level "geo" object: the database files by role
 * and where a request's client address comes from. The files themselves
 * are opened and checked by the program (gateway/gw_geo.h), not here:
 * --check runs that too. */
#include "gw_arena.h"
#include "gw_config.h"
#include "gw_config_load.h"
#include "gw_config_s.h"
#include "gw_diag.h"

#include <string.h>

#define TRUSTED_HOPS_MAX 16
#define TRUSTED_CIDRS_MAX 256

static gw_config_geo_check_fn *geo_check_fn;

void gw_config_set_geo_check(gw_config_geo_check_fn *check_fn)
{
	geo_check_fn = check_fn;
}

static const char *const role_keys[] = {"country", "city", "asn", NULL};
static const char *const from_names[] = {"peer", "x-forwarded-for", "forwarded", NULL};

/* A relative path is the configuration file's directory's. */
static const char *resolved_path(struct gw_config_loader *loader_ptr, const char *path)
{
	if (path[0] == '/' || !loader_ptr->base_dir)
		return path;
	return gw_arena_printf(loader_ptr->check.arena_ptr, "%s/%s", loader_ptr->base_dir, path);
}

static void check_database(struct gw_config_loader *loader_ptr, int role, const char *path, const char *pointer)
{
	char error[512];

	if (path && geo_check_fn && geo_check_fn(role, path, error, sizeof(error)) == -1)
		gw_diag_error(loader_ptr->check.diag_ptr, pointer, "%s", error);
}

static void load_databases(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			   struct gw_config_geo *geo_ptr)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *path;

	if (gw_json_check_object(check_ptr, json_ptr, pointer, role_keys) == -1)
		return;
	for (int r = 0; r < GW_CONFIG_GEO_ROLES; r++)
		if (gw_json_read_string(check_ptr, json_ptr, pointer, role_keys[r], NULL, &path) == 0 && path) {
			if (!path[0])
				gw_diag_error(check_ptr->diag_ptr,
					      gw_json_member_pointer(check_ptr, pointer, role_keys[r]),
					      "a database file's path, not \"\"");
			else
				geo_ptr->databases[r] = resolved_path(loader_ptr, path);
			check_database(loader_ptr, r, geo_ptr->databases[r],
				       gw_json_member_pointer(check_ptr, pointer, role_keys[r]));
			geo_ptr->enabled = 1;
		}
	if (!geo_ptr->enabled)
		gw_diag_error(check_ptr->diag_ptr, pointer, "name at least one database: country, city or asn");
}

static void load_trusted_cidrs(struct gw_config_loader *loader_ptr, const json_t *list_ptr, const char *pointer,
			       struct gw_config_geo *geo_ptr)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	size_t count = json_array_size(list_ptr);
	struct gw_cidr *cidrs_ptr;
	const char *why;

	if (count > TRUSTED_CIDRS_MAX) {
		gw_diag_error(check_ptr->diag_ptr, pointer, "at most %d prefixes", TRUSTED_CIDRS_MAX);
		return;
	}
	cidrs_ptr = gw_config_alloc(loader_ptr, sizeof(*cidrs_ptr) * (count ? count : 1));
	if (!cidrs_ptr)
		return;
	for (size_t i = 0; i < count; i++) {
		const char *text = json_string_value(json_array_get(list_ptr, i));
		const char *at = gw_json_index_pointer(check_ptr, pointer, i);

		if (!text)
			gw_diag_error(check_ptr->diag_ptr, at, "expected a string (\"10.0.0.0/8\"), not %s",
				      gw_json_type_name(json_array_get(list_ptr, i)));
		else if (gw_cidr_parse(text, &cidrs_ptr[i], &why) == -1)
			gw_diag_error(check_ptr->diag_ptr, at, "%s is not an address prefix: %s",
				      gw_json_quote(check_ptr, text), why);
	}
	geo_ptr->trusted_ptr = cidrs_ptr;
	geo_ptr->trusted_count = (int)count;
}

static void load_client_address(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
				struct gw_config_geo *geo_ptr)
{
	static const char *const keys[] = {"from", "trusted_hops", "trusted_cidrs", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const json_t *cidrs_ptr = NULL;

	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	gw_json_read_enum(check_ptr, json_ptr, pointer, "from", from_names, GW_CONFIG_CLIENT_PEER,
			  &geo_ptr->client_from);
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "trusted_hops", 0, TRUSTED_HOPS_MAX, 0,
			       &geo_ptr->trusted_hops);
	if (gw_json_read_array(check_ptr, json_ptr, pointer, "trusted_cidrs", 1, &cidrs_ptr) == 0 && cidrs_ptr)
		load_trusted_cidrs(loader_ptr, cidrs_ptr, gw_json_member_pointer(check_ptr, pointer, "trusted_cidrs"),
				   geo_ptr);
	if (geo_ptr->client_from != GW_CONFIG_CLIENT_PEER && geo_ptr->trusted_hops == 0 && !cidrs_ptr)
		gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, "from"),
			      "%s with nothing trusted would believe any client's header: give trusted_hops (the "
			      "proxies in front of vkgw) or trusted_cidrs (their addresses)",
			      from_names[geo_ptr->client_from]);
	if (geo_ptr->client_from == GW_CONFIG_CLIENT_PEER && (geo_ptr->trusted_hops || cidrs_ptr))
		gw_diag_error(check_ptr->diag_ptr, gw_json_member_pointer(check_ptr, pointer, "from"),
			      "\"peer\" reads no header: trusted_hops and trusted_cidrs need \"x-forwarded-for\" or "
			      "\"forwarded\"");
}

void gw_config_load_geo(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer)
{
	static const char *const keys[] = {"databases", "client_address", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	struct gw_config_geo *geo_ptr = &loader_ptr->config_ptr->geo;
	const json_t *part_ptr;

	if (!json_ptr || gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	gw_json_check_required(check_ptr, json_ptr, pointer, "databases");
	if (gw_json_read_object(check_ptr, json_ptr, pointer, "databases", &part_ptr) == 0 && part_ptr)
		load_databases(loader_ptr, part_ptr, gw_json_member_pointer(check_ptr, pointer, "databases"), geo_ptr);
	if (gw_json_read_object(check_ptr, json_ptr, pointer, "client_address", &part_ptr) == 0 && part_ptr)
		load_client_address(loader_ptr, part_ptr, gw_json_member_pointer(check_ptr, pointer, "client_address"),
				    geo_ptr);
}
