/* gw_geo: the geo databases, their validation, each kernel's mapping of
 * them, and lookups (see the header). */
#include "gw_geo.h"
#include "gw_geo_s.h"
#include "gw_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A kernel that found the path naming another file than the one
 * validated tries again this much later (the loader is on it). */
#define RETRY_NS 100000000ull

static const char *const role_names[GW_GEO_ROLES] = {"country", "city", "asn"};

/* The table of this program: set before the kernels fork, so each has it. */
static struct gw_geo_table *program_table_ptr;

static void kernel_forget_table(const struct gw_geo_table *table_ptr);

/* The snapshots this process published and holds open, by role. A
 * process forked from it (the loader) has none of them: own_fds() forgets
 * the numbers it inherited. */
static int own_snapshot_fds[GW_GEO_ROLES] = {-1, -1, -1};
static pid_t own_snapshot_pid;

static int *own_fds(void)
{
	if (own_snapshot_pid != getpid()) {
		for (int r = 0; r < GW_GEO_ROLES; r++)
			own_snapshot_fds[r] = -1;
		own_snapshot_pid = getpid();
	}
	return own_snapshot_fds;
}

const char *gw_geo_role_name(enum gw_geo_role role)
{
	return role_names[role];
}

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the values vkgw reads of a record ---- */

/* The paths of the values read, per role, each NULL-terminated. */
static const char *const country_path[] = {"country", "iso_code", NULL};
static const char *const continent_path[] = {"continent", "code", NULL};
static const char *const subdivision_path[] = {"subdivisions", "0", "iso_code", NULL};
static const char *const city_path[] = {"city", "names", "en", NULL};
static const char *const asn_path[] = {"autonomous_system_number", NULL};
static const char *const asn_org_path[] = {"autonomous_system_organization", NULL};

/* One value: MMDB_SUCCESS with *data_ptr (has_data 0 when the record has
 * none), or libmaxminddb's error for a corrupt record. A path that does
 * not fit the record's shape is no error: the record just has no such
 * value. */
static int value_at(MMDB_entry_s *entry_ptr, const char *const *path, MMDB_entry_data_s *data_ptr)
{
	int rc = MMDB_aget_value(entry_ptr, data_ptr, path);

	if (rc == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR || rc == MMDB_INVALID_LOOKUP_PATH_ERROR) {
		data_ptr->has_data = false;
		return MMDB_SUCCESS;
	}
	return rc;
}

/* ---- validation ---- */

/* The values each role reads: what a lookup will decode. */
static const char *const *const role_paths[GW_GEO_ROLES][5] = {
	[GW_GEO_COUNTRY] = {country_path, continent_path, NULL},
	[GW_GEO_CITY] = {country_path, continent_path, subdivision_path, city_path, NULL},
	[GW_GEO_ASN] = {asn_path, asn_org_path, NULL},
};

/* Every value the role reads, of the record at `entry_ptr`, decodes.
 * Only those: a record may hold values vkgw never reads that would not
 * decode (a broken location), and lookups never ask for them. */
static int record_readable(MMDB_entry_s *entry_ptr, enum gw_geo_role role)
{
	MMDB_entry_data_s data;

	for (int i = 0; role_paths[role][i]; i++) {
		int rc = value_at(entry_ptr, role_paths[role][i], &data);

		if (rc != MMDB_SUCCESS)
			return rc;
	}
	return MMDB_SUCCESS;
}

/* Walks every node; the records they point to are read once each (the
 * bitmap marks their offsets). MMDB_SUCCESS, or the first error, with the
 * node at fault in *node_ptr. */
