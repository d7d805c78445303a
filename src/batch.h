/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * batch.h: recognise batchable lookups, gather them per shape and
 * context, and run them as one coalesced query (fan-out in fanout.c). */
#ifndef IB_BATCH_H
#define IB_BATCH_H

#include "inbatch.h"

/* Take COM_QUERY <sql> of idle client <c> into a batch.  Returns false
 * when it is not batchable now; the caller then passes it through. */
bool batch_submit(struct client *c, const char *sql, size_t len);
/* The session changed in a way that may change lookup answers. */
void batch_ctx_changed(struct client *c, const char *sql, size_t len);
/* Forget the context (login, change user, reset, free). */
void batch_ctx_reset(struct client *c);
/* A batched client is closing: drop it from its batch. */
void batch_client_gone(struct client *c);
/* A client's own solo run of a lookup finished (adaptive accounting). */
void batch_solo_done(struct client *c);
/* Drop cached login contexts (reload). */
void batch_forget_contexts(void);
/* Free batches that finished during this loop iteration. */
void batch_free_done(void);
/* A pool connection is ready for batch <b>. */
void batch_run(struct batch *b, struct backend *be);
/* Pool could not provide a connection: answer every client with <err>. */
void batch_fail(struct batch *b, const uint8_t *err, size_t len);

/* Pool queue links (the pool keeps batches in a singly linked FIFO). */
struct batch *batch_queue_next(struct batch *b);
struct batch **batch_queue_next_ptr(struct batch *b);
void batch_queue_set_next(struct batch *b, struct batch *next);

#endif /* IB_BATCH_H */
