/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * prefetch.c: the N+1 loop inside one session.  The keys of its lookups
 * come from rows it was sent (a parent query's column, maybe with a
 * constant prefix or suffix) or follow an integer step; once a shape's
 * keys follow, the rest is fetched in one coalesced query on the session's
 * own connection (the batcher's: a keys join, or an IN list of integer
 * keys), and later lookups of those keys are answered from it.
 *
 * Why this is exact: inside one REPEATABLE READ transaction every
 * consistent read of InnoDB tables sees the snapshot taken at the first
 * read, so the coalesced query returns what each later lookup would, as
 * long as the session changes nothing meanwhile.  Kept answers are
 * therefore dropped on any statement that is not a plain lookup (writes,
 * DDL, locking reads, savepoints, COMMIT/ROLLBACK, other SELECTs), any
 * other command (COM_RESET_CONNECTION included), any change of session
 * state the server reports, and the end of the transaction.  Only base
 * InnoDB tables and key types the batcher allows are prefetched, with the
 * batcher's own coalesced query, row rules and metadata check.
 * SERIALIZABLE is not prefetched: there every read locks, and a query
 * over predicted keys would lock rows the session may never ask for, so
 * it could wait for or deadlock with other sessions where the loop itself
 * would not.
 */
/* memmem: _GNU_SOURCE comes from config.h */
#include "prefetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "classify.h"
#include "fanout.h"
#include "session.h"

#define PF_SETS	     8	/* result sets remembered per session */
#define PF_SHAPES    8	/* lookup shapes followed per session */
#define PF_CANDS     16 /* columns a shape's keys may be following */
#define PF_AFFIX     64 /* longest constant prefix or suffix of a key */
#define PF_SKIP	     4	/* rows a loop may skip between two lookups */
#define PF_SCAN_MAX  20000 /* values looked at to place one key */
#define PF_KEY_MAX   1024  /* longest predicted key value */
#define PF_INT_DIGITS 18   /* as the batcher: wider integers are not keys */
#define PF_BARREN    2	   /* fetches in a row that kept nothing: no more */
#define PF_STATS_HASH 256

/*
 * One remembered result set: its rows as relayed, back to back.
 *
 *   buf: | row 0 payload | row 1 payload | ... |      (len bytes)
 *          ^row_off[0]     ^row_off[1]
 */
struct pf_set {
	uint32_t gen; /* 0: empty slot; newer sets have larger numbers */
	unsigned ncols;
	uint8_t *buf;
	size_t len, cap;
	uint32_t *row_off;
	unsigned nrows, cap_rows;
	bool full; /* recording stopped at the memory bound */
};

/* A column a shape's keys may follow: key = pre + value + suf. */
struct pf_cand {
	unsigned set;
	uint32_t gen;
	unsigned col, row; /* the row of the last key that matched */
	uint8_t pre_len, suf_len;
	char pre[PF_AFFIX], suf[PF_AFFIX];
};

/* Answers of one coalesced query: rows tagged by key index.  A shape keeps a
 * list of them: the one fetched with a lookup, then those fetched ahead. */
struct pf_kept {
	struct pf_kept *next;
	struct backend_result co;
	struct fanout_rs rs; /* definitions point at the shape's solo run */
	struct batch_key *keys;
	unsigned n_keys;
	unsigned *rows; /* per key */
	bool *hit;
	unsigned n_hit;
	unsigned hint; /* where the next key is likely to be */
	size_t mem;
};

/* One lookup shape of this session: its text around the key. */
struct pf_shape {
	char *key; /* text before the key, NUL, text after it, key type */
	size_t key_len;
	char *tmpl; /* the first lookup's text; cr's spans point into it */
	size_t tmpl_len;
	struct classify_result cr;
	struct prefetch_stat *st;
	uint64_t used;
	/* the column detector */
	struct pf_cand cand[PF_CANDS];
	unsigned n_cand, matches;
	/* the integer progression detector */
	bool int_have, int_step_set;
	long long int_last, int_step;
	unsigned int_matches;
	/* where the keys fetched so far end: the column's last row fetched,
	 * or the progression's last value and step */
	bool ahead_col, ahead_int;
	struct pf_cand ahead_cd;
	long long ahead_last, ahead_step;
	/* valid with the kept answers only */
	bool probed, probe_ok;
	/* a key's rows came back that the coalesced query could not send
	 * in the lookup's order: the shape is not fetched again */
	bool unordered;
	/* fetches in a row whose answers could not be kept (definitions
	 * unlike the lookup's, warnings, too big): at PF_BARREN, the shape
	 * is not fetched again, rather than cost a query per lookup */
	unsigned barren;
	bool have_solo;
	struct backend_result own; /* a run of the lookup alone */
	struct fanout_rs solo;
	uint16_t status;
	struct pf_kept *kept, *hit_chunk; /* hit_chunk: where the last hit was */
};

/* What prefetch_submit() decided, for prefetch_run(). */
enum pf_plan { PF_PLAN_NONE, PF_PLAN_ANSWER, PF_PLAN_FETCH, PF_PLAN_WAIT };

struct prefetch {
	struct pf_set sets[PF_SETS];
	uint32_t next_gen;
	int cur; /* set being recorded, or -1 */
	struct pf_shape *shapes[PF_SHAPES];
	uint64_t tick;
	size_t mem; /* recorded rows and kept answers */
	/* kept answers are valid while these hold */
	bool have_kept;
	enum session_pf mode;
	unsigned changes_at;
	uint64_t kept_us;
	unsigned drops; /* pf_drop()s so far */
	/* a coalesced query fetching ahead while the client is answered
	 * from kept answers: the backend is busy, the client idle */
	bool bg;
	bool bg_wait;		 /* a command waits for it */
	struct pf_shape *bg_shape; /* NULL once the shape is gone */
	unsigned bg_drops;	 /* void if a drop came after it started */
	struct batch_key *bg_keys;
	unsigned bg_n;
	/* the session before the own read in flight (session_read_done) */
	unsigned changes_before;
	bool ctx_was_known;
	/* the command in progress */
	enum pf_plan plan;
	struct pf_shape *run;
	struct pf_kept *answer_chunk;
	unsigned answer_key;
	char *sql;
	size_t sql_len;
	char *trig; /* the lookup's own key, decoded */
	size_t trig_len;
	char **pvals; /* predicted key values, decoded */
	size_t *pval_lens;
	unsigned n_pvals;
	struct batch_key *pkeys; /* encoded, the lookup's own first */
	unsigned n_pkeys;
	bool trig_in_co; /* the coalesced query has the lookup's own key */
	struct backend_result co_res; /* the coalesced query, until the own
				       * run */
};

/* SHOW PREFETCH's records, per loop like the other statistics
 * (ib_loop->prefetch_stats); made with the first shape. */
struct prefetch_stats {
	struct prefetch_stat *hash[PF_STATS_HASH];
};

/* ---- statistics per shape ---- */

static struct prefetch_stat *pf_stat_get(const char *text, size_t len)
{
	struct prefetch_stats *t = ib_loop->prefetch_stats;
	uint32_t h = 2166136261u;
	struct prefetch_stat *s;
	size_t i;

