#ifndef GW_CONFIG_S_H
#define GW_CONFIG_S_H

/* The configuration snapshot: everything the gateway needs from the JSON,
 * validated, with defaults filled in and shaped for request time (routes
 * as arrays of matchers, upstreams referenced by index, addresses already
 * in sockaddr form). All of it lives in one arena that is sealed read-only
 * after load, so a snapshot never changes and is freed in one call. Every
 * pointer in it points into that arena or at a string constant. */

#include <netinet/in.h>
#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_cidr.h"
#include "gw_geo_match.h"
#include "gw_http_policy.h"	/* struct gw_http_limits, enum gw_http_method */
#include "gw_upstream_policy.h" /* balancing, breaker and health policies */

struct gw_arena;
struct gw_filter_type;

/* Names (listeners, upstreams, routes): letters, digits, '_', '.', '-'. */
#define GW_CONFIG_NAME_MAX 64

/* How a listener's connections are isolated (docs/config.md): each one's
 * micro-heap is mprotected away from filter code of other connections
 * (FILTERS), from every other connection's code (ALWAYS), or never. */
enum gw_isolation { GW_ISOLATION_OFF, GW_ISOLATION_FILTERS, GW_ISOLATION_ALWAYS };
/* "off", "filters", "always", then NULL: the names the config and the
 * command line take, in enum order. */
extern const char *const gw_isolation_names[];

enum gw_config_client_certificates {
	GW_CLIENT_CERTIFICATES_NONE,
	GW_CLIENT_CERTIFICATES_OPTIONAL,
	GW_CLIENT_CERTIFICATES_REQUIRED,
};

/* One certificate a TLS listener serves: a PEM chain (leaf first) and its
 * key. Paths are as written, or joined to the configuration file's
 * directory when relative. */
struct gw_config_tls_certificate {
	const char *cert_path;
	const char *key_path;
	/* Lower case; "*.example.com" covers one more label. None: the
	 * certificate serves a name no other certificate claims, and clients
	 * that send none. */
	const char *const *server_names;
	int server_name_count;
	const char *pointer; /* of this entry, for messages about its files */
};

/* A listener's TLS ("tls" object, docs/config.md). */
struct gw_config_tls {
	int enabled; /* the "tls" object is present */
	const struct gw_config_tls_certificate *certificates_ptr;
	int certificate_count;
	int min_version;       /* 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3) */
	const char *ciphers;   /* TLS 1.2 suites, BoringSSL's cipher rule syntax */
	const char *curves;    /* colon-separated, for SSL_CTX_set1_curves_list */
	int ticket_rotation_s; /* a new session ticket key this often; the previous one still opens tickets */
	/* Client certificates (mTLS): none asked for, asked for, or
	 * required; verified against ca_path up to verify_depth. */
	int client_certificates; /* enum gw_config_client_certificates */
	const char *client_ca_path;
	int client_verify_depth;
	const char *pointer; /* of the "tls" object */
};

/* An upstream's TLS ("upstreams.NAME.tls", docs/config.md): the gateway
 * is the client. */
struct gw_config_upstream_tls {
	int enabled;		 /* the "tls" object is present */
	const char *server_name; /* SNI and the name verified; "": each endpoint's host */
	int verify;		 /* the upstream's certificate is verified (the default) */
	const char *ca_path;	 /* "": the system store (GW_CONFIG_SYSTEM_CA_FILE) */
	int verify_depth;
	const char *cert_path; /* a client certificate for mTLS; "": none */
	const char *key_path;
	int min_version; /* 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3) */
	const char *ciphers;
	const char *pointer; /* of the "tls" object */
};

/* Where Debian's ca-certificates keeps the system's trusted CAs. */
#define GW_CONFIG_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

struct gw_config_listener {
	const char *name;
	const char *address; /* IPv4, as written */
	int port;	     /* 0: an ephemeral port */
	int kernels;	     /* 0: one per CPU */
	int isolation;	     /* enum gw_isolation */
	struct sockaddr_in sockaddr;
	struct gw_config_tls tls;
	/* Each connection starts with a PROXY protocol header (v1 or v2),
	 * whose source address stands for the peer's. */
	int proxy_protocol;
};

