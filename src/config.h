/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * config.h: the INI configuration ([inbatch] keys and [users]), loaded,
 * validated, shown and changed through one table of parameters. */
#ifndef IB_CONFIG_H
#define IB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cfg_batch_mode { CFG_BATCH_OFF, CFG_BATCH_WINDOW, CFG_BATCH_ADAPTIVE };
enum cfg_tls_mode { CFG_TLS_DISABLE, CFG_TLS_ALLOW, CFG_TLS_REQUIRE };
enum cfg_backend_tls { CFG_BTLS_DISABLE, CFG_BTLS_REQUIRE, CFG_BTLS_VERIFY_CA };

/* One [users] entry: an account name, or a pattern where '*' stands for
 * any run of characters, that may log in through inbatch; a non-empty
 * password is an extra check inbatch makes (the server checks its own). */
struct cfg_user {
	char *name;
	char *password;		/* may be "" */
};

/* Field names are the INI key names.  After cfg_load() every string is
 * non-NULL ("" when unset); enum fields hold the enums above, log_level
 * an enum log_level. */
struct ib_config {
	char *file;		/* absolute path it was read from, for reload */
	char *admin_listen;
	char *admin_password;
	char *admin_user;
	char *backend;
	int backend_connect_timeout;
	int backend_tls;
	char *backend_tls_ca;
	bool batch_autocommit_off;
	bool compression;
	int batch_max_groups;
	int batch_max_keys;
	int batch_busy_keys;
	int batch_mode;
	int batch_window_us;
	int client_idle_timeout;
	int handshake_timeout;
	char *listen;
	char *log_file;
	int log_level;
	int max_admin_conn;
	int max_client_conn;
	int max_packet_size;
	int max_pending_logins;
	char *metrics_listen;
	int net_read_timeout;
	bool prefetch;
	int prefetch_autocommit_max_age_ms;
	int prefetch_max_keys;
	int prefetch_memory;
	int prefetch_min_matches;
	int query_timeout;
	int stats_period;
	char *tls_cert;
	char *tls_key;
	int tls_mode;
	struct cfg_user *users;
	size_t n_users;
	bool has_users;		/* a [users] section is present: an allow-list */
};

/* Parse <path> into a new config.  On failure return NULL and, if <errors>
 * is not NULL, store in it every problem found, one per line as
 * "FILE:LINE: message" ("FILE: message" when no line applies); the caller
 * frees it.  On success *errors is NULL. */
struct ib_config *cfg_load(const char *path, char **errors);
void cfg_free(struct ib_config *cfg);

/* The [users] entry for the account named by the <name_len> bytes at
 * <name>: its exact entry, else the first pattern matching it in file
 * order; NULL if none. */
const struct cfg_user *cfg_match_user(const struct ib_config *cfg,
				      const char *name, size_t name_len);

/* Admin SET: change a CFG_RUNTIME key to the raw text <value>.  On error
 * fill <err> and leave <cfg> unchanged.  Setting log_level also applies it
 * to the logger. */
bool cfg_set(struct ib_config *cfg, const char *key, const char *value,
	     char *err, size_t errlen);

/* One SHOW CONFIG row; admin_password's value is masked. */
typedef void (*cfg_row_fn)(void *arg, const char *key, const char *value,
			   const char *def, bool changeable, const char *desc);
void cfg_foreach(const struct ib_config *cfg, cfg_row_fn fn, void *arg);

/* The effective configuration as a loadable INI file (secrets included),
 * each key preceded by its description as a comment. */
void cfg_print(const struct ib_config *cfg, FILE *out);

/* For each key that differs between <old> and <newc> and needs a restart,
 * log "needs restart" and copy the old value into <newc>. */
void cfg_keep_no_reload(const struct ib_config *old, struct ib_config *newc);

/* man(7) ".TP" entries for every key, in table order (man/inbatch.conf.5). */
void cfg_print_docs(FILE *out);
/* The commented sample file with every key and its default
 * (conf/inbatch.conf). */
void cfg_print_sample(FILE *out);

#endif /* IB_CONFIG_H */