	if (!t && !(t = ib_loop->prefetch_stats = calloc(1, sizeof(*t))))
		return NULL;
	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)text[i]) * 16777619u;
	h %= PF_STATS_HASH;
	for (s = t->hash[h]; s; s = s->next)
		if (strlen(s->text) == len && memcmp(s->text, text, len) == 0)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->text = malloc(len + 1))) {
		free(s);
		return NULL;
	}
	memcpy(s->text, text, len);
	s->text[len] = '\0';
	s->next = t->hash[h];
	t->hash[h] = s;
	return s;
}

void prefetch_stat_foreach(void (*fn)(void *arg, const struct prefetch_stat *s),
			   void *arg)
{
	const struct prefetch_stats *t = ib_loop->prefetch_stats;
	struct prefetch_stat *s;
	unsigned i;

	for (i = 0; t && i < PF_STATS_HASH; i++)
		for (s = t->hash[i]; s; s = s->next)
			fn(arg, s);
}

void prefetch_stats_free(struct ib_loop *loop)
{
	struct prefetch_stats *t = loop->prefetch_stats;
	struct prefetch_stat *s;
	unsigned i;

	for (i = 0; t && i < PF_STATS_HASH; i++) {
		while ((s = t->hash[i]) != NULL) {
			t->hash[i] = s->next;
			free(s->text);
			free(s);
		}
	}
	free(t);
	loop->prefetch_stats = NULL;
}

/* ---- kept answers ---- */

static void pf_keys_free(struct batch_key *keys, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		free(keys[i].sql);
	free(keys);
}

/* Free chunk <k> of kept answers (unlinked by the caller). */
static void pf_chunk_free(struct prefetch *pf, struct pf_shape *sh,
			  struct pf_kept *k)
{
	unsigned wasted = k->n_keys - k->n_hit;

	IB_STAT_ADD(prefetch_wasted_keys, wasted);
	if (sh->st)
		sh->st->wasted += wasted;
	pf_keys_free(k->keys, k->n_keys);
	free(k->rows);
	free(k->hit);
	fanout_rs_free(&k->rs);
	backend_result_free(&k->co);
	pf->mem -= k->mem;
	free(k);
}

static void pf_kept_free(struct prefetch *pf, struct pf_shape *sh)
{
	struct pf_kept *k;

	while ((k = sh->kept) != NULL) {
		sh->kept = k->next;
		pf_chunk_free(pf, sh, k);
	}
	sh->hit_chunk = NULL;
}

/* Everything that holds only within the snapshot goes: kept answers, the
 * lookup's own definitions and status, the probe. */
static void pf_drop(struct prefetch *pf)
{
	struct pf_shape *sh;
	unsigned i;

	if (!pf)
		return;
	if (pf->have_kept)
		IB_STAT_INC(prefetch_drops);
	pf->have_kept = false;
	pf->drops++;
	for (i = 0; i < PF_SHAPES; i++) {
		sh = pf->shapes[i];
		if (!sh)
			continue;
		pf_kept_free(pf, sh);
		if (sh->have_solo) {
			fanout_rs_free(&sh->solo);
			backend_result_free(&sh->own);
			sh->have_solo = false;
		}
		sh->probed = false;
	}
}

/* ---- remembered result sets ---- */

static void pf_set_clear(struct prefetch *pf, struct pf_set *s)
{
	pf->mem -= s->len;
	free(s->buf);
	free(s->row_off);
	memset(s, 0, sizeof(*s));
}

static bool pf_set_pinned(const struct prefetch *pf, unsigned i)
{
	unsigned j, k;

	for (j = 0; j < PF_SHAPES; j++) {
		const struct pf_shape *sh = pf->shapes[j];

		for (k = 0; sh && k < sh->n_cand; k++)
			if (sh->cand[k].set == i &&
			    sh->cand[k].gen == pf->sets[i].gen)
				return true;
	}
	return false;
}

/* The oldest set neither pinned by a detector nor <keep>; -1 if none. */
static int pf_set_victim(const struct prefetch *pf, int keep)
{
	int i, best = -1;

	for (i = 0; i < PF_SETS; i++) {
		if (i == keep || pf->sets[i].gen == 0 || pf_set_pinned(pf, (unsigned)i))
			continue;
		if (best < 0 || pf->sets[i].gen < pf->sets[best].gen)
			best = i;
	}
	return best;
}

/* Value of column <col> in row <row> of <s>; NULL for SQL NULL or a
 * malformed row. */
static const uint8_t *pf_value(const struct pf_set *s, unsigned row,
			       unsigned col, size_t *n)
{
	size_t end = row + 1 < s->nrows ? s->row_off[row + 1] : s->len;
	struct proto_rd rd;
	const uint8_t *v = NULL;
	bool null = true;
	unsigned i;

	proto_rd_init(&rd, s->buf + s->row_off[row], end - s->row_off[row]);
	for (i = 0; i <= col; i++)
		v = proto_rd_lenenc_str(&rd, n, &null);
	return rd.failed || null ? NULL : v;
}

/* The session, through its lookup's owner (client.c): no client.h here. */
static uint16_t pf_status(struct lookup *l)
{
	return l->ops->status(l);
}

static struct backend *pf_backend(struct lookup *l)
{
	return l->ops->backend(l);
}

/* Its backend is idle: prefetch may run a read of its own on it. */
static bool pf_backend_idle(struct lookup *l)
{
	struct backend *be = pf_backend(l);

	return be && be->state == BACKEND_IDLE;
}

/* Sessions that cannot prefetch keep nothing: outside a transaction
 * under autocommit, unless stale answers may be. */
static bool pf_never(uint16_t status)
{
	return (status & ST_AUTOCOMMIT) && !(status & ST_IN_TRANS) &&
	       ib.cfg->prefetch_autocommit_max_age_ms == 0;
}

static enum session_pf pf_mode(struct lookup *l)
{
	return session_prefetchable(l->sess, pf_status(l),
				    ib.cfg->prefetch_autocommit_max_age_ms > 0);
}

static struct prefetch *pf_get(struct lookup *l)
{
	if (!l->pf) {
		l->pf = calloc(1, sizeof(*l->pf));
		if (l->pf)
			l->pf->cur = -1;
	}
	return l->pf;
}

