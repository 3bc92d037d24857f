#ifndef GW_UPSTREAMS_TEST_H
#define GW_UPSTREAMS_TEST_H

/* For the unit tests of upstreams/: a configuration with the given
 * "upstreams" members (JSON) and one route to the upstream "app". */

#include <stdio.h>
#include <string.h>

#include "gw_config.h"
#include "gw_diag.h"

static inline struct gw_config *gw_test_load_upstreams(const char *upstreams_json)
{
	char text[2048];
	struct gw_diag *diag = gw_diag_create();
	struct gw_config *config_ptr;

	snprintf(text, sizeof(text),
		 "{ \"listeners\": [ { \"port\": 8080 } ], \"upstreams\": { %s },"
		 " \"routes\": [ { \"name\": \"r\", \"action\": { \"proxy\": { \"upstream\": \"app\" } } } ] }",
		 upstreams_json);
	assert_non_null(diag);
	config_ptr = gw_config_load_buffer(text, strlen(text), diag);
	if (!config_ptr)
		gw_config_print_errors(stderr, "t.json", diag, NULL);
	gw_diag_destroy(diag);
	assert_non_null(config_ptr);
	return config_ptr;
}

#endif
