/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * batch.c: gather lookups of one shape and one session context, run them
 * as one query (a keys join, or an IN list of integer keys) on a waiting
 * client's own session, and fan each client its own result back, exactly
 * or not at all: whatever cannot be proven exact runs alone on the
 * client's own session. */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "classify.h"
#include "fanout.h"
#include "session.h"

#define BATCH_GROUPS_HASH 1024
/* How long a shape's probe (key column type, base table) is trusted when
 * no DDL was seen through inbatch meanwhile. */
#define BATCH_PROBE_TTL_US 1000000
/* A batch answered from kept definitions (batch_fanout_kept): at most so
 * many in a row before one runs the lookup itself again. */
#define BATCH_KEPT_USES 32
/* Definitions larger than this are not kept, nor more than
 * BATCH_KEPT_TOTAL in all: groups are many, a wide result runs the
 * lookup every time. */
#define BATCH_KEPT_MAX 16384
#define BATCH_KEPT_TOTAL (4u << 20) /* per loop */
/* A batched client's diagnostics are restored by a statement of this many
 * rows at most (see client_diag_sql); keys with more rows run alone. */
#define BATCH_MAX_ROWS_PER_KEY 1000
/* Integer keys longer than this could be widened by the keys union; up
 * to this, the server reads each as a BIGINT, in an IN list too. */
#define BATCH_INT_KEY_DIGITS 18
/* Finished batches kept for the next ones, timer and arrays with them. */
#define BATCH_SPARE_MAX 64
#define BATCH_SPARE_KBUF 16384

/* A distinct key of a batch: where its encoding lies in b->kbuf. */
struct batch_kref {
	size_t off, len;
	uint64_t hash; /* of the encoding, with the process's seed */
};

/*
 * One batch: clients waiting for one shape in one context.  It runs on
 * the first client's session (the runner): the coalesced query for the
 * other keys, then the runner's own lookup, so the runner's session ends
 * with its own statement and every other client gets definitions and
 * status from a real run of the lookup.  Both go in one write, the
 * server answers them in order: one round trip.  While the group keeps
 * such a run's definitions and the join's still match them, the join
 * alone answers every key, the runner's too (skip_own).
 */
struct batch {
	struct batch *free_next; /* done list */
	struct batch_group *g;
	TAILQ_HEAD(, lookup) clients;
	unsigned n_clients;
	struct batch_kref *keys;
	unsigned n_keys, cap_keys;
	/* the keys by hash, so that adding one is not a scan of the others:
	 * open addressing, index + 1 (0: empty), at most half full */
	unsigned *kslot;
	unsigned kslot_cap;
	struct pktbuf kbuf; /* the keys as the coalesced query writes them */
	struct event *timer; /* the gather window, then query_timeout */
	struct lookup *runner;
	struct backend_result co; /* the coalesced result, owned */
	bool have_co;
	bool own_queued; /* the runner's own lookup went behind the join */
	bool skip_own;	 /* no own lookup: the join has every key */
	bool by_value;	 /* integer keys in an IN list (batch_keys_sql) */
	unsigned skip_idx; /* the key the coalesced query left out, or n_keys */
	unsigned sent_n; /* lookups when sent, in the group's inflight_n */
	bool sent;
	bool done;
	bool kicked; /* on the batcher's kicks: flushes after this wakeup */
	TAILQ_ENTRY(batch) kick_entry;
	uint64_t sent_us;
	/* clients answered from the join, and clients whose several rows
	 * it could not send in their lookup's order */
	unsigned n_sent_rows, n_unordered;
};

/*
 * One statement shape in one session context.  <key> holds the context,
 * a NUL, the key type, the text before the key, a NUL and the text after
 * it; <ctx_len> and <head_len> say where the parts meet, so two keys are
 * equal only part by part.
 */
struct batch_group {
	struct batch_group *next; /* hash chain */
	TAILQ_ENTRY(batch_group) lru; /* least recently used first */
	uint64_t hash;
	char *key;
	size_t key_len, ctx_len, head_len;
	struct stats_shape *st;
	struct batch *gathering;
	unsigned inflight;
	unsigned inflight_n; /* lookups of the statements in flight */
	bool probe_ok;	     /* key type and base table proven */
	uint64_t probed_us;  /* 0: never */
	/* when most of a batch's keys had rows it could not send in the
	 * lookup's order (0: never): the shape runs alone for a probe's
	 * lifetime, not a join and then most lookups after it */
	uint64_t unordered_us;
	unsigned probed_epoch;
	/* The lookup's own result without its rows, from a batch that ran
	 * it beside a join that showed the same definitions byte for byte:
	 * while a join does, a batch needs no run of the lookup.  Kept
	 * under one probe, for BATCH_KEPT_USES batches. */
	struct backend_result kept_own;
	uint64_t kept_probe_us;
	unsigned kept_uses;
	char *tmpl; /* the first lookup's text; spans of <cr> point into it */
	size_t tmpl_len;
	struct classify_result cr;
	unsigned lex_flags;
	char charset[32]; /* the introducer of string keys */
};

/* The batcher of one event loop (ib_loop->batcher). */
struct batcher {
	struct batch_group *groups[BATCH_GROUPS_HASH];
	TAILQ_HEAD(, batch_group) lru;
	unsigned n_groups;
	struct batch *done_list;
	struct batch *spare; /* finished, kept for reuse (free_next) */
	unsigned n_spare;
	unsigned ddl_epoch;
	size_t kept_bytes; /* the groups' kept definitions */
	/* adaptive: batches that may go (batch_adaptive_due) since this
	 * wakeup.  They go once the wakeup's other events ran, so that
	 * lookups read in the same wakeup join them rather than the next
	 * batch. */
	TAILQ_HEAD(, batch) kicks;
	struct event *kick_ev;
};

static void batch_group_free(struct batcher *bt, struct batch_group *g);
static void batch_free(struct batch *b);
static void batch_kick_cb(evutil_socket_t fd, short what, void *arg);

bool batch_init(struct ib_loop *loop)
{
	loop->batcher = calloc(1, sizeof(*loop->batcher));
	if (!loop->batcher)
		return false;
	TAILQ_INIT(&loop->batcher->lru);
	TAILQ_INIT(&loop->batcher->kicks);
	loop->batcher->kick_ev = event_new(loop->base, -1, 0, batch_kick_cb,
					   loop->batcher);
	if (!loop->batcher->kick_ev) {
		free(loop->batcher);
		loop->batcher = NULL;
		return false;
	}
	return true;
}

void batch_exit(struct ib_loop *loop)
{
	struct batch_group *g;
	struct batcher *bt = loop->batcher;

	if (!bt)
		return;
	while ((g = TAILQ_FIRST(&bt->lru)) != NULL) {
		TAILQ_REMOVE(&bt->lru, g, lru);
		batch_group_free(bt, g);
	}
	while (bt->spare) {
		struct batch *b = bt->spare;

		bt->spare = b->free_next;
		batch_free(b);
	}
	event_free(bt->kick_ev);
	free(bt);
	loop->batcher = NULL;
}

static void batch_flush(struct batch *b);
static void batch_finish(struct batch *b);
static void batch_coalesced(struct batch *b);
static void batch_own(struct batch *b);
static bool batch_probe_fresh(const struct batch_group *g);

/*
 * Adaptive: may the batch gathering in <g> go?  When nothing of its shape
 * is in flight; or beside one statement in flight once batch_busy_keys
 * have gathered and as many as that statement holds: large enough to pay
 * for its statement, it keeps a second CPU of the server busy while the
 * next batch gathers, and it is no smaller than the one it runs beside.
 */
static bool batch_adaptive_due(const struct batch_group *g)
{
	unsigned busy = (unsigned)ib.cfg->batch_busy_keys;
	unsigned n;

	if (!g->gathering || ib.cfg->batch_mode != CFG_BATCH_ADAPTIVE)
		return false;
	n = g->gathering->n_clients;
	/* two lookups or fewer run alone (batch_flush), each a statement */
	return g->inflight == 0 ||
	       (busy && g->inflight == 1 && n > 2 && n >= busy &&
		n >= g->inflight_n);
}

/* Adaptive: <b> goes at the end of this wakeup (see struct batcher). */
static void batch_kick(struct batch *b)
{
	struct batcher *bt = ib_loop->batcher;

	if (b->kicked || b->sent)
		return;
	b->kicked = true;
	if (TAILQ_EMPTY(&bt->kicks))
		event_active(bt->kick_ev, EV_TIMEOUT, 0);
	TAILQ_INSERT_TAIL(&bt->kicks, b, kick_entry);
}

static void batch_unkick(struct batch *b)
{
	if (!b->kicked)
		return;
	b->kicked = false;
	TAILQ_REMOVE(&ib_loop->batcher->kicks, b, kick_entry);
}

static void batch_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct batcher *bt = arg;
	struct batch *b;

	(void)fd;
	(void)what;
	while ((b = TAILQ_FIRST(&bt->kicks)) != NULL)
		batch_flush(b); /* unkicks it */
}

static bool batch_join_checked(struct batch_group *g,
			       const struct fanout_rs *rs);