void prefetch_on_relay(struct lookup *l, bool start, const uint8_t *p,
		       size_t len)
{
	struct prefetch *pf = l->pf;
	struct pf_set *s;
	struct proto_rd rd;
	uint64_t ncols;
	int i, slot = -1;

	if (!ib.cfg->prefetch)
		return;
	if (start) {
		if (pf_never(pf_status(l))) {
			if (pf)
				pf->cur = -1;
			return;
		}
		pf = pf_get(l);
		if (!pf)
			return;
		proto_rd_init(&rd, p, len);
		ncols = proto_rd_lenenc(&rd, NULL);
		pf->cur = -1;
		if (rd.failed || ncols == 0 || ncols > 4096)
			return;
		for (i = 0; i < PF_SETS && slot < 0; i++)
			if (pf->sets[i].gen == 0 ||
			    (pf->sets[i].nrows == 0 && !pf_set_pinned(pf, (unsigned)i)))
				slot = i;
		if (slot < 0)
			slot = pf_set_victim(pf, -1);
		if (slot < 0)
			return;
		pf_set_clear(pf, &pf->sets[slot]);
		pf->sets[slot].gen = ++pf->next_gen;
		pf->sets[slot].ncols = (unsigned)ncols;
		pf->cur = slot;
		return;
	}
	if (!pf || pf->cur < 0)
		return;
	s = &pf->sets[pf->cur];
	if (s->full)
		return;
	/* within the bound: older unpinned sets make room first */
	while (pf->mem + len > (size_t)ib.cfg->prefetch_memory) {
		i = pf_set_victim(pf, pf->cur);
		if (i < 0) {
			s->full = true;
			return;
		}
		pf_set_clear(pf, &pf->sets[i]);
	}
	if (s->nrows == s->cap_rows) {
		unsigned cap = s->cap_rows ? s->cap_rows * 2 : 64;
		uint32_t *r = realloc(s->row_off, cap * sizeof(*r));

		if (!r) {
			s->full = true;
			return;
		}
		s->row_off = r;
		s->cap_rows = cap;
	}
	if (s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		uint8_t *b;

		while (cap < s->len + len)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (!b) {
			s->full = true;
			return;
		}
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, len);
	s->row_off[s->nrows++] = (uint32_t)s->len;
	s->len += len;
	pf->mem += len;
}

/* ---- key detection ---- */

/* The value of an integer key, or of a row's cell written as one; false
 * when it is not a plain integer, or has more than PF_INT_DIGITS digits,
 * leading zeros counted (a BIGINT ZEROFILL cell has 20). */
static bool pf_int_of(const char *p, size_t n, long long *out)
{
	size_t digits = n - (n && (p[0] == '-' || p[0] == '+'));
	int64_t v;

	if (digits > PF_INT_DIGITS ||
	    !batch_int_value((const uint8_t *)p, n, &v))
		return false;
	*out = v;
	return true;
}

/* Is key <key> the cell <v>: as written, or with <by_value> as the
 * integer <kx> (7 for +7 or 007, a ZEROFILL 0000007 too)? */
static bool pf_cell_is(const uint8_t *v, size_t vn, const char *key,
		       size_t kn, bool by_value, long long kx)
{
	long long x;

	return (vn == kn && memcmp(v, key, kn) == 0) ||
	       (by_value && pf_int_of((const char *)v, vn, &x) && x == kx);
}

/* Does key <key> come from cell <v> the way candidate <cd> says?  An
 * integer key has no prefix or suffix: it is the cell (pf_cell_is). */
static bool pf_cand_value_is(const struct pf_cand *cd, const uint8_t *v,
			     size_t vn, const char *key, size_t kn,
			     bool int_key, bool by_value, long long kx)
{
	if (int_key)
		return pf_cell_is(v, vn, key, kn, by_value, kx);
	return kn == (size_t)cd->pre_len + vn + cd->suf_len &&
	       memcmp(key, cd->pre, cd->pre_len) == 0 &&
	       memcmp(key + cd->pre_len, v, vn) == 0 &&
	       memcmp(key + cd->pre_len + vn, cd->suf, cd->suf_len) == 0;
}

/* Could key <key> come from cell <v>: with <*pre> bytes before it and
 * <*suf> after it?  An integer key (<int_key>, of value <kx> with
 * <by_value>) only as the whole cell. */
static bool pf_key_in_cell(const uint8_t *v, size_t vn, const char *key,
			   size_t kn, bool int_key, bool by_value,
			   long long kx, size_t *pre, size_t *suf)
{
	const uint8_t *at;

	*pre = *suf = 0;
	if (int_key)
		return pf_cell_is(v, vn, key, kn, by_value, kx);
	if (vn > kn || !(at = memmem(key, kn, v, vn)))
		return false;
	*pre = (size_t)(at - (const uint8_t *)key);
	*suf = kn - *pre - vn;
	return *pre < PF_AFFIX && *suf < PF_AFFIX;
}

/* Every place in the remembered sets the key <key> could come from. */
static void pf_scan(struct prefetch *pf, struct pf_shape *sh, const char *key,
		    size_t kn, bool int_key, bool by_value, long long kx)
{
	unsigned i, row, col, seen = 0;
	const uint8_t *v;
	size_t vn, pre, suf;

	sh->n_cand = 0;
	for (i = 0; i < PF_SETS && sh->n_cand < PF_CANDS; i++) {
		struct pf_set *s = &pf->sets[i];

		if (s->gen == 0)
			continue;
		for (row = 0; row < s->nrows && sh->n_cand < PF_CANDS; row++) {
			for (col = 0; col < s->ncols && sh->n_cand < PF_CANDS; col++) {
				struct pf_cand *cd = &sh->cand[sh->n_cand];

				if (++seen > PF_SCAN_MAX)
					return;
				v = pf_value(s, row, col, &vn);
				if (!v || vn == 0 ||
				    !pf_key_in_cell(v, vn, key, kn, int_key,
						    by_value, kx, &pre, &suf))
					continue;
				/* affixes are a string key's: kn >= pre + vn */
				if (pre)
					memcpy(cd->pre, key, pre);
				if (suf)
					memcpy(cd->suf, key + pre + vn, suf);
				cd->set = i;
				cd->gen = s->gen;
				cd->col = col;
				cd->row = row;
				cd->pre_len = (uint8_t)pre;
				cd->suf_len = (uint8_t)suf;
				sh->n_cand++;
			}
		}
	}
}

/*
 * Feed the detectors of <sh> with the key value <key>: does it continue
 * the column (or step) the last ones followed?  Unmatched, the column
 * detector looks for the key in the remembered sets afresh.
 */
static void pf_detect(struct prefetch *pf, struct pf_shape *sh, const char *key,
		      size_t kn)
{
	bool int_key = sh->cr.key_type == CLASSIFY_KEY_INT;
	unsigned i, j, r, kept = 0;
	const uint8_t *v;
	size_t vn;
	long long x = 0;
	bool by_value = int_key && pf_int_of(key, kn, &x);

	for (i = 0; i < sh->n_cand; i++) {
		struct pf_cand cd = sh->cand[i];
		struct pf_set *s = &pf->sets[cd.set];
		bool hit = false;

		if (s->gen != cd.gen)
			continue;
		/* the same row again (a repeated key), or one of the next */
		for (j = 0; j <= PF_SKIP && !hit; j++) {
			r = cd.row + j;
			if (r >= s->nrows)
				break;
			v = pf_value(s, r, cd.col, &vn);
			if (v && pf_cand_value_is(&cd, v, vn, key, kn, int_key,
						  by_value, x)) {
				cd.row = r;
				hit = true;
			}
		}
		if (hit)
			sh->cand[kept++] = cd;
	}
	sh->n_cand = kept;
	if (kept) {
		sh->matches++;
	} else {
		pf_scan(pf, sh, key, kn, int_key, by_value, x);
		sh->matches = sh->n_cand ? 1 : 0;
	}
	if (!int_key)
		return;
	if (!by_value) {
		sh->int_have = sh->int_step_set = false;
		sh->int_matches = 0;
		return;
	}
	if (sh->int_have && sh->int_step_set && x - sh->int_last == sh->int_step &&
	    sh->int_step != 0) {
		sh->int_matches++;
	} else if (sh->int_have && x != sh->int_last) {
		sh->int_step = x - sh->int_last;
		sh->int_step_set = true;
		sh->int_matches = 1;
	} else if (!sh->int_have || x != sh->int_last) {
		sh->int_step_set = false;
		sh->int_matches = 0;
	}
	sh->int_have = true;
	sh->int_last = x;
}

