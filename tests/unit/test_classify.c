/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * test_classify.c: drives the classifier over tests/unit/classify.eval and
 * checks every span of accepted lookups, the key decoder and bounds safety. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "tap.h"

#define LINE_MAX_LEN 4096
#define MAX_FIELDS   16

/*
 * classify.eval format, one case per line, fields separated by TABs:
 *   flags  expected  sql  [name=value ...]
 * flags is "-" or a comma list of "ansi", "nobs" and "ascii"; expected is a reason
 * name from classify_reason_str(). For "ok" lines the name=value fields give
 * the expected parts; unlisted ones must be absent (alias, rest, order, star)
 * or -1 (limit). In sql and values \n, \t, \r and \\ are escapes; any other
 * backslash is literal, so 'o\'brien' is written as is.
 */

struct field {
	const char *name;
	char *value;
};

/* Resolve the file's escapes in place. */
static void unescape_field(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1]) {
			char e = s[1];

			if (e == 'n' || e == 't' || e == 'r' || e == '\\') {
				*o++ = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : '\\';
				s++;
				continue;
			}
		}
		*o++ = *s;
	}
	*o = '\0';
}

static const char *field_get(struct field *f, int nf, const char *name)
{
	int i;

	for (i = 0; i < nf; i++)
		if (!strcmp(f[i].name, name))
			return f[i].value;
	return NULL;
}

static bool span_is(const char *sql, size_t len, struct classify_span sp, const char *want)
{
	if (sp.off > len || sp.len > len - sp.off)
		return false;
	return strlen(want) == sp.len && memcmp(sql + sp.off, want, sp.len) == 0;
}

static bool span_ok(size_t len, struct classify_span sp)
{
	return sp.off <= len && sp.len <= len - sp.off;
}

static bool spans_in_bounds(size_t len, const struct classify_result *r)
{
	return span_ok(len, r->select_list) && span_ok(len, r->table) && span_ok(len, r->alias) &&
	       span_ok(len, r->key_col) && span_ok(len, r->key) && span_ok(len, r->where_rest) &&
	       span_ok(len, r->order_by);
}

static void show_span(const char *what, const char *sql, struct classify_span sp)
{
	diag("  %s = [%.*s]", what, (int)sp.len, sql + sp.off);
}

static void show_result(const char *sql, const struct classify_result *r)
{
	diag("  reason = %s", classify_reason_str(r->reason));
	if (r->reason != CLASSIFY_OK)
		return;
	show_span("list", sql, r->select_list);
	show_span("table", sql, r->table);
	show_span("alias", sql, r->alias);
	show_span("col", sql, r->key_col);
	show_span("key", sql, r->key);
	show_span("rest", sql, r->where_rest);
	show_span("order", sql, r->order_by);
	diag("  limit = %lld star = %d type = %d", r->limit, r->select_star, (int)r->key_type);
}

static const char *key_type_name(enum classify_key_type t)
{
	switch (t) {
	case CLASSIFY_KEY_STRING:
		return "string";
	case CLASSIFY_KEY_INT:
		return "int";
	case CLASSIFY_KEY_DECIMAL:
		return "decimal";
	}
	return "?";
}

