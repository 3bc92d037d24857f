/* gw_config_reload: what a reload may not change (gw_config.h,
 * gw_config_check_reload). A snapshot that changes those is refused whole,
 * each difference reported under its pointer, rather than applied in
 * part. */
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_diag.h"

#include <string.h>

#define RESTART "; restart vkgw to change it"

static int same_text(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

int gw_config_listener_kept(const struct gw_config *running_ptr, const struct gw_config_listener *listener_ptr)
{
	for (int i = 0; i < running_ptr->listener_count; i++) {
		const struct gw_config_listener *was_ptr = &running_ptr->listeners_ptr[i];

		if (strcmp(was_ptr->name, listener_ptr->name) == 0)
			return same_text(was_ptr->address, listener_ptr->address) && was_ptr->port == listener_ptr->port
				       ? i
				       : -1;
	}
	return -1;
}

/* Listener i of the new file: one kept must keep what its connections
 * were set up for; one added (or moved) needs a port every kernel can
 * share. */
static void check_listener(const struct gw_config *running_ptr, const struct gw_config_listener *now_ptr, int i,
			   struct gw_diag *diag_ptr)
{
	int kept = gw_config_listener_kept(running_ptr, now_ptr);
	char pointer[64];

	snprintf(pointer, sizeof(pointer), "/listeners/%d", i);
	if (kept < 0) {
		if (now_ptr->port == 0)
			gw_diag_error(diag_ptr, pointer,
				      "listener %s: a listener a reload adds or moves needs a port, not 0 (each kernel "
				      "would get a port of its own)",
				      now_ptr->name);
		return;
	}
	if (running_ptr->listeners_ptr[kept].isolation != now_ptr->isolation)
		gw_diag_error(diag_ptr, pointer,
			      "listener %s: its isolation cannot change while it listens; restart vkgw, or move it "
			      "(another name or port)",
			      now_ptr->name);
	else if (running_ptr->listeners_ptr[kept].tls.enabled != now_ptr->tls.enabled)
		gw_diag_error(diag_ptr, pointer,
			      "listener %s: TLS cannot be turned %s while it listens; restart vkgw, or move it "
			      "(another name or port)",
			      now_ptr->name, now_ptr->tls.enabled ? "on" : "off");
}

int gw_config_check_reload(const struct gw_config *first_ptr, const struct gw_config *running_ptr,
			   const struct gw_config *fresh_ptr, struct gw_diag *diag_ptr)
{
	int reported = gw_diag_reported(diag_ptr);

	for (int i = 0; i < fresh_ptr->listener_count; i++)
		check_listener(running_ptr, &fresh_ptr->listeners_ptr[i], i, diag_ptr);
	/* The geo databases' table and loader are made at start for these
	 * files (their contents are swapped live: gateway/gw_geo.h). */
	for (int r = 0; r < GW_CONFIG_GEO_ROLES; r++)
		if (!same_text(first_ptr->geo.databases[r], fresh_ptr->geo.databases[r])) {
			gw_diag_error(diag_ptr, "/geo/databases",
				      "the geo database files are fixed at start (a new file at the same path is taken "
				      "live)" RESTART);
			break;
		}
	if (first_ptr->admin.enabled != fresh_ptr->admin.enabled ||
	    (fresh_ptr->admin.enabled && (!same_text(first_ptr->admin.address, fresh_ptr->admin.address) ||
					  first_ptr->admin.port != fresh_ptr->admin.port ||
					  !same_text(first_ptr->admin.token, fresh_ptr->admin.token))))
		gw_diag_error(diag_ptr, "/admin", "the admin listener is fixed at start" RESTART);
	if (first_ptr->access_log.enabled != fresh_ptr->access_log.enabled ||
	    (fresh_ptr->access_log.enabled &&
	     (!same_text(first_ptr->access_log.path, fresh_ptr->access_log.path) ||
	      first_ptr->access_log.buffer_bytes != fresh_ptr->access_log.buffer_bytes)))
		gw_diag_error(diag_ptr, "/access_log", "the access log is fixed at start" RESTART);
	if (first_ptr->rate_limits.cells != fresh_ptr->rate_limits.cells)
		gw_diag_error(diag_ptr, "/rate_limits/cells", "the rate limit table is sized at start" RESTART);
	return gw_diag_reported(diag_ptr) == reported ? 0 : -1;
}