static bool pf_add_pval(struct prefetch *pf, const char *p, size_t n)
{
	char *v = malloc(n ? n : 1);

	if (!v)
		return false;
	memcpy(v, p, n);
	pf->pvals[pf->n_pvals] = v;
	pf->pval_lens[pf->n_pvals++] = n;
	return true;
}

/* Does the shape's column detector still follow the column the keys
 * fetched so far came from? */
static bool pf_ahead_follows(const struct prefetch *pf,
			     const struct pf_shape *sh)
{
	const struct pf_cand *a = &sh->ahead_cd, *cd;
	unsigned i;

	if (!sh->ahead_col || pf->sets[a->set].gen != a->gen ||
	    sh->matches < (unsigned)ib.cfg->prefetch_min_matches)
		return false;
	for (i = 0; i < sh->n_cand; i++) {
		cd = &sh->cand[i];
		if (cd->set == a->set && cd->gen == a->gen && cd->col == a->col &&
		    cd->pre_len == a->pre_len && cd->suf_len == a->suf_len &&
		    memcmp(cd->pre, a->pre, a->pre_len) == 0 &&
		    memcmp(cd->suf, a->suf, a->suf_len) == 0)
			return true;
	}
	return false;
}

/*
 * The keys the shape's detectors predict, in order: after the current
 * lookup's, or (<ahead>) after the last key fetched so far; false when
 * none do.  Where they end is remembered for the next fetch ahead.
 */
static bool pf_predict(struct prefetch *pf, struct pf_shape *sh, bool ahead)
{
	unsigned max = (unsigned)ib.cfg->prefetch_max_keys, min =
		(unsigned)ib.cfg->prefetch_min_matches;
	bool int_key = sh->cr.key_type == CLASSIFY_KEY_INT;
	char buf[PF_AFFIX * 2 + PF_KEY_MAX];
	const struct pf_cand *cd = NULL;
	const uint8_t *v;
	size_t vn, n;
	unsigned r;
	long long x;
	bool by_step = false;

	pf->pvals = calloc(max, sizeof(*pf->pvals));
	pf->pval_lens = calloc(max, sizeof(*pf->pval_lens));
	pf->n_pvals = 0;
	if (!pf->pvals || !pf->pval_lens)
		return false;
	if (!ahead && sh->n_cand && sh->matches >= min)
		cd = &sh->cand[0];
	else if (ahead && pf_ahead_follows(pf, sh))
		cd = &sh->ahead_cd;
	else if (int_key && sh->int_step_set && sh->int_matches >= min &&
		 (!ahead || (sh->ahead_int && sh->ahead_step == sh->int_step)))
		by_step = true;
	if (cd) {
		const struct pf_set *s = &pf->sets[cd->set];
		struct pf_cand at = *cd;

		for (r = cd->row + 1; r < s->nrows && pf->n_pvals < max; r++) {
			v = pf_value(s, r, cd->col, &vn);
			if (!v || vn > PF_KEY_MAX)
				continue;
			n = 0;
			memcpy(buf, cd->pre, cd->pre_len);
			n += cd->pre_len;
			memcpy(buf + n, v, vn);
			n += vn;
			memcpy(buf + n, cd->suf, cd->suf_len);
			n += cd->suf_len;
			if (int_key && !pf_int_of(buf, n, &x))
				continue;
			if (!pf_add_pval(pf, buf, n))
				return false;
		}
		at.row = r - 1;
		sh->ahead_cd = at;
		sh->ahead_col = true;
		sh->ahead_int = false;
	} else if (by_step) {
		x = ahead ? sh->ahead_last : sh->int_last;
		while (pf->n_pvals < max) {
			if ((sh->int_step > 0 && x > 999999999999999999LL - sh->int_step) ||
			    (sh->int_step < 0 && x < -999999999999999999LL - sh->int_step))
				break;
			x += sh->int_step;
			n = (size_t)snprintf(buf, sizeof(buf), "%lld", x);
			if (!pf_add_pval(pf, buf, n))
				return false;
		}
		sh->ahead_last = x;
		sh->ahead_step = sh->int_step;
		sh->ahead_int = true;
		sh->ahead_col = false;
	}
	return pf->n_pvals > 0;
}

/* ---- shapes ---- */

static void pf_shape_free(struct prefetch *pf, struct pf_shape *sh)
{
	if (pf->bg_shape == sh)
		pf->bg_shape = NULL;
	pf_kept_free(pf, sh);
	if (sh->have_solo) {
		fanout_rs_free(&sh->solo);
		backend_result_free(&sh->own);
	}
	free(sh->key);
	free(sh->tmpl);
	free(sh);
}

/* The shape of lookup <sql> classified as <cr>, made if new (the least
 * recently used one gives way). */
static struct pf_shape *pf_shape_get(struct prefetch *pf, const char *sql,
				     size_t len, const struct classify_result *cr)
{
	size_t tail = len - cr->key.off - cr->key.len, n = cr->key.off + 2 + tail;
	struct pf_shape *sh;
	unsigned i, victim = 0;
	char *key = malloc(n);

	if (!key)
		return NULL;
	memcpy(key, sql, cr->key.off);
	key[cr->key.off] = '\0';
	memcpy(key + cr->key.off + 1, sql + cr->key.off + cr->key.len, tail);
	key[n - 1] = (char)('0' + cr->key_type);
	for (i = 0; i < PF_SHAPES; i++) {
		sh = pf->shapes[i];
		if (sh && sh->key_len == n && memcmp(sh->key, key, n) == 0) {
			free(key);
			sh->used = ++pf->tick;
			return sh;
		}
		if (!sh || (pf->shapes[victim] && sh->used < pf->shapes[victim]->used))
			victim = i;
	}
	sh = calloc(1, sizeof(*sh));
	if (!sh || !(sh->tmpl = malloc(len))) {
		free(sh);
		free(key);
		return NULL;
	}
	sh->key = key;
	sh->key_len = n;
	memcpy(sh->tmpl, sql, len);
	sh->tmpl_len = len;
	sh->cr = *cr;
	sh->used = ++pf->tick;
	{
		char shape[CLASSIFY_MAX_LEN + 2];

		memcpy(shape, sql, cr->key.off);
		shape[cr->key.off] = '?';
		memcpy(shape + cr->key.off + 1, sql + cr->key.off + cr->key.len, tail);
		sh->st = pf_stat_get(shape, cr->key.off + 1 + tail);
	}
	if (pf->shapes[victim])
		pf_shape_free(pf, pf->shapes[victim]);
	pf->shapes[victim] = sh;
	return sh;
}

/* ---- the command in progress ---- */

static void pf_plan_clear(struct prefetch *pf)
{
	unsigned i;

	for (i = 0; i < pf->n_pvals; i++)
		free(pf->pvals[i]);
	free(pf->pvals);
	free(pf->pval_lens);
	pf->pvals = NULL;
	pf->pval_lens = NULL;
	pf->n_pvals = 0;
	pf_keys_free(pf->pkeys, pf->n_pkeys);
	pf->pkeys = NULL;
	pf->n_pkeys = 0;
	free(pf->sql);
	pf->sql = NULL;
	free(pf->trig);
	pf->trig = NULL;
	pf->plan = PF_PLAN_NONE;
	pf->run = NULL;
	pf->answer_chunk = NULL;
}

