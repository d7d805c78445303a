/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Connector/C test client for the integration suite: runs a sequence of
 * actions against a server and prints everything the client library sees,
 * so that output through inbatch can be compared with output from MariaDB.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#define MAX_ACTIONS 64
#define MAX_PARAMS 32

enum action_kind {
	ACT_QUERY,
	ACT_RESET,
	ACT_CHANGE_USER,
	ACT_STAT,
	ACT_LIST_FIELDS,
	ACT_SET_OPTION,
	ACT_PING,
	ACT_SELECT_DB,
	ACT_BULK,
};

struct action {
	enum action_kind kind;
	const char *a;
	const char *b;
};

static struct action actions[MAX_ACTIONS];
static int n_actions;
static const char *params[MAX_PARAMS];
static int n_params;
static bool opt_ps;
static bool opt_multi;
static bool opt_force;
static unsigned long long opt_long_data;
static int opt_repeat = 1;
static int opt_prepare_many;
static bool opt_track;
static bool opt_progress;
static bool opt_compress;
static unsigned progress_calls;
static unsigned progress_max_stage;
static int failures;

static void usage(void)
{
	fprintf(stderr,
		"usage: cclient -h HOST -P PORT -u USER -p PASS [-D DB]\n"
		"       [--ps] [--multi] [--force] [--param VALUE]...\n"
		"       [--long-data BYTES] [--repeat N] [--prepare-many N]\n"
		"       ACTION...\n"
		"actions: -e SQL | --reset | --change-user USER PASS | --stat\n"
		"         --list-fields TABLE | --set-option on|off | --ping\n"
		"         --select-db DB | --bulk SQL ROWS\n"
		"options: --track (print session-tracker data after each OK)\n"
		"         --progress (install a progress callback; print its calls)\n"
		"         --compress (the compressed protocol)\n");
	exit(2);
}

/*
 * Print <len> bytes of <s> as one field: backslash, tab, newline, NUL and
 * non-printable bytes are escaped so the output stays line-oriented.
 */
