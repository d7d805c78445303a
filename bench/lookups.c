/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 *
 * bench/lookups.c: load generator for the "settings page" benchmark.
 *
 *   lookups -h HOST -P PORT -u USER -p PASSWORD -D DB -n LOOKUPS
 *           -c CONNECTIONS [--mode parallel|sequential|in]
 *           [--table projects] [--prefix proj:] [--keys N]
 *           [--parent TABLE] [--count-port PORT]
 *
 * -P may be given up to four times: connection i goes to the (i mod n)-th
 * port, so that one page can be split over several proxies.
 *
 * All connections are opened first (not timed).  Then the clock starts:
 *
 *   parallel    LOOKUPS single-key lookups spread over CONNECTIONS threads,
 *               each thread issuing its share one after another;
 *   sequential  all LOOKUPS lookups one after another on one connection;
 *   in          one hand-written  ... WHERE name IN (all keys)  query;
 *   loop        the N+1 loop of an ORM session on one connection inside a
 *               transaction (autocommit turned off before the clock, as
 *               ORMs do at connect): a parent query
 *                   SELECT id, gid FROM PARENT ORDER BY id LIMIT LOOKUPS
 *               then one lookup of PREFIX<gid> per parent row, then
 *               ROLLBACK; with --by-id the lookups are by the parent
 *               row's id instead (WHERE id = <id>: an integer key), and
 *               the row found must still be named PREFIX<gid>.
 *
 * Lookup i asks for key PREFIX<(i % KEYS) + 1> (loop: PREFIX<gid of row
 * i>); every returned row is checked (the name must equal the key asked
 * for).  Prints one line
 *
 *   mode=parallel conns=64 lookups=1000 seconds=0.123456 errors=0
 *
 * and exits 1 if any query failed or returned a wrong row.  With
 * --count-port, a connection of its own to that port (the server itself,
 * when -P is a proxy) reads Com_select right before the clock starts and
 * after it stops, and the line gets  page_com_select=N: the server's
 * SELECTs for the page, without those a proxy runs at login.
 *
 * Over the same span the line also gives CPU time, in µs: client_cpu_us=
 * this process's own (getrusage: every worker thread, from when all are
 * set up), and with --cpu-pid PID (up to four times) cpu_us_PID= that
 * process's (the first field of each of its threads' schedstat in /proc,
 * summed): say, the proxy's and the server's, without their logins.
 */

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/resource.h>

#include <mysql.h>

enum mode { MODE_PARALLEL, MODE_SEQUENTIAL, MODE_IN, MODE_LOOP };

struct opts {
	const char *host;
	unsigned port[4]; /* connection i goes to port[i % n_port] */
	int n_port;
	const char *user;
	const char *password;
	const char *db;
	long lookups;
	long conns;
	enum mode mode;
	const char *table;
	const char *prefix;
	long keys;
	const char *parent;
	int by_id;
	unsigned count_port;
	long cpu_pid[4];
	int n_cpu_pid;
	int verbose;
};

struct worker {
	pthread_t tid;
	MYSQL *conn;
	long first; /* first lookup index handled by this worker */
	long count; /* how many lookups it issues */
	long errors;
	double start; /* when it left the start barrier */
	double end;   /* when its last lookup finished */
};

static struct opts opt = {
	.host = "127.0.0.1",
	.port = { 3306 },
	.n_port = 0, /* no -P: 3306 */
	.user = "app",
	.password = "",
	.db = NULL,
	.lookups = 1000,
	.conns = 1,
	.mode = MODE_PARALLEL,
	.table = "projects",
	.prefix = "proj:",
	.keys = 10000,
	.parent = "parents",
	.count_port = 0,
	.verbose = 0,
};

