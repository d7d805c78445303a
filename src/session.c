/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * session.c: session state as the server reports it (session tracking in
 * OK packets, status flags), and the batch context read from the server.
 * Nothing here trusts statement text; text can only make us more careful. */
#include "session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "classify.h"

/*
 * Every change of a system variable (by SET, SET STATEMENT, a prepared or
 * executed statement, a routine), of the schema, of the transaction state
 * and characteristics, and any other change of session state (user
 * variables, temporary tables, prepared statements, roles) is reported.
 */
const char session_track_sql[] =
	"SET SESSION session_track_state_change = ON, "
	"session_track_schema = ON, "
	"session_track_system_variables = '*', "
	"session_track_transaction_info = 'CHARACTERISTICS'";
const size_t session_track_sql_len = sizeof(session_track_sql) - 1;

/*
 * The context: who runs the lookup (account, active role, schema) and every
 * session variable that can change what a single-table read on a base table
 * returns, or whether it fails: lexing and character sets, sql_mode, time
 * zone, sort, division and time formatting, limits that turn into errors,
 * isolation, regex flags, system versioning.  Variables not listed change
 * plans, not answers.  The fields up to SESSION_CTX_CHECKED are also
 * checked one by one; the rest only have to be equal between sessions.
 * Our own tracker settings are not in it: the session is batched only
 * while they hold (tracking set, any change of them taints).
 */
enum session_ctx_field {
	SCTX_USER,
	SCTX_ROLE,
	SCTX_DB,
	SCTX_CS_CLIENT,
	SCTX_CS_CONN,
	SCTX_SQL_MODE,
	SCTX_SELECT_LIMIT,
	SCTX_AUTOCOMMIT,
	SCTX_AUTO_IS_NULL,
	SCTX_ISOLATION,
	SCTX_PROFILING,
	SCTX_OPT_TRACE,
	SCTX_MAX_MEM,
	SESSION_CTX_CHECKED
};

#define SESSION_CTX_FIELDS                                                     \
	"CURRENT_USER(), IFNULL(CURRENT_ROLE(), ''), "                         \
	"IFNULL(DATABASE(), ''), @@character_set_client, "                    \
	"@@character_set_connection, @@sql_mode, @@sql_select_limit, "        \
	"@@autocommit, @@sql_auto_is_null, @@tx_isolation, @@profiling, "     \
	"@@optimizer_trace, @@max_session_mem_used, "                         \
	/* only compared */                                                    \
	"@@collation_connection, IFNULL(@@character_set_results, 'NULL'), "   \
	"@@time_zone, @@max_sort_length, @@div_precision_increment, "         \
	"@@lc_time_names, @@lc_messages, @@group_concat_max_len, "            \
	"@@max_join_size, @@sql_big_selects, @@max_statement_time, "          \
	"@@default_regex_flags, @@system_versioning_asof, "                   \
	"@@tx_read_only, @@default_week_format, @@old_mode, @@sql_notes, "    \
	"@@sql_warnings, @@max_error_count, @@character_set_database, "       \
	"@@collation_database, @@max_allowed_packet, @@lock_wait_timeout, "   \
	"@@big_tables, @@sql_safe_updates, @@sql_quote_show_create"

const char session_ctx_sql[] =
	"SELECT CONCAT_WS(0x1f, " SESSION_CTX_FIELDS ")";
const size_t session_ctx_sql_len = sizeof(session_ctx_sql) - 1;

/*
 * At login, before session_track_sql and in the same round trip: the
 * session's own tracker settings (the server's global ones, or what
 * init_connect made of them; what the client hears is filtered by them,
 * session_client_state) and the context, which our SET does not change.
 * COM_CHANGE_USER and COM_RESET_CONNECTION start from the same trackers:
 * they are kept, not read again, and the context is read when a lookup
 * needs it (a COM_CHANGE_USER must leave Com_select as it was; a SHOW
 * VARIABLES would raise the session's Max_memory_used, which
 * main.memory_used watches).  init_connect too: it ran before this read,
 * and what it may have left is judged once, here (session_init_connect),
 * not by a later read of a global that may have changed since.
 * One statement, so one Com_select per login;
 * the price: where any context expression fails (a server without one of
 * these variables; MariaDB 10.4 and later have them all), the trackers
 * are not known either and the client hears the default ones.
 */
