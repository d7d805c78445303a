/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * fanout.h: split a coalesced result set by key and send each client the
 * result set its own lookup would have produced. */
#ifndef IB_FANOUT_H
#define IB_FANOUT_H

#include "inbatch.h"

struct backend_result;

/* A parsed text result set; pointers point into the collected result. */
struct fanout_rs {
	const uint8_t **defs; /* column definitions (after the index and key) */
	size_t *def_lens;
	/* the key column, as the coalesced query read it (stripped from
	 * defs and rows like the index) */
	const uint8_t *key_def;
	size_t key_def_len;
	unsigned ncols;
	uint16_t warnings;
	uint16_t status;
	const uint8_t **rows; /* row payloads */
	size_t *row_lens;
	unsigned *row_key;
	unsigned nrows;
	bool ext_meta; /* definitions carry an EXTENDED_METADATA blob */
	/* each key's rows in order: key_first[k], row_next[that], ... up to
	 * FANOUT_NO_ROW; n_keys is 1 for a result without a key index */
	unsigned *key_first, *row_next;
	unsigned n_keys;
};
#define FANOUT_NO_ROW (~0u)

/*
 * Parse <res> (an internal query's collected packets) as exactly one text
 * result set.  With <indexed>, the first column holds the key index: it is
 * checked against <n_keys>, recorded per row and stripped from the rows;
 * the second is the key column (key_def), stripped too.
 */
bool fanout_rs_parse(const struct backend_result *res, bool indexed,
		     unsigned n_keys, struct fanout_rs *rs);
/*
 * The same for a result whose first column is the key column, without an
 * index: <key_of>(<arg>, value) names each row's key (below <n_keys>);
 * a row it names none of fails the parse.
 */
typedef unsigned (*fanout_key_of_fn)(const void *arg, const uint8_t *v,
				     size_t len);
bool fanout_rs_parse_by_value(const struct backend_result *res,
			      fanout_key_of_fn key_of, const void *arg,
			      unsigned n_keys, struct fanout_rs *rs);
void fanout_rs_free(struct fanout_rs *rs);
/* Could <co>'s rows be sent under <solo>'s column definitions? */
bool fanout_compatible_defs(const struct fanout_rs *co,
			    const struct fanout_rs *solo);
/* Point <rs>'s definitions at <from>'s (same column count). */
void fanout_use_defs(struct fanout_rs *rs, const struct fanout_rs *from);
/*
 * The column of <rs> that ORDER BY item [<qual>.]<col> sorts by, if it is
 * an integer column of a table (whose text is one per value): qualified,
 * a column of that name from the table so named; unqualified, the only
 * column of the select list so named, which must be that column itself
 * (an alias would be sorted by).  -1 when there is none.
 */
int fanout_order_col(const struct fanout_rs *rs, const char *qual,
		     size_t qual_len, const char *col, size_t col_len);
/* Does each row of key <k> differ from the one before in one of the
 * columns <cols>[0..<n>)?  Rows equal in all of them tie. */
bool fanout_rows_distinct(const struct fanout_rs *rs, unsigned k,
			  const int *cols, unsigned n);
/* Send lookup <l> (to l->ops->output) the first <count> rows of key <k>
 * as a complete result set, with status flags <st>. */
bool fanout_send(struct lookup *l, const struct fanout_rs *rs, unsigned k,
		 unsigned count, uint16_t st);
/* Send <l> a collected response as it is, but for the session-tracking
 * flag, which a client without SESSION_TRACK never sees. */
bool fanout_send_own(struct lookup *l, const struct backend_result *res);
/* Free <loop>'s encoding buffer (ib_loop->fanout_out) at exit. */
void fanout_exit(struct ib_loop *loop);

#endif /* IB_FANOUT_H */
