/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * classify.c: a hand-written lexer and a small recogniser for single-key
 * lookups. One pass, one token of lookahead, no allocation, no regex. */
#include "classify.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/*
 * The recogniser is deliberately conservative: a statement is accepted only
 * when every token in it is understood, so anything the rewrite in batch.c
 * could change the meaning of (precedence, per-statement state, session
 * functions) is rejected with the first reason met.
 */

enum tok_type {
	TOK_EOF,
	TOK_ERR,     /* lexing failed; err says why */
	TOK_IDENT,   /* bare word; kw is its keyword entry or NULL */
	TOK_QIDENT,  /* `quoted`, or "quoted" under ANSI_QUOTES */
	TOK_STRING,  /* 'x', or "x" without ANSI_QUOTES */
	TOK_NSTRING, /* N'x': a national-charset introducer */
	TOK_HEX,     /* 0x1f, 0b01, X'1f', B'01' */
	TOK_NUMBER,  /* num holds the NUM_ flags */
	TOK_VAR,     /* @user or @@system */
	TOK_PARAM,   /* ? */
	TOK_SEMI,
	TOK_PUNCT, /* operator; c is its first byte, len its length */
};

#define NUM_DOT	 0x1 /* has a '.' */
#define NUM_FRAC 0x2 /* has digits after the '.' */
#define NUM_EXP	 0x4 /* has an exponent */

/* Keyword flags. */
#define F_RES	 0x01 /* reserved: never a column or alias name */
#define F_OP	 0x02 /* may precede '(' without being a call: IN (...), AND (...) */
#define F_FUNC	 0x04 /* deterministic function on the whitelist */
#define F_AGG	 0x08 /* aggregate function */
#define F_JOINW	 0x10 /* LEFT/RIGHT/FULL: a join unless followed by '(' */
#define F_CLAUSE 0x20 /* starts a clause; out of place inside an expression */
#define F_DOTBAN 0x40 /* banned after a dot too: seq.NEXTVAL under sql_mode=ORACLE */

/* Keywords the grammar itself looks for; the rest are KW_OTHER. */
enum kw_id {
	KW_OTHER,
	KW_ALL,
	KW_AND,
	KW_AS,
	KW_BY,
	KW_DUAL,
	KW_FALSE,
	KW_FOR,
	KW_FROM,
	KW_LIMIT,
	KW_NULL,
	KW_OFFSET,
	KW_OR,
	KW_ORDER,
	KW_ROWS,
	KW_SELECT,
	KW_SQL_NO_CACHE,
	KW_TRUE,
	KW_WHERE,
	KW_WITH,
	KW_XOR,
};

struct kw {
	const char *name;
	unsigned char id;
	unsigned char flags;
	unsigned char ban; /* enum classify_reason met as a word; 0 = none */
};

#define R_AGG  CLASSIFY_AGGREGATE
#define R_FUNC CLASSIFY_FUNCTION
#define R_MOD  CLASSIFY_MODIFIER

/* Sorted by strcmp() of the upper-case name, for the reader; looked up
 * through kw_hash. */
static const struct kw kw_table[] = {
	{ "ABS", KW_OTHER, F_FUNC, 0 },
	{ "ALL", KW_ALL, F_RES | F_OP, 0 },
	{ "AND", KW_AND, F_RES | F_OP, 0 },
	{ "ANY", KW_OTHER, F_OP, 0 },
	{ "AS", KW_AS, F_RES, 0 },
	{ "ASC", KW_OTHER, F_RES, 0 },
	{ "AVG", KW_OTHER, F_AGG, 0 },
	{ "BETWEEN", KW_OTHER, F_RES | F_OP, 0 },
	{ "BINARY", KW_OTHER, F_RES | F_OP, 0 },
	{ "BIT_AND", KW_OTHER, F_AGG, 0 },
	{ "BIT_OR", KW_OTHER, F_AGG, 0 },
	{ "BIT_XOR", KW_OTHER, F_AGG, 0 },
	{ "BY", KW_BY, F_RES | F_OP | F_CLAUSE, 0 },
	{ "CASE", KW_OTHER, F_RES | F_OP, 0 },
	{ "CEIL", KW_OTHER, F_FUNC, 0 },
	{ "CEILING", KW_OTHER, F_FUNC, 0 },
	{ "CHARACTER_LENGTH", KW_OTHER, F_FUNC, 0 },
	{ "CHAR_LENGTH", KW_OTHER, F_FUNC, 0 },
	{ "COALESCE", KW_OTHER, F_FUNC, 0 },
	{ "COLLATE", KW_OTHER, F_RES, CLASSIFY_COLLATE },
	{ "CONCAT", KW_OTHER, F_FUNC, 0 },
	{ "CONCAT_WS", KW_OTHER, F_FUNC, 0 },
	{ "COUNT", KW_OTHER, F_AGG, 0 },
	{ "CROSS", KW_OTHER, F_RES, CLASSIFY_JOIN },
	{ "CURDATE", KW_OTHER, 0, R_FUNC },
	{ "CURRENT_DATE", KW_OTHER, F_RES, R_FUNC },
	{ "CURRENT_ROLE", KW_OTHER, F_RES, R_FUNC },
	{ "CURRENT_TIME", KW_OTHER, F_RES, R_FUNC },
	{ "CURRENT_TIMESTAMP", KW_OTHER, F_RES, R_FUNC },
	{ "CURRENT_USER", KW_OTHER, F_RES, R_FUNC },
	{ "CURRVAL", KW_OTHER, F_DOTBAN, R_FUNC },
	{ "CURTIME", KW_OTHER, 0, R_FUNC },
	{ "DESC", KW_OTHER, F_RES, 0 },
	{ "DISTINCT", KW_OTHER, F_RES, R_AGG },
	{ "DISTINCTROW", KW_OTHER, F_RES, R_AGG },
	{ "DIV", KW_OTHER, F_RES | F_OP, 0 },
	{ "DUAL", KW_DUAL, F_RES | F_CLAUSE, 0 },
	{ "ELSE", KW_OTHER, F_RES | F_OP, 0 },
	{ "EXCEPT", KW_OTHER, F_RES, CLASSIFY_UNION },
	{ "EXISTS", KW_OTHER, F_RES | F_OP, 0 },
	{ "FALSE", KW_FALSE, F_RES, 0 },
	{ "FETCH", KW_OTHER, F_RES, CLASSIFY_LIMIT },
	{ "FLOOR", KW_OTHER, F_FUNC, 0 },
	{ "FOR", KW_FOR, F_RES, CLASSIFY_LOCKING },
	{ "FORCE", KW_OTHER, F_RES | F_CLAUSE, 0 },
	{ "FROM", KW_FROM, F_RES | F_OP | F_CLAUSE, 0 },
	{ "FULL", KW_OTHER, F_JOINW, 0 },
	{ "GREATEST", KW_OTHER, F_FUNC, 0 },
	{ "GROUP", KW_OTHER, F_RES, R_AGG },
	{ "GROUP_CONCAT", KW_OTHER, F_AGG, 0 },
	{ "HAVING", KW_OTHER, F_RES, R_AGG },
	{ "HEX", KW_OTHER, F_FUNC, 0 },
	{ "HIGH_PRIORITY", KW_OTHER, F_RES, R_MOD },
	{ "IF", KW_OTHER, F_RES | F_FUNC, 0 },
	{ "IFNULL", KW_OTHER, F_FUNC, 0 },
	{ "IGNORE", KW_OTHER, F_RES | F_CLAUSE, 0 },
	{ "IN", KW_OTHER, F_RES | F_OP, 0 },
	{ "INNER", KW_OTHER, F_RES, CLASSIFY_JOIN },
	{ "INSTR", KW_OTHER, F_FUNC, 0 },
	{ "INTERSECT", KW_OTHER, F_RES, CLASSIFY_UNION },
	{ "INTERVAL", KW_OTHER, F_RES | F_OP, 0 },
	{ "INTO", KW_OTHER, F_RES, CLASSIFY_INTO },
	{ "IS", KW_OTHER, F_RES | F_OP, 0 },
	{ "ISNULL", KW_OTHER, F_FUNC, 0 },
	{ "JOIN", KW_OTHER, F_RES, CLASSIFY_JOIN },
	{ "JSON_ARRAYAGG", KW_OTHER, F_AGG, 0 },
	{ "JSON_OBJECTAGG", KW_OTHER, F_AGG, 0 },
	{ "LASTVAL", KW_OTHER, F_DOTBAN, R_FUNC },
	{ "LCASE", KW_OTHER, F_FUNC, 0 },
	{ "LEAST", KW_OTHER, F_FUNC, 0 },
	{ "LEFT", KW_OTHER, F_RES | F_FUNC | F_JOINW, 0 },
	{ "LENGTH", KW_OTHER, F_FUNC, 0 },
	{ "LIKE", KW_OTHER, F_RES | F_OP, 0 },
	{ "LIMIT", KW_LIMIT, F_RES | F_CLAUSE, 0 },
	{ "LOCALTIME", KW_OTHER, F_RES, R_FUNC },
	{ "LOCALTIMESTAMP", KW_OTHER, F_RES, R_FUNC },
	{ "LOCATE", KW_OTHER, F_FUNC, 0 },
	{ "LOCK", KW_OTHER, F_RES, CLASSIFY_LOCKING },
	{ "LOWER", KW_OTHER, F_FUNC, 0 },
	{ "LPAD", KW_OTHER, F_FUNC, 0 },
	{ "LTRIM", KW_OTHER, F_FUNC, 0 },
	{ "MAX", KW_OTHER, F_AGG, 0 },
	{ "MIN", KW_OTHER, F_AGG, 0 },
	{ "MOD", KW_OTHER, F_RES | F_OP | F_FUNC, 0 },
	{ "NATURAL", KW_OTHER, F_RES, CLASSIFY_JOIN },
	{ "NEXT", KW_OTHER, 0, R_FUNC },
	{ "NEXTVAL", KW_OTHER, F_DOTBAN, R_FUNC },
	{ "NOT", KW_OTHER, F_RES | F_OP, 0 },
	{ "NOW", KW_OTHER, 0, R_FUNC },
	{ "NULL", KW_NULL, F_RES, 0 },
	{ "NULLIF", KW_OTHER, F_FUNC, 0 },
	{ "OFFSET", KW_OFFSET, 0, 0 },
	{ "ON", KW_OTHER, F_RES, CLASSIFY_JOIN },
	{ "OR", KW_OR, F_RES | F_OP, 0 },
	{ "ORDER", KW_ORDER, F_RES | F_CLAUSE, 0 },
	{ "OUTER", KW_OTHER, F_RES, CLASSIFY_JOIN },
	{ "OVER", KW_OTHER, 0, R_AGG },
	{ "PARTITION", KW_OTHER, F_RES | F_CLAUSE, 0 },
	{ "PREVIOUS", KW_OTHER, 0, R_FUNC },
	{ "PROCEDURE", KW_OTHER, F_RES, R_FUNC },
	{ "REGEXP", KW_OTHER, F_RES | F_OP, 0 },
	{ "REPLACE", KW_OTHER, F_RES | F_FUNC, 0 },
	{ "REVERSE", KW_OTHER, F_FUNC, 0 },
	{ "RIGHT", KW_OTHER, F_RES | F_FUNC | F_JOINW, 0 },
	{ "RLIKE", KW_OTHER, F_RES | F_OP, 0 },
	{ "ROUND", KW_OTHER, F_FUNC, 0 },
	{ "ROWNUM", KW_OTHER, 0, R_FUNC },
	{ "ROWS", KW_ROWS, 0, 0 },
	{ "RPAD", KW_OTHER, F_FUNC, 0 },
	{ "RTRIM", KW_OTHER, F_FUNC, 0 },
	{ "SELECT", KW_SELECT, F_RES, CLASSIFY_SUBQUERY },
	{ "SETVAL", KW_OTHER, 0, R_FUNC },
	{ "SIGN", KW_OTHER, F_FUNC, 0 },
	{ "SOME", KW_OTHER, F_OP, 0 },
	{ "SQL_BIG_RESULT", KW_OTHER, F_RES, R_MOD },
	{ "SQL_BUFFER_RESULT", KW_OTHER, F_RES, R_MOD },
	{ "SQL_CACHE", KW_OTHER, F_RES, R_MOD },
	{ "SQL_CALC_FOUND_ROWS", KW_OTHER, F_RES, R_MOD },
	{ "SQL_NO_CACHE", KW_SQL_NO_CACHE, F_RES, R_MOD },
	{ "SQL_SMALL_RESULT", KW_OTHER, F_RES, R_MOD },
	{ "STD", KW_OTHER, F_AGG, 0 },
	{ "STDDEV", KW_OTHER, F_AGG, 0 },
	{ "STDDEV_POP", KW_OTHER, F_AGG, 0 },
	{ "STDDEV_SAMP", KW_OTHER, F_AGG, 0 },
	{ "STRAIGHT_JOIN", KW_OTHER, F_RES, CLASSIFY_JOIN },
	{ "SUBSTR", KW_OTHER, F_FUNC, 0 },
	{ "SUBSTRING", KW_OTHER, F_FUNC, 0 },
	{ "SUM", KW_OTHER, F_AGG, 0 },
	{ "SYSDATE", KW_OTHER, 0, R_FUNC },
	{ "THEN", KW_OTHER, F_RES | F_OP, 0 },
	{ "TRIM", KW_OTHER, F_FUNC, 0 },
	{ "TRUE", KW_TRUE, F_RES, 0 },
	{ "TRUNCATE", KW_OTHER, F_FUNC, 0 },
	{ "UCASE", KW_OTHER, F_FUNC, 0 },
	{ "UNION", KW_OTHER, F_RES, CLASSIFY_UNION },
	{ "UPPER", KW_OTHER, F_FUNC, 0 },
	{ "USE", KW_OTHER, F_RES | F_CLAUSE, 0 },
	{ "USING", KW_OTHER, F_RES, CLASSIFY_JOIN },
	{ "UTC_DATE", KW_OTHER, F_RES, R_FUNC },
	{ "UTC_TIME", KW_OTHER, F_RES, R_FUNC },
	{ "UTC_TIMESTAMP", KW_OTHER, F_RES, R_FUNC },
	{ "VARIANCE", KW_OTHER, F_AGG, 0 },
	{ "VAR_POP", KW_OTHER, F_AGG, 0 },
	{ "VAR_SAMP", KW_OTHER, F_AGG, 0 },
	{ "WHEN", KW_OTHER, F_RES | F_OP, 0 },
	{ "WHERE", KW_WHERE, F_RES | F_OP | F_CLAUSE, 0 },
	{ "WINDOW", KW_OTHER, F_RES, R_AGG },
	{ "WITH", KW_WITH, F_RES, CLASSIFY_SUBQUERY },
	{ "XOR", KW_XOR, F_RES | F_OP, 0 },
};