const char session_login_sql[] =
	"SELECT CONCAT_WS(0x1f, @@session_track_system_variables, "
	"@@session_track_schema, @@session_track_state_change, "
	"@@session_track_transaction_info), "
	"CONCAT_WS(0x1f, " SESSION_CTX_FIELDS "), @@init_connect";
const size_t session_login_sql_len = sizeof(session_login_sql) - 1;

#define SESSION_CTX_SEP '\x1f'

/* Client character sets whose bytes the classifier reads right and whose
 * keys batch.c can re-encode as hex under an introducer. */
static const char *const session_charsets[] = { "utf8mb4", "utf8mb3", "utf8",
						"latin1",  "ascii",   NULL };

static void session_ctx_take(struct session *s, char *ctx, size_t n);

static void session_taint(struct session *s, const char *why)
{
	s->var_changes++;
	if (!s->tainted)
		log_debug("session tainted: %s", why);
	s->tainted = true;
	s->why = why;
}

void session_reset(struct session *s)
{
	bool init_known = s->init_known, init_hidden = s->init_hidden;

	free(s->ctx);
	free(s->cvars);
	memset(s, 0, sizeof(*s));
	s->init_known = init_known;
	s->init_hidden = init_hidden;
	s->why = "trackers not set";
}

void session_free(struct session *s)
{
	free(s->ctx);
	s->ctx = NULL;
	free(s->cvars);
	s->cvars = NULL;
}

void session_set_tracking(struct session *s, bool on)
{
	/* the client's settings (session_client_trackers_apply) */
	char *cvars = s->cvars, *ctx = s->ctx;
	size_t ctx_len = s->ctx_len;
	bool cno_schema = s->cno_schema, cstate = s->cstate;
	uint8_t ctrx = s->ctrx;

	/* what the trackers' own SET reported is not the client's doing */
	s->cvars = NULL;
	s->ctx = NULL;
	session_reset(s);
	s->cvars = cvars;
	s->cno_schema = cno_schema;
	s->cstate = cstate;
	s->ctrx = ctrx;
	s->tracking = on;
	if (!on) {
		free(ctx);
		s->why = "the backend session has no session tracking";
		return;
	}
	/* a context read at login, right before our SET, which changed
	 * only the trackers */
	if (ctx)
		session_ctx_take(s, ctx, ctx_len);
}

/* Lenenc string at the reader; NULL when malformed. */
static const uint8_t *session_rd_str(struct proto_rd *rd, size_t *n)
{
	const uint8_t *p = proto_rd_lenenc_str(rd, n, NULL);

	return rd->failed ? NULL : p;
}

