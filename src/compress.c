/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * compress.c: the MySQL compressed protocol as a bufferevent filter under
 * the packet code: what is read is decompressed, what is written is
 * compressed, and client.c, backend.c, batch.c see plain packets only. */
#include "compress.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/*
 * A compressed packet:
 *
 *   +--------+-----+--------+---------------------------------+
 *   | clen 3 | seq | ulen 3 | clen bytes: zlib of ulen bytes, |
 *   |        |  1  |        | or the bytes as they are if 0   |
 *   +--------+-----+--------+---------------------------------+
 *
 * The bytes, once inflated, are a stream of plain packets, which may
 * begin in one compressed packet and end in another.  The plain sequence
 * ids inside are not checked by either end; the compressed ones are (by
 * the server): they restart at 0 with each command and go up by one per
 * compressed packet in either direction, as plain ones do per packet.
 */
#define COMPRESS_HDR 7
/* Compressed bytes queued below before we wait for them to leave: what
 * is not compressed yet stays above, where the owner's bound sees it. */
#define COMPRESS_OUT_MAX (1u << 20)
/* zlib level: the server uses 6; 1 costs a proxy far less CPU for a
 * ratio close to it on result sets */
#define COMPRESS_LEVEL 1
/* Server role: compressed packets read ahead whose place in the plain
 * input is remembered (beyond them, a reply follows the last one read). */
#define COMPRESS_MARKS 256

/* ... and replies queued whose first compressed id is known */
#define COMPRESS_REPLIES 64

/* Where a compressed packet read ends in the plain input, or where a
 * reply starts in the plain output, and the id that goes with it. */
struct compress_mark {
	uint64_t at;
	uint8_t seq;
};

struct compress {
	enum compress_role role;
	bool failed;
	uint8_t wseq;		  /* sequence id of the next packet we write */
	struct bufferevent *bev;  /* the filter, for the flush event */
	struct event *flush_ev;	  /* compresses what one callback wrote */
	/* client role: where the commands start in what we write */
	size_t out_left;	  /* payload bytes of the current plain packet */
	uint8_t last_seq;	  /* plain id of the last packet written */
	bool last_full;		  /* ... and its logical packet goes on */
	bool read_since;	  /* a compressed packet came in since */
	bool flushing;		  /* in compress_flush_cb ... */
	bool flushed;		  /* ... which compressed once already */
	/* server role: a reply is numbered after the compressed packet that
	 * ended its own command, though later ones may have been read, and
	 * though earlier replies may still wait to be compressed */
	uint64_t in_total;	  /* plain bytes handed up so far */
	uint64_t out_total;	  /* plain bytes compressed so far */
	struct compress_mark mark[COMPRESS_MARKS];
	unsigned mark_first, mark_n;
	struct compress_mark reply[COMPRESS_REPLIES];
	unsigned reply_first, reply_n;
};

static uint32_t compress_u24(const uint8_t *p)
{
	return p[0] | (p[1] << 8) | ((uint32_t)p[2] << 16);
}

static void compress_put_u24(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
}

struct compress *compress_state_new(enum compress_role role)
{
	struct compress *z = calloc(1, sizeof(*z));

	if (z)
		z->role = role;
	return z;
}

void compress_state_free(struct compress *z)
{
	if (!z)
		return;
	if (z->flush_ev)
		event_free(z->flush_ev);
	free(z);
}

static void compress_mark_push(struct compress *z, uint8_t seq)
{
	struct compress_mark *m;

	if (z->mark_n == COMPRESS_MARKS) {
		/* the oldest is forgotten: its command falls back on the
		 * last id read, as a client that does not pipeline has it */
		z->mark_first = (z->mark_first + 1) % COMPRESS_MARKS;
		z->mark_n--;
	}
	m = &z->mark[(z->mark_first + z->mark_n) % COMPRESS_MARKS];
	m->at = z->in_total;
	m->seq = seq;
	z->mark_n++;
}

void compress_on_command(struct compress *z, size_t nbytes)
{
	uint64_t end, at;
	struct compress_mark *r;

	if (!z || z->role != COMPRESS_SERVER)
		return;
	/* the command is the head of what is handed up and not taken */
	end = z->in_total -
	      evbuffer_get_length(bufferevent_get_input(z->bev)) + nbytes;
	while (z->mark_n && z->mark[z->mark_first].at < end) {
		z->mark_first = (z->mark_first + 1) % COMPRESS_MARKS;
		z->mark_n--;
	}
	if (!z->mark_n)
		return;
	/* its reply starts where the output ends now */
	at = z->out_total + evbuffer_get_length(bufferevent_get_output(z->bev));
	r = z->reply_n ? &z->reply[(z->reply_first + z->reply_n - 1) %
				   COMPRESS_REPLIES]
		       : NULL;
	if (!r || r->at != at) {
		if (z->reply_n == COMPRESS_REPLIES)
			return; /* numbered on from the reply before */
		r = &z->reply[(z->reply_first + z->reply_n) % COMPRESS_REPLIES];
		z->reply_n++;
	}
	r->at = at;
	r->seq = (uint8_t)(z->mark[z->mark_first].seq + 1);
}

