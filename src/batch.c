/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * batch.c: gather lookups of one shape and context, coalesce them into a
 * keys join, and fan each client its own result back, exactly or not at
 * all: whatever cannot be proven exact runs alone on the client's backend. */
#include "batch.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "classify.h"
#include "client.h"
#include "fanout.h"
#include "pool.h"

#define BATCH_GROUPS_HASH 1024
#define BATCH_CTX_SEP	  '\x1f'

/*
 * The session values that can change a lookup's answer.  They are read
 * with one query on the client's own connection, lazily, and the pool
 * sessions are set to the same values.
 */
static const char batch_ctx_sql[] =
	"SELECT CONCAT_WS(0x1f, CURRENT_USER(), IFNULL(DATABASE(), ''), "
	"@@character_set_client, @@character_set_connection, "
	"@@collation_connection, IFNULL(@@character_set_results, 'NULL'), "
	"@@sql_mode, @@time_zone, @@sql_select_limit, @@max_sort_length, "
	"@@div_precision_increment, @@lc_time_names, @@group_concat_max_len, "
	"@@autocommit)";

enum batch_ctx_field {
	CTX_USER, CTX_DB, CTX_CS_CLIENT, CTX_CS_CONN, CTX_COLL_CONN,
	CTX_CS_RESULTS, CTX_SQL_MODE, CTX_TIME_ZONE, CTX_SELECT_LIMIT,
	CTX_MAX_SORT, CTX_DIV_PREC, CTX_LC_TIME, CTX_GCML, CTX_AUTOCOMMIT,
	CTX__COUNT
};

struct batch_key {
	char *lit; /* a copy: the client that brought it may leave */
	size_t len;
	unsigned clients;
};

struct batch {
	struct batch *qnext;	 /* pool queue */
	struct batch *free_next; /* done list */
	struct batch_group *g;
	TAILQ_HEAD(, client) clients;
	unsigned n_clients;
	struct batch_key *keys;
	unsigned n_keys, cap_keys;
	struct event *timer;
	struct backend *be;
	bool sent;
	bool done;
	uint64_t sent_us;
	char *sql;
	size_t sql_len;
};

/* One statement shape in one context. */
struct batch_group {
	struct batch_group *next;
	char *key;
	size_t key_len;
	struct pool *pool;
	struct stats_shape *st;
	struct batch *gathering;
	unsigned inflight;
	int meta; /* 0 unknown, 1 proven equal to a lookup's own, -1 differs */
	uint16_t index_flags;
	struct backend_result solo; /* a lookup's own result: its definitions */
	char *tmpl; /* the first lookup's text; spans of <cr> point into it */
	size_t tmpl_len;
	struct classify_result cr;
};

static struct batch_group *batch_groups[BATCH_GROUPS_HASH];

/*
 * Contexts of sessions that changed nothing since login, by account,
 * schema, collation and capabilities: every such session reads the same
 * values, so only the first one pays for the context query.
 */
#define BATCH_FRESH_MAX 64
static struct {
	char *login;
	char *ctx;
} batch_fresh[BATCH_FRESH_MAX];
static unsigned batch_fresh_n;

static void batch_fresh_login(const struct client *c, char *buf, size_t n)
{
	snprintf(buf, n, "%s\x1f%s\x1f%u\x1f%x", c->user ? c->user : "",
		 c->db ? c->db : "", c->collation, c->caps);
}

static const char *batch_fresh_find(const struct client *c)
{
	char login[512];
	unsigned i;

	batch_fresh_login(c, login, sizeof(login));
	for (i = 0; i < batch_fresh_n; i++)
		if (strcmp(batch_fresh[i].login, login) == 0)
			return batch_fresh[i].ctx;
	return NULL;
}

static void batch_fresh_store(const struct client *c)
{
	char login[512];
	unsigned i = batch_fresh_n;

	if (batch_fresh_find(c) || !c->ctx.key)
		return;
	batch_fresh_login(c, login, sizeof(login));
	if (i == BATCH_FRESH_MAX) {
		/* full: replace the oldest */
		free(batch_fresh[0].login);
		free(batch_fresh[0].ctx);
		memmove(&batch_fresh[0], &batch_fresh[1],
			(BATCH_FRESH_MAX - 1) * sizeof(batch_fresh[0]));
		i--;
	}
	batch_fresh[i].login = strdup(login);
	batch_fresh[i].ctx = strdup(c->ctx.key);
	if (!batch_fresh[i].login || !batch_fresh[i].ctx) {
		free(batch_fresh[i].login);
		free(batch_fresh[i].ctx);
		return;
	}
	batch_fresh_n = i + 1;
}

