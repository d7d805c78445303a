/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * backend.c: backend connections.  We speak the client side of the
 * protocol ourselves so each session negotiates exactly its client's
 * capabilities; responses are then relayed byte for byte and streamed. */
#include "backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "compress.h"
#include "io.h"
#include "tls.h"

#include <event2/bufferevent_ssl.h>

/* Packets we inspect whole; larger ones (rows) stream after a peek. */
#define BACKEND_INSPECT_MAX 65536
#define BACKEND_PEEK	    16

static const char *const backend_state_names[] = {
	[BACKEND_CONNECTING] = "connecting", [BACKEND_GREETING] = "greeting",
	[BACKEND_WAIT_LOGIN] = "wait_login", [BACKEND_AUTH] = "auth",
	[BACKEND_IDLE] = "idle",	     [BACKEND_BUSY] = "busy",
	[BACKEND_DEAD] = "dead",
};

const char *backend_state_name(enum backend_state s)
{
	return backend_state_names[s];
}

#ifdef IB_DEBUG /* the table serves the setter's assertion */
#define BS(s) (1u << (s))
/* The legal moves, one row per state: what may follow it. */
static const unsigned backend_next_states[] = {
	[BACKEND_CONNECTING] = BS(BACKEND_GREETING) | BS(BACKEND_DEAD),
	[BACKEND_GREETING] = BS(BACKEND_WAIT_LOGIN) | BS(BACKEND_DEAD),
	[BACKEND_WAIT_LOGIN] = BS(BACKEND_AUTH) | BS(BACKEND_DEAD),
	[BACKEND_AUTH] = BS(BACKEND_IDLE) | BS(BACKEND_DEAD),
	[BACKEND_IDLE] = BS(BACKEND_BUSY) | BS(BACKEND_AUTH) | BS(BACKEND_DEAD),
	[BACKEND_BUSY] = BS(BACKEND_IDLE) | BS(BACKEND_DEAD),
	[BACKEND_DEAD] = BS(BACKEND_DEAD),
};
#undef BS
#endif

/* The one way a backend changes state; asserts the move is legal. */
static void backend_set_state(struct backend *be, enum backend_state s)
{
	IB_ASSERT(backend_next_states[be->state] & (1u << s));
	log_debug("backend %u: %s -> %s", be->thread_id,
		  backend_state_names[be->state], backend_state_names[s]);
	be->state = s;
}

/* Tell the owner, if there still is one, of <ev>. */
static bool backend_notify(struct backend *be, enum backend_event ev,
			   struct backend_ev *e)
{
	struct backend_ev none;

	if (!be->client)
		return true;
	if (!e) {
		memset(&none, 0, sizeof(none));
		e = &none;
	}
	return be->owner->event(be, ev, e);
}

static void backend_read_cb(struct bufferevent *bev, void *arg);
static void backend_event_cb(struct bufferevent *bev, short what, void *arg);
static void backend_lost(struct backend *be, const char *why);
static bool backend_start_compress(struct backend *be);

/* Pending collect-mode request (internal queries); be->collect is the
 * one whose response is being read, <next> what was sent after it. */
struct backend_collect {
	struct backend_collect *next;
	backend_result_fn cb;
	void *arg;
	struct backend_result res;
};

/* Hand <col>'s caller <res> (its result, or NULL: none comes), then
 * free it. */
static void backend_collect_end(struct backend_collect *col,
				struct backend_result *res)
{
	col->cb(col->arg, res);
	backend_result_free(&col->res);
	free(col);
}

/* Every collect still queued hears, in order, that no result comes. */
static void backend_collect_abort(struct backend *be)
{
	struct backend_collect *col;

	be->relay_behind = false;
	while ((col = be->collect) != NULL) {
		be->collect = col->next;
		backend_collect_end(col, NULL);
	}
}

static void backend_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct backend *be = arg;

	(void)fd;
	(void)what;
	if (be->state == BACKEND_CONNECTING || be->state == BACKEND_GREETING ||
	    be->state == BACKEND_AUTH)
		backend_lost(be, "backend connect timeout");
	else if (be->state == BACKEND_BUSY)
		backend_lost(be, "backend query timeout");
}

static struct backend *backend_new(void)
{
	struct backend *be = calloc(1, sizeof(*be));
	struct timeval tv;

	if (!be)
		return NULL;
	be->bev = bufferevent_socket_new(ib_loop->base, -1, BEV_OPT_CLOSE_ON_FREE);
	be->timer = evtimer_new(ib_loop->base, backend_timer_cb, be);
	if (!be->bev || !be->timer)
		goto fail;
	bufferevent_setcb(be->bev, backend_read_cb, NULL, backend_event_cb, be);
	bufferevent_enable(be->bev, EV_READ | EV_WRITE);
	/* calloc: BACKEND_CONNECTING, the first state */
	/* libevent reports an immediate refusal through the event callback,
	 * deferred; -1 means no socket at all: report it the same way */
	if (bufferevent_socket_connect(be->bev,
				       (struct sockaddr *)&ib.backend_addr,
				       ib.backend_addr_len) < 0)
		bufferevent_trigger_event(be->bev, BEV_EVENT_ERROR,
					  BEV_TRIG_DEFER_CALLBACKS);
	tv.tv_sec = ib.cfg->backend_connect_timeout;
	tv.tv_usec = 0;
	evtimer_add(be->timer, &tv);
	TAILQ_INSERT_TAIL(&ib_loop->backends, be, entry);
	return be;
fail:
	if (be->bev)
		bufferevent_free(be->bev);
	if (be->timer)
		event_free(be->timer);
	free(be);
	return NULL;
}

struct backend *backend_new_for_client(struct client *owner,
				       const struct backend_owner *ops)
{
	struct backend *be = backend_new();

	if (!be)
		return NULL;
	be->client = owner;
	be->owner = ops;
	return be;
}

