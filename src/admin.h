/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * admin.h: the MySQL-protocol admin console (SHOW, SET, RELOAD,
 * SHUTDOWN). */
#ifndef IB_ADMIN_H
#define IB_ADMIN_H

#include "inbatch.h"

/* Answer one command <p>[<len>] (command byte first) of an admin session.
 * Always writes a complete response to <c>. */
void admin_command(struct client *c, const uint8_t *p, size_t len);

#endif /* IB_ADMIN_H */
