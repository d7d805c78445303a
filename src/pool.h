/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * pool.h: shared backend connections for coalesced queries, one pool per
 * batch context (account, schema, character set, sql_mode, ...). */
#ifndef IB_POOL_H
#define IB_POOL_H

#include "inbatch.h"

struct pool {
	struct pool *next;
	char *key;	    /* the batch context it serves */
	char *user;
	char *password;
	char *db;	    /* NULL for none */
	uint8_t collation;
	char *setup_sql;    /* SET SESSION ... run after login */
	struct backend **conns;
	unsigned n_conns;   /* logged in or connecting */
	unsigned n_ready;   /* idle, usable */
	unsigned connecting;
	uint64_t batches;   /* batches run on it */
	uint64_t errors;    /* connections that failed */
	struct batch *queue_head; /* batches waiting for a connection */
	struct batch **queue_tail;
};

/* The pool for <key>, created on first use; NULL on allocation failure. */
struct pool *pool_get(const char *key, const char *user, const char *password,
		      const char *db, uint8_t collation, const char *setup_sql);
/* Run <b> on an idle connection now or when one is ready. */
void pool_submit(struct pool *p, struct batch *b);
/* A batch finished with connection <be>: make it available again. */
void pool_release(struct pool *p, struct backend *be);
void pool_foreach(void (*fn)(void *arg, const struct pool *p), void *arg);
void pool_close_all(void);
void pool_free_all(void);

/* Backend events for pool connections. */
void pool_on_backend_greeting(struct backend *be);
void pool_on_backend_ready(struct backend *be);
void pool_on_backend_failed(struct backend *be, const uint8_t *err, size_t len);
void pool_on_backend_lost(struct backend *be, const char *why);

#endif /* IB_POOL_H */