/* Check an accepted line's parts against its fields. */
static bool check_ok_fields(int lineno, const char *sql, size_t len, unsigned flags,
			    const struct classify_result *r, struct field *f, int nf)
{
	static const char *const span_names[] = { "list", "table", "alias", "col",
						  "key",  "rest",  "order" };
	const struct classify_span spans[] = { r->select_list, r->table, r->alias,
					       r->key_col,     r->key,	 r->where_rest,
					       r->order_by };
	bool good = true;
	const char *v;
	size_t i;

	for (i = 0; i < sizeof(span_names) / sizeof(span_names[0]); i++) {
		const char *want = field_get(f, nf, span_names[i]);
		bool required = i == 0 || i == 1 || i == 3 || i == 4;

		if (!want) {
			if (required) {
				diag("line %d: field %s missing from the eval file", lineno,
				     span_names[i]);
				good = false;
				continue;
			}
			want = "";
		}
		if (!span_is(sql, len, spans[i], want)) {
			diag("line %d: %s: want [%s]", lineno, span_names[i], want);
			good = false;
		}
	}
	v = field_get(f, nf, "limit");
	if (r->limit != (v ? strtoll(v, NULL, 10) : -1)) {
		diag("line %d: limit %lld, want %s", lineno, r->limit, v ? v : "-1");
		good = false;
	}
	v = field_get(f, nf, "star");
	if (r->select_star != (v && !strcmp(v, "1"))) {
		diag("line %d: star %d", lineno, r->select_star);
		good = false;
	}
	v = field_get(f, nf, "type");
	if (!v || strcmp(v, key_type_name(r->key_type))) {
		diag("line %d: type %s, want %s", lineno, key_type_name(r->key_type),
		     v ? v : "(missing)");
		good = false;
	}

	/* the decoded key: exactly the expected bytes, and no more room needed */
	v = field_get(f, nf, "value");
	if (!v && r->key_type == CLASSIFY_KEY_STRING) {
		diag("line %d: string keys need a value= field", lineno);
		good = false;
	} else {
		char out[LINE_MAX_LEN];
		size_t out_len = 0, want_len;
		const char *want = v ? v : "";

		if (!v) {
			/* numbers decode to the literal itself */
			want_len = r->key.len;
			want = sql + r->key.off;
		} else {
			want_len = strlen(v);
		}
		if (!classify_key_value(sql + r->key.off, r->key.len, flags, out, want_len,
					&out_len) ||
		    out_len != want_len || memcmp(out, want, want_len) != 0) {
			diag("line %d: key value [%.*s], want [%.*s]", lineno, (int)out_len, out,
			     (int)want_len, want);
			good = false;
		}
		if (want_len > 0 && classify_key_value(sql + r->key.off, r->key.len, flags, out,
						       want_len - 1, &out_len)) {
			diag("line %d: key value fits in %zu bytes?", lineno, want_len - 1);
			good = false;
		}
	}
	return good;
}

/*
 * Run the classifier over every prefix of <sql>, each in a heap block of
 * exactly that size, so ASan reports any read past the end. Also checks
 * that accepted prefixes have their spans inside the prefix.
 */
static bool check_prefixes(const char *sql, size_t len, unsigned flags)
{
	struct classify_result r;
	size_t n;

	for (n = 0; n <= len; n++) {
		char *buf = malloc(n ? n : 1);
		bool acc;

		if (!buf)
			return false;
		memcpy(buf, sql, n);
		acc = classify_query(buf, n, flags, &r);
		free(buf);
		buf = NULL;
		if ((unsigned)r.reason >= CLASSIFY__COUNT || acc != (r.reason == CLASSIFY_OK))
			return false;
		if (acc && !spans_in_bounds(n, &r))
			return false;
	}
	return true;
}

/* Do two answers say the same, every part of them? */
static bool same_answer(const struct classify_result *a, const struct classify_result *b)
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

/*
 * An accepted statement with its key replaced by each of these: what the
 * memo answers (primed with the statement) must be what lexing it afresh
 * answers.  Keys of the memo's form, and the ones it must turn away:
 * quotes, escapes, the reserved prefix, other types, more tokens.
 */
static const char *const memo_keys[] = {
	"'x'", "", "-", "+", "'zz top'", "''", "'a''b'", "'a\\'b'", "'a\\\\'", "'a\\'", "'\\'", "'__ib_c'", "'x__IB_y'",
	"'__\xc4\xb0" "b_'", "'a\"b'", "\"q\"", "'x' 'y'", "'\xc3\xa9'", "'a;b'", "'a/*b'",
	"'a' -- c", "'a'/*c*/", "'a' #c", "'unterminated", "'a'b'", "x'41'", "N'x'", "_utf8'x'",
	"7", "0", "123456789012345678901234567890", "-7", "+7", "--7", "- 7", "-+7", "7e3",
	"7.5", "7.", ".5", "0x1F", "0b1", "7abc", "'7'", "NULL", "TRUE", "?", "@v", "'x'||'y'",
	"'x' AND 1", "7 OR 1", "'x';", "7;", "(7)", "7 LIMIT 2", "'x' LIMIT 2",
};

static unsigned long memo_hit_total;

