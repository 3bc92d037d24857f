/* gw_example_gateway: vkgw with the two filters docs/filters.md shows
 * (docs/examples/): "require", whose handler never blocks, and "lookup",
 * whose handler waits on a socket of its own on a cache miss. For
 * tests/e2e/gw_filter_examples.sh; build/vkgw never has them. */
#define main gw_program_main
/* vkgw's own main under another name: the test runs what ships, plus the
 * two filter types. */
#include "gw_main.c"
#undef main

extern const struct gw_filter_type gw_filter_require_type;
extern const struct gw_filter_type gw_filter_lookup_type;

int main(int argc, char **argv)
{
	if (gw_filter_type_register(&gw_filter_require_type) == -1 ||
	    gw_filter_type_register(&gw_filter_lookup_type) == -1) {
		perror("gw_example_gateway: register the example filters");
		return 2;
	}
	return gw_program_main(argc, argv);
}