/* A reload may change passwords and accounts: forget what we learnt. */
void batch_forget_contexts(void)
{
	unsigned i;

	for (i = 0; i < batch_fresh_n; i++) {
		free(batch_fresh[i].login);
		free(batch_fresh[i].ctx);
	}
	batch_fresh_n = 0;
}
static struct batch *batch_done_list;

static void batch_flush(struct batch *b);
static void batch_finish(struct batch *b);

struct batch *batch_queue_next(struct batch *b)
{
	return b->qnext;
}

struct batch **batch_queue_next_ptr(struct batch *b)
{
	return &b->qnext;
}

void batch_queue_set_next(struct batch *b, struct batch *next)
{
	b->qnext = next;
}

static uint32_t batch_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (uint8_t)*p++) * 16777619u;
	return h;
}

void batch_ctx_reset(struct client *c)
{
	free(c->ctx.key);
	c->ctx.key = NULL;
	c->ctx.known = false;
	c->ctx.tainted = false;
	c->ctx.fresh = true;
}

/*
 * A pass-through statement ran; decide whether the context must be read
 * again (SET, USE, ...) or can no longer be reproduced on a pool session
 * (temporary tables shadow real ones; LOCK TABLES; session-only objects).
 */
void batch_ctx_changed(struct client *c, const char *sql, size_t len)
{
	static const char *const taint[] = { "CREATE", "LOCK", "HANDLER",
					     "PREPARE", "EXECUTE", "CALL",
					     "DROP", "ALTER", "RENAME", NULL };
	/* statements that cannot change session variables or the schema */
	static const char *const keep[] = { "COMMIT", "ROLLBACK", "BEGIN",
					    "START", "INSERT", "UPDATE",
					    "DELETE", "REPLACE", "SHOW",
					    "DESC", "EXPLAIN", "SAVEPOINT",
					    "RELEASE", NULL };
	/* a multi-statement packet may hide a SET after its first verb */
	bool multi = sql && memchr(sql, ';', len);
	size_t i;

	for (i = 0; sql && !multi && keep[i]; i++) {
		size_t n = strlen(keep[i]);

		if (len > n && strncasecmp(sql, keep[i], n) == 0 &&
		    (isspace((unsigned char)sql[n]) || sql[n] == ';'))
			return;
		if (len == n && strncasecmp(sql, keep[i], n) == 0)
			return;
	}
	c->ctx.known = false;
	c->ctx.fresh = false;
	if (!sql)
		return;
	for (i = 0; taint[i]; i++) {
		size_t n = strlen(taint[i]);

		if (len >= n && strncasecmp(sql, taint[i], n) == 0)
			c->ctx.tainted = true;
		/* a later statement of a multi-statement packet */
		if (multi && util_memcasemem(sql, len, taint[i]))
			c->ctx.tainted = true;
	}
}

static void batch_client_reply_done(struct client *c)
{
	uint64_t now = util_now_us();

	stats_record_latency(now - c->query_start_us);
	/* its own session still holds the previous statement's warnings
	 * and FOUND_ROWS(): keep the text to replay if they are asked for */
	free(c->diag_sql);
	c->diag_sql = c->batch_sql;
	c->diag_sql_len = c->batch_sql_len;
	c->batch_sql = NULL;
	c->batch = NULL;
	client_command_done(c);
}

/* Run the client's lookup alone on its own connection (fall-back). */
static void batch_run_solo(struct client *c, struct batch_group *g)
{
	char *sql = c->batch_sql;
	size_t len = c->batch_sql_len;

	c->batch = NULL;
	c->batch_sql = NULL;
	c->solo_group = g;
	if (g)
		g->inflight++;
	c->state = CLIENT_IDLE;
	if (!client_run_own(c, sql, len)) {
		if (g)
			g->inflight--;
		c->solo_group = NULL;
		c->seq = 1;
		client_send_err(c, 1927, "70100",
				"inbatch: backend connection is gone");
		client_close(c, "no backend for a fall-back lookup");
	}
	free(sql);
}

void batch_solo_done(struct client *c)
{
	struct batch_group *g = c->solo_group;

	c->solo_group = NULL;
	if (!g)
		return;
	stats_record_latency(util_now_us() - c->query_start_us);
	if (g->st)
		stats_hist_add(&g->st->latency, stats_lat_bounds,
			       STATS_LAT_BUCKETS,
			       (double)(util_now_us() - c->query_start_us));
	if (g->inflight)
		g->inflight--;
	/* adaptive: what gathered while this ran goes now */
	if (g->inflight == 0 && g->gathering &&
	    ib.cfg->batch_mode == CFG_BATCH_ADAPTIVE)
		batch_flush(g->gathering);
}

