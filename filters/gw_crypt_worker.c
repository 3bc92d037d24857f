/* gw_crypt_worker: password checks in a process beside the kernel (see
 * the header for why). */
#include "gw_crypt_worker.h"
#include "gw_child.h"
#include "gw_random.h"

#include "vk_sys.h"

#include <openssl/crypto.h>

#include <crypt.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKER_BACKLOG 256
#define WORKER_IO_TIMEOUT_S 2 /* a kernel that stops mid-request is dropped */

/* This process's worker: one per kernel, whichever filters use it. */
static struct {
	pid_t pid;
	int holders;
	uint64_t started_ns;
	struct sockaddr_un addr;
	socklen_t addr_len;
} worker;

int gw_crypt_check(const char *hash, const char *password)
{
	struct crypt_data data;
	const char *out;
	size_t len = strlen(hash);
	int match;

	memset(&data, 0, sizeof(data));
	out = crypt_rn(password, hash, &data, sizeof(data));
	/* crypt_rn answers a hash it cannot use with NULL or a string starting
	 * with '*', which no hash of a password equals. */
	if (!out || out[0] == '*')
		match = GW_CRYPT_UNUSABLE;
	else
		match = strlen(out) == len && CRYPTO_memcmp(out, hash, len) == 0 ? GW_CRYPT_MATCH : GW_CRYPT_NO_MATCH;
	OPENSSL_cleanse(&data, sizeof(data));
	return match;
}

/* The methods taken, and how many characters the hash proper (after the
 * setting) has: crypt_checksalt checks the setting, not what follows. */
static const struct {
	const char *prefix;
	size_t digest_chars;
} methods[] = {{"$2a$", 31}, {"$2b$", 31}, {"$2y$", 31}, {"$5$", 43}, {"$6$", 86}, {"$y$", 43}};

static int crypt64(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!(s[i] == '.' || s[i] == '/' || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return 1;
}

const char *gw_crypt_hash_problem(const char *hash)
{
	size_t len = strlen(hash), digest = 0;
	const char *end;
	int known = -1;

	if (len > GW_CRYPT_HASH_MAX)
		return "a hash longer than 256 bytes";
	if (strncmp(hash, "$apr1$", 6) == 0)
		return "an Apache MD5 ($apr1$) hash, which vkgw does not take: use bcrypt (htpasswd -B)";
	if (strncmp(hash, "{SHA}", 5) == 0)
		return "an unsalted SHA-1 ({SHA}) hash, which vkgw does not take: use bcrypt (htpasswd -B)";
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strncmp(hash, methods[i].prefix, strlen(methods[i].prefix)) == 0)
			known = (int)i;
	if (known < 0)
		return "not a bcrypt ($2y$), sha512-crypt ($6$), sha256-crypt ($5$) or yescrypt ($y$) hash";
	/* bcrypt's salt and hash run together: its last 31 characters. */
	end = hash[1] == '2' ? hash + len - (len >= 31 ? 31 : len) : strrchr(hash, '$') + 1;
	digest = (size_t)(hash + len - end);
	/* LEGACY (sha256-crypt, on Debian) is still a hash crypt checks. */
	if (digest != methods[known].digest_chars || !crypt64(end, digest) ||
	    crypt_checksalt(hash) == CRYPT_SALT_INVALID)
		return "a malformed hash";
	return NULL;
}

size_t gw_crypt_request(char *out, const char *hash, size_t hash_len, const char *password, size_t password_len)
{
	if (hash_len > GW_CRYPT_HASH_MAX || password_len > GW_CRYPT_PASSWORD_MAX)
		return 0;
	out[0] = (char)(hash_len >> 8);
	out[1] = (char)hash_len;
	out[2] = (char)(password_len >> 8);
	out[3] = (char)password_len;
	memcpy(out + 4, hash, hash_len);
	memcpy(out + 4 + hash_len, password, password_len);
	return 4 + hash_len + password_len;
}

/* ---- the worker process ---- */

static int read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n > 0)
			got += (size_t)n;
		else if (n == 0 || errno != EINTR)
			return -1;
	}
	return 0;
}

