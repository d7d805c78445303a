/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * listener.h: listening sockets that back off when accept() fails, and
 * the file descriptor limit checked against max_client_conn at start. */
#ifndef IB_LISTENER_H
#define IB_LISTENER_H

#include "inbatch.h"

struct listener;

/* Listen on <addr>, handing accepted sockets to <cb> with <arg>; <what>
 * names the port in log lines and must outlive the listener.  NULL with
 * errno set on failure. */
struct listener *listener_new(const char *addr, const char *what,
			      evconnlistener_cb cb, void *arg);
void listener_free(struct listener *l);

/* Raise the soft RLIMIT_NOFILE to the hard one and warn when it stays
 * below what <cfg>'s connection limits need. */
void listener_raise_nofile(const struct ib_config *cfg);

#endif /* IB_LISTENER_H */