static void batch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	batch_flush(arg);
}

static struct batch *batch_new(struct batch_group *g)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->timer = evtimer_new(ib.base, batch_timer_cb, b);
	if (!b->timer) {
		free(b);
		return NULL;
	}
	b->g = g;
	TAILQ_INIT(&b->clients);
	return b;
}

/* Add client <c> (its lookup text in c->batch_sql) to <b>. */
static bool batch_add(struct batch *b, struct client *c,
		      const struct classify_result *cr)
{
	const char *lit = c->batch_sql + cr->key.off;
	unsigned i;

	for (i = 0; i < b->n_keys; i++) {
		if (b->keys[i].len == cr->key.len &&
		    memcmp(b->keys[i].lit, lit, cr->key.len) == 0)
			break;
	}
	if (i == b->n_keys) {
		if (b->n_keys == b->cap_keys) {
			unsigned cap = b->cap_keys ? b->cap_keys * 2 : 16;
			struct batch_key *k = realloc(b->keys, cap * sizeof(*k));

			if (!k)
				return false;
			b->keys = k;
			b->cap_keys = cap;
		}
		b->keys[i].lit = malloc(cr->key.len);
		if (!b->keys[i].lit)
			return false;
		memcpy(b->keys[i].lit, lit, cr->key.len);
		b->keys[i].len = cr->key.len;
		b->keys[i].clients = 0;
		b->n_keys++;
	} else {
		IB_STAT_INC(keys_deduplicated);
	}
	b->keys[i].clients++;
	c->batch = b;
	c->batch_idx = i;
	TAILQ_INSERT_TAIL(&b->clients, c, batch_entry);
	b->n_clients++;
	c->state = CLIENT_BATCHED;
	return true;
}

static void batch_put_span(struct pktbuf *pb, const char *base,
			   struct classify_span s)
{
	pktbuf_put_bytes(pb, base + s.off, s.len);
}

/*
 * The coalesced query: a derived table of (index, key) joined to the
 * looked-up table, so the server compares each key under the column's own
 * collation and tags every row with the index of the key it matched.
 */
static bool batch_build_sql(struct batch *b)
{
	struct batch_group *g = b->g;
	const struct classify_result *cr = &g->cr;
	const char *t = g->tmpl;
	struct pktbuf pb;
	char num[48];
	unsigned i;

	pktbuf_init(&pb);
	pktbuf_put_u8(&pb, COM_QUERY);
	pktbuf_put_bytes(&pb, "SELECT __ib_d.__ib_i, ", 22);
	if (cr->select_star) {
		if (cr->alias.len)
			batch_put_span(&pb, t, cr->alias);
		else
			batch_put_span(&pb, t, cr->table);
		pktbuf_put_bytes(&pb, ".*", 2);
	} else {
		batch_put_span(&pb, t, cr->select_list);
	}
	pktbuf_put_bytes(&pb, " FROM (", 7);
	for (i = 0; i < b->n_keys; i++) {
		if (i == 0)
			pktbuf_put_bytes(&pb, "SELECT 0 AS __ib_i, ", 20);
		else {
			snprintf(num, sizeof(num), " UNION ALL SELECT %u, ", i);
			pktbuf_put_bytes(&pb, num, strlen(num));
		}
		pktbuf_put_bytes(&pb, b->keys[i].lit, b->keys[i].len);
		if (i == 0)
			pktbuf_put_bytes(&pb, " AS __ib_k", 10);
	}
	pktbuf_put_bytes(&pb, ") AS __ib_d JOIN ", 17);
	batch_put_span(&pb, t, cr->table);
	if (cr->alias.len) {
		pktbuf_put_bytes(&pb, " AS ", 4);
		batch_put_span(&pb, t, cr->alias);
	}
	pktbuf_put_bytes(&pb, " ON ", 4);
	batch_put_span(&pb, t, cr->key_col);
	pktbuf_put_bytes(&pb, " = __ib_d.__ib_k", 16);
	if (cr->where_rest.len) {
		pktbuf_put_bytes(&pb, " WHERE (", 8);
		batch_put_span(&pb, t, cr->where_rest);
		pktbuf_put_u8(&pb, ')');
	}
	/* rows are routed by __ib_i, not by position; order matters only
	 * among one key's rows, and without ORDER BY a key with more than
	 * one row falls back anyway, so the sort is skipped then */
	if (cr->order_by.len) {
		pktbuf_put_bytes(&pb, " ORDER BY __ib_d.__ib_i, ", 25);
		batch_put_span(&pb, t, cr->order_by);
	}
	if (pb.failed) {
		pktbuf_free(&pb);
		return false;
	}
	b->sql = (char *)pb.buf; /* with the command byte first */
	b->sql_len = pb.len;
	return true;
}