#define KW_MAX_LEN 19 /* SQL_CALC_FOUND_ROWS */

struct token {
	enum tok_type type;
	unsigned char c;	  /* first byte, for TOK_PUNCT */
	unsigned char num;	  /* NUM_ flags, for TOK_NUMBER */
	enum classify_reason err; /* for TOK_ERR */
	size_t off, len;
	const struct kw *kw; /* for TOK_IDENT */
};

struct lexer {
	const unsigned char *s;
	size_t len, pos;
	unsigned flags;
	bool has_peek;
	struct token peek;
};

static const char *const reason_names[CLASSIFY__COUNT] = {
	[CLASSIFY_OK] = "ok",
	[CLASSIFY_NOT_SELECT] = "not_select",
	[CLASSIFY_SYNTAX] = "syntax",
	[CLASSIFY_MULTI_STATEMENT] = "multi_statement",
	[CLASSIFY_EXEC_COMMENT] = "exec_comment",
	[CLASSIFY_JOIN] = "join",
	[CLASSIFY_SUBQUERY] = "subquery",
	[CLASSIFY_UNION] = "union",
	[CLASSIFY_AGGREGATE] = "aggregate",
	[CLASSIFY_LOCKING] = "locking",
	[CLASSIFY_FUNCTION] = "function",
	[CLASSIFY_VARIABLE] = "variable",
	[CLASSIFY_INTO] = "into",
	[CLASSIFY_MODIFIER] = "modifier",
	[CLASSIFY_COLLATE] = "collate",
	[CLASSIFY_NO_KEY] = "no_key",
	[CLASSIFY_KEY_TYPE] = "key_type",
	[CLASSIFY_OR] = "or",
	[CLASSIFY_LIMIT] = "limit",
	[CLASSIFY_PLACEHOLDER] = "placeholder",
	[CLASSIFY_TOO_LONG] = "too_long",
	[CLASSIFY_ORDER_POSITION] = "order_position",
	[CLASSIFY_RESERVED_NAME] = "reserved_name",
	[CLASSIFY_KEY_IN_REST] = "key_in_rest",
};

const char *classify_reason_str(enum classify_reason r)
{
	if ((unsigned)r >= CLASSIFY__COUNT || !reason_names[r])
		return "unknown";
	return reason_names[r];
}

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * What a byte is, looked up once (the lexer and the statement scanner read
 * every byte of every relayed statement through this one table):
 * CH_NAME   an ASCII name byte: letters, digits, '_', '$';
 * CH_HIGH   a byte >= 0x80: part of a name too (multibyte names in utf8),
 *           but where CLASSIFY_ASCII_NAMES says not;
 * CH_START  where the statement scanner's words start: letters and '_';
 * CH_LOOK   a byte the statement scanner looks at more closely (stmt_word).
 */
enum { CH_NAME = 1, CH_HIGH = 2, CH_START = 4, CH_LOOK = 8 };
static const unsigned char char_class[256] = {
	['a' ... 'z'] = CH_NAME | CH_START, ['A' ... 'Z'] = CH_NAME | CH_START,
	['_'] = CH_NAME | CH_START, ['0' ... '9'] = CH_NAME, ['$'] = CH_NAME,
	[0x80 ... 0xff] = CH_HIGH,
	[';'] = CH_LOOK, ['\''] = CH_LOOK, ['"'] = CH_LOOK, ['`'] = CH_LOOK,
	['#'] = CH_LOOK, ['-'] = CH_LOOK, ['/'] = CH_LOOK,
};

static inline bool is_ident_char(unsigned char c)
{
	return (char_class[c] & (CH_NAME | CH_HIGH)) != 0;
}

static inline bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline unsigned char to_upper(unsigned char c)
{
	return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

/* Compare the word <w> of <n> bytes, case-folded, with the keyword <name>. */
static int kw_cmp(const unsigned char *w, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char a = to_upper(w[i]), b = (unsigned char)name[i];

		if (b == '\0')
			return 1;
		if (a != b)
			return a < b ? -1 : 1;
	}
	return name[n] == '\0' ? 0 : -1;
}

/*
 * Keywords by a hash of their folded bytes, open addressing: a word is
 * looked up once per token of every statement, and most words (names) are
 * not keywords, which a binary search took eight compares to learn.  Built
 * on first use: one thread (the event loop's) classifies.
 */
