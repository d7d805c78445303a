/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * tls.h: the frontend TLS context and the in-band upgrade of a client
 * connection after its SSLRequest. */
#ifndef IB_TLS_H
#define IB_TLS_H

#include "inbatch.h"

/* Build the server context from tls_cert/tls_key when tls_mode is on. */
bool tls_init(const struct ib_config *cfg) IB_MUSTCHECK;
/* Reload: build a context from <cfg>; keep the old one on failure. */
void tls_reload(const struct ib_config *cfg);
void tls_free(void);
bool tls_enabled(void);

/*
 * Wrap <plain>, whose input holds whatever followed the SSLRequest (often
 * the ClientHello already), in a TLS filter accepting a handshake.
 * Returns the new bufferevent, which owns <plain>, or NULL.
 */
struct bufferevent *tls_accept(struct bufferevent *plain);

/*
 * Backend side: wrap <plain> (the SSLRequest already queued on it) in a
 * TLS filter that connects, verifying the server per backend_tls.
 */
struct bufferevent *tls_connect(struct bufferevent *plain);
bool tls_backend_enabled(void);

#endif /* IB_TLS_H */