/* Everything in <b> falls back to solo runs, counted under <reason>. */
static void batch_fallback_all(struct batch *b, uint64_t *reason)
{
	struct client *c;

	while ((c = TAILQ_FIRST(&b->clients)) != NULL) {
		TAILQ_REMOVE(&b->clients, c, batch_entry);
		b->n_clients--;
		IB_STAT_INC(fallbacks);
		(*reason)++;
		if (b->g->st)
			b->g->st->fallbacks++;
		batch_run_solo(c, b->g);
	}
}

/*
 * Fan <rs> out.  A key falls back when its rows cannot be proven to be
 * exactly what its own query returns: more rows than its LIMIT, or more
 * than one row with no ORDER BY to fix their order.
 */
static void batch_fanout(struct batch *b, const struct fanout_rs *rs)
{
	const struct classify_result *cr = &b->g->cr;
	unsigned *rows_per_key = calloc(b->n_keys, sizeof(unsigned));
	unsigned i, k;
	struct client *c, *next;

	if (!rows_per_key) {
		batch_fallback_all(b, &ib.stats.fallback_error);
		return;
	}
	for (i = 0; i < rs->nrows; i++)
		rows_per_key[rs->row_key[i]]++;
	for (c = TAILQ_FIRST(&b->clients); c; c = next) {
		next = TAILQ_NEXT(c, batch_entry);
		k = c->batch_idx;
		TAILQ_REMOVE(&b->clients, c, batch_entry);
		b->n_clients--;
		if ((cr->limit >= 0 && rows_per_key[k] > (unsigned long long)cr->limit &&
		     cr->limit != 0) ||
		    (rows_per_key[k] > 1 && !cr->order_by.len)) {
			IB_STAT_INC(fallbacks);
			IB_STAT_INC(fallback_rows);
			if (b->g->st)
				b->g->st->fallbacks++;
			batch_run_solo(c, b->g);
			continue;
		}
		if (!fanout_send(c, rs, k, cr->limit == 0 ? 0 : rows_per_key[k],
				 b->g->index_flags)) {
			IB_STAT_INC(oom_errors);
			client_close(c, "out of memory sending a batch result");
			continue;
		}
		IB_STAT_INC(queries_batched);
		if (b->g->st)
			stats_hist_add(&b->g->st->latency, stats_lat_bounds,
				       STATS_LAT_BUCKETS,
				       (double)(util_now_us() - c->query_start_us));
		batch_client_reply_done(c);
	}
	free(rows_per_key);
}

/* Finish <b> by falling back when <be> cannot be used any further. */
static void batch_abort(struct batch *b, struct backend *be, uint64_t *reason)
{
	b->be = NULL;
	if (be && be->pool && be->state == BACKEND_IDLE)
		pool_release(be->pool, be);
	batch_fallback_all(b, reason);
	batch_finish(b);
}

static void batch_result_cb(struct backend *be, void *arg,
			    struct backend_result *res)
{
	struct batch *b = arg;
	struct batch_group *g = b->g;
	struct fanout_rs rs, solo;
	bool indexed = b->n_keys > 1;

	if (g->st)
		g->st->backend_us += util_now_us() - b->sent_us;
	b->be = NULL;
	if (be->pool && be->state == BACKEND_IDLE)
		pool_release(be->pool, be);
	if (!res || !fanout_rs_parse(res, indexed, b->n_keys, &rs)) {
		batch_fallback_all(b, &ib.stats.fallback_error);
		batch_finish(b);
		return;
	}
	if (indexed) {
		/* clients get the lookup's own column definitions; the
		 * coalesced ones must describe the same values */
		if (g->meta != 1 || !fanout_rs_parse(&g->solo, false, 1, &solo)) {
			fanout_rs_free(&rs);
			batch_fallback_all(b, &ib.stats.fallback_metadata);
			batch_finish(b);
			return;
		}
		if (!fanout_compatible_defs(&rs, &solo)) {
			log_info("shape %s: coalesced columns differ from the "
				 "lookup's own; not batching it",
				 g->st ? g->st->text : "?");
			g->meta = -1;
			fanout_rs_free(&rs);
			fanout_rs_free(&solo);
			batch_fallback_all(b, &ib.stats.fallback_metadata);
			batch_finish(b);
			return;
		}
		fanout_use_defs(&rs, &solo);
		fanout_rs_free(&solo);
	}
	if (rs.warnings) {
		fanout_rs_free(&rs);
		batch_fallback_all(b, &ib.stats.fallback_warnings);
		batch_finish(b);
		return;
	}
	batch_fanout(b, &rs);
	fanout_rs_free(&rs);
	batch_finish(b);
}