#define KW_HASH_SIZE 512 /* a power of two, over three times the table */
static unsigned char kw_hash[KW_HASH_SIZE]; /* index + 1; 0: empty */
_Static_assert(sizeof(kw_table) / sizeof(kw_table[0]) < 255 &&
		       sizeof(kw_table) / sizeof(kw_table[0]) < KW_HASH_SIZE / 3,
	       "kw_hash: indexes fit a byte, probes stay short");
static bool kw_hash_built;

/* FNV-1a: names that differ in one digit (t1, t2) land far apart.  The
 * lexer folds a name's bytes into it as it reads them (lex_raw). */
#define KW_FNV_START 2166136261u
#define KW_FNV_STEP(h, c) (((h) ^ to_upper(c)) * 16777619u)
#define KW_FNV_SLOT(h) (((h) ^ ((h) >> 16)) & (KW_HASH_SIZE - 1))

static unsigned kw_hash_of(const unsigned char *w, size_t n)
{
	uint32_t h = KW_FNV_START;
	size_t i;

	for (i = 0; i < n; i++)
		h = KW_FNV_STEP(h, w[i]);
	return KW_FNV_SLOT(h);
}

static void kw_hash_build(void)
{
	size_t i, n = sizeof(kw_table) / sizeof(kw_table[0]);
	unsigned h;

	for (i = 0; i < n; i++) {
		h = kw_hash_of((const unsigned char *)kw_table[i].name,
			       strlen(kw_table[i].name));
		while (kw_hash[h])
			h = (h + 1) & (KW_HASH_SIZE - 1);
		kw_hash[h] = (unsigned char)(i + 1);
	}
	kw_hash_built = true;
}

/* The keyword <w> of <n> bytes is, if any, in slot <h> or after it. */
static const struct kw *kw_find(const unsigned char *w, size_t n, unsigned h)
{
	if (n > KW_MAX_LEN)
		return NULL;
	if (!kw_hash_built)
		kw_hash_build();
	for (; kw_hash[h]; h = (h + 1) & (KW_HASH_SIZE - 1))
		if (kw_cmp(w, n, kw_table[kw_hash[h] - 1].name) == 0)
			return &kw_table[kw_hash[h] - 1];
	return NULL;
}

static const struct kw *kw_lookup(const unsigned char *w, size_t n)
{
	return kw_find(w, n, kw_hash_of(w, n));
}

/*
 * Find the end of the quoted run opening at s[p] with quote byte <q>; a
 * doubled quote stands for itself and, when <esc>, a backslash escapes the
 * next byte. Returns the offset just past the closing quote, or 0 when the
 * run is unterminated (a closed run always ends past offset 1).
 */
static size_t lex_quoted(const unsigned char *s, size_t n, size_t p, unsigned char q, bool esc)
{
	size_t i;

	for (i = p + 1; i < n; i++) {
		if (s[i] == '\\' && esc) {
			i++;
			continue;
		}
		if (s[i] == q) {
			if (i + 1 < n && s[i + 1] == q) {
				i++;
				continue;
			}
			return i + 1;
		}
	}
	return 0;
}

static void tok_err(struct lexer *lx, struct token *t, size_t p, enum classify_reason why)
{
	t->type = TOK_ERR;
	t->err = why;
	t->off = p;
	t->len = 0;
	/* stay put: lexing again yields the same error */
	lx->pos = p;
}

/* Skip whitespace and comments. Returns false with *why set on a comment
 * that is unterminated or executable. */
static bool lex_skip(struct lexer *lx, enum classify_reason *why)
{
	const unsigned char *s = lx->s;
	size_t n = lx->len, p = lx->pos;

	while (p < n) {
		unsigned char c = s[p];

		if (is_space(c)) {
			p++;
		} else if (c == '#' || (c == '-' && p + 1 < n && s[p + 1] == '-' &&
					(p + 2 >= n || s[p + 2] <= ' ' || s[p + 2] == 0x7f))) {
			/* "--" is a comment only before a space or control byte */
			while (p < n && s[p] != '\n')
				p++;
		} else if (c == '/' && p + 1 < n && s[p + 1] == '*') {
			size_t q;

			if (p + 2 < n && (s[p + 2] == '!' || s[p + 2] == '+' ||
					  ((s[p + 2] == 'M' || s[p + 2] == 'm') && p + 3 < n &&
					   s[p + 3] == '!'))) {
				lx->pos = p;
				*why = CLASSIFY_EXEC_COMMENT;
				return false;
			}
			for (q = p + 2; q + 1 < n; q++)
				if (s[q] == '*' && s[q + 1] == '/')
					break;
			if (q + 1 >= n) {
				lx->pos = p;
				*why = CLASSIFY_SYNTAX;
				return false;
			}
			p = q + 2;
		} else {
			break;
		}
	}
	lx->pos = p;
	return true;
}

/* Lex a token starting with a digit: a number, a 0x/0b literal, or a name
 * such as 1abc that merely starts with digits. */
static void lex_number(struct lexer *lx, struct token *t, size_t p)
{
	const unsigned char *s = lx->s;
	size_t n = lx->len, q = p, w, i;
	unsigned char num = 0;

	while (q < n && is_digit(s[q]))
		q++;
	if (q < n && s[q] == '.') {
		num |= NUM_DOT;
		q++;
		if (q < n && is_digit(s[q])) {
			num |= NUM_FRAC;
			while (q < n && is_digit(s[q]))
				q++;
		}
	}
	if (q < n && (s[q] == 'e' || s[q] == 'E')) {
		size_t e = q + 1;

		if (e < n && (s[e] == '+' || s[e] == '-'))
			e++;
		if (e < n && is_digit(s[e])) {
			num |= NUM_EXP;
			q = e;
			while (q < n && is_digit(s[q]))
				q++;
		}
	}
	t->off = p;
	if (q < n && s[q] >= 0x80 && (lx->flags & CLASSIFY_ASCII_NAMES)) {
		tok_err(lx, t, p, CLASSIFY_SYNTAX);
		return;
	}
	if (q < n && is_ident_char(s[q])) {
		if (num) {
			tok_err(lx, t, p, CLASSIFY_SYNTAX);
			return;
		}
		for (w = q; w < n && is_ident_char(s[w]); w++)
			;
		t->len = w - p;
		lx->pos = w;
		t->type = TOK_IDENT;
		if (w - p > 2 && s[p] == '0' && (s[p + 1] == 'x' || s[p + 1] == 'b')) {
			bool hex = s[p + 1] == 'x';

			for (i = p + 2; i < w; i++) {
				unsigned char c = s[i];

				if (hex ? !(is_digit(c) || (c >= 'a' && c <= 'f') ||
					    (c >= 'A' && c <= 'F'))
					: !(c == '0' || c == '1'))
					break;
			}
			if (i == w)
				t->type = TOK_HEX;
		}
		return;
	}
	t->type = TOK_NUMBER;
	t->num = num;
	t->len = q - p;
	lx->pos = q;
}

/* Lex the operator at s[p]; only the ones MySQL knows are accepted. */
static void lex_punct(struct lexer *lx, struct token *t, size_t p)
{
	const unsigned char *s = lx->s;
	size_t n = lx->len, l = 1;
	unsigned char c = s[p], d = p + 1 < n ? s[p + 1] : 0;

	switch (c) {
	case '<':
		if (d == '=')
			l = (p + 2 < n && s[p + 2] == '>') ? 3 : 2;
		else if (d == '>' || d == '<')
			l = 2;
		break;
	case '>':
		if (d == '=' || d == '>')
			l = 2;
		break;
	case '!':
		if (d == '=')
			l = 2;
		break;
	case '|':
		if (d == '|')
			l = 2;
		break;
	case '&':
		if (d == '&')
			l = 2;
		break;
	case '-':
		if (d == '>')
			l = (p + 2 < n && s[p + 2] == '>') ? 3 : 2;
		break;
	case ':':
		if (d != '=') {
			tok_err(lx, t, p, CLASSIFY_SYNTAX);
			return;
		}
		l = 2;
		break;
	case '(':
	case ')':
	case ',':
	case '.':
	case '=':
	case '+':
	case '*':
	case '/':
	case '%':
	case '^':
	case '~':
		break;
	default:
		tok_err(lx, t, p, CLASSIFY_SYNTAX);
		return;
	}
	t->type = TOK_PUNCT;
	t->c = c;
	t->off = p;
	t->len = l;
	lx->pos = p + l;
}