static int tree_readable(MMDB_s *db_ptr, enum gw_geo_role role, uint32_t *node_ptr)
{
	size_t bits = (size_t)db_ptr->data_section_size + 1;
	uint8_t *seen = calloc(bits / 8 + 1, 1);
	MMDB_search_node_s node;
	int rc = MMDB_SUCCESS;

	if (!seen)
		return MMDB_OUT_OF_MEMORY_ERROR;
	for (uint32_t n = 0; n < db_ptr->metadata.node_count && rc == MMDB_SUCCESS; n++) {
		*node_ptr = n;
		rc = MMDB_read_node(db_ptr, n, &node);
		for (int side = 0; side < 2 && rc == MMDB_SUCCESS; side++) {
			uint8_t type = side ? node.right_record_type : node.left_record_type;
			MMDB_entry_s entry = side ? node.right_record_entry : node.left_record_entry;

			if (type == MMDB_RECORD_TYPE_INVALID)
				rc = MMDB_CORRUPT_SEARCH_TREE_ERROR;
			else if (type == MMDB_RECORD_TYPE_DATA && entry.offset >= db_ptr->data_section_size)
				rc = MMDB_INVALID_DATA_ERROR;
			else if (type == MMDB_RECORD_TYPE_DATA &&
				 !(seen[entry.offset / 8] & (1u << (entry.offset % 8)))) {
				seen[entry.offset / 8] |= (uint8_t)(1u << (entry.offset % 8));
				rc = record_readable(&entry, role);
			}
		}
	}
	free(seen);
	return rc;
}

static int validate_open(MMDB_s *db_ptr, enum gw_geo_role role, const char *path, char *error, size_t len)
{
	uint32_t node = 0;
	int rc;

	if (db_ptr->metadata.node_count == 0 || db_ptr->metadata.ip_version == 0) {
		snprintf(error, len, "%s: not a usable MaxMind DB (no search tree)", path);
		return -1;
	}
	rc = tree_readable(db_ptr, role, &node);
	if (rc != MMDB_SUCCESS) {
		snprintf(error, len, "%s: search tree node %u of %u: %s", path, node, db_ptr->metadata.node_count,
			 MMDB_strerror(rc));
		return -1;
	}
	return 0;
}

/* Opens `path` (a descriptor's /proc/self/fd link), named `shown` in
 * the error. */
static int open_database(const char *path, const char *shown, MMDB_s *db_ptr, char *error, size_t len)
{
	int rc = MMDB_open(path, MMDB_MODE_MMAP, db_ptr);

	if (rc == MMDB_SUCCESS)
		return 0;
	snprintf(error, len, "%s: %s%s%s", shown, MMDB_strerror(rc), rc == MMDB_IO_ERROR ? ": " : "",
		 rc == MMDB_IO_ERROR ? strerror(errno) : "");
	return -1;
}

/* ---- the table ---- */

static void identity_of(const struct stat *st_ptr, struct gw_geo_identity *out_ptr)
{
	*out_ptr = (struct gw_geo_identity){
		.dev = st_ptr->st_dev,
		.ino = st_ptr->st_ino,
		.size = (uint64_t)st_ptr->st_size,
		.mtime_ns = (int64_t)st_ptr->st_mtim.tv_sec * 1000000000 + st_ptr->st_mtim.tv_nsec,
		.ctime_ns = (int64_t)st_ptr->st_ctim.tv_sec * 1000000000 + st_ptr->st_ctim.tv_nsec,
	};
}

static int same_identity(const struct gw_geo_identity *a_ptr, const struct gw_geo_identity *b_ptr)
{
	return memcmp(a_ptr, b_ptr, sizeof(*a_ptr)) == 0;
}

/* Files this process validated already: the configuration's check and
 * the table's first load at start, or a reload's check, read a file once. */
#define VALIDATED_MAX 8
static struct {
	struct gw_geo_identity identity;
	enum gw_geo_role role;
} validated[VALIDATED_MAX];
static int validated_next;

static int validated_before(const struct gw_geo_identity *identity_ptr, enum gw_geo_role role)
{
	for (int i = 0; i < VALIDATED_MAX; i++)
		if (validated[i].identity.ino && validated[i].role == role &&
		    same_identity(&validated[i].identity, identity_ptr))
			return 1;
	return 0;
}

/* Opens the file behind fd (named `path` in errors) and validates it,
 * unless it was before: 0 with *db_ptr open, or -1 with why. */
static int open_validated(int fd, enum gw_geo_role role, const char *path, const struct gw_geo_identity *identity_ptr,
			  MMDB_s *db_ptr, char *error, size_t len)
{
	char via[64];

	/* The descriptor's file, whatever the path names by now. */
	snprintf(via, sizeof(via), "/proc/self/fd/%d", fd);
	if (open_database(via, path, db_ptr, error, len) == -1)
		return -1;
	if (validated_before(identity_ptr, role))
		return 0;
	if (validate_open(db_ptr, role, path, error, len) == -1) {
		MMDB_close(db_ptr);
		return -1;
	}
	validated[validated_next].identity = *identity_ptr;
	validated[validated_next].role = role;
	validated_next = (validated_next + 1) % VALIDATED_MAX;
	return 0;
}

