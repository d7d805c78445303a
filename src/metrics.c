/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * metrics.c: the Prometheus /metrics HTTP endpoint: one request per
 * connection, a capped number of connections, each under a deadline. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener.h"
#include "mem.h"

#define METRICS_HTTP_MAX_HEADER 8192
/* Whole request, from accept to the last byte of the answer: a deadline,
 * not an idle timeout, so a byte now and then does not keep it open. */
#define METRICS_HTTP_DEADLINE_S 5

/* One HTTP connection: read the request head, answer, close. */
struct metrics_http {
	TAILQ_ENTRY(metrics_http) entry;
	struct bufferevent *bev;
	struct event *deadline;
	bool answered; /* response queued; close once it drained */
};
TAILQ_HEAD(metrics_http_list, metrics_http);

/* Process-wide, like the listeners of struct ib_server: one endpoint
 * per process, whatever the number of loops. */
static struct listener *metrics_listener;
static struct metrics_http_list metrics_https =
	TAILQ_HEAD_INITIALIZER(metrics_https);
static unsigned metrics_n_https;

/* Freeing from the connection's own callbacks is safe: libevent defers
 * the bufferevent's release until its callbacks return. */
static void metrics_http_free(struct metrics_http *h)
{
	TAILQ_REMOVE(&metrics_https, h, entry);
	metrics_n_https--;
	bufferevent_free(h->bev);
	event_free(h->deadline);
	free(h);
}

static void metrics_http_deadline_cb(evutil_socket_t fd, short what,
				     void *arg)
{
	(void)fd;
	(void)what;
	metrics_http_free(arg);
}

static void metrics_counter(struct evbuffer *o, const char *name,
				 const char *help, uint64_t v)
{
	evbuffer_add_printf(o,
			    "# HELP inbatch_%s_total %s\n"
			    "# TYPE inbatch_%s_total counter\n"
			    "inbatch_%s_total %" PRIu64 "\n",
			    name, help, name, name, v);
}

static void metrics_gauge(struct evbuffer *o, const char *name,
			       const char *help, uint64_t v)
{
	evbuffer_add_printf(o,
			    "# HELP inbatch_%s %s\n"
			    "# TYPE inbatch_%s gauge\n"
			    "inbatch_%s %" PRIu64 "\n",
			    name, help, name, name, v);
}

/* Histogram <h> with cumulative buckets; bounds and the sum are divided
 * by <scale> (1e6 turns microseconds into the base unit, seconds). */
static void metrics_hist(struct evbuffer *o, const char *name,
			      const char *help, const struct stats_hist *h,
			      const double *bounds, unsigned nbounds,
			      double scale)
{
	uint64_t cum = 0;
	unsigned i;

	evbuffer_add_printf(o, "# HELP inbatch_%s %s\n"
			       "# TYPE inbatch_%s histogram\n",
			    name, help, name);
	for (i = 0; i < nbounds; i++) {
		cum += h->buckets[i];
		evbuffer_add_printf(o,
				    "inbatch_%s_bucket{le=\"%.9g\"} %" PRIu64
				    "\n",
				    name, bounds[i] / scale, cum);
	}
	evbuffer_add_printf(o,
			    "inbatch_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n"
			    "inbatch_%s_sum %.9g\n"
			    "inbatch_%s_count %" PRIu64 "\n",
			    name, h->count, name, h->sum / scale, name,
			    h->count);
}

/* The whole exposition, text format 0.0.4. */
static void metrics_body(struct evbuffer *o)
{
#define IB_STATS_METRIC(name, desc) \
	metrics_counter(o, #name, desc, ib_loop->stats.name);
	IB_STATS(IB_STATS_METRIC)
#undef IB_STATS_METRIC
	metrics_gauge(o, "client_connections",
			   "client connections open now",
			   (uint64_t)ib_loop->n_clients);
	metrics_gauge(o, "backend_connections",
			   "backend connections open now",
			   (uint64_t)stats_backend_connections());
	metrics_gauge(o, "uptime_seconds", "seconds since start",
			   stats_uptime_s());
	metrics_hist(o, "query_latency_seconds",
			  "client-seen command latency",
			  stats_latency_hist(), stats_lat_bounds,
			  STATS_LAT_BUCKETS - 1, 1e6);
	/* not "batch_keys": inbatch_batch_keys_total is the counter, and
	 * parsers that strip _total would see two families of one name */
	metrics_hist(o, "batch_size_keys", "keys per coalesced query",
			  stats_batch_hist(), stats_size_bounds,
			  STATS_SIZE_BUCKETS - 1, 1);
}

static void metrics_http_reply(struct metrics_http *h, int code,
			     const char *reason, const char *ctype,
			     struct evbuffer *body)
{
	struct evbuffer *out = bufferevent_get_output(h->bev);

	evbuffer_add_printf(out,
			    "HTTP/1.0 %d %s\r\n"
			    "Content-Type: %s\r\n"
			    "Content-Length: %zu\r\n"
			    "Connection: close\r\n",
			    code, reason, ctype, evbuffer_get_length(body));
	if (code == 405)
		evbuffer_add_printf(out, "Allow: GET\r\n");
	evbuffer_add_printf(out, "\r\n");
	evbuffer_add_buffer(out, body);
	h->answered = true;
	/* stop reading: anything after the head is ignored */
	bufferevent_disable(h->bev, EV_READ);
	bufferevent_enable(h->bev, EV_WRITE);
}

/* Answer the request whose head is the first <n> bytes of the input. */
static void metrics_http_answer(struct metrics_http *h, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(h->bev);
	struct evbuffer *body = evbuffer_new();
	char *line, *method, *path, *save = NULL;
	size_t before = evbuffer_get_length(in), used;

	if (!body) {
		metrics_http_free(h);
		return;
	}
	/* the request line, then drop the header lines we do not use */
	line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF);
	used = before - evbuffer_get_length(in);
	evbuffer_drain(in, n > used ? n - used : 0);
	method = line ? strtok_r(line, " ", &save) : NULL;
	path = method ? strtok_r(NULL, " ", &save) : NULL;
	if (!method || !path) {
		evbuffer_add_printf(body, "bad request\n");
		metrics_http_reply(h, 400, "Bad Request", "text/plain", body);
	} else if (strcmp(method, "GET") != 0) {
		evbuffer_add_printf(body, "method not allowed\n");
		metrics_http_reply(h, 405, "Method Not Allowed", "text/plain",
				 body);
	} else if (strcmp(path, "/metrics") == 0 ||
		   strncmp(path, "/metrics?", 9) == 0) {
		metrics_body(body);
		metrics_http_reply(h, 200, "OK",
				 "text/plain; version=0.0.4; charset=utf-8",
				 body);
	} else {
		evbuffer_add_printf(body, "not found; try /metrics\n");
		metrics_http_reply(h, 404, "Not Found", "text/plain", body);
	}
	mem_free(line);	/* libevent's, so mem's */
	evbuffer_free(body);
}

