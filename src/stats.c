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

/* The loop's records (struct stats_records, in struct ib_loop). */
static struct stats_records *stats_rec(void)
{
	return &ib_loop->records;
}

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
	stats_hist_add(&stats_rec()->latency, stats_lat_bounds,
		       STATS_LAT_BUCKETS - 1, (double)usec);
}

void stats_record_batch(unsigned keys)
{
	stats_hist_add(&stats_rec()->batch, stats_size_bounds,
		       STATS_SIZE_BUCKETS - 1, (double)keys);
}

const struct stats_hist *stats_latency_hist(void)
{
	return &stats_rec()->latency;
}

const struct stats_hist *stats_batch_hist(void)
{
	return &stats_rec()->batch;
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
	struct stats_records *r = stats_rec();
	uint32_t i = stats_hash(text, len) & (STATS_SHAPE_SLOTS - 1);
	struct stats_shape *s;

	while ((s = r->shape_slots[i]) != NULL) {
		if (strlen(s->text) == len && memcmp(s->text, text, len) == 0)
			return s;
		i = (i + 1) & (STATS_SHAPE_SLOTS - 1);
	}
	if (r->n_shapes >= STATS_MAX_SHAPES) {
		if (!r->shape_other)
			r->shape_other = stats_shape_new("(other)", 7);
		return r->shape_other;
	}
	s = stats_shape_new(text, len);
	if (!s)
		return NULL;
	r->shape_slots[i] = s;
	if (r->shape_last)
		r->shape_last->next = s;
	else
		r->shape_head = s;
	r->shape_last = s;
	r->n_shapes++;
	return s;
}

void stats_shape_foreach(void (*fn)(void *arg, const struct stats_shape *s),
			 void *arg)
{
	const struct stats_records *r = stats_rec();
	const struct stats_shape *s;

	for (s = r->shape_head; s; s = s->next)
		fn(arg, s);
	if (r->shape_other)
		fn(arg, r->shape_other);
}

/*
 * Close the current period: what happened since the last call becomes
 * the "last period" SHOW STATS averages over (pgbouncer's calc_average()
 * works on the same deltas).
 */
void stats_rotate(void)
{
	struct stats_records *r = stats_rec();
	uint64_t now = util_now_us();

	if (r->prev_us == 0)
		r->prev_us = ib.start_us ? ib.start_us : now;
#define IB_STATS_DELTA(name, desc) \
	r->last.delta.name = ib_loop->stats.name - r->prev.name;
	IB_STATS(IB_STATS_DELTA)
#undef IB_STATS_DELTA
	r->last.usec = now > r->prev_us ? now - r->prev_us : 0;
	r->last.lat_count = r->latency.count - r->prev_lat_count;
	r->last.lat_sum = r->latency.sum - r->prev_lat_sum;

	r->prev = ib_loop->stats;
	r->prev_us = now;
	r->prev_lat_count = r->latency.count;
	r->prev_lat_sum = r->latency.sum;
}

const struct stats_period *stats_last_period(void)
{
	return &stats_rec()->last;
}

void stats_free(struct ib_loop *loop)
{
	struct stats_records *r = &loop->records;
	struct stats_shape *s, *next;

	for (s = r->shape_head; s; s = next) {
		next = s->next;
		free(s->text);
		free(s);
	}
	if (r->shape_other) {
		free(r->shape_other->text);
		free(r->shape_other);
		r->shape_other = NULL;
	}
	r->shape_head = r->shape_last = NULL;
	r->n_shapes = 0;
	memset(r->shape_slots, 0, sizeof(r->shape_slots));
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
