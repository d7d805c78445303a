/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * backend.h: raw-protocol backend connections: connect, log in, relay a
 * client's command, or run an internal query and collect its response. */
#ifndef IB_BACKEND_H
#define IB_BACKEND_H

#include "inbatch.h"

/*
 * A collected response: each logical packet stored as a 4-byte length
 * followed by its payload, in arrival order.
 */
struct backend_result {
	struct pktbuf pkts;
	unsigned count;
	bool err; /* the response ended with an ERR packet */
	uint32_t ext_caps; /* the session's MariaDB ext caps: the layout of
			    * column counts and definitions in <pkts> */
};

typedef void (*backend_result_fn)(void *arg, struct backend_result *res);

/* Iterate packets of <res>: *pos starts at 0; false at the end. */
bool backend_result_next(const struct backend_result *res, size_t *pos,
			 const uint8_t **p, size_t *len);
void backend_result_free(struct backend_result *res);

/*
 * What a backend tells its owner, the client session it belongs to.  One
 * callback takes them all, so backend.c calls nothing of its owner's.
 */
enum backend_event {
	BACKEND_EV_GREETING,	 /* the greeting is in (BACKEND_WAIT_LOGIN) */
	BACKEND_EV_AUTH,	 /* <p>: AuthSwitchRequest or AuthMoreData */
	BACKEND_EV_AUTH_FAILED,	 /* <why>: the login cannot go on (ours) */
	BACKEND_EV_LOGIN,	 /* <p>: the server's OK or ERR to a login */
	BACKEND_EV_OK,		 /* <ok>: an OK's state, before it is relayed */
	BACKEND_EV_EOF,		 /* <status>: an EOF's, before it is relayed */
	BACKEND_EV_UNREAD_STATE, /* an OK too large to inspect went by */
	BACKEND_EV_RELAYED,	 /* <p>: a relayed COM_QUERY packet, inspected
				  * whole: <start> a result set's column
				  * count, else one of its rows */
	BACKEND_EV_INFILE,	 /* the server asked for a local file */
	BACKEND_EV_DONE,	 /* a relayed response ended */
	BACKEND_EV_LOST,	 /* <why>, <was>: the connection is gone */
	BACKEND_EV_CLOSED,	 /* closed while still owned: drop it */
};

struct backend_ev {
	const uint8_t *p;
	size_t len;
	const char *why;
	const struct proto_ok *ok;
	uint16_t status;
	enum backend_state was;
	bool start;
	/* BACKEND_EV_OK of a relayed OK: the owner appends to <state> the
	 * state block its client gets and sets <tracked>; without <tracked>
	 * the client gets the OK without any (NULL: nothing is relayed) */
	struct pktbuf *state;
	bool tracked;
};

struct backend_owner {
	/* false: the owner failed (out of memory); only BACKEND_EV_OK */
	bool (*event)(struct backend *be, enum backend_event ev,
		      struct backend_ev *e);
	/* where relayed responses go */
	struct evbuffer *(*output)(struct backend *be);
};

/* Start connecting for <owner> (be->client), which hears of the greeting
 * and everything after through <ops>. */
struct backend *backend_new_for_client(struct client *owner,
				       const struct backend_owner *ops)
	IB_MUSTCHECK;

/* Forward the client's handshake response <h> once the greeting is in
 * (BACKEND_WAIT_LOGIN), with capabilities derived from <caps> and MariaDB
 * extensions from <ext_caps> (the client's, negotiated); <peer_tls>: the
 * client's own leg is TLS.  The exchange that follows is relayed
 * (BACKEND_EV_AUTH) until the server's OK or ERR (BACKEND_EV_LOGIN). */
bool backend_login(struct backend *be, const struct proto_hsresp *h,
		   uint32_t caps, uint32_t ext_caps, bool peer_tls) IB_MUSTCHECK;

/* Forward a client's COM_CHANGE_USER payload <p> (command byte first)
 * on an idle backend, for account <user>; relayed as a login is.  A
 * refusal leaves the session usable (as the server leaves it). */
bool backend_change_user(struct backend *be, const uint8_t *p, size_t len,
			 const char *user) IB_MUSTCHECK;

/* One packet of the client's side of the auth exchange (raw plugin
 * data), sent with the server leg's own next sequence id. */
bool backend_auth_reply(struct backend *be, const uint8_t *p,
			size_t len) IB_MUSTCHECK;

/*
 * Relay one client command: move <nbytes> (whole packets, headers
 * included) from <src> to the backend and parse the response as it
 * streams back to the owner client.  <payload> points at the first chunk's
 * payload (at least the command byte and, for EXECUTE, 10 bytes).
 * Behind one internal query in flight (backend_query), the command goes
 * in the same write and its response is relayed after that query's.
 */
bool backend_relay(struct backend *be, struct evbuffer *src, size_t nbytes,
		   const uint8_t *payload, size_t payload_len) IB_MUSTCHECK;

/* Relay the text <sql> as the client's COM_QUERY (its response streams
 * to the owner as a relayed command's does; behind an internal query
 * too, as backend_relay). */
bool backend_relay_query(struct backend *be, const char *sql,
			 size_t len) IB_MUSTCHECK;

/* Send raw packets during LOCAL INFILE (no response state change). */
bool backend_relay_raw(struct backend *be, struct evbuffer *src, size_t nbytes);
/* The client finished the file: expect the final OK/ERR. */
void backend_infile_done(struct backend *be);

/* Run <sql> as COM_QUERY and collect the response for <cb>. */
bool backend_query(struct backend *be, const char *sql, size_t len,
		   backend_result_fn cb, void *arg) IB_MUSTCHECK;

/* The same, sent now behind the internal query <be> is collecting (in
 * the same write: one round trip for both); its response is collected
 * after that one's, whose <cb> then runs with the backend still busy.
 * On an idle backend, backend_query.  If the session is lost, every
 * queued <cb> hears it (NULL), in order. */
bool backend_query_after(struct backend *be, const char *sql, size_t len,
			 backend_result_fn cb, void *arg) IB_MUSTCHECK;

/* Resume reading after the owner's output drained. */
void backend_resume(struct backend *be);

/* Close (COM_QUIT when idle) and queue for freeing. Safe to call twice. */
void backend_close(struct backend *be);
void backend_free_dead(void);

/* Read one whole logical packet from <in> into <pb> if it is buffered.
 * Returns 1 when read, 0 when incomplete, -1 when larger than <max>. */
int backend_read_packet(struct evbuffer *in, struct pktbuf *pb, uint8_t *seq,
			size_t max);

const char *backend_state_name(enum backend_state s);

#endif /* IB_BACKEND_H */
