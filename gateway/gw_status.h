#ifndef GW_STATUS_H
#define GW_STATUS_H

#include <stddef.h>

/* HTTP statuses: reason phrases, and the one place an error becomes a
 * response body: {"error":"<message>","status":<code>}. */

const char *gw_status_reason(int status);

/* Writes the JSON error body into buf (NUL-terminated, truncated safely at
 * len); returns its length. The message is JSON-escaped. */
size_t gw_status_error_body(char *buf, size_t len, int status, const char *message);

/* Writes a complete error response (status line, Content-Type, Content-Length,
 * optional "Connection: close", body) into buf; returns its length, or 0 if
 * it does not fit. */
size_t gw_status_error_response(char *buf, size_t len, int status, const char *message, int close_connection);
/* The same with more field lines (each ending in CRLF), such as a 405's
 * Allow. */
size_t gw_status_error_response_fields(char *buf, size_t len, int status, const char *message, int close_connection,
				       const char *fields);

#endif
