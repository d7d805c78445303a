/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * pool.c: backend connections shared by batches.  One pool per batch
 * context; connections open on demand up to pool_size and stay open. */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"

/* Capabilities of pool sessions: plain text results, nothing optional. */
#define POOL_CAPS                                                            \
	(CAP_LONG_PASSWORD | CAP_LONG_FLAG | CAP_PROTOCOL_41 |               \
	 CAP_TRANSACTIONS | CAP_SECURE_CONNECTION | CAP_MULTI_RESULTS |      \
	 CAP_PS_MULTI_RESULTS | CAP_PLUGIN_AUTH | CAP_PLUGIN_AUTH_LENENC)

static struct pool *pool_list;

static struct batch *pool_dequeue(struct pool *p)
{
	struct batch *b = p->queue_head;

	if (b) {
		p->queue_head = batch_queue_next(b);
		if (!p->queue_head)
			p->queue_tail = &p->queue_head;
		batch_queue_set_next(b, NULL);
	}
	return b;
}

static void pool_remove_conn(struct pool *p, struct backend *be)
{
	unsigned i;

	for (i = 0; i < p->n_conns; i++) {
		if (p->conns[i] == be) {
			p->conns[i] = p->conns[--p->n_conns];
			return;
		}
	}
}

/* Open one more connection if the queue needs it and the cap allows. */
static void pool_grow(struct pool *p)
{
	struct backend *be;
	struct backend **conns;

	if (!p->queue_head || p->n_conns >= (unsigned)ib.cfg->pool_size ||
	    p->connecting >= 2 || ib.shutting_down)
		return;
	conns = realloc(p->conns, (p->n_conns + 1) * sizeof(*conns));
	if (!conns)
		return;
	p->conns = conns;
	be = backend_new_for_pool(p);
	if (!be)
		return;
	p->conns[p->n_conns++] = be;
	p->connecting++;
}

/* Free <p> and what it owns; its connections are closed already. */
static void pool_free(struct pool *p)
{
	free(p->conns);
	free(p->key);
	free(p->user);
	free(p->password);
	free(p->db);
	free(p->setup_sql);
	free(p);
}

struct pool *pool_get(const char *key, const char *user, const char *password,
		      const char *db, uint8_t collation, const char *setup_sql)
{
	struct pool *p;

	for (p = pool_list; p; p = p->next)
		if (strcmp(p->key, key) == 0)
			return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->key = strdup(key);
	p->user = strdup(user);
	p->password = strdup(password ? password : "");
	p->db = db ? strdup(db) : NULL;
	p->setup_sql = strdup(setup_sql);
	p->collation = collation;
	p->queue_tail = &p->queue_head;
	if (!p->key || !p->user || !p->password || (db && !p->db) ||
	    !p->setup_sql) {
		pool_free(p);
		return NULL;
	}
	p->next = pool_list;
	pool_list = p;
	return p;
}

/* Hand idle connections to queued batches. */
static void pool_dispatch(struct pool *p)
{
	unsigned i;
	struct batch *b;

	for (i = 0; i < p->n_conns && p->queue_head; i++) {
		struct backend *be = p->conns[i];

		if (be->state != BACKEND_IDLE || be->batch)
			continue;
		b = pool_dequeue(p);
		be->batch = b;
		p->batches++;
		batch_run(b, be);
	}
	pool_grow(p);
}

void pool_submit(struct pool *p, struct batch *b)
{
	batch_queue_set_next(b, NULL);
	*p->queue_tail = b;
	p->queue_tail = batch_queue_next_ptr(b);
	pool_dispatch(p);
}

void pool_release(struct pool *p, struct backend *be)
{
	be->batch = NULL;
	if (be->state == BACKEND_IDLE)
		pool_dispatch(p);
}

void pool_on_backend_greeting(struct backend *be)
{
	struct pool *p = be->pool;

	if (!backend_login(be, p->user, p->password, p->db, p->collation,
			   POOL_CAPS, NULL, 0))
		backend_close(be);
}

static void pool_setup_done(struct backend *be, void *arg,
			    struct backend_result *res)
{
	struct pool *p = arg;

	if (!res || res->err) {
		log_warn_rl(1, "pool session setup failed; closing it");
		if (be->state != BACKEND_DEAD)
			backend_close(be);
		pool_remove_conn(p, be);
		p->errors++;
		return;
	}
	pool_dispatch(p);
}

void pool_on_backend_ready(struct backend *be)
{
	struct pool *p = be->pool;

	p->connecting--;
	p->n_ready++;
	/* the session must read lookups exactly as the clients' sessions */
	if (!backend_query(be, p->setup_sql, strlen(p->setup_sql),
			   pool_setup_done, p)) {
		backend_close(be);
		pool_remove_conn(p, be);
	}
}

/* Fail every queued batch: with no connection they cannot run. */
static void pool_fail_queue(struct pool *p, const uint8_t *err, size_t len)
{
	struct batch *b;

	while ((b = pool_dequeue(p)) != NULL)
		batch_fail(b, err, len);
}

void pool_on_backend_failed(struct backend *be, const uint8_t *err, size_t len)
{
	struct pool *p = be->pool;

	p->connecting--;
	p->errors++;
	IB_STAT_INC(backend_connect_errors);
	pool_remove_conn(p, be);
	be->pool = NULL;
	if (p->n_conns == 0)
		pool_fail_queue(p, err, len);
}

void pool_on_backend_lost(struct backend *be, const char *why)
{
	struct pool *p = be->pool;
	struct batch *b = be->batch;

	if (be->state == BACKEND_CONNECTING || be->state == BACKEND_GREETING ||
	    be->state == BACKEND_AUTH || be->state == BACKEND_WAIT_LOGIN)
		p->connecting--;
	else if (p->n_ready)
		p->n_ready--;
	log_warn_rl(1, "pool connection lost: %s", why);
	pool_remove_conn(p, be);
	be->pool = NULL;
	be->batch = NULL;
	(void)b; /* the batch hears of it through its collect callback */
	if (p->n_conns == 0 && p->queue_head) {
		struct pktbuf pb;
		uint8_t seq = 0;

		(void)seq;
		pktbuf_init(&pb);
		pktbuf_put_u8(&pb, 0xFF);
		pktbuf_put_u16(&pb, 1105);
		pktbuf_put_bytes(&pb, "#HY000", 6);
		pktbuf_put_bytes(&pb, "inbatch: ", 9);
		pktbuf_put_bytes(&pb, why, strlen(why));
		pool_fail_queue(p, pb.buf, pb.failed ? 0 : pb.len);
		pktbuf_free(&pb);
	}
}

void pool_foreach(void (*fn)(void *arg, const struct pool *p), void *arg)
{
	struct pool *p;

	for (p = pool_list; p; p = p->next)
		fn(arg, p);
}

void pool_close_all(void)
{
	struct pool *p;
	unsigned i;

	for (p = pool_list; p; p = p->next) {
		for (i = 0; i < p->n_conns; i++) {
			p->conns[i]->pool = NULL;
			backend_close(p->conns[i]);
		}
		p->n_conns = 0;
		p->n_ready = 0;
		p->connecting = 0;
	}
}

void pool_free_all(void)
{
	struct pool *p;

	pool_close_all();
	while ((p = pool_list) != NULL) {
		pool_list = p->next;
		pool_free(p);
	}
}
