/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * classify.h: decides whether one COM_QUERY text is a single-key lookup the
 * batcher may coalesce, and if so where its parts lie in the original text. */
#ifndef IB_CLASSIFY_H
#define IB_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

/* Longer statements are not lookups worth batching; the cap also bounds the
 * work done per query. */
#define CLASSIFY_MAX_LEN 8192

/*
 * Why a statement is not batchable; CLASSIFY_OK when it is. When a statement
 * has several problems, the first one met reading left to right wins, except
 * that CLASSIFY_TOO_LONG is checked before anything else. A statement that
 * starts with '(' or WITH is reported as CLASSIFY_SUBQUERY.
 */
enum classify_reason {
	CLASSIFY_OK = 0,
	CLASSIFY_NOT_SELECT,	  /* not a SELECT at all (first keyword) */
	CLASSIFY_SYNTAX,	  /* unterminated string/comment, unexpected token */
	CLASSIFY_MULTI_STATEMENT, /* a ';' outside strings/comments (even trailing) */
	CLASSIFY_EXEC_COMMENT,	  /* versioned, MariaDB-versioned or hint comments */
	CLASSIFY_JOIN,		  /* table list, JOIN, STRAIGHT_JOIN, NATURAL, USING */
	CLASSIFY_SUBQUERY,	  /* a nested SELECT, derived table or CTE */
	CLASSIFY_UNION,		  /* UNION / INTERSECT / EXCEPT */
	CLASSIFY_AGGREGATE,	  /* GROUP BY, HAVING, DISTINCT, WINDOW/OVER, COUNT() ... */
	CLASSIFY_LOCKING,	  /* FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE */
	CLASSIFY_FUNCTION,	  /* a call not on the deterministic whitelist */
	CLASSIFY_VARIABLE,	  /* @user or @@system variables */
	CLASSIFY_INTO,		  /* SELECT ... INTO */
	CLASSIFY_MODIFIER,	  /* SQL_CALC_FOUND_ROWS, SQL_CACHE, HIGH_PRIORITY, ... */
	CLASSIFY_COLLATE,	  /* COLLATE, or a charset introducer (_utf8mb4'x', N'x') */
	CLASSIFY_NO_KEY,	  /* WHERE does not start with <column> = <literal> */
	CLASSIFY_KEY_TYPE,	  /* key is NULL, hex/bit, TRUE/FALSE, a float, 'a' 'b' */
	CLASSIFY_OR,		  /* OR / XOR / || at the top level of the other predicates */
	CLASSIFY_LIMIT,		  /* LIMIT with an offset, or not an integer literal */
	CLASSIFY_PLACEHOLDER,	  /* a '?' outside strings */
	CLASSIFY_TOO_LONG,	  /* longer than CLASSIFY_MAX_LEN */
	CLASSIFY_ORDER_POSITION,  /* ORDER BY <n>: a select-list position the rewrite may shift */
	CLASSIFY_RESERVED_NAME,	  /* "__ib_" anywhere: the keys join's own names */
	CLASSIFY_KEY_IN_REST,	  /* the other predicates name the key column */
	CLASSIFY__COUNT
};

/* Short snake_case name ("ok", "not_select", "join", ...) for stats labels;
 * "unknown" for values out of range. */
const char *classify_reason_str(enum classify_reason r);

/* Flags describing the session's sql_mode, which changes how text lexes. */
#define CLASSIFY_ANSI_QUOTES	  0x1 /* ANSI_QUOTES: "x" is an identifier, not a string */
#define CLASSIFY_NO_BACKSLASH_ESC 0x2 /* NO_BACKSLASH_ESCAPES: '\' is ordinary in strings */
/* The client character set is not utf8: a byte >= 0x80 outside quotes may be
 * whitespace to the server (0xA0 in latin1), so it is refused. */
#define CLASSIFY_ASCII_NAMES	  0x4

enum classify_key_type { CLASSIFY_KEY_STRING, CLASSIFY_KEY_INT, CLASSIFY_KEY_DECIMAL };

/* A piece of the original text; len 0 means absent. */
struct classify_span {
	size_t off, len;
};

/*
 * The parts of an accepted statement
 *   SELECT <select_list> FROM <table> [[AS] <alias>]
 *   WHERE <key_col> = <key> [AND <where_rest>] [ORDER BY <order_by>] [LIMIT <limit>]
 * Every span is trimmed of surrounding whitespace and comments.
 */
