/* Tests for gateway/gw_geo.c, on libmaxminddb's own test databases (the
 * corpus in ../shared/corpora/maxmind, or $MAXMIND_CORPUS when that is
 * missing; without either every test fails): every row of the corpus's
 * expectations.json looked up through a table holding only that database
 * in its role, broken databases refused at validation and at creation, an
 * IPv4-only database asked about IPv6, the table's files swapped and
 * refused while a kernel follows it, and the Prometheus lines.
 *
 * A kernel is a forked child here, as in vkgw (gw_geo keeps a kernel's
 * mappings in process-wide state), so each test gets fresh kernels. The
 * test process plays the supervisor and the loader (it creates and
 * refreshes the table: the kernels map its sealed copies, as
 * /proc/PID/fd/FD), and asks a kernel, over a socket pair, to start,
 * follow and look up. Every assertion is made in the test
 * process; no test waits on time. Runs from the repository root (tests/run-tests.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <maxminddb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gw_cidr.h"
#include "gw_geo.h"

#define CORPUS_DEFAULT "../shared/corpora/maxmind"

#define COUNTRY_DB "GeoIP2-Country-Test.mmdb"
#define CITY_DB "GeoIP2-City-Test.mmdb"
#define ASN_DB "GeoLite2-ASN-Test.mmdb"
#define IPV4_DB "MaxMind-DB-test-ipv4-24.mmdb"
#define INVALID_NODE_COUNT_DB "GeoIP2-City-Test-Invalid-Node-Count.mmdb"
#define BROKEN_POINTERS_DB "MaxMind-DB-test-broken-pointers-24.mmdb"
#define BROKEN_TREE_DB "MaxMind-DB-test-broken-search-tree-24.mmdb"
#define BROKEN_DOUBLE_DB "GeoIP2-City-Test-Broken-Double-Format.mmdb"

/* ---- the corpus ---- */

static const char *corpus_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("MAXMIND_CORPUS");
	char probe[PATH_MAX + 64], cwd[PATH_MAX];

	if (dir[0])
		return dir;
	if (access(CORPUS_DEFAULT "/expectations.json", R_OK) == 0)
		snprintf(dir, sizeof(dir), "%s", CORPUS_DEFAULT);
	else if (env && env[0])
		snprintf(dir, sizeof(dir), "%s", env);
	else
		fail_msg("the MaxMind corpus is missing: no %s/expectations.json from %s (run from the repository "
			 "root) and MAXMIND_CORPUS is not set",
			 CORPUS_DEFAULT, getcwd(cwd, sizeof(cwd)) ? cwd : "?");
	snprintf(probe, sizeof(probe), "%s/expectations.json", dir);
	if (access(probe, R_OK) != 0) {
		dir[0] = '\0';
		fail_msg("the MaxMind corpus is missing: %s: %s", probe, strerror(errno));
	}
	return dir;
}

/* The corpus's test-data/name (a few held at once). */
static const char *db(const char *name)
{
	static char paths[8][PATH_MAX + 128];
	static int next;
	char *path = paths[next++ % 8];

	snprintf(path, sizeof(paths[0]), "%s/test-data/%s", corpus_dir(), name);
	if (access(path, R_OK) != 0)
		fail_msg("the MaxMind corpus is missing %s: %s", path, strerror(errno));
	return path;
}

static json_t *expectations(void)
{
	static json_t *doc;
	char path[PATH_MAX + 64];
	json_error_t err;

	if (doc)
		return doc;
	snprintf(path, sizeof(path), "%s/expectations.json", corpus_dir());
	doc = json_load_file(path, 0, &err);
	if (!doc)
		fail_msg("%s:%d: %s", path, err.line, err.text);
	return doc;
}

/* ---- what each test sets up, undone by cleanup() even after a failure ---- */

#define KERNELS_MAX 4

static struct {
	char dir[64]; /* a temporary directory, "" if none */
	struct gw_geo_table *table_ptr;
	struct {
		pid_t pid;
		int fd;
	} kernels[KERNELS_MAX];
	int kernel_count;
} fx;

static int cleanup(void **state)
{
	int rc = 0;

	(void)state;
	/* A kernel ends when its socket closes; it exits 0 unless the
	 * protocol broke. */
	for (int k = fx.kernel_count - 1; k >= 0; k--) {
		int status = 0;

		close(fx.kernels[k].fd);
		if (waitpid(fx.kernels[k].pid, &status, 0) != fx.kernels[k].pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "kernel %d (pid %d) ended with %s %d\n", k, (int)fx.kernels[k].pid,
				WIFSIGNALED(status) ? "signal" : "status",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			rc = -1;
		}
	}
	gw_geo_table_destroy(fx.table_ptr);
	if (fx.dir[0]) {
		DIR *d = opendir(fx.dir);
		struct dirent *e;

		while (d && (e = readdir(d)))
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				unlinkat(dirfd(d), e->d_name, 0);
		if (d)
			closedir(d);
		if (rmdir(fx.dir) != 0)
			rc = -1;
	}
	memset(&fx, 0, sizeof(fx));
	return rc;
}

static const char *temp_dir(void)
{
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/test_gw_geo.XXXXXX");
	if (!mkdtemp(fx.dir)) {
		fx.dir[0] = '\0';
		fail_msg("mkdtemp: %s", strerror(errno));
	}
	return fx.dir;
}

/* Makes fx.table_ptr from one path per role (NULL: not used); asserts it
 * was accepted. */