void batch_note_ddl(void)
{
	ib_loop->batcher->ddl_epoch++;
}

/* Outcome 1: <l> was sent its answer of <rows> rows; <own>: by its own
 * session's run of it. */
static void batch_answered(struct lookup *l, unsigned rows, bool own)
{
	free(l->sql);
	l->sql = NULL;
	l->batch = NULL;
	l->ops->answered(l, rows, own);
}

/* Outcome 2: run the lookup alone on its own connection (fall-back). */
static void batch_run_solo(struct lookup *l, struct batch_group *g)
{
	char *sql = l->sql;
	size_t len = l->sql_len;

	l->batch = NULL;
	l->sql = NULL;
	l->solo_group = g;
	if (g) {
		g->inflight++;
		g->inflight_n++;
	}
	if (!l->ops->fall_back(l, sql, len)) {
		if (g) {
			g->inflight--;
			g->inflight_n--;
		}
		l->solo_group = NULL;
		/* outcome 3 */
		l->ops->fail(l, true, "no backend for a fall-back lookup");
	}
	free(sql);
}

/* Can <l>'s session run a statement now? */
static struct backend *batch_idle_backend(struct lookup *l)
{
	struct backend *be = l->ops->backend(l);

	return be && be->state == BACKEND_IDLE ? be : NULL;
}

void batch_solo_done(struct lookup *l)
{
	struct batch_group *g = l->solo_group;
	uint64_t us = util_now_us() - l->start_us;

	l->solo_group = NULL;
	if (!g)
		return;
	stats_record_latency(us);
	if (g->st)
		stats_hist_add(&g->st->latency, stats_lat_bounds,
			       STATS_LAT_BUCKETS, (double)us);
	if (g->inflight)
		g->inflight--;
	if (g->inflight_n)
		g->inflight_n--;
	/* adaptive: what gathered while this ran may go at the end of this
	 * wakeup (batch_kick) */
	if (batch_adaptive_due(g))
		batch_kick(g->gathering);
}

/* Take <l> out of <b> and run its lookup alone, counted under <reason>. */
static void batch_fallback(struct batch *b, struct lookup *l, uint64_t *reason)
{
	TAILQ_REMOVE(&b->clients, l, batch_entry);
	b->n_clients--;
	if (b->runner == l)
		b->runner = NULL;
	IB_STAT_INC(fallbacks);
	(*reason)++;
	if (b->g->st)
		b->g->st->fallbacks++;
	batch_run_solo(l, b->g);
}

/* Every client of <b> but the runner falls back. */
static void batch_fallback_others(struct batch *b, uint64_t *reason)
{
	struct lookup *l, *next;

	for (l = TAILQ_FIRST(&b->clients); l; l = next) {
		next = TAILQ_NEXT(l, batch_entry);
		if (l != b->runner)
			batch_fallback(b, l, reason);
	}
}

static void batch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct batch *b = arg;

	(void)fd;
	(void)what;
	if (!b->sent) {
		batch_flush(b);
		return;
	}
	/* query_timeout: the others stop waiting for the runner's session
	 * (stuck behind a lock, say) and run their own lookups */
	log_info("batch of shape %s still running after query_timeout; its "
		 "other lookups run alone", b->g->st ? b->g->st->text : "?");
	batch_fallback_others(b, &ib_loop->stats.fallback_error);
}

static struct batch *batch_new(struct batch_group *g)
{
	struct batcher *bt = ib_loop->batcher;
	struct batch *b = bt->spare;

	if (b) {
		/* a finished one: its timer, key array and buffer stay */
		struct event *timer = b->timer;
		struct batch_kref *keys = b->keys;
		unsigned cap = b->cap_keys, *kslot = b->kslot,
			 kslot_cap = b->kslot_cap;
		struct pktbuf kbuf = b->kbuf;

		bt->spare = b->free_next;
		bt->n_spare--;
		memset(b, 0, sizeof(*b));
		b->timer = timer;
		b->keys = keys;
		b->cap_keys = cap;
		b->kslot = kslot;
		b->kslot_cap = kslot_cap;
		if (kslot)
			memset(kslot, 0, kslot_cap * sizeof(*kslot));
		b->kbuf = kbuf;
		pktbuf_reset(&b->kbuf);
	} else {
		b = calloc(1, sizeof(*b));
		if (!b)
			return NULL;
		b->timer = evtimer_new(ib_loop->base, batch_timer_cb, b);
		if (!b->timer) {
			free(b);
			return NULL;
		}
		pktbuf_init(&b->kbuf);
	}
	b->g = g;
	pktbuf_init(&b->co.pkts);
	TAILQ_INIT(&b->clients);
	return b;
}

/* Integer <*v>[<*n>] without its sign and leading zeros (zero-filled
 * values have them); true when it is negative and not zero. */
static bool batch_int_canon(const char **v, size_t *n)
{
	bool neg = *n && **v == '-';

	if (*n && (**v == '-' || **v == '+')) {
		(*v)++;
		(*n)--;
	}
	while (*n > 1 && **v == '0') {
		(*v)++;
		(*n)--;
	}
	return neg && !(*n == 1 && **v == '0');
}

/*
 * Append key value <val> of <n> bytes to <pb> as the coalesced query
 * writes it: an integer as it is; a string in hex under the client
 * character set's introducer <charset>, so nothing a client wrote is ever
 * read as SQL by another session, under any lexing rules.
 */
static void batch_put_value(struct pktbuf *pb, enum classify_key_type kt,
			    const char *charset, const char *val, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, cs = strlen(charset), at = pb->len;
	char *o;

	if (kt == CLASSIFY_KEY_INT) {
		/* the server reads +007 as 7 and -0 as 0: one key per
		 * value, so that a row's value names its key
		 * (batch_int_key_of) */
		bool neg = batch_int_canon(&val, &n);

		if (neg)
			pktbuf_put_u8(pb, '-');
		pktbuf_put_bytes(pb, val, n);
		return;
	}
	/* _cs X'..', or _cs '' for an empty value */
	pktbuf_put_zero(pb, 1 + cs + 3 + 2 * n + 1);
	if (pb->failed)
		return;
	o = (char *)pb->buf + at;
	*o++ = '_';
	memcpy(o, charset, cs);
	o += cs;
	if (n == 0) {
		memcpy(o, " ''", 3);
		o += 3;
	} else {
		memcpy(o, " X'", 3);
		o += 3;
		for (i = 0; i < n; i++) {
			*o++ = hex[(uint8_t)val[i] >> 4];
			*o++ = hex[(uint8_t)val[i] & 15];
		}
		*o++ = '\'';
	}
	pb->len = (size_t)((uint8_t *)o - pb->buf);
}

/* The same for a key literal <lit> as written in a lookup, lexed per
 * <lex_flags>; false when it does not decode or memory ran out. */
static bool batch_put_literal(struct pktbuf *pb, enum classify_key_type kt,
			      const char *charset, unsigned lex_flags,
			      const char *lit, size_t lit_len)
{
	/* a classified lookup is at most CLASSIFY_MAX_LEN long, so its
	 * literal decodes on the stack; only a longer one allocates */
	char buf[CLASSIFY_MAX_LEN], *val = buf;
	size_t n;
	bool ok = false;

	if (kt == CLASSIFY_KEY_INT) {
		batch_put_value(pb, kt, charset, lit, lit_len);
		return !pb->failed;
	}
	if (lit_len > sizeof(buf) && !(val = malloc(lit_len)))
		return false;
	if (classify_key_value(lit, lit_len, lex_flags, val, lit_len, &n)) {
		batch_put_value(pb, kt, charset, val, n);
		ok = !pb->failed;
	}
	if (val != buf)
		free(val);
	return ok;
}

/* What <pb> holds as a string of its own (NUL after it), for callers
 * that keep one key per allocation; NULL when it failed. */
static char *batch_take_string(struct pktbuf *pb, bool ok, size_t *out_len)
{
	pktbuf_put_u8(pb, 0);
	if (!ok || pb->failed) {
		pktbuf_free(pb);
		return NULL;
	}
	*out_len = pb->len - 1;
	return (char *)pb->buf;
}

char *batch_encode_value(enum classify_key_type kt, const char *charset,
			 const char *val, size_t n, size_t *out_len)
{
	struct pktbuf pb;

	pktbuf_init(&pb);
	batch_put_value(&pb, kt, charset, val, n);
	return batch_take_string(&pb, true, out_len);
}

char *batch_encode_literal(enum classify_key_type kt, const char *charset,
			   unsigned lex_flags, const char *lit, size_t lit_len,
			   size_t *out_len)
{
	struct pktbuf pb;
	bool ok;

	pktbuf_init(&pb);
	ok = batch_put_literal(&pb, kt, charset, lex_flags, lit, lit_len);
	return batch_take_string(&pb, ok, out_len);
}

/* The index of b's key <enc>[<len>] of hash <h>, or b->n_keys with
 * *<slot> where it would go. */