static void check_memo(int lineno, const char *sql, size_t len, unsigned flags,
		       const struct classify_result *r, unsigned long *hits)
{
	char buf[LINE_MAX_LEN * 2];
	struct classify_result m, f;
	size_t i, k, end = r->key.off + r->key.len;
	bool good = true;
	unsigned long before;

	for (i = 0; i < sizeof(memo_keys) / sizeof(memo_keys[0]); i++) {
		k = strlen(memo_keys[i]);
		if (len - r->key.len + k > sizeof(buf))
			continue;
		memcpy(buf, sql, r->key.off);
		memcpy(buf + r->key.off, memo_keys[i], k);
		memcpy(buf + r->key.off + k, sql + end, len - end);
		k = len - r->key.len + k;
		classify_memo_reset();
		classify_query(sql, len, flags, &m);
		before = classify_memo_hits();
		classify_query(buf, k, flags, &m);
		*hits += classify_memo_hits() - before;
		classify_memo_reset();
		classify_query(buf, k, flags, &f);
		if (!same_answer(&m, &f)) {
			diag("line %d: with key %s the memo says %s, lexing says %s", lineno,
			     memo_keys[i], classify_reason_str(m.reason), classify_reason_str(f.reason));
			good = false;
		}
	}
	ok(good, "line %d: the memo answers as lexing for %zu other keys", lineno,
	   sizeof(memo_keys) / sizeof(memo_keys[0]));
}

static bool parse_flags(const char *s, unsigned *flags)
{
	char buf[64], *tok, *save = NULL;

	*flags = 0;
	if (!strcmp(s, "-"))
		return true;
	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "ansi"))
			*flags |= CLASSIFY_ANSI_QUOTES;
		else if (!strcmp(tok, "nobs"))
			*flags |= CLASSIFY_NO_BACKSLASH_ESC;
		else if (!strcmp(tok, "ascii"))
			*flags |= CLASSIFY_ASCII_NAMES;
		else
			return false;
	}
	return true;
}

static bool run_line(int lineno, char *line, int *n_ok, int *n_rej)
{
	struct field f[MAX_FIELDS];
	char *col[3 + MAX_FIELDS];
	int ncol = 0, nf = 0, i;
	char *p = line, *tab;
	struct classify_result r;
	unsigned flags;
	const char *sql;
	size_t len;
	bool acc, good;
	char *copy;

	while ((tab = strchr(p, '\t')) && ncol < (int)(sizeof(col) / sizeof(col[0])) - 1) {
		*tab = '\0';
		col[ncol++] = p;
		p = tab + 1;
	}
	col[ncol++] = p;
	if (ncol < 3 || !parse_flags(col[0], &flags)) {
		ok(0, "line %d: malformed eval line", lineno);
		return false;
	}
	for (i = 3; i < ncol && nf < MAX_FIELDS; i++) {
		char *eq = strchr(col[i], '=');

		if (!eq) {
			ok(0, "line %d: field without '='", lineno);
			return false;
		}
		*eq = '\0';
		unescape_field(eq + 1);
		f[nf].name = col[i];
		f[nf].value = eq + 1;
		nf++;
	}
	unescape_field(col[2]);
	sql = col[2];
	len = strlen(sql);

	/* classify an exact-size heap copy so overreads are caught */
	copy = malloc(len ? len : 1);
	if (!copy) {
		ok(0, "line %d: out of memory", lineno);
		return false;
	}
	memcpy(copy, sql, len);
	acc = classify_query(copy, len, flags, &r);
	free(copy);
	copy = NULL;

	good = acc == (r.reason == CLASSIFY_OK) && !strcmp(classify_reason_str(r.reason), col[1]);
	if (good && acc)
		good = check_ok_fields(lineno, sql, len, flags, &r, f, nf);
	if (acc)
		(*n_ok)++;
	else
		(*n_rej)++;
	ok(good, "line %d: %s: %s", lineno, col[1], sql);
	if (!good)
		show_result(sql, &r);
	ok(check_prefixes(sql, len, flags), "line %d: every prefix classifies in bounds", lineno);
	if (acc)
		check_memo(lineno, sql, len, flags, &r, &memo_hit_total);
	return true;
}