static void table_create(const char *country, const char *city, const char *asn, int kernels)
{
	const char *paths[GW_GEO_ROLES] = {[GW_GEO_COUNTRY] = country, [GW_GEO_CITY] = city, [GW_GEO_ASN] = asn};
	char error[1024] = "";

	if (gw_geo_table_create(paths, kernels, &fx.table_ptr, error, sizeof(error)) != 0)
		fail_msg("the table was refused: %s", error);
	assert_non_null(fx.table_ptr);
}

/* ---- a kernel: a forked child that does what it is asked ---- */

enum kernel_op { OP_START, OP_FOLLOW, OP_LOOKUP, OP_NO_ADDRESS };

struct kernel_request {
	enum kernel_op op;
	int kernel_index;
	struct gw_ip ip;
};

struct kernel_reply {
	int rc;	   /* OP_START: gw_geo_kernel_start's */
	int ready; /* gw_geo_kernel_ready(), after the call */
	struct gw_geo_answer answer;
};

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT};

static void kernel_serve(int fd, struct gw_geo_table *table_ptr)
{
	struct kernel_request request;
	struct kernel_reply reply;
	ssize_t n;

	/* A crash ends this process (the test sees its socket close), rather
	 * than cmocka's handlers, inherited, going on with the next test here. */
	for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
		signal(crash_signals[i], SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while ((n = read(fd, &request, sizeof(request))) == (ssize_t)sizeof(request)) {
		memset(&reply, 0, sizeof(reply));
		switch (request.op) {
		case OP_START:
			reply.rc = gw_geo_kernel_start(table_ptr, request.kernel_index);
			break;
		case OP_FOLLOW:
			gw_geo_kernel_follow();
			break;
		case OP_LOOKUP:
			gw_geo_lookup(&request.ip, &reply.answer);
			break;
		case OP_NO_ADDRESS:
			gw_geo_count_no_address();
			break;
		}
		reply.ready = gw_geo_kernel_ready();
		if (write(fd, &reply, sizeof(reply)) != (ssize_t)sizeof(reply))
			_exit(2);
	}
	_exit(n == 0 ? 0 : 3);
}

static struct kernel_reply kernel_call(int k, enum kernel_op op, int kernel_index, const struct gw_ip *ip_ptr)
{
	struct kernel_request request = {.op = op, .kernel_index = kernel_index};
	struct kernel_reply reply;

	assert_true(k < fx.kernel_count);
	if (ip_ptr)
		request.ip = *ip_ptr;
	if (write(fx.kernels[k].fd, &request, sizeof(request)) != (ssize_t)sizeof(request) ||
	    read(fx.kernels[k].fd, &reply, sizeof(reply)) != (ssize_t)sizeof(reply))
		fail_msg("kernel %d (pid %d) did not answer request %d: it ended?", k, (int)fx.kernels[k].pid, op);
	return reply;
}

/* A kernel following fx.table_ptr as `kernel_index`: its slot in fx, and
 * what gw_geo_kernel_start returned in *start_rc_ptr (NULL: must be 0). */
static int kernel_spawn(int kernel_index, int *start_rc_ptr)
{
	int k = fx.kernel_count, sv[2];
	struct kernel_reply reply;
	pid_t pid;

	assert_true(k < KERNELS_MAX);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Only this kernel's end stays open here, so that each
		 * kernel sees its socket close when the test closes it. */
		for (int i = 0; i < k; i++)
			close(fx.kernels[i].fd);
		close(sv[0]);
		kernel_serve(sv[1], fx.table_ptr);
	}
	close(sv[1]);
	fx.kernels[k].pid = pid;
	fx.kernels[k].fd = sv[0];
	fx.kernel_count++;
	reply = kernel_call(k, OP_START, kernel_index, NULL);
	if (start_rc_ptr)
		*start_rc_ptr = reply.rc;
	else
		assert_int_equal(reply.rc, 0);
	return k;
}

static void kernel_follow(int k)
{
	kernel_call(k, OP_FOLLOW, 0, NULL);
}

static struct gw_ip ip(const char *text)
{
	struct gw_ip out;

	if (gw_ip_parse(text, strlen(text), &out) != 0)
		fail_msg("gw_ip_parse(\"%s\") failed", text);
	return out;
}

static struct gw_geo_answer kernel_lookup(int k, const char *text)
{
	struct gw_ip address = ip(text);
	struct gw_geo_answer answer = kernel_call(k, OP_LOOKUP, 0, &address).answer;

	assert_int_equal(answer.address_known, 1);
	assert_memory_equal(answer.address.bytes, address.bytes, 16);
	return answer;
}

static void assert_unknown(const struct gw_geo_answer *a_ptr)
{
	assert_int_equal(a_ptr->found, 0);
	assert_int_equal(a_ptr->errors, 0);
	assert_string_equal(a_ptr->country, "");
	assert_string_equal(a_ptr->continent, "");
	assert_string_equal(a_ptr->subdivision, "");
	assert_string_equal(a_ptr->city, "");
	assert_int_equal(a_ptr->asn, 0);
	assert_string_equal(a_ptr->asn_org, "");
}

/* Copies the corpus file `name` to `dest` the way a database update does:
 * written under another name, then renamed over it. */