static void print_value(const char *s, unsigned long len)
{
	unsigned long i;

	if (s == NULL) {
		fputs("\\N", stdout);
		return;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\')
			fputs("\\\\", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == 0)
			fputs("\\0", stdout);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void print_mysql_error(MYSQL *m)
{
	printf("ERROR %u (%s): %s\n", mysql_errno(m), mysql_sqlstate(m),
	       mysql_error(m));
	failures++;
}

static void print_stmt_error(MYSQL_STMT *st)
{
	printf("ERROR %u (%s): %s\n", mysql_stmt_errno(st),
	       mysql_stmt_sqlstate(st), mysql_stmt_error(st));
	failures++;
}

/* Print the column definitions of a result set. */
static void print_fields(MYSQL_FIELD *f, unsigned int n)
{
	unsigned int i;

	printf("COLUMNS %u\n", n);
	for (i = 0; i < n; i++)
		printf("COL name=%s org_name=%s table=%s org_table=%s db=%s "
		       "type=%d length=%lu charsetnr=%u flags=0x%x "
		       "decimals=%u\n",
		       f[i].name, f[i].org_name, f[i].table, f[i].org_table,
		       f[i].db, (int)f[i].type, f[i].length, f[i].charsetnr,
		       f[i].flags & ~0x8000u, f[i].decimals);
}

static void print_status(MYSQL *m)
{
	const char *info = mysql_info(m);

	printf("OK affected=%lld insert_id=%llu warnings=%u info=%s "
	       "status=0x%x\n",
	       (long long)mysql_affected_rows(m),
	       (unsigned long long)mysql_insert_id(m), mysql_warning_count(m),
	       info ? info : "", m->server_status);
}

/* Print a text-protocol result set and free it. */
static void print_result(MYSQL_RES *res)
{
	MYSQL_ROW row;
	unsigned int n = mysql_num_fields(res);
	unsigned long long rows = 0;

	print_fields(mysql_fetch_fields(res), n);
	while ((row = mysql_fetch_row(res)) != NULL) {
		unsigned long *len = mysql_fetch_lengths(res);
		unsigned int i;

		for (i = 0; i < n; i++) {
			if (i)
				putchar('\t');
			print_value(row[i], len[i]);
		}
		putchar('\n');
		rows++;
	}
	printf("ROWS %llu\n", rows);
	mysql_free_result(res);
}

/* Session-tracker entries of the last OK, schema and variables. */
static void print_track(MYSQL *m)
{
	static const struct {
		enum enum_session_state_type type;
		const char *name;
	} types[] = { { SESSION_TRACK_SYSTEM_VARIABLES, "VAR" },
		      { SESSION_TRACK_SCHEMA, "SCHEMA" },
		      { SESSION_TRACK_STATE_CHANGE, "STATE" },
		      { SESSION_TRACK_TRANSACTION_CHARACTERISTICS, "TRXCHARS" },
		      { SESSION_TRACK_TRANSACTION_TYPE, "TRXSTATE" } };
	const char *d;
	size_t len, i;

	if (!opt_track)
		return;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (mysql_session_track_get_first(m, types[i].type, &d, &len))
			continue;
		do {
			printf("TRACK %s %.*s\n", types[i].name, (int)len, d);
		} while (!mysql_session_track_get_next(m, types[i].type, &d, &len));
	}
}

static void progress_cb(const MYSQL *m, unsigned int stage,
			unsigned int max_stage, double progress,
			const char *proc_info, unsigned int proc_info_length)
{
	(void)m;
	(void)stage;
	(void)progress;
	(void)proc_info;
	(void)proc_info_length;
	progress_calls++;
	if (max_stage > progress_max_stage)
		progress_max_stage = max_stage;
}

/*
 * Execute <sql>, which takes an INT and a VARCHAR parameter, once for
 * <rows> rows bound as arrays (STMT_ATTR_ARRAY_SIZE): Connector/C sends
 * one COM_STMT_BULK_EXECUTE when the server offers bulk operations.
 */
static bool run_bulk(MYSQL *m, const char *sql, const char *rows_s)
{
	unsigned int rows = (unsigned int)atoi(rows_s), i;
	MYSQL_STMT *st = mysql_stmt_init(m);
	MYSQL_BIND b[2];
	int *ids = NULL;
	char (*names)[16] = NULL;
	char **ptrs = NULL;
	unsigned long *lens = NULL;
	unsigned long ext = 0;
	bool ok = false;

	if (!st || rows == 0)
		return false;
	ids = calloc(rows, sizeof(*ids));
	names = calloc(rows, sizeof(*names));
	lens = calloc(rows, sizeof(*lens));
	ptrs = calloc(rows, sizeof(*ptrs));
	if (!ids || !names || !lens || !ptrs)
		goto out;
	for (i = 0; i < rows; i++) {
		ids[i] = (int)i + 1;
		lens[i] = (unsigned long)snprintf(names[i], sizeof(names[i]),
						  "name%u", i + 1);
		ptrs[i] = names[i];
	}
	if (mysql_stmt_prepare(st, sql, strlen(sql))) {
		print_stmt_error(st);
		goto out;
	}
	memset(b, 0, sizeof(b));
	b[0].buffer_type = MYSQL_TYPE_LONG;
	b[0].buffer = ids;
	b[1].buffer_type = MYSQL_TYPE_STRING;
	b[1].buffer = ptrs; /* column-wise strings: an array of pointers */
	b[1].length = lens;
	/* column-wise arrays: STMT_ATTR_ROW_SIZE stays 0 */
	mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &rows);
	if (mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st)) {
		print_stmt_error(st);
		goto out;
	}
	mariadb_get_infov(m, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &ext);
	printf("BULK affected=%llu server_bulk=%s status=0x%x\n",
	       (unsigned long long)mysql_stmt_affected_rows(st),
	       (ext & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) ? "yes" : "no",
	       m->server_status);
	ok = true;
out:
	free(ids);
	free(names);
	free(ptrs);
	free(lens);
	mysql_stmt_close(st);
	return ok;
}

/* Run <sql> as COM_QUERY and print every result of it. */
static bool run_text(MYSQL *m, const char *sql)
{
	int rc;

	if (mysql_real_query(m, sql, strlen(sql))) {
		print_mysql_error(m);
		return false;
	}
	do {
		MYSQL_RES *res = mysql_store_result(m);

		if (res != NULL)
			print_result(res);
		else if (mysql_field_count(m) != 0) {
			print_mysql_error(m);
			return false;
		}
		print_status(m);
		print_track(m);
		rc = mysql_next_result(m);
		if (rc > 0) {
			print_mysql_error(m);
			return false;
		}
	} while (rc == 0);
	return true;
}

/*
 * Send the first parameter of <st> as <opt_long_data> bytes of a fixed
 * pattern, in chunks of 64 KiB, with COM_STMT_SEND_LONG_DATA.
 */
