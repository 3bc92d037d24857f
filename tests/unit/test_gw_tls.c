/* gw_tls's session tickets, on a clock the test sets: a ticket opens in
 * the period it was issued and the next (and is renewed then), not later;
 * a context with another secret cannot open it, and a reload keeps the
 * secret. Handshakes run in memory (a BIO pair) against a client context;
 * the certificate is made by openssl for this run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_diag.h"
#include "gw_tls.h"
#include "gw_tls_s.h"

#define ROTATION_S 3600

static time_t fake_now;

static time_t fake_clock(time_t *out_ptr)
{
	if (out_ptr)
		*out_ptr = fake_now;
	return fake_now;
}

struct fixture {
	char dir[64];
	struct gw_config *config_ptr;
	SSL_CTX *client_ctx_ptr;
};

static int setup(void **state)
{
	static struct fixture f;
	char command[512], text[1024];
	struct gw_diag *diag_ptr = gw_diag_create();

	snprintf(f.dir, sizeof(f.dir), "/tmp/vkgw-test-tls.XXXXXX");
	if (!mkdtemp(f.dir))
		return -1;
	snprintf(command, sizeof(command),
		 "openssl req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=t.test "
		 "-keyout %s/t.key -out %s/t.pem 2>/dev/null",
		 f.dir, f.dir);
	if (system(command) != 0)
		return -1;
	snprintf(text, sizeof(text),
		 "{ \"listeners\": [ { \"port\": 0, \"tls\": { \"certificates\": [ { \"cert\": \"%s/t.pem\", "
		 "\"key\": \"%s/t.key\" } ], \"ticket_rotation_s\": %d } } ], \"routes\": [ { \"action\": { "
		 "\"respond\": { \"status\": 200 } } } ] }",
		 f.dir, f.dir, ROTATION_S);
	*state = &f;
	f.config_ptr = gw_config_load_buffer(text, strlen(text), diag_ptr);
	if (!f.config_ptr)
		gw_config_print_errors(stderr, "config", diag_ptr, NULL);
	gw_diag_destroy(diag_ptr);
	f.client_ctx_ptr = SSL_CTX_new(TLS_method());
	if (!f.config_ptr || !f.client_ctx_ptr)
		return -1;
	/* TLS 1.2: the ticket is there once the handshake is. */
	SSL_CTX_set_max_proto_version(f.client_ctx_ptr, TLS1_2_VERSION);
	gw_tls_set_clock(fake_clock);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char command[128];

	gw_tls_set_clock(NULL);
	SSL_CTX_free(f->client_ctx_ptr);
	if (f->config_ptr)
		gw_config_free(f->config_ptr);
	snprintf(command, sizeof(command), "rm -rf %s", f->dir);
	return system(command) == 0 ? 0 : -1;
}

/* One handshake against `tls_ptr` offering `session_ptr` (or none): 1 if
 * it resumed, 0 if it was full; *next_ptr (if given) the session to offer
 * next. */
static int handshake(struct fixture *f, struct gw_tls *tls_ptr, SSL_SESSION *session_ptr, SSL_SESSION **next_ptr)
{
	SSL *client_ptr = SSL_new(f->client_ctx_ptr);
	SSL *server_ptr = SSL_new(tls_ptr->initial_ctx_ptr);
	BIO *client_bio_ptr, *server_bio_ptr;
	int resumed, done = 0;

	assert_true(BIO_new_bio_pair(&client_bio_ptr, 1 << 16, &server_bio_ptr, 1 << 16));
	SSL_set_bio(client_ptr, client_bio_ptr, client_bio_ptr);
	SSL_set_bio(server_ptr, server_bio_ptr, server_bio_ptr);
	SSL_set_connect_state(client_ptr);
	SSL_set_accept_state(server_ptr);
	SSL_set_tlsext_host_name(client_ptr, "t.test");
	if (session_ptr)
		SSL_set_session(client_ptr, session_ptr);
	for (int i = 0; i < 20 && done != 2; i++)
		done = (SSL_do_handshake(client_ptr) == 1) + (SSL_do_handshake(server_ptr) == 1);
	assert_int_equal(done, 2);
	resumed = SSL_session_reused(server_ptr);
	if (next_ptr)
		*next_ptr = SSL_get1_session(client_ptr);
	SSL_free(client_ptr);
	SSL_free(server_ptr);
	return resumed;
}