static void install(const char *name, const char *dest)
{
	char tmp[PATH_MAX], buf[65536];
	int in = open(db(name), O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s.new", dest);
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(in >= 0);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	assert_int_equal(close(out), 0);
	assert_int_equal(rename(tmp, dest), 0);
}

/* Kernel k's answer for `address`: found or not, and its country. */
static void expect_country(int k, const char *address, int found, const char *country)
{
	struct gw_geo_answer a = kernel_lookup(k, address);

	assert_int_equal(a.errors, 0);
	assert_int_equal(a.found, found);
	assert_string_equal(a.country, country);
}

/* ---- the Prometheus lines ---- */

static char metrics_buf[GW_GEO_RENDER_MAX];

static const char *metrics(void)
{
	size_t n = gw_geo_render_prometheus(metrics_buf, sizeof(metrics_buf));

	assert_true(n > 0);
	assert_true(n < sizeof(metrics_buf));
	assert_int_equal(strlen(metrics_buf), n);
	return metrics_buf;
}

/* The value on the line of `series` (its name and labels, exactly). */
static double metric(const char *text, const char *series)
{
	size_t len = strlen(series);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
		if (strncmp(line, series, len) == 0 && line[len] == ' ')
			return strtod(line + len + 1, NULL);
	fail_msg("no line for %s in:\n%s", series, text);
	return -1;
}

static int has_line(const char *text, const char *line)
{
	size_t len = strlen(line);

	for (const char *at = text; (at = strstr(at, line)); at++)
		if ((at == text || at[-1] == '\n') && at[len] == '\n')
			return 1;
	return 0;
}

static const char *const results[] = {"found", "not_found", "error", "no_address"};

static double lookups(const char *text, const char *result)
{
	char series[128];

	snprintf(series, sizeof(series), "vkgw_geo_lookups_total{result=\"%s\"}", result);
	return metric(text, series);
}

static double lookups_sum(const char *text)
{
	double sum = 0;

	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
		sum += lookups(text, results[i]);
	return sum;
}

static double loads(const char *text, const char *role, const char *outcome)
{
	char series[128];

	snprintf(series, sizeof(series), "vkgw_geo_database_loads_total{database=\"%s\",outcome=\"%s\"}", role,
		 outcome);
	return metric(text, series);
}

/* ---- every row of expectations.json ---- */

/* The row's text under `key`: "" for null; NULL when the row has none. */
static const char *row_text(const json_t *row, const char *key)
{
	const json_t *value = json_object_get(row, key);

	if (!value)
		return NULL;
	if (json_is_null(value))
		return "";
	if (!json_is_string(value))
		fail_msg("expectations.json: \"%s\" is neither a string nor null", key);
	return json_string_value(value);
}

#define EXPECT_TEXT(field, got, want)                                                                           \
	do {                                                                                                    \
		if (strcmp((got), (want)) != 0)                                                                 \
			fail_msg("%s %s: %s is \"%s\", want \"%s\"", db_name, ip_text, (field), (got), (want)); \
	} while (0)

#define EXPECT_INT(field, got, want)                                                                          \
	do {                                                                                                  \
		if ((long long)(got) != (long long)(want))                                                    \
			fail_msg("%s %s: %s is %lld, want %lld", db_name, ip_text, (field), (long long)(got), \
				 (long long)(want));                                                          \
	} while (0)

/* Keys a row may have: those checked, and those that say nothing of
 * what vkgw reads. Any other fails, so that no expectation goes unchecked. */
static const char *const row_keys[] = {"ip",
				       "found",
				       "country",
				       "registered_country",
				       "continent",
				       "city",
				       "autonomous_system_number",
				       "autonomous_system_organization",
				       "network",
				       "note",
				       "represented_country",
				       NULL};

/* Looks the row up in kernel 0 (following a table with only `role`) and
 * checks the answer; counts into *found_ptr / *differs_ptr a found row and
 * a row whose registered country differs from its country. */
static void check_row(const char *db_name, enum gw_geo_role role, const json_t *row, int *found_ptr, int *differs_ptr)
{
	const char *ip_text = row_text(row, "ip");
	const json_t *found_json = json_object_get(row, "found");
	const char *country = row_text(row, "country");
	const char *registered = row_text(row, "registered_country");
	const char *continent = row_text(row, "continent");
	const char *city = row_text(row, "city");
	const char *org = row_text(row, "autonomous_system_organization");
	const json_t *asn_json = json_object_get(row, "autonomous_system_number");
	int want_found = !found_json || json_is_true(found_json);
	struct gw_geo_answer a;
	const char *key;
	json_t *value;

	if (!ip_text || !ip_text[0])
		fail_msg("%s: a row without \"ip\"", db_name);
	json_object_foreach((json_t *)row, key, value) {
		int known = 0;

		for (int i = 0; row_keys[i]; i++)
			known |= strcmp(key, row_keys[i]) == 0;
		if (!known)
			fail_msg("%s %s: the row's \"%s\" is not checked here", db_name, ip_text, key);
	}
	if (found_json && !json_is_boolean(found_json))
		fail_msg("%s %s: \"found\" is not a boolean", db_name, ip_text);
	a = kernel_lookup(0, ip_text);
	EXPECT_INT("errors", a.errors, 0);
	EXPECT_INT("found", a.found, want_found);
	*found_ptr += want_found;
	if (!want_found) {
		/* Nothing at all, whatever else the row says. */
		EXPECT_TEXT("country", a.country, "");
		EXPECT_TEXT("continent", a.continent, "");
		EXPECT_TEXT("subdivision", a.subdivision, "");
		EXPECT_TEXT("city", a.city, "");
		EXPECT_INT("asn", a.asn, 0);
		EXPECT_TEXT("asn_org", a.asn_org, "");
		return;
	}
	if (country)
		EXPECT_TEXT("country", a.country, country);
	/* The registered country is never the one reported (routing is on
	 * country.iso_code): implied above, asserted for each row that has
	 * one that differs. */
	if (registered && country && strcmp(registered, country) != 0) {
		if (strcmp(a.country, registered) == 0)
			fail_msg("%s %s: reports the registered country %s", db_name, ip_text, registered);
		(*differs_ptr)++;
	}
	if (continent)
		EXPECT_TEXT("continent", a.continent, continent);
	if (city)
		EXPECT_TEXT("city", a.city, city);
	if (asn_json) {
		if (!json_is_integer(asn_json))
			fail_msg("%s %s: autonomous_system_number is not an integer", db_name, ip_text);
		EXPECT_INT("asn", a.asn, json_integer_value(asn_json));
	}
	if (org)
		EXPECT_TEXT("asn_org", a.asn_org, org);
	/* What the role does not read is empty. */
	if (role != GW_GEO_CITY) {
		EXPECT_TEXT("city", a.city, "");
		EXPECT_TEXT("subdivision", a.subdivision, "");
	}
	if (role != GW_GEO_ASN) {
		EXPECT_INT("asn", a.asn, 0);
		EXPECT_TEXT("asn_org", a.asn_org, "");
	} else {
		EXPECT_TEXT("country", a.country, "");
		EXPECT_TEXT("continent", a.continent, "");
	}
}

/* Every row of the database's list, through a table holding only it in
 * `role`; the rows checked are the rows in the file, and the kernel's
 * lookups are counted by result. */
static void check_every_row(const char *db_name, enum gw_geo_role role, int want_differs)
{
	const json_t *rows = json_object_get(expectations(), db_name);
	const char *path = db(db_name);
	int checked = 0, found = 0, differs = 0;
	const char *text;
	size_t i;
	json_t *row;

	if (!json_is_array(rows) || json_array_size(rows) == 0)
		fail_msg("expectations.json has no rows for %s", db_name);
	table_create(role == GW_GEO_COUNTRY ? path : NULL, role == GW_GEO_CITY ? path : NULL,
		     role == GW_GEO_ASN ? path : NULL, 1);
	kernel_spawn(0, NULL);
	json_array_foreach((json_t *)rows, i, row) {
		check_row(db_name, role, row, &found, &differs);
		checked++;
	}
	assert_int_equal(checked, json_array_size(rows));
	if (want_differs)
		assert_true(differs > 0);
	text = metrics();
	assert_true(lookups(text, "found") == found);
	assert_true(lookups(text, "not_found") == checked - found);
	assert_true(lookups(text, "error") == 0);
	assert_true(lookups_sum(text) == checked);
}

static void test_country_database_answers_every_row(void **state)
{
	(void)state;
	check_every_row(COUNTRY_DB, GW_GEO_COUNTRY, 1);
}

static void test_city_database_answers_every_row(void **state)
{
	(void)state;
	check_every_row(CITY_DB, GW_GEO_CITY, 0);
}

static void test_asn_database_answers_every_row(void **state)
{
	(void)state;
	check_every_row(ASN_DB, GW_GEO_ASN, 0);
}

/* The three roles at once: the place from the country file, the city
 * and subdivision ("country-code") from the city file, the ASN from its
 * own. */
static void test_three_roles_answer_together(void **state)
{
	struct gw_geo_answer a;
	const char *text;

	(void)state;
	table_create(db(COUNTRY_DB), db(CITY_DB), db(ASN_DB), 1);
	assert_string_equal(gw_geo_table_path(fx.table_ptr, GW_GEO_CITY), db(CITY_DB));
	kernel_spawn(0, NULL);
	a = kernel_lookup(0, "89.160.20.128");
	assert_int_equal(a.found, 1);
	assert_int_equal(a.errors, 0);
	assert_string_equal(a.country, "SE");
	assert_string_equal(a.continent, "EU");
	assert_string_equal(a.city, "Link\xc3\xb6ping");
	assert_string_equal(a.subdivision, "SE-E");
	assert_int_equal(a.asn, 29518);
	assert_string_equal(a.asn_org, "Bredband2 AB");
	/* In the country and city files, not in the ASN file. */
	a = kernel_lookup(0, "81.2.69.142");
	assert_int_equal(a.found, 1);
	assert_string_equal(a.country, "GB");
	assert_string_equal(a.city, "London");
	assert_string_equal(a.subdivision, "GB-ENG");
	assert_int_equal(a.asn, 0);
	assert_string_equal(a.asn_org, "");
	/* Only in the ASN file. */
	a = kernel_lookup(0, "12.81.92.1");
	assert_int_equal(a.found, 1);
	assert_string_equal(a.country, "");
	assert_int_equal(a.asn, 7018);
	/* In none. */
	a = kernel_lookup(0, "10.0.0.1");
	assert_unknown(&a);
	/* The three roles' lines fit the bound the program reserves. */
	text = metrics();
	for (int r = 0; r < GW_GEO_ROLES; r++) {
		assert_true(loads(text, gw_geo_role_name((enum gw_geo_role)r), "accepted") == 1);
		assert_true(loads(text, gw_geo_role_name((enum gw_geo_role)r), "refused") == 0);
	}
	assert_true(lookups_sum(text) == 4);
}

/* 2.2.3.1 is in the city file (Boxford, GB-ENG) but not in the country
 * file: with both, the answer holds the city file's city, so some
 * database has a record for the address, and it is found. */
static void test_an_address_only_the_city_file_knows_is_found(void **state)
{
	struct gw_geo_answer a;

	(void)state;
	table_create(db(COUNTRY_DB), db(CITY_DB), NULL, 1);
	kernel_spawn(0, NULL);
	a = kernel_lookup(0, "2.2.3.1");
	assert_int_equal(a.errors, 0);
	assert_string_equal(a.city, "Boxford");
	assert_string_equal(a.subdivision, "GB-ENG");
	assert_int_equal(a.found, 1);
	assert_true(lookups(metrics(), "found") == 1);
}

/* ---- broken databases ---- */

/* `name` refused by gw_geo_validate in `role`, and by a table that holds
 * it there: each with an error naming the file. */
static void assert_refused(const char *name, enum gw_geo_role role)
{
	const char *path = db(name);
	const char *paths[GW_GEO_ROLES] = {NULL};
	struct gw_geo_table *table_ptr = (struct gw_geo_table *)&paths; /* anything but NULL */
	char error[1024];

	/* Twice: a refusal is not remembered as a pass. */
	for (int i = 0; i < 2; i++) {
		error[0] = '\0';
		if (gw_geo_validate((int)role, path, error, sizeof(error)) != -1)
			fail_msg("%s accepted as a %s database", name, gw_geo_role_name(role));
		if (!strstr(error, path))
			fail_msg("%s as %s: the error does not name the file: \"%s\"", name, gw_geo_role_name(role),
				 error);
	}
	paths[role] = path;
	error[0] = '\0';
	if (gw_geo_table_create(paths, 1, &table_ptr, error, sizeof(error)) != -1)
		fail_msg("a table with %s as its %s database was made", name, gw_geo_role_name(role));
	assert_null(table_ptr);
	if (!strstr(error, path) || !strstr(error, gw_geo_role_name(role)))
		fail_msg("%s as %s: the table's error names neither file nor role: \"%s\"", name,
			 gw_geo_role_name(role), error);
}

static void test_invalid_node_count_is_refused_in_every_role(void **state)
{
	const char *paths[GW_GEO_ROLES] = {db(COUNTRY_DB), db(INVALID_NODE_COUNT_DB), NULL};
	struct gw_geo_table *table_ptr = NULL;
	char error[1024] = "";

	(void)state;
	for (int r = 0; r < GW_GEO_ROLES; r++)
		assert_refused(INVALID_NODE_COUNT_DB, (enum gw_geo_role)r);
	/* One broken file refuses the whole table, a good one beside it too. */
	assert_int_equal(gw_geo_table_create(paths, 1, &table_ptr, error, sizeof(error)), -1);
	assert_null(table_ptr);
	assert_non_null(strstr(error, paths[GW_GEO_CITY]));
	assert_non_null(strstr(error, "city"));
	assert_int_equal(gw_geo_render_prometheus(metrics_buf, sizeof(metrics_buf)), 0);
}

static void test_broken_pointers_and_search_tree_are_refused(void **state)
{
	(void)state;
	for (int r = 0; r < GW_GEO_ROLES; r++) {
		assert_refused(BROKEN_POINTERS_DB, (enum gw_geo_role)r);
		assert_refused(BROKEN_TREE_DB, (enum gw_geo_role)r);
	}
}

/* Its broken doubles sit in records of the city file: the city role reads
 * city.names.en and is refused. So is the country role: some records'
 * country.iso_code cannot be reached without decoding a broken value
 * before it. And the ASN role: finding that a record has no ASN means
 * reading past every value of the record. */
static void test_broken_double_format_is_refused(void **state)
{
	(void)state;
	assert_refused(BROKEN_DOUBLE_DB, GW_GEO_CITY);
	assert_refused(BROKEN_DOUBLE_DB, GW_GEO_COUNTRY);
	assert_refused(BROKEN_DOUBLE_DB, GW_GEO_ASN);
}

/* A file broken only in a value one role reads is refused in that role
 * alone: the city file with 81.2.69.142's subdivision code ("ENG", after
 * the country in its record) made a 3-byte double (a double has 8). */
static void test_a_value_the_role_never_reads_does_not_refuse_it(void **state)
{
	static const char *const subdivision_key[] = {"subdivisions", "0", "iso_code", NULL};
	char path[PATH_MAX], error[1024] = "";
	MMDB_s mmdb;
	MMDB_lookup_result_s result;
	MMDB_entry_data_s data;
	int gai = 0, mmdb_error = 0, fd;
	uint8_t control = 0;
	off_t at;
	struct gw_geo_answer a;

	(void)state;
	snprintf(path, sizeof(path), "%s/city.mmdb", temp_dir());
	install(CITY_DB, path);
	assert_int_equal(MMDB_open(path, MMDB_MODE_MMAP, &mmdb), MMDB_SUCCESS);
	result = MMDB_lookup_string(&mmdb, "81.2.69.142", &gai, &mmdb_error);
	assert_true(gai == 0 && mmdb_error == MMDB_SUCCESS && result.found_entry);
	assert_int_equal(MMDB_aget_value(&result.entry, &data, subdivision_key), MMDB_SUCCESS);
	assert_int_equal(data.type, MMDB_DATA_TYPE_UTF8_STRING);
	at = (off_t)(mmdb.data_section - mmdb.file_content) + (off_t)data.offset;
	MMDB_close(&mmdb);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &control, 1, at), 1);
	assert_int_equal(control, (2 << 5) | 3); /* a 3-byte string */
	control = (3 << 5) | 3;			 /* a 3-byte double */
	assert_int_equal(pwrite(fd, &control, 1, at), 1);
	close(fd);

	assert_int_equal(gw_geo_validate(GW_GEO_CITY, path, error, sizeof(error)), -1);
	assert_non_null(strstr(error, path));
	if (gw_geo_validate(GW_GEO_COUNTRY, path, error, sizeof(error)) != 0)
		fail_msg("refused as a country database: %s", error);
	table_create(path, NULL, NULL, 1);
	kernel_spawn(0, NULL);
	a = kernel_lookup(0, "81.2.69.142");
	assert_int_equal(a.errors, 0);
	assert_string_equal(a.country, "GB");
	assert_string_equal(a.subdivision, "");
}

