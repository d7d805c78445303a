/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * fanout.c: result sets of coalesced queries: parse, split by key, and
 * re-encode per client with the status its own lookup would have seen. */
#include "fanout.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "classify.h"

/* The arrays of a parsed result set share one allocation, at rs->defs. */
void fanout_rs_free(struct fanout_rs *rs)
{
	free(rs->defs);
	memset(rs, 0, sizeof(*rs));
}

/*
 * One block for <rs>'s arrays: <ncols> definitions, <nrows> rows and,
 * for an indexed result, the first row of each of <n_keys> keys.  Pointer
 * arrays first, so every array is aligned.
 */
static bool fanout_rs_alloc(struct fanout_rs *rs, size_t ncols, size_t nrows,
			    size_t n_keys)
{
	size_t ptrs = ncols + nrows, sizes = ncols + nrows;
	size_t uns = 2 * nrows + n_keys;
	char *m = malloc(ptrs * sizeof(void *) + sizes * sizeof(size_t) +
			 uns * sizeof(unsigned));

	if (!m)
		return false;
	rs->defs = (const uint8_t **)(void *)m;
	rs->rows = rs->defs + ncols;
	rs->def_lens = (size_t *)(void *)(rs->rows + nrows);
	rs->row_lens = rs->def_lens + ncols;
	rs->row_key = (unsigned *)(void *)(rs->row_lens + nrows);
	rs->row_next = rs->row_key + nrows;
	rs->key_first = rs->row_next + nrows;
	rs->n_keys = (unsigned)n_keys;
	return true;
}

/* Chain each key's rows in result order: key_first[k], then row_next[]. */
static void fanout_rs_index(struct fanout_rs *rs)
{
	unsigned i;

	for (i = 0; i < rs->n_keys; i++)
		rs->key_first[i] = FANOUT_NO_ROW;
	for (i = rs->nrows; i-- > 0;) {
		rs->row_next[i] = rs->key_first[rs->row_key[i]];
		rs->key_first[rs->row_key[i]] = i;
	}
}

/*
 * Parse <res> as one text result set.  With <indexed>, the first column
 * is the key index: it is stripped from each row and recorded; the
 * second, the key column, is stripped too, its definition kept.  With
 * <key_of> instead, the first column is the key column, and <key_of>
 * names each row's key by its value.
 */
static bool fanout_rs_parse_keyed(const struct backend_result *res,
				  bool indexed, fanout_key_of_fn key_of,
				  const void *arg, unsigned n_keys,
				  struct fanout_rs *rs)
{
	size_t pos = 0, len;
	const uint8_t *p;
	struct proto_rd rd;
	uint64_t ncols;
	unsigned i, skip = indexed ? 2 : key_of ? 1 : 0;
	uint16_t w, st;

