/* gw_config_reload: what a reload may not change yet (gw_config.h,
 * gw_config_check_reload). The kernels open their listening sockets, and
 * the resolver process learns its DNS names, once, at start: a snapshot
 * that changes those is refused whole, each difference reported under its
 * pointer, rather than applied in part. */
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_diag.h"

#include <string.h>

#define RESTART "; restart vkgw to change it"

static int same_text(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static void check_listener(const struct gw_config_listener *was_ptr, const struct gw_config_listener *now_ptr, int i,
			   struct gw_diag *diag_ptr)
{
	char pointer[64];

	snprintf(pointer, sizeof(pointer), "/listeners/%d", i);
	if (!same_text(was_ptr->name, now_ptr->name))
		gw_diag_error(diag_ptr, pointer, "listener %s was %s: a reload cannot rename listeners yet" RESTART,
			      now_ptr->name, was_ptr->name);
	else if (!same_text(was_ptr->address, now_ptr->address) || was_ptr->port != now_ptr->port)
		gw_diag_error(diag_ptr, pointer, "listener %s was on %s:%d: a reload cannot move listeners yet" RESTART,
			      now_ptr->name, was_ptr->address, was_ptr->port);
	else if (was_ptr->kernels != now_ptr->kernels)
		gw_diag_error(diag_ptr, pointer, "listener %s: the kernel count is fixed at start" RESTART,
			      now_ptr->name);
	else if (was_ptr->isolation != now_ptr->isolation)
		gw_diag_error(diag_ptr, pointer, "listener %s: isolation is fixed at start" RESTART, now_ptr->name);
	else if (was_ptr->tls.enabled != now_ptr->tls.enabled)
		gw_diag_error(diag_ptr, pointer, "listener %s: a reload cannot turn TLS %s yet" RESTART, now_ptr->name,
			      now_ptr->tls.enabled ? "on" : "off");
}

static int dns_name_known(const struct gw_config *config_ptr, const char *address)
{
	for (int u = 0; u < config_ptr->upstream_count; u++)
		for (int e = 0; e < config_ptr->upstreams_ptr[u].endpoint_count; e++) {
			const struct gw_config_endpoint *endpoint_ptr = &config_ptr->upstreams_ptr[u].endpoints_ptr[e];

			if (endpoint_ptr->kind == GW_CONFIG_ENDPOINT_DNS && strcmp(endpoint_ptr->address, address) == 0)
				return 1;
		}
	return 0;
}

int gw_config_check_reload(const struct gw_config *running_ptr, const struct gw_config *fresh_ptr,
			   struct gw_diag *diag_ptr)
{
	int reported = gw_diag_reported(diag_ptr);
	char pointer[512];

	if (running_ptr->listener_count != fresh_ptr->listener_count)
		gw_diag_error(diag_ptr, "/listeners",
			      "%d listeners, was %d: a reload cannot add or remove listeners yet" RESTART,
			      fresh_ptr->listener_count, running_ptr->listener_count);
	else
		for (int i = 0; i < fresh_ptr->listener_count; i++)
			check_listener(&running_ptr->listeners_ptr[i], &fresh_ptr->listeners_ptr[i], i, diag_ptr);
	if (running_ptr->admin.enabled != fresh_ptr->admin.enabled ||
	    (fresh_ptr->admin.enabled && (!same_text(running_ptr->admin.address, fresh_ptr->admin.address) ||
					  running_ptr->admin.port != fresh_ptr->admin.port ||
					  !same_text(running_ptr->admin.token, fresh_ptr->admin.token))))
		gw_diag_error(diag_ptr, "/admin", "the admin listener is fixed at start" RESTART);
	if (running_ptr->access_log.enabled != fresh_ptr->access_log.enabled ||
	    (fresh_ptr->access_log.enabled &&
	     (!same_text(running_ptr->access_log.path, fresh_ptr->access_log.path) ||
	      running_ptr->access_log.buffer_bytes != fresh_ptr->access_log.buffer_bytes)))
		gw_diag_error(diag_ptr, "/access_log", "the access log is fixed at start" RESTART);
	/* The resolver process resolves the names it started with. */
	for (int u = 0; u < fresh_ptr->upstream_count; u++) {
		const struct gw_config_upstream *up_ptr = &fresh_ptr->upstreams_ptr[u];

		for (int e = 0; e < up_ptr->endpoint_count; e++) {
			if (up_ptr->endpoints_ptr[e].kind != GW_CONFIG_ENDPOINT_DNS ||
			    dns_name_known(running_ptr, up_ptr->endpoints_ptr[e].address))
				continue;
			snprintf(pointer, sizeof(pointer), "/upstreams/%s/endpoints/%d", up_ptr->name, e);
			gw_diag_error(diag_ptr, pointer,
				      "%s: a reload cannot add a DNS name yet (the resolver resolves those vkgw "
				      "started with)" RESTART,
				      up_ptr->endpoints_ptr[e].address);
		}
	}
	return gw_diag_reported(diag_ptr) == reported ? 0 : -1;
}