static void test_a_missing_file_is_refused(void **state)
{
	char path[PATH_MAX];
	const char *paths[GW_GEO_ROLES] = {path, NULL, NULL};
	struct gw_geo_table *table_ptr = NULL;
	char error[1024] = "";

	(void)state;
	snprintf(path, sizeof(path), "%s/none.mmdb", temp_dir());
	assert_int_equal(gw_geo_validate(GW_GEO_COUNTRY, path, error, sizeof(error)), -1);
	assert_non_null(strstr(error, path));
	assert_non_null(strstr(error, strerror(ENOENT)));
	assert_int_equal(gw_geo_table_create(paths, 1, &table_ptr, error, sizeof(error)), -1);
	assert_null(table_ptr);
	assert_non_null(strstr(error, path));
}

/* An IPv4-only database: accepted in any role; an IPv6 address is
 * unknown to it (no error), an IPv4-mapped one is its IPv4 address. */
static void test_ipv4_only_database(void **state)
{
	struct gw_geo_answer a, v4;
	char error[1024] = "";
	const char *text;

	(void)state;
	for (int r = 0; r < GW_GEO_ROLES; r++)
		if (gw_geo_validate(r, db(IPV4_DB), error, sizeof(error)) != 0)
			fail_msg("refused as %s: %s", gw_geo_role_name((enum gw_geo_role)r), error);
	table_create(db(IPV4_DB), NULL, NULL, 1);
	kernel_spawn(0, NULL);
	a = kernel_lookup(0, "2001:db8::1");
	assert_unknown(&a);
	a = kernel_lookup(0, "::1");
	assert_unknown(&a);
	v4 = kernel_lookup(0, "1.1.1.1");
	assert_int_equal(v4.found, 1); /* a record with no place in it */
	assert_int_equal(v4.errors, 0);
	assert_string_equal(v4.country, "");
	a = kernel_lookup(0, "::ffff:1.1.1.1");
	assert_memory_equal(&a, &v4, sizeof(a));
	text = metrics();
	assert_true(lookups(text, "error") == 0);
	assert_true(lookups(text, "not_found") == 2);
	assert_true(lookups(text, "found") == 2);
}

