/* gw_diag: problems kept in order, with their pointer and message copied
 * into the sink's arena. Past GW_DIAG_MAX_PROBLEMS one last problem says
 * so and later reports are only counted. */
#include "gw_diag.h"
#include "gw_diag_s.h"
#include "gw_arena.h"

#include <stdio.h>

#define DIAG_OUT_OF_MEMORY "out of memory while recording this problem"
#define DIAG_TEXT_OF(n) #n
#define DIAG_TEXT(n) DIAG_TEXT_OF(n)

struct gw_diag *gw_diag_create(void)
{
	struct gw_arena *arena_ptr = gw_arena_create(0);
	struct gw_diag *diag_ptr;

	if (!arena_ptr)
		return NULL;
	diag_ptr = gw_arena_alloc(arena_ptr, sizeof(*diag_ptr));
	if (!diag_ptr) {
		gw_arena_destroy(arena_ptr);
		return NULL;
	}
	diag_ptr->arena_ptr = arena_ptr;
	return diag_ptr;
}

void gw_diag_destroy(struct gw_diag *diag_ptr)
{
	if (diag_ptr)
		gw_arena_destroy(diag_ptr->arena_ptr);
}

int gw_diag_verror(struct gw_diag *diag_ptr, enum gw_diag_anchor anchor, int line, int column, const char *pointer,
		   const char *fmt, va_list ap)
{
	struct gw_diag_problem *problem_ptr;

	diag_ptr->reported++;
	if (diag_ptr->count > GW_DIAG_MAX_PROBLEMS)
		return -1;
	problem_ptr = &diag_ptr->problems[diag_ptr->count++];
	if (diag_ptr->count > GW_DIAG_MAX_PROBLEMS) {
		problem_ptr->pointer = "";
		problem_ptr->message = "too many errors; only the first " DIAG_TEXT(GW_DIAG_MAX_PROBLEMS) " are shown";
		problem_ptr->anchor = GW_DIAG_AT_NOTHING;
		return -1;
	}
	if (anchor == GW_DIAG_AT_POSITION && line <= 0)
		anchor = GW_DIAG_AT_NOTHING;
	problem_ptr->anchor = anchor;
	problem_ptr->line = anchor == GW_DIAG_AT_POSITION ? line : 0;
	problem_ptr->column = anchor == GW_DIAG_AT_POSITION ? (column > 0 ? column : 1) : 0;
	problem_ptr->pointer = gw_arena_strdup(diag_ptr->arena_ptr, pointer ? pointer : "");
	problem_ptr->message = gw_arena_vprintf(diag_ptr->arena_ptr, fmt, ap);
	if (!problem_ptr->pointer)
		problem_ptr->pointer = "";
	if (!problem_ptr->message)
		problem_ptr->message = DIAG_OUT_OF_MEMORY;
	return -1;
}

int gw_diag_error(struct gw_diag *diag_ptr, const char *pointer, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gw_diag_verror(diag_ptr, GW_DIAG_AT_VALUE, 0, 0, pointer, fmt, ap);
	va_end(ap);
	return -1;
}

int gw_diag_error_key(struct gw_diag *diag_ptr, const char *pointer, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gw_diag_verror(diag_ptr, GW_DIAG_AT_KEY, 0, 0, pointer, fmt, ap);
	va_end(ap);
	return -1;
}

int gw_diag_error_at(struct gw_diag *diag_ptr, int line, int column, const char *pointer, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gw_diag_verror(diag_ptr, GW_DIAG_AT_POSITION, line, column, pointer, fmt, ap);
	va_end(ap);
	return -1;
}

int gw_diag_count(const struct gw_diag *diag_ptr)
{
	return diag_ptr->count;
}

int gw_diag_reported(const struct gw_diag *diag_ptr)
{
	return diag_ptr->reported;
}

const struct gw_diag_problem *gw_diag_problem(const struct gw_diag *diag_ptr, int index)
{
	if (index < 0 || index >= diag_ptr->count)
		return NULL;
	return &diag_ptr->problems[index];
}

void gw_diag_set_position(struct gw_diag *diag_ptr, int index, int line, int column)
{
	struct gw_diag_problem *problem_ptr;

	if (index < 0 || index >= diag_ptr->count || line <= 0)
		return;
	problem_ptr = &diag_ptr->problems[index];
	if (problem_ptr->anchor == GW_DIAG_AT_NOTHING)
		return;
	problem_ptr->anchor = GW_DIAG_AT_POSITION;
	problem_ptr->line = line;
	problem_ptr->column = column > 0 ? column : 1;
}