/* An admin token's length: long enough not to be guessed. */
#define GW_CONFIG_ADMIN_TOKEN_MIN 16
#define GW_CONFIG_ADMIN_TOKEN_MAX 256

struct gw_config_admin {
	int enabled; /* the "admin" object is present */
	const char *address;
	int port;
	struct sockaddr_in sockaddr;
	/* "": actions (POST) only on a loopback address; else every action
	 * must carry "Authorization: Bearer <token>". */
	const char *token;
};

struct gw_config_access_log {
	int enabled; /* the "access_log" object is present and not disabled */
	const char *path;
	int to_stdout; /* path is "-" */
	size_t buffer_bytes;
};

/* "rate_limits": the instance's table of rate limit cells
 * (filters/gw_rate_table.h), shared by every kernel, sized at start. */
#define GW_RATE_CELLS_DEFAULT (1 << 18)
struct gw_config_rate_limits {
	size_t cells;
};

struct gw_config_http {
	/* The codec's limits: the four from the file, the rest (trailers,
	 * chunk lines) at their GW_HTTP_DEFAULT_* values. */
	struct gw_http_limits limits;
	int trusted_hops;		/* X-Forwarded-For entries to trust, right to left */
	const char *via;		/* pseudonym in the Via header; "" adds none */
	size_t max_buffered_body_bytes; /* a body kept for filters that read it */
};

/* Where a request's client address comes from, for geo lookups. */
enum gw_config_client_from {
	GW_CONFIG_CLIENT_PEER,		  /* the peer (or its PROXY protocol source) */
	GW_CONFIG_CLIENT_X_FORWARDED_FOR, /* X-Forwarded-For, past trusted hops or prefixes */
	GW_CONFIG_CLIENT_FORWARDED,	  /* Forwarded (RFC 7239), the same way */
};

/* The top-level "geo": the databases (gateway/gw_geo.h) and the client
 * address rule. Routes match on, and geo filters act on, what the
 * databases say of that address. */
enum { GW_CONFIG_GEO_COUNTRY, GW_CONFIG_GEO_CITY, GW_CONFIG_GEO_ASN, GW_CONFIG_GEO_ROLES };
struct gw_config_geo {
	int enabled; /* some database is given */
	/* by role (country, city, asn; gw_geo.h's order): NULL when not given */
	const char *databases[GW_CONFIG_GEO_ROLES];
	int client_from; /* enum gw_config_client_from */
	int trusted_hops;
	const struct gw_cidr *trusted_ptr;
	int trusted_count;
};

/* Client-side timeouts. */
struct gw_config_timeouts {
	int header_ms;
	int body_idle_ms;
	int keepalive_idle_ms;
	int handshake_ms; /* a TLS listener's handshake, from the accept */
};

enum gw_config_endpoint_kind {
	GW_CONFIG_ENDPOINT_IPV4,
	GW_CONFIG_ENDPOINT_IPV6,
	GW_CONFIG_ENDPOINT_DNS, /* resolved, and re-resolved every resolve_interval_ms */
};

struct gw_config_endpoint {
	const char *address; /* "host:port" as written */
	const char *host;    /* without brackets or port */
	int port;
	int weight;
	enum gw_config_endpoint_kind kind;
	union {
		struct sockaddr_in in4;	 /* GW_CONFIG_ENDPOINT_IPV4, port set */
		struct sockaddr_in6 in6; /* GW_CONFIG_ENDPOINT_IPV6, port set */
	} sockaddr;
};

enum gw_config_hash_on {
	GW_CONFIG_HASH_ON_NOTHING, /* the policy does not hash */
	GW_CONFIG_HASH_ON_HEADER,
	GW_CONFIG_HASH_ON_COOKIE,
	GW_CONFIG_HASH_ON_CLIENT_ADDRESS,
};

struct gw_config_balance {
	/* "hash" becomes GW_BALANCE_MAGLEV or GW_BALANCE_RING by its
	 * hash_algorithm. */
	enum gw_balance_policy policy;
	enum gw_config_hash_on hash_on;
	const char *hash_key; /* header name (lower case) or cookie name */
};

