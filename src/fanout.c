/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * fanout.c: result sets of coalesced queries: parse, split by key, and
 * re-encode per client with the status its own lookup would have seen. */
#include "fanout.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "client.h"

void fanout_rs_free(struct fanout_rs *rs)
{
	free(rs->defs);
	free(rs->def_lens);
	free(rs->rows);
	free(rs->row_lens);
	free(rs->row_key);
	memset(rs, 0, sizeof(*rs));
}

/*
 * Parse <res> as one text result set.  With <indexed>, the first column
 * is the key index: it is stripped from each row and recorded.
 */
bool fanout_rs_parse(const struct backend_result *res, bool indexed,
			   unsigned n_keys, struct fanout_rs *rs)
{
	size_t pos = 0, len;
	const uint8_t *p;
	struct proto_rd rd;
	uint64_t ncols;
	unsigned i, skip = indexed ? 1 : 0;
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
	rs->defs = calloc(rs->ncols, sizeof(*rs->defs));
	rs->def_lens = calloc(rs->ncols, sizeof(*rs->def_lens));
	rs->rows = calloc(res->count, sizeof(*rs->rows));
	rs->row_lens = calloc(res->count, sizeof(*rs->row_lens));
	rs->row_key = calloc(res->count, sizeof(*rs->row_key));
	if (!rs->defs || !rs->def_lens || !rs->rows || !rs->row_lens ||
	    !rs->row_key)
		goto bad;
	for (i = 0; i < ncols; i++) {
		if (!backend_result_next(res, &pos, &p, &len))
			goto bad;
		if (i >= skip) {
			rs->defs[i - skip] = p;
			rs->def_lens[i - skip] = len;
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
			return !(rs->status & ST_MORE_RESULTS) &&
			       !backend_result_next(res, &pos, &p, &len);
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
			if (idx >= n_keys)
				goto bad;
			rs->row_key[rs->nrows] = (unsigned)idx;
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

/* Send client <c> the result set for key <k> out of <rs>: <count> rows,
 * definitions as set by fanout_use_defs(), status <st>. */
bool fanout_send(struct client *c, const struct fanout_rs *rs, unsigned k,
		 unsigned count, uint16_t st)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t before = evbuffer_get_length(out);
	struct pktbuf pb;
	unsigned i, sent = 0;
	bool ok;

	c->seq = 1;
	pktbuf_init(&pb);
	pktbuf_put_lenenc(&pb, rs->ncols);
	/* CACHE_METADATA: "metadata follows", always so in a text result;
	 * the definitions are in the client's layout (one per batch group) */
	if (c->ext_caps & EXT_CACHE_METADATA)
		pktbuf_put_u8(&pb, 1);
	ok = !pb.failed && client_write(c, pb.buf, pb.len);
	pktbuf_free(&pb);
	for (i = 0; ok && i < rs->ncols; i++)
		ok = client_write(c, rs->defs[i], rs->def_lens[i]);
	ok = ok && proto_send_eof(out, &c->seq, 0, st);
	for (i = 0; ok && i < rs->nrows && sent < count; i++) {
		if (rs->row_key[i] != k)
			continue;
		ok = client_write(c, rs->rows[i], rs->row_lens[i]);
		sent++;
	}
	ok = ok && proto_send_eof(out, &c->seq, 0, st);
	c->status = st;
	IB_STAT_ADD(bytes_out, evbuffer_get_length(out) - before);
	return ok;
}

bool fanout_send_own(struct client *c, const struct backend_result *res)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t before = evbuffer_get_length(out), pos = 0, len;
	const uint8_t *p;
	uint8_t eof[5];
	uint16_t w, st;
	bool ok = true;

	c->seq = 1;
	while (ok && backend_result_next(res, &pos, &p, &len)) {
		if (len == 5 && proto_parse_eof(p, len, &w, &st)) {
			/* a client without session tracking never sees it */
			st &= (uint16_t)~ST_SESSION_STATE_CHANGED;
			memcpy(eof, p, 5);
			eof[3] = (uint8_t)st;
			eof[4] = (uint8_t)(st >> 8);
			c->status = st;
			ok = client_write(c, eof, 5);
		} else {
			ok = client_write(c, p, len);
		}
	}
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
