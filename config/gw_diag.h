#ifndef GW_DIAG_H
#define GW_DIAG_H

/* gw_diag: a sink for problems found in JSON input (the configuration and
 * the filter entries in it). Each problem is a JSON pointer (RFC 6901) and
 * a message; whoever reads the source text later turns the pointer into a
 * line and column. Checking goes on after a problem so that every one is
 * reported; the sink keeps the first GW_DIAG_MAX_PROBLEMS and then notes
 * that there were too many. */

#include <stdarg.h>

struct gw_diag;

#define GW_DIAG_MAX_PROBLEMS 256

/* Where in the source a problem points. */
enum gw_diag_anchor {
	GW_DIAG_AT_VALUE,    /* the value at `pointer` */
	GW_DIAG_AT_KEY,	     /* the key of the object member at `pointer` */
	GW_DIAG_AT_POSITION, /* `line` and `column` are known (a parser error) */
	GW_DIAG_AT_NOTHING,  /* the input as a whole (e.g. the file is unreadable) */
};

struct gw_diag_problem {
	const char *pointer; /* "" is the whole document */
	const char *message;
	enum gw_diag_anchor anchor;
	int line; /* 1-based; set for GW_DIAG_AT_POSITION */
	int column;
};

/* An empty sink, or NULL with errno set. */
struct gw_diag *gw_diag_create(void);
void gw_diag_destroy(struct gw_diag *diag_ptr);

/* Record a problem with the value at `pointer`. Every gw_diag_error*()
 * returns -1, so a checker can `return gw_diag_error(...)`. */
int gw_diag_error(struct gw_diag *diag_ptr, const char *pointer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Record a problem with the key of the member at `pointer` (unknown keys). */
int gw_diag_error_key(struct gw_diag *diag_ptr, const char *pointer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Record a problem at a known position; line <= 0 means no position at all. */
int gw_diag_error_at(struct gw_diag *diag_ptr, int line, int column, const char *pointer, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
int gw_diag_verror(struct gw_diag *diag_ptr, enum gw_diag_anchor anchor, int line, int column, const char *pointer,
		   const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

/* Problems kept (the "too many errors" note included) and reported in all. */
int gw_diag_count(const struct gw_diag *diag_ptr);
int gw_diag_reported(const struct gw_diag *diag_ptr);
/* The index-th problem kept, in the order reported; NULL past the end. */
const struct gw_diag_problem *gw_diag_problem(const struct gw_diag *diag_ptr, int index);
/* Pins a problem to a line and column, once its pointer has been looked up
 * in the source text. */
void gw_diag_set_position(struct gw_diag *diag_ptr, int index, int line, int column);

#endif