/* Send the batch's query: coalesced, or its one key's own text. */
static void batch_send(struct batch *b, struct backend *be)
{
	const char *sql;
	size_t len;

	if (b->n_clients == 0) {
		pool_release(be->pool, be);
		batch_finish(b);
		return;
	}
	if (b->n_keys > 1 && b->g->meta != 1) {
		batch_abort(b, be, &ib.stats.fallback_metadata);
		return;
	}
	b->be = be;
	b->sent_us = util_now_us();
	if (b->n_keys > 1) {
		sql = b->sql + 1;
		len = b->sql_len - 1;
	} else {
		/* one distinct key: its own text, answered to all askers */
		struct client *c = TAILQ_FIRST(&b->clients);

		sql = c->batch_sql;
		len = c->batch_sql_len;
	}
	if (!backend_query(be, sql, len, batch_result_cb, b))
		batch_abort(b, be, &ib.stats.fallback_error);
}

/* The probe's own run of one lookup: keep its column definitions. */
static void batch_probe_solo_cb(struct backend *be, void *arg,
				struct backend_result *res)
{
	struct batch *b = arg;
	struct batch_group *g = b->g;
	struct fanout_rs solo;

	if (!res || res->err || !fanout_rs_parse(res, false, 1, &solo)) {
		batch_abort(b, be, &ib.stats.fallback_error);
		return;
	}
	if (g->meta == 0) {
		g->index_flags = solo.status &
				 (ST_NO_INDEX_USED | ST_NO_GOOD_INDEX_USED);
		g->solo = *res;
		pktbuf_init(&res->pkts); /* ownership moved to the group */
		res->count = 0;
		g->meta = 1;
	}
	fanout_rs_free(&solo);
	batch_send(b, be);
}

/*
 * The key column's type decides whether the join compares as the lookup
 * does: a string literal against a string column, an integer against a
 * number column.  Anything else (a string key on a DECIMAL, a decimal
 * key on an INT, dates) converts differently in a join: not batched.
 */
static bool batch_key_type_ok(enum classify_key_type kt, uint8_t type)
{
	switch (kt) {
	case CLASSIFY_KEY_STRING:
		return type == 15 || type == 253 || type == 254 ||
		       (type >= 247 && type <= 252);
	case CLASSIFY_KEY_INT:
		return type == 1 || type == 2 || type == 3 || type == 8 ||
		       type == 9 || type == 13 || type == 0 || type == 246;
	default:
		return false;
	}
}

static void batch_probe_type_cb(struct backend *be, void *arg,
				struct backend_result *res)
{
	struct batch *b = arg;
	struct batch_group *g = b->g;
	struct fanout_rs rs;
	struct proto_coldef cd;
	struct client *c;
	bool ok;

	if (!res || res->err || !fanout_rs_parse(res, false, 1, &rs)) {
		batch_abort(b, be, &ib.stats.fallback_error);
		return;
	}
	ok = rs.ncols == 1 &&
	     proto_parse_coldef(rs.defs[0], rs.def_lens[0], &cd) &&
	     batch_key_type_ok(g->cr.key_type, cd.type);
	fanout_rs_free(&rs);
	if (!ok) {
		log_info("shape %s: key literal and column type convert "
			 "differently in a join; not batching it",
			 g->st ? g->st->text : "?");
		g->meta = -1;
		batch_abort(b, be, &ib.stats.fallback_metadata);
		return;
	}
	/* any client's own text gives the column definitions */
	c = TAILQ_FIRST(&b->clients);
	if (!c || !backend_query(be, c->batch_sql, c->batch_sql_len,
				 batch_probe_solo_cb, b))
		batch_abort(b, be, &ib.stats.fallback_error);
}

