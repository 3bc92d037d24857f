/* gw_config_tls: a listener's "tls" object (docs/config.md). The plain
 * settings are checked here; the certificate and key files by the checker
 * the TLS layer registers (gw_config_tls.h), which reads them as the
 * listener will. */
#include "gw_config.h"
#include "gw_config_s.h"
#include "gw_config_load.h"
#include "gw_config_syntax.h"
#include "gw_arena.h"
#include "gw_config_tls.h"
#include "gw_diag.h"

#include <string.h>

#define TLS_VERSION_1_2 0x0303
#define TLS_VERSION_1_3 0x0304
#define SERVER_NAMES_MAX 64
#define CERTIFICATES_MAX 32
#define SERVER_NAME_MAX 253
#define LABEL_MAX 63
#define TICKET_ROTATION_MIN_S 60
#define TICKET_ROTATION_MAX_S 604800 /* a week */
#define TICKET_ROTATION_DEFAULT_S 3600
#define CLIENT_VERIFY_DEPTH_DEFAULT 3
#define CLIENT_VERIFY_DEPTH_MAX 10

/* Forward secrecy and AEAD only: no RSA key exchange, no CBC. TLS 1.3's
 * suites are BoringSSL's own and always on. */
#define DEFAULT_CIPHERS                                                                            \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define DEFAULT_CURVES "X25519:P-256:P-384"

static gw_config_tls_check_fn *tls_check_fn;
static gw_config_upstream_tls_check_fn *upstream_tls_check_fn;

void gw_config_set_tls_check(gw_config_tls_check_fn *check_fn)
{
	tls_check_fn = check_fn;
}

void gw_config_set_upstream_tls_check(gw_config_upstream_tls_check_fn *check_fn)
{
	upstream_tls_check_fn = check_fn;
}

static int is_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* A DNS name in lower case, or "*." and one: labels of letters, digits and
 * '-', not starting or ending with '-'. */
static int is_server_name(const char *name)
{
	size_t len = strlen(name), label = 0;

	if (strncmp(name, "*.", 2) == 0) {
		name += 2;
		len -= 2;
	}
	if (len == 0 || len > SERVER_NAME_MAX)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			if (label == 0 || label > LABEL_MAX || name[i - 1] == '-' || name[i - label] == '-')
				return 0;
			label = 0;
		} else if (!is_label_char(name[i])) {
			return 0;
		} else {
			label++;
		}
	}
	return 1;
}

#define SERVER_NAME_RULE                                                                                       \
	"must be a DNS name (letters, digits and '-' in dot-separated labels), or \"*.\" and one for any one " \
	"more label"

static void load_server_names(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			      struct gw_config_tls_certificate *cert_ptr)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const json_t *names_json_ptr;
	const char **names_ptr;
	const char *names_pointer = gw_json_member_pointer(check_ptr, pointer, "server_names");
	size_t count;

	if (gw_json_read_array(check_ptr, json_ptr, pointer, "server_names", 1, &names_json_ptr) == -1 ||
	    !names_json_ptr)
		return;
	count = json_array_size(names_json_ptr);
	if (count > SERVER_NAMES_MAX) {
		gw_diag_error(check_ptr->diag_ptr, names_pointer, "at most %d names, not %zu", SERVER_NAMES_MAX, count);
		return;
	}
	names_ptr = gw_config_alloc(loader_ptr, sizeof(*names_ptr) * count);
	if (!names_ptr)
		return;
	for (size_t i = 0; i < count; i++) {
		const json_t *name_json_ptr = json_array_get(names_json_ptr, i);
		const char *item_pointer = gw_json_index_pointer(check_ptr, names_pointer, i);

		names_ptr[i] = "";
		if (!json_is_string(name_json_ptr)) {
			gw_diag_error(check_ptr->diag_ptr, item_pointer, "expected a string, not %s",
				      gw_json_type_name(name_json_ptr));
			continue;
		}
		names_ptr[i] = gw_config_lower_copy(loader_ptr, json_string_value(name_json_ptr));
		gw_config_check_syntax(loader_ptr, names_ptr[i], item_pointer, is_server_name, SERVER_NAME_RULE);
	}
	cert_ptr->server_names = names_ptr;
	cert_ptr->server_name_count = (int)count;
}