static FILE *open_eval(int argc, char **argv)
{
	char path[PATH_MAX];
	const char *srcdir = getenv("srcdir");
	FILE *fp;

	if (argc > 1)
		return fopen(argv[1], "r");
	if (srcdir) {
		snprintf(path, sizeof(path), "%s/tests/unit/classify.eval", srcdir);
		if ((fp = fopen(path, "r")))
			return fp;
	}
	return fopen("tests/unit/classify.eval", "r");
}

static void test_eval_file(int argc, char **argv)
{
	char line[LINE_MAX_LEN];
	int lineno = 0, n_ok = 0, n_rej = 0;
	FILE *fp = open_eval(argc, argv);

	ok(fp != NULL, "open classify.eval");
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		size_t l = strlen(line);

		lineno++;
		if (l && line[l - 1] == '\n')
			line[--l] = '\0';
		if (l && line[l - 1] == '\r')
			line[--l] = '\0';
		if (l == 0 || line[0] == '#')
			continue;
		run_line(lineno, line, &n_ok, &n_rej);
	}
	fclose(fp);
	diag("%d accepted and %d rejected cases", n_ok, n_rej);
	/* 'x', '', 7, 0 and the like fit nearly every accepted line */
	ok(memo_hit_total >= 2 * (unsigned long)n_ok, "the memo answered %lu of the other keys",
	   memo_hit_total);
	ok(n_ok >= 40 && n_rej >= 60, "eval file has enough cases (%d ok, %d rejected)", n_ok,
	   n_rej);
}

static void test_reason_names(void)
{
	int i, j;
	bool distinct = true, named = true;

	for (i = 0; i < CLASSIFY__COUNT; i++) {
		const char *a = classify_reason_str((enum classify_reason)i);

		if (!a || !strcmp(a, "unknown"))
			named = false;
		for (j = 0; j < i; j++)
			if (!strcmp(a, classify_reason_str((enum classify_reason)j)))
				distinct = false;
	}
	ok(named, "every reason has a name");
	ok(distinct, "reason names are distinct");
	ok(!strcmp(classify_reason_str(CLASSIFY_OK), "ok"), "CLASSIFY_OK is \"ok\"");
	ok(!strcmp(classify_reason_str(CLASSIFY__COUNT), "unknown"), "out of range is unknown");
	ok(!strcmp(classify_reason_str((enum classify_reason)(CLASSIFY__COUNT + 7)), "unknown"),
	   "far out of range is unknown");
}

/* Statements of exactly CLASSIFY_MAX_LEN bytes pass, one more fails. */
static void test_too_long(void)
{
	static const char head[] = "SELECT a FROM t WHERE id = 7";
	struct classify_result r;
	char *buf = malloc(CLASSIFY_MAX_LEN + 1);

	if (!buf) {
		ok(0, "out of memory");
		return;
	}
	memset(buf, ' ', CLASSIFY_MAX_LEN + 1);
	memcpy(buf, head, sizeof(head) - 1);
	ok(classify_query(buf, CLASSIFY_MAX_LEN, 0, &r) && r.key.len == 1,
	   "a %d-byte lookup is accepted", CLASSIFY_MAX_LEN);
	ok(!classify_query(buf, CLASSIFY_MAX_LEN + 1, 0, &r) && r.reason == CLASSIFY_TOO_LONG,
	   "a %d-byte lookup is too_long", CLASSIFY_MAX_LEN + 1);
	free(buf);
	buf = NULL;
}

static bool kv_is(const char *lit, unsigned flags, const char *want, size_t want_len)
{
	char out[64];
	size_t n = 99;

	return classify_key_value(lit, strlen(lit), flags, out, sizeof(out), &n) && n == want_len &&
	       memcmp(out, want, want_len) == 0;
}