/* Are the kept answers still what the session's lookups would read? */
static bool pf_kept_valid(struct lookup *l, struct prefetch *pf)
{
	enum session_pf m;

	if (!pf->have_kept)
		return false;
	/* a fetch ahead in flight is a read of ours: the EOF after its
	 * column definitions said no more than the one at its end will */
	if (pf->bg)
		session_read_done(l->sess, pf->changes_before,
				  pf->ctx_was_known);
	m = pf_mode(l);
	if (m != pf->mode || l->sess->var_changes != pf->changes_at)
		return false;
	if (m == SESSION_PF_STALE &&
	    util_now_us() - pf->kept_us >
		    (uint64_t)ib.cfg->prefetch_autocommit_max_age_ms * 1000)
		return false;
	return true;
}

/* The index of encoded key <enc> in chunk <k>, or -1. */
static int pf_chunk_find(struct pf_kept *k, const char *enc, size_t n)
{
	unsigned i, j;

	for (j = 0; j < k->n_keys; j++) {
		i = (k->hint + j) % k->n_keys;
		if (k->keys[i].len == n && memcmp(k->keys[i].sql, enc, n) == 0) {
			k->hint = i + 1;
			return (int)i;
		}
	}
	return -1;
}

/* The kept answer for the key of lookup <sql> (classified as <cr>): its
 * index, and its chunk in <*chunk>; -1 if none. */
static int pf_kept_find(struct lookup *l, struct pf_shape *sh, const char *sql,
			const struct classify_result *cr, struct pf_kept **chunk)
{
	struct pf_kept *k;
	const char *cs;
	size_t cs_len, en;
	char csn[32], *enc;
	int i = -1;

	if (!sh->kept || !l->sess->ctx)
		return -1;
	cs_len = session_charset(l->sess, &cs);
	if (cs_len == 0 || cs_len >= sizeof(csn))
		return -1;
	memcpy(csn, cs, cs_len);
	csn[cs_len] = '\0';
	enc = batch_encode_literal(cr->key_type, csn,
				   session_lex_flags(l->sess),
				   sql + cr->key.off, cr->key.len, &en);
	if (!enc)
		return -1;
	/* where the last hit was first: a loop goes through a chunk in order */
	if (sh->hit_chunk)
		i = pf_chunk_find(sh->hit_chunk, enc, en);
	for (k = sh->kept; k && i < 0; k = k->next)
		if (k != sh->hit_chunk && (i = pf_chunk_find(k, enc, en)) >= 0)
			sh->hit_chunk = k;
	free(enc);
	*chunk = sh->hit_chunk;
	return i;
}

void prefetch_on_command(struct lookup *l, uint8_t cmd)
{
	struct prefetch *pf = l->pf;
	unsigned i;

	if (!pf)
		return;
	pf_drop(pf);
	/* a reset or another user: nothing seen before counts */
	if (cmd == COM_RESET_CONNECTION || cmd == COM_CHANGE_USER) {
		for (i = 0; i < PF_SETS; i++)
			pf_set_clear(pf, &pf->sets[i]);
		pf->cur = -1;
		for (i = 0; i < PF_SHAPES; i++) {
			if (pf->shapes[i])
				pf_shape_free(pf, pf->shapes[i]);
			pf->shapes[i] = NULL;
		}
	}
}

/* Classify <sql> as the session lexes it; true for a plain lookup. */
static bool pf_classify(struct lookup *l, const char *sql, size_t len,
			struct classify_result *cr, unsigned *flags)
{
	uint16_t status = pf_status(l);

	*flags = 0;
	/* the live flags lex the text; the context's character set too */
	if (status & ST_ANSI_QUOTES)
		*flags |= CLASSIFY_ANSI_QUOTES;
	if (status & ST_NO_BACKSLASH_ESCAPES)
		*flags |= CLASSIFY_NO_BACKSLASH_ESC;
	*flags |= session_lex_flags(l->sess) & CLASSIFY_ASCII_NAMES;
	return classify_query(sql, len, *flags, cr) &&
	       (cr->key_type == CLASSIFY_KEY_INT ||
		cr->key_type == CLASSIFY_KEY_STRING);
}

bool prefetch_busy(struct lookup *l, const uint8_t *head, size_t hlen,
		   size_t len)
{
	struct prefetch *pf = l->pf;
	struct classify_result cr;
	unsigned flags;

	if (!pf || !pf->bg)
		return false;
	/* lookups are prefetch's own to answer or hold (prefetch_submit) */
	if (ib.cfg->prefetch && head[0] == COM_QUERY && hlen == len &&
	    pf_classify(l, (const char *)head + 1, len - 1, &cr, &flags))
		return false;
	log_debug("prefetch: command %u waits for the fetch ahead", head[0]);
	pf->bg_wait = true;
	return true;
}

/* Hold lookup <sql> until the fetch ahead in flight is back. */
static bool pf_hold(struct prefetch *pf, const char *sql, size_t len)
{
	pf_plan_clear(pf);
	pf->sql = malloc(len ? len : 1);
	if (!pf->sql)
		return false;
	memcpy(pf->sql, sql, len);
	pf->sql_len = len;
	pf->plan = PF_PLAN_WAIT;
	pf->bg_wait = true;
	return true;
}

bool prefetch_submit(struct lookup *l, const char *sql, size_t len, bool whole)
{
	struct prefetch *pf = l->pf;
	struct classify_result cr;
	struct pf_shape *sh;
	struct pf_kept *chunk = NULL;
	enum session_pf mode;
	unsigned flags;
	char *val = NULL;
	size_t vn = 0;
	int k;

	if (!ib.cfg->prefetch || !whole) {
		pf_drop(pf);
		return false;
	}
	/* sessions that cannot prefetch allocate nothing */
	if (!pf && pf_never(pf_status(l)))
		return false;
	if (!pf_classify(l, sql, len, &cr, &flags)) {
		/* not a plain lookup: it may change what the kept answers see */
		pf_drop(pf);
		return false;
	}
	pf = pf_get(l);
	if (!pf)
		return false;
	if (pf->have_kept && !pf_kept_valid(l, pf))
		pf_drop(pf);
	sh = pf_shape_get(pf, sql, len, &cr);
	k = sh ? pf_kept_find(l, sh, sql, &cr, &chunk) : -1;
	if (k >= 0 && !batch_rows_ok(sh->tmpl, &sh->cr, &chunk->rs,
				     (unsigned)k, chunk->rows[k])) {
		sh->unordered = sh->unordered || chunk->rows[k] > 1;
		k = -1;
	}
	/* the backend is fetching ahead: what kept answers cannot answer
	 * waits for it (its key may be among those coming) */
	if (pf->bg && k < 0) {
		log_debug("prefetch: lookup waits for the fetch ahead");
		return pf_hold(pf, sql, len);
	}
	if (!sh)
		return false;
	val = malloc(cr.key.len ? cr.key.len : 1);
	if (!val || !classify_key_value(sql + cr.key.off, cr.key.len, flags, val,
					cr.key.len, &vn)) {
		free(val);
		return false;
	}
	pf_detect(pf, sh, val, vn);
	if (k >= 0) {
		free(val);
		pf->plan = PF_PLAN_ANSWER;
		pf->run = sh;
		pf->answer_chunk = chunk;
		pf->answer_key = (unsigned)k;
		return true;
	}
	if (sh->kept) {
		IB_STAT_INC(prefetch_misses);
		if (sh->st)
			sh->st->misses++;
	}
	mode = pf_mode(l);
	if (mode == SESSION_PF_NO || (sh->probed && !sh->probe_ok) ||
	    sh->unordered || sh->barren >= PF_BARREN || !pf_backend_idle(l) ||
	    !pf_predict(pf, sh, false)) {
		free(val);
		pf_plan_clear(pf);
		return false;
	}
	pf->sql = malloc(len);
	if (!pf->sql) {
		free(val);
		pf_plan_clear(pf);
		return false;
	}
	memcpy(pf->sql, sql, len);
	pf->sql_len = len;
	pf->trig = val;
	pf->trig_len = vn;
	pf->plan = PF_PLAN_FETCH;
	pf->run = sh;
	return true;
}