static unsigned batch_key_find(const struct batch *b, const uint8_t *enc,
			       size_t len, uint64_t h, unsigned *slot)
{
	unsigned mask = b->kslot_cap - 1, s = (unsigned)h & mask, i;
	const struct batch_kref *k;

	for (; (i = b->kslot[s]) != 0; s = (s + 1) & mask) {
		k = &b->keys[i - 1];
		if (k->hash == h && k->len == len &&
		    memcmp(b->kbuf.buf + k->off, enc, len) == 0)
			return i - 1;
	}
	*slot = s;
	return b->n_keys;
}

/* Twice the slots in b's table (kept at most half full, so a probe
 * ends); false when out of memory. */
static bool batch_key_grow(struct batch *b)
{
	unsigned cap, i, s, *t;

	cap = b->kslot_cap ? b->kslot_cap * 2 : 32;
	t = calloc(cap, sizeof(*t));
	if (!t)
		return false;
	for (i = 0; i < b->n_keys; i++) {
		for (s = (unsigned)b->keys[i].hash & (cap - 1); t[s];
		     s = (s + 1) & (cap - 1))
			;
		t[s] = i + 1;
	}
	free(b->kslot);
	b->kslot = t;
	b->kslot_cap = cap;
	return true;
}

/* Add lookup <l> (its text in l->sql) to <b>: its key is encoded at the
 * end of the batch's key buffer, and taken back if the batch has it. */
static bool batch_add(struct batch *b, struct lookup *l,
		      const struct classify_result *cr)
{
	const struct batch_group *g = b->g;
	size_t at = b->kbuf.len, len;
	const uint8_t *enc;
	unsigned i, slot = 0;
	uint64_t h;

	if (!batch_put_literal(&b->kbuf, g->cr.key_type, g->charset,
			       g->lex_flags, l->sql + cr->key.off,
			       cr->key.len)) {
		b->kbuf.len = at;
		b->kbuf.failed = false;
		return false;
	}
	len = b->kbuf.len - at;
	enc = b->kbuf.buf + at;
	h = util_hash(util_hash_seed(), enc, len);
	/* a key the batch has needs no room: look first, grow on a miss */
	i = b->kslot_cap ? batch_key_find(b, enc, len, h, &slot) : b->n_keys;
	if (i == b->n_keys && 2 * (b->n_keys + 1) > b->kslot_cap) {
		if (!batch_key_grow(b)) {
			b->kbuf.len = at;
			return false;
		}
		i = batch_key_find(b, enc, len, h, &slot);
	}
	if (i == b->n_keys) {
		if (b->n_keys == b->cap_keys) {
			unsigned cap = b->cap_keys ? b->cap_keys * 2 : 16;
			struct batch_kref *k = realloc(b->keys, cap * sizeof(*k));

			if (!k) {
				b->kbuf.len = at;
				return false;
			}
			b->keys = k;
			b->cap_keys = cap;
		}
		b->keys[i].off = at;
		b->keys[i].len = len;
		b->keys[i].hash = h;
		b->kslot[slot] = i + 1;
		b->n_keys++;
	} else {
		b->kbuf.len = at;
		IB_STAT_INC(keys_deduplicated);
	}
	l->batch = b;
	l->batch_idx = i;
	TAILQ_INSERT_TAIL(&b->clients, l, batch_entry);
	b->n_clients++;
	l->ops->wait(l);
	return true;
}

static void batch_put_span(struct pktbuf *pb, const char *base,
			   struct classify_span s)
{
	pktbuf_put_bytes(pb, base + s.off, s.len);
}

/*
 * "<table> [AS <alias>] USE INDEX FOR GROUP BY ()" of a template.  The
 * hint changes nothing for a lookup (no GROUP BY), but the server refuses
 * it on a view (1176): a table turned into a view since the probe makes
 * the statement fail, and the batch falls back, at once.
 */
static void batch_put_table_of(struct pktbuf *pb, const char *t,
			       const struct classify_result *cr)
{
	batch_put_span(pb, t, cr->table);
	if (cr->alias.len) {
		pktbuf_put_bytes(pb, " AS ", 4);
		batch_put_span(pb, t, cr->alias);
	}
	pktbuf_put_bytes(pb, " USE INDEX FOR GROUP BY ()", 26);
}

/* <v> in decimal at <buf> (room for 10 digits); returns the length. */
static size_t batch_utoa(char *buf, unsigned v)
{
	char tmp[10];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

/* "SELECT <head><col> AS __ib_c, <list>": the key column first, so that
 * every coalesced result shows the type it compared under
 * (batch_join_key_ok), not only the probe a second ago. */
static void batch_put_select(struct pktbuf *pb, const char *head,
			     size_t head_len, const char *t,
			     const struct classify_result *cr)
{
	pktbuf_put_bytes(pb, head, head_len);
	batch_put_span(pb, t, cr->key_col);
	pktbuf_put_bytes(pb, " AS __ib_c, ", 12);
	if (cr->select_star) {
		batch_put_span(pb, t, cr->alias.len ? cr->alias : cr->table);
		pktbuf_put_bytes(pb, ".*", 2);
	} else {
		batch_put_span(pb, t, cr->select_list);
	}
}

/*
 * The keys join: a derived table of (index, key) joined to the looked-up
 * table, so the server compares each key under the column's own rules
 * and tags every row with its key:
 *   SELECT __ib_d.__ib_i, <col> AS __ib_c, <list> FROM (SELECT 1 AS __ib_i,
 *   <k1> AS __ib_k UNION ALL ...) AS __ib_d STRAIGHT_JOIN <t>
 *   ON <col> = __ib_d.__ib_k [AND (<rest>)] [ORDER BY __ib_d.__ib_i, <order>]
 */
static bool batch_join_sql(struct pktbuf *pb, const char *t,
			   const struct classify_result *cr,
			   const struct batch_key *keys, unsigned n,
			   unsigned skip)
{
	unsigned i;
	bool first = true;
	char num[10];

	batch_put_select(pb, "SELECT __ib_d.__ib_i, ", 22, t, cr);
	pktbuf_put_bytes(pb, " FROM (", 7);
	for (i = 0; i < n; i++) {
		if (i == skip)
			continue;
		/* by hand: snprintf() here was a twentieth of the proxy's
		 * own instructions per batched lookup */
		if (first)
			pktbuf_put_bytes(pb, "SELECT ", 7);
		else
			pktbuf_put_bytes(pb, " UNION ALL SELECT ", 18);
		pktbuf_put_bytes(pb, num, batch_utoa(num, i));
		if (first)
			pktbuf_put_bytes(pb, " AS __ib_i, ", 12);
		else
			pktbuf_put_bytes(pb, ", ", 2);
		pktbuf_put_bytes(pb, keys[i].sql, keys[i].len);
		if (first)
			pktbuf_put_bytes(pb, " AS __ib_k", 10);
		first = false;
	}
	/* keys first, then the table by its key: the rest of the where
	 * clause is evaluated on the rows each lookup would evaluate it on,
	 * after the key matched, so it warns where the lookup would, while
	 * the server reads the table by the key column (not always: with
	 * many keys it may read by an index of the rest instead) */
	pktbuf_put_bytes(pb, ") AS __ib_d STRAIGHT_JOIN ", 26);
	batch_put_table_of(pb, t, cr);
	pktbuf_put_bytes(pb, " ON ", 4);
	batch_put_span(pb, t, cr->key_col);
	pktbuf_put_bytes(pb, " = __ib_d.__ib_k", 16);
	if (cr->where_rest.len) {
		pktbuf_put_bytes(pb, " AND (", 6);
		batch_put_span(pb, t, cr->where_rest);
		pktbuf_put_u8(pb, ')');
	}
	/* rows are routed by __ib_i; order matters only among one key's
	 * rows, and a key with several falls back but where its rows are
	 * sorted without ties (batch_rows_ok) */
	if (cr->order_by.len) {
		pktbuf_put_bytes(pb, " ORDER BY __ib_d.__ib_i, ", 25);
		batch_put_span(pb, t, cr->order_by);
	}
	return !first;
}

/*
 * Integer keys in an IN list, about half the server's work of a keys
 * join (no derived table); each row's key column names its key:
 *   SELECT <col> AS __ib_c, <list> FROM <t> WHERE <col> IN (<k1>, ...)
 *   [ORDER BY <order>]
 * Only for lookups without a rest of the where clause (batch_by_value_ok).
 */
static bool batch_in_sql(struct pktbuf *pb, const char *t,
			 const struct classify_result *cr,
			 const struct batch_key *keys, unsigned n,
			 unsigned skip)
{
	unsigned i;
	bool first = true;

	batch_put_select(pb, "SELECT ", 7, t, cr);
	pktbuf_put_bytes(pb, " FROM ", 6);
	batch_put_table_of(pb, t, cr);
	pktbuf_put_bytes(pb, " WHERE ", 7);
	batch_put_span(pb, t, cr->key_col);
	pktbuf_put_bytes(pb, " IN (", 5);
	for (i = 0; i < n; i++) {
		if (i == skip)
			continue;
		if (!first)
			pktbuf_put_bytes(pb, ", ", 2);
		pktbuf_put_bytes(pb, keys[i].sql, keys[i].len);
		first = false;
	}
	pktbuf_put_u8(pb, ')');
	/* a key's rows keep this order when they are routed */
	if (cr->order_by.len) {
		pktbuf_put_bytes(pb, " ORDER BY ", 10);
		batch_put_span(pb, t, cr->order_by);
	}
	return !first;
}

bool batch_keys_sql(struct pktbuf *pb, const char *t,
		    const struct classify_result *cr,
		    const struct batch_key *keys, unsigned n, unsigned skip,
		    bool by_value)
{
	bool any;

	pktbuf_init(pb);
	any = by_value ? batch_in_sql(pb, t, cr, keys, n, skip)
		       : batch_join_sql(pb, t, cr, keys, n, skip);
	return any && !pb->failed;
}

/*
 * May lookup <cr>'s keys go in an IN list?  Integer keys (of at most
 * BATCH_INT_KEY_DIGITS, batch_place) compare there as in each lookup and
 * cannot warn.  A rest of the where clause could: the server may then
 * read the rows by an index of the rest, and never test the rows a
 * lookup alone tests, nor warn on them.  The keys join holds the key
 * first (STRAIGHT_JOIN).
 */
bool batch_by_value_ok(const struct classify_result *cr)
{
	return cr->key_type == CLASSIFY_KEY_INT && cr->where_rest.len == 0;
}

/* b's keys as batch_keys_sql() takes them, pointing into b->kbuf;
 * malloc'ed, NULL when out of memory. */
static struct batch_key *batch_key_view(const struct batch *b)
{
	struct batch_key *keys = malloc(b->n_keys * sizeof(*keys));
	unsigned i;

	if (!keys)
		return NULL;
	for (i = 0; i < b->n_keys; i++) {
		keys[i].sql = (char *)b->kbuf.buf + b->keys[i].off;
		keys[i].len = b->keys[i].len;
	}
	return keys;
}

static bool batch_build_sql(struct batch *b, struct pktbuf *pb)
{
	struct batch_key *keys = batch_key_view(b);
	bool ok;

	if (!keys)
		return false;
	b->skip_idx = b->skip_own ? b->n_keys : b->runner->batch_idx;
	b->by_value = batch_by_value_ok(&b->g->cr);
	ok = batch_keys_sql(pb, b->g->tmpl, &b->g->cr, keys, b->n_keys,
			    b->skip_idx, b->by_value);
	free(keys);
	return ok;
}

/* An integer key of an IN list, and where it is among the keys. */
struct batch_int_key {
	int64_t v;
	unsigned idx;
};

static int batch_int_key_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct batch_int_key *)a)->v,
		y = ((const struct batch_int_key *)b)->v;

	return x < y ? -1 : x > y;
}

