/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * metrics.h: the Prometheus /metrics HTTP endpoint. */
#ifndef IB_METRICS_H
#define IB_METRICS_H

#include "inbatch.h"

/* Start the metrics listener when metrics_listen is set. */
bool metrics_start(void) IB_MUSTCHECK;
/* Close the listener and every connection on it. */
void metrics_stop(void);

#endif /* IB_METRICS_H */
