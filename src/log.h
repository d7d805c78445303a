/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * log.h: levelled, timestamped log lines to stderr or a file, with a
 * per-call-site rate limiter for warnings on hot paths. */
#ifndef IB_LOG_H
#define IB_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* IB_ prefix: syslog.h already defines LOG_INFO and LOG_DEBUG. */
enum log_level { IB_LOG_ERROR, IB_LOG_WARN, IB_LOG_INFO, IB_LOG_DEBUG };

/* Read by the macros below so a disabled level costs one compare. */
extern int log_cur_level;

void log_set_level(int level);
/* Log to <path> (appending), or to stderr when <path> is NULL or "".
 * Call again on reload so rotated files are reopened.  On failure the
 * old destination stays and errno is set. */
bool log_set_file(const char *path);
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Log at error level, also to stderr when logging to a file, exit(1). */
void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* "error", "warn", "info", "debug" (any case); -1 if none matches. */
int log_level_parse(const char *s);
/* Lower-case name as accepted by log_level_parse(); "?" if out of range. */
const char *log_level_name(int level);

#define log_error(...) log_msg(IB_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)                                            \
	do {                                                     \
		if (log_cur_level >= IB_LOG_WARN)                \
			log_msg(IB_LOG_WARN, __VA_ARGS__);       \
	} while (0)
#define log_info(...)                                            \
	do {                                                     \
		if (log_cur_level >= IB_LOG_INFO)                \
			log_msg(IB_LOG_INFO, __VA_ARGS__);       \
	} while (0)
#define log_debug(...)                                           \
	do {                                                     \
		if (log_cur_level >= IB_LOG_DEBUG)               \
			log_msg(IB_LOG_DEBUG, __VA_ARGS__);      \
	} while (0)

/* State of one rate limiter; zero-initialise it (static storage does). */
struct log_rl {
	uint64_t start_us;	/* start of the current one-second window */
	unsigned count;		/* messages let through in this window */
	unsigned suppressed;	/* messages dropped since the last report */
};

/* True if the caller may log now: at most <per_second> messages pass per
 * one-second window.  The first message of a new window is preceded by a
 * line saying how many were dropped in the previous ones. */
bool log_ratelimit(struct log_rl *rl, unsigned per_second);

/* A warning that logs at most <n> lines a second from this call site. */
#define log_warn_rl(n, ...)                                      \
	do {                                                     \
		static struct log_rl log_rl_;                    \
		if (log_cur_level >= IB_LOG_WARN &&              \
		    log_ratelimit(&log_rl_, (n)))                \
			log_msg(IB_LOG_WARN, __VA_ARGS__);       \
	} while (0)

#endif /* IB_LOG_H */
