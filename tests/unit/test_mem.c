/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * test_mem.c: libevent's allocator: a freed chain size comes back to the
 * next caller of that size, the cache keeps no more than its bound, other
 * sizes and realloc keep their bytes, and libevent's buffers run on it.
 * (A second free aborts: tested by hand, a TAP test cannot survive it.) */
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "mem.h"
#include "tap.h"

static int filled(const unsigned char *p, size_t n, unsigned char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

int main(void)
{
	enum { MANY = 600 };
	static void *blocks[MANY];
	unsigned char *p, *q;
	struct evbuffer *b;
	char line[64];
	size_t i, n;

	mem_init();
	ok(mem_cached_bytes() == 0, "nothing cached at first");

	p = mem_malloc(1024);
	ok(p && ((uintptr_t)p & 15) == 0, "a 1 KiB chain, 16-byte aligned");
	memset(p, 0xa5, 1024);
	mem_free(p);
	ok(mem_cached_bytes() == 1024, "freed, it is cached");
	q = mem_malloc(1024);
	ok(q == p, "the next 1 KiB is the same block");
	ok(mem_cached_bytes() == 0, "and leaves the cache");
	mem_free(q);

	p = mem_malloc(1000);
	ok(p && ((uintptr_t)p & 15) == 0, "another size: from malloc, aligned");
	n = mem_cached_bytes();
	mem_free(p);
	ok(mem_cached_bytes() == n, "freed, it is not cached");

	for (i = 0; i < MANY; i++)
		blocks[i] = mem_malloc(1024);
	for (i = 0; i < MANY; i++)
		mem_free(blocks[i]);
	ok(mem_cached_bytes() == 256 * 1024,
	   "600 chains freed: the cache keeps 256 KiB of them (%zu)",
	   mem_cached_bytes());
	for (i = 0; i < MANY; i++)
		blocks[i] = mem_malloc(16384);
	for (i = 0; i < MANY; i++)
		mem_free(blocks[i]);
	ok(mem_cached_bytes() == 2 * 256 * 1024,
	   "and 256 KiB of 16 KiB chains beside them (%zu)",
	   mem_cached_bytes());
	p = mem_malloc(32768);
	mem_free(p);
	ok(mem_cached_bytes() == 2 * 256 * 1024, "32 KiB is not cached");

	p = mem_malloc(100);
	memset(p, 'a', 100);
	p = mem_realloc(p, 300);
	ok(p && filled(p, 100, 'a'), "realloc of another size keeps its bytes");
	memset(p, 'b', 300);
	p = mem_realloc(p, 2048);
	ok(p && filled(p, 300, 'b'), "realloc to a chain size keeps them");
	memset(p, 'c', 2048);
	p = mem_realloc(p, 4096);
	ok(p && filled(p, 2048, 'c'), "realloc from one chain size to the next");
	p = mem_realloc(p, 10);
	ok(p && filled(p, 10, 'c'), "realloc down to another size");
	mem_free(p);
	p = mem_realloc(NULL, 1024);
	ok(p != NULL, "realloc of NULL allocates");
	mem_free(p);
	mem_free(NULL);
	ok(1, "free of NULL is fine");

	/* libevent on it: chains taken and given back, a line it hands over */
	mem_exit();
	b = evbuffer_new();
	ok(b != NULL, "an evbuffer");
	for (i = 0, n = 0; i < 999; i++) {
		snprintf(line, sizeof(line), "line %zu\r\n", i);
		evbuffer_add(b, line, strlen(line));
		if (i % 3 == 2) {
			char *l = evbuffer_readln(b, NULL, EVBUFFER_EOL_CRLF);

			snprintf(line, sizeof(line), "line %zu", i - 2);
			n += l && strcmp(l, line) == 0;
			mem_free(l);
			evbuffer_drain(b, evbuffer_get_length(b));
		}
	}
	ok(n == 333 && evbuffer_get_length(b) == 0,
	   "999 adds, 333 lines read, each right, then drained (%zu)", n);
	evbuffer_free(b);
	ok(mem_cached_bytes() >= 1024,
	   "libevent's chains went to the cache (%zu bytes)", mem_cached_bytes());

	mem_exit();
	ok(mem_cached_bytes() == 0, "mem_exit empties the cache");
	return tap_done();
}
