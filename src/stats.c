/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * stats.c: histograms, per-shape batching records and the stats_period
 * rotation that SHOW STATS computes its rates from. */
#include <stdlib.h>
#include <string.h>

#include "inbatch.h"

/* Client-seen latency, microseconds.  Wide enough to show a batch window
 * (hundreds of µs) and a slow backend (seconds) in the same histogram. */
const double stats_lat_bounds[STATS_LAT_BUCKETS - 1] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
	100000, 250000, 500000, 1000000, 2500000,
};

/* Keys per coalesced query; batch_max_keys caps it at 1000. */
const double stats_size_bounds[STATS_SIZE_BUCKETS - 1] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
};

static struct stats_hist stats_latency;
static struct stats_hist stats_batch;

/*
 * Shapes: a singly linked list (via <next>) in creation order for
 * SHOW BATCHES, indexed by an open-addressing table of pointers so the hot
 * path does not walk the list.  The table is twice the cap, so probing
 * always ends at an empty slot.
 */
#define STATS_MAX_SHAPES 1000
#define STATS_SHAPE_SLOTS 2048

static struct stats_shape *stats_shape_slots[STATS_SHAPE_SLOTS];
static struct stats_shape *stats_shape_head;
static struct stats_shape **stats_shape_tail = &stats_shape_head;
static unsigned stats_n_shapes;
/* Shared by every shape past the cap, so an application generating
 * endless distinct texts cannot grow memory without bound. */
static struct stats_shape *stats_shape_other;

/* The previous rotation's totals and the last complete period. */
static struct ib_stats stats_prev;
static uint64_t stats_prev_us;
static uint64_t stats_prev_lat_count;
static double stats_prev_lat_sum;
static struct stats_period stats_last;

void stats_hist_add(struct stats_hist *h, const double *bounds, unsigned n,
		    double v)
{
	unsigned i;

	/* never index past the bucket array whatever <n> the caller passes */
	if (n > STATS_LAT_BUCKETS - 1)
		n = STATS_LAT_BUCKETS - 1;
	for (i = 0; i < n; i++)
		if (v <= bounds[i])
			break;
	h->buckets[i]++;
	h->count++;
	h->sum += v;
}

void stats_record_latency(uint64_t usec)
{
	stats_hist_add(&stats_latency, stats_lat_bounds, STATS_LAT_BUCKETS - 1,
		       (double)usec);
}

void stats_record_batch(unsigned keys)
{
	stats_hist_add(&stats_batch, stats_size_bounds, STATS_SIZE_BUCKETS - 1,
		       (double)keys);
}

const struct stats_hist *stats_latency_hist(void)
{
	return &stats_latency;
}

const struct stats_hist *stats_batch_hist(void)
{
	return &stats_batch;
}

/* FNV-1a: short statement texts, no adversary worth a keyed hash since
 * the table is capped anyway. */
static uint32_t stats_hash(const char *text, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (uint8_t)text[i];
		h *= 16777619u;
	}
	return h;
}

/* A zeroed record owning a NUL-terminated copy of <text>[<len>]. */
static struct stats_shape *stats_shape_new(const char *text, size_t len)
{
	struct stats_shape *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->text = malloc(len + 1);
	if (!s->text) {
		free(s);
		return NULL;
	}
	memcpy(s->text, text, len);
	s->text[len] = '\0';
	return s;
}

struct stats_shape *stats_shape_get(const char *text, size_t len)
{
	uint32_t i = stats_hash(text, len) & (STATS_SHAPE_SLOTS - 1);
	struct stats_shape *s;

	while ((s = stats_shape_slots[i]) != NULL) {
		if (strlen(s->text) == len && memcmp(s->text, text, len) == 0)
			return s;
		i = (i + 1) & (STATS_SHAPE_SLOTS - 1);
	}
	if (stats_n_shapes >= STATS_MAX_SHAPES) {
		if (!stats_shape_other)
			stats_shape_other = stats_shape_new("(other)", 7);
		return stats_shape_other;
	}
	s = stats_shape_new(text, len);
	if (!s)
		return NULL;
	stats_shape_slots[i] = s;
	*stats_shape_tail = s;
	stats_shape_tail = &s->next;
	stats_n_shapes++;
	return s;
}

void stats_shape_foreach(void (*fn)(void *arg, const struct stats_shape *s),
			 void *arg)
{
	const struct stats_shape *s;

	for (s = stats_shape_head; s; s = s->next)
		fn(arg, s);
	if (stats_shape_other)
		fn(arg, stats_shape_other);
}

/*
 * Close the current period: what happened since the last call becomes
 * the "last period" SHOW STATS averages over (pgbouncer's calc_average()
 * works on the same deltas).
 */
void stats_rotate(void)
{
	uint64_t now = util_now_us();

	if (stats_prev_us == 0)
		stats_prev_us = ib.start_us ? ib.start_us : now;
#define IB_STATS_DELTA(name, desc) \
	stats_last.delta.name = ib_loop->stats.name - stats_prev.name;
	IB_STATS(IB_STATS_DELTA)
#undef IB_STATS_DELTA
	stats_last.usec = now > stats_prev_us ? now - stats_prev_us : 0;
	stats_last.lat_count = stats_latency.count - stats_prev_lat_count;
	stats_last.lat_sum = stats_latency.sum - stats_prev_lat_sum;

	stats_prev = ib_loop->stats;
	stats_prev_us = now;
	stats_prev_lat_count = stats_latency.count;
	stats_prev_lat_sum = stats_latency.sum;
}

const struct stats_period *stats_last_period(void)
{
	return &stats_last;
}

void stats_free(void)
{
	struct stats_shape *s, *next;

	for (s = stats_shape_head; s; s = next) {
		next = s->next;
		free(s->text);
		free(s);
	}
	if (stats_shape_other) {
		free(stats_shape_other->text);
		free(stats_shape_other);
		stats_shape_other = NULL;
	}
	stats_shape_head = NULL;
	stats_shape_tail = &stats_shape_head;
	stats_n_shapes = 0;
	memset(stats_shape_slots, 0, sizeof(stats_shape_slots));
}

unsigned stats_backend_connections(void)
{
	struct backend *be;
	unsigned n = 0;

	TAILQ_FOREACH(be, &ib_loop->backends, entry)
		n++;
	return n;
}

uint64_t stats_uptime_s(void)
{
	uint64_t now = util_now_us();

	return now > ib.start_us ? (now - ib.start_us) / 1000000 : 0;
}
