/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * util.c: small helpers that depend on nothing but libc. */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

bool util_parse_addr(const char *s, struct sockaddr_storage *ss,
		     socklen_t *len)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *port, *hend;
	long long pnum;
	size_t hlen;

	if (s == NULL)
		return false;
	if (*s == '[') {
		hend = strchr(s, ']');
		if (hend == NULL || hend[1] != ':')
			return false;
		s++;
		port = hend + 2;
	} else {
		hend = strrchr(s, ':');
		if (hend == NULL)
			return false;
		/* "::1:80" is ambiguous; v6 needs brackets. */
		if (memchr(s, ':', (size_t)(hend - s)) != NULL)
			return false;
		port = hend + 1;
	}
	hlen = (size_t)(hend - s);
	if (hlen == 0 || hlen >= sizeof(host))
		return false;
	if (!util_parse_int(port, 1, 65535, &pnum))
		return false;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
		return false;
	if (ss != NULL) {
		memset(ss, 0, sizeof(*ss));
		memcpy(ss, res->ai_addr, res->ai_addrlen);
	}
	if (len != NULL)
		*len = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

void util_format_addr(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	socklen_t slen = sa->sa_family == AF_INET6 ?
				 sizeof(struct sockaddr_in6) :
				 sizeof(struct sockaddr_in);

	if (getnameinfo(sa, slen, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, size, "?");
		return;
	}
	if (sa->sa_family == AF_INET6)
		snprintf(buf, size, "[%s]:%s", host, serv);
	else
		snprintf(buf, size, "%s:%s", host, serv);
}

uint64_t util_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool util_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

bool util_parse_int(const char *s, long long min, long long max,
		    long long *out)
{
	char *end;
	long long v;

	/* strtoll() would skip leading blanks and accept "" as 0. */
	if (*s != '-' && *s != '+' && !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return false;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

static inline unsigned char util_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Are <a> and <b> the same <n> bytes but for ASCII case? */
static bool util_caseeq(const unsigned char *a, const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n && util_lower(a[i]) == util_lower(b[i]); i++)
		;
	return i == n;
}

bool util_memcasemem(const void *hay, size_t len, const char *needle)
{
	const unsigned char *h = hay, *nd = (const unsigned char *)needle;
	const unsigned char *at, *end;
	size_t n = strlen(needle), i, k;

	if (n == 0)
		return true;
	if (n > len)
		return false;
	/* ASCII case only, as strncasecmp in the C locale.  Every relayed
	 * statement is searched: a byte of the needle that is no letter (the
	 * '_' of "session_track_") has one case, and memchr finds the places
	 * where it may match. */
	for (k = 0; k < n && util_lower(nd[k]) >= 'a' && util_lower(nd[k]) <= 'z'; k++)
		;
	if (k == n) {
		for (i = 0; i + n <= len; i++)
			if (util_caseeq(h + i, nd, n))
				return true;
		return false;
	}
	end = h + len - (n - k - 1);
	for (at = h + k; at < end && (at = memchr(at, nd[k], (size_t)(end - at))) != NULL; at++)
		if (util_caseeq(at - k, nd, n))
			return true;
	return false;
}

char *util_strndup(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* Iterative, with one backtrack point: the last '*' seen.  Linear in
 * practice, quadratic at worst, on names of at most a few hundred bytes. */
bool util_glob_match(const char *pattern, const char *name, size_t len)
{
	const char *star = NULL;
	size_t i = 0, mark = 0;

	while (i < len) {
		if (*pattern == '*') {
			star = ++pattern;
			mark = i;
		} else if (*pattern != '\0' && *pattern == name[i]) {
			pattern++;
			i++;
		} else if (star) {
			pattern = star;
			i = ++mark;
		} else {
			return false;
		}
	}
	while (*pattern == '*')
		pattern++;
	return *pattern == '\0';
}

/* Eight bytes at a time: batch group keys are mostly a session context of
 * several hundred bytes. */
uint64_t util_hash(uint64_t h, const void *data, size_t n)
{
	const uint64_t k = 0x9E3779B97F4A7C15ull;
	const char *p = data;
	uint64_t w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * k;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w ^ ((uint64_t)n << 59)) * k;
	return h ^ (h >> 32);
}

uint64_t util_hash_seed(void)
{
	static uint64_t seed;

	if (!seed)
		seed = (util_now_us() * 0x9E3779B97F4A7C15ull) | 1;
	return seed;
}
