/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * admin.c: the admin console (SHOW, SET, RELOAD, SHUTDOWN answered as
 * MySQL result sets). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "backend.h"
#include "client.h"
#include "prefetch.h"

/* ---- result-set writer ---- */

/* Column definition constants (mysql_com.h values). */
#define ADMIN_TYPE_LONGLONG   8
#define ADMIN_TYPE_VAR_STRING 253
#define ADMIN_FLAG_NOT_NULL   0x0001
#define ADMIN_FLAG_UNSIGNED   0x0020
#define ADMIN_FLAG_BINARY     0x0080
#define ADMIN_FLAG_NUM	      0x8000
#define ADMIN_CS_UTF8	      33
#define ADMIN_CS_BINARY	      63

enum admin_col_type { ADMIN_TEXT, ADMIN_NUM };

struct admin_col {
	const char *name;
	enum admin_col_type type;
};

/*
 * One result set in flight.  Text protocol without CLIENT_DEPRECATE_EOF,
 * which client.c never negotiates:
 *
 *   [count][coldef]...[EOF][row]...[EOF]
 *
 * A write failure is sticky; admin_rs_end() turns it into a closed client.
 */
struct admin_rs {
	struct client *c;
	const struct admin_col *cols;
	unsigned ncols;
	struct pktbuf pb;
	bool failed;
};

static void admin_rs_send(struct admin_rs *rs)
{
	if (rs->pb.failed || !client_write(rs->c, rs->pb.buf, rs->pb.len))
		rs->failed = true;
	pktbuf_reset(&rs->pb);
}

/* Send the column count, the <ncols> definitions of <cols> and the EOF
 * that ends them.  <cols> must outlive the result set. */
static void admin_rs_begin(struct admin_rs *rs, struct client *c,
			   const struct admin_col *cols, unsigned ncols)
{
	unsigned i;

	rs->c = c;
	rs->cols = cols;
	rs->ncols = ncols;
	rs->failed = false;
	pktbuf_init(&rs->pb);

	pktbuf_put_lenenc(&rs->pb, ncols);
	admin_rs_send(rs);
	for (i = 0; i < ncols; i++) {
		struct proto_coldef cd;
		size_t nlen = strlen(cols[i].name);

		memset(&cd, 0, sizeof(cd));
		cd.catalog = (const uint8_t *)"def";
		cd.catalog_len = 3;
		cd.schema = cd.table = cd.org_table = (const uint8_t *)"";
		cd.name = cd.org_name = (const uint8_t *)cols[i].name;
		cd.name_len = cd.org_name_len = nlen;
		if (cols[i].type == ADMIN_NUM) {
			cd.charset = ADMIN_CS_BINARY;
			cd.length = 20;
			cd.type = ADMIN_TYPE_LONGLONG;
			cd.flags = ADMIN_FLAG_NOT_NULL | ADMIN_FLAG_UNSIGNED |
				   ADMIN_FLAG_BINARY | ADMIN_FLAG_NUM;
		} else {
			cd.charset = ADMIN_CS_UTF8;
			cd.length = 255 * 3;
			cd.type = ADMIN_TYPE_VAR_STRING;
		}
		proto_build_coldef(&rs->pb, &cd);
		admin_rs_send(rs);
	}
	if (!proto_send_eof(bufferevent_get_output(c->bev), &c->seq, 0,
			    ST_AUTOCOMMIT))
		rs->failed = true;
}

/*
 * One row.  The variable arguments follow the column types: a
 * `const char *` (NULL for SQL NULL) for ADMIN_TEXT, a uint64_t for
 * ADMIN_NUM.  Callers cast numbers to uint64_t explicitly.
 */
static void admin_rs_row(struct admin_rs *rs, ...)
{
	char num[24];
	va_list ap;
	unsigned i;

	va_start(ap, rs);
	for (i = 0; i < rs->ncols; i++) {
		if (rs->cols[i].type == ADMIN_NUM) {
			int n = snprintf(num, sizeof(num), "%" PRIu64,
					 va_arg(ap, uint64_t));
			pktbuf_put_lenenc_str(&rs->pb, num, (size_t)n);
		} else {
			const char *s = va_arg(ap, const char *);

			if (s)
				pktbuf_put_lenenc_str(&rs->pb, s, strlen(s));
			else
				pktbuf_put_u8(&rs->pb, 0xFB);
		}
	}
	va_end(ap);
	admin_rs_send(rs);
}