/* Opens `path`: its descriptor and identity, or -1 with why. */
static int open_file(const char *path, struct gw_geo_identity *identity_ptr, char *error, size_t len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(error, len, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	identity_of(&st, identity_ptr);
	return fd;
}

int gw_geo_validate(int role, const char *path, char *error, size_t len)
{
	struct gw_geo_identity identity;
	MMDB_s db;
	int fd = open_file(path, &identity, error, len), rc;

	if (fd == -1)
		return -1;
	rc = open_validated(fd, (enum gw_geo_role)role, path, &identity, &db, error, len);
	if (rc == 0)
		MMDB_close(&db);
	close(fd);
	return rc;
}

/* Publishes an accepted file under the entry's seqlock. */
static void publish(struct gw_geo_entry *entry_ptr, const struct gw_geo_identity *identity_ptr,
		    const struct gw_geo_snapshot *snapshot_ptr, const MMDB_s *db_ptr)
{
	atomic_fetch_add_explicit(&entry_ptr->seq, 1, memory_order_acq_rel);
	atomic_thread_fence(memory_order_release);
	entry_ptr->version++;
	entry_ptr->identity = *identity_ptr;
	entry_ptr->snapshot = *snapshot_ptr;
	entry_ptr->build_epoch = db_ptr->metadata.build_epoch;
	entry_ptr->accepted_unix_ns = now_ns(CLOCK_REALTIME);
	snprintf(entry_ptr->database_type, sizeof(entry_ptr->database_type), "%s",
		 db_ptr->metadata.database_type ? db_ptr->metadata.database_type : "");
	/* It goes into a label of /metrics and a log line: printable, no quote. */
	for (char *c = entry_ptr->database_type; *c; c++)
		if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
			*c = '_';
	atomic_fetch_add_explicit(&entry_ptr->seq, 1, memory_order_release);
	atomic_fetch_add_explicit(&entry_ptr->accepted, 1, memory_order_relaxed);
}

/* The entry's version and identity, consistent. 0, or -1 when a write
 * was under way at every try (the caller tries again later). */
static int read_entry(const struct gw_geo_entry *entry_ptr, uint32_t *version_ptr, struct gw_geo_snapshot *snapshot_ptr)
{
	for (int tries = 0; tries < 8; tries++) {
		uint32_t before = atomic_load_explicit(&entry_ptr->seq, memory_order_acquire);

		if (before & 1)
			continue;
		*version_ptr = entry_ptr->version;
		*snapshot_ptr = entry_ptr->snapshot;
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&entry_ptr->seq, memory_order_relaxed) == before)
			return 0;
	}
	return -1;
}

/* A sealed copy of the size bytes of the file at fd, in memory only this
 * process can change, and it cannot any more: what is validated is what
 * the kernels map, whatever happens to the file (rewritten in place,
 * truncated). The memfd's descriptor, or -1 with why. */
static int snapshot_of(int fd, uint64_t size, const char *path, char *error, size_t len)
{
	int memfd = memfd_create("vkgw-geo", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	off_t offset = 0;

	if (memfd == -1) {
		snprintf(error, len, "%s: cannot make a copy in memory: %s", path, strerror(errno));
		return -1;
	}
	while ((uint64_t)offset < size) {
		ssize_t n = sendfile(memfd, fd, &offset, (size_t)(size - (uint64_t)offset));

		if (n <= 0) {
			snprintf(error, len, "%s: cannot copy it: %s", path,
				 n == 0 ? "it got shorter" : strerror(errno));
			close(memfd);
			return -1;
		}
	}
	if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == -1) {
		snprintf(error, len, "%s: cannot seal its copy: %s", path, strerror(errno));
		close(memfd);
		return -1;
	}
	return memfd;
}

/* The role's file as it is now: when it is a new one (or this process
 * has not published it: a loader starting), copied, validated and
 * published. 0 (nothing new, or published), or -1 with why in error[len]
 * (the entry keeps what it had). A file that fails validation is not
 * read again until it changes; one that could not be read or copied is,
 * at the next change or start. */