struct gw_config_health_check {
	int enabled; /* the "health_check" object is present */
	const char *method;
	const char *path; /* path and optional query */
	const int *expected_statuses_ptr;
	int expected_status_count;
	int interval_ms;
	int timeout_ms;
	int healthy_threshold;
	int unhealthy_threshold;
};

struct gw_config_outlier_detection {
	int enabled;			  /* the "outlier_detection" object is present */
	int consecutive_5xx;		  /* 0: not counted */
	int consecutive_connect_failures; /* 0: not counted */
	int base_ejection_ms;
	int max_ejection_percent;
};

struct gw_config_upstream_limits {
	struct gw_breaker_limits breaker; /* connections, pending, requests */
	int max_idle_per_kernel;
};

struct gw_config_upstream_timeouts {
	int connect_ms;
	int response_ms;
	int idle_ms; /* a kept-alive connection unused this long is closed */
};

/* Retries to an upstream may add at most `percent` of its requests in
 * flight (instance-wide), or `min_per_second` a second when that is more
 * (gateway/gw_conn_next.c). On unless "enabled": false. */
struct gw_config_retry_budget {
	int enabled;
	int percent;
	int min_per_second;
};

struct gw_config_upstream {
	const char *name;
	int index; /* in gw_config.upstreams_ptr */
	const struct gw_config_endpoint *endpoints_ptr;
	int endpoint_count;
	int resolve_interval_ms;
	struct gw_config_balance balance;
	struct gw_config_health_check health_check;
	struct gw_config_outlier_detection outlier_detection;
	/* Both of the above as upstreams/gw_health wants them (an absent
	 * outlier_detection gives zero runs: no ejection). */
	struct gw_health_policy health_policy;
	struct gw_config_upstream_limits limits;
	struct gw_config_upstream_timeouts timeouts;
	struct gw_config_upstream_tls tls;
	struct gw_config_retry_budget retry_budget;
};

/* Methods are matched by bit for the codec's known methods (enum
 * gw_http_method) and by name for any other token; case-sensitive. */
#define GW_MATCH_METHOD_BIT(method) (1u << (method))

/* One condition of a route; a route matches when all of its matchers do.
 * New kinds (a client's country, a JWT claim) add an enum value, a union
 * member and a case in gw_config_match.c. */
enum gw_match_kind {
	GW_MATCH_METHOD,	 /* methods */
	GW_MATCH_HOST_EXACT,	 /* text: the host, lower case */
	GW_MATCH_HOST_SUFFIX,	 /* text: ".suffix.name" from "*.suffix.name", lower case */
	GW_MATCH_PATH_EXACT,	 /* text */
	GW_MATCH_PATH_PREFIX,	 /* text */
	GW_MATCH_PATH_REGEX,	 /* regex_ptr */
	GW_MATCH_HEADER_EXACT,	 /* header: name and value */
	GW_MATCH_HEADER_PRESENT, /* header: name */
	GW_MATCH_HEADER_ABSENT,	 /* header: name */
	/* A request value (gw_match_request.value_lookup: the client's TLS
	 * certificate, "tls.client.*"), in the header fields: */
	GW_MATCH_VALUE_EXACT,	 /* header: the value's name, and the value */
	GW_MATCH_VALUE_LIST_HAS, /* header: the name, and one of its comma-separated items */
	GW_MATCH_VALUE_PRESENT,	 /* header: the name */
	GW_MATCH_VALUE_ABSENT,	 /* header: the name */
	GW_MATCH_GEO,		 /* geo_ptr: every list it gives holds the client's geo answer */
};

struct gw_route_matcher {
	enum gw_match_kind kind;
	union {
		struct {
			const char *ptr;
			size_t len;
		} text;
		const regex_t *regex_ptr;
		const struct gw_geo_criteria *geo_ptr;
		struct {
			uint32_t known_bits; /* GW_MATCH_METHOD_BIT()s of enum gw_http_method */
			const char *const *other_ptr;
			int other_count;
		} methods;
		struct {
			const char *name; /* lower case */
			size_t name_len;
			const char *value; /* GW_MATCH_HEADER_EXACT */
			size_t value_len;
		} header;
	};
};