int backend_read_packet(struct evbuffer *in, struct pktbuf *pb, uint8_t *seq,
			size_t max)
{
	size_t off, total;
	uint8_t hdr[4];
	uint32_t len;

	off = proto_packet_extent(in, max, &total, seq);
	if (off == (size_t)-1)
		return -1;
	if (off == 0)
		return 0;
	pktbuf_reset(pb);
	while (off > 0) {
		evbuffer_remove(in, hdr, 4);
		len = hdr[0] | (hdr[1] << 8) | ((uint32_t)hdr[2] << 16);
		*seq = hdr[3];
		if (len) {
			size_t at = pb->len;

			pktbuf_put_zero(pb, len);
			if (pb->failed) {
				evbuffer_drain(in, len);
			} else {
				evbuffer_remove(in, pb->buf + at, len);
			}
		}
		off -= 4 + len;
	}
	return pb->failed ? -1 : 1;
}

static bool backend_write_packet(struct backend *be, uint8_t seq,
				 const void *p, size_t len)
{
	return proto_write_packet(bufferevent_get_output(be->bev), &seq, p,
				  len);
}

/*
 * Forward the client's HandshakeResponse <h> to the server, auth bytes as
 * the client computed them over the server's own scramble (the greeting
 * the client saw is this session's).  <caps> are the client's, already
 * narrowed by what we advertised; mirror them, force what our parser
 * needs and drop what would change packet layouts we relay unchanged.
 */
bool backend_login(struct backend *be, const struct proto_hsresp *h,
		   uint32_t caps, uint32_t ext_caps, bool peer_tls)
{
	struct pktbuf pb;
	char *user = NULL, *db = NULL, *plugin = NULL;
	uint8_t seq = 1;
	bool ok;

	IB_ASSERT(be->state == BACKEND_WAIT_LOGIN);
	caps &= be->server_caps;
	caps |= CAP_PROTOCOL_41 | CAP_SECURE_CONNECTION |
		CAP_PLUGIN_AUTH | CAP_TRANSACTIONS;
	caps |= be->server_caps & (CAP_PLUGIN_AUTH_LENENC | CAP_MULTI_RESULTS |
				   CAP_PS_MULTI_RESULTS);
	caps &= ~(CAP_SESSION_TRACK |
		  CAP_CONNECT_WITH_DB | (1u << 25) |
		  (1u << 26) | (1u << 27) | (1u << 28) | (1u << 29) |
		  (1u << 30));
	/* the client's MariaDB extensions, which need bit 0 clear */
	be->ext_caps = ext_caps & be->server_ext_caps;
	be->peer_tls = peer_tls;
	if (!be->ext_caps)
		caps |= CAP_LONG_PASSWORD;
	else
		caps &= ~CAP_LONG_PASSWORD;
	caps &= ~CAP_SSL;
	/* the server tells us every change of session state; clients that
	 * did not ask for it get OK packets without it (backend_untrack) */
	caps |= be->server_caps & CAP_SESSION_TRACK;
	if (h->db && h->db_len)
		caps |= CAP_CONNECT_WITH_DB;
	if (!h->attrs || !(be->server_caps & CAP_CONNECT_ATTRS))
		caps &= ~CAP_CONNECT_ATTRS;
	else
		caps |= CAP_CONNECT_ATTRS;
	/* an auth blob over 255 bytes needs the lenenc form */
	if (h->auth_len > 255 && !(caps & CAP_PLUGIN_AUTH_LENENC))
		return false;
	be->caps = caps;
	user = util_strndup(h->user, h->user_len);
	db = h->db ? util_strndup(h->db, h->db_len) : NULL;
	/* a client without PLUGIN_AUTH scrambled for the native plugin */
	plugin = h->plugin ? util_strndup(h->plugin, h->plugin_len)
			   : strdup("mysql_native_password");
	ok = user && plugin && (!h->db || db);
	free(be->user);
	be->user = user;
	pktbuf_init(&pb);
	if (ok && tls_backend_enabled()) {
		struct bufferevent *tb;

		if (!(be->server_caps & CAP_SSL)) {
			log_warn_rl(1, "backend_tls is on but the backend does "
				    "not offer TLS");
			ok = false;
			goto out;
		}
		/* SSLRequest in clear, then everything else inside TLS */
		caps |= CAP_SSL;
		be->caps = caps;
		pktbuf_put_u32(&pb, caps);
		pktbuf_put_u32(&pb, 1u << 30);
		pktbuf_put_u8(&pb, h->collation);
		pktbuf_put_zero(&pb, 19);
		pktbuf_put_u32(&pb, be->ext_caps);
		ok = !pb.failed && backend_write_packet(be, 1, pb.buf, pb.len);
		if (ok)
			io_detach(be->io);
		tb = ok ? tls_connect(be->bev) : NULL;
		if (!tb) {
			ok = false;
			goto out;
		}
		be->bev = tb;
		be->tls = true;
		bufferevent_setcb(be->bev, backend_read_cb, NULL,
				  backend_event_cb, be);
		bufferevent_enable(be->bev, EV_READ | EV_WRITE);
		pktbuf_reset(&pb);
		seq = 2;
	}
	if (ok) {
		ok = proto_build_hsresp(&pb, caps, be->ext_caps, 1u << 30, h->collation, user,
					h->auth, h->auth_len, db, plugin,
					h->attrs, h->attrs_len) &&
		     backend_write_packet(be, seq, pb.buf, pb.len);
	}
out:
	pktbuf_free(&pb);
	free(db);
	free(plugin);
	be->auth_seq = seq;
	be->full_auth = false;
	be->user_changing = false;
	backend_set_state(be, BACKEND_AUTH);
	be->resp.rs = RESP_AUTH;
	return ok;
}

/*
 * Forward the client's COM_CHANGE_USER (<p>: the whole payload, command
 * byte first) unchanged: its auth bytes are computed over the scramble
 * of the greeting, which is the server's.  <user> is the new account's
 * name, for SHOW BACKENDS.
 */
bool backend_change_user(struct backend *be, const uint8_t *p, size_t len,
			 const char *user)
{
	char *u;

	if (be->state != BACKEND_IDLE)
		return false;
	u = strdup(user);
	if (!u)
		return false;
	free(be->user);
	be->user = u;
	if (!backend_write_packet(be, 0, p, len))
		return false;
	be->auth_seq = 0;
	be->full_auth = false;
	be->user_changing = true;
	memcpy(be->auth_nonce, be->nonce, 20);
	backend_set_state(be, BACKEND_AUTH);
	be->resp.rs = RESP_AUTH;
	return true;
}

