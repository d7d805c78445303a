/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * client.c: the server side of the protocol for one client session:
 * greeting, authentication, command dispatch and pass-through relay. */
#include "client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "backend.h"
#include "batch.h"
#include "classify.h"
#include "compress.h"
#include "io.h"
#include "prefetch.h"
#include "session.h"
#include "tls.h"

/* What we offer clients; the backend's greeting narrows it further. */
#define CLIENT_FRONT_CAPS                                                      \
	(CAP_LONG_PASSWORD | CAP_FOUND_ROWS | CAP_LONG_FLAG |                  \
	 CAP_CONNECT_WITH_DB | CAP_NO_SCHEMA | CAP_ODBC | CAP_LOCAL_FILES |    \
	 CAP_IGNORE_SPACE | CAP_PROTOCOL_41 | CAP_INTERACTIVE |                \
	 CAP_IGNORE_SIGPIPE | CAP_TRANSACTIONS | CAP_RESERVED |                \
	 CAP_SECURE_CONNECTION | CAP_MULTI_STATEMENTS | CAP_MULTI_RESULTS |    \
	 CAP_PS_MULTI_RESULTS | CAP_PLUGIN_AUTH | CAP_CONNECT_ATTRS |          \
	 CAP_PLUGIN_AUTH_LENENC | CAP_CAN_HANDLE_EXPIRED | CAP_REMEMBER_OPTIONS)

/*
 * Offered only on relayed sessions, when the backend offers them: the
 * backend session then negotiates what the client chose, and the relay
 * rewrites or filters what differs (session tracking, see backend.c).
 */
#define CLIENT_RELAY_CAPS (CAP_SESSION_TRACK | CAP_DEPRECATE_EOF | CAP_COMPRESS)

/* MariaDB extensions relayed as they are: progress reports, bulk execute,
 * type info in column definitions, metadata skipped on EXECUTE. */
#define CLIENT_EXT_CAPS                                                        \
	(EXT_PROGRESS | EXT_STMT_BULK | EXT_METADATA | EXT_CACHE_METADATA)

/* How long a closing client's queued output (an ERR) has to leave. */
#define CLIENT_CLOSE_SECS 5
/* Handshake packets are small; anything bigger is an attack or junk. */
#define CLIENT_HANDSHAKE_MAX 65536
/* The head of a command we copy out to dispatch and classify. */
#define CLIENT_HEAD_MAX 16384
/* Empty commands answered in one turn: what one 16 KiB read holds. */
#define CLIENT_EMPTY_PER_TURN 4096

static const char *const client_state_names[] = {
	[CLIENT_WAIT_BACKEND] = "wait_backend",
	[CLIENT_HANDSHAKE] = "handshake",
	[CLIENT_AUTH_SWITCH] = "auth_switch",
	[CLIENT_BACKEND_AUTH] = "backend_auth",
	[CLIENT_TRACK] = "track",
	[CLIENT_IDLE] = "idle",
	[CLIENT_QUERY] = "query",
	[CLIENT_INFILE] = "infile",
	[CLIENT_BATCHED] = "batched",
	[CLIENT_CLOSING] = "closing",
};

const char *client_state_name(enum client_state s)
{
	return client_state_names[s];
}

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);
static void client_step(struct client *c);
enum client_track_why {
	CLIENT_TRACK_LOGIN,
	CLIENT_TRACK_CHANGE_USER,
	CLIENT_TRACK_RESET
};
static void client_track(struct client *c, enum client_track_why why);
static void client_track_done(struct client *c);
static const struct backend_owner client_backend_owner;
static const struct lookup_ops client_lookup_ops;

#ifdef IB_DEBUG /* the table serves the setter's assertion */
#define CS(s) (1u << (s))
/* The legal moves, one row per state: what may follow it. */
static const unsigned client_next_states[] = {
	[CLIENT_WAIT_BACKEND] = CS(CLIENT_HANDSHAKE) | CS(CLIENT_CLOSING),
	[CLIENT_HANDSHAKE] = CS(CLIENT_AUTH_SWITCH) | CS(CLIENT_BACKEND_AUTH) |
			     CS(CLIENT_IDLE) | CS(CLIENT_CLOSING),
	[CLIENT_AUTH_SWITCH] = CS(CLIENT_IDLE) | CS(CLIENT_CLOSING),
	[CLIENT_BACKEND_AUTH] = CS(CLIENT_TRACK) | CS(CLIENT_CLOSING),
	[CLIENT_TRACK] = CS(CLIENT_IDLE) | CS(CLIENT_CLOSING),
	[CLIENT_IDLE] = CS(CLIENT_IDLE) | CS(CLIENT_QUERY) |
			CS(CLIENT_BATCHED) | CS(CLIENT_BACKEND_AUTH) |
			CS(CLIENT_CLOSING),
	[CLIENT_QUERY] = CS(CLIENT_IDLE) | CS(CLIENT_INFILE) |
			 CS(CLIENT_TRACK) | CS(CLIENT_CLOSING),
	[CLIENT_INFILE] = CS(CLIENT_QUERY) | CS(CLIENT_CLOSING),
	/* a lookup whose context is read waits again in its batch */
	[CLIENT_BATCHED] = CS(CLIENT_BATCHED) | CS(CLIENT_IDLE) |
			   CS(CLIENT_QUERY) | CS(CLIENT_CLOSING),
	[CLIENT_CLOSING] = 0,
};
#undef CS
#endif

void client_set_state(struct client *c, enum client_state s)
{
	IB_ASSERT(client_next_states[c->state] & (1u << s));
	log_debug("client %u: %s -> %s", c->id, client_state_names[c->state],
		  client_state_names[s]);
	c->state = s;
}

/* Add <c>'s timer for <tv>, due at <at_us>. */
static void client_timer_add(struct client *c, const struct timeval *tv,
			     uint64_t at_us)
{
	evtimer_add(c->timer, tv);
	c->timer_at_us = at_us;
}

static void client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	uint64_t now;

	(void)fd;
	(void)what;
	c->timer_at_us = 0;
	if (c->timer_due_us == 0)
		return;	/* disarmed since it was added */
	now = util_now_us();
	if (now < c->timer_due_us) {
		/* re-armed since: wait for the rest */
		struct timeval tv = {
			(time_t)((c->timer_due_us - now) / 1000000),
			(suseconds_t)((c->timer_due_us - now) % 1000000)
		};

		client_timer_add(c, &tv, c->timer_due_us);
		return;
	}
	c->timer_due_us = 0;
	if (c->state == CLIENT_IDLE &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)))
		client_close(c, "read timeout inside a packet");
	else if (c->state == CLIENT_INFILE)
		client_close(c, "read timeout during LOAD DATA LOCAL");
	else if (c->state == CLIENT_IDLE)
		client_close(c, "idle timeout");
	else if (c->state < CLIENT_IDLE)
		client_close(c, "handshake timeout");
	else if (c->state == CLIENT_CLOSING)
		client_close(c, "close timeout");
}

/*
 * The timeout of <seconds> (none if 0) starts now.  Every command moves
 * it, so only its due time moves: a pending timer that fires earlier
 * adds itself again for the rest (client_timer_cb), and one that fires
 * later is added anew.
 */
static void client_arm_timer(struct client *c, int seconds)
{
	struct timeval tv = { seconds, 0 };
	const struct timeval *common;
	uint64_t due;

	if (seconds <= 0) {
		c->timer_due_us = 0;
		return;
	}
	due = util_now_us() + (uint64_t)seconds * 1000000;
	c->timer_due_us = due;
	if (c->timer_at_us && c->timer_at_us <= due)
		return;
	/* a timeout of a duration libevent knows as common goes on a queue
	 * of its own, not into its heap.  NULL (and a warning) once it
	 * knows too many durations, which runtime changes of the timeouts
	 * can reach: then never again. */
	common = NULL;
	if (!ib_loop->timeouts_full) {
		common = event_base_init_common_timeout(ib_loop->base, &tv);
		ib_loop->timeouts_full = common == NULL;
	}
	client_timer_add(c, common ? common : &tv, due);
}

/* No timeout runs: the wait is the server's or the proxy's, not the
 * client's.  The timer, if pending, fires to nothing. */
static void client_disarm_timer(struct client *c)
{
	c->timer_due_us = 0;
}

bool client_write(struct client *c, const void *payload, size_t len)
{
	return proto_write_packet(bufferevent_get_output(c->bev), &c->seq,
				  payload, len);
}

bool client_send_err(struct client *c, uint16_t code, const char *state,
		     const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return proto_send_err(bufferevent_get_output(c->bev), &c->seq, code,
			      state, "%s", msg);
}

bool client_send_ok(struct client *c, uint64_t affected, const char *info)
{
	return proto_send_ok(bufferevent_get_output(c->bev), &c->seq, affected,
			     0, c->status, 0, info);
}