static int entry_refresh(struct gw_geo_entry *entry_ptr, enum gw_geo_role role, char *error, size_t len)
{
	struct gw_geo_identity now, after;
	struct gw_geo_snapshot snapshot = {.pid = getpid(), .fd = -1};
	struct stat st;
	MMDB_s db;
	int fd = open_file(entry_ptr->path, &now, error, len), rc = -1, invalid = 0;

	if (fd == -1)
		goto refused;
	if ((entry_ptr->version && same_identity(&now, &entry_ptr->identity) && entry_ptr->snapshot.pid == getpid()) ||
	    same_identity(&now, &entry_ptr->refused_identity)) {
		close(fd);
		return 0;
	}
	snapshot.fd = snapshot_of(fd, now.size, entry_ptr->path, error, len);
	/* A file written while it was copied: its next change says when it is whole. */
	if (snapshot.fd != -1 && (fstat(fd, &st) == -1 || (identity_of(&st, &after), !same_identity(&now, &after)))) {
		snprintf(error, len, "%s: it changed while it was read", entry_ptr->path);
		close(snapshot.fd);
		snapshot.fd = -1;
	}
	close(fd);
	if (snapshot.fd == -1)
		goto refused;
	fstat(snapshot.fd, &st);
	snapshot.dev = st.st_dev;
	snapshot.ino = st.st_ino;
	rc = open_validated(snapshot.fd, role, entry_ptr->path, &now, &db, error, len);
	if (rc == -1) {
		invalid = 1;
		close(snapshot.fd);
		goto refused;
	}
	publish(entry_ptr, &now, &snapshot, &db);
	/* The one before: the kernels map it, or will map this one. */
	if (own_fds()[role] >= 0)
		close(own_fds()[role]);
	own_fds()[role] = snapshot.fd;
	MMDB_close(&db);
	return 0;
refused:
	if (invalid)
		entry_ptr->refused_identity = now;
	atomic_fetch_add_explicit(&entry_ptr->refused, 1, memory_order_relaxed);
	return -1;
}

int gw_geo_table_create(const char *const paths[GW_GEO_ROLES], int kernels, struct gw_geo_table **table_ptr_ptr,
			char *error, size_t len)
{
	struct gw_geo_table *table_ptr;
	size_t bytes = sizeof(*table_ptr) + (size_t)kernels * sizeof(table_ptr->counters[0]);
	int used = 0;

	*table_ptr_ptr = NULL;
	for (int r = 0; r < GW_GEO_ROLES; r++)
		used += paths[r] != NULL;
	if (!used)
		return 0;
	table_ptr = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (table_ptr == MAP_FAILED) {
		snprintf(error, len, "geo: cannot map its table: %s", strerror(errno));
		return -1;
	}
	table_ptr->mapped_bytes = bytes;
	table_ptr->kernels = kernels;
	for (int r = 0; r < GW_GEO_ROLES; r++) {
		struct gw_geo_entry *entry_ptr = &table_ptr->entries[r];
		char why[512];

		if (!paths[r])
			continue;
		snprintf(entry_ptr->path, sizeof(entry_ptr->path), "%s", paths[r]);
		if (entry_refresh(entry_ptr, (enum gw_geo_role)r, why, sizeof(why)) == -1 || entry_ptr->version == 0) {
			snprintf(error, len, "geo database %s: %s", role_names[r], why);
			gw_geo_table_destroy(table_ptr);
			return -1;
		}
	}
	program_table_ptr = table_ptr;
	*table_ptr_ptr = table_ptr;
	return 0;
}

void gw_geo_table_destroy(struct gw_geo_table *table_ptr)
{
	if (!table_ptr)
		return;
	if (program_table_ptr == table_ptr)
		program_table_ptr = NULL;
	kernel_forget_table(table_ptr);
	munmap(table_ptr, table_ptr->mapped_bytes);
}

const char *gw_geo_table_path(const struct gw_geo_table *table_ptr, enum gw_geo_role role)
{
	return table_ptr && table_ptr->entries[role].path[0] ? table_ptr->entries[role].path : NULL;
}

void gw_geo_table_refresh(struct gw_geo_table *table_ptr)
{
	for (int r = 0; r < GW_GEO_ROLES; r++) {
		struct gw_geo_entry *entry_ptr = &table_ptr->entries[r];
		uint32_t was = entry_ptr->version;
		char why[512];

		if (!entry_ptr->path[0])
			continue;
		if (entry_refresh(entry_ptr, (enum gw_geo_role)r, why, sizeof(why)) == -1)
			fprintf(stderr, "vkgw: geo database %s: refused, keeping the one before: %s\n", role_names[r],
				why);
		else if (entry_ptr->version != was)
			fprintf(stderr, "vkgw: geo database %s: %s accepted (%s, built %llu)\n", role_names[r],
				entry_ptr->path, entry_ptr->database_type, (unsigned long long)entry_ptr->build_epoch);
	}
	fflush(stderr);
}

