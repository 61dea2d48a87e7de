/* SPDX-License-Identifier: GPL-2.0 */
/* The counter registry's state, shared by metrics.c (which fills it) and
 * metrics_http.c (which renders it).  Not for other users. */
#ifndef PT_METRICS_INT_H
#define PT_METRICS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/metrics.h"

struct metrics_state {
	pthread_mutex_t mu;
	struct mblock *head;		/* every block, under mu */
	char path[16];			/* the data path, for passthru_info */
	uint64_t reloads, reload_failures;	/* atomics */
	time_t started;
};

extern struct metrics_state M;

/* name="value" appended to out (`,` first unless first), escaped as the
 * text format wants. */
void metrics_label_append(char *out, size_t room, const char *name,
			  const char *val, bool first);
/* Reason names as metric labels (end_names[enum m_end]). */
extern const char *const metrics_end_names[];

#endif /* PT_METRICS_INT_H */
