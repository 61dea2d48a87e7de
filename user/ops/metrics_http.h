/* SPDX-License-Identifier: GPL-2.0 */
/* The counters' Prometheus text exposition and its HTTP endpoint. */
#ifndef PT_METRICS_HTTP_H
#define PT_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct config;

/* Point every listener and rule of cfg at its counter block. */
void metrics_attach(struct config *cfg);
/* The whole exposition, freshly allocated (caller frees), or NULL. */
char *metrics_render(size_t *len);
/* The HTTP endpoint ("host:port"): one thread, GET /metrics. */
int metrics_serve(const char *addr, bool takeover);
void metrics_stop(void);

#endif /* PT_METRICS_HTTP_H */