bool batch_int_value(const uint8_t *v, size_t len, int64_t *out)
{
	const char *d = (const char *)v;
	bool neg = batch_int_canon(&d, &len);
	int64_t x = 0;
	size_t i;

	if (len == 0 || len > BATCH_INT_KEY_DIGITS)
		return false;
	for (i = 0; i < len; i++) {
		if (d[i] < '0' || d[i] > '9')
			return false;
		x = x * 10 + (d[i] - '0');
	}
	*out = neg ? -x : x;
	return true;
}

struct batch_int_keys {
	struct batch_int_key *k; /* sorted by value */
	unsigned n, none;	 /* none: what names no key */
};

/* fanout_key_of_fn of an IN list: the key whose value the row's key
 * column holds. */
static unsigned batch_int_key_of(const void *arg, const uint8_t *v, size_t len)
{
	const struct batch_int_keys *ik = arg;
	struct batch_int_key want, *hit;

	if (!batch_int_value(v, len, &want.v))
		return ik->none;
	hit = bsearch(&want, ik->k, ik->n, sizeof(*ik->k), batch_int_key_cmp);
	return hit ? hit->idx : ik->none;
}

/* Route the rows of an IN list by their key column's value: <ik> holds
 * the values of the keys (in any order) and where each is among <n_keys>.
 * Callers give one key per value (batch_put_literal, pf_encode); two keys
 * of one value would leave one of them without its rows, so they fail. */
static bool batch_parse_by_value(const struct backend_result *co,
				 struct batch_int_keys *ik, unsigned n_keys,
				 struct fanout_rs *rs)
{
	unsigned i;

	qsort(ik->k, ik->n, sizeof(*ik->k), batch_int_key_cmp);
	for (i = 1; i < ik->n; i++)
		if (ik->k[i].v == ik->k[i - 1].v)
			return false;
	ik->none = n_keys;
	return fanout_rs_parse_by_value(co, batch_int_key_of, ik, n_keys, rs);
}

bool batch_keys_parse(const struct backend_result *co,
		      const struct batch_key *keys, unsigned n, unsigned skip,
		      bool by_value, struct fanout_rs *rs)
{
	struct batch_int_keys ik;
	unsigned i;
	bool ok;

	if (!by_value)
		return fanout_rs_parse(co, true, n, rs);
	ik.k = malloc(n * sizeof(*ik.k));
	ik.n = 0;
	if (!ik.k)
		return false;
	for (i = 0; i < n; i++)
		if (i != skip &&
		    batch_int_value((const uint8_t *)keys[i].sql, keys[i].len,
				    &ik.k[ik.n].v))
			ik.k[ik.n++].idx = i;
	ok = batch_parse_by_value(co, &ik, n, rs);
	free(ik.k);
	return ok;
}

/* Parse a batch's coalesced result (b->co) by the form it was sent in. */
static bool batch_co_parse(const struct batch *b, struct fanout_rs *rs)
{
	struct batch_key *keys;
	bool ok;

	if (!b->by_value)
		return fanout_rs_parse(&b->co, true, b->n_keys, rs);
	keys = batch_key_view(b);
	if (!keys)
		return false;
	ok = batch_keys_parse(&b->co, keys, b->n_keys, b->skip_idx, true, rs);
	free(keys);
	return ok;
}

bool batch_rows_ok(const char *tmpl, const struct classify_result *cr,
		   const struct fanout_rs *rs, unsigned key, unsigned rows)
{
	struct classify_order_item it[CLASSIFY_ORDER_MAX];
	int cols[CLASSIFY_ORDER_MAX];
	unsigned n, i;

	if (cr->limit > 0 && rows > (unsigned long long)cr->limit)
		return false;
	if (rows <= 1)
		return true;
	/* several rows: in the lookup's order only if the coalesced query
	 * sorted them by the same ORDER BY and no two of them tie under it
	 * (ties come out of its sort in another order than out of the
	 * lookup's); without ORDER BY the order is the plan's */
	if (rows > BATCH_MAX_ROWS_PER_KEY || !cr->order_by.len ||
	    !classify_order_cols(tmpl + cr->order_by.off, cr->order_by.len, it,
				 &n))
		return false;
	for (i = 0; i < n; i++) {
		cols[i] = fanout_order_col(rs, it[i].qual, it[i].qual_len,
					   it[i].col, it[i].col_len);
		if (cols[i] < 0)
			return false;
	}
	return fanout_rows_distinct(rs, key, cols, n);
}

/* Are <a>'s column definitions <b>'s, byte for byte? */
static bool batch_defs_same(const struct fanout_rs *a, const struct fanout_rs *b)
{
	unsigned i;

	if (a->ncols != b->ncols)
		return false;
	for (i = 0; i < a->ncols; i++)
		if (a->def_lens[i] != b->def_lens[i] ||
		    memcmp(a->defs[i], b->defs[i], a->def_lens[i]) != 0)
			return false;
	return true;
}

static void batch_kept_drop(struct batcher *bt, struct batch_group *g)
{
	bt->kept_bytes -= g->kept_own.pkts.cap;
	backend_result_free(&g->kept_own);
}

/*
 * After a batch that ran the lookup <own> (<solo> parsed) beside the join
 * <co>: keep the lookup's result without its rows for the batches after
 * it, if the join showed the very same definitions.  A sorted query may go
 * through a temporary table, which drops key flags: it would not show a
 * changed index, so sorted shapes keep nothing.
 */
static void batch_keep_defs(struct batch_group *g,
			    const struct backend_result *own,
			    const struct fanout_rs *solo,
			    const struct fanout_rs *co)
{
	struct batcher *bt = ib_loop->batcher;
	struct backend_result *k = &g->kept_own;
	const uint8_t *p;
	size_t pos = 0, len;
	unsigned i;
	uint32_t n;

	batch_kept_drop(bt, g);
	if (g->cr.order_by.len || !batch_defs_same(co, solo))
		return;
	k->ext_caps = own->ext_caps;
	for (i = 0; backend_result_next(own, &pos, &p, &len); i++) {
		/* the column count, the definitions and their EOF, then
		 * only the last packet (the EOF with the status) */
		if (i > solo->ncols + 1 && pos < own->pkts.len)
			continue;
		n = (uint32_t)len;
		pktbuf_put_bytes(&k->pkts, &n, 4);
		pktbuf_put_bytes(&k->pkts, p, len);
		k->count++;
	}
	bt->kept_bytes += k->pkts.cap;
	if (k->pkts.failed || k->pkts.len > BATCH_KEPT_MAX ||
	    bt->kept_bytes > BATCH_KEPT_TOTAL) {
		batch_kept_drop(bt, g);
		return;
	}
	g->kept_probe_us = g->probed_us;
	g->kept_uses = 0;
}