/* ---- the loader process ---- */

static void loader_changed(void *ctx_ptr)
{
	gw_geo_table_refresh(ctx_ptr);
}

pid_t gw_geo_loader_start(struct gw_geo_table *table_ptr)
{
	const char *paths[GW_GEO_ROLES];
	int count = 0;

	for (int r = 0; table_ptr && r < GW_GEO_ROLES; r++)
		if (table_ptr->entries[r].path[0])
			paths[count++] = table_ptr->entries[r].path;
	return gw_watch_start_calling("vkgw-geo", paths, count, "geo databases", loader_changed, table_ptr);
}

/* Whether the loader `pid` publishes every role now (it copies them again
 * as it starts), or cannot any more. */
static int handed_over(const struct gw_geo_table *table_ptr, pid_t pid, int *gone_ptr)
{
	int status;

	*gone_ptr = waitpid(pid, &status, WNOHANG) != 0;
	for (int r = 0; r < GW_GEO_ROLES; r++) {
		const struct gw_geo_entry *entry_ptr = &table_ptr->entries[r];
		uint32_t version;
		struct gw_geo_snapshot snapshot;

		if (entry_ptr->path[0] && (read_entry(entry_ptr, &version, &snapshot) == -1 || snapshot.pid != pid))
			return 0;
	}
	return 1;
}

int gw_geo_loader_wait(struct gw_geo_table *table_ptr, pid_t pid, int timeout_ms)
{
	uint64_t deadline = now_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000000u;
	struct timespec pause = {.tv_nsec = 10000000};
	int gone = 0;

	while (!handed_over(table_ptr, pid, &gone)) {
		if (gone || now_ns(CLOCK_MONOTONIC) > deadline)
			return -1;
		nanosleep(&pause, NULL);
	}
	/* The copies this process made at start are no one's now. */
	for (int r = 0; r < GW_GEO_ROLES; r++)
		if (own_fds()[r] >= 0) {
			close(own_fds()[r]);
			own_fds()[r] = -1;
		}
	return 0;
}

void gw_geo_loader_stop(pid_t pid)
{
	gw_watch_stop(pid);
}

/* ---- a kernel's databases ---- */

struct kernel_db {
	MMDB_s db;
	int open;
	uint32_t version;	/* of the file mapped */
	uint32_t tried_version; /* a version whose path named another file */
	uint64_t tried_ns;
};

static struct {
	struct gw_geo_table *table_ptr;
	int kernel_index;
	uint32_t generation; /* one more at each mapping */
	struct kernel_db dbs[GW_GEO_ROLES];
} kernel;

/* Maps the snapshot published as `version`: 0, or -1 (gone: a newer one
 * replaced it, or its process ended). */
static int kernel_map(enum gw_geo_role role, uint32_t version, const struct gw_geo_snapshot *snapshot_ptr)
{
	struct kernel_db *k_ptr = &kernel.dbs[role];
	char via[64], error[512];
	struct stat st;
	MMDB_s db;
	int fd, rc = -1;

	snprintf(via, sizeof(via), "/proc/%d/fd/%d", (int)snapshot_ptr->pid, (int)snapshot_ptr->fd);
	fd = open(via, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_dev == snapshot_ptr->dev && st.st_ino == snapshot_ptr->ino) {
		snprintf(via, sizeof(via), "/proc/self/fd/%d", fd);
		rc = open_database(via, kernel.table_ptr->entries[role].path, &db, error, sizeof(error));
		if (rc == -1 && k_ptr->tried_version != version)
			fprintf(stderr, "vkgw: kernel %d: geo database %s: cannot map %s\n", kernel.kernel_index,
				role_names[role], error);
	}
	close(fd);
	if (rc == -1)
		return -1;
	if (k_ptr->open)
		MMDB_close(&k_ptr->db);
	k_ptr->db = db;
	k_ptr->open = 1;
	k_ptr->version = version;
	kernel.generation++;
	return 0;
}

