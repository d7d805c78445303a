/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * io.c: plain sockets read and written with fewer system calls than a
 * libevent socket bufferevent makes.
 *
 * libevent asks the kernel how much there is to read (ioctl FIONREAD)
 * before each readv, and writes on the loop iteration after data is
 * queued: it turns write interest on (epoll_ctl), waits for epoll to say
 * the socket is writable, writes, and turns write interest off again
 * (epoll_ctl).  Per relayed query that is six system calls on top of the
 * reads and writes.  Here the bufferevent stays the buffer container and
 * keeps its callbacks, but with reading and writing disabled in it:
 *
 *   read:  our own persistent EV_READ event; one recv per wakeup into
 *          the loop's buffer, copied to the input; then the read callback.
 *   write: a callback on the output evbuffer puts the connection on the
 *          dirty list when something is added; one event, activated when
 *          the list stops being empty, runs after the callbacks of this
 *          iteration and writes each dirty connection once (one writev).
 *          Only what the kernel does not take waits for EPOLLOUT, through
 *          the bufferevent's own write path, enabled for that time.
 *
 * A TLS filter reads and writes through the bufferevent's callbacks, so a
 * connection is detached before one is put on top of it.
 */
#include "io.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>

struct io {
	TAILQ_ENTRY(io) dirty_entry;
	struct io_loop *loop;
	struct bufferevent *bev;
	struct evbuffer_cb_entry *out_cb;
	struct event rd;
	evutil_socket_t fd;
	bool attached;
	bool rd_on;	/* EV_READ enabled: rd is added */
	bool wr_on;	/* EV_WRITE enabled: output is flushed */
	bool dirty;	/* on io_dirty */
	bool blocked;	/* the kernel took less than all: libevent waits */
};

/* what one wakeup reads at most, as libevent's default single read */
#define IO_READ_MAX 16384

/* One event loop's share: its dirty list and the event that flushes it,
 * and where every read lands first. */
struct io_loop {
	TAILQ_HEAD(, io) dirty;
	struct event flush_ev;
	uint8_t rbuf[IO_READ_MAX];
};

static void io_flush_cb(evutil_socket_t fd, short what, void *arg);

static void io_mark_dirty(struct io *io)
{
	if (io->dirty || !io->wr_on || !io->attached)
		return;
	io->dirty = true;
	if (TAILQ_EMPTY(&io->loop->dirty))
		event_active(&io->loop->flush_ev, EV_WRITE, 0);
	TAILQ_INSERT_TAIL(&io->loop->dirty, io, dirty_entry);
}

/* <io>'s output goes first in this iteration's flush (see io.h). */
void io_hurry(struct io *io)
{
	if (!io || !io->dirty || TAILQ_FIRST(&io->loop->dirty) == io)
		return;
	TAILQ_REMOVE(&io->loop->dirty, io, dirty_entry);
	TAILQ_INSERT_HEAD(&io->loop->dirty, io, dirty_entry);
}

static void io_unmark_dirty(struct io *io)
{
	if (!io->dirty)
		return;
	io->dirty = false;
	TAILQ_REMOVE(&io->loop->dirty, io, dirty_entry);
}

static void io_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
		      void *arg)
{
	(void)buf;
	if (info->n_added)
		io_mark_dirty(arg);
}

/* EOF or an error, as libevent reports it: reading stops first. */
static void io_report(struct io *io, short what, int err)
{
	bufferevent_event_cb ecb;
	void *arg;

	if (what & BEV_EVENT_READING) {
		event_del(&io->rd);
		io->rd_on = false;
	} else {
		io->wr_on = false;
		io_unmark_dirty(io);
	}
	bufferevent_getcb(io->bev, NULL, NULL, &ecb, &arg);
	if (ecb) {
		errno = err;
		ecb(io->bev, what, arg);
	}
}

/*
 * One recv into the loop's scratch buffer, then a copy into <in>.  Reading
 * straight into <in> needs IO_READ_MAX bytes of room there: a new 16 KiB
 * chunk for each read into an emptied buffer, which malloc gives back to
 * the kernel and takes again (brk, and page faults on the new pages) as
 * the top of the heap moves.  Copying the few bytes of a query or answer
 * costs far less.
 */
static ssize_t io_recv(struct io *io, struct evbuffer *in)
{
	ssize_t n = recv(io->fd, io->loop->rbuf, sizeof(io->loop->rbuf), 0);

	if (n > 0 && evbuffer_add(in, io->loop->rbuf, (size_t)n) != 0) {
		errno = ENOMEM;
		return -1;
	}
	return n;
}

static void io_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io *io = arg;
	struct bufferevent *bev = io->bev;
	struct evbuffer *in = bufferevent_get_input(bev);
	bufferevent_data_cb rcb;
	void *cbarg;
	ssize_t n;

	(void)fd;
	(void)what;
	/* a socket bufferevent keeps its input's end frozen but while it
	 * reads, so do the same */
	evbuffer_unfreeze(in, 0);
	n = io_recv(io, in);
	evbuffer_freeze(in, 0);
	if (n > 0) {
		/* the callback may detach <io>: nothing of it after this */
		bufferevent_getcb(bev, &rcb, NULL, NULL, &cbarg);
		if (rcb)
			rcb(bev, cbarg);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		      errno == EINTR))
		return;
	io_report(io, BEV_EVENT_READING |
			      (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR),
		  n == 0 ? 0 : errno);
}

