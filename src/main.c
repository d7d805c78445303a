/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * main.c: command line, signals, listeners and the event loop, which
 * frees closed clients and backends between iterations. */
#include "inbatch.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "admin.h"
#include "backend.h"
#include "batch.h"
#include "client.h"
#include "fanout.h"
#include "io.h"
#include "listener.h"
#include "mem.h"
#include "metrics.h"
#include "prefetch.h"
#include "tls.h"

struct ib_server ib;
static struct ib_loop main_loop;
struct ib_loop *ib_loop = &main_loop;

static void main_usage(FILE *out)
{
	fprintf(out,
		"usage: inbatch [-c FILE] [--check-config FILE] [--print-config]\n"
		"               [--version] [--help]\n"
		"  -c, --config FILE        configuration file (default %s)\n"
		"      --check-config FILE  validate FILE and exit (0 when valid)\n"
		"      --print-config       print the effective configuration\n"
		"  -V, --version            print the version and exit\n",
		"/etc/inbatch/inbatch.conf");
}

/* Settings that load but leave something off or unsafe; printed by
 * --check-config, logged at start. */
static void main_warn_config(const struct ib_config *cfg, FILE *out)
{
	if (cfg->admin_listen[0] && !cfg->admin_password[0])
		fprintf(out, "%s: warning: admin_password is empty: the admin "
			"console on %s will not start\n", cfg->file,
			cfg->admin_listen);
}

/* Load <path> or print every problem; used for start and --check-config. */
static struct ib_config *main_load(const char *path)
{
	char *errors = NULL;
	struct ib_config *cfg = cfg_load(path, &errors);

	if (!cfg) {
		fprintf(stderr, "%s", errors ? errors : "cannot load config\n");
		if (errors && errors[strlen(errors) - 1] != '\n')
			fputc('\n', stderr);
		free(errors);
	}
	return cfg;
}

static struct listener *main_listen(const char *addr, const char *what,
				    evconnlistener_cb cb)
{
	struct listener *l = listener_new(addr, what, cb, NULL);

	if (!l)
		die("cannot listen on %s: %s", addr, strerror(errno));
	return l;
}

static void main_shutdown(void)
{
	if (ib.shutting_down)
		return;
	ib.shutting_down = true;
	log_info("shutting down");
	listener_free(ib.listener);
	ib.listener = NULL;
	listener_free(ib.admin_listener);
	ib.admin_listener = NULL;
	metrics_stop();
	client_shutdown_all();
}

static void main_reload(void)
{
	struct ib_config *newc;
	char *errors = NULL;

	newc = cfg_load(ib.cfg->file, &errors);
	if (!newc) {
		log_error("reload failed, keeping the old configuration:\n%s",
			  errors ? errors : "");
		free(errors);
		return;
	}
	cfg_keep_no_reload(ib.cfg, newc);
	tls_reload(newc);
	cfg_free(ib.cfg);
	ib.cfg = newc;
	log_set_level(ib.cfg->log_level);
	if (!log_set_file(ib.cfg->log_file))
		log_error("cannot open log_file %s", ib.cfg->log_file);
	log_info("configuration reloaded from %s", ib.cfg->file);
}

void main_request_reload(void)
{
	main_reload();
}

void main_request_shutdown(void)
{
	main_shutdown();
}

static void main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGHUP)
		main_reload();
	else if (sig == SIGINT || sig == SIGTERM)
		main_shutdown();
}

static void main_stats_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	stats_rotate();
}

/* The command line: -1 to go on with <*path> (and <*print>), else the
 * exit status. */
static int main_args(int argc, char **argv, const char **path, bool *print)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ib_config *cfg;
	int o;

	while ((o = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			*path = optarg;
			break;
		case 'C':
			cfg = main_load(optarg);
			if (!cfg)
				return 1;
			main_warn_config(cfg, stderr);
			cfg_free(cfg);
			printf("%s: configuration is valid\n", optarg);
			return 0;
		case 'P':
			*print = true;
			break;
		case 'V':
			printf("inbatch %s\n", IB_VERSION);
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		main_usage(stderr);
		return 2;
	}
	return -1;
}

/* The loop's instance: its event base, lists and batcher. */
static void main_loop_init(struct ib_loop *loop)
{
	/* every relayed response toggles write interest twice; the
	 * changelist folds those into one epoll_ctl per iteration */
	struct event_config *ec = event_config_new();

	if (!ec)
		die("cannot create the event base");
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	loop->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!loop->base)
		die("cannot create the event base");
	TAILQ_INIT(&loop->clients);
	TAILQ_INIT(&loop->justfree);
	TAILQ_INIT(&loop->closing);
	TAILQ_INIT(&loop->backends);
	TAILQ_INIT(&loop->dead_backends);
	TAILQ_INIT(&loop->login_queue);
	loop->io = io_loop_new(loop->base);
	if (!loop->io || !batch_init(loop))
		die("out of memory");
}