/* ---- the table's files change ---- */

/* A file renamed over the table's: refreshed (the loader's work) and
 * followed (the kernel's), a good one is taken, a broken one is refused
 * and counted while the one before stays, a good one after it is taken. */
static void test_live_swap(void **state)
{
	char path[PATH_MAX];
	const char *text;

	(void)state;
	snprintf(path, sizeof(path), "%s/db.mmdb", temp_dir());
	install(COUNTRY_DB, path);
	table_create(path, NULL, NULL, 1);
	kernel_spawn(0, NULL);
	expect_country(0, "81.2.69.142", 1, "GB");
	text = metrics();
	assert_true(loads(text, "country", "accepted") == 1);
	assert_true(loads(text, "country", "refused") == 0);

	/* A good file: taken. That database has no country (and no record
	 * for 81.2.69.142); 1.1.1.1 shows it is the one in use. */
	install(IPV4_DB, path);
	gw_geo_table_refresh(fx.table_ptr);
	kernel_follow(0);
	expect_country(0, "81.2.69.142", 0, "");
	expect_country(0, "1.1.1.1", 1, "");
	text = metrics();
	assert_true(loads(text, "country", "accepted") == 2);
	assert_true(loads(text, "country", "refused") == 0);

	/* A broken file: refused and counted once, however often the loader
	 * looks; the kernel keeps the one before. */
	install(INVALID_NODE_COUNT_DB, path);
	gw_geo_table_refresh(fx.table_ptr);
	kernel_follow(0);
	expect_country(0, "81.2.69.142", 0, "");
	expect_country(0, "1.1.1.1", 1, "");
	gw_geo_table_refresh(fx.table_ptr);
	kernel_follow(0);
	expect_country(0, "1.1.1.1", 1, "");
	text = metrics();
	assert_true(has_line(text, "vkgw_geo_database_loads_total{database=\"country\",outcome=\"refused\"} 1"));
	assert_true(has_line(text, "vkgw_geo_database_loads_total{database=\"country\",outcome=\"accepted\"} 2"));

	/* A good file again. */
	install(COUNTRY_DB, path);
	gw_geo_table_refresh(fx.table_ptr);
	kernel_follow(0);
	expect_country(0, "81.2.69.142", 1, "GB");
	expect_country(0, "1.1.1.1", 0, "");
	text = metrics();
	assert_true(loads(text, "country", "accepted") == 3);
	assert_true(loads(text, "country", "refused") == 1);
	/* Nothing new: nothing counted. */
	gw_geo_table_refresh(fx.table_ptr);
	kernel_follow(0);
	text = metrics();
	assert_true(loads(text, "country", "accepted") == 3);
	assert_true(loads(text, "country", "refused") == 1);
	assert_true(lookups(text, "error") == 0);
}

