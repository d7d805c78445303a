/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * inbatch.h: the structs every module touches (client, backend,
 * batch), their state enums, and the server-wide struct ib_server. */
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
struct prefetch;

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
	enum client_state state;
	bool is_admin;
	bool queued_free; /* on ib.justfree */
	bool tls;	  /* the connection was upgraded to TLS */
	bool compress;	  /* bev is the compressed protocol's layer */
	bool login_slot;  /* holds one of max_pending_logins */
	bool login_wait;  /* on the queue for a pre-login slot */
	bool read_paused; /* busy with the next command buffered */
	bool out_full;	  /* idle, waiting for its unread answers to drain */
	bool half_closed; /* the client shut its sending side down */
	TAILQ_ENTRY(client) wait_entry;
	uint32_t id; /* advertised thread id (= backend thread id) */
	struct bufferevent *bev;
	struct backend *be;
	struct event *timer; /* handshake / idle timeout */
	char peer[64];
	char peer_host[48];

	uint8_t nonce[20];
	uint32_t caps; /* negotiated: client's & advertised */
	uint32_t ext_caps; /* MariaDB ext caps: offered, then negotiated */
	uint8_t collation;
	char *user;
	char *old_user; /* during COM_CHANGE_USER: the account before */
	char *track_init; /* the trackers a session starts with, read at login */
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
	struct batch *batch; /* when BATCHED */
	struct batch_group *solo_group; /* its lookup runs alone, adaptive */
	char *batch_sql;     /* the lookup text while batched */
	size_t batch_sql_len;
	/* The last statement this session's backend ran was not the last one
	 * the client sent: its lookup was answered by another session.  Before
	 * a statement that reads diagnostics, one that leaves the lookup's own
	 * (no warnings, FOUND_ROWS() = rows sent) runs first. */
	bool diag_pending;
	unsigned diag_rows;
	TAILQ_ENTRY(client) batch_entry;
	unsigned batch_idx;  /* index of its key in the batch */
	struct prefetch *pf; /* keys this session may ask next (prefetch.c) */
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

/* Where the response parser stands within one command's response. */
enum resp_state {
	RESP_NONE,
	RESP_FIRST,	   /* next packet starts a result: OK/ERR/count/0xFB */
	RESP_COLDEFS,	   /* <left> column definitions to go */
	RESP_COLDEFS_EOF,  /* the EOF after column definitions */
	RESP_ROWS,	   /* rows until EOF/ERR */
	RESP_PREP_PARAMS,  /* prepare: parameter definitions */
	RESP_PREP_PEOF,
	RESP_PREP_COLS,
	RESP_PREP_CEOF,
	RESP_FIELDS,	   /* COM_FIELD_LIST: definitions until EOF */
	RESP_SINGLE,	   /* any one packet ends it (COM_STATISTICS) */
	RESP_INFILE,	   /* server asked for a local file; client sends it */
	RESP_AUTH,	   /* COM_CHANGE_USER: OK/ERR/switch */
	RESP_DONE,
};

struct backend {
	TAILQ_ENTRY(backend) entry;
	enum backend_state state;
	struct client *client; /* the session it belongs to */
	struct backend_collect *collect; /* internal query in flight */
	struct bufferevent *bev;
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
	bool compress; /* bev is the compressed protocol's layer */
	char *user;    /* the account logged in (or logging in) */

	/* login relay (BACKEND_AUTH) */
	uint8_t auth_seq;    /* sequence id of the last packet either way */
	bool full_auth;	     /* the server just asked for the password (01 04) */
	bool user_changing;  /* the exchange is a COM_CHANGE_USER */
	char *rsa_password;  /* a client's cleartext, until RSA-encrypted */

	/* response parser */
	enum resp_state rs;
	uint8_t cmd;
	bool cursor;	   /* COM_STMT_EXECUTE with a cursor flag */
	uint64_t left;	   /* coldefs/params left */
	uint32_t prep_cols;
	size_t fwd_left;   /* bytes of the current physical packet to pass */
	bool in_multi;	   /* the current logical packet continues */
	bool sent_any;	   /* relayed part of the current response */
};
TAILQ_HEAD(backend_list, backend);

struct ib_server {
	struct event_base *base;
	struct ib_config *cfg;
	struct listener *listener;
	struct listener *admin_listener;
	struct event *sig_int, *sig_term, *sig_hup, *sig_pipe;
	struct event *stats_timer;
	struct client_list clients;
	struct client_list justfree;
	struct backend_list backends;
	struct backend_list dead_backends;
	unsigned n_clients; /* all sessions, admin ones included */
	unsigned n_admin;
	uint64_t start_us;
	bool shutting_down;
	struct sockaddr_storage backend_addr;
	socklen_t backend_addr_len;
	struct ib_stats stats;
};

extern struct ib_server ib;

/* main.c: used by the admin console */
void main_request_reload(void);
void main_request_shutdown(void);

#endif /* IB_INBATCH_H */