/* Are <g>'s kept definitions those of its current probe? */
static bool batch_kept_valid(const struct batch_group *g)
{
	return g->kept_own.count > 0 && g->kept_probe_us == g->probed_us &&
	       batch_probe_fresh(g);
}

/* Each key's row count in <rs> (of <n_keys> keys), or NULL. */
static unsigned *batch_rows_per_key(const struct fanout_rs *rs, unsigned n_keys)
{
	unsigned *rows = calloc(n_keys, sizeof(*rows)), i;

	if (rows)
		for (i = 0; i < rs->nrows; i++)
			rows[rs->row_key[i]]++;
	return rows;
}

/* Send <l> its key's <rows> of <rs> with status <st>, or run it alone
 * when they are more than its lookup would return. */
static void batch_send_rows(struct batch *b, struct lookup *l,
			    const struct fanout_rs *rs, unsigned rows,
			    uint16_t st)
{
	const struct classify_result *cr = &b->g->cr;

	if (!batch_rows_ok(b->g->tmpl, cr, rs, l->batch_idx, rows)) {
		if (rows > 1)
			b->n_unordered++;
		batch_fallback(b, l, &ib_loop->stats.fallback_rows);
		return;
	}
	b->n_sent_rows++;
	if (cr->limit == 0)
		rows = 0;
	TAILQ_REMOVE(&b->clients, l, batch_entry);
	b->n_clients--;
	if (!fanout_send(l, rs, l->batch_idx, rows, st)) {
		IB_STAT_INC(oom_errors);
		l->ops->fail(l, false, "out of memory sending a batch result");
		return;
	}
	IB_STAT_INC(queries_batched);
	if (b->g->st)
		stats_hist_add(&b->g->st->latency, stats_lat_bounds,
			       STATS_LAT_BUCKETS,
			       (double)(util_now_us() - l->start_us));
	/* its session last ran something else: the diagnostics of this
	 * lookup are restored before anything reads them */
	batch_answered(l, rows, false);
}

/*
 * The join of a batch without the lookup's own run is in (b->co): when
 * it shows the kept definitions, every client, the runner too, gets its
 * rows with the kept run's status flags of the plan (as every batched
 * client gets another key's).  False, with nothing sent, when anything
 * differs: the lookup's own run decides then (batch_fanout).
 */
static bool batch_fanout_kept(struct batch *b)
{
	struct batch_group *g = b->g;
	struct fanout_rs rs, own;
	unsigned *rows_per_key = NULL;
	struct lookup *l, *next;
	uint16_t st, plan = ST_NO_GOOD_INDEX_USED | ST_NO_INDEX_USED |
			    ST_QUERY_WAS_SLOW;

	/* the probe may have been renewed, or DDL seen, since it was sent */
	if (!batch_kept_valid(g) || !batch_co_parse(b, &rs))
		return false;
	if (!fanout_rs_parse(&g->kept_own, false, 1, &own)) {
		fanout_rs_free(&rs);
		return false;
	}
	if (rs.warnings == 0 && batch_join_checked(g, &rs) &&
	    batch_defs_same(&rs, &own))
		rows_per_key = batch_rows_per_key(&rs, b->n_keys);
	if (!rows_per_key) {
		fanout_rs_free(&rs);
		fanout_rs_free(&own);
		return false;
	}
	/* one statement instead of two */
	IB_STAT_INC(backend_statements_saved);
	g->kept_uses++;
	if (g->st)
		g->st->backend_us += util_now_us() - b->sent_us;
	st = (uint16_t)((rs.status & ~plan) | (own.status & plan));
	st &= (uint16_t)~(ST_SESSION_STATE_CHANGED | ST_MORE_RESULTS);
	for (l = TAILQ_FIRST(&b->clients); l; l = next) {
		next = TAILQ_NEXT(l, batch_entry);
		batch_send_rows(b, l, &rs, rows_per_key[l->batch_idx], st);
	}
	free(rows_per_key);
	fanout_rs_free(&rs);
	fanout_rs_free(&own);
	return true;
}

/*
 * Both queries are in: <own> is the runner's own result.  The runner gets
 * it unchanged; clients with the runner's key get the same bytes; the
 * others their rows of the coalesced result, under <own>'s definitions
 * and status, when both describe the same values.
 */
static void batch_fanout(struct batch *b, const struct backend_result *own)
{
	struct fanout_rs rs, solo;
	unsigned *rows_per_key = NULL;
	struct lookup *l, *next;
	bool co_ok = false, own_ok;
	uint64_t *why = &ib_loop->stats.fallback_error;
	uint16_t status;

	/* what is kept is what this run shows, or nothing */
	batch_kept_drop(ib_loop->batcher, b->g);
	own_ok = fanout_rs_parse(own, false, 1, &solo) && solo.warnings == 0;
	if (!own_ok && solo.defs)
		why = &ib_loop->stats.fallback_warnings;
	if (own_ok && b->have_co) {
		co_ok = batch_co_parse(b, &rs);
		if (co_ok && rs.warnings) {
			why = &ib_loop->stats.fallback_warnings;
			fanout_rs_free(&rs);
			co_ok = false;
		} else if (co_ok && (!batch_join_checked(b->g, &rs) ||
				     !fanout_compatible_defs(&rs, &solo))) {
			log_info("shape %s: coalesced columns differ from the "
				 "lookup's own", b->g->st ? b->g->st->text : "?");
			why = &ib_loop->stats.fallback_metadata;
			fanout_rs_free(&rs);
			co_ok = false;
		}
		if (co_ok) {
			batch_keep_defs(b->g, own, &solo, &rs);
			fanout_use_defs(&rs, &solo);
			rows_per_key = batch_rows_per_key(&rs, b->n_keys);
			if (!rows_per_key) {
				fanout_rs_free(&rs);
				co_ok = false;
			}
		}
	}
	status = solo.status & (uint16_t)~(ST_SESSION_STATE_CHANGED | ST_MORE_RESULTS);
	for (l = TAILQ_FIRST(&b->clients); l; l = next) {
		next = TAILQ_NEXT(l, batch_entry);
		if (l == b->runner ||
		    (own_ok && l->batch_idx == b->runner->batch_idx)) {
			/* the runner's own bytes answer its key exactly; only
			 * the diagnostics to restore bound its rows */
			if (l != b->runner && solo.nrows > BATCH_MAX_ROWS_PER_KEY) {
				batch_fallback(b, l, &ib_loop->stats.fallback_rows);
				continue;
			}
			TAILQ_REMOVE(&b->clients, l, batch_entry);
			b->n_clients--;
			if (!fanout_send_own(l, own)) {
				IB_STAT_INC(oom_errors);
				l->ops->fail(l, false,
					     "out of memory sending a result");
				continue;
			}
			IB_STAT_INC(queries_batched);
			if (l != b->runner && b->g->st)
				stats_hist_add(&b->g->st->latency,
					       stats_lat_bounds, STATS_LAT_BUCKETS,
					       (double)(util_now_us() - l->start_us));
			/* the runner's session ran its own lookup last: its
			 * diagnostics are its own, whatever an earlier batched
			 * answer left pending; a twin's are not */
			batch_answered(l, solo.nrows, l == b->runner);
		} else if (!co_ok) {
			batch_fallback(b, l, why);
		} else {
			batch_send_rows(b, l, &rs, rows_per_key[l->batch_idx],
					status);
		}
	}
	free(rows_per_key);
	if (co_ok)
		fanout_rs_free(&rs);
	fanout_rs_free(&solo);
}

static void batch_own_cb(void *arg, struct backend_result *res)
{
	struct batch *b = arg;

	if (b->g->st)
		b->g->st->backend_us += util_now_us() - b->sent_us;
	if (!res) {
		/* the runner's session is gone: the others run alone, the
		 * runner learns of it on its own */
		struct lookup *r = b->runner;

		batch_fallback_others(b, &ib_loop->stats.fallback_error);
		if (r && r->batch == b)
			batch_fallback(b, r, &ib_loop->stats.fallback_error);
		batch_finish(b);
		return;
	}
	if (!b->runner) {
		/* the runner left while its query ran */
		batch_fallback_others(b, &ib_loop->stats.fallback_error);
		batch_finish(b);
		return;
	}
	batch_fanout(b, res);
	batch_finish(b);
}

/* The runner's own lookup, last on its session. */
static void batch_own(struct batch *b)
{
	struct lookup *r = b->runner;

	if (r && r->ops->backend(r))
		r->ops->before_own(r);
	if (!r || !r->ops->backend(r) ||
	    !backend_query_after(r->ops->backend(r), r->sql, r->sql_len,
				 batch_own_cb, b)) {
		batch_fallback_others(b, &ib_loop->stats.fallback_error);
		if (r && r->batch == b)
			batch_fallback(b, r, &ib_loop->stats.fallback_error);
		batch_finish(b);
	}
}