	memset(rs, 0, sizeof(*rs));
	rs->ext_meta = (res->ext_caps & EXT_METADATA) != 0;
	if (res->err || !backend_result_next(res, &pos, &p, &len) || len == 0 ||
	    p[0] == 0x00 || p[0] == 0xFF)
		return false;
	proto_rd_init(&rd, p, len);
	ncols = proto_rd_lenenc(&rd, NULL);
	if (rd.failed || ncols <= skip || ncols > 4096)
		return false;
	rs->ncols = (unsigned)ncols - skip;
	if (!fanout_rs_alloc(rs, rs->ncols, res->count, skip ? n_keys : 1))
		goto bad;
	for (i = 0; i < ncols; i++) {
		if (!backend_result_next(res, &pos, &p, &len))
			goto bad;
		if (i >= skip) {
			rs->defs[i - skip] = p;
			rs->def_lens[i - skip] = len;
		} else if (i == skip - 1) {
			rs->key_def = p;
			rs->key_def_len = len;
		}
	}
	if (!backend_result_next(res, &pos, &p, &len) ||
	    !proto_parse_eof(p, len, &w, &st))
		goto bad;
	while (backend_result_next(res, &pos, &p, &len)) {
		if (proto_is_eof(p, len)) {
			if (!proto_parse_eof(p, len, &rs->warnings, &rs->status))
				goto bad;
			/* exactly one result set, nothing after it */
			if (rs->status & ST_MORE_RESULTS ||
			    backend_result_next(res, &pos, &p, &len))
				goto bad;
			fanout_rs_index(rs);
			return true;
		}
		if (len && p[0] == 0xFF)
			goto bad;
		if (indexed) {
			const uint8_t *v;
			size_t vlen, k;
			unsigned long idx = 0;
			bool null;

			proto_rd_init(&rd, p, len);
			v = proto_rd_lenenc_str(&rd, &vlen, &null);
			if (rd.failed || null || vlen == 0 || vlen > 9)
				goto bad;
			for (k = 0; k < vlen; k++) {
				if (!isdigit(v[k]))
					goto bad;
				idx = idx * 10 + (v[k] - '0');
			}
			/* the key column's value */
			proto_rd_lenenc_str(&rd, &vlen, &null);
			if (rd.failed || idx >= n_keys)
				goto bad;
			rs->row_key[rs->nrows] = (unsigned)idx;
			rs->rows[rs->nrows] = p + rd.pos;
			rs->row_lens[rs->nrows] = len - rd.pos;
		} else if (key_of) {
			const uint8_t *v;
			size_t vlen;
			unsigned k;
			bool null;

			proto_rd_init(&rd, p, len);
			v = proto_rd_lenenc_str(&rd, &vlen, &null);
			/* a row no key names: the query did not compare as
			 * the mapping does */
			if (rd.failed || null ||
			    (k = key_of(arg, v, vlen)) >= n_keys)
				goto bad;
			rs->row_key[rs->nrows] = k;
			rs->rows[rs->nrows] = p + rd.pos;
			rs->row_lens[rs->nrows] = len - rd.pos;
		} else {
			rs->row_key[rs->nrows] = 0;
			rs->rows[rs->nrows] = p;
			rs->row_lens[rs->nrows] = len;
		}
		rs->nrows++;
	}
bad:
	fanout_rs_free(rs);
	return false;
}

bool fanout_rs_parse(const struct backend_result *res, bool indexed,
		     unsigned n_keys, struct fanout_rs *rs)
{
	return fanout_rs_parse_keyed(res, indexed, NULL, NULL, n_keys, rs);
}

bool fanout_rs_parse_by_value(const struct backend_result *res,
			      fanout_key_of_fn key_of, const void *arg,
			      unsigned n_keys, struct fanout_rs *rs)
{
	return fanout_rs_parse_keyed(res, false, key_of, arg, n_keys, rs);
}

/*
 * A client's answer is gathered in the loop's fanout_out and added to
 * its output in one piece: one evbuffer_add instead of three libevent
 * calls per packet.  Reused from call to call (one per loop, so one per
 * thread); a large answer goes out in pieces of about FANOUT_FLUSH
 * bytes, and a large packet directly.
 */
#define FANOUT_FLUSH 65536

static bool fanout_flush(struct evbuffer *out)
{
	struct pktbuf *pb = &ib_loop->fanout_out;
	bool ok = !pb->failed &&
		  (pb->len == 0 || evbuffer_add(out, pb->buf, pb->len) == 0);

	pktbuf_reset(pb);
	pb->failed = false;
	return ok;
}

/* Queue one packet of <len> bytes at <p> for <out>, sequence id *seq. */
static bool fanout_put(uint8_t *seq, struct evbuffer *out, const void *p,
		       size_t len)
{
	struct pktbuf *pb = &ib_loop->fanout_out;

	if (len >= FANOUT_FLUSH)
		return fanout_flush(out) && proto_write_packet(out, seq, p, len);
	pktbuf_put_packet(pb, (*seq)++, p, len);
	if (pb->len >= FANOUT_FLUSH)
		return fanout_flush(out);
	return !pb->failed;
}

void fanout_exit(struct ib_loop *loop)
{
	pktbuf_free(&loop->fanout_out);
}

/* A column name <a>[<an>] is <b>[<bn>], as the server compares them. */
static bool fanout_ieq(const uint8_t *a, size_t an, const char *b, size_t bn)
{
	return an == bn && strncasecmp((const char *)a, b, an) == 0;
}

