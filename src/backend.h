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

typedef void (*backend_result_fn)(struct backend *be, void *arg,
				  struct backend_result *res);

/* Iterate packets of <res>: *pos starts at 0; false at the end. */
bool backend_result_next(const struct backend_result *res, size_t *pos,
			 const uint8_t **p, size_t *len);
void backend_result_free(struct backend_result *res);

/* Start connecting for <c>, which learns of the greeting through its callback. */
struct backend *backend_new_for_client(struct client *c) IB_MUSTCHECK;

/* Forward the client's handshake response <h> once the greeting is in
 * (BACKEND_WAIT_LOGIN), with capabilities derived from <caps>; the
 * exchange that follows is relayed (client_on_backend_auth) until the
 * server's OK or ERR (client_on_backend_login). */
bool backend_login(struct backend *be, const struct proto_hsresp *h,
		   uint32_t caps) IB_MUSTCHECK;

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
 */
bool backend_relay(struct backend *be, struct evbuffer *src, size_t nbytes,
		   const uint8_t *payload, size_t payload_len) IB_MUSTCHECK;

/* Send raw packets during LOCAL INFILE (no response state change). */
bool backend_relay_raw(struct backend *be, struct evbuffer *src, size_t nbytes);
/* The client finished the file: expect the final OK/ERR. */
void backend_infile_done(struct backend *be);

/* Run <sql> as COM_QUERY and collect the response for <cb>. */
bool backend_query(struct backend *be, const char *sql, size_t len,
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