static pthread_barrier_t ready_barrier, start_barrier;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static int reported; /* only the first few problems are printed */

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&report_lock);
	if (reported++ < 10) {
		va_start(ap, fmt);
		fputs("lookups: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	pthread_mutex_unlock(&report_lock);
}

/* CPU time of this process and of each --cpu-pid, in µs. */
struct cpu_sample {
	double self;
	double pid[4];
};

/* <pid>'s time on a CPU, summed over its threads (ns in schedstat); -1
 * when it cannot be read. */
static double cpu_of_pid(long pid)
{
	char path[96];
	char line[128];
	struct dirent *d;
	double sum = 0;
	int n_read = 0;
	DIR *dir;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/schedstat",
			 pid, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* the thread ended meanwhile */
		if (fgets(line, sizeof(line), f)) {
			sum += strtod(line, NULL);
			n_read++;
		}
		fclose(f);
	}
	closedir(dir);
	return n_read ? sum / 1000.0 : -1;
}

static double cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
	       (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

/* The other processes first at the start and last at the stop, so that
 * reading /proc is not counted as the client's. */
static void cpu_start(struct cpu_sample *s)
{
	int i;

	for (i = 0; i < opt.n_cpu_pid; i++)
		s->pid[i] = cpu_of_pid(opt.cpu_pid[i]);
	s->self = cpu_self();
}

static void cpu_stop(struct cpu_sample *s)
{
	int i;

	s->self = cpu_self();
	for (i = 0; i < opt.n_cpu_pid; i++)
		s->pid[i] = cpu_of_pid(opt.cpu_pid[i]);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lookups -h HOST -P PORT -u USER -p PASSWORD -D DB "
		"-n LOOKUPS -c CONNECTIONS\n"
		"               [--mode parallel|sequential|in|loop] "
		"[--table NAME] [--prefix TEXT] [--keys N]\n"
		"               [--parent NAME] [--by-id] [--count-port PORT] "
		"[--cpu-pid PID]... [-v]\n"
		"       -P up to four times: the connections take the ports "
		"in turn\n");
}

static long parse_long(const char *s, const char *what, long min, long max)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "lookups: bad %s '%s' (%ld..%ld)\n", what, s,
			min, max);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'P' },
		{ "user", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'p' },
		{ "database", required_argument, NULL, 'D' },
		{ "lookups", required_argument, NULL, 'n' },
		{ "connections", required_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "table", required_argument, NULL, 't' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "keys", required_argument, NULL, 'k' },
		{ "parent", required_argument, NULL, 'T' },
		{ "by-id", no_argument, NULL, 'I' },
		{ "count-port", required_argument, NULL, 'C' },
		{ "cpu-pid", required_argument, NULL, 'U' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h:P:u:p:D:n:c:m:t:x:k:v",
				longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			opt.host = optarg;
			break;
		case 'P':
			if (opt.n_port == 4) {
				fprintf(stderr, "lookups: at most four -P\n");
				exit(2);
			}
			opt.port[opt.n_port++] = (unsigned)parse_long(optarg,
							"port", 1, 65535);
			break;
		case 'u':
			opt.user = optarg;
			break;
		case 'p':
			opt.password = optarg;
			break;
		case 'D':
			opt.db = optarg;
			break;
		case 'n':
			opt.lookups = parse_long(optarg, "lookup count", 1,
						 10000000);
			break;
		case 'c':
			opt.conns = parse_long(optarg, "connection count", 1,
					       100000);
			break;
		case 'm':
			if (!strcmp(optarg, "parallel"))
				opt.mode = MODE_PARALLEL;
			else if (!strcmp(optarg, "sequential"))
				opt.mode = MODE_SEQUENTIAL;
			else if (!strcmp(optarg, "in"))
				opt.mode = MODE_IN;
			else if (!strcmp(optarg, "loop"))
				opt.mode = MODE_LOOP;
			else {
				fprintf(stderr, "lookups: bad mode '%s'\n",
					optarg);
				exit(2);
			}
			break;
		case 't':
			opt.table = optarg;
			break;
		case 'x':
			opt.prefix = optarg;
			break;
		case 'k':
			opt.keys = parse_long(optarg, "key count", 1, LONG_MAX);
			break;
		case 'T':
			opt.parent = optarg;
			break;
		case 'I':
			opt.by_id = 1;
			break;
		case 'C':
			opt.count_port = (unsigned)parse_long(optarg, "count port",
							      1, 65535);
			break;
		case 'U':
			if (opt.n_cpu_pid == 4) {
				fprintf(stderr, "lookups: at most four --cpu-pid\n");
				exit(2);
			}
			opt.cpu_pid[opt.n_cpu_pid++] =
				parse_long(optarg, "pid", 1, INT_MAX);
			break;
		case 'v':
			opt.verbose = 1;
			break;
		case 'H':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (strchr(opt.table, '`') || strchr(opt.parent, '`')) {
		fprintf(stderr, "lookups: bad table name\n");
		exit(2);
	}
}