void session_on_ok(struct session *s, const struct proto_ok *ok)
{
	struct proto_rd rd, e;
	bool changed = false, described = false;
	const uint8_t *v;
	size_t n, vn;
	uint8_t type;
	unsigned before = s->var_changes;

	if (!(ok->status & ST_IN_TRANS))
		s->tx_vars_changed = false;
	if (!(ok->status & ST_SESSION_STATE_CHANGED))
		return;
	if (!ok->state) {
		session_taint(s, "state change without tracker data");
		return;
	}
	proto_rd_init(&rd, ok->state, ok->state_len);
	while (proto_rd_left(&rd) > 0) {
		type = proto_rd_u8(&rd);
		v = session_rd_str(&rd, &n);
		if (!v) {
			session_taint(s, "malformed tracker data");
			return;
		}
		proto_rd_init(&e, v, n);
		switch (type) {
		case 0: /* SYSTEM_VARIABLES: name, value */
			v = session_rd_str(&e, &vn);
			if (!v) {
				session_taint(s, "malformed tracker data");
				return;
			}
			/* without our trackers we would see nothing more */
			if (vn >= 13 && strncasecmp((const char *)v, "session_track", 13) == 0)
				session_taint(s, "session tracking settings changed");
			/* a fixed clock is not in the context (a running one
			 * differs every second); NOW() in a where clause or a
			 * default would read it */
			if (vn == 9 && strncasecmp((const char *)v, "timestamp", 9) == 0)
				session_taint(s, "timestamp is set");
			s->ctx_known = false;
			s->var_changes++;
			described = true;
			break;
		case 1: /* SCHEMA */
			s->ctx_known = false;
			s->var_changes++;
			described = true;
			break;
		case 2: /* STATE_CHANGE: raw "1" */
			changed = true;
			break;
		case 4: /* TRANSACTION_CHARACTERISTICS */
			v = session_rd_str(&e, &vn);
			s->trx_chars = v && vn > 0;
			break;
		case 5: /* TRANSACTION_STATE: 8 characters, 'L' last when
			 * tables are locked */
			v = session_rd_str(&e, &vn);
			s->locked = v && vn == 8 && v[7] != '_';
			break;
		default:
			break;
		}
	}
	/* user variables, temporary tables, prepared statements, roles: the
	 * server says something changed, not what */
	if (changed && !described)
		session_taint(s, "session state the trackers do not describe");
	/* SET SESSION tx_isolation inside a transaction changes the next
	 * one's level, not this one's */
	if (s->var_changes != before && (ok->status & ST_IN_TRANS))
		s->tx_vars_changed = true;
}

/* The variables MariaDB 10.11 tracks by default. */
static const char session_default_vars[] =
	"autocommit,character_set_client,character_set_connection,"
	"character_set_results,time_zone";

/* Is <name>[<n>] in the comma-separated list <list> ("*" = all)? */
static bool session_var_listed(const char *list, const uint8_t *name, size_t n)
{
	const char *p = list, *e;
	size_t l;

	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		e = p;
		while (*e && *e != ',')
			e++;
		l = (size_t)(e - p);
		while (l > 0 && p[l - 1] == ' ')
			l--;
		if ((l == 1 && *p == '*') ||
		    (l == n && strncasecmp(p, (const char *)name, n) == 0))
			return true;
		p = e;
	}
	return false;
}

static bool session_is(const uint8_t *v, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp((const char *)v, word, n) == 0;
}

/* A tracker setting of the client's changed to <v>[<vn>]. */
static void session_client_setting(struct session *s, const uint8_t *name,
				   size_t n, const uint8_t *v, size_t vn)
{
	char *list;

	if (session_is(name, n, "session_track_system_variables")) {
		list = malloc(vn + 1);
		if (!list)
			return; /* keeps the old list: at worst too much */
		memcpy(list, v, vn);
		list[vn] = '\0';
		free(s->cvars);
		s->cvars = list;
	} else if (session_is(name, n, "session_track_schema")) {
		s->cno_schema = !session_is(v, vn, "ON") && !session_is(v, vn, "1");
	} else if (session_is(name, n, "session_track_state_change")) {
		s->cstate = session_is(v, vn, "ON") || session_is(v, vn, "1");
	} else if (session_is(name, n, "session_track_transaction_info")) {
		s->ctrx = session_is(v, vn, "STATE")		  ? 1
			  : session_is(v, vn, "CHARACTERISTICS") ? 2
								  : 0;
	}
}

bool session_client_state(struct session *s, const uint8_t *state, size_t len,
			  struct pktbuf *out)
{
	struct proto_rd rd, e;
	const uint8_t *v, *name, *val;
	size_t n, nn, vn;
	uint8_t type;
	bool keep;

