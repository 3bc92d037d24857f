/* gw_rate_redis: the rate limiter's Redis script, commands and replies
 * (see the header). */
#include "gw_rate_redis.h"
#include "gw_resp.h"

#include <openssl/sha.h>
#include <string.h>

#define KEY_TEXT_IN_NAME_MAX 200

/* Lua 5.1 prints numbers with %.14g: a TAT in microseconds (16 digits)
 * is written with %d, and no number goes back through tostring. */
const char gw_rate_redis_script[] =
	"local interval = tonumber(ARGV[1])\n"
	"local burst = tonumber(ARGV[2])\n"
	"local want = tonumber(ARGV[3])\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
	"if tat < now then tat = now end\n"
	"if want < 0 then\n"
	"  tat = math.max(now, tat + want * interval)\n"
	"  if tat > now then\n"
	"    redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)\n"
	"  else\n"
	"    redis.call('DEL', KEYS[1])\n"
	"  end\n"
	"  return {0, 0, 0, 0}\n"
	"end\n"
	"local room = math.floor((now + burst * interval - tat) / interval)\n"
	"if room < 1 then\n"
	"  return {0, 0, tat - now, tat - (burst - 1) * interval - now}\n"
	"end\n"
	"local got = math.min(want, room)\n"
	"tat = tat + got * interval\n"
	"redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)\n"
	"return {got, room - got, tat - now, 0}\n";

/* A decimal into out (at least 21 bytes): its length. */
static size_t decimal(char *out, long long value)
{
	char digits[24];
	size_t d = sizeof(digits), n = 0;
	unsigned long long u = value < 0 ? 0ull - (unsigned long long)value : (unsigned long long)value;

	do
		digits[--d] = (char)('0' + u % 10);
	while ((u /= 10) > 0);
	if (value < 0)
		out[n++] = '-';
	memcpy(out + n, digits + d, sizeof(digits) - d);
	return n + sizeof(digits) - d;
}

size_t gw_rate_redis_command(char *out, size_t cap, const char *sha, const char *rule, const char *key, size_t key_len,
			     uint64_t interval_ns, uint64_t burst, long want)
{
	char name[64 + KEY_TEXT_IN_NAME_MAX + 16], interval[24], bursts[24], wants[24];
	size_t name_len, rule_len = strlen(rule);
	size_t n;

	/* the rule's name is at most 64 bytes (the filter's compile) */
	memcpy(name, "vkgw:{", 6);
	memcpy(name + 6, rule, rule_len);
	name[6 + rule_len] = ':';
	name_len = 7 + rule_len;
	if (key_len <= KEY_TEXT_IN_NAME_MAX) {
		memcpy(name + name_len, key, key_len);
		name_len += key_len;
	} else {
		unsigned char digest[SHA256_DIGEST_LENGTH];
		static const char hex[] = "0123456789abcdef";

		SHA256((const uint8_t *)key, key_len, digest);
		name[name_len++] = '#';
		for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
			name[name_len++] = hex[digest[i] >> 4];
			name[name_len++] = hex[digest[i] & 15];
		}
	}
	name[name_len++] = '}';
	{
		const char *argv[] = {"EVALSHA", sha, "1", name, interval, bursts, wants};
		size_t lens[] = {7,
				 strlen(sha),
				 1,
				 name_len,
				 decimal(interval, (long long)((interval_ns + 999) / 1000)), /* up: never faster */
				 decimal(bursts, (long long)burst),
				 decimal(wants, want)};

		n = gw_resp_command(out, cap, 7, argv, lens);
	}
	return n < cap ? n : 0;
}

long gw_rate_redis_answer(const char *buf, size_t len, struct gw_rate_redis_answer *answer_ptr)
{
	static const struct gw_resp_limits limits = {.max_bulk = 256, .max_values = 8};
	struct gw_resp_value values[8];
	int count;
	long n = gw_resp_parse(buf, len, &limits, values, &count);

	if (n <= 0 || values[0].type != GW_RESP_ARRAY || values[0].count != 4 || count != 5)
		return -1;
	for (int i = 1; i <= 4; i++)
		if (values[i].type != GW_RESP_INTEGER || values[i].integer < 0)
			return -1;
	answer_ptr->granted = (uint64_t)values[1].integer;
	answer_ptr->remaining = (uint64_t)values[2].integer;
	answer_ptr->reset_us = (uint64_t)values[3].integer;
	answer_ptr->retry_us = (uint64_t)values[4].integer;
	return n;
}