static void metrics_http_read_cb(struct bufferevent *bev, void *arg)
{
	struct metrics_http *h = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	size_t head = 0;

	if (h->answered)
		return;
	/* the head ends at an empty line; accept bare LF endings too */
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos >= 0) {
		head = (size_t)end.pos + 4;
	} else {
		end = evbuffer_search(in, "\n\n", 2, NULL);
		if (end.pos >= 0)
			head = (size_t)end.pos + 2;
	}
	if (head > 0 && head <= METRICS_HTTP_MAX_HEADER) {
		metrics_http_answer(h, head);
		return;
	}
	if (head > 0 || evbuffer_get_length(in) > METRICS_HTTP_MAX_HEADER) {
		struct evbuffer *body = evbuffer_new();

		if (!body) {
			metrics_http_free(h);
			return;
		}
		evbuffer_add_printf(body, "request header too large\n");
		evbuffer_drain(in, evbuffer_get_length(in));
		metrics_http_reply(h, 431, "Request Header Fields Too Large",
				 "text/plain", body);
		evbuffer_free(body);
	}
}

static void metrics_http_write_cb(struct bufferevent *bev, void *arg)
{
	struct metrics_http *h = arg;

	if (h->answered &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		metrics_http_free(h);
}

static void metrics_http_event_cb(struct bufferevent *bev, short what,
				void *arg)
{
	(void)bev;
	(void)what;
	/* EOF or error: nothing more to do for it */
	metrics_http_free(arg);
}

static void metrics_accept_cb(struct evconnlistener *l,
				    evutil_socket_t fd, struct sockaddr *sa,
				    int salen, void *arg)
{
	struct timeval tv = { METRICS_HTTP_DEADLINE_S, 0 };
	struct metrics_http *h;

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	/* a scraper needs one connection; more are someone holding ours */
	if (metrics_n_https >= (unsigned)ib.cfg->max_admin_conn) {
		IB_STAT_INC(admin_connections_refused);
		log_warn_rl(1, "metrics: connection refused: max_admin_conn "
			       "(%d) reached", ib.cfg->max_admin_conn);
		evutil_closesocket(fd);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		evutil_closesocket(fd);
		return;
	}
	h->bev = bufferevent_socket_new(ib_loop->base, fd, BEV_OPT_CLOSE_ON_FREE);
	h->deadline = evtimer_new(ib_loop->base, metrics_http_deadline_cb, h);
	if (!h->bev || !h->deadline) {
		if (h->bev)
			bufferevent_free(h->bev);
		else
			evutil_closesocket(fd);
		if (h->deadline)
			event_free(h->deadline);
		free(h);
		return;
	}
	TAILQ_INSERT_TAIL(&metrics_https, h, entry);
	metrics_n_https++;
	bufferevent_setcb(h->bev, metrics_http_read_cb, metrics_http_write_cb,
			  metrics_http_event_cb, h);
	evtimer_add(h->deadline, &tv);
	/* buffer no more than a head can be, plus one read's slack */
	bufferevent_setwatermark(h->bev, EV_READ, 0, METRICS_HTTP_MAX_HEADER + 1);
	bufferevent_enable(h->bev, EV_READ);
}

bool metrics_start(void)
{
	if (!ib.cfg->metrics_listen || !ib.cfg->metrics_listen[0])
		return true;
	metrics_listener = listener_new(ib.cfg->metrics_listen, "metrics",
					metrics_accept_cb, NULL);
	if (!metrics_listener) {
		log_error("cannot listen on %s: %s", ib.cfg->metrics_listen,
			  strerror(errno));
		return false;
	}
	log_info("metrics on http://%s/metrics", ib.cfg->metrics_listen);
	return true;
}

void metrics_stop(void)
{
	struct metrics_http *h;

	listener_free(metrics_listener);
	metrics_listener = NULL;
	while ((h = TAILQ_FIRST(&metrics_https)) != NULL)
		metrics_http_free(h);
}