/*
 * The password the client sent in clear after "perform full
 * authentication" (01 04), believing its channel secure (its leg is TLS)
 * while ours to the server is not: never put it on the wire as is.  Ask
 * the server for its RSA key and send it encrypted (backend_sha2_rsa).
 */
static bool backend_rsa_start(struct backend *be, const uint8_t *p,
			      size_t len)
{
	uint8_t req = 0x02;

	/* the cleartext is "password\0"; keep exactly the password */
	while (len > 0 && p[len - 1] == 0)
		len--;
	be->rsa_password = util_strndup((const char *)p, len);
	if (!be->rsa_password)
		return false;
	return backend_write_packet(be, ++be->auth_seq, &req, 1);
}

bool backend_auth_reply(struct backend *be, const uint8_t *p, size_t len)
{
	bool full = be->full_auth;

	if (be->state != BACKEND_AUTH)
		return false;
	be->full_auth = false;
	if (full && be->peer_tls && !be->tls &&
	    !(len == 1 && p[0] == 0x02))
		return backend_rsa_start(be, p, len);
	return backend_write_packet(be, ++be->auth_seq, p, len);
}

/* A relayed response starts (be->resp set): nothing of it sent yet. */
static void backend_relay_reset(struct backend *be)
{
	be->sent_any = false;
	be->fwd_left = 0;
	be->in_multi = false;
}

static void backend_set_busy(struct backend *be)
{
	backend_set_state(be, BACKEND_BUSY);
	backend_relay_reset(be);
	IB_STAT_INC(backend_statements);
}

/* Does <be> take a relayed command now: idle, or behind one collect? */
static bool backend_can_relay(const struct backend *be)
{
	return be->state == BACKEND_IDLE ||
	       (be->state == BACKEND_BUSY && be->collect &&
		!be->collect->next && !be->relay_behind);
}

/* Behind the internal query in flight: keep what the relay's parser needs
 * to start on the response once that query's ends (backend_response_done).
 * Only a command that has a response goes behind. */
static bool backend_relay_behind(struct backend *be, const uint8_t *payload,
				 size_t payload_len)
{
	struct proto_resp probe;

	proto_resp_start(&probe, payload, payload_len, be->caps, be->ext_caps,
			 be->status);
	if (probe.rs == RESP_NONE)
		return false;
	if (payload_len > sizeof(be->behind_head))
		payload_len = sizeof(be->behind_head);
	memcpy(be->behind_head, payload, payload_len);
	be->behind_head_len = (uint8_t)payload_len;
	be->relay_behind = true;
	IB_STAT_INC(backend_statements);
	return true;
}

bool backend_relay(struct backend *be, struct evbuffer *src, size_t nbytes,
		   const uint8_t *payload, size_t payload_len)
{
	if (!backend_can_relay(be))
		return false;
	if (be->state == BACKEND_BUSY) {
		if (!backend_relay_behind(be, payload, payload_len) ||
		    evbuffer_remove_buffer(src, bufferevent_get_output(be->bev),
					   nbytes) != (int)nbytes)
			return false;
		io_hurry(be->io);
		return true;
	}
	proto_resp_start(&be->resp, payload, payload_len, be->caps,
			 be->ext_caps, be->status);
	if (evbuffer_remove_buffer(src, bufferevent_get_output(be->bev),
				   nbytes) != (int)nbytes)
		return false;
	/* the server starts on it while this wakeup's answers go out */
	io_hurry(be->io);
	/* commands without a response leave the backend idle */
	if (be->resp.rs == RESP_NONE)
		return true;
	backend_set_busy(be);
	return true;
}

bool backend_relay_raw(struct backend *be, struct evbuffer *src, size_t nbytes)
{
	return evbuffer_remove_buffer(src, bufferevent_get_output(be->bev),
				      nbytes) == (int)nbytes;
}

void backend_infile_done(struct backend *be)
{
	be->resp.rs = RESP_FIRST;
}

/* Write <sql> as one COM_QUERY packet, sequence id 0, with no copy of
 * the text on the way when it fits one packet. */
static bool backend_write_query(struct backend *be, const char *sql,
				size_t len)
{
	struct evbuffer *out = bufferevent_get_output(be->bev);
	struct pktbuf pb;
	uint8_t hdr[5];
	bool ok;

	if (len + 1 < PROTO_MAX_PAYLOAD) {
		hdr[0] = (uint8_t)(len + 1);
		hdr[1] = (uint8_t)((len + 1) >> 8);
		hdr[2] = (uint8_t)((len + 1) >> 16);
		hdr[3] = 0;
		hdr[4] = COM_QUERY;
		return evbuffer_expand(out, len + 5) == 0 &&
		       evbuffer_add(out, hdr, 5) == 0 &&
		       evbuffer_add(out, sql, len) == 0;
	}
	pktbuf_init(&pb);
	pktbuf_put_u8(&pb, COM_QUERY);
	pktbuf_put_bytes(&pb, sql, len);
	ok = !pb.failed && backend_write_packet(be, 0, pb.buf, pb.len);
	pktbuf_free(&pb);
	return ok;
}

bool backend_relay_query(struct backend *be, const char *sql, size_t len)
{
	static const uint8_t cmd[1] = { COM_QUERY };

	if (!backend_can_relay(be))
		return false;
	if (be->state == BACKEND_BUSY)
		return backend_relay_behind(be, cmd, 1) &&
		       backend_write_query(be, sql, len);
	if (!backend_write_query(be, sql, len))
		return false;
	proto_resp_start(&be->resp, cmd, 1, be->caps, be->ext_caps,
			 be->status);
	backend_set_busy(be);
	return true;
}

/* Send <sql> as COM_QUERY and a collect for its response, NULL when it
 * could not be sent. */
static struct backend_collect *backend_query_send(struct backend *be,
						  const char *sql, size_t len,
						  backend_result_fn cb,
						  void *arg)
{
	struct backend_collect *col;

	col = calloc(1, sizeof(*col));
	if (!col)
		return NULL;
	col->cb = cb;
	col->arg = arg;
	pktbuf_init(&col->res.pkts);
	col->res.ext_caps = be->ext_caps;
	if (!backend_write_query(be, sql, len)) {
		pktbuf_free(&col->res.pkts);
		free(col);
		return NULL;
	}
	return col;
}