static bool send_long_data(MYSQL_STMT *st)
{
	static char chunk[65536];
	unsigned long long left = opt_long_data;
	unsigned long long pos = 0;

	while (left > 0) {
		unsigned long n = left > sizeof(chunk) ? sizeof(chunk) : left;
		unsigned long i;

		for (i = 0; i < n; i++)
			chunk[i] = (char)('a' + (pos + i) % 26);
		if (mysql_stmt_send_long_data(st, 0, chunk, n)) {
			print_stmt_error(st);
			return false;
		}
		left -= n;
		pos += n;
	}
	return true;
}

/* Print the binary-protocol result of an executed <st>, fetched as text. */
static bool print_stmt_result(MYSQL_STMT *st, MYSQL *m)
{
	MYSQL_RES *meta = mysql_stmt_result_metadata(st);
	MYSQL_BIND *bind;
	unsigned long *len;
	my_bool *isnull;
	char **buf;
	unsigned int n, i;
	unsigned long long rows = 0;
	int rc;
	bool ok = true;

	if (meta == NULL) {
		printf("OK affected=%lld insert_id=%llu warnings=%u info=%s "
		       "status=0x%x\n",
		       (long long)mysql_stmt_affected_rows(st),
		       (unsigned long long)mysql_stmt_insert_id(st),
		       mysql_warning_count(m),
		       mysql_info(m) ? mysql_info(m) : "", m->server_status);
		return true;
	}
	if (mysql_stmt_store_result(st)) {
		print_stmt_error(st);
		mysql_free_result(meta);
		return false;
	}
	n = mysql_num_fields(meta);
	print_fields(mysql_fetch_fields(meta), n);
	bind = calloc(n, sizeof(*bind));
	len = calloc(n, sizeof(*len));
	isnull = calloc(n, sizeof(*isnull));
	buf = calloc(n, sizeof(*buf));
	if (n && (!bind || !len || !isnull || !buf)) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (i = 0; i < n; i++) {
		buf[i] = malloc(256);
		bind[i].buffer_type = MYSQL_TYPE_STRING;
		bind[i].buffer = buf[i];
		bind[i].buffer_length = 256;
		bind[i].length = &len[i];
		bind[i].is_null = &isnull[i];
	}
	if (n && mysql_stmt_bind_result(st, bind)) {
		print_stmt_error(st);
		ok = false;
		goto out;
	}
	while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
		for (i = 0; i < n; i++) {
			if (i)
				putchar('\t');
			if (isnull[i]) {
				print_value(NULL, 0);
				continue;
			}
			if (len[i] > bind[i].buffer_length) {
				/* Refetch a column that did not fit. */
				char *big = malloc(len[i] + 1);
				MYSQL_BIND one;

				if (big == NULL) {
					fprintf(stderr, "out of memory\n");
					exit(1);
				}
				memset(&one, 0, sizeof(one));
				one.buffer_type = MYSQL_TYPE_STRING;
				one.buffer = big;
				one.buffer_length = len[i] + 1;
				one.length = &len[i];
				if (mysql_stmt_fetch_column(st, &one, i, 0)) {
					print_stmt_error(st);
					free(big);
					ok = false;
					goto out;
				}
				print_value(big, len[i]);
				free(big);
			} else {
				print_value(buf[i], len[i]);
			}
		}
		putchar('\n');
		rows++;
	}
	if (rc != MYSQL_NO_DATA) {
		print_stmt_error(st);
		ok = false;
		goto out;
	}
	printf("ROWS %llu\n", rows);
	printf("OK warnings=%u status=0x%x\n", mysql_warning_count(m),
	       m->server_status);
out:
	for (i = 0; i < n; i++)
		free(buf[i]);
	free(buf);
	free(isnull);
	free(len);
	free(bind);
	mysql_stmt_free_result(st);
	mysql_free_result(meta);
	return ok;
}

/*
 * Run <sql> as a server-side prepared statement with the global parameters,
 * executing it <opt_repeat> times with COM_STMT_RESET in between.
 */