/* A path as written, or joined to the configuration file's directory. */
static const char *file_path(struct gw_config_loader *loader_ptr, const char *path)
{
	const char *joined;

	if (path[0] == '/' || !loader_ptr->base_dir)
		return path;
	joined = gw_arena_printf(loader_ptr->check.arena_ptr, "%s/%s", loader_ptr->base_dir, path);
	if (!joined) {
		loader_ptr->check.out_of_memory = 1;
		return path;
	}
	return joined;
}

static void load_certificate(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			     struct gw_config_tls_certificate *cert_ptr)
{
	static const char *const keys[] = {"cert", "key", "server_names", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;

	cert_ptr->cert_path = "";
	cert_ptr->key_path = "";
	cert_ptr->pointer = gw_config_strdup(loader_ptr, pointer);
	if (gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	gw_json_check_required(check_ptr, json_ptr, pointer, "cert");
	gw_json_check_required(check_ptr, json_ptr, pointer, "key");
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "cert", "", gw_syntax_is_not_empty,
			      GW_SYNTAX_NOT_EMPTY_RULE, &cert_ptr->cert_path);
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "key", "", gw_syntax_is_not_empty,
			      GW_SYNTAX_NOT_EMPTY_RULE, &cert_ptr->key_path);
	if (cert_ptr->cert_path[0])
		cert_ptr->cert_path = file_path(loader_ptr, cert_ptr->cert_path);
	if (cert_ptr->key_path[0])
		cert_ptr->key_path = file_path(loader_ptr, cert_ptr->key_path);
	load_server_names(loader_ptr, json_ptr, pointer, cert_ptr);
}

static void load_certificates(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			      struct gw_config_tls *tls_ptr)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *certs_pointer = gw_json_member_pointer(check_ptr, pointer, "certificates");
	const json_t *certs_json_ptr;
	struct gw_config_tls_certificate *certs_ptr;
	size_t count;

	gw_json_check_required(check_ptr, json_ptr, pointer, "certificates");
	if (gw_json_read_array(check_ptr, json_ptr, pointer, "certificates", 1, &certs_json_ptr) == -1 ||
	    !certs_json_ptr)
		return;
	count = json_array_size(certs_json_ptr);
	if (count > CERTIFICATES_MAX) {
		gw_diag_error(check_ptr->diag_ptr, certs_pointer, "at most %d certificates, not %zu", CERTIFICATES_MAX,
			      count);
		return;
	}
	certs_ptr = gw_config_alloc(loader_ptr, sizeof(*certs_ptr) * count);
	if (!certs_ptr)
		return;
	memset(certs_ptr, 0, sizeof(*certs_ptr) * count);
	for (size_t i = 0; i < count; i++)
		load_certificate(loader_ptr, json_array_get(certs_json_ptr, i),
				 gw_json_index_pointer(check_ptr, certs_pointer, i), &certs_ptr[i]);
	tls_ptr->certificates_ptr = certs_ptr;
	tls_ptr->certificate_count = (int)count;
}

/* "curves": names joined with ':' for BoringSSL; the names themselves are
 * checked by the TLS layer, which knows which it supports. */
static void load_curves(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			struct gw_config_tls *tls_ptr)
{
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *curves_pointer = gw_json_member_pointer(check_ptr, pointer, "curves");
	const json_t *curves_json_ptr;
	size_t total = 0, count;
	char *joined;

	if (gw_json_read_array(check_ptr, json_ptr, pointer, "curves", 1, &curves_json_ptr) == -1 || !curves_json_ptr)
		return;
	count = json_array_size(curves_json_ptr);
	for (size_t i = 0; i < count; i++) {
		const json_t *curve_ptr = json_array_get(curves_json_ptr, i);

		if (!json_is_string(curve_ptr) || json_string_length(curve_ptr) == 0 ||
		    strpbrk(json_string_value(curve_ptr), ":") ||
		    strlen(json_string_value(curve_ptr)) != json_string_length(curve_ptr)) {
			gw_diag_error(check_ptr->diag_ptr, gw_json_index_pointer(check_ptr, curves_pointer, i),
				      "must be a curve name such as \"X25519\" or \"P-256\"");
			return;
		}
		total += json_string_length(curve_ptr) + 1;
	}
	joined = gw_config_alloc(loader_ptr, total);
	if (!joined)
		return;
	joined[0] = '\0';
	for (size_t i = 0; i < count; i++) {
		if (i)
			strcat(joined, ":");
		strcat(joined, json_string_value(json_array_get(curves_json_ptr, i)));
	}
	tls_ptr->curves = joined;
}