/* Lex one token at lx->pos into <t>. */
static void lex_raw(struct lexer *lx, struct token *t)
{
	const unsigned char *s = lx->s;
	size_t n = lx->len, p, q;
	enum classify_reason why;
	unsigned char c, mask;
	uint32_t h;

	t->kw = NULL;
	t->num = 0;
	t->c = 0;
	t->err = CLASSIFY_OK;
	if (!lex_skip(lx, &why)) {
		tok_err(lx, t, lx->pos, why);
		return;
	}
	p = lx->pos;
	t->off = p;
	if (p >= n) {
		t->type = TOK_EOF;
		t->len = 0;
		return;
	}
	c = s[p];
	if (c >= 0x80 && (lx->flags & CLASSIFY_ASCII_NAMES)) {
		tok_err(lx, t, p, CLASSIFY_SYNTAX);
		return;
	}
	switch (c) {
	case '"':
	case '\'':
		if (c == '"' && (lx->flags & CLASSIFY_ANSI_QUOTES)) {
			q = lex_quoted(s, n, p, c, false);
			t->type = TOK_QIDENT;
			goto quoted;
		}
		q = lex_quoted(s, n, p, c, !(lx->flags & CLASSIFY_NO_BACKSLASH_ESC));
		t->type = TOK_STRING;
		goto quoted;
	case '`':
		q = lex_quoted(s, n, p, c, false);
		t->type = TOK_QIDENT;
		/* an empty name is an error on the server too */
		if (q == p + 2)
			q = 0;
		goto quoted;
	case ';':
		t->type = TOK_SEMI;
		t->len = 1;
		lx->pos = p + 1;
		return;
	case '?':
		t->type = TOK_PARAM;
		t->len = 1;
		lx->pos = p + 1;
		return;
	case '@':
		for (q = p + 1; q < n && (s[q] == '@' || is_ident_char(s[q])); q++)
			;
		t->type = TOK_VAR;
		t->len = q - p;
		lx->pos = q;
		return;
	default:
		break;
	}
	if (is_digit(c)) {
		lex_number(lx, t, p);
		return;
	}
	if (!is_ident_char(c)) {
		lex_punct(lx, t, p);
		return;
	}
	mask = (lx->flags & CLASSIFY_ASCII_NAMES) ? CH_NAME : CH_NAME | CH_HIGH;
	h = KW_FNV_STEP(KW_FNV_START, c);
	for (q = p + 1; q < n && (char_class[s[q]] & mask); q++)
		h = KW_FNV_STEP(h, s[q]);
	if (q == p + 1 && q < n && s[q] == '\'') {
		/* X'..', B'..' and N'..' are literals, not names */
		switch (c) {
		case 'x':
		case 'X':
		case 'b':
		case 'B':
			q = lex_quoted(s, n, q, '\'', false);
			t->type = TOK_HEX;
			goto quoted;
		case 'n':
		case 'N':
			q = lex_quoted(s, n, q, '\'', !(lx->flags & CLASSIFY_NO_BACKSLASH_ESC));
			t->type = TOK_NSTRING;
			goto quoted;
		default:
			break;
		}
	}
	t->type = TOK_IDENT;
	t->len = q - p;
	t->kw = kw_find(s + p, q - p, KW_FNV_SLOT(h));
	lx->pos = q;
	return;

quoted:
	if (q == 0) {
		tok_err(lx, t, p, CLASSIFY_SYNTAX);
		return;
	}
	t->len = q - p;
	lx->pos = q;
}

static struct token lex_next(struct lexer *lx)
{
	struct token t;

	if (lx->has_peek) {
		lx->has_peek = false;
		return lx->peek;
	}
	lex_raw(lx, &t);
	return t;
}

static const struct token *lex_peek(struct lexer *lx)
{
	if (!lx->has_peek) {
		lex_raw(lx, &lx->peek);
		lx->has_peek = true;
	}
	return &lx->peek;
}

static inline bool is_kw(const struct token *t, enum kw_id id)
{
	return t->type == TOK_IDENT && t->kw && t->kw->id == id;
}

static inline bool is_punct(const struct token *t, unsigned char c, size_t len)
{
	return t->type == TOK_PUNCT && t->c == c && t->len == len;
}

static inline size_t tok_end(const struct token *t)
{
	return t->off + t->len;
}

/* Reasons carried by the token type alone. */
static enum classify_reason tok_reason(const struct token *t)
{
	switch (t->type) {
	case TOK_ERR:
		return t->err;
	case TOK_SEMI:
		return CLASSIFY_MULTI_STATEMENT;
	case TOK_PARAM:
		return CLASSIFY_PLACEHOLDER;
	case TOK_VAR:
		return CLASSIFY_VARIABLE;
	case TOK_NSTRING:
		return CLASSIFY_COLLATE;
	default:
		return CLASSIFY_OK;
	}
}

/* tok_reason(), or <dflt> when the token type alone is harmless. */
static enum classify_reason tok_reason_or(const struct token *t, enum classify_reason dflt)
{
	enum classify_reason r = tok_reason(t);

	return r != CLASSIFY_OK ? r : dflt;
}

/*
 * Why the word <t> (TOK_IDENT or TOK_QIDENT) at paren depth <depth> makes
 * the statement unbatchable, or CLASSIFY_OK. Peeks one token to tell a call
 * or a charset introducer from a column name. <after_dot> means the word is
 * a later part of a qualified name, where MySQL takes keywords as names.
 */
static enum classify_reason check_word(struct lexer *lx, const struct token *t, int depth,
				       bool after_dot)
{
	const struct kw *kw = after_dot ? NULL : t->kw;
	const struct token *nx;

	if (after_dot && t->type == TOK_IDENT && t->kw && (t->kw->flags & F_DOTBAN))
		return (enum classify_reason)t->kw->ban;

	if (kw) {
		/* FOR inside parens belongs to SUBSTRING(x FROM 1 FOR 2) */
		if (kw->id == KW_FOR)
			return depth > 0 ? CLASSIFY_OK : CLASSIFY_LOCKING;
		if (kw->ban)
			return (enum classify_reason)kw->ban;
	}
	nx = lex_peek(lx);
	if (is_punct(nx, '(', 1)) {
		/* quoted or qualified names are stored functions or UDFs */
		if (t->type == TOK_QIDENT || after_dot || !kw)
			return CLASSIFY_FUNCTION;
		if (kw->flags & (F_OP | F_FUNC))
			return CLASSIFY_OK;
		if (kw->flags & F_AGG)
			return CLASSIFY_AGGREGATE;
		return CLASSIFY_FUNCTION;
	}
	if (kw && (kw->flags & F_JOINW))
		return CLASSIFY_JOIN;
	if (t->type == TOK_IDENT && !after_dot && lx->s[t->off] == '_') {
		if (nx->type == TOK_STRING || nx->type == TOK_HEX || nx->type == TOK_NSTRING)
			return CLASSIFY_COLLATE;
		if (t->len == 7 && kw_cmp(lx->s + t->off + 1, 6, "BINARY") == 0)
			return CLASSIFY_COLLATE;
	}
	return CLASSIFY_OK;
}

enum scan_mode {
	SCAN_LIST,  /* select list, ends at FROM */
	SCAN_REST,  /* predicates after the key, end at ORDER, LIMIT or the end */
	SCAN_ORDER, /* ORDER BY items, end at LIMIT or the end */
};

/*
 * Scan an expression list up to its terminator at paren depth 0, rejecting
 * anything unsafe to batch. On success sets <span> to the scanned tokens,
 * <term> to the terminator and, if <star> is given, whether the list was a
 * lone '*'. Only lists of one or more tokens are accepted.
 */
static enum classify_reason scan_expr(struct lexer *lx, enum scan_mode mode,
				      struct classify_span *span, struct token *term, bool *star)
{
	struct token t;
	int depth = 0;
	size_t first = 0, end = 0, ntok = 0;
	bool after_dot = false, item_start = true, lone_star = false;
	enum classify_reason r;

	for (;;) {
		t = lex_next(lx);
		if ((r = tok_reason(&t)) != CLASSIFY_OK)
			return r;
		if (t.type == TOK_EOF) {
			if (depth > 0)
				return CLASSIFY_SYNTAX;
			if (mode == SCAN_LIST)
				return CLASSIFY_NO_KEY;
			break;
		}
		if (t.type == TOK_IDENT && t.kw && !after_dot) {
			enum kw_id id = t.kw->id;

			if (depth == 0) {
				if (mode == SCAN_LIST) {
					if (id == KW_FROM)
						break;
					if (id == KW_WHERE || id == KW_ORDER || id == KW_LIMIT)
						return CLASSIFY_NO_KEY;
				} else if (mode == SCAN_REST) {
					if (id == KW_ORDER || id == KW_LIMIT)
						break;
					if (id == KW_OR || id == KW_XOR)
						return CLASSIFY_OR;
				} else if (id == KW_LIMIT) {
					break;
				}
				/* MariaDB's OFFSET n ROWS FETCH ... needs no LIMIT */
				if (id == KW_OFFSET && mode != SCAN_LIST) {
					const struct token *nx = lex_peek(lx);

					if (nx->type == TOK_NUMBER || tok_reason(nx) != CLASSIFY_OK)
						return CLASSIFY_LIMIT;
				}
			}
			if ((t.kw->flags & F_CLAUSE) && !(id == KW_FROM && depth > 0))
				return CLASSIFY_SYNTAX;
		}
		if (t.type == TOK_IDENT || t.type == TOK_QIDENT) {
			if ((r = check_word(lx, &t, depth, after_dot)) != CLASSIFY_OK)
				return r;
		} else if (t.type == TOK_PUNCT) {
			if (t.c == '(') {
				depth++;
			} else if (t.c == ')') {
				if (depth == 0)
					return CLASSIFY_SYNTAX;
				depth--;
			} else if (depth == 0 && mode == SCAN_REST) {
				/* || is OR unless PIPES_AS_CONCAT; assume the worst */
				if (is_punct(&t, '|', 2))
					return CLASSIFY_OR;
				if (is_punct(&t, ',', 1))
					return CLASSIFY_SYNTAX;
			}
		} else if (mode == SCAN_ORDER && depth == 0 && item_start && t.type == TOK_NUMBER &&
			   t.num == 0) {
			/* ORDER BY 2 names a select-list column by position */
			const struct token *nx = lex_peek(lx);

			if (nx->type == TOK_EOF || is_punct(nx, ',', 1) ||
			    (nx->type == TOK_IDENT && nx->kw &&
			     (nx->kw->id == KW_LIMIT || !strcmp(nx->kw->name, "ASC") ||
			      !strcmp(nx->kw->name, "DESC"))))
				return CLASSIFY_ORDER_POSITION;
		}
		item_start = depth == 0 && is_punct(&t, ',', 1);
		lone_star = ntok == 0 && is_punct(&t, '*', 1);
		if (ntok++ == 0)
			first = t.off;
		end = tok_end(&t);
		after_dot = is_punct(&t, '.', 1);
	}
	if (ntok == 0)
		return CLASSIFY_SYNTAX;
	*term = t;
	span->off = first;
	span->len = end - first;
	if (star)
		*star = lone_star && ntok == 1;
	return CLASSIFY_OK;
}

