/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * test_config.c: config parsing, validation, SET and reload rules, the
 * docs generated from the table, and the log and util helpers. */
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "tap.h"
#include "util.h"

static char tmpdir[] = "/tmp/test_config.XXXXXX";
static char conf_path[512];

/* Write <body> to the scratch config file; return its path. */
static const char *write_file(const char *name, const char *body)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(2);
	}
	fputs(body, f);
	fclose(f);
	return path;
}

/* Load <body>; on failure the errors are left in *errs (freed by the next
 * call). */
static char *last_errs;
static struct ib_config *load(const char *body)
{
	struct ib_config *cfg;

	free(last_errs);
	last_errs = NULL;
	snprintf(conf_path, sizeof(conf_path), "%s",
		 write_file("t.conf", body));
	cfg = cfg_load(conf_path, &last_errs);
	return cfg;
}

/* True if the last errors contain "<conf_path>:<line>: <text>..." */
static bool err_has(int line, const char *text)
{
	char want[1024];

	if (last_errs == NULL)
		return false;
	if (line > 0)
		snprintf(want, sizeof(want), "%s:%d: %s", conf_path, line, text);
	else
		snprintf(want, sizeof(want), "%s: %s", conf_path, text);
	return strstr(last_errs, want) != NULL;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

#define BASE "[inbatch]\nbackend = 127.0.0.1:3306\n[users]\napp = secret\n"

static void test_defaults(void)
{
	struct ib_config *cfg = load(BASE);

	ok(cfg != NULL, "minimal config loads");
	if (cfg == NULL) {
		diag("%s", last_errs);
		return;
	}
	ok(strcmp(cfg->listen, "127.0.0.1:6033") == 0, "listen default");
	ok(strcmp(cfg->admin_listen, "127.0.0.1:6034") == 0, "admin_listen default");
	ok(strcmp(cfg->admin_user, "admin") == 0 &&
		   strcmp(cfg->admin_password, "") == 0,
	   "admin account default");
	ok(strcmp(cfg->backend, "127.0.0.1:3306") == 0, "backend set");
	ok(cfg->backend_connect_timeout == 5, "backend_connect_timeout default");
	ok(cfg->backend_tls == CFG_BTLS_DISABLE, "backend_tls default");
	ok(cfg->batch_autocommit_off == false, "batch_autocommit_off default");
	ok(cfg->batch_max_keys == 256, "batch_max_keys default");
	ok(cfg->batch_mode == CFG_BATCH_ADAPTIVE, "batch_mode default");
	ok(cfg->batch_window_us == 500, "batch_window_us default");
	ok(cfg->client_idle_timeout == 0, "client_idle_timeout default");
	ok(cfg->handshake_timeout == 10, "handshake_timeout default");
	ok(strcmp(cfg->log_file, "") == 0, "log_file default");
	ok(cfg->log_level == IB_LOG_INFO, "log_level default");
	ok(cfg->max_admin_conn == 16, "max_admin_conn default");
	ok(cfg->max_client_conn == 1000, "max_client_conn default");
	ok(cfg->max_packet_size == 67108864, "max_packet_size default");
	ok(cfg->max_pending_logins == 64, "max_pending_logins default");
	ok(strcmp(cfg->metrics_listen, "") == 0, "metrics_listen default");
	ok(cfg->net_read_timeout == 30, "net_read_timeout default");
	ok(cfg->query_timeout == 30, "query_timeout default");
	ok(cfg->stats_period == 10, "stats_period default");
	ok(cfg->tls_mode == CFG_TLS_DISABLE && *cfg->tls_cert == '\0' &&
		   *cfg->tls_key == '\0' && *cfg->backend_tls_ca == '\0',
	   "tls defaults");
	ok(cfg->file != NULL && cfg->file[0] == '/', "file is absolute: %s",
	   cfg->file ? cfg->file : "(null)");
	ok(cfg->n_users == 1 && strcmp(cfg->users[0].name, "app") == 0 &&
		   strcmp(cfg->users[0].password, "secret") == 0,
	   "one user");
	cfg_free(cfg);
}

static void test_types(void)
{
	char body[2048];
	struct ib_config *cfg;
	char ca[512];

	snprintf(ca, sizeof(ca), "%s", write_file("ca.pem", "x\n"));

	snprintf(body, sizeof(body),
		 "# leading comment\n"
		 "[inbatch]\n"
		 "listen = [::1]:7000\n"
		 "admin_listen = localhost:7001\n"
		 "metrics_listen = 0.0.0.0:9100\n"
		 "backend = 10.0.0.5:3307\n"
		 "batch_autocommit_off = Yes\n"
		 "batch_mode = WINDOW\n"
		 "backend_tls_ca = %s\n"
		 "log_level = debug\n"
		 "batch_window_us = 0\n"
		 "max_client_conn = +3\n"
		 "client_idle_timeout = 60\n"
		 "admin_password = \"  sp ; # \\\" \\\\ \"\n"
		 "   Admin_User   =   bob   \n"
		 "[users]\n"
		 "app = secret\n", ca);
	cfg = load(body);
	ok(cfg != NULL, "config with every type loads");
	if (cfg == NULL) {
		diag("%s", last_errs);
		return;
	}
	ok(strcmp(cfg->listen, "[::1]:7000") == 0, "v6 address");
	ok(strcmp(cfg->admin_listen, "localhost:7001") == 0, "localhost address");
	ok(strcmp(cfg->backend, "10.0.0.5:3307") == 0, "backend address");
	ok(cfg->batch_autocommit_off == true, "bool 'Yes'");
	ok(cfg->batch_mode == CFG_BATCH_WINDOW, "enum, any case");
	ok(strcmp(cfg->backend_tls_ca, ca) == 0, "path");
	ok(cfg->log_level == IB_LOG_DEBUG, "log level");
	ok(cfg->batch_window_us == 0, "usec at its minimum");
	ok(cfg->max_client_conn == 3, "int with '+'");
	ok(cfg->client_idle_timeout == 60, "seconds");
	ok(strcmp(cfg->admin_password, "  sp ; # \" \\ ") == 0,
	   "quoted value keeps blanks, ';', '#', escapes: [%s]",
	   cfg->admin_password);
	ok(strcmp(cfg->admin_user, "bob") == 0, "key case and blanks ignored");
	cfg_free(cfg);
}

struct bound {
	const char *key;
	long long min, max;
};

static void test_bounds(void)
{
	static const struct bound bounds[] = {
		{ "backend_connect_timeout", 1, 3600 },
		{ "batch_busy_keys", 0, 1000 },
		{ "batch_max_keys", 1, 1000 },
		{ "batch_window_us", 0, 1000000 },
		{ "client_idle_timeout", 0, 86400 },
		{ "handshake_timeout", 1, 3600 },
		{ "max_client_conn", 1, 100000 },
		{ "max_packet_size", 1024, 1073741824 },
		{ "query_timeout", 0, 86400 },
		{ "stats_period", 1, 3600 },
	};

	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		const struct bound *b = &bounds[i];
		long long vals[4] = { b->min, b->max, b->min - 1, b->max + 1 };
		char body[512], want[128];

		for (int j = 0; j < 4; j++) {
			struct ib_config *cfg;

			snprintf(body, sizeof(body),
				 "[inbatch]\nbackend = 127.0.0.1:3306\n%s = %lld\n"
				 "[users]\napp =\n",
				 b->key, vals[j]);
			cfg = load(body);
			if (j < 2) {
				ok(cfg != NULL,
				   "%s = %lld accepted", b->key, vals[j]);
			} else {
				snprintf(want, sizeof(want), "%s: %lld is out of range",
					 b->key, vals[j]);
				ok(cfg == NULL && err_has(3, want),
				   "%s = %lld rejected at line 3", b->key, vals[j]);
			}
			cfg_free(cfg);
		}
	}
}

