/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * test_compress.c: the compressed protocol's codec: round trips, sequence
 * ids on either leg, packets over 16 MiB, and malformed or inflated input. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "compress.h"
#include "tap.h"

/* Append one plain packet (header with <seq>, then <len> bytes of <fill>). */
static void plain(struct evbuffer *b, uint8_t seq, size_t len, uint8_t fill)
{
	uint8_t h[4] = { (uint8_t)len, (uint8_t)(len >> 8),
			 (uint8_t)(len >> 16), seq };
	uint8_t *p = malloc(len ? len : 1);

	memset(p, fill, len);
	evbuffer_add(b, h, 4);
	evbuffer_add(b, p, len);
	free(p);
}

/* The compressed packets of <b>: their sequence ids into <seqs> (at most
 * <max>), their count returned; *raw counts those sent uncompressed. */
static int headers(struct evbuffer *b, uint8_t *seqs, int max, int *raw)
{
	size_t off = 0, n = evbuffer_get_length(b);
	const uint8_t *p = evbuffer_pullup(b, -1);
	int k = 0;

	*raw = 0;
	while (off + 7 <= n) {
		size_t clen = p[off] | (p[off + 1] << 8) |
			      ((size_t)p[off + 2] << 16);
		size_t ulen = p[off + 4] | (p[off + 5] << 8) |
			      ((size_t)p[off + 6] << 16);

		if (k < max)
			seqs[k] = p[off + 3];
		if (ulen == 0)
			(*raw)++;
		k++;
		off += 7 + clen;
	}
	return off == n ? k : -1;
}

static bool same(struct evbuffer *a, struct evbuffer *b)
{
	size_t n = evbuffer_get_length(a);

	return n == evbuffer_get_length(b) &&
	       (n == 0 || memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1),
				 n) == 0);
}

/* Send <plainbuf> through a writer of <role> and a reader of the other
 * role; true when the reader gets exactly the bytes. */
static bool round_trip(struct compress *w, struct compress *r,
		       struct evbuffer *plainbuf, struct evbuffer *wire)
{
	struct evbuffer *copy = evbuffer_new(), *out = evbuffer_new();
	bool ok;

	evbuffer_add(copy, evbuffer_pullup(plainbuf, -1),
		     evbuffer_get_length(plainbuf));
	ok = compress_write(w, plainbuf, wire, (size_t)-1) == 1 &&
	     evbuffer_get_length(plainbuf) == 0;
	{
		struct evbuffer *w2 = evbuffer_new();

		evbuffer_add(w2, evbuffer_pullup(wire, -1),
			     evbuffer_get_length(wire));
		ok = ok && compress_read(r, w2, out) == 1 &&
		     evbuffer_get_length(w2) == 0 && same(copy, out);
		evbuffer_free(w2);
	}
	evbuffer_free(copy);
	evbuffer_free(out);
	return ok;
}

static void test_round_trip(void)
{
	struct compress *cl = compress_state_new(COMPRESS_CLIENT);
	struct compress *sv = compress_state_new(COMPRESS_SERVER);
	struct evbuffer *pl = evbuffer_new(), *wire = evbuffer_new();
	uint8_t seqs[64];
	int raw, n;

	/* a short command goes as it is, sequence id 0 */
	plain(pl, 0, 10, 'a');
	ok(round_trip(cl, sv, pl, wire), "short command round trip");
	n = headers(wire, seqs, 64, &raw);
	ok(n == 1 && seqs[0] == 0 && raw == 1,
	   "under %d bytes: one packet, uncompressed, id 0", COMPRESS_MIN);
	evbuffer_drain(wire, evbuffer_get_length(wire));

	/* the server's answer follows the id it read */
	plain(pl, 1, 1000, 'b');
	plain(pl, 2, 5, 'c');
	ok(round_trip(sv, cl, pl, wire), "answer round trip");
	n = headers(wire, seqs, 64, &raw);
	ok(n == 1 && seqs[0] == 1 && raw == 0,
	   "one callback's packets: one compressed packet, id 1");
	evbuffer_drain(wire, evbuffer_get_length(wire));

	/* the client's next part of an exchange continues: id 2 */
	plain(pl, 2, 20, 'd');
	ok(round_trip(cl, sv, pl, wire), "auth reply round trip");
	n = headers(wire, seqs, 64, &raw);
	ok(n == 1 && seqs[0] == 2, "a continuation takes the next id (2)");
	evbuffer_drain(wire, evbuffer_get_length(wire));

	/* two commands without an answer between (COM_STMT_CLOSE, then a
	 * query): each restarts at 0, in packets of their own */
	plain(pl, 0, 9, 'e');
	plain(pl, 0, 100, 'f');
	ok(round_trip(cl, sv, pl, wire), "two commands round trip");
	n = headers(wire, seqs, 64, &raw);
	ok(n == 2 && seqs[0] == 0 && seqs[1] == 0,
	   "two commands: two packets, both id 0");
	evbuffer_drain(wire, evbuffer_get_length(wire));

	evbuffer_free(pl);
	evbuffer_free(wire);
	compress_state_free(cl);
	compress_state_free(sv);
}

