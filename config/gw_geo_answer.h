#ifndef GW_GEO_ANSWER_H
#define GW_GEO_ANSWER_H

/* What the geo databases say of a request's client: worked out once per
 * request, when a route's match or its geo filter first asks
 * (gateway/gw_geo.h), and read by both. A type header only: config/
 * matches on it, the gateway fills it. Every text is a copy (the
 * database a lookup read may be swapped before the request ends), empty
 * when unknown: a missing record is a normal answer, never an error. */

#include <stdint.h>

#include "gw_cidr.h"

#define GW_GEO_CITY_MAX 64
#define GW_GEO_ORG_MAX 96

struct gw_geo_answer {
	int address_known; /* the client's address could be worked out */
	struct gw_ip address;
	int found;		    /* some database has a record for the address */
	char country[3];	    /* country.iso_code (not registered_country) */
	char continent[3];	    /* continent.code */
	char subdivision[8];	    /* ISO 3166-2: "GB-ENG", from subdivisions/0/iso_code */
	char city[GW_GEO_CITY_MAX]; /* city.names.en, cut to fit */
	uint32_t asn;		    /* autonomous_system_number; 0: unknown */
	char asn_org[GW_GEO_ORG_MAX];
	int errors; /* lookups that failed on a corrupt record: answered as unknown */
};

#endif