/*
 * Parse a possibly qualified name whose first part <first> was already read,
 * allowing at most <maxparts> parts, and set <span> to all of it.
 */
static enum classify_reason parse_name(struct lexer *lx, const struct token *first, int maxparts,
				       struct classify_span *span, struct token *last)
{
	size_t end = tok_end(first);
	int parts = 1;
	struct token t;

	if (last)
		*last = *first;

	while (is_punct(lex_peek(lx), '.', 1)) {
		lex_next(lx);
		t = lex_next(lx);
		if (t.type != TOK_IDENT && t.type != TOK_QIDENT)
			return tok_reason_or(&t, CLASSIFY_SYNTAX);
		if (++parts > maxparts)
			return CLASSIFY_SYNTAX;
		end = tok_end(&t);
		if (last)
			*last = t;
	}
	span->off = first->off;
	span->len = end - first->off;
	return CLASSIFY_OK;
}

/* A bare word that can name an alias without quotes. */
static bool is_alias_word(const struct token *t)
{
	if (t->type == TOK_QIDENT)
		return true;
	if (t->type != TOK_IDENT)
		return false;
	return !t->kw ||
	       (!(t->kw->flags & (F_RES | F_JOINW)) && !t->kw->ban && t->kw->id != KW_OFFSET);
}

/* FROM <table> [[AS] alias]; leaves the token after it in <next>. */
static enum classify_reason parse_table(struct lexer *lx, struct classify_result *res,
					struct token *next)
{
	struct token t = lex_next(lx);
	enum classify_reason r;

	if (is_punct(&t, '(', 1))
		return CLASSIFY_SUBQUERY;
	if (t.type == TOK_IDENT || t.type == TOK_QIDENT) {
		if ((r = check_word(lx, &t, 0, false)) != CLASSIFY_OK)
			return r;
		if (is_kw(&t, KW_DUAL))
			return CLASSIFY_NO_KEY;
		if (t.type == TOK_IDENT && t.kw && (t.kw->flags & F_RES))
			return CLASSIFY_SYNTAX;
	} else {
		return tok_reason_or(&t, CLASSIFY_SYNTAX);
	}
	if ((r = parse_name(lx, &t, 2, &res->table, NULL)) != CLASSIFY_OK)
		return r;
	t = lex_next(lx);
	if (is_kw(&t, KW_AS)) {
		t = lex_next(lx);
		if (!is_alias_word(&t))
			return tok_reason_or(&t, CLASSIFY_SYNTAX);
	}
	if (is_alias_word(&t)) {
		res->alias.off = t.off;
		res->alias.len = t.len;
		t = lex_next(lx);
	}
	*next = t;
	return CLASSIFY_OK;
}

/* What follows the table when it is not WHERE. */
static enum classify_reason after_table(struct lexer *lx, const struct token *t)
{
	enum classify_reason r;

	if (is_punct(t, ',', 1))
		return CLASSIFY_JOIN;
	if ((r = tok_reason(t)) != CLASSIFY_OK)
		return r;
	if (t->type == TOK_EOF)
		return CLASSIFY_NO_KEY;
	if (t->type == TOK_IDENT && t->kw) {
		if (t->kw->flags & F_JOINW)
			return CLASSIFY_JOIN;
		if (t->kw->id == KW_ORDER || t->kw->id == KW_LIMIT)
			return CLASSIFY_NO_KEY;
		/* index hints and PARTITION (...) are not worth understanding */
		if (t->kw->flags & F_CLAUSE)
			return CLASSIFY_SYNTAX;
		if ((r = check_word(lx, t, 0, false)) != CLASSIFY_OK)
			return r;
	}
	return CLASSIFY_SYNTAX;
}

/* <col> = <literal>, the first predicate after WHERE. */
static enum classify_reason parse_key(struct lexer *lx, struct classify_result *res,
				      struct token *col)
{
	struct token t = lex_next(lx);
	const struct token *p;
	enum classify_reason r;

	if (t.type != TOK_IDENT && t.type != TOK_QIDENT)
		return tok_reason_or(&t, CLASSIFY_NO_KEY);
	if ((r = check_word(lx, &t, 0, false)) != CLASSIFY_OK)
		return r;
	/* NOT, CASE, BINARY, ... or a whitelisted call: not a plain column */
	if (t.type == TOK_IDENT && t.kw && (t.kw->flags & F_RES))
		return CLASSIFY_NO_KEY;
	if (is_punct(lex_peek(lx), '(', 1))
		return CLASSIFY_NO_KEY;
	if ((r = parse_name(lx, &t, 3, &res->key_col, col)) != CLASSIFY_OK)
		return r;
	if (is_punct(lex_peek(lx), '(', 1))
		return CLASSIFY_FUNCTION;

	t = lex_next(lx);
	if (!is_punct(&t, '=', 1)) {
		if ((r = tok_reason(&t)) != CLASSIFY_OK)
			return r;
		if (t.type == TOK_IDENT && (r = check_word(lx, &t, 0, false)) != CLASSIFY_OK)
			return r;
		return CLASSIFY_NO_KEY;
	}

	t = lex_next(lx);
	switch (t.type) {
	case TOK_STRING:
		res->key_type = CLASSIFY_KEY_STRING;
		res->key.off = t.off;
		res->key.len = t.len;
		/* 'a' 'b' is one string to the server: keep the batch simple */
		p = lex_peek(lx);
		if (p->type == TOK_STRING)
			return CLASSIFY_KEY_TYPE;
		return CLASSIFY_OK;
	case TOK_NUMBER:
		res->key.off = t.off;
		break;
	case TOK_PUNCT:
		if (is_punct(&t, '-', 1) || is_punct(&t, '+', 1)) {
			/* only a sign glued to the number: "- 5" stays an expression */
			p = lex_peek(lx);
			if (p->type != TOK_NUMBER || p->off != tok_end(&t))
				return tok_reason_or(p, CLASSIFY_NO_KEY);
			res->key.off = t.off;
			t = lex_next(lx);
			break;
		}
		if (is_punct(&t, '(', 1)) {
			p = lex_peek(lx);
			if (is_kw(p, KW_SELECT) || is_kw(p, KW_WITH))
				return CLASSIFY_SUBQUERY;
		}
		return CLASSIFY_NO_KEY;
	case TOK_HEX:
		return CLASSIFY_KEY_TYPE;
	case TOK_IDENT:
	case TOK_QIDENT:
		if ((r = check_word(lx, &t, 0, false)) != CLASSIFY_OK)
			return r;
		if (is_kw(&t, KW_NULL) || is_kw(&t, KW_TRUE) || is_kw(&t, KW_FALSE))
			return CLASSIFY_KEY_TYPE;
		return CLASSIFY_NO_KEY;
	case TOK_EOF:
		return CLASSIFY_SYNTAX;
	default:
		return tok_reason_or(&t, CLASSIFY_SYNTAX);
	}
	/* a number: integers and plain decimals compare exactly, floats do not */
	if (t.num & NUM_EXP)
		return CLASSIFY_KEY_TYPE;
	if (t.num & NUM_DOT) {
		if (!(t.num & NUM_FRAC))
			return CLASSIFY_KEY_TYPE;
		res->key_type = CLASSIFY_KEY_DECIMAL;
	} else {
		res->key_type = CLASSIFY_KEY_INT;
	}
	res->key.len = tok_end(&t) - res->key.off;
	return CLASSIFY_OK;
}

/* LIMIT <n> and whatever may follow it. Sets <term> to the token after. */
static enum classify_reason parse_limit(struct lexer *lx, struct classify_result *res,
					struct token *term)
{
	struct token t = lex_next(lx);
	unsigned long long v = 0;
	enum classify_reason r;
	size_t i;

	if (t.type != TOK_NUMBER || t.num)
		return tok_reason_or(&t, CLASSIFY_LIMIT);
	for (i = t.off; i < tok_end(&t); i++) {
		v = v * 10 + (unsigned)(lx->s[i] - '0');
		if (v > (unsigned long long)LLONG_MAX)
			return CLASSIFY_LIMIT;
	}
	res->limit = (long long)v;
	t = lex_next(lx);
	if (t.type == TOK_EOF) {
		*term = t;
		return CLASSIFY_OK;
	}
	if (is_punct(&t, ',', 1) || is_kw(&t, KW_OFFSET) || is_kw(&t, KW_ROWS))
		return CLASSIFY_LIMIT;
	if ((r = tok_reason(&t)) != CLASSIFY_OK)
		return r;
	if (t.type == TOK_IDENT && (r = check_word(lx, &t, 0, false)) != CLASSIFY_OK)
		return r;
	return CLASSIFY_SYNTAX;
}

/* Does "__ib_" appear in <s>, in any case?  The keys join names its own
 * columns so (batch_keys_sql): a lookup whose ORDER BY names __ib_c
 * would sort by the join's alias, not its table's column.  "__" and a
 * byte >= 0x80 count too: the server folds names beyond ASCII (U+0130,
 * the dotted capital I, to i). */