int compress_read(struct compress *z, struct evbuffer *src,
		  struct evbuffer *dst)
{
	int moved = 0;
	uint8_t h[COMPRESS_HDR];
	uint32_t clen, ulen;
	struct evbuffer_iovec iov;
	const uint8_t *data;
	uLongf out;
	uLong in;

	for (;;) {
		size_t avail = evbuffer_get_length(src);

		if (avail < COMPRESS_HDR)
			return moved;
		evbuffer_copyout(src, h, COMPRESS_HDR);
		clen = compress_u24(h);
		ulen = compress_u24(h + 4);
		if (avail - COMPRESS_HDR < clen)
			return moved;
		if (ulen == 0) {
			/* sent as it is (short, or did not shrink) */
			evbuffer_drain(src, COMPRESS_HDR);
			if (evbuffer_remove_buffer(src, dst, clen) != (int)clen)
				return -1;
		} else {
			/* the claimed length bounds what we allocate (under
			 * 16 MiB by its 3 bytes); the stream must fill it
			 * exactly and end there */
			if (clen == 0)
				return -1;
			data = evbuffer_pullup(src, COMPRESS_HDR + clen);
			if (!data || evbuffer_reserve_space(dst, ulen, &iov, 1) < 1 ||
			    iov.iov_len < ulen)
				return -1;
			out = ulen;
			in = clen;
			if (uncompress2(iov.iov_base, &out, data + COMPRESS_HDR,
					&in) != Z_OK ||
			    out != ulen || in != clen)
				return -1;
			iov.iov_len = ulen;
			if (evbuffer_commit_space(dst, &iov, 1) != 0)
				return -1;
			evbuffer_drain(src, COMPRESS_HDR + clen);
		}
		/* our next packet follows the one read (a reply, or the
		 * next part of an exchange the peer answered) */
		if (z->role == COMPRESS_CLIENT || !z->bev ||
		    (!z->reply_n &&
		     !evbuffer_get_length(bufferevent_get_output(z->bev))))
			z->wseq = (uint8_t)(h[3] + 1);
		z->in_total += ulen ? ulen : clen;
		if (z->role == COMPRESS_SERVER)
			compress_mark_push(z, h[3]);
		z->read_since = true;
		moved = 1;
	}
}

/*
 * How many bytes at the head of <src> go into the next compressed packet.
 * On the backend leg a command starts a packet of its own, with sequence
 * id 0: a plain packet with id 0, unless it continues a logical packet
 * (Connector/C, compressing, numbers all parts of a command 0) or a run
 * of 256 (a long LOAD DATA, with nothing read since).  0 when <src> begins
 * with part of a header only (the writer adds the rest).
 */
static size_t compress_take(struct compress *z, struct evbuffer *src)
{
	size_t avail = evbuffer_get_length(src), off = 0, k;
	size_t max = avail < COMPRESS_CHUNK ? avail : COMPRESS_CHUNK;
	struct evbuffer_ptr ptr;
	uint8_t h[4];
	bool cmd;

	if (z->role == COMPRESS_SERVER) {
		/* a reply whose first id is known starts a packet of its own */
		while (z->reply_n && z->reply[z->reply_first].at <= z->out_total) {
			z->wseq = z->reply[z->reply_first].seq;
			z->reply_first = (z->reply_first + 1) % COMPRESS_REPLIES;
			z->reply_n--;
		}
		if (z->reply_n && z->reply[z->reply_first].at - z->out_total < max)
			max = (size_t)(z->reply[z->reply_first].at - z->out_total);
		return max;
	}
	while (off < max) {
		if (z->out_left) {
			k = z->out_left < max - off ? z->out_left : max - off;
			z->out_left -= k;
			off += k;
			continue;
		}
		if (avail - off < 4 ||
		    evbuffer_ptr_set(src, &ptr, off, EVBUFFER_PTR_SET) < 0 ||
		    evbuffer_copyout_from(src, &ptr, h, 4) != 4)
			return off;
		cmd = h[3] == 0 && !z->last_full &&
		      (z->last_seq != 255 || z->read_since);
		if (cmd) {
			if (off > 0)
				return off;
			z->wseq = 0;
		}
		z->last_seq = h[3];
		z->read_since = false;
		z->out_left = compress_u24(h);
		z->last_full = z->out_left == PROTO_MAX_PAYLOAD;
		off += 4;
	}
	return off;
}

/* Put the first <n> bytes of <src> on <dst> as one compressed packet. */
static bool compress_one(struct compress *z, struct evbuffer *src,
			 struct evbuffer *dst, size_t n)
{
	const uint8_t *data = evbuffer_pullup(src, n);
	uLongf clen = compressBound(n);
	struct evbuffer_iovec iov;
	uint8_t *p;
	bool packed = false;

