#ifndef GW_TERM_H
#define GW_TERM_H

/* gw_term: why a request ended, as two letters (like HAProxy's
 * termination flags), logged in the access log ("termination") and the
 * key of the one table that says what the client hears.
 *
 * The first letter is the cause, the second the stage it happened in;
 * "--" is a normal end (a response relayed, or the route's own answer).
 *
 *   cause                                stage
 *   C  the client closed or reset        R  reading the request head
 *   c  the client timed out              B  the request body (kept, or on
 *   B  bad request (the parser's 4xx)       its way upstream with the head)
 *   N  no route (or no tunnel) for it    Q  the queue: admission, an
 *   F  a filter answered                    endpoint, a pooled connection
 *   A  admission refused (503)           C  connecting to the upstream
 *   R  a resource or limit ran out       H  the response head (and the
 *   S  the upstream closed, reset or        response filters)
 *      refused                           D  the response body
 *   s  the upstream timed out            T  a tunnel (CONNECT, 101)
 *   P  the upstream broke HTTP
 *   I  an internal fault
 */

#include <stdint.h>

struct gw_term {
	char cause; /* '-' or one of the causes above; 0: none yet */
	char stage;
	uint16_t status;    /* what the client hears; 0: the table's (or nothing) */
	const char *reason; /* static: the message, when the stage knows better than the table */
};

/* The table's answer for a code: the status (0: the client gets no
 * answer, or the stage's own status, a filter's or the parser's) and the
 * message of the JSON error body. */
int gw_term_status(char cause, char stage);
const char *gw_term_message(char cause, char stage);

/* The status and message an ending answers with: the stage's own when it
 * set them, else the table's. */
static inline int gw_term_answer_status(const struct gw_term *term_ptr)
{
	return term_ptr->status ? term_ptr->status : gw_term_status(term_ptr->cause, term_ptr->stage);
}

static inline const char *gw_term_answer_message(const struct gw_term *term_ptr)
{
	return term_ptr->reason ? term_ptr->reason : gw_term_message(term_ptr->cause, term_ptr->stage);
}

#endif
