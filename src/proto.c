/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * proto.c: the wire codec.  Everything here works on byte buffers only, so
 * it can be unit-tested and fuzzed without sockets or a server. */
#include "proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/*
 * Hard ceiling for one built payload.  max_allowed_packet tops out at
 * 1 GiB; the slack covers the headers of the packets that carry it.  A
 * builder asked to exceed it is buggy or under attack, so it fails.
 */
#define PKTBUF_LIMIT ((size_t)1024 * 1024 * 1024 + 64)

/* ------------------------------------------------------------------ */
/* Bounded reader                                                      */
/* ------------------------------------------------------------------ */

void proto_rd_init(struct proto_rd *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = buf ? len : 0;
	r->pos = 0;
	r->failed = false;
}

size_t proto_rd_left(const struct proto_rd *r)
{
	if (r->failed || r->pos > r->len)
		return 0;
	return r->len - r->pos;
}

/*
 * Reserve <n> bytes at the cursor.  Returns their start, or NULL (and
 * marks the reader failed) when fewer remain.  The comparison is written
 * as n > left so that a huge <n> cannot wrap pos + n.
 */
static const uint8_t *rd_take(struct proto_rd *r, size_t n)
{
	const uint8_t *p;

	if (r->failed)
		return NULL;
	if (n > r->len - r->pos) {
		r->failed = true;
		return NULL;
	}
	/* a zero-length take on an empty reader still needs a non-NULL
	 * pointer: callers use NULL to mean "SQL NULL" or "absent" */
	p = r->buf ? r->buf + r->pos : (const uint8_t *)"";
	r->pos += n;
	return p;
}

uint8_t proto_rd_u8(struct proto_rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p ? p[0] : 0;
}

