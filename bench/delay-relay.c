/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * delay-relay: forward TCP connections to a target, delaying every chunk
 * by a fixed time in each direction, so benchmarks can put a network
 * round trip between the database and its clients on one machine.
 *
 *   delay-relay LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_US
 *
 * Bytes keep their order; a chunk read at time t leaves at t + DELAY_US.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

/* One chunk waiting for its time. */
struct chunk {
	struct chunk *next;
	struct timeval due;
	size_t len;
	unsigned char data[];
};

/* One direction of a connection pair. */
struct dir {
	struct pair *pair;
	struct bufferevent *from, *to;
	struct chunk *head, *tail;
	struct event *timer;
};

struct pair {
	struct dir up, down; /* client -> target, target -> client */
	int closing;
};

static struct event_base *base;
static struct sockaddr_in target;
static struct timeval delay;

static void pair_free(struct pair *p)
{
	struct dir *d[2] = { &p->up, &p->down };
	struct chunk *c;
	int i;

	for (i = 0; i < 2; i++) {
		while ((c = d[i]->head) != NULL) {
			d[i]->head = c->next;
			free(c);
		}
		event_free(d[i]->timer);
	}
	bufferevent_free(p->up.from);
	bufferevent_free(p->up.to);
	free(p);
}

/* Write every chunk that is due; re-arm for the next one. */
static void dir_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dir *d = arg;
	struct timeval now, left;
	struct chunk *c;

	(void)fd;
	(void)what;
	gettimeofday(&now, NULL);
	while ((c = d->head) != NULL && !timercmp(&c->due, &now, >)) {
		d->head = c->next;
		if (!d->head)
			d->tail = NULL;
		bufferevent_write(d->to, c->data, c->len);
		free(c);
	}
	if (d->head) {
		timersub(&d->head->due, &now, &left);
		evtimer_add(d->timer, &left);
	}
}

static void dir_read_cb(struct bufferevent *bev, void *arg)
{
	struct dir *d = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	struct chunk *c = malloc(sizeof(*c) + n);
	struct timeval now;

	if (!c) {
		evbuffer_drain(in, n);
		return;
	}
	gettimeofday(&now, NULL);
	timeradd(&now, &delay, &c->due);
	c->len = n;
	c->next = NULL;
	evbuffer_remove(in, c->data, n);
	if (d->tail)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	if (!evtimer_pending(d->timer, NULL))
		evtimer_add(d->timer, &delay);
}

static void dir_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct dir *d = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		pair_free(d->pair);
}

static void nodelay(struct bufferevent *bev)
{
	int one = 1;

	setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
		   sizeof(one));
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct pair *p = calloc(1, sizeof(*p));

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	if (!p) {
		evutil_closesocket(fd);
		return;
	}
	p->up.pair = p->down.pair = p;
	p->up.from = p->down.to =
		bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	p->up.to = p->down.from =
		bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	p->up.timer = evtimer_new(base, dir_timer_cb, &p->up);
	p->down.timer = evtimer_new(base, dir_timer_cb, &p->down);
	if (bufferevent_socket_connect(p->up.to, (struct sockaddr *)&target,
				       sizeof(target)) < 0) {
		pair_free(p);
		return;
	}
	nodelay(p->up.from);
	nodelay(p->up.to);
	bufferevent_setcb(p->up.from, dir_read_cb, NULL, dir_event_cb, &p->up);
	bufferevent_setcb(p->up.to, dir_read_cb, NULL, dir_event_cb, &p->down);
	bufferevent_enable(p->up.from, EV_READ | EV_WRITE);
	bufferevent_enable(p->up.to, EV_READ | EV_WRITE);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct evconnlistener *l;
	long us;

	if (argc != 5) {
		fprintf(stderr, "usage: delay-relay LISTEN_PORT TARGET_HOST "
				"TARGET_PORT DELAY_US\n");
		return 2;
	}
	memset(&target, 0, sizeof(target));
	target.sin_family = AF_INET;
	target.sin_port = htons((unsigned short)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) {
		fprintf(stderr, "delay-relay: %s: not a numeric IPv4 address\n",
			argv[2]);
		return 2;
	}
	us = atol(argv[4]);
	delay.tv_sec = us / 1000000;
	delay.tv_usec = us % 1000000;
	{
		/* epoll's millisecond timeouts would round every delay up */
		struct event_config *cfg = event_config_new();

		if (cfg)
			event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
		base = cfg ? event_base_new_with_config(cfg) : NULL;
		if (cfg)
			event_config_free(cfg);
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = evconnlistener_new_bind(base, accept_cb, NULL,
				    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
				    64, (struct sockaddr *)&sin, sizeof(sin));
	if (!base || !l) {
		fprintf(stderr, "delay-relay: cannot listen on port %s\n",
			argv[1]);
		return 1;
	}
	event_base_dispatch(base);
	evconnlistener_free(l);
	event_base_free(base);
	return 0;
}