	if (s->cunknown) {
		pktbuf_put_bytes(out, state, len);
		return !out->failed;
	}
	proto_rd_init(&rd, state, len);
	while (proto_rd_left(&rd) > 0) {
		type = proto_rd_u8(&rd);
		v = session_rd_str(&rd, &n);
		if (!v)
			break;
		switch (type) {
		case 0: /* SYSTEM_VARIABLES */
			proto_rd_init(&e, v, n);
			name = session_rd_str(&e, &nn);
			val = session_rd_str(&e, &vn);
			keep = name && val &&
			       session_var_listed(s->cvars ? s->cvars
							   : session_default_vars,
						  name, nn);
			if (name && val)
				session_client_setting(s, name, nn, val, vn);
			break;
		case 1: /* SCHEMA */
			keep = !s->cno_schema;
			break;
		case 2: /* STATE_CHANGE */
			keep = s->cstate;
			break;
		case 4: /* TRANSACTION_CHARACTERISTICS */
			keep = s->ctrx == 2;
			break;
		case 5: /* TRANSACTION_STATE */
			keep = s->ctrx >= 1;
			break;
		default:
			keep = false;
			break;
		}
		if (keep) {
			pktbuf_put_u8(out, type);
			pktbuf_put_lenenc_str(out, v, n);
		}
	}
	return !out->failed;
}

void session_on_eof(struct session *s, uint16_t status)
{
	if (!(status & ST_IN_TRANS))
		s->tx_vars_changed = false;
	if (!(status & ST_SESSION_STATE_CHANGED))
		return;
	/* an EOF carries the flag, never the data: inside a transaction the
	 * transaction tracker explains it, otherwise anything may have
	 * changed (a function that set a variable, SET STATEMENT ... FOR) */
	if (status & ST_IN_TRANS)
		s->ctx_known = false;
	else
		session_taint(s, "state changed by a statement with a result set");
}

void session_read_done(struct session *s, unsigned changes, bool was_known)
{
	if (was_known && changes == s->var_changes && s->ctx && !s->tainted)
		s->ctx_known = true;
}

void session_on_unknown(struct session *s, const char *why)
{
	session_taint(s, why);
}

void session_on_statement(struct session *s, const char *sql, size_t len,
			  unsigned kind)
{
	char *all;

	/*
	 * The client sets its own trackers.  The server does not report that,
	 * and its list of variables replaces our '*': from now on what it
	 * reports of variables is what the client asked for.  The others we
	 * cannot know from here: its entries pass unfiltered.
	 */
	if (sql && util_memcasemem(sql, len, "session_track_")) {
		if (util_memcasemem(sql, len, "session_track_system_variables") &&
		    (all = strdup("*")) != NULL) {
			free(s->cvars);
			s->cvars = all;
		}
		if (util_memcasemem(sql, len, "session_track_schema") ||
		    util_memcasemem(sql, len, "session_track_state_change") ||
		    util_memcasemem(sql, len, "session_track_transaction_info"))
			s->cunknown = true;
		/* ours may be off now, and the server would not say so */
		if (util_memcasemem(sql, len, "set"))
			session_taint(s, "the client set session trackers");
	}
	if (!sql)
		session_taint(s, "statement too long to read");
	else if (kind & STMT_HIDDEN)
		session_taint(s, "statement whose effects the trackers may not describe");
}

/* Field <i> of the context string, or NULL. */
static const char *session_ctx_field(const struct session *s, unsigned i, size_t *n)
{
	const char *p = s->ctx, *end = s->ctx + s->ctx_len, *q;

	while (i-- > 0) {
		p = memchr(p, SESSION_CTX_SEP, (size_t)(end - p));
		if (!p)
			return NULL;
		p++;
	}
	q = memchr(p, SESSION_CTX_SEP, (size_t)(end - p));
	*n = (size_t)((q ? q : end) - p);
	return p;
}

static bool session_field_is(const struct session *s, unsigned i, const char *want)
{
	size_t n;
	const char *v = session_ctx_field(s, i, &n);

	return v && n == strlen(want) && strncasecmp(v, want, n) == 0;
}

/* Boolean variables read as ON/OFF in a string context, 1/0 elsewhere. */
static bool session_field_on(const struct session *s, unsigned i)
{
	return session_field_is(s, i, "ON") || session_field_is(s, i, "1");
}

static bool session_field_has(const struct session *s, unsigned i, const char *word)
{
	size_t n;
	const char *v = session_ctx_field(s, i, &n);

	return v && util_memcasemem(v, n, word);
}