/* <bev> carries the client from now on: at accept, and when a TLS or
 * compression filter goes on top (it owns the one below). */
static void client_use_bev(struct client *c, struct bufferevent *bev)
{
	c->bev = bev;
	bufferevent_setcb(bev, client_read_cb, client_write_cb,
			  client_event_cb, c);
	bufferevent_setwatermark(bev, EV_WRITE, IB_CLIENT_OUT_LOW, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static struct client *client_new(evutil_socket_t fd, struct sockaddr *sa,
				 bool admin)
{
	struct client *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		return NULL;
	c->bev = bufferevent_socket_new(ib_loop->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(ib_loop->base, client_timer_cb, c);
	if (!c->bev || !c->timer) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->timer)
			event_free(c->timer);
		free(c);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->lk.ops = &client_lookup_ops;
	c->lk.sess = &c->sess;
	c->is_admin = admin;
	if (admin)
		ib_loop->n_admin++;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, c->peer_host,
			  sizeof(c->peer_host));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", c->peer_host,
			 ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, c->peer_host,
			  sizeof(c->peer_host));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", c->peer_host,
			 ntohs(in6->sin6_port));
	} else {
		snprintf(c->peer_host, sizeof(c->peer_host), "localhost");
		snprintf(c->peer, sizeof(c->peer), "local");
	}
	client_use_bev(c, c->bev);
	c->io = io_attach(ib_loop->io, c->bev); /* NULL: libevent does it all */
	/* calloc: CLIENT_WAIT_BACKEND, the first state */
	TAILQ_INSERT_TAIL(&ib_loop->clients, c, entry);
	ib_loop->n_clients++;
	IB_STAT_INC(client_connections_total);
	client_arm_timer(c, ib.cfg->handshake_timeout);
	return c;
}

/*
 * Send our HandshakeV10: for a client session, the backend's identity,
 * scramble and default auth plugin, so that what the client computes is
 * what the server checks; for the admin console, our own.
 */
static void client_send_greeting(struct client *c, const char *version,
				 uint32_t caps, uint8_t collation,
				 uint16_t status, const uint8_t nonce[20],
				 const char *plugin)
{
	struct pktbuf pb;

	c->seq = 0;
	pktbuf_init(&pb);
	proto_build_greeting(&pb, version, c->id, nonce, caps, c->ext_caps,
			     collation, status, plugin);
	if (pb.failed || !client_write(c, pb.buf, pb.len)) {
		pktbuf_free(&pb);
		IB_STAT_INC(oom_errors);
		client_close(c, "out of memory");
		return;
	}
	pktbuf_free(&pb);
	c->caps = caps; /* narrowed by the response */
	c->status = status;
	client_set_state(c, CLIENT_HANDSHAKE);
}

/*
 * Pre-login admission.  A client's greeting comes from its own backend
 * connection, opened before the client proves anything; at most
 * max_pending_logins clients may hold one before they log in, so that
 * strangers who never log in cannot exhaust the backend.  The others wait
 * in FIFO order, greeting-less, under their handshake timeout.
 */
/* the queue and the slots are ib_loop's (login_queue, login_slots) */

/* Open <c>'s backend connection and count it against the cap; the
 * greeting follows from client_on_backend_greeting(). */
static void client_start_backend(struct client *c)
{
	/* the greeting waits for the backend's: its version, caps and
	 * thread id are what the client must see */
	c->be = backend_new_for_client(c, &client_backend_owner);
	if (!c->be) {
		IB_STAT_INC(oom_errors);
		c->seq = 0;
		client_send_err(c, 1041, "HY000", "Out of memory");
		client_close(c, "out of memory");
		return;
	}
	c->login_slot = true;
	ib_loop->login_slots++;
}

static void client_admit(struct client *c)
{
	if (ib_loop->login_slots < (unsigned)ib.cfg->max_pending_logins &&
	    TAILQ_EMPTY(&ib_loop->login_queue)) {
		client_start_backend(c);
		return;
	}
	IB_STAT_INC(logins_queued);
	c->login_wait = true;
	TAILQ_INSERT_TAIL(&ib_loop->login_queue, c, wait_entry);
}

/* Hand free slots to waiting clients, oldest first; runs from the loop,
 * never inside the callbacks of the client that freed the slot. */
static void client_admit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c;

	(void)fd;
	(void)what;
	(void)arg;
	ib_loop->admit_pending = false;
	while (!ib.shutting_down &&
	       ib_loop->login_slots < (unsigned)ib.cfg->max_pending_logins &&
	       (c = TAILQ_FIRST(&ib_loop->login_queue)) != NULL) {
		TAILQ_REMOVE(&ib_loop->login_queue, c, wait_entry);
		c->login_wait = false;
		client_start_backend(c);
	}
}

/* <c> logged in or is going away: give up its place in the queue or its
 * slot, and let the next waiter in. */
static void client_release_slot(struct client *c)
{
	static const struct timeval now = { 0, 0 };

	if (c->login_wait) {
		TAILQ_REMOVE(&ib_loop->login_queue, c, wait_entry);
		c->login_wait = false;
	}
	if (!c->login_slot)
		return;
	c->login_slot = false;
	ib_loop->login_slots--;
	if (!ib_loop->admit_pending && !TAILQ_EMPTY(&ib_loop->login_queue) &&
	    event_base_once(ib_loop->base, -1, EV_TIMEOUT, client_admit_cb, NULL,
			    &now) == 0)
		ib_loop->admit_pending = true;
}

void client_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct client *c;

	(void)l;
	(void)salen;
	(void)arg;
	c = client_new(fd, sa, false);
	if (!c) {
		IB_STAT_INC(oom_errors);
		return;
	}
	/* the admin console must stay reachable when clients are at the
	 * limit, so its sessions do not count */
	if (ib_loop->n_clients - ib_loop->n_admin >
	    (unsigned)ib.cfg->max_client_conn) {
		IB_STAT_INC(client_connections_refused);
		c->seq = 0;
		client_send_err(c, 1040, "08004", "Too many connections");
		client_close(c, "max_client_conn reached");
		return;
	}
	client_admit(c);
}

void client_admin_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
			    struct sockaddr *sa, int salen, void *arg)
{
	struct client *c;

	(void)l;
	(void)salen;
	(void)arg;
	c = client_new(fd, sa, true);
	if (!c) {
		IB_STAT_INC(oom_errors);
		return;
	}
	c->id = 0;
	/* sessions not yet logged in count too: they are what a stranger
	 * can open */
	if (ib_loop->n_admin > (unsigned)ib.cfg->max_admin_conn) {
		IB_STAT_INC(admin_connections_refused);
		c->seq = 0;
		client_send_err(c, 1040, "08004", "Too many connections");
		client_close(c, "max_admin_conn reached");
		return;
	}
	if (!proto_make_nonce(c->nonce)) {
		client_close(c, "no randomness for a nonce");
		return;
	}
	/* TLS as on the client port: admin passwords cross the network too */
	client_send_greeting(c, "5.5.5-10.11.0-inbatch-admin-" IB_VERSION,
			     (CLIENT_FRONT_CAPS & ~(CAP_LOCAL_FILES |
						    CAP_CONNECT_ATTRS)) |
				     (tls_enabled() ? CAP_SSL : 0),
			     45, ST_AUTOCOMMIT, c->nonce,
			     "mysql_native_password");
}

static void client_on_backend_greeting(struct client *c)
{
	struct backend *be = c->be;
	char version[128];
	uint32_t caps;

	if (c->state != CLIENT_WAIT_BACKEND)
		return;
	c->id = be->thread_id;
	/* a MariaDB backend clears bit 0 (CLIENT_MYSQL) and offers its
	 * extensions in the filler; so do we, for what we can relay */
	caps = be->server_caps & (CLIENT_FRONT_CAPS | CLIENT_RELAY_CAPS);
	if (!ib.cfg->compression)
		caps &= ~CAP_COMPRESS;
	c->ext_caps = (caps & CAP_LONG_PASSWORD)
			      ? 0
			      : be->server_ext_caps & CLIENT_EXT_CAPS;
	if (tls_enabled())
		caps |= CAP_SSL;
	/* Connector/C strips MariaDB's "5.5.5-" from what it reports; the
	 * raw greeting keeps it, and drivers expect to see it */
	snprintf(version, sizeof(version), "%s", be->version);
	client_send_greeting(c, version, caps, be->server_collation,
			     be->status, be->nonce,
			     be->plugin[0] ? be->plugin : "mysql_native_password");
}

/*
 * The admin console has no backend: it checks admin_user/admin_password
 * itself, over its own nonce.
 */
