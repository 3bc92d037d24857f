/* vk_echo: answers each line with its number on the connection and the
 * line itself ("3 hello\n"). A line longer than VK_ECHO_LINE_MAX is an
 * error reported to the client, never truncated. */
#include "vk_coro.h"
#include "vk_runtime.h"
#include "vk_service.h"

#include <stdio.h>

#define VK_ECHO_LINE_MAX 4096

static void echo(struct vk_thread *that)
{
	struct {
		char line[VK_ECHO_LINE_MAX];
		char prefix[24];
		size_t len;
		int prefix_len;
		unsigned long number;
	} * self;

	vk_begin();
	vk_catch
	{
		if (vk_error() == ENOBUFS) {
			self->prefix_len =
				snprintf(self->line, sizeof(self->line), "ERR line %lu longer than %d bytes\n",
					 self->number + 1, VK_ECHO_LINE_MAX);
			vk_write(self->line, (size_t)self->prefix_len);
			vk_flush();
		}
	}
	for (;;) {
		vk_readline(self->len, self->line, sizeof(self->line));
		if (self->len == 0)
			break;
		self->prefix_len = snprintf(self->prefix, sizeof(self->prefix), "%lu ", ++self->number);
		vk_write(self->prefix, (size_t)self->prefix_len);
		vk_write(self->line, self->len);
	}
	vk_flush();
	vk_end();
}

int main(int argc, char **argv)
{
	struct vk_runtime_config cfg;
	int rc;
	struct vk_service *service_ptr = vk_service_create("echo", echo, NULL);

	vk_runtime_config_defaults(&cfg);
	if (!service_ptr || vk_runtime_parse_args(argc, argv, &cfg, service_ptr) == -1)
		return 2;
	rc = vk_runtime_run(&cfg, &service_ptr, 1);
	vk_service_destroy(service_ptr);
	return rc;
}