static bool has_reserved(const unsigned char *s, size_t n)
{
	const unsigned char *u = s, *end = s + n;
	size_t i;

	/* memchr finds the few '_' of a statement (every lookup's) */
	while (end - u > 2 && (u = memchr(u, '_', (size_t)(end - u - 2))) != NULL) {
		i = (size_t)(u - s);
		u++;
		if (s[i + 1] != '_')
			continue;
		if (s[i + 2] >= 0x80)
			return true;
		if (i + 5 <= n && to_upper(s[i + 2]) == 'I' &&
		    to_upper(s[i + 3]) == 'B' && s[i + 4] == '_')
			return true;
	}
	return false;
}

/*
 * Could name tokens <a> and <b> of <s> name the same column?  Without
 * case; a name with a byte >= 0x80 or a quote inside it may, whatever it
 * is (the server folds case beyond ASCII).
 */
static bool same_name(const unsigned char *s, const struct token *a,
		      const struct token *b)
{
	const unsigned char *p[2] = { s + a->off, s + b->off };
	size_t n[2] = { a->len, b->len }, i, k;

	for (k = 0; k < 2; k++) {
		const struct token *t = k ? b : a;

		if (t->type == TOK_QIDENT) {
			p[k]++;
			n[k] -= 2;
		}
		for (i = 0; i < n[k]; i++)
			if (p[k][i] >= 0x80 || p[k][i] == '`' || p[k][i] == '"')
				return true;
	}
	return n[0] == n[1] && strncasecmp((const char *)p[0],
					   (const char *)p[1], n[0]) == 0;
}

/* Is name token <t> of <s> _rowid, quoted or not, in any case? */
static bool is_rowid(const unsigned char *s, const struct token *t)
{
	size_t q = t->type == TOK_QIDENT;

	return t->len == 6 + 2 * q &&
	       strncasecmp((const char *)s + t->off + q, "_rowid", 6) == 0;
}

/*
 * Does the rest of the where clause name key column <col>?  The server
 * puts the key in its place while it optimises, so that k = 4 AND
 * 1 / (k - 4) > 0 warns without a row; no coalesced query does that.
 * _rowid may name it too (a single-column integer primary key).
 */
static bool rest_names_key(const struct lexer *outer,
			   const struct classify_result *res,
			   const struct token *col)
{
	struct lexer lx = *outer;
	struct token t;

	lx.pos = res->where_rest.off;
	lx.len = res->where_rest.off + res->where_rest.len;
	lx.has_peek = false;
	for (t = lex_next(&lx); t.type != TOK_EOF && t.type != TOK_ERR;
	     t = lex_next(&lx))
		if ((t.type == TOK_IDENT || t.type == TOK_QIDENT) &&
		    (same_name(lx.s, &t, col) || is_rowid(lx.s, &t)))
			return true;
	return t.type == TOK_ERR;
}

static enum classify_reason classify(const char *sql, size_t len, unsigned flags,
				     struct classify_result *res)
{
	struct lexer lx;
	struct token t, col;
	enum classify_reason r;

	if (len > CLASSIFY_MAX_LEN)
		return CLASSIFY_TOO_LONG;
	lx.s = (const unsigned char *)sql;
	lx.len = len;
	lx.pos = 0;
	lx.flags = flags;
	lx.has_peek = false;

	/* the fast path: most statements are told apart by their first word */
	t = lex_next(&lx);
	if ((r = tok_reason(&t)) != CLASSIFY_OK)
		return r;
	if (is_punct(&t, '(', 1) || is_kw(&t, KW_WITH))
		return CLASSIFY_SUBQUERY;
	if (!is_kw(&t, KW_SELECT))
		return CLASSIFY_NOT_SELECT;
	if (has_reserved(lx.s, len))
		return CLASSIFY_RESERVED_NAME;

	memset(res, 0, sizeof(*res));
	res->limit = -1;
	while (is_kw(lex_peek(&lx), KW_SQL_NO_CACHE))
		lex_next(&lx);
	if (is_kw(lex_peek(&lx), KW_ALL))
		return CLASSIFY_MODIFIER;
	if ((r = scan_expr(&lx, SCAN_LIST, &res->select_list, &t, &res->select_star)) !=
	    CLASSIFY_OK)
		return r;
	if ((r = parse_table(&lx, res, &t)) != CLASSIFY_OK)
		return r;
	if (!is_kw(&t, KW_WHERE))
		return after_table(&lx, &t);
	if ((r = parse_key(&lx, res, &col)) != CLASSIFY_OK)
		return r;

	t = lex_next(&lx);
	if (is_kw(&t, KW_AND) || is_punct(&t, '&', 2)) {
		if ((r = scan_expr(&lx, SCAN_REST, &res->where_rest, &t, NULL)) != CLASSIFY_OK)
			return r;
		if (rest_names_key(&lx, res, &col))
			return CLASSIFY_KEY_IN_REST;
	} else if (is_kw(&t, KW_OR) || is_kw(&t, KW_XOR) || is_punct(&t, '|', 2)) {
		return CLASSIFY_OR;
	}
	if (is_kw(&t, KW_ORDER)) {
		t = lex_next(&lx);
		if (!is_kw(&t, KW_BY))
			return tok_reason_or(&t, CLASSIFY_SYNTAX);
		if ((r = scan_expr(&lx, SCAN_ORDER, &res->order_by, &t, NULL)) != CLASSIFY_OK)
			return r;
	}
	if (is_kw(&t, KW_LIMIT) && (r = parse_limit(&lx, res, &t)) != CLASSIFY_OK)
		return r;
	if (t.type == TOK_EOF)
		return CLASSIFY_OK;

	/* the key is followed by something that is not AND/ORDER/LIMIT */
	if ((r = tok_reason(&t)) != CLASSIFY_OK)
		return r;
	if ((t.type == TOK_IDENT || t.type == TOK_QIDENT) &&
	    (r = check_word(&lx, &t, 0, false)) != CLASSIFY_OK)
		return r;
	return CLASSIFY_NO_KEY;
}

/*
 * The memo: the lookups of a burst differ only in their key, so the last
 * few accepted statements are kept, and a statement that is one of them
 * with another key is not lexed again.  It must be byte for byte the same
 * before and after the key, and its key a literal of the same form that
 * ends where the old one did: a string with no quote or backslash inside,
 * or digits with the same sign.  The lexer reads the same bytes around
 * it, so the recogniser meets the same tokens and decides the same; only
 * "__ib_" (has_reserved) looks inside strings, and is checked in the key.
 * Decimals are not kept.  One thread (the event loop's) classifies.
 */
#define MEMO_SLOTS 8
#define MEMO_MAX_LEN 1024 /* longer statements are lexed every time */

struct memo {
	size_t len; /* 0: empty */
	unsigned flags;
	struct classify_result res;
	unsigned char text[MEMO_MAX_LEN];
};

static struct memo memo_slots[MEMO_SLOTS];
static unsigned memo_next;
static unsigned long memo_hits;

unsigned long classify_memo_hits(void)
{
	return memo_hits;
}

void classify_memo_reset(void)
{
	unsigned i;

	for (i = 0; i < MEMO_SLOTS; i++)
		memo_slots[i].len = 0;
	memo_next = 0;
}

/* Is <k>[<n>] a key of the form of memo <m>'s (see above)? */
static bool memo_key_fits(const struct memo *m, const unsigned char *k, size_t n)
{
	const unsigned char *old = m->text + m->res.key.off;
	size_t i = 0;

	if (m->res.key_type == CLASSIFY_KEY_STRING) {
		if (n < 2 || k[0] != old[0] || k[n - 1] != old[0])
			return false;
		for (i = 1; i + 1 < n; i++)
			if (k[i] == old[0] || k[i] == '\\')
				return false;
		return !has_reserved(k, n);
	}
	if (old[0] == '-' || old[0] == '+') {
		if (k[0] != old[0])
			return false;
		i = 1;
	}
	if (i >= n)
		return false;
	for (; i < n; i++)
		if (!is_digit(k[i]))
			return false;
	return true;
}

/*
 * The memo slot whose statement <sql> is but for its key; -1 if none.
 * *<same> is set to a slot with the same text around the key whatever
 * the key (one to overwrite), or -1.
 */
static int memo_find(const unsigned char *sql, size_t len, unsigned flags, int *same)
{
	unsigned i;

	*same = -1;
	for (i = 0; i < MEMO_SLOTS; i++) {
		const struct memo *m = &memo_slots[i];
		size_t pre = m->res.key.off, end = pre + m->res.key.len,
		       post = m->len - end;

		if (!m->len || m->flags != flags || len < pre + post + 1 ||
		    memcmp(sql, m->text, pre) != 0 ||
		    memcmp(sql + len - post, m->text + end, post) != 0)
			continue;
		*same = (int)i;
		if (memo_key_fits(m, sql + pre, len - pre - post))
			return (int)i;
	}
	return -1;
}

/* A span after the key moves with the key's end. */
static void memo_shift(struct classify_span *sp, size_t end, size_t new_end)
{
	if (sp->len && sp->off >= end)
		sp->off = sp->off - end + new_end;
}

static void memo_answer(const struct memo *m, size_t len, struct classify_result *res)
{
	size_t end = m->res.key.off + m->res.key.len,
	       new_end = len - (m->len - end);

	*res = m->res;
	res->key.len = new_end - res->key.off;
	memo_shift(&res->where_rest, end, new_end);
	memo_shift(&res->order_by, end, new_end);
}