/* Derive the lexing flags and decide whether the values allow batching. */
static void session_ctx_check(struct session *s)
{
	unsigned i;
	size_t n;

	s->ctx_ok = false;
	s->ctx_base_ok = false;
	s->lex_flags = 0;
	if (!session_ctx_field(s, SESSION_CTX_CHECKED, &n)) {
		s->why = "short context row";
		return;
	}
	for (i = 0; session_charsets[i]; i++)
		if (session_field_is(s, SCTX_CS_CLIENT, session_charsets[i]))
			break;
	if (!session_charsets[i]) {
		s->why = "client character set not batched";
		return;
	}
	/* keys are re-encoded in the client set; the server would convert
	 * a literal to the connection set first */
	{
		size_t a = 0, b = 0;
		const char *x = session_ctx_field(s, SCTX_CS_CLIENT, &a);
		const char *y = session_ctx_field(s, SCTX_CS_CONN, &b);

		if (!x || !y || a != b || strncasecmp(x, y, a) != 0) {
			s->why = "client and connection character sets differ";
			return;
		}
	}
	if (!session_field_has(s, SCTX_CS_CLIENT, "utf8"))
		s->lex_flags |= CLASSIFY_ASCII_NAMES;
	if (session_field_has(s, SCTX_SQL_MODE, "ANSI_QUOTES"))
		s->lex_flags |= CLASSIFY_ANSI_QUOTES;
	if (session_field_has(s, SCTX_SQL_MODE, "NO_BACKSLASH_ESCAPES"))
		s->lex_flags |= CLASSIFY_NO_BACKSLASH_ESC;
	/* sql_select_limit would cap the whole coalesced query */
	if (!session_field_is(s, SCTX_SELECT_LIMIT, "18446744073709551615")) {
		s->why = "sql_select_limit is set";
		return;
	}
	/* IS NULL on an auto-increment column would match this session's
	 * last insert id */
	if (session_field_on(s, SCTX_AUTO_IS_NULL)) {
		s->why = "sql_auto_is_null is on";
		return;
	}
	/* SHOW PROFILES lists what the session ran: another client's keys
	 * in a join, or reads it never sent */
	if (session_field_on(s, SCTX_PROFILING)) {
		s->why = "profiling is on";
		return;
	}
	/* so would the optimizer trace: the join, with others' keys */
	if (!session_field_has(s, SCTX_OPT_TRACE, "enabled=off")) {
		s->why = "optimizer_trace is on";
		return;
	}
	/* the limit is on the session's own memory, which no read shows:
	 * its lookup may fail where another session's join does not */
	if (!session_field_is(s, SCTX_MAX_MEM, "9223372036854775807")) {
		s->why = "max_session_mem_used is set";
		return;
	}
	/* the session's own reads may be prefetched from here on */
	s->ctx_base_ok = true;
	/* and what init_connect left is its own too; not so another's */
	if (!s->init_known || s->init_hidden) {
		s->why = s->init_known ? "init_connect may have left state no read shows"
				       : "init_connect not read at login";
		return;
	}
	/* under autocommit off only READ COMMITTED reads the same from
	 * another session's transaction as from its own */
	s->rc_autocommit_off = !session_field_on(s, SCTX_AUTOCOMMIT);
	if (s->rc_autocommit_off &&
	    !session_field_is(s, SCTX_ISOLATION, "READ-COMMITTED")) {
		s->why = "autocommit off under REPEATABLE READ or SERIALIZABLE";
		return;
	}
	s->ctx_ok = true;
	s->why = NULL;
}

/*
 * The row of an internal query's result <res>, at <rd>: after the column
 * count, <ncols> definitions and an EOF.  <eof> says whether that EOF was
 * there (none under DEPRECATE_EOF); a row cannot start with 0xFE and be
 * under 9 bytes, an EOF always is.
 */
static bool session_row(const struct backend_result *res, unsigned ncols,
			struct proto_rd *rd, bool *eof)
{
	const uint8_t *p = NULL;
	size_t pos = 0, len = 0;
	unsigned i;