/* A kernel maps the very file the loader validated: one renamed over it
 * in between is not mapped (the kernel answers from what it had, or
 * unknown), until the loader has validated what is there now. */
static void test_kernel_maps_only_the_file_validated(void **state)
{
	char path[PATH_MAX];
	int rc = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/db.mmdb", temp_dir());
	install(COUNTRY_DB, path);
	table_create(path, NULL, NULL, 1);

	/* Changed between validation and the kernel's start: the kernel maps
	 * the copy that was validated, not what the path names now. */
	install(IPV4_DB, path);
	kernel_spawn(0, &rc);
	assert_int_equal(rc, 0);
	expect_country(0, "81.2.69.142", 1, "GB");
	expect_country(0, "1.1.1.1", 0, "");
	/* Validated now: mapped at the next follow. */
	gw_geo_table_refresh(fx.table_ptr);
	assert_int_equal(kernel_call(0, OP_FOLLOW, 0, NULL).ready, 1);
	expect_country(0, "1.1.1.1", 1, "");
	expect_country(0, "81.2.69.142", 0, "");

	/* A good file validated, then a broken one renamed over it before
	 * the kernel follows: the kernel takes the good one's copy... */
	install(COUNTRY_DB, path);
	gw_geo_table_refresh(fx.table_ptr);
	install(BROKEN_POINTERS_DB, path);
	kernel_follow(0);
	expect_country(0, "81.2.69.142", 1, "GB");
	/* ...and keeps it once the loader refused the broken one... */
	gw_geo_table_refresh(fx.table_ptr);
	kernel_follow(0);
	expect_country(0, "81.2.69.142", 1, "GB");
	assert_true(loads(metrics(), "country", "refused") == 1);
	/* ...and when a good file comes again. */
	install(IPV4_DB, path);
	gw_geo_table_refresh(fx.table_ptr);
	kernel_follow(0);
	expect_country(0, "1.1.1.1", 1, "");
	assert_true(loads(metrics(), "country", "accepted") == 4);
}

