/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * tap.h: a tiny TAP producer for the unit tests (automake's harness reads
 * "ok N" / "not ok N" lines; the plan is printed at the end). */
#ifndef IB_TAP_H
#define IB_TAP_H

#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                     \
	do {                                                                \
		int tap_c_ = !!(cond);                                      \
		printf("%sok %d - ", tap_c_ ? "" : "not ", ++tap_n);        \
		printf(__VA_ARGS__);                                        \
		printf("\n");                                               \
		if (!tap_c_) {                                              \
			tap_failed++;                                       \
			printf("#   failed at %s:%d\n", __FILE__, __LINE__);  \
		}                                                           \
	} while (0)

#define diag(...)                                                         \
	do {                                                                \
		printf("# ");                                               \
		printf(__VA_ARGS__);                                        \
		printf("\n");                                               \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	printf("%d passed, %d failed\n", tap_n - tap_failed, tap_failed);
	return tap_failed ? 1 : 0;
}

#endif /* IB_TAP_H */
