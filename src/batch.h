/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * batch.h: recognise batchable lookups, gather them per shape and
 * session context, and run them as one coalesced query on a waiting
 * client's own session (fan-out in fanout.c). */
#ifndef IB_BATCH_H
#define IB_BATCH_H

#include "inbatch.h"

/* Take COM_QUERY <sql> of idle client <c> into a batch.  Returns false
 * when it is not batchable now; the caller then passes it through. */
bool batch_submit(struct client *c, const char *sql, size_t len);
/* A batched client is closing: drop it from its batch. */
void batch_client_gone(struct client *c);
/* A client's own solo run of a lookup finished (adaptive accounting). */
void batch_solo_done(struct client *c);
/* A statement that may change tables ran: probe shapes again. */
void batch_note_ddl(void);
/* Free batches that finished during this loop iteration. */
void batch_free_done(void);

#endif /* IB_BATCH_H */