static void backend_collect_start(struct backend *be)
{
	static const uint8_t pb_cmd[1] = { COM_QUERY };

	proto_resp_start(&be->resp, pb_cmd, 1, be->caps, be->ext_caps,
			 be->status);
}

bool backend_query(struct backend *be, const char *sql, size_t len,
		   backend_result_fn cb, void *arg)
{
	struct backend_collect *col;

	if (be->state != BACKEND_IDLE)
		return false;
	col = backend_query_send(be, sql, len, cb, arg);
	if (!col)
		return false;
	be->collect = col;
	backend_collect_start(be);
	backend_set_busy(be);
	return true;
}

bool backend_query_after(struct backend *be, const char *sql, size_t len,
			 backend_result_fn cb, void *arg)
{
	struct backend_collect *col, **tail;

	if (be->state == BACKEND_IDLE)
		return backend_query(be, sql, len, cb, arg);
	if (be->state != BACKEND_BUSY || !be->collect || be->relay_behind)
		return false;
	col = backend_query_send(be, sql, len, cb, arg);
	if (!col)
		return false;
	for (tail = &be->collect; *tail; tail = &(*tail)->next)
		;
	*tail = col;
	IB_STAT_INC(backend_statements);
	return true;
}

bool backend_result_next(const struct backend_result *res, size_t *pos,
			 const uint8_t **p, size_t *len)
{
	uint32_t n;

	if (*pos + 4 > res->pkts.len)
		return false;
	memcpy(&n, res->pkts.buf + *pos, 4);
	*p = res->pkts.buf + *pos + 4;
	*len = n;
	*pos += 4 + n;
	return true;
}

void backend_result_free(struct backend_result *res)
{
	pktbuf_free(&res->pkts);
	res->count = 0;
}

/* The parser's step over one packet; the session's status follows it. */
static bool backend_resp_step(struct backend *be, const uint8_t *p, size_t n,
			      size_t len)
{
	bool ok = proto_resp_step(&be->resp, p, n, len);

	be->status = be->resp.status;
	return ok;
}

/* The owner must hear about the end of a response exactly once. */
static void backend_response_done(struct backend *be)
{
	struct backend_collect *col = be->collect;

	if (col && col->next) {
		/* the next query was sent behind this one: its response
		 * follows, read on from the session's status now */
		be->collect = col->next;
		be->resp.rs = RESP_NONE;
		backend_collect_start(be);
		backend_collect_end(col, &col->res);
		return;
	}
	if (col && be->relay_behind) {
		/* a relayed command was sent behind it: its response
		 * follows, for the client */
		be->collect = NULL;
		be->relay_behind = false;
		proto_resp_start(&be->resp, be->behind_head,
				 be->behind_head_len, be->caps, be->ext_caps,
				 be->status);
		backend_relay_reset(be);
		backend_collect_end(col, &col->res);
		return;
	}
	backend_set_state(be, BACKEND_IDLE);
	be->resp.rs = RESP_NONE;
	/* (its timer ran only until the login's OK) */
	if (col) {
		be->collect = NULL;
		backend_collect_end(col, &col->res);
		return;
	}
	backend_notify(be, BACKEND_EV_DONE, NULL);
}

/*
 * A session-tracked OK or EOF (whole, in <p>) goes to the client in the
 * form the server would have sent it under the client's own settings.
 * A client without SESSION_TRACK gets no state block and no
 * SESSION_STATE_CHANGED flag; one with it gets the entries its own
 * trackers would produce (session_client_state).  An OK with the header
 * 0xFE (DEPRECATE_EOF) keeps it.  EOFs never carry the state, and lose
 * the flag: our state-change tracker is the one that sets it there.  The
 * client hears of the state first.  The payload to send is set in
 * *<wp>[*<wlen>]: <p> itself, <eof> or <pb>'s buffer.
 */
static bool backend_untrack(struct backend *be, const uint8_t *p, size_t len,
			    bool is_ok, uint8_t eof[5], struct pktbuf *pb,
			    const uint8_t **wp, size_t *wlen)
{
	struct backend_ev e;
	struct proto_ok ok;
	struct pktbuf st;
	uint16_t warnings, status;
	bool done;

	*wp = p;
	*wlen = len;
	if (!is_ok) {
		if (!proto_parse_eof(p, len, &warnings, &status) || len != 5)
			return true;
		memset(&e, 0, sizeof(e));
		e.status = status;
		backend_notify(be, BACKEND_EV_EOF, &e);
		memcpy(eof, p, 5);
		status &= (uint16_t)~ST_SESSION_STATE_CHANGED;
		eof[3] = (uint8_t)status;
		eof[4] = (uint8_t)(status >> 8);
		*wp = eof;
		return true;
	}
	if (!proto_parse_ok(p, len, be->caps, &ok))
		return true;
	pktbuf_init(&st);
	memset(&e, 0, sizeof(e));
	e.ok = &ok;
	e.state = &st;
	done = backend_notify(be, BACKEND_EV_OK, &e);
	if (done && e.tracked)
		done = proto_build_ok_tracked(pb, &ok, st.buf, st.len);
	else if (done)
		done = proto_build_ok_plain(pb, &ok);
	if (done) {
		pb->buf[0] = p[0];
		*wp = pb->buf;
		*wlen = pb->len;
	}
	pktbuf_free(&st);
	return done;
}

/*
 * Packets that pass unchanged are not moved one by one: <pend> counts the
 * bytes at the head of <in> already relayed.  Here they move to <out> in
 * one piece, then the <skip> bytes after them (a packet relayed
 * rewritten) are dropped.  Called before anything else is written to
 * <out>, and before the relay stops.  False when out of memory.
 */
static bool backend_relay_move(struct evbuffer *in, struct evbuffer *out,
			       size_t *pend, size_t skip)
{
	size_t span = *pend;

	*pend = 0;
	IB_STAT_ADD(bytes_out, span + skip);
	if (span && evbuffer_remove_buffer(in, out, span) != (int)span)
		return false;
	evbuffer_drain(in, skip);
	return true;
}

