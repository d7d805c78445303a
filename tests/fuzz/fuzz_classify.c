/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * fuzz_classify.c: libFuzzer target for the query classifier. The first byte
 * picks the sql_mode flags (and how many of the last bytes make another key
 * for an accepted statement); the rest is the COM_QUERY text. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"

static volatile uint8_t fuzz_sink;

/* Read every byte of a span, so one that overruns the input trips ASan
 * even when the classifier itself stayed in bounds. */
static void fuzz_span(const uint8_t *base, size_t len, struct classify_span sp)
{
	size_t i;

	if (sp.off > len || sp.len > len - sp.off)
		abort();
	for (i = 0; i < sp.len; i++)
		fuzz_sink ^= base[sp.off + i];
}

/* Two answers to one text are the same in every part. */
static bool fuzz_same(const struct classify_result *a, const struct classify_result *b)
{
	const struct classify_span *sa[] = { &a->select_list, &a->table, &a->alias, &a->key_col,
					     &a->key, &a->where_rest, &a->order_by };
	const struct classify_span *sb[] = { &b->select_list, &b->table, &b->alias, &b->key_col,
					     &b->key, &b->where_rest, &b->order_by };
	size_t i;

	if (a->reason != b->reason)
		return false;
	if (a->reason != CLASSIFY_OK)
		return true;
	for (i = 0; i < sizeof(sa) / sizeof(sa[0]); i++)
		if (sa[i]->off != sb[i]->off || sa[i]->len != sb[i]->len)
			return false;
	return a->key_type == b->key_type && a->limit == b->limit &&
	       a->select_star == b->select_star;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct classify_result res;
	const uint8_t *sql;
	unsigned flags;
	size_t len, out_len, cap;
	char *out;
	bool acc;

	if (size < 1)
		return 0;
	flags = data[0] & (CLASSIFY_ANSI_QUOTES | CLASSIFY_NO_BACKSLASH_ESC | CLASSIFY_ASCII_NAMES);
	sql = data + 1;
	len = size - 1;

	/* the same bytes as an init_connect text: the reading must stay in
	 * bounds (ASan) whatever it decides */
	{
		static const char *const vars[] = { "time_zone", "sql_mode", NULL };

		fuzz_sink ^= (uint8_t)classify_set_only((const char *)sql, len, vars);
	}
	/* and as an ORDER BY clause (the tie check reads them) */
	{
		struct classify_order_item it[CLASSIFY_ORDER_MAX];
		unsigned n = 0;

		if (classify_order_cols((const char *)sql, len, it, &n) &&
		    (n == 0 || n > CLASSIFY_ORDER_MAX))
			abort();
	}

	acc = classify_query((const char *)sql, len, flags, &res);
	if ((unsigned)res.reason >= CLASSIFY__COUNT || acc != (res.reason == CLASSIFY_OK))
		abort();
	if (!classify_reason_str(res.reason))
		abort();
	if (!acc)
		return 0;

	fuzz_span(sql, len, res.select_list);
	fuzz_span(sql, len, res.table);
	fuzz_span(sql, len, res.alias);
	fuzz_span(sql, len, res.key_col);
	fuzz_span(sql, len, res.key);
	fuzz_span(sql, len, res.where_rest);
	fuzz_span(sql, len, res.order_by);
	/* an accepted lookup always has these parts */
	if (!res.select_list.len || !res.table.len || !res.key_col.len || !res.key.len)
		abort();
	if (res.limit < -1)
		abort();

	/* the decoder must fit in lit_len bytes and never write past its cap */
	cap = res.key.len;
	out = malloc(cap);
	if (!out)
		return 0;
	if (!classify_key_value((const char *)sql + res.key.off, res.key.len, flags, out, cap,
				&out_len) ||
	    out_len > cap)
		abort();
	if (out_len > 0 && classify_key_value((const char *)sql + res.key.off, res.key.len, flags,
					      out, out_len - 1, &out_len))
		abort();
	free(out);
	out = NULL;

	/* the same statement with another key (the input's last bytes): the
	 * memo, primed with it above, answers as lexing afresh */
	{
		struct classify_result m, f;
		size_t k = (size_t)(data[0] >> 3) % 16, end = res.key.off + res.key.len;
		size_t blen;
		uint8_t *b;

		if (k > len)
			k = len;
		blen = len - res.key.len + k;
		b = malloc(blen ? blen : 1);
		if (!b)
			return 0;
		memcpy(b, sql, res.key.off);
		memcpy(b + res.key.off, sql + len - k, k);
		memcpy(b + res.key.off + k, sql + end, len - end);
		classify_query((const char *)b, blen, flags, &m);
		classify_memo_reset();
		classify_query((const char *)b, blen, flags, &f);
		if (!fuzz_same(&m, &f))
			abort();
		free(b);
	}

	/* classifying again, from the memo and afresh, gives the same
	 * answer: no hidden state */
	{
		struct classify_result again;

		classify_query((const char *)sql, len, flags, &again);
		if (!fuzz_same(&again, &res))
			abort();
		classify_memo_reset();
		classify_query((const char *)sql, len, flags, &again);
		if (!fuzz_same(&again, &res))
			abort();
	}
	return 0;
}