static void test_key_value(void)
{
	char out[8];
	size_t n;

	ok(kv_is("'a\\nb'", 0, "a\nb", 3), "\\n decodes to a newline");
	ok(kv_is("'a\\nb'", CLASSIFY_NO_BACKSLASH_ESC, "a\\nb", 4),
	   "backslash is literal under NO_BACKSLASH_ESCAPES");
	ok(kv_is("'\\0\\Z\\t\\r\\b'", 0, "\0\032\t\r\b", 5), "\\0 \\Z \\t \\r \\b");
	ok(kv_is("'50\\%\\_'", 0, "50\\%\\_", 6), "\\%% and \\_ keep their backslash");
	ok(kv_is("'\\q'", 0, "q", 1), "unknown escapes drop the backslash");
	ok(kv_is("'it''s'", 0, "it's", 4), "doubled quote");
	ok(kv_is("\"say \"\"hi\"\"\"", 0, "say \"hi\"", 8), "doubled double quote");
	ok(kv_is("'a\\\\'", 0, "a\\", 2), "escaped backslash before the quote");
	ok(kv_is("''", 0, "", 0), "empty string");
	ok(kv_is("-42", 0, "-42", 3), "integers are copied");
	ok(kv_is("1.50", 0, "1.50", 4), "decimals are copied");
	ok(!classify_key_value("'abc", 4, 0, out, sizeof(out), &n), "unterminated literal fails");
	ok(!classify_key_value("'", 1, 0, out, sizeof(out), &n), "lone quote fails");
	ok(!classify_key_value("'abcdefghij'", 12, 0, out, sizeof(out), &n),
	   "too small a buffer fails");
	ok(!classify_key_value("123456789", 9, 0, out, sizeof(out), &n),
	   "too small a buffer fails for numbers");
	ok(classify_key_value("'abcdefgh'", 10, 0, out, sizeof(out), &n) && n == 8,
	   "an exact fit succeeds");
}

/* The same text, lexed under each sql_mode combination. */
static void test_flags(void)
{
	static const char q[] = "SELECT a FROM t WHERE c = \"x\\\"\" LIMIT 1";
	static const char q2[] = "SELECT a FROM t WHERE c = \"x\" LIMIT 1";
	struct classify_result r;

	ok(classify_query(q, sizeof(q) - 1, 0, &r) && r.key.len == 5,
	   "double quotes are strings by default");
	ok(!classify_query(q, sizeof(q) - 1, CLASSIFY_NO_BACKSLASH_ESC, &r) &&
		   r.reason == CLASSIFY_SYNTAX,
	   "\"x\\\" ends early without backslash escapes");
	ok(!classify_query(q, sizeof(q) - 1, CLASSIFY_ANSI_QUOTES, &r) &&
		   r.reason == CLASSIFY_SYNTAX,
	   "\"x\\\"\" is an unterminated name under ANSI_QUOTES");
	ok(!classify_query(q2, sizeof(q2) - 1, CLASSIFY_ANSI_QUOTES, &r) &&
		   r.reason == CLASSIFY_NO_KEY,
	   "double quotes are names under ANSI_QUOTES");
	ok(classify_query(q2, sizeof(q2) - 1, CLASSIFY_NO_BACKSLASH_ESC, &r) &&
		   r.key_type == CLASSIFY_KEY_STRING,
	   "double quotes are strings without ANSI_QUOTES");
}

