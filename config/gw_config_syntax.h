#ifndef GW_CONFIG_SYNTAX_H
#define GW_CONFIG_SYNTAX_H

/* gw_config_syntax: what the configuration's strings may look like (names,
 * HTTP tokens, paths, header values, host names, endpoints). Predicates
 * only; config/schema.json states the same rules as patterns, and each
 * GW_SYNTAX_*_RULE is the text a message shows for it. */

#include <netinet/in.h>

int gw_syntax_is_not_empty(const char *text);
#define GW_SYNTAX_NOT_EMPTY_RULE "must not be empty"
int gw_syntax_is_name(const char *text);
#define GW_SYNTAX_NAME_RULE "must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"
int gw_syntax_is_token(const char *text);
#define GW_SYNTAX_TOKEN_RULE "must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"
/* "/" then visible ASCII other than '?' and '#'. */
int gw_syntax_is_path(const char *text);
#define GW_SYNTAX_PATH_RULE "must start with \"/\" and hold only visible ASCII other than '?' and '#'"
/* A path that may carry a query: '?' allowed. */
int gw_syntax_is_target(const char *text);
#define GW_SYNTAX_TARGET_RULE "must start with \"/\" and hold only visible ASCII other than '#'"
/* No control characters but horizontal tab. */
int gw_syntax_is_field_value(const char *text);
#define GW_SYNTAX_FIELD_VALUE_RULE "must not contain control characters"
/* Non-empty visible ASCII: a URI reference. */
int gw_syntax_is_location(const char *text);
#define GW_SYNTAX_LOCATION_RULE "must be a URI: visible ASCII, no spaces"
/* "name.example" or "*.name.example": dot-separated labels of letters,
 * digits and inner '-', at most 63 each and 253 in all. */
int gw_syntax_is_host_pattern(const char *text);
#define GW_SYNTAX_HOST_PATTERN_RULE "must be a host name like \"api.example.com\" or \"*.example.com\""
/* A dotted-quad IPv4 address (no leading zeros). */
int gw_syntax_parse_ipv4(const char *text, struct in_addr *addr_ptr);
#define GW_SYNTAX_IPV4_RULE "must be an IPv4 address like \"127.0.0.1\""

enum gw_syntax_endpoint_result {
	GW_SYNTAX_ENDPOINT_OK,
	GW_SYNTAX_ENDPOINT_NO_PORT,
	GW_SYNTAX_ENDPOINT_BAD_PORT,
	GW_SYNTAX_ENDPOINT_BAD_HOST,
	GW_SYNTAX_ENDPOINT_BARE_IPV6,
};

struct gw_syntax_endpoint {
	char host[254]; /* brackets removed */
	int port;
	int is_ipv4;
	int is_ipv6;
	struct in_addr in4;
	struct in6_addr in6;
};

/* Splits "host:port": host an IPv4 address, an IPv6 address in brackets
 * or a DNS name; port 1 to 65535. */
enum gw_syntax_endpoint_result gw_syntax_parse_endpoint(const char *text, struct gw_syntax_endpoint *parts_ptr);

#endif