/* The first contiguous bytes of <in> (a read usually lands in one piece). */
static const uint8_t *backend_relay_view(struct evbuffer *in, size_t *vlen)
{
	struct evbuffer_iovec v;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) {
		*vlen = 0;
		return NULL;
	}
	*vlen = v.iov_len;
	return v.iov_base;
}

/*
 * Relay mode: pass packets to the client as they arrive, inspecting each
 * logical packet's head.  Packets that lie whole in the input's first
 * piece are read in place; others are copied out, and large ones stream:
 * only their first bytes need to be buffered.  Stops when the client's
 * output is full.
 */
static void backend_relay_input(struct backend *be)
{
	struct evbuffer *in = bufferevent_get_input(be->bev);
	struct evbuffer *out;
	struct backend_ev e;
	enum resp_state was;
	uint8_t copy[BACKEND_INSPECT_MAX];
	const uint8_t *head, *view = NULL, *wp;
	uint8_t hdr[4], eof[5], seq, *w;
	struct pktbuf pb;
	uint32_t len;
	size_t avail, need, n, vlen = 0, pend = 0, wlen;
	bool ok_pkt, eof_pkt, was_first, in_view, done;

	if (!be->client) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	out = be->owner->output(be);
	memset(&e, 0, sizeof(e));
	while (be->state == BACKEND_BUSY && be->resp.rs != RESP_INFILE) {
		if (be->fwd_left) {
			/* pend is 0: a streamed packet is never in view */
			avail = evbuffer_get_length(in);
			n = avail < be->fwd_left ? avail : be->fwd_left;
			if (n == 0)
				break;
			evbuffer_remove_buffer(in, out, n);
			IB_STAT_ADD(bytes_out, n);
			be->fwd_left -= n;
			continue;
		}
		if (!view)
			view = backend_relay_view(in, &vlen);
		in_view = false;
		if (!be->in_multi && pend + 4 <= vlen) {
			head = view + pend;
			len = head[0] | (head[1] << 8) |
			      ((uint32_t)head[2] << 16);
			in_view = len <= BACKEND_INSPECT_MAX - 4 &&
				  4 + len <= vlen - pend;
		}
		if (!in_view) {
			backend_relay_move(in, out, &pend, 0);
			view = NULL;
			avail = evbuffer_get_length(in);
			if (avail < 4)
				break;
			evbuffer_copyout(in, hdr, 4);
			len = hdr[0] | (hdr[1] << 8) | ((uint32_t)hdr[2] << 16);
		}
		if (be->in_multi) {
			/* continuation chunk: no header byte to inspect */
			be->in_multi = (len == PROTO_MAX_PAYLOAD);
			evbuffer_remove_buffer(in, out, 4);
			be->fwd_left = len;
			if (!be->in_multi && be->resp.rs == RESP_DONE &&
			    be->fwd_left == 0) {
				backend_response_done(be);
				return;
			}
			continue;
		}
		need = len <= BACKEND_INSPECT_MAX - 4 ? len : BACKEND_PEEK;
		if (in_view) {
			head = view + pend;
		} else {
			if (avail < 4 + need)
				break;
			evbuffer_copyout(in, copy, 4 + need);
			head = copy;
		}
		/* what the packet is depends on where the parser stood */
		was_first = be->resp.rs == RESP_FIRST;
		ok_pkt = need == len && len > 0 && head[4] == 0x00 && was_first &&
			 be->resp.cmd != COM_STMT_PREPARE;
		eof_pkt = need == len && proto_resp_is_end(&be->resp, head + 4, need, len) &&
			  be->resp.rs != RESP_INFILE && be->resp.rs != RESP_AUTH;
		/* under DEPRECATE_EOF the end of a result is an OK */
		if (eof_pkt && (be->caps & CAP_DEPRECATE_EOF)) {
			ok_pkt = true;
			eof_pkt = false;
		}
		was = be->resp.rs;
		if (!backend_resp_step(be, head + 4, need, len)) {
			backend_relay_move(in, out, &pend, 0);
			backend_lost(be, "unexpected packet from backend");
			return;
		}
		/* prefetch remembers what the session was sent: a result
		 * set's start and its rows, when inspected whole */
		if (need == len && be->resp.cmd == COM_QUERY &&
		    ((was == RESP_FIRST && be->resp.rs == RESP_COLDEFS) ||
		     (was == RESP_ROWS && be->resp.rs == RESP_ROWS))) {
			e.p = head + 4;
			e.len = len;
			e.start = was == RESP_FIRST;
			be->owner->event(be, BACKEND_EV_RELAYED, &e);
		}
		be->in_multi = (len == PROTO_MAX_PAYLOAD);
		n = 4 + need;
		/* an OK too big to inspect may carry state we cannot read */
		if ((be->caps & CAP_SESSION_TRACK) && need < len && head[4] == 0x00 &&
		    was_first && be->resp.cmd != COM_STMT_PREPARE)
			backend_notify(be, BACKEND_EV_UNREAD_STATE, NULL);
		if ((be->caps & CAP_SESSION_TRACK) && (ok_pkt || eof_pkt)) {
			/* in its place, after the packets before it */
			pktbuf_init(&pb);
			done = backend_untrack(be, head + 4, len, ok_pkt, eof,
					       &pb, &wp, &wlen);
			if (done && in_view && wlen == len) {
				/* as long as it was (an EOF always is):
				 * rewritten where it lies, relayed with the
				 * rest */
				if (wp != head + 4) {
					w = evbuffer_pullup(
						in, (ev_ssize_t)(pend + n));
					done = w != NULL;
					if (done)
						memcpy(w + pend + 4, wp, wlen);
					if (w != view)
						view = NULL;
				}
				if (done)
					pend += n;
			} else if (done) {
				/* after the packets before it */
				seq = head[3];
				done = backend_relay_move(in, out, &pend, n) &&
				       proto_write_packet(out, &seq, wp, wlen);
				view = NULL;
			}
			pktbuf_free(&pb);
			if (!done) {
				backend_relay_move(in, out, &pend, 0);
				backend_lost(be, "out of memory relaying a response");
				return;
			}
		} else if (in_view) {
			pend += n;
		} else {
			evbuffer_remove_buffer(in, out, n);
			IB_STAT_ADD(bytes_out, n);
		}
		be->fwd_left = len - need;
		be->sent_any = true;
		if (be->resp.rs == RESP_INFILE) {
			backend_relay_move(in, out, &pend, 0);
			backend_notify(be, BACKEND_EV_INFILE, NULL);
			return;
		}
		if (be->resp.rs == RESP_DONE && !be->in_multi) {
			backend_relay_move(in, out, &pend, 0);
			if (be->fwd_left) {
				n = be->fwd_left;
				evbuffer_remove_buffer(in, out, n);
				be->fwd_left = 0;
			}
			backend_response_done(be);
			return;
		}
		if (evbuffer_get_length(out) + pend > IB_CLIENT_OUT_HIGH) {
			/* backpressure: resume from the client's write cb */
			backend_relay_move(in, out, &pend, 0);
			io_disable(be->io, be->bev, EV_READ);
			return;
		}
	}
	backend_relay_move(in, out, &pend, 0);
}

