#ifndef GW_REDIS_S_H
#define GW_REDIS_S_H

#include <sys/queue.h>

#include "gw_redis.h"

enum gw_redis_slot_state {
	GW_REDIS_SLOT_FREE,
	GW_REDIS_SLOT_QUEUED, /* waits for the next batch */
	GW_REDIS_SLOT_SENT,   /* in the batch in flight */
	GW_REDIS_SLOT_ENDED,  /* replies in, or failed: the owner's to read */
};

/* One caller's commands and their replies, in kernel memory: the caller
 * writes them and reads the replies, the client process sends them and
 * writes the replies, and neither sees the other's micro-heap. */
struct gw_redis_slot {
	enum gw_redis_slot_state state;
	enum gw_redis_outcome outcome;
	uint32_t generation; /* in the ticket: a released slot's ticket is stale */
	int abandoned;	     /* its owner went: the client frees it */
	uint64_t owner_ref;  /* the process to wake */
	uint64_t ended_ns;
	int commands;
	int replies;
	size_t len;
	size_t reply_len;
	char bytes[GW_REDIS_SLOT_BYTES];
	char reply[GW_REDIS_REPLY_BYTES];
};

enum gw_redis_state {
	GW_REDIS_CONNECTING, /* submits queue */
	GW_REDIS_UP,
	GW_REDIS_DOWN, /* backing off: submits fail */
};

struct gw_redis {
	LIST_ENTRY(gw_redis) kernel_elem;
	int users;
	/* options, copied: the client outlives the snapshot they came from */
	char *address;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char *username;
	char *password;
	char *script;
	uint64_t connect_timeout_ms;
	uint64_t stall_ms;
	char sha[41];

	enum gw_redis_state state;
	uint64_t process_ref;
	int running;
	int retired;
	uint64_t backoff_ms;
	char failure[160];
	uint64_t logged_ns; /* the last failure logged */
	uint64_t unlogged;  /* failures since, not logged */

	/* The order of the slots: [first, unsent) in flight, [unsent, end)
	 * queued; indices into a ring of slot numbers (each slot at most
	 * once). */
	int *order;
	uint32_t order_mask; /* the ring's size, a power of two, less one: positions wrap with it */
	uint32_t first, unsent, end;
	int need_script;	/* the next batch loads the script first */
	int internal_in_flight; /* replies of AUTH and SCRIPT LOAD owed before the slots' */
	struct gw_redis_slot *slots;
	int slot_count;
	int *free_slots;
	int free_count;
	char name[64];
};

#endif