/* Final EOF; on any earlier failure the client is closed instead, since a
 * half-written result set cannot be taken back. */
static void admin_rs_end(struct admin_rs *rs)
{
	struct client *c = rs->c;

	pktbuf_free(&rs->pb);
	if (!rs->failed &&
	    !proto_send_eof(bufferevent_get_output(c->bev), &c->seq, 0,
			    ST_AUTOCOMMIT))
		rs->failed = true;
	if (rs->failed) {
		IB_STAT_INC(oom_errors);
		client_close(c, "out of memory writing an admin result");
	}
}

/* ---- shared numbers ---- */

/* <num> per second over a period of <usec>, rounded. */
static uint64_t admin_rate(uint64_t num, uint64_t usec)
{
	if (usec == 0)
		return 0;
	return (uint64_t)((double)num * 1e6 / (double)usec + 0.5);
}

static uint64_t admin_avg(double sum, uint64_t count)
{
	return count ? (uint64_t)(sum / (double)count + 0.5) : 0;
}

/*
 * Quantile <q> of <h> estimated the Prometheus way: find the bucket that
 * holds the q-th sample and interpolate linearly inside it.  Samples in
 * the +Inf bucket report the highest finite bound.
 */
static uint64_t admin_quantile(const struct stats_hist *h,
			       const double *bounds, unsigned nbounds, double q)
{
	double rank, cum = 0, lo = 0;
	unsigned i;

	if (h->count == 0)
		return 0;
	rank = q * (double)h->count;
	for (i = 0; i < nbounds; i++) {
		double in = (double)h->buckets[i];

		if (cum + in >= rank && in > 0)
			return (uint64_t)(lo + (bounds[i] - lo) *
						       ((rank - cum) / in) + 0.5);
		cum += in;
		lo = bounds[i];
	}
	return (uint64_t)bounds[nbounds - 1];
}

/* ---- SHOW commands ---- */

