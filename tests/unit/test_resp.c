/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * test_resp.c: the response parser (proto_resp_*), one table row per
 * response: the command, the packets the server sends, and where the
 * parser must stand after them.  Packet layouts follow PROTOCOL.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proto.h"
#include "tap.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A column definition: the parser counts them, it does not read them. */
#define DEF "03 64 65 66 00 01 74 01 74 01 61 01 61 0c 3f 00 0b 00 00 00 03 00 00 00 00 00"
#define EOF_ "fe 00 00 02 00"
#define EOF_MORE "fe 00 00 0a 00"

struct resp_case {
	const char *name;
	uint32_t caps, ext_caps;
	const char *cmd;  /* the command payload, hex */
	const char *pkts; /* the response: packets in hex, '|' between */
	int fail_at;	  /* index of the packet the parser refuses; -1 */
	enum resp_state want;
	uint16_t status;  /* status flags after the last packet */
};

static const struct resp_case resp_cases[] = {
	{ "query: OK", 0, 0, "03 31", "00 01 00 02 00 00 00", -1, RESP_DONE,
	  0x0002 },
	{ "query: ERR", 0, 0, "03 31",
	  "ff 7a 04 23 34 32 53 30 32 6e 6f", -1, RESP_DONE, 0 },
	{ "query: result set", 0, 0, "03 31",
	  "01|" DEF "|" EOF_ "|01 31|01 32|fe 00 00 22 00", -1, RESP_DONE,
	  0x0022 },
	{ "query: result set ended by ERR", 0, 0, "03 31",
	  "01|" DEF "|" EOF_ "|01 31|ff 7a 04 23 34 32 53 30 32", -1,
	  RESP_DONE, 0x0002 },
	{ "query: a row, not yet the end", 0, 0, "03 31",
	  "02|" DEF "|" DEF "|" EOF_ "|01 31", -1, RESP_ROWS, 0x0002 },
	{ "query: two results", 0, 0, "03 31",
	  "00 00 00 0a 00 00 00|01|" DEF "|" EOF_MORE "|" EOF_MORE
	  "|00 01 00 02 00 00 00", -1, RESP_DONE, 0x0002 },
	{ "query: more results pending", 0, 0, "03 31",
	  "00 00 00 0a 00 00 00", -1, RESP_FIRST, 0x000a },
	{ "query: DEPRECATE_EOF result set", CAP_DEPRECATE_EOF, 0, "03 31",
	  "01|" DEF "|01 31|fe 00 00 22 00 00 00", -1, RESP_DONE, 0x0022 },
	{ "query: a 0xFE row of 9 bytes or more is a row", 0, 0, "03 31",
	  "01|" DEF "|" EOF_ "|fe 00 00 00 00 00 00 00 00 00 00", -1,
	  RESP_ROWS, 0x0002 },
	{ "query: DEPRECATE_EOF, a short 0xFE packet ends it",
	  CAP_DEPRECATE_EOF, 0, "03 31",
	  "01|" DEF "|fe 00 00 00 00 00 00 00 00 00 00", -1, RESP_DONE, 0 },
	{ "query: LOCAL INFILE request", 0, 0, "03 31",
	  "fb 2f 74 6d 70 2f 78", -1, RESP_INFILE, 0 },
	{ "query: empty packet", 0, 0, "03 31", "", 0, RESP_FIRST, 0 },
	{ "query: column count 0 is not a count", 0, 0, "03 31",
	  "fc 00 00", 0, RESP_FIRST, 0 },
	{ "query: a row where the EOF belongs", 0, 0, "03 31",
	  "01|" DEF "|01 31", 2, RESP_COLDEFS_EOF, 0 },
	{ "query: progress reports skipped", 0, EXT_PROGRESS, "03 31",
	  "ff ff ff 01 01 02 00 00 00|00 00 00 02 00 00 00", -1, RESP_DONE,
	  0x0002 },
	{ "query: progress report without the extension is an ERR", 0, 0,
	  "03 31", "ff ff ff 01 01 02 00 00 00", -1, RESP_DONE, 0 },
	{ "prepare: 1 param, 1 column", 0, 0, "16 31",
	  "00 01 00 00 00 01 00 01 00 00 00 00|" DEF "|" EOF_ "|" DEF "|" EOF_,
	  -1, RESP_DONE, 0 },
	{ "prepare: no param, 2 columns, DEPRECATE_EOF", CAP_DEPRECATE_EOF, 0,
	  "16 31", "00 01 00 00 00 02 00 00 00 00 00 00|" DEF "|" DEF, -1,
	  RESP_DONE, 0 },
	{ "prepare: nothing to describe", 0, 0, "16 31",
	  "00 01 00 00 00 00 00 00 00 00 00 00", -1, RESP_DONE, 0 },
	{ "prepare: short OK", 0, 0, "16 31", "00 01 00 00", 0, RESP_FIRST, 0 },
	{ "execute with a cursor: no rows yet", 0, 0,
	  "17 01 00 00 00 01 01 00 00 00",
	  "01|" DEF "|fe 00 00 42 00", -1, RESP_DONE, 0x0042 },
	{ "execute, metadata cached", 0, EXT_CACHE_METADATA,
	  "17 01 00 00 00 00 01 00 00 00",
	  "01 00|" EOF_ "|00 00 01|" EOF_, -1, RESP_DONE, 0x0002 },
	{ "execute, metadata cached, DEPRECATE_EOF", CAP_DEPRECATE_EOF,
	  EXT_CACHE_METADATA, "17 01 00 00 00 00 01 00 00 00",
	  "01 00|00 00 01|fe 00 00 02 00 00 00", -1, RESP_DONE, 0x0002 },
	{ "fetch: rows until EOF", 0, 0, "1c 01 00 00 00 05 00 00 00",
	  "00 00 01|fe 00 00 82 00", -1, RESP_DONE, 0x0082 },
	{ "field list: definitions until EOF", 0, 0, "04 74 00",
	  DEF "|" DEF "|" EOF_, -1, RESP_DONE, 0 },
	{ "statistics: any one packet", 0, 0, "09", "55 70 74 69 6d 65", -1,
	  RESP_DONE, 0 },
	{ "set option: a bare EOF", 0, 0, "1b 00 00", EOF_, -1, RESP_DONE,
	  0x0002 },
	{ "close: no response", 0, 0, "19 01 00 00 00", "", -1, RESP_NONE, 0 },
	{ "long data: no response", 0, 0, "18 01 00 00 00 00 00 41", "", -1,
	  RESP_NONE, 0 },
};