static void batch_co_cb(void *arg, struct backend_result *res)
{
	struct batch *b = arg;

	if (b->own_queued) {
		/* batch_own_cb follows, told too if the session is lost */
		if (!res)
			return;
	} else if (!res || !b->runner) {
		batch_own_cb(b, res);
		return;
	}
	/* keep the packets until the runner's own result is in */
	b->co = *res;
	pktbuf_init(&res->pkts);
	res->count = 0;
	b->have_co = true;
	if (b->skip_own && batch_fanout_kept(b)) {
		batch_finish(b);
		return;
	}
	if (!b->own_queued)
		batch_own(b);
}

static void batch_coalesced(struct batch *b)
{
	struct pktbuf pb;
	struct lookup *l, *r = b->runner;
	struct backend *be = r->ops->backend(r);
	bool others = false, ok;

	/* clients that share the runner's key get its own answer */
	TAILQ_FOREACH(l, &b->clients, batch_entry)
		if (l->batch_idx != b->runner->batch_idx)
			others = true;
	if (!others) {
		batch_own(b);
		return;
	}
	b->skip_own = batch_kept_valid(b->g) &&
		      b->g->kept_uses < BATCH_KEPT_USES;
	pktbuf_init(&pb);
	ok = be && batch_build_sql(b, &pb) &&
	     backend_query(be, (const char *)pb.buf, pb.len, batch_co_cb, b);
	pktbuf_free(&pb);
	if (!ok) {
		b->skip_own = false;
		batch_own(b);
		return;
	}
	if (b->skip_own)
		return;
	/* the runner's own lookup in the same write, answered after the
	 * join; if it cannot be queued it goes once the join is in */
	b->own_queued = backend_query_after(be, r->sql, r->sql_len,
					    batch_own_cb, b);
}

/*
 * The key column's type decides whether the join compares as the lookup
 * does: a string literal with a string column, an integer with an integer
 * column.  YEAR, BIT, ENUM and SET read literals their own way, decimals,
 * dates and floats convert; none of them is batched.
 */
bool batch_key_type_ok(enum classify_key_type kt, const struct proto_coldef *cd)
{
	if (cd->flags & (0x0100 | 0x0800)) /* ENUM, SET */
		return false;
	switch (kt) {
	case CLASSIFY_KEY_STRING:
		/* UUID, INET4, INET6: strings marked UNSIGNED.  A literal
		 * that is no such value warns; the keys table's column,
		 * compared in the join, does not */
		if (cd->flags & 0x0020)
			return false;
		return cd->type == 15 || cd->type == 253 || cd->type == 254 ||
		       (cd->type >= 249 && cd->type <= 252);
	case CLASSIFY_KEY_INT:
		/* not DECIMAL: the union makes keys integers, and a join
		 * then compares a wide decimal as an integer */
		return cd->type == 1 || cd->type == 2 || cd->type == 3 ||
		       cd->type == 8 || cd->type == 9;
	default:
		return false;
	}
}

bool batch_join_key_ok(const struct fanout_rs *rs, enum classify_key_type kt)
{
	struct proto_coldef cd;

	return rs->key_def &&
	       proto_parse_coldef(rs->key_def, rs->key_def_len, rs->ext_meta,
				  &cd) &&
	       batch_key_type_ok(kt, &cd);
}

/* batch_join_key_ok() for a batch of <g>; when the key column changed
 * under the probe, the probe is void: the next batch probes again. */
static bool batch_join_checked(struct batch_group *g, const struct fanout_rs *rs)
{
	if (batch_join_key_ok(rs, g->cr.key_type))
		return true;
	g->probed_us = 0;
	return false;
}

/* The shape cannot be batched now: every lookup runs on its own session,
 * the runner's in the batch's stead. */
static void batch_probe_failed(struct batch *b)
{
	batch_fallback_others(b, &ib_loop->stats.fallback_metadata);
	batch_own(b);
}

/*
 * The probe's answer (see batch_probe_sql): the key column's definition
 * and the table type, with <engine> its storage engine too.  True when the
 * table is a base table (of a transactional engine, with <engine>) whose
 * key column compares in a join as a lookup of <kt> does.
 */
bool batch_probe_check(const struct backend_result *res,
		       enum classify_key_type kt, bool engine)
{
	struct fanout_rs rs;
	struct proto_coldef cd;
	struct proto_rd rd;
	const uint8_t *v = NULL;
	size_t vlen = 0, want = engine ? 17 : 10;
	bool ok = false, null = true;

	if (!fanout_rs_parse(res, false, 1, &rs))
		return false;
	if (rs.ncols == 2 && rs.nrows == 1 &&
	    proto_parse_coldef(rs.defs[0], rs.def_lens[0], rs.ext_meta, &cd)) {
		proto_rd_init(&rd, rs.rows[0], rs.row_lens[0]);
		proto_rd_lenenc_str(&rd, &vlen, &null);
		v = proto_rd_lenenc_str(&rd, &vlen, &null);
		ok = !rd.failed && !null && vlen == want &&
		     memcmp(v, "BASE TABLE/InnoDB", want) == 0 &&
		     batch_key_type_ok(kt, &cd);
	}
	fanout_rs_free(&rs);
	return ok;
}

static void batch_probe_cb(void *arg, struct backend_result *res)
{
	struct batch *b = arg;
	struct batch_group *g = b->g;
	bool ok;

	if (!res || !b->runner) {
		batch_own_cb(b, res);
		return;
	}
	ok = batch_probe_check(res, g->cr.key_type, false);
	g->probe_ok = ok;
	/* a probe that failed (no privilege, no such table) proves nothing
	 * about the next session: only a proven answer is kept */
	g->probed_us = res->err ? 0 : util_now_us();
	g->probed_epoch = ib_loop->batcher->ddl_epoch;
	if (!ok) {
		log_info("shape %s: not a base table, or its key column compares "
			 "differently in a join; not batching it",
			 g->st ? g->st->text : "?");
		batch_probe_failed(b);
		return;
	}
	batch_coalesced(b);
}

static bool batch_probe_fresh(const struct batch_group *g)
{
	return g->probed_us && g->probed_epoch == ib_loop->batcher->ddl_epoch &&
	       util_now_us() - g->probed_us < BATCH_PROBE_TTL_US;
}

/*
 * Prefetch answers from rows fetched earlier in the transaction, so the
 * session must keep its right to read them: the server checks table and
 * column grants at every statement, and a REVOKE takes them away at once,
 * while global privileges and those on the session's current database are
 * the session's own from its login and its USE.  So only what the account
 * itself holds that way counts, never a role's or PUBLIC's.  (A grant
 * made after the login or the USE counts too: the server's tables do not
 * say what the session holds.)
 */
#define BATCH_GRANTEE                                                          \
	"CONCAT('''', LEFT(CURRENT_USER(), CHAR_LENGTH(CURRENT_USER()) - "     \
	"CHAR_LENGTH(SUBSTRING_INDEX(CURRENT_USER(), '@', -1)) - 1), "         \
	"'''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')"
#define BATCH_PRIV_KEPT                                                        \
	" AND CURRENT_ROLE() IS NULL AND (EXISTS (SELECT 1 FROM "              \
	"information_schema.USER_PRIVILEGES AS __ib_u WHERE __ib_u.GRANTEE = " \
	BATCH_GRANTEE " AND __ib_u.PRIVILEGE_TYPE = 'SELECT') OR "             \
	"(TABLE_SCHEMA = DATABASE() AND EXISTS (SELECT 1 FROM "                \
	"information_schema.SCHEMA_PRIVILEGES AS __ib_s WHERE "                \
	"__ib_s.GRANTEE = " BATCH_GRANTEE " AND __ib_s.TABLE_SCHEMA = "        \
	"DATABASE() AND __ib_s.PRIVILEGE_TYPE = 'SELECT')))"

/*
 * The probe for the lookup <cr> of template <t>: the key column's type
 * and whether the table is a base table (views, system tables, sequences
 * and versioned tables can depend on the session), in one statement;
 * with <engine>, "BASE TABLE/<engine>".
 */
