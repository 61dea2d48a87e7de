/* SPDX-License-Identifier: GPL-2.0 */
/* `passthru stats`: a running instance's counters, as a table or JSON. */
#ifndef PT_STATS_H
#define PT_STATS_H

#include <stddef.h>

/* GET /metrics from addr ("host:port"): the text in *out (caller frees). */
int metrics_fetch(const char *addr, char **out, size_t *len);
int stats_main(int argc, char **argv);

#endif /* PT_STATS_H */