static bool client_admin_check(struct client *c, const char *plugin,
			       const uint8_t *auth, size_t auth_len)
{
	const char *password = ib.cfg->admin_password;

	/* an empty admin_password (after a reload) locks the console */
	if (!password[0] || strcmp(c->user, ib.cfg->admin_user) != 0)
		return false;
	if (plugin && strcmp(plugin, "caching_sha2_password") == 0)
		return proto_sha2_check(auth, auth_len, c->nonce, password);
	return proto_native_check(auth, auth_len, c->nonce, password);
}

/* 1045 as the server words it, naming the host the server would name. */
static void client_deny(struct client *c, const char *host)
{
	IB_STAT_INC(auth_failures);
	client_send_err(c, 1045, "28000",
			"Access denied for user '%s'@'%s' (using password: %s)",
			c->user ? c->user : "", host,
			c->auth_used_password ? "YES" : "NO");
	client_close(c, "authentication failed for '%s'",
		     c->user ? c->user : "");
}

/* Verify an admin console login, switching plugin once when needed. */
static void client_admin_verify(struct client *c, const char *plugin,
				const uint8_t *auth, size_t auth_len,
				bool switched)
{
	const char *password = ib.cfg->admin_password;
	struct pktbuf pb;

	c->auth_used_password = auth_len > 0;
	if (!switched) {
		bool native = !plugin || !plugin[0] ||
			      strcmp(plugin, "mysql_native_password") == 0;
		bool sha2 = plugin &&
			    strcmp(plugin, "caching_sha2_password") == 0;

		/* only a reply we can check over our greeting's nonce is
		 * verified directly; anything else (an empty reply under
		 * another plugin means "start the dialog") gets one switch */
		if (!((native && (auth_len == 20 ||
				  (auth_len == 0 && !password[0]))) ||
		      (sha2 && auth_len == 32))) {
			if (!proto_make_nonce(c->nonce)) {
				client_close(c, "no randomness");
				return;
			}
			pktbuf_init(&pb);
			pktbuf_put_u8(&pb, 0xFE);
			pktbuf_put_strnul(&pb, "mysql_native_password");
			pktbuf_put_bytes(&pb, c->nonce, 20);
			pktbuf_put_u8(&pb, 0);
			if (pb.failed || !client_write(c, pb.buf, pb.len)) {
				pktbuf_free(&pb);
				client_close(c, "out of memory");
				return;
			}
			pktbuf_free(&pb);
			client_set_state(c, CLIENT_AUTH_SWITCH);
			return;
		}
		if (sha2) {
			if (!client_admin_check(c, plugin, auth, auth_len)) {
				client_deny(c, c->peer_host);
				return;
			}
			if (auth_len) {
				/* fast auth succeeded: 01 03, then the OK */
				static const uint8_t fast[2] = { 0x01, 0x03 };

				client_write(c, fast, 2);
			}
			goto ok;
		}
	}
	if (!client_admin_check(c, "mysql_native_password", auth, auth_len)) {
		client_deny(c, c->peer_host);
		return;
	}
ok:
	client_set_state(c, CLIENT_IDLE);
	client_arm_timer(c, ib.cfg->client_idle_timeout);
	client_send_ok(c, 0, NULL);
}

static bool client_plugin_is(const char *plugin, size_t len, const char *name)
{
	return plugin && len == strlen(name) && memcmp(plugin, name, len) == 0;
}

/* Plugins that put the password itself on the wire. */
static bool client_plugin_cleartext(const char *plugin, size_t len)
{
	return client_plugin_is(plugin, len, "mysql_clear_password") ||
	       client_plugin_is(plugin, len, "dialog");
}

/*
 * May <user> log in through inbatch, as far as [users] says?  Without
 * the section, yes: the server alone decides.  With it, the name must be
 * listed (exactly or by a pattern); a listed password is an extra check
 * that inbatch can make only on a mysql_native_password reply over the
 * server's scramble <nonce>, so any other first reply fails it.  A
 * refusal is told to the client only where the server would tell a
 * wrong password (client_on_backend_login), so that names listed and
 * not listed cannot be told apart.
 */
static bool client_allowed(const char *user, size_t user_len,
			   const char *plugin, size_t plugin_len,
			   const uint8_t *auth, size_t auth_len,
			   const uint8_t nonce[20])
{
	const struct cfg_user *u;

	if (!ib.cfg->has_users)
		return true;
	u = cfg_match_user(ib.cfg, user, user_len);
	if (!u)
		return false;
	if (!u->password[0])
		return true;
	if (plugin && plugin_len &&
	    !client_plugin_is(plugin, plugin_len, "mysql_native_password"))
		return false;
	return proto_native_check(auth, auth_len, nonce, u->password);
}

/*
 * A password in clear must not cross a plaintext backend leg when the
 * client sent it believing its own leg encrypted.  True (and the client
 * refused) when <plugin> would do that.
 */
static bool client_refuse_cleartext(struct client *c, const char *plugin,
				    size_t plugin_len)
{
	/* before the login, the leg is TLS exactly when backend_tls says */
	bool backend_tls = c->be && (c->be->tls || tls_backend_enabled());

	if (!c->tls || backend_tls ||
	    !client_plugin_cleartext(plugin, plugin_len))
		return false;
	IB_STAT_INC(auth_failures);
	client_send_err(c, 1251, "08004",
			"inbatch: auth plugin %.*s sends the password in clear "
			"and the backend connection is not encrypted; set "
			"backend_tls to use it",
			(int)plugin_len, plugin);
	client_close(c, "cleartext password over a plaintext backend refused");
	return true;
}

static void client_on_handshake(struct client *c, const uint8_t *p, size_t len)
{
	struct proto_hsresp h;
	char *plugin = NULL;

	if (!proto_parse_hsresp(p, len, &h)) {
		client_send_err(c, 1043, "08S01", "Bad handshake");
		IB_STAT_INC(client_errors);
		client_close(c, "bad handshake response");
		return;
	}
	if (h.ssl_request) {
		struct bufferevent *tb;

		if (!tls_enabled() || c->tls) {
			client_send_err(c, 1043, "08S01",
					"TLS is not enabled on this listener");
			client_close(c, "SSLRequest without TLS configured");
			return;
		}
		io_detach(c->io);
		tb = tls_accept(c->bev);
		if (!tb) {
			IB_STAT_INC(oom_errors);
			client_close(c, "cannot start TLS");
			return;
		}
		/* the filter owns the plain bufferevent now */
		client_use_bev(c, tb);
		c->tls = true;
		return; /* the real response follows inside TLS, seq 2 */
	}
	if (ib.cfg->tls_mode == CFG_TLS_REQUIRE && !c->tls) {
		client_send_err(c, 3159, "HY000",
				"Connections using insecure transport are "
				"prohibited: this server requires TLS");
		IB_STAT_INC(auth_failures);
		client_close(c, "plaintext login refused (tls_mode=require)");
		return;
	}
	if (!(h.caps & CAP_PROTOCOL_41)) {
		client_send_err(c, 1043, "08S01",
				"Client protocol 4.1 or newer is required");
		client_close(c, "pre-4.1 client");
		return;
	}
	c->caps &= h.caps;
	c->caps |= CAP_PROTOCOL_41;
	c->ext_caps &= h.ext_caps;
	c->lk.caps = c->caps;
	c->lk.ext_caps = c->ext_caps;
	c->collation = h.collation;
	c->user = util_strndup(h.user, h.user_len);
	if (h.db)
		c->db = util_strndup(h.db, h.db_len);
	if (!c->user || (h.db && !c->db)) {
		IB_STAT_INC(oom_errors);
		client_send_err(c, 1041, "HY000", "Out of memory");
		client_close(c, "out of memory");
		return;
	}
	c->auth_used_password = h.auth_len > 0;
	if (c->is_admin) {
		if (h.plugin)
			plugin = util_strndup(h.plugin, h.plugin_len);
		if (h.plugin && !plugin) {
			client_close(c, "out of memory");
			return;
		}
		client_admin_verify(c, plugin, h.auth, h.auth_len, false);
		free(plugin);
		return;
	}
	if (!c->be || c->be->state != BACKEND_WAIT_LOGIN) {
		client_send_err(c, 1105, "08S01",
				"Lost connection to backend during login");
		client_close(c, "backend gone during login");
		return;
	}
	if (h.auth_len > 0 &&
	    client_refuse_cleartext(c, h.plugin, h.plugin_len))
		return;
	c->auth_deny = !client_allowed(h.user, h.user_len, h.plugin,
				       h.plugin_len, h.auth, h.auth_len,
				       c->be->nonce);
	client_set_state(c, CLIENT_BACKEND_AUTH);
	if (!backend_login(c->be, &h, c->caps, c->ext_caps, c->tls)) {
		IB_STAT_INC(oom_errors);
		client_send_err(c, 1041, "HY000", "Out of memory");
		client_close(c, "backend login failed to start");
	}
}

