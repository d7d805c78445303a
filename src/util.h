/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * util.h: address, number and boolean parsing, monotonic time, hex dumps. */
#ifndef IB_UTIL_H
#define IB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* Parse "host:port" or "[v6]:port".  The host is numeric (127.0.0.1, ::1,
 * fe80::1%eth0) or "localhost" (taken as 127.0.0.1); no DNS is done, so
 * config checks stay fast and give the same answer every time.  <ss> and
 * <len> may be NULL to only validate. */
bool util_parse_addr(const char *s, struct sockaddr_storage *ss,
		     socklen_t *len);
/* Format <sa> as "host:port" / "[v6]:port" into <buf>. */
void util_format_addr(const struct sockaddr *sa, char *buf, size_t size);

/* Microseconds on CLOCK_MONOTONIC: for timeouts and durations, never for
 * wall-clock display. */
uint64_t util_now_us(void);
/* Mix <n> bytes at <data> into <h>.  Start from util_hash_seed(), random
 * per process, so that a client cannot choose texts that share a hash
 * chain. */
uint64_t util_hash(uint64_t h, const void *data, size_t n);
uint64_t util_hash_seed(void);

/* on/off, yes/no, true/false, 1/0 in any case. */
bool util_parse_bool(const char *s, bool *out);
/* A whole decimal integer within [min, max]; no spaces, no suffix. */
bool util_parse_int(const char *s, long long min, long long max,
		    long long *out);

/* Classic 16-bytes-a-line dump ("0000  47 00 ...  G..."), for debugging
 * packets. */
/* Does NUL-terminated <needle> occur in <hay>[<len>], ignoring ASCII case? */
bool util_memcasemem(const void *hay, size_t len, const char *needle);

/* A NUL-terminated copy of <p>[<n>] (which may hold no NUL), or NULL. */
char *util_strndup(const char *p, size_t n);
/* Does <name>[<len>] match <pattern>, where '*' stands for any run of
 * bytes (possibly empty) and every other byte for itself? */
bool util_glob_match(const char *pattern, const char *name, size_t len);

#endif /* IB_UTIL_H */