/* The role's newest accepted file, mapped unless it is already. */
static int kernel_follow_role(enum gw_geo_role role, uint64_t now)
{
	struct kernel_db *k_ptr = &kernel.dbs[role];
	struct gw_geo_snapshot snapshot;
	uint32_t version;

	if (!kernel.table_ptr->entries[role].path[0] ||
	    read_entry(&kernel.table_ptr->entries[role], &version, &snapshot) == -1 || version == k_ptr->version)
		return 0;
	if (version == k_ptr->tried_version && now - k_ptr->tried_ns < RETRY_NS)
		return -1;
	if (kernel_map(role, version, &snapshot) == 0)
		return 0;
	k_ptr->tried_version = version;
	k_ptr->tried_ns = now;
	return -1;
}

/* This process's mappings go, and it follows no table. */
static void kernel_forget(void)
{
	for (int r = 0; r < GW_GEO_ROLES; r++)
		if (kernel.dbs[r].open)
			MMDB_close(&kernel.dbs[r].db);
	memset(&kernel, 0, sizeof(kernel));
}

/* A table going away: this process no longer maps what it published. */
static void kernel_forget_table(const struct gw_geo_table *table_ptr)
{
	if (kernel.table_ptr == table_ptr)
		kernel_forget();
}

int gw_geo_kernel_start(struct gw_geo_table *table_ptr, int kernel_index)
{
	int rc = 0;

	kernel_forget();
	kernel.table_ptr = table_ptr;
	kernel.kernel_index = kernel_index;
	if (!table_ptr)
		return 0;
	for (int r = 0; r < GW_GEO_ROLES; r++)
		if (kernel_follow_role((enum gw_geo_role)r, now_ns(CLOCK_MONOTONIC)) == -1) {
			fprintf(stderr,
				"vkgw: kernel %d: geo database %s: cannot map the copy of %s the loader published: "
				"it answers unknown until it can\n",
				kernel_index, role_names[r], table_ptr->entries[r].path);
			rc = -1;
		}
	return rc;
}

void gw_geo_kernel_follow(void)
{
	uint64_t now;

	if (!kernel.table_ptr)
		return;
	now = now_ns(CLOCK_MONOTONIC);
	for (int r = 0; r < GW_GEO_ROLES; r++)
		kernel_follow_role((enum gw_geo_role)r, now);
}

int gw_geo_kernel_ready(void)
{
	for (int r = 0; r < GW_GEO_ROLES; r++)
		if (kernel.dbs[r].open)
			return 1;
	return 0;
}

/* ---- lookups ---- */

static void count(enum gw_geo_result result)
{
	if (kernel.table_ptr && kernel.kernel_index >= 0 && kernel.kernel_index < kernel.table_ptr->kernels)
		atomic_fetch_add_explicit(&kernel.table_ptr->counters[kernel.kernel_index].lookups[result], 1,
					  memory_order_relaxed);
}

void gw_geo_count_no_address(void)
{
	count(GW_GEO_NO_ADDRESS);
}

static enum gw_geo_result result_of(const struct gw_geo_answer *a_ptr)
{
	return a_ptr->errors ? GW_GEO_ERROR : a_ptr->found ? GW_GEO_FOUND : GW_GEO_NOT_FOUND;
}

void gw_geo_count_answer(const struct gw_geo_answer *answer_ptr)
{
	count(result_of(answer_ptr));
}

uint32_t gw_geo_kernel_generation(void)
{
	return kernel.generation;
}

/* A text value into out[len] (cut to fit, at a whole UTF-8 character);
 * -1 for a corrupt record. */
static int copy_text(MMDB_entry_s *entry_ptr, const char *const *path, char *out, size_t len)
{
	MMDB_entry_data_s data;
	size_t n;

	out[0] = '\0';
	if (value_at(entry_ptr, path, &data) != MMDB_SUCCESS)
		return -1;
	if (!data.has_data || data.type != MMDB_DATA_TYPE_UTF8_STRING)
		return 0;
	/* A code is whole or unknown: "USA" is not "US". */
	if (len <= 4 && data.data_size >= len)
		return 0;
	n = data.data_size < len - 1 ? data.data_size : len - 1;
	while (n > 0 && n < data.data_size && ((unsigned char)data.utf8_string[n] & 0xC0) == 0x80)
		n--;
	memcpy(out, data.utf8_string, n);
	out[n] = '\0';
	return 0;
}

