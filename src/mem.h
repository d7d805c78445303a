/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * mem.h: libevent's memory, through a bounded cache of the block sizes
 * its buffers use. */
#ifndef IB_MEM_H
#define IB_MEM_H

#include <stddef.h>

/* Hand libevent mem_malloc, mem_realloc and mem_free.  First thing in
 * main(): libevent must not have allocated anything yet. */
void mem_init(void);
/* Give the cached blocks back to malloc.  Blocks freed later are cached
 * again; call it last. */
void mem_exit(void);

void *mem_malloc(size_t size);
void *mem_realloc(void *p, size_t size);
/* Also for what libevent hands its caller to free (evbuffer_readln's
 * line): after mem_init() that is no longer malloc's.  NULL is fine. */
void mem_free(void *p);

/* Bytes the cache holds now. */
size_t mem_cached_bytes(void);

#endif
