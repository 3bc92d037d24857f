/* gw_deadline: the deadline's header texts (gw_deadline.h). */
#include "gw_deadline.h"

#define NS_PER_MS 1000000ull

static size_t trimmed(const char **text_ptr, size_t len)
{
	const char *text = *text_ptr;

	while (len && (text[0] == ' ' || text[0] == '\t'))
		text++, len--;
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	*text_ptr = text;
	return len;
}

/* 1 to max_digits decimal digits, nothing else. */
static int digits(const char *text, size_t len, size_t max_digits, uint64_t *value_ptr)
{
	uint64_t value = 0;

	if (len == 0 || len > max_digits)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		value = value * 10 + (uint64_t)(text[i] - '0');
	}
	*value_ptr = value;
	return 0;
}

int gw_deadline_parse_ms(const char *text, size_t len, uint64_t *ns_ptr)
{
	uint64_t ms;

	len = trimmed(&text, len);
	if (digits(text, len, 10, &ms) == -1)
		return -1;
	*ns_ptr = ms * NS_PER_MS;
	return 0;
}

int gw_deadline_parse_grpc(const char *text, size_t len, uint64_t *ns_ptr)
{
	uint64_t amount, unit_ns;

	len = trimmed(&text, len);
	if (len < 2)
		return -1;
	switch (text[len - 1]) {
	case 'H':
		unit_ns = 3600ull * 1000000000ull;
		break;
	case 'M':
		unit_ns = 60ull * 1000000000ull;
		break;
	case 'S':
		unit_ns = 1000000000ull;
		break;
	case 'm':
		unit_ns = NS_PER_MS;
		break;
	case 'u':
		unit_ns = 1000ull;
		break;
	case 'n':
		unit_ns = 1;
		break;
	default:
		return -1;
	}
	if (digits(text, len - 1, 8, &amount) == -1)
		return -1;
	/* 99999999 hours do not fit 64 bits of ns: saturated (any cap
	 * shortens it anyway) */
	*ns_ptr = amount > UINT64_MAX / unit_ns ? UINT64_MAX : amount * unit_ns;
	return 0;
}

/* Decimal digits of value into buf (every request with a deadline writes
 * one: no printf). */
static size_t decimal(uint64_t value, char *buf)
{
	char reversed[20];
	size_t n = 0;

	do {
		reversed[n++] = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	for (size_t i = 0; i < n; i++)
		buf[i] = reversed[n - 1 - i];
	return n;
}

size_t gw_deadline_format_ms(uint64_t ns, char *buf)
{
	uint64_t ms = ns / NS_PER_MS;

	return decimal(ms ? ms : 1, buf);
}

size_t gw_deadline_format_grpc(uint64_t ns, char *buf)
{
	static const struct {
		char unit;
		uint64_t ns;
	} units[] = {{'m', NS_PER_MS}, {'S', 1000000000ull}, {'M', 60000000000ull}, {'H', 3600000000000ull}};
	uint64_t amount = 0;
	char unit = 'H';

	/* Milliseconds are the finest a kernel's timers keep; coarser units
	 * only when the number would not fit 8 digits (rounded down: what goes
	 * upstream never exceeds what is left). */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		amount = ns / units[i].ns;
		unit = units[i].unit;
		if (amount <= 99999999)
			break;
	}
	if (amount > 99999999)
		amount = 99999999;
	if (amount == 0)
		amount = 1;
	size_t n = decimal(amount, buf);

	buf[n] = unit;
	return n + 1;
}