/* What classify_stmt_kind() says of statements a session may send. */
static void test_stmt_kind(void)
{
	static const struct {
		const char *sql;
		unsigned kind;
	} cases[] = {
		{ "SELECT id FROM t WHERE name = 'x'", 0 },
		{ "select 1;", 0 },
		{ "INSERT INTO t VALUES (1)", 0 },
		{ "BEGIN", 0 },
		{ "SET time_zone = '+01:00'", 0 },
		{ "SHOW WARNINGS", 0 },
		{ "select FOUND_ROWS()", 0 },
		{ "GET DIAGNOSTICS @n = NUMBER", 0 },
		{ "SELECT @@warning_count", 0 },
		{ "SELECT 'show warnings'", 0 },
		/* where a word starts and ends */
		{ "DO x$temporary, temporary_x, `temporary`", 0 },
		{ "DO 1temporary", STMT_HIDDEN },
		{ "DO \xc3\xa9temporary", STMT_HIDDEN },
		{ "DO a--\ntemporary", STMT_HIDDEN },
		{ "DO a -- temporary\n, 1", 0 },
		/* one plain DML statement: its first word decides */
		{ "SELECT temporary, @@session_track_schema FROM t", 0 },
		{ "update t SET temporary = 1", 0 },
		{ "SELECT(1)", 0 },
		{ "SELECT 'a;b' FROM t WHERE temporary = 1", STMT_HIDDEN },
		{ "SELECT 1; CREATE TEMPORARY TABLE t (a INT)", STMT_DDL | STMT_HIDDEN },
		{ "SELECT 1 /*!; LOCK TABLES t READ */", STMT_HIDDEN },
		{ "SELECTED temporary", STMT_HIDDEN },
		{ "SELECT\xc3\xa9 temporary", STMT_HIDDEN },
		{ " SELECT temporary", STMT_HIDDEN },
		{ "/**/SELECT temporary", STMT_HIDDEN },
		{ "CREATE TEMPORARY TABLE t (a INT)", STMT_DDL | STMT_HIDDEN },
		{ "/*!CREATE TEMPORARY TABLE t (a INT)*/", STMT_DDL | STMT_HIDDEN },
		{ "/*M!100100 CREATE TEMPORARY TABLE t (a INT)*/",
		  STMT_DDL | STMT_HIDDEN },
		{ "/* CREATE TEMPORARY TABLE t (a INT) */ SELECT 1", 0 },
		{ "SET STATEMENT sql_mode='' FOR CREATE TEMPORARY TABLE t (a INT)",
		  STMT_DDL | STMT_HIDDEN },
		{ "SET STATEMENT max_statement_time=1 FOR SELECT 1", 0 },
		{ "LOCK TABLES t READ", STMT_HIDDEN },
		{ "/*!40101 LOCK TABLES t READ */", STMT_HIDDEN },
		{ "SET ROLE NONE", STMT_HIDDEN },
		{ "CALL p()", STMT_HIDDEN },
		{ "PREPARE s FROM 'SELECT 1'", STMT_HIDDEN },
		{ "EXECUTE IMMEDIATE 'USE db'", STMT_HIDDEN },
		{ "BEGIN NOT ATOMIC SELECT 1; END", STMT_HIDDEN },
		{ "SET SESSION session_track_state_change = OFF", STMT_HIDDEN },
		{ "ALTER TABLE t ADD UNIQUE (a)", STMT_DDL },
		{ "SELECT f(1)", 0 },
		{ "SELECT `f` (1)", 0 },
		{ "SELECT db.f(id) FROM t", 0 },
		{ "SELECT NOW()", 0 },
		{ "SELECT COALESCE(a, b), COUNT(*) FROM t WHERE k = 'f()'", 0 },
		{ "SELECT (1)", 0 },
		{ "SELECT 1; DROP TABLE t", STMT_DDL },
		{ "SELECT 1; SELECT 2", 0 },
		{ "DO 1; KILL 5", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned k = classify_stmt_kind(cases[i].sql, strlen(cases[i].sql));

		ok(k == cases[i].kind, "stmt kind of \"%s\": %x (want %x)", cases[i].sql, k,
		   cases[i].kind);
	}
}

/* ORDER BY clauses the tie check can read, and what it reads of them. */
static void test_order_cols(void)
{
	static const struct {
		const char *sql;
		const char *want; /* "qual.col|..." ; NULL: refused */
	} cases[] = {
		{ "id", ".id" },
		{ "id DESC", ".id" },
		{ "`t`.`id` ASC, v", "t.id|.v" },
		{ " v , id desc ", ".v|.id" },
		{ "`we``ird`", ".we`ird" },
		{ "t.id,t.v,t.w,t.x", "t.id|t.v|t.w|t.x" },
		{ "a, b, c, d, e", NULL }, /* more than four */
		{ "1", NULL },		    /* a position */
		{ "v + 0", NULL },
		{ "v COLLATE utf8mb4_bin", NULL },
		{ "f(v)", NULL },
		{ "s.t.c", NULL },
		{ "`open", NULL },
		{ "id,", NULL },
		{ "", NULL },
		{ "\"id\"", NULL },
		{ "id DESCENDING", NULL },
		{ "1.5", NULL },
		{ "1e1", NULL },
		{ "0x10", NULL },
		{ "NULL", NULL },
		{ "t.TRUE", NULL },
		{ "CURRENT_DATE", NULL },
		{ "`NULL`", ".NULL" },
	};
	struct classify_order_item it[CLASSIFY_ORDER_MAX];
	char got[512];
	size_t i, o;
	unsigned n, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool r = classify_order_cols(cases[i].sql, strlen(cases[i].sql),
					     it, &n);

		o = 0;
		got[0] = '\0';
		for (j = 0; r && j < n; j++)
			o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%.*s.%.*s",
					      j ? "|" : "", (int)it[j].qual_len,
					      it[j].qual, (int)it[j].col_len,
					      it[j].col);
		if (!cases[i].want)
			ok(!r, "order by \"%s\" refused", cases[i].sql);
		else
			ok(r && strcmp(got, cases[i].want) == 0,
			   "order by \"%s\": %s (want %s)", cases[i].sql,
			   r ? got : "refused", cases[i].want);
	}
}