/* Keep accepted statement <sql> in slot <slot>, or in the next one. */
static void memo_keep(const char *sql, size_t len, unsigned flags,
		      const struct classify_result *res, int slot)
{
	const struct classify_span *before[] = { &res->select_list, &res->table,
						 &res->alias, &res->key_col };
	size_t end = res->key.off + res->key.len, i;
	struct memo *m;

	if (len > MEMO_MAX_LEN || (res->key_type != CLASSIFY_KEY_STRING &&
				   res->key_type != CLASSIFY_KEY_INT))
		return;
	/* memo_answer moves only what follows the key */
	for (i = 0; i < sizeof(before) / sizeof(before[0]); i++)
		if (before[i]->off + before[i]->len > res->key.off)
			return;
	if ((res->where_rest.len && res->where_rest.off < end) ||
	    (res->order_by.len && res->order_by.off < end))
		return;
	if (slot < 0) {
		slot = (int)memo_next;
		memo_next = (memo_next + 1) % MEMO_SLOTS;
	}
	m = &memo_slots[slot];
	memcpy(m->text, sql, len);
	m->len = len;
	m->flags = flags;
	m->res = *res;
}

bool classify_query(const char *sql, size_t len, unsigned flags, struct classify_result *res)
{
	int hit, same;

	if (len > CLASSIFY_MAX_LEN) {
		res->reason = CLASSIFY_TOO_LONG;
		return false;
	}
	hit = memo_find((const unsigned char *)sql, len, flags, &same);
	if (hit >= 0) {
		memo_hits++;
		memo_answer(&memo_slots[hit], len, res);
		return true;
	}
	res->reason = classify(sql, len, flags, res);
	if (res->reason != CLASSIFY_OK)
		return false;
	memo_keep(sql, len, flags, res, same);
	return true;
}

/* The byte a backslash escape stands for, as the server's lexer reads it;
 * -1 for \% and \_, which keep their backslash (they matter to LIKE). */
static int unescape(unsigned char e)
{
	switch (e) {
	case '0':
		return '\0';
	case 'b':
		return '\b';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'Z':
		return '\032';
	case '%':
	case '_':
		return -1;
	default:
		return e;
	}
}

bool classify_key_value(const char *lit, size_t lit_len, unsigned flags, char *out, size_t out_cap,
			size_t *out_len)
{
	const unsigned char *s = (const unsigned char *)lit;
	bool esc = !(flags & CLASSIFY_NO_BACKSLASH_ESC);
	size_t i, o = 0, end;
	unsigned char q;

	*out_len = 0;
	if (lit_len == 0 || (s[0] != '\'' && s[0] != '"')) {
		if (lit_len > out_cap)
			return false;
		if (lit_len)
			memcpy(out, lit, lit_len);
		*out_len = lit_len;
		return true;
	}
	q = s[0];
	if (lit_len < 2 || s[lit_len - 1] != q)
		return false;
	end = lit_len - 1;
	for (i = 1; i < end; i++) {
		int c = s[i];

		if (c == '\\' && esc && i + 1 < end) {
			c = unescape(s[++i]);
			if (c < 0) {
				if (o >= out_cap)
					return false;
				out[o++] = '\\';
				c = s[i];
			}
		} else if (c == q && i + 1 < end && s[i + 1] == q) {
			i++;
		}
		if (o >= out_cap)
			return false;
		out[o++] = (char)c;
	}
	*out_len = o;
	return true;
}

/*
 * Statement kinds.  A word scanner, not the recogniser: it skips strings,
 * quoted names and plain comments, reads executable comments as code, and
 * looks at the first words of each statement ("SET STATEMENT ... FOR x"
 * is the kind of x).  Tracker names are looked for anywhere but in one
 * plain DML statement (stmt_plain_dml), which can only make a session be
 * treated more carefully.
 */
struct stmt_scan {
	const unsigned char *s;
	size_t n, p;
};

/* Next word (letters, digits, '_') of the current statement; 0 at ';' or
 * the end.  Punctuation other than ';' is skipped. */
static size_t stmt_word(struct stmt_scan *sc, size_t *off)
{
	const unsigned char *s = sc->s;
	size_t n = sc->n, p = sc->p, q;

	while (p < n) {
		unsigned char c = s[p], k = char_class[c];

		if (!(k & (CH_START | CH_LOOK))) {
			p++;
			continue;
		}
		if (k & CH_START) {
			for (q = p + 1; q < n && (char_class[s[q]] & CH_NAME); q++)
				;
			*off = p;
			sc->p = q;
			return q - p;
		}
		if (c == ';') {
			sc->p = p;
			return 0;
		}
		if (c == '\'' || c == '"' || c == '`') {
			q = lex_quoted(s, n, p, c, c != '`');
			p = q ? q : n;
		} else if (c == '#' || (c == '-' && p + 2 < n && s[p + 1] == '-' && s[p + 2] <= ' ')) {
			while (p < n && s[p] != '\n')
				p++;
		} else if (c == '/' && p + 1 < n && s[p + 1] == '*') {
			if (p + 2 < n && (s[p + 2] == '!' || s[p + 2] == 'M' || s[p + 2] == 'm')) {
				/* executable: its body is code; skip the marker
				 * and a version number */
				p += 2;
				while (p < n && (s[p] == '!' || s[p] == 'M' || s[p] == 'm'))
					p++;
				while (p < n && is_digit(s[p]))
					p++;
				continue;
			}
			for (q = p + 2; q + 1 < n && !(s[q] == '*' && s[q + 1] == '/'); q++)
				;
			p = q + 2 <= n ? q + 2 : n;
		} else {
			p++;
		}
	}
	sc->p = n;
	return 0;
}

/* A keyword and its length, so that words of another length, most of
 * them, are told apart without reading them. */
struct stmt_kw {
	const char *name;
	size_t len;
};
#define STMT_KW(w) { w, sizeof(w) - 1 }

static bool stmt_is_kw(const struct stmt_scan *sc, size_t off, size_t len, const struct stmt_kw *kw)
{
	return len == kw->len && kw_cmp(sc->s + off, len, kw->name) == 0;
}

/* The word at <off> of <len> bytes is keyword <w> (a string literal). */
#define STMT_IS(sc, off, len, w) ((len) == sizeof(w) - 1 && kw_cmp((sc)->s + (off), (len), (w)) == 0)

/* Is the word one of <kws> (ended by a NULL name)? */
static bool stmt_is_any(const struct stmt_scan *sc, size_t off, size_t len, const struct stmt_kw *kws)
{
	for (; kws->name; kws++)
		if (stmt_is_kw(sc, off, len, kws))
			return true;
	return false;
}

/* Kind of the statement starting at sc->p; leaves sc->p at its end. */
static unsigned stmt_one(struct stmt_scan *sc)
{
	/* first words of statements whose effect on the session the
	 * trackers may not describe, or describe only in part: compound
	 * blocks and routines can do several things in one statement */
	static const struct stmt_kw hidden[] = {
		STMT_KW("LOCK"),    STMT_KW("UNLOCK"),	   STMT_KW("HANDLER"), STMT_KW("CALL"),
		STMT_KW("PREPARE"), STMT_KW("EXECUTE"),	   STMT_KW("DEALLOCATE"),
		STMT_KW("DECLARE"), STMT_KW("IF"),	   STMT_KW("CASE"),    STMT_KW("LOOP"),
		STMT_KW("REPEAT"),  STMT_KW("WHILE"),	   STMT_KW("FOR"),     { NULL, 0 }
	};
	static const struct stmt_kw ddl[] = { STMT_KW("CREATE"), STMT_KW("ALTER"), STMT_KW("DROP"),
					      STMT_KW("RENAME"), STMT_KW("TRUNCATE"), { NULL, 0 } };
	/* words that mark a statement anywhere in it */
	static const struct stmt_kw body_hidden[] = {
		STMT_KW("TEMPORARY"), STMT_KW("SESSION_TRACK_STATE_CHANGE"),
		STMT_KW("SESSION_TRACK_SYSTEM_VARIABLES"), STMT_KW("SESSION_TRACK_SCHEMA"),
		STMT_KW("SESSION_TRACK_TRANSACTION_INFO"), { NULL, 0 }
	};
	size_t off, len, first_off = 0, first_len;
	unsigned kind = 0;

	first_len = stmt_word(sc, &first_off);
	if (first_len == 0)
		return 0;
	/* SET STATEMENT v=x[, ...] FOR <statement> */
	if (STMT_IS(sc, first_off, first_len, "SET")) {
		size_t save = sc->p;

		len = stmt_word(sc, &off);
		if (len && STMT_IS(sc, off, len, "STATEMENT")) {
			while ((len = stmt_word(sc, &off)) != 0 && !STMT_IS(sc, off, len, "FOR"))
				;
			if (len)
				return stmt_one(sc);
			return 0;
		}
		if (len && STMT_IS(sc, off, len, "ROLE"))
			kind |= STMT_HIDDEN;
		sc->p = save;
	}
	if (stmt_is_any(sc, first_off, first_len, hidden))
		kind |= STMT_HIDDEN;
	/* BEGIN starts a transaction; BEGIN NOT ATOMIC a compound block */
	if (STMT_IS(sc, first_off, first_len, "BEGIN")) {
		size_t save = sc->p;

		len = stmt_word(sc, &off);
		if (len && STMT_IS(sc, off, len, "NOT"))
			kind |= STMT_HIDDEN;
		sc->p = save;
	}
	if (stmt_is_any(sc, first_off, first_len, ddl))
		kind |= STMT_DDL;
	while ((len = stmt_word(sc, &off)) != 0)
		if (stmt_is_any(sc, off, len, body_hidden))
			kind |= STMT_HIDDEN;
	return kind;
}