static void test_big(void)
{
	struct compress *cl = compress_state_new(COMPRESS_CLIENT);
	struct compress *sv = compress_state_new(COMPRESS_SERVER);
	struct evbuffer *pl = evbuffer_new(), *wire = evbuffer_new();
	uint8_t seqs[64];
	int raw, n, i;
	bool consecutive = true;

	/* a 17 MiB command as Connector/C numbers it when compressing: every
	 * part id 0; only the first starts the command */
	plain(pl, 0, 0xFFFFFF, 'x');
	plain(pl, 0, 1 << 20, 'y');
	ok(round_trip(cl, sv, pl, wire), "17 MiB command round trip");
	n = headers(wire, seqs, 64, &raw);
	for (i = 0; i < n && i < 64; i++)
		consecutive = consecutive && seqs[i] == (uint8_t)i;
	/* 17 MiB and two headers: 17 packets of 1 MiB and the rest */
	ok(n == 18 && consecutive,
	   "17 MiB in %d packets of at most 1 MiB, ids 0..%d", n, n - 1);
	evbuffer_drain(wire, evbuffer_get_length(wire));

	/* the same from the server: ids follow the last one read (17) */
	plain(pl, 1, 0xFFFFFF, 'z');
	plain(pl, 2, 0, 0);
	ok(round_trip(sv, cl, pl, wire), "16 MiB row round trip");
	n = headers(wire, seqs, 64, &raw);
	ok(n == 17 && seqs[0] == 18 && seqs[16] == 34,
	   "answer ids go on from the last read");

	evbuffer_free(pl);
	evbuffer_free(wire);
	compress_state_free(cl);
	compress_state_free(sv);
}

/* One compressed packet with header fields as given and <payload>. */
static void zpacket(struct evbuffer *b, size_t clen, uint8_t seq, size_t ulen,
		    const void *payload, size_t n)
{
	uint8_t h[7] = { (uint8_t)clen, (uint8_t)(clen >> 8),
			 (uint8_t)(clen >> 16), seq, (uint8_t)ulen,
			 (uint8_t)(ulen >> 8), (uint8_t)(ulen >> 16) };

	evbuffer_add(b, h, 7);
	evbuffer_add(b, payload, n);
}

static int read_one(const void *z, size_t zlen, size_t claimed,
		    size_t *got)
{
	struct compress *r = compress_state_new(COMPRESS_SERVER);
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	int rc;

	zpacket(in, zlen, 0, claimed, z, zlen);
	rc = compress_read(r, in, out);
	*got = evbuffer_get_length(out);
	evbuffer_free(in);
	evbuffer_free(out);
	compress_state_free(r);
	return rc;
}

static void test_malformed(void)
{
	static uint8_t zeros[1 << 20];
	uint8_t z[4096], junk[32];
	uLongf zlen = sizeof(z);
	size_t got;
	struct compress *r = compress_state_new(COMPRESS_SERVER);
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	struct evbuffer *whole = evbuffer_new();

	/* 1 MiB of zeros deflates to about 1 KiB */
	ok(compress2(z, &zlen, zeros, sizeof(zeros), 9) == Z_OK,
	   "1 MiB of zeros in %lu bytes", (unsigned long)zlen);
	ok(read_one(z, zlen, sizeof(zeros), &got) == 1 && got == sizeof(zeros),
	   "the length claimed: accepted");
	ok(read_one(z, zlen, 1000, &got) == -1 && got == 0,
	   "inflating past the length claimed: refused, nothing kept");
	ok(read_one(z, zlen, sizeof(zeros) + 1, &got) == -1,
	   "inflating to less than claimed: refused");
	memcpy(z + zlen, "tail", 4);
	ok(read_one(z, zlen + 4, sizeof(zeros), &got) == -1,
	   "bytes after the zlib stream: refused");
	memset(junk, 0x5a, sizeof(junk));
	ok(read_one(junk, sizeof(junk), 100, &got) == -1,
	   "not a zlib stream: refused");
	ok(read_one(junk, 0, 100, &got) == -1, "nothing to inflate: refused");
	ok(read_one(junk, sizeof(junk), 0, &got) == 1 && got == sizeof(junk),
	   "uncompressed length 0: the bytes as they are");

	/* arrives in pieces */
	zpacket(whole, 5, 0, 0, "hello", 5);
	evbuffer_remove_buffer(whole, in, 3);
	ok(compress_read(r, in, out) == 0, "part of a header: wait");
	evbuffer_remove_buffer(whole, in, 7);
	ok(compress_read(r, in, out) == 0 && evbuffer_get_length(out) == 0,
	   "part of a payload: wait");
	evbuffer_remove_buffer(whole, in, 2);
	ok(compress_read(r, in, out) == 1 && evbuffer_get_length(out) == 5 &&
	   memcmp(evbuffer_pullup(out, -1), "hello", 5) == 0,
	   "the rest: the payload");
	evbuffer_free(whole);
	evbuffer_free(in);
	evbuffer_free(out);
	compress_state_free(r);
}

int main(void)
{
	test_round_trip();
	test_big();
	test_malformed();
	return tap_done();
}