/* One packet of the client's side of a relayed auth exchange. */
static void client_on_auth_reply(struct client *c, const uint8_t *p,
				 size_t len)
{
	if (len > 0)
		c->auth_used_password = true;
	if (!c->be || !backend_auth_reply(c->be, p, len)) {
		client_send_err(c, 1105, "08S01",
				"Lost connection to backend during login");
		client_close(c, "cannot relay auth data to the backend");
	}
}

static void client_on_backend_auth(struct client *c, const uint8_t *p,
				   size_t len)
{
	struct proto_rd rd;
	const char *plugin;
	size_t plen;

	if (c->state != CLIENT_BACKEND_AUTH)
		return;
	if (p[0] == 0xFE) {
		proto_rd_init(&rd, p + 1, len - 1);
		plugin = proto_rd_strnul(&rd, &plen);
		if (!rd.failed && client_refuse_cleartext(c, plugin, plen))
			return;
	}
	if (!client_write(c, p, len)) {
		IB_STAT_INC(oom_errors);
		client_close(c, "out of memory relaying auth");
	}
}

static void client_on_backend_auth_failed(struct client *c, const char *why)
{
	if (c->state == CLIENT_CLOSING)
		return;
	IB_STAT_INC(auth_failures);
	client_send_err(c, 1045, "28000", "inbatch: %s", why);
	client_close(c, "%s", why);
}

/*
 * The server's verdict on a login or COM_CHANGE_USER.  Its ERR reaches
 * the client as it is; its OK only once the session's trackers are set
 * (client_track), or becomes our own 1045 when [users] refused the
 * account: then the session, already the account's, is closed.
 */
static void client_on_backend_login(struct client *c, const uint8_t *p,
				    size_t len)
{
	struct proto_ok ok;
	bool was_change = c->change_user;

	c->change_user = false;
	if (len > 0 && p[0] == 0xFF) {
		IB_STAT_INC(auth_failures);
		/* the backend refused: the client sees the server's error */
		if (c->state == CLIENT_WAIT_BACKEND)
			c->seq = 0;
		client_write(c, p, len);
		if (was_change && c->be && c->be->state == BACKEND_IDLE) {
			/* the server keeps the session as the old account,
			 * reset: so is ours, and its trackers are gone */
			free(c->user);
			c->user = c->old_user;
			c->old_user = NULL;
			client_track(c, CLIENT_TRACK_RESET);
			return;
		}
		client_close(c, "backend refused login");
		return;
	}
	if (c->state != CLIENT_BACKEND_AUTH)
		return;
	free(c->old_user);
	c->old_user = NULL;
	if (c->auth_deny) {
		client_deny(c, c->be ? c->be->local_host : c->peer_host);
		return;
	}
	if (proto_parse_ok(p, len, c->be->caps, &ok))
		c->status = ok.status & (uint16_t)~ST_SESSION_STATE_CHANGED;
	client_release_slot(c);
	log_debug("client %u (%s) logged in as '%s'%s", c->id, c->peer,
		  c->user, was_change ? " (change user)" : "");
	client_track(c, was_change ? CLIENT_TRACK_CHANGE_USER
				   : CLIENT_TRACK_LOGIN);
}

/* A login step failed with <res>'s ERR: keep it if it is the server's
 * 1184 (init_connect failed), after which it closes the session. */
static void client_keep_login_err(struct client *c,
				  const struct backend_result *res)
{
	const uint8_t *p = NULL, *last = NULL;
	size_t pos = 0, len = 0, last_len = 0;

	while (backend_result_next(res, &pos, &p, &len)) {
		last = p;
		last_len = len;
	}
	if (!last || last_len < 3 || last[0] != 0xff ||
	    (last[1] | last[2] << 8) != 1184 || c->login_err)
		return;
	c->login_err = malloc(last_len);
	if (!c->login_err)
		return; /* then the client hears of a lost backend */
	memcpy(c->login_err, last, last_len);
	c->login_err_len = last_len;
}

/* The start of a login step's query callback: false when the client is
 * closing, or was closed because its backend was lost while <doing>. */
static bool client_login_step_ok(struct client *c,
				 const struct backend_result *res,
				 const char *doing)
{
	if (c->state == CLIENT_CLOSING)
		return false;
	if (!res && c->login_err) {
		/* the server failed init_connect: directly, the client
		 * logs in and its first command gets that ERR
		 * (client_next_command) */
		session_set_tracking(&c->sess, false);
		client_track_done(c);
		return false;
	}
	if (!res) {
		client_send_err(c, 1105, "08S01",
				"inbatch: lost connection to backend during login");
		client_close(c, "backend lost while %s", doing);
		return false;
	}
	if (res->err)
		client_keep_login_err(c, res);
	return true;
}

/* The trackers are set (or not): the login or reset is complete. */
static void client_track_cb(void *arg, struct backend_result *res)
{
	struct client *c = arg;

	if (!client_login_step_ok(c, res, "setting trackers"))
		return;
	/* answered: the server did not close after an earlier ERR */
	if (!res->err) {
		free(c->login_err);
		c->login_err = NULL;
	}
	session_set_tracking(&c->sess, !res->err);
	if (res->err)
		log_warn_rl(1, "cannot turn session tracking on; lookups of "
			    "such sessions are not batched");
	client_track_done(c);
}

/*
 * The OK that ends a login.  The server tells a client with SESSION_TRACK
 * which schema it logged in to; our trackers' own SET ran since, so that
 * entry is rebuilt here.
 */
static void client_send_login_ok(struct client *c)
{
	struct proto_ok ok;
	struct pktbuf pb, st;
	size_t n = c->db ? strlen(c->db) : 0;
	bool done;

	if (!(c->caps & CAP_SESSION_TRACK) || n == 0) {
		client_send_ok(c, 0, NULL);
		return;
	}
	memset(&ok, 0, sizeof(ok));
	ok.status = c->status;
	pktbuf_init(&pb);
	pktbuf_init(&st);
	pktbuf_put_u8(&st, 1); /* SCHEMA */
	pktbuf_put_lenenc(&st, proto_lenenc_size(n) + n);
	pktbuf_put_lenenc_str(&st, c->db, n);
	done = !st.failed && proto_build_ok_tracked(&pb, &ok, st.buf, st.len) &&
	       client_write(c, pb.buf, pb.len);
	pktbuf_free(&st);
	pktbuf_free(&pb);
	if (!done) {
		IB_STAT_INC(oom_errors);
		client_close(c, "out of memory");
	}
}

/*
 * A client that chose CLIENT_COMPRESS speaks it from the packet after the
 * login's OK (still in clear) on; so does its backend session.
 */
static bool client_start_compress(struct client *c)
{
	struct bufferevent *zb;

	io_detach(c->io); /* the filter reads and writes through the bev */
	zb = compress_new(c->bev, COMPRESS_SERVER, &c->zs);
	if (!zb)
		return false;
	client_use_bev(c, zb);
	c->compress = true;
	return true;
}

static void client_track_done(struct client *c)
{
	if (c->track_login)
		client_send_login_ok(c);
	/* the session as our statements found it (init_connect may have
	 * opened a transaction): what its first lookup is judged by */
	if (c->be)
		c->status = c->be->status & (uint16_t)~ST_SESSION_STATE_CHANGED;
	if ((c->caps & CAP_COMPRESS) && !c->compress &&
	    !client_start_compress(c)) {
		IB_STAT_INC(oom_errors);
		client_close(c, "cannot start compression");
		return;
	}
	client_set_state(c, CLIENT_IDLE);
	client_arm_timer(c, ib.cfg->client_idle_timeout);
	client_step(c);
}

/* The session's own tracker settings and its context are read. */
static void client_login_read_cb(void *arg, struct backend_result *res)
{
	struct client *c = arg;
	char *trackers;

	if (!client_login_step_ok(c, res, "reading the session"))
		return;
	trackers = session_login_read(&c->sess, res);
	if (!(c->caps & CAP_SESSION_TRACK)) {
		free(trackers);
		return;
	}
	c->track_init = trackers;
	if (trackers)
		session_client_trackers_apply(&c->sess, trackers);
	else if (!c->login_err)
		log_warn_rl(1, "cannot read a session's tracker settings; "
			    "its client hears of the default ones");
}

/* Does a new session read its trackers and context at login?  A client
 * that hears tracker data needs the first, a batched lookup the second:
 * read at login, it costs no round trip of its own.  (Prefetch alone
 * reads it when a transaction needs it.) */