/* Listeners, signals and the stats timer; dies on failure. */
static void main_start(void)
{
	struct timeval tv;

	/* admin and metrics first: once the client port answers, a
	 * supervisor may assume everything is up */
	/* no default password: the console stays off until one is set */
	if (ib.cfg->admin_listen[0] && !ib.cfg->admin_password[0])
		log_warn("admin console on %s not started: admin_password is "
			 "empty", ib.cfg->admin_listen);
	else if (ib.cfg->admin_listen[0])
		ib.admin_listener =
			main_listen(ib.cfg->admin_listen, "admin",
				    client_admin_accept_cb);
	if (!metrics_start())
		die("cannot start the metrics listener on %s",
		    ib.cfg->metrics_listen);
	ib.listener = main_listen(ib.cfg->listen, "client", client_accept_cb);

	ib.sig_int = evsignal_new(ib_loop->base, SIGINT, main_signal_cb, NULL);
	ib.sig_term = evsignal_new(ib_loop->base, SIGTERM, main_signal_cb, NULL);
	ib.sig_hup = evsignal_new(ib_loop->base, SIGHUP, main_signal_cb, NULL);
	if (!ib.sig_int || !ib.sig_term || !ib.sig_hup)
		die("cannot set up signal handling");
	evsignal_add(ib.sig_int, NULL);
	evsignal_add(ib.sig_term, NULL);
	evsignal_add(ib.sig_hup, NULL);
	signal(SIGPIPE, SIG_IGN);
	ib.stats_timer = event_new(ib_loop->base, -1, EV_PERSIST, main_stats_cb,
				   NULL);
	tv.tv_sec = ib.cfg->stats_period;
	tv.tv_usec = 0;
	event_add(ib.stats_timer, &tv);
}

/* Run the loop until shutdown has drained the clients (3 s at most). */
static void main_run(struct ib_loop *loop)
{
	uint64_t deadline = 0;
	struct timeval tv;

	for (;;) {
		event_base_loop(loop->base, EVLOOP_ONCE);
		client_free_closed();
		batch_free_done();
		backend_free_dead();
		if (!ib.shutting_down)
			continue;
		if (!deadline)
			deadline = util_now_us() + 3000000;
		if ((TAILQ_EMPTY(&loop->clients) && TAILQ_EMPTY(&loop->justfree)) ||
		    util_now_us() > deadline)
			break;
		/* keep the loop turning while output drains */
		tv.tv_sec = 0;
		tv.tv_usec = 50000;
		event_base_loopexit(loop->base, &tv);
	}
}

/* Final teardown, so LeakSanitizer sees a clean exit. */
static void main_teardown(struct ib_loop *loop)
{
	struct backend *be;

	client_free_all();
	while ((be = TAILQ_FIRST(&loop->backends)) != NULL)
		backend_close(be);
	batch_free_done();
	batch_exit(loop);
	backend_free_dead();
	io_loop_free(loop->io);
	fanout_exit(loop);
	stats_free(loop);
	prefetch_stats_free(loop);
	tls_free();
	event_free(ib.sig_int);
	event_free(ib.sig_term);
	event_free(ib.sig_hup);
	event_free(ib.stats_timer);
	event_base_free(loop->base);
	log_info("bye");
	cfg_free(ib.cfg);
	log_set_file(NULL);
	mem_exit();
}

int main(int argc, char **argv)
{
	const char *path = "/etc/inbatch/inbatch.conf";
	bool print = false;
	int rc;

	mem_init();	/* before libevent allocates anything */
	rc = main_args(argc, argv, &path, &print);
	if (rc >= 0)
		return rc;
	ib.cfg = main_load(path);
	if (!ib.cfg)
		return 1;
	if (print) {
		cfg_print(ib.cfg, stdout);
		return 0;
	}
	log_set_level(ib.cfg->log_level);
	if (!log_set_file(ib.cfg->log_file))
		die("cannot open log_file %s: %s", ib.cfg->log_file,
		    strerror(errno));
	if (!util_parse_addr(ib.cfg->backend, &ib.backend_addr,
			     &ib.backend_addr_len))
		die("cannot parse backend address %s", ib.cfg->backend);

	listener_raise_nofile(ib.cfg);
	if (!tls_init(ib.cfg))
		die("cannot set up TLS with %s and %s", ib.cfg->tls_cert,
		    ib.cfg->tls_key);
	ib.start_us = util_now_us();
	main_loop_init(ib_loop);
	main_start();
	log_info("inbatch %s listening on %s, backend %s%s%s", IB_VERSION,
		 ib.cfg->listen, ib.cfg->backend,
		 ib.admin_listener ? ", admin on " : "",
		 ib.admin_listener ? ib.cfg->admin_listen : "");
	main_run(ib_loop);
	main_teardown(ib_loop);
	return 0;
}