static void admin_show_stats(struct client *c, const char *args)
{
	static const struct admin_col cols[] = {
		{ "name", ADMIN_TEXT },
		{ "value", ADMIN_NUM },
		{ "description", ADMIN_TEXT },
	};
	const struct stats_period *per = stats_last_period();
	const struct ib_stats *d = &per->delta;
	struct admin_rs rs;

	(void)args;
	admin_rs_begin(&rs, c, cols, 3);
#define IB_STATS_ROW(name, desc) \
	admin_rs_row(&rs, #name, (uint64_t)ib_loop->stats.name, desc);
	IB_STATS(IB_STATS_ROW)
#undef IB_STATS_ROW
	admin_rs_row(&rs, "client_connections", (uint64_t)ib_loop->n_clients,
		     "client connections open now (admin sessions included)");
	admin_rs_row(&rs, "backend_connections",
		     (uint64_t)stats_backend_connections(),
		     "backend connections open now");
	admin_rs_row(&rs, "uptime_seconds", stats_uptime_s(),
		     "seconds since start");
	admin_rs_row(&rs, "stats_period_seconds", per->usec / 1000000,
		     "length of the last complete stats_period the averages below cover");
	admin_rs_row(&rs, "queries_per_second",
		     admin_rate(d->queries_total, per->usec),
		     "commands received per second");
	admin_rs_row(&rs, "batched_per_second",
		     admin_rate(d->queries_batched, per->usec),
		     "lookups answered from a coalesced query per second");
	admin_rs_row(&rs, "batches_per_second",
		     admin_rate(d->batches, per->usec),
		     "coalesced queries sent per second");
	admin_rs_row(&rs, "backend_statements_per_second",
		     admin_rate(d->backend_statements, per->usec),
		     "statements sent to the backend per second");
	admin_rs_row(&rs, "avg_query_latency_us",
		     admin_avg(per->lat_sum, per->lat_count),
		     "mean client-seen command latency, microseconds");
	admin_rs_row(&rs, "avg_batch_keys",
		     admin_avg((double)d->batch_keys, d->batches),
		     "mean keys per coalesced query");
	admin_rs_row(&rs, "bytes_in_per_second",
		     admin_rate(d->bytes_in, per->usec),
		     "bytes received from clients per second");
	admin_rs_row(&rs, "bytes_out_per_second",
		     admin_rate(d->bytes_out, per->usec),
		     "bytes sent to clients per second");
	admin_rs_end(&rs);
}

static void admin_batch_row(void *arg, const struct stats_shape *s)
{
	struct admin_rs *rs = arg;

	admin_rs_row(rs, s->text, s->lookups, s->batches,
		     s->batches ? (s->keys + s->batches / 2) / s->batches : 0,
		     s->max_keys, s->fallbacks,
		     admin_quantile(&s->latency, stats_lat_bounds,
				    STATS_LAT_BUCKETS - 1, 0.5),
		     admin_quantile(&s->latency, stats_lat_bounds,
				    STATS_LAT_BUCKETS - 1, 0.99),
		     s->backend_us / 1000);
}

static void admin_show_batches(struct client *c, const char *args)
{
	static const struct admin_col cols[] = {
		{ "shape", ADMIN_TEXT },	{ "lookups", ADMIN_NUM },
		{ "batches", ADMIN_NUM },	{ "avg_keys", ADMIN_NUM },
		{ "max_keys", ADMIN_NUM },	{ "fallbacks", ADMIN_NUM },
		{ "p50_us", ADMIN_NUM },	{ "p99_us", ADMIN_NUM },
		{ "backend_ms", ADMIN_NUM },
	};
	struct admin_rs rs;

	(void)args;
	admin_rs_begin(&rs, c, cols, 9);
	stats_shape_foreach(admin_batch_row, &rs);
	admin_rs_end(&rs);
}

static void admin_prefetch_row(void *arg, const struct prefetch_stat *s)
{
	admin_rs_row(arg, s->text, s->predictions, s->keys, s->hits, s->misses,
		     s->wasted);
}

/* SHOW PREFETCH: per lookup shape, what prefetching it did. */
static void admin_show_prefetch(struct client *c, const char *args)
{
	static const struct admin_col cols[] = {
		{ "shape", ADMIN_TEXT },       { "predictions", ADMIN_NUM },
		{ "keys", ADMIN_NUM },	       { "hits", ADMIN_NUM },
		{ "misses", ADMIN_NUM },       { "wasted_keys", ADMIN_NUM },
	};
	struct admin_rs rs;

	(void)args;
	admin_rs_begin(&rs, c, cols, 6);
	prefetch_stat_foreach(admin_prefetch_row, &rs);
	admin_rs_end(&rs);
}

static void admin_show_clients(struct client *c, const char *args)
{
	static const struct admin_col cols[] = {
		{ "id", ADMIN_NUM },	{ "peer", ADMIN_TEXT },
		{ "user", ADMIN_TEXT }, { "db", ADMIN_TEXT },
		{ "state", ADMIN_TEXT }, { "queries", ADMIN_NUM },
		{ "unbatched", ADMIN_TEXT },
	};
	struct admin_rs rs;
	struct client *o;
	const char *why;

	(void)args;
	admin_rs_begin(&rs, c, cols, 7);
	TAILQ_FOREACH(o, &ib_loop->clients, entry) {
		if (o->is_admin)
			continue;
		/* why its lookups run alone now, if they do */
		why = session_why(&o->sess);
		admin_rs_row(&rs, (uint64_t)o->id, o->peer, o->user, o->db,
			     client_state_name(o->state), o->queries,
			     why ? why : "");
	}
	admin_rs_end(&rs);
}

/* SHOW SERVERS (also SHOW BACKENDS): every backend session, each the
 * session of one client. */
static void admin_show_servers(struct client *c, const char *args)
{
	static const struct admin_col cols[] = {
		{ "kind", ADMIN_TEXT },	 { "id", ADMIN_NUM },
		{ "state", ADMIN_TEXT }, { "user", ADMIN_TEXT },
		{ "detail", ADMIN_TEXT },
	};
	struct admin_rs rs;
	struct backend *be;
	char detail[128];

	(void)args;
	admin_rs_begin(&rs, c, cols, 5);
	TAILQ_FOREACH(be, &ib_loop->backends, entry) {
		snprintf(detail, sizeof(detail), "client=%u",
			 be->client ? be->client->id : 0);
		admin_rs_row(&rs, "backend", (uint64_t)be->thread_id,
			     backend_state_name(be->state), be->user, detail);
	}
	admin_rs_end(&rs);
}

static void admin_config_row(void *arg, const char *key, const char *value,
			     const char *def, bool changeable,
			     const char *desc)
{
	admin_rs_row(arg, key, value, def, changeable ? "yes" : "no", desc);
}

static void admin_show_config(struct client *c, const char *args)
{
	static const struct admin_col cols[] = {
		{ "key", ADMIN_TEXT },	      { "value", ADMIN_TEXT },
		{ "default", ADMIN_TEXT },    { "changeable", ADMIN_TEXT },
		{ "description", ADMIN_TEXT },
	};
	struct admin_rs rs;

	(void)args;
	admin_rs_begin(&rs, c, cols, 5);
	cfg_foreach(ib.cfg, admin_config_row, &rs);
	admin_rs_end(&rs);
}

static void admin_show_version(struct client *c, const char *args)
{
	static const struct admin_col cols[] = { { "version", ADMIN_TEXT } };
	struct admin_rs rs;

	(void)args;
	admin_rs_begin(&rs, c, cols, 1);
	admin_rs_row(&rs, "inbatch " IB_VERSION);
	admin_rs_end(&rs);
}

/* The mariadb command-line client asks this when it starts interactively
 * to print its banner. */
static void admin_version_comment(struct client *c, const char *args)
{
	static const struct admin_col cols[] = {
		{ "@@version_comment", ADMIN_TEXT }
	};
	struct admin_rs rs;

	(void)args;
	admin_rs_begin(&rs, c, cols, 1);
	admin_rs_row(&rs, "inbatch admin console");
	admin_rs_end(&rs);
}

/* ---- SET, RELOAD, SHUTDOWN ---- */

/* Session variables that drivers set on connect (pymysql sends
 * SET AUTOCOMMIT = 0); accepted and ignored so they can connect. */
static bool admin_is_session_var(const char *key)
{
	static const char *const vars[] = {
		"autocommit", "names", "character", "character_set_client",
		"character_set_connection", "character_set_results",
		"collation_connection", "sql_mode", "time_zone",
		"session", NULL,
	};
	unsigned i;

	if (key[0] == '@')
		return true;
	for (i = 0; vars[i]; i++)
		if (strcasecmp(key, vars[i]) == 0)
			return true;
	return false;
}

/*
 * SET key = value (spaces around '=' optional).  <args> is the text after
 * "SET", trimmed.  The value may be quoted with ' or "; the quotes are
 * removed, nothing inside is unescaped.  Session variables are accepted
 * without an '=' check so "SET NAMES utf8mb4" passes too.
 */
static void admin_set(struct client *c, const char *args)
{
	char key[64], value[1024], err[256];
	const char *p = args, *k, *v;
	size_t klen, vlen;

	k = p;
	while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '@' ||
		      *p == '.'))
		p++;
	klen = (size_t)(p - k);
	if (klen == 0 || klen >= sizeof(key)) {
		client_send_err(c, 1064, "42000",
				"Syntax: SET key = value");
		return;
	}
	memcpy(key, k, klen);
	key[klen] = '\0';
	while (isspace((unsigned char)*p))
		p++;
	if (admin_is_session_var(key)) {
		client_send_ok(c, 0, NULL);
		return;
	}
	if (*p != '=') {
		client_send_err(c, 1064, "42000",
				"Syntax: SET key = value");
		return;
	}
	p++;
	while (isspace((unsigned char)*p))
		p++;
	v = p;
	vlen = strlen(v);
	if (vlen >= 2 && (v[0] == '\'' || v[0] == '"') && v[vlen - 1] == v[0]) {
		v++;
		vlen -= 2;
	}
	if (vlen >= sizeof(value)) {
		client_send_err(c, 1231, "42000", "Value for %s too long", key);
		return;
	}
	memcpy(value, v, vlen);
	value[vlen] = '\0';
	if (!cfg_set(ib.cfg, key, value, err, sizeof(err))) {
		client_send_err(c, 1231, "42000", "%s", err);
		return;
	}
	log_info("admin: %s set to '%s'", key, value);
	client_send_ok(c, 0, NULL);
}

