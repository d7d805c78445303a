/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * session.h: what the server says about one client's backend session,
 * and whether a lookup of that session may be answered by another's. */
#ifndef IB_SESSION_H
#define IB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct proto_ok;
struct backend_result;
struct pktbuf;

/*
 * The server is the source of truth: every backend session runs with
 * session tracking (state changes, every system variable, the schema and
 * the transaction state), and the OK packets of the client's own commands
 * feed this struct.  A session may share answers only with sessions whose
 * context string is equal; the context is read from the server at login
 * and, after any reported variable or schema change, again when a lookup
 * needs it.
 */
struct session {
	bool tracking;	  /* trackers are on for this backend session */
	bool tainted;	  /* state the trackers cannot describe: until reset */
	bool ctx_known;	  /* ctx read since the last reported change */
	bool ctx_ok;	  /* ctx values allow batching at all */
	bool locked;	  /* LOCK TABLES in force (transaction state tracker) */
	bool trx_chars;	  /* SET TRANSACTION pending for the next transaction */
	bool rc_autocommit_off; /* context: autocommit off, READ COMMITTED */
	bool ctx_base_ok; /* ctx_ok but for the autocommit/isolation rule */
	unsigned lex_flags; /* classify flags from the context's sql_mode */
	bool tx_vars_changed; /* a variable changed inside the running
			       * transaction: its isolation may not be the
			       * context's */
	unsigned var_changes; /* variable, schema or undescribed state changes
			       * reported so far (prefetch compares it) */
	const char *why;  /* why not batchable, for SHOW CLIENTS and logs */
	char *ctx;	  /* account, role, schema and semantic variables */
	size_t ctx_len;
	uint64_t ctx_hash; /* util_hash of ctx */
	/* The client's own tracker settings, for a client with SESSION_TRACK
	 * (zero: the server's defaults).  <cvars>: a comma-separated list of
	 * variables, NULL for the default five. */
	char *cvars;
	bool cno_schema;  /* session_track_schema = OFF */
	bool cstate;	  /* session_track_state_change = ON */
	uint8_t ctrx;	  /* session_track_transaction_info: 0 OFF, 1 STATE,
			   * 2 CHARACTERISTICS */
	bool cunknown;	  /* the client set other trackers: pass everything */
	/* init_connect was read at login (init_known) and may have left
	 * state no read shows (init_hidden).  The server runs it at login
	 * only: both are kept through COM_CHANGE_USER and
	 * COM_RESET_CONNECTION, and a session not read is never batched
	 * (a session login that batching was off for, say). */
	bool init_known;
	bool init_hidden;
};

/* Statements run on a backend session to turn its trackers on. */
extern const char session_track_sql[];
extern const size_t session_track_sql_len;
/* Read at login, right before session_track_sql: the session's own tracker
 * settings, its context and init_connect (session_login_read). */
extern const char session_login_sql[];
extern const size_t session_login_sql_len;
/* The context query; its one row is what session_ctx_set() parses. */
extern const char session_ctx_sql[];
extern const size_t session_ctx_sql_len;

/* Login, COM_CHANGE_USER, COM_RESET_CONNECTION: nothing is known. */
void session_reset(struct session *s);
void session_free(struct session *s);
/* The trackers were set (or could not be); a context read at login stays. */
void session_set_tracking(struct session *s, bool on);
/* One OK packet of the client's own command, parsed with its state block. */
void session_on_ok(struct session *s, const struct proto_ok *ok);
/* A result set ended with <status> (EOF packets carry no state block). */
void session_on_eof(struct session *s, uint16_t status);
/*
 * The session-state block a client that negotiated SESSION_TRACK gets
 * from <state> (what our trackers reported): only the entries its own
 * tracker settings produce, appended to <out> without a length.  Notes
 * changes of those settings.  False on allocation failure.
 */
bool session_client_state(struct session *s, const uint8_t *state, size_t len,
			  struct pktbuf *out);
/* The client sends <sql> (COM_QUERY or COM_STMT_PREPARE text), of kind
 * <kind> (classify_stmt_kind); NULL when the text is too long to have
 * been read whole. */
void session_on_statement(struct session *s, const char *sql, size_t len,
			  unsigned kind);
/* Something happened whose effect on the session nobody can tell. */
void session_on_unknown(struct session *s, const char *why);
/* session_login_sql's result <res>: keeps the context it read (if any) and
 * returns the tracker settings (malloc'd), or NULL if unreadable. */
char *session_login_read(struct session *s, const struct backend_result *res);
/* The client's trackers are as <str> (such a row) says. */
void session_client_trackers_apply(struct session *s, const char *str);
/* Parse the context query's result; false leaves the session unbatchable. */
bool session_ctx_set(struct session *s, const struct backend_result *res);
/*
 * May a lookup of this session, whose last status flags were <status>,
 * be batched now?  <autocommit_off>: sessions with autocommit off may be,
 * at READ COMMITTED.  <need_ctx> is set when only the context is missing.
 */
bool session_batchable(struct session *s, uint16_t status, bool autocommit_off,
		       bool *need_ctx);

/*
 * May a lookup of this session be answered from the session's own earlier
 * keys join (prefetch.c)?  SESSION_PF_SNAPSHOT: in a transaction at
 * REPEATABLE READ, whose snapshot every read of it sees; SESSION_PF_STALE:
 * outside a transaction under autocommit, when <stale_ok>; NEED_CTX: the
 * context must be read first.
 */
enum session_pf { SESSION_PF_NO, SESSION_PF_SNAPSHOT, SESSION_PF_STALE,
		  SESSION_PF_NEED_CTX };
enum session_pf session_prefetchable(const struct session *s, uint16_t status,
				     bool stale_ok);
/*
 * One of the proxy's own reads that set nothing (a lookup the classifier
 * accepted on a probed base table, its keys join, the table probe) ended
 * without error, and <changes> is what var_changes was before it: its
 * EOF's state-changed flag, inside a transaction, is then the transaction
 * tracker's, and the context read before it still holds.
 */
void session_read_done(struct session *s, unsigned changes, bool was_known);

/* The context string (valid while ctx_known), for grouping lookups, and
 * its hash (util_hash from util_hash_seed()). */
const char *session_ctx_key(const struct session *s, size_t *len,
			    uint64_t *hash);
/* Classify flags the context's sql_mode and character set call for. */
unsigned session_lex_flags(const struct session *s);
/* The client character set's name (not NUL-terminated); 0 if unknown. */
size_t session_charset(const struct session *s, const char **name);
/* Why the session is not batchable, or NULL. */
const char *session_why(const struct session *s);

#endif /* IB_SESSION_H */
