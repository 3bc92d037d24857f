/* gw_config_syntax: hand-written checks of the configuration's strings.
 * Each mirrors a pattern in config/schema.json; keep the two in step. */
#include "gw_config_syntax.h"
#include "gw_config_s.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define HOST_NAME_MAX_LEN 253
#define HOST_LABEL_MAX_LEN 63
#define PORT_MAX 65535

static int is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_visible(unsigned char c)
{
	return c >= 0x21 && c <= 0x7E;
}

int gw_syntax_is_not_empty(const char *text)
{
	return text[0] != '\0';
}

int gw_syntax_is_name(const char *text)
{
	size_t len = strlen(text);

	if (len == 0 || len > GW_CONFIG_NAME_MAX || !is_alnum((unsigned char)text[0]))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!is_alnum((unsigned char)text[i]) && !strchr("_.-", text[i]))
			return 0;
	return 1;
}

int gw_syntax_is_token(const char *text)
{
	if (!*text)
		return 0;
	for (const char *c = text; *c; c++)
		if (!is_alnum((unsigned char)*c) && !strchr("!#$%&'*+-.^_`|~", *c))
			return 0;
	return 1;
}

static int is_path_with(const char *text, const char *excluded)
{
	if (text[0] != '/')
		return 0;
	for (const char *c = text; *c; c++)
		if (!is_visible((unsigned char)*c) || strchr(excluded, *c))
			return 0;
	return 1;
}

int gw_syntax_is_path(const char *text)
{
	return is_path_with(text, "?#");
}

int gw_syntax_is_target(const char *text)
{
	return is_path_with(text, "#");
}

int gw_syntax_is_field_value(const char *text)
{
	for (const char *c = text; *c; c++)
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7F)
			return 0;
	return 1;
}

int gw_syntax_is_location(const char *text)
{
	if (!*text)
		return 0;
	for (const char *c = text; *c; c++)
		if (!is_visible((unsigned char)*c))
			return 0;
	return 1;
}

/* Dot-separated labels in text[0..len): letters, digits, inner '-'. */
static int is_host_name(const char *text, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > HOST_NAME_MAX_LEN)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)text[i] : '.';

		if (c == '.') {
			if (label == 0 || text[i - 1] == '-')
				return 0;
			label = 0;
		} else if (is_alnum(c) || (c == '-' && label > 0)) {
			if (++label > HOST_LABEL_MAX_LEN)
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}

int gw_syntax_is_host_pattern(const char *text)
{
	size_t len = strlen(text);

	if (len > HOST_NAME_MAX_LEN)
		return 0;
	if (text[0] == '*' && text[1] == '.')
		return is_host_name(text + 2, len - 2);
	return is_host_name(text, len);
}

int gw_syntax_parse_ipv4(const char *text, struct in_addr *addr_ptr)
{
	/* glibc's inet_pton() takes exactly dotted quads without leading
	 * zeros, the schema's pattern. */
	return inet_pton(AF_INET, text, addr_ptr) == 1;
}

static int parse_port(const char *text, int *port_ptr)
{
	size_t len = strlen(text);
	long port;

	if (len == 0 || len > 5 || text[0] == '0' || strspn(text, "0123456789") != len)
		return 0;
	port = strtol(text, NULL, 10);
	if (port > PORT_MAX)
		return 0;
	*port_ptr = (int)port;
	return 1;
}

static enum gw_syntax_endpoint_result parse_bracketed(const char *text, struct gw_syntax_endpoint *parts_ptr)
{
	const char *close = strchr(text, ']');
	size_t host_len;

	if (!close)
		return GW_SYNTAX_ENDPOINT_BAD_HOST;
	host_len = (size_t)(close - text - 1);
	if (host_len == 0 || host_len >= sizeof(parts_ptr->host))
		return GW_SYNTAX_ENDPOINT_BAD_HOST;
	memcpy(parts_ptr->host, text + 1, host_len);
	parts_ptr->host[host_len] = '\0';
	if (strspn(parts_ptr->host, "0123456789abcdefABCDEF:.") != host_len ||
	    inet_pton(AF_INET6, parts_ptr->host, &parts_ptr->in6) != 1)
		return GW_SYNTAX_ENDPOINT_BAD_HOST;
	parts_ptr->is_ipv6 = 1;
	if (close[1] != ':' || close[2] == '\0')
		return GW_SYNTAX_ENDPOINT_NO_PORT;
	return parse_port(close + 2, &parts_ptr->port) ? GW_SYNTAX_ENDPOINT_OK : GW_SYNTAX_ENDPOINT_BAD_PORT;
}

enum gw_syntax_endpoint_result gw_syntax_parse_endpoint(const char *text, struct gw_syntax_endpoint *parts_ptr)
{
	const char *colon;
	size_t host_len;

	memset(parts_ptr, 0, sizeof(*parts_ptr));
	if (text[0] == '[')
		return parse_bracketed(text, parts_ptr);
	colon = strrchr(text, ':');
	if (colon && memchr(text, ':', (size_t)(colon - text)))
		return GW_SYNTAX_ENDPOINT_BARE_IPV6;
	host_len = colon ? (size_t)(colon - text) : strlen(text);
	if (host_len == 0 || host_len >= sizeof(parts_ptr->host))
		return GW_SYNTAX_ENDPOINT_BAD_HOST;
	memcpy(parts_ptr->host, text, host_len);
	parts_ptr->host[host_len] = '\0';
	if (strspn(parts_ptr->host, "0123456789.") == host_len) {
		/* All digits and dots: an IPv4 address or nothing. */
		if (!gw_syntax_parse_ipv4(parts_ptr->host, &parts_ptr->in4))
			return GW_SYNTAX_ENDPOINT_BAD_HOST;
		parts_ptr->is_ipv4 = 1;
	} else if (!is_host_name(parts_ptr->host, host_len)) {
		return GW_SYNTAX_ENDPOINT_BAD_HOST;
	}
	if (!colon || colon[1] == '\0')
		return GW_SYNTAX_ENDPOINT_NO_PORT;
	return parse_port(colon + 1, &parts_ptr->port) ? GW_SYNTAX_ENDPOINT_OK : GW_SYNTAX_ENDPOINT_BAD_PORT;
}