int fanout_order_col(const struct fanout_rs *rs, const char *qual,
		     size_t qual_len, const char *col, size_t col_len)
{
	struct proto_coldef cd;
	unsigned i;
	int found = -1;

	for (i = 0; i < rs->ncols; i++) {
		if (!proto_parse_coldef(rs->defs[i], rs->def_lens[i],
					rs->ext_meta, &cd))
			return -1;
		if (qual_len) {
			if (!fanout_ieq(cd.org_name, cd.org_name_len, col, col_len) ||
			    cd.table_len != qual_len ||
			    memcmp(cd.table, qual, qual_len) != 0)
				continue;
		} else if (!fanout_ieq(cd.name, cd.name_len, col, col_len)) {
			continue;
		} else if (found >= 0 || cd.org_table_len == 0 ||
			   !fanout_ieq(cd.org_name, cd.org_name_len, col,
				       col_len)) {
			return -1;
		}
		if (found < 0) {
			/* TINY, SHORT, LONG, LONGLONG, INT24 */
			if (cd.type != 1 && cd.type != 2 && cd.type != 3 &&
			    cd.type != 8 && cd.type != 9)
				return -1;
			found = (int)i;
		}
	}
	return found;
}

bool fanout_rows_distinct(const struct fanout_rs *rs, unsigned k,
			  const int *cols, unsigned n)
{
	const uint8_t **vals;
	size_t *lens;
	const uint8_t *prev[CLASSIFY_ORDER_MAX];
	size_t prev_len[CLASSIFY_ORDER_MAX];
	unsigned r, i, same, seen = 0;
	bool ok = true;

	if (k >= rs->n_keys || n == 0 || n > CLASSIFY_ORDER_MAX)
		return false;
	vals = malloc(rs->ncols * sizeof(*vals));
	lens = malloc(rs->ncols * sizeof(*lens));
	if (!vals || !lens) {
		free(vals);
		free(lens);
		return false;
	}
	for (r = rs->key_first[k]; ok && r != FANOUT_NO_ROW; r = rs->row_next[r]) {
		if (!proto_parse_text_row(rs->rows[r], rs->row_lens[r], rs->ncols,
					  vals, lens)) {
			ok = false;
			break;
		}
		for (i = same = 0; i < n; i++) {
			const uint8_t *v = vals[cols[i]];
			size_t vl = lens[cols[i]];

			if (seen && (v == NULL) == (prev[i] == NULL) &&
			    (!v || (vl == prev_len[i] && memcmp(v, prev[i], vl) == 0)))
				same++;
			prev[i] = v;
			prev_len[i] = vl;
		}
		if (seen++ && same == n)
			ok = false;
	}
	free(vals);
	free(lens);
	return ok;
}

/* Send <l> the result set for key <k> out of <rs>: <count> rows,
 * definitions as set by fanout_use_defs(), status <st>. */
bool fanout_send(struct lookup *l, const struct fanout_rs *rs, unsigned k,
		 unsigned count, uint16_t st)
{
	struct evbuffer *out = l->ops->output(l);
	size_t before = evbuffer_get_length(out);
	uint8_t hdr[4], eof[5], seq = 1;
	unsigned i, sent = 0;
	size_t n = 0;
	bool ok;

	pktbuf_reset(&ib_loop->fanout_out);
	/* the column count as lenenc (fanout_rs_parse() allows at most 4096);
	 * under CACHE_METADATA "metadata follows", always so in a text result:
	 * the definitions are in the client's layout (one per batch group) */
	if (rs->ncols < 251) {
		hdr[n++] = (uint8_t)rs->ncols;
	} else {
		hdr[n++] = 0xFC;
		hdr[n++] = (uint8_t)rs->ncols;
		hdr[n++] = (uint8_t)(rs->ncols >> 8);
	}
	if (l->ext_caps & EXT_CACHE_METADATA)
		hdr[n++] = 1;
	ok = fanout_put(&seq, out, hdr, n);
	for (i = 0; ok && i < rs->ncols; i++)
		ok = fanout_put(&seq, out, rs->defs[i], rs->def_lens[i]);
	eof[0] = 0xFE;
	eof[1] = 0;
	eof[2] = 0;
	eof[3] = (uint8_t)st;
	eof[4] = (uint8_t)(st >> 8);
	ok = ok && fanout_put(&seq, out, eof, sizeof(eof));
	if (k < rs->n_keys) {
		for (i = rs->key_first[k]; ok && i != FANOUT_NO_ROW &&
		     sent < count; i = rs->row_next[i], sent++)
			ok = fanout_put(&seq, out, rs->rows[i], rs->row_lens[i]);
	}
	ok = ok && fanout_put(&seq, out, eof, sizeof(eof));
	ok = fanout_flush(out) && ok;
	l->ops->sent(l, st);
	IB_STAT_ADD(bytes_out, evbuffer_get_length(out) - before);
	return ok;
}

