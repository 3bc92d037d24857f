/* gw_config_print: configuration problems as compiler-style lines,
 * PATH:LINE:COL: POINTER: MESSAGE, sorted by their place in the file so
 * that an editor can step through them. */
#include "gw_config.h"
#include "gw_config_load.h"
#include "gw_json_pos.h"
#include "gw_diag.h"

#include <stdlib.h>

int gw_config_problem_position(const struct gw_diag_problem *problem_ptr, const struct gw_json_pos *pos_ptr,
			       int *line_ptr, int *column_ptr)
{
	switch (problem_ptr->anchor) {
	case GW_DIAG_AT_POSITION:
		*line_ptr = problem_ptr->line;
		*column_ptr = problem_ptr->column;
		return 0;
	case GW_DIAG_AT_VALUE:
		if (pos_ptr && gw_json_pos_find(pos_ptr, problem_ptr->pointer, line_ptr, column_ptr) >= 0)
			return 0;
		break;
	case GW_DIAG_AT_KEY:
		if (pos_ptr && gw_json_pos_find_key(pos_ptr, problem_ptr->pointer, line_ptr, column_ptr) >= 0)
			return 0;
		break;
	case GW_DIAG_AT_NOTHING:
		break;
	}
	*line_ptr = 0;
	*column_ptr = 0;
	return -1;
}

struct placed_problem {
	const struct gw_diag_problem *problem_ptr;
	int index;
	int line; /* 0: no position, printed first */
	int column;
};

static int compare_places(const void *a_ptr, const void *b_ptr)
{
	const struct placed_problem *place_a_ptr = a_ptr;
	const struct placed_problem *place_b_ptr = b_ptr;

	if (place_a_ptr->line != place_b_ptr->line)
		return place_a_ptr->line < place_b_ptr->line ? -1 : 1;
	if (place_a_ptr->column != place_b_ptr->column)
		return place_a_ptr->column < place_b_ptr->column ? -1 : 1;
	return (place_a_ptr->index > place_b_ptr->index) - (place_a_ptr->index < place_b_ptr->index);
}

static void print_problem(FILE *out_ptr, const char *path, const struct placed_problem *placed_ptr)
{
	const struct gw_diag_problem *problem_ptr = placed_ptr->problem_ptr;

	fprintf(out_ptr, "%s:", path);
	if (placed_ptr->line > 0)
		fprintf(out_ptr, "%d:%d:", placed_ptr->line, placed_ptr->column);
	if (problem_ptr->pointer[0])
		fprintf(out_ptr, " %s:", problem_ptr->pointer);
	fprintf(out_ptr, " %s\n", problem_ptr->message);
}

void gw_config_print_errors(FILE *out_ptr, const char *path, const struct gw_diag *diag_ptr,
			    const struct gw_json_pos *pos_ptr)
{
	int count = gw_diag_count(diag_ptr);
	int sorted = count > GW_DIAG_MAX_PROBLEMS ? GW_DIAG_MAX_PROBLEMS : count;
	struct placed_problem *placed_ptr = calloc((size_t)(count ? count : 1), sizeof(*placed_ptr));

	if (!path)
		path = "<config>";
	for (int i = 0; i < count; i++) {
		struct placed_problem *one_ptr = placed_ptr ? &placed_ptr[i] : &(struct placed_problem){0};

		one_ptr->problem_ptr = gw_diag_problem(diag_ptr, i);
		one_ptr->index = i;
		gw_config_problem_position(one_ptr->problem_ptr, pos_ptr, &one_ptr->line, &one_ptr->column);
		if (!placed_ptr)
			print_problem(out_ptr, path, one_ptr); /* no memory to sort: in order reported */
	}
	if (!placed_ptr)
		return;
	/* The "too many errors" note, if any, stays last. */
	qsort(placed_ptr, (size_t)sorted, sizeof(*placed_ptr), compare_places);
	for (int i = 0; i < count; i++)
		print_problem(out_ptr, path, &placed_ptr[i]);
	free(placed_ptr);
}