static void test_ticket_opens_this_period_and_next(void **state)
{
	struct fixture *f = *state;
	struct gw_tls *tls_ptr;
	SSL_SESSION *first_ptr, *renewed_ptr, *again_ptr;
	char error[256];

	tls_ptr = gw_tls_create(&f->config_ptr->listeners_ptr[0].tls, error, sizeof(error));
	assert_non_null(tls_ptr);
	fake_now = (time_t)1000 * ROTATION_S + 10;
	assert_int_equal(handshake(f, tls_ptr, NULL, &first_ptr), 0);
	/* Later in the same period. */
	fake_now += ROTATION_S - 20;
	assert_int_equal(handshake(f, tls_ptr, first_ptr, NULL), 1);
	/* The next period: it still opens, and a new ticket comes. */
	fake_now += 20;
	assert_int_equal(handshake(f, tls_ptr, first_ptr, &renewed_ptr), 1);
	/* Two periods on: the first ticket is refused, the renewed opens. */
	fake_now += ROTATION_S;
	assert_int_equal(handshake(f, tls_ptr, first_ptr, NULL), 0);
	assert_int_equal(handshake(f, tls_ptr, renewed_ptr, &again_ptr), 1);
	SSL_SESSION_free(first_ptr);
	SSL_SESSION_free(renewed_ptr);
	SSL_SESSION_free(again_ptr);
	gw_tls_destroy(tls_ptr);
}

static void test_another_secret_cannot_open_it_a_reload_can(void **state)
{
	struct fixture *f = *state;
	struct gw_tls *tls_ptr, *other_ptr, *reloaded_ptr;
	SSL_SESSION *session_ptr;
	char error[256];

	fake_now = (time_t)2000 * ROTATION_S;
	tls_ptr = gw_tls_create(&f->config_ptr->listeners_ptr[0].tls, error, sizeof(error));
	other_ptr = gw_tls_create(&f->config_ptr->listeners_ptr[0].tls, error, sizeof(error));
	assert_non_null(tls_ptr);
	assert_non_null(other_ptr);
	assert_int_equal(handshake(f, tls_ptr, NULL, &session_ptr), 0);
	assert_int_equal(handshake(f, other_ptr, session_ptr, NULL), 0);
	reloaded_ptr = gw_tls_reload(&f->config_ptr->listeners_ptr[0].tls, tls_ptr, error, sizeof(error));
	assert_non_null(reloaded_ptr);
	assert_int_equal(handshake(f, reloaded_ptr, session_ptr, NULL), 1);
	SSL_SESSION_free(session_ptr);
	gw_tls_destroy(tls_ptr);
	gw_tls_destroy(other_ptr);
	gw_tls_destroy(reloaded_ptr);
}

/* A listener a reload opens: every kernel derives the same secret from
 * the root one and the listener's name (a kernel's ticket resumes on
 * another); another name derives another. */
static void test_a_listener_opened_later_derives_its_secret(void **state)
{
	struct fixture *f = *state;
	struct gw_tls *kernel0_ptr, *kernel1_ptr, *other_ptr;
	SSL_SESSION *session_ptr;
	char error[256];

	fake_now = (time_t)3000 * ROTATION_S;
	assert_int_equal(gw_tls_root_secret_init(), 0);
	kernel0_ptr = gw_tls_create_named(&f->config_ptr->listeners_ptr[0].tls, "added", error, sizeof(error));
	kernel1_ptr = gw_tls_create_named(&f->config_ptr->listeners_ptr[0].tls, "added", error, sizeof(error));
	other_ptr = gw_tls_create_named(&f->config_ptr->listeners_ptr[0].tls, "another", error, sizeof(error));
	assert_non_null(kernel0_ptr);
	assert_non_null(kernel1_ptr);
	assert_non_null(other_ptr);
	assert_int_equal(handshake(f, kernel0_ptr, NULL, &session_ptr), 0);
	assert_int_equal(handshake(f, kernel1_ptr, session_ptr, NULL), 1);
	assert_int_equal(handshake(f, other_ptr, session_ptr, NULL), 0);
	SSL_SESSION_free(session_ptr);
	gw_tls_destroy(kernel0_ptr);
	gw_tls_destroy(kernel1_ptr);
	gw_tls_destroy(other_ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ticket_opens_this_period_and_next),
		cmocka_unit_test(test_another_secret_cannot_open_it_a_reload_can),
		cmocka_unit_test(test_a_listener_opened_later_derives_its_secret),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
