/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * fuzz_compress.c: libFuzzer target for the compressed protocol's reader:
 * any input is read as a client's compressed stream; what it yields is
 * compressed again and must read back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct compress *r = compress_state_new(COMPRESS_SERVER);
	struct compress *w = compress_state_new(COMPRESS_SERVER);
	struct compress *back = compress_state_new(COMPRESS_CLIENT);
	struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
	struct evbuffer *copy = evbuffer_new(), *wire = evbuffer_new();
	struct evbuffer *again = evbuffer_new();
	size_t n;

	if (!r || !w || !back || !in || !plain || !copy || !wire || !again)
		abort();
	evbuffer_add(in, data, size);
	if (compress_read(r, in, plain) >= 0 &&
	    (n = evbuffer_get_length(plain)) > 0) {
		evbuffer_add(copy, evbuffer_pullup(plain, -1), n);
		if (compress_write(w, plain, wire, (size_t)-1) != 1 ||
		    compress_read(back, wire, again) != 1 ||
		    evbuffer_get_length(again) != n ||
		    memcmp(evbuffer_pullup(again, -1),
			   evbuffer_pullup(copy, -1), n) != 0)
			abort();
	}
	evbuffer_free(in);
	evbuffer_free(plain);
	evbuffer_free(copy);
	evbuffer_free(wire);
	evbuffer_free(again);
	compress_state_free(r);
	compress_state_free(w);
	compress_state_free(back);
	return 0;
}
