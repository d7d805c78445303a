/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * mem.c: libevent's memory, through a bounded cache of the block sizes
 * its buffers use.
 *
 * libevent allocates a buffer chain (1 KiB, or a larger power of two)
 * when bytes go into an empty evbuffer and frees it when the buffer is
 * drained: a pair for every command read and every answer written.
 * With many clients served in one loop iteration, glibc's per-size cache
 * (7 blocks) overflows and each pair goes through its bins: about 940
 * instructions of a batched lookup's 7,300 (callgrind, the seed page).
 * Here freed chains wait in one list per size, each list bounded, and
 * every other size goes to malloc as before.  One thread: no locks. */
#include "mem.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#if defined(__SANITIZE_ADDRESS__)
#define MEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEM_ASAN 1
#endif
#endif

/* A cached block is out of bounds to the checkers, as a freed one is:
 * a use after free still reports, under ASan and, in debug builds (the
 * marks cost instructions), under valgrind. */
#ifdef MEM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define mem_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define mem_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define mem_trace() __sanitizer_print_stack_trace()
#elif defined(IB_DEBUG) && defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define mem_poison(p, n) VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define mem_unpoison(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#endif
#endif
#ifndef mem_poison
#define mem_poison(p, n) ((void)0)
#define mem_unpoison(p, n) ((void)0)
#endif
#ifndef mem_trace
#define mem_trace() ((void)0)
#endif

/* libevent sizes chains 1 KiB << n; larger ones are rare and big */
#define MEM_MIN_SHIFT 10
#define MEM_MAX_SHIFT 14
#define MEM_CLASSES (MEM_MAX_SHIFT - MEM_MIN_SHIFT + 1)
#define MEM_NONE MEM_CLASSES
/* in cls while the block waits in the cache: a second free sees it */
#define MEM_CACHED ((size_t)1 << 16)
/* the cache keeps at most this many bytes of each size */
#define MEM_CLASS_BYTES (256 * 1024)

/* before every block; 16 bytes keep malloc's alignment */
struct mem_hdr {
	_Alignas(16) union {
		size_t size;		/* MEM_NONE: the size asked for */
		struct mem_hdr *next;	/* cached: the next of its size */
	} u;
	size_t cls;			/* size class or MEM_NONE; MEM_CACHED */
};
_Static_assert(sizeof(struct mem_hdr) % 16 == 0, "mem_hdr keeps alignment");

static struct mem_hdr *mem_list[MEM_CLASSES];
static size_t mem_count[MEM_CLASSES];
static bool mem_on;

/* The class of a block of <size> bytes: a chain size, or MEM_NONE. */
static size_t mem_class(size_t size)
{
	if (size < ((size_t)1 << MEM_MIN_SHIFT) ||
	    size > ((size_t)1 << MEM_MAX_SHIFT) || (size & (size - 1)))
		return MEM_NONE;
	return (size_t)__builtin_ctzl(size) - MEM_MIN_SHIFT;
}

static size_t mem_class_size(size_t cls)
{
	return (size_t)1 << (MEM_MIN_SHIFT + cls);
}

/* malloc for libevent: a cached block of a chain size when there is
 * one, else a new one with the header in front.  NULL when out of
 * memory. */
void *mem_malloc(size_t size)
{
	size_t cls = mem_class(size);
	struct mem_hdr *h;

	if (cls != MEM_NONE && (h = mem_list[cls]) != NULL) {
		mem_list[cls] = h->u.next;
		mem_count[cls]--;
		h->cls = cls;
		mem_unpoison(h + 1, size);
		return h + 1;
	}
	if (size > SIZE_MAX - sizeof(*h) || !(h = malloc(sizeof(*h) + size)))
		return NULL;
	h->cls = cls;
	if (cls == MEM_NONE)
		h->u.size = size;
	return h + 1;
}

/* The header of live block <p>; a block in the cache is freed already. */
static struct mem_hdr *mem_hdr_of(void *p)
{
	struct mem_hdr *h = (struct mem_hdr *)p - 1;

	if (h->cls & MEM_CACHED) {
		fprintf(stderr, "mem: a block freed twice, or resized after its free\n");
		mem_trace();
		abort();
	}
	return h;
}

void mem_free(void *p)
{
	struct mem_hdr *h;

	if (!p)
		return;
	if (!mem_on) {
		free(p);	/* not one of ours: mem_init() never ran */
		return;
	}
	h = mem_hdr_of(p);
	if (h->cls != MEM_NONE &&
	    mem_count[h->cls] < MEM_CLASS_BYTES / mem_class_size(h->cls)) {
		mem_poison(p, mem_class_size(h->cls));
		h->u.next = mem_list[h->cls];
		mem_list[h->cls] = h;
		mem_count[h->cls]++;
		h->cls |= MEM_CACHED;
		return;
	}
	free(h);
}

/* realloc for libevent.  Between two sizes that are no chain sizes,
 * realloc itself; else a new block, the bytes both hold copied, the old
 * block freed.  NULL when out of memory, <p> then unchanged. */
void *mem_realloc(void *p, size_t size)
{
	struct mem_hdr *h;
	size_t old;
	void *q;

	if (!p)
		return mem_malloc(size);
	h = mem_hdr_of(p);
	if (h->cls == MEM_NONE && mem_class(size) == MEM_NONE) {
		if (size > SIZE_MAX - sizeof(*h) ||
		    !(h = realloc(h, sizeof(*h) + size)))
			return NULL;
		h->u.size = size;
		return h + 1;
	}
	old = h->cls == MEM_NONE ? h->u.size : mem_class_size(h->cls);
	if (!(q = mem_malloc(size)))
		return NULL;
	memcpy(q, p, old < size ? old : size);
	mem_free(p);
	return q;
}

void mem_init(void)
{
	event_set_mem_functions(mem_malloc, mem_realloc, mem_free);
	mem_on = true;
}

void mem_exit(void)
{
	for (size_t c = 0; c < MEM_CLASSES; c++) {
		while (mem_list[c]) {
			struct mem_hdr *h = mem_list[c];

			mem_list[c] = h->u.next;
			mem_unpoison(h + 1, mem_class_size(c));
			free(h);
		}
		mem_count[c] = 0;
	}
}

size_t mem_cached_bytes(void)
{
	size_t n = 0;

	for (size_t c = 0; c < MEM_CLASSES; c++)
		n += mem_count[c] * mem_class_size(c);
	return n;
}