static int copy_uint32(MMDB_entry_s *entry_ptr, const char *const *path, uint32_t *out_ptr)
{
	MMDB_entry_data_s data;

	*out_ptr = 0;
	if (value_at(entry_ptr, path, &data) != MMDB_SUCCESS)
		return -1;
	if (data.has_data && data.type == MMDB_DATA_TYPE_UINT32)
		*out_ptr = data.uint32;
	return 0;
}

/* Country and continent; the city role adds the subdivision and city. */
static int read_place(MMDB_entry_s *entry_ptr, int city, struct gw_geo_answer *a_ptr)
{
	char code[4];
	int rc = copy_text(entry_ptr, country_path, a_ptr->country, sizeof(a_ptr->country));

	rc |= copy_text(entry_ptr, continent_path, a_ptr->continent, sizeof(a_ptr->continent));
	if (city) {
		rc |= copy_text(entry_ptr, city_path, a_ptr->city, sizeof(a_ptr->city));
		rc |= copy_text(entry_ptr, subdivision_path, code, sizeof(code));
		if (code[0] && a_ptr->country[0])
			snprintf(a_ptr->subdivision, sizeof(a_ptr->subdivision), "%s-%s", a_ptr->country, code);
	}
	return rc;
}

/* One database: 1 found, 0 not, -1 a failed lookup. */
static int lookup_in(enum gw_geo_role role, const struct sockaddr *sa_ptr, struct gw_geo_answer *a_ptr)
{
	struct kernel_db *k_ptr = &kernel.dbs[role];
	MMDB_lookup_result_s result;
	int error = MMDB_SUCCESS;

	if (!k_ptr->open)
		return 0;
	result = MMDB_lookup_sockaddr(&k_ptr->db, sa_ptr, &error);
	/* An IPv4-only database knows nothing of IPv6 addresses. */
	if (error == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
		return 0;
	if (error != MMDB_SUCCESS)
		return -1;
	if (!result.found_entry)
		return 0;
	if (role == GW_GEO_ASN)
		return copy_uint32(&result.entry, asn_path, &a_ptr->asn) |
				       copy_text(&result.entry, asn_org_path, a_ptr->asn_org, sizeof(a_ptr->asn_org))
			       ? -1
			       : 1;
	return read_place(&result.entry, role == GW_GEO_CITY, a_ptr) ? -1 : 1;
}

static void to_sockaddr(const struct gw_ip *ip_ptr, struct sockaddr_storage *out_ptr)
{
	memset(out_ptr, 0, sizeof(*out_ptr));
	if (gw_ip_is_v4(ip_ptr)) {
		struct sockaddr_in *in_ptr = (struct sockaddr_in *)out_ptr;

		in_ptr->sin_family = AF_INET;
		memcpy(&in_ptr->sin_addr, ip_ptr->bytes + 12, 4);
	} else {
		struct sockaddr_in6 *in6_ptr = (struct sockaddr_in6 *)out_ptr;

		in6_ptr->sin6_family = AF_INET6;
		memcpy(&in6_ptr->sin6_addr, ip_ptr->bytes, 16);
	}
}

/* A failed lookup's partial values go: unknown, not half an answer. */
static void forget_place(struct gw_geo_answer *a_ptr)
{
	a_ptr->country[0] = a_ptr->continent[0] = a_ptr->subdivision[0] = a_ptr->city[0] = '\0';
}

void gw_geo_lookup(const struct gw_ip *ip_ptr, struct gw_geo_answer *a_ptr)
{
	struct sockaddr_storage sa;
	int place, city = 0, asn;

	*a_ptr = (struct gw_geo_answer){.address_known = 1, .address = *ip_ptr};
	to_sockaddr(ip_ptr, &sa);
	/* The country file says where, when there is one; else the city file. */
	place = lookup_in(kernel.dbs[GW_GEO_COUNTRY].open ? GW_GEO_COUNTRY : GW_GEO_CITY, (struct sockaddr *)&sa,
			  a_ptr);
	if (place == -1)
		forget_place(a_ptr);
	/* With both, the city file adds the subdivision and the city. */
	if (kernel.dbs[GW_GEO_COUNTRY].open && kernel.dbs[GW_GEO_CITY].open && place != -1) {
		struct gw_geo_answer more = *a_ptr;

		city = lookup_in(GW_GEO_CITY, (struct sockaddr *)&sa, &more);
		if (city == 1) {
			memcpy(a_ptr->city, more.city, sizeof(a_ptr->city));
			memcpy(a_ptr->subdivision, more.subdivision, sizeof(a_ptr->subdivision));
		}
	}
	asn = lookup_in(GW_GEO_ASN, (struct sockaddr *)&sa, a_ptr);
	if (asn == -1) {
		a_ptr->asn = 0;
		a_ptr->asn_org[0] = '\0';
	}
	a_ptr->errors = (place == -1) + (city == -1) + (asn == -1);
	a_ptr->found = place == 1 || city == 1 || asn == 1;
	count(result_of(a_ptr));
}

/* ---- metrics ---- */

static const char *const result_names[GW_GEO_RESULTS] = {"found", "not_found", "error", "no_address"};

#define APPEND(...)                                                                                           \
	do {                                                                                                  \
		int n_ = snprintf(buf + (used < len ? used : len), used < len ? len - used : 0, __VA_ARGS__); \
		used += n_ > 0 ? (size_t)n_ : 0;                                                              \
	} while (0)

size_t gw_geo_render_prometheus(char *buf, size_t len)
{
	const struct gw_geo_table *t_ptr = program_table_ptr;
	double now = (double)now_ns(CLOCK_REALTIME) / 1e9;
	size_t used = 0;

	if (!t_ptr)
		return 0;
	APPEND("# HELP vkgw_geo_database_build_epoch_seconds When the geo database in use was built (its "
	       "metadata).\n# TYPE vkgw_geo_database_build_epoch_seconds gauge\n");
	for (int r = 0; r < GW_GEO_ROLES; r++)
		if (t_ptr->entries[r].path[0])
			APPEND("vkgw_geo_database_build_epoch_seconds{database=\"%s\",type=\"%s\"} %llu\n",
			       role_names[r], t_ptr->entries[r].database_type,
			       (unsigned long long)t_ptr->entries[r].build_epoch);
	APPEND("# HELP vkgw_geo_database_age_seconds How old the geo database in use is (now minus its build "
	       "time).\n# TYPE vkgw_geo_database_age_seconds gauge\n");
	for (int r = 0; r < GW_GEO_ROLES; r++)
		if (t_ptr->entries[r].path[0])
			APPEND("vkgw_geo_database_age_seconds{database=\"%s\"} %.0f\n", role_names[r],
			       now - (double)t_ptr->entries[r].build_epoch);
	APPEND("# HELP vkgw_geo_database_accepted_timestamp_seconds When the geo database in use was validated.\n"
	       "# TYPE vkgw_geo_database_accepted_timestamp_seconds gauge\n");
	for (int r = 0; r < GW_GEO_ROLES; r++)
		if (t_ptr->entries[r].path[0])
			APPEND("vkgw_geo_database_accepted_timestamp_seconds{database=\"%s\"} %.3f\n", role_names[r],
			       (double)t_ptr->entries[r].accepted_unix_ns / 1e9);
	APPEND("# HELP vkgw_geo_database_loads_total Geo database files validated, by outcome (a refused one "
	       "leaves the one before in use).\n# TYPE vkgw_geo_database_loads_total counter\n");
	for (int r = 0; r < GW_GEO_ROLES; r++)
		if (t_ptr->entries[r].path[0])
			APPEND("vkgw_geo_database_loads_total{database=\"%s\",outcome=\"accepted\"} %llu\n"
			       "vkgw_geo_database_loads_total{database=\"%s\",outcome=\"refused\"} %llu\n",
			       role_names[r], (unsigned long long)atomic_load(&t_ptr->entries[r].accepted),
			       role_names[r], (unsigned long long)atomic_load(&t_ptr->entries[r].refused));
	APPEND("# HELP vkgw_geo_lookups_total Geo lookups of request clients, by result.\n"
	       "# TYPE vkgw_geo_lookups_total counter\n");
	for (int i = 0; i < GW_GEO_RESULTS; i++) {
		uint64_t sum = 0;

		for (int k = 0; k < t_ptr->kernels; k++)
			sum += atomic_load_explicit(&t_ptr->counters[k].lookups[i], memory_order_relaxed);
		APPEND("vkgw_geo_lookups_total{result=\"%s\"} %llu\n", result_names[i], (unsigned long long)sum);
	}
	return used;
}