static bool client_reads_at_login(const struct client *c)
{
	return (c->caps & CAP_SESSION_TRACK) ||
	       (!(c->caps & CAP_DEPRECATE_EOF) &&
		ib.cfg->batch_mode != CFG_BATCH_OFF);
}

/*
 * A new session (login, COM_CHANGE_USER) or a reset one: forget what was
 * known and turn the server's trackers on, before the client's next
 * command.  A login first reads the session (session_login_sql), in the
 * same write as the trackers' SET.
 */
static void client_track(struct client *c, enum client_track_why why)
{
	bool ok;

	session_reset(&c->sess);
	c->diag_pending = false;
	free(c->login_err);
	c->login_err = NULL;
	c->track_login = why != CLIENT_TRACK_RESET;
	client_set_state(c, CLIENT_TRACK);
	if (!(c->be->caps & CAP_SESSION_TRACK)) {
		session_set_tracking(&c->sess, false);
		client_track_done(c);
		return;
	}
	/* a changed or reset session starts from the trackers read at login */
	if (c->track_init)
		session_client_trackers_apply(&c->sess, c->track_init);
	ok = why != CLIENT_TRACK_LOGIN || !client_reads_at_login(c) ||
	     backend_query(c->be, session_login_sql, session_login_sql_len,
			   client_login_read_cb, c);
	if (!ok || !backend_query_after(c->be, session_track_sql,
					session_track_sql_len, client_track_cb,
					c)) {
		IB_STAT_INC(oom_errors);
		client_send_err(c, 1041, "HY000", "Out of memory");
		client_close(c, "cannot set session trackers");
	}
}

static void client_on_backend_lost(struct client *c, const char *why,
			    enum backend_state was)
{
	bool mid = c->be && c->be->sent_any;

	c->be = NULL;
	switch (c->state) {
	case CLIENT_WAIT_BACKEND:
		c->seq = 0;
		client_send_err(c, 1105, "HY000", "inbatch: %s", why);
		client_close(c, "%s", why);
		break;
	case CLIENT_HANDSHAKE:
	case CLIENT_AUTH_SWITCH:
	case CLIENT_BACKEND_AUTH:
	case CLIENT_TRACK:
		client_send_err(c, 1105, "HY000", "inbatch: %s", why);
		client_close(c, "%s", why);
		break;
	case CLIENT_QUERY:
	case CLIENT_INFILE:
		/* mid-response we cannot splice an ERR in safely; before
		 * anything was relayed, the client gets a proper error */
		if (was == BACKEND_BUSY && !mid)
			client_send_err(c, 1927, "70100",
					"inbatch: lost connection to backend "
					"during query (%s)",
					why);
		client_close(c, "%s", why);
		break;
	case CLIENT_BATCHED:
		/* the batch answers it; the session closes afterwards */
		break;
	case CLIENT_IDLE:
		/* a login whose init_connect failed: the first command
		 * hears why (client_next_command) */
		if (!c->login_err || c->queries)
			client_close(c, "%s", why);
		break;
	case CLIENT_CLOSING:
		break;
	}
}

static void client_on_infile_request(struct client *c)
{
	client_set_state(c, CLIENT_INFILE);
	client_step(c);
}

/*
 * The statement that leaves this session's diagnostics as the batched
 * lookup left them: no warnings, no errors, ROW_COUNT() -1 and FOUND_ROWS()
 * equal to the rows the client got.  It reads no stored table, so it is
 * the same whenever it runs; the derived table makes the server clear the
 * warnings, which a SELECT without any table does not.  It has one row:
 * the others come from SELECTs without a table, which no max_join_size
 * of the session counts.  Ahead of a lookup, which clears the warnings
 * itself, <bare> leaves the derived table out.
 */
static bool client_diag_sql(unsigned rows, bool bare, struct pktbuf *pb)
{
	unsigned i;

	pktbuf_init(pb);
	if (bare)
		pktbuf_put_bytes(pb, "SELECT 1", 8);
	else
		pktbuf_put_bytes(pb, "SELECT 1 FROM (SELECT 1) AS __ib_t", 34);
	if (rows == 0)
		pktbuf_put_bytes(pb, bare ? " FROM DUAL WHERE 0" : " WHERE 0",
				 bare ? 18 : 8);
	for (i = 1; i < rows; i++)
		pktbuf_put_bytes(pb, " UNION ALL SELECT 1", 19);
	return !pb->failed;
}

static void client_diag_cb(void *arg, struct backend_result *res)
{
	struct client *c = arg;

	if (c->state == CLIENT_CLOSING)
		return;
	if (!res || !c->be) {
		client_close(c, "backend lost while restoring diagnostics");
		return;
	}
	/* the command that asked is still in the input buffer */
	client_set_state(c, CLIENT_IDLE);
	client_step(c);
}

/* The restore ahead of a command: the command carries on behind it, and
 * hears of a lost session itself (its 1927). */
static void client_diag_ahead_cb(void *arg, struct backend_result *res)
{
	(void)arg;
	(void)res;
}

static bool client_send_restore(struct client *c, bool bare,
				backend_result_fn cb)
{
	struct pktbuf pb;
	bool ok;

	if (!c->diag_pending)
		return false;
	ok = client_diag_sql(c->diag_rows, bare, &pb) && c->be &&
	     backend_query(c->be, (const char *)pb.buf, pb.len, cb, c);
	pktbuf_free(&pb);
	if (ok)
		c->diag_pending = false;
	return ok;
}

/*
 * Before any command the client's session runs itself, if its diagnostics
 * are not its last lookup's: put them back.  Whatever comes next may read
 * them, or leave some of them as they were: a statement without a table
 * leaves the warnings, any but a read leaves FOUND_ROWS(), a failed one
 * too (a lookup that runs alone and fails, say), and a command that is
 * not a statement may leave all of them (COM_PING sets only ROW_COUNT()).
 * The command goes in the same write, behind the restore (backend_relay):
 * no round trip of its own.
 */
static void client_restore_diag(struct client *c)
{
	c->restore_ahead = client_send_restore(c, false, client_diag_ahead_cb);
}

/* The same before a command that needs an idle session (COM_CHANGE_USER):
 * true when it must wait for the restore to end. */
static bool client_restore_diag_wait(struct client *c)
{
	if (!client_send_restore(c, false, client_diag_cb))
		return false;
	client_set_state(c, CLIENT_QUERY);
	c->cmd_again = true;
	return true;
}

/*
 * What the words of a statement the client sends say about its session:
 * only ever more careful than the trackers (see session_on_statement); a
 * statement longer than what was copied out is judged as hidden state.
 * DDL may change what a table is: the batcher probes shapes again.
 */
static void client_note_statement(struct client *c, const uint8_t *sql,
				  size_t len, bool truncated)
{
	unsigned kind = classify_stmt_kind((const char *)sql, len);

	session_on_statement(&c->sess, truncated ? NULL : (const char *)sql, len,
			     kind);
	if (kind & STMT_DDL || truncated)
		batch_note_ddl();
}

/* Commands that neither read nor change warnings, ROW_COUNT() or
 * FOUND_ROWS(), and cannot fail: a lookup's diagnostics still wait after
 * them.  (Not COM_PING: its OK sets ROW_COUNT() to 0; nor
 * COM_RESET_CONNECTION or COM_CHANGE_USER: FOUND_ROWS() outlives them.) */
static bool client_cmd_keeps_diag(uint8_t cmd)
{
	return cmd == COM_STATISTICS || cmd == COM_STMT_CLOSE ||
	       cmd == COM_STMT_SEND_LONG_DATA;
}

/* Forward the command at the head of the input to the own backend. */
static void client_forward(struct client *c, size_t nbytes,
			   const uint8_t *head, size_t head_len)
{
	bool ahead = c->restore_ahead;

	c->restore_ahead = false;
	if (!c->be || (c->be->state != BACKEND_IDLE && !ahead)) {
		evbuffer_drain(bufferevent_get_input(c->bev), nbytes);
		c->seq = 1;
		client_send_err(c, 1927, "70100",
				"inbatch: backend connection is gone");
		client_close(c, "no backend for command");
		return;
	}
	IB_STAT_ADD(bytes_in, nbytes);
	/* from here on the session's own diagnostics are the client's
	 * (client_restore_diag), but for commands that touch none */
	if (!client_cmd_keeps_diag(head[0]))
		c->diag_pending = false;
	if (!backend_relay(c->be, bufferevent_get_input(c->bev), nbytes, head,
			   head_len)) {
		IB_STAT_INC(oom_errors);
		client_close(c, "relay failed");
		return;
	}
	if (c->be->state == BACKEND_BUSY)
		client_set_state(c, CLIENT_QUERY);
}

/* Ahead of a lookup the session runs itself: a lookup that fails leaves
 * FOUND_ROWS() as it was, so a shared answer's must be back first. */
