/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * inbatch.h: the structs every module touches (client, backend,
 * lookup), their state enums, the event loop's struct ib_loop and the
 * process-wide struct ib_server. */
#ifndef IB_INBATCH_H
#define IB_INBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <event2/listener.h>

#include "config.h"
#include "log.h"
#include "proto.h"
#include "session.h"
#include "stats.h"
#include "util.h"

#define IB_VERSION PACKAGE_VERSION

#define IB_MUSTCHECK __attribute__((warn_unused_result))
#ifdef IB_DEBUG
#define IB_ASSERT(x)                                                        \
	do {                                                                  \
		if (!(x))                                                     \
			die("assertion failed at %s:%d: %s", __FILE__,       \
			    __LINE__, #x);                                    \
	} while (0)
#else
#define IB_ASSERT(x) ((void)0)
#endif

/* Output queued to one client before its backend stops being read. */
#define IB_CLIENT_OUT_HIGH (4u << 20)
#define IB_CLIENT_OUT_LOW  (1u << 20)

struct batch;
struct batch_group;
struct listener;
struct backend;
struct backend_owner;
struct compress;
struct io;
struct io_loop;
struct prefetch;
struct prefetch_stats;

struct lookup;

/*
 * What the batcher (batch.c, fanout.c) and prefetch (prefetch.c) may do
 * with a session's lookup: use its session's backend, write its answer,
 * and report one of three outcomes.  The owner (client.c) implements
 * them; neither touches anything else of the client.
 */
struct lookup_ops {
	/* the backend its session runs on; NULL when gone */
	struct backend *(*backend)(struct lookup *l);
	/* the session's status flags now (the last ones relayed or sent) */
	uint16_t (*status)(struct lookup *l);
	/* its session is closing: no outcome is wanted any more */
	bool (*closing)(struct lookup *l);
	/* where its answer goes, packets from sequence id 1 on */
	struct evbuffer *(*output)(struct lookup *l);
	/* an answer written to output() ended with status flags <status> */
	void (*sent)(struct lookup *l, uint16_t status);
	/* the batcher holds it: no backend traffic until an outcome */
	void (*wait)(struct lookup *l);
	/* outcome 1, answered: <rows> rows were sent; <own>: by a run of
	 * the lookup itself on its own session, the last statement there */
	void (*answered)(struct lookup *l, unsigned rows, bool own);
	/* the batcher runs its lookup on its own session next, collected:
	 * what a shared answer left out of the session goes back first */
	void (*before_own)(struct lookup *l);
	/* outcome 2, fall back: run <sql> alone on its own session, the
	 * response relayed; false when it cannot */
	bool (*fall_back)(struct lookup *l, const char *sql, size_t len);
	/* outcome 3, fail: close it with <why>; <gone>: after ERR 1927
	 * (its backend connection is gone) */
	void (*fail)(struct lookup *l, bool gone, const char *why);
	/* no outcome: a command held behind prefetch's own read may go on */
	void (*resume)(struct lookup *l);
};

/*
 * A session's COM_QUERY lookup as the batcher and prefetch see it: what
 * they need to know of the command and its session (text, context,
 * result format, prefetch state) and the batcher's own bookkeeping while
 * it waits.
 */
struct lookup {
	const struct lookup_ops *ops;
	/* set by the owner */
	struct session *sess;
	struct prefetch *pf; /* keys the session may ask next (prefetch.c) */
	uint32_t caps, ext_caps; /* the result format the client negotiated */
	uint16_t status;	 /* the session's status flags when sent */
	uint64_t start_us;
	/* the batcher's */
	char *sql;		 /* the lookup text while it waits */
	size_t sql_len;
	struct batch *batch;	 /* when waiting in a batch */
	struct batch_group *solo_group; /* it runs alone, adaptive */
	TAILQ_ENTRY(lookup) batch_entry;
	unsigned batch_idx;	 /* index of its key in the batch */
};

/*
 * A client session.  States, in order of a normal life:
 *   WAIT_BACKEND  accepted; its backend is connecting (or, with no
 *                 pre-login slot free, not yet opened), no greeting yet
 *   HANDSHAKE     greeting sent, waiting for the handshake response
 *   AUTH_SWITCH   admin console: our AuthSwitchRequest sent
 *   BACKEND_AUTH  the auth exchange is relayed between client and server
 *   TRACK         logged in; the session's trackers are being set
 *   IDLE          between commands
 *   QUERY         a command is relayed to its backend; response streaming
 *   INFILE        relaying LOAD DATA LOCAL file packets to the backend
 *   BATCHED       its lookup waits in a batch (no backend traffic)
 *   CLOSING       queued for freeing by the loop
 */
enum client_state {
	CLIENT_WAIT_BACKEND,
	CLIENT_HANDSHAKE,
	CLIENT_AUTH_SWITCH,
	CLIENT_BACKEND_AUTH,
	CLIENT_TRACK,
	CLIENT_IDLE,
	CLIENT_QUERY,
	CLIENT_INFILE,
	CLIENT_BATCHED,
	CLIENT_CLOSING,
};

struct client {
	TAILQ_ENTRY(client) entry;
	TAILQ_ENTRY(client) closing_entry; /* on ib_loop->closing */
	enum client_state state;
	bool is_admin;
	bool queued_free; /* on ib_loop->justfree */
	bool tls;	  /* the connection was upgraded to TLS */
	bool compress;	  /* bev is the compressed protocol's layer */
	bool login_slot;  /* holds one of max_pending_logins */
	bool login_wait;  /* on the queue for a pre-login slot */
	bool read_paused; /* busy with the next command buffered */
	bool held; /* its next command waits for a prefetch fetch ahead */
	struct compress *zs; /* the compressed protocol's state, or NULL */
	bool out_full;	  /* idle, waiting for its unread answers to drain */
	bool half_closed; /* the client shut its sending side down */
	TAILQ_ENTRY(client) wait_entry;
	uint32_t id; /* advertised thread id (= backend thread id) */
	struct bufferevent *bev;
	struct io *io; /* its socket's reads and writes, until TLS */
	struct backend *be;
	struct event *timer; /* handshake / idle timeout */
	/* when the timeout is due (0: none), and when <timer> fires if
	 * pending: commands move the first, the timer catches up lazily */
	uint64_t timer_due_us, timer_at_us;
	char peer[64];
	char peer_host[48];

	uint8_t nonce[20];
	uint32_t caps; /* negotiated: client's & advertised */
	uint32_t ext_caps; /* MariaDB ext caps: offered, then negotiated */
	uint8_t collation;
	char *user;
	char *old_user; /* during COM_CHANGE_USER: the account before */
	char *track_init; /* the trackers a session starts with, read at login */
	/* A login step's ERR (init_connect failed): if the server then
	 * closes, it is the answer to the client's first command, as the
	 * server itself would have answered it */
	uint8_t *login_err;
	size_t login_err_len;
	char *db;
	uint16_t status; /* last server status relayed */
	uint8_t seq;	 /* next sequence id for packets we generate */
	uint8_t cmd;	 /* command being served */
	bool change_user;    /* the login in progress is a COM_CHANGE_USER */
	bool auth_deny;	     /* [users] refuses it: 1045 instead of the OK */
	bool auth_used_password; /* the client sent auth data ("using
				  * password: YES") */
	bool track_login;    /* CLIENT_TRACK: the client awaits its login OK */

	struct session sess;
	struct lookup lk; /* its lookup, while the batcher has it */
	/* The last statement this session's backend ran was not the last one
	 * the client sent: its lookup was answered by another session.  Before
	 * a statement that reads diagnostics, one that leaves the lookup's own
	 * (no warnings, FOUND_ROWS() = rows sent) runs first. */
	bool diag_pending;
	bool restore_ahead; /* the restore went first: the command goes behind */
	unsigned diag_rows;
	bool cmd_again; /* the command in the input waited for the restore:
			 * already counted */
	uint64_t query_start_us;

	uint64_t queries;
};
TAILQ_HEAD(client_list, client);

/*
 * A backend connection, raw protocol over a bufferevent.  We do the
 * handshake ourselves so the session negotiates exactly the client's
 * capabilities and response bytes can be relayed unchanged.
 */
enum backend_state {
	BACKEND_CONNECTING, /* TCP connect in progress */
	BACKEND_GREETING,   /* waiting for HandshakeV10 */
	BACKEND_WAIT_LOGIN, /* greeting read; the owner has not logged in yet */
	BACKEND_AUTH,	    /* handshake response sent */
	BACKEND_IDLE,
	BACKEND_BUSY,	    /* a command is in flight */
	BACKEND_DEAD,	    /* failed or closed; owner notified */
};

struct backend {
	TAILQ_ENTRY(backend) entry;
	enum backend_state state;
	struct client *client; /* the session it belongs to (its owner) */
	const struct backend_owner *owner; /* how it tells the owner */
	struct backend_collect *collect; /* internal query in flight */
	struct bufferevent *bev;
	struct io *io; /* its socket's reads and writes, until TLS */
	struct event *timer;
	uint32_t thread_id;
	char version[96];
	uint32_t server_caps;
	uint8_t server_collation;
	uint16_t status;
	uint8_t nonce[20];	/* the greeting's scramble: the client's too */
	uint8_t auth_nonce[20]; /* the current auth round's scramble */
	char plugin[64];	/* the greeting's default auth plugin */
	char local_host[48];	/* our address, as the server sees us */
	uint32_t caps; /* negotiated */
	uint32_t server_ext_caps; /* MariaDB ext caps the greeting offered */
	uint32_t ext_caps;	  /* MariaDB ext caps negotiated */
	bool tls;      /* bev is a TLS filter over the socket */
	bool peer_tls; /* the owner client's own leg is TLS */
	bool compress; /* bev is the compressed protocol's layer */
	char *user;    /* the account logged in (or logging in) */

	/* login relay (BACKEND_AUTH) */
	uint8_t auth_seq;    /* sequence id of the last packet either way */
	bool full_auth;	     /* the server just asked for the password (01 04) */
	bool user_changing;  /* the exchange is a COM_CHANGE_USER */
	char *rsa_password;  /* a client's cleartext, until RSA-encrypted */

	/* response parser (proto.c) and the relay around it */
	struct proto_resp resp;
	size_t fwd_left;   /* bytes of the current physical packet to pass */
	bool in_multi;	   /* the current logical packet continues */
	bool sent_any;	   /* relayed part of the current response */
	/* a relayed command written behind the internal query in flight:
	 * its response is relayed once that query's ends (backend_relay) */
	bool relay_behind;
	uint8_t behind_head[10];
	uint8_t behind_head_len;
};
TAILQ_HEAD(backend_list, backend);

/*
 * One event loop and what lives on it: its sessions and their backends,
 * the lists the loop frees between iterations, the counters and records
 * of the statistics, the pre-login queue, the batcher and its encoding
 * buffer.  There is one (ib_loop); a second loop would be a second
 * instance, each thread with its own.  What stays process-wide is set up
 * once and then only read, or is one per process by nature: struct
 * ib_server, the TLS contexts, the log, the /metrics endpoint.
 */
struct ib_loop {
	struct event_base *base;
	struct client_list clients;
	struct client_list justfree;
	struct backend_list backends;
	struct backend_list dead_backends;
	unsigned n_clients; /* all sessions, admin ones included */
	unsigned n_admin;
	/* CLOSING and not yet queued for freeing: the loop looks at these
	 * only, for the ones whose output left or whose time ran out */
	struct client_list closing;
	struct ib_stats stats;
	struct stats_records records; /* histograms, shapes (stats.c) */
	/* pre-login admission (client.c) */
	struct client_list login_queue;
	unsigned login_slots;
	bool admit_pending; /* client_admit_cb is scheduled */
	/* libevent knows 256 common timeout durations per base, and never
	 * forgets one: after that, client timers go into its heap */
	bool timeouts_full;
	struct batcher *batcher; /* groups, done batches (batch.c) */
	struct io_loop *io; /* dirty connections to flush (io.c) */
	struct pktbuf fanout_out; /* an answer being encoded (fanout.c) */
	struct prefetch_stats *prefetch_stats; /* SHOW PREFETCH (prefetch.c) */
};

/* What the process has once, beside its loop(s): configuration,
 * listeners, signals, the backend's address. */
struct ib_server {
	struct ib_config *cfg;
	struct listener *listener;
	struct listener *admin_listener;
	struct event *sig_int, *sig_term, *sig_hup;
	struct event *stats_timer;
	uint64_t start_us;
	bool shutting_down;
	struct sockaddr_storage backend_addr;
	socklen_t backend_addr_len;
};

extern struct ib_server ib;
extern struct ib_loop *ib_loop;

/* main.c: used by the admin console */
void main_request_reload(void);
void main_request_shutdown(void);

#endif /* IB_INBATCH_H */