struct classify_result {
	enum classify_reason reason;
	enum classify_key_type key_type;
	struct classify_span select_list; /* after SELECT (and SQL_NO_CACHE) up to FROM */
	struct classify_span table;	  /* as written, possibly qualified: `db`.`t`, db.t, t */
	struct classify_span alias;	  /* as written, without AS */
	struct classify_span key_col;	  /* as written: name, `name`, t.name, `t`.`name` */
	struct classify_span key;	 /* the literal with its quotes and sign: 'o\'brien', -42 */
	struct classify_span where_rest; /* predicates after "<col> = <key> AND" */
	struct classify_span order_by;	 /* after ORDER BY up to LIMIT or the end */
	long long limit;		 /* LIMIT n, or -1 when absent */
	bool select_star;		 /* the select list is exactly an unqualified "*" */
};

/*
 * Classify one COM_QUERY text <sql> of <len> bytes (not NUL-terminated) lexed
 * per <flags>. Returns true iff res->reason == CLASSIFY_OK; on false only
 * res->reason is meaningful. Never allocates and reads only sql[0..len).
 * Not thread-safe: it keeps a memo (below).
 * The lexer works on bytes, so it is only right for character sets where a
 * multibyte character never contains an ASCII byte (utf8mb4, latin1, ...),
 * not for gbk, big5, sjis or cp932.
 */
bool classify_query(const char *sql, size_t len, unsigned flags, struct classify_result *res);

/* classify_query remembers a few accepted statements, so that the next
 * lookup of a burst, the same text with another key, is not lexed again;
 * reset forgets them (tests compare answers with and without); hits
 * counts the statements answered from it, for the tests (a memo that
 * never hits is slower, not wrong, so it is no operator's figure). */
void classify_memo_reset(void);
unsigned long classify_memo_hits(void);

/*
 * Decode the key literal <lit> of <lit_len> bytes into the value the server
 * reads: quotes removed, escapes and doubled quotes resolved per <flags>.
 * INT and DECIMAL literals are copied as they are. Writes *out_len bytes to
 * <out> (no NUL is added). Returns false if <out_cap> is too small or the
 * literal is malformed; out_cap >= lit_len is always enough.
 */
bool classify_key_value(const char *lit, size_t lit_len, unsigned flags, char *out, size_t out_cap,
			size_t *out_len);

/*
 * What a statement text can do to its session, as far as its words say:
 * a bit mask over every statement of a multi-statement text, executable
 * comments read as code.  Used only to be more careful than the server's
 * own session tracking (never to trust a session more).  A text that
 * starts with SELECT, INSERT, UPDATE, DELETE or REPLACE and holds no ';'
 * is 0 without further reading.
 */
#define STMT_DDL	 0x01 /* CREATE/ALTER/DROP/RENAME/TRUNCATE: tables may change */
#define STMT_HIDDEN	 0x02 /* may leave state the trackers do not describe:
			       * LOCK, HANDLER, CALL, PREPARE/EXECUTE, compound
			       * blocks, TEMPORARY tables, SET ROLE, trackers */
unsigned classify_stmt_kind(const char *sql, size_t len);

/*
 * Is <sql> nothing but SET statements (';'-separated) of the variables in
 * the NULL-terminated list <vars>, or SET NAMES, to plain values: a number,
 * a word, or a '' string of printable ASCII without quotes or backslashes?
 * Plain enough that no sql_mode or character set can make the server read
 * it otherwise (init_connect, see session.c).
 */
bool classify_set_only(const char *sql, size_t len, const char *const *vars);

/*
 * Split a table name as written (`db`.`t`, db.t, t; "t" under
 * CLASSIFY_ANSI_QUOTES) into schema and name, unquoted.  <schema> is set
 * empty when absent.  Each buffer holds <cap> bytes; false when a part does
 * not fit or the name is malformed.  Nothing is NUL-terminated.
 */
bool classify_split_table(const char *t, size_t len, unsigned flags, char *schema, size_t *schema_len,
			  char *name, size_t *name_len, size_t cap);

/*
 * The items of an ORDER BY clause <s>[<len>] when each is a plain column
 * name, [qualifier.]column, bare or in backquotes, with ASC or DESC: at
 * most CLASSIFY_ORDER_MAX of them, each part NUL-free and at most
 * CLASSIFY_NAME_MAX bytes.  False for anything else (an expression, a
 * position, COLLATE).
 */
#define CLASSIFY_ORDER_MAX 4
#define CLASSIFY_NAME_MAX 64
struct classify_order_item {
	char qual[CLASSIFY_NAME_MAX], col[CLASSIFY_NAME_MAX];
	size_t qual_len, col_len; /* qual_len 0: unqualified */
};
bool classify_order_cols(const char *s, size_t len,
			 struct classify_order_item *items, unsigned *n);

#endif /* IB_CLASSIFY_H */
