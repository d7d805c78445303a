/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * stats.h: counters, declared once with a description, expanded for the
 * struct, SHOW STATS, /metrics and the man page. */
#ifndef IB_STATS_H
#define IB_STATS_H

#include <stdint.h>

struct ib_loop;

#define IB_STATS(X)                                                          \
	X(client_connections_total, "client connections accepted")           \
	X(client_connections_refused, "client connections refused (max_client_conn)") \
	X(admin_connections_refused, "admin console and metrics connections refused (max_admin_conn)") \
	X(logins_queued, "client connections that waited for a pre-login backend slot (max_pending_logins)") \
	X(accept_errors, "accept() failures (out of file descriptors); each pauses the port for 100 ms") \
	X(auth_failures, "client logins refused")                            \
	X(queries_total, "commands received from clients")                   \
	X(queries_select, "COM_QUERY lookups classified as batchable")       \
	X(queries_batched, "lookups answered from a coalesced query")        \
	X(batches, "coalesced queries sent to the backend")                  \
	X(batch_keys, "keys sent in coalesced queries")                      \
	X(batches_overlapped, "coalesced queries sent while a statement of their shape was in flight (batch_busy_keys, batch_window_us, batch_max_keys)") \
	X(batch_groups_evicted, "idle shape groups dropped to stay within batch_max_groups") \
	X(keys_deduplicated, "lookups that shared a key with another in the same batch") \
	X(backend_statements, "statements sent to the backend (pass-through and batches)") \
	X(backend_statements_saved, "backend statements avoided by batching") \
	X(fallbacks, "lookups re-run alone because a batch could not prove exactness") \
	X(fallback_error, "fall-backs: the coalesced query failed")          \
	X(fallback_warnings, "fall-backs: the coalesced query raised warnings") \
	X(fallback_rows, "fall-backs: a key had more rows than exactness allows") \
	X(fallback_metadata, "fall-backs: column metadata differed from the lookup's") \
	X(prefetch_queries, "prefetch queries run on a session's own connection") \
	X(prefetch_keys, "predicted keys fetched by prefetch queries")     \
	X(prefetch_hits, "lookups answered from a session's prefetched answers") \
	X(prefetch_misses, "lookups of a prefetched shape whose key was not fetched") \
	X(prefetch_wasted_keys, "prefetched keys dropped without being asked for") \
	X(prefetch_drops, "times a session's prefetched answers were dropped (write, state change, end of transaction)") \
	X(backend_connect_errors, "backend connections that failed")        \
	X(backend_lost, "backend connections lost while in use")            \
	X(client_errors, "clients closed for protocol errors")              \
	X(oom_errors, "clients closed on allocation failure")               \
	X(bytes_in, "bytes received from clients")                          \
	X(bytes_out, "bytes sent to clients")

struct ib_stats {
#define IB_STATS_FIELD(name, desc) uint64_t name;
	IB_STATS(IB_STATS_FIELD)
#undef IB_STATS_FIELD
};

#define IB_STAT_INC(name)    (ib_loop->stats.name++)
#define IB_STAT_ADD(name, n) (ib_loop->stats.name += (n))

/* Histogram buckets: upper bounds; the last bucket is +Inf. */
#define STATS_LAT_BUCKETS 16 /* client latency, microseconds: 50 .. 2.5e6 */
#define STATS_SIZE_BUCKETS 11 /* keys per batch: 1 2 4 .. 512 1024 */
extern const double stats_lat_bounds[STATS_LAT_BUCKETS - 1];
extern const double stats_size_bounds[STATS_SIZE_BUCKETS - 1];

struct stats_hist {
	uint64_t count;
	double sum;
	uint64_t buckets[STATS_LAT_BUCKETS]; /* not cumulative */
};

/* Per statement shape (the lookup text with its key replaced by ?). */
struct stats_shape {
	struct stats_shape *next;
	char *text;
	uint64_t lookups;     /* batchable lookups of this shape */
	uint64_t batches;     /* coalesced queries sent */
	uint64_t keys;	      /* distinct keys sent in them */
	uint64_t max_keys;    /* largest batch */
	uint64_t fallbacks;
	uint64_t backend_us;  /* time the backend spent on its batches */
	struct stats_hist latency; /* client-seen latency, microseconds */
};

/* What SHOW STATS computes its rates from: the loop's totals at the last
 * rotation and the last complete period (all zero before the first). */
struct stats_period {
	struct ib_stats delta;
	uint64_t usec;	     /* length of the period */
	uint64_t lat_count;  /* latency samples in it */
	double lat_sum;	     /* their sum, microseconds */
};

/*
 * One loop's records beside its counters (struct ib_loop): histograms and
 * shapes are written on the hot path like the counters, and the period
 * is a difference of the counters, so all of it is per loop.  Shapes: a
 * list in creation order for SHOW BATCHES, indexed by an open-addressing
 * table twice the cap, so probing always ends at an empty slot.
 */
#define STATS_MAX_SHAPES 1000
#define STATS_SHAPE_SLOTS 2048
struct stats_records {
	struct stats_hist latency; /* client latency of every command */
	struct stats_hist batch;   /* keys per batch */
	struct stats_shape *shape_slots[STATS_SHAPE_SLOTS];
	struct stats_shape *shape_head, *shape_last;
	unsigned n_shapes;
	/* shared by every shape past the cap, so an application generating
	 * endless distinct texts cannot grow memory without bound */
	struct stats_shape *shape_other;
	struct ib_stats prev; /* the totals at the last rotation */
	uint64_t prev_us;
	uint64_t prev_lat_count;
	double prev_lat_sum;
	struct stats_period last;
};

/* Find or create the shape record for <text>; NULL on allocation failure. */
struct stats_shape *stats_shape_get(const char *text, size_t len);
void stats_shape_foreach(void (*fn)(void *arg, const struct stats_shape *s),
			 void *arg);
void stats_hist_add(struct stats_hist *h, const double *bounds, unsigned n,
		    double v);
/* The loop's histograms: client latency of every command, keys per batch. */
void stats_record_latency(uint64_t usec);
void stats_record_batch(unsigned keys);
const struct stats_hist *stats_latency_hist(void);
const struct stats_hist *stats_batch_hist(void);
/* Called every stats_period: keeps the previous totals for rates. */
void stats_rotate(void);
/* What changed during the last complete stats_period: rates are
 * delta * 1e6 / usec. */
const struct stats_period *stats_last_period(void);
/* Free the shapes of <loop>'s records. */
void stats_free(struct ib_loop *loop);
/* Gauges shown by SHOW STATS and /metrics. */
unsigned stats_backend_connections(void);
uint64_t stats_uptime_s(void);

#endif /* IB_STATS_H */