/* "client_certificates": {"mode": "optional" | "required", "ca": PEM,
 * "depth": N}. */
static void load_client_certificates(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
				     struct gw_config_tls *tls_ptr)
{
	static const char *const keys[] = {"mode", "ca", "depth", NULL};
	static const char *const modes[] = {"optional", "required", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	const char *client_pointer = gw_json_member_pointer(check_ptr, pointer, "client_certificates");
	const json_t *client_json_ptr;
	int mode = 0;

	if (gw_json_read_object(check_ptr, json_ptr, pointer, "client_certificates", &client_json_ptr) == -1 ||
	    !client_json_ptr || gw_json_check_object(check_ptr, client_json_ptr, client_pointer, keys) == -1)
		return;
	gw_json_check_required(check_ptr, client_json_ptr, client_pointer, "mode");
	gw_json_check_required(check_ptr, client_json_ptr, client_pointer, "ca");
	gw_json_read_enum(check_ptr, client_json_ptr, client_pointer, "mode", modes, 0, &mode);
	tls_ptr->client_certificates = mode == 1 ? GW_CLIENT_CERTIFICATES_REQUIRED : GW_CLIENT_CERTIFICATES_OPTIONAL;
	gw_config_read_syntax(loader_ptr, client_json_ptr, client_pointer, "ca", "", gw_syntax_is_not_empty,
			      GW_SYNTAX_NOT_EMPTY_RULE, &tls_ptr->client_ca_path);
	if (tls_ptr->client_ca_path[0])
		tls_ptr->client_ca_path = file_path(loader_ptr, tls_ptr->client_ca_path);
	gw_json_read_int_field(check_ptr, client_json_ptr, client_pointer, "depth", 1, CLIENT_VERIFY_DEPTH_MAX,
			       CLIENT_VERIFY_DEPTH_DEFAULT, &tls_ptr->client_verify_depth);
}

void gw_config_load_tls(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
			struct gw_config_tls *tls_ptr)
{
	static const char *const keys[] = {"certificates",	"min_version",	       "ciphers", "curves",
					   "ticket_rotation_s", "client_certificates", NULL};
	static const char *const versions[] = {"1.2", "1.3", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	int version = 0;
	int reported = gw_diag_reported(check_ptr->diag_ptr);

	memset(tls_ptr, 0, sizeof(*tls_ptr));
	tls_ptr->ciphers = DEFAULT_CIPHERS;
	tls_ptr->curves = DEFAULT_CURVES;
	tls_ptr->min_version = TLS_VERSION_1_2;
	tls_ptr->ticket_rotation_s = TICKET_ROTATION_DEFAULT_S;
	tls_ptr->client_ca_path = "";
	tls_ptr->client_verify_depth = CLIENT_VERIFY_DEPTH_DEFAULT;
	if (!json_ptr || gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	tls_ptr->enabled = 1;
	tls_ptr->pointer = gw_config_strdup(loader_ptr, pointer);
	load_certificates(loader_ptr, json_ptr, pointer, tls_ptr);
	gw_json_read_enum(check_ptr, json_ptr, pointer, "min_version", versions, 0, &version);
	tls_ptr->min_version = version == 1 ? TLS_VERSION_1_3 : TLS_VERSION_1_2;
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "ciphers", DEFAULT_CIPHERS, gw_syntax_is_not_empty,
			      GW_SYNTAX_NOT_EMPTY_RULE, &tls_ptr->ciphers);
	load_curves(loader_ptr, json_ptr, pointer, tls_ptr);
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "ticket_rotation_s", TICKET_ROTATION_MIN_S,
			       TICKET_ROTATION_MAX_S, TICKET_ROTATION_DEFAULT_S, &tls_ptr->ticket_rotation_s);
	load_client_certificates(loader_ptr, json_ptr, pointer, tls_ptr);
	/* The files only when the rest is right: a checker may trust it. */
	if (tls_check_fn && gw_diag_reported(check_ptr->diag_ptr) == reported)
		tls_check_fn(tls_ptr, check_ptr->diag_ptr);
}

/* ---- an upstream's "tls" ---- */

#define UPSTREAM_SERVER_NAME_RULE "must be a DNS name (letters, digits and '-' in dot-separated labels)"

static int is_exact_server_name(const char *name)
{
	return strncmp(name, "*.", 2) != 0 && is_server_name(name);
}

/* A path member: "" when absent, else joined to the config's directory. */
static void read_path(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer, const char *key,
		      const char **out_ptr)
{
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, key, "", gw_syntax_is_not_empty, GW_SYNTAX_NOT_EMPTY_RULE,
			      out_ptr);
	if ((*out_ptr)[0])
		*out_ptr = file_path(loader_ptr, *out_ptr);
}

