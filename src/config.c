/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * config.c: one table describes every [inbatch] key; defaults, parsing,
 * validation, SHOW CONFIG, SET, --print-config and the docs all read it. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "util.h"

#define CFG_NO_RELOAD	0x01	/* read at startup only; reload keeps old */
#define CFG_RUNTIME	0x02	/* admin SET may change it on the live port */
#define CFG_REQUIRED	0x04	/* no default: the file must set it */
#define CFG_SECRET	0x08	/* masked in SHOW CONFIG */

enum cfg_type {
	CFG_T_STR,
	CFG_T_PATH,	/* a string naming a file that must be readable */
	CFG_T_ADDR,	/* host:port for util_parse_addr(), or "" */
	CFG_T_INT,
	CFG_T_BOOL,
	CFG_T_ENUM,
	CFG_T_LEVEL,	/* log level name */
};

struct cfg_param {
	const char *name;
	size_t off;			/* field in struct ib_config */
	enum cfg_type type;
	const char *unit;		/* CFG_T_INT: "seconds", ... or NULL */
	const char *def;		/* NULL only with CFG_REQUIRED */
	const char *example;		/* sample value for required keys */
	long long min, max;		/* CFG_T_INT bounds */
	const char *const *names;	/* CFG_T_ENUM: index is the value */
	unsigned flags;
	const char *desc;		/* one sentence, shown everywhere */
};

/* offsetof() that refuses to compile when the field is not of type <T>, so
 * a table entry cannot write an int into a char * or the like. */
#define CFG_FIELD(f, T)                                                   \
	(offsetof(struct ib_config, f) +                                  \
	 0 * sizeof(char[__builtin_types_compatible_p(                    \
				 __typeof__(((struct ib_config *)0)->f), T) ? \
				 1 :                                      \
				 -1]))