/* Decode hex (spaces allowed) into <out>; returns the byte count. */
static size_t unhex(const char *s, size_t n, uint8_t *out, size_t cap)
{
	size_t len = 0;
	unsigned v;

	while (n > 0) {
		if (*s == ' ') {
			s++;
			n--;
			continue;
		}
		if (len >= cap || n < 2 || sscanf(s, "%2x", &v) != 1) {
			fprintf(stderr, "bad hex fixture\n");
			exit(2);
		}
		out[len++] = (uint8_t)v;
		s += 2;
		n -= 2;
	}
	return len;
}

static void test_resp_case(const struct resp_case *tc)
{
	uint8_t cmd[64], pkt[256];
	size_t cmd_len = unhex(tc->cmd, strlen(tc->cmd), cmd, sizeof(cmd));
	const char *p = tc->pkts, *bar;
	struct proto_resp r;
	int i = 0, failed = -1;
	size_t n;

	proto_resp_start(&r, cmd, cmd_len, tc->caps, tc->ext_caps, 0);
	while (r.rs != RESP_NONE) {
		bar = strchr(p, '|');
		n = unhex(p, bar ? (size_t)(bar - p) : strlen(p), pkt,
			  sizeof(pkt));
		if (!proto_resp_step(&r, pkt, n, n)) {
			failed = i;
			break;
		}
		i++;
		if (!bar)
			break;
		p = bar + 1;
	}
	ok(failed == tc->fail_at && r.rs == tc->want && r.status == tc->status,
	   "%s: refused at %d (want %d), state %d (want %d), status 0x%04x "
	   "(want 0x%04x)", tc->name, failed, tc->fail_at, r.rs, tc->want,
	   r.status, tc->status);
}

/* A row of 16 MiB or more is streamed: only its head is inspected. */
static void test_resp_streamed(void)
{
	static const uint8_t head[16] = { 0xfe, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t one = 1, cmd = COM_QUERY;
	struct proto_resp r;

	proto_resp_start(&r, &cmd, 1, 0, 0, 0);
	ok(proto_resp_step(&r, &one, 1, 1) && r.rs == RESP_COLDEFS,
	   "streamed: column count");
	r.rs = RESP_ROWS;
	ok(!proto_resp_is_end(&r, head, sizeof(head), 20000000) &&
	   proto_resp_step(&r, head, sizeof(head), 20000000) &&
	   r.rs == RESP_ROWS, "streamed: a 0xFE row head is not an EOF");
	r.caps = CAP_DEPRECATE_EOF;
	ok(!proto_resp_is_end(&r, head, sizeof(head), PROTO_MAX_PAYLOAD),
	   "streamed: a full chunk starting 0xFE is a row under DEPRECATE_EOF");
}

/* The framing helper: whole, partial, split and oversized packets. */
static void test_packet_extent(void)
{
	struct evbuffer *in = evbuffer_new();
	static const uint8_t pkt[] = { 3, 0, 0, 7, 'a', 'b', 'c', 1, 0 };
	uint8_t big[4] = { 0xff, 0xff, 0xff, 0 };
	size_t len = 0;
	uint8_t seq = 0;

	if (!in)
		exit(2);
	ok(proto_packet_extent(in, 100, &len, &seq) == 0, "extent: empty");
	evbuffer_add(in, pkt, 6);
	ok(proto_packet_extent(in, 100, &len, &seq) == 0 && len == 3,
	   "extent: partial payload");
	evbuffer_add(in, pkt + 6, 3);
	ok(proto_packet_extent(in, 100, &len, &seq) == 7 && len == 3 &&
	   seq == 7, "extent: whole packet, more buffered behind it");
	ok(proto_packet_extent(in, 2, &len, &seq) == (size_t)-1,
	   "extent: larger than max");
	evbuffer_drain(in, evbuffer_get_length(in));
	/* a first chunk of 16 MiB - 1 announces a continuation */
	evbuffer_add(in, big, 4);
	ok(proto_packet_extent(in, (size_t)1 << 30, &len, &seq) == 0 &&
	   len == PROTO_MAX_PAYLOAD, "extent: a full chunk waits for the rest");
	ok(proto_packet_extent(in, 1000, &len, &seq) == (size_t)-1,
	   "extent: a full chunk over max is refused before it arrives");
	evbuffer_free(in);
}

int main(void)
{
	size_t i;

	for (i = 0; i < NELEM(resp_cases); i++)
		test_resp_case(&resp_cases[i]);
	test_resp_streamed();
	test_packet_extent();
	return tap_done();
}
