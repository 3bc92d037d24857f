/* gw_filters: the built-in filter types, registered by name. */
#include "gw_filters.h"
#include "gw_rate_table.h"
#include "gw_stats.h"

void gw_filters_register_builtin(void)
{
	static const struct gw_filter_type *const types[] = {
		&gw_filter_headers_type,      &gw_filter_request_id_type, &gw_filter_cors_type,	 &gw_filter_hmac_type,
		&gw_filter_retry_type,	      &gw_filter_api_key_type,	  &gw_filter_basic_type, &gw_filter_jwt_type,
		&gw_filter_forward_auth_type, &gw_filter_rate_limit_type, &gw_filter_geo_type};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!gw_filter_type_find(types[i]->name))
			gw_filter_type_register(types[i]);
	/* rate_limit's counters, from the table every kernel shares. */
	gw_stats_add_source(gw_rate_table_render_prometheus, GW_RATE_RENDER_MAX);
}