/* Tell the client what an OK or EOF of an internal query reported; <was>
 * is where the parser stood before the packet. */
static void backend_note_state(struct backend *be, enum resp_state was,
			       const uint8_t *p, size_t len)
{
	struct backend_ev e;
	struct proto_ok ok;
	uint16_t warnings, status;

	if (!be->client || len == 0)
		return;
	memset(&e, 0, sizeof(e));
	if (((p[0] == 0x00 && was == RESP_FIRST) ||
	     ((be->caps & CAP_DEPRECATE_EOF) &&
	      proto_resp_is_end(&be->resp, p, len, len))) &&
	    proto_parse_ok(p, len, be->caps, &ok)) {
		e.ok = &ok;
		backend_notify(be, BACKEND_EV_OK, &e);
	} else if (p[0] == 0xFE && len < 9 &&
		   proto_parse_eof(p, len, &warnings, &status)) {
		e.status = status;
		backend_notify(be, BACKEND_EV_EOF, &e);
	}
}

/* Collect mode: gather whole logical packets for an internal query. */
static void backend_collect_input(struct backend *be)
{
	struct evbuffer *in = bufferevent_get_input(be->bev);
	struct backend_collect *col = be->collect;
	struct pktbuf pb;
	enum resp_state was;
	const uint8_t *p;
	uint8_t seq;
	uint32_t n32;
	size_t len, vlen;
	bool in_place;
	int r;

	pktbuf_init(&pb);
	while (be->state == BACKEND_BUSY && col && be->collect == col) {
		/* a packet whole in the input's first piece (most are) is
		 * read where it lies, and drained once it has been used:
		 * nothing called until then may read or drain <in>.  Others
		 * are copied out. */
		p = backend_relay_view(in, &vlen);
		in_place = p && vlen >= 4 &&
			   (len = p[0] | (p[1] << 8) | ((size_t)p[2] << 16)) <
				   PROTO_MAX_PAYLOAD &&
			   4 + len <= vlen;
		if (in_place) {
			p += 4;
			r = 1;
		} else {
			r = backend_read_packet(in, &pb, &seq, (size_t)1 << 30);
			if (r == 0)
				break;
			p = pb.buf;
			len = pb.len;
		}
		/* progress reports are for a client, not for us */
		if (r > 0 && (be->ext_caps & EXT_PROGRESS) &&
		    proto_is_progress(p, len)) {
			if (in_place)
				evbuffer_drain(in, 4 + len);
			continue;
		}
		was = be->resp.rs;
		if (r < 0 || !backend_resp_step(be, p, len, len) ||
		    be->resp.rs == RESP_INFILE) {
			pktbuf_free(&pb);
			backend_lost(be, "unexpected packet from backend");
			return;
		}
		/* internal queries run on the client's own session: what
		 * they change (a function in a view, say) is its state too */
		backend_note_state(be, was, p, len);
		n32 = (uint32_t)len;
		pktbuf_put_bytes(&col->res.pkts, &n32, 4);
		pktbuf_put_bytes(&col->res.pkts, p, len);
		col->res.count++;
		if (len && p[0] == 0xFF && be->resp.rs == RESP_DONE)
			col->res.err = true;
		if (in_place)
			evbuffer_drain(in, 4 + len);
		if (col->res.pkts.failed) {
			pktbuf_free(&pb);
			backend_lost(be, "out of memory collecting a result");
			return;
		}
		if (be->resp.rs == RESP_DONE) {
			/* a query queued behind it reads on from here */
			struct backend_collect *next = col->next;

			backend_response_done(be);
			col = next;
		}
	}
	pktbuf_free(&pb);
}

/* The server's OK or ERR to a login, or an ERR instead of a greeting. */
static void backend_notify_login(struct backend *be, const uint8_t *p,
				 size_t len)
{
	struct backend_ev e;

	memset(&e, 0, sizeof(e));
	e.p = p;
	e.len = len;
	backend_notify(be, BACKEND_EV_LOGIN, &e);
}

static void backend_on_greeting(struct backend *be, const uint8_t *p, size_t len)
{
	struct proto_greeting g;
	size_t vlen;

	if (len > 0 && p[0] == 0xFF) {
		struct proto_err e;

		/* the server refused us before the handshake (e.g. 1040) */
		if (proto_parse_err(p, len, &e))
			log_warn("backend refused connection: %u %.*s", e.code,
				 (int)e.msg_len, (const char *)e.msg);
		backend_set_state(be, BACKEND_DEAD);
		backend_notify_login(be, p, len);
		backend_close(be);
		return;
	}
	if (!proto_parse_greeting(p, len, &g) || g.scramble_len < 20) {
		backend_lost(be, "bad greeting from backend");
		return;
	}
	vlen = g.version_len < sizeof(be->version) - 1 ? g.version_len
						      : sizeof(be->version) - 1;
	memcpy(be->version, g.version, vlen);
	be->version[vlen] = '\0';
	be->thread_id = g.thread_id;
	be->server_caps = g.caps;
	be->server_ext_caps = g.ext_caps;
	be->server_collation = g.collation;
	be->status = g.status;
	memcpy(be->nonce, g.scramble, 20);
	memcpy(be->auth_nonce, g.scramble, 20);
	snprintf(be->plugin, sizeof(be->plugin), "%.*s",
		 g.plugin ? (int)g.plugin_len : 0, g.plugin ? g.plugin : "");
	backend_set_state(be, BACKEND_WAIT_LOGIN);
	backend_notify(be, BACKEND_EV_GREETING, NULL);
}