static void test_bad_values(void)
{
	static const struct {
		const char *line;
		const char *err;
	} bad[] = {
		{ "max_client_conn = 8x", "max_client_conn: '8x' is not an integer" },
		{ "max_client_conn =", "max_client_conn: '' is not an integer" },
		{ "max_client_conn = 99999999999999999999", "max_client_conn: '99999999999999999999' is not an integer" },
		{ "batch_autocommit_off = maybe", "batch_autocommit_off: 'maybe' is not a boolean" },
		{ "batch_mode = fast", "batch_mode: 'fast' is not one of off, window, adaptive" },
		{ "log_level = verbose", "log_level: 'verbose' is not one of" },
		{ "listen = nohost:1", "listen: 'nohost:1' is not an address" },
		{ "listen = 127.0.0.1", "listen: '127.0.0.1' is not an address" },
		{ "listen = ::1:80", "listen: '::1:80' is not an address" },
		{ "listen = 127.0.0.1:0", "listen: '127.0.0.1:0' is not an address" },
		{ "listen = 127.0.0.1:65536", "listen: '127.0.0.1:65536' is not an address" },
		{ "listen = [::1]80", "listen: '[::1]80' is not an address" },
		{ "backend =", "backend: must not be empty" },
		{ "tls_cert = /nonexistent/cert.pem", "tls_cert: cannot read '/nonexistent/cert.pem'" },
		{ "admin_user = \"bob", "admin_user: unterminated quoted value" },
		{ "admin_user = \"b\\ob\"", "admin_user: unknown escape '\\o'" },
		{ "admin_user = \"bob\" x", "admin_user: unexpected text after closing quote" },
		{ "just words", "expected 'key = value'" },
		{ " = 5", "missing key before '='" },
		{ "frobnicate = 1", "unknown key 'frobnicate' in [inbatch]" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char body[512];
		struct ib_config *cfg;

		snprintf(body, sizeof(body),
			 "[inbatch]\n; comment\nbackend = 127.0.0.1:3306\n%s\n"
			 "[users]\napp =\n",
			 bad[i].line);
		if (strncmp(bad[i].line, "backend", 7) == 0)
			snprintf(body, sizeof(body),
				 "[inbatch]\n; comment\n\n%s\n[users]\napp =\n",
				 bad[i].line);
		cfg = load(body);
		ok(cfg == NULL && err_has(4, bad[i].err), "rejected at line 4: %s",
		   bad[i].line);
		if (cfg != NULL || !err_has(4, bad[i].err))
			diag("errors: %s", last_errs ? last_errs : "(none)");
		cfg_free(cfg);
	}
}

static void test_structure(void)
{
	struct ib_config *cfg;

	cfg = load("[inbatch]\nbackend = 127.0.0.1:3306\n[pgbouncer]\n"
		   "foo = 1\nbar = 2\n[users]\napp =\n");
	ok(cfg == NULL && err_has(3, "unknown section [pgbouncer]"),
	   "unknown section rejected with its line");
	ok(count_lines(last_errs) == 1,
	   "keys of an unknown section are not reported one by one");

	cfg = load("backend = 127.0.0.1:3306\n[users]\napp =\n");
	ok(cfg == NULL && err_has(1, "'backend' is outside of any section"),
	   "key before any section rejected");

	cfg = load("[inbatch\nbackend = 127.0.0.1:3306\n[users]\napp =\n");
	ok(cfg == NULL && err_has(1, "missing ']'"), "unclosed section header");

	cfg = load("[inbatch] junk\nbackend = 127.0.0.1:3306\n[users]\napp =\n");
	ok(cfg == NULL && err_has(1, "unexpected text after section header"),
	   "text after section header");

	cfg = load("\xef\xbb\xbf[inbatch]\r\nbackend = 127.0.0.1:3306\r\n"
		   "[users]\r\napp = pw\r\n");
	ok(cfg != NULL && strcmp(cfg->users[0].password, "pw") == 0,
	   "BOM and CRLF line ends accepted");
	cfg_free(cfg);

	free(last_errs);
	last_errs = NULL;
	cfg = cfg_load("/nonexistent/inbatch.conf", &last_errs);
	ok(cfg == NULL && last_errs != NULL &&
		   strstr(last_errs, "/nonexistent/inbatch.conf: cannot open") != NULL,
	   "missing file reported with its name");
}

static void test_comments(void)
{
	struct ib_config *cfg = load(
		"[inbatch] ; trailing comment\n"
		"backend = 127.0.0.1:3306 # the server\n"
		"admin_user = bob ; comment\n"
		"admin_password = pa;ss#word\n"
		"log_file = ;nothing\n"
		"  # indented comment\n"
		"[users]\n"
		"app = secret ; comment\n"
		"root =\n"
		"empty2 = \"\"\n"
		"spaced = \" x \"\n");

	ok(cfg != NULL, "comments config loads");
	if (cfg == NULL) {
		diag("%s", last_errs);
		return;
	}
	ok(strcmp(cfg->backend, "127.0.0.1:3306") == 0, "'#' after blank ends value");
	ok(strcmp(cfg->admin_user, "bob") == 0, "';' after blank ends value");
	ok(strcmp(cfg->admin_password, "pa;ss#word") == 0,
	   "';' and '#' inside a word are kept");
	ok(strcmp(cfg->log_file, "") == 0, "comment right after '=' gives empty");
	ok(cfg->n_users == 4, "four users");
	ok(cfg->n_users == 4 && strcmp(cfg->users[0].password, "secret") == 0,
	   "user password before comment");
	ok(cfg->n_users == 4 && strcmp(cfg->users[1].name, "root") == 0 &&
		   strcmp(cfg->users[1].password, "") == 0,
	   "empty password");
	ok(cfg->n_users == 4 && strcmp(cfg->users[2].password, "") == 0,
	   "quoted empty password");
	ok(cfg->n_users == 4 && strcmp(cfg->users[3].password, " x ") == 0,
	   "quoted password keeps blanks");
	cfg_free(cfg);
}

static void test_required_dup_multi(void)
{
	struct ib_config *cfg;

	cfg = load("[inbatch]\nlisten = 127.0.0.1:7000\n[users]\napp =\n");
	ok(cfg == NULL && err_has(1, "backend: required key is missing"),
	   "missing backend reported");

	cfg = load("[inbatch]\nbackend = 127.0.0.1:3306\n");
	ok(cfg != NULL && !cfg->has_users && cfg->n_users == 0,
	   "no [users] section: every account may log in");
	cfg_free(cfg);

	cfg = load("[inbatch]\nbackend = 127.0.0.1:3306\n[users]\n");
	ok(cfg == NULL && err_has(3, "[users] lists no account"),
	   "an empty [users] section is reported at its header");

	cfg = load("[inbatch]\nbackend = 127.0.0.1:3306\nmax_client_conn = 4\n"
		   "max_client_conn = 5\n[users]\napp =\n");
	ok(cfg == NULL &&
		   err_has(4, "max_client_conn: duplicate key, first set on line 3"),
	   "duplicate key reported with both lines");

	cfg = load("[inbatch]\nbackend = 127.0.0.1:3306\n[users]\napp = a\n"
		   "app = b\n");
	ok(cfg == NULL &&
		   err_has(5, "duplicate user 'app', first set on line 4"),
	   "duplicate user reported");

	cfg = load("[inbatch]\n"
		   "max_client_conn = 0\n"
		   "nonsense = 1\n"
		   "batch_mode = sometimes\n"
		   "[other]\n"
		   "[users]\n");
	ok(cfg == NULL, "many problems: load fails");
	ok(err_has(2, "max_client_conn: 0 is out of range"), "error 1 of 6 reported");
	ok(err_has(3, "unknown key 'nonsense'"), "error 2 of 6 reported");
	ok(err_has(4, "batch_mode: 'sometimes'"), "error 3 of 6 reported");
	ok(err_has(5, "unknown section [other]"), "error 4 of 6 reported");
	ok(err_has(1, "backend: required key is missing"), "error 5 of 6 reported");
	ok(err_has(6, "[users] lists no account"), "error 6 of 6 reported");
	ok(count_lines(last_errs) == 6, "exactly 6 error lines (got %d)",
	   count_lines(last_errs));
}

static void test_cross(void)
{
	char body[1024];
	struct ib_config *cfg;
	const char *cert, *key;
	static char certp[512];

	cfg = load("[inbatch]\nbackend = 127.0.0.1:3306\ntls_mode = require\n"
		   "[users]\napp =\n");
	ok(cfg == NULL && err_has(3, "tls_mode: require needs both tls_cert and tls_key"),
	   "tls_mode without cert");

	cfg = load("[inbatch]\nbackend = 127.0.0.1:3306\nbackend_tls = verify_ca\n"
		   "[users]\napp =\n");
	ok(cfg == NULL && err_has(3, "backend_tls: verify_ca needs backend_tls_ca"),
	   "verify_ca without CA");

	cfg = load("[inbatch]\nbackend = 127.0.0.1:3306\nadmin_user =\n"
		   "[users]\napp =\n");
	ok(cfg == NULL && err_has(3, "admin_user: must not be empty"),
	   "empty admin_user with admin console on");

	cfg = load("[inbatch]\nbackend = 127.0.0.1:3306\nadmin_user =\n"
		   "admin_listen =\n[users]\napp =\n");
	ok(cfg != NULL, "empty admin_user with admin console off");
	cfg_free(cfg);

	cfg = load("[inbatch]\nbackend = 127.0.0.1:3306\n"
		   "admin_listen = localhost:6033\n[users]\napp =\n");
	ok(cfg == NULL && err_has(3, "listen and admin_listen are both"),
	   "listen and admin_listen on one address");

	cfg = load("[inbatch]\nbackend = 127.0.0.1:6033\n[users]\napp =\n");
	ok(cfg == NULL && err_has(2, "backend and listen are both"),
	   "backend pointing at ourselves");

	cert = write_file("cert.pem", "c\n");
	snprintf(certp, sizeof(certp), "%s", cert);
	key = write_file("key.pem", "k\n");
	snprintf(body, sizeof(body),
		 "[inbatch]\nbackend = 127.0.0.1:3306\ntls_mode = allow\n"
		 "tls_cert = %s\n[users]\napp =\n", certp);
	cfg = load(body);
	ok(cfg == NULL && err_has(4, "tls_cert and tls_key must be set together"),
	   "cert without key");

	snprintf(body, sizeof(body),
		 "[inbatch]\nbackend = 127.0.0.1:3306\ntls_mode = require\n"
		 "tls_cert = %s\ntls_key = %s\n[users]\napp =\n", certp, key);
	cfg = load(body);
	ok(cfg != NULL && cfg->tls_mode == CFG_TLS_REQUIRE,
	   "tls_mode require with readable cert and key");
	cfg_free(cfg);
}

static void test_set(void)
{
	struct ib_config *cfg = load(BASE);
	char err[256];

	if (cfg == NULL) {
		ok(0, "base config loads");
		return;
	}
	ok(cfg_set(cfg, "batch_max_keys", "10", err, sizeof(err)) &&
		   cfg->batch_max_keys == 10,
	   "SET batch_max_keys = 10");
	ok(cfg_set(cfg, "BATCH_MODE", "off", err, sizeof(err)) &&
		   cfg->batch_mode == CFG_BATCH_OFF,
	   "SET batch_mode = off, key in any case");
	err[0] = '\0';
	ok(!cfg_set(cfg, "batch_max_keys", "1001", err, sizeof(err)) &&
		   cfg->batch_max_keys == 10 &&
		   strstr(err, "batch_max_keys: 1001 is out of range") != NULL,
	   "SET out of range refused, old value kept: %s", err);
	ok(!cfg_set(cfg, "batch_autocommit_off", "perhaps", err, sizeof(err)) &&
		   cfg->batch_autocommit_off == false,
	   "SET bad bool refused, old value kept");
	ok(!cfg_set(cfg, "listen", "127.0.0.1:7777", err, sizeof(err)) &&
		   strcmp(cfg->listen, "127.0.0.1:6033") == 0 &&
		   strstr(err, "restart") != NULL,
	   "SET on a restart-only key refused: %s", err);
	ok(!cfg_set(cfg, "admin_user", "eve", err, sizeof(err)) &&
		   strcmp(cfg->admin_user, "admin") == 0 &&
		   strstr(err, "RELOAD") != NULL,
	   "SET on a reload-only key refused: %s", err);
	ok(!cfg_set(cfg, "nope", "1", err, sizeof(err)) &&
		   strstr(err, "unknown key 'nope'") != NULL,
	   "SET on an unknown key refused");
	log_set_level(IB_LOG_INFO);
	ok(cfg_set(cfg, "log_level", "warn", err, sizeof(err)) &&
		   cfg->log_level == IB_LOG_WARN && log_cur_level == IB_LOG_WARN,
	   "SET log_level applies to the logger");
	log_set_level(IB_LOG_INFO);
	cfg_free(cfg);
}

static void test_keep_no_reload(void)
{
	struct ib_config *old = load(BASE);
	struct ib_config *newc = load("[inbatch]\nbackend = 127.0.0.1:3307\n"
				      "listen = 127.0.0.1:7000\n"
				      "tls_mode = disable\nmetrics_listen = 127.0.0.1:9999\n"
				      "max_client_conn = 2\nadmin_user = root\n"
				      "[users]\nother =\n");

	if (old == NULL || newc == NULL) {
		ok(0, "configs for reload load: %s", last_errs);
		cfg_free(old);
		cfg_free(newc);
		return;
	}
	log_set_level(IB_LOG_ERROR);	/* the "needs restart" lines are expected */
	cfg_keep_no_reload(old, newc);
	log_set_level(IB_LOG_INFO);
	ok(strcmp(newc->listen, "127.0.0.1:6033") == 0, "listen kept old value");
	ok(strcmp(newc->backend, "127.0.0.1:3306") == 0, "backend kept old value");
	ok(strcmp(newc->metrics_listen, old->metrics_listen) == 0,
	   "address NO_RELOAD kept old value");
	ok(newc->max_client_conn == 2, "runtime key takes new value");
	ok(strcmp(newc->admin_user, "root") == 0, "reloadable key takes new value");
	ok(newc->n_users == 1 && strcmp(newc->users[0].name, "other") == 0,
	   "users take new value");
	cfg_free(old);
	cfg_free(newc);
}

static void test_match_user(void)
{
	struct ib_config *cfg = load("[inbatch]\nbackend = 127.0.0.1:3306\n"
				     "[users]\napp_* = star\napp = secret\n"
				     "root =\nApp2 = x\n*_ro = ro\n"
				     "app_x = exact\n");
	const struct cfg_user *u;

	if (cfg == NULL) {
		ok(0, "users config loads");
		return;
	}
	ok(cfg->has_users, "[users] present");
	u = cfg_match_user(cfg, "app", 3);
	ok(u != NULL && strcmp(u->password, "secret") == 0, "find app");
	u = cfg_match_user(cfg, "appx", 3);
	ok(u != NULL && strcmp(u->name, "app") == 0, "name_len bounds the name");
	ok(cfg_match_user(cfg, "ap", 2) == NULL, "prefix does not match");
	ok(cfg_match_user(cfg, "apps", 4) == NULL, "longer name does not match");
	ok(cfg_match_user(cfg, "app2", 4) == NULL, "user names are case-sensitive");
	u = cfg_match_user(cfg, "root", 4);
	ok(u != NULL && u->password[0] == '\0', "root has empty password");
	u = cfg_match_user(cfg, "app_report", 10);
	ok(u != NULL && strcmp(u->password, "star") == 0, "pattern app_*");
	u = cfg_match_user(cfg, "app_", 4);
	ok(u != NULL && strcmp(u->password, "star") == 0, "'*' matches nothing");
	u = cfg_match_user(cfg, "app_x", 5);
	ok(u != NULL && strcmp(u->password, "exact") == 0,
	   "an exact entry wins over an earlier pattern");
	u = cfg_match_user(cfg, "app_ro", 6);
	ok(u != NULL && strcmp(u->password, "star") == 0,
	   "patterns: the first in file order wins");
	u = cfg_match_user(cfg, "sales_ro", 8);
	ok(u != NULL && strcmp(u->password, "ro") == 0, "pattern *_ro");
	ok(cfg_match_user(cfg, "sales_rw", 8) == NULL, "unlisted name");
	cfg_free(cfg);

	ok(util_glob_match("a*b*c", "axxbyyc", 7), "glob: two stars");
	ok(!util_glob_match("a*b*c", "axxbyy", 6), "glob: missing tail");
	ok(util_glob_match("*", "", 0), "glob: star matches empty");
	ok(!util_glob_match("a?", "ab", 2), "glob: '?' is literal");
	ok(util_glob_match("a**", "a", 1), "glob: stars collapse");
	ok(util_memcasemem("SET Session_Track_Schema=0", 26, "session_track_"),
	   "memcasemem: any case");
	ok(util_memcasemem("xx_a", 4, "_A"), "memcasemem: at the end");
	ok(!util_memcasemem("xx_a", 3, "_a"), "memcasemem: not past len");
	ok(!util_memcasemem("session_trac", 12, "session_track_"),
	   "memcasemem: a prefix is not a match");
	ok(util_memcasemem("sessessionx", 11, "session"),
	   "memcasemem: after a partial match");
	ok(!util_memcasemem("\xc5\xbf" "et", 4, "set"),
	   "memcasemem: ASCII case only (U+017F is not s)");
	ok(util_memcasemem("", 0, ""), "memcasemem: empty needle");
	ok(util_memcasemem("a_b_x_c", 7, "X_C"), "memcasemem: '_' more than once");
	ok(util_memcasemem("_ab", 3, "_A"), "memcasemem: '_' first");
	ok(!util_memcasemem("ab_", 3, "b_c"), "memcasemem: '_' near the end");
	ok(!util_memcasemem("x_", 2, "_x_"), "memcasemem: needle longer");
	ok(util_memcasemem("SET x = 1", 9, "set"), "memcasemem: letters only");
}

struct rows {
	int n;
	bool sorted;
	char prev[64];
	char *dump;
	size_t dump_len;
	bool masked, batch_mode_rt, listen_rt;
};

static void row_cb(void *arg, const char *key, const char *value,
		   const char *def, bool changeable, const char *desc)
{
	struct rows *r = arg;
	size_t need = strlen(key) + strlen(value) + strlen(def) + 8;

	if (r->n > 0 && strcmp(r->prev, key) >= 0)
		r->sorted = false;
	snprintf(r->prev, sizeof(r->prev), "%s", key);
	r->n++;
	if (strcmp(key, "admin_password") == 0)
		r->masked = strcmp(value, "********") == 0;
	if (strcmp(key, "batch_mode") == 0)
		r->batch_mode_rt = changeable;
	if (strcmp(key, "listen") == 0)
		r->listen_rt = changeable;
	if (desc == NULL || *desc == '\0')
		r->sorted = false;
	r->dump = realloc(r->dump, r->dump_len + need);
	r->dump_len += (size_t)sprintf(r->dump + r->dump_len, "%s=%s/%s\n",
				       key, value, def);
}

static void test_foreach_print(void)
{
	struct ib_config *cfg = load(
		"[inbatch]\nbackend = 127.0.0.1:3306\nadmin_password = \" a;b\\\"c \"\n"
		"log_file = #x\nbatch_mode = window\n"
		"[users]\napp = \"pw ; x\"\nroot =\n");
	struct rows r1 = { .sorted = true }, r2 = { .sorted = true };
	struct ib_config *back;
	const char *printed;
	FILE *f;

	if (cfg == NULL) {
		ok(0, "foreach config loads: %s", last_errs);
		return;
	}
	cfg_foreach(cfg, row_cb, &r1);
	ok(r1.n == 35, "35 rows (got %d)", r1.n);
	ok(r1.sorted, "rows in alphabetical order, each with a description");
	ok(r1.masked, "admin_password masked");
	ok(r1.batch_mode_rt && !r1.listen_rt, "changeable follows CFG_RUNTIME");
	ok(r1.dump && strstr(r1.dump, "batch_mode=window/adaptive\n"),
	   "value and default rendered");

	printed = write_file("printed.conf", "");
	f = fopen(printed, "w");
	cfg_print(cfg, f);
	fclose(f);
	free(last_errs);
	last_errs = NULL;
	back = cfg_load(printed, &last_errs);
	ok(back != NULL, "--print-config output loads again");
	if (back != NULL) {
		cfg_foreach(back, row_cb, &r2);
		ok(r1.dump && r2.dump && strcmp(r1.dump, r2.dump) == 0,
		   "and gives the same values");
		ok(strcmp(back->admin_password, " a;b\"c ") == 0,
		   "secret with quotes survives the round trip");
		ok(back->n_users == 2 &&
			   strcmp(back->users[0].password, "pw ; x") == 0 &&
			   strcmp(back->users[1].password, "") == 0,
		   "users survive the round trip");
	} else {
		diag("%s", last_errs);
	}
	free(r1.dump);
	free(r2.dump);
	cfg_free(back);
	cfg_free(cfg);
}

/* The man page and the sample file must say what the table says. */
static void test_docs(void)
{
	const char *top = getenv("srcdir") ? getenv("srcdir") : ".";
	char path[1024], *man, *conf, *docs = NULL, *sample = NULL;
	size_t dl = 0, sl = 0;
	FILE *f;
	struct ib_config *cfg;

	f = open_memstream(&docs, &dl);
	cfg_print_docs(f);
	fclose(f);
	f = open_memstream(&sample, &sl);
	cfg_print_sample(f);
	fclose(f);

	snprintf(path, sizeof(path), "%s/man/inbatch.conf.5", top);
	man = slurp(path);
	ok(man != NULL, "read %s", path);
	ok(man && strstr(man, docs) != NULL,
	   "man/inbatch.conf.5 holds cfg_print_docs() verbatim "
	   "(regenerate with tests/gen-conf-doc man)");

	snprintf(path, sizeof(path), "%s/conf/inbatch.conf", top);
	conf = slurp(path);
	ok(conf != NULL && strcmp(conf, sample) == 0,
	   "conf/inbatch.conf equals cfg_print_sample() "
	   "(regenerate with tests/gen-conf-doc conf)");
	free(last_errs);
	last_errs = NULL;
	cfg = cfg_load(path, &last_errs);
	ok(cfg != NULL && !cfg->has_users && cfg->batch_max_keys == 256,
	   "conf/inbatch.conf loads with defaults and no [users] section");
	if (cfg == NULL)
		diag("%s", last_errs);
	cfg_free(cfg);
	free(man);
	free(conf);
	free(docs);
	free(sample);
}

static int side_effects;
static int bump(void)
{
	return ++side_effects;
}

static void test_log(void)
{
	const char *path = write_file("log.txt", "");
	struct log_rl rl = { 0, 0, 0 };
	regex_t re;
	char *text;
	int pass = 0;

	ok(log_level_parse("error") == IB_LOG_ERROR &&
		   log_level_parse("WARN") == IB_LOG_WARN &&
		   log_level_parse("info") == IB_LOG_INFO &&
		   log_level_parse("debug") == IB_LOG_DEBUG &&
		   log_level_parse("trace") == -1,
	   "log_level_parse");
	ok(strcmp(log_level_name(IB_LOG_WARN), "warn") == 0 &&
		   strcmp(log_level_name(42), "?") == 0,
	   "log_level_name");

	ok(log_set_file(path), "log to a file");
	log_set_level(IB_LOG_INFO);
	log_info("hello %d\nforged", 7);
	log_debug("not shown %d", bump());
	log_warn("careful");
	ok(side_effects == 0, "disabled debug does not evaluate its arguments");
	ok(!log_set_file("/nonexistent/dir/log"), "bad log path refused");
	log_error("still here");
	ok(log_set_file(NULL), "back to stderr");

	text = slurp(path);
	regcomp(&re,
		"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "
		"\\[[0-9]+\\] INFO hello 7\\?forged\n"
		"[-0-9: .]+\\[[0-9]+\\] WARN careful\n"
		"[-0-9: .]+\\[[0-9]+\\] ERROR still here\n$",
		REG_EXTENDED);
	pass = text && regexec(&re, text, 0, NULL, 0) == 0;
	ok(pass, "log lines formatted, newline in message neutralised");
	if (!pass)
		diag("log was: %s", text);
	regfree(&re);
	free(text);

	pass = 0;
	for (int i = 0; i < 10; i++)
		pass += log_ratelimit(&rl, 3);
	ok(pass == 3 && rl.suppressed == 7, "rate limit lets 3 of 10 through");
	usleep(1010000);
	ok(log_set_file(path), "log to a file again");
	ok(log_ratelimit(&rl, 3) && rl.suppressed == 0,
	   "next second lets messages through again");
	for (int i = 0; i < 5; i++)
		log_warn_rl(2, "flood %d", i);
	log_set_file(NULL);
	text = slurp(path);
	ok(text && strstr(text, "WARN 7 similar messages suppressed\n") != NULL,
	   "suppressed count reported");
	ok(text && strstr(text, "WARN flood 0\n") && strstr(text, "WARN flood 1\n") &&
		   !strstr(text, "flood 2"),
	   "log_warn_rl passes 2 of 5 from one call site");
	free(text);
}

static void test_util(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[128];
	long long v;
	bool b;

	ok(util_parse_addr("127.0.0.1:6033", &ss, &len) && ss.ss_family == AF_INET,
	   "v4 address");
	util_format_addr((struct sockaddr *)&ss, buf, sizeof(buf));
	ok(strcmp(buf, "127.0.0.1:6033") == 0, "v4 formatted back: %s", buf);
	ok(util_parse_addr("[::1]:6033", &ss, &len) && ss.ss_family == AF_INET6,
	   "v6 address");
	util_format_addr((struct sockaddr *)&ss, buf, sizeof(buf));
	ok(strcmp(buf, "[::1]:6033") == 0, "v6 formatted back: %s", buf);
	ok(util_parse_addr("localhost:1", &ss, &len) && ss.ss_family == AF_INET,
	   "localhost is 127.0.0.1");
	ok(!util_parse_addr("example.com:80", NULL, NULL), "no DNS names");
	ok(!util_parse_addr(":80", NULL, NULL), "empty host");
	ok(!util_parse_addr("1.2.3.4:", NULL, NULL), "empty port");
	ok(!util_parse_addr("1.2.3.4:http", NULL, NULL), "named port");
	ok(!util_parse_addr("[::1:80", NULL, NULL), "unclosed bracket");

	ok(util_parse_int("42", 0, 100, &v) && v == 42, "int");
	ok(util_parse_int("-5", -10, 0, &v) && v == -5, "negative int");
	ok(!util_parse_int(" 42", 0, 100, &v), "leading blank refused");
	ok(!util_parse_int("", 0, 100, &v), "empty refused");
	ok(!util_parse_int("101", 0, 100, &v), "above max refused");
	ok(!util_parse_int("0x10", 0, 100, &v), "hex refused");

	ok(util_parse_bool("YES", &b) && b, "YES");
	ok(util_parse_bool("0", &b) && !b, "0");
	ok(util_parse_bool("off", &b) && !b, "off");
	ok(!util_parse_bool("2", &b), "2 refused");

	ok(util_memcasemem("SET Session_Track_schema=0", 26, "session_track_"),
	   "memcasemem: mixed case");
	ok(util_memcasemem("xsession_track_", 15, "SESSION_TRACK_"),
	   "memcasemem: at the very end");
	ok(!util_memcasemem("session_track", 13, "session_track_"),
	   "memcasemem: one byte short");
	ok(!util_memcasemem("a\0session_trackX", 16, "session_track_"),
	   "memcasemem: last byte differs");
	ok(util_memcasemem("a\0SET", 5, "set"), "memcasemem: after a NUL byte");
	ok(util_memcasemem("x", 1, ""), "memcasemem: empty needle");
	ok(!util_memcasemem("[et", 3, "{et"), "memcasemem: no case for punctuation");

	uint64_t t0 = util_now_us();
	usleep(2000);
	ok(util_now_us() - t0 >= 2000, "monotonic clock advances");
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_defaults();
	test_types();
	test_bounds();
	test_bad_values();
	test_structure();
	test_comments();
	test_required_dup_multi();
	test_cross();
	test_set();
	test_keep_no_reload();
	test_match_user();
	test_foreach_print();
	test_docs();
	test_log();
	test_util();
	free(last_errs);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			diag("could not remove %s", tmpdir);
	}
	return tap_done();
}