void batch_run(struct batch *b, struct backend *be)
{
	const struct classify_result *cr = &b->g->cr;
	const char *t = b->g->tmpl;
	struct pktbuf pb;
	bool ok;

	if (b->n_clients == 0 || b->n_keys == 1 || b->g->meta != 0) {
		batch_send(b, be);
		return;
	}
	/* first coalesced run of this shape: learn the key column's type
	 * and the lookup's own column definitions */
	b->be = be;
	pktbuf_init(&pb);
	pktbuf_put_bytes(&pb, "SELECT ", 7);
	batch_put_span(&pb, t, cr->key_col);
	pktbuf_put_bytes(&pb, " FROM ", 6);
	batch_put_span(&pb, t, cr->table);
	if (cr->alias.len) {
		pktbuf_put_bytes(&pb, " AS ", 4);
		batch_put_span(&pb, t, cr->alias);
	}
	pktbuf_put_bytes(&pb, " LIMIT 0", 8);
	ok = !pb.failed && backend_query(be, (const char *)pb.buf, pb.len,
					 batch_probe_type_cb, b);
	pktbuf_free(&pb);
	if (!ok)
		batch_abort(b, be, &ib.stats.fallback_error);
}

void batch_fail(struct batch *b, const uint8_t *err, size_t len)
{
	(void)err;
	(void)len;
	/* the pool cannot run it: each lookup tries its own connection */
	batch_fallback_all(b, &ib.stats.fallback_error);
	batch_finish(b);
}

/* Send a gathered batch: close it to newcomers and queue it. */
static void batch_flush(struct batch *b)
{
	struct batch_group *g = b->g;

	if (b->sent)
		return;
	b->sent = true;
	evtimer_del(b->timer);
	if (g->gathering == b)
		g->gathering = NULL;
	if (b->n_clients == 0) {
		batch_finish(b);
		return;
	}
	g->inflight++;
	log_debug("batch: %u lookups, %u distinct keys, shape %s", b->n_clients,
		  b->n_keys, g->st ? g->st->text : "?");
	IB_STAT_INC(batches);
	IB_STAT_ADD(batch_keys, b->n_keys);
	IB_STAT_ADD(queries_batched, 0);
	if (b->n_clients > 1)
		IB_STAT_ADD(backend_statements_saved, b->n_clients - 1);
	stats_record_batch(b->n_keys);
	if (g->st) {
		g->st->batches++;
		g->st->keys += b->n_keys;
		if (b->n_keys > g->st->max_keys)
			g->st->max_keys = b->n_keys;
	}
	if (b->n_keys > 1 && !batch_build_sql(b)) {
		g->inflight--;
		batch_fallback_all(b, &ib.stats.fallback_error);
		batch_finish(b);
		return;
	}
	pool_submit(g->pool, b);
}

/* The batch is over: release the group slot and free it later. */
static void batch_finish(struct batch *b)
{
	struct batch_group *g = b->g;

	if (b->done)
		return;
	b->done = true;
	if (b->sent && g->inflight)
		g->inflight--;
	if (g->gathering == b)
		g->gathering = NULL;
	evtimer_del(b->timer);
	b->free_next = batch_done_list;
	batch_done_list = b;
	if (g->inflight == 0 && g->gathering &&
	    ib.cfg->batch_mode == CFG_BATCH_ADAPTIVE)
		batch_flush(g->gathering);
}

void batch_free_done(void)
{
	struct batch *b;

	while ((b = batch_done_list) != NULL) {
		unsigned i;

		batch_done_list = b->free_next;
		for (i = 0; i < b->n_keys; i++)
			free(b->keys[i].lit);
		event_free(b->timer);
		free(b->keys);
		free(b->sql);
		free(b);
	}
}

void batch_client_gone(struct client *c)
{
	struct batch *b = c->batch;

	if (!b)
		return;
	TAILQ_REMOVE(&b->clients, c, batch_entry);
	b->n_clients--;
	c->batch = NULL;
	/* its key text may be referenced by the batch: keep the text alive
	 * by leaving it with the batch; free it with the client instead */
	if (b->n_clients == 0 && !b->sent)
		batch_flush(b);
}