static bool run_ps(MYSQL *m, const char *sql)
{
	MYSQL_STMT *extra[256];
	MYSQL_STMT *st;
	MYSQL_BIND pb[MAX_PARAMS];
	unsigned long plen[MAX_PARAMS];
	my_bool pnull[MAX_PARAMS];
	unsigned long count;
	bool ok = false;
	int i, r;

	for (i = 0; i < opt_prepare_many; i++) {
		extra[i] = mysql_stmt_init(m);
		if (extra[i] == NULL || mysql_stmt_prepare(extra[i], sql,
							   strlen(sql))) {
			print_mysql_error(m);
			return false;
		}
	}
	for (i = 0; i < opt_prepare_many; i++)
		if (mysql_stmt_close(extra[i])) {
			print_mysql_error(m);
			return false;
		}
	if (opt_prepare_many)
		printf("CLOSED %d\n", opt_prepare_many);

	st = mysql_stmt_init(m);
	if (st == NULL) {
		print_mysql_error(m);
		return false;
	}
	if (mysql_stmt_prepare(st, sql, strlen(sql))) {
		print_stmt_error(st);
		goto out;
	}
	count = mysql_stmt_param_count(st);
	printf("PREPARED params=%lu fields=%u\n", count,
	       mysql_stmt_field_count(st));
	if (count > MAX_PARAMS ||
	    count != (unsigned long)n_params + (opt_long_data ? 1 : 0)) {
		printf("ERROR 0 (HY000): statement has %lu parameters\n",
		       count);
		failures++;
		goto out;
	}
	memset(pb, 0, sizeof(pb));
	for (i = 0; i < (int)count; i++) {
		int k = opt_long_data ? i - 1 : i;

		pb[i].buffer_type = MYSQL_TYPE_STRING;
		pnull[i] = 0;
		plen[i] = 0;
		if (k >= 0 && strcmp(params[k], "\\N") == 0) {
			pnull[i] = 1;
		} else if (k >= 0) {
			pb[i].buffer = (void *)params[k];
			plen[i] = strlen(params[k]);
			pb[i].buffer_length = plen[i];
		}
		pb[i].length = &plen[i];
		pb[i].is_null = &pnull[i];
	}
	if (count && mysql_stmt_bind_param(st, pb)) {
		print_stmt_error(st);
		goto out;
	}
	for (r = 0; r < opt_repeat; r++) {
		if (r > 0 && mysql_stmt_reset(st)) {
			print_stmt_error(st);
			goto out;
		}
		if (opt_long_data && !send_long_data(st))
			goto out;
		if (mysql_stmt_execute(st)) {
			print_stmt_error(st);
			goto out;
		}
		if (!print_stmt_result(st, m))
			goto out;
	}
	ok = true;
out:
	mysql_stmt_close(st);
	return ok;
}

static bool run_action(MYSQL *m, const struct action *a)
{
	MYSQL_RES *res;
	const char *s;

	switch (a->kind) {
	case ACT_QUERY:
		return opt_ps ? run_ps(m, a->a) : run_text(m, a->a);
	case ACT_RESET:
		if (mysql_reset_connection(m)) {
			print_mysql_error(m);
			return false;
		}
		printf("RESET ok\n");
		return true;
	case ACT_CHANGE_USER:
		if (mysql_change_user(m, a->a, a->b, NULL)) {
			print_mysql_error(m);
			return false;
		}
		printf("CHANGED USER ok\n");
		return true;
	case ACT_STAT:
		s = mysql_stat(m);
		if (s == NULL) {
			print_mysql_error(m);
			return false;
		}
		printf("STAT %s\n", s);
		return true;
	case ACT_LIST_FIELDS:
		res = mysql_list_fields(m, a->a, NULL);
		if (res == NULL) {
			print_mysql_error(m);
			return false;
		}
		print_fields(mysql_fetch_fields(res), mysql_num_fields(res));
		mysql_free_result(res);
		return true;
	case ACT_SET_OPTION:
		if (mysql_set_server_option(m, strcmp(a->a, "on") == 0 ?
					    MYSQL_OPTION_MULTI_STATEMENTS_ON :
					    MYSQL_OPTION_MULTI_STATEMENTS_OFF)) {
			print_mysql_error(m);
			return false;
		}
		printf("SET OPTION %s ok\n", a->a);
		return true;
	case ACT_PING:
		if (mysql_ping(m)) {
			print_mysql_error(m);
			return false;
		}
		printf("PING ok\n");
		return true;
	case ACT_SELECT_DB:
		if (mysql_select_db(m, a->a)) {
			print_mysql_error(m);
			return false;
		}
		printf("SELECT DB ok\n");
		return true;
	case ACT_BULK:
		return run_bulk(m, a->a, a->b);
	}
	return false;
}