/* One request on `fd`: read, checked, answered. */
static void answer(int fd)
{
	char head[4], hash[GW_CRYPT_HASH_MAX + 1], password[GW_CRYPT_PASSWORD_MAX + 1], verdict;
	struct timeval timeout = {WORKER_IO_TIMEOUT_S, 0};
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	size_t hash_len, password_len;
	struct pollfd gone = {.fd = fd, .events = POLLRDHUP};

	/* Abstract names are visible to the whole network namespace (a Pod's
	 * other containers): only our own user is answered. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == -1 || cred.uid != getuid())
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	if (read_all(fd, head, sizeof(head)) == -1)
		return;
	hash_len = (size_t)(unsigned char)head[0] << 8 | (unsigned char)head[1];
	password_len = (size_t)(unsigned char)head[2] << 8 | (unsigned char)head[3];
	if (hash_len > GW_CRYPT_HASH_MAX || password_len > GW_CRYPT_PASSWORD_MAX ||
	    read_all(fd, hash, hash_len) == -1 || read_all(fd, password, password_len) == -1)
		return;
	hash[hash_len] = '\0';
	password[password_len] = '\0';
	/* A kernel that stopped waiting (its deadline passed, its client
	 * left) has closed its end: the check would be for nobody. */
	if (poll(&gone, 1, 0) == 1 && (gone.revents & (POLLRDHUP | POLLHUP))) {
		OPENSSL_cleanse(password, sizeof(password));
		return;
	}
	/* A NUL inside would make crypt check a shorter password. */
	verdict = strlen(password) != password_len || strlen(hash) != hash_len ? GW_CRYPT_NO_MATCH
									       : (char)gw_crypt_check(hash, password);
	OPENSSL_cleanse(password, sizeof(password));
	/* MSG_NOSIGNAL: a kernel gone meanwhile must not end the worker. */
	while (send(fd, &verdict, 1, MSG_NOSIGNAL) == -1 && errno == EINTR)
		;
}

static void serve(int listen_fd)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
				continue;
			_exit(1);
		}
		answer(fd);
		close(fd);
	}
}

/* ---- the kernel's side ---- */

static int start(void)
{
	char name[64], hex[17];
	int fd;
	pid_t pid;

	gw_random_hex(hex, 8);
	/* Abstract: nothing on the file system, gone with its last socket. */
	snprintf(name, sizeof(name), "vkgw-crypt-%d-%s", (int)getpid(), hex);
	memset(&worker.addr, 0, sizeof(worker.addr));
	worker.addr.sun_family = AF_UNIX;
	memcpy(worker.addr.sun_path + 1, name, strlen(name));
	worker.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	/* Listening before the fork: a kernel may connect at once. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&worker.addr, worker.addr_len) == -1 || listen(fd, WORKER_BACKLOG) == -1) {
		close(fd);
		return -1;
	}
	pid = gw_child_fork_keeping("vkgw-crypt", fd);
	if (pid == 0) {
		serve(GW_CHILD_KEPT_FD);
		_exit(0);
	}
	/* The worker holds the only listening copy: when it dies, connecting
	 * is refused at once instead of queueing for nobody. */
	close(fd);
	if (pid < 0)
		return -1;
	worker.pid = pid;
	worker.started_ns = vk_sys_now_ns();
	return 0;
}

int gw_crypt_worker_hold(void)
{
	if (worker.pid <= 0 && start() == -1)
		return -1;
	worker.holders++;
	return 0;
}

void gw_crypt_worker_release(void)
{
	if (worker.holders == 0 || --worker.holders > 0)
		return;
	gw_child_stop(worker.pid);
	worker.pid = 0;
}

const struct sockaddr *gw_crypt_worker_address(socklen_t *len_ptr)
{
	if (worker.pid <= 0)
		return NULL;
	*len_ptr = worker.addr_len;
	return (const struct sockaddr *)&worker.addr;
}

pid_t gw_crypt_worker_pid(void)
{
	return worker.pid > 0 ? worker.pid : 0;
}

void gw_crypt_worker_lost(uint64_t now_ns)
{
	int status;

	if (worker.holders == 0 || now_ns - worker.started_ns < GW_CRYPT_RESTART_NS)
		return;
	if (worker.pid > 0 && waitpid(worker.pid, &status, WNOHANG) == 0) {
		/* Alive but refusing: a full backlog, not a death. */
		return;
	}
	fprintf(stderr, "vkgw: the password worker (pid %d) is gone: starting another\n", (int)worker.pid);
	worker.pid = 0;
	start();
}