bool batch_probe_sql(struct pktbuf *pb, const char *t,
		     const struct classify_result *cr, unsigned lex_flags,
		     bool engine)
{
	char schema[256], name[256];
	size_t slen, nlen, i;
	char hx[3];

	pktbuf_init(pb);
	if (!classify_split_table(t + cr->table.off, cr->table.len, lex_flags,
				  schema, &slen, name, &nlen, sizeof(schema)))
		return false;
	pktbuf_put_bytes(pb, "SELECT ", 7);
	batch_put_span(pb, t, cr->key_col);
	{
		const char *sub = engine
			? ", (SELECT CONCAT(TABLE_TYPE, 0x2f, IFNULL(ENGINE, '')) "
			  "FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
			: ", (SELECT TABLE_TYPE FROM information_schema.TABLES "
			  "WHERE TABLE_SCHEMA = ";

		pktbuf_put_bytes(pb, sub, strlen(sub));
	}
	if (slen) {
		pktbuf_put_bytes(pb, "CONVERT(X'", 10);
		for (i = 0; i < slen; i++) {
			snprintf(hx, sizeof(hx), "%02X", (uint8_t)schema[i]);
			pktbuf_put_bytes(pb, hx, 2);
		}
		pktbuf_put_bytes(pb, "' USING utf8mb4)", 16);
	} else {
		pktbuf_put_bytes(pb, "DATABASE()", 10);
	}
	pktbuf_put_bytes(pb, " AND TABLE_NAME = CONVERT(X'", 28);
	for (i = 0; i < nlen; i++) {
		snprintf(hx, sizeof(hx), "%02X", (uint8_t)name[i]);
		pktbuf_put_bytes(pb, hx, 2);
	}
	pktbuf_put_bytes(pb, "' USING utf8mb4)", 16);
	if (engine)
		pktbuf_put_bytes(pb, BATCH_PRIV_KEPT, strlen(BATCH_PRIV_KEPT));
	pktbuf_put_bytes(pb, ") FROM (SELECT 1) AS __ib_one LEFT JOIN ", 40);
	batch_put_table_of(pb, t, cr);
	pktbuf_put_bytes(pb, " ON 0", 5);
	return !pb->failed;
}

static bool batch_probe(struct batch *b)
{
	const struct batch_group *g = b->g;
	struct pktbuf pb;
	bool ok;

	ok = batch_probe_sql(&pb, g->tmpl, &g->cr, g->lex_flags, false) &&
	     backend_query(b->runner->ops->backend(b->runner),
			   (const char *)pb.buf, pb.len,
			   batch_probe_cb, b);
	pktbuf_free(&pb);
	return ok;
}

/*
 * The runner: the first client whose session can run the batch.  Clients
 * whose backend died while they waited get their error now.
 */
static struct lookup *batch_pick_runner(struct batch *b)
{
	struct lookup *l, *next;

	for (l = TAILQ_FIRST(&b->clients); l; l = next) {
		next = TAILQ_NEXT(l, batch_entry);
		if (batch_idle_backend(l))
			return l;
		batch_fallback(b, l, &ib_loop->stats.fallback_error);
	}
	return NULL;
}

/*
 * Adaptive: a batch of one lookup, or of two with different keys, costs
 * the server as many statements as running them alone (the coalesced
 * query plus the runner's own), one after the other on one session, and
 * a join in place of a point lookup.  Alone they run side by side on
 * their own sessions; what gathers meanwhile waits for both, so under
 * load the next batch is larger.  Not a fall-back: nothing failed.
 */
static void batch_run_alone(struct batch *b)
{
	struct lookup *l;

	while ((l = TAILQ_FIRST(&b->clients)) != NULL) {
		TAILQ_REMOVE(&b->clients, l, batch_entry);
		b->n_clients--;
		batch_run_solo(l, b->g);
	}
	/* batch_finish() releases the slot a sent batch holds */
	b->g->inflight++;
	batch_finish(b);
}

/* Send a gathered batch: close it to newcomers and run it. */
static void batch_flush(struct batch *b)
{
	struct batch_group *g = b->g;
	struct timeval tv;
	bool beside;

	batch_unkick(b);
	if (b->sent)
		return;
	b->sent = true;
	evtimer_del(b->timer);
	if (g->gathering == b)
		g->gathering = NULL;
	if (ib.cfg->batch_mode == CFG_BATCH_ADAPTIVE && b->n_clients <= 2 &&
	    b->n_keys == b->n_clients) {
		batch_run_alone(b);
		return;
	}
	beside = g->inflight != 0;
	/* a sent batch holds a slot until batch_finish(), even one whose
	 * clients all left */
	g->inflight++;
	b->sent_n = b->n_clients;
	g->inflight_n += b->sent_n;
	b->runner = batch_pick_runner(b);
	if (!b->runner) {
		batch_finish(b);
		return;
	}
	b->sent_us = util_now_us();
	log_debug("batch: %u lookups, %u distinct keys, shape %s", b->n_clients,
		  b->n_keys, g->st ? g->st->text : "?");
	IB_STAT_INC(batches);
	if (beside)
		IB_STAT_INC(batches_overlapped);
	IB_STAT_ADD(batch_keys, b->n_keys);
	/* the batch costs the runner's own lookup, and the keys join when
	 * there are other keys (a probe now and then comes on top) */
	if (b->n_clients > (b->n_keys > 1 ? 2u : 1u))
		IB_STAT_ADD(backend_statements_saved,
			    b->n_clients - (b->n_keys > 1 ? 2 : 1));
	stats_record_batch(b->n_keys);
	if (g->st) {
		g->st->batches++;
		g->st->keys += b->n_keys;
		if (b->n_keys > g->st->max_keys)
			g->st->max_keys = b->n_keys;
	}
	if (ib.cfg->query_timeout > 0) {
		tv.tv_sec = ib.cfg->query_timeout;
		tv.tv_usec = 0;
		evtimer_add(b->timer, &tv);
	}
	/* even clients of one key share the runner's answer only for a
	 * base table: a view may read the session */
	if (batch_probe_fresh(g)) {
		if (g->probe_ok)
			batch_coalesced(b);
		else
			batch_probe_failed(b);
	} else if (!batch_probe(b)) {
		batch_probe_failed(b);
	}
}

/* The batch is over: release the group slot and free it later. */
static void batch_finish(struct batch *b)
{
	struct batch_group *g = b->g;

	batch_unkick(b);
	if (b->done)
		return;
	b->done = true;
	/* (the runner's own answer counts among those sent) */
	if (b->n_unordered > b->n_sent_rows + 1)
		g->unordered_us = util_now_us();
	if (b->sent) {
		if (g->inflight)
			g->inflight--;
		/* sent_n is in inflight_n (batch_flush); clamped all the
		 * same, since a count that wrapped would stop busy batches */
		IB_ASSERT(b->sent_n <= g->inflight_n);
		g->inflight_n -= b->sent_n < g->inflight_n ? b->sent_n
							    : g->inflight_n;
		b->sent_n = 0;
	}
	if (g->gathering == b)
		g->gathering = NULL;
	evtimer_del(b->timer);
	b->free_next = ib_loop->batcher->done_list;
	ib_loop->batcher->done_list = b;
	/* as in batch_solo_done() */
	if (batch_adaptive_due(g))
		batch_kick(g->gathering);
}

static void batch_free(struct batch *b)
{
	event_free(b->timer);
	free(b->keys);
	free(b->kslot);
	pktbuf_free(&b->kbuf);
	backend_result_free(&b->co);
	free(b);
}

void batch_free_done(void)
{
	struct batcher *bt = ib_loop->batcher;
	struct batch *b;

	while ((b = bt->done_list) != NULL) {
		bt->done_list = b->free_next;
		/* the coalesced result is as large as it was: not kept, nor
		 * a key buffer a batch of long keys grew */
		backend_result_free(&b->co);
		if (b->kbuf.cap > BATCH_SPARE_KBUF)
			pktbuf_free(&b->kbuf);
		if (bt->n_spare < BATCH_SPARE_MAX) {
			b->free_next = bt->spare;
			bt->spare = b;
			bt->n_spare++;
		} else {
			batch_free(b);
		}
	}
}

void batch_lookup_gone(struct lookup *l)
{
	struct batch *b = l->batch;

	if (!b)
		return;
	TAILQ_REMOVE(&b->clients, l, batch_entry);
	b->n_clients--;
	l->batch = NULL;
	if (b->runner == l)
		b->runner = NULL;
	if (b->n_clients == 0 && !b->sent)
		batch_flush(b);
}

static void batch_group_free(struct batcher *bt, struct batch_group *g)
{
	free(g->key);
	free(g->tmpl);
	batch_kept_drop(bt, g);
	free(g);
}

/*
 * Make room for one more group when batch_max_groups are kept: drop the
 * least recently used group that nothing waits in.  Groups are per shape
 * and context, so a client cycling shapes or session settings would
 * otherwise grow them without end.  False when every old group is busy.
 */
static bool batch_group_make_room(void)
{
	struct batch_group *g, **pp;
	unsigned looked = 0;

	if (ib_loop->batcher->n_groups < (unsigned)ib.cfg->batch_max_groups)
		return true;
	TAILQ_FOREACH(g, &ib_loop->batcher->lru, lru) {
		if (++looked > 16)
			return false;
		if (g->gathering || g->inflight)
			continue;
		for (pp = &ib_loop->batcher->groups[g->hash % BATCH_GROUPS_HASH];
		     *pp != g; pp = &(*pp)->next)
			;
		*pp = g->next;
		TAILQ_REMOVE(&ib_loop->batcher->lru, g, lru);
		ib_loop->batcher->n_groups--;
		IB_STAT_INC(batch_groups_evicted);
		batch_group_free(ib_loop->batcher, g);
		return true;
	}
	return false;
}

/* Is <g> the group of context <ctx>, key type <kt>, and text <sql>
 * around the key span <k> (<tail> bytes after it)? */
static bool batch_group_is(const struct batch_group *g, const char *ctx,
			   size_t ctx_len, char kt, const char *sql,
			   struct classify_span k, size_t tail)
{
	const char *p = g->key;