	if (!data ||
	    evbuffer_reserve_space(dst, COMPRESS_HDR + clen, &iov, 1) < 1 ||
	    iov.iov_len < COMPRESS_HDR + clen)
		return false;
	p = iov.iov_base;
	if (n >= COMPRESS_MIN)
		packed = compress2(p + COMPRESS_HDR, &clen, data, n,
				   COMPRESS_LEVEL) == Z_OK &&
			 clen < n;
	if (!packed) {
		memcpy(p + COMPRESS_HDR, data, n);
		clen = n;
	}
	compress_put_u24(p, clen);
	p[3] = z->wseq++;
	compress_put_u24(p + 4, packed ? n : 0);
	iov.iov_len = COMPRESS_HDR + clen;
	if (evbuffer_commit_space(dst, &iov, 1) != 0)
		return false;
	evbuffer_drain(src, n);
	z->out_total += n;
	return true;
}

int compress_write(struct compress *z, struct evbuffer *src,
		   struct evbuffer *dst, size_t dst_max)
{
	int moved = 0;
	size_t n;

	while (evbuffer_get_length(src) && evbuffer_get_length(dst) < dst_max) {
		n = compress_take(z, src);
		if (n == 0)
			break;
		if (!compress_one(z, src, dst, n))
			return -1;
		moved = 1;
	}
	return moved;
}

/* A stream we cannot follow: the owner hears of it as a connection
 * error, and closes. */
static void compress_fail(struct compress *z, const char *why)
{
	if (z->failed)
		return;
	z->failed = true;
	log_debug("compressed protocol: %s", why);
	bufferevent_trigger_event(z->bev, BEV_EVENT_ERROR,
				  BEV_TRIG_DEFER_CALLBACKS);
}

static enum bufferevent_filter_result
compress_in_cb(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
	       enum bufferevent_flush_mode mode, void *ctx)
{
	struct compress *z = ctx;
	int r;

	(void)lim;
	(void)mode;
	if (z->failed) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_ERROR;
	}
	r = compress_read(z, src, dst);
	if (r < 0) {
		compress_fail(z, "malformed compressed packet");
		return BEV_ERROR;
	}
	return r ? BEV_OK : BEV_NEED_MORE;
}

/*
 * Libevent calls this on every addition to the output; compressing each
 * piece would make a compressed packet per header and per row.  In the
 * normal mode it only schedules a flush, which runs once the callback that
 * wrote is done and compresses all it wrote together.
 */
static enum bufferevent_filter_result
compress_out_cb(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
		enum bufferevent_flush_mode mode, void *ctx)
{
	struct compress *z = ctx;
	int r;

	(void)lim;
	if (z->failed)
		return BEV_ERROR;
	/* written by the owner's write callback, which our flush ran (and
	 * libevent runs it again while it writes): on the next turn of the
	 * loop, after the others' events, or a client that is answered
	 * without the server (four million empty commands inflated from 16
	 * KiB) keeps the loop to itself */
	if (z->flushing && (mode == BEV_NORMAL || z->flushed)) {
		static const struct timeval now = { 0, 0 };

		event_add(z->flush_ev, &now);
		return BEV_NEED_MORE;
	}
	if (mode == BEV_NORMAL) {
		event_active(z->flush_ev, EV_WRITE, 0);
		return BEV_NEED_MORE;
	}
	z->flushed = z->flushing;
	r = compress_write(z, src, dst, COMPRESS_OUT_MAX);
	if (r < 0) {
		compress_fail(z, "out of memory");
		return BEV_ERROR;
	}
	/* no progress (the layer below is full): stop; its write callback
	 * brings us back when it has drained */
	return r ? BEV_OK : BEV_NEED_MORE;
}

static void compress_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct compress *z = arg;

	(void)fd;
	(void)what;
	/* disabled for writing: the owner is tearing it down */
	if (bufferevent_get_enabled(z->bev) & EV_WRITE) {
		z->flushing = true;
		z->flushed = false;
		bufferevent_flush(z->bev, EV_WRITE, BEV_FLUSH);
		z->flushing = false;
	}
}

static void compress_free_cb(void *ctx)
{
	compress_state_free(ctx);
}

struct bufferevent *compress_new(struct bufferevent *under,
				 enum compress_role role,
				 struct compress **state)
{
	struct compress *z = compress_state_new(role);
	struct bufferevent *bev;

	if (!z)
		return NULL;
	z->flush_ev = event_new(bufferevent_get_base(under), -1, 0,
				compress_flush_cb, z);
	if (!z->flush_ev) {
		compress_state_free(z);
		return NULL;
	}
	bev = bufferevent_filter_new(under, compress_in_cb, compress_out_cb,
				     BEV_OPT_CLOSE_ON_FREE, compress_free_cb, z);
	if (!bev) {
		compress_state_free(z);
		return NULL;
	}
	z->bev = bev;
	if (state)
		*state = z;
	/* wake the filter before the layer below has drained completely */
	bufferevent_setwatermark(under, EV_WRITE, COMPRESS_OUT_MAX / 4, 0);
	return bev;
}

void compress_resume(struct bufferevent *bev)
{
	struct bufferevent *under = bufferevent_get_underlying(bev);

	if (under && evbuffer_get_length(bufferevent_get_input(under)))
		bufferevent_trigger(under, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS |
					    BEV_TRIG_DEFER_CALLBACKS);
}
