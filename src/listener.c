/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * listener.c: listening sockets.  When accept() fails (out of file
 * descriptors) a listener pauses instead of spinning on a ready socket. */
#include "listener.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Pause after a failed accept(); the backlog waits in the kernel. */
#define LISTENER_BACKOFF_US 100000
/* At most one log line per listener per period while accept() fails. */
#define LISTENER_LOG_PERIOD_US 10000000ull
/* Descriptors not tied to connections: log, epoll, signals, listeners. */
#define LISTENER_FD_MARGIN 64

struct listener {
	struct evconnlistener *lev;
	struct event *retry;	/* re-enables lev after the pause */
	evconnlistener_cb cb;	/* the owner's accept callback */
	void *arg;
	const char *what;
	char addr[64];
	uint64_t logged_us;	/* when the last failure was logged */
	unsigned failures;	/* since then */
};

static void listener_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
			       struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;

	l->cb(lev, fd, sa, salen, l->arg);
}

static void listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(l->lev);
}

/*
 * accept() failed with something other than EAGAIN/EINTR.  The socket stays
 * readable while connections wait, so retrying at once would spin (and,
 * with libevent's default handler, log without end): pause the listener,
 * log once per period with a count.
 */
static void listener_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, LISTENER_BACKOFF_US };
	uint64_t now = util_now_us();

	evconnlistener_disable(lev);
	evtimer_add(l->retry, &tv);
	IB_STAT_INC(accept_errors);
	l->failures++;
	if (l->logged_us == 0 || now - l->logged_us >= LISTENER_LOG_PERIOD_US) {
		log_warn("%s port %s: accept: %s; pausing accepts for %d ms "
			 "each time (%u failures since the last report)",
			 l->what, l->addr, evutil_socket_error_to_string(err),
			 LISTENER_BACKOFF_US / 1000, l->failures);
		l->logged_us = now;
		l->failures = 0;
	}
}

struct listener *listener_new(const char *addr, const char *what,
			      evconnlistener_cb cb, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct listener *l;
	int saved;

	if (!util_parse_addr(addr, &ss, &len)) {
		errno = EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->cb = cb;
	l->arg = arg;
	l->what = what;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	l->retry = evtimer_new(ib_loop->base, listener_retry_cb, l);
	/* libevent hands the error callback the accept callback's
	 * argument, so both go through us */
	l->lev = evconnlistener_new_bind(ib_loop->base, listener_accept_cb, l,
					 LEV_OPT_CLOSE_ON_FREE |
						 LEV_OPT_REUSEABLE |
						 LEV_OPT_CLOSE_ON_EXEC,
					 1024, (struct sockaddr *)&ss, (int)len);
	if (!l->retry || !l->lev) {
		saved = errno;
		listener_free(l);
		errno = saved;
		return NULL;
	}
	evconnlistener_set_error_cb(l->lev, listener_error_cb);
	return l;
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	if (l->lev)
		evconnlistener_free(l->lev);
	if (l->retry)
		event_free(l->retry);
	free(l);
}

void listener_raise_nofile(const struct ib_config *cfg)
{
	struct rlimit rl;
	rlim_t need = 2 * (rlim_t)cfg->max_client_conn + LISTENER_FD_MARGIN;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	/* raise as far as allowed, not just to <need>: max_client_conn
	 * can be raised at runtime */
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20))
			rl.rlim_cur = need > old ? need : old;
		if (rl.rlim_cur > old && setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = old;
	}
	if (rl.rlim_cur < need)
		log_warn("open file limit is %llu, below the %llu that "
			 "max_client_conn = %d needs (a client and its backend "
			 "connection each take one); connections beyond it "
			 "wait in the listen backlog",
			 (unsigned long long)rl.rlim_cur,
			 (unsigned long long)need, cfg->max_client_conn);
}
