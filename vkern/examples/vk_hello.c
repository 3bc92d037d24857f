/* vk_hello: a minimal HTTP/1.1 keep-alive server answering every request
 * with "Hello, world\n". Enough HTTP for benchmarks and tests: request
 * line, headers, Connection, HTTP/1.0, a Content-Length body discarded. */
#include "vk_coro.h"
#include "vk_runtime.h"
#include "vk_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define VK_HELLO_LINE_MAX 4096
/* Small rings keep a connection to about four touched pages, which is
 * what an mprotect pair costs in proportion to (-i). */
#define VK_HELLO_RING 4096

static const char bad_request[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
				  "Content-Length: 0\r\nConnection: close\r\n\r\n";

/* "HTTP/1.1 200 OK ... Date: ..." with the date refreshed once a second. */
static const char *response(size_t *len_ptr)
{
	static char buf[256];
	static size_t len;
	static time_t stamp;
	time_t now = time(NULL);

	if (now != stamp) {
		char date[64];
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		len = (size_t)snprintf(buf, sizeof(buf),
				       "HTTP/1.1 200 OK\r\nServer: vkern\r\nDate: %s\r\n"
				       "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world\n",
				       date);
		stamp = now;
	}
	*len_ptr = len;
	return buf;
}

static int header_is(const char *line, const char *name)
{
	return strncasecmp(line, name, strlen(name)) == 0;
}

static void hello(struct vk_thread *that)
{
	struct {
		char line[VK_HELLO_LINE_MAX];
		size_t len;
		size_t body;
		const char *reply;
		size_t reply_len;
		int more;
		int keep_alive;
	} * self;

	vk_begin();
	vk_catch
	{
		if (vk_error() == ENOBUFS) {
			vk_write_literal(bad_request);
			vk_flush();
		}
	}
	for (;;) {
		vk_wait_request(self->more);
		if (!self->more)
			break;
		vk_readline(self->len, self->line, sizeof(self->line));
		if (self->len == 0)
			break;
		self->keep_alive = !memmem(self->line, self->len, "HTTP/1.0", 8);
		self->body = 0;
		for (;;) {
			vk_readline(self->len, self->line, sizeof(self->line) - 1);
			if (self->len == 0 || self->line[self->len - 1] != '\n')
				goto done; /* hung up inside the head */
			if (self->len <= 2)
				break;
			self->line[self->len] = '\0';
			if (header_is(self->line, "connection:") && strcasestr(self->line, "close"))
				self->keep_alive = 0;
			else if (header_is(self->line, "connection:") && strcasestr(self->line, "keep-alive"))
				self->keep_alive = 1;
			else if (header_is(self->line, "content-length:"))
				self->body = strtoul(self->line + 15, NULL, 10);
		}
		while (self->body > 0) {
			vk_read(self->len, self->line,
				self->body < sizeof(self->line) ? self->body : sizeof(self->line));
			if (self->len == 0)
				goto done;
			self->body -= self->len;
		}
		self->reply = response(&self->reply_len);
		vk_write(self->reply, self->reply_len);
		if (!self->keep_alive)
			break;
	}
done:
	vk_flush();
	vk_end();
}

int main(int argc, char **argv)
{
	struct vk_runtime_config cfg;
	int rc;
	struct vk_service *service_ptr = vk_service_create("hello", hello, NULL);

	vk_runtime_config_defaults(&cfg);
	if (service_ptr)
		vk_service_set_buffers(service_ptr, VK_HELLO_RING, VK_HELLO_RING);
	if (!service_ptr || vk_runtime_parse_args(argc, argv, &cfg, service_ptr) == -1)
		return 2;
	rc = vk_runtime_run(&cfg, &service_ptr, 1);
	vk_service_destroy(service_ptr);
	return rc;
}