	if (!res || res->err)
		return false;
	for (i = 0; i <= ncols + 1; i++)
		if (!backend_result_next(res, &pos, &p, &len))
			return false;
	*eof = len > 0 && p[0] == 0xFE && len < 9;
	if (*eof && !backend_result_next(res, &pos, &p, &len))
		return false;
	if (len == 0 || (p[0] == 0xFE && len < 9))
		return false;
	proto_rd_init(rd, p, len);
	return true;
}

/* The next field of the row at <rd> as a C string (malloc'd), or NULL. */
static char *session_row_str(struct proto_rd *rd, size_t *n)
{
	const uint8_t *v;
	bool null = true;
	char *str;

	v = proto_rd_lenenc_str(rd, n, &null);
	if (rd->failed || null || !v || memchr(v, '\0', *n))
		return NULL;
	str = malloc(*n + 1);
	if (!str)
		return NULL;
	memcpy(str, v, *n);
	str[*n] = '\0';
	return str;
}

/* <ctx>[<n>] (malloc'd, taken) is the session's context: check it. */
static void session_ctx_take(struct session *s, char *ctx, size_t n)
{
	free(s->ctx);
	s->ctx = ctx;
	s->ctx_len = n;
	s->ctx_hash = ctx ? util_hash(util_hash_seed(), ctx, n) : 0;
	s->ctx_known = ctx != NULL;
	s->ctx_ok = false;
	s->ctx_base_ok = false;
	s->why = "context query failed";
	if (ctx)
		session_ctx_check(s);
}

/*
 * The variables init_connect may set and its sessions still be batched:
 * those the context reads (their values are in it) and timeouts.  What
 * else it may do leaves state no read of ours shows (a temporary table,
 * a trigger's or a routine's doing).
 */
static const char *const session_ic_vars[] = {
	"autocommit", "big_tables", "character_set_client",
	"character_set_connection", "character_set_database",
	"character_set_results", "collation_connection", "collation_database",
	"default_regex_flags", "default_week_format", "div_precision_increment",
	"group_concat_max_len", "innodb_lock_wait_timeout",
	"interactive_timeout", "lc_messages", "lc_time_names",
	"lock_wait_timeout", "max_allowed_packet", "max_error_count",
	"max_join_size", "max_session_mem_used", "max_sort_length",
	"max_statement_time", "net_read_timeout", "net_write_timeout",
	"old_mode", "optimizer_trace", "profiling",
	"sql_auto_is_null", "sql_big_selects", "sql_mode", "sql_notes",
	"sql_quote_show_create", "sql_safe_updates", "sql_select_limit",
	"sql_warnings", "system_versioning_asof", "time_zone", "tx_isolation",
	"tx_read_only", "wait_timeout", NULL
};

/* The login read's last field: init_connect, which ran before it. */
static void session_init_connect(struct session *s, struct proto_rd *rd)
{
	const uint8_t *v;
	size_t n = 0;
	bool null = true;

	v = proto_rd_lenenc_str(rd, &n, &null);
	if (rd->failed)
		return;
	s->init_known = true;
	if (!null && !classify_set_only((const char *)v, n, session_ic_vars))
		s->init_hidden = true;
}

char *session_login_read(struct session *s, const struct backend_result *res)
{
	struct proto_rd rd;
	char *trackers = NULL, *ctx = NULL;
	size_t n = 0;
	bool eof;

	if (session_row(res, 3, &rd, &eof)) {
		trackers = session_row_str(&rd, &n);
		/* a session without the EOF is never batched or prefetched
		 * (batch_submit): it reads no context */
		if (eof) {
			ctx = session_row_str(&rd, &n);
			session_init_connect(s, &rd);
		}
	}
	session_ctx_take(s, ctx, n);
	return trackers;
}