/* Write <out> to <fd>: send() when it is one piece (most answers are),
 * which skips the file layer writev goes through. */
static ssize_t io_write(struct evbuffer *out, evutil_socket_t fd, size_t len)
{
	struct evbuffer_iovec v;
	ssize_t n;

	if (evbuffer_peek(out, (ev_ssize_t)len, NULL, &v, 1) != 1 ||
	    v.iov_len < len)
		return evbuffer_write(out, fd);
	n = send(fd, v.iov_base, len, MSG_NOSIGNAL);
	if (n > 0)
		evbuffer_drain(out, (size_t)n);
	return n;
}

/* Write what is queued now; what the kernel leaves waits for EPOLLOUT in
 * the bufferevent's own write path, until a flush finds it all gone. */
static void io_flush(struct io *io)
{
	struct bufferevent *bev = io->bev;
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t len = evbuffer_get_length(out), low = 0;
	bufferevent_data_cb wcb;
	void *cbarg;
	ssize_t n;

	if (len == 0) {
		n = 0;
	} else {
		/* and its output's start but while it writes */
		evbuffer_unfreeze(out, 1);
		n = io_write(out, io->fd, len);
		evbuffer_freeze(out, 1);
	}
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR) {
		int err = errno;

		if (io->blocked) {
			bufferevent_disable(bev, EV_WRITE);
			io->blocked = false;
		}
		io_report(io, BEV_EVENT_WRITING | BEV_EVENT_ERROR, err);
		return;
	}
	len = evbuffer_get_length(out);
	if (len == 0) {
		if (io->blocked) {
			bufferevent_disable(bev, EV_WRITE);
			io->blocked = false;
		}
	} else if (!io->blocked) {
		io->blocked = true;
		bufferevent_enable(bev, EV_WRITE);
	}
	if (n <= 0)
		return;
	if (len)
		bufferevent_getwatermark(bev, EV_WRITE, &low, NULL);
	if (len <= low) {
		bufferevent_getcb(bev, NULL, &wcb, NULL, &cbarg);
		if (wcb)
			wcb(bev, cbarg);
	}
}

static void io_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io_loop *l = arg;
	struct io *io;

	(void)fd;
	(void)what;
	/* a write callback may queue more output: it joins this round */
	while ((io = TAILQ_FIRST(&l->dirty)) != NULL) {
		io_unmark_dirty(io);
		io_flush(io);
	}
}

struct io_loop *io_loop_new(struct event_base *base)
{
	struct io_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	TAILQ_INIT(&l->dirty);
	if (event_assign(&l->flush_ev, base, -1, 0, io_flush_cb, l) != 0) {
		free(l);
		return NULL;
	}
	return l;
}

void io_loop_free(struct io_loop *l)
{
	if (!l)
		return;
	event_del(&l->flush_ev);
	free(l);
}

struct io *io_attach(struct io_loop *l, struct bufferevent *bev)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	struct io *io;
	short en;

	if (fd < 0 || bufferevent_get_underlying(bev))
		return NULL;
	io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	io->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), io_out_cb,
				     io);
	if (!io->out_cb ||
	    event_assign(&io->rd, bufferevent_get_base(bev), fd,
			 EV_READ | EV_PERSIST,
			 io_read_cb, io) != 0) {
		if (io->out_cb)
			evbuffer_remove_cb_entry(bufferevent_get_output(bev),
						 io->out_cb);
		free(io);
		return NULL;
	}
	io->loop = l;
	io->bev = bev;
	io->fd = fd;
	io->attached = true;
	en = bufferevent_get_enabled(bev);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	io_enable(io, bev, en);
	return io;
}

void io_detach(struct io *io)
{
	short en = 0;

	if (!io || !io->attached)
		return;
	io_unmark_dirty(io);
	event_del(&io->rd);
	evbuffer_remove_cb_entry(bufferevent_get_output(io->bev), io->out_cb);
	io->out_cb = NULL;
	io->attached = false;
	io->blocked = false;
	if (io->rd_on)
		en |= EV_READ;
	if (io->wr_on)
		en |= EV_WRITE;
	/* libevent writes whatever is still queued */
	bufferevent_enable(io->bev, en);
}

void io_free(struct io *io)
{
	if (!io)
		return;
	io_detach(io);
	free(io);
}

void io_enable(struct io *io, struct bufferevent *bev, short what)
{
	if (!io || !io->attached) {
		bufferevent_enable(bev, what);
		return;
	}
	if ((what & EV_READ) && !io->rd_on) {
		io->rd_on = true;
		event_add(&io->rd, NULL);
	}
	if ((what & EV_WRITE) && !io->wr_on) {
		io->wr_on = true;
		if (evbuffer_get_length(bufferevent_get_output(bev)))
			io_mark_dirty(io);
	}
}

void io_disable(struct io *io, struct bufferevent *bev, short what)
{
	if (!io || !io->attached) {
		bufferevent_disable(bev, what);
		return;
	}
	if ((what & EV_READ) && io->rd_on) {
		io->rd_on = false;
		event_del(&io->rd);
	}
	if ((what & EV_WRITE) && io->wr_on) {
		io->wr_on = false;
		io_unmark_dirty(io);
		if (io->blocked) {
			io->blocked = false;
			bufferevent_disable(bev, EV_WRITE);
		}
	}
}