/* ---- the proxy's own reads on the session ---- */

/* Run one of prefetch's own reads (probe, coalesced query, the lookup
 * alone) on the session; they set nothing, so the session's context holds
 * across them (session_read_done). */
static bool pf_query(struct lookup *l, const char *sql, size_t len,
		     backend_result_fn cb)
{
	l->pf->changes_before = l->sess->var_changes;
	l->pf->ctx_was_known = l->sess->ctx_known;
	return backend_query(pf_backend(l), sql, len, cb, l);
}

static void pf_read_done(struct lookup *l, const struct backend_result *res)
{
	if (!res->err)
		session_read_done(l->sess, l->pf->changes_before,
				  l->pf->ctx_was_known);
}

/*
 * The shape a prefetch query of <c> ran for, as its answer <res> arrives;
 * NULL when there is nothing left to do (the client is closing, or its
 * backend was lost, which closes it).
 */
static struct pf_shape *pf_running(struct lookup *l,
				   const struct backend_result *res)
{
	struct pf_shape *sh = l->pf ? l->pf->run : NULL;

	if (l->ops->closing(l))
		return NULL;
	if (!res || !sh) {
		/* the lookup waits for an answer: it hears why */
		l->ops->fail(l, !res, "backend lost during a prefetch");
		return NULL;
	}
	pf_read_done(l, res);
	return sh;
}

/* ---- kept answers from a coalesced query ---- */

/*
 * Kept answers from the coalesced query <co> (batch_keys_sql; taken over)
 * for <keys> but <skip> (taken over when it succeeds), under the shape's
 * solo definitions; NULL when they cannot be proven exact or do not fit.
 */
static struct pf_kept *pf_chunk_make(struct pf_shape *sh,
				     struct backend_result *co,
				     struct batch_key *keys, unsigned n_keys,
				     unsigned skip)
{
	struct pf_kept *k;
	unsigned i;
	bool parsed, key_ok;

	sh->barren++;	/* until the chunk is made */
	if (co->pkts.len > (size_t)ib.cfg->prefetch_memory)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->co = *co;
	pktbuf_init(&co->pkts);
	co->count = 0;
	parsed = batch_keys_parse(&k->co, keys, n_keys, skip,
				  batch_by_value_ok(&sh->cr), &k->rs);
	key_ok = parsed && batch_join_key_ok(&k->rs, sh->cr.key_type);
	/* a key column changed under the probe: probe again */
	if (parsed && !key_ok)
		sh->probed = false;
	if (!key_ok || k->rs.warnings ||
	    !fanout_compatible_defs(&k->rs, &sh->solo)) {
		if (parsed)
			fanout_rs_free(&k->rs);
		backend_result_free(&k->co);
		free(k);
		return NULL;
	}
	fanout_use_defs(&k->rs, &sh->solo);
	k->rows = calloc(n_keys, sizeof(*k->rows));
	k->hit = calloc(n_keys, sizeof(*k->hit));
	if (!k->rows || !k->hit) {
		free(k->rows);
		free(k->hit);
		fanout_rs_free(&k->rs);
		backend_result_free(&k->co);
		free(k);
		return NULL;
	}
	for (i = 0; i < k->rs.nrows; i++)
		k->rows[k->rs.row_key[i]]++;
	k->keys = keys;
	k->n_keys = n_keys;
	k->mem = k->co.pkts.len + n_keys * (sizeof(*k->keys) + 16);
	sh->barren = 0;
	return k;
}

/* Append chunk <k> to the shape's kept answers. */
static void pf_chunk_add(struct prefetch *pf, struct pf_shape *sh,
			 struct pf_kept *k)
{
	struct pf_kept **at = &sh->kept;

	while (*at)
		at = &(*at)->next;
	*at = k;
	pf->mem += k->mem;
	pf->have_kept = true;
	/* recorded rows give way to answers */
	while (pf->mem > (size_t)ib.cfg->prefetch_memory) {
		int v = pf_set_victim(pf, -1);

		if (v < 0)
			break;
		pf_set_clear(pf, &pf->sets[v]);
	}
}

/* The kept answers of the running shape are the coalesced query <co> (taken
 * over) of the lookup's keys, and nothing before it. */
static void pf_keep(struct lookup *l, struct pf_shape *sh,
		    struct backend_result *co)
{
	struct prefetch *pf = l->pf;
	struct pf_kept *k;

	pf_kept_free(pf, sh);
	k = pf_chunk_make(sh, co, pf->pkeys, pf->n_pkeys,
			  pf->trig_in_co ? pf->n_pkeys : 0);
	if (!k)
		return;
	pf->pkeys = NULL;
	pf->n_pkeys = 0;
	if (!pf->trig_in_co) {
		/* the lookup's own key ran alone: not among the answers */
		free(k->keys[0].sql);
		k->keys[0].sql = NULL;
		k->keys[0].len = 0;
		k->hit[0] = true;
		k->n_hit = 1;
	}
	pf_chunk_add(pf, sh, k);
	pf->mode = pf_mode(l);
	pf->changes_at = l->sess->var_changes;
	pf->kept_us = util_now_us();
}

/* ---- fetching ahead ---- */

static void pf_ahead_cb(void *arg, struct backend_result *res);

/* Encode <n> predicted key values as the coalesced query writes them, without
 * repeats, after <first> (may be NULL); NULL on failure. */
static struct batch_key *pf_encode(struct lookup *l, struct pf_shape *sh,
				   const char *first, size_t first_len,
				   unsigned *n_out)
{
	struct prefetch *pf = l->pf;
	struct batch_key *keys;
	char csn[32];
	const char *cs;
	size_t cs_len = session_charset(l->sess, &cs), n;
	unsigned i, j, nk = 0;
	char *e;

	if (cs_len == 0 || cs_len >= sizeof(csn))
		return NULL;
	memcpy(csn, cs, cs_len);
	csn[cs_len] = '\0';
	keys = calloc(pf->n_pvals + 1, sizeof(*keys));
	if (!keys)
		return NULL;
	for (i = first ? 0 : 1; i <= pf->n_pvals; i++) {
		e = i == 0 ? batch_encode_value(sh->cr.key_type, csn, first,
						first_len, &n)
			   : batch_encode_value(sh->cr.key_type, csn,
						pf->pvals[i - 1],
						pf->pval_lens[i - 1], &n);
		if (!e) {
			pf_keys_free(keys, nk);
			return NULL;
		}
		for (j = 0; j < nk; j++)
			if (keys[j].len == n && memcmp(keys[j].sql, e, n) == 0)
				break;
		if (j < nk) {
			free(e);
			continue;
		}
		keys[nk].sql = e;
		keys[nk++].len = n;
	}
	*n_out = nk;
	return keys;
}