static void admin_reload(struct client *c, const char *args)
{
	(void)args;
	log_info("admin: reload requested");
	main_request_reload();
	client_send_ok(c, 0, NULL);
}

static void admin_shutdown(struct client *c, const char *args)
{
	(void)args;
	log_info("admin: shutdown requested");
	client_send_ok(c, 0, NULL);
	/* Close this session first so the shutdown does not also send it
	 * the out-of-band "Server shutdown in progress" error. */
	client_close(c, "admin shutdown");
	main_request_shutdown();
}

/* ---- dispatch ---- */

typedef void (*admin_fn)(struct client *c, const char *args);

/*
 * Commands by their leading words (pgbouncer show_map).  <exact> entries
 * must match the whole statement; the others take arguments after a
 * space.  Longer prefixes first where one prefixes another.
 */
static const struct admin_cmd {
	const char *name;
	bool exact;
	admin_fn fn;
} admin_cmds[] = {
	{ "show stats", true, admin_show_stats },
	{ "show batches", true, admin_show_batches },
	{ "show prefetch", true, admin_show_prefetch },
	{ "show clients", true, admin_show_clients },
	{ "show servers", true, admin_show_servers },
	{ "show backends", true, admin_show_servers },
	{ "show config", true, admin_show_config },
	{ "show version", true, admin_show_version },
	{ "select @@version_comment limit 1", true, admin_version_comment },
	{ "set", false, admin_set },
	{ "reload", true, admin_reload },
	{ "shutdown", true, admin_shutdown },
	{ NULL, false, NULL },
};