/* Look up or create the group for <c>'s lookup classified as <cr>. */
static struct batch_group *batch_group_get(struct client *c,
					   const struct classify_result *cr)
{
	const char *sql = c->batch_sql;
	size_t klen = strlen(c->ctx.key);
	size_t tail = c->batch_sql_len - cr->key.off - cr->key.len;
	size_t n = klen + 3 + cr->key.off + tail;
	char *key = malloc(n);
	struct batch_group *g;
	uint32_t h;
	const struct cfg_user *u;
	char shape[CLASSIFY_MAX_LEN + 2];
	size_t slen;

	if (!key)
		return NULL;
	memcpy(key, c->ctx.key, klen);
	key[klen] = '\0';
	key[klen + 1] = (char)('0' + cr->key_type);
	memcpy(key + klen + 2, sql, cr->key.off);
	key[klen + 2 + cr->key.off] = '\0';
	memcpy(key + klen + 3 + cr->key.off, sql + cr->key.off + cr->key.len,
	       tail);
	h = batch_hash(key, n) % BATCH_GROUPS_HASH;
	for (g = batch_groups[h]; g; g = g->next) {
		if (g->key_len == n && memcmp(g->key, key, n) == 0) {
			free(key);
			return g;
		}
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		free(key);
		return NULL;
	}
	g->key = key;
	g->key_len = n;
	pktbuf_init(&g->solo.pkts);
	g->tmpl = malloc(c->batch_sql_len);
	if (!g->tmpl) {
		free(key);
		free(g);
		return NULL;
	}
	memcpy(g->tmpl, sql, c->batch_sql_len);
	g->tmpl_len = c->batch_sql_len;
	g->cr = *cr;
	slen = cr->key.off;
	memcpy(shape, sql, slen);
	shape[slen++] = '?';
	memcpy(shape + slen, sql + cr->key.off + cr->key.len, tail);
	slen += tail;
	g->st = stats_shape_get(shape, slen);
	u = cfg_find_user(ib.cfg, c->user, strlen(c->user));
	{
		/* the pool session mirrors this context */
		char *f[CTX__COUNT], *copy = strdup(c->ctx.key), *p;
		char setup[2048];
		unsigned i = 0;

		if (!copy) {
			free(g->tmpl);
			free(key);
			free(g);
			return NULL;
		}
		for (p = copy; i < CTX__COUNT; i++) {
			f[i] = p;
			p = strchr(p, BATCH_CTX_SEP);
			if (!p)
				break;
			*p++ = '\0';
		}
		if (i != CTX__COUNT - 1) {
			free(copy);
			free(g->tmpl);
			free(key);
			free(g);
			return NULL;
		}
		snprintf(setup, sizeof(setup),
			 "SET SESSION character_set_client = '%s', "
			 "character_set_connection = '%s', "
			 "collation_connection = '%s', "
			 "character_set_results = %s%s%s, sql_mode = '%s', "
			 "time_zone = '%s', sql_select_limit = DEFAULT, "
			 "max_sort_length = %s, div_precision_increment = %s, "
			 "lc_time_names = '%s', group_concat_max_len = %s, "
			 "autocommit = 1",
			 f[CTX_CS_CLIENT], f[CTX_CS_CONN], f[CTX_COLL_CONN],
			 strcmp(f[CTX_CS_RESULTS], "NULL") ? "'" : "",
			 f[CTX_CS_RESULTS],
			 strcmp(f[CTX_CS_RESULTS], "NULL") ? "'" : "",
			 f[CTX_SQL_MODE], f[CTX_TIME_ZONE], f[CTX_MAX_SORT], f[CTX_DIV_PREC], f[CTX_LC_TIME],
			 f[CTX_GCML]);
		g->pool = pool_get(c->ctx.key, c->user, u ? u->password : "",
				   f[CTX_DB][0] ? f[CTX_DB] : NULL, 33, setup);
		free(copy);
	}
	if (!g->pool) {
		free(g->tmpl);
		free(key);
		free(g);
		return NULL;
	}
	g->next = batch_groups[h];
	batch_groups[h] = g;
	return g;
}

/* Values we never batch under (multibyte sets whose bytes can look like
 * quotes, or sessions we cannot mirror). */
static bool batch_ctx_acceptable(const char *ctx)
{
	static const char *const bad[] = { "\x1f" "big5\x1f", "\x1fgbk\x1f",
					   "\x1fsjis\x1f", "\x1f" "cp932\x1f",
					   "\x1fgb18030\x1f", "'", "\\", NULL };
	const char *p = ctx;
	unsigned i;

	for (i = 0; bad[i]; i++)
		if (strstr(ctx, bad[i]))
			return false;
	/* sql_select_limit would cap the whole coalesced query, not each
	 * key: sessions that set it are not batched */
	for (i = 0; i < CTX_SELECT_LIMIT && p; i++) {
		p = strchr(p, BATCH_CTX_SEP);
		if (p)
			p++;
	}
	return p && strncmp(p, "18446744073709551615\x1f", 21) == 0;
}

/* Lexing rules of <c>'s session, from the status flags it last saw. */
static unsigned batch_classify_flags(const struct client *c)
{
	unsigned flags = 0;

	if (c->status & ST_ANSI_QUOTES)
		flags |= CLASSIFY_ANSI_QUOTES;
	if (c->status & ST_NO_BACKSLASH_ESCAPES)
		flags |= CLASSIFY_NO_BACKSLASH_ESC;
	return flags;
}