bool fanout_send_own(struct lookup *l, const struct backend_result *res)
{
	struct evbuffer *out = l->ops->output(l);
	size_t before = evbuffer_get_length(out), pos = 0, len;
	const uint8_t *p;
	uint8_t eof[5], seq = 1;
	uint16_t w, st;
	bool ok = true, have_st = false;

	pktbuf_reset(&ib_loop->fanout_out);
	while (ok && backend_result_next(res, &pos, &p, &len)) {
		if (len == 5 && proto_parse_eof(p, len, &w, &st)) {
			/* a client without session tracking never sees it */
			st &= (uint16_t)~ST_SESSION_STATE_CHANGED;
			memcpy(eof, p, 5);
			eof[3] = (uint8_t)st;
			eof[4] = (uint8_t)(st >> 8);
			have_st = true;
			ok = fanout_put(&seq, out, eof, 5);
		} else {
			ok = fanout_put(&seq, out, p, len);
		}
	}
	ok = fanout_flush(out) && ok;
	if (have_st)
		l->ops->sent(l, st);
	IB_STAT_ADD(bytes_out, evbuffer_get_length(out) - before);
	return ok;
}

/* Flags that describe keys of the table, which a join does not carry. */
#define FANOUT_KEY_FLAGS (0x0002 | 0x0004 | 0x0008 | 0x4000)

static bool fanout_is_string_type(uint8_t t)
{
	return t == 15 || t == 253 || t == 254 || (t >= 247 && t <= 252);
}

/*
 * Do the coalesced query's columns describe the same values as the
 * lookup's own?  Names, tables, character set, type and length must be
 * equal; key flags may differ, and so may decimals of string columns,
 * since neither changes how a value is written in a text row.
 */
bool fanout_compatible_defs(const struct fanout_rs *co,
			    const struct fanout_rs *solo)
{
	struct proto_coldef a, b;
	unsigned i;

	if (co->ncols != solo->ncols)
		return false;
	for (i = 0; i < co->ncols; i++) {
		if (!proto_parse_coldef(co->defs[i], co->def_lens[i], co->ext_meta, &a) ||
		    !proto_parse_coldef(solo->defs[i], solo->def_lens[i],
					solo->ext_meta, &b))
			return false;
#define FANOUT_SAME(f) (a.f##_len == b.f##_len && memcmp(a.f, b.f, a.f##_len) == 0)
		/* an expression has no original name in the lookup's own
		 * run; a sorted join may report its alias there */
		if (!FANOUT_SAME(schema) || !FANOUT_SAME(table) ||
		    !FANOUT_SAME(org_table) || !FANOUT_SAME(name) ||
		    (!FANOUT_SAME(org_name) && b.org_name_len != 0))
			return false;
#undef FANOUT_SAME
		if (a.charset != b.charset || a.type != b.type ||
		    a.length != b.length ||
		    (a.flags & ~FANOUT_KEY_FLAGS) != (b.flags & ~FANOUT_KEY_FLAGS))
			return false;
		if (a.decimals != b.decimals && !fanout_is_string_type(a.type))
			return false;
	}
	return true;
}

void fanout_use_defs(struct fanout_rs *rs, const struct fanout_rs *from)
{
	unsigned i;

	for (i = 0; i < rs->ncols; i++) {
		rs->defs[i] = from->defs[i];
		rs->def_lens[i] = from->def_lens[i];
	}
}
