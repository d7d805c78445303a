/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * test_proto.c: unit tests for the wire codec.  Expected bytes come from
 * PROTOCOL.md, captured server traffic and digests computed separately. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proto.h"
#include "tap.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Decode hex (spaces allowed) into <out>; returns the byte count. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		if (n >= cap || sscanf(s, "%2x", &v) != 1) {
			fprintf(stderr, "bad hex fixture\n");
			exit(2);
		}
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static bool mem_eq(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool str_eq(const void *p, size_t n, const char *s)
{
	return p && mem_eq(p, n, s, strlen(s));
}

/* Remove the first logical packet from <ev> into a malloc'd payload. */
static uint8_t *pull_payload(struct evbuffer *ev, size_t *len, uint8_t *seq)
{
	uint32_t l;
	uint8_t *p;

	if (!proto_peek_header(ev, &l, seq) || evbuffer_get_length(ev) < 4 + (size_t)l)
		return NULL;
	evbuffer_drain(ev, 4);
	p = malloc(l ? l : 1);
	evbuffer_remove(ev, p, l);
	*len = l;
	return p;
}

/* ------------------------------------------------------------------ */

static void test_lenenc(void)
{
	static const struct {
		uint64_t v;
		size_t size;
		uint8_t first;
	} cases[] = {
		{ 0, 1, 0x00 },		{ 250, 1, 0xFA },	 { 251, 3, 0xFC },
		{ 0xFFFF, 3, 0xFC },	{ 0x10000, 4, 0xFD },	 { 0xFFFFFF, 4, 0xFD },
		{ 0x1000000, 9, 0xFE }, { UINT64_MAX, 9, 0xFE },
	};
	struct pktbuf pb;
	struct proto_rd r;
	uint8_t buf[16];
	bool null;
	size_t i;

	pktbuf_init(&pb);
	for (i = 0; i < NELEM(cases); i++) {
		pktbuf_reset(&pb);
		pktbuf_put_lenenc(&pb, cases[i].v);
		ok(!pb.failed && pb.len == cases[i].size &&
			   proto_lenenc_size(cases[i].v) == cases[i].size,
		   "lenenc %llu encodes in %zu bytes", (unsigned long long)cases[i].v,
		   cases[i].size);
		ok(pb.buf[0] == cases[i].first, "lenenc %llu prefix 0x%02x",
		   (unsigned long long)cases[i].v, cases[i].first);
		proto_rd_init(&r, pb.buf, pb.len);
		ok(proto_rd_lenenc(&r, &null) == cases[i].v && !r.failed && !null &&
			   proto_rd_left(&r) == 0,
		   "lenenc %llu decodes back", (unsigned long long)cases[i].v);
		/* every strict prefix of the encoding must fail */
		if (pb.len > 1) {
			proto_rd_init(&r, pb.buf, pb.len - 1);
			proto_rd_lenenc(&r, NULL);
			ok(r.failed, "lenenc %llu truncated fails", (unsigned long long)cases[i].v);
		}
	}
	pktbuf_free(&pb);

	buf[0] = 0xFB;
	proto_rd_init(&r, buf, 1);
	ok(proto_rd_lenenc(&r, &null) == 0 && null && !r.failed, "0xFB is NULL");
	proto_rd_init(&r, buf, 1);
	proto_rd_lenenc(&r, NULL);
	ok(r.failed, "0xFB rejected where NULL is not allowed");
	buf[0] = 0xFF;
	proto_rd_init(&r, buf, 1);
	proto_rd_lenenc(&r, &null);
	ok(r.failed, "0xFF rejected as lenenc");
	buf[0] = 0xFC;
	buf[1] = 0x05; /* non-minimal but legal: decoded as 5 */
	buf[2] = 0x00;
	proto_rd_init(&r, buf, 3);
	ok(proto_rd_lenenc(&r, NULL) == 5 && !r.failed, "non-minimal 0xFC 5 decodes");
}

static void test_reader(void)
{
	static const uint8_t b[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09 };
	static const uint8_t noterm[] = { 'a', 'b', 'c' };
	static const uint8_t term[] = { 'a', 'b', 0, 'z' };
	static const uint8_t lstr[] = { 0x03, 'a', 'b' };
	struct proto_rd r;
	const char *s;
	const uint8_t *p;
	size_t n;

	proto_rd_init(&r, b, sizeof(b));
	ok(proto_rd_u16(&r) == 0x0201, "u16 little-endian");
	ok(proto_rd_u24(&r) == 0x050403, "u24 little-endian");
	ok(proto_rd_u32(&r) == 0x09080706 && proto_rd_left(&r) == 0,
	   "u32 little-endian, all consumed");
	proto_rd_init(&r, b, sizeof(b));
	ok(proto_rd_u64(&r) == 0x0807060504030201ull && proto_rd_left(&r) == 1,
	   "u64 little-endian");

	proto_rd_init(&r, b, 1);
	ok(proto_rd_u16(&r) == 0 && r.failed, "u16 on 1 byte fails");
	proto_rd_init(&r, b, 2);
	ok(proto_rd_u24(&r) == 0 && r.failed, "u24 on 2 bytes fails");
	proto_rd_init(&r, b, 3);
	ok(proto_rd_u32(&r) == 0 && r.failed, "u32 on 3 bytes fails");
	proto_rd_init(&r, b, 7);
	ok(proto_rd_u64(&r) == 0 && r.failed, "u64 on 7 bytes fails");
	proto_rd_init(&r, b, 0);
	ok(proto_rd_u8(&r) == 0 && r.failed, "u8 on empty fails");
	proto_rd_init(&r, b, 4);
	ok(proto_rd_bytes(&r, 5) == NULL && r.failed, "bytes past end fail");
	proto_rd_init(&r, b, 4);
	ok(proto_rd_bytes(&r, SIZE_MAX) == NULL && r.failed, "huge byte count fails");

	/* sticky: after a failure even an in-bounds read returns nothing */
	proto_rd_init(&r, b, 3);
	proto_rd_u32(&r);
	ok(proto_rd_u8(&r) == 0 && r.failed && proto_rd_left(&r) == 0, "failure is sticky");

	proto_rd_init(&r, noterm, sizeof(noterm));
	ok(proto_rd_strnul(&r, &n) == NULL && r.failed, "strnul without NUL fails");
	proto_rd_init(&r, term, sizeof(term));
	s = proto_rd_strnul(&r, &n);
	ok(str_eq(s, n, "ab") && proto_rd_left(&r) == 1, "strnul stops after NUL");

	proto_rd_init(&r, lstr, sizeof(lstr));
	ok(proto_rd_lenenc_str(&r, &n, NULL) == NULL && r.failed,
	   "lenenc string longer than payload fails");
	proto_rd_init(&r, lstr, 3);
	proto_rd_bytes(&r, 1);
	p = proto_rd_rest(&r, &n);
	ok(p == lstr + 1 && n == 2 && proto_rd_left(&r) == 0, "rest returns the tail");
}

static void test_pktbuf(void)
{
	struct pktbuf pb;
	size_t before;

	pktbuf_init(&pb);
	pktbuf_put_u8(&pb, 1);
	pktbuf_put_u16(&pb, 0x0302);
	pktbuf_put_u24(&pb, 0x060504);
	pktbuf_put_u32(&pb, 0x0A090807);
	pktbuf_put_u64(&pb, 0x1211100F0E0D0C0Bull);
	pktbuf_put_strnul(&pb, "xy");
	{
		static const uint8_t want[] = { 1,  2,	3,  4,	5,  6,	7,  8,	 9,   10, 11,
						12, 13, 14, 15, 16, 17, 18, 'x', 'y', 0 };
		ok(!pb.failed && mem_eq(pb.buf, pb.len, want, sizeof(want)),
		   "pktbuf puts little-endian integers and strings");
	}
	before = pb.len;
	pktbuf_put_zero(&pb, (size_t)1024 * 1024 * 1024 + 65);
	ok(pb.failed && pb.len == before, "pktbuf refuses to pass 1 GiB + 64");
	pktbuf_put_u8(&pb, 7);
	ok(pb.failed && pb.len == before, "pktbuf failure is sticky");
	pktbuf_put_bytes(&pb, NULL, SIZE_MAX);
	ok(pb.failed && pb.len == before, "size overflow does not wrap");
	pktbuf_reset(&pb);
	pktbuf_put_u8(&pb, 7);
	ok(!pb.failed && pb.len == 1 && pb.buf[0] == 7, "reset clears the failure");
	pktbuf_reset(&pb);
	pktbuf_put_packet(&pb, 9, "abc", 3);
	pktbuf_put_packet(&pb, 10, NULL, 0);
	{
		static const uint8_t want[] = { 3, 0, 0, 9, 'a', 'b', 'c', 0, 0, 0, 10 };
		ok(!pb.failed && mem_eq(pb.buf, pb.len, want, sizeof(want)),
		   "pktbuf puts whole packets, an empty one too");
	}
	before = pb.len;
	pktbuf_put_packet(&pb, 0, NULL, PROTO_MAX_PAYLOAD);
	ok(pb.failed && pb.len == before, "a packet that needs a continuation is refused");
	pktbuf_free(&pb);
}

/* ------------------------------------------------------------------ */

static void test_framing(void)
{
	static const struct {
		size_t len;
		uint8_t seq0;
		unsigned nchunks;
		uint32_t lens[3];
	} cases[] = {
		{ 0, 0, 1, { 0 } },
		{ 5, 3, 1, { 5 } },
		/* either side of the one-add path's bound */
		{ 255, 0, 1, { 255 } },
		{ 256, 9, 1, { 256 } },
		{ 257, 0, 1, { 257 } },
		{ 65536, 0, 1, { 65536 } },
		{ 0xFFFFFE, 0, 1, { 0xFFFFFE } },
		{ 0xFFFFFF, 7, 2, { 0xFFFFFF, 0 } },
		{ 0xFFFFFF + 10, 0, 2, { 0xFFFFFF, 10 } },
		{ 0xFFFFFF + 10, 255, 2, { 0xFFFFFF, 10 } }, /* seq wraps */
		{ 2 * 0xFFFFFFu, 254, 3, { 0xFFFFFF, 0xFFFFFF, 0 } },
	};
	size_t i, max = 2 * 0xFFFFFFu + 1;
	uint8_t *src = malloc(max), *dst = malloc(max);
	size_t k;

	for (k = 0; k < max; k++)
		src[k] = (uint8_t)(k * 131 + 7);
	for (i = 0; i < NELEM(cases); i++) {
		struct evbuffer *ev = evbuffer_new();
		uint8_t seq = cases[i].seq0, hseq;
		uint32_t hlen;
		size_t off = 0;
		unsigned c;
		bool good = true;

		ok(proto_write_packet(ev, &seq, src, cases[i].len), "write %zu bytes",
		   cases[i].len);
		ok(evbuffer_get_length(ev) == cases[i].len + 4 * cases[i].nchunks,
		   "%zu bytes: %u chunks on the wire", cases[i].len, cases[i].nchunks);
		for (c = 0; c < cases[i].nchunks; c++) {
			if (!proto_peek_header(ev, &hlen, &hseq) || hlen != cases[i].lens[c] ||
			    hseq != (uint8_t)(cases[i].seq0 + c)) {
				good = false;
				break;
			}
			evbuffer_drain(ev, 4);
			evbuffer_remove(ev, dst + off, hlen);
			off += hlen;
		}
		ok(good && evbuffer_get_length(ev) == 0,
		   "%zu bytes: chunk headers carry lengths and seq from %u", cases[i].len,
		   cases[i].seq0);
		ok(off == cases[i].len && (off == 0 || memcmp(src, dst, off) == 0),
		   "%zu bytes: payload reassembles", cases[i].len);
		ok(seq == (uint8_t)(cases[i].seq0 + cases[i].nchunks),
		   "%zu bytes: seq advanced by %u (mod 256)", cases[i].len, cases[i].nchunks);
		evbuffer_free(ev);
	}
	free(src);
	free(dst);
}

static void test_peek(void)
{
	struct evbuffer *ev = evbuffer_new();
	uint8_t hdr[4] = { 0x34, 0x12, 0x01, 0x09 };
	uint32_t len = 0;
	uint8_t seq = 0;

	evbuffer_add(ev, hdr, 3);
	ok(!proto_peek_header(ev, &len, &seq), "peek needs 4 bytes");
	evbuffer_add(ev, hdr + 3, 1);
	ok(proto_peek_header(ev, &len, &seq) && len == 0x011234 && seq == 9,
	   "peek decodes length and seq");
	ok(evbuffer_get_length(ev) == 4, "peek does not consume");
	evbuffer_free(ev);
}

/* ------------------------------------------------------------------ */

static void test_ok_err_eof(void)
{
	static const struct {
		uint64_t affected, insert_id;
		uint16_t status, warnings;
		const char *info;
	} oks[] = {
		{ 0, 0, ST_AUTOCOMMIT, 0, NULL },
		{ 2, 1, ST_AUTOCOMMIT, 0, "Records: 2  Duplicates: 0  Warnings: 0" },
		{ 300, 0x10000, ST_IN_TRANS, 3, "" },
		{ UINT64_MAX, 0xFFFFFF, 0xFFFF & ~ST_SESSION_STATE_CHANGED, 0xFFFF, "x" },
	};
	static const uint32_t capsets[] = { 0, CAP_SESSION_TRACK };
	static const uint8_t ping_ok[] = { 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00 };
	struct proto_ok o;
	struct proto_err e;
	size_t i, j, len;
	uint8_t *p, seq;
	uint16_t w, st;
	char longmsg[700];

	for (i = 0; i < NELEM(oks); i++) {
		for (j = 0; j < NELEM(capsets); j++) {
			struct evbuffer *ev = evbuffer_new();
			const char *info = oks[i].info ? oks[i].info : "";

			seq = 1;
			ok(proto_send_ok(ev, &seq, oks[i].affected, oks[i].insert_id, oks[i].status,
					 oks[i].warnings, oks[i].info) &&
				   seq == 2,
			   "send OK #%zu", i);
			p = pull_payload(ev, &len, &seq);
			ok(p && seq == 1 && proto_parse_ok(p, len, capsets[j], &o),
			   "OK #%zu parses (caps %#x)", i, capsets[j]);
			ok(o.affected == oks[i].affected && o.insert_id == oks[i].insert_id &&
				   o.status == oks[i].status && o.warnings == oks[i].warnings,
			   "OK #%zu fields round trip", i);
			ok(o.info_len == strlen(info) &&
				   (o.info_len == 0 || memcmp(o.info, info, o.info_len) == 0) &&
				   o.state == NULL,
			   "OK #%zu info round trip", i);
			free(p);
			evbuffer_free(ev);
		}
	}

	/* the smallest OK, as MariaDB answers a PING */
	{
		struct evbuffer *ev = evbuffer_new();

		seq = 1;
		proto_send_ok(ev, &seq, 0, 0, ST_AUTOCOMMIT, 0, NULL);
		p = pull_payload(ev, &len, &seq);
		ok(p && mem_eq(p, len, ping_ok, sizeof(ping_ok)), "OK matches server bytes");
		free(p);
		evbuffer_free(ev);
	}

	/* ERR */
	{
		struct evbuffer *ev = evbuffer_new();
		static const uint8_t live[] = { 0xff, 0x19, 0x04, '#', '4', '2', '0', '0',
						'0',  'U',  'n',  'k', 'n', 'o', 'w', 'n' };

		seq = 0;
		ok(proto_send_err(ev, &seq, 1049, "42000", "Unknown") && seq == 1, "send ERR");
		p = pull_payload(ev, &len, &seq);
		ok(p && mem_eq(p, len, live, sizeof(live)), "ERR matches server layout");
		ok(proto_parse_err(p, len, &e) && e.code == 1049 &&
			   strcmp(e.sqlstate, "42000") == 0 && str_eq(e.msg, e.msg_len, "Unknown"),
		   "ERR parses back");
		free(p);

		memset(longmsg, 'm', sizeof(longmsg) - 1);
		longmsg[sizeof(longmsg) - 1] = '\0';
		proto_send_err(ev, &seq, 1045, "bad", "%s", longmsg);
		p = pull_payload(ev, &len, &seq);
		ok(p && proto_parse_err(p, len, &e) && e.msg_len == 511 && e.code == 1045,
		   "ERR message truncated to 511 bytes");
		ok(strcmp(e.sqlstate, "HY000") == 0, "malformed sqlstate becomes HY000");
		free(p);
		evbuffer_free(ev);

		/* greeting-time ERR without '#sqlstate' */
		{
			static const uint8_t nost[] = { 0xff, 0x10, 0x04, 'T', 'o', 'o' };

			ok(proto_parse_err(nost, sizeof(nost), &e) && e.code == 1040 &&
				   e.sqlstate[0] == '\0' && str_eq(e.msg, e.msg_len, "Too"),
			   "ERR without sqlstate");
			ok(!proto_parse_err(nost, 2, &e), "ERR truncated in code fails");
			ok(!proto_parse_err(ping_ok, sizeof(ping_ok), &e), "OK is not ERR");
		}
	}

	/* EOF */
	{
		struct evbuffer *ev = evbuffer_new();
		static const uint8_t live[] = { 0xfe, 0x01, 0x00, 0x22, 0x00 };

		seq = 4;
		ok(proto_send_eof(ev, &seq, 1, 0x22) && seq == 5, "send EOF");
		p = pull_payload(ev, &len, &seq);
		ok(p && mem_eq(p, len, live, sizeof(live)) && seq == 4, "EOF bytes");
		ok(proto_is_eof(p, len) && proto_parse_eof(p, len, &w, &st) && w == 1 && st == 0x22,
		   "EOF parses back");
		free(p);
		evbuffer_free(ev);
	}
	{
		uint8_t row[9] = { 0xfe };

		ok(!proto_is_eof(row, 9), "0xFE packet of 9 bytes is not EOF");
		ok(proto_is_eof(row, 8), "0xFE packet of 8 bytes is EOF");
		ok(!proto_is_eof(row, 0), "empty packet is not EOF");
		ok(!proto_parse_eof(row, 3, &w, &st), "short EOF fails to parse");
	}
}

static void test_ok_session(void)
{
	/* USE mysql, as captured: info "" + state block SCHEMA "mysql" */
	static const char use_hex[] = "00 00 00 02 40 00 00 00 08 01 06 05 6d 79 73 71 6c";
	/* SET autocommit=0: SYSTEM_VARIABLES autocommit=OFF */
	static const char ac_hex[] = "00 00 00 00 40 00 00 00 11 00 0f 0a 61 75 74 6f 63 6f"
				     "6d 6d 69 74 03 4f 46 46";
	static const uint8_t plain_use[] = { 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00 };
	static const uint8_t plain_ac[] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t schema_entry[] = { 0x01, 0x06, 0x05, 'm', 'y', 's', 'q', 'l' };
	uint8_t b[64];
	size_t n;
	struct proto_ok o;
	struct pktbuf pb;

	pktbuf_init(&pb);
	n = unhex(use_hex, b, sizeof(b));
	ok(proto_parse_ok(b, n, CAP_SESSION_TRACK, &o), "session-track OK parses");
	ok(o.status == (ST_AUTOCOMMIT | ST_SESSION_STATE_CHANGED) && o.info_len == 0,
	   "status and empty info");
	ok(o.state && mem_eq(o.state, o.state_len, schema_entry, sizeof(schema_entry)),
	   "state block without its length");
	ok(proto_build_ok_plain(&pb, &o) && mem_eq(pb.buf, pb.len, plain_use, sizeof(plain_use)),
	   "plain OK drops the state and the flag");

	n = unhex(ac_hex, b, sizeof(b));
	ok(proto_parse_ok(b, n, CAP_SESSION_TRACK, &o) && o.state_len == 17 && o.state[0] == 0x00 &&
		   o.state[2] == 10,
	   "system-variable state block");
	pktbuf_reset(&pb);
	ok(proto_build_ok_plain(&pb, &o) && mem_eq(pb.buf, pb.len, plain_ac, sizeof(plain_ac)),
	   "plain OK for SET autocommit");

	ok(!proto_parse_ok(b, n - 1, CAP_SESSION_TRACK, &o), "truncated state block fails");
	ok(!proto_parse_ok(b, 6, CAP_SESSION_TRACK, &o), "OK without warnings fails");

	/* OK-with-0xFE, the DEPRECATE_EOF terminator */
	n = unhex("fe 00 00 02 00 00 00", b, sizeof(b));
	ok(proto_parse_ok(b, n, 0, &o) && o.status == ST_AUTOCOMMIT, "0xFE OK accepted");
	b[0] = 0xff;
	ok(!proto_parse_ok(b, n, 0, &o), "0xFF header rejected");

	/* an info message survives the plain rebuild */
	n = unhex("00 02 01 02 00 00 00 05 68 65 6c 6c 6f", b, sizeof(b));
	pktbuf_reset(&pb);
	ok(proto_parse_ok(b, n, CAP_SESSION_TRACK, &o) && proto_build_ok_plain(&pb, &o) &&
		   mem_eq(pb.buf, pb.len, b, n),
	   "plain OK keeps non-empty info");
	/* string<EOF> info (MySQL without SESSION_TRACK) */
	n = unhex("00 01 00 02 00 00 00 52 6f 77 73", b, sizeof(b));
	ok(proto_parse_ok(b, n, 0, &o) && str_eq(o.info, o.info_len, "Rows"),
	   "string<EOF> info tolerated");
	pktbuf_free(&pb);
}

/* ------------------------------------------------------------------ */

static const char greeting_hex[] = "0a352e352e352d31302e31312e31392d4d617269614442"
				   "2d302b646562313275310004000000"
				   "7b5a2f7a3e614e4500"
				   "fef7"
				   "08"
				   "0200"
				   "ff81"
				   "15"
				   "000000000000"
				   "1d000000"
				   "4c2e40362f2877463471"
				   "5f6600"
				   "6d7973716c5f6e61746976655f70617373776f726400";

static void test_greeting(void)
{
	static const char scr_hex[] = "7b5a2f7a3e614e45 4c2e40362f28774634715f66";
	uint8_t g[128], scr[20];
	struct proto_greeting gr;
	struct pktbuf pb;
	size_t n, i;
	bool all;

	n = unhex(greeting_hex, g, sizeof(g));
	unhex(scr_hex, scr, sizeof(scr));
	ok(n == 100, "real greeting fixture is 100 bytes");
	ok(proto_parse_greeting(g, n, &gr), "real MariaDB greeting parses");
	ok(gr.protocol == 10 &&
		   str_eq(gr.version, gr.version_len, "5.5.5-10.11.19-MariaDB-0+deb12u1"),
	   "version");
	ok(gr.thread_id == 4 && gr.caps == 0x81fff7feu && gr.collation == 8 && gr.status == 2,
	   "thread id, caps, collation, status");
	ok(gr.ext_caps == 0x1d, "MariaDB ext caps (bit 0 clear)");
	ok(gr.scramble_len == 20 && memcmp(gr.scramble, scr, 20) == 0, "20-byte scramble");
	ok(str_eq(gr.plugin, gr.plugin_len, "mysql_native_password"), "plugin name");

	/* our builder writes the same bytes, ext caps aside */
	pktbuf_init(&pb);
	ok(proto_build_greeting(&pb, "5.5.5-10.11.19-MariaDB-0+deb12u1", 4, scr, 0x81fff7feu, 0x1d,
				8, 2, "mysql_native_password"),
	   "build greeting");
	ok(mem_eq(pb.buf, pb.len, g, n), "built greeting equals the server's bytes, ext caps too");
	pktbuf_reset(&pb);
	proto_build_greeting(&pb, "5.5.5-10.11.19-MariaDB-0+deb12u1", 4, scr,
			     0x81fff7feu | CAP_LONG_PASSWORD, 0x1d, 8, 2, "mysql_native_password");
	ok(proto_parse_greeting(pb.buf, pb.len, &gr) && gr.ext_caps == 0 &&
		   pb.buf[1 + 33 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 6] == 0,
	   "no ext caps beside CAP_LONG_PASSWORD");
	pktbuf_reset(&pb);

	/* round trip with different values, CAP_LONG_PASSWORD set */
	pktbuf_reset(&pb);
	for (i = 0; i < 20; i++)
		scr[i] = (uint8_t)(0x21 + i * 3);
	proto_build_greeting(&pb, "11.0-test", 0xDEADBEEF, scr,
			     CAP_LONG_PASSWORD | CAP_PROTOCOL_41 | CAP_SECURE_CONNECTION |
				     CAP_PLUGIN_AUTH | CAP_DEPRECATE_EOF,
			     0x1d, 45, ST_AUTOCOMMIT | ST_IN_TRANS, "caching_sha2_password");
	ok(proto_parse_greeting(pb.buf, pb.len, &gr) && gr.thread_id == 0xDEADBEEF &&
		   gr.caps == (CAP_LONG_PASSWORD | CAP_PROTOCOL_41 | CAP_SECURE_CONNECTION |
			       CAP_PLUGIN_AUTH | CAP_DEPRECATE_EOF) &&
		   gr.collation == 45 && gr.status == 3 && gr.ext_caps == 0 &&
		   memcmp(gr.scramble, scr, 20) == 0 &&
		   str_eq(gr.version, gr.version_len, "11.0-test") &&
		   str_eq(gr.plugin, gr.plugin_len, "caching_sha2_password"),
	   "greeting build -> parse round trip");
	pktbuf_free(&pb);

	ok(proto_parse_greeting(g, n - 1, &gr) &&
		   str_eq(gr.plugin, gr.plugin_len, "mysql_native_password"),
	   "plugin name without final NUL tolerated");
	g[0] = 9;
	ok(!proto_parse_greeting(g, n, &gr), "protocol 9 rejected");
	g[0] = 10;

	/* every prefix: no crash; cut inside the mandatory part fails */
	all = true;
	for (i = 0; i < n; i++) {
		uint8_t *cut = malloc(i ? i : 1);

		memcpy(cut, g, i);
		if (proto_parse_greeting(cut, i, &gr) && i < 1 + 33 + 4 + 8 + 1 + 2)
			all = false;
		free(cut);
	}
	ok(all, "greeting prefixes without the fixed part are rejected");
}

/* ------------------------------------------------------------------ */

static void test_hsresp(void)
{
	static const uint32_t base =
		CAP_LONG_PASSWORD | CAP_PROTOCOL_41 | CAP_SECURE_CONNECTION | CAP_TRANSACTIONS;
	static const uint32_t optional[] = { CAP_CONNECT_WITH_DB, CAP_PLUGIN_AUTH,
					     CAP_CONNECT_ATTRS, CAP_PLUGIN_AUTH_LENENC };
	static const uint8_t attrs[] = { 0x04, '_', 'p', 'i', 'd', 0x03, '1', '2', '3' };
	uint8_t auth[20];
	struct proto_hsresp h;
	struct pktbuf pb;
	unsigned mask, i;
	size_t k;

	for (k = 0; k < sizeof(auth); k++)
		auth[k] = (uint8_t)(0xA0 + k);
	pktbuf_init(&pb);
	for (mask = 0; mask < 16; mask++) {
		uint32_t caps = base;
		const char *db = (mask & 1) ? "shop" : NULL;
		bool good;

		for (i = 0; i < 4; i++)
			if (mask & (1u << i))
				caps |= optional[i];
		/* with CONNECT_WITH_DB also try the NULL database */
		for (k = 0; k < ((mask & 1) ? 2u : 1u); k++) {
			const char *d = k ? NULL : db;

			pktbuf_reset(&pb);
			good = proto_build_hsresp(&pb, caps, 0, 0x1000000, 45, "app", auth,
						  sizeof(auth), d, "mysql_native_password", attrs,
						  sizeof(attrs));
			good = good && proto_parse_hsresp(pb.buf, pb.len, &h);
			good = good && !h.ssl_request && h.caps == caps &&
			       h.max_packet == 0x1000000 && h.collation == 45 && h.ext_caps == 0 &&
			       str_eq(h.user, h.user_len, "app") &&
			       mem_eq(h.auth, h.auth_len, auth, sizeof(auth));
			if (d)
				good = good && str_eq(h.db, h.db_len, d);
			else
				good = good && h.db == NULL;
			if (caps & CAP_PLUGIN_AUTH)
				good = good &&
				       str_eq(h.plugin, h.plugin_len, "mysql_native_password");
			else
				good = good && h.plugin == NULL;
			if (caps & CAP_CONNECT_ATTRS)
				good = good && mem_eq(h.attrs, h.attrs_len, attrs, sizeof(attrs));
			else
				good = good && h.attrs == NULL;
			ok(good, "handshake response round trip, caps %#x db %s", caps,
			   d ? d : "NULL");
		}
	}

	/* an empty auth and a long one under LENENC */
	{
		uint8_t big[300];

		memset(big, 0x5A, sizeof(big));
		pktbuf_reset(&pb);
		ok(proto_build_hsresp(&pb, base | CAP_PLUGIN_AUTH_LENENC, 0, 0, 8, "u", big,
				      sizeof(big), NULL, NULL, NULL, 0) &&
			   proto_parse_hsresp(pb.buf, pb.len, &h) &&
			   mem_eq(h.auth, h.auth_len, big, sizeof(big)),
		   "300-byte auth under PLUGIN_AUTH_LENENC");
		pktbuf_reset(&pb);
		ok(!proto_build_hsresp(&pb, base, 0, 0, 8, "u", big, sizeof(big), NULL, NULL, NULL, 0),
		   "300-byte auth without LENENC cannot be built");
		pktbuf_reset(&pb);
		ok(proto_build_hsresp(&pb, base, 0, 0, 8, "", NULL, 0, NULL, NULL, NULL, 0) &&
			   proto_parse_hsresp(pb.buf, pb.len, &h) && h.user_len == 0 &&
			   h.auth_len == 0,
		   "empty user and auth");
	}

	/* SSLRequest */
	{
		uint8_t ssl[40];

		memset(ssl, 0, sizeof(ssl));
		ssl[0] = 0x00;
		ssl[1] = (uint8_t)((CAP_SSL | CAP_SECURE_CONNECTION | CAP_PROTOCOL_41) >> 8);
		ssl[8] = 45;
		ok(proto_parse_hsresp(ssl, 32, &h) && h.ssl_request && h.collation == 45 &&
			   (h.caps & CAP_SSL),
		   "SSLRequest detected");
		ssl[1] &= (uint8_t) ~(CAP_SSL >> 8);
		ok(!proto_parse_hsresp(ssl, 32, &h) || !h.ssl_request,
		   "32 bytes without SSL bit is not an SSLRequest");
		ok(!proto_parse_hsresp(ssl, 31, &h), "31 bytes rejected");
	}

	/* every prefix of a full response: never crash, and prefixes that
	 * cut the user or the auth blob must fail */
	{
		uint32_t caps = base | CAP_CONNECT_WITH_DB | CAP_PLUGIN_AUTH | CAP_CONNECT_ATTRS |
				CAP_PLUGIN_AUTH_LENENC;
		size_t user_end = 32 + 4;		       /* "app" + NUL */
		size_t auth_end = user_end + 1 + sizeof(auth); /* lenenc len + data */
		bool good = true;

		pktbuf_reset(&pb);
		proto_build_hsresp(&pb, caps, 0, 0, 45, "app", auth, sizeof(auth), "shop",
				   "mysql_native_password", attrs, sizeof(attrs));
		for (k = 0; k <= pb.len; k++) {
			uint8_t *cut = malloc(k ? k : 1);
			bool r;

			memcpy(cut, pb.buf, k);
			r = proto_parse_hsresp(cut, k, &h);
			if (k < user_end && r)
				good = false;
			if (k > user_end && k < auth_end && r)
				good = false;
			if (k == pb.len && !r)
				good = false;
			free(cut);
		}
		ok(good, "every prefix of a %zu-byte response parsed safely", pb.len);
		/* attrs whose total overruns the payload */
		pb.buf[pb.len - sizeof(attrs) - 1] = (uint8_t)(sizeof(attrs) + 1);
		ok(!proto_parse_hsresp(pb.buf, pb.len, &h), "attrs length past end fails");
	}
	pktbuf_free(&pb);
}

static void test_change_user(void)
{
	static const uint8_t attrs[] = { 0x01, 'k', 0x01, 'v' };
	uint8_t auth[20];
	struct proto_chuser cu;
	struct pktbuf pb;
	uint32_t caps = CAP_SECURE_CONNECTION | CAP_PLUGIN_AUTH | CAP_CONNECT_ATTRS;
	size_t k;

	for (k = 0; k < sizeof(auth); k++)
		auth[k] = (uint8_t)(k + 1);
	pktbuf_init(&pb);
	pktbuf_put_strnul(&pb, "bob");
	pktbuf_put_u8(&pb, sizeof(auth));
	pktbuf_put_bytes(&pb, auth, sizeof(auth));
	pktbuf_put_strnul(&pb, "shop");
	pktbuf_put_u16(&pb, 224);
	pktbuf_put_strnul(&pb, "mysql_native_password");
	pktbuf_put_lenenc_str(&pb, attrs, sizeof(attrs));
	ok(proto_parse_change_user(pb.buf, pb.len, caps, &cu) &&
		   str_eq(cu.user, cu.user_len, "bob") &&
		   mem_eq(cu.auth, cu.auth_len, auth, sizeof(auth)) &&
		   str_eq(cu.db, cu.db_len, "shop") && cu.has_collation && cu.collation == 224 &&
		   str_eq(cu.plugin, cu.plugin_len, "mysql_native_password") &&
		   mem_eq(cu.attrs, cu.attrs_len, attrs, sizeof(attrs)),
	   "full COM_CHANGE_USER parses");

	/* only user, auth, db: the older form */
	pktbuf_reset(&pb);
	pktbuf_put_strnul(&pb, "bob");
	pktbuf_put_u8(&pb, 0);
	pktbuf_put_strnul(&pb, "");
	ok(proto_parse_change_user(pb.buf, pb.len, caps, &cu) && cu.auth_len == 0 &&
		   cu.db == NULL && !cu.has_collation && cu.plugin == NULL && cu.attrs == NULL,
	   "minimal COM_CHANGE_USER parses");

	/* auth length past the end */
	pktbuf_reset(&pb);
	pktbuf_put_strnul(&pb, "bob");
	pktbuf_put_u8(&pb, 20);
	pktbuf_put_bytes(&pb, auth, 5);
	ok(!proto_parse_change_user(pb.buf, pb.len, caps, &cu), "short auth rejected");

	/* without SECURE_CONNECTION the auth is a NUL string */
	pktbuf_reset(&pb);
	pktbuf_put_strnul(&pb, "bob");
	pktbuf_put_strnul(&pb, "oldpw");
	pktbuf_put_strnul(&pb, "db1");
	ok(proto_parse_change_user(pb.buf, pb.len, 0, &cu) &&
		   str_eq(cu.auth, cu.auth_len, "oldpw") && str_eq(cu.db, cu.db_len, "db1"),
	   "pre-4.1 auth string");

	ok(!proto_parse_change_user((const uint8_t *)"bob", 3, caps, &cu),
	   "user without NUL rejected");
	pktbuf_free(&pb);
}

/* ------------------------------------------------------------------ */

static void test_coldef(void)
{
	/* SELECT 1 AS a, per PROTOCOL.md: charset 63, length 1, type LONG,
	 * flags 0x81, decimals 0 */
	static const char live_hex[] = "03 64 65 66 00 00 00 01 61 00 0c 3f 00 01 00 00 00"
				       "03 81 00 00 00 00";
	struct proto_coldef in, out;
	struct pktbuf pb;
	uint8_t b[64];
	size_t n;

	n = unhex(live_hex, b, sizeof(b));
	ok(proto_parse_coldef(b, n, false, &out) && str_eq(out.catalog, out.catalog_len, "def") &&
		   out.schema_len == 0 && str_eq(out.name, out.name_len, "a") &&
		   out.charset == 63 && out.length == 1 && out.type == 3 && out.flags == 0x81 &&
		   out.decimals == 0,
	   "column definition for SELECT 1 AS a");
	ok(proto_parse_coldef(b, n - 2, false, &out) && out.decimals == 0 && out.flags == 0x81,
	   "missing filler tolerated");
	ok(!proto_parse_coldef(b, n - 3, false, &out), "missing decimals rejected");

	/* JSON column with a MariaDB EXTENDED_METADATA blob (01 04 "json") */
	n = unhex("03 64 65 66 00 00 00 01 6a 00 06 01 04 6a 73 6f 6e 0c 2d 00 ff ff ff ff"
		  "fc 90 00 27 00 00",
		  b, sizeof(b));
	ok(proto_parse_coldef(b, n, true, &out) && str_eq(out.name, out.name_len, "j") &&
		   out.type == 0xFC && out.length == 0xFFFFFFFF && out.charset == 45 &&
		   out.flags == 0x90 && out.decimals == 0x27,
	   "extended metadata blob skipped");

	memset(&in, 0, sizeof(in));
	in.catalog = (const uint8_t *)"def";
	in.catalog_len = 3;
	in.schema = (const uint8_t *)"shop";
	in.schema_len = 4;
	in.table = (const uint8_t *)"u";
	in.table_len = 1;
	in.org_table = (const uint8_t *)"users";
	in.org_table_len = 5;
	in.name = (const uint8_t *)"id";
	in.name_len = 2;
	in.org_name = (const uint8_t *)"user_id";
	in.org_name_len = 7;
	in.charset = 45;
	in.length = 0xFFFFFFFF;
	in.type = 0xFC;
	in.flags = 0x4203;
	in.decimals = 0x27;
	pktbuf_init(&pb);
	ok(proto_build_coldef(&pb, &in) && pb.len == 4 + 5 + 2 + 6 + 3 + 8 + 13,
	   "build column definition");
	ok(pb.buf[pb.len - 1] == 0 && pb.buf[pb.len - 2] == 0 && pb.buf[pb.len - 13] == 0x0C,
	   "standard tail: 0x0C ... 00 00");
	ok(proto_parse_coldef(pb.buf, pb.len, false, &out) &&
		   mem_eq(out.schema, out.schema_len, "shop", 4) &&
		   mem_eq(out.table, out.table_len, "u", 1) &&
		   mem_eq(out.org_table, out.org_table_len, "users", 5) &&
		   mem_eq(out.org_name, out.org_name_len, "user_id", 7) && out.charset == 45 &&
		   out.length == 0xFFFFFFFF && out.type == 0xFC && out.flags == 0x4203 &&
		   out.decimals == 0x27,
	   "column definition round trip");
	pktbuf_free(&pb);
}

static void test_text_row(void)
{
	/* SELECT 1, NULL, 'x', 1.5 */
	static const uint8_t row[] = { 0x01, '1', 0xfb, 0x01, 'x', 0x03, '1', '.', '5' };
	static const uint8_t empty[] = { 0x00, 0xfb };
	const uint8_t *vals[8];
	size_t lens[8];

	ok(proto_parse_text_row(row, sizeof(row), 4, vals, lens) && str_eq(vals[0], lens[0], "1") &&
		   vals[1] == NULL && str_eq(vals[2], lens[2], "x") &&
		   str_eq(vals[3], lens[3], "1.5"),
	   "text row with NULL");
	ok(!proto_parse_text_row(row, sizeof(row), 5, vals, lens), "too few fields");
	ok(!proto_parse_text_row(row, sizeof(row), 3, vals, lens), "trailing bytes");
	ok(!proto_parse_text_row(row, sizeof(row) - 1, 4, vals, lens), "truncated field");
	ok(proto_parse_text_row(empty, sizeof(empty), 2, vals, lens) && vals[0] != NULL &&
		   lens[0] == 0 && vals[1] == NULL,
	   "empty string differs from NULL");
	{
		static const uint8_t bad[] = { 0xff, 0x00 };

		ok(!proto_parse_text_row(bad, sizeof(bad), 1, vals, lens), "0xFF field rejected");
	}
}

static void test_binary_row(void)
{
	/* (LONG 1, 'a', LONGLONG -5), as captured */
	static const char live_hex[] = "00 00 01 00 00 00 01 61 fb ff ff ff ff ff ff ff";
	static const uint8_t t3[] = { 3, 253, 8 };
	/* TINY, DATETIME(4-byte body), NULL column, DOUBLE, SHORT, BLOB NULL by bitmap,
	 * TIME(0-byte body), FLOAT, YEAR, NEWDECIMAL */
	static const uint8_t t10[] = { 1, 12, 6, 5, 2, 252, 11, 4, 13, 246 };
	const uint8_t *vals[10];
	size_t lens[10];
	uint8_t b[64];
	size_t n;

	n = unhex(live_hex, b, sizeof(b));
	ok(proto_parse_binary_row(b, n, 3, t3, vals, lens) && lens[0] == 4 && vals[0][0] == 1 &&
		   str_eq(vals[1], lens[1], "a") && lens[2] == 8 && vals[2][0] == 0xfb &&
		   vals[2][7] == 0xff,
	   "binary row LONG, VAR_STRING, LONGLONG");
	ok(!proto_parse_binary_row(b, n - 1, 3, t3, vals, lens), "binary row one byte short");
	b[n] = 0;
	ok(!proto_parse_binary_row(b, n + 1, 3, t3, vals, lens), "binary row one byte long");
	b[0] = 0x01;
	ok(!proto_parse_binary_row(b, n, 3, t3, vals, lens), "binary row bad header");

	/* bitmap: col 5 -> bit 7 (byte 0, 0x80); col 2 typed NULL, not in bitmap */
	n = unhex("00 80 00"
		  "7f"			    /* TINY */
		  "04 e8 07 01 02"	    /* DATETIME 2024-01-02 */
		  "00 00 00 00 00 00 f0 3f" /* DOUBLE 1.0 */
		  "34 12"		    /* SHORT */
		  "00"			    /* TIME, zero length */
		  "00 00 80 3f"		    /* FLOAT 1.0 */
		  "e8 07"		    /* YEAR */
		  "04 31 2e 35 30",	    /* NEWDECIMAL "1.50" */
		  b, sizeof(b));
	ok(proto_parse_binary_row(b, n, 10, t10, vals, lens), "ten-column binary row");
	ok(lens[0] == 1 && vals[0][0] == 0x7f, "TINY value");
	ok(lens[1] == 4 && vals[1][0] == 0xe8 && vals[1][3] == 0x02, "DATETIME body");
	ok(vals[2] == NULL && vals[5] == NULL, "NULL type and NULL bitmap columns");
	ok(lens[3] == 8 && vals[3][7] == 0x3f, "DOUBLE value");
	ok(lens[4] == 2 && vals[4][0] == 0x34, "SHORT value");
	ok(vals[6] != NULL && lens[6] == 0, "zero-length TIME");
	ok(lens[7] == 4 && lens[8] == 2 && str_eq(vals[9], lens[9], "1.50"),
	   "FLOAT, YEAR, NEWDECIMAL");
	ok(!proto_parse_binary_row(b, 2, 10, t10, vals, lens), "bitmap cut short");
	ok(!proto_parse_binary_row(b, n - 1, 10, t10, vals, lens), "lenenc value cut short");
}

/* ------------------------------------------------------------------ */

static void test_scrambles(void)
{
	/* expected values computed separately with Python's hashlib:
	 * nonce "0123456789ABCDEFGHIJ", password "secret" */
	static const char native_hex[] = "98caf366d2b757c855ccd18ae3906cf759fc13f7";
	static const char sha2_hex[] =
		"32d6885bc6810c804853e129951fc8f4ac13e10646d3ff324e2f322fe99c2c50";
	const uint8_t *nonce = (const uint8_t *)"0123456789ABCDEFGHIJ";
	uint8_t want[32], got[32], n1[20], n2[20];
	int i;
	bool printable;

	unhex(native_hex, want, sizeof(want));
	proto_native_scramble(got, nonce, "secret");
	ok(memcmp(got, want, 20) == 0, "native scramble matches reference vector");
	ok(proto_native_check(want, 20, nonce, "secret"), "native check accepts");
	ok(!proto_native_check(want, 20, nonce, "Secret"), "native check rejects wrong pw");
	ok(!proto_native_check(want, 19, nonce, "secret"), "native check rejects short reply");
	ok(!proto_native_check(want, 0, nonce, "secret"), "native: empty reply, pw set");
	ok(proto_native_check(want, 0, nonce, ""), "native: empty reply, empty pw");
	ok(!proto_native_check(want, 20, nonce, ""), "native: reply for empty pw");
	want[5] ^= 1;
	ok(!proto_native_check(want, 20, nonce, "secret"), "native check rejects flipped bit");

	unhex(sha2_hex, want, sizeof(want));
	proto_sha2_scramble(got, nonce, "secret");
	ok(memcmp(got, want, 32) == 0, "sha2 scramble matches reference vector");
	ok(proto_sha2_check(want, 32, nonce, "secret"), "sha2 check accepts");
	ok(!proto_sha2_check(want, 32, nonce, "secreT"), "sha2 check rejects wrong pw");
	ok(!proto_sha2_check(want, 20, nonce, "secret"), "sha2 check rejects 20 bytes");
	ok(proto_sha2_check(want, 0, nonce, "") && !proto_sha2_check(want, 32, nonce, ""),
	   "sha2 empty password means empty reply");
	ok(!proto_sha2_check(want, 32, (const uint8_t *)"0123456789ABCDEFGHIK", "secret"),
	   "sha2 check depends on the nonce");

	ok(proto_make_nonce(n1) && proto_make_nonce(n2), "nonces generated");
	printable = true;
	for (i = 0; i < 20; i++)
		if (n1[i] < 0x21 || n1[i] > 0x7e || n2[i] < 0x21 || n2[i] > 0x7e)
			printable = false;
	ok(printable, "nonce bytes are printable, no NUL");
	ok(memcmp(n1, n2, 20) != 0, "two nonces differ");
}

static void test_cmd_names(void)
{
	ok(strcmp(proto_cmd_name(COM_QUERY), "Query") == 0, "Query");
	ok(strcmp(proto_cmd_name(COM_QUIT), "Quit") == 0, "Quit");
	ok(strcmp(proto_cmd_name(COM_INIT_DB), "Init DB") == 0, "Init DB");
	ok(strcmp(proto_cmd_name(0x12), "Unknown") == 0, "gap in the table is Unknown");
	ok(strcmp(proto_cmd_name(0x20), "Unknown") == 0, "0x20 is Unknown");
	ok(strcmp(proto_cmd_name(0xFF), "Unknown") == 0, "0xFF is Unknown");
}

int main(void)
{
	test_lenenc();
	test_reader();
	test_pktbuf();
	test_framing();
	test_peek();
	test_ok_err_eof();
	test_ok_session();
	test_greeting();
	test_hsresp();
	test_change_user();
	test_coldef();
	test_text_row();
	test_binary_row();
	test_scrambles();
	test_cmd_names();
	return tap_done();
}