/*
 * Does <sql> start with the words of <name>?  Runs of white space in
 * <sql> match one space in <name>; case is ignored.  Returns the rest of
 * <sql> (after the white space that follows) or NULL.
 */
static const char *admin_match(const char *sql, const char *name, bool exact)
{
	const char *s = sql, *n = name;

	while (*n) {
		if (*n == ' ') {
			if (!isspace((unsigned char)*s))
				return NULL;
			while (isspace((unsigned char)*s))
				s++;
			n++;
			continue;
		}
		if (tolower((unsigned char)*s) != tolower((unsigned char)*n))
			return NULL;
		s++;
		n++;
	}
	if (exact)
		return *s == '\0' ? s : NULL;
	if (*s != '\0' && !isspace((unsigned char)*s))
		return NULL;
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static void admin_query(struct client *c, const uint8_t *p, size_t len)
{
	const struct admin_cmd *cmd;
	const char *args;
	char *sql;
	size_t a = 0, b = len;

	/* trim surrounding white space and trailing semicolons */
	while (a < b && isspace(p[a]))
		a++;
	while (b > a && (isspace(p[b - 1]) || p[b - 1] == ';'))
		b--;
	sql = malloc(b - a + 1);
	if (!sql) {
		IB_STAT_INC(oom_errors);
		client_send_err(c, 1041, "HY000", "Out of memory");
		client_close(c, "out of memory");
		return;
	}
	memcpy(sql, p + a, b - a);
	sql[b - a] = '\0';
	/* an embedded NUL would hide the rest of the statement */
	if (memchr(sql, '\0', b - a) != NULL)
		sql[0] = '\0';

	for (cmd = admin_cmds; cmd->name; cmd++) {
		args = admin_match(sql, cmd->name, cmd->exact);
		if (args) {
			log_debug("admin %u: %s", c->id, sql);
			cmd->fn(c, args);
			free(sql);
			return;
		}
	}
	client_send_err(c, 1064, "42000",
			"Unknown admin command, try SHOW STATS|BATCHES|PREFETCH|CLIENTS|"
			"SERVERS|CONFIG|VERSION, SET, RELOAD, SHUTDOWN");
	free(sql);
}

void admin_command(struct client *c, const uint8_t *p, size_t len)
{
	if (len == 0) {
		client_send_err(c, 1047, "08S01", "Unknown command");
		return;
	}
	switch (p[0]) {
	case COM_PING:
	case COM_INIT_DB:
		client_send_ok(c, 0, NULL);
		break;
	case COM_QUERY:
		admin_query(c, p + 1, len - 1);
		break;
	default:
		client_send_err(c, 1047, "08S01", "Unknown command");
		break;
	}
}