/* Place <c>'s lookup, classified as <cr>, now that its context is known. */
static bool batch_place(struct client *c, const struct classify_result *cr)
{
	struct batch_group *g;

	g = batch_group_get(c, cr);
	if (!g || g->meta < 0)
		return false;
	if (g->st)
		g->st->lookups++;
	IB_STAT_INC(queries_select);

	if (ib.cfg->batch_mode == CFG_BATCH_ADAPTIVE && g->inflight == 0 &&
	    !g->gathering) {
		/* nothing of this shape in flight: go now, alone */
		batch_run_solo(c, g);
		return true;
	}
	if (!g->gathering) {
		struct timeval tv;

		g->gathering = batch_new(g);
		if (!g->gathering)
			return false;
		tv.tv_sec = ib.cfg->batch_window_us / 1000000;
		tv.tv_usec = ib.cfg->batch_window_us % 1000000;
		evtimer_add(g->gathering->timer, &tv);
	}
	if (!batch_add(g->gathering, c, cr))
		return false;
	if (g->gathering->n_clients >= (unsigned)ib.cfg->batch_max_keys)
		batch_flush(g->gathering);
	return true;
}

static void batch_ctx_cb(struct backend *be, void *arg,
			 struct backend_result *res)
{
	struct client *c = arg;
	struct classify_result cr;
	size_t pos = 0, len, vlen;
	const uint8_t *p, *v = NULL;
	struct proto_rd rd;
	bool null = true;
	unsigned i;

	(void)be;
	if (c->state == CLIENT_CLOSING)
		return;
	if (res && !res->err) {
		/* count, def, EOF, row */
		for (i = 0; i < 4 && backend_result_next(res, &pos, &p, &len); i++)
			;
		if (i == 4 && len && p[0] != 0xFE) {
			proto_rd_init(&rd, p, len);
			v = proto_rd_lenenc_str(&rd, &vlen, &null);
			if (rd.failed)
				v = NULL;
		}
	}
	if (v && !null) {
		free(c->ctx.key);
		c->ctx.key = malloc(vlen + 1);
		if (c->ctx.key) {
			memcpy(c->ctx.key, v, vlen);
			c->ctx.key[vlen] = '\0';
			c->ctx.known = true;
			if (!batch_ctx_acceptable(c->ctx.key))
				c->ctx.tainted = true;
			else if (c->ctx.fresh)
				batch_fresh_store(c);
		}
	} else {
		c->ctx.tainted = true;
	}
	if (!c->be && !res) {
		client_close(c, "backend lost while reading the session");
		return;
	}
	if (!c->ctx.known || c->ctx.tainted ||
	    !classify_query(c->batch_sql, c->batch_sql_len,
			    batch_classify_flags(c), &cr) ||
	    !batch_place(c, &cr)) {
		c->state = CLIENT_BATCHED;
		batch_run_solo(c, NULL);
	}
}

bool batch_submit(struct client *c, const char *sql, size_t len)
{
	struct classify_result cr;
	const char *fresh;

	if (ib.cfg->batch_mode == CFG_BATCH_OFF || c->ctx.tainted ||
	    (c->status & ST_IN_TRANS) || !c->be ||
	    c->be->state != BACKEND_IDLE)
		return false;
	if (!(c->status & ST_AUTOCOMMIT) &&
	    (!ib.cfg->batch_autocommit_off || c->implicit_trx))
		return false;
	/* cheap test first: most statements are rejected right here */
	if (!classify_query(sql, len, batch_classify_flags(c), &cr))
		return false;
	c->batch_sql = malloc(len);
	if (!c->batch_sql)
		return false;
	/* this lookup opens the session's transaction: later statements
	 * must run on its own connection (see client_track_trx) */
	if (!(c->status & ST_AUTOCOMMIT))
		c->implicit_trx = true;
	memcpy(c->batch_sql, sql, len);
	c->batch_sql_len = len;
	if (!c->ctx.known && c->ctx.fresh &&
	    (fresh = batch_fresh_find(c)) != NULL) {
		c->ctx.key = strdup(fresh);
		c->ctx.known = c->ctx.key != NULL;
	}
	if (!c->ctx.known) {
		if (!backend_query(c->be, batch_ctx_sql, sizeof(batch_ctx_sql) - 1,
				   batch_ctx_cb, c)) {
			free(c->batch_sql);
			c->batch_sql = NULL;
			return false;
		}
		c->state = CLIENT_BATCHED;
		return true;
	}
	if (!batch_place(c, &cr)) {
		free(c->batch_sql);
		c->batch_sql = NULL;
		return false;
	}
	return true;
}