uint16_t proto_rd_u16(struct proto_rd *r)
{
	const uint8_t *p = rd_take(r, 2);

	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t proto_rd_u24(struct proto_rd *r)
{
	const uint8_t *p = rd_take(r, 3);

	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 : 0;
}

uint32_t proto_rd_u32(struct proto_rd *r)
{
	const uint8_t *p = rd_take(r, 4);

	if (!p)
		return 0;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t proto_rd_u64(struct proto_rd *r)
{
	const uint8_t *p = rd_take(r, 8);
	uint64_t v = 0;
	int i;

	if (!p)
		return 0;
	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * 0xFB is the NULL marker of text rows; it is only legal where the caller
 * passes <is_null>, so without it the reader fails.  0xFF never starts a
 * lenenc (it is the ERR header).
 */
uint64_t proto_rd_lenenc(struct proto_rd *r, bool *is_null)
{
	uint8_t b;

	if (is_null)
		*is_null = false;
	b = proto_rd_u8(r);
	if (r->failed)
		return 0;
	if (b < 0xFB)
		return b;
	switch (b) {
	case 0xFB:
		if (is_null) {
			*is_null = true;
			return 0;
		}
		break;
	case 0xFC:
		return proto_rd_u16(r);
	case 0xFD:
		return proto_rd_u24(r);
	case 0xFE:
		return proto_rd_u64(r);
	default:
		break;
	}
	r->failed = true;
	return 0;
}

const uint8_t *proto_rd_bytes(struct proto_rd *r, size_t n)
{
	return rd_take(r, n);
}

const char *proto_rd_strnul(struct proto_rd *r, size_t *n)
{
	const uint8_t *start, *nul;
	size_t left = proto_rd_left(r);

	*n = 0;
	if (r->failed)
		return NULL;
	start = r->buf ? r->buf + r->pos : NULL;
	nul = start ? memchr(start, 0, left) : NULL;
	if (!nul) {
		r->failed = true;
		return NULL;
	}
	*n = (size_t)(nul - start);
	r->pos += *n + 1;
	return (const char *)start;
}

const uint8_t *proto_rd_lenenc_str(struct proto_rd *r, size_t *n, bool *is_null)
{
	bool null = false;
	uint64_t v;

	*n = 0;
	if (is_null)
		*is_null = false;
	v = proto_rd_lenenc(r, is_null ? &null : NULL);
	if (r->failed)
		return NULL;
	if (null) {
		*is_null = true;
		return NULL;
	}
	if (v > proto_rd_left(r)) {
		r->failed = true;
		return NULL;
	}
	*n = (size_t)v;
	return rd_take(r, (size_t)v);
}

const uint8_t *proto_rd_rest(struct proto_rd *r, size_t *n)
{
	*n = proto_rd_left(r);
	return rd_take(r, *n);
}

/*
 * NUL-terminated string whose terminator may be cut off at the very end
 * of the payload (some clients omit the last NUL): the string then runs
 * to the end.  Never fails except on an already failed reader.
 */
static const char *rd_strnul_or_end(struct proto_rd *r, size_t *n)
{
	const uint8_t *start;
	const uint8_t *nul;
	size_t left = proto_rd_left(r);

	*n = 0;
	start = rd_take(r, 0);
	if (!start)
		return NULL;
	nul = left ? memchr(start, 0, left) : NULL;
	if (nul) {
		*n = (size_t)(nul - start);
		r->pos += *n + 1;
	} else {
		*n = left;
		r->pos += left;
	}
	return (const char *)start;
}

size_t proto_lenenc_size(uint64_t v)
{
	if (v < 0xFB)
		return 1;
	if (v <= 0xFFFF)
		return 3;
	if (v <= 0xFFFFFF)
		return 4;
	return 9;
}

/* ------------------------------------------------------------------ */
/* Payload builder                                                     */
/* ------------------------------------------------------------------ */

void pktbuf_init(struct pktbuf *pb)
{
	pb->buf = NULL;
	pb->len = 0;
	pb->cap = 0;
	pb->failed = false;
}

void pktbuf_reset(struct pktbuf *pb)
{
	pb->len = 0;
	pb->failed = false;
}

void pktbuf_free(struct pktbuf *pb)
{
	free(pb->buf);
	pb->buf = NULL;
	pb->len = 0;
	pb->cap = 0;
	pb->failed = false;
}

/*
 * Make room for <n> more bytes and return where they go, or NULL with
 * <failed> set.  Growth doubles so a packet built byte by byte stays
 * linear; the limit check comes first so the doubling cannot overflow.
 */
static uint8_t *pktbuf_room(struct pktbuf *pb, size_t n)
{
	size_t need, ncap;
	uint8_t *nb;

	if (pb->failed)
		return NULL;
	if (n > PKTBUF_LIMIT - pb->len) {
		pb->failed = true;
		return NULL;
	}
	need = pb->len + n;
	if (need > pb->cap) {
		ncap = pb->cap ? pb->cap : 256;
		while (ncap < need)
			ncap *= 2;
		if (ncap > PKTBUF_LIMIT)
			ncap = PKTBUF_LIMIT;
		nb = realloc(pb->buf, ncap);
		if (!nb) {
			pb->failed = true;
			return NULL;
		}
		pb->buf = nb;
		pb->cap = ncap;
	}
	nb = pb->buf + pb->len;
	pb->len += n;
	return nb;
}

static void pktbuf_put_le(struct pktbuf *pb, uint64_t v, size_t n)
{
	uint8_t *p = pktbuf_room(pb, n);
	size_t i;

	if (!p)
		return;
	for (i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

void pktbuf_put_u8(struct pktbuf *pb, uint8_t v)
{
	pktbuf_put_le(pb, v, 1);
}

void pktbuf_put_u16(struct pktbuf *pb, uint16_t v)
{
	pktbuf_put_le(pb, v, 2);
}

void pktbuf_put_u24(struct pktbuf *pb, uint32_t v)
{
	pktbuf_put_le(pb, v, 3);
}

void pktbuf_put_u32(struct pktbuf *pb, uint32_t v)
{
	pktbuf_put_le(pb, v, 4);
}

void pktbuf_put_u64(struct pktbuf *pb, uint64_t v)
{
	pktbuf_put_le(pb, v, 8);
}

void pktbuf_put_packet(struct pktbuf *pb, uint8_t seq, const void *p, size_t n)
{
	uint8_t *d;

	/* a longer payload needs continuation packets: fail the buffer
	 * rather than write a header that lies */
	if (n >= PROTO_MAX_PAYLOAD) {
		pb->failed = true;
		return;
	}
	d = pktbuf_room(pb, 4 + n);
	if (!d)
		return;
	d[0] = (uint8_t)n;
	d[1] = (uint8_t)(n >> 8);
	d[2] = (uint8_t)(n >> 16);
	d[3] = seq;
	if (n)
		memcpy(d + 4, p, n);
}

void pktbuf_put_bytes(struct pktbuf *pb, const void *p, size_t n)
{
	uint8_t *d = pktbuf_room(pb, n);

	/* memcpy with a NULL source is undefined even for n == 0 */
	if (d && n)
		memcpy(d, p, n);
}

void pktbuf_put_zero(struct pktbuf *pb, size_t n)
{
	uint8_t *d = pktbuf_room(pb, n);

	if (d && n)
		memset(d, 0, n);
}

/* Minimal encoding, as servers and clients expect. */
void pktbuf_put_lenenc(struct pktbuf *pb, uint64_t v)
{
	if (v < 0xFB) {
		pktbuf_put_u8(pb, (uint8_t)v);
	} else if (v <= 0xFFFF) {
		pktbuf_put_u8(pb, 0xFC);
		pktbuf_put_u16(pb, (uint16_t)v);
	} else if (v <= 0xFFFFFF) {
		pktbuf_put_u8(pb, 0xFD);
		pktbuf_put_u24(pb, (uint32_t)v);
	} else {
		pktbuf_put_u8(pb, 0xFE);
		pktbuf_put_u64(pb, v);
	}
}

void pktbuf_put_lenenc_str(struct pktbuf *pb, const void *p, size_t n)
{
	pktbuf_put_lenenc(pb, n);
	pktbuf_put_bytes(pb, p, n);
}

/* A NULL <s> is written as the empty string. */
void pktbuf_put_strnul(struct pktbuf *pb, const char *s)
{
	if (s)
		pktbuf_put_bytes(pb, s, strlen(s));
	pktbuf_put_u8(pb, 0);
}

/* ------------------------------------------------------------------ */
/* Framing                                                             */
/* ------------------------------------------------------------------ */

/*
 * Chunk layout on the wire:
 *
 *   | len u24 | seq | payload[0 .. 0xFFFFFF) | len u24 | seq+1 | ... |
 *
 * A chunk of exactly 0xFFFFFF bytes means "more follows", so a payload
 * whose length is a non-zero multiple of 0xFFFFFF ends with an empty
 * chunk.  Space for all of it is reserved first, so an allocation
 * failure leaves at most a partial packet the caller must not send (it
 * closes the connection on false anyway).
 */
bool proto_write_packet(struct evbuffer *out, uint8_t *seq, const void *payload, size_t len)
{
	const uint8_t *p = payload;
	size_t nchunks = len / PROTO_MAX_PAYLOAD + 1;
	uint8_t hdr[PROTO_HDR_LEN];
	uint8_t small[PROTO_HDR_LEN + 256];
	size_t n;

	if (len <= sizeof(small) - PROTO_HDR_LEN) {
		/* one add: each runs the output's callbacks */
		small[0] = (uint8_t)len;
		small[1] = (uint8_t)(len >> 8);
		small[2] = 0;
		small[3] = (*seq)++;
		if (len)
			memcpy(small + PROTO_HDR_LEN, p, len);
		return evbuffer_add(out, small, PROTO_HDR_LEN + len) == 0;
	}
	if (evbuffer_expand(out, len + nchunks * PROTO_HDR_LEN) != 0)
		return false;
	for (;;) {
		n = len < PROTO_MAX_PAYLOAD ? len : PROTO_MAX_PAYLOAD;
		hdr[0] = (uint8_t)n;
		hdr[1] = (uint8_t)(n >> 8);
		hdr[2] = (uint8_t)(n >> 16);
		hdr[3] = (*seq)++;
		if (evbuffer_add(out, hdr, sizeof(hdr)) != 0)
			return false;
		if (n && evbuffer_add(out, p, n) != 0)
			return false;
		if (n < PROTO_MAX_PAYLOAD)
			return true;
		p += n;
		len -= n;
	}
}

bool proto_peek_header(struct evbuffer *in, uint32_t *len, uint8_t *seq)
{
	uint8_t hdr[PROTO_HDR_LEN];

	if (evbuffer_get_length(in) < PROTO_HDR_LEN)
		return false;
	if (evbuffer_copyout(in, hdr, sizeof(hdr)) != (ev_ssize_t)sizeof(hdr))
		return false;
	*len = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16;
	*seq = hdr[3];
	return true;
}

/* ------------------------------------------------------------------ */
/* Framing and the response parser                                    */
/* ------------------------------------------------------------------ */

size_t proto_packet_extent(struct evbuffer *in, size_t max, size_t *len,
			   uint8_t *seq)
{
	size_t avail = evbuffer_get_length(in), off = 0, total = 0;
	struct evbuffer_ptr ptr;
	uint8_t hdr[PROTO_HDR_LEN];
	uint32_t n;

	/* walk the chunk headers without copying payloads */
	for (;;) {
		if (avail - off < PROTO_HDR_LEN)
			return 0;
		if (evbuffer_ptr_set(in, &ptr, off, EVBUFFER_PTR_SET) < 0 ||
		    evbuffer_copyout_from(in, &ptr, hdr, PROTO_HDR_LEN) !=
			    PROTO_HDR_LEN)
			return 0;
		n = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 |
		    (uint32_t)hdr[2] << 16;
		if (off == 0)
			*seq = hdr[3];
		total += n;
		*len = total;
		if (total > max)
			return (size_t)-1;
		if (avail - off - PROTO_HDR_LEN < n)
			return 0;
		off += PROTO_HDR_LEN + n;
		if (n < PROTO_MAX_PAYLOAD)
			return off;
	}
}

void proto_resp_start(struct proto_resp *r, const uint8_t *payload,
		      size_t len, uint32_t caps, uint32_t ext_caps,
		      uint16_t status)
{
	uint8_t cmd = len ? payload[0] : 0;

	r->cmd = cmd;
	r->cursor = cmd == COM_STMT_EXECUTE && len >= 6 && (payload[5] & 0x07);
	r->caps = caps;
	r->ext_caps = ext_caps;
	r->status = status;
	switch (cmd) {
	case COM_FIELD_LIST:
		r->rs = RESP_FIELDS;
		break;
	case COM_STMT_FETCH:
		r->rs = RESP_ROWS;
		break;
	case COM_STATISTICS:
		r->rs = RESP_SINGLE;
		break;
	case COM_STMT_CLOSE:
	case COM_STMT_SEND_LONG_DATA:
	case COM_QUIT:
		/* no response: the session stays idle */
		r->rs = RESP_NONE;
		break;
	default:
		r->rs = RESP_FIRST;
		break;
	}
}

/*
 * Does <p> end a result (or answer COM_SET_OPTION / COM_FIELD_LIST)?  An
 * EOF is shorter than 9 bytes.  Under DEPRECATE_EOF it is an OK with the
 * header 0xFE, as long as its info and session state make it; a row that
 * starts with 0xFE holds a field of 16 MiB or more, so the length still
 * tells them apart.
 */
bool proto_resp_is_end(const struct proto_resp *r, const uint8_t *p, size_t n,
		       size_t len)
{
	if (n == 0 || p[0] != 0xFE)
		return false;
	if (r->caps & CAP_DEPRECATE_EOF)
		return len < PROTO_MAX_PAYLOAD;
	return len < 9;
}

/* Status flags of an end packet (see proto_resp_is_end); 0 if unreadable. */
static uint16_t proto_resp_end_status(const struct proto_resp *r,
				      const uint8_t *p, size_t n, size_t len)
{
	struct proto_ok ok;
	uint16_t warnings, status;

	if (r->caps & CAP_DEPRECATE_EOF)
		return n == len && proto_parse_ok(p, len, r->caps, &ok)
			       ? ok.status
			       : 0;
	return proto_parse_eof(p, len, &warnings, &status) ? status : 0;
}

bool proto_resp_step(struct proto_resp *r, const uint8_t *p, size_t n,
		     size_t len)
{
	uint8_t h = n ? p[0] : 0;
	bool end = proto_resp_is_end(r, p, n, len);
	bool deof = (r->caps & CAP_DEPRECATE_EOF) != 0;
	uint16_t status;
	struct proto_ok ok;
	struct proto_rd rd;
	uint64_t count;

	/* a progress report (the client asked for them) changes nothing:
	 * the response proper follows */
	if ((r->ext_caps & EXT_PROGRESS) && proto_is_progress(p, n) &&
	    r->rs != RESP_INFILE && r->rs != RESP_AUTH)
		return true;
	switch (r->rs) {
	case RESP_FIRST:
		if (len == 0)
			return false;
		if (h == 0x00 && r->cmd == COM_STMT_PREPARE) {
			if (n < 9)
				return false;
			r->prep_cols = p[5] | (p[6] << 8);
			r->left = p[7] | (p[8] << 8);
			if (r->left)
				r->rs = RESP_PREP_PARAMS;
			else if (r->prep_cols) {
				r->left = r->prep_cols;
				r->rs = RESP_PREP_COLS;
			} else
				r->rs = RESP_DONE;
		} else if (h == 0x00) {
			if (n < len || !proto_parse_ok(p, len, r->caps, &ok))
				return false;
			r->status = ok.status;
			r->rs = (ok.status & ST_MORE_RESULTS) ? RESP_FIRST
							       : RESP_DONE;
		} else if (h == 0xFF) {
			r->rs = RESP_DONE;
		} else if (end) {
			/* COM_SET_OPTION answers with a bare EOF */
			r->status = proto_resp_end_status(r, p, n, len);
			r->rs = RESP_DONE;
		} else if (h == 0xFB && r->cmd == COM_QUERY) {
			r->rs = RESP_INFILE;
		} else {
			proto_rd_init(&rd, p, n);
			count = proto_rd_lenenc(&rd, NULL);
			if (rd.failed || count == 0)
				return false;
			r->left = count;
			r->rs = RESP_COLDEFS;
			/* CACHE_METADATA: a byte says whether definitions
			 * follow; an EXECUTE whose metadata did not change
			 * goes on with the EOF (if any) and the rows */
			if ((r->ext_caps & EXT_CACHE_METADATA) &&
			    proto_rd_left(&rd) > 0 && proto_rd_u8(&rd) == 0)
				r->rs = deof ? RESP_ROWS : RESP_COLDEFS_EOF;
		}
		return true;
	case RESP_COLDEFS:
		if (h == 0xFF)
			r->rs = RESP_DONE;
		else if (--r->left == 0)
			r->rs = deof ? RESP_ROWS : RESP_COLDEFS_EOF;
		return true;
	case RESP_COLDEFS_EOF:
		if (!end)
			return false;
		status = proto_resp_end_status(r, p, n, len);
		r->status = status;
		if (r->cursor && (status & ST_CURSOR_EXISTS))
			r->rs = (status & ST_MORE_RESULTS) ? RESP_FIRST
							    : RESP_DONE;
		else
			r->rs = RESP_ROWS;
		return true;
	case RESP_ROWS:
		if (end) {
			status = proto_resp_end_status(r, p, n, len);
			r->status = status;
			r->rs = (status & ST_MORE_RESULTS) ? RESP_FIRST
							    : RESP_DONE;
		} else if (h == 0xFF && len > 0) {
			r->rs = RESP_DONE;
		}
		return true;
	case RESP_PREP_PARAMS:
		if (--r->left == 0) {
			r->left = r->prep_cols;
			if (!deof)
				r->rs = RESP_PREP_PEOF;
			else
				r->rs = r->prep_cols ? RESP_PREP_COLS : RESP_DONE;
		}
		return true;
	case RESP_PREP_PEOF:
		if (!end)
			return false;
		if (r->prep_cols) {
			r->left = r->prep_cols;
			r->rs = RESP_PREP_COLS;
		} else
			r->rs = RESP_DONE;
		return true;
	case RESP_PREP_COLS:
		if (--r->left == 0)
			r->rs = deof ? RESP_DONE : RESP_PREP_CEOF;
		return true;
	case RESP_PREP_CEOF:
		if (!end)
			return false;
		r->rs = RESP_DONE;
		return true;
	case RESP_FIELDS:
		if (end || (h == 0xFF && len > 0))
			r->rs = RESP_DONE;
		return true;
	case RESP_SINGLE:
		r->rs = RESP_DONE;
		return true;
	default:
		return false;
	}
}


/* ------------------------------------------------------------------ */
/* OK / ERR / EOF                                                      */
/* ------------------------------------------------------------------ */

/* Send the payload of <pb> and free it; shared tail of the senders. */
static bool send_pktbuf(struct evbuffer *out, uint8_t *seq, struct pktbuf *pb)
{
	bool ret = !pb->failed && proto_write_packet(out, seq, pb->buf, pb->len);

	pktbuf_free(pb);
	return ret;
}

bool proto_send_ok(struct evbuffer *out, uint8_t *seq, uint64_t affected, uint64_t insert_id,
		   uint16_t status, uint16_t warnings, const char *info)
{
	struct pktbuf pb;

	pktbuf_init(&pb);
	pktbuf_put_u8(&pb, 0x00);
	pktbuf_put_lenenc(&pb, affected);
	pktbuf_put_lenenc(&pb, insert_id);
	pktbuf_put_u16(&pb, status);
	pktbuf_put_u16(&pb, warnings);
	/* like the server: info only when there is some */
	if (info && info[0])
		pktbuf_put_lenenc_str(&pb, info, strlen(info));
	return send_pktbuf(out, seq, &pb);
}

/*
 * <sqlstate> must be five characters; anything else becomes HY000 (the
 * generic state) rather than a malformed packet.  The message is cut at
 * 511 bytes, the server's own limit (MYSQL_ERRMSG_SIZE - 1).
 */
bool proto_send_err(struct evbuffer *out, uint8_t *seq, uint16_t code, const char *sqlstate,
		    const char *fmt, ...)
{
	char msg[512];
	struct pktbuf pb;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	if (!sqlstate || strlen(sqlstate) != 5)
		sqlstate = "HY000";

	pktbuf_init(&pb);
	pktbuf_put_u8(&pb, 0xFF);
	pktbuf_put_u16(&pb, code);
	pktbuf_put_u8(&pb, '#');
	pktbuf_put_bytes(&pb, sqlstate, 5);
	pktbuf_put_bytes(&pb, msg, strlen(msg));
	return send_pktbuf(out, seq, &pb);
}

bool proto_send_eof(struct evbuffer *out, uint8_t *seq, uint16_t warnings, uint16_t status)
{
	uint8_t p[5];

	p[0] = 0xFE;
	p[1] = (uint8_t)warnings;
	p[2] = (uint8_t)(warnings >> 8);
	p[3] = (uint8_t)status;
	p[4] = (uint8_t)(status >> 8);
	return proto_write_packet(out, seq, p, sizeof(p));
}

/*
 * With SESSION_TRACK the tail is `[info lenenc] [state lenenc]`, the
 * state only when SESSION_STATE_CHANGED is set.  Without it MariaDB still
 * writes info as a lenenc string, while MySQL writes string<EOF>: when
 * the lenenc reading does not fit, the rest of the packet is taken as
 * the info.  Bytes after the known fields are ignored.
 */
bool proto_parse_ok(const uint8_t *p, size_t len, uint32_t caps, struct proto_ok *ok)
{
	struct proto_rd r;
	uint8_t hdr;

	memset(ok, 0, sizeof(*ok));
	proto_rd_init(&r, p, len);
	hdr = proto_rd_u8(&r);
	if (r.failed || (hdr != 0x00 && hdr != 0xFE))
		return false;
	ok->affected = proto_rd_lenenc(&r, NULL);
	ok->insert_id = proto_rd_lenenc(&r, NULL);
	ok->status = proto_rd_u16(&r);
	ok->warnings = proto_rd_u16(&r);
	if (r.failed)
		return false;

	if (caps & CAP_SESSION_TRACK) {
		if (proto_rd_left(&r) > 0)
			ok->info = proto_rd_lenenc_str(&r, &ok->info_len, NULL);
		if ((ok->status & ST_SESSION_STATE_CHANGED) && proto_rd_left(&r) > 0)
			ok->state = proto_rd_lenenc_str(&r, &ok->state_len, NULL);
		return !r.failed;
	}

	if (proto_rd_left(&r) > 0) {
		struct proto_rd save = r;

		ok->info = proto_rd_lenenc_str(&r, &ok->info_len, NULL);
		if (r.failed) {
			r = save;
			ok->info = proto_rd_rest(&r, &ok->info_len);
		}
	}
	return !r.failed;
}

/*
 * Appends to <pb> (callers reset it first if they want only this packet).
 * The header is always 0x00; a caller relaying the 0xFE form used under
 * DEPRECATE_EOF patches the first byte itself.
 */
bool proto_build_ok_plain(struct pktbuf *pb, const struct proto_ok *ok)
{
	pktbuf_put_u8(pb, 0x00);
	pktbuf_put_lenenc(pb, ok->affected);
	pktbuf_put_lenenc(pb, ok->insert_id);
	pktbuf_put_u16(pb, (uint16_t)(ok->status & ~ST_SESSION_STATE_CHANGED));
	pktbuf_put_u16(pb, ok->warnings);
	if (ok->info && ok->info_len > 0)
		pktbuf_put_lenenc_str(pb, ok->info, ok->info_len);
	return !pb->failed;
}

bool proto_build_ok_tracked(struct pktbuf *pb, const struct proto_ok *ok,
			    const uint8_t *state, size_t state_len)
{
	uint16_t status = (uint16_t)(ok->status & ~ST_SESSION_STATE_CHANGED);

	if (state_len > 0)
		status |= ST_SESSION_STATE_CHANGED;
	pktbuf_put_u8(pb, 0x00);
	pktbuf_put_lenenc(pb, ok->affected);
	pktbuf_put_lenenc(pb, ok->insert_id);
	pktbuf_put_u16(pb, status);
	pktbuf_put_u16(pb, ok->warnings);
	if ((ok->info && ok->info_len > 0) || state_len > 0)
		pktbuf_put_lenenc_str(pb, ok->info, ok->info ? ok->info_len : 0);
	if (state_len > 0)
		pktbuf_put_lenenc_str(pb, state, state_len);
	return !pb->failed;
}

/* The '#sqlstate' marker is optional (pre-4.1 and the greeting-time ERR). */
bool proto_parse_err(const uint8_t *p, size_t len, struct proto_err *err)
{
	struct proto_rd r;
	const uint8_t *st;

	memset(err, 0, sizeof(*err));
	proto_rd_init(&r, p, len);
	if (proto_rd_u8(&r) != 0xFF || r.failed)
		return false;
	err->code = proto_rd_u16(&r);
	if (r.failed)
		return false;
	if (proto_rd_left(&r) >= 6 && r.buf[r.pos] == '#') {
		r.pos++;
		st = proto_rd_bytes(&r, 5);
		memcpy(err->sqlstate, st, 5);
		err->sqlstate[5] = '\0';
	}
	err->msg = proto_rd_rest(&r, &err->msg_len);
	return !r.failed;
}

bool proto_is_progress(const uint8_t *p, size_t len)
{
	return len >= 3 && p[0] == 0xFF && p[1] == 0xFF && p[2] == 0xFF;
}

bool proto_is_eof(const uint8_t *p, size_t len)
{
	return len >= 1 && len < 9 && p[0] == 0xFE;
}

bool proto_parse_eof(const uint8_t *p, size_t len, uint16_t *warnings, uint16_t *status)
{
	struct proto_rd r;

	if (!proto_is_eof(p, len))
		return false;
	proto_rd_init(&r, p + 1, len - 1);
	*warnings = proto_rd_u16(&r);
	*status = proto_rd_u16(&r);
	return !r.failed;
}

/* ------------------------------------------------------------------ */
/* Handshake                                                           */
/* ------------------------------------------------------------------ */

/*
 * HandshakeV10.  Accepts the real servers' form (auth data length 21,
 * part 2 = 12 bytes + NUL) and tolerates a plugin name without its final
 * NUL.  Part 2 is max(12, auth_len - 9) bytes, as PyMySQL reads it; only
 * the first 12 are kept since the struct holds 20.
 */
bool proto_parse_greeting(const uint8_t *p, size_t len, struct proto_greeting *g)
{
	struct proto_rd r;
	const uint8_t *s;
	uint8_t auth_len;
	size_t part2;

	memset(g, 0, sizeof(*g));
	proto_rd_init(&r, p, len);
	g->protocol = proto_rd_u8(&r);
	if (r.failed || g->protocol != 10)
		return false;
	g->version = proto_rd_strnul(&r, &g->version_len);
	g->thread_id = proto_rd_u32(&r);
	s = proto_rd_bytes(&r, 8);
	proto_rd_u8(&r); /* filler */
	g->caps = proto_rd_u16(&r);
	if (r.failed)
		return false;
	memcpy(g->scramble, s, 8);
	g->scramble_len = 8;
	if (proto_rd_left(&r) == 0)
		return true; /* ancient servers stop here */

	g->collation = proto_rd_u8(&r);
	g->status = proto_rd_u16(&r);
	g->caps |= (uint32_t)proto_rd_u16(&r) << 16;
	auth_len = proto_rd_u8(&r);
	proto_rd_bytes(&r, 6);
	g->ext_caps = proto_rd_u32(&r);
	if (r.failed)
		return false;
	if (g->caps & CAP_LONG_PASSWORD)
		g->ext_caps = 0; /* filler, not MariaDB ext caps */

	if (g->caps & CAP_SECURE_CONNECTION) {
		part2 = auth_len > 21 ? (size_t)auth_len - 9 : 12;
		s = proto_rd_bytes(&r, part2);
		if (r.failed)
			return false;
		memcpy(g->scramble + 8, s, 12);
		g->scramble_len = 20;
		/* the NUL that ends part 2 */
		if (proto_rd_left(&r) > 0 && r.buf[r.pos] == 0)
			r.pos++;
	}
	if ((g->caps & CAP_PLUGIN_AUTH) && proto_rd_left(&r) > 0)
		g->plugin = rd_strnul_or_end(&r, &g->plugin_len);
	return !r.failed;
}

bool proto_build_greeting(struct pktbuf *pb, const char *version, uint32_t thread_id,
			  const uint8_t scramble[20], uint32_t caps, uint32_t ext_caps,
			  uint8_t collation, uint16_t status, const char *plugin)
{
	pktbuf_put_u8(pb, 10);
	pktbuf_put_strnul(pb, version);
	pktbuf_put_u32(pb, thread_id);
	pktbuf_put_bytes(pb, scramble, 8);
	pktbuf_put_u8(pb, 0);
	pktbuf_put_u16(pb, (uint16_t)caps);
	pktbuf_put_u8(pb, collation);
	pktbuf_put_u16(pb, status);
	pktbuf_put_u16(pb, (uint16_t)(caps >> 16));
	pktbuf_put_u8(pb, 21);
	pktbuf_put_zero(pb, 6);
	/* MariaDB ext caps, or zero filler toward MySQL clients */
	pktbuf_put_u32(pb, (caps & CAP_LONG_PASSWORD) ? 0 : ext_caps);
	pktbuf_put_bytes(pb, scramble + 8, 12);
	pktbuf_put_u8(pb, 0);
	pktbuf_put_strnul(pb, plugin);
	return !pb->failed;
}

/*
 * Reads an auth blob: lenenc under PLUGIN_AUTH_LENENC, one length byte
 * under SECURE_CONNECTION, else a NUL string (pre-4.1 style).  A length
 * running past the end fails the reader.
 */
static const uint8_t *rd_auth(struct proto_rd *r, uint32_t caps, bool lenenc_ok, size_t *n)
{
	uint8_t l;

	if (lenenc_ok && (caps & CAP_PLUGIN_AUTH_LENENC))
		return proto_rd_lenenc_str(r, n, NULL);
	if (caps & CAP_SECURE_CONNECTION) {
		l = proto_rd_u8(r);
		*n = l;
		return proto_rd_bytes(r, l);
	}
	return (const uint8_t *)rd_strnul_or_end(r, n);
}

/* Connect attributes: lenenc total, then exactly that many bytes. */
static const uint8_t *rd_attrs(struct proto_rd *r, size_t *n)
{
	return proto_rd_lenenc_str(r, n, NULL);
}

/*
 * HandshakeResponse41, or the 32-byte SSLRequest.  The user name is
 * mandatory; auth, db, plugin and attrs may each be missing at the end
 * (older or minimal clients), but a field that is present must fit.
 */
bool proto_parse_hsresp(const uint8_t *p, size_t len, struct proto_hsresp *h)
{
	struct proto_rd r;

	memset(h, 0, sizeof(*h));
	proto_rd_init(&r, p, len);
	h->caps = proto_rd_u32(&r);
	h->max_packet = proto_rd_u32(&r);
	h->collation = proto_rd_u8(&r);
	proto_rd_bytes(&r, 19);
	h->ext_caps = proto_rd_u32(&r);
	if (r.failed)
		return false;
	if (h->caps & CAP_LONG_PASSWORD)
		h->ext_caps = 0; /* a MySQL-style client: reserved bytes */
	if (len == 32 && (h->caps & CAP_SSL)) {
		h->ssl_request = true;
		return true;
	}

	h->user = proto_rd_strnul(&r, &h->user_len);
	if (r.failed)
		return false;
	if (proto_rd_left(&r) == 0)
		return true;
	h->auth = rd_auth(&r, h->caps, true, &h->auth_len);
	if (r.failed)
		return false;

	if ((h->caps & CAP_CONNECT_WITH_DB) && proto_rd_left(&r) > 0) {
		h->db = rd_strnul_or_end(&r, &h->db_len);
		if (h->db_len == 0)
			h->db = NULL;
	}
	if ((h->caps & CAP_PLUGIN_AUTH) && proto_rd_left(&r) > 0)
		h->plugin = rd_strnul_or_end(&r, &h->plugin_len);
	if ((h->caps & CAP_CONNECT_ATTRS) && proto_rd_left(&r) > 0)
		h->attrs = rd_attrs(&r, &h->attrs_len);
	/* trailing bytes (e.g. a zstd level) are ignored */
	return !r.failed;
}

/*
 * Appends to <pb>.  Under CONNECT_WITH_DB a NULL <db> is written as an
 * empty string, so the plugin name that follows is not mistaken for the
 * database.  Without PLUGIN_AUTH_LENENC an auth blob over 255 bytes
 * cannot be encoded and fails.
 */
bool proto_build_hsresp(struct pktbuf *pb, uint32_t caps, uint32_t ext_caps,
			uint32_t max_packet, uint8_t collation, const char *user,
			const uint8_t *auth, size_t auth_len, const char *db,
			const char *plugin, const uint8_t *attrs, size_t attrs_len)
{
	pktbuf_put_u32(pb, caps);
	pktbuf_put_u32(pb, max_packet);
	pktbuf_put_u8(pb, collation);
	pktbuf_put_zero(pb, 19);
	pktbuf_put_u32(pb, (caps & CAP_LONG_PASSWORD) ? 0 : ext_caps);
	pktbuf_put_strnul(pb, user);
	if (caps & CAP_PLUGIN_AUTH_LENENC) {
		pktbuf_put_lenenc_str(pb, auth, auth_len);
	} else {
		if (auth_len > 255)
			return false;
		pktbuf_put_u8(pb, (uint8_t)auth_len);
		pktbuf_put_bytes(pb, auth, auth_len);
	}
	if (caps & CAP_CONNECT_WITH_DB)
		pktbuf_put_strnul(pb, db);
	if (caps & CAP_PLUGIN_AUTH)
		pktbuf_put_strnul(pb, plugin);
	if ((caps & CAP_CONNECT_ATTRS) && attrs)
		pktbuf_put_lenenc_str(pb, attrs, attrs_len);
	return !pb->failed;
}

/*
 * COM_CHANGE_USER body.  As in the handshake response, an empty database
 * is reported as NULL; everything after the user may be missing.
 */
bool proto_parse_change_user(const uint8_t *p, size_t len, uint32_t caps, struct proto_chuser *cu)
{
	struct proto_rd r;

	memset(cu, 0, sizeof(*cu));
	proto_rd_init(&r, p, len);
	cu->user = proto_rd_strnul(&r, &cu->user_len);
	if (r.failed)
		return false;
	if (proto_rd_left(&r) == 0)
		return true;
	cu->auth = rd_auth(&r, caps, false, &cu->auth_len);
	if (r.failed)
		return false;
	if (proto_rd_left(&r) > 0) {
		cu->db = rd_strnul_or_end(&r, &cu->db_len);
		if (cu->db_len == 0)
			cu->db = NULL;
	}
	if (proto_rd_left(&r) >= 2) {
		cu->has_collation = true;
		cu->collation = proto_rd_u16(&r);
	}
	if ((caps & CAP_PLUGIN_AUTH) && proto_rd_left(&r) > 0)
		cu->plugin = rd_strnul_or_end(&r, &cu->plugin_len);
	if ((caps & CAP_CONNECT_ATTRS) && proto_rd_left(&r) > 0)
		cu->attrs = rd_attrs(&r, &cu->attrs_len);
	return !r.failed;
}

/* ------------------------------------------------------------------ */
/* Result sets                                                         */
/* ------------------------------------------------------------------ */

/*
 * Column definition 41.  Under <ext_meta> the MariaDB EXTENDED_METADATA
 * blob between org_name and the 0x0C marker is skipped (not kept); it is
 * always there then, and may itself be 12 bytes long, so the marker alone
 * cannot tell.  The 2-byte filler may be missing, and anything after it
 * (the default value that COM_FIELD_LIST appends) is ignored.
 */
bool proto_parse_coldef(const uint8_t *p, size_t len, bool ext_meta,
			struct proto_coldef *cd)
{
	struct proto_rd r;
	size_t n;

	memset(cd, 0, sizeof(*cd));
	proto_rd_init(&r, p, len);
	cd->catalog = proto_rd_lenenc_str(&r, &cd->catalog_len, NULL);
	cd->schema = proto_rd_lenenc_str(&r, &cd->schema_len, NULL);
	cd->table = proto_rd_lenenc_str(&r, &cd->table_len, NULL);
	cd->org_table = proto_rd_lenenc_str(&r, &cd->org_table_len, NULL);
	cd->name = proto_rd_lenenc_str(&r, &cd->name_len, NULL);
	cd->org_name = proto_rd_lenenc_str(&r, &cd->org_name_len, NULL);
	if (r.failed)
		return false;
	if (ext_meta)
		proto_rd_lenenc_str(&r, &n, NULL);
	if (proto_rd_u8(&r) != 0x0C)
		return false;
	cd->charset = proto_rd_u16(&r);
	cd->length = proto_rd_u32(&r);
	cd->type = proto_rd_u8(&r);
	cd->flags = proto_rd_u16(&r);
	cd->decimals = proto_rd_u8(&r);
	return !r.failed;
}

bool proto_build_coldef(struct pktbuf *pb, const struct proto_coldef *cd)
{
	pktbuf_put_lenenc_str(pb, cd->catalog, cd->catalog_len);
	pktbuf_put_lenenc_str(pb, cd->schema, cd->schema_len);
	pktbuf_put_lenenc_str(pb, cd->table, cd->table_len);
	pktbuf_put_lenenc_str(pb, cd->org_table, cd->org_table_len);
	pktbuf_put_lenenc_str(pb, cd->name, cd->name_len);
	pktbuf_put_lenenc_str(pb, cd->org_name, cd->org_name_len);
	pktbuf_put_u8(pb, 0x0C);
	pktbuf_put_u16(pb, cd->charset);
	pktbuf_put_u32(pb, cd->length);
	pktbuf_put_u8(pb, cd->type);
	pktbuf_put_u16(pb, cd->flags);
	pktbuf_put_u8(pb, cd->decimals);
	pktbuf_put_zero(pb, 2);
	return !pb->failed;
}

bool proto_parse_text_row(const uint8_t *p, size_t len, unsigned ncols, const uint8_t **vals,
			  size_t *lens)
{
	struct proto_rd r;
	unsigned i;
	bool null;

	proto_rd_init(&r, p, len);
	for (i = 0; i < ncols && !r.failed; i++) {
		vals[i] = proto_rd_lenenc_str(&r, &lens[i], &null);
		if (null)
			vals[i] = NULL;
	}
	return !r.failed && proto_rd_left(&r) == 0;
}

/* Wire size of a fixed-width binary value, or 0 for variable ones. */
static size_t binary_fixed_size(uint8_t type)
{
	switch (type) {
	case 8: /* LONGLONG */
	case 5: /* DOUBLE */
		return 8;
	case 3: /* LONG */
	case 9: /* INT24 */
	case 4: /* FLOAT */
		return 4;
	case 2:	 /* SHORT */
	case 13: /* YEAR */
		return 2;
	case 1: /* TINY */
		return 1;
	default:
		return 0;
	}
}

/*
 * Binary row.  For fixed-width types vals[i] points at the raw
 * little-endian bytes; for temporal types (1 length byte + body) and
 * lenenc types it points past the length prefix, lens[i] being the body
 * length.  NULL columns, and columns of type NULL, get vals[i] = NULL.
 */
bool proto_parse_binary_row(const uint8_t *p, size_t len, unsigned ncols, const uint8_t *types,
			    const uint8_t **vals, size_t *lens)
{
	struct proto_rd r;
	const uint8_t *bitmap;
	size_t nbits;
	unsigned i;
	uint8_t t, l;

	proto_rd_init(&r, p, len);
	if (proto_rd_u8(&r) != 0x00 || r.failed)
		return false;
	nbits = ((size_t)ncols + 7 + 2) / 8;
	bitmap = proto_rd_bytes(&r, nbits);
	if (r.failed)
		return false;
	for (i = 0; i < ncols && !r.failed; i++) {
		size_t bit = (size_t)i + 2;

		vals[i] = NULL;
		lens[i] = 0;
		if (bitmap[bit / 8] & (1u << (bit % 8)))
			continue;
		t = types[i];
		if (binary_fixed_size(t)) {
			lens[i] = binary_fixed_size(t);
			vals[i] = proto_rd_bytes(&r, lens[i]);
			continue;
		}
		switch (t) {
		case 6: /* NULL */
			break;
		case 7:	 /* TIMESTAMP */
		case 10: /* DATE */
		case 11: /* TIME */
		case 12: /* DATETIME */
			l = proto_rd_u8(&r);
			lens[i] = l;
			vals[i] = proto_rd_bytes(&r, l);
			break;
		default:
			vals[i] = proto_rd_lenenc_str(&r, &lens[i], NULL);
			break;
		}
	}
	return !r.failed && proto_rd_left(&r) == 0;
}

/* ------------------------------------------------------------------ */
/* Authentication scrambles                                            */
/* ------------------------------------------------------------------ */

/*
 * One-shot digest of up to two buffers.  EVP_Digest only fails on
 * allocation failure inside OpenSSL; the output is then zeroed so a
 * failed hash can never match a reply by accident (a zero scramble would
 * need a pre-image).
 */
static void digest2(const EVP_MD *md, uint8_t *out, const void *a, size_t alen, const void *b,
		    size_t blen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int olen;
	bool good;

	good = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
	       EVP_DigestUpdate(ctx, a, alen) == 1 &&
	       (!blen || EVP_DigestUpdate(ctx, b, blen) == 1) &&
	       EVP_DigestFinal_ex(ctx, out, &olen) == 1;
	if (!good)
		memset(out, 0, (size_t)EVP_MD_get_size(md));
	EVP_MD_CTX_free(ctx);
}

/*
 * SHA1(pw) XOR SHA1(nonce || SHA1(SHA1(pw))).  An empty (or NULL)
 * password has no scramble: <out> is zeroed and the caller sends an
 * empty reply.
 */
void proto_native_scramble(uint8_t out[20], const uint8_t nonce[20], const char *password)
{
	uint8_t h1[20], h2[20], h3[20];
	int i;

	memset(out, 0, 20);
	if (!password || !password[0])
		return;
	digest2(EVP_sha1(), h1, password, strlen(password), NULL, 0);
	digest2(EVP_sha1(), h2, h1, sizeof(h1), NULL, 0);
	digest2(EVP_sha1(), h3, nonce, 20, h2, sizeof(h2));
	for (i = 0; i < 20; i++)
		out[i] = h1[i] ^ h3[i];
	OPENSSL_cleanse(h1, sizeof(h1));
	OPENSSL_cleanse(h2, sizeof(h2));
}

/* Constant-time: the comparison must not leak how many bytes matched. */
bool proto_native_check(const uint8_t *reply, size_t reply_len, const uint8_t nonce[20],
			const char *password)
{
	uint8_t want[20];
	bool good;

	if (!password || !password[0])
		return reply_len == 0;
	if (reply_len != sizeof(want))
		return false;
	proto_native_scramble(want, nonce, password);
	good = CRYPTO_memcmp(want, reply, sizeof(want)) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return good;
}

/*
 * caching_sha2_password fast auth:
 * SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || nonce), nonce last.
 */
void proto_sha2_scramble(uint8_t out[32], const uint8_t nonce[20], const char *password)
{
	uint8_t h1[32], h2[32], h3[32];
	int i;

	memset(out, 0, 32);
	if (!password || !password[0])
		return;
	digest2(EVP_sha256(), h1, password, strlen(password), NULL, 0);
	digest2(EVP_sha256(), h2, h1, sizeof(h1), NULL, 0);
	digest2(EVP_sha256(), h3, h2, sizeof(h2), nonce, 20);
	for (i = 0; i < 32; i++)
		out[i] = h1[i] ^ h3[i];
	OPENSSL_cleanse(h1, sizeof(h1));
	OPENSSL_cleanse(h2, sizeof(h2));
}

bool proto_sha2_check(const uint8_t *reply, size_t reply_len, const uint8_t nonce[20],
		      const char *password)
{
	uint8_t want[32];
	bool good;

	if (!password || !password[0])
		return reply_len == 0;
	if (reply_len != sizeof(want))
		return false;
	proto_sha2_scramble(want, nonce, password);
	good = CRYPTO_memcmp(want, reply, sizeof(want)) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return good;
}

/*
 * Printable and NUL-free like the server's own nonces (clients strip a
 * trailing NUL).  The modulo bias over 94 values is irrelevant here.
 */
bool proto_make_nonce(uint8_t out[20])
{
	int i;

	if (RAND_bytes(out, 20) != 1)
		return false;
	for (i = 0; i < 20; i++)
		out[i] = (uint8_t)(0x21 + out[i] % 94);
	return true;
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static const char *const proto_cmd_names[] = {
	[COM_SLEEP] = "Sleep",
	[COM_QUIT] = "Quit",
	[COM_INIT_DB] = "Init DB",
	[COM_QUERY] = "Query",
	[COM_FIELD_LIST] = "Field List",
	[COM_CREATE_DB] = "Create DB",
	[COM_DROP_DB] = "Drop DB",
	[COM_REFRESH] = "Refresh",
	[COM_SHUTDOWN] = "Shutdown",
	[COM_STATISTICS] = "Statistics",
	[COM_PROCESS_INFO] = "Processlist",
	[COM_CONNECT] = "Connect",
	[COM_PROCESS_KILL] = "Kill",
	[COM_DEBUG] = "Debug",
	[COM_PING] = "Ping",
	[COM_TIME] = "Time",
	[COM_DELAYED_INSERT] = "Delayed insert",
	[COM_CHANGE_USER] = "Change user",
	[COM_STMT_PREPARE] = "Prepare",
	[COM_STMT_EXECUTE] = "Execute",
	[COM_STMT_SEND_LONG_DATA] = "Long Data",
	[COM_STMT_CLOSE] = "Close stmt",
	[COM_STMT_RESET] = "Reset stmt",
	[COM_SET_OPTION] = "Set option",
	[COM_STMT_FETCH] = "Fetch",
	[COM_RESET_CONNECTION] = "Reset connection",
};

const char *proto_cmd_name(uint8_t cmd)
{
	if (cmd < sizeof(proto_cmd_names) / sizeof(proto_cmd_names[0]) && proto_cmd_names[cmd])
		return proto_cmd_names[cmd];
	return "Unknown";
}
