#ifndef GW_FILTERS_H
#define GW_FILTERS_H

/* The filter types that come with vkgw: headers, request_id, cors, hmac,
 * retry, api_key, basic, jwt, forward_auth and rate_limit (docs/filters.md). Registered once, before any
 * configuration loads. */

#include "gw_filter.h"

extern const struct gw_filter_type gw_filter_headers_type;
extern const struct gw_filter_type gw_filter_request_id_type;
extern const struct gw_filter_type gw_filter_cors_type;
extern const struct gw_filter_type gw_filter_hmac_type;
extern const struct gw_filter_type gw_filter_retry_type;
extern const struct gw_filter_type gw_filter_api_key_type;
extern const struct gw_filter_type gw_filter_basic_type;
extern const struct gw_filter_type gw_filter_jwt_type;
extern const struct gw_filter_type gw_filter_forward_auth_type;
extern const struct gw_filter_type gw_filter_rate_limit_type;
extern const struct gw_filter_type gw_filter_geo_type;

/* Whether `s` is a valid W3C traceparent (Trace Context, section 3.2). */
int gw_traceparent_valid(const char *s, size_t len);

/* Registers every built-in type not registered yet. */
void gw_filters_register_builtin(void);

#endif
