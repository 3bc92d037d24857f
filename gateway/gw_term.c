/* gw_term: the table of termination codes (see gw_term.h). */
#include "gw_term.h"

#include <stddef.h>

struct term_entry {
	char cause;
	char stage; /* 0: any stage */
	uint16_t status;
	const char *message;
};

/* The first entry that matches decides. */
static const struct term_entry table[] = {
	{'-', '-', 0, ""},
	{'c', 'R', 408, "request head not received in time"},
	{'C', 'R', 0, "the client closed mid-head"},
	{'B', 'R', 400, "malformed request"},
	{'N', 'R', 404, "no route matches the request"},
	{'N', 'T', 405, "CONNECT is not enabled on this route"},
	{'B', 'B', 400, "request body malformed"},
	{'R', 'B', 413, "request body larger than http.max_buffered_body_bytes"},
	{'c', 'B', 408, "request body stalled"},
	{'C', 'B', 400, "request body incomplete: the client stopped sending"},
	{'s', 'B', 504, "upstream stopped reading the request body"},
	{'S', 'B', 502, "upstream failed while receiving the request"},
	{'A', 'Q', 503, "no upstream endpoint available"},
	{'R', 'Q', 503, "no upstream connection free in time (max_connections)"},
	{'S', 'C', 502, "upstream connect failed"},
	{'s', 'C', 504, "upstream connect timed out"},
	{'S', 'H', 502, "upstream sent no valid response"},
	{'s', 'H', 504, "upstream response timed out"},
	{'P', 'H', 502, "upstream sent no valid response"},
	{'S', 'D', 502, "upstream failed before sending the response body"},
	{'s', 'D', 504, "upstream response body stalled"},
	{'P', 'D', 502, "upstream failed before sending the response body"},
	{'C', 'D', 0, "the client closed mid-response"},
	{'c', 'D', 0, "the client stopped reading the response"},
	{'F', 0, 0, "a filter answered"},
	{'I', 0, 500, "internal fault"},
	{'R', 0, 500, "the gateway ran out of room for the request"},
	{'C', 0, 0, "the client closed"},
	{'c', 0, 0, "the client timed out"},
};

static const struct term_entry *find(char cause, char stage)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].cause == cause && (table[i].stage == stage || table[i].stage == 0))
			return &table[i];
	return NULL;
}

int gw_term_status(char cause, char stage)
{
	const struct term_entry *e_ptr = find(cause, stage);

	return e_ptr ? e_ptr->status : 502;
}

const char *gw_term_message(char cause, char stage)
{
	const struct term_entry *e_ptr = find(cause, stage);

	return e_ptr ? e_ptr->message : "upstream failed";
}