void gw_config_load_upstream_tls(struct gw_config_loader *loader_ptr, const json_t *json_ptr, const char *pointer,
				 struct gw_config_upstream_tls *tls_ptr)
{
	static const char *const keys[] = {"server_name", "verify",  "ca", "verify_depth", "cert", "key",
					   "min_version", "ciphers", NULL};
	static const char *const versions[] = {"1.2", "1.3", NULL};
	struct gw_json_check *check_ptr = &loader_ptr->check;
	int version = 0;
	int reported = gw_diag_reported(check_ptr->diag_ptr);

	memset(tls_ptr, 0, sizeof(*tls_ptr));
	tls_ptr->server_name = "";
	tls_ptr->verify = 1;
	tls_ptr->ca_path = "";
	tls_ptr->verify_depth = CLIENT_VERIFY_DEPTH_DEFAULT;
	tls_ptr->cert_path = "";
	tls_ptr->key_path = "";
	tls_ptr->min_version = TLS_VERSION_1_2;
	tls_ptr->ciphers = DEFAULT_CIPHERS;
	if (!json_ptr || gw_json_check_object(check_ptr, json_ptr, pointer, keys) == -1)
		return;
	tls_ptr->enabled = 1;
	tls_ptr->pointer = gw_config_strdup(loader_ptr, pointer);
	if (json_is_string(json_object_get(json_ptr, "server_name"))) {
		tls_ptr->server_name =
			gw_config_lower_copy(loader_ptr, json_string_value(json_object_get(json_ptr, "server_name")));
		gw_config_check_syntax(loader_ptr, tls_ptr->server_name,
				       gw_json_member_pointer(check_ptr, pointer, "server_name"), is_exact_server_name,
				       UPSTREAM_SERVER_NAME_RULE);
	} else {
		gw_json_read_string(check_ptr, json_ptr, pointer, "server_name", "", &tls_ptr->server_name);
	}
	gw_json_read_bool(check_ptr, json_ptr, pointer, "verify", 1, &tls_ptr->verify);
	read_path(loader_ptr, json_ptr, pointer, "ca", &tls_ptr->ca_path);
	gw_json_read_int_field(check_ptr, json_ptr, pointer, "verify_depth", 1, CLIENT_VERIFY_DEPTH_MAX,
			       CLIENT_VERIFY_DEPTH_DEFAULT, &tls_ptr->verify_depth);
	read_path(loader_ptr, json_ptr, pointer, "cert", &tls_ptr->cert_path);
	read_path(loader_ptr, json_ptr, pointer, "key", &tls_ptr->key_path);
	if (!tls_ptr->cert_path[0] != !tls_ptr->key_path[0])
		gw_diag_error(check_ptr->diag_ptr,
			      gw_json_member_pointer(check_ptr, pointer, tls_ptr->cert_path[0] ? "key" : "cert"),
			      "a client certificate needs both \"cert\" and \"key\"");
	gw_json_read_enum(check_ptr, json_ptr, pointer, "min_version", versions, 0, &version);
	tls_ptr->min_version = version == 1 ? TLS_VERSION_1_3 : TLS_VERSION_1_2;
	gw_config_read_syntax(loader_ptr, json_ptr, pointer, "ciphers", DEFAULT_CIPHERS, gw_syntax_is_not_empty,
			      GW_SYNTAX_NOT_EMPTY_RULE, &tls_ptr->ciphers);
	if (upstream_tls_check_fn && gw_diag_reported(check_ptr->diag_ptr) == reported)
		upstream_tls_check_fn(tls_ptr, check_ptr->diag_ptr);
}