static MYSQL *open_conn_to(unsigned port, const char *db)
{
	unsigned timeout = 30;
	MYSQL *m = mysql_init(NULL);

	if (!m)
		return NULL;
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
	mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
	if (!mysql_real_connect(m, opt.host, opt.user, opt.password, db, port,
				NULL, 0)) {
		report("connect to %s:%u: %s", opt.host, port, mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

/* Connection i, to the i-th -P in turn: a page split over several proxies. */
static MYSQL *open_conn(long i)
{
	int n = opt.n_port ? opt.n_port : 1;

	return open_conn_to(opt.port[i % n], opt.db);
}

/* The server's Com_select, read on the --count-port connection; -1 if it
 * cannot be read. */
static long com_select(MYSQL *m)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	long v = -1;

	if (mysql_query(m, "SHOW GLOBAL STATUS LIKE 'Com_select'") ||
	    !(res = mysql_store_result(m)))
		return -1;
	if ((row = mysql_fetch_row(res)) && row[1])
		v = strtol(row[1], NULL, 10);
	mysql_free_result(res);
	return v;
}

/* Key number asked for by lookup i. */
static long key_of(long i)
{
	return i % opt.keys + 1;
}

/* Append <key>, escaped, to buf; returns the new length. */
static size_t put_text(MYSQL *m, char *buf, size_t len, const char *key,
		       size_t n)
{
	return len + mysql_real_escape_string(m, buf + len, key,
					      (unsigned long)n);
}

/* Append PREFIX<k>, escaped, to buf; returns the new length. */
static size_t put_key(MYSQL *m, char *buf, size_t len, long k)
{
	char key[256];
	int n;

	n = snprintf(key, sizeof(key), "%s%ld", opt.prefix, k);
	if (n < 0 || (size_t)n >= sizeof(key)) {
		fprintf(stderr, "lookups: prefix too long\n");
		exit(2);
	}
	return put_text(m, buf, len, key, (size_t)n);
}

/* One single-key lookup of <want>; returns 0 when the right row came
 * back. */
/* Run lookup <sql>: one row, named <want>. */
static int lookup_check(MYSQL *m, const char *sql, size_t len,
			const char *want)
{
	size_t wn = strlen(want);
	MYSQL_RES *res;
	MYSQL_ROW row;
	unsigned long *lens;
	int rc = 0;

	if (mysql_real_query(m, sql, (unsigned long)len)) {
		report("query for '%s': %s", want, mysql_error(m));
		return -1;
	}
	res = mysql_store_result(m);
	if (!res) {
		report("result for '%s': %s", want,
		       mysql_errno(m) ? mysql_error(m) : "no result set");
		return -1;
	}
	if (mysql_num_fields(res) != 3 || mysql_num_rows(res) != 1) {
		report("'%s': %u columns, %llu rows (want 3, 1)", want,
		       mysql_num_fields(res),
		       (unsigned long long)mysql_num_rows(res));
		rc = -1;
	} else {
		row = mysql_fetch_row(res);
		lens = mysql_fetch_lengths(res);
		if (!row || !row[1] || lens[1] != wn ||
		    memcmp(row[1], want, wn)) {
			report("'%s': got name '%s'", want,
			       row && row[1] ? row[1] : "(null)");
			rc = -1;
		}
	}
	mysql_free_result(res);
	return rc;
}

static int lookup_text(MYSQL *m, const char *want)
{
	char sql[1024];
	size_t len, wn = strlen(want);

	if (wn > 250) {
		report("key too long");
		return -1;
	}
	len = (size_t)snprintf(sql, sizeof(sql),
			       "SELECT id, name, owner FROM `%s` WHERE name = '",
			       opt.table);
	len = put_text(m, sql, len, want, wn);
	len += (size_t)snprintf(sql + len, sizeof(sql) - len, "' LIMIT 1");
	return lookup_check(m, sql, len, want);
}

/* The row of integer key <id> (digits, from the server), named <want>. */
static int lookup_id(MYSQL *m, const char *id, const char *want)
{
	char sql[512];
	int len;

	len = snprintf(sql, sizeof(sql),
		       "SELECT id, name, owner FROM `%s` WHERE id = %s",
		       opt.table, id);
	if (len < 0 || (size_t)len >= sizeof(sql) ||
	    strspn(id, "0123456789") != strlen(id)) {
		report("bad id '%s'", id);
		return -1;
	}
	return lookup_check(m, sql, (size_t)len, want);
}

static int lookup(MYSQL *m, long k)
{
	char want[256];

	snprintf(want, sizeof(want), "%s%ld", opt.prefix, k);
	return lookup_text(m, want);
}

/* The loop of an ORM session: a parent query, one lookup per parent row,
 * inside one transaction; returns the error count. */
static long run_loop(MYSQL *m)
{
	char sql[256], want[256];
	MYSQL_RES *res;
	MYSQL_ROW row;
	long errors = 0, rows = 0;

	snprintf(sql, sizeof(sql), "SELECT id, gid FROM `%s` ORDER BY id LIMIT %ld",
		 opt.parent, opt.lookups);
	if (mysql_query(m, sql) || !(res = mysql_store_result(m))) {
		report("parent query: %s", mysql_error(m));
		return 1;
	}
	while ((row = mysql_fetch_row(res))) {
		rows++;
		if (!row[1] || (size_t)snprintf(want, sizeof(want), "%s%s",
						opt.prefix, row[1]) >= sizeof(want)) {
			report("parent row %ld: bad gid", rows);
			errors++;
			continue;
		}
		if (opt.by_id ? !row[0] || lookup_id(m, row[0], want)
			      : lookup_text(m, want))
			errors++;
	}
	mysql_free_result(res);
	if (rows != opt.lookups) {
		report("parent query: %ld rows, want %ld", rows, opt.lookups);
		errors++;
	}
	if (mysql_query(m, "ROLLBACK")) {
		report("ROLLBACK: %s", mysql_error(m));
		errors++;
	}
	return errors;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	long i;

	mysql_thread_init();
	pthread_barrier_wait(&ready_barrier);
	pthread_barrier_wait(&start_barrier);
	w->start = now();
	for (i = 0; i < w->count; i++) {
		if (lookup(w->conn, key_of(w->first + i)))
			w->errors++;
	}
	w->end = now();
	mysql_thread_end();
	return NULL;
}

/* The single IN (...) query over every key; returns the error count. */
static long run_in(MYSQL *m)
{
	long distinct = opt.lookups < opt.keys ? opt.lookups : opt.keys;
	size_t cap = 256 + (size_t)distinct * (2 * (strlen(opt.prefix) + 24) + 4);
	char *sql = malloc(cap);
	unsigned char *seen = calloc((size_t)distinct + 1, 1);
	size_t len, plen = strlen(opt.prefix);
	long i, k, rows = 0, errors = 0;
	MYSQL_RES *res;
	MYSQL_ROW row;
	unsigned long *lens;
	char *end = NULL;

	if (!sql || !seen) {
		fprintf(stderr, "lookups: out of memory\n");
		exit(2);
	}
	len = (size_t)snprintf(sql, cap,
			       "SELECT id, name, owner FROM `%s` WHERE name IN (",
			       opt.table);
	for (i = 0; i < distinct; i++) {
		if (i)
			sql[len++] = ',';
		sql[len++] = '\'';
		len = put_key(m, sql, len, key_of(i));
		sql[len++] = '\'';
	}
	sql[len++] = ')';
	sql[len] = '\0';

	if (mysql_real_query(m, sql, (unsigned long)len)) {
		report("IN query: %s", mysql_error(m));
		errors = 1;
		goto out;
	}
	res = mysql_store_result(m);
	if (!res) {
		report("IN result: %s",
		       mysql_errno(m) ? mysql_error(m) : "no result set");
		errors = 1;
		goto out;
	}
	while ((row = mysql_fetch_row(res))) {
		lens = mysql_fetch_lengths(res);
		rows++;
		k = 0;
		if (row[1] && lens[1] > plen && !memcmp(row[1], opt.prefix, plen))
			k = strtol(row[1] + plen, &end, 10);
		if (k < 1 || k > distinct || *end || seen[k]) {
			report("IN query: unexpected row '%s'",
			       row[1] ? row[1] : "(null)");
			errors++;
			continue;
		}
		seen[k] = 1;
	}
	if (rows != distinct) {
		report("IN query: %ld rows, want %ld", rows, distinct);
		errors++;
	}
	mysql_free_result(res);
out:
	free(seen);
	free(sql);
	return errors;
}

int main(int argc, char **argv)
{
	struct worker *w;
	pthread_attr_t attr;
	MYSQL *counter = NULL;
	long nconn, i, errors = 0, per, extra, next, sel0 = -1, sel1 = -1;
	double t0, t1;
	struct cpu_sample cpu0, cpu1;
	const char *mode_name;

	parse_args(argc, argv);
	if (mysql_library_init(0, NULL, NULL)) {
		fprintf(stderr, "lookups: cannot initialise the client library\n");
		return 2;
	}

	switch (opt.mode) {
	case MODE_PARALLEL:
		mode_name = "parallel";
		nconn = opt.conns < opt.lookups ? opt.conns : opt.lookups;
		break;
	case MODE_SEQUENTIAL:
		mode_name = "sequential";
		nconn = 1;
		break;
	case MODE_LOOP:
		mode_name = "loop";
		nconn = 1;
		break;
	default:
		mode_name = "in";
		nconn = 1;
		break;
	}

	w = calloc((size_t)nconn, sizeof(*w));
	if (!w) {
		fprintf(stderr, "lookups: out of memory\n");
		return 2;
	}

	/* Open every connection before the clock starts. */
	for (i = 0; i < nconn; i++) {
		w[i].conn = open_conn(i);
		if (!w[i].conn) {
			fprintf(stderr, "lookups: opened %ld of %ld connections\n",
				i, nconn);
			while (i-- > 0)
				mysql_close(w[i].conn);
			free(w);
			printf("mode=%s conns=%ld lookups=%ld seconds=0 errors=1\n",
			       mode_name, nconn, opt.lookups);
			return 1;
		}
	}

	/* The server's statements during the page alone, not the logins'
	 * (a proxy may read each new session at login) */
	if (opt.count_port) {
		counter = open_conn_to(opt.count_port, NULL);
		if (counter)
			sel0 = com_select(counter);
	}

	if (opt.mode == MODE_SEQUENTIAL) {
		cpu_start(&cpu0);
		t0 = now();
		for (i = 0; i < opt.lookups; i++)
			if (lookup(w[0].conn, key_of(i)))
				errors++;
		t1 = now();
	} else if (opt.mode == MODE_LOOP) {
		/* as ORMs do at connect: the first read opens a transaction */
		if (mysql_query(w[0].conn, "SET autocommit = 0")) {
			report("SET autocommit = 0: %s", mysql_error(w[0].conn));
			return 1;
		}
		cpu_start(&cpu0);
		t0 = now();
		errors = run_loop(w[0].conn);
		t1 = now();
	} else if (opt.mode == MODE_IN) {
		cpu_start(&cpu0);
		t0 = now();
		errors = run_in(w[0].conn);
		t1 = now();
	} else {
		/* Contiguous shares, the first (lookups % nconn) one larger. */
		per = opt.lookups / nconn;
		extra = opt.lookups % nconn;
		next = 0;
		for (i = 0; i < nconn; i++) {
			w[i].first = next;
			w[i].count = per + (i < extra);
			next += w[i].count;
		}
		if (pthread_barrier_init(&start_barrier, NULL,
					 (unsigned)nconn + 1) ||
		    pthread_barrier_init(&ready_barrier, NULL,
					 (unsigned)nconn + 1)) {
			fprintf(stderr, "lookups: pthread_barrier_init failed\n");
			return 2;
		}
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		for (i = 0; i < nconn; i++) {
			if (pthread_create(&w[i].tid, &attr, worker_main, &w[i])) {
				fprintf(stderr,
					"lookups: cannot start thread %ld\n", i);
				return 2;
			}
		}
		pthread_attr_destroy(&attr);
		/* every worker set up: not the threads' start counted */
		pthread_barrier_wait(&ready_barrier);
		cpu_start(&cpu0);
		/*
		 * The page time runs from the first worker leaving the
		 * barrier to the last one finishing: with many threads on few
		 * CPUs this thread may not run again until the work is done,
		 * so it cannot read the clock itself.
		 */
		pthread_barrier_wait(&start_barrier);
		for (i = 0; i < nconn; i++) {
			pthread_join(w[i].tid, NULL);
			errors += w[i].errors;
		}
		t0 = w[0].start;
		t1 = w[0].end;
		for (i = 1; i < nconn; i++) {
			if (w[i].start < t0)
				t0 = w[i].start;
			if (w[i].end > t1)
				t1 = w[i].end;
		}
		pthread_barrier_destroy(&start_barrier);
		pthread_barrier_destroy(&ready_barrier);
	}
	cpu_stop(&cpu1);
	if (counter) {
		sel1 = com_select(counter);
		mysql_close(counter);
	}

	for (i = 0; i < nconn; i++)
		mysql_close(w[i].conn);
	free(w);
	mysql_library_end();

	/* a count or a CPU time that could not be read is an error too */
	if (opt.count_port && (sel0 < 0 || sel1 < sel0))
		errors++;
	for (i = 0; i < opt.n_cpu_pid; i++) {
		if (cpu0.pid[i] < 0 || cpu1.pid[i] < cpu0.pid[i]) {
			report("no CPU time of pid %ld", opt.cpu_pid[i]);
			errors++;
		}
	}
	printf("mode=%s conns=%ld lookups=%ld seconds=%.6f errors=%ld",
	       mode_name, nconn, opt.lookups, t1 - t0, errors);
	if (opt.count_port && sel0 >= 0 && sel1 >= sel0)
		printf(" page_com_select=%ld", sel1 - sel0);
	printf(" client_cpu_us=%.0f", cpu1.self - cpu0.self);
	for (i = 0; i < opt.n_cpu_pid; i++) {
		if (cpu0.pid[i] >= 0 && cpu1.pid[i] >= cpu0.pid[i])
			printf(" cpu_us_%ld=%.0f", opt.cpu_pid[i],
			       cpu1.pid[i] - cpu0.pid[i]);
	}
	printf("\n");
	return errors ? 1 : 0;
}
