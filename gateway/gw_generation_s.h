#ifndef GW_GENERATION_S_H
#define GW_GENERATION_S_H

#include <stdint.h>
#include <sys/queue.h>

#include "gw_generation.h"

struct gw_conn_config;

struct gw_generation {
	uint64_t number;		 /* 1 for the configuration vkgw started with, then one per accepted reload */
	int users;			 /* requests (connections between requests, tunnels) holding it */
	int retired;			 /* a newer one is published: freed once users is 0 */
	TAILQ_ENTRY(gw_generation) link; /* the kernel's generations, oldest first */
	/* One per listener, in the listeners' order (reloads keep the
	 * listeners); each points back here. */
	struct gw_conn_config *conn_configs_ptr;
	int listener_count;
	/* Frees what the maker (deploy/) put here, the generation included. */
	void (*free_fn)(struct gw_generation *generation_ptr);
	void *owner_ptr;
};

#endif