static void client_restore_before_lookup(struct client *c)
{
	(void)client_send_restore(c, true, client_diag_ahead_cb);
}

bool client_run_own(struct client *c, const char *sql, size_t len)
{
	if (!c->be || c->be->state != BACKEND_IDLE)
		return false;
	client_restore_before_lookup(c);
	c->diag_pending = false;
	if (!backend_relay_query(c->be, sql, len))
		return false;
	client_set_state(c, CLIENT_QUERY);
	return true;
}

void client_command_done(struct client *c)
{
	if (c->state == CLIENT_CLOSING)
		return;
	client_set_state(c, CLIENT_IDLE);
	client_arm_timer(c, ib.cfg->client_idle_timeout);
	client_step(c);
}

/* The batcher's and prefetch's view of the client (struct lookup_ops). */
static struct client *client_of(struct lookup *l)
{
	return (struct client *)(void *)((char *)l - offsetof(struct client, lk));
}

static struct backend *client_lookup_backend(struct lookup *l)
{
	return client_of(l)->be;
}

static uint16_t client_lookup_status(struct lookup *l)
{
	return client_of(l)->status;
}

static bool client_lookup_closing(struct lookup *l)
{
	return client_of(l)->state == CLIENT_CLOSING;
}

static struct evbuffer *client_lookup_output(struct lookup *l)
{
	return bufferevent_get_output(client_of(l)->bev);
}

static void client_lookup_sent(struct lookup *l, uint16_t status)
{
	client_of(l)->status = status;
}

static void client_lookup_wait(struct lookup *l)
{
	client_set_state(client_of(l), CLIENT_BATCHED);
}

static void client_lookup_answered(struct lookup *l, unsigned rows, bool own)
{
	struct client *c = client_of(l);

	stats_record_latency(util_now_us() - c->query_start_us);
	/* answered by another session's run: the diagnostics its own
	 * session holds are not this lookup's (client_restore_diag) */
	c->diag_pending = !own;
	c->diag_rows = rows;
	client_command_done(c);
}

static void client_lookup_before_own(struct lookup *l)
{
	client_restore_before_lookup(client_of(l));
}

static bool client_lookup_fall_back(struct lookup *l, const char *sql,
				    size_t len)
{
	struct client *c = client_of(l);

	client_set_state(c, CLIENT_IDLE);
	return client_run_own(c, sql, len);
}

static void client_lookup_fail(struct lookup *l, bool gone, const char *why)
{
	struct client *c = client_of(l);

	if (c->state == CLIENT_CLOSING)
		return;
	if (gone) {
		c->seq = 1;
		client_send_err(c, 1927, "70100",
				"inbatch: backend connection is gone");
	}
	client_close(c, "%s", why);
}

static void client_lookup_resume(struct lookup *l)
{
	client_command_done(client_of(l));
}

static const struct lookup_ops client_lookup_ops = {
	.backend = client_lookup_backend,
	.status = client_lookup_status,
	.closing = client_lookup_closing,
	.output = client_lookup_output,
	.sent = client_lookup_sent,
	.wait = client_lookup_wait,
	.answered = client_lookup_answered,
	.before_own = client_lookup_before_own,
	.fall_back = client_lookup_fall_back,
	.fail = client_lookup_fail,
	.resume = client_lookup_resume,
};

/* Offer COM_QUERY <head>[<len>] (command byte first) to the batcher. */
static bool client_batch_submit(struct client *c, const uint8_t *head,
				size_t len)
{
	c->lk.status = c->status;
	c->lk.start_us = c->query_start_us;
	return batch_submit(&c->lk, (const char *)head + 1, len - 1);
}

static void client_on_response_done(struct client *c)
{
	if (c->state == CLIENT_CLOSING)
		return;
	if (c->be)
		c->status = c->be->status & (uint16_t)~ST_SESSION_STATE_CHANGED;
	if (c->lk.solo_group)
		batch_solo_done(&c->lk);
	prefetch_on_response_done(&c->lk);
	/* a reset session lost its trackers with everything else */
	if (c->cmd == COM_RESET_CONNECTION && c->be) {
		client_track(c, CLIENT_TRACK_RESET);
		return;
	}
	client_command_done(c);
}

/* What the session's backend reports (see enum backend_event). */
static bool client_backend_event(struct backend *be, enum backend_event ev,
				 struct backend_ev *e)
{
	struct client *c = be->client;

	switch (ev) {
	case BACKEND_EV_GREETING:
		client_on_backend_greeting(c);
		break;
	case BACKEND_EV_AUTH:
		client_on_backend_auth(c, e->p, e->len);
		break;
	case BACKEND_EV_AUTH_FAILED:
		client_on_backend_auth_failed(c, e->why);
		break;
	case BACKEND_EV_LOGIN:
		client_on_backend_login(c, e->p, e->len);
		break;
	case BACKEND_EV_OK:
		session_on_ok(&c->sess, e->ok);
		/* a client with SESSION_TRACK gets what its own trackers
		 * would report; one without, no state at all */
		if (e->state && (c->caps & CAP_SESSION_TRACK)) {
			e->tracked = true;
			return session_client_state(
				&c->sess, e->ok->state,
				e->ok->state ? e->ok->state_len : 0, e->state);
		}
		break;
	case BACKEND_EV_EOF:
		session_on_eof(&c->sess, e->status);
		break;
	case BACKEND_EV_UNREAD_STATE:
		session_on_unknown(&c->sess, "an OK packet too large to read");
		break;
	case BACKEND_EV_RELAYED:
		prefetch_on_relay(&c->lk, e->start, e->p, e->len);
		break;
	case BACKEND_EV_INFILE:
		client_on_infile_request(c);
		break;
	case BACKEND_EV_DONE:
		client_on_response_done(c);
		break;
	case BACKEND_EV_LOST:
		client_on_backend_lost(c, e->why, e->was);
		break;
	case BACKEND_EV_CLOSED:
		if (c->be == be)
			c->be = NULL;
		break;
	}
	return true;
}

static struct evbuffer *client_backend_output(struct backend *be)
{
	return bufferevent_get_output(be->client->bev);
}

static const struct backend_owner client_backend_owner = {
	.event = client_backend_event,
	.output = client_backend_output,
};

/*
 * COM_CHANGE_USER: checked against [users] as a login is, then relayed
 * to the server as the client sent it (<p>[<len>], command byte first).
 */
static void client_change_user(struct client *c, const uint8_t *p, size_t len)
{
	struct proto_chuser cu;
	char *user, *db;

	c->seq = 1;
	if (!proto_parse_change_user(p + 1, len - 1, c->caps, &cu)) {
		client_send_err(c, 1047, "08S01", "Malformed COM_CHANGE_USER");
		client_close(c, "bad COM_CHANGE_USER");
		return;
	}
	if (!c->be || c->be->state != BACKEND_IDLE) {
		client_send_err(c, 1927, "70100",
				"inbatch: backend connection is gone");
		client_close(c, "no backend for change user");
		return;
	}
	user = util_strndup(cu.user, cu.user_len);
	db = cu.db ? util_strndup(cu.db, cu.db_len) : NULL;
	if (!user || (cu.db && !db)) {
		free(user);
		free(db);
		IB_STAT_INC(oom_errors);
		client_close(c, "out of memory");
		return;
	}
	free(c->old_user);
	c->old_user = c->user;
	c->user = user;
	free(c->db);
	c->db = db;
	if (cu.has_collation)
		c->collation = (uint8_t)cu.collation;
	c->auth_used_password = cu.auth_len > 0;
	c->auth_deny = !client_allowed(cu.user, cu.user_len, cu.plugin,
				       cu.plugin_len, cu.auth, cu.auth_len,
				       c->be->nonce);
	c->change_user = true;
	session_reset(&c->sess);
	client_set_state(c, CLIENT_BACKEND_AUTH);
	if (!backend_change_user(c->be, p, len, user)) {
		IB_STAT_INC(oom_errors);
		client_send_err(c, 1041, "HY000", "Out of memory");
		client_close(c, "cannot relay COM_CHANGE_USER");
	}
}

/* The command at the head of the input. */
struct client_cmd {
	size_t nbytes; /* on the wire, headers included */
	size_t len;    /* its payload */
	size_t hlen;   /* bytes of the payload copied to <head> */
	uint8_t *head; /* CLIENT_HEAD_MAX bytes */
};

/*
 * A COM_CHANGE_USER longer than the head we copy: <nbytes> of <in> hold
 * its <len> payload bytes (within max_packet_size), in parts over 16 MiB.
 */