struct gw_route_filter {
	/* The gateway's filter type (gateway/gw_filter.h), opaque to config:
	 * found and compiled through gw_config_filters.h. */
	const struct gw_filter_type *type_ptr;
	void *compiled_ptr; /* what type_ptr->compile() made, in the snapshot's arena */
};

enum gw_route_action_kind {
	GW_ACTION_PROXY,
	GW_ACTION_RESPOND,
	GW_ACTION_REDIRECT,
	/* The route's filters run (request head only), then matching goes on
	 * with the routes after it, which may match on the values they set. */
	GW_ACTION_CONTINUE,
};

struct gw_config_header {
	const char *name;
	const char *value;
};

/* A proxied request's deadline (gateway/gw_deadline.h): the route's
 * timeout, tightened by what the client asks for, carried upstream as
 * what is left of it. */
struct gw_route_deadline {
	int timeout_ms;	   /* to the response head, across attempts; 0: none */
	int client_max_ms; /* the most a client's X-Request-Timeout, grpc-timeout or
			      x-envoy-expected-rq-timeout-ms is taken for; 0: ignored */
	int offset_ms;	   /* taken off what is left before it goes upstream */
	/* Where the time left goes upstream (lower case; "grpc-timeout" in
	 * gRPC's units, any other name in milliseconds): `headers` on plain
	 * requests, `grpc_headers` on gRPC ones (Content-Type application/grpc). */
	const char *const *headers_ptr;
	int header_count;
	const char *const *grpc_headers_ptr;
	int grpc_header_count;
	/* a name in either list is none of the three the codec knows: a
	 * received field of that name is replaced too */
	int other_names;
};

struct gw_route_action {
	enum gw_route_action_kind kind;
	union {
		struct {
			int upstream_index;
			const char *prefix_rewrite; /* NULL: the path goes as it came */
			size_t match_prefix_len;    /* bytes of the path prefix_rewrite replaces */
			/* Protocols an Upgrade may switch to (names, compared
			 * case-insensitively); default {"websocket"}. */
			const char *const *upgrades_ptr;
			int upgrade_count;
			int connect; /* CONNECT opens a TCP tunnel to the upstream */
			/* The request header (lower case) that carries the
			 * client's verified TLS certificate upstream, replacing
			 * what the client sent; NULL: none. */
			const char *forward_client_cert;
			struct gw_route_deadline deadline;
		} proxy;
		struct {
			int status;
			const char *body;
			size_t body_len;
			const struct gw_config_header *headers_ptr;
			int header_count;
		} respond;
		struct {
			int status;
			const char *location;
		} redirect;
	};
};

struct gw_route {
	const char *name;
	int index;				     /* in gw_config.routes_ptr */
	const struct gw_route_matcher *matchers_ptr; /* cheapest first */
	int matcher_count;			     /* 0: matches every request */
	const struct gw_route_filter *filters_ptr;
	int filter_count;
	struct gw_route_action action;
};

/* A compiled regex, listed so that gw_config_free() can regfree() it. */
struct gw_config_regex {
	regex_t regex;
	struct gw_config_regex *next_ptr;
};

/* Files the filters of one configuration may name (past that, they are
 * read but not watched). */
#define GW_CONFIG_FILTER_FILES_MAX 64

struct gw_config {
	struct gw_arena *arena_ptr;
	/* Holders of the snapshot (gw_config_hold), outside the sealed arena:
	 * a reload's new snapshot and the upstream state kept from an old one
	 * share a process; the last gw_config_free frees it. */
	int *holders_ptr;
	const struct gw_config_listener *listeners_ptr;
	int listener_count;
	struct gw_config_admin admin;
	struct gw_config_access_log access_log;
	struct gw_config_http http;
	struct gw_config_timeouts timeouts;
	struct gw_config_rate_limits rate_limits;
	struct gw_config_geo geo;
	const struct gw_config_upstream *upstreams_ptr;
	int upstream_count;
	const struct gw_route *routes_ptr; /* in match order */
	int route_count;
	struct gw_config_regex *regexes_ptr;
	/* Files the filters read (gw_config_file_path): the watcher's too. */
	const char *const *filter_files_ptr;
	int filter_file_count;
};

#endif
