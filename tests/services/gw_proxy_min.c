/* gw_proxy_min: the connection process (gateway/gw_conn.c) in front of one
 * fixed upstream, with default limits and no configuration file: tests the
 * proxy path on its own, below routing and config. The upstream is
 * 127.0.0.1:$UPSTREAM_PORT. Takes the usual vkern flags. */
#include "gw_conn.h"
#include "gw_conn_s.h"
#include "vk_runtime.h"
#include "vk_service.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#define HEADER_TIMEOUT_MS 2000
#define BODY_IDLE_MS 2000
#define KEEPALIVE_IDLE_MS 5000
#define CONNECT_TIMEOUT_MS 1000
#define RESPONSE_TIMEOUT_MS 3000
#define RING_BYTES (16 * 1024)

static struct gw_conn_config conn_cfg;

int main(int argc, char **argv)
{
	struct sockaddr_in *sa = (struct sockaddr_in *)&conn_cfg.upstream_addr;
	const char *upstream_port = getenv("UPSTREAM_PORT");
	struct vk_runtime_config cfg;
	struct vk_service *service_ptr;

	if (!upstream_port) {
		fprintf(stderr, "gw_proxy_min: set UPSTREAM_PORT\n");
		return 2;
	}
	gw_http_limits_default(&conn_cfg.limits);
	conn_cfg.header_timeout_ms = HEADER_TIMEOUT_MS;
	conn_cfg.body_idle_ms = BODY_IDLE_MS;
	conn_cfg.keepalive_idle_ms = KEEPALIVE_IDLE_MS;
	conn_cfg.connect_timeout_ms = CONNECT_TIMEOUT_MS;
	conn_cfg.response_timeout_ms = RESPONSE_TIMEOUT_MS;
	conn_cfg.via = "vkgw";
	conn_cfg.ring_bytes = RING_BYTES;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(upstream_port));
	inet_pton(AF_INET, "127.0.0.1", &sa->sin_addr);
	conn_cfg.upstream_addr_len = sizeof(*sa);
	snprintf(conn_cfg.upstream_name, sizeof(conn_cfg.upstream_name), "127.0.0.1:%s", upstream_port);

	service_ptr = vk_service_create("proxy", gw_conn_main, &conn_cfg);
	if (!service_ptr)
		return 2;
	vk_runtime_config_defaults(&cfg);
	vk_service_set_heap_pages(service_ptr, gw_conn_heap_pages(conn_cfg.limits.max_head_bytes, RING_BYTES));
	vk_service_set_buffers(service_ptr, RING_BYTES, RING_BYTES);
	if (vk_runtime_parse_args(argc, argv, &cfg, service_ptr) == -1)
		return 2;
	return vk_runtime_run(&cfg, &service_ptr, 1);
}
