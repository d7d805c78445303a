/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * log.c: formats one line per message and writes it with a single write(2),
 * so lines from a crash or from other processes on the same file never mix. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int log_cur_level = IB_LOG_INFO;
static int log_fd = STDERR_FILENO;

static const char *const log_names[] = {
	[IB_LOG_ERROR] = "error",
	[IB_LOG_WARN] = "warn",
	[IB_LOG_INFO] = "info",
	[IB_LOG_DEBUG] = "debug",
};

static const char *const log_tags[] = {
	[IB_LOG_ERROR] = "ERROR",
	[IB_LOG_WARN] = "WARN",
	[IB_LOG_INFO] = "INFO",
	[IB_LOG_DEBUG] = "DEBUG",
};

#define LOG_NLEVELS ((int)(sizeof(log_names) / sizeof(log_names[0])))

void log_set_level(int level)
{
	if (level < IB_LOG_ERROR)
		level = IB_LOG_ERROR;
	if (level > IB_LOG_DEBUG)
		level = IB_LOG_DEBUG;
	log_cur_level = level;
}

/* Open the new file before closing the old one, so a failed reload (bad
 * path, full disk, permissions) keeps logging where it did. */
bool log_set_file(const char *path)
{
	int fd = STDERR_FILENO;

	if (path != NULL && *path != '\0') {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0)
			return false;
	}
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	return true;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < LOG_NLEVELS; i++)
		if (strcasecmp(s, log_names[i]) == 0)
			return i;
	return -1;
}

const char *log_level_name(int level)
{
	if (level < 0 || level >= LOG_NLEVELS)
		return "?";
	return log_names[level];
}

static void log_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* nowhere left to report it */
		buf += n;
		len -= (size_t)n;
	}
}

/* Format "<date> <time>.<ms> [pid] LEVEL message\n" into <buf>; return its
 * length.  Control characters become '?': messages quote client input
 * (user names, SQL) and a newline in it must not forge a log line. */
static size_t log_format(char *buf, size_t size, int level, const char *fmt,
			 va_list ap) __attribute__((format(printf, 4, 0)));

static size_t log_format(char *buf, size_t size, int level, const char *fmt,
			 va_list ap)
{
	struct timespec ts;
	struct tm tm;
	size_t len, start;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	len = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	n = snprintf(buf + len, size - len, ".%03ld [%ld] %s ",
		     (long)(ts.tv_nsec / 1000000), (long)getpid(),
		     log_tags[level]);
	if (n > 0)
		len += (size_t)n;
	start = len;
	n = vsnprintf(buf + len, size - len - 1, fmt, ap);
	if (n > 0)
		len += (size_t)n < size - len - 1 ? (size_t)n : size - len - 2;
	for (size_t i = start; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	buf[len++] = '\n';
	return len;
}

static void log_vmsg(int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void log_vmsg(int level, const char *fmt, va_list ap)
{
	char buf[4096];
	size_t len;

	if (level < IB_LOG_ERROR || level > IB_LOG_DEBUG)
		level = IB_LOG_ERROR;
	len = log_format(buf, sizeof(buf), level, fmt, ap);
	log_write_all(log_fd, buf, len);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;	/* callers log, then look at errno */

	if (level > log_cur_level)
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Startup errors must reach the person at the terminal even when the log
 * goes to a file, hence the second copy on stderr. */
void die(const char *fmt, ...)
{
	char buf[4096];
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	len = log_format(buf, sizeof(buf), IB_LOG_ERROR, fmt, ap);
	va_end(ap);
	log_write_all(log_fd, buf, len);
	if (log_fd != STDERR_FILENO)
		log_write_all(STDERR_FILENO, buf, len);
	exit(1);
}

bool log_ratelimit(struct log_rl *rl, unsigned per_second)
{
	uint64_t now = util_now_us();

	if (rl->start_us == 0 || now - rl->start_us >= 1000000) {
		if (rl->suppressed > 0)
			log_msg(IB_LOG_WARN, "%u similar messages suppressed",
				rl->suppressed);
		rl->start_us = now;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count < per_second) {
		rl->count++;
		return true;
	}
	rl->suppressed++;
	return false;
}