static void client_change_user_long(struct client *c, struct evbuffer *in,
				    size_t nbytes, size_t len)
{
	struct pktbuf pb;
	uint8_t seq;

	pktbuf_init(&pb);
	(void)nbytes; /* whole in <in>: read at once, or drained on failure */
	if (backend_read_packet(in, &pb, &seq, len) != 1) {
		pktbuf_free(&pb);
		IB_STAT_INC(oom_errors);
		client_send_err(c, 1041, "HY000", "Out of memory");
		client_close(c, "out of memory for COM_CHANGE_USER");
		return;
	}
	client_change_user(c, pb.buf, pb.len);
	pktbuf_free(&pb);
}

/*
 * Answers the client has not read yet stay bounded, batched or relayed
 * alike: over the cap, no new command until they drain (the write
 * callback steps the client again then).
 */
static void client_wait_drain(struct client *c)
{
	c->out_full = true;
	if (!c->read_paused) {
		io_disable(c->io, c->bev, EV_READ);
		c->read_paused = true;
	}
}

static bool client_out_over(struct client *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) <=
	    IB_CLIENT_OUT_HIGH)
		return false;
	client_wait_drain(c);
	return true;
}

/*
 * The next whole command off the input, its head copied out: small
 * commands whole, big ones (over CLIENT_HEAD_MAX) in part, relayed as
 * they are.  False while none is whole, or when the client was closed.
 */
static bool client_take_command(struct client *c, struct evbuffer *in,
				struct client_cmd *cmd)
{
	struct evbuffer_ptr ptr;
	uint8_t seq = 0;
	unsigned empty = 0;

	for (;;) {
		cmd->len = 0;
		cmd->nbytes = proto_packet_extent(
			in, (size_t)ib.cfg->max_packet_size, &cmd->len, &seq);
		if (cmd->nbytes == (size_t)-1) {
			c->seq = 1;
			client_send_err(c, 1153, "08S01",
					"Got a packet bigger than "
					"'max_packet_size' bytes");
			client_close(c, "packet of %zu bytes too big", cmd->len);
			return false;
		}
		if (cmd->nbytes == 0) {
			/* wait; but never buffer more than one command */
			return false;
		}
		if (seq != 0) {
			c->seq = seq + 1;
			client_send_err(c, 1156, "08S01",
					"Got packets out of order");
			IB_STAT_INC(client_errors);
			client_close(c, "command with sequence id %u", seq);
			return false;
		}
		compress_on_command(c->zs, cmd->nbytes);
		if (cmd->len > 0)
			break;
		evbuffer_drain(in, cmd->nbytes);
		c->seq = 1;
		client_send_err(c, 1047, "08S01", "Unknown command");
		/* 16 MiB of zeros, which a compressed client sends in 16
		 * KiB, are four million of these: as many per turn as a
		 * plain client's read holds, the rest once they have left */
		if (++empty == CLIENT_EMPTY_PER_TURN || client_out_over(c)) {
			client_wait_drain(c);
			return false;
		}
	}
	cmd->hlen = cmd->len < CLIENT_HEAD_MAX ? cmd->len : CLIENT_HEAD_MAX;
	if (cmd->len > PROTO_MAX_PAYLOAD && cmd->hlen > PROTO_MAX_PAYLOAD)
		cmd->hlen = PROTO_MAX_PAYLOAD;
	evbuffer_ptr_set(in, &ptr, 4, EVBUFFER_PTR_SET);
	evbuffer_copyout_from(in, &ptr, cmd->head, cmd->hlen);
	return true;
}

/* A command of the admin console.  False: take no further command now. */
static bool client_admin_next(struct client *c, struct evbuffer *in,
			      const struct client_cmd *cmd)
{
	evbuffer_drain(in, cmd->nbytes);
	if (cmd->hlen < cmd->len) {
		client_send_err(c, 1153, "08S01", "Admin command too long");
		return true;
	}
	if (cmd->head[0] == COM_QUIT) {
		client_close(c, "quit");
		return false;
	}
	admin_command(c, cmd->head, cmd->len);
	if (c->state == CLIENT_IDLE)
		client_arm_timer(c, ib.cfg->client_idle_timeout);
	return true;
}

/*
 * A COM_QUERY goes, in turn, to prefetch (a lookup of a loop inside a
 * transaction), the batcher (a lookup other sessions share), the
 * diagnostics restorer (a statement that reads what a shared lookup left
 * behind), and the relay.  False: take no further command now.
 */
static bool client_on_query(struct client *c, struct evbuffer *in,
			    const struct client_cmd *cmd)
{
	const uint8_t *head = cmd->head;
	bool whole = cmd->hlen == cmd->len;

	if (prefetch_submit(&c->lk, (const char *)head + 1, cmd->len - 1,
			    whole)) {
		evbuffer_drain(in, cmd->nbytes);
		IB_STAT_ADD(bytes_in, cmd->nbytes);
		prefetch_run(&c->lk);
		return false;
	}
	if (whole && client_batch_submit(c, head, cmd->len)) {
		evbuffer_drain(in, cmd->nbytes);
		IB_STAT_ADD(bytes_in, cmd->nbytes);
		return false;
	}
	client_restore_diag(c);
	client_note_statement(c, head + 1, cmd->hlen - 1, !whole);
	client_forward(c, cmd->nbytes, head, cmd->hlen);
	return true;
}

/* A command of a relayed session.  False: take no further command now. */
static bool client_dispatch(struct client *c, struct evbuffer *in,
			    const struct client_cmd *cmd)
{
	const uint8_t *head = cmd->head;

	if (head[0] != COM_QUERY)
		prefetch_on_command(&c->lk, head[0]);
	switch (head[0]) {
	case COM_QUIT:
		evbuffer_drain(in, cmd->nbytes);
		client_close(c, "quit");
		return false;
	case COM_CHANGE_USER:
		/* the server keeps FOUND_ROWS() across it */
		if (client_restore_diag_wait(c))
			return false;
		if (cmd->hlen < cmd->len) {
			/* a long one (names of any length): the server
			 * decides, as directly */
			client_change_user_long(c, in, cmd->nbytes, cmd->len);
			return false;
		}
		evbuffer_drain(in, cmd->nbytes);
		client_change_user(c, head, cmd->len);
		return false;
	case COM_QUERY:
		return client_on_query(c, in, cmd);
	case COM_STMT_PREPARE:
		client_restore_diag(c);
		client_note_statement(c, head + 1, cmd->hlen - 1,
				      cmd->hlen < cmd->len);
		break;
	default:
		if (!client_cmd_keeps_diag(head[0]))
			client_restore_diag(c);
		break;
	}
	client_forward(c, cmd->nbytes, head, cmd->hlen);
	return true;
}

/* Take commands off the input while the session is idle. */
static void client_next_command(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	uint8_t head[CLIENT_HEAD_MAX];
	struct client_cmd cmd = { .head = head };
	bool more = true;

	c->held = false;
	while (more && c->state == CLIENT_IDLE &&
	       client_take_command(c, in, &cmd)) {
		if (c->login_err && c->queries == 0) {
			/* as the server answers after a failed init_connect:
			 * the ERR, then the close (whether or not its close
			 * has reached us yet) */
			c->seq = 1;
			if (head[0] != COM_QUIT)
				client_write(c, c->login_err, c->login_err_len);
			client_close(c, "init_connect failed");
			return;
		}
		if (!c->is_admin &&
		    prefetch_busy(&c->lk, head, cmd.hlen, cmd.len)) {
			/* the command stays in the input until the fetch is
			 * back (ops->resume); read nothing more meanwhile,
			 * and the wait is ours, not a slow client's */
			c->held = true;
			if (!c->read_paused) {
				io_disable(c->io, c->bev, EV_READ);
				c->read_paused = true;
			}
			client_disarm_timer(c);
			return;
		}
		c->cmd = head[0];
		c->seq = 1;
		if (c->cmd_again) {
			c->cmd_again = false;
		} else {
			c->queries++;
			c->query_start_us = util_now_us();
			IB_STAT_INC(queries_total);
		}
		client_disarm_timer(c);
		more = c->is_admin ? client_admin_next(c, in, &cmd)
				   : client_dispatch(c, in, &cmd);
	}
}

/* LOCAL INFILE: pass the client's file packets through; an empty packet
 * ends the file, after which the server's answer is relayed. */
static void client_relay_infile(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	uint8_t hdr[4];
	uint32_t n;

	while (c->state == CLIENT_INFILE) {
		if (evbuffer_get_length(in) < 4)
			return;
		evbuffer_copyout(in, hdr, 4);
		n = hdr[0] | (hdr[1] << 8) | ((uint32_t)hdr[2] << 16);
		if (evbuffer_get_length(in) < 4 + (size_t)n)
			return;
		if (!c->be) {
			client_close(c, "backend gone during LOAD DATA");
			return;
		}
		IB_STAT_ADD(bytes_in, 4 + n);
		backend_relay_raw(c->be, in, 4 + n);
		if (n == 0) {
			backend_infile_done(c->be);
			client_set_state(c, CLIENT_QUERY);
			backend_resume(c->be);
		}
	}
}