static void add_action(enum action_kind kind, const char *a, const char *b)
{
	if (n_actions == MAX_ACTIONS)
		usage();
	actions[n_actions].kind = kind;
	actions[n_actions].a = a;
	actions[n_actions].b = b;
	n_actions++;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *user = NULL, *pass = NULL;
	const char *db = NULL;
	unsigned int port = 3306;
	unsigned long flags = 0;
	unsigned int timeout = 10;
	MYSQL *m;
	int i;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i];
		bool has1 = i + 1 < argc, has2 = i + 2 < argc;

		if (strcmp(o, "-h") == 0 && has1)
			host = argv[++i];
		else if (strcmp(o, "-P") == 0 && has1)
			port = (unsigned int)atoi(argv[++i]);
		else if (strcmp(o, "-u") == 0 && has1)
			user = argv[++i];
		else if (strcmp(o, "-p") == 0 && has1)
			pass = argv[++i];
		else if (strcmp(o, "-D") == 0 && has1)
			db = argv[++i];
		else if (strcmp(o, "--ps") == 0)
			opt_ps = true;
		else if (strcmp(o, "--multi") == 0)
			opt_multi = true;
		else if (strcmp(o, "--force") == 0)
			opt_force = true;
		else if (strcmp(o, "--param") == 0 && has1) {
			if (n_params == MAX_PARAMS)
				usage();
			params[n_params++] = argv[++i];
		} else if (strcmp(o, "--long-data") == 0 && has1)
			opt_long_data = strtoull(argv[++i], NULL, 10);
		else if (strcmp(o, "--repeat") == 0 && has1)
			opt_repeat = atoi(argv[++i]);
		else if (strcmp(o, "--prepare-many") == 0 && has1) {
			opt_prepare_many = atoi(argv[++i]);
			if (opt_prepare_many < 0 || opt_prepare_many > 256)
				usage();
		} else if (strcmp(o, "-e") == 0 && has1)
			add_action(ACT_QUERY, argv[++i], NULL);
		else if (strcmp(o, "--reset") == 0)
			add_action(ACT_RESET, NULL, NULL);
		else if (strcmp(o, "--change-user") == 0 && has2) {
			add_action(ACT_CHANGE_USER, argv[i + 1], argv[i + 2]);
			i += 2;
		} else if (strcmp(o, "--stat") == 0)
			add_action(ACT_STAT, NULL, NULL);
		else if (strcmp(o, "--list-fields") == 0 && has1)
			add_action(ACT_LIST_FIELDS, argv[++i], NULL);
		else if (strcmp(o, "--set-option") == 0 && has1)
			add_action(ACT_SET_OPTION, argv[++i], NULL);
		else if (strcmp(o, "--ping") == 0)
			add_action(ACT_PING, NULL, NULL);
		else if (strcmp(o, "--select-db") == 0 && has1)
			add_action(ACT_SELECT_DB, argv[++i], NULL);
		else if (strcmp(o, "--bulk") == 0 && has2) {
			add_action(ACT_BULK, argv[i + 1], argv[i + 2]);
			i += 2;
		} else if (strcmp(o, "--track") == 0)
			opt_track = true;
		else if (strcmp(o, "--progress") == 0)
			opt_progress = true;
		else if (strcmp(o, "--compress") == 0)
			opt_compress = true;
		else
			usage();
	}
	if (user == NULL || n_actions == 0 || opt_repeat < 1)
		usage();

	m = mysql_init(NULL);
	if (m == NULL) {
		fprintf(stderr, "mysql_init failed\n");
		return 1;
	}
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (opt_multi)
		flags |= CLIENT_MULTI_STATEMENTS;
	if (opt_progress)
		mysql_options(m, MYSQL_PROGRESS_CALLBACK, (const void *)progress_cb);
	if (opt_compress)
		mysql_options(m, MYSQL_OPT_COMPRESS, NULL);
	if (!mysql_real_connect(m, host, user, pass, db, port, NULL, flags)) {
		print_mysql_error(m);
		mysql_close(m);
		return 1;
	}
	if (opt_track) {
		/* what the login OK said */
		printf("LOGIN\n");
		print_track(m);
	}
	for (i = 0; i < n_actions; i++)
		if (!run_action(m, &actions[i]) && !opt_force)
			break;
	if (opt_progress)
		printf("PROGRESS calls=%s max_stage=%u\n",
		       progress_calls ? ">0" : "0", progress_max_stage);
	mysql_close(m);
	fflush(stdout);
	return failures ? 1 : 0;
}