/* A file in use rewritten in place, a record made corrupt and its time
 * put back: the kernels map a sealed copy of what was validated, so
 * nothing they answer changes; the loader, asked again, sees a new file
 * (its ctime moved), finds the corrupt record and refuses it. */
static void test_a_file_rewritten_in_place_changes_nothing_mapped(void **state)
{
	/* GB's country map (the value of "country" in 81.2.69.142's record,
	 * after its "continent"): its first key becomes a pointer (size 3:
	 * four bytes) far past the end of the data section. */
	static const uint8_t bad_pointer[5] = {0x38, 0xff, 0xff, 0xff, 0xff};
	static const char *const country_key[] = {"country", NULL};
	uint8_t control = 0;
	char path[PATH_MAX];
	struct timespec times[2];
	struct stat st;
	MMDB_s mmdb;
	MMDB_lookup_result_s result;
	MMDB_entry_data_s data;
	int gai = 0, mmdb_error = 0, fd;
	off_t at;
	struct gw_geo_answer a;
	const char *text;

	(void)state;
	snprintf(path, sizeof(path), "%s/db.mmdb", temp_dir());
	install(COUNTRY_DB, path);
	table_create(path, NULL, NULL, 1);
	assert_int_equal(MMDB_open(path, MMDB_MODE_MMAP, &mmdb), MMDB_SUCCESS);
	result = MMDB_lookup_string(&mmdb, "81.2.69.142", &gai, &mmdb_error);
	assert_int_equal(gai, 0);
	assert_int_equal(mmdb_error, MMDB_SUCCESS);
	assert_true(result.found_entry);
	assert_int_equal(MMDB_aget_value(&result.entry, &data, country_key), MMDB_SUCCESS);
	assert_int_equal(data.type, MMDB_DATA_TYPE_MAP);
	at = (off_t)(mmdb.data_section - mmdb.file_content) + (off_t)data.offset;
	MMDB_close(&mmdb);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(pread(fd, &control, 1, at), 1);
	assert_int_equal(control >> 5, 7); /* a map */
	assert_int_equal(pwrite(fd, bad_pointer, sizeof(bad_pointer), at + 1), sizeof(bad_pointer));
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	assert_int_equal(futimens(fd, times), 0);
	close(fd);

	kernel_spawn(0, NULL);
	a = kernel_lookup(0, "81.2.69.142");
	assert_int_equal(a.errors, 0);
	assert_int_equal(a.found, 1);
	assert_string_equal(a.country, "GB");
	assert_string_equal(a.continent, "EU");
	expect_country(0, "89.160.20.128", 1, "SE");
	gw_geo_table_refresh(fx.table_ptr);
	kernel_follow(0);
	expect_country(0, "81.2.69.142", 1, "GB");
	text = metrics();
	assert_true(loads(text, "country", "refused") == 1);
	assert_true(lookups(text, "error") == 0);
	assert_true(lookups(text, "found") == 3);
}

/* ---- metrics ---- */