/*
 * While the loop is answered from kept answers, fetch the keys predicted
 * after those already fetched, so that they are there when it gets to
 * them: at most prefetch_max_keys ahead of it, within half the memory
 * bound.  The backend runs the coalesced query while the client is idle, and
 * commands other than lookups kept answers can answer wait for it
 * (prefetch_busy).  True when it started: the session then ran the
 * coalesced query last, and the answer just sent is not its own last
 * statement.
 */
static bool pf_ahead(struct lookup *l, struct pf_shape *sh)
{
	struct prefetch *pf = l->pf;
	struct pf_kept *k;
	struct pktbuf pb;
	unsigned pending = 0, n = 0;
	struct batch_key *keys;
	bool ok;

	if (pf->bg || !sh->kept || !(sh->ahead_col || sh->ahead_int) ||
	    sh->barren >= PF_BARREN || !pf_backend_idle(l) ||
	    pf->mem >= (size_t)ib.cfg->prefetch_memory / 2)
		return false;
	for (k = sh->kept; k; k = k->next)
		pending += k->n_keys - k->n_hit;
	if (pending >= (unsigned)ib.cfg->prefetch_max_keys || !pf_kept_valid(l, pf))
		return false;
	if (!pf_predict(pf, sh, true)) {
		/* nothing further: do not look again */
		sh->ahead_col = sh->ahead_int = false;
		pf_plan_clear(pf);
		return false;
	}
	keys = pf_encode(l, sh, NULL, 0, &n);
	pf_plan_clear(pf);
	if (!keys)
		return false;
	ok = batch_keys_sql(&pb, sh->tmpl, &sh->cr, keys, n, n,
			    batch_by_value_ok(&sh->cr)) &&
	     pf_query(l, (const char *)pb.buf, pb.len, pf_ahead_cb);
	pktbuf_free(&pb);
	if (!ok) {
		pf_keys_free(keys, n);
		return false;
	}
	pf->bg = true;
	pf->bg_shape = sh;
	pf->bg_drops = pf->drops;
	pf->bg_keys = keys;
	pf->bg_n = n;
	IB_STAT_INC(prefetch_queries);
	IB_STAT_ADD(prefetch_keys, n);
	if (sh->st) {
		sh->st->predictions++;
		sh->st->keys += n;
	}
	return true;
}

/* ---- answering ---- */

/* Send kept answer <i> of chunk <k> of the running shape; the session
 * last ran a coalesced query or the lookup's own run, so its diagnostics are
 * restored before anything reads them, as for a batched lookup. */
static void pf_answer(struct lookup *l, struct pf_shape *sh, struct pf_kept *k,
		      unsigned i)
{
	struct prefetch *pf = l->pf;
	unsigned rows = sh->cr.limit == 0 ? 0 : k->rows[i];
	struct pf_kept **at;

	if (!k->hit[i]) {
		k->hit[i] = true;
		k->n_hit++;
	}
	IB_STAT_INC(prefetch_hits);
	IB_STAT_INC(backend_statements_saved);
	if (sh->st)
		sh->st->hits++;
	if (!fanout_send(l, &k->rs, i, rows, sh->status)) {
		IB_STAT_INC(oom_errors);
		l->ops->fail(l, false,
			     "out of memory sending a prefetched result");
		return;
	}
	/* a chunk the loop went through makes room for the next */
	if (k->n_hit == k->n_keys && k->next) {
		for (at = &sh->kept; *at != k; at = &(*at)->next)
			;
		*at = k->next;
		if (sh->hit_chunk == k)
			sh->hit_chunk = k->next;
		pf_chunk_free(pf, sh, k);
	}
	pf_ahead(l, sh);
	l->ops->answered(l, rows, false);
}

/* Prefetch gives up on the command: the lookup runs as its own. */
static void pf_fallback(struct lookup *l)
{
	struct prefetch *pf = l->pf;
	char *sql = pf->sql;
	size_t len = pf->sql_len;

	pf->sql = NULL;
	pf_plan_clear(pf);
	if (!sql || !l->ops->fall_back(l, sql, len))
		l->ops->fail(l, true, "no backend for a lookup");
	free(sql);
}

/* The lookup's own run, after the coalesced query: the client gets it as it
 * is, and its definitions and status are what kept answers are sent
 * with. */
static void pf_own_cb(void *arg, struct backend_result *res)
{
	struct lookup *l = arg;
	struct prefetch *pf = l->pf;
	struct pf_shape *sh = pf_running(l, res);
	struct backend_result co;
	bool ahead;

	if (!sh)
		return;
	co = pf->co_res;
	pktbuf_init(&pf->co_res.pkts);
	pf->co_res.count = 0;
	if (fanout_rs_parse(res, false, 1, &sh->solo)) {
		if (sh->solo.warnings == 0) {
			sh->own = *res;
			pktbuf_init(&res->pkts);
			res->count = 0;
			/* the definitions point into <res>: re-parse the copy */
			fanout_rs_free(&sh->solo);
			sh->have_solo = fanout_rs_parse(&sh->own, false, 1, &sh->solo);
			if (!sh->have_solo)
				backend_result_free(&sh->own);
			sh->status = sh->solo.status &
				     (uint16_t)~(ST_SESSION_STATE_CHANGED | ST_MORE_RESULTS);
		} else {
			fanout_rs_free(&sh->solo);
		}
	}
	if (!fanout_send_own(l, sh->have_solo ? &sh->own : res)) {
		backend_result_free(&co);
		IB_STAT_INC(oom_errors);
		l->ops->fail(l, false, "out of memory sending a result");
		return;
	}
	if (sh->have_solo && co.count)
		pf_keep(l, sh, &co);
	backend_result_free(&co);
	pf_plan_clear(pf);
	/* its session ran its own lookup last, unless a fetch ahead follows */
	ahead = sh->have_solo && pf_ahead(l, sh);
	l->ops->answered(l, ahead && sh->cr.limit != 0 ? sh->solo.nrows : 0,
			 !ahead);
}

/* ---- the coalesced query ---- */

static void pf_co_cb(void *arg, struct backend_result *res)
{
	struct lookup *l = arg;
	struct prefetch *pf = l->pf;
	struct pf_shape *sh = pf_running(l, res);

	if (!sh)
		return;
	backend_result_free(&pf->co_res);
	pf->co_res = *res;
	pktbuf_init(&res->pkts);
	res->count = 0;
	if (pf->trig_in_co) {
		/* the definitions and status of an earlier own run hold for
		 * the lookup's key as for the others */
		pf_keep(l, sh, &pf->co_res);
		backend_result_free(&pf->co_res);
		if (sh->kept && batch_rows_ok(sh->tmpl, &sh->cr, &sh->kept->rs,
					      0, sh->kept->rows[0])) {
			pf_plan_clear(pf);
			pf_answer(l, sh, sh->kept, 0);
		} else {
			if (sh->kept && sh->kept->rows[0] > 1)
				sh->unordered = true;
			pf_fallback(l);
		}
		return;
	}
	if (!pf_query(l, pf->sql, pf->sql_len, pf_own_cb))
		pf_fallback(l);
}

