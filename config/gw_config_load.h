#ifndef GW_CONFIG_LOAD_H
#define GW_CONFIG_LOAD_H

/* The configuration loader's parts, shared by gw_config_load.c (the
 * document and its small sections), gw_config_upstreams.c and
 * gw_config_routes.c. Not for use outside config/. */

#include <jansson.h>

#include "gw_json_check.h"

struct gw_config;
struct gw_diag_problem;
struct gw_json_pos;

struct gw_config_loader {
	struct gw_json_check check; /* diag, snapshot arena, scratch arena */
	struct gw_config *config_ptr;
	int upstreams_unreadable; /* "upstreams" is not an object: don't check references */
	const char *base_dir;	  /* the file's directory, for relative paths; NULL: as written */
};

typedef int gw_syntax_fn(const char *text);

/* Reads a string member and checks it with `syntax`; a mismatch is
 * reported as "<rule>, not <value>". */
int gw_config_read_syntax(struct gw_config_loader *loader_ptr, const json_t *object_ptr, const char *pointer,
			  const char *key, const char *dflt, gw_syntax_fn *syntax, const char *rule,
			  const char **out_ptr);
/* Checks a string value in hand the same way. */
int gw_config_check_syntax(struct gw_config_loader *loader_ptr, const char *text, const char *pointer,
			   gw_syntax_fn *syntax, const char *rule);
/* A copy of `text` in lower case, in the snapshot's arena. */
const char *gw_config_lower_copy(struct gw_config_loader *loader_ptr, const char *text);
/* Memory and string copies from the snapshot's arena, noting failure
 * (the copy is then ""). */
void *gw_config_alloc(struct gw_config_loader *loader_ptr, size_t len);
const char *gw_config_strdup(struct gw_config_loader *loader_ptr, const char *text);

/* A problem's line and column: its own, or its pointer's (or key's) place
 * in `pos_ptr` (may be NULL). 0, or -1 if it has none. */
int gw_config_problem_position(const struct gw_diag_problem *problem_ptr, const struct gw_json_pos *pos_ptr,
			       int *line_ptr, int *column_ptr);

void gw_config_load_upstreams(struct gw_config_loader *loader_ptr, const json_t *upstreams_ptr, const char *pointer);
struct gw_config_tls;
struct gw_config_upstream_tls;
/* A listener's "tls" object (absent: json_ptr NULL, TLS off). */
void gw_config_load_tls(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			struct gw_config_tls *tls_ptr);
/* An upstream's "tls" object (absent: json_ptr NULL, plain TCP). */
void gw_config_load_upstream_tls(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
				 struct gw_config_upstream_tls *tls_ptr);
/* The top-level "geo" (absent: json_ptr NULL, no geo). */
void gw_config_load_geo(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer);
void gw_config_load_routes(struct gw_config_loader *loader_ptr, const json_t *routes_ptr, const char *pointer);

#endif
