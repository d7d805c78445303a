/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * batch.h: recognise batchable lookups, gather them per shape and
 * session context, and run them as one coalesced query on a waiting
 * client's own session (fan-out in fanout.c). */
#ifndef IB_BATCH_H
#define IB_BATCH_H

#include "inbatch.h"
#include "classify.h"

struct backend_result;
struct fanout_rs;
struct proto_coldef;

struct batch_key {
	char *sql; /* the key as it is written into the coalesced query */
	size_t len;
};

/* The batcher of <loop>: set up before it runs, freed after (groups;
 * batches are gone by then, see batch_free_done). */
bool batch_init(struct ib_loop *loop) IB_MUSTCHECK;
void batch_exit(struct ib_loop *loop);

/* Take COM_QUERY <sql> of an idle session, as lookup <l> (its owner set
 * ops, sess, caps, ext_caps, status and start_us), into a batch.  False
 * when it is not batchable now: the caller then passes it through.  True:
 * the lookup reaches one of its outcomes through l->ops, maybe at once. */
bool batch_submit(struct lookup *l, const char *sql, size_t len);
/* A waiting lookup's session is closing: drop it from its batch. */
void batch_lookup_gone(struct lookup *l);
/* A lookup's solo run (its fall-back) finished (adaptive accounting). */
void batch_solo_done(struct lookup *l);
/* A statement that may change tables ran: probe shapes again. */
void batch_note_ddl(void);
/* Free batches that finished during this loop iteration. */
void batch_free_done(void);

/*
 * Pieces of the batcher other modules reuse (prefetch.c): they run the
 * same coalesced query under the same exactness rules.
 */
/* Key value <val>[<n>] (decoded) as the coalesced query writes it, an
 * integer without sign or leading zeros unless negative; malloc'ed. */
char *batch_encode_value(enum classify_key_type kt, const char *charset,
			 const char *val, size_t n, size_t *out_len);
/* The value of decimal <v>[<len>] (signed, or zero-filled); false when it
 * is none or has more digits than an integer key, leading zeros aside. */
bool batch_int_value(const uint8_t *v, size_t len, int64_t *out);
/* A key literal as written in a lookup, lexed per <lex_flags>, encoded
 * as batch_encode_value() encodes its value. */
char *batch_encode_literal(enum classify_key_type kt, const char *charset,
			   unsigned lex_flags, const char *lit, size_t lit_len,
			   size_t *out_len);
/* The coalesced query of lookup <cr> of template <t> for keys[0..n) but
 * <skip>: a keys join (rows tagged with their key's index), or with
 * <by_value> an IN list of integer keys (rows named by their key column).
 * <pb> is initialised here. */
bool batch_keys_sql(struct pktbuf *pb, const char *t,
		    const struct classify_result *cr,
		    const struct batch_key *keys, unsigned n, unsigned skip,
		    bool by_value);
/* May lookup <cr>'s keys go in an IN list (<by_value> above)? */
bool batch_by_value_ok(const struct classify_result *cr);
/* Parse <co>, the answer to batch_keys_sql() of the same keys, <skip> and
 * <by_value>, into <rs>: each row with the index of its key. */
bool batch_keys_parse(const struct backend_result *co,
		      const struct batch_key *keys, unsigned n, unsigned skip,
		      bool by_value, struct fanout_rs *rs);
/* The probe statement and its verdict; with <engine> (prefetch) the table
 * must also be an InnoDB table that the session may read by a privilege no
 * REVOKE takes from it mid-session. <pb> is initialised here. */
bool batch_probe_sql(struct pktbuf *pb, const char *t,
		     const struct classify_result *cr, unsigned lex_flags,
		     bool engine);
bool batch_probe_check(const struct backend_result *res,
		       enum classify_key_type kt, bool engine);
bool batch_key_type_ok(enum classify_key_type kt, const struct proto_coldef *cd);
/* Did a coalesced query compare its keys as a lookup of <kt> does?  Its
 * key column's definition (key_def), read by the query itself, tells. */
bool batch_join_key_ok(const struct fanout_rs *rs, enum classify_key_type kt);
/* May key <key> of the coalesced query <rs>, with <rows> rows, be answered
 * from it, for the lookup <cr> of template <tmpl>?  More rows than its
 * LIMIT may not, nor several but in the lookup's own order: sorted by an
 * ORDER BY of integer columns the query returns, without two rows that
 * tie. */
bool batch_rows_ok(const char *tmpl, const struct classify_result *cr,
		   const struct fanout_rs *rs, unsigned key, unsigned rows);

#endif /* IB_BATCH_H */