void session_client_trackers_apply(struct session *s, const char *str)
{
	static const char *const names[] = {
		"session_track_system_variables", "session_track_schema",
		"session_track_state_change", "session_track_transaction_info"
	};
	const char *v = str, *sep;
	unsigned i;

	for (i = 0; i < 4; i++) {
		sep = strchr(v, 0x1f);
		if (!sep)
			sep = v + strlen(v);
		session_client_setting(s, (const uint8_t *)names[i],
				       strlen(names[i]), (const uint8_t *)v,
				       (size_t)(sep - v));
		if (!*sep)
			break;
		v = sep + 1;
	}
}

bool session_ctx_set(struct session *s, const struct backend_result *res)
{
	struct proto_rd rd;
	char *ctx = NULL;
	size_t n = 0;
	bool eof;

	if (session_row(res, 1, &rd, &eof) && eof)
		ctx = session_row_str(&rd, &n);
	session_ctx_take(s, ctx, n);
	return ctx != NULL;
}

bool session_batchable(struct session *s, uint16_t status, bool autocommit_off,
		       bool *need_ctx)
{
	*need_ctx = false;
	if (!s->tracking || s->tainted)
		return false;
	if (s->locked || s->trx_chars) {
		s->why = s->locked ? "tables are locked" : "SET TRANSACTION pending";
		return false;
	}
	if (status & ST_IN_TRANS) {
		s->why = "in a transaction";
		return false;
	}
	if (!(status & ST_AUTOCOMMIT) && !autocommit_off) {
		s->why = "autocommit is off (batch_autocommit_off)";
		return false;
	}
	if (!s->ctx_known) {
		*need_ctx = true;
		return false;
	}
	if (!s->ctx_ok)
		return false;
	if (!(status & ST_AUTOCOMMIT) != s->rc_autocommit_off) {
		s->why = "status flags disagree with the context";
		return false;
	}
	/* the live flags must agree with the context the keys are lexed by */
	if (!(status & ST_ANSI_QUOTES) != !(s->lex_flags & CLASSIFY_ANSI_QUOTES) ||
	    !(status & ST_NO_BACKSLASH_ESCAPES) != !(s->lex_flags & CLASSIFY_NO_BACKSLASH_ESC)) {
		s->why = "status flags disagree with the context";
		return false;
	}
	return true;
}

enum session_pf session_prefetchable(const struct session *s, uint16_t status,
				     bool stale_ok)
{
	if (!s->tracking || s->tainted || s->locked || s->trx_chars ||
	    s->tx_vars_changed)
		return SESSION_PF_NO;
	if (!(status & ST_IN_TRANS) && !(stale_ok && (status & ST_AUTOCOMMIT)))
		return SESSION_PF_NO;
	if (!s->ctx_known)
		return SESSION_PF_NEED_CTX;
	if (!s->ctx_base_ok)
		return SESSION_PF_NO;
	if (!(status & ST_ANSI_QUOTES) != !(s->lex_flags & CLASSIFY_ANSI_QUOTES) ||
	    !(status & ST_NO_BACKSLASH_ESCAPES) != !(s->lex_flags & CLASSIFY_NO_BACKSLASH_ESC))
		return SESSION_PF_NO;
	if (!(status & ST_IN_TRANS))
		return SESSION_PF_STALE;
	/* READ COMMITTED and READ UNCOMMITTED read newer commits; at
	 * SERIALIZABLE the keys join would lock rows the session may never
	 * ask for (see prefetch.c) */
	return session_field_is(s, SCTX_ISOLATION, "REPEATABLE-READ")
		       ? SESSION_PF_SNAPSHOT
		       : SESSION_PF_NO;
}

const char *session_ctx_key(const struct session *s, size_t *len,
			    uint64_t *hash)
{
	*len = s->ctx_len;
	*hash = s->ctx_hash;
	return s->ctx;
}

unsigned session_lex_flags(const struct session *s)
{
	return s->lex_flags;
}

size_t session_charset(const struct session *s, const char **name)
{
	size_t n = 0;

	*name = session_ctx_field(s, SCTX_CS_CLIENT, &n);
	return *name ? n : 0;
}

const char *session_why(const struct session *s)
{
	return s->tainted || !s->ctx_ok ? s->why : NULL;
}