/*
 * caching_sha2_password full authentication toward a plaintext server,
 * for a client whose own leg is TLS: encrypt the password the client
 * sent in clear, XORed with the round's scramble, under the server's
 * public key <pem> (RSA OAEP, as clients do).  The password is wiped and
 * freed whatever happens.
 */
static bool backend_sha2_rsa(struct backend *be, const uint8_t *pem,
			     size_t pem_len, uint8_t seq)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
	EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	EVP_PKEY_CTX *ctx = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
	size_t pwlen = strlen(be->rsa_password) + 1, outlen = 0, i;
	uint8_t *xored = malloc(pwlen), *out = NULL;
	bool ok = false;

	if (!ctx || !xored)
		goto done;
	for (i = 0; i < pwlen; i++)
		xored[i] = (uint8_t)be->rsa_password[i] ^ be->auth_nonce[i % 20];
	if (EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_encrypt(ctx, NULL, &outlen, xored, pwlen) <= 0)
		goto done;
	out = malloc(outlen);
	if (!out || EVP_PKEY_encrypt(ctx, out, &outlen, xored, pwlen) <= 0)
		goto done;
	ok = backend_write_packet(be, seq, out, outlen);
done:
	if (xored)
		OPENSSL_cleanse(xored, pwlen);
	OPENSSL_cleanse(be->rsa_password, pwlen - 1);
	free(be->rsa_password);
	be->rsa_password = NULL;
	free(out);
	free(xored);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	BIO_free(bio);
	return ok;
}

/*
 * One packet of the login exchange (handshake or COM_CHANGE_USER) from
 * the server.  The final OK goes to the owner, which sets the session's
 * trackers before the client hears of it; an ERR is relayed as it is;
 * everything between (AuthSwitchRequest, AuthMoreData) goes to the
 * client, except the RSA key we asked for ourselves.
 */
static void backend_on_auth(struct backend *be, const uint8_t *p, size_t len,
			    uint8_t seq)
{
	struct proto_ok ok;
	struct proto_rd rd;
	size_t plen, dlen;
	const uint8_t *data;

	if (len == 0) {
		backend_lost(be, "empty auth packet from backend");
		return;
	}
	be->auth_seq = seq;
	if (be->rsa_password && p[0] == 0x01) {
		if (!backend_sha2_rsa(be, p + 1, len - 1, ++be->auth_seq)) {
			struct backend_ev e;

			memset(&e, 0, sizeof(e));
			e.why = "caching_sha2_password: cannot encrypt the "
				"password with the server's RSA key";
			backend_notify(be, BACKEND_EV_AUTH_FAILED, &e);
			backend_close(be);
		}
		return;
	}
	if (be->rsa_password) {
		/* the server refused to send its key: no secret is left */
		OPENSSL_cleanse(be->rsa_password, strlen(be->rsa_password));
		free(be->rsa_password);
		be->rsa_password = NULL;
	}
	switch (p[0]) {
	case 0x00:
		if (!proto_parse_ok(p, len, be->caps, &ok)) {
			backend_lost(be, "bad OK from backend");
			return;
		}
		be->status = ok.status;
		backend_set_state(be, BACKEND_IDLE);
		be->resp.rs = RESP_NONE;
		evtimer_del(be->timer);
		/* what follows a login's OK is compressed, if negotiated */
		if ((be->caps & CAP_COMPRESS) && !be->compress &&
		    !backend_start_compress(be)) {
			backend_lost(be, "cannot start compression");
			return;
		}
		backend_notify_login(be, p, len);
		return;
	case 0xFF:
		/* MariaDB keeps a session whose COM_CHANGE_USER failed (as
		 * the old account, reset); a failed login is closed */
		if (be->resp.rs == RESP_AUTH && be->user_changing) {
			backend_set_state(be, BACKEND_IDLE);
			be->resp.rs = RESP_NONE;
			be->user_changing = false;
			backend_notify_login(be, p, len);
			return;
		}
		backend_set_state(be, BACKEND_DEAD);
		backend_notify_login(be, p, len);
		backend_close(be);
		return;
	case 0xFE:
		/* AuthSwitchRequest: plugin name, then that round's data */
		proto_rd_init(&rd, p + 1, len - 1);
		proto_rd_strnul(&rd, &plen);
		data = proto_rd_rest(&rd, &dlen);
		if (!rd.failed && dlen >= 20)
			memcpy(be->auth_nonce, data, 20);
		break;
	case 0x01:
		/* caching_sha2: 01 04 asks for the password itself */
		be->full_auth = (len == 2 && p[1] == 0x04);
		break;
	default:
		/* other plugins' own packets (dialog prompts, say) */
		break;
	}
	{
		struct backend_ev e;

		memset(&e, 0, sizeof(e));
		e.p = p;
		e.len = len;
		backend_notify(be, BACKEND_EV_AUTH, &e);
	}
}

/* The session negotiated CLIENT_COMPRESS: from now on, through zlib. */
static bool backend_start_compress(struct backend *be)
{
	struct bufferevent *zb;

	io_detach(be->io); /* the filter reads and writes through the bev */
	zb = compress_new(be->bev, COMPRESS_CLIENT, NULL);
	if (!zb)
		return false;
	be->bev = zb;
	be->compress = true;
	bufferevent_setcb(be->bev, backend_read_cb, NULL, backend_event_cb,
			  be);
	bufferevent_enable(be->bev, EV_READ | EV_WRITE);
	return true;
}

