/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * prefetch.h: the N+1 loop inside one session: predict the keys of its
 * next lookups from rows it was sent, fetch them in one keys join on its
 * own connection inside its transaction, answer later lookups from that. */
#ifndef IB_PREFETCH_H
#define IB_PREFETCH_H

#include "inbatch.h"

/*
 * Prefetch sees a session only through its lookup <l> (struct lookup_ops,
 * l->sess, l->pf); the owner (client.c) calls it.
 *
 * COM_QUERY <sql> of idle session <l> (<whole>: the text was read whole).
 * True when prefetch takes it: the caller drains the command from the
 * input, then calls prefetch_run(), which answers it from kept answers or
 * starts the keys join.  False: pass it on as usual.
 */
bool prefetch_submit(struct lookup *l, const char *sql, size_t len,
		     bool whole);
void prefetch_run(struct lookup *l);
/*
 * The backend of idle session <l> is fetching ahead for kept answers: true
 * when the command at the head of the input (<head>, <hlen> of its <len>
 * bytes) waits for that; it is taken off the input again when it is done.
 * Lookups go to prefetch_submit(), which answers or holds them.
 */
bool prefetch_busy(struct lookup *l, const uint8_t *head, size_t hlen,
		   size_t len);
/* Any command but COM_QUERY: kept answers are dropped. */
void prefetch_on_command(struct lookup *l, uint8_t cmd);
/* A relayed COM_QUERY packet inspected whole: <start> the column count
 * of a result set, else a text row of it. */
void prefetch_on_relay(struct lookup *l, bool start, const uint8_t *p,
		       size_t len);
/* A relayed response ended. */
void prefetch_on_response_done(struct lookup *l);
void prefetch_free(struct lookup *l);

/* SHOW PREFETCH: one call per lookup shape seen by prefetch. */
struct prefetch_stat {
	struct prefetch_stat *next;
	char *text;
	uint64_t predictions; /* prefetch queries run */
	uint64_t keys;	      /* predicted keys they fetched */
	uint64_t hits;	      /* lookups answered from them */
	uint64_t misses;      /* lookups of the shape whose key was not kept */
	uint64_t wasted;      /* fetched keys dropped unasked */
};
void prefetch_stat_foreach(void (*fn)(void *arg, const struct prefetch_stat *s),
			   void *arg);
void prefetch_stats_free(struct ib_loop *loop);

#endif /* IB_PREFETCH_H */