static void test_metrics(void **state)
{
	char series[256], small[16];
	time_t before, after;
	MMDB_s mmdb;
	uint64_t epoch;
	double value;
	const char *text;
	size_t n;
	int k;

	(void)state;
	before = time(NULL);
	table_create(db(COUNTRY_DB), NULL, NULL, 1);
	/* The database's own metadata, read here. */
	assert_int_equal(MMDB_open(db(COUNTRY_DB), MMDB_MODE_MMAP, &mmdb), MMDB_SUCCESS);
	epoch = mmdb.metadata.build_epoch;
	snprintf(series, sizeof(series), "vkgw_geo_database_build_epoch_seconds{database=\"country\",type=\"%s\"} %llu",
		 mmdb.metadata.database_type, (unsigned long long)epoch);
	MMDB_close(&mmdb);
	assert_true(epoch > 0);

	k = kernel_spawn(0, NULL);
	expect_country(k, "81.2.69.142", 1, "GB");
	expect_country(k, "2001:218::1", 1, "JP");
	expect_country(k, "214.1.1.1", 1, "");
	expect_country(k, "10.0.0.1", 0, "");
	expect_country(k, "2001:db8::1", 0, "");
	kernel_call(k, OP_NO_ADDRESS, 0, NULL);
	/* A kernel past the table's count looks up, uncounted. */
	k = kernel_spawn(1, NULL);
	expect_country(k, "81.2.69.142", 1, "GB");
	kernel_call(k, OP_NO_ADDRESS, 0, NULL);

	text = metrics();
	after = time(NULL);
	assert_true(has_line(text, "# TYPE vkgw_geo_database_build_epoch_seconds gauge"));
	assert_true(has_line(text, "# TYPE vkgw_geo_database_age_seconds gauge"));
	assert_true(has_line(text, "# TYPE vkgw_geo_database_accepted_timestamp_seconds gauge"));
	assert_true(has_line(text, "# TYPE vkgw_geo_database_loads_total counter"));
	assert_true(has_line(text, "# TYPE vkgw_geo_lookups_total counter"));
	if (!has_line(text, series))
		fail_msg("no line \"%s\" in:\n%s", series, text);
	value = metric(text, "vkgw_geo_database_age_seconds{database=\"country\"}");
	assert_true(value >= (double)before - (double)epoch - 1);
	assert_true(value <= (double)after - (double)epoch + 1);
	value = metric(text, "vkgw_geo_database_accepted_timestamp_seconds{database=\"country\"}");
	assert_true(value >= (double)before - 1 && value <= (double)after + 1);
	assert_true(loads(text, "country", "accepted") == 1);
	assert_true(loads(text, "country", "refused") == 0);
	/* Only the configured role. */
	assert_null(strstr(text, "database=\"city\""));
	assert_null(strstr(text, "database=\"asn\""));
	/* Kernel 0's lookups, by result. */
	assert_true(lookups(text, "found") == 3);
	assert_true(lookups(text, "not_found") == 2);
	assert_true(lookups(text, "error") == 0);
	assert_true(lookups(text, "no_address") == 1);
	assert_true(lookups_sum(text) == 6);

	/* Rendered as snprintf does: cut, terminated, the full length told. */
	n = gw_geo_render_prometheus(small, sizeof(small));
	assert_int_equal(n, strlen(text));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, text, sizeof(small) - 1);

	/* No table, no lines. */
	gw_geo_table_destroy(fx.table_ptr);
	fx.table_ptr = NULL;
	assert_int_equal(gw_geo_render_prometheus(metrics_buf, sizeof(metrics_buf)), 0);
}

/* No file in any role: no table, and a kernel without one answers
 * unknown. */
static void test_no_database_no_table(void **state)
{
	const char *paths[GW_GEO_ROLES] = {NULL};
	struct gw_geo_table *table_ptr = (struct gw_geo_table *)&paths;
	char error[64] = "";
	struct gw_geo_answer a;

	(void)state;
	assert_string_equal(gw_geo_role_name(GW_GEO_COUNTRY), "country");
	assert_string_equal(gw_geo_role_name(GW_GEO_CITY), "city");
	assert_string_equal(gw_geo_role_name(GW_GEO_ASN), "asn");
	assert_int_equal(gw_geo_table_create(paths, 1, &table_ptr, error, sizeof(error)), 0);
	assert_null(table_ptr);
	assert_null(gw_geo_table_path(NULL, GW_GEO_COUNTRY));
	kernel_spawn(0, NULL);
	assert_int_equal(kernel_call(0, OP_FOLLOW, 0, NULL).ready, 0);
	a = kernel_lookup(0, "81.2.69.142");
	assert_unknown(&a);
	assert_int_equal(gw_geo_render_prometheus(metrics_buf, sizeof(metrics_buf)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_country_database_answers_every_row, cleanup),
		cmocka_unit_test_teardown(test_city_database_answers_every_row, cleanup),
		cmocka_unit_test_teardown(test_asn_database_answers_every_row, cleanup),
		cmocka_unit_test_teardown(test_three_roles_answer_together, cleanup),
		cmocka_unit_test_teardown(test_an_address_only_the_city_file_knows_is_found, cleanup),
		cmocka_unit_test_teardown(test_invalid_node_count_is_refused_in_every_role, cleanup),
		cmocka_unit_test_teardown(test_broken_pointers_and_search_tree_are_refused, cleanup),
		cmocka_unit_test_teardown(test_broken_double_format_is_refused, cleanup),
		cmocka_unit_test_teardown(test_a_value_the_role_never_reads_does_not_refuse_it, cleanup),
		cmocka_unit_test_teardown(test_a_missing_file_is_refused, cleanup),
		cmocka_unit_test_teardown(test_ipv4_only_database, cleanup),
		cmocka_unit_test_teardown(test_live_swap, cleanup),
		cmocka_unit_test_teardown(test_kernel_maps_only_the_file_validated, cleanup),
		cmocka_unit_test_teardown(test_a_file_rewritten_in_place_changes_nothing_mapped, cleanup),
		cmocka_unit_test_teardown(test_metrics, cleanup),
		cmocka_unit_test_teardown(test_no_database_no_table, cleanup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