/*
 * Most relayed statements are one plain DML statement: its first word
 * says it changes no session state the trackers would not describe, and
 * without a ';' (in a string, a comment or not) there is no second one.
 * Its other words are not read: TEMPORARY or a tracker's name there
 * (a column, a read of @@session_track_schema) changes nothing.
 */
static bool stmt_plain_dml(const unsigned char *s, size_t n)
{
	static const struct stmt_kw dml[] = { STMT_KW("SELECT"), STMT_KW("INSERT"),
					      STMT_KW("UPDATE"), STMT_KW("DELETE"),
					      STMT_KW("REPLACE"), { NULL, 0 } };
	struct stmt_scan sc = { s, n, 0 };
	size_t w;

	for (w = 0; w < n && (char_class[s[w]] & CH_NAME); w++)
		;
	if (w == 0 || (w < n && (char_class[s[w]] & CH_HIGH)) ||
	    !stmt_is_any(&sc, 0, w, dml))
		return false;
	return memchr(s + w, ';', n - w) == NULL;
}

unsigned classify_stmt_kind(const char *sql, size_t len)
{
	struct stmt_scan sc = { (const unsigned char *)sql, len, 0 };
	unsigned kind = 0;

	if (stmt_plain_dml(sc.s, len))
		return 0;

	while (sc.p < sc.n) {
		size_t off, save = sc.p;

		/* a statement is one with at least one word */
		if (stmt_word(&sc, &off) != 0) {
			sc.p = save;
			kind |= stmt_one(&sc);
		}
		/* stmt_one stops at ';' or the end; "SET STATEMENT" without
		 * FOR stops early, so finish the statement word by word */
		while (sc.p < sc.n && sc.s[sc.p] != ';')
			if (stmt_word(&sc, &off) == 0 && sc.p < sc.n && sc.s[sc.p] != ';')
				sc.p++;
		if (sc.p < sc.n)
			sc.p++; /* the ';' */
	}
	return kind;
}

/* One part of a dotted name: `x` (`` inside), "x" under ANSI_QUOTES, or a
 * bare word.  Returns the offset after it, 0 on error. */
static size_t split_part(const unsigned char *s, size_t n, size_t p, unsigned flags, char *out,
			 size_t *out_len, size_t cap)
{
	size_t o = 0;

	if (p < n && (s[p] == '`' || (s[p] == '"' && (flags & CLASSIFY_ANSI_QUOTES)))) {
		unsigned char q = s[p++];

		for (; p < n; p++) {
			if (s[p] == q) {
				if (p + 1 < n && s[p + 1] == q) {
					p++;
				} else {
					*out_len = o;
					return o ? p + 1 : 0;
				}
			}
			if (o >= cap)
				return 0;
			out[o++] = (char)s[p];
		}
		return 0;
	}
	for (; p < n && is_ident_char(s[p]); p++) {
		if (o >= cap)
			return 0;
		out[o++] = (char)s[p];
	}
	*out_len = o;
	return o ? p : 0;
}

bool classify_split_table(const char *t, size_t len, unsigned flags, char *schema, size_t *schema_len,
			  char *name, size_t *name_len, size_t cap)
{
	const unsigned char *s = (const unsigned char *)t;
	size_t p;

	*schema_len = 0;
	p = split_part(s, len, 0, flags, name, name_len, cap);
	if (p == 0)
		return false;
	while (p < len && is_space(s[p]))
		p++;
	if (p == len)
		return true;
	if (s[p] != '.')
		return false;
	p++;
	while (p < len && is_space(s[p]))
		p++;
	memcpy(schema, name, *name_len);
	*schema_len = *name_len;
	p = split_part(s, len, p, flags, name, name_len, cap);
	return p == len;
}

/* One part of an ORDER BY name at <p> into <out>[*<n>]: the offset after
 * it, 0 when it is none or a constant (a number, NULL, TRUE,
 * CURRENT_DATE). */
static size_t order_part(const unsigned char *u, size_t len, size_t p, char *out,
			 size_t *n)
{
	const struct kw *k;
	size_t q = split_part(u, len, p, 0, out, n, CLASSIFY_NAME_MAX);

	if (q == 0 || memchr(out, 0, *n))
		return 0;
	if (u[p] != '`' &&
	    (is_digit(u[p]) || ((k = kw_lookup(u + p, *n)) && (k->flags & F_RES))))
		return 0;
	return q;
}

bool classify_order_cols(const char *s, size_t len,
			 struct classify_order_item *items, unsigned *n)
{
	const unsigned char *u = (const unsigned char *)s;
	struct classify_order_item *it;
	size_t p = 0, w;

	*n = 0;
	for (;;) {
		while (p < len && is_space(u[p]))
			p++;
		if (p == len || *n == CLASSIFY_ORDER_MAX)
			return false;
		/* [qualifier.]column */
		it = &items[*n];
		it->qual_len = 0;
		p = order_part(u, len, p, it->col, &it->col_len);
		if (p && p < len && u[p] == '.') {
			memcpy(it->qual, it->col, it->col_len);
			it->qual_len = it->col_len;
			p = order_part(u, len, p + 1, it->col, &it->col_len);
		}
		if (!p)
			return false;
		/* all digits, even quoted: taken for a position */
		for (w = 0; w < it->col_len && is_digit((unsigned char)it->col[w]); w++)
			;
		if (w == it->col_len && it->qual_len == 0)
			return false;
		(*n)++;
		while (p < len && is_space(u[p]))
			p++;
		if (p + 3 <= len && strncasecmp(s + p, "ASC", 3) == 0 &&
		    (p + 3 == len || !is_ident_char(u[p + 3])))
			p += 3;
		else if (p + 4 <= len && strncasecmp(s + p, "DESC", 4) == 0 &&
			 (p + 4 == len || !is_ident_char(u[p + 4])))
			p += 4;
		while (p < len && is_space(u[p]))
			p++;
		if (p == len)
			return true;
		if (u[p] != ',')
			return false;
		p++;
	}
}

/* --- SET statements of listed variables only (classify_set_only) --- */

static void set_space(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t' || **p == '\n' ||
			    **p == '\r'))
		(*p)++;
}

static bool set_wordch(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* A word ([A-Za-z0-9_]+) at *p, after blanks; its length, 0 for none. */
static size_t set_word(const char **p, const char *end, const char **w)
{
	set_space(p, end);
	*w = *p;
	while (*p < end && set_wordch(**p))
		(*p)++;
	return (size_t)(*p - *w);
}

static bool set_is(const char *w, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(w, word, n) == 0;
}

/* Digits at *p: how many. */
static size_t set_digits(const char **p, const char *end)
{
	const char *q = *p;

	while (*p < end && is_digit((unsigned char)**p))
		(*p)++;
	return (size_t)(*p - q);
}

/* A value: [+-]digits[.digits][e[+-]digits], a word that starts with a
 * letter or '_' (no dots: a.b is an expression, a sequence's NEXTVAL under
 * sql_mode=ORACLE), or a '' string of printable ASCII but ' and \. */
static bool set_value(const char **p, const char *end)
{
	const char *w;

	set_space(p, end);
	if (*p == end)
		return false;
	if (**p == '\'') {
		for ((*p)++; *p < end && **p >= 0x20 && **p <= 0x7e &&
			     **p != '\'' && **p != '\\';
		     (*p)++)
			;
		if (*p == end || **p != '\'')
			return false;
		(*p)++;
		return true;
	}
	if (**p == '+' || **p == '-' || is_digit((unsigned char)**p)) {
		if (!is_digit((unsigned char)**p))
			(*p)++;
		if (!set_digits(p, end))
			return false;
		if (*p < end && **p == '.' && (++*p, !set_digits(p, end)))
			return false;
		if (*p < end && (**p == 'e' || **p == 'E')) {
			(*p)++;
			if (*p < end && (**p == '+' || **p == '-'))
				(*p)++;
			if (!set_digits(p, end))
				return false;
		}
		return *p == end || !set_wordch(**p);
	}
	return !is_digit((unsigned char)**p) && set_word(p, end, &w) > 0;
}

/* One assignment of SET: [SESSION|LOCAL] <var> = <value>, or NAMES. */
static bool set_assignment(const char **p, const char *end,
			   const char *const *vars)
{
	const char *w;
	size_t n = set_word(p, end, &w);
	unsigned i;

	if (set_is(w, n, "SESSION") || set_is(w, n, "LOCAL"))
		n = set_word(p, end, &w);
	if (set_is(w, n, "NAMES")) {
		if (!set_value(p, end))
			return false;
		n = set_word(p, end, &w);
		return !n || (set_is(w, n, "COLLATE") && set_value(p, end));
	}
	for (i = 0; vars[i] && !set_is(w, n, vars[i]); i++)
		;
	if (!n || !vars[i])
		return false;
	set_space(p, end);
	if (*p == end || **p != '=')
		return false;
	(*p)++;
	return set_value(p, end);
}

bool classify_set_only(const char *sql, size_t len, const char *const *vars)
{
	const char *p = sql, *end = sql + len, *w;
	size_t n;

	for (;;) {
		set_space(&p, end);
		if (p == end)
			return true;
		if (*p == ';') {
			p++;
			continue;
		}
		n = set_word(&p, end, &w);
		if (!set_is(w, n, "SET"))
			return false;
		for (;;) {
			if (!set_assignment(&p, end, vars))
				return false;
			set_space(&p, end);
			if (p == end || *p != ',')
				break;
			p++;
		}
		if (p < end && *p != ';')
			return false;
	}
}