/* Ready for input again after client_step() paused reading. */
static void client_resume_read(struct client *c)
{
	if (c->read_paused) {
		c->read_paused = false;
		io_enable(c->io, c->bev, EV_READ);
		if (c->compress)
			compress_resume(c->bev);
	}
}

static void client_step(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct pktbuf pb;
	size_t len;
	uint8_t seq;
	int r;

	switch (c->state) {
	case CLIENT_HANDSHAKE:
	case CLIENT_AUTH_SWITCH:
	case CLIENT_BACKEND_AUTH:
		pktbuf_init(&pb);
		r = backend_read_packet(in, &pb, &seq, CLIENT_HANDSHAKE_MAX);
		if (r < 0) {
			pktbuf_free(&pb);
			IB_STAT_INC(client_errors);
			client_close(c, "oversized handshake packet");
			return;
		}
		if (r == 0) {
			pktbuf_free(&pb);
			return;
		}
		if (seq != c->seq) {
			pktbuf_free(&pb);
			client_send_err(c, 1156, "08S01",
					"Got packets out of order");
			IB_STAT_INC(client_errors);
			client_close(c, "handshake sequence %u, expected %u",
				     seq, c->seq);
			return;
		}
		c->seq = seq + 1;
		if (c->state == CLIENT_HANDSHAKE)
			client_on_handshake(c, pb.buf, pb.len);
		else if (c->state == CLIENT_BACKEND_AUTH)
			client_on_auth_reply(c, pb.buf, pb.len);
		else
			client_admin_verify(c, "mysql_native_password",
					    pb.buf, pb.len, true);
		pktbuf_free(&pb);
		break;
	case CLIENT_IDLE:
		if (client_out_over(c))
			break;
		c->out_full = false;
		if (!c->half_closed)
			client_resume_read(c);
		client_next_command(c);
		if (c->held)
			break;
		/* the client shut down its sending side: once every command
		 * it sent is answered, close */
		if (c->half_closed && c->state == CLIENT_IDLE && !c->out_full) {
			client_close(c, "client closed its side");
			break;
		}
		/* a part of a packet: the rest is due within net_read_timeout
		 * of the last read, as MariaDB does it */
		if (c->state == CLIENT_IDLE && evbuffer_get_length(in))
			client_arm_timer(c, ib.cfg->net_read_timeout);
		/* a command without an answer (COM_STMT_CLOSE) was the last:
		 * nothing else re-arms the idle timeout */
		else if (c->state == CLIENT_IDLE && c->timer_due_us == 0)
			client_arm_timer(c, ib.cfg->client_idle_timeout);
		break;
	case CLIENT_INFILE:
		client_resume_read(c);
		client_relay_infile(c);
		if (c->state == CLIENT_INFILE)
			client_arm_timer(c, ib.cfg->net_read_timeout);
		break;
	case CLIENT_WAIT_BACKEND:
		if (evbuffer_get_length(in)) {
			/* talking before the greeting: not a MySQL client */
			IB_STAT_INC(client_errors);
			client_close(c, "data before greeting");
		}
		break;
	case CLIENT_CLOSING:
		evbuffer_drain(in, evbuffer_get_length(in));
		break;
	default:
		/* busy: the next command waits in the input buffer; once it
		 * is whole, stop reading, so a client that pipelines holds
		 * one command here and the rest in its own socket */
		if (!c->read_paused &&
		    proto_packet_extent(in, (size_t)ib.cfg->max_packet_size,
					&len, &seq) != 0) {
			io_disable(c->io, c->bev, EV_READ);
			c->read_paused = true;
		}
		break;
	}
}

/* Hand a CLOSING client to the loop for freeing, once. */
/* Onto the list client_free_closed() frees at the end of the turn. */
static void client_to_free_list(struct client *c)
{
	c->queued_free = true;
	TAILQ_REMOVE(&ib_loop->clients, c, entry);
	TAILQ_INSERT_TAIL(&ib_loop->justfree, c, entry);
}

/* A closing client is done: its output left, or its time ran out. */
static void client_queue_free(struct client *c)
{
	if (c->queued_free)
		return;
	TAILQ_REMOVE(&ib_loop->closing, c, closing_entry);
	io_disable(c->io, c->bev, EV_READ | EV_WRITE);
	client_to_free_list(c);
}

/* Nothing left to send, including what the filters (compression, TLS)
 * passed down. */
static bool client_flushed(struct client *c)
{
	struct bufferevent *b;

	for (b = c->bev; b; b = bufferevent_get_underlying(b))
		if (evbuffer_get_length(bufferevent_get_output(b)))
			return false;
	return true;
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	client_step(arg);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	(void)bev;
	if (c->state == CLIENT_CLOSING) {
		/* flushed: now it can go */
		if (client_flushed(c))
			client_queue_free(c);
		return;
	}
	if (c->be && c->be->state == BACKEND_BUSY)
		backend_resume(c->be);
	else if (c->state == CLIENT_IDLE && c->out_full)
		client_step(c);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	(void)bev;
	/* a half-close (shutdown of its sending side) still gets the
	 * answers to what it sent, as the server would send them */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    c->state >= CLIENT_TRACK && c->state != CLIENT_CLOSING &&
	    !c->is_admin) {
		c->half_closed = true;
		io_disable(c->io, c->bev, EV_READ);
		if (c->state == CLIENT_IDLE)
			client_step(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->state != CLIENT_CLOSING)
			client_close(c, "client %s",
				     (what & BEV_EVENT_EOF) ? "disconnected"
							    : "connection error");
		/* nothing more can be written to it: free it now (the
		 * socket's output buffer cannot be drained while libevent
		 * has it frozen for writing) */
		client_queue_free(c);
	}
}

void client_close(struct client *c, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	enum client_state was;

	if (c->state == CLIENT_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_debug("client %u (%s): closing: %s", c->id, c->peer, why);
	was = c->state;
	/* CLOSING first: callbacks run below must see it (and nothing
	 * leaves CLOSING: client_set_state asserts it) */
	client_set_state(c, CLIENT_CLOSING);
	TAILQ_INSERT_TAIL(&ib_loop->closing, c, closing_entry);
	if (was == CLIENT_BATCHED)
		batch_lookup_gone(&c->lk);
	if (c->lk.solo_group)
		batch_solo_done(&c->lk);
	client_release_slot(c);
	if (c->be) {
		struct backend *be = c->be;

		c->be = NULL;
		be->client = NULL;
		backend_close(be);
	}
	io_disable(c->io, c->bev, EV_READ);
	/* give queued output (an ERR) a bounded time to leave */
	client_arm_timer(c, CLIENT_CLOSE_SECS);
	io_enable(c->io, c->bev, EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_write_cb(c->bev, c);
	else
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

void client_free_closed(void)
{
	struct client *c, *next;

	/* clients whose close timed out, or whose output left through a
	 * filter below (TLS, compression), join the free list too */
	for (c = TAILQ_FIRST(&ib_loop->closing); c; c = next) {
		next = TAILQ_NEXT(c, closing_entry);
		if (!evtimer_pending(c->timer, NULL) || client_flushed(c))
			client_queue_free(c);
	}
	while ((c = TAILQ_FIRST(&ib_loop->justfree)) != NULL) {
		TAILQ_REMOVE(&ib_loop->justfree, c, entry);
		client_release_slot(c); /* teardown frees without closing */
		ib_loop->n_clients--;
		if (c->is_admin)
			ib_loop->n_admin--;
		io_free(c->io);
		bufferevent_free(c->bev);
		event_free(c->timer);
		session_free(&c->sess);
		prefetch_free(&c->lk);
		free(c->user);
		free(c->old_user);
		free(c->track_init);
		free(c->login_err);
		free(c->db);
		free(c->lk.sql);
		free(c);
	}
}

void client_free_all(void)
{
	struct client *c;

	while ((c = TAILQ_FIRST(&ib_loop->clients)) != NULL) {
		if (c->state == CLIENT_CLOSING) {
			client_queue_free(c);
			continue;
		}
		client_set_state(c, CLIENT_CLOSING);
		client_to_free_list(c);
	}
	client_free_closed();
}

void client_shutdown_all(void)
{
	struct client *c, *next;

	for (c = TAILQ_FIRST(&ib_loop->clients); c; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CLIENT_CLOSING)
			continue;
		if (c->state == CLIENT_IDLE) {
			/* as the server does on shutdown: an out-of-band ERR */
			c->seq = 1;
			client_send_err(c, 1053, "08S01",
					"Server shutdown in progress");
		}
		client_close(c, "shutdown");
	}
}