#define CFG_STR(f, def, fl, desc) \
	{ #f, CFG_FIELD(f, char *), CFG_T_STR, NULL, def, NULL, 0, 0, NULL, fl, desc }
#define CFG_PATH(f, def, fl, desc) \
	{ #f, CFG_FIELD(f, char *), CFG_T_PATH, NULL, def, NULL, 0, 0, NULL, fl, desc }
#define CFG_ADDR(f, def, fl, desc) \
	{ #f, CFG_FIELD(f, char *), CFG_T_ADDR, NULL, def, NULL, 0, 0, NULL, fl, desc }
#define CFG_ADDR_REQ(f, ex, fl, desc) \
	{ #f, CFG_FIELD(f, char *), CFG_T_ADDR, NULL, NULL, ex, 0, 0, NULL, (fl) | CFG_REQUIRED, desc }
#define CFG_INT(f, def, lo, hi, fl, desc) \
	{ #f, CFG_FIELD(f, int), CFG_T_INT, NULL, def, NULL, lo, hi, NULL, fl, desc }
#define CFG_SECS(f, def, lo, hi, fl, desc) \
	{ #f, CFG_FIELD(f, int), CFG_T_INT, "seconds", def, NULL, lo, hi, NULL, fl, desc }
#define CFG_USEC(f, def, lo, hi, fl, desc) \
	{ #f, CFG_FIELD(f, int), CFG_T_INT, "microseconds", def, NULL, lo, hi, NULL, fl, desc }
#define CFG_MSEC(f, def, lo, hi, fl, desc) \
	{ #f, CFG_FIELD(f, int), CFG_T_INT, "milliseconds", def, NULL, lo, hi, NULL, fl, desc }
#define CFG_BYTES(f, def, lo, hi, fl, desc) \
	{ #f, CFG_FIELD(f, int), CFG_T_INT, "bytes", def, NULL, lo, hi, NULL, fl, desc }
#define CFG_BOOL(f, def, fl, desc) \
	{ #f, CFG_FIELD(f, bool), CFG_T_BOOL, NULL, def, NULL, 0, 0, NULL, fl, desc }
#define CFG_ENUM(f, names, def, fl, desc) \
	{ #f, CFG_FIELD(f, int), CFG_T_ENUM, NULL, def, NULL, 0, 0, names, fl, desc }
#define CFG_LEVEL(f, def, fl, desc) \
	{ #f, CFG_FIELD(f, int), CFG_T_LEVEL, NULL, def, NULL, 0, 0, NULL, fl, desc }

static const char *const cfg_batch_modes[] = {
	[CFG_BATCH_OFF] = "off",
	[CFG_BATCH_WINDOW] = "window",
	[CFG_BATCH_ADAPTIVE] = "adaptive",
	NULL,
};

static const char *const cfg_tls_modes[] = {
	[CFG_TLS_DISABLE] = "disable",
	[CFG_TLS_ALLOW] = "allow",
	[CFG_TLS_REQUIRE] = "require",
	NULL,
};

static const char *const cfg_backend_tls_modes[] = {
	[CFG_BTLS_DISABLE] = "disable",
	[CFG_BTLS_REQUIRE] = "require",
	[CFG_BTLS_VERIFY_CA] = "verify_ca",
	NULL,
};

static const struct cfg_param cfg_params[] = {	/* alphabetical: SHOW CONFIG order */
	CFG_ADDR(admin_listen, "127.0.0.1:6034", CFG_NO_RELOAD,
		 "Address of the MySQL-protocol admin console; empty disables it, and so does an empty admin_password.  It takes TLS as the client port does, following tls_mode."),
	CFG_STR(admin_password, "", CFG_SECRET,
		"Password of the admin console account; while it is empty the admin console does not start."),
	CFG_STR(admin_user, "admin", 0,
		"User name of the admin console account."),
	CFG_ADDR_REQ(backend, "127.0.0.1:3306", CFG_NO_RELOAD,
		     "Address of the MariaDB or MySQL server that queries are sent to."),
	CFG_SECS(backend_connect_timeout, "5", 1, 3600, 0,
		 "Time allowed to connect and log in to the backend."),
	CFG_ENUM(backend_tls, cfg_backend_tls_modes, "disable", CFG_NO_RELOAD,
		 "Whether backend connections use TLS and whether the server certificate is checked against backend_tls_ca."),
	CFG_PATH(backend_tls_ca, "", 0,
		 "PEM file of the CA certificates that backend certificates are verified with."),
	CFG_BOOL(batch_autocommit_off, "off", CFG_RUNTIME,
		 "Whether a client with autocommit off and isolation READ COMMITTED may be batched for the read that opens its transaction; its session then opens the transaction with its next statement that reads a table, so @@in_transaction reads 0 until then. Never under REPEATABLE READ or SERIALIZABLE."),
	CFG_INT(batch_busy_keys, "16", 0, 1000, CFG_RUNTIME,
		"Adaptive mode: a gathering batch that reaches this many lookups (and at least 3), and as many as the one statement of its shape in flight holds, goes at the end of the wakeup without waiting for it (not beside two), so that the server runs two while the next batch gathers. Pages of lookups finish sooner where the server has CPU to spare; where it has none, the smaller batches cost it more per lookup. 0: a batch waits for the statement in flight."),
	CFG_INT(batch_max_groups, "4096", 16, 1000000, CFG_RUNTIME,
		"Most lookup shapes (per session context) kept with their batching state; the least recently used idle one is dropped for a new one."),
	CFG_INT(batch_max_keys, "256", 1, 1000, CFG_RUNTIME,
		"Most lookup keys combined into one batch query."),
	CFG_ENUM(batch_mode, cfg_batch_modes, "adaptive", CFG_RUNTIME,
		 "How lookups are batched: adaptive sends a lookup at once when none of its shape is in flight and gathers the rest until the one in flight returns, batch_max_keys wait, the oldest waited batch_window_us or, beside one in flight, as many as batch_busy_keys says; window always gathers for batch_window_us or batch_max_keys; off passes every query through."),
	CFG_USEC(batch_window_us, "500", 0, 1000000, CFG_RUNTIME,
		 "Longest time a lookup waits for others to join its batch."),
	CFG_SECS(client_idle_timeout, "0", 0, 86400, CFG_RUNTIME,
		 "Close client connections idle for this long; 0 disables the limit."),
	CFG_BOOL(compression, "on", CFG_RUNTIME,
		 "Whether clients are offered the compressed protocol (CLIENT_COMPRESS) when the backend offers it. A client that chooses it gets it on its backend session too, and the proxy inflates and deflates both legs, which costs proxy CPU; off offers it to new clients no more."),
	CFG_SECS(handshake_timeout, "10", 1, 3600, CFG_RUNTIME,
		 "Time a client has to complete the handshake and log in."),
	CFG_ADDR(listen, "127.0.0.1:6033", CFG_NO_RELOAD,
		 "Address that applications connect to."),
	CFG_STR(log_file, "", 0,
		"File the log is appended to, reopened on reload; empty logs to standard error."),
	CFG_LEVEL(log_level, "info", CFG_RUNTIME,
		  "Least severe level that is logged."),
	CFG_INT(max_admin_conn, "16", 1, 10000, CFG_RUNTIME,
		"Most connections open at once on the admin console, logged in or not, and, counted apart, on the metrics port; further ones are refused."),
	CFG_INT(max_client_conn, "1000", 1, 100000, CFG_RUNTIME,
		"Most client connections open at once; further ones are refused."),
	CFG_BYTES(max_packet_size, "67108864", 1024, 1073741824, CFG_RUNTIME,
		  "Largest client packet accepted; a larger one closes the connection."),
	CFG_INT(max_pending_logins, "64", 1, 100000, CFG_RUNTIME,
		"Most clients that hold a backend connection before they have logged in; further ones wait, without a greeting, until one logs in or leaves, still under handshake_timeout. Keep it well below the backend's max_connections, so that clients that never log in cannot exhaust it."),
	CFG_ADDR(metrics_listen, "", CFG_NO_RELOAD,
		 "Address of the Prometheus HTTP metrics endpoint; empty disables it."),
	CFG_SECS(net_read_timeout, "30", 1, 86400, CFG_RUNTIME,
		 "Time a client may leave a command packet incomplete, or a LOAD DATA LOCAL file unsent, between two reads before it is disconnected, as MariaDB's net_read_timeout."),
	CFG_BOOL(prefetch, "on", CFG_RUNTIME,
		 "Predict the keys of a loop of lookups inside one session from the rows it was sent, and fetch them in one query on the session's own connection (a keys join, or an IN list of integer keys); only inside a REPEATABLE READ transaction (exact), or as prefetch_autocommit_max_age_ms allows."),
	CFG_MSEC(prefetch_autocommit_max_age_ms, "0", 0, 60000, CFG_RUNTIME,
		 "Outside a transaction under autocommit, answer predicted lookups from a prefetch query at most this old. Not exact: such an answer may miss commits made since the query ran. 0 turns it off."),
	CFG_INT(prefetch_max_keys, "256", 1, 1000, CFG_RUNTIME,
		"Most predicted keys fetched by one prefetch query."),
	CFG_BYTES(prefetch_memory, "262144", 4096, 67108864, CFG_RUNTIME,
		  "Per session: most bytes kept of recently sent rows (to predict keys from) and of prefetched answers."),
	CFG_INT(prefetch_min_matches, "2", 1, 100, CFG_RUNTIME,
		"Consecutive lookups of one shape whose keys must follow one remembered column (or an integer progression) before the rest is prefetched."),
	CFG_SECS(query_timeout, "30", 0, 86400, CFG_RUNTIME,
		 "How long the lookups of a batch wait for the session that runs it; then they run alone. 0 disables the limit."),
	CFG_SECS(stats_period, "10", 1, 3600, 0,
		 "Interval over which the rates and averages in SHOW STATS are computed."),
	CFG_PATH(tls_cert, "", 0,
		 "PEM certificate chain presented to clients that use TLS."),
	CFG_PATH(tls_key, "", 0,
		 "PEM private key of tls_cert."),
	CFG_ENUM(tls_mode, cfg_tls_modes, "disable", CFG_NO_RELOAD,
		 "Whether clients may use TLS (allow) or must use it (require); needs tls_cert and tls_key."),
	{ NULL, 0, 0, NULL, NULL, NULL, 0, 0, NULL, 0, NULL },
};

#define CFG_NPARAMS (sizeof(cfg_params) / sizeof(cfg_params[0]) - 1)

/* A parsed value before it is stored; <s> is malloc'd. */
union cfg_val {
	char *s;
	long long i;
	bool b;
};

/* ---- values: parse, store, render ---- */

static const struct cfg_param *cfg_lookup(const char *key)
{
	for (const struct cfg_param *p = cfg_params; p->name != NULL; p++)
		if (strcasecmp(p->name, key) == 0)
			return p;
	return NULL;
}

static void *cfg_ptr(const struct ib_config *cfg, const struct cfg_param *p)
{
	return (char *)cfg + p->off;
}

/* Parse <text> for <p> into <out>.  On failure write a message that names
 * the key into <err> and return false.  Owns nothing; *out->s is new. */
static bool cfg_parse_value(const struct cfg_param *p, const char *text,
			    union cfg_val *out, char *err, size_t errlen)
{
	int level;

	switch (p->type) {
	case CFG_T_ADDR:
		if (*text == '\0' && (p->flags & CFG_REQUIRED)) {
			snprintf(err, errlen, "%s: must not be empty", p->name);
			return false;
		}
		if (*text != '\0' && !util_parse_addr(text, NULL, NULL)) {
			snprintf(err, errlen,
				 "%s: '%s' is not an address: use host:port or "
				 "[v6]:port with a numeric host or localhost",
				 p->name, text);
			return false;
		}
		goto dup;
	case CFG_T_PATH:
		if (*text != '\0' && access(text, R_OK) != 0) {
			snprintf(err, errlen, "%s: cannot read '%s': %s",
				 p->name, text, strerror(errno));
			return false;
		}
		goto dup;
	case CFG_T_STR:
	dup:
		out->s = strdup(text);
		if (out->s == NULL) {
			snprintf(err, errlen, "%s: out of memory", p->name);
			return false;
		}
		return true;
	case CFG_T_INT:
		if (!util_parse_int(text, LLONG_MIN, LLONG_MAX, &out->i)) {
			snprintf(err, errlen, "%s: '%s' is not an integer",
				 p->name, text);
			return false;
		}
		if (out->i < p->min || out->i > p->max) {
			snprintf(err, errlen,
				 "%s: %s is out of range, must be %lld to %lld",
				 p->name, text, p->min, p->max);
			return false;
		}
		return true;
	case CFG_T_BOOL:
		if (!util_parse_bool(text, &out->b)) {
			snprintf(err, errlen,
				 "%s: '%s' is not a boolean: use on or off",
				 p->name, text);
			return false;
		}
		return true;
	case CFG_T_ENUM:
		for (int i = 0; p->names[i] != NULL; i++) {
			if (strcasecmp(text, p->names[i]) == 0) {
				out->i = i;
				return true;
			}
		}
		{
			char list[128] = "";

			for (int i = 0; p->names[i] != NULL; i++) {
				if (i > 0)
					strncat(list, ", ", sizeof(list) - strlen(list) - 1);
				strncat(list, p->names[i], sizeof(list) - strlen(list) - 1);
			}
			snprintf(err, errlen, "%s: '%s' is not one of %s",
				 p->name, text, list);
		}
		return false;
	case CFG_T_LEVEL:
		level = log_level_parse(text);
		if (level < 0) {
			snprintf(err, errlen,
				 "%s: '%s' is not one of error, warn, info, debug",
				 p->name, text);
			return false;
		}
		out->i = level;
		return true;
	}
	snprintf(err, errlen, "%s: bad table entry", p->name);
	return false;
}

/* Store <v> into <cfg>, freeing the old string.  Takes ownership of v->s. */
static void cfg_store(struct ib_config *cfg, const struct cfg_param *p,
		      union cfg_val *v)
{
	void *field = cfg_ptr(cfg, p);

	switch (p->type) {
	case CFG_T_STR:
	case CFG_T_PATH:
	case CFG_T_ADDR:
		free(*(char **)field);
		*(char **)field = v->s;
		v->s = NULL;
		break;
	case CFG_T_BOOL:
		*(bool *)field = v->b;
		break;
	case CFG_T_INT:
	case CFG_T_ENUM:
	case CFG_T_LEVEL:
		*(int *)field = (int)v->i;
		break;
	}
}

static bool cfg_is_string(const struct cfg_param *p)
{
	return p->type == CFG_T_STR || p->type == CFG_T_PATH ||
	       p->type == CFG_T_ADDR;
}

/* Render the current value of <p> as it would be written in the file. */
static void cfg_render(const struct ib_config *cfg, const struct cfg_param *p,
		       char *buf, size_t size)
{
	const void *field = cfg_ptr(cfg, p);
	int i;

	switch (p->type) {
	case CFG_T_STR:
	case CFG_T_PATH:
	case CFG_T_ADDR:
		snprintf(buf, size, "%s",
			 *(char *const *)field ? *(char *const *)field : "");
		return;
	case CFG_T_BOOL:
		snprintf(buf, size, "%s", *(const bool *)field ? "on" : "off");
		return;
	case CFG_T_INT:
		snprintf(buf, size, "%d", *(const int *)field);
		return;
	case CFG_T_ENUM:
		i = *(const int *)field;
		snprintf(buf, size, "%s", p->names[i]);
		return;
	case CFG_T_LEVEL:
		snprintf(buf, size, "%s", log_level_name(*(const int *)field));
		return;
	}
	snprintf(buf, size, "?");
}

/* ---- loading ---- */

enum cfg_section { SEC_NONE, SEC_MAIN, SEC_USERS, SEC_SKIP };

struct cfg_parser {
	const char *file;
	struct ib_config *cfg;
	enum cfg_section section;
	int main_line;			/* line of the [inbatch] header */
	int param_line[CFG_NPARAMS];	/* where each key was set; 0 = default */
	int *user_line;			/* parallel to cfg->users */
	int users_line;			/* line of the [users] header */
	size_t users_cap;
	char *errs;			/* "FILE:LINE: msg\n" ... */
	size_t errs_len, errs_cap;
	bool errs_oom;
};

static void cfg_error(struct cfg_parser *ps, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Append one "FILE:LINE: message" line to the collected errors.  If memory
 * runs out, remember that and report it in place of the rest. */
static void cfg_error(struct cfg_parser *ps, int line, const char *fmt, ...)
{
	char msg[1024];
	char head[64];
	va_list ap;
	size_t need;
	int hl;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		hl = snprintf(head, sizeof(head), ":%d: ", line);
	else
		hl = snprintf(head, sizeof(head), ": ");
	need = strlen(ps->file) + (size_t)hl + strlen(msg) + 2;
	if (ps->errs_len + need > ps->errs_cap) {
		size_t cap = (ps->errs_cap + need) * 2;
		char *n = realloc(ps->errs, cap);

		if (n == NULL) {
			ps->errs_oom = true;
			return;
		}
		ps->errs = n;
		ps->errs_cap = cap;
	}
	ps->errs_len += (size_t)sprintf(ps->errs + ps->errs_len, "%s%s%s\n",
					ps->file, head, msg);
}

static char *cfg_skip_ws(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static void cfg_rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* Extract the value after '=' in place.  A double-quoted value keeps
 * everything up to the closing quote (\" and \\ are the only escapes); an
 * unquoted one ends at ';' or '#' that starts it or follows a blank, so
 * "pa;ss" is a value but "secret ; note" is "secret" plus a comment. */
static bool cfg_split_value(char *s, char **out, char *err, size_t errlen)
{
	char *p;

	s = cfg_skip_ws(s);
	if (*s == '"') {
		char *w = s, *r = s + 1;

		for (;;) {
			if (*r == '\0') {
				snprintf(err, errlen, "unterminated quoted value");
				return false;
			}
			if (*r == '"')
				break;
			if (*r == '\\') {
				r++;
				if (*r != '"' && *r != '\\') {
					snprintf(err, errlen,
						 "unknown escape '\\%c' in quoted value "
						 "(only \\\" and \\\\ are allowed)",
						 *r ? *r : ' ');
					return false;
				}
			}
			*w++ = *r++;
		}
		*w = '\0';
		r = cfg_skip_ws(r + 1);
		if (*r != '\0' && *r != ';' && *r != '#') {
			snprintf(err, errlen, "unexpected text after closing quote");
			return false;
		}
		*out = s;
		return true;
	}
	for (p = s; *p != '\0'; p++)
		if ((*p == ';' || *p == '#') &&
		    (p == s || isspace((unsigned char)p[-1])))
			break;
	*p = '\0';
	cfg_rtrim(s);
	*out = s;
	return true;
}

static void cfg_set_main(struct cfg_parser *ps, int line, const char *key,
			 const char *text)
{
	const struct cfg_param *p = cfg_lookup(key);
	union cfg_val v;
	char err[512];
	size_t i;

	if (p == NULL) {
		cfg_error(ps, line, "unknown key '%s' in [inbatch]", key);
		return;
	}
	i = (size_t)(p - cfg_params);
	if (ps->param_line[i] != 0) {
		cfg_error(ps, line, "%s: duplicate key, first set on line %d",
			  p->name, ps->param_line[i]);
		return;
	}
	ps->param_line[i] = line;
	if (!cfg_parse_value(p, text, &v, err, sizeof(err))) {
		cfg_error(ps, line, "%s", err);
		return;
	}
	cfg_store(ps->cfg, p, &v);
}

static void cfg_add_user(struct cfg_parser *ps, int line, const char *name,
			 const char *password)
{
	struct ib_config *cfg = ps->cfg;
	struct cfg_user *u;

	for (size_t i = 0; i < cfg->n_users; i++) {
		if (strcmp(cfg->users[i].name, name) == 0) {
			cfg_error(ps, line,
				  "duplicate user '%s', first set on line %d",
				  name, ps->user_line[i]);
			return;
		}
	}
	if (cfg->n_users == ps->users_cap) {
		size_t cap = ps->users_cap ? ps->users_cap * 2 : 8;
		struct cfg_user *nu = realloc(cfg->users, cap * sizeof(*nu));
		int *nl;

		if (nu == NULL)
			goto oom;
		cfg->users = nu;
		nl = realloc(ps->user_line, cap * sizeof(*nl));
		if (nl == NULL)
			goto oom;
		ps->user_line = nl;
		ps->users_cap = cap;
	}
	u = &cfg->users[cfg->n_users];
	u->name = strdup(name);
	u->password = strdup(password);
	if (u->name == NULL || u->password == NULL) {
		free(u->name);
		free(u->password);
		goto oom;
	}
	ps->user_line[cfg->n_users++] = line;
	return;
oom:
	cfg_error(ps, line, "out of memory");
}

/* Handle one line (without its newline), <lineno> counting from 1. */
static void cfg_parse_line(struct cfg_parser *ps, char *line, int lineno)
{
	char err[512];
	char *s, *eq, *key, *val;

	cfg_rtrim(line);
	s = cfg_skip_ws(line);
	if (*s == '\0' || *s == ';' || *s == '#')
		return;

	if (*s == '[') {
		char *end = strchr(s, ']'), *name, *rest;

		if (end == NULL) {
			cfg_error(ps, lineno, "missing ']' in section header");
			ps->section = SEC_SKIP;
			return;
		}
		*end = '\0';
		name = cfg_skip_ws(s + 1);
		cfg_rtrim(name);
		rest = cfg_skip_ws(end + 1);
		if (*rest != '\0' && *rest != ';' && *rest != '#')
			cfg_error(ps, lineno,
				  "unexpected text after section header [%s]", name);
		if (strcmp(name, "inbatch") == 0) {
			ps->section = SEC_MAIN;
			if (ps->main_line == 0)
				ps->main_line = lineno;
		} else if (strcmp(name, "users") == 0) {
			ps->section = SEC_USERS;
			if (!ps->cfg->has_users)
				ps->users_line = lineno;
			ps->cfg->has_users = true;
		} else {
			/* Its keys are not reported one by one: the header
			 * is the mistake. */
			cfg_error(ps, lineno,
				  "unknown section [%s]; expected [inbatch] or [users]",
				  name);
			ps->section = SEC_SKIP;
		}
		return;
	}

	eq = strchr(s, '=');
	if (eq == NULL) {
		cfg_error(ps, lineno, "expected 'key = value', got '%s'", s);
		return;
	}
	*eq = '\0';
	key = s;
	cfg_rtrim(key);
	if (*key == '\0') {
		cfg_error(ps, lineno, "missing key before '='");
		return;
	}
	if (!cfg_split_value(eq + 1, &val, err, sizeof(err))) {
		cfg_error(ps, lineno, "%s: %s", key, err);
		return;
	}

	switch (ps->section) {
	case SEC_NONE:
		cfg_error(ps, lineno,
			  "'%s' is outside of any section; put it under [inbatch]",
			  key);
		break;
	case SEC_MAIN:
		cfg_set_main(ps, lineno, key, val);
		break;
	case SEC_USERS:
		cfg_add_user(ps, lineno, key, val);
		break;
	case SEC_SKIP:
		break;
	}
}

static bool cfg_addr_eq(const char *a, const char *b)
{
	struct sockaddr_storage sa, sb;
	socklen_t la, lb;

	if (*a == '\0' || *b == '\0')
		return false;
	if (!util_parse_addr(a, &sa, &la) || !util_parse_addr(b, &sb, &lb))
		return false;
	return la == lb && memcmp(&sa, &sb, la) == 0;
}

/* Rules that involve more than one key.  Each error points at the line of
 * the key that asked for the other. */
static void cfg_validate(struct cfg_parser *ps)
{
	struct ib_config *cfg = ps->cfg;
	const char *addr_keys[] = { "backend", "listen", "admin_listen",
				    "metrics_listen" };
	const size_t n_addr = sizeof(addr_keys) / sizeof(addr_keys[0]);

#define LINE(k) (ps->param_line[cfg_lookup(k) - cfg_params])

	for (const struct cfg_param *p = cfg_params; p->name != NULL; p++)
		if ((p->flags & CFG_REQUIRED) &&
		    ps->param_line[p - cfg_params] == 0)
			cfg_error(ps, ps->main_line,
				  "%s: required key is missing from [inbatch]",
				  p->name);

	if (cfg->tls_mode != CFG_TLS_DISABLE &&
	    (*cfg->tls_cert == '\0' || *cfg->tls_key == '\0'))
		cfg_error(ps, LINE("tls_mode"),
			  "tls_mode: %s needs both tls_cert and tls_key",
			  cfg_tls_modes[cfg->tls_mode]);
	if ((*cfg->tls_cert == '\0') != (*cfg->tls_key == '\0'))
		cfg_error(ps, LINE(*cfg->tls_cert ? "tls_cert" : "tls_key"),
			  "tls_cert and tls_key must be set together");
	if (cfg->backend_tls == CFG_BTLS_VERIFY_CA &&
	    *cfg->backend_tls_ca == '\0')
		cfg_error(ps, LINE("backend_tls"),
			  "backend_tls: verify_ca needs backend_tls_ca");
	if (*cfg->admin_listen != '\0' && *cfg->admin_user == '\0')
		cfg_error(ps, LINE("admin_user"),
			  "admin_user: must not be empty while admin_listen is set");

	/* Two listeners on one address fail at bind(); backend on listen
	 * would send every query back to ourselves. */
	for (size_t i = 0; i < n_addr; i++) {
		for (size_t j = i + 1; j < n_addr; j++) {
			const struct cfg_param *a = cfg_lookup(addr_keys[i]);
			const struct cfg_param *b = cfg_lookup(addr_keys[j]);
			const char *va = *(char **)cfg_ptr(cfg, a);
			const char *vb = *(char **)cfg_ptr(cfg, b);

			if (va != NULL && vb != NULL && cfg_addr_eq(va, vb))
				cfg_error(ps, LINE(b->name) ? LINE(b->name) : LINE(a->name),
					  "%s and %s are both %s", a->name,
					  b->name, vb);
		}
	}
#undef LINE

	/* an allow-list of nobody is more likely a mistake than a wish */
	if (cfg->has_users && cfg->n_users == 0)
		cfg_error(ps, ps->users_line,
			  "[users] lists no account; remove the section to let "
			  "every account the backend accepts log in");
}

struct ib_config *cfg_load(const char *path, char **errors)
{
	struct cfg_parser ps;
	struct ib_config *cfg;
	char *line = NULL, err[512];
	size_t cap = 0;
	int lineno = 0;
	FILE *f;

	memset(&ps, 0, sizeof(ps));
	ps.file = path;
	if (errors != NULL)
		*errors = NULL;

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		cfg_error(&ps, 0, "out of memory");
		goto out;
	}
	for (const struct cfg_param *p = cfg_params; p->name != NULL; p++) {
		union cfg_val v;

		if (p->def == NULL)
			continue;
		if (!cfg_parse_value(p, p->def, &v, err, sizeof(err))) {
			cfg_error(&ps, 0, "default of %s", err);
			continue;
		}
		cfg_store(cfg, p, &v);
	}
	ps.cfg = cfg;

	f = fopen(path, "r");
	if (f == NULL) {
		cfg_error(&ps, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	while (getline(&line, &cap, f) >= 0) {
		char *s = line;

		lineno++;
		/* Editors on some systems start the file with a UTF-8 BOM. */
		if (lineno == 1 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3;
		cfg_parse_line(&ps, s, lineno);
	}
	if (ferror(f))
		cfg_error(&ps, lineno, "read error: %s", strerror(errno));
	fclose(f);
	free(line);

	cfg_validate(&ps);
	cfg->file = realpath(path, NULL);
	if (cfg->file == NULL)
		cfg->file = strdup(path);
	if (cfg->file == NULL)
		cfg_error(&ps, 0, "out of memory");
out:
	free(ps.user_line);
	if (ps.errs_len == 0 && !ps.errs_oom)
		return cfg;
	cfg_free(cfg);
	if (ps.errs_oom)
		cfg_error(&ps, 0, "out of memory; more errors not shown");
	if (errors != NULL)
		*errors = ps.errs;
	else
		free(ps.errs);
	return NULL;
}

void cfg_free(struct ib_config *cfg)
{
	if (cfg == NULL)
		return;
	for (const struct cfg_param *p = cfg_params; p->name != NULL; p++)
		if (cfg_is_string(p))
			free(*(char **)cfg_ptr(cfg, p));
	for (size_t i = 0; i < cfg->n_users; i++) {
		free(cfg->users[i].name);
		free(cfg->users[i].password);
	}
	free(cfg->users);
	free(cfg->file);
	free(cfg);
}

/* Linear: the user list is short and is read once per login. */
const struct cfg_user *cfg_match_user(const struct ib_config *cfg,
				      const char *name, size_t name_len)
{
	for (size_t i = 0; i < cfg->n_users; i++) {
		const struct cfg_user *u = &cfg->users[i];

		if (strlen(u->name) == name_len &&
		    memcmp(u->name, name, name_len) == 0)
			return u;
	}
	for (size_t i = 0; i < cfg->n_users; i++) {
		const struct cfg_user *u = &cfg->users[i];

		if (strchr(u->name, '*') &&
		    util_glob_match(u->name, name, name_len))
			return u;
	}
	return NULL;
}

/* ---- runtime: SET, SHOW CONFIG, reload ---- */

bool cfg_set(struct ib_config *cfg, const char *key, const char *value,
	     char *err, size_t errlen)
{
	const struct cfg_param *p = cfg_lookup(key);
	union cfg_val v;

	if (p == NULL) {
		snprintf(err, errlen, "unknown key '%s'", key);
		return false;
	}
	if (p->flags & CFG_NO_RELOAD) {
		snprintf(err, errlen,
			 "%s cannot be changed while running: edit the file and restart",
			 p->name);
		return false;
	}
	if (!(p->flags & CFG_RUNTIME)) {
		snprintf(err, errlen,
			 "%s cannot be changed with SET: edit the file and RELOAD",
			 p->name);
		return false;
	}
	/* No runtime key takes part in cfg_validate()'s cross-key rules, so
	 * checking the value alone is enough. */
	if (!cfg_parse_value(p, value, &v, err, errlen))
		return false;
	cfg_store(cfg, p, &v);
	if (p->type == CFG_T_LEVEL)
		log_set_level(cfg->log_level);
	return true;
}

void cfg_foreach(const struct ib_config *cfg, cfg_row_fn fn, void *arg)
{
	char buf[1024];

	for (const struct cfg_param *p = cfg_params; p->name != NULL; p++) {
		cfg_render(cfg, p, buf, sizeof(buf));
		if ((p->flags & CFG_SECRET) && buf[0] != '\0')
			strcpy(buf, "********");
		fn(arg, p->name, buf, p->def ? p->def : "",
		   (p->flags & CFG_RUNTIME) != 0, p->desc);
	}
}

void cfg_keep_no_reload(const struct ib_config *old, struct ib_config *newc)
{
	char ov[1024], nv[1024];

	for (const struct cfg_param *p = cfg_params; p->name != NULL; p++) {
		union cfg_val v;
		char err[256];

		if (!(p->flags & CFG_NO_RELOAD))
			continue;
		cfg_render(old, p, ov, sizeof(ov));
		cfg_render(newc, p, nv, sizeof(nv));
		if (strcmp(ov, nv) == 0)
			continue;
		log_warn("%s changed from '%s' to '%s' but needs restart; keeping '%s'",
			 p->name, ov, nv, ov);
		if (cfg_is_string(p)) {
			v.s = strdup(ov);
			if (v.s == NULL) {
				log_error("%s: out of memory keeping the old value",
					  p->name);
				continue;
			}
			cfg_store(newc, p, &v);
		} else if (cfg_parse_value(p, ov, &v, err, sizeof(err))) {
			cfg_store(newc, p, &v);
		}
	}
}

/* ---- output: --print-config, sample file, man page ---- */

/* Write <s> as an INI value, quoted when it would not survive unquoted. */
static void cfg_put_value(FILE *out, const char *s)
{
	size_t n = strlen(s);
	bool quote = n > 0 && (isspace((unsigned char)s[0]) ||
			       isspace((unsigned char)s[n - 1]) ||
			       strpbrk(s, ";#\"\\") != NULL);

	if (!quote) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void cfg_print(const struct ib_config *cfg, FILE *out)
{
	char buf[1024];

	fprintf(out, "; effective configuration%s%s\n",
		cfg->file ? " of " : "", cfg->file ? cfg->file : "");
	fputs("[inbatch]\n", out);
	for (const struct cfg_param *p = cfg_params; p->name != NULL; p++) {
		cfg_render(cfg, p, buf, sizeof(buf));
		fprintf(out, "; %s\n%s =%s", p->desc, p->name, *buf ? " " : "");
		cfg_put_value(out, buf);
		fputc('\n', out);
	}
	if (cfg->has_users)
		fputs("\n[users]\n", out);
	for (size_t i = 0; i < cfg->n_users; i++) {
		fprintf(out, "%s =%s", cfg->users[i].name,
			*cfg->users[i].password ? " " : "");
		cfg_put_value(out, cfg->users[i].password);
		fputc('\n', out);
	}
}

/* "integer from 1 to 1000", "on or off", ... for docs and the sample. */
static void cfg_type_text(const struct cfg_param *p, char *buf, size_t size)
{
	size_t n;

	switch (p->type) {
	case CFG_T_STR:
		snprintf(buf, size, "string");
		return;
	case CFG_T_PATH:
		snprintf(buf, size, "file path");
		return;
	case CFG_T_ADDR:
		snprintf(buf, size, "address, host:port or [v6]:port");
		return;
	case CFG_T_INT:
		snprintf(buf, size, "%s from %lld to %lld",
			 p->unit ? p->unit : "integer", p->min, p->max);
		return;
	case CFG_T_BOOL:
		snprintf(buf, size, "on or off");
		return;
	case CFG_T_ENUM:
	case CFG_T_LEVEL:
		n = (size_t)snprintf(buf, size, "one of");
		for (int i = 0; n < size; i++) {
			const char *name = p->type == CFG_T_ENUM ?
						   p->names[i] :
						   (i <= IB_LOG_DEBUG ? log_level_name(i) : NULL);

			if (name == NULL)
				break;
			n += (size_t)snprintf(buf + n, size - n, "%s %s",
					      i ? "," : "", name);
		}
		return;
	}
	snprintf(buf, size, "?");
}

/* Write <text> as "; " comment lines of at most about 76 columns. */
static void cfg_put_comment(FILE *out, const char *text)
{
	while (*text != '\0') {
		size_t n = strlen(text), cut = n;

		if (n > 74) {
			cut = 74;
			while (cut > 0 && text[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = n;
		}
		fprintf(out, "; %.*s\n", (int)cut, text);
		text += cut;
		while (*text == ' ')
			text++;
	}
}

void cfg_print_sample(FILE *out)
{
	char type[256];

	fputs("; inbatch.conf: configuration of inbatch, the MySQL proxy that batches\n"
	      "; N+1 lookups.  See inbatch.conf(5).  Every key is listed with its\n"
	      "; default; remove the leading ';' to change one.\n"
	      "\n[inbatch]\n", out);
	for (const struct cfg_param *p = cfg_params; p->name != NULL; p++) {
		cfg_type_text(p, type, sizeof(type));
		fputc('\n', out);
		cfg_put_comment(out, p->desc);
		fprintf(out, "; (%s%s)\n", type,
			(p->flags & CFG_NO_RELOAD) ? "; needs restart" :
			(p->flags & CFG_RUNTIME)   ? "; SET changes it at runtime" :
						     "");
		if (p->def == NULL)
			fprintf(out, "%s = %s\n", p->name, p->example);
		else
			fprintf(out, ";%s =%s%s\n", p->name, *p->def ? " " : "",
				p->def);
	}
	fputs("\n; Optional.  Without [users], every account the backend accepts may\n"
	      "; log in: inbatch relays the authentication exchange and the server\n"
	      "; checks the password.  With it, only the names listed (or matched by\n"
	      "; a pattern, '*' = any characters) may; a non-empty password is an\n"
	      "; extra check inbatch makes on mysql_native_password logins, and any\n"
	      "; other login of that name is refused.\n"
	      ";[users]\n"
	      ";app = secret\n"
	      ";report_* =\n", out);
}

/* Write <s> as roff text lines of at most about 78 bytes (mandoc's style
 * check), breaking at blanks; backslashes escaped, no line starting as a
 * control line. */
static void cfg_put_roff(FILE *out, const char *s)
{
	size_t col = 0;

	while (*s != '\0') {
		size_t w = strcspn(s, " ");

		if (col > 0 && col + 1 + w > 78) {
			fputc('\n', out);
			col = 0;
		} else if (col > 0) {
			fputc(' ', out);
			col++;
		}
		if (col == 0 && (*s == '.' || *s == '\''))
			fputs("\\&", out);
		for (size_t i = 0; i < w; i++) {
			if (s[i] == '\\')
				fputs("\\e", out);
			else
				fputc(s[i], out);
		}
		col += w;
		s += w;
		while (*s == ' ')
			s++;
	}
	fputc('\n', out);
}

void cfg_print_docs(FILE *out)
{
	char type[256], line[512];

	for (const struct cfg_param *p = cfg_params; p->name != NULL; p++) {
		cfg_type_text(p, type, sizeof(type));
		type[0] = (char)toupper((unsigned char)type[0]);
		snprintf(line, sizeof(line), "%s; %s%s%s%s.", type,
			 p->def == NULL   ? "required, no default" :
			 *p->def == '\0' ? "default empty" :
					    "default ",
			 p->def ? p->def : "",
			 (p->flags & CFG_NO_RELOAD) ? "; needs a restart to change" : "",
			 (p->flags & CFG_RUNTIME) ? "; SET changes it at runtime" : "");
		fprintf(out, ".TP\n.B %s\n", p->name);
		cfg_put_roff(out, p->desc);
		cfg_put_roff(out, line);
	}
}
