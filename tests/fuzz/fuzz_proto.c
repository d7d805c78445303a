/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * fuzz_proto.c: libFuzzer target that runs every packet parser over the
 * same input, so any out-of-bounds read shows up under ASan. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define FUZZ_MAX_COLS 64

/*
 * Touch every byte a parser hands back, so a pointer/length pair that
 * overruns the input is caught even when the parser itself stayed in
 * bounds.
 */
static volatile uint8_t fuzz_sink;

static void fuzz_touch(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	if (!p)
		return;
	for (i = 0; i < n; i++)
		fuzz_sink ^= b[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *vals[FUZZ_MAX_COLS];
	size_t lens[FUZZ_MAX_COLS];
	struct proto_greeting g;
	struct proto_hsresp h;
	struct proto_chuser cu;
	struct proto_ok ok;
	struct proto_err err;
	struct proto_coldef cd;
	struct pktbuf pb;
	uint16_t w, st;
	unsigned ncols, i;
	uint8_t *copy;

	/* a private heap copy: ASan then flags even a one-byte overrun */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);

	pktbuf_init(&pb);
	if (proto_parse_greeting(copy, size, &g)) {
		fuzz_touch(g.version, g.version_len);
		fuzz_touch(g.plugin, g.plugin_len);
	}
	if (proto_parse_hsresp(copy, size, &h)) {
		fuzz_touch(h.user, h.user_len);
		fuzz_touch(h.auth, h.auth_len);
		fuzz_touch(h.db, h.db_len);
		fuzz_touch(h.plugin, h.plugin_len);
		fuzz_touch(h.attrs, h.attrs_len);
	}
	if (size >= 4 &&
	    proto_parse_change_user(copy + 4, size - 4,
				    (uint32_t)copy[0] << 8 | (uint32_t)copy[1] << 16, &cu)) {
		fuzz_touch(cu.user, cu.user_len);
		fuzz_touch(cu.auth, cu.auth_len);
		fuzz_touch(cu.db, cu.db_len);
		fuzz_touch(cu.plugin, cu.plugin_len);
		fuzz_touch(cu.attrs, cu.attrs_len);
	}
	if (proto_parse_ok(copy, size, 0, &ok)) {
		fuzz_touch(ok.info, ok.info_len);
		pktbuf_reset(&pb);
		proto_build_ok_plain(&pb, &ok);
	}
	if (proto_parse_ok(copy, size, CAP_SESSION_TRACK, &ok)) {
		fuzz_touch(ok.info, ok.info_len);
		fuzz_touch(ok.state, ok.state_len);
		pktbuf_reset(&pb);
		proto_build_ok_plain(&pb, &ok);
	}
	if (proto_parse_err(copy, size, &err))
		fuzz_touch(err.msg, err.msg_len);
	if (proto_parse_eof(copy, size, &w, &st))
		fuzz_sink ^= (uint8_t)(w ^ st);
	if (proto_parse_coldef(copy, size, size & 1, &cd)) {
		fuzz_touch(cd.catalog, cd.catalog_len);
		fuzz_touch(cd.org_name, cd.org_name_len);
		pktbuf_reset(&pb);
		proto_build_coldef(&pb, &cd);
	}

	if (size >= 1) {
		ncols = copy[0] % FUZZ_MAX_COLS;
		if (proto_parse_text_row(copy + 1, size - 1, ncols, vals, lens))
			for (i = 0; i < ncols; i++)
				fuzz_touch(vals[i], lens[i]);
		/* binary: ncols, then ncols type bytes, then the row */
		if (size - 1 >= ncols && proto_parse_binary_row(copy + 1 + ncols, size - 1 - ncols,
								ncols, copy + 1, vals, lens))
			for (i = 0; i < ncols; i++)
				fuzz_touch(vals[i], lens[i]);
	}

	pktbuf_free(&pb);
	free(copy);
	return 0;
}
