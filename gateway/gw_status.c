/* gw_status: status reasons and JSON error responses. */
#include "gw_status.h"

#include <stdio.h>
#include <string.h>

const char *gw_status_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 417:
		return "Expectation Failed";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		break;
	}
	if (status >= 100 && status < 200)
		return "Informational";
	if (status >= 200 && status < 300)
		return "Success";
	if (status >= 300 && status < 400)
		return "Redirection";
	if (status >= 400 && status < 500)
		return "Client Error";
	return "Server Error";
}

/* Appends message to out as the inside of a JSON string. */
static size_t json_escape(char *out, size_t len, const char *message)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)message; *p; p++) {
		char esc[7];
		size_t k;

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			k = 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			k = 6;
		} else {
			esc[0] = (char)*p;
			k = 1;
		}
		if (n + k >= len)
			break;
		memcpy(out + n, esc, k);
		n += k;
	}
	if (len)
		out[n] = '\0';
	return n;
}

size_t gw_status_error_body(char *buf, size_t len, int status, const char *message)
{
	char escaped[256];
	int n;

	json_escape(escaped, sizeof(escaped), message ? message : gw_status_reason(status));
	n = snprintf(buf, len, "{\"error\":\"%s\",\"status\":%d}\n", escaped, status);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : (len ? len - 1 : 0);
}

size_t gw_status_error_response(char *buf, size_t len, int status, const char *message, int close_connection)
{
	return gw_status_error_response_fields(buf, len, status, message, close_connection, "");
}

size_t gw_status_error_response_fields(char *buf, size_t len, int status, const char *message, int close_connection,
				       const char *fields)
{
	char body[320];
	size_t body_len = gw_status_error_body(body, sizeof(body), status, message);
	int n = snprintf(buf, len,
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s%s\r\n%s",
			 status, gw_status_reason(status), body_len, fields,
			 close_connection ? "Connection: close\r\n" : "", body);

	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}