	return g->ctx_len == ctx_len && g->head_len == k.off &&
	       g->key_len == ctx_len + 3 + k.off + tail &&
	       memcmp(p, ctx, ctx_len) == 0 && p[ctx_len + 1] == kt &&
	       memcmp(p + ctx_len + 2, sql, k.off) == 0 &&
	       memcmp(p + ctx_len + 3 + k.off, sql + k.off + k.len, tail) == 0;
}

/*
 * A group's key: the context, the key type, the text before and after
 * the key (see struct batch_group), where they lie in the lookup.
 */
struct batch_gkey {
	const char *ctx, *sql;
	size_t ctx_len, tail;
	struct classify_span k;
	char kt;
	uint64_t hash;
};

/* A new group for <gk>, lookup <l> classified as <cr> its template, in
 * character set <cs>; NULL when out of memory or of group slots. */
static struct batch_group *batch_group_new(const struct lookup *l,
					   const struct classify_result *cr,
					   const struct batch_gkey *gk,
					   const char *cs, size_t cs_len)
{
	struct batcher *bt = ib_loop->batcher;
	size_t ctx_len = gk->ctx_len, n = ctx_len + 3 + gk->k.off + gk->tail;
	const char *sql = gk->sql, *after = sql + gk->k.off + gk->k.len;
	char shape[CLASSIFY_MAX_LEN + 2];
	struct batch_group *g;
	uint32_t h = (uint32_t)(gk->hash % BATCH_GROUPS_HASH);

	if (!batch_group_make_room())
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g || !(g->key = malloc(n)) || !(g->tmpl = malloc(l->sql_len)))
		goto fail;
	memcpy(g->key, gk->ctx, ctx_len);
	g->key[ctx_len] = '\0';
	g->key[ctx_len + 1] = gk->kt;
	memcpy(g->key + ctx_len + 2, sql, gk->k.off);
	g->key[ctx_len + 2 + gk->k.off] = '\0';
	memcpy(g->key + ctx_len + 3 + gk->k.off, after, gk->tail);
	g->hash = gk->hash;
	g->key_len = n;
	g->ctx_len = ctx_len;
	g->head_len = gk->k.off;
	memcpy(g->tmpl, sql, l->sql_len);
	g->tmpl_len = l->sql_len;
	g->cr = *cr;
	g->lex_flags = session_lex_flags(l->sess);
	memcpy(g->charset, cs, cs_len);
	g->charset[cs_len] = '\0';
	/* the shape, for statistics: the text with '?' for the key */
	memcpy(shape, sql, gk->k.off);
	shape[gk->k.off] = '?';
	memcpy(shape + gk->k.off + 1, after, gk->tail);
	g->st = stats_shape_get(shape, gk->k.off + 1 + gk->tail);
	g->next = bt->groups[h];
	bt->groups[h] = g;
	TAILQ_INSERT_TAIL(&bt->lru, g, lru);
	bt->n_groups++;
	return g;
fail:
	if (g) {
		free(g->key);
		free(g);
	}
	return NULL;
}

/*
 * Look up or create the group for lookup <l> classified as <cr>.  The
 * key is hashed and compared where it lies (context and text), so finding
 * an existing group allocates nothing.
 */
static struct batch_group *batch_group_get(struct lookup *l,
					   const struct classify_result *cr)
{
	struct batcher *bt = ib_loop->batcher;
	struct batch_gkey gk;
	struct batch_group *g;
	const char *cs;
	size_t cs_len;

	gk.sql = l->sql;
	gk.k = cr->key;
	gk.tail = l->sql_len - cr->key.off - cr->key.len;
	/* the key type, and the layout of column counts and definitions
	 * the client negotiated: a group's members share result packets */
	gk.kt = (char)('0' + cr->key_type +
		       4 * (((l->ext_caps & EXT_METADATA) ? 1 : 0) +
			    ((l->ext_caps & EXT_CACHE_METADATA) ? 2 : 0)));
	gk.ctx = session_ctx_key(l->sess, &gk.ctx_len, &gk.hash);
	cs_len = session_charset(l->sess, &cs);
	if (!gk.ctx || cs_len == 0 || cs_len >= sizeof(g->charset))
		return NULL;
	/* context (hashed once per read), key type, the text before and
	 * after the key */
	gk.hash = util_hash(gk.hash, &gk.kt, 1);
	gk.hash = util_hash(gk.hash, gk.sql, gk.k.off);
	gk.hash = util_hash(gk.hash, gk.sql + gk.k.off + gk.k.len, gk.tail);
	for (g = bt->groups[gk.hash % BATCH_GROUPS_HASH]; g; g = g->next) {
		if (g->hash == gk.hash &&
		    batch_group_is(g, gk.ctx, gk.ctx_len, gk.kt, gk.sql, gk.k,
				   gk.tail)) {
			TAILQ_REMOVE(&bt->lru, g, lru);
			TAILQ_INSERT_TAIL(&bt->lru, g, lru);
			return g;
		}
	}
	return batch_group_new(l, cr, &gk, cs, cs_len);
}

/* Place lookup <l>, classified as <cr>, now that its context is known. */
static bool batch_place(struct lookup *l, const struct classify_result *cr)
{
	struct batch_group *g;
	size_t digits = cr->key.len;

	if (cr->key_type == CLASSIFY_KEY_INT) {
		if (digits && (l->sql[cr->key.off] == '-' ||
			       l->sql[cr->key.off] == '+'))
			digits--;
		if (digits > BATCH_INT_KEY_DIGITS)
			return false;
	} else if (cr->key_type != CLASSIFY_KEY_STRING) {
		return false;
	}
	g = batch_group_get(l, cr);
	if (!g)
		return false;
	/* a shape proven unbatchable waits for its probe to expire */
	if (!g->probe_ok && batch_probe_fresh(g))
		return false;
	if (g->unordered_us &&
	    util_now_us() - g->unordered_us < BATCH_PROBE_TTL_US)
		return false;
	if (g->st)
		g->st->lookups++;
	IB_STAT_INC(queries_select);

	if (ib.cfg->batch_mode == CFG_BATCH_ADAPTIVE && g->inflight == 0 &&
	    !g->gathering) {
		/* nothing of this shape in flight: go now, alone */
		batch_run_solo(l, g);
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
	if (!batch_add(g->gathering, l, cr))
		return false;
	if (g->gathering->n_clients >= (unsigned)ib.cfg->batch_max_keys)
		batch_flush(g->gathering);
	else if (batch_adaptive_due(g))
		batch_kick(g->gathering);
	return true;
}

/* Classify and place lookup <l>; false when it must run alone. */
static bool batch_classify_place(struct lookup *l)
{
	struct classify_result cr;

	return classify_query(l->sql, l->sql_len,
			      session_lex_flags(l->sess), &cr) &&
	       batch_place(l, &cr);
}

static void batch_ctx_cb(void *arg, struct backend_result *res)
{
	struct lookup *l = arg;
	bool need;

	if (!res) {
		/* its session is gone (a closing client's, too): the
		 * command waits for an answer, so it hears why */
		l->ops->fail(l, true, "backend lost while reading the session");
		return;
	}
	session_ctx_set(l->sess, res);
	if (!session_batchable(l->sess, l->status,
			       ib.cfg->batch_autocommit_off, &need) ||
	    !batch_classify_place(l))
		batch_run_solo(l, NULL);
}

bool batch_submit(struct lookup *l, const char *sql, size_t len)
{
	struct backend *be;
	struct classify_result cr;
	unsigned flags = 0;
	bool need_ctx;

	if (ib.cfg->batch_mode == CFG_BATCH_OFF || !(be = batch_idle_backend(l)))
		return false;
	/* results without the EOF after definitions: what the batcher reads
	 * and writes has EOFs, so such sessions run their own lookups */
	if (l->caps & CAP_DEPRECATE_EOF)
		return false;
	if (!session_batchable(l->sess, l->status,
			       ib.cfg->batch_autocommit_off, &need_ctx) && !need_ctx)
		return false;
	/* cheap test first: most statements stop here.  Without a context
	 * yet, the live flags lex it; the context's rules lex it again */
	if (need_ctx) {
		if (l->status & ST_ANSI_QUOTES)
			flags |= CLASSIFY_ANSI_QUOTES;
		if (l->status & ST_NO_BACKSLASH_ESCAPES)
			flags |= CLASSIFY_NO_BACKSLASH_ESC;
	} else {
		flags = session_lex_flags(l->sess);
	}
	if (!classify_query(sql, len, flags, &cr))
		return false;
	l->sql = malloc(len);
	if (!l->sql)
		return false;
	memcpy(l->sql, sql, len);
	l->sql_len = len;
	if (need_ctx) {
		/* the context is read on the client's own session; the
		 * lookup waits for it */
		if (!backend_query(be, session_ctx_sql, session_ctx_sql_len,
				   batch_ctx_cb, l)) {
			free(l->sql);
			l->sql = NULL;
			return false;
		}
		l->ops->wait(l);
		return true;
	}
	if (!batch_place(l, &cr)) {
		free(l->sql);
		l->sql = NULL;
		return false;
	}
	return true;
}
