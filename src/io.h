/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * io.h: the socket side of a plain (non-TLS) bufferevent, done with fewer
 * system calls than libevent's: one recv per wakeup, and every
 * connection's pending output written once per loop iteration. */
#ifndef IB_IO_H
#define IB_IO_H

#include <event2/bufferevent.h>

struct io;
struct io_loop;

/* one per event loop: its dirty list and flush event */
struct io_loop *io_loop_new(struct event_base *base);
void io_loop_free(struct io_loop *l);

/*
 * Take over reading and writing of the socket under <bev>, which keeps
 * its buffers, callbacks and write watermark: the read callback runs after
 * each read, the write callback after each write that leaves no more than
 * the low watermark, the event callback on EOF and errors, as libevent
 * runs them.  Whatever is enabled on <bev> now stays enabled.  NULL when
 * out of memory: <bev> then goes on as it was.
 */
struct io *io_attach(struct io_loop *l, struct bufferevent *bev);
/* Give the socket back to libevent, before a filter (TLS) goes on top of
 * <bev>.  <io> stays allocated, inert, until io_free(). */
void io_detach(struct io *io);
/* Detach (if still attached) and free; with the bufferevent, never inside
 * a callback chain.  NULL is fine. */
void io_free(struct io *io);

/* Write <io>'s pending output first when this loop iteration's output
 * goes out, before output queued earlier in it.  NULL, or nothing
 * pending, is fine. */
void io_hurry(struct io *io);

/* bufferevent_enable/disable for a bufferevent that may be attached to
 * <io> (or <io> NULL). */
void io_enable(struct io *io, struct bufferevent *bev, short what);
void io_disable(struct io *io, struct bufferevent *bev, short what);

#endif
