/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * compress.h: the MySQL compressed protocol (CLIENT_COMPRESS, zlib) as a
 * layer under the packet code, so that everything above sees plain
 * packets. */
#ifndef IB_COMPRESS_H
#define IB_COMPRESS_H

#include "inbatch.h"

/* Which end of the connection we are: it decides the sequence ids. */
enum compress_role {
	COMPRESS_SERVER, /* the client leg: we answer */
	COMPRESS_CLIENT, /* the backend leg: we send commands */
};

/* Largest plain run put in one compressed packet. */
#define COMPRESS_CHUNK (1u << 20)
/* Payloads shorter than this go uncompressed, as the server sends them. */
#define COMPRESS_MIN 50

struct compress;

/*
 * Put the layer over <under>, once the login's OK has passed in clear.
 * Returns the bufferevent to use from now on, which owns <under>, or NULL
 * (then <under> is still the caller's).  The caller sets its callbacks
 * and enables reading, as after a TLS upgrade.
 */
struct bufferevent *compress_new(struct bufferevent *under,
				 enum compress_role role,
				 struct compress **state);

/*
 * Server role: the owner takes a command of <nbytes> (header included)
 * off the head of the filter's input, not drained yet.  Its reply is
 * numbered after the compressed packet that ended it, even when later
 * commands were read ahead.  <z> may be NULL (no compression).
 */
void compress_on_command(struct compress *z, size_t nbytes);

/*
 * Reading was enabled again on <bev> (made by compress_new): decompress
 * what arrived below while it was off, which no socket event reports.
 */
void compress_resume(struct bufferevent *bev);

/* The codec alone, for the filter, the unit test and the fuzz target. */
struct compress *compress_state_new(enum compress_role role);
void compress_state_free(struct compress *z);
/*
 * Move every complete compressed packet of <src> to <dst>, decompressed.
 * 1: something moved; 0: nothing complete yet; -1: a malformed packet
 * (bad lengths, a zlib stream that is not exactly the length claimed).
 */
int compress_read(struct compress *z, struct evbuffer *src,
		  struct evbuffer *dst);
/*
 * Compress the plain packets of <src> onto <dst> while <dst> holds less
 * than <dst_max> bytes.  1: something moved; 0: nothing could; -1: out of
 * memory.
 */
int compress_write(struct compress *z, struct evbuffer *src,
		   struct evbuffer *dst, size_t dst_max);

#endif /* IB_COMPRESS_H */
