/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * client.h: client sessions: accept, handshake and authentication,
 * command dispatch, relaying through the session's own backend. */
#ifndef IB_CLIENT_H
#define IB_CLIENT_H

#include "inbatch.h"

void client_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg);
void client_admin_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
			    struct sockaddr *sa, int salen, void *arg);

/* Close after sending what is queued; logs <fmt> at debug level. */
void client_close(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void client_free_closed(void);
/* Exit: free every client, whatever its state, without a goodbye. */
void client_free_all(void);
/* Tell every client the server is going away, then close them. */
void client_shutdown_all(void);

/* ERR to the client with the sequence id the protocol expects now. */
bool client_send_err(struct client *c, uint16_t code, const char *state,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool client_send_ok(struct client *c, uint64_t affected, const char *info);
/* Write one packet with the client's running sequence id. */
bool client_write(struct client *c, const void *payload, size_t len);

/* Run <sql> on the client's own backend as if the client sent it; used
 * when a batch falls back.  The response is relayed to the client. */
bool client_run_own(struct client *c, const char *sql, size_t len);

/* Back to IDLE after a command finished without the backend (batch). */
void client_command_done(struct client *c);

const char *client_state_name(enum client_state s);
/* The one way a client changes state; asserts the move is legal. */
void client_set_state(struct client *c, enum client_state s);

#endif /* IB_CLIENT_H */