static void backend_read_cb(struct bufferevent *bev, void *arg)
{
	struct backend *be = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct pktbuf pb;
	uint8_t seq;
	int r;

	for (;;) {
		switch (be->state) {
		case BACKEND_GREETING:
		case BACKEND_AUTH:
			pktbuf_init(&pb);
			r = backend_read_packet(in, &pb, &seq, 1 << 20);
			if (r < 0) {
				pktbuf_free(&pb);
				backend_lost(be, "oversized packet during login");
				return;
			}
			if (r == 0) {
				pktbuf_free(&pb);
				return;
			}
			if (be->state == BACKEND_GREETING)
				backend_on_greeting(be, pb.buf, pb.len);
			else
				backend_on_auth(be, pb.buf, pb.len, seq);
			pktbuf_free(&pb);
			break;
		case BACKEND_BUSY:
			if (!be->collect) {
				backend_relay_input(be);
				return;
			}
			backend_collect_input(be);
			/* a relayed command's response may follow */
			if (be->state == BACKEND_BUSY && !be->collect)
				continue;
			return;
		case BACKEND_IDLE:
		case BACKEND_WAIT_LOGIN:
			if (evbuffer_get_length(in) == 0)
				return;
			/*
			 * Unsolicited data on an idle session: the server
			 * killed it (ERR 1927) or is shutting down. Pass it
			 * to a pass-through client, which then loses it.
			 */
			if (be->client && be->state == BACKEND_IDLE)
				evbuffer_add_buffer(be->owner->output(be), in);
			else
				evbuffer_drain(in, evbuffer_get_length(in));
			backend_lost(be, "backend sent data while idle");
			return;
		default:
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
	}
}

/* Our end of the connection, as the server names the client host in
 * its own messages (with skip-name-resolve: the address). */
static void backend_note_local(struct backend *be, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const void *addr = NULL;

	snprintf(be->local_host, sizeof(be->local_host), "localhost");
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET)
		addr = &((struct sockaddr_in *)&ss)->sin_addr;
	else if (ss.ss_family == AF_INET6)
		addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (addr)
		inet_ntop(ss.ss_family, addr, be->local_host,
			  sizeof(be->local_host));
}

static void backend_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct backend *be = arg;
	int fd, one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		/* a TLS filter reports its handshake done the same way */
		if (be->state != BACKEND_CONNECTING)
			return;
		fd = bufferevent_getfd(bev);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		backend_note_local(be, fd);
		backend_set_state(be, BACKEND_GREETING);
		be->io = io_attach(ib_loop->io, bev); /* NULL: libevent does it all */
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		int err = EVUTIL_SOCKET_ERROR();

		if (be->state == BACKEND_CONNECTING) {
			char why[160];

			snprintf(why, sizeof(why), "cannot connect to backend %s: %s",
				 ib.cfg->backend,
				 err ? evutil_socket_error_to_string(err)
				     : "connection closed");
			IB_STAT_INC(backend_connect_errors);
			backend_lost(be, why);
		} else if (what & BEV_EVENT_EOF) {
			/* relay what is left (e.g. an ERR before close) */
			if (be->state == BACKEND_BUSY && evbuffer_get_length(
					bufferevent_get_input(bev)))
				backend_read_cb(bev, be);
			if (be->state != BACKEND_DEAD)
				backend_lost(be, "backend closed the connection");
		} else if (be->tls) {
			char why[256];
			unsigned long e = bufferevent_get_openssl_error(bev);

			snprintf(why, sizeof(why), "backend TLS error: %s",
				 e ? ERR_error_string(e, NULL)
				   : "connection closed");
			backend_lost(be, why);
		} else {
			backend_lost(be, "backend connection error");
		}
	}
}

/*
 * The connection is gone or unusable.  Tell the owner once, then queue
 * the backend for freeing.
 */
static void backend_lost(struct backend *be, const char *why)
{
	struct backend_collect *col = be->collect;
	enum backend_state was = be->state;

	if (be->state == BACKEND_DEAD)
		return;
	backend_set_state(be, BACKEND_DEAD);
	if (was == BACKEND_BUSY)
		IB_STAT_INC(backend_lost);
	log_debug("backend %u lost (%s): %s", be->thread_id,
		  backend_state_name(was), why);
	if (col)
		backend_collect_abort(be);
	{
		struct backend_ev e;

		memset(&e, 0, sizeof(e));
		e.why = why;
		e.was = was;
		backend_notify(be, BACKEND_EV_LOST, &e);
	}
	backend_close(be);
}

void backend_resume(struct backend *be)
{
	if (be->state == BACKEND_BUSY) {
		io_enable(be->io, be->bev, EV_READ);
		if (be->compress)
			compress_resume(be->bev);
		backend_read_cb(be->bev, be);
	}
}

void backend_close(struct backend *be)
{
	static const uint8_t quit[5] = { 1, 0, 0, 0, COM_QUIT };
	/* the same in one compressed packet, sent as it is */
	static const uint8_t zquit[12] = { 5, 0, 0, 0, 0, 0, 0,
					   1, 0, 0, 0, COM_QUIT };
	int fd;

	if (be->timer == NULL)
		return; /* already queued */
	if (be->state == BACKEND_IDLE && !be->tls &&
	    evbuffer_get_length(bufferevent_get_output(be->bev)) == 0 &&
	    (!be->compress || evbuffer_get_length(bufferevent_get_output(
				      bufferevent_get_underlying(be->bev))) == 0)) {
		/* a polite COM_QUIT keeps the server's Aborted_clients quiet */
		fd = bufferevent_getfd(be->compress
				       ? bufferevent_get_underlying(be->bev)
				       : be->bev);
		if (fd >= 0 && send(fd, be->compress ? zquit : quit,
				    be->compress ? sizeof(zquit) : sizeof(quit),
				    MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("COM_QUIT to backend failed: %s",
				  strerror(errno));
	}
	/* DEAD first: a collect callback's backend_query must refuse */
	backend_set_state(be, BACKEND_DEAD);
	backend_collect_abort(be);
	io_disable(be->io, be->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(be->bev, NULL, NULL, NULL, NULL);
	event_free(be->timer);
	be->timer = NULL;
	backend_notify(be, BACKEND_EV_CLOSED, NULL);
	be->client = NULL;
	TAILQ_REMOVE(&ib_loop->backends, be, entry);
	TAILQ_INSERT_TAIL(&ib_loop->dead_backends, be, entry);
}

void backend_free_dead(void)
{
	struct backend *be;

	while ((be = TAILQ_FIRST(&ib_loop->dead_backends)) != NULL) {
		TAILQ_REMOVE(&ib_loop->dead_backends, be, entry);
		io_free(be->io);
		bufferevent_free(be->bev);
		free(be->user);
		if (be->rsa_password) {
			OPENSSL_cleanse(be->rsa_password,
					strlen(be->rsa_password));
			free(be->rsa_password);
		}
		free(be);
	}
}