/* init_connect texts that may and may not leave sessions batchable. */
static void test_set_only(void)
{
	static const char *const vars[] = { "time_zone", "sql_mode",
					    "wait_timeout", NULL };
	static const struct {
		const char *sql;
		bool plain;
	} cases[] = {
		{ "", true },
		{ "SET NAMES utf8mb4", true },
		{ "set names 'utf8mb4' collate 'utf8mb4_bin';", true },
		{ "SET time_zone = '+03:00'; SET SESSION sql_mode = 'A,B'", true },
		{ "SET wait_timeout=600,LOCAL time_zone='Europe/Berlin'", true },
		{ "SET wait_timeout = -1.5e+3", true },
		{ "SET sql_mode = ORACLE", true },
		{ " ; SET wait_timeout = 1 ;; ", true },
		{ "SET autocommit = 0", false },	     /* not listed here */
		{ "SET @x = 1", false },
		{ "SET @@session.time_zone = '+00:00'", false },
		{ "SET GLOBAL time_zone = '+00:00'", false },
		{ "SET STATEMENT time_zone='+00:00' FOR SELECT 1", false },
		{ "SET wait_timeout = s.nextval", false },
		{ "SET wait_timeout = 1x", false },
		{ "SET wait_timeout = (1)", false },
		{ "SET time_zone = 'a''b'", false },
		{ "SET time_zone = 'a\\'; CREATE TEMPORARY TABLE t (a INT)", false },
		{ "SET time_zone = '+00:00' /* x */", false },
		{ "SET time_zone = '+00:00' -- x", false },
		{ "SET time_zone = '\xc3\xa9'", false },
		{ "CALL p()", false },
		{ "INSERT INTO log SET a = 1", false },
		{ "DO '\\'; CREATE TEMPORARY TABLE t SELECT 1; DO '\\'", false },
		{ "SET time_zone = '+00:00', ", false },
		{ "SET", false },
		{ "SET NAMES", false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(classify_set_only(cases[i].sql, strlen(cases[i].sql), vars) ==
			   cases[i].plain,
		   "set only \"%s\": %s", cases[i].sql,
		   cases[i].plain ? "plain" : "refused");
	ok(!classify_set_only("SET time_zone = 1\0", 18, vars), "a NUL byte");
}

/* Table names as written, split and unquoted. */
static void test_split_table(void)
{
	char sc[64], nm[64];
	size_t sl, nl;

	ok(classify_split_table("t", 1, 0, sc, &sl, nm, &nl, 64) && sl == 0 && nl == 1 &&
		   nm[0] == 't',
	   "bare name");
	ok(classify_split_table("`d b`.`t``x`", 12, 0, sc, &sl, nm, &nl, 64) && sl == 3 &&
		   !memcmp(sc, "d b", 3) && nl == 3 && !memcmp(nm, "t`x", 3),
	   "quoted schema and name with a doubled quote");
	ok(classify_split_table("\"d\".t", 5, CLASSIFY_ANSI_QUOTES, sc, &sl, nm, &nl, 64) &&
		   sl == 1 && nl == 1,
	   "ANSI quotes");
	ok(!classify_split_table("a.b.c", 5, 0, sc, &sl, nm, &nl, 64), "three parts refused");
	ok(!classify_split_table("abcdef", 6, 0, sc, &sl, nm, &nl, 4), "too long refused");
}

int main(int argc, char **argv)
{
	test_stmt_kind();
	test_set_only();
	test_order_cols();
	test_split_table();
	test_reason_names();
	test_key_value();
	test_too_long();
	test_flags();
	test_eval_file(argc, argv);
	return tap_done();
}