/* The fetch ahead is back: its answers join the shape's, unless anything
 * dropped kept answers meanwhile; then a held command goes on. */
static void pf_ahead_cb(void *arg, struct backend_result *res)
{
	struct lookup *l = arg;
	struct prefetch *pf = l->pf;
	struct pf_shape *sh;
	struct pf_kept *k = NULL;
	char *sql;
	size_t len;

	if (l->ops->closing(l) || !pf)
		return;
	if (!res) {
		l->ops->fail(l, false, "backend lost during a prefetch");
		return;
	}
	pf_read_done(l, res);
	sh = pf->bg_shape;
	pf->bg = false;
	pf->bg_shape = NULL;
	if (res->err)
		pf_drop(pf);
	else if (sh && sh->kept && pf->bg_drops == pf->drops &&
		 pf_kept_valid(l, pf))
		k = pf_chunk_make(sh, res, pf->bg_keys, pf->bg_n, pf->bg_n);
	if (k)
		pf_chunk_add(pf, sh, k);
	else
		pf_keys_free(pf->bg_keys, pf->bg_n);
	pf->bg_keys = NULL;
	pf->bg_n = 0;
	if (!pf->bg_wait)
		return;
	pf->bg_wait = false;
	if (pf->plan != PF_PLAN_WAIT) {
		/* a command other than a lookup waits in the input */
		l->ops->resume(l);
		return;
	}
	/* the held lookup, afresh */
	sql = pf->sql;
	len = pf->sql_len;
	pf->sql = NULL;
	pf_plan_clear(pf);
	if (prefetch_submit(l, sql, len, true)) {
		free(sql);
		prefetch_run(l);
		return;
	}
	pf->sql = sql;
	pf->sql_len = len;
	pf_fallback(l);
}

static void pf_send_co(struct lookup *l)
{
	struct prefetch *pf = l->pf;
	struct pf_shape *sh = pf->run;
	struct pktbuf pb;
	bool ok;

	pf->trig_in_co = sh->have_solo;
	ok = batch_keys_sql(&pb, sh->tmpl, &sh->cr, pf->pkeys, pf->n_pkeys,
			    pf->trig_in_co ? pf->n_pkeys : 0,
			    batch_by_value_ok(&sh->cr)) &&
	     pf_query(l, (const char *)pb.buf, pb.len, pf_co_cb);
	pktbuf_free(&pb);
	if (!ok) {
		pf_fallback(l);
		return;
	}
	IB_STAT_INC(prefetch_queries);
	IB_STAT_ADD(prefetch_keys, pf->n_pkeys - 1);
	if (sh->st) {
		sh->st->predictions++;
		sh->st->keys += pf->n_pkeys - 1;
	}
}

static void pf_probe_cb(void *arg, struct backend_result *res)
{
	struct lookup *l = arg;
	struct pf_shape *sh = pf_running(l, res);

	if (!sh)
		return;
	sh->probed = !res->err;
	sh->probe_ok = batch_probe_check(res, sh->cr.key_type, true);
	if (!sh->probe_ok) {
		log_debug("prefetch: shape %s is not an InnoDB base table keyed "
			  "as a join compares, or the session's right to read "
			  "it may be revoked", sh->st ? sh->st->text : "?");
		pf_fallback(l);
		return;
	}
	pf_send_co(l);
}

static void pf_after_ctx(struct lookup *l)
{
	struct prefetch *pf = l->pf;
	struct pf_shape *sh = pf->run;
	struct pktbuf pb;
	int64_t v;
	bool ok;

	/* the lookup's own key and the predicted ones; an IN list's rows
	 * could not name an own key of over 18 digits (prefetch predicts
	 * none such): it runs alone, as the batcher runs such keys */
	pf->pkeys = pf_encode(l, sh, pf->trig, pf->trig_len, &pf->n_pkeys);
	if (!pf->pkeys || pf->n_pkeys < 2 ||
	    (batch_by_value_ok(&sh->cr) &&
	     !batch_int_value((const uint8_t *)pf->pkeys[0].sql,
			      pf->pkeys[0].len, &v))) {
		pf_fallback(l);
		return;
	}
	if (sh->probed) {
		if (sh->probe_ok)
			pf_send_co(l);
		else
			pf_fallback(l);
		return;
	}
	/* an InnoDB base table: only its reads come from the snapshot */
	ok = batch_probe_sql(&pb, sh->tmpl, &sh->cr, session_lex_flags(l->sess),
			     true) &&
	     pf_query(l, (const char *)pb.buf, pb.len, pf_probe_cb);
	pktbuf_free(&pb);
	if (!ok)
		pf_fallback(l);
}

static bool pf_mode_ok(struct lookup *l)
{
	enum session_pf m = pf_mode(l);

	return m == SESSION_PF_SNAPSHOT || m == SESSION_PF_STALE;
}

static void pf_ctx_cb(void *arg, struct backend_result *res)
{
	struct lookup *l = arg;

	if (l->ops->closing(l))
		return;
	if (!res) {
		l->ops->fail(l, true,
			     "backend lost while reading the session");
		return;
	}
	session_ctx_set(l->sess, res);
	if (!pf_mode_ok(l)) {
		pf_fallback(l);
		return;
	}
	pf_after_ctx(l);
}

void prefetch_run(struct lookup *l)
{
	struct prefetch *pf = l->pf;
	struct pf_shape *sh = pf->run;
	struct pf_kept *k = pf->answer_chunk;
	unsigned i = pf->answer_key;

	if (pf->plan == PF_PLAN_ANSWER) {
		pf_plan_clear(pf);
		pf_answer(l, sh, k, i);
		return;
	}
	/* the lookup waits for the statements below, as a batched one */
	l->ops->wait(l);
	if (pf->plan == PF_PLAN_WAIT)
		return;
	if (pf_mode(l) == SESSION_PF_NEED_CTX) {
		if (!backend_query(pf_backend(l), session_ctx_sql,
				   session_ctx_sql_len, pf_ctx_cb, l))
			pf_fallback(l);
		return;
	}
	if (!pf_mode_ok(l)) {
		pf_fallback(l);
		return;
	}
	pf_after_ctx(l);
}

void prefetch_on_response_done(struct lookup *l)
{
	if (l->pf)
		l->pf->cur = -1;
}

void prefetch_free(struct lookup *l)
{
	struct prefetch *pf = l->pf;
	unsigned i;

	if (!pf)
		return;
	prefetch_on_command(l, COM_RESET_CONNECTION);
	pf_plan_clear(pf);
	pf_keys_free(pf->bg_keys, pf->bg_n);
	backend_result_free(&pf->co_res);
	for (i = 0; i < PF_SETS; i++)
		pf_set_clear(pf, &pf->sets[i]);
	free(pf);
	l->pf = NULL;
}
